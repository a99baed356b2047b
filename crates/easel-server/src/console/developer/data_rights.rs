//! The Account page's data-rights part (owners only): "Export my data" with the list of
//! exports and their one-time download links, and the erasure request with its
//! cooling-off period and cancellation. The rules and use cases are the API's
//! (`crate::data_rights`).

use axum::response::Response;
use easel_core::roles::Action;
use easel_core::time::now_ms;
use minijinja::context;
use serde::Deserialize;

use super::account::after;
use super::member::Member;
use crate::app::AppState;
use crate::console::form::Form;
use crate::data_rights::{erasure, export, require_owner};
use crate::http::error::ApiError;

fn when(ms: i64) -> String {
    crate::cli::output::when(Some(ms.div_euclid(1000)))
}

/// What the page shows an owner (`None` for anyone else: the part is not shown).
pub async fn view(state: &AppState, member: &Member) -> Option<minijinja::Value> {
    if require_owner(&member.caller, Action::ExportData).is_err() {
        return None;
    }
    let account_id = member.account.id.as_str();
    let (exports, erasure) = tokio::join!(
        state.store.list_exports(account_id, 10),
        state.store.get_erasure(account_id)
    );
    let now = now_ms();
    let exports: Vec<_> = exports
        .unwrap_or_default()
        .iter()
        .map(|e| {
            context! {
                id => e.id, status => e.state.as_str(), created => when(e.created_at),
                expires => e.expires_at.map(when), bytes => e.bytes,
                failure => e.failure_reason,
                download => export::download_link(state, e, now),
            }
        })
        .collect();
    let erasure = erasure.ok().filter(|e| {
        matches!(
            e.state,
            easel_db::ErasureState::Scheduled | easel_db::ErasureState::Running
        )
    });
    Some(context! {
        exports => exports,
        erasure => erasure.map(|e| context! {
            due => when(e.due_at),
            cancelable => e.state == easel_db::ErasureState::Scheduled
                && e.reason == easel_db::ErasureReason::OwnerRequest,
        }),
        cooling_off_days => state.config.data_rights.erasure_cooling_off_days,
        export_hours => state.config.data_rights.export_ttl_hours,
    })
}

/// `POST /console/account/exports`: as `POST /v1/account/exports`.
pub async fn request_export(state: AppState, member: Member) -> Response {
    let result = async {
        require_owner(&member.caller, Action::ExportData)?;
        let e = export::request(
            &state,
            &member.account.id,
            &member.user.id,
            member.caller.audit(),
        )
        .await?;
        Ok(format!(
            "Export {} is being prepared; it appears below when it is ready, and the owners are e-mailed.",
            e.id
        ))
    }
    .await;
    after(&state, &member, result).await
}

/// The erasure form: the account's id, typed again.
#[derive(Debug, Deserialize)]
pub struct ErasureForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /console/account/erasure`: as `POST /v1/account/erasure`.
pub async fn request_erasure(
    state: AppState,
    member: Member,
    Form(form): Form<ErasureForm>,
) -> Response {
    let result = async {
        require_owner(&member.caller, Action::DeleteAccount)?;
        if form.confirm.trim() != member.account.id {
            return Err(ApiError::invalid(
                "confirm",
                "Type the account's id to confirm: erasure is final once it runs.",
            ));
        }
        let e = erasure::request(
            &state,
            &member.account.id,
            &member.user.id,
            member.caller.audit(),
        )
        .await?;
        Ok(format!(
            "The account is suspended and will be erased on {}. You can cancel until then.",
            when(e.due_at)
        ))
    }
    .await;
    after(&state, &member, result).await
}

/// `POST /console/account/erasure/cancel`: lifts the request and its suspension.
pub async fn cancel_erasure(state: AppState, member: Member) -> Response {
    let result = async {
        require_owner(&member.caller, Action::DeleteAccount)?;
        erasure::cancel(&state, &member.account.id, member.caller.audit()).await?;
        Ok("The erasure is canceled and the account is active again.".to_string())
    }
    .await;
    after(&state, &member, result).await
}
