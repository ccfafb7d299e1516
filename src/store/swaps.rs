//! Swap requests: the person on call asks for cover over a stretch of their shifts; the
//! rotation's other members hear of it (through their shift-notice methods) and one of them
//! accepts, which creates an override for them. Requests can be cancelled, and they expire
//! when their start passes (shown as `expired`; accepting one is refused).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Ctx;
use super::rotations::{self, OverrideInput};
use super::sql::Row;
use super::{Read, Result, StoreError, Tx};
use crate::args;
use crate::domain::time::{Ts, zone};
use crate::domain::validate::Problems;

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SwapRequest {
    pub id: i64,
    pub rotation_id: i64,
    pub requester_id: i64,
    pub requester: String,
    pub starts_at: Ts,
    pub ends_at: Ts,
    pub reason: String,
    /// `open`, `accepted`, `cancelled`, or `expired` (open, and its start has passed).
    pub status: String,
    pub accepted_by: Option<i64>,
    /// The override an acceptance created.
    pub override_id: Option<i64>,
    pub created_at: Ts,
}

/// Body of `POST /api/rotations/{id}/swap-requests`. Naive date-times are in the rotation's zone.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwapInput {
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub reason: Option<String>,
}

const SELECT: &str = "SELECT s.*, u.username FROM swap_requests s JOIN users u ON u.id = s.requester_id";

fn row(r: &Row<'_>, now: Ts) -> Result<SwapRequest> {
    let status: String = r.get("status")?;
    let starts_at: Ts = r.get("starts_at")?;
    Ok(SwapRequest {
        id: r.get("id")?,
        rotation_id: r.get("rotation_id")?,
        requester_id: r.get("requester_id")?,
        requester: r.get("username")?,
        starts_at,
        ends_at: r.get("ends_at")?,
        reason: r.get("reason")?,
        status: if status == "open" && starts_at <= now { "expired".into() } else { status },
        accepted_by: r.get("accepted_by")?,
        override_id: r.get("override_id")?,
        created_at: r.get("created_at")?,
    })
}

pub fn get(c: &Read<'_>, id: i64, now: Ts) -> Result<SwapRequest> {
    c.opt(&format!("{SELECT} WHERE s.id = ?1"), args![id], |r| row(r, now))?
        .ok_or_else(|| StoreError::not_found("swap request"))
}

/// A rotation's requests, the coming ones first.
pub fn list(c: &Read<'_>, rotation_id: i64, now: Ts) -> Result<Vec<SwapRequest>> {
    c.rows(&format!("{SELECT} WHERE s.rotation_id = ?1 ORDER BY s.starts_at DESC, s.id"), args![rotation_id], |r| {
        row(r, now)
    })
}

/// Everyone with a place in the rotation (any layer), once each.
fn members(c: &Read<'_>, rotation_id: i64) -> Result<Vec<i64>> {
    c.rows(
        "SELECT DISTINCT user_id FROM rotation_members WHERE rotation_id = ?1 ORDER BY user_id",
        args![rotation_id],
        |r| r.get(0),
    )
}

/// Tells `user_id` about a request, in their zone (`default_zone` when they chose none).
fn tell(
    c: &Tx<'_>,
    now: Ts,
    user_id: i64,
    default_zone: &str,
    say: impl Fn(&dyn Fn(Ts) -> String) -> String,
) -> Result<usize> {
    let user = super::users::get(c, user_id)?;
    let tz =
        jiff::tz::TimeZone::get(user.time_zone.as_deref().unwrap_or(default_zone)).unwrap_or(jiff::tz::TimeZone::UTC);
    let at = |t: Ts| t.timestamp().to_zoned(tz.clone()).strftime("%a %b %-d %H:%M %Z").to_string();
    super::contacts::queue_notice(c, now, &user, &say(&at))
}

/// The caller, on call for all of `[starts, ends)`, asks for cover; the other members hear of it.
pub fn create(c: &Tx<'_>, ctx: &Ctx, rotation_id: i64, input: SwapInput, default_zone: &str) -> Result<SwapRequest> {
    let r = rotations::get_plain(c, rotation_id)?;
    let tz = zone(&r.timezone).map_err(StoreError::Db)?;
    let requester =
        ctx.actor.user_id.ok_or_else(|| StoreError::invalid("starts_at", "only a person can ask for cover"))?;
    let mut p = Problems::new();
    let (starts_at, ends_at) = (p.instant("starts_at", input.starts_at, &tz), p.instant("ends_at", input.ends_at, &tz));
    let reason = input.reason.unwrap_or_default();
    p.max_len("reason", &reason, 1000);
    if let (Some(s), Some(e)) = (starts_at, ends_at) {
        p.check(s > ctx.now, "starts_at", "must be in the future");
        p.check(e > s, "ends_at", "must be after starts_at");
        p.check(e.secs_since(s) <= 31 * 86_400, "ends_at", "a swap may cover at most 31 days");
    }
    p.finish()?;
    let (Some(starts_at), Some(ends_at)) = (starts_at, ends_at) else {
        return Err(StoreError::invalid("starts_at", "is required"));
    };
    let rot = rotations::domain(c, &r)?;
    let mine = rot.gaps(starts_at, ends_at).is_empty()
        && rot.shifts(starts_at, ends_at).iter().all(|s| s.user_id == requester);
    if !mine {
        return Err(StoreError::invalid(
            "starts_at",
            "you are not on call for all of that time; ask for cover of your own shifts",
        ));
    }
    let id = c.insert(
        "INSERT INTO swap_requests (rotation_id, requester_id, starts_at, ends_at, reason, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?6) RETURNING id",
        args![rotation_id, requester, starts_at, ends_at, reason, ctx.now],
    )?;
    ctx.audit(c, "swap_request.create", "swap_request", id, Some(r.group_id), json!({"rotation_id": rotation_id}))?;
    let who = super::users::get(c, requester)?.username;
    let why = if reason.is_empty() { String::new() } else { format!(" ({reason})") };
    for u in members(c, rotation_id)?.into_iter().filter(|u| *u != requester) {
        tell(c, ctx.now, u, default_zone, |at| {
            format!(
                "{who} asks for cover on {}: {} → {}{why}. Accept it on the rotation's page.",
                r.name,
                at(starts_at),
                at(ends_at)
            )
        })?;
    }
    get(c, id, ctx.now)
}

/// Another member takes the stretch over: an override for them.
pub fn accept(c: &Tx<'_>, ctx: &Ctx, id: i64, default_zone: &str) -> Result<SwapRequest> {
    let s = get(c, id, ctx.now)?;
    let user = ctx.actor.user_id.ok_or_else(|| StoreError::conflict("id", "only a person can accept"))?;
    match s.status.as_str() {
        "open" => {}
        "expired" => return Err(StoreError::conflict("id", "this request expired: its start has passed")),
        other => return Err(StoreError::conflict("id", format!("this request is {other}"))),
    }
    if user == s.requester_id {
        return Err(StoreError::conflict("id", "you cannot accept your own request"));
    }
    let why = if s.reason.is_empty() { String::new() } else { format!(": {}", s.reason) };
    let o = rotations::add_override(
        c,
        ctx,
        s.rotation_id,
        OverrideInput {
            user_id: Some(user),
            starts_at: Some(s.starts_at.rfc3339()),
            ends_at: Some(s.ends_at.rfc3339()),
            reason: Some(format!("covering {}{why}", s.requester)),
        },
    )?;
    c.exec(
        "UPDATE swap_requests SET status = 'accepted', accepted_by = ?1, override_id = ?2, updated_at = ?3 WHERE id = ?4",
        args![user, o.id, ctx.now, id],
    )?;
    let r = rotations::get_plain(c, s.rotation_id)?;
    ctx.audit(c, "swap_request.accept", "swap_request", id, Some(r.group_id), json!({"override_id": o.id}))?;
    tell(c, ctx.now, s.requester_id, default_zone, |at| {
        format!("{} covers you on {}: {} → {}.", o.username, r.name, at(s.starts_at), at(s.ends_at))
    })?;
    get(c, id, ctx.now)
}

/// Withdraws an open request.
pub fn cancel(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<SwapRequest> {
    let s = get(c, id, ctx.now)?;
    if s.status != "open" && s.status != "expired" {
        return Err(StoreError::conflict("id", format!("this request is {}", s.status)));
    }
    c.exec("UPDATE swap_requests SET status = 'cancelled', updated_at = ?1 WHERE id = ?2", args![ctx.now, id])?;
    let r = rotations::get_plain(c, s.rotation_id)?;
    ctx.audit(c, "swap_request.cancel", "swap_request", id, Some(r.group_id), json!({}))?;
    get(c, id, ctx.now)
}
