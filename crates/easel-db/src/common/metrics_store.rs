//! `MetricsStore`: the figures `/metrics` reads from the database (see [`crate::metrics`]).

macro_rules! impl_metrics_store {
    ($Store:ty, $Db:ty) => {
        #[async_trait::async_trait]
        impl $crate::MetricsStore for $Store {
            async fn gauges(&self, now: i64) -> $crate::DbResult<$crate::metrics::Gauges> {
                use $crate::metrics::{
                    DELIVERIES, HOLDS, QUARANTINED, QUEUED, QueueGauge, RUNNING,
                };
                // One connection for the five statements: a scrape takes one from the
                // pool, not five.
                let mut conn = self.read().acquire().await?;
                let queued: Vec<(String, i64, Option<i64>)> =
                    sqlx::query_as(QUEUED).fetch_all(&mut *conn).await?;
                let running: Vec<(String, i64)> =
                    sqlx::query_as(RUNNING).fetch_all(&mut *conn).await?;
                let (holds_open, holds_open_credits): (i64, i64) =
                    sqlx::query_as(HOLDS).fetch_one(&mut *conn).await?;
                let (deliveries_pending, deliveries_earliest_due): (i64, Option<i64>) =
                    sqlx::query_as(DELIVERIES).fetch_one(&mut *conn).await?;
                let (workers_quarantined,): (i64,) = sqlx::query_as(QUARANTINED)
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await?;
                let mut queues: Vec<QueueGauge> = queued
                    .into_iter()
                    .map(|(queue, queued, earliest_due)| QueueGauge {
                        queue,
                        queued,
                        earliest_due,
                        running: 0,
                    })
                    .collect();
                for (queue, n) in running {
                    match queues.iter_mut().find(|q| q.queue == queue) {
                        Some(q) => q.running = n,
                        None => queues.push(QueueGauge {
                            queue,
                            running: n,
                            ..QueueGauge::default()
                        }),
                    }
                }
                Ok($crate::metrics::Gauges {
                    queues,
                    holds_open,
                    holds_open_credits,
                    deliveries_pending,
                    deliveries_earliest_due,
                    workers_quarantined,
                })
            }

            fn pools(&self) -> Vec<$crate::metrics::PoolGauge> {
                self.pool_gauges()
            }
        }
    };
}
