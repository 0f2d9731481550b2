//! `gatehouse seed`: bulk users and sessions for benchmarks at scale. Seeded users can sign in
//! with the seeded password; the command shows its progress and refuses nonsense.

use crate::support;
use crate::support::process::{arg, gatehouse, run, text};
use crate::support::*;

async fn count(h: &Harness, sql: &str) -> i64 {
    h.query(sql).await[0].try_get::<i64>("", "n").expect("a count")
}

db_test!(async fn seeded_users_and_sessions_are_real(db) {
    let h = Harness::start(db, REALM).await;
    let hash = h.state.hasher.hash(PASSWORD).await.unwrap();
    let seed = gatehouse::store::Seed {
        realm: "test".into(),
        prefix: "bulk-".into(),
        users: 2500,
        sessions: 1200,
        password_hash: hash,
        session_ttl: 3600,
    };
    let mut reports = Vec::new();
    let done = h.state.store.seed(&seed, |n| reports.push(n)).await.unwrap();
    assert_eq!(done, 2500);
    assert_eq!(reports, [1000, 2000, 2500], "progress after each batch");
    assert_eq!(count(&h, "SELECT COUNT(*) AS n FROM users WHERE username LIKE 'bulk-%'").await, 2500);
    assert_eq!(count(&h, "SELECT COUNT(*) AS n FROM sso_sessions WHERE realm = 'test'").await, 1200);
    assert_eq!(
        count(&h, "SELECT COUNT(*) AS n FROM credentials WHERE kind = 'password'").await,
        2500
    );
    // A seeded user signs in with the seeded password.
    let (code, verifier, _) = {
        let browser = h.new_browser();
        let (request, verifier) = support::oauth::AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
        let location = support::browser::sign_in(&browser, &request.url(&h), "bulk-0001234", PASSWORD).await;
        (support::oauth::code_from(&h, &request, &location), verifier, request)
    };
    support::oauth::exchange_code(&h, support::oauth::web(), &code, WEB_REDIRECT, Some(&verifier))
        .await
        .assert_ok();
});

#[test]
fn the_seed_command_reports_progress_and_refuses_nonsense() {
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.path().join("realms")).unwrap();
    std::fs::write(dir.path().join("realms/test.yaml"), REALM).unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
    let cli = |args: &[&str]| {
        let mut cmd = gatehouse(args);
        cmd.args(["--database-url", &db])
            .args(["--realms-dir", arg(&dir.path().join("realms"))])
            .args(["--master-key-file", arg(&dir.path().join("master.key"))]);
        cmd
    };
    // Seeding works on the applied realm, like every command but `serve` and `realm apply`.
    let out = run(cli(&["realm", "apply"]), None);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(
        cli(&["seed", "test", "--users", "1500", "--sessions", "10"]),
        Some("Seed-Password-01\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("seeded 1500/1500 users"), "{all}");
    assert!(all.contains("realm test: 1500 users and 10 sessions added"), "{all}");
    let out = run(
        cli(&["seed", "test", "--users", "5", "--sessions", "6"]),
        Some("Seed-Password-01\n"),
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--sessions cannot exceed --users"),
        "{}",
        text(&out)
    );
    let out = run(cli(&["seed", "nowhere", "--users", "5"]), Some("Seed-Password-01\n"));
    assert!(text(&out).contains("realm 'nowhere' does not exist"), "{}", text(&out));
}
