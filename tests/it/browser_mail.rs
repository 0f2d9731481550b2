//! Mail and texts in a real browser (Chromium, as in `browser_e2e.rs`), on SQLite and
//! PostgreSQL, with the loopback SMTP server and the webhook listener capturing the messages:
//! "Forgot password?", a verified address and codes by email, codes by text, sign-in links,
//! and new-browser alerts with "this wasn't me".

use crate::browser_e2e::{App, Screen, at_the_app, request, with_browser};
use crate::support::signin;
use crate::support::smtp::SmtpSink;
use crate::support::webhook::WebhookListener;
use crate::support::*;
use crate::{account, mail, sms};

db_test!(async fn forgot_password_in_the_browser(db) {
    with_browser(&format!("forgot_password_in_the_browser_{db:?}"), |ui| async move {
        let app = App::start().await;
        let sink = SmtpSink::start().await;
        let realm = format!(
            "{}mail:\n  from: \"Flow tests <no-reply@example.com>\"\n  smtp: {{ host: 127.0.0.1, port: {}, tls: none }}\n",
            signin::flow_realm(&app.callback),
            sink.port
        );
        let h = Harness::start(db, &realm).await;
        h.add_user(USERNAME, EMAIL, PASSWORD).await;

        let (req, verifier) = request(&app, false);
        ui.open(&req.url(&h), "login").await;
        ui.expect(Screen::Login).await;
        ui.click("a[href$='/login-actions/reset-credentials']", "forgot-password").await;
        ui.type_into("username", EMAIL).await;
        ui.submit("check-your-email").await;
        let text = ui.describe().await;
        assert!(text.contains("Check your email"), "{text}");

        let link = sink.nth(1).await.link(&format!("{}/login-actions/action-token?key=", h.issuer()));
        // The link's page acts only on its button (mail scanners open links too).
        ui.open(&link, "link-page").await;
        ui.click("form button[type=submit]", "new-password").await;
        ui.expect(Screen::UpdatePassword).await;
        let sign_out_others = ui.element("#logout-sessions").await;
        assert_eq!(sign_out_others.is_selected().await.ok(), Some(true), "signing out elsewhere is not the default");
        let new_password = "Browser-Reset-Secret-5";
        ui.type_into("password-new", new_password).await;
        ui.type_into("password-confirm", new_password).await;
        ui.submit("sign-in-again").await;
        // Then an ordinary sign-in with the new password, through the app's flow.
        let text = ui.describe().await;
        assert!(text.contains("Your password has been changed. Sign in with it."), "{text}");
        ui.log_in(USERNAME, new_password, "at-the-app").await;
        let claims = at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(claims["amr"], serde_json::json!(["pwd"]), "{claims}");

        // The link was used up.
        ui.open(&link, "used-link").await;
        let text = ui.describe().await;
        assert!(text.contains("expired or was already used"), "{text}");
    })
    .await;
});

fn link_prefix(h: &Harness) -> String {
    format!("{}/login-actions/action-token?key=", h.issuer())
}

db_test!(async fn email_verification_and_codes_by_email_in_the_browser(db) {
    with_browser(&format!("email_codes_in_the_browser_{db:?}"), |ui| async move {
        let app = App::start().await;
        let sink = SmtpSink::start().await;
        let realm = format!("{}{}", signin::flow_realm(&app.callback), mail::mail_through(sink.port));
        let h = mail::start_with_flow(db, &realm, "browser-email", mail::EMAIL_CODE_FLOW).await;

        // The console: verify the address from the mailed link, then turn the codes on.
        ui.open(&account::account_url(&h, "security"), "console-login").await;
        ui.log_in(USERNAME, PASSWORD, "console-security").await;
        ui.click("#send-verification", "verification-sent").await;
        assert!(ui.describe().await.contains("We sent a verification link"));
        ui.open(&sink.nth(1).await.link(&link_prefix(&h)), "verify-link").await;
        ui.click("form button[type=submit]", "verified").await;
        let text = ui.describe().await;
        assert!(text.contains("Email address verified"), "{text}");
        ui.open(&account::account_url(&h, "security"), "security").await;
        ui.click("#toggle-email-codes", "codes-on").await;
        let text = ui.describe().await;
        assert!(text.contains("Codes by email are on."), "{text}");

        // Signing in to the app: the password, then the mailed code; a wrong one is refused.
        let (req, verifier) = request(&app, true);
        ui.open(&req.url(&h), "login").await;
        ui.log_in(USERNAME, PASSWORD, "email-code").await;
        ui.expect(Screen::Otp).await;
        assert!(ui.describe().await.contains("Enter the code we emailed you"));
        let code = mail::code_in(&sink.nth(2).await);
        ui.type_into("otp", &sms::wrong(&code)).await;
        ui.submit("wrong-code").await;
        ui.expect(Screen::Otp).await;
        assert!(!ui.error().await.is_empty(), "a wrong code was not refused");
        ui.type_into("otp", &code).await;
        ui.submit("at-the-app").await;
        let claims = at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{claims}");

        // The code was used up: the next sign-in mails a new one and refuses the old.
        let (req, verifier) = request(&app, true);
        ui.open(&req.url(&h), "login-again").await;
        ui.log_in(USERNAME, PASSWORD, "email-code-again").await;
        let newer = mail::code_in(&sink.nth(3).await);
        if newer != code {
            ui.type_into("otp", &code).await;
            ui.submit("reused-code").await;
            assert!(!ui.error().await.is_empty(), "a used code was accepted");
        }
        ui.type_into("otp", &newer).await;
        ui.submit("at-the-app-again").await;
        at_the_app(&ui, &h, &app, &req, &verifier).await;
    })
    .await;
});

db_test!(async fn codes_by_text_in_the_browser(db) {
    with_browser(&format!("codes_by_text_in_the_browser_{db:?}"), |ui| async move {
        let app = App::start().await;
        let hook = WebhookListener::start().await;
        let h = sms::start_on(db, &hook, &signin::flow_realm(&app.callback), "").await;
        // The number is confirmed in the console (by a plain HTTP client: `sms.rs` tests that).
        let b = h.new_browser();
        account::sign_in_to_console(&h, &b, PASSWORD).await;
        sms::confirm_number(&h, &b, &hook, "+49 170 1234567").await;

        let (req, verifier) = request(&app, false);
        ui.open(&req.url(&h), "login").await;
        ui.log_in(USERNAME, PASSWORD, "sms-code").await;
        ui.expect(Screen::Otp).await;
        let text = ui.describe().await;
        assert!(text.contains("Enter the code we texted you"), "{text}");
        let code = hook.nth(2).await.code();
        ui.type_into("otp", &sms::wrong(&code)).await;
        ui.submit("wrong-code").await;
        ui.expect(Screen::Otp).await;
        assert!(!ui.error().await.is_empty(), "a wrong code was not refused");
        ui.type_into("otp", &code).await;
        ui.submit("at-the-app").await;
        let claims = at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "sms", "mfa"]), "{claims}");
    })
    .await;
});

db_test!(async fn a_sign_in_link_in_the_browser(db) {
    with_browser(&format!("sign_in_link_in_the_browser_{db:?}"), |ui| async move {
        let app = App::start().await;
        let sink = SmtpSink::start().await;
        let realm = format!("{}{}", signin::flow_realm(&app.callback), mail::mail_through(sink.port));
        let h = mail::start_with_flow(db, &realm, "magic", mail::MAGIC_FLOW).await;
        h.sql("UPDATE users SET email_verified = TRUE").await;

        let (req, verifier) = request(&app, false);
        ui.open(&req.url(&h), "ask-for-link").await;
        ui.type_into("username", EMAIL).await;
        ui.submit("link-sent").await;
        let text = ui.describe().await;
        assert!(text.contains("sent it a sign-in link"), "{text}");
        let link = sink.nth(1).await.link(&link_prefix(&h));
        ui.open(&link, "link-page").await;
        ui.click("form button[type=submit]", "at-the-app").await;
        let claims = at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert!(claims["sub"].as_str().is_some(), "{claims}");

        // Used once.
        ui.open(&link, "used-link").await;
        let text = ui.describe().await;
        assert!(text.contains("expired or was already used"), "{text}");

        // Expired: asked for, then opened too late.
        let (req, _) = request(&app, true);
        ui.open(&req.url(&h), "ask-again").await;
        ui.type_into("username", USERNAME).await;
        ui.submit("second-link-sent").await;
        let late = sink.nth(2).await.link(&link_prefix(&h));
        h.sql("UPDATE action_tokens SET expires_at = 0 WHERE used_at IS NULL").await;
        ui.open(&late, "expired-link").await;
        let text = ui.describe().await;
        assert!(text.contains("expired or was already used"), "{text}");
    })
    .await;
});

db_test!(async fn a_new_browser_is_reported_once_and_this_was_not_me_signs_it_out(db) {
    with_browser(&format!("new_browser_alert_{db:?}"), |ui| async move {
        let app = App::start().await;
        let sink = SmtpSink::start().await;
        let realm = format!(
            "{}{}login_notifications: true\n",
            signin::flow_realm(&app.callback),
            mail::mail_through(sink.port)
        );
        let h = Harness::start(db, &realm).await;
        h.add_user(USERNAME, EMAIL, PASSWORD).await;
        let alerts = || async { h.query("SELECT id FROM outbox WHERE template = 'new_login'").await.len() };

        // A first sign-in elsewhere (another browser and system) gives the history.
        let (req, _) = request(&app, false);
        crate::support::browser::sign_in(&h.new_browser(), &req.url(&h), USERNAME, PASSWORD).await;
        assert_eq!(alerts().await, 0);

        // Chromium is new: one alert; signing in again from it: none more.
        let (req, verifier) = request(&app, false);
        ui.open(&req.url(&h), "login").await;
        ui.log_in(USERNAME, PASSWORD, "at-the-app").await;
        at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(alerts().await, 1);
        let (req, verifier) = request(&app, true);
        ui.open(&req.url(&h), "login-again").await;
        ui.log_in(USERNAME, PASSWORD, "at-the-app-again").await;
        at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(alerts().await, 1);

        // "This wasn't me", read in another browser: Chromium's session ends.
        let link = sink.nth(1).await.link(&link_prefix(&h));
        let reader = h.new_browser();
        let page = crate::support::browser::get(&reader, &link).await;
        let form = crate::support::browser::parse_post_form(&page.body, &page.url).expect("the page's form");
        let done = form.submit(&reader).await;
        assert!(done.body.contains("Your account is signed out everywhere"), "{}", done.body);
        let (req, _) = request(&app, false);
        ui.open(&req.url(&h), "signed-out").await;
        ui.expect(Screen::Login).await;
    })
    .await;
});
