//! Uploads this node has already checked: a worker's output is decoded when its PUT
//! arrives, and its completion need not decode it again if the stored object is still the
//! one that was checked. The object store's entity tag says so (a new upload of the same
//! index is a new object with a new tag), so a completion on another node, an upload made
//! straight to S3 with a presigned URL, or a tag that changed all fall back to a full check.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use easel_engines::Artifact;

/// Entries older than this are dropped when the table is full (a lease's uploads are
/// normally completed, and forgotten, within its run).
const KEEP: Duration = Duration::from_secs(3600);
/// At most this many entries; past it the oldest hour goes, then everything.
const MAX_ENTRIES: usize = 10_000;

/// What the check of one upload found.
#[derive(Debug, Clone)]
struct Checked {
    e_tag: String,
    content_type: &'static str,
    width: u32,
    height: u32,
    duration_seconds: Option<f64>,
    at: Instant,
}

/// Checked uploads by object path.
#[derive(Default)]
pub struct CheckedUploads {
    entries: Mutex<HashMap<String, Checked>>,
}

impl CheckedUploads {
    /// Remembers that the object stored at `path` with `e_tag` is `artifact`.
    pub fn remember(&self, path: &str, e_tag: Option<String>, artifact: &Artifact) {
        let Some(e_tag) = e_tag else {
            return;
        };
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, c| c.at.elapsed() < KEEP);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            path.to_string(),
            Checked {
                e_tag,
                content_type: artifact.content_type,
                width: artifact.width,
                height: artifact.height,
                duration_seconds: artifact.duration_seconds,
                at: Instant::now(),
            },
        );
    }

    /// The checked artifact of the object at `path`, if it is still the one checked
    /// (same entity tag); forgets the entry either way.
    pub fn take(
        &self,
        path: &str,
        e_tag: Option<&str>,
        bytes: Vec<u8>,
        seed: Option<u64>,
    ) -> Result<Artifact, Vec<u8>> {
        let entry = self.lock().remove(path);
        match (entry, e_tag) {
            (Some(c), Some(tag)) if c.e_tag == tag => Ok(Artifact {
                bytes,
                content_type: c.content_type,
                width: c.width,
                height: c.height,
                duration_seconds: c.duration_seconds,
                seed,
            }),
            _ => Err(bytes),
        }
    }

    /// Forgets every entry under `prefix` (a lease's uploads, when it ends otherwise).
    pub fn forget(&self, prefix: &str) {
        self.lock().retain(|path, _| !path.starts_with(prefix));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Checked>> {
        match self.entries.lock() {
            Ok(entries) => entries,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact() -> Artifact {
        Artifact {
            bytes: vec![1, 2, 3],
            content_type: easel_engines::CONTENT_TYPE_PNG,
            width: 64,
            height: 32,
            duration_seconds: None,
            seed: None,
        }
    }

    #[test]
    fn an_upload_is_trusted_only_with_the_tag_it_was_checked_with() {
        let checked = CheckedUploads::default();
        checked.remember("_uploads/lease_a/0", Some("t1".into()), &artifact());
        checked.remember("_uploads/lease_a/1", Some("t2".into()), &artifact());
        checked.remember("_uploads/lease_b/0", None, &artifact());
        // Another object now (a second upload, another node's write): decoded again.
        assert!(
            checked
                .take("_uploads/lease_a/1", Some("other"), vec![9], Some(7))
                .is_err()
        );
        // The entry was forgotten with that answer.
        assert!(
            checked
                .take("_uploads/lease_a/1", Some("t2"), vec![9], None)
                .is_err()
        );
        // No tag from the store: nothing remembered.
        assert!(
            checked
                .take("_uploads/lease_b/0", Some("x"), vec![9], None)
                .is_err()
        );
        let a = checked
            .take("_uploads/lease_a/0", Some("t1"), vec![4, 5], Some(7))
            .unwrap_or_else(|_| panic!("the checked object"));
        assert_eq!(
            (a.bytes, a.width, a.height, a.seed, a.content_type),
            (vec![4, 5], 64, 32, Some(7), easel_engines::CONTENT_TYPE_PNG)
        );
        checked.remember("_uploads/lease_c/0", Some("t".into()), &artifact());
        checked.forget("_uploads/lease_c/");
        assert!(
            checked
                .take("_uploads/lease_c/0", Some("t"), vec![], None)
                .is_err()
        );
    }
}
