//! Claim-to-start with claims already waiting: the bench's own workers, plain HTTP clients
//! of the worker API (reqwest), each holding a long-poll claim open while generations are
//! submitted one at a time with a funded live key. Each sample runs from just before the
//! `POST /v1/generations` is sent (and, beside it, from its 202) to the moment a claimer
//! has read the lease for that generation. Each lease is completed at once (a ready PNG
//! of the right size PUT to its upload URL, then `complete`), so the next round starts
//! with every claimer waiting again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::WORKER_MODEL;
use crate::scenarios::jobs::now_ms;

/// How long a claim waits for work (the server's default cap, 25 s).
const WAIT_MS: u64 = 25_000;
/// After a lease is completed, the pause before the next submission, so that its claimer
/// is back in a long poll (the others already are).
const SETTLE: Duration = Duration::from_millis(10);
/// The longest a round may take before the scenario gives up.
const ROUND_TIMEOUT: Duration = Duration::from_secs(30);
/// The body of every submission: a 256x256 image, the size the PNG has.
const BODY: &str = r#"{"model":"gpu-image","prompt":"a lighthouse on a cliff at dusk, oil painting, warm light, crashing waves","width":256,"height":256}"#;

/// What a claimer tells the submitter.
#[derive(Debug)]
enum Event {
    /// A lease for `generation` was read completely at `at` (wall clock `wall_ms`).
    Leased {
        generation: String,
        at: Instant,
        wall_ms: i64,
    },
    /// Its output is uploaded and the lease completed (the generation succeeded).
    Done {
        generation: String,
    },
    /// The claimer stopped; `took` says whether it took one last lease first.
    Exited {
        took: bool,
    },
    Failed(String),
}

/// One submission, timed from both ends.
#[derive(Debug, Clone)]
pub struct Sample {
    pub generation: String,
    /// Wall clock just before the POST was sent, and when the lease was read (ms).
    pub sent_wall_ms: i64,
    pub leased_wall_ms: i64,
    /// Just before the POST to the lease read.
    pub submit_to_lease_ms: f64,
    /// POST to its 202.
    pub post_ms: f64,
    /// The 202 to the lease read: negative when the lease arrived first (a waiting claim
    /// is woken as the generation commits, before the 202 is written).
    pub answer_to_lease_ms: f64,
}

/// The claimers, waiting, and the submitter's end of their channel.
pub struct Claimers {
    base: String,
    events: mpsc::UnboundedReceiver<Event>,
    stop: Arc<AtomicBool>,
    alive: usize,
    tasks: tokio::task::JoinSet<()>,
}

impl Claimers {
    /// Starts one claimer per token, each with its own keep-alive connection.
    pub fn start(base: &str, tokens: &[String], png: Bytes) -> anyhow::Result<Claimers> {
        let (tx, events) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = tokio::task::JoinSet::new();
        for token in tokens {
            let claimer = Claimer {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_millis(WAIT_MS + 10_000))
                    .build()?,
                base: base.to_string(),
                token: token.clone(),
                png: png.clone(),
                stop: Arc::clone(&stop),
            };
            let tx = tx.clone();
            tasks.spawn(async move {
                let event = match claimer.work(&tx).await {
                    Ok(took) => Event::Exited { took },
                    Err(e) => Event::Failed(format!("{e:#}")),
                };
                let _ = tx.send(event);
            });
        }
        Ok(Claimers {
            base: base.to_string(),
            events,
            stop,
            alive: tokens.len(),
            tasks,
        })
    }

    /// Submits `count` generations one at a time, each once the last is done, and times
    /// each from the submitter's side to the claimer's.
    pub async fn rounds(&mut self, key: &str, count: usize) -> anyhow::Result<Vec<Sample>> {
        let client = reqwest::Client::new();
        let mut samples = Vec::with_capacity(count);
        // Let every claimer get its first claim in before the first submission.
        tokio::time::sleep(SETTLE * 10).await;
        for _ in 0..count {
            let (generation, sent, answered, sent_wall_ms) = self.submit(&client, key).await?;
            let (at, leased_wall_ms) = match self.next().await? {
                Event::Leased {
                    generation: g,
                    at,
                    wall_ms,
                } if g == generation => (at, wall_ms),
                other => anyhow::bail!("waiting for the lease of {generation}, got {other:?}"),
            };
            match self.next().await? {
                Event::Done { generation: g } if g == generation => {}
                other => anyhow::bail!("waiting for {generation} to be done, got {other:?}"),
            }
            samples.push(Sample {
                generation,
                sent_wall_ms,
                leased_wall_ms,
                submit_to_lease_ms: ms(at.duration_since(sent)),
                post_ms: ms(answered.duration_since(sent)),
                answer_to_lease_ms: signed_ms(answered, at),
            });
            tokio::time::sleep(SETTLE).await;
        }
        Ok(samples)
    }

    /// Stops the claimers cleanly: each is handed one last job and stops after completing
    /// it, rather than being cut off inside a long poll the server may still be holding
    /// (which could then take a later job and sit on it until its lease lapsed). Returns
    /// how many generations that took.
    pub async fn stop(mut self, key: &str) -> anyhow::Result<usize> {
        self.stop.store(true, Ordering::SeqCst);
        let client = reqwest::Client::new();
        let (mut submitted, mut untaken) = (0usize, 0i64);
        while self.alive > 0 {
            if untaken <= 0 {
                self.submit(&client, key).await?;
                submitted += 1;
                untaken += 1;
            }
            match self.next().await? {
                Event::Exited { took } => {
                    self.alive -= 1;
                    if took {
                        untaken -= 1;
                    }
                }
                Event::Leased { .. } | Event::Done { .. } => {}
                Event::Failed(e) => anyhow::bail!("a claimer failed: {e}"),
            }
        }
        // A claimer whose wait ran out just as it was told to stop leaves its job queued:
        // the worker processes started next run it, and the exactness check counts it.
        while self.tasks.join_next().await.is_some() {}
        Ok(submitted)
    }

    async fn submit(
        &self,
        client: &reqwest::Client,
        key: &str,
    ) -> anyhow::Result<(String, Instant, Instant, i64)> {
        let sent_wall_ms = now_ms();
        let sent = Instant::now();
        let res = client
            .post(format!("{}/v1/generations", self.base))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(BODY)
            .send()
            .await?;
        let status = res.status();
        let body = res.bytes().await?;
        let answered = Instant::now();
        if status.as_u16() != 202 {
            anyhow::bail!(
                "POST /v1/generations answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let body: Value = serde_json::from_slice(&body)?;
        let id = body["id"]
            .as_str()
            .context("a 202 without a generation id")?;
        Ok((id.to_string(), sent, answered, sent_wall_ms))
    }

    async fn next(&mut self) -> anyhow::Result<Event> {
        match tokio::time::timeout(ROUND_TIMEOUT, self.events.recv()).await {
            Ok(Some(Event::Failed(e))) => anyhow::bail!("a claimer failed: {e}"),
            Ok(Some(event)) => Ok(event),
            Ok(None) => anyhow::bail!("every claimer stopped"),
            Err(_) => anyhow::bail!("no lease came within {} s", ROUND_TIMEOUT.as_secs()),
        }
    }
}

/// One claimer: claim (long poll), report the lease, upload, complete, again.
struct Claimer {
    client: reqwest::Client,
    base: String,
    token: String,
    png: Bytes,
    stop: Arc<AtomicBool>,
}

impl Claimer {
    /// Works until told to stop; true if it took a lease after being told.
    async fn work(&self, tx: &mpsc::UnboundedSender<Event>) -> anyhow::Result<bool> {
        loop {
            let Some(lease) = self.claim().await? else {
                if self.stop.load(Ordering::SeqCst) {
                    return Ok(false);
                }
                continue;
            };
            let at = Instant::now();
            let wall_ms = now_ms();
            let generation = lease["generation_id"]
                .as_str()
                .context("a lease without generation_id")?
                .to_string();
            let _ = tx.send(Event::Leased {
                generation: generation.clone(),
                at,
                wall_ms,
            });
            self.finish(&lease).await?;
            let _ = tx.send(Event::Done { generation });
            if self.stop.load(Ordering::SeqCst) {
                return Ok(true);
            }
        }
    }

    /// One claim: the lease it answered with, or None after a wait with no work (204).
    async fn claim(&self) -> anyhow::Result<Option<Value>> {
        let res = self
            .client
            .post(format!("{}/worker/v1/claim", self.base))
            .bearer_auth(&self.token)
            .json(&json!({
                "models": [WORKER_MODEL],
                "max_jobs": 1,
                "wait_ms": WAIT_MS,
                "version": "easel-bench claimer",
            }))
            .send()
            .await?;
        match res.status().as_u16() {
            204 => Ok(None),
            200 => {
                let mut body: Value = res.json().await?;
                let lease = body
                    .get_mut("leases")
                    .and_then(|l| l.get_mut(0))
                    .map(Value::take)
                    .context("a claim answered 200 without a lease")?;
                Ok(Some(lease))
            }
            status => anyhow::bail!("claim answered {status}: {}", res.text().await?),
        }
    }

    /// Uploads the PNG as the lease's one output and completes the lease.
    async fn finish(&self, lease: &Value) -> anyhow::Result<()> {
        let lease_id = lease["lease_id"].as_str().context("no lease_id")?;
        let target = &lease["outputs"][0];
        let url = target["url"].as_str().context("no upload URL")?;
        // The node stores outputs on disk here, so uploads go to a path on the server
        // (with the token); a presigned URL would be absolute.
        let url = if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_string()
        };
        let res = self
            .client
            .put(url)
            .bearer_auth(&self.token)
            .header("content-type", "image/png")
            .body(self.png.clone())
            .send()
            .await?;
        let status = res.status();
        if !status.is_success() {
            anyhow::bail!("upload answered {status}: {}", res.text().await?);
        }
        let res = self
            .client
            .post(format!(
                "{}/worker/v1/leases/{lease_id}/complete",
                self.base
            ))
            .bearer_auth(&self.token)
            .json(&json!({"outputs": [{"index": 0}]}))
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await?;
        if !status.is_success() || body["status"] != "succeeded" {
            anyhow::bail!("complete answered {status}: {body}");
        }
        Ok(())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `to − from` in milliseconds, negative when `to` came first.
fn signed_ms(from: Instant, to: Instant) -> f64 {
    match to.checked_duration_since(from) {
        Some(d) => ms(d),
        None => -ms(from.duration_since(to)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_before_the_answer_counts_negative() {
        let from = Instant::now();
        let to = from + Duration::from_millis(3);
        assert!((signed_ms(from, to) - 3.0).abs() < 1e-9);
        assert!((signed_ms(to, from) + 3.0).abs() < 1e-9);
    }

    #[test]
    fn the_body_asks_for_the_worker_model_at_the_png_size() {
        let body: Value = serde_json::from_str(BODY).unwrap();
        assert_eq!(body["model"], WORKER_MODEL);
        assert_eq!(
            (body["width"].as_u64(), body["height"].as_u64()),
            (Some(256), Some(256))
        );
    }
}
