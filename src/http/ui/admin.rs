//! Administration: groups and their members with roles, users, the audit log.

use actix_web::web;
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{
    Errors, Form, Kind, Values, button, checkbox, csrf, form_errors, input, required, select, settings, textarea,
};
use super::teams::first_error;
use super::{Ui, UiResult, deleted, redirect};
use crate::http::api::{self, users::AuditQuery};
use crate::http::error::ApiError;
use crate::http::json::Query;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/groups", web::get().to(groups));
    cfg.route("/admin/groups", web::post().to(create_group));
    cfg.route("/admin/groups/{id}", web::get().to(group));
    cfg.route("/admin/groups/{id}", web::post().to(update_group));
    cfg.route("/admin/groups/{id}/delete", web::post().to(delete_group));
    cfg.route("/admin/groups/{id}/members", web::post().to(add_member));
    cfg.route("/admin/groups/{id}/members/{m}", web::post().to(update_member));
    cfg.route("/admin/groups/{id}/members/{m}/delete", web::post().to(remove_member));
    cfg.route("/admin/users", web::get().to(users));
    cfg.route("/admin/users", web::post().to(create_user));
    cfg.route("/admin/users/{id}", web::get().to(user));
    cfg.route("/admin/users/{id}", web::post().to(update_user));
    cfg.route("/admin/audit", web::get().to(audit));
}

const ROLES: &[(&str, &str)] = &[
    ("viewer", "viewer — reads"),
    ("responder", "responder — acknowledges, resolves, silences"),
    ("editor", "editor — manages everything in the group"),
];

pub fn roles() -> Vec<(String, String)> {
    ROLES.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn admin_only(ui: &Ui) -> UiResult<()> {
    if ui.is_admin() { Ok(()) } else { Err(ApiError::Forbidden("administrators only".into()).into()) }
}

// --- groups ------------------------------------------------------------------------------------

const GROUP_SPEC: &[(&str, Kind)] =
    &[("slug", Kind::Text), ("name", Kind::Text), ("description", Kind::Text), ("active", Kind::Check)];

fn group_fields(v: &Values, e: &Errors, new: bool) -> Markup {
    html! {
        (required("Name", "name", v, e, ""))
        (input("Slug", "slug", "text", v, e, "Short identifier; derived from the name when empty."))
        (textarea("Description", "description", v.get("description"), 2, e, ""))
        @if !new { (checkbox("Active", "active", v.checked("active"), "")) }
        (form_errors(e, &["name", "slug", "description"]))
    }
}

async fn groups_page(ui: &Ui, v: Values, e: Errors) -> UiResult {
    admin_only(ui)?;
    let list = api::groups::list(ui.st.clone(), ui.caller.clone()).await?.0;
    ui.form_page(
        &e,
        "Groups",
        html! {
            h1 { "Groups" }
            p.muted { "Groups are the access boundary: users get a role per group; teams, rotations, routes and channels belong to one group." }
            @if list.is_empty() { p.empty { "No groups yet: create the first one." } }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Group" } th { "Slug" } th { "Active" } } }
                    tbody { @for g in &list { tr {
                        td { a href={"/admin/groups/" (g.id)} { (g.name) } }
                        td { code { (g.slug) } }
                        td { @if g.active { "yes" } @else { "no" } }
                    } } }
                } }
            }
            details.create open[list.is_empty() || !e.is_empty()] {
                summary { "New group" }
                form method="post" action="/admin/groups" { (csrf(&ui.csrf)) (group_fields(&v, &e, true)) button.primary type="submit" { "Create group" } }
            }
        },
    )
}

async fn groups(ui: Ui) -> UiResult {
    groups_page(&ui, Values::default(), Errors::new()).await
}

async fn create_group(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let form = form.with_slug();
    let r = ui.save(&form, GROUP_SPEC, api::groups::create).await?;
    match r {
        Ok(g) => Ok(redirect(&format!("/admin/groups/{}", g["id"]), "ok", "Group created. Add its members next.")),
        Err(e) => groups_page(&ui, form.values(), e).await,
    }
}

async fn group_page(ui: &Ui, id: i64, edit: Option<(Values, Errors)>) -> UiResult {
    admin_only(ui)?;
    let g = api::groups::get(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    let members = api::groups::members(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    let all = api::users::admin_list(ui.st.clone(), ui.caller.clone()).await?.0;
    let candidates: Vec<(String, String)> = all
        .iter()
        .filter(|u| !members.iter().any(|m| m.user_id == u.id))
        .map(|u| (u.id.to_string(), u.username.clone()))
        .collect();
    let (v, e) = edit.unwrap_or_else(|| (Values::of(&serde_json::to_value(&g).unwrap_or_default()), Errors::new()));
    let none = Errors::new();
    ui.form_page(
        &e,
        &g.name,
        html! {
            p.crumbs { a href="/admin/groups" { "Groups" } " / " (g.name) }
            h1 { (g.name) }
            section {
                h2 { "Members" }
                @if members.is_empty() { p.muted { "No members yet." } }
                @else {
                    div.table-wrap { table {
                        thead { tr { th { "User" } th { "Role" } th {} } }
                        tbody { @for m in &members { tr {
                            td { (m.username) }
                            td {
                                form.row method="post" action={"/admin/groups/" (id) "/members/" (m.id)} {
                                    (csrf(&ui.csrf))
                                    (select("Role", "role", &roles(), &Values::default().set("role", m.role.as_str()), &none, None, ""))
                                    button.small type="submit" { "Change" }
                                }
                            }
                            td.actions { (button(&format!("/admin/groups/{id}/members/{}/delete", m.id), &ui.csrf, "Remove", "small", Some("Remove this user from the group (and its teams)?"))) }
                        } } }
                    } }
                }
                form.row method="post" action={"/admin/groups/" (id) "/members"} {
                    (csrf(&ui.csrf))
                    (select("Add user", "user_id", &candidates, &Values::default(), &none, Some("— choose —"), ""))
                    (select("as", "role", &roles(), &Values::default().set("role", "responder"), &none, None, ""))
                    button type="submit" { "Add" }
                }
            }
            (settings(&ui.csrf, &format!("/admin/groups/{id}"), group_fields(&v, &e, false), "Delete group", "Delete this group?"))
        },
    )
}

async fn group(ui: Ui, id: web::Path<i64>) -> UiResult {
    group_page(&ui, id.into_inner(), None).await
}

async fn update_group(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let r = ui.save(&form, GROUP_SPEC, |st, who, b| api::groups::update(st, who, web::Path::from(id), b)).await?;
    match r {
        Ok(_) => Ok(redirect(&format!("/admin/groups/{id}"), "ok", "Group saved.")),
        Err(e) => group_page(&ui, id, Some((form.values(), e))).await,
    }
}

async fn delete_group(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let r = api::groups::delete(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await;
    deleted(r, "/admin/groups", "Group deleted.", &format!("/admin/groups/{id}"))
}

const MEMBER_SPEC: &[(&str, Kind)] = &[("user_id", Kind::Int), ("role", Kind::Text)];

async fn add_member(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let r = ui.save(&form, MEMBER_SPEC, |st, who, b| api::groups::add_member(st, who, web::Path::from(id), b)).await?;
    Ok(match r {
        Ok(_) => redirect(&format!("/admin/groups/{id}"), "ok", "Member added."),
        Err(e) => redirect(&format!("/admin/groups/{id}"), "error", &first_error(&e)),
    })
}

async fn update_member(ui: Ui, path: web::Path<(i64, i64)>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let (id, m) = path.into_inner();
    let r = ui
        .save(&form, &[("role", Kind::Text)], |st, who, b| api::groups::update_member(st, who, web::Path::from(m), b))
        .await?;
    Ok(match r {
        Ok(_) => redirect(&format!("/admin/groups/{id}"), "ok", "Role changed."),
        Err(e) => redirect(&format!("/admin/groups/{id}"), "error", &first_error(&e)),
    })
}

async fn remove_member(ui: Ui, path: web::Path<(i64, i64)>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let (id, m) = path.into_inner();
    let r = api::groups::remove_member(ui.st.clone(), ui.caller.clone(), web::Path::from(m)).await;
    let group = format!("/admin/groups/{id}");
    deleted(r, &group, "Member removed.", &group)
}

// --- users -------------------------------------------------------------------------------------

const USER_SPEC: &[(&str, Kind)] = &[
    ("username", Kind::Text),
    ("display_name", Kind::Text),
    ("email", Kind::TextOrNull),
    ("phone", Kind::TextOrNull),
    ("password", Kind::Text),
    ("is_admin", Kind::Check),
    ("active", Kind::Check),
    ("telegram_user_id", Kind::TextOrNull),
    ("slack_user_id", Kind::TextOrNull),
    ("mattermost_user_id", Kind::TextOrNull),
];

fn user_fields(v: &Values, e: &Errors, new: bool) -> Markup {
    html! {
        @if new { (required("Username", "username", v, e, "")) }
        (input("Display name", "display_name", "text", v, e, ""))
        (input("E-mail", "email", "email", v, e, "For e-mail channels with include_assignee."))
        (input("Phone", "phone", "tel", v, e, "E.164, e.g. +49301234567 — for voice calls."))
        (input(if new { "Password" } else { "New password" }, "password", "password", &Values::default(), e, if new { "At least 10 characters. Share it safely; they can change it in their profile." } else { "Leave empty to keep the current one." }))
        (input("Telegram user id", "telegram_user_id", "text", v, e, "Links Telegram button presses to this user."))
        (input("Slack user id", "slack_user_id", "text", v, e, ""))
        (input("Mattermost user id", "mattermost_user_id", "text", v, e, ""))
        (checkbox("Administrator", "is_admin", v.checked("is_admin"), "Administrators can do everything."))
        @if !new { (checkbox("Active", "active", v.checked("active"), "Inactive users cannot log in.")) }
        (form_errors(e, &["username", "display_name", "email", "phone", "password", "telegram_user_id", "slack_user_id", "mattermost_user_id"]))
    }
}

async fn users_page(ui: &Ui, v: Values, e: Errors) -> UiResult {
    admin_only(ui)?;
    let list = api::users::admin_list(ui.st.clone(), ui.caller.clone()).await?.0;
    ui.form_page(
        &e,
        "Users",
        html! {
            h1 { "Users" }
            div.table-wrap { table {
                thead { tr { th { "User" } th { "E-mail" } th.hide-s { "Phone" } th { "Admin" } th { "Active" } } }
                tbody { @for u in &list { tr {
                    td { a href={"/admin/users/" (u.id)} { (u.username) } @if !u.display_name.is_empty() { " " span.muted { (u.display_name) } } }
                    td { (u.email.as_deref().unwrap_or("—")) }
                    td.hide-s { (u.phone.as_deref().unwrap_or("—")) }
                    td { @if u.is_admin { "yes" } }
                    td { @if u.active { "yes" } @else { "no" } }
                } } }
            } }
            details.create open[!e.is_empty()] {
                summary { "New user" }
                form method="post" action="/admin/users" { (csrf(&ui.csrf)) (user_fields(&v, &e, true)) button.primary type="submit" { "Create user" } }
            }
        },
    )
}

async fn users(ui: Ui) -> UiResult {
    users_page(&ui, Values::default(), Errors::new()).await
}

async fn create_user(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let spec: Vec<(&str, Kind)> = USER_SPEC.iter().copied().filter(|(n, _)| *n != "active").collect();
    let r = ui.save(&form, &spec, api::users::create).await?;
    match r {
        Ok(u) => Ok(redirect(
            "/admin/users",
            "ok",
            &format!("User {} created. Add them to a group.", u["username"].as_str().unwrap_or("")),
        )),
        Err(e) => users_page(&ui, form.values(), e).await,
    }
}

async fn user_page(ui: &Ui, id: i64, edit: Option<(Values, Errors)>) -> UiResult {
    admin_only(ui)?;
    let u = api::users::get(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    let (v, e) = edit.unwrap_or_else(|| (Values::of(&serde_json::to_value(&u).unwrap_or_default()), Errors::new()));
    ui.form_page(
        &e,
        &u.username,
        html! {
            p.crumbs { a href="/admin/users" { "Users" } " / " (u.username) }
            h1 { (u.username) }
            form method="post" action={"/admin/users/" (id)} { (csrf(&ui.csrf)) (user_fields(&v, &e, false)) button.primary type="submit" { "Save" } }
        },
    )
}

async fn user(ui: Ui, id: web::Path<i64>) -> UiResult {
    user_page(&ui, id.into_inner(), None).await
}

async fn update_user(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let spec: Vec<(&str, Kind)> = USER_SPEC.iter().copied().filter(|(n, _)| *n != "username").collect();
    let r = ui.save(&form, &spec, |st, who, b| api::users::update(st, who, web::Path::from(id), b)).await?;
    match r {
        Ok(_) => Ok(redirect(&format!("/admin/users/{id}"), "ok", "User saved.")),
        Err(e) => user_page(&ui, id, Some((form.values(), e))).await,
    }
}

// --- audit -------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct AuditParams {
    object_type: Option<String>,
    actor: Option<String>,
    before_id: Option<i64>,
}

async fn audit(ui: Ui, q: web::Query<AuditParams>) -> UiResult {
    admin_only(&ui)?;
    let q = q.into_inner();
    let query = AuditQuery {
        object_type: q.object_type.clone().filter(|s| !s.is_empty()),
        object_id: None,
        actor: q.actor.clone().filter(|s| !s.is_empty()),
        before_id: q.before_id,
        limit: Some(100),
    };
    let rows = api::users::audit_logs(ui.st.clone(), ui.caller.clone(), Query(query)).await?.0;
    let older = rows.last().map(|r| r.id);
    let none = Errors::new();
    let v = Values::default()
        .set("object_type", q.object_type.as_deref().unwrap_or(""))
        .set("actor", q.actor.as_deref().unwrap_or(""));
    ui.page(
        "Audit log",
        html! {
            h1 { "Audit log" }
            form.filters method="get" action="/admin/audit" {
                (input("Object type", "object_type", "text", &v, &none, ""))
                (input("Actor", "actor", "text", &v, &none, ""))
                button type="submit" { "Filter" }
            }
            div.table-wrap { table {
                thead { tr { th { "When" } th { "Who" } th { "Action" } th { "Object" } th.hide-s { "Details" } } }
                tbody { @for r in &rows { tr {
                    td { (ui.time(r.created_at)) }
                    td { (r.actor) }
                    td { code { (r.action) } }
                    td { (r.object_type) @if let Some(id) = r.object_id { " #" (id) } }
                    td.hide-s { small { code { (r.details.to_string()) } } }
                } } }
            } }
            @if rows.len() == 100 && let Some(id) = older {
                p { a href={"/admin/audit?before_id=" (id) "&object_type=" (v.get("object_type")) "&actor=" (v.get("actor"))} { "Older →" } }
            }
        },
    )
}
