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

            /// Inside the transaction that changed the key (after its audit entry): its
            /// `key.*` event, in the key's mode.
            pub(crate) async fn insert_key_event(
                tx: &mut sqlx::Transaction<'_, $Db>,
                key: &$crate::ApiKey,
                event_type: &str,
                data: &serde_json::Value,
                now: i64,
            ) -> $crate::DbResult<()> {
                Self::insert_event_row(tx, &key.account_id, key.mode.as_str(), event_type, data, now)
                    .await
            }

            /// Inside the transaction that revoked them in bulk (member removal, account
            /// termination): one `key.revoked` event per key, in id order, saying `reason`.
            pub(crate) async fn insert_revoked_events(
                tx: &mut sqlx::Transaction<'_, $Db>,
                events: &$crate::notices::EventSettings,
                account_id: &str,
                mut key_ids: Vec<String>,
                reason: &str,
                now: i64,
            ) -> $crate::DbResult<()> {
                key_ids.sort_unstable();
                for key_id in key_ids {
                    let key = Self::load_key(&mut **tx, account_id, None, &key_id).await?;
                    let data = events.revoked_data(&key, reason);
                    Self::insert_key_event(tx, &key, "key.revoked", &data, now).await?;
                }
                Ok(())
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
                // Like every key change, under the account's lock: a termination racing
                // this either sees the key (and revokes it, with its event) or comes first.
                Self::lock_account(&mut tx, &new.account_id).await?;
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
                let data = self.events.key_data(&key);
                Self::insert_key_event(&mut tx, &key, "key.created", &data, new.now).await?;
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
                let data = self.events.rotated_data(&key);
                Self::insert_key_event(&mut tx, &key, "key.rotated", &data, rotation.now).await?;
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
                let data = self
                    .events
                    .revoked_data(&key, $crate::notices::REVOKED_REQUESTED);
                Self::insert_key_event(&mut tx, &key, "key.revoked", &data, audit.now).await?;
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

            fn set_key_view(&self, view: std::sync::Arc<$crate::KeySnapshot>) {
                self.events.set_key_view(view);
            }

            async fn notify_expiring_keys(
                &self,
                now: i64,
                by: i64,
                limit: i64,
            ) -> $crate::DbResult<usize> {
                // Found by a reader: most sweeps find nothing, and then take no writer.
                let mut due: Vec<(String, String)> = sqlx::query_as($crate::sql::EXPIRING_KEYS)
                    .bind(now)
                    .bind(by)
                    .bind(limit)
                    .fetch_all(self.read())
                    .await?;
                if due.is_empty() {
                    return Ok(0);
                }
                // In id order, so two nodes' sweeps lock the same rows in the same order
                // and cannot deadlock (PostgreSQL).
                due.sort_unstable();
                let mut tx = self.begin_write().await?;
                let mut told = 0;
                for (key_id, account_id) in due {
                    // The compare-and-set: another node's sweep (or a revocation) that got
                    // here first leaves this one nothing to do.
                    let claimed = sqlx::query($crate::sql::MARK_KEY_EXPIRING_NOTIFIED)
                        .bind(&key_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if claimed == 0 {
                        continue;
                    }
                    let key = Self::load_key(&mut tx, &account_id, None, &key_id).await?;
                    let data = self.events.key_data(&key);
                    Self::insert_key_event(&mut tx, &key, "key.expiring", &data, now).await?;
                    told += 1;
                }
                tx.commit().await?;
                Ok(told)
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
