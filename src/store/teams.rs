//! Teams and their members.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Ctx;
use super::sql::{Row, Val, vals};
use super::{Read, Result, StoreError, Tx, placeholders};
use crate::args;
use crate::domain::access::Role;
use crate::domain::time::Ts;
use crate::domain::validate::Problems;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Team {
    pub id: i64,
    pub group_id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    /// Simple mode: escalate to the next rotation member after `escalation_after_reminders` reminders.
    pub escalation_enabled: bool,
    pub escalation_after_reminders: i64,
    pub active: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// Body of `POST /api/teams` (`group_id`, `slug`, `name` required) and `PUT /api/teams/{id}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct TeamInput {
    pub group_id: Option<i64>,
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub escalation_enabled: Option<bool>,
    pub escalation_after_reminders: Option<i64>,
    pub active: Option<bool>,
}

fn row(r: &Row<'_>) -> Result<Team> {
    Ok(Team {
        id: r.get("id")?,
        group_id: r.get("group_id")?,
        slug: r.get("slug")?,
        name: r.get("name")?,
        description: r.get("description")?,
        escalation_enabled: r.get("escalation_enabled")?,
        escalation_after_reminders: r.get("escalation_after_reminders")?,
        active: r.get("active")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

pub fn get(c: &Read<'_>, id: i64) -> Result<Team> {
    c.opt("SELECT * FROM teams WHERE id = ?1", args![id], row)?.ok_or_else(|| StoreError::not_found("team"))
}

pub fn by_slug(c: &Read<'_>, slug: &str) -> Result<Option<Team>> {
    c.opt("SELECT * FROM teams WHERE slug = ?1", args![slug], row)
}

/// The group a team belongs to (for access checks on the team's objects).
pub fn group_of(c: &Read<'_>, team_id: i64) -> Result<Option<i64>> {
    c.opt("SELECT group_id FROM teams WHERE id = ?1", args![team_id], |r| r.get(0))
}

/// Teams in the given groups (`None` = all), optionally of one group.
pub fn list(c: &Read<'_>, groups: Option<&[i64]>, group_id: Option<i64>) -> Result<Vec<Team>> {
    let mut sql = "SELECT * FROM teams WHERE (CAST(?1 AS BIGINT) IS NULL OR group_id = ?1)".to_string();
    let mut args: Vec<Val> = args![group_id].to_vec();
    if let Some(g) = groups {
        sql.push_str(&format!(" AND group_id IN {}", placeholders(g.len())));
        args.extend(vals(g));
    }
    sql.push_str(" ORDER BY name");
    c.rows(&sql, &vals(&args), row)
}

fn apply(t: &mut Team, input: TeamInput) -> Result<()> {
    if let Some(v) = input.slug {
        t.slug = v.trim().to_string();
    }
    if let Some(v) = input.name {
        t.name = v.trim().to_string();
    }
    if let Some(v) = input.description {
        t.description = v;
    }
    if let Some(v) = input.escalation_enabled {
        t.escalation_enabled = v;
    }
    if let Some(v) = input.escalation_after_reminders {
        t.escalation_after_reminders = v;
    }
    if let Some(v) = input.active {
        t.active = v;
    }
    let mut p = Problems::new();
    p.slug("slug", &t.slug);
    p.name("name", &t.name, 200);
    p.max_len("description", &t.description, 4000);
    p.range("escalation_after_reminders", t.escalation_after_reminders, 0, 100);
    Ok(p.finish()?)
}

pub fn create(c: &Tx<'_>, ctx: &Ctx, input: TeamInput) -> Result<Team> {
    let mut p = Problems::new();
    let group_id = p.required(input.group_id, "group_id");
    p.required(input.slug.as_ref(), "slug");
    p.required(input.name.as_ref(), "name");
    p.finish()?;
    let group_id = group_id.unwrap_or_default();
    super::groups::get(c, group_id).map_err(|_| StoreError::invalid("group_id", "no such group"))?;
    let mut t = Team {
        id: 0,
        group_id,
        slug: String::new(),
        name: String::new(),
        description: String::new(),
        escalation_enabled: true,
        escalation_after_reminders: 2,
        active: true,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    apply(&mut t, input)?;
    t.id = c.insert(
"INSERT INTO teams (group_id, slug, name, description, escalation_enabled, escalation_after_reminders, active, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING id", args![t.group_id, t.slug, t.name, t.description, t.escalation_enabled, t.escalation_after_reminders, t.active, ctx.now])?;
    ctx.audit(c, "team.create", "team", t.id, Some(t.group_id), json!({"slug": t.slug}))?;
    Ok(t)
}

pub fn update(c: &Tx<'_>, ctx: &Ctx, id: i64, input: TeamInput) -> Result<Team> {
    let mut t = get(c, id)?;
    if input.group_id.is_some_and(|g| g != t.group_id) {
        return Err(StoreError::invalid("group_id", "a team cannot move to another group"));
    }
    apply(&mut t, input)?;
    t.updated_at = ctx.now;
    c.exec(
        "UPDATE teams SET slug = ?1, name = ?2, description = ?3, escalation_enabled = ?4, escalation_after_reminders = ?5,
                active = ?6, updated_at = ?7 WHERE id = ?8",
        args![t.slug, t.name, t.description, t.escalation_enabled, t.escalation_after_reminders, t.active, ctx.now, id],
    )?;
    ctx.audit(c, "team.update", "team", id, Some(t.group_id), json!({"slug": t.slug}))?;
    Ok(t)
}

/// Deletes a team and everything it owns; refused while it has open alerts.
pub fn delete(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let t = get(c, id)?;
    let open: i64 =
        c.one("SELECT COUNT(*) FROM alerts WHERE team_id = ?1 AND status <> 'resolved'", args![id], |r| r.get(0))?;
    if open > 0 {
        return Err(StoreError::conflict(
            "id",
            format!("the team has {}; resolve them first", crate::domain::count(open, "open alert")),
        ));
    }
    // Routes restrict deleting their rotation/policy: remove routes first, then the rest cascades.
    c.exec("DELETE FROM routes WHERE team_id = ?1", args![id])?;
    c.exec("DELETE FROM teams WHERE id = ?1", args![id])?;
    ctx.audit(c, "team.delete", "team", id, Some(t.group_id), json!({"slug": t.slug}))?;
    Ok(())
}

// --- members -----------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TeamMember {
    pub id: i64,
    pub team_id: i64,
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub created_at: Ts,
}

/// Body of `POST /api/teams/{id}/users`: one person (`user_id`) or several (`user_ids`), and in
/// the same step, optionally, the team's group for those not in it yet (`group_role`) and a
/// rotation of the team (`rotation_id`). All of it, or nothing.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct TeamMemberInput {
    pub user_id: Option<i64>,
    /// Several people at once (at most 100); answered with the list of memberships.
    pub user_ids: Option<Vec<i64>>,
    /// Adds those not yet in the team's group to it with this role (`viewer`, `responder`,
    /// `editor`); without it, everyone added must be in the group already.
    pub group_role: Option<Role>,
    /// Also appends them to this rotation of the team (those already in it stay where they are).
    pub rotation_id: Option<i64>,
}

/// At most this many people in one `user_ids`.
pub const MAX_ADDED_AT_ONCE: usize = 100;

/// An error about `user_id` as one about `user_ids[i]` (several people were added at once).
fn about(e: StoreError, field: &str) -> StoreError {
    match e {
        StoreError::Invalid(errs) => StoreError::Invalid(
            errs.into_iter()
                .map(|mut f| {
                    if f.field == "user_id" {
                        f.field = field.to_string();
                    }
                    f
                })
                .collect(),
        ),
        StoreError::Conflict { constraint, field: f, message } if f == "user_id" => {
            StoreError::Conflict { constraint, field: field.to_string(), message }
        }
        other => other,
    }
}

/// `POST /api/teams/{id}/users` with everything it can do in one step: adds each person to the
/// team's group first when `group_role` says so (`among`: the groups whose people the caller
/// may enrol, `None` for an administrator), then to the team, then to the rotation.
pub fn add_members(
    c: &Tx<'_>,
    ctx: &Ctx,
    team_id: i64,
    input: TeamMemberInput,
    among: Option<&[i64]>,
) -> Result<Vec<TeamMember>> {
    let team = get(c, team_id)?;
    let people: Vec<(String, i64)> = match (&input.user_id, &input.user_ids) {
        (Some(_), Some(_)) => return Err(StoreError::invalid("user_ids", "give user_id or user_ids, not both")),
        (Some(u), None) => vec![("user_id".into(), *u)],
        (None, Some(list)) if list.is_empty() => return Err(StoreError::invalid("user_ids", "must name someone")),
        (None, Some(list)) if list.len() > MAX_ADDED_AT_ONCE => {
            return Err(StoreError::invalid("user_ids", format!("at most {MAX_ADDED_AT_ONCE} people at once")));
        }
        (None, Some(list)) => list.iter().enumerate().map(|(i, u)| (format!("user_ids[{i}]"), *u)).collect(),
        (None, None) => return Err(StoreError::invalid("user_id", "is required")),
    };
    if let Some(r) = input.rotation_id {
        let rotation =
            super::rotations::get_plain(c, r).map_err(|_| StoreError::invalid("rotation_id", "no such rotation"))?;
        if rotation.team_id != team_id {
            return Err(StoreError::invalid("rotation_id", "is a rotation of another team"));
        }
    }
    let mut added = Vec::new();
    for (field, user_id) in people {
        if let Some(role) = input.group_role
            && !super::groups::is_member(c, team.group_id, user_id)?
        {
            let m = super::groups::MembershipInput { user_id: Some(user_id), role: Some(role) };
            super::groups::add_member(c, ctx, team.group_id, m, among).map_err(|e| about(e, &field))?;
        }
        let member =
            c.opt("SELECT id FROM team_members WHERE team_id = ?1 AND user_id = ?2", args![team_id, user_id], |r| {
                r.get::<i64, _>(0)
            })?;
        let id = match member {
            // Already in the team: fine when there is more to do (the rotation), else a conflict.
            Some(id) if input.rotation_id.is_some() || input.group_role.is_some() => id,
            Some(_) => return Err(StoreError::conflict(field, "the user is already a member of this team")),
            None => {
                add_member(c, ctx, team_id, TeamMemberInput { user_id: Some(user_id), ..Default::default() })
                    .map_err(|e| about(e, &field))?
                    .id
            }
        };
        if let Some(r) = input.rotation_id
            && !super::rotations::has_member(c, r, user_id)?
        {
            let m = super::rotations::MemberInput { user_id: Some(user_id), position: None };
            super::rotations::add_member(c, ctx, r, m).map_err(|e| about(e, &field))?;
        }
        added.push(get_member(c, id)?);
    }
    Ok(added)
}

const MEMBER_SELECT: &str =
    "SELECT m.*, u.username, u.display_name FROM team_members m JOIN users u ON u.id = m.user_id";

fn member_row(r: &Row<'_>) -> Result<TeamMember> {
    Ok(TeamMember {
        id: r.get("id")?,
        team_id: r.get("team_id")?,
        user_id: r.get("user_id")?,
        username: r.get("username")?,
        display_name: r.get("display_name")?,
        created_at: r.get("created_at")?,
    })
}

pub fn get_member(c: &Read<'_>, id: i64) -> Result<TeamMember> {
    c.opt(&format!("{MEMBER_SELECT} WHERE m.id = ?1"), args![id], member_row)?
        .ok_or_else(|| StoreError::not_found("team membership"))
}

pub fn members(c: &Read<'_>, team_id: i64) -> Result<Vec<TeamMember>> {
    c.rows(&format!("{MEMBER_SELECT} WHERE m.team_id = ?1 ORDER BY u.username"), args![team_id], member_row)
}

/// Checks that `user_id` is a member of the team's group (field name for the error).
pub fn require_group_member(c: &Read<'_>, team: &Team, user_id: i64, field: &str) -> Result<()> {
    if !super::groups::is_member(c, team.group_id, user_id)? {
        return Err(StoreError::invalid(field, "the user is not a member of the team's group"));
    }
    Ok(())
}

pub fn add_member(c: &Tx<'_>, ctx: &Ctx, team_id: i64, input: TeamMemberInput) -> Result<TeamMember> {
    let user_id = input.user_id.ok_or_else(|| StoreError::invalid("user_id", "is required"))?;
    let team = get(c, team_id)?;
    require_group_member(c, &team, user_id, "user_id")?;
    let id = c
        .insert(
            "INSERT INTO team_members (team_id, user_id, created_at) VALUES (?1, ?2, ?3) RETURNING id",
            args![team_id, user_id, ctx.now],
        )
        .map_err(|e| match e {
            StoreError::Conflict { .. } => StoreError::conflict("user_id", "the user is already a member of this team"),
            other => other,
        })?;
    ctx.audit(
        c,
        "team_member.create",
        "team_member",
        id,
        Some(team.group_id),
        json!({"team_id": team_id, "user_id": user_id}),
    )?;
    get_member(c, id)
}

/// `PUT /api/teams/users/{id}`: a membership has no settings besides its user; changing the
/// user is refused, anything else returns it unchanged.
pub fn update_member(c: &Read<'_>, id: i64, input: TeamMemberInput) -> Result<TeamMember> {
    let m = get_member(c, id)?;
    for (set, field) in [
        (input.user_ids.is_some(), "user_ids"),
        (input.group_role.is_some(), "group_role"),
        (input.rotation_id.is_some(), "rotation_id"),
    ] {
        if set {
            return Err(StoreError::invalid(field, "only when adding people (POST /api/teams/{id}/users)"));
        }
    }
    if input.user_id.is_some_and(|u| u != m.user_id) {
        return Err(StoreError::invalid("user_id", "cannot be changed; remove the member and add another"));
    }
    Ok(m)
}

pub fn remove_member(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let m = get_member(c, id)?;
    let group_id = group_of(c, m.team_id)?;
    c.exec("DELETE FROM team_members WHERE id = ?1", args![id])?;
    ctx.audit(
        c,
        "team_member.delete",
        "team_member",
        id,
        group_id,
        json!({"team_id": m.team_id, "user_id": m.user_id}),
    )?;
    Ok(())
}
