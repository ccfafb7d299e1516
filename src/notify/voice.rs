//! Voice calls to the assignee's phone: a generic HTTP gateway or Twilio.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{require_text, require_url};
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["secret", "auth_token"];
pub const TWILIO_API_URL: &str = "https://api.twilio.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Http,
    Twilio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DtmfAction {
    Acknowledge,
    Resolve,
}

fn default_dtmf() -> BTreeMap<String, DtmfAction> {
    BTreeMap::from([("1".to_string(), DtmfAction::Acknowledge), ("2".to_string(), DtmfAction::Resolve)])
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub provider: Provider,
    /// http: where IncidentRelay POSTs call requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// http: shared secret for signing requests and verifying callbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(default = "default_dtmf")]
    pub dtmf_actions: BTreeMap<String, DtmfAction>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        match self.provider {
            Provider::Http => {
                require_url(p, "url", &self.url);
                require_text(p, "secret", &self.secret);
            }
            Provider::Twilio => {
                require_text(p, "account_sid", &self.account_sid);
                require_text(p, "auth_token", &self.auth_token);
                require_text(p, "from_number", &self.from_number);
                if let Some(u) = &self.api_url {
                    p.url("api_url", u);
                }
            }
        }
        for k in self.dtmf_actions.keys() {
            let ok = k.len() == 1 && k.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
            p.check(ok, &format!("dtmf_actions.{k}"), "keys must be a single digit, * or #");
        }
    }
}
