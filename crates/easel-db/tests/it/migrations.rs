//! Migrations: both dialects list the same versions, and `migrate` is what makes the
//! schema current, idempotently.

use std::path::Path;

use easel_test_utils::{TestDb, both_backends};

use crate::support::{self, Raw};

/// The version numbers (file name prefixes before `_`) of `migrations/<dialect>`, sorted.
fn versions(dialect: &str) -> Vec<i64> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(dialect);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut versions: Vec<i64> = entries
        .map(|entry| {
            let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                name.ends_with(".sql"),
                "{}: unexpected file {name}",
                dir.display()
            );
            let prefix = name.split('_').next().unwrap_or_default();
            prefix.parse().unwrap_or_else(|e| {
                panic!(
                    "{}: {name} has no numeric version prefix: {e}",
                    dir.display()
                )
            })
        })
        .collect();
    versions.sort_unstable();
    versions
}

/// The versions recorded as applied in `_sqlx_migrations`, sorted.
async fn applied(raw: &mut Raw) -> Vec<i64> {
    let count = raw.count("_sqlx_migrations WHERE success", &[]).await;
    let mut out = Vec::new();
    for n in 0..count {
        let sql = format!(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version LIMIT 1 OFFSET {n}"
        );
        out.extend(raw.scalar(&sql, &[]).await);
    }
    out
}

both_backends!(
    both_dialects_have_the_same_migration_versions,
    |db: TestDb| async move {
        let sqlite = versions("sqlite");
        let postgres = versions("postgres");
        assert!(!sqlite.is_empty(), "no migrations found");
        assert_eq!(
            sqlite, postgres,
            "migrations/sqlite and migrations/postgres must list the same versions"
        );
        let mut dedup = sqlite.clone();
        dedup.dedup();
        assert_eq!(dedup, sqlite, "a version number is used twice");
        // And the binary applies exactly those versions on this dialect.
        let _store = support::store(&db).await;
        let mut raw = Raw::connect(&db).await;
        assert_eq!(applied(&mut raw).await, sqlite);
        raw.close().await;
    }
);

both_backends!(
    migrations_are_current_only_after_migrate,
    |db: TestDb| async move {
        let store = support::connect(&db).await;
        let dialect = match db.backend {
            easel_test_utils::Backend::Sqlite => "sqlite",
            easel_test_utils::Backend::Postgres => "postgres",
        };
        assert_eq!(store.dialect(), dialect);
        let before = store
            .migrations_current()
            .await
            .unwrap_or_else(|e| panic!("migrations_current on an empty database: {e}"));
        assert!(!before, "an empty database is not current");
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("first migrate: {e}"));
        let after = store
            .migrations_current()
            .await
            .unwrap_or_else(|e| panic!("migrations_current: {e}"));
        assert!(after, "migrate makes the schema current");

        // A second migrate (a restart, or `easel migrate` beside a server) is harmless:
        // nothing re-applied, data kept.
        let (account, _) = support::account(&store, "migrate-twice@example.com").await;
        let mut raw = Raw::connect(&db).await;
        let recorded = raw.count("_sqlx_migrations", &[]).await;
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("second migrate: {e}"));
        assert!(
            store
                .migrations_current()
                .await
                .unwrap_or_else(|e| panic!("migrations_current: {e}"))
        );
        assert_eq!(raw.count("_sqlx_migrations", &[]).await, recorded);
        let again = store
            .get_account(&account.id)
            .await
            .unwrap_or_else(|e| panic!("account after a second migrate: {e}"));
        assert_eq!(again, account);
        // A second process opening the same database sees it current too.
        let other = support::connect(&db).await;
        assert!(
            other
                .migrations_current()
                .await
                .unwrap_or_else(|e| panic!("migrations_current from a second store: {e}"))
        );
        raw.close().await;
    }
);
