//! The consoles' and the public docs' front-end files, embedded in the binary: vendored npm packages under
//! `assets/vendor/<package>-<version>/` (each with its LICENSE) and our own small script.
//! Each is served at `/console/assets/<content hash>/<name>`, so a URL names one exact
//! content and can be cached for a year; a new build with a changed file gets a new URL.
//! Nothing is loaded from anywhere else.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// name, content type, bytes.
const FILES: [(&str, &str, &[u8]); 6] = [
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/vendor/htmx.org-2.0.11/htmx.min.js"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/vendor/uplot-1.6.32/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/vendor/uplot-1.6.32/uPlot.min.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/console.js"),
    ),
    // The API reference at /docs/api (its licences beside it in the vendor directory).
    (
        "redoc.standalone.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/vendor/redoc-2.5.4/redoc.standalone.js"),
    ),
    (
        "docs.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/docs.js"),
    ),
];

struct Asset {
    hash: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(name, content_type, bytes)| {
            let hash = hex::encode(Sha256::digest(bytes))[..16].to_string();
            let asset = Asset {
                hash,
                content_type,
                bytes,
            };
            (*name, asset)
        })
        .collect()
});

/// The URL of asset `name` (its content hash in the path); empty for an unknown name, so a
/// typo in a template shows as a missing file in the browser test, not a panic.
pub fn url(name: &str) -> String {
    ASSETS
        .get(name)
        .map(|a| format!("/console/assets/{}/{name}", a.hash))
        .unwrap_or_default()
}

/// `GET /console/assets/{hash}/{name}`: the file, cacheable for a year; 404 for an unknown
/// name or a hash that is not its content's (an old build's URL).
pub async fn serve(Path((hash, name)): Path<(String, String)>) -> Response {
    let Some(asset) = ASSETS.get(name.as_str()).filter(|a| a.hash == hash) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::{ASSETS, FILES, url};

    #[test]
    fn every_file_has_a_content_addressed_url() {
        for (name, _, bytes) in FILES {
            assert!(!bytes.is_empty(), "{name}");
            let u = url(name);
            assert!(
                u.starts_with("/console/assets/") && u.ends_with(name),
                "{u}"
            );
        }
        assert_eq!(ASSETS.len(), FILES.len(), "two files share a name");
        assert_eq!(url("nope.js"), "");
    }
}
