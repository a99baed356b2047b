//! `ModerationStore`: strikes (and the suspension they may trigger), end users, abuse
//! reports and the request log.

macro_rules! impl_moderation_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            /// Inside a write transaction that locked the account: records a strike
            /// (counting it against its end user too) with its audit entry, and suspends
            /// the account when its live-mode strikes within the window reach the
            /// threshold.
            async fn strike_in_tx(
                tx: &mut sqlx::Transaction<'_, $Db>,
                new: &$crate::NewStrike,
                policy: $crate::StrikePolicy,
                audit: &$crate::AuditContext,
            ) -> $crate::DbResult<$crate::StrikeOutcome> {
                let now = audit.now;
                let id = easel_core::ids::IdKind::Strike.generate();
                sqlx::query($crate::sql::INSERT_STRIKE)
                    .bind(&id)
                    .bind(&new.account_id)
                    .bind(new.mode.as_str())
                    .bind(&new.end_user)
                    .bind(new.source.as_str())
                    .bind(&new.category)
                    .bind(&new.detail)
                    .bind(&new.request_id)
                    .bind(&new.abuse_report_id)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                if let Some(user) = &new.end_user {
                    sqlx::query($crate::sql::STRIKE_END_USER)
                        .bind(&new.account_id)
                        .bind(new.mode.as_str())
                        .bind(user)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                }
                let entry = audit
                    .clone()
                    .with("source", new.source.as_str())
                    .with("category", new.category.as_str())
                    .with("detail", new.detail.as_str())
                    .with("mode", new.mode.as_str())
                    .with("end_user", new.end_user.clone())
                    .entry(
                        Some(&new.account_id),
                        easel_core::audit::action::MODERATION_STRIKE,
                        ("strike", &id),
                    );
                Self::insert_audit(tx, &entry).await?;
                let (count,): (i64,) = sqlx::query_as($crate::sql::COUNT_LIVE_STRIKES_SINCE)
                    .bind(&new.account_id)
                    .bind(now.saturating_sub(policy.window_ms))
                    .fetch_one(&mut **tx)
                    .await?;
                let mut suspended = None;
                // Test mode is for trying integrations (moderation included) at no risk:
                // only live strikes suspend.
                if new.mode.is_live()
                    && policy.threshold > 0
                    && count >= i64::from(policy.threshold)
                {
                    let account = Self::load_account(&mut **tx, &new.account_id).await?;
                    if account.state.effective(account.suspended_until, now)
                        == easel_core::account::AccountState::Active
                    {
                        let reason = format!(
                            "{count} strikes within {} hours; suspended pending review",
                            policy.window_ms / 3_600_000
                        );
                        let suspension = $crate::AuditContext::new(
                            easel_core::audit::Actor::system(),
                            audit.request_id.clone(),
                        )
                        .with("strikes", count)
                        .with("reason", reason.as_str())
                        .with("jobs", policy.jobs.as_str());
                        let change = $crate::StateChange::Suspend {
                            reason,
                            until: None,
                            jobs: policy.jobs,
                        };
                        suspended = Some(
                            Self::apply_state_change(tx, &new.account_id, change, &suspension)
                                .await?,
                        );
                    }
                }
                Ok($crate::StrikeOutcome {
                    strike_id: id,
                    strikes_in_window: count,
                    suspended,
                })
            }

            async fn load_end_user(
                conn: &mut <$Db as sqlx::Database>::Connection,
                account_id: &str,
                mode: easel_core::mode::Mode,
                user: &str,
            ) -> $crate::DbResult<$crate::EndUser> {
                let sql = format!(
                    "{} WHERE account_id = $1 AND mode = $2 AND end_user = $3",
                    $crate::sql::END_USER_COLUMNS
                );
                sqlx::query_as::<_, $crate::common::moderation_rows::EndUserRow>(&sql)
                    .bind(account_id)
                    .bind(mode.as_str())
                    .bind(user)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::DbError::NotFound)?
                    .try_into()
            }

            async fn load_report(
                conn: &mut <$Db as sqlx::Database>::Connection,
                id: &str,
            ) -> $crate::DbResult<$crate::AbuseReport> {
                let sql = format!("{} WHERE id = $1", $crate::sql::ABUSE_REPORT_COLUMNS);
                sqlx::query_as::<_, $crate::common::moderation_rows::AbuseReportRow>(&sql)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or($crate::DbError::NotFound)?
                    .try_into()
            }

            /// Writes an `abuse_report.*` event to the reported account, without the
            /// reporter's contact details.
            async fn report_event(
                tx: &mut sqlx::Transaction<'_, $Db>,
                report: &$crate::AbuseReport,
                event_type: &str,
                now: i64,
            ) -> $crate::DbResult<()> {
                let (Some(account_id), Some(mode)) = (&report.account_id, report.mode) else {
                    return Ok(());
                };
                let data = serde_json::json!({
                    "id": report.id,
                    "object": "abuse_report",
                    "status": if report.open { "open" } else { "resolved" },
                    "category": report.category,
                    "description": report.description,
                    "generation_id": report.generation_id,
                    "deadline_at": report.deadline_at.div_euclid(1000),
                    "created_at": report.created_at.div_euclid(1000),
                    "resolution": report.resolution.map($crate::Resolution::as_str),
                    "resolution_note": report.resolution_note,
                });
                Self::insert_event_row(tx, account_id, mode.as_str(), event_type, &data, now).await
            }
        }

        #[async_trait::async_trait]
        impl $crate::ModerationStore for $Store {
            async fn record_strike(
                &self,
                new: $crate::NewStrike,
                policy: $crate::StrikePolicy,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::StrikeOutcome> {
                let mut tx = self.begin_write().await?;
                Self::lock_account(&mut tx, &new.account_id).await?;
                let outcome = Self::strike_in_tx(&mut tx, &new, policy, &audit).await?;
                tx.commit().await?;
                Ok(outcome)
            }

            async fn end_user_blocked(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                user: &str,
            ) -> $crate::DbResult<bool> {
                let row: Option<(Option<i64>,)> = sqlx::query_as($crate::sql::END_USER_BLOCKED)
                    .bind(account_id)
                    .bind(mode.as_str())
                    .bind(user)
                    .fetch_optional(self.read())
                    .await?;
                Ok(row.is_some())
            }

            async fn set_end_user_blocked(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                user: &str,
                block: Option<Option<String>>,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::EndUser> {
                let mut tx = self.begin_write().await?;
                let now = audit.now;
                let action = match &block {
                    Some(reason) => {
                        sqlx::query($crate::sql::BLOCK_END_USER)
                            .bind(account_id)
                            .bind(mode.as_str())
                            .bind(user)
                            .bind(now)
                            .bind(reason)
                            .execute(&mut *tx)
                            .await?;
                        easel_core::audit::action::END_USER_BLOCKED
                    }
                    None => {
                        let changed = sqlx::query($crate::sql::UNBLOCK_END_USER)
                            .bind(account_id)
                            .bind(mode.as_str())
                            .bind(user)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        if changed.rows_affected() == 0 {
                            tx.rollback().await?;
                            return Err($crate::DbError::NotFound);
                        }
                        easel_core::audit::action::END_USER_UNBLOCKED
                    }
                };
                let entry = audit
                    .with("mode", mode.as_str())
                    .with("reason", block.flatten())
                    .entry(Some(account_id), action, ("end_user", user));
                Self::insert_audit(&mut tx, &entry).await?;
                let end_user = Self::load_end_user(&mut tx, account_id, mode, user).await?;
                tx.commit().await?;
                Ok(end_user)
            }

            async fn get_end_user(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                user: &str,
            ) -> $crate::DbResult<$crate::EndUser> {
                let mut conn = self.read().acquire().await?;
                Self::load_end_user(&mut conn, account_id, mode, user).await
            }

            async fn list_end_users(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                filter: $crate::EndUserFilter,
                page: $crate::Page,
            ) -> $crate::DbResult<Vec<$crate::EndUser>> {
                let blocked = match filter.blocked {
                    Some(true) => " AND blocked_at IS NOT NULL",
                    Some(false) => " AND blocked_at IS NULL",
                    None => "",
                };
                // Alphabetical: the cursor is the last user id of the previous page.
                let (after, limit) = match page.starting_after {
                    Some(_) => (" AND end_user > $3", "LIMIT $4"),
                    None => ("", "LIMIT $3"),
                };
                let sql = format!(
                    "{} WHERE account_id = $1 AND mode = $2{blocked}{after} ORDER BY end_user {limit}",
                    $crate::sql::END_USER_COLUMNS
                );
                let mut query =
                    sqlx::query_as::<_, $crate::common::moderation_rows::EndUserRow>(&sql)
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

            async fn create_abuse_report(
                &self,
                new: $crate::NewAbuseReport,
            ) -> $crate::DbResult<$crate::AbuseReport> {
                let mut tx = self.begin_write().await?;
                let owner: Option<(String, String)> = match &new.generation_id {
                    Some(id) => {
                        sqlx::query_as("SELECT account_id, mode FROM generations WHERE id = $1")
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?
                    }
                    None => None,
                };
                let id = easel_core::ids::IdKind::AbuseReport.generate();
                sqlx::query($crate::sql::INSERT_ABUSE_REPORT)
                    .bind(&id)
                    .bind(new.source.as_str())
                    .bind(&new.category)
                    .bind(&new.description)
                    .bind(&new.generation_id)
                    .bind(&new.output_url)
                    .bind(owner.as_ref().map(|o| o.0.as_str()))
                    .bind(owner.as_ref().map(|o| o.1.as_str()))
                    .bind(&new.reporter_email)
                    .bind(&new.reporter_account_id)
                    .bind(new.deadline_at)
                    .bind(new.now)
                    .execute(&mut *tx)
                    .await?;
                let report = Self::load_report(&mut tx, &id).await?;
                let actor = match &new.reporter_key_id {
                    Some(key) => easel_core::audit::Actor::key(key),
                    None => easel_core::audit::Actor::system(),
                };
                let mut audit = $crate::AuditContext::new(actor, None)
                    .with("category", new.category.as_str())
                    .with("source", new.source.as_str())
                    .with("generation_id", new.generation_id.clone());
                audit.now = new.now;
                let entry = audit.entry(
                    report.account_id.as_deref(),
                    easel_core::audit::action::ABUSE_REPORT_RECEIVED,
                    ("abuse_report", &id),
                );
                Self::insert_audit(&mut tx, &entry).await?;
                Self::report_event(&mut tx, &report, "abuse_report.received", new.now).await?;
                tx.commit().await?;
                Ok(report)
            }

            async fn list_abuse_reports(
                &self,
                open_only: bool,
                limit: u32,
            ) -> $crate::DbResult<Vec<$crate::AbuseReport>> {
                let sql = if open_only {
                    format!(
                        "{} WHERE status = 'open' ORDER BY deadline_at, id LIMIT $1",
                        $crate::sql::ABUSE_REPORT_COLUMNS
                    )
                } else {
                    format!(
                        "{} ORDER BY id DESC LIMIT $1",
                        $crate::sql::ABUSE_REPORT_COLUMNS
                    )
                };
                sqlx::query_as::<_, $crate::common::moderation_rows::AbuseReportRow>(&sql)
                    .bind(i64::from(limit))
                    .fetch_all(self.read())
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            async fn list_account_abuse_reports(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                limit: u32,
            ) -> $crate::DbResult<Vec<$crate::AbuseReport>> {
                let sql = format!(
                    "{} WHERE account_id = $1 AND mode = $2 ORDER BY id DESC LIMIT $3",
                    $crate::sql::ABUSE_REPORT_COLUMNS
                );
                sqlx::query_as::<_, $crate::common::moderation_rows::AbuseReportRow>(&sql)
                    .bind(account_id)
                    .bind(mode.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(self.read())
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            async fn list_strikes(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                limit: u32,
            ) -> $crate::DbResult<Vec<$crate::Strike>> {
                let rows: Vec<(String, Option<String>, String, String, Option<String>, Option<String>, i64)> =
                    sqlx::query_as(
                        "SELECT id, end_user, source, category, request_id, abuse_report_id, created_at \
                         FROM strikes WHERE account_id = $1 AND mode = $2 \
                         ORDER BY created_at DESC, id DESC LIMIT $3",
                    )
                    .bind(account_id)
                    .bind(mode.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(self.read())
                    .await?;
                rows.into_iter()
                    .map(|(id, end_user, source, category, request_id, abuse_report_id, created_at)| {
                        let source = match source.as_str() {
                            "moderation" => $crate::StrikeSource::Moderation,
                            "abuse_report" => $crate::StrikeSource::AbuseReport,
                            other => {
                                return Err($crate::DbError::Corrupt(format!("strike source {other}")));
                            }
                        };
                        Ok($crate::Strike {
                            id,
                            end_user,
                            source,
                            category,
                            request_id,
                            abuse_report_id,
                            created_at,
                        })
                    })
                    .collect()
            }

            async fn get_abuse_report(&self, id: &str) -> $crate::DbResult<$crate::AbuseReport> {
                let mut conn = self.read().acquire().await?;
                Self::load_report(&mut conn, id).await
            }

            async fn resolve_abuse_report(
                &self,
                id: &str,
                decision: $crate::ReportDecision,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::ReportResolved> {
                let mut tx = self.begin_write().await?;
                let report = Self::load_report(&mut tx, id).await?;
                if let Some(account_id) = &report.account_id {
                    Self::lock_account(&mut tx, account_id).await?;
                }
                let now = audit.now;
                let changed = sqlx::query($crate::sql::RESOLVE_ABUSE_REPORT)
                    .bind(id)
                    .bind(now)
                    .bind(decision.resolution.as_str())
                    .bind(&decision.note)
                    .bind(&audit.actor.id)
                    .execute(&mut *tx)
                    .await?;
                if changed.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Err(easel_core::DomainError::invalid(
                        "abuse_report",
                        "abuse_report_resolved",
                        "This abuse report is already resolved.",
                    )
                    .into());
                }
                let mut strike = None;
                let mut removed_outputs = Vec::new();
                if let (Some(account_id), Some(mode)) = (&report.account_id, report.mode)
                    && decision.resolution.upheld()
                {
                    let end_user: Option<(Option<String>,)> = match &report.generation_id {
                        Some(g) => {
                            sqlx::query_as("SELECT end_user FROM generations WHERE id = $1")
                                .bind(g)
                                .fetch_optional(&mut *tx)
                                .await?
                        }
                        None => None,
                    };
                    if decision.resolution == $crate::Resolution::OutputRemoved
                        && let Some(g) = &report.generation_id
                    {
                        let paths: Vec<(String,)> = sqlx::query_as(
                            "SELECT path FROM outputs WHERE generation_id = $1 AND deleted_at IS NULL",
                        )
                        .bind(g)
                        .fetch_all(&mut *tx)
                        .await?;
                        sqlx::query($crate::sql::OUTPUTS_DELETED)
                            .bind(g)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        removed_outputs = paths.into_iter().map(|p| p.0).collect();
                    }
                    let new = $crate::NewStrike {
                        account_id: account_id.clone(),
                        mode,
                        end_user: end_user.and_then(|u| u.0),
                        source: $crate::StrikeSource::AbuseReport,
                        category: report.category.clone(),
                        detail: format!("abuse report {id} upheld: {}", decision.resolution.as_str()),
                        request_id: audit.request_id.clone(),
                        abuse_report_id: Some(id.to_string()),
                    };
                    let strike_audit = $crate::AuditContext::new(audit.actor.clone(), audit.request_id.clone());
                    let mut outcome = Self::strike_in_tx(&mut tx, &new, decision.policy, &strike_audit).await?;
                    if decision.resolution == $crate::Resolution::AccountSuspended
                        && outcome.suspended.is_none()
                    {
                        let account = Self::load_account(&mut tx, account_id).await?;
                        if account.state.effective(account.suspended_until, now)
                            == easel_core::account::AccountState::Active
                        {
                            let reason = format!("abuse report {id} upheld; suspended pending review");
                            let suspension = $crate::AuditContext::new(audit.actor.clone(), audit.request_id.clone())
                                .with("abuse_report", id)
                                .with("jobs", decision.policy.jobs.as_str());
                            let change = $crate::StateChange::Suspend {
                                reason,
                                until: None,
                                jobs: decision.policy.jobs,
                            };
                            outcome.suspended = Some(
                                Self::apply_state_change(&mut tx, account_id, change, &suspension).await?,
                            );
                        }
                    }
                    strike = Some(outcome);
                }
                let report = Self::load_report(&mut tx, id).await?;
                let entry = audit
                    .with("resolution", decision.resolution.as_str())
                    .with("note", decision.note.clone())
                    .entry(
                        report.account_id.as_deref(),
                        easel_core::audit::action::ABUSE_REPORT_RESOLVED,
                        ("abuse_report", id),
                    );
                Self::insert_audit(&mut tx, &entry).await?;
                Self::report_event(&mut tx, &report, "abuse_report.resolved", now).await?;
                tx.commit().await?;
                Ok($crate::ReportResolved {
                    report,
                    strike,
                    removed_outputs,
                })
            }

            async fn record_deprecated_calls(
                &self,
                calls: &[$crate::DeprecatedCall],
            ) -> $crate::DbResult<()> {
                if calls.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin_write().await?;
                for c in calls {
                    sqlx::query(
                        "INSERT INTO deprecated_calls (account_id, mode, method, route, calls, first_at, last_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (account_id, mode, method, route) DO UPDATE SET \
                         calls = deprecated_calls.calls + excluded.calls, \
                         first_at = CASE WHEN excluded.first_at < deprecated_calls.first_at \
                             THEN excluded.first_at ELSE deprecated_calls.first_at END, \
                         last_at = CASE WHEN excluded.last_at > deprecated_calls.last_at \
                             THEN excluded.last_at ELSE deprecated_calls.last_at END",
                    )
                    .bind(&c.account_id)
                    .bind(c.mode.as_str())
                    .bind(&c.method)
                    .bind(&c.route)
                    .bind(c.calls)
                    .bind(c.first_at)
                    .bind(c.last_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn deprecated_calls(
                &self,
                account_id: &str,
            ) -> $crate::DbResult<Vec<$crate::DeprecatedCall>> {
                let rows: Vec<(String, String, String, String, i64, i64, i64)> = sqlx::query_as(
                    "SELECT account_id, mode, method, route, calls, first_at, last_at \
                     FROM deprecated_calls WHERE account_id = $1 ORDER BY last_at DESC, route, method, mode",
                )
                .bind(account_id)
                .fetch_all(self.read())
                .await?;
                rows.into_iter()
                    .map(|(account_id, mode, method, route, calls, first_at, last_at)| {
                        Ok($crate::DeprecatedCall {
                            account_id,
                            mode: easel_core::mode::Mode::parse(&mode).ok_or_else(|| {
                                $crate::DbError::Corrupt(format!("unexpected mode `{mode}`"))
                            })?,
                            method,
                            route,
                            calls,
                            first_at,
                            last_at,
                        })
                    })
                    .collect()
            }

            async fn insert_request_logs(
                &self,
                entries: &[$crate::RequestLogEntry],
            ) -> $crate::DbResult<()> {
                const COLUMNS: usize = 13;
                // Statements of a few fixed sizes (the dialect's choice), each prepared once
                // and kept in the statement cache.
                let mut tx = self.begin_write().await?;
                let mut rest = entries;
                while !rest.is_empty() {
                    let size = Self::LOG_ROWS_PER_STATEMENT
                        .iter()
                        .copied()
                        .find(|s| *s <= rest.len())
                        .unwrap_or(1);
                    let (chunk, tail) = rest.split_at(size);
                    rest = tail;
                    let rows: Vec<String> = (0..chunk.len())
                        .map(|r| {
                            let cells: Vec<String> =
                                (1..=COLUMNS).map(|c| format!("${}", r * COLUMNS + c)).collect();
                            format!("({})", cells.join(", "))
                        })
                        .collect();
                    let sql = format!(
                        "INSERT INTO request_log (id, request_id, account_id, mode, api_key_id, method, \
                         path, status, end_user, latency_us, error_code, prompt, created_at) VALUES {}",
                        rows.join(", ")
                    );
                    let mut query = sqlx::query(&sql);
                    for e in chunk {
                        query = query
                            .bind(&e.id)
                            .bind(&e.request_id)
                            .bind(&e.account_id)
                            .bind(e.mode.as_str())
                            .bind(&e.api_key_id)
                            .bind(&e.method)
                            .bind(&e.path)
                            .bind(i32::from(e.status))
                            .bind(&e.end_user)
                            .bind(e.latency_us)
                            .bind(&e.error_code)
                            .bind(&e.prompt)
                            .bind(e.created_at);
                    }
                    query.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_request_logs(
                &self,
                account_id: &str,
                mode: easel_core::mode::Mode,
                filter: &$crate::RequestLogFilter,
                page: $crate::Page,
            ) -> $crate::DbResult<Vec<$crate::RequestLogEntry>> {
                let mut sql = format!(
                    "{} WHERE account_id = $1 AND mode = $2",
                    $crate::sql::REQUEST_LOG_COLUMNS
                );
                let mut n = 2;
                let mut next = |column: &str, op: &str| {
                    n += 1;
                    format!(" AND {column} {op} ${n}")
                };
                let mut texts: Vec<&str> = Vec::new();
                if let Some(key) = &filter.api_key_id {
                    sql.push_str(&next("api_key_id", "="));
                    texts.push(key);
                }
                if let Some(user) = &filter.end_user {
                    sql.push_str(&next("end_user", "="));
                    texts.push(user);
                }
                if let Some(path) = &filter.path {
                    sql.push_str(&next("path", "="));
                    texts.push(path);
                }
                if let Some(method) = &filter.method {
                    sql.push_str(&next("method", "="));
                    texts.push(method);
                }
                let mut numbers: Vec<i64> = Vec::new();
                if let Some(status) = filter.status {
                    sql.push_str(&next("status", "="));
                    numbers.push(i64::from(status));
                }
                if let Some(since) = filter.since {
                    sql.push_str(&next("created_at", ">="));
                    numbers.push(since);
                }
                if let Some(until) = filter.until {
                    sql.push_str(&next("created_at", "<"));
                    numbers.push(until);
                }
                match filter.failed {
                    Some(true) => sql.push_str(" AND status >= 400"),
                    Some(false) => sql.push_str(" AND status < 400"),
                    None => {}
                }
                let (keyset, limit) = page.keyset("id", n + 1);
                sql.push_str(&format!("{keyset} ORDER BY id DESC {limit}"));
                let mut query =
                    sqlx::query_as::<_, $crate::common::moderation_rows::RequestLogRow>(&sql)
                        .bind(account_id)
                        .bind(mode.as_str());
                for text in texts {
                    query = query.bind(text);
                }
                for number in numbers {
                    query = query.bind(number);
                }
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

            async fn purge_request_logs(&self, before: i64, limit: i64) -> $crate::DbResult<u64> {
                let floor = easel_core::ids::IdKind::RequestLog
                    .floor(u64::try_from(before).unwrap_or(0));
                let mut tx = self.begin_write().await?;
                let done = sqlx::query($crate::sql::PURGE_REQUEST_LOG)
                    .bind(floor)
                    .bind(limit)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }
        }
    };
}
