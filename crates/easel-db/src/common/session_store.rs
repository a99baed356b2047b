//! `SessionStore`: console sessions, operator passwords that end them, used form tokens.

macro_rules! impl_session_store {
    ($Store:ty, $Db:ty) => {
        #[async_trait::async_trait]
        impl $crate::SessionStore for $Store {
            async fn create_console_session(
                &self,
                new: $crate::NewConsoleSession,
            ) -> $crate::DbResult<()> {
                sqlx::query($crate::sql::INSERT_CONSOLE_SESSION)
                    .bind(&new.id_hash)
                    .bind(new.principal.kind.as_str())
                    .bind(&new.principal.id)
                    .bind(new.now)
                    .bind(new.now.saturating_add(new.idle_ms))
                    .bind(new.now.saturating_add(new.absolute_ms))
                    .bind(&new.ip)
                    .bind(&new.user_agent)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn touch_console_session(
                &self,
                id_hash: &str,
                now: i64,
                idle_ms: i64,
            ) -> $crate::DbResult<Option<$crate::ConsoleSession>> {
                let Some(row) = sqlx::query_as::<_, $crate::sessions::ConsoleSessionRow>(
                    $crate::sql::SELECT_LIVE_CONSOLE_SESSION,
                )
                .bind(id_hash)
                .bind(now)
                .fetch_optional(self.read())
                .await?
                else {
                    return Ok(None);
                };
                let mut session = $crate::ConsoleSession::try_from(row)?;
                if now - session.last_seen_at >= $crate::SESSION_TOUCH_MS {
                    let idle_expires_at = now.saturating_add(idle_ms);
                    sqlx::query($crate::sql::TOUCH_CONSOLE_SESSION)
                        .bind(id_hash)
                        .bind(now)
                        .bind(idle_expires_at)
                        .execute(self.writer())
                        .await?;
                    session.last_seen_at = now;
                    session.idle_expires_at = idle_expires_at;
                }
                Ok(Some(session))
            }

            async fn revoke_console_session(
                &self,
                id_hash: &str,
                now: i64,
            ) -> $crate::DbResult<bool> {
                let done = sqlx::query($crate::sql::REVOKE_CONSOLE_SESSION)
                    .bind(id_hash)
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn revoke_principal_sessions(
                &self,
                principal: &$crate::Principal,
                action: &'static str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<u64> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query($crate::sql::REVOKE_PRINCIPAL_SESSIONS)
                    .bind(principal.kind.as_str())
                    .bind(&principal.id)
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?;
                let ended = done.rows_affected();
                let entry = audit.with("sessions", ended).entry(
                    None,
                    action,
                    (principal.kind.as_str(), &principal.id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(ended)
            }

            async fn revoke_other_sessions(
                &self,
                principal: &$crate::Principal,
                keep: &str,
                action: &'static str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<u64> {
                let mut tx = self.begin_write().await?;
                let ended = sqlx::query($crate::sql::REVOKE_OTHER_SESSIONS)
                    .bind(principal.kind.as_str())
                    .bind(&principal.id)
                    .bind(audit.now)
                    .bind(keep)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let entry = audit
                    .with("sessions", ended)
                    .with("kept_current", true)
                    .entry(None, action, (principal.kind.as_str(), &principal.id));
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(ended)
            }

            async fn list_principal_sessions(
                &self,
                principal: &$crate::Principal,
                now: i64,
            ) -> $crate::DbResult<Vec<$crate::ConsoleSession>> {
                sqlx::query_as::<_, $crate::sessions::ConsoleSessionRow>(
                    $crate::sql::SELECT_PRINCIPAL_SESSIONS,
                )
                .bind(principal.kind.as_str())
                .bind(&principal.id)
                .bind(now)
                .fetch_all(self.read())
                .await?
                .into_iter()
                .map($crate::ConsoleSession::try_from)
                .collect()
            }

            async fn get_operator_by_id(&self, id: &str) -> $crate::DbResult<$crate::Operator> {
                Ok(sqlx::query_as::<_, $crate::common::rows::OperatorRow>(
                    $crate::sql::SELECT_OPERATOR_BY_ID,
                )
                .bind(id)
                .fetch_optional(self.read())
                .await?
                .ok_or($crate::DbError::NotFound)?
                .into())
            }

            async fn set_operator_password(
                &self,
                operator_id: &str,
                password_hash: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<u64> {
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query($crate::sql::UPDATE_OPERATOR_PASSWORD)
                    .bind(operator_id)
                    .bind(password_hash)
                    .execute(&mut *tx)
                    .await?;
                if updated.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Err($crate::DbError::NotFound);
                }
                let ended = sqlx::query($crate::sql::REVOKE_PRINCIPAL_SESSIONS)
                    .bind($crate::PrincipalKind::Operator.as_str())
                    .bind(operator_id)
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let entry = audit.with("sessions", ended).entry(
                    None,
                    easel_core::audit::action::OPERATOR_PASSWORD_CHANGED,
                    ("operator", operator_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(ended)
            }

            async fn use_form_token(
                &self,
                token_hash: &str,
                form: &str,
                expires_at: i64,
            ) -> $crate::DbResult<bool> {
                let done = sqlx::query($crate::sql::INSERT_USED_FORM_TOKEN)
                    .bind(token_hash)
                    .bind(form)
                    .bind(expires_at)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn purge_console_sessions(&self, now: i64) -> $crate::DbResult<u64> {
                let sessions = sqlx::query($crate::sql::PURGE_CONSOLE_SESSIONS)
                    .bind(now)
                    .execute(self.writer())
                    .await?
                    .rows_affected();
                let tokens = sqlx::query($crate::sql::PURGE_USED_FORM_TOKENS)
                    .bind(now)
                    .execute(self.writer())
                    .await?
                    .rows_affected();
                Ok(sessions + tokens)
            }
        }
    };
}
