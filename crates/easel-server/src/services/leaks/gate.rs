//! The per-client budget of keyless leak reports (`POST /v1/leaked_keys`).
//!
//! A report reveals nothing, but each well-formed one costs a store lookup, so a client
//! address gets `[secret_scanning] reports_per_ip_per_minute` of them. The budget lives in
//! the limiter's backend (Redis when configured, else this node's memory), so every node
//! counts against the same one. IPv6 clients are counted per /64: one host usually holds a
//! whole /64 and could otherwise rotate through it.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use crate::app::App;
use crate::http::error::{ApiError, ApiResult, ErrorCode};
use crate::limits::Bucket;
use crate::limits::gcra::Rate;

/// Takes one report from `client`'s budget, or refuses with 429 and when to retry.
pub async fn admit(app: &App, client: Option<IpAddr>) -> ApiResult<()> {
    let per_minute = app.config.secret_scanning.reports_per_ip_per_minute;
    if per_minute == 0 {
        return Ok(());
    }
    let bucket = Bucket {
        key: format!("leak:{}", client.map_or_else(|| "unknown".into(), network)),
        rate: Rate::new(per_minute, 60),
    };
    let decision = app
        .limiter
        .check("leaked-key-reports", Vec::new(), &[bucket], true)
        .await;
    if decision.admitted {
        return Ok(());
    }
    app.limiter.metrics.rejected.fetch_add(1, Ordering::Relaxed);
    // GCRA gives one report back every 60 / per_minute seconds.
    let retry = 60_u64.div_ceil(u64::from(per_minute)).max(1);
    Err(ApiError::new(
        ErrorCode::rate_limit_exceeded,
        format!("Too many leaked-key reports from your address; retry in {retry} seconds."),
    )
    .retry_after(retry))
}

/// The address a client is counted under (`http::conn::client_network`), as a limiter key.
fn network(ip: IpAddr) -> String {
    crate::http::conn::client_network(ip).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_itself() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:bbbb::9"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(network(a), network(b));
        assert_ne!(network(a), network(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(network(mapped), "192.0.2.7");
    }
}
