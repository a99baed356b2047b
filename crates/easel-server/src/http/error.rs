//! The one error type of the HTTP API and the envelope every error is answered with:
//! `{"error": {"type", "code", "message", "param", "request_id"}}`.
//!
//! Each [`ErrorCode`] has exactly one status and one type (`ErrorCode::status`,
//! `ErrorCode::error_type`), so a code means the same thing wherever it appears. Handlers
//! return `ApiError`; its `IntoResponse` leaves the body in the response extensions, and the
//! envelope middleware adds the request id and writes it, which is also how errors produced
//! outside handlers (404, 405, 408, 413) get the same envelope.

use std::borrow::Cow;
use std::panic::Location;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use easel_core::DomainError;
use easel_db::DbError;
use serde::Serialize;
use utoipa::ToSchema;

/// The `type` of an error: its broad class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    InvalidRequestError,
    AuthenticationError,
    PermissionError,
    RateLimitError,
    BillingError,
    ModerationError,
    IdempotencyError,
    ApiError,
}

macro_rules! error_codes {
    ($($code:ident => $status:ident, $kind:ident;)*) => {
        /// The machine-readable `code` of an error. One status and type per code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        #[allow(non_camel_case_types, reason = "the variants are the wire spelling")]
        pub enum ErrorCode {
            $($code,)*
        }

        impl ErrorCode {
            /// The HTTP status this code is always answered with.
            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$code => StatusCode::$status,)*
                }
            }

            /// The wire spelling (the same as serde's).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$code => stringify!($code),)*
                }
            }

            /// The broad class of this code.
            pub fn error_type(self) -> ErrorType {
                match self {
                    $(ErrorCode::$code => ErrorType::$kind,)*
                }
            }
        }
    };
}

error_codes! {
    parameter_invalid => BAD_REQUEST, InvalidRequestError;
    parameter_missing => BAD_REQUEST, InvalidRequestError;
    parameter_unknown => BAD_REQUEST, InvalidRequestError;
    invalid_json => BAD_REQUEST, InvalidRequestError;
    invalid_multipart => BAD_REQUEST, InvalidRequestError;
    email_invalid => BAD_REQUEST, InvalidRequestError;
    password_invalid => BAD_REQUEST, InvalidRequestError;
    resource_missing => NOT_FOUND, InvalidRequestError;
    model_not_found => NOT_FOUND, InvalidRequestError;
    stripe_signature_invalid => BAD_REQUEST, InvalidRequestError;
    stripe_timestamp_out_of_tolerance => BAD_REQUEST, InvalidRequestError;
    stripe_event_invalid => BAD_REQUEST, InvalidRequestError;
    idempotency_error => BAD_REQUEST, IdempotencyError;
    idempotency_in_flight => CONFLICT, IdempotencyError;
    generation_already_ended => CONFLICT, InvalidRequestError;
    signature_invalid => FORBIDDEN, PermissionError;
    url_expired => FORBIDDEN, PermissionError;
    model_not_on_plan => FORBIDDEN, PermissionError;
    model_not_allowed_for_key => FORBIDDEN, PermissionError;
    insufficient_credits => PAYMENT_REQUIRED, BillingError;
    key_spend_cap_reached => PAYMENT_REQUIRED, BillingError;
    route_not_found => NOT_FOUND, InvalidRequestError;
    method_not_allowed => METHOD_NOT_ALLOWED, InvalidRequestError;
    request_timeout => REQUEST_TIMEOUT, InvalidRequestError;
    email_taken => CONFLICT, InvalidRequestError;
    already_member => CONFLICT, InvalidRequestError;
    last_owner => CONFLICT, InvalidRequestError;
    key_already_revoked => CONFLICT, InvalidRequestError;
    account_not_suspended => CONFLICT, InvalidRequestError;
    account_not_waiting => CONFLICT, InvalidRequestError;
    account_terminated => CONFLICT, InvalidRequestError;
    body_too_large => PAYLOAD_TOO_LARGE, InvalidRequestError;
    unsupported_media_type => UNSUPPORTED_MEDIA_TYPE, InvalidRequestError;
    api_key_missing => UNAUTHORIZED, AuthenticationError;
    invalid_authorization_header => UNAUTHORIZED, AuthenticationError;
    multiple_authorization_headers => BAD_REQUEST, InvalidRequestError;
    invalid_api_key => UNAUTHORIZED, AuthenticationError;
    api_key_revoked => UNAUTHORIZED, AuthenticationError;
    api_key_expired => UNAUTHORIZED, AuthenticationError;
    insufficient_scope => FORBIDDEN, PermissionError;
    insufficient_role => FORBIDDEN, PermissionError;
    key_of_another_member => FORBIDDEN, PermissionError;
    account_suspended => FORBIDDEN, PermissionError;
    live_mode_unavailable => FORBIDDEN, PermissionError;
    signup_closed => FORBIDDEN, PermissionError;
    internal_error => INTERNAL_SERVER_ERROR, ApiError;
    generation_failed => BAD_GATEWAY, ApiError;
    generation_timeout => GATEWAY_TIMEOUT, ApiError;
    payment_provider_error => BAD_GATEWAY, ApiError;
    service_unavailable => SERVICE_UNAVAILABLE, ApiError;
    rate_limit_exceeded => TOO_MANY_REQUESTS, RateLimitError;
    key_cooldown => TOO_MANY_REQUESTS, RateLimitError;
    content_policy_violation => BAD_REQUEST, ModerationError;
    moderation_unavailable => SERVICE_UNAVAILABLE, ModerationError;
    end_user_blocked => FORBIDDEN, PermissionError;
    abuse_report_resolved => CONFLICT, InvalidRequestError;
    url_invalid => BAD_REQUEST, InvalidRequestError;
    webhook_endpoint_disabled => CONFLICT, InvalidRequestError;
    worker_token_missing => UNAUTHORIZED, AuthenticationError;
    invalid_worker_token => UNAUTHORIZED, AuthenticationError;
    worker_token_revoked => UNAUTHORIZED, AuthenticationError;
    worker_quarantined => FORBIDDEN, PermissionError;
    model_not_allowed_for_worker => FORBIDDEN, PermissionError;
    model_not_served_by_workers => BAD_REQUEST, InvalidRequestError;
    lease_lost => CONFLICT, InvalidRequestError;
    lease_of_another_worker => CONFLICT, InvalidRequestError;
    lease_already_completed => CONFLICT, InvalidRequestError;
    invalid_output => BAD_REQUEST, InvalidRequestError;
    output_missing => BAD_REQUEST, InvalidRequestError;
    outputs_rejected => UNPROCESSABLE_ENTITY, InvalidRequestError;
    subscription_active => CONFLICT, InvalidRequestError;
    subscription_missing => CONFLICT, InvalidRequestError;
    endpoint_sunset => GONE, InvalidRequestError;
    export_in_progress => CONFLICT, InvalidRequestError;
    export_not_ready => CONFLICT, InvalidRequestError;
    export_failed => CONFLICT, InvalidRequestError;
    export_already_downloaded => GONE, InvalidRequestError;
    export_expired => GONE, InvalidRequestError;
    erasure_already_requested => CONFLICT, InvalidRequestError;
    erasure_not_cancelable => CONFLICT, InvalidRequestError;
    erasure_in_progress => CONFLICT, InvalidRequestError;
}

impl ErrorCode {
    /// The code a domain rule's string code maps to; unknown codes are a plain invalid value.
    fn from_domain(code: &str) -> ErrorCode {
        match code {
            "email_invalid" => ErrorCode::email_invalid,
            "password_invalid" => ErrorCode::password_invalid,
            "last_owner" => ErrorCode::last_owner,
            "api_key_revoked" => ErrorCode::key_already_revoked,
            "account_not_suspended" => ErrorCode::account_not_suspended,
            "account_terminated" => ErrorCode::account_terminated,
            "abuse_report_resolved" => ErrorCode::abuse_report_resolved,
            "export_in_progress" => ErrorCode::export_in_progress,
            "erasure_already_requested" => ErrorCode::erasure_already_requested,
            "erasure_not_cancelable" => ErrorCode::erasure_not_cancelable,
            _ => ErrorCode::parameter_invalid,
        }
    }
}

/// The body of an error inside the envelope, as documented in the OpenAPI document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: ErrorType,
    pub code: ErrorCode,
    /// A human-readable explanation, safe to show to a developer.
    pub message: String,
    /// The request field or parameter at fault, when there is one.
    pub param: Option<String>,
    /// The `X-Request-Id` of this request; quote it when asking for support.
    pub request_id: String,
    /// Machine-readable specifics, for some codes (`insufficient_credits`: `required`
    /// and `available` credits).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// `{"error": {...}}`: every error response of the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// An error answered by the API.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
    pub param: Option<Cow<'static, str>>,
    /// Machine-readable specifics (see [`ErrorBody::details`]).
    pub details: Option<serde_json::Value>,
    /// Seconds a client should wait before retrying (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
    /// For internal errors: the cause and where it was raised, logged once, never shown.
    internal: Option<(anyhow::Error, &'static Location<'static>)>,
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            param: None,
            details: None,
            retry_after: None,
            internal: None,
        }
    }

    /// Sets `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds machine-readable specifics.
    pub fn details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// Names the offending parameter.
    pub fn param(mut self, param: impl Into<Cow<'static, str>>) -> ApiError {
        self.param = Some(param.into());
        self
    }

    /// `parameter_invalid` on `param`.
    pub fn invalid(
        param: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> ApiError {
        ApiError::new(ErrorCode::parameter_invalid, message).param(param)
    }

    /// `resource_missing` for a resource kind and id; the id is echoed as the param.
    pub fn not_found(resource: &str, id: &str) -> ApiError {
        let shown: String = id.chars().take(64).collect();
        ApiError::new(
            ErrorCode::resource_missing,
            format!("No such {resource}: '{shown}'."),
        )
        .param("id")
    }

    /// The object store failed (unreachable, refusing, full): a 503 the client may retry
    /// after a second; the cause goes to the log only.
    #[track_caller]
    pub fn storage_unavailable(cause: impl std::fmt::Display) -> ApiError {
        let location = Location::caller();
        tracing::warn!(error = %cause, location = %location, "object store unavailable");
        ApiError::new(
            ErrorCode::service_unavailable,
            "File storage is temporarily unavailable; retry shortly.",
        )
        .retry_after(1)
    }

    /// An unexpected failure: logged with its cause and location, answered generically.
    #[track_caller]
    pub fn internal(cause: impl Into<anyhow::Error>) -> ApiError {
        ApiError {
            code: ErrorCode::internal_error,
            message: "Something went wrong on our side. The request id identifies it in our logs."
                .into(),
            param: None,
            details: None,
            retry_after: None,
            internal: Some((cause.into(), Location::caller())),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid {
                param,
                code,
                message,
            } => ApiError::new(ErrorCode::from_domain(code), message).param(param),
        }
    }
}

impl From<DbError> for ApiError {
    #[track_caller]
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => ApiError::new(ErrorCode::resource_missing, "No such object."),
            DbError::Conflict("users_email_key") => ApiError::new(
                ErrorCode::email_taken,
                "A user with this email already exists.",
            )
            .param("email"),
            DbError::Conflict("members_pkey") => ApiError::new(
                ErrorCode::already_member,
                "This user is already a member of the account.",
            )
            .param("email"),
            DbError::Rule(rule) => rule.into(),
            DbError::InsufficientCredits { required, available } => ApiError::new(
                ErrorCode::insufficient_credits,
                format!("This call costs {required} credits and {available} are available; top up to continue."),
            )
            .details(serde_json::json!({"required": required, "available": available})),
            DbError::KeySpendCapReached { cap, spent, required, period } => ApiError::new(
                ErrorCode::key_spend_cap_reached,
                format!("This key may spend {cap} credits per {period}; {spent} are spent or held and this call needs {required}."),
            )
            .details(serde_json::json!({"cap": cap, "period": period, "spent": spent, "required": required})),
            DbError::Unavailable(why) => {
                tracing::warn!(error = %why, "database unavailable");
                ApiError::new(
                    ErrorCode::service_unavailable,
                    "The service is temporarily unavailable; retry shortly.",
                )
            }
            other => ApiError::internal(other),
        }
    }
}

/// Carried in response extensions from `IntoResponse` to the envelope middleware.
#[derive(Debug, Clone)]
pub struct PendingError {
    pub code: ErrorCode,
    pub message: String,
    pub param: Option<String>,
    pub details: Option<serde_json::Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some((cause, location)) = &self.internal {
            tracing::error!(error = ?cause, location = %location, "internal error");
        }
        let mut response = self.code.status().into_response();
        let retry_after = match self.retry_after {
            Some(seconds) => Some(seconds),
            None if self.code == ErrorCode::service_unavailable => Some(1),
            None => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(PendingError {
            code: self.code,
            message: self.message.into_owned(),
            param: self.param.map(Cow::into_owned),
            details: self.details,
        });
        response
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_spell_as_serde_does() {
        for code in [
            super::ErrorCode::content_policy_violation,
            super::ErrorCode::end_user_blocked,
            super::ErrorCode::parameter_invalid,
        ] {
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::json!(code.as_str()))
            );
        }
    }

    use super::*;

    #[test]
    fn every_code_has_a_consistent_status_and_type() {
        let json = serde_json::to_value(ErrorCode::insufficient_scope).unwrap_or_default();
        assert_eq!(json, "insufficient_scope");
        assert_eq!(
            ErrorCode::insufficient_scope.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            ErrorCode::invalid_api_key.error_type(),
            ErrorType::AuthenticationError
        );
        assert_eq!(
            ErrorCode::body_too_large.status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = ApiError::internal(anyhow::anyhow!("password=hunter2 leaked"));
        assert!(!e.message.contains("hunter2"));
        assert_eq!(e.code.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
