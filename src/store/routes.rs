//! Routes: each owns an intake token and decides team, rotation/escalation policy and
//! channels for the alerts it accepts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::audit::Ctx;
use super::sql::{Row, Val, vals};
use super::{Read, Result, StoreError, Tx, placeholders, to_json};
use crate::args;
use crate::crypto;
use crate::domain::alert::Source;
use crate::domain::matcher::Matchers;
use crate::domain::time::Ts;
use crate::domain::validate::{Problems, nullable};

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Route {
    pub id: i64,
    pub team_id: i64,
    pub group_id: i64,
    pub name: String,
    pub source: Source,
    pub rotation_id: Option<i64>,
    pub escalation_policy_id: Option<i64>,
    pub channel_ids: Vec<i64>,
    /// Allow-list matchers (object or Alertmanager-string form); empty accepts everything.
    pub matchers: Value,
    /// Label names whose equal values merge alerts into one within the group window.
    pub group_by: Vec<String>,
    pub enabled: bool,
    pub intake_token_prefix: String,
    /// The token before the last regeneration, while it still works (a grace period for
    /// senders to switch over): its prefix …
    pub previous_token_prefix: Option<String>,
    /// … and when it stops working.
    pub previous_token_expires_at: Option<Ts>,
    /// Whether intake requires a Standard Webhooks signature.
    pub requires_signature: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
    /// The raw intake token: present only when it was just created or regenerated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intake_token: Option<String>,
    /// The Standard Webhooks secret (never serialised).
    #[serde(skip)]
    #[schemars(skip)]
    pub signing_secret: Option<String>,
    /// What would make this route page nobody, or surprise its owners (see
    /// [`Route::warnings`]).
    pub warnings: Vec<String>,
}

impl Route {
    /// What is wrong with the route as configured, in words: nobody notified, nobody
    /// assigned, or a rotation that a policy overrides.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let policy = self.escalation_policy_id.is_some();
        if self.channel_ids.is_empty() && !policy {
            w.push(
                "This route notifies nobody: it has no channel and no escalation policy. Add a channel (or a policy with \
                 channel steps)."
                    .to_string(),
            );
        }
        if self.rotation_id.is_none() && !policy {
            w.push(
                "Nobody is on call for this route's alerts: set a rotation or an escalation policy, so that someone is \
                 assigned and reminded."
                    .to_string(),
            );
        }
        if self.rotation_id.is_some() && policy {
            w.push(
                "Both a rotation and an escalation policy are set: the policy decides who is paged; the route's rotation \
                 is used only while the policy is disabled or has no steps."
                    .to_string(),
            );
        }
        if self.source == Source::Incidentio && !self.requires_signature {
            w.push(
                "incident.io finds this route by its signature: paste the signing secret of incident.io's webhook \
                 endpoint (whsec_…) into the route; until then its webhooks are refused."
                    .to_string(),
            );
        }
        w
    }
}

/// Body of `POST /api/routes` (`team_id`, `name`, `source` required) and `PUT /api/routes/{id}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct RouteInput {
    pub team_id: Option<i64>,
    pub name: Option<String>,
    pub source: Option<Source>,
    #[serde(default, deserialize_with = "nullable")]
    pub rotation_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub escalation_policy_id: Option<Option<i64>>,
    pub channel_ids: Option<Vec<i64>>,
    pub matchers: Option<Value>,
    pub group_by: Option<Vec<String>>,
    pub enabled: Option<bool>,
    /// `whsec_<base64>` to require signed intake; `null` turns it off. Write-only.
    #[serde(default, deserialize_with = "nullable")]
    pub signing_secret: Option<Option<String>>,
}

const SELECT: &str = "SELECT r.*, t.group_id FROM routes r JOIN teams t ON t.id = r.team_id";

fn row(r: &Row<'_>) -> Result<Route> {
    let source: String = r.get("source")?;
    // No CHECK constraint holds sources to a list (they are `Source`); a source this binary
    // does not know (a newer version wrote it) is an error, never silently another one.
    let source = Source::parse(&source).ok_or_else(|| StoreError::Db(format!("unknown source {source:?}")))?;
    let signing_secret: Option<String> = r.get("signing_secret")?;
    Ok(Route {
        id: r.get("id")?,
        team_id: r.get("team_id")?,
        group_id: r.get("group_id")?,
        name: r.get("name")?,
        source,
        rotation_id: r.get("rotation_id")?,
        escalation_policy_id: r.get("escalation_policy_id")?,
        channel_ids: Vec::new(),
        matchers: r.json("matchers")?,
        group_by: r.json("group_by")?,
        enabled: r.get("enabled")?,
        intake_token_prefix: r.get("intake_token_prefix")?,
        previous_token_prefix: r.get("previous_token_prefix")?,
        previous_token_expires_at: r.get("previous_token_expires_at")?,
        requires_signature: signing_secret.is_some(),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        intake_token: None,
        signing_secret,
        warnings: Vec::new(),
    })
}

fn with_channels(c: &Read<'_>, mut r: Route) -> Result<Route> {
    r.channel_ids =
        c.rows("SELECT channel_id FROM route_channels WHERE route_id = ?1 ORDER BY position", args![r.id], |x| {
            x.get(0)
        })?;
    r.warnings = r.warnings();
    Ok(r)
}

pub fn get(c: &Read<'_>, id: i64) -> Result<Route> {
    let r =
        c.opt(&format!("{SELECT} WHERE r.id = ?1"), args![id], row)?.ok_or_else(|| StoreError::not_found("route"))?;
    with_channels(c, r)
}

/// The route owning an intake token (by its SHA-256), if any.
/// The route owning an intake token (by its SHA-256): its current token, or the previous one
/// while its grace period runs (`now`).
pub fn by_token(c: &Read<'_>, raw_token: &str, now: Ts) -> Result<Option<Route>> {
    let hash = crypto::sha256_hex(raw_token);
    let found = c.opt(
        &format!(
            "{SELECT} WHERE r.intake_token_hash = ?1 OR (r.previous_token_hash = ?1 AND r.previous_token_expires_at > ?2)"
        ),
        args![&hash, now],
        |x| Ok((x.get::<String, _>("intake_token_hash")?, x.get::<Option<String>, _>("previous_token_hash")?, row(x)?)),
    )?;
    match found {
        Some((current, previous, r))
            if crypto::ct_eq(current.as_bytes(), hash.as_bytes())
                || previous.as_ref().is_some_and(|p| crypto::ct_eq(p.as_bytes(), hash.as_bytes())) =>
        {
            Ok(Some(with_channels(c, r)?))
        }
        _ => Ok(None),
    }
}

pub fn list(c: &Read<'_>, groups: Option<&[i64]>, team_id: Option<i64>) -> Result<Vec<Route>> {
    let mut sql = format!("{SELECT} WHERE (CAST(?1 AS BIGINT) IS NULL OR r.team_id = ?1)");
    let mut args: Vec<Val> = args![team_id].to_vec();
    if let Some(g) = groups {
        sql.push_str(&format!(" AND t.group_id IN {}", placeholders(g.len())));
        args.extend(vals(g));
    }
    sql.push_str(" ORDER BY r.team_id, r.name");
    let rows = c.rows(&sql, &vals(&args), row)?;
    rows.into_iter().map(|r| with_channels(c, r)).collect()
}

/// Routes of a team (intake by personal API token routes among these).
/// The enabled routes of a source that verify signatures (incident.io: the signing secret is
/// the route's credential; the request names no token).
pub fn signing_routes(c: &Read<'_>, source: Source) -> Result<Vec<Route>> {
    c.rows(
        &format!("{SELECT} WHERE r.source = ?1 AND r.enabled = 1 AND r.signing_secret IS NOT NULL ORDER BY r.id"),
        args![source.as_str()],
        row,
    )
}

pub fn of_team(c: &Read<'_>, team_id: i64) -> Result<Vec<Route>> {
    list(c, None, Some(team_id))
}

fn belongs_to_team(c: &Read<'_>, table: &str, id: i64, team_id: i64) -> Result<bool> {
    c.one(&format!("SELECT EXISTS(SELECT 1 FROM {table} WHERE id = ?1 AND team_id = ?2)"), args![id, team_id], |x| {
        x.get(0)
    })
}

fn apply(c: &Read<'_>, r: &mut Route, input: RouteInput) -> Result<()> {
    let mut p = Problems::new();
    if let Some(v) = input.name {
        r.name = v.trim().to_string();
    }
    if let Some(v) = input.source {
        r.source = v;
    }
    if let Some(v) = input.rotation_id {
        r.rotation_id = v;
    }
    if let Some(v) = input.escalation_policy_id {
        r.escalation_policy_id = v;
    }
    if let Some(v) = input.enabled {
        r.enabled = v;
    }
    if let Some(v) = input.matchers {
        if let Err(errs) = Matchers::parse(&v, "matchers") {
            p.extend(errs);
        }
        r.matchers = if v.is_null() { json!({}) } else { v };
    }
    if let Some(v) = input.group_by {
        for (i, l) in v.iter().enumerate() {
            let ok = !l.is_empty()
                && l.len() <= 128
                && l.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.' || ch == '-');
            p.check(ok, &format!("group_by[{i}]"), "must be a label name");
        }
        p.check(v.len() <= 20, "group_by", "at most 20 labels");
        r.group_by = v;
    }
    if let Some(v) = input.signing_secret {
        if let Some(s) = &v {
            let ok = s.strip_prefix("whsec_").and_then(crypto::b64_decode).is_some_and(|k| k.len() >= 16);
            p.check(ok, "signing_secret", "must be whsec_ followed by at least 16 base64-encoded bytes");
        }
        r.signing_secret = v;
        r.requires_signature = r.signing_secret.is_some();
    }
    if let Some(v) = input.channel_ids {
        let mut seen = Vec::new();
        for (i, id) in v.iter().enumerate() {
            if seen.contains(id) {
                p.add(format!("channel_ids[{i}]"), "is listed twice");
            } else if !belongs_to_team(c, "channels", *id, r.team_id)? {
                p.add(format!("channel_ids[{i}]"), "no such channel in the route's team");
            }
            seen.push(*id);
        }
        r.channel_ids = v;
    }
    p.name("name", &r.name, 200);
    if let Some(id) = r.rotation_id {
        p.check(belongs_to_team(c, "rotations", id, r.team_id)?, "rotation_id", "no such rotation in the route's team");
    }
    if let Some(id) = r.escalation_policy_id {
        p.check(
            belongs_to_team(c, "escalation_policies", id, r.team_id)?,
            "escalation_policy_id",
            "no such escalation policy in the route's team",
        );
    }
    Ok(p.finish()?)
}

fn save_channels(c: &Tx<'_>, r: &Route) -> Result<()> {
    c.exec("DELETE FROM route_channels WHERE route_id = ?1", args![r.id])?;
    for (pos, ch) in r.channel_ids.iter().enumerate() {
        c.exec(
            "INSERT INTO route_channels (route_id, channel_id, position) VALUES (?1, ?2, ?3)",
            args![r.id, ch, pos as i64],
        )?;
    }
    Ok(())
}

pub fn create(c: &Tx<'_>, ctx: &Ctx, input: RouteInput) -> Result<Route> {
    let mut p = Problems::new();
    let team_id = p.required(input.team_id, "team_id");
    p.required(input.name.as_ref(), "name");
    p.required(input.source.as_ref(), "source");
    p.finish()?;
    let team = super::teams::get(c, team_id.unwrap_or_default())
        .map_err(|_| StoreError::invalid("team_id", "no such team"))?;
    let token = crypto::new_token("iri_")?;
    let mut r = Route {
        id: 0,
        team_id: team.id,
        group_id: team.group_id,
        name: String::new(),
        source: Source::Webhook,
        rotation_id: None,
        escalation_policy_id: None,
        channel_ids: Vec::new(),
        matchers: json!({}),
        group_by: Vec::new(),
        enabled: true,
        intake_token_prefix: crypto::token_prefix(&token),
        previous_token_prefix: None,
        previous_token_expires_at: None,
        requires_signature: false,
        created_at: ctx.now,
        updated_at: ctx.now,
        intake_token: None,
        signing_secret: None,
        warnings: Vec::new(),
    };
    apply(c, &mut r, input)?;
    r.id = c.insert(
        "INSERT INTO routes (team_id, name, source, rotation_id, escalation_policy_id, matchers, group_by, enabled,
                             intake_token_hash, intake_token_prefix, signing_secret, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12) RETURNING id",
        args![
            r.team_id,
            r.name,
            r.source.as_str(),
            r.rotation_id,
            r.escalation_policy_id,
            r.matchers.to_string(),
            to_json(&r.group_by),
            r.enabled,
            crypto::sha256_hex(&token),
            r.intake_token_prefix,
            r.signing_secret,
            ctx.now
        ],
    )?;
    save_channels(c, &r)?;
    ctx.audit(c, "route.create", "route", r.id, Some(r.group_id), json!({"name": r.name, "source": r.source}))?;
    let mut out = get(c, r.id)?;
    out.intake_token = Some(token);
    Ok(out)
}

pub fn update(c: &Tx<'_>, ctx: &Ctx, id: i64, input: RouteInput) -> Result<Route> {
    let mut r = get(c, id)?;
    if input.team_id.is_some_and(|t| t != r.team_id) {
        return Err(StoreError::invalid("team_id", "a route cannot move to another team"));
    }
    apply(c, &mut r, input)?;
    c.exec(
        "UPDATE routes SET name = ?1, source = ?2, rotation_id = ?3, escalation_policy_id = ?4, matchers = ?5, group_by = ?6,
                enabled = ?7, signing_secret = ?8, updated_at = ?9 WHERE id = ?10",
        args![
            r.name,
            r.source.as_str(),
            r.rotation_id,
            r.escalation_policy_id,
            r.matchers.to_string(),
            to_json(&r.group_by),
            r.enabled,
            r.signing_secret,
            ctx.now,
            id
        ],
    )?;
    save_channels(c, &r)?;
    ctx.audit(c, "route.update", "route", id, Some(r.group_id), json!({"name": r.name}))?;
    get(c, id)
}

/// Replaces the intake token; the old one stops working when this commits.
/// How long the previous token may keep working after a regeneration, at most (24 h).
pub const MAX_TOKEN_GRACE_SECS: i64 = 86_400;

/// A new intake token. The previous one stops working at once (`grace_secs` 0) or after
/// `grace_secs`, for senders to switch over; a token older than that is dropped.
pub fn regenerate_token(c: &Tx<'_>, ctx: &Ctx, id: i64, grace_secs: i64) -> Result<Route> {
    if !(0..=MAX_TOKEN_GRACE_SECS).contains(&grace_secs) {
        return Err(StoreError::invalid("grace_seconds", "must be between 0 and 86400"));
    }
    let r = get(c, id)?;
    let token = crypto::new_token("iri_")?;
    let grace = (grace_secs > 0).then(|| ctx.now.plus_secs(grace_secs));
    c.exec(
        "UPDATE routes SET previous_token_hash = CASE WHEN CAST(?5 AS BIGINT) IS NULL THEN NULL ELSE intake_token_hash END,
                previous_token_prefix = CASE WHEN ?5 IS NULL THEN NULL ELSE intake_token_prefix END,
                previous_token_expires_at = ?5,
                intake_token_hash = ?1, intake_token_prefix = ?2, updated_at = ?3 WHERE id = ?4",
        args![crypto::sha256_hex(&token), crypto::token_prefix(&token), ctx.now, id, grace],
    )?;
    ctx.audit(
        c,
        "route.regenerate_token",
        "route",
        id,
        Some(r.group_id),
        json!({"name": r.name, "previous_token_valid_until": grace}),
    )?;
    let mut out = get(c, id)?;
    out.intake_token = Some(token);
    Ok(out)
}

pub fn delete(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let r = get(c, id)?;
    c.exec("DELETE FROM routes WHERE id = ?1", args![id])?;
    ctx.audit(c, "route.delete", "route", id, Some(r.group_id), json!({"name": r.name}))?;
    Ok(())
}

/// Forgets Standard Webhooks ids seen before `cutoff` (they are outside the ±5 min window).
pub fn purge_webhook_ids_before(c: &Tx<'_>, cutoff: Ts) -> Result<usize> {
    c.exec("DELETE FROM intake_webhook_ids WHERE seen_at < ?1", args![cutoff])
}

/// Remembers a Standard Webhooks `webhook-id` for a route; a second use is a replay (conflict).
pub fn remember_webhook_id(c: &Tx<'_>, route_id: i64, webhook_id: &str, now: Ts) -> Result<()> {
    c.exec(
        "INSERT INTO intake_webhook_ids (route_id, webhook_id, seen_at) VALUES (?1, ?2, ?3)",
        args![route_id, webhook_id, now],
    )
    .map_err(|e| match e {
        StoreError::Conflict { .. } => {
            StoreError::conflict("webhook-id", "this webhook-id was already processed (replay)")
        }
        other => other,
    })?;
    Ok(())
}
