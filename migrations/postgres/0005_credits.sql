-- Credits: balances, the append-only ledger, and holds. Keep in lockstep with the other
-- dialect's 0005_credits.sql.
--
-- The database enforces the invariants: a balance never goes negative and never holds more
-- than it has (CHECKs, changed only by conditional UPDATEs inside the transaction that also
-- appends the ledger entry), and a hold is settled once (status moves from 'open' once).

CREATE TABLE credit_balances (
    account_id  TEXT    NOT NULL REFERENCES accounts (id),
    mode        TEXT    NOT NULL CHECK (mode IN ('test', 'live')),
    balance     BIGINT  NOT NULL CHECK (balance >= 0),
    held        BIGINT  NOT NULL CHECK (held >= 0),
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (account_id, mode),
    CHECK (held <= balance)
);

CREATE TABLE ledger_entries (
    id              TEXT    PRIMARY KEY,
    account_id      TEXT    NOT NULL REFERENCES accounts (id),
    mode            TEXT    NOT NULL CHECK (mode IN ('test', 'live')),
    type            TEXT    NOT NULL CHECK (type IN ('grant', 'purchase', 'plan_allowance', 'hold', 'capture',
                                                     'release', 'invalid_input_fee', 'refund', 'adjustment')),
    amount          BIGINT  NOT NULL,
    held_change     BIGINT  NOT NULL,
    balance_after   BIGINT  NOT NULL CHECK (balance_after >= 0),
    held_after      BIGINT  NOT NULL CHECK (held_after >= 0),
    reference_type  TEXT,
    reference_id    TEXT,
    actor_type      TEXT    NOT NULL,
    actor_id        TEXT    NOT NULL,
    reason          TEXT,
    created_at      BIGINT  NOT NULL
);
CREATE INDEX ledger_entries_list ON ledger_entries (account_id, mode, id);
-- A payment or a plan period credits an account once, however often its event arrives.
CREATE UNIQUE INDEX ledger_entries_reference ON ledger_entries (account_id, mode, type, reference_type, reference_id)
    WHERE type IN ('grant', 'purchase', 'plan_allowance') AND reference_id IS NOT NULL;

CREATE TABLE holds (
    generation_id  TEXT    PRIMARY KEY REFERENCES generations (id),
    account_id     TEXT    NOT NULL REFERENCES accounts (id),
    api_key_id     TEXT    NOT NULL REFERENCES api_keys (id),
    mode           TEXT    NOT NULL CHECK (mode IN ('test', 'live')),
    amount         BIGINT  NOT NULL CHECK (amount > 0),
    status         TEXT    NOT NULL CHECK (status IN ('open', 'captured', 'released')),
    captured       BIGINT  CHECK (captured >= 0 AND captured <= amount),
    created_at     BIGINT  NOT NULL,
    settled_at     BIGINT,
    CHECK ((status = 'open') = (settled_at IS NULL)),
    CHECK ((status = 'captured') = (captured IS NOT NULL))
);
CREATE INDEX holds_open ON holds (account_id, mode) WHERE status = 'open';
-- A key's spending in its cap's period.
CREATE INDEX holds_key_spend ON holds (api_key_id, created_at);
