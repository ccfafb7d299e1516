//! Alert rows: reading them (one, a filtered page, the facts the lifecycle decides on), writing
//! the changes a lifecycle plan asks for, and the search index. What to change is decided in
//! `domain::lifecycle`; `store::intake` and `store::lifecycle` load, decide and apply, all in
//! the caller's write transaction, so a 2xx means all of it is durable.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::routes::Route;
use super::sql::{Row, Val, vals};
use super::users::UserRef;
use super::{Dialect, Read, Result, StoreError, Tx, placeholders, to_json};
use crate::args;
use crate::domain::alert::{AlertImage, AlertLink, AlertSort, AlertStatus, IncomingAlert, STATUS_URGENCY, Severity};
use crate::domain::flapping;
use crate::domain::lifecycle::{AlertState, Flap};
use crate::domain::matcher::Subject;
use crate::domain::time::Ts;

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
    /// More links the sender gave (PagerDuty `links[]`).
    pub links: Vec<AlertLink>,
    /// Images the sender gave (PagerDuty `images[]`).
    pub images: Vec<AlertImage>,
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
    /// Snoozed: acknowledged until then, then firing again.
    pub snoozed_until: Option<Ts>,
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
    /// What lifecycle decisions read of it.
    pub fn state(&self) -> AlertState {
        AlertState {
            id: self.id,
            status: self.status,
            dedup_key: self.dedup_key.clone(),
            group_key: self.group_key.clone(),
            title: self.title.clone(),
            message: self.message.clone(),
            severity: self.severity,
            labels: self.labels.clone(),
            event_link: self.event_link.clone(),
            links: self.links.clone(),
            images: self.images.clone(),
            alert_count: self.alert_count,
            flapping: self.flapping,
            state_changes: self.state_changes.clone(),
            silence_id: self.silence_id,
        }
    }

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
/// A macro, so that the statements intake runs on every request are put together at compile
/// time (`concat!`): formatting a 1 KiB statement per lookup, and hashing it to find the
/// prepared statement, was 7 % of the writer's instructions per duplicate (callgrind).
macro_rules! select {
    () => {
        "SELECT a.id, a.team_id, t.slug, t.group_id, a.route_id, a.rotation_id, a.escalation_policy_id,
            a.assignee_user_id, u.username, u.display_name, a.source, a.dedup_key, a.title, a.message, a.severity, a.status,
            a.labels, a.event_link, a.alert_count, a.first_seen_at, a.last_seen_at, a.acknowledged_by, a.acknowledged_at,
            a.resolved_by, a.resolved_at, a.reminder_count, a.escalation_level, a.next_action_at, a.flapping, a.silence_id,
            a.escalation_cycle, a.group_key, a.state_changes, a.episode, a.links, a.images, a.snoozed_until
     FROM alerts a JOIN teams t ON t.id = a.team_id LEFT JOIN users u ON u.id = a.assignee_user_id"
    };
}
const SELECT: &str = select!();

/// `$sql`, or on PostgreSQL in the write transaction `$sql FOR UPDATE OF a`: the alert row stays
/// as read until the commit, and the read waits for (and sees) another process's change to it
/// ([`Read::locks`]).
macro_rules! locked {
    ($c:expr, $sql:expr) => {
        if $c.locks() { concat!($sql, " FOR UPDATE OF a") } else { $sql }
    };
}

/// The assignee's id and, when the user still exists, their name: three columns from `at`
/// (`a.assignee_user_id, u.username, u.display_name`).
fn assignee_at(r: &Row<'_>, at: usize) -> Result<(Option<i64>, Option<UserRef>)> {
    let id: Option<i64> = r.get(at)?;
    let user = match (id, r.get::<Option<String>, _>(at + 1)?) {
        (Some(id), Some(username)) => Some(UserRef { id, username, display_name: r.get(at + 2)? }),
        _ => None,
    };
    Ok((id, user))
}

fn status_at(r: &Row<'_>, at: usize) -> Result<AlertStatus> {
    Ok(AlertStatus::parse(&r.get::<String, _>(at)?).unwrap_or(AlertStatus::Firing))
}

fn severity_at(r: &Row<'_>, at: usize) -> Result<Severity> {
    Ok(Severity::parse(&r.get::<String, _>(at)?).unwrap_or(Severity::Warning))
}

fn row(r: &Row<'_>) -> Result<Alert> {
    let (assignee_user_id, assignee) = assignee_at(r, 7)?;
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
        severity: severity_at(r, 14)?,
        status: status_at(r, 15)?,
        labels: r.json(16)?,
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
        state_changes: r.json(32)?,
        assignee_user_id,
        episode: r.get(33)?,
        links: r.json(34)?,
        images: r.json(35)?,
        snoozed_until: r.get(36)?,
    })
}

/// What intake reads of the alert a key concerns (open, or resolved recently): the state its
/// decision rests on, and what its answer names. Lighter than [`Alert`], since every incoming
/// repeat reads one: 20 of its columns and no team, and the state is built in place rather than
/// cloned out of an `Alert`.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub state: AlertState,
    pub route_id: Option<i64>,
    pub rotation_id: Option<i64>,
    pub assignee: Option<UserRef>,
}

/// The columns [`candidate`] reads, by position.
macro_rules! select_candidate {
    () => {
        "SELECT a.id, a.status, a.dedup_key, a.group_key, a.title, a.message, a.severity, a.labels, a.event_link,
            a.links, a.images, a.alert_count, a.flapping, a.state_changes, a.silence_id, a.route_id, a.rotation_id,
            a.assignee_user_id, u.username, u.display_name
         FROM alerts a LEFT JOIN users u ON u.id = a.assignee_user_id"
    };
}

fn candidate(r: &Row<'_>) -> Result<Candidate> {
    Ok(Candidate {
        state: AlertState {
            id: r.get(0)?,
            status: status_at(r, 1)?,
            dedup_key: r.get(2)?,
            group_key: r.get(3)?,
            title: r.get(4)?,
            message: r.get(5)?,
            severity: severity_at(r, 6)?,
            labels: r.json(7)?,
            event_link: r.get(8)?,
            links: r.json(9)?,
            images: r.json(10)?,
            alert_count: r.get(11)?,
            flapping: r.get(12)?,
            state_changes: r.json(13)?,
            silence_id: r.get(14)?,
        },
        route_id: r.get(15)?,
        rotation_id: r.get(16)?,
        assignee: assignee_at(r, 17)?.1,
    })
}

pub fn get(c: &Read<'_>, id: i64) -> Result<Alert> {
    c.opt(concat!(select!(), " WHERE a.id = ?1"), args![id], row)?.ok_or_else(|| StoreError::not_found("alert"))
}

// --- several processes deciding about one alert (PostgreSQL) --------------------------------

/// Takes the alert's row lock for the rest of the transaction and reads it as last committed:
/// a decision about an alert (acknowledge, resolve, a silence or flapping change) never rests
/// on a state another process is changing at the same moment. SQLite has one writer: a read.
pub fn get_locked(c: &Tx<'_>, id: i64) -> Result<Alert> {
    let sql = locked!(c, concat!(select!(), " WHERE a.id = ?1"));
    c.opt(sql, args![id], row)?.ok_or_else(|| StoreError::not_found("alert"))
}

/// [`get_locked`] for an alert read from a list: the same alert as last committed, or `None`
/// if it is gone.
pub fn relock(c: &Tx<'_>, alert: Alert) -> Result<Option<Alert>> {
    match c.dialect() {
        Dialect::Sqlite => Ok(Some(alert)),
        Dialect::Postgres => match get_locked(c, alert.id) {
            Ok(a) => Ok(Some(a)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        },
    }
}

/// Claims a due alert for an engine step: false when another process holds it right now (it is
/// running the same step; this one skips the alert rather than wait).
pub fn claim(c: &Tx<'_>, id: i64) -> Result<bool> {
    match c.dialect() {
        Dialect::Sqlite => Ok(true),
        Dialect::Postgres => Ok(c
            .opt("SELECT id FROM alerts WHERE id = ?1 FOR UPDATE SKIP LOCKED", args![id], |r| r.get::<i64, _>(0))?
            .is_some()),
    }
}

// --- search ---------------------------------------------------------------------------------------

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

/// What one run of [`index_search`] did.
#[derive(Debug, Default)]
pub struct Indexed {
    /// New alerts indexed.
    pub alerts: usize,
    /// The `search_queue` entries it followed: the caller removes them with [`forget_queued`]
    /// once this run has committed.
    pub queued: Vec<i64>,
    /// It stopped at `limit`: there is more to do.
    pub more: bool,
}

/// How far the search index has got: the highest alert id indexed. Kept beside the index
/// (`search_state`) and written in the same transactions.
fn indexed_up_to(c: &Read<'_>) -> Result<i64> {
    Ok(c.opt("SELECT value FROM search_state WHERE key = 'alert_id'", &[], |r| r.get::<i64, _>(0))?.unwrap_or(0))
}

/// Brings the search index up to date, at most `limit` queued changes and `limit` new alerts
/// a run. An alert whose text changed (queued by [`queue_reindex`]) or that was deleted
/// (queued by a trigger on SQLite; on PostgreSQL its entry goes by the foreign key) is taken
/// out and, while it exists, added again as it is now; then alerts created since the last run
/// are added. On PostgreSQL a trigger queues every new alert too: one that committed after a
/// later-numbered alert was indexed is below the watermark, and is added from the queue.
///
/// Runs in [`Db::write_search`](super::Db::write_search): on SQLite the index has a file of
/// its own and this reads one snapshot of the database, so every change committed after it is
/// still queued for the next run.
pub fn index_search(c: &Tx<'_>, limit: usize) -> Result<Indexed> {
    let newest: i64 = c.one("SELECT COALESCE(MAX(id), 0) FROM alerts", &[], |r| r.get(0))?;
    let stored = indexed_up_to(c)?;
    // Ids above the newest alert belong to deleted alerts. Before migration V21, SQLite gave
    // such ids out again (see `insert`), so an alert there may still be new to index.
    let from = stored.min(newest);
    let queue = c.rows("SELECT id, alert_id FROM search_queue ORDER BY id LIMIT ?1", args![limit], |r| {
        Ok((r.get::<i64, _>(0)?, r.get::<i64, _>(1)?))
    })?;
    let changed: Vec<i64> =
        queue.iter().map(|q| q.1).collect::<std::collections::BTreeSet<i64>>().into_iter().collect();
    // Only alerts up to the stored watermark can be in the index (on PostgreSQL every new
    // alert is queued as well, and most are above it).
    for id in changed.iter().filter(|id| **id <= stored) {
        c.exec("DELETE FROM alerts_fts WHERE rowid = ?1", args![id])?;
    }
    // Alerts past the watermark are not indexed yet: the new-alert pass takes them as they are.
    let again: Vec<i64> = changed.into_iter().filter(|id| *id <= from).collect();
    if !again.is_empty() {
        let current = c.rows(
            &format!(
                "SELECT id, dedup_key, title, labels FROM alerts WHERE id IN {} ORDER BY id",
                placeholders(again.len())
            ),
            &vals(&again),
            search_row,
        )?;
        add_to_index(c, &current)?;
    }
    let new = c.rows(
        "SELECT id, dedup_key, title, labels FROM alerts WHERE id > ?1 ORDER BY id LIMIT ?2",
        args![from, limit],
        search_row,
    )?;
    add_to_index(c, &new)?;
    let upto = new.last().map_or(from, |(id, _)| *id);
    if upto != stored {
        c.exec(
            "INSERT INTO search_state (key, value) VALUES ('alert_id', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            args![upto],
        )?;
    }
    let more = new.len() == limit || queue.len() == limit;
    Ok(Indexed { alerts: new.len(), queued: queue.into_iter().map(|q| q.0).collect(), more })
}

/// An alert's id and searchable text, from `id, dedup_key, title, labels`.
fn search_row(r: &Row<'_>) -> Result<(i64, String)> {
    let labels: BTreeMap<String, String> = serde_json::from_str(&r.get::<String, _>(3)?).unwrap_or_default();
    Ok((r.get(0)?, search_text(&r.get::<String, _>(1)?, &r.get::<String, _>(2)?, &labels)))
}

/// Adds entries to the index: many rows per statement (a round trip each on PostgreSQL), in
/// chunks of a few fixed sizes so that each connection prepares at most seven statements.
fn add_to_index(c: &Tx<'_>, entries: &[(i64, String)]) -> Result<()> {
    let mut rest = entries;
    while !rest.is_empty() {
        let n = [64, 32, 16, 8, 4, 2, 1].into_iter().find(|&n| n <= rest.len()).unwrap_or(1);
        let (chunk, tail) = rest.split_at(n);
        let values = vec!["(?, ?)"; n].join(", ");
        let args: Vec<Val> = chunk.iter().flat_map(|(id, text)| [Val::Int(*id), Val::Text(text.clone())]).collect();
        c.exec(&format!("INSERT INTO alerts_fts (rowid, body) VALUES {values}"), &args)?;
        rest = tail;
    }
    Ok(())
}

/// Removes `search_queue` entries an indexing run followed (after it committed; see
/// [`Indexed::queued`]).
pub fn forget_queued(c: &Tx<'_>, ids: &[i64]) -> Result<()> {
    for chunk in ids.chunks(500) {
        c.exec(&format!("DELETE FROM search_queue WHERE id IN {}", placeholders(chunk.len())), &vals(chunk))?;
    }
    Ok(())
}

/// Whether the search index has work: new alerts, or queued changes.
pub fn search_backlog(c: &Read<'_>) -> Result<bool> {
    let max: i64 = c.one("SELECT COALESCE(MAX(id), 0) FROM alerts", &[], |r| r.get(0))?;
    if max > indexed_up_to(c)? {
        return Ok(true);
    }
    Ok(c.opt("SELECT 1 FROM search_queue LIMIT 1", &[], |r| r.get::<i64, _>(0))?.is_some())
}

/// Queues an alert whose title or labels changed for the indexer (see [`index_search`]).
fn queue_reindex(c: &Tx<'_>, id: i64) -> Result<()> {
    c.exec("INSERT INTO search_queue (alert_id) VALUES (?1)", args![id])?;
    Ok(())
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
    pub sort: AlertSort,
    pub page: i64,
    pub page_size: i64,
}

/// `CASE <column> WHEN 'first' THEN 0 … END`: a rank following `names`' order.
fn rank(column: &str, names: impl IntoIterator<Item = &'static str>) -> String {
    let whens: Vec<String> = names.into_iter().enumerate().map(|(i, n)| format!("WHEN '{n}' THEN {i}")).collect();
    format!("CASE {column} {} END", whens.join(" "))
}

/// The ORDER BY of a sort; `id` is the newest-first key (the search index's row id when
/// searching, so that a page stops as soon as it is full).
fn order_by(sort: AlertSort, id: &str) -> String {
    match sort {
        AlertSort::Newest => format!("{id} DESC"),
        AlertSort::Oldest => format!("{id} ASC"),
        AlertSort::Severity => format!("{}, {id} DESC", rank("a.severity", Severity::ALL.map(Severity::as_str))),
        AlertSort::Status => format!("{}, {id} DESC", rank("a.status", STATUS_URGENCY.map(AlertStatus::as_str))),
        AlertSort::LastSeen => format!("a.last_seen_at DESC, {id} DESC"),
    }
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

/// One page of alerts in the filter's order (newest first by default), and the total count.
pub fn list(c: &Read<'_>, f: &Filter) -> Result<Page> {
    let empty = Page { items: Vec::new(), total: 0, capped: false };
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<Val> = Vec::new();
    let mut from = "alerts a".to_string();
    let mut order = "a.id";
    let mut search = false;
    if let Some(q) = f.search.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let like = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        if q.chars().count() >= 3 {
            // Driven by the trigram index (a case-insensitive substring), newest first, so a
            // page stops as soon as it is full.
            from = "alerts_fts JOIN alerts a ON a.id = alerts_fts.rowid".into();
            order = "alerts_fts.rowid";
            match c.dialect() {
                // dialect: SQLite's FTS5 trigram table matches a quoted phrase…
                Dialect::Sqlite => {
                    clauses.push("alerts_fts MATCH ?".into());
                    args.push(Val::Text(format!("\"{}\"", q.replace('"', "\"\""))));
                }
                // …PostgreSQL's pg_trgm index serves ILIKE.
                Dialect::Postgres => {
                    clauses.push("alerts_fts.body ILIKE ? ESCAPE '\\'".into());
                    args.push(Val::Text(like));
                }
            }
            search = true;
        } else {
            // dialect: LIKE ignores ASCII case on SQLite; PostgreSQL needs ILIKE.
            let op = if c.dialect() == Dialect::Postgres { "ILIKE" } else { "LIKE" };
            clauses.push(format!("a.title {op} ? ESCAPE '\\'"));
            args.push(Val::Text(like));
        }
    }
    if let Some(g) = &f.groups {
        if g.is_empty() {
            return Ok(empty);
        }
        clauses.push(format!("a.team_id IN (SELECT id FROM teams WHERE group_id IN {})", placeholders(g.len())));
        args.extend(vals(g));
    }
    if let Some(t) = f.team_id {
        clauses.push("a.team_id = ?".into());
        args.push(Val::Int(t));
    }
    if !f.statuses.is_empty() {
        clauses.push(format!("a.status IN {}", placeholders(f.statuses.len())));
        args.extend(f.statuses.iter().map(|s| Val::Text(s.as_str().into())));
    }
    if let Some(s) = f.severity {
        clauses.push("a.severity = ?".into());
        args.push(Val::Text(s.as_str().into()));
    }
    if let Some(s) = &f.source {
        clauses.push("a.source = ?".into());
        args.push(Val::Text(s.clone()));
    }
    if let Some(u) = f.assignee_id {
        clauses.push("a.assignee_user_id = ?".into());
        args.push(Val::Int(u));
    }
    let filter = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let count_sql = if search {
        format!("SELECT COUNT(*) FROM (SELECT 1 FROM {from} {filter} LIMIT {}) AS hits", SEARCH_COUNT_CAP + 1)
    } else {
        format!("SELECT COUNT(*) FROM {from} {filter}")
    };
    let mut total: i64 = c.one(&count_sql, &args, |r| r.get(0))?;
    let capped = search && total > SEARCH_COUNT_CAP;
    if capped {
        total = SEARCH_COUNT_CAP;
    }
    // Two phases: page through ids only (index-covered where the filters allow; sorting
    // integers is cheap), then read the page's full rows.
    let offset = (f.page.max(1) - 1) * f.page_size;
    let ids_sql = format!(
        "SELECT a.id FROM {from} {filter} ORDER BY {} LIMIT {} OFFSET {offset}",
        order_by(f.sort, order),
        f.page_size
    );
    let ids = c.rows(&ids_sql, &args, |r| r.get::<i64, _>(0))?;
    if ids.is_empty() {
        return Ok(Page { total, capped, ..empty });
    }
    let sql = format!("{SELECT} WHERE a.id IN {} ORDER BY {}", placeholders(ids.len()), order_by(f.sort, "a.id"));
    let items = c.rows(&sql, &vals(&ids), row)?;
    Ok(Page { items, total, capped })
}

/// Open alerts per status (metrics, dashboard).
pub fn open_counts(c: &Read<'_>, groups: Option<&[i64]>) -> Result<Vec<(AlertStatus, i64)>> {
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
    let rows = c.rows(&sql, &vals(&args), |r| Ok((r.get::<String, _>(0)?, r.get::<i64, _>(1)?)))?;
    let mut out = Vec::new();
    for (s, n) in rows {
        if let Some(s) = AlertStatus::parse(&s) {
            out.push((s, n));
        }
    }
    Ok(out)
}

// --- the facts intake decides on ----------------------------------------------------------------

/// The open alert for a key: by its own key, or (on grouping routes) as a group member. In the
/// write transaction on PostgreSQL the alert stays locked until the commit (see
/// [`get_locked`]): intake decides on it as last committed. Without one, two processes
/// inserting the same new key meet at the unique index `alerts_open_dedup`, and the loser
/// decides again (`Db::write_retrying`).
pub fn find_open(c: &Read<'_>, route_id: i64, dedup_key: &str, grouping: bool) -> Result<Option<Candidate>> {
    let own = locked!(
        c,
        concat!(select_candidate!(), " WHERE a.route_id = ?1 AND a.dedup_key = ?2 AND a.status <> 'resolved'")
    );
    if let Some(a) = c.opt(own, args![route_id, dedup_key], candidate)? {
        return Ok(Some(a));
    }
    if !grouping {
        return Ok(None);
    }
    find_open_member(c, route_id, dedup_key)
}

/// The open group alert that has this key as a member.
fn find_open_member(c: &Read<'_>, route_id: i64, dedup_key: &str) -> Result<Option<Candidate>> {
    let sql = locked!(
        c,
        concat!(
            select_candidate!(),
            " JOIN alert_group_members m ON m.alert_id = a.id
         WHERE m.route_id = ?1 AND m.dedup_key = ?2 AND a.status <> 'resolved' ORDER BY a.id DESC LIMIT 1"
        )
    );
    c.opt(sql, args![route_id, dedup_key], candidate)
}

/// [`find_open`], and when there is no open alert the one with this key resolved at or after
/// `since` (a reopen candidate): both in one statement. Each of the two lookups has an index of
/// its own (`alerts_open_dedup` and `alerts_resolved_dedup`, both partial); the second runs
/// only when the first finds nothing. On PostgreSQL the row found stays locked until the
/// commit, so two processes never reopen one alert twice.
pub fn find_open_or_recent(
    c: &Read<'_>,
    route_id: i64,
    dedup_key: &str,
    grouping: bool,
    since: Ts,
) -> Result<(Option<Candidate>, Option<Candidate>)> {
    let sql = locked!(
        c,
        concat!(
            select_candidate!(),
            " WHERE a.id = COALESCE(
           (SELECT o.id FROM alerts o WHERE o.route_id = ?1 AND o.dedup_key = ?2 AND o.status <> 'resolved'),
           (SELECT r.id FROM alerts r WHERE r.route_id = ?1 AND r.dedup_key = ?2 AND r.status = 'resolved'
              AND r.resolved_at >= ?3 ORDER BY r.id DESC LIMIT 1))"
        )
    );
    match c.opt(sql, args![route_id, dedup_key, since], candidate)? {
        Some(a) if a.state.status != AlertStatus::Resolved => Ok((Some(a), None)),
        recent if grouping => match find_open_member(c, route_id, dedup_key)? {
            Some(open) => Ok((Some(open), None)),
            None => Ok((None, recent)),
        },
        recent => Ok((None, recent)),
    }
}

/// The alert with this key resolved at or after `since`.
pub fn find_recently_resolved(c: &Read<'_>, route_id: i64, dedup_key: &str, since: Ts) -> Result<Option<Candidate>> {
    c.opt(
        concat!(
            select_candidate!(),
            " WHERE a.route_id = ?1 AND a.dedup_key = ?2 AND a.status = 'resolved' AND a.resolved_at >= ?3
         ORDER BY a.id DESC LIMIT 1"
        ),
        args![route_id, dedup_key, since],
        candidate,
    )
}

/// The open alert of a group that new members may join (its group is open: see
/// `alerts_open_group` in migration V4), first seen at or after `since`.
pub fn find_group(c: &Read<'_>, route_id: i64, group_key: &str, since: Ts) -> Result<Option<Candidate>> {
    c.opt(
        concat!(
            select_candidate!(),
            " WHERE a.route_id = ?1 AND a.group_key = ?2 AND a.status <> 'resolved' AND a.group_open = 1
         AND a.first_seen_at >= ?3 ORDER BY a.id DESC LIMIT 1"
        ),
        args![route_id, group_key, since],
        candidate,
    )
}

/// The dedup keys of a group alert's members that are still firing.
pub fn firing_members(c: &Read<'_>, alert_id: i64) -> Result<Vec<String>> {
    c.rows(
        "SELECT dedup_key FROM alert_group_members WHERE alert_id = ?1 AND status = 'firing'",
        args![alert_id],
        |r| r.get::<String, _>(0),
    )
}

/// How many members a group alert has.
pub fn member_count(c: &Read<'_>, alert_id: i64) -> Result<i64> {
    c.one("SELECT COUNT(*) FROM alert_group_members WHERE alert_id = ?1", args![alert_id], |r| r.get(0))
}

/// Open alerts the silence re-evaluation looks at: every silenced one, and the firing ones of
/// `teams` (those with an active silence).
pub fn silenced_or_firing_in(c: &Read<'_>, teams: &[i64]) -> Result<Vec<Alert>> {
    let mut out = c.rows(&format!("{SELECT} WHERE a.status = 'silenced'"), &[], row)?;
    if !teams.is_empty() {
        let sql = format!("{SELECT} WHERE a.status = 'firing' AND a.team_id IN {}", placeholders(teams.len()));
        out.extend(c.rows(&sql, &vals(teams), row)?);
    }
    Ok(out)
}

/// Alerts marked flapping.
pub fn flapping(c: &Read<'_>) -> Result<Vec<Alert>> {
    c.rows(&format!("{SELECT} WHERE a.flapping = 1"), &[], row)
}

// --- the changes plans ask for ------------------------------------------------------------------

/// What a new alert row holds beyond the incoming alert and its route.
#[derive(Debug, Clone, Copy)]
pub struct Opened<'a> {
    /// The route's team's slug (the returned alert carries it).
    pub team_slug: &'a str,
    pub dedup_key: &'a str,
    pub group_key: Option<&'a str>,
    pub status: AlertStatus,
    pub silence_id: Option<i64>,
    pub assignee: Option<i64>,
    /// Its first reminder or escalation (set with the row: one write, not two).
    pub next_action_at: Option<Ts>,
}

/// A new alert row (its group open for members when it has a group key), returned as stored:
/// built from what was written, with the assignee's names from the same statement, so intake
/// does not read the row back.
pub fn insert(c: &Tx<'_>, now: Ts, route: &Route, a: &IncomingAlert, o: Opened<'_>) -> Result<Alert> {
    if let Some(key) = o.group_key {
        // The schema allows one open group per route and key: a group past its window closes
        // for new members before the next one opens.
        c.exec(
            "UPDATE alerts SET group_open = 0 WHERE route_id = ?1 AND group_key = ?2 AND status <> 'resolved' AND group_open = 1",
            args![route.id, key],
        )?;
    }
    if o.next_action_at.is_some() {
        c.wake_engines();
    }
    macro_rules! insert_with_id {
        ($id:expr) => {
            concat!(
                "INSERT INTO alerts (id, team_id, route_id, rotation_id, escalation_policy_id, source, dedup_key, group_key, group_open,
                                     title, message, severity, status, labels, event_link, alert_count, first_seen_at, last_seen_at,
                                     assignee_user_id, silence_id, next_action_at, links, images, created_at, updated_at)
                 VALUES (",
                $id,
                ", ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 1, ?15, ?15, ?16, ?17, ?18, ?19, ?20, ?15, ?15)
                 RETURNING id, (SELECT u.username FROM users u WHERE u.id = alerts.assignee_user_id),
                           (SELECT u.display_name FROM users u WHERE u.id = alerts.assignee_user_id)"
            )
        };
    }
    // dialect: an id no alert ever had. PostgreSQL's sequence never gives one twice; SQLite
    // would give the largest id + 1, a deleted newest alert's id included, so it starts above
    // the largest id ever deleted (kept by the trigger of migration V21).
    let sql = match c.dialect() {
        Dialect::Sqlite => insert_with_id!(
            "MAX(COALESCE((SELECT MAX(id) FROM alerts), 0),
                 COALESCE((SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'alerts.deleted_max_id'), 0)) + 1"
        ),
        Dialect::Postgres => insert_with_id!("DEFAULT"),
    };
    let (id, username, display_name) = c.one(
        sql,
        args![
            route.team_id,
            route.id,
            route.rotation_id,
            route.escalation_policy_id,
            route.source.as_str(),
            o.dedup_key,
            o.group_key,
            o.group_key.is_some(),
            a.title,
            a.message,
            a.severity.as_str(),
            o.status.as_str(),
            to_json(&a.labels),
            a.event_link,
            now,
            o.assignee,
            o.silence_id,
            o.next_action_at,
            to_json(&a.links),
            to_json(&a.images),
        ],
        |r| Ok((r.get::<i64, _>(0)?, r.get::<Option<String>, _>(1)?, r.get::<Option<String>, _>(2)?)),
    )?;
    if o.group_key.is_some() {
        add_member(c, id, route.id, o.dedup_key, now)?;
    }
    let assignee = match (o.assignee, username) {
        (Some(id), Some(username)) => Some(UserRef { id, username, display_name: display_name.unwrap_or_default() }),
        _ => None,
    };
    // The columns' defaults (migrations) for the rest.
    Ok(Alert {
        id,
        team_id: route.team_id,
        team_slug: o.team_slug.to_string(),
        group_id: route.group_id,
        route_id: Some(route.id),
        rotation_id: route.rotation_id,
        escalation_policy_id: route.escalation_policy_id,
        assignee,
        source: route.source.as_str().to_string(),
        dedup_key: o.dedup_key.to_string(),
        title: a.title.clone(),
        message: a.message.clone(),
        severity: a.severity,
        status: o.status,
        labels: a.labels.clone(),
        event_link: a.event_link.clone(),
        links: a.links.clone(),
        images: a.images.clone(),
        alert_count: 1,
        first_seen_at: now,
        last_seen_at: now,
        acknowledged_by: None,
        acknowledged_at: None,
        resolved_by: None,
        resolved_at: None,
        reminder_count: 0,
        escalation_level: 0,
        next_action_at: o.next_action_at,
        flapping: false,
        silence_id: o.silence_id,
        snoozed_until: None,
        escalation_cycle: 0,
        group_key: o.group_key.map(str::to_string),
        state_changes: Vec::new(),
        assignee_user_id: o.assignee,
        episode: 0,
    })
}

/// Records a key as a (firing) member of a group alert.
pub fn add_member(c: &Tx<'_>, alert_id: i64, route_id: i64, dedup_key: &str, now: Ts) -> Result<()> {
    c.exec(
        "INSERT INTO alert_group_members (alert_id, route_id, dedup_key, status, first_seen_at, last_seen_at) VALUES (?1, ?2, ?3, 'firing', ?4, ?4)
         ON CONFLICT(alert_id, dedup_key) DO UPDATE SET status = 'firing', last_seen_at = excluded.last_seen_at",
        args![alert_id, route_id, dedup_key, now],
    )?;
    Ok(())
}

/// A member of a group alert resolved.
pub fn resolve_member(c: &Tx<'_>, now: Ts, alert_id: i64, dedup_key: &str) -> Result<()> {
    c.exec(
        "UPDATE alert_group_members SET status = 'resolved', last_seen_at = ?1 WHERE alert_id = ?2 AND dedup_key = ?3",
        args![now, alert_id, dedup_key],
    )?;
    Ok(())
}

/// Every member of a group alert resolved (a person resolved the alert).
pub fn resolve_members(c: &Tx<'_>, alert_id: i64) -> Result<()> {
    c.exec("UPDATE alert_group_members SET status = 'resolved' WHERE alert_id = ?1", args![alert_id])?;
    Ok(())
}

/// Counts a repeat (or a new group member): the count and last-seen time only.
pub fn count_repeat(c: &Tx<'_>, now: Ts, alert_id: i64) -> Result<()> {
    c.exec(
        "UPDATE alerts SET alert_count = alert_count + 1, last_seen_at = ?1, updated_at = ?1 WHERE id = ?2",
        args![now, alert_id],
    )?;
    Ok(())
}

/// Counts a repeat that brings new content: title, message, labels, severity and (when given)
/// the link are replaced, and the search index follows the title and labels.
pub fn repeat_with_content(c: &Tx<'_>, now: Ts, alert: &AlertState, a: &IncomingAlert) -> Result<()> {
    c.exec(
        "UPDATE alerts SET alert_count = alert_count + 1, last_seen_at = ?1, title = ?2, message = ?3, labels = ?4,
                event_link = COALESCE(?5, event_link), severity = ?6, links = COALESCE(?8, links),
                images = COALESCE(?9, images), updated_at = ?1 WHERE id = ?7",
        args![
            now,
            a.title,
            a.message,
            to_json(&a.labels),
            a.event_link,
            a.severity.as_str(),
            alert.id,
            given(&a.links),
            given(&a.images)
        ],
    )?;
    if alert.title != a.title || alert.labels != a.labels {
        queue_reindex(c, alert.id)?;
    }
    Ok(())
}

/// A resolved alert opens again with the incoming content, a new episode and fresh counters.
#[allow(clippy::too_many_arguments)]
pub fn reopen(
    c: &Tx<'_>,
    now: Ts,
    alert: &AlertState,
    a: &IncomingAlert,
    status: AlertStatus,
    flap: &Flap,
    silence_id: Option<i64>,
    assignee: Option<i64>,
) -> Result<()> {
    c.exec(
        "UPDATE alerts SET status = ?1, resolved_at = NULL, resolved_by = NULL, acknowledged_at = NULL, acknowledged_by = NULL, snoozed_until = NULL,
                acknowledged_by_user_id = NULL, alert_count = alert_count + 1, last_seen_at = ?2, title = ?3, message = ?4, labels = ?5,
                severity = ?6, reminder_count = 0, escalation_level = 0, escalation_cycle = 0, next_action_at = NULL,
                flapping = ?7, state_changes = ?8, silence_id = ?9, assignee_user_id = ?10, episode = episode + 1, updated_at = ?2,
                links = COALESCE(?12, links), images = COALESCE(?13, images),
                group_open = CASE WHEN group_key IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM alerts o WHERE o.route_id = alerts.route_id AND o.group_key = alerts.group_key
                    AND o.status <> 'resolved' AND o.group_open = 1 AND o.id <> alerts.id) THEN 1 ELSE 0 END
         WHERE id = ?11", args![
        status.as_str(),
        now,
        a.title,
        a.message,
        to_json(&a.labels),
        a.severity.as_str(),
        flap.flapping,
        to_json(&flap.changes),
        silence_id,
        assignee,
        alert.id,
        given(&a.links),
        given(&a.images)
    ])?;
    c.exec(
        "UPDATE alert_group_members SET status = 'firing' WHERE alert_id = ?1 AND dedup_key = ?2",
        args![alert.id, alert.dedup_key],
    )?;
    if alert.title != a.title || alert.labels != a.labels {
        queue_reindex(c, alert.id)?;
    }
    Ok(())
}

/// A list the sender gave, as JSON, or `None` (keep what the alert has) when it gave none.
fn given<T: Serialize>(list: &[T]) -> Option<String> {
    (!list.is_empty()).then(|| to_json(list))
}

/// Marks an alert resolved (no timer any more) with its flap record.
pub fn close(c: &Tx<'_>, now: Ts, alert_id: i64, actor: &str, flap: &Flap) -> Result<()> {
    c.exec(
        "UPDATE alerts SET status = 'resolved', resolved_at = ?1, resolved_by = ?2, next_action_at = NULL, snoozed_until = NULL, state_changes = ?3,
                flapping = ?4, updated_at = ?1 WHERE id = ?5", args![now, actor, to_json(&flap.changes), flap.flapping, alert_id])?;
    Ok(())
}

/// Marks an alert acknowledged: no timer, no silence any more.
pub fn acknowledge(c: &Tx<'_>, now: Ts, id: i64, actor: &str, actor_user_id: Option<i64>) -> Result<()> {
    c.exec(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?1, acknowledged_by = ?2, acknowledged_by_user_id = ?3,
                next_action_at = NULL, snoozed_until = NULL, silence_id = NULL, updated_at = ?1 WHERE id = ?4", args![now, actor, actor_user_id, id])?;
    Ok(())
}

/// A silence holds a firing alert now: no timer while it lasts.
pub fn silence(c: &Tx<'_>, now: Ts, id: i64, silence_id: i64) -> Result<()> {
    c.exec(
        "UPDATE alerts SET status = 'silenced', silence_id = ?1, next_action_at = NULL, updated_at = ?2 WHERE id = ?3",
        args![silence_id, now, id],
    )?;
    Ok(())
}

/// Another silence holds a silenced alert.
pub fn switch_silence(c: &Tx<'_>, id: i64, silence_id: i64) -> Result<()> {
    c.exec("UPDATE alerts SET silence_id = ?1 WHERE id = ?2", args![silence_id, id])?;
    Ok(())
}

/// A silenced alert fires again, paged from the start (keeps its assignee when none is on call).
pub fn lift_silence(c: &Tx<'_>, now: Ts, id: i64, assignee: Option<i64>) -> Result<()> {
    c.exec(
        "UPDATE alerts SET status = 'firing', silence_id = NULL, assignee_user_id = COALESCE(?1, assignee_user_id),
                reminder_count = 0, escalation_level = 0, escalation_cycle = 0, updated_at = ?2 WHERE id = ?3",
        args![assignee, now, id],
    )?;
    Ok(())
}

/// A flapping alert is stable again.
pub fn end_flapping(c: &Tx<'_>, now: Ts, id: i64) -> Result<()> {
    c.exec("UPDATE alerts SET flapping = 0, updated_at = ?1 WHERE id = ?2", args![now, id])?;
    Ok(())
}

/// The earliest instant a silence starts or ends, or a flapping alert becomes stable, after `now`.
pub fn next_silence_or_flap_change(c: &Read<'_>, now: Ts, flap_window_secs: i64) -> Result<Option<Ts>> {
    let s: Option<Ts> = c.one(
        "SELECT MIN(t) FROM (SELECT starts_at AS t FROM silences WHERE enabled = 1 AND starts_at > ?1
                             UNION ALL SELECT ends_at FROM silences WHERE enabled = 1 AND ends_at > ?1) AS edges",
        args![now],
        |r| r.get(0),
    )?;
    let mut best = s;
    let texts = c.rows("SELECT state_changes FROM alerts INDEXED BY alerts_flapping WHERE flapping = 1", &[], |r| {
        r.get::<String, _>(0)
    })?;
    for text in texts {
        let changes: Vec<i64> = serde_json::from_str(&text).unwrap_or_default();
        if let Some(t) = flapping::stable_at(&changes, flap_window_secs) {
            best = Some(best.map_or(t, |b| b.min(t)));
        }
    }
    Ok(best)
}

/// Deletes at most `limit` resolved alerts (with their events and deliveries) resolved before
/// `cutoff`; returns how many. Open alerts are never deleted.
pub fn purge_resolved_before(c: &Tx<'_>, cutoff: Ts, limit: usize) -> Result<usize> {
    c.exec(
        "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE status = 'resolved' AND resolved_at IS NOT NULL
                                         AND resolved_at < ?1 LIMIT ?2)",
        args![cutoff, limit as i64],
    )
}

// --- what people do to an alert beyond ack and resolve -----------------------------------------

/// Snoozes an acknowledged alert until `until`: the engine's timer wakes it then.
pub fn snooze(c: &Tx<'_>, id: i64, until: Ts) -> Result<()> {
    c.exec("UPDATE alerts SET snoozed_until = ?1, next_action_at = ?1 WHERE id = ?2", args![until, id])?;
    Ok(())
}

/// Back to firing, its current step due now (a policy's level steps back one, so that the step
/// fires again rather than the next).
pub fn restart_current_step(c: &Tx<'_>, now: Ts, id: i64) -> Result<()> {
    c.exec(
        "UPDATE alerts SET status = 'firing', acknowledged_at = NULL, acknowledged_by = NULL, acknowledged_by_user_id = NULL,
                snoozed_until = NULL, next_action_at = ?1,
                escalation_level = CASE WHEN escalation_policy_id IS NOT NULL THEN escalation_level - 1 ELSE escalation_level END,
                updated_at = ?1 WHERE id = ?2",
        args![now, id],
    )?;
    Ok(())
}

/// A new assignee (reassign): firing again, with its timers as they were.
pub fn reassign(c: &Tx<'_>, now: Ts, id: i64, user_id: i64) -> Result<()> {
    c.exec("UPDATE alerts SET assignee_user_id = ?1, updated_at = ?2 WHERE id = ?3", args![user_id, now, id])?;
    Ok(())
}

/// Makes the alert's timer due now (escalate now).
pub fn due_now(c: &Tx<'_>, now: Ts, id: i64) -> Result<()> {
    c.exec(
        "UPDATE alerts SET status = 'firing', acknowledged_at = NULL, acknowledged_by = NULL, acknowledged_by_user_id = NULL,
                snoozed_until = NULL, next_action_at = ?1, updated_at = ?1 WHERE id = ?2",
        args![now, id],
    )?;
    Ok(())
}
