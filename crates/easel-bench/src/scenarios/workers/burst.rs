//! Jobs/s through real `easel worker` processes against the in-process runner on the same
//! node, and the server's CPU per lease beside its CPU per in-process job.

use std::time::{Duration, Instant};

use super::{LOCAL_MODEL, METRICS_TOKEN, Node, WORKER_MODEL, WORKERS};
use crate::ctx::Ctx;
use crate::procs::{Cpu, Proc};
use crate::scenarios::generations::generation_over;
use crate::scenarios::jobs::{Burst, burst};

/// Starts the `easel worker` processes and waits until each has claimed once.
pub async fn start_workers(ctx: &Ctx, node: &Node, database: &str) -> anyhow::Result<Vec<Proc>> {
    let mut workers = Vec::with_capacity(WORKERS);
    for i in 0..WORKERS {
        let token = node
            .easel
            .worker_token(&format!("bench-worker-{i}"), &[WORKER_MODEL])
            .await?;
        let name = format!("workers-{database}-worker-{i}");
        workers.push(
            node.easel
                .spawn_worker(&ctx.work, &name, &token, "sandbox", 1)?,
        );
    }
    // A claim records the worker's version before it waits: then it is in its long poll.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let claiming = node
            .db
            .int("SELECT COUNT(*) FROM workers WHERE name LIKE 'bench-worker-%' AND version IS NOT NULL")
            .await?;
        if claiming == WORKERS as i64 {
            break;
        }
        for w in &mut workers {
            if let Some(status) = w.child.try_wait()? {
                anyhow::bail!(
                    "{} exited with {status}:\n{}",
                    w.name,
                    crate::procs::tail(&w.stderr())
                );
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("{claiming} of {WORKERS} workers claiming after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(workers)
}

/// Stops a worker (SIGTERM: nothing is running, so it exits at once), failing if it
/// logged an error or a panic.
pub async fn stop_worker(worker: Proc) -> anyhow::Result<()> {
    let dir = worker.dir.clone();
    worker.stop().await?;
    let err = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    if let Some(line) = err
        .lines()
        .find(|l| l.contains("ERROR") || l.contains("panicked"))
    {
        anyhow::bail!("{}: the worker logged: {line}", dir.display());
    }
    Ok(())
}

/// One run of the bursts: through the workers, then in-process, the same jobs.
pub async fn through(
    ctx: &mut Ctx,
    node: &mut Node,
    database: &str,
    workers: &[Proc],
) -> anyhow::Result<()> {
    let jobs: u64 = if ctx.quick { 400 } else { 1200 };
    let leases0 = node
        .easel
        .metric(METRICS_TOKEN, "easel_worker_leases_total")
        .await?;
    let workers0 = workers_cpu(workers);
    let remote = measured(ctx, node, WORKER_MODEL, jobs).await?;
    let worker_cpu = workers_cpu(workers) - workers0;
    let leases = node
        .easel
        .metric(METRICS_TOKEN, "easel_worker_leases_total")
        .await?
        - leases0;
    // A counter: a whole number, printed as one.
    let leases = leases.round() as u64;
    // Every job once: a lost or retried lease would show as more leases than jobs.
    if leases != jobs {
        anyhow::bail!("{leases} leases handed out for {jobs} worker jobs");
    }
    let local = measured(ctx, node, LOCAL_MODEL, jobs).await?;
    let per_job = |seconds: f64| seconds * 1e6 / jobs as f64;
    let mut rows = vec![
        (
            "rate",
            format!(
                "jobs/s (burst) through {WORKERS} `easel worker --engine sandbox`, 1 slot each"
            ),
            "jobs/s",
            remote.burst.per_sec,
        ),
        (
            "local_rate",
            "jobs/s (burst) in-process sandbox, 4 slots, same node".into(),
            "jobs/s",
            local.burst.per_sec,
        ),
        (
            "ratio",
            "worker jobs/s ÷ in-process jobs/s".into(),
            "×",
            remote.burst.per_sec / local.burst.per_sec.max(f64::MIN_POSITIVE),
        ),
        (
            // The burst's CPU per job × jobs ÷ leases: the same figure while each job is
            // leased once (checked above), named for what it divides by.
            "cpu_per_lease",
            "server CPU per worker job (÷ leases in /metrics)".into(),
            "µs",
            remote.burst.cpu_us * jobs as f64 / leases.max(1) as f64,
        ),
        (
            "local_cpu",
            "server CPU per in-process job".into(),
            "µs",
            local.burst.cpu_us,
        ),
        (
            "worker_cpu",
            "`easel worker` processes' CPU per job".into(),
            "µs",
            per_job(worker_cpu),
        ),
        (
            "busy",
            "machine CPU busy during the worker burst".into(),
            "%",
            remote.machine_busy * 100.0,
        ),
        (
            "local_busy",
            "machine CPU busy during the in-process burst".into(),
            "%",
            local.machine_busy * 100.0,
        ),
    ];
    if database == "postgres" {
        rows.push((
            "db_cpu",
            "PostgreSQL CPU per worker job".into(),
            "µs",
            per_job(remote.postgres_cpu),
        ));
        rows.push((
            "local_db_cpu",
            "PostgreSQL CPU per in-process job".into(),
            "µs",
            per_job(local.postgres_cpu),
        ));
    }
    for (figure, text, unit, value) in rows {
        ctx.report.add(
            &format!("workers.{database}.{figure}"),
            &format!("{text}, {database}"),
            unit,
            value,
        );
    }
    Ok(())
}

/// A burst, with what the whole machine and PostgreSQL spent while it ran.
struct Measured {
    burst: Burst,
    /// The share of the machine's CPU time that was busy (0 to 1).
    machine_busy: f64,
    /// CPU seconds of PostgreSQL's processes.
    postgres_cpu: f64,
}

/// `jobs` generations of `model` in a burst from the node's funded key.
async fn measured(ctx: &Ctx, node: &mut Node, model: &str, jobs: u64) -> anyhow::Result<Measured> {
    let (machine0, postgres0) = (MachineCpu::now(), Cpu::postgres());
    let make = generation_over(&node.key, vec![model.into()]);
    let burst = burst(ctx, &node.easel, &node.db, make, jobs).await?;
    node.submitted += jobs;
    Ok(Measured {
        burst,
        machine_busy: MachineCpu::now().busy_since(machine0),
        postgres_cpu: Cpu::postgres().since(postgres0),
    })
}

/// CPU seconds used so far by the worker processes.
fn workers_cpu(workers: &[Proc]) -> f64 {
    workers.iter().map(|w| Cpu::of(w.pid()).0).sum()
}

/// The machine's CPU time so far, in ticks (`/proc/stat`), all cores: whether a burst was
/// bound by the two shared cores or by something else.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MachineCpu {
    busy: u64,
    total: u64,
}

impl MachineCpu {
    fn now() -> MachineCpu {
        MachineCpu::parse(&std::fs::read_to_string("/proc/stat").unwrap_or_default())
    }

    /// The first line: `cpu user nice system idle iowait irq softirq steal guest …`
    /// (guest time is already counted in user).
    fn parse(stat: &str) -> MachineCpu {
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("cpu "))
            .map(|rest| {
                rest.split_whitespace()
                    .take(8)
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let total: u64 = ticks.iter().sum();
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        MachineCpu {
            busy: total.saturating_sub(idle),
            total,
        }
    }

    fn busy_since(self, earlier: MachineCpu) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        self.busy.saturating_sub(earlier.busy) as f64 / total.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_cpu_counts_idle_and_iowait_as_not_busy() {
        let before = MachineCpu::parse("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n");
        assert_eq!(
            before,
            MachineCpu {
                busy: 150,
                total: 1000
            }
        );
        // 300 more ticks, of which 150 busy and 30 waiting for I/O.
        let after = MachineCpu::parse("cpu  200 10 90 920 80 0 0 0 500 0\n");
        assert!((after.busy_since(before) - 0.5).abs() < 1e-9);
        assert_eq!(
            MachineCpu::parse("no stat"),
            MachineCpu { busy: 0, total: 0 }
        );
    }
}
