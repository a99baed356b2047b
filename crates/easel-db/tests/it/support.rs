//! Builders for store inputs, built the way the server's services build them
//! (`easel-server/src/services/{accounts,keys}.rs`), and raw SQL on a direct connection to
//! the test database for checks the store API cannot make (row counts, append-only).

use std::sync::Arc;

use easel_core::api_key;
use easel_core::audit::Actor;
use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_core::roles::Role;
use easel_core::time::now_ms;
use easel_db::{
    Account, ApiKey, AuditContext, DbError, DbResult, NewAccount, NewKey, NewMember, NewUser,
    Rotation, Store, User,
};
use easel_test_utils::{Backend, TestDb};
use sqlx::{Connection, PgConnection, SqliteConnection};

/// A migrated store on the test database.
pub async fn store(db: &TestDb) -> Arc<dyn Store> {
    let store = connect(db).await;
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate {}: {e}", db.url));
    store
}

/// A store on the test database, not migrated.
pub async fn connect(db: &TestDb) -> Arc<dyn Store> {
    easel_db::connect(&db.url, 16)
        .await
        .unwrap_or_else(|e| panic!("connect {}: {e}", db.url))
}

/// An audit context for the operator at the command line, stamped now.
pub fn audit() -> AuditContext {
    AuditContext::new(Actor::cli(), None)
}

/// An audit context stamped at `now` instead of the clock.
pub fn audit_at(now: i64) -> AuditContext {
    let mut audit = audit();
    audit.now = now;
    audit
}

/// A new user with an already-normalised (lower-case) email, as `services::accounts::new_user`
/// hands it to the store.
pub fn new_user(email: &str, now: i64) -> NewUser {
    NewUser {
        id: IdKind::User.generate(),
        email: email.to_lowercase(),
        name: Some("Test user".into()),
        password_hash: None,
        adult_attested_at: Some(now),
        terms_version: Some("2026-11-01".into()),
        terms_accepted_at: Some(now),
        terms_accepted_ip: None,
    }
}

/// A new account on the `free` plan owned by a new user with `owner_email`.
pub fn new_account(owner_email: &str) -> NewAccount {
    new_account_at(owner_email, now_ms())
}

/// A new account as of `now` (a time in the past lets tests set a change watermark).
pub fn new_account_at(owner_email: &str, now: i64) -> NewAccount {
    let owner = new_user(owner_email, now);
    NewAccount {
        id: IdKind::Account.generate(),
        name: format!("Org of {owner_email}"),
        legal_name: Some("Org GmbH".into()),
        contact_email: owner.email.clone(),
        contact_phone: Some("+49 30 1234567".into()),
        address: Some("Somewhere 1, Berlin".into()),
        country: Some("DE".into()),
        plan: "free".into(),
        owner,
        now,
        live_blocked: None,
    }
}

/// Creates an account and returns it with its owner.
pub async fn account(store: &Arc<dyn Store>, owner_email: &str) -> (Account, User) {
    create_account(store, new_account(owner_email)).await
}

/// Creates `new` and returns the account with its owner.
pub async fn create_account(store: &Arc<dyn Store>, new: NewAccount) -> (Account, User) {
    let email = new.owner.email.clone();
    store
        .create_account(new, audit())
        .await
        .unwrap_or_else(|e| panic!("create_account {email}: {e}"))
}

/// A member to add with `role`.
pub fn new_member(email: &str, role: Role) -> NewMember {
    let now = now_ms();
    NewMember {
        user: new_user(email, now),
        role,
        now,
    }
}

/// A member to add as of `now`.
pub fn new_member_at(email: &str, role: Role, now: i64) -> NewMember {
    NewMember {
        user: new_user(email, now),
        role,
        now,
    }
}

/// A key to create, with its secret generated as `services::keys::create` does. The hash
/// to authenticate with is `new.secret_hash`.
pub fn new_key(account_id: &str, user_id: &str, mode: Mode) -> NewKey {
    new_key_at(account_id, user_id, mode, now_ms())
}

/// A key to create as of `now`.
pub fn new_key_at(account_id: &str, user_id: &str, mode: Mode, now: i64) -> NewKey {
    let secret = api_key::generate("vs", mode);
    NewKey {
        id: IdKind::ApiKey.generate(),
        account_id: account_id.to_string(),
        user_id: user_id.to_string(),
        mode,
        name: "Test key".into(),
        scopes: Role::Developer.scopes(),
        allowed_models: Some(vec!["sdxl".into(), "flux-dev".into()]),
        spend_cap: Some(easel_core::credits::SpendCap {
            credits: 5000,
            period: easel_core::credits::CapPeriod::Month,
        }),
        expires_at: Some(now + 86_400_000),
        secret_hash: secret.hash,
        display_prefix: secret.display_prefix,
        now,
    }
}

/// Creates a key; returns it with the hash of its secret.
pub async fn key(
    store: &Arc<dyn Store>,
    account_id: &str,
    user_id: &str,
    mode: Mode,
) -> (ApiKey, String) {
    create_key(store, new_key(account_id, user_id, mode)).await
}

/// Creates `new`; returns the key with the hash of its secret.
pub async fn create_key(store: &Arc<dyn Store>, new: NewKey) -> (ApiKey, String) {
    let hash = new.secret_hash.clone();
    let key = store
        .create_key(new, audit())
        .await
        .unwrap_or_else(|e| panic!("create_key: {e}"));
    (key, hash)
}

/// A rotation at `now` keeping older secrets for `grace_ms`; the new hash is `secret_hash`.
pub fn rotation(mode: Mode, grace_ms: i64, now: i64) -> Rotation {
    let secret = api_key::generate("vs", mode);
    Rotation {
        secret_hash: secret.hash,
        display_prefix: secret.display_prefix,
        grace_ms,
        now,
    }
}

/// The domain rule code of a `DbError::Rule`, if it is one.
pub fn rule_code(e: &DbError) -> Option<&'static str> {
    match e {
        DbError::Rule(easel_core::DomainError::Invalid { code, .. }) => Some(code),
        _ => None,
    }
}

/// Asserts that a store call was refused by the domain rule `code`.
#[track_caller]
pub fn assert_rule<T: std::fmt::Debug>(res: DbResult<T>, code: &str) {
    match res {
        Err(e) if rule_code(&e) == Some(code) => {}
        other => panic!("expected DbError::Rule with code `{code}`, got {other:?}"),
    }
}

/// Asserts that a store call answered `DbError::NotFound`.
#[track_caller]
pub fn assert_not_found<T: std::fmt::Debug>(res: DbResult<T>) {
    match res {
        Err(DbError::NotFound) => {}
        other => panic!("expected DbError::NotFound, got {other:?}"),
    }
}

/// Asserts that a store call answered `DbError::Conflict(constraint)`.
#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(res: DbResult<T>, constraint: &str) {
    match res {
        Err(DbError::Conflict(c)) if c == constraint => {}
        other => panic!("expected DbError::Conflict({constraint:?}), got {other:?}"),
    }
}

/// A direct connection to the test database, beside the store's pools.
pub enum Raw {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Raw {
    /// Connects to `db.url` (on PostgreSQL the URL selects the test's schema).
    pub async fn connect(db: &TestDb) -> Raw {
        match db.backend {
            Backend::Sqlite => Raw::Sqlite(
                SqliteConnection::connect(&db.url)
                    .await
                    .unwrap_or_else(|e| panic!("raw connect {}: {e}", db.url)),
            ),
            Backend::Postgres => Raw::Postgres(
                PgConnection::connect(&db.url)
                    .await
                    .unwrap_or_else(|e| panic!("raw connect {}: {e}", db.url)),
            ),
        }
    }

    /// Runs one statement; returns the rows it affected or the driver's error.
    pub async fn execute(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        match self {
            Raw::Sqlite(c) => sqlx::query(sql)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected()),
            Raw::Postgres(c) => sqlx::query(sql)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    /// One BIGINT (or NULL) from `sql` with the text binds `args` (`$1`, `$2`, …).
    pub async fn scalar(&mut self, sql: &str, args: &[&str]) -> Option<i64> {
        let res = match self {
            Raw::Sqlite(c) => {
                let mut q = sqlx::query_scalar::<_, Option<i64>>(sql);
                for a in args {
                    q = q.bind(*a);
                }
                q.fetch_one(&mut *c).await
            }
            Raw::Postgres(c) => {
                let mut q = sqlx::query_scalar::<_, Option<i64>>(sql);
                for a in args {
                    q = q.bind(*a);
                }
                q.fetch_one(&mut *c).await
            }
        };
        res.unwrap_or_else(|e| panic!("raw query `{sql}` {args:?}: {e}"))
    }

    /// `SELECT COUNT(*) FROM <from_where>` with binds.
    pub async fn count(&mut self, from_where: &str, args: &[&str]) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) FROM {from_where}"), args)
            .await
            .unwrap_or_else(|| panic!("SELECT COUNT(*) FROM {from_where} returned no row"))
    }

    /// Audit rows of `account_id` with `action`.
    pub async fn audit_rows(&mut self, account_id: &str, action: &str) -> i64 {
        self.count(
            "audit_log WHERE account_id = $1 AND action = $2",
            &[account_id, action],
        )
        .await
    }

    /// Row counts of every spine table, to show a call changed nothing.
    pub async fn table_counts(&mut self) -> Vec<(&'static str, i64)> {
        let mut counts = Vec::new();
        for table in [
            "instance",
            "operators",
            "accounts",
            "users",
            "members",
            "api_keys",
            "api_key_secrets",
            "audit_log",
        ] {
            counts.push((table, self.count(table, &[]).await));
        }
        counts
    }

    /// A connection beside the store that makes the store's next write transaction wait
    /// until it commits: SQLite's write lock, or on PostgreSQL the rows `pg_lock` (a
    /// `SELECT … FOR UPDATE`) locks, where batches lock rows, not the database.
    pub async fn hold_the_writer(db: &TestDb, pg_lock: &str) -> Raw {
        let mut raw = Raw::connect(db).await;
        let statements = match db.backend {
            Backend::Sqlite => vec!["BEGIN IMMEDIATE"],
            Backend::Postgres => vec!["BEGIN", pg_lock],
        };
        for sql in statements {
            raw.execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        raw
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = match self {
            Raw::Sqlite(c) => c.close().await,
            Raw::Postgres(c) => c.close().await,
        };
    }
}
