-- Console sessions and single-use form tokens.
--
-- A session row is keyed by the hex SHA-256 of the random token its cookie holds, so a
-- leaked database cannot be replayed as cookies. The principal is an operator today and a
-- member of a customer's organisation (`user`) later. A session ends at the first of:
-- its absolute expiry, its idle expiry (pushed forward as it is used), its revocation
-- (sign-out, "sign out everywhere", a password change). IP and user agent are kept for a
-- "your sessions" list. The sweep deletes ended rows.
--
-- `used_form_tokens` records public-form tokens once they have been used, until they
-- would have expired anyway, so each is accepted once across every node.
-- Keep in lockstep with the other dialect's 0012_console_sessions.sql.

CREATE TABLE console_sessions (
    id_hash          TEXT    PRIMARY KEY,
    principal_kind   TEXT    NOT NULL CHECK (principal_kind IN ('operator', 'user')),
    principal_id     TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    last_seen_at     BIGINT  NOT NULL,
    idle_expires_at  BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    ip               TEXT,
    user_agent       TEXT,
    revoked_at       BIGINT
);
-- "Sign out everywhere" and a future sessions list.
CREATE INDEX console_sessions_principal ON console_sessions (principal_kind, principal_id);
-- The sweep.
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

CREATE TABLE used_form_tokens (
    token_hash  TEXT    PRIMARY KEY,
    form        TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX used_form_tokens_expires ON used_form_tokens (expires_at);
