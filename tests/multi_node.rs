//! Two nodes on one database serve the same users: nothing that must be shared lives only in
//! one process's memory (sessions, codes, refresh-token families, revocations, signing keys).

#[macro_use]
mod support;

use reqwest::StatusCode;
use serde_json::Value;
use support::browser;
use support::oauth::{self, AuthRequest};
use support::*;

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
