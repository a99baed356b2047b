//! What every scenario shares: where the binaries and the scratch directory are, how long
//! to measure, the databases, and the report being filled in.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::load::{self, Load, LoadResult, MakeCall};
use crate::procs::{Cpu, Proc};
use crate::report::Report;

pub struct Ctx {
    pub easel_bin: PathBuf,
    pub bench_bin: PathBuf,
    pub work: PathBuf,
    /// `postgres://user@host:port` without a database: the harness creates its own.
    pub pg_server: String,
    pub redis_url: String,
    pub quick: bool,
    pub runs: usize,
    /// Each measured window, after a warm-up.
    pub window: Duration,
    pub warmup: Duration,
    /// Connections of every closed-model run.
    pub connections: usize,
    pub report: Report,
}

/// One measured window: the load generator's view plus the CPU the target used.
pub struct Measured {
    pub load: LoadResult,
    /// CPU time of the target process per answered request.
    pub cpu_us: f64,
    /// CPU time of PostgreSQL's processes per answered request (0 unless asked).
    pub db_cpu_us: f64,
}

impl Ctx {
    pub fn pg_url(&self, database: &str) -> String {
        format!("{}/{database}", self.pg_server)
    }

    /// Drops and creates a PostgreSQL database; returns its URL.
    pub async fn fresh_pg(&self, database: &str) -> anyhow::Result<String> {
        use sqlx::Executor;
        let admin = sqlx::PgPool::connect(&self.pg_url("postgres")).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)").as_str())
            .await?;
        admin
            .execute(format!("CREATE DATABASE {database}").as_str())
            .await?;
        admin.close().await;
        Ok(self.pg_url(database))
    }

    /// Starts a subcommand of this binary (a baseline or a fake) and waits until `ready`
    /// answers 200.
    pub async fn start_bench(
        &self,
        name: &str,
        args: &[&str],
        ready: &str,
    ) -> anyhow::Result<Proc> {
        let addr = crate::procs::free_addr()?;
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.push("--listen".into());
        all.push(addr.to_string());
        let mut proc = Proc::spawn(
            name,
            &self.bench_bin,
            &all,
            &[],
            &self.work.join(name),
            addr,
        )?;
        proc.wait_ready(ready, Instant::now()).await?;
        Ok(proc)
    }

    /// A warm-up (discarded), then one measured window of `load` at `target`, whose CPU
    /// time is counted. Every answer must be a 2xx: `what` names the window if not.
    pub async fn measure(
        &self,
        target: &Proc,
        load: Load,
        make: MakeCall,
        with_db: bool,
        what: &str,
    ) -> anyhow::Result<Measured> {
        if !self.warmup.is_zero() {
            let warm = Load {
                duration: self.warmup,
                limit: None,
                ..load
            };
            load::run(target.addr, warm, make.clone()).await?;
        }
        let pid = target.pid();
        let (cpu0, db0) = (Cpu::of(pid), with_db.then(Cpu::postgres));
        let result = load::run(target.addr, load, make).await?;
        let cpu = Cpu::of(pid).since(cpu0);
        let db = db0.map_or(0.0, |d| Cpu::postgres().since(d));
        result.check_all_ok(what)?;
        let answered = (result.requests - result.errors).max(1) as f64;
        Ok(Measured {
            cpu_us: cpu * 1e6 / answered,
            db_cpu_us: db * 1e6 / answered,
            load: result,
        })
    }

    /// [`Ctx::measure`], recorded under `key` as `label`.
    pub async fn window(
        &mut self,
        key: &str,
        label: &str,
        target: &Proc,
        load: Load,
        make: MakeCall,
        with_db: bool,
    ) -> anyhow::Result<Measured> {
        let m = self.measure(target, load, make, with_db, label).await?;
        self.record(key, label, &m);
        Ok(m)
    }

    /// Records a measured window's throughput, latency and CPU under `key`.
    pub fn record(&mut self, key: &str, label: &str, m: &Measured) {
        let r = &mut self.report;
        r.add(
            &format!("{key}.rps"),
            &format!("{label}: req/s"),
            "req/s",
            m.load.rps,
        );
        r.add(
            &format!("{key}.p50"),
            &format!("{label}: p50"),
            "ms",
            m.load.p50_ms,
        );
        r.add(
            &format!("{key}.p99"),
            &format!("{label}: p99"),
            "ms",
            m.load.p99_ms,
        );
        r.add(
            &format!("{key}.cpu"),
            &format!("{label}: CPU per request"),
            "µs",
            m.cpu_us,
        );
        if m.db_cpu_us > 0.0 {
            r.add(
                &format!("{key}.dbcpu"),
                &format!("{label}: PostgreSQL CPU per request"),
                "µs",
                m.db_cpu_us,
            );
        }
    }

    pub fn log(&self, text: &str) {
        eprintln!(
            "[{:>6.1}s] {text}",
            crate::started().elapsed().as_secs_f64()
        );
    }
}
