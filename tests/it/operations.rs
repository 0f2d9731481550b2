//! Operations: health checks, Prometheus metrics, request ids, JSON logs without secrets,
//! graceful shutdown and body limits. Server behaviour runs on both databases through the
//! harness; the log and signal tests run the real binary (on SQLite: they are about the
//! process, not the store).

use crate::support;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::browser;
use crate::support::oauth::{self, AuthRequest, ClientAuth};
use crate::support::process::ServerProcess;
use crate::support::{Db, Harness, PASSWORD, REALM, TempDir, USERNAME, WEB_CLIENT, WEB_REDIRECT, WEB_SECRET};
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;

const TOKEN_ROUTE: &str = "/realms/{realm}/protocol/openid-connect/token";

async fn get(url: &str, request_id: Option<&str>) -> reqwest::Response {
    let mut request = oauth::backchannel().get(url);
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    request.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{} {} has no x-request-id", response.url(), response.status()))
        .to_string()
}

/// A scrape as `name{labels}` → value; also checks every sample line is well formed.
async fn scrape(base: &str) -> HashMap<String, f64> {
    let response = get(&format!("{base}/metrics"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = response.text().await.expect("metrics body");
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "duplicate series {series}"
        );
    }
    samples
}

fn sample(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no series {series}; have {:#?}", samples.keys().collect::<Vec<_>>()))
}

fn token_series(status: u16) -> String {
    format!("http_requests_total{{route=\"{TOKEN_ROUTE}\",method=\"POST\",status=\"{status}\"}}")
}

// ---------------------------------------------------------------------------------------------
// Health.

db_test!(
    async fn ready_means_database_migrations_and_realms(db) {
        let h = Harness::start(db, REALM).await;
        let live = get(&format!("{}/health/live", h.url), None).await;
        assert_eq!(live.status(), StatusCode::OK);
        let ready = get(&format!("{}/health/ready", h.url), None).await;
        assert_eq!(ready.status(), StatusCode::OK);
        assert_eq!(ready.text().await.unwrap(), "ready");

        // A migration this binary knows but the database has not applied: not ready.
        let rows = h
            .query("SELECT version FROM seaql_migrations ORDER BY version DESC")
            .await;
        let last: String = rows[0].try_get("", "version").expect("a migration version");
        h.sql(&format!("DELETE FROM seaql_migrations WHERE version = '{last}'"))
            .await;
        let ready = get(&format!("{}/health/ready", h.url), None).await;
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        let reason = ready.text().await.unwrap();
        assert!(reason.contains("migrations pending") && reason.contains(&last), "{reason}");

        // The database goes away: not ready, and live still answers.
        h.db_connection().clone().close().await.expect("close the pool");
        let ready = get(&format!("{}/health/ready", h.url), None).await;
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ready.text().await.unwrap(), "database unreachable");
        let live = get(&format!("{}/health/live", h.url), None).await;
        assert_eq!(live.status(), StatusCode::OK);
    }
);

// ---------------------------------------------------------------------------------------------
// Metrics.

/// A server on the standard realm with `config` as its config file.
async fn harness_with_config(db: Db, config: &str) -> Harness {
    Harness::start_with(db, REALM, |dir, o| {
        let path = dir.join("gatehouse.yaml");
        std::fs::write(&path, config).expect("write the config file");
        o.config = Some(path);
    })
    .await
}

db_test!(
    async fn the_live_sessions_gauge_is_counted_at_most_once_per_interval(db) {
        // By default a reading is shown for a minute (a count over every session is too
        // costly for each scrape at a million sessions).
        let h = support::start_with_user(db).await;
        assert_eq!(sample(&scrape(&h.url).await, "gatehouse_active_sessions{realm=\"test\"}"), 0.0);
        let b = h.new_browser();
        let (code, verifier, _) = oauth::authorize(&h, &b, WEB_CLIENT, WEB_REDIRECT).await;
        oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier))
            .await
            .assert_ok();
        let rows = h.query("SELECT COUNT(*) AS n FROM sso_sessions").await;
        assert_eq!(rows[0].try_get::<i64>("", "n").expect("a count"), 1, "the sign-in made a session");
        let m = scrape(&h.url).await;
        assert_eq!(sample(&m, "gatehouse_active_sessions{realm=\"test\"}"), 0.0, "the first reading, still shown");
    }
);

db_test!(
    async fn metrics_follow_requests_sign_ins_tokens_and_sessions(db) {
        // The live-sessions gauge read on every scrape, not once a minute.
        let h = harness_with_config(db, "active_sessions_interval_secs: 0\n").await;
        h.add_user(USERNAME, support::EMAIL, PASSWORD).await;
        let before = scrape(&h.url).await;
        assert_eq!(sample(&before, "gatehouse_sign_ins_total{result=\"success\"}"), 0.0);
        assert_eq!(sample(&before, "gatehouse_active_sessions{realm=\"test\"}"), 0.0);
        assert_eq!(sample(&before, "gatehouse_argon2_queue_depth"), 0.0);
        assert_eq!(sample(&before, "gatehouse_argon2_in_flight"), 0.0);

        // One failed attempt, then a sign-in, a code exchange, a refresh and client credentials.
        let b = h.new_browser();
        let (request, _) = AuthRequest::new(WEB_CLIENT, WEB_REDIRECT);
        let (_, mut form) = browser::open_login_page(&b, &request.url(&h)).await;
        form.set("username", USERNAME);
        form.set("password", "Not-The-Password-1");
        let page = form.submit(&b).await;
        assert_eq!(page.status, StatusCode::OK, "a wrong password shows the form again");
        let (code, verifier, _) = oauth::authorize(&h, &b, WEB_CLIENT, WEB_REDIRECT).await;
        let tokens = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
        tokens.assert_ok();
        let refresh = tokens.str("refresh_token").expect("a refresh token");
        oauth::refresh(&h, oauth::web(), refresh).await.assert_ok();
        oauth::post_form(&h.endpoint("token"), oauth::web(), &[("grant_type", "client_credentials")])
            .await
            .assert_ok();
        // A refused grant issues nothing.
        oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_grant");
        let missing = get(&format!("{}/no/such/page?x=1", h.url), None).await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);

        let m = scrape(&h.url).await;
        assert_eq!(sample(&m, &token_series(200)), 3.0);
        assert_eq!(sample(&m, &token_series(400)), 1.0);
        assert_eq!(
            sample(&m, "http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}"),
            1.0
        );
        // Route labels are templates: no realm name, no raw path, no query.
        for series in m.keys() {
            assert!(
                !series.contains("/realms/test") && !series.contains("/no/such"),
                "raw path in {series}"
            );
        }
        let count = format!("http_request_duration_seconds_count{{route=\"{TOKEN_ROUTE}\"}}");
        assert_eq!(sample(&m, &count), 4.0);
        let inf = format!("http_request_duration_seconds_bucket{{route=\"{TOKEN_ROUTE}\",le=\"+Inf\"}}");
        assert_eq!(sample(&m, &inf), 4.0);
        let sum = format!("http_request_duration_seconds_sum{{route=\"{TOKEN_ROUTE}\"}}");
        assert!(sample(&m, &sum) > 0.0);

        assert_eq!(sample(&m, "gatehouse_sign_ins_total{result=\"success\"}"), 1.0);
        assert_eq!(sample(&m, "gatehouse_sign_ins_total{result=\"failure\"}"), 1.0);
        for (grant, n) in [("authorization_code", 1.0), ("refresh_token", 1.0), ("client_credentials", 1.0)] {
            let series = format!("gatehouse_tokens_issued_total{{grant=\"{grant}\"}}");
            assert_eq!(sample(&m, &series), n, "{series}");
        }
        assert_eq!(sample(&m, "gatehouse_active_sessions{realm=\"test\"}"), 1.0);
        assert_eq!(sample(&m, "gatehouse_argon2_queue_depth"), 0.0);
    }
);

/// A server on SQLite with `config_yaml` as its config file (the directory must outlive it).
async fn start_with_config(dir: &TempDir, config_yaml: &str) -> gatehouse::app::RunningServer {
    let realms = dir.path().join("realms");
    std::fs::create_dir_all(&realms).unwrap();
    std::fs::write(realms.join("realm.yaml"), REALM).unwrap();
    let config = dir.path().join("gatehouse.yaml");
    std::fs::write(&config, config_yaml).unwrap();
    let settings = gatehouse::config::Settings::resolve(gatehouse::config::Overrides {
        config: Some(config),
        database_url: Some(format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display())),
        realms_dir: Some(realms),
        flows_dir: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("flows")),
        master_key_file: Some(dir.path().join("master.key")),
        listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    })
    .expect("settings resolve");
    gatehouse::app::start(settings, false).await.expect("server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_turned_off() {
    let dir = TempDir::new();
    let server = start_with_config(&dir, "metrics_enabled: false\n").await;
    let metrics = get(&format!("{}/metrics", server.url()), None).await;
    assert_eq!(metrics.status(), StatusCode::NOT_FOUND);
    let ready = get(&format!("{}/health/ready", server.url()), None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    server.stop().await;
}

/// The per-request statement count of `route` in a scrape.
fn statements(samples: &HashMap<String, f64>, route: &str) -> f64 {
    let series = format!("gatehouse_db_statements_total{{route=\"{route}\"}}");
    samples.get(&series).copied().unwrap_or(0.0)
}

db_test!(
    async fn userinfo_and_introspection_read_the_database_once(db) {
        let h = support::start_with_user(db).await;
        let b = h.new_browser();
        let (code, verifier, _) = oauth::authorize(&h, &b, WEB_CLIENT, WEB_REDIRECT).await;
        let tokens = oauth::exchange_code(&h, oauth::web(), &code, WEB_REDIRECT, Some(&verifier)).await;
        tokens.assert_ok();
        let access = tokens.str("access_token").expect("an access token").to_string();
        let refresh = tokens.str("refresh_token").expect("a refresh token").to_string();
        let userinfo_route = "/realms/{realm}/protocol/openid-connect/userinfo";
        let introspect_route = "/realms/{realm}/protocol/openid-connect/token/introspect";

        let before = scrape(&h.url).await;
        let info = oauth::userinfo(&h, &access).await;
        info.assert_ok();
        assert_eq!(info.str("preferred_username"), Some(USERNAME));
        let after = scrape(&h.url).await;
        assert_eq!(statements(&after, userinfo_route) - statements(&before, userinfo_route), 1.0);

        for (token, kind) in [(&access, "access token"), (&refresh, "refresh token")] {
            let before = scrape(&h.url).await;
            let answer = oauth::introspect(&h, oauth::web(), token).await;
            assert_eq!(answer.body["active"], true, "{kind}: {:?}", answer.body);
            let after = scrape(&h.url).await;
            let n = statements(&after, introspect_route) - statements(&before, introspect_route);
            assert_eq!(n, 1.0, "introspecting a {kind} ran {n} statements");
        }

        // A token endpoint request is counted too: the count follows real work.
        let before = scrape(&h.url).await;
        oauth::refresh(&h, oauth::web(), &refresh).await.assert_ok();
        let after = scrape(&h.url).await;
        assert!(statements(&after, TOKEN_ROUTE) - statements(&before, TOKEN_ROUTE) > 1.0);
    }
);

// ---------------------------------------------------------------------------------------------
// Request ids and limits.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_a_request_id() {
    let h = Harness::start(Db::Sqlite, REALM).await;
    let discovery = format!("{}/.well-known/openid-configuration", h.issuer());
    let sane = |id: &str| {
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    let a = request_id(&get(&discovery, None).await);
    let b = request_id(&get(&discovery, None).await);
    assert!(sane(&a) && sane(&b) && a != b, "generated ids {a:?} {b:?}");
    // A sane incoming id (from a load balancer) is kept …
    assert_eq!(request_id(&get(&discovery, Some("lb-7f3a_01.x")).await), "lb-7f3a_01.x");
    // … anything else is replaced.
    for bad in ["a".repeat(65), "has space".into(), "quote\"d".into(), "{json}".into()] {
        let id = request_id(&get(&discovery, Some(&bad)).await);
        assert!(id != bad && sane(&id), "{bad:?} became {id:?}");
    }
    // Errors and unmatched paths too.
    let missing = get(&format!("{}/nothing-here", h.url), None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(sane(&request_id(&missing)));
    let refused = oauth::backchannel()
        .post(h.endpoint("token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=nonsense")
        .send()
        .await
        .expect("POST token");
    assert!(refused.status().is_client_error());
    assert!(sane(&request_id(&refused)));
}

/// A slowloris client — a request head that never ends — is cut off after the configured
/// head timeout, while a whole request on another connection is served as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_that_never_ends_is_cut_off() {
    let dir = TempDir::new();
    let server = start_with_config(&dir, "request_header_timeout_secs: 1\n").await;
    let addr = server.addr;
    let slow = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        // Long enough that only the server's timeout can end the wait.
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream
            .write_all(b"GET /health/live HTTP/1.1\r\nHost: gatehouse\r\nX-Slow: ")
            .expect("write part of a head");
        let mut answer = Vec::new();
        match stream.read_to_end(&mut answer) {
            Ok(_) => Ok(String::from_utf8_lossy(&answer).into_owned()),
            Err(e) => Err(e.kind()),
        }
    });
    let live = get(&format!("{}/health/live", server.url()), None).await;
    assert_eq!(live.status(), StatusCode::OK, "a whole request is served meanwhile");
    match slow.await.expect("slow client") {
        // Closed without an answer, or with a 408: either way the connection is gone.
        Ok(answer) => assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "the slow head got {answer:?}"
        ),
        Err(kind) => assert_eq!(kind, ErrorKind::ConnectionReset, "the slow head was not cut off"),
    }
    server.stop().await;
}

/// A body that arrives too slowly gets 408 once the request timeout passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_ends_gets_408() {
    let dir = TempDir::new();
    let server = start_with_config(&dir, "request_timeout_secs: 1\n").await;
    let addr = server.addr;
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "POST /realms/test/protocol/openid-connect/token HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type="
        );
        stream
            .write_all(head.as_bytes())
            .expect("write the head and part of the body");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .expect("slow client");
    assert!(answer.starts_with("HTTP/1.1 408"), "the slow body got {answer:?}");
    server.stop().await;
}

db_test!(
    async fn a_huge_body_is_refused_with_413_and_the_server_keeps_serving(db) {
        let h = Harness::start(db, REALM).await;
        let huge = format!("grant_type=client_credentials&pad={}", "a".repeat(1024 * 1024));
        let response = oauth::backchannel()
            .post(h.endpoint("token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(huge)
            .send()
            .await
            .expect("the server answers a 1 MiB POST");
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(response.headers().contains_key("x-request-id"));

        // Without Content-Length (chunked), the limit is enforced while reading.
        let addr = h.url.trim_start_matches("http://").to_string();
        let mut stream = TcpStream::connect(&addr).expect("connect");
        let head = format!(
            "POST /realms/test/protocol/openid-connect/token HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("write head");
        let chunk = "a".repeat(16 * 1024);
        let mut answer = String::new();
        for _ in 0..64 {
            let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
            if stream.write_all(framed.as_bytes()).is_err() {
                break; // the server answered and closed: read what it said
            }
        }
        let _ = stream.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "chunked answer: {answer:?}");

        let ok = oauth::post_form(&h.endpoint("token"), oauth::web(), &[("grant_type", "client_credentials")]).await;
        ok.assert_ok();
        let m = scrape(&h.url).await;
        assert_eq!(sample(&m, &token_series(413)), 2.0);
    }
);

// ---------------------------------------------------------------------------------------------
// The real binary: logs and shutdown.

/// The issuer of the standard realm on `server`.
fn issuer(server: &ServerProcess) -> String {
    format!("{}/realms/test", server.base())
}

fn gatehouse(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    for (name, _) in std::env::vars() {
        if name.starts_with("GATEHOUSE_") {
            cmd.env_remove(name);
        }
    }
    let realms = dir.join("realms");
    let database = format!("sqlite://{}?mode=rwc", dir.join("g.db").display());
    let key = dir.join("master.key");
    cmd.args(["--realms-dir", realms.to_str().unwrap(), "--database-url", &database])
        .args(["--master-key-file", key.to_str().unwrap()]);
    cmd
}

/// Writes and applies the standard realm, adds the standard user with the CLI, starts `serve` with
/// `args` and waits until it is ready.
async fn serve(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> ServerProcess {
    std::fs::create_dir_all(dir.join("realms")).unwrap();
    std::fs::write(dir.join("realms/test.yaml"), REALM).unwrap();
    let applied = gatehouse(dir, &["realm", "apply"]).output().expect("realm apply");
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let mut add = gatehouse(dir, &["user", "add", "test", USERNAME, "--password-stdin"]);
    add.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = add.spawn().expect("spawn user add");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("write password");
    drop(stdin);
    let out = child.wait_with_output().expect("user add");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    let mut cmd = gatehouse(dir, &all);
    cmd.envs(env.iter().copied());
    ServerProcess::start(cmd, dir.join("serve.log")).await
}

/// POSTs a form to the binary's token endpoint with our own request id.
async fn token_request(server: &ServerProcess, id: &str, auth: ClientAuth<'_>, fields: &[(&str, &str)]) -> Value {
    let mut fields = fields.to_vec();
    let mut request = oauth::backchannel()
        .post(format!("{}/protocol/openid-connect/token", issuer(server)))
        .header("x-request-id", id);
    match auth {
        ClientAuth::Basic(client, secret) => request = request.basic_auth(client, Some(secret)),
        ClientAuth::Post(client, secret) => fields.extend([("client_id", client), ("client_secret", secret)]),
        ClientAuth::Public(client) => fields.push(("client_id", client)),
    }
    let response = request.form(&fields).send().await.expect("POST token");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(request_id(&response), id);
    response.json().await.expect("token JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_of_a_full_sign_in_carry_request_ids_and_no_secrets() {
    let dir = TempDir::new();
    let mut server = serve(
        dir.path(),
        &["--log-format", "json"],
        &[("GATEHOUSE_LOG", "gatehouse=debug,info")],
    )
    .await;

    // Authorization code with PKCE, through the login form.
    let b = browser::new_browser();
    let (verifier, challenge) = oauth::pkce_pair();
    let mut url = url::Url::parse(&format!("{}/protocol/openid-connect/auth", issuer(&server))).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", WEB_CLIENT)
        .append_pair("redirect_uri", WEB_REDIRECT)
        .append_pair("scope", "openid profile email")
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let location = browser::sign_in(&b, url.as_str(), USERNAME, PASSWORD).await;
    let code = browser::query(&location, "code").unwrap_or_else(|| panic!("no code in {location}"));

    let fields = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let tokens = token_request(
        &server,
        "ops-exchange-1",
        ClientAuth::Post(WEB_CLIENT, WEB_SECRET),
        &fields,
    )
    .await;
    let text = |v: &Value, f: &str| v[f].as_str().unwrap_or_else(|| panic!("no {f} in {v}")).to_string();
    let (access, refresh, id_token) = (
        text(&tokens, "access_token"),
        text(&tokens, "refresh_token"),
        text(&tokens, "id_token"),
    );
    let refreshed = token_request(
        &server,
        "ops-refresh-1",
        ClientAuth::Basic(WEB_CLIENT, WEB_SECRET),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    let userinfo = oauth::backchannel()
        .get(format!("{}/protocol/openid-connect/userinfo", issuer(&server)))
        .bearer_auth(text(&refreshed, "access_token"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(userinfo.status(), StatusCode::OK);
    let userinfo_id = request_id(&userinfo);
    // A replayed code: the handler itself logs a warning, which must carry this request's id.
    let replay = oauth::backchannel()
        .post(format!("{}/protocol/openid-connect/token", issuer(&server)))
        .header("x-request-id", "ops-replay-1")
        .basic_auth(WEB_CLIENT, Some(WEB_SECRET))
        .form(&fields)
        .send()
        .await
        .expect("POST token");
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);

    // Stop the server so that everything is written.
    server.signal_term();
    assert!(server.exit_status().await.success(), "{}", server.log());
    let log = server.log();

    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}")))
        .collect();
    assert!(lines.len() > 5, "too few log lines:\n{log}");
    let in_request = |line: &Value| line["span"]["name"] == "request";
    for line in lines.iter().filter(|l| in_request(l)) {
        let id = line["span"]["request_id"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "a request's log line without its id: {line}");
        assert!(line["span"]["route"].is_string(), "no route: {line}");
    }
    let of = |id: &str| {
        lines
            .iter()
            .filter(|l| l["span"]["request_id"] == id)
            .collect::<Vec<_>>()
    };
    let exchange = of("ops-exchange-1");
    assert!(
        !exchange.is_empty(),
        "no log line carries the exchange's request id:\n{log}"
    );
    assert!(
        exchange.iter().all(|l| l["span"]["route"] == TOKEN_ROUTE),
        "{exchange:?}"
    );
    assert!(!of("ops-refresh-1").is_empty() && !of(&userinfo_id).is_empty(), "{log}");
    let warned = of("ops-replay-1")
        .into_iter()
        .any(|l| l["level"] == "WARN" && l["fields"]["message"].as_str().is_some_and(|m| m.contains("replayed")));
    assert!(warned, "the handler's warning does not carry the request id:\n{log}");
    assert!(lines.iter().filter(|l| in_request(l)).count() >= 5, "{log}");

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{WEB_CLIENT}:{WEB_SECRET}"));
    let secrets = [
        ("the password", PASSWORD.to_string()),
        ("the authorization code", code),
        ("the code verifier", verifier),
        ("the access token", access),
        ("the refresh token", refresh),
        ("the rotated refresh token", text(&refreshed, "refresh_token")),
        ("the refreshed access token", text(&refreshed, "access_token")),
        ("the id token", id_token),
        ("the client secret", WEB_SECRET.to_string()),
        ("the Basic credentials", basic),
    ];
    for (what, secret) in secrets {
        assert!(!log.contains(&secret), "the log contains {what}");
    }
}

/// Reads from `stream` until `marker` has arrived; returns what was read.
fn read_until(stream: &mut TcpStream, marker: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains(marker) {
        let n = stream.read(&mut buf).expect("read from the server");
        assert!(
            n > 0,
            "connection closed before {marker:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Starts a client-credentials POST with `Expect: 100-continue` and half its body. The
/// server's `100 Continue` proves the handler is running (it is reading the body), so the
/// request is in flight when the test goes on — no sleeping.
fn half_sent_request(server: &ServerProcess) -> (TcpStream, &'static str) {
    let body = "grant_type=client_credentials&scope=profile";
    let (first, rest) = body.split_at(20);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{WEB_CLIENT}:{WEB_SECRET}"));
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /realms/test/protocol/openid-connect/token HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
         Authorization: Basic {basic}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        server.port,
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    read_until(&mut stream, "100 Continue\r\n\r\n");
    stream.write_all(first.as_bytes()).expect("write half the body");
    (stream, rest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_0() {
    let dir = TempDir::new();
    let mut server = serve(dir.path(), &[], &[]).await;
    let (mut stream, rest) = half_sent_request(&server);

    server.signal_term();
    // New connections are refused once the listener closes (polling, bounded).
    let mut refused = false;
    for _ in 0..500 {
        match TcpStream::connect(("127.0.0.1", server.port)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    assert!(refused, "new connections were still accepted after SIGTERM");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );

    // The in-flight request completes normally.
    stream.write_all(rest.as_bytes()).expect("write the rest of the body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the response");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "in-flight request answered {answer:?}"
    );
    assert!(answer.contains("access_token"), "{answer}");

    let status = server.exit_status().await;
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(server.log().contains("shutting down"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_on_a_stuck_request_after_its_deadline() {
    let dir = TempDir::new();
    let mut server = serve(dir.path(), &["--shutdown-timeout-secs", "1"], &[]).await;
    // The body is never finished, so the request can only end by the deadline.
    let (_stream, _) = half_sent_request(&server);
    server.signal_term();
    let status = server.exit_status().await;
    assert_eq!(status.code(), Some(1), "{}", server.log());
    assert!(server.log().contains("did not finish in time"), "{}", server.log());
}
