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
    /// Set as `easel.node` on every connection: the triggers name it in notifications.
    node: String,
    creations: crate::common::group_commit::Creations,
    attempts: crate::common::group_commit::Attempts,
    successes: crate::common::group_commit::Successes,
    claims: crate::common::group_commit::Claims,
    /// What the server told it about the events it writes (see `notices`).
    events: crate::notices::EventSettings,
}

impl PgStore {
    /// The object an event is about, as the `events_subject` index spells it.
    pub(crate) const EVENT_SUBJECT: &'static str = "((data::json) ->> 'id')";

    /// Rows per request-log insert statement: a batch of n rows is written as 64-row
    /// statements, then at most one each of 32, 16 … 1 (one round trip per statement, each
    /// size prepared once and kept in the statement cache).
    /// An event and its webhook deliveries: one statement with a data-modifying CTE, so webhooks add no round trip.
    const INSERT_EVENT: &'static [&'static str] = &[crate::sql::PG_INSERT_EVENT_WITH_DELIVERIES];

    const LOG_ROWS_PER_STATEMENT: &'static [usize] = &[64, 32, 16, 8, 4, 2, 1];

    const CREATION_BALANCES: &'static str = crate::sql::PG_CREATION_READS.0;
    const CREATION_OPEN: &'static str = crate::sql::PG_CREATION_READS.1;
    const DELIVERY_ENDPOINTS: Option<&'static str> = Some(crate::sql::PG_DELIVERY_ENDPOINTS);
    const INSERT_CLAIMED_LEASES: &'static str = crate::worker_sql::PG_INSERT_CLAIMED_LEASES;
    const START_CLAIMED_GENERATIONS: &'static str = crate::worker_sql::PG_START_CLAIMED_GENERATIONS;
    const END_LEASE_COUNTED: &'static str = crate::worker_sql::PG_END_LEASE_COUNTED;
    const INSERT_EVENTS: &'static str = crate::worker_sql::PG_INSERT_EVENTS;
    const NEXT_DUE: &'static str = crate::sql::PG_NEXT_DUE;
    /// Membership in the JSON array of text bound as `$1` (see `sql.rs` on why not `IN`).
    const IN_JSON_ARRAY: &'static str = "= ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))";

    fn write_creations() -> &'static str {
        &crate::sql::PG_WRITE_CREATIONS
    }

    /// Connects to `url` (`postgres://user@host:port/db`, with any libpq-style options)
    /// with a pool of at most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> DbResult<PgStore> {
        let node = format!("n_{}", easel_core::ids::IdKind::Request.generate());
        let tag = node.clone();
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                let tag = tag.clone();
                Box::pin(async move {
                    sqlx::query("SELECT set_config('easel.node', $1, false)")
                        .bind(tag)
                        .execute(conn)
                        .await
                        .map(|_| ())
                })
            })
            .connect(url)
            .await?;
        let attempts = {
            let pool = pool.clone();
            crate::common::group_commit::Attempts::start("webhook attempts", move |batch| {
                PgStore::run_attempts(pool.clone(), batch)
            })
        };
        let claims = {
            let pool = pool.clone();
            crate::common::group_commit::Claims::start("worker claims", move |batch| {
                PgStore::run_claims(pool.clone(), batch)
            })
        };
        let successes = {
            let pool = pool.clone();
            crate::common::group_commit::Successes::start("successes", move |batch| {
                PgStore::run_successes(pool.clone(), batch)
            })
        };
        let creations = {
            let pool = pool.clone();
            crate::common::group_commit::Creations::start("creations", move |batch| {
                PgStore::run_creations(pool.clone(), pool.clone(), batch)
            })
        };
        Ok(PgStore {
            pool,
            node,
            creations,
            attempts,
            successes,
            claims,
            events: Default::default(),
        })
    }

    fn read(&self) -> &PgPool {
        &self.pool
    }

    fn pool_gauges(&self) -> Vec<crate::metrics::PoolGauge> {
        vec![crate::metrics::PoolGauge {
            pool: "main",
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }]
    }

    /// For single-statement writes.
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> DbResult<Transaction<'static, Postgres>> {
        let pool = self.pool.clone();
        crate::common::begin_detached(async move { pool.begin().await }).await
    }

    /// A write transaction on the batching task, which is never abandoned mid-`BEGIN`.
    async fn begin_on(pool: &PgPool) -> DbResult<Transaction<'static, Postgres>> {
        Ok(pool.begin().await?)
    }

    /// Takes what a batch of successes will update, in the order every writer takes it:
    /// the accounts' open-generation counters, then their balances (as a batch of
    /// creations does, after the accounts), then the remote workers whose leases end
    /// (`leases_json`). Taken one success at a time instead, two nodes' batches could
    /// each hold what the other needs next.
    async fn lock_for_successes(
        tx: &mut Transaction<'_, Postgres>,
        accounts_json: &str,
        leases_json: &str,
    ) -> DbResult<()> {
        for sql in [
            crate::sql::PG_CREATION_READS.1,
            crate::sql::PG_CREATION_READS.0,
        ] {
            sqlx::query(sql)
                .bind(accounts_json)
                .execute(&mut **tx)
                .await?;
        }
        if leases_json != "[]" {
            sqlx::query(crate::worker_sql::PG_LOCK_LEASE_WORKERS)
                .bind(leases_json)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Locks a batch's accounts (`$1`, a JSON array of ids) in id order.
    async fn lock_creation_accounts(
        tx: &mut Transaction<'_, Postgres>,
        accounts_json: &str,
    ) -> DbResult<()> {
        sqlx::query(crate::sql::PG_CREATION_LOCK_ACCOUNTS)
            .bind(accounts_json)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Serialises check-then-write use cases on one account (state changes, the last-owner
    /// rule, revoking and rotating keys, grants; creations lock their batch's accounts the
    /// same way, `lock_creation_accounts`): at READ
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
impl_creation_store!(PgStore, Postgres);
impl_idempotency_store!(PgStore, Postgres);
impl_credit_store!(PgStore, Postgres);
impl_invoice_store!(PgStore, Postgres);
impl_moderation_store!(PgStore, Postgres);
impl_webhook_store!(PgStore, Postgres);
impl_session_store!(PgStore, Postgres);
impl_user_store!(PgStore, Postgres);
impl_subscription_store!(PgStore, Postgres);
impl_maintenance_store!(PgStore, Postgres);
impl_status_store!(PgStore, Postgres);
impl_export_store!(PgStore, Postgres, crate::data_rights::Dialect::Postgres);
impl_erasure_store!(PgStore, Postgres);
impl_worker_store!(PgStore, Postgres, " FOR UPDATE SKIP LOCKED");
impl_metrics_store!(PgStore, Postgres);

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

    fn node(&self) -> Option<String> {
        Some(self.node.clone())
    }
}
