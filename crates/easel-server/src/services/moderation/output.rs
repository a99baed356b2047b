//! The output-moderation hook: before a generation is marked succeeded, its outputs are
//! POSTed to the operator's hook, which answers whether they may be delivered.
//!
//! The outputs travel inline (base64), not as URLs: they are not stored yet, so a flagged
//! output never touches the object store, and the hook needs no route back to Easel.

use std::time::Duration;

use base64::Engine as _;
use easel_db::Generation;
use easel_engines::Artifact;
use serde::{Deserialize, Serialize};

use crate::config::{ModerationFailure, OutputModerationConfig};

/// Largest hook answer read; a verdict is a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the hook decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver the outputs.
    Clean,
    /// Withhold them.
    Flagged {
        categories: Vec<String>,
        reason: Option<String>,
    },
    /// The hook could not answer and `on_error = "fail"`: the generation fails unbilled.
    Unavailable(String),
}

/// The hook client; one per process (it pools connections).
pub struct OutputModerator {
    config: OutputModerationConfig,
    client: reqwest::Client,
}

#[derive(Serialize)]
struct HookRequest<'a> {
    generation: HookGeneration<'a>,
    outputs: Vec<HookOutput<'a>>,
}

#[derive(Serialize)]
struct HookGeneration<'a> {
    id: &'a str,
    account_id: &'a str,
    livemode: bool,
    model: &'a str,
    kind: &'static str,
    prompt: Option<&'a str>,
    negative_prompt: Option<&'a str>,
    user: Option<&'a str>,
}

#[derive(Serialize)]
struct HookOutput<'a> {
    index: usize,
    content_type: &'a str,
    width: u32,
    height: u32,
    duration_seconds: Option<f64>,
    bytes: usize,
    data: String,
}

#[derive(Deserialize)]
struct HookAnswer {
    flagged: bool,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    reason: Option<String>,
}

impl OutputModerator {
    /// The hook client, or `None` when no hook is configured.
    pub fn new(config: &OutputModerationConfig) -> anyhow::Result<Option<OutputModerator>> {
        if !config.enabled() {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            // The hook is the operator's own service: a redirect is a misconfiguration.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Some(OutputModerator {
            config: config.clone(),
            client,
        }))
    }

    /// Asks the hook about a generation's outputs. A hook that cannot answer yields
    /// `Clean` (with a warning) or `Unavailable`, as `on_error` says.
    pub async fn check(&self, g: &Generation, artifacts: &[Artifact]) -> Verdict {
        match self.ask(g, artifacts).await {
            Ok(answer) if answer.flagged => Verdict::Flagged {
                categories: answer.categories,
                reason: answer.reason.filter(|r| !r.is_empty()),
            },
            Ok(_) => Verdict::Clean,
            Err(why) => match self.config.on_error {
                ModerationFailure::Allow => {
                    tracing::warn!(generation.id = %g.id, error = %why, "output moderation unavailable; delivering unchecked (on_error = allow)");
                    Verdict::Clean
                }
                ModerationFailure::Fail => {
                    tracing::warn!(generation.id = %g.id, error = %why, "output moderation unavailable; failing the generation (on_error = fail)");
                    Verdict::Unavailable(why)
                }
            },
        }
    }

    async fn ask(&self, g: &Generation, artifacts: &[Artifact]) -> Result<HookAnswer, String> {
        let text = |key: &str| g.input.get(key).and_then(serde_json::Value::as_str);
        let body = HookRequest {
            generation: HookGeneration {
                id: &g.id,
                account_id: &g.account_id,
                livemode: g.mode.is_live(),
                model: &g.model,
                kind: g.kind.as_str(),
                prompt: text("prompt"),
                negative_prompt: text("negative_prompt"),
                user: g.end_user.as_deref(),
            },
            outputs: artifacts
                .iter()
                .enumerate()
                .map(|(index, a)| HookOutput {
                    index,
                    content_type: a.content_type,
                    width: a.width,
                    height: a.height,
                    duration_seconds: a.duration_seconds,
                    bytes: a.bytes.len(),
                    data: base64::engine::general_purpose::STANDARD.encode(&a.bytes),
                })
                .collect(),
        };
        let mut req = self.client.post(&self.config.hook_url).json(&body);
        if !self.config.hook_token.is_empty() {
            req = req.bearer_auth(&self.config.hook_token);
        }
        let mut res = req
            .send()
            .await
            .map_err(|e| format!("the hook could not be reached: {e}"))?;
        let status = res.status();
        let mut answer = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| format!("the hook's answer was cut off: {e}"))?
        {
            if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(format!(
                    "the hook answered more than {MAX_ANSWER_BYTES} bytes"
                ));
            }
            answer.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(format!("the hook answered {status}"));
        }
        serde_json::from_slice(&answer).map_err(|e| {
            format!("the hook's answer is not a verdict ({{\"flagged\": bool, …}}): {e}")
        })
    }
}

/// The message a developer sees on a generation whose outputs were withheld.
pub fn blocked_message(categories: &[String]) -> String {
    if categories.is_empty() {
        "The outputs were withheld by output moderation.".to_string()
    } else {
        format!(
            "The outputs were withheld by output moderation (categories: {}).",
            categories.join(", ")
        )
    }
}

/// Runs output moderation on a generation's outputs: the hook, then the classifier on
/// image outputs when it takes images. `None`: no output moderation is configured.
pub async fn moderate(
    app: &crate::app::App,
    g: &Generation,
    artifacts: &[Artifact],
) -> Option<Verdict> {
    let classifier = app
        .moderation
        .classifier
        .as_ref()
        .filter(|c| c.takes_images());
    if app.output_moderator.is_none() && classifier.is_none() {
        return None;
    }
    if let Some(hook) = &app.output_moderator {
        let verdict = hook.check(g, artifacts).await;
        if verdict != Verdict::Clean {
            return Some(verdict);
        }
    }
    let Some(classifier) = classifier else {
        return Some(Verdict::Clean);
    };
    let images: Vec<(&str, &[u8])> = artifacts
        .iter()
        .filter(|a| a.content_type.starts_with("image/"))
        .map(|a| (a.content_type, a.bytes.as_ref()))
        .collect();
    Some(match classifier.images(&images).await {
        super::classifier::Decision::Clean => Verdict::Clean,
        super::classifier::Decision::Flagged { category, score } => Verdict::Flagged {
            categories: vec![category],
            reason: Some(format!("classifier score {score:.3}")),
        },
        super::classifier::Decision::Unavailable(why) => Verdict::Unavailable(why),
    })
}
