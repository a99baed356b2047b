//! The model object, with its prices.

use easel_core::models::{self, Markup, ModelKind, Size};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::ModelConfig;

/// The price of one call: a size, with a count of images or a duration.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceObject {
    /// `WIDTHxHEIGHT`.
    pub size: String,
    pub width: u32,
    pub height: u32,
    /// Images in the call (image models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Seconds of video (video models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u32>,
    /// Whole credits charged in live mode (1 credit = €0.001); test mode is free.
    pub credits: i64,
    /// The same in euros, excluding tax.
    pub eur: String,
    /// The same call at the model's web price (before the API markup), in credits: so
    /// the markup can be checked.
    pub web_credits: i64,
    /// The web price in euros, excluding tax.
    pub web_eur: String,
}

/// A model you can call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelObject {
    /// Always `model`.
    #[schema(value_type = String, example = "model")]
    pub object: &'static str,
    pub id: String,
    pub kind: ModelKind,
    pub description: String,
    /// Sizes accepted, `WIDTHxHEIGHT`.
    pub sizes: Vec<String>,
    /// Most images per call (image models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_n: Option<u32>,
    /// Durations accepted, in seconds (video models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub durations: Option<Vec<u32>>,
    /// Frame rates accepted (video models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fps: Option<Vec<u32>>,
    /// Whether the caller's plan may use this model.
    pub available_on_plan: bool,
    /// The price of every call shape, computed exactly as a generation is charged.
    pub prices: Vec<PriceObject>,
    /// For a model run by remote GPU workers: how many serve it now (0: live jobs wait in
    /// the queue until one connects). Absent for other models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers_online: Option<u32>,
}

impl ModelObject {
    /// Describes a configured model for a caller on `plan`.
    pub fn new(id: &str, m: &ModelConfig, plan: &str, markup: Markup) -> ModelObject {
        let sizes: Vec<Size> = m.sizes.iter().filter_map(|s| Size::parse(s)).collect();
        let mut prices = Vec::new();
        for size in &sizes {
            let quote =
                |price: &dyn Fn(Markup) -> i64, n: Option<u32>, duration_seconds: Option<u32>| {
                    let (credits, web_credits) = (price(markup), price(Markup::NONE));
                    PriceObject {
                        size: size.to_string(),
                        width: size.width,
                        height: size.height,
                        n,
                        duration_seconds,
                        credits,
                        eur: models::credits_to_eur(credits),
                        web_credits,
                        web_eur: models::credits_to_eur(web_credits),
                    }
                };
            match m.kind {
                ModelKind::Image => {
                    for n in 1..=m.max_n {
                        let price = |k| models::image_price(m.web_price, *size, n, k);
                        prices.push(quote(&price, Some(n), None));
                    }
                }
                ModelKind::Video => {
                    for seconds in &m.durations {
                        let price = |k| models::video_price(m.web_price, *size, *seconds, k);
                        prices.push(quote(&price, None, Some(*seconds)));
                    }
                }
            }
        }
        let video = m.kind == ModelKind::Video;
        ModelObject {
            object: "model",
            id: id.to_string(),
            kind: m.kind,
            description: m.description.clone(),
            sizes: sizes.iter().map(ToString::to_string).collect(),
            max_n: (!video).then_some(m.max_n),
            durations: video.then(|| m.durations.clone()),
            fps: video.then(|| m.fps.clone()),
            available_on_plan: m.plans.is_empty() || m.plans.iter().any(|p| p == plan),
            prices,
            workers_online: None,
        }
    }
}
