//! `/v1/keys`: list, create, retrieve, rotate, revoke.

pub mod create;
pub mod dto;
pub mod get;
pub mod list;
pub mod revoke;
pub mod rotate;
