-- The spine: the instance, operators, accounts, users and members, API keys, audit log.
-- Times are Unix milliseconds (BIGINT), ids are prefixed ULIDs (TEXT), JSON is TEXT.
-- Keep this file in lockstep with migrations/postgres/0001_spine.sql.

CREATE TABLE instance (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    secret      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE operators (
    id             TEXT   PRIMARY KEY,
    username       TEXT   NOT NULL UNIQUE,
    password_hash  TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    last_login_at  BIGINT
);

CREATE TABLE accounts (
    id                TEXT   PRIMARY KEY,
    name              TEXT   NOT NULL,
    legal_name        TEXT,
    contact_email     TEXT   NOT NULL,
    contact_phone     TEXT,
    address           TEXT,
    country           TEXT,
    plan              TEXT   NOT NULL,
    state             TEXT   NOT NULL CHECK (state IN ('active', 'suspended', 'terminated')),
    suspended_reason  TEXT,
    suspended_until   BIGINT,
    terminated_at     BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CHECK (state = 'suspended' OR (suspended_reason IS NULL AND suspended_until IS NULL)),
    CHECK ((state = 'terminated') = (terminated_at IS NOT NULL))
);
-- Other nodes poll recent changes to drop cached keys of suspended or changed accounts.
CREATE INDEX accounts_updated_at ON accounts (updated_at);

CREATE TABLE users (
    id                 TEXT   PRIMARY KEY,
    email              TEXT   NOT NULL,
    name               TEXT,
    password_hash      TEXT,
    adult_attested_at  BIGINT,
    terms_version      TEXT,
    terms_accepted_at  BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email),
    CHECK ((terms_version IS NULL) = (terms_accepted_at IS NULL))
);

CREATE TABLE members (
    account_id  TEXT   NOT NULL REFERENCES accounts (id),
    user_id     TEXT   NOT NULL REFERENCES users (id),
    role        TEXT   NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX members_user ON members (user_id);
CREATE INDEX members_updated_at ON members (updated_at);

CREATE TABLE api_keys (
    id              TEXT   PRIMARY KEY,
    account_id      TEXT   NOT NULL REFERENCES accounts (id),
    user_id         TEXT   NOT NULL REFERENCES users (id),
    mode            TEXT   NOT NULL CHECK (mode IN ('test', 'live')),
    name            TEXT   NOT NULL,
    scopes          TEXT   NOT NULL,
    allowed_models  TEXT,
    expires_at      BIGINT,
    revoked_at      BIGINT,
    rotated_at      BIGINT,
    last_used_at    BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX api_keys_account ON api_keys (account_id, mode, id);
CREATE INDEX api_keys_updated_at ON api_keys (updated_at);

-- A key has one current secret and, during a rotation's grace period, older ones that
-- still work until expires_at. Only SHA-256 hashes are stored.
CREATE TABLE api_key_secrets (
    hash            TEXT   PRIMARY KEY,
    key_id          TEXT   NOT NULL REFERENCES api_keys (id),
    display_prefix  TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT
);
CREATE INDEX api_key_secrets_key ON api_key_secrets (key_id, created_at);

CREATE TABLE audit_log (
    id           TEXT   PRIMARY KEY,
    account_id   TEXT   REFERENCES accounts (id),
    actor_type   TEXT   NOT NULL CHECK (actor_type IN ('operator', 'user', 'api_key', 'system')),
    actor_id     TEXT   NOT NULL,
    action       TEXT   NOT NULL,
    target_type  TEXT,
    target_id    TEXT,
    request_id   TEXT,
    details      TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
