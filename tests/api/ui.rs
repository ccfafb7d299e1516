//! The web UI over plain HTTP: every page for every role without a 500, no write controls for
//! viewers, CSRF on every form, validation messages next to the fields, login redirects.

use serde_json::{Value, json};

use crate::support::{Resp, TestApp, World, send};

/// A browser session: the session cookie and the CSRF token of a user.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub fn session(app: &TestApp, username: &str, password: &str) -> Session {
    let r =
        app.request("POST", "/api/auth/login", None, Some(&json!({"username": username, "password": password})), &[]);
    let body = r.expect(200);
    Session {
        cookie: format!("ir_session={}", body["access_token"].as_str().unwrap()),
        csrf: body["csrf_token"].as_str().unwrap().to_string(),
    }
}

pub fn get(app: &TestApp, s: &Session, path: &str) -> Resp {
    app.request("GET", path, None, None, &[("Cookie", &s.cookie)])
}

pub fn post_form(app: &TestApp, s: &Session, path: &str, fields: &[(&str, &str)]) -> Resp {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
    send(
        &app.agent,
        "POST",
        &app.url(path),
        None,
        Some(body.join("&")),
        &[("Cookie", &s.cookie), ("Content-Type", "application/x-www-form-urlencoded")],
    )
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A world with a rotation, a channel, a route, a policy, a silence and an alert.
fn populated(app: &TestApp) -> (World, Value) {
    let w = World::new(app);
    let e = &w.editor.1;
    let rot = app.post("/api/rotations", e, json!({"team_id": w.team, "name": "Primary"})).id();
    app.post(&format!("/api/rotations/{rot}/members"), e, json!({"user_id": w.responder.0})).expect(201);
    let ch = app
        .post("/api/channels", e, json!({"team_id": w.team, "name": "hook", "channel_type": "webhook", "config": {"webhook_url": "http://127.0.0.1:9/x"}}))
        .id();
    let route = app
        .post(
            "/api/routes",
            e,
            json!({"team_id": w.team, "name": "am", "source": "webhook", "rotation_id": rot, "channel_ids": [ch]}),
        )
        .expect(201);
    let pol = app
        .post("/api/escalation-policies", e, json!({"team_id": w.team, "name": "p", "rules": [{"delay_seconds": 0, "target_type": "channel", "target_id": ch}]}))
        .id();
    app.post(
        "/api/silences",
        &w.responder.1,
        json!({"team_id": w.team, "name": "maint", "matchers": {"labels": {"host": "x"}}, "ends_at": "2026-11-24T00:00:00Z"}),
    )
    .expect(201);
    let token = route["intake_token"].as_str().unwrap();
    let alert = app
        .post_raw(
            "/api/integrations/webhook",
            Some(token),
            &json!({"title": "CPU hot", "fingerprint": "cpu"}).to_string(),
        )
        .expect(200)[0]
        .clone();
    let ids = json!({"rotation": rot, "channel": ch, "route": route["id"], "policy": pol, "alert": alert["id"], "team": w.team});
    (w, ids)
}

#[test]
fn every_page_renders_for_every_role_and_viewers_get_no_write_controls() {
    let app = TestApp::start();
    let (w, ids) = populated(&app);
    let pages = [
        "/".to_string(),
        "/alerts".into(),
        "/alerts?status=any&severity=warning&search=cpu".into(),
        format!("/alerts/{}", ids["alert"]),
        "/calendar".into(),
        "/calendar?view=week&date=2026-11-25&at=2026-11-23T10:00".into(),
        "/teams".into(),
        format!("/teams/{}", ids["team"]),
        "/rotations".into(),
        format!("/rotations/{}", ids["rotation"]),
        "/routes".into(),
        format!("/routes/{}", ids["route"]),
        "/channels".into(),
        format!("/channels/{}", ids["channel"]),
        "/policies".into(),
        format!("/policies/{}", ids["policy"]),
        "/silences".into(),
        format!("/silences/new?alert={}", ids["alert"]),
        "/profile".into(),
    ];
    let users = [("vera", "viewer"), ("rick", "responder"), ("eddie", "editor"), ("olga", "outsider")];
    for (name, role) in users {
        let s = session(&app, name, &format!("password-{name}"));
        for p in &pages {
            let r = get(&app, &s, p);
            // Pages of one object of another group are a 404 for the outsider.
            let names_an_object =
                p.chars().any(|c| c.is_ascii_digit()) && !p.starts_with("/calendar") && !p.starts_with("/alerts?");
            let outsider_detail = role == "outsider" && names_an_object;
            let expected = if outsider_detail { 404 } else { 200 };
            assert_eq!(r.status, expected, "{role} GET {p}: {}", &r.text[..r.text.len().min(400)]);
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        }
        if role == "viewer" {
            for p in &pages {
                let html = get(&app, &s, p).text;
                for control in [
                    "New team",
                    "New rotation",
                    "New route",
                    "New channel",
                    "Delete",
                    ">Ack<",
                    "Acknowledge</button>",
                    "Send a test",
                ] {
                    assert!(!html.contains(control), "viewer sees {control:?} on {p}");
                }
            }
        }
        if role == "responder" {
            let html = get(&app, &s, &format!("/alerts/{}", ids["alert"])).text;
            assert!(html.contains("Acknowledge</button>"), "responders can acknowledge");
            assert!(!get(&app, &s, "/teams").text.contains("New team"), "but not create teams");
        }
    }
    let admin = session(&app, "admin", &app.admin_password);
    for p in pages.iter().map(String::as_str).chain([
        "/admin/groups",
        "/admin/users",
        "/admin/audit",
        "/admin/groups/1",
        "/admin/users/2",
    ]) {
        assert_eq!(get(&app, &admin, p).status, 200, "admin GET {p}");
    }
    let s = session(&app, "eddie", "password-eddie");
    assert_eq!(get(&app, &s, "/admin/users").status, 403, "admin pages are for admins");
    let _ = w;
}

#[test]
fn forms_need_the_csrf_token_and_show_errors_next_to_the_field() {
    let app = TestApp::start();
    let (w, ids) = populated(&app);
    let s = session(&app, "eddie", "password-eddie");
    // No CSRF token: refused, nothing created.
    let r = post_form(&app, &s, "/teams", &[("group_id", &w.group.to_string()), ("name", "Sneaky")]);
    assert_eq!(r.status, 403);
    assert!(!get(&app, &s, "/teams").text.contains("Sneaky"));
    // Bad input: 400 with the message next to the field, the typed values kept.
    let r = post_form(
        &app,
        &s,
        "/rotations",
        &[
            ("csrf", &s.csrf),
            ("team_id", &w.team.to_string()),
            ("name", "Night"),
            ("timezone", "Mars/Olympus"),
            ("rotation_type", "daily"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains(r#"id="err-timezone""#), "{}", r.text);
    assert!(r.text.contains("IANA"));
    assert!(r.text.contains(r#"value="Night""#), "typed values are kept");
    let r = post_form(
        &app,
        &s,
        &format!("/routes/{}", ids["route"]),
        &[("csrf", &s.csrf), ("name", "am"), ("matchers", "{not json")],
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains(r#"id="err-matchers""#));
    // Good input: 303 with a flash message shown once.
    let r = post_form(
        &app,
        &s,
        "/teams",
        &[("csrf", &s.csrf), ("group_id", &w.group.to_string()), ("name", "Database Team")],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let to = r.header("location").unwrap().to_string();
    let flash = r
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("ir_flash="))
        .map(|(_, v)| v.clone())
        .unwrap();
    let cookie = format!("{}; {}", s.cookie, flash.split(';').next().unwrap());
    let page = app.request("GET", &to, None, None, &[("Cookie", &cookie)]);
    assert!(page.text.contains("Team created"), "{}", page.text);
    assert!(page.text.contains("database-team"), "slug derived from the name");
    // Responders acknowledge from the alerts page.
    let rick = session(&app, "rick", "password-rick");
    let r = post_form(&app, &rick, &format!("/alerts/{}/ack", ids["alert"]), &[("csrf", &rick.csrf)]);
    assert_eq!(r.status, 303);
    assert_eq!(app.get(&format!("/api/alerts/{}", ids["alert"]), &w.admin).expect(200)["status"], "acknowledged");
}

#[test]
fn pages_need_a_login_and_logout_ends_the_session() {
    let app = TestApp::start();
    let r = app.request("GET", "/alerts?status=firing", None, None, &[]);
    assert_eq!((r.status, r.header("location")), (303, Some("/login?next=/alerts%3Fstatus%3Dfiring")));
    let login = app.request("GET", "/login", None, None, &[]);
    assert_eq!(login.status, 200);
    assert!(login.text.contains(r#"name="csrf""#));
    let s = session(&app, "admin", &app.admin_password);
    assert_eq!(get(&app, &s, "/").status, 200);
    let r = post_form(&app, &s, "/logout", &[("csrf", &s.csrf)]);
    assert_eq!(r.status, 303);
    assert_eq!(get(&app, &s, "/").status, 303, "the session is gone");
}

#[test]
fn channel_forms_have_the_fields_of_their_type_and_keep_secrets() {
    let app = TestApp::start();
    let (w, _) = populated(&app);
    let s = session(&app, "eddie", "password-eddie");
    let page = get(&app, &s, "/channels?channel_type=slack").text;
    for field in ["config.mode", "config.bot_token", "config.signing_secret", "config.webhook_url"] {
        assert!(page.contains(&format!(r#"name="{field}""#)), "the slack form has {field}");
    }
    assert!(page.contains("chat.postMessage"), "fields carry their help text");
    let team = w.team.to_string();
    // A missing required field is reported next to it.
    let r = post_form(
        &app,
        &s,
        "/channels",
        &[("csrf", &s.csrf), ("team_id", &team), ("name", "tg"), ("channel_type", "telegram")],
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains(r#"id="err-config.bot_token""#), "{}", r.text);
    // Created from fields; the secret is masked on the edit page and kept when sent back as shown.
    let r = post_form(
        &app,
        &s,
        "/channels",
        &[
            ("csrf", &s.csrf),
            ("team_id", &team),
            ("name", "tg"),
            ("channel_type", "telegram"),
            ("config.bot_token", "123456:SECRET-TOKEN-VALUE"),
            ("config.chat_id", "-100123"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let at = r.header("location").unwrap().to_string();
    let edit = get(&app, &s, &at).text;
    assert!(!edit.contains("SECRET-TOKEN-VALUE"), "the secret never comes back");
    let masked = edit
        .split(r#"name="config.bot_token" type="password" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = post_form(
        &app,
        &s,
        &at,
        &[
            ("csrf", &s.csrf),
            ("name", "tg renamed"),
            ("config.bot_token", &masked),
            ("config.chat_id", "-100123"),
            ("enabled", "true"),
            ("_checks", "enabled"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let id: i64 = at.rsplit('/').next().unwrap().parse().unwrap();
    // The stored secret, as the store holds it (the API masks it).
    let stored = app.app.state().db.read_blocking(move |c| incidentrelay::store::channels::get(c, id)).unwrap();
    assert_eq!(stored.config["bot_token"], "123456:SECRET-TOKEN-VALUE", "kept: {}", stored.config);
}

#[test]
fn the_login_form_refuses_wrong_passwords_forged_posts_and_floods() {
    let app = TestApp::start_with(|c| c.auth.max_failed_logins_per_account = 2);
    let form = |cookie: &str, csrf: &str, password: &str| {
        send(
            &app.agent,
            "POST",
            &app.url("/login?next=/alerts"),
            None,
            Some(format!("csrf={csrf}&username=admin&password={}", urlencode(password))),
            &[("Cookie", cookie), ("Content-Type", "application/x-www-form-urlencoded")],
        )
    };
    let page = app.request("GET", "/login", None, None, &[]);
    let cookie = page.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    let csrf = cookie.trim_start_matches("ir_login=").to_string();
    // Without the login cookie the form is refused, whatever the password.
    let r = form("", &csrf, &app.admin_password);
    assert_eq!(r.status, 403);
    assert!(r.text.contains("expired"));
    // A wrong password: 401 with a message, the username kept, no session.
    let r = form(&cookie, &csrf, "wrong password");
    assert_eq!(r.status, 401);
    assert!(r.text.contains("Wrong username or password") && r.text.contains(r#"value="admin""#));
    assert!(r.header("set-cookie").is_none_or(|c| !c.contains("ir_session")));
    form(&cookie, &csrf, "wrong again");
    let r = form(&cookie, &csrf, &app.admin_password);
    assert_eq!(r.status, 429, "locked after repeated failures: {}", r.text);
    assert!(r.text.contains("Too many failed logins"));
}

#[test]
fn bulk_actions_need_a_selection_and_report_what_they_did() {
    let app = TestApp::start();
    let (w, ids) = populated(&app);
    let s = session(&app, "rick", "password-rick");
    let r = post_form(&app, &s, "/alerts/bulk", &[("csrf", &s.csrf), ("action", "ack"), ("back", "/alerts")]);
    assert_eq!((r.status, r.header("location")), (303, Some("/alerts")));
    assert_eq!(flash_of(&r), "error\nSelect at least one alert.");
    assert_eq!(app.get(&format!("/api/alerts/{}", ids["alert"]), &w.admin).expect(200)["status"], "firing");
    let id = ids["alert"].to_string();
    let r = post_form(
        &app,
        &s,
        "/alerts/bulk",
        &[("csrf", &s.csrf), ("action", "resolve"), ("ids", &id), ("back", "/alerts")],
    );
    assert_eq!(r.status, 303);
    let flash = r
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("ir_flash="))
        .map(|(_, v)| v.clone())
        .unwrap();
    let page = app.request(
        "GET",
        "/alerts",
        None,
        None,
        &[("Cookie", &format!("{}; {}", s.cookie, flash.split(';').next().unwrap()))],
    );
    assert!(page.text.contains("1 of 1 alert resolved."), "{}", page.text);
    assert_eq!(app.get(&format!("/api/alerts/{}", ids["alert"]), &w.admin).expect(200)["status"], "resolved");
    // A viewer's bulk action changes nothing.
    let vera = session(&app, "vera", "password-vera");
    let r = post_form(
        &app,
        &vera,
        "/alerts/bulk",
        &[("csrf", &vera.csrf), ("action", "ack"), ("ids", &id), ("back", "/alerts")],
    );
    assert_eq!(r.status, 303);
    assert_eq!(flash_of(&r), "error\n0 of 1 alert acknowledged.", "a viewer may not acknowledge");
}

/// The flash message a redirect sets, as `kind\nmessage`.
fn flash_of(r: &Resp) -> String {
    let cookie =
        r.headers.iter().find(|(k, v)| k == "set-cookie" && v.starts_with("ir_flash=")).map(|(_, v)| v.as_str());
    let raw = cookie.expect("a flash cookie").trim_start_matches("ir_flash=").split(';').next().unwrap_or("");
    String::from_utf8(incidentrelay::crypto::b64url_decode(raw).expect("base64url")).unwrap()
}

#[test]
fn deleting_something_still_in_use_explains_why_and_a_missing_one_is_a_404_page() {
    let app = TestApp::start();
    let (w, ids) = populated(&app);
    let s = session(&app, "eddie", "password-eddie");
    let rot = ids["rotation"].to_string();
    // The route still pages this rotation: back to the rotation, with the reason.
    let r = post_form(&app, &s, &format!("/rotations/{rot}/delete"), &[("csrf", &s.csrf)]);
    assert_eq!((r.status, r.header("location")), (303, Some(format!("/rotations/{rot}").as_str())));
    assert_eq!(flash_of(&r), "error\nroute \"am\" uses this rotation; change the route first");
    assert_eq!(app.get(&format!("/api/rotations/{rot}"), &w.editor.1).status, 200);
    // Once the route is gone the rotation can go.
    let r = post_form(&app, &s, &format!("/routes/{}/delete", ids["route"]), &[("csrf", &s.csrf)]);
    assert_eq!((r.status, flash_of(&r).as_str()), (303, "ok\nRoute deleted."));
    let r = post_form(&app, &s, &format!("/rotations/{rot}/delete"), &[("csrf", &s.csrf)]);
    assert_eq!(
        (r.status, r.header("location"), flash_of(&r).as_str()),
        (303, Some("/rotations"), "ok\nRotation deleted.")
    );
    // Deleting it again is a "not found" page, not a redirect that hides the answer.
    let r = post_form(&app, &s, &format!("/rotations/{rot}/delete"), &[("csrf", &s.csrf)]);
    assert_eq!(r.status, 404, "{}", r.text);
}

/// The setup checklist on a dashboard: (steps done, where the next one links), or `None` when
/// there is no checklist.
fn checklist(page: &str) -> Option<(usize, String)> {
    let list = page.split("<ol class=\"checklist\">").nth(1)?.split("</ol>").next()?;
    let next = list.split("<li class=\"next\">").nth(1)?;
    let href = next.split("href=\"").nth(1)?.split('"').next()?.to_string();
    Some((list.matches("<li class=\"done\">").count(), href))
}

/// A fresh install's dashboard is a checklist: group → people → team → rotation → channel →
/// route → test alert, each linking to its page and ticked when done, gone once all are. No
/// empty page is a dead end: each says what to create first and links there.
#[test]
fn a_fresh_install_leads_through_setup_and_no_empty_page_is_a_dead_end() {
    let app = TestApp::start();
    let admin = app.admin();
    let s = session(&app, "admin", &app.admin_password);
    let dashboard = || checklist(&get(&app, &s, "/").text);
    assert_eq!(dashboard(), Some((0, "/admin/groups".into())));
    let leads = |path: &str, to: &str| {
        let page = get(&app, &s, path);
        assert_eq!(page.status, 200, "{path}");
        let hint = page
            .text
            .split("<p class=\"empty\">")
            .nth(1)
            .unwrap_or_else(|| panic!("{path}: no hint"))
            .split("</p>")
            .next()
            .unwrap();
        assert!(hint.contains(&format!("href=\"{to}\"")), "{path} leads to {to}: {hint}");
    };
    leads("/teams", "/admin/groups");
    for path in ["/rotations", "/channels", "/routes", "/policies", "/silences"] {
        leads(path, "/teams");
    }
    leads("/alerts", "/routes");
    leads("/calendar", "/rotations");

    let group = app.post("/api/groups", &admin, json!({"slug": "ops", "name": "Operations"})).id();
    assert_eq!(dashboard(), Some((1, format!("/admin/groups/{group}"))));
    let (alice, _) = app.user(&admin, "alice");
    app.post(&format!("/api/groups/{group}/users"), &admin, json!({"user_id": alice, "role": "responder"})).expect(201);
    assert_eq!(dashboard(), Some((2, "/teams".into())));
    let teams = get(&app, &s, "/teams").text;
    assert!(
        teams.contains("Create the first one below.") && teams.contains("<details class=\"create\" open"),
        "the form is open"
    );
    let team = app.post("/api/teams", &admin, json!({"group_id": group, "slug": "infra", "name": "Infra"})).id();
    assert_eq!(dashboard(), Some((3, "/rotations".into())));
    let rotations = get(&app, &s, "/rotations").text;
    assert!(rotations.contains("Create the first one below.") && rotations.contains("<details class=\"create\" open"));
    let rot = app.post("/api/rotations", &admin, json!({"team_id": team, "name": "Primary"})).id();
    assert_eq!(dashboard(), Some((3, "/rotations".into())), "a rotation with nobody in it is not done");
    app.post(&format!("/api/rotations/{rot}/members"), &admin, json!({"user_id": alice})).expect(201);
    assert_eq!(dashboard(), Some((4, "/channels".into())));
    let ch = app
        .post("/api/channels", &admin, json!({"team_id": team, "name": "log", "channel_type": "log", "config": {}}))
        .id();
    assert_eq!(dashboard(), Some((5, "/routes".into())));
    let route = app
        .post(
            "/api/routes",
            &admin,
            json!({"team_id": team, "name": "am", "source": "alertmanager", "rotation_id": rot, "channel_ids": [ch]}),
        )
        .id();
    assert_eq!(dashboard(), Some((6, format!("/routes/{route}"))));
    let r = post_form(&app, &s, &format!("/routes/{route}/test-alert"), &[("csrf", &s.csrf)]);
    assert!(flash_of(&r).starts_with("ok\n"), "{}", flash_of(&r));
    let page = get(&app, &s, "/").text;
    assert!(dashboard().is_none() && !page.contains("setup-title"), "all done: no checklist");
}

/// The curl command in a route page's snippet, as (URL, headers, body), HTML unescaped.
fn curl_of(html: &str, id: &str) -> (String, Vec<(String, String)>, String) {
    let start = html.find(&format!("<pre id=\"{id}\">")).unwrap_or_else(|| panic!("no {id} snippet"));
    let text = html[start..].split_once('>').unwrap().1.split("</pre>").next().unwrap();
    let text = text
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .replace("\\\n", " ");
    let url = text.split("POST ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let quoted = |flag: &str| -> Vec<String> {
        text.split(&format!("{flag} '")).skip(1).map(|s| s.split('\'').next().unwrap().to_string()).collect()
    };
    let headers = quoted("-H").iter().map(|h| h.split_once(": ").unwrap()).map(|(k, v)| (k.into(), v.into())).collect();
    (url, headers, quoted("-d").remove(0))
}

#[test]
fn every_route_snippet_posts_a_body_its_own_endpoint_accepts() {
    use incidentrelay::domain::alert::Source;
    let app = TestApp::start();
    let w = World::new(&app);
    let s = session(&app, "eddie", "password-eddie");
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    for source in Source::ALL {
        let team = w.team.to_string();
        let name = format!("r-{}", source.as_str());
        let mut fields = vec![
            ("csrf", s.csrf.as_str()),
            ("team_id", &team),
            ("name", &name),
            ("source", source.as_str()),
            ("enabled", "on"),
        ];
        if source == Source::Incidentio {
            fields.push(("signing_secret", secret));
        }
        let page = post_form(&app, &s, "/routes", &fields);
        assert_eq!(page.status, 200, "{}", page.text);
        let snippet = if page.text.contains("id=\"snippet-curl\"") { "snippet-curl" } else { "snippet-main" };
        if source == Source::Incidentio {
            // A shell snippet that signs the body: run it with the route's secret and the test's clock.
            let start = page.text.find("<pre id=\"snippet-curl\">").unwrap();
            let text = page.text[start..].split_once('>').unwrap().1.split("</pre>").next().unwrap();
            let script = text
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
                .replace("SECRET='whsec_…'", &format!("SECRET='{secret}'"))
                .replace("$(date +%s)", &app.now().secs().to_string())
                .replace("https://oncall.example", &app.base);
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("{} -s -o /dev/null -w '%{{http_code}}'", script.trim_end())])
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stdout);
            assert_eq!(said, "204", "{script}\n{}", String::from_utf8_lossy(&out.stderr));
            continue;
        }
        let (url, headers, body) = curl_of(&page.text, snippet);
        assert!(url.ends_with(source.intake_path()), "{source:?}: {url}");
        let path = url.trim_start_matches("https://oncall.example");
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = send(&app.agent, "POST", &app.url(path), None, Some(body.clone()), &headers);
        assert!(r.status < 300, "{source:?}: {path} {body} → {} {}", r.status, r.text);
    }
    let alerts = app.get("/api/alerts", &w.admin).expect(200);
    assert_eq!(alerts["items"].as_array().unwrap().len(), Source::ALL.len(), "one alert per source's snippet");
}

/// The Alertmanager configuration the route page shows, and the one in the docs, are complete
/// (`route:` and `receivers:`) and pass Alertmanager's own checker.
#[test]
fn the_alertmanager_snippets_pass_amtool_check_config() {
    if crate::support::postgres() {
        return; // Text on a page: the database does not change it; it runs once, in tests/api.
    }
    let Some(amtool) = crate::tools::require("amtool") else { return };
    let app = TestApp::start();
    let w = World::new(&app);
    let s = session(&app, "eddie", "password-eddie");
    let team = w.team.to_string();
    let fields =
        [("csrf", s.csrf.as_str()), ("team_id", &team), ("name", "am"), ("source", "alertmanager"), ("enabled", "on")];
    let page = post_form(&app, &s, "/routes", &fields);
    let start = page.text.find("<pre id=\"snippet-main\">").expect("the snippet");
    let shown = page.text[start..].split_once('>').unwrap().1.split("</pre>").next().unwrap().replace("&#39;", "'");
    assert!(shown.starts_with("route:\n") && shown.contains("credentials: iri_"), "{shown}");
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/integrations/alertmanager.md")).unwrap();
    let documented =
        doc.split("```yaml\n").nth(1).and_then(|b| b.split("```").next()).expect("a yaml block").to_string();
    let dir = tempfile::tempdir().unwrap();
    for (name, yaml) in [("route page", shown), ("docs", documented)] {
        let file = dir.path().join("alertmanager.yml");
        std::fs::write(&file, &yaml).unwrap();
        let out = std::process::Command::new(&amtool).arg("check-config").arg(&file).output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && said.contains("SUCCESS"), "{name}: {said}\n{yaml}");
        assert!(said.contains(" - route") && said.contains(" - 1 receivers"), "{name}: {said}");
    }
}

/// A route that pages nobody says so (API and page), and so does its test alert: a test that
/// queued no notification is not a green success; one that did names its targets.
#[test]
fn routes_that_page_nobody_are_flagged_and_their_test_alert_says_what_it_queued() {
    let app = TestApp::start();
    let w = World::new(&app);
    let e = &w.editor.1;
    let bare = app.post("/api/routes", e, json!({"team_id": w.team, "name": "bare", "source": "webhook"})).expect(201);
    let warnings: Vec<&str> = bare["warnings"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("notifies nobody") && warnings[1].contains("Nobody is on call"), "{warnings:?}");
    let s = session(&app, "eddie", "password-eddie");
    let id = bare["id"].as_i64().unwrap();
    let page = get(&app, &s, &format!("/routes/{id}")).text;
    assert!(page.contains("This route notifies nobody"), "the route page shows it");
    let r = post_form(&app, &s, &format!("/routes/{id}/test-alert"), &[("csrf", &s.csrf)]);
    let flash = flash_of(&r);
    assert!(flash.starts_with("error\n") && flash.contains("no notification was queued"), "{flash}");

    let rot = app.post("/api/rotations", e, json!({"team_id": w.team, "name": "Primary"})).id();
    app.post(&format!("/api/rotations/{rot}/members"), e, json!({"user_id": w.responder.0})).expect(201);
    let ch = app
        .post("/api/channels", e, json!({"team_id": w.team, "name": "hook", "channel_type": "webhook", "config": {"webhook_url": "http://127.0.0.1:9/x"}}))
        .id();
    let good = app
        .post(
            "/api/routes",
            e,
            json!({"team_id": w.team, "name": "good", "source": "webhook", "rotation_id": rot, "channel_ids": [ch]}),
        )
        .expect(201);
    assert_eq!(good["warnings"], json!([]));
    let r = post_form(&app, &s, &format!("/routes/{}/test-alert", good["id"]), &[("csrf", &s.csrf)]);
    let flash = flash_of(&r);
    assert!(
        flash.starts_with("ok\n") && flash.contains("1 notification queued") && flash.contains("webhook \"hook\""),
        "{flash}"
    );

    let policy = app
        .post("/api/escalation-policies", e, json!({"team_id": w.team, "name": "p", "rules": [{"delay_seconds": 0, "target_type": "channel", "target_id": ch}]}))
        .id();
    let both = app.put(&format!("/api/routes/{}", good["id"]), e, json!({"escalation_policy_id": policy})).expect(200);
    assert!(both["warnings"][0].as_str().unwrap().contains("the policy decides who is paged"), "{both}");
}

/// A browser never gets raw JSON: an unknown page, a missing object and a server error are HTML
/// pages that say what happened and lead back (a 5xx with its error id); API paths keep
/// answering JSON.
#[test]
fn errors_in_the_browser_are_friendly_pages() {
    let app = TestApp::start();
    let _w = World::new(&app);
    let s = session(&app, "eddie", "password-eddie");
    let page = |path: &str| {
        app.request("GET", path, None, None, &[("Cookie", &s.cookie), ("Accept", "text/html,application/xhtml+xml")])
    };
    for path in ["/no-such-page", "/alerts/999999", "/teams/999999"] {
        let r = page(path);
        assert_eq!(r.status, 404, "{path}");
        assert!(
            r.header("content-type").unwrap_or("").starts_with("text/html"),
            "{path}: {:?}",
            r.header("content-type")
        );
        assert!(
            r.text.contains("<h1>Not found</h1>") && r.text.contains("Back to the dashboard"),
            "{path}: {}",
            r.text
        );
    }
    let api = page("/api/no-such-endpoint");
    assert_eq!((api.status, api.body["error"].as_str()), (404, Some("not_found")), "the API answers JSON");
    let form = post_form(&app, &s, "/no-such-form", &[("csrf", &s.csrf)]);
    assert_eq!(form.status, 404);
    if crate::support::postgres() {
        return; // The broken table below is a SQLite file's.
    }
    let db = rusqlite::Connection::open(app.dir.path().join("test.db")).unwrap();
    db.execute_batch("DROP TABLE silences").unwrap();
    let r = page("/silences");
    assert_eq!(r.status, 500);
    assert!(r.header("content-type").unwrap_or("").starts_with("text/html"));
    assert!(r.text.contains("Something went wrong") && r.text.contains("Error id: <code>"), "{}", r.text);
    assert!(!r.text.contains("no such table"), "the cause stays in the log: {}", r.text);
}

/// Forms speak people's language: a form sent back lists its problems at the top, linked to the
/// fields; fields have human labels and rendered help; channel types their display names, and
/// switching the type keeps the typed name; a silence takes a duration preset.
#[test]
fn forms_say_what_is_wrong_at_the_top_and_speak_plainly() {
    let app = TestApp::start();
    let w = World::new(&app);
    let s = session(&app, "eddie", "password-eddie");
    let team = w.team.to_string();
    let r = post_form(
        &app,
        &s,
        "/channels",
        &[
            ("csrf", &s.csrf),
            ("team_id", &team),
            ("name", "ops"),
            ("channel_type", "telegram"),
            ("config.bot_token", "1:x"),
        ],
    );
    assert_eq!(r.status, 400);
    let summary =
        r.text.split("id=\"form-errors\"").nth(1).expect("a summary at the top").split("</div>").next().unwrap();
    assert!(
        summary.contains("to correct")
            && summary.contains("href=\"#f-config.chat_id\"")
            && summary.contains(">Chat ID<"),
        "{summary}"
    );
    assert!(
        r.text.find("id=\"form-errors\"") < r.text.find("action=\"/channels\""),
        "the summary comes before the form"
    );

    let page = get(&app, &s, "/channels?channel_type=telegram&name=ops-chat").text;
    assert!(page.contains("value=\"ops-chat\""), "the typed name survives switching the type");
    assert!(
        page.contains("Settings for Telegram") && page.contains(">Microsoft Teams<") && page.contains(">Bot token<")
    );
    assert!(!page.contains('`'), "help text renders its code spans");
    assert!(page.contains("<code>"), "…as code");

    let r = post_form(
        &app,
        &s,
        "/silences",
        &[
            ("csrf", &s.csrf),
            ("team_id", &team),
            ("name", "db maintenance"),
            ("matchers", r#"{"labels": {"instance": "db-1"}}"#),
            ("starts_at", "2026-12-01T10:00"),
            ("duration", "7200"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text);
    let silences = app.get("/api/silences", &w.editor.1).expect(200);
    let made = silences.as_array().unwrap().iter().find(|x| x["name"] == "db maintenance").unwrap().clone();
    assert_eq!(
        (made["starts_at"].as_str(), made["ends_at"].as_str()),
        (Some("2026-12-01T10:00:00Z"), Some("2026-12-01T12:00:00Z"))
    );
    let r = post_form(
        &app,
        &s,
        "/silences",
        &[("csrf", &s.csrf), ("team_id", &team), ("name", "x"), ("matchers", "{}"), ("duration", "99")],
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("href=\"#f-duration\""), "{}", r.text);
}

/// The escalation policy editor: delays in minutes, steps added and removed freely, several
/// targets per step (rules 0 s apart in the API), and no prefilled ghost steps.
#[test]
fn the_policy_editor_adds_and_removes_steps_with_several_targets() {
    let app = TestApp::start();
    let w = World::new(&app);
    let e = &w.editor.1;
    let rot = app.post("/api/rotations", e, json!({"team_id": w.team, "name": "Primary"})).id();
    let ch = app
        .post("/api/channels", e, json!({"team_id": w.team, "name": "hook", "channel_type": "log", "config": {}}))
        .id();
    let s = session(&app, "eddie", "password-eddie");
    let page = get(&app, &s, "/policies").text;
    assert_eq!(page.matches("name=\"step\"").count(), 1, "one empty step, no ghosts");
    let team = w.team.to_string();
    let (rot_t, user_t, ch_t) = (format!("rotation:{rot}"), format!("user:{}", w.responder.0), format!("channel:{ch}"));
    let base = |op: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("csrf", s.csrf.clone()),
            ("team_id", team.clone()),
            ("name", "Night".into()),
            ("repeat_count", "0".into()),
            ("op", op.into()),
        ]
    };
    let post = |fields: Vec<(&str, String)>| {
        let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post_form(&app, &s, "/policies", &f)
    };
    let mut fields = base("add");
    fields.extend([
        ("step", "0".into()),
        ("step0.minutes", "0".into()),
        ("step0.page", rot_t.clone()),
        ("step0.page", user_t.clone()),
    ]);
    let added = post(fields);
    assert_eq!(added.status, 200);
    assert_eq!(added.text.matches("name=\"step\"").count(), 2, "a step was added, nothing saved");
    assert_eq!(app.get("/api/escalation-policies", e).expect(200).as_array().unwrap().len(), 0);
    assert!(added.text.contains(&format!("value=\"{rot_t}\" checked")), "the first step keeps its targets");

    let mut fields = base("save");
    fields.extend([
        ("step", "0".into()),
        ("step0.minutes", "0".into()),
        ("step0.page", rot_t.clone()),
        ("step0.page", user_t.clone()),
    ]);
    fields.extend([("step", "1".into()), ("step1.minutes", "10".into())]);
    let r = post(fields.clone());
    assert_eq!(r.status, 400);
    assert!(r.text.contains("step 2: choose whom to page"), "{}", r.text);
    fields.push(("step1.page", ch_t.clone()));
    let r = post(fields);
    assert_eq!(r.status, 303, "{}", r.text);
    let policies = app.get("/api/escalation-policies", e).expect(200);
    let p = policies[0].clone();
    let rules: Vec<(i64, String)> = p["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["delay_seconds"].as_i64().unwrap(), format!("{}:{}", r["target_type"].as_str().unwrap(), r["target_id"]))
        })
        .collect();
    assert_eq!(rules, [(0, rot_t.clone()), (0, user_t.clone()), (600, ch_t.clone())]);
    let id = p["id"].as_i64().unwrap();
    let shown = get(&app, &s, &format!("/policies/{id}")).text;
    assert!(
        shown.contains("At once: On-call of rotation Primary, User rick")
            && shown.contains("After 10 min: Channel hook"),
        "{shown}"
    );

    // Remove the second step, then save: the policy has the first step's two targets.
    let edit = |op: &str, with_second: bool| {
        let mut f = vec![
            ("csrf", s.csrf.clone()),
            ("name", "Night".to_string()),
            ("repeat_count", "0".to_string()),
            ("enabled", "true".to_string()),
            ("op", op.to_string()),
        ];
        f.extend([
            ("step", "0".to_string()),
            ("step0.minutes", "0".to_string()),
            ("step0.page", rot_t.clone()),
            ("step0.page", user_t.clone()),
        ]);
        if with_second {
            f.extend([("step", "1".to_string()), ("step1.minutes", "10".to_string()), ("step1.page", ch_t.clone())]);
        }
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post_form(&app, &s, &format!("/policies/{id}"), &f)
    };
    let r = edit("remove-1", true);
    assert_eq!((r.status, r.text.matches("name=\"step\"").count()), (200, 1));
    assert_eq!(edit("save", false).status, 303);
    assert_eq!(app.get(&format!("/api/escalation-policies/{id}"), e).expect(200)["rules"].as_array().unwrap().len(), 2);
}

/// The alert page carries the actions: escalate, snooze, reassign, unacknowledge, and notes
/// shown as text; a viewer sees none of the forms.
#[test]
fn the_alert_page_escalates_snoozes_reassigns_and_takes_notes() {
    let app = TestApp::start();
    let w = World::new(&app);
    let e = &w.editor.1;
    let rot =
        app.post("/api/rotations", e, json!({"team_id": w.team, "name": "R", "start_at": "2026-11-01T00:00:00Z"})).id();
    for user in [w.editor.0, w.responder.0] {
        app.post(&format!("/api/rotations/{rot}/members"), e, json!({"user_id": user})).expect(201);
    }
    let ch = app
        .post("/api/channels", e, json!({"team_id": w.team, "name": "log", "channel_type": "log", "config": {}}))
        .id();
    let token = app
        .post(
            "/api/routes",
            e,
            json!({"team_id": w.team, "name": "r", "source": "webhook", "rotation_id": rot, "channel_ids": [ch]}),
        )
        .expect(201)["intake_token"]
        .as_str()
        .unwrap()
        .to_string();
    let id = app
        .post_raw("/api/integrations/webhook", Some(&token), r#"{"title": "Disk full", "fingerprint": "d"}"#)
        .expect(200)[0]["id"]
        .as_i64()
        .unwrap();
    let s = session(&app, "rick", "password-rick");
    let page = get(&app, &s, &format!("/alerts/{id}")).text;
    for action in ["escalate", "snooze", "reassign", "notes"] {
        assert!(page.contains(&format!("action=\"/alerts/{id}/{action}\"")), "{action}");
    }
    let r = post_form(&app, &s, &format!("/alerts/{id}/escalate"), &[("csrf", &s.csrf)]);
    assert_eq!(flash_of(&r), format!("ok\nAlert #{id} escalated to rick."));
    let r = post_form(&app, &s, &format!("/alerts/{id}/snooze"), &[("csrf", &s.csrf), ("minutes", "60")]);
    assert!(flash_of(&r).starts_with(&format!("ok\nAlert #{id} snoozed until ")), "{}", flash_of(&r));
    let page = get(&app, &s, &format!("/alerts/{id}")).text;
    assert!(page.contains("Snoozed until") && page.contains(&format!("action=\"/alerts/{id}/unack\"")));
    let eddie = w.editor.0.to_string();
    let r = post_form(&app, &s, &format!("/alerts/{id}/reassign"), &[("csrf", &s.csrf), ("user_id", &eddie)]);
    assert_eq!(flash_of(&r), format!("ok\nAlert #{id} reassigned to eddie."));
    let r = post_form(
        &app,
        &s,
        &format!("/alerts/{id}/notes"),
        &[("csrf", &s.csrf), ("text", "<script>x</script> restarted")],
    );
    assert_eq!(r.status, 303);
    let page = get(&app, &s, &format!("/alerts/{id}")).text;
    assert!(
        page.contains("&lt;script&gt;x&lt;/script&gt; restarted") && !page.contains("<script>x</script>"),
        "notes are text"
    );
    let viewer = session(&app, "vera", "password-vera");
    let page = get(&app, &viewer, &format!("/alerts/{id}")).text;
    assert!(!page.contains(&format!("/alerts/{id}/escalate")) && !page.contains("Add note"), "a viewer gets no forms");
    // Snooze from the list, several at once.
    let ids = id.to_string();
    let r = post_form(
        &app,
        &s,
        "/alerts/bulk",
        &[("csrf", &s.csrf), ("ids", &ids), ("action", "snooze"), ("back", "/alerts")],
    );
    assert_eq!(flash_of(&r), "ok\n1 of 1 alert snoozed for 1 hour.");
    assert!(app.get(&format!("/api/alerts/{id}"), &w.admin).expect(200)["snoozed_until"].is_string());
}

/// Each person chooses a time zone; every time the UI shows them is in it, labelled, and the
/// calendar's days and shift times follow it. The API stays in UTC.
#[test]
fn times_show_in_the_viewers_time_zone() {
    let app = TestApp::start();
    let w = World::new(&app);
    let e = &w.editor.1;
    let r = app.put("/api/profile", e, json!({"time_zone": "Mars/Olympus"}));
    assert_eq!((r.status, r.fields()), (400, vec!["time_zone".to_string()]));
    let me = app.put("/api/profile", e, json!({"time_zone": "Europe/Berlin"})).expect(200);
    assert_eq!(me["time_zone"], "Europe/Berlin");
    // A daily rotation handing off at 08:00 UTC.
    let rot = app
        .post(
            "/api/rotations",
            e,
            json!({"team_id": w.team, "name": "Days", "rotation_type": "daily", "handoff_time": "08:00", "timezone": "UTC", "start_at": "2026-11-20T08:00:00Z"}),
        )
        .id();
    app.post(&format!("/api/rotations/{rot}/members"), e, json!({"user_id": w.editor.0})).expect(201);
    let oncall = app.get(&format!("/api/rotations/{rot}/oncall?count=2"), e).expect(200);
    assert!(oncall.to_string().contains("T08:00:00Z"), "the API stays in UTC: {oncall}");
    let s = session(&app, "eddie", "password-eddie");
    let page = get(&app, &s, &format!("/rotations/{rot}")).text;
    assert!(page.contains("09:00 CET"), "eddie in Berlin sees 09:00 for an 08:00Z handoff");
    let cal = get(&app, &s, "/calendar?date=2026-11-23").text;
    assert!(cal.contains("Times in Europe/Berlin") && cal.contains("09:00"), "the calendar is in Berlin time");
    let dash = get(&app, &s, "/").text;
    let mine = dash.split("My on-call").nth(1).unwrap_or("").split("</section>").next().unwrap_or("");
    assert!(mine.contains("You are on call now") && mine.contains(">Days</a>") && mine.contains("09:00 CET"), "{mine}");
    // Someone without a zone of their own sees the installation's default (UTC).
    let rick = session(&app, "rick", "password-rick");
    app.post(&format!("/api/rotations/{rot}/members"), e, json!({"user_id": w.responder.0})).expect(201);
    assert!(get(&app, &rick, &format!("/rotations/{rot}")).text.contains("08:00 UTC"));
    let back = app.put("/api/profile", e, json!({"time_zone": null})).expect(200);
    assert!(back["time_zone"].is_null());
}

/// The profile page adds a contact method, tests (verifies) it and adds a rule.
#[test]
fn the_profile_adds_a_method_verifies_it_and_adds_a_rule() {
    let app = TestApp::start();
    let _w = World::new(&app);
    let push = crate::fake::Fake::start();
    push.default(crate::fake::Reply::ok(r#"{"id": "t"}"#));
    let s = session(&app, "eddie", "password-eddie");
    let topic = format!("{}/eddie-pager", push.url);
    let r = post_form(
        &app,
        &s,
        "/profile/methods",
        &[("csrf", &s.csrf), ("type", "ntfy"), ("value", &topic), ("label", "phone")],
    );
    assert!(flash_of(&r).starts_with("ok\n"), "{}", flash_of(&r));
    let page = get(&app, &s, "/profile").text;
    assert!(page.contains("not verified") && page.contains("No rules"), "a new method is not verified yet");
    assert!(!page.contains("Add a rule"), "no rule without a verified method");
    let id = app.get("/api/profile/contact-methods", &_w.editor.1).expect(200)[0]["id"].as_i64().unwrap();
    let r = post_form(&app, &s, &format!("/profile/methods/{id}/test"), &[("csrf", &s.csrf)]);
    assert!(flash_of(&r).contains("the method is verified"), "{}", flash_of(&r));
    let mid = id.to_string();
    let r = post_form(
        &app,
        &s,
        "/profile/rules",
        &[("csrf", &s.csrf), ("contact_method_id", &mid), ("minutes", "5"), ("severities", "critical")],
    );
    assert_eq!(flash_of(&r), "ok\nRule added.");
    let page = get(&app, &s, "/profile").text;
    assert!(
        page.contains("verified") && page.contains("5 minutes after you are paged") && page.contains("(critical)"),
        "the rule is listed"
    );
}
