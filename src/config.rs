//! Server settings. Each setting comes from, in order of precedence: a command-line flag, a
//! `GATEHOUSE_*` environment variable (clap reads both), the YAML config file (`--config`), and
//! finally a default that works out of the box.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::crypto::PasswordParams;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/gatehouse.db";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("invalid setting {name}: {message}")]
    Invalid { name: &'static str, message: String },
}

/// The config file's shape; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub database_url: Option<String>,
    pub realms_dir: Option<PathBuf>,
    pub flows_dir: Option<PathBuf>,
    pub themes_dir: Option<PathBuf>,
    pub themes_live: Option<bool>,
    pub master_key_file: Option<PathBuf>,
    pub password_hashing: Option<PasswordParams>,
    pub max_concurrent_hashes: Option<usize>,
    pub key_refresh_interval_secs: Option<u64>,
    pub log_format: Option<LogFormat>,
    pub metrics_enabled: Option<bool>,
    pub shutdown_timeout_secs: Option<u64>,
    pub events_retention_days: Option<u32>,
    pub apply_realms_on_start: Option<bool>,
    pub realm_refresh_interval_secs: Option<u64>,
    pub request_header_timeout_secs: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub sign_ins_per_address_per_minute: Option<u32>,
    pub geoip_database: Option<PathBuf>,
    pub active_sessions_interval_secs: Option<u64>,
    /// Mail for realms without their own `mail` setting (the realm file's shape; read and
    /// checked at start, where the realm model is known).
    pub mail: Option<serde_json::Value>,
}

/// How many sign-ins (each stores an authentication session) one client address may start per
/// minute on one node.
pub const DEFAULT_SIGN_INS_PER_ADDRESS_PER_MINUTE: u32 = 300;

/// How long a reading of the live-sessions gauge is shown before it is read again.
pub const DEFAULT_ACTIVE_SESSIONS_INTERVAL_SECS: u64 = 60;

/// How long a graceful shutdown may take before the process exits anyway.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// How long a client may take to send a request's head (line and headers).
pub const DEFAULT_REQUEST_HEADER_TIMEOUT_SECS: u64 = 10;

/// How long a request may take, body included, before it is answered with 408.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;

/// How long security events are kept.
pub const DEFAULT_EVENTS_RETENTION_DAYS: u32 = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Values given on the command line or in the environment; `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub database_url: Option<String>,
    pub realms_dir: Option<PathBuf>,
    pub flows_dir: Option<PathBuf>,
    pub themes_dir: Option<PathBuf>,
    pub themes_live: Option<bool>,
    pub master_key: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub metrics_enabled: Option<bool>,
    pub shutdown_timeout_secs: Option<u64>,
    pub events_retention_days: Option<u32>,
    pub apply_realms_on_start: Option<bool>,
    pub geoip_database: Option<PathBuf>,
}

/// The effective settings. Its `Debug` hides the master key and the database password.
#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Without a trailing slash, e.g. `http://127.0.0.1:8080`.
    pub public_url: String,
    pub database_url: String,
    pub realms_dir: PathBuf,
    pub flows_dir: PathBuf,
    /// Where realm themes live (`<dir>/<theme>/…`); the default theme is built in.
    pub themes_dir: PathBuf,
    /// Read templates from disk on every page (for editing a theme live).
    pub themes_live: bool,
    /// Base64 master key from `GATEHOUSE_MASTER_KEY`; takes precedence over the key file.
    pub master_key: Option<String>,
    pub master_key_file: PathBuf,
    pub password_hashing: PasswordParams,
    pub max_concurrent_hashes: usize,
    pub key_refresh_interval_secs: u64,
    pub log_format: LogFormat,
    /// Serve `/metrics` (Prometheus text format) on the listen address.
    pub metrics_enabled: bool,
    /// The hard deadline of a graceful shutdown.
    pub shutdown_timeout_secs: u64,
    /// Security events older than this many days are deleted (0 keeps them forever).
    pub events_retention_days: u32,
    /// `serve` applies the realms directory at start (the edit-and-restart case); off for
    /// deployments that apply from a pipeline with `gatehouse realm apply`.
    pub apply_realms_on_start: bool,
    /// How often a node looks for a newly applied realm snapshot.
    pub realm_refresh_interval_secs: u64,
    /// A connection that has not sent a whole request head within this time is closed.
    pub request_header_timeout_secs: u64,
    /// A request not answered within this time (a slow body, a stuck handler) gets 408.
    pub request_timeout_secs: u64,
    /// Sign-ins one client address may start per minute on one node (0: unlimited).
    pub sign_ins_per_address_per_minute: u32,
    /// A MaxMind or DB-IP City `.mmdb` file: sessions and sign-ins show approximate locations.
    pub geoip_database: Option<PathBuf>,
    /// How long a reading of the `gatehouse_active_sessions` gauge (a count over the sessions
    /// table) is shown before it is read again, in the background; 0 reads it on every scrape.
    pub active_sessions_interval_secs: u64,
    /// Mail for realms without their own `mail` setting, as written (a realm's `mail` shape,
    /// checked at start).
    pub mail: Option<serde_json::Value>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("database_url", &redact_url(&self.database_url))
            .field("realms_dir", &self.realms_dir)
            .field("flows_dir", &self.flows_dir)
            .field("themes_dir", &self.themes_dir)
            .field("themes_live", &self.themes_live)
            .field("master_key", &self.master_key.as_ref().map(|_| "****"))
            .field("master_key_file", &self.master_key_file)
            .field("password_hashing", &self.password_hashing)
            .field("max_concurrent_hashes", &self.max_concurrent_hashes)
            .field("key_refresh_interval_secs", &self.key_refresh_interval_secs)
            .field("log_format", &self.log_format)
            .field("metrics_enabled", &self.metrics_enabled)
            .field("shutdown_timeout_secs", &self.shutdown_timeout_secs)
            .field("events_retention_days", &self.events_retention_days)
            .field("apply_realms_on_start", &self.apply_realms_on_start)
            .field("realm_refresh_interval_secs", &self.realm_refresh_interval_secs)
            .field("active_sessions_interval_secs", &self.active_sessions_interval_secs)
            .field("request_header_timeout_secs", &self.request_header_timeout_secs)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("sign_ins_per_address_per_minute", &self.sign_ins_per_address_per_minute)
            .field("geoip_database", &self.geoip_database)
            .field("mail", &self.mail)
            .finish()
    }
}

impl Settings {
    pub fn resolve(o: Overrides) -> Result<Settings, ConfigError> {
        let file = match &o.config {
            Some(path) => read_config_file(path)?,
            None => ConfigFile::default(),
        };
        let listen_text = o.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| ConfigError::Invalid {
            name: "listen",
            message: format!("'{listen_text}' is not an ADDRESS:PORT such as 127.0.0.1:8080"),
        })?;
        let public_url = match o.public_url.or(file.public_url) {
            Some(url) => validate_public_url(&url)?,
            None => format!("http://{listen}"),
        };
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Ok(Settings {
            listen,
            public_url,
            database_url: o
                .database_url
                .or(file.database_url)
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            realms_dir: o.realms_dir.or(file.realms_dir).unwrap_or_else(|| "realms".into()),
            flows_dir: o.flows_dir.or(file.flows_dir).unwrap_or_else(|| "flows".into()),
            themes_dir: o.themes_dir.or(file.themes_dir).unwrap_or_else(|| "themes".into()),
            themes_live: o.themes_live.or(file.themes_live).unwrap_or(false),
            master_key: o.master_key,
            master_key_file: o
                .master_key_file
                .or(file.master_key_file)
                .unwrap_or_else(|| "data/master.key".into()),
            password_hashing: file.password_hashing.unwrap_or_default(),
            max_concurrent_hashes: file.max_concurrent_hashes.unwrap_or(cores),
            key_refresh_interval_secs: file.key_refresh_interval_secs.unwrap_or(10),
            log_format: o.log_format.or(file.log_format).unwrap_or_default(),
            metrics_enabled: o.metrics_enabled.or(file.metrics_enabled).unwrap_or(true),
            shutdown_timeout_secs: o
                .shutdown_timeout_secs
                .or(file.shutdown_timeout_secs)
                .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
            events_retention_days: o
                .events_retention_days
                .or(file.events_retention_days)
                .unwrap_or(DEFAULT_EVENTS_RETENTION_DAYS),
            apply_realms_on_start: o.apply_realms_on_start.or(file.apply_realms_on_start).unwrap_or(true),
            realm_refresh_interval_secs: file.realm_refresh_interval_secs.unwrap_or(2).max(1),
            active_sessions_interval_secs: file
                .active_sessions_interval_secs
                .unwrap_or(DEFAULT_ACTIVE_SESSIONS_INTERVAL_SECS),
            request_header_timeout_secs: file
                .request_header_timeout_secs
                .unwrap_or(DEFAULT_REQUEST_HEADER_TIMEOUT_SECS)
                .max(1),
            request_timeout_secs: file.request_timeout_secs.unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECS).max(1),
            sign_ins_per_address_per_minute: file
                .sign_ins_per_address_per_minute
                .unwrap_or(DEFAULT_SIGN_INS_PER_ADDRESS_PER_MINUTE),
            geoip_database: o.geoip_database.or(file.geoip_database),
            mail: file.mail,
        })
    }

    /// Whether cookies must carry `Secure`.
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// The log format named in a config file, read before logging starts; an unreadable file is
/// reported later, when the settings are resolved.
pub fn log_format_in_file(path: Option<&Path>) -> Option<LogFormat> {
    read_config_file(path?).ok()?.log_format
}

fn read_config_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    serde_saphyr::from_str(&text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        ConfigError::Parse {
            path: path.display().to_string(),
            line,
            column,
            message: e.to_string(),
        }
    })
}

fn validate_public_url(url: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(url).map_err(|e| ConfigError::Invalid {
        name: "public_url",
        message: format!("'{url}' is not a URL: {e}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ConfigError::Invalid {
            name: "public_url",
            message: format!("'{url}' must be an http(s) URL without query or fragment"),
        });
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Hides a password in a database URL before it is shown or logged.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        // Unparsable: it may still hold a password somewhere, so show only its scheme.
        let scheme = url.split(':').next().unwrap_or_default();
        return format!("{scheme}:… (not a valid URL)");
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("****"));
    }
    let hidden: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let secret = k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword");
            (k.into_owned(), if secret { "****".into() } else { v.into_owned() })
        })
        .collect();
    if !hidden.is_empty() {
        parsed.query_pairs_mut().clear().extend_pairs(hidden);
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:****@h/db");
        assert_eq!(redact_url("sqlite://a.db"), "sqlite://a.db");
        let query = redact_url("postgres://h/db?user=u&password=secret&sslmode=require");
        assert!(
            !query.contains("secret") && query.contains("password=****") && query.contains("sslmode=require"),
            "{query}"
        );
        let broken = redact_url("postgress://u:p/w#rd@h/db");
        assert!(!broken.contains("p/w#rd"), "{broken}");
    }

    #[test]
    fn debug_output_hides_the_master_key_and_the_database_password() {
        let s = Settings::resolve(Overrides {
            master_key: Some("c2VjcmV0LW1hc3Rlci1rZXktYnl0ZXMtMzItbG9uZyE=".into()),
            database_url: Some("postgres://gh:db-password@db/gh".into()),
            ..Default::default()
        })
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("c2VjcmV0") && !shown.contains("db-password"), "{shown}");
        assert!(shown.contains("postgres://gh:****@db/gh"), "{shown}");
    }

    #[test]
    fn defaults_work_out_of_the_box() {
        let s = Settings::resolve(Overrides::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://data/gatehouse.db");
        assert_eq!(s.realms_dir, PathBuf::from("realms"));
        assert!(!s.is_https());
        assert!(s.metrics_enabled);
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.shutdown_timeout_secs, DEFAULT_SHUTDOWN_TIMEOUT_SECS);
    }

    #[test]
    fn operations_settings_come_from_the_file_and_flags_win() {
        let dir = std::env::temp_dir().join(format!("gh-cfg-{}", crate::crypto::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.yaml");
        std::fs::write(
            &path,
            "log_format: json\nmetrics_enabled: false\nshutdown_timeout_secs: 5\n",
        )
        .unwrap();
        assert_eq!(log_format_in_file(Some(&path)), Some(LogFormat::Json));
        let s = Settings::resolve(Overrides {
            config: Some(path.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (s.log_format, s.metrics_enabled, s.shutdown_timeout_secs),
            (LogFormat::Json, false, 5)
        );
        let s = Settings::resolve(Overrides {
            config: Some(path),
            log_format: Some(LogFormat::Text),
            metrics_enabled: Some(true),
            shutdown_timeout_secs: Some(1),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (s.log_format, s.metrics_enabled, s.shutdown_timeout_secs),
            (LogFormat::Text, true, 1)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn flags_override_the_file_and_public_url_is_normalised() {
        let dir = std::env::temp_dir().join(format!("gh-cfg-{}", crate::crypto::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("g.yaml");
        std::fs::write(&path, "listen: 127.0.0.1:9999\ndatabase_url: sqlite://x.db\n").unwrap();
        let s = Settings::resolve(Overrides {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:7000".into()),
            public_url: Some("https://id.example.com/".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.listen.port(), 7000);
        assert_eq!(s.database_url, "sqlite://x.db");
        assert_eq!(s.public_url, "https://id.example.com");
        assert!(s.is_https());

        std::fs::write(&path, "listen: 127.0.0.1:9999\nbogus: 1\n").unwrap();
        let err = Settings::resolve(Overrides {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 2, .. }), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_listen_address_is_explained() {
        let err = Settings::resolve(Overrides {
            listen: Some("localhost".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("ADDRESS:PORT"));
    }
}
