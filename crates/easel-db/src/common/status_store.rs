//! `StatusStore`: the probe lease, probed time, components' last probes and incidents.

use std::collections::BTreeMap;

const INCIDENT_COLUMNS: &str = "id, name, status, impact, components, created_at, updated_at, \
                                monitoring_at, resolved_at";
const UPDATE_COLUMNS: &str = "id, incident_id, status, body, components, created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct IncidentRow {
    id: String,
    name: String,
    status: String,
    impact: String,
    components: String,
    created_at: i64,
    updated_at: i64,
    monitoring_at: Option<i64>,
    resolved_at: Option<i64>,
}

impl IncidentRow {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn into_incident(self, updates: Vec<crate::IncidentUpdate>) -> crate::Incident {
        crate::Incident {
            id: self.id,
            name: self.name,
            status: self.status,
            impact: self.impact,
            // Written by this store as a JSON object of strings.
            components: serde_json::from_str(&self.components).unwrap_or_default(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            monitoring_at: self.monitoring_at,
            resolved_at: self.resolved_at,
            updates,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UpdateRow {
    id: String,
    incident_id: String,
    status: String,
    body: String,
    components: String,
    created_at: i64,
}

impl From<UpdateRow> for crate::IncidentUpdate {
    fn from(r: UpdateRow) -> Self {
        crate::IncidentUpdate {
            id: r.id,
            incident_id: r.incident_id,
            status: r.status,
            body: r.body,
            components: serde_json::from_str(&r.components).unwrap_or_default(),
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TallyRowDb {
    period: String,
    starts_at: i64,
    component: String,
    ok_ms: i64,
    degraded_ms: i64,
    down_ms: i64,
    maintenance_ms: i64,
}

impl From<TallyRowDb> for crate::TallyRow {
    fn from(r: TallyRowDb) -> Self {
        crate::TallyRow {
            period: if r.period == "hour" {
                crate::Period::Hour
            } else {
                crate::Period::Day
            },
            starts_at: r.starts_at,
            component: r.component,
            tally: crate::Tally {
                ok_ms: r.ok_ms,
                degraded_ms: r.degraded_ms,
                down_ms: r.down_ms,
                maintenance_ms: r.maintenance_ms,
            },
        }
    }
}

pub(crate) fn select_incidents(filter: &str) -> String {
    format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE {filter}")
}

pub(crate) fn select_updates(filter: &str) -> String {
    format!("SELECT {UPDATE_COLUMNS} FROM incident_updates WHERE {filter}")
}

/// Groups `updates` (any order) under their incidents, newest first.
pub(crate) fn attach(rows: Vec<IncidentRow>, updates: Vec<UpdateRow>) -> Vec<crate::Incident> {
    let mut by_incident: BTreeMap<String, Vec<crate::IncidentUpdate>> = BTreeMap::new();
    for u in updates {
        let u: crate::IncidentUpdate = u.into();
        by_incident
            .entry(u.incident_id.clone())
            .or_default()
            .push(u);
    }
    rows.into_iter()
        .map(|row| {
            let mut updates = by_incident.remove(&row.id).unwrap_or_default();
            updates.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
            row.into_incident(updates)
        })
        .collect()
}

/// The incident's components after `change`: `operational` takes a component off it, and
/// resolving clears them all. Returns the new map and the changes made.
pub(crate) fn apply_components(
    current: &BTreeMap<String, String>,
    change: &crate::IncidentChange,
) -> (BTreeMap<String, String>, Vec<crate::ComponentChange>) {
    let mut next = current.clone();
    let mut changes = Vec::new();
    let mut set = |code: &str, new_status: &str, next: &mut BTreeMap<String, String>| {
        let old_status = next
            .get(code)
            .cloned()
            .unwrap_or_else(|| "operational".to_owned());
        if old_status != new_status {
            changes.push(crate::ComponentChange {
                code: code.to_owned(),
                old_status,
                new_status: new_status.to_owned(),
            });
        }
        if new_status == "operational" {
            next.remove(code);
        } else {
            next.insert(code.to_owned(), new_status.to_owned());
        }
    };
    for (code, status) in &change.components {
        set(code, status, &mut next);
    }
    if change.status == "resolved" {
        for code in current.keys() {
            if !change.components.contains_key(code) {
                set(code, "operational", &mut next);
            }
        }
    }
    (next, changes)
}

macro_rules! impl_status_store {
    ($Store:ty, $Db:ty) => {
        impl $Store {
            async fn insert_incident_update(
                tx: &mut sqlx::Transaction<'static, $Db>,
                update: &$crate::IncidentUpdate,
            ) -> $crate::DbResult<()> {
                sqlx::query(
                    "INSERT INTO incident_updates (id, incident_id, status, body, components, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&update.id)
                .bind(&update.incident_id)
                .bind(&update.status)
                .bind(&update.body)
                .bind(serde_json::to_string(&update.components).unwrap_or_else(|_| "[]".into()))
                .bind(update.created_at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn load_incidents<'e, E>(
                executor: E,
                rows: Vec<$crate::common::status_store::IncidentRow>,
                ids: Vec<String>,
            ) -> $crate::DbResult<Vec<$crate::Incident>>
            where
                E: sqlx::Executor<'e, Database = $Db>,
            {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                // One statement for every incident's updates; the id list is bound as JSON.
                let sql = $crate::common::status_store::select_updates(&format!(
                    "incident_id {}",
                    <$Store>::IN_JSON_ARRAY
                ));
                let updates =
                    sqlx::query_as::<_, $crate::common::status_store::UpdateRow>(&sql)
                        .bind(serde_json::Value::from(ids).to_string())
                        .fetch_all(executor)
                        .await?;
                Ok($crate::common::status_store::attach(rows, updates))
            }
        }

        #[async_trait::async_trait]
        impl $crate::StatusStore for $Store {
            async fn take_lease(
                &self,
                name: &str,
                holder: &str,
                now: i64,
                until: i64,
            ) -> $crate::DbResult<bool> {
                let mut tx = self.begin_write().await?;
                // The conflict branch only fires for the holder or over a lapsed lease, so
                // two nodes racing for a lapsed one cannot both win.
                let taken = sqlx::query(
                    "INSERT INTO status_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                     expires_at = excluded.expires_at \
                     WHERE status_leases.holder = excluded.holder OR status_leases.expires_at < $4",
                )
                .bind(name)
                .bind(holder)
                .bind(until)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(taken == 1)
            }

            async fn release_lease(&self, name: &str, holder: &str) -> $crate::DbResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM status_leases WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn record_probes(
                &self,
                states: &[$crate::ComponentState],
                tallies: &[$crate::TallyRow],
                hours_after: i64,
                days_after: i64,
            ) -> $crate::DbResult<()> {
                let mut tx = self.begin_write().await?;
                for s in states {
                    sqlx::query(
                        "INSERT INTO status_components (component, status, message, latency_ms, \
                         checked_at, changed_at) VALUES ($1, $2, $3, $4, $5, $5) \
                         ON CONFLICT (component) DO UPDATE SET status = excluded.status, \
                         message = excluded.message, latency_ms = excluded.latency_ms, \
                         checked_at = excluded.checked_at, \
                         changed_at = CASE WHEN status_components.status = excluded.status \
                         THEN status_components.changed_at ELSE excluded.changed_at END",
                    )
                    .bind(&s.component)
                    .bind(&s.status)
                    .bind(&s.message)
                    .bind(s.latency_ms)
                    .bind(s.checked_at)
                    .execute(&mut *tx)
                    .await?;
                }
                for row in tallies {
                    let m = row.tally;
                    sqlx::query(
                        "INSERT INTO status_tallies (period, starts_at, component, ok_ms, \
                         degraded_ms, down_ms, maintenance_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (period, starts_at, component) DO UPDATE SET \
                         ok_ms = status_tallies.ok_ms + excluded.ok_ms, \
                         degraded_ms = status_tallies.degraded_ms + excluded.degraded_ms, \
                         down_ms = status_tallies.down_ms + excluded.down_ms, \
                         maintenance_ms = status_tallies.maintenance_ms + excluded.maintenance_ms",
                    )
                    .bind(row.period.as_str())
                    .bind(row.starts_at)
                    .bind(&row.component)
                    .bind(m.ok_ms)
                    .bind(m.degraded_ms)
                    .bind(m.down_ms)
                    .bind(m.maintenance_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "DELETE FROM status_tallies WHERE (period = 'hour' AND starts_at < $1) \
                     OR (period = 'day' AND starts_at < $2)",
                )
                .bind(hours_after)
                .bind(days_after)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn component_states(&self) -> $crate::DbResult<Vec<$crate::ComponentState>> {
                let rows: Vec<(String, String, String, Option<i64>, i64, i64)> = sqlx::query_as(
                    "SELECT component, status, message, latency_ms, checked_at, changed_at \
                     FROM status_components ORDER BY component",
                )
                .fetch_all(self.read())
                .await?;
                Ok(rows
                    .into_iter()
                    .map(
                        |(component, status, message, latency_ms, checked_at, changed_at)| {
                            $crate::ComponentState {
                                component,
                                status,
                                message,
                                latency_ms,
                                checked_at,
                                changed_at,
                            }
                        },
                    )
                    .collect())
            }

            async fn status_tallies(
                &self,
                period: $crate::Period,
                since: i64,
            ) -> $crate::DbResult<Vec<$crate::TallyRow>> {
                let rows = sqlx::query_as::<_, $crate::common::status_store::TallyRowDb>(
                    "SELECT period, starts_at, component, ok_ms, degraded_ms, down_ms, \
                     maintenance_ms FROM status_tallies WHERE period = $1 AND starts_at >= $2 \
                     ORDER BY starts_at, component",
                )
                .bind(period.as_str())
                .bind(since)
                .fetch_all(self.read())
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn oldest_due_delivery(&self) -> $crate::DbResult<Option<i64>> {
                // The partial index `webhook_deliveries_due` answers this without a scan.
                let (due,): (Option<i64>,) = sqlx::query_as(
                    "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending'",
                )
                .fetch_one(self.read())
                .await?;
                Ok(due)
            }

            async fn open_incident(
                &self,
                incident: $crate::Incident,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Incident> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO incidents (id, name, status, impact, components, created_at, \
                     updated_at, monitoring_at, resolved_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
                )
                .bind(&incident.id)
                .bind(&incident.name)
                .bind(&incident.status)
                .bind(&incident.impact)
                .bind(
                    serde_json::to_string(&incident.components)
                        .unwrap_or_else(|_| "{}".into()),
                )
                .bind(incident.created_at)
                .bind(incident.monitoring_at)
                .bind(incident.resolved_at)
                .execute(&mut *tx)
                .await?;
                for update in &incident.updates {
                    Self::insert_incident_update(&mut tx, update).await?;
                }
                let entry = audit
                    .with("name", incident.name.clone())
                    .with("impact", incident.impact.clone())
                    .entry(
                        None,
                        easel_core::audit::action::INCIDENT_OPENED,
                        ("incident", &incident.id),
                    );
                Self::insert_audit(&mut tx, &entry).await?;
                tx.commit().await?;
                Ok(incident)
            }

            async fn update_incident(
                &self,
                id: &str,
                change: $crate::IncidentChange,
                audit: $crate::AuditContext,
            ) -> $crate::DbResult<$crate::Incident> {
                let now = audit.now;
                let mut tx = self.begin_write().await?;
                let sql = $crate::common::status_store::select_incidents(
                    "id = $1 AND resolved_at IS NULL",
                );
                let row = sqlx::query_as::<_, $crate::common::status_store::IncidentRow>(&sql)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or($crate::DbError::NotFound)?;
                let current = row.into_incident(Vec::new());
                let (components, changes) =
                    $crate::common::status_store::apply_components(&current.components, &change);
                let resolved = change.status == "resolved";
                let monitoring_at = current
                    .monitoring_at
                    .or((change.status == "monitoring").then_some(now));
                // Compare-and-set on `updated_at`: an update posted meanwhile by another
                // operator is not overwritten with this one's stale component map.
                let done = sqlx::query(
                    "UPDATE incidents SET status = $2, impact = $3, components = $4, \
                     updated_at = $5, monitoring_at = $6, resolved_at = $7 \
                     WHERE id = $1 AND updated_at = $8 AND resolved_at IS NULL",
                )
                .bind(id)
                .bind(&change.status)
                .bind(change.impact.as_deref().unwrap_or(&current.impact))
                .bind(serde_json::to_string(&components).unwrap_or_else(|_| "{}".into()))
                .bind(now.max(current.updated_at))
                .bind(monitoring_at)
                .bind(resolved.then_some(now))
                .bind(current.updated_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done != 1 {
                    return Err($crate::DbError::Conflict("incident_changed"));
                }
                let update = $crate::IncidentUpdate {
                    id: change.update_id.clone(),
                    incident_id: id.to_owned(),
                    status: change.status.clone(),
                    body: change.body.clone(),
                    components: changes,
                    created_at: now,
                };
                Self::insert_incident_update(&mut tx, &update).await?;
                let action = if resolved {
                    easel_core::audit::action::INCIDENT_RESOLVED
                } else {
                    easel_core::audit::action::INCIDENT_UPDATED
                };
                let entry = audit
                    .with("status", change.status.clone())
                    .entry(None, action, ("incident", id));
                Self::insert_audit(&mut tx, &entry).await?;
                let sql = $crate::common::status_store::select_incidents("id = $1");
                let row = sqlx::query_as::<_, $crate::common::status_store::IncidentRow>(&sql)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                let mut incidents =
                    Self::load_incidents(&mut *tx, vec![row], vec![id.to_owned()]).await?;
                tx.commit().await?;
                incidents.pop().ok_or($crate::DbError::NotFound)
            }

            async fn get_incident(&self, id: &str) -> $crate::DbResult<$crate::Incident> {
                let sql = $crate::common::status_store::select_incidents("id = $1");
                let row = sqlx::query_as::<_, $crate::common::status_store::IncidentRow>(&sql)
                    .bind(id)
                    .fetch_optional(self.read())
                    .await?
                    .ok_or($crate::DbError::NotFound)?;
                let mut incidents =
                    Self::load_incidents(self.read(), vec![row], vec![id.to_owned()]).await?;
                incidents.pop().ok_or($crate::DbError::NotFound)
            }

            async fn list_incidents(
                &self,
                limit: u32,
                unresolved: bool,
            ) -> $crate::DbResult<Vec<$crate::Incident>> {
                let filter = if unresolved {
                    "resolved_at IS NULL ORDER BY created_at DESC, id DESC LIMIT $1"
                } else {
                    "1 = 1 ORDER BY created_at DESC, id DESC LIMIT $1"
                };
                let sql = $crate::common::status_store::select_incidents(filter);
                let rows = sqlx::query_as::<_, $crate::common::status_store::IncidentRow>(&sql)
                    .bind(i64::from(limit))
                    .fetch_all(self.read())
                    .await?;
                let ids = rows.iter().map(|r| r.id().to_owned()).collect();
                Self::load_incidents(self.read(), rows, ids).await
            }
        }
    };
}
