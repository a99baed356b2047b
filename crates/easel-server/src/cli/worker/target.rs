//! Where a call goes, and whether the worker token goes with it.
//!
//! The server names an input image or an upload slot either by a path on itself (send the
//! token) or by a presigned object-store URL (send nothing: the signature in the URL is
//! the permission). The rule that keeps the token safe: it is only ever sent to the
//! server's own origin (scheme, host and port of `--server`), whatever a lease says.

use url::Url;

/// The `--server` URL: absolute http(s), no credentials, query or fragment. Kept with a
/// trailing slash so that joining keeps any path prefix (`https://host/easel/`).
pub fn server_url(raw: &str) -> Result<Url, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| {
        format!("--server `{raw}` is not a URL ({e}); e.g. https://easel.example.com")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "--server `{raw}` must be an http:// or https:// URL with a host"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "--server must not hold credentials; the worker token is sent as a header".to_owned(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "--server `{raw}` must not have a query or a fragment"
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// A resolved address.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub url: Url,
    /// Send `Authorization: Bearer <token>`.
    pub with_token: bool,
}

impl Target {
    /// How the address may appear in a log: a server path as it is, a presigned URL
    /// without its query (which holds the signature).
    pub fn shown(&self) -> String {
        if self.with_token {
            return self.url.path().to_owned();
        }
        let mut bare = self.url.clone();
        bare.set_query(None);
        bare.set_fragment(None);
        format!("{bare} (presigned)")
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

/// Resolves an API path (`worker/v1/me`, without the leading slash) against `--server`.
pub fn api(base: &Url, path: &str) -> Result<Target, String> {
    let url = base
        .join(path.trim_start_matches('/'))
        .map_err(|e| format!("bad API path {path}: {e}"))?;
    Ok(Target {
        url,
        with_token: true,
    })
}

/// Resolves an address a lease gave: a path (`/worker/v1/…`, joined onto the server's
/// origin and any path prefix) or an absolute http(s) URL. The token goes only to the
/// server's origin, and never with an address the server marked `presigned`.
pub fn lease_url(base: &Url, raw: &str, presigned: bool) -> Result<Target, String> {
    if raw.starts_with('/') && !raw.starts_with("//") {
        if presigned {
            return Err(format!("a presigned address must be absolute, not {raw}"));
        }
        // A path from the server is relative to where the server lives, prefix included.
        let url = base
            .join(raw.trim_start_matches('/'))
            .map_err(|e| format!("bad server path {raw}: {e}"))?;
        return Ok(Target {
            url,
            with_token: true,
        });
    }
    let url =
        Url::parse(raw).map_err(|_| "the server gave an address that is not a URL".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "the server gave a {} address; only http(s) is fetched",
            url.scheme()
        ));
    }
    let with_token = !presigned && url.origin() == base.origin();
    Ok(Target { url, with_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(raw: &str) -> Url {
        server_url(raw).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn server_urls_are_checked_and_keep_their_prefix() {
        assert_eq!(
            base("http://127.0.0.1:8080").as_str(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            base("https://h.example/easel").as_str(),
            "https://h.example/easel/"
        );
        for bad in [
            "127.0.0.1:8080",
            "ftp://h.example",
            "https://user:pw@h.example",
            "https://h.example/?x=1",
            "https://h.example/#top",
            "not a url",
        ] {
            assert!(server_url(bad).is_err(), "{bad} was accepted");
        }
        let err = server_url("https://me:secretpw@h.example").expect_err("credentials");
        assert!(!err.contains("secretpw"), "{err}");
    }

    #[test]
    fn api_paths_and_server_paths_join_under_the_prefix_with_the_token() {
        let b = base("https://h.example/easel");
        let me = api(&b, "worker/v1/me").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(me.url.as_str(), "https://h.example/easel/worker/v1/me");
        assert!(me.with_token);
        let put = lease_url(&b, "/worker/v1/leases/lease_1/outputs/0", false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            put.url.as_str(),
            "https://h.example/easel/worker/v1/leases/lease_1/outputs/0"
        );
        assert!(put.with_token);
    }

    #[test]
    fn the_token_goes_only_to_the_servers_origin_and_never_with_presigned_urls() {
        let b = base("https://h.example:8443");
        let own = lease_url(&b, "https://h.example:8443/worker/v1/inputs/x", false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(own.with_token);
        for (raw, presigned) in [
            ("https://bucket.s3.example/o/1?X-Amz-Signature=abc", true),
            // Same host, other port or scheme: another origin.
            ("https://h.example/worker/v1/inputs/x", false),
            ("http://h.example:8443/worker/v1/inputs/x", false),
            ("https://evil.example/worker/v1/inputs/x", false),
            // Even on the server's origin, a presigned address carries no token.
            ("https://h.example:8443/bucket/o/1?sig=abc", true),
        ] {
            let t = lease_url(&b, raw, presigned).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert!(!t.with_token, "{raw} would carry the token");
        }
        // A protocol-relative path is another host, not a path.
        let t = lease_url(&b, "//evil.example/x", false);
        assert!(t.is_err(), "{t:?}");
        assert!(lease_url(&b, "file:///etc/passwd", false).is_err());
        assert!(lease_url(&b, "/worker/v1/x", true).is_err());
    }

    #[test]
    fn presigned_urls_are_logged_without_their_signature() {
        let b = base("https://h.example");
        let t = lease_url(
            &b,
            "https://bucket.s3.example/o/1?X-Amz-Signature=abc123",
            true,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!t.shown().contains("abc123"), "{}", t.shown());
        assert!(!format!("{t:?}").contains("abc123"));
        assert!(t.shown().contains("bucket.s3.example/o/1"));
    }
}
