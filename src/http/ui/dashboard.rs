//! The dashboard: who is on call now and next per team, open alert counts, my open alerts —
//! and, until the viewer's groups have one of everything, the setup checklist.

use actix_web::web;
use maud::{Markup, html};

use super::alerts::alert_table;
use super::{Ui, UiResult};
use crate::domain::alert::AlertStatus;
use crate::store::setup::Progress;
use crate::store::{alerts, rotations, setup, teams};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(show));
}

struct OnCall {
    team: String,
    team_id: i64,
    rotation: String,
    rotation_id: i64,
    now: Option<(String, i64)>,
    next: Option<(String, i64)>,
    /// The first stretch with nobody on call in the next 14 days, and how many there are.
    gap: Option<(i64, usize)>,
}

async fn show(ui: Ui) -> UiResult {
    let groups: Option<Vec<i64>> = match ui.active_group() {
        Some(g) => Some(vec![g]),
        None => ui.caller.visible(),
    };
    let now = ui.now;
    let me = ui.caller.user.id;
    let (counts, oncall, mine, progress, my_shifts) = ui
        .st
        .db
        .read(move |c| {
            let progress = setup::progress(c, groups.as_deref())?;
            let my_shifts =
                crate::store::calendar::shifts_of(c, groups.as_deref(), me, now, now.plus_secs(14 * 86_400))?;
            let counts = alerts::open_counts(c, groups.as_deref())?;
            let team_names: std::collections::HashMap<i64, String> =
                teams::list(c, groups.as_deref(), None)?.into_iter().map(|t| (t.id, t.name)).collect();
            let mut names = rotations::Names::default();
            let mut oncall = Vec::new();
            for r in rotations::list(c, groups.as_deref(), None, now)?.into_iter().filter(|r| r.enabled) {
                let rot = rotations::domain(c, &r)?;
                let shifts = rot.upcoming(now, 1);
                let gaps = rot.gaps(now, now.plus_secs(14 * 86_400));
                let current = shifts.first().filter(|s| s.start <= now);
                let next = shifts.iter().find(|s| s.start > now);
                oncall.push(OnCall {
                    team: team_names.get(&r.team_id).cloned().unwrap_or_default(),
                    team_id: r.team_id,
                    rotation: r.name.clone(),
                    rotation_id: r.id,
                    now: match current {
                        Some(s) => Some((names.get(c, s.user_id)?.label().to_string(), s.end.secs())),
                        None => None,
                    },
                    next: match next {
                        Some(s) => Some((names.get(c, s.user_id)?.label().to_string(), s.start.secs())),
                        None => None,
                    },
                    gap: gaps.first().map(|(start, _)| (start.secs(), gaps.len())),
                });
            }
            let mine = alerts::list(
                c,
                &alerts::Filter {
                    groups: groups.clone(),
                    statuses: vec![AlertStatus::Firing, AlertStatus::Acknowledged],
                    assignee_id: Some(me),
                    page: 1,
                    page_size: 20,
                    ..Default::default()
                },
            )?;
            Ok((counts, oncall, mine, progress, my_shifts))
        })
        .await?;
    let count = |s: AlertStatus| counts.iter().find(|(x, _)| *x == s).map(|(_, n)| *n).unwrap_or(0);
    let ts = crate::domain::time::Ts::from_secs;
    ui.page(
        "Dashboard",
        html! {
            h1 { "Dashboard" }
            (checklist(&progress, ui.is_admin()))
            div.cards {
                a.card.firing href="/alerts?status=firing" { span.big { (count(AlertStatus::Firing)) } span { "firing" } }
                a.card.acked href="/alerts?status=acknowledged" { span.big { (count(AlertStatus::Acknowledged)) } span { "acknowledged" } }
                a.card href="/alerts?status=silenced" { span.big { (count(AlertStatus::Silenced)) } span { "silenced" } }
            }
            section.my-oncall {
                h2 { "My on-call" }
                @match my_shifts.iter().find(|s| s.start <= now) {
                    Some(s) => p { strong { "You are on call now" } " for " a href={"/rotations/" (s.rotation_id)} { (s.rotation_name) } " until " (ui.time(s.end)) "." }
                    None => p.muted { "You are not on call now." }
                }
                @let coming: Vec<_> = my_shifts.iter().filter(|s| s.start > now).take(5).collect();
                @if coming.is_empty() { p.muted { "No shifts in the next 14 days." } }
                @else {
                    ul.shifts { @for s in &coming { li {
                        a href={"/rotations/" (s.rotation_id)} { (s.rotation_name) } " " (ui.time(s.start)) " → " (ui.time(s.end))
                        @if s.override_id.is_some() { " " span.muted { "(override" @if !s.reason.is_empty() { ": " (s.reason) } ")" } }
                    } } }
                }
                p { a href="/profile#my-feed" { "Subscribe to your shifts in your calendar" } }
            }
            section {
                h2 { "On call" }
                @if oncall.is_empty() {
                    p.muted { "No rotations yet. " a href="/rotations" { "Create one" } "." }
                } @else {
                    @for o in oncall.iter().filter(|o| o.gap.is_some()) {
                        @if let Some((at, n)) = o.gap {
                            p.flash.warning role="status" {
                                a href={"/rotations/" (o.rotation_id) "#schedule"} { (o.rotation) } ": nobody is on call from "
                                (ui.time(ts(at))) @if n > 1 { " (" (crate::domain::count(n as i64, "gap")) " in the next 14 days)" } "."
                            }
                        }
                    }
                    div.table-wrap { table {
                        thead { tr { th { "Team" } th { "Rotation" } th { "Now" } th { "Next" } } }
                        tbody {
                            @for o in &oncall {
                                tr {
                                    td { a href={"/teams/" (o.team_id)} { (o.team) } }
                                    td { a href={"/rotations/" (o.rotation_id)} { (o.rotation) } }
                                    td { @if let Some((who, until)) = &o.now { strong { (who) } " " small.muted { "until " (ui.time(ts(*until))) } } @else { span.muted { "nobody" } } }
                                    td { @if let Some((who, from)) = &o.next { (who) " " small.muted { (ui.time(ts(*from))) } } @else { span.muted { "—" } } }
                                }
                            }
                        }
                    } }
                }
            }
            section {
                h2 { "My open alerts" }
                @if mine.items.is_empty() { p.muted { "Nothing assigned to you is open." } }
                @else { (alert_table(&ui, &mine.items, false, None)) }
            }
        },
    )
}

/// One step of setting up: its title, what it is for, where it is done, and whether it is.
struct Step {
    title: &'static str,
    why: &'static str,
    href: String,
    done: bool,
}

fn steps(p: &Progress) -> [Step; 7] {
    let at = |base: &str, id: Option<i64>| id.map_or_else(|| base.to_string(), |id| format!("{base}/{id}"));
    [
        Step {
            title: "Create a group",
            why: "Groups are the access boundary: people, teams and everything teams own belong to one.",
            href: "/admin/groups".into(),
            done: p.group.is_some(),
        },
        Step {
            title: "Add people to the group",
            why: "Each with a role: viewers look, responders acknowledge and resolve, editors configure.",
            href: at("/admin/groups", p.group),
            done: p.people.is_some(),
        },
        Step {
            title: "Create a team",
            why: "A team owns rotations, channels and routes.",
            href: "/teams".into(),
            done: p.team.is_some(),
        },
        Step {
            title: "Create a rotation and add its members",
            why: "Who is on call, shift by shift.",
            href: "/rotations".into(),
            done: p.rotation.is_some(),
        },
        Step {
            title: "Add a channel",
            why: "Where notifications go: chat, e-mail, phone — or the Log type, to try things out.",
            href: "/channels".into(),
            done: p.channel.is_some(),
        },
        Step {
            title: "Create a route",
            why: "It owns the intake token your monitoring sends alerts with, and says who is paged and where.",
            href: "/routes".into(),
            done: p.route.is_some(),
        },
        Step {
            title: "Send a test alert",
            why: "From the route's page: it goes the whole way, to the person on call through the channels.",
            href: at("/routes", p.route),
            done: p.alert.is_some(),
        },
    ]
}

/// The setup checklist, while a step is still to do: each step links to its page and is ticked
/// when done; the first one to do is marked as next.
fn checklist(p: &Progress, admin: bool) -> Markup {
    let steps = steps(p);
    let Some(next) = steps.iter().position(|s| !s.done) else { return html! {} };
    let left = steps.iter().filter(|s| !s.done).count();
    html! {
        section.setup aria-labelledby="setup-title" {
            h2 id="setup-title" { "Set up IncidentRelay " small.muted { "(" (steps.len() - left) " of " (steps.len()) " done)" } }
            ol.checklist {
                @for (i, s) in steps.iter().enumerate() {
                    li class=(if s.done { "done" } else if i == next { "next" } else { "todo" }) {
                        span.tick aria-hidden="true" { @if s.done { "✓" } @else { (i + 1) } }
                        span.step {
                            @if !admin && i < 2 && !s.done { strong { (s.title) } " — an administrator does this." }
                            @else { a href=(s.href) { (s.title) } }
                            @if s.done { span.sr-only { " (done)" } }
                            br; small.muted { (s.why) }
                        }
                    }
                }
            }
        }
    }
}
