//! Acting on alerts from where people are: signed one-click links, chat buttons (Mattermost,
//! Slack, Telegram) and voice keypad presses. Every entry point verifies its signature first,
//! then maps the person to an IncidentRelay user with the responder role where the platform
//! tells us who clicked. The acting itself is `engine::actions` (shared with Telegram polling).

pub mod links;
pub mod mattermost;
pub mod slack;
pub mod telegram;
pub mod voice;

pub use crate::engine::actions::{Outcome, act, chat_user};
