//! `POST /v1/abuse_reports`: report a generation, with or without an API key.

pub mod create;
pub mod dto;
