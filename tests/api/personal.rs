//! Personal notifications: each person's contact methods (verified by a test message) and
//! notification rules, run by the engine through the outbox when they are paged, with fake
//! providers and the manual clock.

use serde_json::{Value, json};

use crate::fake::{Fake, Reply};
use crate::support::{TestApp, World};

/// A route whose rotation has eddie on call, with a log channel.
fn route(app: &TestApp, w: &World) -> String {
    logged_route(app, w).0
}

/// [`route`]'s route: (its intake token, the rotation, the log channel).
pub fn logged_route(app: &TestApp, w: &World) -> (String, i64, i64) {
    let e = &w.editor.1;
    let rot =
        app.post("/api/rotations", e, json!({"team_id": w.team, "name": "R", "start_at": "2026-11-01T00:00:00Z"})).id();
    app.post(&format!("/api/rotations/{rot}/members"), e, json!({"user_id": w.editor.0})).expect(201);
    let ch = app
        .post("/api/channels", e, json!({"team_id": w.team, "name": "log", "channel_type": "log", "config": {}}))
        .id();
    let route = json!({"team_id": w.team, "name": "r", "source": "webhook", "rotation_id": rot, "channel_ids": [ch]});
    let token = app.post("/api/routes", e, route).expect(201)["intake_token"].as_str().unwrap().to_string();
    (token, rot, ch)
}

#[test]
fn rules_notify_at_their_delays_until_the_alert_is_acknowledged() {
    let app = TestApp::start();
    let w = World::new(&app);
    let token = route(&app, &w);
    let e = &w.editor.1;
    let push = Fake::start();
    push.default(Reply::ok(r#"{"id": "m1"}"#));
    let hook = Fake::start();
    let gotify = Fake::start();
    gotify.default(Reply::ok(r#"{"id": 9}"#));
    let ntfy = app
        .post(
            "/api/profile/contact-methods",
            e,
            json!({"type": "ntfy", "value": format!("{}/eddie-pager", push.url), "secret": "tk_x", "label": "phone"}),
        )
        .expect(201);
    assert_eq!((ntfy["has_secret"].as_bool(), ntfy.get("secret")), (Some(true), None), "write-only");
    let webhook = app
        .post("/api/profile/contact-methods", e, json!({"type": "webhook", "value": format!("{}/me", hook.url)}))
        .expect(201);
    let got = app
        .post("/api/profile/contact-methods", e, json!({"type": "gotify", "value": gotify.url, "secret": "AppTok"}))
        .expect(201);
    // A rule needs a verified method.
    let r = app.post("/api/profile/notification-rules", e, json!({"contact_method_id": ntfy["id"]}));
    assert_eq!(r.fields(), ["contact_method_id"]);
    for m in [&ntfy, &webhook, &got] {
        let t = app.post(&format!("/api/profile/contact-methods/{}/test", m["id"]), e, json!({})).expect(200);
        assert!(t["contact_method"]["verified_at"].is_string(), "{t}");
    }
    assert!(push.requests()[0].json()["title"].as_str().unwrap().starts_with("IncidentRelay test message"));
    for (m, delay) in [(&ntfy, 0), (&webhook, 120), (&got, 300)] {
        app.post("/api/profile/notification-rules", e, json!({"contact_method_id": m["id"], "delay_seconds": delay}))
            .expect(201);
    }
    let (p0, h0, g0) = (push.requests().len(), hook.requests().len(), gotify.requests().len());

    let id = app
        .post_raw(
            "/api/integrations/webhook",
            Some(&token),
            r#"{"title": "Disk full", "severity": "critical", "fingerprint": "p1"}"#,
        )
        .expect(200)[0]["id"]
        .as_i64()
        .unwrap();
    app.deliver();
    assert_eq!((push.requests().len(), hook.requests().len()), (p0 + 1, h0), "ntfy at once, the webhook not yet");
    assert_eq!(push.requests()[p0].json()["title"], "[CRITICAL] Disk full");
    app.advance(120);
    app.deliver();
    assert_eq!(hook.requests().len(), h0 + 1, "the webhook after 120 s");
    app.post(&format!("/api/alerts/{id}/ack"), e, json!({})).expect(200);
    app.advance(300);
    app.deliver();
    assert_eq!(gotify.requests().len(), g0, "acknowledged: the 300 s rule never fires");
    let d = app.get(&format!("/api/alerts/{id}/deliveries"), &w.admin).expect(200);
    let personal: Vec<(String, String)> = d
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["contact_method_id"].is_i64())
        .map(|d| (d["target"].as_str().unwrap().to_string(), d["status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(personal.len(), 3, "{personal:?}");
    assert!(personal[0].0.starts_with("ntfy push to eddie (") && personal[0].1 == "sent", "{personal:?}");
    assert_eq!(personal[2].1, "dead", "cancelled on acknowledge");
    let events = app.get(&format!("/api/alerts/{id}/events"), &w.admin).expect(200);
    assert!(events.to_string().contains("notified via ntfy push to eddie"), "on the timeline");
}

#[test]
fn methods_are_checked_kept_to_their_owner_and_behind_the_outbound_guard() {
    let app = TestApp::start();
    let w = World::new(&app);
    let e = &w.editor.1;
    for (body, field) in [
        (json!({"type": "sms", "value": "030 123"}), "value"),
        (json!({"type": "ntfy", "value": "https://ntfy.sh/"}), "value"),
        (json!({"type": "gotify", "value": "https://gotify.example.com"}), "secret"),
        (json!({"type": "webhook", "value": "https://x.example/h", "secret": "plain"}), "secret"),
        (json!({"type": "pager", "value": "x"}), "type"),
    ] {
        let r = app.post("/api/profile/contact-methods", e, body.clone());
        assert_eq!((r.status, r.fields()), (400, vec![field.to_string()]), "{body}");
    }
    let m = app
        .post("/api/profile/contact-methods", e, json!({"type": "webhook", "value": "http://10.0.0.5/hook"}))
        .expect(201);
    let t = app.post(&format!("/api/profile/contact-methods/{}/test", m["id"]), e, json!({}));
    assert_eq!(t.status, 502, "private addresses are refused: {}", t.text);
    let id = m["id"].as_i64().unwrap();
    assert_eq!(app.delete(&format!("/api/profile/contact-methods/{id}"), &w.responder.1).status, 404, "not rick's");
    assert_eq!(app.post(&format!("/api/profile/contact-methods/{id}/test"), &w.responder.1, json!({})).status, 404);
    let sms = app.post("/api/profile/contact-methods", e, json!({"type": "sms", "value": "+4930123456"})).expect(201);
    let t = app.post(&format!("/api/profile/contact-methods/{}/test", sms["id"]), e, json!({}));
    assert!(t.status == 502 && t.text.contains("phone.provider"), "no phone provider configured: {}", t.text);
    // An administrator manages anyone's methods; others may not.
    let made = app
        .post(
            &format!("/api/admin/users/{}/contact-methods", w.viewer.0),
            &w.admin,
            json!({"type": "email", "value": "vera@example.com"}),
        )
        .expect(201);
    assert_eq!(made["user_id"], w.viewer.0);
    assert_eq!(
        app.get(&format!("/api/admin/users/{}/contact-methods", w.viewer.0), &w.admin)
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(app.get(&format!("/api/admin/users/{}/contact-methods", w.viewer.0), e).status, 403);
}

/// SMS through the installation's Twilio account (`phone.*`): the Messages API with the
/// number, the alert's headline and link.
#[test]
fn sms_goes_through_the_installations_phone_provider() {
    let twilio = Fake::start();
    twilio.default(Reply::ok(r#"{"sid": "SM123"}"#));
    let url = twilio.url.clone();
    let app = TestApp::start_with(move |c| {
        c.phone.provider = Some("twilio".into());
        c.phone.api_url = Some(url);
        c.phone.account_sid = Some("AC1".into());
        c.phone.auth_token = Some("tok".into());
        c.phone.from_number = Some("+15550001111".into());
    });
    let w = World::new(&app);
    let e = &w.editor.1;
    let sms = app.post("/api/profile/contact-methods", e, json!({"type": "sms", "value": "+4930123456"})).expect(201);
    let t = app.post(&format!("/api/profile/contact-methods/{}/test", sms["id"]), e, json!({})).expect(200);
    assert_eq!(t["detail"], "SMS sent (SM123)");
    let r = &twilio.requests()[0];
    assert_eq!(r.path, "/2010-04-01/Accounts/AC1/Messages.json");
    assert_eq!(r.header("authorization"), Some(format!("Basic {}", incidentrelay::crypto::b64(b"AC1:tok")).as_str()));
    assert!(
        r.body.contains("To=%2B4930123456")
            && r.body.contains("From=%2B15550001111")
            && r.body.contains("Body=IncidentRelay+test"),
        "{}",
        r.body
    );
}

#[test]
fn people_hear_of_their_shifts_before_they_start_and_when_they_start() {
    let app = TestApp::start();
    let w = World::new(&app);
    let e = &w.editor.1;
    let push = Fake::start();
    push.default(Reply::ok(r#"{"id": "m1"}"#));
    let ntfy = app
        .post("/api/profile/contact-methods", e, json!({"type": "ntfy", "value": format!("{}/eddie", push.url)}))
        .expect(201);
    app.post(&format!("/api/profile/contact-methods/{}/test", ntfy["id"]), e, json!({})).expect(200);
    let r = app.put("/api/profile", e, json!({"shift_notify_before_minutes": 1441}));
    assert_eq!(r.fields(), ["shift_notify_before_minutes"]);
    let me = app.put("/api/profile", e, json!({"time_zone": "Europe/Berlin"})).expect(200);
    assert_eq!(me["shift_notify_before_minutes"], 60, "an hour by default");

    // eddie alone on a rotation whose first shift starts in three hours, on the hour.
    let start = (app.now().secs() / 3600 + 3) * 3600;
    let start_at = jiff::Timestamp::from_second(start).unwrap().to_string();
    let rot = app.post("/api/rotations", e, json!({"team_id": w.team, "name": "Primary", "start_at": start_at})).id();
    app.post(&format!("/api/rotations/{rot}/members"), e, json!({"user_id": w.editor.0})).expect(201);
    let heard = || -> Vec<String> {
        push.requests().iter().skip(1).map(|r| r.json()["message"].as_str().unwrap_or_default().to_string()).collect()
    };
    let to = |t: i64| app.advance(t - app.now().secs());

    to(start - 3600 - 120);
    app.deliver();
    assert!(heard().is_empty(), "too early: {:?}", heard());
    to(start - 3600);
    app.deliver();
    app.deliver();
    let local =
        jiff::Timestamp::from_second(start).unwrap().to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
    let at = local.strftime("%a %H:%M %Z").to_string();
    assert_eq!(heard(), [format!("Your on-call shift for Primary starts at {at} (in 1 h).")], "once, in eddie's zone");
    to(start);
    app.deliver();
    app.deliver();
    assert_eq!(heard().len(), 2, "{:?}", heard());
    assert_eq!(heard()[1], format!("Your on-call shift for Primary has started ({at})."));
    // A daily handoff from eddie to eddie continues his shift: nothing new to hear.
    to(start + 86_400 + 60);
    app.deliver();
    assert_eq!(heard().len(), 2, "{:?}", heard());

    // 0 turns them off.
    app.put("/api/profile", e, json!({"shift_notify_before_minutes": 0})).expect(200);
    let later = jiff::Timestamp::from_second(start + 2 * 86_400).unwrap().to_string();
    let second = app.post("/api/rotations", e, json!({"team_id": w.team, "name": "Second", "start_at": later})).id();
    app.post(&format!("/api/rotations/{second}/members"), e, json!({"user_id": w.editor.0})).expect(201);
    to(start + 2 * 86_400);
    app.deliver();
    assert_eq!(heard().len(), 2, "{:?}", heard());
}

/// A call to a person's own voice method says which keys act, and the key pressed acts as them
/// — only on the alert that method was called about.
#[test]
fn a_key_pressed_on_a_personal_call_acknowledges_as_the_person_called() {
    let gw = Fake::start();
    gw.default(Reply::ok(r#"{"call_id": "call-7"}"#));
    let url = format!("{}/call", gw.url);
    let app = TestApp::start_with(|c| {
        c.phone.provider = Some("http".into());
        c.phone.url = Some(url);
        c.phone.secret = Some("ps".into());
    });
    let w = World::new(&app);
    let token = route(&app, &w);
    let e = &w.editor.1;
    let voice = app.post("/api/profile/contact-methods", e, json!({"type": "voice", "value": "+4930999"})).expect(201);
    let mid = voice["id"].as_i64().unwrap();
    app.post(&format!("/api/profile/contact-methods/{mid}/test"), e, json!({})).expect(200);
    app.post("/api/profile/notification-rules", e, json!({"contact_method_id": mid})).expect(201);
    let other =
        app.post("/api/profile/contact-methods", &w.responder.1, json!({"type": "voice", "value": "+4930888"})).id();
    // An SMS method goes through the same HTTP gateway, signed the same way.
    let sms = app.post("/api/profile/contact-methods", e, json!({"type": "sms", "value": "+4930777"})).id();
    app.post(&format!("/api/profile/contact-methods/{sms}/test"), e, json!({})).expect(200);
    let text = gw.requests().last().unwrap().clone();
    assert_eq!((text.json()["type"].as_str(), text.json()["to"].as_str()), (Some("sms"), Some("+4930777")));
    let at = text.header("x-incidentrelay-timestamp").unwrap().to_string();
    let sig = format!("sha256={}", crate::delivery::hex_hmac("ps", &format!("{at}.{}", text.body)));
    assert_eq!(text.header("x-incidentrelay-signature"), Some(sig.as_str()));

    let id = app
        .post_raw("/api/integrations/webhook", Some(&token), r#"{"title": "Disk full", "severity": "critical"}"#)
        .expect(200)[0]["id"]
        .as_i64()
        .unwrap();
    app.deliver();
    let placed = gw.requests().last().unwrap().clone();
    let at = placed.header("x-incidentrelay-timestamp").unwrap().to_string();
    let sig = format!("sha256={}", crate::delivery::hex_hmac("ps", &format!("{at}.{}", placed.body)));
    assert_eq!(placed.header("x-incidentrelay-signature"), Some(sig.as_str()), "the call is signed like the SMS");
    let call = placed.json();
    assert_eq!(call["to"], "+4930999");
    assert_eq!(call["callback_url"], format!("https://oncall.example/api/integrations/voice/personal/{mid}/callback"));
    assert!(call["text"].as_str().unwrap().ends_with("press 1 to acknowledge, press 2 to resolve."), "{call}");
    let callback = |method: i64, body: Value, secret: &str| {
        let text = body.to_string();
        let at = app.now().secs();
        let sig = format!("sha256={}", crate::delivery::hex_hmac(secret, &format!("{at}.{text}")));
        let at = at.to_string();
        app.request(
            "POST",
            &format!("/api/integrations/voice/personal/{method}/callback"),
            None,
            Some(&body),
            &[("X-IncidentRelay-Timestamp", &at), ("X-IncidentRelay-Signature", &sig)],
        )
    };
    assert_eq!(callback(mid, json!({"call_id": "call-7", "digits": "1"}), "wrong").status, 401);
    assert_eq!(callback(other, json!({"call_id": "call-7", "digits": "1"}), "ps").status, 404, "not rick's call");
    callback(mid, json!({"call_id": "call-7", "status": "answered"}), "ps").expect(200);
    let r = callback(mid, json!({"call_id": "call-7", "digits": "1"}), "ps").expect(200);
    assert_eq!(r["result"], format!("Alert #{id} acknowledged by eddie (phone)."));
    let a = app.get(&format!("/api/alerts/{id}"), &w.admin).expect(200);
    assert_eq!(a["status"], "acknowledged");
    let events = app.get(&format!("/api/alerts/{id}/events"), &w.admin).expect(200).to_string();
    assert!(events.contains("voice call call-7: answered"), "{events}");
}

/// Telegram through the installation's bot (`telegram.bot_token`, here with `telegram.api_url`
/// at a fake Bot API): the page to the person's chat, with links and no chat buttons.
#[test]
fn telegram_messages_go_through_the_installations_bot() {
    let tg = Fake::start();
    tg.default(Reply::ok(r#"{"ok": true, "result": {"message_id": 5}}"#));
    let api = tg.url.clone();
    let app = TestApp::start_with(|c| {
        c.telegram.bot_token = Some("999:BOT".into());
        c.telegram.api_url = Some(api);
    });
    let w = World::new(&app);
    let token = route(&app, &w);
    let e = &w.editor.1;
    let m = app.post("/api/profile/contact-methods", e, json!({"type": "telegram", "value": "4242"})).expect(201);
    app.post(&format!("/api/profile/contact-methods/{}/test", m["id"]), e, json!({})).expect(200);
    app.post("/api/profile/notification-rules", e, json!({"contact_method_id": m["id"]})).expect(201);
    app.post_raw("/api/integrations/webhook", Some(&token), r#"{"title": "Disk full", "severity": "warning"}"#)
        .expect(200);
    app.deliver();
    let sent = tg.requests();
    assert_eq!(sent.len(), 2, "the test message and the page");
    let page = &sent[1];
    assert_eq!(page.path, "/bot999:BOT/sendMessage");
    assert_eq!(page.json()["chat_id"], "4242");
    assert!(page.json()["text"].as_str().unwrap().contains("Disk full"), "{}", page.body);
    let buttons = page.json()["reply_markup"]["inline_keyboard"].to_string();
    assert!(
        buttons.contains("https://oncall.example/alerts/") && !buttons.contains("callback_data"),
        "a link, no chat buttons: {buttons}"
    );
}
