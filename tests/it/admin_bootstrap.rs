//! The first administrator, through the real binary: `gatehouse admin bootstrap` reads the
//! password from standard input and works once; `GATEHOUSE_BOOTSTRAP_ADMIN_*` does the same
//! when the server starts. The master realm exists from the first start without a file.

use crate::support;
use crate::support::TempDir;
use crate::support::process::{ServerProcess, arg, gatehouse, run, text};
use reqwest::StatusCode;

/// `gatehouse ARGS` on the installation in `dir` (its own database, key and realms).
fn on(dir: &TempDir, args: &[&str]) -> std::process::Command {
    let mut cmd = gatehouse(args);
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
    cmd.args(["--database-url", &db])
        .args(["--realms-dir", arg(&dir.path().join("realms"))])
        .args(["--master-key-file", arg(&dir.path().join("master.key"))]);
    cmd
}

fn installation() -> TempDir {
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.path().join("realms")).unwrap();
    std::fs::write(dir.path().join("realms/test.yaml"), support::REALM).unwrap();
    dir
}

#[test]
fn bootstrap_creates_the_first_administrator_once() {
    let dir = installation();
    let out = run(
        on(&dir, &["admin", "bootstrap", "--username", "root"]),
        Some("Root-Password-0123\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("administrator 'root' created in the master realm"),
        "{}",
        text(&out)
    );
    let out = run(
        on(&dir, &["admin", "bootstrap", "--username", "other"]),
        Some("Other-Password-0123\n"),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("an administrator already exists"), "{}", text(&out));
    // No password on standard input: a clear error.
    let out = run(on(&dir, &["admin", "bootstrap"]), None);
    assert!(!out.status.success());
    assert!(text(&out).contains("no password on stdin"), "{}", text(&out));
    let users = run(on(&dir, &["user", "list", "master"]), None);
    assert!(users.status.success(), "{}", text(&users));
    assert!(text(&users).contains("root"), "{}", text(&users));
    assert!(!text(&users).contains("other"), "{}", text(&users));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_bootstraps_from_the_environment_and_serves_the_master_realm() {
    let dir = installation();
    let mut serve = on(&dir, &["serve"]);
    serve
        .env("GATEHOUSE_BOOTSTRAP_ADMIN_USERNAME", "root")
        .env("GATEHOUSE_BOOTSTRAP_ADMIN_PASSWORD", "Root-Password-0123");
    let server = ServerProcess::start(serve, dir.path().join("serve.log")).await;
    let discovery = reqwest::get(format!(
        "{}/realms/master/.well-known/openid-configuration",
        server.base()
    ))
    .await
    .unwrap();
    assert_eq!(discovery.status(), StatusCode::OK);
    assert!(
        !server.log().contains("Root-Password-0123"),
        "the password is in the log"
    );
    drop(server);
    let out = run(on(&dir, &["admin", "bootstrap"]), Some("Another-Password-0123\n"));
    assert!(text(&out).contains("an administrator already exists"), "{}", text(&out));
}
