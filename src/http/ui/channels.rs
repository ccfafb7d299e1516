//! Channels: where pages are delivered. One form per channel type: the configuration as JSON
//! with that type's fields, an example and help; secrets come back masked and are kept when
//! sent back unchanged. A test button sends a real message and shows the provider's answer.

use actix_web::web;
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{
    Errors, Form, Kind, Values, button, checkbox, checkboxes, csrf, form_errors, required, select, settings, textarea,
};
use super::teams::team_options;
use super::{Ui, UiResult, json, json_of, redirect, resp, save};
use crate::domain::access::Role;
use crate::http::api::{self, TeamFilter};
use crate::http::json::{Body, Query};
use crate::notify::ChannelKind;
use crate::store::channels::{Channel, ChannelInput};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/channels", web::get().to(list));
    cfg.route("/channels", web::post().to(create));
    cfg.route("/channels/{id}", web::get().to(detail));
    cfg.route("/channels/{id}", web::post().to(update));
    cfg.route("/channels/{id}/delete", web::post().to(delete));
    cfg.route("/channels/{id}/test", web::post().to(test));
}

const SPEC: &[(&str, Kind)] = &[
    ("team_id", Kind::Int),
    ("name", Kind::Text),
    ("channel_type", Kind::Text),
    ("config", Kind::Json),
    ("notify_on_severities", Kind::List),
    ("enabled", Kind::Check),
];

/// An example configuration and what the fields mean, per channel type.
pub fn guide(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "mattermost" => (
            r#"{"webhook_url": "https://chat.example.com/hooks/xxxxxxxx"}"#,
            r#"Incoming webhook: webhook_url. Bot mode with Acknowledge/Resolve buttons and edited posts: {"mode": "bot_api", "api_url": "https://chat.example.com", "bot_token": "…", "channel_id": "…"}; link users by their Mattermost user id in their profile."#,
        ),
        "slack" => (
            r#"{"webhook_url": "https://hooks.slack.com/services/T000/B000/XXXX"}"#,
            r#"Incoming webhook (Block Kit): webhook_url. Bot mode with buttons and chat.update: {"mode": "bot_api", "bot_token": "xoxb-…", "channel_id": "C0123", "signing_secret": "…"}; set the app's interactivity URL to <base>/api/integrations/slack/actions."#,
        ),
        "telegram" => (
            r#"{"bot_token": "123456:ABC-DEF", "chat_id": "-1001234567890"}"#,
            r#"Bot API sendMessage with Acknowledge/Resolve/Open buttons. "updates": "polling" (default, no public URL needed) or "webhook"; "actions_enabled": false for read-only messages."#,
        ),
        "discord" => (
            r#"{"webhook_url": "https://discord.com/api/webhooks/123/abc"}"#,
            "Channel webhook; embeds with severity colours.",
        ),
        "teams" => (
            r#"{"webhook_url": "https://prod-00.westeurope.logic.azure.com/workflows/…"}"#,
            r#"Workflows (Power Automate) webhook with an Adaptive Card; "format": "message_card" for a legacy Office 365 connector."#,
        ),
        "email" => (
            r#"{"recipients": ["oncall@example.com"], "include_assignee": true}"#,
            "Sent through the server's [smtp] settings (check them with `incidentrelay send-test-email --to you@example.com`). include_assignee adds the paged user's address.",
        ),
        "webhook" => (
            r#"{"webhook_url": "https://automation.example.com/hook", "secret": "whsec_…", "headers": {"X-Env": "prod"}}"#,
            "JSON with event, alert, team, assignee and links; signed with Standard Webhooks headers when secret is set.",
        ),
        "incidentio" => (
            r#"{"api_token": "…", "alert_source_config_id": "01H…", "metadata": {"env": "prod"}}"#,
            "incident.io alert events API (HTTP alert source): firing and resolved events with deduplication_key.",
        ),
        "voice" => (
            r#"{"provider": "twilio", "account_sid": "AC…", "auth_token": "…", "from_number": "+15550001111"}"#,
            r#"Calls the paged user's phone. Twilio (TwiML Say + Gather: 1 acknowledges, 2 resolves), or {"provider": "http", "url": "https://gateway.example/call", "secret": "…"} for a generic gateway posting signed callbacks to <base>/api/integrations/voice/<channel id>/callback."#,
        ),
        _ => ("{}", ""),
    }
}

fn fields(v: &Values, e: &Errors, teams: &[(String, String)], new: bool) -> Markup {
    let kinds: Vec<(String, String)> =
        ChannelKind::ALL.iter().map(|k| (k.as_str().to_string(), k.as_str().to_string())).collect();
    let sev: Vec<(String, String)> =
        ["critical", "high", "warning", "info"].iter().map(|s| (s.to_string(), s.to_string())).collect();
    let kind = v.get("channel_type");
    let (example, help) = guide(kind);
    html! {
        @if new { (select("Team", "team_id", teams, v, e, None, "")) }
        (required("Name", "name", v, e, ""))
        @if new {
            (select("Type", "channel_type", &kinds, v, e, None, ""))
            p.help { "Start from a type's example: "
                @for k in ChannelKind::ALL { a href={"/channels?channel_type=" (k.as_str()) "#new"} data-example-for=(k.as_str()) data-example=(guide(k.as_str()).0) { (k.as_str()) } " " } }
        }
        @else { p { "Type: " strong { (kind) } } }
        (textarea("Configuration (JSON)", "config", v.get("config"), 6, e, help))
        @if new { details { summary { "Examples for every type" } dl { @for k in ChannelKind::ALL { dt { code { (k.as_str()) } } dd { code { (guide(k.as_str()).0) } br; small.help { (guide(k.as_str()).1) } } } } } }
        @else if !example.is_empty() { small.help { "Example: " code { (example) } } }
        (checkboxes("Only for severities", "notify_on_severities", &sev, v, e, "None ticked: every severity."))
        @if !new { (checkbox("Enabled", "enabled", v.checked("enabled"), "")) }
        (form_errors(e, &["team_id", "name", "channel_type", "config", "notify_on_severities"]))
    }
}

#[derive(Deserialize)]
struct ListQuery {
    team_id: Option<i64>,
    channel_type: Option<String>,
}

async fn list_page(ui: &Ui, team_id: Option<i64>, v: Values, e: Errors, open: bool) -> UiResult {
    let channels: Vec<Channel> = api::channels::list(ui.st.clone(), ui.caller.clone(), Query(TeamFilter { team_id }))
        .await?
        .0
        .into_iter()
        .filter(|c| ui.shows(c.group_id))
        .collect();
    let teams = team_options(ui, Role::Editor).await?;
    ui.form_page(
        &e,
        "Channels",
        html! {
            h1 { "Channels" }
            p.muted { "Channels say where to deliver; routes decide who is paged and through which channels." }
            @if channels.is_empty() { p.empty { "No channels yet." } }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Channel" } th { "Type" } th { "Severities" } th { "Enabled" } } }
                    tbody { @for c in &channels { tr {
                        td { a href={"/channels/" (c.id)} { (c.name) } }
                        td { (c.channel_type.as_str()) }
                        td { @if c.notify_on_severities.is_empty() { span.muted { "all" } } @else { @for s in &c.notify_on_severities { (s.as_str()) " " } } }
                        td { @if c.enabled { "yes" } @else { "no" } }
                    } } }
                } }
            }
            @if !teams.is_empty() {
                details.create id="new" open[open || !e.is_empty()] {
                    summary { "New channel" }
                    form method="post" action="/channels" { (csrf(&ui.csrf)) (fields(&v, &e, &teams, true)) button.primary type="submit" { "Create channel" } }
                }
            }
        },
    )
}

async fn list(ui: Ui, q: web::Query<ListQuery>) -> UiResult {
    let kind = q.channel_type.clone().filter(|k| ChannelKind::parse(k).is_some()).unwrap_or_else(|| "webhook".into());
    let v = Values::default()
        .set("channel_type", &kind)
        .set("config", guide(&kind).0)
        .set("team_id", &q.team_id.map(|t| t.to_string()).unwrap_or_default());
    list_page(&ui, q.team_id, v, Errors::new(), q.channel_type.is_some()).await
}

async fn create(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let (st, caller) = (ui.st.clone(), ui.caller.clone());
    let r = save(
        &form,
        SPEC,
        |b: ChannelInput| async move { resp(api::channels::create(st, caller, Body(b)).await).await },
    )
    .await?;
    match r {
        Ok(c) => {
            Ok(redirect(&format!("/channels/{}", c["id"]), "ok", "Channel created. Send a test message to check it."))
        }
        Err(e) => list_page(&ui, None, form.values(), e, true).await,
    }
}

async fn detail_page(ui: &Ui, id: i64, edit: Option<(Values, Errors)>) -> UiResult {
    let c = api::channels::get(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0;
    let editor = ui.can(c.group_id, Role::Editor);
    let (v, e) = edit.unwrap_or_else(|| (Values::of(&serde_json::to_value(&c).unwrap_or_default()), Errors::new()));
    let v = v.set("channel_type", c.channel_type.as_str());
    ui.form_page(
        &e,
        &c.name,
        html! {
            p.crumbs { a href="/channels" { "Channels" } " / " (c.name) }
            h1 { (c.name) }
            @if editor {
                div.actions.big { (button(&format!("/channels/{id}/test"), &ui.csrf, "Send a test message", "primary", None)) }
                (settings(&ui.csrf, &format!("/channels/{id}"), fields(&v, &e, &[], false), "Delete channel", "Delete this channel?"))
            } @else {
                p { "Type " strong { (c.channel_type.as_str()) } }
                pre { (serde_json::to_string_pretty(&c.config).unwrap_or_default()) }
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
    let (st, caller) = (ui.st.clone(), ui.caller.clone());
    let spec: Vec<(&str, Kind)> =
        SPEC.iter().copied().filter(|(n, _)| *n != "channel_type" && *n != "team_id").collect();
    let r = save(&form, &spec, |b: ChannelInput| async move {
        json(api::channels::update(st, caller, web::Path::from(id), Body(b)).await)
    })
    .await?;
    match r {
        Ok(_) => Ok(redirect(&format!("/channels/{id}"), "ok", "Channel saved.")),
        Err(e) => detail_page(&ui, id, Some((form.values(), e))).await,
    }
}

async fn delete(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    match api::channels::delete(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await {
        Ok(_) => Ok(redirect("/channels", "ok", "Channel deleted.")),
        Err(e) => Ok(redirect(&format!("/channels/{id}"), "error", &e.body().message)),
    }
}

async fn test(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let to = format!("/channels/{id}");
    Ok(match api::channels::test(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await {
        Ok(r) => {
            let v = json_of(r).await;
            redirect(&to, "ok", &format!("Test message sent: {}", v["detail"].as_str().unwrap_or("accepted")))
        }
        Err(e) => redirect(&to, "error", &format!("The test failed: {}", e.body().message)),
    })
}
