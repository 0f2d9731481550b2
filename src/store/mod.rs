//! Persistence. Every SQL statement Gatehouse runs lives in this module; the rest of the code
//! calls the typed functions below. The same code serves SQLite and PostgreSQL.

mod brute_force;
mod client_roles;
mod credentials;
mod email;
pub mod entity;
mod events;
mod federated;
mod import;
mod keys;
mod org_invites;
mod orgs;
mod outbox;
mod pats;
mod phones;
mod realms;
mod rows;
mod seed;
mod sessions;
mod tokens;
mod trusted_devices;
mod users;

pub use brute_force::{AttemptGate, FAILURES_REMEMBERED_SECS, LockoutRule};
pub use credentials::{
    EMAIL_OTP, OTP, OtpRemoval, PASSWORD, ProfileUpdate, RECOVERY_CODE, RECOVERY_CODES_ID, SECURITY_KEY, SENT_CODES,
    SMS_OTP,
};
pub use events::{EventQuery, NewEvent, Purged};
pub use federated::NewLink;
pub use import::ImportedUser;
pub use migration::username_key;
pub use org_invites::{JoinOutcome, NewInvite, usable as invite_usable};
pub use orgs::{MemberChange, OWNER_ROLE, OrgFields};
pub use outbox::{NewActionToken, NewMessage, OutboxStatus};
pub use pats::{NewPat, PAT_PREFIX};
pub use phones::PhoneCheck;
pub use realms::NewSnapshot;
pub use seed::Seed;
pub use sessions::{LiveSession, NewSsoSession};
pub use tokens::{CodeExchange, Lifetimes, NewAuthCode, RefreshRotation};
pub use users::{NewUser, UserSearch, UserUpdate};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("cannot open the database at {url}: {reason}")]
    Open { url: String, reason: String },
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// SQLite allows one writer at a time. Writers of this process take turns here (in
    /// order, without sleeping) rather than in SQLite's busy handler, whose growing sleeps
    /// make a long latency tail under load. `None` on PostgreSQL.
    write_turn: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// A write transaction (see [`Store::write_txn`]); queries take `&txn` as with sea-orm's own.
pub(crate) struct WriteTxn {
    txn: sea_orm::DatabaseTransaction,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTxn {
    pub async fn commit(self) -> std::result::Result<(), DbErr> {
        self.txn.commit().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> sea_orm::DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: sea_orm::Statement) -> std::result::Result<sea_orm::ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> std::result::Result<sea_orm::ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(
        &self,
        stmt: sea_orm::Statement,
    ) -> std::result::Result<Option<sea_orm::QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: sea_orm::Statement) -> std::result::Result<Vec<sea_orm::QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

impl Store {
    /// Opens (creating it if needed, for SQLite) the database at `url` and brings its schema up
    /// to date.
    pub async fn open(url: &str) -> Result<Store> {
        if let Some(path) = sqlite_file_path(url)
            && let Some(dir) = Path::new(&path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                url: crate::config::redact_url(url),
                reason: format!("cannot create directory {}: {e}", dir.display()),
            })?;
        }
        let mut options = ConnectOptions::new(url);
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10))
            .max_connections(if url.starts_with("sqlite:") { 8 } else { 16 })
            // sqlx pings a pooled connection on every checkout by default: one more round trip
            // per statement. Only a connection idle long enough to have been dropped (by the
            // server, a proxy or a firewall) is checked.
            .test_before_acquire_if_idle_for(Duration::from_secs(30))
            .map_sqlx_sqlite_pool_opts(|pool| pool.after_connect(|conn, _| keep_query_plans(conn)))
            .map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
            });
        let mut db = Database::connect(options).await.map_err(|e| StoreError::Open {
            url: crate::config::redact_url(url),
            // The driver's message may quote the URL, password and all.
            reason: e.to_string().replace(url, &crate::config::redact_url(url)),
        })?;
        // Statements are counted per request (`gatehouse_db_statements_total`), so that what a
        // route costs the database is visible and testable.
        db.set_metric_callback(|_| count_statement());
        Migrator::up(&db, None).await?;
        let write_turn = url
            .starts_with("sqlite:")
            .then(|| Arc::new(tokio::sync::Mutex::new(())));
        Ok(Store { db, write_turn })
    }

    /// Starts a transaction that writes. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a concurrent writer waits for it (busy timeout) instead of
    /// failing with "database is locked" when it would upgrade a read to a write.
    async fn write_txn(&self) -> Result<WriteTxn> {
        let turn = match &self.write_turn {
            Some(turn) => Some(turn.clone().lock_owned().await),
            None => None,
        };
        let options = sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(WriteTxn {
            txn: sea_orm::TransactionTrait::begin_with_options(&self.db, options).await?,
            _turn: turn,
        })
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.db.ping().await?;
        Ok(())
    }

    /// Names of the migrations this binary knows that the database has not applied (another
    /// node may be mid-upgrade). Reads only; never creates the migration table.
    pub async fn pending_migrations(&self) -> Result<Vec<String>> {
        Ok(Migrator::get_pending_migrations_read_only(&self.db)
            .await?
            .iter()
            .map(|m| m.name().to_string())
            .collect())
    }
}

/// Turns on SQLite's query planner stability guarantee for a new connection. Without it,
/// SQLite marks a statement whose plan could depend on a bound value (every `LIMIT ?`, which
/// each `.one()` sends) to be parsed and planned again whenever it is bound anew: the statement
/// cache then saved nothing, and parsing was a sixth of a simple read's time. With it, a
/// statement keeps the plan it was first given (we keep no `ANALYZE` statistics that a bound
/// value could pick a better plan from).
fn keep_query_plans(
    conn: &mut sea_orm::sqlx::sqlite::SqliteConnection,
) -> futures_util::future::BoxFuture<'_, std::result::Result<(), sea_orm::sqlx::Error>> {
    Box::pin(async move {
        let mut handle = conn.lock_handle().await?;
        let db = handle.as_raw_handle();
        // SAFETY: `db` is this connection's open handle, held locked for the call; this option
        // takes an int (1: on) and an int pointer for the new state, which may be null.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_db_config(
                db.as_ptr(),
                libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
                1 as std::ffi::c_int,
                std::ptr::null_mut::<std::ffi::c_int>(),
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            return Err(sea_orm::sqlx::Error::Configuration(
                format!("SQLite refused the query planner stability guarantee (code {rc})").into(),
            ));
        }
        Ok(())
    })
}

fn sqlite_file_path(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(path.to_string())
}

tokio::task_local! {
    /// Database statements run so far by the current request.
    static STATEMENTS: std::cell::Cell<u64>;
}

/// Runs `fut` (a request) and returns its output and the number of statements it ran.
pub async fn counting_statements<F: Future>(fut: F) -> (F::Output, u64) {
    let counted = async move {
        let output = fut.await;
        (output, STATEMENTS.with(std::cell::Cell::get))
    };
    STATEMENTS.scope(std::cell::Cell::new(0), counted).await
}

/// Counts one statement against the current request, if any (work outside a request is not
/// counted).
fn count_statement() {
    let _ = STATEMENTS.try_with(|n| n.set(n.get() + 1));
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A count for `OFFSET`/`LIMIT`: the databases bind it as a signed 64-bit integer, and a larger
/// one would abort the statement (callers bound paging far lower; this keeps the store safe
/// whatever they pass).
pub(crate) fn sql_count(n: u64) -> u64 {
    n.min(i64::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_file_path("sqlite://data/g.db?mode=rwc").as_deref(),
            Some("data/g.db")
        );
        assert_eq!(sqlite_file_path("sqlite::memory:"), None);
        assert_eq!(sqlite_file_path("postgres://x"), None);
    }
}
