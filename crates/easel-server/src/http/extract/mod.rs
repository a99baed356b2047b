//! Extractors that turn every rejection into a precise envelope error.

mod caller;
mod json;
mod messages;
mod query;

pub use caller::Caller;
pub use json::{Json, OptionalJson};
pub use query::Query;

pub(crate) use messages::serde_error;
