//! The HTML page frame shared by every page — head, navigation, active-group selector, flash
//! message — and small pieces used across pages (times, badges).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Ui;
use super::form::csrf;
use crate::domain::time::{Ts, relative};

const NAV: &[(&str, &str)] = &[
    ("/", "Dashboard"),
    ("/alerts", "Alerts"),
    ("/calendar", "Calendar"),
    ("/teams", "Teams"),
    ("/rotations", "Rotations"),
    ("/routes", "Routes"),
    ("/channels", "Channels"),
    ("/policies", "Escalation"),
    ("/silences", "Silences"),
];

const ADMIN_NAV: &[(&str, &str)] =
    &[("/admin/groups", "Groups"), ("/admin/users", "Users"), ("/admin/audit", "Audit log")];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · IncidentRelay" }
            link rel="stylesheet" href="/assets/app.css";
            link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
            script src="/assets/app.js" defer {}
        }
    }
}

/// A bare page (login, one-click actions, errors): no navigation.
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main.narrow { (body) }
            }
        }
    }
}

fn active(here: &str, href: &str) -> bool {
    let path = here.split('?').next().unwrap_or(here);
    if href == "/" { path == "/" } else { path == href || path.starts_with(&format!("{href}/")) }
}

/// A page with the navigation of a signed-in user.
pub fn page(ui: &Ui, title: &str, body: Markup) -> Markup {
    let user = &ui.caller.user;
    let chosen = ui.active_group();
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { img src="/assets/icon.svg" alt="" width="22" height="22"; span { "IncidentRelay" } }
                    details.menu open {
                        summary aria-label="Menu" { "☰" }
                        nav aria-label="Main" {
                            @for (href, label) in NAV {
                                a href=(href) aria-current=[active(&ui.here, href).then_some("page")] { (label) }
                            }
                            @if ui.is_admin() {
                                a href=(ADMIN_NAV[0].0) aria-current=[active(&ui.here, "/admin").then_some("page")] { "Admin" }
                            }
                        }
                    }
                    form.group-select method="post" action="/ui/group" {
                        (csrf(&ui.csrf))
                        input type="hidden" name="back" value=(ui.here);
                        label.sr-only for="active-group" { "Group" }
                        select id="active-group" name="group_id" data-autosubmit {
                            option value="" selected[chosen.is_none()] { "All my groups" }
                            @for g in &ui.groups { option value=(g.id) selected[chosen == Some(g.id)] { (g.name) } }
                        }
                        noscript { button type="submit" { "Show" } }
                    }
                    div.who {
                        a href="/profile" { (if user.display_name.is_empty() { &user.username } else { &user.display_name }) }
                        form.inline method="post" action="/logout" { (csrf(&ui.csrf)) button.link type="submit" { "Log out" } }
                    }
                }
                main id="main" {
                    @if ui.is_admin() && active(&ui.here, "/admin") {
                        nav.subnav aria-label="Administration" {
                            @for (href, label) in ADMIN_NAV {
                                a href=(href) aria-current=[active(&ui.here, href).then_some("page")] { (label) }
                            }
                        }
                    }
                    @if user.must_change_password && !ui.here.starts_with("/profile") {
                        div.flash.error role="alert" { "You are using a generated password. " a href="/profile#password" { "Choose your own now." } }
                    }
                    @if let Some((kind, msg)) = &ui.flash {
                        div class={"flash " (kind)} role=(if kind == "error" { "alert" } else { "status" }) { (msg) }
                    }
                    (body)
                }
            }
        }
    }
}

/// A time as an absolute time in the viewer's zone `tz` with the relative one beside it
/// ("Tue 09:00 CET (in 3 h)"), the exact UTC time on hover.
pub fn time(t: Ts, now: Ts, tz: &jiff::tz::TimeZone) -> Markup {
    html! {
        time datetime=(t.rfc3339()) title=(t.rfc3339()) {
            span.abs { (absolute(t, now, tz)) } " " span.rel { "(" (relative(t, now)) ")" }
        }
    }
}

/// "Tue 09:00 CET" within six days of now, "Nov 23 09:00 CET" within the year, else with the
/// year; in the zone `tz`, named by its abbreviation.
pub fn absolute(t: Ts, now: Ts, tz: &jiff::tz::TimeZone) -> String {
    let local = t.timestamp().to_zoned(tz.clone());
    let pattern = if now.secs_since(t).abs() < 6 * 86_400 {
        "%a %H:%M %Z"
    } else if local.year() == now.timestamp().to_zoned(tz.clone()).year() {
        "%b %-d %H:%M %Z"
    } else {
        "%Y-%m-%d %H:%M %Z"
    };
    local.strftime(pattern).to_string()
}

pub fn status_badge(status: &str) -> Markup {
    html! { span class={"badge status-" (status)} { (status) } }
}

pub fn severity_badge(severity: &str) -> Markup {
    html! { span class={"badge sev-" (severity)} { (severity) } }
}

/// Where the first of an empty list's things is created.
pub enum First {
    /// The page's own form (opened when the list is empty).
    Here,
    /// They belong to a team the viewer may edit, and there is none yet.
    Team,
    /// They belong to a group the viewer may edit, and there is none yet.
    Group { admin: bool },
}

/// What an empty list says: nothing yet, and where the first one is created. A page is never
/// empty without a form or a link to what comes first.
pub fn empty_list(things: &str, first: First) -> Markup {
    html! {
        p.empty {
            "No " (things) " yet. "
            @match first {
                First::Here => { "Create the first one below." }
                First::Team => { "They belong to a team, and you edit none yet: " a href="/teams" { "create a team first" } "." }
                First::Group { admin: true } => { "They belong to a group: " a href="/admin/groups" { "create a group first" } "." }
                First::Group { admin: false } => { "They belong to a group: ask an administrator to make you an editor of one." }
            }
        }
    }
}

/// Inline text that must not be escaped twice (already-built HTML).
pub fn raw(s: &str) -> PreEscaped<String> {
    PreEscaped(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        let now = Ts::from_secs(1_000_000);
        assert_eq!(relative(now, now), "just now");
        let tue = Ts::parse("2026-12-01T09:00:00Z").unwrap();
        let utc = jiff::tz::TimeZone::UTC;
        assert_eq!(absolute(tue, tue.plus_secs(3 * 3600), &utc), "Tue 09:00 UTC");
        assert_eq!(absolute(tue, tue.plus_secs(30 * 86_400), &utc), "Dec 1 09:00 UTC");
        assert_eq!(absolute(tue, tue.plus_secs(400 * 86_400), &utc), "2026-12-01 09:00 UTC");
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(absolute(tue, tue, &berlin), "Tue 10:00 CET");
        assert_eq!(relative(now.plus_secs(-300), now), "5 min ago");
        assert_eq!(relative(now.plus_secs(7200), now), "in 2 h");
        assert_eq!(relative(now.plus_secs(-3 * 86_400), now), "3 d ago");
    }
}
