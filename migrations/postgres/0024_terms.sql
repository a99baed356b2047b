-- Versions of the API terms announced by the operator (`easel admin terms announce`): each
-- takes effect at `effective_at`, announced at least 30 days before (clause 18). The
-- version in force is the latest one whose date has come (before any, the configured
-- `terms_version`); members are asked to accept it at their next sign-in after that date,
-- recorded on the user like the terms accepted at sign-up.
-- Keep in lockstep with the other dialect's 0024_terms.sql.
CREATE TABLE terms_versions (
    version       TEXT   PRIMARY KEY,
    effective_at  BIGINT NOT NULL,
    announced_at  BIGINT NOT NULL,
    summary       TEXT
);
