//! Notification delivery: the outbox, retries and backoff, per-channel isolation, every
//! channel against a fake provider, message edits, chat buttons, one-click links, voice
//! callbacks and the channel test.

use incidentrelay::clock::Clock;
use incidentrelay::store::outbox;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake::{Fake, Reply};
use crate::support::{TestApp, World};

/// A team with a rotation (eddie on call), and an `alertmanager` route using `channels`.
pub struct Setup {
    pub w: World,
    token: String,
    route: i64,
}

pub fn setup(app: &TestApp, channels: &[Value]) -> (Setup, Vec<i64>) {
    let w = World::new(app);
    app.put(&format!("/api/admin/users/{}", w.editor.0), &w.admin, json!({"phone": "+4930123456", "telegram_user_id": "111", "slack_user_id": "U111", "mattermost_user_id": "mm-eddie"}))
        .expect(200);
    let rot = app
        .post(
            "/api/rotations",
            &w.editor.1,
            json!({"team_id": w.team, "name": "R", "start_at": "2026-11-01T00:00:00Z"}),
        )
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    app.post(&format!("/api/rotations/{rot}/members"), &w.editor.1, json!({"user_id": w.editor.0})).expect(201);
    let mut ids = Vec::new();
    for (i, ch) in channels.iter().enumerate() {
        let mut body = ch.clone();
        body["team_id"] = json!(w.team);
        body["name"] = json!(format!("ch{i}"));
        ids.push(app.post("/api/channels", &w.editor.1, body).expect(201)["id"].as_i64().unwrap());
    }
    let r = app
        .post(
            "/api/routes",
            &w.editor.1,
            json!({"team_id": w.team, "name": "am", "source": "alertmanager", "rotation_id": rot, "channel_ids": ids}),
        )
        .expect(201);
    (Setup { w, token: r["intake_token"].as_str().unwrap().to_string(), route: r["id"].as_i64().unwrap() }, ids)
}

impl Setup {
    /// The `alertmanager` route's intake token.
    pub fn token(&self) -> String {
        self.token.clone()
    }
}

pub fn fire(app: &TestApp, s: &Setup, fp: &str, severity: &str) -> i64 {
    let body = json!({"alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "instance": fp, "severity": severity},
                                  "annotations": {"summary": format!("Disk full on {fp}")}, "fingerprint": fp}]});
    app.post_raw("/api/integrations/alertmanager", Some(&s.token), &body.to_string()).expect(200)[0]["id"]
        .as_i64()
        .unwrap()
}

pub fn deliveries(app: &TestApp, s: &Setup, alert: i64) -> Vec<Value> {
    app.get(&format!("/api/alerts/{alert}/deliveries"), &s.w.admin).expect(200).as_array().unwrap().clone()
}

pub fn webhook(url: &str) -> Value {
    json!({"channel_type": "webhook", "config": {"webhook_url": format!("{url}/hook")}})
}

#[test]
fn webhook_page_ack_and_recovery_are_delivered_with_signed_headers() {
    let app = TestApp::start();
    let fake = Fake::start();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (s, _) = setup(
        &app,
        &[
            json!({"channel_type": "webhook", "config": {"webhook_url": format!("{}/hook", fake.url), "secret": secret, "headers": {"X-Team": "infra"}}}),
        ],
    );
    let id = fire(&app, &s, "db-1", "critical");
    let report = app.deliver();
    assert_eq!(report.count("dispatch"), 1);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hook"));
    let p = r.json();
    assert_eq!(p["event"], "triggered");
    assert_eq!(p["alert"]["id"], id);
    assert_eq!(p["alert"]["title"], "Disk full on db-1");
    assert_eq!(p["alert"]["url"], format!("https://oncall.example/alerts/{id}"));
    assert_eq!(p["team"]["slug"], "infra");
    assert_eq!(p["assignee"]["username"], "eddie");
    assert!(p["links"]["acknowledge"].as_str().unwrap().starts_with("https://oncall.example/a/"));
    assert_eq!(r.header("x-team"), Some("infra"));
    // Standard Webhooks: verify like a receiver would.
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let key = base64::engine::general_purpose::STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let (wid, ts) = (r.header("webhook-id").unwrap(), r.header("webhook-timestamp").unwrap());
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(format!("{wid}.{ts}.{}", r.body).as_bytes());
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(r.header("webhook-signature"), Some(expected.as_str()));
    let d = deliveries(&app, &s, id);
    assert_eq!((d[0]["status"].as_str(), d[0]["attempts"].as_i64()), (Some("sent"), Some(1)));
    assert!(d[0]["sent_at"].is_string());
    let events = app.get(&format!("/api/alerts/{id}/events"), &s.w.admin).expect(200);
    assert!(events.as_array().unwrap().iter().any(|e| e["event_type"] == "notified"));

    app.post(&format!("/api/alerts/{id}/ack"), &s.w.responder.1, json!({})).expect(200);
    app.deliver();
    app.post(&format!("/api/alerts/{id}/resolve"), &s.w.responder.1, json!({})).expect(200);
    app.deliver();
    let events: Vec<String> = fake.requests().iter().map(|r| r.json()["event"].as_str().unwrap().to_string()).collect();
    assert_eq!(events, ["triggered", "acknowledged", "resolved"]);
    let last = fake.requests()[2].json();
    assert_eq!(
        (last["alert"]["status"].as_str(), last["alert"]["resolved_by"].as_str()),
        (Some("resolved"), Some("rick"))
    );
}

#[test]
fn retries_back_off_honour_retry_after_and_give_up() {
    let app = TestApp::start_with(|c| c.delivery.max_attempts = 3);
    let fake = Fake::start();
    let (s, _) = setup(&app, &[webhook(&fake.url)]);
    // 500, then success: the same delivery (same webhook-id) is retried.
    fake.push(Reply::status(500));
    let id = fire(&app, &s, "a", "critical");
    app.deliver();
    let d = &deliveries(&app, &s, id)[0];
    assert_eq!((d["status"].as_str(), d["attempts"].as_i64()), (Some("failed"), Some(1)));
    assert!(d["last_error"].as_str().unwrap().contains("HTTP 500"));
    let next = incidentrelay::domain::time::Ts::parse(d["next_attempt_at"].as_str().unwrap()).unwrap();
    let wait = next.secs_since(app.now());
    assert!((8..=12).contains(&wait), "first backoff ~10 s with jitter, got {wait}");
    app.deliver();
    assert_eq!(fake.count(), 1, "not retried before its time");
    app.advance(13);
    app.deliver();
    let d = &deliveries(&app, &s, id)[0];
    assert_eq!((d["status"].as_str(), d["attempts"].as_i64()), (Some("sent"), Some(2)));
    let ids: Vec<_> = fake.requests().iter().map(|r| r.header("webhook-id").unwrap().to_string()).collect();
    assert_eq!(ids[0], ids[1], "a retry carries the same webhook-id");

    // 429 with Retry-After.
    fake.push(Reply::status(429).header("Retry-After", "120"));
    let id = fire(&app, &s, "b", "critical");
    app.deliver();
    let d = &deliveries(&app, &s, id)[0];
    let next = incidentrelay::domain::time::Ts::parse(d["next_attempt_at"].as_str().unwrap()).unwrap();
    assert_eq!(next.secs_since(app.now()), 120);
    app.advance(121);
    app.deliver();
    assert_eq!(deliveries(&app, &s, id)[0]["status"], "sent");

    // 400 is permanent: dead at once, shown on the timeline.
    fake.push(Reply::status(400));
    let id = fire(&app, &s, "c", "critical");
    app.deliver();
    let d = &deliveries(&app, &s, id)[0];
    assert_eq!((d["status"].as_str(), d["attempts"].as_i64()), (Some("dead"), Some(1)));
    let events = app.get(&format!("/api/alerts/{id}/events"), &s.w.admin).expect(200);
    let failed = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "delivery_failed")
        .expect("failure on the timeline");
    assert!(failed["message"].as_str().unwrap().contains("HTTP 400"));

    // Retryable failures stop after max_attempts.
    fake.default(Reply::status(503));
    let id = fire(&app, &s, "d", "critical");
    for _ in 0..3 {
        app.deliver();
        app.advance(3600);
    }
    let d = &deliveries(&app, &s, id)[0];
    assert_eq!((d["status"].as_str(), d["attempts"].as_i64()), (Some("dead"), Some(3)));
    assert!(d["last_error"].as_str().unwrap().starts_with("gave up after 3 attempts"));
}

#[test]
fn timeouts_are_retried() {
    let app = TestApp::start_with(|c| c.delivery.timeout_seconds = 1);
    let fake = Fake::start();
    let (s, _) = setup(&app, &[webhook(&fake.url)]);
    fake.push(Reply::ok("{}").delayed(Duration::from_millis(2500)));
    let id = fire(&app, &s, "slow", "critical");
    app.deliver();
    let d = &deliveries(&app, &s, id)[0];
    assert_eq!(d["status"], "failed");
    assert!(d["last_error"].as_str().unwrap().contains("timed out"), "{d}");
}

#[test]
fn private_addresses_are_refused_unless_allowed() {
    let app = TestApp::start_with(|c| c.security.outbound_allowlist.clear());
    let fake = Fake::start();
    let (s, _) = setup(&app, &[webhook(&fake.url)]);
    let id = fire(&app, &s, "x", "critical");
    app.deliver();
    let d = &deliveries(&app, &s, id)[0];
    assert_eq!(d["status"], "dead");
    assert!(d["last_error"].as_str().unwrap().contains("outbound_allowlist"), "{d}");
    assert_eq!(fake.count(), 0);
}

#[test]
fn severity_filters_pick_channels() {
    let app = TestApp::start();
    let fake = Fake::start();
    let mut crit = webhook(&fake.url);
    crit["notify_on_severities"] = json!(["critical"]);
    let (s, _) = setup(&app, &[crit, webhook(&fake.url)]);
    let warn = fire(&app, &s, "w", "warning");
    assert_eq!(deliveries(&app, &s, warn).len(), 1, "only the unfiltered channel");
    let c = fire(&app, &s, "c", "critical");
    assert_eq!(deliveries(&app, &s, c).len(), 2);
}

#[test]
fn an_outage_of_one_channel_delays_nothing_else_and_loses_nothing() {
    let app = TestApp::start_with(|c| c.delivery.concurrency_per_channel = 2);
    let broken = Fake::start();
    let healthy = Fake::start();
    let (s, ids) = setup(&app, &[webhook(&broken.url), webhook(&healthy.url)]);
    // The broken channel hangs for a while, then fails, for its first 6 requests.
    for _ in 0..6 {
        broken.push(Reply::status(500).delayed(Duration::from_millis(300)));
    }
    broken.default(Reply::ok("{}"));
    let alerts: Vec<i64> = (0..6).map(|i| fire(&app, &s, &format!("o{i}"), "critical")).collect();
    let start = Instant::now();
    let engine = app.engine.clone();
    app.rt.block_on(async move { engine.run_cycle().await });
    // The healthy channel gets all six without waiting for the broken one.
    let got = healthy.wait(6, Duration::from_secs(5));
    assert_eq!(got.len(), 6);
    assert!(start.elapsed() < Duration::from_millis(900), "healthy deliveries took {:?}", start.elapsed());
    let engine = app.engine.clone();
    app.rt.block_on(async move { engine.settle().await });
    // Recover: retry until everything is sent.
    for _ in 0..10 {
        app.advance(3600);
        app.deliver();
    }
    for a in &alerts {
        for d in deliveries(&app, &s, *a) {
            assert_eq!(d["status"], "sent", "{d}");
        }
    }
    // Exactly one successful request per delivery id on the broken channel: nothing twice.
    let ok_ids: Vec<String> =
        broken.requests().iter().skip(6).map(|r| r.header("webhook-id").unwrap().to_string()).collect();
    let mut unique = ok_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ok_ids.len(), 6);
    assert_eq!(unique.len(), 6, "no delivery sent twice after recovery");
    let _ = ids;
}

#[test]
fn rows_left_sending_by_a_crash_go_out_again_when_their_lease_expires() {
    let app = TestApp::start();
    let fake = Fake::start();
    let (s, _) = setup(&app, &[webhook(&fake.url)]);
    let id = fire(&app, &s, "crash", "critical");
    // Another process claims the page (leased for 15 s) and dies before sending it.
    let (db, now) = (app.app.state().db.clone(), app.clock.now());
    let lost = db.write_blocking(move |c| outbox::claim(c, now, 15, 10, &|_| 4)).unwrap();
    assert_eq!(lost.len(), 1);
    app.deliver();
    assert_eq!(fake.count(), 0, "a row whose lease runs is left to the process holding it");
    app.clock.advance_secs(16);
    app.deliver();
    assert_eq!(deliveries(&app, &s, id)[0]["status"], "sent");
    assert_eq!(fake.count(), 1);
    assert_eq!(
        fake.requests()[0].header("webhook-id"),
        Some(lost[0].delivery.message_id.as_str()),
        "the same webhook-id as the lost attempt"
    );
}

#[test]
fn a_restarted_leader_requeues_every_row_left_sending_at_once() {
    let app = TestApp::start();
    let fake = Fake::start();
    let (s, _) = setup(&app, &[webhook(&fake.url)]);
    let id = fire(&app, &s, "crash", "critical");
    let (db, now) = (app.app.state().db.clone(), app.clock.now());
    db.write_blocking(move |c| outbox::claim(c, now, 15, 10, &|_| 4)).unwrap();
    let engine = app.engine.clone();
    let n = app.rt.block_on(async move { engine.requeue_interrupted(true).await }).unwrap();
    assert_eq!(n, 1);
    app.deliver();
    assert_eq!(deliveries(&app, &s, id)[0]["status"], "sent");
    assert_eq!(fake.count(), 1);
}

#[test]
fn slack_bot_posts_updates_and_verifies_button_clicks() {
    let app = TestApp::start();
    let slack = Fake::start();
    slack.default(Reply::ok(r#"{"ok": true, "channel": "C42", "ts": "1700000000.000100"}"#));
    let (s, ids) = setup(
        &app,
        &[
            json!({"channel_type": "slack", "config": {"mode": "bot_api", "bot_token": "xoxb-1", "channel_id": "C42", "signing_secret": "sssh", "api_url": slack.url}}),
        ],
    );
    let id = fire(&app, &s, "s1", "critical");
    app.deliver();
    let post = &slack.requests()[0];
    assert_eq!(post.path, "/chat.postMessage");
    assert_eq!(post.header("authorization"), Some("Bearer xoxb-1"));
    let blocks = post.json()["blocks"].clone();
    let buttons = blocks.as_array().unwrap().last().unwrap()["elements"].clone();
    let ack_value = buttons[0]["value"].as_str().unwrap().to_string();
    assert!(ack_value.starts_with(&format!("{}.{id}.0.a.", ids[0])), "channel, alert, episode, action");

    let click = |value: &str, ts: i64, secret: &str, user: &str| {
        let payload = json!({"type": "block_actions", "user": {"id": user}, "actions": [{"action_id": "incidentrelay_acknowledge", "value": value}]});
        let body = format!("payload={}", urlencode(&payload.to_string()));
        let sig = format!("v0={}", hex_hmac(secret, &format!("v0:{ts}:{body}")));
        let ts = ts.to_string();
        send_form(
            &app,
            "/api/integrations/slack/actions",
            &body,
            &[("X-Slack-Request-Timestamp", &ts), ("X-Slack-Signature", &sig)],
        )
    };
    let now = app.now().secs();
    assert_eq!(click(&ack_value, now, "wrong", "U111").status, 401, "forged signature");
    assert_eq!(click(&ack_value, now - 301, "sssh", "U111").status, 401, "stale timestamp");
    let forged_value = ack_value.replacen(&format!(".{id}."), ".999.", 1);
    assert_eq!(click(&forged_value, now, "sssh", "U111").status, 401, "forged button value");
    assert_eq!(app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200)["status"], "firing");
    assert_eq!(click(&ack_value, now, "sssh", "U111").status, 200);
    let a = app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200);
    assert_eq!((a["status"].as_str(), a["acknowledged_by"].as_str()), (Some("acknowledged"), Some("eddie")));
    assert_eq!(click(&ack_value, now, "sssh", "U111").status, 200, "a replayed click is harmless (idempotent)");
    app.deliver();
    let update = slack.requests().into_iter().find(|r| r.path == "/chat.update").expect("the message is edited");
    let u = update.json();
    assert_eq!((u["channel"].as_str(), u["ts"].as_str()), (Some("C42"), Some("1700000000.000100")));
    let elements = u["blocks"].as_array().unwrap().last().unwrap()["elements"].clone();
    assert_eq!(elements[0]["action_id"], "incidentrelay_resolve", "acknowledged: Resolve is first");
    // "Snooze 1 h", signed like the others: acknowledged for an hour, then firing again.
    let snooze_value =
        buttons.as_array().unwrap().iter().find(|b| b["action_id"] == "incidentrelay_snooze").unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string();
    assert!(snooze_value.starts_with(&format!("{}.{id}.0.s.", ids[0])));
    assert_eq!(click(&snooze_value.replacen(".s.", ".r.", 1), now, "sssh", "U111").status, 401, "the action is signed");
    assert_eq!(click(&snooze_value, now, "sssh", "U111").status, 200);
    let a = app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200);
    let until = incidentrelay::domain::time::Ts::parse(a["snoozed_until"].as_str().unwrap()).unwrap();
    assert_eq!(until.secs() - now, 3600, "snoozed for an hour");
    app.advance(3601);
    app.deliver();
    assert_eq!(
        app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200)["status"],
        "firing",
        "and then firing again"
    );
}

#[test]
fn mattermost_bot_edits_posts_and_checks_who_clicks() {
    let app = TestApp::start();
    let mm = Fake::start();
    mm.default(Reply::ok(r#"{"id": "post-1"}"#));
    let (s, ids) = setup(
        &app,
        &[
            json!({"channel_type": "mattermost", "config": {"mode": "bot_api", "api_url": mm.url, "bot_token": "tok", "channel_id": "town"}}),
        ],
    );
    let id = fire(&app, &s, "m1", "critical");
    app.deliver();
    let post = &mm.requests()[0];
    assert_eq!((post.method.as_str(), post.path.as_str()), ("POST", "/api/v4/posts"));
    let ctx = post.json()["props"]["attachments"][0]["actions"][0]["integration"]["context"].clone();
    assert_eq!(ctx["alert_id"], id);
    let click = |ctx: &Value, user: &str| {
        app.post_raw(
            "/api/integrations/mattermost/actions",
            None,
            &json!({"user_id": user, "context": ctx}).to_string(),
        )
    };
    let mut forged = ctx.clone();
    forged["action"] = json!("r");
    assert_eq!(click(&forged, "mm-eddie").status, 403);
    let r = click(&ctx, "mm-stranger");
    assert!(r.body["ephemeral_text"].as_str().unwrap().contains("not linked"));
    app.put(&format!("/api/admin/users/{}", s.w.viewer.0), &s.w.admin, json!({"mattermost_user_id": "mm-vera"}))
        .expect(200);
    let r = click(&ctx, "mm-vera");
    assert!(r.body["ephemeral_text"].as_str().unwrap().contains("responder"), "viewers may not act: {}", r.text);
    let r = click(&ctx, "mm-eddie");
    assert_eq!(r.body["ephemeral_text"], format!("Alert #{id} acknowledged by eddie."));
    app.deliver();
    let patch = mm.requests().into_iter().find(|r| r.method == "PUT").expect("the post is edited");
    assert_eq!(patch.path, "/api/v4/posts/post-1/patch");
    let actions = patch.json()["props"]["attachments"][0]["actions"].clone();
    let buttons: Vec<&str> = actions.as_array().unwrap().iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(buttons, ["resolve", "snooze"]);
    app.post(&format!("/api/alerts/{id}/resolve"), &s.w.editor.1, json!({})).expect(200);
    app.deliver();
    let last = mm.requests().last().unwrap().clone();
    assert_eq!(last.path, "/api/v4/posts/post-1/patch");
    let att = &last.json()["props"]["attachments"][0];
    assert!(att.get("actions").is_none(), "resolved: no buttons");
    assert_eq!(att["color"], "#2E7D32");
    let _ = ids;
}

#[test]
fn telegram_sends_edits_and_takes_callbacks_by_webhook_and_polling() {
    let app = TestApp::start();
    let tg = Fake::start();
    tg.default(Reply::ok(r#"{"ok": true, "result": {"message_id": 5}}"#));
    let (s, ids) = setup(
        &app,
        &[
            json!({"channel_type": "telegram", "config": {"bot_token": "123:ABC", "chat_id": -100, "api_url": tg.url, "updates": "webhook"}}),
        ],
    );
    let ch = ids[0];
    let id = fire(&app, &s, "t1", "critical");
    app.deliver();
    let send = &tg.requests()[0];
    assert_eq!(send.path, "/bot123:ABC/sendMessage");
    let data = send.json()["reply_markup"]["inline_keyboard"][0][0]["callback_data"].as_str().unwrap().to_string();
    let update = |data: &str, from: i64| json!({"update_id": 1, "callback_query": {"id": "q1", "from": {"id": from}, "data": data}});
    let secret = incidentrelay::notify::telegram::webhook_secret(&app.engine.senders.secret, ch);
    let post = |token: &str, body: &Value| {
        app.request(
            "POST",
            &format!("/api/integrations/telegram/{ch}"),
            None,
            Some(body),
            &[("X-Telegram-Bot-Api-Secret-Token", token)],
        )
    };
    assert_eq!(post("wrong", &update(&data, 111)).status, 401);
    let forged = data.replacen(&format!(":{id}:"), ":999:", 1);
    assert_eq!(post(&secret, &update(&forged, 111)).body["text"], "This button is not valid.");
    let r = post(&secret, &update(&data, 111));
    assert_eq!(r.body["method"], "answerCallbackQuery");
    assert_eq!(r.body["text"], format!("Alert #{id} acknowledged by eddie."));
    app.deliver();
    let edit = tg.requests().into_iter().find(|r| r.path.ends_with("/editMessageText")).expect("edited");
    assert_eq!(edit.json()["message_id"], 5);

    // Polling mode: button presses are fetched with getUpdates.
    app.put(&format!("/api/channels/{ch}"), &s.w.editor.1, json!({"config": {"updates": "polling"}})).expect(200);
    let id2 = fire(&app, &s, "t2", "critical");
    app.deliver();
    let data2 = tg.requests().last().unwrap().json()["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
        .as_str()
        .unwrap()
        .to_string();
    tg.push(Reply::ok("{\"ok\": true}"));
    tg.push(Reply::ok(&json!({"ok": true, "result": [{"update_id": 77, "callback_query": {"id": "q2", "from": {"id": 111}, "data": data2}}]}).to_string()));
    let engine = app.engine.clone();
    let handled = app.rt.block_on(async move { incidentrelay::engine::telegram::poll_once(&engine).await });
    assert_eq!(handled, 1);
    assert_eq!(
        app.get(&format!("/api/alerts/{id2}"), &s.w.admin).expect(200)["status"],
        "resolved",
        "the second button resolves"
    );
    let paths: Vec<String> = tg.requests().iter().map(|r| r.path.clone()).collect();
    assert!(paths.iter().any(|p| p.ends_with("/deleteWebhook")), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("/answerCallbackQuery")), "{paths:?}");
    let engine = app.engine.clone();
    app.rt.block_on(async move { incidentrelay::engine::telegram::poll_once(&engine).await });
    let get = tg.requests().into_iter().rfind(|r| r.path.ends_with("/getUpdates")).unwrap();
    assert_eq!(get.json()["offset"], 78, "the offset moves past handled updates");
}

#[test]
fn discord_teams_and_incidentio_payloads_reach_their_apis() {
    let app = TestApp::start();
    let fake = Fake::start();
    fake.default(Reply::ok(r#"{"id": "m1"}"#));
    let (s, _) = setup(
        &app,
        &[
            json!({"channel_type": "discord", "config": {"webhook_url": format!("{}/discord/1/abc", fake.url)}}),
            json!({"channel_type": "teams", "config": {"webhook_url": format!("{}/teams", fake.url)}}),
            json!({"channel_type": "incidentio", "config": {"api_token": "inc", "alert_source_config_id": "01SRC", "api_url": fake.url, "metadata": {"env": "prod"}}}),
        ],
    );
    let id = fire(&app, &s, "multi", "high");
    app.deliver();
    let reqs = fake.requests();
    let discord = reqs.iter().find(|r| r.path.starts_with("/discord")).unwrap();
    assert_eq!(discord.path, "/discord/1/abc?wait=true");
    assert_eq!(discord.json()["embeds"][0]["color"], 0xF57C00);
    let teams = reqs.iter().find(|r| r.path == "/teams").unwrap();
    assert_eq!(teams.json()["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
    let inc = reqs.iter().find(|r| r.path == "/v2/alert_events/http/01SRC").unwrap();
    assert_eq!(inc.header("authorization"), Some("Bearer inc"));
    assert_eq!((inc.json()["status"].as_str(), inc.json()["metadata"]["env"].as_str()), (Some("firing"), Some("prod")));
    app.post(&format!("/api/alerts/{id}/resolve"), &s.w.editor.1, json!({})).expect(200);
    app.deliver();
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 6, "a recovery to each of the three targets");
    let inc = reqs.iter().rfind(|r| r.path == "/v2/alert_events/http/01SRC").unwrap();
    assert_eq!(inc.json()["status"], "resolved");
}

#[test]
fn voice_calls_and_keypad_callbacks() {
    let app = TestApp::start();
    let gw = Fake::start();
    gw.default(Reply::ok(r#"{"call_id": "call-1"}"#));
    let (s, ids) = setup(
        &app,
        &[
            json!({"channel_type": "voice", "config": {"provider": "http", "url": format!("{}/call", gw.url), "secret": "vs"}}),
        ],
    );
    let ch = ids[0];
    let id = fire(&app, &s, "v1", "critical");
    app.deliver();
    let call = &gw.requests()[0];
    assert_eq!(call.json()["to"], "+4930123456");
    assert_eq!(call.json()["callback_url"], format!("https://oncall.example/api/integrations/voice/{ch}/callback"));
    let ts = call.header("x-incidentrelay-timestamp").unwrap().parse::<i64>().unwrap();
    assert_eq!(
        call.header("x-incidentrelay-signature").unwrap(),
        format!("sha256={}", hex_hmac("vs", &format!("{ts}.{}", call.body)))
    );
    let callback = |body: Value, secret: &str, at: i64| {
        let text = body.to_string();
        let sig = format!("sha256={}", hex_hmac(secret, &format!("{at}.{text}")));
        let at = at.to_string();
        app.request(
            "POST",
            &format!("/api/integrations/voice/{ch}/callback"),
            None,
            Some(&body),
            &[("X-IncidentRelay-Timestamp", &at), ("X-IncidentRelay-Signature", &sig)],
        )
    };
    let now = app.now().secs();
    assert_eq!(callback(json!({"call_id": "call-1", "digits": "1"}), "wrong", now).status, 401);
    assert_eq!(callback(json!({"call_id": "call-1", "digits": "1"}), "vs", now - 400).status, 401, "stale");
    callback(json!({"call_id": "call-1", "status": "answered"}), "vs", now).expect(200);
    let r = callback(json!({"call_id": "call-1", "digits": "1"}), "vs", now).expect(200);
    assert_eq!(r["result"], format!("Alert #{id} acknowledged by eddie (phone)."));
    let events = app.get(&format!("/api/alerts/{id}/events"), &s.w.admin).expect(200);
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_type"] == "call_status" && e["message"].as_str().unwrap().contains("answered"))
    );
    // Acknowledgements and recoveries place no call.
    app.deliver();
    assert_eq!(gw.count(), 1);
}

#[test]
fn twilio_calls_and_signed_callbacks() {
    let app = TestApp::start();
    let tw = Fake::start();
    tw.default(Reply::ok(r#"{"sid": "CA123"}"#));
    let (s, ids) = setup(
        &app,
        &[
            json!({"channel_type": "voice", "config": {"provider": "twilio", "account_sid": "AC1", "auth_token": "tt", "from_number": "+15550001", "api_url": tw.url}}),
        ],
    );
    let ch = ids[0];
    let id = fire(&app, &s, "tw", "critical");
    app.deliver();
    let call = &tw.requests()[0];
    assert_eq!(call.path, "/2010-04-01/Accounts/AC1/Calls.json");
    assert!(call.header("authorization").unwrap().starts_with("Basic "));
    assert!(call.body.contains("To=%2B4930123456") && call.body.contains("Twiml="), "{}", call.body);
    let params = [("CallSid", "CA123"), ("Digits", "2")];
    let body = params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let url = format!("https://oncall.example/api/integrations/voice/{ch}/callback");
    let pairs: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let sig = incidentrelay::notify::voice::twilio_signature("tt", &url, &pairs);
    let r = send_form(&app, &format!("/api/integrations/voice/{ch}/callback"), &body, &[("X-Twilio-Signature", "bad")]);
    assert_eq!(r.status, 401);
    let r = send_form(&app, &format!("/api/integrations/voice/{ch}/callback"), &body, &[("X-Twilio-Signature", &sig)]);
    assert_eq!(r.status, 200);
    assert!(r.text.contains("<Say>Alert #") && r.text.contains("resolved"), "{}", r.text);
    assert_eq!(app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200)["status"], "resolved");
}

#[test]
fn one_click_links_confirm_on_get_and_act_on_post() {
    let app = TestApp::start();
    let fake = Fake::start();
    let (s, _) = setup(&app, &[webhook(&fake.url)]);
    let id = fire(&app, &s, "l1", "critical");
    app.deliver();
    let links = fake.requests()[0].json()["links"].clone();
    let path = |l: &Value| l.as_str().unwrap().trim_start_matches("https://oncall.example").to_string();
    let ack = path(&links["acknowledge"]);
    let page = app.request("GET", &ack, None, None, &[]);
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<form method=\"post\"") && page.text.contains("Disk full on l1"), "{}", page.text);
    assert_eq!(app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200)["status"], "firing", "GET does nothing");
    let done = app.request("POST", &ack, None, None, &[]);
    assert_eq!(done.status, 200);
    assert!(done.text.contains(&format!("Alert #{id} acknowledged by one-click link")), "{}", done.text);
    let a = app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200);
    assert_eq!((a["status"].as_str(), a["acknowledged_by"].as_str()), (Some("acknowledged"), Some("one-click link")));
    let forged = ack.replacen(&format!("/a/{id}."), "/a/999.", 1);
    assert_eq!(app.request("POST", &forged, None, None, &[]).status, 400);
    app.advance(8 * 86_400);
    let expired = app.request("POST", &path(&links["resolve"]), None, None, &[]);
    assert_eq!(expired.status, 400);
    assert!(expired.text.contains("expired"));
}

#[test]
fn the_channel_test_reports_the_providers_answer() {
    let app = TestApp::start();
    let fake = Fake::start();
    let (s, ids) = setup(&app, &[webhook(&fake.url)]);
    let r = app.post(&format!("/api/channels/{}/test", ids[0]), &s.w.editor.1, json!({})).expect(200);
    assert_eq!(r["status"], "sent");
    let p = fake.requests()[0].json();
    assert_eq!(p["event"], "test");
    assert_eq!(p["assignee"]["username"], "eddie", "the tester is the recipient");
    fake.push(Reply::status(404));
    let r = app.post(&format!("/api/channels/{}/test", ids[0]), &s.w.editor.1, json!({}));
    assert_eq!(r.status, 502);
    assert!(r.body["message"].as_str().unwrap().contains("HTTP 404"), "{}", r.text);
    assert_eq!(app.post(&format!("/api/channels/{}/test", ids[0]), &s.w.viewer.1, json!({})).status, 403);
    let _ = s.route;
}

pub fn hex_hmac(secret: &str, data: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn urlencode(s: &str) -> String {
    incidentrelay::notify::voice::form_encode(s)
}

pub fn send_form(app: &TestApp, path: &str, body: &str, headers: &[(&str, &str)]) -> crate::support::Resp {
    let mut req = ureq::http::Request::builder()
        .method("POST")
        .uri(app.url(path))
        .header("Content-Type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = app.agent.run(req.body(body.to_string()).unwrap()).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    crate::support::Resp { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), text, headers: vec![] }
}

/// A channel's create body, given its fake provider's base URL.
type ChannelAt = fn(&str) -> Value;

/// Every HTTP channel against its own fake provider, all at once: 500 → retried → sent, 429
/// honours Retry-After, 400 is dead at once, a timeout is retried.
#[test]
fn every_http_channel_retries_gives_up_and_times_out() {
    let app = TestApp::start_with(|c| c.delivery.timeout_seconds = 1);
    let kinds: Vec<(&str, &str, ChannelAt)> = vec![
        (
            "mattermost webhook",
            "{}",
            |u| json!({"channel_type": "mattermost", "config": {"webhook_url": format!("{u}/hooks/x")}}),
        ),
        (
            "mattermost bot",
            r#"{"id": "p1"}"#,
            |u| json!({"channel_type": "mattermost", "config": {"mode": "bot_api", "api_url": u, "bot_token": "t", "channel_id": "c"}}),
        ),
        (
            "slack webhook",
            "ok",
            |u| json!({"channel_type": "slack", "config": {"webhook_url": format!("{u}/services/x")}}),
        ),
        (
            "slack bot",
            r#"{"ok": true, "channel": "C1", "ts": "1.2"}"#,
            |u| json!({"channel_type": "slack", "config": {"mode": "bot_api", "bot_token": "xoxb", "channel_id": "C1", "signing_secret": "s", "api_url": u}}),
        ),
        (
            "telegram",
            r#"{"ok": true, "result": {"message_id": 1}}"#,
            |u| json!({"channel_type": "telegram", "config": {"bot_token": "1:A", "chat_id": 1, "api_url": u, "updates": "webhook"}}),
        ),
        (
            "discord",
            r#"{"id": "m"}"#,
            |u| json!({"channel_type": "discord", "config": {"webhook_url": format!("{u}/api/webhooks/1/a")}}),
        ),
        ("teams", "1", |u| json!({"channel_type": "teams", "config": {"webhook_url": format!("{u}/workflow")}})),
        ("webhook", "{}", |u| json!({"channel_type": "webhook", "config": {"webhook_url": format!("{u}/hook")}})),
        (
            "incident.io",
            "{}",
            |u| json!({"channel_type": "incidentio", "config": {"api_token": "i", "alert_source_config_id": "S", "api_url": u}}),
        ),
        (
            "voice http",
            r#"{"call_id": "c"}"#,
            |u| json!({"channel_type": "voice", "config": {"provider": "http", "url": format!("{u}/call"), "secret": "s"}}),
        ),
        (
            "twilio",
            r#"{"sid": "CA1"}"#,
            |u| json!({"channel_type": "voice", "config": {"provider": "twilio", "account_sid": "AC", "auth_token": "t", "from_number": "+1555", "api_url": u}}),
        ),
    ];
    let fakes: Vec<Fake> = kinds.iter().map(|_| Fake::start()).collect();
    let configs: Vec<Value> = kinds.iter().zip(&fakes).map(|((_, _, cfg), f)| cfg(&f.url)).collect();
    let (s, _) = setup(&app, &configs);
    let script = |replies: &dyn Fn() -> Reply| {
        for ((_, ok, _), f) in kinds.iter().zip(&fakes) {
            f.push(replies());
            f.default(Reply::ok(ok));
        }
    };
    let by_channel = |alert: i64| -> Vec<Value> {
        // The pages (a page given up on also sends "could not deliver" notices elsewhere).
        let mut d: Vec<Value> =
            deliveries(&app, &s, alert).into_iter().filter(|d| d["event_type"] == "triggered").collect();
        d.sort_by_key(|d| d["channel_id"].as_i64());
        d
    };
    let check = |alert: i64, status: &str, attempts: i64, error: &str| {
        let d = by_channel(alert);
        assert_eq!(d.len(), kinds.len());
        for ((name, _, _), d) in kinds.iter().zip(&d) {
            assert_eq!((d["status"].as_str(), d["attempts"].as_i64()), (Some(status), Some(attempts)), "{name}: {d}");
            assert!(d["last_error"].as_str().unwrap_or("").contains(error), "{name}: {d}");
        }
    };

    script(&|| Reply::status(500));
    let a = fire(&app, &s, "a", "critical");
    app.deliver();
    check(a, "failed", 1, "HTTP 500");
    app.advance(13);
    app.deliver();
    check(a, "sent", 2, "");

    script(&|| Reply::status(429).header("Retry-After", "60"));
    let b = fire(&app, &s, "b", "critical");
    app.deliver();
    check(b, "failed", 1, "429");
    for d in by_channel(b) {
        let next = incidentrelay::domain::time::Ts::parse(d["next_attempt_at"].as_str().unwrap()).unwrap();
        assert_eq!(next.secs_since(app.now()), 60, "{d}");
    }
    app.advance(61);
    app.deliver();
    check(b, "sent", 2, "");

    script(&|| Reply::status(400));
    let c = fire(&app, &s, "c", "critical");
    app.deliver();
    check(c, "dead", 1, "HTTP 400");
    // Pages given up on are announced on the team's other channels: let those go out first.
    app.deliver();

    script(&|| Reply::ok("{}").delayed(Duration::from_millis(1800)));
    let d = fire(&app, &s, "d", "critical");
    app.deliver();
    check(d, "failed", 1, "timed out");
    app.advance(13);
    app.deliver();
    check(d, "sent", 2, "");
}

/// The log channel needs nothing outside IncidentRelay: its page is "sent" at once, written to
/// the process log, and on the alert's timeline.
#[test]
fn the_log_channel_writes_pages_to_the_log_and_the_timeline() {
    let app = TestApp::start();
    let (s, _) = setup(&app, &[json!({"channel_type": "log", "config": {}})]);
    let id = fire(&app, &s, "log-1", "critical");
    app.deliver();
    let d = deliveries(&app, &s, id);
    assert_eq!(
        (d[0]["status"].as_str(), d[0]["target"].as_str()),
        (Some("sent"), Some("log \"ch0\" for eddie")),
        "{d:?}"
    );
    let logged = app.log.lines().iter().any(|l| l.contains("log channel message") && l.contains("Disk full on log-1"));
    assert!(logged, "the message is in the log");
    let events = app.get(&format!("/api/alerts/{id}/events"), &s.w.admin).expect(200);
    let notified = events.as_array().unwrap().iter().find(|e| e["event_type"] == "notified").expect("notified");
    assert!(
        notified["message"].as_str().unwrap().contains("written to the log: [CRITICAL] Disk full on log-1"),
        "{notified}"
    );
    let r = app.post(
        "/api/channels",
        &s.w.editor.1,
        json!({"team_id": s.w.team, "name": "x", "channel_type": "log", "config": {"url": "x"}}),
    );
    assert_eq!((r.status, r.fields()), (400, vec!["config.url".to_string()]), "a log channel has no settings");
}

/// A channel whose address the outbound guard refuses is flagged when it is saved, naming the
/// setting that allows it; an address it accepts is not.
#[test]
fn a_channel_the_outbound_guard_will_refuse_is_flagged_when_saved() {
    let app = TestApp::start();
    let w = World::new(&app);
    let internal = app
        .post("/api/channels", &w.editor.1, json!({"team_id": w.team, "name": "lan", "channel_type": "webhook", "config": {"webhook_url": "http://192.168.1.10/hook"}}))
        .expect(201);
    let why = internal["warnings"][0].as_str().unwrap_or_default();
    assert!(
        why.starts_with("config.webhook_url:")
            && why.contains("\"192.168.1.10/32\"")
            && why.contains("INCIDENTRELAY_SECURITY__OUTBOUND_ALLOWLIST"),
        "{internal}"
    );
    let public = app
        .post("/api/channels", &w.editor.1, json!({"team_id": w.team, "name": "pub", "channel_type": "webhook", "config": {"webhook_url": "https://hooks.example.com/x"}}))
        .expect(201);
    assert_eq!(public["warnings"], json!([]));
    let listed = app.get(&format!("/api/channels?team_id={}", w.team), &w.editor.1).expect(200);
    assert_eq!(listed.as_array().unwrap().iter().filter(|c| !c["warnings"].as_array().unwrap().is_empty()).count(), 1);
}

/// Slack's own SDK accepts what IncidentRelay posts, in webhook and bot mode: every block
/// parses as its Block Kit model, passes the SDK's validation and round-trips unchanged, and
/// the fallback `text` is escaped as mrkdwn.
#[test]
fn slack_payloads_are_block_kit_as_slack_sdk_models_it() {
    let Some(python) = crate::tools::python_with("slack_sdk") else { return };
    let app = TestApp::start();
    let slack = Fake::start();
    slack.default(Reply::ok(r#"{"ok": true, "channel": "C42", "ts": "1700000000.000100"}"#));
    let (s, _) = setup(
        &app,
        &[
            json!({"channel_type": "slack", "config": {"webhook_url": format!("{}/hook", slack.url)}}),
            json!({"channel_type": "slack", "config": {"mode": "bot_api", "bot_token": "xoxb-1", "channel_id": "C42", "signing_secret": "sssh", "api_url": slack.url}}),
        ],
    );
    let id = fire(&app, &s, "db<1>&co", "critical");
    app.deliver();
    app.post(&format!("/api/alerts/{id}/ack"), &s.w.responder.1, json!({})).expect(200);
    app.deliver();
    let check = "import json, sys\n\
        from slack_sdk.models.blocks import Block\n\
        p = json.load(sys.stdin)\n\
        blocks = Block.parse_all(p['blocks'])\n\
        assert len(blocks) == len(p['blocks']) and all(b is not None for b in blocks), p['blocks']\n\
        for b in blocks: b.validate_json()\n\
        assert [b.to_dict() for b in blocks] == p['blocks'], ([b.to_dict() for b in blocks], p['blocks'])\n\
        assert '&amp;' in p['text'] and '&lt;1&gt;' in p['text'] and '<' not in p['text'], p['text']\n";
    let posts = slack.requests();
    assert!(posts.len() >= 4, "page and update, twice: {}", posts.len());
    for post in &posts {
        let mut child = std::process::Command::new(&python)
            .args(["-c", check])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(post.body.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}: {}", post.path, String::from_utf8_lossy(&out.stderr));
    }
}

/// ntfy: the JSON publish format with the access token, a priority by severity, tags, a click
/// URL, and Acknowledge / Resolve buttons that POST the signed links and act.
#[test]
fn ntfy_publishes_json_whose_buttons_act_on_the_alert() {
    let app = TestApp::start();
    let ntfy = Fake::start();
    ntfy.default(Reply::ok(r#"{"id": "msg_ntfy_1", "event": "message"}"#));
    let (s, _) = setup(
        &app,
        &[
            json!({"channel_type": "ntfy", "config": {"server_url": ntfy.url, "topic": "ops-pager-7f3k", "access_token": "tk_secret"}}),
        ],
    );
    let shown = app.get("/api/channels", &s.w.editor.1).expect(200);
    assert_eq!(shown[0]["config"]["access_token"], "********", "write-only");
    let id = fire(&app, &s, "n1", "critical");
    app.deliver();
    let r = &ntfy.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.header("authorization")),
        ("POST", "/", Some("Bearer tk_secret"))
    );
    let p = r.json();
    assert_eq!((p["topic"].as_str(), p["priority"].as_u64()), (Some("ops-pager-7f3k"), Some(5)));
    assert_eq!(p["title"], "[CRITICAL] Disk full on n1");
    assert_eq!(p["click"], format!("https://oncall.example/alerts/{id}"));
    assert_eq!(p["tags"], json!(["rotating_light", "critical"]));
    let d = deliveries(&app, &s, id);
    assert_eq!((d[0]["status"].as_str(), d[0]["target"].as_str()), (Some("sent"), Some("ntfy \"ch0\" for eddie")));
    // The Acknowledge button, as the ntfy app sends it: a POST to the signed link.
    let ack = &p["actions"][0];
    assert_eq!((ack["label"].as_str(), ack["method"].as_str()), (Some("Acknowledge"), Some("POST")));
    let path = ack["url"].as_str().unwrap().trim_start_matches("https://oncall.example").to_string();
    let pressed = app.request("POST", &path, None, None, &[]);
    assert_eq!(pressed.status, 200, "{}", pressed.text);
    let a = app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200);
    assert_eq!(a["status"], "acknowledged");
    app.deliver();
    let update = ntfy.requests()[1].json();
    assert_eq!(
        (update["priority"].as_u64(), update["tags"][0].as_str()),
        (Some(2), Some("eyes")),
        "the update is quiet"
    );
    let labels: Vec<&str> = update["actions"].as_array().unwrap().iter().filter_map(|a| a["label"].as_str()).collect();
    assert_eq!(labels, ["Resolve"]);
}

/// Gotify: the message API with the application token, Markdown with the signed links, a
/// priority by severity and a click-through.
#[test]
fn gotify_posts_markdown_messages_with_the_app_token() {
    let app = TestApp::start();
    let gotify = Fake::start();
    gotify.default(Reply::ok(r#"{"id": 17, "appid": 3}"#));
    let (s, _) = setup(
        &app,
        &[
            json!({"channel_type": "gotify", "config": {"server_url": format!("{}/gotify/", gotify.url), "app_token": "AppTok3n"}}),
        ],
    );
    let id = fire(&app, &s, "g1", "high");
    app.deliver();
    let r = &gotify.requests()[0];
    assert_eq!((r.path.as_str(), r.header("x-gotify-key")), ("/gotify/message", Some("AppTok3n")));
    let m = r.json();
    assert_eq!((m["title"].as_str(), m["priority"].as_u64()), (Some("[HIGH] Disk full on g1"), Some(8)));
    assert_eq!(m["extras"]["client::notification"]["click"]["url"], format!("https://oncall.example/alerts/{id}"));
    assert!(m["message"].as_str().unwrap().contains("[Acknowledge](https://oncall.example/a/"));
    assert_eq!(deliveries(&app, &s, id)[0]["status"], "sent");
    let shown = app.get("/api/channels", &s.w.editor.1).expect(200);
    assert_eq!(shown[0]["config"]["app_token"], "********");
}
