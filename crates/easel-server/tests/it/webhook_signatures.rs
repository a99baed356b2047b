//! Easel's webhook signatures checked by a verifier nobody here wrote: the official
//! `standardwebhooks` Python package.

use easel_server::webhooks::signature::{Secret, header};

/// Runs `Webhook(secret).verify(body, headers)` for each secret; returns what each said.
pub(crate) async fn verify(
    secrets: &[String],
    id: &str,
    timestamp: i64,
    body: &str,
    signature: &str,
) -> Vec<String> {
    let script = r#"
import json, sys
from standardwebhooks import Webhook
args = json.loads(sys.stdin.read())
headers = {"webhook-id": args["id"], "webhook-timestamp": str(args["ts"]), "webhook-signature": args["sig"]}
for secret in args["secrets"]:
    try:
        Webhook(secret).verify(args["body"], headers)
        print("ok")
    except Exception as e:
        print("refused: " + type(e).__name__)
"#;
    let input = serde_json::json!({"secrets": secrets, "id": id, "ts": timestamp, "body": body, "sig": signature});
    let mut child = tokio::process::Command::new(easel_test_utils::python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        let _ = stdin.write_all(input.to_string().as_bytes()).await;
    }
    let out = child
        .wait_with_output()
        .await
        .unwrap_or_else(|e| panic!("python: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn standardwebhooks_verifies_easel_signatures_and_rotation_overlaps() {
    let (old, new) = (Secret::generate(), Secret::generate());
    let stranger = Secret::generate();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = r#"{"type":"generation.succeeded","timestamp":"2026-11-24T12:00:00Z","data":{"id":"gen_1","prompt":"ünïcödé"}}"#;
    let id = "evt_01jab0c0d0e0f0g0h0j0k0m0n0";

    let single = header(&[&new], id, now, body.as_bytes());
    assert_eq!(
        verify(&[new.expose()], id, now, body, &single).await,
        ["ok"]
    );

    // During a rotation's overlap both secrets verify the same delivery; a stranger doesn't.
    let both = header(&[&new, &old], id, now, body.as_bytes());
    assert_eq!(
        verify(
            &[new.expose(), old.expose(), stranger.expose()],
            id,
            now,
            body,
            &both
        )
        .await,
        ["ok", "ok", "refused: WebhookVerificationError"]
    );
    // After it, only the new one.
    assert_eq!(
        verify(&[new.expose(), old.expose()], id, now, body, &single).await,
        ["ok", "refused: WebhookVerificationError"]
    );
    // A changed body, id or timestamp is refused.
    let tampered = body.replace("gen_1", "gen_2");
    assert_eq!(
        verify(&[new.expose()], id, now, &tampered, &single).await,
        ["refused: WebhookVerificationError"]
    );
    assert_eq!(
        verify(&[new.expose()], "evt_other", now, body, &single).await,
        ["refused: WebhookVerificationError"]
    );
    let old_ts = now - 3600;
    let stale = header(&[&new], id, old_ts, body.as_bytes());
    assert_eq!(
        verify(&[new.expose()], id, old_ts, body, &stale).await,
        ["refused: WebhookVerificationError"]
    );
}
