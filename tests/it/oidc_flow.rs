//! The happy path, driven by a real relying party (the `openidconnect` crate): discovery,
//! authorization code + PKCE through the login form, ID token validation against the JWKS,
//! userinfo, refresh, introspection, revocation, RP-initiated logout, and client credentials.

use crate::support::browser::{self, base_of, query};
use crate::support::oauth::{self, AuthRequest};
use crate::support::rp::{self, RpHttp, chain};
use crate::support::*;
use openidconnect::core::CoreResponseType;
use openidconnect::core::CoreUserInfoClaims;
use openidconnect::{
    AccessTokenHash, AuthType, AuthenticationFlow, AuthorizationCode, CsrfToken, EndSessionUrl, JsonWebKey,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PostLogoutRedirectUrl, Scope,
    TokenIntrospectionResponse, TokenResponse,
};
use reqwest::StatusCode;

db_test!(async fn discovery_describes_the_provider(db) {
    let h = Harness::start(db, REALM).await;
    let http = RpHttp::new();
    let metadata = rp::discover(&http, &h.issuer()).await;
    assert_eq!(metadata.issuer().as_str(), h.issuer());
    assert_eq!(metadata.authorization_endpoint().as_str(), h.endpoint("auth"));
    assert_eq!(metadata.token_endpoint().map(|u| u.as_str().to_string()), Some(h.endpoint("token")));
    assert_eq!(metadata.userinfo_endpoint().map(|u| u.as_str().to_string()), Some(h.endpoint("userinfo")));
    assert_eq!(metadata.jwks_uri().as_str(), h.endpoint("certs"));
    let extra = metadata.additional_metadata();
    assert_eq!(extra.end_session_endpoint, h.endpoint("logout"));
    assert_eq!(extra.revocation_endpoint, h.endpoint("revoke"));
    assert_eq!(extra.introspection_endpoint, h.endpoint("token/introspect"));
    assert_eq!(extra.code_challenge_methods_supported, vec!["S256".to_string()], "plain must not be offered");
    let methods: Vec<String> = metadata
        .token_endpoint_auth_methods_supported()
        .map(|m| m.iter().map(|m| m.as_ref().to_string()).collect())
        .unwrap_or_default();
    for m in ["client_secret_basic", "client_secret_post"] {
        assert!(methods.contains(&m.to_string()), "token_endpoint_auth_methods_supported lacks {m}: {methods:?}");
    }
    let algs: Vec<String> =
        metadata.id_token_signing_alg_values_supported().iter().map(|a| serde_json::to_value(a).unwrap().as_str().unwrap().to_string()).collect();
    assert!(algs.contains(&"RS256".to_string()), "{algs:?}");
    // The JWKS was fetched by discovery: one usable key at least, each with a kid.
    let keys = metadata.jwks().keys();
    assert!(!keys.is_empty(), "the JWKS is empty");
    assert!(keys.iter().all(|k| k.key_id().is_some()), "a JWK without kid");
    // The raw document carries the RFC 9207 flag too.
    let raw: serde_json::Value = oauth::backchannel()
        .get(format!("{}/.well-known/openid-configuration", h.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["authorization_response_iss_parameter_supported"], serde_json::json!(true), "{raw}");
});

db_test!(async fn code_flow_with_pkce_userinfo_refresh_introspect_revoke_logout(db) {
    let h = start_with_user(db).await;
    let http = RpHttp::new();
    let metadata = rp::discover(&http, &h.issuer()).await;
    let client = rp::client(&metadata, WEB_CLIENT, Some(WEB_SECRET), WEB_REDIRECT);

    // Authorization request with S256 PKCE, state and nonce.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(AuthenticationFlow::<CoreResponseType>::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let location = browser::sign_in(&h.browser, auth_url.as_str(), USERNAME, PASSWORD).await;
    assert_eq!(base_of(&location), WEB_REDIRECT, "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some(csrf.secret().as_str()));
    assert_eq!(query(&location, "iss"), Some(h.issuer()), "RFC 9207 iss: {location}");
    let code = query(&location, "code").unwrap_or_else(|| panic!("no code: {location}"));

    // Code exchange; the ID token is checked against the JWKS, issuer, audience and nonce.
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint known")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {}", chain(&e)));
    let id_token = tokens.id_token().expect("an ID token");
    let id_verifier = client.id_token_verifier();
    let claims = id_token.claims(&id_verifier, &nonce).unwrap_or_else(|e| panic!("ID token rejected: {}", chain(&e)));
    assert_eq!(claims.issuer().as_str(), h.issuer());
    assert!(claims.audiences().iter().any(|a| a.as_str() == WEB_CLIENT));
    assert_eq!(claims.nonce().map(|n| n.secret().as_str()), Some(nonce.secret().as_str()));
    assert!(claims.auth_time().is_some(), "auth_time missing");
    // Profile and email claims come from userinfo (OIDC Core 5.4); the ID token may carry them.
    if let Some(email) = claims.email() {
        assert_eq!(email.as_str(), EMAIL);
    }
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token.signing_alg().unwrap();
        let key = id_token.signing_key(&id_verifier).unwrap();
        let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key).unwrap();
        assert_eq!(&actual, expected, "at_hash does not match the access token");
    }
    // Claims the issue requires on both JWTs, and the kid in the header.
    let (header, payload) = oauth::jwt_parts(&id_token.to_string());
    assert!(header["kid"].is_string(), "{header}");
    for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "sid", "auth_time", "nonce"] {
        assert!(!payload[claim].is_null(), "ID token lacks {claim}: {payload}");
    }
    let (at_header, at_payload) = oauth::jwt_parts(tokens.access_token().secret());
    assert!(at_header["kid"].is_string(), "{at_header}");
    for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "sid"] {
        assert!(!at_payload[claim].is_null(), "access token lacks {claim}: {at_payload}");
    }
    assert_eq!(at_payload["sub"], payload["sub"]);
    assert_eq!(at_payload["sid"], payload["sid"]);
    assert!(tokens.refresh_token().is_some(), "no refresh token");

    // Userinfo with the access token: same subject, profile and email claims.
    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .expect("userinfo endpoint known")
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("userinfo failed: {}", chain(&e)));
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some(EMAIL));
    assert_eq!(userinfo.preferred_username().map(|u| u.as_str()), Some(USERNAME));

    // Refresh: a new access token and a rotated refresh token.
    let first_refresh = tokens.refresh_token().unwrap().clone();
    let refreshed = client
        .exchange_refresh_token(&first_refresh)
        .expect("token endpoint known")
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("refresh failed: {}", chain(&e)));
    let second_refresh = refreshed.refresh_token().expect("a rotated refresh token").clone();
    assert_ne!(second_refresh.secret(), first_refresh.secret(), "the refresh token was not rotated");
    assert_ne!(refreshed.access_token().secret(), tokens.access_token().secret());
    let (_, refreshed_payload) = oauth::jwt_parts(refreshed.access_token().secret());
    assert_eq!(refreshed_payload["sub"], payload["sub"]);

    // Introspection (client-authenticated): active, with subject and client.
    let info = client
        .introspect(refreshed.access_token())
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("introspection failed: {}", chain(&e)));
    assert!(info.active(), "a fresh access token is inactive");
    assert_eq!(info.sub(), payload["sub"].as_str());
    assert_eq!(info.client_id().map(|c| c.as_str()), Some(WEB_CLIENT));
    let refresh_info = client.introspect(&openidconnect::AccessToken::new(second_refresh.secret().clone()))
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("introspection of a refresh token failed: {}", chain(&e)));
    assert!(refresh_info.active(), "the current refresh token introspects as inactive");

    // Revocation (RFC 7009) of the access token: introspection says inactive, userinfo refuses
    // it. (`oauth2` refuses to revoke over plain http, as RFC 7009 asks of clients, so this call
    // is made on the wire, authenticated like the RP.)
    oauth::revoke(&h, oauth::web(), refreshed.access_token().secret(), Some("access_token")).await;
    let info = client.introspect(refreshed.access_token()).request_async(&http).await.unwrap();
    assert!(!info.active(), "a revoked access token is still active");
    oauth::assert_userinfo_rejects(&h, refreshed.access_token().secret(), "revoked access token").await;

    // Revocation of the refresh token: it can no longer be used.
    oauth::revoke(&h, oauth::web(), second_refresh.secret(), None).await;
    oauth::refresh(&h, oauth::web(), second_refresh.secret())
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");

    // The SSO session signs the user in again without a form (prompt=none succeeds) …
    let (silent, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let silent = silent.with("prompt", "none");
    let location = browser::redirect_away(&h.browser, &silent.url(&h)).await;
    oauth::code_from(&h, &silent, &location);

    // … until RP-initiated logout, which returns to the registered URI with the state …
    let end_session = EndSessionUrl::new(metadata.additional_metadata().end_session_endpoint.clone()).unwrap();
    let logout_url = LogoutRequest::from(end_session)
        .set_id_token_hint(id_token)
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(WEB_POST_LOGOUT.into()).unwrap())
        .set_state(CsrfToken::new("bye-123".into()))
        .http_get_url();
    let back = logout(&h.browser, logout_url.as_str()).await;
    assert_eq!(base_of(&back), WEB_POST_LOGOUT, "{back}");
    assert_eq!(query(&back, "state").as_deref(), Some("bye-123"), "{back}");

    // … and ends the SSO session: prompt=none now answers login_required.
    let (silent, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let silent = silent.with("prompt", "none");
    let location = browser::redirect_away(&h.browser, &silent.url(&h)).await;
    assert_eq!(base_of(&location), WEB_REDIRECT, "{location}");
    assert_eq!(query(&location, "error").as_deref(), Some("login_required"), "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some(silent.state.as_str()));
});

/// Opens the logout URL like a browser; if the provider asks for confirmation, confirms.
async fn logout(browser_client: &reqwest::Client, url: &str) -> url::Url {
    let server = url::Url::parse(url).unwrap();
    let first = browser::get(browser_client, url).await;
    let page = browser::follow_on_server(browser_client, first, &server).await;
    let page = if page.status == StatusCode::OK {
        let form = browser::parse_post_form(&page.body, &page.url)
            .unwrap_or_else(|| panic!("logout neither redirected nor asked to confirm: {}", page.describe()));
        let confirmed = form.submit(browser_client).await;
        browser::follow_on_server(browser_client, confirmed, &server).await
    } else {
        page
    };
    assert!(page.is_redirect(), "logout did not redirect: {}", page.describe());
    page.location().unwrap()
}

db_test!(async fn public_client_signs_in_with_pkce_and_no_secret(db) {
    let h = start_with_user(db).await;
    let http = RpHttp::new();
    let metadata = rp::discover(&http, &h.issuer()).await;
    let client = rp::client(&metadata, SPA_CLIENT, None, SPA_REDIRECT).set_auth_type(AuthType::RequestBody);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(AuthenticationFlow::<CoreResponseType>::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let location = browser::sign_in(&h.browser, auth_url.as_str(), USERNAME, PASSWORD).await;
    assert_eq!(base_of(&location), SPA_REDIRECT, "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some(csrf.secret().as_str()));
    let code = query(&location, "code").unwrap_or_else(|| panic!("no code: {location}"));
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("public client code exchange failed: {}", chain(&e)));
    let claims = tokens.id_token().expect("ID token").claims(&client.id_token_verifier(), &nonce).unwrap();
    assert!(claims.audiences().iter().any(|a| a.as_str() == SPA_CLIENT));
    let r = oauth::userinfo(&h, tokens.access_token().secret()).await;
    r.assert_ok();
    assert_eq!(r.str("sub"), Some(claims.subject().as_str()));
});

db_test!(async fn client_credentials_with_basic_and_post_authentication(db) {
    let h = Harness::start(db, REALM).await;
    let http = RpHttp::new();
    let metadata = rp::discover(&http, &h.issuer()).await;
    let basic = rp::client(&metadata, WEB_CLIENT, Some(WEB_SECRET), WEB_REDIRECT);
    let post = basic.clone().set_auth_type(AuthType::RequestBody);
    for (how, client) in [("client_secret_basic", &basic), ("client_secret_post", &post)] {
        let tokens = client
            .exchange_client_credentials()
            .expect("token endpoint known")
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("client_credentials with {how} failed: {}", chain(&e)));
        assert!(tokens.refresh_token().is_none(), "{how}: client_credentials must not issue a refresh token");
        let info = client.introspect(tokens.access_token()).request_async(&http).await.unwrap();
        assert!(info.active(), "{how}: the client's token is inactive");
        assert_eq!(info.client_id().map(|c| c.as_str()), Some(WEB_CLIENT), "{how}");
    }
    // The same two ways, on the wire, with the token response's cache headers.
    for auth in [oauth::ClientAuth::Basic(WEB_CLIENT, WEB_SECRET), oauth::ClientAuth::Post(WEB_CLIENT, WEB_SECRET)] {
        let r = oauth::post_form(&h.endpoint("token"), auth, &[("grant_type", "client_credentials")]).await;
        r.assert_ok();
        assert!(r.str("access_token").is_some(), "{}", r.text);
        assert!(r.str("token_type").is_some_and(|t| t.eq_ignore_ascii_case("bearer")), "{}", r.text);
        let cache = r.headers.get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(cache.contains("no-store"), "token response Cache-Control: {cache:?}");
    }
});

// Logout without `state` returns to the registered URI exactly, with no bare `?` appended:
// keycloak-js compares it and would find `…/?` unregistered on its next sign-in.
db_test!(async fn logout_returns_to_the_registered_uri_exactly(db) {
    let h = start_with_user(db).await;
    let (code, verifier, _) = oauth::authorize(&h, &h.browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    let id_token = tokens.str("id_token").expect("an ID token").to_string();
    let mut url = url::Url::parse(&h.endpoint("logout")).expect("logout URL");
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", WEB_POST_LOGOUT);
    let first = browser::get(&h.browser, url.as_str()).await;
    assert!(first.is_redirect(), "{}", first.describe());
    assert_eq!(first.header("location"), Some(WEB_POST_LOGOUT), "{}", first.describe());
});
