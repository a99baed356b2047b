//! The in-process backend: buckets in this node's memory. The default for one node, and
//! every node's fallback while Redis is unreachable.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};

use super::{Bucket, Checked};

/// Shards, so requests of different accounts rarely wait on one lock; every bucket of one
/// request belongs to one account, hence to one shard, which makes a check atomic.
const SHARDS: usize = 64;

#[derive(Default)]
struct Shard {
    /// TAT per bucket (µs).
    tats: HashMap<String, i64>,
    /// Times (µs) of recent rejections per key, oldest first.
    rejections: HashMap<String, VecDeque<i64>>,
}

pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl MemoryStore {
    fn shard(&self, account_id: &str) -> &Mutex<Shard> {
        let mut h = DefaultHasher::new();
        account_id.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// The account's shard. A panic while it was held leaves its data consistent (each
    /// change is one insert or removal), so a poisoned lock is taken over rather than
    /// refusing every later request of those accounts.
    fn lock(&self, account_id: &str) -> MutexGuard<'_, Shard> {
        self.shard(account_id)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks (and if `consume`, takes one unit from) every bucket at once: all or none.
    pub fn check(&self, account_id: &str, buckets: &[Bucket], consume: bool, now: i64) -> Checked {
        check_in(&mut self.lock(account_id), buckets, consume, now)
    }

    /// Records a rejection of `key` and returns how many it had within `window_us`.
    pub fn reject(&self, account_id: &str, key: &str, window_us: i64, now: i64) -> u64 {
        let mut shard = self.lock(account_id);
        let log = shard.rejections.entry(key.to_string()).or_default();
        while log.front().is_some_and(|t| *t <= now - window_us) {
            log.pop_front();
        }
        log.push_back(now);
        log.len() as u64
    }

    /// Forgets a key's rejections (its cool-down began).
    pub fn clear_rejections(&self, account_id: &str, key: &str) {
        self.lock(account_id).rejections.remove(key);
    }

    /// Drops full buckets and stale rejection logs, which are the same as absent ones.
    pub fn purge(&self, now: i64, rejection_window_us: i64) {
        for shard in &self.shards {
            let mut shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            shard.tats.retain(|_, tat| *tat > now);
            shard.rejections.retain(|_, log| {
                log.back()
                    .is_some_and(|last| *last > now - rejection_window_us)
            });
        }
    }

    /// Buckets held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|s| s.tats.len()).unwrap_or(0))
            .sum()
    }
}

fn check_in(shard: &mut Shard, buckets: &[Bucket], consume: bool, now: i64) -> Checked {
    let tats: Vec<Option<i64>> = buckets
        .iter()
        .map(|b| shard.tats.get(&b.key).copied())
        .collect();
    let admitted = buckets
        .iter()
        .zip(&tats)
        .all(|(b, tat)| b.rate.admits(*tat, now));
    if !(admitted && consume) {
        return Checked {
            admitted,
            now,
            tats,
        };
    }
    let tats = buckets
        .iter()
        .zip(tats)
        .map(|(b, tat)| {
            let next = b.rate.advance(tat, now);
            shard.tats.insert(b.key.clone(), next);
            Some(next)
        })
        .collect();
    Checked {
        admitted,
        now,
        tats,
    }
}
