//! Standard Webhooks signatures (REFERENCE.md §2): HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}` with the endpoint's secret, sent as
//! `webhook-signature: v1,<base64>`. During a secret rotation's overlap the header carries
//! one signature per secret, space-separated, and receivers accept any match.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The secret's prefix, as the Standard Webhooks libraries expect it.
const PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the spec allows 24 to 64).
const SECRET_BYTES: usize = 32;

/// An endpoint's signing secret: `whsec_` + base64 of its key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    key: Vec<u8>,
}

// The key never reaches a log line.
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A new random secret.
    pub fn generate() -> Secret {
        let mut key = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Secret { key }
    }

    /// Reads a stored `whsec_…` secret; `None` if it is not one.
    pub fn parse(text: &str) -> Option<Secret> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(text.strip_prefix(PREFIX)?)
            .ok()?;
        (24..=64).contains(&key.len()).then_some(Secret { key })
    }

    /// The `whsec_…` form, shown to the developer once and stored.
    pub fn expose(&self) -> String {
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(&self.key)
        )
    }

    /// `v1,<base64 HMAC-SHA256>` of one delivery attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes keys of any length, so this cannot fail; an empty MAC would only make
        // the receiver refuse the delivery.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }
}

/// The `webhook-signature` value for `secrets` (the current one first, then any still in
/// their rotation overlap).
pub fn header(secrets: &[&Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_refuse_garbage() {
        let s = Secret::generate();
        let text = s.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(Secret::parse(&text), Some(s.clone()));
        assert_ne!(Secret::generate(), s, "secrets are random");
        assert_eq!(Secret::parse("whsec_!!!"), None);
        assert_eq!(
            Secret::parse(&text["whsec_".len()..]),
            None,
            "the prefix is required"
        );
        assert_eq!(Secret::parse("whsec_c2hvcnQ="), None, "too short a key");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    }

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signatures_match_the_reference_vector() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap_or_else(|| panic!("the reference secret parses"));
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn rotation_sends_one_signature_per_secret() {
        let (old, new) = (Secret::generate(), Secret::generate());
        let value = header(&[&new, &old], "msg_1", 1_700_000_000, b"{}");
        let parts: Vec<&str> = value.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], new.sign("msg_1", 1_700_000_000, b"{}"));
        assert_eq!(parts[1], old.sign("msg_1", 1_700_000_000, b"{}"));
        assert_ne!(parts[0], parts[1]);
    }
}
