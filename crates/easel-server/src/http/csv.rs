//! CSV answers: whether the caller asked for one, and cells that are safe to open.

use axum::http::{HeaderMap, header};

use super::error::{ApiError, ApiResult};

/// Whether a list or report is wanted as CSV: `format=csv` (or `json`), else an `Accept`
/// header naming `text/csv`.
pub fn wanted(format: Option<&str>, headers: &HeaderMap) -> ApiResult<bool> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(ApiError::invalid("format", "`format` is `json` or `csv`.")),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"))),
    }
}

/// One CSV cell: quoted when needed, and with a leading `'` where a spreadsheet would
/// otherwise run it as a formula (user ids and prompts are the caller's own text).
pub fn cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("-1+2,3"), "\"'-1+2,3\"");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
    }
}
