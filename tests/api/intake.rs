//! Intake: every source format through the real HTTP endpoints, authentication, limits,
//! signatures, routing by matchers, and the PagerDuty Events v2 semantics.

use serde_json::{Value, json};

use crate::support::{Resp, TestApp, World};

pub fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A team with a rotation (eddie on call), a channel and one route per source.
pub struct Setup {
    pub w: World,
    pub rotation: i64,
    pub tokens: std::collections::HashMap<&'static str, String>,
    pub routes: std::collections::HashMap<&'static str, i64>,
}

pub fn setup(app: &TestApp) -> Setup {
    setup_with(app, json!({}))
}

pub fn setup_with(app: &TestApp, route_extra: Value) -> Setup {
    let w = World::new(app);
    let rotation = app
        .post("/api/rotations", &w.editor.1, json!({"team_id": w.team, "name": "Primary", "rotation_type": "weekly", "start_at": "2026-11-01T00:00:00Z"}))
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    app.post(&format!("/api/rotations/{rotation}/members"), &w.editor.1, json!({"user_id": w.editor.0})).expect(201);
    app.post(&format!("/api/rotations/{rotation}/members"), &w.editor.1, json!({"user_id": w.responder.0})).expect(201);
    let channel = app
        .post("/api/channels", &w.editor.1, json!({"team_id": w.team, "name": "hook", "channel_type": "webhook", "config": {"webhook_url": "http://127.0.0.1:9/hook"}}))
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let mut tokens = std::collections::HashMap::new();
    let mut routes = std::collections::HashMap::new();
    for source in ["alertmanager", "zabbix", "webhook", "grafana", "events"] {
        let mut body = json!({"team_id": w.team, "name": source, "source": source, "rotation_id": rotation, "channel_ids": [channel]});
        if let Value::Object(extra) = &route_extra {
            for (k, v) in extra {
                body[k] = v.clone();
            }
        }
        let r = app.post("/api/routes", &w.editor.1, body).expect(201);
        tokens.insert(source, r["intake_token"].as_str().unwrap().to_string());
        routes.insert(source, r["id"].as_i64().unwrap());
    }
    Setup { w, rotation, tokens, routes }
}

pub fn post_intake(app: &TestApp, path: &str, token: &str, body: &str) -> Resp {
    app.post_raw(path, Some(token), body)
}

fn alert(app: &TestApp, s: &Setup, id: i64) -> Value {
    app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200)
}

#[test]
fn alertmanager_fire_repeat_resolve_reopen_and_new_after_the_window() {
    let app = TestApp::start();
    let s = setup(&app);
    let t = &s.tokens["alertmanager"];
    let r = post_intake(&app, "/api/integrations/alertmanager", t, &fixture("alertmanager/amapi_single_firing.json"))
        .expect(200);
    let first = &r[0];
    assert_eq!(first["created"], true);
    assert_eq!(first["status"], "firing");
    assert_eq!(first["team_slug"], "infra");
    assert_eq!(first["route_id"], s.routes["alertmanager"]);
    assert_eq!(first["rotation_id"], s.rotation);
    assert_eq!(first["assignee"]["username"], "eddie");
    assert!(first["routing_error"].is_null());
    let id = first["id"].as_i64().unwrap();
    let a = alert(&app, &s, id);
    assert_eq!(a["title"], "CPU above 90% on web-1");
    assert_eq!(a["severity"], "critical");
    assert_eq!(a["dedup_key"], "59375702559462c1");
    assert_eq!(a["labels"]["alertmanager_url"], "http://vm:19093");
    assert_eq!(a["event_link"], "https://runbooks.example/highcpu");
    assert_eq!(a["source"], "alertmanager");
    let pages = app.get(&format!("/api/alerts/{id}/deliveries"), &s.w.admin).expect(200);
    assert_eq!(pages.as_array().unwrap().len(), 1, "one page per route channel");
    assert_eq!(pages[0]["event_type"], "triggered");
    assert_eq!(pages[0]["status"], "pending");

    app.advance(30);
    let again =
        post_intake(&app, "/api/integrations/alertmanager", t, &fixture("alertmanager/amapi_single_firing.json"))
            .expect(200);
    assert_eq!(
        (again[0]["id"].as_i64(), again[0]["created"].as_bool(), again[0]["outcome"].as_str()),
        (Some(id), Some(false), Some("deduplicated"))
    );
    // A repeat answers from the alert as intake read it (`alerts::Candidate`), as the first did;
    // on the webhook route too, whose id is not the rotation's.
    let body = r#"{"title": "Queue stuck", "fingerprint": "queue-stuck-1"}"#;
    let on_webhook = || post_intake(&app, "/api/integrations/webhook", &s.tokens["webhook"], body).expect(200);
    let (once, twice) = (on_webhook(), on_webhook());
    assert_ne!(once[0]["route_id"], once[0]["rotation_id"]);
    for (first, again) in [(first, &again[0]), (&once[0], &twice[0])] {
        assert_eq!(again["outcome"], "deduplicated");
        for field in ["id", "status", "team_slug", "route_id", "rotation_id", "assignee"] {
            assert_eq!(again[field], first[field], "{field}");
        }
    }
    let a = alert(&app, &s, id);
    assert_eq!(a["alert_count"], 2);
    assert_eq!(a["last_seen_at"], "2026-11-23T09:00:30Z");
    assert_eq!(
        app.get(&format!("/api/alerts/{id}/deliveries"), &s.w.admin).expect(200).as_array().unwrap().len(),
        1,
        "never a second page"
    );

    let res =
        post_intake(&app, "/api/integrations/alertmanager", t, &fixture("alertmanager/amapi_single_resolved.json"))
            .expect(200);
    assert_eq!(res[0]["status"], "resolved");
    assert_eq!(alert(&app, &s, id)["resolved_at"], "2026-11-23T09:00:30Z");

    app.advance(600);
    let re = post_intake(&app, "/api/integrations/alertmanager", t, &fixture("alertmanager/amapi_single_firing.json"))
        .expect(200);
    assert_eq!(
        (re[0]["id"].as_i64(), re[0]["outcome"].as_str(), re[0]["status"].as_str()),
        (Some(id), Some("reopened"), Some("firing"))
    );
    post_intake(&app, "/api/integrations/alertmanager", t, &fixture("alertmanager/amapi_single_resolved.json"))
        .expect(200);
    app.advance(3601);
    let new = post_intake(&app, "/api/integrations/alertmanager", t, &fixture("alertmanager/amapi_single_firing.json"))
        .expect(200);
    assert_eq!(new[0]["created"], true, "after the reopen window it is a new alert");
    assert_ne!(new[0]["id"].as_i64(), Some(id));

    let timeline = app.get(&format!("/api/alerts/{id}/events"), &s.w.viewer.1).expect(200);
    let types: Vec<_> = timeline.as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["received", "deduplicated", "resolved", "reopened", "resolved"], "{timeline}");
    assert!(timeline[1]["message"].as_str().unwrap().contains("no new page"));
}

#[test]
fn a_group_mixing_firing_and_resolved_handles_each_item() {
    let app = TestApp::start();
    let s = setup(&app);
    let t = &s.tokens["alertmanager"];
    let two =
        post_intake(&app, "/api/integrations/alertmanager", t, &fixture("alertmanager/amtool_group_two_firing.json"))
            .expect(200);
    assert_eq!(two.as_array().unwrap().len(), 2);
    assert!(two.as_array().unwrap().iter().all(|r| r["created"] == true));
    let mixed = post_intake(
        &app,
        "/api/integrations/alertmanager",
        t,
        &fixture("alertmanager/amtool_group_one_resolved_one_firing.json"),
    )
    .expect(200);
    assert_eq!(mixed[0]["outcome"], "resolved");
    assert_eq!(mixed[0]["id"], two[0]["id"]);
    assert_eq!(mixed[1]["outcome"], "deduplicated");
    assert_eq!(mixed[1]["status"], "firing");
    // A resolve for an unknown key is a no-op result.
    let unknown =
        json!({"alerts": [{"status": "resolved", "labels": {"alertname": "Nope"}, "fingerprint": "ffff"}]}).to_string();
    let r = post_intake(&app, "/api/integrations/alertmanager", t, &unknown).expect(200);
    assert_eq!((r[0]["outcome"].as_str(), r[0]["id"].is_null()), (Some("ignored"), true));
}

/// Real senders ask for gzip (Zabbix's captured request below says `deflate, gzip, br, zstd`):
/// an intake answer of a few hundred bytes goes out as it is, while a large answer is
/// compressed.
#[test]
fn intake_answers_go_out_uncompressed_whatever_their_size_and_large_pages_compressed_when_the_sender_asks_for_gzip() {
    let app = TestApp::start();
    let s = setup(&app);
    let body = fixture("zabbix/problem.json");
    // Raw HTTP/1.1: the test's client would decode gzip and drop the header it looks at.
    let raw = |request: String| -> String {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(app.url("").trim_start_matches("http://")).unwrap();
        conn.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).to_lowercase()
    };
    let small = raw(format!(
        "POST /api/integrations/zabbix HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Accept-Encoding: deflate, gzip, br, zstd\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        s.tokens["zabbix"],
        body.len()
    ));
    let (head, answer) = small.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("http/1.1 200") && answer.contains("\"id\""), "{small}");
    assert!(answer.len() < 1024 && !head.contains("content-encoding"), "{small}");
    // Intake endpoints sit outside `Compress`: a batch's long answer goes out as it is too.
    let items: Vec<Value> = (0..20)
        .map(|i| json!({"status": "firing", "labels": {"alertname": "DiskFull", "instance": format!("db-{i}")}}))
        .collect();
    let batch = json!({"alerts": items}).to_string();
    let long = raw(format!(
        "POST /api/integrations/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nAccept-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{batch}",
        s.tokens["alertmanager"],
        batch.len()
    ));
    let (head, answer) = long.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("http/1.1 200") && answer.matches("\"created\":true").count() == 20, "{long}");
    assert!(answer.len() > 1024 && !head.contains("content-encoding"), "{head}");
    // Outside `Compress`, the one route table still answers a wrong method with 405 and Allow.
    let wrong = raw("GET /api/integrations/alertmanager HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into());
    assert!(wrong.starts_with("http/1.1 405") && wrong.contains("allow: post"), "{wrong}");
    let large =
        raw("GET /api/openapi.json HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n".into());
    let head = large.split("\r\n\r\n").next().unwrap();
    assert!(head.starts_with("http/1.1 200") && head.contains("content-encoding: gzip"), "{head}");
}

#[test]
fn zabbix_problem_update_recovery() {
    let app = TestApp::start();
    let s = setup(&app);
    let t = &s.tokens["zabbix"];
    let p = post_intake(&app, "/api/integrations/zabbix", t, &fixture("zabbix/problem.json")).expect(200);
    let id = p[0]["id"].as_i64().unwrap();
    let a = alert(&app, &s, id);
    assert_eq!((a["title"].as_str(), a["severity"].as_str()), (Some("High CPU on web-1"), Some("high")));
    assert_eq!(a["labels"]["host"], "web-1");
    let u = post_intake(&app, "/api/integrations/zabbix", t, &fixture("zabbix/update_ack.json")).expect(200);
    assert_eq!((u[0]["id"].as_i64(), u[0]["outcome"].as_str()), (Some(id), Some("deduplicated")));
    let r = post_intake(&app, "/api/integrations/zabbix", t, &fixture("zabbix/recovery.json")).expect(200);
    assert_eq!((r[0]["id"].as_i64(), r[0]["status"].as_str()), (Some(id), Some("resolved")));
}

#[test]
fn grafana_and_generic_webhooks() {
    let app = TestApp::start();
    let s = setup(&app);
    let g = post_intake(
        &app,
        "/api/integrations/grafana",
        &s.tokens["grafana"],
        &fixture("grafana/two_alerts_firing.json"),
    )
    .expect(200);
    assert_eq!(g[0]["outcome"], "created");
    assert_eq!(g[1]["outcome"], "ignored", "the resolved one was never open");
    // routing_key in the body instead of a header.
    let body = json!({"routing_key": s.tokens["webhook"], "title": "Backup failed", "severity": "high", "labels": {"job": "backup"}, "fingerprint": "backup-1"});
    let r = app.post_raw("/api/integrations/webhook", None, &body.to_string()).expect(200);
    assert_eq!(r[0]["created"], true);
    let a = alert(&app, &s, r[0]["id"].as_i64().unwrap());
    assert_eq!((a["severity"].as_str(), a["dedup_key"].as_str()), (Some("high"), Some("backup-1")));
    let bad = app.post_raw(
        "/api/integrations/webhook",
        Some(&s.tokens["webhook"]),
        r#"{"message": "no title", "severity": 3}"#,
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.fields(), ["severity"]);
    let bad = app.post_raw("/api/integrations/webhook", Some(&s.tokens["webhook"]), r#"{"message": "no title"}"#);
    assert_eq!(bad.fields(), ["title"]);
    let bad = app.post_raw("/api/integrations/alertmanager", Some(&s.tokens["alertmanager"]), "{\"alerts\": [");
    assert_eq!((bad.status, bad.fields()), (400, vec!["body".to_string()]));
    // An unknown severity is kept as a label.
    let r = app
        .post_raw("/api/integrations/webhook", Some(&s.tokens["webhook"]), r#"{"title": "x", "severity": "sev-zero"}"#)
        .expect(200);
    let a = alert(&app, &s, r[0]["id"].as_i64().unwrap());
    assert_eq!((a["severity"].as_str(), a["labels"]["severity"].as_str()), (Some("warning"), Some("sev-zero")));
    // Without a fingerprint, identical content deduplicates.
    let r2 = app
        .post_raw("/api/integrations/webhook", Some(&s.tokens["webhook"]), r#"{"title": "x", "severity": "sev-zero"}"#)
        .expect(200);
    assert_eq!(r2[0]["id"], r[0]["id"]);
}

#[test]
fn pagerduty_events_v2_semantics() {
    let app = TestApp::start();
    let s = setup(&app);
    let key = &s.tokens["events"];
    let ev = |action: &str, dedup: Option<&str>| {
        let mut e = json!({"routing_key": key, "event_action": action,
                           "payload": {"summary": "DB down", "source": "db-1", "severity": "critical", "component": "postgres"}});
        if let Some(d) = dedup {
            e["dedup_key"] = json!(d);
        }
        e.to_string()
    };
    // Alertmanager's own PagerDuty notifier, pointed at /v2/enqueue.
    let mut am = serde_json::from_str::<Value>(&fixture("pagerduty/events_v2_trigger.json")).unwrap();
    am["routing_key"] = json!(key);
    let r = app.post_raw("/v2/enqueue", None, &am.to_string());
    assert_eq!(r.status, 202, "{}", r.text);
    // pypd posts to `/v2/enqueue/`: the same endpoint.
    let slash = app.post_raw("/v2/enqueue/", None, &am.to_string());
    assert_eq!((slash.status, &slash.body["dedup_key"]), (202, &am["dedup_key"]), "{}", slash.text);
    assert_eq!(r.body["status"], "success");
    assert_eq!(r.body["message"], "Event processed");
    assert_eq!(r.body["dedup_key"], am["dedup_key"]);
    let incident = r.body["incident_id"].as_i64().unwrap();

    let t1 = app.post_raw("/api/events/ingest", None, &ev("trigger", Some("db-1"))).expect(202);
    let id = t1["incident_id"].as_i64().unwrap();
    assert_ne!(id, incident);
    let t2 = app.post_raw("/api/events/ingest", None, &ev("trigger", Some("db-1"))).expect(202);
    assert_eq!(t2["incident_id"].as_i64(), Some(id), "a trigger with an open key appends to it");
    assert_eq!(alert(&app, &s, id)["alert_count"], 2);
    app.post_raw("/api/events/ingest", None, &ev("acknowledge", Some("db-1"))).expect(202);
    assert_eq!(alert(&app, &s, id)["status"], "acknowledged");
    app.post_raw("/api/events/ingest", None, &ev("resolve", Some("db-1"))).expect(202);
    assert_eq!(alert(&app, &s, id)["status"], "resolved");
    let t3 = app.post_raw("/api/events/ingest", None, &ev("trigger", Some("db-1"))).expect(202);
    assert_ne!(t3["incident_id"].as_i64(), Some(id), "a trigger after resolve opens a new alert");

    // No dedup key: a generated one is returned and used.
    let generated_resp = app.post_raw("/api/events/ingest", None, &ev("trigger", None)).expect(202);
    let generated = generated_resp["dedup_key"].as_str().unwrap();
    assert_eq!(generated.len(), 32);
    let again = app.post_raw("/api/events/ingest", None, &ev("resolve", Some(generated))).expect(202);
    assert_eq!(again["incident_id"], generated_resp["incident_id"]);

    // Invalid events: PagerDuty's 400 body.
    let bad = app.post_raw(
        "/api/events/ingest",
        None,
        &json!({"routing_key": key, "event_action": "trigger", "payload": {"source": "x"}}).to_string(),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["status"], "invalid event");
    assert_eq!(bad.body["message"], "Event object is invalid");
    let errors: Vec<_> =
        bad.body["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
    assert_eq!(errors, ["'payload.summary' is missing or blank", "'payload.severity' is missing or blank"]);
    let long = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "k".repeat(256),
                      "payload": {"summary": "s", "source": "x", "severity": "info"}});
    assert_eq!(app.post_raw("/v2/enqueue", None, &long.to_string()).status, 400);
    let unknown =
        app.post_raw("/v2/enqueue", None, &json!({"routing_key": "nope", "event_action": "trigger"}).to_string());
    assert_eq!((unknown.status, unknown.body["errors"][0].as_str()), (400, Some("Invalid routing key")));
    // The generic webhook endpoint accepts PagerDuty events too (webhook route).
    let via_webhook =
        app.post_raw("/api/integrations/webhook", Some(&s.tokens["webhook"]), &ev("trigger", Some("wh-1")));
    assert_eq!(via_webhook.status, 202, "{}", via_webhook.text);
}

#[test]
fn authentication_source_matching_size_and_rate_limits() {
    let app = TestApp::start_with(|c| {
        c.intake.rate_limit_per_minute = 5;
        c.intake.max_body_bytes = 4096;
    });
    let s = setup(&app);
    let am = fixture("alertmanager/amapi_single_firing.json");
    let r = app.post_raw("/api/integrations/alertmanager", None, &am);
    assert_eq!((r.status, r.body["error"].as_str()), (401, Some("unauthorized")));
    assert_eq!(app.post_raw("/api/integrations/alertmanager", Some("iri_unknown"), &am).status, 401);
    let r = app.post_raw("/api/integrations/zabbix", Some(&s.tokens["alertmanager"]), &am);
    assert_eq!(r.status, 403, "a route's token only works for its source");
    assert!(r.body["message"].as_str().unwrap().contains("/api/integrations/alertmanager"));
    app.put(&format!("/api/routes/{}", s.routes["grafana"]), &s.w.editor.1, json!({"enabled": false})).expect(200);
    assert_eq!(app.post_raw("/api/integrations/grafana", Some(&s.tokens["grafana"]), "{}").status, 403);
    let big = json!({"title": "x", "message": "m".repeat(5000)}).to_string();
    let r = app.post_raw("/api/integrations/webhook", Some(&s.tokens["webhook"]), &big);
    assert_eq!((r.status, r.body["error"].as_str()), (413, Some("payload_too_large")));
    // 7 requests so far from 127.0.0.1 used the bucket of 5: the next ones are limited.
    let r = app.post_raw("/api/integrations/alertmanager", Some(&s.tokens["alertmanager"]), &am);
    assert_eq!((r.status, r.body["error"].as_str()), (429, Some("rate_limited")));
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    app.advance(60);
    assert_eq!(app.post_raw("/api/integrations/alertmanager", Some(&s.tokens["alertmanager"]), &am).status, 200);

    let exempt = TestApp::start_with(|c| {
        c.intake.rate_limit_per_minute = 1;
        c.intake.trusted_networks = vec!["127.0.0.0/8".parse().unwrap()];
    });
    let s2 = setup(&exempt);
    for _ in 0..3 {
        exempt.post_raw("/api/integrations/alertmanager", Some(&s2.tokens["alertmanager"]), &am).expect(200);
    }
}

#[test]
fn regenerated_tokens_stop_working_at_once() {
    let app = TestApp::start();
    let s = setup(&app);
    let am = fixture("alertmanager/amapi_single_firing.json");
    let old = s.tokens["alertmanager"].clone();
    app.post_raw("/api/integrations/alertmanager", Some(&old), &am).expect(200);
    let new = app
        .post(&format!("/api/routes/{}/intake-token", s.routes["alertmanager"]), &s.w.editor.1, json!({}))
        .expect(200);
    assert_eq!(app.post_raw("/api/integrations/alertmanager", Some(&old), &am).status, 401);
    app.post_raw("/api/integrations/alertmanager", new["intake_token"].as_str(), &am).expect(200);
}

#[test]
fn a_regenerated_token_can_leave_the_old_one_working_for_a_grace_period() {
    let app = TestApp::start();
    let s = setup(&app);
    let am = fixture("alertmanager/amapi_single_firing.json");
    let route = s.routes["alertmanager"];
    let old = s.tokens["alertmanager"].clone();
    let path = format!("/api/routes/{route}/intake-token");
    let r = app.post(&path, &s.w.editor.1, json!({"grace_seconds": 90_000}));
    assert_eq!((r.status, r.fields()), (400, vec!["grace_seconds".to_string()]), "{}", r.text);
    let new = app.post(&path, &s.w.editor.1, json!({"grace_seconds": 3600})).expect(200);
    let new_token = new["intake_token"].as_str().unwrap().to_string();
    assert_eq!(new["previous_token_prefix"], old[..12].to_string(), "{new}");
    assert_eq!(new["previous_token_expires_at"], "2026-11-23T10:00:00Z");
    // Both work during the hour; the old one stops after it.
    app.post_raw("/api/integrations/alertmanager", Some(&old), &am).expect(200);
    app.post_raw("/api/integrations/alertmanager", Some(&new_token), &am).expect(200);
    app.clock.advance_secs(3601);
    assert_eq!(app.post_raw("/api/integrations/alertmanager", Some(&old), &am).status, 401);
    app.post_raw("/api/integrations/alertmanager", Some(&new_token), &am).expect(200);
    // Regenerating again without grace ends every earlier token at once.
    let newer = app.post(&path, &s.w.editor.1, json!({})).expect(200);
    assert_eq!(newer["previous_token_prefix"], Value::Null);
    assert_eq!(app.post_raw("/api/integrations/alertmanager", Some(&new_token), &am).status, 401);
}

#[test]
fn matchers_are_an_allow_list_and_rejections_are_reported_not_stored() {
    let app = TestApp::start();
    let s = setup_with(&app, json!({"matchers": ["severity=\"critical\""]}));
    let body = json!({"alerts": [
        {"status": "firing", "labels": {"alertname": "A", "severity": "critical"}, "fingerprint": "a"},
        {"status": "firing", "labels": {"alertname": "B", "severity": "warning"}, "fingerprint": "b"}
    ]});
    let r =
        app.post_raw("/api/integrations/alertmanager", Some(&s.tokens["alertmanager"]), &body.to_string()).expect(200);
    assert_eq!(r[0]["outcome"], "created");
    assert!(r[1]["id"].is_null());
    assert!(r[1]["routing_error"].as_str().unwrap().contains("label severity"), "{}", r[1]);
    let page = app.get("/api/alerts", &s.w.admin).expect(200);
    assert_eq!(page["pagination"]["total_items"], 1);
    let logged = app.log.lines().iter().any(|l| l.contains("alert not routed") && l.contains("label severity"));
    assert!(logged, "the reason is logged");
}

#[test]
fn personal_tokens_post_with_a_team_hint() {
    let app = TestApp::start();
    let s = setup(&app);
    app.put(
        &format!("/api/routes/{}", s.routes["webhook"]),
        &s.w.editor.1,
        json!({"matchers": {"labels": {"kind": "batch"}}}),
    )
    .expect(200);
    let second = app
        .post("/api/routes", &s.w.editor.1, json!({"team_id": s.w.team, "name": "web-other", "source": "webhook", "matchers": {"labels": {"kind": "other"}}}))
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let tok = app
        .post("/api/profile/tokens", &s.w.responder.1, json!({"name": "scripts", "scopes": ["alerts:write"]}))
        .expect(201);
    let raw = tok["token"].as_str().unwrap();
    let r = app
        .post_raw("/api/integrations/webhook?team=infra", Some(raw), r#"{"title": "t", "labels": {"kind": "other"}}"#)
        .expect(200);
    assert_eq!(r[0]["route_id"], second, "routed by matchers among the team's routes");
    let r = app
        .post_raw(
            "/api/integrations/webhook",
            Some(raw),
            r#"{"title": "t", "team": "infra", "labels": {"kind": "batch"}}"#,
        )
        .expect(200);
    assert_eq!(r[0]["route_id"], s.routes["webhook"]);
    let r = app
        .post_raw("/api/integrations/webhook?team=infra", Some(raw), r#"{"title": "t", "labels": {"kind": "none"}}"#)
        .expect(200);
    assert!(r[0]["routing_error"].as_str().unwrap().contains("team infra"));
    assert_eq!(app.post_raw("/api/integrations/webhook", Some(raw), r#"{"title": "t"}"#).fields(), ["team"]);
    assert_eq!(
        app.post_raw("/api/integrations/webhook?team=web", Some(raw), r#"{"title": "t"}"#).fields(),
        ["team"],
        "another group's team"
    );
    let read =
        app.post("/api/profile/tokens", &s.w.responder.1, json!({"name": "ro", "scopes": ["alerts:read"]})).expect(201);
    assert_eq!(
        app.post_raw("/api/integrations/webhook?team=infra", read["token"].as_str(), r#"{"title": "t"}"#).status,
        403
    );
    let viewer =
        app.post("/api/profile/tokens", &s.w.viewer.1, json!({"name": "v", "scopes": ["alerts:write"]})).expect(201);
    assert_eq!(
        app.post_raw("/api/integrations/webhook?team=infra", viewer["token"].as_str(), r#"{"title": "t"}"#).status,
        403,
        "viewers cannot post alerts"
    );
}

#[test]
fn standard_webhooks_signatures_are_verified() {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let app = TestApp::start();
    let s = setup(&app);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    app.put(&format!("/api/routes/{}", s.routes["webhook"]), &s.w.editor.1, json!({"signing_secret": secret}))
        .expect(200);
    let key = base64::engine::general_purpose::STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let body = r#"{"title":"signed"}"#;
    let sign = |id: &str, ts: i64| {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{ts}.{body}").as_bytes());
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
    };
    let now = app.now().secs();
    let send = |id: &str, ts: i64, sig: &str| {
        let ts = ts.to_string();
        app.request(
            "POST",
            "/api/integrations/webhook",
            Some(&s.tokens["webhook"]),
            Some(&serde_json::from_str(body).unwrap()),
            &[("webhook-id", id), ("webhook-timestamp", &ts), ("webhook-signature", sig)],
        )
    };
    assert_eq!(app.post_raw("/api/integrations/webhook", Some(&s.tokens["webhook"]), body).status, 401, "unsigned");
    let r = send("msg_1", now, &format!("v1,bm90IGl0 {}", sign("msg_1", now)));
    assert_eq!(r.status, 200, "one of several signatures matches: {}", r.text);
    assert_eq!(send("msg_1", now, &sign("msg_1", now)).status, 409, "replayed webhook-id");
    assert_eq!(send("msg_2", now, &sign("msg_1", now)).status, 401, "signature of another message");
    assert_eq!(send("msg_3", now - 301, &sign("msg_3", now - 301)).status, 401, "too old");
    assert_eq!(send("msg_4", now + 301, &sign("msg_4", now + 301)).status, 401, "too far in the future");
    assert_eq!(send("msg_5", now - 299, &sign("msg_5", now - 299)).status, 200);
}

/// A small deterministic generator (xorshift64*), so a failure names a reproducible seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Values that break naive parsers: wrong types, extremes, control and astral characters.
fn weird(rng: &mut Rng) -> Value {
    let choices = [
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1e308),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(""),
        json!("x".repeat(5000)),
        json!("\u{0}\u{7}"),
        json!("💥\u{202e}"),
        json!([]),
        json!({}),
        json!([1, "a", null]),
        json!({"a": {"b": []}}),
        json!("2026-13-45T99:99:99Z"),
        json!("resolved"),
        json!("PROBLEM"),
    ];
    choices[rng.below(choices.len())].clone()
}

/// Drops keys and items, swaps values for weird ones, adds stray keys and repeats list items.
fn mutate(v: &Value, rng: &mut Rng) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                match rng.below(100) {
                    0..10 => {}
                    10..25 => {
                        out.insert(k.clone(), weird(rng));
                    }
                    _ => {
                        out.insert(k.clone(), mutate(v, rng));
                    }
                }
            }
            if rng.chance(10) {
                let keys = ["status", "labels", "tags", "severity", "payload", "alerts", "event_action", "extra"];
                out.insert(keys[rng.below(keys.len())].to_string(), weird(rng));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                if !rng.chance(10) {
                    out.push(mutate(item, rng));
                }
            }
            if !out.is_empty() && rng.chance(10) {
                let times = 2 + rng.below(40);
                out = out.iter().cycle().take(out.len() * times).cloned().collect();
            }
            Value::Array(out)
        }
        _ if rng.chance(15) => weird(rng),
        other => other.clone(),
    }
}

/// Mangled versions of every real example payload get a 2xx or a 4xx with a JSON body,
/// never a 5xx, a panic or a dropped connection.
#[test]
fn mangled_payloads_of_every_format_never_cause_a_server_error() {
    let app = TestApp::start();
    let s = setup(&app);
    let dir = format!("{}/examples/intake", env!("CARGO_MANIFEST_DIR"));
    let mut samples = Vec::new();
    for (file, path, source) in [
        ("alertmanager-firing.json", "/api/integrations/alertmanager", "alertmanager"),
        ("alertmanager-mixed.json", "/api/integrations/alertmanager", "alertmanager"),
        ("zabbix-problem.json", "/api/integrations/zabbix", "zabbix"),
        ("zabbix-recovery.json", "/api/integrations/zabbix", "zabbix"),
        ("grafana-firing.json", "/api/integrations/grafana", "grafana"),
        ("webhook.json", "/api/integrations/webhook", "webhook"),
        ("pagerduty-trigger.json", "/v2/enqueue", "events"),
        ("pagerduty-resolve.json", "/v2/enqueue", "events"),
    ] {
        let body: Value = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{file}")).unwrap()).unwrap();
        samples.push((file, path, s.tokens[source].clone(), body));
    }
    let seed = 0x1D_5EED;
    let mut rng = Rng(seed);
    let mut answers = std::collections::BTreeMap::new();
    for n in 0..600 {
        let (file, path, token, body) = &samples[rng.below(samples.len())];
        let mut text = mutate(body, &mut rng).to_string();
        if rng.chance(3) {
            let cut = rng.below(text.len() + 1);
            text = text.chars().take(cut).collect();
        }
        let r = post_intake(&app, path, token, &text);
        assert!(
            r.status < 500 && (r.body.is_object() || r.body.is_array()),
            "case {n} (seed {seed:#x}) from {file}: {} {}\n{text}",
            r.status,
            r.text
        );
        *answers.entry(r.status).or_insert(0) += 1;
    }
    // Both kinds of answer occur: the mutations are neither all harmless nor all fatal.
    eprintln!("answers by status: {answers:?}");
    assert!(answers.keys().any(|s| *s < 300) && answers.keys().any(|s| *s >= 400), "{answers:?}");
}

/// PagerDuty Events v2 `links[]` and `images[]` are all kept: on the alert, on its page (as
/// links: the page loads nothing from the sender), and replaced by a repeat that brings new ones.
#[test]
fn pagerduty_links_and_images_are_kept_shown_and_updated() {
    let app = TestApp::start();
    let s = setup(&app);
    let key = &s.tokens["events"];
    let event = |links: Value| {
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": "cpu-1",
               "payload": {"summary": "CPU high", "source": "web-1", "severity": "error"},
               "links": links,
               "images": [{"src": "https://grafana.example/render/cpu.png", "href": "https://grafana.example/d/cpu", "alt": "CPU graph"}]})
        .to_string()
    };
    let first = json!([{"href": "https://grafana.example/d/cpu", "text": "Dashboard"}, {"href": "https://runbooks.example/cpu"}]);
    let r = app.post_raw("/v2/enqueue", None, &event(first)).expect(202);
    let id = r["incident_id"].as_i64().unwrap();
    let a = alert(&app, &s, id);
    assert_eq!(
        a["links"],
        json!([{"href": "https://grafana.example/d/cpu", "text": "Dashboard"}, {"href": "https://runbooks.example/cpu", "text": ""}])
    );
    assert_eq!(
        a["images"][0],
        json!({"src": "https://grafana.example/render/cpu.png", "href": "https://grafana.example/d/cpu", "alt": "CPU graph"})
    );
    assert_eq!(a["event_link"], "https://grafana.example/d/cpu");
    let page = app
        .request("GET", &format!("/alerts/{id}"), None, None, &[("Cookie", &format!("ir_session={}", s.w.admin))])
        .text;
    assert!(page.contains("https://runbooks.example/cpu") && page.contains(">CPU graph<"), "{page}");
    assert!(!page.contains("src=\"https://grafana"), "images are linked, not loaded");
    // A repeat with other links replaces them; one without any keeps them.
    app.post_raw("/v2/enqueue", None, &event(json!([{"href": "https://status.example/inc/9", "text": "Status"}])))
        .expect(202);
    assert_eq!(alert(&app, &s, id)["links"], json!([{"href": "https://status.example/inc/9", "text": "Status"}]));
    app.post_raw("/v2/enqueue", None, &event(json!([]))).expect(202);
    assert_eq!(alert(&app, &s, id)["links"][0]["text"], "Status");
}

/// PagerDuty Change Events on `/v2/change/enqueue`: 202 as PagerDuty answers, recorded on the
/// route's team (`GET /api/teams/{id}/changes`, the alert page), nobody paged; a bad routing key
/// or a missing summary gets PagerDuty's error body. python-pagerduty's client sends one too.
#[test]
fn change_events_are_recorded_on_the_team_and_page_nobody() {
    let app = TestApp::start();
    let s = setup(&app);
    let key = &s.tokens["events"];
    let change = json!({"routing_key": key,
        "payload": {"summary": "Deployed api v2.3", "source": "ci", "timestamp": "2026-11-23T08:30:00.000+0000",
                    "custom_details": {"commit": "abc123"}},
        "links": [{"href": "https://ci.example/build/7", "text": "Build 7"}]});
    let r = app.post_raw("/v2/change/enqueue", None, &change.to_string());
    assert_eq!(
        (r.status, &r.body),
        (202, &json!({"status": "success", "message": "Change event processed"})),
        "{}",
        r.text
    );
    let bad = app.post_raw(
        "/v2/change/enqueue",
        None,
        &json!({"routing_key": "nope", "payload": {"summary": "x"}}).to_string(),
    );
    assert_eq!((bad.status, bad.body["errors"][0].as_str()), (400, Some("Invalid routing key")));
    let missing = app.post_raw("/v2/change/enqueue", None, &json!({"routing_key": key, "payload": {}}).to_string());
    assert_eq!(missing.status, 400);
    assert!(missing.text.contains("payload.summary"), "{}", missing.text);
    let team = s.w.team;
    let list = app.get(&format!("/api/teams/{team}/changes?from=2026-11-01T00:00:00Z"), &s.w.admin).expect(200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["summary"], "Deployed api v2.3");
    assert_eq!(list[0]["details"]["commit"], "abc123");
    assert_eq!(list[0]["links"][0]["text"], "Build 7");
    assert_eq!(list[0]["happened_at"], "2026-11-23T08:30:00Z");
    assert_eq!(app.get("/api/alerts", &s.w.admin).expect(200)["pagination"]["total_items"], 0, "no alert, no page");
    // The alert page of an alert that fires after it shows it.
    let r = app
        .post_raw(
            "/v2/enqueue",
            None,
            &json!({"routing_key": key, "event_action": "trigger",
        "payload": {"summary": "API errors", "source": "api", "severity": "error"}})
            .to_string(),
        )
        .expect(202);
    let id = r["incident_id"].as_i64().unwrap();
    let page = app
        .request("GET", &format!("/alerts/{id}"), None, None, &[("Cookie", &format!("ir_session={}", s.w.admin))])
        .text;
    assert!(page.contains("Changes around it") && page.contains("Deployed api v2.3"), "{page}");
    // The real client.
    if let Some(python) = crate::tools::python_with("pagerduty") {
        let script = format!(
            // The client only takes https base URLs; its private `_url` points it at this
            // loopback test server.
            "import pagerduty\nc = pagerduty.EventsApiV2Client({key:?})\nc._url = {base:?}\n\
             c.send_change_event(payload={{'summary': 'Rotated the DB password', 'source': 'vault'}}, \
             links=[{{'href': 'https://vault.example/ui', 'text': 'Vault'}}])",
            base = app.base
        );
        let out = std::process::Command::new(python).args(["-c", &script]).output().unwrap();
        assert!(out.status.success(), "python-pagerduty: {}", String::from_utf8_lossy(&out.stderr));
        let list = app.get(&format!("/api/teams/{team}/changes"), &s.w.admin).expect(200);
        assert_eq!(list[0]["summary"], "Rotated the DB password", "{list}");
        assert_eq!(list[0]["links"][0]["href"], "https://vault.example/ui");
    }
}

/// The PagerDuty client libraries people already run send to IncidentRelay unchanged but for
/// the address: pdpyras and python-pagerduty to `/v2/enqueue` (trigger, acknowledge, resolve),
/// pypd to `/api/events/ingest/` (it adds a trailing slash).
#[test]
fn pagerduty_client_libraries_trigger_acknowledge_and_resolve() {
    let app = TestApp::start();
    let s = setup(&app);
    let key = &s.tokens["events"];
    let run = |module: &str, script: String| {
        let Some(python) = crate::tools::python_with(module) else { return false };
        let out = std::process::Command::new(python).args(["-W", "ignore", "-c", &script]).output().unwrap();
        assert!(
            out.status.success(),
            "{module}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        true
    };
    let status = |dedup: &str| {
        let page = app.get(&format!("/api/alerts?search={dedup}"), &s.w.admin).expect(200);
        let items = page["items"].as_array().unwrap().clone();
        items.iter().find(|a| a["dedup_key"] == dedup).map(|a| a["status"].as_str().unwrap_or("").to_string())
    };
    let base = &app.base;
    let pdpyras = format!(
        "import pdpyras\ns = pdpyras.EventsAPISession({key:?})\ns.url = {base:?}\n\
         k = s.trigger('Disk full on db-3', 'db-3', dedup_key='pdpyras-disk', severity='error', \
                       links=[{{'href': 'https://grafana.example/d/1', 'text': 'Dashboard'}}])\n\
         assert k == 'pdpyras-disk', k\nprint(s.acknowledge(k))"
    );
    if run("pdpyras", pdpyras) {
        app.cycle();
        assert_eq!(status("pdpyras-disk").as_deref(), Some("acknowledged"));
        run(
            "pdpyras",
            format!(
                "import pdpyras\ns = pdpyras.EventsAPISession({key:?})\ns.url = {base:?}\ns.resolve('pdpyras-disk')"
            ),
        );
        assert_eq!(status("pdpyras-disk").as_deref(), Some("resolved"));
    }
    let python_pagerduty = format!(
        "import pagerduty\nc = pagerduty.EventsApiV2Client({key:?})\nc._url = {base:?}\n\
         k = c.trigger('API errors', 'api-1', dedup_key='pd-api', severity='critical')\nc.resolve(k)"
    );
    if run("pagerduty", python_pagerduty) {
        app.cycle();
        assert_eq!(status("pd-api").as_deref(), Some("resolved"));
    }
    let pypd = format!(
        "import pypd\npypd.EventV2.base_url = {url:?}\n\
         pypd.EventV2.create(data={{'routing_key': {key:?}, 'event_action': 'trigger', 'dedup_key': 'pypd-queue', \
         'payload': {{'summary': 'Queue backlog', 'source': 'queue-1', 'severity': 'warning'}}}})",
        url = format!("{base}/api/events/ingest")
    );
    if run("pypd", pypd) {
        app.cycle();
        assert_eq!(status("pypd-queue").as_deref(), Some("firing"));
    }
}

/// incident.io pages the on-call person: its signed webhooks find their route by the signing
/// secret (no token), a declared incident fires with its lead assigned, a closed one resolves,
/// a declined one resolves saying so, redeliveries and other event types are answered 204 and
/// change nothing, and a wrong signature is refused.
#[test]
fn incident_io_webhooks_page_and_resolve_by_their_signature() {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let app = TestApp::start();
    let s = setup(&app);
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let route = app
        .post(
            "/api/routes",
            &s.w.editor.1,
            json!({"team_id": s.w.team, "name": "incidents", "source": "incidentio", "rotation_id": s.rotation}),
        )
        .expect(201);
    assert!(route["warnings"].to_string().contains("signing secret"), "{route}");
    let route =
        app.put(&format!("/api/routes/{}", route["id"]), &s.w.editor.1, json!({"signing_secret": secret})).expect(200);
    assert!(!route["warnings"].to_string().contains("signing secret"));
    // rick's Slack user id is the lead's in the fixtures.
    app.put(&format!("/api/admin/users/{}", s.w.responder.0), &s.w.admin, json!({"slack_user_id": "U02AYNF2XJM"}))
        .expect(200);

    let key = base64::engine::general_purpose::STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap();
    let send = |id: &str, body: &str, key: &[u8]| {
        let ts = app.now().secs();
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(format!("{id}.{ts}.{body}").as_bytes());
        let sig = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
        let ts = ts.to_string();
        let headers = [
            ("webhook-id", id),
            ("webhook-timestamp", ts.as_str()),
            ("webhook-signature", sig.as_str()),
            ("Content-Type", "application/json"),
        ];
        crate::support::send(
            &app.agent,
            "POST",
            &app.url("/api/integrations/incidentio"),
            None,
            Some(body.to_string()),
            &headers,
        )
    };
    let alerts =
        || app.get("/api/alerts?source=incidentio", &s.w.admin).expect(200)["items"].as_array().unwrap().clone();

    let created = fixture("incidentio/incident_created_v2.json");
    assert_eq!(send("msg_1", &created, b"not the secret").status, 401, "a wrong signature");
    assert!(alerts().is_empty());
    let r = send("msg_1", &created, &key);
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let a = alerts().remove(0);
    assert_eq!((a["title"].as_str(), a["status"].as_str()), (Some("INC-123: Our database is sad"), Some("firing")));
    assert_eq!(a["severity"], "high");
    assert_eq!(a["assignee"]["username"], "rick", "the incident lead, by Slack user id");
    assert_eq!(a["dedup_key"], "01FDAG4SAP5TYPT98WGR2N7W91");
    assert_eq!(send("msg_1", &created, &key).status, 204, "a redelivery is answered 204…");
    assert_eq!(alerts()[0]["alert_count"], 1, "…and changes nothing");
    assert_eq!(send("msg_2", &fixture("incidentio/incident_updated_v2_live.json"), &key).status, 204);
    assert_eq!(alerts().len(), 1, "an update of the same incident is the same alert");
    assert_eq!(send("msg_3", &fixture("incidentio/follow_up_created_v2.json"), &key).status, 204, "other events: 204");
    assert!(
        app.log.lines().iter().any(|l| l.contains("incident.io event ignored") && l.contains("follow_up_created_v2"))
    );
    assert_eq!(send("msg_4", &fixture("incidentio/incident_updated_v2_closed.json"), &key).status, 204);
    assert_eq!(alerts()[0]["status"], "resolved");

    let declined = fixture("incidentio/incident_updated_v2_declined.json").replace("\"declined\"", "\"live\"");
    assert_eq!(send("msg_5", &declined, &key).status, 204);
    assert_eq!(send("msg_6", &fixture("incidentio/incident_updated_v2_declined.json"), &key).status, 204);
    let false_alarm = alerts().into_iter().find(|a| a["title"] == "INC-124: False alarm").expect("the second incident");
    assert_eq!(false_alarm["status"], "resolved");
    let events = app.get(&format!("/api/alerts/{}/events", false_alarm["id"]), &s.w.admin).expect(200);
    let resolved = events.as_array().unwrap().iter().find(|e| e["event_type"] == "resolved").unwrap().clone();
    assert_eq!(resolved["message"], "resolved: declined in incident.io");

    let r = send("msg_7", r#"{"event_type": "public_incident.incident_created_v2"}"#, &key);
    assert_eq!((r.status, r.fields()), (400, vec!["public_incident.incident_created_v2".to_string()]));
}
