//! E-mail through the configured SMTP server (`[smtp]`): multipart text + HTML.

use serde::{Deserialize, Serialize};

use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &[];
/// Where messages (and with them the secrets) go: changing one asks for the secrets again.
pub const DESTINATIONS: &[&str] = &[];
/// What this channel type does and what it needs outside IncidentRelay (the channel form shows it).
pub const GUIDE: &str =
    "Sent through the server's [smtp] settings (check them with `incidentrelay send-test-email --to you@example.com`).";

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Addresses that get every message (one per line).
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

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::text::{self, color_hex, headline, html_escape, status_line};
use super::{Env, NotifyError, Sent};
use crate::config::{SmtpConfig, SmtpSecurity};
use crate::domain::message::Message;

/// The SMTP transport from `[smtp]`.
pub struct Mailer {
    /// Always `Some` until dropped (its connection pool must be dropped inside the runtime).
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    /// The right-hand side of every `Message-ID`: a domain this installation owns.
    id_domain: String,
    runtime: tokio::runtime::Handle,
}

/// The identity of one e-mail: its own `Message-ID` and the thread it continues.
pub struct MailIds<'a> {
    /// A globally unique id (`msg_…`); it becomes `<id@domain>`.
    pub message_id: &'a str,
    /// The id of the first mail of the thread (`In-Reply-To`, `References`).
    pub thread_root: Option<&'a str>,
}

/// The `Message-ID` domain: the host of `server.public_base_url`, else the domain of
/// `smtp.from` (never a made-up one: big providers check it).
pub fn id_domain(public_base_url: &str, from: &Mailbox) -> String {
    let host = public_base_url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    let host = host.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    let host = if host.starts_with('[') { "" } else { host.split(':').next().unwrap_or("") };
    let is_name = host.contains('.') && host.parse::<std::net::IpAddr>().is_err();
    if is_name { host.to_ascii_lowercase() } else { from.email.domain().to_ascii_lowercase() }
}

impl Mailer {
    /// `None` when `smtp.host` is not set.
    pub fn new(
        cfg: &SmtpConfig,
        public_base_url: &str,
        timeout: Duration,
        runtime: tokio::runtime::Handle,
    ) -> Result<Option<Mailer>, String> {
        let Some(host) = cfg.host.as_deref() else { return Ok(None) };
        let from: Mailbox = cfg.from.as_deref().unwrap_or("").parse().map_err(|e| format!("smtp.from: {e}"))?;
        let id_domain = id_domain(public_base_url, &from);
        let builder = match cfg.security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(|e| format!("smtp.host: {e}"))?
            }
            SmtpSecurity::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| format!("smtp.host: {e}"))?
            }
        };
        let mut builder = builder.port(cfg.port).timeout(Some(timeout));
        if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        // The connection pool spawns its reaper task on the runtime.
        let transport = {
            let _inside = runtime.enter();
            builder.build()
        };
        Ok(Some(Mailer { transport: Some(transport), from, id_domain, runtime }))
    }

    /// `<id@domain>` for one of our message ids.
    pub fn message_id(&self, id: &str) -> String {
        format!("<{id}@{}>", self.id_domain)
    }

    /// Sends one message (blocking: call it off the async workers).
    pub fn send(
        &self,
        to: &[String],
        subject: &str,
        (plain, html): (String, String),
        headers: &[(&str, String)],
        ids: MailIds<'_>,
    ) -> Result<(), NotifyError> {
        let mut b = lettre::Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(self.message_id(ids.message_id)));
        if let Some(root) = ids.thread_root {
            b = b.in_reply_to(self.message_id(root)).references(self.message_id(root));
        }
        for t in to {
            let mb: Mailbox = t.parse().map_err(|e| NotifyError::Permanent(format!("recipient {t}: {e}")))?;
            b = b.to(mb);
        }
        for (name, value) in headers {
            let h = lettre::message::header::HeaderName::new_from_ascii(name.to_string())
                .map_err(|e| NotifyError::Permanent(format!("header {name}: {e}")))?;
            b = b.raw_header(lettre::message::header::HeaderValue::new(h, value.clone()));
        }
        let message = b
            .multipart(MultiPart::alternative_plain_html(plain, html))
            .map_err(|e| NotifyError::Permanent(format!("cannot build the e-mail: {e}")))?;
        let transport = self.transport.as_ref().ok_or_else(|| NotifyError::retry("the mailer is shutting down"))?;
        self.runtime.block_on(transport.send(message)).map_err(|e| {
            if e.is_permanent() {
                NotifyError::Permanent(format!("smtp: {e}"))
            } else {
                NotifyError::retry(format!("smtp: {e}"))
            }
        })?;
        Ok(())
    }
}

impl Drop for Mailer {
    fn drop(&mut self) {
        let _inside = self.runtime.enter();
        drop(self.transport.take());
    }
}

/// The HTML part.
pub fn render_html(msg: &Message) -> String {
    let mut rows = String::new();
    for (k, v) in text::facts(msg) {
        rows.push_str(&format!(
            "<tr><td style=\"color:#666;padding:2px 12px 2px 0\">{}</td><td>{}</td></tr>",
            html_escape(&k),
            html_escape(&v)
        ));
    }
    let l = text::html_labels(msg, 20);
    if !l.is_empty() {
        rows.push_str(&format!("<tr><td style=\"color:#666;padding:2px 12px 2px 0\">Labels</td><td>{l}</td></tr>"));
    }
    let body = msg
        .alert
        .as_ref()
        .map(|a| format!("<p style=\"white-space:pre-wrap\">{}</p>", html_escape(&a.message)))
        .unwrap_or_default();
    let button = |label: &str, url: &str, color: &str| {
        format!(
            "<a href=\"{}\" style=\"display:inline-block;padding:8px 14px;margin-right:8px;background:#{color};color:#fff;text-decoration:none;border-radius:4px\">{}</a>",
            html_escape(url),
            html_escape(label)
        )
    };
    let mut actions = String::new();
    if msg.actionable() {
        if let Some(l) = &msg.links.acknowledge {
            actions.push_str(&button("Acknowledge", l, "1565C0"));
        }
        if let Some(l) = &msg.links.resolve {
            actions.push_str(&button("Resolve", l, "2E7D32"));
        }
    }
    actions.push_str(&button("Open in IncidentRelay", &msg.links.alert, "455A64"));
    if let Some(l) = msg.alert.as_ref().and_then(|a| a.event_link.as_ref()) {
        actions.push_str(&format!("<a href=\"{}\">Runbook / source</a>", html_escape(l)));
    }
    for (label, url) in msg.alert.as_ref().map(|a| a.more_links()).unwrap_or_default() {
        actions.push_str(&format!(" · <a href=\"{}\">{}</a>", html_escape(&url), html_escape(&label)));
    }
    format!(
        "<!doctype html><html><body style=\"font-family:-apple-system,Segoe UI,Roboto,sans-serif;font-size:14px;color:#222\">\
         <div style=\"border-left:6px solid #{};padding:4px 12px\"><h2 style=\"margin:4px 0\">{}</h2><p style=\"margin:0;color:#555\">{}</p></div>\
         {body}<table style=\"margin:12px 0;border-collapse:collapse\">{rows}</table><p>{actions}</p>\
         <p style=\"color:#888;font-size:12px\">Sent by IncidentRelay to the \"{}\" channel of {}.</p></body></html>",
        color_hex(msg),
        html_escape(&headline(msg)),
        html_escape(&status_line(msg)),
        html_escape(&msg.channel_name),
        html_escape(&msg.team.name)
    )
}

/// Who receives it: the channel's recipients and (if set) the assignee.
pub fn recipients(cfg: &Config, msg: &Message) -> Vec<String> {
    let mut to: Vec<String> = cfg.recipients.clone();
    if cfg.include_assignee
        && let Some(e) = msg.assignee.as_ref().and_then(|u| u.email.clone())
        && !to.contains(&e)
    {
        to.push(e);
    }
    to
}

pub fn send(cfg: &Config, env: &Env<'_>, msg: &Message) -> Result<Sent, NotifyError> {
    let mailer = env
        .smtp
        .ok_or_else(|| NotifyError::Permanent("e-mail is not configured: set smtp.host and smtp.from".into()))?;
    let to = recipients(cfg, msg);
    if to.is_empty() {
        return Err(NotifyError::Permanent("no recipients (and the assignee has no e-mail address)".into()));
    }
    // Threading: the first mail about an alert starts the conversation; the ones after it
    // (reminders, escalations, acknowledgement, recovery) reply to it.
    let headers = [("X-IncidentRelay-Event", msg.kind.as_str().to_string())];
    let ids = MailIds { message_id: &msg.message_id, thread_root: msg.thread_root.as_deref() };
    mailer.send(&to, &headline(msg), (text::plain(msg), render_html(msg)), &headers, ids)?;
    Ok(Sent::ok(format!("accepted for {}", to.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::EventKind;
    use crate::notify::text::fixtures::message;

    #[test]
    fn html_part_and_recipients() {
        let m = message(EventKind::Triggered);
        let h = render_html(&m);
        assert!(h.contains("[CRITICAL] Disk full on db-1 &lt;sda&gt;"));
        assert!(h.contains("href=\"https://oncall.example/a/42.a.1.sig\""));
        assert!(h.contains("border-left:6px solid #D32F2F"));
        let cfg: Config = serde_json::from_value(serde_json::json!({"recipients": ["ops@example.com"]})).unwrap();
        assert_eq!(recipients(&cfg, &m), ["ops@example.com", "alice@example.com"]);
        let cfg: Config =
            serde_json::from_value(serde_json::json!({"recipients": ["ops@example.com"], "include_assignee": false}))
                .unwrap();
        assert_eq!(recipients(&cfg, &m), ["ops@example.com"]);
    }

    #[test]
    fn message_ids_use_a_domain_of_ours() {
        let from: Mailbox = "IncidentRelay <oncall@mail.example.org>".parse().unwrap();
        assert_eq!(id_domain("https://OnCall.example.com:8443/x", &from), "oncall.example.com");
        assert_eq!(id_domain("http://127.0.0.1:8080", &from), "mail.example.org", "an address is no domain");
        assert_eq!(id_domain("http://localhost:8080", &from), "mail.example.org");
        assert_eq!(id_domain("http://[::1]:8080", &from), "mail.example.org");
    }
}
