//! `/v1/webhook_deliveries`: one event on its way to one endpoint, with every attempt
//! (the delivery log), and manual replay.

pub mod dto;
pub mod get;
pub mod replay;
