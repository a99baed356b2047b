//! `AccountStore` and the insert helpers every other store body uses.

macro_rules! impl_account_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            /// Inside a write transaction that locked the account: moves it to a new state
            /// with everything that goes with it (keys revoked and open generations
            /// canceled on termination, open generations canceled on a suspension that
            /// says so), its audit entry and its `account.*` event in both modes.
            pub(crate) async fn apply_state_change(
                tx: &mut sqlx::Transaction<'_, $Db>,
                id: &str,
                change: $crate::StateChange,
                audit: &$crate::AuditContext,
            ) -> $crate::DbResult<$crate::Account> {
                use easel_core::account::AccountState;
                use easel_core::audit::action;
                let account = Self::load_account(&mut **tx, id).await?;
                let now = audit.now;
                let (to, reason, until, terminated_at, name, cancel) = match change {
                    $crate::StateChange::Suspend { reason, until, jobs } => (
                        AccountState::Suspended,
                        Some(reason),
                        until,
                        None,
                        action::ACCOUNT_SUSPENDED,
                        jobs == $crate::SuspendJobs::Cancel,
                    ),
                    $crate::StateChange::Unsuspend => (
                        AccountState::Active,
                        None,
                        None,
                        None,
                        action::ACCOUNT_UNSUSPENDED,
                        false,
                    ),
                    $crate::StateChange::Terminate => (
                        AccountState::Terminated,
                        None,
                        None,
                        Some(now),
                        action::ACCOUNT_TERMINATED,
                        true,
                    ),
                };
                account.state.check_transition(to)?;
                sqlx::query($crate::sql::UPDATE_ACCOUNT_STATE)
                    .bind(id)
                    .bind(to.as_str())
                    .bind(&reason)
                    .bind(until)
                    .bind(terminated_at)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                if to == AccountState::Terminated {
                    sqlx::query($crate::sql::REVOKE_ACCOUNT_KEYS)
                        .bind(id)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                }
                let mut canceled = 0;
                if cancel {
                    let open = Self::load_generations(
                        &mut **tx,
                        "account_id = $1 AND status IN ('queued', 'running')",
                        id,
                    )
                    .await?;
                    for g in &open {
                        Self::cancel_job_of(tx, g, now).await?;
                    }
                    canceled = open.len();
                }
                let audit = audit.clone().with("generations_canceled", canceled);
                Self::insert_audit(tx, &audit.entry(Some(id), name, ("account", id))).await?;
                let account = Self::load_account(&mut **tx, id).await?;
                let data = $crate::common::rows::account_snapshot(&account);
                for mode in ["test", "live"] {
                    Self::insert_event_row(tx, id, mode, name, &data, now).await?;
                }
                Ok(account)
            }

            /// Inside a write transaction: appends an event (`evt_…`) for an account and mode,
            /// with a pending webhook delivery for each endpoint subscribed to it.
            pub(crate) async fn insert_event_row(
                tx: &mut sqlx::Transaction<'_, $Db>,
                account_id: &str,
                mode: &str,
                event_type: &str,
                data: &serde_json::Value,
                now: i64,
            ) -> $crate::DbResult<()> {
                // Each statement takes the same six parameters; the webhook outbox rows
                // go in with the event (see `Self::INSERT_EVENT`).
                let id = easel_core::ids::IdKind::Event.generate();
                let data = data.to_string();
                for sql in Self::INSERT_EVENT {
                    sqlx::query(sql)
                        .bind(&id)
                        .bind(account_id)
                        .bind(mode)
                        .bind(event_type)
                        .bind(&data)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }

            pub(crate) async fn insert_audit(
                tx: &mut sqlx::Transaction<'_, $Db>,
                a: &$crate::model::NewAudit,
            ) -> $crate::DbResult<()> {
                sqlx::query($crate::sql::INSERT_AUDIT)
                    .bind(&a.id)
                    .bind(&a.account_id)
                    .bind(a.actor_type)
                    .bind(&a.actor_id)
                    .bind(a.action)
                    .bind(&a.target_type)
                    .bind(&a.target_id)
                    .bind(&a.request_id)
                    .bind(&a.details)
                    .bind(a.created_at)
                    .bind(&a.actor_user_id)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            pub(crate) async fn insert_user(
                tx: &mut sqlx::Transaction<'_, $Db>,
                u: &$crate::NewUser,
                now: i64,
            ) -> $crate::DbResult<()> {
                sqlx::query($crate::sql::INSERT_USER)
                    .bind(&u.id)
                    .bind(&u.email)
                    .bind(&u.name)
                    .bind(&u.password_hash)
                    .bind(u.adult_attested_at)
                    .bind(&u.terms_version)
                    .bind(u.terms_accepted_at)
                    .bind(now)
                    .bind(&u.terms_accepted_ip)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            /// Inserts the account, its owner and the owner's membership.
            pub(crate) async fn insert_account_with_owner(
                tx: &mut sqlx::Transaction<'_, $Db>,
                new: &$crate::NewAccount,
            ) -> $crate::DbResult<()> {
                Self::insert_user(tx, &new.owner, new.now).await?;
                sqlx::query($crate::sql::INSERT_ACCOUNT)
                    .bind(&new.id)
                    .bind(&new.name)
                    .bind(&new.legal_name)
                    .bind(&new.contact_email)
                    .bind(&new.contact_phone)
                    .bind(&new.address)
                    .bind(&new.country)
                    .bind(&new.plan)
                    .bind(new.now)
                    .bind(new.live_blocked.map(easel_core::account::LiveBlock::as_str))
                    .execute(&mut **tx)
                    .await?;
                sqlx::query($crate::sql::INSERT_MEMBER)
                    .bind(&new.id)
                    .bind(&new.owner.id)
                    .bind(easel_core::roles::Role::Owner.as_str())
                    .bind(new.now)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            pub(crate) async fn load_account(
                conn: &mut <$Db as sqlx::Database>::Connection,
                id: &str,
            ) -> $crate::DbResult<$crate::Account> {
                sqlx::query_as::<_, $crate::common::rows::AccountRow>($crate::sql::SELECT_ACCOUNT)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::DbError::NotFound)?
                    .try_into()
            }

            /// Locks and loads an account that is about to change; a terminated one is
            /// refused (`account_terminated`: termination is final), as
            /// `check_transition` refuses it for state changes.
            pub(crate) async fn lock_changeable_account(
                tx: &mut sqlx::Transaction<'_, $Db>,
                id: &str,
            ) -> $crate::DbResult<$crate::Account> {
                Self::lock_account(tx, id).await?;
                let account = Self::load_account(tx, id).await?;
                if account.state == easel_core::account::AccountState::Terminated {
                    return Err(easel_core::DomainError::invalid(
                        "account",
                        "account_terminated",
                        "The account is terminated; termination is final.",
                    )
                    .into());
                }
                Ok(account)
            }

            pub(crate) async fn load_member(
                conn: &mut <$Db as sqlx::Database>::Connection,
                account_id: &str,
                user_id: &str,
            ) -> $crate::DbResult<$crate::Member> {
                let sql = format!(
                    "{} WHERE m.account_id = $1 AND m.user_id = $2",
                    $crate::sql::MEMBER_COLUMNS_FROM
                );
                sqlx::query_as::<_, $crate::common::rows::MemberRow>(&sql)
                    .bind(account_id)
                    .bind(user_id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::DbError::NotFound)?
                    .try_into()
            }

            /// Refuses to leave an account without an owner.
            async fn ensure_not_last_owner(
                conn: &mut <$Db as sqlx::Database>::Connection,
                member: &$crate::Member,
            ) -> $crate::DbResult<()> {
                if member.role != easel_core::roles::Role::Owner {
                    return Ok(());
                }
                let (owners,): (i64,) = sqlx::query_as($crate::sql::COUNT_OWNERS)
                    .bind(&member.account_id)
                    .fetch_one(&mut *conn)
                    .await?;
                if owners <= 1 {
                    return Err(easel_core::DomainError::invalid(
                        "role",
                        "last_owner",
                        "An account must keep at least one owner; make another member owner first.",
                    )
                    .into());
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::AccountStore for $Store {
            async fn create_account(
                &self,
                new: $crate::NewAccount,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<($crate::Account, $crate::User)> {
                let mut tx = self.begin_write().await?;
                Self::insert_account_with_owner(&mut tx, &new).await?;
                let entry = audit.entry(
                    Some(&new.id),
                    easel_core::audit::action::ACCOUNT_CREATED,
                    ("account", &new.id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let account = Self::load_account(&mut tx, &new.id).await?;
                let user: $crate::User =
                    sqlx::query_as::<_, $crate::common::rows::UserRow>($crate::sql::SELECT_USER)
                        .bind(&new.owner.id)
                        .fetch_one(&mut *tx)
                        .await?
                        .into();
                tx.commit().await?;
                Ok((account, user))
            }

            async fn get_account(&self, id: &str) -> $crate::DbResult<$crate::Account> {
                let mut conn = self.read().acquire().await?;
                Self::load_account(&mut conn, id).await
            }

            async fn list_accounts(
                &self,
                page: $crate::Page,
            ) -> $crate::DbResult<Vec<$crate::Account>> {
                let (keyset, limit) = page.keyset("id", 1);
                let sql = format!(
                    "{} WHERE TRUE{keyset} ORDER BY id DESC {limit}",
                    $crate::sql::ACCOUNTS_FROM
                );
                let mut query = sqlx::query_as::<_, $crate::common::rows::AccountRow>(&sql);
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

            async fn change_account_state(
                &self,
                id: &str,
                change: $crate::StateChange,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Account> {
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, id).await?;
                // Termination revokes the account's keys (`apply_state_change` would too):
                // done here first to learn which, for one `key.revoked` each. A refused
                // transition rolls these back with everything else.
                let revoked: Vec<(String,)> = if matches!(change, $crate::StateChange::Terminate) {
                    sqlx::query_as($crate::sql::REVOKE_ACCOUNT_KEYS)
                        .bind(id)
                        .bind(audit.now)
                        .fetch_all(&mut *tx)
                        .await?
                } else {
                    Vec::new()
                };
                let account = Self::apply_state_change(&mut tx, id, change, &audit).await?;
                let revoked = revoked.into_iter().map(|(id,)| id).collect();
                let reason = $crate::notices::REVOKED_ACCOUNT_TERMINATED;
                Self::insert_revoked_events(&mut tx, &self.events, id, revoked, reason, audit.now)
                    .await?;
                tx.commit().await?;
                Ok(account)
            }

            async fn set_plan(
                &self,
                account_id: &str,
                plan: &str,
                limits: $crate::LimitOverrides,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Account> {
                let id = account_id;
                let mut tx = self.begin_write().await?;
                // Locked against a concurrent termination until this transaction ends.
                let old = Self::lock_changeable_account(&mut tx, id).await?;
                let as_json = |plan: &str, l: &$crate::LimitOverrides| {
                    serde_json::json!({
                        "plan": plan,
                        "requests_per_minute": l.requests_per_minute,
                        "requests_per_day": l.requests_per_day,
                        "concurrent_jobs": l.concurrent_jobs,
                    })
                };
                sqlx::query($crate::sql::SET_PLAN)
                    .bind(id)
                    .bind(plan)
                    .bind(limits.requests_per_minute.map(i64::from))
                    .bind(limits.requests_per_day.map(i64::from))
                    .bind(limits.concurrent_jobs.map(i64::from))
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?;
                let audit = audit
                    .with("old", as_json(&old.plan, &old.limits))
                    .with("new", as_json(plan, &limits));
                let entry = audit.entry(
                    Some(id),
                    easel_core::audit::action::ACCOUNT_PLAN_CHANGED,
                    ("account", id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let account = Self::load_account(&mut tx, id).await?;
                tx.commit().await?;
                Ok(account)
            }

            async fn set_account_details(
                &self,
                account_id: &str,
                details: $crate::AccountDetails,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Account> {
                let mut tx = self.begin_write().await?;
                let old = Self::lock_changeable_account(&mut tx, account_id).await?;
                sqlx::query($crate::sql::SET_ACCOUNT_DETAILS)
                    .bind(account_id)
                    .bind(&details.name)
                    .bind(details.legal_name.as_deref())
                    .bind(&details.contact_email)
                    .bind(details.contact_phone.as_deref())
                    .bind(details.address.as_deref())
                    .bind(details.country.as_deref())
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?;
                let before = $crate::AccountDetails {
                    name: old.name.clone(),
                    legal_name: old.legal_name.clone(),
                    contact_email: old.contact_email.clone(),
                    contact_phone: old.contact_phone.clone(),
                    address: old.address.clone(),
                    country: old.country.clone(),
                };
                let entry = audit
                    .with("old", serde_json::to_value(&before).unwrap_or_default())
                    .with("new", serde_json::to_value(&details).unwrap_or_default())
                    .entry(
                        Some(account_id),
                        easel_core::audit::action::ACCOUNT_DETAILS_CHANGED,
                        ("account", account_id),
                    );
                Self::insert_audit(&mut tx, &entry).await?;
                let account = Self::load_account(&mut tx, account_id).await?;
                tx.commit().await?;
                Ok(account)
            }

            async fn list_members(
                &self,
                account_id: &str,
            ) -> $crate::DbResult<Vec<$crate::Member>> {
                let sql = format!(
                    "{} WHERE m.account_id = $1 ORDER BY {}, m.created_at, m.user_id",
                    $crate::sql::MEMBER_COLUMNS_FROM,
                    $crate::sql::ROLE_RANK
                );
                sqlx::query_as::<_, $crate::common::rows::MemberRow>(&sql)
                    .bind(account_id)
                    .fetch_all(self.read())
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            async fn add_member(
                &self,
                account_id: &str,
                new: $crate::NewMember,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Member> {
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, account_id).await?;
                Self::load_account(&mut tx, account_id).await?;
                let existing: Option<(String,)> =
                    sqlx::query_as($crate::sql::SELECT_USER_ID_BY_EMAIL)
                        .bind(&new.user.email)
                        .fetch_optional(&mut *tx)
                        .await?;
                let user_id = match existing {
                    Some((id,)) => id,
                    None => {
                        Self::insert_user(&mut tx, &new.user, new.now).await?;
                        new.user.id.clone()
                    }
                };
                sqlx::query($crate::sql::INSERT_MEMBER)
                    .bind(account_id)
                    .bind(&user_id)
                    .bind(new.role.as_str())
                    .bind(new.now)
                    .execute(&mut *tx)
                    .await?;
                let audit = audit
                    .with("role", new.role.as_str())
                    .with("email", new.user.email.as_str());
                let entry = audit.entry(
                    Some(account_id),
                    easel_core::audit::action::MEMBER_ADDED,
                    ("user", &user_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let member = Self::load_member(&mut tx, account_id, &user_id).await?;
                tx.commit().await?;
                Ok(member)
            }

            async fn set_member_role(
                &self,
                account_id: &str,
                user_id: &str,
                role: easel_core::roles::Role,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Member> {
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, account_id).await?;
                let member = Self::load_member(&mut tx, account_id, user_id).await?;
                if member.role == role {
                    return Ok(member);
                }
                if role != easel_core::roles::Role::Owner {
                    Self::ensure_not_last_owner(&mut tx, &member).await?;
                }
                sqlx::query($crate::sql::UPDATE_MEMBER_ROLE)
                    .bind(account_id)
                    .bind(user_id)
                    .bind(role.as_str())
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?;
                let audit = audit
                    .with("from", member.role.as_str())
                    .with("to", role.as_str());
                let entry = audit.entry(
                    Some(account_id),
                    easel_core::audit::action::MEMBER_ROLE_CHANGED,
                    ("user", user_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let member = Self::load_member(&mut tx, account_id, user_id).await?;
                tx.commit().await?;
                Ok(member)
            }

            async fn remove_member(
                &self,
                account_id: &str,
                user_id: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<()> {
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, account_id).await?;
                let member = Self::load_member(&mut tx, account_id, user_id).await?;
                Self::ensure_not_last_owner(&mut tx, &member).await?;
                sqlx::query($crate::sql::DELETE_MEMBER)
                    .bind(account_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query($crate::sql::TOUCH_ACCOUNT)
                    .bind(account_id)
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?;
                let revoked: Vec<(String,)> = sqlx::query_as($crate::sql::REVOKE_MEMBER_KEYS)
                    .bind(account_id)
                    .bind(user_id)
                    .bind(audit.now)
                    .fetch_all(&mut *tx)
                    .await?;
                let audit = audit
                    .with("role", member.role.as_str())
                    .with("email", member.email.as_str());
                let entry = audit.entry(
                    Some(account_id),
                    easel_core::audit::action::MEMBER_REMOVED,
                    ("user", user_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let revoked = revoked.into_iter().map(|(id,)| id).collect();
                let reason = $crate::notices::REVOKED_MEMBER_REMOVED;
                Self::insert_revoked_events(&mut tx, &self.events, account_id, revoked, reason, audit.now)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
