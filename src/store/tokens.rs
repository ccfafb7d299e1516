//! Login sessions and personal API tokens. Only SHA-256 hashes of the secrets are stored.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Ctx;
use super::sql::Row;
use super::{Read, Result, StoreError, Tx, to_json};
use crate::args;
use crate::domain::access::{Scope, TokenLimits};
use crate::domain::time::Ts;
use crate::domain::validate::Problems;

// --- sessions ----------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub csrf_token: String,
    pub expires_at: Ts,
}

pub struct NewSession<'a> {
    pub user_id: i64,
    pub token_hash: &'a str,
    pub csrf_token: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub expires_at: Ts,
}

pub fn create_session(c: &Tx<'_>, now: Ts, s: &NewSession<'_>) -> Result<i64> {
    c.insert(
        "INSERT INTO sessions (user_id, token_hash, csrf_token, ip, user_agent, created_at, expires_at, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6) RETURNING id",
        args![s.user_id, s.token_hash, s.csrf_token, s.ip, s.user_agent, now, s.expires_at],
    )
}

/// A live session by token hash.
pub fn session_by_hash(c: &Read<'_>, hash: &str, now: Ts) -> Result<Option<Session>> {
    let found = c.opt(
        "SELECT id, user_id, token_hash, csrf_token, expires_at FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
        args![hash, now],
        |r| {
        Ok((
            r.get::<String, _>("token_hash")?,
            Session {
                id: r.get("id")?,
                user_id: r.get("user_id")?,
                csrf_token: r.get("csrf_token")?,
                expires_at: r.get("expires_at")?,
            },
        ))
    })?;
    // The lookup is by hash; compare once more in constant time for good measure.
    Ok(found.filter(|(h, _)| crate::crypto::ct_eq(h.as_bytes(), hash.as_bytes())).map(|(_, s)| s))
}

pub fn delete_session(c: &Tx<'_>, id: i64) -> Result<()> {
    c.exec("DELETE FROM sessions WHERE id = ?1", args![id])?;
    Ok(())
}

pub fn purge_expired(c: &Tx<'_>, now: Ts) -> Result<usize> {
    let a = c.exec("DELETE FROM sessions WHERE expires_at <= ?1", args![now])?;
    let b = c.exec("DELETE FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at <= ?1", args![now])?;
    Ok(a + b)
}

// --- personal API tokens -----------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it later.
    pub token_prefix: String,
    pub scopes: Vec<Scope>,
    /// When set, the token only reaches this group.
    pub group_id: Option<i64>,
    pub expires_at: Option<Ts>,
    pub last_used_at: Option<Ts>,
    pub created_at: Ts,
    /// The raw token: present only in the response that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Body of `POST /api/profile/tokens`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct TokenInput {
    pub name: Option<String>,
    /// Any of `alerts:read`, `alerts:write`, `resources:read`, `resources:write`,
    /// `profile:read`, `profile:write`, `*` (admins only).
    pub scopes: Option<Vec<String>>,
    /// Lifetime in days; omit for a token that does not expire.
    pub days: Option<i64>,
    /// Restrict the token to one group.
    pub group_id: Option<i64>,
}

fn token_row(r: &Row<'_>) -> Result<ApiToken> {
    Ok(ApiToken {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        name: r.get("name")?,
        token_prefix: r.get("token_prefix")?,
        scopes: r.json("scopes")?,
        group_id: r.get("group_id")?,
        expires_at: r.get("expires_at")?,
        last_used_at: r.get("last_used_at")?,
        created_at: r.get("created_at")?,
        token: None,
    })
}

/// Validated token settings.
pub struct TokenSpec {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<Ts>,
    pub group_id: Option<i64>,
}

/// Checks a token request against the owner's rights (`is_admin`, `member_of`).
/// `limits` are those of the token making the request, if one does.
pub fn check_input(
    input: TokenInput,
    now: Ts,
    is_admin: bool,
    member_of: &[i64],
    limits: Option<&TokenLimits>,
) -> Result<TokenSpec> {
    let mut p = Problems::new();
    let name = input.name.unwrap_or_default().trim().to_string();
    p.name("name", &name, 100);
    let mut scopes = Vec::new();
    match input.scopes {
        None => p.add("scopes", "is required (e.g. [\"alerts:read\"])"),
        Some(list) if list.is_empty() => p.add("scopes", "must name at least one scope"),
        Some(list) => {
            for (i, s) in list.iter().enumerate() {
                match Scope::parse(s) {
                    Some(Scope::All) if !is_admin => p.add(format!("scopes[{i}]"), "`*` is for admins only"),
                    Some(sc) if limits.is_some_and(|l| !l.allows_scope(sc)) => p.add(
                        format!("scopes[{i}]"),
                        format!(
                            "the token making this request lacks `{s}`: a token cannot create one with more rights"
                        ),
                    ),
                    Some(sc) if !scopes.contains(&sc) => scopes.push(sc),
                    Some(_) => {}
                    None => p.add(
                        format!("scopes[{i}]"),
                        format!("unknown scope `{s}`; expected one of {}", Scope::ALL.map(Scope::as_str).join(", ")),
                    ),
                }
            }
        }
    }
    let mut expires_at = match input.days {
        None => None,
        Some(d) if (1..=3650).contains(&d) => Some(now.plus_secs(d * 86_400)),
        Some(_) => {
            p.add("days", "must be between 1 and 3650");
            None
        }
    };
    let mut group_id = input.group_id;
    if let Some(l) = limits {
        // Never outlives, nor reaches beyond, the token that creates it.
        if let Some(end) = l.expires_at {
            expires_at = Some(expires_at.map_or(end, |e| e.min(end)));
        }
        match (l.group_id, group_id) {
            (Some(g), None) => group_id = Some(g),
            (Some(g), Some(wanted)) if wanted != g => {
                p.add("group_id", format!("the token making this request is restricted to group {g}"));
                group_id = None;
            }
            _ => {}
        }
    }
    if let Some(g) = group_id {
        p.check(is_admin || member_of.contains(&g), "group_id", "you are not a member of this group");
    }
    p.finish()?;
    Ok(TokenSpec { name, scopes, expires_at, group_id })
}

pub fn create_token(c: &Tx<'_>, ctx: &Ctx, user_id: i64, spec: TokenSpec, raw: &str) -> Result<ApiToken> {
    if let Some(g) = spec.group_id {
        super::groups::get(c, g).map_err(|_| StoreError::invalid("group_id", "no such group"))?;
    }
    let prefix = crate::crypto::token_prefix(raw);
    let id = c.insert(
        "INSERT INTO api_tokens (user_id, name, token_hash, token_prefix, scopes, group_id, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        args![
            user_id,
            spec.name,
            crate::crypto::sha256_hex(raw),
            prefix,
            to_json(&spec.scopes),
            spec.group_id,
            spec.expires_at,
            ctx.now
        ],
    )?;
    ctx.audit(
        c,
        "api_token.create",
        "api_token",
        id,
        spec.group_id,
        json!({"name": spec.name, "scopes": spec.scopes}),
    )?;
    let mut t = c.one("SELECT * FROM api_tokens WHERE id = ?1", args![id], token_row)?;
    t.token = Some(raw.to_string());
    Ok(t)
}

pub fn tokens_of_user(c: &Read<'_>, user_id: i64) -> Result<Vec<ApiToken>> {
    c.rows("SELECT * FROM api_tokens WHERE user_id = ?1 ORDER BY id", args![user_id], token_row)
}

/// A live token by hash.
pub fn token_by_hash(c: &Read<'_>, hash: &str, now: Ts) -> Result<Option<ApiToken>> {
    let found = c.opt(
        "SELECT * FROM api_tokens WHERE token_hash = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
        args![hash, now],
        |r| Ok((r.get::<String, _>("token_hash")?, token_row(r)?)),
    )?;
    Ok(found.filter(|(h, _)| crate::crypto::ct_eq(h.as_bytes(), hash.as_bytes())).map(|(_, t)| t))
}

/// Records use, at most once a minute per token (keeps writes off the hot path).
pub fn touch_token(c: &Tx<'_>, id: i64, now: Ts) -> Result<()> {
    c.exec(
        "UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2 AND (last_used_at IS NULL OR last_used_at < ?3)",
        args![now, id, now.plus_secs(-60)],
    )?;
    Ok(())
}

/// Deletes one of the user's tokens.
pub fn delete_token(c: &Tx<'_>, ctx: &Ctx, user_id: i64, id: i64) -> Result<()> {
    let t = c
        .opt("SELECT * FROM api_tokens WHERE id = ?1 AND user_id = ?2", args![id, user_id], token_row)?
        .ok_or_else(|| StoreError::not_found("token"))?;
    c.exec("DELETE FROM api_tokens WHERE id = ?1", args![id])?;
    ctx.audit(c, "api_token.delete", "api_token", id, t.group_id, json!({"name": t.name}))?;
    Ok(())
}
