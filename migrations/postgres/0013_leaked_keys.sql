-- Leaked keys: a key whose secret was reported found in public (GitHub secret scanning, or
-- anyone holding it through POST /v1/leaked_keys) is revoked or flagged. The key row keeps
-- why it was revoked and where the secret was found, so its owner can see both.
-- `revoked_reason` is NULL for a revocation its owner or the operator asked for.
ALTER TABLE api_keys ADD COLUMN revoked_reason TEXT;
ALTER TABLE api_keys ADD COLUMN leak_url TEXT;
ALTER TABLE api_keys ADD COLUMN leak_source TEXT;
ALTER TABLE api_keys ADD COLUMN leak_reported_at BIGINT;
