//! The flows a server knows: the built-in ones, overridden or extended by files in the
//! flows directory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::model::{self, Flow, FlowError};
use crate::realm::Realm;

const BUILT_IN: &[(&str, &str)] = &[
    ("browser.yaml", include_str!("../../flows/browser.yaml")),
    ("direct-grant.yaml", include_str!("../../flows/direct-grant.yaml")),
    (
        "reset-credentials.yaml",
        include_str!("../../flows/reset-credentials.yaml"),
    ),
    (
        "identifier-first.yaml",
        include_str!("../../flows/identifier-first.yaml"),
    ),
    ("passkey-first.yaml", include_str!("../../flows/passkey-first.yaml")),
    ("providers.yaml", include_str!("../../flows/providers.yaml")),
];

#[derive(Debug, Clone, Default)]
pub struct FlowRegistry {
    flows: HashMap<String, Arc<Flow>>,
}

/// Whether `steps` (or their subflows) run the authenticator `name` (not disabled).
fn uses(steps: &[super::Step], name: &str) -> bool {
    steps.iter().any(|s| {
        s.requirement != super::Requirement::Disabled
            && match &s.kind {
                super::StepKind::Authenticator(n) => n == name,
                super::StepKind::Condition(_) => false,
                super::StepKind::Subflow { steps, .. } => uses(steps, name),
            }
    })
}

impl FlowRegistry {
    /// Loads the built-in flows, then every `*.yaml` in `dir` (if it exists) on top.
    pub fn load(dir: &Path) -> Result<FlowRegistry, Vec<FlowError>> {
        let (registry, errors) = FlowRegistry::load_lenient(dir);
        if errors.is_empty() { Ok(registry) } else { Err(errors) }
    }

    /// As [`load`](Self::load), but keeps going: every flow that loads, and the problems of
    /// every file that does not (for `realm check`, which reports them with the realms').
    pub fn load_lenient(dir: &Path) -> (FlowRegistry, Vec<FlowError>) {
        let mut sources: Vec<(String, String)> = BUILT_IN
            .iter()
            .map(|(n, t)| (format!("(built-in) flows/{n}"), t.to_string()))
            .collect();
        let mut errors = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut paths: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect();
            paths.sort();
            for p in paths {
                match std::fs::read_to_string(&p) {
                    Ok(text) => sources.push((p.display().to_string(), text)),
                    Err(e) => errors.push(FlowError {
                        path: p.display().to_string(),
                        line: 0,
                        column: 0,
                        message: e.to_string(),
                    }),
                }
            }
        }
        let mut flows = HashMap::new();
        for (path, text) in sources {
            match model::parse(&path, &text) {
                Ok(flow) => {
                    flows.insert(flow.name.clone(), Arc::new(flow));
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        (FlowRegistry { flows }, errors)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Flow>> {
        self.flows.get(name).cloned()
    }

    /// Whether every browser flow of `realm` (its own, and each client's) uses the authenticator
    /// `authenticator` (enabled): a factor only some sign-ins ask for would be skipped by the
    /// others.
    pub fn realm_uses(&self, realm: &crate::realm::Realm, authenticator: &str) -> bool {
        let mut flows =
            std::iter::once(&realm.flows.browser).chain(realm.clients.values().filter_map(|c| c.browser_flow.as_ref()));
        flows.all(|name| self.flows.get(name).is_some_and(|f| uses(&f.steps, authenticator)))
    }

    /// The second factors besides authenticator apps that `realm`'s sign-ins ask for: codes
    /// by email or text, and security keys only where the realm has passkeys and every browser
    /// flow has `webauthn-form` (a key no flow asks for would leave the password alone).
    pub fn second_factors_besides_apps(&self, realm: &crate::realm::Realm) -> Vec<&'static str> {
        let mut kinds = crate::store::SENT_CODES.to_vec();
        if realm.webauthn.is_some() && self.realm_uses(realm, "webauthn-form") {
            kinds.push(crate::store::SECURITY_KEY);
        }
        kinds
    }

    /// Whether `name` is a built-in flow as shipped (not replaced by a file of the same name).
    fn is_built_in(&self, name: &str) -> bool {
        self.flows.get(name).is_some_and(|f| {
            BUILT_IN
                .iter()
                .any(|(_, text)| crate::crypto::sha256_hex(text.as_bytes()) == f.content_hash)
        })
    }

    /// What a realm names must exist here: every browser flow it or its clients bind, and every
    /// required action it configures (realm files accept no action the engine does not run).
    pub fn check_bindings(&self, realm: &Realm) -> Result<(), Vec<String>> {
        let mut missing = Vec::new();
        check_required_actions(realm, &mut missing);
        self.check_browser_flows(realm, &mut missing);
        self.check_direct_grant_flow(realm, &mut missing);
        self.check_reset_flow(realm, &mut missing);
        if missing.is_empty() { Ok(()) } else { Err(missing) }
    }

    /// The flow "Forgot password?" runs must exist and show pages.
    fn check_reset_flow(&self, realm: &Realm, missing: &mut Vec<String>) {
        let name = &realm.flows.reset_credentials;
        match self.is_direct_grant(name) {
            None => missing.push(format!(
                "{}: flows.reset_credentials names flow '{name}', which does not exist (known: {})",
                realm.source.at("flows"),
                self.known()
            )),
            Some(true) => missing.push(format!(
                "{}: flows.reset_credentials names '{name}', a direct grant flow; \"Forgot password?\" runs a flow of pages",
                realm.source.at("flows")
            )),
            Some(false) => {}
        }
    }

    /// The names of the flows here, sorted, for messages.
    fn known(&self) -> String {
        let mut names: Vec<&str> = self.flows.keys().map(String::as_str).collect();
        names.sort();
        names.join(", ")
    }

    /// Whether the flow `name` is a direct grant flow; `None` when there is no such flow.
    fn is_direct_grant(&self, name: &str) -> Option<bool> {
        self.flows.get(name).map(|f| super::model::is_direct_grant(&f.steps))
    }

    /// The realm's browser flow and its clients' own: each exists and shows pages.
    fn check_browser_flows(&self, realm: &Realm, missing: &mut Vec<String>) {
        match self.is_direct_grant(&realm.flows.browser) {
            None => missing.push(format!(
                "{}: flows.browser names flow '{}', which does not exist (known: {})",
                realm.source.at("flows"),
                realm.flows.browser,
                self.known()
            )),
            Some(true) => missing.push(format!(
                "{}: flows.browser names '{}', a direct grant flow (it reads token request parameters, not pages)",
                realm.source.at("flows"),
                realm.flows.browser
            )),
            Some(false) => {}
        }
        for c in realm.clients.values() {
            if let Some(name) = &c.browser_flow {
                let at = realm.source.at(&format!("clients.{}.browser_flow", c.client_id));
                match self.is_direct_grant(name) {
                    None => missing.push(format!(
                        "{at}: client '{}' names browser flow '{name}', which does not exist (known: {})",
                        c.client_id,
                        self.known()
                    )),
                    Some(true) => missing.push(format!(
                        "{at}: client '{}' names '{name}' as its browser flow, but it is a direct grant flow",
                        c.client_id
                    )),
                    Some(false) => {}
                }
            }
        }
    }

    /// When a client allows the password grant: the realm's direct grant flow exists, is one,
    /// and applies the rules of the browser flow the client signs in with.
    fn check_direct_grant_flow(&self, realm: &Realm, missing: &mut Vec<String>) {
        let password_clients: Vec<&crate::realm::Client> = realm
            .clients
            .values()
            .filter(|c| c.allows(crate::realm::GrantType::Password))
            .collect();
        // The built-in direct grant flow asks for what the built-in browser flows ask for; a
        // browser flow with rules of its own (a code for everyone, an address range) needs a
        // direct grant flow with the same rules, or the password grant would skip them.
        if self.is_built_in(&realm.flows.direct_grant) {
            for c in &password_clients {
                let browser = c.browser_flow.as_deref().unwrap_or(&realm.flows.browser);
                if self.flows.contains_key(browser) && !self.is_built_in(browser) {
                    missing.push(format!(
                        "{}: client '{}' allows the password grant, but signs in with browser flow '{browser}', whose rules the built-in direct grant flow does not apply; write a direct grant flow with the same rules and bind it with flows.direct_grant",
                        realm.source.at(&format!("clients.{}", c.client_id)),
                        c.client_id
                    ));
                }
            }
        }
        if !password_clients.is_empty() {
            let name = &realm.flows.direct_grant;
            match self.is_direct_grant(name) {
                None => missing.push(format!(
                    "{}: flows.direct_grant names flow '{name}', which does not exist (known: {}); a client here allows the password grant",
                    realm.source.at("flows"),
                    self.known()
                )),
                Some(false) => missing.push(format!(
                    "{}: flows.direct_grant names '{name}', which shows pages; a direct grant flow uses direct-grant-validate-* authenticators",
                    realm.source.at("flows")
                )),
                Some(true) => {}
            }
        }
    }
}

/// Every required action the realm configures is one the engine runs.
fn check_required_actions(realm: &Realm, missing: &mut Vec<String>) {
    let implemented = super::actions::names();
    for action in realm.required_actions.keys() {
        if !implemented.contains(&action.as_str()) {
            missing.push(format!(
                "{}: unknown required action '{action}'; known: {}",
                realm.source.at(&format!("required_actions.{action}")),
                implemented.join(", ")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FlowRegistry;
    use crate::realm::load::load_str;

    fn problems(text: &str) -> Vec<String> {
        let registry = FlowRegistry::load(std::path::Path::new("/nonexistent")).expect("built-in flows load");
        let realm = load_str("r.yaml", text, &|_| None).expect("the file parses");
        registry.check_bindings(&realm).err().unwrap_or_default()
    }

    /// A security key counts beside an app only where every browser flow asks for one.
    #[test]
    fn security_keys_count_as_a_second_factor_only_where_the_flows_ask_for_them() {
        let registry = FlowRegistry::load(std::path::Path::new("/nonexistent")).expect("built-in flows load");
        let kinds = |text: &str| {
            let realm = load_str("r.yaml", text, &|_| None).expect("the file parses");
            registry.second_factors_besides_apps(&realm)
        };
        assert_eq!(kinds("realm: r\nwebauthn: {}\n"), ["email-otp", "sms-otp", "webauthn"]);
        assert_eq!(
            kinds("realm: r\n"),
            ["email-otp", "sms-otp"],
            "no passkeys in the realm"
        );
        // identifier-first has no security-key step.
        let other = "realm: r\nwebauthn: {}\nflows: { browser: identifier-first }\n";
        assert_eq!(kinds(other), ["email-otp", "sms-otp"]);
    }

    /// Realm files configure only actions the engine runs; the rest are named where written.
    #[test]
    fn required_actions_come_from_the_actions_registry() {
        for action in super::super::actions::names() {
            assert_eq!(
                problems(&format!(
                    "realm: r\nrequired_actions:\n  {action}: {{ enabled: true }}\n"
                )),
                Vec::<String>::new()
            );
        }
        let found = problems(
            "realm: r\nrequired_actions:\n  update-password: { enabled: true }\n  webauthn-enrol: { enabled: true }\n",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("r.yaml:4:"), "{found:?}");
        assert!(
            found[0].contains("unknown required action 'webauthn-enrol'"),
            "{found:?}"
        );
    }

    /// A client with the password grant needs a direct grant flow; a browser never gets one.
    #[test]
    fn direct_grant_flows_serve_the_password_grant_only() {
        let client = "clients:\n  - client_id: cli\n    grant_types: [password]\n";
        assert_eq!(problems(&format!("realm: r\n{client}")), Vec::<String>::new());
        let found = problems(&format!("realm: r\nflows: {{ direct_grant: browser }}\n{client}"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("flows.direct_grant names 'browser', which shows pages"),
            "{found:?}"
        );
        let found = problems("realm: r\nflows: { browser: direct-grant }\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("a direct grant flow"), "{found:?}");
        // A browser flow of the realm's own needs a direct grant flow of its own too.
        let own_browser = format!("realm: r\nflows: {{ browser: identifier-first }}\n{client}");
        assert_eq!(problems(&own_browser), Vec::<String>::new());
        let registry = FlowRegistry {
            flows: [(
                "strict".to_string(),
                std::sync::Arc::new(
                    crate::flow::model::parse("strict.yaml", "flow: strict\nsteps:\n  - authenticator: username-password-form\n    requirement: required\n  - authenticator: otp-form\n    requirement: required\n").unwrap(),
                ),
            )]
            .into_iter()
            .chain(FlowRegistry::load(std::path::Path::new("/nonexistent")).unwrap().flows)
            .collect(),
        };
        let realm = load_str(
            "r.yaml",
            &format!("realm: r\nflows: {{ browser: strict }}\n{client}"),
            &|_| None,
        )
        .unwrap();
        let found = registry.check_bindings(&realm).unwrap_err();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("whose rules the built-in direct grant flow does not apply"),
            "{found:?}"
        );
        // Without a client that uses it, a missing direct grant flow is no problem.
        assert_eq!(
            problems("realm: r\nflows: { direct_grant: nowhere }\n"),
            Vec::<String>::new()
        );
    }
}
