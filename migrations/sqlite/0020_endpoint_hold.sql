-- The webhook circuit breaker holds an endpoint, not its backlog: a failure sets the
-- endpoint's `held_until` (one row) where it used to push every due delivery of the
-- endpoint to that time (one UPDATE of the whole backlog per failure). Claims pass over a
-- held endpoint's deliveries (replays asked for by hand excepted); a success clears it.
ALTER TABLE webhook_endpoints ADD COLUMN held_until INTEGER;
