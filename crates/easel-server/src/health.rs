//! `/healthz` (the process is up) and `/readyz` (the database answers and is migrated, the
//! object store answers; Redis, when configured, is reported).

use axum::Json;
use serde::Serialize;

use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode};

/// A health answer.
#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
    /// `ok` when the object store answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_store: Option<&'static str>,
    /// `ok`, or `degraded` when Redis does not answer (limits then count on this node
    /// alone); absent without Redis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<&'static str>,
}

/// A path no object has: asking for it proves the store answers without reading data.
pub(crate) const PROBE_PATH: &str = "readyz/probe";

/// Liveness: answers while the process serves HTTP.
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        database: None,
        object_store: None,
        redis: None,
    })
}

/// Readiness: the database is reachable and every migration is applied, and the object
/// store answers. Not ready is a 503 in the error envelope, whose message says which check
/// failed. Redis is reported but does not make the node unready: the limits fall back to
/// this node's counters, and taking every node out of the load balancer because the
/// shared counters are away would turn a degradation into an outage.
pub async fn readyz(state: AppState) -> ApiResult<Json<Health>> {
    let unavailable =
        |why: &str| ApiError::new(ErrorCode::service_unavailable, format!("Not ready: {why}."));
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "readiness: database unreachable");
        return Err(unavailable("the database is unreachable"));
    }
    if !state.store.migrations_current().await.unwrap_or(false) {
        return Err(unavailable(
            "database migrations are pending; run `easel migrate`",
        ));
    }
    match state.outputs.get(PROBE_PATH).await {
        Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => {
            tracing::warn!(error = %e, "readiness: object store unreachable");
            return Err(unavailable("the object store is unreachable"));
        }
    }
    let redis = state.limiter.redis_ok().await.map(|ok| {
        if ok {
            "ok"
        } else {
            tracing::warn!("readiness: Redis unreachable; limits count on this node alone");
            "degraded"
        }
    });
    Ok(Json(Health {
        status: "ok",
        database: Some(state.store.dialect()),
        object_store: Some("ok"),
        redis,
    }))
}
