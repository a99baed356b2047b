//! Deprecated operations (clause 14, `[[deprecations]]` in the config): until their sunset
//! every response carries `Deprecation` (RFC 9745: `@` and Unix seconds), `Sunset`
//! (RFC 8594: an HTTP date) and `Link: <notice>; rel="deprecation"`; from the sunset the
//! operation answers 410 `endpoint_sunset` in the error envelope, before anything else
//! runs. Calls before the sunset are counted per account by the limits middleware, so the
//! console can tell each account what it still uses.

use std::sync::LazyLock;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use easel_core::time::now_ms;
use time::format_description::OwnedFormatItem;

use crate::app::AppState;
use crate::config::DeprecationConfig;
use crate::http::error::{ApiError, ErrorCode};

/// IMF-fixdate (RFC 9110), as `Sunset` wants it.
static HTTP_DATE: LazyLock<Option<OwnedFormatItem>> = LazyLock::new(|| {
    time::format_description::parse_owned::<2>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .ok()
});

/// `ms` as an HTTP date.
pub fn http_date(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    HTTP_DATE
        .as_ref()
        .and_then(|f| t.format(f).ok())
        .unwrap_or_default()
}

/// The deprecation of the operation a request is for (HEAD is its GET).
pub fn of<'a>(app: &'a AppState, method: &Method, route: &str) -> Option<&'a DeprecationConfig> {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    app.config.deprecation(method.as_str(), route)
}

/// The middleware (after routing: it reads the matched route template).
pub async fn deprecation(State(app): State<AppState>, request: Request, next: Next) -> Response {
    if app.config.deprecations.is_empty() {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let Some(d) = route
        .as_deref()
        .and_then(|route| of(&app, request.method(), route))
        .cloned()
    else {
        return next.run(request).await;
    };
    let mut response = if now_ms() >= d.sunset_at {
        ApiError::new(
            ErrorCode::endpoint_sunset,
            format!(
                "{} {} was removed on {}; {} says what to use instead.",
                d.method.to_ascii_uppercase(),
                d.route,
                crate::cli::output::day(d.sunset_at),
                d.link
            ),
        )
        .into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    let values = [
        (
            "deprecation",
            format!("@{}", d.deprecated_at.div_euclid(1000)),
        ),
        ("sunset", http_date(d.sunset_at)),
        (
            "link",
            format!("<{}>; rel=\"deprecation\"; type=\"text/html\"", d.link),
        ),
    ];
    for (name, value) in values {
        // The link was checked at load (no `>`, `"` or space); a value that still cannot
        // be a header is left out rather than failing the response.
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn sunset_is_an_http_date() {
        assert_eq!(
            super::http_date(1_798_761_600_000),
            "Fri, 01 Jan 2027 00:00:00 GMT"
        );
    }
}
