//! Requests by method, route template and status class, and their latency by route: the
//! RED figures of the HTTP API, counted by a middleware around every route.
//!
//! The route is axum's `MatchedPath` (`/v1/generations/{id}`), never the path the client
//! sent, and requests that match no route share the value `unmatched`: the label values
//! are bounded by the route table whatever clients send. Counting a request is a read
//! lock on the route map (a write lock only the first time a route is seen) and a few
//! atomic additions, with no allocation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::text::{self, Histogram, REQUEST_BUCKETS};

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

/// Method label values; anything else is `other`.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

struct RouteStats {
    /// By method, then status class.
    requests: [[AtomicU64; CLASSES.len()]; METHODS.len()],
    latency: Histogram,
}

impl RouteStats {
    fn new() -> RouteStats {
        RouteStats {
            requests: Default::default(),
            latency: Histogram::new(REQUEST_BUCKETS),
        }
    }
}

/// This node's request figures.
#[derive(Default)]
pub struct HttpMetrics {
    routes: RwLock<HashMap<Box<str>, RouteStats>>,
}

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

fn class_index(status: u16) -> usize {
    usize::from(status / 100).clamp(1, CLASSES.len()) - 1
}

impl HttpMetrics {
    /// Counts one answered request.
    pub fn record(&self, method: &Method, route: &str, status: u16, took: Duration) {
        let count = |stats: &RouteStats| {
            if let Some(by_class) = stats.requests.get(method_index(method))
                && let Some(n) = by_class.get(class_index(status))
            {
                n.fetch_add(1, Ordering::Relaxed);
            }
            stats.latency.observe(took);
        };
        {
            let routes = match self.routes.read() {
                Ok(routes) => routes,
                Err(poisoned) => poisoned.into_inner(),
            };
            if let Some(stats) = routes.get(route) {
                count(stats);
                return;
            }
        }
        let mut routes = match self.routes.write() {
            Ok(routes) => routes,
            Err(poisoned) => poisoned.into_inner(),
        };
        count(routes.entry(route.into()).or_insert_with(RouteStats::new));
    }

    pub fn render(&self, out: &mut String) {
        let routes = match self.routes.read() {
            Ok(routes) => routes,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut names: Vec<&str> = routes.keys().map(|k| &**k).collect();
        names.sort_unstable();
        let name = "easel_http_requests_total";
        text::family(
            out,
            name,
            "counter",
            "Requests answered by this node, by method, route template (`unmatched` for no route) and status class.",
        );
        for route in &names {
            let Some(stats) = routes.get(*route) else {
                continue;
            };
            for (method, by_class) in METHODS.iter().zip(&stats.requests) {
                for (class, n) in CLASSES.iter().zip(by_class) {
                    let n = n.load(Ordering::Relaxed);
                    if n > 0 {
                        let labels = [
                            ("method", *method),
                            ("route", route),
                            ("status_class", class),
                        ];
                        text::sample(out, name, &labels, n);
                    }
                }
            }
        }
        let name = "easel_http_request_duration_seconds";
        text::family(
            out,
            name,
            "histogram",
            "Time from a request's arrival to its response head, by route template.",
        );
        for route in &names {
            if let Some(stats) = routes.get(*route) {
                stats.latency.render(out, name, &[("route", route)]);
            }
        }
    }
}

/// The middleware: times the request and counts its answer. It sits outside every other
/// layer (so a timeout, a refused body or a caught panic is counted as what the client
/// got) but is applied per route, which is where axum has set `MatchedPath`.
pub async fn track(
    State(metrics): State<Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    metrics.record(
        &method,
        route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_their_class_and_odd_ones_at_the_edges() {
        assert_eq!(class_index(200), 1);
        assert_eq!(class_index(404), 3);
        assert_eq!(class_index(599), 4);
        assert_eq!(class_index(0), 0, "below 100 counts as 1xx");
        assert_eq!(class_index(999), 4, "above 599 counts as 5xx");
    }

    #[test]
    fn requests_are_counted_per_method_route_and_class() {
        let m = HttpMetrics::default();
        let route = "/v1/generations/{id}";
        m.record(&Method::GET, route, 200, Duration::from_millis(3));
        m.record(&Method::GET, route, 200, Duration::from_millis(3));
        m.record(
            &Method::from_bytes(b"BREW").unwrap_or(Method::GET),
            route,
            404,
            Duration::ZERO,
        );
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "easel_http_requests_total{method=\"GET\",route=\"/v1/generations/{id}\",status_class=\"2xx\"} 2\n"
        ));
        assert!(out.contains(
            "easel_http_requests_total{method=\"other\",route=\"/v1/generations/{id}\",status_class=\"4xx\"} 1\n"
        ));
        assert!(out.contains(
            "easel_http_request_duration_seconds_bucket{route=\"/v1/generations/{id}\",le=\"0.005\"} 3\n"
        ));
        assert!(out.contains(
            "easel_http_request_duration_seconds_count{route=\"/v1/generations/{id}\"} 3\n"
        ));
    }
}
