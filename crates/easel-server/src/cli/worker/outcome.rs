//! How a lease ends, and how an engine's failure is reported to the server.
//!
//! The classes are the engine contract's ([`EngineError`]), mapped once onto the worker
//! API's [`FailureKind`]. The message is what the server logs in full and shows the
//! developer only after scrubbing it; where an engine has a public `reason`, that is sent
//! rather than the detail (which may hold backend URLs and paths the operator's log gets
//! here anyway).

use std::time::Duration;

use easel_engines::{EngineError, RefusalStage};

use crate::api::worker::dto::{FailRequest, FailureKind};

/// Most characters of a failure message the server accepts.
pub const MAX_FAIL_MESSAGE_CHARS: usize = 500;

/// The wire name of a failure kind, for the log.
pub fn kind_name(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Transient => "transient",
        FailureKind::Permanent => "permanent",
        FailureKind::Misconfigured => "misconfigured",
        FailureKind::ContentRefused => "content_refused",
        FailureKind::Interrupted => "interrupted",
    }
}

/// The report an engine's failure makes; `None` for [`EngineError::Canceled`], whose
/// report depends on who canceled (see `report::engine_halt`).
pub fn fail_request(e: &EngineError) -> Option<FailRequest> {
    let (kind, message, retry_after) = match e {
        EngineError::Transient {
            detail,
            retry_after,
        } => (FailureKind::Transient, detail.clone(), *retry_after),
        EngineError::Permanent { reason, .. } => (FailureKind::Permanent, reason.clone(), None),
        EngineError::Refused {
            stage, categories, ..
        } => (
            FailureKind::ContentRefused,
            refusal(*stage, categories),
            None,
        ),
        EngineError::Misconfigured { detail } => (FailureKind::Misconfigured, detail.clone(), None),
        EngineError::BadOutput { reason, .. } => (FailureKind::Transient, reason.clone(), None),
        EngineError::Canceled => return None,
    };
    // The server wants a message; a backend that gave none still failed.
    let message = if message.trim().is_empty() {
        format!(
            "the backend failed ({}) without saying why",
            kind_name(kind)
        )
    } else {
        message
    };
    Some(FailRequest {
        kind,
        message: shorten(&message, MAX_FAIL_MESSAGE_CHARS),
        retry_after_seconds: retry_after.map(ceil_seconds),
    })
}

/// A report of a failure that is not the engine's (an input that could not be fetched,
/// an output the server refused): retried elsewhere.
pub fn transient(message: &str) -> FailRequest {
    FailRequest {
        kind: FailureKind::Transient,
        message: shorten(message, MAX_FAIL_MESSAGE_CHARS),
        retry_after_seconds: None,
    }
}

/// The report of a run stopped by this worker's shutdown.
pub fn interrupted() -> FailRequest {
    FailRequest {
        kind: FailureKind::Interrupted,
        message: "the worker shut down before the generation finished".to_owned(),
        retry_after_seconds: None,
    }
}

fn refusal(stage: RefusalStage, categories: &[String]) -> String {
    let what = match stage {
        RefusalStage::Input => "the request",
        RefusalStage::Output => "the output",
    };
    if categories.is_empty() {
        format!("the backend's safety system refused {what}")
    } else {
        format!(
            "the backend's safety system refused {what} (categories: {})",
            categories.join(", ")
        )
    }
}

/// Whole seconds, rounded up: a backend's "retry in 1.5 s" must not become 1 s.
fn ceil_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `text` cut to `max` characters (not bytes: a cut inside a multi-byte character would
/// not be a string).
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// How one lease ended, for the job's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Completed; the server's status (`succeeded`, or `failed` when its output
    /// moderation withheld the outputs).
    Completed(String),
    /// Reported as failed, with the kind and the generation's status after it.
    Failed {
        kind: FailureKind,
        status: Option<String>,
    },
    /// The server canceled the generation.
    Canceled,
    /// The lease ended on the server before this worker was done.
    LeaseLost,
    /// Nothing could be reported before the lease's deadline.
    Abandoned,
}

impl Outcome {
    /// One word for the log.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Completed(status) if status == "succeeded" => "succeeded",
            Outcome::Completed(_) => "completed_withheld",
            Outcome::Failed {
                kind: FailureKind::Interrupted,
                ..
            } => "interrupted",
            Outcome::Failed { .. } => "failed",
            Outcome::Canceled => "canceled",
            Outcome::LeaseLost => "lease_lost",
            Outcome::Abandoned => "abandoned",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: &EngineError) -> Option<FailureKind> {
        fail_request(e).map(|r| r.kind)
    }

    #[test]
    fn every_engine_error_maps_to_its_failure_kind() {
        assert_eq!(
            kind(&EngineError::transient("down")),
            Some(FailureKind::Transient)
        );
        assert_eq!(
            kind(&EngineError::permanent("bad")),
            Some(FailureKind::Permanent)
        );
        assert_eq!(
            kind(&EngineError::misconfigured("no ckpt")),
            Some(FailureKind::Misconfigured)
        );
        assert_eq!(
            kind(&EngineError::bad_output("empty")),
            Some(FailureKind::Transient)
        );
        let refused = EngineError::Refused {
            stage: RefusalStage::Input,
            categories: vec!["violence".to_owned()],
            detail: "HTTP 400 from http://10.0.0.5".to_owned(),
        };
        let r = fail_request(&refused).unwrap_or_else(|| panic!("reported"));
        assert_eq!(r.kind, FailureKind::ContentRefused);
        assert!(r.message.contains("violence") && r.message.contains("request"));
        assert!(!r.message.contains("10.0.0.5"), "{}", r.message);
    }

    #[test]
    fn kind_names_are_the_wire_names() {
        for kind in [
            FailureKind::Transient,
            FailureKind::Permanent,
            FailureKind::Misconfigured,
            FailureKind::ContentRefused,
            FailureKind::Interrupted,
        ] {
            let wire = serde_json::to_value(kind).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(wire, kind_name(kind));
        }
    }

    #[test]
    fn public_reasons_are_sent_and_retry_after_rounds_up() {
        let e = EngineError::permanent_because("the prompt is too long", "HTTP 400 at /srv/x");
        let r = fail_request(&e).unwrap_or_else(|| panic!("reported"));
        assert_eq!(r.message, "the prompt is too long");
        let e = EngineError::Transient {
            detail: "429".to_owned(),
            retry_after: Some(Duration::from_millis(1_500)),
        };
        let r = fail_request(&e).unwrap_or_else(|| panic!("reported"));
        assert_eq!(r.retry_after_seconds, Some(2));
        let e = EngineError::Transient {
            detail: "429".to_owned(),
            retry_after: Some(Duration::from_secs(3)),
        };
        let r = fail_request(&e).unwrap_or_else(|| panic!("reported"));
        assert_eq!(r.retry_after_seconds, Some(3));
    }

    #[test]
    fn messages_fit_the_servers_limit_in_characters() {
        let long = "é".repeat(2_000);
        let r = fail_request(&EngineError::transient(long)).unwrap_or_else(|| panic!("reported"));
        assert_eq!(r.message.chars().count(), MAX_FAIL_MESSAGE_CHARS);
        assert!(r.message.ends_with('…'));
        assert_eq!(shorten("short", 10), "short");
        let silent = EngineError::permanent_because("  ", "HTTP 400 with an empty body");
        let r = fail_request(&silent).unwrap_or_else(|| panic!("reported"));
        assert_eq!(
            r.message,
            "the backend failed (permanent) without saying why"
        );
        assert_eq!(shorten("", 0), "");
        assert_eq!(transient(&"x".repeat(900)).message.chars().count(), 500);
    }
}
