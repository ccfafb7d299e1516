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
    self, IntervalUnit, Override as DomainOverride, Restriction, RotationSpec, RotationType, parse_handoff_time,
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
    /// How many layers it has (the fields above are layer 1's; see `/api/rotations/{id}/layers`).
    pub layer_count: i64,
    /// Layer 1, which the handoff fields above describe.
    #[serde(skip)]
    #[schemars(skip)]
    pub base_layer_id: i64,
    /// Layer 1's restrictions (a one-layer rotation needs no other query to compute).
    #[serde(skip)]
    #[schemars(skip)]
    pub base_restrictions: Vec<Restriction>,
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

/// A rotation with its layer 1 (the lowest position), whose handoff settings it shows.
const SELECT: &str = "SELECT r.*, t.group_id, l.id AS base_layer_id, l.start_at, l.rotation_type, l.interval_value,
        l.interval_unit, l.handoff_time, l.handoff_weekday, l.restrictions AS base_restrictions,
        (SELECT COUNT(*) FROM rotation_layers n WHERE n.rotation_id = r.id) AS layer_count
    FROM rotations r JOIN teams t ON t.id = r.team_id
    JOIN rotation_layers l ON l.id = (SELECT b.id FROM rotation_layers b WHERE b.rotation_id = r.id ORDER BY b.position, b.id LIMIT 1)";

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
        layer_count: r.get("layer_count")?,
        base_layer_id: r.get("base_layer_id")?,
        base_restrictions: r.json("base_restrictions")?,
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

/// The domain input for on-call computation: the layers with their members, and the
/// overrides (intake reads this for every new alert on a rotation: one query, two with
/// several layers).
pub fn domain(c: &Read<'_>, r: &Rotation) -> Result<rotation::Rotation> {
    let tz = zone(&r.timezone).map_err(|e| StoreError::Db(format!("rotation {}: {e}", r.id)))?;
    // A one-layer rotation (the common case) has its layer in its own row.
    let stored = if r.layer_count == 1 {
        vec![(r.base_layer_id, 1, r.spec(), r.base_restrictions.clone())]
    } else {
        layer_rows(c, r.id)?.into_iter().map(|l| (l.id, l.position, l.spec, l.restrictions)).collect()
    };
    let mut layers: Vec<rotation::Layer> = stored
        .into_iter()
        .map(|(id, position, spec, restrictions)| rotation::Layer {
            id,
            position,
            spec: spec_of(&spec, tz.clone()),
            members: Vec::new(),
            restrictions,
        })
        .collect();
    // Members (kind 0, by layer and position) and overrides (kind 1) in one query.
    let rows = c.rows(
        "SELECT 0 AS kind, user_id, layer_id, position, id, NULL AS starts_at, NULL AS ends_at FROM rotation_members WHERE rotation_id = ?1
         UNION ALL
         SELECT 1, user_id, NULL, NULL, id, starts_at, ends_at FROM rotation_overrides WHERE rotation_id = ?1
         ORDER BY 1, 3, 4, 5",
        args![r.id],
        |x| {
            Ok((
                x.get::<i64, _>(0)?,
                x.get::<i64, _>(1)?,
                x.get::<Option<i64>, _>(2)?,
                x.get::<i64, _>(4)?,
                x.get::<Option<Ts>, _>(5)?,
                x.get::<Option<Ts>, _>(6)?,
            ))
        },
    )?;
    let mut overrides = Vec::new();
    for (kind, user_id, layer_id, id, starts_at, ends_at) in rows {
        match (kind, starts_at, ends_at) {
            (1, Some(starts_at), Some(ends_at)) => overrides.push(DomainOverride { id, user_id, starts_at, ends_at }),
            _ => {
                if let Some(l) = layers.iter_mut().find(|l| Some(l.id) == layer_id) {
                    l.members.push(user_id);
                }
            }
        }
    }
    Ok(rotation::Rotation { layers, enabled: r.enabled, overrides })
}

fn spec_of(s: &Spec, timezone: jiff::tz::TimeZone) -> RotationSpec {
    RotationSpec {
        start_at: s.start_at,
        rotation_type: s.rotation_type,
        interval_value: s.interval_value,
        interval_unit: s.interval_unit,
        handoff_time: parse_handoff_time(&s.handoff_time).unwrap_or((9, 0)),
        handoff_weekday: s.handoff_weekday as i8,
        timezone,
    }
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

/// A layer's handoff settings (a rotation shows its layer 1's).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Spec {
    /// When the layer's first shift begins.
    pub start_at: Ts,
    pub rotation_type: RotationType,
    pub interval_value: i64,
    pub interval_unit: IntervalUnit,
    /// Local `HH:MM` in the rotation's zone.
    pub handoff_time: String,
    /// Monday = 0 … Sunday = 6 (weekly).
    pub handoff_weekday: i64,
}

/// The handoff fields of a rotation's or a layer's body.
struct SpecInput {
    start_at: Option<String>,
    rotation_type: Option<RotationType>,
    interval_value: Option<i64>,
    interval_unit: Option<IntervalUnit>,
    handoff_time: Option<String>,
    handoff_weekday: Option<i64>,
}

/// Applies and checks handoff settings; a naive `start_at` is read in `tz` (when it is valid).
fn apply_spec(s: &mut Spec, input: SpecInput, tz: Option<&jiff::tz::TimeZone>, p: &mut Problems) {
    if let Some(v) = input.rotation_type {
        s.rotation_type = v;
    }
    if let Some(v) = input.interval_value {
        s.interval_value = v;
    }
    if let Some(v) = input.interval_unit {
        s.interval_unit = v;
    }
    if let Some(v) = input.handoff_time {
        s.handoff_time = v.trim().to_string();
    }
    if let Some(v) = input.handoff_weekday {
        s.handoff_weekday = v;
    }
    match s.rotation_type {
        RotationType::Daily => s.interval_unit = IntervalUnit::Days,
        RotationType::Weekly => s.interval_unit = IntervalUnit::Weeks,
        RotationType::Custom => {}
    }
    p.range("interval_value", s.interval_value, 1, 1000);
    if s.rotation_type == RotationType::Custom && s.interval_unit == IntervalUnit::Minutes {
        p.check(s.interval_value >= 5, "interval_value", "minute rotations must be at least 5 minutes");
    }
    p.check(parse_handoff_time(&s.handoff_time).is_some(), "handoff_time", "must be HH:MM (24-hour), e.g. 09:00");
    p.range("handoff_weekday", s.handoff_weekday, 0, 6);
    if let (Some(v), Some(tz)) = (input.start_at, tz) {
        match Ts::parse_in(&v, tz) {
            Ok(t) => s.start_at = t,
            Err(e) => p.add("start_at", e),
        }
    }
}

impl Rotation {
    fn spec(&self) -> Spec {
        Spec {
            start_at: self.start_at,
            rotation_type: self.rotation_type,
            interval_value: self.interval_value,
            interval_unit: self.interval_unit,
            handoff_time: self.handoff_time.clone(),
            handoff_weekday: self.handoff_weekday,
        }
    }
}

fn apply(r: &mut Rotation, input: RotationInput) -> Result<()> {
    let mut p = Problems::new();
    if let Some(v) = input.name {
        r.name = v.trim().to_string();
    }
    if let Some(v) = input.description {
        r.description = v;
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
    p.name("name", &r.name, 200);
    p.max_len("description", &r.description, 4000);
    let tz = zone(&r.timezone);
    let mut spec = r.spec();
    let input = SpecInput {
        start_at: input.start_at,
        rotation_type: input.rotation_type,
        interval_value: input.interval_value,
        interval_unit: input.interval_unit,
        handoff_time: input.handoff_time,
        handoff_weekday: input.handoff_weekday,
    };
    apply_spec(&mut spec, input, tz.as_ref().ok(), &mut p);
    if let Err(e) = &tz {
        p.add("timezone", e.clone());
    }
    p.check(
        r.reminder_interval_seconds == 0 || (60..=7 * 86_400).contains(&r.reminder_interval_seconds),
        "reminder_interval_seconds",
        "must be 0 (off) or between 60 and 604800",
    );
    r.start_at = spec.start_at;
    r.rotation_type = spec.rotation_type;
    r.interval_value = spec.interval_value;
    r.interval_unit = spec.interval_unit;
    r.handoff_time = spec.handoff_time;
    r.handoff_weekday = spec.handoff_weekday;
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
        layer_count: 1,
        base_layer_id: 0,
        base_restrictions: Vec::new(),
    };
    apply(&mut r, input)?;
    let id = c.insert(
        "INSERT INTO rotations (team_id, name, description, timezone, reminder_interval_seconds, enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING id",
        args![r.team_id, r.name, r.description, r.timezone, r.reminder_interval_seconds, r.enabled, ctx.now],
    )?;
    insert_layer(c, ctx.now, id, "Layer 1", 1, &r.spec(), &[])?;
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
    apply(&mut r, input)?;
    c.exec(
        "UPDATE rotations SET name = ?1, description = ?2, timezone = ?3, reminder_interval_seconds = ?4, enabled = ?5,
                updated_at = ?6 WHERE id = ?7",
        args![r.name, r.description, r.timezone, r.reminder_interval_seconds, r.enabled, ctx.now, id],
    )?;
    update_layer_spec(c, ctx.now, r.base_layer_id, &r.spec())?;
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

/// The members of the rotation's layer 1, in order.
pub fn members(c: &Read<'_>, rotation_id: i64) -> Result<Vec<RotationMember>> {
    let r = get_plain(c, rotation_id)?;
    c.rows(
        &format!("{MEMBER_SELECT} WHERE m.layer_id = ?1 ORDER BY m.position, m.id"),
        args![r.base_layer_id],
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
            "SELECT COALESCE(MAX(position) + 1, 0) FROM rotation_members WHERE layer_id = ?1",
            args![r.base_layer_id],
            |x| x.get(0),
        )?,
    };
    let id = c.insert(
        "INSERT INTO rotation_members (rotation_id, layer_id, user_id, position, created_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        args![rotation_id, r.base_layer_id, user_id, position, ctx.now],
    )?;
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
    let starts_at = p.instant("starts_at", input.starts_at, &tz);
    let ends_at = p.instant("ends_at", input.ends_at, &tz);
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

// --- layers ------------------------------------------------------------------------------------

/// One layer of a rotation: its handoffs, members and restrictions. Where layers overlap, the
/// highest `position` whose restrictions cover the instant decides; layer 1 (the lowest) is
/// what the rotation's own fields and `/members` describe.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Layer {
    pub id: i64,
    pub rotation_id: i64,
    pub name: String,
    pub position: i64,
    #[serde(flatten)]
    pub spec: Spec,
    /// User ids in rotation order.
    pub members: Vec<i64>,
    /// When this layer takes calls, in the rotation's zone; empty: always.
    pub restrictions: Vec<Restriction>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// Body of `POST /api/rotations/{id}/layers` and (partial) `PUT /api/rotations/layers/{id}`.
/// Naive date-times are read in the rotation's zone.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerInput {
    pub name: Option<String>,
    /// Default: above the highest layer.
    pub position: Option<i64>,
    /// Default: now.
    pub start_at: Option<String>,
    pub rotation_type: Option<RotationType>,
    pub interval_value: Option<i64>,
    pub interval_unit: Option<IntervalUnit>,
    pub handoff_time: Option<String>,
    pub handoff_weekday: Option<i64>,
    /// User ids in rotation order (members of the rotation's group); replaces the list.
    pub members: Option<Vec<i64>>,
    /// Replaces the list; empty: always.
    pub restrictions: Option<Vec<Restriction>>,
}

fn layer_row(r: &Row<'_>) -> Result<Layer> {
    let kind: String = r.get("rotation_type")?;
    let unit: String = r.get("interval_unit")?;
    Ok(Layer {
        id: r.get("id")?,
        rotation_id: r.get("rotation_id")?,
        name: r.get("name")?,
        position: r.get("position")?,
        spec: Spec {
            start_at: r.get("start_at")?,
            rotation_type: RotationType::parse(&kind).unwrap_or(RotationType::Daily),
            interval_value: r.get("interval_value")?,
            interval_unit: IntervalUnit::parse(&unit).unwrap_or(IntervalUnit::Days),
            handoff_time: r.get("handoff_time")?,
            handoff_weekday: r.get("handoff_weekday")?,
        },
        members: Vec::new(),
        restrictions: r.json("restrictions")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

/// A rotation's layers by position, without their members.
fn layer_rows(c: &Read<'_>, rotation_id: i64) -> Result<Vec<Layer>> {
    c.rows("SELECT * FROM rotation_layers WHERE rotation_id = ?1 ORDER BY position, id", args![rotation_id], layer_row)
}

fn with_members(c: &Read<'_>, mut l: Layer) -> Result<Layer> {
    l.members =
        c.rows("SELECT user_id FROM rotation_members WHERE layer_id = ?1 ORDER BY position, id", args![l.id], |r| {
            r.get(0)
        })?;
    Ok(l)
}

/// A rotation's layers with their members, by position.
pub fn layers(c: &Read<'_>, rotation_id: i64) -> Result<Vec<Layer>> {
    get_plain(c, rotation_id)?;
    layer_rows(c, rotation_id)?.into_iter().map(|l| with_members(c, l)).collect()
}

pub fn get_layer(c: &Read<'_>, id: i64) -> Result<Layer> {
    let l = c
        .opt("SELECT * FROM rotation_layers WHERE id = ?1", args![id], layer_row)?
        .ok_or_else(|| StoreError::not_found("layer"))?;
    with_members(c, l)
}

fn insert_layer(
    c: &Tx<'_>,
    now: Ts,
    rotation_id: i64,
    name: &str,
    position: i64,
    s: &Spec,
    restrictions: &[Restriction],
) -> Result<i64> {
    c.insert(
        "INSERT INTO rotation_layers (rotation_id, name, position, start_at, rotation_type, interval_value, interval_unit,
                                      handoff_time, handoff_weekday, restrictions, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) RETURNING id",
        args![
            rotation_id,
            name,
            position,
            s.start_at,
            s.rotation_type.as_str(),
            s.interval_value,
            s.interval_unit.as_str(),
            s.handoff_time,
            s.handoff_weekday,
            serde_json::to_string(restrictions).unwrap_or_else(|_| "[]".into()),
            now
        ],
    )
}

fn update_layer_spec(c: &Tx<'_>, now: Ts, layer_id: i64, s: &Spec) -> Result<()> {
    c.exec(
        "UPDATE rotation_layers SET start_at = ?1, rotation_type = ?2, interval_value = ?3, interval_unit = ?4,
                handoff_time = ?5, handoff_weekday = ?6, updated_at = ?7 WHERE id = ?8",
        args![
            s.start_at,
            s.rotation_type.as_str(),
            s.interval_value,
            s.interval_unit.as_str(),
            s.handoff_time,
            s.handoff_weekday,
            now,
            layer_id
        ],
    )?;
    Ok(())
}

/// Applies a layer body to `l` (checked), in the rotation's zone `tz`.
fn apply_layer(c: &Read<'_>, group_id: i64, l: &mut Layer, input: LayerInput, tz: &jiff::tz::TimeZone) -> Result<()> {
    let mut p = Problems::new();
    if let Some(v) = input.name {
        l.name = v.trim().to_string();
    }
    if let Some(v) = input.position {
        l.position = v;
    }
    p.max_len("name", &l.name, 200);
    p.range("position", l.position, 1, 100);
    let spec = SpecInput {
        start_at: input.start_at,
        rotation_type: input.rotation_type,
        interval_value: input.interval_value,
        interval_unit: input.interval_unit,
        handoff_time: input.handoff_time,
        handoff_weekday: input.handoff_weekday,
    };
    apply_spec(&mut l.spec, spec, Some(tz), &mut p);
    if let Some(v) = input.restrictions {
        l.restrictions = v;
    }
    p.check(l.restrictions.len() <= 50, "restrictions", "at most 50");
    for (i, r) in l.restrictions.iter().enumerate() {
        for (field, why) in r.problems() {
            p.add(format!("restrictions[{i}].{field}"), why);
        }
    }
    if let Some(m) = input.members {
        p.check(m.len() <= 500, "members", "at most 500");
        for (i, u) in m.iter().enumerate() {
            p.check(
                super::groups::is_member(c, group_id, *u)?,
                &format!("members[{i}]"),
                "is not a member of the rotation's group",
            );
        }
        l.members = m;
    }
    Ok(p.finish()?)
}

fn set_layer_members(c: &Tx<'_>, now: Ts, rotation_id: i64, layer_id: i64, members: &[i64]) -> Result<()> {
    c.exec("DELETE FROM rotation_members WHERE layer_id = ?1", args![layer_id])?;
    for (i, u) in members.iter().enumerate() {
        c.exec(
            "INSERT INTO rotation_members (rotation_id, layer_id, user_id, position, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            args![rotation_id, layer_id, *u, i as i64, now],
        )?;
    }
    Ok(())
}

pub fn create_layer(c: &Tx<'_>, ctx: &Ctx, rotation_id: i64, input: LayerInput) -> Result<Layer> {
    let r = get_plain(c, rotation_id)?;
    let tz = zone(&r.timezone).map_err(StoreError::Db)?;
    let top: i64 = c.one(
        "SELECT COALESCE(MAX(position), 0) FROM rotation_layers WHERE rotation_id = ?1",
        args![rotation_id],
        |x| x.get(0),
    )?;
    let mut l = Layer {
        id: 0,
        rotation_id,
        name: format!("Layer {}", r.layer_count + 1),
        position: top + 1,
        spec: Spec { start_at: ctx.now, ..r.spec() },
        members: Vec::new(),
        restrictions: Vec::new(),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    apply_layer(c, r.group_id, &mut l, input, &tz)?;
    let id = insert_layer(c, ctx.now, rotation_id, &l.name, l.position, &l.spec, &l.restrictions)?;
    set_layer_members(c, ctx.now, rotation_id, id, &l.members)?;
    ctx.audit(
        c,
        "rotation_layer.create",
        "rotation_layer",
        id,
        Some(r.group_id),
        json!({"rotation_id": rotation_id, "name": l.name}),
    )?;
    get_layer(c, id)
}

pub fn update_layer(c: &Tx<'_>, ctx: &Ctx, id: i64, input: LayerInput) -> Result<Layer> {
    let mut l = get_layer(c, id)?;
    let r = get_plain(c, l.rotation_id)?;
    let tz = zone(&r.timezone).map_err(StoreError::Db)?;
    let members = input.members.is_some();
    apply_layer(c, r.group_id, &mut l, input, &tz)?;
    c.exec(
        "UPDATE rotation_layers SET name = ?1, position = ?2, restrictions = ?3 WHERE id = ?4",
        args![l.name, l.position, serde_json::to_string(&l.restrictions).unwrap_or_else(|_| "[]".into()), id],
    )?;
    update_layer_spec(c, ctx.now, id, &l.spec)?;
    if members {
        set_layer_members(c, ctx.now, l.rotation_id, id, &l.members)?;
    }
    ctx.audit(
        c,
        "rotation_layer.update",
        "rotation_layer",
        id,
        Some(r.group_id),
        json!({"rotation_id": r.id, "name": l.name}),
    )?;
    get_layer(c, id)
}

/// Deletes a layer; a rotation keeps at least one.
pub fn delete_layer(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let l = get_layer(c, id)?;
    let r = get_plain(c, l.rotation_id)?;
    if r.layer_count <= 1 {
        return Err(StoreError::conflict("id", "a rotation keeps at least one layer; delete the rotation instead"));
    }
    c.exec("DELETE FROM rotation_layers WHERE id = ?1", args![id])?;
    ctx.audit(c, "rotation_layer.delete", "rotation_layer", id, Some(r.group_id), json!({"rotation_id": r.id}))?;
    Ok(())
}

/// The domain rotation with `layers` in place of the stored ones (a preview): each is checked
/// as it would be saved.
pub fn with_layers(c: &Read<'_>, r: &Rotation, proposed: Vec<LayerInput>) -> Result<rotation::Rotation> {
    let tz = zone(&r.timezone).map_err(StoreError::Db)?;
    let mut rot = domain(c, r)?;
    let mut layers = Vec::new();
    for (i, input) in proposed.into_iter().enumerate() {
        let mut l = Layer {
            id: -(i as i64) - 1,
            rotation_id: r.id,
            name: String::new(),
            position: i as i64 + 1,
            spec: Spec { start_at: r.start_at, ..r.spec() },
            members: Vec::new(),
            restrictions: Vec::new(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        };
        apply_layer(c, r.group_id, &mut l, input, &tz).map_err(|e| e.prefixed(&format!("layers[{i}].")))?;
        layers.push(rotation::Layer {
            id: l.id,
            position: l.position,
            spec: spec_of(&l.spec, tz.clone()),
            members: l.members,
            restrictions: l.restrictions,
        });
    }
    rot.layers = layers;
    Ok(rot)
}

#[cfg(test)]
mod tests {
    /// V15 makes each rotation's handoff settings and members its layer 1, on a database
    /// migrated up to V14 with data in it.
    #[test]
    fn the_layers_migration_moves_each_rotation_into_its_layer_1() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut files: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.file_name().unwrap().to_str().unwrap()[1..].split("__").next().unwrap().parse().unwrap(), p))
            .collect();
        files.sort();
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let run = |v: u32| {
            let (_, p) = files.iter().find(|(n, _)| *n == v).unwrap();
            db.execute_batch(&std::fs::read_to_string(p).unwrap()).unwrap();
        };
        for v in 1..=14 {
            run(v);
        }
        db.execute_batch(
            "INSERT INTO groups (id, slug, name, created_at, updated_at) VALUES (1, 'ops', 'Ops', 0, 0);
             INSERT INTO users (id, username, password_hash, created_at, updated_at) VALUES (7, 'alice', 'x', 0, 0), (8, 'bob', 'x', 0, 0);
             INSERT INTO teams (id, group_id, slug, name, created_at, updated_at) VALUES (1, 1, 'web', 'Web', 0, 0);
             INSERT INTO rotations (id, team_id, name, start_at, rotation_type, interval_value, interval_unit, handoff_time,
                                    handoff_weekday, timezone, created_at, updated_at)
                 VALUES (3, 1, 'Primary', 1000, 'weekly', 2, 'weeks', '10:30', 2, 'Europe/Berlin', 5, 6);
             INSERT INTO rotation_members (rotation_id, user_id, position, created_at) VALUES (3, 8, 0, 0), (3, 7, 1, 0);",
        )
        .unwrap();
        run(15);
        let layer: (i64, String, i64, i64, String, i64, String, String, i64, String) = db
            .query_row(
                "SELECT id, name, position, start_at, rotation_type, interval_value, interval_unit, handoff_time, handoff_weekday,
                        restrictions FROM rotation_layers WHERE rotation_id = 3",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?)),
            )
            .unwrap();
        assert_eq!(
            (&layer.1[..], layer.2, layer.3, &layer.4[..], layer.5, &layer.6[..], &layer.7[..], layer.8, &layer.9[..]),
            ("Layer 1", 1, 1000, "weekly", 2, "weeks", "10:30", 2, "[]")
        );
        let members: Vec<(i64, i64)> = db
            .prepare("SELECT user_id, layer_id FROM rotation_members ORDER BY position")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(members, [(8, layer.0), (7, layer.0)]);
    }
}
