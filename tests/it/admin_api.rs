//! The admin API end to end: an administrator bootstrapped into the master realm by
//! `gatehouse admin bootstrap` signs in and gets a token with the `openidconnect` crate (as
//! does a service-account client), creates a user in another realm, requires `configure-otp`
//! of them, and that user's next sign-in, run by the flow engine, asks for it. Missing,
//! garbage, expired, wrong-realm and non-admin tokens get 401/403; bad JSON and unknown fields
//! get 400 with a message, never 500; unknown paths, wrong methods and huge bodies get the
//! same JSON errors.

use crate::support;
use crate::support::rp::{self, RpHttp, chain};
use crate::support::signin::{self, Shown, SignIn};
use crate::support::*;
use crate::support::{browser, process};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge, TokenResponse};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The master realm of these tests: the `admin` role and a realm-scoped one, a confidential
/// web client for people and a service-account client for machines.
const MASTER: &str = r#"realm: master
display_name: Administration
roles: [admin, flows-admin, master-admin]
tokens: { access_ttl: 5m, signing_alg: ES256 }
clients:
  - client_id: web
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    redirect_uris: [http://127.0.0.1:9000/callback]
    grant_types: [authorization_code, refresh_token]
    admin_api: true
  - client_id: other
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    redirect_uris: [http://127.0.0.1:9000/callback]
    grant_types: [authorization_code, refresh_token]
  - client_id: pipeline
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    grant_types: [client_credentials]
    service_account_roles: [admin]
  - client_id: bystander
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    grant_types: [client_credentials]
"#;

const ROOT: &str = "root";
const ROOT_PASSWORD: &str = "Root-Password-0123";

/// A harness whose own realm is `master`, with the flow tests' realm (`flows`) beside it.
async fn start(db: Db) -> Harness {
    Harness::start_with(db, MASTER, |dir, _| {
        std::fs::write(dir.join("realms/flows.yaml"), signin::standard_flow_realm()).unwrap();
    })
    .await
}

/// An access token of the master realm for `client_id` by client_credentials, obtained by
/// the `openidconnect` crate.
async fn service_token(h: &Harness, client_id: &str) -> String {
    let http = RpHttp::new();
    let metadata = rp::discover(&http, &h.issuer()).await;
    let client = rp::client(&metadata, client_id, Some(WEB_SECRET), WEB_REDIRECT);
    let response = client
        .exchange_client_credentials()
        .expect("a token endpoint")
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("client_credentials failed: {}", chain(&e)));
    response.access_token().secret().clone()
}

/// A master-realm user's access token, by signing in through the flow engine (with the
/// `web` client, which the admin API accepts).
async fn user_token(h: &Harness, username: &str, password: &str) -> String {
    user_token_via(h, WEB_CLIENT, username, password).await
}

async fn user_token_via(h: &Harness, client_id: &str, username: &str, password: &str) -> String {
    let s = signin::password_sign_in(h, client_id, username, password).await;
    let tokens = s.exchange(h).await;
    tokens
        .response
        .str("access_token")
        .expect("an access token")
        .to_string()
}

/// `METHOD /admin/realms/{path}` with `token` (if any) and a JSON body (if any).
async fn call(h: &Harness, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
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

/// `gatehouse ARGS` on the harness's database, realms directory and master key.
fn on_harness(h: &Harness, args: &[&str]) -> std::process::Command {
    let mut cmd = process::gatehouse(args);
    cmd.args(["--database-url", &h.settings.database_url])
        .args(["--realms-dir", process::arg(&h.settings.realms_dir)])
        .args(["--master-key-file", process::arg(&h.settings.master_key_file)])
        .env(
            "GATEHOUSE_MASTER_KEY",
            h.settings.master_key.clone().unwrap_or_default(),
        );
    cmd
}

/// A master-realm administrator's access token, as a relying party gets it with the
/// `openidconnect` crate: its authorization URL (PKCE, nonce, state), the sign-in pages in a
/// browser, its code exchange, and the ID token checked against the JWKS and the nonce.
async fn admin_token_by_openidconnect(h: &Harness, username: &str, password: &str) -> String {
    let http = RpHttp::new();
    let metadata = rp::discover(&http, &h.issuer()).await;
    let client = rp::client(&metadata, WEB_CLIENT, Some(WEB_SECRET), WEB_REDIRECT);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let server = url::Url::parse(&h.url).unwrap();
    let browser = h.new_browser();
    let page = browser::follow_on_server(&browser, browser::get(&browser, url.as_str()).await, &server).await;
    signin::expect(&page, Shown::Login);
    let mut form = signin::form_of(&page);
    form.set("username", username);
    form.set("password", password);
    let page = browser::follow_on_server(&browser, form.submit(&browser).await, &server).await;
    signin::expect(&page, Shown::Away);
    let back = page.location().expect("sent back to the client");
    assert!(back.as_str().starts_with(WEB_REDIRECT), "{back}");
    let param = |name: &str| back.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(param("state").as_deref(), Some(state.secret().as_str()), "{back}");
    let code = param("code").unwrap_or_else(|| panic!("no code in {back}"));
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("a token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {}", chain(&e)));
    let claims = tokens
        .id_token()
        .expect("an ID token")
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap_or_else(|e| panic!("ID token rejected: {}", chain(&e)));
    assert_eq!(claims.subject().as_str(), signin::user_id(h, username).await);
    tokens.access_token().secret().clone()
}

db_test!(async fn an_admin_creates_a_user_whose_next_sign_in_asks_for_the_required_action(db) {
    let mut h = start(db).await;
    // The first administrator, by the CLI with the password on standard input.
    let out = process::run(
        on_harness(&h, &["admin", "bootstrap", "--username", ROOT]),
        Some(format!("{ROOT_PASSWORD}\n").as_str()),
    );
    assert!(out.status.success(), "{}", process::text(&out));
    // A second bootstrap is refused: it only ever creates the first administrator.
    let again = process::run(
        on_harness(&h, &["admin", "bootstrap", "--username", "intruder"]),
        Some(format!("{ROOT_PASSWORD}\n").as_str()),
    );
    assert!(!again.status.success(), "a second bootstrap succeeded");
    assert!(process::text(&again).contains("an administrator already exists"), "{}", process::text(&again));

    let token = admin_token_by_openidconnect(&h, ROOT, ROOT_PASSWORD).await;
    let (status, created) = call(
        &h,
        "POST",
        "flows/users",
        Some(&token),
        Some(json!({
            "username": "dora",
            "email": "dora@example.com",
            "firstName": "Dora",
            "credentials": [{ "type": "password", "value": PASSWORD, "temporary": false }]
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["username"], "dora");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["requiredActions"], json!([]));
    let id = created["id"].as_str().expect("an id").to_string();

    // The administrator requires configure-otp.
    let (status, updated) = call(
        &h,
        "PUT",
        &format!("flows/users/{id}"),
        Some(&token),
        Some(json!({ "requiredActions": ["configure-otp"] })),
    )
    .await;
    assert!(status.is_success(), "{status}: {updated}");

    // Read back, and found by a prefix search; the service account sees the same.
    let (status, read) = call(&h, "GET", &format!("flows/users/{id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["email"], "dora@example.com");
    assert_eq!(read["requiredActions"], json!(["configure-otp"]));
    let machine = service_token(&h, "pipeline").await;
    let (status, found) = call(&h, "GET", "flows/users?search=do", Some(&machine), None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["id"], id.as_str());

    // The flow engine asks dora to set up OTP at her next sign-in.
    h.realm = "flows".into();
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in("dora", PASSWORD).await;
    s.expect(Shown::ConfigureOtp);
    assert!(!signin::secret_text(&s.page.body).is_empty(), "no secret to type in");

    // The creation and the requirement are in the security log, naming the administrator
    // and the client its token was issued to.
    let events: Vec<_> = signin::events(&h, None)
        .await
        .into_iter()
        .filter(|e| e.user_id.as_deref() == Some(id.as_str()) && e.kind != "sign_in")
        .collect();
    let created_events: Vec<_> = events.iter().filter(|e| e.kind == "user_created").collect();
    assert_eq!(created_events.len(), 1, "{events:?}");
    for e in &events {
        if e.details.get("by").is_some() {
            assert_eq!(e.details["by"], "user:root@master", "{e:?}");
            assert_eq!(e.client_id.as_deref(), Some(WEB_CLIENT), "{e:?}");
        }
    }
    assert!(events.iter().any(|e| e.details.to_string().contains("configure-otp")), "{events:?}");
    assert!(!format!("{events:?}").contains(PASSWORD), "a password in the log");
});

db_test!(async fn admin_events_name_the_admins_client_address_and_user_agent(db) {
    let mut h = start(db).await;
    gatehouse::admin::master::bootstrap(&h.state, ROOT, ROOT_PASSWORD, None)
        .await
        .expect("bootstrap the first administrator");
    let person = user_token(&h, ROOT, ROOT_PASSWORD).await;
    let machine = service_token(&h, "pipeline").await;
    const AGENT: &str = "admin-script/2.1 (ops)";
    let client = reqwest::Client::builder().user_agent(AGENT).build().unwrap();
    for (token, username) in [(&person, "by-person"), (&machine, "by-machine")] {
        let response = client
            .post(format!("{}/admin/realms/flows/users", h.url))
            .bearer_auth(token)
            .json(&json!({ "username": username }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    h.realm = "flows".into();
    let created = signin::events(&h, Some("user_created")).await;
    assert_eq!(created.len(), 2, "{created:?}");
    // A person's token names the admin client it was issued to; a service account, itself.
    for (event, by, client_id) in [
        (&created[0], "user:root@master", WEB_CLIENT),
        (&created[1], "client:pipeline@master", "pipeline"),
    ] {
        assert_eq!(event.details["by"], by, "{event:?}");
        assert_eq!(event.client_id.as_deref(), Some(client_id), "{event:?}");
        assert_eq!(event.ip.as_deref(), Some("127.0.0.1"), "{event:?}");
        assert_eq!(event.user_agent.as_deref(), Some(AGENT), "{event:?}");
    }
    // The API shows the same.
    let (status, listed) = call(&h, "GET", "flows/events?type=user_created", Some(&machine), None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed[0]["clientId"], "pipeline", "{listed}");
    assert_eq!(listed[0]["ipAddress"], "127.0.0.1", "{listed}");
    assert_eq!(listed[0]["userAgent"], AGENT, "{listed}");
});

db_test!(async fn missing_garbage_expired_foreign_and_unprivileged_tokens_are_refused(db) {
    let mut h = start(db).await;
    let path = "flows/users";
    let (status, body) = call(&h, "GET", path, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "unauthorized");
    let (status, _) = call(&h, "GET", path, Some("not-a-token"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Expired: signed by the master realm's own key, but an hour old.
    let key = h.state.keys.active("master").expect("the master realm's key");
    let t = signin::unix_now() as i64 - 3600;
    let expired = key
        .sign_jwt(
            "at+jwt",
            &json!({ "iss": h.issuer(), "sub": "pipeline", "aud": "pipeline", "client_id": "pipeline",
                     "exp": t + 300, "iat": t, "jti": "expired-token" }),
        )
        .unwrap();
    let (status, body) = call(&h, "GET", path, Some(&expired), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // From another realm: a valid token of `flows` is no admin token.
    h.realm = "flows".into();
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let foreign = user_token(&h, USERNAME, PASSWORD).await;
    h.realm = "master".into();
    let (status, body) = call(&h, "GET", path, Some(&foreign), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    h.add_user(USERNAME, EMAIL, PASSWORD).await;

    // Valid master tokens without the role: 403.
    let bystander = service_token(&h, "bystander").await;
    let (status, body) = call(&h, "GET", path, Some(&bystander), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "forbidden");
    let plain_user = user_token(&h, USERNAME, PASSWORD).await;
    let (status, _) = call(&h, "GET", path, Some(&plain_user), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // `flows-admin` administers `flows` only.
    let user_id = signin::user_id(&h, USERNAME).await;
    h.state.store.grant_role(&user_id, "flows-admin").await.unwrap();
    let scoped = user_token(&h, USERNAME, PASSWORD).await;
    let (status, _) = call(&h, "GET", path, Some(&scoped), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&h, "GET", "master/users", Some(&scoped), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Taking the role away takes effect at once, before the token expires.
    h.sql(&format!("DELETE FROM user_roles WHERE user_id = '{user_id}'")).await;
    let (status, _) = call(&h, "GET", path, Some(&scoped), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // `master-admin` does not reach the master realm: only `admin` may change the
    // administrators (or it could make itself one).
    h.state.store.grant_role(&user_id, "master-admin").await.unwrap();
    let (status, body) = call(&h, "GET", "master/users", Some(&scoped), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // An administrator's token issued to an ordinary app of the master realm is refused.
    gatehouse::admin::master::bootstrap(&h.state, ROOT, ROOT_PASSWORD, None).await.unwrap();
    let via_app = user_token_via(&h, "other", ROOT, ROOT_PASSWORD).await;
    let (status, body) = call(&h, "GET", path, Some(&via_app), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["errorMessage"].as_str().unwrap_or_default().contains("admin_api"), "{body}");
    let via_console = user_token(&h, ROOT, ROOT_PASSWORD).await;
    let (status, _) = call(&h, "GET", path, Some(&via_console), None).await;
    assert_eq!(status, StatusCode::OK);

    // An unknown realm, for an administrator of every realm: 404.
    let machine = service_token(&h, "pipeline").await;
    let (status, body) = call(&h, "GET", "nowhere/users", Some(&machine), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
});

db_test!(async fn bad_bodies_get_400_with_a_message(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let url = format!("{}/admin/realms/flows/users", h.url);
    let client = reqwest::Client::new();
    let cases: &[(&str, &str, &str)] = &[
        ("application/json", "{\"username\": ", "invalid JSON body"),
        ("application/json", "{\"username\": \"x\", \"nickname\": \"y\"}", "unknown field `nickname`"),
        ("application/json", "{\"username\": 42}", "invalid type"),
        ("application/json", "{\"username\": \"has space\"}", "without spaces"),
        ("application/json", "{\"username\": \"eve\", \"requiredActions\": [\"fly\"]}", "unknown required action 'fly'"),
        ("text/plain", "{\"username\": \"eve\"}", "application/json"),
    ];
    for (content_type, body, expected) in cases {
        let response = client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", *content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let json: Value = response.json().await.expect("a JSON error body");
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {json}");
        assert_eq!(json["error"], "invalid_request", "{json}");
        let message = json["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{body}: {message:?} lacks {expected:?}");
    }
    // A taken username is a conflict; nothing was created by the refused requests.
    let (status, _) = call(&h, "POST", "flows/users", Some(&token), Some(json!({ "username": "eve" }))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = call(&h, "POST", "flows/users", Some(&token), Some(json!({ "username": "eve" }))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, all) = call(&h, "GET", "flows/users", Some(&token), None).await;
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    let (status, body) = call(&h, "GET", "flows/users?max=many", Some(&token), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
});

/// Asserts an admin API error: `status`, JSON `{"error": code, "errorMessage": …}`, no-store.
async fn assert_admin_error(response: reqwest::Response, status: StatusCode, code: &str) -> reqwest::header::HeaderMap {
    let headers = response.headers().clone();
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    assert!(
        headers[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{headers:?}"
    );
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(json["error"], code, "{json}");
    assert!(json["errorMessage"].as_str().is_some_and(|m| !m.is_empty()), "{json}");
    headers
}

db_test!(async fn unknown_routes_wrong_methods_and_huge_bodies_get_admin_json_errors(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let client = reqwest::Client::new();

    // Unknown paths under /admin, with or without a token: a JSON 404.
    for path in ["/admin/realms/flows/nothing-here", "/admin/nope", "/admin"] {
        let response = client.get(format!("{}{path}", h.url)).bearer_auth(&token).send().await.unwrap();
        assert_admin_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let response = client.get(format!("{}/admin/realms/flows/nothing-here", h.url)).send().await.unwrap();
    assert_admin_error(response, StatusCode::NOT_FOUND, "not_found").await;
    // Elsewhere, a 404 stays a plain page.
    let response = client.get(format!("{}/nothing-here", h.url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(!response.text().await.unwrap().starts_with('{'));

    // A known path with a method it does not take: a JSON 405 that says which methods it takes.
    let response = client
        .delete(format!("{}/admin/realms/flows/users", h.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let headers = assert_admin_error(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    let allow = headers[reqwest::header::ALLOW].to_str().unwrap().to_string();
    assert!(allow.contains("GET") && allow.contains("POST"), "Allow: {allow}");

    // A body over 64 KiB: a JSON 413, whether its length is declared…
    let huge = json!({ "username": "huge", "attributes": { "pad": ["a".repeat(70 * 1024)] } }).to_string();
    let response = client
        .post(format!("{}/admin/realms/flows/users", h.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    assert_admin_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // …or found while reading a chunked body.
    let answer = tokio::task::spawn_blocking({
        let addr = h.url.trim_start_matches("http://").to_string();
        let token = token.clone();
        move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
            stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            let head = format!(
                "POST /admin/realms/flows/users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).expect("write head");
            for chunk in huge.as_bytes().chunks(16 * 1024) {
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(chunk);
                framed.extend_from_slice(b"\r\n");
                if stream.write_all(&framed).is_err() {
                    break; // the server answered and closed: read what it said
                }
            }
            let _ = stream.write_all(b"0\r\n\r\n");
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        }
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "chunked answer: {answer:?}");
    assert!(answer.contains("\"error\":\"payload_too_large\""), "chunked answer: {answer:?}");
    // Nothing was created.
    let (status, found) = call(&h, "GET", "flows/users?username=huge&exact=true", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found, json!([]));
});

db_test!(async fn the_openapi_document_describes_the_admin_api(db) {
    let h = start(db).await;
    let doc: Value = reqwest::get(format!("{}/admin/openapi.json", h.url))
        .await
        .unwrap()
        .json()
        .await
        .expect("the OpenAPI document is JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{doc}");
    let paths = doc["paths"].as_object().expect("paths");
    let users = &paths["/admin/realms/{realm}/users"];
    assert!(users["get"].is_object() && users["post"].is_object(), "{users}");
    assert!(paths.contains_key("/admin/realms/{realm}/users/{id}"));
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(doc["components"]["schemas"]["UserRepresentation"].is_object());
});

db_test!(async fn realm_roles_go_into_tokens_under_the_configured_claim(db) {
    // The realm's roles claim renamed; a user holding a role sees it in both tokens.
    let realm = signin::standard_flow_realm()
        .replace("realm: flows\n", "realm: flows\nroles: [auditor, clerk]\n")
        .replace("signing_alg: RS256 }", "signing_alg: RS256, roles_claim: realm_roles }");
    assert!(realm.contains("roles_claim: realm_roles"), "{realm}");
    let h = Harness::start(db, &realm).await;
    let id = h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h.state.store.grant_role(&id, "auditor").await.unwrap();
    let tokens = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await.exchange(&h).await;
    assert_eq!(tokens.access["realm_roles"], json!(["auditor"]), "{}", tokens.access);
    assert_eq!(tokens.id["realm_roles"], json!(["auditor"]), "{}", tokens.id);
    assert!(tokens.access.get("roles").is_none(), "{}", tokens.access);

    // A refresh reads the roles again: a role granted since is in the new token.
    h.state.store.grant_role(&id, "clerk").await.unwrap();
    let refresh = tokens.response.str("refresh_token").expect("a refresh token");
    let refreshed = support::oauth::refresh(&h, support::oauth::web(), refresh).await;
    refreshed.assert_ok();
    let (_, access) = support::oauth::jwt_parts(refreshed.str("access_token").unwrap());
    assert_eq!(access["realm_roles"], json!(["auditor", "clerk"]), "{access}");
});

db_test!(async fn an_empty_roles_claim_keeps_roles_out_of_tokens(db) {
    let realm = signin::standard_flow_realm()
        .replace("realm: flows\n", "realm: flows\nroles: [auditor]\n")
        .replace("signing_alg: RS256 }", "signing_alg: RS256, roles_claim: \"\" }");
    let h = Harness::start(db, &realm).await;
    let id = h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h.state.store.grant_role(&id, "auditor").await.unwrap();
    let tokens = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await.exchange(&h).await;
    assert!(tokens.access.get("roles").is_none() && tokens.id.get("roles").is_none(), "{}", tokens.access);
    assert!(!tokens.access.to_string().contains("auditor"), "{}", tokens.access);
});

db_test!(async fn user_search_ignores_case_the_same_on_both_databases_and_pages(db) {
    let mut h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    h.realm = "flows".into();
    for (username, email) in [
        ("alice", "Alice@Example.com"),
        ("Albert", "albert@example.org"),
        ("alfred", "fred@EXAMPLE.com"),
        ("bob", "bob@example.com"),
        ("al_x", "alx@example.com"),
        ("Élodie", "elodie@example.com"),
    ] {
        h.add_user(username, email, PASSWORD).await;
    }
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .map(|u| u["username"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let search = |query: String| {
        let h = &h;
        let token = token.clone();
        async move {
            let (status, body) = call(h, "GET", &format!("flows/users?{query}"), Some(&token), None).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            body
        }
    };

    // A prefix of the username or the email, whatever the case; ordered by username (as
    // stored: upper case first).
    for q in ["search=AL", "search=al", "search=aL"] {
        assert_eq!(names(&search(q.into()).await), ["Albert", "al_x", "alfred", "alice"], "{q}");
    }
    assert_eq!(names(&search("search=FRED".into()).await), ["alfred"]);
    // `_` and `%` are taken literally.
    assert_eq!(names(&search("search=AL_".into()).await), ["al_x"]);
    assert!(names(&search("search=%25".into()).await).is_empty());
    // By username, by email: prefixes, case ignored.
    assert_eq!(names(&search("username=ALF".into()).await), ["alfred"]);
    assert_eq!(names(&search("email=ALICE%40example".into()).await), ["alice"]);
    assert_eq!(names(&search("email=fred%40example.COM".into()).await), ["alfred"]);
    // Exact: the whole value, case ignored; a prefix no longer matches.
    assert_eq!(names(&search("username=ALICE&exact=true".into()).await), ["alice"]);
    assert!(names(&search("username=ali&exact=true".into()).await).is_empty());
    assert_eq!(names(&search("email=alice%40example.com&exact=true".into()).await), ["alice"]);
    // Letters beyond ASCII match as written, on both databases.
    assert_eq!(names(&search("search=%C3%89lo".into()).await), ["Élodie"]);
    assert!(names(&search("search=%C3%A9lo".into()).await).is_empty());

    // Paging: `first` skips, `max` bounds; pages cover the list once, in order.
    let all = names(&search("search=a&max=100".into()).await);
    assert_eq!(all, ["Albert", "al_x", "alfred", "alice"]);
    let mut paged = Vec::new();
    for first in (0..6).step_by(2) {
        paged.extend(names(&search(format!("search=a&first={first}&max=2")).await));
    }
    assert_eq!(paged, all);
    let unfiltered = names(&search("max=3".into()).await);
    assert_eq!(names(&search("first=1&max=2".into()).await), unfiltered[1..]);
    assert!(names(&search("search=a&first=4".into()).await).is_empty());
});
