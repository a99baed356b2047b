//! Outgoing e-mail. `log` writes each message to the log; `file` writes one RFC 5322
//! `.eml` file per message into a directory (a maildrop another program can send from,
//! and what tests read); `smtp` hands each message to an SMTP server (lettre, rustls).

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{Config, MailTransport};

/// A message to send.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// How long one message may take over SMTP, connecting included.
const SMTP_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// The configured mailer.
pub struct Mailer {
    transport: Transport,
    from: String,
}

enum Transport {
    Log,
    File(PathBuf),
    Smtp {
        client: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
}

/// The SMTP client `[mail] smtp_url` describes, before it is built. Config validation
/// calls this too, so a URL the mailer could not use is refused at load.
pub(crate) fn smtp_builder(
    smtp_url: &str,
) -> Result<AsyncSmtpTransportBuilder, lettre::transport::smtp::Error> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
}

impl Mailer {
    /// The mailer the config describes. An SMTP setup that cannot be used (only possible
    /// with a config that skipped validation, or outside a Tokio runtime) falls back to the
    /// log, with an error, rather than failing the caller.
    pub fn new(config: &Config) -> Mailer {
        let transport = match config.mail.transport {
            MailTransport::Log => Transport::Log,
            MailTransport::File => Transport::File(if config.mail.dir.is_empty() {
                config.data_dir.join("mail")
            } else {
                PathBuf::from(&config.mail.dir)
            }),
            MailTransport::Smtp => match smtp_transport(config) {
                Ok(transport) => transport,
                Err(reason) => {
                    tracing::error!(
                        reason = %reason,
                        "[mail] transport \"smtp\" is unusable; e-mail goes to the log instead"
                    );
                    Transport::Log
                }
            },
        };
        Mailer {
            transport,
            from: config.mail.from.clone(),
        }
    }

    /// Sends a message; failures are logged, never returned (mail is a courtesy that
    /// must not undo the change it reports).
    pub async fn send(&self, mail: Mail) {
        // Header injection: addresses and subjects are single lines.
        let clean = |s: &str| s.replace(['\r', '\n'], " ");
        let (to, subject) = (clean(&mail.to), clean(&mail.subject));
        match &self.transport {
            Transport::Log => {
                tracing::info!(mail.to = %to, mail.subject = %subject, body = %mail.body, "e-mail (log transport)");
            }
            Transport::File(dir) => self.write_file(dir, &to, &subject, &mail.body).await,
            Transport::Smtp { client, from } => {
                send_smtp(client, from.clone(), &to, subject, mail.body).await;
            }
        }
    }

    async fn write_file(&self, dir: &Path, to: &str, subject: &str, body: &str) {
        let id = easel_core::ids::IdKind::Request.generate();
        let date = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap_or_default();
        let text = format!(
            "From: {}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}@easel>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
            self.from,
            body.replace('\n', "\r\n")
        );
        let path = dir.join(format!("{id}.eml"));
        let written = async {
            tokio::fs::create_dir_all(dir).await?;
            tokio::fs::write(&path, text).await
        }
        .await;
        if let Err(e) = written {
            tracing::error!(path = %path.display(), error = %e, "could not write an e-mail");
        }
    }
}

fn smtp_transport(config: &Config) -> Result<Transport, String> {
    let from = config
        .mail
        .from
        .parse::<Mailbox>()
        .map_err(|e| format!("mail.from: {e}"))?;
    let builder = smtp_builder(&config.mail.smtp_url).map_err(|e| format!("mail.smtp_url: {e}"))?;
    // The connection pool spawns its cleanup task on the current runtime, and would panic
    // without one.
    tokio::runtime::Handle::try_current()
        .map_err(|_| "the SMTP connection pool needs a Tokio runtime".to_string())?;
    Ok(Transport::Smtp {
        client: builder.build(),
        from,
    })
}

async fn send_smtp(
    client: &AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: &str,
    subject: String,
    body: String,
) {
    let recipient = match to.parse::<Mailbox>() {
        Ok(recipient) => recipient,
        Err(e) => {
            tracing::error!(mail.to = %to, error = %e, "not sending an e-mail to an address SMTP cannot take");
            return;
        }
    };
    let message = Message::builder()
        .from(from)
        .to(recipient)
        .subject(subject)
        // `<random@this host's name>`, as the file transport writes one too: receivers'
        // spam filters count a missing Message-ID against the message.
        .message_id(None)
        .header(ContentType::TEXT_PLAIN)
        .body(body);
    let message = match message {
        Ok(message) => message,
        Err(e) => {
            tracing::error!(mail.to = %to, error = %e, "could not build an e-mail");
            return;
        }
    };
    // lettre bounds only the connect: a server that stops answering mid-transaction would
    // hold the caller (an operator's request) for as long as the server keeps the socket.
    match tokio::time::timeout(SMTP_SEND_TIMEOUT, client.send(message)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::error!(mail.to = %to, error = %e, "could not send an e-mail over SMTP");
        }
        Err(_) => {
            tracing::error!(mail.to = %to, timeout_seconds = SMTP_SEND_TIMEOUT.as_secs(), "the SMTP server did not finish taking an e-mail in time");
        }
    }
}
