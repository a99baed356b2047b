//! `GET /v1/models`: what can be generated, at which sizes, and what each call costs.

pub mod dto;
pub mod list;
