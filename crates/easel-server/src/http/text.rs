//! Which characters client text may carry, checked once where text enters: the URI (path
//! segments and query pairs, in [`check_uri`]), JSON bodies (the `Json` extractors) and
//! console forms.
//!
//! The rule: no Unicode control character (general category Cc: U+0000–U+001F, U+007F and
//! U+0080–U+009F) except tab, line feed and carriage return, which free text such as a
//! prompt legitimately holds. NUL is the one PostgreSQL refuses outright (SQLite stores
//! it), so without this check the same request was a 500 on one database and stored on the
//! other; the other controls have no use in an API value and only hide text from people
//! reading logs and consoles. Rust strings cannot hold lone surrogates, and `\uD800` escapes
//! are refused by the JSON parser, so those never get this far.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::error::{ApiError, ErrorCode};

/// Whether `c` is refused in client text.
pub fn is_disallowed(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The first refused character of `text`, if any.
pub fn first_disallowed(text: &str) -> Option<char> {
    text.chars().find(|&c| is_disallowed(c))
}

/// The 400 for a refused character `c` in `param`.
pub fn refused(param: &str, c: char) -> ApiError {
    ApiError::new(
        ErrorCode::parameter_invalid,
        format!(
            "`{param}` contains the control character U+{:04X}, which is not allowed; only tab, line feed and carriage return are.",
            u32::from(c)
        ),
    )
    .param(param.to_string())
}

/// Checks `text` as the value of `param`.
pub fn check(param: &str, text: &str) -> Result<(), ApiError> {
    match first_disallowed(text) {
        Some(c) => Err(refused(param, c)),
        None => Ok(()),
    }
}

/// Checks every string and object key of a JSON body that has already parsed.
///
/// A quick pass over the bytes comes first: in valid JSON a backslash only starts an escape
/// inside a string, and a control character can only be written raw (DEL, C1) or as a
/// `\u` escape, so most bodies are cleared without building a tree. Only a body that may
/// hold one is walked, to name the field.
pub fn check_json(bytes: &[u8]) -> Result<(), ApiError> {
    if !json_may_hold_a_control(bytes) {
        return Ok(());
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|_| {
        ApiError::new(
            ErrorCode::invalid_json,
            "The request body is not valid JSON.",
        )
    })?;
    let mut path = String::new();
    walk(&value, &mut path)
}

fn json_may_hold_a_control(bytes: &[u8]) -> bool {
    let mut i = 0;
    // Only three bytes can begin a refused character; memchr skips to them.
    while let Some(found) = memchr::memchr3(b'\\', 0x7f, 0xc2, &bytes[i..]) {
        i += found;
        match bytes[i] {
            0x7f => return true,
            // U+0080–U+009F are 0xC2 0x80–0x9F in UTF-8.
            0xc2 if bytes.get(i + 1).is_some_and(|b| (0x80..=0x9f).contains(b)) => return true,
            b'\\' if bytes.get(i + 1) == Some(&b'u') => {
                let code = bytes
                    .get(i + 2..i + 6)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok());
                if code.and_then(char::from_u32).is_some_and(is_disallowed) {
                    return true;
                }
                i += 6;
            }
            // The short escapes `\b` (backspace) and `\f` (form feed) are control
            // characters too; `\t`, `\n` and `\r` are allowed.
            b'\\' if matches!(bytes.get(i + 1), Some(b'b' | b'f')) => return true,
            b'\\' => i += 2,
            _ => i += 1,
        }
        if i >= bytes.len() {
            break;
        }
    }
    false
}

/// Walks `value`, with `path` the dotted path to it (`metadata.note`, `items[2]`).
fn walk(value: &Value, path: &mut String) -> Result<(), ApiError> {
    match value {
        Value::String(s) => check(shown(path), s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(
                    &key.chars()
                        .filter(|&c| !is_disallowed(c))
                        .collect::<String>(),
                );
                if let Some(c) = first_disallowed(key) {
                    return Err(refused(shown(path), c));
                }
                walk(item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn shown(path: &str) -> &str {
    if path.is_empty() { "body" } else { path }
}

/// Middleware: refuses a request whose percent-decoded path segments or query pairs hold a
/// refused character or are not UTF-8, naming the path parameter (from the matched route)
/// or the query key. It runs after routing, for every route of the API and the console.
pub async fn check_uri(request: Request, next: Next) -> Response {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    if let Err(e) = check_path(request.uri().path(), template.as_deref()) {
        return e.into_response();
    }
    if let Some(query) = request.uri().query()
        && let Err(e) = check_query(query)
    {
        return e.into_response();
    }
    next.run(request).await
}

fn check_path(path: &str, template: Option<&str>) -> Result<(), ApiError> {
    let names: Vec<&str> = template.map(|t| t.split('/').collect()).unwrap_or_default();
    for (i, segment) in path.split('/').enumerate() {
        let param = names
            .get(i)
            .and_then(|n| n.strip_prefix('{'))
            .and_then(|n| n.strip_suffix('}'))
            .map_or("path", |n| n.trim_start_matches('*'));
        let decoded = percent_decode_str(segment).decode_utf8().map_err(|_| {
            ApiError::invalid(
                param.to_string(),
                format!("`{param}` is not valid UTF-8 once percent-decoded."),
            )
        })?;
        check(param, &decoded)?;
    }
    Ok(())
}

fn check_query(query: &str) -> Result<(), ApiError> {
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_query_part(key).map_err(|()| {
            ApiError::new(
                ErrorCode::parameter_invalid,
                "A query parameter name is not valid UTF-8 once percent-decoded.",
            )
        })?;
        if let Some(c) = first_disallowed(&key) {
            let shown: String = key.chars().filter(|&c| !is_disallowed(c)).collect();
            return Err(refused(&shown, c));
        }
        let value = decode_query_part(value).map_err(|()| {
            ApiError::invalid(
                key.clone(),
                format!("`{key}` is not valid UTF-8 once percent-decoded."),
            )
        })?;
        check(&key, &value)?;
    }
    Ok(())
}

/// Decodes one side of a query pair as forms do (`+` is a space).
fn decode_query_part(part: &str) -> Result<String, ()> {
    let spaced = part.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_keeps_whitespace_and_text_and_refuses_controls() {
        for ok in ["a\tb\nc\r", "é ü 漢字 🙂", "", "\u{a0}\u{2028}"] {
            assert_eq!(first_disallowed(ok), None, "{ok:?}");
        }
        for bad in ["\0", "a\u{1}", "\u{1b}[31m", "\u{7f}", "\u{85}", "\u{9f}"] {
            assert!(first_disallowed(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn json_controls_are_found_with_their_path() {
        let cases = [
            (r#"{"a":"x\u0000y"}"#, "a"),
            (r#"{"m":{"k":["ok","\u001b"]}}"#, "m.k[1]"),
            ("{\"m\":{\"k\u{7f}\":1}}", "m.k"),
            ("{\"d\":\"\u{85}\"}", "d"),
            (r#""\u0000""#, "body"),
            (r#"{"p":"a fake\fpassport"}"#, "p"),
            (r#"{"p":"back\bspace"}"#, "p"),
        ];
        for (body, param) in cases {
            let e = check_json(body.as_bytes()).err();
            assert_eq!(e.and_then(|e| e.param).as_deref(), Some(param), "{body}");
        }
        for fine in [
            r#"{"a":"\\u0000"}"#,
            r#"{"a":"\u00e9\n\t"}"#,
            r#"{"a":"\\f and \\b are letters after an escaped backslash"}"#,
            r#"[1,true,null]"#,
        ] {
            assert!(check_json(fine.as_bytes()).is_ok(), "{fine}");
        }
    }

    #[test]
    fn uri_parts_name_the_parameter() {
        let e = check_path("/v1/generations/gen_%00", Some("/v1/generations/{id}")).err();
        assert_eq!(e.and_then(|e| e.param).as_deref(), Some("id"));
        let e = check_path("/v1/x/%FF", Some("/v1/x/{id}")).err();
        assert_eq!(e.and_then(|e| e.param).as_deref(), Some("id"));
        let e = check_path("/nope/%01", None).err();
        assert_eq!(e.and_then(|e| e.param).as_deref(), Some("path"));
        let e = check_query("limit=3&model=%00").err();
        assert_eq!(e.and_then(|e| e.param).as_deref(), Some("model"));
        let e = check_query("us%00er=1").err();
        assert_eq!(e.and_then(|e| e.param).as_deref(), Some("user"));
        assert!(check_query("q=a+b%20c%0A&x").is_ok());
        assert!(check_path("/v1/generations/gen_1", Some("/v1/generations/{id}")).is_ok());
    }
}
