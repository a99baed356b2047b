//! Claim-to-start with claims already waiting: the samples the claimers take, where each
//! one's time went (from the server's own timestamps), and the figures recorded.

use bytes::Bytes;

use super::claimers::{Claimers, Sample};
use super::{CLAIMERS, Node, SAMPLES};
use crate::ctx::Ctx;
use crate::db::Db;

/// One run of claim-to-start: the claimers wait, `SAMPLES` generations go one at a time.
pub async fn claim_to_start(
    ctx: &mut Ctx,
    node: &mut Node,
    database: &str,
    tokens: &[String],
    png: Bytes,
) -> anyhow::Result<()> {
    let mut claimers = Claimers::start(&node.easel.url(""), tokens, png)?;
    let samples = claimers.rounds(&node.key, SAMPLES).await?;
    let extra = claimers.stop(&node.key).await?;
    node.submitted += (samples.len() + extra) as u64;
    let stages = stages(&node.db, &samples).await?;
    record_claims(ctx, database, tokens.len(), &samples, &stages);
    Ok(())
}

/// Where one sample's time went, from the wall clocks of both sides (whole ms).
#[derive(Debug, Default, Clone, Copy)]
struct Stages {
    /// Sent → the generation's `created_at` (transit, key, limits, validation, moderation).
    to_created: i64,
    /// `created_at` → the woken claim's attempt, `worker_leases.claimed_at` (the rest of
    /// the creating transaction and its commit, the wake-up).
    to_claim: i64,
    /// The claim attempt → the generation's `started_at`, stamped just before it is marked
    /// running: the claim transaction, raced by every other woken claim.
    claiming: i64,
    /// `started_at` → the lease read by the claimer: the transaction marking the
    /// generation running, describing the lease, the answer.
    to_reader: i64,
}

async fn stages(db: &Db, samples: &[Sample]) -> anyhow::Result<Vec<Stages>> {
    let mut out = Vec::with_capacity(samples.len());
    for s in samples {
        // The id comes from the server (`gen_` and a ULID), so it is safe to inline.
        let row = db
            .ints(&format!(
                "SELECT g.created_at, l.claimed_at, g.started_at FROM generations g \
                 JOIN worker_leases l ON l.job_id = g.job_id WHERE g.id = '{}'",
                s.generation.replace('\'', "")
            ))
            .await?;
        let [created, claimed, started] = row.first().map(Vec::as_slice).unwrap_or_default() else {
            anyhow::bail!("{}: no lease in the database", s.generation);
        };
        out.push(Stages {
            to_created: created - s.sent_wall_ms,
            to_claim: claimed - created,
            claiming: started - claimed,
            to_reader: s.leased_wall_ms - started,
        });
    }
    Ok(out)
}

/// Records a run's figures; those with fewer claims waiting than `CLAIMERS` under their
/// own keys.
fn record_claims(
    ctx: &mut Ctx,
    database: &str,
    waiting: usize,
    samples: &[Sample],
    stages: &[Stages],
) {
    let pick = |f: fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<f64>>();
    let mut lease = pick(|s| s.submit_to_lease_ms);
    let mut after = pick(|s| s.answer_to_lease_ms);
    let mut post = pick(|s| s.post_ms);
    let mean = |f: fn(&Stages) -> i64| {
        stages.iter().map(|s| f(s) as f64).sum::<f64>() / stages.len().max(1) as f64
    };
    let rows = [
        (
            "start_p50",
            "claim-to-start, submit to lease read, p50",
            percentile(&mut lease, 0.5),
        ),
        (
            "start_p99",
            "claim-to-start, submit to lease read, p99",
            percentile(&mut lease, 0.99),
        ),
        (
            "answer_p50",
            "claim-to-start, 202 to lease read (< 0: lease first), p50",
            percentile(&mut after, 0.5),
        ),
        (
            "answer_p99",
            "claim-to-start, 202 to lease read, p99",
            percentile(&mut after, 0.99),
        ),
        (
            "post_p50",
            "claim-to-start, submit to 202, p50",
            percentile(&mut post, 0.5),
        ),
        (
            "stage_created",
            "claim-to-start mean: submit → generation created",
            mean(|s| s.to_created),
        ),
        (
            "stage_claim",
            "claim-to-start mean: created → woken claim's attempt",
            mean(|s| s.to_claim),
        ),
        (
            "stage_claiming",
            "claim-to-start mean: claim attempt → marking running (the claim)",
            mean(|s| s.claiming),
        ),
        (
            "stage_reader",
            "claim-to-start mean: marking running → lease read by the claimer",
            mean(|s| s.to_reader),
        ),
    ];
    let (prefix, claims) = match waiting {
        CLAIMERS => (String::new(), format!("{waiting} claims")),
        1 => (format!("waiting{waiting}."), "1 claim".to_string()),
        _ => (format!("waiting{waiting}."), format!("{waiting} claims")),
    };
    for (figure, text, value) in rows {
        ctx.report.add(
            &format!("workers.{database}.{prefix}{figure}"),
            &format!("{text}, {claims} waiting, {database}"),
            "ms",
            value,
        );
    }
}

/// The value at quantile `q` of `values` (sorted here), by the rule of `db::quantile`.
fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let i = ((values.len() as f64 - 1.0) * q).round() as usize;
    values[i.min(values.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut v, 0.5), 51.0);
        assert_eq!(percentile(&mut v, 0.99), 99.0);
        assert_eq!(percentile(&mut [-2.0, 1.0], 0.0), -2.0);
        assert!(percentile(&mut [], 0.5).is_nan());
    }
}
