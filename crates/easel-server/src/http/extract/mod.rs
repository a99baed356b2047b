//! Extractors that turn every rejection into a precise envelope error.

mod caller;
mod json;
mod query;

pub use caller::Caller;
pub use json::{Json, OptionalJson};
pub use query::Query;

use super::error::{ApiError, ErrorCode};

/// Maps a serde error with its path to `parameter_unknown`, `parameter_missing` or
/// `parameter_invalid`, naming the parameter.
pub(crate) fn serde_error(path: &serde_path_to_error::Path, message: &str) -> ApiError {
    let base = path.to_string();
    let base = if base == "." { String::new() } else { base };
    // serde_path_to_error already includes an unknown field in the path, not a missing one.
    let join = |field: &str| {
        if base.is_empty() || base == field || base.ends_with(&format!(".{field}")) {
            if base.is_empty() {
                field.to_string()
            } else {
                base.clone()
            }
        } else {
            format!("{base}.{field}")
        }
    };
    let quoted = message.split('`').nth(1).unwrap_or_default();
    // Messages from serde look like "unknown field `x`, expected ..." and "missing field `x`".
    let (code, param, text) = if message.starts_with("unknown field") {
        (
            ErrorCode::parameter_unknown,
            join(quoted),
            format!("Unknown parameter `{}`.", join(quoted)),
        )
    } else if message.starts_with("missing field") {
        (
            ErrorCode::parameter_missing,
            join(quoted),
            format!("Missing required parameter `{}`.", join(quoted)),
        )
    } else {
        let shown = if base.is_empty() {
            "the body".to_string()
        } else {
            format!("`{base}`")
        };
        let detail = message.split(" at line ").next().unwrap_or(message);
        (
            ErrorCode::parameter_invalid,
            base.clone(),
            format!("Invalid value for {shown}: {detail}."),
        )
    };
    let error = ApiError::new(code, text);
    if param.is_empty() {
        error
    } else {
        error.param(param)
    }
}
