//! The caller's own profile, password and personal API tokens.

use actix_web::{HttpResponse, web, web::Json};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{created, deleted, hash_password};
use crate::crypto;
use crate::domain::validate::{self, Problems, nullable};
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, Query};
use crate::store::calendar::{self, CalendarEvent, PersonalFeed, PersonalFeedInput};
use crate::store::tokens::{self, ApiToken, TokenInput};
use crate::store::users::{self, User, UserInput};

/// Body of `PUT /api/profile`; `null` clears a field.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ProfileInput {
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub telegram_user_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub slack_user_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub mattermost_user_id: Option<Option<String>>,
    /// The time zone (IANA name) the web UI shows your times in; `null`: the installation's
    /// default (`ui.default_time_zone`).
    #[serde(default, deserialize_with = "nullable")]
    pub time_zone: Option<Option<String>>,
    /// Minutes before each of your shifts you hear of it (0 … 1440; 0 = never).
    pub shift_notify_before_minutes: Option<i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ChangePassword {
    pub old_password: String,
    pub new_password: String,
}

pub async fn get(st: State, caller: Caller) -> ApiResult<Json<User>> {
    let id = caller.user.id;
    Ok(Json(st.db.read(move |c| users::get(c, id)).await?))
}

pub async fn update(st: State, caller: Caller, body: Body<ProfileInput>) -> ApiResult<Json<User>> {
    let p = body.0;
    let input = UserInput {
        display_name: p.display_name,
        email: p.email,
        phone: p.phone,
        telegram_user_id: p.telegram_user_id,
        slack_user_id: p.slack_user_id,
        mattermost_user_id: p.mattermost_user_id,
        time_zone: p.time_zone,
        shift_notify_before_minutes: p.shift_notify_before_minutes,
        ..UserInput::default()
    };
    let (ctx, id) = (caller.ctx(&st), caller.user.id);
    Ok(Json(st.db.write(move |c| users::update(c, &ctx, id, input, None)).await?))
}

/// Checks the old password, sets the new one and ends the caller's other sessions.
pub async fn change_password(st: State, caller: Caller, body: Body<ChangePassword>) -> ApiResult<HttpResponse> {
    let body = body.0;
    let mut p = Problems::new();
    validate::password(&mut p, "new_password", &body.new_password);
    p.finish()?;
    let (id, db, old) = (caller.user.id, st.db.clone(), body.old_password);
    let ok = tokio::task::spawn_blocking(move || {
        db.read_blocking(|c| users::password_hash(c, id)).map(|h| crypto::verify_password(&old, &h))
    })
    .await
    .map_err(|e| ApiError::internal(format!("verify task: {e}")))??;
    if !ok {
        return Err(ApiError::field("old_password", "is not your current password"));
    }
    let hash = hash_password(body.new_password).await?;
    let (ctx, keep) = (caller.ctx(&st), caller.session_id());
    st.db.write(move |c| users::set_password(c, &ctx, id, &hash, false, keep)).await?;
    Ok(crate::http::ok_status("password_changed"))
}

pub async fn list_tokens(st: State, caller: Caller) -> ApiResult<Json<Vec<ApiToken>>> {
    let id = caller.user.id;
    Ok(Json(st.db.read(move |c| tokens::tokens_of_user(c, id)).await?))
}

pub async fn create_token(st: State, caller: Caller, body: Body<TokenInput>) -> ApiResult<HttpResponse> {
    let now = st.clock.now();
    let member_of: Vec<i64> = caller.visible().unwrap_or_default();
    let limits = caller.token_limits();
    let spec = tokens::check_input(body.0, now, caller.access.is_admin(), &member_of, limits.as_ref())?;
    let raw = crypto::new_token("irp_")?;
    let (ctx, id) = (caller.ctx(&st), caller.user.id);
    let token = st.db.write(move |c| tokens::create_token(c, &ctx, id, spec, &raw)).await?;
    Ok(created(&token))
}

pub async fn delete_token(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (ctx, user, id) = (caller.ctx(&st), caller.user.id, id.into_inner());
    st.db.write(move |c| tokens::delete_token(c, &ctx, user, id)).await?;
    Ok(deleted(id))
}

/// `GET /api/profile/shifts`: how far ahead.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ShiftsQuery {
    /// 1 … 90 days from now (default 14).
    pub days: Option<i64>,
}

/// Your shifts from now on across every rotation you are in, overrides included; a shift
/// running now keeps its real start.
pub async fn shifts(st: State, caller: Caller, q: Query<ShiftsQuery>) -> ApiResult<Json<Vec<CalendarEvent>>> {
    let days = q.0.days.unwrap_or(14);
    if !(1..=90).contains(&days) {
        return Err(ApiError::field("days", "must be between 1 and 90"));
    }
    let (now, me, groups) = (st.clock.now(), caller.user.id, caller.visible());
    Ok(Json(
        st.db.read(move |c| calendar::shifts_of(c, groups.as_deref(), me, now, now.plus_secs(days * 86_400))).await?,
    ))
}

pub async fn list_feeds(st: State, caller: Caller) -> ApiResult<Json<Vec<PersonalFeed>>> {
    let me = caller.user.id;
    Ok(Json(st.db.read(move |c| calendar::personal_of_user(c, me)).await?))
}

/// A personal iCalendar feed over all your rotations; its URL (with the token) is shown once.
pub async fn create_feed(st: State, caller: Caller, body: Body<PersonalFeedInput>) -> ApiResult<HttpResponse> {
    let raw = crypto::new_token(crate::http::api::calendar::PERSONAL_PREFIX)?;
    let (ctx, me, input) = (caller.ctx(&st), caller.user.id, body.0);
    let mut feed = st.db.write(move |c| calendar::create_personal(c, &ctx, me, input, &raw)).await?;
    feed.url = feed.token.as_ref().map(|t| format!("{}/api/calendar/feeds/{t}.ics", st.base_url));
    Ok(created(&feed))
}

pub async fn delete_feed(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (id, me, ctx) = (id.into_inner(), caller.user.id, caller.ctx(&st));
    st.db.write(move |c| calendar::delete_personal(c, &ctx, me, id)).await?;
    Ok(deleted(id))
}
