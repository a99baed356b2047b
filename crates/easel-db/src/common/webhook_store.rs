//! `WebhookStore`: webhook endpoints, scoped to their account and mode.

macro_rules! impl_webhook_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            /// The attempt-recording task's work: records `batch` in one transaction, by
            /// endpoint then delivery (two nodes' batches then take the rows they share in
            /// the same order), and answers each attempt. A batch that fails is recorded
            /// again one attempt per transaction, so that only the attempt at fault fails.
            pub(crate) async fn run_attempts(
                pool: sqlx::Pool<$Db>,
                mut batch: Vec<$crate::common::group_commit::PendingAttempt>,
            ) {
                // By endpoint, then delivery: the rows two batches share (an endpoint's,
                // on a failure) are taken in one order. (SQLite has one writer: no order.)
                if let Some(sql) = Self::DELIVERY_ENDPOINTS {
                    let ids = serde_json::Value::from(
                        batch.iter().map(|p| p.item.delivery_id.as_str()).collect::<Vec<_>>(),
                    )
                    .to_string();
                    let endpoints: std::collections::HashMap<String, String> = sqlx::query_as(sql)
                        .bind(&ids)
                        .fetch_all(&pool)
                        .await
                        .map(|rows: Vec<(String, String)>| rows.into_iter().collect())
                        // A failed read costs only the order: the batch meets the same
                        // error and reports it.
                        .unwrap_or_default();
                    batch.sort_by(|a, b| {
                        let endpoint = |p: &$crate::common::group_commit::PendingAttempt| {
                            endpoints.get(&p.item.delivery_id).map_or("", String::as_str)
                        };
                        (endpoint(a), &a.item.delivery_id)
                            .cmp(&(endpoint(b), &b.item.delivery_id))
                    });
                }
                let results = batch_or_one_by_one!(&batch[..], "webhook attempts", |part| {
                    Self::attempts_in_one(&pool, part).await
                });
                $crate::common::group_commit::answer(batch, results);
            }

            async fn attempts_in_one(
                pool: &sqlx::Pool<$Db>,
                batch: &[$crate::common::group_commit::PendingAttempt],
            ) -> $crate::DbResult<Vec<$crate::DbResult<$crate::AttemptRecorded>>> {
                let mut tx = Self::begin_on(pool).await?;
                let mut results = Vec::with_capacity(batch.len());
                for p in batch {
                    results.push(Ok(Self::record_attempt_in(&mut tx, &p.item).await?));
                }
                tx.commit().await?;
                Ok(results)
            }

            /// Inside a write transaction: records one attempt (see
            /// `WebhookStore::record_webhook_attempt`). Writes nothing when the lease was lost.
            async fn record_attempt_in(
                tx: &mut sqlx::Transaction<'_, $Db>,
                o: &$crate::AttemptOutcome,
            ) -> $crate::DbResult<$crate::AttemptRecorded> {
                let sql = format!(
                    "SELECT {} FROM webhook_deliveries WHERE id = $1 AND locked_by = $2 AND state = 'pending'",
                    $crate::sql::WEBHOOK_DELIVERY_COLUMNS
                );
                let Some(row) = sqlx::query_as::<_, $crate::common::webhook_rows::DeliveryRow>(&sql)
                    .bind(&o.delivery_id)
                    .bind(&o.worker)
                    .fetch_optional(&mut **tx)
                    .await?
                else {
                    return Ok($crate::AttemptRecorded::LeaseLost);
                };
                let delivery = $crate::WebhookDelivery::try_from(row)?;
                // A replay of an ended delivery is one attempt: it neither counts against
                // nor restarts the schedule.
                let attempts = if delivery.manual { delivery.attempts } else { delivery.attempts.saturating_add(1) };
                let (state, next) = match (o.succeeded, delivery.manual, o.retry_at) {
                    (true, _, _) => ("succeeded", o.attempted_at),
                    (false, false, Some(at)) => ("pending", at),
                    (false, _, _) => ("failed", o.attempted_at),
                };
                sqlx::query($crate::sql::WEBHOOK_DELIVERY_ATTEMPTED)
                    .bind(&delivery.id)
                    .bind(state)
                    .bind(i64::from(attempts))
                    .bind(next)
                    .bind(false)
                    .bind(o.attempted_at)
                    .bind(o.status_code.map(i64::from))
                    .bind(&o.error)
                    .bind(&o.worker)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query($crate::sql::INSERT_WEBHOOK_ATTEMPT)
                    .bind(easel_core::ids::IdKind::WebhookAttempt.generate())
                    .bind(&delivery.id)
                    .bind(o.attempted_at)
                    .bind(o.status_code.map(i64::from))
                    .bind(o.latency_ms)
                    .bind(&o.response_body)
                    .bind(&o.error)
                    .bind(delivery.manual)
                    .execute(&mut **tx)
                    .await?;
                let mut recorded = $crate::AttemptRecorded::Recorded;
                if o.succeeded {
                    // The endpoint is back: what the circuit breaker held goes now rather
                    // than when the hold ends.
                    sqlx::query(
                        "UPDATE webhook_endpoints SET failing_since = NULL, held_until = NULL \
                         WHERE id = $1 AND (failing_since IS NOT NULL OR held_until IS NOT NULL)",
                    )
                    .bind(&delivery.endpoint_id)
                    .execute(&mut **tx)
                    .await?;
                } else {
                    sqlx::query(
                        "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE id = $1",
                    )
                    .bind(&delivery.endpoint_id)
                    .bind(o.attempted_at)
                    .execute(&mut **tx)
                    .await?;
                    let endpoint = Self::load_endpoint(
                        tx,
                        &delivery.account_id,
                        delivery.mode,
                        &delivery.endpoint_id,
                    )
                    .await;
                    let endpoint = match endpoint {
                        Ok(endpoint) => Some(endpoint),
                        // Deleted meanwhile: nothing to disable or hold.
                        Err($crate::DbError::NotFound) => None,
                        Err(e) => return Err(e),
                    };
                    if let Some(endpoint) = endpoint {
                        let failing_for = endpoint
                            .failing_since
                            .map_or(0, |since| o.attempted_at.saturating_sub(since));
                        let reason = if o.gone {
                            Some("the endpoint answered 410 Gone".to_string())
                        } else if failing_for >= o.disable_after_ms {
                            Some(format!(
                                "every delivery failed for {} hours",
                                failing_for.div_euclid(3_600_000)
                            ))
                        } else {
                            None
                        };
                        let disabled = match reason {
                            Some(reason) if endpoint.disabled_at.is_none() => {
                                Self::disable_failing_endpoint(tx, &endpoint, &reason, o.attempted_at).await?
                            }
                            _ => None,
                        };
                        match disabled {
                            Some(endpoint) => recorded = $crate::AttemptRecorded::EndpointDisabled(Box::new(endpoint)),
                            None => {
                                if let Some(until) = o.hold_others_until {
                                    sqlx::query($crate::sql::HOLD_ENDPOINT)
                                        .bind(&delivery.endpoint_id)
                                        .bind(until)
                                        .execute(&mut **tx)
                                        .await?;
                                }
                            }
                        }
                    }
                }
                Ok(recorded)
            }

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

            async fn load_delivery(
                conn: &mut <$Db as sqlx::Database>::Connection,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
            ) -> $crate::DbResult<$crate::WebhookDelivery> {
                let sql = format!(
                    "SELECT {} FROM webhook_deliveries WHERE id = $1 AND account_id = $2 AND mode = $3",
                    $crate::sql::WEBHOOK_DELIVERY_SHOWN_COLUMNS
                );
                let row = sqlx::query_as::<_, $crate::common::webhook_rows::DeliveryRow>(&sql)
                    .bind(id)
                    .bind(account_id)
                    .bind(mode.as_str())
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::DbError::NotFound)?;
                let mut with_log = Self::attach_attempts(conn, vec![row.try_into()?]).await?;
                with_log.pop().ok_or($crate::DbError::NotFound)
            }

            /// Fills each delivery's attempt log, oldest attempt first.
            async fn attach_attempts(
                conn: &mut <$Db as sqlx::Database>::Connection,
                mut deliveries: Vec<$crate::WebhookDelivery>,
            ) -> $crate::DbResult<Vec<$crate::WebhookDelivery>> {
                if deliveries.is_empty() {
                    return Ok(deliveries);
                }
                let sql = format!(
                    "{} WHERE delivery_id IN ({}) ORDER BY delivery_id, id",
                    $crate::sql::WEBHOOK_ATTEMPT_COLUMNS,
                    $crate::sql::placeholders(1, deliveries.len())
                );
                let mut query = sqlx::query_as::<_, $crate::common::webhook_rows::AttemptRow>(&sql);
                for d in &deliveries {
                    query = query.bind(&d.id);
                }
                let mut logs: std::collections::HashMap<String, Vec<$crate::WebhookAttempt>> =
                    std::collections::HashMap::new();
                for row in query.fetch_all(&mut *conn).await? {
                    let attempt = $crate::WebhookAttempt::from(row);
                    logs.entry(attempt.delivery_id.clone()).or_default().push(attempt);
                }
                for d in &mut deliveries {
                    d.attempt_log = logs.remove(&d.id).unwrap_or_default();
                }
                Ok(deliveries)
            }

            /// Disables an endpoint its deliveries keep failing to reach, once (of racing
            /// attempts only the first finds it enabled), with its event and audit entry.
            async fn disable_failing_endpoint(
                tx: &mut sqlx::Transaction<'_, $Db>,
                endpoint: &$crate::WebhookEndpoint,
                reason: &str,
                now: i64,
            ) -> $crate::DbResult<Option<$crate::WebhookEndpoint>> {
                let changed = sqlx::query(
                    "UPDATE webhook_endpoints SET disabled_at = $2, disabled_reason = $3, updated_at = $2 \
                     WHERE id = $1 AND disabled_at IS NULL AND deleted_at IS NULL",
                )
                .bind(&endpoint.id)
                .bind(now)
                .bind(reason)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Ok(None);
                }
                sqlx::query($crate::sql::FAIL_ENDPOINT_DELIVERIES)
                    .bind(&endpoint.id)
                    .bind("the endpoint was disabled")
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                let disabled =
                    Self::load_endpoint(&mut **tx, &endpoint.account_id, endpoint.mode, &endpoint.id).await?;
                let mut audit = $crate::AuditContext::new(easel_core::audit::Actor::system(), None)
                    .with("reason", reason)
                    .with("failing_since", disabled.failing_since);
                audit.now = now;
                let action = easel_core::audit::action::WEBHOOK_ENDPOINT_DISABLED;
                Self::audit_endpoint(tx, &disabled, action, audit).await?;
                let data = serde_json::json!({
                    "id": disabled.id,
                    "object": "webhook_endpoint",
                    "url": disabled.url,
                    "disabled_reason": disabled.disabled_reason,
                    "disabled_at": now.div_euclid(1000),
                    "failing_since": disabled.failing_since.map(|ms| ms.div_euclid(1000)),
                });
                Self::insert_event_row(
                    tx,
                    &disabled.account_id,
                    disabled.mode.as_str(),
                    "webhook_endpoint.disabled",
                    &data,
                    now,
                )
                .await?;
                Ok(Some(disabled))
            }
        }

        #[async_trait::async_trait]
        impl $crate::WebhookStore for $Store {
            async fn next_delivery_due(&self, now: i64) -> $crate::DbResult<Option<i64>> {
                let (due,): (Option<i64>,) = sqlx::query_as($crate::sql::NEXT_DELIVERY_DUE)
                    .bind(now)
                    .fetch_one(self.read())
                    .await?;
                Ok(due)
            }

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

            async fn due_webhook_deliveries(
                &self,
                now: i64,
                limit: i64,
                skip: &[String],
            ) -> $crate::DbResult<Vec<(String, String)>> {
                let skip_sql = if skip.is_empty() {
                    String::new()
                } else {
                    format!(" AND endpoint_id NOT IN ({})", $crate::sql::placeholders(3, skip.len()))
                };
                let sql = format!(
                    "{}{skip_sql} ORDER BY next_attempt_at LIMIT $2",
                    $crate::sql::DUE_WEBHOOK_DELIVERIES
                );
                let mut query = sqlx::query_as::<_, (String, String)>(&sql).bind(now).bind(limit);
                for endpoint in skip {
                    query = query.bind(endpoint);
                }
                Ok(query.fetch_all(self.read()).await?)
            }

            async fn claim_webhook_deliveries(
                &self,
                ids: &[String],
                worker: &str,
                now: i64,
                lease_until: i64,
            ) -> $crate::DbResult<Vec<$crate::DeliveryTask>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                // The conditions make the claim exact: of nodes racing for one row, the
                // first update wins and the others find it leased.
                let sql = format!(
                    "UPDATE webhook_deliveries SET locked_until = $1, locked_by = $2, updated_at = $3 \
                     WHERE id IN ({}) AND state = 'pending' AND next_attempt_at <= $3 AND locked_until <= $3 \
                     RETURNING {}",
                    $crate::sql::placeholders(4, ids.len()),
                    $crate::sql::WEBHOOK_DELIVERY_COLUMNS
                );
                let mut query = sqlx::query_as::<_, $crate::common::webhook_rows::DeliveryRow>(&sql)
                    .bind(lease_until)
                    .bind(worker)
                    .bind(now);
                for id in ids {
                    query = query.bind(id);
                }
                let deliveries: Vec<$crate::WebhookDelivery> = query
                    .fetch_all(self.writer())
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<$crate::DbResult<_>>()?;
                if deliveries.is_empty() {
                    return Ok(Vec::new());
                }
                let mut conn = self.read().acquire().await?;
                let mut endpoint_ids: Vec<&str> =
                    deliveries.iter().map(|d| d.endpoint_id.as_str()).collect();
                endpoint_ids.sort_unstable();
                endpoint_ids.dedup();
                let sql = format!(
                    "{} WHERE e.id IN ({})",
                    $crate::sql::WEBHOOK_ENDPOINT_STATE,
                    $crate::sql::placeholders(1, endpoint_ids.len())
                );
                let mut query = sqlx::query_as::<_, $crate::common::webhook_rows::EndpointStateRow>(&sql);
                for id in &endpoint_ids {
                    query = query.bind(*id);
                }
                let mut endpoints = std::collections::HashMap::new();
                for row in query.fetch_all(&mut *conn).await? {
                    let (endpoint, deleted, account_state) = row.into_parts()?;
                    endpoints.insert(endpoint.id.clone(), (endpoint, deleted, account_state));
                }
                let sql = format!(
                    "SELECT id, data, created_at FROM events WHERE id IN ({})",
                    $crate::sql::placeholders(1, deliveries.len())
                );
                let mut query = sqlx::query_as::<_, (String, String, i64)>(&sql);
                for d in &deliveries {
                    query = query.bind(&d.event_id);
                }
                let events: std::collections::HashMap<String, (String, i64)> = query
                    .fetch_all(&mut *conn)
                    .await?
                    .into_iter()
                    .map(|(id, data, at)| (id, (data, at)))
                    .collect();
                let mut tasks = Vec::with_capacity(deliveries.len());
                for delivery in deliveries {
                    let (Some((endpoint, deleted, account_state)), Some((data, at))) =
                        (endpoints.get(&delivery.endpoint_id), events.get(&delivery.event_id))
                    else {
                        return Err($crate::DbError::Corrupt(format!(
                            "delivery {} lost its endpoint or event",
                            delivery.id
                        )));
                    };
                    tasks.push($crate::DeliveryTask {
                        endpoint: endpoint.clone(),
                        endpoint_deleted: *deleted,
                        account_state: account_state.clone(),
                        event_data: data.clone(),
                        event_created_at: *at,
                        delivery,
                    });
                }
                Ok(tasks)
            }

            async fn record_webhook_attempt(
                &self,
                o: $crate::AttemptOutcome,
            ) -> $crate::DbResult<$crate::AttemptRecorded> {
                // Shares a transaction with the attempts that ended at the same moment.
                self.attempts.submit(o).await
            }

            async fn abandon_webhook_delivery(
                &self,
                id: &str,
                worker: &str,
                reason: &str,
                now: i64,
            ) -> $crate::DbResult<()> {
                sqlx::query(
                    "UPDATE webhook_deliveries SET state = 'failed', manual = FALSE, last_error = $3, \
                     locked_until = 0, locked_by = NULL, updated_at = $4 \
                     WHERE id = $1 AND locked_by = $2 AND state = 'pending'",
                )
                .bind(id)
                .bind(worker)
                .bind(reason)
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn get_webhook_delivery(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
            ) -> $crate::DbResult<$crate::WebhookDelivery> {
                let mut conn = self.read().acquire().await?;
                Self::load_delivery(&mut conn, account_id, mode, id).await
            }

            async fn list_webhook_deliveries(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                endpoint_id: &str,
                page: $crate::Page,
            ) -> $crate::DbResult<Vec<$crate::WebhookDelivery>> {
                let mut conn = self.read().acquire().await?;
                // The endpoint must be the caller's (deleted ones keep their log).
                let owned: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM webhook_endpoints WHERE id = $1 AND account_id = $2 AND mode = $3",
                )
                .bind(endpoint_id)
                .bind(account_id)
                .bind(mode.as_str())
                .fetch_optional(&mut *conn)
                .await?;
                if owned.is_none() {
                    return Err($crate::DbError::NotFound);
                }
                let (keyset, limit) = page.keyset("id", 2);
                let sql = format!(
                    "SELECT {} FROM webhook_deliveries WHERE endpoint_id = $1{keyset} ORDER BY id DESC {limit}",
                    $crate::sql::WEBHOOK_DELIVERY_SHOWN_COLUMNS
                );
                let mut query = sqlx::query_as::<_, $crate::common::webhook_rows::DeliveryRow>(&sql)
                    .bind(endpoint_id);
                if let Some(cursor) = &page.starting_after {
                    query = query.bind(cursor);
                }
                let deliveries = query
                    .bind(page.fetch())
                    .fetch_all(&mut *conn)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<$crate::DbResult<Vec<_>>>()?;
                Self::attach_attempts(&mut conn, deliveries).await
            }

            async fn purge_webhook_deliveries(&self, before: i64, limit: i64) -> $crate::DbResult<u64> {
                // Delivery ids begin with their event's time, so a time is an id bound.
                let floor = easel_core::ids::IdKind::WebhookDelivery.floor(u64::try_from(before).unwrap_or(0));
                let ids: Vec<(String,)> = sqlx::query_as(
                    "SELECT id FROM webhook_deliveries WHERE id < $1 AND state <> 'pending' ORDER BY id LIMIT $2",
                )
                .bind(&floor)
                .bind(limit)
                .fetch_all(self.read())
                .await?;
                if ids.is_empty() {
                    return Ok(0);
                }
                let list = $crate::sql::placeholders(1, ids.len());
                let mut tx = self.begin_write().await?;
                let attempts = format!("DELETE FROM webhook_attempts WHERE delivery_id IN ({list})");
                let mut query = sqlx::query(&attempts);
                for (id,) in &ids {
                    query = query.bind(id);
                }
                query.execute(&mut *tx).await?;
                // A delivery replayed meanwhile (pending again) stays, without its old log.
                let deliveries = format!("DELETE FROM webhook_deliveries WHERE id IN ({list}) AND state <> 'pending'");
                let mut query = sqlx::query(&deliveries);
                for (id,) in &ids {
                    query = query.bind(id);
                }
                let deleted = query.execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                Ok(deleted)
            }

            async fn send_test_webhook(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                endpoint_id: &str,
                event_id: &str,
                data: serde_json::Value,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::WebhookDelivery> {
                const TEST: &str = "webhook_endpoint.test";
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                Self::load_endpoint(&mut tx, account_id, mode, endpoint_id).await?;
                sqlx::query($crate::sql::INSERT_EVENT)
                    .bind(event_id)
                    .bind(account_id)
                    .bind(mode.as_str())
                    .bind(TEST)
                    .bind(data.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let delivery_id = easel_core::ids::IdKind::WebhookDelivery.generate();
                sqlx::query(
                    "INSERT INTO webhook_deliveries (id, endpoint_id, account_id, mode, event_id, event_type, \
                     state, attempts, manual, next_attempt_at, locked_until, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, TRUE, $7, 0, $7, $7)",
                )
                .bind(&delivery_id)
                .bind(endpoint_id)
                .bind(account_id)
                .bind(mode.as_str())
                .bind(event_id)
                .bind(TEST)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                // Asked for now: a circuit-breaker hold on the endpoint ends, as for a replay.
                sqlx::query("UPDATE webhook_endpoints SET held_until = NULL WHERE id = $1 AND held_until IS NOT NULL")
                    .bind(endpoint_id)
                    .execute(&mut *tx)
                    .await?;
                let entry = audit.with("event_id", event_id).entry(
                    Some(account_id),
                    easel_core::audit::action::WEBHOOK_ENDPOINT_TESTED,
                    ("webhook_endpoint", endpoint_id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                let delivery = Self::load_delivery(&mut tx, account_id, mode, &delivery_id).await?;
                tx.commit().await?;
                Ok(delivery)
            }

            async fn replay_webhook_delivery(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                id: &str,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::WebhookDelivery> {
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                let delivery = Self::load_delivery(&mut tx, account_id, mode, id).await?;
                // Pending: the next attempt moves to now (one in flight is left alone).
                // Ended: pending again for one manual attempt.
                sqlx::query(
                    "UPDATE webhook_deliveries SET next_attempt_at = $2, updated_at = $2, \
                     manual = CASE WHEN state = 'pending' THEN manual ELSE TRUE END, state = 'pending' \
                     WHERE id = $1 AND locked_until <= $2",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                // Asking for a delivery now says the endpoint is worth trying now: a
                // circuit-breaker hold on it ends (its next failure holds it again).
                sqlx::query("UPDATE webhook_endpoints SET held_until = NULL WHERE id = $1 AND held_until IS NOT NULL")
                    .bind(&delivery.endpoint_id)
                    .execute(&mut *tx)
                    .await?;
                let entry = audit
                    .with("endpoint_id", delivery.endpoint_id.as_str())
                    .with("event_id", delivery.event_id.as_str())
                    .entry(
                        Some(account_id),
                        easel_core::audit::action::WEBHOOK_DELIVERY_REPLAYED,
                        ("webhook_delivery", id),
                    );
                Self::insert_audit(&mut tx, &entry).await?;
                let delivery = Self::load_delivery(&mut tx, account_id, mode, id).await?;
                tx.commit().await?;
                Ok(delivery)
            }
        }
    };
}
