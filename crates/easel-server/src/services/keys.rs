//! API key use cases: create, rotate, revoke.

use easel_core::api_key;
use easel_core::credits::SpendCap;
use easel_core::ids::IdKind;
use easel_core::mode::Mode;
use easel_core::roles::Scope;
use easel_core::time::now_ms;
use easel_db::{ApiKey, AuditContext, NewKey, Rotation};

use super::{OrNotFound, text};
use crate::api::v1::keys::dto::ApiKeyObject;
use crate::app::App;
use crate::auth::Caller;
use crate::auth::rules::{self, KeyAction};
use crate::http::error::{ApiError, ApiResult, ErrorCode};

/// Longest rotation grace period a caller may ask for (30 days).
pub const MAX_GRACE_SECONDS: u64 = 30 * 24 * 3600;
/// Most models in a key's allow-list.
const MAX_ALLOWED_MODELS: usize = 100;

/// What a caller asks for when creating a key.
#[derive(Debug, Default, Clone)]
pub struct KeySpec {
    pub name: String,
    pub scopes: Option<Vec<String>>,
    pub allowed_models: Option<Vec<String>>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// Most credits the key may spend per day or month.
    pub spend_cap: Option<SpendCap>,
}

/// Validates requested scopes: each must exist and be within `grantable`. `None` means
/// all of `grantable` (the spec's default: everything the creating role may do).
pub fn resolve_scopes(requested: Option<&[String]>, grantable: &[Scope]) -> ApiResult<Vec<Scope>> {
    let Some(requested) = requested else {
        return Ok(grantable.to_vec());
    };
    if requested.is_empty() {
        return Err(ApiError::invalid(
            "scopes",
            "`scopes` must name at least one scope, or be omitted for all you may grant.",
        ));
    }
    let mut scopes = Vec::with_capacity(requested.len());
    for (i, name) in requested.iter().enumerate() {
        let scope = Scope::parse(name).ok_or_else(|| {
            let all: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::invalid(
                format!("scopes[{i}]"),
                format!(
                    "Unknown scope `{}`; valid scopes: {}.",
                    clip(name),
                    all.join(", ")
                ),
            )
        })?;
        if !grantable.contains(&scope) {
            return Err(ApiError::new(
                ErrorCode::insufficient_scope,
                format!(
                    "You cannot grant `{}`: a key can only get scopes its creator holds.",
                    scope.as_str()
                ),
            )
            .param(format!("scopes[{i}]")));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes.sort();
    Ok(scopes)
}

/// Validates a model allow-list: model ids are 1–100 characters of `[A-Za-z0-9._:/-]`.
pub fn resolve_models(models: Option<Vec<String>>) -> ApiResult<Option<Vec<String>>> {
    let Some(models) = models else {
        return Ok(None);
    };
    if models.is_empty() || models.len() > MAX_ALLOWED_MODELS {
        return Err(ApiError::invalid(
            "allowed_models",
            format!(
                "`allowed_models` must list 1 to {MAX_ALLOWED_MODELS} model ids, or be omitted to allow every model."
            ),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(models.len());
    for (i, model) in models.into_iter().enumerate() {
        let ok = (1..=100).contains(&model.len())
            && model
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b));
        if !ok {
            return Err(ApiError::invalid(
                format!("allowed_models[{i}]"),
                format!("`{}` is not a valid model id.", clip(&model)),
            ));
        }
        if !out.contains(&model) {
            out.push(model);
        }
    }
    Ok(Some(out))
}

/// Validates an expiry in Unix seconds: in the future, at most ten years ahead.
fn resolve_expiry(expires_at: Option<i64>, now: i64) -> ApiResult<Option<i64>> {
    let Some(secs) = expires_at else {
        return Ok(None);
    };
    let ten_years = 10 * 365 * 24 * 3600;
    let now_secs = now / 1000;
    if secs <= now_secs || secs > now_secs + ten_years {
        return Err(ApiError::invalid(
            "expires_at",
            "`expires_at` must be a Unix time in seconds, in the future and within ten years.",
        ));
    }
    Ok(Some(secs * 1000))
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Creates a key for `user_id` in `account_id`; returns it with its secret (shown once).
pub async fn create(
    app: &App,
    account_id: &str,
    user_id: &str,
    mode: Mode,
    spec: KeySpec,
    grantable: &[Scope],
    audit: AuditContext,
) -> ApiResult<(ApiKey, String)> {
    let now = now_ms();
    let name = text::required("name", &spec.name, 100)?;
    let scopes = resolve_scopes(spec.scopes.as_deref(), grantable)?;
    let allowed_models = resolve_models(spec.allowed_models)?;
    let expires_at = resolve_expiry(spec.expires_at, now)?;
    if let Some(cap) = spec.spend_cap
        && !(1..=easel_core::credits::MAX_MOVEMENT).contains(&cap.credits)
    {
        return Err(ApiError::invalid(
            "spend_cap.credits",
            format!(
                "A spend cap is 1 to {} credits.",
                easel_core::credits::MAX_MOVEMENT
            ),
        ));
    }
    let secret = api_key::generate(&app.config.api_keys.prefix, mode);
    let new = NewKey {
        id: IdKind::ApiKey.generate(),
        account_id: account_id.to_string(),
        user_id: user_id.to_string(),
        mode,
        name,
        scopes,
        allowed_models,
        spend_cap: spec.spend_cap,
        expires_at,
        secret_hash: secret.hash,
        display_prefix: secret.display_prefix,
        now,
    };
    let key = app
        .store
        .create_key(new, audit)
        .await
        .or_not_found("account", account_id)?;
    Ok((key, secret.secret))
}

/// Refuses `action` on the key `key_id` unless the calling member may do it: their own
/// keys always, another member's only as [`rules::key_action`] says. An unknown key is 404.
pub async fn authorize_member_action(
    app: &App,
    caller: &Caller,
    key_id: &str,
    action: KeyAction,
) -> ApiResult<()> {
    if !IdKind::ApiKey.is_valid(key_id) {
        return Err(ApiError::not_found("api_key", key_id));
    }
    let key = app
        .store
        .get_key(&caller.account_id, Some(caller.mode), key_id)
        .await
        .or_not_found("api_key", key_id)?;
    if key.user_id == caller.user_id {
        return Ok(());
    }
    // Read now, not from the account cache: a role changed a moment ago counts.
    let members = app.store.list_members(&caller.account_id).await?;
    let owner_role = members
        .iter()
        .find(|m| m.user_id == key.user_id)
        .map(|m| m.role);
    rules::key_action(
        &caller.user_id,
        caller.role,
        &key.user_id,
        owner_role,
        action,
    )
}

/// Gives a key a new secret. The old secret keeps working for `grace_seconds` (default:
/// the configured grace period; 0 ends it at once).
pub async fn rotate(
    app: &App,
    account_id: &str,
    mode: Option<Mode>,
    key_id: &str,
    grace_seconds: Option<u64>,
    audit: AuditContext,
) -> ApiResult<(ApiKey, String)> {
    if !IdKind::ApiKey.is_valid(key_id) {
        return Err(ApiError::not_found("api_key", key_id));
    }
    let grace_seconds =
        grace_seconds.unwrap_or(u64::from(app.config.api_keys.rotation_grace_hours) * 3600);
    if grace_seconds > MAX_GRACE_SECONDS {
        return Err(ApiError::invalid(
            "grace_period_seconds",
            format!("`grace_period_seconds` must be at most {MAX_GRACE_SECONDS} (30 days)."),
        ));
    }
    let current = app
        .store
        .get_key(account_id, mode, key_id)
        .await
        .or_not_found("api_key", key_id)?;
    let secret = api_key::generate(&app.config.api_keys.prefix, current.mode);
    let rotation = Rotation {
        secret_hash: secret.hash,
        display_prefix: secret.display_prefix,
        grace_ms: i64::try_from(grace_seconds * 1000).unwrap_or(i64::MAX),
        now: now_ms(),
    };
    let key = app
        .store
        .rotate_key(account_id, mode, key_id, rotation, audit)
        .await
        .or_not_found("api_key", key_id)?;
    app.auth.invalidate_account(account_id);
    Ok((key, secret.secret))
}

/// Revokes a key at once, on this node immediately and on others within a second.
pub async fn revoke(
    app: &App,
    account_id: &str,
    mode: Option<Mode>,
    key_id: &str,
    audit: AuditContext,
) -> ApiResult<ApiKey> {
    if !IdKind::ApiKey.is_valid(key_id) {
        return Err(ApiError::not_found("api_key", key_id));
    }
    let key = app
        .store
        .revoke_key(account_id, mode, key_id, audit)
        .await
        .or_not_found("api_key", key_id)?;
    app.auth.invalidate_account(account_id);
    Ok(key)
}

/// How the API shows a key, for the store's `key.*` events (the same object as
/// `GET /v1/api_keys/{id}`: never a secret or a hash).
pub fn event_view() -> std::sync::Arc<easel_db::KeySnapshot> {
    std::sync::Arc::new(|key: &ApiKey| {
        serde_json::to_value(ApiKeyObject::from(key.clone())).unwrap_or_default()
    })
}

/// How often a node looks for keys to send `key.expiring` for.
const EXPIRING_SWEEP_EVERY_MS: i64 = 60_000;
/// Most keys told per sweep; more wait for the next.
const EXPIRING_BATCH: i64 = 200;

/// The periodic sweep's part: `key.expiring` for keys expiring within
/// `[api_keys] expiring_notice_days`, at most once a minute per node. The store tells each
/// key once, however many nodes sweep at the same moment.
pub async fn sweep_expiring(app: &App, last_run: &mut i64, now: i64) {
    let days = app.config.api_keys.expiring_notice_days;
    if days == 0 || now - *last_run < EXPIRING_SWEEP_EVERY_MS {
        return;
    }
    *last_run = now;
    let by = now.saturating_add(i64::from(days) * 86_400_000);
    match app
        .store
        .notify_expiring_keys(now, by, EXPIRING_BATCH)
        .await
    {
        Ok(0) => {}
        Ok(told) => tracing::info!(keys = told, "sent key.expiring events"),
        Err(e) => tracing::warn!(error = %e, "could not look for expiring keys; will retry"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_default_to_what_the_creator_may_grant() {
        let grantable = [Scope::KeysRead, Scope::AccountRead];
        assert_eq!(
            resolve_scopes(None, &grantable).ok(),
            Some(grantable.to_vec())
        );
        let requested = vec!["account:read".to_string(), "account:read".to_string()];
        assert_eq!(
            resolve_scopes(Some(&requested), &grantable).ok(),
            Some(vec![Scope::AccountRead])
        );
    }

    #[test]
    fn scopes_beyond_the_creator_or_unknown_are_refused() {
        let grantable = [Scope::KeysRead];
        let e = resolve_scopes(Some(&["keys:write".to_string()]), &grantable).err();
        assert_eq!(
            e.as_ref().map(|e| e.code),
            Some(ErrorCode::insufficient_scope)
        );
        let e = resolve_scopes(Some(&["keys:read".into(), "keys:admin".into()]), &grantable).err();
        assert_eq!(
            e.as_ref()
                .and_then(|e| e.param.as_deref().map(str::to_string)),
            Some("scopes[1]".into())
        );
        assert!(resolve_scopes(Some(&[]), &grantable).is_err());
    }

    #[test]
    fn model_lists_are_validated() {
        assert_eq!(resolve_models(None).ok(), Some(None));
        assert_eq!(
            resolve_models(Some(vec!["sdxl".into(), "sdxl".into()])).ok(),
            Some(Some(vec!["sdxl".into()]))
        );
        assert!(resolve_models(Some(vec![])).is_err());
        assert!(resolve_models(Some(vec!["bad model".into()])).is_err());
        assert!(resolve_models(Some(vec!["x".repeat(101)])).is_err());
    }

    #[test]
    fn expiry_must_be_future_and_bounded() {
        let now = 1_700_000_000_000;
        assert_eq!(
            resolve_expiry(Some(1_700_000_100), now).ok(),
            Some(Some(1_700_000_100_000))
        );
        assert!(resolve_expiry(Some(1_699_999_999), now).is_err());
        assert!(resolve_expiry(Some(i64::MAX), now).is_err());
        assert!(resolve_expiry(Some(-5), now).is_err());
    }
}
