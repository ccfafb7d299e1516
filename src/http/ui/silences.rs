//! Silences: active, scheduled and expired; created from scratch or from an alert's labels.

use actix_web::web;
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{Errors, Form, Kind, Values, button, csrf, form_errors, input, required, select, textarea};
use super::layout::{First, empty_list};
use super::teams::team_options;
use super::{Ui, UiResult, deleted, redirect};
use crate::domain::access::Role;
use crate::domain::time::Ts;
use crate::http::api::{self, TeamFilter};
use crate::http::error::ApiError;
use crate::http::json::Query;
use crate::store::silences::Silence;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/silences", web::get().to(list));
    cfg.route("/silences/new", web::get().to(new));
    cfg.route("/silences", web::post().to(create));
    cfg.route("/silences/{id}/delete", web::post().to(delete));
}

const SPEC: &[(&str, Kind)] = &[
    ("team_id", Kind::Int),
    ("name", Kind::Text),
    ("reason", Kind::Text),
    ("matchers", Kind::Json),
    ("starts_at", Kind::Text),
    ("ends_at", Kind::Text),
];

fn fields(v: &Values, e: &Errors, teams: &[(String, String)]) -> Markup {
    html! {
        (select("Team", "team_id", teams, v, e, None, ""))
        (required("Name", "name", v, e, ""))
        (input("Reason", "reason", "text", v, e, "Shown on silenced alerts."))
        (textarea("Matchers", "matchers", v.get("matchers"), 4, e,
            r#"Which alerts it holds: {"labels": {"instance": "db-1", "alertname": {"regex": "Disk.*"}}} or ["instance=\"db-1\""]."#))
        (input("Starts (UTC)", "starts_at", "datetime-local", v, e, "Empty: now."))
        (select("For", "duration", &durations(), v, e, Some("— until the end below —"), "How long it holds alerts, from its start."))
        (input("Ends (UTC)", "ends_at", "datetime-local", v, e, "When no duration is chosen."))
        (form_errors(e, &["team_id", "name", "reason", "matchers", "starts_at", "ends_at", "duration"]))
    }
}

async fn list_page(ui: &Ui, v: Values, e: Errors, open: bool) -> UiResult {
    let silences: Vec<Silence> =
        api::silences::list(ui.st.clone(), ui.caller.clone(), Query(TeamFilter { team_id: None }))
            .await?
            .0
            .into_iter()
            .filter(|s| ui.shows(s.group_id))
            .collect();
    let teams = team_options(ui, Role::Responder).await?;
    let section = |state: &str, title: &str| {
        // Disabled silences are listed with the expired ones: neither holds alerts.
        let items: Vec<&Silence> = silences
            .iter()
            .filter(|s| s.state.as_str() == state || (state == "expired" && s.state.as_str() == "disabled"))
            .collect();
        html! {
            h2 { (title) " " small.muted { "(" (items.len()) ")" } }
            @if items.is_empty() { p.muted { "None." } }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Silence" } th { "Matchers" } th { "From" } th { "Until" } th {} } }
                    tbody { @for s in items { tr {
                        td { (s.name) @if !s.reason.is_empty() { br; small.muted { (s.reason) } } }
                        td { @for m in matcher_text(&s.matchers) { code.matcher { (m) } " " } }
                        td { (ui.time(s.starts_at)) }
                        td { (ui.time(s.ends_at)) }
                        td.actions { @if ui.can(s.group_id, Role::Responder) { (button(&format!("/silences/{}/delete", s.id), &ui.csrf, "Delete", "small", Some("Delete this silence? Held alerts page again."))) } }
                    } } }
                } }
            }
        }
    };
    ui.form_page(
        &e,
        "Silences",
        html! {
            h1 { "Silences" }
            @if silences.is_empty() { (empty_list("silences", if teams.is_empty() { First::Team } else { First::Here })) }
            @else {
                (section("active", "Active"))
                (section("scheduled", "Scheduled"))
                (section("expired", "Expired or disabled"))
            }
            @if !teams.is_empty() {
                details.create open[open || silences.is_empty() || !e.is_empty()] {
                    summary { "New silence" }
                    form method="post" action="/silences" { (csrf(&ui.csrf)) (fields(&v, &e, &teams)) button.primary type="submit" { "Create silence" } }
                }
            }
        },
    )
}

/// The duration presets of a new silence: (seconds, label).
const DURATIONS: [(i64, &str); 7] = [
    (1800, "30 minutes"),
    (3600, "1 hour"),
    (7200, "2 hours"),
    (14_400, "4 hours"),
    (28_800, "8 hours"),
    (86_400, "1 day"),
    (259_200, "3 days"),
];

fn durations() -> Vec<(String, String)> {
    DURATIONS.iter().map(|(secs, label)| (secs.to_string(), label.to_string())).collect()
}

fn defaults(_ui: &Ui) -> Values {
    Values::default().set("duration", "7200").set("matchers", r#"{"labels": {}}"#)
}

async fn list(ui: Ui) -> UiResult {
    let v = defaults(&ui);
    list_page(&ui, v, Errors::new(), false).await
}

#[derive(Deserialize)]
struct NewQuery {
    alert: Option<i64>,
}

/// The create form prefilled from an alert's labels.
async fn new(ui: Ui, q: web::Query<NewQuery>) -> UiResult {
    let mut v = defaults(&ui);
    if let Some(id) = q.alert {
        let a = api::alerts::get(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
        let matchers = serde_json::json!({ "labels": a.labels });
        v = v
            .set("team_id", &a.team_id.to_string())
            .set("name", &format!("Silence for #{} {}", a.id, a.title))
            .set("matchers", &serde_json::to_string_pretty(&matchers).unwrap_or_default());
    }
    list_page(&ui, v, Errors::new(), true).await
}

async fn create(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    // A duration preset sets the end from the start (or now).
    let r = match (form.json(SPEC), form.get("duration").filter(|d| !d.is_empty())) {
        (Ok(mut body), Some(d)) => match d.parse::<i64>() {
            Ok(secs) if DURATIONS.iter().any(|(s, _)| *s == secs) => {
                let start = match body["starts_at"].as_str() {
                    Some(t) => Ts::parse(t).map_err(|e| ApiError::field("starts_at", &e))?,
                    None => ui.now,
                };
                body["ends_at"] = serde_json::json!(start.plus_secs(secs).rfc3339());
                ui.save_value(body, api::silences::create).await?
            }
            _ => Err(std::iter::once(("duration".to_string(), "choose one of the presets".to_string())).collect()),
        },
        (Ok(body), None) => ui.save_value(body, api::silences::create).await?,
        (Err(e), _) => Err(e),
    };
    match r {
        Ok(_) => Ok(redirect("/silences", "ok", "Silence created.")),
        Err(e) => list_page(&ui, form.values(), e, true).await,
    }
}

async fn delete(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let r = api::silences::delete(ui.st.clone(), ui.caller.clone(), web::Path::from(id.into_inner())).await;
    deleted(r, "/silences", "Silence deleted.", "/silences")
}

/// A silence's matchers as people write them: `instance="web-3"`, `env=~"prod|stage"`.
fn matcher_text(m: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let one = |k: &str, v: &Value| match v {
        Value::String(s) => format!("{k}=\"{s}\""),
        Value::Array(list) => {
            let alts: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            format!("{k}=~\"{}\"", alts.join("|"))
        }
        Value::Object(o) if o.get("regex").is_some_and(Value::is_string) => {
            format!("{k}=~\"{}\"", o.get("regex").and_then(Value::as_str).unwrap_or(""))
        }
        other => format!("{k}={other}"),
    };
    match m {
        Value::Array(list) => {
            list.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect()
        }
        Value::Object(o) => o
            .iter()
            .flat_map(|(k, v)| match (k.as_str(), v) {
                ("labels", Value::Object(labels)) => labels.iter().map(|(lk, lv)| one(lk, lv)).collect::<Vec<_>>(),
                _ => vec![one(k, v)],
            })
            .collect(),
        other => vec![other.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn matchers_read_as_people_write_them() {
        let m = json!({"labels": {"instance": "web-3", "env": {"regex": "prod|stage"}, "dc": ["a", "b"]}, "severity": "critical"});
        assert_eq!(
            super::matcher_text(&m),
            ["dc=~\"a|b\"", "env=~\"prod|stage\"", "instance=\"web-3\"", "severity=\"critical\""]
        );
        assert_eq!(super::matcher_text(&json!(["severity=\"critical\""])), ["severity=\"critical\""]);
    }
}
