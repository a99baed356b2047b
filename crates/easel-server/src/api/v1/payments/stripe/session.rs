//! Reading a Stripe event: which Checkout Session it is about, which account that session
//! pays for, and how many credits it buys.

use easel_core::credits::MAX_MOVEMENT;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::http::error::{ApiError, ApiResult, ErrorCode};

/// A session was completed; paid at once unless the payment method is asynchronous.
const SESSION_COMPLETED: &str = "checkout.session.completed";
/// An asynchronous payment (SEPA debit, bank transfer…) of a completed session succeeded.
const ASYNC_PAYMENT_SUCCEEDED: &str = "checkout.session.async_payment_succeeded";
/// Longest event, session or account id taken from an event.
pub(super) const MAX_ID_LEN: usize = 255;

/// The parts of a Stripe event this endpoint reads.
#[derive(Debug, Deserialize)]
pub(super) struct Event {
    /// `evt_…`
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether Stripe sent it in live mode (recorded in the audit log).
    #[serde(default)]
    pub livemode: bool,
    /// When Stripe created it (Unix seconds): orders events about one subscription.
    #[serde(default)]
    pub created: i64,
    pub(super) data: EventData,
}

impl Event {
    /// Parses a delivery's body (after its signature was checked).
    pub fn parse(body: &[u8]) -> ApiResult<Event> {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                ErrorCode::stripe_event_invalid,
                format!("The body is not a Stripe event: {e}."),
            )
        })
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct EventData {
    pub(super) object: Value,
}

/// The parts of a Checkout Session this endpoint reads.
#[derive(Debug, Deserialize)]
struct CheckoutSession {
    id: String,
    mode: Option<String>,
    payment_status: Option<String>,
    /// In the currency's smallest unit (cents for EUR); any JSON value, so that a string,
    /// a fraction or a number too large for `i64` is refused naming this field.
    amount_total: Option<Value>,
    currency: Option<String>,
    client_reference_id: Option<String>,
    metadata: Option<Map<String, Value>>,
}

/// A paid session to credit.
#[derive(Debug)]
pub(super) struct Purchase {
    pub account_id: String,
    /// `cs_…`, the ledger reference that makes crediting exactly once.
    pub session_id: String,
    pub credits: i64,
}

/// `stripe_event_invalid` on a field of the event.
pub(super) fn invalid(param: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::stripe_event_invalid, message.into()).param(param)
}

/// What `event` pays for, or `None` for an event that credits nothing.
pub(super) fn purchase_of(event: &Event, credits_per_eur: u64) -> ApiResult<Option<Purchase>> {
    if event.id.is_empty() || event.id.len() > MAX_ID_LEN {
        return Err(invalid("id", "The event has no usable `id`."));
    }
    if event.kind != SESSION_COMPLETED && event.kind != ASYNC_PAYMENT_SUCCEEDED {
        return Ok(None);
    }
    let session = CheckoutSession::deserialize(&event.data.object).map_err(|e| {
        invalid(
            "data.object",
            format!("`data.object` is not a Checkout Session: {e}."),
        )
    })?;
    // Subscriptions and setups are not top-ups; unpaid sessions (an asynchronous payment
    // still pending) are credited by their `async_payment_succeeded` event.
    let is_payment = session.mode.as_deref().is_none_or(|m| m == "payment");
    if !is_payment || session.payment_status.as_deref() != Some("paid") {
        return Ok(None);
    }
    if !session.id.starts_with("cs_") || session.id.len() > MAX_ID_LEN {
        return Err(invalid(
            "data.object.id",
            "The Checkout Session id must look like `cs_…`.",
        ));
    }
    Ok(Some(Purchase {
        account_id: account_of(&session)?,
        credits: credits_of(&session, credits_per_eur)?,
        session_id: session.id,
    }))
}

/// The account a session pays for: `client_reference_id`, else `metadata.account_id`.
fn account_of(session: &CheckoutSession) -> ApiResult<String> {
    let reference = session
        .client_reference_id
        .as_deref()
        .filter(|s| !s.is_empty());
    let metadata = session
        .metadata
        .as_ref()
        .and_then(|m| m.get("account_id"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let account = match (reference, metadata) {
        (Some(a), Some(b)) if a != b => {
            return Err(invalid(
                "data.object.client_reference_id",
                "`client_reference_id` and `metadata.account_id` name different accounts.",
            ));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            return Err(invalid(
                "data.object.client_reference_id",
                "The session names no account: set `client_reference_id` (or `metadata.account_id`) to the account id.",
            ));
        }
    };
    if account.len() > MAX_ID_LEN {
        return Err(invalid(
            "data.object.client_reference_id",
            "The account id is too long.",
        ));
    }
    Ok(account.to_string())
}

/// The credits a session buys: `metadata.credits`, else the EUR amount at the configured
/// rate (exact integer arithmetic, rounded down to whole credits).
fn credits_of(session: &CheckoutSession, credits_per_eur: u64) -> ApiResult<i64> {
    let range = || format!("between 1 and {MAX_MOVEMENT}");
    let explicit = session
        .metadata
        .as_ref()
        .and_then(|m| m.get("credits"))
        .filter(|v| !v.is_null());
    if let Some(value) = explicit {
        let credits = match value {
            Value::String(s)
                if (1..=19).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                s.parse::<i64>().ok()
            }
            Value::Number(n) => n.as_i64(),
            _ => None,
        };
        return credits
            .filter(|c| (1..=MAX_MOVEMENT).contains(c))
            .ok_or_else(|| {
                invalid(
                    "data.object.metadata.credits",
                    format!(
                        "`metadata.credits` must be a whole number of credits {}.",
                        range()
                    ),
                )
            });
    }
    let currency = session.currency.as_deref().unwrap_or_default();
    if !currency.eq_ignore_ascii_case("eur") {
        return Err(invalid(
            "data.object.currency",
            format!(
                "Only EUR payments are converted to credits (got {currency:?}); set `metadata.credits` on sessions in other currencies."
            ),
        ));
    }
    let cents = session.amount_total.as_ref().and_then(Value::as_i64);
    let credits = cents
        .filter(|c| *c >= 1)
        .map(|c| i128::from(c) * i128::from(credits_per_eur) / 100)
        .and_then(|c| i64::try_from(c).ok())
        .filter(|c| (1..=MAX_MOVEMENT).contains(c));
    credits.ok_or_else(|| {
        invalid(
            "data.object.amount_total",
            format!(
                "`amount_total` must be a whole number of cents buying {} credits.",
                range()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(json: Value) -> CheckoutSession {
        CheckoutSession::deserialize(&json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn credits_come_from_metadata_or_the_eur_amount() {
        let eur = |amount: Value| {
            credits_of(
                &session(
                    serde_json::json!({"id": "cs_1", "amount_total": amount, "currency": "eur"}),
                ),
                1000,
            )
            .map_err(|e| e.code)
        };
        assert_eq!(eur(1999.into()), Ok(19_990));
        assert_eq!(eur(0.into()), Err(ErrorCode::stripe_event_invalid));
        assert_eq!(eur((-5).into()), Err(ErrorCode::stripe_event_invalid));
        assert_eq!(
            eur(serde_json::json!(1e30)),
            Err(ErrorCode::stripe_event_invalid)
        );
        assert_eq!(
            eur(serde_json::json!(12.5)),
            Err(ErrorCode::stripe_event_invalid)
        );
        assert_eq!(eur(i64::MAX.into()), Err(ErrorCode::stripe_event_invalid));
        // 50 credits per euro: half a credit per cent, rounded down.
        let half = session(serde_json::json!({"id": "cs_1", "amount_total": 3, "currency": "eur"}));
        assert_eq!(credits_of(&half, 50).map_err(|e| e.code), Ok(1));
        let usd =
            session(serde_json::json!({"id": "cs_1", "amount_total": 500, "currency": "usd"}));
        assert_eq!(
            credits_of(&usd, 1000).map_err(|e| e.code),
            Err(ErrorCode::stripe_event_invalid)
        );
        for (credits, expected) in [
            (serde_json::json!("2500"), Ok(2500)),
            (serde_json::json!(2500), Ok(2500)),
            (
                serde_json::json!("-1"),
                Err(ErrorCode::stripe_event_invalid),
            ),
            (
                serde_json::json!("+5"),
                Err(ErrorCode::stripe_event_invalid),
            ),
            (serde_json::json!("0"), Err(ErrorCode::stripe_event_invalid)),
            (
                serde_json::json!("99999999999999999999"),
                Err(ErrorCode::stripe_event_invalid),
            ),
            (
                serde_json::json!(MAX_MOVEMENT + 1),
                Err(ErrorCode::stripe_event_invalid),
            ),
        ] {
            let s = session(
                serde_json::json!({"id": "cs_1", "amount_total": 500, "currency": "usd", "metadata": {"credits": credits}}),
            );
            assert_eq!(
                credits_of(&s, 1000).map_err(|e| e.code),
                expected,
                "{credits}"
            );
        }
    }

    #[test]
    fn the_account_comes_from_the_reference_or_metadata() {
        let of = |json: Value| account_of(&session(json)).map_err(|e| e.code);
        assert_eq!(
            of(serde_json::json!({"id": "cs_1", "client_reference_id": "acct_1"})),
            Ok("acct_1".into())
        );
        assert_eq!(
            of(serde_json::json!({"id": "cs_1", "metadata": {"account_id": "acct_2"}})),
            Ok("acct_2".into())
        );
        assert_eq!(
            of(
                serde_json::json!({"id": "cs_1", "client_reference_id": "acct_1", "metadata": {"account_id": "acct_2"}})
            ),
            Err(ErrorCode::stripe_event_invalid)
        );
        assert_eq!(
            of(serde_json::json!({"id": "cs_1", "client_reference_id": null})),
            Err(ErrorCode::stripe_event_invalid)
        );
    }
}
