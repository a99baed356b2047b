//! Moderation: what goes into the models and what comes out of them.
//!
//! Input moderation ([`Moderation::check`]) runs on every generation request before
//! anything is held or queued: the built-in rules (`easel-moderation`) on the prompt, the
//! negative prompt and the input image's metadata ([`metadata`]), then the optional
//! classifier ([`classifier`]). A refusal is a strike ([`refuse`]). Output moderation
//! ([`output`]) asks an operator-run hook, and the classifier when it takes images, about
//! every generation's outputs before the generation may succeed.

pub mod classifier;
pub mod metadata;
pub mod output;

use easel_db::{NewStrike, StrikeSource};

use crate::app::AppState;
use crate::auth::Caller;
use crate::config::Config;
use crate::http::error::{ApiError, ErrorCode};
use classifier::{Classifier, Decision};

/// The input side of moderation, built once at start.
pub struct Moderation {
    policy: easel_moderation::Policy,
    /// The external classifier, when one is configured (also used for image outputs).
    pub classifier: Option<Classifier>,
}

/// What a generation request submits, as moderation sees it.
pub struct Submission<'a> {
    pub prompt: &'a str,
    pub negative_prompt: Option<&'a str>,
    /// The decoded input image, whose metadata is read.
    pub image: Option<&'a [u8]>,
    /// Its content type (`image/png`, …), for the classifier.
    pub image_type: Option<&'a str>,
}

/// Why a request was refused.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The content category.
    pub category: String,
    /// What matched (for the operator's audit log and the strike, never for the caller).
    pub detail: String,
    /// The request field that carried it.
    pub param: &'static str,
}

/// The outcome of input moderation.
#[derive(Debug)]
pub enum Verdict {
    Allowed,
    Refused(Refusal),
    /// The classifier could not answer and the operator chose to fail closed.
    Unavailable(String),
}

impl Moderation {
    /// Builds the policy (validated at config load) and the classifier client.
    pub fn new(config: &Config) -> anyhow::Result<Moderation> {
        let policy = easel_moderation::Policy::new(&config.moderation.input)
            .map_err(|e| anyhow::anyhow!("moderation.input: {e}"))?;
        Ok(Moderation {
            policy,
            classifier: Classifier::new(&config.moderation.classifier)?,
        })
    }

    /// Checks a submission: the built-in rules field by field, then the classifier on all
    /// of it at once.
    pub async fn check(&self, s: &Submission<'_>) -> Verdict {
        let metadata = s.image.map(metadata::texts).unwrap_or_default();
        let by_rules = |param: &'static str, v: easel_moderation::Violation| {
            Verdict::Refused(Refusal {
                category: v.category,
                detail: v.rule,
                param,
            })
        };
        if let Some(v) = self.policy.check(s.prompt) {
            return by_rules("prompt", v);
        }
        if let Some(v) = s.negative_prompt.and_then(|n| self.policy.check(n)) {
            return by_rules("negative_prompt", v);
        }
        if let Some(v) = self.policy.check_all(metadata.iter().map(String::as_str)) {
            return by_rules("input_image", v);
        }
        let Some(classifier) = &self.classifier else {
            return Verdict::Allowed;
        };
        let mut texts = vec![s.prompt];
        texts.extend(s.negative_prompt);
        texts.extend(metadata.iter().map(String::as_str));
        match classifier.texts(&texts).await {
            Decision::Clean => {}
            Decision::Flagged { category, score } => {
                return Verdict::Refused(Refusal {
                    detail: format!("classifier: {category} scored {score:.3}"),
                    category,
                    param: "prompt",
                });
            }
            Decision::Unavailable(why) => return Verdict::Unavailable(why),
        }
        // The picture itself, now that it reaches the model (a classifier that takes
        // images, as OpenAI's omni-moderation models do).
        let (Some(image), true) = (s.image, classifier.takes_images()) else {
            return Verdict::Allowed;
        };
        let content_type = s.image_type.unwrap_or("image/png");
        match classifier.images(&[(content_type, image)]).await {
            Decision::Clean => Verdict::Allowed,
            Decision::Flagged { category, score } => Verdict::Refused(Refusal {
                detail: format!("classifier (input image): {category} scored {score:.3}"),
                category,
                param: "input_image",
            }),
            Decision::Unavailable(why) => Verdict::Unavailable(why),
        }
    }
}

/// What screening one text found (`POST /v1/moderations`): the built-in rules' category,
/// else the classifier's, with its score. No strike: the developer is checking their end
/// user's text before sending it.
#[derive(Debug, Clone, PartialEq)]
pub enum Screened {
    Clean,
    Flagged { category: String, score: f64 },
}

impl Moderation {
    /// Screens `text` with the rules, then the classifier (when configured).
    pub async fn screen(&self, text: &str) -> Result<Screened, String> {
        if let Some(v) = self.policy.check(text) {
            return Ok(Screened::Flagged {
                category: v.category,
                score: 1.0,
            });
        }
        let Some(classifier) = &self.classifier else {
            return Ok(Screened::Clean);
        };
        match classifier.texts(&[text]).await {
            Decision::Clean => Ok(Screened::Clean),
            Decision::Flagged { category, score } => Ok(Screened::Flagged { category, score }),
            Decision::Unavailable(why) => Err(why),
        }
    }
}

/// Records the refusal as a strike against the account (and its end user) and returns
/// the 400 the caller gets. A strike that suspends the account takes effect at once.
pub async fn refuse(
    state: &AppState,
    caller: &Caller,
    end_user: Option<&str>,
    refusal: Refusal,
) -> ApiError {
    let strike = NewStrike {
        account_id: caller.account_id.clone(),
        mode: caller.mode,
        end_user: end_user.map(str::to_string),
        source: StrikeSource::Moderation,
        category: refusal.category.clone(),
        detail: refusal.detail.clone(),
        request_id: Some(caller.request_id.clone()),
        abuse_report_id: None,
    };
    let audit = caller.audit().with("param", refusal.param);
    let policy = state.config.moderation.strikes.policy();
    match state.store.record_strike(strike, policy, audit).await {
        Ok(outcome) => {
            if let Some(account) = outcome.suspended {
                tracing::warn!(account.id = %account.id, strikes = outcome.strikes_in_window, "account suspended after repeated content policy violations");
                state.auth.invalidate_account(&account.id);
            }
        }
        Err(e) => {
            tracing::error!(account.id = %caller.account_id, error = %e, "could not record a moderation strike");
        }
    }
    ApiError::new(
        ErrorCode::content_policy_violation,
        format!(
            "The request was refused by the content policy (category: {}). Repeated violations suspend the account.",
            refusal.category
        ),
    )
    .param(refusal.param)
    .details(serde_json::json!({"category": refusal.category}))
}

/// The 503 a request gets when the classifier could not answer and moderation fails
/// closed.
pub fn unavailable(why: &str) -> ApiError {
    tracing::warn!(
        error = why,
        "input moderation unavailable; refusing the request"
    );
    ApiError::new(
        ErrorCode::moderation_unavailable,
        "Content moderation is temporarily unavailable, so the request was not accepted; nothing was charged. Retry shortly.",
    )
    .retry_after(5)
}
