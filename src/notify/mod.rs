//! Notification channels. Each channel lives in its own file with a config struct
//! (`deny_unknown_fields`, an overridable API base URL), a pure `render()` and `send()`.
//! Adding a channel touches three places: the file, the [`ChannelKind`] variant, the match arms.

pub mod discord;
pub mod email;
pub mod gotify;
pub mod incidentio;
pub mod log;
pub mod mattermost;
pub mod ntfy;
pub mod outbound;
pub mod personal;
pub mod slack;
pub mod teams;
pub mod telegram;
pub mod text;
pub mod voice;
pub mod webhook;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::domain::message::Message;
use crate::domain::validate::{FieldError, Problems};
pub use outbound::{NotifyError, Outbound, Reply};

/// Shown instead of a secret in API responses; sending it back keeps the stored secret.
pub const MASK: &str = "********";

pub use crate::domain::channel::ChannelKind;

impl ChannelKind {
    /// Config keys whose values are secrets (write-only).
    pub fn secret_keys(self) -> &'static [&'static str] {
        match self {
            ChannelKind::Mattermost => mattermost::SECRETS,
            ChannelKind::Slack => slack::SECRETS,
            ChannelKind::Telegram => telegram::SECRETS,
            ChannelKind::Discord => discord::SECRETS,
            ChannelKind::Teams => teams::SECRETS,
            ChannelKind::Email => email::SECRETS,
            ChannelKind::Webhook => webhook::SECRETS,
            ChannelKind::Incidentio => incidentio::SECRETS,
            ChannelKind::Voice => voice::SECRETS,
            ChannelKind::Ntfy => ntfy::SECRETS,
            ChannelKind::Gotify => gotify::SECRETS,
            ChannelKind::Log => log::SECRETS,
        }
    }

    /// Config keys that say where messages go (URLs, the provider).
    pub fn destination_keys(self) -> &'static [&'static str] {
        match self {
            ChannelKind::Mattermost => mattermost::DESTINATIONS,
            ChannelKind::Slack => slack::DESTINATIONS,
            ChannelKind::Telegram => telegram::DESTINATIONS,
            ChannelKind::Discord => discord::DESTINATIONS,
            ChannelKind::Teams => teams::DESTINATIONS,
            ChannelKind::Email => email::DESTINATIONS,
            ChannelKind::Webhook => webhook::DESTINATIONS,
            ChannelKind::Incidentio => incidentio::DESTINATIONS,
            ChannelKind::Voice => voice::DESTINATIONS,
            ChannelKind::Ntfy => ntfy::DESTINATIONS,
            ChannelKind::Gotify => gotify::DESTINATIONS,
            ChannelKind::Log => log::DESTINATIONS,
        }
    }

    /// What this type does and needs (help on the channel form).
    pub fn guide(self) -> &'static str {
        match self {
            ChannelKind::Mattermost => mattermost::GUIDE,
            ChannelKind::Slack => slack::GUIDE,
            ChannelKind::Telegram => telegram::GUIDE,
            ChannelKind::Discord => discord::GUIDE,
            ChannelKind::Teams => teams::GUIDE,
            ChannelKind::Email => email::GUIDE,
            ChannelKind::Webhook => webhook::GUIDE,
            ChannelKind::Incidentio => incidentio::GUIDE,
            ChannelKind::Voice => voice::GUIDE,
            ChannelKind::Ntfy => ntfy::GUIDE,
            ChannelKind::Gotify => gotify::GUIDE,
            ChannelKind::Log => log::GUIDE,
        }
    }

    /// The JSON Schema of this type's configuration (its fields, their doc comments as help,
    /// enums and defaults) — the web UI renders the channel form from it.
    pub fn config_schema(self) -> Value {
        let schema = match self {
            ChannelKind::Mattermost => schemars::schema_for!(mattermost::Config),
            ChannelKind::Slack => schemars::schema_for!(slack::Config),
            ChannelKind::Telegram => schemars::schema_for!(telegram::Config),
            ChannelKind::Discord => schemars::schema_for!(discord::Config),
            ChannelKind::Teams => schemars::schema_for!(teams::Config),
            ChannelKind::Email => schemars::schema_for!(email::Config),
            ChannelKind::Webhook => schemars::schema_for!(webhook::Config),
            ChannelKind::Incidentio => schemars::schema_for!(incidentio::Config),
            ChannelKind::Voice => schemars::schema_for!(voice::Config),
            ChannelKind::Ntfy => schemars::schema_for!(ntfy::Config),
            ChannelKind::Gotify => schemars::schema_for!(gotify::Config),
            ChannelKind::Log => schemars::schema_for!(log::Config),
        };
        let mut schema = serde_json::to_value(schema).unwrap_or_default();
        // A type without settings (log) still lists its (no) fields, for forms and docs.
        if let Some(obj) = schema.as_object_mut() {
            obj.entry("properties").or_insert_with(|| Value::Object(Map::new()));
        }
        schema
    }

    /// Validates a channel config; returns it normalised (as the typed struct serialises it).
    /// Errors name the field as `config.<key>`.
    pub fn check_config(self, config: &Value) -> Result<Value, Vec<FieldError>> {
        match self {
            ChannelKind::Mattermost => check::<mattermost::Config>(config, mattermost::Config::validate),
            ChannelKind::Slack => check::<slack::Config>(config, slack::Config::validate),
            ChannelKind::Telegram => check::<telegram::Config>(config, telegram::Config::validate),
            ChannelKind::Discord => check::<discord::Config>(config, discord::Config::validate),
            ChannelKind::Teams => check::<teams::Config>(config, teams::Config::validate),
            ChannelKind::Email => check::<email::Config>(config, email::Config::validate),
            ChannelKind::Webhook => check::<webhook::Config>(config, webhook::Config::validate),
            ChannelKind::Incidentio => check::<incidentio::Config>(config, incidentio::Config::validate),
            ChannelKind::Voice => check::<voice::Config>(config, voice::Config::validate),
            ChannelKind::Ntfy => check::<ntfy::Config>(config, ntfy::Config::validate),
            ChannelKind::Gotify => check::<gotify::Config>(config, gotify::Config::validate),
            ChannelKind::Log => check::<log::Config>(config, log::Config::validate),
        }
    }

    /// The config with secret values replaced by [`MASK`] (URLs keep their scheme and host).
    pub fn mask(self, config: &Value) -> Value {
        let mut out = config.clone();
        if let Value::Object(map) = &mut out {
            for key in self.secret_keys() {
                if let Some(v) = map.get_mut(*key) {
                    *v = mask_value(v);
                }
            }
        }
        out
    }

    /// The config a create or change ends with: `given` checked (a new channel, or a new kind),
    /// or merged onto `stored` and checked (see [`ChannelKind::merge`]).
    pub fn settle_config(
        self,
        stored: Option<(ChannelKind, &Value)>,
        given: Option<Value>,
    ) -> Result<Value, Vec<FieldError>> {
        let config = match (stored, given) {
            (Some((kind, old)), Some(new)) if kind == self => self.merge(old, &new)?,
            (_, Some(new)) => new,
            (Some((_, old)), None) => old.clone(),
            (None, None) => Value::Object(Map::new()),
        };
        self.check_config(&config)
    }

    /// Applies a partial config on top of the stored one: keys given replace, `null` removes,
    /// and a secret sent back masked keeps the stored value. Secrets stay with their
    /// destination: when a destination key changes (a URL, the provider), every stored secret
    /// must be entered again, or the answer names the ones that were not.
    pub fn merge(self, stored: &Value, update: &Value) -> Result<Value, Vec<FieldError>> {
        let (Value::Object(old), Value::Object(new)) = (stored, update) else {
            return Ok(update.clone());
        };
        let mut out: Map<String, Value> = old.clone();
        for (k, v) in new {
            if v.is_null() {
                out.remove(k);
            } else if self.secret_keys().contains(&k.as_str()) {
                out.insert(k.clone(), unmask(old.get(k), v));
            } else {
                out.insert(k.clone(), v.clone());
            }
        }
        let moved: Vec<&str> = self.destination_keys().iter().copied().filter(|k| old.get(*k) != out.get(*k)).collect();
        if moved.is_empty() {
            return Ok(Value::Object(out));
        }
        let kept: Vec<FieldError> = self
            .secret_keys()
            .iter()
            .filter(|k| !self.destination_keys().contains(k))
            .filter(|k| old.get(**k).is_some_and(is_set) && out.get(**k) == old.get(**k))
            .map(|k| {
                FieldError::new(
                    format!("config.{k}"),
                    format!(
                        "enter it again: config.{} changed, and a stored secret never follows a new destination",
                        moved[0]
                    ),
                )
            })
            .collect();
        if kept.is_empty() { Ok(Value::Object(out)) } else { Err(kept) }
    }
}

/// What a successful send reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sent {
    /// The provider's id of the message (for later edits), if it has one.
    pub external_id: Option<String>,
    /// A short description of the provider's answer.
    pub detail: String,
}

impl Sent {
    pub fn ok(detail: impl Into<String>) -> Sent {
        Sent { external_id: None, detail: detail.into() }
    }
}

/// What senders may use besides the channel config and the message.
pub struct Env<'a> {
    pub http: &'a Outbound,
    pub smtp: Option<&'a email::Mailer>,
    /// `server.public_base_url`, no trailing slash.
    pub base_url: &'a str,
    /// The installation secret (signs buttons and callbacks).
    pub secret: &'a [u8],
    pub channel_id: i64,
    /// The process log (the log channel writes to it).
    pub log: &'a slog::Logger,
}

impl ChannelKind {
    /// Sends `msg` through a channel of this kind. `edit` is the provider id of the message this
    /// one updates (ack/resolve), when there is one; channels that cannot edit post anew.
    pub fn send(self, config: &Value, env: &Env<'_>, msg: &Message, edit: Option<&str>) -> Result<Sent, NotifyError> {
        fn cfg<T: DeserializeOwned>(v: &Value) -> Result<T, NotifyError> {
            serde_json::from_value(v.clone())
                .map_err(|e| NotifyError::Permanent(format!("invalid channel config: {e}")))
        }
        let sent = match self {
            ChannelKind::Mattermost => mattermost::send(&cfg(config)?, env, msg, edit),
            ChannelKind::Slack => slack::send(&cfg(config)?, env, msg, edit),
            ChannelKind::Telegram => telegram::send(&cfg(config)?, env, msg, edit),
            ChannelKind::Discord => discord::send(&cfg(config)?, env, msg),
            ChannelKind::Teams => teams::send(&cfg(config)?, env, msg),
            ChannelKind::Email => email::send(&cfg(config)?, env, msg),
            ChannelKind::Webhook => webhook::send(&cfg(config)?, env, msg),
            ChannelKind::Incidentio => incidentio::send(&cfg(config)?, env, msg),
            ChannelKind::Voice => voice::send(&cfg(config)?, env, msg),
            ChannelKind::Ntfy => ntfy::send(&cfg(config)?, env, msg),
            ChannelKind::Gotify => gotify::send(&cfg(config)?, env, msg),
            ChannelKind::Log => log::send(&cfg(config)?, env, msg),
        };
        sent.map_err(|e| e.map_message(|m| self.redact(config, m)))
    }

    /// `text` with every secret of `config` masked: error texts end up in `last_error` (which
    /// viewers read), the timeline and the log, and a provider's or the HTTP library's message
    /// may quote a URL with a token in it. Secrets are matched as stored and percent-encoded.
    pub fn redact(self, config: &Value, text: &str) -> String {
        let mut secrets = Vec::new();
        for key in self.secret_keys() {
            collect_strings(config.get(*key), &mut secrets);
        }
        // Longest first, so that a secret inside another is masked as part of the longer one.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for s in secrets.iter().filter(|s| s.chars().count() >= 4) {
            for form in [s.clone(), voice::form_encode(s), s.replace(' ', "%20")] {
                if out.contains(&form) {
                    out = out.replace(&form, MASK);
                }
            }
        }
        out
    }

    /// Whether the channel edits its earlier message on ack/resolve (else it posts a follow-up).
    pub fn edits(self, config: &Value) -> bool {
        match self {
            ChannelKind::Mattermost | ChannelKind::Slack => {
                config.get("mode").and_then(Value::as_str) == Some("bot_api")
            }
            ChannelKind::Telegram => true,
            _ => false,
        }
    }
}

fn check<T: DeserializeOwned + Serialize>(
    config: &Value,
    validate: fn(&T, &mut Problems),
) -> Result<Value, Vec<FieldError>> {
    let config = if config.is_null() { Value::Object(Map::new()) } else { config.clone() };
    let typed: T = serde_path_to_error::deserialize(config).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "config".to_string() } else { format!("config.{path}") };
        vec![FieldError::new(field, e.into_inner().to_string())]
    })?;
    let mut p = Problems::new();
    validate(&typed, &mut p);
    p.finish().map_err(|errs| {
        errs.into_iter().map(|e| FieldError::new(format!("config.{}", e.field), e.message)).collect::<Vec<_>>()
    })?;
    serde_json::to_value(&typed).map_err(|e| vec![FieldError::new("config", e.to_string())])
}

/// Every string in a secret value (a token, or a map of header values).
fn collect_strings(v: Option<&Value>, out: &mut Vec<String>) {
    match v {
        Some(Value::String(s)) if !s.is_empty() => out.push(s.clone()),
        Some(Value::Object(m)) => m.values().for_each(|x| collect_strings(Some(x), out)),
        Some(Value::Array(a)) => a.iter().for_each(|x| collect_strings(Some(x), out)),
        _ => {}
    }
}

/// A secret that holds something (not null, empty text or an empty map).
fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => true,
    }
}

fn mask_value(v: &Value) -> Value {
    match v {
        Value::String(s) if s.is_empty() => Value::String(String::new()),
        Value::String(s) => {
            let rest = s
                .strip_prefix("https://")
                .map(|r| ("https://", r))
                .or_else(|| s.strip_prefix("http://").map(|r| ("http://", r)));
            match rest {
                Some((scheme, r)) => {
                    let host = r.split('/').next().unwrap_or("");
                    Value::String(format!("{scheme}{host}/{MASK}"))
                }
                None => Value::String(MASK.to_string()),
            }
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), mask_value(v))).collect()),
        Value::Null => Value::Null,
        _ => Value::String(MASK.to_string()),
    }
}

fn unmask(old: Option<&Value>, new: &Value) -> Value {
    match (old, new) {
        (Some(o), Value::String(s)) if s.contains(MASK) => o.clone(),
        (Some(Value::Object(o)), Value::Object(n)) => {
            Value::Object(n.iter().map(|(k, v)| (k.clone(), unmask(o.get(k), v))).collect())
        }
        _ => new.clone(),
    }
}

/// Shared check for URL fields.
pub(crate) fn require_url(p: &mut Problems, field: &str, v: &Option<String>) {
    match v {
        None => p.add(field, "is required"),
        Some(u) => p.url(field, u),
    }
}

/// Shared check for required text fields.
pub(crate) fn require_text(p: &mut Problems, field: &str, v: &Option<String>) {
    if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
        p.add(field, "is required");
    }
}

/// What sending needs, shared by the engine (dispatch) and the web server (channel tests).
pub struct Senders {
    pub http: Outbound,
    pub mailer: Option<email::Mailer>,
    /// `server.public_base_url`, no trailing slash.
    pub base_url: String,
    /// The installation secret.
    pub secret: Vec<u8>,
    /// The process log.
    pub log: slog::Logger,
}

/// One-click links stay valid this long.
pub const ACTION_LINK_SECS: i64 = 7 * 86_400;

impl Senders {
    pub fn env(&self, channel_id: i64) -> Env<'_> {
        Env {
            http: &self.http,
            smtp: self.mailer.as_ref(),
            base_url: &self.base_url,
            secret: &self.secret,
            channel_id,
            log: &self.log,
        }
    }

    /// The web UI page of an alert.
    pub fn alert_url(&self, alert_id: i64) -> String {
        format!("{}/alerts/{alert_id}", self.base_url)
    }

    /// A signed one-click action link for one episode of an alert.
    pub fn action_url(&self, target: crate::crypto::Target, now: crate::domain::time::Ts) -> String {
        let token = crate::crypto::action_token(&self.secret, target, now.secs() + ACTION_LINK_SECS);
        format!("{}/a/{token}", self.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_schemas_describe_the_fields() {
        for k in ChannelKind::ALL {
            let s = k.config_schema();
            let props = s["properties"].as_object().unwrap_or_else(|| panic!("{k:?} has properties"));
            for (name, p) in props {
                assert!(p["description"].is_string(), "{}.{name} has help text (a doc comment)", k.as_str());
            }
        }
        assert_eq!(
            ChannelKind::Slack.config_schema()["$defs"]["Mode"]["enum"],
            serde_json::json!(["webhook", "bot_api"])
        );
    }

    #[test]
    fn every_kind_round_trips_its_name() {
        for k in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn config_errors_name_the_field() {
        let e = ChannelKind::Slack.check_config(&json!({"webhook_url": 5})).unwrap_err();
        assert_eq!(e[0].field, "config.webhook_url");
        let e = ChannelKind::Slack.check_config(&json!({"webhook_url": "https://x", "bogus": 1})).unwrap_err();
        assert!(e[0].message.contains("bogus"), "{e:?}");
        let e = ChannelKind::Telegram.check_config(&json!({})).unwrap_err();
        let fields: Vec<_> = e.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["config.bot_token", "config.chat_id"]);
        let ok = ChannelKind::Telegram.check_config(&json!({"bot_token": "1:a", "chat_id": -100123})).unwrap();
        assert_eq!(ok["chat_id"], json!("-100123"), "numeric chat ids are kept as strings");
    }

    #[test]
    fn secrets_are_masked_and_kept_when_sent_back() {
        let stored = json!({"webhook_url": "https://hooks.slack.com/services/T/B/X"});
        let masked = ChannelKind::Slack.mask(&stored);
        assert_eq!(masked["webhook_url"], json!("https://hooks.slack.com/********"));
        assert_eq!(ChannelKind::Slack.merge(&stored, &masked), Ok(stored.clone()));
        let changed =
            ChannelKind::Slack.merge(&stored, &json!({"webhook_url": "https://hooks.slack.com/services/T/B/Y"}));
        assert_eq!(changed.unwrap()["webhook_url"], json!("https://hooks.slack.com/services/T/B/Y"));
        let hook = json!({"webhook_url": "https://x.example/h", "headers": {"Authorization": "Bearer s3cret"}});
        let masked = ChannelKind::Webhook.mask(&hook);
        assert_eq!(masked["headers"]["Authorization"], json!(MASK));
        assert_eq!(ChannelKind::Webhook.merge(&hook, &masked), Ok(hook));
    }

    #[test]
    fn errors_never_show_a_secret() {
        let tg = json!({"bot_token": "123:AB C", "chat_id": "-1"});
        let text = "network error: invalid uri https://api.telegram.org/bot123:AB C/sendMessage (bot123%3AAB+C, bot123:AB%20C)";
        let r = ChannelKind::Telegram.redact(&tg, text);
        assert!(!r.contains("AB C") && !r.contains("AB+C") && !r.contains("AB%20C"), "{r}");
        assert!(r.starts_with("network error: invalid uri https://api.telegram.org/bot********/sendMessage"), "{r}");
        let hook = json!({"webhook_url": "https://x.example/h", "headers": {"Authorization": "Bearer s3cret-value"}});
        assert_eq!(ChannelKind::Webhook.redact(&hook, "HTTP 401: bad Bearer s3cret-value"), "HTTP 401: bad ********");
        let slack = json!({"webhook_url": "https://hooks.slack.com/services/T/B/X"});
        assert_eq!(
            ChannelKind::Slack.redact(&slack, "error sending to https://hooks.slack.com/services/T/B/X: 404"),
            "error sending to ********: 404"
        );
    }

    #[test]
    fn secrets_never_follow_a_new_destination() {
        let fields = |r: Result<Value, Vec<FieldError>>| -> Vec<String> {
            r.err().unwrap_or_default().into_iter().map(|e| e.field).collect()
        };
        let tg = json!({"bot_token": "123:ABC", "chat_id": "-1"});
        assert_eq!(
            fields(ChannelKind::Telegram.merge(&tg, &json!({"api_url": "https://evil.example"}))),
            ["config.bot_token"]
        );
        let again = ChannelKind::Telegram.merge(&tg, &json!({"api_url": "https://tg.example", "bot_token": "9:NEW"}));
        assert_eq!(again.unwrap()["bot_token"], "9:NEW", "entered again: fine");
        assert!(ChannelKind::Telegram.merge(&tg, &json!({"chat_id": "-2"})).is_ok(), "same destination: kept");
        let hook = json!({"webhook_url": "https://x.example/h", "secret": "whsec_a", "headers": {"X-Key": "k"}});
        let masked = ChannelKind::Webhook.mask(&hook);
        let mut moved = masked.clone();
        moved["webhook_url"] = json!("https://evil.example/h");
        assert_eq!(fields(ChannelKind::Webhook.merge(&hook, &moved)), ["config.secret", "config.headers"]);
        let bare = json!({"webhook_url": "https://x.example/h", "headers": {}});
        assert!(
            ChannelKind::Webhook.merge(&bare, &json!({"webhook_url": "https://y.example/h"})).is_ok(),
            "no secret to keep"
        );
        let tw = json!({"provider": "twilio", "account_sid": "AC1", "auth_token": "t0k"});
        assert_eq!(
            fields(ChannelKind::Voice.merge(&tw, &json!({"api_url": "https://evil.example"}))),
            ["config.auth_token"]
        );
    }
}
