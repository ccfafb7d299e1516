//! The on-call calendar and its iCalendar feeds.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{TestApp, World};

/// A daily Berlin rotation handing off at 09:00 local (08:00 UTC in winter) with eddie, rick
/// and vera, started 2026-11-23, and an override for vera 12:00–18:00 UTC on the 24th.
fn rotation(app: &TestApp, w: &World) -> i64 {
    let rot = app
        .post(
            "/api/rotations",
            &w.editor.1,
            json!({"team_id": w.team, "name": "Primary", "rotation_type": "daily", "handoff_time": "09:00",
                   "timezone": "Europe/Berlin", "start_at": "2026-11-23T09:00:00"}),
        )
        .id();
    for u in [w.editor.0, w.responder.0, w.viewer.0] {
        app.post(&format!("/api/rotations/{rot}/members"), &w.editor.1, json!({"user_id": u})).expect(201);
    }
    app.post(
        &format!("/api/rotations/{rot}/overrides"),
        &w.editor.1,
        json!({"user_id": w.viewer.0, "starts_at": "2026-11-24T12:00:00Z", "ends_at": "2026-11-24T18:00:00Z", "reason": "swap; dentist, 2pm"}),
    )
    .expect(201);
    rot
}

fn brief(events: &Value) -> Vec<(String, String, String, String)> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["username"].as_str().unwrap().to_string(),
                e["start"].as_str().unwrap().to_string(),
                e["end"].as_str().unwrap().to_string(),
                e["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_calendar_splits_shifts_where_overrides_cut_them() {
    let app = TestApp::start();
    let w = World::new(&app);
    let rot = rotation(&app, &w);
    let q = format!("/api/calendar?team_id={}&start=2026-11-23&end=2026-11-26", w.team);
    let events = app.get(&q, &w.viewer.1).expect(200);
    let s = |u: &str, a: &str, b: &str, t: &str| (u.to_string(), a.to_string(), b.to_string(), t.to_string());
    assert_eq!(
        brief(&events),
        vec![
            s("eddie", "2026-11-23T08:00:00Z", "2026-11-24T08:00:00Z", "rotation"),
            s("rick", "2026-11-24T08:00:00Z", "2026-11-24T12:00:00Z", "rotation"),
            s("vera", "2026-11-24T12:00:00Z", "2026-11-24T18:00:00Z", "override"),
            s("rick", "2026-11-24T18:00:00Z", "2026-11-25T08:00:00Z", "rotation"),
            s("vera", "2026-11-25T08:00:00Z", "2026-11-26T00:00:00Z", "rotation"),
        ]
    );
    let e = &events[2];
    assert_eq!((e["rotation_id"].as_i64(), e["rotation_name"].as_str()), (Some(rot), Some("Primary")));
    assert_eq!(e["reason"], "swap; dentist, 2pm");
    assert_eq!(e["team_id"], w.team);

    // Defaults: today 00:00 UTC for 30 days; everything visible without a team filter.
    let all = app.get("/api/calendar", &w.viewer.1).expect(200);
    assert_eq!(all[0]["start"], "2026-11-23T08:00:00Z", "the rotation starts after today's midnight");
    assert_eq!(all.as_array().unwrap().last().unwrap()["end"], "2026-12-23T00:00:00Z");
    assert_eq!(app.get(&format!("/api/calendar?rotation_id={rot}"), &w.viewer.1).expect(200), all);
    // Another group's calendar is invisible.
    assert_eq!(app.get(&q, &w.outsider.1).expect(200), json!([]));
    // Bad windows name the field.
    for (query, field) in [
        ("start=yesterday", "start"),
        ("start=2026-11-23&end=2026-11-22", "end"),
        ("start=2026-01-01&end=2027-06-01", "end"),
    ] {
        let r = app.get(&format!("/api/calendar?{query}"), &w.viewer.1);
        assert_eq!((r.status, r.fields()), (400, vec![field.to_string()]), "{query}: {}", r.text);
    }
}

/// Parses a feed with Python's `icalendar` package (Debian python3-icalendar), as calendar
/// tools built on it do: (uid, dtstart, dtend, summary) per event.
fn parse_with_icalendar(ics: &str) -> Option<Vec<(String, String, String, String)>> {
    let script = r#"
import sys, icalendar
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
assert cal.get("version") == "2.0" and cal.get("prodid")
for e in cal.walk("VEVENT"):
    s, t = e.decoded("dtstart"), e.decoded("dtend")
    assert s.tzinfo is not None and s.utcoffset().total_seconds() == 0, s
    print("\t".join([str(e["uid"]), s.isoformat(), t.isoformat(), str(e["summary"])]))
"#;
    let python = crate::tools::python_with("icalendar")?;
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(ics.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "icalendar rejected the feed: {}", String::from_utf8_lossy(&out.stderr));
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].to_string(), f[1].to_string(), f[2].to_string(), f[3].to_string())
            })
            .collect(),
    )
}

#[test]
fn feeds_serve_valid_icalendar_with_stable_uids_to_whoever_holds_the_token() {
    let app = TestApp::start();
    let w = World::new(&app);
    rotation(&app, &w);
    let r = app.post("/api/calendar/feeds", &w.viewer.1, json!({"team_id": w.team})).expect(201);
    let token = r["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("irc_"));
    let url = r["url"].as_str().unwrap();
    assert_eq!(url, format!("https://oncall.example/api/calendar/feeds/{token}.ics"));
    assert_eq!(r["name"], "On call: Infrastructure");
    let feed_id = r["id"].as_i64().unwrap();
    let listed = app.get("/api/calendar/feeds", &w.viewer.1).expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("token").is_none() && listed[0].get("url").is_none(), "the token is shown once");
    assert_eq!(app.get("/api/calendar/feeds", &w.editor.1).expect(200), json!([]), "feeds are personal");
    let r = app.post("/api/calendar/feeds", &w.outsider.1, json!({"team_id": w.team}));
    assert_eq!((r.status, r.fields()), (400, vec!["team_id".to_string()]));
    let r = app.post("/api/calendar/feeds", &w.viewer.1, json!({}));
    assert_eq!((r.status, r.fields()), (400, vec!["team_id".to_string()]), "{}", r.text);
    let r = app.post("/api/calendar/feeds", &w.viewer.1, json!({"team_id": w.team, "name": "x".repeat(201)}));
    assert_eq!((r.status, r.fields()), (400, vec!["name".to_string()]), "{}", r.text);
    let r = app.post("/api/calendar/feeds", &w.viewer.1, json!({"team_id": w.team, "colour": "red"}));
    assert_eq!(r.status, 400, "unknown fields are refused: {}", r.text);
    assert_eq!(app.delete("/api/calendar/feeds/9999", &w.viewer.1).status, 404);

    let path = format!("/api/calendar/feeds/{token}.ics");
    let fetch = |app: &TestApp| app.request("GET", &path, None, None, &[]);
    let first = fetch(&app);
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.header("content-type"), Some("text/calendar; charset=utf-8"));
    let ics = first.text.clone();
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
    for line in ics.split("\r\n") {
        assert!(line.len() <= 75, "folded at 75 octets: {line}");
    }
    let unfolded = ics.replace("\r\n ", "");
    assert!(unfolded.contains("X-WR-CALNAME:On call: Infrastructure\r\n"));
    assert!(unfolded.contains("DTSTART:20261124T120000Z\r\nDTEND:20261124T180000Z\r\n"), "override in UTC");
    assert!(unfolded.contains("Override: swap\\; dentist\\, 2pm"), "TEXT escaped");
    let uids: Vec<&str> = unfolded.lines().filter_map(|l| l.strip_prefix("UID:")).collect();
    let mut unique = uids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(uids.len(), unique.len(), "one UID per event");
    assert!(uids.iter().all(|u| u.ends_with("@oncall.example")));

    // An hour later the same shifts keep their UIDs (clients update instead of duplicating).
    app.advance(3600);
    let again = fetch(&app).text.replace("\r\n ", "");
    let uids2: Vec<&str> = again.lines().filter_map(|l| l.strip_prefix("UID:")).collect();
    assert_eq!(uids, uids2);

    if let Some(events) = parse_with_icalendar(&ics) {
        assert_eq!(events.len(), uids.len());
        let ov = events.iter().find(|e| e.1 == "2026-11-24T12:00:00+00:00").expect("the override");
        assert_eq!(ov.2, "2026-11-24T18:00:00+00:00");
        assert!(ov.3.contains("vera") && ov.3.contains("override"), "{ov:?}");
    }

    // The token is the only credential: a wrong one is a 404, and the feed stops when its owner
    // loses access to the team, or when it is deleted.
    assert_eq!(app.request("GET", "/api/calendar/feeds/irc_wrong.ics", None, None, &[]).status, 404);
    let ms = app.get(&format!("/api/groups/{}/users", w.group), &w.admin).expect(200);
    let vera = ms.as_array().unwrap().iter().find(|m| m["username"] == "vera").unwrap()["id"].as_i64().unwrap();
    app.put(&format!("/api/groups/users/{vera}"), &w.admin, json!({"role": "viewer"})).expect(200);
    assert_eq!(fetch(&app).status, 200);
    app.delete(&format!("/api/groups/users/{vera}"), &w.admin).expect(200);
    assert_eq!(fetch(&app).status, 404, "the owner lost access");
    assert_eq!(app.delete(&format!("/api/calendar/feeds/{feed_id}"), &w.editor.1).status, 404, "not yours");
    app.delete(&format!("/api/calendar/feeds/{feed_id}"), &w.viewer.1).expect(200);
    assert!(app.log.lines().iter().all(|l| !l.contains(&token)), "the token never reaches the log");
}

/// My shifts: across every rotation, overrides included, a shift running now with its real
/// start; and one personal feed over all of them, parsed by python-icalendar.
#[test]
fn my_shifts_and_my_personal_feed() {
    let app = TestApp::start();
    let w = World::new(&app);
    rotation(&app, &w);
    let mine = |token: &str, days: i64| {
        let r = app.get(&format!("/api/profile/shifts?days={days}"), token).expect(200);
        r.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["start"].as_str().unwrap().to_string(),
                    e["end"].as_str().unwrap().to_string(),
                    e["type"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        mine(&w.editor.1, 3),
        [
            ("2026-11-23T08:00:00Z".into(), "2026-11-24T08:00:00Z".into(), "rotation".into()),
            ("2026-11-26T08:00:00Z".into(), "2026-11-27T08:00:00Z".into(), "rotation".into()),
        ],
        "eddie: on call since 08:00Z (before now), and again on the 26th"
    );
    assert_eq!(
        mine(&w.responder.1, 3),
        [
            ("2026-11-24T08:00:00Z".into(), "2026-11-24T12:00:00Z".into(), "rotation".into()),
            ("2026-11-24T18:00:00Z".into(), "2026-11-25T08:00:00Z".into(), "rotation".into()),
        ],
        "rick's day, cut where vera's override covers it"
    );
    assert_eq!(mine(&w.viewer.1, 3)[0].2, "override", "vera's override is hers");
    assert_eq!(app.get("/api/profile/shifts?days=91", &w.editor.1).fields(), ["days"]);
    assert!(mine(&w.outsider.1, 14).is_empty(), "someone in no rotation has no shifts");

    // The personal feed: the URL (with its token) once; the feed holds rick's shifts only.
    let feed = app.post("/api/profile/calendar-feeds", &w.responder.1, json!({})).expect(201);
    let url = feed["url"].as_str().unwrap().to_string();
    assert!(feed["token"].as_str().unwrap().starts_with("irm_") && url.ends_with(".ics"));
    let listed = app.get("/api/profile/calendar-feeds", &w.responder.1).expect(200);
    assert!(listed[0].get("token").is_none() && listed[0]["name"] == "My on-call shifts");
    let path = url.trim_start_matches("https://oncall.example");
    let ics = app.request("GET", path, None, None, &[]);
    assert_eq!(ics.status, 200);
    let rick_starts: Vec<String> = mine(&w.responder.1, 90).into_iter().map(|(s, _, _)| s).collect();
    if let Some(events) = parse_with_icalendar(&ics.text) {
        assert!(events.iter().all(|(_, _, _, summary)| summary == "On call — Primary"), "{events:?}");
        let starts: Vec<String> =
            events.iter().map(|(_, s, _, _)| s.replace("+00:00", "Z")).filter(|s| s.as_str() >= "2026-11-23").collect();
        assert_eq!(
            starts.iter().take(2).collect::<Vec<_>>(),
            rick_starts.iter().take(2).collect::<Vec<_>>(),
            "rick's shifts, no one else's"
        );
    }
    let id = feed["id"].as_i64().unwrap();
    assert_eq!(app.delete(&format!("/api/profile/calendar-feeds/{id}"), &w.editor.1).status, 404, "not eddie's");
    app.delete(&format!("/api/profile/calendar-feeds/{id}"), &w.responder.1).expect(200);
    assert_eq!(app.request("GET", path, None, None, &[]).status, 404, "a deleted feed stops");
}

/// True shift bounds: the shift running at the asked time starts where it really began (a
/// handoff, an override's edge), not at the time asked; `current_oncall` says since and until.
#[test]
fn the_current_shift_has_its_real_bounds() {
    let app = TestApp::start();
    let w = World::new(&app);
    let rot = rotation(&app, &w);
    let shifts =
        app.get(&format!("/api/rotations/{rot}/oncall?at=2026-11-23T12:00:00Z&count=1"), &w.viewer.1).expect(200);
    assert_eq!(
        (shifts[0]["username"].as_str(), shifts[0]["start"].as_str()),
        (Some("eddie"), Some("2026-11-23T08:00:00Z")),
        "on call since 08:00Z, not 12:00"
    );
    let during =
        app.get(&format!("/api/rotations/{rot}/oncall?at=2026-11-24T14:00:00Z&count=1"), &w.viewer.1).expect(200);
    assert_eq!(
        (
            during[0]["username"].as_str(),
            during[0]["start"].as_str(),
            during[0]["end"].as_str(),
            during[0]["type"].as_str()
        ),
        (Some("vera"), Some("2026-11-24T12:00:00Z"), Some("2026-11-24T18:00:00Z"), Some("override"))
    );
    let r = app.get(&format!("/api/rotations/{rot}"), &w.viewer.1).expect(200);
    let now = &r["current_oncall"];
    assert_eq!(
        (now["username"].as_str(), now["since"].as_str(), now["until"].as_str()),
        (Some("eddie"), Some("2026-11-23T08:00:00Z"), Some("2026-11-24T08:00:00Z"))
    );
}
