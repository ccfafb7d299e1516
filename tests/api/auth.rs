//! Login, logout, throttling, sessions, cookies/CSRF and personal API tokens with scopes.

use serde_json::json;

use crate::support::{TestApp, World};

#[test]
fn first_admin_password_is_logged_once_and_logs_in() {
    let app = TestApp::start();
    assert_eq!(app.admin_password.len(), 20, "the generated password is in the log");
    let token = app.admin();
    let me = app.get("/api/auth/me", &token).expect(200);
    assert_eq!(me["user"]["username"], "admin");
    assert_eq!(me["user"]["is_admin"], true);
    assert_eq!(me["user"]["must_change_password"], true, "a generated password must be changed");
    assert!(me["user"].get("password_hash").is_none());
}

#[test]
fn login_logout_and_session_revocation() {
    let app = TestApp::start();
    let r = app.request(
        "POST",
        "/api/auth/login",
        None,
        Some(&json!({"username": "ADMIN", "password": app.admin_password})),
        &[],
    );
    assert_eq!(r.status, 200, "usernames are case-insensitive: {}", r.text);
    let cookie = r.header("set-cookie").unwrap().to_string();
    assert!(cookie.starts_with("ir_session=irs_"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert_eq!(r.body["token_type"], "bearer");
    let token = r.body["access_token"].as_str().unwrap().to_string();
    assert!(r.body["expires_at"].as_str().unwrap().ends_with('Z'));

    app.get("/api/auth/me", &token).expect(200);
    app.post("/api/auth/logout", &token, json!({})).expect(200);
    let after = app.get("/api/auth/me", &token);
    assert_eq!(after.status, 401);
    assert_eq!(after.body["error"], "unauthorized");

    let bad = app.request(
        "POST",
        "/api/auth/login",
        None,
        Some(&json!({"username": "admin", "password": "wrong-password"})),
        &[],
    );
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["error"], "unauthorized");
    let unknown =
        app.request("POST", "/api/auth/login", None, Some(&json!({"username": "nobody", "password": "x"})), &[]);
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.body["message"], bad.body["message"], "unknown users look like wrong passwords");
    let missing = app.request("POST", "/api/auth/login", None, Some(&json!({"username": "admin"})), &[]);
    assert_eq!(missing.status, 400);
    assert_eq!(missing.fields(), ["password"]);
}

#[test]
fn cookie_sessions_need_the_csrf_header_to_change_data() {
    let app = TestApp::start();
    let r = app.request(
        "POST",
        "/api/auth/login",
        None,
        Some(&json!({"username": "admin", "password": app.admin_password})),
        &[],
    );
    let body = r.body.clone();
    let cookie = format!("ir_session={}", body["access_token"].as_str().unwrap());
    let csrf = body["csrf_token"].as_str().unwrap();
    let get = app.request("GET", "/api/groups", None, None, &[("Cookie", &cookie)]);
    assert_eq!(get.status, 200, "reads work with the cookie alone");
    let group = json!({"slug": "g1", "name": "G1"});
    let no_csrf = app.request("POST", "/api/groups", None, Some(&group), &[("Cookie", &cookie)]);
    assert_eq!(no_csrf.status, 403);
    let wrong =
        app.request("POST", "/api/groups", None, Some(&group), &[("Cookie", &cookie), ("X-CSRF-Token", "nope")]);
    assert_eq!(wrong.status, 403);
    let ok = app.request("POST", "/api/groups", None, Some(&group), &[("Cookie", &cookie), ("X-CSRF-Token", csrf)]);
    assert_eq!(ok.status, 201, "{}", ok.text);
}

#[test]
fn failed_logins_are_throttled_per_account_and_per_ip() {
    let app = TestApp::start_with(|c| {
        c.auth.max_failed_logins_per_account = 3;
        c.auth.max_failed_logins_per_ip = 6;
        c.auth.login_lockout_seconds = 600;
    });
    let attempt = |user: &str, pw: &str| {
        app.request("POST", "/api/auth/login", None, Some(&json!({"username": user, "password": pw})), &[])
    };
    for _ in 0..3 {
        assert_eq!(attempt("admin", "bad-password").status, 401);
    }
    let locked = attempt("admin", &app.admin_password);
    assert_eq!(locked.status, 429, "the account is locked even for the right password");
    assert_eq!(locked.body["error"], "rate_limited");
    assert_eq!(locked.header("retry-after"), Some("600"));
    // Other accounts are still usable from this address until the per-IP limit.
    for _ in 0..3 {
        assert_eq!(attempt("someone", "x").status, 401);
    }
    assert_eq!(attempt("third", "x").status, 429, "the client address reached its limit");
    app.advance(601);
    assert_eq!(attempt("admin", &app.admin_password).status, 200, "locks expire");
}

#[test]
fn api_tokens_have_scopes_and_never_exceed_their_owner() {
    let app = TestApp::start();
    let w = World::new(&app);
    // A read-only token.
    let t = app
        .post("/api/profile/tokens", &w.editor.1, json!({"name": "ci", "scopes": ["resources:read"], "days": 30}))
        .expect(201);
    let raw = t["token"].as_str().unwrap().to_string();
    assert!(raw.starts_with("irp_"));
    assert_eq!(t["token_prefix"].as_str().unwrap(), &raw[..12]);
    assert!(t["expires_at"].is_string());
    let listed = app.get("/api/profile/tokens", &w.editor.1).expect(200);
    assert_eq!(listed[0]["name"], "ci");
    assert!(listed[0].get("token").is_none(), "the raw token is never shown again");

    app.get("/api/teams", &raw).expect(200);
    let denied = app.post("/api/teams", &raw, json!({"group_id": w.group, "slug": "x", "name": "X"}));
    assert_eq!(denied.status, 403);
    assert_eq!(denied.body["error"], "missing_scopes");
    assert_eq!(app.get("/api/profile", &raw).body["error"], "missing_scopes", "profile needs profile:read");
    assert_eq!(app.get("/api/teams", &raw).body.as_array().unwrap().len(), 1);
    assert!(app.get("/api/teams", &raw).expect(200)[0]["slug"] == "infra");

    // last_used_at is recorded.
    let tokens = app.get("/api/profile/tokens", &w.editor.1).expect(200);
    assert!(tokens[0]["last_used_at"].is_string(), "{tokens}");

    // A viewer's write token still cannot write: a token never exceeds its owner.
    let vt = app
        .post("/api/profile/tokens", &w.viewer.1, json!({"name": "w", "scopes": ["resources:write", "resources:read"]}))
        .expect(201);
    let r = app.put(&format!("/api/teams/{}", w.team), vt["token"].as_str().unwrap(), json!({"name": "Renamed"}));
    assert_eq!(r.status, 403);

    // `*` is for admins only; unknown scopes are named.
    let r = app.post("/api/profile/tokens", &w.editor.1, json!({"name": "all", "scopes": ["*", "bogus"]}));
    assert_eq!(r.status, 400);
    assert_eq!(r.fields(), ["scopes[0]", "scopes[1]"]);
    let r = app.post("/api/profile/tokens", &w.admin, json!({"name": "all", "scopes": ["*"]}));
    assert_eq!(r.status, 201);

    // Deleting a token revokes it.
    let id = t["id"].as_i64().unwrap();
    app.delete(&format!("/api/profile/tokens/{id}"), &w.editor.1).expect(200);
    assert_eq!(app.get("/api/teams", &raw).status, 401);
    // Tokens cannot log out, and cannot be used on the web UI paths.
    let r = app.post("/api/auth/logout", vt["token"].as_str().unwrap(), json!({}));
    assert_eq!(r.status, 403, "logout needs profile:write: {}", r.text);
}

#[test]
fn group_restricted_tokens_cannot_reach_other_groups() {
    let app = TestApp::start();
    let w = World::new(&app);
    let t = app
        .post(
            "/api/profile/tokens",
            &w.admin,
            json!({"name": "ops-only", "scopes": ["resources:read", "resources:write"], "group_id": w.group}),
        )
        .expect(201);
    let raw = t["token"].as_str().unwrap();
    let teams = app.get("/api/teams", raw).expect(200);
    let slugs: Vec<_> = teams.as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["infra"], "the admin's token only sees its group");
    assert_eq!(app.get(&format!("/api/teams/{}", w.other_team), raw).status, 404);
    assert_eq!(app.get("/api/admin/users", raw).status, 403, "a restricted admin token is not an admin");
    app.put(&format!("/api/teams/{}", w.team), raw, json!({"description": "edited by token"})).expect(200);
    // A member cannot restrict a token to a group they are not in.
    let r = app.post(
        "/api/profile/tokens",
        &w.viewer.1,
        json!({"name": "x", "scopes": ["alerts:read"], "group_id": w.other_group}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.fields(), ["group_id"]);
}

#[test]
fn expired_tokens_and_sessions_stop_working() {
    let app = TestApp::start();
    let admin = app.admin();
    let t = app
        .post("/api/profile/tokens", &admin, json!({"name": "short", "scopes": ["resources:read"], "days": 1}))
        .expect(201);
    let raw = t["token"].as_str().unwrap().to_string();
    app.get("/api/teams", &raw).expect(200);
    app.advance(86_401);
    assert_eq!(app.get("/api/teams", &raw).status, 401);
    app.advance(7 * 86_400);
    assert_eq!(app.get("/api/teams", &admin).status, 401, "sessions expire after auth.session_hours");
}

#[test]
fn profile_and_password_change() {
    let app = TestApp::start();
    let admin = app.admin();
    let (_, alice) = app.user(&admin, "alice");
    let p = app
        .put(
            "/api/profile",
            &alice,
            json!({"phone": "+49 30 1234567", "telegram_user_id": "12345", "display_name": "Alice A."}),
        )
        .expect(200);
    assert_eq!(p["phone"], "+49 30 1234567");
    assert_eq!(p["display_name"], "Alice A.");
    let bad = app.put("/api/profile", &alice, json!({"phone": "call me", "email": "nope"}));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.fields(), ["email", "phone"]);
    let cleared = app.put("/api/profile", &alice, json!({"phone": null})).expect(200);
    assert!(cleared["phone"].is_null());
    let other = app.login("alice", "password-alice");
    let r = app.post(
        "/api/profile/change-password",
        &alice,
        json!({"old_password": "wrong", "new_password": "a-new-long-password"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.fields(), ["old_password"]);
    let r = app.post(
        "/api/profile/change-password",
        &alice,
        json!({"old_password": "password-alice", "new_password": "short"}),
    );
    assert_eq!(r.fields(), ["new_password"]);
    app.post(
        "/api/profile/change-password",
        &alice,
        json!({"old_password": "password-alice", "new_password": "a-new-long-password"}),
    )
    .expect(200);
    app.get("/api/profile", &alice).expect(200);
    assert_eq!(app.get("/api/profile", &other).status, 401, "other sessions end");
    app.login("alice", "a-new-long-password");
}
