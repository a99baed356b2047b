//! Outgoing e-mail. `log` writes each message to the log; `file` writes one RFC 5322
//! `.eml` file per message into a directory (a maildrop another program can send from,
//! and what tests read).

use std::path::PathBuf;

use crate::config::{Config, MailTransport};

/// A message to send.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The configured mailer.
pub struct Mailer {
    transport: MailTransport,
    from: String,
    dir: PathBuf,
}

impl Mailer {
    /// The mailer the config describes.
    pub fn new(config: &Config) -> Mailer {
        let dir = if config.mail.dir.is_empty() {
            config.data_dir.join("mail")
        } else {
            PathBuf::from(&config.mail.dir)
        };
        Mailer {
            transport: config.mail.transport,
            from: config.mail.from.clone(),
            dir,
        }
    }

    /// Sends a message; failures are logged, never returned (mail is a courtesy that
    /// must not undo the change it reports).
    pub async fn send(&self, mail: Mail) {
        // Header injection: addresses and subjects are single lines.
        let clean = |s: &str| s.replace(['\r', '\n'], " ");
        let (to, subject) = (clean(&mail.to), clean(&mail.subject));
        match self.transport {
            MailTransport::Log => {
                tracing::info!(mail.to = %to, mail.subject = %subject, body = %mail.body, "e-mail (log transport)");
            }
            MailTransport::File => {
                let id = easel_core::ids::IdKind::Request.generate();
                let date = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc2822)
                    .unwrap_or_default();
                let text = format!(
                    "From: {}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}@easel>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
                    self.from,
                    mail.body.replace('\n', "\r\n")
                );
                let path = self.dir.join(format!("{id}.eml"));
                let written = async {
                    tokio::fs::create_dir_all(&self.dir).await?;
                    tokio::fs::write(&path, text).await
                }
                .await;
                if let Err(e) = written {
                    tracing::error!(path = %path.display(), error = %e, "could not write an e-mail");
                }
            }
        }
    }
}
