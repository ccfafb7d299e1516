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
