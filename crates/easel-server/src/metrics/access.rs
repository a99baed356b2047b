//! Who may scrape `/metrics`: a Prometheus on the same machine without a token, anyone
//! else with `metrics.token`.
//!
//! "The same machine" is a loopback peer whose request carries no forwarding header: a
//! reverse proxy on the machine connects from loopback too, and what it forwards comes
//! from anywhere, so a request with `Forwarded`, `X-Forwarded-*`, `X-Real-IP` or `Via` is
//! treated as remote. A proxy that adds none of them would expose `/metrics` to everyone
//! it serves; the documentation tells operators not to route `/metrics` through one
//! without the token (or to set `metrics.loopback = false`).

use std::net::SocketAddr;

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::config::MetricsConfig;
use crate::http::error::{ApiError, ErrorCode};

/// What the request gets.
#[derive(Debug)]
pub enum Access {
    Granted,
    /// No token is configured and the request is not local: the route does not exist.
    Hidden,
    Refused(ApiError),
}

/// Whether a request from `peer` with `headers` may scrape.
pub fn decide(config: &MetricsConfig, peer: Option<SocketAddr>, headers: &HeaderMap) -> Access {
    let presented = match crate::auth::authorization(headers) {
        Ok(header) => header,
        Err(e) => return Access::Refused(e),
    };
    let token = config.token.as_bytes();
    if !token.is_empty()
        && let Some(presented) = presented
    {
        // A credential that is sent must be right, from loopback too: a scraper with a
        // stale token should hear so rather than pass by luck of where it runs.
        let presented = presented
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        return if bool::from(presented.as_bytes().ct_eq(token)) {
            Access::Granted
        } else {
            Access::Refused(refusal())
        };
    }
    if config.loopback && is_local(peer, headers) {
        return Access::Granted;
    }
    if token.is_empty() {
        Access::Hidden
    } else {
        Access::Refused(refusal())
    }
}

fn refusal() -> ApiError {
    ApiError::new(
        ErrorCode::invalid_api_key,
        "/metrics needs `Authorization: Bearer <metrics.token>` unless scraped from this machine's loopback.",
    )
}

/// A loopback peer, not relaying someone else's request.
fn is_local(peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    let loopback = peer.is_some_and(|p| p.ip().to_canonical().is_loopback());
    loopback && !headers.keys().any(|name| is_forwarding(name.as_str()))
}

/// Header names (lowercase, as `http` keeps them) that proxies add to what they forward.
fn is_forwarding(name: &str) -> bool {
    matches!(name, "forwarded" | "x-real-ip" | "via") || name.starts_with("x-forwarded-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn config(token: &str, loopback: bool) -> MetricsConfig {
        MetricsConfig {
            token: token.into(),
            loopback,
            cache_ms: 0,
        }
    }

    fn peer(addr: &str) -> Option<SocketAddr> {
        addr.parse().ok()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn outcome(a: Access) -> &'static str {
        match a {
            Access::Granted => "granted",
            Access::Hidden => "hidden",
            Access::Refused(_) => "refused",
        }
    }

    #[test]
    fn loopback_needs_no_token_and_elsewhere_needs_it() {
        let none = headers(&[]);
        let right = headers(&[("authorization", "Bearer t0k")]);
        let wrong = headers(&[("authorization", "Bearer nope")]);
        let cases = [
            (config("", true), "127.0.0.1:5", &none, "granted"),
            (config("", true), "[::1]:5", &none, "granted"),
            (config("", true), "[::ffff:127.0.0.1]:5", &none, "granted"),
            (config("", true), "127.8.9.10:5", &none, "granted"),
            (config("", true), "203.0.113.7:5", &none, "hidden"),
            (config("", true), "10.0.0.2:5", &right, "hidden"),
            (config("", false), "127.0.0.1:5", &none, "hidden"),
            (config("t0k", true), "127.0.0.1:5", &none, "granted"),
            (config("t0k", true), "127.0.0.1:5", &wrong, "refused"),
            (config("t0k", true), "203.0.113.7:5", &none, "refused"),
            (config("t0k", true), "203.0.113.7:5", &wrong, "refused"),
            (config("t0k", true), "203.0.113.7:5", &right, "granted"),
            (config("t0k", false), "127.0.0.1:5", &none, "refused"),
            (config("t0k", false), "127.0.0.1:5", &right, "granted"),
        ];
        for (c, addr, h, want) in cases {
            assert_eq!(
                outcome(decide(&c, peer(addr), h)),
                want,
                "token {:?}, loopback {}, peer {addr}, {h:?}",
                c.token,
                c.loopback
            );
        }
        assert_eq!(outcome(decide(&config("", true), None, &none)), "hidden");
    }

    #[test]
    fn a_request_relayed_by_a_local_proxy_is_not_local() {
        for name in [
            "forwarded",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-real-ip",
            "via",
        ] {
            let h = headers(&[(name, "1.2.3.4")]);
            assert_eq!(
                outcome(decide(&config("", true), peer("127.0.0.1:5"), &h)),
                "hidden",
                "{name}"
            );
            assert_eq!(
                outcome(decide(&config("t0k", true), peer("127.0.0.1:5"), &h)),
                "refused",
                "{name}"
            );
        }
    }
}
