//! Two nodes on one database serve the same users: nothing that must be shared lives only in
//! one process's memory (sessions, codes, refresh-token families, revocations, signing keys).

use crate::support::browser;
use crate::support::oauth::{self, AuthRequest};
use crate::support::*;
use reqwest::StatusCode;
use serde_json::Value;

db_test!(async fn a_second_node_continues_what_the_first_began(db) {
    let h = start_with_user(db).await;
    let node = h.start_another_node().await;
    let b = format!("http://{}", node.addr);
    let on_b = |path: &str| h.endpoint(path).replacen(&h.url, &b, 1);

    // Both nodes publish the same keys.
    let jwks = |url: String| async move {
        let body: Value = oauth::backchannel().get(url).send().await.unwrap().json().await.unwrap();
        let mut kids: Vec<String> =
            body["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect();
        kids.sort();
        kids
    };
    assert_eq!(jwks(h.endpoint("certs")).await, jwks(on_b("certs")).await);

    // Signed in on A, the code is redeemed on B, and B's tokens work on A.
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let params = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let tokens = oauth::post_form(&on_b("token"), oauth::web(), &params).await;
    tokens.assert_ok();
    let access = tokens.str("access_token").unwrap().to_string();
    let refresh = tokens.str("refresh_token").unwrap().to_string();
    oauth::userinfo(&h, &access).await.assert_ok();

    // Rotation on A, reuse detected on B, family revoked everywhere.
    let rotated = oauth::refresh(&h, oauth::web(), &refresh).await;
    rotated.assert_ok();
    let new_refresh = rotated.str("refresh_token").unwrap().to_string();
    let reuse = oauth::post_form(&on_b("token"), oauth::web(), &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    reuse.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    oauth::refresh(&h, oauth::web(), &new_refresh).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // A code redeemed on B is spent on A too (checked last: reuse revokes its tokens).
    oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // A revocation on B is seen by A's userinfo.
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let fresh = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    let fresh_access = fresh.str("access_token").unwrap().to_string();
    oauth::userinfo(&h, &fresh_access).await.assert_ok();
    oauth::post_form(&on_b("revoke"), oauth::web(), &[("token", &fresh_access)]).await.assert_ok();
    oauth::assert_userinfo_rejects(&h, &fresh_access, "revoked on the other node").await;

    // The SSO session made on A signs the browser in silently on B.
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("prompt", "none");
    let url_on_b = request.url(&h).replacen(&h.url, &b, 1);
    let location = browser::redirect_away(&h.browser, &url_on_b).await;
    oauth::code_from(&h, &request, &location);

    node.stop().await;
});

db_test!(async fn a_sign_in_begun_on_one_node_finishes_on_another(db) {
    let h = start_with_user(db).await;
    let node = h.start_another_node().await;
    let b = format!("http://{}", node.addr);
    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    // The login page comes from A; the form is posted to B (same cookie, same path).
    let (_, mut form) = browser::open_login_page(&h.browser, &request.url(&h)).await;
    form.set("username", USERNAME);
    form.set("password", PASSWORD);
    form.action = url::Url::parse(&form.action.as_str().replacen(&h.url, &b, 1)).unwrap();
    let done = form.submit(&h.browser).await;
    let location = done.location().unwrap_or_else(|| panic!("node B did not finish the sign-in: {}", done.describe()));
    let code = oauth::code_from(&h, &request, &location);
    oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await.assert_ok();
    node.stop().await;
});

db_test!(async fn an_expired_sign_in_is_refused_with_a_message(db) {
    let h = start_with_user(db).await;
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let (_, mut form) = browser::open_login_page(&h.browser, &request.url(&h)).await;
    // The authentication session outlives its lifetime (time moved in the database).
    h.sql("UPDATE auth_sessions SET expires_at = 0").await;
    form.set("username", USERNAME);
    form.set("password", PASSWORD);
    let page = form.submit(&h.browser).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.describe());
    assert!(page.location().is_none(), "an expired sign-in must not reach the app");
    assert!(page.body.contains("took too long"), "{}", page.body);
    // Housekeeping removes it.
    assert_eq!(h.query("SELECT id FROM auth_sessions").await.len(), 1);
    let purged = h.state.store.purge_expired().await.expect("purge");
    assert!(purged >= 1, "{purged}");
    assert!(h.query("SELECT id FROM auth_sessions").await.is_empty());
});
