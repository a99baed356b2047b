//! The node-local credential cache: secret hash → what authentication needs.
//!
//! After a key's first use on a node, authenticating it costs a SHA-256 and a read-locked
//! hash map lookup: no database round trip. Correctness comes from invalidation, not expiry:
//! this node evicts an account's entries the moment it changes them (revoke, rotate,
//! suspend), and a poller evicts entries of accounts other nodes changed (see `mod.rs`).
//! Time-based rules (key expiry, a rotated secret's grace period, a suspension's end) are
//! evaluated on every request from the cached data, so they need no eviction.
//!
//! `last_used_at` is recorded here with two atomics and written in batches by the flusher.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use easel_db::Credential;

/// Most entries kept; past it the cache starts over (entries are cheap to reload).
const MAX_ENTRIES: usize = 100_000;

/// One cached credential.
#[derive(Debug)]
pub struct Cached {
    pub credential: Credential,
    /// When its database read began (ms): a change seen after this may not be in it.
    pub loaded_at: i64,
    last_used: AtomicI64,
    dirty: AtomicBool,
}

impl Cached {
    /// Notes a use; written to the database by the next flush.
    pub fn touch(&self, now: i64) {
        self.last_used.fetch_max(now, Ordering::Relaxed);
        self.dirty.store(true, Ordering::Release);
    }

    fn take_usage(&self) -> Option<(String, i64)> {
        self.dirty.swap(false, Ordering::AcqRel).then(|| {
            (
                self.credential.key.id.clone(),
                self.last_used.load(Ordering::Relaxed),
            )
        })
    }
}

/// The cache. Locks are held for map operations only, never across an await.
#[derive(Debug, Default)]
pub struct CredentialCache {
    entries: RwLock<HashMap<String, Arc<Cached>>>,
    /// Usage of entries evicted before their usage was flushed.
    orphaned_usage: Mutex<Vec<(String, i64)>>,
}

impl CredentialCache {
    /// The cached credential for a secret hash.
    pub fn get(&self, hash: &str) -> Option<Arc<Cached>> {
        self.entries.read().ok()?.get(hash).cloned()
    }

    /// Caches a credential just read from the database.
    pub fn insert(&self, hash: String, credential: Credential, loaded_at: i64) -> Arc<Cached> {
        let last_used = credential.key.last_used_at.unwrap_or(0);
        let entry = Arc::new(Cached {
            credential,
            loaded_at,
            last_used: AtomicI64::new(last_used),
            dirty: AtomicBool::new(false),
        });
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= MAX_ENTRIES {
                let drained: Vec<_> = map.drain().map(|(_, e)| e).collect();
                self.orphan(drained);
            }
            map.insert(hash, Arc::clone(&entry));
        }
        entry
    }

    /// Evicts the entries of `account_id` loaded before `loaded_before` (ms), or all of its
    /// entries when that is `None` (a change made by this node).
    pub fn invalidate_account(&self, account_id: &str, loaded_before: Option<i64>) {
        let Ok(mut map) = self.entries.write() else {
            return;
        };
        let mut evicted = Vec::new();
        map.retain(|_, e| {
            let stale = e.credential.key.account_id == account_id
                && loaded_before.is_none_or(|before| e.loaded_at < before);
            if stale {
                evicted.push(Arc::clone(e));
            }
            !stale
        });
        drop(map);
        self.orphan(evicted);
    }

    /// Usage recorded since the last call, one entry per key.
    pub fn take_usage(&self) -> Vec<(String, i64)> {
        let mut used: Vec<(String, i64)> = self
            .orphaned_usage
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        if let Ok(map) = self.entries.read() {
            used.extend(map.values().filter_map(|e| e.take_usage()));
        }
        // Several secrets (during a rotation) can share a key: keep the latest time per key.
        let mut latest: HashMap<String, i64> = HashMap::with_capacity(used.len());
        for (key, at) in used {
            let slot = latest.entry(key).or_insert(at);
            *slot = (*slot).max(at);
        }
        latest.into_iter().collect()
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.entries.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn orphan(&self, evicted: Vec<Arc<Cached>>) {
        let usage: Vec<_> = evicted.iter().filter_map(|e| e.take_usage()).collect();
        if !usage.is_empty()
            && let Ok(mut orphans) = self.orphaned_usage.lock()
        {
            orphans.extend(usage);
        }
    }
}
