//! Discord: webhook with an embed coloured by severity.

use serde::{Deserialize, Serialize};

use super::require_url;
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["webhook_url"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        require_url(p, "webhook_url", &self.webhook_url);
    }
}
