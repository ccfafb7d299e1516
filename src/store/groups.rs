//! Groups (the access boundary) and group memberships.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Ctx;
use super::sql::{Row, vals};
use super::{Read, Result, StoreError, Tx, placeholders};
use crate::args;
use crate::domain::access::Role;
use crate::domain::time::Ts;
use crate::domain::validate::Problems;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Group {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub active: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// Body of `POST /api/groups` (all of `slug`, `name` required) and `PUT /api/groups/{id}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct GroupInput {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

fn row(r: &Row<'_>) -> Result<Group> {
    Ok(Group {
        id: r.get("id")?,
        slug: r.get("slug")?,
        name: r.get("name")?,
        description: r.get("description")?,
        active: r.get("active")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

pub fn get(c: &Read<'_>, id: i64) -> Result<Group> {
    c.opt("SELECT * FROM groups WHERE id = ?1", args![id], row)?.ok_or_else(|| StoreError::not_found("group"))
}

/// Groups by id; `None` lists all.
pub fn list(c: &Read<'_>, only: Option<&[i64]>) -> Result<Vec<Group>> {
    let (sql, ids): (String, Vec<i64>) = match only {
        None => ("SELECT * FROM groups ORDER BY name".into(), vec![]),
        Some(ids) => {
            (format!("SELECT * FROM groups WHERE id IN {} ORDER BY name", placeholders(ids.len())), ids.to_vec())
        }
    };
    c.rows(&sql, &vals(&ids), row)
}

fn apply(g: &mut Group, input: GroupInput) -> Result<()> {
    if let Some(v) = input.slug {
        g.slug = v.trim().to_string();
    }
    if let Some(v) = input.name {
        g.name = v.trim().to_string();
    }
    if let Some(v) = input.description {
        g.description = v;
    }
    if let Some(v) = input.active {
        g.active = v;
    }
    let mut p = Problems::new();
    p.slug("slug", &g.slug);
    p.name("name", &g.name, 200);
    p.max_len("description", &g.description, 4000);
    Ok(p.finish()?)
}

pub fn create(c: &Tx<'_>, ctx: &Ctx, input: GroupInput) -> Result<Group> {
    let mut p = Problems::new();
    p.required(input.slug.as_ref(), "slug");
    p.required(input.name.as_ref(), "name");
    p.finish()?;
    let mut g = Group {
        id: 0,
        slug: String::new(),
        name: String::new(),
        description: String::new(),
        active: true,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    apply(&mut g, input)?;
    g.id = c.insert(
"INSERT INTO groups (slug, name, description, active, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id", args![g.slug, g.name, g.description, g.active, ctx.now])?;
    ctx.audit(c, "group.create", "group", g.id, Some(g.id), json!({"slug": g.slug}))?;
    Ok(g)
}

pub fn update(c: &Tx<'_>, ctx: &Ctx, id: i64, input: GroupInput) -> Result<Group> {
    let mut g = get(c, id)?;
    apply(&mut g, input)?;
    g.updated_at = ctx.now;
    c.exec(
        "UPDATE groups SET slug = ?1, name = ?2, description = ?3, active = ?4, updated_at = ?5 WHERE id = ?6",
        args![g.slug, g.name, g.description, g.active, ctx.now, id],
    )?;
    ctx.audit(c, "group.update", "group", id, Some(id), json!({"slug": g.slug, "active": g.active}))?;
    Ok(g)
}

pub fn delete(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let g = get(c, id)?;
    let teams: i64 = c.one("SELECT COUNT(*) FROM teams WHERE group_id = ?1", args![id], |r| r.get(0))?;
    if teams > 0 {
        return Err(StoreError::conflict(
            "id",
            format!("group {} still has {teams} team(s); delete or move them first", g.slug),
        ));
    }
    c.exec("DELETE FROM groups WHERE id = ?1", args![id])?;
    ctx.audit(c, "group.delete", "group", id, Some(id), json!({"slug": g.slug}))?;
    Ok(())
}

// --- memberships -------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Membership {
    pub id: i64,
    pub group_id: i64,
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// Body of `POST /api/groups/{id}/users` (`user_id`, `role`) and `PUT /api/groups/users/{id}` (`role`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct MembershipInput {
    pub user_id: Option<i64>,
    pub role: Option<Role>,
}

const MEMBERSHIP_SELECT: &str =
    "SELECT m.*, u.username, u.display_name FROM group_memberships m JOIN users u ON u.id = m.user_id";

fn membership_row(r: &Row<'_>) -> Result<Membership> {
    let role: String = r.get("role")?;
    Ok(Membership {
        id: r.get("id")?,
        group_id: r.get("group_id")?,
        user_id: r.get("user_id")?,
        username: r.get("username")?,
        display_name: r.get("display_name")?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

pub fn get_membership(c: &Read<'_>, id: i64) -> Result<Membership> {
    c.opt(&format!("{MEMBERSHIP_SELECT} WHERE m.id = ?1"), args![id], membership_row)?
        .ok_or_else(|| StoreError::not_found("membership"))
}

pub fn memberships_of_group(c: &Read<'_>, group_id: i64) -> Result<Vec<Membership>> {
    c.rows(&format!("{MEMBERSHIP_SELECT} WHERE m.group_id = ?1 ORDER BY u.username"), args![group_id], membership_row)
}

pub fn memberships_of_user(c: &Read<'_>, user_id: i64) -> Result<Vec<Membership>> {
    c.rows(&format!("{MEMBERSHIP_SELECT} WHERE m.user_id = ?1 ORDER BY m.group_id"), args![user_id], membership_row)
}

/// The roles a user holds in active groups: the input of access checks.
/// Whether the user is a member of one of `groups`.
pub fn shares_group(c: &Read<'_>, user_id: i64, groups: &[i64]) -> Result<bool> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM group_memberships WHERE user_id = ?1 AND group_id IN {})",
        super::placeholders(groups.len())
    );
    let mut args = vec![user_id];
    args.extend_from_slice(groups);
    c.one(&sql, &vals(&args), |r| r.get(0))
}

pub fn active_roles(c: &Read<'_>, user_id: i64) -> Result<Vec<(i64, Role)>> {
    let rows = c.rows(
        "SELECT m.group_id, m.role FROM group_memberships m JOIN groups g ON g.id = m.group_id
         WHERE m.user_id = ?1 AND g.active = 1",
        args![user_id],
        |r| Ok((r.get::<i64, _>(0)?, r.get::<String, _>(1)?)),
    )?;
    let mut out = Vec::new();
    for (g, role) in rows {
        if let Some(role) = Role::parse(&role) {
            out.push((g, role));
        }
    }
    Ok(out)
}

pub fn is_member(c: &Read<'_>, group_id: i64, user_id: i64) -> Result<bool> {
    c.one(
        "SELECT EXISTS(SELECT 1 FROM group_memberships WHERE group_id = ?1 AND user_id = ?2)",
        args![group_id, user_id],
        |r| r.get(0),
    )
}

/// Adds a user to a group. `among`: the groups of a caller who is not an admin; the user must
/// already be a member of one of them (editors cannot enrol strangers, whose contact details
/// they would then read).
pub fn add_member(
    c: &Tx<'_>,
    ctx: &Ctx,
    group_id: i64,
    input: MembershipInput,
    among: Option<&[i64]>,
) -> Result<Membership> {
    let mut p = Problems::new();
    let user_id = p.required(input.user_id, "user_id");
    let role = p.required(input.role, "role");
    p.finish()?;
    let (Some(user_id), Some(role)) = (user_id, role) else {
        return Err(StoreError::invalid("user_id", "is required"));
    };
    get(c, group_id)?;
    if !super::users::exists(c, user_id)? {
        return Err(StoreError::invalid("user_id", "no such user"));
    }
    if let Some(groups) = among
        && !shares_group(c, user_id, groups)?
    {
        return Err(StoreError::invalid(
            "user_id",
            "no such user among the people of your groups; an administrator adds new people",
        ));
    }
    let id = c
        .insert(
            "INSERT INTO group_memberships (group_id, user_id, role, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
             RETURNING id",
            args![group_id, user_id, role.as_str(), ctx.now],
        )
        .map_err(|e| match e {
            StoreError::Conflict { .. } => StoreError::conflict("user_id", "the user is already a member of this group"),
            other => other,
        })?;
    ctx.audit(
        c,
        "group_membership.create",
        "group_membership",
        id,
        Some(group_id),
        json!({"user_id": user_id, "role": role}),
    )?;
    get_membership(c, id)
}

pub fn update_member(c: &Tx<'_>, ctx: &Ctx, id: i64, input: MembershipInput) -> Result<Membership> {
    let m = get_membership(c, id)?;
    if input.user_id.is_some_and(|u| u != m.user_id) {
        return Err(StoreError::invalid("user_id", "cannot be changed; remove the membership and add another"));
    }
    let role = input.role.unwrap_or(m.role);
    c.exec("UPDATE group_memberships SET role = ?1, updated_at = ?2 WHERE id = ?3", args![role.as_str(), ctx.now, id])?;
    ctx.audit(c, "group_membership.update", "group_membership", id, Some(m.group_id), json!({"role": role}))?;
    get_membership(c, id)
}

/// Removes a membership, and with it the user's team memberships in that group.
pub fn remove_member(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let m = get_membership(c, id)?;
    c.exec(
        "DELETE FROM team_members WHERE user_id = ?1 AND team_id IN (SELECT id FROM teams WHERE group_id = ?2)",
        args![m.user_id, m.group_id],
    )?;
    c.exec("DELETE FROM group_memberships WHERE id = ?1", args![id])?;
    ctx.audit(c, "group_membership.delete", "group_membership", id, Some(m.group_id), json!({"user_id": m.user_id}))?;
    Ok(())
}
