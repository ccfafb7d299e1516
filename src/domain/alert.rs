//! Alerts: severities and statuses.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The canonical severities, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Warning,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::Critical, Severity::High, Severity::Warning, Severity::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// Exactly one of the canonical names.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Maps what monitoring systems send (canonical names and aliases, any case) to a severity.
    /// `None` for unknown values: the caller keeps the raw value as a label and uses `warning`.
    pub fn normalize(raw: &str) -> Option<Severity> {
        let s = raw.trim().to_ascii_lowercase();
        Some(match s.as_str() {
            "critical" | "crit" | "disaster" | "fatal" | "emergency" | "emerg" | "alert" | "error" | "err" | "p1"
            | "sev1" => Severity::Critical,
            "high" | "major" | "p2" | "sev2" => Severity::High,
            "warning" | "warn" | "average" | "medium" | "minor" | "p3" | "sev3" => Severity::Warning,
            "info" | "information" | "informational" | "low" | "notice" | "debug" | "not classified"
            | "not_classified" | "ok" | "none" | "p4" | "p5" | "sev4" => Severity::Info,
            _ => return None,
        })
    }
}

/// How a list of alerts is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertSort {
    /// Newest first (by when the alert was created).
    #[default]
    Newest,
    /// Oldest first: the longest-standing alerts on top.
    Oldest,
    /// Most severe first, then newest.
    Severity,
    /// Firing, then acknowledged, silenced and resolved; newest first within each.
    Status,
    /// Most recently seen first.
    LastSeen,
}

impl AlertSort {
    pub const ALL: [AlertSort; 5] =
        [AlertSort::Newest, AlertSort::Oldest, AlertSort::Severity, AlertSort::Status, AlertSort::LastSeen];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertSort::Newest => "newest",
            AlertSort::Oldest => "oldest",
            AlertSort::Severity => "severity",
            AlertSort::Status => "status",
            AlertSort::LastSeen => "last_seen",
        }
    }

    pub fn parse(s: &str) -> Option<AlertSort> {
        AlertSort::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The names, for messages ("newest, oldest, …").
    pub fn names() -> String {
        AlertSort::ALL.map(AlertSort::as_str).join(", ")
    }
}

/// Statuses from the most to the least in need of a person (the status sort).
pub const STATUS_URGENCY: [AlertStatus; 4] =
    [AlertStatus::Firing, AlertStatus::Acknowledged, AlertStatus::Silenced, AlertStatus::Resolved];

/// The lifecycle states of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Acknowledged,
    Resolved,
    Silenced,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 4] =
        [AlertStatus::Firing, AlertStatus::Acknowledged, AlertStatus::Resolved, AlertStatus::Silenced];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
            AlertStatus::Silenced => "silenced",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        AlertStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn is_open(self) -> bool {
        self != AlertStatus::Resolved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_characters_not_bytes() {
        let cut = |s: &str, max: usize| {
            let mut s = s.to_string();
            truncate(&mut s, max);
            s
        };
        assert_eq!(cut("héllo", 10), "héllo");
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "abc");
        assert_eq!(cut("éééé", 2), "éé", "a cut falls between characters");
        assert_eq!(cut("éééé", 5), "éééé", "8 bytes but only 4 characters");
        assert_eq!(cut("磁盘已满", 3), "磁盘已");
    }

    #[test]
    fn only_http_links_stay_links() {
        let with = |link: &str| {
            let mut a = IncomingAlert::new(Action::Trigger, "t".into());
            a.event_link = Some(link.into());
            a.clamp()
        };
        assert_eq!(with("https://grafana.example/d/1").event_link.as_deref(), Some("https://grafana.example/d/1"));
        assert_eq!(
            with("http://zabbix.example/tr_events.php?e=1").event_link.as_deref(),
            Some("http://zabbix.example/tr_events.php?e=1")
        );
        for bad in [
            "javascript:alert(document.cookie)",
            "JavaScript:alert(1)",
            "data:text/html,<script>",
            "//evil.example",
            "file:///etc/passwd",
            " https://x",
        ] {
            let a = with(bad);
            assert_eq!(a.event_link, None, "{bad}");
            assert_eq!(a.labels.get("event_link").map(String::as_str), Some(bad), "kept as text");
        }
    }

    #[test]
    fn severity_aliases() {
        assert_eq!(Severity::normalize("CRITICAL"), Some(Severity::Critical));
        assert_eq!(Severity::normalize("error"), Some(Severity::Critical));
        assert_eq!(Severity::normalize("Disaster"), Some(Severity::Critical));
        assert_eq!(Severity::normalize("average"), Some(Severity::Warning));
        assert_eq!(Severity::normalize("Not classified"), Some(Severity::Info));
        assert_eq!(Severity::normalize("High"), Some(Severity::High));
        assert_eq!(Severity::normalize("purple"), None);
        assert_eq!(Severity::parse("error"), None, "parse accepts canonical names only");
    }
}

/// Where alerts come from; a route accepts one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Alertmanager,
    Zabbix,
    Webhook,
    Grafana,
    /// PagerDuty Events API v2 compatible senders.
    Events,
    /// incident.io's incident webhooks (Standard Webhooks signed).
    Incidentio,
}

impl Source {
    pub const ALL: [Source; 6] =
        [Source::Alertmanager, Source::Zabbix, Source::Webhook, Source::Grafana, Source::Events, Source::Incidentio];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Alertmanager => "alertmanager",
            Source::Zabbix => "zabbix",
            Source::Webhook => "webhook",
            Source::Grafana => "grafana",
            Source::Events => "events",
            Source::Incidentio => "incidentio",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// What people call it.
    pub fn label(self) -> &'static str {
        match self {
            Source::Alertmanager => "Prometheus Alertmanager",
            Source::Zabbix => "Zabbix",
            Source::Webhook => "Generic webhook / curl",
            Source::Grafana => "Grafana",
            Source::Events => "PagerDuty Events API v2",
            Source::Incidentio => "incident.io",
        }
    }

    /// The intake path for this source.
    pub fn intake_path(self) -> &'static str {
        match self {
            Source::Alertmanager => "/api/integrations/alertmanager",
            Source::Zabbix => "/api/integrations/zabbix",
            Source::Webhook => "/api/integrations/webhook",
            Source::Grafana => "/api/integrations/grafana",
            Source::Events => "/api/events/ingest",
            Source::Incidentio => "/api/integrations/incidentio",
        }
    }
}

/// What an incoming event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Open or update an alert (firing).
    Trigger,
    /// Acknowledge an open alert (PagerDuty `acknowledge`).
    Acknowledge,
    /// Resolve an open alert.
    Resolve,
}

/// One alert as a monitoring system reported it, normalised by an intake parser.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct IncomingAlert {
    pub action: Action,
    /// More links the sender gave (PagerDuty `links[]`), http(s) only.
    pub links: Vec<AlertLink>,
    /// Images the sender gave (PagerDuty `images[]`), http(s) only.
    pub images: Vec<AlertImage>,
    /// Identity across repeats; `None` lets intake generate one (PagerDuty triggers).
    pub dedup_key: Option<String>,
    pub title: String,
    pub message: String,
    pub severity: Severity,
    pub labels: std::collections::BTreeMap<String, String>,
    pub event_link: Option<String>,
    /// PagerDuty `component`, matchable by silences.
    pub component: String,
    /// Whether a trigger may reopen a recently resolved alert with the same key (PagerDuty
    /// events may not: a trigger after resolve opens a new incident there).
    pub reopen: bool,
    /// Why the sender resolved it, for the timeline ("declined in incident.io"); `None`: the
    /// monitoring system saw the problem end.
    pub resolution: Option<String>,
    /// The Slack user id of the person the sender put in charge (incident.io's lead): a new
    /// alert is assigned to the user with that `slack_user_id`, if they may be paged here.
    pub assignee_slack_user_id: Option<String>,
}

/// Maximum lengths kept from senders.
pub const MAX_TITLE: usize = 1024;
pub const MAX_MESSAGE: usize = 16 * 1024;
pub const MAX_DEDUP_KEY: usize = 255;
pub const MAX_LABELS: usize = 100;
pub const MAX_LABEL_VALUE: usize = 2048;
/// Links and images kept per alert, and the length of their texts.
pub const MAX_LINKS: usize = 20;
pub const MAX_LINK_TEXT: usize = 256;

/// A link a sender attached to an alert (PagerDuty `links[]`: `href`, `text`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct AlertLink {
    pub href: String,
    /// What to show for it (empty: the address).
    #[serde(default)]
    pub text: String,
}

/// An image a sender attached to an alert (PagerDuty `images[]`: `src`, optional `href`,
/// `alt`): shown as a link, never loaded by IncidentRelay's pages.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct AlertImage {
    pub src: String,
    #[serde(default)]
    pub href: Option<String>,
    #[serde(default)]
    pub alt: String,
}

impl IncomingAlert {
    pub fn new(action: Action, title: String) -> IncomingAlert {
        IncomingAlert {
            action,
            dedup_key: None,
            title,
            message: String::new(),
            severity: Severity::Warning,
            labels: Default::default(),
            event_link: None,
            component: String::new(),
            reopen: true,
            links: Vec::new(),
            images: Vec::new(),
            resolution: None,
            assignee_slack_user_id: None,
        }
    }

    /// Sets the severity from what the sender said: canonical names and aliases map; an
    /// unknown value becomes `warning` and is kept as the `severity` label.
    pub fn set_severity(&mut self, raw: &str) {
        match Severity::normalize(raw) {
            Some(s) => self.severity = s,
            None => {
                self.severity = Severity::Warning;
                if !raw.trim().is_empty() {
                    self.labels.entry("severity".into()).or_insert_with(|| raw.trim().to_string());
                }
            }
        }
    }

    /// The last step of every intake parser: trims oversized fields so that one bad sender
    /// cannot bloat the database, and keeps `event_link` only when it is an http(s) URL. Any
    /// other link (`javascript:`, `data:`, `file:`…) becomes the text label `event_link`: it is
    /// shown, never followed.
    pub fn clamp(mut self) -> IncomingAlert {
        if let Some(link) = self.event_link.take() {
            if crate::domain::validate::is_http_url(&link) {
                self.event_link = Some(link);
            } else if !link.trim().is_empty() {
                self.labels.entry("event_link".into()).or_insert(link);
            }
        }
        self.links.retain(|l| crate::domain::validate::is_http_url(&l.href));
        self.links.truncate(MAX_LINKS);
        for l in &mut self.links {
            truncate(&mut l.text, MAX_LINK_TEXT);
        }
        self.images.retain(|i| {
            crate::domain::validate::is_http_url(&i.src)
                && i.href.as_deref().is_none_or(crate::domain::validate::is_http_url)
        });
        self.images.truncate(MAX_LINKS);
        for i in &mut self.images {
            truncate(&mut i.alt, MAX_LINK_TEXT);
        }
        truncate(&mut self.title, MAX_TITLE);
        truncate(&mut self.message, MAX_MESSAGE);
        if self.title.trim().is_empty() {
            self.title = "(no title)".into();
        }
        while self.labels.len() > MAX_LABELS {
            let last = self.labels.keys().next_back().cloned();
            if let Some(k) = last {
                self.labels.remove(&k);
            }
        }
        for v in self.labels.values_mut() {
            truncate(v, MAX_LABEL_VALUE);
        }
        self
    }

    /// A stable key from the title and labels, for senders that give none.
    pub fn content_key(&self) -> String {
        let mut h = String::new();
        h.push_str(&self.title);
        for (k, v) in &self.labels {
            h.push('\u{1f}');
            h.push_str(k);
            h.push('=');
            h.push_str(v);
        }
        h
    }
}

/// Cuts `s` to at most `max_chars` characters. A string of no more bytes than that is left
/// without walking its characters: nearly every label and title.
pub fn truncate(s: &mut String, max_chars: usize) {
    if s.len() <= max_chars {
        return;
    }
    if let Some((idx, _)) = s.char_indices().nth(max_chars) {
        s.truncate(idx);
    }
}
