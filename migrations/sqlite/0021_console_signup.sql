-- Self-service sign-up (the developer console). A person who signs up proves their e-mail
-- address by a signed link; `email_verified_at` records when. Until the account's owner
-- has done so (and, where the operator asks for it, until the operator approves the
-- account), the account may use test mode only: `live_blocked` names what is missing
-- ('unverified', then 'approval'); NULL means live mode is open, as for every account the
-- operator created. Keep in lockstep with the other dialect's 0021_console_signup.sql.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
-- The address the terms were accepted from (sign-up records acceptance with time and IP).
ALTER TABLE users ADD COLUMN terms_accepted_ip TEXT;
ALTER TABLE accounts ADD COLUMN live_blocked TEXT CHECK (live_blocked IN ('unverified', 'approval'));
