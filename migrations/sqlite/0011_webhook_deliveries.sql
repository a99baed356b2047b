-- The webhook outbox. A delivery is one event on its way to one endpoint; it is written in
-- the same transaction as the event, so an event that happened is never lost on its way
-- out. Nodes claim due deliveries with a lease (`locked_until`, a conditional update, so
-- two nodes never send the same attempt), send, and record every attempt in
-- `webhook_attempts` (the delivery log developers read). `attempts` counts scheduled
-- attempts made; `manual` marks a replay of an ended delivery (one attempt, no new
-- schedule). The id is the event's time part plus random, so deliveries sort by event
-- time. Keep in lockstep with the other dialect's 0011_webhook_deliveries.sql.

CREATE TABLE webhook_deliveries (
    id               TEXT    PRIMARY KEY,
    endpoint_id      TEXT    NOT NULL REFERENCES webhook_endpoints (id),
    account_id       TEXT    NOT NULL REFERENCES accounts (id),
    mode             TEXT    NOT NULL CHECK (mode IN ('test', 'live')),
    event_id         TEXT    NOT NULL REFERENCES events (id),
    event_type       TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts         BIGINT  NOT NULL,
    manual           BOOLEAN NOT NULL,
    next_attempt_at  BIGINT  NOT NULL,
    locked_until     BIGINT  NOT NULL,
    locked_by        TEXT,
    last_attempt_at  BIGINT,
    last_status      BIGINT,
    last_error       TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
-- Claims: due pending deliveries in time order.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
-- The delivery log of one endpoint, newest first; and an endpoint's pending ones.
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
    id             TEXT    PRIMARY KEY,
    delivery_id    TEXT    NOT NULL REFERENCES webhook_deliveries (id),
    attempted_at   BIGINT  NOT NULL,
    status_code    BIGINT,
    latency_ms     BIGINT  NOT NULL,
    response_body  TEXT,
    error          TEXT,
    manual         BOOLEAN NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
