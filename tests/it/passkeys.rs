//! Passkeys and security keys over HTTP (the ceremonies themselves run in Chromium, in
//! `browser_passkeys.rs`): the registration action under Keycloak's names, its page without
//! JavaScript and its CSP, refusals that keep nothing and tell nothing, the login page's
//! passkey offer, and the relying party taken from the public URL.

use crate::support::signin::{self, Shown, SignIn};
use crate::support::*;
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softtoken::{self, SoftToken};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

/// Starts Gatehouse at `http://localhost:PORT` (WebAuthn refuses IP addresses) with `realm`.
pub(crate) async fn start_on_localhost(db: Db, realm: &str) -> Harness {
    // A free port, taken for the public URL before the server listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    Harness::start_with(db, realm, |_, o| {
        o.listen = Some(format!("127.0.0.1:{port}"));
        o.public_url = Some(format!("http://localhost:{port}"));
    })
    .await
}

async fn start(db: Db) -> Harness {
    let realm = format!(
        "{}webauthn: {{ rp_name: Example Corp }}\n",
        signin::standard_flow_realm()
    );
    let h = start_on_localhost(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h
}

/// The `data-webauthn` options of a page, decoded.
fn options_of(html: &str) -> serde_json::Value {
    let start = html.find("data-webauthn=\"").expect("the page offers WebAuthn") + "data-webauthn=\"".len();
    let end = start + html[start..].find('"').expect("the attribute ends");
    let text = html[start..end].replace("&quot;", "\"").replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("options are not JSON ({e}): {text}"))
}

/// Stores a stand-in key of `kind` for `user_id` (a test that never signs in with it); its id.
pub(crate) async fn stand_in_key(h: &Harness, user_id: &str, kind: &str, label: Option<&str>) -> String {
    let data = r#"{"key":{},"aaguid":"00000000-0000-0000-0000-000000000000"}"#.to_string();
    h.state
        .store
        .add_webauthn_key(user_id, kind, label.map(String::from), data, "-")
        .await
        .expect("a stand-in key")
}

db_test!(async fn the_registration_action_asks_the_browser_and_refuses_a_bad_answer(db) {
    let h = start(db).await;
    // Keycloak's name, as an administrator's required action.
    gatehouse::admin::require_action(&h.state, &h.realm, USERNAME, "webauthn-register-passwordless")
        .await
        .expect("the action is known and on in a realm with passkeys");
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    assert!(s.page.body.contains("Create a passkey"), "{}", signin::describe(&s.page));
    // The options: our RP (the public URL's host), the user, a discoverable credential.
    let options = options_of(&s.page.body);
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost", "{options}");
    assert_eq!(pk["rp"]["name"], "Example Corp", "{options}");
    assert_eq!(pk["user"]["name"], USERNAME, "{options}");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required", "{options}");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required", "{options}");
    // Without JavaScript the page says what is needed; its one script is allowed by hash.
    assert!(s.page.body.contains("<noscript>"), "{}", s.page.body);
    let csp = s.page.header("content-security-policy").expect("a CSP").to_string();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");

    // A forged answer: the page again with a message, nothing stored, the refusal logged.
    s.fill(&[("credential", r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}"#)])
        .await;
    assert_eq!(s.error().as_deref(), Some("The passkey was not saved. Try again, and choose where to save it when your browser asks."));
    assert_eq!(h.query("SELECT id FROM credentials WHERE kind = 'webauthn-passwordless'").await.len(), 0);
    assert_eq!(signin::events(&h, Some("credential_refused")).await.len(), 1);
    assert_eq!(signin::pending_actions(&h, USERNAME).await, ["webauthn-register-passwordless"]);
});

db_test!(async fn the_login_page_offers_passkeys_and_a_bad_answer_tells_nothing(db) {
    let h = start(db).await;
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.expect(Shown::Login);
    assert!(s.page.body.contains("autocomplete=\"username webauthn\""), "{}", s.page.body);
    let options = options_of(&s.page.body);
    assert_eq!(options["publicKey"]["rpId"], "localhost", "{options}");
    assert_eq!(options["publicKey"]["userVerification"], "required", "{options}");
    // An answer that is not a passkey of anyone's: the same message as for any failure.
    s.fill(&[("credential", r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"authenticatorData":"AA","clientDataJSON":"AA","signature":"AA","userHandle":"AAAAAAAAAAAAAAAAAAAAAA"}}"#)])
        .await;
    s.expect(Shown::Login);
    assert_eq!(
        s.error().as_deref(),
        Some("That passkey could not sign you in. Try again, or sign in with your password.")
    );
    // The password still works on the same page.
    s.log_in(USERNAME, PASSWORD).await;
    s.exchange(&h).await.assert_factors(&["pwd"], "1");
});

db_test!(async fn a_realm_without_passkeys_offers_none_and_refuses_their_actions(db) {
    let h = Harness::start(db, &signin::standard_flow_realm()).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    assert!(!s.page.body.contains("data-webauthn"), "{}", s.page.body);
    let csp = s.page.header("content-security-policy").expect("a CSP").to_string();
    assert!(!csp.contains("script-src"), "{csp}");
    let refused = gatehouse::admin::require_action(&h.state, &h.realm, USERNAME, "webauthn-register").await;
    assert!(refused.is_err_and(|e| e.to_string().contains("not enabled")));
});

db_test!(async fn a_security_key_holder_cannot_step_around_it_to_enrol_an_app(db) {
    let h = start(db).await;
    // A security key (a stand-in: this test never gets as far as using it).
    let user_id = signin::user_id(&h, USERNAME).await;
    stand_in_key(&h, &user_id, "webauthn", None).await;
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    assert!(s.page.body.contains("Use your security key"), "{}", signin::describe(&s.page));
    assert!(!s.page.body.contains("value=\"otp\""), "no app to turn to: {}", s.page.body);
    // Posting "use the app instead" anyway leads nowhere: the key page again, no app set-up.
    s.fill(&[("try_another", "otp")]).await;
    assert!(s.page.body.contains("Use your security key"), "{}", signin::describe(&s.page));
    assert_ne!(s.shown(), Shown::ConfigureOtp);
    assert_eq!(h.query("SELECT id FROM credentials WHERE kind = 'otp'").await.len(), 0);
});

db_test!(async fn a_realm_may_accept_security_keys_with_a_touch(db) {
    let realm = format!("{}webauthn: {{ user_verification: discouraged }}\n", signin::standard_flow_realm());
    let h = start_on_localhost(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    gatehouse::admin::require_action(&h.state, &h.realm, USERNAME, "webauthn-register")
        .await
        .expect("Keycloak's name for a security key");
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    assert!(s.page.body.contains("Add a security key"), "{}", signin::describe(&s.page));
    let options = options_of(&s.page.body);
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["userVerification"], "discouraged", "{options}");
    assert_ne!(selection["residentKey"], "required", "{options}");
    // Chromium refuses credProtect for a credential that is not discoverable.
    assert!(options["publicKey"]["extensions"].get("credentialProtectionPolicy").is_none(), "{options}");
});

db_test!(async fn a_passkey_holder_may_drop_the_password_and_set_one_again(db) {
    let h = start(db).await;
    let b = h.new_browser();
    crate::account::sign_in_to_console(&h, &b, PASSWORD).await;
    let security_url = crate::account::account_url(&h, "security");
    // Without a passkey there is no such button, and the form is refused all the same.
    let page = crate::account::open(&h, &b, &security_url).await;
    assert!(!page.body.contains("id=\"remove-password\""), "{}", page.body);
    let user_id = signin::user_id(&h, USERNAME).await;
    assert!(!h.state.store.remove_password(&user_id).await.expect("store"));

    // With a passkey (a stand-in: this test signs in with passwords only).
    stand_in_key(&h, &user_id, "webauthn-passwordless", Some("Phone")).await;
    let page = crate::account::open(&h, &b, &security_url).await;
    let removed = crate::account::post(&h, &b, &page, "/security/password/remove", &[]).await;
    assert!(removed.body.contains("Your password is removed"), "{}", removed.body);
    assert_eq!(signin::events(&h, Some("password_removed")).await.len(), 1);
    // The password no longer signs in; the last passkey cannot be removed now.
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Login);
    let page = crate::account::open(&h, &b, &security_url).await;
    assert!(page.body.contains("Phone"), "{}", page.body);
    let kept = crate::account::post(&h, &b, &page, "/security/keys/remove", &[]).await;
    assert!(kept.body.contains("cannot be removed"), "{}", kept.body);

    // A password again, without a current one to give.
    let page = crate::account::open(&h, &b, &security_url).await;
    assert!(!page.body.contains("autocomplete=\"current-password\""), "{}", page.body);
    let new = "Another-Secret-77";
    let fields = [("password-new", new), ("password-confirm", new)];
    let set = crate::account::post(&h, &b, &page, "/security/password", &fields).await;
    assert!(!set.body.contains("class=\"error\""), "{}", set.body);
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, new).await;
    s.exchange(&h).await.assert_factors(&["pwd"], "1");
});

db_test!(async fn a_user_with_a_key_and_an_app_may_go_back_and_forth_between_them(db) {
    let h = start(db).await;
    let otp = signin::enrol_otp(&h, USERNAME, PASSWORD).await;
    // A security key (a stand-in: this test chooses the app in the end).
    let user_id = signin::user_id(&h, USERNAME).await;
    stand_in_key(&h, &user_id, "webauthn", None).await;
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    assert!(s.page.body.contains("Use your security key"), "{}", signin::describe(&s.page));
    s.press(&[], ("try_another", "otp")).await;
    s.expect(Shown::Otp);
    s.press(&[], ("try_another", "security-key")).await;
    assert!(s.page.body.contains("Use your security key"), "{}", signin::describe(&s.page));
    assert!(s.page.body.contains("data-webauthn"), "the key is asked for again: {}", s.page.body);
    s.press(&[], ("try_another", "otp")).await;
    s.expect(Shown::Otp);
    // The code of the next time step (the current one was spent enrolling).
    let code = signin::totp_at(&h, &otp.secret, signin::unix_now() + 30);
    s.fill(&[("otp", &code)]).await;
    s.exchange(&h).await.assert_factors(&["pwd", "otp", "mfa"], "2");

    // Without a key the code page offers none.
    h.sql(&format!("DELETE FROM credentials WHERE kind = 'webauthn' AND user_id = '{user_id}'"))
        .await;
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Otp);
    assert!(!s.page.body.contains("value=\"security-key\""), "{}", s.page.body);
    s.fill(&[("try_another", "security-key")]).await;
    s.expect(Shown::Otp);
});

/// The user's security keys: (id, stored JSON).
async fn security_keys(h: &Harness) -> Vec<(String, serde_json::Value)> {
    h.query("SELECT id, secret FROM credentials WHERE kind = 'webauthn'")
        .await
        .iter()
        .map(|row| {
            let id: String = row.try_get("", "id").expect("id");
            let secret: String = row.try_get("", "secret").expect("secret");
            (id, serde_json::from_str(&secret).expect("a stored key is JSON"))
        })
        .collect()
}

/// Signs in with the password and then `key`'s answer on the security-key page.
async fn sign_in_with_key(h: &Harness, key: &mut SoftToken) -> SignIn {
    sign_in_with_key_in(h, &h.new_browser(), key, &[]).await
}

/// The same in browser `b` (asked to sign in again), posting `extra` fields with the answer.
async fn sign_in_with_key_in(h: &Harness, b: &reqwest::Client, key: &mut SoftToken, extra: &[(&str, &str)]) -> SignIn {
    let (request, verifier) = crate::support::oauth::AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let mut s = SignIn::start_with(h, b, request.with("prompt", "login"), verifier).await;
    s.log_in(USERNAME, PASSWORD).await;
    assert!(
        s.page.body.contains("Use your security key"),
        "{}",
        signin::describe(&s.page)
    );
    let options: RequestChallengeResponse = serde_json::from_value(options_of(&s.page.body)).expect("request options");
    let origin = Url::parse(&h.url).expect("the public URL");
    let answer = key.do_authentication(origin, options).expect("the key signs");
    let answer = serde_json::to_string(&answer).unwrap();
    let mut fields = vec![("credential", answer.as_str())];
    fields.extend_from_slice(extra);
    s.fill(&fields).await;
    s
}

db_test!(async fn a_security_key_is_registered_then_asked_after_the_password_and_a_clone_is_refused(db) {
    let realm = format!(
        "{}webauthn: {{}}\ntrusted_devices: {{ enabled: true, days: 30 }}\n",
        signin::standard_flow_realm()
    );
    let h = start_on_localhost(db, &realm).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    gatehouse::admin::require_action(&h.state, &h.realm, USERNAME, "webauthn-register")
        .await
        .expect("Keycloak's name for a security key");
    let (mut key, _) = SoftToken::new(true).expect("a software security key");

    // Registered at the sign-in that asks for it.
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    assert!(s.page.body.contains("Add a security key"), "{}", signin::describe(&s.page));
    let options: CreationChallengeResponse =
        serde_json::from_value(options_of(&s.page.body)).expect("creation options");
    let origin = Url::parse(&h.url).expect("the public URL");
    let answer = key.do_registration(origin, options).expect("the key registers");
    s.fill(&[("credential", &serde_json::to_string(&answer).unwrap())]).await;
    s.exchange(&h).await;
    let keys = security_keys(&h).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].1["aaguid"], softtoken::AAGUID.hyphenated().to_string());
    assert!(signin::pending_actions(&h, USERNAME).await.is_empty());

    // The next sign-in asks for it after the password; its counter is kept.
    sign_in_with_key(&h, &mut key)
        .await
        .exchange(&h)
        .await
        .assert_factors(&["pwd", "hwk", "mfa"], "2");
    let (id, mut stored) = security_keys(&h).await.remove(0);
    assert_eq!(stored["key"]["cred"]["counter"], 1, "{stored}");

    // "Remember this device" on the key's page: that browser is not asked for it again.
    let b = h.new_browser();
    sign_in_with_key_in(&h, &b, &mut key, &[("remember-device", "on")])
        .await
        .exchange(&h)
        .await
        .assert_factors(&["pwd", "hwk", "mfa"], "2");
    let (request, verifier) = crate::support::oauth::AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let mut s = SignIn::start_with(&h, &b, request.with("prompt", "login"), verifier).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.exchange(&h).await.assert_factors(&["pwd"], "1");

    // A stored counter ahead of the key's (as when a copy of it signed meanwhile): refused.
    stored["key"]["cred"]["counter"] = serde_json::json!(1000);
    let data = stored.to_string().replace('\'', "''");
    h.sql(&format!("UPDATE credentials SET secret = '{data}' WHERE id = '{id}'")).await;
    let s = sign_in_with_key(&h, &mut key).await;
    assert_eq!(s.error().as_deref(), Some("That key was not accepted. Try again, or use another way to sign in."));
    assert_ne!(s.shown(), Shown::Away);
    let clones = signin::events(&h, Some("webauthn_clone_detected")).await;
    assert_eq!(clones.len(), 1, "{clones:?}");
    assert_eq!(clones[0].details["reason"], "counter_went_back");
});

db_test!(async fn keys_are_renamed_and_removed_in_the_console(db) {
    let h = start(db).await;
    let b = h.new_browser();
    crate::account::sign_in_to_console(&h, &b, PASSWORD).await;
    // Stand-ins (this test never signs in with them).
    let user_id = signin::user_id(&h, USERNAME).await;
    let key_id = stand_in_key(&h, &user_id, "webauthn", Some("Blue key")).await;
    let security_url = crate::account::account_url(&h, "security");
    let page = crate::account::open(&h, &b, &security_url).await;
    assert!(page.body.contains("Blue key"), "{}", page.body);

    let renamed = crate::account::post(&h, &b, &page, "/security/keys/rename", &[("label", "Desk key")]).await;
    assert!(renamed.body.contains("The key is renamed."), "{}", renamed.body);
    let page = crate::account::open(&h, &b, &security_url).await;
    assert!(page.body.contains("Desk key") && !page.body.contains("Blue key"), "{}", page.body);
    let renames = signin::events(&h, Some("credential_renamed")).await;
    assert_eq!(renames.len(), 1);
    assert_eq!(renames[0].details["credential"], key_id.as_str());

    let removed = crate::account::post(&h, &b, &page, "/security/keys/remove", &[]).await;
    assert!(removed.body.contains("The key is removed."), "{}", removed.body);
    assert!(security_keys(&h).await.is_empty());
    assert_eq!(signin::events(&h, Some("credential_removed")).await.len(), 1);
    let page = crate::account::open(&h, &b, &security_url).await;
    assert!(!page.body.contains("Desk key"), "{}", page.body);
});

/// `options` (a page's `data-webauthn`) as a software authenticator takes them: it keeps no
/// discoverable credentials, so the resident-key request is dropped and a sign-in names `cred`.
fn for_soft_token(mut options: serde_json::Value, cred: Option<&str>) -> serde_json::Value {
    if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
        selection["requireResidentKey"] = false.into();
        selection["residentKey"] = "discouraged".into();
    }
    if let Some(cred) = cred {
        options["publicKey"]["allowCredentials"] = serde_json::json!([{ "type": "public-key", "id": cred }]);
    }
    options
}

/// A passkey sign-in on the login page with `key`'s credential `cred`, answering with the user
/// handle a discoverable authenticator returns.
async fn sign_in_with_passkey(h: &Harness, key: &mut SoftToken, cred: &str, user_id: &str) -> SignIn {
    let mut s = SignIn::start(h, &h.new_browser(), WEB_CLIENT).await;
    answer_with_passkey(h, &mut s, key, cred, user_id).await;
    s
}

/// The same on the login page `s` shows.
async fn answer_with_passkey(h: &Harness, s: &mut SignIn, key: &mut SoftToken, cred: &str, user_id: &str) {
    use base64::Engine as _;
    s.expect(Shown::Login);
    let options: RequestChallengeResponse =
        serde_json::from_value(for_soft_token(options_of(&s.page.body), Some(cred))).expect("request options");
    let origin = Url::parse(&h.url).expect("the public URL");
    let answer = key.do_authentication(origin, options).expect("the key signs");
    let mut answer = serde_json::to_value(&answer).unwrap();
    let handle = gatehouse::webauthn::user_handle(user_id).expect("a user handle");
    answer["response"]["userHandle"] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(handle.as_bytes())
        .into();
    s.fill(&[("credential", &answer.to_string())]).await;
}

/// Registers a passkey on a software authenticator for [`USERNAME`] (the required action, at
/// a password sign-in); the authenticator and the credential's id.
async fn register_passkey(h: &Harness) -> (SoftToken, String) {
    gatehouse::admin::require_action(&h.state, &h.realm, USERNAME, "webauthn-register-passwordless")
        .await
        .expect("Keycloak's name for a passkey");
    let (mut key, _) = SoftToken::new(true).expect("a software authenticator");
    let mut s = SignIn::start(h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    let options: CreationChallengeResponse =
        serde_json::from_value(for_soft_token(options_of(&s.page.body), None)).expect("creation options");
    let answer = key
        .do_registration(Url::parse(&h.url).unwrap(), options)
        .expect("the key registers");
    let cred = serde_json::to_value(&answer).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.fill(&[("credential", &serde_json::to_string(&answer).unwrap())])
        .await;
    s.exchange(h).await;
    (key, cred)
}

db_test!(async fn a_password_session_is_raised_to_two_factors_by_the_passkey(db) {
    let h = start(db).await;
    let user_id = signin::user_id(&h, USERNAME).await;
    let (mut key, cred) = register_passkey(&h).await;
    let b = h.new_browser();
    let mut s = SignIn::start(&h, &b, WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.exchange(&h).await.assert_factors(&["pwd"], "1");

    // The app asks for two factors: the password is not enough, the page offers the passkey.
    let (request, verifier) = crate::support::oauth::AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
    let essential = r#"{"id_token":{"acr":{"essential":true,"values":["2"]}}}"#;
    let mut s = SignIn::start_with(&h, &b, request.with("claims", essential), verifier).await;
    answer_with_passkey(&h, &mut s, &mut key, &cred, &user_id).await;
    s.exchange(&h).await.assert_factors(&["hwk", "user", "mfa"], "2");
});

db_test!(async fn a_passkey_signs_in_alone_keeps_its_counter_and_a_clone_is_refused(db) {
    let h = start(db).await;
    let user_id = signin::user_id(&h, USERNAME).await;
    let (mut key, cred) = register_passkey(&h).await;

    // The passkey alone: two factors, the counter kept, the use noted.
    sign_in_with_passkey(&h, &mut key, &cred, &user_id)
        .await
        .exchange(&h)
        .await
        .assert_factors(&["hwk", "user", "mfa"], "2");
    let row = &h.query("SELECT id, secret, last_used_at FROM credentials WHERE kind = 'webauthn-passwordless'").await[0];
    let id: String = row.try_get("", "id").unwrap();
    let mut stored: serde_json::Value = serde_json::from_str(&row.try_get::<String>("", "secret").unwrap()).unwrap();
    assert_eq!(stored["key"]["cred"]["counter"], 1, "{stored}");
    assert!(row.try_get::<Option<i64>>("", "last_used_at").unwrap().is_some());

    // A stored counter ahead of the authenticator's: refused, the same message as any failure.
    stored["key"]["cred"]["counter"] = serde_json::json!(1000);
    let data = stored.to_string().replace('\'', "''");
    h.sql(&format!("UPDATE credentials SET secret = '{data}' WHERE id = '{id}'")).await;
    let s = sign_in_with_passkey(&h, &mut key, &cred, &user_id).await;
    s.expect(Shown::Login);
    assert_eq!(
        s.error().as_deref(),
        Some("That passkey could not sign you in. Try again, or sign in with your password.")
    );
    assert_eq!(signin::events(&h, Some("webauthn_clone_detected")).await.len(), 1);
});

db_test!(async fn a_key_use_is_recorded_only_against_what_was_checked(db) {
    let h = start(db).await;
    let user_id = signin::user_id(&h, USERNAME).await;
    let store = &h.state.store;
    let first = r#"{"key":{"cred":{"counter":1}},"aaguid":"-"}"#;
    let id = store
        .add_webauthn_key(&user_id, "webauthn", None, first.into(), "-")
        .await
        .expect("a key");
    let second = r#"{"key":{"cred":{"counter":2}},"aaguid":"-"}"#;
    assert!(store.used_webauthn_key(&id, first, Some(second.into())).await.expect("store"));
    // A second use checked against the first state raced the one before: not recorded.
    let third = r#"{"key":{"cred":{"counter":3}},"aaguid":"-"}"#;
    assert!(!store.used_webauthn_key(&id, first, Some(third.into())).await.expect("store"));
    assert_eq!(security_keys(&h).await[0].1["key"]["cred"]["counter"], 2);
});
