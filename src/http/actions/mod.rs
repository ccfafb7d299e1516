//! Acting on alerts from where people are: signed one-click links, chat buttons (Mattermost,
//! Slack, Telegram) and voice keypad presses. Every entry point verifies its signature first.
//! Then [`admissible`] checks what was signed against the database: the alert is still in the
//! episode the link or button was made for, and a button's channel belongs to the alert's team
//! and delivered a message about it (a channel of another team, whoever configured its
//! secret, cannot act on this team's alerts). Last, the person is mapped to an IncidentRelay
//! user with the responder role on the alert's group, where the platform tells us who clicked.
//! The acting itself is `engine::actions` (shared with Telegram polling).

pub mod links;
pub mod mattermost;
pub mod slack;
pub mod telegram;
pub mod voice;

pub use crate::engine::actions::{Origin, Outcome, act, admissible, chat_act, chat_user, responder};
