//! Processes the harness starts (Easel, the baselines, peers) and what /proc says about them.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

/// A process started by the harness, killed when dropped.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl Proc {
    /// Starts `program args` with `env` (on top of a clean EASEL_* environment), output to
    /// files in `dir`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        dir: &Path,
        addr: SocketAddr,
    ) -> anyhow::Result<Proc> {
        std::fs::create_dir_all(dir)?;
        let stdout = std::fs::File::create(dir.join("stdout"))?;
        let stderr = std::fs::File::create(dir.join("stderr"))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true);
        environment(&mut command, env);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            addr,
            dir: dir.to_path_buf(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// Waits until `GET path` answers 200; returns how long that took from `since`.
    pub async fn wait_ready(&mut self, path: &str, since: Instant) -> anyhow::Result<Duration> {
        let url = format!("http://{}{path}", self.addr);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "{} exited with {status} before it was ready:\n{}",
                    self.name,
                    tail(&self.stderr())
                );
            }
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(since.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        anyhow::bail!(
            "{} not ready after 120 s:\n{}",
            self.name,
            tail(&self.stderr())
        )
    }

    /// Stops the process with SIGTERM (a graceful shutdown), then kills it after 20 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        self.child.kill().await?;
        Ok(())
    }

    pub fn cpu(&self) -> Cpu {
        Cpu::of(self.pid())
    }

    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }
}

/// `env` on top of this environment without its EASEL_* variables, so a setting of the
/// shell running the harness never reaches what it measures.
fn environment(command: &mut Command, env: &[(String, String)]) {
    for (key, _) in std::env::vars() {
        if key.starts_with("EASEL_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
}

/// The last lines of a log, for an error message.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// Kernel clock ticks per second for /proc CPU times (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU time used so far by a process (all its threads) or a set of processes, in seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu(pub f64);

impl Cpu {
    pub fn of(pid: u32) -> Cpu {
        Cpu(ticks(pid) as f64 / TICKS_PER_SEC)
    }

    /// Every process named `postgres` (PostgreSQL's backends and its background workers).
    pub fn postgres() -> Cpu {
        let mut total = 0;
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "postgres" {
                    total += ticks(pid);
                }
            }
        }
        Cpu(total as f64 / TICKS_PER_SEC)
    }

    pub fn since(self, earlier: Cpu) -> f64 {
        (self.0 - earlier.0).max(0.0)
    }
}

fn ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name may hold spaces; the fields after its closing parenthesis don't.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Runs a command to completion, failing with its output if it fails.
pub async fn run_command(
    program: &str,
    args: &[&str],
    env: &[(String, String)],
) -> anyhow::Result<String> {
    run_command_with_input(program, args, env, None).await
}

/// [`run_command`] with `input` written to its stdin (a password, say).
pub async fn run_command_with_input(
    program: &str,
    args: &[&str],
    env: &[(String, String)],
    input: Option<&str>,
) -> anyhow::Result<String> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    environment(&mut command, env);
    let mut child = command
        .spawn()
        .with_context(|| format!("running {program}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        stdin.write_all(format!("{text}\n").as_bytes()).await?;
    }
    let out = child
        .wait_with_output()
        .await
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "{program} {}: {}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
