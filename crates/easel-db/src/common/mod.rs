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
pub(crate) mod worker_store;
pub(crate) mod rows;
pub(crate) mod webhook_rows;
pub(crate) mod worker_rows;
