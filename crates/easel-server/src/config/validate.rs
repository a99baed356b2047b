//! Rules a well-typed configuration must also satisfy; each failure names its key.

use super::Config;

/// Checks cross-field and range rules. Returns the dotted key and the reason on failure.
pub fn validate(c: &Config) -> Result<(), (String, String)> {
    let fail = |key: &str, reason: String| Err((key.to_string(), reason));
    if c.listen.parse::<std::net::SocketAddr>().is_err() {
        return fail(
            "listen",
            format!(
                "must be an IP address and port such as 127.0.0.1:8080, got {:?}",
                c.listen
            ),
        );
    }
    let url_ok = c.public_url.is_empty()
        || c.public_url.starts_with("http://")
        || c.public_url.starts_with("https://");
    if !url_ok {
        return fail(
            "public_url",
            format!(
                "must start with http:// or https://, got {:?}",
                c.public_url
            ),
        );
    }
    let db = &c.database_url;
    if !db.is_empty()
        && !["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|s| db.starts_with(s))
    {
        return fail(
            "database_url",
            "must start with sqlite:// or postgres://".into(),
        );
    }
    if c.data_dir.as_os_str().is_empty() {
        return fail("data_dir", "must not be empty".into());
    }
    if !easel_core::api_key::prefix_is_valid(&c.api_keys.prefix) {
        return fail(
            "api_keys.prefix",
            format!(
                "must be 1 to 12 lower-case letters or digits (no `_`), got {:?}",
                c.api_keys.prefix
            ),
        );
    }
    if c.api_keys.invalidation_poll_ms == 0 || c.api_keys.invalidation_poll_ms > 60_000 {
        return fail(
            "api_keys.invalidation_poll_ms",
            "must be between 1 and 60000".into(),
        );
    }
    if c.api_keys.last_used_flush_seconds == 0 {
        return fail(
            "api_keys.last_used_flush_seconds",
            "must be at least 1".into(),
        );
    }
    if c.http.max_body_bytes < 1024 {
        return fail("http.max_body_bytes", "must be at least 1024".into());
    }
    if c.http.request_timeout_seconds == 0 {
        return fail("http.request_timeout_seconds", "must be at least 1".into());
    }
    if c.database.max_connections == 0 {
        return fail("database.max_connections", "must be at least 1".into());
    }
    if c.plans.is_empty() {
        return fail("plans", "at least one plan must be configured".into());
    }
    for (name, plan) in &c.plans {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return fail(
                &format!("plans.{name}"),
                "plan names are lower-case letters, digits, `_` and `-`".into(),
            );
        }
        for (field, value) in [
            ("requests_per_minute", plan.requests_per_minute),
            ("requests_per_day", plan.requests_per_day),
            ("concurrent_jobs", plan.concurrent_jobs),
        ] {
            if value == 0 {
                return fail(
                    &format!("plans.{name}.{field}"),
                    "must be at least 1".into(),
                );
            }
        }
        if plan.monthly_credits < 0 {
            return fail(
                &format!("plans.{name}.monthly_credits"),
                "must not be negative".into(),
            );
        }
    }
    if !c.plans.contains_key(&c.default_plan) {
        let have: Vec<&str> = c.plans.keys().map(String::as_str).collect();
        return fail(
            "default_plan",
            format!(
                "no plan named {:?} is configured (have: {})",
                c.default_plan,
                have.join(", ")
            ),
        );
    }
    if c.terms_version.trim().is_empty() {
        return fail("terms_version", "must not be empty".into());
    }
    Ok(())
}
