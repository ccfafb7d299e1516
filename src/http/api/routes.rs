//! Routes and their intake tokens.

use actix_web::{HttpResponse, web, web::Json};

use super::{TeamFilter, created, deleted, fetch, team_in_body};
use crate::domain::access::Role;
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::error::ApiResult;
use crate::http::json::{Body, Query};
use crate::store::routes::{self, Route, RouteInput};

pub async fn list(st: State, caller: Caller, q: Query<TeamFilter>) -> ApiResult<Json<Vec<Route>>> {
    let (groups, team) = (caller.visible(), q.0.team_id);
    Ok(Json(
        st.db
            .read(move |c| routes::list(c, groups.as_deref(), team))
            .await?,
    ))
}

pub async fn create(st: State, caller: Caller, body: Body<RouteInput>) -> ApiResult<HttpResponse> {
    let input = body.0;
    team_in_body(&st, &caller, input.team_id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    let r = st.db.write(move |c| routes::create(c, &ctx, input)).await?;
    Ok(created(&r))
}

pub async fn get(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Route>> {
    let id = id.into_inner();
    Ok(Json(
        fetch(&st, &caller, Role::Viewer, "route", move |c| {
            routes::get(c, id)
        })
        .await?,
    ))
}

pub async fn update(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<RouteInput>,
) -> ApiResult<Json<Route>> {
    let id = id.into_inner();
    fetch(&st, &caller, Role::Editor, "route", move |c| {
        routes::get(c, id)
    })
    .await?;
    let ctx = caller.ctx(&st);
    Ok(Json(
        st.db
            .write(move |c| routes::update(c, &ctx, id, body.0))
            .await?,
    ))
}

pub async fn delete(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    fetch(&st, &caller, Role::Editor, "route", move |c| {
        routes::get(c, id)
    })
    .await?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| routes::delete(c, &ctx, id)).await?;
    Ok(deleted(id))
}

pub async fn regenerate_token(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
) -> ApiResult<Json<Route>> {
    let id = id.into_inner();
    fetch(&st, &caller, Role::Editor, "route", move |c| {
        routes::get(c, id)
    })
    .await?;
    let ctx = caller.ctx(&st);
    Ok(Json(
        st.db
            .write(move |c| routes::regenerate_token(c, &ctx, id))
            .await?,
    ))
}
