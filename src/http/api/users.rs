//! Users: the visible list for everyone, management for admins, and the audit log.

use actix_web::{HttpResponse, web, web::Json};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{created, deleted, hash_password};
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, Query};
use crate::store::audit::{self, AuditFilter, AuditLog};
use crate::store::users::{self, User, UserInput};

pub async fn list(st: State, caller: Caller) -> ApiResult<Json<Vec<User>>> {
    let groups = caller.visible();
    Ok(Json(st.db.read(move |c| users::list(c, groups.as_deref())).await?))
}

pub async fn admin_list(st: State, caller: Caller) -> ApiResult<Json<Vec<User>>> {
    caller.require_admin()?;
    Ok(Json(st.db.read(move |c| users::list(c, None)).await?))
}

pub async fn create(st: State, caller: Caller, body: Body<UserInput>) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let input = body.0;
    users::precheck(&input)?;
    let password = input.password.clone().ok_or_else(|| ApiError::field("password", "is required"))?;
    let hash = hash_password(password).await?;
    let ctx = caller.ctx(&st);
    let user = st.db.write(move |c| users::create(c, &ctx, input, &hash, false)).await?;
    Ok(created(&user))
}

pub async fn get(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<User>> {
    caller.require_admin()?;
    let id = id.into_inner();
    Ok(Json(st.db.read(move |c| users::get(c, id)).await?))
}

pub async fn update(st: State, caller: Caller, id: web::Path<i64>, body: Body<UserInput>) -> ApiResult<Json<User>> {
    caller.require_admin()?;
    let (id, input) = (id.into_inner(), body.0);
    users::precheck(&input)?;
    let hash = match input.password.clone() {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    let ctx = caller.ctx(&st);
    Ok(Json(st.db.write(move |c| users::update(c, &ctx, id, input, hash.as_deref())).await?))
}

pub async fn delete(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let id = id.into_inner();
    if id == caller.user.id {
        return Err(ApiError::Conflict { message: "you cannot delete your own account".into(), details: vec![] });
    }
    let ctx = caller.ctx(&st);
    st.db.write(move |c| users::delete(c, &ctx, id)).await?;
    Ok(deleted(id))
}

/// Filters of `GET /api/admin/audit-logs`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct AuditQuery {
    /// e.g. `team`, `route`, `alert`.
    pub object_type: Option<String>,
    pub object_id: Option<i64>,
    /// Username of the actor.
    pub actor: Option<String>,
    /// Page backwards: entries with a smaller id.
    pub before_id: Option<i64>,
    /// At most this many entries (default 100, max 1000).
    pub limit: Option<i64>,
}

pub async fn audit_logs(st: State, caller: Caller, q: Query<AuditQuery>) -> ApiResult<Json<Vec<AuditLog>>> {
    caller.require_admin()?;
    let q = q.0;
    let f = AuditFilter {
        object_type: q.object_type,
        object_id: q.object_id,
        actor: q.actor,
        before_id: q.before_id,
        limit: q.limit.unwrap_or(100),
    };
    Ok(Json(st.db.read(move |c| audit::list(c, &f)).await?))
}
