//! incident.io: alert events API (`POST /v2/alert_events/http/{alert_source_config_id}`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::require_text;
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["api_token"];
pub const DEFAULT_API_URL: &str = "https://api.incident.io";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_source_config_id: Option<String>,
    /// Merged into every event's `metadata`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        require_text(p, "api_token", &self.api_token);
        require_text(p, "alert_source_config_id", &self.alert_source_config_id);
        if let Some(u) = &self.api_url {
            p.url("api_url", u);
        }
    }
}
