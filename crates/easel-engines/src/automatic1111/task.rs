//! One task on the server: its name, its progress, and stopping it without touching
//! another client's job.
//!
//! The server's `/interrupt` has no argument: it stops the job running at that moment.
//! The only way to stop *our* job is to look at `/progress`'s `current_task` first, and to
//! interrupt only when it is our `force_task_id`. A canceled task that still waits for the
//! server's lock (another client's job runs) will start later even though nobody waits
//! for it, so it is watched and stopped when it starts.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::client::Client;
use super::wire::ProgressResponse;
use crate::engine::{GenerationRequest, Progress};

/// How often `/progress` is read while a generation runs.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How often a canceled task that has not started yet is looked for.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How long a canceled task is watched for; a job queued longer than this behind other
/// clients' work is left to run.
const WATCH_FOR: Duration = Duration::from_secs(600);
/// Idle answers in a row after which a watched task is taken to have ended or never
/// arrived (a waiting task starts as soon as the server is free).
const IDLE_ANSWERS: u32 = 3;
/// Longest a cancel waits for its first look and interrupt before returning.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The `force_task_id` of one attempt of a generation: recognisable in the server's
/// console and never the same for two attempts, so a retry is not mistaken for the
/// attempt before it.
#[must_use]
pub fn name(req: &GenerationRequest) -> String {
    let id: String = req
        .id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(64)
        .collect();
    if id.is_empty() {
        format!("task(easel-{}-a{})", unique(), req.attempt)
    } else {
        format!("task(easel-{id}-a{})", req.attempt)
    }
}

/// A process-unique value for requests without an id.
fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// What `/progress` says about `task`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Our task is the running one.
    Ours,
    /// Nothing runs.
    Idle,
    /// Another job runs.
    Busy,
    /// No answer.
    Unknown,
}

fn seen(progress: &ProgressResponse, task: &str) -> Seen {
    let running = progress.state.job_count != Some(0);
    match progress.current_task.as_deref() {
        Some(current) if current == task && running => Seen::Ours,
        _ if !running => Seen::Idle,
        // A fork that reports no job count: no task named means nothing runs.
        None if progress.state.job_count.is_none() => Seen::Idle,
        _ => Seen::Busy,
    }
}

/// Reads `/progress` every second and records it while our task runs. Never ends: it
/// is raced against the generation's own request.
pub async fn follow_progress(client: &Client, task: &str, progress: &Progress) -> Infallible {
    loop {
        tokio::time::sleep(PROGRESS_EVERY).await;
        if let Ok(answer) = client.progress().await
            && seen(&answer, task) == Seen::Ours
        {
            // 1.0 is for a finished generation; the server reaches it before decoding.
            progress.set(answer.progress.min(0.99));
        }
    }
}

/// Interrupts `task` if it runs now; if not, watches for it in the background.
pub async fn stop(client: &Client, task: &str) {
    let first = tokio::time::timeout(STOP_WAIT, stop_if_running(client, task))
        .await
        .unwrap_or(Seen::Unknown);
    if first != Seen::Ours {
        tokio::spawn(stop_when_it_starts(client.clone(), task.to_owned()));
    }
}

/// One look at `/progress`, and an interrupt when the running task is ours.
async fn stop_if_running(client: &Client, task: &str) -> Seen {
    let Ok(answer) = client.progress().await else {
        return Seen::Unknown;
    };
    let now = seen(&answer, task);
    if now == Seen::Ours
        && let Err(e) = client.interrupt().await
    {
        tracing::warn!(task, error = %e, "automatic1111: interrupting a canceled task failed");
    }
    now
}

/// Watches for a canceled `task` and interrupts it when it starts; gives up when the
/// server stays idle (the task ended or never arrived) or after [`WATCH_FOR`].
async fn stop_when_it_starts(client: Client, task: String) {
    let deadline = Instant::now() + WATCH_FOR;
    let mut idle = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(WATCH_EVERY).await;
        match stop_if_running(&client, &task).await {
            Seen::Ours => return,
            Seen::Idle => {
                idle += 1;
                if idle >= IDLE_ANSWERS {
                    return;
                }
            }
            Seen::Busy | Seen::Unknown => idle = 0,
        }
    }
}

/// Stops the task when dropped while armed: the generation's future was dropped (a
/// timeout) or its answer was lost, and the server may still be working on it.
pub struct StopOnDrop {
    client: Client,
    task: String,
    armed: bool,
}

impl StopOnDrop {
    /// An armed guard for `task`.
    pub fn new(client: Client, task: String) -> StopOnDrop {
        StopOnDrop {
            client,
            task,
            armed: true,
        }
    }

    /// The task needs no stopping (it answered, or the cancel path stops it itself).
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Outside a runtime (a test dropping the future at exit) there is nothing to stop
        // it with; the server's job then simply runs to its end.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            let task = std::mem::take(&mut self.task);
            runtime.spawn(async move { stop(&client, &task).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automatic1111::wire::State;

    fn answer(task: Option<&str>, job_count: i64) -> ProgressResponse {
        ProgressResponse {
            progress: 0.5,
            state: State {
                job_count: Some(job_count),
            },
            current_task: task.map(str::to_owned),
        }
    }

    #[test]
    fn only_our_running_task_is_ours() {
        assert_eq!(seen(&answer(Some("task(a)"), 1), "task(a)"), Seen::Ours);
        assert_eq!(seen(&answer(Some("task(a)"), -1), "task(a)"), Seen::Ours);
        assert_eq!(seen(&answer(Some("task(b)"), 1), "task(a)"), Seen::Busy);
        // A1111 leaves a failed task's id behind; with no job running it is not ours.
        assert_eq!(seen(&answer(Some("task(a)"), 0), "task(a)"), Seen::Idle);
        assert_eq!(seen(&answer(None, 0), "task(a)"), Seen::Idle);
    }

    #[test]
    fn names_differ_per_attempt_and_keep_to_safe_characters() {
        let req = GenerationRequest {
            id: "gen_01J9 /x)".to_owned(),
            model: "m".to_owned(),
            kind: crate::engine::ModelKind::Image,
            prompt: String::new(),
            negative_prompt: None,
            width: 8,
            height: 8,
            n: 1,
            seed: 1,
            duration_seconds: None,
            fps: None,
            input_image: None,
            attempt: 2,
        };
        assert_eq!(name(&req), "task(easel-gen_01J9x-a2)");
        let anonymous = GenerationRequest {
            id: String::new(),
            ..req
        };
        assert_ne!(name(&anonymous), name(&anonymous));
    }
}
