//! Job queue claim cost at depth: the production claim (easel-db's `JobStore::claim`) against a
//! queue of 1k jobs and against 1M queued + 5M finished.
//!
//! The database is migrated through easel-db, so the schema and indexes are production's. It
//! is then seeded in bulk, bypassing the store: one `INSERT … SELECT` over a generated series
//! per group of rows (`generate_series` on PostgreSQL, a recursive CTE on SQLite), followed by
//! `ANALYZE`. A fresh store then claims one job at a time, the way a worker slot does.
//!
//! Every row is a sandbox-image generation's job (its real queue, kind, payload shape,
//! attempts and deadline), all in one queue: the worst case, since finished jobs of other
//! queues could only make the claim's index walk shorter. Ids are ULID-shaped (`job_` and 26
//! lowercase characters, ordered by creation time) but spelled in hex, which SQL writes far
//! faster than Crockford base32.

use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, ensure};
use easel_db::Store;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

/// The queue of the default `sandbox-image` model (`easel_server::engines::queue_name`).
const QUEUE: &str = "generation:sandbox-image";
/// `RunGeneration::KIND`.
const KIND: &str = "generation.run";
/// The model's default `max_attempts`.
const MAX_ATTEMPTS: u32 = 3;
/// The model's default `max_queue_seconds`, in ms: a job's `expires_at` is this after creation.
const MAX_QUEUE_MS: i64 = 600_000;
/// The runner's default lease.
const LEASE_MS: i64 = 30_000;
const WORKER: &str = "w_queue_depth_bench";
/// Queued jobs were created over the minute before seeding started.
const QUEUED_SPAN_MS: i64 = 60_000;
/// Finished jobs were created over the 30 days before the queued ones.
const FINISHED_SPAN_MS: i64 = 30 * 86_400_000;
/// Row numbers are hashed into ids with 64-bit arithmetic; this keeps it from overflowing.
const MAX_ROWS: u64 = 1 << 28;

/// One depth case's claims.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DepthResult {
    /// `sqlite` or `postgres`.
    pub dialect: &'static str,
    pub queued: u64,
    pub finished: u64,
    pub claims: u32,
    pub claims_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Seeding time: inserts, `ANALYZE` (PostgreSQL: `VACUUM ANALYZE`), SQLite's checkpoint.
    pub seed_seconds: f64,
}

/// Seeds a fresh, empty database at `database_url` (migrated here) with `queued` queued and
/// `finished` finished jobs, then makes `claims` claims one after another.
pub async fn measure(
    database_url: &str,
    queued: u64,
    finished: u64,
    claims: u32,
) -> anyhow::Result<DepthResult> {
    ensure!(
        claims > 0 && u64::from(claims) <= queued,
        "queue depth: {claims} claims need 1 to {queued} queued jobs"
    );
    ensure!(
        queued + finished < MAX_ROWS,
        "queue depth: at most {MAX_ROWS} rows"
    );
    let store = easel_db::connect(database_url, 2)
        .await
        .context("queue depth: connecting")?;
    store.migrate().await.context("queue depth: migrating")?;
    let dialect = store.dialect();
    drop(store);

    let started = Instant::now();
    let seed = Seed {
        queued,
        finished,
        now: now_ms(),
    };
    match dialect {
        "sqlite" => seed.sqlite(database_url).await,
        _ => seed.postgres(database_url).await,
    }
    .context("queue depth: seeding")?;
    let seed_seconds = started.elapsed().as_secs_f64();

    // New connections, so that the planner surely works from the fresh statistics.
    let store = easel_db::connect(database_url, 2)
        .await
        .context("queue depth: reconnecting")?;
    let (mut latencies, elapsed) = claim_all(&*store, claims, &seed).await?;
    latencies.sort_unstable();
    Ok(DepthResult {
        dialect,
        queued,
        finished,
        claims,
        claims_per_sec: f64::from(claims) / elapsed.as_secs_f64(),
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        seed_seconds,
    })
}

/// Makes `claims` claims one after another; returns each one's latency and the total time.
async fn claim_all(
    store: &dyn Store,
    claims: u32,
    seed: &Seed,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    // The oldest queued job expires MAX_QUEUE_MS after it was created: past that, claims
    // would walk over expired jobs and measure something else.
    ensure!(
        now_ms() < seed.now - QUEUED_SPAN_MS + MAX_QUEUE_MS,
        "queue depth: seeding took so long that the queued jobs began to expire"
    );
    let mut latencies = Vec::with_capacity(claims as usize);
    let started = Instant::now();
    for n in 1..=claims {
        let now = now_ms();
        let claim_started = Instant::now();
        let job = store.claim(QUEUE, WORKER, now + LEASE_MS, now).await;
        latencies.push(claim_started.elapsed());
        let job = job
            .with_context(|| format!("queue depth: claim {n}"))?
            .with_context(|| format!("queue depth: claim {n} of {claims} found no job"))?;
        ensure!(
            job.queue == QUEUE && job.status.as_str() == "running",
            "queue depth: claim {n} returned {} of `{}`, {}",
            job.id,
            job.queue,
            job.status.as_str()
        );
    }
    Ok((latencies, started.elapsed()))
}

/// The nearest-rank percentile `p` (0 to 1) of sorted latencies, in ms.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// What to insert: finished jobs are rows `1..=finished`, queued ones follow.
struct Seed {
    queued: u64,
    finished: u64,
    /// When seeding started (ms): the queued jobs were created in the minute before.
    now: i64,
}

impl Seed {
    /// One transaction on one connection (SQLite has a single writer anyway), unsynced: only
    /// the claims need production settings, and they go through the store.
    async fn sqlite(&self, url: &str) -> anyhow::Result<()> {
        let mut conn = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Off)
            .pragma("cache_size", "-262144")
            .connect()
            .await?;
        let mut tx = conn.begin().await?;
        for sql in self.statements(Dialect::Sqlite, 1) {
            sqlx::raw_sql(&sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        // A server's WAL is checkpointed as it goes, so claims should not read through a
        // gigabyte of it; synced, so that the kernel flushing the seed's pages does not
        // slow the claims down.
        sqlx::raw_sql("ANALYZE; PRAGMA synchronous = FULL; PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(())
    }

    /// Row ranges inserted over two connections at once (one per core of the bench machine).
    async fn postgres(&self, url: &str) -> anyhow::Result<()> {
        const PARALLEL: u32 = 2;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(PARALLEL)
            .connect(url)
            .await?;
        let mut inserts = tokio::task::JoinSet::new();
        for sql in self.statements(Dialect::Postgres, u64::from(PARALLEL)) {
            let pool = pool.clone();
            inserts.spawn(async move { sqlx::raw_sql(&sql).execute(&pool).await });
        }
        while let Some(done) = inserts.join_next().await {
            done??;
        }
        sqlx::raw_sql("VACUUM ANALYZE jobs").execute(&pool).await?;
        // Flushes the seed now rather than in a checkpoint during the claims.
        sqlx::raw_sql("CHECKPOINT").execute(&pool).await?;
        pool.close().await;
        Ok(())
    }

    /// The inserts, each group cut into `parts` row ranges.
    fn statements(&self, dialect: Dialect, parts: u64) -> Vec<String> {
        let mut out = Vec::new();
        let groups = [
            (Group::Finished, self.finished, 0),
            (Group::Queued, self.queued, self.finished),
        ];
        for (group, rows, offset) in groups {
            let per_part = rows.div_ceil(parts).max(1);
            let mut first = 1;
            while first <= rows {
                let last = (first + per_part - 1).min(rows);
                out.push(self.insert(dialect, group, first, last, offset));
                first = last + 1;
            }
        }
        out
    }

    /// Inserts rows `first..=last` of `group`. Each row number `g` gets its creation time `t`
    /// spread evenly over the group's span, and an id from `g + offset` (unique across
    /// groups).
    fn insert(&self, dialect: Dialect, group: Group, first: u64, last: u64, offset: u64) -> String {
        let (rows, span, from) = match group {
            Group::Finished => (
                self.finished,
                FINISHED_SPAN_MS,
                self.now - QUEUED_SPAN_MS - FINISHED_SPAN_MS,
            ),
            Group::Queued => (self.queued, QUEUED_SPAN_MS, self.now - QUEUED_SPAN_MS),
        };
        let (with, series) = match dialect {
            Dialect::Postgres => (
                String::new(),
                format!("generate_series(CAST({first} AS BIGINT), {last}) AS s(g)"),
            ),
            Dialect::Sqlite => (
                format!(
                    "WITH RECURSIVE s(g) AS (SELECT {first} UNION ALL SELECT g + 1 FROM s WHERE g < {last}) "
                ),
                "s".to_string(),
            ),
        };
        // 56 bits of a bijective hash of the row number stand in for the ULID's random part.
        let hash = format!("((g + {offset}) * 25214903917) & 72057594037927935");
        let ulid = match dialect {
            Dialect::Postgres => {
                format!("lpad(to_hex(t), 12, '0') || lpad(to_hex({hash}), 14, '0')")
            }
            Dialect::Sqlite => format!("printf('%012x%014x', t, {hash})"),
        };
        let (columns, values) = group.columns_values();
        format!(
            "{with}INSERT INTO jobs ({columns}) SELECT {values} \
             FROM (SELECT g, t, g % 100 AS r, {ulid} AS u \
             FROM (SELECT g, {from} + g * {span} / {rows} AS t FROM {series}) AS a) AS b"
        )
    }
}

#[derive(Debug, Clone, Copy)]
enum Group {
    Finished,
    Queued,
}

impl Group {
    /// The columns a group fills and their values, over the row number `g`, creation time
    /// `t`, id suffix `u` and `r = g % 100`. Every NOT NULL column is filled, and the ones a
    /// job of that status would have.
    fn columns_values(self) -> (&'static str, String) {
        let common = format!(
            "'job_' || u, '{QUEUE}', '{KIND}', \
             '{{\"generation_id\":\"gen_' || u || '\",\"retention_days\":7}}'"
        );
        match self {
            // 90% succeeded, 5% failed after every attempt, 3% expired in the queue and 2%
            // canceled while queued. Runs took 2 to 7 s after a wait of up to a second.
            Group::Finished => {
                let ended = format!(
                    "CASE WHEN r < 95 THEN t + 2000 + g % 5000 \
                     WHEN r < 98 THEN t + {MAX_QUEUE_MS} ELSE t + 5000 END"
                );
                let values = format!(
                    "{common}, \
                     CASE WHEN r < 90 THEN 'succeeded' WHEN r < 95 THEN 'failed' \
                     WHEN r < 98 THEN 'expired' ELSE 'canceled' END, \
                     CASE WHEN r < 90 THEN 1 WHEN r < 95 THEN {MAX_ATTEMPTS} ELSE 0 END, \
                     {MAX_ATTEMPTS}, t, t + {MAX_QUEUE_MS}, \
                     CASE WHEN r >= 98 THEN t + 5000 END, \
                     CASE WHEN r >= 90 AND r < 95 THEN 'engine_error: the engine answered HTTP 503' END, \
                     t, CASE WHEN r < 95 THEN t + g % 1000 END, {ended}, {ended}"
                );
                (
                    "id, queue, kind, payload, status, attempts, max_attempts, run_at, \
                     expires_at, cancel_requested_at, last_error, created_at, started_at, \
                     finished_at, updated_at",
                    values,
                )
            }
            Group::Queued => (
                "id, queue, kind, payload, status, attempts, max_attempts, run_at, \
                 expires_at, created_at, updated_at",
                format!("{common}, 'queued', 0, {MAX_ATTEMPTS}, t, t + {MAX_QUEUE_MS}, t, t"),
            ),
        }
    }
}
