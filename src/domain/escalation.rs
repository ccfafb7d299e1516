//! Escalation policies: who is paged at each step.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What an escalation rule pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    /// The rotation's current on-call user (through the route's channels).
    Rotation,
    /// A specific user (through the route's channels).
    User,
    /// A channel.
    Channel,
}

impl TargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Rotation => "rotation",
            TargetType::User => "user",
            TargetType::Channel => "channel",
        }
    }
    pub fn parse(s: &str) -> Option<TargetType> {
        [TargetType::Rotation, TargetType::User, TargetType::Channel]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}
