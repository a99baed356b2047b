//! Real `easel worker` processes: spawning, signals, and what they printed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::eventually;

/// A running `easel worker`.
pub struct WorkerProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl WorkerProcess {
    /// `easel worker --server URL --token T <args>` with JSON logs captured.
    pub fn spawn(url: &str, token: &str, args: &[&str]) -> WorkerProcess {
        let mut cmd = crate::support::binary::easel();
        cmd.arg("--log-format")
            .arg("json")
            .arg("worker")
            .arg("--server")
            .arg(url)
            .args(args)
            .env("EASEL_WORKER_TOKEN", token)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn easel worker: {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let sink = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Ok(mut all) = sink.lock() {
                        all.push(line);
                    }
                }
            });
        }
        WorkerProcess { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap_or_else(|e| panic!("kill -{signal}: {e}"));
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Everything printed so far.
    pub fn output(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits until a printed line contains `needle`.
    pub async fn printed(&self, needle: &str, timeout_ms: u64) -> bool {
        eventually(timeout_ms, || async {
            self.output().iter().any(|l| l.contains(needle))
        })
        .await
    }

    /// Waits for the process to exit; its status code.
    pub async fn exited(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.code(),
                Ok(None) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(None) => return None,
                Err(e) => panic!("wait: {e}"),
            }
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // A stopped process must be continued to die of SIGKILL promptly everywhere.
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(self.child.id().to_string())
                .status();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
