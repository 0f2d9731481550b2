//! Trusted devices ("Remember this device for 30 days"): a second factor entered with the box
//! ticked is not asked again in that browser, and the tokens say honestly that only the password
//! was used; another browser is still asked; forgetting the device in the console, changing the
//! password or signing out everywhere makes the browser ask again.

use crate::account;
use crate::support::oauth::AuthRequest;
use crate::support::signin::{self, Shown, SignIn};
use crate::support::{EMAIL, Harness, PASSWORD, USERNAME, WEB_CLIENT, WEB_REDIRECT};

async fn start(db: crate::support::Db) -> (Harness, signin::Enrolment) {
    let realm = format!(
        "{}trusted_devices: {{ enabled: true, days: 30 }}\n",
        signin::standard_flow_realm()
    );
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let otp = signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    (h, otp)
}

/// A sign-in with the password in `b`, forced past its session (`prompt=login`).
async fn sign_in_again(h: &Harness, b: &reqwest::Client) -> SignIn {
    let (request, verifier) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let mut s = SignIn::start_with(h, b, request.with("prompt", "login"), verifier).await;
    s.log_in(USERNAME, PASSWORD).await;
    s
}

/// Signs in with the password and the code, ticking "Remember this device".
async fn remember(h: &Harness, b: &reqwest::Client, secret: &[u8], code_at: u64) {
    let mut s = sign_in_again(h, b).await;
    s.expect(Shown::Otp);
    assert!(
        s.page.body.contains("Remember this device for 30 days"),
        "{}",
        s.page.body
    );
    let code = signin::totp_at(h, secret, code_at);
    s.fill(&[("otp", &code), ("remember-device", "on")]).await;
    s.exchange(h).await.assert_factors(&["pwd", "otp", "mfa"], "2");
}

/// The same with a recovery code (each authenticator-app code works only once per 30 s).
async fn remember_with_recovery_code(h: &Harness, b: &reqwest::Client, code: &str) {
    let mut s = sign_in_again(h, b).await;
    s.expect(Shown::Otp);
    s.press(&[], ("try_another", "recovery-code")).await;
    s.expect(Shown::RecoveryCode);
    assert!(
        s.page.body.contains("Remember this device for 30 days"),
        "{}",
        s.page.body
    );
    s.fill(&[("recovery_code", code), ("remember-device", "on")]).await;
    s.exchange(h).await.assert_factors(&["pwd", "otp", "mfa"], "2");
}

async fn devices(h: &Harness) -> usize {
    h.query("SELECT id FROM trusted_devices").await.len()
}

db_test!(async fn a_remembered_device_skips_the_second_factor_until_it_is_forgotten(db) {
    let (h, otp) = start(db).await;
    let b = h.new_browser();
    remember(&h, &b, &otp.secret, signin::unix_now() + 30).await;
    assert_eq!(devices(&h).await, 1);
    let cookie_row = h.query("SELECT secret_hash FROM trusted_devices").await;
    let stored: String = cookie_row[0].try_get("", "secret_hash").expect("hash");
    assert!(stored.len() == 64 && stored.bytes().all(|b| b.is_ascii_hexdigit()), "not a SHA-256: {stored}");

    // The same browser: the password alone, and the tokens say so.
    sign_in_again(&h, &b).await.exchange(&h).await.assert_factors(&["pwd"], "1");
    assert_eq!(signin::events(&h, Some("trusted_device_used")).await.len(), 1);
    // Another browser is still asked for the code.
    sign_in_again(&h, &h.new_browser()).await.expect(Shown::Otp);
    // A cookie whose secret does not match the record counts for nothing; ticking the box
    // again in that browser replaces its record rather than adding one.
    h.sql(&format!("UPDATE trusted_devices SET secret_hash = '{}'", "0".repeat(64))).await;
    remember_with_recovery_code(&h, &b, &otp.recovery_codes[0]).await;
    assert_eq!(devices(&h).await, 1);
    sign_in_again(&h, &b).await.exchange(&h).await.assert_factors(&["pwd"], "1");

    // The console lists it; forgetting it makes the browser ask again.
    account::sign_in_to_console(&h, &b, PASSWORD).await;
    let page = account::open(&h, &b, &account::account_url(&h, "sessions")).await;
    assert!(page.body.contains("Trusted devices"), "{}", page.body);
    assert!(page.body.contains("id=\"device-1\""), "{}", page.body);
    let forgotten = account::post(&h, &b, &page, "/sessions/trusted-devices", &[]).await;
    assert!(forgotten.body.contains("The devices are forgotten"), "{}", forgotten.body);
    assert_eq!(devices(&h).await, 0);
    sign_in_again(&h, &b).await.expect(Shown::Otp);
    assert_eq!(signin::events(&h, Some("trusted_device_revoked")).await.len(), 1);
});

db_test!(async fn a_new_password_or_signing_out_everywhere_forgets_every_device(db) {
    let (h, otp) = start(db).await;
    let b = h.new_browser();
    remember(&h, &b, &otp.secret, signin::unix_now() + 30).await;
    remember_with_recovery_code(&h, &h.new_browser(), &otp.recovery_codes[0]).await;
    assert_eq!(devices(&h).await, 2);

    // Signing out everywhere in the console.
    account::sign_in_to_console(&h, &b, PASSWORD).await;
    let page = account::open(&h, &b, &account::account_url(&h, "sessions")).await;
    let form = account::forms(&page)
        .into_iter()
        .find(|f| f.action.path().ends_with("/sessions/sign-out") && f.buttons.iter().any(|(_, v)| v == "all"))
        .expect("the sign-out-everywhere form");
    let mut form = form;
    form.press("which", "all");
    form.submit(&b).await;
    assert_eq!(devices(&h).await, 0);
    assert_eq!(signin::events(&h, Some("trusted_device_revoked")).await.len(), 1);

    // A password change too (here by an administrator's reset).
    remember_with_recovery_code(&h, &b, &otp.recovery_codes[1]).await;
    assert_eq!(devices(&h).await, 1);
    let user_id = h.query(&format!("SELECT id FROM users WHERE username = '{USERNAME}'")).await[0]
        .try_get::<String>("", "id")
        .expect("id");
    let hash = h.state.hasher.hash("Another-Password-9").await.expect("hash");
    h.state.store.reset_password(&user_id, hash, 5, false).await.expect("reset");
    assert_eq!(devices(&h).await, 0);

    // And the person's own change in the console (from the first password again).
    let hash = h.state.hasher.hash(PASSWORD).await.expect("hash");
    h.state.store.reset_password(&user_id, hash, 5, false).await.expect("reset");
    let b = h.new_browser();
    remember_with_recovery_code(&h, &b, &otp.recovery_codes[2]).await;
    assert_eq!(devices(&h).await, 1);
    account::sign_in_to_console(&h, &b, PASSWORD).await;
    let page = account::open(&h, &b, &account::account_url(&h, "security")).await;
    let new = "Third-Password-42";
    let fields = [("password", PASSWORD), ("password-new", new), ("password-confirm", new)];
    let changed = account::post(&h, &b, &page, "/security/password", &fields).await;
    assert!(!changed.body.contains("class=\"error\""), "{}", changed.body);
    assert_eq!(devices(&h).await, 0);
});

db_test!(async fn removing_the_second_factor_forgets_the_devices_that_skipped_it(db) {
    // Three codes in a row: a window of two periods.
    let realm = format!(
        "{}trusted_devices: {{ enabled: true, days: 30 }}\n",
        signin::standard_flow_realm().replace("look_around: 1", "look_around: 2")
    );
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let otp = signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    let b = h.new_browser();
    remember(&h, &b, &otp.secret, signin::unix_now() + 30).await;
    assert_eq!(devices(&h).await, 1);

    // The app is removed in the console (password and a current code of it).
    account::sign_in_to_console(&h, &b, PASSWORD).await;
    let page = account::open(&h, &b, &account::account_url(&h, "security")).await;
    let rows = h.query("SELECT id FROM credentials WHERE kind = 'otp'").await;
    let device: String = rows[0].try_get("", "id").expect("id");
    let code = signin::totp_at(&h, &otp.secret, signin::unix_now() + 60);
    let fields = [("device", device.as_str()), ("password", PASSWORD), ("otp", code.as_str())];
    let removed = account::post(&h, &b, &page, "/security/remove-authenticator", &fields).await;
    assert!(removed.body.contains("removed"), "{}", removed.body);
    assert_eq!(devices(&h).await, 0);
    assert_eq!(signin::events(&h, Some("trusted_device_revoked")).await.len(), 1);
});

db_test!(async fn an_administrator_removing_the_app_forgets_the_devices_too(db) {
    let (h, otp) = start(db).await;
    let b = h.new_browser();
    remember(&h, &b, &otp.secret, signin::unix_now() + 30).await;
    assert_eq!(devices(&h).await, 1);
    let rows = h.query("SELECT id FROM credentials WHERE kind = 'otp'").await;
    let device: String = rows[0].try_get("", "id").expect("id");
    gatehouse::admin::delete_credential_of(&h.state, &h.realm, USERNAME, &device)
        .await
        .expect("removed");
    assert_eq!(devices(&h).await, 0);
    // Without the app there is no second factor to skip: the password alone, as for anyone.
    sign_in_again(&h, &b).await.exchange(&h).await.assert_factors(&["pwd"], "1");
});
