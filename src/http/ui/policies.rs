//! Escalation policies: ordered steps (delay, then who is paged), repeats.

use actix_web::web;
use maud::{Markup, html};
use serde_json::{Value, json};

use super::form::{
    Errors, Form, Values, checkbox, checkboxes, csrf, form_errors, input, required, select, settings, textarea,
};
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

/// A step as the editor shows it: minutes after the step before (before step 1: the wait before
/// a repeat starts over), and what it pages (`type:id`, several at once).
#[derive(Debug, Clone, Default)]
struct Step {
    minutes: String,
    targets: Vec<String>,
}

/// A policy's rules as the editor's steps: a rule 0 s after the one before joins its step (the
/// API stores a step's several targets as rules 0 s apart).
fn steps_of(p: &Policy) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for r in &p.rules {
        let target = format!("{}:{}", r.target_type.as_str(), r.target_id);
        match steps.last_mut() {
            Some(last) if r.position > 0 && r.delay_seconds == 0 => last.targets.push(target),
            _ => steps.push(Step { minutes: minutes(r.delay_seconds), targets: vec![target] }),
        }
    }
    steps
}

/// Seconds as minutes for the form: whole when they are, else with decimals.
fn minutes(secs: i64) -> String {
    if secs % 60 == 0 { (secs / 60).to_string() } else { format!("{:.2}", secs as f64 / 60.0) }
}

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
        out.push((format!("channel:{}", c.id), format!("Channel {} ({})", c.name, c.channel_type.label())));
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
    html! {
        @if new { (select("Team", "team_id", teams, v, e, None, "")) }
        (required("Name", "name", v, e, ""))
        (textarea("Description", "description", v.get("description"), 2, e, ""))
        // The first button is the one Enter presses: saving, not adding or removing a step.
        button.sr-only type="submit" name="op" value="save" tabindex="-1" aria-hidden="true" { "Save" }
        fieldset.field.steps.invalid[e.keys().any(|k| k.starts_with("rules") || k.starts_with("step"))] {
            legend { "Steps, in order" }
            p.help { "Step 1 pages as soon as an alert arrives. Each later step waits its minutes after the one before, unless the alert was acknowledged or resolved meanwhile. The targets of one step are paged together." }
            @for (i, step) in steps.iter().enumerate() {
                @let page_field = format!("step{i}.page");
                @let picked = { let mut t = Values::default(); t.0.insert(page_field.clone(), step.targets.clone()); t };
                div.step {
                    h3 { "Step " (i + 1) }
                    input type="hidden" name="step" value=(i);
                    div.field.invalid[e.contains_key(&format!("step{i}.minutes"))] {
                        label for={"f-step" (i) ".minutes"} { @if i == 0 { "Minutes to wait before starting over (repeats only)" } @else { "After (minutes)" } }
                        input id={"f-step" (i) ".minutes"} type="number" min="0" step="any" name={"step" (i) ".minutes"} value=(step.minutes);
                        @if let Some(m) = e.get(&format!("step{i}.minutes")) { span.field-error { (m) } }
                    }
                    (checkboxes("Page", &page_field, all, &picked, e, ""))
                    @if steps.len() > 1 { button.small type="submit" name="op" value={"remove-" (i)} formnovalidate { "Remove step " (i + 1) } }
                }
            }
            button.small type="submit" name="op" value="add" formnovalidate { "Add a step" }
            @if let Some(m) = e.get("rules") { span.field-error { (m) } }
        }
        (input("Repeat the steps this many times", "repeat_count", "number", v, e, "0 = run once. With repeats, step 1's delay is the wait before starting over (at least 60 s)."))
        @if !new { (checkbox("Enabled", "enabled", v.checked("enabled"), "")) }
        (form_errors(e, &["team_id", "name", "description", "repeat_count", "rules"]))
    }
}

/// What the editor's submit buttons ask for.
enum Op {
    Save,
    Add,
    Remove(usize),
}

fn op_of(form: &Form) -> Op {
    match form.get("op").unwrap_or("save") {
        "add" => Op::Add,
        other => match other.strip_prefix("remove-").and_then(|i| i.parse().ok()) {
            Some(i) => Op::Remove(i),
            None => Op::Save,
        },
    }
}

/// The posted steps, changed as `op` asks (a step added or removed: the form comes back).
fn steps_posted(form: &Form, op: &Op) -> Vec<Step> {
    let mut steps: Vec<Step> = form
        .all("step")
        .iter()
        .map(|i| Step {
            minutes: form.get(&format!("step{i}.minutes")).unwrap_or("").to_string(),
            targets: form.all(&format!("step{i}.page")).iter().map(|t| t.to_string()).collect(),
        })
        .collect();
    match op {
        Op::Add => {
            steps.push(Step { minutes: if steps.is_empty() { "0".into() } else { "10".into() }, targets: vec![] })
        }
        Op::Remove(i) if *i < steps.len() && steps.len() > 1 => {
            steps.remove(*i);
        }
        _ => {}
    }
    if steps.is_empty() {
        steps.push(Step { minutes: "0".into(), targets: vec![] });
    }
    steps
}

/// The API body of the posted form: each step's targets become rules, the first after the
/// step's minutes, the others 0 s after it.
fn body_of(form: &Form, steps: &[Step], team: bool) -> Result<Value, Errors> {
    let mut errors = Errors::new();
    let mut rules = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let secs = match step.minutes.trim() {
            "" => Some(0),
            m => m
                .parse::<f64>()
                .ok()
                .filter(|m| m.is_finite() && *m >= 0.0 && *m <= 10_080.0)
                .map(|m| (m * 60.0).round() as i64),
        };
        let Some(secs) = secs else {
            errors.insert(format!("step{i}.minutes"), format!("step {}: minutes from 0 to 10080 (a week)", i + 1));
            continue;
        };
        if step.targets.is_empty() {
            errors.insert(format!("step{i}.page"), format!("step {}: choose whom to page", i + 1));
        }
        for (t, target) in step.targets.iter().enumerate() {
            let (kind, id) = target.split_once(':').unwrap_or(("", ""));
            let delay = if t == 0 { secs } else { 0 };
            rules.push(json!({"position": rules.len(), "delay_seconds": delay, "target_type": kind, "target_id": id.parse::<i64>().unwrap_or(0)}));
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
    match form.json(&spec) {
        Ok(mut v) if errors.is_empty() => {
            v["rules"] = Value::Array(rules);
            Ok(v)
        }
        Ok(_) => Err(errors),
        Err(mut more) => {
            more.extend(errors);
            Err(more)
        }
    }
}

async fn list_page(ui: &Ui, v: Values, steps: Vec<Step>, e: Errors, open: bool) -> UiResult {
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
                details.create id="new" open[open || policies.is_empty() || !e.is_empty()] {
                    summary { "New escalation policy" }
                    form method="post" action="/policies#new" { (csrf(&ui.csrf)) (fields(&v, &e, &teams, &steps, &all, true)) button.primary type="submit" name="op" value="save" { "Create policy" } }
                }
            }
        },
    )
}

async fn list(ui: Ui) -> UiResult {
    let first = vec![Step { minutes: "0".into(), targets: vec![] }];
    list_page(&ui, Values::default().set("repeat_count", "0"), first, Errors::new(), false).await
}

async fn create(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let op = op_of(&form);
    let steps = steps_posted(&form, &op);
    if !matches!(op, Op::Save) {
        return list_page(&ui, form.values(), steps, Errors::new(), true).await;
    }
    let r = match body_of(&form, &steps, true) {
        Ok(b) => ui.save_value(b, api::policies::create).await?,
        Err(e) => Err(e),
    };
    match r {
        Ok(p) => {
            Ok(redirect(&format!("/policies/{}", p["id"]), "ok", "Escalation policy created. Select it on a route."))
        }
        Err(e) => list_page(&ui, form.values(), steps, e, true).await,
    }
}

async fn detail_page(ui: &Ui, id: i64, edit: Option<(Values, Vec<Step>, Errors)>) -> UiResult {
    let p = api::policies::get(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    let editor = ui.can(p.group_id, Role::Editor);
    let all = targets(ui).await?;
    let (v, steps, e) = edit
        .unwrap_or_else(|| (Values::of(&serde_json::to_value(&p).unwrap_or_default()), steps_of(&p), Errors::new()));
    let shown = steps_of(&p);
    let label = |t: &str| all.iter().find(|(k, _)| k == t).map(|(_, l)| l.clone()).unwrap_or_else(|| t.to_string());
    ui.form_page(
        &e,
        &p.name,
        html! {
            p.crumbs { a href="/policies" { "Escalation policies" } " / " (p.name) }
            h1 { (p.name) }
            ol { @for (i, s) in shown.iter().enumerate() {
                li { @if i == 0 { "At once" } @else { "After " (s.minutes) " min" } ": "
                    @for (t, target) in s.targets.iter().enumerate() { @if t > 0 { ", " } (label(target)) } }
            } }
            @if p.repeat_count > 0 { p { "Then repeats " (crate::domain::count(p.repeat_count, "time")) "." } }
            @if editor {
                (settings(&ui.csrf, &format!("/policies/{id}"), fields(&v, &e, &[], &steps, &all, false), "Delete policy", "Delete this policy?"))
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
    let op = op_of(&form);
    let steps = steps_posted(&form, &op);
    if !matches!(op, Op::Save) {
        return detail_page(&ui, id, Some((form.values(), steps, Errors::new()))).await;
    }
    let r = match body_of(&form, &steps, false) {
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
