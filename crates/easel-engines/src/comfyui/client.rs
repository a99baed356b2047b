//! ComfyUI's HTTP routes and its websocket, one call each, with every failure classified
//! here: the shared status rules of [`crate::http`], refined where ComfyUI says more
//! (a `/prompt` 400 naming a missing node class or model file is the operator's to fix;
//! any other validation error is the request's).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::wire::{
    ErrorDetail, FileRef, History, HistoryEntry, Interrupt, NodeError, PromptAccepted,
    PromptErrorField, PromptRejected, PromptRequest, Queue, QueueDelete, SystemStats, Uploaded,
};
use crate::engine::{EngineError, InputImage, scrub};
use crate::http;

/// The progress socket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for one control call (`/prompt`, `/history`, `/queue`…): they answer at
/// once on a healthy server, so a silent one is down, not busy.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for one output download.
const VIEW_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest JSON answer read (`/object_info` of one class, a history entry).
const MAX_JSON_BYTES: usize = 16 * 1024 * 1024;

/// One ComfyUI server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// Extra headers for a reverse proxy in front of ComfyUI (which has no auth itself).
    headers: HeaderMap,
    max_output_bytes: usize,
}

impl Client {
    /// A client of `base` (already checked by [`http::base_url`]).
    pub fn new(
        base: String,
        headers: HeaderMap,
        max_output_bytes: usize,
    ) -> Result<Client, String> {
        Ok(Client {
            http: http::client(Duration::from_secs(10))?,
            base,
            headers,
            max_output_bytes,
        })
    }

    fn request(&self, method: Method, path: &str, timeout: Duration) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .headers(self.headers.clone())
            .timeout(timeout)
    }

    /// Sends `req`; a non-2xx answer becomes its class.
    async fn send(&self, what: &str, req: RequestBuilder) -> Result<Response, EngineError> {
        let response = req.send().await.map_err(|e| http::send_error(what, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let body = http::read_capped(what, response, MAX_JSON_BYTES)
            .await
            .unwrap_or_default();
        Err(classify_status(what, status, &headers, &body))
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        req: RequestBuilder,
    ) -> Result<T, EngineError> {
        let response = self.send(what, req).await?;
        let body = http::read_capped(what, response, MAX_JSON_BYTES).await?;
        http::json(what, &body)
    }

    /// `POST /upload/image` with `overwrite`, so a retry reuses the name.
    pub async fn upload_image(
        &self,
        name: &str,
        image: &InputImage,
    ) -> Result<Uploaded, EngineError> {
        let part = reqwest::multipart::Part::bytes(image.bytes.to_vec()).file_name(name.to_owned());
        let part = part
            .mime_str(&image.content_type)
            .map_err(|e| EngineError::permanent(format!("input image type: {e}")))?;
        let form = reqwest::multipart::Form::new()
            .part("image", part)
            .text("type", "input")
            .text("overwrite", "true");
        let req = self
            .request(Method::POST, "/upload/image", CONTROL_TIMEOUT)
            .multipart(form);
        self.json("POST /upload/image", req).await
    }

    /// `POST /prompt`; a 400 is read for what it says.
    pub async fn post_prompt(
        &self,
        body: &PromptRequest<'_>,
    ) -> Result<PromptAccepted, EngineError> {
        const WHAT: &str = "POST /prompt";
        let req = self
            .request(Method::POST, "/prompt", CONTROL_TIMEOUT)
            .json(body);
        let response = req.send().await.map_err(|e| http::send_error(WHAT, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let raw = http::read_capped(WHAT, response, MAX_JSON_BYTES).await?;
        match status {
            s if s.is_success() => http::json(WHAT, &raw),
            StatusCode::BAD_REQUEST => Err(prompt_rejected(&raw)
                .unwrap_or_else(|| http::status_error(WHAT, status, &headers, &raw))),
            _ => Err(classify_status(WHAT, status, &headers, &raw)),
        }
    }

    /// `GET /history/{id}`: `None` while queued, running, unknown or evicted.
    pub async fn history(&self, prompt_id: &str) -> Result<Option<HistoryEntry>, EngineError> {
        let req = self.request(
            Method::GET,
            &format!("/history/{prompt_id}"),
            CONTROL_TIMEOUT,
        );
        let mut history: History = self.json("GET /history", req).await?;
        Ok(history.remove(prompt_id))
    }

    /// `GET /queue`.
    pub async fn queue(&self) -> Result<Queue, EngineError> {
        let req = self.request(Method::GET, "/queue", CONTROL_TIMEOUT);
        self.json("GET /queue", req).await
    }

    /// `POST /queue {"delete": [id]}`: removes a prompt that has not started.
    pub async fn delete_pending(&self, prompt_id: &str) -> Result<(), EngineError> {
        let req = self
            .request(Method::POST, "/queue", CONTROL_TIMEOUT)
            .json(&QueueDelete {
                delete: [prompt_id],
            });
        self.send("POST /queue", req).await.map(drop)
    }

    /// `POST /interrupt {"prompt_id": id}`: stops the running prompt.
    pub async fn interrupt(&self, prompt_id: &str) -> Result<(), EngineError> {
        let req = self
            .request(Method::POST, "/interrupt", CONTROL_TIMEOUT)
            .json(&Interrupt { prompt_id });
        self.send("POST /interrupt", req).await.map(drop)
    }

    /// `GET /view` with only `filename`, `subfolder` and `type`, capped at the largest
    /// output allowed.
    pub async fn view(&self, file: &FileRef) -> Result<Vec<u8>, EngineError> {
        const WHAT: &str = "GET /view";
        let req = self.request(Method::GET, "/view", VIEW_TIMEOUT).query(&[
            ("filename", file.filename.as_str()),
            ("subfolder", file.subfolder.as_str()),
            ("type", file.kind.as_str()),
        ]);
        let response = req.send().await.map_err(|e| http::send_error(WHAT, &e))?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            // The run said it wrote this file; it is gone (cleaned up, another node).
            return Err(EngineError::bad_output(
                "the backend reported an output file it cannot serve",
            ));
        }
        if !status.is_success() {
            let headers = response.headers().clone();
            let body = http::read_capped(WHAT, response, MAX_JSON_BYTES)
                .await
                .unwrap_or_default();
            return Err(classify_status(WHAT, status, &headers, &body));
        }
        http::read_capped(WHAT, response, self.max_output_bytes).await
    }

    /// `GET /system_stats`.
    pub async fn system_stats(&self) -> Result<SystemStats, EngineError> {
        let req = self.request(Method::GET, "/system_stats", CONTROL_TIMEOUT);
        self.json("GET /system_stats", req).await
    }

    /// `GET /object_info/{class}`: `{}` when the class is not installed.
    pub async fn object_info(&self, class: &str) -> Result<Value, EngineError> {
        let mut url = reqwest::Url::parse(&format!("{}/object_info/", self.base))
            .map_err(|e| EngineError::misconfigured(format!("object_info URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| EngineError::misconfigured("object_info URL has no path"))?
            .pop_if_empty()
            .push(class);
        let req = self
            .http
            .get(url)
            .headers(self.headers.clone())
            .timeout(CONTROL_TIMEOUT);
        self.json("GET /object_info", req).await
    }

    /// Opens `/ws?clientId=<client_id>`. `Err` holds a log detail: the caller follows the
    /// run by polling instead.
    pub async fn connect(&self, client_id: &str) -> Result<Socket, String> {
        let base = self
            .base
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        let mut request = format!("{base}/ws?clientId={client_id}")
            .into_client_request()
            .map_err(|e| format!("websocket request: {e}"))?;
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let connecting = tokio_tungstenite::connect_async(request);
        match tokio::time::timeout(CONTROL_TIMEOUT, connecting).await {
            Ok(Ok((socket, _))) => Ok(socket),
            Ok(Err(e)) => Err(format!("websocket: {e}")),
            Err(_) => Err("websocket: connect timed out".to_owned()),
        }
    }
}

/// The shared rules, except that a route that does not exist means the URL does not
/// point at ComfyUI: the operator's to fix, not a request to drop.
fn classify_status(
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> EngineError {
    if matches!(status.as_u16(), 404 | 405) {
        return EngineError::misconfigured(format!(
            "{what}: HTTP {status} (is `base_url` a ComfyUI server?): {}",
            http::snippet(body)
        ));
    }
    http::status_error(what, status, headers, body)
}

/// Reads a `/prompt` 400. `None` when the body is not ComfyUI's shape.
fn prompt_rejected(raw: &[u8]) -> Option<EngineError> {
    let rejected: PromptRejected = serde_json::from_slice(raw).ok()?;
    let detail = format!("POST /prompt: HTTP 400: {}", http::snippet(raw));
    let error = match rejected.error {
        PromptErrorField::Text(text) => {
            return Some(EngineError::permanent_because(
                format!("the backend rejected the workflow: {}", scrub(&text)),
                detail,
            ));
        }
        PromptErrorField::Detailed(error) => error,
    };
    let node_errors: Vec<NodeError> = match rejected.node_errors {
        Value::Object(map) => map
            .into_values()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect(),
        _ => Vec::new(),
    };
    let node_kinds = || node_errors.iter().flat_map(|n| n.errors.iter());
    // A node class or a model file missing on the server; the request cannot fix that.
    let misconfigured = matches!(
        error.kind.as_str(),
        "invalid_prompt" | "missing_node_type" | "prompt_no_outputs"
    ) || node_kinds().any(|e| e.kind == "value_not_in_list");
    if misconfigured {
        return Some(EngineError::misconfigured(detail));
    }
    let reason = rejection_reason(&error, &node_errors);
    Some(EngineError::permanent_because(reason, detail))
}

/// `the backend rejected the workflow: <message>: <first node error>`, scrubbed.
fn rejection_reason(error: &ErrorDetail, nodes: &[NodeError]) -> String {
    let mut reason = format!("the backend rejected the workflow: {}", error.message);
    if let Some((class, first)) = nodes
        .iter()
        .find_map(|n| n.errors.first().map(|e| (&n.class_type, e)))
    {
        reason.push_str(&format!(": {class}: {}", first.message));
        if !first.details.is_empty() {
            reason.push_str(&format!(" ({})", first.details));
        }
    }
    scrub(&reason)
}

/// Extra headers from `NAME = "ENV_VAR"` pairs; the values are secrets and never shown.
pub fn headers_from_env(
    pairs: &std::collections::BTreeMap<String, String>,
    secret: impl Fn(&str) -> Option<String>,
) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, var) in pairs {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`headers_env`: `{name}` is not a header name"))?;
        let value = secret(var).ok_or_else(|| {
            format!("`headers_env.{name}`: the environment variable `{var}` is not set")
        })?;
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            format!("`headers_env.{name}`: the value of `{var}` is not a valid header value")
        })?;
        value.set_sensitive(true);
        headers.insert(header, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_nodes_and_models_are_misconfiguration() {
        let missing_node = br#"{"error": {"type": "missing_node_type", "message": "Node 'X' not found", "details": "", "extra_info": {}}, "node_errors": {}}"#;
        assert!(matches!(
            prompt_rejected(missing_node),
            Some(EngineError::Misconfigured { .. })
        ));
        let missing_model = br#"{"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
            "node_errors": {"4": {"errors": [{"type": "value_not_in_list", "message": "Value not in list", "details": "ckpt_name: 'x.safetensors' not in []", "extra_info": {}}], "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple"}}}"#;
        assert!(matches!(
            prompt_rejected(missing_model),
            Some(EngineError::Misconfigured { .. })
        ));
    }

    #[test]
    fn other_validation_errors_are_permanent_with_a_reason() {
        let too_big = br#"{"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
            "node_errors": {"5": {"errors": [{"type": "value_bigger_than_max", "message": "Value 9000 bigger than max of 8192", "details": "width", "extra_info": {}}], "dependent_outputs": ["9"], "class_type": "EmptyLatentImage"}}}"#;
        let Some(EngineError::Permanent { reason, .. }) = prompt_rejected(too_big) else {
            panic!("permanent expected");
        };
        assert!(
            reason.contains("bigger than max") && reason.contains("width"),
            "{reason}"
        );
        let old = br#"{"error": "no prompt", "node_errors": []}"#;
        assert!(matches!(
            prompt_rejected(old),
            Some(EngineError::Permanent { .. })
        ));
        assert!(prompt_rejected(b"<html>").is_none());
    }
}
