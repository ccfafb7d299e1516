//! Channels: where notifications go. Configs are validated by the channel's notifier; secrets
//! in them are returned masked.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use super::audit::Ctx;
use super::sql::{Row, Val, vals};
use super::{Read, Result, StoreError, Tx, placeholders, to_json};
use crate::args;
use crate::domain::alert::Severity;
use crate::domain::channel::{ChannelKind, ChannelSpec};
use crate::domain::time::Ts;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Channel {
    pub id: i64,
    pub team_id: i64,
    pub group_id: i64,
    pub name: String,
    pub channel_type: ChannelKind,
    /// The channel's settings. The API shows secrets masked (`********`); sending a masked
    /// value back keeps the stored secret.
    pub config: Value,
    /// Only alerts of these severities are sent here; empty = all.
    pub notify_on_severities: Vec<Severity>,
    pub enabled: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
    /// What will keep messages from arriving, as far as the settings show (an address the
    /// outbound guard refuses, and the setting that allows it). Filled by the API.
    pub warnings: Vec<String>,
}

const SELECT: &str = "SELECT ch.*, t.group_id FROM channels ch JOIN teams t ON t.id = ch.team_id";

/// Reads a row with its raw (unmasked) config.
fn raw_row(r: &Row<'_>) -> Result<Channel> {
    let kind: String = r.get("channel_type")?;
    let kind = ChannelKind::parse(&kind).ok_or_else(|| StoreError::Db(format!("unknown channel type {kind}")))?;
    Ok(Channel {
        id: r.get("id")?,
        team_id: r.get("team_id")?,
        group_id: r.get("group_id")?,
        name: r.get("name")?,
        channel_type: kind,
        config: r.json("config")?,
        notify_on_severities: r.json("notify_on_severities")?,
        enabled: r.get("enabled")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        warnings: Vec::new(),
    })
}

impl Channel {
    /// Its settings as a spec, to apply a change to.
    pub fn spec(&self) -> ChannelSpec {
        ChannelSpec {
            name: self.name.clone(),
            channel_type: self.channel_type,
            config: self.config.clone(),
            notify_on_severities: self.notify_on_severities.clone(),
            enabled: self.enabled,
        }
    }
}

/// The channel, secrets in clear (the API masks them: see `http::api::channels`).
pub fn get(c: &Read<'_>, id: i64) -> Result<Channel> {
    c.opt(&format!("{SELECT} WHERE ch.id = ?1"), args![id], raw_row)?.ok_or_else(|| StoreError::not_found("channel"))
}

pub fn list(c: &Read<'_>, groups: Option<&[i64]>, team_id: Option<i64>) -> Result<Vec<Channel>> {
    let mut sql = format!("{SELECT} WHERE (CAST(?1 AS BIGINT) IS NULL OR ch.team_id = ?1)");
    let mut args: Vec<Val> = args![team_id].to_vec();
    if let Some(g) = groups {
        sql.push_str(&format!(" AND t.group_id IN {}", placeholders(g.len())));
        args.extend(vals(g));
    }
    sql.push_str(" ORDER BY ch.team_id, ch.name");
    c.rows(&sql, &args, raw_row)
}

pub fn create(c: &Tx<'_>, ctx: &Ctx, team_id: i64, spec: ChannelSpec) -> Result<Channel> {
    let team = super::teams::get(c, team_id).map_err(|_| StoreError::invalid("team_id", "no such team"))?;
    let id = c.insert(
        "INSERT INTO channels (team_id, name, channel_type, config, notify_on_severities, enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING id",
        args![team.id, spec.name, spec.channel_type.as_str(), spec.config.to_string(), to_json(&spec.notify_on_severities), spec.enabled, ctx.now],
    )?;
    ctx.audit(
        c,
        "channel.create",
        "channel",
        id,
        Some(team.group_id),
        json!({"name": spec.name, "channel_type": spec.channel_type}),
    )?;
    get(c, id)
}

pub fn update(c: &Tx<'_>, ctx: &Ctx, id: i64, spec: ChannelSpec) -> Result<Channel> {
    let ch = get(c, id)?;
    c.exec(
        "UPDATE channels SET name = ?1, channel_type = ?2, config = ?3, notify_on_severities = ?4, enabled = ?5, updated_at = ?6
         WHERE id = ?7",
        args![spec.name, spec.channel_type.as_str(), spec.config.to_string(), to_json(&spec.notify_on_severities), spec.enabled, ctx.now, id],
    )?;
    ctx.audit(c, "channel.update", "channel", id, Some(ch.group_id), json!({"name": spec.name}))?;
    get(c, id)
}

pub fn delete(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let ch = get(c, id)?;
    let policy: Option<String> = c.opt(
        "SELECT p.name FROM escalation_rules e JOIN escalation_policies p ON p.id = e.policy_id
         WHERE e.target_type = 'channel' AND e.target_id = ?1 LIMIT 1",
        args![id],
        |x| x.get(0),
    )?;
    if let Some(name) = policy {
        return Err(StoreError::conflict("id", format!("escalation policy \"{name}\" targets this channel")));
    }
    c.exec(
        "UPDATE deliveries SET status = 'dead', last_error = 'the channel was deleted', updated_at = ?1
         WHERE channel_id = ?2 AND status IN ('pending', 'failed')",
        args![ctx.now, id],
    )?;
    c.exec("DELETE FROM channels WHERE id = ?1", args![id])?;
    ctx.audit(c, "channel.delete", "channel", id, Some(ch.group_id), json!({"name": ch.name}))?;
    Ok(())
}
