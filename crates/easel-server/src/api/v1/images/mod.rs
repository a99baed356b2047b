//! `POST /v1/images/generations`: the OpenAI-compatible endpoint, so the official OpenAI
//! SDKs work with `base_url` pointed at Easel.

pub mod generate;
