-- The member an API key acted for, beside the key itself: an audit entry names the person
-- who acted, not only the credential they used.
ALTER TABLE audit_log ADD COLUMN actor_user_id TEXT;
