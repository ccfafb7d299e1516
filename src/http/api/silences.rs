//! Silences (responders may manage them).

use actix_web::{HttpResponse, web, web::Json};

use super::{TeamFilter, created, deleted, fetch, team_in_body};
use crate::domain::access::Role;
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::error::ApiResult;
use crate::http::json::{Body, Query};
use crate::store::silences::{self, Silence, SilenceInput};

pub async fn list(st: State, caller: Caller, q: Query<TeamFilter>) -> ApiResult<Json<Vec<Silence>>> {
    let (groups, team, now) = (caller.visible(), q.0.team_id, st.clock.now());
    Ok(Json(st.db.read(move |c| silences::list(c, groups.as_deref(), team, now)).await?))
}

pub async fn create(st: State, caller: Caller, body: Body<SilenceInput>) -> ApiResult<HttpResponse> {
    let input = body.0;
    team_in_body(&st, &caller, input.team_id, Role::Responder).await?;
    let ctx = caller.ctx(&st);
    let s = st.db.write(move |c| silences::create(c, &ctx, input)).await?;
    st.engine.silences_changed();
    Ok(created(&s))
}

pub async fn get(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Silence>> {
    let (id, now) = (id.into_inner(), st.clock.now());
    Ok(Json(fetch(&st, &caller, Role::Viewer, "silence", move |c| silences::get(c, id, now)).await?))
}

pub async fn update(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<SilenceInput>,
) -> ApiResult<Json<Silence>> {
    let (id, now) = (id.into_inner(), st.clock.now());
    fetch(&st, &caller, Role::Responder, "silence", move |c| silences::get(c, id, now)).await?;
    let ctx = caller.ctx(&st);
    let s = st.db.write(move |c| silences::update(c, &ctx, id, body.0)).await?;
    st.engine.silences_changed();
    Ok(Json(s))
}

pub async fn delete(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (id, now) = (id.into_inner(), st.clock.now());
    fetch(&st, &caller, Role::Responder, "silence", move |c| silences::get(c, id, now)).await?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| silences::delete(c, &ctx, id)).await?;
    st.engine.silences_changed();
    Ok(deleted(id))
}
