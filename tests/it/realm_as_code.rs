//! Realm configuration as code, through the real binary: `realm export` writes the live realm
//! back as a file that `apply` accepts unchanged, `plan` shows a readable diff and says by its
//! exit code whether anything would change, `apply` is all-or-nothing and idempotent, and
//! running servers serve an applied change without a restart — also two server processes on
//! one PostgreSQL database.

use crate::support;
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::process::{ServerProcess, arg, eventually, gatehouse, run, text};
use crate::support::*;
use reqwest::StatusCode;

/// A confidential client for client_credentials that the edited realm adds.
const MACHINE_CLIENT: &str = "  - client_id: machine
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    grant_types: [client_credentials]
";

/// [`REALM`] renamed, with the `machine` client added and the `spa` client removed.
fn edited_realm() -> String {
    let spa_start = REALM.find("  - client_id: spa").expect("REALM has the spa client");
    format!("{}{MACHINE_CLIENT}", &REALM[..spa_start])
        .replace("display_name: Test realm", "display_name: Renamed realm")
}

/// `gatehouse ARGS --database-url URL`.
fn cli(database_url: &str, args: &[&str]) -> Command {
    let mut cmd = gatehouse(args);
    cmd.args(["--database-url", database_url]);
    cmd
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `base` (a server's URL) lets the machine client get a token.
async fn machine_client_works(base: &str) -> bool {
    let response = reqwest::Client::new()
        .post(format!("{base}/realms/test/protocol/openid-connect/token"))
        .basic_auth("machine", Some(WEB_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    response.status() == StatusCode::OK
}

async fn snapshot_count(h: &Harness) -> i64 {
    let rows = h
        .query("SELECT COUNT(*) AS n FROM realm_snapshots WHERE realm = 'test'")
        .await;
    rows[0].try_get::<i64>("", "n").expect("a count")
}

/// The `realm_applied` events of realm `test`, newest first.
async fn applied_events(h: &Harness) -> Vec<gatehouse::events::Event> {
    let filter = gatehouse::events::EventFilter {
        realm: "test".into(),
        kinds: vec![gatehouse::realm::apply::REALM_APPLIED.into()],
        ..Default::default()
    };
    gatehouse::events::query(&h.state.store, &filter)
        .await
        .expect("events")
        .events
}

db_test!(async fn export_plan_and_apply_round_trip_and_the_server_picks_up_the_change(db) {
    let h = Harness::start(db, REALM).await;
    let url = h.settings.database_url.clone();
    // `serve` applied the realms directory at start, and said so in the realm's log.
    let at_start = applied_events(&h).await;
    assert_eq!(at_start.len(), 1, "{at_start:?}");
    let live_hash = h.state.store.latest_realm_snapshot("test").await.unwrap().unwrap().content_hash;
    assert_eq!(at_start[0].details["by"], "serve");
    assert_eq!(at_start[0].details["status"], "created");
    assert_eq!(at_start[0].details["snapshotHash"], live_hash.as_str());
    let created = at_start[0].details["changes"].as_array().expect("a list of changes");
    assert!(created.iter().any(|c| c == "+ client 'web'"), "{created:?}");
    let files = TempDir::new();
    let realms = files.path().join("realms");
    std::fs::create_dir_all(&realms).unwrap();
    let file = realms.join("test.yaml");

    // The live realm, exported: client secrets only as hashes.
    let out = run(cli(&url, &["realm", "export", "test"]), None);
    assert!(out.status.success(), "{}", text(&out));
    let exported = stdout(&out);
    assert!(exported.contains("secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7"), "{exported}");
    assert!(!exported.contains(WEB_SECRET), "{exported}");
    std::fs::write(&file, &exported).unwrap();

    // Applying the export changes nothing, and says so.
    let plan = run(cli(&url, &["realm", "plan", arg(&realms)]), None);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(stdout(&plan).contains("realm test: no changes"), "{}", text(&plan));
    let before = snapshot_count(&h).await;
    let apply = run(cli(&url, &["realm", "apply", arg(&realms)]), None);
    assert!(apply.status.success(), "{}", text(&apply));
    assert!(stdout(&apply).contains("Nothing changed."), "{}", text(&apply));
    assert_eq!(snapshot_count(&h).await, before, "applying the same realm wrote a snapshot");
    assert_eq!(applied_events(&h).await.len(), 1, "an apply that changed nothing was recorded");

    // An edit: plan lists it and exits 2; nothing is live before apply.
    std::fs::write(&file, edited_realm()).unwrap();
    let plan = run(cli(&url, &["realm", "plan", arg(&realms)]), None);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    let listed = stdout(&plan);
    for change in [
        "realm test: 3 change(s)",
        "~ display_name: \"Test realm\" → \"Renamed realm\"",
        "+ client 'machine'",
        "- client 'spa'",
    ] {
        assert!(listed.contains(change), "plan lacks {change:?}:\n{listed}");
    }
    assert!(!listed.contains("3ab4454e"), "the plan shows a secret hash:\n{listed}");
    assert!(!machine_client_works(&h.url).await, "a planned change is live");

    let apply = run(cli(&url, &["realm", "apply", arg(&realms)]), None);
    assert!(apply.status.success(), "{}", text(&apply));
    assert_eq!(snapshot_count(&h).await, before + 1);
    // The apply is in the realm's security log: who, the new snapshot's hash, what changed,
    // and no secret.
    let applied = applied_events(&h).await;
    assert_eq!(applied.len(), 2, "{applied:?}");
    let live_hash = h.state.store.latest_realm_snapshot("test").await.unwrap().unwrap().content_hash;
    assert_ne!(applied[0].details["snapshotHash"], applied[1].details["snapshotHash"]);
    assert_eq!(applied[0].details["snapshotHash"], live_hash.as_str());
    assert_eq!(applied[0].details["by"], "cli");
    assert_eq!(applied[0].details["status"], "changed");
    for change in ["+ client 'machine'", "- client 'spa'"] {
        assert!(
            applied[0].details["changes"].as_array().unwrap().iter().any(|c| c == change),
            "the event lacks {change:?}: {}",
            applied[0].details
        );
    }
    let recorded = applied[0].details.to_string();
    assert!(!recorded.contains("3ab4454e") && !recorded.contains(WEB_SECRET), "{recorded}");
    let plan = run(cli(&url, &["realm", "plan", arg(&realms)]), None);
    assert_eq!(plan.status.code(), Some(0), "applied twice:\n{}", text(&plan));

    // The running server serves the new version without a restart.
    eventually(Duration::from_secs(15), "the server serves the applied realm", || async {
        machine_client_works(&h.url).await.then_some(())
    })
    .await;
    let rt = h.state.realm("test").expect("the realm is live");
    assert_eq!(rt.realm.display_name, "Renamed realm");
    assert!(!rt.realm.clients.contains_key("spa"), "a removed client is still served");

    // The export of the applied realm applies unchanged again.
    let out = run(cli(&url, &["realm", "export", "test", "--output", arg(&file)]), None);
    assert!(out.status.success(), "{}", text(&out));
    let plan = run(cli(&url, &["realm", "plan", arg(&realms)]), None);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
});

db_test!(async fn a_failed_apply_leaves_the_live_snapshot_intact(db) {
    let h = Harness::start(db, REALM).await;
    let url = h.settings.database_url.clone();
    let files = TempDir::new();
    let realms = files.path().join("realms");
    std::fs::create_dir_all(&realms).unwrap();
    let before = snapshot_count(&h).await;

    // A good change beside a broken file: neither is applied.
    std::fs::write(realms.join("a-test.yaml"), edited_realm()).unwrap();
    std::fs::write(realms.join("b-broken.yaml"), "realm: other\ndisplay_name: Other\nthemes: dark\n").unwrap();
    let out = run(cli(&url, &["realm", "apply", arg(&realms)]), None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let message = text(&out);
    assert!(message.contains("b-broken.yaml:3:1: unknown field `themes`"), "{message}");

    // A realm that binds a flow that does not exist: refused too.
    std::fs::write(
        realms.join("b-broken.yaml"),
        "realm: other\nflows: { browser: no-such-flow }\n",
    )
    .unwrap();
    let out = run(cli(&url, &["realm", "apply", arg(&realms)]), None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("flows.browser names flow 'no-such-flow', which does not exist"), "{}", text(&out));

    assert_eq!(snapshot_count(&h).await, before, "a failed apply wrote a snapshot");
    let live = h.query("SELECT COUNT(*) AS n FROM realm_snapshots WHERE realm = 'other'").await;
    assert_eq!(live[0].try_get::<i64>("", "n").unwrap(), 0);
    let rt = h.state.realm("test").expect("the realm is live");
    assert_eq!(rt.realm.display_name, "Test realm");
    assert!(!machine_client_works(&h.url).await);
    assert!(h.state.realm("other").is_none());

    // The database fails partway: the test realm's new snapshot is written (its file sorts
    // first), then a trigger refuses the last realm's. The transaction takes both back.
    std::fs::write(realms.join("b-broken.yaml"), "realm: zzz\ndisplay_name: Last\n").unwrap();
    refuse_snapshots_of(&h, db, "zzz").await;
    let out = run(cli(&url, &["realm", "apply", arg(&realms)]), None);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("refused by the test"), "{}", text(&out));
    assert_eq!(snapshot_count(&h).await, before, "the test realm's snapshot outlived the failed apply");
    let last = h.query("SELECT COUNT(*) AS n FROM realm_snapshots WHERE realm = 'zzz'").await;
    assert_eq!(last[0].try_get::<i64>("", "n").unwrap(), 0);
    let out = run(cli(&url, &["realm", "export", "test"]), None);
    assert!(text(&out).contains("display_name: Test realm"), "{}", text(&out));
});

/// A trigger that makes the database refuse any new snapshot of `realm`.
async fn refuse_snapshots_of(h: &Harness, db: Db, realm: &str) {
    match db {
        Db::Sqlite => {
            h.sql(&format!(
                "CREATE TRIGGER refuse_{realm} BEFORE INSERT ON realm_snapshots WHEN NEW.realm = '{realm}' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            ))
            .await
        }
        Db::Postgres => {
            h.sql(&format!(
                "CREATE FUNCTION refuse_{realm}() RETURNS trigger AS $$ BEGIN \
                 IF NEW.realm = '{realm}' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql"
            ))
            .await;
            h.sql(&format!(
                "CREATE TRIGGER refuse_{realm} BEFORE INSERT ON realm_snapshots \
                 FOR EACH ROW EXECUTE FUNCTION refuse_{realm}()"
            ))
            .await
        }
    }
}

/// `gatehouse ARGS` on the harness's database, realms directory and master key.
fn on_harness(h: &Harness, args: &[&str]) -> Command {
    let mut cmd = gatehouse(args);
    cmd.args(["--database-url", &h.settings.database_url])
        .args(["--realms-dir", arg(&h.settings.realms_dir)])
        .args(["--master-key-file", arg(&h.settings.master_key_file)])
        .env(
            "GATEHOUSE_MASTER_KEY",
            h.settings.master_key.clone().unwrap_or_default(),
        );
    cmd
}

db_test!(async fn ordinary_commands_use_the_live_realm_and_leave_edited_files_pending(db) {
    let h = Harness::start(db, REALM).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let before = snapshot_count(&h).await;
    // The realm file is edited, and a new realm file appears; neither is applied.
    std::fs::write(h.settings.realms_dir.join("realm.yaml"), edited_realm()).unwrap();
    std::fs::write(h.settings.realms_dir.join("extra.yaml"), "realm: extra\ndisplay_name: Extra\n").unwrap();

    // user, events, keys and admin commands all work on the live configuration.
    for (args, stdin) in [
        (&["user", "list", "test"][..], None),
        (&["user", "set-password", "test", USERNAME][..], Some("Another-Password-9\n")),
        (&["user", "add", "test", "bob", "--password-stdin"][..], Some("Bob-Password-12345!\n")),
        (&["events", "test"][..], None),
        (&["keys", "rotate", "test"][..], None),
        (&["admin", "bootstrap", "--username", "root"][..], Some("Root-Password-0123\n")),
    ] {
        let out = run(on_harness(&h, args), stdin);
        assert!(out.status.success(), "gatehouse {args:?}: {}", text(&out));
    }
    assert_eq!(snapshot_count(&h).await, before, "an ordinary command applied the realm file");
    let extra = h.query("SELECT COUNT(*) AS n FROM realm_snapshots WHERE realm = 'extra'").await;
    assert_eq!(extra[0].try_get::<i64>("", "n").unwrap(), 0, "an ordinary command applied a new realm");

    // The realm known only from a file is not there for them, and the error says why.
    let out = run(on_harness(&h, &["user", "list", "extra"]), None);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("realm 'extra' does not exist") && text(&out).contains("gatehouse realm apply"), "{}", text(&out));

    // The plan still shows both changes as pending, and nothing of them is served.
    let plan = run(on_harness(&h, &["realm", "plan"]), None);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    for change in ["+ client 'machine'", "- client 'spa'", "realm extra"] {
        assert!(stdout(&plan).contains(change), "plan lacks {change:?}:\n{}", text(&plan));
    }
    assert!(!machine_client_works(&h.url).await, "an unapplied edit is live");
    assert_eq!(h.state.realm("test").expect("live").realm.display_name, "Test realm");

    // `realm apply` applies them.
    let out = run(on_harness(&h, &["realm", "apply"]), None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(snapshot_count(&h).await, before + 1);
    let plan = run(on_harness(&h, &["realm", "plan"]), None);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
});

db_test!(async fn plan_and_apply_agree_on_reordered_roles(db) {
    let with_roles = |roles: &str| REALM.replace("display_name: Test realm\n", &format!("display_name: Test realm\nroles: [{roles}]\n"));
    let h = Harness::start(db, &with_roles("viewer, admin, clerk")).await;
    let file = h.settings.realms_dir.join("realm.yaml");
    let before = snapshot_count(&h).await;
    assert_eq!(h.state.realm("test").expect("live").realm.roles, ["admin", "clerk", "viewer"]);

    // Reordering the roles in the file: plan says nothing changes, and apply writes nothing.
    std::fs::write(&file, with_roles("clerk, viewer, admin")).unwrap();
    let plan = run(on_harness(&h, &["realm", "plan"]), None);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    assert!(stdout(&plan).contains("realm test: no changes"), "{}", text(&plan));
    let apply = run(on_harness(&h, &["realm", "apply"]), None);
    assert!(apply.status.success() && stdout(&apply).contains("Nothing changed."), "{}", text(&apply));
    assert_eq!(snapshot_count(&h).await, before);

    // A real change to the roles is listed, and applied as one snapshot.
    std::fs::write(&file, with_roles("clerk, auditor, viewer, admin")).unwrap();
    let plan = run(on_harness(&h, &["realm", "plan"]), None);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    assert!(stdout(&plan).contains("realm test: 1 change(s)\n  + role 'auditor'"), "{}", text(&plan));
    assert!(run(on_harness(&h, &["realm", "apply"]), None).status.success());
    assert_eq!(snapshot_count(&h).await, before + 1);

    // A snapshot stored in another order (as an older Gatehouse wrote it): the settings are
    // the same, but apply would rewrite it, so plan says so too — and after apply, both agree.
    let live = h.query("SELECT content, content_hash FROM realm_snapshots WHERE realm = 'test' ORDER BY id DESC").await;
    let content: String = live[0].try_get("", "content").unwrap();
    let hash: String = live[0].try_get("", "content_hash").unwrap();
    let legacy = content.replace("roles:\n- admin\n- auditor\n- clerk\n- viewer", "roles:\n- viewer\n- clerk\n- auditor\n- admin");
    let legacy = if legacy == content {
        content.replace("[admin, auditor, clerk, viewer]", "[viewer, clerk, auditor, admin]")
    } else {
        legacy
    };
    assert_ne!(legacy, content, "the snapshot's roles are written in an unexpected form:\n{content}");
    let legacy_hash = gatehouse::crypto::sha256_hex(legacy.as_bytes());
    assert_ne!(legacy_hash, hash);
    assert!(h.state.store.record_realm_snapshot("test", &legacy_hash, legacy).await.unwrap());
    let plan = run(on_harness(&h, &["realm", "plan"]), None);
    assert_eq!(plan.status.code(), Some(2), "{}", text(&plan));
    assert!(stdout(&plan).contains("snapshot rewritten in the current form"), "{}", text(&plan));
    let apply = run(on_harness(&h, &["realm", "apply"]), None);
    assert!(apply.status.success(), "{}", text(&apply));
    assert_eq!(snapshot_count(&h).await, before + 3);
    let plan = run(on_harness(&h, &["realm", "plan"]), None);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_on_postgres_serve_an_applied_change_without_restart() {
    if !support::postgres_available().await {
        return;
    }
    let (_pg, url) = support::PgDatabase::create().await;
    let dir = TempDir::new();
    let realms = dir.path().join("realms");
    std::fs::create_dir_all(&realms).unwrap();
    std::fs::write(realms.join("test.yaml"), REALM).unwrap();
    let key = dir.path().join("master.key");
    let serve = |extra: &[&str]| {
        let mut cmd = cli(&url, &["serve", "--master-key-file", arg(&key)]);
        cmd.args(extra);
        cmd
    };
    // A applies the realms directory at start; B, as in a pipeline deployment, only serves
    // what is live (its realms directory does not even exist).
    let a = ServerProcess::start(serve(&["--realms-dir", arg(&realms)]), dir.path().join("a.log")).await;
    let missing = dir.path().join("no-realms-here");
    let b = ServerProcess::start(
        serve(&["--realms-dir", arg(&missing), "--apply-realms-on-start", "false"]),
        dir.path().join("b.log"),
    )
    .await;
    for node in [&a, &b] {
        assert!(!machine_client_works(&node.base()).await, "{}", node.log());
    }

    std::fs::write(realms.join("test.yaml"), edited_realm()).unwrap();
    let out = run(cli(&url, &["realm", "apply", "--realms-dir", arg(&realms)]), None);
    assert!(out.status.success(), "{}", text(&out));

    for node in [&a, &b] {
        eventually(Duration::from_secs(15), "a node serves the applied realm", || async {
            machine_client_works(&node.base()).await.then_some(())
        })
        .await;
    }
}

/// Stores `yaml` (a realm file) as a snapshot with the given id, as an apply whose id was
/// taken before another's but committed after it would leave it.
async fn insert_snapshot(h: &Harness, id: i64, yaml: &str) {
    let realm = gatehouse::realm::load_str("test snapshot", yaml, &|_| None).unwrap_or_else(|e| panic!("{e:?}"));
    let s = gatehouse::realm::apply::snapshot_of(&realm);
    h.sql(&format!(
        "INSERT INTO realm_snapshots (id, realm, content_hash, content, applied_at) VALUES ({id}, '{}', '{}', '{}', {})",
        s.realm,
        s.content_hash,
        s.content.replace('\'', "''"),
        gatehouse::store::now()
    ))
    .await;
}

db_test!(async fn a_node_compares_realm_by_realm_and_retries_what_it_could_not_serve(db) {
    let h = Harness::start_with(db, REALM, |dir, o| {
        std::fs::create_dir_all(dir.join("themes")).unwrap();
        o.themes_dir = Some(dir.join("themes"));
        o.themes_live = Some(true);
    })
    .await;
    let rows = h.query("SELECT MAX(id) AS n FROM realm_snapshots").await;
    let newest: i64 = rows[0].try_get("", "n").expect("a snapshot id");

    // Realm `test` moves on with a high id; then realm `other` commits with a lower one.
    insert_snapshot(&h, newest + 100, &REALM.replace("display_name: Test realm", "display_name: Moved on")).await;
    h.state.sync_realms(false).await.expect("sync");
    assert_eq!(h.state.realm("test").unwrap().snapshot_id, newest + 100);
    assert_eq!(h.state.realm("test").unwrap().realm.display_name, "Moved on");
    insert_snapshot(&h, newest + 50, &REALM.replace("realm: test", "realm: other")).await;
    h.state.sync_realms(false).await.expect("sync");
    let other = h.state.realm("other").expect("a snapshot committed out of id order is served");
    assert_eq!(other.snapshot_id, newest + 50);

    // A realm this node cannot serve yet (its theme is not here) is not served…
    insert_snapshot(&h, newest + 200, &REALM.replace("realm: test", "realm: late\ntheme: late")).await;
    h.state.sync_realms(false).await.expect("sync");
    assert!(h.state.realm("late").is_none(), "a realm without its theme is served");
    // …and is tried again: once the theme is deployed, the next sync serves it.
    std::fs::create_dir_all(h.settings.themes_dir.join("late")).unwrap();
    h.state.sync_realms(false).await.expect("sync");
    assert_eq!(h.state.realm("late").expect("retried and served").snapshot_id, newest + 200);
    // Nothing else changed: the realms served stay.
    assert_eq!(h.state.realm("test").unwrap().snapshot_id, newest + 100);
});
