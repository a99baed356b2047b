//! OpenAI's images API as it is on the wire, named as OpenAI names it (openai-python
//! `types/image_generate_params.py`, `image_edit_params.py`, `images_response.py`, and
//! the error envelope of `_exceptions.py`; FIELD-NOTES.md §3).
//!
//! Answers are read leniently (unknown fields ignored, most fields optional) because
//! "OpenAI-compatible" gateways add and drop fields; requests carry only what is set, so a
//! gateway never sees a parameter the operator did not ask for.

use serde::{Deserialize, Serialize};

/// `POST /images/generations` body (`ImageGenerateParams`).
#[derive(Debug, Clone, Serialize)]
pub struct ImageGenerateParams<'a> {
    pub model: &'a str,
    pub prompt: &'a str,
    pub n: u32,
    /// `"WxH"`.
    pub size: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_format: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<&'a str>,
}

impl ImageGenerateParams<'_> {
    /// The text fields of the same request as `POST /images/edits` sends them
    /// (`ImageEditParams`, multipart). `moderation` is a generations-only parameter, so
    /// it is left out: the edits endpoint answers 400 to parameters it does not know.
    #[must_use]
    pub fn edit_fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("model", self.model.to_owned()),
            ("prompt", self.prompt.to_owned()),
            ("n", self.n.to_string()),
            ("size", self.size.clone()),
        ];
        let optional = [
            ("quality", self.quality),
            ("output_format", self.output_format),
            ("background", self.background),
            ("response_format", self.response_format),
        ];
        fields.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| value.map(|v| (name, v.to_owned()))),
        );
        fields
    }
}

/// The answer of both image endpoints (`ImagesResponse`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImagesResponse {
    /// Missing or `null` in some gateways' empty answers; treated as no images.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub data: Vec<Image>,
    /// Token counts (GPT image models only), kept raw for the operator.
    #[serde(default)]
    pub usage: Option<serde_json::Value>,
    /// Some gateways answer 200 with an error envelope instead of an error status.
    #[serde(default)]
    pub error: Option<ApiError>,
}

/// One image of an answer (`Image`): base64 (GPT image models, or DALL·E with
/// `response_format=b64_json`) or a URL valid for an hour (DALL·E's default). DALL·E 3's
/// `revised_prompt` is not kept: Easel records the prompt the user sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Image {
    #[serde(default)]
    pub b64_json: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// `{"error": {...}}`, the envelope of every OpenAI error answer.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ApiError,
}

/// The body of an error (`APIError`: `message`, `type`, `param`, `code`; `type` adds
/// nothing `code` and the status do not say), plus the `moderation_details` GPT image
/// models add to a `moderation_blocked` refusal.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    /// A string at OpenAI; gateways sometimes send the HTTP status as a number.
    #[serde(default, deserialize_with = "string_or_number")]
    pub code: Option<String>,
    #[serde(default)]
    pub moderation_details: Option<ModerationDetails>,
}

/// Where the safety system stopped a GPT image request and why.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ModerationDetails {
    /// `input` or `output`.
    #[serde(default)]
    pub moderation_stage: Option<String>,
    #[serde(default)]
    pub categories: Vec<String>,
}

/// `GET /models` (`SyncPage[Model]`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ModelsPage {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub data: Vec<Model>,
}

/// One listed model; only its id matters here.
#[derive(Debug, Clone, Deserialize)]
pub struct Model {
    pub id: String,
}

fn null_as_empty<'de, D, T>(de: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(de)?.unwrap_or_default())
}

fn string_or_number<'de, D>(de: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(match Option::<serde_json::Value>::deserialize(de)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moderation_refusal_parses_with_its_details() {
        let body = br#"{"error":{"message":"Your request was rejected by the safety system. safety_violations=[sexual].","type":"image_generation_user_error","param":null,"code":"moderation_blocked","moderation_details":{"moderation_stage":"output","categories":["sexual"]}}}"#;
        let e: ErrorEnvelope = serde_json::from_slice(body).expect("envelope");
        assert_eq!(e.error.code.as_deref(), Some("moderation_blocked"));
        let details = e.error.moderation_details.expect("details");
        assert_eq!(details.moderation_stage.as_deref(), Some("output"));
        assert_eq!(details.categories, ["sexual"]);
    }

    #[test]
    fn gateway_quirks_parse() {
        let e: ErrorEnvelope =
            serde_json::from_slice(br#"{"error":{"message":"x","code":429}}"#).expect("envelope");
        assert_eq!(e.error.code.as_deref(), Some("429"));
        let r: ImagesResponse = serde_json::from_slice(br#"{"data":null}"#).expect("answer");
        assert!(r.data.is_empty());
    }

    #[test]
    fn edits_leave_out_the_generations_only_moderation() {
        let params = ImageGenerateParams {
            model: "gpt-image-1",
            prompt: "a fox",
            n: 2,
            size: "64x64".to_owned(),
            quality: Some("low"),
            output_format: None,
            background: None,
            moderation: Some("low"),
            response_format: None,
        };
        let fields = params.edit_fields();
        let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["model", "prompt", "n", "size", "quality"]);
    }
}
