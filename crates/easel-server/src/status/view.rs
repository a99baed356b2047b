//! What the status page shows, from one read of the database (cached per node for
//! `status.cache_seconds`): components' current status, uptime, daily bars, incidents and
//! maintenance — the same data for the HTML page, the Statuspage JSON and the Atom feed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use easel_core::time::now_ms;
use easel_db::{ComponentState, Incident, Maintenance, Period, Tally, TallyRow};

use super::{Component, components, covers};
use crate::app::App;

/// Days of bars and of the longest uptime.
pub const DAYS: i64 = 90;
/// Incidents and maintenances the lists show at most (Statuspage shows 50).
const LIST_LIMIT: u32 = 50;
/// Completed maintenance windows stay listed this long.
const PAST_MAINTENANCE_MS: i64 = 30 * 86_400_000;

/// One read of everything the page shows.
#[derive(Debug)]
pub struct Snapshot {
    read_at: Instant,
    pub now: i64,
    /// The last read failed: this is an older read (or an empty one), and the database and
    /// the API are shown down, as they are for anyone calling the API now.
    pub database_unreachable: bool,
    pub states: Vec<ComponentState>,
    pub days: Vec<TallyRow>,
    pub hours: Vec<TallyRow>,
    pub incidents: Vec<Incident>,
    pub maintenance: Vec<Maintenance>,
}

/// The node's last snapshot.
#[derive(Debug, Default)]
pub struct Cache(std::sync::Mutex<Option<Arc<Snapshot>>>);

/// The page's data: the cached snapshot while it is fresh, else a new read. A status page
/// must answer when the database does not, so a failed read serves the last good one (or
/// nothing but components) with the database and the API shown down.
pub async fn snapshot(app: &App) -> Arc<Snapshot> {
    let ttl = Duration::from_secs(app.config.status.cache_seconds);
    let cached = app
        .status_cache
        .0
        .lock()
        .ok()
        .and_then(|cached| cached.clone());
    if let Some(s) = &cached
        && s.read_at.elapsed() < ttl
    {
        return Arc::clone(s);
    }
    let now = now_ms();
    match read(app, now).await {
        Ok(snapshot) => {
            let snapshot = Arc::new(snapshot);
            if let Ok(mut cached) = app.status_cache.0.lock() {
                *cached = Some(Arc::clone(&snapshot));
            }
            snapshot
        }
        Err(e) => {
            tracing::warn!(error = %e, "status page: cannot read the database; showing the last read");
            let last = cached.as_deref();
            Arc::new(Snapshot {
                read_at: Instant::now(),
                now,
                database_unreachable: true,
                states: last.map(|s| s.states.clone()).unwrap_or_default(),
                days: last.map(|s| s.days.clone()).unwrap_or_default(),
                hours: last.map(|s| s.hours.clone()).unwrap_or_default(),
                incidents: last.map(|s| s.incidents.clone()).unwrap_or_default(),
                maintenance: last.map(|s| s.maintenance.clone()).unwrap_or_default(),
            })
        }
    }
}

/// Reads the page's data at `now`.
pub async fn read(app: &App, now: i64) -> easel_db::DbResult<Snapshot> {
    let store = &app.store;
    let first_day = Period::Day.start(now) - (DAYS - 1) * Period::Day.ms();
    let first_hour = Period::Hour.start(now) - 23 * Period::Hour.ms();
    Ok(Snapshot {
        read_at: Instant::now(),
        now,
        database_unreachable: false,
        states: store.component_states().await?,
        days: store.status_tallies(Period::Day, first_day).await?,
        hours: store.status_tallies(Period::Hour, first_hour).await?,
        incidents: store.list_incidents(LIST_LIMIT, false).await?,
        maintenance: store.list_maintenance(now - PAST_MAINTENANCE_MS).await?,
    })
}

/// How bad a Statuspage component status is.
pub fn severity(status: &str) -> u8 {
    match status {
        "under_maintenance" => 1,
        "degraded_performance" => 2,
        "partial_outage" => 3,
        "major_outage" => 4,
        _ => 0,
    }
}

/// One component as shown now.
#[derive(Debug, Clone)]
pub struct ComponentView {
    pub component: Component,
    pub position: usize,
    /// Statuspage's word, after incidents and maintenance are taken into account.
    pub status: String,
    /// Its last probe, if any ran.
    pub probe: Option<ComponentState>,
    /// Uptime over 24 hours, 7, 30 and 90 days (`None`: nothing probed outside maintenance).
    pub uptime: [(&'static str, Option<f64>); 4],
    /// The last [`DAYS`] days, oldest first.
    pub days: Vec<(i64, Tally)>,
    /// When the component was first probed, within the days kept.
    pub first_seen: Option<i64>,
}

/// Uptime of `tallies`: the share of probed time (maintenance aside) that was not down.
/// Degraded time counts as up, as on Statuspage.
pub fn uptime<'a>(tallies: impl Iterator<Item = &'a Tally>) -> Option<f64> {
    let mut sum = Tally::default();
    for t in tallies {
        sum.add(*t);
    }
    let counted = sum.counted_ms();
    (counted > 0).then(|| 1.0 - sum.down_ms as f64 / counted as f64)
}

/// A percentage for people: two decimals, never rounded up to 100.00% over any downtime.
pub fn percent(value: Option<f64>) -> String {
    match value {
        None => "no data".into(),
        Some(v) => format!("{:.2}%", (v * 10_000.0).floor() / 100.0),
    }
}

impl Snapshot {
    /// Windows in progress at `now`.
    pub fn active_maintenance(&self) -> impl Iterator<Item = &Maintenance> {
        self.maintenance
            .iter()
            .filter(|w| w.starts_at <= self.now && self.now < w.ends_at)
    }

    pub fn unresolved(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.iter().filter(|i| i.resolved_at.is_none())
    }

    /// Every component as shown now.
    pub fn components(&self, config: &crate::config::Config) -> Vec<ComponentView> {
        let today = Period::Day.start(self.now);
        let first_hour = Period::Hour.start(self.now) - 23 * Period::Hour.ms();
        components(config)
            .into_iter()
            .enumerate()
            .map(|(i, component)| {
                let code = component.code.as_str();
                let probe = self.states.iter().find(|s| s.component == code).cloned();
                let incident = self
                    .unresolved()
                    .filter_map(|inc| inc.components.get(code))
                    .max_by_key(|s| severity(s))
                    .cloned();
                let maintained = self.active_maintenance().any(|w| covers(w, code));
                let unreachable =
                    self.database_unreachable && (code == "database" || code == "api");
                let mut status = if unreachable {
                    "major_outage".to_owned()
                } else if maintained {
                    "under_maintenance".to_owned()
                } else {
                    probe
                        .as_ref()
                        .map_or_else(|| "operational".to_owned(), |p| p.status.clone())
                };
                if let Some(s) = incident
                    && severity(&s) > severity(&status)
                {
                    status = s;
                }
                let days: Vec<(i64, Tally)> = (0..DAYS)
                    .map(|back| {
                        let start = today - (DAYS - 1 - back) * Period::Day.ms();
                        let tally = self
                            .days
                            .iter()
                            .find(|r| r.starts_at == start && r.component == code)
                            .map(|r| r.tally)
                            .unwrap_or_default();
                        (start, tally)
                    })
                    .collect();
                let over = |n: i64| {
                    let from = today - (n - 1) * Period::Day.ms();
                    uptime(days.iter().filter(|(d, _)| *d >= from).map(|(_, t)| t))
                };
                let hours = self
                    .hours
                    .iter()
                    .filter(|r| r.component == code && r.starts_at >= first_hour)
                    .map(|r| &r.tally);
                let first_seen = self
                    .days
                    .iter()
                    .filter(|r| r.component == code)
                    .map(|r| r.starts_at)
                    .min();
                ComponentView {
                    position: i + 1,
                    status,
                    probe,
                    uptime: [
                        ("24 hours", uptime(hours)),
                        ("7 days", over(7)),
                        ("30 days", over(30)),
                        ("90 days", over(DAYS)),
                    ],
                    days,
                    first_seen,
                    component,
                }
            })
            .collect()
    }

    /// The page's overall status: Statuspage's indicator and description, from the worst
    /// component and the worst unresolved incident.
    pub fn indicator(&self, components: &[ComponentView]) -> (&'static str, &'static str) {
        let worst = components
            .iter()
            .map(|c| severity(&c.status))
            .max()
            .unwrap_or(0);
        let impact = self
            .unresolved()
            .map(|i| match i.impact.as_str() {
                "critical" => 4,
                "major" => 3,
                "minor" => 2,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        match worst.max(impact) {
            4 => ("critical", "Major Service Outage"),
            3 => ("major", "Partial System Outage"),
            2 => ("minor", "Minor Service Outage"),
            1 => ("maintenance", "Service Under Maintenance"),
            _ => ("none", "All Systems Operational"),
        }
    }
}

/// A maintenance window's Statuspage status at `now`.
pub fn maintenance_status(w: &Maintenance, now: i64) -> &'static str {
    if now < w.starts_at {
        "scheduled"
    } else if now < w.ends_at {
        "in_progress"
    } else {
        "completed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_counts_down_time_against_probed_time_without_maintenance() {
        let t = |ok, degraded, down, maintenance| Tally {
            ok_ms: ok,
            degraded_ms: degraded,
            down_ms: down,
            maintenance_ms: maintenance,
        };
        assert_eq!(uptime([].iter()), None);
        assert_eq!(uptime([t(0, 0, 0, 500)].iter()), None);
        assert_eq!(uptime([t(900, 0, 100, 0)].iter()), Some(0.9));
        // Degraded is up; maintenance is neither.
        assert_eq!(uptime([t(400, 500, 100, 9_000)].iter()), Some(0.9));
        assert_eq!(percent(Some(0.99999)), "99.99%");
        assert_eq!(percent(Some(1.0)), "100.00%");
        assert_eq!(percent(Some(0.5)), "50.00%");
        assert_eq!(percent(None), "no data");
    }
}
