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

/// SMS settings that can work: one way out; a webhook over HTTPS (plain HTTP only to this
/// host) with its signing key only by reference.
pub fn check_sms(sms: &super::SmsSettings) -> Result<(), String> {
    match (&sms.webhook, &sms.outbox) {
        (Some(_), Some(_)) => return Err("sms: give either webhook (a URL) or outbox (a directory), not both".into()),
        (None, None) => return Err("sms: give webhook (a URL texts are posted to) or outbox (a directory)".into()),
        (None, Some(dir)) if dir.trim().is_empty() => return Err("sms.outbox must name a directory".into()),
        _ => {}
    }
    if let Some(hook) = &sms.webhook {
        let url = url::Url::parse(hook).map_err(|e| format!("sms.webhook is not a URL ({e}): '{hook}'"))?;
        let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && local) {
            return Err("sms.webhook must use https (http only to localhost)".into());
        }
        match sms.secret.as_deref().map(client::env_reference) {
            None => {
                return Err("sms.webhook needs secret: ${env:NAME}, the key receivers check signatures with".into());
            }
            Some(None) => return Err("secrets are never written in realm files: use sms.secret: ${env:NAME}".into()),
            Some(Some(name)) if name.starts_with("GATEHOUSE_") => {
                return Err(format!("sms.secret may not name Gatehouse's own setting {name}"));
            }
            Some(Some(_)) => {}
        }
    }
    for prefix in &sms.allowed_prefixes {
        let digits = prefix.strip_prefix('+').unwrap_or_default();
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "sms.allowed_prefixes: '{prefix}' is not the start of an E.164 number such as +49"
            ));
        }
    }
    if sms.per_number_per_hour == 0 || sms.per_user_per_hour == 0 || sms.per_ip_per_hour == 0 {
        return Err("sms.per_number_per_hour, per_user_per_hour and per_ip_per_hour must be at least 1".into());
    }
    Ok(())
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
        let local = matches!(smtp.host.as_str(), "localhost" | "127.0.0.1" | "::1");
        if smtp.password.is_some() && smtp.tls == super::SmtpTls::None && !local {
            return Err(
                "mail.smtp: a password over tls: none would cross the network in clear text; use tls: starttls or tls"
                    .into(),
            );
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
        let realm_at = file.realm.referenced;
        if !is_identifier(&name) {
            self.error(
                realm_at,
                format!("realm name '{name}' may only use a-z, 0-9, '-' and '_'"),
            );
        }
        let mut source = Source {
            path: self.path.to_string(),
            positions: BTreeMap::new(),
        };
        source.note("realm", realm_at);
        let (tokens, tokens_at) = value_or_default(file.tokens, realm_at);
        self.check_lifetimes(&tokens, tokens_at, &file.brute_force, realm_at);
        let (otp_policy, otp_at) = value_or_default(file.otp_policy, realm_at);
        if let Err(message) = check_otp_policy(&otp_policy) {
            self.error(otp_at, message);
        }
        let (flows, flows_at) = value_or_default(file.flows, realm_at);
        source.note("flows", flows_at);
        self.check_pat(&file.pat, &file.scopes, realm_at);
        self.check_account(&file.account, realm_at);
        if !(1..=365).contains(&file.trusted_devices.days) {
            self.error(realm_at, "trusted_devices.days must be between 1 and 365");
        }
        if let Err(message) = check_acr(&file.acr) {
            self.error(realm_at, message);
        }
        if let Some(Err(message)) = file.webauthn.as_ref().map(check_webauthn) {
            self.error(realm_at, message);
        }
        let required_actions = Self::required_actions(file.required_actions, &mut source);
        let roles = self.roles(&file.roles);
        let scopes = self.scopes(&file.scopes);
        let clients = self.clients(file.clients, &roles, &scopes, &mut source);
        let organization_roles = self.organization_roles(&file.organization_roles);
        let ip_allowlist = self.ip_allowlist(&file.ip_allowlist);
        let identity_providers = self.identity_providers(file.identity_providers);
        let mail = self.mail(file.mail);
        let sms = file.sms.map(|m| {
            if let Err(message) = check_sms(&m.value) {
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
            sms,
            login_notifications: file.login_notifications,
            trusted_devices: file.trusted_devices,
            acr: file.acr,
            webauthn: file.webauthn,
            organization_roles,
            ip_allowlist,
            identity_providers,
            source,
        }
    }

    /// Personal access tokens: scopes the realm knows, and a longest lifetime of an hour or more.
    fn check_pat(&mut self, pat: &super::model::PatSettings, realm_scopes: &[Spanned<String>], realm_at: Location) {
        for scope in &pat.scopes {
            let known = scope == "openid"
                || super::STANDARD_SCOPES.contains(&scope.as_str())
                || realm_scopes.iter().any(|s| &s.value == scope);
            if !known {
                self.error(
                    realm_at,
                    format!(
                        "pat.scopes names '{scope}', which is neither a standard scope nor one of the realm's scopes"
                    ),
                );
            }
        }
        if pat.max_ttl.as_secs() < 3600 {
            self.error(realm_at, "pat.max_ttl must be at least 1h");
        }
    }

    /// The account console's settings within bounds.
    fn check_account(&mut self, account: &super::model::AccountSettings, realm_at: Location) {
        let max_auth_age = account.max_auth_age.as_secs();
        if !(60..=86_400).contains(&max_auth_age) {
            self.error(
                realm_at,
                "account.max_auth_age must be between 1m and 24h: shorter makes every change sign in again, longer lets an unattended browser make them",
            );
        }
    }

    /// The realm's mail settings (if any), each mistake reported where they are written.
    fn mail(&mut self, mail: Option<Spanned<super::MailSettings>>) -> Option<super::MailSettings> {
        mail.map(|m| {
            if let Err(message) = check_mail(&m.value) {
                self.error(m.referenced, message);
            }
            m.value
        })
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

    /// Organization roles: names like aliases, each once, none of the built-in ones.
    fn organization_roles(&mut self, listed: &[Spanned<String>]) -> Vec<String> {
        let mut roles: Vec<String> = Vec::new();
        for role in listed {
            let r = role.value.as_str();
            if !crate::realm::is_alias(r) {
                self.error(
                    role.referenced,
                    format!("organization role '{r}' may only use a-z, 0-9, '-', '_' and '.' (at most 64)"),
                );
            } else if super::ORGANIZATION_ROLES.contains(&r) || roles.iter().any(|x| x == r) {
                self.error(
                    role.referenced,
                    format!("organization role '{r}' is listed twice or built in"),
                );
            } else {
                roles.push(r.to_string());
            }
        }
        roles
    }

    /// Upstream sign-in providers: each alias once, endpoints over https (plain http only on
    /// loopback), the secret from the environment.
    fn identity_providers(&mut self, listed: Vec<Spanned<super::IdentityProvider>>) -> Vec<super::IdentityProvider> {
        let mut providers: Vec<super::IdentityProvider> = Vec::new();
        for p in listed {
            let at = p.referenced;
            let mut provider = p.value;
            if let Err(message) = check_identity_provider(&provider, &providers) {
                self.error(at, message);
                continue;
            }
            if provider.scopes.is_empty() {
                provider.scopes = match provider.kind {
                    super::ProviderKind::Oidc => vec!["openid".into(), "email".into(), "profile".into()],
                    super::ProviderKind::Github => vec!["read:user".into(), "user:email".into()],
                };
            }
            providers.push(provider);
        }
        providers
    }

    /// The realm's address ranges, normalized (`10.1.2.3/8` → `10.0.0.0/8`).
    fn ip_allowlist(&mut self, listed: &[Spanned<String>]) -> Vec<String> {
        let mut ranges = Vec::new();
        for range in listed {
            match crate::ops::ranges::parse(&range.value) {
                Some(net) => ranges.push(net.to_string()),
                None => self.error(
                    range.referenced,
                    format!(
                        "ip_allowlist entry '{}' is not an address range: write a CIDR such as 10.0.0.0/8 or one address",
                        range.value
                    ),
                ),
            }
        }
        ranges
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

/// A section's value and where it is written; when the file leaves it out, its default, at
/// `default_at`.
fn value_or_default<T: Default>(section: Option<Spanned<T>>, default_at: Location) -> (T, Location) {
    match section {
        Some(s) => (s.value, s.referenced),
        None => (T::default(), default_at),
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests;

/// Level names are tokens an app can send in `acr_values` (no spaces), not the bare levels
/// `1` and `2` (which always mean themselves), and each names one or two factors.
fn check_webauthn(settings: &super::WebauthnSettings) -> Result<(), String> {
    for aaguid in &settings.allowed_aaguids {
        if webauthn_rs::prelude::Uuid::parse_str(aaguid).is_err() {
            return Err(format!(
                "webauthn.allowed_aaguids: '{aaguid}' is not an AAGUID: write it as 8-4-4-4-12 hexadecimal digits"
            ));
        }
    }
    let direct = settings.attestation == super::Attestation::Direct;
    if direct && settings.attestation_roots.is_empty() {
        return Err("webauthn.attestation: direct needs attestation_roots: the PEM root certificates of the authenticator makers you trust".into());
    }
    if !direct && !settings.attestation_roots.is_empty() {
        return Err("webauthn.attestation_roots are only used with attestation: direct".into());
    }
    for (i, root) in settings.attestation_roots.iter().enumerate() {
        if webauthn_rs::prelude::AttestationCaList::try_from(root.as_bytes()).is_err() {
            return Err(format!(
                "webauthn.attestation_roots[{i}] is not a PEM certificate (-----BEGIN CERTIFICATE----- ...)"
            ));
        }
    }
    Ok(())
}

fn check_acr(acr: &super::model::AcrSettings) -> Result<(), String> {
    for (name, level) in &acr.loa_map {
        if name.is_empty() || name == "1" || name == "2" || !super::is_scope_token(name) {
            return Err(format!(
                "acr.loa_map: '{name}' cannot name a level: use a word without spaces, such as silver or gold"
            ));
        }
        if !(1..=2).contains(level) {
            return Err(format!(
                "acr.loa_map.{name}: {level} is not a level: 1 is one factor (a password or a sign-in link), 2 is two factors"
            ));
        }
    }
    Ok(())
}

/// What is wrong with an upstream provider's settings, if anything.
fn check_identity_provider(p: &super::IdentityProvider, before: &[super::IdentityProvider]) -> Result<(), String> {
    let alias = &p.alias;
    if !super::is_alias(alias) {
        return Err(format!(
            "identity provider alias '{alias}' may only use a-z, 0-9, '-', '_' and '.' (at most 64)"
        ));
    }
    if before.iter().any(|b| &b.alias == alias) {
        return Err(format!("identity provider '{alias}' is listed twice"));
    }
    if p.client_id.trim().is_empty() {
        return Err(format!(
            "identity provider '{alias}' needs its client_id at the provider"
        ));
    }
    match super::env_reference(&p.client_secret) {
        None => {
            return Err(format!(
                "secrets are never written in realm files: use client_secret: ${{env:NAME}} for identity provider '{alias}'"
            ));
        }
        // Read when used, on every node (a stored snapshot is loaded without the environment).
        Some(name) if name.starts_with("GATEHOUSE_") => {
            return Err(format!(
                "identity provider '{alias}': client_secret may not name Gatehouse's own setting {name}"
            ));
        }
        Some(_) => {}
    }
    let urls = [
        ("discovery_url", &p.discovery_url),
        ("authorization_url", &p.authorization_url),
        ("token_url", &p.token_url),
        ("api_url", &p.api_url),
    ];
    for (key, url) in urls {
        let Some(url) = url else { continue };
        if let Err(problem) = super::endpoint_allowed(url) {
            return Err(format!("identity provider '{alias}': {key} {problem}"));
        }
    }
    match p.kind {
        super::ProviderKind::Oidc => {
            if p.discovery_url.is_none() {
                return Err(format!(
                    "identity provider '{alias}' (kind: oidc) needs discovery_url, the provider's .well-known/openid-configuration"
                ));
            }
            if p.authorization_url.is_some() || p.token_url.is_some() || p.api_url.is_some() {
                return Err(format!(
                    "identity provider '{alias}' (kind: oidc) takes its endpoints from discovery_url only"
                ));
            }
            if !p.scopes.is_empty() && !p.scopes.iter().any(|s| s == "openid") {
                return Err(format!("identity provider '{alias}': scopes must include openid"));
            }
        }
        super::ProviderKind::Github => {
            if p.discovery_url.is_some() {
                return Err(format!(
                    "identity provider '{alias}' (kind: github) has no discovery_url; give authorization_url, token_url and api_url for GitHub Enterprise"
                ));
            }
        }
    }
    Ok(())
}
