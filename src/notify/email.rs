//! E-mail through the configured SMTP server (`[smtp]`): multipart text + HTML.

use serde::{Deserialize, Serialize};

use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &[];

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Also mail the alert's assignee (their profile e-mail).
    #[serde(default = "default_true")]
    pub include_assignee: bool,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        for (i, r) in self.recipients.iter().enumerate() {
            let ok = r.contains('@') && !r.contains(char::is_whitespace) && r.len() <= 254;
            p.check(ok, &format!("recipients[{i}]"), "must be an e-mail address");
        }
        p.check(
            !self.recipients.is_empty() || self.include_assignee,
            "recipients",
            "name at least one recipient or set include_assignee",
        );
    }
}
