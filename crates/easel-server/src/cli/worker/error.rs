//! Why a worker API call did not succeed, read once from the answer: worth another try
//! (no answer, 5xx, 408, 429, or not the API's answer) or refused for good (a 4xx, with
//! the server's error envelope). Neither the token nor a presigned URL's signature ever
//! appears in one: reqwest's errors are stripped of their URL, and the address is named
//! by [`Target::shown`].

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};
use serde::Deserialize;

use super::target::Target;

/// Most characters of an error answer kept for the message.
const ERROR_BODY_CHARS: usize = 300;

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer (refused, reset, timed out), a 5xx, 408 or 429, or an answer that is not
    /// the API's (a proxy's error page): worth another try after a pause.
    #[error("{what}: {detail}")]
    Unavailable {
        what: String,
        detail: String,
        retry_after: Option<Duration>,
    },
    /// An answer the server will give again (4xx).
    #[error("{what}: {problem}")]
    Rejected { what: String, problem: Problem },
}

/// The server's error envelope, `{"error":{"type","code","message","request_id"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    /// `invalid_worker_token`, `lease_lost`, … (empty when the answer had no envelope).
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    /// Whether the Easel server answered (not an object store behind a presigned URL).
    pub by_server: bool,
}

impl Problem {
    /// The lease a call was about has ended on the server: 409 `lease_lost`, a lease the
    /// server does not know (404), or a token it no longer accepts (401). Nothing more
    /// will be accepted for it. An object store's answers never mean this.
    pub fn lease_gone(&self) -> bool {
        self.by_server && matches!(self.status, 401 | 404 | 409)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request {id})")?;
        }
        Ok(())
    }
}

impl CallError {
    /// The server's answer, when it gave one it will repeat.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            CallError::Rejected { problem, .. } => Some(problem),
            CallError::Unavailable { .. } => None,
        }
    }

    /// See [`Problem::lease_gone`].
    pub fn lease_gone(&self) -> bool {
        self.problem().is_some_and(Problem::lease_gone)
    }

    /// What the server asked for before another try, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CallError::Unavailable { retry_after, .. } => *retry_after,
            CallError::Rejected { problem, .. } => problem.retry_after,
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    error: EnvelopeBody,
}

#[derive(Deserialize)]
struct EnvelopeBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    request_id: Option<String>,
}

/// A failure to get an answer, without the URL reqwest puts in its errors (a presigned
/// URL's signature): the address is named by [`Target::shown`] instead.
pub fn unavailable(target: &Target, e: reqwest::Error) -> CallError {
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(err) = source {
        detail.push_str(": ");
        detail.push_str(&err.to_string());
        source = err.source();
    }
    CallError::Unavailable {
        what: target.shown(),
        detail,
        retry_after: None,
    }
}

/// The class of a non-2xx answer.
pub fn classify(
    target: &Target,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> CallError {
    let what = target.shown();
    let retry_after = easel_engines::http::retry_after(headers);
    let envelope: Option<Envelope> = serde_json::from_slice(body).ok();
    if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
        let detail = match &envelope {
            Some(e) => format!(
                "HTTP {} {}: {}",
                status.as_u16(),
                e.error.code,
                e.error.message
            ),
            None => format!("HTTP {}", status.as_u16()),
        };
        return CallError::Unavailable {
            what,
            detail,
            retry_after,
        };
    }
    let problem = match envelope {
        Some(Envelope { error }) => Problem {
            status: status.as_u16(),
            code: error.code,
            message: error.message,
            request_id: error.request_id,
            retry_after,
            by_server: target.with_token,
        },
        None => Problem {
            status: status.as_u16(),
            code: String::new(),
            message: plain_message(status, headers, body),
            request_id: None,
            retry_after,
            by_server: target.with_token,
        },
    };
    CallError::Rejected { what, problem }
}

/// What a non-API answer says: where a redirect points, or the start of the body.
fn plain_message(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> String {
    if status.is_redirection() {
        let to = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("elsewhere");
        return format!("the server redirects to {to}; use that address as --server");
    }
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() > ERROR_BODY_CHARS {
        out = out.chars().take(ERROR_BODY_CHARS).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;
    use crate::cli::worker::target;

    fn server() -> Target {
        let base = target::server_url("https://h.example").unwrap_or_else(|e| panic!("{e}"));
        target::api(&base, "worker/v1/claim").unwrap_or_else(|e| panic!("{e}"))
    }

    fn store() -> Target {
        let base = target::server_url("https://h.example").unwrap_or_else(|e| panic!("{e}"));
        target::lease_url(&base, "https://s3.example/b/o?X-Amz-Signature=sekrit", true)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn envelope(code: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"error": {"type": "x", "code": code, "message": "m", "request_id": "req_9"}}))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn outages_are_retryable_and_keep_the_servers_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        for code in [500, 502, 503, 408, 429] {
            let e = classify(&server(), status(code), &headers, &envelope("busy"));
            assert!(e.problem().is_none(), "{code}: {e}");
            assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        }
        // A proxy's HTML error page is an outage too.
        let e = classify(
            &server(),
            status(502),
            &HeaderMap::new(),
            b"<html>Bad Gateway</html>",
        );
        assert!(matches!(e, CallError::Unavailable { .. }), "{e}");
    }

    #[test]
    fn refusals_carry_the_envelope_and_say_whether_the_lease_is_gone() {
        let e = classify(
            &server(),
            status(409),
            &HeaderMap::new(),
            &envelope("lease_lost"),
        );
        let p = e.problem().unwrap_or_else(|| panic!("refused: {e}"));
        assert_eq!((p.status, p.code.as_str()), (409, "lease_lost"));
        assert_eq!(p.request_id.as_deref(), Some("req_9"));
        assert!(e.lease_gone());
        assert!(e.to_string().contains("req_9"), "{e}");
        // The same status from an object store says nothing about the lease.
        let e = classify(
            &store(),
            status(404),
            &HeaderMap::new(),
            b"<Error>NoSuchKey</Error>",
        );
        assert!(e.problem().is_some() && !e.lease_gone(), "{e}");
        assert!(!e.to_string().contains("sekrit"), "{e}");
    }

    #[test]
    fn a_redirect_says_where_to_point_the_worker() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LOCATION,
            HeaderValue::from_static("https://easel.example.com/worker/v1/claim"),
        );
        let e = classify(&server(), status(301), &headers, b"");
        assert!(e.to_string().contains("easel.example.com"), "{e}");
        assert!(!e.lease_gone());
    }

    #[tokio::test]
    async fn a_connection_failure_names_neither_the_url_nor_its_signature() {
        // A port nothing listens on: the connection is refused at once.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        drop(listener);
        let base = target::server_url("https://h.example").unwrap_or_else(|e| panic!("{e}"));
        let raw = format!("http://127.0.0.1:{port}/b/o?X-Amz-Signature=sekrit");
        let t = target::lease_url(&base, &raw, true).unwrap_or_else(|e| panic!("{e}"));
        let sent = reqwest::Client::new().put(t.url.clone()).send().await;
        let e = match sent {
            Err(e) => unavailable(&t, e),
            Ok(answer) => panic!("nothing listens there, yet: {answer:?}"),
        };
        let text = format!("{e} {e:?}");
        assert!(!text.contains("sekrit"), "{text}");
        assert!(text.contains("presigned"), "{text}");
    }
}
