//! The account console in a real browser (Chromium, as in `browser_e2e.rs`), on SQLite and
//! PostgreSQL: the password change and the sessions of two browsers; two-factor on, used,
//! recovery codes replaced and off again; a personal access token made, used and revoked, and
//! the log downloaded. The second browser is the cookie-jar client (Firefox on Windows), signed
//! in to the console and to an app.

use crate::account;
use crate::browser_e2e::{App, Screen, Ui, with_browser};
use crate::support;
use crate::support::oauth;
use crate::support::signin;
use crate::support::*;

const FIREFOX_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const PASSWORD_NEW: &str = "Brand-New-Secret-42";

/// The flow realm redirecting to `app`, with a GeoIP database that puts loopback in Berlin,
/// and a look-around of two periods (three sign-ins with codes in one test need three steps).
async fn start(db: Db, app: &App) -> Harness {
    let realm = signin::flow_realm(&app.callback).replace("look_around: 1", "look_around: 2");
    let h = Harness::start_with(db, &realm, |dir, o| {
        o.geoip_database = Some(geoip::write_city_database(dir, &[geoip::LOOPBACK_IN_BERLIN]));
    })
    .await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h
}

fn console(h: &Harness, page: &str) -> String {
    account::account_url(h, page)
}

/// Signs this browser out through the console's "Sign out" link and its confirmation.
async fn sign_out(ui: &Ui) {
    ui.click("nav a[href$='/protocol/openid-connect/logout']", "logout-confirm")
        .await;
    ui.press("confirm", "yes", "signed-out").await;
}

async fn text_of(ui: &Ui, css: &str) -> String {
    ui.element(css).await.text().await.unwrap_or_default()
}

/// Types into the field `css` (after clearing it).
async fn fill(ui: &Ui, css: &str, value: &str) {
    let field = ui.element(css).await;
    field.clear().await.expect("clear the field");
    field.send_keys(value).await.expect("type into the field");
}

/// Changes the password on the security page; the page's error or notice text.
async fn change_password(ui: &Ui, current: &str, new: &str, label: &str) {
    ui.click("nav a[href$='/account/security']", &format!("{label}-security"))
        .await;
    ui.type_into("password", current).await;
    ui.type_into("password-new", new).await;
    ui.type_into("password-confirm", new).await;
    ui.submit(label).await;
}

db_test!(async fn console_password_change_and_sessions_in_chromium(db) {
    with_browser(&format!("console_password_and_sessions_{db:?}"), |ui| async move {
        let app = App::start().await;
        let h = start(db, &app).await;
        let other = account::browser_as(FIREFOX_WINDOWS);
        account::sign_in_to_console(&h, &other, PASSWORD).await;
        let other_refresh = account::app_refresh_token(&h, &other).await;

        ui.open(&console(&h, ""), "console-login").await;
        ui.log_in(USERNAME, PASSWORD, "overview").await;
        ui.element("#checklist").await;

        // Two browsers, each named from its User-Agent and placed by the GeoIP database.
        ui.click("nav a[href$='/account/sessions']", "sessions").await;
        let mine = text_of(&ui, "#session-1").await;
        assert!(mine.contains("This device") && mine.contains("Chrome") && mine.contains("Linux"), "{mine}");
        let theirs = text_of(&ui, "#session-2").await;
        assert!(theirs.contains("Firefox 133") && theirs.contains("Windows"), "{theirs}");
        assert!(mine.contains("Berlin, Germany") && theirs.contains("Berlin, Germany"), "{mine}\n{theirs}");
        assert!(theirs.contains("web"), "the app it signed in to: {theirs}");

        // The password: a wrong current one, then one the policy refuses, each with its message.
        change_password(&ui, "Not-My-Password-1", PASSWORD_NEW, "wrong-current").await;
        let message = ui.error().await;
        assert!(message.contains("not your current password"), "{message}");
        change_password(&ui, PASSWORD, "short", "too-short").await;
        let message = ui.error().await;
        assert!(message.contains("at least 12 characters"), "{message}");
        let field = ui.element("#password-new[aria-invalid=true]").await;
        let described = field.attr("aria-describedby").await.ok().flatten().unwrap_or_default();
        assert!(described.contains("password-new-error"), "{described}");

        // Changed, with "sign out my other sessions" left ticked: the other browser is out.
        change_password(&ui, PASSWORD, PASSWORD_NEW, "changed").await;
        let notice = text_of(&ui, ".notice").await;
        assert!(notice.contains("Your password was changed"), "{notice}");
        assert!(!account::refresh_works(&h, &other_refresh).await, "the other browser's app still refreshes");
        let again = support::browser::get(&other, &console(&h, "")).await;
        assert!(again.is_redirect(), "the other browser is still signed in: {}", again.describe());

        // The other browser signs in again; "sign out all other sessions" ends it and its app.
        account::sign_in_to_console(&h, &other, PASSWORD_NEW).await;
        let other_refresh = account::app_refresh_token(&h, &other).await;
        ui.click("nav a[href$='/account/sessions']", "sessions-again").await;
        assert!(text_of(&ui, "#session-2").await.contains("Firefox 133"));
        ui.click("#sign-out-others", "others-signed-out").await;
        let sessions = text_of(&ui, "main").await;
        assert!(!sessions.contains("Firefox"), "{sessions}");
        assert!(!account::refresh_works(&h, &other_refresh).await, "the other browser's app still refreshes");

        // On a phone-sized screen the page still fits: no sideways scrolling.
        ui.d.set_window_rect(0, 0, 375, 800).await.expect("resize");
        let fits: serde_json::Value = ui
            .d
            .execute("return document.documentElement.scrollWidth <= window.innerWidth;", vec![])
            .await
            .expect("measure")
            .json()
            .clone();
        assert_eq!(fits, serde_json::Value::Bool(true), "the sessions page scrolls sideways on a phone");
        ui.snap("phone").await;
    })
    .await;
});

/// Reads the codes of a recovery-codes page.
async fn recovery_codes(ui: &Ui) -> Vec<String> {
    let items =
        ui.d.find_all(thirtyfour::By::Css("#recovery-codes li.recovery-code"))
            .await
            .unwrap_or_default();
    let mut codes = Vec::new();
    for item in &items {
        codes.push(item.text().await.unwrap_or_default());
    }
    assert_eq!(codes.len(), 10, "{codes:?}");
    codes
}

/// Signs in to the console with the password and a recovery code; whether it let the browser in.
async fn sign_in_with_recovery_code(ui: &Ui, h: &Harness, code: &str, label: &str) -> bool {
    ui.open(&console(h, ""), &format!("{label}-login")).await;
    ui.log_in(USERNAME, PASSWORD, &format!("{label}-otp")).await;
    ui.press("try_another", "recovery-code", &format!("{label}-recovery"))
        .await;
    ui.type_into("recovery_code", code).await;
    ui.submit(label).await;
    ui.d.find_all(thirtyfour::By::Css("#checklist"))
        .await
        .is_ok_and(|found| !found.is_empty())
}

db_test!(async fn console_two_factor_and_recovery_codes_in_chromium(db) {
    with_browser(&format!("console_two_factor_{db:?}"), |ui| async move {
        let app = App::start().await;
        let h = start(db, &app).await;
        ui.open(&console(&h, ""), "console-login").await;
        ui.log_in(USERNAME, PASSWORD, "overview").await;

        // On: the configure-OTP pages, then back in the console.
        ui.click("nav a[href$='/account/security']", "security").await;
        ui.click("#add-authenticator", "configure-otp").await;
        ui.expect(Screen::ConfigureOtp).await;
        let secret = signin::base32_decode(&text_of(&ui, "#otp-secret").await);
        ui.type_into("otp", &signin::totp_now(&h, &secret)).await;
        ui.type_into("device_name", "Pixel").await;
        ui.submit("recovery-codes").await;
        let first_codes = recovery_codes(&ui).await;
        ui.press("acknowledge", "yes", "security-with-otp").await;
        assert!(text_of(&ui, "#twofactor-status").await.contains("is on"), "{}", ui.describe().await);

        // Signed out, the next sign-in asks for the code.
        sign_out(&ui).await;
        ui.open(&console(&h, ""), "login-with-otp").await;
        ui.log_in(USERNAME, PASSWORD, "otp").await;
        ui.expect(Screen::Otp).await;
        ui.type_into("otp", &signin::totp_next(&h, &secret)).await;
        ui.submit("overview-after-otp").await;
        ui.element("#checklist").await;

        // New recovery codes: shown once, downloadable; the old ones die.
        ui.click("nav a[href$='/account/security']", "security-2").await;
        ui.click("#regenerate-codes", "new-codes").await;
        let new_codes = recovery_codes(&ui).await;
        let download = ui.element("#download-codes").await.attr("href").await.ok().flatten().unwrap_or_default();
        assert!(download.starts_with("data:text/plain") && download.contains(&new_codes[0]), "{download}");
        sign_out(&ui).await;
        assert!(!sign_in_with_recovery_code(&ui, &h, &first_codes[0], "old-code").await, "an old code works");
        assert!(ui.error().await.to_lowercase().contains("recovery code"));
        assert!(sign_in_with_recovery_code(&ui, &h, &new_codes[0], "new-code").await, "{}", ui.describe().await);
        sign_out(&ui).await;
        assert!(!sign_in_with_recovery_code(&ui, &h, &new_codes[0], "new-code-again").await, "a code works twice");
        assert!(sign_in_with_recovery_code(&ui, &h, &new_codes[1], "next-code").await, "{}", ui.describe().await);

        // Off again: the password and a current code of the app.
        ui.click("nav a[href$='/account/security']", "security-3").await;
        ui.element("#authenticator-1 summary").await.click().await.expect("open the removal form");
        fill(&ui, "#remove-password-1", PASSWORD).await;
        let period = signin::otp_policy(&h).period;
        let later = signin::totp_at(&h, &secret, signin::unix_now() + 2 * period);
        fill(&ui, "#remove-otp-1", &later).await;
        ui.click("#authenticator-1 form button[type=submit]", "removed").await;
        let status = text_of(&ui, "#twofactor-status").await;
        assert!(status.contains("is off"), "{status}");
        assert_eq!(signin::events(&h, Some("credential_removed")).await.len(), 1);
    })
    .await;
});

db_test!(async fn console_access_tokens_and_log_download_in_chromium(db) {
    with_browser(&format!("console_tokens_and_log_{db:?}"), |ui| async move {
        let app = App::start().await;
        let h = start(db, &app).await;
        ui.open(&console(&h, ""), "console-login").await;
        ui.log_in(USERNAME, PASSWORD, "overview").await;

        // A token: named, openid ticked by default; its secret shown once, with a copy button
        // (the one script, allowed by the page's CSP).
        ui.click("nav a[href$='/account/tokens']", "tokens").await;
        fill(&ui, "#token-name", "deploy script").await;
        ui.click("form[action$='/account/tokens'] button[type=submit]", "token-made").await;
        let secret = ui.element("#token-secret").await.value().await.ok().flatten().unwrap_or_default();
        assert!(secret.starts_with("gtp_"), "{secret}");
        let copy = ui.element("#copy-secret").await;
        assert!(copy.is_displayed().await.unwrap_or(false), "the copy button stays hidden: CSP or script broken");

        // Userinfo takes it; revoked, it is refused.
        let userinfo = |token: String| oauth::backchannel().get(h.endpoint("userinfo")).bearer_auth(token).send();
        let info = userinfo(secret.clone()).await.expect("userinfo");
        assert_eq!(info.status(), reqwest::StatusCode::OK);
        ui.click("nav a[href$='/account/tokens']", "tokens-listed").await;
        assert!(text_of(&ui, "#tokens").await.contains("deploy script"));
        ui.click("#token-1 form button[type=submit]", "token-revoked").await;
        let info = userinfo(secret.clone()).await.expect("userinfo");
        assert_eq!(info.status(), reqwest::StatusCode::UNAUTHORIZED);

        // The log, downloaded as CSV from the page's link, names what happened.
        ui.click("nav a[href$='/account/log']", "log").await;
        let href = ui.element("#download-csv").await.attr("href").await.ok().flatten().unwrap_or_default();
        // The browser would save the file; fetch it with the browser's cookies instead.
        let cookies = ui.d.get_all_cookies().await.expect("the browser's cookies");
        let cookie = cookies.iter().map(|c| format!("{}={}", c.name, c.value)).collect::<Vec<_>>().join("; ");
        let download = oauth::backchannel()
            .get(format!("{}{href}", h.url))
            .header("cookie", cookie)
            .send()
            .await
            .expect("download the CSV");
        assert_eq!(download.status(), reqwest::StatusCode::OK);
        let disposition = download.headers().get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(disposition.starts_with("attachment"), "{disposition}");
        let csv = download.text().await.expect("the CSV");
        for kind in ["sign_in", "personal_access_token_created", "personal_access_token_revoked"] {
            assert!(csv.contains(kind), "{kind} is not in the CSV:\n{csv}");
        }
        assert!(!csv.contains(&secret), "the secret is in the log");
    })
    .await;
});

db_test!(async fn a_trusted_device_in_chromium_skips_the_code_until_it_is_forgotten(db) {
    with_browser(&format!("trusted_device_{db:?}"), |ui| async move {
        let app = App::start().await;
        let realm = format!(
            "{}trusted_devices: {{ enabled: true, days: 30 }}\nacr: {{ loa_map: {{ gold: 2 }} }}\n",
            signin::flow_realm(&app.callback).replace("look_around: 1", "look_around: 2")
        );
        let h = Harness::start(db, &realm).await;
        h.add_user(USERNAME, EMAIL, PASSWORD).await;
        let otp = signin::enrol_otp(&h, USERNAME, PASSWORD).await;

        // The code, with "Remember this device" ticked.
        let (req, verifier) = crate::browser_e2e::request(&app, false);
        ui.open(&req.url(&h), "login").await;
        ui.log_in(USERNAME, PASSWORD, "otp").await;
        ui.expect(Screen::Otp).await;
        ui.type_into("otp", &signin::totp_next(&h, &otp.secret)).await;
        ui.element("#remember-device").await.click().await.expect("tick the box");
        ui.submit("at-the-app").await;
        let claims = crate::browser_e2e::at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{claims}");

        // Signing in again on this device: the password only, and the tokens say so.
        let (req, verifier) = crate::browser_e2e::request(&app, true);
        ui.open(&req.url(&h), "login-again").await;
        ui.log_in(USERNAME, PASSWORD, "at-the-app-again").await;
        let claims = crate::browser_e2e::at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(claims["amr"], serde_json::json!(["pwd"]), "{claims}");
        assert_eq!(claims["acr"], "1", "{claims}");

        // An app asking for gold (step-up) in that one-factor session: the code only.
        let (req, verifier) = crate::browser_e2e::request(&app, false);
        let req = req.with("acr_values", "gold");
        ui.open(&req.url(&h), "step-up").await;
        ui.expect(Screen::Otp).await;
        ui.type_into("otp", &signin::totp_at(&h, &otp.secret, signin::unix_now() + 60)).await;
        ui.submit("at-the-app-gold").await;
        let claims = crate::browser_e2e::at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]), "{claims}");
        assert_eq!(claims["acr"], "gold", "{claims}");

        // The console lists it; forgotten, the device is asked for the code again.
        ui.open(&console(&h, "sessions"), "sessions").await;
        let text = ui.describe().await;
        assert!(text.contains("Trusted devices") && text.contains("Trusted until"), "{text}");
        ui.click("#forget-all-devices", "forgotten").await;
        assert!(ui.describe().await.contains("The devices are forgotten"));
        let (req, _) = crate::browser_e2e::request(&app, true);
        ui.open(&req.url(&h), "login-after").await;
        ui.log_in(USERNAME, PASSWORD, "otp-again").await;
        ui.expect(Screen::Otp).await;
    })
    .await;
});

db_test!(async fn an_invite_link_in_chromium_joins_after_the_sign_in_and_the_member_leaves(db) {
    with_browser(&format!("invite_link_{db:?}"), |ui| async move {
        let app = App::start().await;
        let h = start(db, &app).await;
        let cli = gatehouse::admin::Actor::cli();
        let input = gatehouse::orgs::OrgInput {
            name: "Acme Rockets".into(),
            enabled: true,
            ..Default::default()
        };
        let org = gatehouse::admin::create_org(&h.state, &cli, &h.realm, input).await.expect("an organization");
        let terms = gatehouse::orgs::invites::InviteInput::default();
        let link = gatehouse::admin::create_invite(&h.state, &cli, &h.realm, &org.org.id, terms)
            .await
            .expect("an invite link");

        // Opened before signing in, the link asks for the sign-in, then offers the organization.
        ui.open(&link.url, "invite-login").await;
        ui.log_in(USERNAME, PASSWORD, "invite-offer").await;
        assert!(text_of(&ui, "#invite-offer").await.contains("Acme Rockets"));
        ui.click("#join", "joined").await;
        assert!(text_of(&ui, "#organization-1").await.contains("Acme Rockets"));
        assert!(text_of(&ui, "#organization-1").await.contains("member"));

        // The organizations page lists it; leaving takes it off.
        ui.click("#organization-1 form button[type=submit]", "left").await;
        assert!(!text_of(&ui, "#no-organizations").await.is_empty());
        // Having left, they may join again through the same link (it is not single-use).
        ui.open(&link.url, "invite-again").await;
        assert!(text_of(&ui, "#invite-offer").await.contains("Acme Rockets"));

        // As its owner, they manage it from the console: a new link, shown once; a revocation.
        ui.click("#join", "joined-again").await;
        let user = h.state.store.find_user_by_username(&h.realm, USERNAME).await.unwrap().expect("the user");
        let owner = ["owner".to_string()];
        gatehouse::admin::set_org_member_roles(&h.state, &cli, &h.realm, &org.org.id, &user.id, &owner)
            .await
            .expect("made owner");
        ui.open(&console(&h, "organizations"), "organizations-owner").await;
        ui.click(&format!("#manage-{}", org.org.alias), "manage").await;
        assert!(text_of(&ui, "#members").await.contains(USERNAME));
        fill(&ui, "#link-domain", "example.com").await;
        ui.click("form[action$='/invites'] button[type=submit]", "link-created").await;
        let url = ui.element("#link-url").await.value().await.unwrap_or_default().unwrap_or_default();
        assert!(url.contains("/account/organizations/join?invite="), "{url}");
        assert!(text_of(&ui, "#link-1").await.contains("example.com"));
        ui.click("#link-1 form button[type=submit]", "link-revoked").await;
        assert!(text_of(&ui, "#link-1").await.contains("revoked"));
    })
    .await;
});
