//! The mailer's SMTP transport against a real SMTP server: aiosmtpd from the test venv,
//! which records every message it accepts as JSON (decoded by Python's `email` package, so
//! lettre's encodings are checked by a reader nobody here wrote).

use std::path::{Path, PathBuf};
use std::time::Duration;

use easel_server::config::Config;
use easel_server::mail::{Mail, Mailer};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

/// Serves SMTP on a port the kernel picks and prints it once listening. AUTH is offered
/// without TLS (loopback only) and succeeds for one login, so tests can tell that the
/// credentials in `smtp_url` were used, and decoded.
const SERVER: &str = r#"
import asyncio, email, email.policy, json, os, sys, uuid
from aiosmtpd.smtp import SMTP, AuthResult

out = sys.argv[1]

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"mailer" and auth_data.password == "pa:ss/wörd@1".encode()
    # handled=False: aiosmtpd answers 535 itself (by default it leaves that to the caller).
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)

class Record:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        record = {
            "login": session.auth_data if session.authenticated else None,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": [name.lower() for name in msg.keys()],
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset(),
            "body": msg.get_content().replace("\r\n", "\n"),
        }
        path = os.path.join(out, uuid.uuid4().hex)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path + ".json")
        return "250 OK"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Record(), hostname="smtp.test", authenticator=authenticator,
                     auth_require_tls=False),
        "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

/// A running aiosmtpd, killed when dropped.
struct SmtpServer {
    port: u16,
    dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

impl SmtpServer {
    async fn start() -> SmtpServer {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let received = dir.path().join("received");
        std::fs::create_dir(&received).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let stderr = std::fs::File::create(dir.path().join("stderr"))
            .unwrap_or_else(|e| panic!("stderr file: {e}"));
        let mut child = tokio::process::Command::new(easel_test_utils::python())
            .arg("-c")
            .arg(SERVER)
            .arg(&received)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("python: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        // The port is printed only once the socket listens, so no retry loop is needed.
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let port = match line {
            Ok(Ok(Some(line))) => line.trim().parse::<u16>().ok(),
            _ => None,
        };
        let Some(port) = port else {
            panic!(
                "aiosmtpd did not start (is aiosmtpd in EASEL_TEST_PYTHON's venv? run scripts/test):\n{}",
                read_stderr(dir.path())
            );
        };
        SmtpServer {
            port,
            dir,
            _child: child,
        }
    }

    /// Every message received so far.
    fn messages(&self) -> Vec<Value> {
        let received = self.dir.path().join("received");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&received)
            .unwrap_or_else(|e| panic!("read_dir: {e}"))
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read: {e}"));
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("json: {e}"))
            })
            .collect()
    }

    /// The one message received, or a panic that shows the server's log.
    fn only_message(&self) -> Value {
        let mut messages = self.messages();
        assert_eq!(
            messages.len(),
            1,
            "messages received: {messages:#?}\naiosmtpd's log:\n{}",
            read_stderr(self.dir.path())
        );
        messages.remove(0)
    }
}

fn read_stderr(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
}

/// The config loaded from a file with this `[mail]` section, as an operator writes it.
fn load_with_mail(mail_section: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("easel.toml");
    std::fs::write(&path, format!("[mail]\n{mail_section}"))
        .unwrap_or_else(|e| panic!("write: {e}"));
    easel_server::config::load(Some(&path), &[])
        .map_err(|e| e.to_string().replace(&path.display().to_string(), "FILE"))
}

fn smtp_config(smtp_url: &str) -> Config {
    load_with_mail(&format!(
        "transport = \"smtp\"\nfrom = \"Easel <easel@example.test>\"\nsmtp_url = \"{smtp_url}\"\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn smtp_delivers_sender_recipient_subject_and_a_utf8_body() {
    let server = SmtpServer::start().await;
    let mailer = Mailer::new(&smtp_config(&format!("smtp://127.0.0.1:{}", server.port)));
    let body = "Grüße aus Köln — 東京 ✓\n\nSecond paragraph.\n.\nA line that is only a dot above.";
    mailer
        .send(Mail {
            to: "reporter@example.com".into(),
            subject: "Your report über abr_1\r\nBcc: victim@example.com".into(),
            body: body.into(),
        })
        .await;

    let message = server.only_message();
    assert_eq!(message["login"], Value::Null, "no credentials in the URL");
    assert_eq!(message["mail_from"], "easel@example.test");
    assert_eq!(
        message["rcpt_tos"],
        serde_json::json!(["reporter@example.com"]),
        "the injected Bcc must not become a recipient"
    );
    assert_eq!(message["from"], "Easel <easel@example.test>");
    assert_eq!(message["to"], "reporter@example.com");
    assert_eq!(
        message["subject"],
        "Your report über abr_1  Bcc: victim@example.com"
    );
    let headers = message["headers"]
        .as_array()
        .unwrap_or_else(|| panic!("headers: {message}"));
    assert!(
        !headers.iter().any(|h| h == "bcc"),
        "an injected header: {message}"
    );
    assert!(headers.iter().any(|h| h == "date"), "{message}");
    assert!(headers.iter().any(|h| h == "message-id"), "{message}");
    assert_eq!(
        headers.len(),
        7,
        "From, To, Subject, Message-ID, Date, Content-Type and -Transfer-Encoding: {message}"
    );
    assert_eq!(message["content_type"], "text/plain");
    assert_eq!(message["charset"], "utf-8");
    assert_eq!(
        message["body"].as_str().map(|b| b.trim_end_matches('\n')),
        Some(body)
    );
}

#[tokio::test]
async fn smtp_url_credentials_log_in_and_are_never_printed() {
    let server = SmtpServer::start().await;
    // `pa:ss/wörd@1`, percent-encoded as the docs ask.
    let url = format!(
        "smtp://mailer:pa%3Ass%2Fw%C3%B6rd%401@127.0.0.1:{}",
        server.port
    );
    let config = smtp_config(&url);
    let printed = format!("{config:?}");
    assert!(!printed.contains("pa%3Ass"), "{printed}");
    assert!(printed.contains("smtp_url: \"smtp://mailer:redacted@127.0.0.1:"));

    Mailer::new(&config)
        .send(Mail {
            to: "reporter@example.com".into(),
            subject: "Signed in".into(),
            body: "Sent after AUTH.".into(),
        })
        .await;
    let message = server.only_message();
    assert_eq!(message["login"], "mailer");
    assert_eq!(message["body"], "Sent after AUTH.\n");

    // A refused login is logged, not returned: the caller carries on, nothing is sent.
    let wrong = format!("smtp://mailer:nope@127.0.0.1:{}", server.port);
    Mailer::new(&smtp_config(&wrong))
        .send(Mail {
            to: "reporter@example.com".into(),
            subject: "Not sent".into(),
            body: "Refused.".into(),
        })
        .await;
    assert_eq!(server.messages().len(), 1);
}

#[test]
fn smtp_settings_are_refused_at_load_with_their_key() {
    let missing = load_with_mail("transport = \"smtp\"\n").err();
    assert_eq!(
        missing.as_deref(),
        Some(
            "built-in default: `mail.smtp_url`: is required when mail.transport is \"smtp\" (smtp://user:password@host:port, smtps://… or smtp://…?tls=required)"
        )
    );
    for bad in [
        "not a url",
        "http://mail.example.com",
        "smtp://",
        "smtp://mailer:hunter2@mail.example.com:99999",
        "smtp://mailer:hunter2@mail.example.com?tls=sometimes",
    ] {
        let e = load_with_mail(&format!("transport = \"smtp\"\nsmtp_url = \"{bad}\"\n"))
            .err()
            .unwrap_or_else(|| panic!("{bad} should be refused"));
        assert!(
            e.starts_with("FILE:3: `mail.smtp_url`: is not a usable SMTP URL"),
            "{bad}: {e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
    }
    let from = load_with_mail(
        "transport = \"smtp\"\nfrom = \"Easel easel@example.test\"\nsmtp_url = \"smtp://127.0.0.1\"\n",
    )
    .err();
    assert!(
        from.as_deref()
            .is_some_and(|e| e.starts_with("FILE:3: `mail.from`: must be an address SMTP accepts")),
        "{from:?}"
    );
    assert!(
        load_with_mail("transport = \"smtps\"\n")
            .err()
            .is_some_and(|e| e.contains("`mail.transport`")),
        "an unknown transport"
    );
}
