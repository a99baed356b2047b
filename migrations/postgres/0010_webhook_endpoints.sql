-- Webhook endpoints: where an account's events are delivered, per mode. The signing
-- secret is kept as `whsec_…` (it must be readable to sign); during a rotation's overlap
-- the previous secret signs too, until `previous_secret_expires_at`. `enabled_events` is
-- `*` or a comma-bracketed list (`,generation.succeeded,credits.granted,`) so both
-- dialects can match one type with LIKE. Keep in lockstep with the other dialect's
-- 0010_webhook_endpoints.sql.

CREATE TABLE webhook_endpoints (
    id                          TEXT   PRIMARY KEY,
    account_id                  TEXT   NOT NULL REFERENCES accounts (id),
    mode                        TEXT   NOT NULL CHECK (mode IN ('test', 'live')),
    url                         TEXT   NOT NULL,
    description                 TEXT   NOT NULL,
    enabled_events              TEXT   NOT NULL,
    secret                      TEXT   NOT NULL,
    previous_secret             TEXT,
    previous_secret_expires_at  BIGINT,
    disabled_at                 BIGINT,
    disabled_reason             TEXT,
    failing_since               BIGINT,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL,
    deleted_at                  BIGINT
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id, mode, id);
