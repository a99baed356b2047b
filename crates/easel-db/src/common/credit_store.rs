//! `CreditStore` and the hold helpers generation changes use inside their transactions.

macro_rules! impl_credit_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            #[allow(clippy::too_many_arguments, reason = "one ledger row's columns")]
            async fn insert_ledger(
                tx: &mut sqlx::Transaction<'_, $Db>,
                (account_id, mode): (&str, &str),
                entry_type: easel_core::credits::LedgerType,
                (amount, held_change): (i64, i64),
                (balance_after, held_after): (i64, i64),
                reference: Option<(&str, &str)>,
                actor: &easel_core::audit::Actor,
                reason: Option<&str>,
                now: i64,
            ) -> $crate::DbResult<String> {
                let id = easel_core::ids::IdKind::LedgerEntry.generate();
                sqlx::query($crate::sql::INSERT_LEDGER)
                    .bind(&id)
                    .bind(account_id)
                    .bind(mode)
                    .bind(entry_type.as_str())
                    .bind(amount)
                    .bind(held_change)
                    .bind(balance_after)
                    .bind(held_after)
                    .bind(reference.map(|r| r.0))
                    .bind(reference.map(|r| r.1))
                    .bind(actor.kind.as_str())
                    .bind(&actor.id)
                    .bind(reason)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                Ok(id)
            }

            /// Inside a write transaction: settles a generation's hold, if it has an open
            /// one: `captured` credits are spent and the rest released (`None`: all
            /// released). A hold already settled is left alone, so this is safe to repeat.
            async fn settle_hold(
                tx: &mut sqlx::Transaction<'_, $Db>,
                generation_id: &str,
                captured: Option<i64>,
                reason: Option<&str>,
                now: i64,
            ) -> $crate::DbResult<()> {
                let status = if captured.is_some() { "captured" } else { "released" };
                let settled: Option<(String, String, i64)> = sqlx::query_as($crate::sql::SETTLE_HOLD)
                    .bind(generation_id)
                    .bind(status)
                    .bind(captured)
                    .bind(now)
                    .fetch_optional(&mut **tx)
                    .await?;
                let Some((account_id, mode, amount)) = settled else {
                    return Ok(());
                };
                // Never more than was held: the hold is the ceiling of what a call costs.
                let spent = captured.unwrap_or(0).clamp(0, amount);
                let (balance, held): (i64, i64) = sqlx::query_as($crate::sql::APPLY_SETTLEMENT)
                    .bind(&account_id)
                    .bind(&mode)
                    .bind(spent)
                    .bind(amount)
                    .bind(now)
                    .fetch_one(&mut **tx)
                    .await?;
                let actor = easel_core::audit::Actor::system();
                let reference = Some(("generation", generation_id));
                let released = amount - spent;
                if spent > 0 {
                    Self::insert_ledger(
                        tx,
                        (&account_id, &mode),
                        easel_core::credits::LedgerType::Capture,
                        (-spent, -spent),
                        (balance, held + released),
                        reference,
                        &actor,
                        reason,
                        now,
                    )
                    .await?;
                }
                if released > 0 {
                    Self::insert_ledger(
                        tx,
                        (&account_id, &mode),
                        easel_core::credits::LedgerType::Release,
                        (0, -released),
                        (balance, held),
                        reference,
                        &actor,
                        reason,
                        now,
                    )
                    .await?;
                }
                Ok(())
            }

            /// Inside the transaction that lowered a balance from `before` available to
            /// `(balance, held)`: `credits.low` if that crossed the live `threshold`.
            pub(crate) async fn insert_low_balance_event(
                tx: &mut sqlx::Transaction<'_, $Db>,
                threshold: i64,
                (account_id, mode): (&str, &str),
                before: i64,
                (balance, held): (i64, i64),
                now: i64,
            ) -> $crate::DbResult<()> {
                if mode != easel_core::mode::Mode::Live.as_str()
                    || !easel_core::credits::crosses_low(before, balance - held, threshold)
                {
                    return Ok(());
                }
                let data = $crate::notices::low_data(balance, held, threshold);
                Self::insert_event_row(tx, account_id, mode, "credits.low", &data, now).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::CreditStore for $Store {
            fn set_low_balance_credits(&self, credits: i64) {
                self.events.set_low_balance_credits(credits);
            }

            async fn add_credits(&self, new: $crate::NewCredit) -> $crate::DbResult<$crate::LedgerEntry> {
                use easel_core::credits::{LedgerType, MAX_MOVEMENT};
                if !matches!(new.entry_type, LedgerType::Grant | LedgerType::Purchase | LedgerType::PlanAllowance) {
                    return Err(easel_core::DomainError::invalid("type", "ledger_type_invalid", "only grants, purchases and plan allowances add credits").into());
                }
                if !(1..=MAX_MOVEMENT).contains(&new.amount) {
                    return Err(easel_core::DomainError::invalid(
                        "credits",
                        "credits_invalid",
                        format!("credits must be between 1 and {MAX_MOVEMENT}"),
                    )
                    .into());
                }
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, &new.account_id).await?;
                let state: Option<(String,)> = sqlx::query_as($crate::sql::SELECT_ACCOUNT_STATE)
                    .bind(&new.account_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                match state {
                    None => return Err($crate::DbError::NotFound),
                    Some((state,)) if state == "terminated" => {
                        return Err(easel_core::DomainError::invalid("account", "account_terminated", "the account is terminated").into());
                    }
                    Some(_) => {}
                }
                let now = new.audit.now;
                let mode = new.mode.as_str();
                let (balance, held): (i64, i64) = sqlx::query_as($crate::sql::ADD_CREDITS)
                    .bind(&new.account_id)
                    .bind(mode)
                    .bind(new.amount)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                let reference = new.reference.as_ref().map(|(t, id)| (t.as_str(), id.as_str()));
                let id = Self::insert_ledger(
                    &mut tx,
                    (&new.account_id, mode),
                    new.entry_type,
                    (new.amount, 0),
                    (balance, held),
                    reference,
                    &new.audit.actor,
                    new.reason.as_deref(),
                    now,
                )
                .await?;
                let audit = new
                    .audit
                    .clone()
                    .with("credits", new.amount)
                    .with("type", new.entry_type.as_str())
                    .with("mode", mode)
                    .with("reason", new.reason.clone().unwrap_or_default());
                Self::insert_audit(&mut tx, &audit.entry(Some(&new.account_id), easel_core::audit::action::CREDITS_GRANTED, ("ledger_entry", &id))).await?;
                let data = serde_json::json!({
                    "object": "ledger_entry", "id": id, "type": new.entry_type.as_str(),
                    "amount": new.amount, "balance_after": balance, "available_after": balance - held,
                    "reason": new.reason,
                });
                Self::insert_event_row(&mut tx, &new.account_id, mode, "credits.granted", &data, now)
                    .await?;
                let sql = format!("{} WHERE id = $1", $crate::sql::LEDGER_FROM);
                let entry = sqlx::query_as::<_, $crate::common::rows::LedgerRow>(&sql).bind(&id).fetch_one(&mut *tx).await?;
                tx.commit().await?;
                entry.try_into()
            }

            async fn charge_invalid_input_fee(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                fee: i64,
                request_id: &str,
                actor: &easel_core::audit::Actor,
                now: i64,
            ) -> $crate::DbResult<i64> {
                if fee <= 0 {
                    return Ok(0);
                }
                // Read, then spend only if the balance still covers it: a concurrent change
                // in between makes the spend miss, and it is tried again with a fresh read.
                for _ in 0..3 {
                    let mut tx = self.begin_write().await?;
                    let current: Option<(i64, i64)> = sqlx::query_as($crate::sql::SELECT_BALANCE)
                        .bind(account_id)
                        .bind(mode.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let charge = fee.min(current.map_or(0, |(b, h)| b - h));
                    if charge <= 0 {
                        return Ok(0);
                    }
                    let spent: Option<(i64, i64)> = sqlx::query_as($crate::sql::SPEND_AVAILABLE)
                        .bind(account_id)
                        .bind(mode.as_str())
                        .bind(charge)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some((balance, held)) = spent else {
                        continue;
                    };
                    Self::insert_ledger(
                        &mut tx,
                        (account_id, mode.as_str()),
                        easel_core::credits::LedgerType::InvalidInputFee,
                        (-charge, 0),
                        (balance, held),
                        Some(("request", request_id)),
                        actor,
                        None,
                        now,
                    )
                    .await?;
                    let before = balance - held + charge;
                    Self::insert_low_balance_event(
                        &mut tx,
                        self.events.low_balance_credits(),
                        (account_id, mode.as_str()),
                        before,
                        (balance, held),
                        now,
                    )
                    .await?;
                    tx.commit().await?;
                    return Ok(charge);
                }
                Ok(0)
            }

            async fn balance(&self, account_id: &str, mode: easel_core::mode::Mode) -> $crate::DbResult<$crate::Balance> {
                let row: Option<(i64, i64)> = sqlx::query_as($crate::sql::SELECT_BALANCE)
                    .bind(account_id)
                    .bind(mode.as_str())
                    .fetch_optional(self.read())
                    .await?;
                Ok(row.map_or_else($crate::Balance::default, |(balance, held)| $crate::Balance { balance, held }))
            }

            async fn usage(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                from: i64,
                to: i64,
            ) -> $crate::DbResult<Vec<$crate::UsageRow>> {
                let rows: Vec<(i64, String, String, i64, i64)> = sqlx::query_as($crate::sql::USAGE_BY_DAY)
                    .bind(account_id)
                    .bind(mode.as_str())
                    .bind(from)
                    .bind(to)
                    .fetch_all(self.read())
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(day, model, api_key_id, generations, credits)| $crate::UsageRow { day, model, api_key_id, generations, credits })
                    .collect())
            }

            async fn list_ledger(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                filter: $crate::LedgerFilter,
                page: $crate::Page,
            ) -> $crate::DbResult<Vec<$crate::LedgerEntry>> {
                let mut conditions = vec!["account_id = $1".to_string(), "mode = $2".to_string()];
                let mut next = 3;
                if filter.entry_type.is_some() {
                    conditions.push(format!("type = ${next}"));
                    next += 1;
                }
                if filter.from.is_some() {
                    conditions.push(format!("created_at >= ${next}"));
                    next += 1;
                }
                if filter.to.is_some() {
                    conditions.push(format!("created_at < ${next}"));
                    next += 1;
                }
                let (keyset, limit) = page.keyset("id", next);
                let sql = format!("{} WHERE {}{keyset} ORDER BY id DESC {limit}", $crate::sql::LEDGER_FROM, conditions.join(" AND "));
                let mut query = sqlx::query_as::<_, $crate::common::rows::LedgerRow>(&sql).bind(account_id).bind(mode.as_str());
                if let Some(t) = filter.entry_type {
                    query = query.bind(t.as_str());
                }
                if let Some(from) = filter.from {
                    query = query.bind(from);
                }
                if let Some(to) = filter.to {
                    query = query.bind(to);
                }
                if let Some(cursor) = &page.starting_after {
                    query = query.bind(cursor);
                }
                query.bind(page.fetch()).fetch_all(self.read()).await?.into_iter().map(TryInto::try_into).collect()
            }
        }
    };
}
