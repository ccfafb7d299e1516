//! Silences: matching alerts are recorded but nobody is paged while the silence is active.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::audit::Ctx;
use super::sql::{Row, Val, vals};
use super::{Read, Result, StoreError, Tx, placeholders};
use crate::args;
use crate::domain::matcher::Matchers;
use crate::domain::time::Ts;
use crate::domain::validate::Problems;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Active,
    Scheduled,
    Expired,
    Disabled,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Active => "active",
            SilenceState::Scheduled => "scheduled",
            SilenceState::Expired => "expired",
            SilenceState::Disabled => "disabled",
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Silence {
    pub id: i64,
    pub team_id: i64,
    pub group_id: i64,
    pub name: String,
    pub reason: String,
    /// Same language as route matchers; may also match `title`, `message`, `source`,
    /// `severity` and `component`.
    pub matchers: Value,
    pub starts_at: Ts,
    pub ends_at: Ts,
    pub enabled: bool,
    pub created_by: Option<i64>,
    pub created_at: Ts,
    pub updated_at: Ts,
    /// Derived from the time window, `enabled` and now.
    pub state: SilenceState,
}

/// Body of `POST /api/silences` (`team_id`, `name`, `matchers`, `ends_at` required;
/// `starts_at` defaults to now) and `PUT /api/silences/{id}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct SilenceInput {
    pub team_id: Option<i64>,
    pub name: Option<String>,
    pub reason: Option<String>,
    pub matchers: Option<Value>,
    pub starts_at: Option<Ts>,
    pub ends_at: Option<Ts>,
    pub enabled: Option<bool>,
}

const SELECT: &str = "SELECT s.*, t.group_id FROM silences s JOIN teams t ON t.id = s.team_id";

fn state(s: &Silence, now: Ts) -> SilenceState {
    if !s.enabled {
        SilenceState::Disabled
    } else if now < s.starts_at {
        SilenceState::Scheduled
    } else if now >= s.ends_at {
        SilenceState::Expired
    } else {
        SilenceState::Active
    }
}

fn row(r: &Row<'_>) -> Result<Silence> {
    Ok(Silence {
        id: r.get("id")?,
        team_id: r.get("team_id")?,
        group_id: r.get("group_id")?,
        name: r.get("name")?,
        reason: r.get("reason")?,
        matchers: r.json("matchers")?,
        starts_at: r.get("starts_at")?,
        ends_at: r.get("ends_at")?,
        enabled: r.get("enabled")?,
        created_by: r.get("created_by")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        state: SilenceState::Disabled,
    })
}

pub fn get(c: &Read<'_>, id: i64, now: Ts) -> Result<Silence> {
    let mut s =
        c.opt(&format!("{SELECT} WHERE s.id = ?1"), args![id], row)?.ok_or_else(|| StoreError::not_found("silence"))?;
    s.state = state(&s, now);
    Ok(s)
}

pub fn list(c: &Read<'_>, groups: Option<&[i64]>, team_id: Option<i64>, now: Ts) -> Result<Vec<Silence>> {
    let mut sql = format!("{SELECT} WHERE (CAST(?1 AS BIGINT) IS NULL OR s.team_id = ?1)");
    let mut args: Vec<Val> = args![team_id].to_vec();
    if let Some(g) = groups {
        sql.push_str(&format!(" AND t.group_id IN {}", placeholders(g.len())));
        args.extend(vals(g));
    }
    sql.push_str(" ORDER BY s.ends_at DESC, s.id DESC");
    let mut out = c.rows(&sql, &vals(&args), row)?;
    for s in out.iter_mut() {
        s.state = state(s, now);
    }
    Ok(out)
}

/// Enabled silences of a team that are active at `now`.
/// Teams with a silence active at `now`.
pub fn teams_with_active(c: &Read<'_>, now: Ts) -> Result<Vec<i64>> {
    c.rows(
        "SELECT DISTINCT team_id FROM silences WHERE enabled = 1 AND starts_at <= ?1 AND ends_at > ?1",
        args![now],
        |r| r.get(0),
    )
}

/// A team's enabled silences, whatever their times (paging keeps them between alerts: see
/// `lifecycle::silence_rules`).
pub fn enabled_for_team(c: &Read<'_>, team_id: i64) -> Result<Vec<Silence>> {
    c.rows(&format!("{SELECT} WHERE s.team_id = ?1 AND s.enabled = 1 ORDER BY s.id"), args![team_id], row)
}

fn apply(s: &mut Silence, input: SilenceInput) -> Result<()> {
    let mut p = Problems::new();
    if let Some(v) = input.name {
        s.name = v.trim().to_string();
    }
    if let Some(v) = input.reason {
        s.reason = v;
    }
    if let Some(v) = input.starts_at {
        s.starts_at = v;
    }
    if let Some(v) = input.ends_at {
        s.ends_at = v;
    }
    if let Some(v) = input.enabled {
        s.enabled = v;
    }
    if let Some(v) = input.matchers {
        match Matchers::parse(&v, "matchers") {
            Ok(m) if m.is_empty() => p.add("matchers", "a silence needs at least one matcher"),
            Ok(_) => {}
            Err(errs) => p.extend(errs),
        }
        s.matchers = v;
    }
    p.name("name", &s.name, 200);
    p.max_len("reason", &s.reason, 4000);
    p.check(s.ends_at > s.starts_at, "ends_at", "must be after starts_at");
    Ok(p.finish()?)
}

pub fn create(c: &Tx<'_>, ctx: &Ctx, input: SilenceInput) -> Result<Silence> {
    let mut p = Problems::new();
    let team_id = p.required(input.team_id, "team_id");
    p.required(input.name.as_ref(), "name");
    p.required(input.matchers.as_ref(), "matchers");
    p.required(input.ends_at.as_ref(), "ends_at");
    p.finish()?;
    let team = super::teams::get(c, team_id.unwrap_or_default())
        .map_err(|_| StoreError::invalid("team_id", "no such team"))?;
    let mut s = Silence {
        id: 0,
        team_id: team.id,
        group_id: team.group_id,
        name: String::new(),
        reason: String::new(),
        matchers: json!({}),
        starts_at: ctx.now,
        ends_at: ctx.now,
        enabled: true,
        created_by: ctx.actor.user_id,
        created_at: ctx.now,
        updated_at: ctx.now,
        state: SilenceState::Active,
    };
    apply(&mut s, input)?;
    let id = c.insert(
"INSERT INTO silences (team_id, name, reason, matchers, starts_at, ends_at, enabled, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) RETURNING id", args![s.team_id, s.name, s.reason, s.matchers.to_string(), s.starts_at, s.ends_at, s.enabled, s.created_by, ctx.now])?;
    ctx.audit(c, "silence.create", "silence", id, Some(s.group_id), json!({"name": s.name, "ends_at": s.ends_at}))?;
    c.silences_changed();
    get(c, id, ctx.now)
}

pub fn update(c: &Tx<'_>, ctx: &Ctx, id: i64, input: SilenceInput) -> Result<Silence> {
    let mut s = get(c, id, ctx.now)?;
    if input.team_id.is_some_and(|t| t != s.team_id) {
        return Err(StoreError::invalid("team_id", "a silence cannot move to another team"));
    }
    apply(&mut s, input)?;
    c.exec(
        "UPDATE silences SET name = ?1, reason = ?2, matchers = ?3, starts_at = ?4, ends_at = ?5, enabled = ?6, updated_at = ?7
         WHERE id = ?8",
        args![s.name, s.reason, s.matchers.to_string(), s.starts_at, s.ends_at, s.enabled, ctx.now, id],
    )?;
    ctx.audit(c, "silence.update", "silence", id, Some(s.group_id), json!({"name": s.name}))?;
    c.silences_changed();
    get(c, id, ctx.now)
}

pub fn delete(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let s = get(c, id, ctx.now)?;
    c.exec("DELETE FROM silences WHERE id = ?1", args![id])?;
    ctx.audit(c, "silence.delete", "silence", id, Some(s.group_id), json!({"name": s.name}))?;
    c.silences_changed();
    Ok(())
}
