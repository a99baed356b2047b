-- The status page (clause 10): what the probes found, minute by minute, and the incidents
-- the operator posts. Keep in lockstep with the SQLite dialect's 0031_status.sql.

-- Which node runs the probes: one row per named lease, taken by a node whose lease ran out
-- (its holder died) with a compare-and-set on `expires_at`.
CREATE TABLE status_leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL
);

-- Each component's last probe: the page's "now". `changed_at` is when the status last
-- changed (the page shows "since").
CREATE TABLE status_components (
    component   TEXT    PRIMARY KEY,
    status      TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    latency_ms  BIGINT,
    checked_at  BIGINT  NOT NULL,
    changed_at  BIGINT  NOT NULL
);

-- Probed time (milliseconds) per component per day (kept 100 days) and per hour (kept two
-- days, for the 24-hour figure), by outcome. Time inside a maintenance window counts apart,
-- so planned work is never downtime.
CREATE TABLE status_tallies (
    period          TEXT    NOT NULL,
    starts_at       BIGINT  NOT NULL,
    component       TEXT    NOT NULL,
    ok_ms           BIGINT  NOT NULL,
    degraded_ms     BIGINT  NOT NULL,
    down_ms         BIGINT  NOT NULL,
    maintenance_ms  BIGINT  NOT NULL,
    PRIMARY KEY (period, starts_at, component)
);

-- Incidents (`easel admin incident open|update|resolve`), with Statuspage's status and
-- impact words. `components` is a JSON object of the components the incident affects now
-- and their status (emptied when it is resolved).
CREATE TABLE incidents (
    id             TEXT    PRIMARY KEY,
    name           TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    impact         TEXT    NOT NULL,
    components     TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    monitoring_at  BIGINT,
    resolved_at    BIGINT
);
CREATE INDEX incidents_created ON incidents (created_at);

-- Every message posted on an incident. `components` is a JSON array of the status changes
-- it made: [{"code", "old_status", "new_status"}].
CREATE TABLE incident_updates (
    id           TEXT    PRIMARY KEY,
    incident_id  TEXT    NOT NULL REFERENCES incidents (id),
    status       TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    components   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates (incident_id, created_at);
