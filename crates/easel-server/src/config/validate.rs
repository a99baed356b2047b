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
    if c.api_keys.expiring_notice_days > 365 {
        return fail(
            "api_keys.expiring_notice_days",
            "must be between 0 (no notice) and 365".into(),
        );
    }
    if c.http.max_body_bytes < 1024 {
        return fail("http.max_body_bytes", "must be at least 1024".into());
    }
    if c.http.request_timeout_seconds == 0 {
        return fail("http.request_timeout_seconds", "must be at least 1".into());
    }
    if !(1..=3600).contains(&c.http.header_read_timeout_seconds) {
        return fail(
            "http.header_read_timeout_seconds",
            "must be between 1 and 3600".into(),
        );
    }
    if !(1..=86_400).contains(&c.http.idle_timeout_seconds) {
        return fail(
            "http.idle_timeout_seconds",
            "must be between 1 and 86400".into(),
        );
    }
    if let Some(bad) = c
        .http
        .connection_cap_exempt
        .iter()
        .find(|net| net.parse::<ipnet::IpNet>().is_err())
    {
        return fail(
            "http.connection_cap_exempt",
            format!("{bad:?} is not a CIDR block such as 10.0.0.0/8 or ::1/128"),
        );
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
            if !(1..=1_000_000).contains(&value) {
                return fail(
                    &format!("plans.{name}.{field}"),
                    "must be between 1 and 1000000".into(),
                );
            }
        }
        if plan.monthly_credits < 0 {
            return fail(
                &format!("plans.{name}.monthly_credits"),
                "must not be negative".into(),
            );
        }
        validate_plan_price(c, name, plan)?;
    }
    if let Err(e) = easel_core::models::Markup::parse(&c.pricing.markup) {
        return fail("pricing.markup", e.to_string());
    }
    if !(0..=1_000_000).contains(&c.pricing.invalid_input_fee) {
        return fail(
            "pricing.invalid_input_fee",
            "must be between 0 and 1000000 credits".into(),
        );
    }
    if !(0..=easel_core::credits::MAX_MOVEMENT).contains(&c.credits.low_balance_credits) {
        return fail(
            "credits.low_balance_credits",
            format!(
                "must be between 0 (no credits.low events) and {} credits",
                easel_core::credits::MAX_MOVEMENT
            ),
        );
    }
    for (id, model) in &c.models {
        validate_model(c, id, model)?;
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
    validate_secret_scanning(c)?;
    validate_runtime(c)
}

/// GitHub's keys must parse (a typo would refuse every delivery, silently), once each.
fn validate_secret_scanning(c: &Config) -> Result<(), (String, String)> {
    let s = &c.secret_scanning;
    if let Err((i, reason)) = crate::services::leaks::github::GithubKeys::new(&s.github_public_keys)
    {
        return Err((format!("secret_scanning.github_public_keys[{i}]"), reason));
    }
    if !(1..=10_000).contains(&s.max_matches) {
        return Err((
            "secret_scanning.max_matches".into(),
            "must be between 1 and 10000".into(),
        ));
    }
    if !(1024..=16 * 1024 * 1024).contains(&s.max_body_bytes) {
        return Err((
            "secret_scanning.max_body_bytes".into(),
            "must be between 1024 and 16777216".into(),
        ));
    }
    Ok(())
}

/// Object store, queue timing and generation limits.
fn validate_runtime(c: &Config) -> Result<(), (String, String)> {
    let fail = |key: &str, reason: String| Err((key.to_string(), reason));
    let store = &c.object_store_url;
    if !store.is_empty() {
        if let Some(rest) = store.strip_prefix("s3://") {
            if rest.split('/').next().is_none_or(str::is_empty) {
                return fail(
                    "object_store_url",
                    "an s3:// URL names a bucket: s3://bucket/prefix".into(),
                );
            }
        } else if !store.starts_with("file://") {
            return fail(
                "object_store_url",
                format!("must start with file:// or s3://, got {store:?}"),
            );
        }
    }
    let s3 = &c.s3;
    if !(s3.endpoint.is_empty()
        || s3.endpoint.starts_with("http://")
        || s3.endpoint.starts_with("https://"))
    {
        return fail("s3.endpoint", "must start with http:// or https://".into());
    }
    if s3.endpoint.starts_with("http://") && !s3.allow_http {
        return fail(
            "s3.endpoint",
            "is plain HTTP; set s3.allow_http = true to allow it".into(),
        );
    }
    let q = &c.queue;
    for (key, value) in [
        ("queue.lease_ms", q.lease_ms),
        ("queue.heartbeat_ms", q.heartbeat_ms),
        ("queue.poll_ms", q.poll_ms),
        ("queue.retry_base_ms", q.retry_base_ms),
        ("queue.retry_max_ms", q.retry_max_ms),
        ("queue.sweep_ms", q.sweep_ms),
    ] {
        if !(10..=86_400_000).contains(&value) {
            return fail(key, "must be between 10 and 86400000".into());
        }
    }
    if q.heartbeat_ms * 2 > q.lease_ms {
        return fail(
            "queue.heartbeat_ms",
            "must be at most half of queue.lease_ms, so one late heartbeat does not lose the lease"
                .into(),
        );
    }
    let w = &c.workers;
    for (key, value, min, max) in [
        ("workers.lease_ms", w.lease_ms, 300, 3_600_000),
        ("workers.heartbeat_ms", w.heartbeat_ms, 100, 1_200_000),
        ("workers.max_claim_wait_ms", w.max_claim_wait_ms, 0, 60_000),
        ("workers.poll_ms", w.poll_ms, 10, 60_000),
        ("workers.presence_seconds", w.presence_seconds, 1, 86_400),
        (
            "workers.quarantine_window_seconds",
            w.quarantine_window_seconds,
            1,
            86_400,
        ),
        (
            "workers.quarantine_seconds",
            w.quarantine_seconds,
            1,
            604_800,
        ),
    ] {
        if !(min..=max).contains(&value) {
            return fail(key, format!("must be between {min} and {max}"));
        }
    }
    if !(1..=64).contains(&w.max_jobs_per_claim) {
        return fail(
            "workers.max_jobs_per_claim",
            "must be between 1 and 64".into(),
        );
    }
    if w.quarantine_after_lost == 0 {
        return fail("workers.quarantine_after_lost", "must be at least 1".into());
    }
    let st = &c.status;
    for (key, value, min, max) in [
        (
            "status.probe_interval_seconds",
            st.probe_interval_seconds,
            1,
            3_600,
        ),
        (
            "status.queue_degraded_seconds",
            st.queue_degraded_seconds,
            1,
            86_400,
        ),
        (
            "status.webhooks_degraded_seconds",
            st.webhooks_degraded_seconds,
            1,
            86_400,
        ),
        (
            "status.database_degraded_ms",
            st.database_degraded_ms,
            1,
            60_000,
        ),
        ("status.cache_seconds", st.cache_seconds, 0, 300),
    ] {
        if !(min..=max).contains(&value) {
            return fail(key, format!("must be between {min} and {max}"));
        }
    }
    let name = st.page_name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return fail("status.page_name", "must be 1 to 100 characters".into());
    }
    let g = &c.generations;
    let default_ok = c
        .model(&g.default_image_model)
        .is_some_and(|m| m.kind == easel_core::models::ModelKind::Image);
    if !default_ok {
        return fail(
            "generations.default_image_model",
            format!("{:?} is not an enabled image model", g.default_image_model),
        );
    }
    if !(1..=100_000).contains(&g.max_prompt_chars) {
        return fail(
            "generations.max_prompt_chars",
            "must be between 1 and 100000".into(),
        );
    }
    if g.max_input_image_bytes == 0 || g.max_input_image_bytes > c.http.max_body_bytes {
        return fail(
            "generations.max_input_image_bytes",
            "must be at least 1 and at most http.max_body_bytes".into(),
        );
    }
    if g.max_wait_seconds > 600 || g.max_wait_seconds >= c.http.request_timeout_seconds {
        return fail(
            "generations.max_wait_seconds",
            "must be at most 600 and below http.request_timeout_seconds".into(),
        );
    }
    if !(1..=24 * 30).contains(&g.idempotency_hours) {
        return fail(
            "generations.idempotency_hours",
            "must be between 1 and 720".into(),
        );
    }
    if !(1..=7 * 86_400).contains(&c.outputs.url_ttl_seconds) {
        return fail(
            "outputs.url_ttl_seconds",
            "must be between 1 and 604800".into(),
        );
    }
    validate_payments(c)?;
    validate_deprecations(c)?;
    validate_moderation(c)?;
    validate_limits(c)?;
    validate_webhooks(c)?;
    validate_console(c)?;
    validate_invoicing(c)
}

/// `[invoicing]`.
fn validate_invoicing(c: &Config) -> Result<(), (String, String)> {
    let fail = |key: &str, reason: String| Err((key.to_string(), reason));
    let inv = &c.invoicing;
    let prefix_ok = (1..=16).contains(&inv.number_prefix.len())
        && inv
            .number_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !prefix_ok {
        return fail(
            "invoicing.number_prefix",
            format!(
                "must be 1 to 16 letters, digits or `-`, got {:?}",
                inv.number_prefix
            ),
        );
    }
    for (key, value, max) in [
        ("invoicing.seller_name", &inv.seller_name, 200),
        ("invoicing.seller_address", &inv.seller_address, 500),
        ("invoicing.seller_vat_id", &inv.seller_vat_id, 32),
        ("invoicing.seller_email", &inv.seller_email, 254),
    ] {
        if value.chars().count() > max {
            return fail(key, format!("must be at most {max} characters"));
        }
    }
    if !inv.seller_email.is_empty()
        && easel_core::email::Email::parse(&inv.seller_email, "seller_email").is_err()
    {
        return fail("invoicing.seller_email", "is not an email address".into());
    }
    if inv.issue_delay_seconds > 7 * 86_400 {
        return fail(
            "invoicing.issue_delay_seconds",
            "must be at most 604800 (a week)".into(),
        );
    }
    Ok(())
}

/// `redis_url`, `[limits]`.
fn validate_limits(c: &Config) -> Result<(), (String, String)> {
    let fail = |key: &str, reason: String| Err((key.to_string(), reason));
    let url = &c.redis_url;
    if !(url.is_empty() || url.starts_with("redis://") || url.starts_with("rediss://")) {
        return fail(
            "redis_url",
            "must be empty or start with redis:// or rediss://".into(),
        );
    }
    if !url.is_empty() && redis::Client::open(url.as_str()).is_err() {
        return fail("redis_url", "is not a valid Redis URL".into());
    }
    let l = &c.limits;
    if l.count.is_empty() {
        return fail(
            "limits.count",
            "must list at least one pattern (\"*\" counts every request)".into(),
        );
    }
    for (i, rule) in l.count.iter().enumerate() {
        if let Err(why) = crate::limits::CountRule::parse(rule) {
            return fail(&format!("limits.count[{i}]"), why);
        }
    }
    for (key, value, range) in [
        (
            "cooldown_window_seconds",
            l.cooldown_window_seconds,
            1..=86_400,
        ),
        ("cooldown_seconds", l.cooldown_seconds, 1..=7 * 86_400),
        ("redis_timeout_ms", l.redis_timeout_ms, 1..=10_000),
        ("redis_retry_ms", l.redis_retry_ms, 1..=600_000),
    ] {
        if !range.contains(&value) {
            return fail(
                &format!("limits.{key}"),
                format!("must be between {} and {}", range.start(), range.end()),
            );
        }
    }
    Ok(())
}

/// `[moderation]`.
fn validate_moderation(c: &Config) -> Result<(), (String, String)> {
    let hook = &c.moderation.output;
    let url_ok = hook.hook_url.is_empty()
        || ((hook.hook_url.starts_with("http://") || hook.hook_url.starts_with("https://"))
            && hook.hook_url.parse::<axum::http::Uri>().is_ok());
    if !url_ok {
        return Err((
            "moderation.output.hook_url".into(),
            format!(
                "must be empty or an http:// or https:// URL, got {:?}",
                hook.hook_url
            ),
        ));
    }
    if !(1..=600_000).contains(&hook.timeout_ms) {
        return Err((
            "moderation.output.timeout_ms".into(),
            "must be between 1 and 600000".into(),
        ));
    }
    if let Err(e) = easel_moderation::Policy::new(&c.moderation.input) {
        return Err(("moderation.input".into(), e.to_string()));
    }
    let classifier = &c.moderation.classifier;
    let url_ok = classifier.url.is_empty()
        || ((classifier.url.starts_with("http://") || classifier.url.starts_with("https://"))
            && classifier.url.parse::<axum::http::Uri>().is_ok());
    if !url_ok {
        return Err((
            "moderation.classifier.url".into(),
            format!(
                "must be empty or an http:// or https:// URL, got {:?}",
                classifier.url
            ),
        ));
    }
    if !(1..=600_000).contains(&classifier.timeout_ms) {
        return Err((
            "moderation.classifier.timeout_ms".into(),
            "must be between 1 and 600000".into(),
        ));
    }
    if let Some((name, t)) = classifier
        .thresholds
        .iter()
        .find(|(_, t)| !(0.0..=1.0).contains(*t))
    {
        return Err((
            format!("moderation.classifier.thresholds.{name}"),
            format!("must be a score between 0 and 1, got {t}"),
        ));
    }
    let strikes = &c.moderation.strikes;
    if strikes.threshold > 0 && !(1..=24 * 366).contains(&strikes.window_hours) {
        return Err((
            "moderation.strikes.window_hours".into(),
            "must be between 1 and 8784 (a year)".into(),
        ));
    }
    if !(1..=24 * 30).contains(&c.abuse.response_hours) {
        return Err((
            "abuse.response_hours".into(),
            "must be between 1 and 720".into(),
        ));
    }
    if c.abuse.form_min_seconds > 600 {
        return Err((
            "abuse.form_min_seconds".into(),
            "must be at most 600".into(),
        ));
    }
    if !(30..=3650).contains(&c.request_log.retention_days) {
        return Err((
            "request_log.retention_days".into(),
            "must be between 30 and 3650 (developers may read their log for at least 30 days)"
                .into(),
        ));
    }
    validate_data_rights(c)?;
    validate_mail(c)
}

/// `[data_rights]`.
fn validate_data_rights(c: &Config) -> Result<(), (String, String)> {
    let d = &c.data_rights;
    let checks: [(&str, u64, u64, u64); 5] = [
        (
            "erasure_cooling_off_days",
            d.erasure_cooling_off_days.into(),
            0,
            90,
        ),
        (
            "terminated_retention_days",
            d.terminated_retention_days.into(),
            0,
            3650,
        ),
        ("export_ttl_hours", d.export_ttl_hours.into(), 1, 720),
        ("lease_seconds", d.lease_seconds, 10, 3600),
        ("export_max_attempts", d.export_max_attempts.into(), 1, 20),
    ];
    for (key, value, min, max) in checks {
        if !(min..=max).contains(&value) {
            return Err((
                format!("data_rights.{key}"),
                format!("must be between {min} and {max}"),
            ));
        }
    }
    Ok(())
}

/// `[mail]`.
fn validate_mail(c: &Config) -> Result<(), (String, String)> {
    let fail = |key: &str, reason: String| Err((key.to_string(), reason));
    let mail = &c.mail;
    if !mail.from.contains('@') {
        return fail(
            "mail.from",
            format!("must be an e-mail address, got {:?}", mail.from),
        );
    }
    let smtp = mail.transport == super::MailTransport::Smtp;
    if smtp && mail.smtp_url.is_empty() {
        return fail(
            "mail.smtp_url",
            "is required when mail.transport is \"smtp\" (smtp://user:password@host:port, smtps://… or smtp://…?tls=required)".into(),
        );
    }
    // Never echo the URL: it may hold the password.
    if !mail.smtp_url.is_empty()
        && let Err(e) = crate::mail::smtp_builder(&mail.smtp_url)
    {
        return fail(
            "mail.smtp_url",
            format!(
                "is not a usable SMTP URL ({e}); expected smtp://user:password@host:port, smtps://… or smtp://…?tls=required"
            ),
        );
    }
    if smtp && mail.from.parse::<lettre::message::Mailbox>().is_err() {
        return fail(
            "mail.from",
            format!(
                "must be an address SMTP accepts (`easel@example.com` or `Easel <easel@example.com>`), got {:?}",
                mail.from
            ),
        );
    }
    Ok(())
}

/// `[console]`.
fn validate_console(c: &Config) -> Result<(), (String, String)> {
    let console = &c.console;
    let checks: [(&str, u64, std::ops::RangeInclusive<u64>); 8] = [
        ("verify_link_hours", console.verify_link_hours, 1..=24 * 30),
        ("invite_link_days", console.invite_link_days, 1..=90),
        (
            "reset_link_minutes",
            console.reset_link_minutes,
            5..=24 * 60,
        ),
        (
            "session_idle_minutes",
            console.session_idle_minutes,
            1..=7 * 24 * 60,
        ),
        ("session_max_hours", console.session_max_hours, 1..=24 * 90),
        (
            "login_free_attempts",
            u64::from(console.login_free_attempts),
            1..=100,
        ),
        (
            "login_backoff_seconds",
            console.login_backoff_seconds,
            1..=3600,
        ),
        (
            "login_backoff_max_seconds",
            console.login_backoff_max_seconds,
            1..=86_400,
        ),
    ];
    for (key, value, range) in checks {
        if !range.contains(&value) {
            return Err((
                format!("console.{key}"),
                format!(
                    "must be between {} and {}, got {value}",
                    range.start(),
                    range.end()
                ),
            ));
        }
    }
    if console.login_backoff_max_seconds < console.login_backoff_seconds {
        return Err((
            "console.login_backoff_max_seconds".into(),
            "must be at least console.login_backoff_seconds".into(),
        ));
    }
    if console.forwarded_for_hops > 10 {
        return Err((
            "console.forwarded_for_hops".into(),
            "must be at most 10".into(),
        ));
    }
    Ok(())
}

/// `[webhooks]`.
fn validate_webhooks(c: &Config) -> Result<(), (String, String)> {
    let w = &c.webhooks;
    let fail = |key: &str, reason: &str| Err((format!("webhooks.{key}"), reason.to_string()));
    if w.retry_seconds.len() > 20
        || w.retry_seconds
            .iter()
            .any(|s| !(1..=7 * 86_400).contains(s))
    {
        return fail(
            "retry_seconds",
            "must be at most 20 waits, each 1 to 604800 seconds",
        );
    }
    if w.disable_after_seconds == 0 {
        return fail("disable_after_seconds", "must be at least 1");
    }
    if w.secret_overlap_seconds > 30 * 86_400 {
        return fail(
            "secret_overlap_seconds",
            "must be at most 2592000 (30 days)",
        );
    }
    if !(1_000..=60_000).contains(&w.timeout_ms) {
        return fail("timeout_ms", "must be between 1000 and 60000");
    }
    if w.concurrency > 4096 {
        return fail(
            "concurrency",
            "must be between 0 (this node delivers nothing) and 4096",
        );
    }
    if w.concurrency > 0 && !(1..=w.concurrency).contains(&w.per_endpoint_concurrency) {
        return fail(
            "per_endpoint_concurrency",
            "must be between 1 and `concurrency`",
        );
    }
    if !(10..=10_000).contains(&w.poll_ms) {
        return fail("poll_ms", "must be between 10 and 10000");
    }
    if !(1..=3650).contains(&w.log_retention_days) {
        return fail("log_retention_days", "must be between 1 and 3650");
    }
    if let Err(why) = crate::webhooks::ssrf::Allowances::parse(&w.allow) {
        return fail("allow", &why);
    }
    // Each entry parsed as a port or range already; a refusal lists them all to the
    // developer, so the list stays short.
    if w.test_mode_loopback_ports.len() > 32 {
        return fail(
            "test_mode_loopback_ports",
            "must list at most 32 ports or ranges (a range such as \"3000-3999\" covers many)",
        );
    }
    Ok(())
}

/// Each deprecation names an API operation once, gives at least the 90 days' notice of
/// clause 14 between deprecation and sunset, and links a notice.
fn validate_deprecations(c: &Config) -> Result<(), (String, String)> {
    for (i, d) in c.deprecations.iter().enumerate() {
        let fail =
            |field: &str, reason: String| Err((format!("deprecations[{i}].{field}"), reason));
        let method = axum::http::Method::from_bytes(d.method.to_ascii_uppercase().as_bytes());
        let known = method
            .as_ref()
            .ok()
            .and_then(|m| crate::auth::rules::access(m, &d.route));
        if !matches!(
            known,
            Some(
                crate::auth::rules::Access::Keyless
                    | crate::auth::rules::Access::KeyOptional
                    | crate::auth::rules::Access::Scope(_)
            )
        ) {
            return fail(
                "route",
                format!(
                    "{} {} is not an API operation: use a method and route template from /openapi.json",
                    d.method, d.route
                ),
            );
        }
        if c.deprecations[..i]
            .iter()
            .any(|o| o.route == d.route && o.method.eq_ignore_ascii_case(&d.method))
        {
            return fail("route", "the operation is deprecated twice".into());
        }
        const NOTICE_MS: i64 = 90 * 86_400_000;
        if d.sunset_at < d.deprecated_at.saturating_add(NOTICE_MS) {
            return fail(
                "sunset_at",
                "must be at least 90 days after deprecated_at (clause 14)".into(),
            );
        }
        let link_ok = url::Url::parse(&d.link)
            .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some());
        if !link_ok || d.link.contains(['>', '"', ' ']) {
            return fail(
                "link",
                "must be the http(s) URL of the notice that says what to use instead".into(),
            );
        }
    }
    Ok(())
}

/// A plan sold through Stripe names a price the webhooks can map back to it, shows what it
/// costs, and needs the keys that create and hear subscriptions.
fn validate_plan_price(
    c: &Config,
    name: &str,
    plan: &super::PlanConfig,
) -> Result<(), (String, String)> {
    let fail = |field: &str, reason: String| Err((format!("plans.{name}.{field}"), reason));
    let Some(price) = &plan.stripe_price else {
        if plan.price_eur_month.is_some() {
            return fail(
                "price_eur_month",
                "is shown only for a plan sold through Stripe: set stripe_price too".into(),
            );
        }
        return Ok(());
    };
    let price_ok = price.len() > "price_".len()
        && price.len() <= 255
        && price.starts_with("price_")
        && price
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !price_ok {
        return fail(
            "stripe_price",
            "must be a Stripe Price id, `price_…` (not a product id or an amount)".into(),
        );
    }
    if let Some((other, _)) = c
        .plans
        .iter()
        .find(|(n, p)| n.as_str() != name && p.stripe_price.as_ref() == Some(price))
    {
        return fail(
            "stripe_price",
            format!("plan {other} has the same price: each sold plan needs its own"),
        );
    }
    if !plan
        .price_eur_month
        .is_some_and(|eur| (1..=1_000_000).contains(&eur))
    {
        return fail(
            "price_eur_month",
            "a plan with stripe_price shows its monthly price: whole euros, 1 to 1000000".into(),
        );
    }
    if !c.payments.stripe.checkout_enabled() {
        return fail(
            "stripe_price",
            "selling plans needs payments.stripe.secret_key and payments.stripe.webhook_secret"
                .into(),
        );
    }
    if name == c.default_plan {
        return fail(
            "stripe_price",
            "the default plan is the one an account falls back to when its subscription ends; it cannot be sold".into(),
        );
    }
    Ok(())
}

fn validate_payments(c: &Config) -> Result<(), (String, String)> {
    let fail = |key: &str, reason: String| Err((key.to_string(), reason));
    let stripe = &c.payments.stripe;
    let secret = &stripe.webhook_secret;
    // A Stripe API key (`sk_…`, `rk_…`) pasted here instead would never verify anything.
    let secret_ok = secret.is_empty()
        || (secret.len() > "whsec_".len()
            && secret.starts_with("whsec_")
            && secret.bytes().all(|b| b.is_ascii_graphic()));
    if !secret_ok {
        return fail(
            "payments.stripe.webhook_secret",
            "must be empty or the webhook endpoint's signing secret, `whsec_…` (not an API key)"
                .into(),
        );
    }
    if !(1..=86_400).contains(&stripe.tolerance_seconds) {
        return fail(
            "payments.stripe.tolerance_seconds",
            "must be between 1 and 86400".into(),
        );
    }
    if !(1..=1_000_000).contains(&stripe.credits_per_eur) {
        return fail(
            "payments.stripe.credits_per_eur",
            "must be between 1 and 1000000".into(),
        );
    }
    let key = &stripe.secret_key;
    // A webhook secret or a publishable key pasted here would fail every session.
    let key_ok = key.is_empty()
        || ((key.starts_with("sk_") || key.starts_with("rk_"))
            && key.len() > 8
            && key.bytes().all(|b| b.is_ascii_graphic()));
    if !key_ok {
        return fail(
            "payments.stripe.secret_key",
            "must be empty or a Stripe secret or restricted API key, `sk_…` or `rk_…`".into(),
        );
    }
    let base_ok = url::Url::parse(&stripe.api_base).is_ok_and(|u| {
        matches!(u.scheme(), "https" | "http") && u.host().is_some() && u.query().is_none()
    });
    if !base_ok {
        return fail(
            "payments.stripe.api_base",
            "must be an http(s) URL such as https://api.stripe.com".into(),
        );
    }
    // Stripe refuses a euro charge under €0.50; credits of one top-up must fit a movement.
    let max_credits = stripe.max_top_up_eur.saturating_mul(stripe.credits_per_eur);
    if stripe.min_top_up_eur < 1
        || stripe.min_top_up_eur > stripe.max_top_up_eur
        || max_credits > easel_core::credits::MAX_MOVEMENT.unsigned_abs()
    {
        return fail(
            "payments.stripe.max_top_up_eur",
            format!(
                "min_top_up_eur must be at least 1 and at most max_top_up_eur, and max_top_up_eur × credits_per_eur at most {}",
                easel_core::credits::MAX_MOVEMENT
            ),
        );
    }
    if !(1..=90).contains(&stripe.past_due_suspend_days) {
        return fail(
            "payments.stripe.past_due_suspend_days",
            "must be between 1 and 90".into(),
        );
    }
    if let Some(bad) = stripe
        .top_up_eur
        .iter()
        .find(|eur| !(stripe.min_top_up_eur..=stripe.max_top_up_eur).contains(*eur))
    {
        return fail(
            "payments.stripe.top_up_eur",
            format!("{bad} is outside min_top_up_eur..=max_top_up_eur"),
        );
    }
    Ok(())
}

fn validate_model(c: &Config, id: &str, m: &super::ModelConfig) -> Result<(), (String, String)> {
    use easel_core::models::{ModelKind, Size};
    let key = |field: &str| format!("models.{id}.{field}");
    let fail = |field: &str, reason: String| Err((key(field), reason));
    let id_ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !id_ok {
        return Err((
            format!("models.{id}"),
            "model ids are 1 to 64 lower-case letters, digits, `.`, `_` and `-`".into(),
        ));
    }
    let remote = m.engine == crate::workers::ENGINE;
    if !remote && !easel_engines::registry::NAMES.contains(&m.engine.as_str()) {
        return fail(
            "engine",
            format!(
                "unknown engine {:?} (engines: {}, {})",
                m.engine,
                easel_engines::registry::NAMES.join(", "),
                crate::workers::ENGINE
            ),
        );
    }
    if remote && !m.settings.is_empty() {
        return fail(
            "settings",
            "a `worker` model takes no settings here: each `easel worker` is given its engine and settings".into(),
        );
    }
    // Building the engine checks its settings (a ComfyUI workflow and its bindings), so a
    // wrong setting stops the start, not a job. Secret variables are checked where they
    // are used: when a node starts serving (`App::new`) and by `engines check`.
    if m.enabled
        && !remote
        && let Err(e) = crate::engines::build(
            c,
            id,
            m,
            Some(crate::engines::fetch::unused()),
            crate::engines::Secrets::Placeholder,
        )
    {
        return fail("settings", e);
    }
    if m.sizes.is_empty() {
        return fail("sizes", "list at least one size such as \"512x512\"".into());
    }
    for (i, s) in m.sizes.iter().enumerate() {
        let Some(size) = Size::parse(s) else {
            return Err((
                format!("models.{id}.sizes[{i}]"),
                format!(
                    "{s:?} is not a size WIDTHxHEIGHT with sides 1 to {}",
                    Size::MAX_SIDE
                ),
            ));
        };
        if m.kind == ModelKind::Video && (size.width % 2 == 1 || size.height % 2 == 1) {
            return Err((
                format!("models.{id}.sizes[{i}]"),
                format!("video sizes need even sides (H.264), got {s:?}"),
            ));
        }
        let sandbox_max = easel_engines::sandbox::MAX_SIDE;
        if m.engine == easel_engines::Sandbox::NAME
            && (size.width > sandbox_max || size.height > sandbox_max)
        {
            return Err((
                format!("models.{id}.sizes[{i}]"),
                format!(
                    "the sandbox engine draws at most {sandbox_max} pixels per side, got {s:?}"
                ),
            ));
        }
        if m.kind == ModelKind::Video && size.pixels() > 3840 * 2160 {
            return Err((
                format!("models.{id}.sizes[{i}]"),
                format!("video sizes are at most 3840x2160 pixels, got {s:?}"),
            ));
        }
    }
    if m.web_price > 1_000_000_000 {
        return fail("web_price", "must be at most 1000000000 credits".into());
    }
    match m.kind {
        ModelKind::Image => {
            if !(1..=10).contains(&m.max_n) {
                return fail("max_n", "must be between 1 and 10".into());
            }
            if !m.durations.is_empty() || !m.fps.is_empty() {
                return fail("durations", "image models take no durations or fps".into());
            }
        }
        ModelKind::Video => {
            if m.durations.is_empty() || m.durations.iter().any(|d| !(1..=600).contains(d)) {
                return fail(
                    "durations",
                    "video models list durations, each 1 to 600 seconds".into(),
                );
            }
            if m.fps.is_empty() || m.fps.iter().any(|f| !(1..=60).contains(f)) {
                return fail("fps", "video models list frame rates, each 1 to 60".into());
            }
            if m.max_n != 1 {
                return fail("max_n", "video models make one video per call".into());
            }
        }
    }
    for (i, plan) in m.plans.iter().enumerate() {
        if !c.plans.contains_key(plan) {
            return Err((
                format!("models.{id}.plans[{i}]"),
                format!("no plan named {plan:?} is configured"),
            ));
        }
    }
    for (field, value, range) in [
        ("concurrency", u64::from(m.concurrency), 0..=256),
        ("max_attempts", u64::from(m.max_attempts), 1..=20),
        ("max_queue_seconds", m.max_queue_seconds, 1..=7 * 86_400),
        ("timeout_seconds", m.timeout_seconds, 1..=86_400),
    ] {
        if !range.contains(&value) {
            return fail(
                field,
                format!("must be between {} and {}", range.start(), range.end()),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn stripe_settings_are_checked() {
        let base = crate::config::load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!base.payments.stripe.enabled(), "disabled by default");
        let check = |tweak: &dyn Fn(&mut crate::config::Config)| {
            let mut c = base.clone();
            tweak(&mut c);
            validate(&c).err().map(|(key, _)| key)
        };
        assert_eq!(
            check(&|c| c.payments.stripe.webhook_secret = "whsec_abc".into()),
            None
        );
        for bad in ["sk_live_abc", "whsec_", "whsec_a b"] {
            assert_eq!(
                check(&|c| c.payments.stripe.webhook_secret = bad.into()).as_deref(),
                Some("payments.stripe.webhook_secret"),
                "{bad}"
            );
        }
        assert_eq!(
            check(&|c| c.payments.stripe.tolerance_seconds = 0).as_deref(),
            Some("payments.stripe.tolerance_seconds")
        );
        assert_eq!(
            check(&|c| c.payments.stripe.secret_key = "sk_test_abcdef".into()),
            None
        );
        for bad in ["whsec_abcdefgh", "pk_live_abcdef", "sk_", "sk_test abc"] {
            assert_eq!(
                check(&|c| c.payments.stripe.secret_key = bad.into()).as_deref(),
                Some("payments.stripe.secret_key"),
                "{bad}"
            );
        }
        assert_eq!(
            check(&|c| c.payments.stripe.api_base = "stripe.com".into()).as_deref(),
            Some("payments.stripe.api_base")
        );
        assert_eq!(
            check(&|c| c.payments.stripe.top_up_eur = vec![0]).as_deref(),
            Some("payments.stripe.top_up_eur")
        );
        assert_eq!(
            check(&|c| c.payments.stripe.max_top_up_eur = u64::MAX).as_deref(),
            Some("payments.stripe.max_top_up_eur")
        );
        assert_eq!(
            check(&|c| c.payments.stripe.credits_per_eur = 0).as_deref(),
            Some("payments.stripe.credits_per_eur")
        );
    }

    #[test]
    fn plans_sold_through_stripe_are_checked() {
        let mut base = crate::config::load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        let check = |base: &crate::config::Config, tweak: &dyn Fn(&mut crate::config::Config)| {
            let mut c = base.clone();
            tweak(&mut c);
            validate(&c).err().map(|(key, _)| key)
        };
        let sell = |c: &mut crate::config::Config, plan: &str, price: &str| {
            if let Some(p) = c.plans.get_mut(plan) {
                p.stripe_price = Some(price.into());
                p.price_eur_month = Some(29);
            }
        };
        // Without the keys that create and hear subscriptions, nothing can be sold.
        assert_eq!(
            check(&base, &|c| sell(c, "pro", "price_1Pro")).as_deref(),
            Some("plans.pro.stripe_price")
        );
        base.payments.stripe.webhook_secret = "whsec_abc".into();
        base.payments.stripe.secret_key = "sk_test_abcdef".into();
        assert_eq!(check(&base, &|c| sell(c, "pro", "price_1Pro")), None);
        for bad in ["prod_1Pro", "price_", "price_1 Pro", "29"] {
            assert_eq!(
                check(&base, &|c| sell(c, "pro", bad)).as_deref(),
                Some("plans.pro.stripe_price"),
                "{bad}"
            );
        }
        assert_eq!(
            check(&base, &|c| {
                sell(c, "pro", "price_same");
                sell(c, "starter", "price_same");
            })
            .as_deref()
            .map(|k| k.ends_with(".stripe_price")),
            Some(true)
        );
        // The plan an ended subscription falls back to is never sold.
        assert_eq!(
            check(&base, &|c| sell(c, "free", "price_1Free")).as_deref(),
            Some("plans.free.stripe_price")
        );
        assert_eq!(
            check(&base, &|c| {
                sell(c, "pro", "price_1Pro");
                if let Some(p) = c.plans.get_mut("pro") {
                    p.price_eur_month = None;
                }
            })
            .as_deref(),
            Some("plans.pro.price_eur_month")
        );
        assert_eq!(
            check(&base, &|c| {
                if let Some(p) = c.plans.get_mut("pro") {
                    p.price_eur_month = Some(29);
                }
            })
            .as_deref(),
            Some("plans.pro.price_eur_month")
        );
        assert_eq!(
            check(&base, &|c| c.payments.stripe.past_due_suspend_days = 0).as_deref(),
            Some("payments.stripe.past_due_suspend_days")
        );
    }

    #[test]
    fn deprecations_give_notice_and_name_real_operations() {
        let base = crate::config::load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        let check = |method: &str, route: &str, days: i64, link: &str| {
            let mut c = base.clone();
            c.deprecations.push(crate::config::DeprecationConfig {
                method: method.into(),
                route: route.into(),
                deprecated_at: 1_800_000_000_000,
                sunset_at: 1_800_000_000_000 + days * 86_400_000,
                link: link.into(),
            });
            validate(&c).err().map(|(key, _)| key)
        };
        let link = "https://example.com/changelog#models";
        // As the file spells it: RFC 3339 times become milliseconds; others are refused.
        let parsed: crate::config::DeprecationConfig = toml::from_str(
            "method = \"GET\"\nroute = \"/v1/models\"\ndeprecated_at = \"2027-01-01T00:00:00Z\"\n\
             sunset_at = \"2027-04-01T00:00:00+02:00\"\nlink = \"https://example.com/n\"",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.deprecated_at, 1_798_761_600_000);
        assert_eq!(parsed.sunset_at, 1_806_530_400_000);
        let bad = toml::from_str::<crate::config::DeprecationConfig>(
            "method = \"GET\"\nroute = \"/v1/models\"\ndeprecated_at = \"next year\"\n\
             sunset_at = \"2027-04-01T00:00:00Z\"\nlink = \"https://example.com/n\"",
        );
        assert!(bad.is_err_and(|e| e.to_string().contains("RFC 3339")));
        assert_eq!(check("GET", "/v1/models", 90, link), None);
        assert_eq!(check("get", "/v1/generations/{id}", 120, link), None);
        assert_eq!(
            check("GET", "/v1/models", 89, link).as_deref(),
            Some("deprecations[0].sunset_at")
        );
        for (method, route) in [
            ("GET", "/v1/nothing"),
            ("DELETE", "/v1/models"),
            ("BREW", "/v1/models"),
            ("GET", "/v1/generations/gen_1"),
        ] {
            assert_eq!(
                check(method, route, 90, link).as_deref(),
                Some("deprecations[0].route"),
                "{method} {route}"
            );
        }
        for bad in [
            "changelog",
            "ftp://example.com/x",
            "https://example.com/a>b",
        ] {
            assert_eq!(
                check("GET", "/v1/models", 90, bad).as_deref(),
                Some("deprecations[0].link"),
                "{bad}"
            );
        }
    }

    #[test]
    fn secret_scanning_settings_are_checked() {
        let base = crate::config::load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            base.api_keys.on_leak,
            crate::config::OnLeak::Revoke,
            "revoke by default"
        );
        assert!(
            base.secret_scanning.github_public_keys.is_empty(),
            "off by default"
        );
        let check = |tweak: &dyn Fn(&mut crate::config::Config)| {
            let mut c = base.clone();
            tweak(&mut c);
            validate(&c).err().map(|(key, _)| key)
        };
        // GitHub's documented example key.
        let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9MJJHnMfn2+H4xL4YaPDA4RpJqUq\nkCmRCBnYERxZanmcpzQSXs1X/AljlKkbJ8qpVIW4clayyef9gWhFbNHWAA==\n-----END PUBLIC KEY-----\n";
        let key = |id: &str, key: &str| crate::config::GithubPublicKey {
            key_identifier: id.into(),
            key: key.into(),
        };
        assert_eq!(
            check(&|c| c.secret_scanning.github_public_keys = vec![key("a", pem)]),
            None
        );
        assert_eq!(
            check(&|c| {
                c.secret_scanning.github_public_keys = vec![
                    key("a", pem),
                    key(
                        "b",
                        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
                    ),
                ];
            })
            .as_deref(),
            Some("secret_scanning.github_public_keys[1]")
        );
        assert_eq!(
            check(&|c| c.secret_scanning.max_matches = 0).as_deref(),
            Some("secret_scanning.max_matches")
        );
        assert_eq!(
            check(&|c| c.secret_scanning.max_body_bytes = 10).as_deref(),
            Some("secret_scanning.max_body_bytes")
        );
    }

    #[test]
    fn the_stripe_secret_is_not_printed() {
        let mut c = crate::config::load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        c.payments.stripe.webhook_secret = "whsec_do_not_log".into();
        assert!(!format!("{c:?}").contains("do_not_log"));
    }

    #[test]
    fn invoicing_settings_are_checked() {
        let base = crate::config::load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(base.invoicing.number_prefix, "EASEL");
        let check = |tweak: &dyn Fn(&mut crate::config::Config)| {
            let mut c = base.clone();
            tweak(&mut c);
            validate(&c).err().map(|(key, _)| key)
        };
        assert_eq!(
            check(&|c| {
                c.invoicing.seller_name = "Pixel Foundry GmbH".into();
                c.invoicing.seller_email = "billing@pixelfoundry.test".into();
                c.invoicing.number_prefix = "PXF-INV".into();
            }),
            None
        );
        for bad in ["", "EASEL 2026", "EASEL/2026", "A-VERY-LONG-PREFIX-X"] {
            assert_eq!(
                check(&|c| c.invoicing.number_prefix = bad.into()).as_deref(),
                Some("invoicing.number_prefix"),
                "{bad}"
            );
        }
        assert_eq!(
            check(&|c| c.invoicing.seller_email = "billing".into()).as_deref(),
            Some("invoicing.seller_email")
        );
        assert_eq!(
            check(&|c| c.invoicing.issue_delay_seconds = 8 * 86_400).as_deref(),
            Some("invoicing.issue_delay_seconds")
        );
    }

    #[test]
    fn output_moderation_settings_are_checked() {
        let base = crate::config::load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!base.moderation.output.enabled(), "no hook by default");
        let check = |tweak: &dyn Fn(&mut crate::config::Config)| {
            let mut c = base.clone();
            tweak(&mut c);
            validate(&c).err().map(|(key, _)| key)
        };
        for good in [
            "http://127.0.0.1:9000/check",
            "https://moderation.internal/v1/outputs",
        ] {
            assert_eq!(
                check(&|c| c.moderation.output.hook_url = good.into()),
                None,
                "{good}"
            );
        }
        for bad in [
            "ftp://example.com/hook",
            "moderation.internal",
            "https://exa mple.com/",
        ] {
            assert_eq!(
                check(&|c| c.moderation.output.hook_url = bad.into()).as_deref(),
                Some("moderation.output.hook_url"),
                "{bad}"
            );
        }
        assert_eq!(
            check(&|c| c.moderation.output.timeout_ms = 0).as_deref(),
            Some("moderation.output.timeout_ms")
        );
        let mut c = base.clone();
        c.moderation.output.hook_token = "do_not_log".into();
        assert!(!format!("{c:?}").contains("do_not_log"));
    }

    #[test]
    fn moderation_and_compliance_settings_are_checked() {
        let base = crate::config::load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(validate(&base), Ok(()));
        let check = |tweak: &dyn Fn(&mut crate::config::Config)| {
            let mut c = base.clone();
            tweak(&mut c);
            validate(&c).err().map(|(key, _)| key)
        };
        let bad_regex = |c: &mut crate::config::Config| {
            let rules = easel_moderation::CategoryRules {
                regexes: vec!["(unclosed".into()],
                ..Default::default()
            };
            c.moderation.input.categories.insert("fraud".into(), rules);
        };
        type Tweak<'a> = &'a dyn Fn(&mut crate::config::Config);
        let cases: [(Tweak, &str); 21] = [
            (&bad_regex, "moderation.input"),
            (
                &|c| c.moderation.input.disabled_categories = vec!["nope".into()],
                "moderation.input",
            ),
            (
                &|c| c.moderation.classifier.url = "ftp://x".into(),
                "moderation.classifier.url",
            ),
            (
                &|c| c.moderation.classifier.timeout_ms = 0,
                "moderation.classifier.timeout_ms",
            ),
            (
                &|c| {
                    c.moderation
                        .classifier
                        .thresholds
                        .insert("hate".into(), 1.5);
                },
                "moderation.classifier.thresholds.hate",
            ),
            (
                &|c| c.request_log.retention_days = 29,
                "request_log.retention_days",
            ),
            (
                &|c| c.data_rights.erasure_cooling_off_days = 91,
                "data_rights.erasure_cooling_off_days",
            ),
            (
                &|c| c.data_rights.export_ttl_hours = 0,
                "data_rights.export_ttl_hours",
            ),
            (&|c| c.abuse.response_hours = 0, "abuse.response_hours"),
            (
                &|c| c.console.login_backoff_max_seconds = 0,
                "console.login_backoff_max_seconds",
            ),
            (
                &|c| c.console.login_backoff_seconds = 1000,
                "console.login_backoff_max_seconds",
            ),
            (
                &|c| c.console.forwarded_for_hops = 11,
                "console.forwarded_for_hops",
            ),
            (&|c| c.mail.from = "nobody".into(), "mail.from"),
            (
                &|c| c.webhooks.retry_seconds = vec![5, 0],
                "webhooks.retry_seconds",
            ),
            (&|c| c.webhooks.timeout_ms = 999, "webhooks.timeout_ms"),
            (&|c| c.webhooks.concurrency = 4097, "webhooks.concurrency"),
            (
                &|c| c.webhooks.log_retention_days = 0,
                "webhooks.log_retention_days",
            ),
            (
                &|c| c.webhooks.per_endpoint_concurrency = 65,
                "webhooks.per_endpoint_concurrency",
            ),
            (
                &|c| c.webhooks.allow = vec!["not a host!".into()],
                "webhooks.allow",
            ),
            (
                &|c| c.webhooks.secret_overlap_seconds = 31 * 86_400,
                "webhooks.secret_overlap_seconds",
            ),
            (
                &|c| {
                    c.webhooks.test_mode_loopback_ports = (1000..1033)
                        .filter_map(|p| crate::webhooks::ports::PortRange::new(p, p))
                        .collect();
                },
                "webhooks.test_mode_loopback_ports",
            ),
        ];
        for (tweak, key) in cases {
            assert_eq!(check(tweak).as_deref(), Some(key));
        }
        assert_eq!(
            check(&|c| c.request_log.retention_days = 30),
            None,
            "30 days is the floor"
        );
    }

    #[test]
    fn the_classifier_key_is_not_printed() {
        let mut c = crate::config::load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        c.moderation.classifier.api_key = "sk-do-not-log".into();
        assert!(!format!("{c:?}").contains("do-not-log"));
    }

    #[test]
    fn the_smtp_password_is_not_printed() {
        let mut c = crate::config::load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        for (url, shown) in [
            ("", "\"\""),
            ("smtp://127.0.0.1:2525", "\"smtp://127.0.0.1:2525\""),
            (
                "smtps://mailer:do-not-log@mail.example.com?tls=required",
                "\"smtps://mailer:redacted@mail.example.com?tls=required\"",
            ),
            // Mistyped: the password lands in the path, or nowhere a parser finds.
            ("smtp://mail/er:do-not-log@example.com", "\"<redacted>\""),
            ("smtp://mailer:do-not-log#@example.com", "\"<redacted>\""),
        ] {
            c.mail.smtp_url = url.into();
            let printed = format!("{c:?}");
            assert!(!printed.contains("do-not-log"), "{url}: {printed}");
            assert!(
                printed.contains(&format!("smtp_url: {shown}")),
                "{url}: {printed}"
            );
        }
    }
}
