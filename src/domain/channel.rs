//! Channels as the domain sees them: the kinds there are, what a request to create or change
//! one says, and the checked settings the store keeps. What each kind's `config` holds, and
//! sending, is `notify/` (one file per kind).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::alert::Severity;
use super::validate::{FieldError, Problems};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Mattermost,
    Slack,
    Telegram,
    Discord,
    Teams,
    Email,
    Webhook,
    Incidentio,
    Voice,
    Ntfy,
    Gotify,
    Log,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 12] = [
        ChannelKind::Mattermost,
        ChannelKind::Slack,
        ChannelKind::Telegram,
        ChannelKind::Discord,
        ChannelKind::Teams,
        ChannelKind::Email,
        ChannelKind::Webhook,
        ChannelKind::Incidentio,
        ChannelKind::Voice,
        ChannelKind::Ntfy,
        ChannelKind::Gotify,
        ChannelKind::Log,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Mattermost => "mattermost",
            ChannelKind::Slack => "slack",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Discord => "discord",
            ChannelKind::Teams => "teams",
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Incidentio => "incidentio",
            ChannelKind::Voice => "voice",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Gotify => "gotify",
            ChannelKind::Log => "log",
        }
    }

    /// What people call it (UI, docs headings).
    pub fn label(self) -> &'static str {
        match self {
            ChannelKind::Mattermost => "Mattermost",
            ChannelKind::Slack => "Slack",
            ChannelKind::Telegram => "Telegram",
            ChannelKind::Discord => "Discord",
            ChannelKind::Teams => "Microsoft Teams",
            ChannelKind::Email => "E-mail",
            ChannelKind::Webhook => "Webhook",
            ChannelKind::Incidentio => "incident.io",
            ChannelKind::Voice => "Voice calls",
            ChannelKind::Ntfy => "ntfy (phone push)",
            ChannelKind::Gotify => "Gotify (phone push)",
            ChannelKind::Log => "Log (to try things out)",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Body of `POST /api/channels` (`team_id`, `name`, `channel_type`, `config` required) and
/// `PUT /api/channels/{id}` (a partial `config` is merged into the stored one).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ChannelInput {
    pub team_id: Option<i64>,
    pub name: Option<String>,
    pub channel_type: Option<String>,
    pub config: Option<Value>,
    pub notify_on_severities: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// A channel's checked settings, as the store writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSpec {
    pub name: String,
    pub channel_type: ChannelKind,
    /// Checked and normalised by the kind's notifier (secrets in clear).
    pub config: Value,
    pub notify_on_severities: Vec<Severity>,
    pub enabled: bool,
}

impl ChannelSpec {
    /// Applies `input` to `current` (a new channel when `None`): name, kind, severities and
    /// enabled are checked here; the config is left as given, for the kind's notifier to merge
    /// and check. Returns the spec and the config the input gives (if any).
    pub fn apply(
        current: Option<&ChannelSpec>,
        input: ChannelInput,
    ) -> Result<(ChannelSpec, Option<Value>), Vec<FieldError>> {
        if current.is_none() {
            let mut p = Problems::new();
            p.required(input.name.as_ref(), "name");
            p.required(input.channel_type.as_ref(), "channel_type");
            p.required(input.config.as_ref(), "config");
            p.finish()?;
        }
        let mut p = Problems::new();
        let mut spec = current.cloned().unwrap_or(ChannelSpec {
            name: String::new(),
            channel_type: ChannelKind::Webhook,
            config: Value::Object(Default::default()),
            notify_on_severities: Vec::new(),
            enabled: true,
        });
        if let Some(v) = input.name {
            spec.name = v.trim().to_string();
        }
        if let Some(v) = input.enabled {
            spec.enabled = v;
        }
        if let Some(t) = input.channel_type {
            match ChannelKind::parse(t.trim()) {
                Some(k) => spec.channel_type = k,
                None => p.add(
                    "channel_type",
                    format!(
                        "unknown channel type; expected one of {}",
                        ChannelKind::ALL.map(ChannelKind::as_str).join(", ")
                    ),
                ),
            }
        }
        if let Some(list) = input.notify_on_severities {
            let mut out = Vec::new();
            for (i, s) in list.iter().enumerate() {
                match Severity::parse(s) {
                    Some(sev) if !out.contains(&sev) => out.push(sev),
                    Some(_) => {}
                    None => p.add(format!("notify_on_severities[{i}]"), "must be one of critical, high, warning, info"),
                }
            }
            spec.notify_on_severities = out;
        }
        p.name("name", &spec.name, 200);
        let kind_changed = current.is_some_and(|c| c.channel_type != spec.channel_type);
        if kind_changed && input.config.is_none() {
            p.add("config", "is required when channel_type changes");
        }
        p.finish()?;
        Ok((spec, input.config))
    }
}
