//! `/v1/webhook_endpoints`: where the caller's events are delivered (per mode), their
//! signing secrets and their delivery logs.

pub mod create;
pub mod delete;
pub mod deliveries;
pub mod dto;
pub mod get;
pub mod list;
pub mod rotate;
pub mod update;
