-- The request log's "errors only" view (console and `GET /v1/requests?failed=true`): the
-- errors of an account, newest first, without reading every success between them (about
-- 50 rows per error in a healthy log; 48 ms p99 on SQLite with a million rows before).
-- The WHERE matches the query's literal `status >= 400`, which SQLite needs to use it.
-- Keep in lockstep with the other dialect's 0026_request_log_errors.sql.
CREATE INDEX request_log_errors ON request_log (account_id, mode, id) WHERE status >= 400;
