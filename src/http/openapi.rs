//! The OpenAPI 3.1 document, built from the same route table that registers the handlers
//! (aide's model types + schemars; aide has no actix integration), so docs cannot drift.

use aide::openapi::{
    Components, Info, License, MediaType, OpenApi, Operation, Parameter, ParameterData, ParameterSchemaOrContent,
    PathItem, PathStyle, Paths, QueryStyle, ReferenceOr, RequestBody, Response, Responses, SchemaObject,
    SecurityScheme, StatusCode, Tag,
};
use indexmap::IndexMap;
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::Value;

use super::error::ErrorBody;
use super::{AuthKind, Endpoint};

fn schema_object(s: Schema) -> SchemaObject {
    SchemaObject { json_schema: s, external_docs: None, example: None }
}

fn media(content_type: &str, schema: Option<Schema>) -> IndexMap<String, MediaType> {
    let mut m = IndexMap::new();
    m.insert(content_type.to_string(), MediaType { schema: schema.map(schema_object), ..MediaType::default() });
    m
}

/// Path templates: actix's `{name:regex}` becomes OpenAPI's `{name}`.
pub fn openapi_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    let mut skipping = false;
    for ch in path.chars() {
        match ch {
            '{' => {
                in_param = true;
                out.push(ch);
            }
            ':' if in_param => skipping = true,
            '}' if in_param => {
                in_param = false;
                skipping = false;
                out.push(ch);
            }
            _ if skipping => {}
            _ => out.push(ch),
        }
    }
    out
}

fn path_params(path: &str) -> Vec<String> {
    let p = openapi_path(path);
    p.split('{').skip(1).filter_map(|s| s.split('}').next()).map(str::to_string).collect()
}

fn param_data(name: String, description: Option<String>, required: bool, schema: Schema) -> ParameterData {
    ParameterData {
        name,
        description,
        required,
        deprecated: None,
        format: ParameterSchemaOrContent::Schema(schema_object(schema)),
        example: None,
        examples: IndexMap::new(),
        explode: None,
        extensions: IndexMap::new(),
    }
}

fn operation(ep: &Endpoint, generator: &mut SchemaGenerator) -> Operation {
    let mut parameters = Vec::new();
    for name in path_params(ep.path) {
        let schema = if name == "id" || name.ends_with("_id") {
            json_schema!({"type": "integer", "format": "int64"})
        } else {
            json_schema!({"type": "string"})
        };
        parameters.push(ReferenceOr::Item(Parameter::Path {
            parameter_data: param_data(name, None, true, schema),
            style: PathStyle::Simple,
        }));
    }
    if let Some(query) = ep.query {
        let schema = query(generator);
        let required: Vec<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if let Some(Value::Object(props)) = schema.get("properties") {
            for (name, prop) in props {
                let description = prop.get("description").and_then(Value::as_str).map(str::to_string);
                let s = Schema::try_from(prop.clone()).unwrap_or_else(|_| json_schema!({}));
                parameters.push(ReferenceOr::Item(Parameter::Query {
                    parameter_data: param_data(name.clone(), description, required.contains(name), s),
                    allow_reserved: false,
                    style: QueryStyle::Form,
                    allow_empty_value: None,
                }));
            }
        }
    }
    let request_body = ep.body.map(|f| {
        ReferenceOr::Item(RequestBody {
            description: None,
            content: media("application/json", Some(f(generator))),
            required: true,
            extensions: IndexMap::new(),
        })
    });
    let mut responses = Responses::default();
    let (status, ok_schema) = ep.ok;
    responses.responses.insert(
        StatusCode::Code(status),
        ReferenceOr::Item(Response {
            description: match status {
                201 => "Created".into(),
                202 => "Accepted".into(),
                204 => "No content".into(),
                _ => "OK".into(),
            },
            // A 204 has no body, so no content type.
            content: if status == 204 {
                IndexMap::new()
            } else {
                media(ep.content_type, ok_schema.map(|f| f(generator)))
            },
            ..Response::default()
        }),
    );
    if let Some((status, schema)) = ep.rejected {
        responses.responses.insert(
            StatusCode::Code(status),
            ReferenceOr::Item(Response {
                description: "Rejected".into(),
                content: media("application/json", Some(schema(generator))),
                ..Response::default()
            }),
        );
    }
    responses.default = Some(ReferenceOr::Item(Response {
        description: "Error: `{error, message, details}`; see the error codes in the API contract".into(),
        content: media("application/json", Some(generator.subschema_for::<ErrorBody>())),
        ..Response::default()
    }));
    let security = match ep.auth {
        AuthKind::User => vec![req("bearerAuth"), req("cookieAuth")],
        AuthKind::RouteToken => vec![req("bearerAuth"), IndexMap::new()],
        AuthKind::Public => vec![IndexMap::new()],
    };
    let op_id: String = format!("{} {}", ep.method.as_str().to_lowercase(), openapi_path(ep.path))
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Operation {
        tags: vec![ep.tag.to_string()],
        summary: Some(ep.summary.to_string()),
        description: ep.description.map(str::to_string),
        operation_id: Some(op_id.trim_matches('_').replace("__", "_")),
        parameters,
        request_body,
        responses: Some(responses),
        security,
        ..Operation::default()
    }
}

fn req(name: &str) -> IndexMap<String, Vec<String>> {
    let mut m = IndexMap::new();
    m.insert(name.to_string(), Vec::new());
    m
}

/// Builds the document for the given endpoints.
pub fn document(endpoints: &[Endpoint]) -> OpenApi {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    let mut paths: IndexMap<String, ReferenceOr<PathItem>> = IndexMap::new();
    let mut tags: Vec<String> = Vec::new();
    for ep in endpoints {
        let op = operation(ep, &mut generator);
        if !tags.iter().any(|t| t == ep.tag) {
            tags.push(ep.tag.to_string());
        }
        let entry = paths.entry(openapi_path(ep.path)).or_insert_with(|| ReferenceOr::Item(PathItem::default()));
        if let ReferenceOr::Item(item) = entry {
            let slot = match ep.method.as_str() {
                "GET" => &mut item.get,
                "POST" => &mut item.post,
                "PUT" => &mut item.put,
                "DELETE" => &mut item.delete,
                "PATCH" => &mut item.patch,
                _ => &mut item.options,
            };
            *slot = Some(op);
        }
    }
    let mut components = Components::default();
    for (name, schema) in generator.take_definitions(true) {
        if let Ok(s) = Schema::try_from(schema) {
            components.schemas.insert(name, schema_object(s));
        }
    }
    components.security_schemes.insert(
        "bearerAuth".into(),
        ReferenceOr::Item(SecurityScheme::Http {
            scheme: "bearer".into(),
            bearer_format: Some("opaque".into()),
            description: Some(
                "A session token from POST /api/auth/login, a personal API token (irp_…), or — on intake endpoints — a route intake token (iri_…)".into(),
            ),
            extensions: IndexMap::new(),
        }),
    );
    components.security_schemes.insert(
        "cookieAuth".into(),
        ReferenceOr::Item(SecurityScheme::ApiKey {
            location: aide::openapi::ApiKeyLocation::Cookie,
            name: super::auth::SESSION_COOKIE.into(),
            description: Some(
                "The browser session; requests that change data also need the X-CSRF-Token header".into(),
            ),
            extensions: IndexMap::new(),
        }),
    );
    OpenApi {
        info: Info {
            title: "IncidentRelay API".into(),
            description: Some(
                "On-call routing, alert delivery and escalation. Errors are `{error, message, details}`.".into(),
            ),
            version: env!("CARGO_PKG_VERSION").into(),
            license: Some(License {
                name: "Apache-2.0".into(),
                identifier: Some("Apache-2.0".into()),
                ..License::default()
            }),
            ..Info::default()
        },
        paths: Some(Paths { paths, extensions: IndexMap::new() }),
        components: Some(components),
        tags: tags.into_iter().map(|name| Tag { name, ..Tag::default() }).collect(),
        ..OpenApi::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_converted() {
        assert_eq!(openapi_path("/api/teams/{id}"), "/api/teams/{id}");
        assert_eq!(openapi_path("/api/calendar/feeds/{token:[^/.]+}.ics"), "/api/calendar/feeds/{token}.ics");
        assert_eq!(path_params("/api/rotations/members/{member_id}"), ["member_id"]);
    }
}

/// The document as JSON text. A schema that accepts anything is `{}`, not JSON Schema's
/// `true`: OpenAPI 3.1 allows both, but client generators (openapi-python-client) stop on the
/// boolean form.
pub fn json(endpoints: &[Endpoint]) -> Result<String, serde_json::Error> {
    let mut doc = serde_json::to_value(document(endpoints))?;
    open_boolean_schemas(&mut doc, false);
    serde_json::to_string(&doc)
}

/// Replaces `true` schemas by `{}` wherever a schema stands (`in_schema`: `v` is one).
fn open_boolean_schemas(v: &mut serde_json::Value, in_schema: bool) {
    use serde_json::Value;
    match v {
        Value::Bool(true) if in_schema => *v = Value::Object(Default::default()),
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match key.as_str() {
                    "schema" | "items" | "additionalProperties" | "not" | "contains" => {
                        open_boolean_schemas(child, true)
                    }
                    // Maps whose every value is a schema.
                    "properties" | "schemas" | "$defs" | "patternProperties" => {
                        if let Value::Object(m) = child {
                            m.values_mut().for_each(|s| open_boolean_schemas(s, true));
                        }
                    }
                    // Lists of schemas.
                    "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
                        if let Value::Array(a) = child {
                            a.iter_mut().for_each(|s| open_boolean_schemas(s, true));
                        }
                    }
                    _ => open_boolean_schemas(child, false),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| open_boolean_schemas(x, false)),
        _ => {}
    }
}

#[cfg(test)]
mod boolean_schema_tests {
    use super::*;

    #[test]
    fn schemas_that_accept_anything_are_empty_objects() {
        let text = json(&crate::http::endpoints()).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut found = Vec::new();
        fn walk(v: &serde_json::Value, path: String, found: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, c) in m {
                        if c == &serde_json::Value::Bool(true) && k != "required" && k != "deprecated" {
                            found.push(format!("{path}/{k}"));
                        }
                        walk(c, format!("{path}/{k}"), found);
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|c| walk(c, path.clone(), found)),
                _ => {}
            }
        }
        walk(&doc, String::new(), &mut found);
        assert!(found.is_empty(), "boolean schemas: {found:?}");
        assert_eq!(doc["components"]["schemas"]["AlertEvent"]["properties"]["data"], serde_json::json!({}));
    }
}
