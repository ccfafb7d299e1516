//! The kinds of personal contact methods and what their values must look like.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a person is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MethodType {
    /// An e-mail address, through `smtp.*`.
    Email,
    /// An E.164 number, through the installation's phone provider (`phone.*`).
    Sms,
    /// An E.164 number, called through the installation's phone provider (`phone.*`).
    Voice,
    /// A Telegram chat id, through the installation's bot (`telegram.bot_token`).
    Telegram,
    /// An ntfy topic URL (`https://ntfy.sh/my-topic`), with an optional access token.
    Ntfy,
    /// A Gotify server URL, with the app token as the secret.
    Gotify,
    /// A URL, with an optional `whsec_` signing secret (signed like the webhook channel).
    Webhook,
}

impl MethodType {
    pub const ALL: [MethodType; 7] = [
        MethodType::Email,
        MethodType::Sms,
        MethodType::Voice,
        MethodType::Telegram,
        MethodType::Ntfy,
        MethodType::Gotify,
        MethodType::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MethodType::Email => "email",
            MethodType::Sms => "sms",
            MethodType::Voice => "voice",
            MethodType::Telegram => "telegram",
            MethodType::Ntfy => "ntfy",
            MethodType::Gotify => "gotify",
            MethodType::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<MethodType> {
        MethodType::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// What people call it, and what its value is.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            MethodType::Email => ("E-mail", "address"),
            MethodType::Sms => ("SMS", "phone number (E.164, +4930…)"),
            MethodType::Voice => ("Voice call", "phone number (E.164, +4930…)"),
            MethodType::Telegram => ("Telegram", "chat id"),
            MethodType::Ntfy => ("ntfy", "topic URL (https://ntfy.sh/your-topic)"),
            MethodType::Gotify => ("Gotify", "server URL (the app token is the secret)"),
            MethodType::Webhook => ("Webhook", "URL"),
        }
    }

    /// Its name in metrics, beside the channel types.
    pub fn metric_name(self) -> &'static str {
        match self {
            MethodType::Email => "personal_email",
            MethodType::Sms => "personal_sms",
            MethodType::Voice => "personal_voice",
            MethodType::Telegram => "personal_telegram",
            MethodType::Ntfy => "personal_ntfy",
            MethodType::Gotify => "personal_gotify",
            MethodType::Webhook => "personal_webhook",
        }
    }

    /// Whether the method pages by phone call (shift notices skip it).
    pub fn is_call(self) -> bool {
        self == MethodType::Voice
    }

    pub fn check_value(self, v: &str) -> Result<(), String> {
        let ok = match self {
            MethodType::Email => {
                v.len() <= 254 && v.split_once('@').is_some_and(|(a, d)| !a.is_empty() && d.contains('.'))
            }
            MethodType::Sms | MethodType::Voice => {
                v.starts_with('+') && (8..=16).contains(&v.len()) && v[1..].chars().all(|c| c.is_ascii_digit())
            }
            MethodType::Telegram => {
                !v.is_empty() && v.len() <= 64 && (v.parse::<i64>().is_ok() || (v.starts_with('@') && v.len() > 1))
            }
            MethodType::Ntfy => ntfy_parts(v).is_some(),
            MethodType::Gotify | MethodType::Webhook => crate::domain::validate::is_http_url(v),
        };
        if ok { Ok(()) } else { Err(format!("must be a {}", self.label().1)) }
    }

    pub fn check_secret(self, s: Option<&str>) -> Result<(), String> {
        match (self, s) {
            (MethodType::Gotify, None) => Err("is required: the Gotify application's token".into()),
            (MethodType::Webhook, Some(s)) if !s.starts_with("whsec_") => Err("must be a whsec_ signing secret".into()),
            (MethodType::Email | MethodType::Sms | MethodType::Voice | MethodType::Telegram, Some(_)) => {
                Err(format!("{} methods take no secret", self.label().0))
            }
            _ => Ok(()),
        }
    }
}

/// An ntfy topic URL as (server, topic): `https://ntfy.sh/ops-7f3k` → (`https://ntfy.sh`,
/// `ops-7f3k`).
pub fn ntfy_parts(url: &str) -> Option<(String, String)> {
    if !crate::domain::validate::is_http_url(url) {
        return None;
    }
    let (server, topic) = url.trim_end_matches('/').rsplit_once('/')?;
    let ok = !topic.is_empty()
        && topic.len() <= 64
        && topic.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (ok && server.contains("://") && !server.ends_with(':') && !server.ends_with('/'))
        .then(|| (server.to_string(), topic.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_per_type() {
        assert!(MethodType::Email.check_value("alice@example.com").is_ok());
        assert!(MethodType::Email.check_value("alice").is_err());
        assert!(MethodType::Sms.check_value("+4930123456").is_ok());
        assert!(MethodType::Voice.check_value("030 123").is_err());
        assert!(MethodType::Telegram.check_value("-100123").is_ok());
        assert_eq!(ntfy_parts("https://ntfy.sh/ops-7f3k"), Some(("https://ntfy.sh".into(), "ops-7f3k".into())));
        assert_eq!(
            ntfy_parts("https://ntfy.example.com/sub/ops"),
            Some(("https://ntfy.example.com/sub".into(), "ops".into()))
        );
        assert!(ntfy_parts("https://ntfy.sh/").is_none() && ntfy_parts("ftp://x/y").is_none());
        assert!(MethodType::Gotify.check_secret(None).is_err());
        assert!(MethodType::Webhook.check_secret(Some("plain")).is_err());
        assert!(MethodType::Email.check_secret(Some("x")).is_err());
        assert!(MethodType::ALL.iter().all(|m| MethodType::parse(m.as_str()) == Some(*m)));
    }
}
