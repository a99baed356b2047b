//! `GET /v1/requests`: the caller's API request log, as JSON pages or a CSV export.

pub mod list;
