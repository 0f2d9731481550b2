//! Mistakes that parse as YAML but make no sense as a realm, through the real binary:
//! `gatehouse realm check` names the exact `file:line:column` of each, and fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::TempDir;

/// Runs the built binary from the package root (where `flows/` is), with no inherited
/// `GATEHOUSE_*` settings.
fn gatehouse(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    for (name, _) in std::env::vars() {
        if name.starts_with("GATEHOUSE_") {
            cmd.env_remove(name);
        }
    }
    cmd.output().expect("run gatehouse")
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Realm files written to a fresh `realms/` directory.
struct Realms {
    dir: TempDir,
}

impl Realms {
    fn new(files: &[(&str, &str)]) -> Realms {
        let dir = TempDir::new();
        std::fs::create_dir_all(dir.path().join("realms")).unwrap();
        for (name, yaml) in files {
            std::fs::write(dir.path().join("realms").join(name), yaml).unwrap();
        }
        Realms { dir }
    }

    fn dir(&self) -> PathBuf {
        self.dir.path().join("realms")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// `realm check --realms-dir DIR`.
    fn check_dir(&self) -> Output {
        gatehouse(&["realm", "check", "--realms-dir", self.dir().to_str().unwrap()])
    }

    /// `realm check FILE`.
    fn check_file(&self, name: &str) -> Output {
        gatehouse(&["realm", "check", self.file(name).to_str().unwrap()])
    }
}

/// Asserts the check failed and printed `FILE:LINE:COLUMN: …` with every one of `words` in
/// that line. Returns the line.
fn assert_reported(out: &Output, file: &Path, line: u64, column: u64, words: &[&str]) -> String {
    let text = output_text(out);
    assert!(!out.status.success(), "realm check accepted it:\n{text}");
    let position = format!("{}:{line}:{column}:", file.display());
    let reported = text
        .lines()
        .find(|l| l.contains(&position))
        .unwrap_or_else(|| panic!("no line with {position} in the output:\n{text}"))
        .to_string();
    for word in words {
        assert!(
            reported.contains(word),
            "the message at {position} does not mention {word:?}: {reported}"
        );
    }
    reported
}

/// Checks `yaml` as the only file, by directory and by file name: both report the mistake at
/// `line:column`.
fn assert_rejected(yaml: &str, line: u64, column: u64, words: &[&str]) {
    let realms = Realms::new(&[("shop.yaml", yaml)]);
    let file = realms.file("shop.yaml");
    assert_reported(&realms.check_dir(), &file, line, column, words);
    assert_reported(&realms.check_file("shop.yaml"), &file, line, column, words);
}

const CLIENT: &str = r#"clients:
  - client_id: shop-web
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    redirect_uris: [http://127.0.0.1:9000/callback]
    grant_types: [authorization_code, refresh_token]
    pkce: required
"#;

#[test]
fn the_base_file_is_good() {
    let yaml = format!("realm: shop\ndisplay_name: Shop\n{CLIENT}");
    let realms = Realms::new(&[("shop.yaml", &yaml)]);
    for out in [realms.check_dir(), realms.check_file("shop.yaml")] {
        assert!(out.status.success(), "a good file was refused:\n{}", output_text(&out));
    }
}

#[test]
fn sso_idle_longer_than_sso_max_is_reported_at_the_tokens_mapping() {
    // Flow style: the mapping starts at its `{`.
    let yaml = "realm: shop\ndisplay_name: Shop\ntokens: { sso_idle: 2h, sso_max: 1h }\n";
    assert_rejected(yaml, 3, 9, &["sso_idle", "sso_max"]);
    // Block style: the mapping starts at its first key.
    let yaml = "realm: shop\ntokens:\n  access_ttl: 5m\n  sso_idle: 2h\n  sso_max: 1h\n";
    assert_rejected(yaml, 3, 3, &["sso_idle", "sso_max"]);
}

#[test]
fn unknown_required_action_is_reported_at_its_entry() {
    let yaml = "realm: shop\n\
                required_actions:\n  \
                  update-password: { enabled: true }\n  \
                  frobnicate: { enabled: true }\n";
    assert_eq!(yaml.lines().nth(3), Some("  frobnicate: { enabled: true }"));
    assert_rejected(yaml, 4, 15, &["frobnicate", "update-password"]);
}

#[test]
fn duplicate_role_is_reported_at_the_second_entry() {
    let yaml = "realm: shop\nroles: [admin, viewer, admin]\n";
    assert_rejected(yaml, 2, 24, &["admin"]);
    let yaml = "realm: shop\nroles:\n  - admin\n  - viewer\n  - admin\n";
    assert_rejected(yaml, 5, 5, &["admin"]);
}

#[test]
fn unknown_realm_browser_flow_is_reported_at_flows() {
    let yaml = format!("realm: shop\ndisplay_name: Shop\nflows: {{ browser: nope }}\n{CLIENT}");
    assert_rejected(&yaml, 3, 8, &["nope"]);
}

#[test]
fn unknown_client_browser_flow_is_reported_at_its_value() {
    let yaml = format!("realm: shop\n{CLIENT}    browser_flow: nope\n");
    assert_eq!(yaml.lines().nth(7), Some("    browser_flow: nope"));
    assert_rejected(&yaml, 8, 19, &["nope", "shop-web"]);
}

#[test]
fn web_origins_must_be_origins_and_never_every_site() {
    let yaml = format!("realm: shop\n{CLIENT}    web_origins: [\"+\", \"*\"]\n");
    assert_eq!(yaml.lines().nth(7), Some("    web_origins: [\"+\", \"*\"]"));
    assert_rejected(&yaml, 8, 24, &["shop-web", "'*'", "'+'"]);
    let yaml = format!("realm: shop\n{CLIENT}    web_origins: [https://shop.example/app]\n");
    assert_rejected(&yaml, 8, 19, &["https://shop.example/app", "scheme://host[:port]"]);
    let yaml = format!("realm: shop\n{CLIENT}    web_origins: [http://shop.example]\n");
    assert_rejected(&yaml, 8, 19, &["http://shop.example", "loopback"]);
    let good = format!("realm: shop\n{CLIENT}    web_origins: [\"+\", \"https://shop.example:8443\"]\n");
    let realms = Realms::new(&[("shop.yaml", &good)]);
    let out = realms.check_dir();
    assert!(out.status.success(), "{}", output_text(&out));
}

#[test]
fn the_same_realm_in_two_files_is_reported_at_the_second_realm_line() {
    let first = format!("realm: shop\n{CLIENT}");
    let second = "# a copy under another name\n\ndisplay_name: Shop again\nrealm: shop\n";
    let realms = Realms::new(&[("a-shop.yaml", &first), ("b-shop.yaml", second)]);
    let out = realms.check_dir();
    let reported = assert_reported(&out, &realms.file("b-shop.yaml"), 4, 8, &["shop"]);
    assert!(
        reported.contains("a-shop.yaml"),
        "the message does not name the first file: {reported}"
    );
    // Each file alone is fine.
    for name in ["a-shop.yaml", "b-shop.yaml"] {
        let out = realms.check_file(name);
        assert!(out.status.success(), "{name} alone was refused:\n{}", output_text(&out));
    }
}

#[test]
fn every_mistake_of_a_file_is_reported_at_once() {
    let yaml = "realm: shop\n\
                tokens: { sso_idle: 2h, sso_max: 1h }\n\
                roles: [admin, admin]\n\
                required_actions:\n  \
                  frobnicate: { enabled: true }\n";
    let realms = Realms::new(&[("shop.yaml", yaml)]);
    let out = realms.check_dir();
    let file = realms.file("shop.yaml");
    assert_reported(&out, &file, 2, 9, &["sso_idle"]);
    assert_reported(&out, &file, 3, 16, &["admin"]);
    assert_reported(&out, &file, 5, 15, &["frobnicate"]);
}

/// The line of `out` about `file`, which must give a `line:column` position.
fn line_about(out: &Output, file: &Path) -> String {
    let text = output_text(out);
    let prefix = format!("{}:", file.display());
    let line = text
        .lines()
        .find(|l| l.contains(&prefix))
        .unwrap_or_else(|| panic!("nothing about {} in the output:\n{text}", file.display()));
    let rest = &line[line.find(&prefix).unwrap() + prefix.len()..];
    let mut parts = rest.splitn(3, ':');
    let (l, c) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    assert!(
        !l.is_empty()
            && l.chars().all(|ch| ch.is_ascii_digit())
            && !c.is_empty()
            && c.chars().all(|ch| ch.is_ascii_digit()),
        "no file:line:column in: {line}"
    );
    line.to_string()
}

#[test]
fn broken_files_do_not_hide_the_others_and_flow_and_realm_errors_come_together() {
    // A file the YAML parser cannot read, one with an unknown key, and a good one whose flow
    // binding is wrong; and beside the built-in flows, a flow file with a mistake.
    let realms = Realms::new(&[
        ("a-broken.yaml", "realm: first\nclients: [\n  - client_id: x\n"),
        ("b-unknown.yaml", "realm: second\ncolour: blue\n"),
        (
            "c-good.yaml",
            &format!("realm: shop\nflows: {{ browser: nope }}\n{CLIENT}"),
        ),
    ]);
    let flows = realms.dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("odd.yaml"), "flow: odd\nwobble: 1\nsteps: []\n").unwrap();
    let out = gatehouse(&[
        "realm",
        "check",
        "--realms-dir",
        realms.dir().to_str().unwrap(),
        "--flows-dir",
        flows.to_str().unwrap(),
    ]);
    let text = output_text(&out);
    assert!(!out.status.success(), "realm check accepted it:\n{text}");
    line_about(&out, &realms.file("a-broken.yaml"));
    assert_reported(&out, &realms.file("b-unknown.yaml"), 2, 1, &["colour"]);
    assert_reported(&out, &realms.file("c-good.yaml"), 2, 8, &["nope"]);
    let flow_line = line_about(&out, &flows.join("odd.yaml"));
    assert!(flow_line.contains("wobble"), "{flow_line}");
    assert!(text.contains("4 problem(s) found"), "{text}");
}
