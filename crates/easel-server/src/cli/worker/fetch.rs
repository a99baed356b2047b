//! Downloads of URLs a backend answered with (OpenAI's DALL·E `url` outputs), for the
//! engines a worker builds.
//!
//! The server sends these through its webhook SSRF guard, because there a backend's answer
//! must not reach the server's private network. A worker runs on the operator's own
//! machine next to backends the operator chose, often on a private or loopback address
//! (a local OpenAI-compatible server), so it does not refuse private addresses. What it
//! keeps from the server's downloader: http(s) only, no redirects, a time limit, and the
//! output size cap, checked as the body streams.

use std::time::Duration;

use async_trait::async_trait;
use easel_engines::EngineError;
use easel_engines::http;
use easel_engines::registry::Fetch;

/// Longest wait for a connection to the download's host.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest download; the engine's own deadline usually ends it sooner.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// [`Fetch`] over a plain client with the size cap.
pub struct CappedFetch {
    http: reqwest::Client,
}

impl CappedFetch {
    /// A downloader; fails only when the TLS backend cannot start.
    pub fn new() -> Result<CappedFetch, String> {
        Ok(CappedFetch {
            http: http::client(CONNECT_TIMEOUT)?,
        })
    }
}

#[async_trait]
impl Fetch for CappedFetch {
    async fn get(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, EngineError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            EngineError::permanent_because(
                "the backend answered with an address that is not a URL",
                format!("backend output address {url}: {e}"),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(EngineError::permanent_because(
                "the backend answered with an address that is not http(s)",
                format!("backend output address {url}"),
            ));
        }
        let what = "fetching a backend output";
        let response = self
            .http
            .get(parsed)
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .await
            .map_err(|e| http::send_error(what, &e))?;
        if !response.status().is_success() {
            let status = response.status();
            let headers = response.headers().clone();
            let body = http::read_capped(what, response, 4_096)
                .await
                .unwrap_or_default();
            return Err(http::status_error(what, status, &headers, &body));
        }
        http::read_capped(what, response, max_bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_http_urls_are_fetched() {
        let fetch = CappedFetch::new().unwrap_or_else(|e| panic!("{e}"));
        for url in ["file:///etc/passwd", "not a url", "ftp://h.example/x.png"] {
            let got = fetch.get(url, 1_000).await;
            assert!(
                matches!(got, Err(EngineError::Permanent { .. })),
                "{url}: {got:?}"
            );
        }
    }

    #[tokio::test]
    async fn downloads_stop_at_the_cap() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        let body = vec![7u8; 2_000];
        let app = axum::Router::new().route(
            "/big.png",
            axum::routing::get(move || {
                let body = body.clone();
                async move { body }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let fetch = CappedFetch::new().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("http://{addr}/big.png");
        let got = fetch.get(&url, 1_999).await;
        assert!(matches!(got, Err(EngineError::BadOutput { .. })), "{got:?}");
        let got = fetch
            .get(&url, 2_000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), 2_000);
        let missing = fetch.get(&format!("http://{addr}/nope.png"), 2_000).await;
        assert!(
            matches!(missing, Err(EngineError::Permanent { .. })),
            "{missing:?}"
        );
    }
}
