//! GitHub's secret-scanning partner program, on the wire.
//!
//! GitHub POSTs a JSON array of matches (`token`, `type`, `url`, `source`) and signs the raw
//! body with ECDSA P-256 / SHA-256: `Github-Public-Key-Identifier` names the key and
//! `Github-Public-Key-Signature` carries the base64 of the ASN.1 DER signature. The partner
//! checks it against GitHub's published keys (here: the ones the operator configured) and
//! may answer, per token, `token_hash` (SHA-256 hex), `token_type` and `label`
//! (`true_positive` for a real token, `false_positive` otherwise). The signature is checked
//! over the exact bytes received, before anything is parsed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::GithubPublicKey;

/// The header naming the signing key.
pub const KEY_ID_HEADER: &str = "github-public-key-identifier";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "github-public-key-signature";

/// GitHub's signing keys, parsed.
pub struct GithubKeys {
    keys: Vec<(String, VerifyingKey)>,
}

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Github-Public-Key-Identifier or Github-Public-Key-Signature header is missing")]
    Missing,
    #[error("the Github-Public-Key-Identifier names no configured GitHub key")]
    UnknownKey,
    #[error("the Github-Public-Key-Signature is not a base64 DER ECDSA signature")]
    Malformed,
    #[error("the Github-Public-Key-Signature does not match the body")]
    Mismatch,
}

impl GithubKeys {
    /// Parses the configured keys; on failure, the index of the bad one and why.
    pub fn new(config: &[GithubPublicKey]) -> Result<GithubKeys, (usize, String)> {
        let mut keys: Vec<(String, VerifyingKey)> = Vec::with_capacity(config.len());
        for (i, k) in config.iter().enumerate() {
            let id = k.key_identifier.trim();
            if id.is_empty() {
                return Err((i, "`key_identifier` must not be empty".into()));
            }
            if keys.iter().any(|(other, _)| other == id) {
                return Err((i, format!("key_identifier {id:?} is listed twice")));
            }
            let key = VerifyingKey::from_public_key_pem(k.key.trim())
                .map_err(|e| (i, format!("`key` is not a PEM ECDSA P-256 public key: {e}")))?;
            keys.push((id.to_string(), key));
        }
        Ok(GithubKeys { keys })
    }

    /// Whether no key is configured (the endpoint is then switched off).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks `signature` (base64 DER) by the key `key_id` over `body`.
    pub fn verify(
        &self,
        key_id: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let (Some(key_id), Some(signature)) = (key_id, signature) else {
            return Err(SignatureError::Missing);
        };
        let key = self
            .keys
            .iter()
            .find(|(id, _)| id == key_id.trim())
            .map(|(_, key)| key)
            .ok_or(SignatureError::UnknownKey)?;
        let der = STANDARD
            .decode(signature.trim())
            .map_err(|_| SignatureError::Malformed)?;
        let signature = Signature::from_der(&der).map_err(|_| SignatureError::Malformed)?;
        key.verify(body, &signature)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// One match in a GitHub delivery. Unknown fields are ignored: GitHub may add some.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct GithubMatch {
    /// The string GitHub found.
    pub token: String,
    /// The secret type GitHub matched, as agreed with the partner.
    #[serde(rename = "type", default)]
    pub token_type: String,
    /// Where it was found.
    #[serde(default)]
    pub url: String,
    /// `content`, `commit`, `pull_request`, `issue`, `gist`, `npm`, …
    #[serde(default)]
    pub source: Option<String>,
}

/// Whether a reported token was real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    TruePositive,
    FalsePositive,
}

/// The answer about one token, in GitHub's feedback format.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GithubFeedback {
    /// SHA-256 of the token, hex (the raw token is never echoed).
    pub token_hash: String,
    /// The `type` GitHub sent.
    pub token_type: String,
    pub label: Label,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example GitHub documents for the partner program (key, body and signature), so
    /// the check is proven against GitHub's own signing, not only against our tests'.
    const DOC_KEY_ID: &str = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
    const DOC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9MJJHnMfn2+H4xL4YaPDA4RpJqUq\nkCmRCBnYERxZanmcpzQSXs1X/AljlKkbJ8qpVIW4clayyef9gWhFbNHWAA==\n-----END PUBLIC KEY-----";
    const DOC_BODY: &[u8] = br#"[{"token":"some_token","type":"some_type","url":"some_url"}]"#;
    const DOC_SIGNATURE: &str = "MEUCIQDKZokqnCjrRtw0tni+2Ltvl/uiMJ1EGumEsp1BsNr32AIgQY1YXD2nlj+XNfGK4rBfkMJ1JDOQcYXxa2sY8FNkrKc=";

    fn doc_keys() -> GithubKeys {
        let config = [GithubPublicKey {
            key_identifier: DOC_KEY_ID.into(),
            key: DOC_KEY.into(),
        }];
        match GithubKeys::new(&config) {
            Ok(keys) => keys,
            Err(e) => panic!("GitHub's documented key does not parse: {e:?}"),
        }
    }

    #[test]
    fn githubs_documented_delivery_verifies() {
        let keys = doc_keys();
        assert_eq!(
            keys.verify(Some(DOC_KEY_ID), Some(DOC_SIGNATURE), DOC_BODY),
            Ok(())
        );
    }

    #[test]
    fn tampered_unsigned_or_misattributed_deliveries_are_refused() {
        let keys = doc_keys();
        let tampered = br#"[{"token":"some_token","type":"some_type","url":"other_url"}]"#;
        assert_eq!(
            keys.verify(Some(DOC_KEY_ID), Some(DOC_SIGNATURE), tampered),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            keys.verify(Some("another"), Some(DOC_SIGNATURE), DOC_BODY),
            Err(SignatureError::UnknownKey)
        );
        assert_eq!(
            keys.verify(Some(DOC_KEY_ID), Some("not base64!"), DOC_BODY),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            keys.verify(Some(DOC_KEY_ID), Some("AAAA"), DOC_BODY),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            keys.verify(None, Some(DOC_SIGNATURE), DOC_BODY),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            keys.verify(Some(DOC_KEY_ID), None, DOC_BODY),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn bad_configured_keys_are_named() {
        let good = GithubPublicKey {
            key_identifier: "a".into(),
            key: DOC_KEY.into(),
        };
        let bad_pem = GithubPublicKey {
            key_identifier: "b".into(),
            key: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".into(),
        };
        assert_eq!(
            GithubKeys::new(&[good.clone(), bad_pem]).err().map(|e| e.0),
            Some(1)
        );
        assert_eq!(
            GithubKeys::new(&[good.clone(), good.clone()])
                .err()
                .map(|e| e.0),
            Some(1)
        );
        let blank = GithubPublicKey {
            key_identifier: " ".into(),
            ..good
        };
        assert_eq!(GithubKeys::new(&[blank]).err().map(|e| e.0), Some(0));
        assert!(GithubKeys::new(&[]).is_ok_and(|k| k.is_empty()));
    }
}
