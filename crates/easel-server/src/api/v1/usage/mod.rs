//! `GET /v1/usage`: what was generated and spent, by day, model and key.

pub mod get;
