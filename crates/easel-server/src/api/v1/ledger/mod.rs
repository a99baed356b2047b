//! `GET /v1/ledger` and `GET /v1/balance`: every movement of credits, and where they stand.

pub mod balance;
pub mod dto;
pub mod list;
