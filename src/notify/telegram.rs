//! Telegram: Bot API `sendMessage` (HTML) with an inline keyboard; `editMessageText` on
//! ack/resolve; button callbacks by webhook or long polling.

use serde::{Deserialize, Deserializer, Serialize};

use super::require_text;
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["bot_token"];
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Updates {
    /// `POST /api/integrations/telegram/{channel_id}` receives button presses (needs a public URL).
    Webhook,
    /// IncidentRelay polls `getUpdates` (works without a public URL).
    #[default]
    Polling,
}

fn default_true() -> bool {
    true
}

/// Chat ids are numbers for groups (`-100…`) or `@channelname`; keep them as strings.
fn chat_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        N(i64),
        S(String),
    }
    Ok(Option::<Id>::deserialize(d)?.map(|id| match id {
        Id::N(n) => n.to_string(),
        Id::S(s) => s,
    }))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    #[serde(default, deserialize_with = "chat_id", skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(default = "default_true")]
    pub actions_enabled: bool,
    #[serde(default)]
    pub updates: Updates,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        require_text(p, "bot_token", &self.bot_token);
        require_text(p, "chat_id", &self.chat_id);
        if let Some(u) = &self.api_url {
            p.url("api_url", u);
        }
    }
}
