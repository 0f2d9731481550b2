//! What apps and scripts written for Keycloak rely on, beyond the code flow: the password
//! grant (Keycloak's "direct access grants", as `admin-cli` and admin scripts use it), and
//! Keycloak's default client scopes and claims.

use crate::support::oauth::{self, ClientAuth, JsonResponse};
use crate::support::signin::{self, enrol_otp, events, require, totp_next, wrong_totp};
use crate::support::*;
use reqwest::StatusCode;

/// A confidential script client and a public one, both allowed the password grant.
const SCRIPT: &str = "script";
const PUBLIC_SCRIPT: &str = "public-script";

fn password_realm() -> String {
    format!(
        "{}  - client_id: {SCRIPT}
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    grant_types: [password, refresh_token]
    web_origins: [https://app.example]
  - client_id: {PUBLIC_SCRIPT}
    grant_types: [password]
  - client_id: public-app
    redirect_uris: [http://127.0.0.1:9000/callback]
",
        signin::standard_flow_realm()
    )
}

async fn start(db: Db) -> Harness {
    let h = Harness::start(db, &password_realm()).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h
}

async fn password_grant(h: &Harness, auth: ClientAuth<'_>, fields: &[(&str, &str)]) -> JsonResponse {
    let mut params = vec![("grant_type", "password")];
    params.extend_from_slice(fields);
    oauth::post_form(&h.endpoint("token"), auth, &params).await
}

fn script() -> ClientAuth<'static> {
    ClientAuth::Basic(SCRIPT, WEB_SECRET)
}

fn id_claims(r: &JsonResponse) -> serde_json::Value {
    oauth::jwt_parts(r.str("id_token").expect("an ID token")).1
}

db_test!(async fn the_password_grant_signs_in_with_password_and_then_the_users_code(db) {
    let h = start(db).await;
    let credentials = [("username", USERNAME), ("password", PASSWORD)];

    // Only clients that list the grant may use it.
    let web = password_grant(&h, oauth::web(), &credentials).await;
    web.assert_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    // A public app that does not list it, neither.
    let public = password_grant(&h, ClientAuth::Public("public-app"), &credentials).await;
    public.assert_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    password_grant(&h, script(), &[("username", USERNAME)])
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    let wrong = password_grant(&h, script(), &[("username", USERNAME), ("password", "Wrong-Password-1")]).await;
    wrong.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // A user who does not exist gets the same answer.
    let nobody = password_grant(&h, script(), &[("username", "nobody"), ("password", "Wrong-Password-1")]).await;
    nobody.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(wrong.str("error_description"), nobody.str("error_description"));

    // Password alone while the user has no second factor: tokens, an ID token, a refresh.
    let ok = password_grant(&h, script(), &credentials).await;
    ok.assert_ok();
    assert_eq!(id_claims(&ok)["amr"], serde_json::json!(["pwd"]));
    assert_eq!(id_claims(&ok)["acr"], "1");
    let refreshed = oauth::refresh(&h, script(), ok.str("refresh_token").expect("a refresh token")).await;
    refreshed.assert_ok();
    // A public client that enables it needs no secret.
    password_grant(&h, ClientAuth::Public(PUBLIC_SCRIPT), &credentials).await.assert_ok();
    let signed_in = events(&h, Some("sign_in")).await;
    assert_eq!(signed_in.len(), 2, "{signed_in:?}");
    assert_eq!(signed_in[0].details["grant"], "password");
    assert_eq!(signed_in[0].client_id.as_deref(), Some(SCRIPT));
    assert!(!format!("{:?}", events(&h, None).await).contains(PASSWORD), "a password in the log");

    // Once the user has an authenticator app, its code is asked as `totp`.
    let enrolment = enrol_otp(&h, USERNAME, PASSWORD).await;
    let without = password_grant(&h, script(), &credentials).await;
    without.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(without.str("error_description").unwrap_or_default().contains("totp"), "{}", without.text);
    let bad_code = wrong_totp(&h, &enrolment.secret);
    let wrong_code = password_grant(&h, script(), &[credentials[0], credentials[1], ("totp", &bad_code)]).await;
    wrong_code.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let code = totp_next(&h, &enrolment.secret);
    let with_code = password_grant(&h, script(), &[credentials[0], credentials[1], ("totp", &code)]).await;
    with_code.assert_ok();
    assert_eq!(id_claims(&with_code)["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(id_claims(&with_code)["acr"], "2");
    // A code counts once.
    let replayed = password_grant(&h, script(), &[credentials[0], credentials[1], ("totp", &code)]).await;
    replayed.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
});

db_test!(async fn the_password_grant_waits_for_required_actions_and_locks_out_as_the_form_does(db) {
    let h = start(db).await;
    let credentials = [("username", USERNAME), ("password", PASSWORD)];

    // No pages here to finish setting up the account.
    require(&h, USERNAME, "update-password").await;
    let pending = password_grant(&h, script(), &credentials).await;
    pending.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(pending.str("error_description"), Some("Account is not fully set up"));
    let refused = events(&h, Some("login_error")).await;
    assert_eq!(refused.last().map(|e| e.details["reason"].clone()), Some("resolve_required_actions".into()));
    h.sql("DELETE FROM user_required_actions").await;
    password_grant(&h, script(), &credentials).await.assert_ok();

    // Three wrong passwords (the realm's limit) lock the account for every way in.
    for _ in 0..3 {
        password_grant(&h, script(), &[credentials[0], ("password", "Wrong-Password-1")])
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let locked = password_grant(&h, script(), &credentials).await;
    locked.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(locked.str("error_description").unwrap_or_default().contains("Too many failed attempts"), "{}", locked.text);
});

db_test!(async fn admin_cli_signs_an_administrator_in_with_the_password_grant(db) {
    let h = start(db).await;
    gatehouse::admin::master::bootstrap(&h.state, "root", "Root-Password-0123", None)
        .await
        .expect("the first administrator");
    let token = oauth::post_form(
        &format!("{}/realms/master/protocol/openid-connect/token", h.url),
        ClientAuth::Public("admin-cli"),
        &[("grant_type", "password"), ("username", "root"), ("password", "Root-Password-0123")],
    )
    .await;
    token.assert_ok();
    let realms = oauth::backchannel()
        .get(format!("{}/admin/realms", h.url))
        .bearer_auth(token.str("access_token").expect("an access token"))
        .send()
        .await
        .expect("the admin API answers");
    assert_eq!(realms.status(), StatusCode::OK);
});

db_test!(async fn scope_openid_alone_gives_keycloaks_default_claims_unless_the_realm_says_otherwise(db) {
    let h = start(db).await;
    let credentials = [("username", USERNAME), ("password", PASSWORD), ("scope", "openid")];
    let r = password_grant(&h, script(), &credentials).await;
    r.assert_ok();
    assert_eq!(r.str("scope"), Some("openid profile email"));
    let id = id_claims(&r);
    assert_eq!(id["preferred_username"], USERNAME);
    assert_eq!(id["email"], EMAIL);
    assert_eq!(id["email_verified"], false);
    let access = oauth::jwt_parts(r.str("access_token").expect("an access token")).1;
    assert_eq!(access["email"], EMAIL, "{access}");
    assert!(access["realm_access"]["roles"].is_array(), "{access}");
    assert_eq!(access["resource_access"]["account"]["roles"], serde_json::json!(["manage-account", "view-profile"]));
    assert_eq!(access["allowed-origins"], serde_json::json!(["https://app.example"]));
    let info = oauth::backchannel()
        .get(h.endpoint("userinfo"))
        .bearer_auth(r.str("access_token").unwrap())
        .send()
        .await
        .expect("userinfo");
    let info: serde_json::Value = info.json().await.expect("JSON");
    assert_eq!(info["email"], EMAIL, "{info}");

    // A realm may keep to OpenID Connect's own rule: only the scopes asked for release claims.
    let strict = password_realm().replace("signing_alg: RS256 }", "signing_alg: RS256, default_scopes: [] }");
    let h = Harness::start(db, &strict).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let r = password_grant(&h, script(), &credentials).await;
    r.assert_ok();
    assert_eq!(r.str("scope"), Some("openid"));
    let id = id_claims(&r);
    assert!(id.get("email").is_none() && id.get("preferred_username").is_none(), "{id}");
    let access = oauth::jwt_parts(r.str("access_token").unwrap()).1;
    assert!(access.get("realm_access").is_none() && access.get("allowed-origins").is_none(), "{access}");
});

db_test!(async fn refresh_tokens_are_jwts_an_app_can_read_but_only_their_hash_counts(db) {
    let h = start(db).await;
    let r = password_grant(&h, script(), &[("username", USERNAME), ("password", PASSWORD)]).await;
    r.assert_ok();
    let refresh = r.str("refresh_token").expect("a refresh token").to_string();
    let access = r.str("access_token").expect("an access token").to_string();
    let (header, claims) = oauth::jwt_parts(&refresh);
    assert_eq!(header["typ"], "rt+jwt", "{header}");
    assert_eq!(claims["typ"], "Refresh");
    assert_eq!(claims["azp"], SCRIPT);
    assert_eq!(claims["sub"], oauth::jwt_parts(&access).1["sub"]);
    assert_eq!(claims["sid"], oauth::jwt_parts(&access).1["sid"]);
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 30 * 60, "the realm's refresh_ttl");

    // Never an access token, nor an ID token hint.
    let info = oauth::backchannel().get(h.endpoint("userinfo")).bearer_auth(&refresh).send().await.expect("userinfo");
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED);
    // Introspected by its own client as a refresh token; another client learns nothing.
    let own = oauth::post_form(&h.endpoint("token/introspect"), script(), &[("token", &refresh)]).await;
    assert_eq!(own.body["active"], true, "{}", own.text);
    assert_eq!(own.body["token_type"], "refresh_token");
    let foreign = oauth::post_form(&h.endpoint("token/introspect"), oauth::web(), &[("token", &refresh)]).await;
    assert_eq!(foreign.body["active"], false, "{}", foreign.text);

    // A token with the same claims but not issued is nothing: only the stored hash counts.
    let mut parts: Vec<String> = refresh.split('.').map(String::from).collect();
    parts[2] = parts[2].chars().rev().collect();
    oauth::refresh(&h, script(), &parts.join("."))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // Rotation and reuse detection as before.
    let next = oauth::refresh(&h, script(), &refresh).await;
    next.assert_ok();
    oauth::refresh(&h, script(), &refresh).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    oauth::refresh(&h, script(), next.str("refresh_token").unwrap())
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    // Revocation by the refresh token ends its grant.
    let again = password_grant(&h, script(), &[("username", USERNAME), ("password", PASSWORD)]).await;
    let token = again.str("refresh_token").unwrap().to_string();
    let revoked = oauth::post_form(&h.endpoint("revoke"), script(), &[("token", &token)]).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    oauth::refresh(&h, script(), &token).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
});

db_test!(async fn keycloak_js_frames_check_cookies_and_the_session_for_the_clients_origins_only(db) {
    let h = start(db).await;
    let oidc = h.endpoint("");
    let get = |browser: &reqwest::Client, path: &str| browser.get(format!("{oidc}{path}")).send();

    // The third-party cookie check: a test cookie like the SSO cookie, then the answer.
    let browser = h.new_browser();
    let step1 = get(&browser, "3p-cookies/step1.html").await.expect("step 1");
    assert_eq!(step1.status(), StatusCode::FOUND);
    assert_eq!(step1.headers()["location"], "step2.html");
    let set = step1.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("GATEHOUSE_3P_CHECK=") && set.contains("SameSite=Lax") && set.contains("HttpOnly"), "{set}");
    let step2 = get(&browser, "3p-cookies/step2.html").await.expect("step 2");
    let csp = step2.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-ancestors https://app.example;"), "{csp}");
    assert!(step2.headers().get("x-frame-options").is_none(), "framable by the web origins");
    assert!(step2.text().await.unwrap().contains("postMessage(\"supported\""));
    let without = get(&h.new_browser(), "3p-cookies/step2.html").await.expect("step 2");
    assert!(without.text().await.unwrap().contains("postMessage(\"unsupported\""));
    // Other pages stay unframable.
    let discovery = h.new_browser().get(format!("{}/.well-known/openid-configuration", h.issuer())).send().await.unwrap();
    assert_eq!(discovery.headers()["x-frame-options"], "DENY");

    // The session check answers only an origin the client lists.
    let frame = get(&browser, "login-status-iframe.html").await.expect("the frame");
    let csp = frame.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("connect-src 'self'") && csp.contains("frame-ancestors https://app.example;"), "{csp}");
    for (query, status) in [
        ("client_id=script&origin=https://app.example", StatusCode::NO_CONTENT),
        ("client_id=script&origin=https://evil.example", StatusCode::FORBIDDEN),
        ("client_id=web&origin=https://app.example", StatusCode::FORBIDDEN),
        ("client_id=nobody&origin=https://app.example", StatusCode::FORBIDDEN),
    ] {
        let r = get(&browser, &format!("login-status-iframe.html/init?{query}")).await.unwrap();
        assert_eq!(r.status(), status, "{query}");
    }

    // `unchanged` while the browser's session is the one the app's tokens name.
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    let sid = oauth::jwt_parts(tokens.str("access_token").unwrap()).1["sid"].as_str().unwrap().to_string();
    let check = |browser: &reqwest::Client, sid: &str| {
        browser
            .get(format!("{oidc}login-status-iframe.html/check?client_id=script&origin=https://app.example&sid={sid}"))
            .send()
    };
    let answer = |r: reqwest::Response| async move { r.text().await.unwrap() };
    assert_eq!(answer(check(&h.browser, &sid).await.unwrap()).await, "unchanged");
    assert_eq!(answer(check(&h.browser, "another-session").await.unwrap()).await, "changed");
    assert_eq!(answer(check(&h.new_browser(), "").await.unwrap()).await, "unchanged");
    assert_eq!(answer(check(&h.new_browser(), &sid).await.unwrap()).await, "changed");
    let foreign = h.browser
        .get(format!("{oidc}login-status-iframe.html/check?client_id=script&origin=https://evil.example&sid={sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    // Signed out elsewhere: the app hears `changed`.
    h.sql("UPDATE sso_sessions SET ended_at = 1").await;
    assert_eq!(answer(check(&h.browser, &sid).await.unwrap()).await, "changed");
});
