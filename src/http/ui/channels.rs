//! Channels: where pages are delivered. One form per channel type: the configuration as JSON
//! with that type's fields, an example and help; secrets come back masked and are kept when
//! sent back unchanged. A test button sends a real message and shows the provider's answer.

use actix_web::web;
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{
    Errors, Form, Kind, Values, button, checkbox, checkboxes, csrf, form_errors, human, input, required, rich, select,
    settings, textarea,
};
use super::layout::{First, empty_list};
use super::teams::team_options;
use super::{Ui, UiResult, deleted, json_of, redirect};
use crate::domain::access::Role;
use crate::domain::alert::Severity;
use crate::http::api::{self, TeamFilter};
use crate::http::json::Query;
use crate::notify::ChannelKind;
use crate::store::channels::Channel;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/channels", web::get().to(list));
    cfg.route("/channels", web::post().to(create));
    cfg.route("/channels/{id}", web::get().to(detail));
    cfg.route("/channels/{id}", web::post().to(update));
    cfg.route("/channels/{id}/delete", web::post().to(delete));
    cfg.route("/channels/{id}/test", web::post().to(test));
}

/// The fields besides the configuration (built by [`config_of`]).
const SPEC: &[(&str, Kind)] = &[
    ("team_id", Kind::Int),
    ("name", Kind::Text),
    ("channel_type", Kind::Text),
    ("notify_on_severities", Kind::List),
    ("enabled", Kind::Check),
];

/// How a configuration field is edited.
#[derive(Debug, Clone, PartialEq)]
enum Input {
    Text,
    Check,
    Choice(Vec<String>),
    Lines,
    Json,
}

/// A field of a channel type's configuration, from its JSON Schema.
struct ConfigField {
    name: String,
    input: Input,
    help: String,
    default: Option<serde_json::Value>,
    secret: bool,
}

fn config_fields(kind: ChannelKind) -> Vec<ConfigField> {
    let schema = kind.config_schema();
    let defs = schema["$defs"].clone();
    let mut out = Vec::new();
    if let Some(props) = schema["properties"].as_object() {
        for (name, p) in props {
            let resolved = match p["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
                Some(def) => defs[def].clone(),
                None => p.clone(),
            };
            let types: Vec<&str> = match &resolved["type"] {
                serde_json::Value::String(t) => vec![t.as_str()],
                serde_json::Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).collect(),
                _ => vec![],
            };
            let input = if let Some(options) = resolved["enum"].as_array() {
                Input::Choice(options.iter().filter_map(|o| o.as_str().map(String::from)).collect())
            } else if types.contains(&"boolean") {
                Input::Check
            } else if types.contains(&"array") {
                Input::Lines
            } else if types.contains(&"object") {
                Input::Json
            } else {
                Input::Text
            };
            out.push(ConfigField {
                name: name.clone(),
                input,
                help: p["description"].as_str().or(resolved["description"].as_str()).unwrap_or("").to_string(),
                default: p.get("default").cloned(),
                secret: kind.secret_keys().contains(&name.as_str()),
            });
        }
    }
    // Choices (modes, providers) first, overrides of API base URLs last.
    out.sort_by_key(|f| (!matches!(f.input, Input::Choice(_)), f.name.ends_with("api_url"), f.input == Input::Check));
    out
}

/// Form values for a stored (masked) configuration, as `config.<field>`.
fn config_values(v: Values, config: &serde_json::Value) -> Values {
    let mut v = v;
    for (k, vals) in Values::of(config).0 {
        v.0.insert(format!("config.{k}"), vals);
    }
    v
}

/// The inputs of a channel type's configuration.
fn config_inputs(kind: ChannelKind, v: &Values, e: &Errors, new: bool) -> Markup {
    html! {
        fieldset.field {
            legend { "Settings for " (kind.label()) }
            p.help { (rich(kind.guide())) }
            @for f in config_fields(kind) {
                @let name = format!("config.{}", f.name);
                @let label = human(&f.name);
                @let shown = if new && v.get(&name).is_empty() {
                    match &f.default { Some(serde_json::Value::String(s)) => s.clone(), Some(serde_json::Value::Bool(b)) => b.to_string(), _ => String::new() }
                } else { v.get(&name).to_string() };
                @match &f.input {
                    Input::Choice(options) => {
                        @let opts: Vec<(String, String)> = options.iter().map(|o| (o.clone(), o.clone())).collect();
                        (select(&label, &name, &opts, &Values::default().set(&name, &shown), e, None, &f.help))
                    }
                    Input::Check => (checkbox(&label, &name, shown == "true", &f.help)),
                    Input::Lines => (textarea(&label, &name, &v.lines(&name), 3, e, &f.help)),
                    Input::Json => (textarea(&label, &name, &shown, 3, e, &format!("{} (JSON object)", f.help))),
                    Input::Text => (input(&label, &name, if f.secret { "password" } else { "text" }, &Values::default().set(&name, &shown), e,
                        &if f.secret && !new { format!("{} Shown masked; leave it as it is to keep the stored value.", f.help) } else { f.help.clone() })),
                }
            }
        }
    }
}

/// The `config` object of a posted form. Empty fields are left out of a new channel and
/// cleared (`null`) on an existing one.
fn config_of(kind: ChannelKind, form: &Form, new: bool) -> Result<serde_json::Value, Errors> {
    let mut out = serde_json::Map::new();
    let mut errors = Errors::new();
    let empty = || if new { None } else { Some(serde_json::Value::Null) };
    for f in config_fields(kind) {
        let name = format!("config.{}", f.name);
        let raw = form.get(&name).map(str::trim).unwrap_or("");
        let value = match f.input {
            Input::Check => {
                form.all("_checks").contains(&name.as_str()).then(|| serde_json::Value::Bool(raw == "true"))
            }
            Input::Lines => Some(serde_json::Value::Array(
                raw.split(['\n', ','])
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| serde_json::Value::String(l.into()))
                    .collect(),
            )),
            Input::Json if raw.is_empty() => empty(),
            Input::Json => match serde_json::from_str::<serde_json::Value>(raw) {
                Ok(j) => Some(j),
                Err(err) => {
                    errors.insert(name.clone(), format!("is not valid JSON: {err}"));
                    None
                }
            },
            Input::Text | Input::Choice(_) if raw.is_empty() => empty(),
            Input::Text | Input::Choice(_) => Some(serde_json::Value::String(raw.to_string())),
        };
        if let Some(v) = value {
            out.insert(f.name, v);
        }
    }
    if errors.is_empty() { Ok(serde_json::Value::Object(out)) } else { Err(errors) }
}

fn fields(kind: ChannelKind, v: &Values, e: &Errors, teams: &[(String, String)], new: bool) -> Markup {
    let kinds: Vec<(String, String)> =
        ChannelKind::ALL.iter().map(|k| (k.as_str().to_string(), k.label().to_string())).collect();
    let sev: Vec<(String, String)> =
        Severity::ALL.iter().map(|s| (s.as_str().to_string(), s.as_str().to_string())).collect();
    let shown: Vec<String> = config_fields(kind).iter().map(|f| format!("config.{}", f.name)).collect();
    let mut known: Vec<&str> = shown.iter().map(String::as_str).collect();
    known.extend(["team_id", "name", "channel_type", "notify_on_severities"]);
    html! {
        @if new { (select("Team", "team_id", teams, v, e, None, "")) }
        (required("Name", "name", v, e, ""))
        @if new {
            (select("Type", "channel_type", &kinds, v, e, None, ""))
            p.help { "Switch the settings below to: "
                @for (i, k) in ChannelKind::ALL.iter().enumerate() {
                    @if i > 0 { " · " }
                    a href={"/channels?channel_type=" (k.as_str()) "#new"} data-keep="name team_id" { (k.label()) }
                } }
        }
        (config_inputs(kind, v, e, new))
        (checkboxes("Only for severities", "notify_on_severities", &sev, v, e, "None ticked: every severity."))
        @if !new { (checkbox("Enabled", "enabled", v.checked("enabled"), "")) }
        (form_errors(e, &known))
    }
}

#[derive(Deserialize)]
struct ListQuery {
    team_id: Option<i64>,
    channel_type: Option<String>,
    /// What was typed before switching the type (kept by the page's script).
    name: Option<String>,
}

async fn list_page(ui: &Ui, team_id: Option<i64>, v: Values, e: Errors, open: bool) -> UiResult {
    let kind = ChannelKind::parse(v.get("channel_type")).unwrap_or(ChannelKind::Webhook);
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
            @if channels.is_empty() { (empty_list("channels", if teams.is_empty() { First::Team } else { First::Here })) }
            @else {
                div.table-wrap { table {
                    thead { tr { th { "Channel" } th { "Type" } th { "Severities" } th { "Enabled" } } }
                    tbody { @for c in &channels { tr {
                        td { a href={"/channels/" (c.id)} { (c.name) } }
                        td { (c.channel_type.label()) }
                        td { @if c.notify_on_severities.is_empty() { span.muted { "all" } } @else { @for s in &c.notify_on_severities { (s.as_str()) " " } } }
                        td { @if c.enabled { "yes" } @else { "no" } }
                    } } }
                } }
            }
            @if !teams.is_empty() {
                details.create id="new" open[open || channels.is_empty() || !e.is_empty()] {
                    summary { "New channel" }
                    form method="post" action="/channels" { (csrf(&ui.csrf)) (fields(kind, &v, &e, &teams, true)) button.primary type="submit" { "Create channel" } }
                }
            }
        },
    )
}

async fn list(ui: Ui, q: web::Query<ListQuery>) -> UiResult {
    let kind = q.channel_type.clone().filter(|k| ChannelKind::parse(k).is_some()).unwrap_or_else(|| "webhook".into());
    let v = Values::default()
        .set("channel_type", &kind)
        .set("team_id", &q.team_id.map(|t| t.to_string()).unwrap_or_default())
        .set("name", q.name.as_deref().unwrap_or(""));
    list_page(&ui, q.team_id, v, Errors::new(), q.channel_type.is_some()).await
}

async fn create(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let kind = ChannelKind::parse(form.get("channel_type").unwrap_or("")).unwrap_or(ChannelKind::Webhook);
    let r = match (form.json(SPEC), config_of(kind, &form, true)) {
        (Ok(mut body), Ok(config)) => {
            body["config"] = config;
            ui.save_value(body, api::channels::create).await?
        }
        (a, b) => Err(a.err().unwrap_or_default().into_iter().chain(b.err().unwrap_or_default()).collect()),
    };
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
    let (v, e) = edit.unwrap_or_else(|| {
        (config_values(Values::of(&serde_json::to_value(&c).unwrap_or_default()), &c.config), Errors::new())
    });
    let v = v.set("channel_type", c.channel_type.as_str());
    ui.form_page(
        &e,
        &c.name,
        html! {
            p.crumbs { a href="/channels" { "Channels" } " / " (c.name) }
            h1 { (c.name) }
            @for w in &c.warnings { p.flash.error role="status" { "⚠ " (w) } }
            @if editor {
                div.actions.big { (button(&format!("/channels/{id}/test"), &ui.csrf, "Send a test message", "primary", None)) }
                (settings(&ui.csrf, &format!("/channels/{id}"), fields(c.channel_type, &v, &e, &[], false), "Delete channel", "Delete this channel?"))
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
    let kind = api::channels::get(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await?.0.channel_type;
    let spec: Vec<(&str, Kind)> =
        SPEC.iter().copied().filter(|(n, _)| !matches!(*n, "channel_type" | "team_id")).collect();
    let r = match (form.json(&spec), config_of(kind, &form, false)) {
        (Ok(mut body), Ok(config)) => {
            body["config"] = config;
            ui.save_value(body, |st, who, b| api::channels::update(st, who, web::Path::from(id), b)).await?
        }
        (a, b) => Err(a.err().unwrap_or_default().into_iter().chain(b.err().unwrap_or_default()).collect()),
    };
    match r {
        Ok(_) => Ok(redirect(&format!("/channels/{id}"), "ok", "Channel saved.")),
        Err(e) => detail_page(&ui, id, Some((form.values(), e))).await,
    }
}

async fn delete(ui: Ui, id: web::Path<i64>, form: Form) -> UiResult {
    ui.verify(&form)?;
    let id = id.into_inner();
    let r = api::channels::delete(ui.st.clone(), ui.caller.clone(), web::Path::from(id)).await;
    deleted(r, "/channels", "Channel deleted.", &format!("/channels/{id}"))
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
