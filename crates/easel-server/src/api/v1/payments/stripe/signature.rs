//! The `Stripe-Signature` check, as Stripe's own libraries do it.
//!
//! The header is `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` (other schemes such as `v0` are
//! ignored). A `v1` is HMAC-SHA256 with the endpoint secret, used as is, over
//! `"{t}.{raw body}"`. Any `v1` may match (Stripe sends two while a secret is rolled); each
//! is compared in constant time by the hmac crate. A matching signature whose `t` is more
//! than the tolerance from now is refused too, so a captured delivery cannot be replayed
//! much later (a replay within it is harmless: crediting is exactly once anyway).

use axum::http::HeaderValue;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::StripeConfig;
use crate::http::error::{ApiError, ApiResult, ErrorCode};

/// Answers 400 unless `header` carries a valid, timely signature of `body` (`now` in
/// unix seconds).
pub(super) fn check_signature(
    stripe: &StripeConfig,
    header: Option<&HeaderValue>,
    body: &[u8],
    now: i64,
) -> ApiResult<()> {
    let header = header.and_then(|h| h.to_str().ok()).unwrap_or_default();
    let tolerance = stripe.tolerance_seconds;
    let refusal = match verify(&stripe.webhook_secret, header, body, now, tolerance) {
        Ok(()) => return Ok(()),
        Err(refusal) => refusal,
    };
    // Worth a line in the log: a wrong secret in the config looks exactly like this.
    tracing::warn!(reason = ?refusal, "stripe webhook refused");
    let error = match refusal {
        Refusal::Malformed => ApiError::new(
            ErrorCode::stripe_signature_invalid,
            "Missing or malformed `Stripe-Signature` header: expected `t=<unix>,v1=<hex>`.",
        ),
        Refusal::NoMatch => ApiError::new(
            ErrorCode::stripe_signature_invalid,
            "No `v1` signature matches the body with the configured webhook secret.",
        ),
        Refusal::Stale => ApiError::new(
            ErrorCode::stripe_timestamp_out_of_tolerance,
            format!(
                "The signature's timestamp is more than {} seconds from now.",
                stripe.tolerance_seconds
            ),
        ),
    };
    Err(error.param("Stripe-Signature"))
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No header, no single `t`, or no `v1`.
    Malformed,
    /// No `v1` is the HMAC of this body with this secret.
    NoMatch,
    /// Signed, but too long before (or after) now.
    Stale,
}

/// Stripe's check: any `v1` equal to HMAC-SHA256(secret, "{t}.{body}") in constant time,
/// then |now − t| ≤ tolerance (all in seconds).
fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: u64,
) -> Result<(), Refusal> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" if timestamp.is_some() => return Err(Refusal::Malformed),
            "t" if (1..=18).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) => {
                timestamp = value.parse::<i64>().ok();
            }
            "t" => return Err(Refusal::Malformed),
            "v1" => signatures.push(value),
            // `v0` (Stripe's test-mode legacy scheme) and future schemes are not ours.
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return Err(Refusal::Malformed);
    };
    if signatures.is_empty() {
        return Err(Refusal::Malformed);
    }
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| Refusal::NoMatch)?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let matches = signatures
        .iter()
        .any(|sig| hex::decode(sig).is_ok_and(|given| mac.clone().verify_slice(&given).is_ok()));
    if !matches {
        return Err(Refusal::NoMatch);
    }
    if now.abs_diff(timestamp) > tolerance {
        return Err(Refusal::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn signatures_are_checked_like_stripe_does() {
        let (secret, body, t) = ("whsec_x", br#"{"id":"evt_1"}"#.as_slice(), 1_700_000_000);
        let good = sign(secret, t, body);
        // The same value from Python's hmac module, an independent implementation.
        assert_eq!(
            good,
            "366e40c480fe3a9e6a03609dca079cea86d77ae82d5a56b5348208247317a8d1"
        );
        let ok = |h: &str, now: i64| verify(secret, h, body, now, 300);
        assert_eq!(ok(&format!("t={t},v1={good}"), t), Ok(()));
        assert_eq!(
            ok(&format!("t={t},v0=abc,v1=00,v1={good}"), t + 300),
            Ok(())
        );
        assert_eq!(
            ok(&format!("t={t},v1={good}"), t + 301),
            Err(Refusal::Stale)
        );
        assert_eq!(
            ok(&format!("t={t},v1={good}"), t - 301),
            Err(Refusal::Stale)
        );
        assert_eq!(
            ok(&format!("t={},v1={good}", t + 1), t),
            Err(Refusal::NoMatch)
        );
        assert_eq!(
            ok(&format!("t={t},v1={}", sign("whsec_y", t, body)), t),
            Err(Refusal::NoMatch)
        );
        assert_eq!(ok(&format!("t={t},v1=zz"), t), Err(Refusal::NoMatch));
        assert_eq!(
            ok(&format!("t={t},t={t},v1={good}"), t),
            Err(Refusal::Malformed)
        );
        assert_eq!(ok(&format!("t=-{t},v1={good}"), t), Err(Refusal::Malformed));
        assert_eq!(ok(&format!("v1={good}"), t), Err(Refusal::Malformed));
        assert_eq!(ok(&format!("t={t}"), t), Err(Refusal::Malformed));
        assert_eq!(ok("", t), Err(Refusal::Malformed));
    }
}
