//! Alerts: severities and statuses.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The canonical severities, most urgent first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Warning,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::High,
        Severity::Warning,
        Severity::Info,
    ];

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
            "critical" | "crit" | "disaster" | "fatal" | "emergency" | "emerg" | "alert"
            | "error" | "err" | "p1" | "sev1" => Severity::Critical,
            "high" | "major" | "p2" | "sev2" => Severity::High,
            "warning" | "warn" | "average" | "medium" | "minor" | "p3" | "sev3" => {
                Severity::Warning
            }
            "info" | "information" | "informational" | "low" | "notice" | "debug"
            | "not classified" | "not_classified" | "ok" | "none" | "p4" | "p5" | "sev4" => {
                Severity::Info
            }
            _ => return None,
        })
    }
}

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
    pub const ALL: [AlertStatus; 4] = [
        AlertStatus::Firing,
        AlertStatus::Acknowledged,
        AlertStatus::Resolved,
        AlertStatus::Silenced,
    ];

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
    fn severity_aliases() {
        assert_eq!(Severity::normalize("CRITICAL"), Some(Severity::Critical));
        assert_eq!(Severity::normalize("error"), Some(Severity::Critical));
        assert_eq!(Severity::normalize("Disaster"), Some(Severity::Critical));
        assert_eq!(Severity::normalize("average"), Some(Severity::Warning));
        assert_eq!(Severity::normalize("Not classified"), Some(Severity::Info));
        assert_eq!(Severity::normalize("High"), Some(Severity::High));
        assert_eq!(Severity::normalize("purple"), None);
        assert_eq!(
            Severity::parse("error"),
            None,
            "parse accepts canonical names only"
        );
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
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::Alertmanager,
        Source::Zabbix,
        Source::Webhook,
        Source::Grafana,
        Source::Events,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Alertmanager => "alertmanager",
            Source::Zabbix => "zabbix",
            Source::Webhook => "webhook",
            Source::Grafana => "grafana",
            Source::Events => "events",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The intake path for this source.
    pub fn intake_path(self) -> &'static str {
        match self {
            Source::Alertmanager => "/api/integrations/alertmanager",
            Source::Zabbix => "/api/integrations/zabbix",
            Source::Webhook => "/api/integrations/webhook",
            Source::Grafana => "/api/integrations/grafana",
            Source::Events => "/api/events/ingest",
        }
    }
}
