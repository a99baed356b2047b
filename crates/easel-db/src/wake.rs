//! Wake-ups instead of polling.
//!
//! Nodes find new work by being told, and poll only as a slow safety net. On PostgreSQL
//! the database tells every node: triggers (migration 0018) `NOTIFY easel_wake` when a job
//! becomes queued, webhook deliveries are written, or an account, member or key changes,
//! whichever node or process wrote it; [`listen`] turns those into [`Wake`]s. On SQLite
//! (one node by construction) the node signals itself, and a write by another process
//! (`easel admin` beside the server) shows as a change of the WAL file
//! ([`Store::write_marker`](crate::MigrationStore::write_marker)), which costs a `stat`,
//! not a query.

use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::DbResult;

/// The one channel every notification goes through; its payload says what changed.
pub const CHANNEL: &str = "easel_wake";

/// What a notification says changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A job of this queue became queued.
    Jobs(String),
    /// A running job was asked to stop (its runner stops it now, not at a heartbeat).
    Cancel(String),
    /// Webhook deliveries were written.
    Webhooks,
    /// An account, member or API key changed (cached credentials may be stale).
    Changes,
    /// Notifications may have been lost (the listening connection dropped and was made
    /// again): look at everything.
    Missed,
}

impl Wake {
    /// Parses `"<schema> <node> <what> [<queue>]"`; notifications of other schemas
    /// (other Easel databases sharing the server's database, as the tests do) and of this
    /// node (`node`: it woke itself) are `None`.
    fn parse(payload: &str, schema: &str, node: &str) -> Option<Wake> {
        let mut parts = payload.splitn(4, ' ');
        if parts.next()? != schema || parts.next()? == node {
            return None;
        }
        match (parts.next()?, parts.next()) {
            ("jobs", Some(queue)) => Some(Wake::Jobs(queue.to_string())),
            ("cancel", Some(job)) => Some(Wake::Cancel(job.to_string())),
            ("webhooks", None) => Some(Wake::Webhooks),
            ("changes", None) => Some(Wake::Changes),
            _ => None,
        }
    }
}

/// On PostgreSQL, listens for wake-ups until the process ends, calling `on` for each
/// (and [`Wake::Missed`] after any gap) except those `node` caused itself (see
/// [`MigrationStore::node`](crate::MigrationStore::node)); `None` on SQLite, which has no
/// notifications.
pub async fn listen<F>(
    url: &str,
    node: Option<String>,
    on: F,
) -> DbResult<Option<tokio::task::JoinHandle<()>>>
where
    F: Fn(Wake) + Send + Sync + 'static,
{
    if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
        return Ok(None);
    }
    let mut listener = PgListener::connect(url).await?;
    // The schema the triggers will name: the URL's `search_path`, if it sets one.
    let (schema,): (String,) = sqlx::query_as("SELECT current_schema()")
        .fetch_one(&mut listener)
        .await?;
    let node = node.unwrap_or_default();
    // Named, so an operator (or a test) can tell the listening connection apart.
    sqlx::query("SELECT set_config('application_name', $1, false)")
        .bind(format!("easel-listen {node}"))
        .execute(&mut listener)
        .await?;
    listener.listen(CHANNEL).await?;
    Ok(Some(tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    if let Some(wake) = Wake::parse(n.payload(), &schema, &node) {
                        on(wake);
                    }
                }
                // The connection dropped; the next call connects and listens again.
                Ok(None) => on(Wake::Missed),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the database's wake-ups; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    on(Wake::Missed);
                }
            }
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_of_this_schema_and_other_nodes_only() {
        let parse = |payload| Wake::parse(payload, "public", "n_me");
        assert_eq!(
            parse("public n_other jobs generation:sandbox image"),
            Some(Wake::Jobs("generation:sandbox image".into()))
        );
        assert_eq!(parse("public - webhooks"), Some(Wake::Webhooks));
        assert_eq!(
            parse("public n_other cancel job_1"),
            Some(Wake::Cancel("job_1".into()))
        );
        assert_eq!(parse("public n_other changes"), Some(Wake::Changes));
        assert_eq!(parse("public n_me changes"), None, "its own");
        assert_eq!(parse("t_42 n_other changes"), None, "another schema");
        assert_eq!(parse("public n_other jobs"), None);
        assert_eq!(parse("public n_other nonsense"), None);
    }
}
