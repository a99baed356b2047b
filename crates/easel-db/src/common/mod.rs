//! Store code shared by both dialects.
//!
//! `rows.rs` holds the `FromRow` structs (generic over the driver) and their conversion to
//! domain types. The `*_store.rs` files are `macro_rules!` bodies expanded once for
//! `SqliteStore` and once for `PgStore`: sqlx's executor traits make one generic function
//! over both drivers unreadable, while the macro keeps a single copy of each query flow.
//! Each expanding type provides `read()` (a pool for reads) and `begin_write()`.

#[macro_use]
mod account_store;
#[macro_use]
mod key_store;
#[macro_use]
mod audit_store;
#[macro_use]
mod leak_store;
#[macro_use]
mod system_store;
#[macro_use]
mod job_store;
#[macro_use]
mod generation_store;
#[macro_use]
mod creation_store;
#[macro_use]
pub(crate) mod group_commit;
#[macro_use]
mod idempotency_store;
#[macro_use]
mod credit_store;
#[macro_use]
pub(crate) mod invoice_store;
#[macro_use]
mod moderation_store;
pub(crate) mod invoice_rows;
pub(crate) mod moderation_rows;
#[macro_use]
mod webhook_store;
#[macro_use]
mod session_store;
#[macro_use]
mod user_store;
#[macro_use]
pub(crate) mod subscription_store;
#[macro_use]
pub(crate) mod maintenance_store;
#[macro_use]
pub(crate) mod status_store;
#[macro_use]
pub(crate) mod worker_store;
#[macro_use]
mod metrics_store;
#[macro_use]
pub(crate) mod export_store;
#[macro_use]
pub(crate) mod erasure_store;
pub(crate) mod rows;
pub(crate) mod webhook_rows;
pub(crate) mod worker_rows;

/// Starts a write transaction on its own task, so that a caller abandoned while `BEGIN`
/// is in flight (an HTTP handler whose client hung up, a timeout) cannot leave the pooled
/// connection inside a transaction nobody owns: the task always finishes, and a
/// `Transaction` it hands to nobody is dropped, which rolls it back. sqlx 0.8.6 has an
/// await after the `BEGIN` ran in both drivers (SQLite's `begin_with` checks the
/// connection afterwards; PostgreSQL's `begin` waits for the reply before it counts the
/// transaction, launchbadge/sqlx#4385): abandoned there, the connection went back to the
/// pool mid-transaction, and on SQLite every later write failed.
pub(crate) async fn begin_detached<DB, F>(
    begin: F,
) -> crate::DbResult<sqlx::Transaction<'static, DB>>
where
    DB: sqlx::Database,
    F: std::future::Future<Output = Result<sqlx::Transaction<'static, DB>, sqlx::Error>>
        + Send
        + 'static,
{
    tokio::spawn(begin)
        .await
        .map_err(|e| crate::DbError::Unavailable(format!("starting a transaction: {e}")))?
        .map_err(Into::into)
}
