//! Alerts: the filtered list with bulk acknowledge/resolve, and the detail page with labels,
//! links, the timeline and the deliveries.

use actix_web::web;
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{Form, button, csrf, urlencode};
use super::layout::{severity_badge, status_badge};
use super::{Ui, UiResult, redirect};
use crate::domain::access::Role;
use crate::domain::alert::{AlertSort, Severity, Source};
use crate::http::api::alerts::{self as api, AlertQuery};
use crate::store::alerts::{self, Alert};
use crate::store::teams;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/alerts", web::get().to(list));
    cfg.route("/alerts/bulk", web::post().to(bulk));
    cfg.route("/alerts/{id}", web::get().to(detail));
    cfg.route("/alerts/{id}/{action}", web::post().to(act));
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    /// `open` (default: firing + acknowledged), a status, or `any`.
    status: Option<String>,
    severity: Option<String>,
    team_id: Option<String>,
    source: Option<String>,
    search: Option<String>,
    /// "1": only alerts assigned to the viewer.
    mine: Option<String>,
    /// An [`AlertSort`] name (default newest first).
    sort: Option<String>,
    page: Option<i64>,
}

impl ListQuery {
    /// No filter but the default (open alerts).
    fn is_default(&self) -> bool {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
        self.status.as_deref().is_none_or(|s| s == "open")
            && ![&self.severity, &self.team_id, &self.source, &self.search, &self.mine].into_iter().any(set)
    }

    fn sort(&self) -> AlertSort {
        self.sort.as_deref().and_then(AlertSort::parse).unwrap_or_default()
    }

    /// This list sorted by `sort`, from its first page.
    fn sorted(&self, sort: AlertSort) -> String {
        ListQuery { sort: Some(sort.as_str().into()), ..self.clone() }.link(1)
    }

    fn link(&self, page: i64) -> String {
        let mut parts = vec![format!("page={page}")];
        for (k, v) in [
            ("status", &self.status),
            ("severity", &self.severity),
            ("team_id", &self.team_id),
            ("source", &self.source),
            ("search", &self.search),
            ("mine", &self.mine),
            ("sort", &self.sort),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("{k}={}", urlencode(v)));
            }
        }
        format!("/alerts?{}", parts.join("&"))
    }
}

const STATUSES: &[(&str, &str)] = &[
    ("open", "Open (firing + acknowledged)"),
    ("firing", "Firing"),
    ("acknowledged", "Acknowledged"),
    ("silenced", "Silenced"),
    ("resolved", "Resolved"),
    ("any", "Any status"),
];

async fn list(ui: Ui, q: web::Query<ListQuery>) -> UiResult {
    let q = q.into_inner();
    let status = q.status.clone().unwrap_or_else(|| "open".into());
    let statuses = match status.as_str() {
        "open" => vec!["firing".to_string(), "acknowledged".to_string()],
        "any" | "" => vec![],
        s => vec![s.to_string()],
    };
    let query = AlertQuery {
        team_id: q.team_id.as_deref().and_then(|t| t.parse().ok()),
        status: statuses,
        severity: q.severity.clone().filter(|s| !s.is_empty()),
        source: q.source.clone().filter(|s| !s.is_empty()),
        assignee_id: q.mine.as_deref().is_some_and(|m| !m.is_empty()).then_some(ui.caller.user.id),
        search: q.search.clone().filter(|s| !s.trim().is_empty()),
        sort: Some(q.sort().as_str().into()),
        page: Some(q.page.unwrap_or(1).max(1)),
        page_size: Some(50),
    };
    let mut f = api::filter(&ui.caller, query)?;
    if let Some(g) = ui.active_group() {
        f.groups = Some(vec![g]);
    }
    let groups = f.groups.clone();
    let (page, page_size) = (f.page, f.page_size);
    let (result, team_list) =
        ui.st.db.read(move |c| Ok((alerts::list(c, &f)?, teams::list(c, groups.as_deref(), None)?))).await?;
    let pages = ((result.total + page_size - 1) / page_size).max(1);
    let can_act = ui.can_any(Role::Responder);
    ui.page(
        "Alerts",
        html! {
            h1 { "Alerts" }
            form.filters method="get" action="/alerts" role="search" {
                div.field { label for="q-status" { "Status" }
                    select id="q-status" name="status" { @for (v, l) in STATUSES { option value=(v) selected[status == *v] { (l) } } } }
                div.field { label for="q-severity" { "Severity" }
                    select id="q-severity" name="severity" { option value="" { "Any" } @for s in Severity::ALL { option value=(s.as_str()) selected[q.severity.as_deref() == Some(s.as_str())] { (s.as_str()) } } } }
                div.field { label for="q-team" { "Team" }
                    select id="q-team" name="team_id" { option value="" { "Any" } @for t in &team_list { option value=(t.id) selected[q.team_id.as_deref() == Some(t.id.to_string().as_str())] { (t.name) } } } }
                div.field { label for="q-source" { "Source" }
                    select id="q-source" name="source" { option value="" { "Any" } @for s in Source::ALL { option value=(s.as_str()) selected[q.source.as_deref() == Some(s.as_str())] { (s.as_str()) } } } }
                div.field.grow { label for="q-search" { "Search" }
                    input id="q-search" type="search" name="search" placeholder="title, label value or dedup key" value=(q.search.as_deref().unwrap_or("")); }
                div.field.check { label { input type="checkbox" name="mine" value="1" checked[q.mine.as_deref().is_some_and(|m| !m.is_empty())]; "Assigned to me" } }
                @if q.sort.is_some() { input type="hidden" name="sort" value=(q.sort().as_str()); }
                button type="submit" { "Filter" }
            }
            div id="live" data-refresh="30" {
                form method="post" action="/alerts/bulk" {
                    (csrf(&ui.csrf))
                    input type="hidden" name="back" value=(ui.here);
                    @if can_act && !result.items.is_empty() {
                        div.bulk {
                            button.small type="submit" name="action" value="ack" { "Acknowledge selected" }
                            button.small type="submit" name="action" value="resolve" { "Resolve selected" }
                            button.small type="submit" name="action" value="snooze" { "Snooze selected 1 h" }
                        }
                    }
                    @if result.items.is_empty() && q.is_default() {
                        p.empty { "No open alerts. Alerts arrive with a route's intake token: " a href="/routes" { "send a test alert from a route" } ", or " a href="/alerts?status=any" { "see resolved ones" } "." }
                    } @else if result.items.is_empty() {
                        p.empty { "No alerts match. " a href="/alerts" { "Clear the filters" } "." }
                    }
                    @else { (alert_table(&ui, &result.items, can_act, Some(&q))) }
                }
                nav.pager aria-label="Pages" {
                    span.muted { (crate::domain::count(result.total, "alert")) @if result.capped { " or more" } " · page " (page) " of " (pages) }
                    @if page > 1 { a href=(q.link(page - 1)) rel="prev" { "← Newer" } }
                    @if page < pages { a href=(q.link(page + 1)) rel="next" { "Older →" } }
                }
            }
        },
    )
}

/// The alerts table (list, dashboard); `select` adds checkboxes for bulk actions (the table is
/// then inside the bulk form, which carries the CSRF token and the way back); `list` makes the
/// column heads sort the list.
pub fn alert_table(ui: &Ui, items: &[Alert], select: bool, list: Option<&ListQuery>) -> Markup {
    let current = list.map(ListQuery::sort).unwrap_or_default();
    // A column head: a link that sorts by it (the alert column toggles newest / oldest).
    let head = |label: &str, sort: AlertSort| -> Markup {
        let on = current == sort || (sort == AlertSort::Newest && current == AlertSort::Oldest);
        let next = match (sort, current) {
            (AlertSort::Newest, AlertSort::Newest) => AlertSort::Oldest,
            _ => sort,
        };
        let arrow = match (on, current) {
            (false, _) => "",
            (true, AlertSort::Oldest) => " ↑",
            (true, _) => " ↓",
        };
        match list {
            Some(q) => {
                html! { a href=(q.sorted(next)) aria-sort=[on.then_some(if current == AlertSort::Oldest { "ascending" } else { "descending" })] { (label) (arrow) } }
            }
            None => html! { (label) },
        }
    };
    html! {
        div.table-wrap { table.alerts {
            thead { tr {
                @if select { th { span.sr-only { "Select" } } }
                th { (head("Alert", AlertSort::Newest)) }
                th.hide-s { (head("Status", AlertSort::Status)) }
                th.hide-s { (head("Severity", AlertSort::Severity)) }
                th.hide-s { "Team" } th.hide-s { "Assignee" }
                th.hide-s { (head("Last seen", AlertSort::LastSeen)) }
                th { span.sr-only { "Actions" } }
            } }
            tbody {
                @for a in items {
                    tr class={"row-" (a.status.as_str())} {
                        @if select { td { @if ui.can(a.group_id, Role::Responder) { input type="checkbox" name="ids" value=(a.id) aria-label={"Select alert " (a.id)}; } } }
                        td {
                            a href={"/alerts/" (a.id)} { (a.title) } " " small.muted { "#" (a.id) @if a.alert_count > 1 { " ×" (a.alert_count) } }
                            // On a phone the status, severity and time columns fold in here.
                            div.show-s.meta { (status_badge(a.status.as_str())) " " (severity_badge(a.severity.as_str())) " " (ui.time(a.last_seen_at)) }
                        }
                        td.hide-s { (status_badge(a.status.as_str())) }
                        td.hide-s { (severity_badge(a.severity.as_str())) }
                        td.hide-s { (a.team_slug) }
                        td.hide-s { @if let Some(u) = &a.assignee { (u.username) } @else { span.muted { "—" } } }
                        td.hide-s { (ui.time(a.last_seen_at)) }
                        td.actions {
                            @if ui.can(a.group_id, Role::Responder) {
                                // Inside the bulk form (no nested forms): the buttons post it elsewhere.
                                @if select {
                                    @if a.status.as_str() == "firing" { button.small.primary type="submit" formaction={"/alerts/" (a.id) "/ack"} { "Ack" } }
                                    @if a.status.as_str() != "resolved" { button.small type="submit" formaction={"/alerts/" (a.id) "/resolve"} { "Resolve" } }
                                } @else {
                                    @if a.status.as_str() == "firing" { (button(&format!("/alerts/{}/ack", a.id), &ui.csrf, "Ack", "small primary", None)) }
                                    @if a.status.as_str() != "resolved" { (button(&format!("/alerts/{}/resolve", a.id), &ui.csrf, "Resolve", "small", None)) }
                                }
                            }
                        }
                    }
                }
            }
        } }
    }
}

async fn bulk(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let back = form.get("back").filter(|b| b.starts_with("/alerts")).unwrap_or("/alerts").to_string();
    let action = form.get("action").unwrap_or("");
    let ids: Vec<i64> = form.all("ids").iter().filter_map(|v| v.parse().ok()).collect();
    if ids.is_empty() {
        return Ok(redirect(&back, "error", "Select at least one alert."));
    }
    let mut done = 0;
    for id in &ids {
        let r = match action {
            "ack" => api::ack(ui.st.clone(), ui.caller.clone(), web::Path::from(*id)).await,
            "resolve" => api::resolve(ui.st.clone(), ui.caller.clone(), web::Path::from(*id)).await,
            "snooze" => {
                let body = crate::http::json::Body(api::SnoozeInput { minutes: Some(60), until: None });
                api::snooze(ui.st.clone(), ui.caller.clone(), web::Path::from(*id), body).await
            }
            _ => return Ok(redirect(&back, "error", "Unknown action.")),
        };
        if r.is_ok() {
            done += 1;
        }
    }
    let verb = match action {
        "ack" => "acknowledged",
        "snooze" => "snoozed for 1 hour",
        _ => "resolved",
    };
    let kind = if done == ids.len() { "ok" } else { "error" };
    Ok(redirect(&back, kind, &format!("{done} of {} {verb}.", crate::domain::count(ids.len() as i64, "alert"))))
}

async fn act(ui: Ui, path: web::Path<(i64, String)>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let (id, action) = path.into_inner();
    let (st, caller, path) = (ui.st.clone(), ui.caller.clone(), web::Path::from(id));
    let int = |name: &str| form.get(name).and_then(|v| v.parse::<i64>().ok());
    let a = match action.as_str() {
        "ack" => api::ack(st, caller, path).await?.0,
        "resolve" => api::resolve(st, caller, path).await?.0,
        "escalate" => api::escalate(st, caller, path).await?.0,
        "unack" => api::unack(st, caller, path).await?.0,
        "snooze" => {
            let body = api::SnoozeInput { minutes: int("minutes"), until: None };
            api::snooze(st, caller, path, crate::http::json::Body(body)).await?.0
        }
        "reassign" => {
            let body = api::ReassignInput { user_id: int("user_id") };
            api::reassign(st, caller, path, crate::http::json::Body(body)).await?.0
        }
        "notes" => {
            let body = api::NoteInput { text: form.get("text").map(str::to_string) };
            api::add_note(st, caller, path, crate::http::json::Body(body)).await?;
            return Ok(redirect(&format!("/alerts/{id}#notes"), "ok", "Note added."));
        }
        _ => return Err(crate::http::error::ApiError::not_found("action").into()),
    };
    let back = form.get("back").filter(|b| b.starts_with('/') && !b.starts_with("//")).map(str::to_string);
    let msg = match action.as_str() {
        "escalate" => format!(
            "Alert #{id} escalated to {}.",
            a.assignee.as_ref().map_or("the next step", |u| u.username.as_str())
        ),
        "snooze" => format!("Alert #{id} snoozed until {}.", a.snoozed_until.map(|t| t.rfc3339()).unwrap_or_default()),
        "reassign" => {
            format!("Alert #{id} reassigned to {}.", a.assignee.as_ref().map_or("—", |u| u.username.as_str()))
        }
        _ => format!("Alert #{id} {}.", a.status.as_str()),
    };
    Ok(redirect(&back.unwrap_or_else(|| format!("/alerts/{id}")), "ok", &msg))
}

async fn detail(ui: Ui, id: web::Path<i64>) -> UiResult {
    let id = id.into_inner();
    let a = api::get(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    let events = api::events(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    let deliveries = api::deliveries(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    // The team's changes from an hour before the alert until it resolved (or now): what
    // changed just before it fired.
    let (team, from, to) = (a.team_id, a.first_seen_at.plus_secs(-3600), a.resolved_at.unwrap_or(ui.now));
    let changes = ui.st.db.read(move |c| crate::store::changes::of_team(c, team, from, to, 10)).await?;
    let responder = ui.can(a.group_id, Role::Responder);
    let back = format!("/alerts/{id}");
    let people: Vec<(String, String)> = if responder {
        crate::http::api::groups::members(ui.st.clone(), ui.caller.clone(), web::Path::from(a.group_id))
            .await?
            .0
            .into_iter()
            .filter(|m| a.assignee.as_ref().is_none_or(|u| u.id != m.user_id))
            .map(|m| (m.user_id.to_string(), m.username))
            .collect()
    } else {
        Vec::new()
    };
    let notes: Vec<_> = events.iter().filter(|e| e.event_type == "note").collect();
    // An open alert's assignee who would be reached only through the team's channels.
    let unreachable = match (a.assignee.as_ref(), a.status.as_str()) {
        (Some(u), "firing" | "acknowledged") => {
            let uid = u.id;
            (!ui.st.db.read(move |c| crate::store::contacts::has_working_rule(c, uid)).await?)
                .then(|| u.username.clone())
        }
        _ => None,
    };
    let open = matches!(a.status.as_str(), "firing" | "acknowledged");
    ui.page(
        &format!("#{} {}", a.id, a.title),
        html! {
            p.crumbs { a href="/alerts" { "Alerts" } " / #" (a.id) }
            h1 { (a.title) }
            p { (status_badge(a.status.as_str())) " " (severity_badge(a.severity.as_str())) " "
                span.muted { "team " (a.team_slug) " · " (a.source) " · received " (a.alert_count) "×" } }
            @if responder && a.status.as_str() != "resolved" {
                div.actions.big {
                    @if a.status.as_str() == "firing" {
                        form.inline method="post" action={"/alerts/" (id) "/ack"} { (csrf(&ui.csrf)) input type="hidden" name="back" value=(back); button.primary.large type="submit" { "Acknowledge" } }
                    }
                    form.inline method="post" action={"/alerts/" (id) "/resolve"} { (csrf(&ui.csrf)) input type="hidden" name="back" value=(back); button.large type="submit" { "Resolve" } }
                    a.button.large href={"/silences/new?alert=" (id)} { "Silence similar…" }
                }
                @if open {
                    div.actions.more {
                        @if a.status.as_str() == "acknowledged" { (action_form(&ui.csrf, id, "unack", html! {}, "Unacknowledge")) }
                        (action_form(&ui.csrf, id, "escalate", html! {}, "Escalate now"))
                        (action_form(&ui.csrf, id, "snooze", html! {
                            label.sr-only for="snooze-minutes" { "Snooze for" }
                            select id="snooze-minutes" name="minutes" { @for (m, l) in SNOOZES { option value=(m) selected[*m == 60] { (l) } } }
                        }, "Snooze"))
                        @if !people.is_empty() {
                            (action_form(&ui.csrf, id, "reassign", html! {
                                label.sr-only for="reassign-to" { "Reassign to" }
                                select id="reassign-to" name="user_id" { @for (uid, name) in &people { option value=(uid) { (name) } } }
                            }, "Reassign"))
                        }
                    }
                }
            }
            @if let Some(who) = &unreachable {
                p.flash.warning role="status" { (who) " has no notification rules: only the team's channels "
                    @if ui.st.config.smtp.host.is_some() { "and an e-mail to their address " } "reach them. "
                    @if who == &ui.caller.user.username { a href="/profile#notifications" { "Add yours" } } }
            }
            @if !a.message.is_empty() { pre.message { (a.message) } }
            dl.facts {
                dt { "Assignee" } dd { @if let Some(u) = &a.assignee { (u.username) } @else { "—" } }
                @if let Some(t) = a.snoozed_until { dt { "Snoozed until" } dd { (ui.time(t)) } }
                dt { "First seen" } dd { (ui.time(a.first_seen_at)) }
                dt { "Last seen" } dd { (ui.time(a.last_seen_at)) }
                @if let Some(by) = &a.acknowledged_by { dt { "Acknowledged" } dd { (by) " " (ui.time_opt(a.acknowledged_at)) } }
                @if let Some(by) = &a.resolved_by { dt { "Resolved" } dd { (by) " " (ui.time_opt(a.resolved_at)) } }
                @if let Some(n) = a.next_action_at { dt { "Next reminder / escalation" } dd { (ui.time(n)) } }
                dt { "Dedup key" } dd { code { (a.dedup_key) } }
                @if let Some(l) = &a.event_link { dt { "Link" } dd { a href=(l) rel="noopener noreferrer" target="_blank" { (l) } } }
            }
            @if !a.links.is_empty() || !a.images.is_empty() {
                h2 { "Links" }
                // Images are linked, never loaded: the page loads nothing from the senders.
                ul.links {
                    @for l in &a.links {
                        li { a href=(l.href) rel="noopener noreferrer" target="_blank" { @if l.text.is_empty() { (l.href) } @else { (l.text) } } }
                    }
                    @for i in &a.images {
                        li { "Image: " a href=(i.href.as_deref().unwrap_or(&i.src)) rel="noopener noreferrer" target="_blank" {
                            @if i.alt.is_empty() { (i.src) } @else { (i.alt) }
                        } }
                    }
                }
            }
            @if !a.labels.is_empty() {
                h2 { "Labels" }
                ul.labels { @for (k, v) in &a.labels {
                    li { code { (k) "=" (v) } }
                } }
            }
            @if !changes.is_empty() {
                h2 { "Changes around it" }
                ul.changes { @for ch in &changes {
                    li {
                        (ui.time(ch.happened_at)) " " strong { (ch.summary) }
                        @if !ch.source.is_empty() { " " span.muted { "(" (ch.source) ")" } }
                        @for l in &ch.links {
                            " · " a href=(l.href) rel="noopener noreferrer" target="_blank" { @if l.text.is_empty() { (l.href) } @else { (l.text) } }
                        }
                    }
                } }
            }
            h2 id="notes" { "Notes" }
            @if notes.is_empty() { p.muted { "No notes yet." } }
            @for n in &notes {
                div.note { p.muted { (n.actor.as_deref().unwrap_or("")) " · " (ui.time(n.created_at)) } p { (n.message) } }
            }
            @if responder {
                form.note-form method="post" action={"/alerts/" (id) "/notes"} {
                    (csrf(&ui.csrf))
                    label.sr-only for="note-text" { "Note" }
                    textarea id="note-text" name="text" rows="2" maxlength="4000" placeholder="What you found, what you did…" {}
                    button type="submit" { "Add note" }
                }
            }
            h2 { "Timeline " small.muted { "(oldest first)" } }
            ol.timeline {
                @for e in &events {
                    li class={"ev-" (e.event_type)} {
                        (ui.time(e.created_at)) " " strong { (humane(&e.event_type)) } " — " (e.message)
                        @if let Some(actor) = &e.actor { " " span.muted { "(" (actor) ")" } }
                    }
                }
            }
            h2 { "Deliveries" }
            @if deliveries.is_empty() { p.muted { "No notifications for this alert." } }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Event" } th { "Target" } th { "Status" } th.hide-s { "Attempts" } th { "When" } th.hide-s { "Error" } } }
                    tbody { @for d in &deliveries {
                        // A page cancelled by an acknowledgement (or a reassignment, a silence)
                        // did its job by not going out: "cancelled", not a red "dead".
                        @let cancelled = d.last_error.as_deref().and_then(|e| e.strip_prefix("cancelled: "));
                        @let (status, note) = match cancelled {
                            Some(why) if d.status.as_str() == "dead" => ("cancelled", Some(why)),
                            _ => (d.status.as_str(), d.last_error.as_deref()),
                        };
                        tr class={"del-" (status)} {
                            td { (d.event_type.as_str()) }
                            td {
                                (d.target)
                                // On a phone the attempts and the error fold in here, readable.
                                @if let Some(err) = note { div.show-s.error-note { (err) } }
                            }
                            td { (status_badge(status)) small.show-s.muted { (crate::domain::count(d.attempts, "attempt")) } }
                            td.hide-s { (d.attempts) }
                            td { (ui.time(d.sent_at.unwrap_or(d.created_at))) }
                            td.error.hide-s { (note.unwrap_or("")) }
                        }
                    } }
                } }
            }
        },
    )
}

/// An event type as a person reads it: "recovery_queued" → "Recovery queued".
fn humane(event_type: &str) -> String {
    let words = event_type.replace('_', " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Snooze choices on the alert page: (minutes, label).
const SNOOZES: &[(i64, &str)] = &[
    (15, "15 minutes"),
    (30, "30 minutes"),
    (60, "1 hour"),
    (120, "2 hours"),
    (240, "4 hours"),
    (480, "8 hours"),
    (1440, "24 hours"),
];

/// A small form that posts one action on the alert, with its inputs.
fn action_form(csrf_token: &str, id: i64, action: &str, inputs: Markup, label: &str) -> Markup {
    html! {
        form.inline.action method="post" action={"/alerts/" (id) "/" (action)} {
            (csrf(csrf_token))
            input type="hidden" name="back" value={"/alerts/" (id)};
            (inputs)
            button type="submit" { (label) }
        }
    }
}
