//! The on-call calendar and its iCalendar subscription feeds.

use actix_web::{HttpResponse, http::header, web, web::Json};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{created, deleted, team_in_body};
use crate::crypto;
use crate::domain::access::{Access, Role};
use crate::domain::ical;
use crate::domain::time::Ts;
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, Query};
use crate::store::calendar::{self, CalendarEvent, Feed, FeedInput};
use crate::store::{groups, users};

/// The longest window one request may ask for.
const MAX_DAYS: i64 = 366;
/// What a feed shows around now.
const FEED_PAST_DAYS: i64 = 30;
const FEED_FUTURE_DAYS: i64 = 180;

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct CalendarQuery {
    pub team_id: Option<i64>,
    pub rotation_id: Option<i64>,
    /// RFC 3339 or a date (UTC midnight); default: today 00:00 UTC.
    pub start: Option<String>,
    /// RFC 3339 or a date; default: `start` + 30 days. At most 366 days after `start`.
    pub end: Option<String>,
}

pub async fn events(st: State, caller: Caller, q: Query<CalendarQuery>) -> ApiResult<Json<Vec<CalendarEvent>>> {
    let q = q.0;
    let today = Ts::from_secs(st.clock.now().secs().div_euclid(86_400) * 86_400);
    let start = match &q.start {
        Some(s) => Ts::parse(s).map_err(|e| ApiError::field("start", &e))?,
        None => today,
    };
    let end = match &q.end {
        Some(s) => Ts::parse(s).map_err(|e| ApiError::field("end", &e))?,
        None => start.plus_secs(30 * 86_400),
    };
    if end <= start {
        return Err(ApiError::field("end", "must be after start"));
    }
    if end.secs_since(start) > MAX_DAYS * 86_400 {
        return Err(ApiError::field("end", &format!("must be at most {MAX_DAYS} days after start")));
    }
    let groups = caller.visible();
    let (team, rotation) = (q.team_id, q.rotation_id);
    Ok(Json(st.db.read(move |c| calendar::events(c, groups.as_deref(), team, rotation, start, end)).await?))
}

pub async fn list_feeds(st: State, caller: Caller) -> ApiResult<Json<Vec<Feed>>> {
    let id = caller.user.id;
    Ok(Json(st.db.read(move |c| calendar::of_user(c, id)).await?))
}

pub async fn create_feed(st: State, caller: Caller, body: Body<FeedInput>) -> ApiResult<HttpResponse> {
    let input = body.0;
    team_in_body(&st, &caller, input.team_id, Role::Viewer).await?;
    let raw = crypto::new_token("irc_")?;
    let (ctx, user) = (caller.ctx(&st), caller.user.id);
    let mut feed = st.db.write(move |c| calendar::create(c, &ctx, user, input, &raw)).await?;
    feed.url = feed.token.as_ref().map(|t| format!("{}/api/calendar/feeds/{t}.ics", st.base_url));
    Ok(created(&feed))
}

pub async fn delete_feed(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let feed = st.db.read(move |c| calendar::get(c, id)).await?;
    if feed.user_id != caller.user.id && !caller.access.is_admin() {
        return Err(ApiError::NotFound("feed not found".into()));
    }
    let ctx = caller.ctx(&st);
    st.db.write(move |c| calendar::delete(c, &ctx, id)).await?;
    Ok(deleted(id))
}

/// `GET /api/calendar/feeds/{token}.ics`: the token is the credential. A team feed shows the
/// team's rotations, a personal feed (`irm_` tokens) its owner's shifts in every rotation; both
/// while their owner is active and may still see them.
pub async fn ics(st: State, token: web::Path<String>) -> ApiResult<HttpResponse> {
    let raw = token.into_inner();
    let now = st.clock.now();
    let from = now.plus_secs(-FEED_PAST_DAYS * 86_400);
    let to = now.plus_secs(FEED_FUTURE_DAYS * 86_400);
    let base = st.base_url.clone();
    let found = st
        .db
        .read(move |c| {
            if raw.starts_with(PERSONAL_PREFIX) {
                let Some(feed) = calendar::personal_by_token(c, &raw)? else { return Ok(None) };
                let owner = users::get(c, feed.user_id)?;
                if !owner.active {
                    return Ok(None);
                }
                let access = Access::new(owner.is_admin, groups::active_roles(c, owner.id)?);
                let events = calendar::shifts_of(c, access.visible_groups().as_deref(), owner.id, from, to)?;
                return Ok(Some((feed.name, format!("{base}/"), events, true)));
            }
            let Some(feed) = calendar::by_token(c, &raw)? else { return Ok(None) };
            let owner = users::get(c, feed.user_id)?;
            let access = Access::new(owner.is_admin, groups::active_roles(c, owner.id)?);
            if !owner.active || access.check(feed.group_id, Role::Viewer).is_err() {
                return Ok(None);
            }
            let events = calendar::events(c, None, Some(feed.team_id), None, from, to)?;
            Ok(Some((feed.name, format!("{base}/calendar?team_id={}", feed.team_id), events, false)))
        })
        .await?;
    let Some((name, url, events, personal)) = found else {
        return Err(ApiError::NotFound("no such calendar feed (it was deleted, or its owner lost access)".into()));
    };
    let host =
        st.base_url.split("://").nth(1).unwrap_or(&st.base_url).split(['/', ':']).next().unwrap_or("incidentrelay");
    let items: Vec<ical::Event> = events
        .iter()
        .map(|e| {
            let who = if e.display_name.is_empty() { &e.username } else { &e.display_name };
            let mut description = format!("{who} ({}) is on call for {}.", e.username, e.rotation_name);
            if !e.reason.is_empty() {
                description.push_str(&format!("\nOverride: {}", e.reason));
            }
            let what = if e.override_id.is_some() { " (override)" } else { "" };
            let summary = if personal {
                format!("On call — {}{what}", e.rotation_name)
            } else {
                format!("On call: {who} — {}{what}", e.rotation_name)
            };
            ical::Event { uid: e.uid.clone(), start: e.start, end: e.end, summary, description, url: Some(url.clone()) }
        })
        .collect();
    let body = ical::render(&name, host, now, &items);
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .insert_header((header::CONTENT_DISPOSITION, "inline; filename=\"oncall.ics\""))
        .body(body))
}

/// Personal feed tokens start with this.
pub const PERSONAL_PREFIX: &str = "irm_";
