//! The HTTP calls to one AUTOMATIC1111/Forge server and how their failures are classified.
//!
//! The shared classification (`crate::http::status_error`) is refined with what these
//! servers say in their bodies: an unknown sampler (404 on A1111, 400 on Forge) or an
//! unknown checkpoint (a 500 `RuntimeError`) is the operator's setting, so misconfigured;
//! a 404 `Not Found` on a generation route means the server runs without `--api`; a CUDA
//! out-of-memory 500 is transient; a 422 names the fields it refused.

use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use super::wire::{ErrorBody, ProgressResponse, Sampler, SdModel};
use crate::engine::EngineError;
use crate::http;

/// How long a connection may take to open; a GPU box on the LAN answers at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Small calls (progress, interrupt, lists) never take long; a hung one must not hold a
/// cancel or a probe.
const SHORT_CALL: Duration = Duration::from_secs(15);
/// Most bytes read from a small call's answer (the options can be a few hundred KB).
const SHORT_BODY: usize = 8 * 1024 * 1024;

/// HTTP Basic credentials (`--api-auth user:pass`). The password never shows in `Debug`.
#[derive(Clone)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasicAuth([redacted])")
    }
}

/// One backend's address, credentials and HTTP client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: Option<BasicAuth>,
}

impl Client {
    /// A client for the server at `base` (already checked by `crate::http::base_url`).
    pub fn new(base: String, auth: Option<BasicAuth>) -> Result<Client, String> {
        Ok(Client {
            http: http::client(CONNECT_TIMEOUT)?,
            base,
            auth,
        })
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match &self.auth {
            Some(auth) => builder.basic_auth(&auth.username, Some(&auth.password)),
            None => builder,
        }
    }

    /// `POST /sdapi/v1/txt2img` or `/img2img`: blocks until the images are made. No
    /// overall timeout here: the job's own timeout and cancellation end the wait.
    pub async fn generate<B: serde::Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        max_body: usize,
    ) -> Result<T, EngineError> {
        let what = format!("POST {path}");
        let response = self
            .request(Method::POST, path)
            .json(body)
            .send()
            .await
            .map_err(|e| http::send_error(&what, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = http::read_capped(&what, response, max_body).await?;
        if !status.is_success() {
            return Err(classify(&what, status, &headers, &bytes, Route::Generate));
        }
        http::json(&what, &bytes)
    }

    /// `GET /sdapi/v1/progress?skip_current_image=true`: the backend's running job.
    pub async fn progress(&self) -> Result<ProgressResponse, EngineError> {
        self.get_json("/sdapi/v1/progress?skip_current_image=true")
            .await
    }

    /// `POST /sdapi/v1/interrupt`: stops whatever job runs *now* (the backend knows no
    /// job ids here), so callers check `current_task` first.
    pub async fn interrupt(&self) -> Result<(), EngineError> {
        let what = "POST /sdapi/v1/interrupt";
        let response = self
            .request(Method::POST, "/sdapi/v1/interrupt")
            .timeout(SHORT_CALL)
            .send()
            .await
            .map_err(|e| http::send_error(what, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = http::read_capped(what, response, SHORT_BODY).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(classify(what, status, &headers, &bytes, Route::Other))
        }
    }

    /// `GET /sdapi/v1/options`, as a loose JSON object.
    pub async fn options(&self) -> Result<serde_json::Map<String, serde_json::Value>, EngineError> {
        self.get_json("/sdapi/v1/options").await
    }

    /// `GET /sdapi/v1/sd-models`.
    pub async fn sd_models(&self) -> Result<Vec<SdModel>, EngineError> {
        self.get_json("/sdapi/v1/sd-models").await
    }

    /// `GET /sdapi/v1/samplers`.
    pub async fn samplers(&self) -> Result<Vec<Sampler>, EngineError> {
        self.get_json("/sdapi/v1/samplers").await
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, EngineError> {
        let what = format!("GET {path}");
        let response = self
            .request(Method::GET, path)
            .timeout(SHORT_CALL)
            .send()
            .await
            .map_err(|e| http::send_error(&what, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = http::read_capped(&what, response, SHORT_BODY).await?;
        if !status.is_success() {
            return Err(classify(&what, status, &headers, &bytes, Route::Other));
        }
        http::json(&what, &bytes)
    }
}

/// Which kind of route answered: a 404 means different things on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// txt2img / img2img, which always exist when the API is on.
    Generate,
    /// Anything else.
    Other,
}

/// Classifies an error answer from its status and body (either flavour's shape).
pub fn classify(
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    route: Route,
) -> EngineError {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let text = parsed.texts();
    let lower = text.to_ascii_lowercase();
    let detail = format!("{what}: HTTP {status}: {}", http::snippet(body));
    let code = status.as_u16();
    if code == 401 || code == 403 {
        return EngineError::misconfigured(format!(
            "{detail} (check `username` and `password_env`)"
        ));
    }
    if lower.contains("sampler not found") || lower.contains("scheduler not found") {
        return EngineError::misconfigured(format!("{detail} (check `sampler` / `scheduler`)"));
    }
    if is_unknown_model(&lower) {
        return EngineError::misconfigured(format!("{detail} (check `checkpoint`)"));
    }
    if (400..500).contains(&code) && lower.contains("script") && lower.contains("not found") {
        return EngineError::misconfigured(format!("{detail} (a script named in `extra`)"));
    }
    if code == 404 && route == Route::Generate && parsed.message() == Some("Not Found") {
        return EngineError::misconfigured(format!(
            "{detail} (the server does not serve the API: start it with --api)"
        ));
    }
    if is_out_of_memory(&lower) {
        return EngineError::Transient {
            detail,
            retry_after: http::retry_after(headers),
        };
    }
    if lower.contains("invalid encoded image") {
        return EngineError::permanent_because(
            "the backend could not read the input image",
            detail,
        );
    }
    if let Some(list) = parsed.validation() {
        let fields: Vec<String> = list.iter().map(|e| e.describe()).collect();
        return EngineError::permanent_because(
            format!(
                "the backend refused the request's fields ({})",
                fields.join("; ")
            ),
            detail,
        );
    }
    http::status_error(what, status, headers, body)
}

/// `RuntimeError("model 'x' not found")` from `POST /options`, and the same words when an
/// override names a checkpoint the server does not have.
fn is_unknown_model(lower: &str) -> bool {
    lower.contains("model '") && lower.contains("' not found")
        || lower.contains("model \"") && lower.contains("\" not found")
        || lower.contains("checkpoint") && lower.contains("not found")
}

/// CUDA and torch out-of-memory texts: the GPU may be free on the next try.
fn is_out_of_memory(lower: &str) -> bool {
    lower.contains("out of memory")
        || lower.contains("outofmemoryerror")
        || lower.contains("cuda error")
        || lower.contains("cudnn_status")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(code: u16, body: &str, route: Route) -> EngineError {
        classify(
            "POST /sdapi/v1/txt2img",
            StatusCode::from_u16(code).expect("status"),
            &HeaderMap::new(),
            body.as_bytes(),
            route,
        )
    }

    #[test]
    fn known_failures_get_their_class() {
        let sampler_a1111 = r#"{"error":"HTTPException","detail":"Sampler not found","body":"","errors":"404: Sampler not found"}"#;
        assert!(matches!(
            class(404, sampler_a1111, Route::Generate),
            EngineError::Misconfigured { .. }
        ));
        assert!(matches!(
            class(400, r#"{"detail":"Sampler not found"}"#, Route::Generate),
            EngineError::Misconfigured { .. }
        ));
        let model = r#"{"error":"RuntimeError","detail":"","body":"","errors":"model 'nope.safetensors' not found"}"#;
        assert!(matches!(
            class(500, model, Route::Generate),
            EngineError::Misconfigured { .. }
        ));
        let oom = r#"{"error":"OutOfMemoryError","detail":"","body":"","errors":"CUDA out of memory. Tried to allocate 2.00 GiB"}"#;
        assert!(matches!(
            class(500, oom, Route::Generate),
            EngineError::Transient { .. }
        ));
        assert!(matches!(
            class(404, r#"{"detail":"Not Found"}"#, Route::Generate),
            EngineError::Misconfigured { .. }
        ));
        assert!(matches!(
            class(404, r#"{"detail":"Not Found"}"#, Route::Other),
            EngineError::Permanent { .. }
        ));
        assert!(matches!(
            class(500, "Internal Server Error", Route::Generate),
            EngineError::Transient { .. }
        ));
    }

    #[test]
    fn validation_lists_name_the_fields_without_the_values() {
        let body = r#"{"detail":[{"loc":["body","subseed"],"msg":"value is not a valid integer","type":"type_error.integer","input":"http://10.0.0.9/secret"}]}"#;
        match class(422, body, Route::Generate) {
            EngineError::Permanent { reason, .. } => {
                assert!(
                    reason.contains("subseed: value is not a valid integer"),
                    "{reason}"
                );
                assert!(!reason.contains("10.0.0.9"), "{reason}");
            }
            other => panic!("expected Permanent, got {other:?}"),
        }
    }
}
