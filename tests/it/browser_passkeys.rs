//! Passkeys in Chromium, with a virtual authenticator added through the WebDriver session's
//! DevTools (`WebAuthn.addVirtualAuthenticator`), on SQLite and PostgreSQL. WebAuthn refuses IP
//! addresses as relying parties, so the server's public URL is `http://localhost:PORT`.

use serde_json::json;

use crate::browser_e2e::{App, Ui, with_browser};
use crate::passkeys::start_on_localhost;
use crate::support::signin;
use crate::support::*;

/// A platform authenticator that holds passkeys and verifies its user without asking.
async fn add_virtual_authenticator(ui: &Ui) {
    add_authenticator(ui, "internal").await;
}

/// An authenticator on `transport` (`internal`: the device's own; `usb`: a security key) that
/// verifies its user and answers without a touch.
async fn add_authenticator(ui: &Ui, transport: &str) {
    let cdp = ui.d.cdp();
    cdp.send_raw("WebAuthn.enable", json!({}))
        .await
        .expect("WebAuthn.enable");
    cdp.send_raw(
        "WebAuthn.addVirtualAuthenticator",
        json!({ "options": {
            "protocol": "ctap2",
            "transport": transport,
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true
        }}),
    )
    .await
    .expect("WebAuthn.addVirtualAuthenticator");
}

db_test!(async fn a_passkey_made_in_chromium_signs_in_without_a_password(db) {
    with_browser(&format!("passkey_{db:?}"), |ui| async move {
        let app = App::start().await;
        let realm = format!("{}webauthn: {{ rp_name: Demo }}\n", signin::flow_realm(&app.callback));
        let h = start_on_localhost(db, &realm).await;
        h.add_user(USERNAME, EMAIL, PASSWORD).await;
        add_virtual_authenticator(&ui).await;

        // Made from the account console's security page ("Create passkey").
        ui.open(&crate::account::account_url(&h, "security"), "console-login").await;
        ui.log_in(USERNAME, PASSWORD, "security").await;
        ui.click("#add-passkey", "register").await;
        ui.type_into("label", "Laptop").await;
        ui.click("#passkey-button", "registered").await;
        let listed = ui.element("#keys").await.text().await.unwrap_or_default();
        assert!(listed.contains("Laptop") && listed.contains("Passkey"), "{listed}");
        let rows = h
            .query("SELECT label, last_used_at FROM credentials WHERE kind = 'webauthn-passwordless'")
            .await;
        assert_eq!(rows.len(), 1, "one passkey stored");
        assert_eq!(rows[0].try_get::<Option<String>>("", "label").expect("label").as_deref(), Some("Laptop"));
        // Signed out of the console.
        ui.click("nav a[href$='/protocol/openid-connect/logout']", "logout-confirm").await;
        ui.press("confirm", "yes", "signed-out").await;

        // Signing in to the app: the login page offers the passkey by autofill (conditional UI),
        // which the virtual authenticator accepts at once; the passkey alone signs in, with two
        // factors in the tokens.
        let (req, verifier) = crate::browser_e2e::request(&app, false);
        ui.open(&req.url(&h), "login-again").await;
        let claims = crate::browser_e2e::at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]), "{claims}");
        assert_eq!(claims["acr"], "2", "{claims}");
        let used = h.query("SELECT last_used_at FROM credentials WHERE kind = 'webauthn-passwordless'").await;
        assert!(used[0].try_get::<Option<i64>>("", "last_used_at").expect("last_used_at").is_some());
        let events = signin::events(&h, Some("credential_added")).await;
        assert_eq!(events.len(), 1);

        // A passkey-only account: the password removed in the console (the passkey sign-in is
        // fresh), the passkey still signs in.
        ui.open(&crate::account::account_url(&h, "security"), "security-after-passkey").await;
        ui.click("#remove-password", "password-removed").await;
        assert!(h.query("SELECT id FROM credentials WHERE kind = 'password'").await.is_empty());
        ui.click("nav a[href$='/protocol/openid-connect/logout']", "logout-confirm-2").await;
        ui.press("confirm", "yes", "signed-out-2").await;
        let (req, verifier) = crate::browser_e2e::request(&app, false);
        ui.open(&req.url(&h), "passkey-only-login").await;
        let claims = crate::browser_e2e::at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]), "{claims}");
    })
    .await;
});

db_test!(async fn a_security_key_from_the_console_is_the_second_factor_and_the_last_one_stays(db) {
    with_browser(&format!("security_key_{db:?}"), |ui| async move {
        let app = App::start().await;
        let realm = format!(
            "{}webauthn: {{}}\naccount: {{ required_second_factor: true }}\n",
            signin::flow_realm(&app.callback)
        );
        let h = start_on_localhost(db, &realm).await;
        h.add_user(USERNAME, EMAIL, PASSWORD).await;
        add_authenticator(&ui, "usb").await;

        // Added from the console's security page.
        ui.open(&crate::account::account_url(&h, "security"), "console-login").await;
        ui.log_in(USERNAME, PASSWORD, "security").await;
        ui.click("#add-security-key", "register-key").await;
        ui.type_into("label", "Blue key").await;
        ui.click("#passkey-button", "key-added").await;
        let listed = ui.element("#keys").await.text().await.unwrap_or_default();
        assert!(listed.contains("Blue key") && listed.contains("Security key"), "{listed}");

        // The next sign-in asks for it after the password.
        let (req, verifier) = crate::browser_e2e::request(&app, true);
        ui.open(&req.url(&h), "login").await;
        ui.log_in(USERNAME, PASSWORD, "security-key-page").await;
        ui.element("#key-help").await;
        ui.click("#passkey-button", "signed-in-with-key").await;
        let claims = crate::browser_e2e::at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(claims["amr"], json!(["pwd", "hwk", "mfa"]), "{claims}");
        assert_eq!(claims["acr"], "2", "{claims}");

        // The realm requires a second factor: the only one cannot be removed.
        ui.open(&crate::account::account_url(&h, "security"), "security-again").await;
        ui.click("#remove-key-1", "removal-refused").await;
        let error = ui.error().await;
        assert!(error.contains("cannot be removed"), "{error}");
        assert_eq!(h.query("SELECT id FROM credentials WHERE kind = 'webauthn'").await.len(), 1);
    })
    .await;
});
