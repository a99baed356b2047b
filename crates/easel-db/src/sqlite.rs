//! The SQLite store: the out-of-the-box default.
//!
//! WAL mode, foreign keys on, and a busy timeout for other processes (`easel admin` beside a
//! running server). Writes go through a one-connection pool and start with `BEGIN IMMEDIATE`:
//! in-process writers queue fairly on the pool instead of spinning on SQLite's busy handler,
//! and a write transaction never has to upgrade a read lock (which SQLite may refuse with
//! SQLITE_BUSY at once). Reads use their own pool and run alongside the writer under WAL.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::{DbError, DbResult, MigrationStore};

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    creations: crate::common::group_commit::Creations,
    attempts: crate::common::group_commit::Attempts,
    successes: crate::common::group_commit::Successes,
    claims: crate::common::group_commit::Claims,
    /// The database's WAL file, whose size and time tell that someone wrote.
    wal: std::path::PathBuf,
    /// What the server told it about the events it writes (see `notices`).
    events: crate::notices::EventSettings,
}

impl SqliteStore {
    /// The object an event is about, as the `events_subject` index spells it.
    pub(crate) const EVENT_SUBJECT: &'static str = "json_extract(data, '$.id')";

    /// Rows per request-log insert statement: 16, then 8 … 1. sqlx binds each SQLite
    /// parameter by looking up its name, which SQLite finds by a linear scan, so binding a
    /// statement is quadratic in its parameters (a 64-row insert spent most of its time
    /// there); but every statement is also a round trip to sqlx's SQLite thread, so one row
    /// per statement is slower still. 16 rows (208 parameters) measured best.
    /// An event and its webhook deliveries: two statements (no data-modifying CTEs in SQLite; a round trip here is a function call).
    const INSERT_EVENT: &'static [&'static str] = &[
        crate::sql::INSERT_EVENT,
        crate::sql::SQLITE_INSERT_EVENT_DELIVERIES,
    ];

    const LOG_ROWS_PER_STATEMENT: &'static [usize] = &[16, 8, 4, 2, 1];

    const CREATION_BALANCES: &'static str = crate::sql::SQLITE_CREATION_READS.0;
    const CREATION_OPEN: &'static str = crate::sql::SQLITE_CREATION_READS.1;
    const DELIVERY_ENDPOINTS: Option<&'static str> = None;
    const INSERT_CLAIMED_LEASES: &'static str = crate::worker_sql::SQLITE_INSERT_CLAIMED_LEASES;
    const START_CLAIMED_GENERATIONS: &'static str =
        crate::worker_sql::SQLITE_START_CLAIMED_GENERATIONS;
    const END_LEASE_COUNTED: &'static str = crate::worker_sql::SQLITE_END_LEASE_COUNTED;
    const INSERT_EVENTS: &'static str = crate::worker_sql::SQLITE_INSERT_EVENTS;
    const NEXT_DUE: &'static str = crate::sql::SQLITE_NEXT_DUE;
    /// Membership in the JSON array of text bound as `$1`.
    const IN_JSON_ARRAY: &'static str = "IN (SELECT value FROM json_each($1))";

    fn write_creations() -> &'static str {
        &crate::sql::SQLITE_WRITE_CREATIONS
    }

    /// Opens (creating if missing) the database at `url` (`sqlite://path/to/file.db`).
    pub async fn connect(url: &str) -> DbResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| DbError::Config(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let mut wal = options.get_filename().as_os_str().to_owned();
        wal.push("-wal");
        // No ping before each acquire (sqlx's default): a file does not hang up, and on the
        // single writer the ping was one more hop through sqlx's SQLite thread per
        // transaction, queued with everyone else's statements.
        let write = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let attempts = {
            let write = write.clone();
            crate::common::group_commit::Attempts::start("webhook attempts", move |batch| {
                SqliteStore::run_attempts(write.clone(), batch)
            })
        };
        let claims = {
            let write = write.clone();
            crate::common::group_commit::Claims::start("worker claims", move |batch| {
                SqliteStore::run_claims(write.clone(), batch)
            })
        };
        let successes = {
            let write = write.clone();
            crate::common::group_commit::Successes::start("successes", move |batch| {
                SqliteStore::run_successes(write.clone(), batch)
            })
        };
        let creations = {
            let (read, write) = (read.clone(), write.clone());
            crate::common::group_commit::Creations::start("creations", move |batch| {
                SqliteStore::run_creations(read.clone(), write.clone(), batch)
            })
        };
        Ok(SqliteStore {
            read,
            write,
            creations,
            attempts,
            successes,
            claims,
            events: Default::default(),
            wal: wal.into(),
        })
    }

    fn read(&self) -> &SqlitePool {
        &self.read
    }

    fn pool_gauges(&self) -> Vec<crate::metrics::PoolGauge> {
        [("read", &self.read), ("write", &self.write)]
            .into_iter()
            .map(|(pool, p)| crate::metrics::PoolGauge {
                pool,
                size: p.size(),
                idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
                max: p.options().get_max_connections(),
            })
            .collect()
    }

    /// For single-statement writes: the one writer connection, in autocommit.
    fn writer(&self) -> &SqlitePool {
        &self.write
    }

    async fn begin_write(&self) -> DbResult<Transaction<'static, Sqlite>> {
        let pool = self.write.clone();
        crate::common::begin_detached(async move { pool.begin_with("BEGIN IMMEDIATE").await }).await
    }

    /// A write transaction on the batching task, which is never abandoned mid-`BEGIN`.
    async fn begin_on(write: &SqlitePool) -> DbResult<Transaction<'static, Sqlite>> {
        Ok(write.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Nothing to lock: the transaction holds the database's only write lock.
    async fn lock_for_successes(
        _tx: &mut Transaction<'_, Sqlite>,
        _accounts_json: &str,
        _leases_json: &str,
    ) -> DbResult<()> {
        Ok(())
    }

    /// Nothing to lock: the transaction holds the database's only write lock.
    async fn lock_creation_accounts(
        _tx: &mut Transaction<'_, Sqlite>,
        _accounts_json: &str,
    ) -> DbResult<()> {
        Ok(())
    }

    /// Serialises check-then-write use cases on one account. Nothing to do here: a
    /// `BEGIN IMMEDIATE` transaction already holds the database's only write lock.
    async fn lock_account(_tx: &mut Transaction<'_, Sqlite>, _account_id: &str) -> DbResult<()> {
        Ok(())
    }
}

impl_account_store!(SqliteStore, Sqlite);
impl_key_store!(SqliteStore, Sqlite);
impl_leak_store!(SqliteStore, Sqlite);
impl_audit_store!(SqliteStore, Sqlite);
impl_system_store!(SqliteStore, Sqlite);
impl_job_store!(SqliteStore, Sqlite, "");
impl_generation_store!(SqliteStore, Sqlite);
impl_creation_store!(SqliteStore, Sqlite);
impl_idempotency_store!(SqliteStore, Sqlite);
impl_credit_store!(SqliteStore, Sqlite);
impl_invoice_store!(SqliteStore, Sqlite);
impl_moderation_store!(SqliteStore, Sqlite);
impl_webhook_store!(SqliteStore, Sqlite);
impl_session_store!(SqliteStore, Sqlite);
impl_user_store!(SqliteStore, Sqlite);
impl_subscription_store!(SqliteStore, Sqlite);
impl_maintenance_store!(SqliteStore, Sqlite);
impl_status_store!(SqliteStore, Sqlite);
impl_export_store!(SqliteStore, Sqlite, crate::data_rights::Dialect::Sqlite);
impl_erasure_store!(SqliteStore, Sqlite);
impl_worker_store!(SqliteStore, Sqlite, "");
impl_metrics_store!(SqliteStore, Sqlite);

#[async_trait]
impl MigrationStore for SqliteStore {
    async fn migrations_current(&self) -> DbResult<bool> {
        crate::migrations::migrations_current(&MIGRATOR, &self.read).await
    }

    async fn migrate(&self) -> DbResult<()> {
        MIGRATOR
            .run(&self.write)
            .await
            .map_err(|e| DbError::Config(format!("migration failed: {e}")))
    }

    fn dialect(&self) -> &'static str {
        "sqlite"
    }

    fn write_marker(&self) -> Option<crate::WriteMarker> {
        // A missing file (before the first write, or just checkpointed away) is a marker
        // too: it changes when the file comes back.
        let meta = std::fs::metadata(&self.wal).ok();
        Some(meta.map_or((0, std::time::UNIX_EPOCH), |m| {
            (m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH))
        }))
    }
}
