//! Mattermost: incoming-webhook mode, or Bot API mode with Acknowledge/Resolve buttons.

use serde::{Deserialize, Serialize};

use super::{require_text, require_url};
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["webhook_url", "bot_token", "callback_secret"];

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
    /// Server base URL for bot mode, e.g. `https://mattermost.example.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// Key for signing button contexts; the installation secret is used when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_secret: Option<String>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        match self.mode {
            Mode::Webhook => require_url(p, "webhook_url", &self.webhook_url),
            Mode::BotApi => {
                require_url(p, "api_url", &self.api_url);
                require_text(p, "bot_token", &self.bot_token);
                require_text(p, "channel_id", &self.channel_id);
            }
        }
    }
}
