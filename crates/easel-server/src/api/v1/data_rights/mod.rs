//! `/v1/account/exports` and `/v1/account/erasure`: the owner's data rights (clause 13).
//! Status and cancellation of an erasure live in the console: a requested erasure suspends
//! the account, and a suspended account's keys answer nothing else.

pub mod create_export;
pub mod download_export;
pub mod dto;
pub mod get_export;
pub mod list_exports;
pub mod request_erasure;
