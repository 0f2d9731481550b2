//! Sign-in flows over HTTP with a cookie-jar browser, on SQLite and PostgreSQL: the
//! configure-OTP required action (QR page, secret, first code, recovery codes shown once),
//! OTP at the next sign-in (wrong and reused codes refused), recovery codes (once each,
//! recorded as events), update-password under the realm's policy, update-profile, terms,
//! brute-force lockout that reveals nothing, the identifier-first flow, stale and double
//! submitted forms, `prompt=none` with a pending action, and the sign-in event's trace.

use crate::support;
use crate::support::browser::query;
use crate::support::oauth::{self, AuthRequest};
use crate::support::rp::{self, RpHttp, chain};
use crate::support::signin::{self, IDF_CLIENT, Shown, SignIn};
use crate::support::*;
use openidconnect::{AuthorizationCode, Nonce, OAuth2TokenResponse, PkceCodeVerifier, TokenResponse};
use reqwest::StatusCode;

// ---------------------------------------------------------------------------------------------
// configure-otp, OTP, recovery codes

db_test!(async fn configure_otp_enrols_the_app_and_issues_mfa_tokens(db) {
    let h = signin::start_flow_realm(db).await;
    signin::require(&h, USERNAME, "configure-otp").await;
    let alice = signin::user_id(&h, USERNAME).await;

    let mut s = SignIn::start(&h, &h.browser, WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::ConfigureOtp);
    // The QR code is inline SVG; the secret is shown as text for manual entry.
    assert!(s.page.body.contains("<svg"), "no inline SVG QR code: {}", signin::describe(&s.page));
    assert!(!s.page.body.contains("<img"), "the QR code must not be an external image");
    let secret_text = signin::secret_text(&s.page.body);
    let secret = signin::secret_from_page(&s.page.body);
    assert!(secret_text.contains(' '), "the secret is not grouped: {secret_text:?}");

    // A reload shows the same secret (the pending secret is kept in the sign-in, not remade).
    let action = s.form().action.to_string();
    s.open(&action).await;
    s.expect(Shown::ConfigureOtp);
    assert_eq!(signin::secret_text(&s.page.body), secret_text, "a reload changed the secret");

    // Empty and wrong codes are refused with a message, and the secret stays.
    s.fill(&[("otp", "")]).await;
    s.expect_error(Shown::ConfigureOtp);
    let wrong = signin::wrong_totp(&h, &secret);
    s.fill(&[("otp", &wrong)]).await;
    let message = s.expect_error(Shown::ConfigureOtp);
    assert!(!message.is_empty());
    assert_eq!(signin::secret_text(&s.page.body), secret_text, "a wrong code changed the secret");
    assert!(
        h.state.store.credentials(&alice, "otp").await.unwrap().is_empty(),
        "a wrong code stored a device"
    );

    // The current code confirms the device; the recovery codes are shown.
    let code = signin::totp_now(&h, &secret);
    s.fill(&[("otp", &code), ("device_name", "Work phone")]).await;
    s.expect(Shown::RecoveryCodes);
    let codes = signin::recovery_codes(&s.page.body);
    assert_eq!(codes.len(), 10, "{}", signin::describe(&s.page));
    let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
    assert_eq!(distinct.len(), 10, "recovery codes repeat: {codes:?}");
    assert!(codes.iter().all(|c| c.len() >= 10), "short recovery codes: {codes:?}");
    // Stored hashed, never in the clear.
    let stored = h.state.store.credentials(&alice, "recovery-code").await.unwrap();
    assert_eq!(stored.len(), 10, "recovery codes stored: {}", stored.len());
    for c in &stored {
        assert!(codes.iter().all(|code| !c.secret.contains(code.as_str())), "a recovery code is stored in the clear");
    }
    let devices = h.state.store.credentials(&alice, "otp").await.unwrap();
    assert_eq!(devices.len(), 1, "one OTP device");
    assert!(!devices[0].secret.contains(&secret_text.replace(' ', "")), "the OTP secret is stored in the clear");

    // Acknowledging lands at the app with a code; the tokens say two factors were used.
    // Acknowledging lands at the app with a code; the relying party (`openidconnect`, ID
    // token checked against the JWKS and the nonce) sees that two factors were used.
    s.press(&[], ("acknowledge", "yes")).await;
    let code = s.code(&h);
    let http = RpHttp::new();
    let metadata = rp::discover(&http, &h.issuer()).await;
    let client = rp::client(&metadata, WEB_CLIENT, Some(WEB_SECRET), WEB_REDIRECT);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint known")
        .set_pkce_verifier(PkceCodeVerifier::new(s.verifier.clone()))
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("code exchange failed: {}", chain(&e)));
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(s.request.nonce.clone()))
        .unwrap_or_else(|e| panic!("ID token rejected: {}", chain(&e)));
    let amr: Vec<&str> = claims.auth_method_refs().map(|m| m.iter().map(|a| a.as_str()).collect()).unwrap_or_default();
    assert_eq!(amr, ["pwd", "otp", "mfa"]);
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("2"));
    let (_, access) = oauth::jwt_parts(tokens.access_token().secret());
    assert_eq!(access["acr"], "2", "{access}");
    assert!(signin::pending_actions(&h, USERNAME).await.is_empty(), "configure-otp is still pending");

    // The recovery codes were shown once: the sign-in is over, its pages are gone.
    s.open(&action).await;
    assert_ne!(s.shown(), Shown::RecoveryCodes, "the recovery codes are shown again");
    assert!(codes.iter().all(|c| !s.page.body.contains(c.as_str())), "a recovery code is shown again");

    // Events: the device was added, the action completed, the sign-in traced.
    let kinds: Vec<String> = signin::events(&h, None).await.into_iter().map(|e| e.kind).collect();
    for kind in ["credential_added", "required_action", "sign_in"] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} event: {kinds:?}");
    }
    let sign_in = signin::events(&h, Some("sign_in")).await.pop().unwrap();
    let steps = sign_in.details["steps"].to_string();
    assert!(steps.contains("action configure-otp:done"), "steps: {steps}");
});

db_test!(async fn next_sign_in_asks_for_the_otp_and_refuses_wrong_and_reused_codes(db) {
    let h = signin::start_flow_realm(db).await;
    let enrolment = signin::enrol_otp(&h, USERNAME, PASSWORD).await;

    // The next sign-in asks for the code after the password.
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Otp);
    let otp_form = s.form();
    assert!(
        otp_form.buttons.iter().any(|(n, v)| n == "try_another" && v == "recovery-code"),
        "no way to use a recovery code on the OTP page: {:?}",
        otp_form.buttons
    );
    assert!(!otp_form.has("try_another"), "pressing Verify must not send try_another: {otp_form:?}");

    // A wrong code is refused with a message.
    let wrong = signin::wrong_totp(&h, &enrolment.secret);
    s.fill(&[("otp", &wrong)]).await;
    let message = s.expect_error(Shown::Otp);
    assert!(message.to_lowercase().contains("code"), "message: {message}");

    // The code of the next time step is fresh: accepted.
    let code = signin::totp_next(&h, &enrolment.secret);
    s.fill(&[("otp", &code)]).await;
    let tokens = s.exchange(&h).await;
    tokens.assert_factors(&["pwd", "otp", "mfa"], "2");

    // The same code again, in another sign-in: refused as already used.
    let mut again = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    again.log_in(USERNAME, PASSWORD).await;
    again.expect(Shown::Otp);
    again.fill(&[("otp", &code)]).await;
    let message = again.expect_error(Shown::Otp);
    assert!(message.to_lowercase().contains("already used"), "message: {message}");

    // The code that set the device up is spent too.
    let events = signin::events(&h, Some("login_error")).await;
    let reasons: Vec<&str> = events.iter().filter_map(|e| e.details["reason"].as_str()).collect();
    assert!(reasons.contains(&"invalid_otp"), "{reasons:?}");
    assert!(reasons.contains(&"otp_reused"), "{reasons:?}");
    let used = signin::events(&h, Some("otp_used")).await;
    assert_eq!(used.len(), 1, "otp_used events: {used:?}");

    // The sign-in event records the path through the flow.
    let sign_in = signin::events(&h, Some("sign_in")).await.pop().unwrap();
    let steps: Vec<String> = serde_json::from_value(sign_in.details["steps"].clone()).unwrap();
    let at = |name: &str| steps.iter().position(|s| s == name).unwrap_or_else(|| panic!("no {name} in {steps:?}"));
    assert!(at("username-password-form:success") < at("otp-form:success"), "{steps:?}");
    assert!(steps.iter().any(|s| s == "condition user-configured:true"), "{steps:?}");
});

db_test!(async fn a_recovery_code_works_once_and_is_recorded(db) {
    let h = signin::start_flow_realm(db).await;
    let enrolment = signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    let alice = signin::user_id(&h, USERNAME).await;
    let first = enrolment.recovery_codes[0].clone();

    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Otp);
    s.press(&[], ("try_another", "recovery-code")).await;
    s.expect(Shown::RecoveryCode);
    s.fill(&[("recovery_code", &first)]).await;
    let tokens = s.exchange(&h).await;
    tokens.assert_factors(&["pwd", "otp", "mfa"], "2");

    let used = signin::events(&h, Some("recovery_code_used")).await;
    assert_eq!(used.len(), 1, "recovery_code_used events: {used:?}");
    assert_eq!(used[0].user_id.as_deref(), Some(alice.as_str()));
    assert!(used[0].ip.is_some(), "the event has no IP");
    assert_eq!(h.state.store.credentials(&alice, "recovery-code").await.unwrap().len(), 9);

    // The same code again: refused with a message.
    let mut again = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    again.log_in(USERNAME, PASSWORD).await;
    again.press(&[], ("try_another", "recovery-code")).await;
    again.expect(Shown::RecoveryCode);
    again.fill(&[("recovery_code", &first)]).await;
    let message = again.expect_error(Shown::RecoveryCode);
    assert!(message.to_lowercase().contains("recovery code"), "message: {message}");
    assert_eq!(signin::events(&h, Some("recovery_code_used")).await.len(), 1);

    // Another code, typed in upper case without dashes, works.
    let second = enrolment.recovery_codes[1].replace('-', "").to_uppercase();
    again.fill(&[("recovery_code", &second)]).await;
    again.exchange(&h).await.assert_factors(&["pwd", "otp", "mfa"], "2");
    assert_eq!(signin::events(&h, Some("recovery_code_used")).await.len(), 2);
});

// ---------------------------------------------------------------------------------------------
// update-password, update-profile, terms

db_test!(async fn update_password_enforces_the_policy_and_replaces_the_password(db) {
    let h = signin::start_flow_realm(db).await;
    signin::require(&h, USERNAME, "update-password").await;
    let mut s = SignIn::start(&h, &h.browser, WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::UpdatePassword);
    assert!(s.form().has("password-confirm"));

    let new_password = "Brand-New-Secret-42";
    let refused: &[(&str, &str, &str)] = &[
        ("Sh0rt!", "Sh0rt!", "12"),                                // too short
        ("alllowercase-123", "alllowercase-123", "uppercase"),   // no upper-case letter
        ("No-Digits-Here-At-All", "No-Digits-Here-At-All", "digit"),
        (new_password, "Brand-New-Secret-43", "match"),          // confirmation differs
        (PASSWORD, PASSWORD, "password"),                        // the current one (history)
    ];
    for (new, confirm, hint) in refused {
        s.fill(&[("password-new", new), ("password-confirm", confirm)]).await;
        let message = s.expect_error(Shown::UpdatePassword);
        assert!(
            message.to_lowercase().contains(&hint.to_lowercase()),
            "{new:?}/{confirm:?}: message {message:?} does not mention {hint:?}"
        );
    }
    s.fill(&[("password-new", new_password), ("password-confirm", new_password)]).await;
    s.exchange(&h).await.assert_factors(&["pwd"], "1");
    assert!(signin::pending_actions(&h, USERNAME).await.is_empty());

    // The old password no longer works; the new one does.
    let mut old = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    old.log_in(USERNAME, PASSWORD).await;
    let message = old.expect_error(Shown::Login);
    assert!(message.to_lowercase().contains("invalid"), "message: {message}");
    old.log_in(USERNAME, new_password).await;
    old.exchange(&h).await;
    let changed = signin::events(&h, Some("password_changed")).await;
    assert_eq!(changed.len(), 1, "{changed:?}");
});

db_test!(async fn update_profile_saves_the_details(db) {
    let h = signin::start_flow_realm(db).await;
    signin::require(&h, USERNAME, "update-profile").await;
    let mut s = SignIn::start(&h, &h.browser, WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::UpdateProfile);
    assert_eq!(s.form().get("email"), Some(EMAIL), "the email is not prefilled");

    s.fill(&[("email", "not-an-address"), ("firstName", ""), ("lastName", "Liddell")]).await;
    let message = s.expect_error(Shown::UpdateProfile);
    assert!(message.to_lowercase().contains("email"), "message: {message}");
    assert!(message.to_lowercase().contains("first name"), "message: {message}");
    assert_eq!(s.form().get("lastName"), Some("Liddell"), "a valid field was not kept");

    s.fill(&[("email", "alice@wonderland.example"), ("firstName", "Alice"), ("lastName", "Liddell")]).await;
    let tokens = s.exchange(&h).await;
    let user = h.state.store.find_user_by_username(&h.realm, USERNAME).await.unwrap().unwrap();
    assert_eq!(user.email.as_deref(), Some("alice@wonderland.example"));
    assert_eq!(user.first_name.as_deref(), Some("Alice"));
    assert_eq!(user.last_name.as_deref(), Some("Liddell"));
    assert!(signin::pending_actions(&h, USERNAME).await.is_empty());
    let access = tokens.response.str("access_token").unwrap().to_string();
    let info = oauth::userinfo(&h, &access).await;
    info.assert_ok();
    assert_eq!(info.str("email"), Some("alice@wonderland.example"), "{}", info.text);
    assert_eq!(info.str("given_name"), Some("Alice"), "{}", info.text);
    assert_eq!(info.str("family_name"), Some("Liddell"), "{}", info.text);
});

db_test!(async fn terms_must_be_accepted(db) {
    let h = signin::start_flow_realm(db).await;
    signin::require(&h, USERNAME, "terms-and-conditions").await;

    // Declining ends the sign-in with a message and no code; the action stays pending.
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Terms);
    s.press(&[], ("accept", "no")).await;
    assert_ne!(s.shown(), Shown::Away, "declining the terms redirected: {}", signin::describe(&s.page));
    let message = s.error().unwrap_or_else(|| panic!("no message after declining: {}", signin::describe(&s.page)));
    assert!(message.to_lowercase().contains("terms"), "message: {message}");
    assert_eq!(signin::pending_actions(&h, USERNAME).await, vec!["terms-and-conditions".to_string()]);

    // Accepting lands at the app and completes the action.
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Terms);
    s.press(&[], ("accept", "yes")).await;
    s.exchange(&h).await;
    assert!(signin::pending_actions(&h, USERNAME).await.is_empty());

    // Not asked again.
    let s = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await;
    s.code(&h);
});

db_test!(async fn required_actions_run_in_a_stable_order_and_cannot_be_skipped(db) {
    let h = signin::start_flow_realm(db).await;
    for action in ["configure-otp", "update-profile", "update-password", "terms-and-conditions"] {
        signin::require(&h, USERNAME, action).await;
    }
    let mut s = SignIn::start(&h, &h.browser, WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Terms);
    let terms_form = s.form();
    s.press(&[], ("accept", "yes")).await;
    s.expect(Shown::UpdatePassword);
    // Posting the terms form again does not skip the password page.
    s.submit(&terms_form).await;
    s.expect(Shown::UpdatePassword);
    let new_password = "Another-Good-Pass-7";
    s.fill(&[("password-new", new_password), ("password-confirm", new_password)]).await;
    s.expect(Shown::UpdateProfile);
    s.fill(&[("email", EMAIL), ("firstName", "Alice"), ("lastName", "Liddell")]).await;
    s.expect(Shown::ConfigureOtp);
    let secret = signin::secret_from_page(&s.page.body);
    let code = signin::totp_now(&h, &secret);
    let mut setup_form = s.form();
    setup_form.set("otp", &code);
    s.submit(&setup_form).await;
    s.expect(Shown::RecoveryCodes);
    // The set-up form posted again (back button) neither skips the codes nor re-enrols.
    let codes = signin::recovery_codes(&s.page.body);
    s.submit(&setup_form).await;
    s.expect(Shown::RecoveryCodes);
    assert_eq!(signin::recovery_codes(&s.page.body), codes);
    s.press(&[], ("acknowledge", "yes")).await;
    s.exchange(&h).await.assert_factors(&["pwd", "otp", "mfa"], "2");
    assert!(signin::pending_actions(&h, USERNAME).await.is_empty());
    let done: Vec<String> = signin::events(&h, Some("required_action"))
        .await
        .into_iter()
        .filter_map(|e| e.details["action"].as_str().map(String::from))
        .collect();
    assert_eq!(done, ["terms-and-conditions", "update-password", "update-profile", "configure-otp"]);
});

// ---------------------------------------------------------------------------------------------
// Brute force

db_test!(async fn lockout_after_max_failures_reveals_nothing_and_refuses_the_right_password(db) {
    let h = signin::start_flow_realm(db).await;
    let mut transcripts = Vec::new();
    for (username, right_password) in [(USERNAME, PASSWORD), ("nobody-here", PASSWORD)] {
        let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
        let mut messages = Vec::new();
        for attempt in 1..=3 {
            s.log_in(username, &format!("Wrong-Password-{attempt}!")).await;
            messages.push(s.expect_error(Shown::Login));
        }
        // Locked: even the right password is refused, with the lockout message.
        s.log_in(username, right_password).await;
        messages.push(s.expect_error(Shown::Login));
        transcripts.push(messages);
    }
    let (existing, unknown) = (&transcripts[0], &transcripts[1]);
    assert_eq!(existing, unknown, "an existing and an unknown username are told apart");
    assert!(existing[0].to_lowercase().contains("invalid"), "{existing:?}");
    assert_eq!(existing[0], existing[1]);
    assert!(existing[2].to_lowercase().contains("too many"), "no lockout at the 3rd failure: {existing:?}");
    assert!(existing[3].to_lowercase().contains("too many"), "the right password got in while locked: {existing:?}");

    let reasons: Vec<String> = signin::events(&h, Some("login_error"))
        .await
        .into_iter()
        .filter_map(|e| e.details["reason"].as_str().map(String::from))
        .collect();
    assert!(reasons.iter().any(|r| r == "locked_out"), "{reasons:?}");
    assert!(signin::events(&h, Some("sign_in")).await.is_empty(), "a locked user signed in");

    // Counted in the database, per username: once the lock has passed (moved back in time
    // here), the right password works and clears the count.
    let locked = h.query("SELECT subject FROM login_failures WHERE locked_until > 0").await;
    let subjects: Vec<String> = locked.iter().map(|r| r.try_get::<String>("", "subject").unwrap()).collect();
    let alice = signin::user_id(&h, USERNAME).await;
    assert!(subjects.contains(&format!("user:{alice}")), "no lockout row for {USERNAME}: {subjects:?}");
    h.sql("UPDATE login_failures SET locked_until = 0").await;
    signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await.code(&h);
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, "Wrong-Password-again!").await;
    let message = s.expect_error(Shown::Login);
    assert!(message.to_lowercase().contains("invalid"), "a success did not reset the count: {message}");
});

/// `n` browsers, each showing the login page of its own sign-in.
async fn login_pages(h: &Harness, n: usize) -> Vec<SignIn> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(SignIn::start(h, &h.new_browser(), WEB_CLIENT).await);
    }
    out
}

/// Posts every sign-in's login form at once, `passwords[i]` for the i-th; returns each
/// answer's page kind and message.
async fn log_in_at_once(sign_ins: Vec<SignIn>, username: &str, passwords: &[String]) -> Vec<(Shown, String)> {
    let attempts = sign_ins.into_iter().zip(passwords).map(|(mut s, password)| async move {
        s.log_in(username, password).await;
        (s.shown(), s.error().unwrap_or_default().to_lowercase())
    });
    futures_util::future::join_all(attempts).await
}

db_test!(async fn parallel_password_guesses_get_no_more_evaluations_than_the_lockout_allows(db) {
    // max_failures is 3 in the flow realm.
    let h = signin::start_flow_realm(db).await;
    let wrong = |n: usize| (0..n).map(|i| format!("Wrong-Password-{i}!")).collect::<Vec<_>>();

    // 24 wrong passwords posted at once: at most 3 are hashed, every one is refused, and the
    // account ends up locked.
    let pages = login_pages(&h, 24).await;
    let before = h.state.hasher.verifications();
    let answers = log_in_at_once(pages, USERNAME, &wrong(24)).await;
    let evaluated = h.state.hasher.verifications() - before;
    assert!(evaluated <= 3, "{evaluated} of 24 parallel guesses were evaluated against a limit of 3");
    assert!(answers.iter().all(|(shown, _)| *shown == Shown::Login), "{answers:?}");
    let locked = answers.iter().filter(|(_, m)| m.contains("too many")).count();
    assert!(locked >= 21, "only {locked} of 24 were refused by the lockout: {answers:?}");

    // While locked, the right password among wrong ones is not even checked, and refused.
    let pages = login_pages(&h, 8).await;
    let mut passwords = wrong(8);
    passwords[4] = PASSWORD.to_string();
    let before = h.state.hasher.verifications();
    let answers = log_in_at_once(pages, USERNAME, &passwords).await;
    assert_eq!(h.state.hasher.verifications() - before, 0, "a guess was evaluated while locked");
    assert!(answers[4].1.contains("too many"), "the right password got in while locked: {:?}", answers[4]);
    assert!(signin::events(&h, Some("sign_in")).await.is_empty(), "a locked user signed in");

    // The refusals are logged once per lockout window, not once per attempt.
    let locked_out = signin::events(&h, Some("login_error"))
        .await
        .into_iter()
        .filter(|e| e.details["reason"] == "locked_out")
        .count();
    assert_eq!(locked_out, 1, "locked_out events: {locked_out}");

    // With the lock over (moved back in time), a burst with the right password in it is still
    // bounded: at most 3 evaluated, the right one among them or refused.
    h.sql("UPDATE login_failures SET locked_until = 0, failures = 0").await;
    let pages = login_pages(&h, 12).await;
    let mut passwords = wrong(12);
    passwords[6] = PASSWORD.to_string();
    let before = h.state.hasher.verifications();
    let answers = log_in_at_once(pages, USERNAME, &passwords).await;
    let evaluated = h.state.hasher.verifications() - before;
    // A success resets the count, as a sign-in always does: guesses still in flight then meet
    // a fresh window. So at most 3 are evaluated before the right password settles, and at
    // most 3 after it; without a success, at most 3 in all.
    let signed_in = answers[6].0 == Shown::Away;
    let limit = if signed_in { 6 } else { 3 };
    assert!(
        evaluated <= limit,
        "{evaluated} of 12 parallel guesses were evaluated against a limit of {limit}"
    );
    let (shown, message) = &answers[6];
    assert!(
        *shown == Shown::Away || message.contains("too many"),
        "the right password neither signed in nor met the lockout: {shown:?} {message}"
    );
});

db_test!(async fn parallel_one_time_codes_get_no_more_evaluations_than_the_lockout_allows(db) {
    let h = signin::start_flow_realm(db).await;
    let otp = signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    // Twelve browsers past the password, each on the OTP page (a right password does not
    // reset the count of wrong codes).
    let mut sign_ins = Vec::new();
    for _ in 0..12 {
        let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
        s.log_in(USERNAME, PASSWORD).await;
        s.expect(Shown::Otp);
        sign_ins.push(s);
    }
    let wrong = signin::wrong_totp(&h, &otp.secret);
    let attempts = sign_ins.into_iter().map(|mut s| {
        let wrong = wrong.clone();
        async move {
            s.fill(&[("otp", &wrong)]).await;
            s.error().unwrap_or_default().to_lowercase()
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let evaluated = signin::events(&h, Some("login_error"))
        .await
        .into_iter()
        .filter(|e| e.details["reason"] == "invalid_otp")
        .count();
    assert!(evaluated <= 3, "{evaluated} of 12 parallel codes were evaluated against a limit of 3");
    assert!(answers.iter().filter(|m| m.contains("too many")).count() >= 9, "{answers:?}");

    // Locked: the right code is refused too, even after a fresh right password.
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Otp);
    s.fill(&[("otp", &signin::totp_next(&h, &otp.secret))]).await;
    let message = s.expect_error(Shown::Otp);
    assert!(message.to_lowercase().contains("too many"), "a right code got in while locked: {message}");
});

// ---------------------------------------------------------------------------------------------
// A new password signs out whoever knew the old one

/// Refreshes with `refresh_token` as the `web` client.
async fn refresh(h: &Harness, refresh_token: &str) -> support::oauth::JsonResponse {
    oauth::post_form(
        &h.endpoint("token"),
        oauth::web(),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
    )
    .await
}

/// Whether `prompt=none` in this browser still gets a code (its SSO session is live).
async fn session_alive(h: &Harness, browser: &reqwest::Client) -> bool {
    let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let request = request.with("prompt", "none");
    let location = support::browser::redirect_away(browser, &request.url(h)).await;
    query(&location, "error").is_none()
}

db_test!(async fn changing_the_password_ends_the_other_sessions_and_their_tokens(db) {
    let h = signin::start_flow_realm(db).await;
    // Signed in elsewhere, with a refresh token.
    let elsewhere = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await;
    let old_tokens = elsewhere.exchange(&h).await;
    let old_refresh = old_tokens.response.str("refresh_token").expect("a refresh token").to_string();
    assert!(session_alive(&h, &elsewhere.browser).await);

    // The user changes their password at the next sign-in (update-password).
    signin::require(&h, USERNAME, "update-password").await;
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::UpdatePassword);
    // Over 1,024 bytes: refused with a message, before any hashing.
    let long = format!("Aa1!{}", "x".repeat(1021));
    s.fill(&[("password-new", &long), ("password-confirm", &long)]).await;
    assert!(s.expect_error(Shown::UpdatePassword).contains("1,024"));
    let new_password = "Brand-New-Passphrase-42";
    s.fill(&[("password-new", new_password), ("password-confirm", new_password)]).await;
    let tokens = s.exchange(&h).await;

    // The other browser's session and refresh token are over; this sign-in's work.
    assert!(!session_alive(&h, &elsewhere.browser).await, "the other session outlived the password change");
    refresh(&h, &old_refresh).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let fresh = tokens.response.str("refresh_token").expect("a refresh token").to_string();
    refresh(&h, &fresh).await.assert_ok();
    assert!(session_alive(&h, &s.browser).await, "the session that changed the password ended");
});

db_test!(async fn an_admin_password_reset_ends_every_session_and_token(db) {
    let h = signin::start_flow_realm(db).await;
    let s = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await;
    let tokens = s.exchange(&h).await;
    let refresh_token = tokens.response.str("refresh_token").expect("a refresh token").to_string();
    let alice = signin::user_id(&h, USERNAME).await;
    let long = format!("Aa1!{}", "x".repeat(1021));
    let refused = gatehouse::admin::reset_password(&h.state, &gatehouse::admin::Actor::cli(), &h.realm, &alice, &long, false)
        .await
        .expect_err("an over-long password was accepted");
    assert!(refused.to_string().contains("1,024"), "{refused}");
    gatehouse::admin::reset_password(
        &h.state,
        &gatehouse::admin::Actor::cli(),
        &h.realm,
        &alice,
        "Reset-By-The-Admin-77",
        false,
    )
    .await
    .expect("reset the password");
    assert!(!session_alive(&h, &s.browser).await, "the session outlived an admin reset");
    refresh(&h, &refresh_token).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
});

db_test!(async fn a_refused_refresh_leaves_the_token_usable(db) {
    let h = signin::start_flow_realm(db).await;
    let s = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await;
    let tokens = s.exchange(&h).await;
    let refresh_token = tokens.response.str("refresh_token").expect("a refresh token").to_string();
    // Asking for more than was granted is refused before the token is spent …
    let wider = oauth::post_form(
        &h.endpoint("token"),
        oauth::web(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("scope", "openid payments:write"),
        ],
    )
    .await;
    wider.assert_error(StatusCode::BAD_REQUEST, "invalid_scope");
    // … so the client's retry works, and nothing was revoked as reuse.
    refresh(&h, &refresh_token).await.assert_ok();
    assert!(signin::events(&h, Some("token_revoked")).await.is_empty(), "a refused refresh looked like reuse");
});

// ---------------------------------------------------------------------------------------------
// Bounded input

/// Rows in a table of the server's database.
async fn rows(h: &Harness, table: &str) -> i64 {
    let found = h.query(&format!("SELECT COUNT(*) AS n FROM {table}")).await;
    found[0].try_get::<i64>("", "n").expect("a count")
}

db_test!(async fn over_long_names_passwords_and_parameters_are_refused_and_stored_nowhere(db) {
    let h = signin::start_flow_realm(db).await;
    let huge = "x".repeat(60_000);
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    let events_before = rows(&h, "events").await;
    let before = h.state.hasher.verifications();

    // A username over 255 characters and a password over 1,024 bytes: a clear message, no
    // password check, no event, no counter.
    for _ in 0..20 {
        s.log_in(&huge, "Wrong-Password-1!").await;
        let message = s.expect_error(Shown::Login);
        assert!(message.contains("255"), "{message}");
        assert!(!s.page.body.contains(&huge[..1000]), "the over-long name is shown again");
    }
    s.log_in(USERNAME, &"P".repeat(1025)).await;
    assert!(s.expect_error(Shown::Login).contains("1,024"), "no message for an over-long password");
    assert_eq!(h.state.hasher.verifications(), before, "an over-long input was hashed");
    assert_eq!(rows(&h, "events").await, events_before, "over-long input wrote events");
    assert_eq!(rows(&h, "login_failures").await, 0, "over-long input counted failures");
    // 255 characters is still a username (wrong here, but checked).
    s.log_in(&"y".repeat(255), "Wrong-Password-1!").await;
    assert!(s.expect_error(Shown::Login).to_lowercase().contains("invalid"));

    // A 60 KB state: invalid_request back to the client, without echoing the state, and no
    // sign-in is stored.
    let sessions_before = rows(&h, "auth_sessions").await;
    for (name, value) in [
        ("state", &huge),
        ("nonce", &huge),
        ("login_hint", &huge),
        ("ui_locales", &huge),
        ("claims", &huge),
        ("id_token_hint", &huge),
        ("max_age", &huge),
    ] {
        let (mut request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
        match name {
            "state" => request.state = value.clone(),
            "nonce" => request.nonce = value.clone(),
            _ => request = request.with(name, value),
        }
        let page = support::browser::get(&h.new_browser(), &request.url(&h)).await;
        let location = page
            .location()
            .unwrap_or_else(|| panic!("{name}: no redirect: {}", page.status));
        assert_eq!(query(&location, "error").as_deref(), Some("invalid_request"), "{name}: {location}");
        assert!(location.as_str().len() < 2000, "{name}: the over-long value came back");
    }
    assert_eq!(rows(&h, "auth_sessions").await, sessions_before, "an over-long request stored a sign-in");

    // A flood at a locked account records the lockout once, not per attempt.
    for n in 1..=40 {
        s.log_in(USERNAME, &format!("Wrong-Password-{n}!")).await;
        s.expect_error(Shown::Login);
    }
    let login_errors = signin::events(&h, Some("login_error")).await.len();
    assert!(login_errors <= 5, "40 attempts at a locked account wrote {login_errors} events");
});

db_test!(async fn an_over_long_device_name_and_a_taken_email_are_refused_on_their_pages(db) {
    let h = signin::start_flow_realm(db).await;
    h.add_user("bob", "bob@example.com", PASSWORD).await;
    signin::require(&h, USERNAME, "configure-otp").await;
    signin::require(&h, USERNAME, "update-profile").await;
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::UpdateProfile);
    // Bob's address, in another case: taken.
    s.fill(&[("email", "BOB@example.com"), ("firstName", "Alice"), ("lastName", "Liddell")]).await;
    let message = s.expect_error(Shown::UpdateProfile);
    assert!(message.to_lowercase().contains("another account"), "{message}");
    s.fill(&[("email", EMAIL), ("firstName", "Alice"), ("lastName", "Liddell")]).await;
    s.expect(Shown::ConfigureOtp);
    let secret = signin::secret_from_page(&s.page.body);
    // A 65-character device name is refused before the code is spent; 64 is fine.
    s.fill(&[("otp", &signin::totp_now(&h, &secret)), ("device_name", &"d".repeat(65))]).await;
    let message = s.expect_error(Shown::ConfigureOtp);
    assert!(message.contains("64"), "{message}");
    s.fill(&[("otp", &signin::totp_now(&h, &secret)), ("device_name", "Work\u{202E}enohp")]).await;
    s.expect_error(Shown::ConfigureOtp);
    s.fill(&[("otp", &signin::totp_now(&h, &secret)), ("device_name", &"d".repeat(64))]).await;
    s.expect(Shown::RecoveryCodes);
});

db_test!(async fn one_address_gets_only_so_many_failure_events_a_minute(db) {
    // A realm whose lockout is out of reach, so nothing but the event budget (120 a minute per
    // address) bounds what failures write.
    let realm = signin::standard_flow_realm().replace(
        "brute_force: { max_failures: 3, wait_increment: 1m, max_wait: 15m }",
        "brute_force: { max_failures: 100000, wait_increment: 1m, max_wait: 15m }",
    );
    let h = Harness::start(db, &realm).await;
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    for n in 0..125 {
        s.log_in(&format!("nobody-{n}"), "Wrong-Password-1!").await;
        s.expect_error(Shown::Login);
    }
    assert_eq!(signin::events(&h, Some("login_error")).await.len(), 120);
    let metrics = reqwest::get(format!("{}/metrics", h.url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gatehouse_security_events_dropped_total 5"), "{metrics}");
});

db_test!(async fn one_address_may_start_only_so_many_sign_ins_a_minute(db) {
    let h = Harness::start_with(db, &signin::standard_flow_realm(), |dir, o| {
        let config = dir.join("gatehouse.yaml");
        std::fs::write(&config, "sign_ins_per_address_per_minute: 5\n").expect("write config");
        o.config = Some(config);
    })
    .await;
    for n in 1..=5 {
        let s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
        assert_eq!(s.shown(), Shown::Login, "sign-in {n}: {}", signin::describe(&s.page));
    }
    let s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    assert_eq!(s.page.status, StatusCode::TOO_MANY_REQUESTS, "{}", signin::describe(&s.page));
    assert_eq!(s.page.header("retry-after"), Some("60"));
    assert!(signin::visible_text(&s.page.body).to_lowercase().contains("try again"));
    assert_eq!(rows(&h, "auth_sessions").await, 5, "the refused sign-in was stored");
});

// ---------------------------------------------------------------------------------------------
// Identifier first

db_test!(async fn identifier_first_flow_for_a_client_that_asks_for_it(db) {
    let h = signin::start_flow_realm(db).await;
    let mut s = SignIn::start(&h, &h.new_browser(), IDF_CLIENT).await;
    s.expect(Shown::Username);
    s.fill(&[("username", USERNAME)]).await;
    s.expect(Shown::Password);
    assert!(s.page.body.contains(USERNAME), "the password page does not say who signs in");
    s.fill(&[("password", "Wrong-Password-1!")]).await;
    let wrong_password = s.expect_error(Shown::Password);
    s.fill(&[("password", PASSWORD)]).await;
    s.exchange(&h).await.assert_factors(&["pwd"], "1");

    // An unknown username gets the password page too, and the same message.
    let mut u = SignIn::start(&h, &h.new_browser(), IDF_CLIENT).await;
    u.fill(&[("username", "nobody-here")]).await;
    u.expect(Shown::Password);
    u.fill(&[("password", "Wrong-Password-1!")]).await;
    assert_eq!(u.expect_error(Shown::Password), wrong_password);

    // The other client keeps the realm's browser flow.
    SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await.expect(Shown::Login);

    // With an OTP device, identifier-first asks for the code after the password.
    let enrolment = signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    let mut s = SignIn::start(&h, &h.new_browser(), IDF_CLIENT).await;
    s.fill(&[("username", USERNAME)]).await;
    s.fill(&[("password", PASSWORD)]).await;
    s.expect(Shown::Otp);
    let code = signin::totp_next(&h, &enrolment.secret);
    s.fill(&[("otp", &code)]).await;
    s.exchange(&h).await.assert_factors(&["pwd", "otp", "mfa"], "2");
    let sign_in = signin::events(&h, Some("sign_in")).await.pop().unwrap();
    assert_eq!(sign_in.details["flow"], "identifier-first", "{:?}", sign_in.details);
    let steps = sign_in.details["steps"].to_string();
    for step in ["username-form:success", "password-form:success", "otp-form:success"] {
        assert!(steps.contains(step), "no {step} in {steps}");
    }
});

// ---------------------------------------------------------------------------------------------
// Back button, double submit, stale forms

db_test!(async fn old_and_repeated_forms_neither_skip_a_step_nor_break(db) {
    let h = signin::start_flow_realm(db).await;
    let enrolment = signin::enrol_otp(&h, USERNAME, PASSWORD).await;

    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.expect(Shown::Login);
    let mut login_form = s.form();
    login_form.set("username", USERNAME);
    login_form.set("password", PASSWORD);
    s.submit(&login_form).await;
    s.expect(Shown::Otp);
    let otp_page_url = s.form().action.to_string();

    // Back button: the login form posted again shows the OTP page, never skips it.
    s.submit(&login_form).await;
    s.expect(Shown::Otp);
    // A reload (GET) shows the OTP page.
    s.open(&otp_page_url).await;
    s.expect(Shown::Otp);
    // The login form with another (wrong) password changes nothing either.
    let mut other = login_form.clone();
    other.set("password", "Wrong-Password-1!");
    s.submit(&other).await;
    s.expect(Shown::Otp);
    // A form with a wrong CSRF token changes nothing and says so.
    let code = signin::totp_next(&h, &enrolment.secret);
    let mut forged = s.form();
    forged.set("otp", &code);
    forged.set("csrf", "forged");
    s.submit(&forged).await;
    s.expect(Shown::Otp);
    assert!(s.error().is_some(), "a stale form is not reported: {}", signin::describe(&s.page));
    assert!(signin::events(&h, Some("otp_used")).await.is_empty(), "a forged form was accepted");

    // Double submit: the same OTP form sent twice at once gives one code, not two.
    let mut otp_form = s.form();
    otp_form.set("otp", &code);
    let browser = s.browser.clone();
    let (a, b) = tokio::join!(otp_form.submit(&browser), otp_form.submit(&browser));
    let codes: Vec<String> = [&a, &b]
        .iter()
        .filter_map(|p| p.location())
        .filter_map(|l| query(&l, "code"))
        .collect();
    assert_eq!(codes.len(), 1, "a double submit issued {} codes:\n{}\n{}", codes.len(), signin::describe(&a), signin::describe(&b));
    for page in [&a, &b] {
        assert!(page.status.as_u16() < 500, "a double submit broke: {}", signin::describe(page));
    }
    let token = oauth::exchange_code(&h, oauth::web(), &codes[0], WEB_REDIRECT, Some(&s.verifier)).await;
    token.assert_ok();

    // After the sign-in is over, its old forms lead to a clear page, not a second code.
    s.submit(&otp_form).await;
    assert_ne!(s.shown(), Shown::Away, "an old form issued another code: {}", signin::describe(&s.page));
    assert!(s.page.status.is_client_error() || s.page.status == StatusCode::OK, "{}", signin::describe(&s.page));
    assert!(s.error().is_some(), "no message on the page: {}", signin::describe(&s.page));
    s.submit(&login_form).await;
    assert_ne!(s.shown(), Shown::Away, "an old login form issued another code: {}", signin::describe(&s.page));
    assert_eq!(signin::events(&h, Some("sign_in")).await.len(), 2, "enrolment and this sign-in only");
});

// ---------------------------------------------------------------------------------------------
// prompt=none and events

db_test!(async fn prompt_none_with_a_pending_required_action_is_interaction_required(db) {
    let h = signin::start_flow_realm(db).await;
    let s = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await;
    s.code(&h);
    let browser = s.browser.clone();

    // With the SSO session and nothing pending, prompt=none succeeds.
    let (silent, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let silent = silent.with("prompt", "none");
    let location = support::browser::redirect_away(&browser, &silent.url(&h)).await;
    oauth::code_from(&h, &silent, &location);

    // An admin requires a password change: prompt=none cannot show the page.
    signin::require(&h, USERNAME, "update-password").await;
    let (silent, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let silent = silent.with("prompt", "none");
    let location = support::browser::redirect_away(&browser, &silent.url(&h)).await;
    assert_eq!(support::browser::base_of(&location), WEB_REDIRECT, "{location}");
    assert_eq!(query(&location, "error").as_deref(), Some("interaction_required"), "{location}");
    assert_eq!(query(&location, "state").as_deref(), Some(silent.state.as_str()), "{location}");
    assert_eq!(query(&location, "code"), None, "{location}");

    // Without prompt=none the same browser is shown the page (the SSO session identified it).
    let s = SignIn::start(&h, &browser, WEB_CLIENT).await;
    s.expect(Shown::UpdatePassword);
});

db_test!(async fn sign_in_events_record_the_flow_its_hash_and_the_steps(db) {
    let started = signin::unix_now() as i64;
    let h = signin::start_flow_realm(db).await;
    let s = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await;
    s.exchange(&h).await.assert_factors(&["pwd"], "1");
    let events = signin::events(&h, Some("sign_in")).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.user_id.as_deref(), Some(signin::user_id(&h, USERNAME).await.as_str()));
    assert_eq!(e.client_id.as_deref(), Some(WEB_CLIENT));
    assert!(e.ip.is_some(), "no IP in {e:?}");
    assert_eq!(e.details["flow"], "browser", "{:?}", e.details);
    let file = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("flows/browser.yaml")).unwrap();
    assert_eq!(
        e.details["flow_hash"].as_str(),
        Some(gatehouse::crypto::sha256_hex(&file).as_str()),
        "flow_hash is not the SHA-256 of flows/browser.yaml: {:?}",
        e.details
    );
    let steps: Vec<String> = serde_json::from_value(e.details["steps"].clone()).expect("steps is a list of strings");
    assert!(steps.contains(&"cookie:attempted".to_string()), "{steps:?}");
    assert!(steps.contains(&"username-password-form:success".to_string()), "{steps:?}");
    assert!(!steps.iter().any(|s| s.starts_with("otp-form")), "{steps:?}");

    // A sign-in from the SSO session records the cookie step.
    let again = SignIn::start(&h, &s.browser, WEB_CLIENT).await;
    again.expect(Shown::Away);
    again.code(&h);
    let events = signin::events(&h, Some("sign_in")).await;
    assert_eq!(events.len(), 2);
    let steps = events[1].details["steps"].to_string();
    assert!(steps.contains("cookie:success"), "{steps}");

    // A failed password is recorded with its reason.
    let mut failed = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    failed.log_in(USERNAME, "Wrong-Password-1!").await;
    failed.expect_error(Shown::Login);
    let errors = signin::events(&h, Some("login_error")).await;
    assert_eq!(errors.last().map(|e| e.details["reason"].as_str()), Some(Some("invalid_credentials")), "{errors:?}");

    // Every event says when, from where and with which browser.
    let finished = signin::unix_now() as i64;
    let sign_in_events: Vec<_> = signin::events(&h, None)
        .await
        .into_iter()
        .filter(|e| ["sign_in", "login_error"].contains(&e.kind.as_str()))
        .collect();
    assert_eq!(sign_in_events.len(), 3, "{sign_in_events:?}");
    for e in sign_in_events {
        assert_eq!(e.ip.as_deref(), Some("127.0.0.1"), "{e:?}");
        assert_eq!(e.user_agent.as_deref(), Some(support::browser::USER_AGENT), "{e:?}");
        assert!((started..=finished).contains(&e.created_at), "{e:?} not in {started}..={finished}");
    }
});

db_test!(async fn the_access_token_carries_amr_and_acr_too(db) {
    let h = signin::start_flow_realm(db).await;
    let enrolment = signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    let code = signin::totp_next(&h, &enrolment.secret);
    s.fill(&[("otp", &code)]).await;
    let tokens = s.exchange(&h).await;
    tokens.assert_factors(&["pwd", "otp", "mfa"], "2");
    tokens.assert_access_token_amr(&["pwd", "otp", "mfa"]);
});

db_test!(async fn a_realms_default_actions_are_given_to_every_new_user(db) {
    let realm = signin::standard_flow_realm().replace(
        "  terms-and-conditions: { enabled: true }",
        "  terms-and-conditions: { enabled: true, default: true }",
    );
    assert!(realm.contains("default: true"), "the realm file changed shape:\n{realm}");
    let h = Harness::start(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    assert_eq!(
        signin::pending_actions(&h, USERNAME).await,
        vec!["terms-and-conditions".to_string()]
    );
    // The new user meets it at the first sign-in.
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Terms);
    s.press(&[], ("accept", "yes")).await;
    s.exchange(&h).await;
    assert!(signin::pending_actions(&h, USERNAME).await.is_empty());
});

db_test!(async fn one_address_failing_for_many_usernames_is_locked_out_too(db) {
    let h = signin::start_flow_realm(db).await;
    // The realm allows 3 failures per username and ten times as many per address: 30
    // usernames failing once each from one address lock that address out.
    let browser = h.new_browser();
    let mut s = SignIn::start(&h, &browser, WEB_CLIENT).await;
    for n in 1..=30 {
        s.log_in(&format!("guess-{n}"), "Wrong-Password-1!").await;
        let message = s.expect_error(Shown::Login);
        let expected = if n < 30 { "invalid" } else { "too many" };
        assert!(message.to_lowercase().contains(expected), "attempt {n}: {message}");
    }
    // Now even a real user with the right password is refused from that address.
    s.log_in(USERNAME, PASSWORD).await;
    let message = s.expect_error(Shown::Login);
    assert!(message.to_lowercase().contains("too many"), "{message}");
    assert!(signin::events(&h, Some("sign_in")).await.is_empty(), "signed in from a locked address");
    let locked = h.query("SELECT subject FROM login_failures WHERE locked_until > 0").await;
    let subjects: Vec<String> = locked.iter().map(|r| r.try_get::<String>("", "subject").unwrap()).collect();
    assert_eq!(subjects, ["ip:127.0.0.1"], "only the address is locked");
});
