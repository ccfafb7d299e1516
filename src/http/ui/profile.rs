//! The user's own profile: contact fields and chat ids, password, personal API tokens (shown
//! once, with a copy button) and calendar feeds.

use actix_web::web;
use maud::{Markup, html};

use super::form::{Errors, Form, Kind, Values, button, checkboxes, csrf, form_errors, input, select, time_zones};
use super::teams::{first_error, team_options};
use super::{Ui, UiResult, deleted, redirect};
use crate::domain::access::{Role, Scope};
use crate::http::api;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/profile", web::get().to(show));
    cfg.route("/profile", web::post().to(update));
    cfg.route("/profile/password", web::post().to(password));
    cfg.route("/profile/tokens", web::post().to(create_token));
    cfg.route("/profile/tokens/{id}/delete", web::post().to(delete_token));
    cfg.route("/profile/feeds", web::post().to(create_feed));
    cfg.route("/profile/feeds/{id}/delete", web::post().to(delete_feed));
    cfg.route("/profile/my-feeds", web::post().to(create_my_feed));
    cfg.route("/profile/methods", web::post().to(create_method));
    cfg.route("/profile/methods/{id}/test", web::post().to(test_method));
    cfg.route("/profile/methods/{id}/delete", web::post().to(delete_method));
    cfg.route("/profile/rules", web::post().to(create_rule));
    cfg.route("/profile/rules/{id}/delete", web::post().to(delete_rule));
    cfg.route("/profile/my-feeds/{id}/delete", web::post().to(delete_my_feed));
}

const SPEC: &[(&str, Kind)] = &[
    ("display_name", Kind::Text),
    ("email", Kind::TextOrNull),
    ("phone", Kind::TextOrNull),
    ("telegram_user_id", Kind::TextOrNull),
    ("slack_user_id", Kind::TextOrNull),
    ("mattermost_user_id", Kind::TextOrNull),
    ("time_zone", Kind::TextOrNull),
    ("shift_notify_before_minutes", Kind::Int),
];

/// What changed on the page: the form to show again, or a secret to show once.
#[derive(Default)]
struct State {
    profile: Option<(Values, Errors)>,
    password: Errors,
    token: Errors,
    notice: Option<Markup>,
}

fn secret(label: &str, id: &str, value: &str) -> Markup {
    html! {
        div.flash.ok role="status" {
            p { strong { (label) } }
            p.secret { code id=(id) { (value) } button type="button" data-copy=(id) hidden { "Copy" } }
        }
    }
}

async fn page(ui: &Ui, s: State) -> UiResult {
    let me = api::profile::get(ui.st.clone(), ui.caller.clone()).await?.0;
    let tokens = api::profile::list_tokens(ui.st.clone(), ui.caller.clone()).await?.0;
    let feeds = api::calendar::list_feeds(ui.st.clone(), ui.caller.clone()).await?.0;
    let mine = api::profile::list_feeds(ui.st.clone(), ui.caller.clone()).await?.0;
    let methods = api::contacts::list(ui.st.clone(), ui.caller.clone()).await?.0;
    let rules = api::contacts::rules(ui.st.clone(), ui.caller.clone()).await?.0;
    let method_types: Vec<(String, String)> = crate::domain::contact::MethodType::ALL
        .iter()
        .map(|t| (t.as_str().to_string(), format!("{}: {}", t.label().0, t.label().1)))
        .collect();
    let verified: Vec<(String, String)> = methods
        .iter()
        .filter(|m| m.verified_at.is_some())
        .map(|m| (m.id.to_string(), format!("{} {}", m.method_type.label().0, m.value)))
        .collect();
    let describe = |id: i64| {
        methods
            .iter()
            .find(|m| m.id == id)
            .map(|m| format!("{} {}", m.method_type.label().0, m.value))
            .unwrap_or_default()
    };
    let severities: Vec<(String, String)> =
        crate::domain::alert::Severity::ALL.iter().map(|s| (s.as_str().to_string(), s.as_str().to_string())).collect();
    let teams = team_options(ui, Role::Viewer).await?;
    let (v, e) =
        s.profile.unwrap_or_else(|| (Values::of(&serde_json::to_value(&me).unwrap_or_default()), Errors::new()));
    let scopes: Vec<(String, String)> = Scope::ALL
        .iter()
        .filter(|s| **s != Scope::All || ui.is_admin())
        .map(|s| (s.as_str().to_string(), s.as_str().to_string()))
        .collect();
    let groups: Vec<(String, String)> = ui.groups.iter().map(|g| (g.id.to_string(), g.name.clone())).collect();
    let none = Errors::new();
    let mut all_errors = e.clone();
    all_errors.extend(s.password.clone());
    all_errors.extend(s.token.clone());
    ui.form_page(
        &all_errors,
        "Profile",
        html! {
            h1 { "Profile" }
            @if let Some(n) = s.notice { (n) }
            section {
                h2 { "You" }
                form method="post" action="/profile" {
                    (csrf(&ui.csrf))
                    p { "Username " strong { (me.username) } }
                    (input("Display name", "display_name", "text", &v, &e, ""))
                    (input("E-mail", "email", "email", &v, &e, ""))
                    (input("Phone", "phone", "tel", &v, &e, "E.164, e.g. +49301234567 — voice calls go here."))
                    (input("Telegram user id", "telegram_user_id", "text", &v, &e, "Lets you acknowledge from Telegram buttons."))
                    (input("Slack user id", "slack_user_id", "text", &v, &e, "e.g. U0123ABCD"))
                    (input("Mattermost user id", "mattermost_user_id", "text", &v, &e, ""))
                    (select("Time zone", "time_zone", time_zones(), &v, &e, Some(&format!("— the installation's ({}) —", ui.st.config.ui.default_time_zone)), "Every time the web UI shows you is in this zone."))
                    (input("Shift notice (minutes before)", "shift_notify_before_minutes", "number", &v, &e, "You hear of each of your on-call shifts this long before it starts, and again when it starts, through your verified contact methods except voice calls. 0: never."))
                    (form_errors(&e, &["display_name", "email", "phone", "telegram_user_id", "slack_user_id", "mattermost_user_id", "time_zone", "shift_notify_before_minutes"]))
                    button.primary type="submit" { "Save" }
                }
            }
            section id="notifications" {
                h2 { "How you are paged" }
                p.muted { "Your own contact methods and rules reach you when you are paged, besides the team's channels. A method must receive a test message before a rule may use it." }
                h3 { "Contact methods" }
                @if methods.is_empty() { p.muted { "None yet." } }
                ul.methods { @for m in &methods { li {
                    strong { (m.method_type.label().0) } " " code { (m.value) } @if !m.label.is_empty() { " " span.muted { "(" (m.label) ")" } }
                    " " @match m.verified_at { Some(t) => { span.badge.status-resolved { "verified" } " " small.muted { (ui.time(t)) } } None => span.badge.status-firing { "not verified" } }
                    " " (button(&format!("/profile/methods/{}/test", m.id), &ui.csrf, "Send a test", "small", None))
                    " " (button(&format!("/profile/methods/{}/delete", m.id), &ui.csrf, "Delete", "small link", Some("Delete this method and its rules?")))
                } } }
                details.create {
                    summary { "Add a contact method" }
                    form method="post" action="/profile/methods" {
                        (csrf(&ui.csrf))
                        (select("Type", "type", &method_types, &Values::default(), &none, None, ""))
                        (input("Value", "value", "text", &Values::default(), &none, "What the type needs (see above): an address, +4930…, a chat id, https://ntfy.sh/your-topic, a server URL."))
                        (input("Secret", "secret", "password", &Values::default(), &none, "ntfy access token (tk_…), Gotify app token, webhook signing secret (whsec_…); never shown again."))
                        (input("Label", "label", "text", &Values::default(), &none, "e.g. work phone"))
                        button.primary type="submit" { "Add method" }
                    }
                }
                h3 { "Notification rules" }
                @if rules.is_empty() { p.muted { "No rules: when you are paged, only the team's channels reach you." } }
                ul.rules { @for r in &rules { li {
                    (describe(r.contact_method_id)) " " span.muted { @if r.delay_seconds == 0 { "at once" } @else { (crate::domain::count(r.delay_seconds / 60, "minute")) " after you are paged" } }
                    @if !r.severities.is_empty() { " " span.muted { "(" @for (i, s) in r.severities.iter().enumerate() { @if i > 0 { ", " } (s.as_str()) } ")" } }
                    " " (button(&format!("/profile/rules/{}/delete", r.id), &ui.csrf, "Delete", "small link", None))
                } } }
                @if !verified.is_empty() {
                    details.create {
                        summary { "Add a rule" }
                        form method="post" action="/profile/rules" {
                            (csrf(&ui.csrf))
                            (select("Method", "contact_method_id", &verified, &Values::default(), &none, None, ""))
                            (input("Minutes after you are paged", "minutes", "number", &Values::default().set("minutes", "0"), &none, "0 = at once; until the alert is acknowledged or resolved."))
                            (checkboxes("Only for severities", "severities", &severities, &Values::default(), &none, "None ticked: every severity."))
                            button.primary type="submit" { "Add rule" }
                        }
                    }
                }
            }
            section id="password" {
                h2 { "Password" }
                @if me.must_change_password { p.error { "You are using a generated password: choose your own." } }
                form method="post" action="/profile/password" {
                    (csrf(&ui.csrf))
                    (input("Current password", "old_password", "password", &Values::default(), &s.password, ""))
                    (input("New password", "new_password", "password", &Values::default(), &s.password, "At least 10 characters."))
                    (form_errors(&s.password, &["old_password", "new_password"]))
                    button.primary type="submit" { "Change password" }
                }
            }
            section id="tokens" {
                h2 { "API tokens" }
                p.muted { "For scripts and tools: send " code { "Authorization: Bearer irp_…" } ". A token never has more rights than you." }
                @if tokens.is_empty() { p.muted { "No tokens." } }
                @else {
                    div.table-wrap { table {
                        thead { tr { th { "Name" } th { "Token" } th { "Scopes" } th.hide-s { "Last used" } th.hide-s { "Expires" } th {} } }
                        tbody { @for t in &tokens { tr {
                            td { (t.name) }
                            td { code { (t.token_prefix) "…" } }
                            td { @for sc in &t.scopes { code { (sc.as_str()) } " " } }
                            td.hide-s { (ui.time_opt(t.last_used_at)) }
                            td.hide-s { (ui.time_opt(t.expires_at)) }
                            td.actions { (button(&format!("/profile/tokens/{}/delete", t.id), &ui.csrf, "Revoke", "small", Some("Revoke this token?"))) }
                        } } }
                    } }
                }
                details.create open[!s.token.is_empty()] {
                    summary { "New API token" }
                    form method="post" action="/profile/tokens" {
                        (csrf(&ui.csrf))
                        (input("Name", "name", "text", &Values::default(), &s.token, "What uses it, e.g. terraform."))
                        (checkboxes("Scopes", "scopes", &scopes, &Values::default().set("scopes", "resources:read"), &s.token, ""))
                        (input("Expires after (days)", "days", "number", &Values::default(), &s.token, "Empty: never."))
                        (select("Only for group", "group_id", &groups, &Values::default(), &s.token, Some("— all my groups —"), ""))
                        (form_errors(&s.token, &["name", "scopes", "days", "group_id"]))
                        button.primary type="submit" { "Create token" }
                    }
                }
            }
            section id="my-feed" {
                h2 { "My shifts in my calendar" }
                p.muted { "One feed of your own shifts in every rotation you are in, overrides included." }
                ul { @for f in &mine { li {
                    (f.name) " " code { (f.token_prefix) "…" } " " small.muted { "created " (ui.time(f.created_at)) } " "
                    (button(&format!("/profile/my-feeds/{}/delete", f.id), &ui.csrf, "Delete", "small link", Some("Delete this feed? Subscribed calendars stop updating.")))
                } } }
                form.row method="post" action="/profile/my-feeds" { (csrf(&ui.csrf)) button type="submit" { "Create my feed" } }
            }
            section id="calendar" {
                h2 { "Team calendar feeds" }
                p.muted { "Subscribe to a team's on-call shifts from Google Calendar, Outlook or Thunderbird." }
                @if feeds.is_empty() { p.muted { "No feeds." } }
                ul { @for f in &feeds { li {
                    (f.name) " " code { (f.token_prefix) "…" } " " small.muted { "created " (ui.time(f.created_at)) } " "
                    (button(&format!("/profile/feeds/{}/delete", f.id), &ui.csrf, "Delete", "small link", Some("Delete this feed? Subscribed calendars stop updating.")))
                } } }
                @if !teams.is_empty() {
                    form.row method="post" action="/profile/feeds" {
                        (csrf(&ui.csrf))
                        (select("Team", "team_id", &teams, &Values::default(), &none, None, ""))
                        button type="submit" { "Create feed" }
                    }
                }
            }
        },
    )
}

async fn show(ui: Ui) -> UiResult {
    page(&ui, State::default()).await
}

async fn update(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    match ui.save(&form, SPEC, api::profile::update).await? {
        Ok(_) => Ok(redirect("/profile", "ok", "Profile saved.")),
        Err(e) => page(&ui, State { profile: Some((form.values(), e)), ..Default::default() }).await,
    }
}

async fn password(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    // Passwords are taken as typed (no trimming).
    let body = serde_json::json!({
        "old_password": form.get("old_password").unwrap_or(""),
        "new_password": form.get("new_password").unwrap_or(""),
    });
    match ui.save_value(body, api::profile::change_password).await? {
        Ok(_) => Ok(redirect("/profile", "ok", "Password changed. Your other sessions were logged out.")),
        Err(e) => page(&ui, State { password: e, ..Default::default() }).await,
    }
}

async fn create_token(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let spec = [("name", Kind::Text), ("scopes", Kind::List), ("days", Kind::Int), ("group_id", Kind::Int)];
    match ui.save(&form, &spec, api::profile::create_token).await? {
        Ok(t) => {
            let raw = t["token"].as_str().unwrap_or("").to_string();
            let notice = secret("Your new API token — shown only now. Copy it:", "new-token", &raw);
            page(&ui, State { notice: Some(notice), ..Default::default() }).await
        }
        Err(e) => page(&ui, State { token: e, ..Default::default() }).await,
    }
}

async fn delete_token(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let r = api::profile::delete_token(ui.st.clone(), ui.caller.clone(), web::Path::from(id.into_inner())).await;
    deleted(r, "/profile#tokens", "Token revoked.", "/profile#tokens")
}

async fn create_feed(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    match ui.save(&form, &[("team_id", Kind::Int)], api::calendar::create_feed).await? {
        Ok(f) => {
            let url = f["url"].as_str().unwrap_or("").to_string();
            let notice =
                secret("Calendar feed URL — shown only now. Subscribe to it in your calendar:", "feed-url", &url);
            page(&ui, State { notice: Some(notice), ..Default::default() }).await
        }
        Err(e) => Ok(redirect("/profile#calendar", "error", &first_error(&e))),
    }
}

async fn create_method(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    const SPEC: &[(&str, Kind)] =
        &[("type", Kind::Text), ("value", Kind::Text), ("secret", Kind::Text), ("label", Kind::Text)];
    Ok(match ui.save(&form, SPEC, api::contacts::create).await? {
        Ok(_) => redirect("/profile#notifications", "ok", "Method added. Send it a test to verify it."),
        Err(e) => redirect("/profile#notifications", "error", &first_error(&e)),
    })
}

async fn test_method(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    Ok(match api::contacts::test(ui.st.clone(), ui.caller.clone(), web::Path::from(id.into_inner())).await {
        Ok(t) => {
            redirect("/profile#notifications", "ok", &format!("Test sent ({}): the method is verified.", t.0.detail))
        }
        Err(e) => redirect("/profile#notifications", "error", &e.to_string()),
    })
}

async fn delete_method(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let r = api::contacts::delete(ui.st.clone(), ui.caller.clone(), web::Path::from(id.into_inner())).await;
    deleted(r, "/profile#notifications", "Method deleted.", "/profile#notifications")
}

async fn create_rule(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let minutes = form.get("minutes").and_then(|m| m.trim().parse::<i64>().ok()).unwrap_or(0);
    let severities: Vec<crate::domain::alert::Severity> =
        form.all("severities").iter().filter_map(|s| crate::domain::alert::Severity::parse(s)).collect();
    let body = crate::store::contacts::RuleInput {
        contact_method_id: form.get("contact_method_id").and_then(|m| m.parse().ok()),
        delay_seconds: Some(minutes * 60),
        severities: Some(severities),
    };
    Ok(match api::contacts::create_rule(ui.st.clone(), ui.caller.clone(), crate::http::json::Body(body)).await {
        Ok(_) => redirect("/profile#notifications", "ok", "Rule added."),
        Err(e) => redirect("/profile#notifications", "error", &e.to_string()),
    })
}

async fn delete_rule(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let r = api::contacts::delete_rule(ui.st.clone(), ui.caller.clone(), web::Path::from(id.into_inner())).await;
    deleted(r, "/profile#notifications", "Rule deleted.", "/profile#notifications")
}

async fn create_my_feed(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let body = crate::http::json::Body(crate::store::calendar::PersonalFeedInput::default());
    let f = crate::http::ui::json_of(api::profile::create_feed(ui.st.clone(), ui.caller.clone(), body).await?).await;
    let url = f["url"].as_str().unwrap_or("").to_string();
    let notice = secret("Your feed's URL — shown only now. Subscribe to it in your calendar:", "feed-url", &url);
    page(&ui, State { notice: Some(notice), ..Default::default() }).await
}

async fn delete_my_feed(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let r = api::profile::delete_feed(ui.st.clone(), ui.caller.clone(), web::Path::from(id.into_inner())).await;
    deleted(r, "/profile#my-feed", "Feed deleted.", "/profile#my-feed")
}

async fn delete_feed(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let r = api::calendar::delete_feed(ui.st.clone(), ui.caller.clone(), web::Path::from(id.into_inner())).await;
    deleted(r, "/profile#calendar", "Feed deleted.", "/profile#calendar")
}
