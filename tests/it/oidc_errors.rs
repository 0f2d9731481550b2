//! Negative cases of the OIDC provider, each asserting the exact error a client or a person
//! gets.

use crate::support;
use crate::support::browser::{self, base_of, query};
use crate::support::oauth::{self, AuthRequest, ClientAuth};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

db_test!(async fn code_reuse_fails_and_revokes_what_the_first_use_issued(db) {
    let h = start_with_user(db).await;
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let first = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    first.assert_ok();
    let access = first.str("access_token").expect("access_token").to_string();
    let refresh = first.str("refresh_token").expect("refresh_token").to_string();
    oauth::userinfo(&h, &access).await.assert_ok();

    let second = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    second.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    oauth::assert_userinfo_rejects(&h, &access, "access token of a reused code").await;
    oauth::refresh(&h, oauth::web(), &refresh).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let info = oauth::introspect(&h, oauth::web(), &access).await;
    info.assert_ok();
    assert_eq!(info.body["active"], json!(false), "{}", info.text);
});

db_test!(async fn wrong_or_missing_pkce_verifier_is_invalid_grant(db) {
    let h = start_with_user(db).await;
    let (code, _, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let (wrong, _) = oauth::pkce_pair();
    oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&wrong))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    let (code, _, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, None)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // The same for the public client.
    let (code, _, _) = oauth::authorize(&h, &h.browser, SPA_CLIENT, SPA_REDIRECT).await;
    oauth::exchange_code(&h, ClientAuth::Public(SPA_CLIENT), &code, SPA_REDIRECT, None)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
});

db_test!(async fn plain_pkce_and_missing_pkce_are_refused_at_authorize(db) {
    let h = Harness::start(db, REALM).await;
    for client in [(WEB_CLIENT, WEB_REDIRECT), (SPA_CLIENT, SPA_REDIRECT)] {
        let (mut request, verifier) = AuthRequest::new(client.0, client.1);
        request.pkce = Some((verifier, "plain".into()));
        let location = browser::redirect_away(&h.browser, &request.url(&h)).await;
        assert_eq!(base_of(&location), client.1, "{location}");
        assert_eq!(query(&location, "error").as_deref(), Some("invalid_request"), "plain PKCE: {location}");
        assert_eq!(query(&location, "state").as_deref(), Some(request.state.as_str()));
        assert_eq!(query(&location, "code"), None);

        let (mut request, _) = AuthRequest::new(client.0, client.1);
        request.pkce = None;
        let location = browser::redirect_away(&h.browser, &request.url(&h)).await;
        assert_eq!(query(&location, "error").as_deref(), Some("invalid_request"), "no PKCE: {location}");
        assert_eq!(query(&location, "state").as_deref(), Some(request.state.as_str()));
    }
});

db_test!(async fn unregistered_redirect_uri_and_unknown_client_show_a_page_and_never_redirect(db) {
    let h = Harness::start(db, REALM).await;
    let cases = [
        ("unregistered redirect URI", AuthRequest::new(WEB_CLIENT, "http://127.0.0.1:9000/evil").0),
        ("redirect URI with an extra path", AuthRequest::new(WEB_CLIENT, "http://127.0.0.1:9000/callback/x").0),
        ("another client's redirect URI", AuthRequest::new(WEB_CLIENT, SPA_REDIRECT).0),
        ("unknown client", AuthRequest::new("nobody", WEB_REDIRECT).0),
    ];
    for (what, request) in cases {
        let page = browser::get(&h.browser, &request.url(&h)).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{what}: {}", page.describe());
        assert!(page.header("location").is_none(), "{what}: redirected to {:?}", page.header("location"));
        let content_type = page.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("text/html"), "{what}: content-type {content_type:?}");
        assert!(!page.body.is_empty(), "{what}: an empty error page");
    }
});

db_test!(async fn wrong_client_secret_is_401_invalid_client(db) {
    let h = start_with_user(db).await;
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let wrong = "web-app-secret-0123456789-WRONGWRONGWRONG";
    for auth in [ClientAuth::Basic(WEB_CLIENT, wrong), ClientAuth::Post(WEB_CLIENT, wrong)] {
        let r = oauth::exchange_code(&h, auth, &code, WEB_REDIRECT, Some(&verifier)).await;
        r.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let r = oauth::post_form(&h.endpoint("token"), ClientAuth::Basic("nobody", wrong), &[("grant_type", "client_credentials")]).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // A confidential client that sends no secret at all.
    let r = oauth::exchange_code(&h, ClientAuth::Public(WEB_CLIENT), &code, WEB_REDIRECT, Some(&verifier)).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // The failed attempts did not burn the code for its rightful client.
    oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await.assert_ok();
});

db_test!(async fn expired_code_is_invalid_grant(db) {
    let h = start_with_user(db).await;
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    h.sql("UPDATE auth_codes SET expires_at = 0").await;
    oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
});

db_test!(async fn code_is_bound_to_its_client_and_redirect_uri(db) {
    let h = start_with_user(db).await;
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    oauth::exchange_code(&h, oauth::other(), &code, WEB_REDIRECT, Some(&verifier))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    oauth::exchange_code(&h, oauth::web(), &code, "http://127.0.0.1:9000/other", Some(&verifier))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    oauth::exchange_code(&h, oauth::web(), "no-such-code", WEB_REDIRECT, Some(&verifier))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
});

db_test!(async fn refresh_token_reuse_revokes_the_family(db) {
    let h = start_with_user(db).await;
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    tokens.assert_ok();
    let old = tokens.str("refresh_token").unwrap().to_string();

    let rotated = oauth::refresh(&h, oauth::web(), &old).await;
    rotated.assert_ok();
    let new = rotated.str("refresh_token").expect("a rotated refresh token").to_string();
    assert_ne!(new, old);

    oauth::refresh(&h, oauth::web(), &old).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    oauth::refresh(&h, oauth::web(), &new).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
});

db_test!(async fn refresh_token_is_bound_to_its_client(db) {
    let h = start_with_user(db).await;
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    let refresh = tokens.str("refresh_token").unwrap().to_string();
    oauth::refresh(&h, oauth::other(), &refresh).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    oauth::refresh(&h, oauth::web(), "not-a-refresh-token").await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
});

db_test!(async fn tampered_and_expired_access_tokens_are_refused_at_userinfo(db) {
    let h = start_with_user(db).await;
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    let access = tokens.str("access_token").unwrap().to_string();
    oauth::userinfo(&h, &access).await.assert_ok();
    let (header, claims) = oauth::jwt_parts(&access);

    // Tampered: the payload changed, the signature kept.
    let mut longer = claims.clone();
    longer["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    oauth::assert_userinfo_rejects(&h, &oauth::with_payload(&access, &longer), "tampered exp").await;
    let mut other_user = claims.clone();
    other_user["sub"] = json!("someone-else");
    oauth::assert_userinfo_rejects(&h, &oauth::with_payload(&access, &other_user), "tampered sub").await;
    let mut parts: Vec<String> = access.split('.').map(String::from).collect();
    let flipped = if parts[2].starts_with('A') { "B" } else { "A" };
    parts[2].replace_range(0..1, flipped);
    oauth::assert_userinfo_rejects(&h, &parts.join("."), "tampered signature").await;
    oauth::assert_userinfo_rejects(&h, "not-a-jwt", "garbage").await;

    // Re-signed with the realm's own key: accepted while valid, refused once expired.
    let key = h.state.keys.active(&h.realm).expect("an active signing key");
    assert_eq!(header["kid"].as_str(), Some(key.kid.as_str()));
    let typ = header["typ"].as_str().unwrap_or("at+jwt").to_string();
    let now = gatehouse::store::now();
    let mut fresh = claims.clone();
    fresh["iat"] = json!(now);
    fresh["exp"] = json!(now + 120);
    fresh["jti"] = json!(support::unique_name("jti-"));
    let resigned = key.sign_jwt(&typ, &fresh).expect("sign");
    oauth::userinfo(&h, &resigned).await.assert_ok();
    let mut expired = claims.clone();
    expired["iat"] = json!(now - 600);
    expired["exp"] = json!(now - 300);
    expired["jti"] = json!(support::unique_name("jti-"));
    let expired = key.sign_jwt(&typ, &expired).expect("sign");
    oauth::assert_userinfo_rejects(&h, &expired, "expired access token").await;

    // No token at all: 401 with a Bearer challenge.
    let r = oauth::backchannel().get(h.endpoint("userinfo")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{challenge:?}");
});

db_test!(async fn prompt_none_without_session_returns_login_required(db) {
    let h = Harness::start(db, REALM).await;
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("prompt", "none");
    let location = browser::redirect_away(&h.browser, &request.url(&h)).await;
    assert_eq!(base_of(&location), WEB_REDIRECT, "{location}");
    assert_eq!(query(&location, "error").as_deref(), Some("login_required"), "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some(request.state.as_str()));
    assert_eq!(query(&location, "iss"), Some(h.issuer()), "{location}");
    assert_eq!(query(&location, "code"), None);
});

db_test!(async fn wrong_password_shows_the_form_again(db) {
    let h = start_with_user(db).await;
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let (_, mut form) = browser::open_login_page(&h.browser, &request.url(&h)).await;
    form.set("username", USERNAME);
    form.set("password", "Wrong-Password-123");
    let page = form.submit(&h.browser).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.describe());
    let again = browser::parse_post_form(&page.body, &page.url).expect("the form again");
    assert!(again.has("csrf") && again.has("username") && again.has("password"), "{again:?}");
    assert!(!page.body.contains(PASSWORD) && !page.body.contains("Wrong-Password-123"), "password echoed");
    // Signing in right afterwards still works.
    let mut again = again;
    again.set("username", USERNAME);
    again.set("password", PASSWORD);
    let server = url::Url::parse(&h.url).unwrap();
    let done = browser::follow_on_server(&h.browser, again.submit(&h.browser).await, &server).await;
    let location = done.location().unwrap_or_else(|| panic!("no redirect: {}", done.describe()));
    oauth::code_from(&h, &request, &location);
});

db_test!(async fn login_form_without_csrf_token_is_refused(db) {
    let h = start_with_user(db).await;
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let (_, mut form) = browser::open_login_page(&h.browser, &request.url(&h)).await;
    form.set("username", USERNAME);
    form.set("password", PASSWORD);
    form.set("csrf", "forged");
    let page = form.submit(&h.browser).await;
    let sent_to_app = page.location().is_some_and(|l| query(&l, "code").is_some());
    assert!(!sent_to_app, "a forged CSRF token signed in: {}", page.describe());
});

db_test!(async fn token_responses_are_not_cached_and_login_pages_not_framed(db) {
    let h = start_with_user(db).await;
    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let (page, mut form) = browser::open_login_page(&h.browser, &request.url(&h)).await;
    let frame_options = page.header("x-frame-options").unwrap_or_default().to_ascii_uppercase();
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(
        frame_options == "DENY" || csp.contains("frame-ancestors 'none'"),
        "the login page may be framed: X-Frame-Options {frame_options:?}, CSP {csp:?}"
    );
    form.set("username", USERNAME);
    form.set("password", PASSWORD);
    let server = url::Url::parse(&h.url).unwrap();
    let done = browser::follow_on_server(&h.browser, form.submit(&h.browser).await, &server).await;
    let code = oauth::code_from(&h, &request, &done.location().expect("redirect"));

    let ok = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    ok.assert_ok();
    let error = oauth::exchange_code(&h, oauth::web(), "bogus", WEB_REDIRECT, Some(&verifier)).await;
    error.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    for r in [&ok, &error] {
        let cache = r.headers.get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(cache.contains("no-store"), "token response ({}) Cache-Control: {cache:?}", r.status);
        let content_type = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with("application/json"), "{content_type:?}");
        assert!(r.str("error_description").is_some() || r.status == StatusCode::OK, "{}", r.text);
    }
});

db_test!(async fn unsupported_grant_and_missing_parameters_are_named(db) {
    let h = Harness::start(db, REALM).await;
    let token = h.endpoint("token");
    let device = "urn:ietf:params:oauth:grant-type:device_code";
    oauth::post_form(&token, oauth::web(), &[("grant_type", device), ("device_code", "x")])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    // The password grant exists but is off unless a client lists it.
    oauth::post_form(&token, oauth::web(), &[("grant_type", "password"), ("username", "a"), ("password", "b")])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    oauth::post_form(&token, oauth::web(), &[]).await.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    // A client not allowed client_credentials.
    oauth::post_form(&token, oauth::other(), &[("grant_type", "client_credentials")])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "unauthorized_client");
});

// RFC 7662 §4: a client introspects only what concerns it. `other` may not read `web`'s
// tokens (access or refresh) and gets exactly what an unknown token gets; `api`, a resource
// server with `introspection: true`, reads access tokens of every client but no refresh token
// it was not issued.
db_test!(async fn clients_introspect_only_their_own_tokens_unless_allowed(db) {
    let realm = format!(
        "{REALM}  - client_id: api\n    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7\n    grant_types: [client_credentials]\n    introspection: true\n"
    );
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let api = ClientAuth::Basic("api", WEB_SECRET);
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    tokens.assert_ok();
    let access = tokens.str("access_token").expect("an access token").to_string();
    let refresh = tokens.str("refresh_token").expect("a refresh token").to_string();
    let service = oauth::post_form(&h.endpoint("token"), oauth::web(), &[("grant_type", "client_credentials")]).await;
    service.assert_ok();
    let service = service.str("access_token").expect("a client_credentials token").to_string();

    let unknown = oauth::introspect(&h, oauth::other(), "no-such-token").await;
    unknown.assert_ok();
    assert_eq!(unknown.body, json!({ "active": false }));
    for (token, kind) in [(&access, "access token"), (&refresh, "refresh token"), (&service, "service token")] {
        let own = oauth::introspect(&h, oauth::web(), token).await;
        assert_eq!(own.body["active"], true, "web's own {kind}: {}", own.text);
        let foreign = oauth::introspect(&h, oauth::other(), token).await;
        foreign.assert_ok();
        assert_eq!(foreign.text, unknown.text, "other introspected web's {kind}");
    }
    for (token, kind) in [(&access, "access token"), (&service, "service token")] {
        let seen = oauth::introspect(&h, api, token).await;
        assert_eq!(seen.body["active"], true, "the resource server and web's {kind}: {}", seen.text);
        assert_eq!(seen.body["client_id"], WEB_CLIENT);
    }
    let refresh_seen = oauth::introspect(&h, api, &refresh).await;
    assert_eq!(refresh_seen.text, unknown.text, "the resource server introspected web's refresh token");
});

// Scopes are restricted per client: without `scopes:` a client may ask for the standard ones
// (openid, profile, email, offline_access); anything else is invalid_scope — a redirect from
// authorize (RFC 6749 §4.1.2.1), a 400 from the token endpoint for client_credentials and for
// a refresh naming an unknown scope. Discovery lists the scopes some client may ask for.
db_test!(async fn scopes_outside_a_client_s_list_are_invalid_scope(db) {
    let realm = REALM.replace(
        "display_name: Test realm\n",
        "display_name: Test realm\nscopes: [payments:write, reports:read]\n",
    ) + "  - client_id: robot\n    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7\n    grant_types: [client_credentials]\n    scopes: [reports:read]\n";
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let token = h.endpoint("token");
    let robot = ClientAuth::Basic("robot", WEB_SECRET);

    let r = oauth::post_form(&token, oauth::web(), &[("grant_type", "client_credentials"), ("scope", "admin:all write:everything")]).await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
    let r = oauth::post_form(&token, robot, &[("grant_type", "client_credentials"), ("scope", "payments:write")]).await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
    let r = oauth::post_form(&token, robot, &[("grant_type", "client_credentials"), ("scope", "reports:read")]).await;
    r.assert_ok();
    assert_eq!(r.str("scope"), Some("reports:read"));
    // openid, as python-keycloak sends it: accepted, but no ID token (there is no user).
    let r = oauth::post_form(&token, robot, &[("grant_type", "client_credentials"), ("scope", "openid reports:read")]).await;
    r.assert_ok();
    assert_eq!(r.str("id_token"), None, "{}", r.text);
    let r = oauth::post_form(&token, robot, &[("grant_type", "client_credentials"), ("scope", "offline_access")]).await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
    let r = oauth::post_form(&token, oauth::web(), &[("grant_type", "client_credentials"), ("scope", "profile")]).await;
    r.assert_ok();

    // A public SPA asking for a scope it was not given: the error goes back to the app.
    let (mut request, _) = AuthRequest::new(SPA_CLIENT, SPA_REDIRECT);
    request.scope = "openid payments:write".into();
    let location = browser::redirect_away(&h.browser, &request.url(&h)).await;
    assert_eq!(base_of(&location), SPA_REDIRECT, "{location}");
    assert_eq!(query(&location, "error").as_deref(), Some("invalid_scope"), "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some(request.state.as_str()));
    assert_eq!(query(&location, "code"), None);

    // A refresh naming an unknown scope is invalid_scope, and leaves the refresh token usable.
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    tokens.assert_ok();
    let refresh = tokens.str("refresh_token").expect("a refresh token");
    let r = oauth::post_form(
        &token,
        oauth::web(),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh), ("scope", "openid admin:all")],
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
    oauth::refresh(&h, oauth::web(), refresh).await.assert_ok();

    let discovery: serde_json::Value = oauth::backchannel()
        .get(format!("{}/.well-known/openid-configuration", h.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["scopes_supported"],
        json!(["openid", "profile", "email", "offline_access", "reports:read"]),
        "payments:write is defined but no client may ask for it"
    );
});

// The token endpoint and a POSTed authorization request take only
// `application/x-www-form-urlencoded` bodies (RFC 6749 §3.2, OIDC Core §3.1.2.1): JSON,
// text or no Content-Type at all is invalid_request (a JSON error from the token endpoint, an
// error page from authorize), even when the body would parse as a form.
db_test!(async fn token_and_post_authorize_need_a_form_content_type(db) {
    let h = start_with_user(db).await;
    let body = "grant_type=client_credentials";
    for content_type in [Some("application/json"), Some("text/plain"), Some("multipart/form-data; boundary=x"), None] {
        let mut request = oauth::backchannel().post(h.endpoint("token")).basic_auth(WEB_CLIENT, Some(WEB_SECRET)).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.expect("POST token");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{content_type:?}: {text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(json["error"], "invalid_request", "{content_type:?}: {text}");
    }
    for ct in ["application/x-www-form-urlencoded", "Application/X-WWW-Form-Urlencoded; charset=UTF-8"] {
        let response = oauth::backchannel()
            .post(h.endpoint("token"))
            .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .expect("POST token");
        assert_eq!(response.status(), StatusCode::OK, "{ct}");
    }

    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let query = url::Url::parse(&request.url(&h)).unwrap().query().unwrap_or_default().to_string();
    for content_type in [Some("application/json"), Some("text/plain"), None] {
        let mut post = h.new_browser().post(h.endpoint("auth")).body(query.clone());
        if let Some(ct) = content_type {
            post = post.header("content-type", ct);
        }
        let response = post.send().await.expect("POST auth");
        let status = response.status();
        let location = response.headers().get("location").cloned();
        let page = response.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{content_type:?}: {page}");
        assert_eq!(location, None, "{content_type:?}");
        assert!(page.contains("invalid_request"), "{content_type:?}: {page}");
    }
    let response = h
        .new_browser()
        .post(h.endpoint("auth"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query)
        .send()
        .await
        .expect("POST auth");
    assert_eq!(response.status(), StatusCode::OK, "the login page");
});

// RFC 6750 §2: a client sends its access token one way. Userinfo refuses a request carrying
// it both in the Authorization header and in the body with 400 invalid_request.
db_test!(async fn userinfo_refuses_a_token_sent_two_ways(db) {
    let h = start_with_user(db).await;
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    tokens.assert_ok();
    let access = tokens.str("access_token").expect("an access token");
    let both = oauth::backchannel()
        .post(h.endpoint("userinfo"))
        .bearer_auth(access)
        .form(&[("access_token", access)])
        .send()
        .await
        .expect("POST userinfo");
    assert_eq!(both.status(), StatusCode::BAD_REQUEST);
    let challenge = both.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(challenge.contains("error=\"invalid_request\""), "{challenge:?}");
    let body: serde_json::Value = both.json().await.unwrap_or_default();
    assert_eq!(body["error"], "invalid_request", "{body}");
    // Either way alone works.
    let header_only = oauth::backchannel().post(h.endpoint("userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(header_only.status(), StatusCode::OK);
    let body_only = oauth::backchannel()
        .post(h.endpoint("userinfo"))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(body_only.status(), StatusCode::OK);
});
