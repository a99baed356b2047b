//! Calls to Stripe's API (Checkout Sessions, the billing portal, subscriptions).
//!
//! Stripe takes form-encoded bodies with bracketed keys (`line_items[0][price]`) and the
//! secret key as a bearer token, and answers errors as
//! `{"error": {"type", "code", "message", "param"}}`. Every failure becomes one
//! `payment_provider_error` (502) that says nothing was charged; the detail goes to the log,
//! never to the member.

use std::sync::LazyLock;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorCode};

/// One client for every call: connections to Stripe are reused.
static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_default()
});

#[derive(Debug, Deserialize)]
struct StripeErrorBody {
    error: StripeError,
}

#[derive(Debug, Deserialize)]
struct StripeError {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// The member-facing error for a call that failed; `what` says what did not happen.
pub fn unavailable(what: &str, detail: &str) -> ApiError {
    tracing::warn!(error = %detail, "Stripe call failed: {what}");
    ApiError::new(
        ErrorCode::payment_provider_error,
        format!(
            "The payment provider could not {what}; nothing was charged. Try again in a minute."
        ),
    )
}

/// `POST {api_base}{path}` with `form`, or `GET` when `form` is `None`; the answer decoded
/// as `T`. A POST carries a fresh idempotency key, so that a retry inside the HTTP client
/// cannot act twice.
pub async fn call<T: DeserializeOwned>(
    state: &AppState,
    path: &str,
    form: Option<&[(&str, &str)]>,
    what: &str,
) -> ApiResult<T> {
    let stripe = &state.config.payments.stripe;
    let url = format!("{}{path}", stripe.api_base.trim_end_matches('/'));
    let request = match form {
        Some(form) => CLIENT
            .post(&url)
            .header(
                "idempotency-key",
                format!("easel-{:032x}", rand::random::<u128>()),
            )
            .form(form),
        None => CLIENT.get(&url),
    };
    let response = request
        .bearer_auth(&stripe.secret_key)
        .send()
        .await
        .map_err(|e| unavailable(what, &format!("{e:#}")))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| unavailable(what, &format!("{e:#}")))?;
    if !status.is_success() {
        let error = serde_json::from_slice::<StripeErrorBody>(&body).ok();
        let (code, message) = error
            .map(|b| (b.error.code, b.error.message))
            .unwrap_or_default();
        return Err(unavailable(
            what,
            &format!(
                "{path}: {status}: {} {}",
                code.unwrap_or_default(),
                message.unwrap_or_default()
            ),
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| unavailable(what, &format!("{path}: unreadable answer: {e}")))
}

/// A hosted page Stripe answered (Checkout or the billing portal): its id and URL.
#[derive(Debug, Deserialize)]
pub struct HostedPage {
    pub id: String,
    url: Option<String>,
}

impl HostedPage {
    /// The page's URL, if it is a web address the member can be sent to.
    pub fn url(self, what: &str) -> ApiResult<(String, String)> {
        match self
            .url
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        {
            Some(url) => Ok((self.id, url)),
            None => Err(unavailable(what, &format!("{} has no URL", self.id))),
        }
    }
}
