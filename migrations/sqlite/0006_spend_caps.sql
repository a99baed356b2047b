-- Optional per-key spend caps: credits per UTC day or month, counted over the key's holds
-- (open ones at their amount, captured ones at what they took). Keep in lockstep with the
-- other dialect's 0006_spend_caps.sql.

ALTER TABLE api_keys ADD COLUMN spend_cap_credits BIGINT CHECK (spend_cap_credits > 0);
ALTER TABLE api_keys ADD COLUMN spend_cap_period TEXT CHECK (spend_cap_period IN ('day', 'month'));
