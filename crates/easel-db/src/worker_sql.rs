//! SQL text of the worker store, shared by both dialects (`$n` placeholders work in SQLite
//! and PostgreSQL). Times are bound from Rust (Unix ms), never computed in SQL.
//!
//! `workers.updated_at` moves only when a token's standing changes (created, revoked,
//! quarantined), so a node caching workers can poll it; check-ins, version reports and
//! counters leave it alone.

/// The columns of a `Worker`, in `WorkerRow` order (the token hash is never read back).
macro_rules! worker_columns {
    () => {
        "id, name, display_prefix, models, serving, version, created_at, last_seen_at, revoked_at, \
         jobs_done, jobs_failed, leases_lost, quarantined_until"
    };
}

/// The columns of a `WorkerLease`, in `LeaseRow` order.
macro_rules! lease_columns {
    () => {
        "id, worker_id, job_id, attempt, claimed_at, deadline_at, lease_until, ended_at, outcome, \
         completion_digest"
    };
}

pub const INSERT_WORKER: &str = "INSERT INTO workers (id, name, token_hash, display_prefix, models, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)";

pub const LIST_WORKERS: &str = concat!("SELECT ", worker_columns!(), " FROM workers ORDER BY name");

/// By id or by name; an id wins over another worker's name that happens to spell it.
pub const SELECT_WORKER: &str = concat!(
    "SELECT ",
    worker_columns!(),
    " FROM workers WHERE id = $1 OR name = $1 ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1"
);

pub const SELECT_WORKER_BY_TOKEN: &str = concat!(
    "SELECT ",
    worker_columns!(),
    " FROM workers WHERE token_hash = $1"
);

/// Only a live token: on PostgreSQL a racing second revoke waits for the first's row lock,
/// re-checks, and changes nothing, so the audit log gets one entry.
pub const REVOKE_WORKER: &str =
    "UPDATE workers SET revoked_at = $2, updated_at = $2 WHERE id = $1 AND revoked_at IS NULL";

/// A check-in at `$2` with an optional version `$3` and served models `$4` (JSON): written
/// only when the last one is older than `$5` (= now - the minimum gap) or something
/// reported changed. `last_seen_at` never moves backwards (nodes' clocks differ a little).
pub const TOUCH_WORKER: &str = "UPDATE workers SET \
     last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < $2 THEN $2 ELSE last_seen_at END, \
     version = COALESCE($3, version), serving = COALESCE($4, serving) \
     WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $5 \
     OR ($3 IS NOT NULL AND (version IS NULL OR version <> $3)) \
     OR ($4 IS NOT NULL AND serving <> $4))";

/// Part of a heartbeat: the worker was seen at `$2` (never backwards).
pub const SEE_WORKER: &str = "UPDATE workers SET last_seen_at = $2 \
     WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $2)";

/// Adds to a worker's counters (`$2` done, `$3` failed, `$4` lost); returns its quarantine.
/// On PostgreSQL this also locks the worker's row, which the sweep relies on.
pub const COUNT_ON_WORKER: &str = "UPDATE workers SET jobs_done = jobs_done + $2, \
     jobs_failed = jobs_failed + $3, leases_lost = leases_lost + $4 WHERE id = $1 \
     RETURNING quarantined_until";

pub const QUARANTINE_WORKER: &str =
    "UPDATE workers SET quarantined_until = $2, updated_at = $3 WHERE id = $1";

/// Claims the oldest runnable job of queue `$1` under lease `$2` until `$3`, at `$4`: the
/// internal claim (`sql::CLAIM_JOB`) plus clearing the previous holder's progress.
/// `{lock}` is the dialect's row-locking clause, `{columns}` the job columns.
pub const CLAIM_FOR_WORKER: &str = "UPDATE jobs SET status = 'running', attempts = attempts + 1, \
     lease_owner = $2, lease_until = $3, started_at = COALESCE(started_at, $4), updated_at = $4, \
     progress = NULL, progress_message = NULL \
     WHERE id = (SELECT id FROM jobs WHERE queue = $1 AND status = 'queued' AND run_at <= $4 \
     AND (expires_at IS NULL OR expires_at > $4) ORDER BY run_at, id LIMIT 1{lock}) RETURNING {columns}";

pub const SELECT_LEASE: &str = concat!(
    "SELECT ",
    lease_columns!(),
    " FROM worker_leases WHERE id = $1"
);

/// The lease the job's `lease_owner` names, while the job runs.
pub const OPEN_LEASE_OF_JOB: &str = concat!(
    "SELECT ",
    lease_columns!(),
    " FROM worker_leases WHERE job_id = $1 AND id = \
     (SELECT lease_owner FROM jobs WHERE id = $1 AND status = 'running')"
);

/// Every claim bumps the job's attempts, so the highest attempt is the latest lease
/// (index worker_leases_job); the rest only breaks ties nothing should produce.
pub const LATEST_LEASE_OF_JOB: &str = concat!(
    "SELECT ",
    lease_columns!(),
    " FROM worker_leases WHERE job_id = $1 ORDER BY attempt DESC, claimed_at DESC, id DESC LIMIT 1"
);

/// Extends job `$1` held by lease `$2` to `$3` at `$6`, with progress `$4` and message `$5`
/// (NULL keeps the last reported value).
pub const HEARTBEAT_LEASE: &str = "UPDATE jobs SET lease_until = $3, \
     progress = COALESCE($4, progress), progress_message = COALESCE($5, progress_message), \
     updated_at = $6 WHERE id = $1 AND lease_owner = $2 AND status = 'running' \
     RETURNING cancel_requested_at";

pub const EXTEND_LEASE: &str =
    "UPDATE worker_leases SET lease_until = $2 WHERE id = $1 AND ended_at IS NULL";

/// Ends open lease `$1` at `$2` with outcome `$3` (and digest `$4`) and adds `$5` done,
/// `$6` failed, `$7` lost to its worker; returns the worker, or no row if the lease had
/// ended. SQLite: two statements in one query (the count first, while the lease is still
/// open), one call into sqlx's SQLite thread.
pub const SQLITE_END_LEASE_COUNTED: &str = "UPDATE workers SET jobs_done = jobs_done + $5, \
     jobs_failed = jobs_failed + $6, leases_lost = leases_lost + $7 \
     WHERE id = (SELECT worker_id FROM worker_leases WHERE id = $1 AND ended_at IS NULL);\n\
     UPDATE worker_leases SET ended_at = $2, outcome = $3, completion_digest = $4 \
     WHERE id = $1 AND ended_at IS NULL RETURNING worker_id;";

/// PostgreSQL: one statement; the lease's row is locked, then its worker's, as before.
pub const PG_END_LEASE_COUNTED: &str = "WITH ended AS (UPDATE worker_leases SET ended_at = $2, \
     outcome = $3, completion_digest = $4 WHERE id = $1 AND ended_at IS NULL RETURNING worker_id) \
     UPDATE workers SET jobs_done = jobs_done + $5, jobs_failed = jobs_failed + $6, \
     leases_lost = leases_lost + $7 FROM ended WHERE workers.id = ended.worker_id \
     RETURNING workers.id";

/// Open leases whose end is before `$2` and whose job they no longer hold, marked lost at
/// `$1`. `ended_at IS NULL` makes each one counted once: on PostgreSQL a concurrent sweep
/// waits for the row, re-checks, and passes over it.
pub const SWEEP_LOST_LEASES: &str = "UPDATE worker_leases SET ended_at = $1, outcome = 'lost' \
     WHERE ended_at IS NULL AND lease_until < $2 AND NOT EXISTS (SELECT 1 FROM jobs j \
     WHERE j.id = worker_leases.job_id AND j.status = 'running' AND j.lease_owner = worker_leases.id) \
     RETURNING id, worker_id";

/// A worker's leases lost after `$2` (index worker_leases_lost).
pub const COUNT_LOST_SINCE: &str = "SELECT COUNT(*) FROM worker_leases \
     WHERE worker_id = $1 AND outcome = 'lost' AND ended_at > $2";

/// The progress of a running job, only while a worker's lease holds it (an internal runner
/// never reports any, and must not show a former remote holder's).
pub const JOB_PROGRESS: &str = "SELECT j.progress, j.progress_message FROM jobs j \
     JOIN worker_leases l ON l.id = j.lease_owner AND l.job_id = j.id \
     WHERE j.id = $1 AND j.status = 'running'";

/// PostgreSQL: locks the workers holding the leases of `$1` (a JSON array of lease ids),
/// in id order.
pub const PG_LOCK_LEASE_WORKERS: &str = "SELECT w.id FROM workers w WHERE w.id IN \
     (SELECT l.worker_id FROM worker_leases l WHERE l.id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))) \
     ORDER BY w.id FOR NO KEY UPDATE";

// A batch of claims (`WorkerStore::claim_for_worker`, group-committed): each claim takes
// its jobs one `CLAIM_FOR_WORKER` at a time (the claim order and `SKIP LOCKED` need it),
// then the batch writes every lease, starts every generation and records every
// `generation.running` event with one statement each, from a JSON array `$1`.

/// The leases of a batch, from `$1`: objects with the `worker_leases` columns below.
macro_rules! insert_claimed_leases {
    ($rows:literal) => {
        concat!(
            "INSERT INTO worker_leases (id, worker_id, job_id, attempt, claimed_at, deadline_at, \
             lease_until) SELECT id, worker_id, job_id, attempt, claimed_at, deadline_at, lease_until FROM ",
            $rows
        )
    };
}

pub const SQLITE_INSERT_CLAIMED_LEASES: &str = insert_claimed_leases!(
    "(SELECT value ->> 'id' AS id, value ->> 'worker_id' AS worker_id, value ->> 'job_id' AS job_id, \
     value ->> 'attempt' AS attempt, value ->> 'claimed_at' AS claimed_at, \
     value ->> 'deadline_at' AS deadline_at, value ->> 'lease_until' AS lease_until FROM json_each($1))"
);

pub const PG_INSERT_CLAIMED_LEASES: &str = insert_claimed_leases!(
    "jsonb_to_recordset($1::jsonb) AS r(id text, worker_id text, job_id text, attempt integer, \
     claimed_at bigint, deadline_at bigint, lease_until bigint)"
);

/// Marks running the queued generations of the jobs in `$1` (objects `{job, at}`), each at
/// its claim's time; returns them. A generation already running (an earlier lease lapsed)
/// or ended is not returned.
/// `$among` restricts the rows to the batch's jobs in a form the planner looks up by
/// index: on PostgreSQL a join on `jsonb_to_recordset` alone was planned as a scan of every
/// open generation (4.1 ms at 12,000 open; 0.7 ms with `= ANY`, checked with EXPLAIN
/// ANALYZE), the trap noted above `PG_CREATION_LOCK_ACCOUNTS`.
macro_rules! start_claimed_generations {
    ($rows:literal, $among:literal) => {
        concat!(
            "UPDATE generations SET status = 'running', started_at = COALESCE(generations.started_at, r.at), \
             updated_at = r.at FROM ",
            $rows,
            " WHERE generations.job_id = r.job AND generations.job_id ",
            $among,
            " AND generations.status = 'queued' RETURNING ",
            generation_columns!()
        )
    };
}

pub const SQLITE_START_CLAIMED_GENERATIONS: &str = start_claimed_generations!(
    "(SELECT value ->> 'job' AS job, value ->> 'at' AS at FROM json_each($1)) AS r",
    "IN (SELECT value ->> 'job' FROM json_each($1))"
);

pub const PG_START_CLAIMED_GENERATIONS: &str = start_claimed_generations!(
    "jsonb_to_recordset($1::jsonb) AS r(job text, at bigint)",
    "= ANY(ARRAY(SELECT jsonb_array_elements($1::jsonb) ->> 'job'))"
);

/// Events of `$1` (objects `{id, account_id, mode, type, data, at}`, `data` a JSON text)
/// with their webhook deliveries to the endpoints that subscribe to their type.
macro_rules! insert_events_with_deliveries {
    ($delivery_id:literal, $contains:literal) => {
        concat!(
            "INSERT INTO webhook_deliveries (id, endpoint_id, account_id, mode, event_id, event_type, \
             state, attempts, manual, next_attempt_at, locked_until, created_at, updated_at) SELECT ",
            $delivery_id,
            ", e.id, r.account_id, r.mode, r.id, r.type, 'pending', 0, FALSE, r.at, 0, r.at, r.at \
             FROM r JOIN webhook_endpoints e ON e.account_id = r.account_id AND e.mode = r.mode \
             WHERE e.deleted_at IS NULL AND e.disabled_at IS NULL AND (e.enabled_events = '*' OR ",
            $contains,
            ")"
        )
    };
}

/// SQLite: two statements in one query (sqlx binds `$1` in each): one call into sqlx's
/// SQLite thread.
pub const SQLITE_INSERT_EVENTS: &str = concat!(
    "INSERT INTO events (id, account_id, mode, type, data, created_at) SELECT value ->> 'id', \
     value ->> 'account_id', value ->> 'mode', value ->> 'type', value ->> 'data', value ->> 'at' \
     FROM json_each($1);\n\
     WITH r AS (SELECT value ->> 'id' AS id, value ->> 'account_id' AS account_id, \
     value ->> 'mode' AS mode, value ->> 'type' AS type, value ->> 'at' AS at FROM json_each($1)) ",
    insert_events_with_deliveries!(
        "'whd_' || substr(r.id, 5, 10) || lower(hex(randomblob(8)))",
        "instr(e.enabled_events, ',' || r.type || ',') > 0"
    ),
    ";"
);

/// PostgreSQL: one statement (the deliveries' foreign key on the event is checked at its
/// end).
pub const PG_INSERT_EVENTS: &str = concat!(
    "WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id text, account_id text, mode text, \
     type text, data text, at bigint)), ev AS (INSERT INTO events (id, account_id, mode, type, data, \
     created_at) SELECT id, account_id, mode, type, data, at FROM r) ",
    insert_events_with_deliveries!(
        "'whd_' || substr(r.id, 5, 10) || substr(md5(random()::text), 1, 16)",
        "strpos(e.enabled_events, ',' || r.type || ',') > 0"
    )
);
