//! A lease's heartbeat: its own task, so that a long render, a slow upload or a backend
//! that blocks never lets the lease lapse. Each beat carries the engine's progress and
//! what the job is doing; the answer may cancel the generation, and a 409 says the lease
//! is gone. Either way the lease's token fires, which stops the engine and any call in
//! flight, and the job reports nothing (the server already ended the lease).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use easel_engines::{Progress, StopToken};
use tokio::task::JoinHandle;

use super::backoff::Outage;
use super::client::Client;
use crate::api::worker::dto::HeartbeatRequest;

/// Why the server ended a lease before the worker was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The generation was canceled (`cancel: true`).
    Canceled,
    /// The lease lapsed or was taken back (409, 404, or the token no longer works).
    Lost,
}

/// What a job is doing, shown to the developer with the progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Starting = 0,
    FetchingInput = 1,
    Generating = 2,
    Checking = 3,
    Uploading = 4,
}

impl Phase {
    fn message(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::FetchingInput => "fetching the input image",
            Phase::Generating => "generating",
            Phase::Checking => "checking the outputs",
            Phase::Uploading => "uploading the outputs",
        }
    }

    fn from_u8(value: u8) -> Phase {
        match value {
            1 => Phase::FetchingInput,
            2 => Phase::Generating,
            3 => Phase::Checking,
            4 => Phase::Uploading,
            _ => Phase::Starting,
        }
    }
}

/// What the job and its heartbeat share.
#[derive(Debug, Default)]
pub struct Watch {
    ended: OnceLock<Ended>,
    phase: AtomicU8,
}

impl Watch {
    /// Whether, and why, the server ended the lease.
    pub fn ended(&self) -> Option<Ended> {
        self.ended.get().copied()
    }

    /// Records what the job does now.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }
}

/// A running heartbeat; it stops when this is dropped.
pub struct Heartbeat(JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a heartbeat needs.
pub struct Beat {
    pub client: Client,
    pub lease_id: String,
    pub interval: Duration,
    pub progress: Progress,
    pub watch: Arc<Watch>,
    /// Fired when the server ends the lease; the heartbeat stops when it fires for any
    /// other reason.
    pub lease: StopToken,
}

/// Starts beating every `beat.interval`, the first one an interval after the claim.
pub fn start(beat: Beat) -> Heartbeat {
    Heartbeat(tokio::spawn(run(beat)))
}

async fn run(beat: Beat) {
    // Never hammer the server, whatever a lease says.
    let interval = beat.interval.max(Duration::from_secs(1));
    let mut outage = Outage::default();
    let mut next = interval;
    loop {
        tokio::select! {
            () = beat.lease.cancelled() => return,
            () = tokio::time::sleep(next) => {}
        }
        let body = HeartbeatRequest {
            progress: Some(f64::from(beat.progress.get())),
            message: Some(beat.watch.phase().message().to_owned()),
        };
        let timeout = interval.clamp(Duration::from_secs(5), Duration::from_secs(30));
        match beat.client.heartbeat(&beat.lease_id, &body, timeout).await {
            Ok(answer) => {
                if let Some((lasted, failures)) = outage.recovered() {
                    tracing::info!(lease.id = %beat.lease_id, failures, lasted_ms = lasted.as_millis() as u64, "heartbeats go through again");
                }
                if answer.cancel {
                    return end(&beat, Ended::Canceled);
                }
                // A lease shorter than our interval (the server changed its mind): beat
                // at a third of what is left, as the server's own interval would.
                let left = Duration::from_millis(answer.lease_expires_in_ms);
                next = interval.min(left / 3).max(Duration::from_secs(1));
            }
            Err(e) if e.lease_gone() => {
                tracing::warn!(lease.id = %beat.lease_id, error = %e, "the server ended the lease; stopping the job");
                return end(&beat, Ended::Lost);
            }
            Err(e) => {
                let failure = outage.failed(e.retry_after());
                if failure.started {
                    tracing::warn!(lease.id = %beat.lease_id, error = %e, "a heartbeat did not go through; retrying (the lease lapses if none does in time)");
                }
                next = failure.pause.min(interval);
            }
        }
    }
}

fn end(beat: &Beat, why: Ended) {
    // The first cause wins: a cancel followed by a 409 is still a cancel.
    let _ = beat.watch.ended.set(why);
    beat.lease.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_and_the_first_end_wins() {
        let watch = Watch::default();
        assert_eq!(watch.phase(), Phase::Starting);
        for phase in [
            Phase::FetchingInput,
            Phase::Generating,
            Phase::Checking,
            Phase::Uploading,
        ] {
            watch.set_phase(phase);
            assert_eq!(watch.phase(), phase);
            assert!(phase.message().len() <= 200);
        }
        assert_eq!(watch.ended(), None);
        assert!(watch.ended.set(Ended::Canceled).is_ok());
        assert!(watch.ended.set(Ended::Lost).is_err());
        assert_eq!(watch.ended(), Some(Ended::Canceled));
    }
}
