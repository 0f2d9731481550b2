//! Keycloak's own client libraries against Gatehouse, installed pinned by
//! `scripts/install-test-deps.sh`: @keycloak/keycloak-admin-client (Node.js,
//! `tests/clients/node/admin_client.mjs`) and python-keycloak
//! (`tests/clients/python/keycloak_script.py`). Each script prints what it saw; the tests check
//! that and what the server holds afterwards. On SQLite and PostgreSQL.

use std::path::PathBuf;

use crate::support::oauth;
use crate::support::signin;
use crate::support::*;
use reqwest::StatusCode;

const ROOT_PASSWORD: &str = "Root-Password-0123";

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node")
}

/// Whether the node client libraries are installed; `false` (a skip) outside CI.
fn node_clients_installed() -> bool {
    let marker = clients_dir().join("node_modules/@keycloak/keycloak-admin-client/package.json");
    if marker.exists() {
        return true;
    }
    let why = format!("{} is missing; run scripts/install-test-deps.sh", marker.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the client library tests need their libraries and CI=true: {why}");
    }
    eprintln!("SKIPPED: client library test: {why}");
    false
}

/// Runs a script of `tests/clients/node` with `env`; its stdout as JSON.
async fn node(script: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let output = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(clients_dir())
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed:\n{stderr}\n{stdout}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}):\n{stdout}"))
}

db_test!(async fn keycloaks_admin_client_manages_users_through_the_admin_api(db) {
    if !node_clients_installed() {
        return;
    }
    let realm = signin::standard_flow_realm()
        .replace("realm: flows\n", "realm: flows\nroles: [auditor]\n")
        .replacen("    pkce: required\n", "    pkce: required\n    roles: [editor]\n", 1);
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    gatehouse::admin::master::bootstrap(&h.state, "root", ROOT_PASSWORD, None)
        .await
        .expect("the first administrator");
    // Alice is signed in to an app, with a refresh token.
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    let refresh = tokens.str("refresh_token").expect("a refresh token").to_string();

    let out = node(
        "admin_client.mjs",
        &[
            ("GATEHOUSE_URL", &h.url),
            ("ADMIN_USERNAME", "root"),
            ("ADMIN_PASSWORD", ROOT_PASSWORD),
            ("REALM", "flows"),
        ],
    )
    .await;
    assert!(out["realms"].as_array().is_some_and(|r| r.contains(&"flows".into())), "{out}");
    assert_eq!(out["countBefore"], 1, "{out}");
    assert_eq!(out["count"], 2, "{out}");
    assert_eq!(out["created"]["username"], "dora", "{out}");
    // Keycloak's alias is accepted; the API answers with Gatehouse's name (its contract).
    assert_eq!(out["created"]["requiredActions"], serde_json::json!(["configure-otp"]), "{out}");
    assert_eq!(out["created"]["emailVerified"], true, "{out}");
    assert_eq!(out["created"]["attributes"], serde_json::json!({ "department": ["maps"] }), "{out}");
    assert_eq!(out["updated"]["firstName"], "Dora", "{out}");
    assert_eq!(out["updated"]["lastName"], "Explorer", "{out}");
    assert_eq!(out["realmRoles"], serde_json::json!(["auditor"]), "{out}");
    assert!(out["roleMappings"]["realmMappings"].is_array(), "{out}");
    assert_eq!(out["clientRoles"], serde_json::json!(["editor"]), "{out}");
    assert_eq!(out["clientMappings"]["web"]["mappings"][0]["name"], "editor", "{out}");
    assert_eq!(out["aliceSessions"], 1, "{out}");
    assert_eq!(out["aliceSessionsAfter"], 0, "{out}");
    assert_eq!(out["countAfter"], 1, "{out}");

    // The logout ended alice's grants too; dora is gone.
    oauth::refresh(&h, oauth::web(), &refresh)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let dora = h.query("SELECT id FROM users WHERE username = 'dora'").await;
    assert!(dora.is_empty(), "dora was not deleted");
    // The admin's sign-in and each change are in the security log, naming the admin.
    let created = signin::events(&h, Some("user_created")).await;
    let dora = created.iter().find(|e| e.details["username"] == "dora").expect("dora's creation is logged");
    assert_eq!(dora.details["by"], "user:root@master");
    assert_eq!(dora.client_id.as_deref(), Some("admin-cli"));
});

/// Runs `tests/clients/python/keycloak_script.py` with the pinned python-keycloak.
async fn python(env: &[(&str, &str)]) -> serde_json::Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let interpreter = root.join(".test-deps/python/bin/python");
    if !interpreter.exists() {
        let why = format!("{} is missing; run scripts/install-test-deps.sh", interpreter.display());
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the python-keycloak test needs its libraries and CI=true: {why}");
        }
        eprintln!("SKIPPED: python-keycloak test: {why}");
        return serde_json::Value::Null;
    }
    let output = tokio::process::Command::new(interpreter)
        .arg(root.join("tests/clients/python/keycloak_script.py"))
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run python: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "keycloak_script.py failed:\n{stderr}\n{stdout}"
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("no JSON ({e}):\n{stdout}"))
}

db_test!(async fn python_keycloak_signs_in_with_and_without_a_code_and_administers_users(db) {
    let realm = format!(
        "{}  - client_id: script
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    grant_types: [password, refresh_token, client_credentials]
",
        signin::standard_flow_realm().replace("realm: flows\n", "realm: flows\nroles: [auditor]\n")
    );
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    gatehouse::admin::master::bootstrap(&h.state, "root", ROOT_PASSWORD, None)
        .await
        .expect("the first administrator");
    let env = |totp: Option<&str>| {
        let mut env: Vec<(&str, String)> = vec![
            ("GATEHOUSE_URL", h.url.clone()),
            ("REALM", "flows".into()),
            ("CLIENT_ID", "script".into()),
            ("CLIENT_SECRET", WEB_SECRET.into()),
            ("USERNAME", USERNAME.into()),
            ("PASSWORD", PASSWORD.into()),
            ("ADMIN_USERNAME", "root".into()),
            ("ADMIN_PASSWORD", ROOT_PASSWORD.into()),
        ];
        if let Some(code) = totp {
            env.push(("TOTP", code.to_string()));
        }
        env
    };
    let run = |env: Vec<(&'static str, String)>| async move {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        python(&pairs).await
    };
    let out = run(env(None)).await;
    if out.is_null() {
        return;
    }
    assert_eq!(out["scope"], "openid profile email", "{out}");
    assert_eq!(out["userinfo"]["email"], EMAIL, "{out}");
    assert_eq!(out["introspected"], true, "{out}");
    assert_eq!(out["refreshed"], true, "{out}");
    assert_eq!(out["public_key"], true, "{out}");
    assert_eq!(out["refresh_after_logout"], "KeycloakPostError", "{out}");
    assert_eq!(out["client_credentials"], true, "{out}");
    assert_eq!(out["count_before"], 1, "{out}");
    assert_eq!(out["found_id"], true, "{out}");
    assert_eq!(out["first_name"], "Erin", "{out}");
    assert_eq!(out["actions"], serde_json::json!(["configure-otp", "update-password"]), "{out}");
    assert_eq!(out["roles"], serde_json::json!(["auditor"]), "{out}");
    assert_eq!(out["sessions"], 0, "{out}");
    assert_eq!(out["count_after"], 1, "{out}");

    // With an authenticator app, the code goes in `totp` (python-keycloak sends it as a number).
    let enrolment = signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    let code = signin::totp_next(&h, &enrolment.secret);
    let out = run(env(Some(&code))).await;
    assert_eq!(out["userinfo"]["email"], EMAIL, "{out}");
    let signed_in = signin::events(&h, Some("sign_in")).await;
    let last = signed_in.last().expect("the sign-in is logged");
    assert_eq!(last.details["grant"], "password");
    assert!(last.details["steps"].to_string().contains("direct-grant-validate-otp:success"), "{:?}", last.details);
});
