//! Running the real `easel` binary: admin commands and whole server processes.

use std::path::Path;
use std::process::{Command, Stdio};

use easel_test_utils::TestDb;
use serde_json::Value;

/// The binary under test.
pub fn easel() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_easel"));
    // The test process's own settings must not leak into the child.
    for (key, _) in std::env::vars() {
        if key.starts_with("EASEL_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// The output of a finished command.
#[derive(Debug)]
pub struct Output {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// stdout parsed as JSON; panics (showing stderr) if the command failed.
    #[track_caller]
    pub fn json(&self) -> Value {
        assert!(self.ok, "command failed: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {}", self.stdout))
    }
}

/// Runs `easel <args>` against `db`, feeding `stdin`.
pub fn run(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    run_in(db.dir.as_path(), &db.url, args, stdin)
}

/// Runs `easel <args>` with `dir` as data directory and `url` as database.
pub fn run_in(dir: &Path, url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    run_with(dir, url, args, stdin, &[])
}

/// `easel admin <args> --json` against `db` with the file mailer (mail goes to
/// `<data dir>/mail`), succeeding or not.
pub fn admin_mailing(db: &TestDb, args: &[&str]) -> Output {
    let mut full = vec!["admin"];
    full.extend_from_slice(args);
    full.push("--json");
    run_with(
        db.dir.as_path(),
        &db.url,
        &full,
        None,
        &[("EASEL_MAIL__TRANSPORT", "file")],
    )
}

/// [`run_in`] with more environment variables.
fn run_with(
    dir: &Path,
    url: &str,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Output {
    use std::io::Write;
    let mut child = easel()
        .args(args)
        .envs(env.iter().copied())
        .env("EASEL_DATA_DIR", dir)
        .env("EASEL_DATABASE_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run easel: {e}"));
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("easel did not finish: {e}"));
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `easel admin <args> --json`, expected to succeed.
#[track_caller]
pub fn admin(db: &TestDb, args: &[&str]) -> Value {
    let mut full = vec!["admin"];
    full.extend_from_slice(args);
    full.push("--json");
    run(db, &full, None).json()
}

/// `easel admin <args>`, expected to fail: returns stderr.
#[track_caller]
pub fn admin_fails(db: &TestDb, args: &[&str]) -> String {
    let mut full = vec!["admin"];
    full.extend_from_slice(args);
    full.push("--json");
    let out = run(db, &full, None);
    assert!(!out.ok, "expected failure, got: {}", out.stdout);
    assert!(
        out.stdout.is_empty(),
        "a failing --json command prints nothing on stdout: {}",
        out.stdout
    );
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "the error is one line: {}",
        out.stderr
    );
    out.stderr
}
