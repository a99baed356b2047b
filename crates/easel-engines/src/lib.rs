//! Easel's model backends ("engines").
//!
//! The server turns a generation job into a [`GenerationRequest`] and hands it to an
//! [`Engine`]; the engine answers with finished [`Artifact`]s or an [`EngineError`] that says
//! whether the job queue may retry. Keeping engines in their own crate keeps the heavy media
//! dependencies (PNG and H.264 encoders) and any backend HTTP clients out of the server's
//! request path, and lets each engine be tested on its own.
//!
//! Built in today: [`Sandbox`], the deterministic procedural engine used by test keys and the
//! out-of-the-box setup. It is not AI, and says so in every output.
#![forbid(unsafe_code)]

mod engine;
pub mod sandbox;

pub use engine::{
    Artifact, CONTENT_TYPE_MP4, CONTENT_TYPE_PNG, Engine, EngineError, GenerationRequest, ModelKind,
};
pub use sandbox::{Sandbox, SandboxSettings};
