//! Teams and their members.

use actix_web::web;
use maud::{Markup, html};

use super::form::{
    Errors, Form, Kind, Values, button, checkbox, checkboxes, csrf, form_errors, input, required, select, settings,
    textarea,
};
use super::layout::{First, empty_list};
use super::{Ui, UiResult, deleted, redirect};
use crate::domain::access::Role;
use crate::http::api;
use crate::http::json::Query;
use crate::store::teams::Team;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/teams", web::get().to(list));
    cfg.route("/teams", web::post().to(create));
    cfg.route("/teams/{id}", web::get().to(detail));
    cfg.route("/teams/{id}", web::post().to(update));
    cfg.route("/teams/{id}/delete", web::post().to(delete));
    cfg.route("/teams/{id}/members", web::post().to(add_member));
    cfg.route("/teams/members/{id}/delete", web::post().to(remove_member));
}

const SPEC: &[(&str, Kind)] = &[
    ("group_id", Kind::Int),
    ("slug", Kind::Text),
    ("name", Kind::Text),
    ("description", Kind::Text),
    ("escalation_enabled", Kind::Check),
    ("escalation_after_reminders", Kind::Int),
    ("active", Kind::Check),
];

/// `(id, name)` of the groups where the user has `role`.
pub fn group_options(ui: &Ui, role: Role) -> Vec<(String, String)> {
    ui.groups
        .iter()
        .filter(|g| ui.can(g.id, role) && ui.shows(g.id))
        .map(|g| (g.id.to_string(), g.name.clone()))
        .collect()
}

/// `(id, name)` of the teams the user sees (in the chosen group) with at least `role`.
pub async fn team_options(ui: &Ui, role: Role) -> UiResult<Vec<(String, String)>> {
    let teams = api::teams::list(ui.st.clone(), ui.caller.clone(), Query(Default::default())).await?.0;
    Ok(teams
        .into_iter()
        .filter(|t| ui.shows(t.group_id) && ui.can(t.group_id, role))
        .map(|t| (t.id.to_string(), t.name))
        .collect())
}

fn fields(v: &Values, e: &Errors, groups: &[(String, String)], new: bool) -> Markup {
    html! {
        @if new { (select("Group", "group_id", groups, v, e, None, "Who may see and manage the team.")) }
        (required("Name", "name", v, e, ""))
        (input("Slug", "slug", "text", v, e, "Short identifier (a–z, 0–9, dashes) used in URLs and the API; derived from the name when empty."))
        (textarea("Description", "description", v.get("description"), 2, e, ""))
        (checkbox("Escalate unacknowledged alerts to the next rotation member", "escalation_enabled", v.checked("escalation_enabled"), "Simple mode (routes without an escalation policy)."))
        (input("…after this many reminders", "escalation_after_reminders", "number", v, e, ""))
        @if !new { (checkbox("Active", "active", v.checked("active"), "")) }
        (form_errors(e, &["group_id", "name", "slug", "description", "escalation_after_reminders"]))
    }
}

async fn list_page(ui: &Ui, v: Values, e: Errors) -> UiResult {
    let teams: Vec<Team> = api::teams::list(ui.st.clone(), ui.caller.clone(), Query(Default::default()))
        .await?
        .0
        .into_iter()
        .filter(|t| ui.shows(t.group_id))
        .collect();
    let groups = group_options(ui, Role::Editor);
    ui.form_page(
        &e,
        "Teams",
        html! {
            h1 { "Teams" }
            @if teams.is_empty() { (empty_list("teams", if groups.is_empty() { First::Group { admin: ui.is_admin() } } else { First::Here })) }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Team" } th { "Slug" } th { "Escalation" } th { "Active" } } }
                    tbody { @for t in &teams { tr {
                        td { a href={"/teams/" (t.id)} { (t.name) } }
                        td { code { (t.slug) } }
                        td { @if t.escalation_enabled { "after " (crate::domain::count(t.escalation_after_reminders, "reminder")) } @else { span.muted { "off" } } }
                        td { @if t.active { "yes" } @else { "no" } }
                    } } }
                } }
            }
            @if !groups.is_empty() {
                details.create open[teams.is_empty() || !e.is_empty()] {
                    summary { "New team" }
                    form method="post" action="/teams" { (csrf(&ui.csrf)) (fields(&v, &e, &groups, true)) button.primary type="submit" { "Create team" } }
                }
            }
        },
    )
}

async fn list(ui: Ui) -> UiResult {
    list_page(&ui, Values::default().set("escalation_after_reminders", "2"), Errors::new()).await
}

async fn create(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let form = form.with_slug();
    match ui.save(&form, SPEC, api::teams::create).await? {
        Ok(t) => Ok(redirect(&format!("/teams/{}", t["id"]), "ok", "Team created. Add its members next.")),
        Err(e) => list_page(&ui, form.values(), e).await,
    }
}

async fn detail_page(ui: &Ui, id: i64, edit: Option<(Values, Errors)>) -> UiResult {
    let t = api::teams::get(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    let members = api::teams::members(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    let group_members = api::groups::members(ui.st.clone(), ui.caller.clone(), web::Path::from(t.group_id)).await?.0;
    let editor = ui.can(t.group_id, Role::Editor);
    // Who can be added: the group's people not in the team yet, then the people of the editor's
    // other groups (everyone, for an administrator), who join the group in the same step.
    let in_team = |user: i64| members.iter().any(|x| x.user_id == user);
    let in_group = |user: i64| group_members.iter().any(|m| m.user_id == user);
    let mut candidates: Vec<(String, String)> = group_members
        .iter()
        .filter(|m| !in_team(m.user_id))
        .map(|m| (m.user_id.to_string(), m.username.clone()))
        .collect();
    let rotations: Vec<(String, String)>;
    if editor {
        let people = api::users::list(ui.st.clone(), ui.caller.clone()).await?.0;
        candidates.extend(
            people
                .iter()
                .filter(|u| !in_team(u.id) && !in_group(u.id))
                .map(|u| (u.id.to_string(), format!("{} (joins the group)", u.username))),
        );
        let filter = Query(api::TeamFilter { team_id: Some(id) });
        rotations = api::rotations::list(ui.st.clone(), ui.caller.clone(), filter)
            .await?
            .0
            .into_iter()
            .map(|r| (r.id.to_string(), r.name))
            .collect();
    } else {
        rotations = Vec::new();
    }
    let adding = Values::default().set("group_role", "responder");
    let (v, e) = edit.unwrap_or_else(|| (Values::of(&serde_json::to_value(&t).unwrap_or_default()), Errors::new()));
    let no_errors = Errors::new();
    ui.form_page(
        &e,
        &t.name,
        html! {
            p.crumbs { a href="/teams" { "Teams" } " / " (t.name) }
            h1 { (t.name) }
            p { a href={"/rotations?team_id=" (t.id)} { "Rotations" } " · " a href={"/routes?team_id=" (t.id)} { "Routes" } " · " a href={"/channels?team_id=" (t.id)} { "Channels" } " · " a href={"/calendar?team_id=" (t.id)} { "Calendar" } " · " a href={"/alerts?team_id=" (t.id)} { "Alerts" } }
            section {
                h2 { "Members" }
                @if members.is_empty() { p.muted { "No members yet." } }
                ul.members { @for m in &members { li {
                    (m.username) @if !m.display_name.is_empty() && m.display_name != m.username { " " span.muted { "(" (m.display_name) ")" } }
                    @if editor { " " (button(&format!("/teams/members/{}/delete", m.id), &ui.csrf, "Remove", "small link", Some("Remove this member from the team?"))) }
                } } }
                @if editor {
                    details.create open[members.is_empty()] {
                        summary { "Add people" }
                        form method="post" action={"/teams/" (id) "/members"} {
                            (csrf(&ui.csrf))
                            (checkboxes("People", "user_ids", &candidates, &adding, &no_errors, "Choose several at once."))
                            (select("Role in the group, for those who join it", "group_role", &super::admin::roles(), &adding, &no_errors, None, ""))
                            (select("Also add them to the rotation", "rotation_id", &rotations, &adding, &no_errors, Some("— no rotation —"), "Appended in the order chosen; those already in it stay where they are."))
                            button.primary type="submit" { "Add to the team" }
                        }
                    }
                }
            }
            @if editor {
                (settings(&ui.csrf, &format!("/teams/{id}"), fields(&v, &e, &[], false), "Delete team", "Delete this team with its rotations, routes and channels?"))
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
    let r = ui.save(&form, SPEC, |st, who, b| api::teams::update(st, who, web::Path::from(id), b)).await?;
    match r {
        Ok(_) => Ok(redirect(&format!("/teams/{id}"), "ok", "Team saved.")),
        Err(e) => detail_page(&ui, id, Some((form.values(), e))).await,
    }
}

async fn delete(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let r = api::teams::delete(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await;
    deleted(r, "/teams", "Team deleted.", &format!("/teams/{id}"))
}

async fn add_member(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    if form.all("user_ids").is_empty() {
        return Ok(redirect(&format!("/teams/{id}"), "error", "Choose at least one person to add."));
    }
    const ADD: &[(&str, Kind)] = &[("user_ids", Kind::IntList), ("group_role", Kind::Text), ("rotation_id", Kind::Int)];
    let r = ui.save(&form, ADD, |st, who, b| api::teams::add_member(st, who, web::Path::from(id), b)).await?;
    Ok(match r {
        Ok(added) => {
            let names: Vec<&str> =
                added.as_array().into_iter().flatten().filter_map(|m| m["username"].as_str()).collect();
            redirect(&format!("/teams/{id}"), "ok", &format!("Added {}.", names.join(", ")))
        }
        Err(e) => redirect(&format!("/teams/{id}"), "error", &first_error(&e)),
    })
}

async fn remove_member(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let m = api::teams::get_member(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    let r = api::teams::remove_member(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await;
    let team = format!("/teams/{}", m.team_id);
    deleted(r, &team, &format!("{} removed from the team.", m.username), &team)
}

/// One line for a flash message from field errors.
pub fn first_error(e: &Errors) -> String {
    let mut all: Vec<String> = e.iter().map(|(k, m)| format!("{k}: {m}")).collect();
    all.sort();
    all.join("; ")
}
