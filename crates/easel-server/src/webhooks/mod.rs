//! Webhooks: events delivered to developers' endpoints, signed per Standard Webhooks.
//!
//! Every event is written with one pending delivery per subscribed endpoint, in the same
//! transaction (the outbox, in `easel_db`). The [`dispatcher`] on each node claims due
//! deliveries by lease and [`deliver`]s them: where a delivery may go is [`ssrf`]'s
//! business (with the [`resolver`] that vets every address, and the loopback [`ports`]
//! test mode may use), how it is signed [`signature`]'s, and when a failed one is tried
//! again [`schedule`]'s.

pub mod deliver;
pub mod dispatcher;
pub mod ports;
pub mod resolver;
pub mod schedule;
pub mod signature;
pub mod ssrf;

use std::sync::Arc;
use std::time::Duration;

use easel_core::mode::Mode;

use crate::config::{Config, WebhooksConfig};
use resolver::GuardedResolver;
use schedule::RetrySchedule;
use ssrf::{Allowances, Refusal, Target};

/// What delivering needs, built once from the config.
/// Why [`Webhooks::download`] got nothing.
#[derive(Debug)]
pub enum DownloadError {
    /// The URL or an address it resolved to is not allowed.
    Refused(String),
    /// More than the allowed bytes.
    TooBig,
    /// No answer, or not a 2xx.
    Failed(String),
}

pub struct Webhooks {
    pub config: WebhooksConfig,
    pub allow: Allowances,
    pub schedule: RetrySchedule,
    /// Live endpoints: public addresses and the allow-list only.
    live: Client,
    /// Test-mode endpoints: also `localhost` (loopback over plain http) when the operator
    /// opened loopback ports to them.
    test: Client,
}

struct Client {
    http: reqwest::Client,
    resolver: GuardedResolver,
}

impl Client {
    fn new(config: &WebhooksConfig, allow: &Allowances, test_mode: bool) -> anyhow::Result<Client> {
        let resolver = GuardedResolver::new(allow.clone(), test_mode && allow.loopback_enabled());
        let http = reqwest::Client::builder()
            // Every name is resolved (and vetted) by the guard, and the connection goes to
            // the address it vetted: no second lookup for a rebinding DNS server to answer.
            .dns_resolver(Arc::new(resolver.clone()))
            // A redirect is a failed delivery (Standard Webhooks), and following one would
            // let a public URL send Easel to a private one.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.timeout_ms.min(10_000)))
            .user_agent(concat!("Easel-Webhooks/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Client { http, resolver })
    }
}

impl Webhooks {
    /// From the validated config.
    pub fn new(config: &Config) -> anyhow::Result<Webhooks> {
        let w = &config.webhooks;
        let allow = Allowances::parse(&w.allow)
            .map_err(|e| anyhow::anyhow!("webhooks.allow: {e}"))?
            .with_loopback_ports(&w.test_mode_loopback_ports);
        if allow.loopback_enabled() {
            // Every account's test keys can reach these ports on this host: worth a line
            // at start on an installation with more than one developer.
            tracing::info!(
                ports = %ports::list(&w.test_mode_loopback_ports),
                "test-mode webhook endpoints may use these loopback ports (webhooks.test_mode_loopback_ports)"
            );
        }
        Ok(Webhooks {
            live: Client::new(w, &allow, false)?,
            test: Client::new(w, &allow, true)?,
            schedule: RetrySchedule::from_seconds(&w.retry_seconds),
            config: w.clone(),
            allow,
        })
    }

    fn client(&self, mode: Mode) -> &Client {
        if mode.is_live() {
            &self.live
        } else {
            &self.test
        }
    }

    /// GETs `url` with the guarded client of `mode` (a backend's output link): the same
    /// static and connect-time address checks as a delivery, no redirects, at most
    /// `max_bytes`.
    pub async fn download(
        &self,
        url: &str,
        mode: Mode,
        max_bytes: usize,
    ) -> Result<Vec<u8>, DownloadError> {
        let target = ssrf::check_url(url, !mode.is_live(), &self.allow)
            .map_err(|r| DownloadError::Refused(r.to_string()))?;
        let mut response = match self.client(mode).http.get(target.url).send().await {
            Ok(response) => response,
            Err(e) => {
                let mut source: Option<&dyn std::error::Error> = Some(&e);
                while let Some(err) = source {
                    if let Some(refusal) = err.downcast_ref::<Refusal>() {
                        return Err(DownloadError::Refused(refusal.to_string()));
                    }
                    source = err.source();
                }
                return Err(DownloadError::Failed(format!("{e:#}")));
            }
        };
        if !response.status().is_success() {
            return Err(DownloadError::Failed(format!(
                "HTTP {}",
                response.status().as_u16()
            )));
        }
        if response
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(DownloadError::TooBig);
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > max_bytes => {
                    return Err(DownloadError::TooBig);
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => return Ok(body),
                Err(e) => return Err(DownloadError::Failed(format!("{e:#}"))),
            }
        }
    }

    /// Checks an endpoint URL as creation and updates do: statically, then every address
    /// its host resolves to now.
    pub async fn vet_url(&self, url: &str, mode: Mode) -> Result<Target, Refusal> {
        let target = ssrf::check_url(url, !mode.is_live(), &self.allow)?;
        if target.literal.is_none() {
            self.client(mode).resolver.vet(&target.host).await?;
        }
        Ok(target)
    }
}
