//! Identity brokering end to end: a second Gatehouse (the real binary, its own database, on
//! loopback) is the upstream OpenID Connect provider, and a small loopback server plays GitHub.
//! The realm under test signs people in through both with the built-in `providers` flow.

use std::path::Path;

use serde_json::Value;

use crate::support::github::{self, Account, FakeGitHub};
use crate::support::process::{self, ServerProcess};
use crate::support::signin::{self, Shown, SignIn};
use crate::support::*;
use crate::support::{Db, TempDir};

const SECRET_VAR: &str = "BROKER_TEST_CLIENT_SECRET";
const SECRET: &str = "broker-test-secret-0123456789abcdef-0123";
const UPSTREAM_PASSWORD: &str = "Upstream-Password-2024";

/// The realm under test, signing in with the `providers` flow, with the upstream Gatehouse
/// (`corp`, linking by verified address) and GitHub (`github`, creating users).
fn realm(upstream: &str, github: &str, redirect: &str) -> String {
    let providers = format!(
        "flows:\n  browser: providers\nidentity_providers:\n\
         \x20 - alias: corp\n    kind: oidc\n    display_name: Corp SSO\n\
         \x20   discovery_url: {upstream}/realms/corp/.well-known/openid-configuration\n\
         \x20   client_id: downstream\n    client_secret: ${{env:{SECRET_VAR}}}\n    first_login: link-by-verified-email\n\
         \x20 - alias: corp-ask\n    kind: oidc\n    display_name: Corp SSO (ask)\n\
         \x20   discovery_url: {upstream}/realms/corp/.well-known/openid-configuration\n\
         \x20   client_id: downstream\n    client_secret: ${{env:{SECRET_VAR}}}\n    first_login: ask\n\
         \x20 - alias: github\n    kind: github\n    display_name: GitHub\n\
         \x20   client_id: {}\n    client_secret: ${{env:{SECRET_VAR}}}\n    first_login: create\n\
         \x20   authorization_url: {github}/login/oauth/authorize\n\
         \x20   token_url: {github}/login/oauth/access_token\n    api_url: {github}/api\n",
        github::CLIENT_ID
    );
    signin::flow_realm(redirect).replace("    browser_flow: identifier-first\n", "") + providers.as_str()
}

/// The upstream Gatehouse: realm `corp` with the client `downstream` returning to `callback`,
/// and users `(username, email, verified)`, on `port`.
async fn upstream(dir: &Path, port: u16, callback: &str, users: &[(&str, &str, bool)]) -> ServerProcess {
    let realms = dir.join("realms");
    std::fs::create_dir_all(&realms).expect("realms dir");
    let secret_hash = gatehouse::crypto::sha256_hex(SECRET.as_bytes());
    let callback_ask = callback.replace("/broker/corp/", "/broker/corp-ask/");
    let corp = format!(
        "realm: corp\nclients:\n  - client_id: downstream\n    secret_hash: sha256:{secret_hash}\n\
         \x20   redirect_uris: [{callback}, {callback_ask}]\n    grant_types: [authorization_code]\n"
    );
    std::fs::write(realms.join("corp.yaml"), corp).expect("realm file");
    let database = format!("sqlite://{}", dir.join("up.db").display());
    let key = dir.join("master.key");
    let common = [
        "--realms-dir",
        realms.to_str().expect("a path"),
        "--database-url",
        &database,
        "--master-key-file",
        key.to_str().expect("a path"),
    ];
    let with = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&common);
        let mut cmd = process::gatehouse(&all);
        cmd.current_dir(dir);
        cmd
    };
    let applied = process::run(with(&["realm", "apply"]), None);
    assert!(applied.status.success(), "{}", process::text(&applied));
    for (username, email, _) in users {
        let added = process::run(
            with(&["user", "add", "corp", username, "--email", email, "--password-stdin"]),
            Some(&format!("{UPSTREAM_PASSWORD}\n")),
        );
        assert!(added.status.success(), "{}", process::text(&added));
    }
    // Addresses the upstream vouches for, as its administrators would mark them.
    let store = gatehouse::store::Store::open(&database)
        .await
        .expect("the upstream database");
    for (username, _, verified) in users {
        let user = store
            .find_user_by_username("corp", username)
            .await
            .unwrap()
            .expect("the user");
        let change = gatehouse::store::UserUpdate {
            email_verified: Some(*verified),
            ..Default::default()
        };
        store.update_user(&user.id, change).await.expect("verified");
    }
    drop(store);
    ServerProcess::start_until(with(&["serve"]), dir.join("serve.log"), port, "/health/live").await
}

/// Follows redirects in `b` across both servers until the browser lands on a page, or is
/// sent to the app.
async fn follow(b: &reqwest::Client, mut page: browser::Page) -> browser::Page {
    for _ in 0..10 {
        match page.location() {
            Some(next) if page.is_redirect() && !next.as_str().starts_with(WEB_REDIRECT) => {
                page = browser::get(b, next.as_str()).await;
            }
            _ => return page,
        }
    }
    panic!("too many redirects: {}", page.describe())
}

/// A sign-in to the `web` app that chooses provider `alias` on the login page.
async fn through(h: &Harness, alias: &str) -> SignIn {
    let mut s = SignIn::start(h, &h.new_browser(), WEB_CLIENT).await;
    s.expect(Shown::Login);
    let text = browser::decode_entities(&s.page.body);
    let marker = format!("id=\"provider-{alias}\" href=\"");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no {alias} button: {}", s.page.describe()))
        + marker.len();
    let path = &text[start..start + text[start..].find('"').expect("the link's end")];
    let first = browser::get(&s.browser, &format!("{}{path}", h.url)).await;
    s.page = follow(&s.browser, first).await;
    s
}

/// Signs in upstream as `username` on the page showing, and comes back.
async fn upstream_sign_in(s: &mut SignIn, username: &str) {
    let mut form = signin::form_of(&s.page);
    form.set("username", username);
    form.set("password", UPSTREAM_PASSWORD);
    let answer = form.submit(&s.browser).await;
    s.page = follow(&s.browser, answer).await;
}

async fn linked(h: &Harness, user_id: &str) -> Vec<String> {
    h.state
        .store
        .federated_identities(user_id)
        .await
        .expect("links")
        .into_iter()
        .map(|l| l.provider)
        .collect()
}

/// The realm under test, with [`USERNAME`] and `bob` (their addresses verified), the fake
/// GitHub and the upstream Gatehouse holding `users`.
struct World {
    h: Harness,
    gh: FakeGitHub,
    up_url: String,
    callback: String,
    alice_id: String,
    bob_id: String,
    _up: ServerProcess,
    _dir: TempDir,
}

async fn world(db: Db, users: &[(&str, &str, bool)]) -> World {
    world_for(db, users, WEB_REDIRECT).await
}

/// [`world`] with the `web` app at `redirect` too.
async fn world_for(db: Db, users: &[(&str, &str, bool)], redirect: &str) -> World {
    // SAFETY: each test runs in its own process (nextest); nothing else reads the environment now.
    unsafe { std::env::set_var(SECRET_VAR, SECRET) };
    let gh = FakeGitHub::start(SECRET).await;
    let port = process::free_port();
    let up_url = format!("http://127.0.0.1:{port}");
    let h = Harness::start(db, &realm(&up_url, &gh.url, redirect)).await;
    let alice_id = h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let bob_id = h.add_user("bob", "bob@example.com", PASSWORD).await;
    h.sql("UPDATE users SET email_verified = TRUE").await;
    let dir = TempDir::new();
    let callback = format!("{}/realms/flows/broker/corp/endpoint", h.url);
    let up = upstream(dir.path(), port, &callback, users).await;
    World {
        h,
        gh,
        up_url,
        callback,
        alice_id,
        bob_id,
        _up: up,
        _dir: dir,
    }
}

db_test!(async fn upstream_providers_sign_people_in_and_link_only_verified_addresses(db) {
    let users = [("carol", "carol@example.com", true), ("alice.corp", EMAIL, true), ("mallory", "bob@example.com", false)];
    let w = world(db, &users).await;
    let (h, gh, up_url, callback) = (&w.h, &w.gh, &w.up_url, &w.callback);
    let (alice_id, bob_id) = (w.alice_id.clone(), w.bob_id.clone());

    // A new person: the upstream sign-in creates their user, linked, with the verified address.
    let mut s = through(h, "corp").await;
    assert!(s.page.url.as_str().starts_with(up_url), "not at the upstream: {}", s.page.describe());
    upstream_sign_in(&mut s, "carol").await;
    let tokens = s.exchange(h).await;
    tokens.assert_factors(&["fed"], "1");
    let carol = h.state.store.find_user_by_username("flows", "carol").await.unwrap().expect("carol made");
    assert_eq!(tokens.id["sub"], Value::from(carol.id.clone()));
    assert!(carol.email_verified && carol.email.as_deref() == Some("carol@example.com"));
    assert_eq!(linked(h, &carol.id).await, ["corp"]);

    // The same address verified on both sides links to the existing user, whose own second
    // factor still follows.
    let enrolment = signin::enrol_otp(h, USERNAME, PASSWORD).await;
    let mut s = through(h, "corp").await;
    upstream_sign_in(&mut s, "alice.corp").await;
    s.expect(Shown::Otp);
    let code = signin::totp_next(h, &enrolment.secret);
    s.fill(&[("otp", &code)]).await;
    let tokens = s.exchange(h).await;
    tokens.assert_factors(&["fed", "otp", "mfa"], "2");
    assert_eq!(tokens.id["sub"], Value::from(alice_id.clone()));
    assert_eq!(linked(h, &alice_id).await, ["corp"]);

    // An address the upstream does not vouch for takes over nobody: the login page says why.
    let mut s = through(h, "corp").await;
    upstream_sign_in(&mut s, "mallory").await;
    s.expect(Shown::Login);
    let text = signin::visible_text(&s.page.body);
    assert!(text.contains("An account with this email address exists already"), "{text}");
    assert!(linked(h, &bob_id).await.is_empty());
    let refused = signin::events(h, Some("identity_provider_error")).await;
    assert_eq!(refused.len(), 1, "{refused:?}");

    // GitHub: its login names the new user; the second sign-in finds the same one.
    gh.signs_in_as(Account {
        id: 4242,
        login: "Octo".into(),
        name: Some("Octo Cat".into()),
        emails: vec![("octo@example.com".into(), true, true)],
    });
    let s = through(h, "github").await;
    let first = s.exchange(h).await;
    let octo = h.state.store.find_user_by_username("flows", "octo").await.unwrap().expect("octo made");
    assert_eq!(first.id["sub"], Value::from(octo.id.clone()));
    assert_eq!((octo.first_name.as_deref(), octo.last_name.as_deref()), (Some("Octo"), Some("Cat")));
    let again = through(h, "github").await.exchange(h).await;
    assert_eq!(again.id["sub"], Value::from(octo.id.clone()));
    let created = signin::events(h, Some("identity_provider_linked")).await;
    assert_eq!(created.len(), 3, "carol, alice's link and octo: {created:?}");

    // A state that is not the sign-in's own is refused, and signs no one in.
    let s = SignIn::start(h, &h.new_browser(), WEB_CLIENT).await;
    let forged = browser::get(&s.browser, &format!("{callback}?code=x&state=forged")).await;
    assert_eq!(forged.status, reqwest::StatusCode::BAD_REQUEST, "{}", forged.describe());
});

db_test!(async fn linked_accounts_are_linked_from_the_console_and_the_last_way_in_stays(db) {
    let users = [("ally", "ally@corp.example", true), ("carol", "carol@example.com", true)];
    let w = world(db, &users).await;
    let h = &w.h;
    let server = reqwest::Url::parse(&h.url).expect("server URL");

    // Alice links her upstream account from the console (she signed in just now).
    let b = crate::account::browser_as("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0");
    crate::account::sign_in_to_console(h, &b, PASSWORD).await;
    let page = crate::account::open(h, &b, &crate::account::account_url(h, "linked")).await;
    assert!(page.body.contains("id=\"link-corp\""), "{}", page.describe());
    let text = browser::decode_entities(&page.body);
    let marker = "id=\"link-corp\" href=\"";
    let start = text.find(marker).expect("the link") + marker.len();
    let href = &text[start..start + text[start..].find('"').expect("its end")];
    let upstream_page = follow(&b, browser::get(&b, &format!("{}{href}", h.url)).await).await;
    let mut form = signin::form_of(&upstream_page);
    form.set("username", "ally");
    form.set("password", UPSTREAM_PASSWORD);
    let back = follow(&b, form.submit(&b).await).await;
    let back = browser::follow_on_server(&b, back, &server).await;
    assert!(back.body.contains("The account is linked"), "{}", back.describe());
    assert_eq!(linked(h, &w.alice_id).await, ["corp"]);
    // From now on the upstream account signs her in.
    let mut s = through(h, "corp").await;
    upstream_sign_in(&mut s, "ally").await;
    assert_eq!(s.exchange(h).await.id["sub"], Value::from(w.alice_id.clone()));

    // She keeps her password, so she may unlink it.
    let page = crate::account::open(h, &b, &crate::account::account_url(h, "linked")).await;
    let done = crate::account::post(h, &b, &page, "/linked/unlink", &[]).await;
    assert!(done.body.contains("The account is unlinked"), "{}", done.describe());
    assert!(linked(h, &w.alice_id).await.is_empty());
    assert_eq!(signin::events(h, Some("identity_provider_unlinked")).await.len(), 1);

    // Carol's only way in is her upstream account: the console refuses to unlink it.
    let carol = crate::account::browser_as("Mozilla/5.0 (Macintosh) Safari/605.1.15");
    let login = crate::account::open(h, &carol, &crate::account::account_url(h, "linked")).await;
    let text = browser::decode_entities(&login.body);
    let marker = "id=\"provider-corp\" href=\"";
    let start = text.find(marker).unwrap_or_else(|| panic!("no button: {}", login.describe())) + marker.len();
    let href = &text[start..start + text[start..].find('"').expect("its end")];
    let upstream_page = follow(&carol, browser::get(&carol, &format!("{}{href}", h.url)).await).await;
    let mut form = signin::form_of(&upstream_page);
    form.set("username", "carol");
    form.set("password", UPSTREAM_PASSWORD);
    let back = follow(&carol, form.submit(&carol).await).await;
    let page = browser::follow_on_server(&carol, back, &server).await;
    assert!(page.url.path().ends_with("/account/linked"), "{}", page.describe());
    let carol_id = h.state.store.find_user_by_username("flows", "carol").await.unwrap().expect("carol").id;
    let refused = crate::account::post(h, &carol, &page, "/linked/unlink", &[]).await;
    assert_eq!(refused.status, reqwest::StatusCode::CONFLICT, "{}", refused.describe());
    assert!(refused.body.contains("last way you have to sign in"), "{}", refused.describe());
    assert_eq!(linked(h, &carol_id).await, ["corp"]);
});

db_test!(async fn first_login_ask_links_after_a_password_sign_in_or_creates(db) {
    let users = [("ally", "ally@corp.example", true), ("dora", "dora@corp.example", true)];
    let w = world(db, &users).await;
    let h = &w.h;

    // Ally has an account here: she chooses to sign in with it, and the upstream one is linked.
    let mut s = through(h, "corp-ask").await;
    upstream_sign_in(&mut s, "ally").await;
    let text = signin::visible_text(&s.page.body);
    assert!(text.contains("First sign-in with this account") && text.contains("ally"), "{text}");
    s.press(&[], ("choice", "link")).await;
    let text = signin::visible_text(&s.page.body);
    assert!(text.contains("your other account will be linked"), "{text}");
    s.log_in(USERNAME, PASSWORD).await;
    let tokens = s.exchange(h).await;
    tokens.assert_factors(&["pwd"], "1");
    assert_eq!(tokens.id["sub"], Value::from(w.alice_id.clone()));
    assert_eq!(linked(h, &w.alice_id).await, ["corp-ask"]);
    // Next time the upstream account alone signs her in.
    let mut s = through(h, "corp-ask").await;
    upstream_sign_in(&mut s, "ally").await;
    assert_eq!(s.exchange(h).await.id["sub"], Value::from(w.alice_id.clone()));

    // Dora has none: she creates one.
    let mut s = through(h, "corp-ask").await;
    upstream_sign_in(&mut s, "dora").await;
    s.press(&[], ("choice", "create")).await;
    let tokens = s.exchange(h).await;
    let dora = h.state.store.find_user_by_username("flows", "dora").await.unwrap().expect("dora made");
    assert_eq!(tokens.id["sub"], Value::from(dora.id.clone()));
    assert_eq!(linked(h, &dora.id).await, ["corp-ask"]);
});

db_test!(async fn an_upstream_sign_in_in_chromium_lands_at_the_app(db) {
    crate::browser_e2e::with_browser(&format!("broker_{db:?}"), |ui| async move {
        let app = crate::browser_e2e::App::start().await;
        let users = [("carol", "carol@example.com", true)];
        let w = world_for(db, &users, &app.callback).await;
        let h = &w.h;
        let (request, _) = oauth::AuthRequest::new(WEB_CLIENT, &app.callback);
        ui.open(&request.url(h), "login-with-providers").await;
        ui.expect(crate::browser_e2e::Screen::Login).await;
        ui.click("#provider-corp", "upstream-login").await;
        assert!(ui.url().await.as_str().starts_with(&w.up_url), "{}", ui.describe().await);
        ui.log_in("carol", UPSTREAM_PASSWORD, "back-at-the-app").await;
        ui.expect(crate::browser_e2e::Screen::App).await;
        let carol = h.state.store.find_user_by_username("flows", "carol").await.unwrap().expect("carol made");
        assert_eq!(linked(h, &carol.id).await, ["corp"]);
    })
    .await;
});

/// Changes this browser's sign-in in progress as an attacker replaying another sign-in's
/// answer would need: `field` of the pending upstream request becomes `value`.
async fn tamper_pending(h: &Harness, field: &str, value: &str) {
    let mut tampered = 0;
    for row in h.query("SELECT id, state FROM auth_sessions").await {
        let id: String = row.try_get("", "id").expect("an id");
        let state: String = row.try_get("", "state").expect("a state");
        let mut flow: Value = serde_json::from_str(&state).expect("the flow state");
        if !flow["broker"]["pending"].is_object() {
            continue;
        }
        flow["broker"]["pending"][field] = Value::from(value);
        let text = serde_json::to_string(&flow).expect("JSON").replace('\'', "''");
        h.sql(&format!("UPDATE auth_sessions SET state = '{text}' WHERE id = '{id}'"))
            .await;
        tampered += 1;
    }
    assert_eq!(tampered, 1, "one sign-in waits for the upstream");
}

db_test!(async fn an_answer_that_does_not_match_the_request_signs_no_one_in(db) {
    let users = [("carol", "carol@example.com", true)];
    let w = world(db, &users).await;
    let h = &w.h;
    // The ID token's nonce is not this sign-in's: refused, the login page says so.
    let mut s = through(h, "corp").await;
    tamper_pending(h, "nonce", "another-sign-in").await;
    upstream_sign_in(&mut s, "carol").await;
    s.expect(Shown::Login);
    assert!(signin::visible_text(&s.page.body).contains("did not work"), "{}", s.page.describe());
    // The PKCE verifier is not the one the challenge was made from: the upstream refuses the code.
    let mut s = through(h, "corp").await;
    tamper_pending(h, "verifier", "a-verifier-the-upstream-never-saw-0123456789abcdef").await;
    upstream_sign_in(&mut s, "carol").await;
    s.expect(Shown::Login);
    let errors = signin::events(h, Some("identity_provider_error")).await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    let reasons: Vec<String> = errors.iter().map(|e| e.details["reason"].to_string()).collect();
    assert!(reasons[0].contains("nonce"), "{reasons:?}");
    assert!(h.state.store.find_user_by_username("flows", "carol").await.unwrap().is_none());
});
