//! The account console's pages, driven by the cookie-jar browser on both databases: signing in
//! through the built-in `account-console` client, the security checklist, changing the password
//! (current password, policy, fresh sign-in, other sessions signed out with their tokens), and
//! the sessions list (browser and OS from the User-Agent; sign out one, the others, all).

use reqwest::StatusCode;
use url::Url;

use crate::support::browser::{self, Page};
use crate::support::oauth::{self, ClientAuth};
use crate::support::signin::{self, SignIn, events, form_of, visible_text};
use crate::support::*;

pub(crate) const CHROME_LINUX: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
pub(crate) const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

pub(crate) fn browser_as(user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(user_agent)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build the browser client")
}

pub(crate) fn account_url(h: &Harness, page: &str) -> String {
    let base = format!("{}/realms/{}/account", h.url, h.realm);
    if page.is_empty() {
        base
    } else {
        format!("{base}/{page}")
    }
}

/// Opens a console page and follows the server's redirects (to sign in and back).
pub(crate) async fn open(h: &Harness, b: &reqwest::Client, url: &str) -> Page {
    let server = Url::parse(&h.url).expect("server URL");
    browser::follow_on_server(b, browser::get(b, url).await, &server).await
}

/// Opens the console in `b`, signing in with the login form when asked; the overview page.
pub(crate) async fn sign_in_to_console(h: &Harness, b: &reqwest::Client, password: &str) -> Page {
    let server = Url::parse(&h.url).expect("server URL");
    let page = open(h, b, &account_url(h, "")).await;
    let page = if page.body.contains("name=\"username\"") {
        let mut form = form_of(&page);
        form.set("username", USERNAME);
        form.set("password", password);
        browser::follow_on_server(b, form.submit(b).await, &server).await
    } else {
        page
    };
    assert_eq!(page.status, StatusCode::OK, "{}", page.describe());
    assert!(
        page.url.path().starts_with(&format!("/realms/{}/account", h.realm)),
        "{}",
        page.describe()
    );
    page
}

/// Posts the console form whose action ends with `action`, with `fields` set.
pub(crate) async fn post(h: &Harness, b: &reqwest::Client, page: &Page, action: &str, fields: &[(&str, &str)]) -> Page {
    let form = forms(page)
        .into_iter()
        .find(|f| f.action.path().ends_with(action))
        .unwrap_or_else(|| panic!("no form posting to {action}: {}", page.describe()));
    let mut form = form;
    for (name, value) in fields {
        form.set(name, value);
    }
    let server = Url::parse(&h.url).expect("server URL");
    browser::follow_on_server(b, form.submit(b).await, &server).await
}

/// Every `<form method="post">` of a page.
pub(crate) fn forms(page: &Page) -> Vec<browser::Form> {
    page.body
        .split("<form")
        .skip(1)
        .filter_map(|chunk| browser::parse_post_form(&format!("<form{chunk}"), &page.url))
        .collect()
}

/// A sign-in of the `web` app in `b`, with its refresh token.
pub(crate) async fn app_refresh_token(h: &Harness, b: &reqwest::Client) -> String {
    let mut s = SignIn::start(h, b, WEB_CLIENT).await;
    if s.shown() == signin::Shown::Login {
        s.log_in(USERNAME, PASSWORD).await;
    }
    let tokens = s.exchange(h).await;
    tokens
        .response
        .str("refresh_token")
        .expect("a refresh token")
        .to_string()
}

pub(crate) async fn refresh_works(h: &Harness, refresh_token: &str) -> bool {
    let r = oauth::refresh(h, ClientAuth::Basic(WEB_CLIENT, WEB_SECRET), refresh_token).await;
    r.status == StatusCode::OK
}

db_test!(async fn the_console_signs_in_through_the_realm_and_shows_the_checklist(db) {
    let h = signin::start_flow_realm(db).await;
    let b = h.new_browser();

    // Without a session: off to the realm's own authorization endpoint as `account-console`.
    let first = browser::get(&b, &account_url(&h, "")).await;
    let to = first.location().unwrap_or_else(|| panic!("not sent to sign in: {}", first.describe()));
    assert_eq!(to.path(), format!("/realms/{}/protocol/openid-connect/auth", h.realm));
    assert_eq!(browser::query(&to, "client_id").as_deref(), Some("account-console"));
    assert_eq!(browser::query(&to, "code_challenge_method").as_deref(), Some("S256"));

    let page = sign_in_to_console(&h, &b, PASSWORD).await;
    let text = visible_text(&page.body);
    assert!(text.contains("Your account"), "{text}");
    assert!(text.contains(USERNAME) && text.contains(EMAIL), "{text}");
    assert!(text.contains("A password is set."), "{text}");
    assert!(text.contains("Two-factor authentication is off"), "{text}");
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));

    // German for a German browser.
    let de = b
        .get(account_url(&h, ""))
        .header("accept-language", "de")
        .send()
        .await
        .expect("GET the console");
    let de = visible_text(&de.text().await.unwrap_or_default());
    assert!(de.contains("Ihr Konto"), "{de}");

    // A callback nobody started signs nothing in, and a replayed one neither.
    let stray = browser::get(&h.new_browser(), &format!("{}/callback?code=x&state=y", account_url(&h, ""))).await;
    assert_eq!(stray.status, StatusCode::BAD_REQUEST, "{}", stray.describe());
    assert!(visible_text(&stray.body).contains("expired or was already used"), "{}", stray.describe());

    // An unknown realm: a page saying so.
    let none = browser::get(&b, &format!("{}/realms/nope/account", h.url)).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
});

db_test!(async fn changing_the_password_checks_it_and_signs_out_the_other_sessions(db) {
    let h = signin::start_flow_realm(db).await;
    let mine = h.new_browser();
    sign_in_to_console(&h, &mine, PASSWORD).await;
    // Another browser of the same user, signed in to an app.
    let other = h.new_browser();
    let other_refresh = app_refresh_token(&h, &other).await;
    // And one more app sign-in in this browser: it stays.
    let my_refresh = app_refresh_token(&h, &mine).await;

    let security = open(&h, &mine, &account_url(&h, "security")).await;
    assert!(security.body.contains("name=\"password-new\""), "{}", security.describe());

    let attempts: [(&str, &str, &str, &str); 4] = [
        ("Wrong-Password-1", "Brand-New-Secret-42", "Brand-New-Secret-42", "not your current password"),
        (PASSWORD, "Short1!", "Short1!", "12"),
        (PASSWORD, "Brand-New-Secret-42", "Brand-New-Secret-43", "do not match"),
        (PASSWORD, PASSWORD, PASSWORD, "not used for your last"),
    ];
    for (current, new, confirm, message) in attempts {
        let fields = [("password", current), ("password-new", new), ("password-confirm", confirm)];
        let refused = post(&h, &mine, &security, "/security/password", &fields).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.describe());
        let error = signin::error_text(&refused).unwrap_or_default();
        assert!(error.contains(message), "expected {message:?}, got {error:?}");
    }
    assert!(refresh_works(&h, &other_refresh).await, "a refused change signed nobody out");

    // Without the form's CSRF token: refused, nothing changed.
    let forged = mine
        .post(format!("{}/password", account_url(&h, "security")))
        .form(&[("password", PASSWORD), ("password-new", "Brand-New-Secret-42"), ("password-confirm", "Brand-New-Secret-42")])
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let new_password = "Brand-New-Secret-42";
    let fields = [("password", PASSWORD), ("password-new", new_password), ("password-confirm", new_password)];
    let done = post(&h, &mine, &security, "/security/password", &fields).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.describe());
    assert!(visible_text(&done.body).contains("Your password was changed."), "{}", done.describe());

    // The other browser's session and tokens are gone; this browser's stay.
    assert!(!refresh_works(&h, &other_refresh).await, "the other session's refresh token still works");
    assert!(refresh_works(&h, &my_refresh).await, "this browser's own tokens were revoked");
    let again = browser::get(&other, &account_url(&h, "")).await;
    assert!(again.is_redirect(), "the other browser is still signed in: {}", again.describe());

    // The new password signs in; the old does not.
    let mut old = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    old.log_in(USERNAME, PASSWORD).await;
    let error = old.expect_error(signin::Shown::Login);
    assert!(error.contains("Invalid username or password"), "{error}");
    signin::password_sign_in(&h, WEB_CLIENT, USERNAME, new_password).await;

    let changed = events(&h, Some("password_changed")).await;
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].details["via"], "account");
    assert_eq!(changed[0].details["signed_out_other_sessions"], true);
});

db_test!(async fn every_console_form_needs_its_csrf_token(db) {
    let h = signin::start_flow_realm(db).await;
    let b = h.new_browser();
    sign_in_to_console(&h, &b, PASSWORD).await;
    for (path, fields) in [
        ("/security/password", vec![("password", PASSWORD), ("password-new", "Another-Secret-77"), ("password-confirm", "Another-Secret-77")]),
        ("/security/remove-authenticator", vec![("device", "x"), ("password", PASSWORD), ("otp", "123456")]),
        ("/security/recovery-codes", vec![]),
        ("/tokens", vec![("name", "sneaky"), ("days", "7"), ("scope", "openid")]),
        ("/tokens/some-id/revoke", vec![]),
        ("/sessions/sign-out", vec![("which", "all")]),
        ("/sessions/trusted-devices", vec![("which", "all")]),
        ("/security/verify-email", vec![]),
        ("/security/email-codes", vec![("enable", "true")]),
        ("/security/phone", vec![("phone", "+491701234567")]),
        ("/security/phone/verify", vec![("otp", "123456")]),
        ("/security/phone/remove", vec![]),
        ("/security/sms-codes", vec![("enable", "true")]),
        ("/security/keys/remove", vec![("credential", "x")]),
        ("/security/keys/rename", vec![("credential", "x"), ("label", "y")]),
        ("/security/password/remove", vec![]),
    ] {
        for csrf in [None, Some("forged")] {
            let mut body: Vec<(&str, &str)> = csrf.map(|c| vec![("csrf", c)]).unwrap_or_default();
            body.extend(fields.iter().cloned());
            let r = b.post(format!("{}{path}", account_url(&h, ""))).form(&body).send().await.expect("POST");
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} with {csrf:?}");
        }
    }
    assert!(open(&h, &b, &account_url(&h, "")).await.body.contains("id=\"checklist\""), "still signed in");
    assert!(events(&h, Some("password_changed")).await.is_empty());
});

db_test!(async fn an_old_sign_in_signs_in_again_before_the_password_changes(db) {
    let h = signin::start_flow_realm(db).await;
    let b = h.new_browser();
    sign_in_to_console(&h, &b, PASSWORD).await;
    let app_refresh = app_refresh_token(&h, &b).await;
    // The sign-in happened an hour ago (the realm wants one within 5 minutes).
    h.query("UPDATE sso_sessions SET auth_time = auth_time - 3600").await;

    let security = open(&h, &b, &account_url(&h, "security")).await;
    assert!(!security.body.contains("name=\"password-new\""), "{}", security.describe());
    assert!(security.body.contains("id=\"reauthenticate\""), "{}", security.describe());
    let tokens = open(&h, &b, &account_url(&h, "tokens")).await;
    assert!(!tokens.body.contains("name=\"name\""), "a token can be made: {}", tokens.describe());
    // Whatever form a stale page still holds, each sensitive change sends the browser to sign
    // in again first (a forged or old form changes nothing).
    let sessions = open(&h, &b, &account_url(&h, "sessions")).await;
    let csrf = forms(&sessions)[0].get("csrf").expect("a CSRF token").to_string();
    for (path, fields) in [
        ("/security/password", vec![("password", PASSWORD), ("password-new", "Another-Secret-77"), ("password-confirm", "Another-Secret-77")]),
        ("/security/recovery-codes", vec![]),
        ("/tokens", vec![("name", "sneaky"), ("days", "7"), ("scope", "openid")]),
        ("/sessions/sign-out", vec![("which", "others")]),
        ("/sessions/sign-out", vec![("which", "all")]),
        ("/security/remove-authenticator", vec![("device", "x"), ("password", PASSWORD), ("otp", "123456")]),
        ("/security/email-codes", vec![("enable", "true")]),
        ("/security/phone", vec![("phone", "+491701234567")]),
        ("/security/phone/verify", vec![("otp", "123456")]),
        ("/security/phone/remove", vec![]),
        ("/security/sms-codes", vec![("enable", "true")]),
        ("/security/keys/remove", vec![("credential", "x")]),
        ("/security/keys/rename", vec![("credential", "x"), ("label", "y")]),
        ("/security/password/remove", vec![]),
    ] {
        let mut body = vec![("csrf", csrf.as_str())];
        body.extend(fields);
        let r = b.post(format!("{}{path}", account_url(&h, ""))).form(&body).send().await.expect("POST");
        let to = r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_string();
        assert!(r.status().is_redirection() && to.contains("/protocol/openid-connect/auth"), "{path}: {} {to}", r.status());
        assert!(to.contains("prompt=login"), "{path}: {to}");
    }
    assert!(h.query("SELECT id FROM personal_access_tokens").await.is_empty());
    assert!(events(&h, Some("password_changed")).await.is_empty());

    // "Sign in again" asks for the password even though the session is live, then comes back.
    let login = open(&h, &b, &format!("{}/reauthenticate?page=security", account_url(&h, ""))).await;
    let mut form = form_of(&login);
    assert!(form.has("password"), "{}", login.describe());
    form.set("username", USERNAME);
    form.set("password", PASSWORD);
    let server = Url::parse(&h.url).expect("server URL");
    let back = browser::follow_on_server(&b, form.submit(&b).await, &server).await;
    assert_eq!(back.url.path(), format!("/realms/{}/account/security", h.realm), "{}", back.describe());
    assert!(back.body.contains("name=\"password-new\""), "{}", back.describe());

    // Signing in again replaced the session but signed no app out: its tokens moved along.
    assert!(refresh_works(&h, &app_refresh).await, "signing in again signed the app out");
    let live = h.query("SELECT COUNT(*) AS n FROM sso_sessions WHERE ended_at IS NULL").await;
    assert_eq!(live[0].try_get::<i64>("", "n").expect("count"), 1, "the old session is still live");
});

/// The standard realm with a GeoIP database in which loopback is in Berlin.
async fn start_with_geoip(db: Db) -> Harness {
    let h = Harness::start_with(db, &signin::standard_flow_realm(), |dir, o| {
        o.geoip_database = Some(geoip::write_city_database(dir, &[geoip::LOOPBACK_IN_BERLIN]));
    })
    .await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h
}

db_test!(async fn the_sessions_page_names_each_browser_and_signs_out_the_others(db) {
    let h = start_with_geoip(db).await;
    let laptop = browser_as(CHROME_LINUX);
    let phone = browser_as(SAFARI_IPHONE);
    sign_in_to_console(&h, &laptop, PASSWORD).await;
    sign_in_to_console(&h, &phone, PASSWORD).await;
    let phone_refresh = app_refresh_token(&h, &phone).await;

    let page = open(&h, &laptop, &account_url(&h, "sessions")).await;
    let text = visible_text(&page.body);
    assert!(text.contains("Chrome 131 · Linux"), "{text}");
    assert!(text.contains("Safari 17 · iPhone"), "{text}");
    assert!(text.contains("Phone") && text.contains("Computer"), "{text}");
    assert_eq!(text.matches("This device").count(), 1, "{text}");
    assert!(text.contains("127.0.0.1"), "{text}");
    assert_eq!(text.matches("Berlin, Germany").count(), 2, "{text}");
    assert!(text.contains("web"), "the phone's app is listed: {text}");
    let german = laptop
        .get(account_url(&h, "log"))
        .header("accept-language", "de")
        .send()
        .await
        .expect("the log page answers");
    let log = visible_text(&german.text().await.expect("the log page's body"));
    assert!(log.contains("Berlin, Deutschland"), "places are named in the page's language: {log}");
    // The phone's first sign-in is the one unlike the laptop's before it.
    let log = open(&h, &laptop, &account_url(&h, "log")).await;
    assert_eq!(log.body.matches("class=\"not-me\"").count(), 1, "{}", log.describe());

    // Someone else's session is not theirs to end.
    let bob_id = h.add_user("bob", "bob@example.com", PASSWORD).await;
    let bob = h.new_browser();
    let mut bob_signs_in = SignIn::start(&h, &bob, WEB_CLIENT).await;
    bob_signs_in.log_in("bob", PASSWORD).await;
    let rows = h.query(&format!("SELECT id FROM sso_sessions WHERE user_id = '{bob_id}'")).await;
    let bob_session: String = rows[0].try_get("", "id").expect("bob's session id");
    let signed_out = post(&h, &laptop, &page, "/sessions/sign-out", &[("session", &bob_session)]).await;
    assert_eq!(signed_out.status, StatusCode::OK, "{}", signed_out.describe());
    let rows = h.query(&format!("SELECT ended_at FROM sso_sessions WHERE id = '{bob_session}'")).await;
    assert_eq!(rows[0].try_get::<Option<i64>>("", "ended_at").expect("ended_at"), None, "bob was signed out");
    assert!(refresh_works(&h, &phone_refresh).await);

    // "Sign out all other sessions": the phone's session and its app's tokens end at once.
    let page = open(&h, &laptop, &account_url(&h, "sessions")).await;
    let form = forms(&page)
        .into_iter()
        .find(|f| f.buttons.iter().any(|(n, v)| n == "which" && v == "others"))
        .expect("a sign-out-others form");
    let mut form = form;
    form.press("which", "others");
    let server = Url::parse(&h.url).expect("server URL");
    let after = browser::follow_on_server(&laptop, form.submit(&laptop).await, &server).await;
    let text = visible_text(&after.body);
    assert!(!text.contains("Safari 17"), "{text}");
    assert!(text.contains("Chrome 131"), "{text}");
    assert!(!refresh_works(&h, &phone_refresh).await, "the phone's refresh token still works");
    let phone_again = browser::get(&phone, &account_url(&h, "")).await;
    assert!(phone_again.is_redirect(), "{}", phone_again.describe());

    // "Sign out everywhere": this browser too, said on a page of its own.
    let mut form = forms(&after)
        .into_iter()
        .find(|f| f.buttons.iter().any(|(n, v)| n == "which" && v == "all"))
        .expect("a sign-out-everywhere form");
    form.press("which", "all");
    let everywhere = form.submit(&laptop).await;
    assert_eq!(everywhere.status, StatusCode::OK, "{}", everywhere.describe());
    assert!(visible_text(&everywhere.body).contains("signed out of every session"), "{}", everywhere.describe());
    assert!(browser::get(&laptop, &account_url(&h, "")).await.is_redirect(), "the laptop is still signed in");

    let logouts = events(&h, Some("logout")).await;
    assert!(!logouts.is_empty() && logouts.iter().all(|e| e.details["via"] == "account"), "{logouts:?}");
});

db_test!(async fn authenticator_apps_are_added_by_kc_action_and_removed_with_password_and_code(db) {
    let h = signin::start_flow_realm(db).await;
    let b = h.new_browser();
    sign_in_to_console(&h, &b, PASSWORD).await;
    let server = Url::parse(&h.url).expect("server URL");

    // "Add an authenticator app" runs configure-otp for the signed-in user, then comes back.
    let setup = open(&h, &b, &format!("{}/add-authenticator", account_url(&h, "security"))).await;
    assert!(setup.body.contains("id=\"otp-secret\""), "{}", setup.describe());
    let secret = signin::secret_from_page(&setup.body);
    let mut form = form_of(&setup);
    form.set("otp", &signin::totp_now(&h, &secret));
    form.set("device_name", "Work phone");
    let codes = browser::follow_on_server(&b, form.submit(&b).await, &server).await;
    assert!(codes.body.contains("id=\"recovery-codes\""), "{}", codes.describe());
    let mut form = form_of(&codes);
    form.press("acknowledge", "yes");
    let back = browser::follow_on_server(&b, form.submit(&b).await, &server).await;
    assert_eq!(back.url.path(), format!("/realms/{}/account/security", h.realm), "{}", back.describe());
    let text = visible_text(&back.body);
    assert!(text.contains("your change was saved") && text.contains("Work phone"), "{text}");
    assert!(text.contains("Two-factor authentication is on"), "{text}");

    // Removing it needs the password and a current code of that app.
    let wrong_code = signin::wrong_totp(&h, &secret);
    let fields = [("password", PASSWORD), ("otp", wrong_code.as_str())];
    let refused = post(&h, &b, &back, "/security/remove-authenticator", &fields).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.describe());
    assert!(signin::error_text(&refused).unwrap_or_default().contains("Invalid code"), "{}", refused.describe());
    let next_code = signin::totp_next(&h, &secret);
    let fields = [("password", "Wrong-Password-1"), ("otp", next_code.as_str())];
    let refused = post(&h, &b, &back, "/security/remove-authenticator", &fields).await;
    assert!(signin::error_text(&refused).unwrap_or_default().contains("not your current password"), "{}", refused.describe());

    let fields = [("password", PASSWORD), ("otp", next_code.as_str())];
    let removed = post(&h, &b, &back, "/security/remove-authenticator", &fields).await;
    let text = visible_text(&removed.body);
    assert!(text.contains("The authenticator app was removed.") && !text.contains("Work phone"), "{text}");
    assert!(text.contains("Two-factor authentication is off"), "{text}");
    let removed_events = events(&h, Some("credential_removed")).await;
    assert_eq!(removed_events.len(), 1, "{removed_events:?}");
    assert_eq!(removed_events[0].details["last"], true);
});

db_test!(async fn the_console_client_cannot_get_tokens_or_unknown_actions(db) {
    let h = signin::start_flow_realm(db).await;
    // Its codes are never exchanged at the token endpoint, whoever holds one.
    let r = oauth::post_form(
        &h.endpoint("token"),
        ClientAuth::Public("account-console"),
        &[("grant_type", "authorization_code"), ("code", "anything"), ("redirect_uri", &format!("{}/callback", account_url(&h, ""))), ("code_verifier", "x")],
    )
    .await;
    assert_eq!(r.str("error"), Some("unauthorized_client"), "{}", r.text);

    // An action the realm does not know goes back to the app as invalid_request.
    let (request, _) = oauth::AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let to = browser::redirect_away(&h.new_browser(), &request.with("kc_action", "FLY").url(&h)).await;
    assert_eq!(browser::query(&to, "error").as_deref(), Some("invalid_request"), "{to}");
});

/// An authorization request of `web` in `b` asking for `kc_action`; the first page it shows.
async fn app_asks_for(h: &Harness, b: &reqwest::Client, action: &str) -> SignIn {
    let (request, verifier) = oauth::AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    SignIn::start_with(h, b, request.with("kc_action", action), verifier).await
}

db_test!(async fn an_apps_kc_action_runs_for_the_signed_in_user_and_reports_how_it_went(db) {
    let h = signin::start_flow_realm(db).await;
    let b = h.new_browser();
    SignIn::start(&h, &b, WEB_CLIENT).await.log_in(USERNAME, PASSWORD).await.expect(signin::Shown::Away);

    // UPDATE_PASSWORD: the page, then back at the app with a code and success.
    let mut s = app_asks_for(&h, &b, "UPDATE_PASSWORD").await;
    s.expect(signin::Shown::UpdatePassword);
    assert!(s.page.body.contains("name=\"cancel-aia\""), "an app's action can be cancelled");
    let new_password = "Brand-New-Secret-42";
    s.fill(&[("password-new", new_password), ("password-confirm", new_password)]).await;
    assert_eq!(browser::query(&s.location(), "kc_action_status").as_deref(), Some("success"));
    s.code(&h);

    // CONFIGURE_TOTP, cancelled: still a code, and cancelled; nothing was set up.
    let mut s = app_asks_for(&h, &b, "CONFIGURE_TOTP").await;
    s.expect(signin::Shown::ConfigureOtp);
    s.press(&[], ("cancel-aia", "true")).await;
    assert_eq!(browser::query(&s.location(), "kc_action_status").as_deref(), Some("cancelled"));
    s.code(&h);
    let devices = h.query("SELECT id FROM credentials WHERE kind = 'otp'").await;
    assert!(devices.is_empty(), "a cancelled setup left a device");

    // delete_credential:{id}: confirmed, the app is gone and the app hears success.
    signin::enrol_otp(&h, USERNAME, new_password).await;
    let rows = h.query("SELECT id FROM credentials WHERE kind = 'otp'").await;
    let device: String = rows[0].try_get("", "id").expect("the device's id");
    let mut s = app_asks_for(&h, &b, &format!("delete_credential:{device}")).await;
    assert!(visible_text(&s.page.body).contains("remove your authenticator app"), "{}", s.page.describe());
    assert!(visible_text(&s.page.body).contains("It is your last one"), "{}", s.page.describe());
    s.press(&[], ("confirm", "yes")).await;
    assert_eq!(browser::query(&s.location(), "kc_action_status").as_deref(), Some("success"));
    assert!(h.query("SELECT id FROM credentials WHERE kind = 'otp'").await.is_empty());
    let removed = events(&h, Some("credential_removed")).await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].details["via"], "kc_action");
    // One that is not there: said so, and the app hears error.
    let mut s = app_asks_for(&h, &b, &format!("delete_credential:{device}")).await;
    assert!(visible_text(&s.page.body).contains("does not exist"), "{}", s.page.describe());
    s.press(&[], ("confirm", "no")).await;
    assert_eq!(browser::query(&s.location(), "kc_action_status").as_deref(), Some("error"));
    let to = browser::redirect_away(&b, &oauth::AuthRequest::new(WEB_CLIENT, WEB_REDIRECT).0.with("kc_action", "delete_credential:<x>").url(&h)).await;
    assert_eq!(browser::query(&to, "error").as_deref(), Some("invalid_request"), "{to}");

    // An action an admin requires cannot be cancelled, even when an app asks for it too.
    signin::require(&h, USERNAME, "configure-otp").await;
    let s = app_asks_for(&h, &b, "CONFIGURE_TOTP").await;
    s.expect(signin::Shown::ConfigureOtp);
    assert!(!s.page.body.contains("cancel-aia"), "a required action offers Cancel");
    let mut forged = s.form();
    forged.fields.push(("cancel-aia".into(), "true".into()));
    let mut s = s;
    s.submit(&forged).await;
    s.expect(signin::Shown::ConfigureOtp);
});

/// Signs in with a recovery code instead of the app's code; the page it ends on.
async fn sign_in_with_recovery_code(h: &Harness, code: &str) -> SignIn {
    let mut s = SignIn::start(h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(signin::Shown::Otp);
    s.press(&[], ("try_another", "recovery-code")).await;
    s.expect(signin::Shown::RecoveryCode);
    s.fill(&[("recovery_code", code)]).await;
    s
}

/// Signs in to the console's security page in `b` with the password and the next code of the
/// app whose secret is `secret`.
async fn security_page_with_code(h: &Harness, b: &reqwest::Client, secret: &[u8]) -> Page {
    let server = Url::parse(&h.url).expect("server URL");
    let login = open(h, b, &account_url(h, "security")).await;
    let mut form = form_of(&login);
    form.set("username", USERNAME);
    form.set("password", PASSWORD);
    let otp = browser::follow_on_server(b, form.submit(b).await, &server).await;
    let mut form = form_of(&otp);
    assert!(form.has("otp"), "{}", otp.describe());
    form.set("otp", &signin::totp_next(h, secret));
    browser::follow_on_server(b, form.submit(b).await, &server).await
}

db_test!(async fn new_recovery_codes_replace_the_old_and_the_log_shows_and_exports_it(db) {
    let h = signin::start_flow_realm(db).await;
    let enrolment = signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    let b = h.new_browser();
    // The console's sign-in asks for the second factor too.
    let security = security_page_with_code(&h, &b, &enrolment.secret).await;
    assert!(visible_text(&security.body).contains("Recovery codes left: 10"), "{}", security.describe());

    let shown = post(&h, &b, &security, "/security/recovery-codes", &[]).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.describe());
    assert_eq!(shown.header("cache-control"), Some("no-store"));
    let codes = signin::recovery_codes(&shown.body);
    assert_eq!(codes.len(), 10, "{}", shown.describe());
    assert!(shown.body.contains("download=\"recovery-codes.txt\""), "{}", shown.describe());
    assert!(codes.iter().all(|c| !enrolment.recovery_codes.contains(c)));

    // An old code no longer works; a new one works once.
    let old = sign_in_with_recovery_code(&h, &enrolment.recovery_codes[0]).await;
    let message = old.expect_error(signin::Shown::RecoveryCode);
    assert!(message.to_lowercase().contains("recovery code"), "{message}");
    sign_in_with_recovery_code(&h, &codes[0]).await.expect(signin::Shown::Away);
    let again = sign_in_with_recovery_code(&h, &codes[0]).await;
    again.expect_error(signin::Shown::RecoveryCode);

    // The log: the regeneration, the sign-ins (failed ones too), newest first.
    let log = open(&h, &b, &account_url(&h, "log")).await;
    let text = visible_text(&log.body);
    assert!(text.contains("recovery_codes_regenerated"), "{text}");
    assert!(text.contains("sign_in") && text.contains("failed"), "{text}");
    let sign_ins = open(&h, &b, &format!("{}?view=sign-ins&period=24h", account_url(&h, "log"))).await;
    let text = visible_text(&sign_ins.body);
    assert!(!text.contains("recovery_codes_regenerated") && text.contains("sign_in"), "{text}");
    // How each sign-in went: the methods, and that a second factor was asked.
    assert!(text.contains("Signed in with password, recovery code"), "{text}");
    assert!(text.contains("Second factor asked yes"), "{text}");

    // Downloads in the admin export's formats, only this user's events.
    let csv = b.get(format!("{}?format=csv", account_url(&h, "log"))).send().await.expect("GET csv");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-disposition"].to_str().unwrap_or_default().contains("security-log.csv"));
    let csv = csv.text().await.unwrap_or_default();
    assert!(csv.starts_with("id,time,realm,type,"), "{csv}");
    assert!(csv.contains("recovery_codes_regenerated") && csv.contains("sign_in"), "{csv}");
    let jsonl = b.get(format!("{}?format=jsonl", account_url(&h, "log"))).send().await.expect("GET jsonl");
    let jsonl = jsonl.text().await.unwrap_or_default();
    let alice = signin::user_id(&h, USERNAME).await;
    for line in jsonl.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(event["userId"], alice.as_str(), "{line}");
    }
    assert!(jsonl.lines().count() >= 5, "{jsonl}");
});

/// The flow realm where `web` may ask for `manage-account` and is a resource server
/// (`introspection: true`).
pub(crate) fn managing_realm() -> String {
    signin::standard_flow_realm()
        // Only the scopes asked for release claims, so that a token can lack `email`.
        .replace("signing_alg: RS256 }", "signing_alg: RS256, default_scopes: [roles, web-origins] }")
        .replace(
            "realm: flows\n",
            "realm: flows\nscopes: [manage-account]\npat: { scopes: [openid, profile, email, manage-account] }\n",
        )
        .replacen(
            "    pkce: required\n",
            "    pkce: required\n    introspection: true\n    scopes: [openid, profile, email, offline_access, manage-account]\n",
            1,
        )
}

/// An access token of the `web` app for alice with `scope`, got by the `openidconnect` crate.
pub(crate) async fn access_token_from_rp(h: &Harness, scope: &str) -> String {
    use crate::support::rp::{self, RpHttp, chain};
    use openidconnect::{AuthorizationCode, OAuth2TokenResponse, PkceCodeVerifier};
    let (mut request, verifier) = oauth::AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    request.scope = scope.to_string();
    let mut s = SignIn::start_with(h, &h.new_browser(), request, verifier).await;
    s.log_in(USERNAME, PASSWORD).await;
    let http = RpHttp::new();
    let metadata = rp::discover(&http, &h.issuer()).await;
    let client = rp::client(&metadata, WEB_CLIENT, Some(WEB_SECRET), WEB_REDIRECT);
    let tokens = client
        .exchange_code(AuthorizationCode::new(s.code(h)))
        .expect("token endpoint known")
        .set_pkce_verifier(PkceCodeVerifier::new(s.verifier.clone()))
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {}", chain(&e)));
    tokens.access_token().secret().clone()
}

db_test!(async fn the_json_face_speaks_keycloaks_account_api(db) {
    let h = Harness::start_with(db, &managing_realm(), |dir, o| {
        o.geoip_database = Some(geoip::write_city_database(dir, &[geoip::LOOPBACK_IN_BERLIN]));
    })
    .await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    // Reading needs only the account audience, which every user token has; changing needs
    // the manage-account scope.
    let reader = access_token_from_rp(&h, "openid profile email").await;
    let read = oauth::backchannel().get(account_url(&h, "")).bearer_auth(&reader).send().await.expect("GET");
    assert_eq!(read.status(), StatusCode::OK);
    let write = oauth::backchannel()
        .post(account_url(&h, ""))
        .bearer_auth(&reader)
        .json(&serde_json::json!({ "firstName": "Mallory" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    let token = access_token_from_rp(&h, "openid profile email manage-account").await;
    let (_, access) = oauth::jwt_parts(&token);
    assert_eq!(access["aud"], serde_json::json!([WEB_CLIENT, "account"]), "{access}");
    let api = oauth::backchannel();
    let url = account_url(&h, "");
    let call = |method: reqwest::Method, path: &str| {
        api.request(method, format!("{url}{path}"))
            .bearer_auth(&token)
            .header("accept", "application/json")
    };

    // Profile: read, change, refuse a bad change with the field named.
    let profile: serde_json::Value = call(reqwest::Method::GET, "").send().await.expect("GET").json().await.expect("JSON");
    assert_eq!(profile["username"], USERNAME);
    assert_eq!(profile["email"], EMAIL);
    assert_eq!(profile["emailVerified"], false);
    let changed = call(reqwest::Method::POST, "/")
        .json(&serde_json::json!({ "firstName": "Alice", "lastName": "Liddell", "email": "alice@wonderland.example" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let profile: serde_json::Value = call(reqwest::Method::GET, "").send().await.expect("GET").json().await.expect("JSON");
    assert_eq!((profile["firstName"].as_str(), profile["email"].as_str()), (Some("Alice"), Some("alice@wonderland.example")));
    let bad = call(reqwest::Method::POST, "").json(&serde_json::json!({ "email": "not-an-address" })).send().await.expect("POST");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let bad: serde_json::Value = bad.json().await.expect("JSON");
    assert_eq!(bad["errors"][0]["field"], "email", "{bad}");

    // Sessions: this one and a browser's; devices grouped; end the other one.
    let browser = h.new_browser();
    sign_in_to_console(&h, &browser, PASSWORD).await;
    let sessions: serde_json::Value = call(reqwest::Method::GET, "/sessions").send().await.expect("GET").json().await.expect("JSON");
    let list = sessions.as_array().expect("a list");
    assert_eq!(list.len(), 3, "the reader's, this token's and the browser's: {sessions}");
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1, "{sessions}");
    assert!(list.iter().any(|s| s["clients"][0]["clientId"] == WEB_CLIENT), "{sessions}");
    assert!(list.iter().all(|s| s["location"] == "Berlin, Germany"), "{sessions}");
    let devices: serde_json::Value = call(reqwest::Method::GET, "/sessions/devices").send().await.expect("GET").json().await.expect("JSON");
    assert!(!devices.as_array().expect("a list").is_empty(), "{devices}");
    let other = list
        .iter()
        .find(|s| s["current"] == false && s["clients"] == serde_json::json!([]))
        .expect("the browser's session");
    let ended = call(reqwest::Method::DELETE, &format!("/sessions/{}", other["id"].as_str().unwrap_or_default())).send().await.expect("DELETE");
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert!(browser::get(&browser, &url).await.is_redirect(), "the browser is still signed in");
    let gone = call(reqwest::Method::DELETE, "/sessions/not-mine").send().await.expect("DELETE");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    // The security log: filtered, paged, placed; bad parameters named; downloadable.
    let log: serde_json::Value =
        call(reqwest::Method::GET, "/log?type=sign_in&max=2").send().await.expect("GET").json().await.expect("JSON");
    let entries = log.as_array().expect("a list");
    assert_eq!(entries.len(), 2, "{log}");
    assert!(entries.iter().all(|e| e["type"] == "sign_in" && e["location"] == "Berlin, Germany"), "{log}");
    let skipped: serde_json::Value =
        call(reqwest::Method::GET, "/log?type=sign_in&first=1&max=1").send().await.expect("GET").json().await.expect("JSON");
    assert_eq!(skipped[0], entries[1], "first skips");
    let bad = call(reqwest::Method::GET, "/log?max=100000").send().await.expect("GET");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let bad: serde_json::Value = bad.json().await.expect("JSON");
    assert!(bad["errorMessage"].as_str().is_some_and(|m| m.contains("max")), "{bad}");
    let csv = call(reqwest::Method::GET, "/log?format=csv").send().await.expect("GET");
    assert_eq!(csv.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/csv; charset=utf-8"));
    assert!(csv.text().await.expect("CSV").contains("sign_in"));

    // Credentials: the password, and no authenticator app yet.
    let creds: serde_json::Value = call(reqwest::Method::GET, "/credentials").send().await.expect("GET").json().await.expect("JSON");
    assert_eq!(creds[0]["type"], "password", "{creds}");
    assert_eq!(creds[1]["type"], "otp", "{creds}");
    assert_eq!(creds[1]["userCredentialMetadatas"], serde_json::json!([]), "{creds}");

    // An authenticator app appears, is renamed and removed.
    signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    let creds: serde_json::Value = call(reqwest::Method::GET, "/credentials").send().await.expect("GET").json().await.expect("JSON");
    let device = creds[1]["userCredentialMetadatas"][0]["credential"]["id"].as_str().expect("an OTP device").to_string();
    let renamed = call(reqwest::Method::PUT, &format!("/credentials/{device}/label"))
        .json(&"Pocket phone")
        .send()
        .await
        .expect("PUT");
    assert_eq!(renamed.status(), StatusCode::NO_CONTENT);
    let creds: serde_json::Value = call(reqwest::Method::GET, "/credentials").send().await.expect("GET").json().await.expect("JSON");
    assert_eq!(creds[1]["userCredentialMetadatas"][0]["credential"]["userLabel"], "Pocket phone", "{creds}");
    let removed = call(reqwest::Method::DELETE, &format!("/credentials/{device}")).send().await.expect("DELETE");
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let creds: serde_json::Value = call(reqwest::Method::GET, "/credentials").send().await.expect("GET").json().await.expect("JSON");
    assert_eq!(creds[1]["userCredentialMetadatas"], serde_json::json!([]), "{creds}");
    let again = call(reqwest::Method::DELETE, &format!("/credentials/{device}")).send().await.expect("DELETE");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // Personal access tokens: made within this token's scopes, listed without secrets, revoked.
    let made = call(reqwest::Method::POST, "/tokens")
        .json(&serde_json::json!({ "name": "cli", "days": 7, "scopes": ["openid", "profile"] }))
        .send()
        .await
        .expect("POST");
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: serde_json::Value = made.json().await.expect("JSON");
    let secret = made["secret"].as_str().expect("the secret, once").to_string();
    assert!(secret.starts_with("gtp_"), "{made}");
    let listed = call(reqwest::Method::GET, "/tokens").send().await.expect("GET").text().await.expect("body");
    assert!(listed.contains("\"cli\"") && !listed.contains(&secret), "{listed}");
    let narrow = access_token_from_rp(&h, "openid manage-account").await;
    let broader = api
        .post(format!("{url}/tokens"))
        .bearer_auth(&narrow)
        .json(&serde_json::json!({ "name": "wider", "days": 7, "scopes": ["openid", "email"] }))
        .send()
        .await
        .expect("POST");
    assert_eq!(broader.status(), StatusCode::FORBIDDEN, "a token got a PAT with a scope it lacks");
    let id = made["token"]["id"].as_str().expect("the token's id");
    let revoked = call(reqwest::Method::DELETE, &format!("/tokens/{id}")).send().await.expect("DELETE");
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let info = api.get(h.endpoint("userinfo")).bearer_auth(&secret).send().await.expect("userinfo");
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED);

    // Without a token or with a bad one: refused. (Every user access token has the `account`
    // audience, as Keycloak's do.)
    let anonymous = api.get(&url).header("accept", "application/json").bearer_auth("nope").send().await.expect("GET");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let no_pat = api.get(&url).bearer_auth("gtp_not-a-token").send().await.expect("GET");
    assert_eq!(no_pat.status(), StatusCode::UNAUTHORIZED);

    // Signing out everywhere ends this token's session too: the token stops working at once.
    let all = call(reqwest::Method::DELETE, "/sessions?current=true").send().await.expect("DELETE");
    assert_eq!(all.status(), StatusCode::NO_CONTENT);
    let after = call(reqwest::Method::GET, "").send().await.expect("GET");
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
});

db_test!(async fn the_sessions_list_refuses_a_token_that_no_longer_stands(db) {
    // `GET /account/sessions` checks its bearer in the statement that lists the sessions: each
    // way a token stops standing must still refuse it, as the other account endpoints do.
    let realm = managing_realm().replacen(
        "grant_types: [authorization_code, refresh_token]",
        "grant_types: [authorization_code, refresh_token, client_credentials]",
        1,
    );
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let sessions = account_url(&h, "sessions");
    let get = |token: String| {
        let sessions = sessions.clone();
        async move {
            oauth::backchannel()
                .get(sessions)
                .bearer_auth(token)
                .header("accept", "application/json")
                .send()
                .await
                .expect("GET")
        }
    };
    let refused = |r: reqwest::Response, why: &str| {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{why}");
        let challenge = r.headers()["www-authenticate"].to_str().expect("ASCII").to_string();
        assert!(challenge.contains("invalid_token"), "{why}: {challenge}");
    };

    let token = access_token_from_rp(&h, "openid profile").await;
    let listed = get(token.clone()).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let listed: serde_json::Value = listed.json().await.expect("JSON");
    let current: Vec<&serde_json::Value> =
        listed.as_array().expect("a list").iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "the token's session is the current one: {listed}");
    assert_eq!(current[0]["clients"][0]["clientId"], WEB_CLIENT, "{listed}");

    h.sql("UPDATE grants SET revoked_at = 1").await;
    refused(get(token).await, "a revoked grant");

    let token = access_token_from_rp(&h, "openid profile").await;
    h.sql("UPDATE sso_sessions SET ended_at = 1").await;
    refused(get(token).await, "an ended session");

    let token = access_token_from_rp(&h, "openid profile").await;
    h.sql("UPDATE users SET enabled = false").await;
    refused(get(token).await, "a disabled user");
    h.sql("UPDATE users SET enabled = true").await;

    // A client's own token names no grant and no user.
    let own = oauth::post_form(&h.endpoint("token"), oauth::web(), &[("grant_type", "client_credentials")]).await;
    let own = own.str("access_token").expect("a client's token").to_string();
    refused(get(own).await, "a client's own token");
    refused(get("not-a-token".into()).await, "no token at all");
});

/// The secret a token page shows once.
fn token_secret(page: &Page) -> String {
    let start = page.body.find("id=\"token-secret\"").expect("the secret is shown");
    let rest = &page.body[start..];
    let value_at = rest.find("value=\"").expect("a value") + 7;
    browser::decode_entities(&rest[value_at..value_at + rest[value_at..].find('"').expect("end")])
}

db_test!(async fn personal_access_tokens_work_at_userinfo_until_revoked(db) {
    let h = Harness::start(db, &managing_realm()).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let b = h.new_browser();
    sign_in_to_console(&h, &b, PASSWORD).await;
    let page = open(&h, &b, &account_url(&h, "tokens")).await;
    assert!(visible_text(&page.body).contains("You have no access tokens."), "{}", page.describe());

    // A name is needed; then the secret is shown once, with its prefix.
    let refused = post(&h, &b, &page, "/tokens", &[("name", ""), ("days", "30"), ("scope", "openid")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.describe());
    // openid is ticked already; tick email too.
    let mut form = forms(&page).into_iter().find(|f| f.action.path().ends_with("/tokens")).expect("the token form");
    form.set("name", "CI deploys");
    form.set("days", "30");
    form.fields.push(("scope".into(), "email".into()));
    let server = Url::parse(&h.url).expect("server URL");
    let made = browser::follow_on_server(&b, form.submit(&b).await, &server).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.describe());
    assert_eq!(made.header("cache-control"), Some("no-store"));
    let secret = token_secret(&made);
    assert!(secret.starts_with("gtp_"), "{secret}");
    let stored = h.query("SELECT token_hash FROM personal_access_tokens").await;
    let hash: String = stored[0].try_get("", "token_hash").expect("hash");
    assert_ne!(hash, secret, "the token is stored in the clear");
    let listed = open(&h, &b, &account_url(&h, "tokens")).await;
    assert!(!listed.body.contains(&secret), "the secret is shown again");

    // Userinfo takes it, within its scopes.
    let api = oauth::backchannel();
    let info = api.get(h.endpoint("userinfo")).bearer_auth(&secret).send().await.expect("userinfo");
    assert_eq!(info.status(), StatusCode::OK);
    let info: serde_json::Value = info.json().await.expect("JSON");
    assert_eq!(info["email"], EMAIL, "{info}");
    assert!(info.get("preferred_username").is_none(), "profile was not granted: {info}");
    // A confidential client may introspect it.
    let intro = oauth::post_form(&h.endpoint("token/introspect"), ClientAuth::Basic(WEB_CLIENT, WEB_SECRET), &[("token", &secret)]).await;
    assert_eq!(intro.body["active"], true, "{}", intro.text);
    assert_eq!(intro.body["token_type"], "pat", "{}", intro.text);
    assert_eq!(intro.body["scope"], "openid email", "{}", intro.text);
    // A client that is not a resource server learns nothing about it.
    let other = oauth::post_form(&h.endpoint("token/introspect"), ClientAuth::Basic("idf", WEB_SECRET), &[("token", &secret)]).await;
    assert_eq!(other.body["active"], false, "{}", other.text);
    let listed = open(&h, &b, &account_url(&h, "tokens")).await;
    assert!(visible_text(&listed.body).contains("127.0.0.1"), "last use is shown: {}", listed.describe());

    // The account API: not without the profile scope; reading with it; changing needs
    // manage-account too.
    let profile = api.get(account_url(&h, "")).bearer_auth(&secret).send().await.expect("GET");
    assert_eq!(profile.status(), StatusCode::FORBIDDEN, "an email-only token reads the account");
    let mut form = forms(&listed).into_iter().find(|f| f.action.path().ends_with("/tokens")).expect("the token form");
    form.set("name", "profile reader");
    form.set("days", "30");
    form.fields.push(("scope".into(), "profile".into()));
    let made = browser::follow_on_server(&b, form.submit(&b).await, &server).await;
    let reader = token_secret(&made);
    let profile = api.get(account_url(&h, "")).bearer_auth(&reader).send().await.expect("GET");
    assert_eq!(profile.status(), StatusCode::OK);
    let profile: serde_json::Value = profile.json().await.expect("JSON");
    assert_eq!(profile["username"], USERNAME, "{profile}");
    let sessions: serde_json::Value =
        api.get(account_url(&h, "sessions")).bearer_auth(&reader).send().await.expect("GET").json().await.expect("JSON");
    assert!(sessions.as_array().is_some_and(|l| !l.is_empty() && l.iter().all(|s| s["current"] == false)), "{sessions}");
    let rename = |token: String| {
        api.post(account_url(&h, ""))
            .bearer_auth(token)
            .json(&serde_json::json!({ "firstName": "Tok", "lastName": "Bot" }))
            .send()
    };
    assert_eq!(rename(reader.clone()).await.expect("POST").status(), StatusCode::FORBIDDEN);
    let mut form = forms(&listed).into_iter().find(|f| f.action.path().ends_with("/tokens")).expect("the token form");
    form.set("name", "profile bot");
    form.set("days", "30");
    form.fields.push(("scope".into(), "profile".into()));
    form.fields.push(("scope".into(), "manage-account".into()));
    let made = browser::follow_on_server(&b, form.submit(&b).await, &server).await;
    let manager = token_secret(&made);
    assert_eq!(rename(manager.clone()).await.expect("POST").status(), StatusCode::NO_CONTENT);
    // Never a recent sign-in: what needs one is refused.
    let all = api.delete(account_url(&h, "sessions")).bearer_auth(&manager).send().await.expect("DELETE");
    assert_eq!(all.status(), StatusCode::FORBIDDEN);
    let minted = api
        .post(account_url(&h, "tokens"))
        .bearer_auth(&manager)
        .json(&serde_json::json!({ "name": "child", "days": 7, "scopes": ["openid"] }))
        .send()
        .await
        .expect("POST");
    assert_eq!(minted.status(), StatusCode::FORBIDDEN, "a token mints no tokens");
    let listed = open(&h, &b, &account_url(&h, "tokens")).await;

    // Revoked: refused at once.
    let first = listed
        .body
        .split("<li class=\"session\"")
        .find(|item| item.contains("CI deploys"))
        .and_then(|item| browser::parse_post_form(&item[item.find("<form").expect("a form")..], &listed.url))
        .expect("the first token's revoke form");
    let revoked = browser::follow_on_server(&b, first.submit(&b).await, &server).await;
    assert!(visible_text(&revoked.body).contains("The token was revoked."), "{}", revoked.describe());
    let info = api.get(h.endpoint("userinfo")).bearer_auth(&secret).send().await.expect("userinfo");
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED);
    let intro = oauth::post_form(&h.endpoint("token/introspect"), ClientAuth::Basic(WEB_CLIENT, WEB_SECRET), &[("token", &secret)]).await;
    assert_eq!(intro.body["active"], false, "{}", intro.text);
    let created = events(&h, Some("personal_access_token_created")).await;
    let gone = events(&h, Some("personal_access_token_revoked")).await;
    assert_eq!((created.len(), gone.len()), (3, 1));
    let renamed = events(&h, Some("profile_updated")).await;
    assert_eq!(renamed.len(), 1, "{renamed:?}");
    assert_eq!(renamed[0].client_id.as_deref(), Some("personal-access-token"), "{renamed:?}");
    assert!(!format!("{:?}", created[0].details).contains(&secret), "the secret is in the log");
});

db_test!(async fn a_realm_that_requires_a_second_factor_keeps_the_last_one(db) {
    // Passkeys on, and every browser flow asks for security keys (no client signs in with
    // identifier-first): a key counts beside the app.
    let realm = signin::standard_flow_realm()
        .replace(
            "realm: flows\n",
            "realm: flows\naccount: { required_second_factor: true }\nwebauthn: {}\n",
        )
        .replace("    browser_flow: identifier-first\n", "");
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let enrolment = signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    let b = h.new_browser();
    let security = security_page_with_code(&h, &b, &enrolment.secret).await;

    let code = signin::totp_at(&h, &enrolment.secret, signin::unix_now() + 60);
    let fields = [("password", PASSWORD), ("otp", code.as_str())];
    let refused = post(&h, &b, &security, "/security/remove-authenticator", &fields).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.describe());
    let error = signin::error_text(&refused).unwrap_or_default();
    assert!(error.contains("must keep a second factor"), "{error}");
    let alice = signin::user_id(&h, USERNAME).await;
    assert_eq!(h.state.store.credentials(&alice, "otp").await.expect("devices").len(), 1);

    // An app asking to delete it (kc_action) is told no, and so is the person.
    let device = h.state.store.credentials(&alice, "otp").await.expect("devices")[0].id.clone();
    let mut s = app_asks_for(&h, &b, &format!("delete_credential:{device}")).await;
    s.press(&[], ("confirm", "yes")).await;
    assert!(visible_text(&s.page.body).contains("must keep a second factor"), "{}", s.page.describe());
    s.press(&[], ("confirm", "no")).await;
    assert_eq!(browser::query(&s.location(), "kc_action_status").as_deref(), Some("error"));
    assert_eq!(h.state.store.credentials(&alice, "otp").await.expect("devices").len(), 1);

    // With a security key as well (a stand-in), the app is not the last second factor.
    crate::passkeys::stand_in_key(&h, &alice, "webauthn", None).await;
    let mut s = app_asks_for(&h, &b, &format!("delete_credential:{device}")).await;
    s.press(&[], ("confirm", "yes")).await;
    assert_eq!(browser::query(&s.location(), "kc_action_status").as_deref(), Some("success"));
    assert!(h.state.store.credentials(&alice, "otp").await.expect("devices").is_empty());
});

#[test]
fn the_geoip_database_names_places_and_refuses_other_files() {
    use gatehouse::ops::geoip::GeoIp;
    let dir = TempDir::new();
    let path = geoip::write_city_database(dir.path(), &[geoip::LOOPBACK_IN_BERLIN]);
    let geo = GeoIp::open(&path).expect("the fixture is a database");
    assert!(geo.is_enabled());
    assert_eq!(geo.locate("127.0.0.1", "en").as_deref(), Some("Berlin, Germany"));
    assert_eq!(geo.locate("127.1.2.3", "de").as_deref(), Some("Berlin, Deutschland"));
    assert_eq!(geo.locate("::ffff:127.0.0.1", "en").as_deref(), Some("Berlin, Germany"));
    assert_eq!(geo.locate("10.0.0.1", "en"), None, "not in the database");
    assert_eq!(geo.locate("::1", "en"), None);
    assert_eq!(geo.locate("not an address", "en"), None);
    assert_eq!(GeoIp::none().locate("127.0.0.1", "en"), None);

    let not_one = dir.path().join("city.mmdb");
    std::fs::write(&not_one, "this is not a database").expect("write");
    let err = GeoIp::open(&not_one).err().expect("a text file is refused").to_string();
    assert!(err.contains("city.mmdb") && err.contains(".mmdb file"), "{err}");
}

db_test!(async fn two_removals_at_once_never_take_the_last_required_factor(db) {
    let h = signin::start_flow_realm(db).await;
    let user = signin::user_id(&h, USERNAME).await;
    let store = &h.state.store;
    for (id, label) in [("app-a", "A"), ("app-b", "B")] {
        let added = store
            .configure_otp(&user, id, "sealed".into(), Some(label.into()), 1, vec!["hash".into()])
            .await
            .expect("add an app");
        assert!(added);
    }
    // Each removal alone would be allowed (another app is left); together, one must lose.
    let (a, b) = tokio::join!(store.remove_otp(&user, "app-a", true, &gatehouse::store::SENT_CODES), store.remove_otp(&user, "app-b", true, &gatehouse::store::SENT_CODES));
    let outcomes = [a.expect("remove a"), b.expect("remove b")];
    use gatehouse::store::OtpRemoval;
    assert!(outcomes.contains(&OtpRemoval::Removed { last: false }), "{outcomes:?}");
    assert!(outcomes.contains(&OtpRemoval::LastKept), "{outcomes:?}");
    assert_eq!(store.credentials(&user, gatehouse::store::OTP).await.expect("list").len(), 1);
    // Without the rule the last goes, and the recovery codes with it.
    let left = store.credentials(&user, gatehouse::store::OTP).await.expect("list")[0].id.clone();
    assert_eq!(store.remove_otp(&user, &left, false, &gatehouse::store::SENT_CODES).await.expect("remove"), OtpRemoval::Removed { last: true });
    assert!(store.credentials(&user, gatehouse::store::RECOVERY_CODE).await.expect("list").is_empty());
    assert_eq!(store.remove_otp(&user, &left, false, &gatehouse::store::SENT_CODES).await.expect("remove"), OtpRemoval::NotFound);
});

db_test!(async fn the_log_shows_what_an_admin_did_but_not_the_admins_address_or_name(db) {
    let h = signin::start_flow_realm(db).await;
    let b = h.new_browser();
    sign_in_to_console(&h, &b, PASSWORD).await;
    signin::require(&h, USERNAME, "update-profile").await;
    let stored = events(&h, Some("required_action_added")).await;
    assert!(stored[0].details["by"].as_str().is_some_and(|by| by != "administrator"), "{:?}", stored[0].details);

    let jsonl = b.get(format!("{}?format=jsonl", account_url(&h, "log"))).send().await.expect("GET");
    let jsonl = jsonl.text().await.expect("JSON Lines");
    let line = jsonl
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .find(|e| e["type"] == "required_action_added")
        .unwrap_or_else(|| panic!("the admin's change is not in the log: {jsonl}"));
    assert_eq!(line["details"]["by"], "administrator", "{line}");
    assert!(line["ipAddress"].is_null() && line["userAgent"].is_null() && line["clientId"].is_null(), "{line}");
    let page = visible_text(&open(&h, &b, &account_url(&h, "log?view=changes")).await.body);
    assert!(page.contains("required_action_added"), "{page}");
});
