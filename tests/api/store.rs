//! The store's contract, through its API alone (no HTTP): what the lifecycle relies on from
//! any backend. `Backend::open` gives a fresh, migrated database (a SQLite file in `tests/api`,
//! a PostgreSQL database in `tests/postgres`); everything else is the public store API, so the
//! same scenarios run against both backends.

use incidentrelay::config::DatabaseConfig;
use incidentrelay::domain::alert::{Action, IncomingAlert, Source};
use incidentrelay::domain::channel::{ChannelKind, ChannelSpec};
use incidentrelay::domain::lifecycle::{Options, Outcome};
use incidentrelay::domain::time::Ts;
use incidentrelay::store::audit::{Actor, Ctx};
use incidentrelay::store::intake::{IntakeTarget, RouteCtx};
use incidentrelay::store::outbox::{self, DeliveryStatus};
use incidentrelay::store::{Db, StoreError, alerts, channels, groups, intake, lifecycle, routes, teams, users};
use serde_json::json;

const T0: i64 = 1_795_338_000;

/// A fresh database of the backend under test.
struct Backend {
    db: Db,
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Backend {
    fn open() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = DatabaseConfig { path: dir.path().join("store.db"), ..DatabaseConfig::default() };
        if crate::support::postgres() {
            cfg.url = Some(crate::pg::database_or_skip());
            cfg.pool_size = 8;
        }
        let db = Db::open(&cfg).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        Backend { db, _dir: dir, rt }
    }
}

fn opts() -> Options {
    Options { reopen_window_secs: 3600, group_window_secs: 300, flap_threshold: 5, flap_window_secs: 600 }
}

/// A new firing alert row with nobody paged and no timer.
fn opened<'a>(dedup_key: &'a str, group_key: Option<&'a str>) -> alerts::Opened<'a> {
    alerts::Opened {
        team_slug: "t",
        dedup_key,
        group_key,
        status: incidentrelay::domain::alert::AlertStatus::Firing,
        silence_id: None,
        assignee: None,
        next_action_at: None,
    }
}

fn at(secs: i64) -> Ts {
    Ts::from_secs(T0 + secs)
}

/// A group, a team, a webhook channel and a route (grouping by `group_by` when given).
fn route(b: &Backend, group_by: &[&str]) -> (RouteCtx, i64) {
    route_in(b, ("g", "t"), group_by)
}

/// [`route`] in a group and team with these slugs.
fn route_in(b: &Backend, (group, team): (&'static str, &'static str), group_by: &[&str]) -> (RouteCtx, i64) {
    let group_by: Vec<String> = group_by.iter().map(|s| s.to_string()).collect();
    b.db.write_blocking(move |c| {
        let ctx = Ctx::new(Actor::system("test"), at(0));
        let g = groups::create(
            c,
            &ctx,
            groups::GroupInput { slug: Some(group.into()), name: Some(group.to_uppercase()), ..Default::default() },
        )?;
        let t = teams::create(
            c,
            &ctx,
            teams::TeamInput {
                group_id: Some(g.id),
                slug: Some(team.into()),
                name: Some(team.to_uppercase()),
                ..Default::default()
            },
        )?;
        let spec = ChannelSpec {
            name: "hook".into(),
            channel_type: ChannelKind::Webhook,
            config: json!({"webhook_url": "https://hooks.example/x"}),
            notify_on_severities: Vec::new(),
            enabled: true,
        };
        let ch = channels::create(c, &ctx, t.id, spec)?;
        let r = routes::create(
            c,
            &ctx,
            routes::RouteInput {
                team_id: Some(t.id),
                name: Some("r".into()),
                source: Some(Source::Webhook),
                channel_ids: Some(vec![ch.id]),
                group_by: Some(group_by),
                ..Default::default()
            },
        )?;
        Ok((RouteCtx::load(c, r)?, ch.id))
    })
    .unwrap()
}

fn event(action: Action, key: &str, labels: &[(&str, &str)]) -> IncomingAlert {
    let mut a = IncomingAlert::new(action, format!("alert {key}"));
    a.dedup_key = Some(key.to_string());
    a.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    a
}

/// Eight writers triggering `key` at once, each as intake does: one that loses the unique open
/// key decides again (`write_retrying`).
fn eight_writers_trigger(
    b: &Backend,
    rc: &RouteCtx,
    now: Ts,
    key: &'static str,
) -> Vec<incidentrelay::domain::lifecycle::IntakeResult> {
    b.rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (db, rc) = (b.db.clone(), rc.clone());
                tokio::spawn(async move {
                    let target = IntakeTarget::Route(std::sync::Arc::new(rc));
                    db.write_retrying(move |c| {
                        intake::ingest_all(c, now, &target, &[event(Action::Trigger, key, &[])], &opts())
                    })
                    .await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap().unwrap().remove(0));
        }
        out
    })
}

fn ingest(b: &Backend, rc: &RouteCtx, now: Ts, a: IncomingAlert) -> incidentrelay::domain::lifecycle::IntakeResult {
    let target = IntakeTarget::Route(std::sync::Arc::new(rc.clone()));
    b.db.write_blocking(move |c| intake::ingest_all(c, now, &target, &[a], &opts())).unwrap().remove(0)
}

#[test]
fn the_store_dedups_repeats_and_reopens_within_the_window() {
    let b = Backend::open();
    let (rc, _) = route(&b, &[]);
    let first = ingest(&b, &rc, at(0), event(Action::Trigger, "k", &[]));
    assert_eq!(first.outcome, Outcome::Created);
    let id = first.id.unwrap();
    let again = ingest(&b, &rc, at(10), event(Action::Trigger, "k", &[]));
    assert_eq!((again.outcome, again.id), (Outcome::Deduplicated, Some(id)));
    let a = b.db.read_blocking(|c| alerts::get(c, id)).unwrap();
    assert_eq!(a.alert_count, 2);
    assert_eq!(ingest(&b, &rc, at(20), event(Action::Resolve, "k", &[])).outcome, Outcome::Resolved);
    let reopened = ingest(&b, &rc, at(30), event(Action::Trigger, "k", &[]));
    assert_eq!((reopened.outcome, reopened.id), (Outcome::Reopened, Some(id)));
    assert_eq!(b.db.read_blocking(|c| alerts::get(c, id)).unwrap().episode, 1, "a reopen starts the next episode");
    ingest(&b, &rc, at(40), event(Action::Resolve, "k", &[]));
    let later = ingest(&b, &rc, at(40 + 3601), event(Action::Trigger, "k", &[]));
    assert_eq!(later.outcome, Outcome::Created, "past the reopen window: a new alert");
    assert_ne!(later.id, Some(id));
    assert_eq!(ingest(&b, &rc, at(5000), event(Action::Resolve, "nope", &[])).outcome, Outcome::Ignored);
}

#[test]
fn the_store_groups_members_within_the_window_and_opens_one_group_at_a_time() {
    let b = Backend::open();
    let (rc, _) = route(&b, &["alertname"]);
    let first = ingest(&b, &rc, at(0), event(Action::Trigger, "a", &[("alertname", "Disk")]));
    let id = first.id.unwrap();
    let member = ingest(&b, &rc, at(60), event(Action::Trigger, "b", &[("alertname", "Disk")]));
    assert_eq!((member.outcome, member.id), (Outcome::Grouped, Some(id)));
    let repeat = ingest(&b, &rc, at(70), event(Action::Trigger, "b", &[("alertname", "Disk")]));
    assert_eq!((repeat.outcome, repeat.id), (Outcome::Deduplicated, Some(id)), "a member's repeat lands on its group");
    let resolved = ingest(&b, &rc, at(80), event(Action::Resolve, "a", &[("alertname", "Disk")]));
    assert_eq!(resolved.status, Some(incidentrelay::domain::alert::AlertStatus::Firing), "b still fires");
    let next = ingest(&b, &rc, at(400), event(Action::Trigger, "c", &[("alertname", "Disk")]));
    assert_eq!(next.outcome, Outcome::Created, "past the group window: a new group");
    let late = ingest(&b, &rc, at(410), event(Action::Trigger, "d", &[("alertname", "Disk")]));
    assert_eq!(late.id, next.id, "new members join the open group, not the closed one");
    assert_eq!(
        ingest(&b, &rc, at(420), event(Action::Resolve, "b", &[("alertname", "Disk")])).outcome,
        Outcome::Resolved
    );
    assert_eq!(b.db.read_blocking(move |c| alerts::get(c, id)).unwrap().status.as_str(), "resolved");
}

/// Runs the engine's search indexing step once, as the engine does.
fn index_search(b: &Backend) {
    b.rt.block_on(async {
        let run = b.db.write_search(|c| alerts::index_search(c, 2000)).await.unwrap();
        b.db.write(move |c| alerts::forget_queued(c, &run.queued)).await.unwrap();
    })
}

/// The ids of the alerts a search finds.
fn search(b: &Backend, q: &str) -> Vec<i64> {
    let filter = alerts::Filter { search: Some(q.into()), page: 1, page_size: 50, ..Default::default() };
    b.db.read_blocking(|c| alerts::list(c, &filter)).unwrap().items.iter().map(|a| a.id).collect()
}

/// PostgreSQL numbers an alert when its transaction inserts it: an alert can commit after a
/// later-numbered one was indexed, and is found all the same. (SQLite has one writer, so its
/// alerts commit one after another; there the two simply arrive in turn.)
#[test]
fn search_finds_an_alert_that_committed_after_a_later_numbered_one_was_indexed() {
    let b = Backend::open();
    let (rc, _) = route(&b, &[]);
    let late = if crate::support::postgres() {
        let (inserted_tx, inserted) = std::sync::mpsc::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (db, target) = (b.db.clone(), IntakeTarget::Route(std::sync::Arc::new(rc.clone())));
        let held = b.rt.spawn(async move {
            db.write(move |c| {
                let r = intake::ingest_all(c, at(1), &target, &[event(Action::Trigger, "late-one", &[])], &opts());
                let _ = inserted_tx.send(());
                // Not committed until the other alert is in and indexed.
                let _ = released.recv();
                r
            })
            .await
        });
        inserted.recv().unwrap();
        let early = ingest(&b, &rc, at(2), event(Action::Trigger, "early-two", &[]));
        index_search(&b);
        assert_eq!(search(&b, "early-two"), vec![early.id.unwrap()]);
        release.send(()).unwrap();
        let late = b.rt.block_on(held).unwrap().unwrap().remove(0).id.unwrap();
        assert!(late < early.id.unwrap(), "numbered first, committed last");
        late
    } else {
        let late = ingest(&b, &rc, at(1), event(Action::Trigger, "late-one", &[])).id.unwrap();
        ingest(&b, &rc, at(2), event(Action::Trigger, "early-two", &[]));
        late
    };
    index_search(&b);
    assert_eq!(search(&b, "late-one"), vec![late]);
}

#[test]
fn a_new_alert_is_returned_exactly_as_it_is_stored() {
    // Intake pages with the row `alerts::insert` returns instead of reading it back: every
    // field must be what a read gives, with and without an assignee, group and timer.
    let b = Backend::open();
    let (rc, _) = route(&b, &["alertname"]);
    let route = rc.route.clone();
    let (made, stored) =
        b.db.write_blocking(move |c| {
            let ctx = Ctx::new(Actor::system("test"), at(0));
            let input = users::UserInput {
                username: Some("carol".into()),
                display_name: Some("Carol C".into()),
                ..Default::default()
            };
            let carol = users::create(c, &ctx, input, "x", false)?;
            let mut a = event(Action::Trigger, "k1", &[("alertname", "Disk"), ("host", "db1")]);
            a.message = "disk 95% full".into();
            a.event_link = Some("https://grafana.example/d/1".into());
            let plain = alerts::insert(c, at(1), &route, &a, opened("k1", None))?;
            let full = alerts::Opened {
                assignee: Some(carol.id),
                next_action_at: Some(at(301)),
                ..opened("k2", Some("alertname=Disk"))
            };
            let grouped =
                alerts::insert(c, at(2), &route, &event(Action::Trigger, "k2", &[("alertname", "Disk")]), full)?;
            let made = vec![plain, grouped];
            let stored = made.iter().map(|m| alerts::get(c, m.id)).collect::<Result<Vec<_>, _>>()?;
            Ok((made, stored))
        })
        .unwrap();
    assert_eq!(made[1].assignee.as_ref().map(|u| u.display_name.as_str()), Some("Carol C"));
    for (made, stored) in made.iter().zip(&stored) {
        assert_eq!(format!("{made:?}"), format!("{stored:?}"));
    }
}

#[test]
fn the_schema_allows_one_open_alert_per_key_and_one_open_group_per_route() {
    let b = Backend::open();
    let (rc, _) = route(&b, &["alertname"]);
    ingest(&b, &rc, at(0), event(Action::Trigger, "k", &[("alertname", "Disk")]));
    let route = rc.route.clone();
    // Inserting around the lifecycle's decision, as a second writer that decided on stale
    // facts would: the database refuses, naming the unique key.
    let dup = b.db.write_blocking(move |c| {
        alerts::insert(c, at(1), &route, &event(Action::Trigger, "k", &[("alertname", "Other")]), opened("k", None))
    });
    assert!(matches!(dup, Err(StoreError::Conflict { .. })), "{dup:?}");
    let rc2 = rc.clone();
    let opened = b.db.write_blocking(move |c| {
        let a = event(Action::Trigger, "z", &[("alertname", "Disk")]);
        alerts::insert(c, at(2), &rc2.route, &a, opened("z", Some("alertname=Disk")))?;
        Ok(alerts::find_group(c, rc2.route.id, "alertname=Disk", at(0))?.map(|a| a.state.dedup_key))
    });
    assert_eq!(opened.unwrap().as_deref(), Some("z"), "opening a group closes the previous one for new members");
}

#[test]
fn two_writers_deciding_on_the_same_key_at_once_make_one_alert() {
    let b = Backend::open();
    let (rc, _) = route(&b, &[]);
    let results = eight_writers_trigger(&b, &rc, at(0), "same");
    let created = results.iter().filter(|r| r.outcome == Outcome::Created).count();
    let ids: std::collections::BTreeSet<_> = results.iter().map(|r| r.id).collect();
    assert_eq!((created, ids.len()), (1, 1), "{results:?}");
    let id = results[0].id.unwrap();
    assert_eq!(b.db.read_blocking(move |c| alerts::get(c, id)).unwrap().alert_count, 8);
}

#[test]
fn writers_reopening_the_same_resolved_alert_at_once_reopen_it_once() {
    // The reopen candidate is read locked (PostgreSQL): the writers after the first see the
    // alert open again and count a repeat instead of starting another episode.
    let b = Backend::open();
    let (rc, _) = route(&b, &[]);
    let id = ingest(&b, &rc, at(0), event(Action::Trigger, "again", &[])).id.unwrap();
    ingest(&b, &rc, at(10), event(Action::Resolve, "again", &[]));
    let results = eight_writers_trigger(&b, &rc, at(20), "again");
    let reopened = results.iter().filter(|r| r.outcome == Outcome::Reopened).count();
    let repeats = results.iter().filter(|r| r.outcome == Outcome::Deduplicated).count();
    assert_eq!((reopened, repeats), (1, 7), "{results:?}");
    assert!(results.iter().all(|r| r.id == Some(id)), "{results:?}");
    assert_eq!(b.db.read_blocking(move |c| alerts::get(c, id)).unwrap().episode, 1, "one new episode");
}

#[test]
fn retention_purges_resolved_alerts_in_batches_and_never_an_open_one() {
    let b = Backend::open();
    let (rc, _) = route(&b, &[]);
    for i in 0..5 {
        let key = format!("old-{i}");
        ingest(&b, &rc, at(i), event(Action::Trigger, &key, &[]));
        ingest(&b, &rc, at(i + 1), event(Action::Resolve, &key, &[]));
    }
    let open = ingest(&b, &rc, at(0), event(Action::Trigger, "open", &[])).id.unwrap();
    let batches: Vec<usize> =
        (0..4).map(|_| b.db.write_blocking(|c| alerts::purge_resolved_before(c, at(100), 2)).unwrap()).collect();
    assert_eq!(batches, [2, 2, 1, 0]);
    assert_eq!(b.db.read_blocking(move |c| alerts::get(c, open)).unwrap().status.as_str(), "firing");
}

/// A chat button names its alert by id: a new alert must never get the id of one that was
/// deleted, the newest included.
#[test]
fn a_deleted_alerts_id_is_never_given_to_a_new_one_even_the_newest() {
    let b = Backend::open();
    let (rc, _) = route(&b, &[]);
    let mut newest = 0;
    for key in ["first", "second"] {
        newest = ingest(&b, &rc, at(0), event(Action::Trigger, key, &[])).id.unwrap();
        ingest(&b, &rc, at(1), event(Action::Resolve, key, &[]));
    }
    index_search(&b);
    // Retention deletes every alert, the newest among them.
    assert_eq!(b.db.write_blocking(|c| alerts::purge_resolved_before(c, at(100), 10)).unwrap(), 2);
    let next = ingest(&b, &rc, at(200), event(Action::Trigger, "third", &[])).id.unwrap();
    assert!(next > newest, "alert #{next} got the id of a deleted alert (newest was #{newest})");
    index_search(&b);
    assert_eq!(search(&b, "third"), vec![next]);
    // Deleting the team deletes its alerts with it: the same holds.
    ingest(&b, &rc, at(201), event(Action::Resolve, "third", &[]));
    let team = rc.route.team_id;
    b.db.write_blocking(move |c| teams::delete(c, &Ctx::new(Actor::system("test"), at(300)), team)).unwrap();
    let (rc, _) = route_in(&b, ("h", "u"), &[]);
    let after = ingest(&b, &rc, at(400), event(Action::Trigger, "fourth", &[])).id.unwrap();
    assert!(after > next, "alert #{after} got the id of an alert deleted with its team (#{next})");
}

#[test]
fn the_outbox_claims_due_rows_once_and_records_their_fate() {
    let b = Backend::open();
    let (rc, channel) = route(&b, &[]);
    let first = ingest(&b, &rc, at(0), event(Action::Trigger, "o", &[]));
    let id = first.id.unwrap();
    let claim = |now: Ts| b.db.write_blocking(move |c| outbox::claim(c, now, 15, 10, &|_| 4)).unwrap();
    let claimed = claim(at(0));
    assert_eq!(claimed.len(), 1);
    let d = claimed[0].delivery.clone();
    assert_eq!((d.alert_id, d.channel_id, d.status, d.attempts), (Some(id), Some(channel), DeliveryStatus::Sending, 1));
    assert!(claim(at(0)).is_empty(), "a row being sent is not claimed again");
    let first_try = d.attempt();
    assert!(b.db.write_blocking(move |c| outbox::mark_retry(c, at(1), first_try, "HTTP 503", at(11))).unwrap());
    assert!(claim(at(5)).is_empty(), "not before its retry time");
    let retried = claim(at(11));
    assert_eq!(
        (retried[0].delivery.attempts, &retried[0].delivery.message_id),
        (2, &d.message_id),
        "same message, next attempt"
    );
    let second_try = retried[0].delivery.attempt();
    assert!(
        !b.db.write_blocking(move |c| outbox::mark_sent(c, at(12), first_try, Some("late"))).unwrap(),
        "a result under a lost claim is not recorded"
    );
    assert!(b.db.write_blocking(move |c| outbox::mark_sent(c, at(12), second_try, Some("ext-1"))).unwrap());
    let rows = b.db.read_blocking(move |c| outbox::for_alert(c, id)).unwrap();
    assert_eq!(rows[0].status, DeliveryStatus::Sent);
    // Acknowledging queues an update for the page that went out, and it waits its turn.
    b.db.write_blocking(move |c| lifecycle::acknowledge(c, at(20), id, &Actor::system("test"))).unwrap();
    let update = claim(at(20));
    assert_eq!(update.len(), 1);
    assert_eq!(
        (update[0].delivery.updates_delivery_id, update[0].edit_message_id.as_deref()),
        (Some(d.id), Some("ext-1"))
    );
    b.db.write_blocking({
        let u = update[0].delivery.attempt();
        move |c| outbox::mark_dead(c, at(21), u, "HTTP 400")
    })
    .unwrap();
    assert!(claim(at(100)).is_empty());
    // Rows a crash left `sending` go back to the queue once their lease expired (or all of
    // them, when no other process can be sending), with the same message id.
    ingest(&b, &rc, at(200), event(Action::Trigger, "p", &[]));
    let lost = claim(at(200));
    assert_eq!(lost.len(), 1);
    assert_eq!(b.db.write_blocking(|c| outbox::requeue_sending(c, at(210), true)).unwrap(), 0, "lease still running");
    assert_eq!(b.db.write_blocking(|c| outbox::requeue_sending(c, at(216), true)).unwrap(), 1, "lease expired");
    let again = claim(at(216));
    assert_eq!(again.len(), 1, "requeued after a crash");
    assert_eq!((again[0].delivery.attempts, &again[0].delivery.message_id), (2, &lost[0].delivery.message_id));
    assert_eq!(b.db.write_blocking(|c| outbox::requeue_sending(c, at(217), false)).unwrap(), 1, "all of them");
}
