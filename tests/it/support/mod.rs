//! The one test harness: starts a real Gatehouse on an ephemeral loopback port over a fresh
//! SQLite file or a fresh PostgreSQL database, and hands the test an HTTP client with a cookie
//! jar (a "browser" that does not follow redirects), a relying party built on the
//! `openidconnect` crate, and helpers for the sign-in pages.
//!
//! Write a test once with [`db_test!`]; it runs as `NAME::sqlite` and `NAME::postgres`.
#![allow(dead_code)]

pub mod browser;
pub mod geoip;
pub mod github;
pub mod oauth;
pub mod process;
pub mod rp;
pub mod signin;
pub mod smtp;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use gatehouse::app::RunningServer;
use gatehouse::config::{Overrides, Settings};
use gatehouse::state::AppState;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

/// Defines one integration test twice from one async body: `NAME::sqlite` and
/// `NAME::postgres`. The body receives the database kind as `$db`.
///
/// ```ignore
/// db_test!(async fn discovery_works(db) {
///     let h = Harness::start(db, REALM).await;
///     ...
/// });
/// ```
#[allow(unused_macros)]
macro_rules! db_test {
    ($(#[$meta:meta])* async fn $name:ident($db:ident) $body:block) => {
        $(#[$meta])*
        async fn $name($db: $crate::support::Db) $body

        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Db::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::support::postgres_available().await {
                    super::$name($crate::support::Db::Postgres).await
                }
            }
        }
    };
}

/// Which database the server under test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests use; `TEST_POSTGRES_URL` may point elsewhere. The database
/// named in the URL is only used to create and drop one database per test.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

async fn connect(url: &str) -> Result<DatabaseConnection, String> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(options).await.map_err(|e| e.to_string())
}

/// Whether PostgreSQL tests can run. Unreachable PostgreSQL fails the test when `CI=true`;
/// elsewhere the test is skipped with a message saying so.
pub async fn postgres_available() -> bool {
    let url = postgres_admin_url();
    let outcome = match connect(&url).await {
        Ok(db) => {
            let ping = db
                .execute_unprepared("SELECT 1")
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            let _ = db.close().await;
            ping
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => true,
        Err(e) if in_ci() => panic!("PostgreSQL at {url} is unreachable and CI=true, so this test fails: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: PostgreSQL at {url} is unreachable ({e}); set CI=true to make this a failure");
            false
        }
    }
}

/// A name unique within this machine for this run: process id, a counter and the clock.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}{}_{n}_{nanos:x}", std::process::id())
}

/// A temporary directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(unique_name("gatehouse-test-"));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A PostgreSQL database made for one test, dropped with it.
pub struct PgDatabase {
    name: String,
}

impl PgDatabase {
    /// A fresh database and its URL; dropped (with its connections) when the value is.
    pub async fn create() -> (PgDatabase, String) {
        let admin_url = postgres_admin_url();
        let name = unique_name("gh_").to_ascii_lowercase();
        let admin = connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {admin_url}: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("TEST_POSTGRES_URL is a URL");
        url.set_path(&format!("/{name}"));
        (PgDatabase { name }, url.to_string())
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop may run inside the test's runtime: use a thread with its own runtime.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = connect(&postgres_admin_url()).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// A running Gatehouse for one test.
pub struct Harness {
    /// The public URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The realm the test's realm file defines (the first, if it defines several).
    pub realm: String,
    pub state: Arc<AppState>,
    /// A browser: cookie jar, redirects not followed.
    pub browser: reqwest::Client,
    pub db: Db,
    /// The settings the server was started with (listen port 0).
    pub settings: Settings,
    server: Option<RunningServer>,
    // Dropped after the server handle: the database and the files outlive it.
    pg: Option<PgDatabase>,
    dir: TempDir,
}

impl Harness {
    /// Starts Gatehouse with one realm file (`realm_yaml`) on a fresh database.
    pub async fn start(db: Db, realm_yaml: &str) -> Harness {
        Harness::start_with(db, realm_yaml, |_, _| {}).await
    }

    /// [`start`](Self::start), with settings changed by `adjust` (given the test's own
    /// temporary directory, for files such as themes).
    pub async fn start_with(db: Db, realm_yaml: &str, adjust: impl FnOnce(&Path, &mut Overrides)) -> Harness {
        init_test_log();
        let dir = TempDir::new();
        let realms_dir = dir.path().join("realms");
        std::fs::create_dir_all(&realms_dir).expect("create realms dir");
        std::fs::write(realms_dir.join("realm.yaml"), realm_yaml).expect("write realm file");
        let (pg, database_url) = match db {
            Db::Sqlite => (
                None,
                format!("sqlite://{}?mode=rwc", dir.path().join("gatehouse.db").display()),
            ),
            Db::Postgres => {
                let (pg, url) = PgDatabase::create().await;
                (Some(pg), url)
            }
        };
        let master_key = base64::engine::general_purpose::STANDARD.encode(gatehouse::crypto::random_bytes(32));
        let mut overrides = Overrides {
            database_url: Some(database_url),
            realms_dir: Some(realms_dir),
            flows_dir: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("flows")),
            master_key: Some(master_key),
            master_key_file: Some(dir.path().join("master.key")),
            listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        };
        adjust(dir.path(), &mut overrides);
        let explicit_url = overrides.public_url.is_some();
        let settings = Settings::resolve(overrides).expect("test settings resolve");
        let server = gatehouse::app::start(settings.clone(), explicit_url)
            .await
            .unwrap_or_else(|e| panic!("Gatehouse did not start: {e}"));
        let url = server.url();
        let state = server.state.clone();
        let realm = realm_name(realm_yaml);
        assert!(state.realm(&realm).is_some(), "realm '{realm}' is not loaded");
        Harness {
            url,
            realm,
            state,
            browser: browser::new_browser(),
            db,
            settings,
            server: Some(server),
            pg,
            dir,
        }
    }

    /// `{url}/realms/{realm}`.
    pub fn issuer(&self) -> String {
        format!("{}/realms/{}", self.url, self.realm)
    }

    /// `{issuer}/protocol/openid-connect/{path}`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/protocol/openid-connect/{path}", self.issuer())
    }

    /// The database the server uses, for moving time in tests (e.g. expiring a code).
    pub fn db_connection(&self) -> &DatabaseConnection {
        self.state.store.connection()
    }

    /// Runs one SQL statement against the server's database.
    pub async fn sql(&self, statement: &str) {
        self.db_connection()
            .execute_unprepared(statement)
            .await
            .unwrap_or_else(|e| panic!("SQL failed: {statement}: {e}"));
    }

    /// Runs one SQL query against the server's database and returns its rows.
    pub async fn query(&self, statement: &str) -> Vec<sea_orm::QueryResult> {
        let db = self.db_connection();
        db.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), statement))
            .await
            .unwrap_or_else(|e| panic!("SQL failed: {statement}: {e}"))
    }

    /// Creates a user with a password; returns the user's id.
    pub async fn add_user(&self, username: &str, email: &str, password: &str) -> String {
        let user = gatehouse::admin::create_user(&self.state, &self.realm, username, Some(email), Some(password))
            .await
            .unwrap_or_else(|e| panic!("cannot create user {username}: {e}"));
        user.id
    }

    /// A fresh browser (its own cookie jar).
    pub fn new_browser(&self) -> reqwest::Client {
        browser::new_browser()
    }

    /// Starts a second node on the same database, master key and realm files, with the same
    /// public URL (as nodes behind one load balancer), listening on its own port. Its requests
    /// go to `http://{node.addr}`; it is stopped when dropped with the test.
    pub async fn start_another_node(&self) -> RunningServer {
        let mut settings = self.settings.clone();
        settings.public_url = self.url.clone();
        gatehouse::app::start(settings, true)
            .await
            .unwrap_or_else(|e| panic!("the second node did not start: {e}"))
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}

/// With `TEST_LOG` set (an env-filter such as `gatehouse=debug`), the server's logs go to the
/// test's output: `TEST_LOG=gatehouse=debug cargo test --test it NAME -- --nocapture`.
fn init_test_log() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// The value of the top-level `realm:` key of a realm file.
pub fn realm_name(yaml: &str) -> String {
    yaml.lines()
        .find_map(|l| l.strip_prefix("realm:"))
        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        .expect("the realm file has a top-level `realm:` key")
}

// ---------------------------------------------------------------------------------------------
// The standard test realm.

pub const WEB_CLIENT: &str = "web";
pub const WEB_SECRET: &str = "web-app-secret-0123456789-abcdefghijklmnop";
pub const WEB_REDIRECT: &str = "http://127.0.0.1:9000/callback";
pub const WEB_POST_LOGOUT: &str = "http://127.0.0.1:9000/";
pub const OTHER_CLIENT: &str = "other";
pub const OTHER_SECRET: &str = "other-app-secret-0123456789-abcdefghijklm";
pub const SPA_CLIENT: &str = "spa";
pub const SPA_REDIRECT: &str = "http://127.0.0.1:9001/cb";

pub const USERNAME: &str = "alice";
pub const EMAIL: &str = "alice@example.com";
pub const PASSWORD: &str = "Correct-Horse-Battery-9";

/// A confidential client (`web`), a second confidential client with the same redirect URI
/// (`other`), and a public PKCE client (`spa`). Secrets are given as SHA-256 hashes of
/// [`WEB_SECRET`] and [`OTHER_SECRET`] (checked by `secrets_match_their_hashes` below).
pub const REALM: &str = r#"realm: test
display_name: Test realm
tokens: { access_ttl: 5m, refresh_ttl: 30m, code_ttl: 60s, sso_idle: 30m, sso_max: 10h, signing_alg: RS256 }
clients:
  - client_id: web
    secret_hash: sha256:3ab4454e637528a72b8b1c26412e8f13cde28bd7c4d15d9757329208e8cea5a7
    redirect_uris: [http://127.0.0.1:9000/callback]
    post_logout_redirect_uris: [http://127.0.0.1:9000/]
    grant_types: [authorization_code, refresh_token, client_credentials]
    pkce: required
  - client_id: other
    secret_hash: sha256:f5d038e890eda5deb63b71f1c58c950c9407fa48f1906b65595d8ed0843df152
    redirect_uris: [http://127.0.0.1:9000/callback]
    grant_types: [authorization_code, refresh_token]
    pkce: required
  - client_id: spa
    redirect_uris: [http://127.0.0.1:9001/cb]
    grant_types: [authorization_code, refresh_token]
    pkce: required
"#;

/// Starts the standard realm and adds [`USERNAME`] with [`PASSWORD`].
pub async fn start_with_user(db: Db) -> Harness {
    let h = Harness::start(db, REALM).await;
    h.add_user(USERNAME, EMAIL, PASSWORD).await;
    h
}
