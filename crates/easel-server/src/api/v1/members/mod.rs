//! `/v1/account/members`: list, add, change role, remove.

pub mod add;
pub mod dto;
pub mod list;
pub mod remove;
pub mod update;
