//! The goals, judged from the medians of this run, each printed met / not met.

use crate::report::{Report, fmt};

/// What was measured, and whether it met the goal (None: not measured).
type Judged = (String, Option<bool>);

/// `value` against `at_least` (or at most), as "1.23× (goal ≥ 0.70×)".
fn judge(
    r: &Report,
    key: &str,
    at_least: Option<f64>,
    at_most: Option<f64>,
    unit: &str,
) -> (String, Option<bool>) {
    match r.get(key) {
        None => ("not measured in this run".into(), None),
        Some(v) => {
            let ok = at_least.is_none_or(|min| v >= min) && at_most.is_none_or(|max| v <= max);
            (format!("{}{unit}", fmt(v)), Some(ok))
        }
    }
}

/// Several conditions: met only if all are, unknown if any is.
fn all(parts: Vec<(String, Option<bool>)>) -> (String, Option<bool>) {
    let text = parts
        .iter()
        .map(|(t, _)| t.clone())
        .collect::<Vec<_>>()
        .join("; ");
    let met = parts
        .iter()
        .try_fold(true, |acc, (_, m)| m.map(|m| acc && m));
    (text, met)
}

fn labelled(label: &str, (text, met): (String, Option<bool>)) -> (String, Option<bool>) {
    (format!("{label} {text}"), met)
}

pub fn judge_all(r: &mut Report) {
    let mut goals: Vec<(&str, &str, Judged)> = Vec::new();
    goals.push((
        "authenticated `GET /v1/account`",
        "≥ 70% of bare-axum req/s; added p99 ≤ 1 ms",
        all(vec![
            labelled(
                "req/s ratio",
                judge(r, "account.ratio", Some(0.70), None, "×"),
            ),
            labelled(
                "added p99",
                judge(r, "account.added_p99", None, Some(1.0), " ms"),
            ),
        ]),
    ));
    goals.push((
        "`POST /v1/generations` → 202, SQLite",
        "≥ 100% of the one-INSERT handler (never below 50%)",
        labelled(
            "ratio",
            judge(r, "generations.sqlite.ratio", Some(1.0), None, "×"),
        ),
    ));
    goals.push((
        "`POST /v1/generations` → 202, PostgreSQL",
        "≥ 60% of the one-INSERT handler; ≥ 1.0× pgbench TPC-B TPS",
        all(vec![
            labelled(
                "÷ INSERT",
                judge(r, "generations.postgres.ratio", Some(0.60), None, "×"),
            ),
            labelled(
                "÷ pgbench",
                judge(
                    r,
                    "generations.postgres.pgbench_ratio",
                    Some(1.0),
                    None,
                    "×",
                ),
            ),
        ]),
    ));
    let pg_jobs = r.get("jobs.postgres.rate");
    let sqlite_jobs = r.get("jobs.sqlite.rate");
    let tps = r.get("pgbench.tps");
    let jobs_vs_pgbench = match (pg_jobs, tps) {
        (Some(j), Some(t)) => (
            format!("PostgreSQL {} jobs/s = {}× pgbench", fmt(j), fmt(j / t)),
            Some(j / t >= 0.5),
        ),
        _ => ("not measured in this run".into(), None),
    };
    let sqlite_vs_pg = match (sqlite_jobs, pg_jobs) {
        (Some(s), Some(p)) => (
            format!("SQLite {} jobs/s = {}× PostgreSQL", fmt(s), fmt(s / p)),
            Some(s / p >= 2.0),
        ),
        _ => ("not measured in this run".into(), None),
    };
    goals.push((
        "end-to-end sandbox jobs/s",
        "PostgreSQL ≥ 50% of pgbench TPS; SQLite ≥ 2× PostgreSQL; submit-to-start p50 ≤ 10 ms at half load",
        all(vec![
            jobs_vs_pgbench,
            sqlite_vs_pg,
            labelled("start p50 SQLite", judge(r, "jobs.sqlite.start_p50", None, Some(10.0), " ms")),
            labelled("start p50 PostgreSQL", judge(r, "jobs.postgres.start_p50", None, Some(10.0), " ms")),
        ]),
    ));
    goals.push((
        "queue depth",
        "deep: claim p99 ≤ 2× and claims/s ≥ 80% of 1k queued",
        all(vec![
            labelled(
                "SQLite p99",
                judge(r, "queue.sqlite.p99_ratio", None, Some(2.0), "×"),
            ),
            labelled(
                "rate",
                judge(r, "queue.sqlite.rate_ratio", Some(0.8), None, "×"),
            ),
            labelled(
                "PostgreSQL p99",
                judge(r, "queue.postgres.p99_ratio", None, Some(2.0), "×"),
            ),
            labelled(
                "rate",
                judge(r, "queue.postgres.rate_ratio", Some(0.8), None, "×"),
            ),
        ]),
    ));
    goals.push((
        "limits on Redis vs in-process",
        "≥ 80% of the in-process req/s",
        labelled("ratio", judge(r, "limits.ratio", Some(0.8), None, "×")),
    ));
    goals.push((
        "one hot account vs many",
        "≥ 25% of the spread-out req/s, balances exact",
        all(vec![
            labelled("ratio", judge(r, "hot.ratio", Some(0.25), None, "×")),
            labelled("exact", judge(r, "hot.exact", Some(1.0), None, "")),
        ]),
    ));
    goals.push((
        "webhooks",
        "≥ 50% of the bare reqwest loop; healthy keep ≥ 80% with half failing",
        all(vec![
            labelled(
                "SQLite",
                judge(r, "webhooks.sqlite.ratio", Some(0.5), None, "×"),
            ),
            labelled(
                "degraded",
                judge(r, "webhooks.sqlite.degraded_ratio", Some(0.8), None, "×"),
            ),
            labelled(
                "PostgreSQL",
                judge(r, "webhooks.postgres.ratio", Some(0.5), None, "×"),
            ),
            labelled(
                "degraded",
                judge(r, "webhooks.postgres.degraded_ratio", Some(0.8), None, "×"),
            ),
        ]),
    ));
    goals.push((
        "footprint",
        "idle RSS ≤ 30 MiB; after load ≤ 3× idle, no growth; start to ready ≤ 0.5 s",
        all(vec![
            labelled(
                "idle",
                judge(r, "footprint.idle_rss", None, Some(30.0), " MiB"),
            ),
            labelled(
                "after load",
                judge(r, "footprint.rss_ratio", None, Some(3.0), "×"),
            ),
            labelled(
                "growth",
                judge(r, "footprint.rss_growth", None, Some(10.0), "%"),
            ),
            labelled(
                "ready",
                judge(r, "footprint.ready", None, Some(500.0), " ms"),
            ),
        ]),
    ));
    goals.push((
        "idle node",
        "≤ 1 database statement/s and ≤ 0.5% of a core at rest, SQLite and PostgreSQL",
        all(vec![
            labelled(
                "SQLite",
                judge(r, "idle.sqlite.statements", None, Some(1.0), "/s"),
            ),
            labelled("CPU", judge(r, "idle.sqlite.cpu", None, Some(0.5), "%")),
            labelled(
                "PostgreSQL",
                judge(r, "idle.postgres.statements", None, Some(1.0), "/s"),
            ),
            labelled("CPU", judge(r, "idle.postgres.cpu", None, Some(0.5), "%")),
        ]),
    ));
    goals.push((
        "another node sees a change",
        "cancel, revocation and suspension seen by another node ≤ 100 ms p99, PostgreSQL",
        all(vec![
            labelled(
                "cancel",
                judge(r, "nodes.cancel.p99", None, Some(100.0), " ms"),
            ),
            labelled(
                "revoke",
                judge(r, "nodes.revoke.p99", None, Some(100.0), " ms"),
            ),
            labelled(
                "suspend",
                judge(r, "nodes.suspend.p99", None, Some(100.0), " ms"),
            ),
        ]),
    ));
    goals.push((
        "password hashing off the hot path",
        "25 console logins/s cut API req/s by ≤ 20%",
        labelled("ratio", judge(r, "logins.ratio", Some(0.8), None, "×")),
    ));
    goals.push((
        "pull workers: claim-to-start",
        "submit to lease read p50 ≤ 5 ms, with claims already waiting",
        all(vec![
            labelled(
                "SQLite",
                judge(r, "workers.sqlite.start_p50", None, Some(5.0), " ms"),
            ),
            labelled(
                "PostgreSQL",
                judge(r, "workers.postgres.start_p50", None, Some(5.0), " ms"),
            ),
        ]),
    ));
    goals.push((
        "pull workers: jobs/s",
        "4 `easel worker` ≥ 80% of the in-process runner's jobs/s; every job once, balance exact",
        all(vec![
            labelled(
                "SQLite",
                judge(r, "workers.sqlite.ratio", Some(0.8), None, "×"),
            ),
            labelled(
                "exact",
                judge(r, "workers.sqlite.exact", Some(1.0), None, ""),
            ),
            labelled(
                "PostgreSQL",
                judge(r, "workers.postgres.ratio", Some(0.8), None, "×"),
            ),
            labelled(
                "exact",
                judge(r, "workers.postgres.exact", Some(1.0), None, ""),
            ),
        ]),
    ));
    goals.push((
        "developer console pages (10k generations, 100k ledger entries, 1M logged requests)",
        "every page's p99 ≤ 50 ms, SQLite and PostgreSQL",
        all(vec![
            labelled(
                "slowest SQLite",
                judge(r, "console.sqlite.worst_p99", None, Some(50.0), " ms"),
            ),
            labelled(
                "slowest PostgreSQL",
                judge(r, "console.postgres.worst_p99", None, Some(50.0), " ms"),
            ),
        ]),
    ));
    for (scenario, goal, (measured, met)) in goals {
        r.goal(scenario, goal, measured, met);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict<'a>(r: &'a Report, scenario: &str) -> &'a crate::report::Goal {
        r.goals
            .iter()
            .find(|g| g.scenario.contains(scenario))
            .expect(scenario)
    }

    #[test]
    fn goals_are_met_not_met_or_not_measured() {
        let mut r = Report::default();
        r.add("account.ratio", "", "×", 0.75);
        r.add("account.added_p99", "", "ms", 0.4);
        r.add("generations.sqlite.ratio", "", "×", 0.09);
        // One part of a two-part goal measured and met, the other missing.
        r.add("hot.ratio", "", "×", 0.7);
        r.add("logins.ratio", "", "×", 0.79);
        // Fast claims on both databases, but one database's jobs not exact.
        r.add("workers.sqlite.start_p50", "", "ms", 1.9);
        r.add("workers.postgres.start_p50", "", "ms", 4.9);
        r.add("workers.sqlite.ratio", "", "×", 0.95);
        r.add("workers.sqlite.exact", "", "", 1.0);
        r.add("workers.postgres.ratio", "", "×", 0.9);
        r.add("workers.postgres.exact", "", "", 0.0);
        judge_all(&mut r);
        assert_eq!(verdict(&r, "GET /v1/account").met, Some(true));
        assert_eq!(verdict(&r, "→ 202, SQLite").met, Some(false));
        assert_eq!(verdict(&r, "hot account").met, None);
        assert_eq!(verdict(&r, "password hashing").met, Some(false));
        assert_eq!(verdict(&r, "webhooks").met, None);
        assert!(verdict(&r, "→ 202, SQLite").measured.contains("0.090×"));
        assert_eq!(verdict(&r, "claim-to-start").met, Some(true));
        assert_eq!(verdict(&r, "pull workers: jobs/s").met, Some(false));
    }
}
