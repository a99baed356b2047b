//! One lease's life: fetch the input image, run the engine under the lease's deadline,
//! check the outputs, upload them, then complete (or report the failure), with the
//! heartbeat beating beside it from claim to report. One INFO line says how it ended.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use easel_engines::check::{self, Limits};
use easel_engines::{
    Artifact, Control, Engine, EngineError, Generated, GenerationRequest, StopToken,
};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::client::Client;
use super::heartbeat::{self, Beat, Ended, Phase, Watch};
use super::outcome;
use super::report::{self, Halt, Timings};
use super::retry::{self, GaveUp};
use super::target;
use crate::api::worker::dto::{CompletedOutput, Lease};

/// Largest input image fetched; the server checked it against its own, smaller limit.
const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;
/// How long a job may take to stop once the worker stops for good.
const ENGINE_STOP_WAIT: Duration = Duration::from_secs(5);
/// The engine stops this much before the lease's deadline (at most a tenth of it), so a
/// timeout is still reported while the lease holds.
const REPORT_MARGIN: Duration = Duration::from_secs(2);

/// What every lease of this worker shares.
pub struct Shared {
    pub client: Client,
    /// One engine per served model.
    pub engines: HashMap<String, Arc<dyn Engine>>,
    pub max_output_bytes: usize,
}

/// One lease being worked on.
pub(super) struct Job {
    pub shared: Arc<Shared>,
    pub lease: Lease,
    pub deadline: Instant,
    /// Fires when the server ends the lease or the worker stops for good.
    pub token: StopToken,
    /// The worker's own stop, after the shutdown grace.
    pub hard_stop: StopToken,
    pub watch: Arc<Watch>,
}

/// Works `lease` to its end and logs how it went. `slot` is the engine slot it runs in,
/// given back as soon as the engine is done; `hard_stop` fires when the worker stops
/// waiting for running jobs.
pub async fn run(
    shared: Arc<Shared>,
    lease: Lease,
    slot: Option<OwnedSemaphorePermit>,
    hard_stop: StopToken,
) {
    let started = Instant::now();
    let job = Job {
        deadline: started + Duration::from_millis(lease.deadline_in_ms),
        token: hard_stop.child_token(),
        watch: Arc::new(Watch::default()),
        shared,
        lease,
        hard_stop,
    };
    tracing::debug!(lease.id = %job.lease.lease_id, generation.id = %job.lease.generation_id, model = %job.lease.model, attempt = job.lease.attempt, deadline_ms = job.lease.deadline_in_ms, "lease claimed");
    let control = Control::new(job.token.child_token());
    let beat = heartbeat::start(Beat {
        client: job.shared.client.clone(),
        lease_id: job.lease.lease_id.clone(),
        interval: Duration::from_millis(job.lease.heartbeat_interval_ms),
        progress: control.progress.clone(),
        watch: Arc::clone(&job.watch),
        lease: job.token.clone(),
    });
    let mut timings = Timings::default();
    let worked = {
        let work = job.work(&control, &mut timings, slot);
        tokio::pin!(work);
        tokio::select! {
            worked = &mut work => worked,
            // Stopped for good: the engine's token has fired; an engine that does not
            // stop in time is dropped, and the job still reports itself interrupted.
            () = after_hard_stop(&job.hard_stop) => Err(Halt::Interrupted),
        }
    };
    // The lease ends with the report: a beat racing it would only hear 409.
    drop(beat);
    let (outcome, detail) = report::finish(&job, worked).await;
    timings.total_ms = ms(started.elapsed());
    report::log(&job.lease, &outcome, detail.as_deref(), &timings);
}

impl Job {
    /// Everything up to the completion: the outputs and what the backend spent, or why
    /// the job stopped.
    async fn work(
        &self,
        control: &Control,
        timings: &mut Timings,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Result<(Vec<CompletedOutput>, Option<serde_json::Value>), Halt> {
        let engine = self
            .shared
            .engines
            .get(&self.lease.model)
            .cloned()
            .ok_or_else(|| {
                Halt::fail(outcome::transient(&format!(
                    "this worker does not serve model `{}`",
                    self.lease.model
                )))
            })?;
        let mut request = self.lease.request.clone();
        if request.id.is_empty() {
            request.id.clone_from(&self.lease.generation_id);
        }
        let clock = Instant::now();
        self.fetch_input(&mut request).await?;
        timings.fetch_ms = ms(clock.elapsed());

        let clock = Instant::now();
        let generated = self.generate(engine.as_ref(), &request, control).await;
        timings.engine_ms = ms(clock.elapsed());
        // The backend is free for the next lease while this one checks, uploads and
        // completes.
        drop(slot);
        let generated = generated?;

        self.watch.set_phase(Phase::Checking);
        let artifacts = check_outputs(&request, generated.outputs, self.shared.max_output_bytes)
            .await
            .map_err(|e| self.engine_halt(&e))?;

        let clock = Instant::now();
        let uploaded = self.upload_all(artifacts).await?;
        timings.upload_ms = ms(clock.elapsed());
        Ok((uploaded, generated.usage))
    }

    /// GETs the input image of an image-to-image lease into the request.
    async fn fetch_input(&self, request: &mut GenerationRequest) -> Result<(), Halt> {
        let Some(raw) = &self.lease.input_image_url else {
            return Ok(());
        };
        self.watch.set_phase(Phase::FetchingInput);
        let client = &self.shared.client;
        let target = target::lease_url(client.base(), raw, false)
            .map_err(|why| Halt::fail(outcome::transient(&why)))?;
        let (bytes, content_type) = retry::until(
            "GET input image",
            &self.lease.lease_id,
            self.deadline,
            &self.token,
            |left| client.download(&target, MAX_INPUT_BYTES, left),
        )
        .await
        .map_err(|e| self.gave_up("the input image could not be fetched", e))?;
        match &mut request.input_image {
            Some(input) => input.bytes = bytes,
            None => {
                request.input_image = Some(easel_engines::InputImage {
                    bytes,
                    content_type: content_type.unwrap_or_else(|| "image/png".to_owned()),
                });
            }
        }
        Ok(())
    }

    /// Runs the engine, cut before the lease's deadline.
    async fn generate(
        &self,
        engine: &dyn Engine,
        request: &GenerationRequest,
        control: &Control,
    ) -> Result<Generated, Halt> {
        self.watch.set_phase(Phase::Generating);
        let left = self.deadline.saturating_duration_since(Instant::now());
        let budget = left.saturating_sub(REPORT_MARGIN.min(left / 10));
        match tokio::time::timeout(budget, engine.generate(request, control)).await {
            Ok(Ok(generated)) if self.stopped().is_none() => Ok(generated),
            Ok(Ok(_)) => Err(self.stopped().unwrap_or(Halt::Interrupted)),
            Ok(Err(e)) => Err(self.engine_halt(&e)),
            Err(_) => {
                // The run is abandoned here; tell the engine so it stops the backend's work.
                control.cancel.cancel();
                Err(Halt::fail(outcome::transient(&format!(
                    "the backend did not finish within {} s, the lease's deadline",
                    budget.as_secs()
                ))))
            }
        }
    }

    /// Uploads every output to its slot; returns what the completion lists.
    async fn upload_all(&self, artifacts: Vec<Artifact>) -> Result<Vec<CompletedOutput>, Halt> {
        self.watch.set_phase(Phase::Uploading);
        if artifacts.len() != self.lease.outputs.len() {
            return Err(Halt::fail(outcome::transient(&format!(
                "the backend returned {} outputs, {} were asked for",
                artifacts.len(),
                self.lease.outputs.len()
            ))));
        }
        let client = &self.shared.client;
        let mut uploaded = Vec::with_capacity(artifacts.len());
        for (index, artifact) in artifacts.into_iter().enumerate() {
            let slot = self
                .lease
                .outputs
                .iter()
                .find(|t| t.index as usize == index)
                .ok_or_else(|| {
                    Halt::fail(outcome::transient(&format!(
                        "the lease has no upload slot for output {index}"
                    )))
                })?;
            let target = target::lease_url(client.base(), &slot.url, slot.presigned)
                .map_err(|why| Halt::fail(outcome::transient(&why)))?;
            let (content_type, seed) = (artifact.content_type, artifact.seed);
            let bytes = Bytes::from(artifact.bytes);
            let what = format!("PUT output {index}");
            retry::until(
                &what,
                &self.lease.lease_id,
                self.deadline,
                &self.token,
                |left| client.upload(&target, content_type, bytes.clone(), left),
            )
            .await
            .map_err(|e| self.gave_up(&format!("output {index} could not be uploaded"), e))?;
            uploaded.push(CompletedOutput {
                index: slot.index,
                seed,
            });
        }
        Ok(uploaded)
    }

    /// Why the job stopped, when something outside it stopped it.
    fn stopped(&self) -> Option<Halt> {
        if self.watch.ended().is_some() {
            Some(Halt::Ended)
        } else if self.hard_stop.is_cancelled() {
            Some(Halt::Interrupted)
        } else {
            None
        }
    }

    /// The halt an engine's failure (or an output's) makes (see [`report::engine_halt`]).
    fn engine_halt(&self, e: &EngineError) -> Halt {
        report::engine_halt(e, self.watch.ended(), self.hard_stop.is_cancelled())
    }

    /// The halt of a call that gave up.
    fn gave_up(&self, what: &str, e: GaveUp) -> Halt {
        match e {
            _ if e.lease_gone() => Halt::Ended,
            GaveUp::Stopped => self.stopped().unwrap_or(Halt::Interrupted),
            GaveUp::Deadline(last) => Halt::Abandoned(format!("{what}: {last}")),
            GaveUp::Rejected(problem) => {
                Halt::fail(outcome::transient(&format!("{what}: {problem}")))
            }
        }
    }

    /// How the server ended the lease, if it did.
    pub(super) fn ended(&self) -> Option<Ended> {
        self.watch.ended()
    }
}

async fn after_hard_stop(hard_stop: &StopToken) {
    hard_stop.cancelled().await;
    tokio::time::sleep(ENGINE_STOP_WAIT).await;
}

/// Decodes every output off the async threads, as the server's own runs do.
async fn check_outputs(
    request: &GenerationRequest,
    produced: Vec<easel_engines::Produced>,
    max_bytes: usize,
) -> Result<Vec<Artifact>, EngineError> {
    let limits = Limits {
        max_bytes,
        exact_size: true,
    };
    let owned = request.clone();
    tokio::task::spawn_blocking(move || check::inspect_all(&owned, produced, &limits))
        .await
        .unwrap_or_else(|e| {
            Err(EngineError::bad_output(format!(
                "the output check failed: {e}"
            )))
        })
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
