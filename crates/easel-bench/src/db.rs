//! Reading a running server's database for the figures it records itself (generations'
//! timestamps, the webhook delivery log): a read-only view beside the server.

use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::SqliteConnectOptions;

pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        Ok(if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?.read_only(true);
            Db::Sqlite(sqlx::SqlitePool::connect_with(options).await?)
        } else {
            Db::Postgres(sqlx::PgPool::connect(url).await?)
        })
    }

    /// Rows of integer columns (NULL as -1). `sql` must select only integers.
    pub async fn ints(&self, sql: &str) -> anyhow::Result<Vec<Vec<i64>>> {
        Ok(match self {
            Db::Sqlite(pool) => sqlx::query(sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(ints)
                .collect::<Result<_, _>>()?,
            Db::Postgres(pool) => sqlx::query(sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(ints)
                .collect::<Result<_, _>>()?,
        })
    }

    /// The single integer a query selects.
    pub async fn int(&self, sql: &str) -> anyhow::Result<i64> {
        self.ints(sql)
            .await?
            .first()
            .and_then(|r| r.first().copied())
            .ok_or_else(|| anyhow::anyhow!("no row: {sql}"))
    }

    pub async fn close(self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// A row's columns as integers, NULL as -1.
fn ints<R: Row>(row: &R) -> Result<Vec<i64>, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    (0..row.len())
        .map(|i| row.try_get::<Option<i64>, _>(i).map(|v| v.unwrap_or(-1)))
        .collect()
}

/// The value at quantile `q` of `values` (sorted here).
pub fn quantile(values: &mut [i64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable();
    let i = ((values.len() as f64 - 1.0) * q).round() as usize;
    values[i.min(values.len() - 1)] as f64
}
