//! Rotations: settings, members in order, overrides, and the coming shifts.

use actix_web::web;
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{
    Errors, Form, Kind, Values, button, checkbox, checkboxes, csrf, form_errors, input, required, select, settings,
    textarea, time_zones,
};
use super::layout::{First, empty_list};
use super::teams::{first_error, team_options};
use super::{Ui, UiResult, deleted, redirect};
use crate::domain::access::Role;
use crate::domain::rotation::Restriction;
use crate::domain::time::Ts;
use crate::http::api::{self, TeamFilter};
use crate::http::json::{Body, Query};
use crate::store::rotations::{LayerInput, MemberInput};

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `Mon–Fri 09:00–18:00`, `Sat, Sun 00:00–00:00`: what a restriction covers, in words, each
/// part kept on one line.
fn covers(r: &Restriction) -> Markup {
    let text = covers_text(r);
    let (days, hours) = text.rsplit_once(' ').unwrap_or((&text, ""));
    html! { span.nowrap { (days) } " " span.nowrap { (hours) } }
}

fn covers_text(r: &Restriction) -> String {
    let mut days: Vec<u8> = r.days.clone();
    days.sort_unstable();
    days.dedup();
    let contiguous = days.windows(2).all(|w| w[1] == w[0] + 1);
    let name = |d: u8| DAYS.get(d as usize).copied().unwrap_or("?");
    let which = match (days.first(), days.last()) {
        (Some(a), Some(b)) if contiguous && days.len() > 2 => format!("{}–{}", name(*a), name(*b)),
        _ => days.iter().map(|d| name(*d)).collect::<Vec<_>>().join(", "),
    };
    format!("{which} {}–{}", r.start, r.end)
}

#[derive(Deserialize)]
struct DetailQuery {
    /// The timeline's length: 1, 2 or 4 weeks.
    weeks: Option<i64>,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/rotations", web::get().to(list));
    cfg.route("/rotations", web::post().to(create));
    cfg.route("/rotations/{id}", web::get().to(detail));
    cfg.route("/rotations/{id}", web::post().to(update));
    cfg.route("/rotations/{id}/delete", web::post().to(delete));
    cfg.route("/rotations/{id}/members", web::post().to(add_member));
    cfg.route("/rotations/{id}/members/{member}/{op}", web::post().to(member_op));
    cfg.route("/rotations/{id}/overrides", web::post().to(add_override));
    cfg.route("/rotations/{id}/layers", web::post().to(add_layer));
    cfg.route("/rotations/{id}/swaps", web::post().to(add_swap));
    cfg.route("/rotations/{id}/swaps/{request}/{op}", web::post().to(swap_op));
    cfg.route("/rotations/{id}/layers/{layer}/delete", web::post().to(delete_layer));
    cfg.route("/rotations/{id}/overrides/{override}/delete", web::post().to(delete_override));
}

const SPEC: &[(&str, Kind)] = &[
    ("team_id", Kind::Int),
    ("name", Kind::Text),
    ("description", Kind::Text),
    ("start_at", Kind::Text),
    ("rotation_type", Kind::Text),
    ("interval_value", Kind::Int),
    ("interval_unit", Kind::Text),
    ("handoff_time", Kind::Text),
    ("handoff_weekday", Kind::Int),
    ("timezone", Kind::Text),
    ("reminder_interval_seconds", Kind::Int),
    ("enabled", Kind::Check),
];

fn opts(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn fields(v: &Values, e: &Errors, teams: &[(String, String)], new: bool) -> Markup {
    let types = opts(&[("daily", "Daily"), ("weekly", "Weekly"), ("custom", "Custom interval")]);
    let units = opts(&[("minutes", "minutes"), ("hours", "hours"), ("days", "days"), ("weeks", "weeks")]);
    let days = opts(&[
        ("0", "Monday"),
        ("1", "Tuesday"),
        ("2", "Wednesday"),
        ("3", "Thursday"),
        ("4", "Friday"),
        ("5", "Saturday"),
        ("6", "Sunday"),
    ]);
    html! {
        @if new { (select("Team", "team_id", teams, v, e, None, "")) }
        (required("Name", "name", v, e, ""))
        (textarea("Description", "description", v.get("description"), 2, e, ""))
        (select("Rotation type", "rotation_type", &types, v, e, None, "Daily and weekly rotations hand off at the handoff time; custom ones every interval."))
        (input("Interval", "interval_value", "number", v, e, "Custom rotations: hand off every N units."))
        (select("Interval unit", "interval_unit", &units, v, e, None, ""))
        (input("Handoff time", "handoff_time", "time", v, e, "Local time in the rotation's time zone (HH:MM)."))
        (select("Handoff weekday", "handoff_weekday", &days, v, e, None, "Weekly rotations."))
        (select("Time zone", "timezone", time_zones(), v, e, None, "Handoffs happen at the handoff time in this zone, across daylight saving changes."))
        (input("Starts", "start_at", "datetime-local", v, e, "When the first shift begins, in the rotation's time zone. Default: now."))
        (input("Reminder interval (seconds)", "reminder_interval_seconds", "number", v, e, "Re-notify unacknowledged alerts this often; 0 = off, else at least 60."))
        @if !new { (checkbox("Enabled", "enabled", v.checked("enabled"), "")) }
        (form_errors(e, &["team_id", "name", "description", "rotation_type", "interval_value", "interval_unit", "handoff_time", "handoff_weekday", "timezone", "start_at", "reminder_interval_seconds"]))
    }
}

#[derive(Deserialize)]
struct ListQuery {
    team_id: Option<i64>,
}

async fn list_page(ui: &Ui, team_id: Option<i64>, v: Values, e: Errors) -> UiResult {
    let rotations: Vec<_> = api::rotations::list(ui.st.clone(), ui.caller.clone(), Query(TeamFilter { team_id }))
        .await?
        .0
        .into_iter()
        .filter(|r| ui.shows(r.group_id))
        .collect();
    let teams = team_options(ui, Role::Editor).await?;
    ui.form_page(
        &e,
        "Rotations",
        html! {
            h1 { "Rotations" }
            @if rotations.is_empty() { (empty_list("rotations", if teams.is_empty() { First::Team } else { First::Here })) }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Rotation" } th { "Type" } th { "On call now" } th.hide-s { "Reminders" } } }
                    tbody { @for r in &rotations { tr {
                        td { a href={"/rotations/" (r.id)} { (r.name) } @if !r.enabled { " " span.muted { "(disabled)" } } }
                        td { (r.rotation_type.as_str()) @if r.rotation_type.as_str() == "custom" { " every " (r.interval_value) " " (r.interval_unit.as_str()) } " · " (r.handoff_time) " " (r.timezone) }
                        td { @if let Some(u) = &r.current_oncall { strong { (u.username) } } @else { span.muted { "nobody" } } }
                        td.hide-s { @if r.reminder_interval_seconds > 0 { "every " (r.reminder_interval_seconds / 60) " min" } @else { span.muted { "off" } } }
                    } } }
                } }
            }
            @if !teams.is_empty() {
                details.create open[rotations.is_empty() || !e.is_empty()] {
                    summary { "New rotation" }
                    form method="post" action="/rotations" { (csrf(&ui.csrf)) (fields(&v, &e, &teams, true)) button.primary type="submit" { "Create rotation" } }
                }
            }
        },
    )
}

async fn list(ui: Ui, q: web::Query<ListQuery>) -> UiResult {
    let v = Values::default()
        .set("rotation_type", "weekly")
        .set("interval_value", "1")
        .set("interval_unit", "days")
        .set("handoff_time", "09:00")
        .set("handoff_weekday", "0")
        .set("timezone", "UTC")
        .set("reminder_interval_seconds", "300")
        .set("team_id", &q.team_id.map(|t| t.to_string()).unwrap_or_default());
    list_page(&ui, q.team_id, v, Errors::new()).await
}

async fn create(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let r = ui.save(&form, SPEC, api::rotations::create).await?;
    match r {
        Ok(r) => Ok(redirect(&format!("/rotations/{}", r["id"]), "ok", "Rotation created. Add its members in order.")),
        Err(e) => list_page(&ui, None, form.values(), e).await,
    }
}

async fn detail_page(ui: &Ui, id: i64, weeks: i64, edit: Option<(Values, Errors)>) -> UiResult {
    let (st, caller) = (ui.st.clone(), ui.caller.clone());
    let r = api::rotations::get(st.clone(), caller.clone(), web::Path::from(id)).await?.0;
    let layers = api::rotations::layers(st.clone(), caller.clone(), web::Path::from(id)).await?.0;
    let swaps = api::rotations::swap_requests(st.clone(), caller.clone(), web::Path::from(id)).await?.0;
    let weeks = if [1, 2, 4].contains(&weeks) { weeks } else { 1 };
    // The timeline starts at the beginning of the viewer's day.
    let day = ui.now.timestamp().to_zoned(ui.tz.clone()).date();
    let from = day.to_zoned(ui.tz.clone()).map(|z| Ts::from_timestamp(z.timestamp())).unwrap_or(ui.now);
    let to = from.plus_secs(weeks * 7 * 86_400);
    let now = ui.now;
    let plain = r.clone();
    let (rot, gaps) = ui
        .st
        .db
        .read(move |c| {
            let rot = crate::store::rotations::domain(c, &plain)?;
            let gaps = rot.gaps(now, now.plus_secs(14 * 86_400));
            Ok((rot, gaps))
        })
        .await
        .map_err(crate::http::error::ApiError::from)?;
    let members = api::rotations::members(st.clone(), caller.clone(), web::Path::from(id)).await?.0;
    let overrides = api::rotations::overrides(st.clone(), caller.clone(), web::Path::from(id)).await?.0;
    let shifts = api::rotations::oncall(
        st.clone(),
        caller.clone(),
        web::Path::from(id),
        Query(api::rotations::OncallQuery { at: None, count: Some(6) }),
    )
    .await?
    .0;
    let group_members = api::groups::members(st, caller, web::Path::from(r.group_id)).await?.0;
    let users: Vec<(String, String)> =
        group_members.iter().map(|m| (m.user_id.to_string(), m.username.clone())).collect();
    let editor = ui.can(r.group_id, Role::Editor);
    let responder = ui.can(r.group_id, Role::Responder);
    let username = |uid: i64| {
        group_members.iter().find(|m| m.user_id == uid).map(|m| m.username.clone()).unwrap_or_else(|| format!("#{uid}"))
    };
    let timeline = super::schedule::timeline(ui, &rot, &layers, &username, from, to);
    // The stored layers as preview bodies: the form's live preview proposes them plus the new one.
    let existing = serde_json::to_string(
        &layers
            .iter()
            .map(|l| {
                serde_json::json!({"name": l.name, "position": l.position, "start_at": l.spec.start_at.rfc3339(),
                    "rotation_type": l.spec.rotation_type, "interval_value": l.spec.interval_value,
                    "interval_unit": l.spec.interval_unit, "handoff_time": l.spec.handoff_time,
                    "handoff_weekday": l.spec.handoff_weekday, "members": l.members, "restrictions": l.restrictions})
            })
            .collect::<Vec<_>>(),
    )
    .unwrap_or_else(|_| "[]".into());
    let weekdays: Vec<(String, String)> =
        DAYS.iter().enumerate().map(|(i, d)| (i.to_string(), d.to_string())).collect();
    let (v, e) = edit.unwrap_or_else(|| {
        let mut v = Values::of(&serde_json::to_value(&r).unwrap_or_default());
        // The picker shows the start in the rotation's own zone.
        let local = jiff::tz::TimeZone::get(&r.timezone)
            .map(|tz| r.start_at.timestamp().to_zoned(tz).strftime("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_else(|_| r.start_at.rfc3339());
        v = v.set("start_at", &local);
        (v, Errors::new())
    });
    let none = Errors::new();
    let n = members.len();
    ui.form_page(
        &e,
        &r.name,
        html! {
            p.crumbs { a href="/rotations" { "Rotations" } " / " (r.name) }
            h1 { (r.name) }
            p { "On call now: " @if let Some(u) = &r.current_oncall {
                    strong { (u.username) }
                    @if let (Some(since), Some(until)) = (u.since, u.until) { " " span.muted { "since " (ui.time(since)) ", until " (ui.time(until)) } }
                } @else { span.muted { "nobody" } }
                " · " a href={"/calendar?team_id=" (r.team_id)} { "Calendar" } }
            @if let Some((start, end)) = gaps.first() {
                p.flash.warning role="status" {
                    "Nobody is on call " (ui.time(*start)) " → " (ui.time(*end))
                    @if gaps.len() > 1 { " and " (crate::domain::count(gaps.len() as i64 - 1, "more time")) " in the next 14 days" }
                    ". Alerts then go to the team's channels and to the escalation policy's next step."
                }
            }
            section id="schedule" {
                h2 { "Schedule" }
                p.calnav { @for w in [1, 2, 4] {
                    @if w == weeks { strong { (crate::domain::count(w, "week")) } }
                    @else { a href={"/rotations/" (id) "?weeks=" (w) "#schedule"} { (crate::domain::count(w, "week")) } }
                } }
                (timeline)
            }
            section {
                h2 { "Coming shifts" }
                @if shifts.is_empty() { p.muted { "Nobody is scheduled: add members." } }
                ul { @for s in &shifts { li {
                    strong { (s.username) } " " (ui.time(s.start)) " → " (ui.time(s.end))
                    @if s.kind == crate::domain::rotation::ShiftKind::Override { " " span.badge { "override" } }
                } } }
            }
            section id="layers" {
                h2 { "Layers" }
                p.muted { "Where layers overlap, the highest one whose hours cover the time decides; overrides beat every layer. Layer 1 is the rotation's own settings and the members below." }
                div.table-wrap { table.layers {
                    thead { tr { th { "Layer" } th.hide-s { "Hands over" } th { "Members" } th { "Covers" } @if editor { th {} } } }
                    tbody { @for (i, l) in layers.iter().enumerate().rev() { tr {
                        td { (if l.name.is_empty() { format!("Layer {}", i + 1) } else { l.name.clone() }) }
                        td.hide-s { (l.spec.rotation_type.as_str()) " " (l.spec.handoff_time) }
                        td { @for (j, m) in l.members.iter().enumerate() { @if j > 0 { ", " } (username(*m)) } }
                        td { @if l.restrictions.is_empty() { span.muted { "always" } } @else { @for (j, x) in l.restrictions.iter().enumerate() { @if j > 0 { "; " } (covers(x)) } } }
                        @if editor { td { @if layers.len() > 1 { (button(&format!("/rotations/{id}/layers/{}/delete", l.id), &ui.csrf, "Delete", "small link", Some("Delete this layer?"))) } } }
                    } } }
                } }
                @if editor {
                    details.create {
                        summary { "Add a layer" }
                        form method="post" action={"/rotations/" (id) "/layers"} data-preview={"/api/rotations/" (id) "/preview"} data-layers=(existing) data-tz=(ui.tz_name) {
                            (csrf(&ui.csrf))
                            (input("Name", "name", "text", &Values::default(), &none, "e.g. Day crew, Weekend"))
                            (select("Hands over", "rotation_type", &opts(&[("daily", "Daily"), ("weekly", "Weekly")]), &Values::default(), &none, None, ""))
                            (input("Handoff time", "handoff_time", "time", &Values::default().set("handoff_time", "09:00"), &none, "In the rotation's time zone."))
                            (input("Starts", "start_at", "datetime-local", &Values::default(), &none, "When its first shift begins, in the rotation's time zone. Default: now."))
                            (checkboxes("Members, in order", "members", &users, &Values::default(), &none, ""))
                            (checkboxes("Only on", "days", &weekdays, &Values::default(), &none, "Leave every day unticked for a layer that always takes calls."))
                            div.row {
                                (input("From", "from", "time", &Values::default().set("from", "09:00"), &none, ""))
                                (input("Until", "until", "time", &Values::default().set("until", "18:00"), &none, "Until at or before From runs over midnight."))
                            }
                            div.layer-preview aria-live="polite" {}
                            button.primary type="submit" { "Add layer" }
                        }
                    }
                }
            }
            section {
                h2 { "Layer 1: members, in order" }
                @if members.is_empty() { p.muted { "No members yet." } }
                ol.members { @for (i, m) in members.iter().enumerate() { li {
                    (m.username)
                    @if editor {
                        " "
                        @if i > 0 { (button(&format!("/rotations/{id}/members/{}/up", m.id), &ui.csrf, "↑", "small", None)) }
                        @if i + 1 < n { (button(&format!("/rotations/{id}/members/{}/down", m.id), &ui.csrf, "↓", "small", None)) }
                        (button(&format!("/rotations/{id}/members/{}/remove", m.id), &ui.csrf, "Remove", "small link", Some("Remove this member from the rotation?")))
                    }
                } } }
                @if editor {
                    form.row method="post" action={"/rotations/" (id) "/members"} {
                        (csrf(&ui.csrf))
                        (select("Add member", "user_id", &users, &Values::default(), &none, Some("— choose —"), ""))
                        button type="submit" { "Add" }
                    }
                }
            }
            section id="swaps" {
                h2 { "Swap requests" }
                @let shown: Vec<_> = swaps.iter().filter(|x| x.status == "open" || x.ends_at > ui.now).collect();
                @if shown.is_empty() { p.muted { "None. Whoever is on call can ask the others to cover part of their shift." } }
                ul.swaps { @for x in &shown { li {
                    strong { (x.requester) } " asks for cover " (ui.time(x.starts_at)) " → " (ui.time(x.ends_at))
                    @if !x.reason.is_empty() { " — " (x.reason) }
                    " " span class={"badge status-" (x.status)} { (x.status) }
                    @if x.status == "open" && responder && x.requester_id != ui.caller.user.id {
                        " " (button(&format!("/rotations/{id}/swaps/{}/accept", x.id), &ui.csrf, "Cover it", "small", None))
                    }
                    @if x.status == "open" && (editor || x.requester_id == ui.caller.user.id) {
                        " " (button(&format!("/rotations/{id}/swaps/{}/cancel", x.id), &ui.csrf, "Withdraw", "small link", Some("Withdraw this request?")))
                    }
                } } }
                @if responder {
                    details.create {
                        summary { "Ask for cover" }
                        form method="post" action={"/rotations/" (id) "/swaps"} {
                            (csrf(&ui.csrf))
                            (input("From", "starts_at", "datetime-local", &Values::default(), &none, "In the rotation's time zone; you must be on call all that time."))
                            (input("Until", "ends_at", "datetime-local", &Values::default(), &none, ""))
                            (input("Reason", "reason", "text", &Values::default(), &none, ""))
                            button type="submit" { "Ask the others" }
                        }
                    }
                }
            }
            section {
                h2 { "Overrides" }
                @if overrides.is_empty() { p.muted { "None." } }
                ul { @for o in &overrides { li {
                    strong { (o.username) } " " (ui.time(o.starts_at)) " → " (ui.time(o.ends_at))
                    @if !o.reason.is_empty() { " — " (o.reason) }
                    @if editor { " " (button(&format!("/rotations/{id}/overrides/{}/delete", o.id), &ui.csrf, "Delete", "small link", Some("Delete this override?"))) }
                } } }
                @if editor {
                    form method="post" action={"/rotations/" (id) "/overrides"} {
                        (csrf(&ui.csrf))
                        (select("Who takes over", "user_id", &users, &Values::default(), &none, None, ""))
                        (input("From", "starts_at", "datetime-local", &Values::default(), &none, "In the rotation's time zone."))
                        (input("Until", "ends_at", "datetime-local", &Values::default(), &none, ""))
                        (input("Reason", "reason", "text", &Values::default(), &none, ""))
                        button type="submit" { "Add override" }
                    }
                }
            }
            @if editor {
                (settings(&ui.csrf, &format!("/rotations/{id}"), fields(&v, &e, &[], false), "Delete rotation", "Delete this rotation?"))
            }
        },
    )
}

async fn detail(ui: Ui, id: web::Path<i64>, q: web::Query<DetailQuery>) -> UiResult {
    detail_page(&ui, id.into_inner(), q.weeks.unwrap_or(1), None).await
}

async fn update(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let r = ui.save(&form, SPEC, |st, who, b| api::rotations::update(st, who, web::Path::from(id), b)).await?;
    match r {
        Ok(_) => Ok(redirect(&format!("/rotations/{id}"), "ok", "Rotation saved.")),
        Err(e) => detail_page(&ui, id, 1, Some((form.values(), e))).await,
    }
}

async fn delete(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let r = api::rotations::delete(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await;
    deleted(r, "/rotations", "Rotation deleted.", &format!("/rotations/{id}"))
}

async fn add_member(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let r = ui
        .save(&form, &[("user_id", Kind::Int)], |st, who, b| {
            api::rotations::add_member(st, who, web::Path::from(id), b)
        })
        .await?;
    Ok(match r {
        Ok(_) => redirect(&format!("/rotations/{id}"), "ok", "Member added."),
        Err(e) => redirect(&format!("/rotations/{id}"), "error", &first_error(&e)),
    })
}

/// Move a member up or down (renumbering everyone), or remove them.
async fn member_op(ui: Ui, path: web::Path<(i64, i64, String)>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let (id, member, op) = path.into_inner();
    let (st, caller) = (ui.st.clone(), ui.caller.clone());
    if op == "remove" {
        api::rotations::remove_member(st, caller, web::Path::from(member)).await?;
        return Ok(redirect(&format!("/rotations/{id}"), "ok", "Member removed."));
    }
    let mut members = api::rotations::members(st.clone(), caller.clone(), web::Path::from(id)).await?.0;
    let Some(i) = members.iter().position(|m| m.id == member) else {
        return Err(crate::http::error::ApiError::not_found("rotation member").into());
    };
    let j = match op.as_str() {
        "up" if i > 0 => i - 1,
        "down" if i + 1 < members.len() => i + 1,
        _ => return Ok(redirect(&format!("/rotations/{id}"), "ok", "Nothing to move.")),
    };
    members.swap(i, j);
    for (pos, m) in members.iter().enumerate() {
        if m.position != pos as i64 {
            let input = MemberInput { user_id: None, position: Some(pos as i64) };
            api::rotations::update_member(st.clone(), caller.clone(), web::Path::from(m.id), Body(input)).await?;
        }
    }
    Ok(redirect(&format!("/rotations/{id}"), "ok", "Order saved."))
}

async fn add_override(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let spec = [("user_id", Kind::Int), ("starts_at", Kind::Text), ("ends_at", Kind::Text), ("reason", Kind::Text)];
    let r = ui.save(&form, &spec, |st, who, b| api::rotations::add_override(st, who, web::Path::from(id), b)).await?;
    Ok(match r {
        Ok(_) => redirect(&format!("/rotations/{id}"), "ok", "Override added."),
        Err(e) => redirect(&format!("/rotations/{id}"), "error", &first_error(&e)),
    })
}

async fn delete_override(ui: Ui, path: web::Path<(i64, i64)>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let (id, o) = path.into_inner();
    let r = api::rotations::delete_override(ui.st.clone(), ui.caller.clone(), web::Path::from(o)).await;
    let rotation = format!("/rotations/{id}");
    deleted(r, &rotation, "Override deleted.", &rotation)
}

/// Adds a layer from the form: its handoffs, members in the order ticked, and (days ticked)
/// one restriction.
async fn add_layer(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let text = |k: &str| form.get(k).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    let days: Vec<u8> = form.all("days").iter().filter_map(|d| d.parse().ok()).collect();
    let restrictions = if days.is_empty() {
        Vec::new()
    } else {
        vec![Restriction { days, start: text("from").unwrap_or_default(), end: text("until").unwrap_or_default() }]
    };
    let input = LayerInput {
        name: text("name"),
        start_at: text("start_at"),
        rotation_type: text("rotation_type").and_then(|t| crate::domain::rotation::RotationType::parse(&t)),
        handoff_time: text("handoff_time"),
        members: Some(form.all("members").iter().filter_map(|m| m.parse().ok()).collect()),
        restrictions: Some(restrictions),
        ..LayerInput::default()
    };
    Ok(match api::rotations::create_layer(ui.st.clone(), ui.caller.clone(), web::Path::from(id), Body(input)).await {
        Ok(_) => redirect(&format!("/rotations/{id}#schedule"), "ok", "Layer added."),
        Err(e) => redirect(&format!("/rotations/{id}#layers"), "error", &e.to_string()),
    })
}

async fn delete_layer(ui: Ui, path: web::Path<(i64, i64)>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let (id, layer) = path.into_inner();
    let r = api::rotations::delete_layer(ui.st.clone(), ui.caller.clone(), web::Path::from(layer)).await;
    let rotation = format!("/rotations/{id}");
    deleted(r, &rotation, "Layer deleted.", &rotation)
}

async fn add_swap(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let spec = [("starts_at", Kind::Text), ("ends_at", Kind::Text), ("reason", Kind::Text)];
    let r = ui
        .save(&form, &spec, |st, who, b| api::rotations::create_swap_request(st, who, web::Path::from(id), b))
        .await?;
    Ok(match r {
        Ok(_) => redirect(&format!("/rotations/{id}#swaps"), "ok", "Asked: the rotation's members hear of it."),
        Err(e) => redirect(&format!("/rotations/{id}#swaps"), "error", &first_error(&e)),
    })
}

/// Covers (accepts) or withdraws a swap request.
async fn swap_op(ui: Ui, path: web::Path<(i64, i64, String)>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let (id, request, op) = path.into_inner();
    let (st, caller, path) = (ui.st.clone(), ui.caller.clone(), web::Path::from((id, request)));
    let r = match op.as_str() {
        "accept" => api::rotations::accept_swap_request(st, caller, path)
            .await
            .map(|_| "You cover it: an override is in place."),
        "cancel" => api::rotations::cancel_swap_request(st, caller, path).await.map(|_| "Request withdrawn."),
        _ => return Err(crate::http::error::ApiError::not_found("action").into()),
    };
    Ok(match r {
        Ok(said) => redirect(&format!("/rotations/{id}#swaps"), "ok", said),
        Err(e) => redirect(&format!("/rotations/{id}#swaps"), "error", &e.to_string()),
    })
}
