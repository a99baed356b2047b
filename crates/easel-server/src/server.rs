//! Running the server: open and migrate the store, set up the first start, serve until
//! shutdown, then drain in-flight requests and background work.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::{App, AppState};
use crate::config::Config;
use crate::services::bootstrap::{self, FirstStart};

/// Opens the configured store (creating the data directory for SQLite) and migrates it.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn easel_db::Store>> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create data directory {}", config.data_dir.display())
        })?;
    }
    let store = easel_db::connect(&url, config.database.max_connections)
        .await
        .with_context(|| format!("cannot open database {}", easel_db::redact_url(&url)))?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok(store)
}

/// A started server: where it listens and how to stop it.
pub struct Running {
    pub app: AppState,
    pub first_start: Option<FirstStart>,
    pub local_addr: std::net::SocketAddr,
}

/// Serves `config` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish (up to `http.shutdown_grace_seconds`) and flushes batched work. `on_ready` is
/// called once the instance is set up and before the first request is accepted.
pub async fn run(
    mut config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&Running),
) -> anyhow::Result<()> {
    // Links (output URLs, printed URLs) need the port actually bound, which differs from
    // `listen` when it asks for port 0.
    if config.public_url.is_empty() {
        config.public_url = format!("http://{}", listener.local_addr()?);
    }
    let grace = Duration::from_secs(config.http.shutdown_grace_seconds);
    let store = open_store(&config).await?;
    let first_start = bootstrap::run(&config, store.as_ref())
        .await
        .context("first-start setup failed")?;
    let secret = store
        .instance_secret()
        .await
        .context("cannot read the instance secret")?;
    let app = AppState(Arc::new(App::new(config, store, Some(&secret))?));
    let running = Running {
        app: app.clone(),
        first_start,
        local_addr: listener.local_addr()?,
    };
    on_ready(&running);

    let workers = crate::jobs::start(&app);
    let _ = app.jobs.set(workers.control());
    // Health probes of every backend (and the breakers' recovery probes).
    let probes = easel_engines::StopToken::new();
    app.engines.supervise(&probes);

    let (stop_tx, stop_rx) = watch::channel(false);
    let sweeper = tokio::spawn(crate::jobs::sweep(app.clone(), stop_rx.clone()));
    let leases = tokio::spawn(crate::workers::sweep(app.clone(), stop_rx.clone()));
    let purger = tokio::spawn(purge_limits(app.clone(), stop_rx.clone()));
    let status = tokio::spawn(crate::status::run(app.clone(), stop_rx.clone()));
    let data_rights = tokio::spawn(crate::data_rights::run(app.clone(), stop_rx.clone()));
    let deliveries = crate::webhooks::dispatcher::start(&app, stop_rx.clone());
    let keys = &app.config.api_keys;
    crate::wakeups::start(&app, stop_rx.clone()).await;
    let background = tokio::spawn(Arc::clone(&app.auth).run_background(
        Arc::clone(&app.wakeups),
        // The safety net, for a notification that was lost: 10 s by default.
        Duration::from_millis(keys.invalidation_poll_ms.saturating_mul(20)),
        Duration::from_secs(keys.last_used_flush_seconds),
        stop_rx,
    ));

    let (drain_tx, mut drain_rx) = watch::channel(false);
    let router = crate::router::router(app.clone());
    // Each request carries its peer's `ConnectInfo`: keyless routes are limited by it
    // (`POST /v1/leaked_keys`, console sign-in throttling).
    let limits = crate::http::conn::Limits::from_config(&app.config.http);
    let draining = app.clone();
    let server = crate::http::conn::serve(listener, router, limits, async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight requests");
        // Workers waiting in a claim are answered now, not at the end of their poll.
        draining.workers.drain();
        let _ = drain_tx.send(true);
    });
    let server = tokio::spawn(server);
    // Wait for the server, but once shutdown began give in-flight requests only `grace`.
    let served = tokio::select! {
        result = server => result.context("server task failed"),
        _ = async {
            let _ = drain_rx.wait_for(|draining| *draining).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "in-flight requests did not finish in time; exiting anyway");
            Ok(())
        }
    };
    let _ = stop_tx.send(true);
    probes.cancel();
    // Running jobs get the grace period; any still running then are abandoned to their
    // leases and finished by another node (or this one after a restart).
    workers.shutdown().await;
    // Requests answered during the drain are in the log before the process ends.
    app.request_log.flush().await;
    let _ = sweeper.await;
    let _ = leases.await;
    let _ = purger.await;
    let _ = status.await;
    let _ = data_rights.await;
    let _ = deliveries.await;
    let _ = background.await;
    tracing::info!("shutdown complete");
    served
}

/// Drops full rate-limit buckets from memory every few seconds until `stop`.
async fn purge_limits(app: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => app.limiter.purge(),
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
