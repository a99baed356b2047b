//! Fake model backends for the tests: small servers on loopback that speak each
//! backend's real wire format (FIELD-NOTES.md §1–3), including its error shapes and
//! quirks, record what they received, and can be told to misbehave.
//!
//! They stand in for systems outside Easel (a GPU box running ComfyUI or AUTOMATIC1111, a
//! third-party images API); Easel's own parts are never faked.

pub mod automatic1111;
pub mod comfyui;
pub mod images;
pub mod openai;
