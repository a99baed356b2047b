//! `/v1/invoices`: the account's monthly invoices, as JSON and as PDF.

pub mod dto;
pub mod get;
pub mod list;
pub mod pdf;

use easel_core::ids::IdKind;

use crate::http::error::{ApiError, ApiResult};

/// A well-formed invoice id, else the 404 a missing one gets.
pub(crate) fn check_id(id: &str) -> ApiResult<()> {
    if IdKind::Invoice.is_valid(id) {
        Ok(())
    } else {
        Err(ApiError::not_found("invoice", id))
    }
}
