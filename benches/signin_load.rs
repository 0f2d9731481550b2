//! The sign-in load client of benches/run.py: the whole authorization-code sign-in as a browser
//! and an app do it — GET authorize → login form → POST username and password → code →
//! POST token (PKCE, client_secret_basic) — with N concurrent virtual users in a closed loop.
//! wrk cannot do this (it needs a cookie, a CSRF token from the page and a code from a redirect),
//! so it is a small async Rust program; every sign-in starts without cookies, so the password is
//! checked (argon2) every time.
//!
//! Two commands, each printing one JSON document on standard output:
//!
//! ```text
//! signin_load signin --base URL --realm R --user-prefix P --users N --password PW
//!                    [--user-digits 2] [--concurrency 16] [--seconds 10] [--warmup 2]
//!                    [--wrong-password]
//!     → {"ok":…, "errors":…, "per_sec":…, "p50_ms":…, "p99_ms":…, "first_error":…,
//!        "locked":…}
//! signin_load tokens --base URL --realm R --user-prefix P --users N --password PW --count K
//!     → [{"access_token":…, "refresh_token":…}, …]      (K sign-ins, for the token loads)
//! ```
//!
//! Users are `{prefix}{i:0D}` for i in 0..N (D = `--user-digits`: 2 for the users the harness
//! adds one by one, 7 for those of `gatehouse seed`). With no more users than virtual users,
//! virtual user j always signs in as user j mod N, so that no two concurrent sign-ins share a
//! user. With more (the scale run: 1,000 or a million seeded users), each sign-in picks the next
//! user of a scattered sequence over all N, so that the sign-ins read rows from the whole table,
//! not from a few hot pages.
//!
//! `--wrong-password` is the argon2 storm: every virtual user posts the login form with a
//! wrong password, over and over. The answer expected is the login page again with "Invalid
//! username or password." (argon2 ran): that counts as `ok`. A lockout page (argon2 skipped,
//! so the storm would not be a storm) counts as `locked`; a 5xx, a redirect to the app or a
//! connection error counts as an error.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use gatehouse::crypto::{random_token, sha256_b64};
use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

const CLIENT_ID: &str = "bench-web";
const CLIENT_SECRET: &str = "bench-web-secret-0123456789-abcdefghijk";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

struct Opts {
    base: String,
    realm: String,
    user_prefix: String,
    users: usize,
    password: String,
    concurrency: usize,
    seconds: f64,
    warmup: f64,
    count: usize,
    user_digits: usize,
    wrong_password: bool,
    /// The scope the sign-ins ask for (`--scope`, default `openid`).
    scope: String,
}

fn parse_args() -> (String, Opts) {
    let mut args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.is_empty() {
        eprintln!("usage: signin_load signin|tokens --base URL --realm R --user-prefix P --users N --password PW …");
        std::process::exit(2);
    }
    let command = args.remove(0);
    let mut map = HashMap::new();
    let mut wrong_password = false;
    let mut it = args.into_iter();
    while let Some(k) = it.next() {
        // The one flag without a value.
        if k == "--wrong-password" {
            wrong_password = true;
            continue;
        }
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        map.insert(k.trim_start_matches("--").to_string(), v);
    }
    let get = |k: &str, d: &str| map.get(k).cloned().unwrap_or_else(|| d.to_string());
    let num = |k: &str, d: &str| {
        get(k, d)
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("--{k} is not a number"))
    };
    let opts = Opts {
        base: get("base", "http://127.0.0.1:8090").trim_end_matches('/').to_string(),
        realm: get("realm", "bench"),
        user_prefix: get("user-prefix", "bench-user-"),
        users: num("users", "1") as usize,
        password: get("password", "Bench-Password-2024"),
        concurrency: num("concurrency", "16") as usize,
        seconds: num("seconds", "10"),
        warmup: num("warmup", "2"),
        count: num("count", "16") as usize,
        user_digits: num("user-digits", "2") as usize,
        wrong_password,
        scope: get("scope", "openid"),
    };
    (command, opts)
}

/// What one finished sign-in yields.
struct Tokens {
    access_token: String,
    refresh_token: String,
}

/// Decodes the few HTML entities the templates write in attribute values.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if entity.starts_with("#x") || entity.starts_with("#X") => {
                u32::from_str_radix(&entity[2..], 16).ok().and_then(char::from_u32)
            }
            _ if entity.starts_with('#') => entity[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(decode_entities(&tag[start..start + len]))
}

/// The login form's action and hidden fields (the CSRF token).
fn login_form(html: &str) -> Result<(String, Vec<(String, String)>), String> {
    let form_at = html
        .find("<form method=\"post\"")
        .ok_or("no POST form on the login page")?;
    let form_tag = &html[form_at..form_at + html[form_at..].find('>').ok_or("unclosed <form>")?];
    let action = attr(form_tag, "action").ok_or("the form has no action")?;
    let mut hidden = Vec::new();
    let mut rest = &html[form_at..];
    while let Some(i) = rest.find("<input") {
        let end = rest[i..].find('>').ok_or("unclosed <input>")? + i;
        let tag = &rest[i..end];
        if tag.contains("type=\"hidden\"")
            && let Some(name) = attr(tag, "name")
        {
            hidden.push((name, attr(tag, "value").unwrap_or_default()));
        }
        rest = &rest[end..];
    }
    Ok((action, hidden))
}

/// Keeps `name=value` of every Set-Cookie (a browser's cookie jar for one sign-in).
fn take_cookies(jar: &mut Vec<(String, String)>, resp: &reqwest::Response) {
    for v in resp.headers().get_all(SET_COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        let pair = v.split(';').next().unwrap_or("");
        if let Some((n, val)) = pair.split_once('=') {
            jar.retain(|(k, _)| k != n);
            if !val.is_empty() {
                jar.push((n.to_string(), val.to_string()));
            }
        }
    }
}

fn cookie_header(jar: &[(String, String)]) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn basic() -> String {
    let raw = format!("{CLIENT_ID}:{CLIENT_SECRET}");
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// How one attempt ended, when it ended as expected.
enum Attempt {
    /// A whole sign-in: the tokens of the code exchange.
    SignedIn(Tokens),
    /// `--wrong-password`: the login page again with the invalid-credentials message.
    Rejected,
    /// `--wrong-password`: the lockout message instead (argon2 did not run).
    Locked,
}

/// The English messages of the default theme (themes/default/messages/en.yaml).
const INVALID_CREDENTIALS: &str = "Invalid username or password.";
const LOCKED_OUT: &str = "Too many failed attempts.";

/// One whole sign-in without cookies: authorize → form → POST → code → token; with
/// `--wrong-password`, authorize → form → POST → the form again.
async fn sign_in(http: &reqwest::Client, o: &Opts, username: &str) -> Result<Attempt, String> {
    let err = |what: &str, e: reqwest::Error| format!("{what}: {e}");
    let verifier = random_token();
    let challenge = sha256_b64(verifier.as_bytes());
    let state = random_token();
    let authorize = format!("{}/realms/{}/protocol/openid-connect/auth", o.base, o.realm);
    let mut jar = Vec::new();

    // 1. The authorization request; follow redirects on the server to the login page.
    let authorize = url::Url::parse_with_params(
        &authorize,
        &[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("scope", o.scope.as_str()),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .map_err(|e| format!("authorize URL: {e}"))?;
    let mut resp = http.get(authorize).send().await.map_err(|e| err("authorize", e))?;
    for _ in 0..5 {
        take_cookies(&mut jar, &resp);
        if !resp.status().is_redirection() {
            break;
        }
        let to = location(&resp, &o.base)?;
        resp = http
            .get(&to)
            .header(COOKIE, cookie_header(&jar))
            .send()
            .await
            .map_err(|e| err("redirect", e))?;
    }
    if resp.status() != 200 {
        return Err(format!("authorize: status {}", resp.status()));
    }
    let page = resp.text().await.map_err(|e| err("login page", e))?;
    let (action, mut fields) = login_form(&page)?;
    fields.push(("username".into(), username.into()));
    let password = if o.wrong_password {
        format!("{}-wrong", o.password)
    } else {
        o.password.clone()
    };
    fields.push(("password".into(), password));

    // 2. Post the form; follow redirects on the server until one leaves for the app.
    let action = absolute(&o.base, &action);
    let mut resp = http
        .post(&action)
        .header(COOKIE, cookie_header(&jar))
        .form(&fields)
        .send()
        .await
        .map_err(|e| err("login POST", e))?;
    let mut code = None;
    for _ in 0..5 {
        take_cookies(&mut jar, &resp);
        if o.wrong_password && !resp.status().is_redirection() {
            return rejected(resp).await;
        }
        if !resp.status().is_redirection() {
            return Err(format!(
                "login POST: status {} (wrong password or a page?)",
                resp.status()
            ));
        }
        let to = location(&resp, &o.base)?;
        if to.starts_with(REDIRECT_URI) {
            if o.wrong_password {
                return Err("a wrong password was accepted".into());
            }
            let url = url::Url::parse(&to).map_err(|e| format!("redirect URI: {e}"))?;
            code = url
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned());
            break;
        }
        resp = http
            .get(&to)
            .header(COOKIE, cookie_header(&jar))
            .send()
            .await
            .map_err(|e| err("redirect", e))?;
    }
    let code = code.ok_or("no code in the redirect to the app")?;

    // 3. The app exchanges the code.
    let token_url = format!("{}/realms/{}/protocol/openid-connect/token", o.base, o.realm);
    let resp = http
        .post(&token_url)
        .header(AUTHORIZATION, basic())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .map_err(|e| err("token", e))?;
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| err("token body", e))?;
    if status != 200 {
        return Err(format!("token: status {status}: {body}"));
    }
    let field = |k: &str| {
        body[k]
            .as_str()
            .map(str::to_string)
            .ok_or(format!("token response has no {k}"))
    };
    Ok(Attempt::SignedIn(Tokens {
        access_token: field("access_token")?,
        refresh_token: field("refresh_token")?,
    }))
}

/// The answer to a wrong password: the login page again (200 or 401, by the theme's choice)
/// with one of the two messages; anything else is an error.
async fn rejected(resp: reqwest::Response) -> Result<Attempt, String> {
    let status = resp.status();
    if status.is_server_error() {
        return Err(format!("login POST: status {status}"));
    }
    let page = resp.text().await.map_err(|e| format!("login page: {e}"))?;
    if page.contains(INVALID_CREDENTIALS) {
        Ok(Attempt::Rejected)
    } else if page.contains(LOCKED_OUT) {
        Ok(Attempt::Locked)
    } else {
        Err(format!("login POST: status {status}, neither message on the page"))
    }
}

fn absolute(base: &str, url: &str) -> String {
    if url.starts_with('/') {
        format!("{base}{url}")
    } else {
        url.to_string()
    }
}

fn location(resp: &reqwest::Response, base: &str) -> Result<String, String> {
    let loc = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("status {} without Location", resp.status()))?;
    Ok(absolute(base, loc))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .expect("HTTP client")
}

fn username(o: &Opts, i: usize) -> String {
    format!("{}{:0w$}", o.user_prefix, i % o.users.max(1), w = o.user_digits)
}

/// The user of virtual user `worker`'s `n`-th sign-in. With no more users than virtual users,
/// always the same one (no two concurrent sign-ins share a user). With more, a scattered walk:
/// the sequence number times a large prime, modulo the users, visits every user of a table
/// whose size the prime does not divide, in an order unrelated to insertion order.
fn user_of(o: &Opts, worker: usize, n: usize) -> String {
    if o.users <= o.concurrency {
        return username(o, worker);
    }
    const PRIME: u64 = 1_000_003;
    let seq = (n * o.concurrency + worker) as u64;
    username(o, (seq.wrapping_mul(PRIME) % o.users as u64) as usize)
}

/// The user of the `tokens` command's `i`-th sign-in: in turn over a few users, scattered over
/// a large table (as `user_of` does) so that tokens of a seeded million are not all from the
/// first rows.
fn token_user(o: &Opts, i: usize) -> String {
    if o.users <= o.count {
        return username(o, i);
    }
    const PRIME: u64 = 1_000_003;
    username(o, ((i as u64).wrapping_mul(PRIME) % o.users as u64) as usize)
}

/// Closed loop: `concurrency` virtual users sign in back to back for `seconds`.
async fn load(o: Arc<Opts>, seconds: f64) -> Value {
    let http = client();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut workers = Vec::new();
    for w in 0..o.concurrency {
        let (o, http, stop) = (o.clone(), http.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let (mut lat, mut errors, mut locked, mut first_error) = (Vec::new(), 0u64, 0u64, None);
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let user = user_of(&o, w, n);
                n += 1;
                let t = Instant::now();
                match sign_in(&http, &o, &user).await {
                    Ok(Attempt::SignedIn(_) | Attempt::Rejected) => lat.push(t.elapsed().as_micros() as u64),
                    Ok(Attempt::Locked) => locked += 1,
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat, errors, locked, first_error)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut lat, mut errors, mut locked, mut first_error) = (Vec::new(), 0, 0, None);
    for w in workers {
        let (l, e, k, f) = w.await.expect("worker panicked");
        lat.extend(l);
        errors += e;
        locked += k;
        if first_error.is_none() {
            first_error = f;
        }
    }
    // Sign-ins still in flight at the stop are counted, over the time they really took.
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        if lat.is_empty() {
            0.0
        } else {
            lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1000.0
        }
    };
    json!({
        "ok": lat.len(),
        "errors": errors,
        "per_sec": lat.len() as f64 / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "locked": locked,
        "first_error": first_error,
    })
}

#[tokio::main]
async fn main() {
    let (command, opts) = parse_args();
    let opts = Arc::new(opts);
    match command.as_str() {
        "signin" => {
            if opts.warmup > 0.0 {
                load(opts.clone(), opts.warmup).await;
            }
            println!("{}", load(opts.clone(), opts.seconds).await);
        }
        "tokens" => {
            let http = client();
            let mut out = Vec::new();
            for i in 0..opts.count {
                match sign_in(&http, &opts, &token_user(&opts, i)).await {
                    Ok(Attempt::SignedIn(t)) => {
                        out.push(json!({ "access_token": t.access_token, "refresh_token": t.refresh_token }))
                    }
                    Ok(_) => {
                        eprintln!("signin_load tokens: sign-in {i} was refused (--wrong-password?)");
                        std::process::exit(1);
                    }
                    Err(e) => {
                        eprintln!("signin_load tokens: sign-in {i} failed: {e}");
                        std::process::exit(1);
                    }
                }
            }
            println!("{}", Value::Array(out));
        }
        other => {
            eprintln!("signin_load: unknown command {other} (signin|tokens)");
            std::process::exit(2);
        }
    }
}
