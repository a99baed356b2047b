//! Easel's benchmark harness. `easel-bench run` starts Easel (SQLite, PostgreSQL, Redis),
//! the baselines it is measured against and the fake model backends its engines call as
//! separate processes of this binary, drives every target with the same load generator,
//! judges the goals, and writes BENCHMARKS.md and a JSON file. `scripts/bench` builds the
//! release binaries and runs it.

mod backends;
mod baselines;
mod ctx;
mod db;
mod easel;
mod goals;
mod load;
mod procs;
mod queue_depth;
mod report;
mod scenarios;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::ctx::Ctx;
use crate::report::{Machine, Report};

/// When the harness started, for its progress lines.
pub fn started() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

#[derive(Debug, Parser)]
#[command(
    name = "easel-bench",
    about = "Measures Easel against its baselines and peers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const SCENARIOS: &[&str] = &[
    "api",
    "generations",
    "jobs",
    "queue",
    "webhooks",
    "peer",
    "engines",
    "workers",
    "idle",
    "nodes",
    "console",
];

#[derive(Debug, Subcommand)]
enum Command {
    /// Every scenario, several runs each; writes the report.
    Run {
        /// One short run of each scenario and a shallower deep queue (under 3 minutes).
        #[arg(long)]
        quick: bool,
        /// Only these scenarios (api, generations, jobs, queue, webhooks, peer, engines,
        /// workers, idle, nodes, console).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// The `easel` binary to measure.
        #[arg(long, default_value = "target/release/easel")]
        easel: PathBuf,
        /// PostgreSQL server (the harness creates and drops its own databases there).
        #[arg(
            long,
            env = "EASEL_BENCH_PG",
            default_value = "postgres://postgres@127.0.0.1:5432"
        )]
        pg: String,
        #[arg(
            long,
            env = "EASEL_BENCH_REDIS_URL",
            default_value = "redis://127.0.0.1:6379"
        )]
        redis: String,
        /// The Markdown report: the part between its bench markers is replaced.
        #[arg(long, default_value = "BENCHMARKS.md")]
        markdown: PathBuf,
        #[arg(long, default_value = "benchmarks.json")]
        json: PathBuf,
    },
    /// Baseline: a bare axum handler.
    Bare {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Baseline: one single-row INSERT + COMMIT per request.
    Insert {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        database_url: String,
    },
    /// A webhook receiver.
    Sink {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// A fake model backend from the test tree, answering at once (what the peer and
    /// Easel's engines call).
    FakeBackend {
        #[arg(long, value_enum)]
        kind: backends::Kind,
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Baseline: signed POSTs from a bare reqwest loop; prints JSON.
    ReqwestLoop {
        #[arg(long)]
        url: String,
        #[arg(long)]
        count: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Queue claim cost at depth (also part of `run`).
    QueueDepth {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 1000)]
        queued: u64,
        #[arg(long, default_value_t = 0)]
        finished: u64,
        #[arg(long, default_value_t = 500)]
        claims: u32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    started();
    match Cli::parse().command {
        Command::Run {
            quick,
            only,
            easel,
            pg,
            redis,
            markdown,
            json,
        } => run(quick, only, easel, pg, redis, markdown, json).await,
        Command::Bare { listen } => baselines::bare(listen).await,
        Command::Insert {
            listen,
            database_url,
        } => baselines::insert(listen, &database_url).await,
        Command::Sink { listen } => baselines::sink(listen).await,
        Command::FakeBackend { kind, listen } => backends::serve(kind, listen).await,
        Command::ReqwestLoop {
            url,
            count,
            concurrency,
        } => {
            let r = baselines::reqwest_loop(&url, count, concurrency).await?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
        Command::QueueDepth {
            database_url,
            queued,
            finished,
            claims,
        } => {
            let r = queue_depth::measure(&database_url, queued, finished, claims).await?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(())
        }
    }
}

async fn run(
    quick: bool,
    only: Vec<String>,
    easel: PathBuf,
    pg: String,
    redis: String,
    markdown: PathBuf,
    json: PathBuf,
) -> anyhow::Result<()> {
    for s in &only {
        if !SCENARIOS.contains(&s.as_str()) {
            anyhow::bail!("unknown scenario {s}: one of {}", SCENARIOS.join(", "));
        }
    }
    let work = std::env::temp_dir().join(format!("easel-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let mut ctx = Ctx {
        easel_bin: std::fs::canonicalize(&easel)
            .with_context(|| format!("{}: build it first (scripts/bench does)", easel.display()))?,
        bench_bin: std::env::current_exe()?,
        work: work.clone(),
        pg_server: pg.trim_end_matches('/').to_string(),
        redis_url: redis,
        quick,
        runs: if quick { 1 } else { 3 },
        window: Duration::from_secs(if quick { 2 } else { 3 }),
        warmup: Duration::from_secs(1),
        connections: 32,
        report: Report::default(),
    };
    let r = &mut ctx.report;
    r.quick = quick;
    r.only.clone_from(&only);
    r.date = time::OffsetDateTime::now_utc().date().to_string();
    r.commit = procs::run_command("git", &["rev-parse", "--short", "HEAD"], &[])
        .await
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    r.machine = Some(machine().await);
    r.settings.insert(
        "load".into(),
        format!(
            "one generator (easel-bench, hyper HTTP/1.1 keep-alive), {} connections, {} s warm-up then {} s measured per window, {} run(s) per scenario; medians with min – max",
            ctx.connections,
            ctx.warmup.as_secs(),
            ctx.window.as_secs(),
            ctx.runs
        ),
    );
    r.settings.insert(
        "latency".into(),
        "max throughput from the closed model; p50/p99 at a fixed arrival rate from the open model, counted from when each request was due".into(),
    );
    r.settings.insert(
        "CPU".into(),
        "CPU per request is the target process's user + system time over the window ÷ answers (PostgreSQL's own processes separately)".into(),
    );
    let wanted = |s: &str| only.is_empty() || only.iter().any(|o| o == s);
    let mut failures = Vec::new();
    for scenario in SCENARIOS {
        if !wanted(scenario) {
            continue;
        }
        let result = match *scenario {
            "api" => scenarios::api::run(&mut ctx).await,
            "generations" => scenarios::generations::run(&mut ctx).await,
            "jobs" => scenarios::jobs::run(&mut ctx).await,
            "queue" => scenarios::queue::run(&mut ctx).await,
            "webhooks" => scenarios::webhooks::run(&mut ctx).await,
            "peer" => scenarios::peer::run(&mut ctx).await,
            "engines" => scenarios::engines::run(&mut ctx).await,
            "workers" => scenarios::workers::run(&mut ctx).await,
            "idle" => scenarios::idle::run(&mut ctx).await,
            "nodes" => scenarios::nodes::run(&mut ctx).await,
            "console" => scenarios::console::run(&mut ctx).await,
            _ => Ok(()),
        };
        if let Err(e) = result {
            let text = format!("scenario {scenario} failed: {e:#}");
            ctx.log(&text);
            ctx.report.note(text.clone());
            failures.push(text);
        }
    }
    ctx.report.seconds = started().elapsed().as_secs_f64();
    goals::judge_all(&mut ctx.report);
    write_markdown(&markdown, &ctx.report.markdown())?;
    std::fs::write(&json, serde_json::to_string_pretty(&ctx.report)?)?;
    eprintln!(
        "wrote {} and {} in {:.0} s",
        markdown.display(),
        json.display(),
        ctx.report.seconds
    );
    // Kept on request: the nodes' databases and logs, to study a run afterwards.
    if std::env::var_os("EASEL_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        eprintln!("kept {}", work.display());
    }
    if !failures.is_empty() {
        anyhow::bail!(
            "{} scenario(s) failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    Ok(())
}

const BEGIN: &str =
    "<!-- easel-bench:begin (written by scripts/bench; edits here are replaced) -->";
const END: &str = "<!-- easel-bench:end -->";

/// Replaces the generated part of the Markdown file, keeping what people wrote around it.
fn write_markdown(path: &std::path::Path, section: &str) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{BEGIN}\n{section}{}", &old[..b], &old[e..]),
        _ => format!("{old}\n{BEGIN}\n{section}{END}\n"),
    };
    std::fs::write(path, new)?;
    Ok(())
}

async fn machine() -> Machine {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    Machine {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gib: kib / 1_048_576.0,
        cpu,
        kernel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_part_is_replaced_and_the_rest_kept() {
        let path = std::env::temp_dir().join(format!("easel-bench-md-{}", std::process::id()));
        std::fs::write(&path, "# Title\n\nintro\n").unwrap();
        write_markdown(&path, "first run\n").unwrap();
        write_markdown(&path, "second run\n").unwrap();
        std::fs::write(
            &path,
            std::fs::read_to_string(&path).unwrap() + "\n## History\nold\n",
        )
        .unwrap();
        write_markdown(&path, "third run\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            text,
            format!("# Title\n\nintro\n\n{BEGIN}\nthird run\n{END}\n\n## History\nold\n")
        );
    }
}
