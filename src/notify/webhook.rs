//! Generic webhook: a JSON document per event, signed with Standard Webhooks headers when a
//! secret is set, with optional custom headers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::require_url;
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["secret", "headers"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// `whsec_<base64>`: sign requests (Standard Webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        require_url(p, "webhook_url", &self.webhook_url);
        if let Some(s) = &self.secret {
            let ok = s.strip_prefix("whsec_").and_then(crate::crypto::b64_decode).is_some_and(|k| k.len() >= 16);
            p.check(ok, "secret", "must be whsec_ followed by at least 16 base64-encoded bytes");
        }
        for name in self.headers.keys() {
            let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            p.check(ok, &format!("headers.{name}"), "is not a valid header name");
        }
    }
}
