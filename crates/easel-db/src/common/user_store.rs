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

            async fn create_invitation(
                &self,
                new: $crate::NewInvitation,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Invitation> {
                let mut tx = self.begin_write().await?;
                Self::load_account(&mut tx, &new.account_id).await?;
                sqlx::query($crate::sql::INSERT_INVITATION)
                    .bind(&new.id)
                    .bind(&new.account_id)
                    .bind(&new.email)
                    .bind(new.role.as_str())
                    .bind(&new.token_hash)
                    .bind(&new.invited_by)
                    .bind(audit.now)
                    .bind(new.expires_at)
                    .execute(&mut *tx)
                    .await?;
                let entry = audit
                    .with("role", new.role.as_str())
                    .with("email", new.email.as_str())
                    .entry(
                        Some(&new.account_id),
                        easel_core::audit::action::MEMBER_INVITED,
                        ("invitation", &new.id),
                    );
                Self::insert_audit(&mut tx, &entry).await?;
                let sql = format!("{} WHERE i.id = $1", $crate::sql::INVITATIONS_FROM);
                let row: $crate::common::rows::InvitationRow = sqlx::query_as(&sql)
                    .bind(&new.id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                $crate::common::rows::invitation(row)
            }

            async fn list_invitations(
                &self,
                account_id: &str,
            ) -> $crate::DbResult<Vec<$crate::Invitation>> {
                let sql = format!(
                    "{} WHERE i.account_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL \
                     ORDER BY i.id DESC LIMIT 200",
                    $crate::sql::INVITATIONS_FROM
                );
                let rows: Vec<$crate::common::rows::InvitationRow> = sqlx::query_as(&sql)
                    .bind(account_id)
                    .fetch_all(self.read())
                    .await?;
                rows.into_iter()
                    .map($crate::common::rows::invitation)
                    .collect()
            }

            async fn invitation_by_token(
                &self,
                token_hash: &str,
            ) -> $crate::DbResult<Option<$crate::Invitation>> {
                let sql = format!("{} WHERE i.token_hash = $1", $crate::sql::INVITATIONS_FROM);
                let row: Option<$crate::common::rows::InvitationRow> = sqlx::query_as(&sql)
                    .bind(token_hash)
                    .fetch_optional(self.read())
                    .await?;
                row.map($crate::common::rows::invitation).transpose()
            }

            async fn revoke_invitation(
                &self,
                account_id: &str,
                id: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Invitation> {
                let mut tx = self.begin_write().await?;
                let revoked = sqlx::query($crate::sql::REVOKE_INVITATION)
                    .bind(account_id)
                    .bind(id)
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if revoked == 0 {
                    return Err($crate::DbError::NotFound);
                }
                let entry = audit.entry(
                    Some(account_id),
                    easel_core::audit::action::MEMBER_INVITATION_REVOKED,
                    ("invitation", id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let sql = format!("{} WHERE i.id = $1", $crate::sql::INVITATIONS_FROM);
                let row: $crate::common::rows::InvitationRow =
                    sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                $crate::common::rows::invitation(row)
            }

            async fn accept_invitation(
                &self,
                token_hash: &str,
                new_user: $crate::NewUser,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Accepted> {
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                let taken: Option<(String, String, String, String)> =
                    sqlx::query_as($crate::sql::TAKE_INVITATION)
                        .bind(token_hash)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((invitation_id, account_id, email, role)) = taken else {
                    return Err($crate::DbError::NotFound);
                };
                let role = easel_core::roles::Role::parse(&role)
                    .ok_or_else(|| $crate::DbError::Corrupt(format!("invitation role {role}")))?;
                Self::lock_account(&mut tx, &account_id).await?;
                let account = Self::load_account(&mut tx, &account_id).await?;
                if account.state == easel_core::account::AccountState::Terminated {
                    return Err($crate::DbError::NotFound);
                }
                let existing: Option<(String,)> =
                    sqlx::query_as($crate::sql::SELECT_USER_ID_BY_EMAIL)
                        .bind(&email)
                        .fetch_optional(&mut *tx)
                        .await?;
                let user_id = match existing {
                    Some((id,)) => id,
                    None => {
                        let user = $crate::NewUser {
                            email: email.clone(),
                            ..new_user.clone()
                        };
                        Self::insert_user(&mut tx, &user, now).await?;
                        user.id
                    }
                };
                sqlx::query($crate::sql::SET_MISSING_PASSWORD)
                    .bind(&user_id)
                    .bind(new_user.password_hash.as_deref())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let inserted = sqlx::query($crate::sql::INSERT_MEMBER_IF_ABSENT)
                    .bind(&account_id)
                    .bind(&user_id)
                    .bind(role.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query($crate::sql::SET_INVITATION_ACCEPTED_BY)
                    .bind(&invitation_id)
                    .bind(&user_id)
                    .execute(&mut *tx)
                    .await?;
                let (current,): (String,) = sqlx::query_as($crate::sql::SELECT_MEMBER_ROLE)
                    .bind(&account_id)
                    .bind(&user_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let current = easel_core::roles::Role::parse(&current)
                    .ok_or_else(|| $crate::DbError::Corrupt(format!("member role {current}")))?;
                if inserted > 0 {
                    let entry = audit
                        .with("role", role.as_str())
                        .with("email", email.as_str())
                        .with("invitation", invitation_id.as_str())
                        .entry(
                            Some(&account_id),
                            easel_core::audit::action::MEMBER_ADDED,
                            ("user", &user_id),
                        );
                    Self::insert_audit(&mut tx, &entry).await?;
                }
                tx.commit().await?;
                Ok($crate::Accepted {
                    account_id,
                    user_id,
                    role: current,
                    already_member: inserted == 0,
                })
            }

            async fn announce_terms(
                &self,
                terms: $crate::TermsVersion,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO terms_versions (version, effective_at, announced_at, summary) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&terms.version)
                .bind(terms.effective_at)
                .bind(terms.announced_at)
                .bind(terms.summary.as_deref())
                .execute(&mut *tx)
                .await?;
                let entry = audit.with("effective_at", terms.effective_at).entry(
                    None,
                    easel_core::audit::action::TERMS_ANNOUNCED,
                    ("terms", &terms.version),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_terms(&self) -> $crate::DbResult<Vec<$crate::TermsVersion>> {
                let rows: Vec<(String, i64, i64, Option<String>)> = sqlx::query_as(
                    "SELECT version, effective_at, announced_at, summary FROM terms_versions \
                     ORDER BY effective_at, version",
                )
                .fetch_all(self.read())
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(version, effective_at, announced_at, summary)| $crate::TermsVersion {
                        version,
                        effective_at,
                        announced_at,
                        summary,
                    })
                    .collect())
            }

            async fn accept_terms(
                &self,
                user_id: &str,
                version: &str,
                ip: Option<&str>,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE users SET terms_version = $2, terms_accepted_at = $3, terms_accepted_ip = $4, \
                     updated_at = $3 WHERE id = $1",
                )
                .bind(user_id)
                .bind(version)
                .bind(audit.now)
                .bind(ip)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::DbError::NotFound);
                }
                let entry = audit.with("version", version).entry(
                    None,
                    easel_core::audit::action::USER_TERMS_ACCEPTED,
                    ("user", user_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn owner_emails(&self) -> $crate::DbResult<Vec<String>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT DISTINCT u.email FROM members m JOIN users u ON u.id = m.user_id \
                     JOIN accounts a ON a.id = m.account_id \
                     WHERE m.role = 'owner' AND a.state <> 'terminated' ORDER BY u.email",
                )
                .fetch_all(self.read())
                .await?;
                Ok(rows.into_iter().map(|(e,)| e).collect())
            }
        }
    };
}
