//! The one load generator every target is measured with: HTTP/1.1 keep-alive connections
//! over loopback (hyper's client connection, no pool or retries in the way), in two models.
//!
//! - Closed: each connection sends its next request as soon as the last one is answered.
//!   The rate it reaches is the target's maximum throughput at that concurrency.
//! - Open: requests are due at a fixed rate whatever the target does, spread evenly over the
//!   connections (as wrk2 does). A request's latency counts from when it was due, not from
//!   when a busy connection got round to sending it, so a stall shows in the percentiles
//!   instead of silently lowering the offered load (no coordinated omission).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

/// One request to send. `make` closures build these per request so that bodies can differ.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: hyper::Method,
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Call {
    pub fn get(path: &str) -> Call {
        Call {
            method: hyper::Method::GET,
            path: path.to_string(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn post_json(path: &str, body: impl Into<Bytes>) -> Call {
        Call {
            method: hyper::Method::POST,
            path: path.to_string(),
            headers: vec![(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Call {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }

    pub fn bearer(self, token: &str) -> Call {
        self.header("authorization", &format!("Bearer {token}"))
    }
}

/// Builds the `n`th request of connection `conn`.
pub type MakeCall = Arc<dyn Fn(usize, u64) -> Call + Send + Sync>;

/// Every request built the same way.
pub fn same(call: Call) -> MakeCall {
    Arc::new(move |_, _| call.clone())
}

#[derive(Debug, Clone, Copy)]
pub enum Model {
    Closed,
    /// Requests per second over all connections.
    Open(f64),
}

#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: usize,
    pub duration: Duration,
    pub model: Model,
    /// Stop after this many requests in all (a burst), or when the duration is over.
    pub limit: Option<u64>,
}

impl Load {
    pub fn closed(connections: usize, duration: Duration) -> Load {
        Load {
            connections,
            duration,
            model: Model::Closed,
            limit: None,
        }
    }

    pub fn open(rate: f64, connections: usize, duration: Duration) -> Load {
        Load {
            connections,
            duration,
            model: Model::Open(rate),
            limit: None,
        }
    }

    pub fn burst(connections: usize, requests: u64) -> Load {
        Load {
            connections,
            duration: Duration::from_secs(600),
            model: Model::Closed,
            limit: Some(requests),
        }
    }
}

/// What one load run saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadResult {
    pub requests: u64,
    /// 2xx answers.
    pub ok: u64,
    /// Answers by status (every status seen).
    pub statuses: BTreeMap<u16, u64>,
    /// Connection or protocol failures (no answer).
    pub errors: u64,
    pub seconds: f64,
    /// Answers per second (any status).
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LoadResult {
    /// The first unexpected status or error, for a run that must be all 2xx.
    pub fn check_all_ok(&self, what: &str) -> anyhow::Result<()> {
        if self.errors > 0 || self.ok != self.requests || self.requests == 0 {
            anyhow::bail!(
                "{what}: {} requests, {} 2xx, {} connection errors, statuses {:?}",
                self.requests,
                self.ok,
                self.errors,
                self.statuses
            );
        }
        Ok(())
    }
}

struct Tally {
    histogram: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
}

impl Tally {
    fn new() -> anyhow::Result<Tally> {
        // Microseconds from 1 µs to 100 s at 3 significant digits.
        Ok(Tally {
            histogram: Histogram::new_with_bounds(1, 100_000_000, 3)?,
            statuses: BTreeMap::new(),
            errors: 0,
        })
    }

    fn merge(&mut self, other: Tally) -> anyhow::Result<()> {
        self.histogram.add(&other.histogram)?;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.errors += other.errors;
        Ok(())
    }
}

/// Drives `load` at `addr` until its duration is over and every connection's last request
/// is answered.
pub async fn run(addr: SocketAddr, load: Load, make: MakeCall) -> anyhow::Result<LoadResult> {
    let start = Instant::now();
    let end = start + load.duration;
    let connections = load.connections.max(1);
    let budget = Arc::new(AtomicU64::new(load.limit.unwrap_or(u64::MAX)));
    let mut tasks = Vec::with_capacity(connections);
    for conn in 0..connections {
        let make = make.clone();
        let budget = budget.clone();
        // Open model: connection `conn` owns every `connections`th slot of the schedule.
        let schedule = match load.model {
            Model::Closed => None,
            Model::Open(rate) => {
                let interval = Duration::from_secs_f64(connections as f64 / rate.max(0.001));
                let offset = Duration::from_secs_f64(conn as f64 / rate.max(0.001));
                Some((interval, offset))
            }
        };
        tasks.push(tokio::spawn(async move {
            connection(addr, conn, start, end, schedule, budget, make).await
        }));
    }
    let mut tally = Tally::new()?;
    for task in tasks {
        tally.merge(task.await??)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let h = &tally.histogram;
    let requests = h.len() + tally.errors;
    let ok = tally
        .statuses
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    Ok(LoadResult {
        requests,
        ok,
        statuses: tally.statuses,
        errors: tally.errors,
        seconds,
        rps: h.len() as f64 / seconds,
        p50_ms: h.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
        max_ms: h.max() as f64 / 1000.0,
    })
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn connection(
    addr: SocketAddr,
    conn: usize,
    start: Instant,
    end: Instant,
    schedule: Option<(Duration, Duration)>,
    budget: Arc<AtomicU64>,
    make: MakeCall,
) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let mut sender: Option<Sender> = None;
    let host = HeaderValue::from_str(&addr.to_string())?;
    let mut n: u64 = 0;
    loop {
        let due = match schedule {
            None => Instant::now(),
            Some((interval, offset)) => start + offset + interval * n as u32,
        };
        if due >= end
            || budget
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                .is_err()
        {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let call = make(conn, n);
        n += 1;
        let mut request = Request::builder()
            .method(call.method)
            .uri(call.path)
            .header(hyper::header::HOST, host.clone());
        for (name, value) in call.headers {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(call.body))?;
        let answer = async {
            let s = match sender.as_mut() {
                Some(s) => s,
                None => sender.insert(connect(addr).await?),
            };
            s.ready().await?;
            let response = s.send_request(request).await?;
            let status = response.status().as_u16();
            response.into_body().collect().await?;
            anyhow::Ok(status)
        }
        .await;
        match answer {
            Ok(status) => {
                let micros = due.elapsed().as_micros().max(1) as u64;
                tally.histogram.saturating_record(micros);
                *tally.statuses.entry(status).or_default() += 1;
            }
            Err(_) => {
                tally.errors += 1;
                sender = None;
                // A refused connection would otherwise spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        // Open model: requests due before the end are still sent when late, so a backlog
        // shows in the latencies instead of being dropped.
        if schedule.is_none() && Instant::now() >= end {
            break;
        }
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server answering after `delay`, one request at a time per connection.
    async fn server(delay: Duration) -> SocketAddr {
        let app = axum::Router::new().fallback(move || async move {
            tokio::time::sleep(delay).await;
            "ok"
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test]
    async fn a_burst_sends_exactly_its_requests() {
        let addr = server(Duration::ZERO).await;
        let r = run(addr, Load::burst(4, 101), same(Call::get("/")))
            .await
            .unwrap();
        assert_eq!((r.requests, r.ok, r.errors), (101, 101, 0));
        assert_eq!(r.statuses.get(&200), Some(&101));
    }

    /// Open model: requests are due at the fixed rate whatever the server does, and a
    /// slow server's latency counts from when each request was due. One connection at
    /// 50/s to a server taking 50 ms: each request waits for the last, so the waits add
    /// up (a closed-model generator would report 50 ms for every request).
    #[tokio::test]
    async fn the_open_model_counts_from_when_a_request_was_due() {
        let addr = server(Duration::from_millis(50)).await;
        let load = Load::open(50.0, 1, Duration::from_secs(1));
        let r = run(addr, load, same(Call::get("/"))).await.unwrap();
        assert_eq!(r.requests, 50, "{r:?}");
        assert!(r.max_ms > 500.0, "the backlog shows: {r:?}");
        let fast = server(Duration::ZERO).await;
        let r = run(fast, load, same(Call::get("/"))).await.unwrap();
        assert_eq!(r.requests, 50, "{r:?}");
        // No backlog: far below the slow server's, with room for a busy machine.
        assert!(r.p99_ms < 400.0, "{r:?}");
    }

    #[tokio::test]
    async fn refused_connections_are_errors_not_answers() {
        let addr = crate::procs::free_addr().unwrap();
        let r = run(addr, Load::burst(1, 3), same(Call::get("/")))
            .await
            .unwrap();
        assert_eq!((r.errors, r.ok), (3, 0));
        assert!(r.check_all_ok("refused").is_err());
    }
}
