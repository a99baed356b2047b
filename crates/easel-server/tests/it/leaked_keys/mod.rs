//! Leaked keys: GitHub's secret-scanning deliveries (signed by a fake GitHub with its own
//! P-256 key) and the keyless report. A real key is revoked (or flagged) once, its owner
//! gets an event and a mail saying where it was found, and nobody but the signed partner
//! learns whether a token was real.

mod github;
mod report;

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use easel_server::config::{Config, GithubPublicKey, MailTransport};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::Value;

use crate::support::{Res, TestApp};

pub const GITHUB_PATH: &str = "/v1/secret_scanning/github";
pub const KEY_ID: &str = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";

/// GitHub, as far as a partner sees it: a signing key and its published identifier.
pub struct FakeGithub {
    pub key: SigningKey,
}

impl FakeGithub {
    pub fn new() -> FakeGithub {
        FakeGithub {
            key: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    /// The public key as GitHub publishes it, for the server's config.
    pub fn public_key(&self) -> GithubPublicKey {
        let pem = self
            .key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_else(|e| panic!("pem: {e}"));
        GithubPublicKey {
            key_identifier: KEY_ID.into(),
            key: pem,
        }
    }

    /// Base64 of the DER signature of `body`, exactly as GitHub signs.
    pub fn sign(&self, body: &[u8]) -> String {
        let signature: Signature = self.key.sign(body);
        STANDARD.encode(signature.to_der().as_bytes())
    }

    /// Sends `body` signed by this GitHub under `KEY_ID`.
    pub async fn deliver(&self, app: &TestApp, body: &str) -> Res {
        send(app, body, Some(KEY_ID), Some(&self.sign(body.as_bytes()))).await
    }
}

/// Sends a delivery with whatever headers a test wants, checked against the document.
pub async fn send(app: &TestApp, body: &str, key_id: Option<&str>, signature: Option<&str>) -> Res {
    let mut req = app
        .raw(reqwest::Method::POST, GITHUB_PATH)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key_id) = key_id {
        req = req.header("Github-Public-Key-Identifier", key_id);
    }
    if let Some(signature) = signature {
        req = req.header("Github-Public-Key-Signature", signature);
    }
    let res = app.send(req).await;
    app.check("POST", GITHUB_PATH, &res);
    res
}

/// A GitHub delivery of `tokens` found at `url`.
pub fn matches(tokens: &[&str], url: &str) -> String {
    let list: Vec<Value> = tokens
        .iter()
        .map(|t| serde_json::json!({"token": t, "type": "easel_api_key", "url": url, "source": "content"}))
        .collect();
    Value::Array(list).to_string()
}

/// Test config: the fake GitHub's key, and mail written to `mail_dir`.
pub fn configure(c: &mut Config, github: Option<&FakeGithub>, mail_dir: &Path) {
    if let Some(github) = github {
        c.secret_scanning.github_public_keys = vec![github.public_key()];
    }
    c.mail.transport = MailTransport::File;
    c.mail.dir = mail_dir.display().to_string();
}

/// The leaked-key mails written so far (other mail, such as sign-up's, is left out).
pub fn mails(dir: &PathBuf) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| {
                let path = e.unwrap_or_else(|e| panic!("mail dir: {e}")).path();
                std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            })
            .filter(|mail| mail.contains("found in public"))
            .collect(),
        // Nothing was ever mailed.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("mail dir: {e}"),
    }
}

/// The one key of the account whose `display_prefix` starts `secret`, as the API shows it.
pub async fn key_object(app: &TestApp, reader: &str, secret: &str) -> Value {
    let res = app.get("/v1/keys?limit=100", reader).await.expect(200);
    let keys = res.body["data"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{}", res.body));
    let found: Vec<Value> = keys
        .into_iter()
        .filter(|k| {
            k["display_prefix"]
                .as_str()
                .is_some_and(|p| secret.starts_with(p))
        })
        .collect();
    assert_eq!(found.len(), 1, "one key per secret");
    found[0].clone()
}

/// Rows of a list endpoint with `field == value`.
pub async fn listed(app: &TestApp, key: &str, path: &str, field: &str, value: &str) -> Vec<Value> {
    let res = app.get(path, key).await.expect(200);
    let rows = res.body["data"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{}", res.body));
    rows.into_iter().filter(|o| o[field] == value).collect()
}

/// SHA-256 hex, as GitHub's feedback names tokens.
pub fn sha256(token: &str) -> String {
    easel_core::api_key::hash(token)
}
