//! The optional external classifier: any OpenAI-compatible `POST /v1/moderations`.
//!
//! It runs after the built-in rules (which are free and refuse the obvious), on the
//! prompt, the negative prompt and an input image's metadata text, and, when the operator
//! says the model takes images (`images = true`, as OpenAI's `omni-moderation-*` do), on
//! image outputs sent inline as `data:` URLs.
//!
//! A category counts as flagged by its score against the operator's threshold for it;
//! with no thresholds configured, the classifier's own per-category booleans decide.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::config::{ClassifierConfig, ModerationFailure};

/// Largest answer read; a verdict for a few inputs is a few kilobytes.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// What the classifier decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Clean,
    /// The first flagged category (the classifier's name for it) and its score.
    Flagged {
        category: String,
        score: f64,
    },
    /// The classifier could not answer and `on_error = "fail"`.
    Unavailable(String),
}

/// One input in OpenAI's multimodal moderation shape.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Input<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Serialize)]
struct ImageUrl {
    url: String,
}

#[derive(Serialize)]
struct Request<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    model: &'a str,
    input: Vec<Input<'a>>,
}

#[derive(Deserialize)]
struct Answer {
    results: Vec<Result>,
}

#[derive(Deserialize)]
struct Result {
    #[serde(default)]
    flagged: bool,
    #[serde(default)]
    categories: BTreeMap<String, Option<bool>>,
    #[serde(default)]
    category_scores: BTreeMap<String, Option<f64>>,
}

/// The classifier client; one per process (it pools connections).
pub struct Classifier {
    config: ClassifierConfig,
    client: reqwest::Client,
}

impl Classifier {
    /// The client, or `None` when no classifier is configured.
    pub fn new(config: &ClassifierConfig) -> anyhow::Result<Option<Classifier>> {
        if config.url.is_empty() {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Some(Classifier {
            config: config.clone(),
            client,
        }))
    }

    /// Whether image outputs are sent too.
    pub fn takes_images(&self) -> bool {
        self.config.images
    }

    /// Classifies texts (empty ones are skipped).
    pub async fn texts(&self, texts: &[&str]) -> Decision {
        let input: Vec<Input<'_>> = texts
            .iter()
            .filter(|t| !t.trim().is_empty())
            .map(|text| Input::Text { text })
            .collect();
        if input.is_empty() {
            return Decision::Clean;
        }
        self.decide(input).await
    }

    /// Classifies images given as `(content_type, bytes)`.
    pub async fn images(&self, images: &[(&str, &[u8])]) -> Decision {
        let input: Vec<Input<'_>> = images
            .iter()
            .map(|(content_type, bytes)| Input::ImageUrl {
                image_url: ImageUrl {
                    url: format!(
                        "data:{content_type};base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(bytes)
                    ),
                },
            })
            .collect();
        if input.is_empty() {
            return Decision::Clean;
        }
        self.decide(input).await
    }

    async fn decide(&self, input: Vec<Input<'_>>) -> Decision {
        match self.ask(input).await {
            Ok(answer) => self.judge(&answer),
            Err(why) => match self.config.on_error {
                ModerationFailure::Allow => {
                    tracing::warn!(error = %why, "moderation classifier unavailable; allowing (on_error = allow)");
                    Decision::Clean
                }
                ModerationFailure::Fail => {
                    tracing::warn!(error = %why, "moderation classifier unavailable; refusing (on_error = fail)");
                    Decision::Unavailable(why)
                }
            },
        }
    }

    fn judge(&self, answer: &Answer) -> Decision {
        for result in &answer.results {
            if self.config.thresholds.is_empty() {
                if !result.flagged {
                    continue;
                }
                let category = result
                    .categories
                    .iter()
                    .find(|(_, flagged)| flagged.unwrap_or(false))
                    .map_or("flagged", |(name, _)| name.as_str());
                let score = result
                    .category_scores
                    .get(category)
                    .copied()
                    .flatten()
                    .unwrap_or(1.0);
                return Decision::Flagged {
                    category: category.to_string(),
                    score,
                };
            }
            for (category, threshold) in &self.config.thresholds {
                if let Some(Some(score)) = result.category_scores.get(category)
                    && *score >= *threshold
                {
                    return Decision::Flagged {
                        category: category.clone(),
                        score: *score,
                    };
                }
            }
        }
        Decision::Clean
    }

    async fn ask(&self, input: Vec<Input<'_>>) -> std::result::Result<Answer, String> {
        let expected = input.len();
        let body = Request {
            model: &self.config.model,
            input,
        };
        let mut req = self.client.post(&self.config.url).json(&body);
        if !self.config.api_key.is_empty() {
            req = req.bearer_auth(&self.config.api_key);
        }
        let mut res = req
            .send()
            .await
            .map_err(|e| format!("the classifier could not be reached: {e}"))?;
        let status = res.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| format!("the classifier's answer was cut off: {e}"))?
        {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(format!(
                    "the classifier answered more than {MAX_ANSWER_BYTES} bytes"
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(format!("the classifier answered {status}"));
        }
        let answer: Answer = serde_json::from_slice(&bytes)
            .map_err(|e| format!("the classifier's answer is not a moderation result: {e}"))?;
        // A multimodal request may be answered with one combined result; fewer results
        // than inputs is fine, none at all is not an answer.
        if answer.results.is_empty() && expected > 0 {
            return Err("the classifier answered no results".to_string());
        }
        Ok(answer)
    }
}
