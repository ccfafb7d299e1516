//! Channels: where notifications go. Configs are validated by the channel's notifier; secrets
//! in them are returned masked.

use rusqlite::{Connection, OptionalExtension, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::audit::Ctx;
use super::{CachedExt, Result, StoreError, json_col, placeholders, to_json};
use crate::domain::alert::Severity;
use crate::domain::time::Ts;
use crate::domain::validate::Problems;
use crate::notify::ChannelKind;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Channel {
    pub id: i64,
    pub team_id: i64,
    pub group_id: i64,
    pub name: String,
    pub channel_type: ChannelKind,
    /// The channel's settings; secrets are masked (`********`). Sending a masked value back
    /// keeps the stored secret.
    pub config: Value,
    /// Only alerts of these severities are sent here; empty = all.
    pub notify_on_severities: Vec<Severity>,
    pub enabled: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// Body of `POST /api/channels` (`team_id`, `name`, `channel_type`, `config` required) and
/// `PUT /api/channels/{id}` (a partial `config` is merged into the stored one).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ChannelInput {
    pub team_id: Option<i64>,
    pub name: Option<String>,
    pub channel_type: Option<String>,
    pub config: Option<Value>,
    pub notify_on_severities: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

const SELECT: &str = "SELECT ch.*, t.group_id FROM channels ch JOIN teams t ON t.id = ch.team_id";

/// Reads a row with its raw (unmasked) config.
fn raw_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Channel> {
    let kind: String = r.get("channel_type")?;
    let kind = ChannelKind::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown channel type {kind}").into(),
        )
    })?;
    Ok(Channel {
        id: r.get("id")?,
        team_id: r.get("team_id")?,
        group_id: r.get("group_id")?,
        name: r.get("name")?,
        channel_type: kind,
        config: json_col(r, "config")?,
        notify_on_severities: json_col(r, "notify_on_severities")?,
        enabled: r.get("enabled")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

fn masked(mut ch: Channel) -> Channel {
    ch.config = ch.channel_type.mask(&ch.config);
    ch
}

/// The channel with secrets in `config` (for notifiers only; never return it from the API).
pub fn get_raw(c: &Connection, id: i64) -> Result<Channel> {
    c.q_row(&format!("{SELECT} WHERE ch.id = ?1"), [id], raw_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("channel"))
}

/// The channel as the API shows it.
pub fn get(c: &Connection, id: i64) -> Result<Channel> {
    get_raw(c, id).map(masked)
}

pub fn list(c: &Connection, groups: Option<&[i64]>, team_id: Option<i64>) -> Result<Vec<Channel>> {
    let mut sql = format!("{SELECT} WHERE (?1 IS NULL OR ch.team_id = ?1)");
    let mut args: Vec<rusqlite::types::Value> = vec![team_id.into()];
    if let Some(g) = groups {
        sql.push_str(&format!(" AND t.group_id IN {}", placeholders(g.len())));
        args.extend(g.iter().map(|x| rusqlite::types::Value::Integer(*x)));
    }
    sql.push_str(" ORDER BY ch.team_id, ch.name");
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args), raw_row)?;
    Ok(rows.map(|r| r.map(masked)).collect::<Result<Vec<_>, _>>()?)
}

fn apply(ch: &mut Channel, input: ChannelInput, creating: bool) -> Result<()> {
    let mut p = Problems::new();
    if let Some(v) = input.name {
        ch.name = v.trim().to_string();
    }
    if let Some(v) = input.enabled {
        ch.enabled = v;
    }
    let mut kind_changed = false;
    if let Some(t) = input.channel_type {
        match ChannelKind::parse(t.trim()) {
            Some(k) => {
                kind_changed = k != ch.channel_type;
                ch.channel_type = k;
            }
            None => p.add(
                "channel_type",
                format!(
                    "unknown channel type; expected one of {}",
                    ChannelKind::ALL.map(ChannelKind::as_str).join(", ")
                ),
            ),
        }
    }
    if let Some(list) = input.notify_on_severities {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match Severity::parse(s) {
                Some(sev) if !out.contains(&sev) => out.push(sev),
                Some(_) => {}
                None => p.add(format!("notify_on_severities[{i}]"), "must be one of critical, high, warning, info"),
            }
        }
        ch.notify_on_severities = out;
    }
    p.name("name", &ch.name, 200);
    p.finish()?;
    let config = match input.config {
        Some(new) if creating || kind_changed => new,
        Some(new) => ch.channel_type.merge(&ch.config, &new)?,
        None if kind_changed => {
            return Err(StoreError::invalid("config", "is required when channel_type changes"));
        }
        None => ch.config.clone(),
    };
    ch.config = ch.channel_type.check_config(&config)?;
    Ok(())
}

pub fn create(c: &Connection, ctx: &Ctx, input: ChannelInput) -> Result<Channel> {
    let mut p = Problems::new();
    let team_id = p.required(input.team_id, "team_id");
    p.required(input.name.as_ref(), "name");
    p.required(input.channel_type.as_ref(), "channel_type");
    p.required(input.config.as_ref(), "config");
    p.finish()?;
    let team = super::teams::get(c, team_id.unwrap_or_default())
        .map_err(|_| StoreError::invalid("team_id", "no such team"))?;
    let mut ch = Channel {
        id: 0,
        team_id: team.id,
        group_id: team.group_id,
        name: String::new(),
        channel_type: ChannelKind::Webhook,
        config: json!({}),
        notify_on_severities: Vec::new(),
        enabled: true,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    apply(&mut ch, input, true)?;
    c.exec(
        "INSERT INTO channels (team_id, name, channel_type, config, notify_on_severities, enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![ch.team_id, ch.name, ch.channel_type.as_str(), ch.config.to_string(), to_json(&ch.notify_on_severities), ch.enabled, ctx.now],
    )?;
    let id = c.last_insert_rowid();
    ctx.audit(
        c,
        "channel.create",
        "channel",
        id,
        Some(team.group_id),
        json!({"name": ch.name, "channel_type": ch.channel_type}),
    )?;
    get(c, id)
}

pub fn update(c: &Connection, ctx: &Ctx, id: i64, input: ChannelInput) -> Result<Channel> {
    let mut ch = get_raw(c, id)?;
    if input.team_id.is_some_and(|t| t != ch.team_id) {
        return Err(StoreError::invalid("team_id", "a channel cannot move to another team"));
    }
    apply(&mut ch, input, false)?;
    c.exec(
        "UPDATE channels SET name = ?1, channel_type = ?2, config = ?3, notify_on_severities = ?4, enabled = ?5, updated_at = ?6
         WHERE id = ?7",
        params![ch.name, ch.channel_type.as_str(), ch.config.to_string(), to_json(&ch.notify_on_severities), ch.enabled, ctx.now, id],
    )?;
    ctx.audit(c, "channel.update", "channel", id, Some(ch.group_id), json!({"name": ch.name}))?;
    get(c, id)
}

pub fn delete(c: &Connection, ctx: &Ctx, id: i64) -> Result<()> {
    let ch = get_raw(c, id)?;
    let policy: Option<String> = c
        .query_row(
            "SELECT p.name FROM escalation_rules e JOIN escalation_policies p ON p.id = e.policy_id
             WHERE e.target_type = 'channel' AND e.target_id = ?1 LIMIT 1",
            [id],
            |x| x.get(0),
        )
        .optional()?;
    if let Some(name) = policy {
        return Err(StoreError::conflict("id", format!("escalation policy \"{name}\" targets this channel")));
    }
    c.exec(
        "UPDATE deliveries SET status = 'dead', last_error = 'the channel was deleted', updated_at = ?1
         WHERE channel_id = ?2 AND status IN ('pending', 'failed')",
        rusqlite::params![ctx.now, id],
    )?;
    c.exec("DELETE FROM channels WHERE id = ?1", [id])?;
    ctx.audit(c, "channel.delete", "channel", id, Some(ch.group_id), json!({"name": ch.name}))?;
    Ok(())
}
