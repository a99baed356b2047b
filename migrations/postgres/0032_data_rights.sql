-- Data rights (clause 13, GDPR): account exports built in the background and downloaded
-- once, and account erasures (an owner's request after a cooling-off period, the
-- operator's at once, or a terminated account's after its retention).
-- Keep in lockstep with the other dialect's 0032_data_rights.sql.

-- One export of an account's data. A node claims a pending one (or one whose builder's
-- lease lapsed) by setting `lease_owner` and `lease_until`, builds the archive into the
-- object store at `object_path`, and marks it ready; the first download marks it
-- downloaded, and the sweep deletes the archive of downloaded, expired and failed ones.
CREATE TABLE data_exports (
    id              TEXT    PRIMARY KEY,
    account_id      TEXT    NOT NULL REFERENCES accounts (id),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'building', 'ready', 'downloaded', 'failed', 'expired')),
    requested_by    TEXT    NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until     BIGINT,
    object_path     TEXT,
    bytes           BIGINT,
    sha256          TEXT,
    counts          TEXT,
    failure_reason  TEXT,
    created_at      BIGINT  NOT NULL,
    ready_at        BIGINT,
    expires_at      BIGINT,
    downloaded_at   BIGINT,
    purged_at       BIGINT,
    updated_at      BIGINT  NOT NULL,
    CHECK ((state = 'building') = (lease_owner IS NOT NULL AND lease_until IS NOT NULL))
);
CREATE INDEX data_exports_account ON data_exports (account_id, id);
CREATE INDEX data_exports_open ON data_exports (state, lease_until) WHERE state IN ('pending', 'building');
CREATE INDEX data_exports_unpurged ON data_exports (expires_at)
    WHERE purged_at IS NULL AND object_path IS NOT NULL;

-- An account's erasure: scheduled (due at `due_at`, cancellable by the owner until then
-- when `reason` is `owner_request`), running under a lease, then done.
CREATE TABLE account_erasures (
    account_id          TEXT    PRIMARY KEY REFERENCES accounts (id),
    reason              TEXT    NOT NULL CHECK (reason IN ('owner_request', 'operator', 'terminated')),
    state               TEXT    NOT NULL CHECK (state IN ('scheduled', 'running', 'done', 'canceled')),
    requested_by        TEXT    NOT NULL,
    requested_at        BIGINT  NOT NULL,
    due_at              BIGINT  NOT NULL,
    suspended_by_request BOOLEAN NOT NULL DEFAULT FALSE,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    lease_owner         TEXT,
    lease_until         BIGINT,
    last_error          TEXT,
    canceled_at         BIGINT,
    erased_at           BIGINT,
    updated_at          BIGINT  NOT NULL,
    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_until IS NOT NULL)),
    CHECK ((state = 'done') = (erased_at IS NOT NULL))
);
CREATE INDEX account_erasures_due ON account_erasures (due_at) WHERE state IN ('scheduled', 'running');

-- An erasure deletes an account's events once no delivery refers to them: found by this
-- index, not by reading every delivery of every account for each event.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- The audit log stays append-only, with one exception: an erasure replaces the personal
-- data in an entry's details and target (an end user's id), once, marking it redacted. Nothing else of an entry ever
-- changes, and entries are never deleted or truncated.
ALTER TABLE audit_log ADD COLUMN redacted_at BIGINT;
CREATE FUNCTION audit_log_redact_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
        AND NEW.id IS NOT DISTINCT FROM OLD.id
        AND NEW.account_id IS NOT DISTINCT FROM OLD.account_id
        AND NEW.actor_type IS NOT DISTINCT FROM OLD.actor_type
        AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
        AND NEW.action IS NOT DISTINCT FROM OLD.action
        AND NEW.target_type IS NOT DISTINCT FROM OLD.target_type
        AND NEW.request_id IS NOT DISTINCT FROM OLD.request_id
        AND NEW.created_at IS NOT DISTINCT FROM OLD.created_at
        AND NEW.actor_user_id IS NOT DISTINCT FROM OLD.actor_user_id
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
DROP TRIGGER audit_log_no_update ON audit_log;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_redact_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
