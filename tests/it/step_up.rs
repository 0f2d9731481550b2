//! Step-up (OIDC `acr`): an app that asks for a higher level (`acr_values=gold`, or an
//! essential `acr` claim) than the browser's session reached gets the missing factor asked for
//! inside that session, without the password again; the token's `acr` names the level reached;
//! a trusted device does not stand in for the second factor then; an essential level the user
//! cannot reach is `unmet_authentication_requirements`.

use crate::support::browser::query;
use crate::support::oauth::AuthRequest;
use crate::support::signin::{self, Shown, SignIn};
use crate::support::{EMAIL, Harness, PASSWORD, USERNAME, WEB_CLIENT, WEB_REDIRECT};

async fn start(db: crate::support::Db) -> Harness {
    let realm = format!(
        "{}acr:\n  loa_map: {{ silver: 1, gold: 2 }}\ntrusted_devices: {{ enabled: true }}\n",
        signin::standard_flow_realm().replace("look_around: 1", "look_around: 2")
    );
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h
}

/// Opens an authorization request with extra parameters in browser `b`.
async fn ask(h: &Harness, b: &reqwest::Client, params: &[(&str, &str)]) -> SignIn {
    let (mut request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    for (name, value) in params {
        request = request.with(name, value);
    }
    SignIn::start_with(h, b, request, verifier).await
}

const ESSENTIAL_GOLD: &str = r#"{"id_token":{"acr":{"essential":true,"values":["gold"]}}}"#;

db_test!(async fn gold_asks_for_the_second_factor_inside_a_one_factor_session(db) {
    let h = start(db).await;
    let b = h.new_browser();
    // A session with the password only (no second factor yet), at the level the app asked for.
    let mut s = ask(&h, &b, &[("acr_values", "silver")]).await;
    s.log_in(USERNAME, PASSWORD).await;
    let first = s.exchange(&h).await;
    first.assert_factors(&["pwd"], "silver");
    let one_factor = first.id["sid"].as_str().expect("sid").to_string();
    let otp = signin::enrol_otp(&h, USERNAME, PASSWORD).await;

    // Gold in the same browser: the code only, and the tokens say what was reached.
    let mut s = ask(&h, &b, &[("acr_values", "gold")]).await;
    s.expect(Shown::Otp);
    let code = signin::totp_at(&h, &otp.secret, signin::unix_now() + 30);
    s.fill(&[("otp", &code)]).await;
    s.exchange(&h).await.assert_factors(&["pwd", "otp", "mfa"], "gold");
    let sign_in = signin::events(&h, Some("sign_in")).await.pop().expect("a sign-in event");
    assert!(
        sign_in.details.to_string().contains("username-password-form:carried"),
        "the password was not asked again: {}",
        sign_in.details
    );
    // The raised session is enough for gold from now on, and answers plain requests with 2.
    ask(&h, &b, &[("acr_values", "gold")]).await.exchange(&h).await.assert_factors(&["pwd", "otp", "mfa"], "gold");
    ask(&h, &b, &[]).await.exchange(&h).await.assert_factors(&["pwd", "otp", "mfa"], "2");
    let ended = h
        .query(&format!("SELECT id FROM sso_sessions WHERE id = '{one_factor}' AND ended_at IS NOT NULL"))
        .await;
    assert_eq!(ended.len(), 1, "the raised session replaced the one-factor session");

    // max_age=0 with gold: the session is too old, so everything is asked again.
    let mut s = ask(&h, &b, &[("acr_values", "gold"), ("max_age", "0")]).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Otp);
    let code = signin::totp_at(&h, &otp.secret, signin::unix_now() + 60);
    s.fill(&[("otp", &code)]).await;
    s.exchange(&h).await.assert_factors(&["pwd", "otp", "mfa"], "gold");

    // prompt=login with gold: the password and then the code, as a new sign-in.
    let mut s = ask(&h, &b, &[("acr_values", "gold"), ("prompt", "login")]).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Otp);
    s.press(&[], ("try_another", "recovery-code")).await;
    s.fill(&[("recovery_code", &otp.recovery_codes[0]), ("remember-device", "on")]).await;
    s.exchange(&h).await.assert_factors(&["pwd", "otp", "mfa"], "gold");

    // The device is now trusted: a plain sign-in skips the code, gold does not.
    let mut s = ask(&h, &b, &[("prompt", "login")]).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.exchange(&h).await.assert_factors(&["pwd"], "1");
    let s = ask(&h, &b, &[("acr_values", "gold")]).await;
    s.expect(Shown::Otp);
    // Without pages (prompt=none) the code cannot be asked for.
    let s = ask(&h, &b, &[("acr_values", "gold"), ("prompt", "none")]).await;
    assert_eq!(query(&s.location(), "error").as_deref(), Some("login_required"));
});

db_test!(async fn a_level_the_user_cannot_reach_is_unmet_only_when_essential(db) {
    let h = start(db).await;
    let b = h.new_browser();
    let mut s = ask(&h, &b, &[]).await;
    s.log_in(USERNAME, PASSWORD).await;
    let first = s.exchange(&h).await;
    first.assert_factors(&["pwd"], "1");

    // Voluntary gold: the user has no second factor, so the token says 1; and as nothing new
    // was proven, the session and its auth_time stay what they were (no fresh sign-in).
    let gold = ask(&h, &b, &[("acr_values", "gold")]).await.exchange(&h).await;
    gold.assert_factors(&["pwd"], "1");
    assert_eq!(gold.id["sid"], first.id["sid"], "{}", gold.id);
    assert_eq!(gold.id["auth_time"], first.id["auth_time"], "{}", gold.id);
    // Essential gold: an error to the app, and no code.
    let s = ask(&h, &b, &[("claims", ESSENTIAL_GOLD)]).await;
    let location = s.location();
    assert_eq!(query(&location, "error").as_deref(), Some("unmet_authentication_requirements"), "{location}");
    assert_eq!(query(&location, "code"), None);
    assert_eq!(query(&location, "state").as_deref(), Some(s.request.state.as_str()));
    // An essential level the realm does not know cannot be met either.
    let unknown = r#"{"id_token":{"acr":{"essential":true,"value":"platinum"}}}"#;
    let s = ask(&h, &b, &[("claims", unknown)]).await;
    assert_eq!(query(&s.location(), "error").as_deref(), Some("unmet_authentication_requirements"));

    // Discovery lists the levels.
    let discovery: serde_json::Value = b
        .get(format!("{}/.well-known/openid-configuration", h.issuer()))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("JSON");
    assert_eq!(discovery["acr_values_supported"], serde_json::json!(["1", "2", "gold", "silver"]));
});
