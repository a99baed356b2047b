//! One delivery attempt: the body, its signatures, the request to a vetted address, and
//! what came back (status, latency, the start of the body unless it came from this host,
//! or why nothing came).

use std::time::{Duration, Instant};

use easel_db::DeliveryTask;

use super::Webhooks;
use super::signature::{self, Secret};
use super::ssrf::{self, Refusal};

/// Bytes of a response body kept in the delivery log.
pub const EXCERPT_BYTES: usize = 1024;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub body_excerpt: Option<String>,
    /// Why it failed (`None` on a 2xx).
    pub error: Option<String>,
    /// The receiver's `Retry-After`, on a 429 or 503.
    pub retry_after: Option<Duration>,
}

impl Sent {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn failed(error: String, started: Instant) -> Sent {
        Sent {
            status: None,
            latency_ms: elapsed_ms(started),
            body_excerpt: None,
            error: Some(error),
            retry_after: None,
        }
    }
}

/// The Standard Webhooks payload `{"type", "timestamp", "data"}`. `data` is the event's
/// stored JSON text as it is, so every attempt of a message sends the same bytes.
pub fn payload(event_type: &str, created_at_ms: i64, data: &str) -> String {
    let timestamp =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(created_at_ms) * 1_000_000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
    let event_type = serde_json::Value::from(event_type);
    format!(r#"{{"type":{event_type},"timestamp":"{timestamp}","data":{data}}}"#)
}

/// The secrets that sign an attempt at `now`: the current one, and the previous one
/// during a rotation's overlap.
fn secrets(task: &DeliveryTask, now_ms: i64) -> Vec<Secret> {
    let endpoint = &task.endpoint;
    let previous = endpoint.previous_secret.as_deref().filter(|_| {
        endpoint
            .previous_secret_expires_at
            .is_some_and(|until| until > now_ms)
    });
    [Some(endpoint.secret.as_str()), previous]
        .into_iter()
        .flatten()
        .filter_map(Secret::parse)
        .collect()
}

/// Sends one attempt of `task` at `now_ms`.
pub async fn attempt(webhooks: &Webhooks, task: &DeliveryTask, now_ms: i64) -> Sent {
    let started = Instant::now();
    let mode = task.delivery.mode;
    // Checked again at every attempt: the allow-list may have changed since creation.
    let target = match ssrf::check_url(&task.endpoint.url, !mode.is_live(), &webhooks.allow) {
        Ok(target) => target,
        Err(refusal) => return refused(task, &refusal, started),
    };
    let timeout_ms = webhooks.config.timeout_ms;
    match signed_request(webhooks, task, target.url, now_ms)
        .send()
        .await
    {
        Ok(response) => answered(response, started, timeout_ms).await,
        Err(e) => match causes(&e).iter().find_map(|c| c.downcast_ref::<Refusal>()) {
            Some(refusal) => refused(task, refusal, started),
            None => Sent::failed(describe(&e, timeout_ms), started),
        },
    }
}

/// The POST of `task`'s event to `url`, signed with the endpoint's secrets at `now_ms`.
fn signed_request(
    webhooks: &Webhooks,
    task: &DeliveryTask,
    url: url::Url,
    now_ms: i64,
) -> reqwest::RequestBuilder {
    let body = payload(
        &task.delivery.event_type,
        task.event_created_at,
        &task.event_data,
    );
    let id = &task.delivery.event_id;
    let timestamp = now_ms.div_euclid(1000);
    let secrets = secrets(task, now_ms);
    let signing: Vec<&Secret> = secrets.iter().collect();
    webhooks
        .client(task.delivery.mode)
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature::header(&signing, id, timestamp, body.as_bytes()),
        )
        .body(body)
}

/// A delivery the URL check refused, statically or at connect. The delivery log says why
/// in the developer's words (no address); the server log gets the address.
fn refused(task: &DeliveryTask, refusal: &Refusal, started: Instant) -> Sent {
    if let Some((address, reason)) = refusal.address() {
        tracing::warn!(
            endpoint.id = %task.endpoint.id,
            delivery.id = %task.delivery.id,
            host = %refusal.host().unwrap_or("(the URL names the address)"),
            %address,
            %reason,
            "refused a webhook delivery to a denied address"
        );
    }
    Sent::failed(format!("refused: {refusal}"), started)
}

/// What an answer came to. The start of the body is kept only from an address off this
/// host: an answer from loopback may be one of the operator's own services talking, and
/// the delivery log would hand it to whoever made the endpoint.
async fn answered(mut response: reqwest::Response, started: Instant, timeout_ms: u64) -> Sent {
    let status = response.status().as_u16();
    let retry_after = matches!(status, 429 | 503)
        .then(|| response.headers().get("retry-after"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // Unknown means not shown: the rule fails closed.
    let shown = response
        .remote_addr()
        .is_some_and(|a| !ssrf::is_this_host(a.ip()));
    let (body_excerpt, read_error) = if shown {
        excerpt(&mut response, timeout_ms).await
    } else {
        (None, None)
    };
    let error = if (200..300).contains(&status) {
        None
    } else {
        Some(read_error.unwrap_or_else(|| format!("the endpoint answered HTTP {status}")))
    };
    Sent {
        status: Some(status),
        latency_ms: elapsed_ms(started),
        body_excerpt,
        error,
        retry_after,
    }
}

/// The first [`EXCERPT_BYTES`] of the body, and why reading it failed, if it did.
async fn excerpt(
    response: &mut reqwest::Response,
    timeout_ms: u64,
) -> (Option<String>, Option<String>) {
    let mut excerpt = Vec::new();
    let mut read_error = None;
    while excerpt.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                read_error = Some(describe(&e, timeout_ms));
                break;
            }
        }
    }
    excerpt.truncate(EXCERPT_BYTES);
    let body = (!excerpt.is_empty()).then(|| String::from_utf8_lossy(&excerpt).into_owned());
    (body, read_error)
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// Why a request got no response, in words for the delivery log (a refusal of the
/// resolver's is [`refused`]'s to tell).
fn describe(e: &reqwest::Error, timeout_ms: u64) -> String {
    let causes = causes(e);
    // reqwest's own message says only "error sending request"; the deepest cause says why.
    let deepest = causes.last().map(ToString::to_string).unwrap_or_default();
    if e.is_timeout() {
        format!("timed out after {timeout_ms} ms")
    } else if e.is_connect() {
        format!("could not connect to the endpoint: {deepest}")
    } else {
        format!("the request failed: {deepest}")
    }
}

/// `e` and its causes, outermost first. An io::Error's `source()` skips the error it wraps,
/// so the walk steps into that one instead.
fn causes(e: &reqwest::Error) -> Vec<&(dyn std::error::Error + 'static)> {
    let mut chain: Vec<&(dyn std::error::Error + 'static)> = vec![e];
    while let Some(last) = chain.last() {
        let next = match last
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => last.source(),
        };
        match next {
            Some(next) if chain.len() < 32 => chain.push(next),
            _ => break,
        }
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_the_standard_webhooks_shape_with_the_stored_data_as_is() {
        let body = payload(
            "generation.succeeded",
            1_795_000_000_123,
            r#"{"id":"gen_1","n": 2}"#,
        );
        assert_eq!(
            body,
            r#"{"type":"generation.succeeded","timestamp":"2026-11-18T11:06:40.123Z","data":{"id":"gen_1","n": 2}}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(parsed["data"]["n"], 2);
    }
}
