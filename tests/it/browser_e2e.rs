//! End-to-end in a real browser: Debian's `chromium` driven by `chromium-driver` over
//! WebDriver (thirtyfour). A user with the configure-OTP required action signs in, sees the QR
//! page, the test reads the secret from the page and types a valid code, sees the recovery
//! codes, and lands at the app (a small server on loopback) with a code the relying party
//! exchanges; the next sign-in asks for the code; a wrong code and a used code are refused with
//! a message; a recovery code works once; update-password refuses a password that breaks the
//! policy, then takes a good one; lockout after the configured failures.
//!
//! Every page is photographed into `target/e2e-screenshots/<test>/` (PNG and HTML, numbered),
//! so a failure can be seen as the browser saw it. One database (SQLite) is enough for the UI.
//!
//! Needs `chromium` and `chromedriver` (`scripts/install-test-deps.sh` installs them). Without
//! them the tests are skipped with a message, except under `CI=true`, where they fail.

use crate::support;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use thirtyfour::extensions::query::ElementPollerWithTimeout;
use thirtyfour::prelude::*;
use url::Url;

use crate::support::oauth::{self, AuthRequest};
use crate::support::signin;
use crate::support::*;

// ---------------------------------------------------------------------------------------------
// Finding the browser

const CHROMIUM_CANDIDATES: &[&str] = &["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const CHROMEDRIVER_CANDIDATES: &[&str] = &["/usr/bin/chromedriver"];

fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

/// `$var` if set, else the first existing candidate.
fn locate(var: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Chromium and chromedriver, or `None` (the test is skipped) when they are missing outside CI.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let chromium = locate("CHROMIUM_BIN", CHROMIUM_CANDIDATES);
    let driver = locate("CHROMEDRIVER_BIN", CHROMEDRIVER_CANDIDATES);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let missing: Vec<&str> = [(c.is_none(), "chromium"), (d.is_none(), "chromedriver")]
                .into_iter()
                .filter_map(|(m, name)| m.then_some(name))
                .collect();
            let why = format!(
                "{} not found (looked at {:?} and {:?}, or $CHROMIUM_BIN / $CHROMEDRIVER_BIN); \
                 run scripts/install-test-deps.sh to install Debian's chromium and chromium-driver",
                missing.join(" and "),
                CHROMIUM_CANDIDATES,
                CHROMEDRIVER_CANDIDATES
            );
            if in_ci() {
                panic!("the browser tests need a browser and CI=true: {why}");
            }
            eprintln!("SKIPPED: browser test: {why}; set CI=true to make this a failure");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// chromedriver and the browser

/// A chromedriver process on a free loopback port, killed when dropped.
struct ChromeDriver {
    child: tokio::process::Child,
    url: String,
    log: PathBuf,
}

impl ChromeDriver {
    async fn start(binary: &Path, dir: &Path) -> ChromeDriver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.join("chromedriver.log");
        let mut child = tokio::process::Command::new(binary)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let url = format!("http://127.0.0.1:{port}");
        let client = oauth::backchannel();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("{url}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "chromedriver exited ({status}) before it was ready; log:\n{}",
                    read_log(&log)
                );
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {url} within 20 s; log:\n{}",
                read_log(&log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ChromeDriver { child, url, log }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn read_log(path: &Path) -> String {
    let text: Vec<char> = std::fs::read_to_string(path).unwrap_or_default().chars().collect();
    text[text.len().saturating_sub(4000)..].iter().collect()
}

/// The directory that keeps the screenshots: `target/e2e-screenshots/`.
fn screenshot_root() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("e2e-screenshots")
}

/// Screenshots (and page sources) of one test, numbered in the order taken.
struct Shots {
    dir: PathBuf,
    count: AtomicUsize,
}

impl Shots {
    fn new(test: &str) -> Shots {
        let dir = screenshot_root().join(test);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Shots {
            dir,
            count: AtomicUsize::new(0),
        }
    }

    fn save(&self, label: &str, png: &[u8], html: &str) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let name: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect();
        let _ = std::fs::write(self.dir.join(format!("{n:02}-{name}.png")), png);
        let _ = std::fs::write(self.dir.join(format!("{n:02}-{name}.html")), html);
    }
}

/// Tells where the pictures are when a test fails.
struct ShotsOnFailure(PathBuf);

impl Drop for ShotsOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "browser test failed: screenshots of every page are in {}",
                self.0.display()
            );
        }
    }
}

/// One browser session, as the test sees it.
#[derive(Clone)]
pub(crate) struct Ui {
    pub(crate) d: WebDriver,
    shots: Arc<Shots>,
}

/// Browser tests run one at a time: two Chromiums on two cores make each other flaky.
fn one_browser_at_a_time() -> &'static tokio::sync::Mutex<()> {
    static LOCK: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
}

/// Runs `body` with a fresh headless Chromium (own profile directory), then closes it, also
/// when `body` panics. Skips (or fails in CI) without a browser.
pub(crate) async fn with_browser<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Ui) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let _one = one_browser_at_a_time().lock().await;
    let dir = TempDir::new();
    let driver = ChromeDriver::start(&chromedriver, dir.path()).await;
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(&chromium.to_string_lossy()).expect("binary capability");
    let profile = dir.path().join("profile");
    let args = [
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--no-default-browser-check".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--password-store=basic".into(),
        "--lang=en-US".into(),
        "--window-size=1000,1400".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    for arg in &args {
        caps.add_arg(arg).expect("browser argument");
    }
    let browser = WebDriver::new(driver.url.as_str(), caps).await.unwrap_or_else(|e| {
        panic!(
            "cannot start Chromium through chromedriver: {e}\nlog:\n{}",
            read_log(&driver.log)
        )
    });
    browser.set_poller(Arc::new(ElementPollerWithTimeout::new(
        Duration::from_secs(10),
        Duration::from_millis(100),
    )));
    let shots = Arc::new(Shots::new(test));
    let _tell = ShotsOnFailure(shots.dir.clone());
    let ui = Ui {
        d: browser.clone(),
        shots,
    };
    let closed = browser
        .run_and_quit(|_| async move {
            body(ui).await;
            Ok::<(), std::convert::Infallible>(())
        })
        .await;
    if let Err(e) = closed {
        panic!("closing the browser failed: {e}");
    }
    drop(driver);
}

/// What the test expects the browser to show, recognised by the contract's fields and ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Screen {
    Login,
    ConfigureOtp,
    RecoveryCodes,
    Otp,
    RecoveryCode,
    UpdatePassword,
    App,
}

impl Screen {
    /// A selector only this page matches, and selectors it must not match.
    fn marker(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Screen::Login => ("form input[name=username]:not([hidden])", &["#signing-in-as"]),
            Screen::ConfigureOtp => ("#otp-secret", &[]),
            Screen::RecoveryCodes => ("#recovery-codes", &[]),
            Screen::Otp => ("form input[name=otp]", &["#otp-secret"]),
            Screen::RecoveryCode => ("form input[name=recovery_code]", &[]),
            Screen::UpdatePassword => ("form input[name=password-new]", &[]),
            Screen::App => ("#app", &[]),
        }
    }
}

impl Ui {
    pub(crate) async fn snap(&self, label: &str) {
        let png = self.d.screenshot_as_png().await.unwrap_or_default();
        let html = self.d.source().await.unwrap_or_default();
        self.shots.save(label, &png, &html);
    }

    pub(crate) async fn open(&self, url: &str, label: &str) {
        self.d
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
        self.snap(label).await;
    }

    pub(crate) async fn url(&self) -> Url {
        self.d.current_url().await.expect("current URL")
    }

    /// The page's text, for failure messages.
    pub(crate) async fn describe(&self) -> String {
        let url = self.url().await;
        let text = match self.d.find(By::Tag("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let text: String = text.chars().take(800).collect();
        format!("{url}\n{text}")
    }

    /// Waits for `screen` to show; panics with the page's URL and text otherwise.
    pub(crate) async fn expect(&self, screen: Screen) {
        let (marker, not) = screen.marker();
        if self.d.query(By::Css(marker)).first().await.is_err() {
            panic!(
                "expected the {screen:?} page, the browser shows {}",
                self.describe().await
            );
        }
        for other in not {
            let found = self.d.find_all(By::Css(*other)).await.unwrap_or_default();
            assert!(
                found.is_empty(),
                "expected the {screen:?} page, the browser shows {}",
                self.describe().await
            );
        }
    }

    pub(crate) async fn element(&self, css: &str) -> WebElement {
        match self.d.query(By::Css(css)).first().await {
            Ok(e) => e,
            Err(e) => panic!("no element {css}: {e}\npage: {}", self.describe().await),
        }
    }

    /// Types into the field named `name` (after clearing it), as a person would.
    pub(crate) async fn type_into(&self, name: &str, value: &str) {
        let field = self.element(&format!("form [name='{name}']")).await;
        field.clear().await.expect("clear the field");
        field.send_keys(value).await.expect("type into the field");
    }

    /// Clicks a button and waits for the next page to load.
    pub(crate) async fn click(&self, css: &str, label: &str) {
        let button = self.element(css).await;
        let page = self.d.find(By::Tag("html")).await.expect("the page's <html>");
        button
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
        page.wait_until()
            .stale()
            .await
            .unwrap_or_else(|e| panic!("clicking {css} did not load another page: {e}"));
        self.element("body").await;
        self.snap(label).await;
    }

    /// Presses the form's main (first) submit button.
    pub(crate) async fn submit(&self, label: &str) {
        self.click("form button[type=submit]", label).await;
    }

    /// Presses the submit button `name`=`value`.
    pub(crate) async fn press(&self, name: &str, value: &str, label: &str) {
        self.click(&format!("form button[name='{name}'][value='{value}']"), label)
            .await;
    }

    /// The visible error message (elements with class `error`), which must be there.
    pub(crate) async fn error(&self) -> String {
        let errors = self.d.find_all(By::Css(".error")).await.unwrap_or_default();
        let mut texts = Vec::new();
        for e in errors {
            if e.is_displayed().await.unwrap_or(false) {
                texts.push(e.text().await.unwrap_or_default());
            }
        }
        let text = texts.join(" | ");
        if text.trim().is_empty() {
            panic!("the page shows no error message: {}", self.describe().await);
        }
        text
    }

    /// Username and password on the login page.
    pub(crate) async fn log_in(&self, username: &str, password: &str, label: &str) {
        self.expect(Screen::Login).await;
        self.type_into("username", username).await;
        self.type_into("password", password).await;
        self.submit(label).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The app: a relying party's callback on loopback that records what it was sent.

pub(crate) struct App {
    pub(crate) callback: String,
    hits: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl App {
    pub(crate) async fn start() -> App {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the app");
        let port = listener.local_addr().expect("app address").port();
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = hits.clone();
        let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(uri.to_string());
                axum::response::Html(
                    "<!doctype html><html lang=en><title>App</title><h1 id=app>Signed in to the app</h1></html>",
                )
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        App {
            callback: format!("http://127.0.0.1:{port}/callback"),
            hits,
            task,
        }
    }

    /// The callback requests the app received (path and query).
    pub(crate) fn callbacks(&self) -> Vec<String> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.starts_with("/callback"))
            .cloned()
            .collect()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Gatehouse with the flow test realm redirecting to `app`, and the standard user.
pub(crate) async fn start(app: &App) -> Harness {
    let h = Harness::start(Db::Sqlite, &signin::flow_realm(&app.callback)).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h
}

/// A fresh authorization request of `web` to the app; `prompt=login` when `again`, so the
/// browser's SSO session does not skip the pages.
pub(crate) fn request(app: &App, again: bool) -> (AuthRequest, String) {
    let (r, verifier) = AuthRequest::new(WEB_CLIENT, &app.callback);
    (if again { r.with("prompt", "login") } else { r }, verifier)
}

/// The browser is at the app: checks the authorization response, that the app received it,
/// exchanges the code as the relying party and returns the ID token's claims.
pub(crate) async fn at_the_app(
    ui: &Ui,
    h: &Harness,
    app: &App,
    request: &AuthRequest,
    verifier: &str,
) -> serde_json::Value {
    ui.expect(Screen::App).await;
    let url = ui.url().await;
    let code = oauth::code_from(h, request, &url);
    let received = app.callbacks().iter().any(|c| {
        Url::parse(&format!("http://app{c}"))
            .ok()
            .and_then(|u| support::browser::query(&u, "code"))
            .as_deref()
            == Some(code.as_str())
    });
    assert!(
        received,
        "the app did not receive the code; it saw {:?}",
        app.callbacks()
    );
    let tokens = oauth::exchange_code(h, oauth::web(), &code, &request.redirect_uri, Some(verifier)).await;
    tokens.assert_ok();
    assert!(tokens.str("access_token").is_some(), "no access token: {}", tokens.text);
    let (_, id) = oauth::jwt_parts(tokens.str("id_token").expect("an ID token"));
    assert_eq!(id["nonce"].as_str(), Some(request.nonce.as_str()), "{id}");
    id
}

fn amr(claims: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(claims["amr"].clone()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_otp_in_the_browser_then_land_at_the_app() {
    with_browser("configure_otp_in_the_browser_then_land_at_the_app", |ui| async move {
        let app = App::start().await;
        let h = start(&app).await;
        signin::require(&h, USERNAME, "configure-otp").await;

        let (req, verifier) = request(&app, false);
        ui.open(&req.url(&h), "login").await;
        ui.log_in(USERNAME, PASSWORD, "configure-otp").await;

        // The QR page: an inline SVG on screen, and the secret as text.
        ui.expect(Screen::ConfigureOtp).await;
        let qr = ui.element("svg").await;
        assert!(qr.is_displayed().await.unwrap(), "the QR code is not visible");
        let rect = qr.rect().await.unwrap();
        assert!(
            rect.width >= 100.0 && rect.height >= 100.0,
            "the QR code is too small to scan: {rect:?}"
        );
        let secret_text = ui.element("#otp-secret").await.text().await.unwrap();
        assert!(
            !secret_text.is_empty()
                && secret_text
                    .chars()
                    .all(|c| c == ' ' || c.is_ascii_uppercase() || ('2'..='7').contains(&c)),
            "the secret on the page is not base32 grouped by spaces: {secret_text:?}"
        );
        let secret = signin::base32_decode(&secret_text);
        assert!(secret.len() >= 16, "secret too short: {secret_text:?}");

        // A valid code from the secret read off the page.
        ui.type_into("otp", &signin::totp_now(&h, &secret)).await;
        ui.type_into("device_name", "Test phone").await;
        ui.submit("recovery-codes").await;

        // The recovery codes, shown once.
        ui.expect(Screen::RecoveryCodes).await;
        let items =
            ui.d.find_all(By::Css("#recovery-codes li.recovery-code"))
                .await
                .unwrap();
        let mut codes = Vec::new();
        for item in &items {
            codes.push(item.text().await.unwrap());
        }
        assert_eq!(codes.len(), 10, "recovery codes on the page: {codes:?}");
        assert!(codes.iter().all(|c| c.len() >= 10), "{codes:?}");
        ui.press("acknowledge", "yes", "app").await;

        // At the app, with a code the relying party exchanges.
        let claims = at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(amr(&claims), ["pwd", "otp", "mfa"], "{claims}");
        assert_eq!(claims["acr"], "2", "{claims}");
        assert!(signin::pending_actions(&h, USERNAME).await.is_empty());

        // The next sign-in asks for the code.
        let (req, verifier) = request(&app, true);
        ui.open(&req.url(&h), "login-again").await;
        ui.log_in(USERNAME, PASSWORD, "otp").await;
        ui.expect(Screen::Otp).await;
        ui.type_into("otp", &signin::totp_next(&h, &secret)).await;
        ui.submit("app-again").await;
        let claims = at_the_app(&ui, &h, &app, &req, &verifier).await;
        assert_eq!(amr(&claims), ["pwd", "otp", "mfa"], "{claims}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_page_refuses_wrong_and_used_codes_and_takes_a_recovery_code_once() {
    with_browser(
        "otp_page_refuses_wrong_and_used_codes_and_takes_a_recovery_code_once",
        |ui| async move {
            let app = App::start().await;
            let h = start(&app).await;
            // The device is set up over HTTP; this test is about the OTP page.
            let enrolment = signin::enrol_otp(&h, USERNAME, PASSWORD).await;

            let (req, verifier) = request(&app, false);
            ui.open(&req.url(&h), "login").await;
            ui.log_in(USERNAME, PASSWORD, "otp").await;
            ui.expect(Screen::Otp).await;
            let other_way = ui
                .element("form button[name='try_another'][value='recovery-code']")
                .await;
            assert!(
                other_way.is_displayed().await.unwrap(),
                "no visible way to use a recovery code"
            );

            // A wrong code: refused, with a message on the page.
            ui.type_into("otp", &signin::wrong_totp(&h, &enrolment.secret)).await;
            ui.submit("wrong-code").await;
            ui.expect(Screen::Otp).await;
            let message = ui.error().await;
            assert!(message.to_lowercase().contains("code"), "message: {message}");

            // A fresh code: at the app.
            let code = signin::totp_next(&h, &enrolment.secret);
            ui.type_into("otp", &code).await;
            ui.submit("app").await;
            let claims = at_the_app(&ui, &h, &app, &req, &verifier).await;
            assert_eq!(amr(&claims), ["pwd", "otp", "mfa"], "{claims}");

            // The same code in the next sign-in: already used.
            let (req, verifier) = request(&app, true);
            ui.open(&req.url(&h), "login-2").await;
            ui.log_in(USERNAME, PASSWORD, "otp-2").await;
            ui.type_into("otp", &code).await;
            ui.submit("used-code").await;
            ui.expect(Screen::Otp).await;
            let message = ui.error().await;
            assert!(message.to_lowercase().contains("already used"), "message: {message}");

            // A recovery code instead: works.
            ui.press("try_another", "recovery-code", "recovery-code").await;
            ui.expect(Screen::RecoveryCode).await;
            ui.type_into("recovery_code", &enrolment.recovery_codes[0]).await;
            ui.submit("app-2").await;
            let claims = at_the_app(&ui, &h, &app, &req, &verifier).await;
            assert_eq!(amr(&claims), ["pwd", "otp", "mfa"], "{claims}");
            assert_eq!(signin::events(&h, Some("recovery_code_used")).await.len(), 1);

            // The same recovery code again: refused; another one works.
            let (req, verifier) = request(&app, true);
            ui.open(&req.url(&h), "login-3").await;
            ui.log_in(USERNAME, PASSWORD, "otp-3").await;
            ui.press("try_another", "recovery-code", "recovery-code-3").await;
            ui.type_into("recovery_code", &enrolment.recovery_codes[0]).await;
            ui.submit("used-recovery-code").await;
            ui.expect(Screen::RecoveryCode).await;
            let message = ui.error().await;
            assert!(message.to_lowercase().contains("recovery code"), "message: {message}");
            ui.type_into("recovery_code", &enrolment.recovery_codes[1]).await;
            ui.submit("app-3").await;
            at_the_app(&ui, &h, &app, &req, &verifier).await;
            assert_eq!(signin::events(&h, Some("recovery_code_used")).await.len(), 2);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_password_refuses_a_weak_password_then_takes_a_good_one() {
    with_browser(
        "update_password_refuses_a_weak_password_then_takes_a_good_one",
        |ui| async move {
            let app = App::start().await;
            let h = start(&app).await;
            signin::require(&h, USERNAME, "update-password").await;

            let (req, verifier) = request(&app, false);
            ui.open(&req.url(&h), "login").await;
            ui.log_in(USERNAME, PASSWORD, "update-password").await;
            ui.expect(Screen::UpdatePassword).await;

            // Too short for the policy (12 characters): refused with a message.
            ui.type_into("password-new", "Sh0rt!").await;
            ui.type_into("password-confirm", "Sh0rt!").await;
            ui.submit("weak-password").await;
            ui.expect(Screen::UpdatePassword).await;
            let message = ui.error().await;
            assert!(message.contains("12"), "message: {message}");

            // No digit: refused too.
            ui.type_into("password-new", "No-Digits-Here-At-All").await;
            ui.type_into("password-confirm", "No-Digits-Here-At-All").await;
            ui.submit("no-digit").await;
            ui.expect(Screen::UpdatePassword).await;
            let message = ui.error().await;
            assert!(message.to_lowercase().contains("digit"), "message: {message}");

            // A good one: at the app.
            let new_password = "Brand-New-Secret-42";
            ui.type_into("password-new", new_password).await;
            ui.type_into("password-confirm", new_password).await;
            ui.submit("app").await;
            at_the_app(&ui, &h, &app, &req, &verifier).await;

            // The old password no longer works; the new one does.
            let (req, verifier) = request(&app, true);
            ui.open(&req.url(&h), "login-again").await;
            ui.log_in(USERNAME, PASSWORD, "old-password").await;
            ui.expect(Screen::Login).await;
            let message = ui.error().await;
            assert!(message.to_lowercase().contains("invalid"), "message: {message}");
            ui.log_in(USERNAME, new_password, "app-again").await;
            at_the_app(&ui, &h, &app, &req, &verifier).await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_after_the_configured_failures() {
    with_browser("lockout_after_the_configured_failures", |ui| async move {
        let app = App::start().await;
        let h = start(&app).await;
        let max_failures = h.state.realm(&h.realm).unwrap().realm.brute_force.max_failures;
        assert_eq!(max_failures, 3);

        let (req, _) = request(&app, false);
        ui.open(&req.url(&h), "login").await;
        let mut messages = Vec::new();
        for attempt in 1..=max_failures {
            ui.log_in(
                USERNAME,
                &format!("Wrong-Password-{attempt}!"),
                &format!("failure-{attempt}"),
            )
            .await;
            ui.expect(Screen::Login).await;
            messages.push(ui.error().await);
        }
        assert!(messages[0].to_lowercase().contains("invalid"), "{messages:?}");
        let locked = messages.last().unwrap().to_lowercase();
        assert!(
            locked.contains("too many"),
            "not locked after {max_failures} failures: {messages:?}"
        );

        // Locked: the right password is refused with the same message.
        ui.log_in(USERNAME, PASSWORD, "right-password-while-locked").await;
        ui.expect(Screen::Login).await;
        let message = ui.error().await;
        assert!(
            message.to_lowercase().contains("too many"),
            "the right password got in while locked: {message}"
        );
        assert!(app.callbacks().is_empty(), "the app was reached: {:?}", app.callbacks());
    })
    .await;
}
