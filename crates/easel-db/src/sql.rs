//! SQL text shared by both dialects (`$n` placeholders work in SQLite and PostgreSQL).
//!
//! Times are bound from Rust (Unix ms), never computed in SQL, so no date function differs.

pub const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, name, legal_name, contact_email, contact_phone, address, \
     country, plan, state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $9)";

pub const SELECT_ACCOUNT: &str = "SELECT id, name, legal_name, contact_email, contact_phone, address, country, plan, state, \
     suspended_reason, suspended_until, terminated_at, created_at, updated_at FROM accounts WHERE id = $1";

pub const ACCOUNTS_FROM: &str = "SELECT id, name, legal_name, contact_email, contact_phone, address, country, plan, state, \
     suspended_reason, suspended_until, terminated_at, created_at, updated_at FROM accounts";

pub const UPDATE_ACCOUNT_STATE: &str = "UPDATE accounts SET state = $2, suspended_reason = $3, suspended_until = $4, \
     terminated_at = $5, updated_at = $6 WHERE id = $1";

pub const INSERT_USER: &str = "INSERT INTO users (id, email, name, password_hash, adult_attested_at, terms_version, \
     terms_accepted_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)";

pub const SELECT_USER: &str = "SELECT id, email, name, adult_attested_at, terms_version, terms_accepted_at, created_at \
     FROM users WHERE id = $1";

pub const SELECT_USER_ID_BY_EMAIL: &str = "SELECT id FROM users WHERE email = $1";

pub const INSERT_MEMBER: &str = "INSERT INTO members (account_id, user_id, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)";

pub const MEMBER_COLUMNS_FROM: &str = "SELECT m.account_id, m.user_id, u.email, m.role, m.created_at \
     FROM members m JOIN users u ON u.id = m.user_id";

/// Orders members by role, most powerful first.
pub const ROLE_RANK: &str =
    "CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'developer' THEN 2 ELSE 3 END";

pub const COUNT_OWNERS: &str =
    "SELECT COUNT(*) FROM members WHERE account_id = $1 AND role = 'owner'";

pub const UPDATE_MEMBER_ROLE: &str =
    "UPDATE members SET role = $3, updated_at = $4 WHERE account_id = $1 AND user_id = $2";

pub const DELETE_MEMBER: &str = "DELETE FROM members WHERE account_id = $1 AND user_id = $2";

/// Marks an account changed when a change leaves no `updated_at` of its own to poll (a
/// deleted row): nodes caching anything of the account learn of it through this.
pub const TOUCH_ACCOUNT: &str = "UPDATE accounts SET updated_at = $2 WHERE id = $1";

pub const REVOKE_MEMBER_KEYS: &str = "UPDATE api_keys SET revoked_at = $3, updated_at = $3 \
     WHERE account_id = $1 AND user_id = $2 AND revoked_at IS NULL";

pub const REVOKE_ACCOUNT_KEYS: &str = "UPDATE api_keys SET revoked_at = $2, updated_at = $2 WHERE account_id = $1 AND revoked_at IS NULL";

pub const INSERT_KEY: &str = "INSERT INTO api_keys (id, account_id, user_id, mode, name, scopes, allowed_models, \
     expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";

pub const INSERT_SECRET: &str = "INSERT INTO api_key_secrets (hash, key_id, display_prefix, created_at) VALUES ($1, $2, $3, $4)";

/// A key with its current secret's display prefix and the expiry of rotated-out secrets.
pub const KEY_COLUMNS_FROM: &str = "SELECT k.id, k.account_id, k.user_id, k.mode, k.name, k.scopes, k.allowed_models, \
     k.expires_at, k.revoked_at, k.rotated_at, k.last_used_at, k.created_at, \
     (SELECT s.display_prefix FROM api_key_secrets s WHERE s.key_id = k.id AND s.expires_at IS NULL \
        ORDER BY s.created_at DESC LIMIT 1) AS display_prefix, \
     (SELECT MAX(s.expires_at) FROM api_key_secrets s WHERE s.key_id = k.id) AS previous_secret_expires_at \
     FROM api_keys k";

/// `$3` is the mode, or NULL for any mode (operator tools).
pub const KEY_SCOPE_FILTER: &str =
    "k.account_id = $1 AND k.id = $2 AND ($3 IS NULL OR k.mode = $3)";

pub const LIST_KEYS_FILTER: &str = "k.account_id = $1 AND ($2 IS NULL OR k.mode = $2)";

pub const EXPIRE_CURRENT_SECRETS: &str = "UPDATE api_key_secrets SET expires_at = $2 \
     WHERE key_id = $1 AND (expires_at IS NULL OR expires_at > $2)";

pub const MARK_KEY_ROTATED: &str =
    "UPDATE api_keys SET rotated_at = $2, updated_at = $2 WHERE id = $1";

pub const MARK_KEY_REVOKED: &str =
    "UPDATE api_keys SET revoked_at = $2, updated_at = $2 WHERE id = $1";

pub const SELECT_CREDENTIAL: &str = "SELECT k.id, k.account_id, k.user_id, k.mode, k.name, k.scopes, k.allowed_models, \
     k.expires_at, k.revoked_at, k.rotated_at, k.last_used_at, k.created_at, s.display_prefix, \
     CAST(NULL AS BIGINT) AS previous_secret_expires_at, s.expires_at AS secret_expires_at, m.role AS member_role, \
     a.state AS account_state, a.suspended_until AS account_suspended_until, a.plan AS account_plan \
     FROM api_key_secrets s \
     JOIN api_keys k ON k.id = s.key_id \
     JOIN accounts a ON a.id = k.account_id \
     LEFT JOIN members m ON m.account_id = k.account_id AND m.user_id = k.user_id \
     WHERE s.hash = $1";

/// Never moves backwards: a late flush from a slow node cannot overwrite a newer time.
pub const TOUCH_KEY: &str = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";

pub const CHANGED_ACCOUNTS: &str = "SELECT account_id, MAX(updated_at) AS changed_at FROM ( \
     SELECT id AS account_id, updated_at FROM accounts WHERE updated_at >= $1 \
     UNION ALL SELECT account_id, updated_at FROM members WHERE updated_at >= $1 \
     UNION ALL SELECT account_id, updated_at FROM api_keys WHERE updated_at >= $1 \
     ) c GROUP BY account_id";

pub const INSERT_AUDIT: &str = "INSERT INTO audit_log (id, account_id, actor_type, actor_id, action, target_type, \
     target_id, request_id, details, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

pub const AUDIT_COLUMNS_FROM: &str = "SELECT id, account_id, actor_type, actor_id, action, target_type, target_id, \
     request_id, details, created_at FROM audit_log";

pub const INSERT_INSTANCE: &str =
    "INSERT INTO instance (id, secret, created_at) VALUES (1, $1, $2) ON CONFLICT DO NOTHING";

pub const SELECT_INSTANCE_SECRET: &str = "SELECT secret FROM instance WHERE id = 1";

pub const INSERT_OPERATOR: &str =
    "INSERT INTO operators (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)";

pub const SELECT_OPERATOR: &str =
    "SELECT id, username, password_hash, last_login_at FROM operators WHERE username = $1";

pub const UPDATE_OPERATOR_LOGIN: &str = "UPDATE operators SET last_login_at = $2 WHERE id = $1";
