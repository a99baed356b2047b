//! Following one queued prompt to its end: the websocket first (progress, errors, the
//! `executing` with `node: null` that says the history is written), then `/history`
//! polling when the socket is gone, and the end state read the way ComfyUI's own jobs API
//! reads it (`comfy_execution/jobs.py`): success → done, error with an interrupt → canceled,
//! error → failed.
//!
//! Cancellation wraps the whole follow: whatever step is waiting, a cancel deletes the
//! prompt from the queue if it has not started, interrupts it if it runs, and returns.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::client::{Client, Socket};
use super::wire::{ExecutionError, HistoryEntry, QueuePosition, WsMessage};
use crate::engine::{Control, EngineError, scrub};

/// Polls in a row that find a prompt neither queued nor in the history before it counts
/// as lost (a restarted server forgets its queue), or that find no history entry after
/// the socket said the run ended.
pub const LOST_AFTER_POLLS: u32 = 5;

/// Where one prompt sits in a generation that queues several: progress is reported as
/// `(index + step/steps) / count`.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub index: u32,
    pub count: u32,
}

impl Span {
    fn report(self, control: &Control, value: f64, max: f64) {
        if max > 0.0 && self.count > 0 {
            let within = (value / max).clamp(0.0, 1.0);
            control
                .progress
                .set(((f64::from(self.index) + within) / f64::from(self.count)) as f32);
        }
    }
}

/// How the socket part of a follow ended.
enum SocketEnd {
    /// The run ended on the server; its history entry is (about to be) written.
    Finished,
    /// The socket closed or broke first.
    Lost,
}

/// Waits for `prompt_id` to end and returns its history entry, or the failure.
pub async fn follow(
    client: &Client,
    socket: Option<Socket>,
    prompt_id: &str,
    control: &Control,
    span: Span,
    poll: Duration,
) -> Result<HistoryEntry, EngineError> {
    let work = async {
        let end = match socket {
            Some(mut socket) => watch(&mut socket, prompt_id, control, span).await?,
            None => SocketEnd::Lost,
        };
        let entry = match end {
            SocketEnd::Finished => wait_for_history(client, prompt_id, poll).await?,
            SocketEnd::Lost => poll_until_done(client, prompt_id, poll).await?,
        };
        end_state(entry)
    };
    tokio::select! {
        biased;
        () = control.cancel.cancelled() => Err(cancel(client, prompt_id).await),
        result = work => result,
    }
}

/// Stops our prompt where it is, then reports the cancel.
async fn cancel(client: &Client, prompt_id: &str) -> EngineError {
    // `/interrupt` without a matching id interrupts whatever runs on older servers, so it
    // is sent only when the queue shows our prompt running.
    let stopped = match client.queue().await {
        Ok(queue) => match queue.position(prompt_id) {
            Some(QueuePosition::Pending) => client.delete_pending(prompt_id).await,
            Some(QueuePosition::Running) => client.interrupt(prompt_id).await,
            None => Ok(()),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = stopped {
        tracing::warn!(prompt.id = prompt_id, error = %e, "comfyui: could not stop a canceled prompt");
    }
    EngineError::Canceled
}

/// Reads the socket until our prompt ends or the socket goes away.
async fn watch(
    socket: &mut Socket,
    prompt_id: &str,
    control: &Control,
    span: Span,
) -> Result<SocketEnd, EngineError> {
    while let Some(frame) = socket.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) | Err(_) => return Ok(SocketEnd::Lost),
            // Binary frames are previews; pings are answered by the library.
            Ok(_) => continue,
        };
        let Ok(message) = serde_json::from_str::<WsMessage>(text.as_str()) else {
            continue;
        };
        if let Some(end) = on_event(&message, prompt_id, control, span)? {
            return Ok(end);
        }
    }
    Ok(SocketEnd::Lost)
}

/// One event: `Some` when it ends the run.
fn on_event(
    message: &WsMessage,
    prompt_id: &str,
    control: &Control,
    span: Span,
) -> Result<Option<SocketEnd>, EngineError> {
    let data = &message.data;
    // Events reach only our socket (our own client id) except `execution_interrupted`,
    // which is broadcast; older servers omit `prompt_id` on some events.
    let ours = data
        .get("prompt_id")
        .and_then(Value::as_str)
        .is_none_or(|id| id == prompt_id);
    if !ours {
        return Ok(None);
    }
    match message.kind.as_str() {
        "progress" => {
            let number = |k: &str| data.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            span.report(control, number("value"), number("max"));
            Ok(None)
        }
        "executing" if data.get("node").is_some_and(Value::is_null) => {
            Ok(Some(SocketEnd::Finished))
        }
        "execution_success" => Ok(Some(SocketEnd::Finished)),
        "execution_error" => Err(execution_failed(
            &serde_json::from_value(data.clone()).unwrap_or_default(),
        )),
        "execution_interrupted" if data.get("prompt_id").is_some() => Err(interrupted()),
        _ => Ok(None),
    }
}

/// After the socket said the run ended: the entry is written right after
/// `execution_success`, so give it a few polls.
async fn wait_for_history(
    client: &Client,
    prompt_id: &str,
    poll: Duration,
) -> Result<HistoryEntry, EngineError> {
    for _ in 0..LOST_AFTER_POLLS {
        if let Some(entry) = client.history(prompt_id).await? {
            return Ok(entry);
        }
        tokio::time::sleep(poll).await;
    }
    Err(EngineError::transient(format!(
        "comfyui: prompt {prompt_id} ended but its history entry never appeared"
    )))
}

/// Without a socket: `/history` until the entry appears, `/queue` to tell a prompt still
/// waiting or running from one the server no longer knows.
async fn poll_until_done(
    client: &Client,
    prompt_id: &str,
    poll: Duration,
) -> Result<HistoryEntry, EngineError> {
    let mut unseen = 0;
    loop {
        if let Some(entry) = client.history(prompt_id).await? {
            return Ok(entry);
        }
        if client.queue().await?.position(prompt_id).is_some() {
            unseen = 0;
        } else {
            unseen += 1;
            if unseen >= LOST_AFTER_POLLS {
                return Err(EngineError::transient(format!(
                    "comfyui: prompt {prompt_id} is neither queued nor in the history: lost"
                )));
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// The end state of a history entry, as jobs.py `normalize_history_item` reads it.
fn end_state(entry: HistoryEntry) -> Result<HistoryEntry, EngineError> {
    let Some(status) = &entry.status else {
        return Ok(entry);
    };
    if status.status_str != "error" {
        return Ok(entry);
    }
    let message = |kind: &str| {
        status
            .messages
            .iter()
            .rev()
            .find(|(k, _)| k == kind)
            .map(|(_, data)| data)
    };
    if message("execution_interrupted").is_some() {
        return Err(interrupted());
    }
    if let Some(data) = message("execution_error") {
        return Err(execution_failed(
            &serde_json::from_value(data.clone()).unwrap_or_default(),
        ));
    }
    Err(EngineError::permanent_because(
        "the workflow failed on the backend",
        format!(
            "comfyui: history status error without a message: {:?}",
            status.messages
        ),
    ))
}

/// Interrupted by someone else (we return before this when we asked): another try may run.
fn interrupted() -> EngineError {
    EngineError::transient("comfyui: the run was interrupted on the backend")
}

/// A node raised. Running out of GPU memory may pass (another job held it); anything else
/// would fail the same way again.
fn execution_failed(error: &ExecutionError) -> EngineError {
    let detail = format!(
        "comfyui: execution_error in node {} ({}): {}: {}",
        error
            .node_id
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_default(),
        error.node_type,
        error.exception_type,
        error.exception_message
    );
    let text = format!("{} {}", error.exception_type, error.exception_message).to_lowercase();
    let oom_word = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w == "oom");
    if oom_word
        || ["out of memory", "outofmemory", "allocation on device"]
            .iter()
            .any(|m| text.contains(m))
    {
        return EngineError::transient(detail);
    }
    let first_line = error.exception_message.lines().next().unwrap_or_default();
    let node = if error.node_type.is_empty() {
        "a node"
    } else {
        &error.node_type
    };
    EngineError::permanent_because(
        scrub(&format!("the workflow failed in {node}: {first_line}")),
        detail,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: &str, message: &str) -> ExecutionError {
        ExecutionError {
            node_type: "KSampler".to_owned(),
            exception_type: kind.to_owned(),
            exception_message: message.to_owned(),
            ..ExecutionError::default()
        }
    }

    #[test]
    fn out_of_memory_is_transient_other_errors_permanent() {
        let oom = error(
            "torch.OutOfMemoryError",
            "CUDA out of memory. Tried to allocate 2 GiB",
        );
        assert!(matches!(
            execution_failed(&oom),
            EngineError::Transient { .. }
        ));
        let bad = error(
            "RuntimeError",
            "shape mismatch in /opt/ComfyUI/comfy/model.py\nTraceback...",
        );
        let EngineError::Permanent { reason, .. } = execution_failed(&bad) else {
            panic!("permanent expected");
        };
        assert!(
            reason.contains("KSampler") && reason.contains("shape mismatch"),
            "{reason}"
        );
        assert!(
            !reason.contains("/opt") && !reason.contains("Traceback"),
            "{reason}"
        );
    }

    #[test]
    fn history_end_states_follow_jobs_py() {
        let entry = |status: &str, messages: Value| -> HistoryEntry {
            serde_json::from_value(serde_json::json!({
                "outputs": {}, "status": {"status_str": status, "completed": status == "success", "messages": messages}
            }))
            .expect("entry")
        };
        assert!(end_state(entry("success", serde_json::json!([]))).is_ok());
        let interrupted = entry(
            "error",
            serde_json::json!([["execution_start", {}], ["execution_interrupted", {"prompt_id": "p"}]]),
        );
        assert!(matches!(
            end_state(interrupted),
            Err(EngineError::Transient { .. })
        ));
        let failed = entry(
            "error",
            serde_json::json!([["execution_error", {"node_type": "VAEDecode", "exception_message": "boom", "exception_type": "ValueError"}]]),
        );
        assert!(matches!(
            end_state(failed),
            Err(EngineError::Permanent { .. })
        ));
        let no_status: HistoryEntry =
            serde_json::from_value(serde_json::json!({"outputs": {}, "status": null}))
                .expect("entry");
        assert!(end_state(no_status).is_ok());
    }
}
