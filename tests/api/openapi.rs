//! The OpenAPI document covers every route and every endpoint of the API contract.

use serde_json::Value;

use crate::support::TestApp;

/// Every (method, path) of `shared/design/api.md`, copied here: the contract is binding.
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/api/auth/login"),
    ("post", "/api/auth/logout"),
    ("get", "/api/auth/me"),
    ("get", "/api/profile"),
    ("put", "/api/profile"),
    ("post", "/api/profile/change-password"),
    ("get", "/api/profile/tokens"),
    ("post", "/api/profile/tokens"),
    ("delete", "/api/profile/tokens/{id}"),
    ("get", "/api/users"),
    ("get", "/api/admin/users"),
    ("post", "/api/admin/users"),
    ("get", "/api/admin/users/{id}"),
    ("put", "/api/admin/users/{id}"),
    ("delete", "/api/admin/users/{id}"),
    ("get", "/api/groups"),
    ("post", "/api/groups"),
    ("get", "/api/groups/{id}"),
    ("put", "/api/groups/{id}"),
    ("delete", "/api/groups/{id}"),
    ("get", "/api/groups/{id}/users"),
    ("post", "/api/groups/{id}/users"),
    ("put", "/api/groups/users/{membership_id}"),
    ("delete", "/api/groups/users/{membership_id}"),
    ("get", "/api/teams"),
    ("post", "/api/teams"),
    ("get", "/api/teams/{id}"),
    ("put", "/api/teams/{id}"),
    ("delete", "/api/teams/{id}"),
    ("get", "/api/teams/{id}/users"),
    ("post", "/api/teams/{id}/users"),
    ("put", "/api/teams/users/{membership_id}"),
    ("delete", "/api/teams/users/{membership_id}"),
    ("get", "/api/rotations"),
    ("get", "/api/rotations/{id}"),
    ("post", "/api/rotations"),
    ("put", "/api/rotations/{id}"),
    ("delete", "/api/rotations/{id}"),
    ("get", "/api/rotations/{id}/members"),
    ("post", "/api/rotations/{id}/members"),
    ("put", "/api/rotations/members/{member_id}"),
    ("delete", "/api/rotations/members/{member_id}"),
    ("get", "/api/rotations/{id}/overrides"),
    ("post", "/api/rotations/{id}/overrides"),
    ("delete", "/api/rotations/overrides/{id}"),
    ("get", "/api/rotations/{id}/oncall"),
    ("get", "/api/channels/types"),
    ("get", "/api/channels"),
    ("post", "/api/channels"),
    ("get", "/api/channels/{id}"),
    ("put", "/api/channels/{id}"),
    ("delete", "/api/channels/{id}"),
    ("get", "/api/routes"),
    ("post", "/api/routes"),
    ("get", "/api/routes/{id}"),
    ("put", "/api/routes/{id}"),
    ("delete", "/api/routes/{id}"),
    ("post", "/api/routes/{id}/intake-token"),
    ("get", "/api/escalation-policies"),
    ("post", "/api/escalation-policies"),
    ("get", "/api/escalation-policies/{id}"),
    ("put", "/api/escalation-policies/{id}"),
    ("delete", "/api/escalation-policies/{id}"),
    ("get", "/api/silences"),
    ("post", "/api/silences"),
    ("get", "/api/silences/{id}"),
    ("put", "/api/silences/{id}"),
    ("delete", "/api/silences/{id}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/api/version"),
    ("get", "/api/openapi.json"),
];

fn doc(app: &TestApp) -> Value {
    let r = app.request("GET", "/api/openapi.json", None, None, &[]);
    assert_eq!(r.status, 200);
    r.body
}

#[test]
fn the_document_is_openapi_3_1_and_covers_the_contract() {
    let app = TestApp::start();
    let d = doc(&app);
    assert_eq!(d["openapi"], "3.1.0");
    let paths = d["paths"].as_object().unwrap();
    let missing: Vec<String> = CONTRACT
        .iter()
        .filter(|(m, p)| paths.get(*p).and_then(|item| item.get(*m)).is_none())
        .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
        .collect();
    assert!(missing.is_empty(), "undocumented contract endpoints: {missing:?}");
}

#[test]
fn every_registered_api_route_is_documented_with_schemas() {
    let app = TestApp::start();
    let d = doc(&app);
    let paths = d["paths"].as_object().unwrap();
    let schemas = d["components"]["schemas"].as_object().unwrap();
    for ep in incidentrelay::http::endpoints() {
        let path = incidentrelay::http::openapi::openapi_path(ep.path);
        let method = ep.method.as_str().to_lowercase();
        let op = paths
            .get(&path)
            .and_then(|p| p.get(&method))
            .unwrap_or_else(|| panic!("{method} {path} is not documented"));
        assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has no summary");
        assert!(op["responses"]["default"].is_object(), "{method} {path} documents no error response");
        for r in [
            &op["requestBody"]["content"]["application/json"]["schema"],
            &op["responses"]["200"]["content"]["application/json"]["schema"],
        ] {
            if let Some(reference) = r["$ref"].as_str() {
                let name = reference.trim_start_matches("#/components/schemas/");
                assert!(schemas.contains_key(name), "{method} {path}: {reference} is not in components");
            }
        }
    }
    // Every path the server answers under /api is in the table: probe the contract paths.
    let text = d.to_string();
    assert!(!text.contains("#/$defs"), "all references point into components");
}

#[test]
fn swagger_ui_is_served_from_embedded_assets() {
    let app = TestApp::start();
    let page = app.request("GET", "/docs", None, None, &[]);
    assert_eq!(page.status, 200);
    assert!(page.text.contains("/assets/swagger/swagger-ui-bundle.js"));
    assert!(!page.text.contains("https://"), "no CDN");
    let js = app.request("GET", "/assets/swagger/swagger-ui-bundle.js", None, None, &[]);
    assert_eq!(js.status, 200);
    assert!(js.text.len() > 100_000);
    let etag = js.header("etag").unwrap().to_string();
    let again = app.request("GET", "/assets/swagger/swagger-ui-bundle.js", None, None, &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
}

/// The keys a documented object schema requires.
fn required(d: &Value, schema: &str) -> Vec<String> {
    let s = &d["components"]["schemas"][schema];
    assert!(s.is_object(), "{schema} is not in components");
    s["required"].as_array().map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

/// Real answers carry every key their schema requires (schemathesis found `details` and
/// `total_capped` documented as required while the server omits them when empty).
#[test]
fn answers_carry_what_their_schemas_require() {
    let app = TestApp::start();
    let d = doc(&app);
    let admin = app.admin();
    let answers = [
        ("ErrorBody", app.get("/api/teams/999", &admin).body),
        ("ErrorBody", app.post("/api/teams", &admin, serde_json::json!({})).body),
        ("AlertPage", app.get("/api/alerts", &admin).body),
    ];
    for (schema, body) in &answers {
        for key in required(&d, schema) {
            assert!(body.get(&key).is_some(), "{schema} requires `{key}`, missing in {body}");
        }
    }
    let page = &answers[2].1["pagination"];
    for key in required(&d, "Pagination") {
        assert!(page.get(&key).is_some(), "Pagination requires `{key}`, missing in {page}");
    }
    // The PagerDuty-compatible endpoints document their own 400 body, and send it.
    for path in ["/v2/enqueue", "/api/events/ingest"] {
        let rejected = &d["paths"][path]["post"]["responses"]["400"]["content"]["application/json"]["schema"];
        assert_eq!(rejected["$ref"], "#/components/schemas/InvalidEvent", "{path}");
        let r = app.post_raw(path, None, r#"{"routing_key": "nope", "event_action": "trigger"}"#);
        assert_eq!(r.status, 400);
        for key in required(&d, "InvalidEvent") {
            assert!(r.body.get(&key).is_some(), "InvalidEvent requires `{key}`, missing in {}", r.body);
        }
    }
}

/// openapi-python-client, the generator Python users reach for, turns the document into a
/// client without warnings, and the client works: it creates a group and reads it back.
#[test]
fn openapi_python_client_generates_a_working_client() {
    let Some(python) = crate::tools::python_with("openapi_python_client") else { return };
    let app = TestApp::start();
    let admin = app.admin();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, app.request("GET", "/api/openapi.json", None, None, &[]).text).unwrap();
    // The generator formats its output with ruff, installed beside it.
    let bin = std::path::Path::new(&python).parent().map(|p| p.display().to_string()).unwrap_or_default();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_python_client", "generate", "--meta", "none", "--fail-on-warning", "--path"])
        .arg(&spec)
        .arg("--output-path")
        .arg(dir.path().join("irclient"))
        .env("PATH", &path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !said.contains("Warning"), "openapi-python-client: {said}");
    let script = format!(
        "import sys\nsys.path.insert(0, {dir:?})\n\
         from irclient import AuthenticatedClient\n\
         from irclient.api.groups import post_api_groups, get_api_groups_id\n\
         from irclient.models import GroupInput, Group\n\
         c = AuthenticatedClient(base_url={base:?}, token={token:?})\n\
         g = post_api_groups.sync(client=c, body=GroupInput(slug='py', name='From Python'))\n\
         assert isinstance(g, Group), g\n\
         back = get_api_groups_id.sync(client=c, id=g.id)\n\
         print(back.id, back.slug, back.name)",
        dir = dir.path().display().to_string(),
        base = app.base,
        token = admin
    );
    let out = std::process::Command::new(&python).args(["-c", &script]).output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the generated client: {}{printed}", String::from_utf8_lossy(&out.stderr));
    let id: i64 = printed.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(printed.trim(), format!("{id} py From Python"));
    assert_eq!(app.get(&format!("/api/groups/{id}"), &admin).expect(200)["slug"], "py");
}
