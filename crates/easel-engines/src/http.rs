//! What every HTTP backend shares: one way to read an answer's status into an
//! [`EngineError`], `Retry-After` parsing, capped body reads, and the backend's base URL.
//!
//! The classification is the contract: connection refused, timeouts, 5xx and 429
//! are transient (retried, no sooner than `Retry-After`); 401 and 403 mean the backend is
//! set up wrong (misconfigured, not retried); any other 4xx is permanent. Engines refine it
//! where their backend is more specific (a content refusal, an unknown checkpoint).

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::engine::EngineError;

/// Most bytes of an error body kept for the log.
const ERROR_BODY_CHARS: usize = 2_000;

/// Longest `Retry-After` honoured; a backend asking for more is treated as asking for this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Builds the HTTP client of one backend. No redirects: a backend that redirects is
/// misconfigured, and following one could leave the network the operator meant.
pub fn client(connect_timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("easel/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("could not build an HTTP client: {e}"))
}

/// A base URL from the config: absolute http(s), no query or fragment, no credentials
/// (those belong in environment variables), kept without a trailing slash.
pub fn base_url(raw: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("`base_url` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("`base_url` must start with http:// or https://".to_owned());
    }
    if url.host_str().is_none() {
        return Err("`base_url` has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "`base_url` must not hold credentials; name an environment variable instead".to_owned(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("`base_url` must not have a query or a fragment".to_owned());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Classifies a request that got no answer (refused, reset, timed out).
pub fn send_error(what: &str, err: &reqwest::Error) -> EngineError {
    if err.is_builder() {
        return EngineError::misconfigured(format!("{what}: {err}"));
    }
    EngineError::transient(format!("{what}: {err:#}"))
}

/// The status's default class, with the body (shortened) in the detail.
pub fn status_error(
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> EngineError {
    let detail = format!("{what}: HTTP {status}: {}", snippet(body));
    match status.as_u16() {
        401 | 403 | 407 => EngineError::misconfigured(detail),
        408 | 409 | 425 | 429 | 500..=599 => EngineError::Transient {
            detail,
            retry_after: retry_after(headers),
        },
        // A redirect is not followed (see `client`): the base URL is wrong.
        300..=399 => EngineError::misconfigured(detail),
        _ => EngineError::permanent_because(
            format!("the backend answered HTTP {}", status.as_u16()),
            detail,
        ),
    }
}

/// The body as text for a log line: lossy UTF-8, cut to a couple of thousand characters.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(ERROR_BODY_CHARS).collect();
    if text.chars().count() > ERROR_BODY_CHARS {
        out.push('…');
    }
    out
}

/// `retry-after-ms` (OpenAI), then `Retry-After` as seconds or an HTTP date, capped at
/// [`MAX_RETRY_AFTER`].
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0).min(MAX_RETRY_AFTER));
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// Reads a whole body, refusing more than `max` bytes (checked as it streams, so a huge
/// answer is never buffered).
pub async fn read_capped(
    what: &str,
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, EngineError> {
    if let Some(len) = response.content_length()
        && len > max as u64
    {
        return Err(EngineError::bad_output(format!(
            "the backend's answer is {len} bytes, more than the {max} allowed"
        )));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max {
                    return Err(EngineError::bad_output(format!(
                        "the backend's answer is more than the {max} bytes allowed"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(EngineError::transient(format!(
                    "{what}: reading the answer: {e:#}"
                )));
            }
        }
    }
}

/// Parses a JSON answer; HTML or truncated JSON from a backend that said 200 is a
/// transient fault (a proxy's error page, a restart mid-answer).
pub fn json<T: serde::de::DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, EngineError> {
    serde_json::from_slice(body).map_err(|e| {
        EngineError::transient(format!(
            "{what}: the answer is not the expected JSON ({e}): {}",
            snippet(body)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    #[test]
    fn statuses_are_classified_once() {
        let h = HeaderMap::new();
        let class =
            |code: u16| status_error("x", StatusCode::from_u16(code).expect("status"), &h, b"");
        assert!(matches!(class(401), EngineError::Misconfigured { .. }));
        assert!(matches!(class(403), EngineError::Misconfigured { .. }));
        assert!(matches!(class(429), EngineError::Transient { .. }));
        assert!(matches!(class(503), EngineError::Transient { .. }));
        assert!(matches!(class(500), EngineError::Transient { .. }));
        assert!(matches!(class(400), EngineError::Permanent { .. }));
        assert!(matches!(class(404), EngineError::Permanent { .. }));
        assert!(matches!(class(422), EngineError::Permanent { .. }));
        assert!(matches!(class(302), EngineError::Misconfigured { .. }));
    }

    #[test]
    fn retry_after_reads_ms_seconds_and_dates() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[
                ("retry-after-ms", "1500"),
                ("retry-after", "9")
            ])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "99999")])),
            Some(MAX_RETRY_AFTER)
        );
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let got = retry_after(&headers(&[("retry-after", &later)])).expect("a date parses");
        assert!(
            got > Duration::from_secs(100) && got <= Duration::from_secs(120),
            "{got:?}"
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn base_urls_refuse_credentials_and_odd_schemes() {
        assert_eq!(
            base_url("http://gpu:8188/").as_deref(),
            Ok("http://gpu:8188")
        );
        assert!(base_url("ftp://gpu").is_err());
        assert!(base_url("http://user:pw@gpu").is_err());
        assert!(base_url("http://gpu/?x=1").is_err());
        assert!(base_url("not a url").is_err());
    }

    #[test]
    fn html_instead_of_json_is_transient() {
        let got: Result<serde_json::Value, _> = json("x", b"<html>502 Bad Gateway</html>");
        assert!(matches!(got, Err(EngineError::Transient { .. })));
        let got: Result<serde_json::Value, _> = json("x", b"{\"images\": [\"abc");
        assert!(matches!(got, Err(EngineError::Transient { .. })));
    }
}
