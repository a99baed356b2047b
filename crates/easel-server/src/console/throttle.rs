//! Sign-in throttling: per client address and per username, a few free wrong passwords,
//! then a pause that doubles with each further one up to `console.login_backoff_max_seconds`,
//! kept by the limiter's back-off ([`crate::limits::backoff`]; shared through Redis when it
//! is configured). Attempts during a pause are refused before the password is checked,
//! the right password included, and do not lengthen it. A sign-in clears both counts.
//!
//! So that an attacker who keeps guessing one username cannot keep its operator out, a
//! browser where that operator signed in before carries a device cookie (a random id signed
//! for the username, OWASP's "device cookie"): from it, attempts count against the device
//! instead of the username, so only the address and the device's own failures pause it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum_extra::extract::cookie::Cookie;
use easel_core::audit::{Actor, action};
use easel_db::AuditContext;
use minijinja::context;

use crate::app::AppState;
use crate::limits::backoff::BackoffPolicy;

/// The client's address: the peer, or with `console.forwarded_for_hops = n` the address
/// `n` entries from the right of `X-Forwarded-For` (the entries our own proxies appended;
/// anything further left is what the client claimed).
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
        let hops = state.config.console.forwarded_for_hops as usize;
        if hops == 0 {
            return Ok(ClientIp(peer));
        }
        let forwarded: Vec<String> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        // Fewer entries than proxies: the request did not come through them all; count
        // it against the peer rather than trust a header the client wrote.
        let ip = forwarded
            .len()
            .checked_sub(hops)
            .and_then(|i| forwarded.get(i).cloned())
            .unwrap_or(peer);
        Ok(ClientIp(ip))
    }
}

fn policy(state: &AppState) -> BackoffPolicy {
    let ms = |s: u64| {
        i64::try_from(s)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000)
    };
    let c = &state.config.console;
    BackoffPolicy {
        free: c.login_free_attempts,
        base_ms: ms(c.login_backoff_seconds),
        max_ms: ms(c.login_backoff_max_seconds),
    }
}

/// The device cookie.
pub const DEVICE_COOKIE: &str = "easel_device";
/// How long a device stays known after its last sign-in.
const DEVICE_MS: i64 = 90 * 86_400_000;

/// Who is signing in: from where, as whom, and on which known device (if any).
pub struct Attempt {
    pub ip: String,
    pub username: String,
    /// The device id, if the request carries a device cookie signed for this username.
    pub device: Option<String>,
}

impl Attempt {
    /// The attempt of a request.
    pub fn new(state: &AppState, headers: &HeaderMap, ip: String, username: String) -> Attempt {
        let device = super::session::cookie_value(state, headers, DEVICE_COOKIE).and_then(|v| {
            let (id, signature) = v.split_once('.')?;
            let signed = format!("{id}.{}", username.to_lowercase());
            super::csrf::verify(state, "device", &signed, signature).then(|| id.to_string())
        });
        Attempt {
            ip,
            username,
            device,
        }
    }

    fn keys(&self) -> [String; 2] {
        let second = match &self.device {
            Some(device) => format!("device:{device}"),
            None => format!("user:{}", self.username.to_lowercase()),
        };
        // Counted per client network (an IPv6 /64 as one), like every other client limit;
        // an address that does not parse (a forwarded header's garbage) counts as itself.
        let network = self.ip.parse().map_or_else(
            |_| self.ip.clone(),
            |ip| crate::http::conn::client_network(ip).to_string(),
        );
        [format!("ip:{network}"), second]
    }
}

/// A device cookie for `username` (a new device id each sign-in).
pub fn device_cookie(state: &AppState, username: &str) -> Cookie<'static> {
    let id = super::session::random_token();
    let signature = super::csrf::token(
        state,
        "device",
        &format!("{id}.{}", username.to_lowercase()),
    );
    super::session::cookie(
        state,
        DEVICE_COOKIE,
        format!("{id}.{signature}"),
        Some(DEVICE_MS),
    )
}

/// How long (ms) sign-in stays paused for this attempt (0: it is not).
pub async fn paused_ms(state: &AppState, attempt: &Attempt) -> i64 {
    let keys = attempt.keys();
    state
        .limiter
        .backoff_paused_ms(&[keys[0].as_str(), keys[1].as_str()])
        .await
}

/// Counts a wrong password; if that begins a pause, audits and logs it and returns its
/// length (ms).
pub async fn failed(state: &AppState, attempt: &Attempt, request_id: Option<String>) -> i64 {
    let keys = attempt.keys();
    let pauses = state
        .limiter
        .backoff_fail(&[keys[0].as_str(), keys[1].as_str()], policy(state))
        .await;
    let pause = pauses.iter().copied().max().unwrap_or(0);
    if pause == 0 {
        return pause;
    }
    let second = if attempt.device.is_some() {
        "device"
    } else {
        "username"
    };
    let by: Vec<&str> = ["address", second]
        .into_iter()
        .zip(&pauses)
        .filter(|(_, p)| **p > 0)
        .map(|(by, _)| by)
        .collect();
    let (ip, username) = (attempt.ip.as_str(), attempt.username.as_str());
    tracing::warn!(client.ip = ip, username, pause_ms = pause, by = ?by, "console sign-in paused after repeated wrong passwords");
    let audit = AuditContext::new(Actor::system(), request_id)
        .with("username", username)
        .with("ip", ip)
        .with("pause_seconds", pause.div_euclid(1000))
        .with("by", by.join(","));
    // Members sign in with their e-mail address, operators with a username.
    let (what, target) = if super::signin::is_member_login(username) {
        (action::USER_LOGIN_THROTTLED, "user")
    } else {
        (action::OPERATOR_LOGIN_THROTTLED, "operator")
    };
    if let Err(e) = state
        .store
        .append_audit(None, what, (target, username), audit)
        .await
    {
        tracing::warn!(error = %e, "could not record a sign-in pause");
    }
    pause
}

/// Clears the counts of this attempt's address and username (or device) after a sign-in.
pub async fn succeeded(state: &AppState, attempt: &Attempt) {
    let keys = attempt.keys();
    state
        .limiter
        .backoff_reset(&[keys[0].as_str(), keys[1].as_str()])
        .await;
}

/// The 429 page: when to try again, never whether the username exists.
pub fn refused(state: &AppState, username: &str, nonce: &str, pause_ms: i64) -> Response {
    let seconds = pause_ms.div_euclid(1000) + i64::from(pause_ms % 1000 != 0);
    let seconds = seconds.max(1);
    let error = format!(
        "Too many sign-in attempts. Try again in {seconds} second{}.",
        if seconds == 1 { "" } else { "s" }
    );
    let ctx = context! {
        username => username,
        error => error,
        csrf => super::csrf::login_token(state, nonce),
    };
    let mut response = super::pages::render(StatusCode::TOO_MANY_REQUESTS, "login.html", ctx);
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::Attempt;

    fn ip_key(ip: &str) -> String {
        let attempt = Attempt {
            ip: ip.into(),
            username: "admin".into(),
            device: None,
        };
        let [ip_key, user_key] = attempt.keys();
        assert_eq!(user_key, "user:admin");
        ip_key
    }

    #[test]
    fn one_ipv6_block_is_one_client() {
        assert_eq!(ip_key("2001:db8:1:2::1"), ip_key("2001:db8:1:2:ffff::9"));
        assert_ne!(ip_key("2001:db8:1:2::1"), ip_key("2001:db8:1:3::1"));
        assert_eq!(ip_key("::ffff:192.0.2.7"), "ip:192.0.2.7");
        assert_eq!(ip_key("not an address"), "ip:not an address");
    }
}
