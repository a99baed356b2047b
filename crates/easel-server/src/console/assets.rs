//! The consoles' and the public docs' front-end files, embedded in the binary: vendored npm packages under
//! `assets/vendor/<package>-<version>/` (each with its LICENSE) and our own small script.
//! Each is served at `/console/assets/<content hash>/<name>`, so a URL names one exact
//! content and can be cached for a year; a new build with a changed file gets a new URL.
//! Nothing is loaded from anywhere else: a vendored file that would is patched as it is
//! embedded ([`PATCHES`]), never edited in the repository.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::body::Bytes;
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

/// Changes made to a vendored file as it is embedded (file, text, replacement), so the file
/// in the repository stays byte for byte the one npm published. Each must match exactly
/// once; a test fails when an upgraded package no longer has the text.
const PATCHES: [(&str, &str, &str); 1] = [
    // Redoc 2.5.4 always shows Redocly's logo from its CDN in the menu's footer; the page's
    // CSP would refuse it (a console error) and nothing may load from elsewhere. An empty
    // `src` fails at once without a request, and the component then hides the image.
    (
        "redoc.standalone.js",
        r#"src:"https://cdn.redoc.ly/redoc/logo-mini.svg""#,
        r#"src:"""#,
    ),
];

struct Asset {
    hash: String,
    content_type: &'static str,
    bytes: Bytes,
}

/// `bytes` with the [`PATCHES`] of `name` applied; `None` if one does not match once.
fn patched(name: &str, bytes: &'static [u8]) -> Option<Bytes> {
    let mut patches = PATCHES
        .iter()
        .filter(|(file, _, _)| *file == name)
        .peekable();
    if patches.peek().is_none() {
        return Some(Bytes::from_static(bytes));
    }
    let mut text = std::str::from_utf8(bytes).ok()?.to_string();
    for (_, from, to) in patches {
        if text.matches(from).count() != 1 {
            return None;
        }
        text = text.replacen(from, to, 1);
    }
    Some(Bytes::from(text))
}

static ASSETS: LazyLock<HashMap<&'static str, Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .filter_map(|(name, content_type, bytes)| {
            let Some(bytes) = patched(name, bytes) else {
                // Served without it, the page would load nothing rather than half a page.
                tracing::error!(asset = name, "a patch of this vendored file does not apply");
                return None;
            };
            let hash = hex::encode(Sha256::digest(&bytes))[..16].to_string();
            let asset = Asset {
                hash,
                content_type,
                bytes,
            };
            Some((*name, asset))
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
    let mut response = asset.bytes.clone().into_response();
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
    use super::{ASSETS, FILES, PATCHES, url};

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
        assert_eq!(
            ASSETS.len(),
            FILES.len(),
            "two files share a name, or a patch failed"
        );
        assert_eq!(url("nope.js"), "");
    }

    #[test]
    fn vendored_files_are_patched_exactly_as_listed() {
        for (name, from, to) in PATCHES {
            let asset = &ASSETS[name];
            let text = String::from_utf8_lossy(&asset.bytes);
            assert!(!text.contains(from), "{name} still has {from}");
            assert!(text.contains(to), "{name}");
        }
        // Nothing in the reference's bundle fetches from a CDN any more.
        let redoc = String::from_utf8_lossy(&ASSETS["redoc.standalone.js"].bytes).into_owned();
        assert!(!redoc.contains("cdn.redoc.ly"));
        // A text that is not there, or is there twice, is refused rather than ignored.
        let twice: &'static [u8] = b"a a";
        assert!(super::patched("redoc.standalone.js", twice).is_none());
        assert!(super::patched("console.js", twice).is_some_and(|b| b.as_ref() == twice));
    }
}
