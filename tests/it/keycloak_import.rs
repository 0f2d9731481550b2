//! Coming over from Keycloak: `gatehouse realm import-keycloak` on the sample export
//! (`tests/fixtures/keycloak-realm-export.json`) writes a realm file and a flow file and lists
//! what it cannot carry; `realm plan` shows the new realm before anything is applied; after
//! `realm apply`, `--users` imports the users, who sign in with their old Keycloak passwords
//! (PBKDF2-SHA256 and -SHA512), after which the stored hash is argon2id; an authenticator app
//! comes along. On SQLite and PostgreSQL.

use std::path::{Path, PathBuf};

use crate::support::oauth::{self, ClientAuth};
use crate::support::process::{arg, gatehouse};
use crate::support::*;
use gatehouse::tooling::keycloak_import::{convert, read_export};
use reqwest::StatusCode;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keycloak-realm-export.json")
}

/// `gatehouse ARGS` on the harness's database and master key, with `flows` as flows directory.
fn cli(h: &Harness, flows: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = gatehouse(args);
    cmd.args(["--database-url", &h.settings.database_url])
        .args(["--flows-dir", arg(flows)])
        .args(["--master-key-file", arg(&h.settings.master_key_file)])
        .env(
            "GATEHOUSE_MASTER_KEY",
            h.settings.master_key.clone().unwrap_or_default(),
        );
    cmd.output().expect("run gatehouse")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A node started with the flow files the import writes (made here by the same conversion): a
/// node reads flow files when it starts, and the command under test writes them again.
async fn start_with_the_converted_flows(db: Db) -> Harness {
    let converted = convert(&read_export(&fixture()).expect("the sample export")).expect("it converts");
    Harness::start_with(db, REALM, |dir, o| {
        let flows = dir.join("import/flows");
        std::fs::create_dir_all(&flows).expect("the flows directory");
        for (name, text) in &converted.flow_files {
            std::fs::write(flows.join(name), text).expect("a flow file");
        }
        o.flows_dir = Some(flows);
    })
    .await
}

const SCRIPTS_SECRET: &str = "scripts-secret-0123456789-012345678";

async fn password_grant(h: &Harness, fields: &[(&str, &str)]) -> oauth::JsonResponse {
    let mut params = vec![("grant_type", "password")];
    params.extend_from_slice(fields);
    let token = format!("{}/realms/acme/protocol/openid-connect/token", h.url);
    oauth::post_form(&token, ClientAuth::Basic("scripts", SCRIPTS_SECRET), &params).await
}

async fn stored_hash(h: &Harness, username: &str) -> String {
    let rows = h
        .query(&format!(
            "SELECT c.secret AS secret FROM credentials c JOIN users u ON u.id = c.user_id WHERE u.realm = 'acme' AND u.username = '{username}' AND c.kind = 'password'"
        ))
        .await;
    rows[0].try_get("", "secret").expect("a password hash")
}

db_test!(async fn a_keycloak_export_becomes_a_realm_whose_users_keep_their_passwords(db) {
    let h = start_with_the_converted_flows(db).await;
    let dir = tempfile_dir(&h);
    let (realms, flows) = (dir.join("realms"), dir.join("flows"));
    let written = std::fs::read_to_string(flows.join("strict-browser.yaml")).expect("the flow file");
    let export = fixture();
    let export = arg(&export);

    // The files, and what stays behind.
    let out = cli(&h, &flows, &["realm", "import-keycloak", export, "--out", arg(&realms), "--force"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    let realm_file = std::fs::read_to_string(realms.join("acme.yaml")).expect("the realm file");
    assert!(realm_file.contains("\"browser_flow\":\"strict-browser\""), "{realm_file}");
    assert!(!realm_file.contains("webapp-secret"), "a client secret in the realm file");
    assert_eq!(std::fs::read_to_string(flows.join("strict-browser.yaml")).expect("the flow file"), written);
    for line in [
        "identity providers",
        "groups",
        "client 'legacy': redirect URI 'http://127.0.0.1:3000/*'",
        "client 'legacy': protocol mappers department",
        "client 'reports-api': bearer-only",
        "required action 'delete_account'",
        "password policy 'notUsername(undefined)'",
        "user federation (LDAP, Kerberos)",
    ] {
        assert!(said.contains(line), "'{line}' is not listed:\n{said}");
    }
    assert!(!said.contains("flow 'Strict browser'"), "the client's flow was converted:\n{said}");
    // The client's roles come along with it.
    assert!(!said.contains("client roles of 'webapp'"), "{said}");
    assert!(realm_file.contains("\"roles\":[\"editor\"]"), "{realm_file}");
    // Its passkey policy, since the export enables passkey registration.
    assert!(
        realm_file.contains(r#"webauthn: {"rp_name":"Acme Sign-in","allowed_aaguids":["cb69481e-8ff7-4039-93ec-0a2729a154a8"]}"#),
        "{realm_file}"
    );
    assert!(said.contains("WebAuthn attestation 'direct'"), "{said}");
    // Not again over the same files.
    let again = cli(&h, &flows, &["realm", "import-keycloak", export, "--out", arg(&realms)]);
    assert!(!again.status.success() && text(&again).contains("exists already"), "{}", text(&again));

    // Reviewed, then applied; users before the realm is live are refused.
    let early = cli(&h, &flows, &["realm", "import-keycloak", export, "--users"]);
    assert!(!early.status.success() && text(&early).contains("realm apply"), "{}", text(&early));
    let plan = cli(&h, &flows, &["realm", "plan", arg(&realms)]);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    assert!(text(&plan).contains("acme"), "{}", text(&plan));
    let apply = cli(&h, &flows, &["realm", "apply", arg(&realms)]);
    assert!(apply.status.success(), "{}", text(&apply));
    let users = cli(&h, &flows, &["realm", "import-keycloak", export, "--users"]);
    let said = text(&users);
    assert!(users.status.success(), "{said}");
    assert!(said.contains("3 user(s) imported"), "{said}");
    assert!(!said.contains("user 'erin': roles of clients"), "{said}");
    assert!(said.contains("user 'erin': group memberships"), "{said}");
    assert!(said.contains("user 'dave': links to identity providers"), "{said}");
    // VERIFY_EMAIL is carried (as verify-email), whether or not the realm enables it yet.
    assert!(!said.contains("required action 'VERIFY_EMAIL'"), "{said}");
    // The directory form `kc.sh export --dir` writes: the realm, and its users apart.
    let split = dir.join("export");
    std::fs::create_dir_all(&split).expect("the export directory");
    let mut whole: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture()).expect("the fixture")).expect("JSON");
    let users = whole["users"].take();
    whole.as_object_mut().expect("an object").remove("users");
    std::fs::write(split.join("acme-realm.json"), whole.to_string()).expect("write");
    std::fs::write(split.join("acme-users-0.json"), serde_json::json!({ "realm": "acme", "users": users }).to_string())
        .expect("write");
    let twice = cli(&h, &flows, &["realm", "import-keycloak", arg(&split), "--users"]);
    assert!(text(&twice).contains("Existing users left as they are: carol, dave, erin"), "{}", text(&twice));
    h.state.sync_realms(false).await.expect("serve the applied realm");

    // Carol signs in with her Keycloak password; the hash becomes argon2id.
    assert!(stored_hash(&h, "carol").await.starts_with("$pbkdf2-sha256$"));
    let wrong = password_grant(&h, &[("username", "carol"), ("password", "Carol-Old-Password-2")]).await;
    wrong.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let carol = password_grant(&h, &[("username", "carol"), ("password", "Carol-Old-Password-1")]).await;
    carol.assert_ok();
    let claims = oauth::jwt_parts(carol.str("access_token").expect("an access token")).1;
    assert_eq!(claims["realm_access"]["roles"], serde_json::json!(["auditor"]), "{claims}");
    assert_eq!(claims["email"], "carol@acme.example");
    assert!(stored_hash(&h, "carol").await.starts_with("$argon2id$"), "rehashed at the sign-in");
    let again = password_grant(&h, &[("username", "carol"), ("password", "Carol-Old-Password-1")]).await;
    again.assert_ok();
    let attribute = h
        .query("SELECT a.value AS value FROM user_attributes a JOIN users u ON u.id = a.user_id WHERE u.username = 'carol' AND a.name = 'phone'")
        .await;
    let phone: String = attribute[0].try_get("", "value").expect("carol's phone");
    assert_eq!(phone, "+1 555 0100", "the first of her two values");

    // Erin's Keycloak argon2 hash (m=7168, t=5) verifies and becomes Gatehouse's argon2id.
    let keycloak_argon2 = stored_hash(&h, "erin").await;
    assert!(keycloak_argon2.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{keycloak_argon2}");
    let erin = password_grant(&h, &[("username", "erin"), ("password", "Erin-Old-Password-3")]).await;
    erin.assert_ok();
    // Her role of the client `webapp` came along: Keycloak's resource_access.
    let claims = oauth::jwt_parts(erin.str("access_token").expect("an access token")).1;
    assert_eq!(claims["resource_access"]["webapp"]["roles"], serde_json::json!(["editor"]), "{claims}");
    let rehashed = stored_hash(&h, "erin").await;
    assert!(rehashed.starts_with("$argon2id$") && rehashed != keycloak_argon2, "{rehashed}");

    // Dave (PBKDF2-SHA512) has his authenticator app: his code is asked for and checked, and
    // then his pending profile update stops the password grant.
    let without = password_grant(&h, &[("username", "dave"), ("password", "Dave-Old-Password-2")]).await;
    without.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(without.str("error_description").unwrap_or_default().contains("totp"), "{}", without.text);
    assert!(stored_hash(&h, "dave").await.starts_with("$argon2id$"));
    let code = keycloak_totp(b"K9dlyLQTzQ8xDOsV9ZFm");
    let with = password_grant(&h, &[("username", "dave"), ("password", "Dave-Old-Password-2"), ("totp", &code)]).await;
    assert_eq!(with.str("error_description"), Some("Account is not fully set up"), "{}", with.text);
});

/// The code of an authenticator app set up in Keycloak (its secret text's bytes are the key).
fn keycloak_totp(secret: &[u8]) -> String {
    let policy = gatehouse::realm::OtpPolicy::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    gatehouse::crypto::totp::code_at(&policy, secret, now).expect("a code")
}

/// A directory of the harness's own, for the files the import writes.
fn tempfile_dir(h: &Harness) -> PathBuf {
    let dir = h
        .settings
        .realms_dir
        .parent()
        .expect("the harness's directory")
        .join("import");
    std::fs::create_dir_all(&dir).expect("create the import directory");
    dir
}

db_test!(async fn one_command_writes_applies_and_imports_the_users(db) {
    let h = start_with_the_converted_flows(db).await;
    let dir = tempfile_dir(&h);
    let (realms, flows) = (dir.join("realms"), dir.join("flows"));
    let export = fixture();
    let out = cli(
        &h,
        &flows,
        &["realm", "import-keycloak", arg(&export), "--out", arg(&realms), "--force", "--apply"],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("realm acme: 3 user(s) imported"), "{said}");
    assert!(!said.contains("Next: gatehouse realm plan"), "{said}");
    let users = h.query("SELECT id FROM users WHERE realm = 'acme'").await;
    assert_eq!(users.len(), 3);
});
