//! Serde's errors, told in the API's own words.
//!
//! serde describes what it expected in Rust terms ("expected struct CreateGenerationRequest
//! with 13 elements", "expected u32", "unknown variant"). Clients never see those: each
//! shape serde produces (wrong type, value out of range, wrong length, unknown or duplicate
//! or missing field, unknown enum value, a `FromStr` failure in a query string) is mapped
//! to a sentence about the parameter and JSON types, and anything unrecognised that still
//! reads like Rust is replaced by a generic sentence rather than passed through.

use crate::http::error::{ApiError, ErrorCode};

/// Maps a serde error at `path` to `parameter_unknown`, `parameter_missing` or
/// `parameter_invalid`, naming the parameter.
pub(crate) fn serde_error(path: &serde_path_to_error::Path, message: &str) -> ApiError {
    let base = path.to_string();
    let base = if base == "." { String::new() } else { base };
    // The message without serde_json's position suffix.
    let message = message.split(" at line ").next().unwrap_or(message);
    let quoted = message.split('`').nth(1).unwrap_or_default();
    if message.starts_with("unknown field") {
        let param = join(&base, quoted);
        return ApiError::new(
            ErrorCode::parameter_unknown,
            format!("Unknown parameter `{param}`."),
        )
        .param(param);
    }
    if message.starts_with("missing field") {
        let param = join(&base, quoted);
        return ApiError::new(
            ErrorCode::parameter_missing,
            format!("Missing required parameter `{param}`."),
        )
        .param(param);
    }
    if message.starts_with("duplicate field") {
        let param = join(&base, quoted);
        return ApiError::invalid(
            param.clone(),
            format!("Parameter `{param}` is given more than once."),
        );
    }
    let text = describe(&base, message);
    let error = ApiError::new(ErrorCode::parameter_invalid, text);
    if base.is_empty() {
        error
    } else {
        error.param(base)
    }
}

/// Serde puts an unknown field in the path already, but not a missing one.
fn join(base: &str, field: &str) -> String {
    if base.is_empty() {
        field.to_string()
    } else if base == field || base.ends_with(&format!(".{field}")) {
        base.to_string()
    } else {
        format!("{base}.{field}")
    }
}

/// The sentence for a value that has the wrong type or is out of range.
fn describe(base: &str, message: &str) -> String {
    let subject = if base.is_empty() {
        "The request body".to_string()
    } else {
        format!("`{base}`")
    };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let expected = match expected_words(expected) {
            "an object" if base.is_empty() => "a JSON object",
            words => words,
        };
        return format!("{subject} must be {expected}, not {}.", got_words(got));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        return format!(
            "{subject} is out of range: it must be {}.",
            range_words(expected)
        );
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        let words = expected_words(expected);
        return if words == "an object" && base.is_empty() {
            format!("{subject} must be a JSON object, not an array.")
        } else if words == "an object" {
            format!("{subject} must be an object, not an array.")
        } else {
            format!("{subject} has the wrong number of elements.")
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (got, allowed) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let got: String = got.chars().take(80).collect();
        return match allowed.strip_prefix("one of ") {
            Some(list) => format!("{subject} must be one of {list}; got {got}."),
            None if allowed.is_empty() || allowed.contains("no variants") => {
                format!("{subject} has no accepted values; got {got}.")
            }
            None => format!("{subject} must be {allowed}; got {got}."),
        };
    }
    if let Some(words) = from_str_words(message) {
        return format!("{subject} must be {words}.");
    }
    if reads_like_rust(message) {
        format!("{subject} is not a valid value here.")
    } else {
        format!("Invalid value for {subject}: {message}.")
    }
}

/// What serde expected, as JSON types.
fn expected_words(expected: &str) -> &'static str {
    let e = expected.trim();
    match e {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "a boolean" | "bool" => "`true` or `false`",
        "a string" | "a borrowed string" | "a character" | "char" | "string" => "a string",
        "a map" => "an object",
        "a sequence" | "tuple" => "an array",
        "unit" => "null",
        "any valid JSON value" => "a JSON value",
        _ if e.starts_with("struct ") || e.starts_with("a map") => "an object",
        _ if e.starts_with("a tuple")
            || e.starts_with("an array")
            || e.starts_with("a sequence") =>
        {
            "an array"
        }
        _ if e.starts_with("enum ") || e.contains("variant") => "one of the documented values",
        _ => "a value of the documented type",
    }
}

/// What serde found, as JSON types.
fn got_words(got: &str) -> &'static str {
    let g = got.trim();
    let kinds = [
        ("string", "a string"),
        ("character", "a string"),
        ("integer", "an integer"),
        ("floating point", "a decimal number"),
        ("boolean", "a boolean"),
        ("unit value", "null"),
        ("null", "null"),
        ("map", "an object"),
        ("sequence", "an array"),
    ];
    kinds
        .iter()
        .find(|(prefix, _)| g.starts_with(prefix))
        .map_or("something else", |(_, words)| words)
}

/// The accepted range of an integer type.
fn range_words(expected: &str) -> String {
    let range = |min: i128, max: i128| format!("an integer from {min} to {max}");
    match expected.trim() {
        "u8" => range(0, u8::MAX.into()),
        "u16" => range(0, u16::MAX.into()),
        "u32" => range(0, u32::MAX.into()),
        "u64" | "usize" => range(0, u64::MAX.into()),
        "i8" => range(i8::MIN.into(), i8::MAX.into()),
        "i16" => range(i16::MIN.into(), i16::MAX.into()),
        "i32" => range(i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => range(i64::MIN.into(), i64::MAX.into()),
        other => expected_words(other).to_string(),
    }
}

/// Query strings hold text, so a number or boolean field fails in its `FromStr`, whose
/// message names no type.
fn from_str_words(message: &str) -> Option<&'static str> {
    Some(match message {
        "invalid digit found in string" | "cannot parse integer from empty string" => "an integer",
        "number too large to fit in target type" | "number too small to fit in target type" => {
            "an integer within range"
        }
        "invalid float literal" => "a number",
        "provided string was not `true` or `false`" => "`true` or `false`",
        _ => return None,
    })
}

/// Whether a message we did not recognise names Rust types, which clients must not see.
fn reads_like_rust(message: &str) -> bool {
    [
        "struct",
        "enum",
        "variant",
        "::",
        "identifier",
        "Option",
        "newtype",
    ]
    .iter()
    .any(|w| message.contains(w))
        || message.split(|c: char| !c.is_alphanumeric()).any(|word| {
            let mut chars = word.chars();
            chars.next().is_some_and(char::is_uppercase)
                && chars.clone().any(char::is_lowercase)
                && chars.any(char::is_uppercase)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(message: &str) -> String {
        describe("n", message)
    }

    #[test]
    fn serde_shapes_become_api_sentences() {
        let cases = [
            (
                "invalid type: string \"x\", expected u32",
                "`n` must be a non-negative integer, not a string.",
            ),
            (
                "invalid type: null, expected a string",
                "`n` must be a string, not null.",
            ),
            (
                "invalid type: sequence, expected struct Foo",
                "`n` must be an object, not an array.",
            ),
            (
                "invalid value: integer `-1`, expected u32",
                "`n` is out of range: it must be an integer from 0 to 4294967295.",
            ),
            (
                "invalid length 0, expected struct CreateGenerationRequest with 13 elements",
                "`n` must be an object, not an array.",
            ),
            (
                "unknown variant `b`, expected one of `x`, `y`",
                "`n` must be one of `x`, `y`; got `b`.",
            ),
            (
                "unknown variant `b`, expected `x` or `y`",
                "`n` must be `x` or `y`; got `b`.",
            ),
            ("invalid digit found in string", "`n` must be an integer."),
            (
                "data did not match any variant of untagged enum Size",
                "`n` is not a valid value here.",
            ),
            ("expected a MyType", "`n` is not a valid value here."),
        ];
        for (serde, ours) in cases {
            assert_eq!(say(serde), ours, "{serde}");
        }
        assert_eq!(
            describe(
                "",
                "invalid type: sequence, expected struct CreateGenerationRequest"
            ),
            "The request body must be a JSON object, not an array."
        );
    }
}
