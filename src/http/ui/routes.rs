//! Routes: who gets paged for what. The intake token is shown once (on create and
//! regenerate) with ready-to-paste Alertmanager, Zabbix, Grafana and curl snippets; a payload
//! can be tried against the route (simulate) and a test alert sent through it.

use actix_web::web;
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{
    Errors, Form, Kind, Values, button, checkbox, checkboxes, csrf, form_errors, input, required, select, settings,
    textarea,
};
use super::layout::{First, empty_list};
use super::teams::team_options;
use super::{Ui, UiResult, deleted, redirect};
use crate::domain::access::Role;
use crate::domain::alert::Source;
use crate::http::api::{self, TeamFilter};
use crate::http::intake;
use crate::http::json::Query;
use crate::store::routes::Route;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/routes", web::get().to(list));
    cfg.route("/routes", web::post().to(create));
    cfg.route("/routes/{id}", web::get().to(detail));
    cfg.route("/routes/{id}", web::post().to(update));
    cfg.route("/routes/{id}/delete", web::post().to(delete));
    cfg.route("/routes/{id}/token", web::post().to(regenerate));
    cfg.route("/routes/{id}/simulate", web::post().to(simulate));
    cfg.route("/routes/{id}/test-alert", web::post().to(test_alert));
}

const SPEC: &[(&str, Kind)] = &[
    ("team_id", Kind::Int),
    ("name", Kind::Text),
    ("source", Kind::Text),
    ("rotation_id", Kind::IntOrNull),
    ("escalation_policy_id", Kind::IntOrNull),
    ("channel_ids", Kind::IntList),
    ("matchers", Kind::Json),
    ("group_by", Kind::List),
    ("signing_secret", Kind::Text),
    ("enabled", Kind::Check),
];

/// Rotations, policies and channels of the teams the user edits, for the selects.
struct Choices {
    rotations: Vec<(String, String)>,
    policies: Vec<(String, String)>,
    channels: Vec<(String, String)>,
}

async fn choices(ui: &Ui, team_id: Option<i64>) -> UiResult<Choices> {
    let (st, caller) = (ui.st.clone(), ui.caller.clone());
    let f = || Query(TeamFilter { team_id });
    let rot = api::rotations::list(st.clone(), caller.clone(), f()).await?.0;
    let pol = api::policies::list(st.clone(), caller.clone(), f()).await?.0;
    let ch = api::channels::list(st, caller, f()).await?.0;
    let shown = |g: i64| ui.shows(g);
    Ok(Choices {
        rotations: rot.iter().filter(|r| shown(r.group_id)).map(|r| (r.id.to_string(), r.name.clone())).collect(),
        policies: pol.iter().filter(|p| shown(p.group_id)).map(|p| (p.id.to_string(), p.name.clone())).collect(),
        channels: ch
            .iter()
            .filter(|c| shown(c.group_id))
            .map(|c| (c.id.to_string(), format!("{} ({})", c.name, c.channel_type.as_str())))
            .collect(),
    })
}

fn fields(v: &Values, e: &Errors, teams: &[(String, String)], c: &Choices, new: bool) -> Markup {
    let sources: Vec<(String, String)> =
        Source::ALL.iter().map(|s| (s.as_str().to_string(), s.label().to_string())).collect();
    html! {
        @if new { (select("Team", "team_id", teams, v, e, None, "")) }
        (required("Name", "name", v, e, ""))
        @if new { (select("Source", "source", &sources, v, e, None, "Which intake endpoint uses this route's token.")) }
        (select("Rotation", "rotation_id", &c.rotations, v, e, Some("— none —"), "Simple mode: the on-call of this rotation is paged, reminded and escalated."))
        (select("Escalation policy", "escalation_policy_id", &c.policies, v, e, Some("— none —"), "Instead of simple mode: ordered steps with delays."))
        (checkboxes("Channels", "channel_ids", &c.channels, v, e, "Where pages for this route are delivered."))
        (textarea("Matchers (allow-list)", "matchers", v.get("matchers"), 4, e,
            r#"Empty accepts everything. JSON object {"labels": {"severity": "critical", "env": {"regex": "prod|stage"}}} or a list of Alertmanager matchers ["severity=\"critical\""]."#))
        (textarea("Group by labels", "group_by", &v.lines("group_by"), 2, e, "One label name per line: alerts with equal values merge into one within the group window."))
        (input("Signing secret (Standard Webhooks)", "signing_secret", "password", &Values::default(), e,
            if v.checked("requires_signature") { "Set: requests must be signed with it. Paste a new one to replace it." }
            else { "whsec_…: requests must then carry a valid webhook-signature. incident.io routes need the secret of incident.io's webhook endpoint." }))
        @if !new { (checkbox("Enabled", "enabled", v.checked("enabled"), "")) }
        (form_errors(e, &["team_id", "name", "source", "rotation_id", "escalation_policy_id", "channel_ids", "matchers", "group_by", "signing_secret"]))
    }
}

#[derive(Deserialize)]
struct ListQuery {
    team_id: Option<i64>,
}

async fn list_page(ui: &Ui, team_id: Option<i64>, v: Values, e: Errors) -> UiResult {
    let routes: Vec<Route> = api::routes::list(ui.st.clone(), ui.caller.clone(), Query(TeamFilter { team_id }))
        .await?
        .0
        .into_iter()
        .filter(|r| ui.shows(r.group_id))
        .collect();
    let teams = team_options(ui, Role::Editor).await?;
    let c = choices(ui, None).await?;
    ui.form_page(
        &e,
        "Routes",
        html! {
            h1 { "Routes" }
            p.muted { "A route owns an intake token: alerts sent with it go to the route's team, rotation or escalation policy, and channels." }
            @if routes.is_empty() { (empty_list("routes", if teams.is_empty() { First::Team } else { First::Here })) }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Route" } th { "Source" } th { "Token" } th { "Channels" } } }
                    tbody { @for r in &routes { tr {
                        td { a href={"/routes/" (r.id)} { (r.name) } @if !r.enabled { " " span.muted { "(disabled)" } } }
                        td { (r.source.as_str()) }
                        td { code { (r.intake_token_prefix) "…" } }
                        td { (r.channel_ids.len()) }
                    } } }
                } }
            }
            @if !teams.is_empty() {
                details.create open[routes.is_empty() || !e.is_empty()] {
                    summary { "New route" }
                    form method="post" action="/routes" { (csrf(&ui.csrf)) (fields(&v, &e, &teams, &c, true)) button.primary type="submit" { "Create route" } }
                }
            }
        },
    )
}

async fn list(ui: Ui, q: web::Query<ListQuery>) -> UiResult {
    let v = Values::default()
        .set("source", "alertmanager")
        .set("team_id", &q.team_id.map(|t| t.to_string()).unwrap_or_default());
    list_page(&ui, q.team_id, v, Errors::new()).await
}

/// A curl command that sends the source's example body to its own intake endpoint.
pub fn curl_snippet(base: &str, source: Source, token: &str) -> String {
    let body = intake::example(source);
    match source {
        // PagerDuty senders put the token in the body.
        Source::Events => {
            let body = body.replacen('{', &format!("{{\"routing_key\": \"{token}\", "), 1);
            format!(
                "curl -X POST {base}{} -H 'Content-Type: application/json' \\\n  -d '{body}'\n",
                source.intake_path()
            )
        }
        // incident.io signs with Standard Webhooks; the signature picks the route.
        Source::Incidentio => format!(
            "SECRET='whsec_…'   # this route's signing secret\n\
             BODY='{body}'\n\
             ID=msg_$(date +%s) TS=$(date +%s)\n\
             KEY=$(printf %s \"${{SECRET#whsec_}}\" | base64 -d | od -An -vtx1 | tr -d ' \\n')\n\
             SIG=$(printf %s \"$ID.$TS.$BODY\" | openssl dgst -sha256 -mac HMAC -macopt \"hexkey:$KEY\" -binary | base64)\n\
             curl -X POST {base}{} -H \"webhook-id: $ID\" -H \"webhook-timestamp: $TS\" \\\n  \
             -H \"webhook-signature: v1,$SIG\" -H 'Content-Type: application/json' -d \"$BODY\"\n",
            source.intake_path()
        ),
        _ => format!(
            "curl -X POST {base}{} \\\n  -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\\n  -d '{body}'\n",
            source.intake_path()
        ),
    }
}

/// How to point the source at this route (its main snippet).
pub fn source_snippet(base: &str, source: Source, token: &str) -> (&'static str, String) {
    let path = source.intake_path();
    match source {
        Source::Alertmanager => (
            "Alertmanager (alertmanager.yml)",
            format!(
                "route:\n  receiver: incidentrelay\n  group_by: ['alertname']\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\n\
                 receivers:\n  - name: incidentrelay\n    webhook_configs:\n      - url: {base}{path}\n        send_resolved: true\n\
                 \x20       http_config:\n          authorization:\n            type: Bearer\n            credentials: {token}\n"
            ),
        ),
        Source::Zabbix => (
            "Zabbix",
            format!(
                "Media type: Webhook\nParameters:\n  url   = {base}{path}\n  token = {token}\n  (plus event_id, event_value, trigger_name, severity, host, tags… — see examples/zabbix)\n"
            ),
        ),
        Source::Grafana => (
            "Grafana",
            format!(
                "Contact point → Webhook\n  URL: {base}{path}\n  HTTP method: POST\n  Authorization header: Bearer {token}\n"
            ),
        ),
        Source::Events => ("PagerDuty Events API v2 clients", curl_snippet(base, source, token)),
        Source::Webhook => ("curl", curl_snippet(base, source, token)),
        Source::Incidentio => (
            "incident.io",
            format!(
                "Settings → Webhooks → Add endpoint\n  Endpoint URL: {base}{path}\n  \
                 Events: Public incident created (v2), Public incident updated (v2)\n\
                 Then copy the endpoint's signing secret (whsec_…) into this route's \"Signing secret\".\n"
            ),
        ),
    }
}

/// The raw token with copy button and snippets for the route's source.
fn token_panel(base: &str, source: Source, token: &str) -> Markup {
    let main = source_snippet(base, source, token);
    let curl = matches!(source, Source::Alertmanager | Source::Zabbix | Source::Grafana | Source::Incidentio)
        .then(|| curl_snippet(base, source, token));
    html! {
        div.flash.ok role="status" {
            p { strong { "Intake token — shown only now. Copy it:" } }
            p.secret { code id="intake-token" { (token) } button type="button" data-copy="intake-token" hidden { "Copy" } }
        }
        h3 { (main.0) }
        pre id="snippet-main" { (main.1) }
        button type="button" data-copy="snippet-main" hidden { "Copy snippet" }
        @if let Some(curl) = curl { h3 { "Or test with curl" } pre id="snippet-curl" { (curl) } }
    }
}

async fn create(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let r = ui.save(&form, SPEC, api::routes::create).await?;
    match r {
        Ok(route) => {
            let id = route["id"].as_i64().unwrap_or(0);
            let token = route["intake_token"].as_str().unwrap_or("").to_string();
            let source = route["source"].as_str().and_then(Source::parse).unwrap_or(Source::Webhook);
            detail_page(&ui, id, None, Some(html! { (token_panel(&ui.st.base_url, source, &token)) })).await
        }
        Err(e) => list_page(&ui, None, form.values(), e).await,
    }
}

async fn detail_page(ui: &Ui, id: i64, edit: Option<(Values, Errors)>, notice: Option<Markup>) -> UiResult {
    let r = api::routes::get(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    let c = choices(ui, Some(r.team_id)).await?;
    let editor = ui.can(r.group_id, Role::Editor);
    let responder = ui.can(r.group_id, Role::Responder);
    let (v, e) = edit.unwrap_or_else(|| {
        let mut v = Values::of(&serde_json::to_value(&r).unwrap_or_default());
        let empty = r.matchers.is_null()
            || r.matchers.as_object().is_some_and(|m| m.is_empty())
            || r.matchers.as_array().is_some_and(|a| a.is_empty());
        if empty {
            v = v.set("matchers", "");
        }
        (v, Errors::new())
    });
    let sample = intake::example(r.source);
    ui.form_page(
        &e,
        &r.name,
        html! {
            p.crumbs { a href="/routes" { "Routes" } " / " (r.name) }
            h1 { (r.name) }
            @if let Some(n) = notice { (n) }
            @for w in &r.warnings { p.flash.error role="status" { "⚠ " (w) } }
            p { "Source " strong { (r.source.as_str()) } " · token " code { (r.intake_token_prefix) "…" }
                " · endpoint " code { (ui.st.base_url) (r.source.intake_path()) } }
            div.actions.big {
                @if responder { (button(&format!("/routes/{id}/test-alert"), &ui.csrf, "Send a test alert", "primary", None)) }
                @if editor {
                    form.inline method="post" action={"/routes/" (id) "/token"} data-confirm="Issue a new intake token for this route?" {
                        (csrf(&ui.csrf))
                        label { "The current token keeps working " select name="grace_seconds" {
                            option value="0" { "no longer (stops now)" }
                            option value="3600" { "for 1 hour" }
                            option value="86400" { "for 24 hours" }
                        } }
                        " " button type="submit" { "Regenerate token" }
                    }
                }
            }
            @if let (Some(prefix), Some(until)) = (&r.previous_token_prefix, r.previous_token_expires_at) {
                p.muted { "The previous token " code { (prefix) "…" } " keeps working until " (ui.time(until)) "." }
            }
            section {
                h2 { "Try a payload" }
                p.muted { "What intake would do with it — nothing is stored or sent." }
                form method="post" action={"/routes/" (id) "/simulate"} data-simulate={"/api/routes/" (id) "/simulate"} {
                    (csrf(&ui.csrf))
                    (textarea("Payload (JSON)", "payload", sample, 6, &Errors::new(), "With JavaScript on, the result updates as you type."))
                    button type="submit" { "Test this payload" }
                    div.simulation aria-live="polite" {}
                }
            }
            @if editor {
                (settings(&ui.csrf, &format!("/routes/{id}"), fields(&v, &e, &[], &c, false), "Delete route", "Delete this route? Senders using its token will be refused."))
            }
        },
    )
}

async fn detail(ui: Ui, id: web::Path<i64>) -> UiResult {
    detail_page(&ui, id.into_inner(), None, None).await
}

async fn update(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let mut form = form;
    // An emptied matchers box means "accept everything".
    if form.get("matchers").is_some_and(|m| m.trim().is_empty()) {
        form.0.retain(|(k, _)| k != "matchers");
        form.0.push(("matchers".into(), "{}".into()));
    }
    let r = ui.save(&form, SPEC, |st, who, b| api::routes::update(st, who, web::Path::from(id), b)).await?;
    match r {
        Ok(_) => Ok(redirect(&format!("/routes/{id}"), "ok", "Route saved.")),
        Err(e) => detail_page(&ui, id, Some((form.values(), e)), None).await,
    }
}

async fn delete(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let r = api::routes::delete(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await;
    deleted(r, "/routes", "Route deleted.", &format!("/routes/{id}"))
}

async fn regenerate(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let grace = form.get("grace_seconds").and_then(|g| g.parse::<i64>().ok()).unwrap_or(0);
    let body = crate::http::json::BodyOrDefault(api::routes::RegenerateInput { grace_seconds: grace });
    let r = api::routes::regenerate_token(ui.st.clone(), ui.caller.clone(), web::Path::from(id), body).await?.0;
    let token = r.intake_token.clone().unwrap_or_default();
    let panel = token_panel(&ui.st.base_url, r.source, &token);
    let old = match r.previous_token_expires_at {
        Some(until) => format!("the old one keeps working until {}", until.rfc3339()),
        None => "the old one no longer works".to_string(),
    };
    detail_page(&ui, id, None, Some(html! { p { "A new token was issued; " (old) "." } (panel) })).await
}

async fn simulate(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let payload = form.get("payload").unwrap_or("").to_string();
    let result =
        api::routes::simulate(ui.st.clone(), ui.caller.clone(), web::Path::from(id), web::Bytes::from(payload.clone()))
            .await;
    let shown = match result {
        Ok(sim) => html! {
            div.flash.ok role="status" {
                @for a in &sim.0.alerts {
                    p { strong { (a.alert.title) } " — " @if a.matched { "accepted" } @else { "rejected by the matchers" } ": " (a.decision) }
                    @for f in &a.matcher_failures { p.error { (f) } }
                }
                @if sim.0.alerts.is_empty() { p { "The payload holds no alerts." } }
            }
            details { summary { "Full result" } pre { (serde_json::to_string_pretty(&sim.0).unwrap_or_default()) } }
        },
        Err(e) => {
            let b = e.body();
            html! { div.flash.error role="alert" { p { (b.message) } @for d in &b.details { p { strong { (d.field) } ": " (d.message) } } } }
        }
    };
    detail_page(&ui, id, None, Some(html! { h2 { "Simulation" } (shown) })).await
}

async fn test_alert(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let r = api::routes::get(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    ui.caller.require(r.group_id, Role::Responder, "route")?;
    let results = intake::send_test_alert(&ui.st, id, &ui.caller.user.username).await?;
    let first = results.into_iter().next();
    Ok(match first {
        Some(res) if res.id.is_some() => {
            let aid = res.id.unwrap_or(0);
            // What it queued, and for whom: a test that notifies nobody is not a success.
            let queued = ui.st.db.read(move |c| crate::store::outbox::for_alert(c, aid)).await?;
            let targets: Vec<String> = queued.iter().map(|d| d.target.clone()).collect();
            if targets.is_empty() {
                let why = r.warnings.first().cloned().unwrap_or_else(|| "no channel accepted it".into());
                redirect(
                    &format!("/alerts/{aid}"),
                    "error",
                    &format!("Test alert #{aid} was stored, but no notification was queued. {why}"),
                )
            } else {
                let n = targets.len();
                let to = targets.join(", ");
                redirect(
                    &format!("/alerts/{aid}"),
                    "ok",
                    &format!(
                        "Test alert #{aid} sent through route \"{}\": {} queued — {to}.",
                        r.name,
                        crate::domain::count(n as i64, "notification")
                    ),
                )
            }
        }
        Some(res) => redirect(
            &format!("/routes/{id}"),
            "error",
            &format!("The test alert was not routed: {}", res.routing_error.unwrap_or_default()),
        ),
        None => redirect(&format!("/routes/{id}"), "error", "Nothing was sent."),
    })
}
