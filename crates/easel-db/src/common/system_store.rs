//! `SystemStore`: first-start setup, the instance secret, operators, ping.

macro_rules! impl_system_store {
    ($Store:ty, $Db:ty) => {
        #[async_trait::async_trait]
        impl $crate::SystemStore for $Store {
            async fn bootstrap(&self, setup: $crate::Bootstrap) -> $crate::DbResult<bool> {
                use easel_core::audit::{Actor, action};
                let mut tx = self.begin_write().await?;
                let now = setup.demo_account.now;
                let inserted = sqlx::query($crate::sql::INSERT_INSTANCE)
                    .bind(&setup.secret)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                if inserted.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                sqlx::query($crate::sql::INSERT_OPERATOR)
                    .bind(&setup.operator_id)
                    .bind(&setup.operator_username)
                    .bind(&setup.operator_password_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let mut audit = $crate::AuditContext::new(Actor::system(), None);
                audit.now = now;
                let op_entry = audit
                    .clone()
                    .with("username", setup.operator_username.as_str())
                    .entry(
                        None,
                        action::OPERATOR_CREATED,
                        ("operator", &setup.operator_id),
                    );
                Self::insert_audit(&mut tx, &op_entry).await?;
                Self::insert_account_with_owner(&mut tx, &setup.demo_account).await?;
                let account_id = setup.demo_account.id.as_str();
                let mut acct_audit =
                    $crate::AuditContext::new(Actor::system(), None).with("demo", true);
                acct_audit.now = now;
                Self::insert_audit(
                    &mut tx,
                    &acct_audit.entry(
                        Some(account_id),
                        action::ACCOUNT_CREATED,
                        ("account", account_id),
                    ),
                )
                .await?;
                Self::insert_key(&mut tx, &setup.demo_key).await?;
                let mut key_audit = $crate::AuditContext::new(Actor::system(), None)
                    .with("name", setup.demo_key.name.as_str());
                key_audit.now = now;
                let key_entry = key_audit.entry(
                    Some(account_id),
                    action::KEY_CREATED,
                    ("api_key", &setup.demo_key.id),
                );
                Self::insert_audit(&mut tx, &key_entry).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn instance_secret(&self) -> $crate::DbResult<String> {
                let (secret,): (String,) = sqlx::query_as($crate::sql::SELECT_INSTANCE_SECRET)
                    .fetch_one(self.read())
                    .await?;
                Ok(secret)
            }

            async fn get_operator(&self, username: &str) -> $crate::DbResult<$crate::Operator> {
                Ok(sqlx::query_as::<_, $crate::common::rows::OperatorRow>(
                    $crate::sql::SELECT_OPERATOR,
                )
                .bind(username)
                .fetch_optional(self.read())
                .await?
                .ok_or($crate::DbError::NotFound)?
                .into())
            }

            async fn record_operator_login(
                &self,
                operator_id: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query($crate::sql::UPDATE_OPERATOR_LOGIN)
                    .bind(operator_id)
                    .bind(audit.now)
                    .execute(&mut *tx)
                    .await?;
                let entry = audit.entry(
                    None,
                    easel_core::audit::action::OPERATOR_LOGIN,
                    ("operator", operator_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn ping(&self) -> $crate::DbResult<()> {
                sqlx::query("SELECT 1").execute(self.read()).await?;
                Ok(())
            }
        }
    };
}
