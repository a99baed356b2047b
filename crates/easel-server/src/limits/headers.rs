//! The `RateLimit-Policy` and `RateLimit` header fields of
//! draft-ietf-httpapi-ratelimit-headers: RFC 9651 lists of named policies.
//!
//! `RateLimit-Policy: "key-minute";q=60;w=60;pk=:…:, "key-day";q=1000;w=86400;pk=:…:, …`
//! `RateLimit: "key-minute";r=59;t=1;pk=:…:, …`
//!
//! `t` is the number of seconds until at least one more request is allowed than `r` (0
//! when the quota is whole); a refused request's `Retry-After` is the largest `t` among the
//! policies it exceeded, so it is never earlier than `t`.

use std::fmt::Write;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;

use super::PolicyState;

pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

fn partition(pk: &[u8; 8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(pk)
}

/// The two field values for `states`.
pub fn values(states: &[PolicyState]) -> (String, String) {
    let mut policy = String::with_capacity(200);
    let mut current = String::with_capacity(160);
    for (i, s) in states.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let pk = partition(&s.policy.partition);
        let _ = write!(
            policy,
            "{sep}\"{}\";q={};w={};pk=:{pk}:",
            s.policy.name, s.policy.rate.quota, s.policy.rate.window_secs
        );
        let _ = write!(
            current,
            "{sep}\"{}\";r={};t={};pk=:{pk}:",
            s.policy.name, s.remaining, s.reset_seconds
        );
    }
    (policy, current)
}

/// Sets both fields on a response.
pub fn insert(headers: &mut HeaderMap, states: &[PolicyState]) {
    if states.is_empty() {
        return;
    }
    let (policy, current) = values(states);
    // Both values are ASCII built above; from_str cannot fail on them.
    if let (Ok(policy), Ok(current)) = (
        HeaderValue::from_str(&policy),
        HeaderValue::from_str(&current),
    ) {
        headers.insert(RATELIMIT_POLICY, policy);
        headers.insert(RATELIMIT, current);
    }
}

#[cfg(test)]
mod tests {
    use super::values;
    use crate::limits::gcra::Rate;
    use crate::limits::{Policy, PolicyState, Scope};

    #[test]
    fn fields_are_structured_field_lists() {
        let state = |name, quota, window, remaining, t| PolicyState {
            policy: Policy {
                name,
                scope: Scope::Key,
                limit: "requests_per_minute",
                rate: Rate::new(quota, window),
                partition: *b"abcdefgh",
            },
            remaining,
            reset_seconds: t,
            exceeded: false,
        };
        let (policy, current) = values(&[
            state("key-minute", 60, 60, 59, 1),
            state("key-day", 1000, 86_400, 999, 87),
        ]);
        assert_eq!(
            policy,
            "\"key-minute\";q=60;w=60;pk=:YWJjZGVmZ2g=:, \"key-day\";q=1000;w=86400;pk=:YWJjZGVmZ2g=:"
        );
        assert_eq!(
            current,
            "\"key-minute\";r=59;t=1;pk=:YWJjZGVmZ2g=:, \"key-day\";r=999;t=87;pk=:YWJjZGVmZ2g=:"
        );
    }
}
