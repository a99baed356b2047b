-- Maintenance windows the operator announces (`easel admin maintenance announce`): at least
-- 48 hours ahead unless an emergency. Announcing one tells every account (a
-- `maintenance.scheduled` event in both modes, a mail to the owners, a console notice);
-- the status page (and its uptime, which a window does not count against) reads them too.
-- `components` is a JSON array of the parts affected (empty: the whole service).
-- Keep in lockstep with the other dialect's 0028_maintenance.sql.
CREATE TABLE maintenance_windows (
    id           TEXT    PRIMARY KEY,
    starts_at    BIGINT  NOT NULL,
    ends_at      BIGINT  NOT NULL,
    message      TEXT    NOT NULL,
    components   TEXT    NOT NULL,
    emergency    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT  NOT NULL,
    canceled_at  BIGINT
);
-- Windows not yet over, soonest first.
CREATE INDEX maintenance_windows_ends ON maintenance_windows (ends_at);
