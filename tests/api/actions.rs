//! What responders do to an alert beyond acknowledging and resolving it: reassign, escalate
//! now, snooze, unacknowledge and notes, through the API with the manual clock; who may do it.

use serde_json::{Value, json};

use crate::support::{TestApp, World};

/// A team whose rotation has eddie then rick on call (a log channel), a simple-mode route and
/// a route through a policy (the rotation at once, then vera after 10 minutes).
struct Setup {
    w: World,
    simple: String,
    policy: String,
}

fn setup(app: &TestApp) -> Setup {
    let w = World::new(app);
    let e = &w.editor.1;
    let rot = app
        .post("/api/rotations", e, json!({"team_id": w.team, "name": "R", "start_at": "2026-11-01T00:00:00Z", "reminder_interval_seconds": 300}))
        .id();
    for user in [w.editor.0, w.responder.0] {
        app.post(&format!("/api/rotations/{rot}/members"), e, json!({"user_id": user})).expect(201);
    }
    let ch = app
        .post("/api/channels", e, json!({"team_id": w.team, "name": "log", "channel_type": "log", "config": {}}))
        .id();
    let rules = json!([{"delay_seconds": 0, "target_type": "rotation", "target_id": rot}, {"delay_seconds": 600, "target_type": "user", "target_id": w.viewer.0}]);
    let policy = app.post("/api/escalation-policies", e, json!({"team_id": w.team, "name": "P", "rules": rules})).id();
    let route = |name: &str, extra: Value| {
        let mut body =
            json!({"team_id": w.team, "name": name, "source": "webhook", "rotation_id": rot, "channel_ids": [ch]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        app.post("/api/routes", e, body).expect(201)["intake_token"].as_str().unwrap().to_string()
    };
    let simple = route("simple", json!({}));
    let policy = route("policy", json!({"escalation_policy_id": policy}));
    Setup { w, simple, policy }
}

fn fire(app: &TestApp, token: &str, key: &str) -> i64 {
    let body = json!({"title": format!("Disk full {key}"), "severity": "critical", "fingerprint": key});
    app.post_raw("/api/integrations/webhook", Some(token), &body.to_string()).expect(200)[0]["id"].as_i64().unwrap()
}

/// The alert's deliveries as (event, target, status).
fn pages(app: &TestApp, s: &Setup, id: i64) -> Vec<(String, String, String)> {
    let d = app.get(&format!("/api/alerts/{id}/deliveries"), &s.w.admin).expect(200);
    d.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let f = |k: &str| d[k].as_str().unwrap_or("").to_string();
            (f("event_type"), f("target"), f("status"))
        })
        .collect()
}

fn events(app: &TestApp, s: &Setup, id: i64) -> Vec<(String, String)> {
    let e = app.get(&format!("/api/alerts/{id}/events"), &s.w.admin).expect(200);
    e.as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event_type"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn reassigning_pages_the_new_person_and_cancels_the_old_ones_pages() {
    let app = TestApp::start();
    let s = setup(&app);
    let id = fire(&app, &s.simple, "r1");
    let r = &s.w.responder.1;
    let a = app.post(&format!("/api/alerts/{id}/reassign"), r, json!({"user_id": s.w.responder.0})).expect(200);
    assert_eq!(a["assignee"]["username"], "rick");
    let p = pages(&app, &s, id);
    assert_eq!(
        p[0],
        ("triggered".into(), "log \"log\" for eddie".into(), "dead".into()),
        "eddie's unsent page is cancelled"
    );
    assert_eq!(p[1], ("escalated".into(), "log \"log\" for rick".into(), "pending".into()), "rick is paged");
    let e = events(&app, &s, id);
    assert!(
        e.iter().any(|(t, m)| t == "reassigned" && m.starts_with("reassigned from eddie to rick by rick")),
        "{e:?}"
    );
    // An acknowledged alert fires again for its new owner.
    app.post(&format!("/api/alerts/{id}/ack"), r, json!({})).expect(200);
    let a = app.post(&format!("/api/alerts/{id}/reassign"), r, json!({"user_id": s.w.editor.0})).expect(200);
    assert_eq!((a["status"].as_str(), a["assignee"]["username"].as_str()), (Some("firing"), Some("eddie")));
    assert!(a["next_action_at"].is_string(), "its timers start over");
    let r2 = app.post(&format!("/api/alerts/{id}/reassign"), r, json!({"user_id": s.w.outsider.0}));
    assert_eq!((r2.status, r2.fields()), (400, vec!["user_id".to_string()]), "only members of the alert's group");
    app.post(&format!("/api/alerts/{id}/resolve"), r, json!({})).expect(200);
    assert_eq!(app.post(&format!("/api/alerts/{id}/reassign"), r, json!({"user_id": s.w.editor.0})).status, 409);
}

#[test]
fn escalating_now_takes_the_next_step_at_once() {
    let app = TestApp::start();
    let s = setup(&app);
    let r = &s.w.responder.1;
    // Simple mode: the next rotation member.
    let id = fire(&app, &s.simple, "e1");
    let a = app.post(&format!("/api/alerts/{id}/escalate"), r, json!({})).expect(200);
    assert_eq!((a["assignee"]["username"].as_str(), a["escalation_level"].as_i64()), (Some("rick"), Some(1)));
    assert!(
        events(&app, &s, id)
            .iter()
            .any(|(t, m)| t == "escalated" && m.starts_with("escalated by rick: escalated to rick"))
    );
    // A policy: its next step (vera) now, not in 10 minutes.
    let id = fire(&app, &s.policy, "e2");
    app.post(&format!("/api/alerts/{id}/ack"), r, json!({})).expect(200);
    let a = app.post(&format!("/api/alerts/{id}/escalate"), r, json!({})).expect(200);
    assert_eq!(
        (a["status"].as_str(), a["escalation_level"].as_i64()),
        (Some("firing"), Some(1)),
        "an acknowledged alert escalates too"
    );
    assert!(
        pages(&app, &s, id).iter().any(|(k, t, _)| k == "escalated" && t.ends_with("for vera")),
        "{:?}",
        pages(&app, &s, id)
    );
}

#[test]
fn a_snooze_ends_by_paging_again_from_the_current_step() {
    let app = TestApp::start();
    let s = setup(&app);
    let r = &s.w.responder.1;
    let id = fire(&app, &s.simple, "s1");
    app.deliver();
    let a = app.post(&format!("/api/alerts/{id}/snooze"), r, json!({"minutes": 60})).expect(200);
    assert_eq!(a["status"], "acknowledged");
    let until = a["snoozed_until"].as_str().unwrap().to_string();
    assert!(
        events(&app, &s, id)
            .iter()
            .any(|(t, m)| t == "snoozed" && m == &format!("snoozed by rick until {until} (60 minutes)"))
    );
    app.advance(59 * 60);
    app.deliver();
    assert_eq!(app.get(&format!("/api/alerts/{id}"), r).expect(200)["status"], "acknowledged", "still snoozed");
    let before = pages(&app, &s, id).len();
    app.advance(120);
    app.deliver();
    let a = app.get(&format!("/api/alerts/{id}"), r).expect(200);
    assert_eq!((a["status"].as_str(), a["snoozed_until"].as_str()), (Some("firing"), None));
    assert!(events(&app, &s, id).iter().any(|(t, _)| t == "snooze_ended"));
    let p = pages(&app, &s, id);
    assert_eq!(p.len(), before + 1, "paged again: {p:?}");
    assert_eq!(p.last().unwrap(), &("reminder".to_string(), "log \"log\" for eddie".to_string(), "sent".to_string()));
    // Out of range, both, neither.
    for body in [
        json!({"minutes": 0}),
        json!({"minutes": 10081}),
        json!({"minutes": 5, "until": "2026-12-01T00:00:00Z"}),
        json!({}),
    ] {
        assert_eq!(app.post(&format!("/api/alerts/{id}/snooze"), r, body.clone()).status, 400, "{body}");
    }
    // A resolve ends a snooze.
    app.post(&format!("/api/alerts/{id}/snooze"), r, json!({"minutes": 30})).expect(200);
    let a = app.post(&format!("/api/alerts/{id}/resolve"), r, json!({})).expect(200);
    assert_eq!((a["status"].as_str(), a["snoozed_until"].as_str()), (Some("resolved"), None));
}

#[test]
fn unacknowledging_fires_again_and_pages_the_current_step() {
    let app = TestApp::start();
    let s = setup(&app);
    let r = &s.w.responder.1;
    let id = fire(&app, &s.simple, "u1");
    app.deliver();
    assert_eq!(app.post(&format!("/api/alerts/{id}/unack"), r, json!({})).status, 409, "a firing alert");
    app.post(&format!("/api/alerts/{id}/ack"), r, json!({})).expect(200);
    let a = app.post(&format!("/api/alerts/{id}/unack"), r, json!({})).expect(200);
    assert_eq!((a["status"].as_str(), a["assignee"]["username"].as_str()), (Some("firing"), Some("eddie")));
    assert!(a["next_action_at"].is_string(), "its timers run again");
    assert!(events(&app, &s, id).iter().any(|(t, m)| t == "unacknowledged" && m.starts_with("unacknowledged by rick")));
    assert_eq!(pages(&app, &s, id).last().unwrap().0, "reminder", "the current step is paged again");
    // On a policy, the current step (the rotation), not the next (vera).
    let id = fire(&app, &s.policy, "u2");
    app.post(&format!("/api/alerts/{id}/ack"), r, json!({})).expect(200);
    let a = app.post(&format!("/api/alerts/{id}/unack"), r, json!({})).expect(200);
    assert_eq!(a["escalation_level"], 0);
    assert!(!pages(&app, &s, id).iter().any(|(_, t, _)| t.ends_with("for vera")));
}

#[test]
fn notes_go_on_the_timeline_as_plain_text() {
    let app = TestApp::start();
    let s = setup(&app);
    let r = &s.w.responder.1;
    let id = fire(&app, &s.simple, "n1");
    let note = app
        .post(&format!("/api/alerts/{id}/notes"), r, json!({"text": "  <b>db-1</b> restarted; watching  "}))
        .expect(201);
    assert_eq!(
        (note["event_type"].as_str(), note["message"].as_str(), note["actor"].as_str()),
        (Some("note"), Some("<b>db-1</b> restarted; watching"), Some("rick"))
    );
    let notes = app.get(&format!("/api/alerts/{id}/notes"), &s.w.viewer.1).expect(200);
    assert_eq!(notes.as_array().unwrap().len(), 1);
    for (text, why) in [(String::new(), "empty"), ("x".repeat(4001), "too long")] {
        let bad = app.post(&format!("/api/alerts/{id}/notes"), r, json!({"text": text}));
        assert_eq!((bad.status, bad.fields()), (400, vec!["text".to_string()]), "{why}");
    }
    assert_eq!(app.post(&format!("/api/alerts/{id}/notes"), r, json!({"text": "x".repeat(4000)})).status, 201);
    let audit = app.get("/api/admin/audit-logs?object_type=alert", &s.w.admin).expect(200);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|a| a["action"].as_str()).collect();
    assert!(actions.contains(&"alert.note"), "{actions:?}");
}

#[test]
fn viewers_can_do_none_of_the_actions_and_other_groups_alerts_are_not_found() {
    let app = TestApp::start();
    let s = setup(&app);
    let id = fire(&app, &s.simple, "v1");
    let actions = [
        ("reassign", json!({"user_id": s.w.editor.0})),
        ("escalate", json!({})),
        ("snooze", json!({"minutes": 10})),
        ("unack", json!({})),
        ("notes", json!({"text": "hi"})),
    ];
    for (action, body) in &actions {
        let path = format!("/api/alerts/{id}/{action}");
        assert_eq!(app.post(&path, &s.w.viewer.1, body.clone()).status, 403, "a viewer may not {action}");
        assert_eq!(app.post(&path, &s.w.outsider.1, body.clone()).status, 404, "another group's alert: {action}");
    }
    assert_eq!(app.get(&format!("/api/alerts/{id}/notes"), &s.w.outsider.1).status, 404);
    let a = app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200);
    assert_eq!(
        (a["status"].as_str(), a["assignee"]["username"].as_str()),
        (Some("firing"), Some("eddie")),
        "nothing changed"
    );
}
