//! Channels: where notifications are delivered.

use actix_web::{HttpResponse, web, web::Json};

use super::{TeamFilter, created, deleted, fetch, team_in_body};
use crate::domain::access::Role;
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::error::ApiResult;
use crate::http::json::{Body, Query};
use crate::notify::ChannelKind;
use crate::store::channels::{self, Channel, ChannelInput};

pub async fn types(_caller: Caller) -> Json<Vec<ChannelKind>> {
    Json(ChannelKind::ALL.to_vec())
}

pub async fn list(st: State, caller: Caller, q: Query<TeamFilter>) -> ApiResult<Json<Vec<Channel>>> {
    let (groups, team) = (caller.visible(), q.0.team_id);
    Ok(Json(st.db.read(move |c| channels::list(c, groups.as_deref(), team)).await?))
}

pub async fn create(st: State, caller: Caller, body: Body<ChannelInput>) -> ApiResult<HttpResponse> {
    let input = body.0;
    team_in_body(&st, &caller, input.team_id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    let ch = st.db.write(move |c| channels::create(c, &ctx, input)).await?;
    Ok(created(&ch))
}

pub async fn get(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Channel>> {
    let id = id.into_inner();
    Ok(Json(fetch(&st, &caller, Role::Viewer, "channel", move |c| channels::get(c, id)).await?))
}

pub async fn update(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<ChannelInput>,
) -> ApiResult<Json<Channel>> {
    let id = id.into_inner();
    fetch(&st, &caller, Role::Editor, "channel", move |c| channels::get(c, id)).await?;
    let ctx = caller.ctx(&st);
    Ok(Json(st.db.write(move |c| channels::update(c, &ctx, id, body.0)).await?))
}

pub async fn delete(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    fetch(&st, &caller, Role::Editor, "channel", move |c| channels::get(c, id)).await?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| channels::delete(c, &ctx, id)).await?;
    Ok(deleted(id))
}
