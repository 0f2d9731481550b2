//! The realm file's shape (see DESIGN.md). Unknown keys are refused, never ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::duration::Duration;
use crate::crypto::Algorithm;
/// The OTP policy is a realm setting; its shape lives with the TOTP code that reads it.
pub use crate::crypto::totp::{OtpAlgorithm, OtpPolicy, OtpType};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmFile {
    pub realm: Spanned<String>,
    pub display_name: Option<String>,
    #[serde(default = "default_theme")]
    pub theme: String,
    #[serde(default)]
    pub flows: Option<Spanned<FlowBindings>>,
    #[serde(default)]
    pub password_policy: PasswordPolicy,
    #[serde(default)]
    pub otp_policy: Option<Spanned<OtpPolicy>>,
    #[serde(default)]
    pub brute_force: BruteForce,
    #[serde(default)]
    pub users: UserSettings,
    #[serde(default)]
    pub tokens: Option<Spanned<TokenSettings>>,
    #[serde(default)]
    pub account: AccountSettings,
    #[serde(default)]
    pub pat: PatSettings,
    #[serde(default)]
    pub required_actions: BTreeMap<String, Spanned<RequiredActionSetting>>,
    #[serde(default)]
    pub roles: Vec<Spanned<String>>,
    /// Scopes the realm defines beyond the standard ones (`openid`, `profile`, `email`,
    /// `offline_access`), for clients to list in their `scopes`.
    #[serde(default)]
    pub scopes: Vec<Spanned<String>>,
    #[serde(default)]
    pub clients: Vec<Spanned<ClientFile>>,
    /// How the realm's mail goes out (else the server's `mail` setting, else none).
    #[serde(default)]
    pub mail: Option<Spanned<MailSettings>>,
    /// How the realm's texts (SMS codes) go out; none without it.
    #[serde(default)]
    pub sms: Option<Spanned<SmsSettings>>,
    /// Mail users when they sign in from a browser, device or place not seen in 90 days.
    #[serde(default)]
    pub login_notifications: bool,
    /// "Remember this device" on second-factor pages.
    #[serde(default)]
    pub trusted_devices: TrustedDevices,
    #[serde(default)]
    pub acr: AcrSettings,
    #[serde(default)]
    pub webauthn: Option<WebauthnSettings>,
    /// Organization roles beyond `owner`, `admin` and `member`.
    #[serde(default)]
    pub organization_roles: Vec<Spanned<String>>,
    /// Where the realm's users may sign in and use their tokens from: CIDRs or single
    /// addresses; anywhere when empty.
    #[serde(default)]
    pub ip_allowlist: Vec<Spanned<String>>,
    /// Upstream sign-in providers (identity brokering).
    #[serde(default)]
    pub identity_providers: Vec<Spanned<IdentityProvider>>,
}

/// An upstream sign-in provider: an OpenID Connect provider, or GitHub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProvider {
    /// Its name in URLs and links (`/realms/{realm}/broker/{alias}/endpoint`).
    pub alias: String,
    pub kind: ProviderKind,
    /// The button's words ("Sign in with …"); the alias when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `oidc`: the provider's discovery document (`…/.well-known/openid-configuration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_url: Option<String>,
    pub client_id: String,
    /// `${env:NAME}`: read from the environment when used, never stored.
    pub client_secret: String,
    /// Scopes asked for (`oidc`: `openid email profile` when none; `github`: `read:user
    /// user:email`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// PKCE (S256) on the upstream request.
    #[serde(default = "yes")]
    pub pkce: bool,
    /// What a first sign-in through it does.
    #[serde(default)]
    pub first_login: FirstLogin,
    /// `github`: other endpoints than github.com's (GitHub Enterprise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

impl IdentityProvider {
    /// The name people see.
    pub fn label(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.alias)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Oidc,
    Github,
}

/// What the first sign-in through a provider does when no user is linked to the account yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FirstLogin {
    /// Link to the user whose address both this realm and the provider have verified; else
    /// create. Only for a provider trusted to vouch for every address it asserts.
    LinkByVerifiedEmail,
    /// Create a new user (refused when the address belongs to a user already).
    #[default]
    Create,
    /// Ask the person: link to their account (proving it with its password), or create one.
    Ask,
}

/// Devices a user trusts: a second factor entered with "Remember this device" is not asked
/// again on that browser for `days` (flows skip it with the `trusted-device` condition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustedDevices {
    pub enabled: bool,
    pub days: u32,
}

impl Default for TrustedDevices {
    fn default() -> Self {
        TrustedDevices {
            enabled: false,
            days: 30,
        }
    }
}

impl TrustedDevices {
    pub fn is_default(&self) -> bool {
        self == &TrustedDevices::default()
    }
}

/// Levels of authentication (OIDC `acr`): names an app may ask for with `acr_values` or an
/// essential `acr` claim, each mapped to the factors it needs (Keycloak's `acr.loa.map`):
/// 1 is one factor, 2 is two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcrSettings {
    pub loa_map: BTreeMap<String, u8>,
}

impl AcrSettings {
    pub fn is_default(&self) -> bool {
        self.loa_map.is_empty()
    }
}

/// Passkeys and security keys: present, the sign-in pages offer passkeys and users may
/// register them. The relying party ID is the host of the node's public URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnSettings {
    /// The name authenticators show (default: the realm's display name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rp_name: Option<String>,
    /// Whether a security key must verify its user (a PIN or biometric) or a touch is
    /// enough (it is a second factor after the password); passkeys always verify.
    #[serde(skip_serializing_if = "UserVerification::is_default")]
    pub user_verification: UserVerification,
    /// Authenticator models (AAGUIDs) allowed to register; empty: any. Under `attestation:
    /// none` as the authenticator states it; under `direct` as its maker's certificate proves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_aaguids: Vec<String>,
    /// Whether registration asks the authenticator to prove its model (`direct`: a signed
    /// attestation chaining to one of `attestation_roots`; synced passkeys cannot).
    #[serde(skip_serializing_if = "Attestation::is_default")]
    pub attestation: Attestation,
    /// The authenticator makers' root certificates (PEM) that `attestation: direct` trusts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attestation_roots: Vec<String>,
    /// Whether a security key must keep a discoverable credential (Keycloak's "require
    /// discoverable credential"); passkeys always do (the browser's autofill lists only those).
    #[serde(skip_serializing_if = "ResidentKey::is_default")]
    pub resident_key: ResidentKey,
}

/// What an authenticator proves about its model at registration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attestation {
    /// Nothing: any authenticator may register (its stated model is not proven).
    #[default]
    None,
    /// A signed attestation chaining to one of the realm's `attestation_roots`.
    Direct,
}

impl Attestation {
    pub fn is_default(&self) -> bool {
        *self == Attestation::None
    }
}

/// Whether a security key keeps a discoverable (resident) credential.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidentKey {
    #[default]
    Discouraged,
    Preferred,
    Required,
}

impl ResidentKey {
    pub fn is_default(&self) -> bool {
        *self == ResidentKey::Discouraged
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            ResidentKey::Discouraged => "discouraged",
            ResidentKey::Preferred => "preferred",
            ResidentKey::Required => "required",
        }
    }
}

/// How strictly a security key must verify its user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserVerification {
    #[default]
    Required,
    /// A touch is enough.
    Discouraged,
}

impl UserVerification {
    pub fn is_default(&self) -> bool {
        *self == UserVerification::Required
    }
}

/// Outgoing mail: a file outbox or an SMTP server, and the limits on sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// The sender, e.g. `Demo <no-reply@example.com>`.
    pub from: String,
    /// Writes each message as an `.eml` file in this directory instead of sending it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpSettings>,
    /// How long a password-reset or verification link stays valid.
    pub link_ttl: Duration,
    /// Messages one address may be sent per hour.
    pub per_address_per_hour: u32,
    /// Messages requests from one client address may cause per hour.
    pub per_ip_per_hour: u32,
    /// The wait before the first retry of a failed send; it doubles with each failure.
    pub retry_after: Duration,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            from: String::new(),
            outbox: None,
            smtp: None,
            link_ttl: Duration::minutes(15),
            per_address_per_hour: 5,
            per_ip_per_hour: 30,
            retry_after: Duration::seconds(30),
        }
    }
}

/// Outgoing texts: posted to a webhook (which hands them to an SMS gateway) or written to a
/// file outbox, and the limits on sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSettings {
    /// Each text is posted here as JSON `{to, body, realm}`, signed with `secret`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// Only as `${env:NAME}`: the key of the `X-Gatehouse-Signature` HMAC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Writes each text as a `.json` file in this directory instead of posting it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox: Option<String>,
    /// Only numbers starting with one of these (`+49`, `+4369`) are texted: a guard against
    /// texts to expensive destinations ("SMS pumping"). Empty: any number.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_prefixes: Vec<String>,
    /// Texts of one kind (codes to confirm the number, to sign in) one number may be sent per
    /// hour.
    pub per_number_per_hour: u32,
    /// Texts one user may cause per hour, whatever the number.
    pub per_user_per_hour: u32,
    /// Texts requests from one client address may cause per hour.
    pub per_ip_per_hour: u32,
    /// The wait before the first retry of a failed send; it doubles with each failure.
    pub retry_after: Duration,
}

impl Default for SmsSettings {
    fn default() -> Self {
        SmsSettings {
            webhook: None,
            secret: None,
            outbox: None,
            allowed_prefixes: Vec::new(),
            per_number_per_hour: 5,
            per_user_per_hour: 10,
            per_ip_per_hour: 20,
            retry_after: Duration::seconds(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Only as `${env:NAME}`: read from each node's environment when sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

fn default_smtp_port() -> u16 {
    587
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or network.
    None,
}

fn default_theme() -> String {
    "default".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowBindings {
    pub browser: String,
    /// The flow the password grant runs (Keycloak's `directGrantFlow`, built-in
    /// `flows/direct-grant.yaml`); the grant itself is off until a client enables it.
    pub direct_grant: String,
    /// The flow "Forgot password?" runs (Keycloak's `resetCredentialsFlow`); offered once mail
    /// can carry its link.
    pub reset_credentials: String,
}

impl Default for FlowBindings {
    fn default() -> Self {
        FlowBindings {
            browser: "browser".into(),
            direct_grant: "direct-grant".into(),
            reset_credentials: "reset-credentials".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub require: Vec<CharacterClass>,
    pub history: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 12,
            require: vec![],
            history: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CharacterClass {
    Upper,
    Lower,
    Digit,
    Special,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BruteForce {
    pub max_failures: u32,
    pub wait_increment: Duration,
    pub max_wait: Duration,
}

impl Default for BruteForce {
    fn default() -> Self {
        BruteForce {
            max_failures: 5,
            wait_increment: Duration::minutes(1),
            max_wait: Duration::minutes(15),
        }
    }
}

/// Rules for the realm's users (Keycloak's realm login settings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserSettings {
    /// Several users may share one email address (Keycloak's "Duplicate emails"); off by
    /// default, so an address names one account.
    pub duplicate_emails: bool,
}

/// The account console's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountSettings {
    /// How recent the sign-in must be for a sensitive change (a password, a factor, signing
    /// out elsewhere); an older one signs in again first.
    pub max_auth_age: Duration,
    /// Every user must keep a second factor: the last one cannot be removed.
    pub required_second_factor: bool,
    /// Users holding one of these realm roles must keep a second factor.
    pub second_factor_roles: Vec<String>,
}

impl Default for AccountSettings {
    fn default() -> Self {
        AccountSettings {
            max_auth_age: Duration::minutes(5),
            required_second_factor: false,
            second_factor_roles: Vec::new(),
        }
    }
}

impl AccountSettings {
    /// Whether a user holding `roles` must keep a second factor.
    pub fn requires_second_factor(&self, roles: &[String]) -> bool {
        self.required_second_factor || roles.iter().any(|r| self.second_factor_roles.contains(r))
    }

    pub fn is_default(&self) -> bool {
        *self == AccountSettings::default()
    }
}

/// Personal access tokens users create in the account console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatSettings {
    /// The longest lifetime a user may give a token.
    pub max_ttl: Duration,
    /// The scopes a user may give a token (each a scope of the realm).
    pub scopes: Vec<String>,
}

impl Default for PatSettings {
    fn default() -> Self {
        PatSettings {
            max_ttl: Duration::hours(365 * 24),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
        }
    }
}

impl PatSettings {
    pub fn is_default(&self) -> bool {
        *self == PatSettings::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub code_ttl: Duration,
    pub sso_idle: Duration,
    pub sso_max: Duration,
    pub signing_alg: Algorithm,
    /// The claim that carries the user's realm roles in access and ID tokens (empty: none).
    pub roles_claim: String,
    /// Keycloak's default client scopes: in force for every token whether asked for or not.
    /// `profile` and `email` release their claims (in the ID and access tokens too, as
    /// Keycloak's do), `roles` adds `realm_access` and `resource_access`, `web-origins` adds
    /// `allowed-origins`. Left out of the content when it is Keycloak's default.
    #[serde(skip_serializing_if = "is_keycloak_default_scopes")]
    pub default_scopes: Vec<String>,
}

/// The scopes a realm may make default, and Keycloak's default set.
pub const DEFAULT_SCOPE_NAMES: &[&str] = &["profile", "email", "roles", "web-origins"];

fn is_keycloak_default_scopes(scopes: &[String]) -> bool {
    scopes
        .iter()
        .map(String::as_str)
        .eq(DEFAULT_SCOPE_NAMES.iter().copied())
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            access_ttl: Duration::minutes(5),
            refresh_ttl: Duration::minutes(30),
            code_ttl: Duration::seconds(60),
            sso_idle: Duration::minutes(30),
            sso_max: Duration::hours(10),
            signing_alg: Algorithm::RS256,
            roles_claim: "roles".into(),
            default_scopes: DEFAULT_SCOPE_NAMES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredActionSetting {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub default: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    pub client_id: Spanned<String>,
    pub name: Option<String>,
    /// The secret itself, only as `${env:NAME}`.
    pub secret: Option<Spanned<String>>,
    /// Or its SHA-256, as `sha256:<hex>`.
    pub secret_hash: Option<Spanned<String>>,
    #[serde(default)]
    pub redirect_uris: Vec<Spanned<String>>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<Spanned<String>>,
    #[serde(default = "default_grants")]
    pub grant_types: Vec<Spanned<GrantType>>,
    #[serde(default)]
    pub pkce: Pkce,
    #[serde(default)]
    pub browser_flow: Option<Spanned<String>>,
    /// Realm roles of the client itself, for its client_credentials tokens (a service account).
    #[serde(default)]
    pub service_account_roles: Vec<Spanned<String>>,
    /// In the master realm: the admin API accepts its users' tokens (e.g. `admin-cli`).
    #[serde(default)]
    pub admin_api: bool,
    /// A resource server: may introspect access tokens issued to other clients (RFC 7662 §4).
    /// Without it a client introspects only tokens issued to it or naming it as audience.
    #[serde(default)]
    pub introspection: bool,
    /// The scopes the client may ask for (default: the standard ones). Each is standard or
    /// one of the realm's `scopes`.
    #[serde(default)]
    pub scopes: Option<Vec<Spanned<String>>>,
    /// Origins whose scripts may call the APIs for the client (CORS); `+`: those of its
    /// redirect URIs.
    #[serde(default)]
    pub web_origins: Vec<Spanned<String>>,
    /// Roles of this client (Keycloak's client roles): granted to users, they show in tokens
    /// as `resource_access.{client_id}.roles`.
    #[serde(default)]
    pub roles: Vec<Spanned<String>>,
    /// The alias of the organization whose app this is: only its members sign in to it, and
    /// its tokens carry their membership (`organization` claim).
    #[serde(default)]
    pub organization: Option<Spanned<String>>,
}

fn default_grants() -> Vec<Spanned<GrantType>> {
    vec![]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// The resource owner password credentials grant (RFC 6749 §4.3), Keycloak's "direct
    /// access grants": off unless a client lists it.
    Password,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
        }
    }
}

/// `required`: every authorization request must carry an S256 challenge. `optional`: only
/// for confidential clients; public clients always need PKCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Pkce {
    #[default]
    Required,
    Optional,
}
