//! Validation of free-text fields: names, reasons, contact details.

use crate::http::error::{ApiError, ApiResult};

/// A trimmed single-line text of 1 to `max` characters with no control characters.
pub fn required(param: &'static str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(
            param,
            format!("`{param}` must not be empty."),
        ));
    }
    optional(param, Some(value), max).map(Option::unwrap_or_default)
}

/// Like [`required`], but absent or blank means `None`.
pub fn optional(param: &'static str, value: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            param,
            format!("`{param}` must be at most {max} characters."),
        ));
    }
    // Control and bidi-override characters make names lie in logs and the console.
    let bad = |c: char| {
        c.is_control()
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    if value.chars().any(bad) {
        return Err(ApiError::invalid(
            param,
            format!("`{param}` must not contain control or bidirectional-override characters."),
        ));
    }
    Ok(Some(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        assert_eq!(
            required("name", "  Ada  ", 10).ok(),
            Some("Ada".to_string())
        );
        assert!(required("name", "   ", 10).is_err());
        assert!(required("name", "abcdefghijk", 10).is_err());
        assert!(required("name", "a\nb", 10).is_err());
        assert!(required("name", "evil\u{202e}gnp.exe", 40).is_err());
        assert_eq!(optional("x", Some("  "), 5).ok(), Some(None));
        assert_eq!(
            required("name", "日本語の名前", 6).ok(),
            Some("日本語の名前".to_string())
        );
    }
}
