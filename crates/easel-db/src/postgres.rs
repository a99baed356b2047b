//! The PostgreSQL store: for several nodes and heavy load.
//!
//! Transactions run at READ COMMITTED; use cases that must serialise lock a row with
//! `SELECT … FOR NO KEY UPDATE` (the account row for account-scoped rules) rather than
//! raising the isolation level for everything.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::{DbResult, MigrationStore};

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// A PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Rows per request-log insert statement: a batch of n rows is written as 64-row
    /// statements, then at most one each of 32, 16 … 1 (one round trip per statement, each
    /// size prepared once and kept in the statement cache).
    /// An event and its webhook deliveries: one statement with a data-modifying CTE, so webhooks add no round trip.
    const INSERT_EVENT: &'static [&'static str] = &[crate::sql::PG_INSERT_EVENT_WITH_DELIVERIES];

    const LOG_ROWS_PER_STATEMENT: &'static [usize] = &[64, 32, 16, 8, 4, 2, 1];

    /// A generation and its job: one statement (a data-modifying CTE).
    const GENERATION_WITH_JOB: Option<&'static str> =
        Some(crate::sql::PG_INSERT_GENERATION_WITH_JOB);

    /// An uncapped hold and its ledger entry: one statement.
    const HOLD_WITH_LEDGER: Option<&'static str> = Some(crate::sql::PG_HOLD_WITH_LEDGER);

    /// Connects to `url` (`postgres://user@host:port/db`, with any libpq-style options)
    /// with a pool of at most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> DbResult<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(PgStore { pool })
    }

    fn read(&self) -> &PgPool {
        &self.pool
    }

    /// For single-statement writes.
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> DbResult<Transaction<'static, Postgres>> {
        let pool = self.pool.clone();
        crate::common::begin_detached(async move { pool.begin().await }).await
    }

    /// Serialises check-then-write use cases on one account (state changes, the last-owner
    /// rule, revoking and rotating keys, grants, the concurrent-jobs count): at READ
    /// COMMITTED two such transactions would otherwise both pass their check on the same
    /// old row.
    ///
    /// `FOR NO KEY UPDATE`, not `FOR UPDATE`: every insert of a row referencing the account
    /// (generation, event, ledger entry, audit entry) takes `FOR KEY SHARE` on it for the
    /// foreign key, which `FOR UPDATE` conflicts with. With `FOR UPDATE`, two creations that
    /// had each inserted their generation deadlocked on this lock, and a settlement holding
    /// the balance row deadlocked with a grant or creation holding this lock and waiting
    /// for the balance row. This mode conflicts only with itself and with updates of the
    /// account row, so it serialises the check-then-write use cases and nothing else.
    async fn lock_account(tx: &mut Transaction<'_, Postgres>, account_id: &str) -> DbResult<()> {
        sqlx::query("SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE")
            .bind(account_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

impl_account_store!(PgStore, Postgres);
impl_key_store!(PgStore, Postgres);
impl_leak_store!(PgStore, Postgres);
impl_audit_store!(PgStore, Postgres);
impl_system_store!(PgStore, Postgres);
impl_job_store!(PgStore, Postgres, " FOR UPDATE SKIP LOCKED");
impl_generation_store!(PgStore, Postgres);
impl_idempotency_store!(PgStore, Postgres);
impl_credit_store!(PgStore, Postgres);
impl_invoice_store!(PgStore, Postgres);
impl_moderation_store!(PgStore, Postgres);
impl_webhook_store!(PgStore, Postgres);
impl_session_store!(PgStore, Postgres);
impl_worker_store!(PgStore, Postgres, " FOR UPDATE SKIP LOCKED");

#[async_trait]
impl MigrationStore for PgStore {
    async fn migrations_current(&self) -> DbResult<bool> {
        crate::migrations::migrations_current(&MIGRATOR, &self.pool).await
    }

    async fn migrate(&self) -> DbResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| crate::DbError::Config(format!("migration failed: {e}")))
    }

    fn dialect(&self) -> &'static str {
        "postgres"
    }
}
