//! Log: writes each message to IncidentRelay's own log (and, through the delivery record, the
//! alert's timeline). Needs nothing outside IncidentRelay: for trying routes, rotations and
//! escalation out, and for the demo.

use serde::{Deserialize, Serialize};
use slog::info;

use super::text::{headline, plain};
use super::{Env, NotifyError, Sent};
use crate::domain::message::Message;
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &[];
/// Where messages (and with them the secrets) go: changing one asks for the secrets again.
pub const DESTINATIONS: &[&str] = &[];
/// What this channel type does and what it needs outside IncidentRelay (the channel form shows it).
pub const GUIDE: &str = "Writes every message to IncidentRelay's own log (`log channel message`) and the alert's \
     timeline. It needs nothing outside IncidentRelay: use it to try routes, rotations and escalation out.";

/// No settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {}

impl Config {
    pub fn validate(&self, _: &mut Problems) {}
}

/// The line the log and the timeline show.
pub fn render(msg: &Message) -> String {
    headline(msg)
}

pub fn send(_: &Config, env: &Env<'_>, msg: &Message) -> Result<Sent, NotifyError> {
    info!(env.log, "log channel message"; "channel_id" => env.channel_id, "event" => msg.kind.as_str(),
          "message_id" => &msg.message_id, "text" => plain(msg));
    Ok(Sent::ok(format!("written to the log: {}", render(msg))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::EventKind;
    use crate::notify::text::fixtures::message;

    #[test]
    fn the_line_is_the_headline() {
        assert_eq!(render(&message(EventKind::Triggered)), "[CRITICAL] Disk full on db-1 <sda>");
        assert!(serde_json::from_value::<Config>(serde_json::json!({"url": "x"})).is_err(), "no settings");
    }
}
