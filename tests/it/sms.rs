//! Codes by text message: a phone number confirmed by a texted code in the console, then codes
//! by text as the second step of a sign-in, all through a real HTTP listener standing in for
//! the SMS gateway (the webhook), which checks the signature as a receiver would.

use std::time::Duration;

use crate::account;
use crate::support::process::eventually;
use crate::support::signin::{self, Shown, SignIn};
use crate::support::webhook::{Hook, WebhookListener};
use crate::support::{EMAIL, Harness, PASSWORD, USERNAME, WEB_CLIENT};

/// The key the webhook signs with: an environment variable cargo sets for every test process
/// (so no test has to set one while servers of other tests read the environment).
const SECRET_VAR: &str = "CARGO_PKG_DESCRIPTION";
const SECRET: &str = env!("CARGO_PKG_DESCRIPTION");

/// A browser flow offering an authenticator app or a code by text as the second step.
const SMS_CODE_FLOW: &str = r#"flow: browser-sms
description: Password, then an authenticator app or a code by text
steps:
  - authenticator: cookie
    requirement: alternative
  - subflow: forms
    requirement: alternative
    steps:
      - authenticator: username-password-form
        requirement: required
      - subflow: second-factor
        requirement: conditional
        steps:
          - condition: user-configured
            requirement: required
          - authenticator: otp-form
            requirement: alternative
          - authenticator: sms-otp-form
            requirement: alternative
"#;

/// The flow-test realm with texts posted to `hook` and `limits` (YAML lines under `sms:`).
async fn start(db: crate::support::Db, hook: &WebhookListener, limits: &str) -> Harness {
    start_on(db, hook, &signin::standard_flow_realm(), limits).await
}

/// `realm` (a flow-test realm) with texts posted to `hook`, signing in with a password and
/// then an app or a texted code.
pub(crate) async fn start_on(db: crate::support::Db, hook: &WebhookListener, realm: &str, limits: &str) -> Harness {
    let realm = format!(
        "{}flows:\n  browser: browser-sms\nsms:\n  webhook: {}\n  secret: \"${{env:{SECRET_VAR}}}\"\n  retry_after: 1s\n{limits}",
        realm, hook.url
    )
    .replace("    browser_flow: identifier-first\n", "");
    let h = Harness::start_with(db, &realm, |dir, o| {
        let flows = dir.join("flows");
        std::fs::create_dir_all(&flows).expect("flows dir");
        std::fs::write(flows.join("browser-sms.yaml"), SMS_CODE_FLOW).expect("flow file");
        o.flows_dir = Some(flows);
    })
    .await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h
}

/// Adds and confirms `typed` in the console of `b` (signed in) and turns codes by text on.
pub(crate) async fn confirm_number(h: &Harness, b: &reqwest::Client, hook: &WebhookListener, typed: &str) {
    let texts = hook.received().len();
    let security = account::open(h, b, &account::account_url(h, "security")).await;
    let sent = account::post(h, b, &security, "/security/phone", &[("phone", typed)]).await;
    assert!(sent.body.contains("We texted you a code"), "{}", sent.body);
    let code = hook.nth(texts + 1).await.code();
    let confirmed = account::post(h, b, &sent, "/security/phone/verify", &[("otp", &code)]).await;
    assert!(
        confirmed.body.contains("Your phone number is confirmed."),
        "{}",
        confirmed.body
    );
    let on = account::post(h, b, &confirmed, "/security/sms-codes", &[]).await;
    assert!(on.body.contains("Codes by text message are on."), "{}", on.body);
}

/// Another six-digit code than `code`.
pub(crate) fn wrong(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().expect("digits") + 1) % 1_000_000)
}

db_test!(async fn a_confirmed_number_gets_sign_in_codes_by_text(db) {
    let hook = WebhookListener::start().await;
    let h = start(db, &hook, "").await;
    let b = h.new_browser();
    account::sign_in_to_console(&h, &b, PASSWORD).await;

    // Numbers without a country code, or with letters, are refused, and nothing is sent.
    let security = account::open(&h, &b, &account::account_url(&h, "security")).await;
    assert!(security.body.contains("Your account has no phone number."), "{}", security.body);
    let refused = account::post(&h, &b, &security, "/security/phone", &[("phone", "0170 1234567")]).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("with its country code"), "{}", refused.body);
    let refused = account::post(&h, &b, &security, "/security/phone", &[("phone", "+49 170\r\nX")]).await;
    assert!(refused.body.contains("This is not a phone number"), "{}", refused.body);

    // A number in any usual spelling is texted a code, as E.164, signed for the receiver.
    let sent = account::post(&h, &b, &security, "/security/phone", &[("phone", "0049 (170) 123-4567")]).await;
    assert!(sent.body.contains("We texted you a code"), "{}", sent.body);
    let text: Hook = hook.nth(1).await;
    assert_eq!(hook.received().len(), 1, "the refused numbers were texted");
    assert!(text.signed_with(SECRET), "bad signature: {:?}", text.signature);
    assert!(!text.signed_with("another key"));
    assert!(text.message_id.is_some());
    let body = text.json();
    assert_eq!(body["to"], "+491701234567");
    assert_eq!(body["realm"], h.realm.as_str());
    let code = text.code();

    // A wrong code does not confirm it; the right one does.
    let wrong_page = account::post(&h, &b, &sent, "/security/phone/verify", &[("otp", &wrong(&code))]).await;
    assert_eq!(wrong_page.status, 400);
    assert!(!wrong_page.body.contains("+491701234567 · verified"), "unconfirmed number shown as confirmed");
    assert!(wrong_page.body.contains("Your account has no phone number."), "{}", wrong_page.body);
    let confirmed = account::post(&h, &b, &wrong_page, "/security/phone/verify", &[("otp", &code)]).await;
    assert!(confirmed.body.contains("Your phone number is confirmed."), "{}", confirmed.body);
    assert!(confirmed.body.contains("+491701234567 · verified"), "{}", confirmed.body);
    let on = account::post(&h, &b, &confirmed, "/security/sms-codes", &[]).await;
    assert!(on.body.contains("Codes by text message are on."), "{}", on.body);
    assert_eq!(signin::events(&h, Some("phone_verified")).await.len(), 1);

    // Signing in to the app: the password, then the texted code; a wrong one is refused.
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Otp);
    assert!(s.page.body.contains("Enter the code we texted you"), "{}", s.page.body);
    assert!(s.page.body.contains("+49 ••• 67"), "{}", s.page.body);
    let code = hook.nth(2).await.code();
    s.fill(&[("otp", &wrong(&code))]).await;
    s.expect_error(Shown::Otp);
    s.fill(&[("otp", &code)]).await;
    s.exchange(&h).await.assert_factors(&["pwd", "sms", "mfa"], "2");
    assert_eq!(signin::events(&h, Some("sms_otp_used")).await.len(), 1);

    // Removing the number turns the codes off with it.
    let security = account::open(&h, &b, &account::account_url(&h, "security")).await;
    let removed = account::post(&h, &b, &security, "/security/phone/remove", &[]).await;
    assert!(removed.body.contains("Your phone number was removed."), "{}", removed.body);
    let mut plain = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    plain.log_in(USERNAME, PASSWORD).await;
    plain.exchange(&h).await.assert_factors(&["pwd"], "1");
});

db_test!(async fn the_password_grant_refuses_accounts_with_codes_by_text(db) {
    // The shipped browser flow, and `web` may use the password grant too.
    let realm = signin::standard_flow_realm().replacen(
        "grant_types: [authorization_code, refresh_token]",
        "grant_types: [authorization_code, refresh_token, password]",
        1,
    );
    let h = Harness::start(db, &realm).await;
    let user_id = h.add_user(USERNAME, EMAIL, PASSWORD).await;
    password_grant(&h).await.assert_ok();
    // Codes by text cannot travel in a token request: refused, not let in on the password.
    h.state.store.enable_sent_codes(&user_id, gatehouse::store::SMS_OTP).await.expect("codes on");
    password_grant(&h).await.assert_error(reqwest::StatusCode::BAD_REQUEST, "invalid_grant");
});

async fn password_grant(h: &Harness) -> crate::support::oauth::JsonResponse {
    let params = [
        ("grant_type", "password"),
        ("username", USERNAME),
        ("password", PASSWORD),
        ("scope", "openid"),
    ];
    crate::support::oauth::post_form(&h.endpoint("token"), crate::support::oauth::web(), &params).await
}

db_test!(async fn texts_are_limited_per_number_and_per_user_and_codes_die_after_wrong_tries(db) {
    let hook = WebhookListener::start().await;
    let limits = "  allowed_prefixes: [\"+1\"]\n  per_number_per_hour: 2\n  per_user_per_hour: 3\n";
    let h = start(db, &hook, limits).await;
    let b = h.new_browser();
    account::sign_in_to_console(&h, &b, PASSWORD).await;
    let security = account::open(&h, &b, &account::account_url(&h, "security")).await;

    // Only the countries the realm allows.
    let abroad = account::post(&h, &b, &security, "/security/phone", &[("phone", "+49 170 1234567")]).await;
    assert!(abroad.body.contains("We cannot text numbers in this country"), "{}", abroad.body);

    // Two texts to one number, then no more to it this hour.
    for _ in 0..2 {
        let sent = account::post(&h, &b, &security, "/security/phone", &[("phone", "+14155550100")]).await;
        assert!(sent.body.contains("We texted you a code"), "{}", sent.body);
    }
    let third = account::post(&h, &b, &security, "/security/phone", &[("phone", "+1 415 555 0100")]).await;
    assert!(third.body.contains("Too many messages"), "{}", third.body);
    // Another number: one more for this user, then the user's limit holds for any number.
    let other = account::post(&h, &b, &security, "/security/phone", &[("phone", "+14155550101")]).await;
    assert!(other.body.contains("We texted you a code"), "{}", other.body);
    let fourth = account::post(&h, &b, &security, "/security/phone", &[("phone", "+14155550102")]).await;
    assert!(fourth.body.contains("Too many messages"), "{}", fourth.body);
    let texts = hook.nth(3).await;
    assert_eq!(texts.json()["to"], "+14155550101");
    assert_eq!(h.query("SELECT id FROM outbox").await.len(), 3);

    // The pending code dies after five wrong tries, even for the right code after them.
    let code = texts.code();
    let mut page = other;
    for _ in 0..5 {
        page = account::post(&h, &b, &page, "/security/phone/verify", &[("otp", &wrong(&code))]).await;
        assert_eq!(page.status, 400);
    }
    let late = account::post(&h, &b, &page, "/security/phone/verify", &[("otp", &code)]).await;
    assert!(late.body.contains("That code no longer works"), "{}", late.body);
    assert!(late.body.contains("Your account has no phone number."), "{}", late.body);
});

db_test!(async fn a_text_queued_while_the_gateway_is_down_goes_out_once_it_is_back(db) {
    let hook = WebhookListener::start().await;
    hook.fail_next(2);
    let h = start(db, &hook, "").await;
    let b = h.new_browser();
    account::sign_in_to_console(&h, &b, PASSWORD).await;
    let security = account::open(&h, &b, &account::account_url(&h, "security")).await;
    // The person is not kept waiting on the gateway: the text is queued.
    let sent = account::post(&h, &b, &security, "/security/phone", &[("phone", "+447700900123")]).await;
    assert!(sent.body.contains("We texted you a code"), "{}", sent.body);

    let text = hook.nth(1).await;
    assert_eq!(hook.failures_left(), 0);
    assert_eq!(text.json()["to"], "+447700900123");
    eventually(Duration::from_secs(30), "the text marked sent after three attempts", || async {
        let rows = h.query("SELECT state, attempts, channel FROM outbox").await;
        let state: String = rows[0].try_get("", "state").expect("state");
        let attempts: i32 = rows[0].try_get("", "attempts").expect("attempts");
        let channel: String = rows[0].try_get("", "channel").expect("channel");
        (state == "sent" && attempts == 3 && channel == "sms").then_some(())
    })
    .await;
    assert_eq!(hook.received().len(), 1, "sent more than once");
});

db_test!(async fn a_file_outbox_holds_one_json_file_per_text(db) {
    let dir = crate::support::TempDir::new();
    let outbox = dir.path().join("sms-outbox");
    let realm = format!("{}sms:\n  outbox: {}\n", signin::standard_flow_realm(), outbox.display());
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let b = h.new_browser();
    account::sign_in_to_console(&h, &b, PASSWORD).await;
    let security = account::open(&h, &b, &account::account_url(&h, "security")).await;
    let sent = account::post(&h, &b, &security, "/security/phone", &[("phone", "+49 170 7654321")]).await;
    assert!(sent.body.contains("We texted you a code"), "{}", sent.body);
    let file = eventually(Duration::from_secs(30), "a .json file", || async {
        std::fs::read_dir(&outbox)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "json"))
    })
    .await;
    let text: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file).expect("read the text")).expect("JSON");
    assert_eq!(text["to"], "+491707654321");
    let code = Hook { signature: None, message_id: None, body: serde_json::to_vec(&text).expect("bytes") }.code();
    let confirmed = account::post(&h, &b, &sent, "/security/phone/verify", &[("otp", &code)]).await;
    assert!(confirmed.body.contains("Your phone number is confirmed."), "{}", confirmed.body);
});

db_test!(async fn forgot_password_asks_for_the_texted_code_of_a_user_who_has_one(db) {
    let hook = WebhookListener::start().await;
    let sink = crate::support::smtp::SmtpSink::start().await;
    let realm = format!(
        "{}{}trusted_devices: {{ enabled: true }}\n",
        signin::standard_flow_realm(),
        crate::mail::mail_through(sink.port)
    );
    let h = start_on(db, &hook, &realm, "").await;
    let b = h.new_browser();
    account::sign_in_to_console(&h, &b, PASSWORD).await;
    confirm_number(&h, &b, &hook, "+49 170 1234567").await;

    // The mailbox alone does not reset the password: the texted code comes first.
    let mut s = crate::mail::ask_for_reset(&h, &h.new_browser(), USERNAME).await;
    let link = sink.nth(1).await.link(&crate::mail::link_prefix(&h));
    crate::mail::follow_link(&mut s, &link).await;
    s.expect(Shown::Otp);
    assert!(s.page.body.contains("Enter the code we texted you"), "{}", s.page.body);
    // A reset signs no one in: there is no device to remember.
    assert!(!s.page.body.contains("remember-device"), "{}", s.page.body);
    let code = hook.nth(2).await.code();
    s.fill(&[("otp", &wrong(&code))]).await;
    s.expect_error(Shown::Otp);
    s.fill(&[("otp", &code)]).await;
    s.expect(Shown::UpdatePassword);
    let new_password = "Reset-After-Text-Code-8";
    s.fill(&[("password-new", new_password), ("password-confirm", new_password)]).await;
    s.expect(Shown::Login);
    assert_eq!(signin::events(&h, Some("sms_otp_used")).await.len(), 1);
});
