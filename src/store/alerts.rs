//! Alerts, their timeline, and every lifecycle transition. Each mutation runs inside the
//! caller's write transaction and writes the alert row, its timeline events, its outbox rows
//! and its timer (`next_action_at`) together, so a 2xx means all of it is durable.
//!
//! Intake is split in two: [`decide`] only reads (it also powers the route simulator) and
//! [`apply`] carries the decision out.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use super::audit::Actor;
use super::outbox::{self, PageTarget};
use super::routes::Route;
use super::users::UserRef;
use super::{CachedExt, Result, StoreError, json_col, placeholders, to_json};
use crate::domain::alert::{Action, AlertStatus, IncomingAlert, Severity};
use crate::domain::escalation::TargetType;
use crate::domain::matcher::{Matchers, Subject};
use crate::domain::time::Ts;
use crate::domain::{flapping, routing};

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Alert {
    pub id: i64,
    pub team_id: i64,
    pub team_slug: String,
    pub group_id: i64,
    pub route_id: Option<i64>,
    pub rotation_id: Option<i64>,
    pub escalation_policy_id: Option<i64>,
    /// Who is paged for it now.
    pub assignee: Option<UserRef>,
    pub source: String,
    pub dedup_key: String,
    pub title: String,
    pub message: String,
    pub severity: Severity,
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub event_link: Option<String>,
    /// How many times it was received (deduplicated repeats and grouped members included).
    pub alert_count: i64,
    pub first_seen_at: Ts,
    pub last_seen_at: Ts,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<Ts>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<Ts>,
    pub reminder_count: i64,
    pub escalation_level: i64,
    /// When the engine acts on it next (reminder, escalation), if ever.
    pub next_action_at: Option<Ts>,
    /// Flapping: notifications are paused until it is stable.
    pub flapping: bool,
    /// The silence that holds it, while `status` is `silenced`.
    pub silence_id: Option<i64>,
    #[serde(skip)]
    #[schemars(skip)]
    pub escalation_cycle: i64,
    #[serde(skip)]
    #[schemars(skip)]
    pub group_key: Option<String>,
    #[serde(skip)]
    #[schemars(skip)]
    pub state_changes: Vec<i64>,
    #[serde(skip)]
    #[schemars(skip)]
    pub assignee_user_id: Option<i64>,
    /// 0 when it opened, +1 per reopen: signed links and buttons act within one episode only.
    #[serde(skip)]
    #[schemars(skip)]
    pub episode: i64,
}

impl Alert {
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            labels: &self.labels,
            title: &self.title,
            message: &self.message,
            source: &self.source,
            severity: self.severity.as_str(),
            component: self.labels.get("component").map(String::as_str).unwrap_or(""),
        }
    }
}

/// Explicit columns, read by position in [`row`] (name lookups are measurable on the hot path).
const SELECT: &str = "SELECT a.id, a.team_id, t.slug, t.group_id, a.route_id, a.rotation_id, a.escalation_policy_id,
            a.assignee_user_id, u.username, u.display_name, a.source, a.dedup_key, a.title, a.message, a.severity, a.status,
            a.labels, a.event_link, a.alert_count, a.first_seen_at, a.last_seen_at, a.acknowledged_by, a.acknowledged_at,
            a.resolved_by, a.resolved_at, a.reminder_count, a.escalation_level, a.next_action_at, a.flapping, a.silence_id,
            a.escalation_cycle, a.group_key, a.state_changes, a.episode
     FROM alerts a JOIN teams t ON t.id = a.team_id LEFT JOIN users u ON u.id = a.assignee_user_id";

fn json_at<T: serde::de::DeserializeOwned>(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<T> {
    let text: String = r.get(i)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    let assignee_user_id: Option<i64> = r.get(7)?;
    let assignee = match (assignee_user_id, r.get::<_, Option<String>>(8)?) {
        (Some(id), Some(username)) => Some(UserRef { id, username, display_name: r.get(9)? }),
        _ => None,
    };
    let severity: String = r.get(14)?;
    let status: String = r.get(15)?;
    Ok(Alert {
        id: r.get(0)?,
        team_id: r.get(1)?,
        team_slug: r.get(2)?,
        group_id: r.get(3)?,
        route_id: r.get(4)?,
        rotation_id: r.get(5)?,
        escalation_policy_id: r.get(6)?,
        assignee,
        source: r.get(10)?,
        dedup_key: r.get(11)?,
        title: r.get(12)?,
        message: r.get(13)?,
        severity: Severity::parse(&severity).unwrap_or(Severity::Warning),
        status: AlertStatus::parse(&status).unwrap_or(AlertStatus::Firing),
        labels: json_at(r, 16)?,
        event_link: r.get(17)?,
        alert_count: r.get(18)?,
        first_seen_at: r.get(19)?,
        last_seen_at: r.get(20)?,
        acknowledged_by: r.get(21)?,
        acknowledged_at: r.get(22)?,
        resolved_by: r.get(23)?,
        resolved_at: r.get(24)?,
        reminder_count: r.get(25)?,
        escalation_level: r.get(26)?,
        next_action_at: r.get(27)?,
        flapping: r.get(28)?,
        silence_id: r.get(29)?,
        escalation_cycle: r.get(30)?,
        group_key: r.get(31)?,
        state_changes: json_at(r, 32)?,
        assignee_user_id,
        episode: r.get(33)?,
    })
}

pub fn get(c: &Connection, id: i64) -> Result<Alert> {
    let mut st = c.prepare_cached(&format!("{SELECT} WHERE a.id = ?1"))?;
    st.query_row([id], row).optional()?.ok_or_else(|| StoreError::not_found("alert"))
}

// --- timeline ----------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AlertEvent {
    pub id: i64,
    /// received, deduplicated, grouped, reopened, silenced, unsilenced, flapping, stable,
    /// notified, delivery_failed, reminder, escalated, escalation_stopped, acknowledged, resolved…
    pub event_type: String,
    pub message: String,
    pub actor: Option<String>,
    pub created_at: Ts,
    pub data: Value,
}

pub fn add_event(
    c: &Connection,
    alert_id: i64,
    now: Ts,
    event_type: &str,
    message: &str,
    actor: Option<&str>,
    data: Value,
) -> Result<()> {
    let mut st = c.prepare_cached(
        "INSERT INTO alert_events (alert_id, event_type, message, actor, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    st.execute(params![alert_id, event_type, message, actor, data.to_string(), now])?;
    Ok(())
}

/// The searchable text of an alert: dedup key, title and label values (long URL labels left
/// out).
fn search_text(dedup_key: &str, title: &str, labels: &BTreeMap<String, String>) -> String {
    let mut text = String::with_capacity(title.len() + 64);
    text.push_str(dedup_key);
    text.push(' ');
    text.push_str(title);
    for (k, v) in labels {
        if !k.ends_with("_url") && v.len() <= 200 {
            text.push(' ');
            text.push_str(k);
            text.push('=');
            text.push_str(v);
        }
    }
    text
}

/// New alerts are indexed for search by the engine in batches (see [`index_new_alerts`]);
/// this watermark is the highest alert id indexed so far.
const SEARCH_WATERMARK: &str = "search_indexed_alert_id";

/// Indexes alerts created since the last run, at most `limit`; returns how many.
pub fn index_new_alerts(c: &Connection, limit: usize) -> Result<usize> {
    let from: i64 = super::get_setting(c, SEARCH_WATERMARK)?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut st =
        c.prepare_cached("SELECT id, dedup_key, title, labels FROM alerts WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    let rows = st
        .query_map(params![from, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let Some(last) = rows.last().map(|r| r.0) else { return Ok(0) };
    let mut ins = c.prepare_cached("INSERT INTO alerts_fts (rowid, body) VALUES (?1, ?2)")?;
    for (id, key, title, labels) in &rows {
        let labels: BTreeMap<String, String> = serde_json::from_str(labels).unwrap_or_default();
        ins.execute(params![id, search_text(key, title, &labels)])?;
    }
    super::set_setting(c, SEARCH_WATERMARK, &last.to_string())?;
    Ok(rows.len())
}

/// Whether alerts wait to be indexed for search.
pub fn search_backlog(c: &Connection) -> Result<bool> {
    let from: i64 = super::get_setting(c, SEARCH_WATERMARK)?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let max: i64 = c.q_row("SELECT COALESCE(MAX(id), 0) FROM alerts", [], |r| r.get(0))?;
    Ok(max > from)
}

/// Whether alert `id` is already in the search index (content changes re-index only those).
fn indexed(c: &Connection, id: i64) -> Result<bool> {
    let from: i64 = super::get_setting(c, SEARCH_WATERMARK)?.and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(id <= from)
}

/// Re-indexes an alert whose title or labels changed (new alerts wait for the engine).
fn index_search(
    c: &Connection,
    id: i64,
    dedup_key: &str,
    title: &str,
    labels: &BTreeMap<String, String>,
) -> Result<()> {
    if !indexed(c, id)? {
        return Ok(());
    }
    c.prepare_cached("DELETE FROM alerts_fts WHERE rowid = ?1")?.execute([id])?;
    c.prepare_cached("INSERT INTO alerts_fts (rowid, body) VALUES (?1, ?2)")?
        .execute(params![id, search_text(dedup_key, title, labels)])?;
    Ok(())
}

/// Repeats are one timeline entry, not one entry per repeat. During a burst the entry is
/// refreshed at most every [`DEDUP_EVENT_REFRESH_SECS`] (each refresh dirties a page); the
/// exact count is always the alert's `alert_count`.
fn dedup_event(c: &Connection, alert_id: i64, now: Ts, count: i64, why: &str) -> Result<()> {
    let message = format!("received again ({count} in total); {why}");
    let data = json!({"alert_count": count}).to_string();
    let latest: Option<(i64, String, Ts)> = c
        .prepare_cached(
            "SELECT id, event_type, created_at FROM alert_events WHERE alert_id = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row([alert_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    match latest {
        Some((_, t, at)) if t == "deduplicated" && now.secs_since(at) < DEDUP_EVENT_REFRESH_SECS => Ok(()),
        Some((id, t, _)) if t == "deduplicated" => {
            c.prepare_cached("UPDATE alert_events SET message = ?1, data = ?2, created_at = ?3 WHERE id = ?4")?
                .execute(params![message, data, now, id])?;
            Ok(())
        }
        _ => add_event(c, alert_id, now, "deduplicated", &message, None, json!({"alert_count": count})),
    }
}

/// How often a burst of repeats refreshes the alert's "deduplicated" timeline entry.
pub const DEDUP_EVENT_REFRESH_SECS: i64 = 10;

pub fn events(c: &Connection, alert_id: i64) -> Result<Vec<AlertEvent>> {
    let mut st = c.prepare("SELECT * FROM alert_events WHERE alert_id = ?1 ORDER BY id")?;
    let rows = st.query_map([alert_id], |r| {
        Ok(AlertEvent {
            id: r.get("id")?,
            event_type: r.get("event_type")?,
            message: r.get("message")?,
            actor: r.get("actor")?,
            created_at: r.get("created_at")?,
            data: json_col(r, "data")?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

// --- listing -----------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub groups: Option<Vec<i64>>,
    pub team_id: Option<i64>,
    pub statuses: Vec<AlertStatus>,
    pub severity: Option<Severity>,
    pub source: Option<String>,
    pub assignee_id: Option<i64>,
    pub search: Option<String>,
    pub page: i64,
    pub page_size: i64,
}

/// Searches count at most this many matches (a search matching most alerts would otherwise
/// scan them all just to count).
pub const SEARCH_COUNT_CAP: i64 = 1_000;

/// One page of alerts.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Alert>,
    pub total: i64,
    /// `total` stopped at [`SEARCH_COUNT_CAP`].
    pub capped: bool,
}

/// One page of alerts, newest first, and the total count.
pub fn list(c: &Connection, f: &Filter) -> Result<Page> {
    let empty = Page { items: Vec::new(), total: 0, capped: false };
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut from = "alerts a".to_string();
    let mut order = "a.id";
    let mut search = false;
    if let Some(q) = f.search.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        if q.chars().count() >= 3 {
            // Driven by the trigram index (a quoted phrase matches as a case-insensitive
            // substring), newest first, so a page stops as soon as it is full.
            from = "alerts_fts JOIN alerts a ON a.id = alerts_fts.rowid".into();
            order = "alerts_fts.rowid";
            clauses.push("alerts_fts MATCH ?".into());
            args.push(rusqlite::types::Value::Text(format!("\"{}\"", q.replace('"', "\"\""))));
            search = true;
        } else {
            let like = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            clauses.push("a.title LIKE ? ESCAPE '\\'".into());
            args.push(rusqlite::types::Value::Text(like));
        }
    }
    if let Some(g) = &f.groups {
        if g.is_empty() {
            return Ok(empty);
        }
        clauses.push(format!("a.team_id IN (SELECT id FROM teams WHERE group_id IN {})", placeholders(g.len())));
        args.extend(g.iter().map(|x| rusqlite::types::Value::Integer(*x)));
    }
    if let Some(t) = f.team_id {
        clauses.push("a.team_id = ?".into());
        args.push(t.into());
    }
    if !f.statuses.is_empty() {
        clauses.push(format!("a.status IN {}", placeholders(f.statuses.len())));
        args.extend(f.statuses.iter().map(|s| rusqlite::types::Value::Text(s.as_str().into())));
    }
    if let Some(s) = f.severity {
        clauses.push("a.severity = ?".into());
        args.push(rusqlite::types::Value::Text(s.as_str().into()));
    }
    if let Some(s) = &f.source {
        clauses.push("a.source = ?".into());
        args.push(rusqlite::types::Value::Text(s.clone()));
    }
    if let Some(u) = f.assignee_id {
        clauses.push("a.assignee_user_id = ?".into());
        args.push(u.into());
    }
    let filter = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let count_sql = if search {
        format!("SELECT COUNT(*) FROM (SELECT 1 FROM {from} {filter} LIMIT {})", SEARCH_COUNT_CAP + 1)
    } else {
        format!("SELECT COUNT(*) FROM {from} {filter}")
    };
    let mut total: i64 = c.q_row(&count_sql, rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
    let capped = search && total > SEARCH_COUNT_CAP;
    if capped {
        total = SEARCH_COUNT_CAP;
    }
    // Two phases: page through ids only (index-covered where the filters allow; sorting
    // integers is cheap), then read the page's full rows.
    let offset = (f.page.max(1) - 1) * f.page_size;
    let ids_sql =
        format!("SELECT a.id FROM {from} {filter} ORDER BY {order} DESC LIMIT {} OFFSET {offset}", f.page_size);
    let mut st = c.prepare_cached(&ids_sql)?;
    let ids = st
        .query_map(rusqlite::params_from_iter(args.iter()), |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Ok(Page { total, capped, ..empty });
    }
    let sql = format!("{SELECT} WHERE a.id IN {} ORDER BY a.id DESC", placeholders(ids.len()));
    let mut st = c.prepare_cached(&sql)?;
    let items = st.query_map(rusqlite::params_from_iter(ids.iter()), row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(Page { items, total, capped })
}

/// Open alerts per status (metrics, dashboard).
pub fn open_counts(c: &Connection, groups: Option<&[i64]>) -> Result<Vec<(AlertStatus, i64)>> {
    let (sql, args): (String, Vec<i64>) = match groups {
        None => ("SELECT status, COUNT(*) FROM alerts WHERE status <> 'resolved' GROUP BY status".into(), vec![]),
        Some(g) => (
            format!(
                "SELECT status, COUNT(*) FROM alerts WHERE status <> 'resolved' AND team_id IN (SELECT id FROM teams WHERE group_id IN {}) GROUP BY status",
                placeholders(g.len())
            ),
            g.to_vec(),
        ),
    };
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for r in rows {
        let (s, n) = r?;
        if let Some(s) = AlertStatus::parse(&s) {
            out.push((s, n));
        }
    }
    Ok(out)
}

// --- intake ------------------------------------------------------------------------------------

/// `[alerts]` settings intake needs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub reopen_window_secs: i64,
    pub group_window_secs: i64,
    pub flap_threshold: u32,
    pub flap_window_secs: i64,
}

impl Options {
    pub fn from_config(a: &crate::config::AlertsConfig) -> Options {
        Options {
            reopen_window_secs: a.reopen_window_seconds,
            group_window_secs: a.group_window_seconds,
            flap_threshold: a.flap_threshold,
            flap_window_secs: a.flap_window_seconds,
        }
    }
}

/// A route ready for intake: its settings and compiled matchers.
#[derive(Debug, Clone)]
pub struct RouteCtx {
    pub route: Route,
    pub matchers: Matchers,
    pub team_slug: String,
}

impl RouteCtx {
    pub fn load(c: &Connection, route: Route) -> Result<RouteCtx> {
        let matchers = Matchers::parse(&route.matchers, "matchers").map_err(StoreError::Invalid)?;
        let team_slug: String = c.q_row("SELECT slug FROM teams WHERE id = ?1", [route.team_id], |r| r.get(0))?;
        Ok(RouteCtx { route, matchers, team_slug })
    }
}

/// The answer for one incoming alert (`/api/integrations/*` returns one per alert).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IntakeResult {
    /// The alert this event landed on (`null` when nothing was stored).
    pub id: Option<i64>,
    /// A new alert was opened (not a repeat, group member or reopen).
    pub created: bool,
    /// The alert's status afterwards.
    pub status: Option<AlertStatus>,
    pub team_id: Option<i64>,
    pub team_slug: Option<String>,
    pub route_id: Option<i64>,
    pub rotation_id: Option<i64>,
    pub assignee: Option<UserRef>,
    /// Why the alert was not routed (nothing was stored or paged).
    pub routing_error: Option<String>,
    pub dedup_key: Option<String>,
    /// created, deduplicated, grouped, reopened, acknowledged, resolved, ignored, rejected.
    pub outcome: String,
    /// What happened, in words.
    pub message: String,
}

impl IntakeResult {
    /// Whether the engine has work from this result: a page, an update message or search
    /// indexing. Repeats and group members change counters only and leave it asleep.
    pub fn wakes_engine(&self) -> bool {
        matches!(self.outcome.as_str(), "created" | "reopened" | "acknowledged" | "resolved")
    }
}

/// What intake would do with one incoming alert.
#[derive(Debug, Clone)]
pub enum Decision {
    /// The route's matchers reject it.
    Reject(String),
    /// Open a new alert; `silence` holds it when a silence matches.
    Create {
        silence: Option<(i64, String)>,
    },
    /// A repeat of an open alert.
    Dedup(Box<Alert>),
    /// A new member of an open group alert.
    Group(Box<Alert>),
    /// A recently resolved alert fires again.
    Reopen(Box<Alert>, Option<(i64, String)>),
    Resolve(Box<Alert>),
    Acknowledge(Box<Alert>),
    /// Nothing to do (resolve or acknowledge for an unknown key…).
    Ignore(String),
}

impl Decision {
    pub fn describe(&self) -> String {
        match self {
            Decision::Reject(why) => format!("not routed: {why}"),
            Decision::Create { silence: Some((_, name)) } => {
                format!("would open a new alert, silenced by \"{name}\" (nobody paged)")
            }
            Decision::Create { silence: None } => "would open a new alert and page".into(),
            Decision::Dedup(a) => {
                format!("would update open alert #{} (repeat; no new page)", a.id)
            }
            Decision::Group(a) => format!("would join open group alert #{} (no new page)", a.id),
            Decision::Reopen(a, _) => {
                format!("would reopen alert #{} resolved recently, and page", a.id)
            }
            Decision::Resolve(a) => format!("would resolve alert #{}", a.id),
            Decision::Acknowledge(a) => format!("would acknowledge alert #{}", a.id),
            Decision::Ignore(why) => format!("nothing to do: {why}"),
        }
    }
}

/// The open alert for a key: by its own key, or (on grouping routes) as a group member.
fn find_open(c: &Connection, route_id: i64, dedup_key: &str, grouping: bool) -> Result<Option<Alert>> {
    let mut st =
        c.prepare_cached(&format!("{SELECT} WHERE a.route_id = ?1 AND a.dedup_key = ?2 AND a.status <> 'resolved'"))?;
    if let Some(a) = st.query_row(params![route_id, dedup_key], row).optional()? {
        return Ok(Some(a));
    }
    if !grouping {
        return Ok(None);
    }
    let mut st = c.prepare_cached(&format!(
        "{SELECT} JOIN alert_group_members m ON m.alert_id = a.id
         WHERE m.route_id = ?1 AND m.dedup_key = ?2 AND a.status <> 'resolved' ORDER BY a.id DESC LIMIT 1"
    ))?;
    Ok(st.query_row(params![route_id, dedup_key], row).optional()?)
}

fn find_recently_resolved(c: &Connection, route_id: i64, dedup_key: &str, since: Ts) -> Result<Option<Alert>> {
    let mut st = c.prepare_cached(&format!(
        "{SELECT} WHERE a.route_id = ?1 AND a.dedup_key = ?2 AND a.status = 'resolved' AND a.resolved_at >= ?3
         ORDER BY a.id DESC LIMIT 1"
    ))?;
    Ok(st.query_row(params![route_id, dedup_key, since], row).optional()?)
}

fn find_group(c: &Connection, route_id: i64, group_key: &str, since: Ts) -> Result<Option<Alert>> {
    let mut st = c.prepare_cached(&format!(
        "{SELECT} WHERE a.route_id = ?1 AND a.group_key = ?2 AND a.status <> 'resolved' AND a.first_seen_at >= ?3
         ORDER BY a.id DESC LIMIT 1"
    ))?;
    Ok(st.query_row(params![route_id, group_key, since], row).optional()?)
}

/// The first active silence of the team that matches.
fn matching_silence(c: &Connection, team_id: i64, now: Ts, subject: &Subject<'_>) -> Result<Option<(i64, String)>> {
    for s in super::silences::active_for_team(c, team_id, now)? {
        if let Ok(m) = Matchers::parse(&s.matchers, "matchers")
            && m.matches(subject)
        {
            return Ok(Some((s.id, s.name)));
        }
    }
    Ok(None)
}

/// Decides what intake does with `a` on route `rc` (reads only).
pub fn decide(
    c: &Connection,
    now: Ts,
    rc: &RouteCtx,
    a: &IncomingAlert,
    dedup_key: &str,
    opts: &Options,
) -> Result<Decision> {
    let route = &rc.route;
    let source = route.source.as_str();
    let open = find_open(c, route.id, dedup_key, !route.group_by.is_empty())?;
    match a.action {
        Action::Resolve => {
            return Ok(match open {
                Some(alert) => Decision::Resolve(Box::new(alert)),
                None => Decision::Ignore(format!("no open alert with dedup key {dedup_key:?}")),
            });
        }
        Action::Acknowledge => {
            return Ok(match open {
                Some(alert) if alert.status == AlertStatus::Acknowledged => {
                    Decision::Ignore(format!("alert #{} is already acknowledged", alert.id))
                }
                Some(alert) => Decision::Acknowledge(Box::new(alert)),
                None => Decision::Ignore(format!("no open alert with dedup key {dedup_key:?}")),
            });
        }
        Action::Trigger => {}
    }
    if let Some(alert) = open {
        return Ok(Decision::Dedup(Box::new(alert)));
    }
    if let Err(why) = routing::accept(&rc.matchers, a, source) {
        return Ok(Decision::Reject(why));
    }
    if let Some(key) = routing::group_key(&route.group_by, &a.labels)
        && let Some(alert) = find_group(c, route.id, &key, now.plus_secs(-opts.group_window_secs))?
    {
        return Ok(Decision::Group(Box::new(alert)));
    }
    let silence = matching_silence(c, route.team_id, now, &routing::subject(a, source))?;
    if a.reopen
        && let Some(alert) = find_recently_resolved(c, route.id, dedup_key, now.plus_secs(-opts.reopen_window_secs))?
    {
        return Ok(Decision::Reopen(Box::new(alert), silence));
    }
    Ok(Decision::Create { silence })
}

/// The dedup key intake uses: the sender's, or one derived from the alert's content.
pub fn dedup_key_for(a: &IncomingAlert) -> String {
    match &a.dedup_key {
        Some(k) if !k.is_empty() => k.clone(),
        _ => crate::crypto::sha256_hex(&a.content_key())[..32].to_string(),
    }
}

fn result(
    rc: &RouteCtx,
    alert: Option<&Alert>,
    created: bool,
    outcome: &str,
    dedup_key: &str,
    message: String,
) -> IntakeResult {
    IntakeResult {
        id: alert.map(|a| a.id),
        created,
        status: alert.map(|a| a.status),
        team_id: Some(rc.route.team_id),
        team_slug: Some(rc.team_slug.clone()),
        route_id: Some(rc.route.id),
        rotation_id: alert.and_then(|a| a.rotation_id).or(rc.route.rotation_id),
        assignee: alert.and_then(|a| a.assignee.clone()),
        routing_error: None,
        dedup_key: Some(dedup_key.to_string()),
        outcome: outcome.to_string(),
        message,
    }
}

/// A result for an alert that found no route.
pub fn unrouted(rc: Option<&RouteCtx>, why: String, dedup_key: Option<String>) -> IntakeResult {
    IntakeResult {
        id: None,
        created: false,
        status: None,
        team_id: rc.map(|r| r.route.team_id),
        team_slug: rc.map(|r| r.team_slug.clone()),
        route_id: rc.map(|r| r.route.id),
        rotation_id: rc.and_then(|r| r.route.rotation_id),
        assignee: None,
        message: format!("not routed: {why}"),
        routing_error: Some(why),
        dedup_key,
        outcome: "rejected".into(),
    }
}

/// Decides and applies one incoming alert.
pub fn ingest(c: &Connection, now: Ts, rc: &RouteCtx, a: &IncomingAlert, opts: &Options) -> Result<IntakeResult> {
    let dedup_key = dedup_key_for(a);
    let decision = decide(c, now, rc, a, &dedup_key, opts)?;
    apply(c, now, rc, a, &dedup_key, decision, opts)
}

fn integration_actor(rc: &RouteCtx) -> String {
    format!("{} (route {})", rc.route.source.as_str(), rc.route.name)
}

/// Carries out a decision.
pub fn apply(
    c: &Connection,
    now: Ts,
    rc: &RouteCtx,
    a: &IncomingAlert,
    dedup_key: &str,
    decision: Decision,
    opts: &Options,
) -> Result<IntakeResult> {
    let actor = integration_actor(rc);
    match decision {
        Decision::Reject(why) => Ok(unrouted(Some(rc), why, Some(dedup_key.to_string()))),
        Decision::Ignore(why) => Ok(result(rc, None, false, "ignored", dedup_key, why)),
        Decision::Create { silence } => {
            let msg = match &silence {
                Some((_, name)) => format!("new alert, silenced by \"{name}\""),
                None => "new alert".to_string(),
            };
            let alert = create(c, now, rc, a, dedup_key, silence)?;
            Ok(result(rc, Some(&alert), true, "created", dedup_key, msg))
        }
        Decision::Dedup(alert) => {
            let alert = repeat(c, now, &alert, a, dedup_key)?;
            let msg = format!("repeat of open alert #{} ({} in total); no new page", alert.id, alert.alert_count);
            Ok(result(rc, Some(&alert), false, "deduplicated", dedup_key, msg))
        }
        Decision::Group(alert) => {
            let alert = join_group(c, now, &alert, a, dedup_key)?;
            let msg = format!("joined group alert #{}; no new page", alert.id);
            Ok(result(rc, Some(&alert), false, "grouped", dedup_key, msg))
        }
        Decision::Reopen(alert, silence) => {
            let alert = reopen(c, now, &alert, a, silence, opts)?;
            let msg = format!("alert #{} fired again within the reopen window and was reopened", alert.id);
            Ok(result(rc, Some(&alert), false, "reopened", dedup_key, msg))
        }
        Decision::Resolve(alert) => {
            let alert = resolve_from_source(c, now, &alert, dedup_key, &actor, opts)?;
            let msg = match alert.status {
                AlertStatus::Resolved => format!("alert #{} resolved", alert.id),
                _ => format!("member of group alert #{} resolved; others still firing", alert.id),
            };
            Ok(result(rc, Some(&alert), false, "resolved", dedup_key, msg))
        }
        Decision::Acknowledge(alert) => {
            let alert = acknowledge(c, now, alert.id, &Actor::system(&actor))?;
            let msg = format!("alert #{} acknowledged", alert.id);
            Ok(result(rc, Some(&alert), false, "acknowledged", dedup_key, msg))
        }
    }
}

/// Who is paged first: the route's rotation (simple mode) or the policy's first rule.
fn initial_target(c: &Connection, now: Ts, route: &Route) -> Result<(Option<i64>, PageTarget)> {
    if let Some(pid) = route.escalation_policy_id {
        let policy = super::policies::get(c, pid)?;
        if policy.enabled
            && let Some(rule) = policy.rules.first()
        {
            return rule_target(c, now, rule.target_type, rule.target_id);
        }
    }
    let assignee = match route.rotation_id {
        Some(rid) => oncall(c, rid, now)?,
        None => None,
    };
    Ok((assignee, PageTarget::RouteChannels))
}

/// The assignee and page target for one escalation rule.
pub fn rule_target(
    c: &Connection,
    now: Ts,
    target_type: TargetType,
    target_id: i64,
) -> Result<(Option<i64>, PageTarget)> {
    Ok(match target_type {
        TargetType::Rotation => (oncall(c, target_id, now)?, PageTarget::RouteChannels),
        TargetType::User => (Some(target_id), PageTarget::RouteChannels),
        TargetType::Channel => (None, PageTarget::Channel(target_id)),
    })
}

/// The on-call user of a rotation at `now`.
pub fn oncall(c: &Connection, rotation_id: i64, now: Ts) -> Result<Option<i64>> {
    let r = match super::rotations::get_plain(c, rotation_id) {
        Ok(r) => r,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(super::rotations::domain(c, &r)?.oncall_at(now).map(|s| s.user_id))
}

fn create(
    c: &Connection,
    now: Ts,
    rc: &RouteCtx,
    a: &IncomingAlert,
    dedup_key: &str,
    silence: Option<(i64, String)>,
) -> Result<Alert> {
    let route = &rc.route;
    let (assignee, target) = initial_target(c, now, route)?;
    let status = if silence.is_some() { AlertStatus::Silenced } else { AlertStatus::Firing };
    let group_key = routing::group_key(&route.group_by, &a.labels);
    let mut st = c.prepare_cached(
        "INSERT INTO alerts (team_id, route_id, rotation_id, escalation_policy_id, source, dedup_key, group_key, title, message, severity,
                             status, labels, event_link, alert_count, first_seen_at, last_seen_at, assignee_user_id, silence_id,
                             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 1, ?14, ?14, ?15, ?16, ?14, ?14)",
    )?;
    st.execute(params![
        route.team_id,
        route.id,
        route.rotation_id,
        route.escalation_policy_id,
        route.source.as_str(),
        dedup_key,
        group_key,
        a.title,
        a.message,
        a.severity.as_str(),
        status.as_str(),
        to_json(&a.labels),
        a.event_link,
        now,
        assignee,
        silence.as_ref().map(|s| s.0),
    ])?;
    let id = c.last_insert_rowid();
    if group_key.is_some() {
        add_member(c, id, route.id, dedup_key, now)?;
    }
    let actor = integration_actor(rc);
    match &silence {
        Some((sid, name)) => {
            add_event(
                c,
                id,
                now,
                "received",
                &format!("new alert from {}", route.source.as_str()),
                Some(&actor),
                json!({"dedup_key": dedup_key}),
            )?;
            add_event(
                c,
                id,
                now,
                "silenced",
                &format!("silenced by \"{name}\"; nobody is paged while it lasts"),
                None,
                json!({"silence_id": sid}),
            )?;
        }
        None => {
            let alert = get(c, id)?;
            let queued = outbox::page(c, now, &alert, outbox::EventKind::Triggered, &target, assignee)?;
            let who = alert
                .assignee
                .as_ref()
                .map(|u| format!("paging {}", u.username))
                .unwrap_or_else(|| "no on-call user".into());
            add_event(
                c,
                id,
                now,
                "received",
                &format!("new alert from {}; {who}; {queued} notification(s) queued", route.source.as_str()),
                Some(&actor),
                json!({"dedup_key": dedup_key, "deliveries": queued}),
            )?;
            super::escalation::schedule_first(c, now, &alert)?;
        }
    }
    get(c, id)
}

fn add_member(c: &Connection, alert_id: i64, route_id: i64, dedup_key: &str, now: Ts) -> Result<()> {
    let mut st = c.prepare_cached(
        "INSERT INTO alert_group_members (alert_id, route_id, dedup_key, status, first_seen_at, last_seen_at) VALUES (?1, ?2, ?3, 'firing', ?4, ?4)
         ON CONFLICT(alert_id, dedup_key) DO UPDATE SET status = 'firing', last_seen_at = excluded.last_seen_at",
    )?;
    st.execute(params![alert_id, route_id, dedup_key, now])?;
    Ok(())
}

/// A repeat of an open alert: refresh its content, count it, never page again.
fn repeat(c: &Connection, now: Ts, alert: &Alert, a: &IncomingAlert, dedup_key: &str) -> Result<Alert> {
    let grouped = alert.group_key.is_some() && alert.dedup_key != dedup_key;
    let changed = !grouped
        && (alert.title != a.title
            || alert.message != a.message
            || alert.labels != a.labels
            || alert.severity != a.severity
            || (a.event_link.is_some() && alert.event_link != a.event_link));
    if changed {
        c.prepare_cached(
            "UPDATE alerts SET alert_count = alert_count + 1, last_seen_at = ?1, title = ?2, message = ?3, labels = ?4,
                    event_link = COALESCE(?5, event_link), severity = ?6, updated_at = ?1 WHERE id = ?7",
        )?
        .execute(params![
            now,
            a.title,
            a.message,
            to_json(&a.labels),
            a.event_link,
            a.severity.as_str(),
            alert.id
        ])?;
        if alert.title != a.title || alert.labels != a.labels {
            index_search(c, alert.id, &alert.dedup_key, &a.title, &a.labels)?;
        }
    } else {
        // Unchanged content: touch only the counters (no index maintenance).
        c.prepare_cached(
            "UPDATE alerts SET alert_count = alert_count + 1, last_seen_at = ?1, updated_at = ?1 WHERE id = ?2",
        )?
        .execute(params![now, alert.id])?;
    }
    if grouped {
        add_member(c, alert.id, alert.route_id.unwrap_or_default(), dedup_key, now)?;
    }
    let why = match alert.status {
        AlertStatus::Acknowledged => "already acknowledged; no new page",
        AlertStatus::Silenced => "silenced; no page",
        _ => "still open; no new page",
    };
    dedup_event(c, alert.id, now, alert.alert_count + 1, why)?;
    // The row as just written, without reading it back.
    let mut updated = alert.clone();
    updated.alert_count += 1;
    updated.last_seen_at = now;
    if !grouped {
        updated.title = a.title.clone();
        updated.message = a.message.clone();
        updated.labels = a.labels.clone();
        updated.severity = a.severity;
        updated.event_link = a.event_link.clone().or(updated.event_link);
    }
    Ok(updated)
}

fn join_group(c: &Connection, now: Ts, alert: &Alert, a: &IncomingAlert, dedup_key: &str) -> Result<Alert> {
    c.prepare_cached(
        "UPDATE alerts SET alert_count = alert_count + 1, last_seen_at = ?1, updated_at = ?1 WHERE id = ?2",
    )?
    .execute(params![now, alert.id])?;
    add_member(c, alert.id, alert.route_id.unwrap_or_default(), dedup_key, now)?;
    let members: i64 =
        c.q_row("SELECT COUNT(*) FROM alert_group_members WHERE alert_id = ?1", [alert.id], |r| r.get(0))?;
    add_event(
        c,
        alert.id,
        now,
        "grouped",
        &format!("\"{}\" joined the group ({members} members); no new page", a.title),
        None,
        json!({"dedup_key": dedup_key, "members": members}),
    )?;
    get(c, alert.id)
}

/// Records a firing↔resolved change; returns (changes, flapping).
fn flap(alert: &Alert, now: Ts, opts: &Options) -> (Vec<i64>, bool) {
    flapping::record_change(&alert.state_changes, now, opts.flap_window_secs, opts.flap_threshold)
}

fn reopen(
    c: &Connection,
    now: Ts,
    alert: &Alert,
    a: &IncomingAlert,
    silence: Option<(i64, String)>,
    opts: &Options,
) -> Result<Alert> {
    let (changes, flapping) = flap(alert, now, opts);
    let status = if silence.is_some() { AlertStatus::Silenced } else { AlertStatus::Firing };
    let route = match alert.route_id {
        Some(rid) => Some(super::routes::get(c, rid)?),
        None => None,
    };
    let (assignee, target) = match &route {
        Some(r) => initial_target(c, now, r)?,
        None => (None, PageTarget::RouteChannels),
    };
    c.prepare_cached(
        "UPDATE alerts SET status = ?1, resolved_at = NULL, resolved_by = NULL, acknowledged_at = NULL, acknowledged_by = NULL,
                acknowledged_by_user_id = NULL, alert_count = alert_count + 1, last_seen_at = ?2, title = ?3, message = ?4, labels = ?5,
                severity = ?6, reminder_count = 0, escalation_level = 0, escalation_cycle = 0, next_action_at = NULL,
                flapping = ?7, state_changes = ?8, silence_id = ?9, assignee_user_id = ?10, episode = episode + 1, updated_at = ?2
         WHERE id = ?11",
    )?
    .execute(params![
        status.as_str(),
        now,
        a.title,
        a.message,
        to_json(&a.labels),
        a.severity.as_str(),
        flapping,
        to_json(&changes),
        silence.as_ref().map(|s| s.0),
        assignee,
        alert.id
    ])?;
    c.exec(
        "UPDATE alert_group_members SET status = 'firing' WHERE alert_id = ?1 AND dedup_key = ?2",
        params![alert.id, alert.dedup_key],
    )?;
    index_search(c, alert.id, &alert.dedup_key, &a.title, &a.labels)?;
    add_event(c, alert.id, now, "reopened", "fired again within the reopen window", None, json!({}))?;
    let updated = get(c, alert.id)?;
    if let Some((sid, name)) = &silence {
        add_event(c, alert.id, now, "silenced", &format!("silenced by \"{name}\""), None, json!({"silence_id": sid}))?;
    } else if flapping {
        if !alert.flapping {
            add_event(
                c,
                alert.id,
                now,
                "flapping",
                &format!(
                    "more than {} state changes in {} s: notifications paused until it is stable",
                    opts.flap_threshold, opts.flap_window_secs
                ),
                None,
                json!({"changes": changes.len()}),
            )?;
        }
    } else {
        outbox::page(c, now, &updated, outbox::EventKind::Triggered, &target, assignee)?;
        super::escalation::schedule_first(c, now, &updated)?;
    }
    get(c, alert.id)
}

fn resolve_from_source(
    c: &Connection,
    now: Ts,
    alert: &Alert,
    dedup_key: &str,
    actor: &str,
    opts: &Options,
) -> Result<Alert> {
    if alert.group_key.is_some() {
        c.prepare_cached("UPDATE alert_group_members SET status = 'resolved', last_seen_at = ?1 WHERE alert_id = ?2 AND dedup_key = ?3")?
            .execute(params![now, alert.id, dedup_key])?;
        let firing: i64 = c.q_row(
            "SELECT COUNT(*) FROM alert_group_members WHERE alert_id = ?1 AND status = 'firing'",
            [alert.id],
            |r| r.get(0),
        )?;
        if firing > 0 {
            add_event(
                c,
                alert.id,
                now,
                "grouped",
                &format!("member {dedup_key:?} resolved; {firing} still firing"),
                None,
                json!({"dedup_key": dedup_key}),
            )?;
            return get(c, alert.id);
        }
    }
    close(c, now, alert, actor, "resolved by the monitoring system", Some(opts))
}

/// Resolves an open alert (idempotent for resolved ones).
pub fn resolve(c: &Connection, now: Ts, id: i64, actor: &Actor) -> Result<Alert> {
    let alert = get(c, id)?;
    if alert.status == AlertStatus::Resolved {
        return Ok(alert);
    }
    c.exec("UPDATE alert_group_members SET status = 'resolved' WHERE alert_id = ?1", [id])?;
    close(c, now, &alert, &actor.name, &format!("resolved by {}", actor.name), None)
}

fn close(c: &Connection, now: Ts, alert: &Alert, actor: &str, message: &str, opts: Option<&Options>) -> Result<Alert> {
    let (changes, flapping) = match opts {
        Some(o) => flap(alert, now, o),
        None => (alert.state_changes.clone(), alert.flapping),
    };
    c.prepare_cached(
        "UPDATE alerts SET status = 'resolved', resolved_at = ?1, resolved_by = ?2, next_action_at = NULL, state_changes = ?3,
                flapping = ?4, updated_at = ?1 WHERE id = ?5",
    )?
    .execute(params![now, actor, to_json(&changes), flapping, alert.id])?;
    add_event(c, alert.id, now, "resolved", message, Some(actor), json!({}))?;
    let resolved = get(c, alert.id)?;
    let quiet = flapping && alert.flapping;
    let sent = outbox::on_resolve(c, now, &resolved, quiet)?;
    if sent > 0 {
        add_event(
            c,
            alert.id,
            now,
            "recovery_queued",
            &format!("recovery notification to {sent} target(s) notified before"),
            None,
            json!({"deliveries": sent}),
        )?;
    }
    if flapping
        && !alert.flapping
        && let Some(o) = opts
    {
        {
            add_event(
                c,
                alert.id,
                now,
                "flapping",
                &format!(
                    "more than {} state changes in {} s: notifications paused until it is stable",
                    o.flap_threshold, o.flap_window_secs
                ),
                None,
                json!({"changes": changes.len()}),
            )?;
        }
    }
    Ok(resolved)
}

/// Acknowledges an open alert: stops reminders and escalation at once and cancels pages not yet
/// sent (idempotent; a resolved alert is returned unchanged).
pub fn acknowledge(c: &Connection, now: Ts, id: i64, actor: &Actor) -> Result<Alert> {
    let alert = get(c, id)?;
    if matches!(alert.status, AlertStatus::Acknowledged | AlertStatus::Resolved) {
        return Ok(alert);
    }
    c.prepare_cached(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?1, acknowledged_by = ?2, acknowledged_by_user_id = ?3,
                next_action_at = NULL, silence_id = NULL, updated_at = ?1 WHERE id = ?4",
    )?
    .execute(params![now, actor.name, actor.user_id, id])?;
    add_event(c, id, now, "acknowledged", &format!("acknowledged by {}", actor.name), Some(&actor.name), json!({}))?;
    let acked = get(c, id)?;
    outbox::on_acknowledge(c, now, &acked)?;
    Ok(acked)
}

// --- silences and flapping over time (engine) --------------------------------------------------

/// Re-evaluates silences: silenced alerts whose silence ended (and that no other silence
/// matches) fire and page; firing, unacknowledged alerts matching a new silence are silenced.
/// Returns how many alerts changed.
pub fn apply_silences(c: &Connection, now: Ts) -> Result<usize> {
    let mut changed = 0;
    // Only silenced alerts, and firing alerts of teams that have an active silence, can change.
    let teams: Vec<i64> = c
        .prepare_cached("SELECT DISTINCT team_id FROM silences WHERE enabled = 1 AND starts_at <= ?1 AND ends_at > ?1")?
        .query_map([now], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut open: Vec<Alert> = c
        .prepare_cached(&format!("{SELECT} WHERE a.status = 'silenced'"))?
        .query_map([], row)?
        .collect::<Result<_, _>>()?;
    if !teams.is_empty() {
        let sql = format!("{SELECT} WHERE a.status = 'firing' AND a.team_id IN {}", placeholders(teams.len()));
        let firing = c
            .prepare_cached(&sql)?
            .query_map(rusqlite::params_from_iter(teams.iter()), row)?
            .collect::<Result<Vec<_>, _>>()?;
        open.extend(firing);
    }
    let mut by_team: BTreeMap<i64, Vec<(i64, String, Matchers)>> = BTreeMap::new();
    for alert in open {
        let silences = match by_team.get(&alert.team_id) {
            Some(s) => s,
            None => {
                let list = super::silences::active_for_team(c, alert.team_id, now)?
                    .into_iter()
                    .filter_map(|s| Matchers::parse(&s.matchers, "matchers").ok().map(|m| (s.id, s.name, m)))
                    .collect();
                by_team.entry(alert.team_id).or_insert(list)
            }
        };
        let hit = silences.iter().find(|(_, _, m)| m.matches(&alert.subject()));
        match (alert.status, hit) {
            (AlertStatus::Silenced, None) => {
                unsilence(c, now, &alert)?;
                changed += 1;
            }
            (AlertStatus::Firing, Some((sid, name, _))) => {
                c.exec(
                    "UPDATE alerts SET status = 'silenced', silence_id = ?1, next_action_at = NULL, updated_at = ?2 WHERE id = ?3",
                    params![sid, now, alert.id],
                )?;
                outbox::cancel_pages(c, now, alert.id, "cancelled: the alert was silenced")?;
                add_event(
                    c,
                    alert.id,
                    now,
                    "silenced",
                    &format!("silenced by \"{name}\""),
                    None,
                    json!({"silence_id": sid}),
                )?;
                changed += 1;
            }
            (AlertStatus::Silenced, Some((sid, _, _))) if alert.silence_id != Some(*sid) => {
                c.exec("UPDATE alerts SET silence_id = ?1 WHERE id = ?2", params![sid, alert.id])?;
            }
            _ => {}
        }
    }
    Ok(changed)
}

fn unsilence(c: &Connection, now: Ts, alert: &Alert) -> Result<()> {
    let route = match alert.route_id {
        Some(rid) => Some(super::routes::get(c, rid)?),
        None => None,
    };
    let (assignee, target) = match &route {
        Some(r) => initial_target(c, now, r)?,
        None => (None, PageTarget::RouteChannels),
    };
    c.exec(
        "UPDATE alerts SET status = 'firing', silence_id = NULL, assignee_user_id = COALESCE(?1, assignee_user_id),
                reminder_count = 0, escalation_level = 0, escalation_cycle = 0, updated_at = ?2 WHERE id = ?3",
        params![assignee, now, alert.id],
    )?;
    add_event(c, alert.id, now, "unsilenced", "the silence ended and the alert is still firing", None, json!({}))?;
    let updated = get(c, alert.id)?;
    if !updated.flapping {
        outbox::page(c, now, &updated, outbox::EventKind::Triggered, &target, assignee)?;
        super::escalation::schedule_first(c, now, &updated)?;
    }
    Ok(())
}

/// Ends flapping for alerts stable for the window; a still-firing one pages again.
pub fn end_flapping(c: &Connection, now: Ts, window_secs: i64) -> Result<usize> {
    let mut st = c.prepare_cached(&format!("{SELECT} WHERE a.flapping = 1"))?;
    let list = st.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
    let mut n = 0;
    for alert in list {
        if !flapping::stable(&alert.state_changes, now, window_secs) {
            continue;
        }
        c.exec("UPDATE alerts SET flapping = 0, updated_at = ?1 WHERE id = ?2", params![now, alert.id])?;
        add_event(
            c,
            alert.id,
            now,
            "stable",
            &format!("no state change for {window_secs} s: notifications resume"),
            None,
            json!({}),
        )?;
        if alert.status == AlertStatus::Firing {
            let updated = get(c, alert.id)?;
            let route = match alert.route_id {
                Some(rid) => Some(super::routes::get(c, rid)?),
                None => None,
            };
            let (assignee, target) = match &route {
                Some(r) => initial_target(c, now, r)?,
                None => (None, PageTarget::RouteChannels),
            };
            outbox::page(c, now, &updated, outbox::EventKind::Triggered, &target, assignee)?;
            super::escalation::schedule_first(c, now, &updated)?;
        }
        n += 1;
    }
    Ok(n)
}

/// The earliest instant a silence starts or ends, or a flapping alert becomes stable, after `now`.
pub fn next_silence_or_flap_change(c: &Connection, now: Ts, flap_window_secs: i64) -> Result<Option<Ts>> {
    let s: Option<Ts> = c.q_row(
        "SELECT MIN(t) FROM (SELECT starts_at AS t FROM silences WHERE enabled = 1 AND starts_at > ?1
                             UNION ALL SELECT ends_at FROM silences WHERE enabled = 1 AND ends_at > ?1)",
        [now],
        |r| r.get(0),
    )?;
    let mut st = c.prepare_cached("SELECT state_changes FROM alerts INDEXED BY alerts_flapping WHERE flapping = 1")?;
    let mut best = s;
    for text in st.query_map([], |r| r.get::<_, String>(0))? {
        let changes: Vec<i64> = serde_json::from_str(&text?).unwrap_or_default();
        if let Some(t) = flapping::stable_at(&changes, flap_window_secs) {
            best = Some(best.map_or(t, |b| b.min(t)));
        }
    }
    Ok(best)
}

/// Deletes resolved alerts (with their events and deliveries) resolved before `cutoff`.
/// Open alerts are never deleted.
pub fn purge_resolved_before(c: &Connection, cutoff: Ts) -> Result<usize> {
    Ok(c.exec(
        "DELETE FROM alerts WHERE status = 'resolved' AND resolved_at IS NOT NULL AND resolved_at < ?1",
        [cutoff],
    )?)
}

/// Where an intake request's alerts go: the route owning the token, or (personal API token
/// with a team hint) the first of the team's routes whose matchers accept each alert.
#[derive(Debug, Clone)]
pub enum IntakeTarget {
    Route(Box<RouteCtx>),
    Team { team_id: i64, team_slug: String, routes: Vec<RouteCtx> },
}

/// Ingests a request's alerts in the caller's transaction.
pub fn ingest_all(
    c: &Connection,
    now: Ts,
    target: &IntakeTarget,
    alerts: &[IncomingAlert],
    opts: &Options,
) -> Result<Vec<IntakeResult>> {
    let mut out = Vec::with_capacity(alerts.len());
    for a in alerts {
        let r = match target {
            IntakeTarget::Route(rc) => ingest(c, now, rc, a, opts)?,
            IntakeTarget::Team { team_id, team_slug, routes } => {
                let source = routes.first().map(|r| r.route.source.as_str()).unwrap_or("");
                let chosen = routes.iter().find(|rc| {
                    let key = dedup_key_for(a);
                    find_open(c, rc.route.id, &key, !rc.route.group_by.is_empty()).ok().flatten().is_some()
                        || routing::accept(&rc.matchers, a, source).is_ok()
                });
                match chosen {
                    Some(rc) => ingest(c, now, rc, a, opts)?,
                    None => {
                        let mut r = unrouted(
                            None,
                            format!("no enabled {source} route of team {team_slug} matches this alert"),
                            Some(dedup_key_for(a)),
                        );
                        r.team_id = Some(*team_id);
                        r.team_slug = Some(team_slug.clone());
                        r
                    }
                }
            }
        };
        out.push(r);
    }
    Ok(out)
}
