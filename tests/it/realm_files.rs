//! Bad realm files, through the real binary: `gatehouse realm check` names `file:line:column`
//! for each kind of mistake, and `gatehouse serve` refuses to start on them.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::TempDir;

const GOOD: &str = r#"realm: shop
display_name: Shop
clients:
  - client_id: shop-web
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    redirect_uris: [http://127.0.0.1:9000/callback]
    post_logout_redirect_uris: [http://127.0.0.1:9000/]
    grant_types: [authorization_code, refresh_token]
    pkce: required
"#;

/// Runs the built binary from the package root (where `flows/` is), with no inherited
/// `GATEHOUSE_*` settings.
fn gatehouse(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    for (name, _) in std::env::vars() {
        if name.starts_with("GATEHOUSE_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes `yaml` as `DIR/realms/NAME` and runs `realm check` on that directory.
fn check(name: &str, yaml: &str) -> (TempDir, Output) {
    let dir = TempDir::new();
    let realms = dir.path().join("realms");
    std::fs::create_dir_all(&realms).unwrap();
    std::fs::write(realms.join(name), yaml).unwrap();
    let out = gatehouse(&["realm", "check", "--realms-dir", realms.to_str().unwrap()])
        .output()
        .expect("run gatehouse realm check");
    (dir, out)
}

/// Asserts `realm check` fails and reports `FILE:LINE:COLUMN` (with FILE ending in `name`)
/// and a message containing every one of `words`.
fn assert_rejected(name: &str, yaml: &str, line: u64, column: u64, words: &[&str]) {
    let (dir, out) = check(name, yaml);
    let text = output_text(&out);
    assert!(
        !out.status.success(),
        "realm check accepted a bad file ({name}):\n{text}"
    );
    let path = dir.path().join("realms").join(name);
    let position = format!("{}:{line}:{column}", path.display());
    let reported = text
        .lines()
        .find(|l| l.contains(&position))
        .unwrap_or_else(|| panic!("no line with {position} in the output:\n{text}"));
    for word in words {
        assert!(
            reported.contains(word),
            "the message for {position} does not mention {word:?}: {reported}"
        );
    }
}

#[test]
fn a_good_realm_file_passes() {
    let (_dir, out) = check("shop.yaml", GOOD);
    assert!(
        out.status.success(),
        "realm check refused a good file:\n{}",
        output_text(&out)
    );
}

#[test]
fn unknown_key_is_reported_at_its_position() {
    let yaml = GOOD.replace("display_name: Shop\n", "display_name: Shop\ncolour: blue\n");
    assert_rejected("shop.yaml", &yaml, 3, 1, &["colour"]);
    // Inside a client, indented.
    let yaml = GOOD.replace("    pkce: required\n", "    pkce: required\n    colour: blue\n");
    assert_rejected("shop.yaml", &yaml, 10, 5, &["colour"]);
}

#[test]
fn wrong_type_is_reported_at_the_value() {
    let yaml = GOOD.replace(
        "display_name: Shop\n",
        "display_name: Shop\ntokens:\n  access_ttl: soon\n",
    );
    assert_rejected("shop.yaml", &yaml, 4, 15, &[]);
    let yaml = GOOD.replace("pkce: required", "pkce: sometimes");
    assert_rejected("shop.yaml", &yaml, 9, 11, &["sometimes"]);
}

#[test]
fn absurd_lifetimes_and_a_clashing_roles_claim_are_refused() {
    let yaml = GOOD.replace(
        "display_name: Shop\n",
        "display_name: Shop\ntokens:\n  access_ttl: 9223372036854775807s\n",
    );
    assert_rejected("shop.yaml", &yaml, 4, 3, &["tokens.access_ttl may be at most 366d"]);
    let yaml = GOOD.replace(
        "display_name: Shop\n",
        "display_name: Shop\ntokens:\n  roles_claim: sub\n",
    );
    assert_rejected(
        "shop.yaml",
        &yaml,
        4,
        3,
        &["roles_claim 'sub' would replace a standard claim"],
    );
}

#[test]
fn literal_secret_is_refused() {
    let yaml = GOOD.replace(
        "    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7\n",
        "    secret: hunter2-hunter2-hunter2-hunter2-hunter2\n",
    );
    assert_rejected("shop.yaml", &yaml, 5, 13, &["${env:"]);
}

#[test]
fn malformed_secret_hash_is_refused() {
    let yaml = GOOD.replace("sha256:3ab4454e", "sha256:zz");
    assert_rejected("shop.yaml", &yaml, 5, 18, &["sha256"]);
}

#[test]
fn bad_redirect_uris_are_refused() {
    let yaml = GOOD.replace(
        "    redirect_uris: [http://127.0.0.1:9000/callback]\n",
        "    redirect_uris:\n      - http://127.0.0.1:9000/callback\n      - /relative/callback\n      - http://127.0.0.1:9000/*\n",
    );
    let (_dir, out) = check("shop.yaml", &yaml);
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("shop.yaml:8:9"),
        "relative URI not reported at 8:9:\n{text}"
    );
    assert!(
        text.contains("shop.yaml:9:9"),
        "wildcard URI not reported at 9:9:\n{text}"
    );
    assert_rejected("shop.yaml", &yaml, 8, 9, &["/relative/callback"]);
}

#[test]
fn duplicate_client_is_refused() {
    let second = GOOD.split_once("clients:\n").unwrap().1;
    let yaml = format!("{GOOD}{second}");
    // The second `- client_id: shop-web` is on line 10; its mapping starts at column 5.
    assert_eq!(yaml.lines().nth(9), Some("  - client_id: shop-web"));
    assert_rejected("shop.yaml", &yaml, 10, 5, &["shop-web"]);
}

#[test]
fn syntax_error_is_reported_with_a_position() {
    let yaml = GOOD.replace("    pkce: required\n", "    pkce: [required\n");
    let (dir, out) = check("shop.yaml", &yaml);
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    let prefix = format!("{}:", dir.path().join("realms").join("shop.yaml").display());
    let line = text
        .lines()
        .find(|l| l.contains(&prefix))
        .unwrap_or_else(|| panic!("no position:\n{text}"));
    let rest = &line[line.find(&prefix).unwrap() + prefix.len()..];
    let mut numbers = rest.split(':').take(2).map(|n| n.trim().parse::<u64>());
    assert!(
        matches!((numbers.next(), numbers.next()), (Some(Ok(l)), Some(Ok(_))) if l >= 9),
        "no line:column after the file name: {line}"
    );
}

#[test]
fn serve_refuses_to_start_with_a_bad_realm() {
    let dir = TempDir::new();
    let realms = dir.path().join("realms");
    std::fs::create_dir_all(&realms).unwrap();
    let yaml = GOOD.replace("display_name: Shop\n", "display_name: Shop\ncolour: blue\n");
    std::fs::write(realms.join("shop.yaml"), yaml).unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
    let child = gatehouse(&[
        "serve",
        "--realms-dir",
        realms.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &database_url,
    ])
    .env("GATEHOUSE_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn gatehouse serve");
    let out = wait_with_deadline(child, Duration::from_secs(60));
    let text = output_text(&out);
    assert!(
        !out.status.success(),
        "serve exited successfully with a bad realm:\n{text}"
    );
    let position = format!("{}:3:1", realms.join("shop.yaml").display());
    assert!(
        text.contains(&position),
        "serve did not say where the mistake is ({position}):\n{text}"
    );
}

#[test]
fn serve_refuses_to_start_without_a_realms_directory() {
    let dir = TempDir::new();
    let missing = dir.path().join("no-such-dir");
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
    let child = gatehouse(&[
        "serve",
        "--realms-dir",
        missing.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &database_url,
    ])
    .env("GATEHOUSE_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn gatehouse serve");
    let out = wait_with_deadline(child, Duration::from_secs(60));
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(missing.to_str().unwrap()),
        "the message does not name the directory:\n{text}"
    );
}

/// Waits for the child to exit by itself; kills it and fails the test if it is still running
/// at the deadline (a server that started instead of refusing would otherwise hang the test).
fn wait_with_deadline(child: std::process::Child, deadline: Duration) -> Output {
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(result) => result.expect("wait for gatehouse"),
        Err(_) => {
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!("gatehouse serve was still running after {deadline:?}: it started with a bad realm");
        }
    }
}

#[test]
fn script_data_and_plain_http_redirect_uris_are_refused_at_their_position() {
    for (uri, word) in [
        ("javascript:alert(document.cookie)", "javascript:"),
        ("\"data:text/html,<script>alert(1)</script>\"", "data:"),
        ("http://shop.example/callback", "loopback"),
    ] {
        let yaml = GOOD.replace("[http://127.0.0.1:9000/callback]", &format!("[{uri}]"));
        assert_rejected("shop.yaml", &yaml, 6, 21, &[word]);
        let yaml = GOOD.replace("[http://127.0.0.1:9000/]", &format!("[{uri}]"));
        assert_rejected("shop.yaml", &yaml, 7, 33, &[word]);
    }
    // https anywhere, http on loopback, and a native app's own scheme are fine.
    let yaml = GOOD.replace(
        "[http://127.0.0.1:9000/callback]",
        "[https://shop.example/callback, http://localhost:9000/cb, \"http://[::1]:9000/cb\", com.example.shop:/cb]",
    );
    let (_dir, out) = check("shop.yaml", &yaml);
    assert!(out.status.success(), "{}", output_text(&out));
}
