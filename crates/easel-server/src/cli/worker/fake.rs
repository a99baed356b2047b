//! A fake worker API for the worker's own tests: it speaks the wire types of
//! `api::worker::dto`, records every call (and whether it carried the token), and can be
//! told to misbehave (refuse a claim, fail completions, cancel in a heartbeat, lose a
//! lease at upload). Tests against the real server run the `easel` binary instead.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use easel_core::models::ModelKind;
use easel_engines::GenerationRequest;
use serde_json::json;

use crate::api::worker::dto::{
    ClaimRequest, ClaimResponse, FailRequest, HeartbeatRequest, Lease, UploadTarget, WorkerInfo,
    WorkerModel,
};

/// One PUT of an output.
#[derive(Debug, Clone)]
pub struct Upload {
    pub path: String,
    pub content_type: String,
    pub content_length: Option<String>,
    pub bytes: usize,
    pub with_token: bool,
}

/// What the fake saw and how it is told to answer.
#[derive(Debug, Default)]
pub struct Seen {
    /// Leases the next claims hand out, one claim's worth each.
    pub to_hand_out: VecDeque<Vec<Lease>>,
    pub claims: Vec<ClaimRequest>,
    /// How many completions the fake had seen when each claim came.
    pub completes_at_claim: Vec<usize>,
    pub heartbeats: Vec<HeartbeatRequest>,
    pub uploads: Vec<Upload>,
    pub completes: Vec<serde_json::Value>,
    pub fails: Vec<FailRequest>,
    pub input_gets: Vec<bool>,
    /// Authorization headers of the API calls (all must carry the token).
    pub api_auth: Vec<Option<String>>,
    /// Answer claims with this refusal.
    pub refuse_claims: Option<(u16, &'static str)>,
    /// Answer this many completions with 503 first.
    pub complete_blips: u32,
    /// Answer heartbeats with `cancel: true`.
    pub cancel: bool,
    /// Answer server-path uploads with 409 `lease_lost`.
    pub lose_at_upload: bool,
    /// How long an empty claim waits before its 204.
    pub claim_wait: Duration,
}

/// A running fake.
#[derive(Clone)]
pub struct Fake {
    pub seen: Arc<Mutex<Seen>>,
    pub base: String,
}

impl Fake {
    /// Starts the fake on a free loopback port.
    pub async fn start(seen: Seen) -> Fake {
        let seen = Arc::new(Mutex::new(seen));
        let app = axum::Router::new()
            .route("/worker/v1/me", get(me))
            .route("/worker/v1/claim", post(claim))
            .route("/worker/v1/leases/{id}/heartbeat", post(heartbeat))
            .route("/worker/v1/leases/{id}/complete", post(complete))
            .route("/worker/v1/leases/{id}/fail", post(fail))
            .route("/worker/v1/leases/{id}/outputs/{index}", put(upload))
            .route("/store/{*key}", put(upload_presigned))
            .route("/worker/v1/inputs/{id}", get(input))
            .with_state(Arc::clone(&seen));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Fake {
            seen,
            base: format!("http://{addr}"),
        }
    }

    /// What the fake saw so far.
    pub fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| panic!("poisoned: {e}"))
    }

    /// Waits up to 15 s for `done` to hold.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&Seen) -> bool) {
        for _ in 0..300 {
            if done(&self.seen()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}: {:#?}", self.seen());
    }
}

/// A lease of the sandbox model for `n` 64×64 images; output 0 goes to the server, the
/// others to presigned "object store" URLs on the same fake.
pub fn lease(base: &str, id: &str, n: u32) -> Lease {
    let outputs = (0..n)
        .map(|index| match index {
            0 => UploadTarget {
                index,
                url: format!("/worker/v1/leases/{id}/outputs/0"),
                presigned: false,
            },
            _ => UploadTarget {
                index,
                url: format!("{base}/store/{id}/{index}.png?X-Amz-Signature=sig{index}"),
                presigned: true,
            },
        })
        .collect();
    Lease {
        lease_id: id.to_owned(),
        generation_id: format!("gen_{id}"),
        model: "sandbox-img".to_owned(),
        attempt: 1,
        max_attempts: 3,
        lease_expires_in_ms: 30_000,
        lease_expires_at: 0,
        deadline_in_ms: 30_000,
        heartbeat_interval_ms: 100,
        request: GenerationRequest {
            id: format!("gen_{id}"),
            model: "sandbox-img".to_owned(),
            kind: ModelKind::Image,
            prompt: "a lighthouse".to_owned(),
            negative_prompt: None,
            width: 64,
            height: 64,
            n,
            seed: 42,
            duration_seconds: None,
            fps: None,
            input_image: None,
            attempt: 1,
        },
        input_image_url: None,
        outputs,
    }
}

type Shared = State<Arc<Mutex<Seen>>>;

fn lock(state: &Arc<Mutex<Seen>>) -> MutexGuard<'_, Seen> {
    state.lock().unwrap_or_else(|e| panic!("poisoned: {e}"))
}

fn auth(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn problem(status: u16, code: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"error": {"type": "api_error", "code": code, "message": code, "request_id": "req_fake"}});
    (status, Json(body)).into_response()
}

async fn me(State(state): Shared, headers: HeaderMap) -> Json<WorkerInfo> {
    lock(&state).api_auth.push(auth(&headers));
    Json(WorkerInfo {
        id: "wrk_fake".to_owned(),
        name: "fake".to_owned(),
        models: vec![WorkerModel {
            id: "sandbox-img".to_owned(),
            kind: ModelKind::Image,
            timeout_seconds: 30,
        }],
        lease_ms: 30_000,
        heartbeat_interval_ms: 100,
        max_claim_wait_ms: 10_000,
        max_jobs_per_claim: 4,
        max_output_bytes: 10_000_000,
    })
}

async fn claim(
    State(state): Shared,
    headers: HeaderMap,
    Json(body): Json<ClaimRequest>,
) -> Response {
    let (answer, wait) = {
        let mut seen = lock(&state);
        seen.api_auth.push(auth(&headers));
        seen.claims.push(body);
        let done = seen.completes.len();
        seen.completes_at_claim.push(done);
        if let Some((status, code)) = seen.refuse_claims {
            return problem(status, code);
        }
        (seen.to_hand_out.pop_front(), seen.claim_wait)
    };
    match answer {
        Some(leases) => Json(ClaimResponse { leases }).into_response(),
        None => {
            tokio::time::sleep(wait).await;
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

async fn heartbeat(
    State(state): Shared,
    headers: HeaderMap,
    Json(body): Json<HeartbeatRequest>,
) -> Response {
    let mut seen = lock(&state);
    seen.api_auth.push(auth(&headers));
    seen.heartbeats.push(body);
    let cancel = seen.cancel;
    Json(json!({"cancel": cancel, "lease_expires_in_ms": 30_000, "lease_expires_at": 0}))
        .into_response()
}

async fn complete(
    State(state): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> Response {
    let mut seen = lock(&state);
    seen.api_auth.push(auth(&headers));
    seen.completes.push(body);
    if seen.complete_blips > 0 {
        seen.complete_blips -= 1;
        return problem(503, "service_unavailable");
    }
    Json(json!({"generation_id": format!("gen_{id}"), "status": "succeeded"})).into_response()
}

async fn fail(State(state): Shared, headers: HeaderMap, Json(body): Json<FailRequest>) -> Response {
    let mut seen = lock(&state);
    seen.api_auth.push(auth(&headers));
    seen.fails.push(body);
    Json(json!({"status": "queued"})).into_response()
}

fn record_upload(state: &Arc<Mutex<Seen>>, path: String, headers: &HeaderMap, body: &Bytes) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    lock(state).uploads.push(Upload {
        path,
        content_type: header("content-type").unwrap_or_default(),
        content_length: header("content-length"),
        bytes: body.len(),
        with_token: auth(headers).is_some(),
    });
}

async fn upload(
    State(state): Shared,
    Path((id, index)): Path<(String, u32)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record_upload(
        &state,
        format!("/worker/v1/leases/{id}/outputs/{index}"),
        &headers,
        &body,
    );
    lock(&state).api_auth.push(auth(&headers));
    if lock(&state).lose_at_upload {
        return problem(409, "lease_lost");
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let stored = json!({"index": index, "content_type": content_type, "bytes": body.len()});
    (StatusCode::CREATED, Json(stored)).into_response()
}

async fn upload_presigned(
    State(state): Shared,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    record_upload(&state, format!("/store/{key}"), &headers, &body);
    StatusCode::OK
}

async fn input(State(state): Shared, headers: HeaderMap) -> Response {
    lock(&state).input_gets.push(auth(&headers).is_some());
    (
        [("content-type", "image/png")],
        vec![0x89, b'P', b'N', b'G'],
    )
        .into_response()
}
