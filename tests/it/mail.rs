//! Mail: the outbox worker sending through a real SMTP server on loopback (and into a file
//! outbox), and "Forgot password?" end to end with the link taken from the received message.

use std::time::Duration;

use crate::support::process::eventually;
use crate::support::signin::{self, Shown, SignIn};
use crate::support::smtp::{self, SmtpSink};
use crate::support::{EMAIL, Harness, PASSWORD, USERNAME, WEB_CLIENT};

/// The flow-test realm with mail through an SMTP server on `port`.
pub(crate) fn realm_with_smtp(port: u16) -> String {
    format!("{}{}", signin::standard_flow_realm(), mail_through(port))
}

/// A realm's `mail` setting for the SMTP server on `port`.
pub(crate) fn mail_through(port: u16) -> String {
    format!(
        "mail:\n  from: \"Flow tests <no-reply@example.com>\"\n  smtp: {{ host: 127.0.0.1, port: {port}, tls: none }}\n  retry_after: 1s\n"
    )
}

/// `realm` signing in with the browser flow `name`, written to a flows directory of its own.
pub(crate) async fn start_with_flow(db: crate::support::Db, realm: &str, name: &str, flow: &str) -> Harness {
    // Every browser flow of the realm must offer what the test uses: `idf` has its own.
    let realm = format!("{realm}flows:\n  browser: {name}\n").replace("    browser_flow: identifier-first\n", "");
    let h = Harness::start_with(db, &realm, |dir, o| {
        let flows = dir.join("flows");
        std::fs::create_dir_all(&flows).expect("flows dir");
        std::fs::write(flows.join(format!("{name}.yaml")), flow).expect("flow file");
        o.flows_dir = Some(flows);
    })
    .await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h
}

async fn start(db: crate::support::Db, port: u16) -> Harness {
    let h = Harness::start(db, &realm_with_smtp(port)).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h
}

fn reset_url(h: &Harness) -> String {
    format!("{}/login-actions/reset-credentials", h.issuer())
}

pub(crate) fn link_prefix(h: &Harness) -> String {
    format!("{}/login-actions/action-token?key=", h.issuer())
}

/// Opens the app's sign-in in `browser`, follows "Forgot password?" and names `who`; returns
/// the sign-in on the "check your email" page.
pub(crate) async fn ask_for_reset(h: &Harness, browser: &reqwest::Client, who: &str) -> SignIn {
    let mut s = SignIn::start(h, browser, WEB_CLIENT).await;
    s.expect(Shown::Login);
    assert!(
        crate::support::browser::decode_entities(&s.page.body)
            .contains("/login-actions/reset-credentials\">Forgot password?"),
        "the login page offers no reset: {}",
        s.page.body
    );
    s.open(&reset_url(h)).await;
    s.expect(Shown::Username);
    s.fill(&[("username", who)]).await;
    s.expect(Shown::Message);
    assert!(s.page.body.contains("Check your email"), "{}", s.page.body);
    s
}

/// Opens an emailed link in `s`'s browser and presses the button of the page it shows (links
/// act only on that press: mail scanners open links too).
pub(crate) async fn follow_link(s: &mut SignIn, link: &str) {
    s.open(link).await;
    let form = s.form();
    assert!(form.has("key"), "{}", s.page.body);
    s.submit(&form).await;
}

async fn queued(h: &Harness) -> i64 {
    let rows = h.query("SELECT COUNT(*) AS n FROM outbox").await;
    rows[0].try_get::<i64>("", "n").expect("count")
}

db_test!(async fn forgot_password_resets_through_the_emailed_link(db) {
    let sink = SmtpSink::start().await;
    let h = start(db, sink.port).await;

    let mut s = ask_for_reset(&h, &h.browser, EMAIL).await;
    let mail = sink.nth(1).await;
    assert_eq!(mail.to, vec![EMAIL.to_string()]);
    assert_eq!(mail.from, "no-reply@example.com");
    let subject = mail.header("Subject").unwrap_or_default();
    assert!(subject.contains("Reset your password"), "subject {subject:?}");
    assert!(mail.part("text/html").contains("Reset password"));
    let link = mail.link(&link_prefix(&h));

    // The link leads back into this sign-in: a new password under the policy, then signing in
    // with it through the app's flow.
    follow_link(&mut s, &link).await;
    s.expect(Shown::UpdatePassword);
    assert_eq!(s.form().get("logout-sessions"), Some("on"), "signing out elsewhere is the default");
    s.fill(&[("password-new", "short"), ("password-confirm", "short")]).await;
    s.expect_error(Shown::UpdatePassword);
    let new_password = "Reset-Secret-Number-7";
    s.fill(&[("password-new", new_password), ("password-confirm", new_password)]).await;
    s.expect(Shown::Login);
    assert!(s.page.body.contains("Your password has been changed. Sign in with it."), "{}", s.page.body);
    s.log_in(USERNAME, PASSWORD).await;
    s.expect_error(Shown::Login);
    s.log_in(USERNAME, new_password).await;
    s.exchange(&h).await.assert_factors(&["pwd"], "1");

    // The link is single-use.
    let again = crate::support::browser::get(&h.new_browser(), &link).await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("expired or was already used"), "{}", again.body);

    let changed = signin::events(&h, Some("password_changed")).await;
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].details["via"], "reset-credentials", "{changed:?}");
    // The user hears of the change.
    let notice = sink.nth(2).await;
    assert!(notice.header("Subject").unwrap_or_default().contains("was changed"), "{}", notice.data);
});

db_test!(async fn an_unknown_address_gets_the_same_page_and_no_mail(db) {
    let sink = SmtpSink::start().await;
    let h = start(db, sink.port).await;
    let known = ask_for_reset(&h, &h.new_browser(), USERNAME).await;
    sink.nth(1).await;
    let unknown = ask_for_reset(&h, &h.new_browser(), "nobody@example.com").await;
    assert_eq!(
        signin::visible_text(&known.page.body),
        signin::visible_text(&unknown.page.body),
        "the pages differ"
    );
    assert_eq!(queued(&h).await, 1, "a message was queued for an unknown address");
});

db_test!(async fn a_link_opened_in_another_browser_finishes_there(db) {
    let sink = SmtpSink::start().await;
    let h = start(db, sink.port).await;
    let mut first = ask_for_reset(&h, &h.browser, USERNAME).await;
    let link = sink.nth(1).await.link(&link_prefix(&h));

    let mut phone = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    follow_link(&mut phone, &link).await;
    phone.expect(Shown::UpdatePassword);
    let new_password = "Phone-Chosen-Secret-9";
    phone
        .fill(&[("password-new", new_password), ("password-confirm", new_password)])
        .await;
    phone.expect(Shown::Message);
    assert!(phone.page.body.contains("Your password has been changed"), "{}", phone.page.body);

    // The sign-in moved: the first browser's copy is over.
    first.open(&format!("{}/login-actions/authenticate", h.issuer())).await;
    assert!(first.page.body.contains("Your sign-in took too long or was already completed"), "{}", first.page.body);
    let mut again = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    again.log_in(USERNAME, new_password).await;
    again.exchange(&h).await;
});

db_test!(async fn mail_queued_while_the_server_is_down_goes_out_once_it_is_back(db) {
    let port = smtp::free_port();
    let h = start(db, port).await;
    let second = h.start_another_node().await;
    ask_for_reset(&h, &h.browser, USERNAME).await;

    // The first attempt fails and is recorded for a retry.
    eventually(Duration::from_secs(30), "a failed attempt", || async {
        let rows = h.query("SELECT attempts, last_error, state FROM outbox").await;
        let attempts: i32 = rows[0].try_get("", "attempts").expect("attempts");
        let error: Option<String> = rows[0].try_get("", "last_error").expect("last_error");
        (attempts >= 1 && error.is_some()).then_some(())
    })
    .await;
    let status = gatehouse::cli::mail_status_text(&h.state, Some(&h.realm)).await.expect("status");
    assert!(status.contains("1 pending"), "{status}");
    assert!(status.contains("password_reset"), "{status}");
    // Meanwhile the page says that mail is delayed (asked for a name that matches no one, so
    // nothing more is queued).
    let later = ask_for_reset(&h, &h.new_browser(), "nobody-at-all").await;
    assert!(later.page.body.contains("not answering right now"), "{}", later.page.body);

    // The server comes back: the message goes out once, from one of the two nodes.
    let sink = SmtpSink::start_on(port).await;
    let mail = sink.nth(1).await;
    assert_eq!(mail.to, vec![EMAIL.to_string()]);
    eventually(Duration::from_secs(30), "the message marked sent", || async {
        let rows = h.query("SELECT state, payload FROM outbox").await;
        let state: String = rows[0].try_get("", "state").expect("state");
        let payload: String = rows[0].try_get("", "payload").expect("payload");
        (state == "sent" && payload.is_empty()).then_some(())
    })
    .await;
    assert_eq!(sink.received().len(), 1, "sent more than once");
    drop(second);
});

db_test!(async fn a_file_outbox_holds_one_eml_file_per_message(db) {
    let dir = crate::support::TempDir::new();
    let outbox = dir.path().join("outbox");
    let realm = format!(
        "{}mail:\n  from: \"Flow tests <no-reply@example.com>\"\n  outbox: {}\n",
        signin::standard_flow_realm(),
        outbox.display()
    );
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    ask_for_reset(&h, &h.browser, USERNAME).await;
    let file = eventually(Duration::from_secs(30), "an .eml file", || async {
        std::fs::read_dir(&outbox)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "eml"))
    })
    .await;
    let text = std::fs::read_to_string(file).expect("read the .eml file");
    assert!(text.contains("To: alice@example.com"), "{text}");
    assert!(text.contains("Reset your password"), "{text}");
});

db_test!(async fn verify_email_waits_for_the_link_and_sets_the_claim(db) {
    let sink = SmtpSink::start().await;
    let realm = realm_with_smtp(sink.port).replace(
        "  terms-and-conditions: { enabled: true }\n",
        "  terms-and-conditions: { enabled: true }\n  verify-email: { enabled: true }\n",
    );
    assert!(realm.contains("verify-email"));
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    // Keycloak's name works where an action is named.
    signin::require(&h, USERNAME, "VERIFY_EMAIL").await;

    let mut s = SignIn::start(&h, &h.browser, WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    assert!(s.page.body.contains("We sent a link to alice@example.com"), "{}", s.page.body);
    let mail = sink.nth(1).await;
    assert!(mail.header("Subject").unwrap_or_default().contains("Verify your email address"));
    let link = mail.link(&link_prefix(&h));

    // Not yet: the page says so.
    s.press(&[], ("verified", "check")).await;
    assert!(s.page.body.contains("not verified yet"), "{}", s.page.body);
    // A reload sends no second message.
    s.open(&format!("{}/login-actions/authenticate", h.issuer())).await;
    assert_eq!(queued(&h).await, 1);

    // Opened on another device: verified there, and the sign-in goes on here.
    let mut phone = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    follow_link(&mut phone, &link).await;
    let elsewhere = phone.page;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.body);
    assert!(elsewhere.body.contains("Email address verified"), "{}", elsewhere.body);
    s.press(&[], ("verified", "check")).await;
    let tokens = s.exchange(&h).await;
    assert_eq!(tokens.id["email_verified"], true, "{}", tokens.id);
    assert!(signin::pending_actions(&h, USERNAME).await.is_empty());
    assert_eq!(signin::events(&h, Some("email_verified")).await.len(), 1);

    // Used once.
    let again = crate::support::browser::get(&h.new_browser(), &link).await;
    assert_eq!(again.status, 400);
});

const CHROME_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

db_test!(async fn a_sign_in_from_a_new_browser_is_reported_once_and_can_be_signed_out(db) {
    let sink = SmtpSink::start().await;
    let h = Harness::start(db, &format!("{}login_notifications: true\n", realm_with_smtp(sink.port))).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let sign_in = |browser: reqwest::Client| {
        let h = &h;
        async move {
            let mut s = SignIn::start(h, &browser, WEB_CLIENT).await;
            s.log_in(USERNAME, PASSWORD).await;
            s.exchange(h).await
        }
    };

    // The first sign-in has nothing to compare with.
    sign_in(h.new_browser()).await;
    assert_eq!(queued(&h).await, 0);
    // A new browser and system: one alert.
    let chrome = sign_in(crate::support::browser::new_browser_as(CHROME_WINDOWS)).await;
    assert_eq!(queued(&h).await, 1);
    // The same kind of browser again (a new cookie jar, the same place): none.
    sign_in(crate::support::browser::new_browser_as(CHROME_WINDOWS)).await;
    assert_eq!(queued(&h).await, 1);

    let mail = sink.nth(1).await;
    assert!(mail.header("Subject").unwrap_or_default().contains("New sign-in"), "{}", mail.data);
    let text = mail.part("text/plain");
    for fact in ["Chrome", "Windows", "127.0.0.1", "UTC"] {
        assert!(text.contains(fact), "the alert does not say {fact}:\n{text}");
    }
    let link = mail.link(&link_prefix(&h));

    // A remembered device (as "Remember this device" records one) is forgotten too.
    let user_id = signin::user_id(&h, USERNAME).await;
    h.state
        .store
        .add_trusted_device(&h.realm, &user_id, "Chrome on Windows", "0".repeat(64), 30)
        .await
        .expect("a device");

    // Opening the link only asks; the button signs that session out.
    let reader = h.new_browser();
    let page = crate::support::browser::get(&reader, &link).await;
    assert!(page.body.contains("Was this you?"), "{}", page.body);
    let refresh_token = chrome.response.str("refresh_token").expect("a refresh token").to_string();
    let form = crate::support::browser::parse_post_form(&page.body, &page.url).expect("the page's form");
    let done = form.submit(&reader).await;
    assert!(done.body.contains("Your account is signed out everywhere"), "{}", done.body);
    crate::support::oauth::refresh(&h, crate::support::oauth::web(), &refresh_token)
        .await
        .assert_error(reqwest::StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(signin::pending_actions(&h, USERNAME).await, vec!["update-password".to_string()]);
    assert_eq!(signin::events(&h, Some("sign_in_reported")).await.len(), 1);
    assert!(h.state.store.trusted_devices_of(&user_id).await.expect("devices").is_empty());
    // Used once.
    let again = form.submit(&reader).await;
    assert_eq!(again.status, 400);
});

/// A browser flow offering an authenticator app or a code by email as the second step.
pub(crate) const EMAIL_CODE_FLOW: &str = r#"flow: browser-email
description: Password, then an authenticator app or a code by email
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
          - authenticator: email-otp-form
            requirement: alternative
"#;

/// The six-digit code in a code mail.
pub(crate) fn code_in(mail: &crate::support::smtp::Mail) -> String {
    let text = mail.part("text/plain");
    text.split_whitespace()
        .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in:\n{text}"))
        .to_string()
}

db_test!(async fn codes_by_email_are_a_second_factor_for_a_verified_address(db) {
    use crate::account;
    let sink = SmtpSink::start().await;
    // Every browser flow of the realm must ask for the codes: `idf` signs in with its own.
    let realm = format!("{}flows:\n  browser: browser-email\n", realm_with_smtp(sink.port))
        .replace("    browser_flow: identifier-first\n", "");
    let h = Harness::start_with(db, &realm, |dir, o| {
        let flows = dir.join("flows");
        std::fs::create_dir_all(&flows).expect("flows dir");
        std::fs::write(flows.join("browser-email.yaml"), EMAIL_CODE_FLOW).expect("flow file");
        o.flows_dir = Some(flows);
    })
    .await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;

    // The console: codes need a verified address; the verification link comes first.
    let b = h.new_browser();
    account::sign_in_to_console(&h, &b, PASSWORD).await;
    let security = account::open(&h, &b, &account::account_url(&h, "security")).await;
    assert!(security.body.contains("Verify your email address to use codes by email"), "{}", security.body);
    let sent = account::post(&h, &b, &security, "/security/verify-email", &[]).await;
    assert!(sent.body.contains("We sent a verification link"), "{}", sent.body);
    let link = sink.nth(1).await.link(&link_prefix(&h));
    let page = crate::support::browser::get(&b, &link).await;
    let form = crate::support::browser::parse_post_form(&page.body, &page.url).expect("the link's form");
    let verified = form.submit(&b).await;
    assert!(verified.body.contains("Email address verified"), "{}", verified.body);

    let security = account::open(&h, &b, &account::account_url(&h, "security")).await;
    let on = account::post(&h, &b, &security, "/security/email-codes", &[]).await;
    assert!(on.body.contains("Codes by email are on."), "{}", on.body);

    // Signing in to the app: the password, then the code from the mail.
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Otp);
    assert!(s.page.body.contains("Enter the code we emailed you"), "{}", s.page.body);
    let code = code_in(&sink.nth(2).await);
    let wrong = format!("{:06}", (code.parse::<u32>().expect("digits") + 1) % 1_000_000);
    s.fill(&[("otp", &wrong)]).await;
    s.expect_error(Shown::Otp);
    s.fill(&[("otp", &code)]).await;
    s.exchange(&h).await.assert_factors(&["pwd", "otp", "mfa"], "2");

    // A code works once: the next sign-in mails a new one, and the old one is refused.
    let mut again = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    again.log_in(USERNAME, PASSWORD).await;
    let newer = code_in(&sink.nth(3).await);
    if newer != code {
        again.fill(&[("otp", &code)]).await;
        again.expect_error(Shown::Otp);
    }
    again.fill(&[("otp", &newer)]).await;
    again.exchange(&h).await;
    assert_eq!(signin::events(&h, Some("email_otp_used")).await.len(), 2);
});

pub(crate) const MAGIC_FLOW: &str = "flow: magic\ndescription: A sign-in link by email\nsteps:\n  - authenticator: cookie\n    requirement: alternative\n  - authenticator: email-link\n    requirement: alternative\n";

db_test!(async fn a_sign_in_link_works_once_and_only_in_its_own_browser(db) {
    let sink = SmtpSink::start().await;
    let realm = format!("{}flows:\n  browser: magic\n", realm_with_smtp(sink.port));
    let h = Harness::start_with(db, &realm, |dir, o| {
        let flows = dir.join("flows");
        std::fs::create_dir_all(&flows).expect("flows dir");
        std::fs::write(flows.join("magic.yaml"), MAGIC_FLOW).expect("flow file");
        o.flows_dir = Some(flows);
    })
    .await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h.sql("UPDATE users SET email_verified = TRUE").await;

    let ask = |browser: reqwest::Client, who: &'static str| {
        let h = &h;
        async move {
            let mut s = SignIn::start(h, &browser, WEB_CLIENT).await;
            s.expect(Shown::Username);
            s.fill(&[("username", who)]).await;
            s.expect(Shown::Message);
            assert!(s.page.body.contains("sent it a sign-in link"), "{}", s.page.body);
            s
        }
    };
    let mut mine = ask(h.new_browser(), EMAIL).await;
    let link = sink.nth(1).await.link(&link_prefix(&h));

    // Opened in another browser: refused there, and still good in its own.
    let mut other = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    follow_link(&mut other, &link).await;
    assert_eq!(other.page.status, 400);
    assert!(other.page.body.contains("works only in the browser where it was asked for"), "{}", other.page.body);
    follow_link(&mut mine, &link).await;
    mine.exchange(&h).await;

    // Used once.
    let again = crate::support::browser::get(&h.new_browser(), &link).await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("expired or was already used"), "{}", again.body);

    // Expired.
    ask(h.new_browser(), USERNAME).await;
    let late = sink.nth(2).await.link(&link_prefix(&h));
    h.sql("UPDATE action_tokens SET expires_at = 0 WHERE used_at IS NULL").await;
    let expired = crate::support::browser::get(&h.new_browser(), &late).await;
    assert_eq!(expired.status, 400);
    assert!(expired.body.contains("expired or was already used"), "{}", expired.body);

    // An unknown name: the same answer, nothing queued.
    let before = queued(&h).await;
    ask(h.new_browser(), "nobody@example.com").await;
    assert_eq!(queued(&h).await, before);
});

db_test!(async fn a_changed_address_is_unverified_and_gets_a_verification_link(db) {
    let sink = SmtpSink::start().await;
    let realm = format!(
        "{}mail:\n  from: \"Flow tests <no-reply@example.com>\"\n  smtp: {{ host: 127.0.0.1, port: {}, tls: none }}\n",
        crate::account::managing_realm(),
        sink.port
    );
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h.sql("UPDATE users SET email_verified = TRUE").await;
    let token = crate::account::access_token_from_rp(&h, "openid profile email manage-account").await;
    let changed = reqwest::Client::new()
        .post(format!("{}/", crate::account::account_url(&h, "")))
        .bearer_auth(&token)
        .header("accept", "application/json")
        .json(&serde_json::json!({ "firstName": "Alice", "lastName": "Liddell", "email": "alice@wonderland.example" }))
        .send()
        .await
        .expect("POST the profile");
    assert_eq!(changed.status(), reqwest::StatusCode::NO_CONTENT);
    let mail = sink.nth(1).await;
    assert_eq!(mail.to, vec!["alice@wonderland.example".to_string()]);
    assert!(mail.header("Subject").unwrap_or_default().contains("Verify your email address"));
    let user = h.state.store.find_user_by_username(&h.realm, USERNAME).await.expect("store").expect("alice");
    assert!(!user.email_verified, "a changed address must be verified again");
});

db_test!(async fn limits_hold_per_address_and_per_client_and_no_text_adds_a_header(db) {
    let sink = SmtpSink::start().await;
    // A display name that tries to add a header through the subject.
    let realm = format!(
        "{}  per_address_per_hour: 2\n  per_ip_per_hour: 3\n",
        realm_with_smtp(sink.port)
    )
    .replace("display_name: Flow tests", "display_name: \"Flow tests\\r\\nBcc: victim@example.com\"");
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h.add_user("bob", "bob@example.com", PASSWORD).await;

    // Two resets for one address this hour, then nothing more to it (the page is the same).
    for _ in 0..3 {
        ask_for_reset(&h, &h.new_browser(), USERNAME).await;
    }
    assert_eq!(queued(&h).await, 2);
    // The client address may cause one more message; after it the page says to try later.
    ask_for_reset(&h, &h.new_browser(), "bob").await;
    assert_eq!(queued(&h).await, 3);
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.open(&reset_url(&h)).await;
    s.fill(&[("username", "bob")]).await;
    assert!(s.page.body.contains("Too many messages"), "{}", s.page.body);
    assert_eq!(queued(&h).await, 3);

    let mail = sink.nth(1).await;
    assert_eq!(mail.to, vec![EMAIL.to_string()], "sent to another address");
    let subject = mail.header("Subject").unwrap_or_default();
    assert!(subject.contains("Flow tests"), "{subject}");
    assert!(mail.header("Bcc").is_none(), "a header was added: {}", mail.data);
});
