-- What /metrics reads from the database, each from a partial index holding only the rows
-- it counts, so a scrape's cost follows the figure (open holds, running jobs, quarantined
-- workers) and never the table's history. Queue depth and pending webhook deliveries
-- already have theirs (jobs_claim, webhook_deliveries_due).
-- Keep in lockstep with the other dialect's 0033_metrics_indexes.sql.

-- Open holds with their amounts: the count and the credits held, without reading the rows.
CREATE INDEX holds_open_amount ON holds (amount) WHERE status = 'open';
-- Running jobs per queue.
CREATE INDEX jobs_running ON jobs (queue) WHERE status = 'running';
-- Workers in quarantine (revoked ones no longer count).
CREATE INDEX workers_quarantined ON workers (quarantined_until)
    WHERE revoked_at IS NULL AND quarantined_until IS NOT NULL;
