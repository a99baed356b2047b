//! The event types developers can subscribe webhook endpoints to (SPEC "Events").

/// Every event type, as endpoints name them in `enabled_events`.
pub const TYPES: &[&str] = &[
    "generation.queued",
    "generation.running",
    "generation.succeeded",
    "generation.failed",
    "generation.canceled",
    "generation.expired",
    "generation.deleted",
    "credits.granted",
    "credits.low",
    "key.created",
    "key.rotated",
    "key.revoked",
    "key.expiring",
    "api_key.cooldown_started",
    "webhook_endpoint.disabled",
    "account.suspended",
    "account.unsuspended",
    "account.terminated",
    "abuse_report.received",
    "abuse_report.resolved",
    "invoice.created",
    "maintenance.scheduled",
];

/// Whether `t` is an event type.
pub fn is_type(t: &str) -> bool {
    TYPES.contains(&t)
}

#[cfg(test)]
mod tests {
    #[test]
    fn types_are_unique_and_dotted() {
        let mut seen = std::collections::HashSet::new();
        for t in super::TYPES {
            assert!(seen.insert(t), "{t} twice");
            assert!(
                t.contains('.')
                    && t.chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{t}"
            );
        }
        assert!(super::is_type("generation.succeeded") && !super::is_type("generation"));
    }
}
