//! SQL text shared by both dialects (`$n` placeholders work in SQLite and PostgreSQL).
//!
//! Times are bound from Rust (Unix ms), never computed in SQL, so no date function differs.

pub const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, name, legal_name, contact_email, contact_phone, address, \
     country, plan, state, live_blocked, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $10, $9, $9)";

pub const SELECT_ACCOUNT: &str = "SELECT id, name, legal_name, contact_email, contact_phone, address, country, plan, state, \
     suspended_reason, suspended_until, terminated_at, created_at, updated_at, requests_per_minute, requests_per_day, \
     concurrent_jobs, live_blocked FROM accounts WHERE id = $1";

pub const ACCOUNTS_FROM: &str = "SELECT id, name, legal_name, contact_email, contact_phone, address, country, plan, state, \
     suspended_reason, suspended_until, terminated_at, created_at, updated_at, requests_per_minute, requests_per_day, \
     concurrent_jobs, live_blocked FROM accounts";

pub const SET_PLAN: &str = "UPDATE accounts SET plan = $2, requests_per_minute = $3, requests_per_day = $4, \
     concurrent_jobs = $5, updated_at = $6 WHERE id = $1";

/// Only when no cool-down is running at `$4` (none, or it ended at or before now: the API
/// refuses a key while `cooldown_until > now`). On PostgreSQL a racing second UPDATE waits
/// for the first's row lock and then re-checks this condition on the new row, so of several
/// nodes exactly one starts it.
pub const START_KEY_COOLDOWN: &str = "UPDATE api_keys SET cooldown_until = $3, updated_at = $4 \
     WHERE account_id = $1 AND id = $2 AND (cooldown_until IS NULL OR cooldown_until <= $4)";

pub const UPDATE_ACCOUNT_STATE: &str = "UPDATE accounts SET state = $2, suspended_reason = $3, suspended_until = $4, \
     terminated_at = $5, updated_at = $6 WHERE id = $1";

pub const INSERT_USER: &str = "INSERT INTO users (id, email, name, password_hash, adult_attested_at, terms_version, \
     terms_accepted_at, created_at, updated_at, terms_accepted_ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)";

pub const SELECT_USER: &str = "SELECT id, email, name, adult_attested_at, terms_version, terms_accepted_at, created_at, \
     email_verified_at FROM users WHERE id = $1";

pub const SELECT_USER_LOGIN: &str = "SELECT id, email, name, adult_attested_at, terms_version, terms_accepted_at, \
     created_at, email_verified_at, password_hash FROM users WHERE email = $1";

pub const SELECT_MEMBERSHIPS: &str = "SELECT m.role AS member_role, a.id, a.name, a.legal_name, a.contact_email, \
     a.contact_phone, a.address, a.country, a.plan, a.state, a.suspended_reason, a.suspended_until, a.terminated_at, \
     a.created_at, a.updated_at, a.requests_per_minute, a.requests_per_day, a.concurrent_jobs, a.live_blocked \
     FROM members m JOIN accounts a ON a.id = m.account_id WHERE m.user_id = $1 ORDER BY m.created_at, a.id";

pub const VERIFY_USER_EMAIL: &str = "UPDATE users SET email_verified_at = $3, updated_at = $3 \
     WHERE id = $1 AND email = $2 AND email_verified_at IS NULL";

/// Moves `updated_at` too, so every node drops the credentials it caches for these accounts
/// (their live keys start working).
pub const OPEN_OWNED_UNVERIFIED_ACCOUNTS: &str = "UPDATE accounts SET live_blocked = $2, updated_at = $3 \
     WHERE live_blocked = 'unverified' \
     AND id IN (SELECT account_id FROM members WHERE user_id = $1 AND role = 'owner') RETURNING id";

pub const SET_USER_PASSWORD: &str =
    "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1";

pub const APPROVE_ACCOUNT: &str = "UPDATE accounts SET live_blocked = NULL, updated_at = $2 \
     WHERE id = $1 AND live_blocked = 'approval'";

pub const SET_ACCOUNT_DETAILS: &str = "UPDATE accounts SET name = $2, legal_name = $3, contact_email = $4, \
     contact_phone = $5, address = $6, country = $7, updated_at = $8 WHERE id = $1";

pub const SELECT_USER_ID_BY_EMAIL: &str = "SELECT id FROM users WHERE email = $1";

pub const INSERT_INVITATION: &str = "INSERT INTO invitations (id, account_id, email, role, token_hash, invited_by, \
     created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

pub const INVITATIONS_FROM: &str = "SELECT i.id, i.account_id, a.name, i.email, i.role, i.invited_by, \
     COALESCE(u.email, ''), i.created_at, i.expires_at, i.accepted_at, i.revoked_at \
     FROM invitations i JOIN accounts a ON a.id = i.account_id LEFT JOIN users u ON u.id = i.invited_by";

/// Takes a pending, unexpired invitation for acceptance at `$2`; no row if it is not.
pub const TAKE_INVITATION: &str = "UPDATE invitations SET accepted_at = $2 \
     WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
     RETURNING id, account_id, email, role";

pub const REVOKE_INVITATION: &str = "UPDATE invitations SET revoked_at = $3 \
     WHERE account_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL";

pub const SET_INVITATION_ACCEPTED_BY: &str =
    "UPDATE invitations SET accepted_by = $2 WHERE id = $1";

/// The password of someone who never set one, and their address as verified (an
/// invitation's link proved it).
pub const SET_MISSING_PASSWORD: &str = "UPDATE users SET password_hash = COALESCE(password_hash, $2), \
     email_verified_at = COALESCE(email_verified_at, $3), updated_at = $3 WHERE id = $1";

pub const INSERT_MEMBER_IF_ABSENT: &str = "INSERT INTO members (account_id, user_id, role, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (account_id, user_id) DO NOTHING";

pub const SELECT_MEMBER_ROLE: &str =
    "SELECT role FROM members WHERE account_id = $1 AND user_id = $2";

pub const INSERT_MEMBER: &str = "INSERT INTO members (account_id, user_id, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)";

pub const MEMBER_COLUMNS_FROM: &str = "SELECT m.account_id, m.user_id, u.email, m.role, m.created_at \
     FROM members m JOIN users u ON u.id = m.user_id";

/// Orders members by role, most powerful first.
pub const ROLE_RANK: &str =
    "CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'developer' THEN 2 ELSE 3 END";

pub const COUNT_OWNERS: &str =
    "SELECT COUNT(*) FROM members WHERE account_id = $1 AND role = 'owner'";

pub const UPDATE_MEMBER_ROLE: &str =
    "UPDATE members SET role = $3, updated_at = $4 WHERE account_id = $1 AND user_id = $2";

pub const DELETE_MEMBER: &str = "DELETE FROM members WHERE account_id = $1 AND user_id = $2";

/// Marks an account changed when a change leaves no `updated_at` of its own to poll (a
/// deleted row): nodes caching anything of the account learn of it through this.
pub const TOUCH_ACCOUNT: &str = "UPDATE accounts SET updated_at = $2 WHERE id = $1";

/// Revokes a member's working keys; returns their ids (each gets a `key.revoked` event).
pub const REVOKE_MEMBER_KEYS: &str = "UPDATE api_keys SET revoked_at = $3, updated_at = $3 \
     WHERE account_id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id";

/// Revokes an account's working keys; returns their ids (each gets a `key.revoked` event).
pub const REVOKE_ACCOUNT_KEYS: &str = "UPDATE api_keys SET revoked_at = $2, updated_at = $2 WHERE account_id = $1 AND revoked_at IS NULL RETURNING id";

/// Working keys expiring in (`$1`, `$2`] not yet told `key.expiring`, soonest first, at
/// most `$3` (the partial index `api_keys_expiring` holds exactly these).
pub const EXPIRING_KEYS: &str = "SELECT id, account_id FROM api_keys \
     WHERE expires_at IS NOT NULL AND revoked_at IS NULL AND expiring_notified_at IS NULL \
     AND expires_at > $1 AND expires_at <= $2 ORDER BY expires_at, id LIMIT $3";

/// Claims a key's `key.expiring` notice: only the first sweep to get here changes the row.
pub const MARK_KEY_EXPIRING_NOTIFIED: &str = "UPDATE api_keys SET expiring_notified_at = $2 \
     WHERE id = $1 AND expiring_notified_at IS NULL AND revoked_at IS NULL";

pub const INSERT_KEY: &str = "INSERT INTO api_keys (id, account_id, user_id, mode, name, scopes, allowed_models, \
     expires_at, created_at, updated_at, spend_cap_credits, spend_cap_period) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)";

pub const INSERT_SECRET: &str = "INSERT INTO api_key_secrets (hash, key_id, display_prefix, created_at) VALUES ($1, $2, $3, $4)";

/// A key with its current secret's display prefix and the expiry of rotated-out secrets.
pub const KEY_COLUMNS_FROM: &str = "SELECT k.id, k.account_id, k.user_id, k.mode, k.name, k.scopes, k.allowed_models, \
     k.spend_cap_credits, k.spend_cap_period, k.expires_at, k.revoked_at, k.rotated_at, k.last_used_at, k.created_at, k.cooldown_until, \
     k.revoked_reason, k.leak_url, k.leak_source, k.leak_reported_at, \
     (SELECT s.display_prefix FROM api_key_secrets s WHERE s.key_id = k.id AND s.expires_at IS NULL \
        ORDER BY s.created_at DESC LIMIT 1) AS display_prefix, \
     (SELECT MAX(s.expires_at) FROM api_key_secrets s WHERE s.key_id = k.id) AS previous_secret_expires_at \
     FROM api_keys k";

/// `$3` is the mode, or NULL for any mode (operator tools).
pub const KEY_SCOPE_FILTER: &str =
    "k.account_id = $1 AND k.id = $2 AND ($3 IS NULL OR k.mode = $3)";

pub const LIST_KEYS_FILTER: &str = "k.account_id = $1 AND ($2 IS NULL OR k.mode = $2)";

pub const EXPIRE_CURRENT_SECRETS: &str = "UPDATE api_key_secrets SET expires_at = $2 \
     WHERE key_id = $1 AND (expires_at IS NULL OR expires_at > $2)";

pub const MARK_KEY_ROTATED: &str =
    "UPDATE api_keys SET rotated_at = $2, updated_at = $2 WHERE id = $1";

pub const MARK_KEY_REVOKED: &str =
    "UPDATE api_keys SET revoked_at = $2, updated_at = $2 WHERE id = $1";

/// The key and account of a secret, and when the secret stops working (rotated out).
pub const FIND_SECRET_KEY: &str = "SELECT s.key_id, k.account_id, s.expires_at FROM api_key_secrets s \
     JOIN api_keys k ON k.id = s.key_id WHERE s.hash = $1";

/// Revokes a key for a leak, unless it is revoked already (`$3` url, `$4` source).
pub const REVOKE_LEAKED_KEY: &str = "UPDATE api_keys SET revoked_at = $2, updated_at = $2, \
     revoked_reason = 'leaked', leak_url = $3, leak_source = $4, leak_reported_at = $2 \
     WHERE id = $1 AND revoked_at IS NULL";

/// Flags a working key as leaked, unless it is flagged or revoked already.
pub const FLAG_LEAKED_KEY: &str = "UPDATE api_keys SET updated_at = $2, \
     leak_url = $3, leak_source = $4, leak_reported_at = $2 \
     WHERE id = $1 AND revoked_at IS NULL AND leak_reported_at IS NULL";

pub const SELECT_CREDENTIAL: &str = "SELECT k.id, k.account_id, k.user_id, k.mode, k.name, k.scopes, k.allowed_models, \
     k.spend_cap_credits, k.spend_cap_period, k.expires_at, k.revoked_at, k.rotated_at, k.last_used_at, k.created_at, k.cooldown_until, \
     k.revoked_reason, k.leak_url, k.leak_source, k.leak_reported_at, \
     s.display_prefix, CAST(NULL AS BIGINT) AS previous_secret_expires_at, s.expires_at AS secret_expires_at, m.role AS member_role, \
     a.state AS account_state, a.suspended_until AS account_suspended_until, a.plan AS account_plan, \
     a.requests_per_minute AS account_requests_per_minute, a.requests_per_day AS account_requests_per_day, \
     a.concurrent_jobs AS account_concurrent_jobs, a.live_blocked AS account_live_blocked \
     FROM api_key_secrets s \
     JOIN api_keys k ON k.id = s.key_id \
     JOIN accounts a ON a.id = k.account_id \
     LEFT JOIN members m ON m.account_id = k.account_id AND m.user_id = k.user_id \
     WHERE s.hash = $1";

/// Never moves backwards: a late flush from a slow node cannot overwrite a newer time.
pub const TOUCH_KEY: &str = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";

pub const CHANGED_ACCOUNTS: &str = "SELECT account_id, MAX(updated_at) AS changed_at FROM ( \
     SELECT id AS account_id, updated_at FROM accounts WHERE updated_at >= $1 \
     UNION ALL SELECT account_id, updated_at FROM members WHERE updated_at >= $1 \
     UNION ALL SELECT account_id, updated_at FROM api_keys WHERE updated_at >= $1 \
     ) c GROUP BY account_id";

pub const INSERT_AUDIT: &str = "INSERT INTO audit_log (id, account_id, actor_type, actor_id, action, target_type, \
     target_id, request_id, details, created_at, actor_user_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

pub const AUDIT_COLUMNS_FROM: &str = "SELECT id, account_id, actor_type, actor_id, action, target_type, target_id, \
     request_id, details, created_at, actor_user_id FROM audit_log";

pub const INSERT_INSTANCE: &str =
    "INSERT INTO instance (id, secret, created_at) VALUES (1, $1, $2) ON CONFLICT DO NOTHING";

pub const SELECT_INSTANCE_SECRET: &str = "SELECT secret FROM instance WHERE id = 1";

pub const INSERT_OPERATOR: &str =
    "INSERT INTO operators (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)";

pub const SELECT_OPERATOR: &str =
    "SELECT id, username, password_hash, last_login_at FROM operators WHERE username = $1";

pub const UPDATE_OPERATOR_LOGIN: &str = "UPDATE operators SET last_login_at = $2 WHERE id = $1";

pub const SELECT_OPERATOR_BY_ID: &str =
    "SELECT id, username, password_hash, last_login_at FROM operators WHERE id = $1";

pub const UPDATE_OPERATOR_PASSWORD: &str = "UPDATE operators SET password_hash = $2 WHERE id = $1";

pub const INSERT_CONSOLE_SESSION: &str = "INSERT INTO console_sessions (id_hash, principal_kind, principal_id, \
     created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)";

/// A live session: not revoked, neither expiry reached.
pub const SELECT_LIVE_CONSOLE_SESSION: &str = "SELECT id_hash, principal_kind, principal_id, created_at, \
     last_seen_at, idle_expires_at, expires_at, ip, user_agent FROM console_sessions \
     WHERE id_hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2";

pub const TOUCH_CONSOLE_SESSION: &str = "UPDATE console_sessions SET last_seen_at = $2, idle_expires_at = $3 \
     WHERE id_hash = $1 AND revoked_at IS NULL";

pub const REVOKE_CONSOLE_SESSION: &str =
    "UPDATE console_sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL";

pub const REVOKE_PRINCIPAL_SESSIONS: &str = "UPDATE console_sessions SET revoked_at = $3 \
     WHERE principal_kind = $1 AND principal_id = $2 AND revoked_at IS NULL";

pub const REVOKE_OTHER_SESSIONS: &str = "UPDATE console_sessions SET revoked_at = $3 \
     WHERE principal_kind = $1 AND principal_id = $2 AND revoked_at IS NULL AND id_hash <> $4";

/// A principal's live sessions, most recently used first (the `console_sessions_principal`
/// index finds them).
pub const SELECT_PRINCIPAL_SESSIONS: &str = "SELECT id_hash, principal_kind, principal_id, created_at, \
     last_seen_at, idle_expires_at, expires_at, ip, user_agent FROM console_sessions \
     WHERE principal_kind = $1 AND principal_id = $2 AND revoked_at IS NULL AND expires_at > $3 \
     AND idle_expires_at > $3 ORDER BY last_seen_at DESC, id_hash LIMIT 50";

pub const PURGE_CONSOLE_SESSIONS: &str = "DELETE FROM console_sessions \
     WHERE revoked_at IS NOT NULL OR expires_at <= $1 OR idle_expires_at <= $1";

pub const INSERT_USED_FORM_TOKEN: &str = "INSERT INTO used_form_tokens (token_hash, form, expires_at) \
     VALUES ($1, $2, $3) ON CONFLICT (token_hash) DO NOTHING";

pub const PURGE_USED_FORM_TOKENS: &str = "DELETE FROM used_form_tokens WHERE expires_at <= $1";

pub const JOB_COLUMNS: &str = "id, queue, kind, payload, status, attempts, max_attempts, run_at, expires_at, \
     lease_owner, lease_until, cancel_requested_at, last_error, created_at, started_at, finished_at";

pub const INSERT_JOB: &str = "INSERT INTO jobs (id, queue, kind, payload, status, attempts, max_attempts, run_at, \
     expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $8, $8)";

/// Claims the oldest runnable job of queue `$1` for worker `$2` until `$3`, at time `$4`.
/// `{lock}` is the dialect's row-locking clause (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
/// concurrent claimers pass over each other's rows; nothing on SQLite's single writer).
/// The subquery walks `jobs_claim` (queue, run_at, id) WHERE status = 'queued'.
pub const CLAIM_JOB: &str = "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $2, \
     lease_until = $3, started_at = COALESCE(started_at, $4), updated_at = $4 \
     WHERE id = (SELECT id FROM jobs WHERE queue = $1 AND status = 'queued' AND run_at <= $4 \
     AND (expires_at IS NULL OR expires_at > $4) ORDER BY run_at, id LIMIT 1{lock}) RETURNING {columns}";

pub const HEARTBEAT_JOB: &str = "UPDATE jobs SET lease_until = $3, updated_at = $4 \
     WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING cancel_requested_at";

pub const COMPLETE_JOB: &str = "UPDATE jobs SET status = 'succeeded', lease_owner = NULL, lease_until = NULL, \
     finished_at = $3, updated_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

/// A failure: back to the queue at `$4` if a retry time is given and attempts remain,
/// else failed for good. One statement, so the attempt count and the decision agree.
/// A job asked to cancel while it ran ends canceled rather than going back to the queue.
pub const FAIL_JOB: &str = "UPDATE jobs SET \
     status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'canceled' \
                   WHEN $4 IS NOT NULL AND attempts < max_attempts THEN 'queued' ELSE 'failed' END, \
     finished_at = CASE WHEN cancel_requested_at IS NULL AND $4 IS NOT NULL AND attempts < max_attempts \
                   THEN NULL ELSE $5 END, \
     run_at = COALESCE($4, run_at), last_error = $3, lease_owner = NULL, lease_until = NULL, updated_at = $5 \
     WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING status";

pub const FINISH_CANCELED_JOB: &str = "UPDATE jobs SET status = 'canceled', lease_owner = NULL, lease_until = NULL, \
     finished_at = $3, updated_at = $3 WHERE id = $1 AND lease_owner = $2 AND status = 'running'";

pub const CANCEL_QUEUED_JOB: &str = "UPDATE jobs SET status = 'canceled', cancel_requested_at = $2, finished_at = $2, \
     updated_at = $2 WHERE id = $1 AND status = 'queued'";

pub const REQUEST_JOB_CANCEL: &str = "UPDATE jobs SET cancel_requested_at = COALESCE(cancel_requested_at, $2), \
     updated_at = $2 WHERE id = $1 AND status = 'running'";

/// Leases that ran out: the worker died or hung. Requeued (the attempt already counted),
/// or ended if it was asked to cancel or has no attempts left.
pub const REAP_LEASES: &str = "UPDATE jobs SET \
     status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'canceled' \
                   WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
     finished_at = CASE WHEN cancel_requested_at IS NOT NULL OR attempts >= max_attempts THEN $1 ELSE NULL END, \
     last_error = CASE WHEN cancel_requested_at IS NULL \
                       THEN 'lease expired: the worker stopped sending heartbeats' ELSE last_error END, \
     lease_owner = NULL, lease_until = NULL, run_at = $1, updated_at = $1 \
     WHERE status = 'running' AND lease_until < $1 RETURNING {columns}";

pub const EXPIRE_JOBS: &str = "UPDATE jobs SET status = 'expired', finished_at = $1, updated_at = $1 \
     WHERE status = 'queued' AND expires_at <= $1 RETURNING {columns}";

/// Queued jobs ahead of one in its queue (the claim order: run_at, then id).
/// Counting stops at [`crate::JOBS_AHEAD_CAP`] so that a position in a very deep queue
/// costs a bounded walk of `jobs_claim`, not a count of the whole queue.
pub const JOBS_AHEAD: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE queue = $1 AND status = 'queued' \
     AND (run_at < $2 OR (run_at = $2 AND id < $3)) LIMIT $4) ahead";

/// Queued jobs of queue `$1` due by `$2`: what a job created at `$2` finds ahead of it.
pub const JOBS_DUE: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE queue = $1 AND status = 'queued' \
     AND run_at <= $2 LIMIT $3) due";

pub const QUEUED_COUNT: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE queue = $1 AND status = 'queued' \
     LIMIT $2) queued";

/// Jobs that ended without succeeding while their generation is still open.
pub const UNSETTLED_GENERATION_JOBS: &str = "SELECT {columns} FROM jobs WHERE id IN (SELECT g.job_id FROM generations g \
     JOIN jobs j ON j.id = g.job_id WHERE g.status IN ('queued', 'running') \
     AND j.status IN ('failed', 'canceled', 'expired') LIMIT $1)";

/// Outputs past their retention, oldest first.
pub const EXPIRED_OUTPUTS: &str = "SELECT generation_id, idx, path, content_type, width, height, duration_ms, bytes, \
     expires_at, deleted_at FROM outputs WHERE deleted_at IS NULL AND expires_at <= $1 ORDER BY expires_at LIMIT $2";

pub const MARK_OUTPUT_DELETED: &str = "UPDATE outputs SET deleted_at = $3 WHERE generation_id = $1 AND idx = $2 AND deleted_at IS NULL";

pub const SELECT_OUTPUT: &str = "SELECT generation_id, idx, path, content_type, width, height, duration_ms, bytes, \
     expires_at, deleted_at FROM outputs WHERE generation_id = $1 AND idx = $2";

/// Forgets a key's row if it is past its lifetime, or in flight past its lock (the request
/// that held it died), so the key can be used afresh.
pub const IDEMPOTENCY_FORGET_STALE: &str = "DELETE FROM idempotency_keys WHERE account_id = $1 AND mode = $2 \
     AND key = $3 AND (created_at < $4 OR (status IS NULL AND locked_until < $5))";

pub const IDEMPOTENCY_INSERT: &str = "INSERT INTO idempotency_keys (account_id, mode, key, request_hash, locked_until, \
     created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";

pub const IDEMPOTENCY_SELECT: &str = "SELECT request_hash, status, response FROM idempotency_keys \
     WHERE account_id = $1 AND mode = $2 AND key = $3";

pub const IDEMPOTENCY_FINISH: &str = "UPDATE idempotency_keys SET status = $4, response = $5, locked_until = NULL \
     WHERE account_id = $1 AND mode = $2 AND key = $3 AND status IS NULL";

pub const IDEMPOTENCY_RELEASE: &str = "DELETE FROM idempotency_keys WHERE account_id = $1 AND mode = $2 AND key = $3 \
     AND status IS NULL";

/// A generation row's columns, as `GenerationRow` reads them.
macro_rules! generation_columns {
    () => {
        "id, account_id, api_key_id, mode, model, kind, status, input, end_user, \
         metadata, licence, credits_estimated, credits_charged, error_code, error_message, job_id, created_at, started_at, \
         finished_at, deleted_at, engine_usage"
    };
}

pub const GENERATIONS_FROM: &str = concat!("SELECT ", generation_columns!(), " FROM generations");

pub const OUTPUTS_FROM: &str = "SELECT generation_id, idx, path, content_type, width, height, duration_ms, bytes, \
     expires_at, deleted_at FROM outputs";

pub const INSERT_OUTPUT: &str = "INSERT INTO outputs (generation_id, idx, path, content_type, width, height, \
     duration_ms, bytes, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

pub const INSERT_EVENT: &str = "INSERT INTO events (id, account_id, mode, type, data, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

pub const EVENTS_FROM: &str = "SELECT id, account_id, mode, type, data, created_at FROM events";

/// Marks the queued generation of job `$1` running at `$2`; returns it (no row if it was
/// not queued). A generation that has not run yet has no outputs to read with it.
pub const GENERATION_RUNNING: &str = concat!(
    "UPDATE generations SET status = 'running', started_at = COALESCE(started_at, $2), \
     updated_at = $2 WHERE job_id = $1 AND status = 'queued' RETURNING ",
    generation_columns!()
);

/// Ends the open generation of job `$1` succeeded; returns its id (no row if it had
/// ended).
pub const GENERATION_SUCCEEDED: &str = "UPDATE generations SET status = 'succeeded', credits_charged = $2, \
     finished_at = $3, updated_at = $3 WHERE job_id = $1 AND status IN ('queued', 'running') RETURNING id";

pub const GENERATION_ENDED: &str = "UPDATE generations SET status = $2, error_code = $3, error_message = $4, \
     credits_charged = 0, finished_at = $5, updated_at = $5 WHERE job_id = $1 AND status IN ('queued', 'running')";

pub const GENERATION_DELETED: &str =
    "UPDATE generations SET deleted_at = $2, updated_at = $2 WHERE id = $1 AND deleted_at IS NULL";

pub const OUTPUTS_DELETED: &str =
    "UPDATE outputs SET deleted_at = $2 WHERE generation_id = $1 AND deleted_at IS NULL";

/// Adds `$3` to a balance, creating it at `$3`.
pub const ADD_CREDITS: &str = "INSERT INTO credit_balances (account_id, mode, balance, held, updated_at) \
     VALUES ($1, $2, $3, 0, $4) ON CONFLICT (account_id, mode) DO UPDATE \
     SET balance = credit_balances.balance + excluded.balance, updated_at = excluded.updated_at \
     RETURNING balance, held";

pub const SELECT_BALANCE: &str =
    "SELECT balance, held FROM credit_balances WHERE account_id = $1 AND mode = $2";

/// What a key has spent since `$2`: open holds at their amount, captured ones at what
/// they took, released ones not at all.
pub const KEY_SPENT_SINCE: &str = "SELECT CAST(COALESCE(SUM(CASE status WHEN 'open' THEN amount \
     WHEN 'captured' THEN captured ELSE 0 END), 0) AS BIGINT) FROM holds WHERE api_key_id = $1 AND created_at >= $2";

/// Settles an open hold once: only the first settlement changes the row.
pub const SETTLE_HOLD: &str = "UPDATE holds SET status = $2, captured = $3, settled_at = $4 \
     WHERE generation_id = $1 AND status = 'open' RETURNING account_id, mode, amount";

/// Spends `$3` and frees `$4` of what is held.
pub const APPLY_SETTLEMENT: &str = "UPDATE credit_balances SET balance = balance - $3, held = held - $4, updated_at = $5 \
     WHERE account_id = $1 AND mode = $2 RETURNING balance, held";

pub const INSERT_LEDGER: &str = "INSERT INTO ledger_entries (id, account_id, mode, type, amount, held_change, \
     balance_after, held_after, reference_type, reference_id, actor_type, actor_id, reason, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

pub const LEDGER_FROM: &str = "SELECT id, account_id, mode, type, amount, held_change, balance_after, held_after, \
     reference_type, reference_id, actor_type, actor_id, reason, created_at FROM ledger_entries";

pub const SELECT_ACCOUNT_STATE: &str = "SELECT state FROM accounts WHERE id = $1";

/// Succeeded generations of an account and mode finished in [`$3`, `$4`), by UTC day,
/// model and key. `credits_charged` is what the capture took, so the sums match the ledger.
pub const USAGE_BY_DAY: &str = "SELECT finished_at / 86400000 AS day, model, api_key_id, COUNT(*) AS generations, \
     CAST(COALESCE(SUM(credits_charged), 0) AS BIGINT) AS credits FROM generations \
     WHERE account_id = $1 AND mode = $2 AND status = 'succeeded' AND finished_at >= $3 AND finished_at < $4 \
     GROUP BY finished_at / 86400000, model, api_key_id ORDER BY day, model, api_key_id";

/// Spends `$3` if the available balance covers it; no row if it does not.
pub const SPEND_AVAILABLE: &str = "UPDATE credit_balances SET balance = balance - $3, updated_at = $4 \
     WHERE account_id = $1 AND mode = $2 AND balance - held >= $3 RETURNING balance, held";

pub const GENERATION_CHARGED: &str = "UPDATE generations SET credits_charged = $2 WHERE id = $1";

// Moderation: strikes, end users, abuse reports, the request log.

pub const INSERT_STRIKE: &str = "INSERT INTO strikes (id, account_id, mode, end_user, source, category, detail, \
     request_id, abuse_report_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

pub const STRIKE_END_USER: &str = "INSERT INTO end_users (account_id, mode, end_user, strikes, last_strike_at, \
     created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4, $4) ON CONFLICT (account_id, mode, end_user) \
     DO UPDATE SET strikes = end_users.strikes + 1, last_strike_at = $4, updated_at = $4";

pub const COUNT_LIVE_STRIKES_SINCE: &str =
    "SELECT COUNT(*) FROM strikes WHERE account_id = $1 AND mode = 'live' AND created_at > $2";

pub const END_USER_COLUMNS: &str = "SELECT account_id, mode, end_user, blocked_at, blocked_reason, strikes, \
     last_strike_at, created_at, updated_at FROM end_users";

pub const BLOCK_END_USER: &str = "INSERT INTO end_users (account_id, mode, end_user, blocked_at, blocked_reason, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $4, $4) ON CONFLICT (account_id, mode, end_user) \
     DO UPDATE SET blocked_at = COALESCE(end_users.blocked_at, $4), blocked_reason = $5, updated_at = $4";

pub const UNBLOCK_END_USER: &str = "UPDATE end_users SET blocked_at = NULL, blocked_reason = NULL, updated_at = $4 \
     WHERE account_id = $1 AND mode = $2 AND end_user = $3";

pub const END_USER_BLOCKED: &str = "SELECT blocked_at FROM end_users WHERE account_id = $1 AND mode = $2 \
     AND end_user = $3 AND blocked_at IS NOT NULL";

pub const ABUSE_REPORT_COLUMNS: &str = "SELECT id, status, source, category, description, generation_id, output_url, \
     account_id, mode, reporter_email, reporter_account_id, deadline_at, created_at, resolved_at, resolution, \
     resolution_note, resolved_by FROM abuse_reports";

pub const INSERT_ABUSE_REPORT: &str = "INSERT INTO abuse_reports (id, status, source, category, description, \
     generation_id, output_url, account_id, mode, reporter_email, reporter_account_id, deadline_at, created_at) \
     VALUES ($1, 'open', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

pub const RESOLVE_ABUSE_REPORT: &str = "UPDATE abuse_reports SET status = 'resolved', resolved_at = $2, \
     resolution = $3, resolution_note = $4, resolved_by = $5 WHERE id = $1 AND status = 'open'";

pub const REQUEST_LOG_COLUMNS: &str = "SELECT id, request_id, account_id, mode, api_key_id, method, path, status, \
     end_user, latency_us, error_code, prompt, created_at FROM request_log";

/// `$1` is the id floor of the cutoff time: ids sort by time (see `IdKind::floor`).
pub const PURGE_REQUEST_LOG: &str = "DELETE FROM request_log WHERE id IN \
     (SELECT id FROM request_log WHERE id < $1 ORDER BY id LIMIT $2)";

// Webhook endpoints.

pub const WEBHOOK_ENDPOINT_COLUMNS: &str = "SELECT id, account_id, mode, url, description, enabled_events, secret, \
     previous_secret, previous_secret_expires_at, disabled_at, disabled_reason, failing_since, created_at, \
     updated_at FROM webhook_endpoints";

pub const INSERT_WEBHOOK_ENDPOINT: &str = "INSERT INTO webhook_endpoints (id, account_id, mode, url, description, \
     enabled_events, secret, disabled_at, disabled_reason, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)";

pub const UPDATE_WEBHOOK_ENDPOINT: &str = "UPDATE webhook_endpoints SET url = $2, description = $3, \
     enabled_events = $4, disabled_at = $5, disabled_reason = $6, failing_since = $7, updated_at = $8 WHERE id = $1";

/// The outbox half of an event insert, bound like [`INSERT_EVENT`] ($5, the data, unused):
/// one pending delivery per enabled endpoint of the account and mode subscribed to the
/// type. `{id}` is the dialect's expression for a delivery id (`whd_`, the event id's time
/// part, 16 random hex digits); `{contains}` its test that `$4` is one of an endpoint's
/// comma-bracketed types.
macro_rules! insert_event_deliveries {
    ($id:literal, $contains:literal) => {
        concat!(
            "INSERT INTO webhook_deliveries (id, endpoint_id, account_id, mode, event_id, event_type, \
             state, attempts, manual, next_attempt_at, locked_until, created_at, updated_at) \
             SELECT ",
            $id,
            ", e.id, $2, $3, $1, $4, 'pending', 0, FALSE, $6, 0, $6, $6 FROM webhook_endpoints e \
             WHERE e.account_id = $2 AND e.mode = $3 AND e.deleted_at IS NULL AND e.disabled_at IS NULL \
             AND (e.enabled_events = '*' OR ",
            $contains,
            ")"
        )
    };
}

/// SQLite: deliveries for an event, a second statement after [`INSERT_EVENT`].
pub const SQLITE_INSERT_EVENT_DELIVERIES: &str = insert_event_deliveries!(
    "'whd_' || substr($1, 5, 10) || lower(hex(randomblob(8)))",
    "instr(e.enabled_events, ',' || $4 || ',') > 0"
);

/// PostgreSQL: the event and its deliveries in one statement (one round trip, as before
/// webhooks existed).
pub const PG_INSERT_EVENT_WITH_DELIVERIES: &str = concat!(
    "WITH event AS (INSERT INTO events (id, account_id, mode, type, data, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)) ",
    insert_event_deliveries!(
        "'whd_' || substr($1, 5, 10) || substr(md5(random()::text), 1, 16)",
        "strpos(e.enabled_events, ',' || $4 || ',') > 0"
    )
);

/// An endpoint, deleted or not, with its account's state (what a delivery must check).
pub const WEBHOOK_ENDPOINT_STATE: &str = "SELECT e.id, e.account_id, e.mode, e.url, e.description, \
     e.enabled_events, e.secret, e.previous_secret, e.previous_secret_expires_at, e.disabled_at, \
     e.disabled_reason, e.failing_since, e.created_at, e.updated_at, e.deleted_at IS NOT NULL AS deleted, \
     a.state AS account_state FROM webhook_endpoints e JOIN accounts a ON a.id = e.account_id";

pub const WEBHOOK_DELIVERY_COLUMNS: &str = "id, endpoint_id, account_id, mode, event_id, event_type, state, \
     attempts, manual, next_attempt_at, locked_until, last_attempt_at, last_status, last_error, created_at, updated_at";

/// [`WEBHOOK_DELIVERY_COLUMNS`] as a reader sees them: a pending delivery of an endpoint
/// the circuit breaker holds is next attempted when the hold ends (a replay asked for by
/// hand goes anyway).
pub const WEBHOOK_DELIVERY_SHOWN_COLUMNS: &str = "id, endpoint_id, account_id, mode, event_id, event_type, state, \
     attempts, manual, COALESCE((SELECT e.held_until FROM webhook_endpoints e \
     WHERE e.id = webhook_deliveries.endpoint_id AND e.held_until > webhook_deliveries.next_attempt_at \
     AND webhook_deliveries.state = 'pending' AND NOT webhook_deliveries.manual), next_attempt_at) AS next_attempt_at, \
     locked_until, last_attempt_at, last_status, last_error, created_at, updated_at";

pub const WEBHOOK_ATTEMPT_COLUMNS: &str = "SELECT id, delivery_id, attempted_at, status_code, latency_ms, \
     response_body, error, manual FROM webhook_attempts";

pub const INSERT_WEBHOOK_ATTEMPT: &str = "INSERT INTO webhook_attempts (id, delivery_id, attempted_at, \
     status_code, latency_ms, response_body, error, manual) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// Moves a leased delivery on after an attempt: `$2` state, `$3` attempts made, `$4` next
/// attempt, `$5` manual flag; only while `$9` still holds the lease.
pub const WEBHOOK_DELIVERY_ATTEMPTED: &str = "UPDATE webhook_deliveries SET state = $2, attempts = $3, \
     next_attempt_at = $4, manual = $5, last_attempt_at = $6, last_status = $7, last_error = $8, \
     locked_until = 0, locked_by = NULL, updated_at = $6 WHERE id = $1 AND locked_by = $9 AND state = 'pending'";

/// The circuit breaker: an endpoint's deliveries wait until `$2` (the one just attempted
/// keeps its retry time, which is never earlier). Claims read it (`ENDPOINT_NOT_HELD`).
pub const HOLD_ENDPOINT: &str = "UPDATE webhook_endpoints SET held_until = $2 \
     WHERE id = $1 AND (held_until IS NULL OR held_until < $2)";

/// A delivery (`d`, or the unqualified row) whose endpoint is not held by the circuit
/// breaker at `$1`; a replay asked for by hand goes anyway. Held endpoints are few: the
/// subquery reads a handful of rows.
macro_rules! endpoint_not_held {
    () => {
        "(manual OR endpoint_id NOT IN (SELECT id FROM webhook_endpoints WHERE held_until > $1))"
    };
}

/// Fails every pending delivery of a disabled endpoint (`$2` the reason); ones in flight
/// are left to their attempt, which finds the endpoint disabled next time.
pub const FAIL_ENDPOINT_DELIVERIES: &str = "UPDATE webhook_deliveries SET state = 'failed', last_error = $2, \
     locked_until = 0, locked_by = NULL, updated_at = $3 WHERE endpoint_id = $1 AND state = 'pending' AND locked_until <= $3";

/// `$from, $from+1, …` for an `IN (…)` list of `n` values.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub const GENERATION_ENGINE_USAGE: &str = "UPDATE generations SET engine_usage = $2 WHERE id = $1";

// Group commit (see `common::group_commit`): a batch of creations reads what its checks
// need for every account in it (`$1`, a JSON array of account ids), then writes every
// admitted creation from `$1`, a JSON array of `group_commit::Row`s, with one statement
// per table whatever the batch size. SQLite unpacks JSON with `json_each`, PostgreSQL with
// `jsonb_array_elements_text` / `jsonb_to_recordset`.

/// The writes of a batch, one statement each, reading the admitted rows as `r`. Jobs
/// before generations before holds, and events before deliveries (SQLite checks foreign
/// keys per statement).
macro_rules! creation_writes {
    ($deliveries_id:literal, $contains:literal) => {
        [
            "INSERT INTO jobs (id, queue, kind, payload, status, attempts, max_attempts, run_at, \
             expires_at, created_at, updated_at) SELECT job_id, queue, job_kind, payload, 'queued', 0, \
             max_attempts, run_at, expires_at, created_at, created_at FROM r",
            "INSERT INTO generations (id, account_id, api_key_id, mode, model, kind, status, input, \
             end_user, metadata, licence, credits_estimated, job_id, created_at, updated_at) \
             SELECT id, account_id, api_key_id, mode, model, kind, 'queued', input, end_user, metadata, \
             licence, credits, job_id, created_at, created_at FROM r",
            "INSERT INTO events (id, account_id, mode, type, data, created_at) \
             SELECT event_id, account_id, mode, 'generation.queued', event_data, created_at FROM r",
            concat!(
                "INSERT INTO webhook_deliveries (id, endpoint_id, account_id, mode, event_id, event_type, \
                 state, attempts, manual, next_attempt_at, locked_until, created_at, updated_at) SELECT ",
                $deliveries_id,
                ", e.id, r.account_id, r.mode, r.event_id, 'generation.queued', 'pending', 0, FALSE, \
                 r.created_at, 0, r.created_at, r.created_at FROM r JOIN webhook_endpoints e \
                 ON e.account_id = r.account_id AND e.mode = r.mode \
                 WHERE e.deleted_at IS NULL AND e.disabled_at IS NULL AND (e.enabled_events = '*' OR ",
                $contains,
                ")"
            ),
            "INSERT INTO holds (generation_id, account_id, api_key_id, mode, amount, status, created_at) \
             SELECT id, account_id, api_key_id, mode, credits, 'open', created_at FROM r WHERE credits > 0",
            "INSERT INTO ledger_entries (id, account_id, mode, type, amount, held_change, balance_after, \
             held_after, reference_type, reference_id, actor_type, actor_id, reason, created_at) \
             SELECT ledger_id, account_id, mode, 'hold', 0, credits, balance_after, held_after, \
             'generation', id, actor_type, api_key_id, NULL, created_at FROM r WHERE credits > 0",
        ]
    };
}

/// The balance half of a batch's writes: each account's holds added to its `held`.
macro_rules! creation_balances {
    () => {
        "UPDATE credit_balances SET held = credit_balances.held + s.total, updated_at = s.at \
         FROM (SELECT account_id, mode, CAST(SUM(credits) AS BIGINT) AS total, MAX(created_at) AS at \
         FROM r WHERE credits > 0 GROUP BY account_id, mode) s \
         WHERE credit_balances.account_id = s.account_id AND credit_balances.mode = s.mode"
    };
}

/// SQLite: the admitted rows of `$1`, unpacked once into a temporary table that every
/// write then reads as `r`. (`->>` on a `json_each` element renders the element to text
/// and parses it again, per field: done in each of seven statements it was a sixth of the
/// write path's CPU.) Temporary tables are transactional: a batch rolled back leaves none
/// of its rows, and each batch starts by emptying it anyway.
const SQLITE_CREATION_ROWS: &str = "CREATE TEMP TABLE IF NOT EXISTS creation_rows (id, account_id, \
     api_key_id, mode, model, kind, input, end_user, metadata, licence, credits, job_id, queue, job_kind, \
     payload, max_attempts, run_at, expires_at, created_at, event_id, event_data, ledger_id, actor_type, \
     balance_after, held_after);\n\
     DELETE FROM temp.creation_rows;\n\
     INSERT INTO temp.creation_rows SELECT value ->> 'id', value ->> 'account_id', \
     value ->> 'api_key_id', value ->> 'mode', value ->> 'model', value ->> 'kind', value ->> 'input', \
     value ->> 'end_user', value ->> 'metadata', value ->> 'licence', value ->> 'credits', \
     value ->> 'job_id', value ->> 'queue', value ->> 'job_kind', value ->> 'payload', \
     value ->> 'max_attempts', value ->> 'run_at', value ->> 'expires_at', value ->> 'created_at', \
     value ->> 'event_id', value ->> 'event_data', value ->> 'ledger_id', value ->> 'actor_type', \
     value ->> 'balance_after', value ->> 'held_after' FROM json_each($1);\n";

const SQLITE_CREATION_WRITES: [&str; 6] = creation_writes!(
    "'whd_' || substr(r.event_id, 5, 10) || lower(hex(randomblob(8)))",
    "instr(e.enabled_events, ',generation.queued,') > 0"
);

/// SQLite: every write of a batch, as one query of ten statements (sqlx binds `$1` where
/// it appears): one call into sqlx's SQLite thread for the whole batch.
pub static SQLITE_WRITE_CREATIONS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut sql = String::from(SQLITE_CREATION_ROWS);
    for write in SQLITE_CREATION_WRITES.iter().chain([&creation_balances!()]) {
        sql.push_str("WITH r AS (SELECT * FROM temp.creation_rows) ");
        sql.push_str(write);
        sql.push_str(";\n");
    }
    sql
});

/// A batch's balances and open generations (counted by triggers, see migration 0019), for
/// the accounts of `$1` (a JSON array): `$among` is the dialect's membership test on it;
/// `$lock` locks the rows (PostgreSQL).
macro_rules! creation_reads {
    ($among:literal, $lock:literal) => {
        (
            concat!(
                "SELECT account_id, mode, balance, held FROM credit_balances WHERE account_id ",
                $among,
                " ORDER BY account_id, mode",
                $lock
            ),
            concat!(
                "SELECT account_id, mode, open FROM open_generations WHERE account_id ",
                $among,
                " ORDER BY account_id, mode",
                $lock
            ),
        )
    };
}

pub const SQLITE_CREATION_READS: (&str, &str) =
    creation_reads!("IN (SELECT value FROM json_each($1))", "");

const PG_CREATION_WRITES: [&str; 6] = creation_writes!(
    "'whd_' || substr(r.event_id, 5, 10) || substr(md5(random()::text), 1, 16)",
    "strpos(e.enabled_events, ',generation.queued,') > 0"
);

/// PostgreSQL: every write of a batch in one statement (data-modifying CTEs; foreign keys
/// are checked at its end, when every row is there).
pub static PG_WRITE_CREATIONS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut sql = String::from(
        "WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id text, account_id text, \
         api_key_id text, mode text, model text, kind text, input text, end_user text, metadata text, \
         licence text, credits bigint, job_id text, queue text, job_kind text, payload text, \
         max_attempts integer, run_at bigint, expires_at bigint, created_at bigint, event_id text, \
         event_data text, ledger_id text, actor_type text, balance_after bigint, held_after bigint))",
    );
    for (i, write) in PG_CREATION_WRITES.iter().enumerate() {
        sql.push_str(&format!(", w{i} AS ({write})"));
    }
    sql.push(' ');
    sql.push_str(creation_balances!());
    sql
});

// PostgreSQL tests membership in a JSON array `$1` as
// `= ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))`, never as
// `IN (SELECT jsonb_array_elements_text(…))`: the planner sizes a set-returning function at
// 100 rows and then prefers a hash semi-join over a sequential scan of the whole table
// (3.4 ms against 0.08 ms for three ids among 20,000 rows; the tables here grow with every
// account, lease and delivery).

/// PostgreSQL: locks the batch's accounts in id order (two nodes' batches then wait for
/// each other instead of deadlocking), as `lock_account` does for one.
pub const PG_CREATION_LOCK_ACCOUNTS: &str = "SELECT id FROM accounts \
     WHERE id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) ORDER BY id FOR NO KEY UPDATE";

/// PostgreSQL: the open-generation counters, then the balances, are locked (after the
/// accounts, in key order) so that the checks and the ledger's running balances see the
/// last committed settlement; counters before balances, the order in which a generation's
/// end takes them (migration 0019).
pub const PG_CREATION_READS: (&str, &str) = creation_reads!(
    "= ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))",
    " FOR NO KEY UPDATE"
);

/// Per queue of `$1` (a JSON array), when its earliest queued job is due: a correlated
/// `MIN` each, which walks the `jobs_claim` index to its first entry.
macro_rules! next_due {
    ($queues:literal) => {
        concat!(
            "SELECT q.queue, (SELECT MIN(run_at) FROM jobs WHERE queue = q.queue AND status = 'queued') \
             FROM (",
            $queues,
            ") q"
        )
    };
}

pub const SQLITE_NEXT_DUE: &str = next_due!("SELECT value AS queue FROM json_each($1)");
pub const PG_NEXT_DUE: &str = next_due!("SELECT jsonb_array_elements_text($1::jsonb) AS queue");

/// When the earliest pending delivery can be sent, as of `$1`: the first entry of
/// `webhook_deliveries_due` whose endpoint is not held (it may be locked by an attempt in
/// flight), or the end of the earliest hold.
pub const NEXT_DELIVERY_DUE: &str = concat!(
    "SELECT MIN(t) FROM (SELECT MIN(next_attempt_at) AS t FROM webhook_deliveries \
     WHERE state = 'pending' AND ",
    endpoint_not_held!(),
    " UNION ALL SELECT MIN(held_until) AS t FROM webhook_endpoints WHERE held_until > $1) due"
);

/// Due deliveries (`$1` now, `$2` at most), oldest first, whose endpoint is not held.
pub const DUE_WEBHOOK_DELIVERIES: &str = concat!(
    "SELECT id, endpoint_id FROM webhook_deliveries WHERE state = 'pending' \
     AND next_attempt_at <= $1 AND locked_until <= $1 AND ",
    endpoint_not_held!()
);

/// PostgreSQL: the endpoint of each delivery of `$1` (a JSON array of ids); membership as
/// `= ANY` (see the note above `PG_CREATION_LOCK_ACCOUNTS`).
pub const PG_DELIVERY_ENDPOINTS: &str = "SELECT id, endpoint_id FROM webhook_deliveries \
     WHERE id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))";
