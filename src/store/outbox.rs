//! The outbox: every notification is first a `deliveries` row, written in the same transaction
//! as the decision that caused it. The dispatcher claims due rows, sends them outside any
//! transaction and records the result here.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::alerts::Alert;
use super::config_cache::Key;
use super::sql::Row;
use super::timeline::add_event;
use super::{Dialect, Read, Result, Tx};
use crate::args;
use crate::domain::alert::Severity;
pub use crate::domain::message::EventKind;
use crate::domain::time::Ts;

pub use crate::domain::lifecycle::PageTarget;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Sending,
    Sent,
    Failed,
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> DeliveryStatus {
        match s {
            "sending" => DeliveryStatus::Sending,
            "sent" => DeliveryStatus::Sent,
            "failed" => DeliveryStatus::Failed,
            "dead" => DeliveryStatus::Dead,
            _ => DeliveryStatus::Pending,
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Delivery {
    pub id: i64,
    pub alert_id: Option<i64>,
    pub channel_id: Option<i64>,
    /// A person's own contact method (a notification rule's delivery) instead of a channel.
    pub contact_method_id: Option<i64>,
    /// The user the message is for (assignee), if any.
    pub user_id: Option<i64>,
    /// Human-readable target, e.g. `slack "ops-chat" for alice`.
    pub target: String,
    pub event_type: EventKind,
    /// pending → sending → sent, or failed (will retry) → dead (gave up).
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: Ts,
    pub created_at: Ts,
    pub sent_at: Option<Ts>,
    /// The delivery whose message this one edits (ack/resolve updates).
    pub updates_delivery_id: Option<i64>,
    /// The provider's id of the sent message (for later edits).
    #[serde(skip)]
    #[schemars(skip)]
    pub external_message_id: Option<String>,
    /// This message's globally unique id: the `webhook-id` header, the e-mail `Message-ID`.
    /// The same on every retry.
    pub message_id: String,
    /// The alert's episode when this was queued.
    #[serde(skip)]
    #[schemars(skip)]
    pub episode: i64,
    /// What a notice says beyond the alert (which page could not be delivered, and why).
    pub note: Option<String>,
    /// A page to someone with no working notification rule, sent to this address (their
    /// account's e-mail) through the installation's mail server.
    pub fallback_email: Option<String>,
}

fn row(r: &Row<'_>) -> Result<Delivery> {
    let ev: String = r.get("event_type")?;
    let status: String = r.get("status")?;
    let id: i64 = r.get("id")?;
    Ok(Delivery {
        id,
        alert_id: r.get("alert_id")?,
        channel_id: r.get("channel_id")?,
        contact_method_id: r.get("contact_method_id")?,
        user_id: r.get("user_id")?,
        target: r.get("target")?,
        event_type: EventKind::parse(&ev).unwrap_or(EventKind::Triggered),
        status: DeliveryStatus::parse(&status),
        attempts: r.get("attempts")?,
        last_error: r.get("last_error")?,
        next_attempt_at: r.get("next_attempt_at")?,
        created_at: r.get("created_at")?,
        sent_at: r.get("sent_at")?,
        updates_delivery_id: r.get("updates_delivery_id")?,
        external_message_id: r.get("external_message_id")?,
        message_id: r.get::<Option<String>, _>("message_id")?.unwrap_or_else(|| format!("msg_{id}")),
        episode: r.get("episode")?,
        note: r.get("note")?,
        fallback_email: r.get("fallback_email")?,
    })
}

/// A new globally unique message id: `msg_` and a UUIDv7 (time-ordered, 74 random bits).
pub fn new_message_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

pub fn get(c: &Read<'_>, id: i64) -> Result<Delivery> {
    c.one("SELECT * FROM deliveries WHERE id = ?1", args![id], row)
}

pub fn for_alert(c: &Read<'_>, alert_id: i64) -> Result<Vec<Delivery>> {
    c.rows("SELECT * FROM deliveries WHERE alert_id = ?1 ORDER BY id", args![alert_id], row)
}

struct Target {
    channel_id: i64,
    label: String,
}

/// Channels a page for `alert` goes to (enabled, severity filter passed).
fn channels_for(c: &Read<'_>, alert: &Alert, target: &PageTarget) -> Result<Vec<Target>> {
    let (sql, key, id) = match target {
        PageTarget::RouteChannels => match alert.route_id {
            Some(r) => (
                "SELECT ch.id, ch.name, ch.channel_type, ch.enabled, ch.notify_on_severities FROM route_channels rc
                 JOIN channels ch ON ch.id = rc.channel_id WHERE rc.route_id = ?1 ORDER BY rc.position",
                Key::RouteChannels(r),
                r,
            ),
            None => return Ok(Vec::new()),
        },
        PageTarget::Channel(id) => (
            "SELECT id, name, channel_type, enabled, notify_on_severities FROM channels WHERE id = ?1",
            Key::Channel(*id),
            *id,
        ),
    };
    // The channels are cached between pages; the alert's severity is checked here.
    let rows = c.cached(key, || {
        c.rows(sql, args![id], |r| {
            let sev: Vec<Severity> = r.json("notify_on_severities")?;
            Ok((r.get::<i64, _>(0)?, r.get::<String, _>(1)?, r.get::<String, _>(2)?, r.get::<bool, _>(3)?, sev))
        })
    })?;
    let mut out = Vec::new();
    for (id, name, kind, enabled, sev) in rows.iter() {
        if *enabled && (sev.is_empty() || sev.contains(&alert.severity)) {
            out.push(Target { channel_id: *id, label: format!("{kind} \"{name}\"") });
        }
    }
    Ok(out)
}

/// A delivery to queue.
struct New<'a> {
    alert_id: Option<i64>,
    channel_id: i64,
    user_id: Option<i64>,
    target: &'a str,
    kind: EventKind,
    /// The delivery whose message this one updates.
    updates: Option<i64>,
    level: Option<i64>,
    episode: i64,
    note: Option<&'a str>,
}

/// Queues a person's notification-rule deliveries for a page: one per rule that applies,
/// due `delay_seconds` after now (cancelled with the alert's other pages on acknowledge).
/// Someone with no working rule at all gets an e-mail at their account's address instead, if
/// the installation can send mail and none of the page's channels mails them already.
fn queue_personal(
    c: &Tx<'_>,
    now: Ts,
    alert: &Alert,
    kind: EventKind,
    user_id: i64,
    paged: &[Target],
) -> Result<usize> {
    let rules = super::contacts::applicable(c, user_id, alert.severity)?;
    if rules.is_empty() {
        return queue_fallback_email(c, now, alert, kind, user_id, paged);
    }
    let name = username(c, Some(user_id))?.unwrap_or_default();
    for (rule, method) in &rules {
        let target = crate::notify::personal::target(method, &name);
        let page =
            Personal { method_id: Some(method.id), fallback_email: None, due: now.plus_secs(rule.delay_seconds) };
        insert_personal(c, now, alert, kind, user_id, &target, page)?;
    }
    Ok(rules.len())
}

/// The e-mail to someone paged who has no working notification rule (see [`queue_personal`]).
fn queue_fallback_email(
    c: &Tx<'_>,
    now: Ts,
    alert: &Alert,
    kind: EventKind,
    user_id: i64,
    paged: &[Target],
) -> Result<usize> {
    if !c.mail_fallback() || super::contacts::has_working_rule(c, user_id)? || mails_assignee(c, paged)? {
        return Ok(0);
    }
    let user = super::users::get(c, user_id)?;
    let Some(address) = user.email.filter(|e| !e.is_empty() && user.active) else { return Ok(0) };
    let target = format!("e-mail to {} ({address}), who has no notification rules", user.username);
    let page = Personal { method_id: None, fallback_email: Some(&address), due: now };
    insert_personal(c, now, alert, kind, user_id, &target, page)?;
    Ok(1)
}

/// Where and when a personal page goes: a contact method, or the fallback address.
struct Personal<'a> {
    method_id: Option<i64>,
    fallback_email: Option<&'a str>,
    due: Ts,
}

fn insert_personal(
    c: &Tx<'_>,
    now: Ts,
    alert: &Alert,
    kind: EventKind,
    user_id: i64,
    target: &str,
    p: Personal<'_>,
) -> Result<()> {
    c.wake_engines();
    c.insert(
        "INSERT INTO deliveries (alert_id, contact_method_id, fallback_email, user_id, target, event_type, status, attempts,
                                 next_attempt_at, escalation_level, episode, message_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?8, ?9, ?10, ?11, ?11) RETURNING id",
        args![
            alert.id,
            p.method_id,
            p.fallback_email,
            user_id,
            target,
            kind.as_str(),
            p.due,
            alert.escalation_level,
            alert.episode,
            new_message_id(),
            now
        ],
    )?;
    Ok(())
}

/// Whether one of these channels e-mails the person paged (an e-mail channel with
/// `include_assignee`): then no fallback e-mail is needed.
fn mails_assignee(c: &Read<'_>, targets: &[Target]) -> Result<bool> {
    for t in targets {
        let ch = super::channels::get(c, t.channel_id)?;
        if ch.channel_type == crate::domain::channel::ChannelKind::Email
            && serde_json::from_value::<crate::notify::email::Config>(ch.config).is_ok_and(|cfg| cfg.include_assignee)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn insert(c: &Tx<'_>, now: Ts, d: New<'_>) -> Result<i64> {
    c.wake_engines();
    c.insert(
        "INSERT INTO deliveries (alert_id, channel_id, user_id, target, event_type, status, attempts, next_attempt_at,
                                 updates_delivery_id, escalation_level, episode, message_id, note, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?7, ?8, ?9, ?10, ?11, ?6, ?6) RETURNING id",
        args![
            d.alert_id,
            d.channel_id,
            d.user_id,
            d.target,
            d.kind.as_str(),
            now,
            d.updates,
            d.level,
            d.episode,
            new_message_id(),
            d.note
        ],
    )
}

/// A page already sent, that updates refer to.
struct Notified {
    page_id: i64,
    channel_id: i64,
    user_id: Option<i64>,
    target: String,
}

fn username(c: &Read<'_>, user_id: Option<i64>) -> Result<Option<String>> {
    match user_id {
        Some(u) => Ok(c.opt("SELECT username FROM users WHERE id = ?1", args![u], |r| r.get(0))?),
        None => Ok(None),
    }
}

/// Queues a page (triggered, reminder, escalated) for `alert`; returns how many deliveries.
pub fn page(
    c: &Tx<'_>,
    now: Ts,
    alert: &Alert,
    kind: EventKind,
    target: &PageTarget,
    user_id: Option<i64>,
) -> Result<usize> {
    let targets = channels_for(c, alert, target)?;
    let who = if targets.is_empty() { None } else { username(c, user_id)? };
    for t in &targets {
        let label = match &who {
            Some(u) => format!("{} for {u}", t.label),
            None => t.label.clone(),
        };
        let d = New {
            alert_id: Some(alert.id),
            channel_id: t.channel_id,
            user_id,
            target: &label,
            kind,
            updates: None,
            level: Some(alert.escalation_level),
            episode: alert.episode,
            note: None,
        };
        insert(c, now, d)?;
    }
    // A person paged anew (not reminded) is also reached their own ways, by their rules.
    let personal = match (user_id, kind) {
        (Some(u), EventKind::Triggered | EventKind::Escalated) => queue_personal(c, now, alert, kind, u, &targets)?,
        _ => 0,
    };
    Ok(targets.len() + personal)
}

/// A page that was given up on: tells the team's other enabled channels that it could not be
/// delivered (an `undelivered` notice naming the failed target and why), each channel at most
/// once per alert episode, so that an outage of several channels is no storm. Returns how many
/// notices were queued. Updates and notices themselves never cause notices.
pub fn notify_undelivered(c: &Tx<'_>, now: Ts, failed: &Delivery, why: &str) -> Result<usize> {
    let (Some(alert_id), true) = (failed.alert_id, failed.event_type.is_page()) else { return Ok(0) };
    let alert = super::alerts::get(c, alert_id)?;
    let others = c.rows(
        "SELECT ch.id, ch.name, ch.channel_type FROM channels ch
         WHERE ch.team_id = ?1 AND ch.enabled = 1 AND ch.id <> COALESCE(?2, 0)
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = ?3 AND d.channel_id = ch.id
                           AND d.episode = ?4 AND d.event_type = 'undelivered')
         ORDER BY ch.id",
        args![alert.team_id, failed.channel_id, alert_id, alert.episode],
        |r| Ok((r.get::<i64, _>(0)?, format!("{} \"{}\"", r.get::<String, _>(2)?, r.get::<String, _>(1)?))),
    )?;
    let note = format!("Could not deliver the {} via {}: {why}", failed.event_type.as_str(), failed.target);
    for (channel_id, label) in &others {
        let d = New {
            alert_id: Some(alert_id),
            channel_id: *channel_id,
            user_id: failed.user_id,
            target: label,
            kind: EventKind::Undelivered,
            updates: None,
            level: None,
            episode: alert.episode,
            note: Some(&note),
        };
        insert(c, now, d)?;
    }
    Ok(others.len())
}

/// Marks unsent pages of an alert dead (they must not go out any more).
pub fn cancel_pages(c: &Tx<'_>, now: Ts, alert_id: i64, reason: &str) -> Result<usize> {
    c.exec(
        "UPDATE deliveries SET status = 'dead', last_error = ?1, updated_at = ?2
         WHERE alert_id = ?3 AND status IN ('pending', 'failed') AND event_type IN ('triggered', 'reminder', 'escalated')",
        args![reason, now, alert_id],
    )
}

/// The latest page per channel that went out (or is going out) for an alert.
fn notified(c: &Read<'_>, alert_id: i64) -> Result<Vec<Notified>> {
    c.rows(
        "SELECT d.id, d.channel_id, d.user_id, d.target FROM deliveries d
         WHERE d.id IN (SELECT MAX(id) FROM deliveries WHERE alert_id = ?1 AND channel_id IS NOT NULL
                        AND status IN ('sent', 'sending') AND event_type IN ('triggered', 'reminder', 'escalated')
                        GROUP BY channel_id, COALESCE(user_id, 0))
         ORDER BY d.id",
        args![alert_id],
        |r| Ok(Notified { page_id: r.get(0)?, channel_id: r.get(1)?, user_id: r.get(2)?, target: r.get(3)? }),
    )
}

/// Queues one `kind` update per notified target.
fn update_notified(c: &Tx<'_>, now: Ts, alert: &Alert, kind: EventKind) -> Result<usize> {
    let targets = notified(c, alert.id)?;
    for t in &targets {
        let d = New {
            alert_id: Some(alert.id),
            channel_id: t.channel_id,
            user_id: t.user_id,
            target: &t.target,
            kind,
            updates: Some(t.page_id),
            level: None,
            episode: alert.episode,
            note: None,
        };
        insert(c, now, d)?;
    }
    Ok(targets.len())
}

/// On acknowledge: cancels unsent pages and queues an update for every page already sent.
pub fn on_acknowledge(c: &Tx<'_>, now: Ts, alert: &Alert) -> Result<usize> {
    let cancelled = cancel_pages(c, now, alert.id, "cancelled: acknowledged before delivery")?;
    if cancelled > 0 {
        add_event(
            c,
            alert.id,
            now,
            "pages_cancelled",
            &format!("{} cancelled", crate::domain::count(cancelled as i64, "unsent page")),
            None,
            json!({}),
        )?;
    }
    update_notified(c, now, alert, EventKind::Acknowledged)
}

/// On resolve: cancels unsent pages and queues a recovery to every target notified before
/// (`quiet`: flapping, no recovery messages).
pub fn on_resolve(c: &Tx<'_>, now: Ts, alert: &Alert, quiet: bool) -> Result<usize> {
    cancel_pages(c, now, alert.id, "cancelled: resolved before delivery")?;
    if quiet {
        return Ok(0);
    }
    update_notified(c, now, alert, EventKind::Resolved)
}

/// A test message for a channel (no alert), for `user_id` as the "on-call" person: recorded
/// in the outbox already claimed (`sending`), so the dispatcher leaves it to the caller, who
/// sends it now and records the outcome with [`mark_sent`] / [`mark_dead`].
pub fn start_test(
    c: &Tx<'_>,
    now: Ts,
    lease_secs: i64,
    channel_id: i64,
    label: &str,
    user_id: i64,
) -> Result<Prepared> {
    let id = insert(
        c,
        now,
        New {
            alert_id: None,
            channel_id,
            user_id: None,
            target: label,
            kind: EventKind::Test,
            updates: None,
            level: None,
            episode: 0,
            note: None,
        },
    )?;
    let claimed = mark_claimed(c, now, lease_secs, vec![get(c, id)?])?
        .pop()
        .ok_or_else(|| super::StoreError::not_found("delivery"))?;
    let mut p = prepare(c, &claimed)?.ok_or_else(|| super::StoreError::not_found("channel"))?;
    p.assignee = contact(c, user_id)?;
    Ok(p)
}

// --- dispatcher side ---------------------------------------------------------------------------

/// A delivery claimed for sending, with what the notifier needs to find its message.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery: Delivery,
    /// The provider's id of the message this delivery edits, when it updates one.
    pub edit_message_id: Option<String>,
}

impl Delivery {
    /// Who sends it, for claims and per-sender concurrency: its channel, or minus its contact
    /// method; 0 for a fallback e-mail, and for a row whose channel or method is gone.
    pub fn sender_key(&self) -> i64 {
        match (self.channel_id, self.contact_method_id) {
            (Some(ch), _) => ch,
            (None, Some(m)) => -m,
            (None, None) => 0,
        }
    }

    /// This claim of the row: results are recorded only while it holds (see [`Attempt`]).
    pub fn attempt(&self) -> Attempt {
        Attempt { id: self.id, attempt: self.attempts }
    }
}

/// One claim of a delivery: its id and attempt number. A result is recorded only if the row
/// is still `sending` under this attempt; a process whose lease expired (and whose row was
/// claimed again elsewhere) records nothing, so its late answer cannot overwrite the newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub id: i64,
    pub attempt: i64,
}

/// Records a successful send; false when the claim had been lost.
pub fn mark_sent(c: &Tx<'_>, now: Ts, a: Attempt, external_id: Option<&str>) -> Result<bool> {
    let n = c.exec(
        "UPDATE deliveries SET status = 'sent', sent_at = ?1, last_error = NULL, lease_until = NULL,
                external_message_id = COALESCE(?2, external_message_id), updated_at = ?1
         WHERE id = ?3 AND attempts = ?4 AND status = 'sending'",
        args![now, external_id, a.id, a.attempt],
    )?;
    Ok(n > 0)
}

/// Records a successful send of `d` (as claimed) with its timeline entry on the alert
/// ("notified via …"); false, recording nothing, when the claim had been lost.
pub fn record_sent(c: &Tx<'_>, done: Ts, d: &Delivery, sent: &crate::notify::Sent) -> Result<bool> {
    let held = mark_sent(c, done, d.attempt(), sent.external_id.as_deref())?;
    if let Some(alert_id) = d.alert_id.filter(|_| held) {
        let what = if d.event_type.is_page() { "notified" } else { "updated" };
        let message = format!("{what} via {} ({}: {})", d.target, d.event_type.as_str(), sent.detail);
        add_event(c, alert_id, done, "notified", &message, None, json!({"delivery_id": d.id}))?;
    }
    Ok(held)
}

/// Records a failed attempt to retry at `next_at`; false when the claim had been lost.
pub fn mark_retry(c: &Tx<'_>, now: Ts, a: Attempt, error: &str, next_at: Ts) -> Result<bool> {
    let n = c.exec(
        "UPDATE deliveries SET status = 'failed', last_error = ?1, next_attempt_at = ?2, lease_until = NULL, updated_at = ?3
         WHERE id = ?4 AND attempts = ?5 AND status = 'sending'",
        args![error, next_at, now, a.id, a.attempt],
    )?;
    c.wake_engines();
    Ok(n > 0)
}

/// Gives up on a delivery; false when the claim had been lost.
pub fn mark_dead(c: &Tx<'_>, now: Ts, a: Attempt, error: &str) -> Result<bool> {
    let n = c.exec(
        "UPDATE deliveries SET status = 'dead', last_error = ?1, lease_until = NULL, updated_at = ?2
         WHERE id = ?3 AND attempts = ?4 AND status = 'sending'",
        args![error, now, a.id, a.attempt],
    )?;
    Ok(n > 0)
}

/// Rows left `sending` go back to the queue (at-least-once delivery, same `message_id`):
/// every one (`expired_only = false`: SQLite's engine at start, when no other process can be
/// sending), or those whose claim expired (several processes on PostgreSQL: a process that
/// died mid-send).
pub fn requeue_sending(c: &Tx<'_>, now: Ts, expired_only: bool) -> Result<usize> {
    let n = c.exec(
        "UPDATE deliveries SET status = 'failed', next_attempt_at = ?1, lease_until = NULL,
                last_error = COALESCE(last_error, 'interrupted while sending; retrying'), updated_at = ?1
         WHERE status = 'sending' AND (?2 = 0 OR lease_until IS NULL OR lease_until <= ?1)",
        args![now, expired_only],
    )?;
    if n > 0 {
        c.wake_engines();
    }
    Ok(n)
}

/// When the next delivery attempt is due, if any.
pub fn next_due(c: &Read<'_>) -> Result<Option<Ts>> {
    c.one("SELECT MIN(next_attempt_at) FROM deliveries WHERE status IN ('pending', 'failed')", &[], |r| r.get(0))
}

/// Counts per channel type and status (metrics).
/// Unsent outbox rows by channel type and status (sent and dead ones are counters).
pub fn counts(c: &Read<'_>) -> Result<Vec<(String, String, i64)>> {
    c.rows(
        "SELECT COALESCE(ch.channel_type, 'deleted'), d.status, COUNT(*) FROM deliveries d LEFT JOIN channels ch ON ch.id = d.channel_id
         WHERE d.status IN ('pending', 'failed', 'sending') GROUP BY 1, 2 ORDER BY 1, 2", &[], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
}

// --- what a send needs ---------------------------------------------------------------------------

/// A claimed delivery with everything needed to render and send it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub delivery: Delivery,
    pub edit_message_id: Option<String>,
    pub channel_kind: crate::domain::channel::ChannelKind,
    pub channel_name: String,
    /// The raw channel config (secrets included).
    pub config: serde_json::Value,
    pub alert: Option<Alert>,
    pub team: crate::domain::message::TeamInfo,
    pub assignee: Option<crate::domain::message::Contact>,
    /// The `message_id` of the first delivery about this alert on this channel, when that is
    /// an earlier one (e-mail threading).
    pub thread_root: Option<String>,
    /// A person's own contact method, when the delivery is for one (not a channel).
    pub contact_method: Option<super::contacts::ContactMethod>,
}

/// Loads a user's contact details.
pub fn contact(c: &Read<'_>, user_id: i64) -> Result<Option<crate::domain::message::Contact>> {
    c.opt(
        "SELECT id, username, display_name, email, phone, telegram_user_id, slack_user_id, mattermost_user_id FROM users WHERE id = ?1",
        args![user_id],
        |r| {
            Ok(crate::domain::message::Contact {
                id: r.get(0)?,
                username: r.get(1)?,
                display_name: r.get(2)?,
                email: r.get(3)?,
                phone: r.get(4)?,
                telegram_user_id: r.get(5)?,
                slack_user_id: r.get(6)?,
                mattermost_user_id: r.get(7)?,
            })
        },
    )
}

/// Everything a claimed delivery needs; `None` when its channel (or contact method) or its
/// alert was deleted meanwhile.
pub fn prepare(c: &Read<'_>, claimed: &Claimed) -> Result<Option<Prepared>> {
    let d = &claimed.delivery;
    match (d.channel_id, d.contact_method_id, &d.fallback_email) {
        (None, Some(method_id), _) => {
            return match super::contacts::get(c, method_id) {
                Ok(m) => prepare_personal(c, claimed, m),
                Err(super::StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            };
        }
        // A page to someone with no notification rules: their account's e-mail, as if it
        // were an e-mail method of theirs.
        (None, None, Some(address)) => {
            let Some(user_id) = d.user_id else { return Ok(None) };
            let method = super::contacts::ContactMethod {
                id: 0,
                user_id,
                method_type: crate::domain::contact::MethodType::Email,
                label: "e-mail".into(),
                value: address.clone(),
                has_secret: false,
                enabled: true,
                verified_at: None,
                created_at: d.created_at,
                updated_at: d.created_at,
                secret: None,
            };
            return prepare_personal(c, claimed, method);
        }
        _ => {}
    }
    let Some(channel_id) = d.channel_id else { return Ok(None) };
    let ch = match super::channels::get(c, channel_id) {
        Ok(ch) => ch,
        Err(super::StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let alert = match d.alert_id {
        Some(id) => match super::alerts::get(c, id) {
            Ok(a) => Some(a),
            Err(super::StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        },
        None => None,
    };
    let team = c.one("SELECT id, slug, name FROM teams WHERE id = ?1", args![ch.team_id], |r| {
        Ok(crate::domain::message::TeamInfo { id: r.get(0)?, slug: r.get(1)?, name: r.get(2)? })
    })?;
    let assignee = match d.user_id.or_else(|| alert.as_ref().and_then(|a| a.assignee_user_id)) {
        Some(u) => contact(c, u)?,
        None => None,
    };
    let thread_root = match d.alert_id {
        Some(alert_id) => c
            .opt(
                "SELECT id, COALESCE(message_id, 'msg_' || id) FROM deliveries WHERE alert_id = ?1 AND channel_id = ?2
                 ORDER BY id LIMIT 1",
                args![alert_id, channel_id],
                |r| Ok((r.get::<i64, _>(0)?, r.get::<String, _>(1)?)),
            )?
            .filter(|(first, _)| *first != d.id)
            .map(|(_, id)| id),
        None => None,
    };
    Ok(Some(Prepared {
        delivery: d.clone(),
        edit_message_id: claimed.edit_message_id.clone(),
        channel_kind: ch.channel_type,
        channel_name: ch.name,
        config: ch.config,
        alert,
        team,
        assignee,
        thread_root,
        contact_method: None,
    }))
}

/// A personal delivery (a notification rule's, or the fallback e-mail): the person's method,
/// the alert and its team; the channel fields name the method.
fn prepare_personal(
    c: &Read<'_>,
    claimed: &Claimed,
    method: super::contacts::ContactMethod,
) -> Result<Option<Prepared>> {
    let d = &claimed.delivery;
    // A shift notice is about no alert; every other personal delivery is about one.
    let alert = match d.alert_id {
        Some(alert_id) => match super::alerts::get(c, alert_id) {
            Ok(a) => Some(a),
            Err(super::StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        },
        None if d.event_type == EventKind::Shift => None,
        None => return Ok(None),
    };
    let team = match &alert {
        Some(a) => c.one("SELECT id, slug, name FROM teams WHERE id = ?1", args![a.team_id], |r| {
            Ok(crate::domain::message::TeamInfo { id: r.get(0)?, slug: r.get(1)?, name: r.get(2)? })
        })?,
        None => crate::domain::message::TeamInfo { id: 0, slug: String::new(), name: "IncidentRelay".into() },
    };
    let assignee = match d.user_id {
        Some(u) => contact(c, u)?,
        None => None,
    };
    Ok(Some(Prepared {
        delivery: d.clone(),
        edit_message_id: None,
        channel_kind: crate::domain::channel::ChannelKind::Webhook,
        channel_name: if method.label.is_empty() {
            method.method_type.as_str().to_string()
        } else {
            method.label.clone()
        },
        config: serde_json::Value::Null,
        alert,
        team,
        assignee,
        thread_root: None,
        contact_method: Some(method),
    }))
}

/// Claims due deliveries, at most `per_channel[channel]` more per channel (its free concurrency)
/// and `limit` in all, oldest due first.
/// Claims up to `limit` due rows, at most `free(channel)` per channel, oldest first within each
/// channel: one index range scan per channel (a backlog on one channel never hides the due rows
/// of another, and a large backlog costs nothing per cycle). Messages about one alert reach one
/// channel in order: a row waits while an earlier one for the same alert and channel is unsent
/// (page → ack → recovery).
pub fn claim(c: &Tx<'_>, now: Ts, lease_secs: i64, limit: usize, free: &dyn Fn(i64) -> usize) -> Result<Vec<Claimed>> {
    // The channels with unsent rows, one index seek each (cheap whatever the backlog); `0`
    // stands for fallback e-mails and for rows whose channel was deleted (marked dead when
    // prepared).
    let mut channels = Vec::new();
    let orphans: bool = c.one(
        "SELECT EXISTS (SELECT 1 FROM deliveries INDEXED BY deliveries_channel_due \
             WHERE status IN ('pending', 'failed') AND channel_id IS NULL AND contact_method_id IS NULL)",
        &[],
        |r| r.get(0),
    )?;
    if orphans {
        channels.push(0);
    }
    let mut last = 0;
    while let Some(ch) = c.one(
        "SELECT MIN(channel_id) FROM deliveries INDEXED BY deliveries_channel_due \
         WHERE status IN ('pending', 'failed') AND channel_id > ?1",
        args![last],
        |r| r.get::<Option<i64>, _>(0),
    )? {
        channels.push(ch);
        last = ch;
    }
    // People's own contact methods, as negative keys.
    let mut last = 0;
    while let Some(m) = c.one(
        "SELECT MIN(contact_method_id) FROM deliveries INDEXED BY deliveries_method_due \
         WHERE status IN ('pending', 'failed') AND contact_method_id IS NOT NULL AND contact_method_id > ?1",
        args![last],
        |r| r.get::<Option<i64>, _>(0),
    )? {
        channels.push(-m);
        last = m;
    }
    let mut picked = Vec::new();
    for ch in channels {
        let room = free(ch).min(limit.saturating_sub(picked.len()));
        if room > 0 {
            picked.extend(due_of_channel(c, now, ch, room)?);
        }
    }
    picked.sort_by_key(|d: &Delivery| (d.next_attempt_at, d.id));
    mark_claimed(c, now, lease_secs, picked)
}

/// The oldest due rows of one channel (`0`: fallback e-mails and rows whose channel is gone)
/// that may go out now.
fn due_of_channel(c: &Read<'_>, now: Ts, channel_id: i64, limit: usize) -> Result<Vec<Delivery>> {
    const IN_ORDER: &str = "NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.alert_id = d.alert_id AND o.channel_id = d.channel_id \
                            AND o.id < d.id AND o.status IN ('pending', 'failed', 'sending'))";
    let sql = if channel_id == 0 {
        "SELECT * FROM deliveries d WHERE status IN ('pending', 'failed') AND ?2 = 0 AND channel_id IS NULL \
         AND contact_method_id IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?3"
            .to_string()
    } else if channel_id < 0 {
        // A contact method: its rows by due time (each is its own message; no threading).
        "SELECT * FROM deliveries d INDEXED BY deliveries_method_due WHERE status IN ('pending', 'failed') \
         AND contact_method_id = -CAST(?2 AS BIGINT) AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?3"
            .to_string()
    } else {
        format!(
            "SELECT * FROM deliveries d INDEXED BY deliveries_channel_due WHERE status IN ('pending', 'failed') AND channel_id = ?2 \
             AND next_attempt_at <= ?1 AND {IN_ORDER} ORDER BY next_attempt_at, id LIMIT ?3"
        )
    };
    // dialect: on PostgreSQL, rows another node is claiming right now are skipped (its claim
    // decides); SQLite has one writer.
    let sql = match c.dialect() {
        Dialect::Sqlite => sql,
        Dialect::Postgres => format!("{sql} FOR UPDATE OF d SKIP LOCKED"),
    };
    c.rows(&sql, args![now, channel_id, limit], row)
}

/// The oldest due row of one channel, claimed (a sender that finished asks for its next row).
pub fn claim_next(c: &Tx<'_>, now: Ts, lease_secs: i64, channel_id: i64) -> Result<Option<Claimed>> {
    let d = due_of_channel(c, now, channel_id, 1)?;
    Ok(mark_claimed(c, now, lease_secs, d)?.pop())
}

/// How long a one-off send (a channel's test message, not renewed) holds its row beyond the
/// send timeout.
pub const LEASE_MARGIN_SECS: i64 = 5;

/// Extends leases still held (same attempt, still `sending`) to `until`; returns how many.
pub fn renew(c: &Tx<'_>, until: Ts, held: &[Attempt]) -> Result<usize> {
    let mut n = 0;
    for a in held {
        n += c.exec(
            "UPDATE deliveries SET lease_until = ?1 WHERE id = ?2 AND attempts = ?3 AND status = 'sending'",
            args![until, a.id, a.attempt],
        )?;
    }
    Ok(n)
}

/// When the earliest lease runs out (rows of a process that died go out again then).
pub fn next_lease_expiry(c: &Read<'_>) -> Result<Option<Ts>> {
    c.one("SELECT MIN(lease_until) FROM deliveries WHERE status = 'sending'", &[], |r| r.get(0))
}

/// Claims rows: `sending`, one more attempt, leased until `now + lease_secs`. A row another
/// process claimed meanwhile is left out (the conditional update changes nothing).
fn mark_claimed(c: &Tx<'_>, now: Ts, lease_secs: i64, picked: Vec<Delivery>) -> Result<Vec<Claimed>> {
    let lease_until = now.plus_secs(lease_secs);
    let mut out = Vec::with_capacity(picked.len());
    for mut d in picked {
        let attempts: Option<i64> = c.opt(
            "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, lease_until = ?1, updated_at = ?2
             WHERE id = ?3 AND status IN ('pending', 'failed') RETURNING attempts",
            args![lease_until, now, d.id],
            |r| r.get(0),
        )?;
        let Some(attempts) = attempts else { continue };
        d.status = DeliveryStatus::Sending;
        d.attempts = attempts;
        let edit_message_id = match d.updates_delivery_id {
            Some(u) => c
                .opt("SELECT external_message_id FROM deliveries WHERE id = ?1", args![u], |r| {
                    r.get::<Option<String>, _>(0)
                })?
                .flatten(),
            None => None,
        };
        out.push(Claimed { delivery: d, edit_message_id });
    }
    Ok(out)
}

/// Whether a message about `episode` of the alert went out through the sender: a channel, or
/// (negative, see [`Delivery::sender_key`]) a person's contact method. Chat buttons and keypads
/// act only on alerts their sender was paged for.
pub fn delivered(c: &Read<'_>, sender: i64, alert_id: i64, episode: i64) -> Result<bool> {
    let sql = if sender < 0 {
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE alert_id = ?1 AND contact_method_id = -CAST(?2 AS BIGINT) AND episode = ?3 AND status = 'sent')"
    } else {
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE alert_id = ?1 AND channel_id = ?2 AND episode = ?3 AND status = 'sent')"
    };
    c.one(sql, args![alert_id, sender, episode], |r| r.get(0))
}

/// The delivery that placed a call or posted a message (through a channel or, negative, a
/// contact method), by the provider's id.
pub fn by_external_id(c: &Read<'_>, sender: i64, external_id: &str) -> Result<Option<Delivery>> {
    let sql = if sender < 0 {
        "SELECT * FROM deliveries WHERE contact_method_id = -CAST(?1 AS BIGINT) AND external_message_id = ?2 ORDER BY id DESC LIMIT 1"
    } else {
        "SELECT * FROM deliveries WHERE channel_id = ?1 AND external_message_id = ?2 ORDER BY id DESC LIMIT 1"
    };
    c.opt(sql, args![sender, external_id], row)
}
