-- The developer console lists the abuse reports against an account (its own mode's, newest
-- first); without this index that page would scan every report of the server.
-- Keep in lockstep with the other dialect's 0023_account_reports.sql.
CREATE INDEX abuse_reports_account ON abuse_reports (account_id, mode, id);
