//! Teams and team members.

use actix_web::{HttpResponse, web, web::Json};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{created, deleted, fetch};
use crate::domain::access::Role;
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::error::ApiResult;
use crate::http::json::{Body, Query};
use crate::store::teams::{self, Team, TeamInput, TeamMember, TeamMemberInput};

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeQuery {
    /// Changes that happened at or after this time (RFC 3339; default: 7 days ago).
    pub from: Option<String>,
    /// … and at or before this time (RFC 3339; default: now).
    pub to: Option<String>,
    /// At most this many (1–500, default 100).
    pub limit: Option<i64>,
}

/// The team's change events, newest first (viewers of its group).
pub async fn changes(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    q: Query<ChangeQuery>,
) -> ApiResult<Json<Vec<crate::store::changes::ChangeEvent>>> {
    use crate::domain::time::Ts;
    let id = id.into_inner();
    team(&st, &caller, id, Role::Viewer).await?;
    let now = st.clock.now();
    let at = |v: &Option<String>, field: &str, default: Ts| match v {
        Some(t) => Ts::parse(t).map_err(|_| crate::http::error::ApiError::field(field, "must be an RFC 3339 time")),
        None => Ok(default),
    };
    let (from, to) = (at(&q.0.from, "from", now.plus_secs(-7 * 86_400))?, at(&q.0.to, "to", now)?);
    let limit = q.0.limit.unwrap_or(100);
    Ok(Json(st.db.read(move |c| crate::store::changes::of_team(c, id, from, to, limit)).await?))
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct TeamQuery {
    /// Only teams of this group.
    pub group_id: Option<i64>,
}

pub async fn list(st: State, caller: Caller, q: Query<TeamQuery>) -> ApiResult<Json<Vec<Team>>> {
    let groups = caller.visible();
    let group_id = q.0.group_id;
    Ok(Json(st.db.read(move |c| teams::list(c, groups.as_deref(), group_id)).await?))
}

pub async fn create(st: State, caller: Caller, body: Body<TeamInput>) -> ApiResult<HttpResponse> {
    let input = body.0;
    if let Some(g) = input.group_id {
        caller.require_ref(Some(g), Role::Editor, "group_id", "group")?;
    }
    let ctx = caller.ctx(&st);
    let t = st.db.write(move |c| teams::create(c, &ctx, input)).await?;
    Ok(created(&t))
}

async fn team(st: &State, caller: &Caller, id: i64, role: Role) -> ApiResult<Team> {
    fetch(st, caller, role, "team", move |c| teams::get(c, id)).await
}

pub async fn get(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Team>> {
    Ok(Json(team(&st, &caller, id.into_inner(), Role::Viewer).await?))
}

pub async fn update(st: State, caller: Caller, id: web::Path<i64>, body: Body<TeamInput>) -> ApiResult<Json<Team>> {
    let id = id.into_inner();
    team(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    let out = st.db.write(move |c| teams::update(c, &ctx, id, body.0)).await?;
    st.routes_changed();
    Ok(Json(out))
}

pub async fn delete(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    team(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| teams::delete(c, &ctx, id)).await?;
    st.routes_changed();
    Ok(deleted(id))
}

pub async fn members(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Vec<TeamMember>>> {
    let id = id.into_inner();
    team(&st, &caller, id, Role::Viewer).await?;
    Ok(Json(st.db.read(move |c| teams::members(c, id)).await?))
}

/// What `POST /api/teams/{id}/users` answers: the membership, or all of them when several
/// people were added (`user_ids`).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum AddedMembers {
    One(TeamMember),
    Several(Vec<TeamMember>),
}

pub async fn add_member(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<TeamMemberInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    team(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    let (among, several) = (caller.visible(), body.0.user_ids.is_some());
    let mut added = st.db.write(move |c| teams::add_members(c, &ctx, id, body.0, among.as_deref())).await?;
    Ok(match (several, added.pop()) {
        (false, Some(one)) => created(&AddedMembers::One(one)),
        (_, last) => created(&AddedMembers::Several(added.into_iter().chain(last).collect())),
    })
}

async fn member(st: &State, caller: &Caller, id: i64, role: Role) -> ApiResult<TeamMember> {
    let m = st.db.read(move |c| teams::get_member(c, id)).await?;
    let team_id = m.team_id;
    fetch(st, caller, role, "team membership", move |c| teams::get(c, team_id)).await?;
    Ok(m)
}

pub async fn get_member(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<TeamMember>> {
    Ok(Json(member(&st, &caller, id.into_inner(), Role::Viewer).await?))
}

pub async fn update_member(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<TeamMemberInput>,
) -> ApiResult<Json<TeamMember>> {
    let id = id.into_inner();
    member(&st, &caller, id, Role::Editor).await?;
    Ok(Json(st.db.read(move |c| teams::update_member(c, id, body.0)).await?))
}

pub async fn remove_member(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    member(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| teams::remove_member(c, &ctx, id)).await?;
    Ok(deleted(id))
}
