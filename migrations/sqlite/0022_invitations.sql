-- Invitations to join an account (the developer console's "invite a member"). The link
-- mailed to the invitee holds a random token; only its hex SHA-256 is stored, so a leaked
-- database cannot be used to join anyone's account. An invitation is pending until it is
-- accepted, revoked or past expires_at; accepting it adds the member (creating the person,
-- with their address verified by the link, if they are new) in the same transaction.
-- Keep in lockstep with the other dialect's 0022_invitations.sql.
CREATE TABLE invitations (
    id           TEXT   PRIMARY KEY,
    account_id   TEXT   NOT NULL REFERENCES accounts (id),
    email        TEXT   NOT NULL,
    role         TEXT   NOT NULL CHECK (role IN ('owner', 'admin', 'developer', 'viewer')),
    token_hash   TEXT   NOT NULL UNIQUE,
    invited_by   TEXT   NOT NULL REFERENCES users (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT,
    accepted_by  TEXT   REFERENCES users (id),
    revoked_at   BIGINT
);
-- The account's pending invitations, newest first.
CREATE INDEX invitations_account ON invitations (account_id, id);
