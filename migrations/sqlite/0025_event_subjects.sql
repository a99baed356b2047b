-- A generation's page lists its events: they are found by the object they are about (the
-- `id` in their data), not by scanning the account's events around its time, which a burst
-- of thousands of generations makes slow. Event data is always JSON written by Easel.
-- Keep in lockstep with the other dialect's 0025_event_subjects.sql.
CREATE INDEX events_subject ON events (account_id, mode, json_extract(data, '$.id'));
