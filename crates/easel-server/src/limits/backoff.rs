//! Back-off after failures (console sign-in): a few free failures per key, then a pause
//! that doubles with each further failure up to a cap, kept in this node's memory or in
//! Redis (shared by every node), with the same fallback as request limits.
//!
//! Each key holds a failure count and the time its pause ends. A key is forgotten once it
//! has been quiet for its pause plus the cap, so old failures stop counting. Attempts
//! refused during a pause are not failures: they neither lengthen it nor reach the
//! password check, which is what keeps the cap a real bound on a lockout.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Limiter;

/// How failures turn into pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Failures before the first pause.
    pub free: u32,
    /// The first pause (ms); doubled by each further failure.
    pub base_ms: i64,
    /// The longest pause (ms).
    pub max_ms: i64,
}

impl BackoffPolicy {
    /// The pause after the `failures`-th failure (0: none yet).
    pub fn pause_ms(&self, failures: u64) -> i64 {
        let free = u64::from(self.free);
        if failures <= free {
            return 0;
        }
        let doublings = u32::try_from((failures - free - 1).min(40)).unwrap_or(40);
        self.base_ms
            .saturating_mul(1i64 << doublings)
            .min(self.max_ms)
    }
}

/// Failures per key (they are HMACs of the caller's keys, never the raw values).
#[derive(Default)]
pub(super) struct BackoffMemory {
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Clone, Copy)]
struct Entry {
    failures: u64,
    paused_until: i64,
    forget_at: i64,
}

impl BackoffMemory {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Each change is one insert or removal, so a poisoned map is still consistent.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn paused_ms(&self, keys: &[String], now: i64) -> i64 {
        let entries = self.lock();
        keys.iter()
            .filter_map(|k| entries.get(k))
            .filter(|e| e.forget_at > now)
            .map(|e| e.paused_until - now)
            .max()
            .unwrap_or(0)
            .max(0)
    }

    fn fail(&self, keys: &[String], policy: BackoffPolicy, now: i64) -> Vec<i64> {
        let mut entries = self.lock();
        keys.iter()
            .map(|k| {
                let e = entries.entry(k.clone()).or_insert(Entry {
                    failures: 0,
                    paused_until: 0,
                    forget_at: 0,
                });
                if e.forget_at <= now {
                    e.failures = 0;
                }
                e.failures += 1;
                let pause = policy.pause_ms(e.failures);
                if pause > 0 {
                    e.paused_until = now + pause;
                }
                e.forget_at = now + pause + policy.max_ms;
                pause
            })
            .collect()
    }

    fn reset(&self, keys: &[String]) {
        let mut entries = self.lock();
        for k in keys {
            entries.remove(k);
        }
    }

    pub(super) fn purge(&self, now: i64) {
        self.lock().retain(|_, e| e.forget_at > now);
    }
}

/// KEYS: the keys. Returns each key's remaining pause (ms) by Redis's clock.
pub(super) const PAUSED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS do
  local u = redis.call('HGET', KEYS[i], 'until')
  local left = 0
  if u then left = math.max(tonumber(u) - now, 0) end
  out[i] = string.format('%d', left)
end
return out
";

/// KEYS: the keys. ARGV: free failures, first pause (ms), longest pause (ms). Counts a
/// failure on each key and returns each key's new pause (ms, 0: none).
pub(super) const FAIL: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free = tonumber(ARGV[1])
local base = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS do
  local failures = redis.call('HINCRBY', KEYS[i], 'failures', 1)
  local pause = 0
  if failures > free then
    pause = math.min(base * 2 ^ math.min(failures - free - 1, 40), max)
    redis.call('HSET', KEYS[i], 'until', string.format('%d', now + pause))
  end
  redis.call('PEXPIRE', KEYS[i], math.floor(pause + max))
  out[i] = string.format('%d', pause)
end
return out
";

impl Limiter {
    /// The Redis key of a back-off key: a partition HMAC, so keys of different instances
    /// sharing one Redis never meet and usernames and addresses are not stored. One hash
    /// slot for all, so a Redis Cluster runs a script over several.
    fn backoff_keys(&self, keys: &[&str]) -> Vec<String> {
        keys.iter()
            .map(|k| {
                format!(
                    "easel:bo:{{login}}:{}",
                    hex::encode(self.partition("backoff", k))
                )
            })
            .collect()
    }

    /// How long (ms) the longest pause among `keys` still lasts (0: none).
    pub async fn backoff_paused_ms(&self, keys: &[&str]) -> i64 {
        let keys = self.backoff_keys(keys);
        match self
            .try_redis(|r| r.run(super::backoff::PAUSED, &keys, &[]))
            .await
        {
            Some(left) => left.into_iter().max().unwrap_or(0),
            None => self.backoff.paused_ms(&keys, easel_core::time::now_ms()),
        }
    }

    /// Counts a failure on each of `keys`; returns the pause each now has (ms, 0: none),
    /// in the order of `keys`.
    pub async fn backoff_fail(&self, keys: &[&str], policy: BackoffPolicy) -> Vec<i64> {
        let hashed = self.backoff_keys(keys);
        let args = [i64::from(policy.free), policy.base_ms, policy.max_ms];
        match self
            .try_redis(|r| r.run(super::backoff::FAIL, &hashed, &args))
            .await
        {
            Some(pauses) if pauses.len() == keys.len() => pauses,
            _ => self
                .backoff
                .fail(&hashed, policy, easel_core::time::now_ms()),
        }
    }

    /// Forgets the failures of `keys`.
    pub async fn backoff_reset(&self, keys: &[&str]) {
        let hashed = self.backoff_keys(keys);
        self.backoff.reset(&hashed);
        self.try_redis(|r| r.delete(&hashed)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::{BackoffMemory, BackoffPolicy};

    const POLICY: BackoffPolicy = BackoffPolicy {
        free: 3,
        base_ms: 1000,
        max_ms: 900_000,
    };

    #[test]
    fn pauses_double_after_the_free_failures_up_to_the_cap() {
        let pauses: Vec<i64> = (1..=16).map(|n| POLICY.pause_ms(n)).collect();
        assert_eq!(&pauses[..7], [0, 0, 0, 1000, 2000, 4000, 8000]);
        assert_eq!(pauses[15], 900_000, "capped");
        assert_eq!(POLICY.pause_ms(u64::MAX), 900_000, "no overflow");
    }

    #[test]
    fn a_key_is_paused_then_forgotten() {
        let memory = BackoffMemory::default();
        let keys = vec!["ip".to_string(), "user".to_string()];
        for _ in 0..3 {
            assert_eq!(memory.fail(&keys, POLICY, 0), [0, 0]);
        }
        assert_eq!(memory.paused_ms(&keys, 0), 0, "free failures do not pause");
        assert_eq!(memory.fail(&keys[..1], POLICY, 0), [1000]);
        assert_eq!(memory.paused_ms(&keys, 400), 600);
        assert_eq!(memory.paused_ms(&keys[1..], 400), 0, "keys are separate");
        assert_eq!(memory.paused_ms(&keys, 1000), 0, "the pause ends");
        // Quiet for the pause plus the cap: the count starts again.
        assert_eq!(memory.fail(&keys[..1], POLICY, 1000 + 900_000), [0]);
        memory.reset(&keys);
        memory.purge(i64::MAX);
        assert_eq!(memory.paused_ms(&keys, 0), 0);
    }
}
