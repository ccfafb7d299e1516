//! The on-call calendar: month and week views of rotation shifts and overrides (days and times
//! in the viewer's time zone),
//! navigation, and "who is on call at" a chosen time.

use actix_web::web;
use jiff::ToSpan;
use jiff::civil::Date;
use maud::{Markup, html};
use serde::Deserialize;

use super::teams::team_options;
use super::{Ui, UiResult};
use crate::domain::access::Role;
use crate::domain::time::Ts;
use crate::http::api::calendar::{CalendarQuery, events};
use crate::http::error::ApiError;
use crate::http::json::Query;
use crate::store::calendar::CalendarEvent;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/calendar", web::get().to(show));
}

#[derive(Debug, Default, Deserialize)]
struct CalQuery {
    team_id: Option<String>,
    /// `month` (default) or `week`.
    view: Option<String>,
    /// Any day of the month or week to show (YYYY-MM-DD); default today.
    date: Option<String>,
    /// "Who is on call at" this instant (RFC 3339, or a date-time in the viewer's zone).
    at: Option<String>,
}

fn day_start_utc(d: Date) -> Ts {
    Ts::parse(&d.to_string()).unwrap_or_default()
}

fn link(team: Option<i64>, view: &str, d: Date) -> String {
    let team = team.map(|t| format!("&team_id={t}")).unwrap_or_default();
    format!("/calendar?view={view}&date={d}{team}")
}

async fn show(ui: Ui, q: web::Query<CalQuery>) -> UiResult {
    let q = q.into_inner();
    let team_id = q.team_id.as_deref().and_then(|t| t.parse::<i64>().ok());
    let week = q.view.as_deref() == Some("week");
    let tz = ui.tz.clone();
    let day_start = |d: Date| {
        d.to_zoned(tz.clone()).map(|z| Ts::from_timestamp(z.timestamp())).unwrap_or_else(|_| day_start_utc(d))
    };
    let today = ui.now.timestamp().to_zoned(tz.clone()).date();
    let anchor = match q.date.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => d.parse::<Date>().map_err(|_| ApiError::field("date", "must be a date like 2026-11-23"))?,
        None => today,
    };
    let (first, last, prev, next) = if week {
        let monday = anchor.saturating_sub((anchor.weekday().to_monday_zero_offset() as i64).days());
        (monday, monday.saturating_add(6.days()), anchor.saturating_sub(7.days()), anchor.saturating_add(7.days()))
    } else {
        let m1 = anchor.first_of_month();
        let ml = anchor.last_of_month();
        let start = m1.saturating_sub((m1.weekday().to_monday_zero_offset() as i64).days());
        let end = ml.saturating_add((6 - ml.weekday().to_monday_zero_offset() as i64).days());
        (start, end, m1.saturating_sub(1.months()), m1.saturating_add(1.months()))
    };
    let (from, to) = (day_start(first), day_start(last.saturating_add(1.days())));
    let query = CalendarQuery { team_id, rotation_id: None, start: Some(from.rfc3339()), end: Some(to.rfc3339()) };
    let all: Vec<CalendarEvent> = events(ui.st.clone(), ui.caller.clone(), Query(query)).await?.0;
    let teams = team_options(&ui, Role::Viewer).await?;
    let visible: Vec<i64> = teams.iter().filter_map(|(id, _)| id.parse().ok()).collect();
    let all: Vec<CalendarEvent> = all.into_iter().filter(|e| visible.contains(&e.team_id)).collect();
    // Who is on call at a chosen time.
    let at = match q.at.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => Some(Ts::parse_in(a, &ui.tz).map_err(|e| ApiError::field("at", &e))?),
        None => None,
    };
    let at_events: Vec<CalendarEvent> = match at {
        Some(t) => {
            let query = CalendarQuery {
                team_id,
                rotation_id: None,
                start: Some(t.rfc3339()),
                end: Some(t.plus_secs(1).rfc3339()),
            };
            events(ui.st.clone(), ui.caller.clone(), Query(query))
                .await?
                .0
                .into_iter()
                .filter(|e| visible.contains(&e.team_id))
                .collect()
        }
        None => vec![],
    };
    let mut days = Vec::new();
    let mut d = first;
    while d <= last {
        days.push(d);
        d = d.saturating_add(1.days());
    }
    let view = if week { "week" } else { "month" };
    let title = if week { format!("Week of {first}") } else { anchor.strftime("%B %Y").to_string() };
    ui.page(
        "Calendar",
        html! {
            h1 { "Calendar" }
            form.filters method="get" action="/calendar" {
                div.field { label for="c-team" { "Team" }
                    select id="c-team" name="team_id" { option value="" { "All teams" } @for (id, name) in &teams { option value=(id) selected[q.team_id.as_deref() == Some(id.as_str())] { (name) } } } }
                div.field { label for="c-view" { "View" }
                    select id="c-view" name="view" { option value="month" selected[!week] { "Month" } option value="week" selected[week] { "Week" } } }
                div.field { label for="c-date" { "Date" } input id="c-date" type="date" name="date" value=(anchor.to_string()); }
                div.field { label for="c-at" { "Who is on call at" } input id="c-at" type="datetime-local" name="at" value=(q.at.as_deref().unwrap_or("")); }
                button type="submit" { "Show" }
            }
            @if let Some(t) = at {
                section.oncall-at {
                    h2 { "On call at " (ui.time(t)) }
                    @if at_events.is_empty() { p.muted { "Nobody." } }
                    ul { @for e in &at_events { li { strong { (e.username) } " — " (e.rotation_name) @if e.override_id.is_some() { " (override: " (e.reason) ")" } } } }
                }
            }
            nav.calnav aria-label="Calendar navigation" {
                a href=(link(team_id, view, prev)) rel="prev" { "← Previous" }
                strong { (title) }
                a href=(link(team_id, view, next)) rel="next" { "Next →" }
                a href=(link(team_id, view, today)) { "Today" }
                span.muted { "Times in " (ui.tz_name) "." }
            }
            @if all.is_empty() {
                p.empty { "Nobody is on call in this period. Shifts come from rotations: " a href="/rotations" { "create a rotation and add its members" } "." }
            }
            @if week { (week_view(&days, &all, today, &title, &day_start)) } @else { (month_view(&days, &all, today, anchor, &title, &day_start, &ui.tz)) }
        },
    )
}

/// Who a shift is: the person's display name, else their username.
fn who(ev: &CalendarEvent) -> &str {
    if ev.display_name.is_empty() { &ev.username } else { &ev.display_name }
}

/// The hover text of a shift: who, which rotation, exact bounds, and an override's reason.
fn bounds(ev: &CalendarEvent) -> String {
    let mut t = format!("{} · {} · {} → {}", who(ev), ev.rotation_name, ev.start.rfc3339(), ev.end.rfc3339());
    if !ev.reason.is_empty() {
        t.push_str(&format!(" · override: {}", ev.reason));
    }
    t
}

/// A colour per person (`.hue-0` … `.hue-11` in app.css), so that a glance tells who is on call.
fn hue(ev: &CalendarEvent) -> String {
    format!("hue-{}", (ev.user_id * 5).rem_euclid(12))
}

/// Quarter hours since `from` (the week view's `.at-N` and `.len-N` classes), 0…96.
fn quarters(from: Ts, to: Ts) -> i64 {
    ((to.secs() - from.secs() + 450) / 900).clamp(0, 96)
}

/// A month: one cell per day, one chip per shift (its start time when it starts that day).
fn month_view(
    days: &[Date],
    all: &[CalendarEvent],
    today: Date,
    anchor: Date,
    title: &str,
    day_start: &dyn Fn(Date) -> Ts,
    tz: &jiff::tz::TimeZone,
) -> Markup {
    html! {
        div.cal role="grid" aria-label=(title) {
            @for name in ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] { div.head role="columnheader" { (name) } }
            @for day in days {
                @let (s, e) = (day_start(*day), day_start(day.saturating_add(1.days())));
                div class={"day" @if day.month() != anchor.month() { " other" } @if *day == today { " today" }} role="gridcell" {
                    div.num { (day.day()) }
                    @for ev in all.iter().filter(|ev| ev.start < e && ev.end > s) {
                        span class={"seg " (hue(ev)) @if ev.override_id.is_some() { " override" }} title=(bounds(ev)) {
                            @if ev.start >= s { small.t { (ev.start.timestamp().to_zoned(tz.clone()).strftime("%H:%M")) " " } }
                            (who(ev))
                        }
                    }
                }
            }
        }
    }
}

/// A week: one row per day on an hour axis (the viewer's zone), one lane per rotation, a bar
/// per shift spanning its hours.
fn week_view(days: &[Date], all: &[CalendarEvent], today: Date, title: &str, day_start: &dyn Fn(Date) -> Ts) -> Markup {
    let mut rotations: Vec<(i64, &str)> = Vec::new();
    for ev in all {
        if !rotations.iter().any(|(id, _)| *id == ev.rotation_id) {
            rotations.push((ev.rotation_id, &ev.rotation_name));
        }
    }
    html! {
        @if rotations.len() > 1 {
            p.muted.lanes-legend { "One lane per rotation, top to bottom: " @for (i, (_, name)) in rotations.iter().enumerate() { @if i > 0 { " · " } strong { (name) } } }
        }
        div.week role="table" aria-label=(title) {
            div.wrow.axis role="row" aria-hidden="true" {
                div.wday {}
                div.hours { @for h in [0, 6, 12, 18] { span class={"at-" (h * 4)} { (format!("{h:02}:00")) } } }
            }
            @for day in days {
                @let (s, e) = (day_start(*day), day_start(day.saturating_add(1.days())));
                div class={"wrow" @if *day == today { " today" }} role="row" {
                    div.wday role="rowheader" { strong { (day.strftime("%a")) } " " (day.day()) }
                    div.lanes role="cell" {
                        @for (rotation, name) in &rotations {
                            div.lane title=(name) {
                                @for ev in all.iter().filter(|ev| ev.rotation_id == *rotation && ev.start < e && ev.end > s) {
                                    @let (a, b) = (ev.start.max(s), ev.end.min(e));
                                    span class={"bar " (hue(ev)) " at-" (quarters(s, a)) " len-" (quarters(a, b).max(1)) @if ev.override_id.is_some() { " override" }}
                                        title=(bounds(ev)) { (who(ev)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
