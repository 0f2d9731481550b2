//! The flow tooling through the real binary: `flow check` on broken files (each message at its
//! line), `flow test` on the shipped scenarios, `flow simulate`, `flow graph`, `schema`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gatehouse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_FLOWS_DIR")
        .env_remove("GATEHOUSE_LOG_FORMAT")
        .output()
        .expect("the gatehouse binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "gatehouse-{name}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const UPF: &str = "  - authenticator: username-password-form\n    requirement: required\n";

/// (file, content, `line:column`, message) — one mistake per file.
fn broken_flows() -> Vec<(&'static str, String, &'static str, &'static str)> {
    let otp = "      - authenticator: otp-form\n        requirement: required\n";
    vec![
        (
            "unknown-authenticator.yaml",
            format!("flow: a\nsteps:\n{UPF}  - authenticator: sms-code\n    requirement: required\n"),
            "5:20",
            "unknown authenticator 'sms-code'; known: cookie, ",
        ),
        (
            "unknown-condition.yaml",
            format!(
                "flow: b\nsteps:\n{UPF}  - subflow: weekdays\n    requirement: conditional\n    steps:\n      - condition: weekday\n        requirement: required\n{otp}"
            ),
            "8:20",
            "unknown condition 'weekday'; known: user-configured, ",
        ),
        (
            "unknown-key.yaml",
            format!("flow: c\nsteps:\n{UPF}    optional: true\n"),
            "5:5",
            "unknown field `optional`",
        ),
        (
            "required-and-alternative.yaml",
            format!("flow: d\nsteps:\n{UPF}  - authenticator: otp-form\n    requirement: alternative\n"),
            "6:18",
            "alternative steps beside a required step are never used",
        ),
        (
            "condition-outside.yaml",
            format!(
                "flow: e\nsteps:\n{UPF}  - condition: user-role\n    requirement: required\n    config: {{ roles: [admin] }}\n"
            ),
            "5:16",
            "a condition may only stand in a conditional subflow",
        ),
        (
            "conditional-without-condition.yaml",
            format!("flow: f\nsteps:\n{UPF}  - subflow: maybe-otp\n    requirement: conditional\n    steps:\n{otp}"),
            "5:5",
            "conditional subflow 'maybe-otp' has no enabled condition; add one, or make the subflow required",
        ),
        (
            "step-after-deny.yaml",
            format!(
                "flow: g\nsteps:\n{UPF}  - authenticator: deny-access\n    requirement: required\n  - authenticator: otp-form\n    requirement: required\n"
            ),
            "7:5",
            "this step can never run: a required deny-access comes before it",
        ),
        (
            "never-identifies.yaml",
            format!(
                "flow: h\nsteps:\n  - subflow: app-only\n    requirement: conditional\n    steps:\n      - condition: client\n        requirement: required\n        config: {{ clients: [app] }}\n    {}",
                UPF.replace("\n  ", "\n      ")
            ),
            "1:7",
            "this flow can finish without identifying a user",
        ),
        (
            "otp-before-user.yaml",
            format!("flow: i\nsteps:\n  - authenticator: otp-form\n    requirement: required\n{UPF}"),
            "3:1",
            "otp-form needs a user, but no earlier step identifies one",
        ),
        (
            "bad-cidr.yaml",
            format!(
                "flow: j\nsteps:\n{UPF}  - subflow: office\n    requirement: conditional\n    steps:\n      - condition: ip-range\n        requirement: required\n        config: {{ cidrs: [10.0.0.0/33] }}\n{otp}"
            ),
            "10:17",
            "ip-range: '10.0.0.0/33' has a bad prefix length",
        ),
        (
            "username-only.yaml",
            "flow: u\nsteps:\n  - authenticator: username-form\n    requirement: required\n".to_string(),
            "1:7",
            "this flow can finish without identifying a user",
        ),
        (
            "after-alternative-deny.yaml",
            "flow: v\nsteps:\n  - authenticator: cookie\n    requirement: alternative\n  - authenticator: deny-access\n    requirement: alternative\n  - authenticator: username-password-form\n    requirement: alternative\n".to_string(),
            "7:5",
            "this alternative can never run: an alternative deny-access comes before it",
        ),
        (
            "after-subflow-that-always-fails.yaml",
            format!(
                "flow: w\nsteps:\n{UPF}  - subflow: blocked\n    requirement: required\n    steps:\n      - authenticator: deny-access\n        requirement: alternative\n  - authenticator: otp-form\n    requirement: required\n"
            ),
            "10:5",
            "this step can never run: the required subflow 'blocked' before it always fails",
        ),
        (
            "user-configured-without-credential.yaml",
            format!(
                "flow: x\nsteps:\n{UPF}  - subflow: pointless\n    requirement: conditional\n    steps:\n      - condition: user-configured\n        requirement: required\n      - authenticator: deny-access\n        requirement: required\n"
            ),
            "8:20",
            "user-configured: no authenticator in this subflow checks a credential",
        ),
        (
            "ends-in-deny.yaml",
            format!("flow: y\nsteps:\n{UPF}  - authenticator: deny-access\n    requirement: required\n"),
            "1:7",
            "this flow can never succeed: every way through it ends in deny-access",
        ),
        (
            "only-conditions.yaml",
            format!(
                "flow: z\nsteps:\n{UPF}  - subflow: empty-handed\n    requirement: conditional\n    steps:\n      - condition: user-role\n        requirement: required\n        config: {{ roles: [admin] }}\n"
            ),
            "8:9",
            "this level has only conditions: nothing here can succeed",
        ),
        (
            "unknown-config-key.yaml",
            format!("flow: m\nsteps:\n{UPF}  - authenticator: deny-access\n    requirement: disabled\n    config: {{ msg: Go away }}\n"),
            "7:13",
            "deny-access: unknown config key 'msg'; allowed: message",
        ),
        (
            "missing-config.yaml",
            format!(
                "flow: k\nsteps:\n{UPF}  - subflow: admins\n    requirement: conditional\n    steps:\n      - condition: user-role\n        requirement: required\n{otp}"
            ),
            "8:9",
            "user-role: config needs 'roles'",
        ),
    ]
}

#[test]
fn flow_check_reports_every_mistake_with_file_line_and_column() {
    let dir = TempDir::new("flow-check");
    let cases = broken_flows();
    for (name, content, _, _) in &cases {
        dir.write(name, content);
    }
    let out = gatehouse(&["flow", "check", dir.path().to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{} problem(s) found", cases.len())),
        "{stderr}"
    );
    for (name, _, position, message) in &cases {
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no error for {name}:\n{stderr}"));
        let expected = format!("{}:{position}: {message}", dir.path().join(name).display());
        assert!(
            line.starts_with(&expected),
            "{name}\n  expected: {expected}…\n  got:      {line}"
        );
    }
    // Files given one by one are all checked too, good ones counted.
    let good = dir.write("good.yaml", &format!("flow: ok\nsteps:\n{UPF}"));
    let bad = dir.path().join("unknown-key.yaml");
    let out = gatehouse(&["flow", "check", good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("1 problem(s) found"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn flow_check_reports_several_mistakes_in_one_file() {
    let dir = TempDir::new("flow-check-several");
    let file = dir.write(
        "several.yaml",
        "flow: several\nsteps:\n  - authenticator: username-password-form\n    requirement: required\n  - authenticator: sms-code\n    requirement: required\n  - condition: client\n    requirement: required\n    config: { clients: [app] }\n  - authenticator: otp-form\n    requirement: alternative\n",
    );
    let out = gatehouse(&["flow", "check", file.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("3 problem(s) found"), "{stderr}");
    let path = file.display().to_string();
    for expected in [
        format!("{path}:5:20: unknown authenticator 'sms-code'"),
        format!("{path}:7:16: a condition may only stand in a conditional subflow"),
        format!("{path}:11:18: alternative steps beside a required step are never used"),
    ] {
        assert!(
            stderr.lines().any(|l| l.starts_with(&expected)),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn flow_check_accepts_the_shipped_flows() {
    let out = gatehouse(&["flow", "check", "flows", "flows/tests/flows"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "7 flow file(s) OK");
    let out = gatehouse(&["flow", "check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "6 flow file(s) OK");
}

#[test]
fn flow_test_passes_the_shipped_scenarios() {
    let out = gatehouse(&["flow", "test"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("ok   flows/tests/browser.yaml: password and one-time code"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok   flows/tests/identifier-first.yaml: a recovery code instead of the one-time code"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok   flows/tests/guarded.yaml: a retired client is turned away before any page"),
        "{stdout}"
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

#[test]
fn flow_test_fails_with_a_diff_when_a_scenario_does_not_hold() {
    let dir = TempDir::new("flow-test");
    let flow = Path::new(env!("CARGO_MANIFEST_DIR")).join("flows/browser.yaml");
    dir.write(
        "wrong.yaml",
        &format!(
            "flow: {}\nscenarios:\n  - name: forgets the one-time code\n    user: {{ has: [otp] }}\n    answers: [password, otp]\n    expect:\n      outcome: success\n      pages: [login.html]\n      acr: \"1\"\n",
            flow.display()
        ),
    );
    let out = gatehouse(&["flow", "test", dir.path().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("FAIL "), "{stdout}");
    assert!(
        stdout.contains("pages differs (- expected, + actual):\n      login.html\n    + otp.html"),
        "{stdout}"
    );
    assert!(stdout.contains("acr: expected \"1\", got \"2\""), "{stdout}");
    assert!(
        text(&out.stderr).contains("1 scenario(s) failed"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn flow_simulate_walks_the_real_engine() {
    let out = gatehouse(&[
        "flow",
        "simulate",
        "flows/browser.yaml",
        "--has",
        "otp",
        "--has",
        "recovery-code",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for expected in [
        "page login.html\n  answer: password",
        "page otp.html\n  answer: otp",
        "outcome: success",
        "amr: pwd otp mfa",
        "acr: 2",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
    let guarded = [
        "flow",
        "simulate",
        "flows/tests/flows/guarded.yaml",
        "--role",
        "admin",
        "--client",
        "app",
    ];
    let out = gatehouse(&[&guarded[..], &["--ip", "10.0.0.5", "--attribute", "status=active"]].concat());
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("· condition user-role:true\n  · condition ip-range:false"),
        "{stdout}"
    );
    assert!(stdout.contains("outcome: success"), "{stdout}");
    let out = gatehouse(
        &[
            &guarded[..],
            &["--ip", "192.0.2.1", "--has", "otp", "--attribute", "status=suspended"],
        ]
        .concat(),
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("page otp.html"), "{stdout}");
    assert!(
        stdout.contains("outcome: failure: Your account is suspended."),
        "{stdout}"
    );
}

#[test]
fn flow_graph_prints_mermaid_and_dot() {
    let out = gatehouse(&["flow", "graph", "flows/browser.yaml"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.starts_with("flowchart TD\n"), "{stdout}");
    assert!(
        stdout.contains("|\"2. conditional if user-configured and trusted-device (negate: true)\"|"),
        "{stdout}"
    );
    let out = gatehouse(&["flow", "graph", "flows/identifier-first.yaml", "--format", "dot"]);
    assert!(
        text(&out.stdout).starts_with("digraph \"identifier-first\" {"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn schema_prints_json_schemas() {
    let out = gatehouse(&["schema", "flow"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let flow: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(flow["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(flow["additionalProperties"], false);
    let step = flow["$defs"]["step"]["oneOf"][0].clone();
    let names = step["properties"]["authenticator"]["enum"].as_array().unwrap().clone();
    assert!(names.contains(&"otp-form".into()), "{names:?}");
    let out = gatehouse(&["schema", "realm"]);
    let realm: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(realm["required"], serde_json::json!(["realm"]));
    assert_eq!(realm["properties"]["clients"]["items"]["additionalProperties"], false);
}

#[test]
fn serve_refuses_to_start_with_a_broken_flow() {
    let dir = TempDir::new("serve-broken-flow");
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    dir.write(
        "flows/browser.yaml",
        "flow: browser\nsteps:\n  - authenticator: sms\n    requirement: required\n",
    );
    let db = format!("sqlite://{}", dir.path().join("g.db").display());
    let key = dir.path().join("master.key");
    let flows = dir.path().join("flows");
    let out = gatehouse(&[
        "serve",
        "--flows-dir",
        flows.to_str().unwrap(),
        "--database-url",
        &db,
        "--master-key-file",
        key.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success(), "serve started with a broken flow");
    let err = text(&out.stderr);
    assert!(err.contains("browser.yaml:3:20: unknown authenticator 'sms'"), "{err}");
}
