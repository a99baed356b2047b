//! The status page (clause 10): what its components are, how they are probed, and how the
//! results are kept.
//!
//! Every node runs [`run`], but only the holder of the probe lease probes: a row in the
//! database that the holder renews each round and another node takes once it has not been
//! renewed for three rounds (the holder died). Each round adds the round's length to every
//! component's day and hour tallies under its outcome, or under "maintenance" while a window
//! covers the component, so planned work never counts as downtime. When the lease changes
//! hands after a gap longer than a hand-over takes, no node was serving: that time is
//! recorded as the API being down.

pub mod incidents;
pub mod pages;
pub mod view;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use easel_core::time::now_ms;
use easel_db::{ComponentState, Maintenance, Period, Tally, TallyRow};
use easel_engines::breaker::BreakerState;
use easel_engines::sandbox::Sandbox;
use tokio::sync::watch;

use crate::app::{App, AppState};
use crate::config::Config;
use easel_core::mode::Mode;

/// The probe lease's name.
pub const LEASE: &str = "status.probes";
/// How many rounds a lease outlives its last renewal.
const LEASE_ROUNDS: i64 = 3;
/// Hour tallies are kept this long (the 24-hour uptime needs one day).
const KEEP_HOURS_MS: i64 = 2 * 86_400_000;
/// Day tallies are kept this long (the bars and the longest uptime show 90).
const KEEP_DAYS_MS: i64 = 100 * 86_400_000;
/// Rounds kept in memory while the database cannot take them (a day of minutes).
const MAX_PENDING: usize = 1_440;

/// A probe's finding, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    Degraded,
    Down,
}

impl Outcome {
    /// Statuspage's word for it.
    pub const fn status(self) -> &'static str {
        match self {
            Outcome::Ok => "operational",
            Outcome::Degraded => "degraded_performance",
            Outcome::Down => "major_outage",
        }
    }
}

/// A part of the service the page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// `api`, `database`, `queue`, `object_store`, `webhooks` or a model id.
    pub code: String,
    pub name: String,
    pub description: String,
}

/// The page's components, in the order it shows them: the service's own parts, then every
/// enabled model.
pub fn components(config: &Config) -> Vec<Component> {
    let own = [
        ("api", "API", "The HTTP API and the consoles."),
        (
            "database",
            "Database",
            "Where accounts, keys, credits and generations are kept.",
        ),
        (
            "queue",
            "Job queue",
            "Generations waiting for a slot are picked up in time.",
        ),
        (
            "object_store",
            "Output storage",
            "Generated images and videos can be stored and fetched.",
        ),
        (
            "webhooks",
            "Webhooks",
            "Events are delivered to developers' endpoints on time.",
        ),
    ];
    let mut out: Vec<Component> = own
        .iter()
        .map(|(code, name, description)| Component {
            code: (*code).to_owned(),
            name: (*name).to_owned(),
            description: (*description).to_owned(),
        })
        .collect();
    for (id, model) in config.models.iter().filter(|(_, m)| m.enabled) {
        out.push(Component {
            code: id.clone(),
            name: format!("Model {id}"),
            description: model.description.clone(),
        });
    }
    out
}

/// One component's finding in one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub component: String,
    pub outcome: Outcome,
    /// What was found, for the operator: never a secret or a raw error from a backend.
    pub message: String,
    pub latency_ms: Option<i64>,
}

impl Probe {
    fn new(component: &str, outcome: Outcome, message: impl Into<String>) -> Probe {
        Probe {
            component: component.to_owned(),
            outcome,
            message: message.into(),
            latency_ms: None,
        }
    }
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// Probes every component once, at `now`.
pub async fn probe(app: &App, now: i64) -> Vec<Probe> {
    let config = &app.config;
    let status = &config.status;
    let mut out = Vec::new();

    let started = Instant::now();
    let database = match app.store.ping().await {
        Ok(()) => {
            let took = elapsed_ms(started);
            let slow = took > i64::try_from(status.database_degraded_ms).unwrap_or(i64::MAX);
            let mut p = if slow {
                Probe::new(
                    "database",
                    Outcome::Degraded,
                    format!("answered in {took} ms"),
                )
            } else {
                Probe::new("database", Outcome::Ok, "answers")
            };
            p.latency_ms = Some(took);
            p
        }
        Err(e) => {
            tracing::warn!(error = %e, "status probe: database unreachable");
            Probe::new("database", Outcome::Down, "unreachable")
        }
    };
    let database_down = database.outcome == Outcome::Down;
    // Every API call but the health checks needs the database.
    out.push(if database_down {
        Probe::new("api", Outcome::Down, "the database is unreachable")
    } else {
        Probe::new("api", Outcome::Ok, "serving")
    });
    out.push(database);

    let started = Instant::now();
    let mut object_store = match app.outputs.get(crate::health::PROBE_PATH).await {
        Ok(_) | Err(object_store::Error::NotFound { .. }) => {
            Probe::new("object_store", Outcome::Ok, "answers")
        }
        Err(e) => {
            tracing::warn!(error = %e, "status probe: object store unreachable");
            Probe::new("object_store", Outcome::Down, "unreachable")
        }
    };
    object_store.latency_ms = Some(elapsed_ms(started));

    // Each model's backend first: a queue held by an open breaker waits because the model
    // is down, which is the model's outage, not the queue's.
    let mut models: BTreeMap<String, Probe> = BTreeMap::new();
    let workers = if config
        .models
        .values()
        .any(|m| m.enabled && m.engine == crate::workers::ENGINE)
    {
        app.store.list_workers().await.ok()
    } else {
        None
    };
    for (id, model) in config.models.iter().filter(|(_, m)| m.enabled) {
        let probe = if model.engine == crate::workers::ENGINE {
            let fresh_after = now
                - i64::try_from(config.workers.presence_seconds)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1000);
            match &workers {
                None => Probe::new(id, Outcome::Down, "workers cannot be listed"),
                Some(list) => {
                    let online = list
                        .iter()
                        .filter(|w| {
                            w.revoked_at.is_none()
                                && w.quarantined_until.is_none_or(|q| q <= now)
                                && w.last_seen_at.is_some_and(|s| s >= fresh_after)
                                && w.serving.iter().any(|m| m == id)
                        })
                        .count();
                    if online == 0 {
                        Probe::new(id, Outcome::Down, "no worker online")
                    } else {
                        Probe::new(id, Outcome::Ok, format!("{online} worker(s) online"))
                    }
                }
            }
        } else if model.engine == Sandbox::NAME {
            Probe::new(id, Outcome::Ok, "built in")
        } else {
            match app.engines.breaker(id, Mode::Live).map(|b| b.snapshot()) {
                None => Probe::new(id, Outcome::Ok, "up"),
                Some(s) => {
                    let mut p = match s.state {
                        BreakerState::Open => Probe::new(id, Outcome::Down, "backend down"),
                        BreakerState::HalfOpen => {
                            Probe::new(id, Outcome::Degraded, "backend recovering")
                        }
                        BreakerState::Closed if !s.up => {
                            Probe::new(id, Outcome::Degraded, "backend failing")
                        }
                        BreakerState::Closed => Probe::new(id, Outcome::Ok, "backend up"),
                    };
                    p.latency_ms = s
                        .probe_latency
                        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    p
                }
            }
        };
        models.insert(id.clone(), probe);
    }

    let limit_ms = i64::try_from(status.queue_degraded_seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    let queues = crate::engines::queues(config);
    let names: Vec<String> = queues.iter().map(|(q, ..)| q.clone()).collect();
    let queue = match app.store.next_due(&names).await {
        Err(e) => {
            tracing::warn!(error = %e, "status probe: queue unreadable");
            Probe::new("queue", Outcome::Down, "unreadable")
        }
        Ok(due) => {
            let mut late = Vec::new();
            for (queue, due) in due {
                let Some(due) = due else { continue };
                if now - due <= limit_ms {
                    continue;
                }
                let Some((_, _, model, mode)) = queues.iter().find(|(q, ..)| *q == queue) else {
                    continue;
                };
                let held = models
                    .get(model)
                    .is_some_and(|p| p.outcome == Outcome::Down);
                if *mode == Mode::Live
                    && let Some(p) = models.get_mut(model)
                    && p.outcome == Outcome::Ok
                {
                    *p = Probe::new(model, Outcome::Degraded, "jobs wait longer than usual");
                }
                if !held {
                    late.push(model.clone());
                }
            }
            if late.is_empty() {
                Probe::new("queue", Outcome::Ok, "jobs start on time")
            } else {
                late.sort();
                late.dedup();
                Probe::new(
                    "queue",
                    Outcome::Degraded,
                    format!("jobs wait longer than usual ({})", late.join(", ")),
                )
            }
        }
    };
    out.push(queue);
    out.push(object_store);

    let limit_ms = i64::try_from(status.webhooks_degraded_seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    out.push(match app.store.oldest_due_delivery().await {
        Err(e) => {
            tracing::warn!(error = %e, "status probe: deliveries unreadable");
            Probe::new("webhooks", Outcome::Down, "unreadable")
        }
        Ok(Some(due)) if now - due > limit_ms => {
            Probe::new("webhooks", Outcome::Degraded, "deliveries are running late")
        }
        Ok(_) => Probe::new("webhooks", Outcome::Ok, "deliveries on time"),
    });
    out.extend(models.into_values());
    out
}

/// Whether `window` covers `component` (a window naming no component covers them all).
pub fn covers(window: &Maintenance, component: &str) -> bool {
    window.components.is_empty() || window.components.iter().any(|c| c == component)
}

/// Adds `[from, to)` of `component` with `outcome` to day and hour tallies, the parts that
/// fall inside a window of `windows` covering it as maintenance.
pub fn spread(
    tallies: &mut BTreeMap<(Period, i64, String), Tally>,
    component: &str,
    outcome: Outcome,
    from: i64,
    to: i64,
    windows: &[Maintenance],
) {
    let windows: Vec<&Maintenance> = windows
        .iter()
        .filter(|w| covers(w, component) && w.ends_at > from && w.starts_at < to)
        .collect();
    let mut t = from;
    while t < to {
        // The next boundary: an hour (days are whole hours) or a window's edge.
        let mut next = (Period::Hour.start(t) + Period::Hour.ms()).min(to);
        let mut in_window = false;
        for w in &windows {
            if w.starts_at <= t && t < w.ends_at {
                in_window = true;
                next = next.min(w.ends_at);
            } else if w.starts_at > t {
                next = next.min(w.starts_at);
            }
        }
        let span = next - t;
        let add = if in_window {
            Tally {
                maintenance_ms: span,
                ..Tally::default()
            }
        } else {
            match outcome {
                Outcome::Ok => Tally {
                    ok_ms: span,
                    ..Tally::default()
                },
                Outcome::Degraded => Tally {
                    degraded_ms: span,
                    ..Tally::default()
                },
                Outcome::Down => Tally {
                    down_ms: span,
                    ..Tally::default()
                },
            }
        };
        for period in [Period::Hour, Period::Day] {
            tallies
                .entry((period, period.start(t), component.to_owned()))
                .or_default()
                .add(add);
        }
        t = next;
    }
}

/// What one round records: the components' states and the time each was seen in.
#[derive(Debug, Clone, Default)]
pub struct Round {
    pub states: Vec<ComponentState>,
    pub tallies: Vec<TallyRow>,
}

/// Turns probes covering `[from, to)` into a round. `last_seen` is when the API was last
/// probed by anyone: time between it and `from` that a lease hand-over does not explain
/// (`handover_ms`) was served by no node, and is the API's downtime.
pub fn round(
    probes: &[Probe],
    from: i64,
    to: i64,
    last_seen: Option<i64>,
    handover_ms: i64,
    windows: &[Maintenance],
) -> Round {
    let mut tallies = BTreeMap::new();
    for p in probes {
        spread(&mut tallies, &p.component, p.outcome, from, to, windows);
    }
    if let Some(last) = last_seen
        && from - last > handover_ms
    {
        spread(
            &mut tallies,
            "api",
            Outcome::Down,
            last + handover_ms,
            from,
            windows,
        );
    }
    Round {
        states: probes
            .iter()
            .map(|p| ComponentState {
                component: p.component.clone(),
                status: p.outcome.status().to_owned(),
                message: p.message.clone(),
                latency_ms: p.latency_ms,
                checked_at: to,
                changed_at: to,
            })
            .collect(),
        tallies: rows(tallies),
    }
}

/// Tallies keyed by (period, start, component) as the store's rows.
fn rows(tallies: BTreeMap<(Period, i64, String), Tally>) -> Vec<TallyRow> {
    tallies
        .into_iter()
        .map(|((period, starts_at, component), tally)| TallyRow {
            period,
            starts_at,
            component,
            tally,
        })
        .collect()
}

/// Adds rounds to one (their tallies summed per row), keeping the last states.
fn merge(rounds: &[Round]) -> Round {
    let mut tallies: BTreeMap<(Period, i64, String), Tally> = BTreeMap::new();
    for r in rounds {
        for row in &r.tallies {
            tallies
                .entry((row.period, row.starts_at, row.component.clone()))
                .or_default()
                .add(row.tally);
        }
    }
    Round {
        states: rounds.last().map(|r| r.states.clone()).unwrap_or_default(),
        tallies: rows(tallies),
    }
}

/// Writes `round` at `now`, dropping tallies too old to be shown.
pub async fn save(app: &App, round: &Round, now: i64) -> easel_db::DbResult<()> {
    app.store
        .record_probes(
            &round.states,
            &round.tallies,
            Period::Hour.start(now) - KEEP_HOURS_MS,
            Period::Day.start(now) - KEEP_DAYS_MS,
        )
        .await
}

/// The probe loop of one node (see the module's documentation), until `stop`.
pub async fn run(app: AppState, mut stop: watch::Receiver<bool>) {
    let node = format!("node_{}", easel_core::ids::IdKind::Request.generate());
    let interval_ms = i64::try_from(app.config.status.probe_interval_seconds)
        .unwrap_or(60)
        .saturating_mul(1000);
    let lease_ms = interval_ms * LEASE_ROUNDS;
    let period = Duration::from_millis(u64::try_from(interval_ms).unwrap_or(60_000));
    // The first round one interval after start: a node that restarts in a crash loop does
    // not probe (or take the lease) on every start.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Rounds the database has not taken yet (it was away), oldest first.
    let mut pending: Vec<Round> = Vec::new();
    let mut holding = false;
    let mut last_round: Option<i64> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        let now = now_ms();
        match app
            .store
            .take_lease(LEASE, &node, now, now + lease_ms)
            .await
        {
            Ok(true) => {
                if !holding {
                    tracing::info!(node, "status probes: this node runs them now");
                }
                holding = true;
            }
            Ok(false) => {
                holding = false;
                last_round = None;
                pending.clear();
                continue;
            }
            // The database is away: whoever held the lease keeps probing into memory, as
            // nobody else can take it over meanwhile.
            Err(_) if holding => {}
            Err(_) => continue,
        }
        let from = last_round.map_or(now - interval_ms, |last| last.max(now - lease_ms));
        let probes = probe(&app, now).await;
        let windows = app
            .store
            .list_maintenance(from - lease_ms - interval_ms)
            .await
            .unwrap_or_default();
        // A node that just took the lease over looks where the last holder stopped.
        let last_seen = if last_round.is_none() {
            app.store
                .component_states()
                .await
                .ok()
                .and_then(|states| states.into_iter().find(|s| s.component == "api"))
                .map(|s| s.checked_at)
        } else {
            None
        };
        pending.push(round(
            &probes,
            from,
            now,
            last_seen,
            lease_ms + interval_ms,
            &windows,
        ));
        last_round = Some(now);
        let batch = merge(&pending);
        match save(&app, &batch, now).await {
            Ok(()) => pending.clear(),
            Err(e) => {
                tracing::warn!(error = %e, rounds = pending.len(), "status probes: cannot record; kept in memory");
                if pending.len() > MAX_PENDING {
                    pending.remove(0);
                }
            }
        }
    }
    if holding && let Err(e) = app.store.release_lease(LEASE, &node).await {
        tracing::warn!(error = %e, "status probes: lease not released; it lapses by itself");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const D: i64 = 86_400_000;

    fn window(starts_at: i64, ends_at: i64, components: &[&str]) -> Maintenance {
        Maintenance {
            id: "mnt_x".into(),
            starts_at,
            ends_at,
            message: "work".into(),
            components: components.iter().map(|c| (*c).to_owned()).collect(),
            emergency: false,
            created_at: 0,
            canceled_at: None,
        }
    }

    fn row<'a>(r: &'a Round, period: Period, start: i64, component: &str) -> Option<&'a Tally> {
        r.tallies
            .iter()
            .find(|t| t.period == period && t.starts_at == start && t.component == component)
            .map(|t| &t.tally)
    }

    fn probe(component: &str, outcome: Outcome) -> Probe {
        Probe::new(component, outcome, "x")
    }

    #[test]
    fn a_round_is_split_at_hours_and_days_and_maintenance_is_apart() {
        let day = 40 * D;
        // 23:30 to 01:30 across midnight, with the database in maintenance 00:00–00:45.
        let from = day - 30 * 60_000;
        let to = day + 90 * 60_000;
        let windows = [window(day, day + 45 * 60_000, &["database"])];
        let r = round(
            &[
                probe("database", Outcome::Down),
                probe("api", Outcome::Degraded),
            ],
            from,
            to,
            None,
            3 * H,
            &windows,
        );
        let before = row(&r, Period::Day, day - D, "database").copied();
        assert_eq!(before.map(|t| t.down_ms), Some(30 * 60_000));
        let after = row(&r, Period::Day, day, "database")
            .copied()
            .unwrap_or_default();
        assert_eq!(after.maintenance_ms, 45 * 60_000);
        assert_eq!(after.down_ms, 45 * 60_000);
        assert_eq!(
            row(&r, Period::Hour, day, "database").map(|t| (t.maintenance_ms, t.down_ms)),
            Some((45 * 60_000, 15 * 60_000))
        );
        // The window names the database only.
        assert_eq!(
            row(&r, Period::Day, day, "api").map(|t| (t.degraded_ms, t.maintenance_ms)),
            Some((90 * 60_000, 0))
        );
        assert_eq!(r.states.len(), 2);
        assert!(r.states.iter().all(|s| s.checked_at == to));
    }

    #[test]
    fn time_no_node_probed_beyond_a_handover_is_the_apis_downtime() {
        let now = 100 * D + 12 * H;
        let from = now - 60_000;
        let handover = 4 * 60_000;
        // The last probe 10 minutes before this round: 6 minutes nobody explains.
        let r = round(
            &[probe("api", Outcome::Ok)],
            from,
            now,
            Some(from - 10 * 60_000),
            handover,
            &[],
        );
        let api = row(&r, Period::Day, Period::Day.start(now), "api").copied();
        assert_eq!(
            api.map(|t| (t.ok_ms, t.down_ms)),
            Some((60_000, 6 * 60_000))
        );
        // A hand-over within the lease's time is not downtime.
        let r = round(
            &[probe("api", Outcome::Ok)],
            from,
            now,
            Some(from - 3 * 60_000),
            handover,
            &[],
        );
        let api = row(&r, Period::Day, Period::Day.start(now), "api").copied();
        assert_eq!(api.map(|t| t.down_ms), Some(0));
        // Unexplained time inside a window for the whole service is maintenance.
        let windows = [window(from - 20 * 60_000, from, &[])];
        let r = round(
            &[probe("api", Outcome::Ok)],
            from,
            now,
            Some(from - 10 * 60_000),
            handover,
            &windows,
        );
        let api = row(&r, Period::Day, Period::Day.start(now), "api").copied();
        assert_eq!(
            api.map(|t| (t.down_ms, t.maintenance_ms)),
            Some((0, 6 * 60_000))
        );
    }

    #[test]
    fn rounds_kept_while_the_database_is_away_add_up() {
        let now = 10 * D;
        let a = round(
            &[probe("api", Outcome::Ok)],
            now - 120_000,
            now - 60_000,
            None,
            H,
            &[],
        );
        let b = round(
            &[probe("api", Outcome::Down)],
            now - 60_000,
            now,
            None,
            H,
            &[],
        );
        let merged = merge(&[a, b]);
        let api = row(&merged, Period::Hour, Period::Hour.start(now - 1), "api").copied();
        assert_eq!(api.map(|t| (t.ok_ms, t.down_ms)), Some((60_000, 60_000)));
        assert_eq!(merged.states[0].status, "major_outage");
    }
}
