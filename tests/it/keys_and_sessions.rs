//! Signing keys and SSO sessions: key rotation (published, used, seen by other nodes), the
//! ES256 and EdDSA realms validated by a real relying party, SSO idle and maximum lifetimes,
//! and the refusals of RP-initiated logout.

use crate::support::browser::{self, base_of, query};
use crate::support::oauth::{self, AuthRequest, JsonResponse};
use crate::support::rp::{self, RpHttp, chain};
use crate::support::*;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreResponseType, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

// ---------------------------------------------------------------------------------------------
// Helpers of this file.

/// The `kid`s a JWKS URL publishes, sorted.
async fn jwks_kids(url: &str) -> Vec<String> {
    let body: Value = oauth::backchannel()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("JWKS at {url} is not JSON: {e}"));
    let mut kids: Vec<String> = body["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("JWKS without keys: {body}"))
        .iter()
        .map(|k| {
            k["kid"]
                .as_str()
                .unwrap_or_else(|| panic!("JWK without kid: {k}"))
                .to_string()
        })
        .collect();
    kids.sort();
    kids
}

/// The `kid` in a JWT's header.
fn kid_of(token: &str) -> String {
    let (header, _) = oauth::jwt_parts(token);
    header["kid"]
        .as_str()
        .unwrap_or_else(|| panic!("JWT without kid: {header}"))
        .to_string()
}

/// Starts another node on the harness's database whose periodic key refresh will not run
/// during the test, so any key it learns after start-up it learns on demand.
async fn start_lazy_node(h: &Harness) -> gatehouse::app::RunningServer {
    let mut settings = h.settings.clone();
    settings.public_url = h.url.clone();
    settings.key_refresh_interval_secs = 3600;
    gatehouse::app::start(settings, true)
        .await
        .unwrap_or_else(|e| panic!("another node did not start: {e}"))
}

/// `h.endpoint(path)` on another node.
fn on_node(h: &Harness, node: &gatehouse::app::RunningServer, path: &str) -> String {
    h.endpoint(path).replacen(&h.url, &format!("http://{}", node.addr), 1)
}

/// GET userinfo at `url` with a Bearer token.
async fn userinfo_at(url: &str, access_token: &str) -> JsonResponse {
    let response = oauth::backchannel()
        .get(url)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    JsonResponse {
        status,
        headers,
        body,
        text,
    }
}

/// Signs `username` in with `browser` for the `web` client and redeems the code.
async fn sign_in_and_redeem(h: &Harness, browser: &reqwest::Client, username: &str, password: &str) -> JsonResponse {
    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let location = browser::sign_in_if_asked(browser, &request.url(h), username, password).await;
    let code = oauth::code_from(h, &request, &location);
    let tokens = oauth::exchange_code(h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    tokens.assert_ok();
    tokens
}

/// `prompt=none` with this browser; returns where the provider sends it (the app's URI).
async fn silent(h: &Harness, browser: &reqwest::Client) -> (AuthRequest, Url) {
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("prompt", "none");
    let location = browser::redirect_away(browser, &request.url(h)).await;
    (request, location)
}

/// Asserts the browser still has a live SSO session: `prompt=none` returns a code.
async fn assert_session_alive(h: &Harness, browser: &reqwest::Client, why: &str) {
    let (request, location) = silent(h, browser).await;
    assert_eq!(
        query(&location, "error"),
        None,
        "{why}: the session is gone: {location}"
    );
    oauth::code_from(h, &request, &location);
}

/// Asserts the browser's SSO session is over: `prompt=none` answers `login_required`.
async fn assert_login_required(h: &Harness, browser: &reqwest::Client, why: &str) {
    let (request, location) = silent(h, browser).await;
    assert_eq!(base_of(&location), WEB_REDIRECT, "{why}: {location}");
    assert_eq!(
        query(&location, "error").as_deref(),
        Some("login_required"),
        "{why}: prompt=none did not answer login_required: {location}"
    );
    assert_eq!(
        query(&location, "state").as_deref(),
        Some(request.state.as_str()),
        "{why}: {location}"
    );
}

/// The logout endpoint's URL with these query parameters.
fn logout_url(h: &Harness, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&h.endpoint("logout")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

// ---------------------------------------------------------------------------------------------
// Key rotation.

db_test!(async fn rotated_key_is_published_used_and_reaches_every_node(db) {
    let h = start_with_user(db).await;
    // Two more nodes, started before the rotation and never refreshing on their own.
    let on_demand = start_lazy_node(&h).await;
    let refreshed = start_lazy_node(&h).await;

    let before = sign_in_and_redeem(&h, &h.browser, USERNAME, PASSWORD).await;
    let old_access = before.str("access_token").unwrap().to_string();
    let old_refresh = before.str("refresh_token").expect("a refresh token").to_string();
    let old_kid = kid_of(&old_access);
    assert_eq!(jwks_kids(&h.endpoint("certs")).await, vec![old_kid.clone()], "one key before rotation");

    // Rotate, as `gatehouse keys rotate` does, then let this node pick it up.
    let alg = h.state.realm(&h.realm).unwrap().realm.tokens.signing_alg;
    let new_kid = gatehouse::keyring::rotate(&h.state.store, &h.state.master_key, &h.realm, alg)
        .await
        .unwrap_or_else(|e| panic!("rotation failed: {e}"));
    assert_ne!(new_kid, old_kid);
    h.state.refresh_keys().await;

    // Both keys are published: the old one until its tokens have expired.
    let mut both = vec![old_kid.clone(), new_kid.clone()];
    both.sort();
    assert_eq!(jwks_kids(&h.endpoint("certs")).await, both, "JWKS after rotation");

    // A token signed with the old key still works.
    oauth::userinfo(&h, &old_access).await.assert_ok();

    // New tokens are signed with the new key: by refresh …
    let after = oauth::refresh(&h, oauth::web(), &old_refresh).await;
    after.assert_ok();
    let new_access = after.str("access_token").unwrap().to_string();
    assert_eq!(kid_of(&new_access), new_kid, "a refreshed access token is signed with the old key");
    if let Some(id_token) = after.str("id_token") {
        assert_eq!(kid_of(id_token), new_kid, "a refreshed ID token is signed with the old key");
    }
    oauth::userinfo(&h, &new_access).await.assert_ok();

    // … and by a new sign-in, whose ID token a relying party validates against the JWKS.
    let http = RpHttp::new();
    let metadata = rp::discover(&http, &h.issuer()).await;
    let client = rp::client(&metadata, WEB_CLIENT, Some(WEB_SECRET), WEB_REDIRECT);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, nonce) = client
        .authorize_url(AuthenticationFlow::<CoreResponseType>::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let location = browser::sign_in_if_asked(&h.browser, auth_url.as_str(), USERNAME, PASSWORD).await;
    let code = query(&location, "code").unwrap_or_else(|| panic!("no code: {location}"));
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {}", chain(&e)));
    let id_token = tokens.id_token().expect("an ID token");
    assert_eq!(kid_of(&id_token.to_string()), new_kid);
    id_token
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap_or_else(|e| panic!("the RP rejected an ID token of the new key: {}", chain(&e)));

    // A node that has not refreshed yet accepts the new key's token: it reloads on an unknown kid.
    let r = userinfo_at(&on_node(&h, &on_demand, "userinfo"), &new_access).await;
    r.assert_ok();
    assert_eq!(r.str("preferred_username"), Some(USERNAME), "{}", r.text);
    userinfo_at(&on_node(&h, &on_demand, "userinfo"), &old_access).await.assert_ok();
    assert_eq!(jwks_kids(&on_node(&h, &on_demand, "certs")).await, both, "JWKS after the on-demand reload");

    // A node that refreshes publishes both keys.
    refreshed.state.refresh_keys().await;
    assert_eq!(jwks_kids(&on_node(&h, &refreshed, "certs")).await, both, "JWKS of a refreshed node");
    userinfo_at(&on_node(&h, &refreshed, "userinfo"), &new_access).await.assert_ok();

    on_demand.stop().await;
    refreshed.stop().await;
});

// ---------------------------------------------------------------------------------------------
// ES256 and EdDSA realms.

/// The full code flow on a realm signing with `alg`, validated by the `openidconnect` RP
/// configured to accept exactly that algorithm.
async fn code_flow_signed_with(db: Db, alg: &str, jws: CoreJwsSigningAlgorithm, kty: &str, crv: &str) {
    let realm = REALM.replace("signing_alg: RS256", &format!("signing_alg: {alg}"));
    assert_ne!(realm, REALM, "the standard realm no longer says signing_alg: RS256");
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;

    // The JWKS holds a key of the right type, and discovery names the algorithm first.
    let jwks: Value = oauth::backchannel()
        .get(h.endpoint("certs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["kty"], kty, "{jwks}");
    assert_eq!(keys[0]["crv"], crv, "{jwks}");
    assert!(keys[0].get("d").is_none(), "the JWKS publishes a private key: {jwks}");

    let http = RpHttp::new();
    let metadata = rp::discover(&http, &h.issuer()).await;
    let algs: Vec<CoreJwsSigningAlgorithm> = metadata.id_token_signing_alg_values_supported().to_vec();
    assert_eq!(
        algs.first(),
        Some(&jws),
        "discovery does not name {alg} first: {algs:?}"
    );
    let client = rp::client(&metadata, WEB_CLIENT, Some(WEB_SECRET), WEB_REDIRECT);

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let location = browser::sign_in(&h.browser, auth_url.as_str(), USERNAME, PASSWORD).await;
    assert_eq!(base_of(&location), WEB_REDIRECT, "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some(csrf.secret().as_str()));
    let code = query(&location, "code").unwrap_or_else(|| panic!("no code: {location}"));
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("{alg}: code exchange failed: {}", chain(&e)));
    let id_token = tokens.id_token().expect("an ID token");

    // Signed with the realm's algorithm: an RP that only accepts RS256 refuses it …
    let (header, _) = oauth::jwt_parts(&id_token.to_string());
    assert_eq!(header["alg"], alg, "{header}");
    let rs256_only = client
        .id_token_verifier()
        .set_allowed_algs([CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]);
    assert!(
        id_token.claims(&rs256_only, &nonce).is_err(),
        "an RS256-only verifier accepted an {alg} ID token"
    );
    // … and one that accepts exactly this algorithm validates signature, issuer, audience,
    // nonce and expiry.
    let id_verifier = client.id_token_verifier().set_allowed_algs([jws.clone()]);
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .unwrap_or_else(|e| panic!("{alg}: the RP rejected the ID token: {}", chain(&e)));
    assert_eq!(claims.issuer().as_str(), h.issuer());
    assert!(claims.audiences().iter().any(|a| a.as_str() == WEB_CLIENT));
    if let Some(expected) = claims.access_token_hash() {
        let signing_alg = id_token.signing_alg().unwrap();
        let key = id_token.signing_key(&id_verifier).unwrap();
        let actual = AccessTokenHash::from_token(tokens.access_token(), signing_alg, key)
            .unwrap_or_else(|e| panic!("{alg}: cannot hash the access token: {e}"));
        assert_eq!(&actual, expected, "{alg}: at_hash does not match the access token");
    }
    let (at_header, _) = oauth::jwt_parts(tokens.access_token().secret());
    assert_eq!(at_header["alg"], alg, "{at_header}");

    // Userinfo accepts the access token.
    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("{alg}: userinfo failed: {}", chain(&e)));
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some(EMAIL));
    assert_eq!(userinfo.preferred_username().map(|u| u.as_str()), Some(USERNAME));

    // A refreshed access token of the same algorithm works too.
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("{alg}: refresh failed: {}", chain(&e)));
    oauth::userinfo(&h, refreshed.access_token().secret()).await.assert_ok();
}

db_test!(async fn es256_realm_code_flow_validates(db) {
    code_flow_signed_with(db, "ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256, "EC", "P-256").await;
});

db_test!(async fn eddsa_realm_code_flow_validates(db) {
    code_flow_signed_with(db, "EdDSA", CoreJwsSigningAlgorithm::EdDsa, "OKP", "Ed25519").await;
});

// ---------------------------------------------------------------------------------------------
// SSO session lifetimes.

db_test!(async fn idle_or_too_old_sso_session_needs_a_new_sign_in(db) {
    let h = start_with_user(db).await;
    for (why, statement) in [
        ("idle longer than sso_idle", "UPDATE sso_sessions SET last_seen_at = last_seen_at - 100000"),
        ("past sso_max", "UPDATE sso_sessions SET expires_at = 0"),
    ] {
        let browser = h.new_browser();
        let tokens = sign_in_and_redeem(&h, &browser, USERNAME, PASSWORD).await;
        let refresh = tokens.str("refresh_token").expect("a refresh token").to_string();
        assert_session_alive(&h, &browser, why).await;

        h.sql(statement).await;

        assert_login_required(&h, &browser, why).await;
        oauth::refresh(&h, oauth::web(), &refresh)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
        // Without prompt=none the browser is asked to sign in again.
        let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
        browser::open_login_page(&browser, &request.url(&h)).await;
    }
});

// ---------------------------------------------------------------------------------------------
// RP-initiated logout refusals.

db_test!(async fn logout_to_an_unregistered_uri_is_refused_without_redirect(db) {
    let h = start_with_user(db).await;
    let tokens = sign_in_and_redeem(&h, &h.browser, USERNAME, PASSWORD).await;
    let id_token = tokens.str("id_token").expect("an ID token").to_string();

    let attempts: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "unregistered URI with the hint",
            vec![
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", "http://127.0.0.1:9000/elsewhere"),
                ("state", "s1"),
            ],
        ),
        (
            "unregistered URI with client_id",
            vec![
                ("client_id", WEB_CLIENT),
                ("post_logout_redirect_uri", "https://evil.example/"),
                ("state", "s2"),
            ],
        ),
        (
            "a redirect URI that is not a post-logout URI",
            vec![
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", WEB_REDIRECT),
            ],
        ),
    ];
    for (why, params) in attempts {
        let page = browser::get(&h.browser, &logout_url(&h, &params)).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{why}: {}", page.describe());
        assert!(page.location().is_none(), "{why}: redirected: {}", page.describe());
        let content_type = page.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("text/html"), "{why}: not a page: {content_type}");
        // The refused request did not end the session.
        assert_session_alive(&h, &h.browser, why).await;
    }
});

db_test!(async fn logout_with_another_users_hint_asks_and_needs_csrf(db) {
    let h = start_with_user(db).await;
    h.add_user("bob", "bob@example.com", "Bob-Has-A-Long-Pass-7").await;
    sign_in_and_redeem(&h, &h.browser, USERNAME, PASSWORD).await;
    let bob_browser = h.new_browser();
    let bob_tokens = sign_in_and_redeem(&h, &bob_browser, "bob", "Bob-Has-A-Long-Pass-7").await;
    let bob_id_token = bob_tokens.str("id_token").expect("bob's ID token").to_string();

    // Alice's browser brings Bob's ID token: Alice is asked, not signed out.
    let url = logout_url(
        &h,
        &[
            ("id_token_hint", bob_id_token.as_str()),
            ("post_logout_redirect_uri", WEB_POST_LOGOUT),
            ("state", "bye-42"),
        ],
    );
    let server = Url::parse(&url).unwrap();
    let first = browser::get(&h.browser, &url).await;
    let page = browser::follow_on_server(&h.browser, first, &server).await;
    assert_eq!(page.status, StatusCode::OK, "no confirmation page: {}", page.describe());
    let form = browser::parse_post_form(&page.body, &page.url)
        .unwrap_or_else(|| panic!("the confirmation page has no form: {}", page.describe()));
    assert!(form.get("csrf").is_some_and(|c| !c.is_empty()), "no csrf field: {form:?}");
    assert_session_alive(&h, &h.browser, "after the confirmation page was shown").await;
    assert_session_alive(&h, &bob_browser, "bob, after alice saw the confirmation page").await;

    // The form without a valid CSRF token does not sign out.
    let mut forged = form.clone();
    forged.set("csrf", "forged-0000000000000000000000000000000000000000");
    let mut missing = form.clone();
    missing.fields.retain(|(name, _)| name != "csrf");
    for (why, attempt) in [("a wrong csrf", &forged), ("no csrf", &missing)] {
        let answer = attempt.submit(&h.browser).await;
        let answer = browser::follow_on_server(&h.browser, answer, &server).await;
        let went_to_app = answer
            .location()
            .is_some_and(|l| base_of(&l) == WEB_POST_LOGOUT);
        assert!(!went_to_app, "{why}: logged out and redirected: {}", answer.describe());
        assert_session_alive(&h, &h.browser, why).await;
    }

    // Confirming with the form signs Alice out and returns to the app with the state.
    let confirmed = form.submit(&h.browser).await;
    let confirmed = browser::follow_on_server(&h.browser, confirmed, &server).await;
    assert!(confirmed.is_redirect(), "confirming did not redirect: {}", confirmed.describe());
    let back = confirmed.location().unwrap();
    assert_eq!(base_of(&back), WEB_POST_LOGOUT, "{back}");
    assert_eq!(query(&back, "state").as_deref(), Some("bye-42"), "{back}");
    assert_login_required(&h, &h.browser, "alice after confirming logout").await;
    // Bob's hint, confirmed in Alice's browser, never ends Bob's own session.
    assert_session_alive(&h, &bob_browser, "bob, after alice confirmed her logout").await;
});

db_test!(async fn a_hint_from_a_browser_without_a_session_ends_nothing_unconfirmed(db) {
    let h = start_with_user(db).await;
    let tokens = sign_in_and_redeem(&h, &h.browser, USERNAME, PASSWORD).await;
    let id_token = tokens.str("id_token").expect("an ID token").to_string();

    // The same ID token, expired (signed with the realm's key, as an old leaked one would be):
    // even confirmed, from a browser without a session, it ends nothing.
    let (_, mut claims) = oauth::jwt_parts(&id_token);
    claims["exp"] = Value::from(claims["iat"].as_i64().unwrap() - 60);
    let key = h.state.keys.active(&h.realm).expect("a signing key");
    let expired = key.sign_jwt("JWT", &claims).expect("sign");
    let stranger = h.new_browser();
    let url = logout_url(&h, &[("id_token_hint", expired.as_str())]);
    let server = Url::parse(&url).unwrap();
    let first = browser::get(&stranger, &url).await;
    let page = browser::follow_on_server(&stranger, first, &server).await;
    let form = browser::parse_post_form(&page.body, &page.url)
        .unwrap_or_else(|| panic!("no confirmation for an expired hint: {}", page.describe()));
    let answer = form.submit(&stranger).await;
    browser::follow_on_server(&stranger, answer, &server).await;
    assert_session_alive(&h, &h.browser, "after an expired hint was confirmed elsewhere").await;

    // Someone else's browser (no session cookie) brings Alice's live ID token: asked first.
    let url = logout_url(&h, &[("id_token_hint", id_token.as_str())]);
    let server = Url::parse(&url).unwrap();
    let first = browser::get(&stranger, &url).await;
    let page = browser::follow_on_server(&stranger, first, &server).await;
    assert_eq!(page.status, StatusCode::OK, "no confirmation page: {}", page.describe());
    let form = browser::parse_post_form(&page.body, &page.url)
        .unwrap_or_else(|| panic!("the confirmation page has no form: {}", page.describe()));
    assert_session_alive(&h, &h.browser, "after a hint from a browser without a session").await;

    // A forged confirmation ends nothing either.
    let mut forged = form.clone();
    forged.set("csrf", "forged-0000000000000000000000000000000000000000");
    let answer = forged.submit(&stranger).await;
    browser::follow_on_server(&stranger, answer, &server).await;
    assert_session_alive(&h, &h.browser, "after a forged confirmation").await;

    // Confirmed, the unexpired hint ends the session it names (an app signing its user out
    // from another browser).
    let answer = form.submit(&stranger).await;
    browser::follow_on_server(&stranger, answer, &server).await;
    assert_login_required(&h, &h.browser, "after the confirmed logout").await;
});
