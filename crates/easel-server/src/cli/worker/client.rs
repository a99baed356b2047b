//! The worker API over HTTP: one method per call, each answering the wire types of
//! `api::worker::dto` or a [`CallError`] that says whether trying again can help.
//!
//! Retrying is the caller's business (the claim loop backs off forever, a lease's calls
//! until its deadline); [`super::error`] only classifies. The token is sent to the
//! server's origin only (see [`super::target`]).

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

pub use super::error::{CallError, Problem};
use super::error::{classify, unavailable};
use super::target::{self, Target};
use super::token::Token;
use crate::api::worker::dto::{
    ClaimRequest, ClaimResponse, CompleteRequest, CompleteResponse, FailRequest, FailResponse,
    HeartbeatRequest, HeartbeatResponse, WorkerInfo,
};

/// Longest wait for a connection to the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest short call (`/me`, a heartbeat, a completion).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one server, with one token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    /// `Bearer <token>`, marked sensitive: it prints as `Sensitive`, and HTTP/2 never
    /// puts it in a compression table.
    auth: HeaderValue,
}

impl Client {
    /// A client of `base` (see [`target::server_url`]).
    pub fn new(base: Url, token: Token) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            // A redirect would need the token re-sent somewhere else: refused, and said
            // (`--server` should be the address the redirect names).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("easel-worker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| "the worker token holds characters a header cannot carry".to_owned())?;
        auth.set_sensitive(true);
        Ok(Client { http, base, auth })
    }

    /// The server's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `GET /worker/v1/me`
    pub async fn me(&self) -> Result<WorkerInfo, CallError> {
        let target = self.api("worker/v1/me")?;
        self.json(&target, Method::GET, None::<&()>, CALL_TIMEOUT)
            .await
    }

    /// `POST /worker/v1/claim`: `None` when the long poll ended without work (204).
    pub async fn claim(&self, body: &ClaimRequest) -> Result<Option<ClaimResponse>, CallError> {
        let target = self.api("worker/v1/claim")?;
        // The server holds the call up to `wait_ms`; leave room for the answer itself.
        let timeout = Duration::from_millis(body.wait_ms.unwrap_or(0)) + CALL_TIMEOUT;
        let response = self
            .send(
                &target,
                self.request(&target, Method::POST, timeout).json(body),
            )
            .await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        read_json(&target, response).await.map(Some)
    }

    /// `POST /worker/v1/leases/{lease_id}/heartbeat`
    pub async fn heartbeat(
        &self,
        lease_id: &str,
        body: &HeartbeatRequest,
        timeout: Duration,
    ) -> Result<HeartbeatResponse, CallError> {
        let target = self.api(&format!("worker/v1/leases/{lease_id}/heartbeat"))?;
        self.json(&target, Method::POST, Some(body), timeout).await
    }

    /// `POST /worker/v1/leases/{lease_id}/complete`
    pub async fn complete(
        &self,
        lease_id: &str,
        body: &CompleteRequest,
    ) -> Result<CompleteResponse, CallError> {
        let target = self.api(&format!("worker/v1/leases/{lease_id}/complete"))?;
        self.json(&target, Method::POST, Some(body), CALL_TIMEOUT)
            .await
    }

    /// `POST /worker/v1/leases/{lease_id}/fail`
    pub async fn fail(
        &self,
        lease_id: &str,
        body: &FailRequest,
    ) -> Result<FailResponse, CallError> {
        let target = self.api(&format!("worker/v1/leases/{lease_id}/fail"))?;
        self.json(&target, Method::POST, Some(body), CALL_TIMEOUT)
            .await
    }

    /// GETs an input image; returns its bytes (at most `max_bytes`) and `Content-Type`.
    pub async fn download(
        &self,
        target: &Target,
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<(Bytes, Option<String>), CallError> {
        let mut response = self
            .send(target, self.request(target, Method::GET, timeout))
            .await?;
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let too_big = |what: &Target| CallError::Rejected {
            what: format!("GET {}", what.shown()),
            problem: Problem {
                status: 413,
                code: "input_too_large".to_owned(),
                message: format!("the input image is more than {max_bytes} bytes"),
                request_id: None,
                retry_after: None,
                by_server: false,
            },
        };
        if response
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(too_big(target));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| unavailable(target, e))? {
            if body.len() + chunk.len() > max_bytes {
                return Err(too_big(target));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((Bytes::from(body), content_type))
    }

    /// PUTs one output. A server slot answers 201 with what it stored; an object store
    /// answers any 2xx.
    pub async fn upload(
        &self,
        target: &Target,
        content_type: &str,
        bytes: Bytes,
        timeout: Duration,
    ) -> Result<(), CallError> {
        let request = self
            .request(target, Method::PUT, timeout)
            .header(CONTENT_TYPE, content_type)
            .header(CONTENT_LENGTH, bytes.len())
            .body(bytes);
        self.send(target, request).await.map(drop)
    }

    fn api(&self, path: &str) -> Result<Target, CallError> {
        target::api(&self.base, path).map_err(|detail| CallError::Unavailable {
            what: path.to_owned(),
            detail,
            retry_after: None,
        })
    }

    fn request(&self, target: &Target, method: Method, timeout: Duration) -> RequestBuilder {
        let request = self
            .http
            .request(method, target.url.clone())
            .timeout(timeout);
        if target.with_token {
            request.header(AUTHORIZATION, self.auth.clone())
        } else {
            request
        }
    }

    async fn json<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        target: &Target,
        method: Method,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let mut request = self.request(target, method, timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = self.send(target, request).await?;
        read_json(target, response).await
    }

    /// Sends; a non-2xx answer becomes a [`CallError`].
    async fn send(&self, target: &Target, request: RequestBuilder) -> Result<Response, CallError> {
        let response = request.send().await.map_err(|e| unavailable(target, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        Err(classify(target, status, &headers, &body))
    }
}

async fn read_json<T: DeserializeOwned>(
    target: &Target,
    response: Response,
) -> Result<T, CallError> {
    let body = response.bytes().await.map_err(|e| unavailable(target, e))?;
    serde_json::from_slice(&body).map_err(|e| CallError::Unavailable {
        what: target.shown(),
        detail: format!("the answer is not the worker API's JSON ({e})"),
        retry_after: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_never_prints_its_token() {
        let secret = easel_core::worker_token::generate("vs").secret;
        let token = Token::parse(&secret).unwrap_or_else(|e| panic!("{e}"));
        let base = target::server_url("https://h.example").unwrap_or_else(|e| panic!("{e}"));
        let client = Client::new(base, token).unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{client:?}");
        assert!(!shown.contains(&secret["vs_worker_".len()..]), "{shown}");
    }
}
