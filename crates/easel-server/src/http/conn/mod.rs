//! The accept loop: HTTP/1.1 connections with a header-read timeout, an idle timeout and a
//! per-peer connection cap, served by the router until a graceful shutdown.
//!
//! `axum::serve` has none of these: a client trickling header lines or holding sockets
//! open could keep connections for as long as it liked. Each connection here is admitted
//! against the per-peer cap, watched by its own clock ([`activity`]), and given the peer
//! address as `ConnectInfo`.

mod activity;
mod peers;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::config::HttpConfig;

pub use activity::{Expired, Timeouts};
pub use peers::{Peers, client_network};

use activity::{Activity, Watched};

/// How connections are admitted and timed out.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The header-read and idle timeouts.
    pub timeouts: Timeouts,
    /// The per-peer cap.
    pub peers: Arc<Peers>,
}

impl Limits {
    /// The limits `[http]` asks for (exemptions that do not parse were refused at start).
    pub fn from_config(http: &HttpConfig) -> Limits {
        let exempt = http
            .connection_cap_exempt
            .iter()
            .filter_map(|net| net.parse().ok())
            .collect();
        Limits {
            timeouts: Timeouts {
                header_read: Duration::from_secs(http.header_read_timeout_seconds),
                idle: Duration::from_secs(http.idle_timeout_seconds),
            },
            peers: Peers::new(http.max_connections_per_ip, exempt),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets each
/// connection finish its current request and waits until every connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Every connection task holds a `closed` receiver: when the sender sees none left, all
    // connections are gone.
    let (closed_tx, closed_rx) = watch::channel(());
    let (draining_tx, draining_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = limits.peers.admit(peer.ip()) else {
            // Closed without a word: answering would cost what the cap is there to save.
            tracing::debug!(peer = %peer, "connection refused: too many open from this peer");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            peer,
            router: router.clone(),
            timeouts: limits.timeouts,
            draining: draining_rx.clone(),
        };
        let closed = closed_rx.clone();
        tokio::spawn(async move {
            connection.run(stream).await;
            drop(slot);
            drop(closed);
        });
    }
    drop(listener);
    let _ = draining_tx.send(true);
    drop(closed_rx);
    closed_tx.closed().await;
}

/// Accept errors are per connection (the peer left) or a shortage (too many open files):
/// the first kind is skipped, the second waits a little rather than spinning.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "cannot accept connections; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One accepted connection.
struct Connection {
    peer: SocketAddr,
    router: Router,
    timeouts: Timeouts,
    draining: watch::Receiver<bool>,
}

impl Connection {
    /// Serves requests until the client leaves, a timeout closes it, or the drain ends it.
    async fn run(mut self, stream: TcpStream) {
        let activity = Activity::new();
        let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity)));
        let service = PeerService {
            router: self.router.clone(),
            peer: self.peer,
            activity: Arc::clone(&activity),
        };
        // No hyper timer: its header-read timer would also run while a connection idles.
        let mut conn =
            pin!(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
        let mut draining = *self.draining.borrow();
        if draining {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(peer = %self.peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                why = activity.expired(self.timeouts) => {
                    // Dropping the connection closes the socket; no request is in flight.
                    tracing::debug!(peer = %self.peer, reason = ?why, "connection closed by a timeout");
                    return;
                }
                _ = self.draining.wait_for(|d| *d), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The router as a hyper service, telling the connection's clock when requests start and
/// end and handing handlers the peer address.
#[derive(Clone)]
struct PeerService {
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for PeerService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.begin_request();
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let router = self.router.clone();
        Box::pin(async move {
            let response = router.oneshot(request).await;
            drop(in_flight);
            response
        })
    }
}
