//! Schedules: rotation layers with restrictions, the final schedule they give (with overrides),
//! gaps and previews, through the API, on the manual clock (Monday 2026-11-23 09:00 UTC).

use serde_json::{Value, json};

use crate::support::{TestApp, World};

fn who(shifts: &Value) -> Vec<(String, String, String, bool)> {
    shifts
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["username"].as_str().unwrap().to_string(),
                s["start"].as_str().unwrap().to_string(),
                s["end"].as_str().unwrap().to_string(),
                s["override"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// eddie and rick at nights from Sunday 18:00 (layer 1), vera on weekdays 09–18 (layer 2).
fn day_and_night(app: &TestApp, w: &World) -> (i64, i64, i64) {
    let e = &w.editor.1;
    let rot = app
        .post(
            "/api/rotations",
            e,
            json!({"team_id": w.team, "name": "Primary", "rotation_type": "daily", "handoff_time": "18:00",
                   "timezone": "UTC", "start_at": "2026-11-22T18:00:00Z"}),
        )
        .id();
    for u in [w.editor.0, w.responder.0] {
        app.post(&format!("/api/rotations/{rot}/members"), e, json!({"user_id": u})).expect(201);
    }
    let day = app
        .post(
            &format!("/api/rotations/{rot}/layers"),
            e,
            json!({"name": "Day crew", "rotation_type": "daily", "handoff_time": "09:00", "start_at": "2026-11-23T09:00:00Z",
                   "members": [w.viewer.0], "restrictions": [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}]}),
        )
        .expect(201);
    assert_eq!(day["position"], 2, "above layer 1");
    let layers = app.get(&format!("/api/rotations/{rot}/layers"), &w.viewer.1).expect(200);
    let base = layers[0]["id"].as_i64().unwrap();
    (rot, base, day["id"].as_i64().unwrap())
}

#[test]
fn layers_with_restrictions_make_the_final_schedule() {
    let app = TestApp::start();
    let w = World::new(&app);
    let (rot, base, day) = day_and_night(&app, &w);
    let layers = app.get(&format!("/api/rotations/{rot}/layers"), &w.viewer.1).expect(200);
    assert_eq!(layers.as_array().unwrap().len(), 2);
    assert_eq!(
        (&layers[0]["name"], &layers[0]["members"], &layers[0]["handoff_time"], &layers[0]["restrictions"]),
        (&json!("Layer 1"), &json!([w.editor.0, w.responder.0]), &json!("18:00"), &json!([])),
        "the rotation's own settings and members are layer 1"
    );
    let r = app.get(&format!("/api/rotations/{rot}"), &w.viewer.1).expect(200);
    assert_eq!(r["layer_count"], 2);
    assert_eq!(
        (&r["current_oncall"]["username"], &r["current_oncall"]["since"], &r["current_oncall"]["until"]),
        (&json!("vera"), &json!("2026-11-23T09:00:00Z"), &json!("2026-11-23T18:00:00Z")),
        "the day crew from 09:00 to 18:00"
    );
    let shifts = app.get(&format!("/api/rotations/{rot}/oncall?count=3"), &w.viewer.1).expect(200);
    assert_eq!(
        who(&shifts),
        [
            ("vera".into(), "2026-11-23T09:00:00Z".into(), "2026-11-23T18:00:00Z".into(), false),
            ("rick".into(), "2026-11-23T18:00:00Z".into(), "2026-11-24T09:00:00Z".into(), false),
            ("vera".into(), "2026-11-24T09:00:00Z".into(), "2026-11-24T18:00:00Z".into(), false),
            ("eddie".into(), "2026-11-24T18:00:00Z".into(), "2026-11-25T09:00:00Z".into(), false),
        ]
    );
    assert_eq!((shifts[0]["layer"].as_i64(), shifts[1]["layer"].as_i64()), (Some(day), Some(base)));
    // An override beats every layer and says so.
    app.post(
        &format!("/api/rotations/{rot}/overrides"),
        &w.editor.1,
        json!({"user_id": w.editor.0, "starts_at": "2026-11-23T12:00:00Z", "ends_at": "2026-11-23T13:00:00Z"}),
    )
    .expect(201);
    let shifts =
        app.get(&format!("/api/rotations/{rot}/oncall?at=2026-11-23T12:30:00Z&count=1"), &w.viewer.1).expect(200);
    assert_eq!(who(&shifts)[0], ("eddie".into(), "2026-11-23T12:00:00Z".into(), "2026-11-23T13:00:00Z".into(), true));
    assert!(shifts[0]["layer"].is_null());
    // The calendar (and so the iCal feeds) shows the final schedule.
    let cal =
        app.get(&format!("/api/calendar?rotation_id={rot}&start=2026-11-24&end=2026-11-25"), &w.viewer.1).expect(200);
    let day_shift = cal.as_array().unwrap().iter().find(|e| e["username"] == "vera").expect("vera's shift");
    assert_eq!(
        (&day_shift["start"], &day_shift["end"]),
        (&json!("2026-11-24T09:00:00Z"), &json!("2026-11-24T18:00:00Z"))
    );

    // So do the iCalendar feeds: vera's own holds her day shifts, 09:00 to 18:00.
    let feed = app.post("/api/profile/calendar-feeds", &w.viewer.1, json!({})).expect(201);
    let path = feed["url"].as_str().unwrap().trim_start_matches("https://oncall.example").to_string();
    let ics = app.request("GET", &path, None, None, &[]).text;
    assert!(ics.contains("DTSTART:20261124T090000Z") && ics.contains("DTEND:20261124T180000Z"), "{ics}");

    // Changing a layer: bad restrictions and members name their place.
    let r = app.put(
        &format!("/api/rotations/layers/{day}"),
        &w.editor.1,
        json!({"restrictions": [{"days": [7], "start": "9:00", "end": "18:00"}], "members": [w.outsider.0]}),
    );
    assert_eq!(r.fields(), ["restrictions[0].days", "restrictions[0].start", "members[0]"]);
    let moved = app
        .put(&format!("/api/rotations/layers/{day}"), &w.editor.1, json!({"members": [w.viewer.0, w.responder.0]}))
        .expect(200);
    assert_eq!(moved["members"], json!([w.viewer.0, w.responder.0]));
    assert_eq!(moved["restrictions"][0]["start"], "09:00", "a partial update keeps the rest");
    // A rotation keeps at least one layer.
    app.delete(&format!("/api/rotations/layers/{day}"), &w.editor.1).expect(200);
    let last = app.delete(&format!("/api/rotations/layers/{base}"), &w.editor.1);
    assert_eq!(last.status, 409, "{}", last.text);
    assert_eq!(
        app.get(&format!("/api/rotations/{rot}"), &w.viewer.1).expect(200)["current_oncall"]["username"],
        "eddie"
    );
}

#[test]
fn gaps_are_listed_and_a_preview_saves_nothing() {
    let app = TestApp::start();
    let w = World::new(&app);
    let (rot, base, _) = day_and_night(&app, &w);
    assert_eq!(app.get(&format!("/api/rotations/{rot}/gaps"), &w.viewer.1).expect(200), json!([]));
    // Layer 1 only on weeknights (Monday to Friday starts): the weekend is uncovered.
    app.put(
        &format!("/api/rotations/layers/{base}"),
        &w.editor.1,
        json!({"restrictions": [{"days": [0, 1, 2, 3, 4], "start": "18:00", "end": "09:00"}]}),
    )
    .expect(200);
    let gaps = app.get(&format!("/api/rotations/{rot}/gaps?days=7"), &w.viewer.1).expect(200);
    assert_eq!(gaps, json!([{"start": "2026-11-28T09:00:00Z", "end": "2026-11-30T09:00:00Z"}]));
    assert_eq!(app.get(&format!("/api/rotations/{rot}/gaps?days=0"), &w.viewer.1).fields(), ["days"]);
    // The dashboard and the rotation's page warn.
    let cookie = format!("ir_session={}", w.viewer.1);
    let page = |path: &str| app.request("GET", path, None, None, &[("Cookie", &cookie)]).text;
    assert!(page("/").contains("Primary</a>: nobody is on call from"), "the dashboard warns");
    assert!(page(&format!("/rotations/{rot}")).contains("Nobody is on call"), "the rotation page warns");

    // A preview: rick alone, always. Nothing is saved.
    let p = app
        .post(
            &format!("/api/rotations/{rot}/preview"),
            &w.editor.1,
            json!({"layers": [{"members": [w.responder.0], "rotation_type": "weekly", "start_at": "2026-11-23T00:00:00Z"}], "days": 7}),
        )
        .expect(200);
    assert_eq!(p["gaps"], json!([]));
    assert!(p["shifts"].as_array().unwrap().iter().all(|s| s["username"] == "rick"), "{p}");
    let bad = app.post(
        &format!("/api/rotations/{rot}/preview"),
        &w.editor.1,
        json!({"layers": [{"members": [w.outsider.0]}]}),
    );
    assert_eq!(bad.fields(), ["layers[0].members[0]"]);
    assert_eq!(app.get(&format!("/api/rotations/{rot}/layers"), &w.viewer.1).expect(200).as_array().unwrap().len(), 2);
}

#[test]
fn viewers_read_layers_editors_change_them_and_other_groups_see_nothing() {
    let app = TestApp::start();
    let w = World::new(&app);
    let (rot, _, day) = day_and_night(&app, &w);
    let v = &w.viewer.1;
    app.get(&format!("/api/rotations/{rot}/layers"), v).expect(200);
    app.get(&format!("/api/rotations/layers/{day}"), v).expect(200);
    assert_eq!(app.post(&format!("/api/rotations/{rot}/layers"), v, json!({})).status, 403);
    assert_eq!(app.put(&format!("/api/rotations/layers/{day}"), v, json!({"name": "x"})).status, 403);
    assert_eq!(app.delete(&format!("/api/rotations/layers/{day}"), v).status, 403);
    assert_eq!(app.post(&format!("/api/rotations/{rot}/preview"), v, json!({"layers": [{}]})).status, 403);
    let o = &w.outsider.1;
    for path in [
        format!("/api/rotations/{rot}/layers"),
        format!("/api/rotations/layers/{day}"),
        format!("/api/rotations/{rot}/gaps"),
    ] {
        assert_eq!(app.get(&path, o).status, 404, "{path}");
    }
    assert_eq!(app.put(&format!("/api/rotations/layers/{day}"), o, json!({"name": "x"})).status, 404);
}

/// In a gap the team's channels hear that nobody is on call, the timeline says so, and the
/// policy's next step is paged at once rather than after its delay.
#[test]
fn an_alert_in_a_gap_reaches_the_channels_and_the_next_step_at_once() {
    let app = TestApp::start();
    let w = World::new(&app);
    let e = &w.editor.1;
    // Weekdays 10:00–18:00 only; it is Monday 09:00.
    let rot = app
        .post(
            "/api/rotations",
            e,
            json!({"team_id": w.team, "name": "Office", "start_at": "2026-11-16T10:00:00Z", "handoff_time": "10:00"}),
        )
        .id();
    app.post(&format!("/api/rotations/{rot}/members"), e, json!({"user_id": w.editor.0})).expect(201);
    let base = app.get(&format!("/api/rotations/{rot}/layers"), e).expect(200)[0]["id"].as_i64().unwrap();
    app.put(
        &format!("/api/rotations/layers/{base}"),
        e,
        json!({"restrictions": [{"days": [0, 1, 2, 3, 4], "start": "10:00", "end": "18:00"}]}),
    )
    .expect(200);
    let gaps = app.get(&format!("/api/rotations/{rot}/gaps?days=1"), e).expect(200);
    assert_eq!(gaps[0], json!({"start": "2026-11-23T09:00:00Z", "end": "2026-11-23T10:00:00Z"}));
    let push = crate::fake::Fake::start();
    push.default(crate::fake::Reply::ok(r#"{"id": "m"}"#));
    let ch = app
        .post(
            "/api/channels",
            e,
            json!({"team_id": w.team, "name": "phones", "channel_type": "ntfy", "config": {"server_url": push.url, "topic": "ops"}}),
        )
        .id();
    let rules = json!([{"delay_seconds": 0, "target_type": "rotation", "target_id": rot},
                       {"delay_seconds": 900, "target_type": "user", "target_id": w.responder.0}]);
    let policy = app.post("/api/escalation-policies", e, json!({"team_id": w.team, "name": "P", "rules": rules})).id();
    let route = |name: &str, how: Value| {
        let mut body = json!({"team_id": w.team, "name": name, "source": "webhook", "channel_ids": [ch]});
        for (k, v) in how.as_object().unwrap() {
            body[k] = v.clone();
        }
        app.post("/api/routes", e, body).expect(201)["intake_token"].as_str().unwrap().to_string()
    };
    let fire = |token: &str, key: &str| {
        let body = json!({"title": "Disk full", "severity": "critical", "fingerprint": key}).to_string();
        app.post_raw("/api/integrations/webhook", Some(token), &body).expect(200)[0]["id"].as_i64().unwrap()
    };
    // A route with the rotation alone: the channels hear that nobody is on call.
    let id = fire(&route("simple", json!({"rotation_id": rot})), "a");
    app.deliver();
    let first = push.requests()[0].json();
    assert_eq!(first["message"].as_str().unwrap().lines().next(), Some("Firing · nobody on call"), "{first}");
    let events = app.get(&format!("/api/alerts/{id}/events"), e).expect(200).to_string();
    assert!(events.contains("new alert from webhook; nobody on call"), "{events}");
    // A route with the policy: step 2 at once, not after its 15 minutes.
    let id = fire(&route("policy", json!({"escalation_policy_id": policy})), "b");
    app.deliver();
    let a = app.get(&format!("/api/alerts/{id}"), e).expect(200);
    assert_eq!(a["assignee"]["username"], "rick", "{a}");
    let events = app.get(&format!("/api/alerts/{id}/events"), e).expect(200).to_string();
    assert!(events.contains("escalation step 2: paging rick"), "{events}");
}

/// rick asks for cover of his Monday night; eddie hears of it and accepts: an override. Others'
/// shifts, own requests, expired requests and strangers are refused.
#[test]
fn a_swap_request_is_accepted_as_an_override() {
    let app = TestApp::start();
    let w = World::new(&app);
    let (rot, _, _) = day_and_night(&app, &w);
    let (e, rick) = (&w.editor.1, &w.responder.1);
    let push = crate::fake::Fake::start();
    push.default(crate::fake::Reply::ok(r#"{"id": "m"}"#));
    let m = app
        .post("/api/profile/contact-methods", e, json!({"type": "ntfy", "value": format!("{}/eddie", push.url)}))
        .expect(201);
    app.post(&format!("/api/profile/contact-methods/{}/test", m["id"]), e, json!({})).expect(200);

    let path = format!("/api/rotations/{rot}/swap-requests");
    let night = json!({"starts_at": "2026-11-23T18:00:00Z", "ends_at": "2026-11-24T09:00:00Z", "reason": "a wedding"});
    assert_eq!(app.post(&path, e, night.clone()).fields(), ["starts_at"], "not eddie's shift");
    assert_eq!(app.post(&path, &w.viewer.1, night.clone()).status, 403, "viewers do not take calls");
    let req = app.post(&path, rick, night).expect(201);
    assert_eq!(req["status"], "open");
    app.deliver();
    let heard = push.requests().last().unwrap().json()["message"].as_str().unwrap().to_string();
    assert!(
        heard.starts_with("rick asks for cover on Primary: Mon Nov 23 18:00 UTC → Tue Nov 24 09:00 UTC (a wedding)."),
        "{heard}"
    );

    let id = req["id"].as_i64().unwrap();
    assert_eq!(app.post(&format!("{path}/{id}/accept"), rick, json!({})).status, 409, "not your own");
    assert_eq!(app.post(&format!("{path}/{id}/cancel"), &w.viewer.1, json!({})).status, 403);
    let done = app.post(&format!("{path}/{id}/accept"), e, json!({})).expect(200);
    assert_eq!((&done["status"], &done["accepted_by"]), (&json!("accepted"), &json!(w.editor.0)));
    let at = app.get(&format!("/api/rotations/{rot}/oncall?at=2026-11-23T20:00:00Z&count=0"), rick).expect(200);
    assert_eq!((&at[0]["username"], &at[0]["override"]), (&json!("eddie"), &json!(true)));
    assert_eq!(app.post(&format!("{path}/{id}/accept"), e, json!({})).status, 409, "already accepted");

    // A request whose start passes expires; its author may withdraw one.
    let later = app
        .post(&path, e, json!({"starts_at": "2026-11-24T18:00:00Z", "ends_at": "2026-11-25T09:00:00Z"}))
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let other = app
        .post(&path, e, json!({"starts_at": "2026-11-26T18:00:00Z", "ends_at": "2026-11-27T09:00:00Z"}))
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    app.advance(34 * 3600);
    let listed = app.get(&path, &w.viewer.1).expect(200);
    let status = |id: i64| listed.as_array().unwrap().iter().find(|s| s["id"] == id).unwrap()["status"].clone();
    assert_eq!((status(later), status(other)), (json!("expired"), json!("open")));
    assert_eq!(app.post(&format!("{path}/{later}/accept"), rick, json!({})).status, 409);
    assert_eq!(app.post(&format!("{path}/{other}/cancel"), e, json!({})).expect(200)["status"], "cancelled");
    assert_eq!(app.get(&path, &w.outsider.1).status, 404);
}

/// The same through the rotation page's forms: rick asks, eddie covers.
#[test]
fn swaps_are_asked_for_and_covered_on_the_rotation_page() {
    let app = TestApp::start();
    let w = World::new(&app);
    let (rot, _, _) = day_and_night(&app, &w);
    let rick = crate::ui::session(&app, "rick", "password-rick");
    let page = crate::ui::get(&app, &rick, &format!("/rotations/{rot}")).text;
    assert!(page.contains("Ask for cover"), "a responder may ask");
    let r = crate::ui::post_form(
        &app,
        &rick,
        &format!("/rotations/{rot}/swaps"),
        &[
            ("csrf", &rick.csrf),
            ("starts_at", "2026-11-23T18:00"),
            ("ends_at", "2026-11-24T09:00"),
            ("reason", "dentist"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let eddie = crate::ui::session(&app, "eddie", "password-eddie");
    let page = crate::ui::get(&app, &eddie, &format!("/rotations/{rot}")).text;
    assert!(page.contains("asks for cover") && page.contains("dentist") && page.contains("Cover it"), "eddie sees it");
    let id =
        app.get(&format!("/api/rotations/{rot}/swap-requests"), &w.viewer.1).expect(200)[0]["id"].as_i64().unwrap();
    let r =
        crate::ui::post_form(&app, &eddie, &format!("/rotations/{rot}/swaps/{id}/accept"), &[("csrf", &eddie.csrf)]);
    assert_eq!(r.status, 303);
    let at = app.get(&format!("/api/rotations/{rot}/oncall?at=2026-11-23T20:00:00Z&count=0"), &w.viewer.1).expect(200);
    assert_eq!(at[0]["username"], "eddie");
}
