//! `AuditStore`: appending outside another change, and listing.

macro_rules! impl_audit_store {
    ($Store:ty, $Db:ty) => {
        #[async_trait::async_trait]
        impl $crate::AuditStore for $Store {
            async fn append_audit(
                &self,
                account_id: Option<&str>,
                action: &'static str,
                target: (&str, &str),
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<()> {
                let mut tx = self.begin_write().await?;
                Self::insert_audit(&mut tx, &audit.entry(account_id, action, target)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_audit(
                &self,
                account_id: Option<&str>,
                page: $crate::Page,
            ) -> $crate::DbResult<Vec<$crate::AuditEntry>> {
                let (after, limit) = page.bounds();
                // Two statements rather than `$1 IS NULL OR …` so each keeps a plan that uses
                // its index (PostgreSQL caches one generic plan per prepared statement).
                let rows = match account_id {
                    Some(account_id) => {
                        let sql = format!(
                            "{} WHERE account_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                            $crate::sql::AUDIT_COLUMNS_FROM
                        );
                        sqlx::query_as::<_, $crate::common::rows::AuditRow>(&sql)
                            .bind(account_id)
                            .bind(after)
                            .bind(limit)
                            .fetch_all(self.read())
                            .await?
                    }
                    None => {
                        let sql = format!(
                            "{} WHERE id < $1 ORDER BY id DESC LIMIT $2",
                            $crate::sql::AUDIT_COLUMNS_FROM
                        );
                        sqlx::query_as::<_, $crate::common::rows::AuditRow>(&sql)
                            .bind(after)
                            .bind(limit)
                            .fetch_all(self.read())
                            .await?
                    }
                };
                rows.into_iter().map(TryInto::try_into).collect()
            }
        }
    };
}
