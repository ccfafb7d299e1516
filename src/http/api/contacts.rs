//! `/api/profile/contact-methods`, `/api/profile/notification-rules` and the admin's
//! `/api/admin/users/{id}/contact-methods`: how each person is reached when paged.

use actix_web::{HttpResponse, web, web::Json};
use schemars::JsonSchema;
use serde::Serialize;

use super::{created, deleted};
use crate::domain::message::{EventKind, Links, Message, TeamInfo};
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Body;
use crate::store::contacts::{self, ContactMethod, ContactMethodInput, NotificationRule, RuleInput};

/// What a contact method's test message did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MethodTest {
    /// `sent`: the method is verified.
    pub status: String,
    /// What the provider answered.
    pub detail: String,
    pub contact_method: ContactMethod,
}

pub async fn list(st: State, caller: Caller) -> ApiResult<Json<Vec<ContactMethod>>> {
    let me = caller.user.id;
    Ok(Json(st.db.read(move |c| contacts::of_user(c, me)).await?))
}

pub async fn create(st: State, caller: Caller, body: Body<ContactMethodInput>) -> ApiResult<HttpResponse> {
    let (ctx, me) = (caller.ctx(&st), caller.user.id);
    Ok(created(&st.db.write(move |c| contacts::create(c, &ctx, me, body.0)).await?))
}

pub async fn update(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<ContactMethodInput>,
) -> ApiResult<Json<ContactMethod>> {
    let (ctx, me, id) = (caller.ctx(&st), caller.user.id, id.into_inner());
    Ok(Json(st.db.write(move |c| contacts::update(c, &ctx, me, id, body.0)).await?))
}

pub async fn delete(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (ctx, me, id) = (caller.ctx(&st), caller.user.id, id.into_inner());
    st.db.write(move |c| contacts::delete(c, &ctx, me, id)).await?;
    Ok(deleted(id))
}

/// Sends a test message to one of the caller's methods now; a success verifies it, so that
/// rules may use it. The provider's answer is shown either way.
pub async fn test(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<MethodTest>> {
    let (me, id) = (caller.user.id, id.into_inner());
    let method = st.db.read(move |c| contacts::get_of(c, me, id)).await?;
    let contact = st.db.read(move |c| crate::store::outbox::contact(c, me)).await?;
    let now = st.clock.now();
    let msg = Message {
        kind: EventKind::Test,
        delivery_id: 0,
        message_id: crate::store::outbox::new_message_id(),
        thread_root: None,
        note: None,
        alert: None,
        team: TeamInfo { id: 0, slug: String::new(), name: "IncidentRelay".into() },
        assignee: contact,
        links: Links { alert: format!("{}/profile", st.base_url), acknowledge: None, resolve: None },
        channel_name: if method.label.is_empty() {
            method.method_type.label().0.to_string()
        } else {
            method.label.clone()
        },
        timestamp: now,
    };
    let (senders, config, m) = (st.senders.clone(), st.config.clone(), method.clone());
    let outcome =
        tokio::task::spawn_blocking(move || crate::notify::personal::send(&m, &config, &senders.env(-m.id), &msg))
            .await
            .map_err(|e| ApiError::internal(format!("test send: {e}")))?;
    match outcome {
        Ok(sent) => {
            let contact_method = st
                .db
                .write(move |c| {
                    contacts::mark_verified(c, id, now)?;
                    contacts::get(c, id)
                })
                .await?;
            Ok(Json(MethodTest { status: "sent".into(), detail: sent.detail, contact_method }))
        }
        Err(e) => {
            Err(ApiError::BadGateway(format!("the {} method failed: {}", method.method_type.as_str(), e.message())))
        }
    }
}

pub async fn rules(st: State, caller: Caller) -> ApiResult<Json<Vec<NotificationRule>>> {
    let me = caller.user.id;
    Ok(Json(st.db.read(move |c| contacts::rules_of(c, me)).await?))
}

pub async fn create_rule(st: State, caller: Caller, body: Body<RuleInput>) -> ApiResult<HttpResponse> {
    let (ctx, me) = (caller.ctx(&st), caller.user.id);
    Ok(created(&st.db.write(move |c| contacts::create_rule(c, &ctx, me, body.0)).await?))
}

pub async fn update_rule(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<RuleInput>,
) -> ApiResult<Json<NotificationRule>> {
    let (ctx, me, id) = (caller.ctx(&st), caller.user.id, id.into_inner());
    Ok(Json(st.db.write(move |c| contacts::update_rule(c, &ctx, me, id, body.0)).await?))
}

pub async fn delete_rule(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (ctx, me, id) = (caller.ctx(&st), caller.user.id, id.into_inner());
    st.db.write(move |c| contacts::delete_rule(c, &ctx, me, id)).await?;
    Ok(deleted(id))
}

/// An administrator's view of someone's methods.
pub async fn admin_list(st: State, caller: Caller, user: web::Path<i64>) -> ApiResult<Json<Vec<ContactMethod>>> {
    caller.require_admin()?;
    let user = user.into_inner();
    st.db.read(move |c| crate::store::users::get(c, user)).await?;
    Ok(Json(st.db.read(move |c| contacts::of_user(c, user)).await?))
}

/// An administrator adds a method for someone (they verify it with a test from their profile,
/// or the administrator does by sending one here).
pub async fn admin_create(
    st: State,
    caller: Caller,
    user: web::Path<i64>,
    body: Body<ContactMethodInput>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let (ctx, user) = (caller.ctx(&st), user.into_inner());
    st.db.read(move |c| crate::store::users::get(c, user)).await?;
    Ok(created(&st.db.write(move |c| contacts::create(c, &ctx, user, body.0)).await?))
}
