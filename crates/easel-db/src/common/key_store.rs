//! `KeyStore`: API keys, their secrets, authentication lookups and batched last-used times.

macro_rules! impl_key_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            pub(crate) async fn insert_key(
                tx: &mut sqlx::Transaction<'_, $Db>,
                new: &$crate::NewKey,
            ) -> $crate::DbResult<()> {
                sqlx::query($crate::sql::INSERT_KEY)
                    .bind(&new.id)
                    .bind(&new.account_id)
                    .bind(&new.user_id)
                    .bind(new.mode.as_str())
                    .bind(&new.name)
                    .bind($crate::common::rows::scopes_to_json(&new.scopes))
                    .bind($crate::common::rows::models_to_json(
                        new.allowed_models.as_deref(),
                    ))
                    .bind(new.expires_at)
                    .bind(new.now)
                    .bind(new.spend_cap.map(|c| c.credits))
                    .bind(new.spend_cap.map(|c| c.period.as_str()))
                    .execute(&mut **tx)
                    .await?;
                sqlx::query($crate::sql::INSERT_SECRET)
                    .bind(&new.secret_hash)
                    .bind(&new.id)
                    .bind(&new.display_prefix)
                    .bind(new.now)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            pub(crate) async fn load_key(
                conn: &mut <$Db as sqlx::Database>::Connection,
                account_id: &str,
                mode: Option<easel_core::mode::Mode>,
                key_id: &str,
            ) -> $crate::DbResult<$crate::ApiKey> {
                let sql = format!(
                    "{} WHERE {}",
                    $crate::sql::KEY_COLUMNS_FROM,
                    $crate::sql::KEY_SCOPE_FILTER
                );
                sqlx::query_as::<_, $crate::common::rows::KeyRow>(&sql)
                    .bind(account_id)
                    .bind(key_id)
                    .bind(mode.map(|m| m.as_str()))
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::DbError::NotFound)?
                    .try_into()
            }
        }

        #[async_trait::async_trait]
        impl $crate::KeyStore for $Store {
            async fn create_key(
                &self,
                new: $crate::NewKey,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::ApiKey> {
                let mut tx = self.begin_write().await?;
                Self::insert_key(&mut tx, &new).await?;
                let audit = audit
                    .with("name", new.name.as_str())
                    .with("mode", new.mode.as_str());
                let entry = audit.entry(
                    Some(&new.account_id),
                    easel_core::audit::action::KEY_CREATED,
                    ("api_key", &new.id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let key = Self::load_key(&mut tx, &new.account_id, None, &new.id).await?;
                tx.commit().await?;
                Ok(key)
            }

            async fn get_key(
                &self,
                account_id: &str,
                mode: Option<easel_core::mode::Mode>,
                key_id: &str,
            ) -> $crate::DbResult<$crate::ApiKey> {
                let mut conn = self.read().acquire().await?;
                Self::load_key(&mut conn, account_id, mode, key_id).await
            }

            async fn list_keys(
                &self,
                account_id: &str,
                mode: Option<easel_core::mode::Mode>,
                page: $crate::Page,
            ) -> $crate::DbResult<Vec<$crate::ApiKey>> {
                let (keyset, limit) = page.keyset("k.id", 3);
                let sql = format!(
                    "{} WHERE {}{keyset} ORDER BY k.id DESC {limit}",
                    $crate::sql::KEY_COLUMNS_FROM,
                    $crate::sql::LIST_KEYS_FILTER
                );
                let mut query = sqlx::query_as::<_, $crate::common::rows::KeyRow>(&sql)
                    .bind(account_id)
                    .bind(mode.map(|m| m.as_str()));
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

            async fn rotate_key(
                &self,
                account_id: &str,
                mode: Option<easel_core::mode::Mode>,
                key_id: &str,
                rotation: $crate::Rotation,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::ApiKey> {
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, account_id).await?;
                let key = Self::load_key(&mut tx, account_id, mode, key_id).await?;
                if key.revoked_at.is_some() {
                    return Err(easel_core::DomainError::invalid(
                        "id",
                        "api_key_revoked",
                        "A revoked key cannot be rotated.",
                    )
                    .into());
                }
                let old_until = rotation.now.saturating_add(rotation.grace_ms);
                sqlx::query($crate::sql::EXPIRE_CURRENT_SECRETS)
                    .bind(key_id)
                    .bind(old_until)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query($crate::sql::INSERT_SECRET)
                    .bind(&rotation.secret_hash)
                    .bind(key_id)
                    .bind(&rotation.display_prefix)
                    .bind(rotation.now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query($crate::sql::MARK_KEY_ROTATED)
                    .bind(key_id)
                    .bind(rotation.now)
                    .execute(&mut *tx)
                    .await?;
                let audit = audit.with("previous_secret_expires_at", old_until);
                let entry = audit.entry(
                    Some(account_id),
                    easel_core::audit::action::KEY_ROTATED,
                    ("api_key", key_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let key = Self::load_key(&mut tx, account_id, mode, key_id).await?;
                tx.commit().await?;
                Ok(key)
            }

            async fn revoke_key(
                &self,
                account_id: &str,
                mode: Option<easel_core::mode::Mode>,
                key_id: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::ApiKey> {
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, account_id).await?;
                let key = Self::load_key(&mut tx, account_id, mode, key_id).await?;
                if key.revoked_at.is_some() {
                    return Ok(key);
                }
                sqlx::query($crate::sql::MARK_KEY_REVOKED)
                    .bind(key_id)
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?;
                let entry = audit.entry(
                    Some(account_id),
                    easel_core::audit::action::KEY_REVOKED,
                    ("api_key", key_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let key = Self::load_key(&mut tx, account_id, mode, key_id).await?;
                tx.commit().await?;
                Ok(key)
            }

            async fn start_key_cooldown(
                &self,
                account_id: &str,
                key_id: &str,
                until: i64,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<Option<$crate::ApiKey>> {
                let mut tx = self.begin_write().await?;
                // NotFound for another account's or an unknown key.
                Self::load_key(&mut tx, account_id, None, key_id).await?;
                let started = sqlx::query($crate::sql::START_KEY_COOLDOWN)
                    .bind(account_id)
                    .bind(key_id)
                    .bind(until)
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if started == 0 {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let key = Self::load_key(&mut tx, account_id, None, key_id).await?;
                let audit = audit.with("until", until);
                let entry = audit.entry(
                    Some(account_id),
                    easel_core::audit::action::KEY_COOLDOWN_STARTED,
                    ("api_key", key_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                // Unix seconds, like every time in the public API.
                let data = serde_json::json!({
                    "object": "api_key",
                    "id": key.id,
                    "name": key.name,
                    "cooldown_until": until.div_euclid(1000),
                });
                Self::insert_event_row(
                    &mut tx,
                    account_id,
                    key.mode.as_str(),
                    "api_key.cooldown_started",
                    &data,
                    audit.now,
                )
                .await?;
                tx.commit().await?;
                Ok(Some(key))
            }

            async fn key_account(&self, key_id: &str) -> $crate::DbResult<String> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT account_id FROM api_keys WHERE id = $1")
                        .bind(key_id)
                        .fetch_optional(self.read())
                        .await?;
                row.map(|(account_id,)| account_id)
                    .ok_or($crate::DbError::NotFound)
            }

            async fn find_credential(
                &self,
                hash: &str,
            ) -> $crate::DbResult<Option<$crate::Credential>> {
                sqlx::query_as::<_, $crate::common::rows::CredentialRow>(
                    $crate::sql::SELECT_CREDENTIAL,
                )
                .bind(hash)
                .fetch_optional(self.read())
                .await?
                .map(TryInto::try_into)
                .transpose()
            }

            async fn touch_keys(&self, used: &[(String, i64)]) -> $crate::DbResult<()> {
                if used.is_empty() {
                    return Ok(());
                }
                // In key order, so two nodes flushing overlapping keys lock their rows in
                // the same order and cannot deadlock (PostgreSQL).
                let mut used: Vec<&(String, i64)> = used.iter().collect();
                used.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                let mut tx = self.begin_write().await?;
                for (key_id, at) in used {
                    sqlx::query($crate::sql::TOUCH_KEY)
                        .bind(key_id)
                        .bind(*at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn changed_accounts_since(
                &self,
                since_ms: i64,
            ) -> $crate::DbResult<Vec<(String, i64)>> {
                Ok(sqlx::query_as($crate::sql::CHANGED_ACCOUNTS)
                    .bind(since_ms)
                    .fetch_all(self.read())
                    .await?)
            }
        }
    };
}
