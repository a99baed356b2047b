//! `GET /v1/audit_log`.

pub mod dto;
pub mod list;
