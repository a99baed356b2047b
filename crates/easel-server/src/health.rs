//! `/healthz` (the process is up) and `/readyz` (the database answers and is migrated).

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
}

/// Liveness: answers while the process serves HTTP.
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        database: None,
    })
}

/// Readiness: the database is reachable and every migration is applied. Not ready is a
/// 503 in the error envelope, whose message says which check failed.
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
    Ok(Json(Health {
        status: "ok",
        database: Some(state.store.dialect()),
    }))
}
