//! `/v1/generations`: make images and videos, follow them, cancel and delete them.

pub mod cancel;
pub mod create;
pub mod delete;
pub mod dto;
pub mod get;
pub mod list;
pub mod outputs;
pub mod quote;

use axum::http::HeaderMap;
use easel_core::ids::IdKind;

use crate::http::error::{ApiError, ApiResult};

/// A well-formed generation id, else the 404 a missing one gets.
pub(crate) fn check_id(id: &str) -> ApiResult<()> {
    if IdKind::Generation.is_valid(id) {
        Ok(())
    } else {
        Err(ApiError::not_found("generation", id))
    }
}

/// The `wait` preference of a `Prefer` header (RFC 7240), in seconds, if any.
pub(crate) fn preferred_wait(headers: &HeaderMap) -> Option<u64> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|pref| {
            let (name, value) = pref.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("wait") {
                return None;
            }
            value.trim().trim_matches('"').parse::<u64>().ok()
        })
        .next()
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn wait_is_read_from_any_position_of_prefer() {
        let mut h = HeaderMap::new();
        assert_eq!(super::preferred_wait(&h), None);
        h.insert("prefer", HeaderValue::from_static("respond-async, wait=10"));
        assert_eq!(super::preferred_wait(&h), Some(10));
        h.insert("prefer", HeaderValue::from_static("WAIT = \"7\""));
        assert_eq!(super::preferred_wait(&h), Some(7));
        h.insert("prefer", HeaderValue::from_static("wait=-1"));
        assert_eq!(super::preferred_wait(&h), None);
        h.insert("prefer", HeaderValue::from_static("handling=lenient"));
        assert_eq!(super::preferred_wait(&h), None);
    }
}
