//! `GET /v1/account`.

pub mod dto;
pub mod get;
