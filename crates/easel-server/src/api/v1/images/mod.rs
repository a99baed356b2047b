//! The OpenAI-compatible endpoints, so the official OpenAI SDKs work with `base_url`
//! pointed at Easel: `POST /v1/images/generations` and `POST /v1/images/edits`.

pub mod edit;
mod form;
pub mod generate;
