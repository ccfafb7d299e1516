//! Microsoft Teams: Workflows (Power Automate) webhook with an Adaptive Card, or the legacy
//! Office 365 connector MessageCard.

use serde::{Deserialize, Serialize};

use super::require_url;
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["webhook_url"];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    AdaptiveCard,
    MessageCard,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(default)]
    pub format: Format,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        require_url(p, "webhook_url", &self.webhook_url);
    }
}
