//! HTTP calls to an OpenAI-compatible images API and the classification of its answers.
//!
//! On top of the shared status classes (`crate::http`) this knows OpenAI's own signals:
//! content refusals (`moderation_blocked`, `content_policy_violation`) become
//! [`EngineError::Refused`]; `x-should-retry` overrides the status class, as in the
//! official SDK's `_should_retry`; any 404 means the base URL or the model is wrong; a 400
//! naming a parameter the operator set (model, quality, ...) is the operator's to fix, and
//! any other 400 is permanent with OpenAI's message (scrubbed) as the public reason.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};

use super::wire::{ApiError, ErrorEnvelope, ImageGenerateParams, ImagesResponse, ModelsPage};
use crate::engine::{EngineError, InputImage, RefusalStage, scrub};
use crate::http;

/// Parameters that come from the operator's settings: a 400 naming one is a setup error.
const OPERATOR_PARAMS: &[&str] = &[
    "model",
    "quality",
    "output_format",
    "background",
    "moderation",
    "response_format",
];

/// How long a health probe may take; the breaker calls it while the backend may be down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Room for the JSON around the images in an answer.
const ANSWER_OVERHEAD: usize = 256 * 1024;

/// An API key read from the environment. Never shown by `Debug`.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key read from the environment.
    #[must_use]
    pub fn new(key: String) -> ApiKey {
        ApiKey(key)
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// One backend: its base URL (`…/v1`) and key.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<ApiKey>,
    /// Largest image accepted, in bytes; answers are capped from it.
    max_image_bytes: usize,
}

impl Client {
    /// A client of the API at `base_url` (already checked by [`http::base_url`]).
    pub fn new(
        base_url: String,
        api_key: Option<ApiKey>,
        max_image_bytes: usize,
    ) -> Result<Client, String> {
        Ok(Client {
            http: http::client(Duration::from_secs(10))?,
            base_url,
            api_key,
            max_image_bytes,
        })
    }

    /// `POST /images/generations`.
    pub async fn generations(
        &self,
        id: &str,
        params: &ImageGenerateParams<'_>,
    ) -> Result<ImagesResponse, EngineError> {
        let what = "openai: POST /images/generations";
        let request = self
            .request(Method::POST, "/images/generations", id)
            .json(params);
        self.images_answer(what, request, params.n).await
    }

    /// `POST /images/edits` (multipart) with `image` as the start image.
    pub async fn edits(
        &self,
        id: &str,
        params: &ImageGenerateParams<'_>,
        image: &InputImage,
    ) -> Result<ImagesResponse, EngineError> {
        let what = "openai: POST /images/edits";
        // OpenAI checks the part's type and guesses from the file name: both must match.
        let part = reqwest::multipart::Part::bytes(image.bytes.to_vec())
            .file_name(format!("image.{}", image.extension()))
            .mime_str(&image.content_type)
            .map_err(|e| EngineError::misconfigured(format!("{what}: image type: {e}")))?;
        let form = params
            .edit_fields()
            .into_iter()
            .fold(reqwest::multipart::Form::new(), |form, (name, value)| {
                form.text(name, value)
            })
            .part("image", part);
        let request = self
            .request(Method::POST, "/images/edits", id)
            .multipart(form);
        self.images_answer(what, request, params.n).await
    }

    /// `GET /models`: the listed model ids and the `openai-version` header, if any.
    /// A 404 is `Ok(None)`: many gateways do not list models.
    pub async fn models(&self) -> Result<Option<(Vec<String>, Option<String>)>, EngineError> {
        let what = "openai: GET /models";
        let response = self
            .request(Method::GET, "/models", "")
            .timeout(PROBE_TIMEOUT)
            .send()
            .await
            .map_err(|e| http::send_error(what, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let version = header(&headers, "openai-version");
        let body = http::read_capped(what, response, 16 * 1024 * 1024).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(classify(what, status, &headers, &body));
        }
        let page: ModelsPage = http::json(what, &body)?;
        Ok(Some((
            page.data.into_iter().map(|m| m.id).collect(),
            version,
        )))
    }

    /// A request to `path` under the base URL, with the key and Easel's generation id
    /// (`X-Client-Request-Id`, which OpenAI logs next to its own request id).
    fn request(&self, method: Method, path: &str, id: &str) -> RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(ApiKey(key)) = &self.api_key {
            request = request.bearer_auth(key);
        }
        if !id.is_empty() {
            request = request.header("x-client-request-id", id);
        }
        request
    }

    /// Sends an images request and reads its answer, capped at what `n` images may need.
    async fn images_answer(
        &self,
        what: &str,
        request: RequestBuilder,
        n: u32,
    ) -> Result<ImagesResponse, EngineError> {
        let response = request
            .send()
            .await
            .map_err(|e| http::send_error(what, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = http::read_capped(what, response, self.answer_cap(n)).await?;
        if !status.is_success() {
            return Err(classify(what, status, &headers, &body));
        }
        let answer: ImagesResponse = http::json(what, &body)?;
        match answer.error {
            Some(error) => Err(classify_error(
                what,
                status,
                &headers,
                &error,
                &http::snippet(&body),
            )),
            None => Ok(answer),
        }
    }

    /// Base64 takes 4 bytes for every 3.
    fn answer_cap(&self, n: u32) -> usize {
        self.max_image_bytes
            .saturating_mul(n.max(1) as usize)
            .saturating_div(3)
            .saturating_mul(4)
            .saturating_add(ANSWER_OVERHEAD)
    }
}

/// Classifies an error answer of any status, with or without OpenAI's envelope.
pub fn classify(what: &str, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> EngineError {
    let error = serde_json::from_slice::<ErrorEnvelope>(body)
        .map(|envelope| envelope.error)
        .unwrap_or_default();
    classify_error(what, status, headers, &error, &http::snippet(body))
}

/// Classifies an answer by its status and error (empty when the body had no envelope).
fn classify_error(
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    error: &ApiError,
    body: &str,
) -> EngineError {
    let request_id = header(headers, "x-request-id").unwrap_or_default();
    let detail = format!("{what}: HTTP {status} (upstream request {request_id}): {body}");
    if let Some(refusal) = refusal(error, &detail) {
        return refusal;
    }
    let operator_param = error
        .param
        .as_deref()
        .is_some_and(|p| OPERATOR_PARAMS.contains(&p));
    let class = match (status.as_u16(), error.message.as_deref()) {
        // The path is fixed, so a 404 is a wrong base URL or a model the key cannot use.
        (404, _) => EngineError::misconfigured(detail),
        (400 | 422, _) if operator_param => EngineError::misconfigured(detail),
        (400 | 413 | 415 | 422, Some(message)) if !message.trim().is_empty() => {
            EngineError::permanent_because(
                format!(
                    "the upstream images API refused the request: {}",
                    scrub(message)
                ),
                detail,
            )
        }
        // A 200 that carries an error: a gateway's hiccup, worth another try.
        (200..=299, _) => EngineError::transient(detail),
        _ => http::status_error(what, status, headers, body.as_bytes()),
    };
    by_retry_header(headers, class)
}

/// A content refusal: GPT image models' `moderation_blocked` (stage and categories in
/// `moderation_details`, or only in the message as `safety_violations=[…]`) and DALL·E's
/// `content_policy_violation` (always the prompt). Gateways that wrap OpenAI's error in
/// their own message still carry the code in it, so the message is searched too.
fn refusal(error: &ApiError, detail: &str) -> Option<EngineError> {
    let code = error.code.as_deref().unwrap_or_default();
    let message = error.message.as_deref().unwrap_or_default();
    let is = |name: &str| code == name || message.contains(name);
    let (stage, categories) = if is("moderation_blocked") {
        let details = error.moderation_details.clone().unwrap_or_default();
        // Without a stage there is no evidence the user's prompt was at fault, and an
        // input-stage refusal costs the user a strike: count it as an output refusal.
        let stage = match details.moderation_stage.as_deref() {
            Some("input") => RefusalStage::Input,
            _ => RefusalStage::Output,
        };
        let categories = if details.categories.is_empty() {
            safety_violations(message)
        } else {
            details.categories
        };
        (stage, categories)
    } else if is("content_policy_violation") {
        (RefusalStage::Input, safety_violations(message))
    } else {
        return None;
    };
    Some(EngineError::Refused {
        stage,
        categories: categories.into_iter().filter_map(category).collect(),
        detail: detail.to_owned(),
    })
}

/// `… safety_violations=[sexual, violence].` → `["sexual", "violence"]`.
fn safety_violations(message: &str) -> Vec<String> {
    let Some((_, rest)) = message.split_once("safety_violations=[") else {
        return Vec::new();
    };
    let list = rest.split_once(']').map_or("", |(list, _)| list);
    list.split(',').map(str::to_owned).collect()
}

/// A category as Easel records it: a short word, never free text from the backend.
fn category(raw: String) -> Option<String> {
    let word = raw.trim().trim_matches(['\'', '"']).to_ascii_lowercase();
    let fits = !word.is_empty()
        && word.len() <= 64
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-/".contains(&b));
    fits.then_some(word)
}

/// `x-should-retry: true|false` overrides the status class (the official SDKs obey it).
/// A refusal or a canceled run is not a status class and stays as it is.
fn by_retry_header(headers: &HeaderMap, class: EngineError) -> EngineError {
    let should_retry = header(headers, "x-should-retry");
    match (should_retry.as_deref(), class) {
        (
            Some("true"),
            EngineError::Permanent { detail, .. }
            | EngineError::Misconfigured { detail }
            | EngineError::Transient { detail, .. },
        ) => EngineError::Transient {
            detail,
            retry_after: http::retry_after(headers),
        },
        (Some("false"), EngineError::Transient { detail, .. }) => EngineError::permanent_because(
            "the upstream images API failed and asked not to be retried",
            detail,
        ),
        (_, class) => class,
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn run(status: u16, headers: &[(&'static str, &str)], body: &str) -> EngineError {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_str(v).expect("header"));
        }
        let status = StatusCode::from_u16(status).expect("status");
        classify("test", status, &map, body.as_bytes())
    }

    #[test]
    fn refusals_carry_stage_and_categories() {
        let body = r#"{"error":{"message":"Your request was rejected by the safety system. safety_violations=[sexual, 'violence'].","type":"image_generation_user_error","param":null,"code":"moderation_blocked"}}"#;
        match run(400, &[], body) {
            EngineError::Refused {
                stage, categories, ..
            } => {
                assert_eq!(stage, RefusalStage::Output);
                assert_eq!(categories, ["sexual", "violence"]);
            }
            other => panic!("{other:?}"),
        }
        let dalle = r#"{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}"#;
        assert!(matches!(
            run(400, &[], dalle),
            EngineError::Refused {
                stage: RefusalStage::Input,
                ..
            }
        ));
    }

    #[test]
    fn the_retry_header_overrides_the_status() {
        let body = r#"{"error":{"message":"Bad","type":"invalid_request_error","param":null,"code":null}}"#;
        assert!(matches!(
            run(400, &[("x-should-retry", "true"), ("retry-after-ms", "250")], body),
            EngineError::Transient { retry_after: Some(d), .. } if d == Duration::from_millis(250)
        ));
        assert!(matches!(
            run(503, &[("x-should-retry", "false")], "<html>down</html>"),
            EngineError::Permanent { .. }
        ));
    }

    #[test]
    fn operator_parameters_are_misconfiguration_and_others_permanent() {
        let quality = r#"{"error":{"message":"Invalid value: 'ultra'.","type":"invalid_request_error","param":"quality","code":"invalid_value"}}"#;
        assert!(matches!(
            run(400, &[], quality),
            EngineError::Misconfigured { .. }
        ));
        let size = r#"{"error":{"message":"Invalid size '7x7' at https://api.openai.com/v1","type":"invalid_request_error","param":"size","code":"invalid_value"}}"#;
        match run(400, &[], size) {
            EngineError::Permanent { reason, .. } => {
                assert!(reason.contains("Invalid size"), "{reason}");
                assert!(!reason.contains("openai.com"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
