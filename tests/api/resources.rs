//! The resource API: CRUD round trips, the RBAC matrix per resource, validation and conflicts,
//! audit logging.

use serde_json::{Value, json};

use crate::support::{TestApp, World};

/// A resource under test: its path and how to make create/update bodies for a team.
struct Kind {
    path: &'static str,
    create: fn(&World, i64) -> Value,
    update: Value,
    /// The least role that may change it.
    writer: &'static str,
}

fn kinds() -> Vec<Kind> {
    vec![
        Kind {
            path: "/api/rotations",
            create: |_, team| json!({"team_id": team, "name": "Primary", "rotation_type": "weekly", "handoff_time": "09:00", "timezone": "Europe/Berlin"}),
            update: json!({"description": "updated"}),
            writer: "editor",
        },
        Kind {
            path: "/api/channels",
            create: |_, team| json!({"team_id": team, "name": "ops-webhook", "channel_type": "webhook", "config": {"webhook_url": "https://hooks.example.com/x"}}),
            update: json!({"notify_on_severities": ["critical"]}),
            writer: "editor",
        },
        Kind {
            path: "/api/routes",
            create: |_, team| json!({"team_id": team, "name": "prometheus", "source": "alertmanager"}),
            update: json!({"matchers": ["severity=\"critical\""]}),
            writer: "editor",
        },
        Kind {
            path: "/api/escalation-policies",
            create: |w, team| {
                let user = if team == w.team { w.editor.0 } else { w.outsider.0 };
                json!({"team_id": team, "name": "Default", "rules": [{"delay_seconds": 0, "target_type": "user", "target_id": user}]})
            },
            update: json!({"description": "updated"}),
            writer: "editor",
        },
        Kind {
            path: "/api/silences",
            create: |_, team| json!({"team_id": team, "name": "maintenance", "matchers": {"labels": {"env": "staging"}}, "ends_at": "2026-11-24T09:00:00Z"}),
            update: json!({"reason": "updated"}),
            writer: "responder",
        },
    ]
}

fn rank(role: &str) -> u8 {
    match role {
        "viewer" => 1,
        "responder" => 2,
        "editor" => 3,
        _ => 4,
    }
}

#[test]
fn rbac_matrix_for_every_team_resource() {
    let app = TestApp::start();
    let w = World::new(&app);
    for kind in kinds() {
        let base = kind.path;
        let id = app.post(base, &w.editor.1, (kind.create)(&w, w.team)).expect(201)["id"].as_i64().unwrap();
        let item = format!("{base}/{id}");
        let roles =
            [("viewer", &w.viewer.1), ("responder", &w.responder.1), ("editor", &w.editor.1), ("admin", &w.admin)];
        for (role, token) in roles {
            app.get(&item, token).expect(200);
            let listed = app.get(base, token).expect(200);
            assert!(listed.as_array().unwrap().iter().any(|x| x["id"] == id), "{role} lists {base}");
            let may_write = rank(role) >= rank(kind.writer);
            let r = app.put(&item, token, kind.update.clone());
            assert_eq!(r.status, if may_write { 200 } else { 403 }, "{role} PUT {item}: {}", r.text);
            let mut body = (kind.create)(&w, w.team);
            body["name"] = json!(format!("by-{role}"));
            let r = app.post(base, token, body);
            assert_eq!(r.status, if may_write { 201 } else { 403 }, "{role} POST {base}: {}", r.text);
        }
        // The outsider (editor of another group) sees nothing of this group.
        let (_, out) = &w.outsider;
        assert_eq!(app.get(&item, out).status, 404, "outsider GET {item}");
        assert_eq!(app.put(&item, out, kind.update.clone()).status, 404, "outsider PUT {item}");
        assert_eq!(app.delete(&item, out).status, 404, "outsider DELETE {item}");
        assert!(!app.get(base, out).expect(200).as_array().unwrap().iter().any(|x| x["id"] == id));
        let r = app.post(base, out, (kind.create)(&w, w.team));
        assert_eq!(r.status, 400, "outsider POST into another group's team: {}", r.text);
        assert_eq!(r.fields(), ["team_id"]);
        // Deleting: below the writer role is forbidden; the writer may.
        if kind.writer == "editor" {
            assert_eq!(app.delete(&item, &w.responder.1).status, 403);
        }
        assert_eq!(app.delete(&item, &w.viewer.1).status, 403);
        let d = app.delete(&item, if kind.writer == "editor" { &w.editor.1 } else { &w.responder.1 }).expect(200);
        assert_eq!(d, json!({"deleted": true, "id": id}));
        assert_eq!(app.get(&item, &w.admin).status, 404);
    }
}

#[test]
fn teams_groups_and_memberships() {
    let app = TestApp::start();
    let w = World::new(&app);
    // Teams: editors create in their group; viewers cannot; outsiders get 400 for the group.
    let t = app
        .post("/api/teams", &w.editor.1, json!({"group_id": w.group, "slug": "db", "name": "Databases"}))
        .expect(201);
    assert_eq!(t["escalation_enabled"], true);
    assert_eq!(
        app.post("/api/teams", &w.viewer.1, json!({"group_id": w.group, "slug": "db2", "name": "x"})).status,
        403
    );
    let r = app.post("/api/teams", &w.outsider.1, json!({"group_id": w.group, "slug": "db3", "name": "x"}));
    assert_eq!((r.status, r.fields()), (400, vec!["group_id".to_string()]));
    let dup = app.post("/api/teams", &w.editor.1, json!({"group_id": w.group, "slug": "db", "name": "Again"}));
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["error"], "conflict");
    assert_eq!(dup.fields(), ["slug"]);
    let id = t["id"].as_i64().unwrap();
    let u = app
        .put(&format!("/api/teams/{id}"), &w.editor.1, json!({"escalation_after_reminders": 3, "description": "DBAs"}))
        .expect(200);
    assert_eq!(u["escalation_after_reminders"], 3);
    assert_eq!(u["name"], "Databases", "partial updates keep other fields");
    let r = app.put(&format!("/api/teams/{id}"), &w.editor.1, json!({"group_id": w.other_group}));
    assert_eq!(r.fields(), ["group_id"]);

    // Team members must belong to the team's group.
    let m = app.post(&format!("/api/teams/{id}/users"), &w.editor.1, json!({"user_id": w.viewer.0})).expect(201);
    assert_eq!(m["username"], "vera");
    let r = app.post(&format!("/api/teams/{id}/users"), &w.editor.1, json!({"user_id": w.outsider.0}));
    assert_eq!((r.status, r.fields()), (400, vec!["user_id".to_string()]));
    assert_eq!(app.post(&format!("/api/teams/{id}/users"), &w.editor.1, json!({"user_id": w.viewer.0})).status, 409);
    let members = app.get(&format!("/api/teams/{id}/users"), &w.viewer.1).expect(200);
    assert_eq!(members.as_array().unwrap().len(), 1);
    let mid = m["id"].as_i64().unwrap();
    assert_eq!(app.delete(&format!("/api/teams/users/{mid}"), &w.viewer.1).status, 403);
    app.delete(&format!("/api/teams/users/{mid}"), &w.editor.1).expect(200);

    // Groups: only admins create; members see their groups only; editors manage members.
    assert_eq!(app.post("/api/groups", &w.editor.1, json!({"slug": "x", "name": "X"})).status, 403);
    let mine = app.get("/api/groups", &w.viewer.1).expect(200);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(app.get(&format!("/api/groups/{}", w.other_group), &w.viewer.1).status, 404);
    let ms = app.get(&format!("/api/groups/{}/users", w.group), &w.viewer.1).expect(200);
    assert_eq!(ms.as_array().unwrap().len(), 3);
    let vera = ms.as_array().unwrap().iter().find(|m| m["username"] == "vera").unwrap()["id"].as_i64().unwrap();
    assert_eq!(app.put(&format!("/api/groups/users/{vera}"), &w.responder.1, json!({"role": "editor"})).status, 403);
    let up = app.put(&format!("/api/groups/users/{vera}"), &w.editor.1, json!({"role": "responder"})).expect(200);
    assert_eq!(up["role"], "responder");
    let r = app.put(&format!("/api/groups/users/{vera}"), &w.editor.1, json!({"role": "owner"}));
    assert_eq!((r.status, r.fields()), (400, vec!["role".to_string()]));
    assert_eq!(
        app.delete(&format!("/api/groups/{}", w.group), &w.admin).status,
        409,
        "a group with teams cannot be deleted"
    );
    let g = app.post("/api/groups", &w.admin, json!({"slug": "empty", "name": "Empty"})).expect(201);
    app.delete(&format!("/api/groups/{}", g["id"]), &w.admin).expect(200);
    // Removing the group membership removes the user's team memberships in that group.
    app.post(&format!("/api/teams/{id}/users"), &w.editor.1, json!({"user_id": w.viewer.0})).expect(201);
    app.delete(&format!("/api/groups/users/{vera}"), &w.editor.1).expect(200);
    assert_eq!(app.get(&format!("/api/teams/{id}/users"), &w.editor.1).expect(200).as_array().unwrap().len(), 0);
    assert_eq!(app.get(&format!("/api/teams/{id}"), &w.viewer.1).status, 404, "vera lost access");
}

/// Adding people to a team is one step: several at once, into the team's group with a role when
/// they are not in it yet, and onto a rotation; all of it or nothing, errors naming the person.
#[test]
fn people_join_a_team_its_group_and_a_rotation_in_one_step() {
    let app = TestApp::start();
    let w = World::new(&app);
    let (e, team) = (&w.editor.1, w.team);
    let users = format!("/api/teams/{team}/users");
    let rot = app.post("/api/rotations", e, json!({"team_id": team, "name": "Primary"})).id();
    let (nina, _) = app.user(&w.admin, "nina");

    let added = app.post(&users, e, json!({"user_ids": [w.viewer.0, w.responder.0], "rotation_id": rot})).expect(201);
    let names: Vec<&str> = added.as_array().unwrap().iter().map(|m| m["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["vera", "rick"], "a list in, a list out");
    let on_rotation = |want: &[&str]| {
        let m = app.get(&format!("/api/rotations/{rot}/members"), e).expect(200);
        let got: Vec<String> =
            m.as_array().unwrap().iter().map(|m| m["username"].as_str().unwrap().to_string()).collect();
        assert_eq!(got, want);
    };
    on_rotation(&["vera", "rick"]);

    // Someone outside the group needs a role in it; an editor may not enrol a stranger.
    let r = app.post(&users, e, json!({"user_ids": [w.outsider.0]}));
    assert_eq!((r.status, r.fields()), (400, vec!["user_ids[0]".to_string()]), "{}", r.text);
    let r = app.post(&users, e, json!({"user_ids": [nina], "group_role": "responder"}));
    assert_eq!(r.fields(), ["user_ids[0]"]);
    assert!(r.text.contains("an administrator adds new people"), "{}", r.text);

    // An administrator adds both to the group, the team and the rotation in one step.
    let added = app
        .post(&users, &w.admin, json!({"user_ids": [nina, w.outsider.0], "group_role": "viewer", "rotation_id": rot}))
        .expect(201);
    assert_eq!(added.as_array().unwrap().len(), 2);
    let group = app.get(&format!("/api/groups/{}/users", w.group), &w.admin).expect(200);
    let role = |user: i64| group.as_array().unwrap().iter().find(|m| m["user_id"] == user).map(|m| m["role"].clone());
    assert_eq!((role(nina), role(w.outsider.0)), (Some(json!("viewer")), Some(json!("viewer"))));
    on_rotation(&["vera", "rick", "nina", "olga"]);

    // All or nothing: the second person is unknown, so the first is not added either.
    let r = app.post(&users, e, json!({"user_ids": [w.editor.0, 999_999], "rotation_id": rot}));
    assert_eq!(r.fields(), ["user_ids[1]"], "{}", r.text);
    let members = app.get(&users, e).expect(200);
    assert!(!members.as_array().unwrap().iter().any(|m| m["user_id"] == w.editor.0), "nothing was added");
    on_rotation(&["vera", "rick", "nina", "olga"]);

    let other = app.post("/api/rotations", &w.outsider.1, json!({"team_id": w.other_team, "name": "Web"})).id();
    let r = app.post(&users, &w.admin, json!({"user_ids": [w.editor.0], "rotation_id": other}));
    assert_eq!(r.fields(), ["rotation_id"]);
    let r = app.post(&users, e, json!({"user_id": w.editor.0, "user_ids": [w.editor.0]}));
    assert_eq!(r.fields(), ["user_ids"]);
    let r = app.post(&users, e, json!({"user_ids": []}));
    assert_eq!(r.fields(), ["user_ids"]);
    let one = app.post(&users, e, json!({"user_id": w.editor.0})).expect(201);
    assert_eq!(one["username"], "eddie", "one person in, one membership out");
}

#[test]
fn users_are_managed_by_admins() {
    let app = TestApp::start();
    let w = World::new(&app);
    assert_eq!(app.get("/api/admin/users", &w.editor.1).status, 403);
    assert_eq!(
        app.post("/api/admin/users", &w.editor.1, json!({"username": "x", "password": "long-enough-1"})).status,
        403
    );
    let visible = app.get("/api/users", &w.viewer.1).expect(200);
    let names: Vec<_> =
        visible.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["eddie", "rick", "vera"], "users sharing a group");
    let all = app.get("/api/admin/users", &w.admin).expect(200);
    assert_eq!(all.as_array().unwrap().len(), 5);
    let r = app.post("/api/admin/users", &w.admin, json!({"username": "bad name", "password": "short", "email": "x"}));
    assert_eq!((r.status, r.fields()), (400, vec!["password".to_string()]), "the password is checked before hashing");
    let r = app.post(
        "/api/admin/users",
        &w.admin,
        json!({"username": "bad name", "password": "long-enough-1", "email": "x"}),
    );
    assert_eq!(r.fields(), ["username", "email"]);
    let dup = app.post("/api/admin/users", &w.admin, json!({"username": "VERA", "password": "long-enough-1"}));
    assert_eq!((dup.status, dup.fields()), (409, vec!["username".to_string()]));
    let u = app.put(&format!("/api/admin/users/{}", w.viewer.0), &w.admin, json!({"active": false})).expect(200);
    assert_eq!(u["active"], false);
    assert_eq!(app.get("/api/auth/me", &w.viewer.1).status, 401, "deactivated users are logged out");
    let admin_id = app.get("/api/auth/me", &w.admin).expect(200)["user"]["id"].as_i64().unwrap();
    let r = app.put(&format!("/api/admin/users/{admin_id}"), &w.admin, json!({"is_admin": false}));
    assert_eq!(r.status, 409, "the last admin cannot be demoted");
    assert_eq!(app.delete(&format!("/api/admin/users/{admin_id}"), &w.admin).status, 409);
    app.delete(&format!("/api/admin/users/{}", w.outsider.0), &w.admin).expect(200);
    assert_eq!(app.get(&format!("/api/admin/users/{}", w.outsider.0), &w.admin).status, 404);
}

#[test]
fn rotations_members_overrides_and_oncall() {
    let app = TestApp::start();
    let w = World::new(&app);
    let r = app
        .post(
            "/api/rotations",
            &w.editor.1,
            json!({"team_id": w.team, "name": "Primary", "rotation_type": "daily", "handoff_time": "09:00",
                   "timezone": "Europe/Berlin", "start_at": "2026-11-23T10:00:00", "reminder_interval_seconds": 300}),
        )
        .expect(201);
    let rid = r["id"].as_i64().unwrap();
    assert_eq!(r["start_at"], "2026-11-23T09:00:00Z", "a naive start is read in the rotation's zone");
    assert!(r["current_oncall"].is_null(), "nobody without members");
    for user in [w.editor.0, w.responder.0] {
        app.post(&format!("/api/rotations/{rid}/members"), &w.editor.1, json!({"user_id": user})).expect(201);
    }
    let r = app.post(&format!("/api/rotations/{rid}/members"), &w.editor.1, json!({"user_id": w.outsider.0}));
    assert_eq!((r.status, r.fields()), (400, vec!["user_id".to_string()]));
    let rot = app.get(&format!("/api/rotations/{rid}"), &w.viewer.1).expect(200);
    assert_eq!(rot["current_oncall"]["username"], "eddie");
    let shifts = app.get(&format!("/api/rotations/{rid}/oncall?count=2"), &w.viewer.1).expect(200);
    let s: Vec<_> = shifts
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["username"].as_str().unwrap(), x["start"].as_str().unwrap(), x["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        s,
        [
            ("eddie", "2026-11-23T09:00:00Z", "rotation"),
            ("rick", "2026-11-24T08:00:00Z", "rotation"),
            ("eddie", "2026-11-25T08:00:00Z", "rotation")
        ]
    );
    let o = app
        .post(&format!("/api/rotations/{rid}/overrides"), &w.editor.1, json!({"user_id": w.viewer.0, "starts_at": "2026-11-23T08:00:00Z", "ends_at": "2026-11-23T12:00:00Z", "reason": "swap"}))
        .expect(201);
    assert_eq!(
        app.get(&format!("/api/rotations/{rid}"), &w.viewer.1).expect(200)["current_oncall"]["username"],
        "vera"
    );
    let later =
        app.get(&format!("/api/rotations/{rid}/oncall?at=2026-11-24T12:00:00Z&count=0"), &w.viewer.1).expect(200);
    assert_eq!(later[0]["username"], "rick");
    let bad = app.post(
        &format!("/api/rotations/{rid}/overrides"),
        &w.editor.1,
        json!({"user_id": w.viewer.0, "starts_at": "2026-11-23T12:00:00Z", "ends_at": "2026-11-23T08:00:00Z"}),
    );
    assert_eq!(bad.fields(), ["ends_at"]);
    app.delete(&format!("/api/rotations/overrides/{}", o["id"]), &w.editor.1).expect(200);
    assert_eq!(
        app.get(&format!("/api/rotations/{rid}"), &w.viewer.1).expect(200)["current_oncall"]["username"],
        "eddie"
    );
    // Reorder: rick first.
    let members = app.get(&format!("/api/rotations/{rid}/members"), &w.viewer.1).expect(200);
    let rick = members.as_array().unwrap().iter().find(|m| m["username"] == "rick").unwrap()["id"].as_i64().unwrap();
    let r = app.put(&format!("/api/rotations/members/{rick}"), &w.editor.1, json!({"position": -1}));
    assert_eq!(r.fields(), ["position"]);
    app.put(&format!("/api/rotations/members/{rick}"), &w.editor.1, json!({"position": 0})).expect(200);
    let eddie = members.as_array().unwrap().iter().find(|m| m["username"] == "eddie").unwrap()["id"].as_i64().unwrap();
    app.put(&format!("/api/rotations/members/{eddie}"), &w.editor.1, json!({"position": 1})).expect(200);
    assert_eq!(
        app.get(&format!("/api/rotations/{rid}"), &w.viewer.1).expect(200)["current_oncall"]["username"],
        "rick"
    );
    // Validation names every bad field.
    let r = app.post(
        "/api/rotations",
        &w.editor.1,
        json!({"team_id": w.team, "name": "x", "rotation_type": "weekly", "handoff_time": "25:00", "handoff_weekday": 9,
               "timezone": "Mars/Base", "reminder_interval_seconds": 10}),
    );
    assert_eq!(r.fields(), ["handoff_time", "handoff_weekday", "timezone", "reminder_interval_seconds"]);
    let r = app.post("/api/rotations", &w.editor.1, json!({"team_id": w.team, "name": "x", "rotation_type": "hourly"}));
    assert_eq!(r.fields(), ["rotation_type"]);
    assert_eq!(app.get(&format!("/api/rotations/{rid}/oncall?at=tomorrow"), &w.viewer.1).fields(), ["at"]);
}

#[test]
fn channels_validate_their_config_and_mask_secrets() {
    let app = TestApp::start();
    let w = World::new(&app);
    let types = app.get("/api/channels/types", &w.viewer.1).expect(200);
    assert_eq!(types.as_array().unwrap().len(), 12, "eleven channels and the log");
    let cases = [
        (json!({"channel_type": "slack", "config": {}}), vec!["config.webhook_url"]),
        (
            json!({"channel_type": "slack", "config": {"mode": "bot_api"}}),
            vec!["config.bot_token", "config.channel_id", "config.signing_secret"],
        ),
        (json!({"channel_type": "telegram", "config": {"bot_token": "1:x"}}), vec!["config.chat_id"]),
        (json!({"channel_type": "mattermost", "config": {"webhook_url": "not a url"}}), vec!["config.webhook_url"]),
        (json!({"channel_type": "email", "config": {"recipients": ["ops"]}}), vec!["config.recipients[0]"]),
        (
            json!({"channel_type": "webhook", "config": {"webhook_url": "https://x.example", "secret": "plain"}}),
            vec!["config.secret"],
        ),
        (
            json!({"channel_type": "voice", "config": {"provider": "twilio"}}),
            vec!["config.account_sid", "config.auth_token", "config.from_number"],
        ),
        (
            json!({"channel_type": "discord", "config": {"webhook_url": "https://d.example/x", "colour": 1}}),
            vec!["config.colour"],
        ),
        (json!({"channel_type": "pager", "config": {}}), vec!["channel_type"]),
        (
            json!({"channel_type": "teams", "config": {"webhook_url": "https://t.example/x"}, "notify_on_severities": ["urgent"]}),
            vec!["notify_on_severities[0]"],
        ),
    ];
    for (mut body, fields) in cases {
        body["team_id"] = json!(w.team);
        body["name"] = json!("c");
        let r = app.post("/api/channels", &w.editor.1, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.fields(), fields, "{body}");
    }
    let ch = app
        .post(
            "/api/channels",
            &w.editor.1,
            json!({"team_id": w.team, "name": "tg", "channel_type": "telegram", "config": {"bot_token": "123:SECRET", "chat_id": -1001}}),
        )
        .expect(201);
    assert_eq!(ch["config"]["bot_token"], "********");
    assert_eq!(ch["config"]["chat_id"], "-1001");
    assert!(!app.get(&format!("/api/channels/{}", ch["id"]), &w.viewer.1).text.contains("SECRET"));
    // Sending the masked config back keeps the secret; a partial config merges.
    let id = ch["id"].as_i64().unwrap();
    app.put(&format!("/api/channels/{id}"), &w.editor.1, json!({"config": ch["config"]})).expect(200);
    let u = app.put(&format!("/api/channels/{id}"), &w.editor.1, json!({"config": {"chat_id": "@oncall"}})).expect(200);
    assert_eq!(u["config"]["chat_id"], "@oncall");
    assert_eq!(u["config"]["bot_token"], "********", "the token is still set");
    let r = app.post("/api/channels", &w.editor.1, json!({"team_id": w.team, "name": "tg", "channel_type": "discord", "config": {"webhook_url": "https://d.example/x"}}));
    assert_eq!((r.status, r.fields()), (409, vec!["name".to_string()]), "channel names are unique per team");
}

#[test]
fn routes_validate_references_and_matchers_and_regenerate_tokens() {
    let app = TestApp::start();
    let w = World::new(&app);
    let rot = app.post("/api/rotations", &w.editor.1, json!({"team_id": w.team, "name": "R"})).expect(201)["id"]
        .as_i64()
        .unwrap();
    let other_rot =
        app.post("/api/rotations", &w.outsider.1, json!({"team_id": w.other_team, "name": "R"})).expect(201)["id"]
            .as_i64()
            .unwrap();
    let other_ch = app
        .post("/api/channels", &w.outsider.1, json!({"team_id": w.other_team, "name": "c", "channel_type": "discord", "config": {"webhook_url": "https://d.example/x"}}))
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let r = app.post(
        "/api/routes",
        &w.editor.1,
        json!({"team_id": w.team, "name": "r", "source": "zabbix", "rotation_id": other_rot, "channel_ids": [other_ch],
               "matchers": {"labels": {"env": {"regex": "("}}, "bogus": true}, "group_by": ["ok", "not ok"]}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.sorted_fields(),
        ["channel_ids[0]", "group_by[1]", "matchers.bogus", "matchers.labels.env.regex", "rotation_id"]
    );
    let r = app.post("/api/routes", &w.editor.1, json!({"team_id": w.team, "name": "r", "source": "nagios"}));
    assert_eq!(r.fields(), ["source"]);
    let r = app.post(
        "/api/routes",
        &w.editor.1,
        json!({"team_id": w.team, "name": "r", "source": "events", "matchers": ["severity=critical", "nonsense"]}),
    );
    assert_eq!(r.fields(), ["matchers[1]"]);
    let created = app
        .post("/api/routes", &w.editor.1, json!({"team_id": w.team, "name": "prom", "source": "alertmanager", "rotation_id": rot, "matchers": ["severity=~\"critical|high\""], "group_by": ["alertname"]}))
        .expect(201);
    let token = created["intake_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("iri_"));
    assert_eq!(created["intake_token_prefix"].as_str().unwrap(), &token[..12]);
    let id = created["id"].as_i64().unwrap();
    let fetched = app.get(&format!("/api/routes/{id}"), &w.viewer.1).expect(200);
    assert!(fetched.get("intake_token").is_none(), "the token is shown once");
    assert!(!fetched.to_string().contains(&token[12..]));
    let regen = app.post(&format!("/api/routes/{id}/intake-token"), &w.editor.1, json!({})).expect(200);
    let new_token = regen["intake_token"].as_str().unwrap();
    assert_ne!(new_token, token);
    assert_eq!(app.post(&format!("/api/routes/{id}/intake-token"), &w.viewer.1, json!({})).status, 403);
    // Signed intake: the secret is write-only.
    let r = app.put(&format!("/api/routes/{id}"), &w.editor.1, json!({"signing_secret": "whsec_not-base64!"}));
    assert_eq!(r.fields(), ["signing_secret"]);
    let u = app
        .put(
            &format!("/api/routes/{id}"),
            &w.editor.1,
            json!({"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
        )
        .expect(200);
    assert_eq!(u["requires_signature"], true);
    assert!(!u.to_string().contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    // A rotation used by a route cannot be deleted.
    let r = app.delete(&format!("/api/rotations/{rot}"), &w.editor.1);
    assert_eq!(r.status, 409);
    assert!(r.body["message"].as_str().unwrap().contains("prom"));
}

#[test]
fn escalation_policies_validate_targets() {
    let app = TestApp::start();
    let w = World::new(&app);
    let ch = app
        .post("/api/channels", &w.editor.1, json!({"team_id": w.team, "name": "c", "channel_type": "discord", "config": {"webhook_url": "https://d.example/x"}}))
        .expect(201)["id"]
        .as_i64()
        .unwrap();
    let r = app.post(
        "/api/escalation-policies",
        &w.editor.1,
        json!({"team_id": w.team, "name": "p", "repeat_count": 2, "rules": [
            {"delay_seconds": 0, "target_type": "channel", "target_id": ch},
            {"delay_seconds": -5, "target_type": "user", "target_id": w.outsider.0},
            {"target_type": "pager", "target_id": 1},
            {"delay_seconds": 60}
        ]}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.fields(), ["rules[2].target_type"], "enum errors stop deserialisation: {}", r.text);
    let r = app.post(
        "/api/escalation-policies",
        &w.editor.1,
        json!({"team_id": w.team, "name": "p", "repeat_count": 2, "rules": [
            {"delay_seconds": 0, "target_type": "channel", "target_id": ch},
            {"delay_seconds": -5, "target_type": "user", "target_id": w.outsider.0},
            {"delay_seconds": 60}
        ]}),
    );
    assert_eq!(
        r.fields(),
        [
            "rules[1].delay_seconds",
            "rules[1].target_id",
            "rules[2].target_type",
            "rules[2].target_id",
            "rules[0].delay_seconds"
        ]
    );
    let p = app
        .post(
            "/api/escalation-policies",
            &w.editor.1,
            json!({"team_id": w.team, "name": "p", "repeat_count": 1, "rules": [
                {"delay_seconds": 300, "target_type": "channel", "target_id": ch},
                {"delay_seconds": 600, "target_type": "user", "target_id": w.editor.0}
            ]}),
        )
        .expect(201);
    assert_eq!(p["rules"].as_array().unwrap().len(), 2);
    assert_eq!(p["rules"][1]["target_type"], "user");
    let id = p["id"].as_i64().unwrap();
    let u = app
        .put(
            &format!("/api/escalation-policies/{id}"),
            &w.editor.1,
            json!({"rules": [{"target_type": "channel", "target_id": ch, "delay_seconds": 120}]}),
        )
        .expect(200);
    assert_eq!(u["rules"].as_array().unwrap().len(), 1, "rules replace all rules");
    assert_eq!(
        app.delete(&format!("/api/channels/{ch}"), &w.editor.1).status,
        409,
        "a channel targeted by a policy cannot be deleted"
    );
}

#[test]
fn malformed_and_wrong_typed_bodies_are_400_naming_the_field() {
    let app = TestApp::start();
    let w = World::new(&app);
    let r = app.post_raw("/api/teams", Some(&w.admin), "{\"group_id\": ");
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "validation_error");
    assert_eq!(r.fields(), ["body"]);
    let r = app.post("/api/teams", &w.admin, json!({"group_id": "one", "slug": "x", "name": "x"}));
    assert_eq!(r.fields(), ["group_id"]);
    let r = app.post("/api/teams", &w.admin, json!({"slug": "x"}));
    assert_eq!(r.fields(), ["group_id", "name"]);
    let r = app.post("/api/teams", &w.admin, json!([1, 2]));
    assert_eq!(r.status, 400);
    let r = app.get("/api/teams?group_id=abc", &w.admin);
    assert_eq!(r.fields(), ["group_id"]);
    let r = app.get("/api/teams/abc", &w.admin);
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "not_found");
    let r = app.get("/api/nope", &w.admin);
    assert_eq!((r.status, r.body["error"].as_str()), (404, Some("not_found")));
    let r = app.request("PATCH", "/api/teams", Some(&w.admin), None, &[]);
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, POST")), "RFC 9110 wants Allow on a 405");
    assert_eq!(r.body["message"], "PATCH is not allowed here; use GET, POST");
    // A trailing slash names the same resource, for every method.
    assert_eq!(app.get("/api/teams/", &w.admin).status, 200);
    let r = app.request("PATCH", "/api/teams/", Some(&w.admin), None, &[]);
    assert_eq!(r.body["message"], "PATCH is not allowed here; use GET, POST");
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let r = app.post_raw("/api/teams", Some(&w.admin), &big);
    assert_eq!((r.status, r.body["error"].as_str()), (413, Some("payload_too_large")));
}

#[test]
fn every_mutation_is_audited_and_only_admins_read_the_log() {
    let app = TestApp::start();
    let w = World::new(&app);
    app.put(&format!("/api/teams/{}", w.team), &w.editor.1, json!({"description": "audited"})).expect(200);
    let logs = app.get("/api/admin/audit-logs?object_type=team", &w.admin).expect(200);
    let first = &logs[0];
    assert_eq!(first["action"], "team.update");
    assert_eq!(first["actor"], "eddie");
    assert_eq!(first["object_id"], w.team);
    assert_eq!(first["group_id"], w.group);
    assert!(first["created_at"].as_str().unwrap().starts_with("2026-11-23T09:00:00"));
    let all = app.get("/api/admin/audit-logs?limit=1000", &w.admin).expect(200);
    let actions: Vec<_> = all.as_array().unwrap().iter().map(|l| l["action"].as_str().unwrap()).collect();
    for expected in ["group.create", "user.create", "group_membership.create", "team.create", "team.update"] {
        assert!(actions.contains(&expected), "{expected} missing in {actions:?}");
    }
    assert_eq!(app.get("/api/admin/audit-logs", &w.editor.1).status, 403);
}
