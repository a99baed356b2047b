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
                // One statement per case rather than `$1 IS NULL OR …`, so each keeps a plan
                // that uses its index (PostgreSQL caches one generic plan per statement).
                let (filter, first_param) = match account_id {
                    Some(_) => ("account_id = $1", 2),
                    None => ("TRUE", 1),
                };
                let (keyset, limit) = page.keyset("id", first_param);
                let sql = format!(
                    "{} WHERE {filter}{keyset} ORDER BY id DESC {limit}",
                    $crate::sql::AUDIT_COLUMNS_FROM
                );
                let mut query = sqlx::query_as::<_, $crate::common::rows::AuditRow>(&sql);
                if let Some(account_id) = account_id {
                    query = query.bind(account_id);
                }
                if let Some(cursor) = &page.starting_after {
                    query = query.bind(cursor);
                }
                let rows = query.bind(page.fetch()).fetch_all(self.read()).await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }
        }
    };
}
