//! `gatehouse realm import-keycloak`: a Keycloak realm export (`kc.sh export`, one file or a
//! directory of them) as a Gatehouse realm file and flow files, and — once that realm is
//! applied — its users (see `keycloak_users`). What has no Gatehouse counterpart (mappers,
//! identity providers, LDAP, custom SPIs, …) is listed, never silently dropped.
//!
//! The realm file is written in YAML's JSON-compatible flow style per value, and checked by
//! the real loader before anything is written.

use std::path::Path;

use serde_json::{Value, json};

use crate::crypto::sha256_hex;
use crate::flow::actions;

/// Keycloak's own clients, which Gatehouse has built in or does without.
const BUILT_IN_CLIENTS: &[&str] = &[
    "account",
    "account-console",
    "admin-cli",
    "broker",
    "realm-management",
    "security-admin-console",
];

/// Keycloak's built-in flows, which Gatehouse's built-in ones stand for.
const BUILT_IN_FLOWS: &[(&str, &str)] = &[("browser", "browser"), ("direct grant", "direct-grant")];

/// What the conversion made of an export.
#[derive(Debug, Default)]
pub struct Converted {
    pub realm: String,
    pub realm_file: String,
    /// (file name, text) of each flow file.
    pub flow_files: Vec<(String, String)>,
    /// What could not be carried over, one line each.
    pub not_carried: Vec<String>,
}

/// Reads an export: a realm file, or a directory with `{realm}-realm.json` and
/// `{realm}-users-N.json` files (the users are merged into the realm's `users`).
pub fn read_export(path: &Path) -> Result<Value, String> {
    let read = |p: &Path| -> Result<Value, String> {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}:{}:{}: {e}", p.display(), e.line(), e.column()))
    };
    if !path.is_dir() {
        return read(path);
    }
    let mut files: Vec<_> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let realm_file = files
        .iter()
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("-realm.json"))
        })
        .ok_or_else(|| format!("{}: no *-realm.json in this directory", path.display()))?;
    let mut realm = read(realm_file)?;
    if !realm.is_object() {
        return Err(format!(
            "{}: not a Keycloak realm export (a JSON object)",
            realm_file.display()
        ));
    }
    let mut users: Vec<Value> = realm["users"].as_array().cloned().unwrap_or_default();
    for p in files.iter().filter(|p| p.to_string_lossy().contains("-users-")) {
        users.extend(read(p)?["users"].as_array().cloned().unwrap_or_default());
    }
    realm["users"] = Value::Array(users);
    Ok(realm)
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn seconds(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_i64)
        .filter(|n| *n > 0)
        .map(|n| format!("{n}s"))
}

/// Converts an export to a realm file and flow files.
pub fn convert(export: &Value) -> Result<Converted, String> {
    let realm = str_of(export, "realm").ok_or("the export has no \"realm\": is this a Keycloak realm export?")?;
    let mut out = Converted {
        realm: realm.to_string(),
        ..Default::default()
    };
    let mut lines = vec![format!("realm: {}", json!(realm))];
    if let Some(name) = str_of(export, "displayName") {
        lines.push(format!("display_name: {}", json!(name)));
    }
    lines.push(format!(
        "password_policy: {}",
        password_policy(export, &mut out.not_carried)
    ));
    lines.push(format!("otp_policy: {}", otp_policy(export, &mut out.not_carried)));
    if let Some(bf) = brute_force(export, &mut out.not_carried) {
        lines.push(format!("brute_force: {bf}"));
    }
    lines.push(format!("tokens: {}", tokens(export)));
    let roles = realm_roles(export, realm);
    if !roles.is_empty() {
        lines.push(format!("roles: {}", json!(roles)));
    }
    lines.push(format!(
        "required_actions: {}",
        required_actions(export, &mut out.not_carried)
    ));
    if let Some(policy) = webauthn(export, &mut out.not_carried) {
        lines.push(format!("webauthn: {policy}"));
    }
    let ids = flow_ids(export);
    let flows = convert_flows(export, &ids, &mut out);
    if let Some(browser) = flows
        .iter()
        .find(|(alias, _)| Some(alias.as_str()) == str_of(export, "browserFlow"))
    {
        lines.push(format!("flows: {}", json!({ "browser": browser.1 })));
    }
    let clients = clients(export, &flows, &ids, &mut out.not_carried);
    let carried: Vec<String> = clients
        .iter()
        .filter_map(|c| c["client_id"].as_str().map(String::from))
        .collect();
    if !clients.is_empty() {
        lines.push("clients:".into());
        for c in clients {
            lines.push(format!("  - {c}"));
        }
    }
    not_carried_elsewhere(export, &flows, &carried, &mut out.not_carried);
    out.realm_file = format!(
        "# Converted from a Keycloak realm export by `gatehouse realm import-keycloak`.\n{}\n",
        lines.join("\n")
    );
    Ok(out)
}

/// Keycloak's brute-force detection as ours, when it was on (Gatehouse's is on either way).
fn brute_force(export: &Value, not_carried: &mut Vec<String>) -> Option<Value> {
    if export["bruteForceProtected"].as_bool() != Some(true) {
        not_carried.push(
            "brute-force protection was off in Keycloak; Gatehouse's is on (brute_force in the realm file)".into(),
        );
        return None;
    }
    let mut bf = serde_json::Map::new();
    if let Some(n) = export["failureFactor"].as_i64() {
        bf.insert("max_failures".into(), json!(n));
    }
    if let Some(s) = seconds(export, "waitIncrementSeconds") {
        bf.insert("wait_increment".into(), json!(s));
    }
    if let Some(s) = seconds(export, "maxFailureWaitSeconds") {
        bf.insert("max_wait".into(), json!(s));
    }
    Some(Value::Object(bf))
}

/// Keycloak's `passwordPolicy` ("length(12) and upperCase(1) and …") as ours.
fn password_policy(export: &Value, not_carried: &mut Vec<String>) -> Value {
    let mut policy = serde_json::Map::new();
    let mut require = Vec::new();
    for part in str_of(export, "passwordPolicy").unwrap_or("").split(" and ") {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, arg) = part.split_once('(').unwrap_or((part, ")"));
        let arg = arg.trim_end_matches(')');
        match name {
            "length" => {
                policy.insert("min_length".into(), json!(arg.parse::<u64>().unwrap_or(12).max(8)));
            }
            "upperCase" => require.push("upper"),
            "lowerCase" => require.push("lower"),
            "digits" => require.push("digit"),
            "specialChars" => require.push("special"),
            "passwordHistory" => {
                policy.insert("history".into(), json!(arg.parse::<u64>().unwrap_or(3)));
            }
            other => not_carried.push(format!("password policy '{other}({arg})'")),
        }
    }
    if !require.is_empty() {
        policy.insert("require".into(), json!(require));
    }
    Value::Object(policy)
}

fn otp_policy(export: &Value, not_carried: &mut Vec<String>) -> Value {
    if str_of(export, "otpPolicyType").is_some_and(|t| t != "totp") {
        not_carried.push("OTP policy type 'hotp' (counter-based codes): Gatehouse uses totp".into());
    }
    let algorithm = match str_of(export, "otpPolicyAlgorithm").unwrap_or("HmacSHA1") {
        "HmacSHA256" => "SHA256",
        "HmacSHA512" => "SHA512",
        _ => "SHA1",
    };
    json!({
        "type": "totp",
        "algorithm": algorithm,
        "digits": export["otpPolicyDigits"].as_u64().unwrap_or(6),
        "period": export["otpPolicyPeriod"].as_u64().unwrap_or(30),
        "look_around": export["otpPolicyLookAheadWindow"].as_u64().unwrap_or(1),
    })
}

fn tokens(export: &Value) -> Value {
    let mut t = serde_json::Map::new();
    for (ours, theirs) in [
        ("access_ttl", "accessTokenLifespan"),
        ("code_ttl", "accessCodeLifespan"),
        ("sso_idle", "ssoSessionIdleTimeout"),
        ("refresh_ttl", "ssoSessionIdleTimeout"),
        ("sso_max", "ssoSessionMaxLifespan"),
    ] {
        if let Some(s) = seconds(export, theirs) {
            t.insert(ours.into(), json!(s));
        }
    }
    Value::Object(t)
}

/// The realm's roles, without Keycloak's built-in ones.
pub fn realm_roles(export: &Value, realm: &str) -> Vec<String> {
    let default_roles = format!("default-roles-{realm}");
    let mut roles: Vec<String> = export["roles"]["realm"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| str_of(r, "name"))
        .filter(|n| !["offline_access", "uma_authorization", default_roles.as_str()].contains(n))
        .map(String::from)
        .collect();
    roles.sort();
    roles
}

/// Keycloak's WebAuthn policies as the realm's `webauthn:` section, when the export enables a
/// WebAuthn required action (otherwise passkeys stay off, as they were).
fn webauthn(export: &Value, not_carried: &mut Vec<String>) -> Option<Value> {
    let enabled = export["requiredActions"].as_array().into_iter().flatten().any(|a| {
        matches!(
            str_of(a, "alias"),
            Some("webauthn-register" | "webauthn-register-passwordless")
        ) && a["enabled"].as_bool().unwrap_or(false)
    });
    if !enabled {
        return None;
    }
    let mut out = serde_json::Map::new();
    let rp_name = ["webAuthnPolicyPasswordlessRpEntityName", "webAuthnPolicyRpEntityName"]
        .iter()
        .find_map(|key| str_of(export, key).filter(|n| !n.is_empty() && *n != "keycloak"));
    if let Some(name) = rp_name {
        out.insert("rp_name".into(), json!(name));
    }
    if str_of(export, "webAuthnPolicyUserVerificationRequirement") == Some("discouraged") {
        out.insert("user_verification".into(), json!("discouraged"));
    }
    let mut aaguids: Vec<&str> = Vec::new();
    for key in [
        "webAuthnPolicyAcceptableAaguids",
        "webAuthnPolicyPasswordlessAcceptableAaguids",
    ] {
        for aaguid in export[key].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !aaguids.contains(&aaguid) {
                aaguids.push(aaguid);
            }
        }
    }
    if !aaguids.is_empty() {
        out.insert("allowed_aaguids".into(), json!(aaguids));
    }
    if str_of(export, "webAuthnPolicyRequireResidentKey") == Some("Yes") {
        out.insert("resident_key".into(), json!("required"));
    }
    let conveyance = str_of(export, "webAuthnPolicyAttestationConveyancePreference");
    if matches!(conveyance, Some("direct" | "indirect" | "enterprise")) {
        not_carried.push(format!(
            "WebAuthn attestation '{}' (add attestation: direct and the makers' attestation_roots by hand)",
            conveyance.unwrap_or_default()
        ));
    }
    Some(Value::Object(out))
}

fn required_actions(export: &Value, not_carried: &mut Vec<String>) -> Value {
    let mut out = serde_json::Map::new();
    for a in export["requiredActions"].as_array().into_iter().flatten() {
        let Some(alias) = str_of(a, "alias") else { continue };
        let enabled = a["enabled"].as_bool().unwrap_or(false);
        match actions::canonical(alias).filter(|ours| actions::names().contains(ours)) {
            Some(ours) => {
                out.insert(
                    ours.into(),
                    json!({ "enabled": enabled, "default": a["defaultAction"].as_bool().unwrap_or(false) }),
                );
            }
            None if enabled => not_carried.push(format!("required action '{alias}'")),
            None => {}
        }
    }
    Value::Object(out)
}

/// A client of the export as a realm file's client, or why not.
fn client(c: &Value, flows: &[(String, String)], ids: &FlowIds, not_carried: &mut Vec<String>) -> Option<Value> {
    let id = convertible_client_id(c, not_carried)?;
    let public = c["publicClient"].as_bool().unwrap_or(false);
    let mut out = serde_json::Map::new();
    out.insert("client_id".into(), json!(id));
    if let Some(name) = str_of(c, "name").filter(|n| !n.starts_with("${")) {
        out.insert("name".into(), json!(name));
    }
    if !public {
        match str_of(c, "secret") {
            Some(secret) => {
                out.insert(
                    "secret_hash".into(),
                    json!(format!("sha256:{}", sha256_hex(secret.as_bytes()))),
                );
            }
            None => {
                not_carried.push(format!("client '{id}': confidential without a secret in the export"));
                return None;
            }
        }
    }
    let redirect_uris = exact_uris(id, &c["redirectUris"], "redirect URI", not_carried);
    let logout: Value = str_of(&c["attributes"], "post.logout.redirect.uris")
        .map(|l| json!(l.split("##").collect::<Vec<_>>()))
        .unwrap_or(Value::Null);
    let post_logout = exact_uris(id, &logout, "post-logout redirect URI", not_carried);
    let web_origins = exact_uris(id, &c["webOrigins"], "web origin", not_carried);
    let grants = client_grants(c, id, public, !redirect_uris.is_empty(), not_carried);
    if grants.is_empty() {
        not_carried.push(format!("client '{id}': no flow Gatehouse offers is enabled for it"));
        return None;
    }
    out.insert("grant_types".into(), json!(grants));
    if !redirect_uris.is_empty() {
        out.insert("redirect_uris".into(), json!(redirect_uris));
    }
    if !post_logout.is_empty() {
        out.insert("post_logout_redirect_uris".into(), json!(post_logout));
    }
    if !web_origins.is_empty() {
        out.insert("web_origins".into(), json!(web_origins));
    }
    let s256 = str_of(&c["attributes"], "pkce.code.challenge.method") == Some("S256");
    if !public && !s256 {
        out.insert("pkce".into(), json!("optional"));
    }
    browser_flow_override(c, id, flows, ids, &mut out, not_carried);
    note_protocol_mappers(c, id, not_carried);
    Some(Value::Object(out))
}

/// The id of a client the conversion carries: not one of Keycloak's own, not bearer-only, and
/// speaking OpenID Connect; `None` (with the reason noted, if any) otherwise.
fn convertible_client_id<'a>(c: &'a Value, not_carried: &mut Vec<String>) -> Option<&'a str> {
    let id = str_of(c, "clientId")?;
    if BUILT_IN_CLIENTS.contains(&id) {
        return None;
    }
    if c["bearerOnly"].as_bool() == Some(true) {
        not_carried.push(format!("client '{id}': bearer-only (a resource server without sign-in); create it as a confidential client with introspection: true if it introspects"));
        return None;
    }
    if str_of(c, "protocol").is_some_and(|p| p != "openid-connect") {
        not_carried.push(format!(
            "client '{id}': protocol {} (SAML)",
            str_of(c, "protocol").unwrap_or("")
        ));
        return None;
    }
    Some(id)
}

/// The URIs of `list` that are exact (no wildcard; Keycloak's "+" only as a web origin); each
/// dropped wildcard is noted.
fn exact_uris(id: &str, list: &Value, what: &str, not_carried: &mut Vec<String>) -> Vec<String> {
    let mut kept = Vec::new();
    for uri in list.as_array().into_iter().flatten().filter_map(Value::as_str) {
        if uri.contains('*') {
            not_carried.push(format!(
                "client '{id}': {what} '{uri}' (wildcards: list each URI exactly)"
            ));
        } else if uri != "+" || what == "web origin" {
            kept.push(uri.to_string());
        }
    }
    kept
}

/// The grant types a client had enabled, among those Gatehouse offers.
fn client_grants(
    c: &Value,
    id: &str,
    public: bool,
    has_redirect_uris: bool,
    not_carried: &mut Vec<String>,
) -> Vec<&'static str> {
    let mut grants = Vec::new();
    if c["standardFlowEnabled"].as_bool().unwrap_or(true) && has_redirect_uris {
        grants.extend(["authorization_code", "refresh_token"]);
    }
    if c["directAccessGrantsEnabled"].as_bool() == Some(true) {
        grants.push("password");
        if !grants.contains(&"refresh_token") {
            grants.push("refresh_token");
        }
    }
    if c["serviceAccountsEnabled"].as_bool() == Some(true) && !public {
        grants.push("client_credentials");
    }
    if c["implicitFlowEnabled"].as_bool() == Some(true) {
        not_carried.push(format!(
            "client '{id}': the implicit flow (RFC 9700 forbids it; use the code flow with PKCE)"
        ));
    }
    grants
}

/// The client's own browser flow (Keycloak's override, by flow id), as the converted flow's
/// name.
fn browser_flow_override(
    c: &Value,
    id: &str,
    flows: &[(String, String)],
    ids: &FlowIds,
    out: &mut serde_json::Map<String, Value>,
    not_carried: &mut Vec<String>,
) {
    if let Some(flow_id) = str_of(&c["authenticationFlowBindingOverrides"], "browser") {
        match flows
            .iter()
            .find(|(alias, _)| alias_of(ids, flow_id) == Some(alias.as_str()))
        {
            Some((_, name)) => {
                out.insert("browser_flow".into(), json!(name));
            }
            None => not_carried.push(format!("client '{id}': its browser flow override")),
        }
    }
}

/// Protocol mappers are not carried: each client's are noted by name.
fn note_protocol_mappers(c: &Value, id: &str, not_carried: &mut Vec<String>) {
    let mappers: Vec<&str> = c["protocolMappers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| str_of(m, "name"))
        .collect();
    if !mappers.is_empty() {
        not_carried.push(format!("client '{id}': protocol mappers {}", mappers.join(", ")));
    }
}

/// Flow ids and aliases: client overrides name flows by id.
type FlowIds = Vec<(String, String)>;

fn flow_ids(export: &Value) -> FlowIds {
    export["authenticationFlows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((str_of(f, "id")?.to_string(), str_of(f, "alias")?.to_string())))
        .collect()
}

fn alias_of<'a>(ids: &'a FlowIds, id: &str) -> Option<&'a str> {
    ids.iter().find(|(i, _)| i == id).map(|(_, a)| a.as_str())
}

fn clients(export: &Value, flows: &[(String, String)], ids: &FlowIds, not_carried: &mut Vec<String>) -> Vec<Value> {
    export["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| client(c, flows, ids, not_carried))
        .map(|mut c| {
            let roles = client_role_names(export, c["client_id"].as_str().unwrap_or_default());
            if !roles.is_empty() {
                c["roles"] = json!(roles);
            }
            c
        })
        .collect()
}

/// The roles the export defines for `client_id` (Keycloak's client roles), by name.
fn client_role_names<'a>(export: &'a Value, client_id: &str) -> Vec<&'a str> {
    export["roles"]["client"][client_id]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| str_of(r, "name"))
        .collect()
}

fn not_carried_elsewhere(
    export: &Value,
    converted: &[(String, String)],
    carried_clients: &[String],
    not_carried: &mut Vec<String>,
) {
    let present = |key: &str| export[key].as_array().is_some_and(|a| !a.is_empty());
    if present("identityProviders") {
        not_carried.push("identity providers (sign-in with other providers)".into());
    }
    if let Some(by_client) = export["roles"]["client"].as_object() {
        for (client, roles) in by_client {
            let names: Vec<&str> = roles
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| str_of(r, "name"))
                .collect();
            let carried = carried_clients.contains(client);
            if !BUILT_IN_CLIENTS.contains(&client.as_str()) && !carried && !names.is_empty() {
                not_carried.push(format!(
                    "client roles of '{client}': {} (the client is not carried)",
                    names.join(", ")
                ));
            }
        }
    }
    if present("groups") {
        not_carried.push("groups (their members' roles are not carried)".into());
    }
    if export["components"]["org.keycloak.storage.UserStorageProvider"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
    {
        not_carried.push("user federation (LDAP, Kerberos)".into());
    }
    if export["smtpServer"].as_object().is_some_and(|m| !m.is_empty()) {
        not_carried.push("the SMTP server settings".into());
    }
    note_settings_elsewhere(export, not_carried);
    for f in export["authenticationFlows"].as_array().into_iter().flatten() {
        let custom = f["builtIn"].as_bool() == Some(false) && f["topLevel"].as_bool() == Some(true);
        let Some(alias) = str_of(f, "alias") else { continue };
        let converted = converted.iter().any(|(a, _)| a == alias);
        if custom && !converted && str_of(export, "browserFlow") != Some(alias) {
            not_carried.push(format!(
                "flow '{alias}' (no client signs in with it; only browser flows are converted)"
            ));
        }
    }
}

/// Notes the realm's settings that have no place in a realm file: event listeners besides the
/// log, custom client scopes (and their mappers), components besides user federation and the
/// realm's keys, and themes.
fn note_settings_elsewhere(export: &Value, not_carried: &mut Vec<String>) {
    let listeners: Vec<&str> = export["eventsListeners"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|l| *l != "jboss-logging")
        .collect();
    if !listeners.is_empty() {
        not_carried.push(format!("event listeners: {}", listeners.join(", ")));
    }
    const KEYCLOAK_SCOPES: [&str; 12] = [
        "openid",
        "profile",
        "email",
        "roles",
        "web-origins",
        "offline_access",
        "address",
        "phone",
        "microprofile-jwt",
        "acr",
        "basic",
        "role_list",
    ];
    let custom_scopes: Vec<&str> = export["clientScopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| str_of(s, "name"))
        .filter(|n| !KEYCLOAK_SCOPES.contains(n) && !n.starts_with("saml_"))
        .collect();
    if !custom_scopes.is_empty() {
        not_carried.push(format!(
            "client scopes and their mappers: {} (add the scopes to `scopes:` by hand)",
            custom_scopes.join(", ")
        ));
    }
    let components: Vec<&str> = export["components"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(kind, list)| {
            !matches!(
                kind.as_str(),
                "org.keycloak.storage.UserStorageProvider" | "org.keycloak.keys.KeyProvider"
            ) && list.as_array().is_some_and(|l| !l.is_empty())
        })
        .map(|(kind, _)| kind.rsplit('.').next().unwrap_or(kind))
        .collect();
    if !components.is_empty() {
        not_carried.push(format!("components: {}", components.join(", ")));
    }
    let themes: Vec<&str> = ["loginTheme", "accountTheme", "emailTheme"]
        .iter()
        .filter_map(|key| str_of(export, key))
        .filter(|t| !t.is_empty() && *t != "keycloak" && *t != "keycloak.v2")
        .collect();
    if !themes.is_empty() {
        not_carried.push(format!("themes: {} (Gatehouse has its own)", themes.join(", ")));
    }
}

/// Keycloak authenticators and conditions, as Gatehouse's.
fn step_kind(provider: &str) -> Option<(&'static str, &'static str)> {
    Some(match provider {
        "auth-cookie" => ("authenticator", "cookie"),
        "auth-username-password-form" => ("authenticator", "username-password-form"),
        "auth-username-form" => ("authenticator", "username-form"),
        "auth-password-form" => ("authenticator", "password-form"),
        "auth-otp-form" => ("authenticator", "otp-form"),
        "deny-access-authenticator" => ("authenticator", "deny-access"),
        "conditional-user-configured" => ("condition", "user-configured"),
        "direct-grant-validate-username" => ("authenticator", "direct-grant-validate-username"),
        "direct-grant-validate-password" => ("authenticator", "direct-grant-validate-password"),
        "direct-grant-validate-otp" => ("authenticator", "direct-grant-validate-otp"),
        _ => return None,
    })
}

/// A flow name Gatehouse accepts for a Keycloak alias ("My browser" → `my-browser`).
fn flow_name(alias: &str) -> String {
    let name: String = alias
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
}

/// The most steps a converted flow may have, all levels together.
const MAX_STEPS: usize = 200;

/// The steps of the flow `alias` (recursively), or what cannot be converted. `budget` counts
/// the steps left, so that no export can make the conversion grow without end.
fn steps(export: &Value, alias: &str, depth: usize, budget: &mut usize) -> Result<Vec<Value>, String> {
    if depth > 8 {
        return Err(format!("flow '{alias}' nests too deeply"));
    }
    let flow = export["authenticationFlows"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| str_of(f, "alias") == Some(alias))
        .ok_or_else(|| format!("flow '{alias}' is not in the export"))?;
    let mut executions: Vec<&Value> = flow["authenticationExecutions"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    executions.sort_by_key(|e| e["priority"].as_i64().unwrap_or(0));
    let mut out = Vec::new();
    for e in executions {
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| format!("flow '{alias}' has more than {MAX_STEPS} steps"))?;
        let requirement = str_of(e, "requirement").unwrap_or("DISABLED").to_ascii_lowercase();
        if e["authenticatorFlow"].as_bool() == Some(true) {
            let sub = str_of(e, "flowAlias").ok_or("a subflow without an alias")?;
            if requirement == "disabled" {
                continue;
            }
            out.push(json!({ "subflow": flow_name(sub), "requirement": requirement, "steps": steps(export, sub, depth + 1, budget)? }));
            continue;
        }
        let provider = str_of(e, "authenticator").unwrap_or("");
        if e.get("authenticatorConfig").is_some_and(|c| !c.is_null()) {
            return Err(format!("step '{provider}' has a configuration"));
        }
        match step_kind(provider) {
            Some((kind, name)) => out.push(json!({ kind: name, "requirement": requirement })),
            // Steps that are off, or that only redirect to another provider, can go.
            None if requirement == "disabled" => {}
            None if provider == "identity-provider-redirector" && requirement == "alternative" => {}
            None => return Err(format!("step '{provider}' has no Gatehouse counterpart")),
        }
    }
    Ok(out)
}

/// The flows the realm's clients sign in with, converted: (Keycloak alias, Gatehouse name).
/// Keycloak's built-in browser flow is Gatehouse's built-in one.
fn convert_flows(export: &Value, ids: &FlowIds, out: &mut Converted) -> Vec<(String, String)> {
    let mut wanted: Vec<String> = str_of(export, "browserFlow").map(String::from).into_iter().collect();
    for c in export["clients"].as_array().into_iter().flatten() {
        if let Some(id) = str_of(&c["authenticationFlowBindingOverrides"], "browser")
            && let Some(alias) = alias_of(ids, id)
            && !wanted.iter().any(|w| w == alias)
        {
            wanted.push(alias.to_string());
        }
    }
    let mut converted = Vec::new();
    for alias in wanted {
        if let Some((_, ours)) = BUILT_IN_FLOWS.iter().find(|(kc, _)| *kc == alias) {
            converted.push((alias.clone(), ours.to_string()));
            continue;
        }
        let name = flow_name(&alias);
        let mut budget = MAX_STEPS;
        let text = steps(export, &alias, 0, &mut budget).and_then(|steps| {
            let file = json!({ "flow": name, "description": format!("Keycloak's '{alias}'"), "steps": steps });
            let body = serde_json::to_string_pretty(&file).unwrap_or_default();
            let text = format!("# Converted from Keycloak's flow '{alias}' (YAML in JSON's notation).\n{body}\n");
            crate::flow::model::parse(&format!("{name}.yaml"), &text)
                .map(|_| text)
                .map_err(|e| e.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; "))
        });
        match text {
            Ok(text) => {
                out.flow_files.push((format!("{name}.yaml"), text));
                converted.push((alias, name));
            }
            Err(why) => out.not_carried.push(format!(
                "flow '{alias}': {why}; the realm keeps Gatehouse's browser flow"
            )),
        }
    }
    converted
}

#[cfg(test)]
#[path = "keycloak_import_tests.rs"]
mod tests;
