//! Mail in a real browser (Chromium, as in `browser_e2e.rs`), on SQLite and PostgreSQL, with
//! the loopback SMTP server capturing the messages: "Forgot password?" from the login page to
//! the app, with the link taken from the received mail.

use crate::browser_e2e::{App, Screen, at_the_app, request, with_browser};
use crate::support::signin;
use crate::support::smtp::SmtpSink;
use crate::support::*;

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
