//! `POST /v1/moderations`, in OpenAI's wire format: a developer screens their end users'
//! text with Easel's own content policy (and the classifier, when the operator runs one)
//! before sending it to a model, as clause 9 asks. Free: no credits, no strike; the rate
//! limits apply as to any call.

use std::collections::BTreeMap;

use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::v1::tags;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::http::extract::{Caller, Json as JsonBody};
use crate::services::moderation::{Screened, unavailable};

/// Most texts in one call.
const MAX_INPUTS: usize = 32;
/// Longest text, in characters.
const MAX_CHARS: usize = 32_768;

/// OpenAI's thirteen categories, all present in every result.
const CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

/// OpenAI's categories an Easel policy category falls under (none for the ones OpenAI has
/// no name for, such as `intellectual_property`: `flagged` and `easel_category` say it).
fn openai_categories(category: &str) -> &'static [&'static str] {
    match category {
        "sexual_minors" => &["sexual", "sexual/minors"],
        "non_consensual_imagery" => &["sexual", "harassment"],
        "violence" => &["violence"],
        "hate" => &["hate"],
        "harassment" => &["harassment"],
        "fraud" => &["illicit"],
        other => CATEGORIES
            .iter()
            .find(|c| **c == other)
            .map_or(&[], std::slice::from_ref),
    }
}

/// OpenAI's moderation request: `input` is a string, an array of strings, or an array of
/// `{"type": "text", "text": …}` parts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModerationRequest {
    #[schema(value_type = Object)]
    pub input: Value,
    /// Accepted for compatibility (`omni-moderation-latest`, …); Easel's policy answers.
    pub model: Option<String>,
}

/// One input's verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModerationResult {
    /// Whether the text breaks the content policy (a generation with it would be refused).
    pub flagged: bool,
    /// OpenAI's thirteen categories.
    pub categories: BTreeMap<&'static str, bool>,
    /// 1.0 for a rule that matched, the classifier's score for its category, else 0.0.
    pub category_scores: BTreeMap<&'static str, f64>,
    /// `["text"]` for every category.
    pub category_applied_input_types: BTreeMap<&'static str, Vec<&'static str>>,
    /// Easel's own name of the category that matched (`intellectual_property`, `fraud`, …),
    /// or null.
    pub easel_category: Option<String>,
}

/// OpenAI's moderation response: one result per input, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModerationResponse {
    /// `modr-…`
    pub id: String,
    pub model: String,
    pub results: Vec<ModerationResult>,
}

/// The texts of `input`, or `parameter_invalid` naming the part at fault.
fn texts(input: &Value) -> ApiResult<Vec<String>> {
    let bad = |param: String, message: &str| Err(ApiError::invalid(param, message.to_string()));
    let parts: Vec<&Value> = match input {
        Value::String(_) => vec![input],
        Value::Array(items) if !items.is_empty() && items.len() <= MAX_INPUTS => {
            items.iter().collect()
        }
        Value::Array(_) => {
            return bad(
                "input".into(),
                &format!("`input` is 1 to {MAX_INPUTS} texts."),
            );
        }
        _ => {
            return bad(
                "input".into(),
                "`input` is a string, an array of strings, or an array of text parts.",
            );
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let param = if input.is_array() {
            format!("input[{i}]")
        } else {
            "input".into()
        };
        let text = match part {
            Value::String(s) => s.as_str(),
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("text") => {
                match o.get("text").and_then(Value::as_str) {
                    Some(t) => t,
                    None => return bad(format!("{param}.text"), "A text part needs `text`."),
                }
            }
            Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("image_url") => {
                return bad(
                    param,
                    "This server screens text only; send the image's caption or prompt as text.",
                );
            }
            _ => return bad(param, "Each input is a string or a `text` part."),
        };
        if text.chars().count() > MAX_CHARS {
            return bad(param, &format!("A text is at most {MAX_CHARS} characters."));
        }
        out.push(text.to_string());
    }
    Ok(out)
}

/// The verdict of one screened text, in OpenAI's shape.
fn result(screened: Screened) -> ModerationResult {
    let mut categories: BTreeMap<&'static str, bool> =
        CATEGORIES.iter().map(|c| (*c, false)).collect();
    let mut scores: BTreeMap<&'static str, f64> = CATEGORIES.iter().map(|c| (*c, 0.0)).collect();
    let types = CATEGORIES.iter().map(|c| (*c, vec!["text"])).collect();
    let (flagged, easel_category) = match screened {
        Screened::Clean => (false, None),
        Screened::Flagged { category, score } => {
            for c in openai_categories(&category) {
                categories.insert(c, true);
                scores.insert(c, score);
            }
            (true, Some(category))
        }
    };
    ModerationResult {
        flagged,
        categories,
        category_scores: scores,
        category_applied_input_types: types,
        easel_category,
    }
}

/// Check text against the content policy (OpenAI-compatible)
///
/// OpenAI's `moderations.create`, answered by this server's content policy (the rules that
/// refuse generation prompts, and the operator's classifier when one is configured): screen
/// an end user's text before you send it, free of charge and without a strike. `input` is a
/// string or up to 32 texts (strings or `{"type": "text"}` parts; images are refused);
/// each result has OpenAI's thirteen categories, and `easel_category` names the policy's
/// own category (some, such as `intellectual_property`, have no OpenAI name: `flagged` is
/// true all the same).
#[utoipa::path(
    post,
    path = "/v1/moderations",
    tag = tags::MODERATION,
    operation_id = "create_moderation_openai",
    security(("api_key" = [])),
    request_body = ModerationRequest,
    responses(
        (status = 200, description = "One result per input", body = ModerationResponse),
        (status = "4XX", description = "Error", body = ErrorEnvelope),
        (status = "5XX", description = "Error", body = ErrorEnvelope),
    )
)]
pub async fn create_moderation(
    state: AppState,
    _caller: Caller,
    JsonBody(body): JsonBody<ModerationRequest>,
) -> ApiResult<Json<ModerationResponse>> {
    let texts = texts(&body.input)?;
    let mut results = Vec::with_capacity(texts.len());
    for text in &texts {
        let screened = state
            .moderation
            .screen(text)
            .await
            .map_err(|why| unavailable(&why))?;
        results.push(result(screened));
    }
    let model = if state.moderation.classifier.is_some() {
        "easel-policy+classifier"
    } else {
        "easel-policy"
    };
    Ok(Json(ModerationResponse {
        id: format!("modr-{:032x}", rand::random::<u128>()),
        model: model.to_string(),
        results,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_take_openai_shapes_and_refuse_the_rest() {
        let ok = |v: Value| texts(&v).map_err(|e| e.code);
        assert_eq!(ok(serde_json::json!("hi")), Ok(vec!["hi".to_string()]));
        assert_eq!(
            ok(serde_json::json!(["a", {"type": "text", "text": "b"}])),
            Ok(vec!["a".to_string(), "b".to_string()])
        );
        let param = |v: Value| {
            texts(&v)
                .err()
                .and_then(|e| e.param.map(|p| p.into_owned()))
        };
        assert_eq!(param(serde_json::json!(5)).as_deref(), Some("input"));
        assert_eq!(param(serde_json::json!([])).as_deref(), Some("input"));
        assert_eq!(
            param(serde_json::json!(["a", {"type": "image_url", "image_url": {"url": "x"}}]))
                .as_deref(),
            Some("input[1]")
        );
        assert_eq!(
            param(serde_json::json!([{"type": "text"}])).as_deref(),
            Some("input[0].text")
        );
        assert_eq!(
            param(serde_json::json!(vec!["a"; MAX_INPUTS + 1])).as_deref(),
            Some("input")
        );
    }

    #[test]
    fn every_result_names_all_thirteen_categories() {
        let r = result(Screened::Flagged {
            category: "sexual_minors".into(),
            score: 1.0,
        });
        assert!(r.flagged);
        assert_eq!(r.categories.len(), 13);
        assert!(r.categories["sexual/minors"]);
        assert!(!r.categories["violence"]);
        assert_eq!(r.category_scores["sexual"], 1.0);
        let ip = result(Screened::Flagged {
            category: "intellectual_property".into(),
            score: 1.0,
        });
        assert!(ip.flagged && ip.categories.values().all(|v| !v));
        assert_eq!(ip.easel_category.as_deref(), Some("intellectual_property"));
        assert!(!result(Screened::Clean).flagged);
    }
}
