//! Rotations, members, overrides and the on-call query.

use actix_web::{HttpResponse, web, web::Json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{TeamFilter, created, deleted, fetch, team_in_body};
use crate::domain::access::Role;
use crate::domain::rotation::ShiftKind;
use crate::domain::time::{Ts, zone};
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, Query};
use crate::store::rotations::{
    self, Layer, LayerInput, MemberInput, Override, OverrideInput, Rotation, RotationInput, RotationMember,
};
use crate::store::swaps::{self, SwapInput, SwapRequest};

async fn rotation(st: &State, caller: &Caller, id: i64, role: Role) -> ApiResult<Rotation> {
    let now = st.clock.now();
    fetch(st, caller, role, "rotation", move |c| rotations::get(c, id, now)).await
}

pub async fn list(st: State, caller: Caller, q: Query<TeamFilter>) -> ApiResult<Json<Vec<Rotation>>> {
    let (groups, team, now) = (caller.visible(), q.0.team_id, st.clock.now());
    Ok(Json(st.db.read(move |c| rotations::list(c, groups.as_deref(), team, now)).await?))
}

pub async fn create(st: State, caller: Caller, body: Body<RotationInput>) -> ApiResult<HttpResponse> {
    let input = body.0;
    team_in_body(&st, &caller, input.team_id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    let r = st.db.write(move |c| rotations::create(c, &ctx, input)).await?;
    Ok(created(&r))
}

pub async fn get(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Rotation>> {
    Ok(Json(rotation(&st, &caller, id.into_inner(), Role::Viewer).await?))
}

pub async fn update(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<RotationInput>,
) -> ApiResult<Json<Rotation>> {
    let id = id.into_inner();
    rotation(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    Ok(Json(st.db.write(move |c| rotations::update(c, &ctx, id, body.0)).await?))
}

pub async fn delete(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    rotation(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| rotations::delete(c, &ctx, id)).await?;
    Ok(deleted(id))
}

pub async fn members(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Vec<RotationMember>>> {
    let id = id.into_inner();
    rotation(&st, &caller, id, Role::Viewer).await?;
    Ok(Json(st.db.read(move |c| rotations::members(c, id)).await?))
}

pub async fn add_member(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<MemberInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    rotation(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    let m = st.db.write(move |c| rotations::add_member(c, &ctx, id, body.0)).await?;
    Ok(created(&m))
}

async fn member(st: &State, caller: &Caller, id: i64, role: Role) -> ApiResult<RotationMember> {
    let m = st.db.read(move |c| rotations::get_member(c, id)).await?;
    let now = st.clock.now();
    let rid = m.rotation_id;
    fetch(st, caller, role, "rotation member", move |c| rotations::get(c, rid, now)).await?;
    Ok(m)
}

pub async fn get_member(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<RotationMember>> {
    Ok(Json(member(&st, &caller, id.into_inner(), Role::Viewer).await?))
}

pub async fn update_member(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<MemberInput>,
) -> ApiResult<Json<RotationMember>> {
    let id = id.into_inner();
    member(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    Ok(Json(st.db.write(move |c| rotations::update_member(c, &ctx, id, body.0)).await?))
}

pub async fn remove_member(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    member(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| rotations::remove_member(c, &ctx, id)).await?;
    Ok(deleted(id))
}

pub async fn overrides(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Vec<Override>>> {
    let id = id.into_inner();
    rotation(&st, &caller, id, Role::Viewer).await?;
    Ok(Json(st.db.read(move |c| rotations::overrides(c, id)).await?))
}

pub async fn add_override(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<OverrideInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    rotation(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    let o = st.db.write(move |c| rotations::add_override(c, &ctx, id, body.0)).await?;
    Ok(created(&o))
}

async fn override_(st: &State, caller: &Caller, id: i64, role: Role) -> ApiResult<Override> {
    let o = st.db.read(move |c| rotations::get_override(c, id)).await?;
    let (rid, now) = (o.rotation_id, st.clock.now());
    fetch(st, caller, role, "override", move |c| rotations::get(c, rid, now)).await?;
    Ok(o)
}

pub async fn get_override(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Override>> {
    Ok(Json(override_(&st, &caller, id.into_inner(), Role::Viewer).await?))
}

pub async fn delete_override(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    override_(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| rotations::delete_override(c, &ctx, id)).await?;
    Ok(deleted(id))
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct OncallQuery {
    /// RFC 3339 instant (a naive date-time is in the rotation's zone); default now.
    pub at: Option<String>,
    /// How many shifts after the current one (default 5, at most 100).
    pub count: Option<usize>,
}

/// One shift of the on-call timeline.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ShiftOut {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub start: Ts,
    pub end: Ts,
    #[serde(rename = "type")]
    pub kind: ShiftKind,
    /// The layer (its id) a rotation shift comes from; `null` for an override.
    pub layer: Option<i64>,
    /// Whether an override decides this shift.
    #[serde(rename = "override")]
    pub is_override: bool,
}

/// Names the people of `shifts`.
fn shifts_out(
    c: &crate::store::Read<'_>,
    shifts: Vec<crate::domain::rotation::Shift>,
) -> crate::store::Result<Vec<ShiftOut>> {
    let mut names = rotations::Names::default();
    let mut out = Vec::with_capacity(shifts.len());
    for s in shifts {
        let u = names.get(c, s.user_id)?;
        out.push(ShiftOut {
            user_id: s.user_id,
            username: u.username,
            display_name: u.display_name,
            start: s.start,
            end: s.end,
            kind: s.kind,
            layer: s.layer,
            is_override: s.kind == ShiftKind::Override,
        });
    }
    Ok(out)
}

pub async fn oncall(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    q: Query<OncallQuery>,
) -> ApiResult<Json<Vec<ShiftOut>>> {
    let id = id.into_inner();
    let r = rotation(&st, &caller, id, Role::Viewer).await?;
    let q = q.0;
    let tz = zone(&r.timezone).map_err(ApiError::internal)?;
    let at = match q.at {
        Some(s) => Ts::parse_in(&s, &tz).map_err(|e| ApiError::field("at", &e))?,
        None => st.clock.now(),
    };
    let count = q.count.unwrap_or(5);
    if count > 100 {
        return Err(ApiError::field("count", "must be at most 100"));
    }
    let out = st.db.read(move |c| shifts_out(c, rotations::domain(c, &r)?.upcoming(at, count))).await?;
    Ok(Json(out))
}

// --- layers ------------------------------------------------------------------------------------

pub async fn layers(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Vec<Layer>>> {
    let id = id.into_inner();
    rotation(&st, &caller, id, Role::Viewer).await?;
    Ok(Json(st.db.read(move |c| rotations::layers(c, id)).await?))
}

pub async fn create_layer(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<LayerInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    rotation(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    let l = st.db.write(move |c| rotations::create_layer(c, &ctx, id, body.0)).await?;
    Ok(created(&l))
}

async fn layer(st: &State, caller: &Caller, id: i64, role: Role) -> ApiResult<Layer> {
    let l = st.db.read(move |c| rotations::get_layer(c, id)).await?;
    let (rid, now) = (l.rotation_id, st.clock.now());
    fetch(st, caller, role, "layer", move |c| rotations::get(c, rid, now)).await?;
    Ok(l)
}

pub async fn get_layer(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Layer>> {
    Ok(Json(layer(&st, &caller, id.into_inner(), Role::Viewer).await?))
}

pub async fn update_layer(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<LayerInput>,
) -> ApiResult<Json<Layer>> {
    let id = id.into_inner();
    layer(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    Ok(Json(st.db.write(move |c| rotations::update_layer(c, &ctx, id, body.0)).await?))
}

pub async fn delete_layer(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    layer(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| rotations::delete_layer(c, &ctx, id)).await?;
    Ok(deleted(id))
}

// --- gaps and preview --------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct GapsQuery {
    /// How many days from now to look at (default 14, 1 … 90).
    pub days: Option<i64>,
}

/// A stretch with nobody on call.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Gap {
    pub start: Ts,
    pub end: Ts,
}

fn days_of(days: Option<i64>) -> ApiResult<i64> {
    let days = days.unwrap_or(14);
    if !(1..=90).contains(&days) {
        return Err(ApiError::field("days", "must be between 1 and 90"));
    }
    Ok(days)
}

pub async fn gaps(st: State, caller: Caller, id: web::Path<i64>, q: Query<GapsQuery>) -> ApiResult<Json<Vec<Gap>>> {
    let r = rotation(&st, &caller, id.into_inner(), Role::Viewer).await?;
    let (days, now) = (days_of(q.0.days)?, st.clock.now());
    let out = st.db.read(move |c| Ok(rotations::domain(c, &r)?.gaps(now, now.plus_secs(days * 86_400)))).await?;
    Ok(Json(out.into_iter().map(|(start, end)| Gap { start, end }).collect()))
}

/// Body of `POST /api/rotations/{id}/preview`: a proposed set of layers (as `POST …/layers`
/// bodies, positions by order when left out), and the window to show.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    pub layers: Vec<LayerInput>,
    /// RFC 3339 (a naive date-time is in the rotation's zone); default now.
    pub from: Option<String>,
    /// Default 14, 1 … 90.
    pub days: Option<i64>,
}

/// The final schedule the proposed layers (with the stored overrides) would give.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Preview {
    pub shifts: Vec<ShiftOut>,
    pub gaps: Vec<Gap>,
}

pub async fn preview(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<PreviewInput>,
) -> ApiResult<Json<Preview>> {
    let r = rotation(&st, &caller, id.into_inner(), Role::Editor).await?;
    let input = body.0;
    let tz = zone(&r.timezone).map_err(ApiError::internal)?;
    let from = match &input.from {
        Some(s) => Ts::parse_in(s, &tz).map_err(|e| ApiError::field("from", &e))?,
        None => st.clock.now(),
    };
    let to = from.plus_secs(days_of(input.days)? * 86_400);
    if input.layers.is_empty() || input.layers.len() > 20 {
        return Err(ApiError::field("layers", "propose 1 to 20 layers"));
    }
    let out = st
        .db
        .read(move |c| {
            let rot = rotations::with_layers(c, &r, input.layers)?;
            let gaps = rot.gaps(from, to).into_iter().map(|(start, end)| Gap { start, end }).collect();
            Ok(Preview { shifts: shifts_out(c, rot.shifts(from, to))?, gaps })
        })
        .await?;
    Ok(Json(out))
}

// --- swap requests -----------------------------------------------------------------------------

pub async fn swap_requests(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Vec<SwapRequest>>> {
    let id = id.into_inner();
    rotation(&st, &caller, id, Role::Viewer).await?;
    let now = st.clock.now();
    Ok(Json(st.db.read(move |c| swaps::list(c, id, now)).await?))
}

pub async fn create_swap_request(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<SwapInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    rotation(&st, &caller, id, Role::Responder).await?;
    let (ctx, zone) = (caller.ctx(&st), st.config.ui.default_time_zone.clone());
    let s = st.db.write(move |c| swaps::create(c, &ctx, id, body.0, &zone)).await?;
    Ok(created(&s))
}

/// The request `request` of rotation `id`, with the caller's access to the rotation checked.
async fn swap(
    st: &State,
    caller: &Caller,
    (id, request): (i64, i64),
    role: Role,
) -> ApiResult<(Rotation, SwapRequest)> {
    let r = rotation(st, caller, id, role).await?;
    let now = st.clock.now();
    let s = st.db.read(move |c| swaps::get(c, request, now)).await?;
    if s.rotation_id != id {
        return Err(ApiError::not_found("swap request"));
    }
    Ok((r, s))
}

pub async fn accept_swap_request(
    st: State,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> ApiResult<Json<SwapRequest>> {
    let (_, s) = swap(&st, &caller, path.into_inner(), Role::Responder).await?;
    let (ctx, zone) = (caller.ctx(&st), st.config.ui.default_time_zone.clone());
    Ok(Json(st.db.write(move |c| swaps::accept(c, &ctx, s.id, &zone)).await?))
}

/// The requester withdraws their request, or an editor of the team does.
pub async fn cancel_swap_request(
    st: State,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> ApiResult<Json<SwapRequest>> {
    let (r, s) = swap(&st, &caller, path.into_inner(), Role::Viewer).await?;
    if s.requester_id != caller.user.id {
        caller.require(r.group_id, Role::Editor, "swap request")?;
    }
    let ctx = caller.ctx(&st);
    Ok(Json(st.db.write(move |c| swaps::cancel(c, &ctx, s.id)).await?))
}
