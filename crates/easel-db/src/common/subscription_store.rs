//! `SubscriptionStore`: Stripe subscriptions and the failed-payment sweep's steps.

/// The columns of a subscription row, in [`SubscriptionRow`]'s order.
pub(crate) const SUBSCRIPTION_COLUMNS: &str = "account_id, subscription_id, customer_id, plan, status, \
     current_period_end, cancel_at_period_end, past_due_since, notices_sent, suspended_at, \
     last_event_at, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct SubscriptionRow {
    account_id: String,
    subscription_id: String,
    customer_id: String,
    plan: String,
    status: String,
    current_period_end: Option<i64>,
    cancel_at_period_end: bool,
    past_due_since: Option<i64>,
    notices_sent: i32,
    suspended_at: Option<i64>,
    last_event_at: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<SubscriptionRow> for crate::Subscription {
    fn from(r: SubscriptionRow) -> Self {
        crate::Subscription {
            account_id: r.account_id,
            subscription_id: r.subscription_id,
            customer_id: r.customer_id,
            plan: r.plan,
            status: r.status,
            current_period_end: r.current_period_end,
            cancel_at_period_end: r.cancel_at_period_end,
            past_due_since: r.past_due_since,
            notices_sent: r.notices_sent,
            suspended_at: r.suspended_at,
            last_event_at: r.last_event_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The row after `event`, from the row before (`None`: the account has none, or the event
/// starts a new subscription in place of an ended one). Pure, so the rules can be read (and
/// tested) apart from the SQL.
pub(crate) fn next_row(
    old: Option<&crate::Subscription>,
    event: &crate::SubscriptionEvent,
    plan_now: &str,
) -> crate::Subscription {
    use crate::PaymentOutcome;
    let now = event.event_at;
    let mut row = old.cloned().unwrap_or_else(|| crate::Subscription {
        account_id: event.account_id.clone(),
        subscription_id: event.subscription_id.clone(),
        customer_id: event.customer_id.clone(),
        plan: event.plan.clone().unwrap_or_else(|| plan_now.to_string()),
        // A subscription first heard of through a payment is running.
        status: "active".into(),
        current_period_end: None,
        cancel_at_period_end: false,
        past_due_since: None,
        notices_sent: 0,
        suspended_at: None,
        last_event_at: now,
        created_at: now,
        updated_at: now,
    });
    row.customer_id = event.customer_id.clone();
    if let Some(plan) = &event.plan {
        row.plan = plan.clone();
    }
    if let Some(status) = &event.status {
        row.status = status.clone();
    }
    if event.ended {
        row.status = "canceled".into();
    }
    if event.current_period_end.is_some() {
        row.current_period_end = event.current_period_end;
    }
    if let Some(cancel) = event.cancel_at_period_end {
        row.cancel_at_period_end = cancel;
    }
    let failing = match (event.payment, event.status.as_deref()) {
        _ if event.ended => false,
        (Some(PaymentOutcome::Failed), _) | (_, Some("past_due" | "unpaid")) => true,
        (Some(PaymentOutcome::Paid), _) | (_, Some("active" | "trialing")) => false,
        // Any other status leaves the payment state as it was.
        _ => row.past_due_since.is_some(),
    };
    if failing {
        row.past_due_since.get_or_insert(now);
    } else {
        row.past_due_since = None;
        row.notices_sent = 0;
    }
    row.last_event_at = row.last_event_at.max(now);
    row.updated_at = now;
    row
}

macro_rules! impl_subscription_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            async fn load_subscription(
                conn: &mut <$Db as sqlx::Database>::Connection,
                account_id: &str,
            ) -> $crate::DbResult<Option<$crate::Subscription>> {
                let sql = format!(
                    "SELECT {} FROM subscriptions WHERE account_id = $1",
                    $crate::common::subscription_store::SUBSCRIPTION_COLUMNS
                );
                Ok(sqlx::query_as::<
                    _,
                    $crate::common::subscription_store::SubscriptionRow,
                >(&sql)
                .bind(account_id)
                .fetch_optional(&mut *conn)
                .await?
                .map(Into::into))
            }

            /// Inside a write transaction: moves the account to `plan`, keeping the
            /// operator's limit overrides, with its audit entry.
            async fn change_plan_in(
                tx: &mut sqlx::Transaction<'_, $Db>,
                account: &$crate::Account,
                plan: &str,
                audit: &$crate::AuditContext,
            ) -> $crate::DbResult<()> {
                sqlx::query("UPDATE accounts SET plan = $2, updated_at = $3 WHERE id = $1")
                    .bind(&account.id)
                    .bind(plan)
                    .bind(audit.now)
                    .execute(&mut **tx)
                    .await?;
                let entry = audit
                    .another()
                    .with("old", serde_json::json!({"plan": account.plan}))
                    .with("new", serde_json::json!({"plan": plan}))
                    .entry(
                        Some(&account.id),
                        easel_core::audit::action::ACCOUNT_PLAN_CHANGED,
                        ("account", &account.id),
                    );
                Self::insert_audit(tx, &entry).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::SubscriptionStore for $Store {
            async fn get_subscription(
                &self,
                account_id: &str,
            ) -> $crate::DbResult<Option<$crate::Subscription>> {
                let mut conn = self.read().acquire().await?;
                Self::load_subscription(&mut conn, account_id).await
            }

            async fn apply_subscription_event(
                &self,
                event: $crate::SubscriptionEvent,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::SubscriptionApplied> {
                use easel_core::account::AccountState;
                let mut tx = self.begin_write().await?;
                let account = Self::lock_changeable_account(&mut tx, &event.account_id).await?;
                let old = Self::load_subscription(&mut tx, &event.account_id).await?;
                let ignore = |why: &'static str, row: Option<$crate::Subscription>| {
                    Ok($crate::SubscriptionApplied {
                        subscription: row,
                        plan_changed: None,
                        unsuspended: false,
                        ignored: Some(why),
                    })
                };
                // The row this event continues: the same subscription's, or none when it
                // starts one in place of an ended subscription.
                let continued = match &old {
                    Some(o) if o.subscription_id == event.subscription_id => {
                        if event.event_at < o.last_event_at {
                            return ignore("stale", old);
                        }
                        Some(o)
                    }
                    Some(o) if o.is_live() => return ignore("other_subscription", old),
                    Some(_) | None if event.ended => return ignore("not_current", old),
                    _ => None,
                };
                let row = $crate::common::subscription_store::next_row(
                    continued,
                    &event,
                    &account.plan,
                );
                // The account's plan follows a running subscription, and falls back to
                // the default when it ends (unless the operator moved it elsewhere).
                let target = if event.ended {
                    (account.plan == row.plan).then(|| event.fallback_plan.clone())
                } else if row.is_live() {
                    Some(row.plan.clone())
                } else {
                    None
                };
                let mut plan_changed = None;
                if let Some(plan) = target.filter(|p| *p != account.plan) {
                    Self::change_plan_in(&mut tx, &account, &plan, &audit).await?;
                    plan_changed = Some((account.plan.clone(), plan));
                }
                // Paid (or ended): a suspension the sweep made is lifted; one the operator
                // made is theirs to lift.
                let mut row = row;
                let mut unsuspended = false;
                if row.past_due_since.is_none() && row.suspended_at.is_some() {
                    row.suspended_at = None;
                    if account.state == AccountState::Suspended
                        && account.suspended_reason.as_deref()
                            == Some(event.payment_suspension_reason.as_str())
                    {
                        Self::apply_state_change(
                            &mut tx,
                            &account.id,
                            $crate::StateChange::Unsuspend,
                            &audit.another().with("reason", "payment received"),
                        )
                        .await?;
                        unsuspended = true;
                    }
                }
                // One statement for both cases: a new subscription replaces the account's
                // ended one in place.
                sqlx::query(
                    "INSERT INTO subscriptions (account_id, subscription_id, customer_id, plan, status, \
                     current_period_end, cancel_at_period_end, past_due_since, notices_sent, suspended_at, \
                     last_event_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                     ON CONFLICT (account_id) DO UPDATE SET subscription_id = excluded.subscription_id, \
                     customer_id = excluded.customer_id, plan = excluded.plan, status = excluded.status, \
                     current_period_end = excluded.current_period_end, \
                     cancel_at_period_end = excluded.cancel_at_period_end, \
                     past_due_since = excluded.past_due_since, notices_sent = excluded.notices_sent, \
                     suspended_at = excluded.suspended_at, last_event_at = excluded.last_event_at, \
                     created_at = excluded.created_at, updated_at = excluded.updated_at",
                )
                .bind(&row.account_id)
                .bind(&row.subscription_id)
                .bind(&row.customer_id)
                .bind(&row.plan)
                .bind(&row.status)
                .bind(row.current_period_end)
                .bind(row.cancel_at_period_end)
                .bind(row.past_due_since)
                .bind(row.notices_sent)
                .bind(row.suspended_at)
                .bind(row.last_event_at)
                .bind(row.created_at)
                .bind(row.updated_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::SubscriptionApplied {
                    subscription: Some(row),
                    plan_changed,
                    unsuspended,
                    ignored: None,
                })
            }

            async fn past_due_subscriptions(
                &self,
                limit: i64,
            ) -> $crate::DbResult<Vec<$crate::Subscription>> {
                let sql = format!(
                    "SELECT {} FROM subscriptions WHERE past_due_since IS NOT NULL \
                     AND suspended_at IS NULL ORDER BY past_due_since LIMIT $1",
                    $crate::common::subscription_store::SUBSCRIPTION_COLUMNS
                );
                Ok(sqlx::query_as::<
                    _,
                    $crate::common::subscription_store::SubscriptionRow,
                >(&sql)
                .bind(limit)
                .fetch_all(self.read())
                .await?
                .into_iter()
                .map(Into::into)
                .collect())
            }

            async fn record_payment_notice(
                &self,
                account_id: &str,
                past_due_since: i64,
                sent: i32,
                to: i32,
            ) -> $crate::DbResult<bool> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "UPDATE subscriptions SET notices_sent = $4 WHERE account_id = $1 \
                     AND past_due_since = $2 AND notices_sent = $3 AND suspended_at IS NULL",
                )
                .bind(account_id)
                .bind(past_due_since)
                .bind(sent)
                .bind(to)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(done == 1)
            }

            async fn suspend_for_payment(
                &self,
                account_id: &str,
                past_due_since: i64,
                reason: &str,
                jobs: $crate::SuspendJobs,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<Option<$crate::Account>> {
                use easel_core::account::AccountState;
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, account_id).await?;
                let marked = sqlx::query(
                    "UPDATE subscriptions SET suspended_at = $3 WHERE account_id = $1 \
                     AND past_due_since = $2 AND suspended_at IS NULL",
                )
                .bind(account_id)
                .bind(past_due_since)
                .bind(audit.now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if marked != 1 {
                    return Ok(None);
                }
                let account = Self::load_account(&mut tx, account_id).await?;
                if account.state != AccountState::Active {
                    // Already suspended by the operator, or terminated: theirs to handle.
                    tx.commit().await?;
                    return Ok(None);
                }
                let change = $crate::StateChange::Suspend {
                    reason: reason.to_string(),
                    until: None,
                    jobs,
                };
                let audit = audit.with("reason", reason).with("until", None::<i64>);
                let account = Self::apply_state_change(&mut tx, account_id, change, &audit).await?;
                tx.commit().await?;
                Ok(Some(account))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::next_row;
    use crate::{PaymentOutcome, Subscription, SubscriptionEvent};

    fn event(at: i64) -> SubscriptionEvent {
        SubscriptionEvent {
            account_id: "acct_1".into(),
            subscription_id: "sub_1".into(),
            customer_id: "cus_1".into(),
            plan: None,
            status: None,
            current_period_end: None,
            cancel_at_period_end: None,
            payment: None,
            ended: false,
            fallback_plan: "free".into(),
            payment_suspension_reason: "unpaid".into(),
            event_at: at,
        }
    }

    fn started() -> Subscription {
        next_row(
            None,
            &SubscriptionEvent {
                plan: Some("pro".into()),
                ..event(10)
            },
            "free",
        )
    }

    #[test]
    fn a_failed_payment_is_past_due_from_its_first_failure_until_paid() {
        let row = started();
        assert_eq!((row.plan.as_str(), row.status.as_str()), ("pro", "active"));
        assert_eq!(row.past_due_since, None);
        let failed = SubscriptionEvent {
            payment: Some(PaymentOutcome::Failed),
            ..event(20)
        };
        let row = next_row(Some(&row), &failed, "pro");
        assert_eq!(row.past_due_since, Some(20));
        let mut row = Subscription {
            notices_sent: 2,
            ..row
        };
        // A second failure (Stripe retries) keeps the first date; so does `past_due`.
        let again = SubscriptionEvent {
            payment: Some(PaymentOutcome::Failed),
            ..event(30)
        };
        row = next_row(Some(&row), &again, "pro");
        let status = SubscriptionEvent {
            status: Some("past_due".into()),
            ..event(31)
        };
        row = next_row(Some(&row), &status, "pro");
        assert_eq!((row.past_due_since, row.notices_sent), (Some(20), 2));
        // Statuses that say nothing about payment change nothing about it.
        let paused = SubscriptionEvent {
            status: Some("paused".into()),
            ..event(32)
        };
        row = next_row(Some(&row), &paused, "pro");
        assert_eq!(row.past_due_since, Some(20));
        let paid = SubscriptionEvent {
            payment: Some(PaymentOutcome::Paid),
            ..event(40)
        };
        row = next_row(Some(&row), &paid, "pro");
        assert_eq!((row.past_due_since, row.notices_sent), (None, 0));
        assert_eq!(row.last_event_at, 40);
    }

    #[test]
    fn an_ended_subscription_owes_nothing() {
        let failed = SubscriptionEvent {
            payment: Some(PaymentOutcome::Failed),
            ..event(20)
        };
        let row = next_row(Some(&started()), &failed, "pro");
        let ended = SubscriptionEvent {
            ended: true,
            status: Some("canceled".into()),
            ..event(30)
        };
        let row = next_row(Some(&row), &ended, "pro");
        assert_eq!(row.status, "canceled");
        assert!(!row.is_live());
        assert_eq!(row.past_due_since, None);
    }
}
