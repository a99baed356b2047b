//! Easel's domain: the rules that do not depend on HTTP or on a database.
//!
//! Everything here is plain data and pure functions (plus argon2 and the OS RNG), so the
//! server, the store and the CLI share one definition of what a key, a role or an account
//! state is. The HTTP layer maps [`DomainError`]s to the error envelope.

#![forbid(unsafe_code)]

pub mod account;
pub mod api_key;
pub mod audit;
pub mod credits;
pub mod email;
pub mod error;
pub mod events;
pub mod ids;
pub mod jobs;
pub mod mode;
pub mod models;
pub mod password;
pub mod roles;
pub mod time;
pub mod worker_token;

pub use error::DomainError;

/// Reads `spelling` the way serde reads it off the wire (a JSON string), so tests can
/// check that `as_str` and the serde spelling agree without a JSON dependency.
#[cfg(test)]
pub(crate) fn from_wire<T: serde::de::DeserializeOwned>(spelling: &str) -> Option<T> {
    use serde::de::IntoDeserializer;
    let wire: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        spelling.into_deserializer();
    T::deserialize(wire).ok()
}
