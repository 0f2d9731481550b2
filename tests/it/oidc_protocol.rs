//! Authorization-request behaviour the OpenID Foundation's Basic and Config OP plans expect:
//! POST requests, `response_mode=form_post`, `prompt=login`, `max_age` and `auth_time`,
//! `prompt=none` with `id_token_hint`, `login_hint`, the `claims` parameter, request objects,
//! unknown parameters, and userinfo by POST.

use crate::support::browser::{self, Page, base_of, query};
use crate::support::oauth::{self, AuthRequest};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

/// Exchanges a code for the web client and returns the token response's JSON.
async fn tokens_for(h: &Harness, code: &str, verifier: &str) -> Value {
    let r = oauth::exchange_code(h, oauth::web(), code, WEB_REDIRECT, Some(verifier)).await;
    r.assert_ok();
    r.body
}

fn id_token_claims(tokens: &Value) -> Value {
    oauth::jwt_parts(tokens["id_token"].as_str().expect("an id_token")).1
}

/// Signs in once in `h.browser` and returns the ID token's claims and the raw ID token.
async fn first_sign_in(h: &Harness) -> (Value, String) {
    let (code, verifier, _) = oauth::authorize(h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = tokens_for(h, &code, &verifier).await;
    (
        id_token_claims(&tokens),
        tokens["id_token"].as_str().unwrap().to_string(),
    )
}

db_test!(async fn authorization_request_by_post(db) {
    let h = start_with_user(db).await;
    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let get_url = Url::parse(&request.url(&h)).unwrap();
    let params: Vec<(String, String)> = get_url.query_pairs().into_owned().collect();
    let response = h.browser.post(h.endpoint("auth")).form(&params).send().await.unwrap();
    let page = Page::read(Url::parse(&h.endpoint("auth")).unwrap(), response).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.describe());
    let mut form = browser::parse_post_form(&page.body, &page.url).expect("the login form");
    form.set("username", USERNAME);
    form.set("password", PASSWORD);
    let server = Url::parse(&h.url).unwrap();
    let done = browser::follow_on_server(&h.browser, form.submit(&h.browser).await, &server).await;
    let code = oauth::code_from(&h, &request, &done.location().expect("redirect to the app"));
    tokens_for(&h, &code, &verifier).await;
});

// keycloak-js's default: the response in the fragment, which the browser never sends on.
db_test!(async fn response_mode_fragment_puts_the_response_after_the_hash(db) {
    let h = start_with_user(db).await;
    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("response_mode", "fragment");
    let location = browser::sign_in(&h.browser, &request.url(&h), USERNAME, PASSWORD).await;
    assert_eq!(location.query(), None, "{location}");
    let fragment: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(location.fragment().expect("a fragment").as_bytes()).into_owned().collect();
    assert_eq!(fragment.get("state"), Some(&request.state), "{location}");
    assert_eq!(fragment.get("iss"), Some(&h.issuer()), "{location}");
    tokens_for(&h, fragment.get("code").expect("a code"), &verifier).await;

    // Errors go the same way once the redirect URI is trusted.
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("response_mode", "fragment").with("prompt", "none").with("max_age", "-1");
    let location = browser::redirect_away(&h.new_browser(), &request.url(&h)).await;
    assert!(location.fragment().is_some_and(|f| f.contains("error=")), "{location}");
});

db_test!(async fn response_mode_form_post_posts_the_code_to_the_app(db) {
    let h = start_with_user(db).await;
    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("response_mode", "form_post");
    let (_, mut form) = browser::open_login_page(&h.browser, &request.url(&h)).await;
    form.set("username", USERNAME);
    form.set("password", PASSWORD);
    let server = Url::parse(&h.url).unwrap();
    let page = browser::follow_on_server(&h.browser, form.submit(&h.browser).await, &server).await;
    assert_eq!(page.status, StatusCode::OK, "form_post answers with a page: {}", page.describe());
    let post = browser::parse_post_form(&page.body, &page.url).expect("an auto-submitting form");
    assert_eq!(post.action.as_str(), WEB_REDIRECT);
    assert_eq!(post.get("state"), Some(request.state.as_str()));
    assert_eq!(post.get("iss"), Some(h.issuer().as_str()));
    let code = post.get("code").expect("code in the form").to_string();
    tokens_for(&h, &code, &verifier).await;
});

db_test!(async fn prompt_login_and_max_age_force_a_new_sign_in(db) {
    let h = start_with_user(db).await;
    let (first, _) = first_sign_in(&h).await;
    let first_auth_time = first["auth_time"].as_i64().expect("auth_time");
    // Move the sign-in 100 s into the past instead of waiting.
    h.sql("UPDATE sso_sessions SET auth_time = auth_time - 100").await;

    // Within max_age, the session is enough, and auth_time is reported.
    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("max_age", "3600");
    let location = browser::redirect_away(&h.browser, &request.url(&h)).await;
    let code = oauth::code_from(&h, &request, &location);
    let claims = id_token_claims(&tokens_for(&h, &code, &verifier).await);
    assert_eq!(claims["auth_time"].as_i64(), Some(first_auth_time - 100), "{claims}");

    // Older than max_age: the login form again, and a new auth_time after signing in.
    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("max_age", "50");
    let location = browser::sign_in(&h.browser, &request.url(&h), USERNAME, PASSWORD).await;
    let code = oauth::code_from(&h, &request, &location);
    let claims = id_token_claims(&tokens_for(&h, &code, &verifier).await);
    let renewed = claims["auth_time"].as_i64().expect("auth_time");
    assert!(renewed >= first_auth_time, "max_age did not renew auth_time: {renewed} < {first_auth_time}");

    // prompt=login shows the form despite the session, and renews auth_time too.
    h.sql("UPDATE sso_sessions SET auth_time = auth_time - 100").await;
    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("prompt", "login");
    let location = browser::sign_in(&h.browser, &request.url(&h), USERNAME, PASSWORD).await;
    let code = oauth::code_from(&h, &request, &location);
    let claims = id_token_claims(&tokens_for(&h, &code, &verifier).await);
    assert!(claims["auth_time"].as_i64().unwrap() >= renewed, "prompt=login did not renew auth_time: {claims}");
});

db_test!(async fn prompt_none_with_id_token_hint(db) {
    let h = start_with_user(db).await;
    h.add_user("bob", "bob@example.com", PASSWORD).await;
    let (alice, alice_hint) = first_sign_in(&h).await;

    // Bob signs in in another browser; his ID token is the wrong hint for Alice's browser.
    let bob_browser = h.new_browser();
    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let location = browser::sign_in(&bob_browser, &request.url(&h), "bob", PASSWORD).await;
    let bob_tokens = tokens_for(&h, &oauth::code_from(&h, &request, &location), &verifier).await;
    let bob_hint = bob_tokens["id_token"].as_str().unwrap();

    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("prompt", "none").with("id_token_hint", &alice_hint);
    let location = browser::redirect_away(&h.browser, &request.url(&h)).await;
    let code = oauth::code_from(&h, &request, &location);
    let claims = id_token_claims(&tokens_for(&h, &code, &verifier).await);
    assert_eq!(claims["sub"], alice["sub"]);

    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("prompt", "none").with("id_token_hint", bob_hint);
    let location = browser::redirect_away(&h.browser, &request.url(&h)).await;
    assert_eq!(base_of(&location), WEB_REDIRECT, "{location}");
    assert_eq!(query(&location, "error").as_deref(), Some("login_required"), "another user's hint: {location}");
    assert_eq!(query(&location, "state").as_deref(), Some(request.state.as_str()));
});

db_test!(async fn login_hint_fills_the_username_and_unknown_parameters_are_ignored(db) {
    let h = start_with_user(db).await;
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("login_hint", USERNAME).with("ui_locales", "de en").with("x-unknown", "whatever");
    let (_, form) = browser::open_login_page(&h.browser, &request.url(&h)).await;
    assert_eq!(form.get("username"), Some(USERNAME), "{form:?}");
});

db_test!(async fn claims_parameter_adds_the_requested_claims(db) {
    let h = start_with_user(db).await;
    let (mut request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    request.scope = "openid".into();
    let claims_request = json!({
        "id_token": { "email": { "essential": true } },
        "userinfo": { "email": null, "preferred_username": null }
    });
    let request = request.with("claims", &claims_request.to_string());
    let location = browser::sign_in(&h.browser, &request.url(&h), USERNAME, PASSWORD).await;
    let tokens = tokens_for(&h, &oauth::code_from(&h, &request, &location), &verifier).await;
    assert_eq!(id_token_claims(&tokens)["email"], json!(EMAIL), "the ID token lacks the requested email");
    let info = oauth::userinfo(&h, tokens["access_token"].as_str().unwrap()).await;
    info.assert_ok();
    assert_eq!(info.body["email"], json!(EMAIL), "{}", info.text);
    assert_eq!(info.body["preferred_username"], json!(USERNAME), "{}", info.text);

    // Malformed JSON is an invalid_request sent back to the app.
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("claims", "{not json");
    let location = browser::redirect_away(&h.browser, &request.url(&h)).await;
    assert_eq!(query(&location, "error").as_deref(), Some("invalid_request"), "{location}");
});

db_test!(async fn request_objects_are_refused_unless_supported(db) {
    let h = Harness::start(db, REALM).await;
    let discovery: Value = oauth::backchannel()
        .get(format!("{}/.well-known/openid-configuration", h.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    if discovery["request_parameter_supported"] != json!(true) {
        let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
        let request = request.with("request", "eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6IngifQ.");
        let location = browser::redirect_away(&h.browser, &request.url(&h)).await;
        assert_eq!(base_of(&location), WEB_REDIRECT, "{location}");
        assert_eq!(query(&location, "error").as_deref(), Some("request_not_supported"), "{location}");
        assert_eq!(query(&location, "state").as_deref(), Some(request.state.as_str()));
    }
    if discovery["request_uri_parameter_supported"] != json!(true) {
        let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
        let request = request.with("request_uri", "https://rp.example/request.jwt");
        let location = browser::redirect_away(&h.browser, &request.url(&h)).await;
        assert_eq!(query(&location, "error").as_deref(), Some("request_uri_not_supported"), "{location}");
    }
});

db_test!(async fn userinfo_by_post_and_by_get(db) {
    let h = start_with_user(db).await;
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = tokens_for(&h, &code, &verifier).await;
    let access = tokens["access_token"].as_str().unwrap();
    let by_get = oauth::userinfo(&h, access).await;
    by_get.assert_ok();
    let response = oauth::backchannel().post(h.endpoint("userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let by_post: Value = response.json().await.unwrap();
    assert_eq!(by_post, by_get.body);
    assert_eq!(by_post["sub"], id_token_claims(&tokens)["sub"]);
    assert_eq!(by_post["email"], json!(EMAIL));
});

// Content-Security-Policy form-action: pages post only to the server itself, plus — on the
// form_post page, which posts to the client — the client's redirect origin. The sign-in pages
// have none: browsers hold every redirect after a submission to it, and a sign-in's answer may
// go on from the client's redirect URI to another origin (a broker whose upstream this realm
// is: `broker::an_upstream_sign_in_in_chromium_lands_at_the_app` is that chain in Chromium).
db_test!(async fn pages_limit_where_their_forms_may_go(db) {
    let h = start_with_user(db).await;
    let csp = |page: &Page| page.header("content-security-policy").unwrap_or_default().to_string();
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("response_mode", "form_post");
    let (login, mut form) = browser::open_login_page(&h.browser, &request.url(&h)).await;
    let policy = csp(&login);
    assert!(!policy.contains("form-action"), "login page CSP: {policy}");
    assert!(policy.contains("default-src 'none'") && policy.contains("base-uri 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    form.set("username", USERNAME);
    form.set("password", PASSWORD);
    let server = Url::parse(&h.url).unwrap();
    let post = browser::follow_on_server(&h.browser, form.submit(&h.browser).await, &server).await;
    assert_eq!(post.status, StatusCode::OK, "{}", post.describe());
    let policy = csp(&post);
    assert!(policy.ends_with("; form-action 'self' http://127.0.0.1:9000"), "form_post page CSP: {policy}");
    assert!(policy.contains("script-src 'sha256-"), "{policy}");
    // A page without a client: only the server itself.
    let (request, _) = AuthRequest::new("no-such-client", WEB_REDIRECT);
    let error = browser::get(&h.browser, &request.url(&h)).await;
    assert_eq!(error.status, StatusCode::BAD_REQUEST, "{}", error.describe());
    let policy = csp(&error);
    assert!(policy.ends_with("; form-action 'self'"), "error page CSP: {policy}");
});

/// The ids of the live (not ended) SSO sessions.
async fn live_sessions(h: &Harness) -> Vec<String> {
    let rows = h.query("SELECT id FROM sso_sessions WHERE ended_at IS NULL").await;
    rows.iter()
        .map(|r| r.try_get::<String>("", "id").expect("an id"))
        .collect()
}

// prompt=login replaces the browser's SSO session: after the new sign-in the old session is
// ended instead of staying live behind a cookie the browser no longer holds. The same user's
// apps stay signed in: their grants move to the new session, and end with it.
db_test!(async fn prompt_login_replaces_the_old_session(db) {
    let h = start_with_user(db).await;
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let first = tokens_for(&h, &code, &verifier).await;
    let old_sid = id_token_claims(&first)["sid"].as_str().expect("a sid").to_string();
    assert_eq!(live_sessions(&h).await, vec![old_sid.clone()]);

    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("prompt", "login");
    let location = browser::sign_in(&h.browser, &request.url(&h), USERNAME, PASSWORD).await;
    let second = tokens_for(&h, &oauth::code_from(&h, &request, &location), &verifier).await;
    let new_sid = id_token_claims(&second)["sid"].as_str().expect("a sid").to_string();
    assert_ne!(new_sid, old_sid);
    assert_eq!(live_sessions(&h).await, std::slice::from_ref(&new_sid), "the old session is still live");
    let old_refresh = first["refresh_token"].as_str().unwrap();
    let moved = oauth::refresh(&h, oauth::web(), old_refresh).await;
    moved.assert_ok();
    oauth::refresh(&h, oauth::web(), second["refresh_token"].as_str().unwrap()).await.assert_ok();
    let (_, moved_access) = oauth::jwt_parts(moved.str("access_token").expect("an access token"));
    assert_eq!(moved_access["sid"], new_sid.as_str(), "the moved grant's tokens name the new session");
    // The browser's session is the new one: a plain request signs in without the form.
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let location = browser::redirect_away(&h.browser, &request.url(&h)).await;
    oauth::code_from(&h, &request, &location);
});

db_test!(async fn the_public_realm_document_names_the_key_and_services_as_keycloaks_does(db) {
    let h = start_with_user(db).await;
    let info: Value = reqwest::get(h.issuer()).await.expect("GET").json().await.expect("JSON");
    assert_eq!(info["realm"], h.realm.as_str(), "{info}");
    assert_eq!(info["token-service"], format!("{}/protocol/openid-connect", h.issuer()), "{info}");
    assert_eq!(info["account-service"], format!("{}/account", h.issuer()), "{info}");
    // The signing key in X.509 SubjectPublicKeyInfo form: a DER SEQUENCE naming rsaEncryption.
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(info["public_key"].as_str().expect("a public key"))
        .expect("base64");
    assert_eq!(der[0], 0x30, "not DER");
    let rsa_encryption = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    assert!(der.windows(rsa_encryption.len()).any(|w| w == rsa_encryption), "not an RSA key");
    let missing = reqwest::get(format!("{}/realms/no-such-realm", h.url)).await.expect("GET");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
});

/// The standard realm where the SPA's redirect origin and an admin tool's origin may call the
/// APIs from scripts.
fn cors_realm() -> String {
    REALM
        .replacen(
            "    redirect_uris: [http://127.0.0.1:9001/cb]\n",
            "    redirect_uris: [http://127.0.0.1:9001/cb]\n    web_origins: [\"+\"]\n",
            1,
        )
        .replacen(
            "    post_logout_redirect_uris: [http://127.0.0.1:9000/]\n",
            "    post_logout_redirect_uris: [http://127.0.0.1:9000/]\n    web_origins: [\"https://admin.example\"]\n",
            1,
        )
        + "  - client_id: native\n    redirect_uris: [\"com.example.app:/cb\"]\n    web_origins: [\"+\"]\n"
}

db_test!(async fn browser_apps_at_a_clients_web_origins_may_call_the_apis_and_no_one_else(db) {
    let h = Harness::start(db, &cors_realm()).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let http = reqwest::Client::new();
    let spa = "http://127.0.0.1:9001";
    let evil = "https://evil.example";
    let acao = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };

    // Preflight: the SPA's origin (`+`) is answered; another is not.
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, h.endpoint("token"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let ok = preflight(spa).await.expect("OPTIONS");
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(acao(&ok).as_deref(), Some(spa));
    let methods = ok.headers().get("access-control-allow-methods").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let headers = ok.headers().get("access-control-allow-headers").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(methods.contains("POST") && headers.contains("Authorization"), "{methods} / {headers}");
    assert_eq!(acao(&preflight(evil).await.expect("OPTIONS")), None);
    // A native app's redirect has no web origin: `+` never lets `null` (a sandboxed page) in.
    assert_eq!(acao(&preflight("null").await.expect("OPTIONS")), None);

    // The answers themselves: the token endpoint and userinfo for listed origins only.
    let token = |origin: &'static str| {
        http.post(h.endpoint("token"))
            .header("origin", origin)
            .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let r = token(spa).await.expect("POST");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(acao(&r).as_deref(), Some(spa));
    assert_eq!(r.headers().get("access-control-allow-credentials").and_then(|v| v.to_str().ok()), Some("true"));
    let refused = token(evil).await.expect("POST");
    assert_eq!(acao(&refused), None);
    assert_eq!(refused.headers().get("vary").and_then(|v| v.to_str().ok()), Some("Origin"), "caches must know");
    // The logout page holds a CSRF token: never shared, even with a listed origin.
    let page = http.get(h.endpoint("logout")).header("origin", spa).send().await.expect("GET");
    assert!(page.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/html")));
    assert_eq!(acao(&page), None);
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = tokens_for(&h, &code, &verifier).await;
    let access = tokens["access_token"].as_str().expect("an access token").to_string();
    let info = http
        .get(h.endpoint("userinfo"))
        .header("origin", "https://admin.example")
        .bearer_auth(&access)
        .send()
        .await
        .expect("GET");
    assert_eq!(acao(&info).as_deref(), Some("https://admin.example"));

    // The account API with a bearer token, yes; the cookie pages, never.
    let account = format!("{}/account", h.issuer());
    let api = http.get(&account).header("origin", spa).bearer_auth(&access).send().await.expect("GET");
    assert_eq!(api.status(), StatusCode::OK);
    assert_eq!(acao(&api).as_deref(), Some(spa));
    let page = http.get(&account).header("origin", spa).send().await.expect("GET");
    assert_eq!(acao(&page), None, "a cookie page was shared with another origin");

    // Public documents answer any origin.
    let certs = http.get(h.endpoint("certs")).header("origin", evil).send().await.expect("GET");
    assert_eq!(acao(&certs).as_deref(), Some(evil));

    // Logout by refresh token, as a script at the SPA's origin posts it; never shared elsewhere.
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token").to_string();
    let logout = |origin: &'static str| {
        http.post(h.endpoint("logout"))
            .header("origin", origin)
            .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
            .form(&[("refresh_token", refresh.as_str())])
            .send()
    };
    let done = logout(spa).await.expect("POST");
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_eq!(acao(&done).as_deref(), Some(spa));
    assert_eq!(acao(&logout(evil).await.expect("POST")), None);
});

db_test!(async fn a_client_logs_out_by_posting_its_refresh_token(db) {
    let h = start_with_user(db).await;
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = tokens_for(&h, &code, &verifier).await;
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token").to_string();
    let logout = h.endpoint("logout");

    // Not without the client's own authentication, and not for another client.
    let anonymous = oauth::post_form(&logout, oauth::ClientAuth::Public(WEB_CLIENT), &[("refresh_token", &refresh)]).await;
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    let stranger = oauth::post_form(&logout, oauth::other(), &[("refresh_token", &refresh)]).await;
    stranger.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // The client itself: 204, the session ends, its refresh token stops working.
    let done = oauth::post_form(&logout, oauth::web(), &[("refresh_token", &refresh)]).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text);
    let again = oauth::refresh(&h, oauth::web(), &refresh).await;
    again.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let live = h.query("SELECT COUNT(*) AS n FROM sso_sessions WHERE ended_at IS NULL").await;
    assert_eq!(live[0].try_get::<i64>("", "n").expect("count"), 0, "the session is still live");
    assert_eq!(crate::support::signin::events(&h, Some("logout")).await.len(), 1);
    let spent = oauth::post_form(&logout, oauth::web(), &[("refresh_token", &refresh)]).await;
    spent.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
});
