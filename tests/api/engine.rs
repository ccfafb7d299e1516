//! The on-call engine driven by the manual clock: reminders, simple escalation, escalation
//! policies with repeats, acknowledgement mid-escalation, recovery to every notified target,
//! overrides and handoffs during an alert, and state surviving a restart.

use serde_json::{Value, json};

use crate::fake::Fake;
use crate::support::{TestApp, World};

struct Team {
    w: World,
    rotation: i64,
    token: String,
    channel: i64,
}

/// A rotation (eddie, then rick, in 24-hour shifts from 08:10 UTC, so eddie is on call at T0)
/// with a 5-minute reminder interval, a webhook channel to `fake`, and an Alertmanager route;
/// `escalate_after` turns on simple escalation after that many reminders.
fn team(app: &TestApp, fake: &Fake, escalate_after: Option<i64>) -> Team {
    let w = World::new(app);
    if let Some(n) = escalate_after {
        app.put(
            &format!("/api/teams/{}", w.team),
            &w.editor.1,
            json!({"escalation_enabled": true, "escalation_after_reminders": n}),
        )
        .expect(200);
    }
    let rotation = app
        .post(
            "/api/rotations",
            &w.editor.1,
            json!({"team_id": w.team, "name": "Primary", "rotation_type": "custom", "interval_value": 24, "interval_unit": "hours",
                   "timezone": "UTC", "handoff_time": "08:10", "start_at": "2026-11-23T08:10:00Z", "reminder_interval_seconds": 300}),
        )
        .id();
    for u in [w.editor.0, w.responder.0] {
        app.post(&format!("/api/rotations/{rotation}/members"), &w.editor.1, json!({"user_id": u})).expect(201);
    }
    let channel = app
        .post(
            "/api/channels",
            &w.editor.1,
            json!({"team_id": w.team, "name": "hook", "channel_type": "webhook", "config": {"webhook_url": format!("{}/hook", fake.url)}}),
        )
        .id();
    let route = app
        .post(
            "/api/routes",
            &w.editor.1,
            json!({"team_id": w.team, "name": "am", "source": "alertmanager", "rotation_id": rotation, "channel_ids": [channel]}),
        )
        .expect(201);
    Team { w, rotation, token: route["intake_token"].as_str().unwrap().to_string(), channel }
}

fn fire(app: &TestApp, token: &str, fp: &str) -> i64 {
    let body = json!({"alerts": [{"status": "firing", "labels": {"alertname": "Down", "instance": fp, "severity": "critical"},
                                  "annotations": {"summary": format!("{fp} is down")}, "fingerprint": fp}]});
    app.post_raw("/api/integrations/alertmanager", Some(token), &body.to_string()).expect(200)[0]["id"]
        .as_i64()
        .unwrap()
}

/// `(event, assignee)` of every request the fake received, in order.
fn pages(fake: &Fake) -> Vec<(String, String)> {
    fake.requests()
        .iter()
        .map(|r| {
            let p = r.json();
            (
                p["event"].as_str().unwrap_or("").to_string(),
                p["assignee"]["username"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

fn p(event: &str, who: &str) -> (String, String) {
    (event.to_string(), who.to_string())
}

fn events(app: &TestApp, t: &Team, id: i64) -> Vec<String> {
    app.get(&format!("/api/alerts/{id}/events"), &t.w.admin)
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_string())
        .collect()
}

/// Advances the clock by `secs` and runs a cycle with its deliveries.
fn step(app: &TestApp, secs: i64) {
    app.advance(secs);
    app.deliver();
}

#[test]
fn reminders_repeat_every_interval_until_acknowledged() {
    let app = TestApp::start();
    let fake = Fake::start();
    let t = team(&app, &fake, None);
    let id = fire(&app, &t.token, "web-1");
    app.deliver();
    assert_eq!(pages(&fake), [p("triggered", "eddie")]);
    step(&app, 299);
    assert_eq!(fake.count(), 1, "not before the interval");
    step(&app, 1);
    assert_eq!(pages(&fake), [p("triggered", "eddie"), p("reminder", "eddie")]);
    let a = app.get(&format!("/api/alerts/{id}"), &t.w.admin).expect(200);
    assert_eq!(a["reminder_count"], 1);
    app.post(&format!("/api/alerts/{id}/ack"), &t.w.responder.1, json!({})).expect(200);
    app.deliver();
    for _ in 0..3 {
        step(&app, 300);
    }
    assert_eq!(
        pages(&fake),
        [p("triggered", "eddie"), p("reminder", "eddie"), p("acknowledged", "eddie")],
        "the ack stops reminders"
    );
    assert!(events(&app, &t, id).contains(&"reminder".to_string()));
}

#[test]
fn simple_escalation_moves_to_the_next_member_and_wraps_around() {
    let app = TestApp::start();
    let fake = Fake::start();
    let t = team(&app, &fake, Some(1));
    let id = fire(&app, &t.token, "db-1");
    app.deliver();
    for _ in 0..4 {
        step(&app, 300);
    }
    assert_eq!(
        pages(&fake),
        [
            p("triggered", "eddie"),
            p("reminder", "eddie"),
            p("escalated", "rick"),
            p("reminder", "rick"),
            p("escalated", "eddie")
        ],
        "one reminder, then the next member; after the last member it wraps around"
    );
    let a = app.get(&format!("/api/alerts/{id}"), &t.w.admin).expect(200);
    assert_eq!((a["assignee"]["username"].as_str(), a["reminder_count"].as_i64()), (Some("eddie"), Some(0)));
    let ev = events(&app, &t, id);
    assert_eq!(ev.iter().filter(|e| *e == "escalated").count(), 2);
}

#[test]
fn policy_steps_fire_in_order_repeat_and_stop() {
    let app = TestApp::start();
    let fake = Fake::start();
    let t = team(&app, &fake, None);
    let other = Fake::start();
    let lead = app
        .post(
            "/api/channels",
            &t.w.editor.1,
            json!({"team_id": t.w.team, "name": "leads", "channel_type": "webhook", "config": {"webhook_url": format!("{}/leads", other.url)}}),
        )
        .id();
    let policy = app
        .post(
            "/api/escalation-policies",
            &t.w.editor.1,
            json!({"team_id": t.w.team, "name": "p", "repeat_count": 1, "rules": [
                {"delay_seconds": 600, "target_type": "rotation", "target_id": t.rotation},
                {"delay_seconds": 120, "target_type": "user", "target_id": t.w.responder.0},
                {"delay_seconds": 300, "target_type": "channel", "target_id": lead}
            ]}),
        )
        .id();
    let route = app.get("/api/routes", &t.w.editor.1).expect(200)[0]["id"].as_i64().unwrap();
    app.put(&format!("/api/routes/{route}"), &t.w.editor.1, json!({"escalation_policy_id": policy})).expect(200);
    // The rotation's reminders do not apply under a policy.
    let id = fire(&app, &t.token, "api-1");
    app.deliver();
    assert_eq!(pages(&fake), [p("triggered", "eddie")], "rule 0 at intake: the rotation's on-call");
    step(&app, 119);
    assert_eq!(fake.count(), 1);
    step(&app, 1);
    assert_eq!(pages(&fake)[1], p("escalated", "rick"), "rule 1 after 120 s: a user");
    step(&app, 300);
    assert_eq!(other.count(), 1, "rule 2 after 300 s more: a channel");
    assert_eq!(other.requests()[0].json()["event"], "escalated");
    // Repeat: rule 0's delay (600 s), then the rules again.
    step(&app, 599);
    assert_eq!(fake.count(), 2);
    step(&app, 1);
    assert_eq!(pages(&fake)[2], p("escalated", "eddie"), "repeat: rule 0 pages the on-call again");
    step(&app, 120);
    step(&app, 300);
    assert_eq!((fake.count(), other.count()), (4, 2));
    let ev = events(&app, &t, id);
    let stopped = ev.iter().position(|e| e == "escalation_stopped").expect("escalation_stopped");
    assert!(ev.iter().rposition(|e| e == "escalated") < Some(stopped), "{ev:?}");
    for _ in 0..5 {
        step(&app, 3600);
    }
    assert_eq!((fake.count(), other.count()), (4, 2), "stopped after one repeat");
    assert_eq!(ev.iter().filter(|e| *e == "escalated").count(), 5);
}

#[test]
fn an_ack_mid_escalation_stops_it_and_cancels_pages_not_yet_sent() {
    let app = TestApp::start();
    let fake = Fake::start();
    let t = team(&app, &fake, Some(1));
    let id = fire(&app, &t.token, "q-1");
    app.deliver();
    step(&app, 300);
    assert_eq!(fake.count(), 2);
    // The next reminder is due and written to the outbox, but not sent yet, when the ack lands.
    app.advance(300);
    let engine = app.engine.clone();
    let now = app.now();
    app.rt.block_on(async move { incidentrelay::engine::escalate::remind(&engine, now).await }).unwrap();
    app.post(&format!("/api/alerts/{id}/ack"), &t.w.responder.1, json!({})).expect(200);
    app.deliver();
    assert_eq!(
        pages(&fake),
        [p("triggered", "eddie"), p("reminder", "eddie"), p("acknowledged", "eddie")],
        "no page due before the ack goes out after it"
    );
    let d = app.get(&format!("/api/alerts/{id}/deliveries"), &t.w.admin).expect(200);
    let cancelled = d.as_array().unwrap().iter().find(|d| d["event_type"] == "escalated").expect("the escalation page");
    assert_eq!(cancelled["status"], "dead");
    assert!(cancelled["last_error"].as_str().unwrap().contains("acknowledged"));
    for _ in 0..3 {
        step(&app, 300);
    }
    assert_eq!(fake.count(), 3);
    // A new firing event on the acknowledged alert does not page again.
    fire(&app, &t.token, "q-1");
    app.deliver();
    assert_eq!(fake.count(), 3);
}

#[test]
fn resolve_sends_a_recovery_to_every_notified_target() {
    let app = TestApp::start();
    let fake = Fake::start();
    let t = team(&app, &fake, Some(1));
    let id = fire(&app, &t.token, "r-1");
    app.deliver();
    step(&app, 300);
    step(&app, 300);
    assert_eq!(pages(&fake), [p("triggered", "eddie"), p("reminder", "eddie"), p("escalated", "rick")]);
    app.post(&format!("/api/alerts/{id}/resolve"), &t.w.responder.1, json!({})).expect(200);
    app.deliver();
    let mut recoveries: Vec<String> = fake
        .requests()
        .iter()
        .skip(3)
        .map(|r| {
            let p = r.json();
            assert_eq!(p["event"], "resolved");
            p["assignee"]["username"].as_str().unwrap().to_string()
        })
        .collect();
    recoveries.sort();
    assert_eq!(recoveries, ["eddie", "rick"], "both people paged hear about the recovery, once each");
    // A reopened alert starts over with a new page.
    fire(&app, &t.token, "r-1");
    app.deliver();
    assert_eq!(pages(&fake).last().unwrap().0, "triggered");
    let _ = t.channel;
}

#[test]
fn overrides_and_handoffs_during_an_alert_change_who_is_reminded() {
    let app = TestApp::start();
    let fake = Fake::start();
    let t = team(&app, &fake, None);
    // 1-hour shifts: eddie's ends at 09:10, 10 minutes after T0.
    app.put(&format!("/api/rotations/{}", t.rotation), &t.w.editor.1, json!({"interval_value": 1})).expect(200);
    let id = fire(&app, &t.token, "h-1");
    app.deliver();
    // An override from now on: vera is not in the rotation but takes over.
    let now = app.now();
    let o = app
        .post(
            &format!("/api/rotations/{}/overrides", t.rotation),
            &t.w.editor.1,
            json!({"user_id": t.w.viewer.0, "starts_at": now.rfc3339(), "ends_at": now.plus_secs(400).rfc3339()}),
        )
        .id();
    step(&app, 300);
    // At T0+600 s eddie's shift ends: the handoff gives the alert to rick.
    step(&app, 300);
    assert_eq!(pages(&fake), [p("triggered", "eddie"), p("reminder", "vera"), p("reminder", "rick")]);
    let a = app.get(&format!("/api/alerts/{id}"), &t.w.admin).expect(200);
    assert_eq!(a["assignee"]["username"], "rick");
    app.delete(&format!("/api/rotations/overrides/{o}"), &t.w.editor.1).expect(200);
}

#[test]
fn timers_survive_a_restart_between_steps() {
    let app = TestApp::start();
    let fake = Fake::start();
    let t = team(&app, &fake, Some(1));
    let id = fire(&app, &t.token, "s-1");
    app.deliver();
    step(&app, 300);
    assert_eq!(fake.count(), 2);
    let app = app.restart();
    app.advance(300);
    app.deliver();
    assert_eq!(pages(&fake), [p("triggered", "eddie"), p("reminder", "eddie"), p("escalated", "rick")]);
    let a: Value = app.get(&format!("/api/alerts/{id}"), &t.w.admin).expect(200);
    assert_eq!(a["escalation_level"], 1);
}

#[test]
fn a_failing_step_is_logged_by_name_and_the_others_still_run() {
    if crate::support::sqlite_only(
        "the step is broken through a SQLite index hint (step isolation is the same on both)",
    ) {
        return;
    }
    let app = TestApp::start();
    let fake = Fake::start();
    let t = team(&app, &fake, None);
    // Break the timer steps: their query needs an index that is now gone.
    let db = rusqlite::Connection::open(app.dir.path().join("test.db")).unwrap();
    db.execute_batch("DROP INDEX alerts_next_action").unwrap();
    fire(&app, &t.token, "broken-1");
    let report = app.deliver();
    let failed: Vec<&str> = report.steps.iter().filter(|(_, r)| r.is_err()).map(|(n, _)| *n).collect();
    assert_eq!(failed, ["escalate", "remind"]);
    assert_eq!(fake.count(), 1, "dispatch still delivered the page");
    let logged = app.log.lines().iter().filter(|l| l.contains("engine step failed")).cloned().collect::<Vec<_>>();
    assert!(logged.iter().any(|l| l.contains("\"step\":\"escalate\"")), "{logged:?}");
    assert!(logged.iter().any(|l| l.contains("\"step\":\"remind\"")));
}
