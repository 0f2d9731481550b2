//! User administration through the admin API, end to end on both databases: partial update,
//! disable (sessions and tokens end), delete (everything of the user goes, events stay),
//! password reset (temporary, policy, history), credentials (a lost OTP device), sessions
//! and realm-role mappings; each with its 400/401/403/404 answers and its security event.

use crate::support::rp::{self, RpHttp, chain};
use crate::support::signin::{self, Shown, SignIn};
use crate::support::*;
use openidconnect::OAuth2TokenResponse;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The master realm: `pipeline` administers every realm, `scoped` only the master realm
/// (`master-admin`), `bystander` nothing.
const MASTER: &str = r#"realm: master
display_name: Administration
roles: [admin, master-admin]
tokens: { access_ttl: 5m, signing_alg: ES256 }
clients:
  - client_id: web
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    redirect_uris: [http://127.0.0.1:9000/callback]
    grant_types: [authorization_code, refresh_token]
  - client_id: pipeline
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    grant_types: [client_credentials]
    service_account_roles: [admin]
  - client_id: scoped
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    grant_types: [client_credentials]
    service_account_roles: [master-admin]
  - client_id: bystander
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    grant_types: [client_credentials]
"#;

/// A client of the flows realm that belongs to the organization `acme`.
const ORG_APP: &str = "  - client_id: acme-app
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    redirect_uris: [http://127.0.0.1:9000/callback]
    grant_types: [authorization_code, refresh_token, password]
    organization: acme
";

const BY_PIPELINE: &str = "client:pipeline@master";
const NEW_PASSWORD: &str = "Brand-New-Secret-42";

/// A harness on `master`, with the flow tests' realm `flows` (with roles `auditor` and
/// `clerk`) beside it, holding [`USERNAME`] with [`PASSWORD`]. The test continues in `flows`.
pub(crate) async fn start(db: Db) -> Harness {
    start_with_extra(db, "").await
}

/// [`start`] with `extra` appended to the `flows` realm file (e.g. its `mail` setting).
pub(crate) async fn start_with_extra(db: Db, extra: &str) -> Harness {
    let mut h = Harness::start_with(db, MASTER, |dir, _| {
        // Terms are off here, so that an action the realm does not enable can be refused.
        let flows = signin::standard_flow_realm()
            .replace(
                "realm: flows\n",
                "realm: flows\nroles: [auditor, clerk]\norganization_roles: [billing]\n",
            )
            .replace(
                "terms-and-conditions: { enabled: true }",
                "terms-and-conditions: { enabled: false }",
            )
            .replace(
                "    browser_flow: identifier-first\n",
                "    browser_flow: identifier-first\n    roles: [viewer, editor]\n",
            )
            + ORG_APP
            + "webauthn: { rp_name: Flows }\n"
            + extra;
        std::fs::write(dir.join("realms/flows.yaml"), flows).unwrap();
    })
    .await;
    h.realm = "flows".into();
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h
}

/// A master-realm access token of `client_id` (client_credentials, by `openidconnect`).
pub(crate) async fn service_token(h: &Harness, client_id: &str) -> String {
    let http = RpHttp::new();
    let metadata = rp::discover(&http, &format!("{}/realms/master", h.url)).await;
    let client = rp::client(&metadata, client_id, Some(WEB_SECRET), WEB_REDIRECT);
    let response = client
        .exchange_client_credentials()
        .expect("a token endpoint")
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("client_credentials failed: {}", chain(&e)));
    response.access_token().secret().clone()
}

/// `METHOD /admin/realms/{path}` with `token` (if any) and a JSON body (if any).
pub(crate) async fn call(
    h: &Harness,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let url = format!("{}/admin/realms/{path}", h.url);
    let mut request = reqwest::Client::new().request(method.parse().expect("a method"), &url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.expect("admin request");
    let status = response.status();
    let text = response.text().await.expect("a body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

/// Asserts a 400 whose message contains `expected`.
#[track_caller]
pub(crate) fn assert_bad(result: (StatusCode, Value), expected: &str) {
    let (status, body) = result;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(expected), "{message:?} lacks {expected:?}");
}

/// The events of `kind` about `user_id`, in the current realm.
pub(crate) async fn events_of(h: &Harness, kind: &str, user_id: &str) -> Vec<signin::EventRow> {
    signin::events(h, Some(kind))
        .await
        .into_iter()
        .filter(|e| e.user_id.as_deref() == Some(user_id))
        .collect()
}

/// Rows of `table` whose `column` is `value`.
async fn count(h: &Harness, table: &str, column: &str, value: &str) -> i64 {
    let rows = h
        .query(&format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} = '{value}'"))
        .await;
    rows[0].try_get::<i64>("", "n").expect("a count")
}

/// Signs [`USERNAME`] in with `browser` and exchanges the code: (refresh token, access token,
/// session id).
async fn signed_in(h: &Harness, browser: &reqwest::Client) -> (String, String, String) {
    let mut s = SignIn::start(h, browser, WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    let tokens = s.exchange(h).await;
    let refresh = tokens
        .response
        .str("refresh_token")
        .expect("a refresh token")
        .to_string();
    let access = tokens
        .response
        .str("access_token")
        .expect("an access token")
        .to_string();
    let sid = tokens.id["sid"].as_str().expect("a sid").to_string();
    (refresh, access, sid)
}

db_test!(async fn an_update_sets_only_the_fields_given_and_logs_what_changed(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let id = signin::user_id(&h, USERNAME).await;
    let path = format!("flows/users/{id}");
    let (status, _) = call(&h, "PUT", &path, Some(&token), Some(json!({ "lastName": "Liddell" }))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(
        &h,
        "PUT",
        &path,
        Some(&token),
        Some(json!({
            "email": "alice@wonderland.example", "firstName": "Alice", "emailVerified": true,
            // Keycloak's name and Gatehouse's are one action.
            "requiredActions": ["UPDATE_PROFILE", "configure-otp", "webauthn-register", "webauthn-register-passwordless"],
            "attributes": { "department": ["maths"] }
        })),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, user) = call(&h, "GET", &path, Some(&token), None).await;
    assert_eq!(user["email"], "alice@wonderland.example", "{user}");
    // Keycloak's admin clients put a slash after collections: it answers the same.
    let (status, listed) = call(&h, "GET", "flows/users/?username=alice", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    assert_eq!(user["firstName"], "Alice");
    assert_eq!(user["lastName"], "Liddell", "a field not given changed: {user}");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(user["attributes"], json!({ "department": ["maths"] }));
    let mut actions: Vec<String> = serde_json::from_value(user["requiredActions"].clone()).unwrap();
    actions.sort();
    assert_eq!(
        actions,
        ["configure-otp", "update-profile", "webauthn-register", "webauthn-register-passwordless"]
    );

    // What GET returned may be sent back as it is; an empty list clears required actions.
    let mut back = user.clone();
    back["requiredActions"] = json!([]);
    let (status, body) = call(&h, "PUT", &path, Some(&token), Some(back)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(signin::pending_actions(&h, USERNAME).await.is_empty());

    // The log has before and after of the changed fields only, and who did it.
    let updates = events_of(&h, "user_updated", &id).await;
    assert_eq!(updates.len(), 3, "{updates:?}");
    let second = &updates[1].details;
    assert_eq!(second["by"], BY_PIPELINE);
    assert_eq!(second["before"]["email"], EMAIL, "{second}");
    assert_eq!(second["after"]["email"], "alice@wonderland.example");
    assert_eq!(second["after"]["attributes"], json!({ "department": "maths" }));
    assert!(second["after"].get("lastName").is_none(), "an unchanged field logged: {second}");
    assert_eq!(updates[2].details["after"], json!({ "requiredActions": [] }), "{:?}", updates[2]);

    // Refused: bad bodies, unknown or disabled actions, several values, a new username.
    let bad: &[(Value, &str)] = &[
        (json!({ "nickname": "al" }), "unknown field `nickname`"),
        (json!({ "enabled": "yes" }), "invalid type"),
        (json!({ "requiredActions": ["fly"] }), "unknown required action 'fly'"),
        (json!({ "requiredActions": ["terms-and-conditions"] }), "not enabled"),
        (json!({ "attributes": { "tags": ["a", "b"] } }), "one value per attribute"),
        (json!({ "username": "mallory" }), "usernames cannot be changed"),
        (json!({ "email": "not-an-address" }), "not an email address"),
    ];
    for (body, expected) in bad {
        assert_bad(call(&h, "PUT", &path, Some(&token), Some(body.clone())).await, expected);
    }
    let (_, after) = call(&h, "GET", &path, Some(&token), None).await;
    assert_eq!(after["username"], USERNAME);
    assert_eq!(after["attributes"], json!({ "department": ["maths"] }), "a refused update changed: {after}");
    assert_eq!(events_of(&h, "user_updated", &id).await.len(), 3);

    // Unknown user, a user of another realm, no token, no role.
    let (status, _) = call(&h, "PUT", "flows/users/nobody", Some(&token), Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&h, "PUT", &format!("master/users/{id}"), Some(&token), Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&h, "PUT", &path, None, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let bystander = service_token(&h, "bystander").await;
    let (status, _) = call(&h, "PUT", &path, Some(&bystander), Some(json!({ "enabled": false }))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
});

db_test!(async fn disabling_a_user_ends_their_sessions_and_tokens(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let id = signin::user_id(&h, USERNAME).await;
    let browser = h.new_browser();
    let (refresh, access, sid) = signed_in(&h, &browser).await;
    oauth::userinfo(&h, &access).await.assert_ok();
    // The session signs the browser in again without a password, and is listed.
    SignIn::start(&h, &browser, WEB_CLIENT).await.expect(Shown::Away);
    let (status, sessions) = call(&h, "GET", &format!("flows/users/{id}/sessions"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{sessions}");
    assert_eq!(sessions.as_array().map(Vec::len), Some(1), "{sessions}");
    assert_eq!(sessions[0]["id"], sid.as_str());
    assert_eq!(sessions[0]["userId"], id.as_str());
    assert!(sessions[0]["clients"].get(WEB_CLIENT).is_some(), "{sessions}");
    assert!(sessions[0]["start"].as_i64().is_some_and(|ms| ms > 1_000_000_000_000), "{sessions}");

    let (status, _) = call(&h, "PUT", &format!("flows/users/{id}"), Some(&token), Some(json!({ "enabled": false }))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    oauth::refresh(&h, oauth::web(), &refresh).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    oauth::assert_userinfo_rejects(&h, &access, "a disabled user's access token").await;
    SignIn::start(&h, &browser, WEB_CLIENT).await.expect(Shown::Login);
    let (_, sessions) = call(&h, "GET", &format!("flows/users/{id}/sessions"), Some(&token), None).await;
    assert_eq!(sessions, json!([]));
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    assert_eq!(s.shown(), Shown::Login, "a disabled user signed in");
    let updates = events_of(&h, "user_updated", &id).await;
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0].details["after"], json!({ "enabled": false }));

    // Enabled again, the user signs in again.
    let (status, _) = call(&h, "PUT", &format!("flows/users/{id}"), Some(&token), Some(json!({ "enabled": true }))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await;
});

db_test!(async fn deleting_a_user_removes_everything_of_theirs_but_the_events(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let id = signin::user_id(&h, USERNAME).await;
    let enrolment = signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    assert!(!enrolment.recovery_codes.is_empty());
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.fill(&[("otp", &signin::totp_next(&h, &enrolment.secret))]).await;
    let tokens = s.exchange(&h).await;
    let refresh = tokens.response.str("refresh_token").unwrap().to_string();
    h.state.store.grant_role(&id, "auditor").await.unwrap();
    h.state.store.set_attribute(&id, "department", "maths").await.unwrap();
    signin::require(&h, USERNAME, "update-profile").await;
    let tables = [
        ("users", "id"),
        ("credentials", "user_id"),
        ("user_required_actions", "user_id"),
        ("user_roles", "user_id"),
        ("user_attributes", "user_id"),
        ("sso_sessions", "user_id"),
        ("grants", "user_id"),
        ("auth_codes", "user_id"),
    ];
    for (table, column) in tables {
        assert!(count(&h, table, column, &id).await > 0, "nothing in {table} before the delete");
    }
    let events_before = count(&h, "events", "user_id", &id).await;

    let (status, body) = call(&h, "DELETE", &format!("flows/users/{id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for (table, column) in tables {
        assert_eq!(count(&h, table, column, &id).await, 0, "{table} still holds the user's rows");
    }
    let orphans = h
        .query("SELECT COUNT(*) AS n FROM refresh_tokens WHERE grant_id NOT IN (SELECT id FROM grants)")
        .await;
    assert_eq!(orphans[0].try_get::<i64>("", "n").unwrap(), 0, "refresh tokens outlived their grant");
    oauth::refresh(&h, oauth::web(), &refresh).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(count(&h, "events", "user_id", &id).await > events_before, "the audit trail was deleted");
    let deleted = events_of(&h, "user_deleted", &id).await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].details["username"], USERNAME);
    assert_eq!(deleted[0].details["by"], BY_PIPELINE);

    let (status, _) = call(&h, "GET", &format!("flows/users/{id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&h, "DELETE", &format!("flows/users/{id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The username is free again, with no lockout or credentials inherited.
    h.add_user(USERNAME, EMAIL, NEW_PASSWORD).await;
    signin::password_sign_in(&h, WEB_CLIENT, USERNAME, NEW_PASSWORD).await;
    // Another realm's user is not found through this realm.
    let root = gatehouse::admin::master::bootstrap(&h.state, "root", "Root-Password-0123", None).await.unwrap();
    let (status, _) = call(&h, "DELETE", &format!("flows/users/{root}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let bystander = service_token(&h, "bystander").await;
    let (status, _) = call(&h, "DELETE", &format!("master/users/{root}"), Some(&bystander), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
});

db_test!(async fn a_temporary_password_is_changed_at_the_next_sign_in(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let id = signin::user_id(&h, USERNAME).await;
    let path = format!("flows/users/{id}/reset-password");
    let body = |value: &str, temporary: bool| Some(json!({ "type": "password", "value": value, "temporary": temporary }));

    // The realm's policy and history apply, with English messages.
    assert_bad(call(&h, "PUT", &path, Some(&token), body("Short-1", true)).await, "at least 12 characters");
    assert_bad(call(&h, "PUT", &path, Some(&token), body("no-upper-case-1", true)).await, "uppercase");
    assert_bad(call(&h, "PUT", &path, Some(&token), body(PASSWORD, true)).await, "last 2 passwords");
    let otp = Some(json!({ "type": "otp", "value": NEW_PASSWORD }));
    assert_bad(call(&h, "PUT", &path, Some(&token), otp).await, "'password'");
    let extra = Some(json!({ "type": "password", "value": NEW_PASSWORD, "expires": 1 }));
    assert_bad(call(&h, "PUT", &path, Some(&token), extra).await, "unknown field `expires`");
    signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await;

    let (status, answer) = call(&h, "PUT", &path, Some(&token), body(NEW_PASSWORD, true)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    assert_eq!(s.shown(), Shown::Login, "the old password still works");
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, NEW_PASSWORD).await;
    s.expect(Shown::UpdatePassword);

    // A permanent reset takes the pending update-password away again, as in Keycloak.
    let (status, _) = call(&h, "PUT", &path, Some(&token), body("Another-Secret-43", false)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(signin::pending_actions(&h, USERNAME).await.is_empty());
    signin::password_sign_in(&h, WEB_CLIENT, USERNAME, "Another-Secret-43").await;

    let resets = events_of(&h, "password_reset", &id).await;
    assert_eq!(resets.len(), 2, "{resets:?}");
    assert_eq!(resets[0].details["temporary"], true);
    assert_eq!(resets[0].details["by"], BY_PIPELINE);
    assert_eq!(resets[1].details["temporary"], false);
    let log = signin::events(&h, None).await;
    assert!(!format!("{log:?}").contains("Brand-New-Secret"), "a password in the log");

    // A realm without update-password refuses a temporary password; unknown users are 404.
    let root = gatehouse::admin::master::bootstrap(&h.state, "root", "Root-Password-0123", None).await.unwrap();
    let master = format!("master/users/{root}/reset-password");
    assert_bad(call(&h, "PUT", &master, Some(&token), body(NEW_PASSWORD, true)).await, "update-password");
    let (status, _) = call(&h, "PUT", "flows/users/nobody/reset-password", Some(&token), body(NEW_PASSWORD, false)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

db_test!(async fn a_lost_otp_device_removed_by_an_admin_leaves_password_sign_in(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let id = signin::user_id(&h, USERNAME).await;
    let enrolment = signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    let path = format!("flows/users/{id}/credentials");
    let (status, list) = call(&h, "GET", &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let kinds: Vec<&str> = list.as_array().unwrap().iter().filter_map(|c| c["type"].as_str()).collect();
    assert_eq!(kinds, ["password", "otp", "recovery-code"], "{list}");
    let (password, otp, codes) = (&list[0], &list[1], &list[2]);
    assert!(password["lastUsedDate"].as_i64().is_some(), "the sign-in is not the password's last use: {list}");
    assert!(otp["createdDate"].as_i64().is_some_and(|ms| ms > 1_000_000_000_000), "{list}");
    assert!(otp["lastUsedDate"].as_i64().is_some(), "{list}");
    assert_eq!(codes["remaining"], 10, "{list}");
    // No secret, hashed or sealed, is shown.
    for row in h.query(&format!("SELECT secret FROM credentials WHERE user_id = '{id}'")).await {
        let secret: String = row.try_get("", "secret").unwrap();
        assert!(!list.to_string().contains(&secret), "a stored secret is listed");
    }

    // With the device, sign-in asks for a code; the device removed, the password is enough.
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Otp);
    let otp_id = otp["id"].as_str().unwrap();
    let (status, _) = call(&h, "DELETE", &format!("{path}/{otp_id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = call(&h, "GET", &path, Some(&token), None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "the recovery codes outlived the last device: {list}");
    signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await;
    let removed = events_of(&h, "credential_removed", &id).await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].details["type"], "otp");
    assert_eq!(removed[0].details["id"], otp_id);
    assert_eq!(removed[0].details["by"], BY_PIPELINE);
    assert!(!removed[0].details.to_string().contains(&enrolment.recovery_codes[0]));

    // Unknown credentials, or another user's, are not found.
    let (status, _) = call(&h, "DELETE", &format!("{path}/{otp_id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let bob = h.add_user("bob", "bob@example.com", PASSWORD).await;
    let alice_password = list[0]["id"].as_str().unwrap();
    let (status, _) = call(&h, "DELETE", &format!("flows/users/{bob}/credentials/{alice_password}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&h, "GET", "flows/users/nobody/credentials", Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&h, "GET", &path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
});

db_test!(async fn sessions_are_ended_one_by_one_or_all_at_once(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let id = signin::user_id(&h, USERNAME).await;
    let (refresh_a, _, sid_a) = signed_in(&h, &h.new_browser()).await;
    let (refresh_b, access_b, sid_b) = signed_in(&h, &h.new_browser()).await;
    let (_, sessions) = call(&h, "GET", &format!("flows/users/{id}/sessions"), Some(&token), None).await;
    assert_eq!(sessions.as_array().map(Vec::len), Some(2), "{sessions}");

    let (status, _) = call(&h, "DELETE", &format!("flows/sessions/{sid_a}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    oauth::refresh(&h, oauth::web(), &refresh_a).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let refreshed = oauth::refresh(&h, oauth::web(), &refresh_b).await;
    refreshed.assert_ok();
    let (_, sessions) = call(&h, "GET", &format!("flows/users/{id}/sessions"), Some(&token), None).await;
    assert_eq!(sessions.as_array().map(|a| a.len()), Some(1), "{sessions}");
    assert_eq!(sessions[0]["id"], sid_b.as_str());
    let (status, _) = call(&h, "DELETE", &format!("flows/sessions/{sid_a}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an ended session was ended again");
    let (status, _) = call(&h, "DELETE", &format!("master/sessions/{sid_b}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a session was found through another realm");

    let (status, _) = call(&h, "POST", &format!("flows/users/{id}/logout"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let next = refreshed.str("refresh_token").unwrap();
    oauth::refresh(&h, oauth::web(), next).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    oauth::assert_userinfo_rejects(&h, &access_b, "after logout").await;
    let (_, sessions) = call(&h, "GET", &format!("flows/users/{id}/sessions"), Some(&token), None).await;
    assert_eq!(sessions, json!([]));

    let one = events_of(&h, "session_revoked", &id).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].details["sessionId"], sid_a.as_str());
    let all = events_of(&h, "sessions_revoked", &id).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].details["sessions"], 1);
    assert_eq!(all[0].details["by"], BY_PIPELINE);
    let (status, _) = call(&h, "POST", "flows/users/nobody/logout", Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let bystander = service_token(&h, "bystander").await;
    let (status, _) = call(&h, "DELETE", &format!("flows/sessions/{sid_b}"), Some(&bystander), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
});

db_test!(async fn realm_roles_are_mapped_as_in_keycloak(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let id = signin::user_id(&h, USERNAME).await;
    let path = format!("flows/users/{id}/role-mappings/realm");
    let (status, body) = call(&h, "POST", &path, Some(&token), Some(json!([{ "name": "auditor" }, { "name": "clerk" }]))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, roles) = call(&h, "GET", &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = roles.as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["auditor", "clerk"], "{roles}");
    // What GET returned may be sent back (Keycloak's fields are accepted).
    // Keycloak's whole mappings: realm roles, no client roles.
    let (status, all) = call(&h, "GET", &format!("flows/users/{id}/role-mappings"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["realmMappings"], roles, "{all}");
    assert_eq!(all["clientMappings"], json!({}), "{all}");
    let (status, body) = call(&h, "DELETE", &path, Some(&token), Some(json!([roles[1].clone()]))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let tokens = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await.exchange(&h).await;
    assert_eq!(tokens.access["roles"], json!(["auditor"]), "{}", tokens.access);
    // Keycloak's shape too, for its adapters (keycloak-js `hasRealmRole`).
    assert_eq!(tokens.access["realm_access"], json!({ "roles": ["auditor"] }), "{}", tokens.access);

    // All or nothing: one unknown role refuses the whole request.
    let mixed = Some(json!([{ "name": "clerk" }, { "name": "wizard" }]));
    assert_bad(call(&h, "POST", &path, Some(&token), mixed).await, "no role 'wizard'");
    assert_bad(call(&h, "POST", &path, Some(&token), Some(json!({ "name": "clerk" }))).await, "invalid type");
    assert_bad(call(&h, "POST", &path, Some(&token), Some(json!([{ "name": "clerk", "power": 9 }]))).await, "unknown field `power`");
    assert_eq!(h.state.store.roles(&id).await.unwrap(), ["auditor"]);

    let granted = events_of(&h, "role_granted", &id).await;
    let revoked = events_of(&h, "role_revoked", &id).await;
    assert_eq!(granted.iter().map(|e| e.details["role"].clone()).collect::<Vec<_>>(), [json!("auditor"), json!("clerk")]);
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].details["role"], "clerk");
    assert_eq!(revoked[0].details["by"], BY_PIPELINE);

    // In the master realm only `admin` maps roles: `master-admin` may not make itself admin.
    let root = gatehouse::admin::master::bootstrap(&h.state, "root", "Root-Password-0123", None).await.unwrap();
    let scoped = service_token(&h, "scoped").await;
    let master = format!("master/users/{root}/role-mappings/realm");
    let (status, _) = call(&h, "POST", &master, Some(&scoped), Some(json!([{ "name": "master-admin" }]))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&h, "POST", &master, Some(&token), Some(json!([{ "name": "master-admin" }]))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h.state.store.roles(&root).await.unwrap(), ["admin", "master-admin"]);
    let (status, _) = call(&h, "GET", "flows/users/nobody/role-mappings/realm", Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
});

db_test!(async fn the_openapi_document_has_every_user_endpoint(db) {
    let h = start(db).await;
    let doc: Value = reqwest::get(format!("{}/admin/openapi.json", h.url)).await.unwrap().json().await.unwrap();
    let paths = &doc["paths"];
    for (path, method) in [
        ("/admin/realms/{realm}/users/{id}", "put"),
        ("/admin/realms/{realm}/users/{id}", "delete"),
        ("/admin/realms/{realm}/users/{id}/reset-password", "put"),
        ("/admin/realms/{realm}/users/{id}/credentials", "get"),
        ("/admin/realms/{realm}/users/{id}/credentials/{credential_id}", "delete"),
        ("/admin/realms/{realm}/users/{id}/sessions", "get"),
        ("/admin/realms/{realm}/sessions/{session}", "delete"),
        ("/admin/realms/{realm}/users/{id}/logout", "post"),
        ("/admin/realms/{realm}/users/{id}/role-mappings/realm", "get"),
        ("/admin/realms/{realm}/users/{id}/role-mappings/realm", "post"),
        ("/admin/realms/{realm}/users/{id}/role-mappings/realm", "delete"),
        ("/admin/realms/{realm}/users/{id}/role-mappings", "get"),
        ("/admin/realms/{realm}/users/count", "get"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        for status in ["401", "403", "404"] {
            assert!(op["responses"][status].is_object(), "{method} {path} lacks {status}");
        }
    }
    for schema in ["UserUpdateRepresentation", "CredentialRepresentation", "UserSessionRepresentation", "RoleMapping"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "no schema {schema}");
    }
});

/// Runs the real `gatehouse` binary on the harness's database, realm files and master key;
/// returns (success, stdout + stderr).
pub(crate) fn gatehouse_cli(h: &Harness, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let s = &h.settings;
    // Settings first, so that `--` may end the options of `args`.
    let mut cmd = process::gatehouse(&[]);
    cmd.args(["--database-url", &s.database_url])
        .args(["--realms-dir", process::arg(&s.realms_dir)])
        .args(["--flows-dir", process::arg(&s.flows_dir)])
        .args(["--master-key-file", process::arg(&s.master_key_file)])
        .env(
            "GATEHOUSE_MASTER_KEY",
            s.master_key.clone().expect("the harness sets a master key"),
        )
        .args(args);
    let out = process::run(cmd, stdin);
    (out.status.success(), process::text(&out))
}

db_test!(async fn the_cli_creates_users_under_the_realm_password_policy(db) {
    let h = start(db).await;
    // Too short, and without a special character: refused with the policy's words; nothing
    // is stored and nothing is logged.
    for weak in ["Short-1", "LongEnoughButNoSpecial9"] {
        let (ok, out) = gatehouse_cli(&h, &["user", "add", "flows", "carol", "--email", "carol@example.com", "--password-stdin"], Some(&format!("{weak}\n")));
        assert!(!ok, "a weak password was accepted: {out}");
        assert!(out.contains("the password is refused"), "{out}");
        assert!(!out.contains("panicked") && !out.contains("Error {"), "not a readable message: {out}");
    }
    let (_, short) = gatehouse_cli(&h, &["user", "add", "flows", "carol", "--password-stdin"], Some("Short-1\n"));
    assert!(short.contains("at least 12 characters"), "{short}");
    assert_eq!(count(&h, "users", "username", "carol").await, 0);
    assert!(signin::events(&h, Some("user_created")).await.iter().all(|e| e.details["username"] != "carol"));

    // A password the policy accepts: the user is created, can sign in, and the event says
    // the command line did it, as an API-created user's says who did.
    let (ok, out) = gatehouse_cli(&h, &["user", "add", "flows", "carol", "--email", "carol@example.com", "--password-stdin"], Some(&format!("{NEW_PASSWORD}\n")));
    assert!(ok && out.contains("created user carol"), "{out}");
    let carol = signin::user_id(&h, "carol").await;
    signin::password_sign_in(&h, WEB_CLIENT, "carol", NEW_PASSWORD).await;
    let created = events_of(&h, "user_created", &carol).await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0].details["by"], "cli");
    assert_eq!(created[0].details["after"]["password"], "set");
    assert_eq!(created[0].details["after"]["email"], "carol@example.com");
});

db_test!(async fn the_cli_administers_users_through_the_same_functions(db) {
    let h = start(db).await;
    let id = signin::user_id(&h, USERNAME).await;
    let (ok, help) = gatehouse_cli(&h, &["user", "--help"], None);
    assert!(ok, "{help}");
    for word in ["disable", "enable", "delete", "reset-password", "credentials", "delete-credential", "sessions", "logout", "grant-role", "revoke-role", "unrequire", "show", "update", "revoke-session"] {
        assert!(help.contains(word), "`user --help` lacks {word}:\n{help}");
    }

    // reset-password --temporary: the next sign-in asks for a new password.
    let (ok, out) = gatehouse_cli(&h, &["user", "reset-password", "flows", USERNAME, "--temporary"], Some("Short-1\n"));
    assert!(!ok && out.contains("at least 12 characters"), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "reset-password", "flows", USERNAME, "--temporary"], Some(&format!("{NEW_PASSWORD}\n")));
    assert!(ok, "{out}");
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, NEW_PASSWORD).await;
    s.expect(Shown::UpdatePassword);
    let (ok, out) = gatehouse_cli(&h, &["user", "unrequire", "flows", USERNAME, "update-password"], None);
    assert!(ok, "{out}");
    assert!(signin::pending_actions(&h, USERNAME).await.is_empty());

    // grant-role: the role is held and goes into tokens; an unknown role is refused.
    let (ok, out) = gatehouse_cli(&h, &["user", "grant-role", "flows", USERNAME, "auditor"], None);
    assert!(ok, "{out}");
    assert_eq!(h.state.store.roles(&id).await.unwrap(), ["auditor"]);
    let (ok, out) = gatehouse_cli(&h, &["user", "grant-role", "flows", USERNAME, "wizard"], None);
    assert!(!ok && out.contains("wizard"), "{out}");
    let tokens = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, NEW_PASSWORD).await.exchange(&h).await;
    assert_eq!(tokens.access["roles"], json!(["auditor"]));

    // credentials and sessions are listed, by username or id (after `--`: an id may start with `-`).
    let (ok, out) = gatehouse_cli(&h, &["user", "credentials", "flows", "--", &id], None);
    assert!(ok && out.contains("password"), "{out}");
    let sid = tokens.id["sid"].as_str().unwrap();
    let (ok, out) = gatehouse_cli(&h, &["user", "sessions", "flows", USERNAME], None);
    assert!(ok && out.contains(sid), "{out}");

    // list: the API's search, with its filters and paging; no flags lists every user.
    let (ok, out) = gatehouse_cli(&h, &["user", "add", "flows", "zed", "--email", "zed@example.com"], None);
    assert!(ok, "{out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "list", "flows"], None);
    assert!(ok && out.starts_with("USERNAME") && out.contains(USERNAME) && out.contains("zed@example.com"), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "list", "flows", "--search", "ZE"], None);
    assert!(ok && out.contains("zed") && !out.contains(USERNAME), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "list", "flows", "--max", "1"], None);
    assert!(ok && out.contains(USERNAME) && !out.contains("zed") && out.contains("--first 1"), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "list", "flows", "--first", "1", "--max", "1"], None);
    assert!(ok && out.contains("zed") && !out.contains(USERNAME), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "list", "flows", "--email", "zed@example", "--exact"], None);
    assert!(ok && !out.contains("zed"), "--exact matched a prefix: {out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "list", "flows", "--username", "zed", "--exact"], None);
    assert!(ok && out.contains("zed@example.com"), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "list", "flows", "--max", "0"], None);
    assert!(!ok, "{out}");

    // show: the user as the API returns it.
    let token = service_token(&h, "pipeline").await;
    let (ok, out) = gatehouse_cli(&h, &["user", "show", "flows", USERNAME], None);
    assert!(ok, "{out}");
    // Standard output (first in `out`) is the JSON; the log lines follow on standard error.
    let shown: Value = serde_json::Deserializer::from_str(&out)
        .into_iter()
        .next()
        .expect("a JSON value")
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    let (status, api) = call(&h, "GET", &format!("flows/users/{id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown, api);
    assert_eq!(shown["username"], USERNAME);

    // update: only what is given changes; --attribute sets one attribute, keeping the others.
    let (ok, out) = gatehouse_cli(&h, &["user", "update", "flows", USERNAME, "--email", "alice@new.example", "--first-name", "Alice", "--attribute", "dept=eng", "--attribute", "team=blue"], None);
    assert!(ok, "{out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "update", "flows", USERNAME, "--last-name", "Liddell", "--attribute", "team=", "--attribute", "floor=3"], None);
    assert!(ok, "{out}");
    let (_, api) = call(&h, "GET", &format!("flows/users/{id}"), Some(&token), None).await;
    assert_eq!(api["email"], "alice@new.example");
    assert_eq!(api["firstName"], "Alice");
    assert_eq!(api["lastName"], "Liddell");
    assert_eq!(api["attributes"], json!({ "dept": ["eng"], "floor": ["3"] }));
    let (ok, out) = gatehouse_cli(&h, &["user", "update", "flows", USERNAME, "--email", "not-an-address"], None);
    assert!(!ok && out.contains("not an email address"), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "update", "flows", USERNAME, "--attribute", "novalue"], None);
    assert!(!ok && out.contains("NAME=VALUE"), "{out}");
    let updated = events_of(&h, "user_updated", &id).await;
    assert_eq!(updated.len(), 2, "{updated:?}");
    assert!(updated.iter().all(|e| e.details["by"] == "cli"), "{updated:?}");

    // revoke-session: that session ends (and cannot be ended twice).
    let (ok, out) = gatehouse_cli(&h, &["user", "revoke-session", "flows", sid], None);
    assert!(ok, "{out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "sessions", "flows", USERNAME], None);
    assert!(ok && !out.contains(sid), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "revoke-session", "flows", sid], None);
    assert!(!ok && out.contains(sid), "an ended session was found again: {out}");
    let revoked = events_of(&h, "session_revoked", &id).await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0].details["sessionId"], sid);
    assert_eq!(revoked[0].details["by"], "cli");

    // logout: every session of the user ends.
    let again = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, NEW_PASSWORD).await.exchange(&h).await;
    let sid2 = again.id["sid"].as_str().expect("a sid").to_string();
    let (ok, out) = gatehouse_cli(&h, &["user", "sessions", "flows", USERNAME], None);
    assert!(ok && out.contains(&sid2), "{out}");
    let (ok, out) = gatehouse_cli(&h, &["user", "logout", "flows", USERNAME], None);
    assert!(ok && out.contains("1 session(s) ended"), "{out}");
    let (_, sessions) = call(&h, "GET", &format!("flows/users/{id}/sessions"), Some(&token), None).await;
    assert_eq!(sessions, json!([]));

    // disable, then enable: the API shows the change; a disabled user cannot sign in.
    let (ok, out) = gatehouse_cli(&h, &["user", "disable", "flows", USERNAME], None);
    assert!(ok, "{out}");
    let (_, api) = call(&h, "GET", &format!("flows/users/{id}"), Some(&token), None).await;
    assert_eq!(api["enabled"], false);
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, NEW_PASSWORD).await;
    assert_eq!(s.shown(), Shown::Login, "a disabled user signed in");
    let (ok, out) = gatehouse_cli(&h, &["user", "enable", "flows", USERNAME], None);
    assert!(ok, "{out}");
    let (_, api) = call(&h, "GET", &format!("flows/users/{id}"), Some(&token), None).await;
    assert_eq!(api["enabled"], true);
    signin::password_sign_in(&h, WEB_CLIENT, USERNAME, NEW_PASSWORD).await;
    let updated = events_of(&h, "user_updated", &id).await;
    assert_eq!(updated.len(), 4, "{updated:?}");
    assert!(updated.iter().all(|e| e.details["by"] == "cli"), "{updated:?}");
    assert!(updated.iter().any(|e| e.details["after"]["enabled"] == false), "{updated:?}");

    // revoke-role: the role is no longer held.
    let (ok, out) = gatehouse_cli(&h, &["user", "revoke-role", "flows", USERNAME, "auditor"], None);
    assert!(ok && out.contains("no longer has role"), "{out}");
    assert!(h.state.store.roles(&id).await.unwrap().is_empty());

    // delete-credential: the password goes.
    let (_, creds) = call(&h, "GET", &format!("flows/users/{id}/credentials"), Some(&token), None).await;
    let password_id = creds[0]["id"].as_str().expect("a password credential").to_string();
    let (ok, out) = gatehouse_cli(&h, &["user", "delete-credential", "flows", USERNAME, &password_id], None);
    assert!(ok, "{out}");
    let (_, creds) = call(&h, "GET", &format!("flows/users/{id}/credentials"), Some(&token), None).await;
    assert_eq!(creds, json!([]));
    assert_eq!(count(&h, "credentials", "id", &password_id).await, 0);
    let (ok, out) = gatehouse_cli(&h, &["user", "delete-credential", "flows", USERNAME, &password_id], None);
    assert!(!ok && out.contains(&password_id), "{out}");

    // delete: everything of the user goes; the events say the command line did it.
    let (ok, out) = gatehouse_cli(&h, &["user", "delete", "flows", USERNAME], None);
    assert!(ok, "{out}");
    assert_eq!(count(&h, "users", "id", &id).await, 0);
    assert_eq!(count(&h, "credentials", "user_id", &id).await, 0);
    assert_eq!(count(&h, "sso_sessions", "user_id", &id).await, 0);
    let (ok, out) = gatehouse_cli(&h, &["user", "delete", "flows", USERNAME], None);
    assert!(!ok && out.contains(USERNAME), "{out}");
    for kind in ["password_reset", "required_action_removed", "role_granted", "role_revoked", "sessions_revoked", "credential_removed", "user_deleted"] {
        let found = events_of(&h, kind, &id).await;
        assert_eq!(found.len(), 1, "{kind}: {found:?}");
        assert_eq!(found[0].details["by"], "cli", "{kind}: {found:?}");
    }
    assert_eq!(events_of(&h, "password_reset", &id).await[0].details["temporary"], true);
});

db_test!(async fn usernames_are_one_per_spelling_and_emails_one_per_user(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let create = |body: Value| {
        let (h, token) = (&h, &token);
        async move { call(h, "POST", "flows/users", Some(token), Some(body)).await }
    };
    // Other spellings of an existing name are the same name.
    for taken in ["ALICE", "Alice", "ａｌｉｃｅ"] {
        let (status, body) = create(json!({ "username": taken })).await;
        assert_eq!(status, StatusCode::CONFLICT, "{taken}: {body}");
    }
    // Look-alike scripts, invisible and direction characters are refused with a reason.
    for (name, why) in [
        ("\u{0430}lice", "mix"),
        ("alice\u{200B}", "invisible"),
        ("\u{202E}ecila", "invisible"),
        ("bob\u{2066}", "invisible"),
    ] {
        assert_bad(create(json!({ "username": name })).await, why);
    }
    // An email address names one account (in any case), unless the realm allows duplicates.
    let (status, body) = create(json!({ "username": "alice2", "email": EMAIL.to_uppercase() })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = create(json!({ "username": "bob", "email": "bob@example.com" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let bob = h.state.store.find_user_by_username("flows", "bob").await.unwrap().unwrap();
    let (status, body) = call(&h, "PUT", &format!("flows/users/{}", bob.id), Some(&token), Some(json!({ "email": EMAIL }))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Signing in with another spelling is the same user, with one lockout count.
    let alice = signin::user_id(&h, USERNAME).await;
    let s = signin::password_sign_in(&h, WEB_CLIENT, "ALICE", PASSWORD).await;
    assert_eq!(s.exchange(&h).await.id["sub"], alice.as_str());
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    for spelling in ["ALICE", "Alice", "ａｌｉｃｅ"] {
        s.log_in(spelling, "Wrong-Password-1!").await;
        s.expect_error(Shown::Login);
    }
    s.log_in(USERNAME, PASSWORD).await;
    let message = s.expect_error(Shown::Login);
    assert!(message.to_lowercase().contains("too many"), "three spellings did not share a count: {message}");
});

db_test!(async fn a_realm_may_allow_duplicate_emails(db) {
    let realm = signin::standard_flow_realm().replace("realm: flows\n", "realm: flows\nusers: { duplicate_emails: true }\n");
    let h = Harness::start(db, &realm).await;
    let first = h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let second = h.add_user("alice-work", EMAIL, PASSWORD).await;
    assert_ne!(first, second);
    for id in [first, second] {
        let user = h.state.store.find_user(&id).await.unwrap().expect("the user");
        assert_eq!(user.email.as_deref(), Some(EMAIL));
    }
});

db_test!(async fn users_are_counted_and_searched_as_keycloaks_clients_ask(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    h.add_user("bob", "bob@example.com", PASSWORD).await;
    let (status, n) = call(&h, "GET", "flows/users/count", Some(&token), None).await;
    assert_eq!((status, n), (StatusCode::OK, json!(2)));
    let (_, n) = call(&h, "GET", "flows/users/count?search=ali", Some(&token), None).await;
    assert_eq!(n, json!(1));
    // As python-keycloak and the admin client send them: `True`, and parameters Gatehouse has
    // no use for, which are ignored.
    let (status, users) = call(&h, "GET", "flows/users?username=ALICE&exact=True&briefRepresentation=true", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{users}");
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
    assert_eq!(users[0]["username"], USERNAME);
    assert_bad(call(&h, "GET", "flows/users?exact=maybe", Some(&token), None).await, "bad boolean 'maybe'");
    // A filter Keycloak applies and Gatehouse cannot is refused, never ignored: a script would
    // otherwise act on every user.
    assert_bad(call(&h, "GET", "flows/users?q=department:maths", Some(&token), None).await, "cannot filter users by 'q'");
    assert_bad(call(&h, "GET", "flows/users/count?enabled=true", Some(&token), None).await, "cannot filter users by 'enabled'");
    let (status, _) = call(&h, "GET", "flows/roles?briefRepresentation=false", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&h, "GET", "nowhere/users/count", Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The realm as Keycloak's RealmRepresentation, and the realms the caller administers.
    let (status, realm) = call(&h, "GET", "flows", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{realm}");
    assert_eq!((realm["realm"].as_str(), realm["accessTokenLifespan"].as_i64()), (Some("flows"), Some(300)), "{realm}");
    assert_eq!(realm["failureFactor"], 3, "{realm}");
    let (status, realms) = call(&h, "GET", "", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{realms}");
    let names: Vec<&str> = realms.as_array().expect("a list").iter().filter_map(|r| r["realm"].as_str()).collect();
    assert_eq!(names, ["flows", "master"], "{realms}");
    let (status, _) = call(&h, "GET", "", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
});

db_test!(async fn client_roles_are_mapped_as_in_keycloak_and_reach_resource_access(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let id = signin::user_id(&h, USERNAME).await;
    // The client's roles, as the realm file lists them.
    let (status, roles) = call(&h, "GET", "flows/clients/idf/roles", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{roles}");
    let names: Vec<&str> = roles.as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["viewer", "editor"], "{roles}");
    let (status, editor) = call(&h, "GET", "flows/clients/idf/roles/editor", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{editor}");
    assert_eq!(editor["clientRole"], true, "{editor}");
    let (status, _) = call(&h, "GET", "flows/clients/idf/roles/wizard", Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Granted as Keycloak's admin clients send it: what `…/roles/{name}` returned.
    let path = format!("flows/users/{id}/role-mappings/clients/idf");
    let (status, body) = call(&h, "POST", &path, Some(&token), Some(json!([editor]))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, held) = call(&h, "GET", &path, Some(&token), None).await;
    assert_eq!(held.as_array().map(Vec::len), Some(1), "{held}");
    assert_eq!(held[0]["name"], "editor", "{held}");
    let (_, all) = call(&h, "GET", &format!("flows/users/{id}/role-mappings"), Some(&token), None).await;
    assert_eq!(all["clientMappings"]["idf"]["client"], "idf", "{all}");
    assert_eq!(all["clientMappings"]["idf"]["mappings"][0]["name"], "editor", "{all}");

    // Tokens of any client carry it in Keycloak's resource_access, beside the account roles.
    let tokens = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await.exchange(&h).await;
    let access = &tokens.access["resource_access"];
    assert_eq!(access["idf"], json!({ "roles": ["editor"] }), "{}", tokens.access);
    assert_eq!(access["account"]["roles"], json!(["manage-account", "view-profile"]), "{}", tokens.access);

    // Unknown roles and clients are refused, all or nothing; a client without roles has none.
    let mixed = Some(json!([{ "name": "viewer" }, { "name": "wizard" }]));
    assert_bad(call(&h, "POST", &path, Some(&token), mixed).await, "no role 'wizard'");
    let web = format!("flows/users/{id}/role-mappings/clients/web");
    assert_bad(call(&h, "POST", &web, Some(&token), Some(json!([{ "name": "editor" }]))).await, "no role 'editor'");
    let (status, _) = call(&h, "GET", &format!("flows/users/{id}/role-mappings/clients/nope"), Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = call(&h, "DELETE", &path, Some(&token), Some(json!([{ "name": "editor" }]))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // A role the client does not list (any more) may be taken away: nothing held, nothing done.
    let (status, body) = call(&h, "DELETE", &path, Some(&token), Some(json!([{ "name": "wizard" }]))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, held) = call(&h, "GET", &path, Some(&token), None).await;
    assert_eq!(held, json!([]));
    let granted = events_of(&h, "role_granted", &id).await;
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0].details["client"], "idf", "{:?}", granted[0].details);
    assert_eq!(events_of(&h, "role_revoked", &id).await.len(), 1);
    let tokens = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await.exchange(&h).await;
    assert!(tokens.access["resource_access"].get("idf").is_none(), "{}", tokens.access);
});
