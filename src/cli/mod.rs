//! The `gatehouse` command line. Each command is a thin call into the library.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app;
use crate::config::{LogFormat, Overrides, Settings};

mod org;
mod realm;
mod seed;
mod user;

pub use realm::RealmCommand;
pub use user::UserCommand;

#[derive(Parser, Debug)]
#[command(
    name = "gatehouse",
    version,
    about = "An OpenID Connect identity provider with declarative authentication flows"
)]
#[command(long_about = "Gatehouse signs users in to your applications with OpenID Connect.\n\
Realms (clients, policies, flows) are YAML files kept in git; users, sessions and keys live in \
SQLite (default) or PostgreSQL.\n\nQuick start:  gatehouse serve   (then open http://127.0.0.1:8080/realms/demo/.well-known/openid-configuration)")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// YAML config file; flags and GATEHOUSE_* variables override its values
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH (default sqlite://data/gatehouse.db) or postgres://USER@HOST/DB
    #[arg(long, global = true, env = "GATEHOUSE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Directory of realm files (default: realms)
    #[arg(long, global = true, env = "GATEHOUSE_REALMS_DIR", value_name = "DIR")]
    pub realms_dir: Option<PathBuf>,
    /// Directory of flow files that add to or override the built-in flows (default: flows)
    #[arg(long, global = true, env = "GATEHOUSE_FLOWS_DIR", value_name = "DIR")]
    pub flows_dir: Option<PathBuf>,
    /// Directory of realm themes (`DIR/THEME/login.html` …) that override the built-in default
    #[arg(long, global = true, env = "GATEHOUSE_THEMES_DIR", value_name = "DIR")]
    pub themes_dir: Option<PathBuf>,
    /// Read theme templates from disk on every page, for editing them live
    #[arg(long, global = true, env = "GATEHOUSE_THEMES_LIVE")]
    pub themes_live: bool,
    /// Master key file, created with mode 0600 if missing (default: data/master.key).
    /// GATEHOUSE_MASTER_KEY (base64, 32 bytes) takes precedence over the file
    #[arg(long, global = true, env = "GATEHOUSE_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Log format
    #[arg(long, global = true, env = "GATEHOUSE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Apply the realms directory when the server starts (default true). Set false where a
    /// pipeline runs `gatehouse realm apply`: Gatehouse then serves what is live in the
    /// database. Other commands (user, events, keys, admin) never apply realm files: they
    /// work on the live configuration
    #[arg(long, global = true, env = "GATEHOUSE_APPLY_REALMS_ON_START", value_name = "BOOL")]
    pub apply_realms_on_start: Option<bool>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server
    Serve(ServeArgs),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage organizations, their members and invite links
    #[command(subcommand)]
    Org(org::OrgCommand),
    /// Add many users and sessions at once, for benchmarks at scale
    Seed(seed::SeedArgs),
    /// Set up administration (the master realm's administrators)
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Validate and apply realm files
    #[command(subcommand)]
    Realm(RealmCommand),
    /// Manage signing keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Outgoing mail: what is queued, sent and failed
    #[command(subcommand)]
    Mail(MailCommand),
    /// Check, draw, simulate and test authentication flows
    #[command(subcommand)]
    Flow(FlowCommand),
    /// Show or export a realm's security log (sign-ins, failures, admin actions …), newest first
    Events(EventsArgs),
    /// Print the JSON Schema (draft 2020-12) of a kind of file, for editors
    Schema {
        #[arg(value_enum)]
        kind: crate::tooling::SchemaKind,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on (default 127.0.0.1:8080)
    #[arg(long, env = "GATEHOUSE_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// The URL clients reach Gatehouse at (default: http://LISTEN); https makes cookies Secure
    #[arg(long, env = "GATEHOUSE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Serve Prometheus metrics at /metrics (default true)
    #[arg(long, env = "GATEHOUSE_METRICS_ENABLED", value_name = "BOOL")]
    pub metrics_enabled: Option<bool>,
    /// On SIGTERM or Ctrl-C, how long in-flight requests may take before the process exits
    /// anyway (default 30)
    #[arg(long, env = "GATEHOUSE_SHUTDOWN_TIMEOUT_SECS", value_name = "SECONDS")]
    pub shutdown_timeout_secs: Option<u64>,
    /// Delete security events older than this many days (default 90; 0 keeps them forever)
    #[arg(long, env = "GATEHOUSE_EVENTS_RETENTION_DAYS", value_name = "DAYS")]
    pub events_retention_days: Option<u32>,
    /// A MaxMind GeoIP2/GeoLite2 City or DB-IP City Lite .mmdb file: the account console shows
    /// approximate locations (city, country) of sessions and sign-ins (default: none)
    #[arg(long, env = "GATEHOUSE_GEOIP_DATABASE", value_name = "FILE")]
    pub geoip_database: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  gatehouse events demo --since 1h\n  gatehouse events demo --user alice --type login_error --since 7d\n  gatehouse events demo --since 2026-01-01T00:00:00Z --format csv > events.csv"
)]
pub struct EventsArgs {
    /// Realm name
    pub realm: String,
    /// Only this user's events: a username or a user id
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Only events of this type, e.g. sign_in, login_error, logout (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only events at or after this time: a duration ago (30m, 1h, 7d, 2w) or an RFC 3339 time
    #[arg(long, value_name = "WHEN", value_parser = crate::events::parse_when)]
    pub since: Option<crate::events::When>,
    /// Only events before this time: a duration ago or an RFC 3339 time
    #[arg(long, value_name = "WHEN", value_parser = crate::events::parse_when)]
    pub until: Option<crate::events::When>,
    /// Only events older than this event id (to continue after an earlier listing)
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
    /// At most this many events (default: 100 for the table, all for jsonl and csv)
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Output format
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::events::Format,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create the first administrator (a master-realm user with the `admin` role), reading the
    /// password as one line from standard input. Refused once an administrator exists.
    /// GATEHOUSE_BOOTSTRAP_ADMIN_USERNAME and _PASSWORD do the same when the server starts
    Bootstrap {
        /// The administrator's username
        #[arg(long, default_value = "admin")]
        username: String,
        /// The administrator's email address
        #[arg(long, value_name = "EMAIL")]
        email: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add a new signing key (of the realm's tokens.signing_alg) and make it active; the old
    /// key stays published until every token it signed has expired
    Rotate {
        /// Realm name
        realm: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum MailCommand {
    /// Count the outbox's messages by state and list the latest failures (newest first)
    Status {
        /// Only this realm (default: every realm)
        realm: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum FlowCommand {
    /// Validate flow files (files or directories; default: the flows directory)
    Check { paths: Vec<PathBuf> },
    /// Draw a flow
    Graph {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "mermaid")]
        format: crate::tooling::GraphFormat,
    },
    /// Walk a flow for a described user with the real engine, and print what they meet
    Simulate(SimulateArgs),
    /// Run scenario files (*.yaml in DIR; default: flows/tests in the flows directory)
    Test { dir: Option<PathBuf> },
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// The flow file
    pub file: PathBuf,
    /// The user's username
    #[arg(long, default_value = "alice")]
    pub user: String,
    /// Nobody has this username
    #[arg(long)]
    pub unknown_user: bool,
    /// A credential the user has besides the password (repeatable)
    #[arg(long = "has", value_enum)]
    pub has: Vec<crate::tooling::sandbox::Credential>,
    /// A role the user holds (repeatable)
    #[arg(long = "role")]
    pub roles: Vec<String>,
    /// A user attribute, NAME=VALUE (repeatable)
    #[arg(long = "attribute", value_parser = parse_attribute)]
    pub attributes: Vec<(String, String)>,
    /// A required action pending for the user (repeatable)
    #[arg(long = "require")]
    pub required_actions: Vec<String>,
    /// The client's IP address
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: String,
    /// The client the sign-in is for
    #[arg(long, default_value = "app")]
    pub client: String,
    /// The user already has an SSO session
    #[arg(long)]
    pub signed_in: bool,
    /// The browser is a device the user trusted ("Remember this device")
    #[arg(long)]
    pub trusted_device: bool,
    /// The authorization request's prompt
    #[arg(long, value_enum)]
    pub prompt: Option<crate::tooling::simulate::Prompt>,
    /// The user's answers, page by page (default: a cooperative user's). One of:
    /// password, wrong-password, username, otp, wrong-otp, use-recovery-code, recovery-code,
    /// wrong-recovery-code, acknowledge, accept, decline, new-password:VALUE, profile, reload,
    /// form:FIELD=VALUE&FIELD=VALUE
    #[arg(long = "answer", verbatim_doc_comment)]
    pub answers: Vec<crate::tooling::answers::Answer>,
}

fn parse_attribute(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("'{text}' is not NAME=VALUE"))
}

impl SimulateArgs {
    fn simulation(self) -> crate::tooling::simulate::Simulation {
        use crate::tooling::sandbox::UserSpec;
        crate::tooling::simulate::Simulation {
            user: UserSpec {
                username: self.user,
                exists: !self.unknown_user,
                has: self.has,
                roles: self.roles,
                attributes: self.attributes.into_iter().collect(),
                required_actions: self.required_actions,
            },
            client: self.client,
            ip: Some(self.ip),
            signed_in: self.signed_in,
            trusted_device: self.trusted_device,
            prompt: self.prompt,
            answers: (!self.answers.is_empty()).then_some(self.answers),
        }
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The flag or GATEHOUSE_LOG_FORMAT wins over the config file, as for every setting.
    let log_format = cli
        .global
        .log_format
        .or_else(|| crate::config::log_format_in_file(cli.global.config.as_deref()))
        .unwrap_or_default();
    crate::ops::logging::init(log_format == crate::config::LogFormat::Json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli));
    // Connections still open after a shutdown deadline are dropped here; do not wait on them.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Added to "unknown realm" errors of commands that work on the live configuration.
const NOT_APPLIED_HINT: &str = " in the live configuration (commands work on applied realms: apply the realm files \
with `gatehouse realm apply`, or start `gatehouse serve`)";

/// What a failed administrative command says: its error, and for an unknown realm, that
/// commands work on the applied configuration.
fn explain(e: Box<dyn std::error::Error>) -> String {
    match e.downcast_ref::<crate::admin::AdminError>() {
        Some(crate::admin::AdminError::UnknownRealm(_)) => format!("{e}{NOT_APPLIED_HINT}"),
        _ => e.to_string(),
    }
}

fn settings(global: &GlobalArgs, serve: Option<&ServeArgs>) -> Result<Settings, String> {
    Settings::resolve(Overrides {
        config: global.config.clone(),
        database_url: global.database_url.clone(),
        realms_dir: global.realms_dir.clone(),
        flows_dir: global.flows_dir.clone(),
        themes_dir: global.themes_dir.clone(),
        themes_live: global.themes_live.then_some(true),
        master_key: std::env::var("GATEHOUSE_MASTER_KEY").ok().filter(|k| !k.is_empty()),
        master_key_file: global.master_key_file.clone(),
        listen: serve.and_then(|s| s.listen.clone()),
        public_url: serve.and_then(|s| s.public_url.clone()),
        log_format: global.log_format,
        metrics_enabled: serve.and_then(|s| s.metrics_enabled),
        shutdown_timeout_secs: serve.and_then(|s| s.shutdown_timeout_secs),
        events_retention_days: serve.and_then(|s| s.events_retention_days),
        apply_realms_on_start: global.apply_realms_on_start,
        geoip_database: serve.and_then(|s| s.geoip_database.clone()),
    })
    .map_err(|e| e.to_string())
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let done = match cli.command {
        Command::Serve(args) => serve(&cli.global, &args).await,
        Command::User(cmd) => user::run(&cli.global, cmd).await,
        Command::Org(cmd) => org::run(&cli.global, cmd).await,
        Command::Seed(args) => seed::run(&cli.global, args).await,
        Command::Admin(AdminCommand::Bootstrap { username, email }) => {
            let password = read_password_line()?;
            let app = crate::app::load(settings(&cli.global, None)?)
                .await
                .map_err(|e| e.to_string())?;
            crate::admin::master::bootstrap(&app, &username, &password, email.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "administrator '{username}' created in the master realm; sign in at {}/realms/master",
                app.settings.public_url
            );
            Ok(())
        }
        Command::Realm(cmd) => return realm::run(&cli.global, cmd).await,
        Command::Flow(cmd) => flow(&cli.global, cmd).await,
        Command::Events(args) => events(&cli.global, args).await,
        Command::Schema { kind } => {
            let schema = crate::tooling::schema(kind);
            println!("{}", serde_json::to_string_pretty(&schema).map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Mail(MailCommand::Status { realm }) => {
            let app = crate::app::load(settings(&cli.global, None)?)
                .await
                .map_err(|e| e.to_string())?;
            print!("{}", mail_status_text(&app, realm.as_deref()).await?);
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate { realm }) => {
            let app = crate::app::load(settings(&cli.global, None)?)
                .await
                .map_err(|e| e.to_string())?;
            let rt = app
                .realm(&realm)
                .ok_or_else(|| format!("realm '{realm}' does not exist{NOT_APPLIED_HINT}"))?;
            let alg = rt.realm.tokens.signing_alg;
            let kid = crate::keyring::rotate(&app.store, &app.master_key, &realm, alg)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "realm {realm}: new {} signing key {kid} is active; the previous key stays published until its tokens expire",
                alg.as_str()
            );
            Ok(())
        }
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// `gatehouse mail status`: counts by state, then the latest messages that failed at least once.
pub async fn mail_status_text(app: &crate::state::AppState, realm: Option<&str>) -> Result<String, String> {
    let status = app.store.outbox_status(realm, 20).await.map_err(|e| e.to_string())?;
    let mut out = format!(
        "{} pending, {} sent, {} failed (given up)\n",
        status.pending, status.sent, status.failed
    );
    if status.problems.is_empty() {
        out.push_str("no delivery problems\n");
    }
    for m in status.problems {
        let when = crate::events::time::format_rfc3339(m.created_at);
        out.push_str(&format!(
            "{when}  {realm}  {template}  {state}  attempts {attempts}  {error}\n",
            realm = m.realm,
            template = m.template,
            state = m.state,
            attempts = m.attempts,
            error = crate::ops::logging::untrusted(m.last_error.as_deref().unwrap_or_default()),
        ));
    }
    Ok(out)
}

async fn serve(global: &GlobalArgs, args: &ServeArgs) -> Result<(), String> {
    let settings = settings(global, Some(args))?;
    let explicit = args.public_url.is_some() || settings.public_url != format!("http://{}", settings.listen);
    // Before listening: a SIGTERM that arrives as soon as the port answers must already find
    // its handler, or it would kill the process mid-request.
    let mut signals =
        crate::app::shutdown::Signals::install().map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let deadline = std::time::Duration::from_secs(settings.shutdown_timeout_secs);
    let text_logs = settings.log_format == LogFormat::Text;
    let server = app::start(settings, explicit).await.map_err(|e| e.to_string())?;
    if text_logs {
        eprintln!(
            "Gatehouse is serving {} realm(s) at {} (discovery: {}/realms/<realm>/.well-known/openid-configuration)",
            server.state.realm_names().len(),
            server.url(),
            server.url()
        );
    }
    let signal = signals.recv().await;
    tracing::info!(
        signal,
        deadline_secs = deadline.as_secs(),
        "shutting down: refusing new connections, finishing in-flight requests"
    );
    let finished = tokio::select! {
        finished = server.stop_within(deadline) => finished,
        // A second signal means "now": the operator does not want to wait.
        signal = signals.recv() => {
            tracing::warn!(signal, "second signal: exiting without waiting for in-flight requests");
            false
        }
    };
    if !finished {
        return Err("shutdown did not finish in time; open requests were dropped".into());
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

fn read_password_line() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err("no password on stdin (pipe one line, e.g. `echo \"$PASSWORD\" | gatehouse user add …`)".into());
    }
    Ok(password)
}

async fn events(global: &GlobalArgs, args: EventsArgs) -> Result<(), String> {
    use crate::events::{self, EventFilter, EventsError, Format};
    let app = crate::app::load(settings(global, None)?)
        .await
        .map_err(|e| e.to_string())?;
    let now = crate::store::now();
    let filter = EventFilter {
        realm: args.realm,
        user: args.user,
        kinds: args.types,
        since: args.since.map(|w| w.resolve(now)),
        until: args.until.map(|w| w.resolve(now)),
        before: args.before,
        limit: None,
    };
    let max = match (args.limit, args.format) {
        (Some(n), _) => Some(n),
        (None, Format::Table) => Some(events::DEFAULT_LIMIT),
        (None, _) => None,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout());
    match events::export(&app.store, &filter, args.format, max, &mut out).await {
        Ok(done) => {
            if let (Some(id), Format::Table) = (done.more_before, args.format) {
                println!("(newest {} shown; older ones with --before {id})", done.written);
            }
            Ok(())
        }
        // `gatehouse events … | head` closes the pipe early; that is not an error.
        Err(EventsError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

async fn flow(global: &GlobalArgs, cmd: FlowCommand) -> Result<(), String> {
    use crate::tooling;
    match cmd {
        FlowCommand::Check { paths } => {
            let paths = if paths.is_empty() {
                vec![settings(global, None)?.flows_dir]
            } else {
                paths
            };
            let report = tooling::check(&paths);
            if report.errors.is_empty() {
                println!("{} flow file(s) OK", report.files);
                Ok(())
            } else {
                Err(format!(
                    "{} problem(s) found:\n{}",
                    report.errors.len(),
                    report.errors.join("\n")
                ))
            }
        }
        FlowCommand::Graph { file, format } => {
            print!("{}", tooling::graph_file(&file, format)?);
            Ok(())
        }
        FlowCommand::Simulate(args) => {
            let file = args.file.clone();
            let report = tooling::simulate::simulate(&file, &args.simulation()).await?;
            print!("{}", tooling::simulate::render(&report));
            Ok(())
        }
        FlowCommand::Test { dir } => {
            let dir = match dir {
                Some(d) => d,
                None => settings(global, None)?.flows_dir.join("tests"),
            };
            let summary = tooling::scenario::run_dir(&dir).await?;
            print!("{}", summary.output);
            if summary.failed > 0 {
                return Err(format!("{} scenario(s) failed", summary.failed));
            }
            Ok(())
        }
    }
}
