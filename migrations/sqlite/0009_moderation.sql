-- Moderation and end-user compliance: strikes (moderation rejections and upheld abuse
-- reports), the end users a developer has seen misbehave or blocked, public abuse reports
-- with their response deadline, and the API request log. Keep in lockstep with the other
-- dialect's 0009_moderation.sql.

CREATE TABLE strikes (
    id               TEXT   PRIMARY KEY,
    account_id       TEXT   NOT NULL REFERENCES accounts (id),
    mode             TEXT   NOT NULL CHECK (mode IN ('test', 'live')),
    end_user         TEXT,
    source           TEXT   NOT NULL CHECK (source IN ('moderation', 'abuse_report')),
    category         TEXT   NOT NULL,
    detail           TEXT   NOT NULL,
    request_id       TEXT,
    abuse_report_id  TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX strikes_account ON strikes (account_id, mode, created_at);

-- One row per (account, mode, user id) that was blocked or struck: the strike count is
-- kept here so the list needs no aggregate over the strikes.
CREATE TABLE end_users (
    account_id      TEXT   NOT NULL REFERENCES accounts (id),
    mode            TEXT   NOT NULL CHECK (mode IN ('test', 'live')),
    end_user        TEXT   NOT NULL,
    blocked_at      BIGINT,
    blocked_reason  TEXT,
    strikes         BIGINT NOT NULL DEFAULT 0,
    last_strike_at  BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (account_id, mode, end_user)
);

CREATE TABLE abuse_reports (
    id                   TEXT   PRIMARY KEY,
    status               TEXT   NOT NULL CHECK (status IN ('open', 'resolved')),
    source               TEXT   NOT NULL CHECK (source IN ('api', 'form')),
    category             TEXT   NOT NULL,
    description          TEXT   NOT NULL,
    generation_id        TEXT,
    output_url           TEXT,
    account_id           TEXT   REFERENCES accounts (id),
    mode                 TEXT   CHECK (mode IN ('test', 'live')),
    reporter_email       TEXT,
    reporter_account_id  TEXT   REFERENCES accounts (id),
    deadline_at          BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    resolved_at          BIGINT,
    resolution           TEXT   CHECK (resolution IN ('dismissed', 'warned', 'output_removed', 'account_suspended')),
    resolution_note      TEXT,
    resolved_by          TEXT
);
CREATE INDEX abuse_reports_open ON abuse_reports (status, deadline_at);

-- Written in batches, read by its owner, purged after the retention period. Ids are
-- time-ordered (ULIDs), so the purge is a range on the primary key and needs no index of
-- its own: every index is paid for on each of the many writes.
-- WITHOUT ROWID: the rows live in the primary key's b-tree (appended at its end)
-- instead of in a second one.
CREATE TABLE request_log (
    id          TEXT    PRIMARY KEY,
    request_id  TEXT    NOT NULL,
    account_id  TEXT    NOT NULL,
    mode        TEXT    NOT NULL CHECK (mode IN ('test', 'live')),
    api_key_id  TEXT    NOT NULL,
    method      TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    end_user    TEXT,
    latency_us  BIGINT  NOT NULL,
    error_code  TEXT,
    prompt      TEXT,
    created_at  BIGINT  NOT NULL
) WITHOUT ROWID;
CREATE INDEX request_log_list ON request_log (account_id, mode, id);
