//! Sending to a person's own contact method. Most types reuse a channel type with settings
//! made from the method (its value, its secret) and the installation's (`telegram.bot_token`,
//! `phone.*`); SMS has its own small sender here. Personal messages carry links, never chat
//! buttons (those belong to a team's channel).

use serde_json::{Value, json};

use super::text::{headline, status_line};
use super::{ChannelKind, Env, NotifyError, Sent};
use crate::config::Config;
use crate::domain::contact::{MethodType, ntfy_parts};
use crate::domain::message::Message;
use crate::store::contacts::ContactMethod;

/// How a method is sent: as a channel type with its settings, or as an SMS.
pub enum Route {
    Channel(ChannelKind, Value),
    Sms(Value),
}

/// The phone provider's settings as a voice channel's configuration, if one is configured.
pub fn phone(config: &Config) -> Result<Value, NotifyError> {
    let p = &config.phone;
    let provider = p.provider.as_deref().ok_or_else(|| {
        NotifyError::Permanent("no phone provider: set phone.provider (and its settings) in the configuration".into())
    })?;
    Ok(json!({
        "provider": provider, "url": p.url, "secret": p.secret, "account_sid": p.account_sid,
        "auth_token": p.auth_token, "from_number": p.from_number, "api_url": p.api_url,
    }))
}

/// How to send to `m` with the installation's `config`.
pub fn route(m: &ContactMethod, config: &Config) -> Result<Route, NotifyError> {
    let secret = m.secret.clone();
    Ok(match m.method_type {
        MethodType::Email => {
            if config.smtp.host.is_none() {
                return Err(NotifyError::Permanent("no mail server: set smtp.host in the configuration".into()));
            }
            Route::Channel(ChannelKind::Email, json!({"recipients": [m.value], "include_assignee": false}))
        }
        MethodType::Webhook => Route::Channel(ChannelKind::Webhook, json!({"webhook_url": m.value, "secret": secret})),
        MethodType::Gotify => Route::Channel(ChannelKind::Gotify, json!({"server_url": m.value, "app_token": secret})),
        MethodType::Ntfy => {
            let (server, topic) =
                ntfy_parts(&m.value).ok_or_else(|| NotifyError::Permanent("not an ntfy topic URL".into()))?;
            Route::Channel(ChannelKind::Ntfy, json!({"server_url": server, "topic": topic, "access_token": secret}))
        }
        MethodType::Telegram => {
            let token = config.telegram.bot_token.clone().ok_or_else(|| {
                NotifyError::Permanent("no Telegram bot: set telegram.bot_token in the configuration".into())
            })?;
            Route::Channel(
                ChannelKind::Telegram,
                json!({"bot_token": token, "chat_id": m.value, "api_url": config.telegram.api_url, "actions_enabled": false}),
            )
        }
        MethodType::Voice => Route::Channel(ChannelKind::Voice, phone(config)?),
        MethodType::Sms => Route::Sms(phone(config)?),
    })
}

/// The text of an SMS: headline, state, and the alert's page.
pub fn sms_text(msg: &Message) -> String {
    let mut t = format!("{}\n{}\n{}", headline(msg), status_line(msg), msg.links.alert);
    if t.chars().count() > 600 {
        t = t.chars().take(600).collect();
    }
    t
}

/// Sends an SMS to `to` through the phone provider (`phone` as a voice channel's settings).
pub fn send_sms(phone: &Value, env: &Env<'_>, msg: &Message, to: &str) -> Result<Sent, NotifyError> {
    let cfg: super::voice::Config =
        serde_json::from_value(phone.clone()).map_err(|e| NotifyError::Permanent(format!("phone settings: {e}")))?;
    let text = sms_text(msg);
    match cfg.provider {
        super::voice::Provider::Http => {
            let url = cfg.url.as_deref().ok_or_else(|| NotifyError::Permanent("phone.url is not set".into()))?;
            let body = json!({"type": "sms", "to": to, "text": text, "message_id": msg.message_id});
            let r = super::voice::http_post(&cfg, env, url, &body, msg.timestamp.secs())?;
            let id = r.json()["message_id"].as_str().map(str::to_string);
            Ok(Sent { detail: "SMS requested".into(), external_id: id })
        }
        super::voice::Provider::Twilio => {
            let form = [("To", to), ("From", cfg.from_number.as_deref().unwrap_or("")), ("Body", text.as_str())];
            let id = super::voice::twilio_post(&cfg, env, "Messages", &form)?;
            Ok(Sent { detail: format!("SMS sent ({})", id.as_deref().unwrap_or("no sid")), external_id: id })
        }
    }
}

/// Sends `msg` to the method `m`. A voice call or SMS goes to the method's number.
pub fn send(m: &ContactMethod, config: &Config, env: &Env<'_>, msg: &Message) -> Result<Sent, NotifyError> {
    match route(m, config)? {
        Route::Sms(phone) => send_sms(&phone, env, msg, &m.value),
        Route::Channel(kind, settings) => {
            let mut msg = msg.clone();
            if m.method_type == MethodType::Voice {
                let mut who = msg.assignee.clone().unwrap_or_default();
                who.phone = Some(m.value.clone());
                msg.assignee = Some(who);
            }
            let settings = kind.check_config(&settings).map_err(|errs| {
                let why: Vec<String> = errs.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
                NotifyError::Permanent(format!("the method's settings: {}", why.join("; ")))
            })?;
            kind.send(&settings, env, &msg, None)
        }
    }
}

/// What the deliveries table and the timeline call a personal delivery: "voice call to alice
/// (+4930…)".
pub fn target(m: &ContactMethod, username: &str) -> String {
    let what = match m.method_type {
        MethodType::Voice => "voice call",
        MethodType::Sms => "SMS",
        MethodType::Email => "e-mail",
        MethodType::Telegram => "Telegram message",
        MethodType::Ntfy => "ntfy push",
        MethodType::Gotify => "Gotify push",
        MethodType::Webhook => "webhook",
    };
    format!("{what} to {username} ({})", m.value)
}
