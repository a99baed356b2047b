//! Where finished outputs live, and the signed URLs they are served at.
//!
//! Objects go through `object_store`: local files by default (`DATA_DIR/outputs`), or an
//! S3-compatible bucket. Either way Easel serves them itself at
//! `/v1/outputs/{generation_id}/{idx}.{ext}?expires=…&signature=…`, so a URL works the same
//! on every backend, stops working the moment the output is deleted (the database says so
//! before the store is asked), and never exposes store credentials.
//!
//! The signature is HMAC-SHA256 over the path and the expiry, with a key derived from the
//! instance secret: every node of an installation verifies every other node's URLs.

use std::sync::Arc;

use anyhow::Context;
use hmac::{Hmac, Mac};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::Sha256;

use crate::config::Config;

type HmacSha256 = Hmac<Sha256>;

/// The output store and the URL signer.
pub struct Outputs {
    store: Arc<dyn ObjectStore>,
    /// The bucket store and the key prefix, when outputs live on S3: remote workers get
    /// presigned URLs there instead of sending their bytes through Easel.
    s3: Option<(Arc<object_store::aws::AmazonS3>, String)>,
    signing_key: Vec<u8>,
    public_url: String,
    url_ttl_ms: i64,
}

/// Why a signed URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRefusal {
    /// The signature does not match the path and expiry (tampered or forged).
    BadSignature,
    /// The URL was genuine but its time is up.
    Expired,
}

impl Outputs {
    /// Opens the configured store (creating the local directory if needed).
    pub fn open(config: &Config, instance_secret: &str) -> anyhow::Result<Outputs> {
        let url = config.object_store_url();
        let mut s3_signer = None;
        let store: Arc<dyn ObjectStore> = if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the outputs directory {dir}"))?;
            Arc::new(
                LocalFileSystem::new_with_prefix(dir)
                    .with_context(|| format!("cannot open the outputs directory {dir}"))?,
            )
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let s3 = &config.s3;
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(&s3.region)
                .with_allow_http(s3.allow_http);
            if !s3.endpoint.is_empty() {
                builder = builder.with_endpoint(&s3.endpoint);
            }
            if !s3.access_key_id.is_empty() {
                builder = builder
                    .with_access_key_id(&s3.access_key_id)
                    .with_secret_access_key(&s3.secret_access_key);
            }
            let bucket_store = Arc::new(builder.build().context("cannot set up the S3 store")?);
            let prefix = prefix.trim_matches('/');
            s3_signer = Some((Arc::clone(&bucket_store), prefix.to_string()));
            if prefix.is_empty() {
                bucket_store
            } else {
                Arc::new(PrefixStore::new(bucket_store, prefix))
            }
        } else {
            anyhow::bail!("object_store_url must start with file:// or s3://");
        };
        let mut mac = HmacSha256::new_from_slice(instance_secret.as_bytes())
            .context("bad instance secret")?;
        mac.update(b"easel output urls v1");
        Ok(Outputs {
            store,
            s3: s3_signer,
            signing_key: mac.finalize().into_bytes().to_vec(),
            public_url: config.public_url(),
            url_ttl_ms: i64::try_from(config.outputs.url_ttl_seconds)
                .unwrap_or(3600)
                .saturating_mul(1000),
        })
    }

    /// Where output `idx` of a generation is stored.
    pub fn object_path(
        account_id: &str,
        generation_id: &str,
        idx: u32,
        content_type: &str,
    ) -> String {
        format!(
            "{account_id}/{generation_id}/{idx}.{}",
            extension(content_type)
        )
    }

    /// Stores an object, replacing any earlier one (a retried job writes the same paths).
    pub async fn put(&self, path: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.put_tagged(path, bytes).await.map(|_| ())
    }

    /// Stores an object; its entity tag, when the store gives one.
    pub async fn put_tagged(&self, path: &str, bytes: Vec<u8>) -> anyhow::Result<Option<String>> {
        let put = self
            .store
            .put(&ObjectPath::from(path), bytes.into())
            .await
            .with_context(|| format!("cannot store output {path}"))?;
        Ok(put.e_tag)
    }

    /// Reads an object whole.
    pub async fn get(&self, path: &str) -> Result<bytes::Bytes, object_store::Error> {
        self.store.get(&ObjectPath::from(path)).await?.bytes().await
    }

    /// Where output `idx` of a remote worker's lease is uploaded before its completion is
    /// checked and the output stored at its final path.
    pub fn upload_path(lease_id: &str, idx: u32) -> String {
        format!("{}{idx}", Outputs::upload_prefix(lease_id))
    }

    /// Where every upload of a lease is (with the trailing `/`).
    pub fn upload_prefix(lease_id: &str) -> String {
        format!("_uploads/{lease_id}/")
    }

    /// Deletes every upload of a lease (one that lapsed or failed leaves its files behind
    /// otherwise). A failure is logged: it only leaves files, never loses an output.
    pub async fn delete_uploads(&self, lease_id: &str) {
        use futures::StreamExt;
        let prefix = ObjectPath::from(format!("_uploads/{lease_id}"));
        let mut listed = self.store.list(Some(&prefix));
        while let Some(meta) = listed.next().await {
            let result = match meta {
                Ok(meta) => self.delete(meta.location.as_ref()).await,
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = result {
                tracing::warn!(lease.id = %lease_id, error = %format!("{e:#}"), "could not delete a lease's upload");
                return;
            }
        }
    }

    /// Reads an object whole, with its entity tag, if it is at most `max_bytes` long
    /// (`Ok(None)`: no such object). The size is known before the body is read, so a
    /// larger object is refused without reading it.
    pub async fn get_capped(
        &self,
        path: &str,
        max_bytes: u64,
    ) -> Result<Option<(bytes::Bytes, Option<String>)>, anyhow::Error> {
        let got = match self.store.get(&ObjectPath::from(path)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if got.meta.size > max_bytes {
            anyhow::bail!("{} bytes, more than the {max_bytes} allowed", got.meta.size);
        }
        let e_tag = got.meta.e_tag.clone();
        Ok(Some((got.bytes().await?, e_tag)))
    }

    /// A presigned URL for `method` on `path`, valid for `ttl`, when the store is S3
    /// (`None` on local files: the caller goes through Easel instead).
    pub async fn presign(
        &self,
        method: axum::http::Method,
        path: &str,
        ttl: std::time::Duration,
    ) -> Option<String> {
        use object_store::signer::Signer;
        let (bucket, prefix) = self.s3.as_ref()?;
        let key = if prefix.is_empty() {
            path.to_string()
        } else {
            format!("{prefix}/{path}")
        };
        match bucket.signed_url(method, &ObjectPath::from(key), ttl).await {
            Ok(url) => Some(url.to_string()),
            Err(e) => {
                tracing::warn!(error = %e, "could not presign an object-store URL; the worker uploads through Easel");
                None
            }
        }
    }

    /// Deletes an object; one already gone counts as deleted.
    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        match self.store.delete(&ObjectPath::from(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot delete output {path}")),
        }
    }

    /// Every object whose path is under `prefix` (a directory, without the trailing `/`).
    pub async fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        use futures::TryStreamExt;
        let prefix = ObjectPath::from(prefix);
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .with_context(|| format!("cannot list objects under {prefix}"))?;
        Ok(listed.into_iter().map(|m| m.location.to_string()).collect())
    }

    /// Deletes every object under `prefix` (a directory); how many there were.
    pub async fn delete_prefix(&self, prefix: &str) -> anyhow::Result<u64> {
        let paths = self.list(prefix).await?;
        for path in &paths {
            self.delete(path).await?;
        }
        Ok(paths.len() as u64)
    }

    /// Stores a local file as an object, in parts (it may be larger than memory should
    /// hold); returns its size and SHA-256 (hex).
    pub async fn put_file(
        &self,
        path: &str,
        file: &std::path::Path,
    ) -> anyhow::Result<(u64, String)> {
        use sha2::Digest;
        use tokio::io::AsyncReadExt;
        const PART: usize = 8 * 1024 * 1024;
        let mut source = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("cannot open {}", file.display()))?;
        let upload = self
            .store
            .put_multipart(&ObjectPath::from(path))
            .await
            .with_context(|| format!("cannot start storing {path}"))?;
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = source.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            hasher.update(chunk);
            size += n as u64;
            writer.wait_for_capacity(4).await?;
            writer.write(chunk);
        }
        writer
            .finish()
            .await
            .with_context(|| format!("cannot store {path}"))?;
        Ok((size, hex::encode(hasher.finalize())))
    }

    /// An object as a stream of chunks, with its size.
    pub async fn get_stream(
        &self,
        path: &str,
    ) -> Result<
        (
            u64,
            futures::stream::BoxStream<'static, Result<bytes::Bytes, object_store::Error>>,
        ),
        object_store::Error,
    > {
        let got = self.store.get(&ObjectPath::from(path)).await?;
        let size = got.meta.size;
        Ok((size, got.into_stream()))
    }

    /// The URL path of an output (what the signature covers).
    pub fn url_path(generation_id: &str, idx: u32, content_type: &str) -> String {
        format!(
            "/v1/outputs/{generation_id}/{idx}.{}",
            extension(content_type)
        )
    }

    /// A signed URL for an output, valid for the configured time but never past
    /// `output_expires_at` (ms). Returns the URL and its expiry (ms).
    pub fn signed_url(&self, path: &str, now: i64, output_expires_at: i64) -> (String, i64) {
        let (relative, expires_ms) = self.signed_path(path, now, output_expires_at);
        (format!("{}{relative}", self.public_url), expires_ms)
    }

    /// [`signed_url`](Self::signed_url) without the origin, for the console's own pages
    /// (their CSP allows images from the page's origin, whatever the public URL says).
    pub fn signed_path(&self, path: &str, now: i64, output_expires_at: i64) -> (String, i64) {
        // Whole seconds, rounded down, so the URL never outlives the output.
        let expires_ms = (now.saturating_add(self.url_ttl_ms)).min(output_expires_at);
        let expires = expires_ms.div_euclid(1000);
        let signature = hex::encode(self.mac(path, expires));
        (
            format!("{path}?expires={expires}&signature={signature}"),
            expires * 1000,
        )
    }

    /// Checks a URL's signature and expiry (unix seconds) at `now` (ms).
    pub fn verify(
        &self,
        path: &str,
        expires: i64,
        signature: &str,
        now: i64,
    ) -> Result<(), UrlRefusal> {
        let given = hex::decode(signature).map_err(|_| UrlRefusal::BadSignature)?;
        let mut mac =
            HmacSha256::new_from_slice(&self.signing_key).map_err(|_| UrlRefusal::BadSignature)?;
        mac.update(Self::signed_text(path, expires).as_bytes());
        // Constant-time comparison: the signature must not leak through timing.
        mac.verify_slice(&given)
            .map_err(|_| UrlRefusal::BadSignature)?;
        if expires.saturating_mul(1000) <= now {
            return Err(UrlRefusal::Expired);
        }
        Ok(())
    }

    fn mac(&self, path: &str, expires: i64) -> Vec<u8> {
        // A key of any length is accepted by HMAC; this cannot fail.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.signing_key) else {
            return Vec::new();
        };
        mac.update(Self::signed_text(path, expires).as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn signed_text(path: &str, expires: i64) -> String {
        format!("{path}\n{expires}")
    }
}

/// The file extension of a content type we produce.
pub fn extension(content_type: &str) -> &'static str {
    match content_type {
        "video/mp4" => "mp4",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        _ => "png",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> Outputs {
        Outputs {
            s3: None,
            store: Arc::new(object_store::memory::InMemory::new()),
            signing_key: b"k".to_vec(),
            public_url: "http://x".into(),
            url_ttl_ms: 60_000,
        }
    }

    #[test]
    fn signed_urls_verify_until_they_expire_and_never_outlive_the_output() {
        let o = outputs();
        let path = "/v1/outputs/gen_1/0.png";
        let (url, expires_ms) = o.signed_url(path, 1_000_000, 10_000_000);
        assert_eq!(expires_ms, 1_060_000);
        let sig = url.rsplit("signature=").next().unwrap_or_default();
        assert_eq!(o.verify(path, 1060, sig, 1_000_000), Ok(()));
        assert_eq!(
            o.verify(path, 1060, sig, 1_060_000),
            Err(UrlRefusal::Expired)
        );
        assert_eq!(
            o.verify(path, 1061, sig, 1_000_000),
            Err(UrlRefusal::BadSignature)
        );
        assert_eq!(
            o.verify("/v1/outputs/gen_1/1.png", 1060, sig, 1_000_000),
            Err(UrlRefusal::BadSignature)
        );
        assert_eq!(
            o.verify(path, 1060, "zz", 1_000_000),
            Err(UrlRefusal::BadSignature)
        );
        let (_, capped) = o.signed_url(path, 1_000_000, 1_030_500);
        assert_eq!(
            capped, 1_030_000,
            "capped at the output's own expiry, rounded down"
        );
    }
}
