//! The Redis backend: one Lua script checks and takes every bucket of a request atomically,
//! with Redis's own clock, so all nodes share exact limits whatever their clocks say.

use std::time::Duration;

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Bucket, Checked};

/// KEYS: the buckets. ARGV: consume (0/1), then `T` and the tolerance of each bucket (µs).
/// Returns {admitted, now, tat…} as strings (Lua numbers are doubles; every value is an
/// integer below 2^53, and strings carry them without Redis's integer conversion).
const CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local consume = ARGV[1] == '1'
local tats = {}
local admitted = 1
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i])
  local tolerance = tonumber(ARGV[2 * i + 1])
  local stored = redis.call('GET', KEYS[i])
  local tat = now
  if stored then tat = math.max(tonumber(stored), now) end
  tats[i] = stored and tonumber(stored) or -1
  if tat + interval - now > tolerance then admitted = 0 end
end
if admitted == 1 and consume then
  for i = 1, #KEYS do
    local interval = tonumber(ARGV[2 * i])
    local tat = math.max(tats[i], now) + interval
    tats[i] = tat
    redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
  end
end
local out = {tostring(admitted), string.format('%d', now)}
for i = 1, #KEYS do out[#out + 1] = string.format('%d', tats[i]) end
return out
";

/// KEYS[1]: a key's rejection log (sorted set of times). ARGV: window (µs), a unique member.
/// Returns the rejections within the window, this one included.
const REJECT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return redis.call('ZCARD', KEYS[1])
";

pub struct RedisStore {
    conn: ConnectionManager,
    check: Script,
    reject: Script,
    timeout: Duration,
}

/// Keys of one account share a hash slot (`{account}`), so a Redis Cluster can run the
/// script on all of them.
fn key(account_id: &str, bucket: &str) -> String {
    format!("easel:rl:{{{account_id}}}:{bucket}")
}

impl RedisStore {
    /// A client for `url`; it connects on first use and reconnects by itself.
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<RedisStore> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        Ok(RedisStore {
            conn: ConnectionManager::new_lazy_with_config(client, config)?,
            check: Script::new(CHECK),
            reject: Script::new(REJECT),
            timeout,
        })
    }

    pub async fn check(
        &self,
        account_id: &str,
        buckets: &[Bucket],
        consume: bool,
    ) -> anyhow::Result<Checked> {
        let mut call = self.check.prepare_invoke();
        call.arg(if consume { "1" } else { "0" });
        for b in buckets {
            call.key(key(account_id, &b.key));
            call.arg(b.rate.interval_us).arg(b.rate.tolerance_us());
        }
        let mut conn = self.conn.clone();
        let out: Vec<String> = tokio::time::timeout(self.timeout, call.invoke_async(&mut conn))
            .await
            .map_err(|_| anyhow::anyhow!("Redis did not answer within {:?}", self.timeout))??;
        let number = |i: usize| -> anyhow::Result<i64> {
            out.get(i)
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| anyhow::anyhow!("unexpected answer from the limit script: {out:?}"))
        };
        let admitted = number(0)? == 1;
        let now = number(1)?;
        let tats = (0..buckets.len())
            .map(|i| number(2 + i).map(|tat| (tat >= 0).then_some(tat)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Checked {
            admitted,
            now,
            tats,
        })
    }

    pub async fn reject(
        &self,
        account_id: &str,
        key_id: &str,
        window_us: i64,
    ) -> anyhow::Result<u64> {
        let member = easel_core::ids::IdKind::Request.generate();
        let mut call = self.reject.prepare_invoke();
        call.key(key(account_id, &format!("rej:{key_id}")))
            .arg(window_us)
            .arg(member);
        let mut conn = self.conn.clone();
        let count: u64 = tokio::time::timeout(self.timeout, call.invoke_async(&mut conn))
            .await
            .map_err(|_| anyhow::anyhow!("Redis did not answer within {:?}", self.timeout))??;
        Ok(count)
    }

    /// Runs a script over `keys` with integer `args`; it must answer integers as strings.
    pub async fn run(
        &self,
        script: &str,
        keys: &[String],
        args: &[i64],
    ) -> anyhow::Result<Vec<i64>> {
        let script = Script::new(script);
        let mut call = script.prepare_invoke();
        for k in keys {
            call.key(k);
        }
        for a in args {
            call.arg(*a);
        }
        let mut conn = self.conn.clone();
        let out: Vec<String> = tokio::time::timeout(self.timeout, call.invoke_async(&mut conn))
            .await
            .map_err(|_| anyhow::anyhow!("Redis did not answer within {:?}", self.timeout))??;
        out.iter()
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| anyhow::anyhow!("unexpected answer from a script: {out:?}"))
            })
            .collect()
    }

    /// Whether Redis answers `PING` within the timeout.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let _: String =
            tokio::time::timeout(self.timeout, redis::cmd("PING").query_async(&mut conn))
                .await
                .map_err(|_| anyhow::anyhow!("Redis did not answer within {:?}", self.timeout))??;
        Ok(())
    }

    /// Deletes `keys`.
    pub async fn delete(&self, keys: &[String]) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = tokio::time::timeout(
            self.timeout,
            redis::cmd("DEL").arg(keys).query_async(&mut conn),
        )
        .await
        .map_err(|_| anyhow::anyhow!("Redis did not answer within {:?}", self.timeout))??;
        Ok(())
    }

    pub async fn clear_rejections(&self, account_id: &str, key_id: &str) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let _: i64 = tokio::time::timeout(
            self.timeout,
            redis::cmd("DEL")
                .arg(key(account_id, &format!("rej:{key_id}")))
                .query_async(&mut conn),
        )
        .await
        .map_err(|_| anyhow::anyhow!("Redis did not answer within {:?}", self.timeout))??;
        Ok(())
    }
}
