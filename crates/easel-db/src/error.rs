//! The store's error type: what callers need to tell apart, nothing more.

use easel_core::DomainError;
use thiserror::Error;

/// A store call failed.
#[derive(Debug, Error)]
pub enum DbError {
    /// The row does not exist (or belongs to another account or mode, which callers must
    /// not be able to tell apart).
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; the value names the constraint.
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// A domain rule refused the change (e.g. demoting the last owner).
    #[error(transparent)]
    Rule(#[from] DomainError),
    /// The available balance does not cover a hold.
    #[error("insufficient credits: {required} required, {available} available")]
    InsufficientCredits { required: i64, available: i64 },
    /// A hold would take a key past its spend cap for the period.
    #[error("key spend cap reached: {spent} of {cap} spent this {period}, {required} required")]
    KeySpendCapReached {
        cap: i64,
        spent: i64,
        required: i64,
        period: &'static str,
    },
    /// The account already has its concurrent-jobs limit of generations queued or running
    /// in this mode; nothing was written.
    #[error("concurrent jobs limit reached: {open} of {limit} open")]
    ConcurrencyLimit {
        /// The limit the creation was checked against.
        limit: u32,
        /// The account's other open generations in this mode (not the refused one).
        open: i64,
    },
    /// The database could not be reached in time (pool timeout, connection refused).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database URL or options are unusable.
    #[error("database configuration: {0}")]
    Config(String),
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Anything else from the driver.
    #[error(transparent)]
    Other(sqlx::Error),
}

/// The unique constraints callers map to a field-level conflict.
const KNOWN_UNIQUE: &[(&str, &str)] = &[
    ("users_email_key", "users.email"),
    ("operators_username_key", "operators.username"),
    ("members_pkey", "members.account_id"),
    ("ledger_entries_reference", "ledger_entries.account_id"),
    ("workers_name_key", "workers.name"),
    ("terms_versions_pkey", "terms_versions.version"),
];

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => DbError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                DbError::Unavailable(e.to_string())
            }
            // A row that references a missing parent (a key for an unknown account):
            // the parent was not found.
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => DbError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                // PostgreSQL names the constraint; SQLite only says "UNIQUE constraint
                // failed: users.email", so match either spelling.
                let message = db.message();
                let constraint = db.constraint().unwrap_or_default();
                KNOWN_UNIQUE
                    .iter()
                    .find(|(name, column)| constraint == *name || message.contains(column))
                    .map_or(DbError::Other(e), |(name, _)| DbError::Conflict(name))
            }
            _ => DbError::Other(e),
        }
    }
}
