//! The security log read back: filters (user, type, time), cursor paging, JSON Lines and CSV
//! exports, retention cleanup in batches, and `gatehouse events` through the real binary.
//! Events come from real sign-ins where that is easy, and are inserted through the store (with
//! chosen times) for the edges of time ranges and pages.

use crate::support;
use std::collections::HashSet;
use std::process::{Command, Output, Stdio};

use crate::support::oauth::{self, BACKCHANNEL_AGENT};
use crate::support::signin::{EventRow, Shown, SignIn};
use crate::support::{Harness, PASSWORD, REALM, USERNAME, WEB_CLIENT, WEB_REDIRECT, start_with_user};
use gatehouse::events::{self, EventFilter, EventsError, Format};
use gatehouse::store::NewEvent;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A user agent that needs CSV quoting: a comma and quotes.
const ODD_AGENT: &str = "Mozilla/5.0 (X11, Linux) \"Quoted\" Browser";

fn filter(h: &Harness) -> EventFilter {
    EventFilter {
        realm: h.realm.clone(),
        ..Default::default()
    }
}

fn new_event(realm: &str, kind: &str, user_id: Option<&str>) -> NewEvent {
    NewEvent {
        realm: realm.into(),
        kind: kind.into(),
        user_id: user_id.map(String::from),
        client_id: Some(WEB_CLIENT.into()),
        ip: Some("192.0.2.7".into()),
        user_agent: Some("seeded".into()),
        details: json!({ "seq": kind }),
    }
}

async fn export_text(h: &Harness, f: &EventFilter, format: Format, max: Option<u64>) -> String {
    let mut out = Vec::new();
    events::export(&h.state.store, f, format, max, &mut out)
        .await
        .unwrap_or_else(|e| panic!("export failed: {e}"));
    String::from_utf8(out).expect("exports are UTF-8")
}

/// Every event of a filter, read page by page with `limit`; panics on a page that is not
/// newest first.
async fn all_pages(h: &Harness, mut f: EventFilter, limit: u64) -> Vec<events::Event> {
    f.limit = Some(limit);
    let mut all: Vec<events::Event> = Vec::new();
    loop {
        let page = events::query(&h.state.store, &f).await.expect("query");
        assert!(page.events.len() as u64 <= limit);
        all.extend(page.events);
        match page.next {
            Some(next) => f.before = Some(next),
            None => return all,
        }
    }
}

/// A small RFC 4180 reader, to check that what the export quotes reads back exactly.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && row.is_empty(),
        "CSV does not end with a complete row"
    );
    rows
}

/// Removes the `realm_applied` event the start-up apply records, for tests that count every
/// event of the realm from an empty log.
async fn without_start_up_events(h: &Harness) {
    h.sql(&format!(
        "DELETE FROM events WHERE realm = '{}' AND kind = 'realm_applied'",
        h.realm
    ))
    .await;
}

async fn count(h: &Harness) -> i64 {
    let rows = h
        .query(&format!("SELECT COUNT(*) AS n FROM events WHERE realm = '{}'", h.realm))
        .await;
    rows[0].try_get::<i64>("", "n").expect("count")
}

fn is_rfc3339_utc(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 20 && b[4] == b'-' && b[10] == b'T' && b[13] == b':' && b[19] == b'Z'
}

// ---------------------------------------------------------------------------------------------
// Real sign-ins, filtered and exported.

db_test!(async fn real_sign_ins_are_filtered_and_exported(db) {
    let h = start_with_user(db).await;
    let alice = support::signin::user_id(&h, USERNAME).await;
    h.add_user("bob", "bob@example.com", PASSWORD).await;

    // A failed sign-in from a browser whose user agent needs CSV quoting …
    let odd = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(ODD_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser");
    let mut s = SignIn::start(&h, &odd, WEB_CLIENT).await;
    s.log_in(USERNAME, "Not-The-Password-1").await;
    s.expect(Shown::Login);
    // … then a successful one, and one by bob.
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in(USERNAME, PASSWORD).await;
    s.expect(Shown::Away);
    let mut s = SignIn::start(&h, &h.new_browser(), WEB_CLIENT).await;
    s.log_in("bob", PASSWORD).await;
    s.expect(Shown::Away);

    // By username and by user id: alice's two events, newest first.
    for user in [USERNAME, alice.as_str()] {
        let page = events::query(&h.state.store, &EventFilter { user: Some(user.into()), ..filter(&h) })
            .await
            .expect("query by user");
        let kinds: Vec<&str> = page.events.iter().map(|e| e.kind.as_str()).collect();
        // Creating alice was recorded too (an admin action).
        assert_eq!(kinds, ["sign_in", "login_error", "user_created"], "events of {user}");
        assert!(page.events.iter().all(|e| e.user_id.as_deref() == Some(alice.as_str())));
        assert!(page.events.iter().all(|e| e.username.as_deref() == Some(USERNAME)));
        assert_eq!(page.next, None);
    }
    // By type: one or several.
    let failures = events::query(&h.state.store, &EventFilter { kinds: vec!["login_error".into()], ..filter(&h) })
        .await
        .expect("query by type");
    assert_eq!(failures.events.len(), 1);
    assert_eq!(failures.events[0].user_agent.as_deref(), Some(ODD_AGENT));
    let both = events::query(
        &h.state.store,
        &EventFilter { kinds: vec!["login_error".into(), "sign_in".into()], ..filter(&h) },
    )
    .await
    .expect("query by types");
    assert_eq!(both.events.len(), 3);
    // Unknown realm and user are named in the error.
    let err = events::query(&h.state.store, &EventFilter { realm: "nope".into(), ..filter(&h) }).await.unwrap_err();
    assert!(matches!(err, EventsError::UnknownRealm(_)), "{err}");
    assert_eq!(err.to_string(), "unknown realm 'nope'");
    let err = events::query(&h.state.store, &EventFilter { user: Some("carol".into()), ..filter(&h) }).await.unwrap_err();
    assert!(matches!(err, EventsError::UnknownUser { .. }), "{err}");

    // JSON Lines: every line an object with every field.
    let alice_only = EventFilter {
        user: Some(USERNAME.into()),
        kinds: vec!["sign_in".into(), "login_error".into()],
        ..filter(&h)
    };
    let jsonl = export_text(&h, &alice_only, Format::Jsonl, None).await;
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 2, "{jsonl}");
    for v in &lines {
        // The admin API's names (camelCase, close to Keycloak's), and nothing else.
        let fields = ["id", "time", "type", "realm", "userId", "username", "clientId", "ipAddress", "userAgent", "details"];
        let keys: HashSet<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
        assert_eq!(keys, fields.into_iter().collect(), "{v}");
        assert!(v["id"].is_i64());
        assert!(is_rfc3339_utc(v["time"].as_str().unwrap_or_default()), "{v}");
        assert_eq!(v["realm"], h.realm.as_str());
        assert_eq!(v["userId"], alice.as_str());
        assert_eq!(v["username"], USERNAME);
        assert_eq!(v["clientId"], WEB_CLIENT);
        assert!(v["ipAddress"].as_str().is_some_and(|ip| !ip.is_empty()), "{v}");
        assert!(v["details"].is_object(), "{v}");
    }
    assert_eq!(lines[1]["type"], "login_error");
    assert_eq!(lines[1]["userAgent"], ODD_AGENT);
    assert!(lines[1]["details"]["reason"].is_string(), "{}", lines[1]);

    // CSV: a header, and the odd user agent and the JSON details read back exactly.
    let csv = export_text(&h, &alice_only, Format::Csv, None).await;
    let rows = parse_csv(&csv);
    assert_eq!(rows[0].join(","), events::export::CSV_HEADER);
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows.iter().all(|r| r.len() == 10), "{csv}");
    let failure = rows.iter().find(|r| r[3] == "login_error").expect("login_error row");
    assert_eq!(failure[8], ODD_AGENT);
    assert_eq!(failure[5], USERNAME);
    let details: Value = serde_json::from_str(&failure[9]).expect("details column is JSON");
    assert_eq!(details, lines[1]["details"]);
    assert!(csv.contains("\"Mozilla/5.0 (X11, Linux) \"\"Quoted\"\" Browser\""), "{csv}");
});

// ---------------------------------------------------------------------------------------------
// Token revocations: by the client (RFC 7009) and by reuse detection.

/// Signs in (or reuses the browser's session) and exchanges the code: (code, token response).
async fn tokens_for(h: &Harness, browser: &reqwest::Client) -> (String, String, oauth::JsonResponse) {
    let (code, verifier, _) = oauth::authorize(h, browser, WEB_CLIENT, WEB_REDIRECT).await;
    let tokens = oauth::exchange_code(h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    tokens.assert_ok();
    (code, verifier, tokens)
}

fn field<'a>(r: &'a oauth::JsonResponse, name: &str) -> &'a str {
    r.str(name).unwrap_or_else(|| panic!("no {name} in {}", r.text))
}

/// Asserts a `token_revoked` event's fields: who, which client, from where, why, what.
fn assert_revoked(e: &EventRow, user: Option<&str>, reason: &str, token_type: &str) {
    assert_eq!(e.kind, "token_revoked", "{e:?}");
    assert_eq!(e.user_id.as_deref(), user, "{e:?}");
    assert_eq!(e.client_id.as_deref(), Some(WEB_CLIENT), "{e:?}");
    assert_eq!(e.ip.as_deref(), Some("127.0.0.1"), "{e:?}");
    assert_eq!(e.user_agent.as_deref(), Some(BACKCHANNEL_AGENT), "{e:?}");
    assert_eq!(e.details["reason"], reason, "{e:?}");
    assert_eq!(e.details["token_type"], token_type, "{e:?}");
    if user.is_some() {
        assert!(e.details["sid"].as_str().is_some_and(|s| !s.is_empty()), "{e:?}");
    }
}

db_test!(async fn token_revocations_are_recorded(db) {
    let h = start_with_user(db).await;
    let alice = support::signin::user_id(&h, USERNAME).await;
    let browser = h.new_browser();

    // RFC 7009, a refresh token: one event. Revoking it again, or another client trying to
    // revoke a token that is not its own, revokes nothing and records nothing.
    let (_, _, first) = tokens_for(&h, &browser).await;
    let refresh = field(&first, "refresh_token");
    oauth::post_form(&h.endpoint("revoke"), oauth::other(), &[("token", refresh)]).await.assert_ok();
    assert!(support::signin::events(&h, Some("token_revoked")).await.is_empty());
    oauth::revoke(&h, oauth::web(), refresh, Some("refresh_token")).await;
    oauth::revoke(&h, oauth::web(), refresh, Some("refresh_token")).await;
    let events = support::signin::events(&h, Some("token_revoked")).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_revoked(&events[0], Some(&alice), "revocation_request", "refresh_token");
    let sid = events[0].details["sid"].clone();

    // RFC 7009, an access token of a user (its grant goes) and a client's own token.
    let (_, _, second) = tokens_for(&h, &browser).await;
    oauth::revoke(&h, oauth::web(), field(&second, "access_token"), Some("access_token")).await;
    let own = oauth::post_form(
        &h.endpoint("token"),
        oauth::web(),
        &[("grant_type", "client_credentials")],
    )
    .await;
    own.assert_ok();
    oauth::revoke(&h, oauth::web(), field(&own, "access_token"), None).await;
    let events = support::signin::events(&h, Some("token_revoked")).await;
    assert_eq!(events.len(), 3, "{events:?}");
    assert_revoked(&events[1], Some(&alice), "revocation_request", "access_token");
    assert_eq!(events[1].details["sid"], sid, "the browser's one session");
    assert_revoked(&events[2], None, "revocation_request", "access_token");

    // A replayed authorization code revokes what it issued, and says so.
    let (code, verifier, third) = tokens_for(&h, &browser).await;
    let replay = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
    replay.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let gone = oauth::introspect(&h, oauth::web(), field(&third, "refresh_token")).await;
    assert_eq!(gone.body["active"], false, "{}", gone.text);
    let events = support::signin::events(&h, Some("token_revoked")).await;
    assert_eq!(events.len(), 4, "{events:?}");
    assert_revoked(&events[3], Some(&alice), "code_replayed", "authorization_code");
    assert_eq!(events[3].details["sid"], sid);

    // A reused refresh token revokes its family, and says so.
    let (_, _, fourth) = tokens_for(&h, &browser).await;
    let spent = field(&fourth, "refresh_token");
    oauth::refresh(&h, oauth::web(), spent).await.assert_ok();
    oauth::refresh(&h, oauth::web(), spent).await.assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
    let events = support::signin::events(&h, Some("token_revoked")).await;
    assert_eq!(events.len(), 5, "{events:?}");
    assert_revoked(&events[4], Some(&alice), "refresh_token_reused", "refresh_token");

    // No event holds a token.
    for e in &events {
        let text = e.details.to_string();
        for t in [refresh, spent, code.as_str(), field(&second, "access_token")] {
            assert!(!text.contains(t), "a token in {text}");
        }
    }
    // And they read back through the events module, the same fields.
    let page = events::query(&h.state.store, &EventFilter { kinds: vec!["token_revoked".into()], ..filter(&h) })
        .await
        .expect("query");
    assert_eq!(page.events.len(), 5);
    assert!(page.events.iter().all(|e| e.client_id.as_deref() == Some(WEB_CLIENT)));
});

// ---------------------------------------------------------------------------------------------
// Time ranges and paging, on events with chosen times.

db_test!(async fn time_ranges_and_paging_cover_every_event_once(db) {
    let h = Harness::start(db, REALM).await;
    without_start_up_events(&h).await;
    let store = &h.state.store;
    let base = 1_700_000_000;
    let mut ids = HashSet::new();
    // 250 events, three per second (ties on time are ordered by id), two kinds, two users.
    for i in 0..250i64 {
        let kind = if i % 5 == 0 { "login_error" } else { "sign_in" };
        let user = if i % 2 == 0 { "ghost-1" } else { "ghost-2" };
        let id = store
            .insert_event_at(new_event(&h.realm, kind, Some(user)), base + i / 3)
            .await
            .expect("insert event");
        ids.insert(id);
    }
    // Another realm's events never show.
    store.insert_event_at(new_event("elsewhere", "sign_in", Some("ghost-1")), base).await.expect("insert");

    // The default page is 100 events, with a cursor.
    let first = events::query(&h.state.store, &filter(&h)).await.expect("query");
    assert_eq!(first.events.len(), 100);
    assert_eq!(first.next, first.events.last().map(|e| e.id));

    // Pages of 7 cover every event exactly once, newest first, even with inserts between
    // pages (those are newer than the cursor, so they never show up in later pages).
    let mut f = EventFilter { limit: Some(7), ..filter(&h) };
    let mut seen = Vec::new();
    loop {
        let page = events::query(&h.state.store, &f).await.expect("page");
        seen.extend(page.events.iter().map(|e| (e.timestamp, e.id)));
        store.insert_event_at(new_event(&h.realm, "sign_in", None), base + 1000).await.expect("insert");
        match page.next {
            Some(next) => f.before = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 250);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "not newest first: {seen:?}");
    assert_eq!(seen.iter().map(|s| s.1).collect::<HashSet<_>>(), ids);
    assert!(f.before.is_some(), "paging never moved");

    // since is inclusive, until exclusive: seconds 30..60 hold events 90..180.
    let range = EventFilter { since: Some(base + 30), until: Some(base + 60), ..filter(&h) };
    let got = all_pages(&h, range.clone(), 1000).await;
    assert_eq!(got.len(), 90);
    assert!(got.iter().all(|e| (base + 30..base + 60).contains(&e.timestamp)));
    // Combined with a user and a type: even i in 90..180 with i % 5 == 0 → 90, 100, …, 170.
    let narrow = EventFilter { user: Some("ghost-1".into()), kinds: vec!["login_error".into()], ..range };
    let got = all_pages(&h, narrow, 3).await;
    assert_eq!(got.len(), 9, "{got:?}");
    assert!(got.iter().all(|e| e.kind == "login_error" && e.user_id.as_deref() == Some("ghost-1")));
    // A deleted (or never known) user's id still finds their events; no username is shown.
    assert!(got.iter().all(|e| e.username.is_none()));

    // A cursor whose event is gone still pages on by id.
    let cursor = *ids.iter().max().expect("ids");
    h.sql(&format!("DELETE FROM events WHERE id = {cursor}")).await;
    let after = events::query(&h.state.store, &EventFilter { before: Some(cursor), limit: Some(1000), ..filter(&h) })
        .await
        .expect("query");
    assert_eq!(after.events.len(), 249);
    // A page limit of 0 means 1 (and one above the maximum is capped).
    let one = events::query(&h.state.store, &EventFilter { limit: Some(0), ..filter(&h) }).await.expect("query");
    assert_eq!(one.events.len(), 1);
});

// ---------------------------------------------------------------------------------------------
// Large exports stream, and retention deletes old events in batches.

db_test!(async fn retention_deletes_only_expired_events_in_batches(db) {
    let h = Harness::start(db, REALM).await;
    without_start_up_events(&h).await;
    let store = &h.state.store;
    let now = gatehouse::store::now();
    let day = 86_400;
    let old = now - 100 * day;
    // 2500 events well past a 90-day retention, in one statement.
    h.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) \
         INSERT INTO events (realm, kind, user_id, client_id, ip, user_agent, details, created_at) \
         SELECT '{}', 'sign_in', NULL, 'web', '198.51.100.1', 'old', '{{}}', {old} - i FROM n",
        h.realm
    ))
    .await;
    // Recent ones, including one just inside the window.
    let keep = [now - 90 * day + 3600, now - day, now];
    for t in keep {
        store.insert_event_at(new_event(&h.realm, "sign_in", None), t).await.expect("insert");
    }

    // An export of more than one page (1000) streams every event exactly once.
    let jsonl = export_text(&h, &filter(&h), Format::Jsonl, None).await;
    let ids: Vec<i64> = jsonl
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line")["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids.len(), 2503);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 2503);
    // With a maximum, it stops there and offers the cursor to continue.
    let mut out = Vec::new();
    let done = events::export(&h.state.store, &filter(&h), Format::Csv, Some(1500), &mut out).await.expect("export");
    assert_eq!(done.written, 1500);
    assert_eq!(done.more_before, Some(ids[1499]));
    assert_eq!(String::from_utf8(out).expect("UTF-8").lines().count(), 1501);

    // 0 keeps everything.
    assert_eq!(events::purge_expired(store, 0).await.expect("purge"), 0);
    assert_eq!(count(&h).await, 2503);
    // 90 days: the 2500 old ones go, the recent ones stay.
    assert_eq!(events::purge_expired(store, 90).await.expect("purge"), 2500);
    assert_eq!(count(&h).await, 3);
    let left: Vec<i64> = all_pages(&h, filter(&h), 10).await.iter().map(|e| e.timestamp).collect();
    assert_eq!(left, [now, now - day, now - 90 * day + 3600]);
    assert_eq!(events::purge_expired(store, 90).await.expect("purge"), 0);

    // Batches: 25 old rows with batches of 10 take three statements.
    for i in 0..25 {
        store.insert_event_at(new_event(&h.realm, "sign_in", None), old - i).await.expect("insert");
    }
    let purged = store.purge_events_before(now - 90 * day, 10).await.expect("purge");
    assert_eq!((purged.deleted, purged.batches), (25, 3));
    assert_eq!(count(&h).await, 3);
});

// ---------------------------------------------------------------------------------------------
// `gatehouse events` through the real binary, against the harness's database.

fn gatehouse(h: &Harness, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (name, _) in std::env::vars() {
        if name.starts_with("GATEHOUSE_") {
            cmd.env_remove(name);
        }
    }
    let realms = h.settings.realms_dir.display().to_string();
    let flows = h.settings.flows_dir.display().to_string();
    cmd.args(args)
        .args([
            "--database-url",
            &h.settings.database_url,
            "--realms-dir",
            &realms,
            "--flows-dir",
            &flows,
        ])
        .env(
            "GATEHOUSE_MASTER_KEY",
            h.settings.master_key.as_deref().unwrap_or_default(),
        )
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run gatehouse {args:?}: {e}"))
}

fn stdout_of(out: &Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "gatehouse {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_ok(h: &Harness, args: &[&str]) -> String {
    let out = gatehouse(h, args);
    stdout_of(&out, args)
}

db_test!(async fn cli_lists_filters_and_exports(db) {
    let h = start_with_user(db).await;
    without_start_up_events(&h).await;
    let alice = support::signin::user_id(&h, USERNAME).await;
    let store = &h.state.store;
    let now = gatehouse::store::now();
    let mut odd = new_event(&h.realm, "login_error", Some(&alice));
    odd.user_agent = Some(ODD_AGENT.into());
    store.insert_event_at(odd, now - 7200).await.expect("insert");
    store.insert_event_at(new_event(&h.realm, "sign_in", Some(&alice)), now - 60).await.expect("insert");
    store.insert_event_at(new_event(&h.realm, "logout", None), now - 30).await.expect("insert");

    // The table: a header and one row per event, newest first, usernames shown.
    let table = run_ok(&h, &["events", &h.realm]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("TYPE"), "{table}");
    // `user_created` was recorded by the harness creating alice, just now.
    let kinds: Vec<&str> = lines[1..].iter().map(|l| l.split_whitespace().nth(2).unwrap_or_default()).collect();
    assert_eq!(kinds, ["user_created", "logout", "sign_in", "login_error"], "{table}");
    assert!(lines[3].contains(USERNAME) && lines[3].contains("192.0.2.7"), "{table}");

    // Filters: --since, --type (repeatable), --user.
    let recent = run_ok(&h, &["events", &h.realm, "--since", "1h"]);
    assert_eq!(recent.lines().count(), 4, "{recent}");
    assert!(!recent.contains("login_error"), "{recent}");
    let typed = run_ok(&h, &["events", &h.realm, "--type", "sign_in", "--type", "login_error", "--format", "jsonl"]);
    let kinds: Vec<String> = typed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line")["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kinds, ["sign_in", "login_error"], "{typed}");
    let old = run_ok(&h, &["events", &h.realm, "--user", USERNAME, "--until", "1h", "--format", "csv"]);
    let rows = parse_csv(&old);
    assert_eq!(rows.len(), 2, "{old}");
    assert_eq!(rows[1][3], "login_error");
    assert_eq!(rows[1][8], ODD_AGENT);

    // --limit shows the newest and says how to go on; --before goes on.
    let limited = run_ok(&h, &["events", &h.realm, "--limit", "1"]);
    assert_eq!(limited.lines().count(), 3, "{limited}");
    let hint = limited.lines().last().unwrap_or_default();
    let cursor = hint.rsplit(' ').next().unwrap_or_default().trim_end_matches(')');
    assert!(hint.contains("--before"), "{limited}");
    let rest = run_ok(&h, &["events", &h.realm, "--before", cursor, "--format", "jsonl"]);
    assert_eq!(rest.lines().count(), 3, "{rest}");
    let none = run_ok(&h, &["events", &h.realm, "--type", "no_such_type"]);
    assert_eq!(none.trim(), "no events match");

    // Clear errors.
    let out = gatehouse(&h, &["events", &h.realm, "--since", "1x"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad duration '1x': use e.g. 30m, 1h, 7d"), "{err}");
    let out = gatehouse(&h, &["events", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown realm 'nope'"));
    let out = gatehouse(&h, &["events", &h.realm, "--user", "carol"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown user 'carol'"));

    // --help names every option.
    let help = run_ok(&h, &["events", "--help"]);
    for flag in ["--user", "--type", "--since", "--until", "--before", "--limit", "--format", "jsonl", "csv"] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
});
