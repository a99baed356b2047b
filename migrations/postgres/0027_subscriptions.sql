-- Plans paid as Stripe subscriptions (the console's Plans page). One row per account: the
-- subscription paying for its plan now, or the last one it had. Stripe's webhooks keep it
-- current; `last_event_at` (the newest applied event's `created`) makes a late, older event
-- change nothing. While a renewal payment has failed, `past_due_since` holds when it first
-- did; the sweep mails `notices_sent` notices and then suspends the account once
-- (`suspended_at`), which a successful payment lifts.
-- Keep in lockstep with the other dialect's 0027_subscriptions.sql.
CREATE TABLE subscriptions (
    account_id            TEXT    PRIMARY KEY REFERENCES accounts (id),
    subscription_id       TEXT    NOT NULL UNIQUE,
    customer_id           TEXT    NOT NULL,
    plan                  TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    current_period_end    BIGINT,
    cancel_at_period_end  BOOLEAN NOT NULL DEFAULT FALSE,
    past_due_since        BIGINT,
    notices_sent          INTEGER NOT NULL DEFAULT 0,
    suspended_at          BIGINT,
    last_event_at         BIGINT  NOT NULL,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL
);
-- The sweep's work: payments still failed, oldest first.
CREATE INDEX subscriptions_past_due ON subscriptions (past_due_since) WHERE past_due_since IS NOT NULL;
