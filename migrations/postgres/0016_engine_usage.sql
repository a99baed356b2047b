-- What a model backend reported it spent on a generation (OpenAI's `usage` block), as JSON,
-- so the operator sees the upstream cost of each generation.
ALTER TABLE generations ADD COLUMN engine_usage TEXT;
