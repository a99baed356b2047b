//! `MaintenanceStore`: maintenance windows, and telling every account about one.

const COLUMNS: &str =
    "id, starts_at, ends_at, message, components, emergency, created_at, canceled_at";

#[derive(sqlx::FromRow)]
pub(crate) struct MaintenanceRow {
    id: String,
    starts_at: i64,
    ends_at: i64,
    message: String,
    components: String,
    emergency: bool,
    created_at: i64,
    canceled_at: Option<i64>,
}

impl From<MaintenanceRow> for crate::Maintenance {
    fn from(r: MaintenanceRow) -> Self {
        crate::Maintenance {
            id: r.id,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            message: r.message,
            // Written by this store as a JSON array of strings.
            components: serde_json::from_str(&r.components).unwrap_or_default(),
            emergency: r.emergency,
            created_at: r.created_at,
            canceled_at: r.canceled_at,
        }
    }
}

pub(crate) fn select(filter: &str) -> String {
    format!("SELECT {COLUMNS} FROM maintenance_windows WHERE {filter}")
}

macro_rules! impl_maintenance_store {
    ($Store:ty, $Db:ty) => {
        #[async_trait::async_trait]
        impl $crate::MaintenanceStore for $Store {
            async fn announce_maintenance(
                &self,
                window: $crate::Maintenance,
                data: serde_json::Value,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<u64> {
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO maintenance_windows (id, starts_at, ends_at, message, components, \
                     emergency, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&window.id)
                .bind(window.starts_at)
                .bind(window.ends_at)
                .bind(&window.message)
                .bind(serde_json::Value::from(window.components.clone()).to_string())
                .bind(window.emergency)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let accounts: Vec<(String,)> = sqlx::query_as(
                    "SELECT id FROM accounts WHERE state <> 'terminated' ORDER BY id",
                )
                .fetch_all(&mut *tx)
                .await?;
                for (account_id,) in &accounts {
                    for mode in ["test", "live"] {
                        Self::insert_event_row(
                            &mut tx,
                            account_id,
                            mode,
                            "maintenance.scheduled",
                            &data,
                            now,
                        )
                        .await?;
                    }
                }
                let entry = audit
                    .with("starts_at", window.starts_at)
                    .with("ends_at", window.ends_at)
                    .with("emergency", window.emergency)
                    .with("accounts", accounts.len())
                    .entry(
                        None,
                        easel_core::audit::action::MAINTENANCE_ANNOUNCED,
                        ("maintenance", &window.id),
                    );
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(accounts.len() as u64)
            }

            async fn list_maintenance(
                &self,
                after: i64,
            ) -> $crate::DbResult<Vec<$crate::Maintenance>> {
                let sql = $crate::common::maintenance_store::select(
                    "canceled_at IS NULL AND ends_at > $1 ORDER BY starts_at, id",
                );
                Ok(
                    sqlx::query_as::<_, $crate::common::maintenance_store::MaintenanceRow>(&sql)
                        .bind(after)
                        .fetch_all(self.read())
                        .await?
                        .into_iter()
                        .map(Into::into)
                        .collect(),
                )
            }

            async fn cancel_maintenance(
                &self,
                id: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Maintenance> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE maintenance_windows SET canceled_at = $2 WHERE id = $1 \
                     AND canceled_at IS NULL AND ends_at > $2",
                )
                .bind(id)
                .bind(audit.now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done != 1 {
                    return Err($crate::DbError::NotFound);
                }
                let sql = $crate::common::maintenance_store::select("id = $1");
                let window: $crate::Maintenance =
                    sqlx::query_as::<_, $crate::common::maintenance_store::MaintenanceRow>(&sql)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?
                        .into();
                let entry = audit.entry(
                    None,
                    easel_core::audit::action::MAINTENANCE_CANCELED,
                    ("maintenance", id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(window)
            }
        }
    };
}
