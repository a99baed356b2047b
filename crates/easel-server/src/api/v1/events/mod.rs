//! `GET /v1/events`: every state change worth telling a developer, newest first.

pub mod dto;
pub mod list;
