//! Groups and group memberships. Creating and deleting groups is for admins; a group's editors
//! manage its settings and members.

use actix_web::{HttpResponse, web, web::Json};

use super::{created, deleted, fetch};
use crate::domain::access::Role;
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::error::ApiResult;
use crate::http::json::Body;
use crate::store::groups::{self, Group, GroupInput, Membership, MembershipInput};

pub async fn list(st: State, caller: Caller) -> ApiResult<Json<Vec<Group>>> {
    let only = caller.visible();
    Ok(Json(st.db.read(move |c| groups::list(c, only.as_deref())).await?))
}

pub async fn create(st: State, caller: Caller, body: Body<GroupInput>) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let ctx = caller.ctx(&st);
    let g = st.db.write(move |c| groups::create(c, &ctx, body.0)).await?;
    Ok(created(&g))
}

pub async fn get(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Group>> {
    let id = id.into_inner();
    caller.require(id, Role::Viewer, "group")?;
    Ok(Json(st.db.read(move |c| groups::get(c, id)).await?))
}

pub async fn update(st: State, caller: Caller, id: web::Path<i64>, body: Body<GroupInput>) -> ApiResult<Json<Group>> {
    let id = id.into_inner();
    caller.require(id, Role::Editor, "group")?;
    let ctx = caller.ctx(&st);
    let out = st.db.write(move |c| groups::update(c, &ctx, id, body.0)).await?;
    st.routes_changed();
    Ok(Json(out))
}

pub async fn delete(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    caller.require(id, Role::Viewer, "group")?;
    caller.require_admin()?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| groups::delete(c, &ctx, id)).await?;
    st.routes_changed();
    Ok(deleted(id))
}

pub async fn members(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Vec<Membership>>> {
    let id = id.into_inner();
    caller.require(id, Role::Viewer, "group")?;
    Ok(Json(st.db.read(move |c| groups::memberships_of_group(c, id)).await?))
}

pub async fn add_member(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<MembershipInput>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    caller.require(id, Role::Editor, "group")?;
    let ctx = caller.ctx(&st);
    let among = caller.visible();
    let m = st.db.write(move |c| groups::add_member(c, &ctx, id, body.0, among.as_deref())).await?;
    Ok(created(&m))
}

async fn membership(st: &State, caller: &Caller, id: i64, role: Role) -> ApiResult<Membership> {
    fetch(st, caller, role, "membership", move |c| groups::get_membership(c, id)).await
}

pub async fn get_member(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Membership>> {
    Ok(Json(membership(&st, &caller, id.into_inner(), Role::Viewer).await?))
}

pub async fn update_member(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<MembershipInput>,
) -> ApiResult<Json<Membership>> {
    let id = id.into_inner();
    membership(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    Ok(Json(st.db.write(move |c| groups::update_member(c, &ctx, id, body.0)).await?))
}

pub async fn remove_member(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    membership(&st, &caller, id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| groups::remove_member(c, &ctx, id)).await?;
    Ok(deleted(id))
}
