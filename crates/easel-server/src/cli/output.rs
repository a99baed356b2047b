//! Printing admin results: one JSON value on stdout with `--json`, readable text otherwise.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Prints `value` as JSON, or the human rendering.
pub fn emit<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", human());
    }
    Ok(())
}

/// Unix seconds as RFC 3339 UTC for humans, `-` when absent.
pub fn when(secs: Option<i64>) -> String {
    secs.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "-".into())
}

/// Unix milliseconds as the UTC day, `YYYY-MM-DD` (notices, mails, pages).
pub fn day(ms: i64) -> String {
    let full = when(Some(ms.div_euclid(1000)));
    full.get(..10).unwrap_or(&full).to_string()
}

/// Parses an RFC 3339 time (`2026-12-01T00:00:00Z`) into Unix milliseconds.
pub fn parse_time(s: &str) -> anyhow::Result<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
        anyhow::anyhow!("`{s}` is not an RFC 3339 time such as 2026-12-01T00:00:00Z: {e}")
    })?;
    Ok(i64::try_from(t.unix_timestamp_nanos() / 1_000_000)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_and_parses_times() {
        assert_eq!(super::when(Some(1_795_500_000)), "2026-11-24T06:00:00Z");
        assert_eq!(super::when(None), "-");
        assert_eq!(
            super::parse_time("2026-11-24T06:00:00Z").ok(),
            Some(1_795_500_000_000)
        );
        assert!(super::parse_time("next tuesday").is_err());
    }
}
