//! The alert lifecycle: acknowledge/resolve, silences, flapping, grouping, listing, the route
//! simulator and retention.

use serde_json::json;

use crate::intake::{fixture, setup, setup_with};
use crate::support::TestApp;

fn fire(app: &TestApp, token: &str, fingerprint: &str, labels: serde_json::Value) -> i64 {
    let mut l = labels;
    l["alertname"] = json!(format!("Alert {fingerprint}"));
    let body = json!({"alerts": [{"status": "firing", "labels": l, "annotations": {"summary": format!("alert {fingerprint}")}, "fingerprint": fingerprint}]});
    let r = app.post_raw("/api/integrations/alertmanager", Some(token), &body.to_string()).expect(200);
    r[0]["id"].as_i64().unwrap_or_else(|| panic!("not stored: {r}"))
}

fn resolve(app: &TestApp, token: &str, fingerprint: &str) -> serde_json::Value {
    let body = json!({"alerts": [{"status": "resolved", "labels": {"alertname": format!("Alert {fingerprint}")}, "fingerprint": fingerprint}]});
    app.post_raw("/api/integrations/alertmanager", Some(token), &body.to_string()).expect(200)
}

#[test]
fn acknowledge_and_resolve_through_the_api() {
    let app = TestApp::start();
    let s = setup(&app);
    let id = fire(&app, &s.tokens["alertmanager"], "f1", json!({"severity": "critical"}));
    assert_eq!(app.post(&format!("/api/alerts/{id}/ack"), &s.w.viewer.1, json!({})).status, 403);
    assert_eq!(app.post(&format!("/api/alerts/{id}/ack"), &s.w.outsider.1, json!({})).status, 404);
    assert_eq!(app.get(&format!("/api/alerts/{id}"), &s.w.outsider.1).status, 404);
    app.advance(42);
    let a = app.post(&format!("/api/alerts/{id}/ack"), &s.w.responder.1, json!({})).expect(200);
    assert_eq!(a["status"], "acknowledged");
    assert_eq!(a["acknowledged_by"], "rick");
    assert_eq!(a["acknowledged_at"], "2026-11-23T09:00:42Z");
    assert!(a["next_action_at"].is_null());
    let again = app.post(&format!("/api/alerts/{id}/ack"), &s.w.editor.1, json!({})).expect(200);
    assert_eq!(again["acknowledged_by"], "rick", "idempotent: the first ack stands");
    let pages = app.get(&format!("/api/alerts/{id}/deliveries"), &s.w.viewer.1).expect(200);
    assert_eq!(pages[0]["status"], "dead", "a page not yet sent is cancelled by the ack");
    assert!(pages[0]["last_error"].as_str().unwrap().contains("acknowledged"));
    // A repeat of an acknowledged alert does not re-page.
    fire(&app, &s.tokens["alertmanager"], "f1", json!({"severity": "critical"}));
    assert_eq!(
        app.get(&format!("/api/alerts/{id}/deliveries"), &s.w.viewer.1).expect(200).as_array().unwrap().len(),
        1
    );
    assert_eq!(app.get(&format!("/api/alerts/{id}"), &s.w.viewer.1).expect(200)["status"], "acknowledged");
    let r = app.post(&format!("/api/alerts/{id}/resolve"), &s.w.responder.1, json!({})).expect(200);
    assert_eq!((r["status"].as_str(), r["resolved_by"].as_str()), (Some("resolved"), Some("rick")));
    app.post(&format!("/api/alerts/{id}/resolve"), &s.w.responder.1, json!({})).expect(200);
    let events = app.get(&format!("/api/alerts/{id}/events"), &s.w.viewer.1).expect(200);
    let acks: Vec<_> = events.as_array().unwrap().iter().filter(|e| e["event_type"] == "acknowledged").collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0]["actor"], "rick");
    assert_eq!(app.post("/api/alerts/999999/ack", &s.w.admin, json!({})).status, 404);
}

#[test]
fn silences_hold_alerts_and_release_them_when_they_end() {
    let app = TestApp::start();
    let s = setup(&app);
    let t = &s.tokens["alertmanager"];
    let sil = app
        .post(
            "/api/silences",
            &s.w.responder.1,
            json!({"team_id": s.w.team, "name": "db maintenance",
               "matchers": ["instance=~\"db-.*\""], "ends_at": "2026-11-23T10:00:00Z"}),
        )
        .expect(201);
    assert_eq!(sil["state"], "active");
    let quiet = fire(&app, t, "s1", json!({"instance": "db-1"}));
    let loud = fire(&app, t, "s2", json!({"instance": "web-1"}));
    let a = app.get(&format!("/api/alerts/{quiet}"), &s.w.viewer.1).expect(200);
    assert_eq!((a["status"].as_str(), a["silence_id"].as_i64()), (Some("silenced"), sil["id"].as_i64()));
    assert_eq!(
        app.get(&format!("/api/alerts/{quiet}/deliveries"), &s.w.viewer.1).expect(200).as_array().unwrap().len(),
        0
    );
    assert_eq!(
        app.get(&format!("/api/alerts/{loud}/deliveries"), &s.w.viewer.1).expect(200).as_array().unwrap().len(),
        1
    );
    let ev = app.get(&format!("/api/alerts/{quiet}/events"), &s.w.viewer.1).expect(200);
    assert!(
        ev.as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_type"] == "silenced" && e["message"].as_str().unwrap().contains("db maintenance"))
    );
    // The silence ends: the still-firing alert fires and pages.
    app.advance(3600);
    app.cycle();
    let a = app.get(&format!("/api/alerts/{quiet}"), &s.w.viewer.1).expect(200);
    assert_eq!(a["status"], "firing");
    let d = app.get(&format!("/api/alerts/{quiet}/deliveries"), &s.w.viewer.1).expect(200);
    assert_eq!(d.as_array().unwrap().len(), 1);
    assert_eq!(app.get(&format!("/api/silences/{}", sil["id"]), &s.w.viewer.1).expect(200)["state"], "expired");
    // A new silence holds firing alerts that match it.
    app.post("/api/silences", &s.w.responder.1, json!({"team_id": s.w.team, "name": "web", "matchers": {"labels": {"instance": "web-1"}}, "ends_at": "2026-11-24T00:00:00Z"}))
        .expect(201);
    app.cycle();
    assert_eq!(app.get(&format!("/api/alerts/{loud}"), &s.w.viewer.1).expect(200)["status"], "silenced");
    // Silences validate their matchers and window.
    let r = app.post("/api/silences", &s.w.responder.1, json!({"team_id": s.w.team, "name": "x", "matchers": {}, "starts_at": "2026-11-24T00:00:00Z", "ends_at": "2026-11-23T00:00:00Z"}));
    assert_eq!(r.fields(), ["matchers", "ends_at"]);
}

#[test]
fn flapping_alerts_stop_notifying_until_stable() {
    let app = TestApp::start_with(|c| {
        c.alerts.flap_threshold = 3;
        c.alerts.flap_window_seconds = 600;
    });
    let s = setup(&app);
    let t = &s.tokens["alertmanager"];
    let id = fire(&app, t, "flap", json!({}));
    for _ in 0..2 {
        app.advance(30);
        resolve(&app, t, "flap");
        app.advance(30);
        fire(&app, t, "flap", json!({}));
    }
    let a = app.get(&format!("/api/alerts/{id}"), &s.w.viewer.1).expect(200);
    assert_eq!(a["flapping"], true, "{a}");
    let events = app.get(&format!("/api/alerts/{id}/events"), &s.w.viewer.1).expect(200);
    assert!(events.as_array().unwrap().iter().any(|e| e["event_type"] == "flapping"));
    let pages_before =
        app.get(&format!("/api/alerts/{id}/deliveries"), &s.w.viewer.1).expect(200).as_array().unwrap().len();
    app.advance(30);
    resolve(&app, t, "flap");
    app.advance(30);
    fire(&app, t, "flap", json!({}));
    let pages_after = app.get(&format!("/api/alerts/{id}/deliveries"), &s.w.viewer.1).expect(200);
    let new_pages = pages_after
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["event_type"] == "triggered" && d["status"] != "dead")
        .count();
    assert!(pages_after.as_array().unwrap().len() == pages_before, "no new pages while flapping: {pages_after}");
    let _ = new_pages;
    // Stable for the window: flapping ends and the firing alert pages again.
    app.advance(601);
    app.cycle();
    let a = app.get(&format!("/api/alerts/{id}"), &s.w.viewer.1).expect(200);
    assert_eq!(a["flapping"], false);
    let events = app.get(&format!("/api/alerts/{id}/events"), &s.w.viewer.1).expect(200);
    assert_eq!(events.as_array().unwrap().last().unwrap()["event_type"], "stable");
    let pages = app.get(&format!("/api/alerts/{id}/deliveries"), &s.w.viewer.1).expect(200);
    assert_eq!(pages.as_array().unwrap().len(), pages_before + 1);
}

#[test]
fn group_by_merges_alerts_within_the_window() {
    let app = TestApp::start();
    let s = setup_with(&app, json!({"group_by": ["cluster"]}));
    let t = &s.tokens["alertmanager"];
    let a = fire(&app, t, "g1", json!({"cluster": "eu"}));
    app.advance(60);
    let b = fire(&app, t, "g2", json!({"cluster": "eu"}));
    assert_eq!(a, b, "same cluster within the window: one alert");
    let c = fire(&app, t, "g3", json!({"cluster": "us"}));
    assert_ne!(a, c);
    let alert = app.get(&format!("/api/alerts/{a}"), &s.w.viewer.1).expect(200);
    assert_eq!(alert["alert_count"], 2);
    assert_eq!(
        app.get(&format!("/api/alerts/{a}/deliveries"), &s.w.viewer.1).expect(200).as_array().unwrap().len(),
        1,
        "one page for the group"
    );
    let r = resolve(&app, t, "g1");
    assert_eq!(r[0]["status"], "firing", "one member still firing");
    let r = resolve(&app, t, "g2");
    assert_eq!(r[0]["status"], "resolved");
    app.advance(301);
    let d = fire(&app, t, "g4", json!({"cluster": "us"}));
    assert_ne!(d, c, "after the group window a new alert opens");
}

#[test]
fn listing_filters_search_and_pagination() {
    let app = TestApp::start();
    let s = setup(&app);
    let t = &s.tokens["alertmanager"];
    for i in 0..7 {
        let sev = if i % 2 == 0 { "critical" } else { "warning" };
        fire(&app, t, &format!("l{i}"), json!({"severity": sev, "instance": format!("host-{i}")}));
    }
    let z = app
        .post_raw("/api/integrations/zabbix", Some(&s.tokens["zabbix"]), &fixture("zabbix/problem.json"))
        .expect(200);
    let zid = z[0]["id"].as_i64().unwrap();
    app.post(&format!("/api/alerts/{zid}/ack"), &s.w.responder.1, json!({})).expect(200);
    let page = app.get("/api/alerts?page_size=3", &s.w.viewer.1).expect(200);
    assert_eq!(page["pagination"], json!({"page": 1, "page_size": 3, "total_items": 8, "total_pages": 3}));
    assert_eq!(page["items"][0]["id"], zid, "newest first");
    let p3 = app.get("/api/alerts?page_size=3&page=3", &s.w.viewer.1).expect(200);
    assert_eq!(p3["items"].as_array().unwrap().len(), 2);
    let crit = app.get("/api/alerts?severity=critical", &s.w.viewer.1).expect(200);
    assert_eq!(crit["pagination"]["total_items"], 4);
    let open = app.get("/api/alerts?status=firing&status=acknowledged", &s.w.viewer.1).expect(200);
    assert_eq!(open["pagination"]["total_items"], 8);
    let acked = app.get("/api/alerts?status=acknowledged", &s.w.viewer.1).expect(200);
    assert_eq!(acked["items"][0]["id"], zid);
    assert_eq!(app.get("/api/alerts?source=zabbix", &s.w.viewer.1).expect(200)["pagination"]["total_items"], 1);
    // The engine indexes new alerts for search on its next cycle.
    app.cycle();
    assert_eq!(app.get("/api/alerts?search=host-3", &s.w.viewer.1).expect(200)["pagination"]["total_items"], 1);
    assert_eq!(
        app.get("/api/alerts?search=HOST-3", &s.w.viewer.1).expect(200)["pagination"]["total_items"],
        1,
        "case-insensitive"
    );
    assert_eq!(
        app.get("/api/alerts?search=l5", &s.w.viewer.1).expect(200)["pagination"]["total_items"],
        1,
        "short terms match titles"
    );
    assert_eq!(
        app.get("/api/alerts?search=zabbix-event-28", &s.w.viewer.1).expect(200)["items"][0]["id"],
        zid,
        "dedup keys are searchable"
    );
    assert_eq!(app.get("/api/alerts?search=alert%20l5", &s.w.viewer.1).expect(200)["pagination"]["total_items"], 1);
    assert_eq!(
        app.get(&format!("/api/alerts?team_id={}", s.w.team), &s.w.viewer.1).expect(200)["pagination"]["total_items"],
        8
    );
    assert_eq!(
        app.get("/api/alerts", &s.w.outsider.1).expect(200)["pagination"]["total_items"],
        0,
        "other groups' alerts are invisible"
    );
    let r = app.get("/api/alerts?status=open&page_size=500&severity=bad&sort=loudest", &s.w.viewer.1);
    assert_eq!(r.fields(), ["status", "severity", "sort", "page_size"]);
}

/// The list sorts by age, severity, status and last seen (API and the alerts page's column
/// heads), and the page filters to the viewer's own alerts.
#[test]
fn alerts_sort_by_age_severity_status_and_last_seen() {
    let app = TestApp::start();
    let s = setup(&app);
    let t = &s.tokens["alertmanager"];
    let mut ids = Vec::new();
    for (i, sev) in ["warning", "critical", "info", "high"].into_iter().enumerate() {
        ids.push(fire(&app, t, &format!("s{i}"), json!({"severity": sev})));
        app.advance(10);
    }
    app.post(&format!("/api/alerts/{}/ack", ids[1]), &s.w.responder.1, json!({})).expect(200);
    app.advance(10);
    fire(&app, t, "s0", json!({"severity": "warning"})); // seen again: the most recently seen
    let order = |sort: &str| -> Vec<i64> {
        let page = app.get(&format!("/api/alerts?sort={sort}"), &s.w.viewer.1).expect(200);
        page["items"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect()
    };
    let rev: Vec<i64> = ids.iter().rev().copied().collect();
    assert_eq!(order("newest"), rev);
    assert_eq!(order(""), rev, "newest first by default");
    assert_eq!(order("oldest"), ids);
    assert_eq!(order("severity"), [ids[1], ids[3], ids[0], ids[2]], "critical, high, warning, info");
    assert_eq!(order("status"), [ids[3], ids[2], ids[0], ids[1]], "firing (newest first), then acknowledged");
    assert_eq!(order("last_seen")[0], ids[0]);

    // The page: column heads sort; "Assigned to me" keeps only the viewer's alerts.
    let cookie = |user: &str| {
        let r = app.request(
            "POST",
            "/api/auth/login",
            None,
            Some(&json!({"username": user, "password": format!("password-{user}")})),
            &[],
        );
        format!("ir_session={}", r.expect(200)["access_token"].as_str().unwrap())
    };
    let page = |who: &str, query: &str| {
        app.request("GET", &format!("/alerts?{query}"), None, None, &[("Cookie", &cookie(who))]).text
    };
    let html = page("vera", "sort=severity");
    assert!(html.contains("aria-sort=\"descending\">Severity ↓"), "the sorted column is marked");
    let titles: Vec<usize> =
        ["alert s1", "alert s3", "alert s0", "alert s2"].iter().map(|t| html.find(t).unwrap()).collect();
    assert!(titles.windows(2).all(|w| w[0] < w[1]), "most severe first on the page");
    let assigned = app.get(&format!("/api/alerts?assignee_id={}", s.w.editor.0), &s.w.viewer.1).expect(200);
    assert!(assigned["pagination"]["total_items"].as_i64().unwrap() > 0, "eddie is on call: {assigned}");
    let mine = page("eddie", "mine=1&status=any");
    assert_eq!(
        mine.matches("<tr class=\"row-").count(),
        assigned["pagination"]["total_items"].as_i64().unwrap() as usize
    );
    assert!(page("vera", "mine=1").contains("No alerts match."), "vera has none assigned");
}

#[test]
fn the_simulator_explains_without_storing() {
    let app = TestApp::start();
    let s = setup_with(&app, json!({"matchers": {"labels": {"severity": ["critical", "high"]}}}));
    let route = s.routes["alertmanager"];
    let r = app
        .post_raw(
            &format!("/api/routes/{route}/simulate"),
            Some(&s.w.viewer.1),
            &fixture("alertmanager/amtool_group_two_firing.json"),
        )
        .expect(200);
    let first = &r["alerts"][0];
    assert_eq!(first["matched"], false);
    assert!(first["matcher_failures"][0].as_str().unwrap().contains("severity"));
    assert!(first["decision"].as_str().unwrap().starts_with("not routed"));
    let r = app
        .post_raw(
            &format!("/api/routes/{route}/simulate"),
            Some(&s.w.viewer.1),
            &fixture("alertmanager/amapi_single_firing.json"),
        )
        .expect(200);
    assert_eq!(r["alerts"][0]["matched"], true);
    assert_eq!(r["alerts"][0]["decision"], "would open a new alert and page");
    assert_eq!(r["alerts"][0]["dedup_key"], "59375702559462c1");
    assert_eq!(app.get("/api/alerts", &s.w.admin).expect(200)["pagination"]["total_items"], 0, "nothing stored");
    app.post_raw(
        "/api/integrations/alertmanager",
        Some(&s.tokens["alertmanager"]),
        &fixture("alertmanager/amapi_single_firing.json"),
    )
    .expect(200);
    let r = app
        .post_raw(
            &format!("/api/routes/{route}/simulate"),
            Some(&s.w.viewer.1),
            &fixture("alertmanager/amapi_single_firing.json"),
        )
        .expect(200);
    assert!(r["alerts"][0]["decision"].as_str().unwrap().contains("repeat"), "{r}");
    let bad = app.post_raw(
        &format!("/api/routes/{route}/simulate"),
        Some(&s.w.viewer.1),
        r#"{"alerts": [{"status": "maybe"}]}"#,
    );
    assert_eq!(bad.fields(), ["alerts[0].status"]);
}

#[test]
fn retention_deletes_old_resolved_alerts_only() {
    let app = TestApp::start_with(|c| c.retention.resolved_alert_days = 30);
    let s = setup(&app);
    let t = &s.tokens["alertmanager"];
    let old = fire(&app, t, "old", json!({}));
    resolve(&app, t, "old");
    let open = fire(&app, t, "open", json!({}));
    app.advance(31 * 86_400);
    let recent = fire(&app, t, "recent", json!({}));
    resolve(&app, t, "recent");
    let engine = app.engine.clone();
    let now = app.now();
    let r = app.rt.block_on(async move { incidentrelay::engine::housekeeping::retention(&engine, now).await }).unwrap();
    assert_eq!(r.alerts, 1);
    let admin = app.admin();
    assert_eq!(app.get(&format!("/api/alerts/{old}"), &admin).status, 404);
    app.get(&format!("/api/alerts/{open}"), &admin).expect(200);
    app.get(&format!("/api/alerts/{recent}"), &admin).expect(200);
}

#[test]
fn search_follows_an_alerts_new_title_and_forgets_alerts_that_retention_deleted() {
    let app = TestApp::start_with(|c| c.retention.resolved_alert_days = 30);
    let s = setup(&app);
    let t = &s.tokens["alertmanager"];
    // A fresh session each time: the test moves the clock past a session's life.
    let hits = |q: &str| -> Vec<i64> {
        let page = app.get(&format!("/api/alerts?search={q}"), &app.admin()).expect(200);
        page["items"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect()
    };
    let disk = fire(&app, t, "disk", json!({"instance": "store-7"}));
    let old = fire(&app, t, "old", json!({"instance": "archive-1"}));
    resolve(&app, t, "old");
    app.cycle();
    assert_eq!((hits("store-7"), hits("archive-1")), (vec![disk], vec![old]));
    // A repeat with new labels: the index follows on the engine's next cycle.
    fire(&app, t, "disk", json!({"instance": "store-8"}));
    app.cycle();
    assert_eq!((hits("store-8"), hits("store-7")), (vec![disk], vec![]));
    // Retention deletes the old resolved alert; it leaves the index too.
    app.advance(31 * 86_400);
    let engine = app.engine.clone();
    let now = app.now();
    let r = app.rt.block_on(async move { incidentrelay::engine::housekeeping::retention(&engine, now).await }).unwrap();
    assert_eq!(r.alerts, 1);
    app.cycle();
    assert_eq!(hits("archive-1"), Vec::<i64>::new());
    // A new alert that reuses the deleted one's text is found, and only it.
    let again = fire(&app, t, "again", json!({"instance": "archive-1"}));
    app.cycle();
    assert_eq!(hits("archive-1"), vec![again]);
}

#[test]
fn each_alert_is_paged_by_the_configuration_as_it_is_when_the_alert_arrives() {
    // Paging keeps what it read of the configuration between alerts (store::config_cache):
    // every kind of change it keeps must show on the very next alert.
    let app = TestApp::start();
    let w = crate::support::World::new(&app);
    let e = &w.editor.1;
    let (token, rot, ch) = crate::personal::logged_route(&app, &w);
    let page = |key: &str| {
        let body = json!({"title": "Disk full", "fingerprint": key, "labels": {"env": "prod"}}).to_string();
        let id = app.post_raw("/api/integrations/webhook", Some(&token), &body).expect(200)[0]["id"].as_i64().unwrap();
        let alert = app.get(&format!("/api/alerts/{id}"), &w.admin).expect(200);
        let deliveries = app.get(&format!("/api/alerts/{id}/deliveries"), &w.admin).expect(200);
        let targets: Vec<String> =
            deliveries.as_array().unwrap().iter().map(|d| d["target"].as_str().unwrap().to_string()).collect();
        (alert["assignee"]["username"].as_str().unwrap_or("nobody").to_string(), alert["status"].clone(), targets)
    };
    let (who, _, targets) = page("k1");
    assert_eq!((who.as_str(), targets.len()), ("eddie", 1), "{targets:?}");

    // An override: the next alert goes to rick.
    let over =
        json!({"user_id": w.responder.0, "starts_at": "2026-11-23T08:00:00Z", "ends_at": "2026-11-24T08:00:00Z"});
    app.post(&format!("/api/rotations/{rot}/overrides"), e, over).expect(201);
    assert_eq!(page("k2").0, "rick");

    // rick's own rule: the next page reaches him by his webhook too.
    let hook = crate::fake::Fake::start();
    let m = app
        .post(
            "/api/profile/contact-methods",
            &w.responder.1,
            json!({"type": "webhook", "value": format!("{}/me", hook.url)}),
        )
        .expect(201);
    app.post(&format!("/api/profile/contact-methods/{}/test", m["id"]), &w.responder.1, json!({})).expect(200);
    app.post("/api/profile/notification-rules", &w.responder.1, json!({"contact_method_id": m["id"]})).expect(201);
    let (_, _, targets) = page("k3");
    assert!(targets.len() == 2 && targets.iter().any(|t| t.contains("webhook")), "{targets:?}");

    // The channel disabled: no page to it.
    app.put(&format!("/api/channels/{ch}"), e, json!({"enabled": false})).expect(200);
    let (_, _, targets) = page("k4");
    assert!(targets.len() == 1 && !targets[0].contains("log"), "{targets:?}");

    // A silence of the team: the next alert is held.
    let silence =
        json!({"team_id": w.team, "name": "all", "matchers": ["env=\"prod\""], "ends_at": "2026-11-24T10:00:00Z"});
    app.post("/api/silences", e, silence).expect(201);
    assert_eq!(page("k5").1, "silenced");
}
