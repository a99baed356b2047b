//! Easel's model backends ("engines").
//!
//! The server turns a generation job into a [`GenerationRequest`] and hands it to an
//! [`Engine`]; the engine answers with raw outputs ([`Produced`]) or an [`EngineError`]
//! classified once for every backend (transient, permanent, refused content,
//! misconfigured, bad output). [`check`] then decodes every output and takes its type, size
//! and length from the bytes. Keeping engines in their own crate keeps the heavy media
//! dependencies and the backend HTTP clients out of the server's request path, and lets
//! each engine be tested on its own against a fake that speaks its wire format.
//!
//! Engines: [`Sandbox`] (built in, deterministic, not AI), [`openai`] (any
//! OpenAI-compatible images API), [`automatic1111`] (AUTOMATIC1111 and Forge) and
//! [`comfyui`] (API-format workflows, images and video). [`registry::build`] makes one from
//! a model's config.
#![forbid(unsafe_code)]

pub mod automatic1111;
pub mod breaker;
pub mod check;
pub mod comfyui;
mod engine;
pub mod http;
pub mod openai;
pub mod registry;
pub mod sandbox;

pub use engine::{
    Artifact, CONTENT_TYPE_JPEG, CONTENT_TYPE_MP4, CONTENT_TYPE_PNG, CONTENT_TYPE_WEBP, Control,
    Engine, EngineError, Generated, GenerationRequest, InputImage, ModelKind, ProbeReport,
    Produced, Progress, RefusalStage, scrub,
};
pub use sandbox::{Sandbox, SandboxSettings};
/// The token that stops background loops such as [`breaker::supervise`].
pub use tokio_util::sync::CancellationToken as StopToken;
