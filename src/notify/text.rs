//! Rendering shared by the channels: headline, facts, plain-text body, colours, escaping.

use crate::domain::alert::{AlertStatus, Severity};
use crate::domain::message::{EventKind, Message};

/// Colour for a severity (hex, no `#`).
pub fn severity_hex(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "D32F2F",
        Severity::High => "F57C00",
        Severity::Warning => "F9A825",
        Severity::Info => "1976D2",
    }
}

pub const RESOLVED_HEX: &str = "2E7D32";
pub const ACKNOWLEDGED_HEX: &str = "607D8B";
pub const TEST_HEX: &str = "7E57C2";

/// The colour of a message: green when resolved, grey when acknowledged, else the severity.
pub fn color_hex(msg: &Message) -> &'static str {
    match (&msg.alert, msg.kind) {
        (_, EventKind::Test) | (None, _) => TEST_HEX,
        (Some(a), _) if a.status == AlertStatus::Resolved || msg.kind == EventKind::Resolved => RESOLVED_HEX,
        (Some(a), _) if a.status == AlertStatus::Acknowledged || msg.kind == EventKind::Acknowledged => {
            ACKNOWLEDGED_HEX
        }
        (Some(a), _) => severity_hex(a.severity),
    }
}

pub fn color_int(msg: &Message) -> u32 {
    u32::from_str_radix(color_hex(msg), 16).unwrap_or(0)
}

/// A leading symbol for chat messages.
pub fn icon(msg: &Message) -> &'static str {
    match (&msg.alert, msg.kind) {
        (None, EventKind::Shift) => "📅",
        (None, _) | (_, EventKind::Test) => "🧪",
        (_, EventKind::Resolved) => "✅",
        (_, EventKind::Acknowledged) => "👀",
        (Some(a), _) if a.status == AlertStatus::Resolved => "✅",
        (Some(a), _) if a.status == AlertStatus::Acknowledged => "👀",
        (Some(a), _) => match a.severity {
            Severity::Critical => "🔴",
            Severity::High => "🟠",
            Severity::Warning => "🟡",
            Severity::Info => "🔵",
        },
    }
}

/// `[CRITICAL] Disk full on db-1`, `[RESOLVED] …`, `[CRITICAL] Reminder 2: …`.
pub fn headline(msg: &Message) -> String {
    let Some(a) = &msg.alert else {
        if msg.kind == EventKind::Shift {
            return "Your on-call shift".into();
        }
        return format!("IncidentRelay test message for channel \"{}\"", msg.channel_name);
    };
    let sev = a.severity.as_str().to_uppercase();
    match msg.kind {
        EventKind::Triggered => format!("[{sev}] {}", a.title),
        EventKind::Reminder => format!("[{sev}] Reminder {}: {}", a.reminder_count.max(1), a.title),
        EventKind::Escalated => format!("[{sev}] Escalated: {}", a.title),
        EventKind::Acknowledged => format!("[ACKNOWLEDGED] {}", a.title),
        EventKind::Resolved => format!("[RESOLVED] {}", a.title),
        EventKind::Test => format!("[TEST] {}", a.title),
        EventKind::Undelivered => format!("[UNDELIVERED] {}", a.title),
        EventKind::Shift => format!("[SHIFT] {}", a.title),
    }
}

/// One line about the state: `Firing · assigned to alice`, `Acknowledged by bob`.
pub fn status_line(msg: &Message) -> String {
    let Some(a) = &msg.alert else {
        return match (msg.kind, &msg.note) {
            (EventKind::Shift, Some(note)) => note.clone(),
            _ => "If you can read this, the channel works.".into(),
        };
    };
    if let (EventKind::Undelivered | EventKind::Shift, Some(note)) = (msg.kind, &msg.note) {
        return note.clone();
    }
    let who =
        msg.assignee.as_ref().map(|u| format!(" · assigned to {}", u.display_name_or_username())).unwrap_or_default();
    match a.status {
        // A page nobody is assigned to: the rotation has a gap, or the route names no one.
        AlertStatus::Firing if msg.assignee.is_none() && msg.kind.is_page() => "Firing · nobody on call".into(),
        AlertStatus::Firing => format!("Firing{who}"),
        AlertStatus::Silenced => format!("Silenced{who}"),
        AlertStatus::Acknowledged => {
            format!("Acknowledged by {}{who}", a.acknowledged_by.as_deref().unwrap_or("someone"))
        }
        AlertStatus::Resolved => format!("Resolved by {}", a.resolved_by.as_deref().unwrap_or("the monitoring system")),
    }
}

impl crate::domain::message::Contact {
    pub fn display_name_or_username(&self) -> &str {
        if self.display_name.is_empty() { &self.username } else { &self.display_name }
    }
}

/// Label pairs worth showing (URL labels and the very long ones left out), at most `max`.
pub fn shown_labels(msg: &Message, max: usize) -> Vec<(String, String)> {
    let Some(a) = &msg.alert else { return Vec::new() };
    a.labels
        .iter()
        .filter(|(k, v)| !k.ends_with("_url") && v.len() <= 120)
        .take(max)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The shown labels as escaped `<code>k=v</code>` HTML (e-mail, Telegram); empty when none.
pub fn html_labels(msg: &Message, max: usize) -> String {
    shown_labels(msg, max)
        .iter()
        .map(|(k, v)| format!("<code>{}={}</code>", html_escape(k), html_escape(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Short facts for cards and attachments.
pub fn facts(msg: &Message) -> Vec<(String, String)> {
    let mut f = vec![("Team".to_string(), msg.team.name.clone())];
    if let Some(a) = &msg.alert {
        f.push(("Severity".into(), a.severity.as_str().into()));
        f.push(("Status".into(), a.status.as_str().into()));
        if let Some(u) = &msg.assignee {
            f.push(("On call".into(), u.display_name_or_username().to_string()));
        }
        f.push(("Source".into(), a.source.clone()));
        if a.alert_count > 1 {
            f.push(("Count".into(), a.alert_count.to_string()));
        }
        f.push(("Alert".into(), format!("#{}", a.id)));
    }
    f
}

/// The plain-text body (e-mail text part, SMS-like channels, fallbacks).
pub fn plain(msg: &Message) -> String {
    let mut out = String::new();
    out.push_str(&headline(msg));
    out.push('\n');
    out.push_str(&status_line(msg));
    out.push('\n');
    if let Some(a) = &msg.alert {
        if !a.message.is_empty() {
            out.push('\n');
            out.push_str(&a.message);
            out.push('\n');
        }
        out.push('\n');
        for (k, v) in facts(msg) {
            out.push_str(&format!("{k}: {v}\n"));
        }
        let labels = shown_labels(msg, 20);
        if !labels.is_empty() {
            out.push_str("Labels: ");
            out.push_str(&labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "));
            out.push('\n');
        }
        if let Some(l) = &a.event_link {
            out.push_str(&format!("Link: {l}\n"));
        }
        for (label, url) in a.more_links() {
            out.push_str(&format!("{label}: {url}\n"));
        }
    }
    out.push_str(&format!("\nOpen: {}\n", msg.links.alert));
    if msg.actionable() {
        if let Some(l) = &msg.links.acknowledge {
            out.push_str(&format!("Acknowledge: {l}\n"));
        }
        if let Some(l) = &msg.links.resolve {
            out.push_str(&format!("Resolve: {l}\n"));
        }
    }
    out
}

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Truncates to `max` characters with an ellipsis.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use std::collections::BTreeMap;

    use crate::domain::alert::{AlertImage, AlertLink, AlertStatus, Severity};
    use crate::domain::message::{AlertInfo, Contact, EventKind, Links, Message, TeamInfo};
    use crate::domain::time::Ts;

    /// A firing critical alert paging alice.
    pub fn message(kind: EventKind) -> Message {
        let mut labels = BTreeMap::new();
        labels.insert("alertname".to_string(), "DiskFull".to_string());
        labels.insert("instance".to_string(), "db-1".to_string());
        labels.insert("generator_url".to_string(), "http://prom/graph".to_string());
        Message {
            kind,
            delivery_id: 77,
            message_id: "msg_0192f0c1a2b37c4d8e9f00112233aabb".into(),
            thread_root: None,
            note: None,
            alert: Some(AlertInfo {
                id: 42,
                title: "Disk full on db-1 <sda>".into(),
                message: "95% used & rising".into(),
                severity: Severity::Critical,
                status: match kind {
                    EventKind::Acknowledged => AlertStatus::Acknowledged,
                    EventKind::Resolved => AlertStatus::Resolved,
                    _ => AlertStatus::Firing,
                },
                source: "alertmanager".into(),
                labels,
                event_link: Some("https://runbooks.example/disk".into()),
                links: vec![
                    AlertLink { href: "https://runbooks.example/disk".into(), text: "Runbook".into() },
                    AlertLink { href: "https://grafana.example/d/db".into(), text: "DB dashboard".into() },
                ],
                images: vec![AlertImage {
                    src: "https://grafana.example/render/db.png".into(),
                    href: None,
                    alt: "disk usage".into(),
                }],
                alert_count: 3,
                dedup_key: "fp-1".into(),
                first_seen_at: Ts::from_secs(1_795_338_000),
                acknowledged_by: (kind == EventKind::Acknowledged).then(|| "alice".to_string()),
                resolved_by: (kind == EventKind::Resolved).then(|| "alertmanager".to_string()),
                reminder_count: 0,
                escalation_level: 0,
                episode: 0,
            }),
            team: TeamInfo { id: 1, slug: "infra".into(), name: "Infrastructure".into() },
            assignee: Some(Contact {
                id: 5,
                username: "alice".into(),
                display_name: "Alice".into(),
                email: Some("alice@example.com".into()),
                phone: Some("+4930123456".into()),
                telegram_user_id: Some("111".into()),
                slack_user_id: Some("U111".into()),
                mattermost_user_id: Some("mm111".into()),
            }),
            links: Links {
                alert: "https://oncall.example/alerts/42".into(),
                acknowledge: Some("https://oncall.example/a/42.a.1.sig".into()),
                resolve: Some("https://oncall.example/a/42.r.1.sig".into()),
            },
            channel_name: "ops".into(),
            timestamp: Ts::from_secs(1_795_338_060),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::EventKind;

    #[test]
    fn headlines_and_plain_text() {
        let m = fixtures::message(EventKind::Triggered);
        assert_eq!(headline(&m), "[CRITICAL] Disk full on db-1 <sda>");
        assert_eq!(status_line(&m), "Firing · assigned to Alice");
        let p = plain(&m);
        assert!(p.contains("95% used & rising"));
        assert!(p.contains("Labels: alertname=DiskFull, instance=db-1\n"), "{p}");
        assert!(p.contains("Acknowledge: https://oncall.example/a/42.a.1.sig"));
        assert!(
            p.contains("Link: https://runbooks.example/disk\nDB dashboard: https://grafana.example/d/db\nImage: disk usage: https://grafana.example/render/db.png\n"),
            "every link and image the sender gave, the event link once: {p}"
        );
        let r = fixtures::message(EventKind::Resolved);
        assert_eq!(headline(&r), "[RESOLVED] Disk full on db-1 <sda>");
        assert!(!plain(&r).contains("Acknowledge:"), "no actions on a resolved alert");
        assert_eq!(color_hex(&r), RESOLVED_HEX);
        assert_eq!(html_escape("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
