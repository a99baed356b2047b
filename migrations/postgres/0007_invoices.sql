-- Monthly invoices: one per account, mode and UTC calendar month, numbered without gaps.
-- Keep in lockstep with the other dialect's 0007_invoices.sql.
--
-- Numbers come from a counter row per series ("EASEL-2026"), incremented in the transaction
-- that inserts the invoice: concurrent issuers queue on that row (PostgreSQL's row lock,
-- SQLite's single writer) and a rolled-back issue rolls its number back too. A sequence
-- would leave a gap on every rollback. An invoice is a snapshot: the seller's and buyer's
-- details, the lines and the amounts (credits and exact euros, 1 credit = €0.001) never
-- change after it is issued.

CREATE TABLE invoice_counters (
    series       TEXT    PRIMARY KEY,
    next_number  BIGINT  NOT NULL CHECK (next_number >= 1)
);

CREATE TABLE invoices (
    id                TEXT    PRIMARY KEY,
    number            TEXT    NOT NULL,
    account_id        TEXT    NOT NULL REFERENCES accounts (id),
    mode              TEXT    NOT NULL CHECK (mode IN ('test', 'live')),
    period            TEXT    NOT NULL CHECK (length(period) = 7),
    period_start      BIGINT  NOT NULL,
    period_end        BIGINT  NOT NULL CHECK (period_end > period_start),
    currency          TEXT    NOT NULL CHECK (currency = 'eur'),
    seller            TEXT    NOT NULL,
    buyer             TEXT    NOT NULL,
    subtotal_credits  BIGINT  NOT NULL CHECK (subtotal_credits > 0),
    subtotal_eur      TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('issued')),
    issued_at         BIGINT  NOT NULL,
    CONSTRAINT invoices_number_key UNIQUE (number),
    -- Issued exactly once, however many nodes or operators try.
    CONSTRAINT invoices_period_key UNIQUE (account_id, mode, period)
);
CREATE INDEX invoices_list ON invoices (account_id, mode, id);

CREATE TABLE invoice_lines (
    invoice_id          TEXT    NOT NULL REFERENCES invoices (id),
    idx                 INTEGER NOT NULL CHECK (idx >= 0),
    kind                TEXT    NOT NULL CHECK (kind IN ('generation', 'invalid_input_fee')),
    model               TEXT,
    quantity            BIGINT  NOT NULL CHECK (quantity > 0),
    unit_price_credits  BIGINT  NOT NULL CHECK (unit_price_credits >= 0),
    unit_price_eur      TEXT    NOT NULL,
    amount_credits      BIGINT  NOT NULL CHECK (amount_credits >= 0),
    amount_eur          TEXT    NOT NULL,
    PRIMARY KEY (invoice_id, idx),
    CHECK (amount_credits = quantity * unit_price_credits),
    CHECK ((kind = 'generation') = (model IS NOT NULL))
);

-- What a month's invoice (and the usage report) reads: succeeded generations by finish
-- time, and invalid-input fees by charge time.
CREATE INDEX generations_billed ON generations (account_id, mode, finished_at) WHERE status = 'succeeded';
CREATE INDEX ledger_entries_fees ON ledger_entries (account_id, mode, created_at) WHERE type = 'invalid_input_fee';
