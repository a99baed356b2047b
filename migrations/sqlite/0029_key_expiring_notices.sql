-- `key.expiring`: when the notice that a key expires soon was written. The periodic sweep
-- sets it with a compare-and-set UPDATE in the transaction that writes the event, so each
-- key is told once however many nodes sweep at the same moment. The index holds only the
-- keys still waiting for their notice, which is all the sweep ever reads.
-- Keep in lockstep with the other dialect's 0029_key_expiring_notices.sql.
ALTER TABLE api_keys ADD COLUMN expiring_notified_at BIGINT;
CREATE INDEX api_keys_expiring ON api_keys (expires_at)
    WHERE expires_at IS NOT NULL AND revoked_at IS NULL AND expiring_notified_at IS NULL;
