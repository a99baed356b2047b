//! The application: configuration, storage and shared services, behind one `Arc`.

use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use easel_db::Store;
use easel_queue::RunnerControl;
use tokio::sync::Notify;

use crate::auth::Authenticator;
use crate::config::Config;
use crate::console::SessionKey;
use crate::engines::Engines;
use crate::limits::Limiter;
use crate::mail::Mailer;
use crate::outputs::Outputs;
use crate::request_log::RequestLog;
use crate::services::moderation::Moderation;
use crate::services::moderation::output::OutputModerator;
use crate::services::run_stats::RunStats;

/// Everything a request handler or background task needs.
pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub auth: Arc<Authenticator>,
    /// Signs console session cookies; derived from the instance secret.
    pub session_key: SessionKey,
    /// The engine of every configured model.
    pub engines: Engines,
    /// Stored outputs and their signed URLs.
    pub outputs: Outputs,
    /// Request limits (in memory or on Redis).
    pub limiter: Limiter,
    /// The output-moderation hook, if one is configured.
    pub output_moderator: Option<OutputModerator>,
    /// Input moderation (rules and classifier).
    pub moderation: Moderation,
    /// Request log entries on their way to the store in batches.
    pub request_log: Arc<RequestLog>,
    /// Sends e-mail.
    pub mailer: Mailer,
    /// The budget of anonymous abuse reports.
    pub abuse_gate: crate::services::abuse::AnonymousGate,
    /// Recent run times, for ETAs.
    pub run_stats: RunStats,
    /// Woken whenever a generation ends on this node (for `Prefer: wait`).
    pub generation_ended: Notify,
    /// Webhook delivery: clients, URL checks, retry schedule.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// The in-process workers, once started (absent in CLI tools).
    pub jobs: OnceLock<RunnerControl>,
    /// Remote pull workers: claim wake-ups, presence, counters.
    pub workers: crate::workers::Workers,
    /// What wakes the background loops that wait for the database to change.
    pub wakeups: Arc<crate::wakeups::Wakeups>,
    /// The status page's last read of the database.
    pub status_cache: crate::status::view::Cache,
    /// What `/metrics` reports of this node.
    pub metrics: crate::metrics::Metrics,
}

impl App {
    /// Builds the application around an opened, migrated store. `instance_secret` is the
    /// instance's signing secret (`None` in tools that serve no pages: a random key).
    /// Fails if the output store or the moderation hook's client cannot be opened.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        instance_secret: Option<&str>,
    ) -> anyhow::Result<App> {
        Self::build(
            config,
            store,
            instance_secret,
            crate::engines::Secrets::Required,
        )
    }

    /// An application for tools that never run a generation (`easel admin …`): the
    /// models' secret variables need not be set there.
    pub fn for_tools(
        config: Config,
        store: Arc<dyn Store>,
        instance_secret: Option<&str>,
    ) -> anyhow::Result<App> {
        Self::build(
            config,
            store,
            instance_secret,
            crate::engines::Secrets::Placeholder,
        )
    }

    fn build(
        config: Config,
        store: Arc<dyn Store>,
        instance_secret: Option<&str>,
        secrets: crate::engines::Secrets,
    ) -> anyhow::Result<App> {
        // What the store's key and balance events carry, and when `credits.low` fires.
        store.set_key_view(crate::services::keys::event_view());
        store.set_low_balance_credits(config.credits.low_balance_credits);
        let prefix = config.api_keys.prefix.clone();
        let auth = Arc::new(Authenticator::new(Arc::clone(&store), prefix));
        let session_key = match instance_secret {
            Some(secret) => SessionKey::from_secret(secret),
            None => SessionKey(axum_extra::extract::cookie::Key::generate()),
        };
        let random_secret;
        let secret = match instance_secret {
            Some(secret) => secret,
            None => {
                random_secret = easel_core::ids::IdKind::Request.generate();
                &random_secret
            }
        };
        let outputs = Outputs::open(&config, secret)?;
        let output_moderator = OutputModerator::new(&config.moderation.output)?;
        let limiter = Limiter::new(&config, secret)?;
        let moderation = Moderation::new(&config)?;
        let request_log = Arc::new(RequestLog::new(Arc::clone(&store)));
        let mailer = Mailer::new(&config);
        let webhooks = Arc::new(crate::webhooks::Webhooks::new(&config)?);
        let fetch = Arc::new(crate::engines::fetch::GuardedFetch(Arc::clone(&webhooks)));
        let engines = Engines::new(&config, fetch, secrets)?;
        Ok(App {
            abuse_gate: crate::services::abuse::AnonymousGate::new(
                config.abuse.anonymous_per_minute,
            ),
            moderation,
            webhooks,
            request_log,
            mailer,
            limiter,
            output_moderator,
            engines,
            outputs,
            run_stats: RunStats::default(),
            generation_ended: Notify::new(),
            jobs: OnceLock::new(),
            workers: crate::workers::Workers::default(),
            wakeups: Arc::default(),
            status_cache: crate::status::view::Cache::default(),
            metrics: crate::metrics::Metrics::new(&config),
            config,
            store,
            auth,
            session_key,
        })
    }
}

/// The axum state: a cheap clone of the shared `App`.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl axum::extract::FromRequestParts<AppState> for AppState {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        _parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(state.clone())
    }
}
