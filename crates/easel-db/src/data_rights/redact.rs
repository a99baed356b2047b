//! What an erasure does to the audit log: personal values in an entry's details and an
//! end user's id as its target are replaced; what happened, when, by whom (ids) stays.

/// Audit detail keys whose string values are enumerations, never personal data: they are
/// kept when an entry is redacted.
const KEPT_DETAIL_KEYS: &[&str] = &[
    "plan",
    "old_plan",
    "new_plan",
    "role",
    "old_role",
    "new_role",
    "mode",
    "state",
    "scopes",
    "scope",
    "period",
    "type",
    "currency",
    "jobs",
    "outcome",
    "source",
    "category",
    "resolution",
    "status",
    "licence",
    "model",
    "models",
    "enabled_events",
    "events",
    "reason_code",
    "erasure_reason",
    "spend_cap_period",
    "on_leak",
    "kind",
];

/// An audit entry's target with a personal one (an end user's id) replaced by `text`.
pub fn redact_target(target_id: Option<&str>, text: &str) -> Option<String> {
    target_id.map(|t| {
        if is_id(t) {
            t.to_string()
        } else {
            text.to_string()
        }
    })
}

/// Whether `s` is an Easel id (`prefix_` and a lower-case ULID), which names a record and
/// says nothing about a person.
fn is_id(s: &str) -> bool {
    s.split_once('_').is_some_and(|(prefix, ulid)| {
        !prefix.is_empty()
            && prefix.bytes().all(|b| b.is_ascii_lowercase())
            && ulid.len() == 26
            && ulid
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    })
}

/// An audit entry's details with every string that could be personal replaced by `text`:
/// numbers, booleans, ids and the enumerations of [`KEPT_DETAIL_KEYS`] stay, so the entry
/// still says what happened and to what.
pub fn redact_details(details: &serde_json::Value, text: &str) -> serde_json::Value {
    fn walk(v: &serde_json::Value, kept: bool, text: &str) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::String(s) if kept || is_id(s) => Value::String(s.clone()),
            Value::String(_) => Value::String(text.to_string()),
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| walk(i, kept, text)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            walk(v, KEPT_DETAIL_KEYS.contains(&k.as_str()), text),
                        )
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    walk(details, false, text)
}

/// The audit entries an erasure redacts: the account's, and those about or by its people
/// who belong to no other account, not yet redacted.
pub(crate) const AUDIT_TO_REDACT: &str = "SELECT id, details, target_id FROM audit_log WHERE redacted_at IS NULL AND (account_id = $1 OR \
     (account_id IS NULL AND (actor_id IN (SELECT user_id FROM members WHERE account_id = $1 AND user_id NOT IN (SELECT user_id FROM members WHERE account_id <> $1)) \
     OR target_id IN (SELECT user_id FROM members WHERE account_id = $1 AND user_id NOT IN (SELECT user_id FROM members WHERE account_id <> $1))))) \
     ORDER BY id LIMIT $2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_what_happened_and_drops_who() {
        let details = serde_json::json!({
            "owner_email": "ada@example.com",
            "plan": "pro",
            "amount": 500,
            "old": {"name": "Ada Ltd", "address": "1 Main St"},
            "key_id": "key_01hzzzzzzzzzzzzzzzzzzzzzzz",
            "scopes": ["keys:read"],
            "ips": ["203.0.113.9"],
            "ok": true,
        });
        let r = redact_details(&details, "[erased]");
        assert_eq!(r["owner_email"], "[erased]");
        assert_eq!(r["plan"], "pro");
        assert_eq!(r["amount"], 500);
        assert_eq!(r["old"]["name"], "[erased]");
        assert_eq!(r["old"]["address"], "[erased]");
        assert_eq!(r["key_id"], "key_01hzzzzzzzzzzzzzzzzzzzzzzz");
        assert_eq!(r["scopes"][0], "keys:read");
        assert_eq!(r["ips"][0], "[erased]");
        assert_eq!(r["ok"], true);
        // Something shaped like an id only in part is not one.
        assert!(!is_id("ada_lovelace"));
        assert!(!is_id("Ada_01hzzzzzzzzzzzzzzzzzzzzzzz"));
    }
}
