//! The team calendar (rotation shifts split where overrides cut them) and iCalendar
//! subscription feeds (a per-user, per-team token stored as a SHA-256 hash).

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Ctx;
use super::sql::Row;
use super::{Read, Result, StoreError, Tx, rotations, teams};
use crate::args;
use crate::domain::rotation::ShiftKind;
use crate::domain::time::Ts;
use crate::domain::validate::Problems;

/// One stretch of the calendar: who is on call for which rotation, from when to when.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CalendarEvent {
    pub rotation_id: i64,
    pub rotation_name: String,
    pub team_id: i64,
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub start: Ts,
    pub end: Ts,
    /// `rotation` (the regular shift) or `override`.
    #[serde(rename = "type")]
    pub kind: ShiftKind,
    /// The override's reason (empty for rotation shifts).
    pub reason: String,
    /// The override that decides this stretch.
    pub override_id: Option<i64>,
    /// Identity of the shift, the same on every computation (feeds use it as the event UID).
    #[serde(skip)]
    pub uid: String,
}

/// Calendar events of the enabled rotations visible in `groups` (`None` = all), optionally of
/// one team or rotation, over `[from, to)`, ordered by start.
pub fn events(
    c: &Read<'_>,
    groups: Option<&[i64]>,
    team_id: Option<i64>,
    rotation_id: Option<i64>,
    from: Ts,
    to: Ts,
) -> Result<Vec<CalendarEvent>> {
    let mut out = Vec::new();
    let mut names = rotations::Names::default();
    for r in rotations::list(c, groups, team_id, from)? {
        if !r.enabled || rotation_id.is_some_and(|id| id != r.id) {
            continue;
        }
        let rot = rotations::domain(c, &r)?;
        let reasons: HashMap<i64, (String, Ts)> =
            rotations::overrides(c, r.id)?.into_iter().map(|o| (o.id, (o.reason, o.starts_at))).collect();
        for s in rot.shifts(from, to) {
            let u = names.get(c, s.user_id)?;
            // A stretch that starts where its shift starts (or where the window cuts it) is
            // the shift itself; later pieces of a shift split by an override get their start.
            let (base, natural_start, reason) = match (s.slot, s.layer, s.override_id) {
                (_, _, Some(o)) => {
                    let (reason, starts) = reasons.get(&o).cloned().unwrap_or_default();
                    (format!("override-{o}"), starts, reason)
                }
                // Layer 1 keeps the UIDs it had before layers existed.
                (Some(k), Some(l), None) => {
                    let natural = rot.slot_start(l, k).unwrap_or(s.start);
                    if l == r.base_layer_id {
                        (format!("rotation-{}-slot-{k}", r.id), natural, String::new())
                    } else {
                        (format!("rotation-{}-layer-{l}-slot-{k}", r.id), natural, String::new())
                    }
                }
                _ => (format!("rotation-{}", r.id), s.start, String::new()),
            };
            let uid = if s.start == natural_start || s.start == from {
                base
            } else {
                format!("{base}-from-{}", s.start.secs())
            };
            out.push(CalendarEvent {
                rotation_id: r.id,
                rotation_name: r.name.clone(),
                team_id: r.team_id,
                user_id: s.user_id,
                username: u.username,
                display_name: u.display_name,
                start: s.start,
                end: s.end,
                kind: s.kind,
                reason,
                override_id: s.override_id,
                uid,
            });
        }
    }
    out.sort_by_key(|e| (e.start, e.rotation_id));
    Ok(out)
}

// --- subscription feeds ------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Feed {
    pub id: i64,
    pub team_id: i64,
    pub team_name: String,
    pub group_id: i64,
    /// The owner: the feed shows what this user may see, and stops when they lose access.
    pub user_id: i64,
    pub name: String,
    pub token_prefix: String,
    pub created_at: Ts,
    /// The raw token, in the create response only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The subscription URL (it contains the token), in the create response only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Body of `POST /api/calendar/feeds`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedInput {
    pub team_id: Option<i64>,
    /// Default: "On call: <team name>".
    pub name: Option<String>,
}

const SELECT: &str =
    "SELECT f.*, t.name AS team_name, t.group_id FROM calendar_feeds f JOIN teams t ON t.id = f.team_id";

fn row(r: &Row<'_>) -> Result<Feed> {
    Ok(Feed {
        id: r.get("id")?,
        team_id: r.get("team_id")?,
        team_name: r.get("team_name")?,
        group_id: r.get("group_id")?,
        user_id: r.get("user_id")?,
        name: r.get("name")?,
        token_prefix: r.get("token_prefix")?,
        created_at: r.get("created_at")?,
        token: None,
        url: None,
    })
}

pub fn get(c: &Read<'_>, id: i64) -> Result<Feed> {
    c.opt(&format!("{SELECT} WHERE f.id = ?1"), args![id], row)?.ok_or_else(|| StoreError::not_found("feed"))
}

/// The feeds a user created.
pub fn of_user(c: &Read<'_>, user_id: i64) -> Result<Vec<Feed>> {
    c.rows(&format!("{SELECT} WHERE f.user_id = ?1 ORDER BY f.id"), args![user_id], row)
}

/// The feed a raw token opens.
pub fn by_token(c: &Read<'_>, raw: &str) -> Result<Option<Feed>> {
    let hash = crate::crypto::sha256_hex(raw);
    let found = c.opt(&format!("{SELECT} WHERE f.token_hash = ?1"), args![&hash], |r| {
        Ok((r.get::<String, _>("token_hash")?, row(r)?))
    })?;
    Ok(found.filter(|(h, _)| crate::crypto::ct_eq(h.as_bytes(), hash.as_bytes())).map(|(_, f)| f))
}

/// Creates a feed for `team_id` owned by `user_id` with the raw token `raw`.
pub fn create(c: &Tx<'_>, ctx: &Ctx, user_id: i64, input: FeedInput, raw: &str) -> Result<Feed> {
    let mut p = Problems::new();
    p.check(input.team_id.is_some(), "team_id", "is required");
    let name = input.name.map(|n| n.trim().to_string()).unwrap_or_default();
    p.check(name.chars().count() <= 200, "name", "must be at most 200 characters");
    p.finish()?;
    let team_id = input.team_id.unwrap_or_default();
    let team = teams::get(c, team_id).map_err(|_| StoreError::invalid("team_id", "no such team"))?;
    let name = if name.is_empty() { format!("On call: {}", team.name) } else { name };
    let id = c.insert(
"INSERT INTO calendar_feeds (team_id, user_id, name, token_hash, token_prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id", args![team_id, user_id, name, crate::crypto::sha256_hex(raw), crate::crypto::token_prefix(raw), ctx.now])?;
    ctx.audit(
        c,
        "calendar_feed.create",
        "calendar_feed",
        id,
        Some(team.group_id),
        json!({"team_id": team_id, "name": name}),
    )?;
    let mut feed = get(c, id)?;
    feed.token = Some(raw.to_string());
    Ok(feed)
}

pub fn delete(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let f = get(c, id)?;
    c.exec("DELETE FROM calendar_feeds WHERE id = ?1", args![id])?;
    ctx.audit(c, "calendar_feed.delete", "calendar_feed", id, Some(f.group_id), json!({"name": f.name}))?;
    Ok(())
}

// --- personal feeds: one person's shifts over all their rotations ------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PersonalFeed {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub token_prefix: String,
    pub created_at: Ts,
    /// The raw token, in the create response only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The subscription URL (it contains the token), in the create response only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Body of `POST /api/profile/calendar-feeds`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonalFeedInput {
    /// Default: "My on-call shifts".
    pub name: Option<String>,
}

fn personal_row(r: &Row<'_>) -> Result<PersonalFeed> {
    Ok(PersonalFeed {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        name: r.get("name")?,
        token_prefix: r.get("token_prefix")?,
        created_at: r.get("created_at")?,
        token: None,
        url: None,
    })
}

/// A person's own feeds.
pub fn personal_of_user(c: &Read<'_>, user_id: i64) -> Result<Vec<PersonalFeed>> {
    c.rows("SELECT * FROM personal_feeds WHERE user_id = ?1 ORDER BY id", args![user_id], personal_row)
}

/// The personal feed a raw token opens.
pub fn personal_by_token(c: &Read<'_>, raw: &str) -> Result<Option<PersonalFeed>> {
    let hash = crate::crypto::sha256_hex(raw);
    let found = c.opt("SELECT * FROM personal_feeds WHERE token_hash = ?1", args![&hash], |r| {
        Ok((r.get::<String, _>("token_hash")?, personal_row(r)?))
    })?;
    Ok(found.filter(|(h, _)| crate::crypto::ct_eq(h.as_bytes(), hash.as_bytes())).map(|(_, f)| f))
}

/// Creates a personal feed for `user_id` with the raw token `raw`.
pub fn create_personal(
    c: &Tx<'_>,
    ctx: &Ctx,
    user_id: i64,
    input: PersonalFeedInput,
    raw: &str,
) -> Result<PersonalFeed> {
    let name = input
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "My on-call shifts".into());
    if name.chars().count() > 200 {
        return Err(StoreError::invalid("name", "must be at most 200 characters"));
    }
    let id = c.insert(
        "INSERT INTO personal_feeds (user_id, name, token_hash, token_prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        args![user_id, name, crate::crypto::sha256_hex(raw), crate::crypto::token_prefix(raw), ctx.now],
    )?;
    ctx.audit(c, "personal_feed.create", "personal_feed", id, None, json!({"name": name}))?;
    let mut feed = c
        .opt("SELECT * FROM personal_feeds WHERE id = ?1", args![id], personal_row)?
        .ok_or_else(|| StoreError::not_found("feed"))?;
    feed.token = Some(raw.to_string());
    Ok(feed)
}

/// Deletes one of `user_id`'s personal feeds.
pub fn delete_personal(c: &Tx<'_>, ctx: &Ctx, user_id: i64, id: i64) -> Result<()> {
    if c.exec("DELETE FROM personal_feeds WHERE id = ?1 AND user_id = ?2", args![id, user_id])? == 0 {
        return Err(StoreError::not_found("feed"));
    }
    ctx.audit(c, "personal_feed.delete", "personal_feed", id, None, json!({}))
}

/// `user_id`'s shifts that overlap `[from, to)` in the rotations of `groups` (`None` = all),
/// overrides included, each whole: its real start and end even beyond the window (up to two
/// weeks on either side).
pub fn shifts_of(c: &Read<'_>, groups: Option<&[i64]>, user_id: i64, from: Ts, to: Ts) -> Result<Vec<CalendarEvent>> {
    const MARGIN: i64 = 14 * 86_400;
    let all = events(c, groups, None, None, from.plus_secs(-MARGIN), to.plus_secs(MARGIN))?;
    Ok(all.into_iter().filter(|e| e.user_id == user_id && e.end > from && e.start < to).collect())
}
