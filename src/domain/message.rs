//! What a notification says: one [`Message`] per delivery, rendered by each channel.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::alert::{AlertStatus, Severity};
use super::time::Ts;

/// Why a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Triggered,
    Reminder,
    Escalated,
    Acknowledged,
    Resolved,
    Test,
    /// A page to another channel of the team could not be delivered (the note says which).
    Undelivered,
    /// A notice about the person's own on-call shift (the note says it), to their own methods.
    Shift,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::Triggered,
        EventKind::Reminder,
        EventKind::Escalated,
        EventKind::Acknowledged,
        EventKind::Resolved,
        EventKind::Test,
        EventKind::Undelivered,
        EventKind::Shift,
    ];

    /// The kinds that page someone.
    pub const PAGES: [EventKind; 3] = [EventKind::Triggered, EventKind::Reminder, EventKind::Escalated];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Triggered => "triggered",
            EventKind::Reminder => "reminder",
            EventKind::Escalated => "escalated",
            EventKind::Acknowledged => "acknowledged",
            EventKind::Resolved => "resolved",
            EventKind::Test => "test",
            EventKind::Undelivered => "undelivered",
            EventKind::Shift => "shift",
        }
    }
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// Pages someone (as opposed to updating a message).
    pub fn is_page(self) -> bool {
        EventKind::PAGES.contains(&self)
    }
}

/// The alert as a notification shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertInfo {
    pub id: i64,
    pub title: String,
    pub message: String,
    pub severity: Severity,
    pub status: AlertStatus,
    pub source: String,
    pub labels: BTreeMap<String, String>,
    pub event_link: Option<String>,
    /// More links and images the sender attached (PagerDuty `links[]`, `images[]`).
    pub links: Vec<crate::domain::alert::AlertLink>,
    pub images: Vec<crate::domain::alert::AlertImage>,
    pub alert_count: i64,
    pub dedup_key: String,
    pub first_seen_at: Ts,
    pub acknowledged_by: Option<String>,
    pub resolved_by: Option<String>,
    pub reminder_count: i64,
    pub escalation_level: i64,
    /// 0 when it opened, +1 per reopen (signed buttons carry it).
    pub episode: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamInfo {
    pub id: i64,
    pub slug: String,
    pub name: String,
}

/// The person a page is for, with the ways to reach them.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Contact {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub telegram_user_id: Option<String>,
    pub slack_user_id: Option<String>,
    pub mattermost_user_id: Option<String>,
}

/// Absolute links: the alert in the web UI and the signed one-click actions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Links {
    pub alert: String,
    pub acknowledge: Option<String>,
    pub resolve: Option<String>,
}

/// Everything a channel needs to render one notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: EventKind,
    /// The outbox row.
    pub delivery_id: i64,
    /// Globally unique and stable across retries (`webhook-id`, e-mail `Message-ID`):
    /// receivers de-duplicate on it.
    pub message_id: String,
    /// The `message_id` of the first message about this alert on this channel, when this one
    /// follows it (e-mail threading).
    pub thread_root: Option<String>,
    /// What a notice says beyond the alert (`Undelivered`: which page failed, and why).
    pub note: Option<String>,
    /// `None` for test messages.
    pub alert: Option<AlertInfo>,
    pub team: TeamInfo,
    pub assignee: Option<Contact>,
    pub links: Links,
    pub channel_name: String,
    pub timestamp: Ts,
}

impl Message {
    /// Whether action buttons/links make sense (the alert is still open).
    pub fn actionable(&self) -> bool {
        self.alert.as_ref().is_some_and(|a| {
            matches!(a.status, AlertStatus::Firing | AlertStatus::Silenced | AlertStatus::Acknowledged)
        }) && !matches!(self.kind, EventKind::Resolved | EventKind::Test)
    }
}

impl AlertInfo {
    /// The sender's links beyond the event link, then its images (each as a link to where it
    /// points, else to the image): `(label, url)`, for channels to list.
    pub fn more_links(&self) -> Vec<(String, String)> {
        let links = self
            .links
            .iter()
            .filter(|l| Some(&l.href) != self.event_link.as_ref())
            .map(|l| (if l.text.is_empty() { l.href.clone() } else { l.text.clone() }, l.href.clone()));
        let images = self.images.iter().map(|i| {
            let label = if i.alt.is_empty() { "Image".to_string() } else { format!("Image: {}", i.alt) };
            (label, i.href.clone().unwrap_or_else(|| i.src.clone()))
        });
        links.chain(images).collect()
    }
}
