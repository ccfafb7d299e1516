//! Teams and their members.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Ctx;
use super::sql::{Row, Val, vals};
use super::{Read, Result, StoreError, Tx, placeholders};
use crate::args;
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

/// Body of `POST /api/teams/{id}/users`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct TeamMemberInput {
    pub user_id: Option<i64>,
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
