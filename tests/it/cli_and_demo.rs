//! The shipped demo realm and the command line, through the real binary: `realm check` on
//! `realms/demo.yaml`, `serve` with the repository's realms on a fresh SQLite file, and a round
//! trip of the user, key and realm commands on one database, checked by signing in.
//!
//! These run on SQLite only: they are about the command line and the quick start, which use
//! SQLite by default; the behaviour behind them is tested on both databases elsewhere.

use crate::support;
use std::path::Path;
use std::process::Output;

use crate::support::browser::{self, base_of, query};
use crate::support::oauth::{self, ClientAuth};
use crate::support::process::{self, ServerProcess, free_port, gatehouse, text};
use crate::support::{TempDir, WEB_SECRET};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

const DEMO_APP: &str = "demo-app";
const DEMO_APP_SECRET: &str = "demo-app-secret-change-me-0123456789";
const DEMO_APP_REDIRECT: &str = "http://127.0.0.1:9000/callback";
const DEMO_SPA: &str = "demo-spa";
const DEMO_SPA_REDIRECT: &str = "http://127.0.0.1:9001/callback";

// ---------------------------------------------------------------------------------------------
// Running the binary.

/// The built binary, run from the package root (where `flows/` and `realms/` are), with no
/// Runs the binary to completion, writing `stdin` (if any) to its standard input.
fn run(args: &[&str], stdin: Option<&str>) -> Output {
    process::run(gatehouse(args), stdin)
}

/// Runs a command that must succeed; returns its standard output.
fn ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = run(args, stdin);
    assert!(out.status.success(), "gatehouse {args:?} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail; returns everything it printed.
fn fails(args: &[&str], stdin: Option<&str>) -> String {
    let out = run(args, stdin);
    assert!(!out.status.success(), "gatehouse {args:?} succeeded:\n{}", text(&out));
    text(&out)
}

/// Starts `gatehouse serve` with `args` added, its output going to a file in `dir`, and
/// waits until `/health/live` answers on `port` (polling; fails early if the process exits).
async fn serve(dir: &Path, port: u16, args: &[&str]) -> ServerProcess {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    ServerProcess::start_until(gatehouse(&all), dir.join("serve.log"), port, "/health/live").await
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("g.db").display())
}

/// The code from an authorization response to `redirect_uri` with this `state` and `issuer`.
fn code_from(location: &Url, redirect_uri: &str, state: &str, issuer: &str) -> String {
    assert_eq!(base_of(location), redirect_uri, "{location}");
    assert_eq!(query(location, "error"), None, "{location}");
    assert_eq!(query(location, "state").as_deref(), Some(state), "{location}");
    assert_eq!(query(location, "iss").as_deref(), Some(issuer), "{location}");
    query(location, "code").unwrap_or_else(|| panic!("no code in {location}"))
}

/// An authorization request URL with a fresh S256 challenge; returns (url, state, verifier).
fn authorize_url(issuer: &str, client_id: &str, redirect_uri: &str) -> (String, String, String) {
    let (verifier, challenge) = oauth::pkce_pair();
    let state = support::unique_name("state-");
    let mut url = Url::parse(&format!("{issuer}/protocol/openid-connect/auth")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state)
        .append_pair("nonce", &support::unique_name("nonce-"))
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    (url.to_string(), state, verifier)
}

// ---------------------------------------------------------------------------------------------
// The demo realm and `serve`.

#[test]
fn shipped_demo_realm_passes_realm_check() {
    let out = ok(&["realm", "check", "realms/demo.yaml"], None);
    assert!(out.contains("OK"), "realm check printed no verdict: {out}");
    // And the whole shipped realms directory.
    ok(&["realm", "check", "--realms-dir", "realms"], None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_the_demo_realm_on_a_fresh_sqlite_file() {
    let dir = TempDir::new();
    let database_url = sqlite_url(dir.path());
    let key_file = dir.path().join("master.key");
    let key_file = key_file.to_str().unwrap();
    let common = [
        "--realms-dir",
        "realms",
        "--database-url",
        &database_url,
        "--master-key-file",
        key_file,
    ];

    // Commands other than `serve` and `realm apply` work on the applied realms: on a fresh
    // database the demo realm is not there yet, and the error says what to do.
    let mut apply = vec!["realm", "apply"];
    apply.extend_from_slice(&common);
    let mut early = vec!["user", "list", "demo"];
    early.extend_from_slice(&common);
    let out = fails(&early, None);
    assert!(
        out.contains("realm 'demo' does not exist") && out.contains("gatehouse realm apply"),
        "{out}"
    );
    ok(&apply, None);

    // The README's way to create the first user (here before the server runs).
    let mut args = vec![
        "user",
        "add",
        "demo",
        "dora",
        "--email",
        "dora@example.com",
        "--password-stdin",
    ];
    args.extend_from_slice(&common);
    ok(&args, Some("Demo-Password-2024\n"));

    let port = free_port();
    let server = serve(dir.path(), port, &common).await;
    let base = format!("http://127.0.0.1:{port}");
    let issuer = format!("{base}/realms/demo");

    // The master key file was generated, readable by its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key_file)
            .expect("the master key file exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "master key file mode {:o}", mode & 0o777);
    }

    // Discovery names the issuer from the listen address.
    let discovery: Value = oauth::backchannel()
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("GET discovery")
        .json()
        .await
        .expect("discovery is JSON");
    assert_eq!(discovery["issuer"], issuer.as_str(), "{discovery}");
    assert_eq!(
        discovery["token_endpoint"],
        format!("{issuer}/protocol/openid-connect/token").as_str(),
        "{discovery}"
    );
    let token_url = format!("{issuer}/protocol/openid-connect/token");

    // demo-app is confidential and may not use client_credentials; a wrong secret is refused.
    oauth::post_form(
        &token_url,
        ClientAuth::Basic(DEMO_APP, DEMO_APP_SECRET),
        &[("grant_type", "client_credentials")],
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    oauth::post_form(
        &token_url,
        ClientAuth::Basic(DEMO_APP, "not-the-demo-secret-0123456789-abcdef"),
        &[("grant_type", "client_credentials")],
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // demo-spa (public) gets the login page …
    let spa_browser = browser::new_browser();
    let (url, _, _) = authorize_url(&issuer, DEMO_SPA, DEMO_SPA_REDIRECT);
    browser::open_login_page(&spa_browser, &url).await;

    // … and demo-app signs the CLI-created user in, end to end.
    let app_browser = browser::new_browser();
    let (url, state, verifier) = authorize_url(&issuer, DEMO_APP, DEMO_APP_REDIRECT);
    let location = browser::sign_in(&app_browser, &url, "dora", "Demo-Password-2024").await;
    let code = code_from(&location, DEMO_APP_REDIRECT, &state, &issuer);
    let tokens = oauth::post_form(
        &token_url,
        ClientAuth::Basic(DEMO_APP, DEMO_APP_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", DEMO_APP_REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    tokens.assert_ok();
    let access = tokens.str("access_token").expect("an access token");
    let userinfo: Value = oauth::backchannel()
        .get(format!("{issuer}/protocol/openid-connect/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .expect("GET userinfo")
        .json()
        .await
        .expect("userinfo is JSON");
    assert_eq!(userinfo["preferred_username"], "dora", "{userinfo}");

    drop(server);
}

// ---------------------------------------------------------------------------------------------
// The CLI round trip.

/// A realm for the CLI test: `update-password` enabled, `terms-and-conditions` not, one
/// confidential client whose secret is [`WEB_SECRET`].
const CLI_REALM: &str = r#"realm: cli
display_name: CLI test
required_actions:
  update-password: { enabled: true }
  terms-and-conditions: { enabled: false }
webauthn: { rp_name: CLI test }
clients:
  - client_id: web
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    redirect_uris: [http://127.0.0.1:9000/callback]
    grant_types: [authorization_code, refresh_token]
    pkce: required
    roles: [viewer]
"#;
const CLI_REDIRECT: &str = "http://127.0.0.1:9000/callback";

/// The `user list` line of `username`.
fn list_line(list: &str, username: &str) -> Option<String> {
    list.lines()
        .find(|l| l.split_whitespace().next() == Some(username))
        .map(String::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_round_trip_on_one_database() {
    let dir = TempDir::new();
    let realms = dir.path().join("realms");
    std::fs::create_dir_all(&realms).unwrap();
    std::fs::write(realms.join("cli.yaml"), CLI_REALM).unwrap();
    let database_url = format!("{}?mode=rwc", sqlite_url(dir.path()));
    let key_file = dir.path().join("master.key");
    let realms_dir = realms.to_str().unwrap().to_string();
    let key_path = key_file.to_str().unwrap().to_string();
    let with = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        for extra in [
            "--realms-dir",
            &realms_dir,
            "--database-url",
            &database_url,
            "--master-key-file",
            &key_path,
        ] {
            all.push(extra.to_string());
        }
        all
    };
    let ok_ = |args: &[&str], stdin: Option<&str>| {
        let all = with(args);
        ok(&all.iter().map(String::as_str).collect::<Vec<_>>(), stdin)
    };
    let fails_ = |args: &[&str], stdin: Option<&str>| {
        let all = with(args);
        fails(&all.iter().map(String::as_str).collect::<Vec<_>>(), stdin)
    };

    // The realm is applied first: user commands work on the live configuration.
    ok_(&["realm", "apply"], None);

    // user add, with the password on stdin; a second add of the same name fails.
    let out = ok_(
        &["user", "add", "cli", "alice", "--email", "a@x", "--password-stdin"],
        Some("Alice-Password-1\n"),
    );
    assert!(out.contains("alice"), "{out}");
    let out = fails_(
        &["user", "add", "cli", "alice", "--password-stdin"],
        Some("Another-Password-1\n"),
    );
    assert!(out.contains("alice") && out.contains("exists"), "{out}");
    ok_(
        &[
            "user",
            "add",
            "cli",
            "bob",
            "--email",
            "bob@example.com",
            "--password-stdin",
        ],
        Some("Bob-Old-Password-1\n"),
    );

    // user list shows them.
    let list = ok_(&["user", "list", "cli"], None);
    let alice = list_line(&list, "alice").unwrap_or_else(|| panic!("alice is not listed:\n{list}"));
    assert!(alice.contains("a@x"), "{alice}");
    assert!(!alice.contains("update-password"), "{alice}");
    assert!(list_line(&list, "bob").is_some(), "bob is not listed:\n{list}");

    // user require: an enabled action shows in the list …
    ok_(&["user", "require", "cli", "alice", "update-password"], None);
    let list = ok_(&["user", "list", "cli"], None);
    let alice = list_line(&list, "alice").unwrap();
    assert!(
        alice.contains("update-password"),
        "the required action is not listed: {alice}"
    );
    // … an unknown one fails and says which exist …
    let out = fails_(&["user", "require", "cli", "alice", "frobnicate"], None);
    assert!(
        out.contains("frobnicate"),
        "the message does not name the action: {out}"
    );
    assert!(
        out.contains("update-password"),
        "the message does not list the known actions: {out}"
    );
    // … one the realm does not enable fails and says so, and an unknown user is named.
    let out = fails_(&["user", "require", "cli", "alice", "terms-and-conditions"], None);
    assert!(out.contains("terms-and-conditions") && out.contains("enabled"), "{out}");
    let out = fails_(&["user", "require", "cli", "nobody", "update-password"], None);
    assert!(out.contains("nobody"), "{out}");
    let list = ok_(&["user", "list", "cli"], None);
    let alice = list_line(&list, "alice").unwrap();
    assert!(
        !alice.contains("terms-and-conditions"),
        "a refused action was added: {alice}"
    );
    // Keycloak's WebAuthn actions, in a realm with passkeys.
    ok_(
        &[
            "user",
            "add",
            "cli",
            "carol",
            "--email",
            "carol@example.com",
            "--password-stdin",
        ],
        Some("Carol-Password-1\n"),
    );
    ok_(&["user", "require", "cli", "carol", "webauthn-register"], None);
    ok_(
        &["user", "require", "cli", "carol", "webauthn-register-passwordless"],
        None,
    );
    // A client's role.
    let out = ok_(
        &["user", "grant-role", "cli", "carol", "viewer", "--client", "web"],
        None,
    );
    assert!(out.contains("carol now has role 'web/viewer'"), "{out}");
    let out = fails_(
        &["user", "grant-role", "cli", "carol", "editor", "--client", "web"],
        None,
    );
    assert!(out.contains("no role 'editor'") && out.contains("viewer"), "{out}");
    let out = ok_(
        &["user", "revoke-role", "cli", "carol", "viewer", "--client", "web"],
        None,
    );
    assert!(out.contains("carol no longer has role 'web/viewer'"), "{out}");
    let carol = list_line(&ok_(&["user", "list", "cli"], None), "carol").expect("carol is listed");
    assert!(
        carol.contains("webauthn-register") && carol.contains("webauthn-register-passwordless"),
        "{carol}"
    );

    // user set-password via stdin; empty input is refused.
    ok_(&["user", "set-password", "cli", "bob"], Some("Bob-New-Password-2\n"));
    fails_(&["user", "set-password", "cli", "bob"], Some("\n"));

    // keys rotate prints the new kid; realm apply succeeds.
    let rotated = ok_(&["keys", "rotate", "cli"], None);
    let out = ok_(&["realm", "apply"], None);
    assert!(out.contains("cli"), "realm apply did not name the realm: {out}");

    // A server on the same database and files sees all of it.
    let settings = gatehouse::config::Settings::resolve(gatehouse::config::Overrides {
        database_url: Some(database_url.clone()),
        realms_dir: Some(realms.clone()),
        flows_dir: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("flows")),
        master_key_file: Some(key_file.clone()),
        listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    })
    .expect("settings resolve");
    let server = gatehouse::app::start(settings, false)
        .await
        .unwrap_or_else(|e| panic!("Gatehouse did not start on the CLI's database: {e}"));
    let issuer = format!("{}/realms/cli", server.url());
    let token_url = format!("{issuer}/protocol/openid-connect/token");

    // Two keys are published, and the active one is the kid `keys rotate` printed.
    let jwks: Value = oauth::backchannel()
        .get(format!("{issuer}/protocol/openid-connect/certs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2), "{jwks}");
    let active = server.state.keys.active("cli").expect("an active key");
    assert!(
        rotated.contains(&active.kid),
        "keys rotate did not print the active kid {}: {rotated}",
        active.kid
    );

    // Bob signs in with the new password; the old one no longer works.
    let stale = browser::new_browser();
    let (url, _, _) = authorize_url(&issuer, "web", CLI_REDIRECT);
    let (_, mut form) = browser::open_login_page(&stale, &url).await;
    form.set("username", "bob");
    form.set("password", "Bob-Old-Password-1");
    let refused = form.submit(&stale).await;
    let refused = browser::follow_on_server(&stale, refused, &Url::parse(&url).unwrap()).await;
    assert!(
        refused.location().is_none_or(|l| base_of(&l) != CLI_REDIRECT),
        "the old password still signs in: {}",
        refused.describe()
    );
    let bob = browser::new_browser();
    let (url, state, verifier) = authorize_url(&issuer, "web", CLI_REDIRECT);
    let location = browser::sign_in(&bob, &url, "bob", "Bob-New-Password-2").await;
    let code = code_from(&location, CLI_REDIRECT, &state, &issuer);
    let tokens = oauth::post_form(
        &token_url,
        ClientAuth::Basic("web", WEB_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CLI_REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    tokens.assert_ok();
    let (header, _) = oauth::jwt_parts(tokens.str("access_token").unwrap());
    assert_eq!(
        header["kid"],
        active.kid.as_str(),
        "not signed with the rotated key: {header}"
    );

    // Alice's required action runs after her password: she must choose a new one.
    let alice_browser = browser::new_browser();
    let (url, state, _) = authorize_url(&issuer, "web", CLI_REDIRECT);
    let server_url = Url::parse(&url).unwrap();
    let (_, mut form) = browser::open_login_page(&alice_browser, &url).await;
    form.set("username", "alice");
    form.set("password", "Alice-Password-1");
    let page = form.submit(&alice_browser).await;
    let page = browser::follow_on_server(&alice_browser, page, &server_url).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "no update-password page: {}",
        page.describe()
    );
    let mut update =
        browser::parse_post_form(&page.body, &page.url).unwrap_or_else(|| panic!("no form: {}", page.describe()));
    assert!(
        update.has("password-new"),
        "not the update-password page: {}",
        page.describe()
    );
    update.set("password-new", "Alice-Password-2");
    update.set("password-confirm", "Alice-Password-2");
    let done = update.submit(&alice_browser).await;
    let done = browser::follow_on_server(&alice_browser, done, &server_url).await;
    let location = done
        .location()
        .unwrap_or_else(|| panic!("no redirect to the app: {}", done.describe()));
    code_from(&location, CLI_REDIRECT, &state, &issuer);
    server.stop().await;

    // The action is done, as `user list` shows.
    let list = ok_(&["user", "list", "cli"], None);
    let alice = list_line(&list, "alice").unwrap();
    assert!(
        !alice.contains("update-password"),
        "the completed action is still listed: {alice}"
    );
}

#[test]
fn help_mentions_every_command_and_argument() {
    let help = ok(&["--help"], None);
    for word in [
        "serve",
        "user",
        "realm",
        "keys",
        "--config",
        "--database-url",
        "--realms-dir",
        "--flows-dir",
        "--master-key-file",
        "--log-format",
    ] {
        assert!(help.contains(word), "gatehouse --help does not mention {word}:\n{help}");
    }
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["user", "add", "--help"],
            &["REALM", "USERNAME", "--email", "--password-stdin", "--database-url"],
        ),
        (&["user", "--help"], &["add", "list", "require", "set-password"]),
        (
            &["user", "require", "--help"],
            &["REALM", "USERNAME", "ACTION", "update-password"],
        ),
        (&["user", "list", "--help"], &["REALM"]),
        (
            &["user", "set-password", "--help"],
            &["REALM", "USERNAME", "standard input"],
        ),
        (
            &["serve", "--help"],
            &["--listen", "--public-url", "--database-url", "--realms-dir"],
        ),
        (&["realm", "--help"], &["check", "apply"]),
        (&["realm", "check", "--help"], &["PATHS", "--realms-dir"]),
        (&["keys", "--help"], &["rotate"]),
        (&["keys", "rotate", "--help"], &["REALM"]),
    ];
    for (args, words) in cases {
        let help = ok(args, None);
        for word in *words {
            assert!(
                help.contains(word),
                "gatehouse {} does not mention {word}:\n{help}",
                args.join(" ")
            );
        }
    }
}

/// The `.eml` files of the demo's file outbox, once `n` are there.
async fn outbox_files(outbox: &Path, n: usize) -> Vec<String> {
    support::process::eventually(
        std::time::Duration::from_secs(30),
        "mail in the demo outbox",
        || async {
            let mut files: Vec<_> = std::fs::read_dir(outbox)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect();
            files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
            (files.len() >= n).then(|| {
                files
                    .iter()
                    .map(|f| std::fs::read_to_string(f).expect("read a message"))
                    .collect()
            })
        },
    )
    .await
}

/// The link in a message of the file outbox (quoted-printable soft breaks undone).
fn link_in(message: &str, prefix: &str) -> String {
    let text = message.replace("=\r\n", "").replace("=3D", "=");
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in:\n{message}"));
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .expect("a link")
        .to_string()
}

/// The demo as a newcomer runs it, from a directory of their own: "Forgot password?" writes its
/// link into `data/outbox`, the link sets a new password, and a sign-in from a new browser is
/// reported there too.
#[tokio::test]
async fn the_demo_mails_reset_links_and_new_login_alerts_into_its_outbox() {
    let dir = TempDir::new();
    let database_url = sqlite_url(dir.path());
    let key_file = dir.path().join("master.key");
    let realms = concat!(env!("CARGO_MANIFEST_DIR"), "/realms");
    let flows = concat!(env!("CARGO_MANIFEST_DIR"), "/flows");
    let common = [
        "--realms-dir",
        realms,
        "--flows-dir",
        flows,
        "--database-url",
        &database_url,
        "--master-key-file",
        key_file.to_str().unwrap(),
    ];
    let in_dir = |args: &[&str]| {
        let mut cmd = gatehouse(args);
        cmd.current_dir(dir.path());
        cmd
    };
    let mut apply = vec!["realm", "apply"];
    apply.extend_from_slice(&common);
    assert!(process::run(in_dir(&apply), None).status.success());
    let mut add = vec![
        "user",
        "add",
        "demo",
        "dora",
        "--email",
        "dora@example.com",
        "--password-stdin",
    ];
    add.extend_from_slice(&common);
    assert!(
        process::run(in_dir(&add), Some("Demo-Password-2024\n"))
            .status
            .success()
    );
    let port = free_port();
    let mut serve_args = vec!["serve"];
    serve_args.extend_from_slice(&common);
    let server =
        ServerProcess::start_until(in_dir(&serve_args), dir.path().join("serve.log"), port, "/health/live").await;
    let issuer = format!("http://127.0.0.1:{port}/realms/demo");
    let outbox = dir.path().join("data/outbox");

    // A first sign-in (nothing to compare with: no alert).
    let (url, _, _) = authorize_url(&issuer, DEMO_APP, DEMO_APP_REDIRECT);
    browser::sign_in(&browser::new_browser(), &url, "dora", "Demo-Password-2024").await;

    // "Forgot password?" from the login page.
    let b = browser::new_browser();
    let (url, _, _) = authorize_url(&issuer, DEMO_APP, DEMO_APP_REDIRECT);
    let (login, _) = browser::open_login_page(&b, &url).await;
    let offered = browser::decode_entities(&login.body).contains("/login-actions/reset-credentials");
    assert!(offered, "no reset offered: {}", login.describe());
    let page = browser::get(&b, &format!("{issuer}/login-actions/reset-credentials")).await;
    let mut form = browser::parse_post_form(&page.body, &page.url).expect("the reset form");
    form.set("username", "dora@example.com");
    let origin = Url::parse(&issuer).expect("issuer");
    let sent = browser::follow_on_server(&b, form.submit(&b).await, &origin).await;
    assert!(sent.body.contains("Check your email"), "{}", sent.describe());
    let mail = outbox_files(&outbox, 1).await.remove(0);
    assert!(mail.contains("To: dora@example.com"), "{mail}");
    let link = link_in(&mail, &format!("{issuer}/login-actions/action-token?key="));
    let confirm = browser::get(&b, &link).await;
    let form = browser::parse_post_form(&confirm.body, &confirm.url).expect("the link's form");
    let choose = browser::follow_on_server(&b, form.submit(&b).await, &origin).await;
    let mut form = browser::parse_post_form(&choose.body, &choose.url).expect("the new-password form");
    form.set("password-new", "Demo-Reset-Password-2025");
    form.set("password-confirm", "Demo-Reset-Password-2025");
    let done = form.submit(&b).await;
    assert!(
        done.body.contains("Your password has been changed"),
        "{}",
        done.describe()
    );

    // A sign-in from another browser and system: reported in the outbox.
    let chrome = browser::new_browser_as(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    );
    let (url, _, _) = authorize_url(&issuer, DEMO_APP, DEMO_APP_REDIRECT);
    browser::sign_in(&chrome, &url, "dora", "Demo-Reset-Password-2025").await;
    let messages = outbox_files(&outbox, 3).await;
    assert!(
        messages
            .iter()
            .any(|m| m.contains("New sign-in") && m.contains("Windows")),
        "no alert among {messages:#?}"
    );
    drop(server);
}
