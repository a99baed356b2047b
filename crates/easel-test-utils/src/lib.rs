//! Test support: a fresh database per test, on SQLite or PostgreSQL.
//!
//! SQLite gets a file in a temporary directory. PostgreSQL gets a new schema in the database
//! named by `EASEL_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/easel_test`,
//! created if missing), selected through the connection's `search_path`, so tests run in
//! parallel without seeing each other. A PostgreSQL that cannot be reached fails the test
//! loudly: storage behaviour is never silently tested on one database only.

#![forbid(unsafe_code)]

pub mod fakes;

use std::path::PathBuf;

use sqlx::{Connection, Executor, PgConnection};

/// The two databases every storage behaviour is tested on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL test database URL.
pub fn postgres_url() -> String {
    std::env::var("EASEL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/easel_test".into())
}

/// A database for one test. Dropping it removes a SQLite file; PostgreSQL schemas are
/// removed by the test script before each run (`scripts/test`).
#[derive(Debug)]
pub struct TestDb {
    pub backend: Backend,
    /// The URL to give `EASEL_DATABASE_URL` / `easel_db::connect`.
    pub url: String,
    /// A directory the test may use as the data directory.
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl TestDb {
    /// Provisions an empty database on `backend`.
    pub async fn new(backend: Backend) -> TestDb {
        let tmp = tempfile::tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let dir = tmp.path().to_path_buf();
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.join("easel.db").display()),
            Backend::Postgres => postgres_schema().await,
        };
        TestDb {
            backend,
            url,
            dir,
            _tmp: tmp,
        }
    }
}

async fn postgres_schema() -> String {
    let base = postgres_url();
    let mut conn = match PgConnection::connect(&base).await {
        Ok(conn) => conn,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            create_database(&base).await;
            PgConnection::connect(&base)
                .await
                .unwrap_or_else(|e| fail(&base, &e))
        }
        Err(e) => fail(&base, &e),
    };
    let schema = format!("t_{}", ulid::Ulid::new().to_string().to_lowercase());
    conn.execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create test schema {schema}: {e}"));
    let _ = conn.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// Creates the test database itself, connecting to the server's `postgres` database.
async fn create_database(url: &str) {
    let (server, name) = url
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("EASEL_TEST_DATABASE_URL has no database name: {url}"));
    let name = name.split('?').next().unwrap_or(name);
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap_or_else(|e| fail(url, &e));
    // Another test may create it at the same moment; "already exists" is fine.
    let _ = admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await;
    let _ = admin.close().await;
}

fn fail(url: &str, e: &sqlx::Error) -> ! {
    panic!(
        "PostgreSQL is required for the storage tests and is not reachable at {url}: {e}\n\
         Start it (scripts/test does) or point EASEL_TEST_DATABASE_URL at one."
    )
}

/// Runs an async test body once per backend: `both_backends!(name, |db| async move { … })`
/// expands to `name::sqlite` and `name::postgres` tests.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports, reason = "the body may use anything from the parent")]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::TestDb::new($crate::Backend::Sqlite).await;
                ($body)(db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::TestDb::new($crate::Backend::Postgres).await;
                ($body)(db).await;
            }
        }
    };
}

impl TestDb {
    /// Runs one SQL statement directly on the test database (outside any store), for
    /// tests that must reach behind the application; returns the rows affected.
    pub async fn execute(&self, sql: &str) -> u64 {
        use sqlx::Connection;
        let result = match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .unwrap_or_else(|e| panic!("connect: {e}"));
                sqlx::query(sql)
                    .execute(&mut c)
                    .await
                    .map(|r| r.rows_affected())
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .unwrap_or_else(|e| panic!("connect: {e}"));
                sqlx::query(sql)
                    .execute(&mut c)
                    .await
                    .map(|r| r.rows_affected())
            }
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The integer `sql` (no parameters) answers, e.g. a `COUNT(*)`.
    pub async fn count(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        let result: Result<i64, sqlx::Error> = match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .unwrap_or_else(|e| panic!("connect: {e}"));
                sqlx::query_scalar(sql).fetch_one(&mut c).await
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .unwrap_or_else(|e| panic!("connect: {e}"));
                sqlx::query_scalar(sql).fetch_one(&mut c).await
            }
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The text value of the first column of the first row of `sql` with one bound text
    /// parameter, or `None` if there is no row.
    pub async fn fetch_text(&self, sql: &str, param: &str) -> Option<String> {
        use sqlx::Connection;
        let result = match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .unwrap_or_else(|e| panic!("connect: {e}"));
                sqlx::query_scalar(sql)
                    .bind(param)
                    .fetch_optional(&mut c)
                    .await
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .unwrap_or_else(|e| panic!("connect: {e}"));
                sqlx::query_scalar(sql)
                    .bind(param)
                    .fetch_optional(&mut c)
                    .await
            }
        };
        result.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// Reads a variable that `scripts/test` exports, panicking with a message that says how to
/// get it: tests that need an external service fail loudly instead of skipping.
fn required_env(name: &str, what: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: {what} is required by this test. Run the tests through \
             scripts/test, which provides it (or set {name} yourself)."
        ),
    }
}

/// The Python interpreter of the test venv (with the pinned `openai`, `standardwebhooks` and
/// `aiosmtpd` packages), from `EASEL_TEST_PYTHON`. Panics if it is unset: run `scripts/test`.
pub fn python() -> PathBuf {
    PathBuf::from(required_env(
        "EASEL_TEST_PYTHON",
        "the Python venv with the client libraries",
    ))
}

/// Where the S3-compatible test server is and how to sign requests to it (SigV4; any
/// region name, path-style requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Base URL, e.g. `http://127.0.0.1:41234` (plain HTTP on loopback).
    pub endpoint: String,
    /// A bucket that exists and that the tests may write to (shared by all tests of a run).
    pub bucket: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
}

/// The S3 test server, from `EASEL_TEST_S3_ENDPOINT`, `EASEL_TEST_S3_BUCKET`,
/// `EASEL_TEST_S3_ACCESS_KEY` and `EASEL_TEST_S3_SECRET_KEY`. Panics if any is unset:
/// run `scripts/test`, which starts s3s-fs for the run.
pub fn s3() -> S3Settings {
    let what = "an S3-compatible server";
    S3Settings {
        endpoint: required_env("EASEL_TEST_S3_ENDPOINT", what),
        bucket: required_env("EASEL_TEST_S3_BUCKET", what),
        access_key: required_env("EASEL_TEST_S3_ACCESS_KEY", what),
        secret_key: required_env("EASEL_TEST_S3_SECRET_KEY", what),
    }
}

/// The Redis test server's URL, from `EASEL_TEST_REDIS_URL` (`scripts/test` defaults it to
/// `redis://127.0.0.1:6379` and checks that it answers). Panics if it is unset: run
/// `scripts/test`.
pub fn redis_url() -> String {
    required_env("EASEL_TEST_REDIS_URL", "a Redis server")
}
