-- Request limits: per-account overrides of the plan's limits (NULL: the plan's), a key's
-- cool-down after persistent violation, and the index that counts an account's open
-- generations (the concurrent-jobs limit). Keep in lockstep with the other dialect's
-- 0008_limits.sql.

ALTER TABLE accounts ADD COLUMN requests_per_minute BIGINT CHECK (requests_per_minute > 0);
ALTER TABLE accounts ADD COLUMN requests_per_day BIGINT CHECK (requests_per_day > 0);
ALTER TABLE accounts ADD COLUMN concurrent_jobs BIGINT CHECK (concurrent_jobs > 0);
ALTER TABLE api_keys ADD COLUMN cooldown_until BIGINT;
CREATE INDEX generations_account_open ON generations (account_id, mode) WHERE status IN ('queued', 'running');
