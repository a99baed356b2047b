//! `WebhookStore`: webhook endpoints, scoped to their account and mode.

macro_rules! impl_webhook_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            async fn load_endpoint(
                conn: &mut <$Db as sqlx::Database>::Connection,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
            ) -> $crate::DbResult<$crate::WebhookEndpoint> {
                let sql = format!(
                    "{} WHERE id = $1 AND account_id = $2 AND mode = $3 AND deleted_at IS NULL",
                    $crate::sql::WEBHOOK_ENDPOINT_COLUMNS
                );
                sqlx::query_as::<_, $crate::common::webhook_rows::EndpointRow>(&sql)
                    .bind(id)
                    .bind(account_id)
                    .bind(mode.as_str())
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::DbError::NotFound)?
                    .try_into()
            }

            async fn audit_endpoint(
                tx: &mut sqlx::Transaction<'_, $Db>,
                endpoint: &$crate::WebhookEndpoint,
                action: &'static str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<()> {
                let entry = audit
                    .with("mode", endpoint.mode.as_str())
                    .with("url", endpoint.url.as_str())
                    .entry(Some(&endpoint.account_id), action, ("webhook_endpoint", &endpoint.id));
                Self::insert_audit(tx, &entry).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::WebhookStore for $Store {
            async fn create_webhook_endpoint(
                &self,
                new: $crate::NewWebhookEndpoint,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::WebhookEndpoint> {
                let id = easel_core::ids::IdKind::WebhookEndpoint.generate();
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                sqlx::query($crate::sql::INSERT_WEBHOOK_ENDPOINT)
                    .bind(&id)
                    .bind(&new.account_id)
                    .bind(new.mode.as_str())
                    .bind(&new.url)
                    .bind(&new.description)
                    .bind(new.enabled_events.encode())
                    .bind(&new.secret)
                    .bind((!new.enabled).then_some(now))
                    .bind((!new.enabled).then_some("disabled by the account"))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let endpoint = Self::load_endpoint(&mut tx, &new.account_id, new.mode, &id).await?;
                let action = easel_core::audit::action::WEBHOOK_ENDPOINT_CREATED;
                Self::audit_endpoint(&mut tx, &endpoint, action, audit).await?;
                tx.commit().await?;
                Ok(endpoint)
            }

            async fn get_webhook_endpoint(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
            ) -> $crate::DbResult<$crate::WebhookEndpoint> {
                let mut conn = self.read().acquire().await?;
                Self::load_endpoint(&mut conn, account_id, mode, id).await
            }

            async fn list_webhook_endpoints(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                page: $crate::Page,
            ) -> $crate::DbResult<Vec<$crate::WebhookEndpoint>> {
                let (keyset, limit) = page.keyset("id", 3);
                let sql = format!(
                    "{} WHERE account_id = $1 AND mode = $2 AND deleted_at IS NULL{keyset} ORDER BY id DESC {limit}",
                    $crate::sql::WEBHOOK_ENDPOINT_COLUMNS
                );
                let mut query =
                    sqlx::query_as::<_, $crate::common::webhook_rows::EndpointRow>(&sql)
                        .bind(account_id)
                        .bind(mode.as_str());
                if let Some(cursor) = &page.starting_after {
                    query = query.bind(cursor);
                }
                query
                    .bind(page.fetch())
                    .fetch_all(self.read())
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            async fn update_webhook_endpoint(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
                patch: $crate::WebhookEndpointPatch,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::WebhookEndpoint> {
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                let old = Self::load_endpoint(&mut tx, account_id, mode, id).await?;
                let url = patch.url.unwrap_or(old.url);
                let description = patch.description.unwrap_or(old.description);
                let events = patch.enabled_events.unwrap_or(old.enabled_events);
                let (disabled_at, reason, failing_since) = match patch.enabled {
                    Some(true) => (None, None, None),
                    Some(false) if old.disabled_at.is_none() => (
                        Some(now),
                        Some("disabled by the account".to_string()),
                        old.failing_since,
                    ),
                    _ => (old.disabled_at, old.disabled_reason, old.failing_since),
                };
                sqlx::query($crate::sql::UPDATE_WEBHOOK_ENDPOINT)
                    .bind(id)
                    .bind(&url)
                    .bind(&description)
                    .bind(events.encode())
                    .bind(disabled_at)
                    .bind(&reason)
                    .bind(failing_since)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let endpoint = Self::load_endpoint(&mut tx, account_id, mode, id).await?;
                let action = easel_core::audit::action::WEBHOOK_ENDPOINT_UPDATED;
                Self::audit_endpoint(&mut tx, &endpoint, action, audit).await?;
                tx.commit().await?;
                Ok(endpoint)
            }

            async fn delete_webhook_endpoint(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::WebhookEndpoint> {
                let mut tx = self.begin_write().await?;
                let endpoint = Self::load_endpoint(&mut tx, account_id, mode, id).await?;
                sqlx::query(
                    "UPDATE webhook_endpoints SET deleted_at = $2, updated_at = $2 WHERE id = $1",
                )
                .bind(id)
                .bind(audit.now)
                .execute(&mut *tx)
                .await?;
                let action = easel_core::audit::action::WEBHOOK_ENDPOINT_DELETED;
                Self::audit_endpoint(&mut tx, &endpoint, action, audit).await?;
                tx.commit().await?;
                Ok(endpoint)
            }

            async fn rotate_webhook_secret(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
                secret: &str,
                previous_until: i64,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::WebhookEndpoint> {
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                let old = Self::load_endpoint(&mut tx, account_id, mode, id).await?;
                sqlx::query(
                    "UPDATE webhook_endpoints SET secret = $2, previous_secret = $3, \
                     previous_secret_expires_at = $4, updated_at = $5 WHERE id = $1",
                )
                .bind(id)
                .bind(secret)
                .bind((previous_until > now).then_some(old.secret.as_str()))
                .bind((previous_until > now).then_some(previous_until))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let endpoint = Self::load_endpoint(&mut tx, account_id, mode, id).await?;
                let audit = audit.with("previous_secret_expires_at", endpoint.previous_secret_expires_at);
                let action = easel_core::audit::action::WEBHOOK_SECRET_ROTATED;
                Self::audit_endpoint(&mut tx, &endpoint, action, audit).await?;
                tx.commit().await?;
                Ok(endpoint)
            }
        }
    };
}
