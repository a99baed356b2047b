//! What `/metrics` reads from the database, and the statements it reads it with.
//!
//! Each statement reads only a partial index that holds the rows it counts (queued jobs,
//! running jobs, open holds, pending deliveries, quarantined workers), so a scrape costs
//! what the figures are, never a walk of the tables' history. `QUERIES` lists them so a
//! test can run each under `EXPLAIN` on both dialects and refuse a table scan.

/// Queued jobs per queue: how many, and when the earliest became (or becomes) due.
/// `jobs_claim` is `(queue, run_at, id) WHERE status = 'queued'`: it covers the statement.
pub const QUEUED: &str = "SELECT queue, COUNT(*), MIN(run_at) FROM jobs WHERE status = 'queued' \
     GROUP BY queue";

/// Running jobs per queue, from `jobs_running`.
pub const RUNNING: &str =
    "SELECT queue, COUNT(*) FROM jobs WHERE status = 'running' GROUP BY queue";

/// Open holds and the credits they hold, from `holds_open_amount`. The sum is cast because
/// PostgreSQL sums `BIGINT` into `NUMERIC`.
pub const HOLDS: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM holds \
     WHERE status = 'open'";

/// Pending webhook deliveries and the earliest one's due time, from `webhook_deliveries_due`.
pub const DELIVERIES: &str = "SELECT COUNT(*), MIN(next_attempt_at) FROM webhook_deliveries \
     WHERE state = 'pending'";

/// Unrevoked workers quarantined at `$1`, from `workers_quarantined`.
pub const QUARANTINED: &str = "SELECT COUNT(*) FROM workers WHERE revoked_at IS NULL \
     AND quarantined_until IS NOT NULL AND quarantined_until > $1";

/// Every statement of [`MetricsStore::gauges`](crate::MetricsStore::gauges) with its name;
/// the ones with a parameter take the current time in ms.
pub const QUERIES: &[(&str, &str)] = &[
    ("queued", QUEUED),
    ("running", RUNNING),
    ("holds", HOLDS),
    ("deliveries", DELIVERIES),
    ("quarantined", QUARANTINED),
];

/// One generation queue's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueGauge {
    pub queue: String,
    pub queued: i64,
    /// When the earliest queued job became due (ms); `None` with nothing queued. In the
    /// future when every queued job waits for a retry.
    pub earliest_due: Option<i64>,
    pub running: i64,
}

/// The database-derived figures of a scrape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Queues with a queued or running job (others are left out).
    pub queues: Vec<QueueGauge>,
    pub holds_open: i64,
    pub holds_open_credits: i64,
    pub deliveries_pending: i64,
    /// When the earliest pending delivery is (or was) due (ms).
    pub deliveries_earliest_due: Option<i64>,
    pub workers_quarantined: i64,
}

/// One connection pool of this process: its connections open now, the idle ones among
/// them, and its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGauge {
    /// `read` and `write` on SQLite, `main` on PostgreSQL.
    pub pool: &'static str,
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}
