//! Reading and validating realm files. Every mistake is reported with `file:line:column`, and
//! all mistakes of a file are reported at once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::{Location, Spanned};

mod client;

use super::model::{ClientFile, RealmFile};
use super::{Client, Realm, Source};

/// No lifetime may exceed a year (and times stay far from overflowing).
const MAX_LIFETIME_SECS: i64 = 366 * 24 * 3600;

/// Claims Gatehouse sets itself; the roles claim may not take their place.
const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "sid",
    "gid",
    "auth_time",
    "acr",
    "amr",
    "azp",
    "nonce",
    "at_hash",
    "c_hash",
    "typ",
    "preferred_username",
    "realm_access",
    "resource_access",
    "name",
    "given_name",
    "family_name",
    "email",
    "email_verified",
    "active",
    "token_type",
    "username",
];

/// One problem in one realm file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmError {
    pub path: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for RealmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path, self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.path, self.line, self.column, self.message)
        }
    }
}

/// Loads every `*.yaml` / `*.yml` realm file in `dir`, sorted by name: every realm that
/// loads, and the problems of every file that does not (a broken file does not hide the
/// others). Two files defining one realm are left to the caller, which sees all paths.
pub fn load_dir(dir: &Path) -> (Vec<Realm>, Vec<RealmError>) {
    let paths = match realm_files(dir) {
        Ok(paths) => paths,
        Err(e) => return (vec![], vec![e]),
    };
    let mut realms = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match load_file(&path) {
            Ok(realm) => realms.push(realm),
            Err(mut e) => errors.append(&mut e),
        }
    }
    (realms, errors)
}

/// The `*.yaml` / `*.yml` files of a realms directory, sorted by name.
pub fn realm_files(dir: &Path) -> Result<Vec<PathBuf>, RealmError> {
    let entries = std::fs::read_dir(dir).map_err(|e| RealmError {
        path: dir.display().to_string(),
        line: 0,
        column: 0,
        message: format!("cannot read the realms directory: {e} (set --realms-dir or GATEHOUSE_REALMS_DIR)"),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    Ok(paths)
}

pub fn load_file(path: &Path) -> Result<Realm, Vec<RealmError>> {
    match load_file_lenient(path) {
        (Some(realm), errors) if errors.is_empty() => Ok(realm),
        (_, errors) => Err(errors),
    }
}

/// As [`load_file`], but also the realm as far as it loaded when it has problems (if the file
/// parses at all), so that checks above the loader can report theirs with the loader's.
pub fn load_file_lenient(path: &Path) -> (Option<Realm>, Vec<RealmError>) {
    let label = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => load_str_lenient(&label, &text, &|name| std::env::var(name).ok()),
        Err(e) => {
            let error = RealmError {
                path: label,
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            };
            (None, vec![error])
        }
    }
}

/// Parses and validates one realm file's text. `env` resolves `${env:NAME}` references.
pub fn load_str(path: &str, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Realm, Vec<RealmError>> {
    match load_str_lenient(path, text, env) {
        (Some(realm), errors) if errors.is_empty() => Ok(realm),
        (_, errors) => Err(errors),
    }
}

fn load_str_lenient(path: &str, text: &str, env: &dyn Fn(&str) -> Option<String>) -> (Option<Realm>, Vec<RealmError>) {
    let file: RealmFile = match serde_saphyr::from_str(text) {
        Ok(file) => file,
        Err(e) => {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            let error = RealmError {
                path: path.into(),
                line,
                column,
                message: parser_message(&e.to_string()),
            };
            return (None, vec![error]);
        }
    };
    let mut v = Validator {
        path,
        errors: Vec::new(),
        env,
    };
    let realm = v.realm(file);
    (Some(realm), v.errors)
}

/// serde-saphyr's message may carry a source snippet after the first line; we print our own
/// `file:line:column` prefix, so keep just the message (flow files use it too).
pub(crate) fn parser_message(message: &str) -> String {
    let mut line = message.lines().next().unwrap_or(message);
    // …and a leading "error: line X column Y: ".
    line = line.strip_prefix("error: ").unwrap_or(line);
    if let Some(rest) = line.strip_prefix("line ")
        && let Some((position, message)) = rest.split_once(": ")
        && position
            .split(" column ")
            .all(|n| n.chars().all(|c| c.is_ascii_digit()))
    {
        line = message;
    }
    // Drop a trailing " at line X column Y" the parser may add; we print the position ourselves.
    match line.find(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

/// Mail settings that can work: a sender, one way out, a password only by reference.
pub fn check_mail(mail: &super::MailSettings) -> Result<(), String> {
    if mail.from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(format!(
            "mail.from must be an address such as 'Demo <no-reply@example.com>', not '{}'",
            mail.from
        ));
    }
    match (&mail.outbox, &mail.smtp) {
        (Some(_), Some(_)) => return Err("mail: give either outbox (a directory) or smtp, not both".into()),
        (None, None) => return Err("mail: give outbox (a directory for .eml files) or smtp (a server)".into()),
        (Some(dir), None) if dir.trim().is_empty() => return Err("mail.outbox must name a directory".into()),
        _ => {}
    }
    if let Some(smtp) = &mail.smtp {
        if smtp.host.trim().is_empty() {
            return Err("mail.smtp.host must name the SMTP server".into());
        }
        if let Some(p) = &smtp.password {
            match client::env_reference(p) {
                None => {
                    return Err("secrets are never written in realm files: use mail.smtp.password: ${env:NAME}".into());
                }
                Some(name) if name.starts_with("GATEHOUSE_") => {
                    return Err(format!(
                        "mail.smtp.password may not name Gatehouse's own setting {name}"
                    ));
                }
                Some(_) => {}
            }
        }
        if smtp.password.is_some() != smtp.user.is_some() {
            return Err("mail.smtp: give user and password together".into());
        }
    }
    let ttl = mail.link_ttl.as_secs();
    if !(60..=86_400).contains(&ttl) {
        return Err("mail.link_ttl must be between 1m and 24h".into());
    }
    if mail.per_address_per_hour == 0 || mail.per_ip_per_hour == 0 {
        return Err("mail.per_address_per_hour and per_ip_per_hour must be at least 1".into());
    }
    if !(1..=3600).contains(&mail.retry_after.as_secs()) {
        return Err("mail.retry_after must be between 1s and 1h".into());
    }
    Ok(())
}

struct Validator<'a> {
    path: &'a str,
    errors: Vec<RealmError>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Validator<'_> {
    fn error(&mut self, at: Location, message: impl Into<String>) {
        self.errors.push(RealmError {
            path: self.path.to_string(),
            line: at.line(),
            column: at.column(),
            message: message.into(),
        });
    }

    fn realm(&mut self, file: RealmFile) -> Realm {
        let name = file.realm.value.clone();
        if !is_identifier(&name) {
            self.error(
                file.realm.referenced,
                format!("realm name '{name}' may only use a-z, 0-9, '-' and '_'"),
            );
        }
        let mut source = Source {
            path: self.path.to_string(),
            positions: BTreeMap::new(),
        };
        source.note("realm", file.realm.referenced);
        let (tokens, tokens_at) = match file.tokens {
            Some(t) => (t.value, t.referenced),
            None => (Default::default(), file.realm.referenced),
        };
        self.check_lifetimes(&tokens, tokens_at, &file.brute_force, file.realm.referenced);
        let (otp_policy, otp_at) = match file.otp_policy {
            Some(p) => (p.value, p.referenced),
            None => (Default::default(), file.realm.referenced),
        };
        if let Err(message) = check_otp_policy(&otp_policy) {
            self.error(otp_at, message);
        }
        let (flows, flows_at) = match file.flows {
            Some(f) => (f.value, f.referenced),
            None => (Default::default(), file.realm.referenced),
        };
        source.note("flows", flows_at);
        for scope in &file.pat.scopes {
            let known = scope == "openid"
                || super::STANDARD_SCOPES.contains(&scope.as_str())
                || file.scopes.iter().any(|s| &s.value == scope);
            if !known {
                self.error(
                    file.realm.referenced,
                    format!(
                        "pat.scopes names '{scope}', which is neither a standard scope nor one of the realm's scopes"
                    ),
                );
            }
        }
        if file.pat.max_ttl.as_secs() < 3600 {
            self.error(file.realm.referenced, "pat.max_ttl must be at least 1h");
        }
        let max_auth_age = file.account.max_auth_age.as_secs();
        if !(60..=86_400).contains(&max_auth_age) {
            self.error(
                file.realm.referenced,
                "account.max_auth_age must be between 1m and 24h: shorter makes every change sign in again, longer lets an unattended browser make them",
            );
        }
        let required_actions = Self::required_actions(file.required_actions, &mut source);
        let roles = self.roles(&file.roles);
        let scopes = self.scopes(&file.scopes);
        let clients = self.clients(file.clients, &roles, &scopes, &mut source);
        let mail = file.mail.map(|m| {
            if let Err(message) = check_mail(&m.value) {
                self.error(m.referenced, message);
            }
            m.value
        });
        Realm {
            display_name: file.display_name.unwrap_or_else(|| name.clone()),
            name,
            theme: file.theme,
            flows,
            password_policy: file.password_policy,
            otp_policy,
            brute_force: file.brute_force,
            users: file.users,
            tokens,
            account: file.account,
            pat: file.pat,
            required_actions,
            // Roles are a set: kept in canonical (sorted) order, so that reordering them in a
            // file changes neither the content hash nor the snapshot.
            roles: roles.into_iter().collect(),
            scopes,
            clients,
            mail,
            login_notifications: file.login_notifications,
            source,
        }
    }

    /// Lifetimes within bounds (`sso_idle` within `sso_max`), and a roles claim that replaces
    /// no standard claim.
    fn check_lifetimes(
        &mut self,
        tokens: &super::model::TokenSettings,
        tokens_at: Location,
        brute_force: &super::model::BruteForce,
        realm_at: Location,
    ) {
        if tokens.sso_idle > tokens.sso_max {
            self.error(tokens_at, "tokens.sso_idle must not be longer than tokens.sso_max");
        }
        for (name, ttl) in [
            ("access_ttl", tokens.access_ttl),
            ("refresh_ttl", tokens.refresh_ttl),
            ("code_ttl", tokens.code_ttl),
            ("sso_idle", tokens.sso_idle),
            ("sso_max", tokens.sso_max),
        ] {
            if ttl.as_secs() > MAX_LIFETIME_SECS {
                self.error(tokens_at, format!("tokens.{name} may be at most 366d"));
            }
        }
        for (name, wait) in [
            ("wait_increment", brute_force.wait_increment),
            ("max_wait", brute_force.max_wait),
        ] {
            if wait.as_secs() > MAX_LIFETIME_SECS {
                self.error(realm_at, format!("brute_force.{name} may be at most 366d"));
            }
        }
        if let Some(s) = tokens
            .default_scopes
            .iter()
            .find(|s| !super::model::DEFAULT_SCOPE_NAMES.contains(&s.as_str()))
        {
            self.error(
                tokens_at,
                format!(
                    "tokens.default_scopes: unknown scope '{s}'; known: {}",
                    super::model::DEFAULT_SCOPE_NAMES.join(", ")
                ),
            );
        }
        if RESERVED_CLAIMS.contains(&tokens.roles_claim.as_str()) {
            self.error(
                tokens_at,
                format!(
                    "tokens.roles_claim '{}' would replace a standard claim; choose another name",
                    tokens.roles_claim
                ),
            );
        }
    }

    /// The settings of each required action, where each is written kept in `source`. Whether
    /// the engine implements an action is checked above the loader (`flow::FlowRegistry`).
    fn required_actions(
        listed: BTreeMap<String, Spanned<super::model::RequiredActionSetting>>,
        source: &mut Source,
    ) -> BTreeMap<String, super::model::RequiredActionSetting> {
        let mut required_actions = BTreeMap::new();
        for (action, setting) in listed {
            source.note(&format!("required_actions.{action}"), setting.referenced);
            required_actions.insert(action, setting.value);
        }
        required_actions
    }

    fn roles(&mut self, listed: &[Spanned<String>]) -> BTreeSet<String> {
        let mut roles = BTreeSet::new();
        for role in listed {
            if !roles.insert(role.value.clone()) {
                self.error(role.referenced, format!("role '{}' is listed twice", role.value));
            }
        }
        roles
    }

    /// The realm's own scopes: valid tokens, none listed twice or standard.
    fn scopes(&mut self, listed: &[Spanned<String>]) -> Vec<String> {
        let mut scopes: Vec<String> = Vec::new();
        for scope in listed {
            let s = scope.value.as_str();
            if !crate::realm::is_scope_token(s) {
                self.error(
                    scope.referenced,
                    format!("scope '{s}' is not a valid scope (printable ASCII without spaces, '\"' or '\\')"),
                );
            } else if crate::realm::STANDARD_SCOPES.contains(&s) || scopes.iter().any(|x| x == s) {
                self.error(
                    scope.referenced,
                    format!("scope '{s}' is listed twice or is a standard scope"),
                );
            } else {
                scopes.push(s.to_string());
            }
        }
        scopes
    }

    /// The clients, each defined once, their service accounts holding only the realm's roles.
    fn clients(
        &mut self,
        files: Vec<Spanned<ClientFile>>,
        roles: &BTreeSet<String>,
        scopes: &[String],
        source: &mut Source,
    ) -> BTreeMap<String, Client> {
        let mut clients = BTreeMap::new();
        let service_roles: Vec<(String, Location)> = files
            .iter()
            .flat_map(|c| {
                c.value
                    .service_account_roles
                    .iter()
                    .map(|r| (r.value.clone(), r.referenced))
            })
            .collect();
        for spanned in files {
            let at = spanned.referenced;
            source.note(&format!("clients.{}", spanned.value.client_id.value), at);
            if let Some(flow) = &spanned.value.browser_flow {
                source.note(
                    &format!("clients.{}.browser_flow", spanned.value.client_id.value),
                    flow.referenced,
                );
            }
            if let Some(client) = self.client(spanned.value, at, scopes) {
                let id = client.client_id.clone();
                if clients.insert(id.clone(), client).is_some() {
                    self.error(at, format!("client '{id}' is defined twice"));
                }
            }
        }
        for (role, at) in &service_roles {
            if !roles.contains(role) {
                self.error(*at, format!("role '{role}' is not one of the realm's roles"));
            }
        }
        clients
    }
}

/// What authenticator apps and RFC 6238 support: 6 or 8 digits, a sensible period and window.
fn check_otp_policy(p: &super::OtpPolicy) -> Result<(), String> {
    if p.digits != 6 && p.digits != 8 {
        return Err(format!("otp_policy.digits must be 6 or 8, not {}", p.digits));
    }
    if !(15..=300).contains(&p.period) {
        return Err(format!("otp_policy.period must be 15 to 300 seconds, not {}", p.period));
    }
    if p.look_around > 10 {
        return Err(format!(
            "otp_policy.look_around must be at most 10 steps, not {}",
            p.look_around
        ));
    }
    Ok(())
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "APP_SECRET").then(|| "s".repeat(40))
    }

    fn errors(text: &str) -> Vec<RealmError> {
        load_str("r.yaml", text, &env).unwrap_err()
    }

    #[test]
    fn the_account_audience_is_no_clients_name_and_account_settings_are_bounded() {
        let found = errors("realm: r\nclients:\n  - client_id: account\n    redirect_uris: [https://a.example/cb]\n");
        assert!(
            found
                .iter()
                .any(|e| e.message.contains("'account' is reserved") && e.line == 3),
            "{found:?}"
        );
        let found = errors("realm: r\naccount: { max_auth_age: 10s }\npat: { scopes: [admin] }\n");
        assert!(found.iter().any(|e| e.message.contains("max_auth_age")), "{found:?}");
        assert!(
            found.iter().any(|e| e.message.contains("pat.scopes names 'admin'")),
            "{found:?}"
        );
    }

    const GOOD: &str = "realm: demo
clients:
  - client_id: app
    secret: ${env:APP_SECRET}
    redirect_uris: [http://127.0.0.1:9000/callback]
  - client_id: spa
    redirect_uris: [http://127.0.0.1:9001/cb]
";

    #[test]
    fn loads_a_good_realm_with_hashed_secret() {
        let realm = load_str("r.yaml", GOOD, &env).unwrap();
        let app = &realm.clients["app"];
        assert_eq!(
            app.secret_hash.as_deref(),
            Some(crate::crypto::sha256_hex("s".repeat(40).as_bytes()).as_str())
        );
        assert!(realm.clients["spa"].is_public());
        assert!(!realm.to_json().contains(&"s".repeat(40)));
        assert_eq!(realm.tokens.access_ttl.as_secs(), 300);
    }

    #[test]
    fn unknown_key_is_reported_with_position() {
        let e = errors("realm: demo\ncolour: blue\n");
        assert_eq!((e[0].line, e[0].column), (2, 1), "{e:?}");
        assert!(e[0].message.contains("colour"), "{e:?}");
    }

    #[test]
    fn wrong_type_is_reported_with_position() {
        let e = errors("realm: demo\ntokens:\n  access_ttl: soon\n");
        assert_eq!(e[0].line, 3, "{e:?}");
    }

    #[test]
    fn literal_secret_missing_env_and_short_secret_are_refused() {
        let e =
            errors("realm: demo\nclients:\n  - client_id: a\n    secret: hunter2\n    redirect_uris: [http://x/cb]\n");
        assert_eq!((e[0].line, e[0].column), (4, 13), "{e:?}");
        assert!(e[0].message.contains("${env:NAME}"));
        let e = errors(
            "realm: demo\nclients:\n  - client_id: a\n    secret: ${env:NOPE}\n    redirect_uris: [http://x/cb]\n",
        );
        assert!(e[0].message.contains("NOPE is not set"), "{e:?}");
    }

    #[test]
    fn bad_redirect_uris_and_all_errors_at_once() {
        let e = errors(
            "realm: demo\nclients:\n  - client_id: a\n    redirect_uris:\n      - /relative\n      - http://x/cb#frag\n      - http://x/*\n",
        );
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(e.iter().map(|e| e.line).collect::<Vec<_>>(), vec![5, 6, 7]);
    }

    #[test]
    fn client_scopes_are_standard_ones_or_the_realm_s() {
        let realm = load_str(
            "r.yaml",
            "realm: demo\nscopes: [reports:read]\nclients:\n  - client_id: a\n    redirect_uris: [http://127.0.0.1/cb]\n    scopes: [openid, reports:read]\n  - client_id: b\n    redirect_uris: [http://127.0.0.1/cb]\n",
            &env,
        )
        .unwrap();
        assert!(realm.clients["a"].allows_scope("reports:read") && !realm.clients["a"].allows_scope("email"));
        assert!(realm.clients["b"].allows_scope("email") && !realm.clients["b"].allows_scope("reports:read"));
        assert_eq!(
            realm.clients["b"].disallowed_scope("openid admin:all email"),
            Some("admin:all")
        );
        assert_eq!(
            realm.scopes_supported(),
            ["openid", "profile", "email", "offline_access", "reports:read"]
        );
        let e = errors(
            "realm: demo\nclients:\n  - client_id: a\n    redirect_uris: [http://127.0.0.1/cb]\n    scopes: [openid, payments:write]\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].line, e[0].column), (5, 22), "{e:?}");
        assert!(e[0].message.contains("payments:write"), "{e:?}");
        let e = errors("realm: demo\nscopes: [openid, \"a b\"]\n");
        assert_eq!(e.len(), 2, "{e:?}");
    }

    #[test]
    fn redirect_uris_are_https_loopback_http_or_an_app_scheme() {
        let good = "realm: demo\nclients:\n  - client_id: a\n    redirect_uris:\n      - https://app.example/cb\n      - http://127.0.0.1:8400/cb\n      - http://[::1]/cb\n      - http://localhost:3000/cb\n      - com.example.app:/oauth2redirect\n    post_logout_redirect_uris: [https://app.example/]\n";
        assert!(
            load_str("r.yaml", good, &env).is_ok(),
            "{:?}",
            load_str("r.yaml", good, &env).err()
        );
        let e = errors(
            "realm: demo\nclients:\n  - client_id: a\n    redirect_uris:\n      - javascript:alert(1)\n      - data:text/html,hi\n      - http://app.example/cb\n      - http://127.0.0.1.evil.example/cb\n    post_logout_redirect_uris:\n      - http://app.example/\n",
        );
        let at: Vec<(u64, u64)> = e.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(at, vec![(5, 9), (6, 9), (7, 9), (8, 9), (10, 9)], "{e:?}");
        assert!(e[0].message.contains("javascript:"), "{e:?}");
        assert!(e[1].message.contains("data:"), "{e:?}");
        assert!(e[2].message.contains("loopback"), "{e:?}");
        assert_eq!(
            e[0].to_string().split(':').take(3).collect::<Vec<_>>(),
            ["r.yaml", "5", "9"]
        );
    }

    #[test]
    fn public_client_cannot_use_client_credentials() {
        let e = errors("realm: demo\nclients:\n  - client_id: a\n    grant_types: [client_credentials]\n");
        assert_eq!(e[0].line, 4, "{e:?}");
    }

    #[test]
    fn otp_policy_is_checked() {
        let e = errors("realm: demo\notp_policy: { digits: 7 }\n");
        assert_eq!(e[0].line, 2, "{e:?}");
        assert!(e[0].message.contains("6 or 8"), "{e:?}");
        let e = errors("realm: demo\notp_policy:\n  period: 0\n");
        assert!(e[0].message.contains("period"), "{e:?}");
    }

    #[test]
    fn display_is_file_line_column() {
        let e = RealmError {
            path: "r.yaml".into(),
            line: 3,
            column: 5,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "r.yaml:3:5: bad");
    }
}
