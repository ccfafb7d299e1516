//! Rotations, their members and overrides. The on-call computation itself is
//! `domain::rotation`; this module loads its inputs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Ctx;
use super::sql::{Row, Val, vals};
use super::{Read, Result, StoreError, Tx, placeholders};
use crate::args;
use crate::domain::rotation::{
    self, IntervalUnit, Override as DomainOverride, RotationSpec, RotationType, parse_handoff_time,
};
use crate::domain::time::{Ts, zone};
use crate::domain::validate::Problems;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OncallUser {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    /// On a rotation's `current_oncall`: when this stretch of on-call time began (a handoff or
    /// an override's edge, possibly before now) and when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Ts>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Rotation {
    pub id: i64,
    pub team_id: i64,
    pub group_id: i64,
    pub name: String,
    pub description: String,
    pub start_at: Ts,
    pub rotation_type: RotationType,
    pub interval_value: i64,
    pub interval_unit: IntervalUnit,
    /// Local `HH:MM` in `timezone`.
    pub handoff_time: String,
    /// Monday = 0 … Sunday = 6 (weekly rotations).
    pub handoff_weekday: i64,
    /// IANA zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Re-notify unacknowledged alerts this often; 0 = off.
    pub reminder_interval_seconds: i64,
    pub enabled: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
    /// Who is on call now (`null` when nobody is).
    pub current_oncall: Option<OncallUser>,
}

/// Body of `POST /api/rotations` (`team_id`, `name` required) and `PUT /api/rotations/{id}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct RotationInput {
    pub team_id: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// RFC 3339; a naive date-time is read in the rotation's `timezone`. Default: now.
    pub start_at: Option<String>,
    pub rotation_type: Option<RotationType>,
    pub interval_value: Option<i64>,
    pub interval_unit: Option<IntervalUnit>,
    pub handoff_time: Option<String>,
    pub handoff_weekday: Option<i64>,
    pub timezone: Option<String>,
    pub reminder_interval_seconds: Option<i64>,
    pub enabled: Option<bool>,
}

const SELECT: &str = "SELECT r.*, t.group_id FROM rotations r JOIN teams t ON t.id = r.team_id";

fn row(r: &Row<'_>) -> Result<Rotation> {
    let kind: String = r.get("rotation_type")?;
    let unit: String = r.get("interval_unit")?;
    Ok(Rotation {
        id: r.get("id")?,
        team_id: r.get("team_id")?,
        group_id: r.get("group_id")?,
        name: r.get("name")?,
        description: r.get("description")?,
        start_at: r.get("start_at")?,
        rotation_type: RotationType::parse(&kind).unwrap_or(RotationType::Daily),
        interval_value: r.get("interval_value")?,
        interval_unit: IntervalUnit::parse(&unit).unwrap_or(IntervalUnit::Days),
        handoff_time: r.get("handoff_time")?,
        handoff_weekday: r.get("handoff_weekday")?,
        timezone: r.get("timezone")?,
        reminder_interval_seconds: r.get("reminder_interval_seconds")?,
        enabled: r.get("enabled")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        current_oncall: None,
    })
}

/// The rotation row without `current_oncall`.
pub fn get_plain(c: &Read<'_>, id: i64) -> Result<Rotation> {
    c.opt(&format!("{SELECT} WHERE r.id = ?1"), args![id], row)?.ok_or_else(|| StoreError::not_found("rotation"))
}

/// The rotation with `current_oncall` at `now`.
pub fn get(c: &Read<'_>, id: i64, now: Ts) -> Result<Rotation> {
    let mut r = get_plain(c, id)?;
    r.current_oncall = oncall_user(c, &r, now)?;
    Ok(r)
}

/// Rotations visible in `groups` (`None` = all), optionally of one team, with `current_oncall`.
pub fn list(c: &Read<'_>, groups: Option<&[i64]>, team_id: Option<i64>, now: Ts) -> Result<Vec<Rotation>> {
    let mut sql = format!("{SELECT} WHERE (CAST(?1 AS BIGINT) IS NULL OR r.team_id = ?1)");
    let mut args: Vec<Val> = args![team_id].to_vec();
    if let Some(g) = groups {
        sql.push_str(&format!(" AND t.group_id IN {}", placeholders(g.len())));
        args.extend(vals(g));
    }
    sql.push_str(" ORDER BY r.team_id, r.name");
    let mut out = c.rows(&sql, &vals(&args), row)?;
    for r in out.iter_mut() {
        r.current_oncall = oncall_user(c, r, now)?;
    }
    Ok(out)
}

/// The domain input for on-call computation.
pub fn domain(c: &Read<'_>, r: &Rotation) -> Result<rotation::Rotation> {
    let tz = zone(&r.timezone).map_err(|e| StoreError::Db(format!("rotation {}: {e}", r.id)))?;
    // Members (kind 0, in order) and overrides (kind 1) in one query: intake reads this for
    // every new alert.
    let rows = c.rows(
        "SELECT 0 AS kind, user_id, position, id, NULL AS starts_at, NULL AS ends_at FROM rotation_members WHERE rotation_id = ?1
         UNION ALL
         SELECT 1, user_id, NULL, id, starts_at, ends_at FROM rotation_overrides WHERE rotation_id = ?1
         ORDER BY 1, 3, 4",
        args![r.id],
        |x| Ok((x.get::<i64, _>(0)?, x.get::<i64, _>(1)?, x.get::<i64, _>(3)?, x.get::<Option<Ts>, _>(4)?, x.get::<Option<Ts>, _>(5)?)),
    )?;
    let mut members = Vec::new();
    let mut overrides = Vec::new();
    for (kind, user_id, id, starts_at, ends_at) in rows {
        match (kind, starts_at, ends_at) {
            (1, Some(starts_at), Some(ends_at)) => overrides.push(DomainOverride { id, user_id, starts_at, ends_at }),
            _ => members.push(user_id),
        }
    }
    Ok(rotation::Rotation {
        spec: RotationSpec {
            start_at: r.start_at,
            rotation_type: r.rotation_type,
            interval_value: r.interval_value,
            interval_unit: r.interval_unit,
            handoff_time: parse_handoff_time(&r.handoff_time).unwrap_or((9, 0)),
            handoff_weekday: r.handoff_weekday as i8,
            timezone: tz,
        },
        enabled: r.enabled,
        members,
        overrides,
    })
}

pub fn user_ref(c: &Read<'_>, user_id: i64) -> Result<OncallUser> {
    c.one("SELECT id, username, display_name FROM users WHERE id = ?1", args![user_id], |x| {
        Ok(OncallUser { user_id: x.get(0)?, username: x.get(1)?, display_name: x.get(2)?, since: None, until: None })
    })
}

impl OncallUser {
    /// The display name, or the username when there is none.
    pub fn label(&self) -> &str {
        if self.display_name.is_empty() { &self.username } else { &self.display_name }
    }
}

/// Users looked up once each, for lists that name many shifts (calendars, shift lists).
#[derive(Debug, Default)]
pub struct Names(std::collections::HashMap<i64, OncallUser>);

impl Names {
    pub fn get(&mut self, c: &Read<'_>, user_id: i64) -> Result<OncallUser> {
        if let Some(u) = self.0.get(&user_id) {
            return Ok(u.clone());
        }
        let u = user_ref(c, user_id)?;
        self.0.insert(user_id, u.clone());
        Ok(u)
    }
}

fn oncall_user(c: &Read<'_>, r: &Rotation, now: Ts) -> Result<Option<OncallUser>> {
    match domain(c, r)?.shift_at(now) {
        Some(shift) => {
            Ok(Some(OncallUser { since: Some(shift.start), until: Some(shift.end), ..user_ref(c, shift.user_id)? }))
        }
        None => Ok(None),
    }
}

fn apply(r: &mut Rotation, input: RotationInput, now: Ts) -> Result<()> {
    let mut p = Problems::new();
    if let Some(v) = input.name {
        r.name = v.trim().to_string();
    }
    if let Some(v) = input.description {
        r.description = v;
    }
    if let Some(v) = input.rotation_type {
        r.rotation_type = v;
    }
    if let Some(v) = input.interval_value {
        r.interval_value = v;
    }
    if let Some(v) = input.interval_unit {
        r.interval_unit = v;
    }
    if let Some(v) = input.handoff_time {
        r.handoff_time = v.trim().to_string();
    }
    if let Some(v) = input.handoff_weekday {
        r.handoff_weekday = v;
    }
    if let Some(v) = input.timezone {
        r.timezone = v.trim().to_string();
    }
    if let Some(v) = input.reminder_interval_seconds {
        r.reminder_interval_seconds = v;
    }
    if let Some(v) = input.enabled {
        r.enabled = v;
    }
    match r.rotation_type {
        RotationType::Daily => r.interval_unit = IntervalUnit::Days,
        RotationType::Weekly => r.interval_unit = IntervalUnit::Weeks,
        RotationType::Custom => {}
    }
    p.name("name", &r.name, 200);
    p.max_len("description", &r.description, 4000);
    p.range("interval_value", r.interval_value, 1, 1000);
    if r.rotation_type == RotationType::Custom && r.interval_unit == IntervalUnit::Minutes {
        p.check(r.interval_value >= 5, "interval_value", "minute rotations must be at least 5 minutes");
    }
    p.check(parse_handoff_time(&r.handoff_time).is_some(), "handoff_time", "must be HH:MM (24-hour), e.g. 09:00");
    p.range("handoff_weekday", r.handoff_weekday, 0, 6);
    let tz = zone(&r.timezone);
    if let Err(e) = &tz {
        p.add("timezone", e.clone());
    }
    p.check(
        r.reminder_interval_seconds == 0 || (60..=7 * 86_400).contains(&r.reminder_interval_seconds),
        "reminder_interval_seconds",
        "must be 0 (off) or between 60 and 604800",
    );
    match (input.start_at, tz) {
        (Some(s), Ok(tz)) => match Ts::parse_in(&s, &tz) {
            Ok(t) => r.start_at = t,
            Err(e) => p.add("start_at", e),
        },
        (Some(_), Err(_)) => {}
        (None, _) if r.id == 0 => r.start_at = now,
        (None, _) => {}
    }
    Ok(p.finish()?)
}

pub fn create(c: &Tx<'_>, ctx: &Ctx, input: RotationInput) -> Result<Rotation> {
    let mut p = Problems::new();
    let team_id = p.required(input.team_id, "team_id");
    p.required(input.name.as_ref(), "name");
    p.finish()?;
    let team = super::teams::get(c, team_id.unwrap_or_default())
        .map_err(|_| StoreError::invalid("team_id", "no such team"))?;
    let mut r = Rotation {
        id: 0,
        team_id: team.id,
        group_id: team.group_id,
        name: String::new(),
        description: String::new(),
        start_at: ctx.now,
        rotation_type: RotationType::Weekly,
        interval_value: 1,
        interval_unit: IntervalUnit::Weeks,
        handoff_time: "09:00".into(),
        handoff_weekday: 0,
        timezone: "UTC".into(),
        reminder_interval_seconds: 0,
        enabled: true,
        created_at: ctx.now,
        updated_at: ctx.now,
        current_oncall: None,
    };
    apply(&mut r, input, ctx.now)?;
    let id = c.insert(
"INSERT INTO rotations (team_id, name, description, start_at, rotation_type, interval_value, interval_unit, handoff_time,
                                handoff_weekday, timezone, reminder_interval_seconds, enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13) RETURNING id", args![
            r.team_id,
            r.name,
            r.description,
            r.start_at,
            r.rotation_type.as_str(),
            r.interval_value,
            r.interval_unit.as_str(),
            r.handoff_time,
            r.handoff_weekday,
            r.timezone,
            r.reminder_interval_seconds,
            r.enabled,
            ctx.now
        ])?;
    ctx.audit(
        c,
        "rotation.create",
        "rotation",
        id,
        Some(team.group_id),
        json!({"name": r.name, "team_id": r.team_id}),
    )?;
    get(c, id, ctx.now)
}

pub fn update(c: &Tx<'_>, ctx: &Ctx, id: i64, input: RotationInput) -> Result<Rotation> {
    let mut r = get_plain(c, id)?;
    if input.team_id.is_some_and(|t| t != r.team_id) {
        return Err(StoreError::invalid("team_id", "a rotation cannot move to another team"));
    }
    apply(&mut r, input, ctx.now)?;
    c.exec(
        "UPDATE rotations SET name = ?1, description = ?2, start_at = ?3, rotation_type = ?4, interval_value = ?5, interval_unit = ?6,
                handoff_time = ?7, handoff_weekday = ?8, timezone = ?9, reminder_interval_seconds = ?10, enabled = ?11, updated_at = ?12
         WHERE id = ?13",
        args![
            r.name,
            r.description,
            r.start_at,
            r.rotation_type.as_str(),
            r.interval_value,
            r.interval_unit.as_str(),
            r.handoff_time,
            r.handoff_weekday,
            r.timezone,
            r.reminder_interval_seconds,
            r.enabled,
            ctx.now,
            id
        ],
    )?;
    ctx.audit(c, "rotation.update", "rotation", id, Some(r.group_id), json!({"name": r.name}))?;
    get(c, id, ctx.now)
}

pub fn delete(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let r = get_plain(c, id)?;
    let route: Option<String> =
        c.opt("SELECT name FROM routes WHERE rotation_id = ?1 LIMIT 1", args![id], |x| x.get(0))?;
    if let Some(name) = route {
        return Err(StoreError::conflict("id", format!("route \"{name}\" uses this rotation; change the route first")));
    }
    let policy: Option<String> = c.opt(
        "SELECT p.name FROM escalation_rules e JOIN escalation_policies p ON p.id = e.policy_id
             WHERE e.target_type = 'rotation' AND e.target_id = ?1 LIMIT 1",
        args![id],
        |x| x.get(0),
    )?;
    if let Some(name) = policy {
        return Err(StoreError::conflict("id", format!("escalation policy \"{name}\" targets this rotation")));
    }
    c.exec("DELETE FROM rotations WHERE id = ?1", args![id])?;
    ctx.audit(c, "rotation.delete", "rotation", id, Some(r.group_id), json!({"name": r.name}))?;
    Ok(())
}

// --- members -----------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RotationMember {
    pub id: i64,
    pub rotation_id: i64,
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub position: i64,
    pub created_at: Ts,
}

/// Body of `POST /api/rotations/{id}/members` (`user_id` required; `position` defaults to last)
/// and `PUT /api/rotations/members/{id}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct MemberInput {
    pub user_id: Option<i64>,
    pub position: Option<i64>,
}

const MEMBER_SELECT: &str =
    "SELECT m.*, u.username, u.display_name FROM rotation_members m JOIN users u ON u.id = m.user_id";

fn member_row(r: &Row<'_>) -> Result<RotationMember> {
    Ok(RotationMember {
        id: r.get("id")?,
        rotation_id: r.get("rotation_id")?,
        user_id: r.get("user_id")?,
        username: r.get("username")?,
        display_name: r.get("display_name")?,
        position: r.get("position")?,
        created_at: r.get("created_at")?,
    })
}

pub fn get_member(c: &Read<'_>, id: i64) -> Result<RotationMember> {
    c.opt(&format!("{MEMBER_SELECT} WHERE m.id = ?1"), args![id], member_row)?
        .ok_or_else(|| StoreError::not_found("rotation member"))
}

pub fn members(c: &Read<'_>, rotation_id: i64) -> Result<Vec<RotationMember>> {
    c.rows(
        &format!("{MEMBER_SELECT} WHERE m.rotation_id = ?1 ORDER BY m.position, m.id"),
        args![rotation_id],
        member_row,
    )
}

fn require_member_of_group(c: &Read<'_>, group_id: i64, user_id: i64, field: &str) -> Result<()> {
    if !super::groups::is_member(c, group_id, user_id)? {
        return Err(StoreError::invalid(field, "the user is not a member of the rotation's group"));
    }
    Ok(())
}

/// Whether the user has a place in the rotation.
pub fn has_member(c: &Read<'_>, rotation_id: i64, user_id: i64) -> Result<bool> {
    c.one(
        "SELECT EXISTS(SELECT 1 FROM rotation_members WHERE rotation_id = ?1 AND user_id = ?2)",
        args![rotation_id, user_id],
        |r| r.get(0),
    )
}

pub fn add_member(c: &Tx<'_>, ctx: &Ctx, rotation_id: i64, input: MemberInput) -> Result<RotationMember> {
    let r = get_plain(c, rotation_id)?;
    let user_id = input.user_id.ok_or_else(|| StoreError::invalid("user_id", "is required"))?;
    require_member_of_group(c, r.group_id, user_id, "user_id")?;
    let position = match input.position {
        Some(p) if (0..=10_000).contains(&p) => p,
        Some(_) => {
            return Err(StoreError::invalid("position", "must be between 0 and 10000"));
        }
        None => c.one(
            "SELECT COALESCE(MAX(position) + 1, 0) FROM rotation_members WHERE rotation_id = ?1",
            args![rotation_id],
            |x| x.get(0),
        )?,
    };
    let id = c.insert(
"INSERT INTO rotation_members (rotation_id, user_id, position, created_at) VALUES (?1, ?2, ?3, ?4) RETURNING id", args![rotation_id, user_id, position, ctx.now])?;
    ctx.audit(
        c,
        "rotation_member.create",
        "rotation_member",
        id,
        Some(r.group_id),
        json!({"rotation_id": rotation_id, "user_id": user_id, "position": position}),
    )?;
    get_member(c, id)
}

pub fn update_member(c: &Tx<'_>, ctx: &Ctx, id: i64, input: MemberInput) -> Result<RotationMember> {
    let m = get_member(c, id)?;
    let r = get_plain(c, m.rotation_id)?;
    let user_id = input.user_id.unwrap_or(m.user_id);
    if user_id != m.user_id {
        require_member_of_group(c, r.group_id, user_id, "user_id")?;
    }
    let position = input.position.unwrap_or(m.position);
    if !(0..=10_000).contains(&position) {
        return Err(StoreError::invalid("position", "must be between 0 and 10000"));
    }
    c.exec("UPDATE rotation_members SET user_id = ?1, position = ?2 WHERE id = ?3", args![user_id, position, id])?;
    ctx.audit(
        c,
        "rotation_member.update",
        "rotation_member",
        id,
        Some(r.group_id),
        json!({"user_id": user_id, "position": position}),
    )?;
    get_member(c, id)
}

pub fn remove_member(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let m = get_member(c, id)?;
    let r = get_plain(c, m.rotation_id)?;
    c.exec("DELETE FROM rotation_members WHERE id = ?1", args![id])?;
    ctx.audit(
        c,
        "rotation_member.delete",
        "rotation_member",
        id,
        Some(r.group_id),
        json!({"rotation_id": r.id, "user_id": m.user_id}),
    )?;
    Ok(())
}

// --- overrides ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Override {
    pub id: i64,
    pub rotation_id: i64,
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub starts_at: Ts,
    pub ends_at: Ts,
    pub reason: String,
    pub created_by: Option<i64>,
    pub created_at: Ts,
}

/// Body of `POST /api/rotations/{id}/overrides`. Naive date-times are in the rotation's zone.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct OverrideInput {
    pub user_id: Option<i64>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub reason: Option<String>,
}

const OVERRIDE_SELECT: &str =
    "SELECT o.*, u.username, u.display_name FROM rotation_overrides o JOIN users u ON u.id = o.user_id";

fn override_row(r: &Row<'_>) -> Result<Override> {
    Ok(Override {
        id: r.get("id")?,
        rotation_id: r.get("rotation_id")?,
        user_id: r.get("user_id")?,
        username: r.get("username")?,
        display_name: r.get("display_name")?,
        starts_at: r.get("starts_at")?,
        ends_at: r.get("ends_at")?,
        reason: r.get("reason")?,
        created_by: r.get("created_by")?,
        created_at: r.get("created_at")?,
    })
}

pub fn get_override(c: &Read<'_>, id: i64) -> Result<Override> {
    c.opt(&format!("{OVERRIDE_SELECT} WHERE o.id = ?1"), args![id], override_row)?
        .ok_or_else(|| StoreError::not_found("override"))
}

pub fn overrides(c: &Read<'_>, rotation_id: i64) -> Result<Vec<Override>> {
    c.rows(
        &format!("{OVERRIDE_SELECT} WHERE o.rotation_id = ?1 ORDER BY o.starts_at, o.id"),
        args![rotation_id],
        override_row,
    )
}

pub fn add_override(c: &Tx<'_>, ctx: &Ctx, rotation_id: i64, input: OverrideInput) -> Result<Override> {
    let r = get_plain(c, rotation_id)?;
    let tz = zone(&r.timezone).map_err(StoreError::Db)?;
    let mut p = Problems::new();
    let user_id = p.required(input.user_id, "user_id");
    let mut parse = |field: &str, v: Option<String>| -> Option<Ts> {
        match v.map(|s| Ts::parse_in(&s, &tz)) {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                p.add(field, e);
                None
            }
            None => {
                p.add(field, "is required");
                None
            }
        }
    };
    let starts_at = parse("starts_at", input.starts_at);
    let ends_at = parse("ends_at", input.ends_at);
    let reason = input.reason.unwrap_or_default();
    p.max_len("reason", &reason, 1000);
    if let (Some(s), Some(e)) = (starts_at, ends_at) {
        p.check(e > s, "ends_at", "must be after starts_at");
        p.check(e.secs_since(s) <= 366 * 86_400, "ends_at", "an override may last at most one year");
    }
    p.finish()?;
    let (Some(user_id), Some(starts_at), Some(ends_at)) = (user_id, starts_at, ends_at) else {
        return Err(StoreError::invalid("user_id", "is required"));
    };
    require_member_of_group(c, r.group_id, user_id, "user_id")?;
    let id = c.insert(
        "INSERT INTO rotation_overrides (rotation_id, user_id, starts_at, ends_at, reason, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        args![rotation_id, user_id, starts_at, ends_at, reason, ctx.actor.user_id, ctx.now],
    )?;
    ctx.audit(
        c,
        "rotation_override.create",
        "rotation_override",
        id,
        Some(r.group_id),
        json!({"rotation_id": rotation_id, "user_id": user_id, "starts_at": starts_at, "ends_at": ends_at}),
    )?;
    get_override(c, id)
}

pub fn delete_override(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let o = get_override(c, id)?;
    let r = get_plain(c, o.rotation_id)?;
    c.exec("DELETE FROM rotation_overrides WHERE id = ?1", args![id])?;
    ctx.audit(c, "rotation_override.delete", "rotation_override", id, Some(r.group_id), json!({"rotation_id": r.id}))?;
    Ok(())
}
