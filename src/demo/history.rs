//! Three weeks of the demo's past, replayed: each alert arrives through the intake code at the
//! time it fired, pages whoever was on call through the demo's log channels, is reminded and
//! escalated minute by minute while nobody answers (the engine's own steps, run at those
//! minutes), and is acknowledged and resolved by a person or by its monitoring as its story
//! says. What the pages, timelines, deliveries and calendar then show is what IncidentRelay
//! would have recorded. Made once: a second run finds the first story's alert and stops.

use serde_json::{Value, json};

use super::World;
use crate::domain::lifecycle::Options;
use crate::domain::time::Ts;
use crate::notify::Senders;
use crate::store::audit::{Actor, Ctx};
use crate::store::intake::{IntakeTarget, RouteCtx};
use crate::store::{self, StoreError, Tx, alerts, escalation, lifecycle, outbox};

/// Which route an alert came through (index into [`World::routes`]).
const ALERTMANAGER: usize = 0;
const CURL: usize = 1;
const GRAFANA: usize = 2;

/// One alert's story. Times are minutes after it fired; people are indexes into
/// [`super::PEOPLE`].
struct Story {
    /// When it fired: days before today, and the UTC time of day ("HH:MM"); or, for today's,
    /// minutes before now (`days_ago` 0).
    days_ago: i64,
    at: &'static str,
    minutes_ago: i64,
    route: usize,
    title: &'static str,
    severity: &'static str,
    labels: &'static [(&'static str, &'static str)],
    /// Acknowledged: after how many minutes, by whom.
    ack: Option<(i64, usize)>,
    /// Resolved: after how many minutes, by whom (`None`: its monitoring saw it end).
    resolve: Option<(i64, Option<usize>)>,
}

const fn story(days_ago: i64, at: &'static str, route: usize, title: &'static str, severity: &'static str) -> Story {
    Story { days_ago, at, minutes_ago: 0, route, title, severity, labels: &[], ack: None, resolve: None }
}

impl Story {
    const fn labels(mut self, labels: &'static [(&'static str, &'static str)]) -> Story {
        self.labels = labels;
        self
    }
    const fn ack(mut self, after: i64, by: usize) -> Story {
        self.ack = Some((after, by));
        self
    }
    const fn resolved_by(mut self, after: i64, by: usize) -> Story {
        self.resolve = Some((after, Some(by)));
        self
    }
    const fn recovered(mut self, after: i64) -> Story {
        self.resolve = Some((after, None));
        self
    }
    const fn minutes_ago(mut self, minutes: i64) -> Story {
        self.minutes_ago = minutes;
        self
    }
}

const ALICE: usize = 0;
const BOB: usize = 1;
const DAVE: usize = 3;

/// The past, oldest first. Alerts never overlap in time, so each is told to its end before the
/// next begins.
const STORIES: &[Story] = &[
    story(20, "03:12", ALERTMANAGER, "Checkout latency above 2 s", "critical")
        .labels(&[("service", "checkout"), ("env", "prod")])
        .ack(4, BOB)
        .recovered(35),
    story(19, "04:20", GRAFANA, "Replication lag above 30 s on db-2", "high")
        .labels(&[("instance", "db-2")])
        .ack(14, BOB)
        .recovered(40),
    story(18, "14:40", ALERTMANAGER, "Disk 90% full on web-2", "warning")
        .labels(&[("instance", "web-2")])
        .ack(20, ALICE)
        .resolved_by(180, ALICE),
    story(16, "09:05", ALERTMANAGER, "5xx rate above 1% on api", "high")
        .labels(&[("service", "api")])
        .ack(2, BOB)
        .recovered(12),
    story(15, "13:00", GRAFANA, "Slow queries on db-1", "warning")
        .labels(&[("instance", "db-1")])
        .ack(10, DAVE)
        .resolved_by(90, DAVE),
    story(13, "22:30", CURL, "Certificate for shop.example.com expires in 7 days", "info")
        .ack(25, ALICE)
        .resolved_by(600, ALICE),
    story(11, "02:47", ALERTMANAGER, "Checkout latency above 2 s", "critical")
        .labels(&[("service", "checkout"), ("env", "prod")])
        .ack(17, BOB)
        .recovered(50),
    story(10, "01:30", GRAFANA, "Backup failed on db-1", "critical")
        .labels(&[("instance", "db-1")])
        .ack(5, DAVE)
        .resolved_by(70, DAVE),
    story(9, "11:20", ALERTMANAGER, "Memory above 90% on web-1", "warning")
        .labels(&[("instance", "web-1")])
        .recovered(8),
    story(7, "19:45", GRAFANA, "Connection pool exhausted on db-2", "high")
        .labels(&[("instance", "db-2")])
        .ack(3, BOB)
        .recovered(20),
    story(6, "16:02", CURL, "Queue depth above 10k on orders", "high")
        .labels(&[("queue", "orders")])
        .ack(6, ALICE)
        .resolved_by(45, ALICE),
    story(4, "05:00", GRAFANA, "Disk 85% full on db-1", "warning").labels(&[("instance", "db-1")]).recovered(30),
    // During the maintenance silence of web-3.
    story(3, "22:10", ALERTMANAGER, "Disk 95% full on web-3", "high").labels(&[("instance", "web-3")]).recovered(40),
    story(2, "10:30", ALERTMANAGER, "Login error rate above 5%", "critical")
        .labels(&[("service", "login")])
        .ack(3, ALICE)
        .recovered(25),
    story(1, "08:15", ALERTMANAGER, "5xx rate above 1% on api", "high").labels(&[("service", "api")]).ack(9, BOB),
    story(0, "", GRAFANA, "Replication lag above 30 s on db-2", "high")
        .labels(&[("instance", "db-2")])
        .minutes_ago(300)
        .ack(4, DAVE),
    story(0, "", ALERTMANAGER, "Checkout latency above 2 s", "critical")
        .labels(&[("service", "checkout"), ("env", "prod")])
        .minutes_ago(12),
];

/// The replay's moving parts: the transaction, and what it needs to deliver.
struct Past<'a> {
    c: &'a Tx<'a>,
    world: &'a World,
    opts: &'a Options,
    senders: &'a Senders,
}

/// Replays [`STORIES`] up to `now`, once, and adds the silences around them.
pub(super) fn replay(c: &Tx<'_>, now: Ts, world: &World, opts: &Options, senders: &Senders) -> store::Result<()> {
    let first = &world.routes[STORIES[0].route];
    if alerts::find_open(c, first.id, &key(0), false)?.is_some()
        || alerts::find_recently_resolved(c, first.id, &key(0), Ts::from_secs(0))?.is_some()
    {
        return Ok(());
    }
    let midnight = now.secs() - now.secs().rem_euclid(86_400);
    let day = |days_ago: i64, at: &str| {
        let (h, m) = at
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<i64>().ok()?, m.parse::<i64>().ok()?)))
            .unwrap_or((0, 0));
        Ts::from_secs(midnight - days_ago * 86_400 + h * 3600 + m * 60)
    };
    // Maintenance of web-3 three nights ago; a database upgrade window now; one tomorrow night.
    let (web, data) = (&world.web, &world.data);
    let at = |t: Ts| Ctx::new(Actor::system("demo-data"), t);
    let maintenance = day(3, "22:00");
    super::silence(
        c,
        &at(maintenance),
        web,
        "Maintenance of web-3",
        json!({"labels": {"instance": "web-3"}}),
        maintenance,
        maintenance.plus_secs(7200),
    )?;
    super::silence(
        c,
        &at(now),
        data,
        "db-1 upgrade window",
        json!({"labels": {"instance": "db-1"}}),
        now.plus_secs(-1800),
        now.plus_secs(5400),
    )?;
    let tomorrow = day(-1, "22:00");
    super::silence(
        c,
        &at(now),
        web,
        "Load balancer firmware update",
        json!({"labels": {"instance": "lb-1"}}),
        tomorrow,
        tomorrow.plus_secs(3600),
    )?;

    let past = Past { c, world, opts, senders };
    for (i, s) in STORIES.iter().enumerate() {
        let fired = if s.days_ago == 0 { now.plus_secs(-60 * s.minutes_ago) } else { day(s.days_ago, s.at) };
        past.tell(i, s, fired, now)?;
    }
    Ok(())
}

/// A story's dedup key.
fn key(i: usize) -> String {
    format!("demo-history-{i:02}")
}

impl Past<'_> {
    /// One alert, from its firing to its end (or to now), minute by minute.
    fn tell(&self, i: usize, s: &Story, fired: Ts, now: Ts) -> store::Result<()> {
        let route = &self.world.routes[s.route];
        let labels: serde_json::Map<String, Value> = s.labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        let firing = json!({"title": s.title, "severity": s.severity, "fingerprint": key(i), "labels": labels});
        let id = self
            .ingest(route, &firing, fired)?
            .ok_or_else(|| StoreError::Db(format!("demo alert {i} was not stored")))?;
        let end = s.resolve.map(|(m, _)| m).or(s.ack.map(|(m, _)| m)).unwrap_or(i64::MAX);
        let mut minute = 0;
        loop {
            let t = fired.plus_secs(60 * minute);
            if t > now || minute > end {
                break;
            }
            if minute > 0 {
                self.timers(id, t)?;
            }
            if s.ack.is_some_and(|(m, _)| m == minute) {
                let (uid, name) = &self.world.people[s.ack.map(|(_, by)| by).unwrap_or(0)];
                lifecycle::acknowledge(self.c, t, id, &Actor::user(*uid, name))?;
            }
            if let Some((_, by)) = s.resolve.filter(|(m, _)| *m == minute) {
                match by {
                    Some(by) => {
                        let (uid, name) = &self.world.people[by];
                        lifecycle::resolve(self.c, t, id, &Actor::user(*uid, name))?;
                    }
                    None => {
                        let resolved = json!({"title": s.title, "status": "resolved", "fingerprint": key(i)});
                        self.ingest(route, &resolved, t)?;
                    }
                }
            }
            self.deliver(t.plus_secs(2))?;
            minute += 1;
        }
        Ok(())
    }

    /// An alert through the route's intake code (a curl-shaped body, whatever the route's
    /// source: the parsed alert is the same); the alert's id.
    fn ingest(&self, route: &store::routes::Route, body: &Value, t: Ts) -> store::Result<Option<i64>> {
        let parsed =
            crate::http::intake::webhook::parse_body(body.to_string().as_bytes()).map_err(StoreError::Invalid)?;
        let target = IntakeTarget::Route(std::sync::Arc::new(RouteCtx::load(self.c, route.clone())?));
        let results = store::intake::ingest_all(self.c, t, &target, &parsed, self.opts)?;
        Ok(results.first().and_then(|r| r.id))
    }

    /// The engine's reminder and escalation steps that fall due at `t`, for this alert only.
    fn timers(&self, id: i64, t: Ts) -> store::Result<()> {
        for (due, policy) in escalation::due(self.c, t, 1000)?.into_iter().filter(|(due, _)| *due == id) {
            if policy {
                escalation::escalate_one(self.c, t, due)?;
            } else {
                escalation::remind_one(self.c, t, due)?;
            }
        }
        Ok(())
    }

    /// Sends what is due on the demo's log channels, as the engine's dispatcher would.
    fn deliver(&self, t: Ts) -> store::Result<()> {
        for ch in &self.world.channels {
            while let Some(claimed) = outbox::claim_next(self.c, t, 60, ch.id)? {
                let Some(p) = outbox::prepare(self.c, &claimed)? else { continue };
                let msg = crate::engine::message::message(self.senders, &p, t);
                let env = self.senders.env(ch.id);
                match p.channel_kind.send(&p.config, &env, &msg, None) {
                    Ok(sent) => outbox::record_sent(self.c, t, &p.delivery, &sent)?,
                    Err(e) => outbox::mark_dead(self.c, t, p.delivery.attempt(), e.message())?,
                };
            }
        }
        Ok(())
    }
}
