//! Request limits: requests per minute and per day, per API key and per account (and mode),
//! with GCRA ([`gcra`]) in this node's memory or in Redis, shared by every node.
//!
//! Every request with an API key is checked by [`middleware::limit`] against four policies
//! at once (`key-minute`, `key-day`, `account-minute`, `account-day`): admitted only if all
//! have room, and then one unit is taken from each, atomically (one lock in memory, one
//! script in Redis), so a request refused by one policy costs nothing from the others.
//! Concurrent jobs are not counted here: the store counts open generations in the creating
//! transaction, which is exact across nodes and frees a slot the moment a job ends.
//!
//! If Redis fails or is slow, the node limits in its own memory (per node, so a cluster
//! admits up to nodes × quota), logs a warning, counts it in `/metrics`, and tries Redis
//! again after `limits.redis_retry_ms`. The limiter never fails a request.

pub mod backoff;
pub mod gcra;
pub mod headers;
mod memory;
pub mod middleware;
mod redis;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use easel_core::mode::Mode;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;
use gcra::Rate;
use memory::MemoryStore;
use redis::RedisStore;

/// The effective limits of an account: its plan's, or the operator's overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub requests_per_minute: u32,
    pub requests_per_day: u32,
    pub concurrent_jobs: u32,
}

impl Limits {
    /// The limits of `plan` with `overrides` applied; an unknown plan (removed from the
    /// config since) counts as the default plan.
    pub fn resolve(config: &Config, plan: &str, overrides: &easel_db::LimitOverrides) -> Limits {
        let base = config
            .plan(plan)
            .or_else(|| config.plan(&config.default_plan));
        let (rpm, rpd, jobs) = base.map_or((1, 1, 1), |p| {
            (p.requests_per_minute, p.requests_per_day, p.concurrent_jobs)
        });
        Limits {
            requests_per_minute: overrides.requests_per_minute.unwrap_or(rpm),
            requests_per_day: overrides.requests_per_day.unwrap_or(rpd),
            concurrent_jobs: overrides.concurrent_jobs.unwrap_or(jobs),
        }
    }
}

/// One bucket of a check: its key (unique per account and policy) and its rate.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub key: String,
    pub rate: Rate,
}

/// What a backend answered: whether the request fits, its clock (µs) and each bucket's
/// TAT after the check (`None`: full).
#[derive(Debug, Clone)]
pub struct Checked {
    pub admitted: bool,
    pub now: i64,
    pub tats: Vec<Option<i64>>,
}

/// Which scope a policy limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Key,
    Account,
}

impl Scope {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::Account => "account",
        }
    }
}

/// A named quota policy as the RateLimit header fields describe it.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `key-minute`, `key-day`, `account-minute`, `account-day`.
    pub name: &'static str,
    pub scope: Scope,
    /// `requests_per_minute` or `requests_per_day`.
    pub limit: &'static str,
    pub rate: Rate,
    /// The partition key: a truncated HMAC of the key or account id, so clients can tell
    /// partitions apart without learning anything.
    pub partition: [u8; 8],
}

/// A policy's state after a check.
#[derive(Debug, Clone)]
pub struct PolicyState {
    pub policy: Policy,
    pub remaining: u32,
    /// Seconds until one more unit is back (0 when full).
    pub reset_seconds: u64,
    /// Whether this policy refused the request.
    pub exceeded: bool,
}

/// The verdict on one request.
#[derive(Debug, Clone)]
pub struct Decision {
    pub admitted: bool,
    pub states: Vec<PolicyState>,
}

impl Decision {
    /// Seconds until every exceeded policy has room again: a truthful `Retry-After`.
    pub fn retry_after(&self) -> u64 {
        self.states
            .iter()
            .filter(|s| s.exceeded)
            .map(|s| s.reset_seconds.max(1))
            .max()
            .unwrap_or(1)
    }

    /// The first exceeded policy, for the error message.
    pub fn exceeded(&self) -> Option<&PolicyState> {
        self.states.iter().find(|s| s.exceeded)
    }
}

/// A parsed `limits.count` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRule {
    /// `None`: any method.
    method: Option<String>,
    route: String,
    prefix: bool,
}

impl CountRule {
    /// Parses `*`, `METHOD /route`, `* /route`, with an optional trailing `*` on the route.
    pub fn parse(s: &str) -> Result<CountRule, String> {
        let s = s.trim();
        if s == "*" {
            return Ok(CountRule {
                method: None,
                route: "/".into(),
                prefix: true,
            });
        }
        let (method, route) = s
            .split_once(' ')
            .ok_or_else(|| format!("{s:?} is not `*` or `METHOD /route`"))?;
        let method = match method {
            "*" => None,
            m if m.bytes().all(|b| b.is_ascii_uppercase()) && !m.is_empty() => Some(m.to_string()),
            m => return Err(format!("{m:?} is not an upper-case HTTP method or `*`")),
        };
        let route = route.trim();
        if !route.starts_with('/') {
            return Err(format!("{route:?} does not start with `/`"));
        }
        let (route, prefix) = match route.strip_suffix('*') {
            Some(r) => (r.to_string(), true),
            None => (route.to_string(), false),
        };
        Ok(CountRule {
            method,
            route,
            prefix,
        })
    }

    fn matches(&self, method: &str, route: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && if self.prefix {
                route.starts_with(&self.route)
            } else {
                route == self.route
            }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct LimiterMetrics {
    /// Requests refused with 429 (rates and cool-downs).
    pub rejected: AtomicU64,
    /// Checks answered locally because Redis failed or was being avoided.
    pub redis_fallbacks: AtomicU64,
    /// Redis calls that failed or timed out.
    pub redis_errors: AtomicU64,
    /// Cool-downs started by this node.
    pub cooldowns: AtomicU64,
}

/// The limiter: rules, backends and the fallback state.
pub struct Limiter {
    count: Vec<CountRule>,
    memory: MemoryStore,
    redis: Option<RedisStore>,
    /// While now (ms) is before this, Redis is skipped.
    avoid_redis_until: AtomicI64,
    /// Whether the last Redis call failed (to log each outage and recovery once).
    redis_down: AtomicBool,
    retry_ms: i64,
    /// Rejections within `rejection_window_us` past which a key cools down (0: never).
    cooldown_rejections: u64,
    rejection_window_us: i64,
    cooldown_ms: i64,
    partition_key: Vec<u8>,
    /// Failure back-off (console sign-in) in this node's memory.
    backoff: backoff::BackoffMemory,
    pub metrics: LimiterMetrics,
}

impl Limiter {
    /// Whether the shared counters answer: `None` without Redis (counters are this
    /// node's), else whether Redis answers `PING`.
    pub async fn redis_ok(&self) -> Option<bool> {
        let redis = self.redis.as_ref()?;
        Some(redis.ping().await.is_ok())
    }

    /// The limiter of `config`; `secret` keys the partition-key HMAC.
    pub fn new(config: &Config, secret: &str) -> anyhow::Result<Limiter> {
        let l = &config.limits;
        let count = l
            .count
            .iter()
            .map(|r| CountRule::parse(r).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let redis = if config.redis_url.is_empty() {
            None
        } else {
            Some(RedisStore::new(
                &config.redis_url,
                Duration::from_millis(l.redis_timeout_ms),
            )?)
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
        mac.update(b"easel ratelimit partition keys");
        Ok(Limiter {
            count,
            memory: MemoryStore::default(),
            redis,
            avoid_redis_until: AtomicI64::new(0),
            redis_down: AtomicBool::new(false),
            retry_ms: i64::try_from(l.redis_retry_ms).unwrap_or(1000),
            cooldown_rejections: u64::from(l.cooldown_rejections),
            rejection_window_us: seconds_as(l.cooldown_window_seconds, 1_000_000),
            cooldown_ms: seconds_as(l.cooldown_seconds, 1000),
            partition_key: mac.finalize().into_bytes().to_vec(),
            backoff: backoff::BackoffMemory::default(),
            metrics: LimiterMetrics::default(),
        })
    }

    /// Whether a request to `route` (the documented template) with `method` counts.
    pub fn counts(&self, method: &str, route: &str) -> bool {
        self.count.iter().any(|r| r.matches(method, route))
    }

    fn partition(&self, kind: &str, id: &str) -> [u8; 8] {
        let mut out = [0u8; 8];
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.partition_key) {
            mac.update(kind.as_bytes());
            mac.update(id.as_bytes());
            out.copy_from_slice(&mac.finalize().into_bytes()[..8]);
        }
        out
    }

    /// The four request policies of a key, with their buckets.
    pub fn policies(
        &self,
        key_id: &str,
        account_id: &str,
        mode: Mode,
        limits: &Limits,
    ) -> (Vec<Policy>, Vec<Bucket>) {
        let key_pk = self.partition("key", key_id);
        let account_pk = self.partition("account", &format!("{account_id}:{}", mode.as_str()));
        let minute = Rate::new(limits.requests_per_minute, 60);
        let day = Rate::new(limits.requests_per_day, 86_400);
        let m = mode.as_str();
        let defs = [
            (
                "key-minute",
                Scope::Key,
                "requests_per_minute",
                minute,
                key_pk,
                format!("k:{key_id}:m"),
            ),
            (
                "key-day",
                Scope::Key,
                "requests_per_day",
                day,
                key_pk,
                format!("k:{key_id}:d"),
            ),
            (
                "account-minute",
                Scope::Account,
                "requests_per_minute",
                minute,
                account_pk,
                format!("a:{account_id}:{m}:m"),
            ),
            (
                "account-day",
                Scope::Account,
                "requests_per_day",
                day,
                account_pk,
                format!("a:{account_id}:{m}:d"),
            ),
        ];
        let mut policies = Vec::with_capacity(4);
        let mut buckets = Vec::with_capacity(4);
        for (name, scope, limit, rate, partition, key) in defs {
            policies.push(Policy {
                name,
                scope,
                limit,
                rate,
                partition,
            });
            buckets.push(Bucket { key, rate });
        }
        (policies, buckets)
    }

    /// Checks a request against `policies` (taking one unit from each if `consume` and all
    /// have room). Never fails: without Redis it answers from this node's memory.
    pub async fn check(
        &self,
        account_id: &str,
        policies: Vec<Policy>,
        buckets: &[Bucket],
        consume: bool,
    ) -> Decision {
        let checked = match self
            .try_redis(|r| r.check(account_id, buckets, consume))
            .await
        {
            Some(checked) => checked,
            None => self.memory.check(account_id, buckets, consume, now_us()),
        };
        let states = policies
            .into_iter()
            .zip(&checked.tats)
            .map(|(policy, tat)| {
                let rate = policy.rate;
                PolicyState {
                    remaining: rate.remaining(*tat, checked.now),
                    reset_seconds: rate.seconds_to_next(*tat, checked.now),
                    exceeded: !checked.admitted && !rate.admits(*tat, checked.now),
                    policy,
                }
            })
            .collect();
        Decision {
            admitted: checked.admitted,
            states,
        }
    }

    /// Records a rejected request of a key; true if it pushed the key past the cool-down
    /// threshold (the caller then starts the cool-down, once, through the store).
    pub async fn record_rejection(&self, account_id: &str, key_id: &str) -> bool {
        self.metrics.rejected.fetch_add(1, Ordering::Relaxed);
        if self.cooldown_rejections == 0 {
            return false;
        }
        let window_us = self.rejection_window_us;
        let count = match self
            .try_redis(|r| r.reject(account_id, key_id, window_us))
            .await
        {
            Some(count) => count,
            None => self.memory.reject(account_id, key_id, window_us, now_us()),
        };
        count > self.cooldown_rejections
    }

    /// Forgets a key's rejections once its cool-down has begun.
    pub async fn cooldown_started(&self, account_id: &str, key_id: &str) {
        self.metrics.cooldowns.fetch_add(1, Ordering::Relaxed);
        self.memory.clear_rejections(account_id, key_id);
        self.try_redis(|r| r.clear_rejections(account_id, key_id))
            .await;
    }

    /// Runs `call` on Redis unless there is none or it is being avoided; `None` means
    /// "answer locally".
    async fn try_redis<'a, T, F, Fut>(&'a self, call: F) -> Option<T>
    where
        F: FnOnce(&'a RedisStore) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<T>>,
    {
        let redis = self.redis.as_ref()?;
        let now = easel_core::time::now_ms();
        if now < self.avoid_redis_until.load(Ordering::Relaxed) {
            self.metrics.redis_fallbacks.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        match call(redis).await {
            Ok(v) => {
                if self.redis_down.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        "Redis answers again: request limits are shared by all nodes again"
                    );
                }
                Some(v)
            }
            Err(e) => {
                self.metrics.redis_errors.fetch_add(1, Ordering::Relaxed);
                self.metrics.redis_fallbacks.fetch_add(1, Ordering::Relaxed);
                self.avoid_redis_until
                    .store(now + self.retry_ms, Ordering::Relaxed);
                if !self.redis_down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %format!("{e:#}"), retry_ms = self.retry_ms, "Redis failed: limiting requests on this node alone until it answers again");
                }
                None
            }
        }
    }

    /// Whether Redis is configured and currently failing.
    pub fn redis_degraded(&self) -> bool {
        self.redis.is_some() && self.redis_down.load(Ordering::Relaxed)
    }

    /// Drops full buckets from memory; run every few seconds.
    pub fn purge(&self) {
        self.memory.purge(now_us(), self.rejection_window_us);
        self.backoff.purge(easel_core::time::now_ms());
    }

    /// Buckets held in this node's memory.
    pub fn buckets_in_memory(&self) -> usize {
        self.memory.len()
    }

    /// How long a cool-down lasts, in ms.
    pub fn cooldown_ms(&self) -> i64 {
        self.cooldown_ms
    }
}

/// Whole seconds from the config in another unit, saturating.
fn seconds_as(seconds: u64, unit: i64) -> i64 {
    i64::try_from(seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(unit)
}

fn now_us() -> i64 {
    easel_core::time::now_ms().saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::CountRule;

    #[test]
    fn count_rules_parse_and_match() {
        let all = CountRule::parse("*").unwrap_or_else(|e| panic!("{e}"));
        assert!(all.matches("GET", "/v1/account"));
        let create = CountRule::parse("POST /v1/generations").unwrap_or_else(|e| panic!("{e}"));
        assert!(create.matches("POST", "/v1/generations"));
        assert!(!create.matches("GET", "/v1/generations"));
        assert!(!create.matches("POST", "/v1/generations/quote"));
        let keys = CountRule::parse("* /v1/keys*").unwrap_or_else(|e| panic!("{e}"));
        assert!(keys.matches("DELETE", "/v1/keys/{id}"));
        assert!(!keys.matches("GET", "/v1/account"));
        for bad in ["", "GET", "get /v1/x", "POST v1/x", "POST"] {
            assert!(CountRule::parse(bad).is_err(), "{bad:?}");
        }
    }
}
