//! Realms: the configuration a realm file describes, validated and with secrets resolved to
//! hashes. `load` reads and checks files; the server keeps the loaded [`Realm`]s in memory and
//! records each applied version as a snapshot in the store.

pub mod apply;
mod duration;
pub mod export;
pub mod load;
pub mod model;
pub mod plan;
pub mod usernames;

use std::collections::BTreeMap;

use serde::Serialize;

pub use duration::Duration;
pub use load::{RealmError, load_dir, load_str};
pub use model::{
    AccountSettings, AcrSettings, Attestation, BruteForce, FirstLogin, FlowBindings, GrantType, IdentityProvider,
    MailSettings, OtpPolicy, PasswordPolicy, PatSettings, Pkce, ProviderKind, RequiredActionSetting, ResidentKey,
    SmsSettings, SmtpSettings, SmtpTls, TokenSettings, TrustedDevices, UserSettings, UserVerification,
    WebauthnSettings,
};

/// The built-in public client the account console signs in through, in every realm.
pub const ACCOUNT_CONSOLE: &str = "account-console";

/// The audience of the account console's API (Keycloak's `account` client), which user access
/// tokens carry; no realm file may name a client so.
pub const ACCOUNT_AUDIENCE: &str = "account";

/// The scope a token needs to change the account through the API (Keycloak's
/// `manage-account`); reading needs only the `account` audience.
pub const MANAGE_ACCOUNT_SCOPE: &str = "manage-account";

/// The scopes every realm has, and every client may ask for unless its `scopes` says otherwise.
pub const STANDARD_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The variable name in a `${env:NAME}` reference (how realm files name secrets).
pub fn env_reference(value: &str) -> Option<&str> {
    let name = value.trim().strip_prefix("${env:")?.strip_suffix('}')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(name)
}

/// An upstream endpoint: `https`, or plain `http` on the loopback interface only.
pub fn endpoint_allowed(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("'{text}' is not a URL ({e})"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("'{text}' must use https (plain http only on loopback)")),
    }
}

/// RFC 6749 §3.3 `scope-token`: printable ASCII without space, `"` and `\`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// The organization roles every realm has; `owner`s cannot all leave.
pub const ORGANIZATION_ROLES: [&str; 3] = ["owner", "admin", "member"];

/// An organization's alias or an organization role: 1 to 64 of a-z, 0-9, `-`, `_` and `.`.
pub fn is_alias(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'))
}

impl Realm {
    /// Whether members of its organizations may hold `role`.
    pub fn has_organization_role(&self, role: &str) -> bool {
        ORGANIZATION_ROLES.contains(&role) || self.organization_roles.iter().any(|r| r == role)
    }
}

/// A validated realm. It holds no plain secrets, so it may be stored and shown.
#[derive(Debug, Clone, Serialize)]
pub struct Realm {
    pub name: String,
    pub display_name: String,
    pub theme: String,
    pub flows: FlowBindings,
    pub password_policy: PasswordPolicy,
    pub otp_policy: OtpPolicy,
    pub brute_force: BruteForce,
    pub users: UserSettings,
    pub tokens: TokenSettings,
    /// Left out of the content (and its hash) when default, so older snapshots keep theirs.
    #[serde(skip_serializing_if = "AccountSettings::is_default")]
    pub account: AccountSettings,
    #[serde(skip_serializing_if = "PatSettings::is_default")]
    pub pat: PatSettings,
    pub required_actions: BTreeMap<String, RequiredActionSetting>,
    /// Sorted and without duplicates (a set, in canonical order).
    pub roles: Vec<String>,
    /// Scopes beyond [`STANDARD_SCOPES`] that the realm's clients may be given, in file order.
    /// Left out of the content (and its hash) when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    pub clients: BTreeMap<String, Client>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsSettings>,
    /// Left out of the content (and its hash) when off.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub login_notifications: bool,
    /// Left out of the content (and its hash) when default.
    #[serde(skip_serializing_if = "TrustedDevices::is_default")]
    pub trusted_devices: TrustedDevices,
    /// Left out of the content (and its hash) when no level is named.
    #[serde(skip_serializing_if = "AcrSettings::is_default")]
    pub acr: AcrSettings,
    /// Passkeys and security keys; `None`: not offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webauthn: Option<WebauthnSettings>,
    /// Organization roles beyond the built-in ones ([`ORGANIZATION_ROLES`]), in file order.
    /// Left out of the content (and its hash) when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organization_roles: Vec<String>,
    /// Address ranges the realm's users may sign in and use tokens from (normalized CIDRs);
    /// anywhere when empty. Left out of the content (and its hash) when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_allowlist: Vec<String>,
    /// Upstream sign-in providers, in file order. Left out of the content (and its hash) when
    /// there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identity_providers: Vec<IdentityProvider>,
    /// Where things were written, for messages about them (not part of the content).
    #[serde(skip)]
    pub source: Source,
}

/// The file a realm came from, and the positions of the keys later checks report on.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub path: String,
    /// Key (e.g. `flows`, `clients.app.browser_flow`) → (line, column).
    pub positions: BTreeMap<String, (u64, u64)>,
}

impl Source {
    fn note(&mut self, key: &str, at: serde_saphyr::Location) {
        self.positions.insert(key.to_string(), (at.line(), at.column()));
    }

    /// `file:line:column` of `key` (or just the file).
    pub fn at(&self, key: &str) -> String {
        match self.positions.get(key) {
            Some((l, c)) => format!("{}:{l}:{c}", self.path),
            None => self.path.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    /// SHA-256 (hex) of the client secret; `None` for a public client.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub pkce: Pkce,
    pub browser_flow: Option<String>,
    /// Realm roles of the client's own (client_credentials) tokens.
    pub service_account_roles: Vec<String>,
    /// The admin API accepts tokens this client got for users (master realm).
    pub admin_api: bool,
    /// May introspect access tokens of other clients (a resource server). Left out of the
    /// content (and its hash) when false, so realms without it keep their snapshots.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub introspection: bool,
    /// The scopes it may ask for; `None`: [`STANDARD_SCOPES`] (left out of the content then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Browser origins whose scripts may call the token, userinfo, logout and account APIs for
    /// it (CORS), as Keycloak's `webOrigins`: `https://app.example[:port]`, or `+` for the
    /// origins of its redirect URIs. Left out of the content when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub web_origins: Vec<String>,
    /// Its own roles (Keycloak's client roles), which users may be granted. Left out of the
    /// content when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The alias of the organization whose members alone may sign in to it. Left out of the
    /// content when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
}

impl Client {
    /// The account console's client for the realm at `issuer`: public, PKCE, code flow, back
    /// to the console only.
    pub fn account_console(issuer: &str) -> Client {
        Client {
            client_id: ACCOUNT_CONSOLE.into(),
            name: "Account console".into(),
            secret_hash: None,
            redirect_uris: vec![format!("{issuer}/account/callback")],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            pkce: Pkce::Required,
            browser_flow: None,
            service_account_roles: vec![],
            admin_api: false,
            introspection: false,
            scopes: Some(vec!["openid".into()]),
            web_origins: vec![],
            roles: vec![],
            organization: None,
        }
    }

    /// Its web origins with `+` spelled out (Keycloak's `allowed-origins` claim).
    pub fn resolved_web_origins(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for allowed in &self.web_origins {
            let found: Vec<String> = if allowed == "+" {
                self.redirect_uris
                    .iter()
                    .filter_map(|uri| url::Url::parse(uri).ok())
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.origin().is_tuple())
                    .map(|u| u.origin().ascii_serialization())
                    .collect()
            } else {
                vec![allowed.clone()]
            };
            for origin in found {
                if !out.contains(&origin) {
                    out.push(origin);
                }
            }
        }
        out
    }

    /// Whether scripts at `origin` (`scheme://host[:port]`) may call the APIs for this client.
    /// `+` counts web redirect URIs only: a native app's `com.example:/cb` has an opaque origin,
    /// written `null`, which any sandboxed page can send.
    pub fn allows_web_origin(&self, origin: &str) -> bool {
        self.resolved_web_origins().iter().any(|o| o == origin)
    }

    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Public clients always need PKCE; confidential ones unless the realm says `optional`.
    pub fn requires_pkce(&self) -> bool {
        self.is_public() || self.pkce == Pkce::Required
    }

    /// Exact, character-for-character match (RFC 9700 §2.1).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }

    /// Whether the client may ask for `scope`.
    pub fn allows_scope(&self, scope: &str) -> bool {
        match &self.scopes {
            Some(list) => list.iter().any(|s| s == scope),
            None => STANDARD_SCOPES.contains(&scope),
        }
    }

    /// The first scope in `requested` (space-separated) the client may not ask for.
    pub fn disallowed_scope<'a>(&self, requested: &'a str) -> Option<&'a str> {
        requested.split_ascii_whitespace().find(|s| !self.allows_scope(s))
    }
}

impl Realm {
    /// Of a user's client roles (client id → role names), those the realm file still lists.
    pub fn listed_client_roles(&self, mut held: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
        held.retain(|client_id, roles| {
            let listed = self
                .clients
                .get(client_id)
                .map(|c| c.roles.as_slice())
                .unwrap_or_default();
            roles.retain(|r| listed.contains(r));
            !roles.is_empty()
        });
        held
    }

    /// How long a retired signing key must stay published: as long as the longest-lived JWT
    /// it signed.
    pub fn key_retention_secs(&self) -> i64 {
        self.tokens.access_ttl.as_secs() + 60
    }

    /// A stable hash of the realm's content, recorded with each applied snapshot.
    pub fn content_hash(&self) -> String {
        crate::crypto::sha256_hex(self.to_json().as_bytes())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Required actions every new user gets.
    pub fn default_required_actions(&self) -> Vec<String> {
        self.required_actions
            .iter()
            .filter(|(_, s)| s.enabled && s.default)
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn is_required_action_enabled(&self, action: &str) -> bool {
        let setting = self.required_actions.get(action).map(|s| s.enabled);
        if action.starts_with("webauthn-register") {
            // On wherever the realm offers passkeys, unless the file turns them off.
            return self.webauthn.is_some() && setting.unwrap_or(true);
        }
        setting.unwrap_or(false)
    }

    /// The scopes some client of the realm may ask for (what discovery lists): the standard
    /// ones first, then the realm's own, each once. `openid` is always among them.
    pub fn scopes_supported(&self) -> Vec<&str> {
        let allowed = |s: &str| s == "openid" || self.clients.values().any(|c| c.allows_scope(s));
        STANDARD_SCOPES
            .iter()
            .copied()
            .chain(self.scopes.iter().map(String::as_str))
            .filter(|s| allowed(s))
            .collect()
    }
}
