//! Escalation policies and their ordered rules.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Ctx;
use super::sql::{Row, Val, vals};
use super::{Read, Result, StoreError, Tx, placeholders};
use crate::args;
use crate::domain::escalation::TargetType;
use crate::domain::time::Ts;
use crate::domain::validate::Problems;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Rule {
    pub id: i64,
    pub position: i64,
    /// Seconds after the previous rule fired. Rule 0 fires at intake; its delay is the wait
    /// before the policy repeats after the last rule.
    pub delay_seconds: i64,
    pub target_type: TargetType,
    pub target_id: i64,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Policy {
    pub id: i64,
    pub team_id: i64,
    pub group_id: i64,
    pub name: String,
    pub description: String,
    /// How many times the whole policy runs again after its last rule.
    pub repeat_count: i64,
    pub enabled: bool,
    pub rules: Vec<Rule>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct RuleInput {
    pub position: Option<i64>,
    pub delay_seconds: Option<i64>,
    pub target_type: Option<TargetType>,
    pub target_id: Option<i64>,
}

/// Body of `POST /api/escalation-policies` (`team_id`, `name`, `rules` required) and
/// `PUT /api/escalation-policies/{id}` (`rules`, when given, replace all rules).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct PolicyInput {
    pub team_id: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub repeat_count: Option<i64>,
    pub enabled: Option<bool>,
    pub rules: Option<Vec<RuleInput>>,
}

const SELECT: &str = "SELECT p.*, t.group_id FROM escalation_policies p JOIN teams t ON t.id = p.team_id";

fn row(r: &Row<'_>) -> Result<Policy> {
    Ok(Policy {
        id: r.get("id")?,
        team_id: r.get("team_id")?,
        group_id: r.get("group_id")?,
        name: r.get("name")?,
        description: r.get("description")?,
        repeat_count: r.get("repeat_count")?,
        enabled: r.get("enabled")?,
        rules: Vec::new(),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

fn with_rules(c: &Read<'_>, mut p: Policy) -> Result<Policy> {
    p.rules =
        c.rows("SELECT * FROM escalation_rules WHERE policy_id = ?1 ORDER BY position, id", args![p.id], |r| {
            let t: String = r.get("target_type")?;
            Ok(Rule {
                id: r.get("id")?,
                position: r.get("position")?,
                delay_seconds: r.get("delay_seconds")?,
                target_type: TargetType::parse(&t).unwrap_or(TargetType::Channel),
                target_id: r.get("target_id")?,
            })
        })?;
    Ok(p)
}

pub fn get(c: &Read<'_>, id: i64) -> Result<Policy> {
    let p = c
        .opt(&format!("{SELECT} WHERE p.id = ?1"), args![id], row)?
        .ok_or_else(|| StoreError::not_found("escalation policy"))?;
    with_rules(c, p)
}

pub fn list(c: &Read<'_>, groups: Option<&[i64]>, team_id: Option<i64>) -> Result<Vec<Policy>> {
    let mut sql = format!("{SELECT} WHERE (CAST(?1 AS BIGINT) IS NULL OR p.team_id = ?1)");
    let mut args: Vec<Val> = args![team_id].to_vec();
    if let Some(g) = groups {
        sql.push_str(&format!(" AND t.group_id IN {}", placeholders(g.len())));
        args.extend(vals(g));
    }
    sql.push_str(" ORDER BY p.team_id, p.name");
    let rows = c.rows(&sql, &vals(&args), row)?;
    rows.into_iter().map(|p| with_rules(c, p)).collect()
}

fn check_rules(
    c: &Read<'_>,
    team_id: i64,
    group_id: i64,
    repeat_count: i64,
    input: Vec<RuleInput>,
) -> Result<Vec<Rule>> {
    let mut p = Problems::new();
    if input.is_empty() {
        p.add("rules", "must contain at least one rule");
    }
    p.check(input.len() <= 50, "rules", "at most 50 rules");
    let mut rules = Vec::new();
    for (i, r) in input.into_iter().enumerate() {
        let f = |name: &str| format!("rules[{i}].{name}");
        let delay = r.delay_seconds.unwrap_or(0);
        if !(0..=7 * 86_400).contains(&delay) {
            p.add(f("delay_seconds"), "must be between 0 and 604800");
        }
        let (Some(target_type), Some(target_id)) = (r.target_type, r.target_id) else {
            if r.target_type.is_none() {
                p.add(f("target_type"), "is required (rotation, user or channel)");
            }
            if r.target_id.is_none() {
                p.add(f("target_id"), "is required");
            }
            continue;
        };
        let ok = match target_type {
            TargetType::Rotation => c.one(
                "SELECT EXISTS(SELECT 1 FROM rotations WHERE id = ?1 AND team_id = ?2)",
                args![target_id, team_id],
                |x| x.get::<bool, _>(0),
            )?,
            TargetType::Channel => c.one(
                "SELECT EXISTS(SELECT 1 FROM channels WHERE id = ?1 AND team_id = ?2)",
                args![target_id, team_id],
                |x| x.get::<bool, _>(0),
            )?,
            TargetType::User => super::groups::is_member(c, group_id, target_id)?,
        };
        if !ok {
            let what = match target_type {
                TargetType::Rotation => "no such rotation in the policy's team",
                TargetType::Channel => "no such channel in the policy's team",
                TargetType::User => "no such user in the policy's group",
            };
            p.add(f("target_id"), what);
        }
        rules.push(Rule {
            id: 0,
            position: r.position.unwrap_or(i as i64),
            delay_seconds: delay,
            target_type,
            target_id,
        });
    }
    rules.sort_by_key(|r| r.position);
    if repeat_count > 0
        && let Some(first) = rules.first()
    {
        p.check(
            first.delay_seconds >= 60,
            "rules[0].delay_seconds",
            "with repeat_count > 0, the first rule's delay is the wait before repeating and must be at least 60",
        );
    }
    p.finish()?;
    Ok(rules)
}

fn save_rules(c: &Tx<'_>, policy_id: i64, rules: &[Rule]) -> Result<()> {
    c.exec("DELETE FROM escalation_rules WHERE policy_id = ?1", args![policy_id])?;
    for (i, r) in rules.iter().enumerate() {
        c.exec(
            "INSERT INTO escalation_rules (policy_id, position, delay_seconds, target_type, target_id) VALUES (?1, ?2, ?3, ?4, ?5)",
            args![policy_id, i as i64, r.delay_seconds, r.target_type.as_str(), r.target_id],
        )?;
    }
    Ok(())
}

fn apply(p: &mut Policy, input: &PolicyInput) -> Result<()> {
    if let Some(v) = &input.name {
        p.name = v.trim().to_string();
    }
    if let Some(v) = &input.description {
        p.description = v.clone();
    }
    if let Some(v) = input.repeat_count {
        p.repeat_count = v;
    }
    if let Some(v) = input.enabled {
        p.enabled = v;
    }
    let mut pr = Problems::new();
    pr.name("name", &p.name, 200);
    pr.max_len("description", &p.description, 4000);
    pr.range("repeat_count", p.repeat_count, 0, 100);
    Ok(pr.finish()?)
}

pub fn create(c: &Tx<'_>, ctx: &Ctx, input: PolicyInput) -> Result<Policy> {
    let mut pr = Problems::new();
    let team_id = pr.required(input.team_id, "team_id");
    pr.required(input.name.as_ref(), "name");
    pr.required(input.rules.as_ref(), "rules");
    pr.finish()?;
    let team = super::teams::get(c, team_id.unwrap_or_default())
        .map_err(|_| StoreError::invalid("team_id", "no such team"))?;
    let mut p = Policy {
        id: 0,
        team_id: team.id,
        group_id: team.group_id,
        name: String::new(),
        description: String::new(),
        repeat_count: 0,
        enabled: true,
        rules: Vec::new(),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    apply(&mut p, &input)?;
    let rules = check_rules(c, p.team_id, p.group_id, p.repeat_count, input.rules.unwrap_or_default())?;
    p.id = c.insert(
        "INSERT INTO escalation_policies (team_id, name, description, repeat_count, enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id",
        args![p.team_id, p.name, p.description, p.repeat_count, p.enabled, ctx.now],
    )?;
    save_rules(c, p.id, &rules)?;
    ctx.audit(
        c,
        "escalation_policy.create",
        "escalation_policy",
        p.id,
        Some(p.group_id),
        json!({"name": p.name, "rules": rules.len()}),
    )?;
    get(c, p.id)
}

pub fn update(c: &Tx<'_>, ctx: &Ctx, id: i64, input: PolicyInput) -> Result<Policy> {
    let mut p = get(c, id)?;
    if input.team_id.is_some_and(|t| t != p.team_id) {
        return Err(StoreError::invalid("team_id", "a policy cannot move to another team"));
    }
    apply(&mut p, &input)?;
    let rules = match input.rules {
        Some(r) => check_rules(c, p.team_id, p.group_id, p.repeat_count, r)?,
        None => {
            let existing = p.rules.iter().map(|r| RuleInput {
                position: Some(r.position),
                delay_seconds: Some(r.delay_seconds),
                target_type: Some(r.target_type),
                target_id: Some(r.target_id),
            });
            check_rules(c, p.team_id, p.group_id, p.repeat_count, existing.collect())?
        }
    };
    c.exec(
        "UPDATE escalation_policies SET name = ?1, description = ?2, repeat_count = ?3, enabled = ?4, updated_at = ?5 WHERE id = ?6",
        args![p.name, p.description, p.repeat_count, p.enabled, ctx.now, id],
    )?;
    save_rules(c, id, &rules)?;
    ctx.audit(c, "escalation_policy.update", "escalation_policy", id, Some(p.group_id), json!({"name": p.name}))?;
    get(c, id)
}

pub fn delete(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let p = get(c, id)?;
    let route: Option<String> =
        c.opt("SELECT name FROM routes WHERE escalation_policy_id = ?1 LIMIT 1", args![id], |x| x.get(0))?;
    if let Some(name) = route {
        return Err(StoreError::conflict("id", format!("route \"{name}\" uses this policy; change the route first")));
    }
    c.exec("DELETE FROM escalation_policies WHERE id = ?1", args![id])?;
    ctx.audit(c, "escalation_policy.delete", "escalation_policy", id, Some(p.group_id), json!({"name": p.name}))?;
    Ok(())
}
