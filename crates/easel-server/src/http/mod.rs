//! HTTP plumbing shared by every route: errors, extractors, middleware, pagination.

pub mod conn;
pub mod csv;
pub mod deprecation;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod linger;
pub mod middleware;
pub mod pagination;
pub mod text;
