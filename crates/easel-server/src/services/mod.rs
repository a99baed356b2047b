//! Use cases shared by the API handlers, the operator CLI and (later) the console:
//! validation first, then one store call that does the whole change atomically.

pub mod abuse;
pub mod accounts;
pub mod bootstrap;
pub mod checkout;
pub mod credits;
pub mod generations;
pub mod invitations;
pub mod invoices;
pub mod keys;
pub mod leaks;
pub mod maintenance;
pub mod moderation;
pub mod run_stats;
pub mod signup;
pub mod stripe_api;
pub mod subscriptions;
pub mod terms;
pub(crate) mod text;
pub mod webhooks;

use easel_db::DbError;

use crate::http::error::ApiError;

/// Maps a store `NotFound` to a 404 naming the resource and id; other errors as usual.
pub(crate) trait OrNotFound<T> {
    fn or_not_found(self, resource: &str, id: &str) -> Result<T, ApiError>;
}

impl<T> OrNotFound<T> for Result<T, DbError> {
    #[track_caller]
    fn or_not_found(self, resource: &str, id: &str) -> Result<T, ApiError> {
        match self {
            Ok(v) => Ok(v),
            Err(DbError::NotFound) => Err(ApiError::not_found(resource, id)),
            Err(e) => Err(e.into()),
        }
    }
}
