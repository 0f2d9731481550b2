//! The users of a Keycloak realm export, into the live realm of the same name: profile,
//! attributes, realm roles, required actions, authenticator apps (secrets sealed as ours) and
//! password hashes as they are — Keycloak's PBKDF2 as a `$pbkdf2-sha256$…` PHC string, its
//! argon2 as argon2's own — which the password hasher verifies and replaces with argon2id at
//! the first successful sign-in.

use base64::Engine as _;
use serde_json::Value;

use crate::crypto::{MasterKey, new_id};
use crate::realm::Realm;
use crate::store::{ImportedUser, Store, StoreError};

/// What the import did.
#[derive(Debug, Default)]
pub struct UserImport {
    pub created: Vec<String>,
    /// Users that exist already (by username), left as they are.
    pub skipped: Vec<String>,
    pub not_carried: Vec<String>,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Keycloak keeps a credential's data as JSON text inside the JSON.
fn inner(c: &Value, key: &str) -> Value {
    str_of(c, key)
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

fn first_param(data: &Value, name: &str) -> Option<String> {
    data["additionalParameters"][name]
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .map(String::from)
}

/// A Keycloak password credential as a PHC string, or why not.
pub fn password_phc(c: &Value) -> Result<String, String> {
    let data = inner(c, "credentialData");
    let secret = inner(c, "secretData");
    let (Some(hash), Some(salt)) = (str_of(&secret, "value"), str_of(&secret, "salt")) else {
        return Err("a password credential without its hash".into());
    };
    let iterations = data["hashIterations"].as_u64().unwrap_or(0);
    let phc = match str_of(&data, "algorithm").unwrap_or("") {
        alg @ ("pbkdf2-sha256" | "pbkdf2-sha512") => format!("${alg}$i={iterations}${salt}${hash}"),
        "argon2" => {
            let engine = base64::engine::general_purpose::STANDARD;
            let nopad = base64::engine::general_purpose::STANDARD_NO_PAD;
            let (Ok(hash), Ok(salt)) = (engine.decode(hash), engine.decode(salt)) else {
                return Err("an argon2 hash that is not base64".into());
            };
            let number = |name: &str, default: u32| -> Result<u32, String> {
                match first_param(&data, name) {
                    None => Ok(default),
                    Some(v) => v.parse().map_err(|_| format!("argon2 {name} '{v}' is not a number")),
                }
            };
            let kind = match first_param(&data, "type").as_deref() {
                None | Some("id") => "id",
                Some("i") => "i",
                Some(other) => return Err(format!("argon2 type '{other}'")),
            };
            let (memory, parallelism) = (number("memory", 7168)?, number("parallelism", 1)?);
            format!(
                "$argon2{kind}$v=19$m={memory},t={iterations},p={parallelism}${}${}",
                nopad.encode(salt),
                nopad.encode(hash)
            )
        }
        other => return Err(format!("password hash algorithm '{other}'")),
    };
    // Within what a sign-in may cost, or not imported at all (the user resets the password).
    let usable = if phc.starts_with("$pbkdf2-") {
        crate::crypto::parse_pbkdf2(&phc).is_some()
    } else {
        crate::crypto::argon2_within_bounds(&phc)
    };
    if usable {
        Ok(phc)
    } else {
        Err("a password hash that is malformed or costs more than Gatehouse allows per sign-in".into())
    }
}

/// A Keycloak TOTP credential's secret (Keycloak uses the text's bytes as the key), if it
/// matches the realm's OTP policy.
fn otp_secret(c: &Value, realm: &Realm) -> Result<Vec<u8>, String> {
    let data = inner(c, "credentialData");
    let secret = inner(c, "secretData");
    let policy = &realm.otp_policy;
    use crate::crypto::totp::OtpAlgorithm;
    let algorithm = match str_of(&data, "algorithm").unwrap_or("HmacSHA1") {
        "HmacSHA256" => OtpAlgorithm::SHA256,
        "HmacSHA512" => OtpAlgorithm::SHA512,
        _ => OtpAlgorithm::SHA1,
    };
    if str_of(&data, "subType").is_some_and(|t| t != "totp")
        || data["digits"].as_u64().is_some_and(|d| d != u64::from(policy.digits))
        || data["period"].as_u64().is_some_and(|p| p != policy.period)
        || algorithm != policy.algorithm
    {
        return Err("an authenticator app whose settings differ from the realm's OTP policy".into());
    }
    // Keycloak keeps the secret as text whose bytes are the key; a secret in another encoding
    // is not guessed at.
    if str_of(&data, "secretEncoding").is_some_and(|e| !e.eq_ignore_ascii_case("UTF8")) {
        return Err("an authenticator app whose secret is not plain text".into());
    }
    str_of(&secret, "value")
        .map(|v| v.as_bytes().to_vec())
        .ok_or_else(|| "an authenticator app without its secret".into())
}

/// One exported user as Gatehouse's, noting what is left behind.
fn user(u: &Value, realm: &Realm, master_key: &MasterKey, not_carried: &mut Vec<String>) -> Option<ImportedUser> {
    let username = str_of(u, "username")?.to_string();
    let mut new = ImportedUser {
        realm: realm.name.clone(),
        email: str_of(u, "email").map(String::from),
        email_verified: u["emailVerified"].as_bool().unwrap_or(false),
        first_name: str_of(u, "firstName").map(String::from),
        last_name: str_of(u, "lastName").map(String::from),
        enabled: u["enabled"].as_bool().unwrap_or(true),
        unique_email: !realm.users.duplicate_emails,
        username: username.clone(),
        ..Default::default()
    };
    add_credentials(u, realm, master_key, &mut new, not_carried);
    for role in strings(&u["realmRoles"]) {
        if realm.roles.iter().any(|r| r == role) {
            new.roles.push(role.to_string());
        }
    }
    add_client_roles(u, realm, &mut new);
    add_required_actions(u, &mut new, not_carried);
    add_attributes(u, &mut new, not_carried);
    note_left_behind(u, realm, &username, not_carried);
    Some(new)
}

/// The user's roles of the clients the realm file carries (each as the client lists it).
fn add_client_roles(u: &Value, realm: &Realm, new: &mut ImportedUser) {
    for (client_id, roles) in u["clientRoles"].as_object().into_iter().flatten() {
        let Some(client) = realm.clients.get(client_id) else {
            continue;
        };
        for role in strings(roles) {
            let pair = (client_id.clone(), role.to_string());
            if client.roles.iter().any(|r| r == role) && !new.client_roles.contains(&pair) {
                new.client_roles.push(pair);
            }
        }
    }
}

/// The strings of a JSON array (none when `list` is no array).
fn strings(list: &Value) -> impl Iterator<Item = &str> {
    list.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// The user's password hash and authenticator apps (their secrets sealed as ours).
fn add_credentials(
    u: &Value,
    realm: &Realm,
    master_key: &MasterKey,
    new: &mut ImportedUser,
    not_carried: &mut Vec<String>,
) {
    for c in u["credentials"].as_array().into_iter().flatten() {
        let result = match str_of(c, "type").unwrap_or("") {
            "password" => password_phc(c).map(|phc| new.password_hash = Some(phc)),
            "otp" => otp_secret(c, realm).map(|secret| {
                let id = new_id();
                let sealed = master_key.seal(&crate::flow::authenticators::otp_context(&id), &secret);
                new.otp.push((id, sealed, str_of(c, "userLabel").map(String::from)));
            }),
            other => Err(format!("a '{other}' credential")),
        };
        if let Err(why) = result {
            not_carried.push(format!("user '{}': {why}", new.username));
        }
    }
}

/// The user's required actions that Gatehouse runs, each once.
fn add_required_actions(u: &Value, new: &mut ImportedUser, not_carried: &mut Vec<String>) {
    for action in strings(&u["requiredActions"]) {
        match crate::flow::actions::canonical(action).filter(|a| crate::flow::actions::names().contains(a)) {
            Some(ours) if !new.required_actions.iter().any(|a| a == ours) => new.required_actions.push(ours.into()),
            Some(_) => {}
            None => not_carried.push(format!("user '{}': required action '{action}'", new.username)),
        }
    }
}

/// The user's attributes, each with its first value.
fn add_attributes(u: &Value, new: &mut ImportedUser, not_carried: &mut Vec<String>) {
    if let Some(attributes) = u["attributes"].as_object() {
        for (name, values) in attributes {
            let values: Vec<&str> = strings(values).collect();
            if let Some(first) = values.first() {
                new.attributes.push((name.clone(), first.to_string()));
            }
            if values.len() > 1 {
                not_carried.push(format!(
                    "user '{}': attribute '{name}' keeps its first value of {}",
                    new.username,
                    values.len()
                ));
            }
        }
    }
}

/// Notes what of the user is not carried at all: roles of clients the realm file does not
/// have, groups, identity provider links.
fn note_left_behind(u: &Value, realm: &Realm, username: &str, not_carried: &mut Vec<String>) {
    let left: Vec<&str> = u["clientRoles"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(client, _)| client.as_str())
        .filter(|c| *c != "account" && !realm.clients.contains_key(*c))
        .collect();
    if !left.is_empty() {
        not_carried.push(format!(
            "user '{username}': roles of clients not carried ({})",
            left.join(", ")
        ));
    }
    if u["groups"].as_array().is_some_and(|g| !g.is_empty()) {
        not_carried.push(format!("user '{username}': group memberships"));
    }
    if u["federatedIdentities"].as_array().is_some_and(|f| !f.is_empty()) {
        not_carried.push(format!("user '{username}': links to identity providers"));
    }
}

/// Imports the export's users into `realm` (live, of the same name). A user whose username
/// exists already is skipped, never changed.
pub async fn import_users(
    store: &Store,
    master_key: &MasterKey,
    realm: &Realm,
    export: &Value,
) -> Result<UserImport, String> {
    if str_of(export, "realm") != Some(realm.name.as_str()) {
        return Err(format!(
            "the export is of realm '{}', not '{}'",
            str_of(export, "realm").unwrap_or("?"),
            realm.name
        ));
    }
    let mut report = UserImport::default();
    for u in export["users"].as_array().into_iter().flatten() {
        if u.get("serviceAccountClientId").is_some() {
            continue;
        }
        let Some(new) = user(u, realm, master_key, &mut report.not_carried) else {
            continue;
        };
        let username = new.username.clone();
        match store.import_user(new).await {
            Ok(_) => report.created.push(username),
            Err(StoreError::Conflict(_)) => report.skipped.push(username),
            Err(e) => return Err(format!("user '{username}': {e}")),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(secret: &str, data: &str) -> Value {
        serde_json::json!({ "type": "password", "secretData": secret, "credentialData": data })
    }

    const SALT: &str = "MDEyMzQ1Njc4OWFiY2RlZg==";
    const HASH: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    fn secret() -> String {
        format!("{{\"value\":\"{HASH}\",\"salt\":\"{SALT}\",\"additionalParameters\":{{}}}}")
    }

    #[test]
    fn keycloak_password_credentials_become_phc_strings() {
        let pbkdf2 = credential(&secret(), r#"{"hashIterations":27500,"algorithm":"pbkdf2-sha256"}"#);
        assert_eq!(
            password_phc(&pbkdf2).unwrap(),
            format!("$pbkdf2-sha256$i=27500${SALT}${HASH}")
        );
        let argon = credential(
            &secret(),
            r#"{"hashIterations":5,"algorithm":"argon2","additionalParameters":{"type":["id"],"memory":["7168"],"parallelism":["1"]}}"#,
        );
        assert_eq!(
            password_phc(&argon).unwrap(),
            "$argon2id$v=19$m=7168,t=5,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        );
        let bcrypt = credential(&secret(), r#"{"algorithm":"bcrypt"}"#);
        assert!(password_phc(&bcrypt).is_err());
    }

    /// What a sign-in could not afford, or could never use, is not imported.
    #[test]
    fn costly_or_broken_hashes_are_refused() {
        for data in [
            r#"{"hashIterations":5000000,"algorithm":"pbkdf2-sha256"}"#,
            r#"{"hashIterations":0,"algorithm":"pbkdf2-sha512"}"#,
            r#"{"hashIterations":5,"algorithm":"argon2","additionalParameters":{"memory":["4194304"]}}"#,
            r#"{"hashIterations":4000,"algorithm":"argon2"}"#,
            r#"{"hashIterations":5,"algorithm":"argon2","additionalParameters":{"type":["d"]}}"#,
            r#"{"hashIterations":5,"algorithm":"argon2","additionalParameters":{"memory":["lots"]}}"#,
        ] {
            assert!(password_phc(&credential(&secret(), data)).is_err(), "{data}");
        }
        let short = r#"{"value":"aGFzaA==","salt":"c2FsdA=="}"#;
        let data = r#"{"hashIterations":27500,"algorithm":"pbkdf2-sha256"}"#;
        assert!(password_phc(&credential(short, data)).is_err());
    }
}
