//! Exactness after the worker runs, from the node's own database: every generation
//! succeeded, each worker job under exactly one lease (none lost, none retried), each
//! charged once, and the account's balance what was granted minus what was charged, with
//! nothing left held.

use super::WORKER_MODEL;
use crate::db::Db;
use crate::easel::Easel;

/// Counts that must be zero, each with what it means when it is not.
const MUST_BE_ZERO: &[(&str, &str)] = &[
    (
        "SELECT COUNT(*) FROM generations WHERE status <> 'succeeded'",
        "generations did not succeed",
    ),
    (
        "SELECT COUNT(*) FROM generations g JOIN jobs j ON j.id = g.job_id WHERE j.attempts <> 1",
        "jobs took more than one attempt",
    ),
    (
        "SELECT COUNT(*) FROM worker_leases WHERE outcome IS NULL OR outcome <> 'succeeded'",
        "worker leases are open or ended otherwise than succeeded",
    ),
    (
        "SELECT COUNT(*) FROM (SELECT reference_id FROM ledger_entries WHERE type = 'capture' \
         GROUP BY reference_id HAVING COUNT(*) > 1) AS twice",
        "generations were captured more than once",
    ),
    (
        "SELECT COUNT(*) FROM generations WHERE credits_charged IS NULL OR credits_charged <= 0",
        "succeeded generations were not charged",
    ),
];

/// Checks the node after its runs: `submitted` generations were answered 202, and the
/// account had `opening` credits before the first. Returns what is wrong, if anything.
pub async fn check(
    easel: &Easel,
    db: &Db,
    submitted: u64,
    opening: i64,
) -> anyhow::Result<Vec<String>> {
    let (mut wrong, charged) = in_database(db, submitted).await?;
    let (balance, held) = easel.balance(&easel.account).await?;
    wrong.extend(balance_problem(opening, charged, balance, held));
    Ok(wrong)
}

/// What the database shows wrong, and the credits charged in all.
async fn in_database(db: &Db, submitted: u64) -> anyhow::Result<(Vec<String>, i64)> {
    let mut wrong = Vec::new();
    let one_lease = format!(
        "SELECT COUNT(*) FROM generations g WHERE g.model = '{WORKER_MODEL}' \
         AND (SELECT COUNT(*) FROM worker_leases l WHERE l.job_id = g.job_id) <> 1"
    );
    let counts = MUST_BE_ZERO.iter().copied().chain([(
        one_lease.as_str(),
        "worker generations have no lease or more than one",
    )]);
    for (sql, meaning) in counts {
        let n = db.int(sql).await?;
        if n != 0 {
            wrong.push(format!("{n} {meaning}"));
        }
    }
    let total = db.int("SELECT COUNT(*) FROM generations").await?;
    if u64::try_from(total).ok() != Some(submitted) {
        wrong.push(format!(
            "{total} generations in the database for {submitted} answered 202"
        ));
    }
    // SUM is NUMERIC on PostgreSQL: cast it back to an integer.
    let charged = db
        .int("SELECT CAST(COALESCE(SUM(credits_charged), 0) AS BIGINT) FROM generations")
        .await?;
    let captured = db
        .int(
            "SELECT CAST(COALESCE(SUM(-amount), 0) AS BIGINT) FROM ledger_entries \
             WHERE type = 'capture'",
        )
        .await?;
    if captured != charged {
        wrong.push(format!(
            "the ledger captured {captured} credits, the generations were charged {charged}"
        ));
    }
    Ok((wrong, charged))
}

/// The balance must be what was granted minus what was charged, with nothing held.
fn balance_problem(opening: i64, charged: i64, balance: i64, held: i64) -> Option<String> {
    let expected = opening - charged;
    (balance != expected || held != 0).then(|| {
        format!(
            "balance {balance} and {held} held, expected {opening} granted − {charged} charged = {expected} and 0 held"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns the checks read, of the tables they read (the real schema has more).
    const SCHEMA: &[&str] = &[
        "CREATE TABLE generations (id TEXT, model TEXT, status TEXT, job_id TEXT, credits_charged BIGINT)",
        "CREATE TABLE jobs (id TEXT, attempts INTEGER)",
        "CREATE TABLE worker_leases (job_id TEXT, outcome TEXT)",
        "CREATE TABLE ledger_entries (type TEXT, amount BIGINT, reference_id TEXT)",
    ];

    /// A worker job and an in-process job, each succeeded once and captured once.
    const CLEAN: &[&str] = &[
        "INSERT INTO generations VALUES ('gen_w', 'gpu-image', 'succeeded', 'job_w', 10)",
        "INSERT INTO generations VALUES ('gen_l', 'sandbox-image', 'succeeded', 'job_l', 10)",
        "INSERT INTO jobs VALUES ('job_w', 1), ('job_l', 1)",
        "INSERT INTO worker_leases VALUES ('job_w', 'succeeded')",
        "INSERT INTO ledger_entries VALUES ('hold', -10, 'gen_w'), ('capture', -10, 'gen_w'), \
         ('capture', -10, 'gen_l'), ('release', 0, 'gen_l')",
    ];

    async fn db(statements: &[&str]) -> Db {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap_or_else(|e| panic!("memory database: {e}"));
        for sql in SCHEMA.iter().chain(CLEAN).chain(statements) {
            sqlx::query(sql)
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        Db::Sqlite(pool)
    }

    async fn problems(statements: &[&str], submitted: u64) -> Vec<String> {
        let db = db(statements).await;
        let (wrong, charged) = in_database(&db, submitted)
            .await
            .unwrap_or_else(|e| panic!("check: {e}"));
        assert_eq!(charged, 20);
        wrong
    }

    #[tokio::test]
    async fn a_clean_run_has_no_problems() {
        assert_eq!(problems(&[], 2).await, Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_lost_lease_and_its_retry_are_caught() {
        // The job ran twice: a lease lapsed, a second one succeeded.
        let wrong = problems(
            &[
                "UPDATE jobs SET attempts = 2 WHERE id = 'job_w'",
                "INSERT INTO worker_leases VALUES ('job_w', 'lost')",
            ],
            2,
        )
        .await;
        assert_eq!(
            wrong,
            [
                "1 jobs took more than one attempt",
                "1 worker leases are open or ended otherwise than succeeded",
                "1 worker generations have no lease or more than one",
            ]
        );
    }

    #[tokio::test]
    async fn a_double_capture_a_failure_and_a_missing_generation_are_caught() {
        let wrong = problems(
            &[
                "INSERT INTO ledger_entries VALUES ('capture', -10, 'gen_l')",
                "INSERT INTO generations VALUES ('gen_f', 'sandbox-image', 'failed', 'job_f', NULL)",
                "INSERT INTO jobs VALUES ('job_f', 1)",
            ],
            4,
        )
        .await;
        assert_eq!(
            wrong,
            [
                "1 generations did not succeed",
                "1 generations were captured more than once",
                "1 succeeded generations were not charged",
                "3 generations in the database for 4 answered 202",
                "the ledger captured 30 credits, the generations were charged 20",
            ]
        );
    }

    #[test]
    fn the_balance_must_be_the_grant_less_the_charges_with_nothing_held() {
        assert_eq!(balance_problem(1000, 20, 980, 0), None);
        assert!(balance_problem(1000, 20, 990, 0).is_some());
        let held = balance_problem(1000, 20, 980, 10)
            .unwrap_or_else(|| panic!("10 credits held is a problem"));
        assert!(held.contains("980 and 10 held"), "{held}");
    }
}
