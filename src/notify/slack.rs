//! Slack: incoming webhook (Block Kit), or Bot mode (`chat.postMessage` with buttons,
//! `chat.update` on ack/resolve, signed interactivity callbacks).

use serde::{Deserialize, Serialize};

use super::{require_text, require_url};
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["webhook_url", "bot_token", "signing_secret"];
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Webhook,
    BotApi,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        match self.mode {
            Mode::Webhook => require_url(p, "webhook_url", &self.webhook_url),
            Mode::BotApi => {
                require_text(p, "bot_token", &self.bot_token);
                require_text(p, "channel_id", &self.channel_id);
                require_text(p, "signing_secret", &self.signing_secret);
                if let Some(u) = &self.api_url {
                    p.url("api_url", u);
                }
            }
        }
    }
}
