//! `UserStore`: sign-in lookup, memberships, e-mail verification, passwords, approval.

macro_rules! impl_user_store {
    ($Store:ty, $Db:ty) => {
        #[async_trait::async_trait]
        impl $crate::UserStore for $Store {
            async fn user_login(&self, email: &str) -> $crate::DbResult<Option<$crate::UserLogin>> {
                let row = sqlx::query_as::<_, $crate::common::rows::UserLoginRow>(
                    $crate::sql::SELECT_USER_LOGIN,
                )
                .bind(email)
                .fetch_optional(self.read())
                .await?;
                Ok(row.map(Into::into))
            }

            async fn get_user(&self, id: &str) -> $crate::DbResult<$crate::User> {
                let row =
                    sqlx::query_as::<_, $crate::common::rows::UserRow>($crate::sql::SELECT_USER)
                        .bind(id)
                        .fetch_optional(self.read())
                        .await?
                        .ok_or($crate::DbError::NotFound)?;
                Ok(row.into())
            }

            async fn memberships(
                &self,
                user_id: &str,
            ) -> $crate::DbResult<Vec<$crate::Membership>> {
                sqlx::query_as::<_, $crate::common::rows::MembershipRow>(
                    $crate::sql::SELECT_MEMBERSHIPS,
                )
                .bind(user_id)
                .fetch_all(self.read())
                .await?
                .into_iter()
                .map(TryInto::try_into)
                .collect()
            }

            async fn verify_email(
                &self,
                user_id: &str,
                email: &str,
                next: Option<easel_core::account::LiveBlock>,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<bool> {
                let mut tx = self.begin_write().await?;
                let verified = sqlx::query($crate::sql::VERIFY_USER_EMAIL)
                    .bind(user_id)
                    .bind(email)
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    > 0;
                if !verified {
                    return Ok(false);
                }
                let opened: Vec<(String,)> =
                    sqlx::query_as($crate::sql::OPEN_OWNED_UNVERIFIED_ACCOUNTS)
                        .bind(user_id)
                        .bind(next.map(easel_core::account::LiveBlock::as_str))
                        .bind(audit.now)
                        .fetch_all(&mut *tx)
                        .await?;
                let audit = audit.with(
                    "live_blocked",
                    next.map(easel_core::account::LiveBlock::as_str),
                );
                let accounts: Vec<Option<&str>> = if opened.is_empty() {
                    vec![None]
                } else {
                    opened.iter().map(|(id,)| Some(id.as_str())).collect()
                };
                for account_id in accounts {
                    let mut entry = audit.entry(
                        account_id,
                        easel_core::audit::action::USER_EMAIL_VERIFIED,
                        ("user", user_id),
                    );
                    entry.id = easel_core::ids::IdKind::Audit.generate();
                    Self::insert_audit(&mut tx, &entry).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn set_user_password(
                &self,
                user_id: &str,
                password_hash: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<u64> {
                let mut tx = self.begin_write().await?;
                let changed = sqlx::query($crate::sql::SET_USER_PASSWORD)
                    .bind(user_id)
                    .bind(password_hash)
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?;
                if changed.rows_affected() == 0 {
                    return Err($crate::DbError::NotFound);
                }
                let ended = sqlx::query($crate::sql::REVOKE_PRINCIPAL_SESSIONS)
                    .bind($crate::PrincipalKind::User.as_str())
                    .bind(user_id)
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let entry = audit.with("sessions_ended", ended).entry(
                    None,
                    easel_core::audit::action::USER_PASSWORD_CHANGED,
                    ("user", user_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(ended)
            }

            async fn approve_account(
                &self,
                account_id: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Account> {
                let mut tx = self.begin_write().await?;
                let approved = sqlx::query($crate::sql::APPROVE_ACCOUNT)
                    .bind(account_id)
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    > 0;
                let account = Self::load_account(&mut tx, account_id).await?;
                if !approved {
                    return Err(easel_core::DomainError::invalid(
                        "account",
                        "account_not_waiting",
                        "The account is not waiting for approval.",
                    )
                    .into());
                }
                let entry = audit.entry(
                    Some(account_id),
                    easel_core::audit::action::ACCOUNT_APPROVED,
                    ("account", account_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(account)
            }
        }
    };
}
