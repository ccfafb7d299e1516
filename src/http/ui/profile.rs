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
                    (form_errors(&e, &["display_name", "email", "phone", "telegram_user_id", "slack_user_id", "mattermost_user_id", "time_zone"]))
                    button.primary type="submit" { "Save" }
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
