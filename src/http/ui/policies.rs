//! Escalation policies: ordered steps (delay, then who is paged), repeats.

use actix_web::web;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::form::{Errors, Form, Values, checkbox, csrf, form_errors, input, required, select, settings, textarea};
use super::layout::{First, empty_list};
use super::teams::team_options;
use super::{Ui, UiResult, deleted, redirect};
use crate::domain::access::Role;
use crate::http::api::{self, TeamFilter};
use crate::http::json::Query;
use crate::store::policies::Policy;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/policies", web::get().to(list));
    cfg.route("/policies", web::post().to(create));
    cfg.route("/policies/{id}", web::get().to(detail));
    cfg.route("/policies/{id}", web::post().to(update));
    cfg.route("/policies/{id}/delete", web::post().to(delete));
}

/// A step row: `(delay_seconds, "type:id")`.
type Step = (String, String);

/// What a step may page: rotations, users and channels the user can see.
async fn targets(ui: &Ui) -> UiResult<Vec<(String, String)>> {
    let (st, caller) = (ui.st.clone(), ui.caller.clone());
    let f = || Query(TeamFilter { team_id: None });
    let mut out = Vec::new();
    for r in api::rotations::list(st.clone(), caller.clone(), f()).await?.0.iter().filter(|r| ui.shows(r.group_id)) {
        out.push((format!("rotation:{}", r.id), format!("On-call of rotation {}", r.name)));
    }
    for u in api::users::list(st.clone(), caller.clone()).await?.0 {
        out.push((format!("user:{}", u.id), format!("User {}", u.username)));
    }
    for c in api::channels::list(st, caller, f()).await?.0.iter().filter(|c| ui.shows(c.group_id)) {
        out.push((format!("channel:{}", c.id), format!("Channel {} ({})", c.name, c.channel_type.as_str())));
    }
    Ok(out)
}

fn fields(
    v: &Values,
    e: &Errors,
    teams: &[(String, String)],
    steps: &[Step],
    all: &[(String, String)],
    new: bool,
) -> Markup {
    let none = Errors::new();
    html! {
        @if new { (select("Team", "team_id", teams, v, e, None, "")) }
        (required("Name", "name", v, e, ""))
        (textarea("Description", "description", v.get("description"), 2, e, ""))
        fieldset.field.invalid[e.keys().any(|k| k.starts_with("rules"))] {
            legend { "Steps, in order" }
            p.muted { "Step 1 pages at once; each later step waits its delay after the previous one unless the alert was acknowledged or resolved. Empty rows are ignored." }
            @for (i, (delay, target)) in steps.iter().enumerate() {
                div.row.step {
                    div.field {
                        label for={"d" (i)} { "Step " (i + 1) ": wait (seconds)" }
                        input id={"d" (i)} type="number" min="0" name="rule_delay" value=(delay);
                        @if let Some(m) = e.get(&format!("rules[{i}].delay_seconds")) { span.field-error { (m) } }
                    }
                    (select("then page", "rule_target", all, &Values::default().set("rule_target", target), &none, Some("— nobody (ignore row) —"), ""))
                    @if let Some(m) = e.get(&format!("rules[{i}].target_id")).or(e.get(&format!("rules[{i}].target_type"))) { span.field-error { (m) } }
                }
            }
            @if let Some(m) = e.get("rules") { span.field-error { (m) } }
        }
        (input("Repeat the steps this many times", "repeat_count", "number", v, e, "0 = run once. With repeats, step 1's delay is the wait before starting over (at least 60 s)."))
        @if !new { (checkbox("Enabled", "enabled", v.checked("enabled"), "")) }
        (form_errors(e, &["team_id", "name", "description", "repeat_count", "rules"]))
    }
}

/// The posted steps (for showing the form again) and the API body.
fn body_of(form: &Form, team: bool) -> (Vec<Step>, Result<Value, Errors>) {
    let delays = form.all("rule_delay");
    let targets = form.all("rule_target");
    let steps: Vec<Step> = (0..delays.len().max(targets.len()))
        .map(|i| (delays.get(i).unwrap_or(&"").to_string(), targets.get(i).unwrap_or(&"").to_string()))
        .collect();
    let mut errors = Errors::new();
    let mut rules = Vec::new();
    for (delay, target) in steps.iter().filter(|(_, t)| !t.is_empty()) {
        let i = rules.len();
        let d = if delay.trim().is_empty() { Ok(0) } else { delay.trim().parse::<i64>() };
        let (kind, id) = target.split_once(':').unwrap_or(("", ""));
        match (d, id.parse::<i64>()) {
            (Ok(d), Ok(id)) => {
                rules.push(json!({"position": i, "delay_seconds": d, "target_type": kind, "target_id": id}))
            }
            (Err(_), _) => {
                errors.insert(format!("rules[{i}].delay_seconds"), "must be a whole number".into());
            }
            (_, Err(_)) => {
                errors.insert(format!("rules[{i}].target_id"), "choose what to page".into());
            }
        }
    }
    let mut spec = vec![
        ("name", super::form::Kind::Text),
        ("description", super::form::Kind::Text),
        ("repeat_count", super::form::Kind::Int),
        ("enabled", super::form::Kind::Check),
    ];
    if team {
        spec.push(("team_id", super::form::Kind::Int));
    }
    let body = match form.json(&spec) {
        Ok(mut v) if errors.is_empty() => {
            v["rules"] = Value::Array(rules);
            Ok(v)
        }
        Ok(_) => Err(errors),
        Err(mut more) => {
            more.extend(errors);
            Err(more)
        }
    };
    (steps, body)
}

fn with_blanks(mut steps: Vec<Step>) -> Vec<Step> {
    steps.retain(|(_, t)| !t.is_empty());
    steps.push((if steps.is_empty() { "0".into() } else { "300".into() }, String::new()));
    steps.push(("600".into(), String::new()));
    steps
}

async fn list_page(ui: &Ui, v: Values, steps: Vec<Step>, e: Errors) -> UiResult {
    let policies: Vec<Policy> =
        api::policies::list(ui.st.clone(), ui.caller.clone(), Query(TeamFilter { team_id: None }))
            .await?
            .0
            .into_iter()
            .filter(|p| ui.shows(p.group_id))
            .collect();
    let teams = team_options(ui, Role::Editor).await?;
    let all = targets(ui).await?;
    ui.form_page(
        &e,
        "Escalation policies",
        html! {
            h1 { "Escalation policies" }
            @if policies.is_empty() { p.muted { "Routes without a policy use simple mode (rotation reminders and escalation)." } (empty_list("escalation policies", if teams.is_empty() { First::Team } else { First::Here })) }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Policy" } th { "Steps" } th { "Repeats" } th { "Enabled" } } }
                    tbody { @for p in &policies { tr {
                        td { a href={"/policies/" (p.id)} { (p.name) } }
                        td { (p.rules.len()) }
                        td { (p.repeat_count) }
                        td { @if p.enabled { "yes" } @else { "no" } }
                    } } }
                } }
            }
            @if !teams.is_empty() {
                details.create open[policies.is_empty() || !e.is_empty()] {
                    summary { "New escalation policy" }
                    form method="post" action="/policies" { (csrf(&ui.csrf)) (fields(&v, &e, &teams, &with_blanks(steps), &all, true)) button.primary type="submit" { "Create policy" } }
                }
            }
        },
    )
}

async fn list(ui: Ui) -> UiResult {
    list_page(&ui, Values::default().set("repeat_count", "0"), vec![], Errors::new()).await
}

async fn create(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let (steps, body) = body_of(&form, true);
    let r = match body {
        Ok(b) => ui.save_value(b, api::policies::create).await?,
        Err(e) => Err(e),
    };
    match r {
        Ok(p) => {
            Ok(redirect(&format!("/policies/{}", p["id"]), "ok", "Escalation policy created. Select it on a route."))
        }
        Err(e) => list_page(&ui, form.values(), steps, e).await,
    }
}

async fn detail_page(ui: &Ui, id: i64, edit: Option<(Values, Vec<Step>, Errors)>) -> UiResult {
    let p = api::policies::get(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    let editor = ui.can(p.group_id, Role::Editor);
    let all = targets(ui).await?;
    let (v, steps, e) = edit.unwrap_or_else(|| {
        let steps = p
            .rules
            .iter()
            .map(|r| (r.delay_seconds.to_string(), format!("{}:{}", r.target_type.as_str(), r.target_id)))
            .collect();
        (Values::of(&serde_json::to_value(&p).unwrap_or_default()), steps, Errors::new())
    });
    let label = |t: &str| all.iter().find(|(k, _)| k == t).map(|(_, l)| l.clone()).unwrap_or_else(|| t.to_string());
    ui.form_page(
        &e,
        &p.name,
        html! {
            p.crumbs { a href="/policies" { "Escalation policies" } " / " (p.name) }
            h1 { (p.name) }
            ol { @for r in &p.rules { li { @if r.position == 0 { "At once" } @else { "After " (r.delay_seconds) " s" } ": " (label(&format!("{}:{}", r.target_type.as_str(), r.target_id))) } } }
            @if p.repeat_count > 0 { p { "Then repeats " (crate::domain::count(p.repeat_count, "time")) "." } }
            @if editor {
                (settings(&ui.csrf, &format!("/policies/{id}"), fields(&v, &e, &[], &with_blanks(steps), &all, false), "Delete policy", "Delete this policy?"))
            }
        },
    )
}

async fn detail(ui: Ui, id: web::Path<i64>) -> UiResult {
    detail_page(&ui, id.into_inner(), None).await
}

async fn update(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let (steps, body) = body_of(&form, false);
    let r = match body {
        Ok(b) => ui.save_value(b, |st, who, b| api::policies::update(st, who, web::Path::from(id), b)).await?,
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => Ok(redirect(&format!("/policies/{id}"), "ok", "Policy saved.")),
        Err(e) => detail_page(&ui, id, Some((form.values(), steps, e))).await,
    }
}

async fn delete(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let r = api::policies::delete(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await;
    deleted(r, "/policies", "Policy deleted.", &format!("/policies/{id}"))
}
