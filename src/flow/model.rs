//! Flow files: their shape, parsing and validation. Every mistake is reported with
//! `file:line:column`; where Keycloak logs a warning or silently ignores, we refuse.

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::authenticators::Runs;
pub use super::step::{Flow, FlowError, Requirement, Step, StepKind, always_fails, level_always_fails};
use super::{authenticators, conditions};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowFile {
    flow: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    steps: Vec<Spanned<StepFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    authenticator: Option<Spanned<String>>,
    condition: Option<Spanned<String>>,
    subflow: Option<Spanned<String>>,
    requirement: Spanned<Requirement>,
    /// Settings of the authenticator or condition (e.g. `roles:` for `user-role`).
    #[serde(default)]
    config: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    steps: Vec<Spanned<StepFile>>,
}

fn collect_authenticators<'f>(files: &'f [Spanned<StepFile>], out: &mut Vec<(Runs, &'f Spanned<String>)>) {
    for f in files {
        if let Some(name) = &f.value.authenticator
            && let Some(a) = authenticators::find(&name.value)
        {
            out.push((a.runs(), name));
        }
        collect_authenticators(&f.value.steps, out);
    }
}

/// Whether `flow` is a direct grant flow: it reads a token request's parameters.
pub fn is_direct_grant(steps: &[Step]) -> bool {
    steps.iter().any(|s| match &s.kind {
        StepKind::Authenticator(n) => authenticators::find(n).is_some_and(|a| a.runs() == Runs::DirectGrant),
        StepKind::Condition(_) => false,
        StepKind::Subflow { steps, .. } => is_direct_grant(steps),
    })
}

/// A validated flow.
pub fn parse(path: &str, text: &str) -> Result<Flow, Vec<FlowError>> {
    let file: FlowFile = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        // The parser's own "error: line X column Y:" prefix; we print `file:line:column`.
        let message = crate::realm::load::parser_message(&e.to_string());
        vec![FlowError {
            path: path.into(),
            line,
            column,
            message,
        }]
    })?;
    let mut v = Validator {
        path,
        errors: Vec::new(),
    };
    let steps = v.level(&file.steps, false);
    let at = file.flow.referenced;
    if steps.is_empty() {
        v.error(at, "a flow needs at least one step");
    } else if v.errors.is_empty() && !identifies(&steps) {
        v.error(
            at,
            "this flow can finish without identifying a user: every way through it needs a step such as cookie, username-password-form or password-form",
        );
    }
    if v.errors.is_empty() {
        v.user_before_use(&steps, false);
    }
    if v.errors.is_empty() {
        v.one_kind_of_authenticator(&file.steps);
    }
    if v.errors.is_empty() && level_always_fails(&steps) {
        v.error(
            at,
            "this flow can never succeed: every way through it ends in deny-access; make that step conditional or remove it",
        );
    }
    if v.errors.is_empty() {
        Ok(Flow {
            name: file.flow.value,
            description: file.description.unwrap_or_default(),
            content_hash: crate::crypto::sha256_hex(text.as_bytes()),
            steps,
        })
    } else {
        v.errors.sort_by_key(|e| (e.line, e.column));
        Err(v.errors)
    }
}

struct Validator<'a> {
    path: &'a str,
    errors: Vec<FlowError>,
}

impl Validator<'_> {
    fn error(&mut self, at: Location, message: impl Into<String>) {
        self.errors.push(FlowError {
            path: self.path.into(),
            line: at.line(),
            column: at.column(),
            message: message.into(),
        });
    }

    fn level(&mut self, steps: &[Spanned<StepFile>], in_conditional: bool) -> Vec<Step> {
        let mut out = Vec::new();
        for s in steps {
            if let Some(step) = self.step(s, in_conditional) {
                out.push(step);
            }
        }
        self.level_rules(steps, &out);
        out
    }

    fn step(&mut self, s: &Spanned<StepFile>, in_conditional: bool) -> Option<Step> {
        let at = s.referenced;
        let file = &s.value;
        let requirement = file.requirement.value;
        let kinds = [
            file.authenticator.is_some(),
            file.condition.is_some(),
            file.subflow.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            self.error(at, "a step is exactly one of: authenticator, condition, subflow");
            return None;
        }
        let config = file
            .config
            .as_ref()
            .map(|c| c.value.clone())
            .unwrap_or(serde_json::Value::Null);
        let config_at = file.config.as_ref().map(|c| c.referenced).unwrap_or(at);
        let kind = if let Some(name) = &file.authenticator {
            self.authenticator(name, &config, config_at)
        } else if let Some(name) = &file.condition {
            self.condition(name, &config, config_at, in_conditional, &file.requirement)
        } else {
            self.subflow(file, at, config_at)
        };
        if !matches!(kind, StepKind::Subflow { .. }) && !file.steps.is_empty() {
            self.error(at, "only a subflow may have steps");
        }
        if requirement == Requirement::Conditional && !matches!(kind, StepKind::Subflow { .. }) {
            self.error(file.requirement.referenced, "only a subflow can be conditional");
        }
        Some(Step {
            kind,
            requirement,
            config,
            line: at.line(),
        })
    }

    /// A flow runs in a browser (pages) or on a token request's parameters (a direct grant),
    /// never both: its authenticators must all work in the one it is.
    fn one_kind_of_authenticator(&mut self, files: &[Spanned<StepFile>]) {
        let mut found: Vec<(Runs, &Spanned<String>)> = Vec::new();
        collect_authenticators(files, &mut found);
        let browser = found.iter().find(|(r, _)| *r == Runs::Browser);
        let direct = found.iter().find(|(r, _)| *r == Runs::DirectGrant);
        if let (Some((_, page)), Some((_, param))) = (browser, direct) {
            let (first, second) = if page.referenced.line() < param.referenced.line() {
                (page, param)
            } else {
                (param, page)
            };
            self.error(
                second.referenced,
                format!(
                    "'{}' cannot be in the same flow as '{}': one reads a token request's parameters (a direct grant), the other shows pages; make two flows",
                    second.value, first.value
                ),
            );
        }
    }

    /// An authenticator step: a known authenticator, with a config it accepts.
    fn authenticator(&mut self, name: &Spanned<String>, config: &serde_json::Value, config_at: Location) -> StepKind {
        match authenticators::find(&name.value) {
            Some(a) => {
                if let Err(m) = a.check_config(config) {
                    self.error(config_at, format!("{}: {m}", name.value));
                }
            }
            None => self.error(
                name.referenced,
                format!(
                    "unknown authenticator '{}'; known: {}",
                    name.value,
                    authenticators::names().join(", ")
                ),
            ),
        }
        StepKind::Authenticator(name.value.clone())
    }

    /// A condition step: a known condition with a config it accepts, required or disabled,
    /// inside a conditional subflow.
    fn condition(
        &mut self,
        name: &Spanned<String>,
        config: &serde_json::Value,
        config_at: Location,
        in_conditional: bool,
        requirement: &Spanned<Requirement>,
    ) -> StepKind {
        match conditions::find(&name.value) {
            Some(c) => {
                if let Err(m) = c.check_config(config) {
                    self.error(config_at, format!("{}: {m}", name.value));
                }
            }
            None => self.error(
                name.referenced,
                format!(
                    "unknown condition '{}'; known: {}",
                    name.value,
                    conditions::names().join(", ")
                ),
            ),
        }
        if !in_conditional {
            self.error(name.referenced, "a condition may only stand in a conditional subflow");
        }
        if !matches!(requirement.value, Requirement::Required | Requirement::Disabled) {
            self.error(requirement.referenced, "a condition is required or disabled");
        }
        StepKind::Condition(name.value.clone())
    }

    /// A subflow step: some steps and no config; a conditional one has an enabled condition.
    fn subflow(&mut self, file: &StepFile, at: Location, config_at: Location) -> StepKind {
        let name = file.subflow.as_ref().map(|n| n.value.clone()).unwrap_or_default();
        if file.steps.is_empty() {
            self.error(at, format!("subflow '{name}' has no steps"));
        }
        if file.config.is_some() {
            self.error(config_at, "a subflow has no config");
        }
        let conditional = file.requirement.value == Requirement::Conditional;
        let steps = self.level(&file.steps, conditional);
        let enabled_condition = steps
            .iter()
            .any(|s| matches!(s.kind, StepKind::Condition(_)) && s.requirement != Requirement::Disabled);
        self.user_configured_needs_a_credential(&file.steps, &steps);
        if conditional && !enabled_condition {
            self.error(
                at,
                format!("conditional subflow '{name}' has no enabled condition; add one, or make the subflow required"),
            );
        }
        StepKind::Subflow { name, steps }
    }

    /// Rules about the steps of one level taken together.
    fn level_rules(&mut self, files: &[Spanned<StepFile>], steps: &[Step]) {
        let counts = |s: &Step| !matches!(s.kind, StepKind::Condition(_));
        let has_required = steps
            .iter()
            .any(|s| counts(s) && matches!(s.requirement, Requirement::Required | Requirement::Conditional));
        if has_required
            && let Some(first) = files
                .iter()
                .zip(steps)
                .find(|(_, s)| counts(s) && s.requirement == Requirement::Alternative)
        {
            self.error(
                first.0.value.requirement.referenced,
                "alternative steps beside a required step are never used (Keycloak ignores them); put the alternatives in a subflow of their own",
            );
        }
        // Nothing after a required step that always fails can ever run.
        if let Some(i) = steps
            .iter()
            .position(|s| s.requirement == Requirement::Required && always_fails(s))
            && let Some((next, _)) = files
                .iter()
                .zip(steps)
                .skip(i + 1)
                .find(|(_, s)| s.requirement != Requirement::Disabled)
        {
            let message = match &steps[i].kind {
                StepKind::Subflow { name, .. } => format!(
                    "this step can never run: the required subflow '{name}' before it always fails (it ends in deny-access)"
                ),
                _ => "this step can never run: a required deny-access comes before it".to_string(),
            };
            self.error(next.referenced, message);
        }
        // The engine stops at a failing alternative: nothing after an alternative deny-access runs.
        if !has_required
            && let Some(i) = steps.iter().position(|s| {
                s.requirement == Requirement::Alternative
                    && matches!(&s.kind, StepKind::Authenticator(n) if n == "deny-access")
            })
            && let Some((next, _)) = files
                .iter()
                .zip(steps)
                .skip(i + 1)
                .find(|(_, s)| counts(s) && s.requirement == Requirement::Alternative)
        {
            self.error(
                next.referenced,
                "this alternative can never run: an alternative deny-access comes before it",
            );
        }
        let live = steps
            .iter()
            .filter(|s| counts(s) && s.requirement != Requirement::Disabled)
            .count();
        if !steps.is_empty()
            && live == 0
            && !steps.iter().all(|s| s.requirement == Requirement::Disabled)
            && let Some(f) = files.first()
        {
            self.error(f.referenced, "this level has only conditions: nothing here can succeed");
        }
    }

    /// `user-configured` asks whether the user has the credentials its subflow's authenticators
    /// check; with no such authenticator it would always hold, which is never what was meant.
    fn user_configured_needs_a_credential(&mut self, files: &[Spanned<StepFile>], steps: &[Step]) {
        let checks_a_credential = steps.iter().any(|s| {
            s.requirement != Requirement::Disabled
                && matches!(&s.kind, StepKind::Authenticator(n)
                    if authenticators::find(n).is_some_and(|a| a.credential_kind().is_some()))
        });
        if checks_a_credential {
            return;
        }
        for file in files {
            if let Some(name) = &file.value.condition
                && name.value == "user-configured"
                && file.value.requirement.value != Requirement::Disabled
            {
                self.error(
                    name.referenced,
                    "user-configured: no authenticator in this subflow checks a credential (such as otp-form or recovery-code-form), so the condition would always hold",
                );
            }
        }
    }

    /// Steps that need a user (e.g. otp-form) must come after one that identifies the user.
    fn user_before_use(&mut self, steps: &[Step], mut known: bool) -> bool {
        for s in steps {
            if s.requirement == Requirement::Disabled {
                continue;
            }
            match &s.kind {
                StepKind::Authenticator(n) => {
                    let Some(a) = authenticators::find(n) else { continue };
                    if a.needs_user() && !known {
                        self.errors.push(FlowError {
                            path: self.path.into(),
                            line: s.line,
                            column: 1,
                            message: format!("{n} needs a user, but no earlier step identifies one"),
                        });
                    }
                    if a.identifies_user() && s.requirement == Requirement::Required {
                        known = true;
                    }
                }
                StepKind::Condition(_) => {}
                StepKind::Subflow { steps, .. } => {
                    let inner = self.user_before_use(steps, known);
                    if s.requirement == Requirement::Required {
                        known = known || inner || identifies(steps);
                    }
                }
            }
        }
        known
    }
}

/// Whether every way through `steps` identifies the user.
pub fn identifies(steps: &[Step]) -> bool {
    let counts = |s: &&Step| !matches!(s.kind, StepKind::Condition(_)) && s.requirement != Requirement::Disabled;
    let required: Vec<&Step> = steps
        .iter()
        .filter(counts)
        .filter(|s| s.requirement == Requirement::Required)
        .collect();
    let step_identifies = |s: &Step| match &s.kind {
        StepKind::Authenticator(n) => authenticators::find(n).is_some_and(|a| a.identifies_user()),
        StepKind::Subflow { steps, .. } => identifies(steps),
        StepKind::Condition(_) => false,
    };
    if !required.is_empty()
        || steps
            .iter()
            .filter(counts)
            .any(|s| s.requirement == Requirement::Conditional)
    {
        return required.iter().any(|s| step_identifies(s));
    }
    let alternatives: Vec<&Step> = steps.iter().filter(counts).collect();
    !alternatives.is_empty() && alternatives.iter().all(|s| step_identifies(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_required_subflow_of_identifying_alternatives_identifies_the_user() {
        let text = "flow: f
steps:
  - subflow: who
    requirement: required
    steps:
      - authenticator: cookie
        requirement: alternative
      - authenticator: username-password-form
        requirement: alternative
  - authenticator: otp-form
    requirement: required
";
        assert!(parse("f.yaml", text).is_ok(), "{:?}", parse("f.yaml", text).err());
    }

    #[test]
    fn a_conditional_subflow_needs_an_enabled_condition() {
        let text = "flow: f
steps:
  - authenticator: username-password-form
    requirement: required
  - subflow: maybe
    requirement: conditional
    steps:
      - condition: user-configured
        requirement: disabled
      - authenticator: otp-form
        requirement: required
";
        let e = parse("f.yaml", text).unwrap_err();
        assert_eq!(e[0].line, 5, "{e:?}");
        assert!(e[0].message.contains("no enabled condition"), "{e:?}");
    }

    #[test]
    fn a_step_after_a_required_subflow_that_always_fails_is_refused() {
        let text = "flow: f
steps:
  - authenticator: username-password-form
    requirement: required
  - subflow: blocked
    requirement: required
    steps:
      - authenticator: cookie
        requirement: disabled
      - authenticator: deny-access
        requirement: alternative
  - authenticator: otp-form
    requirement: required
";
        let e = parse("f.yaml", text).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].line, 12, "{e:?}");
        assert!(
            e[0].message.contains("subflow 'blocked' before it always fails"),
            "{e:?}"
        );
    }

    #[test]
    fn a_conditional_subflow_that_can_deny_does_not_always_fail() {
        let text = "flow: f
steps:
  - authenticator: username-password-form
    requirement: required
  - subflow: outsiders
    requirement: conditional
    steps:
      - condition: ip-range
        requirement: required
        config: { cidrs: [10.0.0.0/8], negate: true }
      - authenticator: deny-access
        requirement: required
  - authenticator: otp-form
    requirement: disabled
";
        assert!(parse("f.yaml", text).is_ok(), "{:?}", parse("f.yaml", text).err());
    }

    #[test]
    fn user_configured_needs_an_authenticator_that_checks_a_credential() {
        let text = "flow: f
steps:
  - authenticator: username-password-form
    requirement: required
  - subflow: pointless
    requirement: conditional
    steps:
      - condition: user-configured
        requirement: required
      - authenticator: deny-access
        requirement: required
      - authenticator: otp-form
        requirement: disabled
";
        let e = parse("f.yaml", text).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].line, e[0].column), (8, 20), "{e:?}");
        assert!(e[0].message.starts_with("user-configured: no authenticator"), "{e:?}");
    }

    #[test]
    fn built_in_flows_parse() {
        for (name, text) in [
            ("browser.yaml", include_str!("../../flows/browser.yaml")),
            ("direct-grant.yaml", include_str!("../../flows/direct-grant.yaml")),
            (
                "identifier-first.yaml",
                include_str!("../../flows/identifier-first.yaml"),
            ),
            ("passkey-first.yaml", include_str!("../../flows/passkey-first.yaml")),
            ("providers.yaml", include_str!("../../flows/providers.yaml")),
        ] {
            assert!(parse(name, text).is_ok(), "{name}: {:?}", parse(name, text).err());
        }
        let direct = parse("d.yaml", include_str!("../../flows/direct-grant.yaml")).unwrap();
        assert!(is_direct_grant(&direct.steps));
        let browser = parse("b.yaml", include_str!("../../flows/browser.yaml")).unwrap();
        assert!(!is_direct_grant(&browser.steps));
    }

    /// A flow reads pages or a token request, never both.
    #[test]
    fn pages_and_token_parameters_do_not_mix_in_one_flow() {
        let text = "flow: f
steps:
  - authenticator: username-password-form
    requirement: required
  - subflow: second
    requirement: conditional
    steps:
      - condition: user-configured
        requirement: required
      - authenticator: direct-grant-validate-otp
        requirement: required
";
        let e = parse("f.yaml", text).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].line, 10, "{e:?}");
        assert!(
            e[0].message
                .contains("cannot be in the same flow as 'username-password-form'"),
            "{e:?}"
        );
    }
}
