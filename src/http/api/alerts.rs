//! Alerts: list, detail, acknowledge, resolve, timeline and deliveries.

use actix_web::{HttpResponse, web, web::Json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::access::Role;
use crate::domain::alert::{AlertSort, AlertStatus, Severity, Source};
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, Query};
use crate::store::alerts::{self, Alert, Filter};
use crate::store::outbox::{self, Delivery};
use crate::store::timeline::{self, AlertEvent};
use crate::store::{actions, lifecycle};

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct AlertQuery {
    pub team_id: Option<i64>,
    /// Repeatable: `?status=firing&status=acknowledged`.
    #[serde(default)]
    pub status: Vec<String>,
    pub severity: Option<String>,
    pub source: Option<String>,
    /// Only alerts assigned to this user.
    pub assignee_id: Option<i64>,
    /// Text in the title, label values or dedup key (case-insensitive substring; at least 3
    /// characters use the search index, shorter terms match titles only).
    pub search: Option<String>,
    /// `newest` (default), `oldest`, `severity` (most severe first), `status` (firing first)
    /// or `last_seen` (most recently seen first).
    pub sort: Option<String>,
    /// 1-based (default 1).
    pub page: Option<i64>,
    /// At most 100 (default 50).
    pub page_size: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Pagination {
    pub page: i64,
    pub page_size: i64,
    pub total_items: i64,
    pub total_pages: i64,
    /// Searches count at most 1,000 matches; true when there are more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub total_capped: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AlertPage {
    pub items: Vec<Alert>,
    pub pagination: Pagination,
}

/// Checks a query and turns it into a store filter for `caller`.
pub fn filter(caller: &Caller, q: AlertQuery) -> ApiResult<Filter> {
    let mut errors = Vec::new();
    let mut statuses = Vec::new();
    for (i, s) in q.status.iter().enumerate() {
        match AlertStatus::parse(s) {
            Some(st) => statuses.push(st),
            None => errors.push(crate::domain::validate::FieldError::new(
                if q.status.len() > 1 { format!("status[{i}]") } else { "status".into() },
                "must be firing, acknowledged, resolved or silenced",
            )),
        }
    }
    let severity = match q.severity.as_deref() {
        None | Some("") => None,
        Some(s) => match Severity::parse(s) {
            Some(v) => Some(v),
            None => {
                errors.push(crate::domain::validate::FieldError::new(
                    "severity",
                    "must be critical, high, warning or info",
                ));
                None
            }
        },
    };
    if let Some(s) = q.source.as_deref().filter(|s| !s.is_empty())
        && Source::parse(s).is_none()
    {
        errors.push(crate::domain::validate::FieldError::new(
            "source",
            format!("must be one of {}", Source::ALL.map(Source::as_str).join(", ")),
        ));
    }
    let sort = match q.sort.as_deref() {
        None | Some("") => AlertSort::default(),
        Some(s) => AlertSort::parse(s).unwrap_or_else(|| {
            errors.push(crate::domain::validate::FieldError::new(
                "sort",
                format!("must be one of {}", AlertSort::names()),
            ));
            AlertSort::default()
        }),
    };
    let page_size = q.page_size.unwrap_or(50);
    if !(1..=100).contains(&page_size) {
        errors.push(crate::domain::validate::FieldError::new("page_size", "must be between 1 and 100"));
    }
    let page = q.page.unwrap_or(1);
    if page < 1 {
        errors.push(crate::domain::validate::FieldError::new("page", "must be at least 1"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(Filter {
        groups: caller.visible(),
        team_id: q.team_id,
        statuses,
        severity,
        source: q.source.filter(|s| !s.is_empty()),
        assignee_id: q.assignee_id,
        search: q.search,
        sort,
        page,
        page_size,
    })
}

pub async fn list(st: State, caller: Caller, q: Query<AlertQuery>) -> ApiResult<Json<AlertPage>> {
    let f = filter(&caller, q.0)?;
    let (page, page_size) = (f.page, f.page_size);
    let p = st.db.read(move |c| alerts::list(c, &f)).await?;
    let total_pages = (p.total + page_size - 1) / page_size;
    Ok(Json(AlertPage {
        items: p.items,
        pagination: Pagination { page, page_size, total_items: p.total, total_pages, total_capped: p.capped },
    }))
}

async fn load(st: &State, caller: &Caller, id: i64, role: Role) -> ApiResult<Alert> {
    let a = st.db.read(move |c| alerts::get(c, id)).await?;
    caller.require(a.group_id, role, "alert")?;
    Ok(a)
}

pub async fn get(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Alert>> {
    Ok(Json(load(&st, &caller, id.into_inner(), Role::Viewer).await?))
}

pub async fn ack(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Alert>> {
    let id = id.into_inner();
    load(&st, &caller, id, Role::Responder).await?;
    let (now, actor) = (st.clock.now(), caller.actor());
    let a = st.db.write(move |c| lifecycle::acknowledge(c, now, id, &actor)).await?;
    st.engine.wake();
    Ok(Json(a))
}

pub async fn resolve(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Alert>> {
    let id = id.into_inner();
    load(&st, &caller, id, Role::Responder).await?;
    let (now, actor) = (st.clock.now(), caller.actor());
    let a = st.db.write(move |c| lifecycle::resolve(c, now, id, &actor)).await?;
    st.engine.wake();
    Ok(Json(a))
}

pub async fn events(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Vec<AlertEvent>>> {
    let id = id.into_inner();
    load(&st, &caller, id, Role::Viewer).await?;
    Ok(Json(st.db.read(move |c| timeline::events(c, id)).await?))
}

pub async fn deliveries(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Vec<Delivery>>> {
    let id = id.into_inner();
    load(&st, &caller, id, Role::Viewer).await?;
    Ok(Json(st.db.read(move |c| outbox::for_alert(c, id)).await?))
}

// --- actions beyond acknowledge and resolve ------------------------------------------------------

/// Body of `POST /api/alerts/{id}/reassign`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReassignInput {
    /// The new assignee: an active member of the alert's group.
    pub user_id: Option<i64>,
}

/// Body of `POST /api/alerts/{id}/snooze`: `minutes` (1 … 10080) or `until` (RFC 3339).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SnoozeInput {
    pub minutes: Option<i64>,
    pub until: Option<String>,
}

/// Body of `POST /api/alerts/{id}/notes`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoteInput {
    /// Plain text, at most 4,000 characters.
    pub text: Option<String>,
}

/// Runs an action on an alert the caller may respond to, and wakes the engine for the pages it
/// queued.
async fn act<T: Send + 'static>(
    st: &State,
    caller: &Caller,
    id: i64,
    f: impl FnOnce(&crate::store::Tx<'_>, &crate::store::audit::Ctx) -> crate::store::Result<T> + Send + 'static,
) -> ApiResult<T> {
    load(st, caller, id, Role::Responder).await?;
    let ctx = caller.ctx(st);
    let out = st.db.write(move |c| f(c, &ctx)).await?;
    st.engine.wake();
    Ok(out)
}

pub async fn reassign(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<ReassignInput>,
) -> ApiResult<Json<Alert>> {
    let (id, user_id) = (id.into_inner(), body.0.user_id.ok_or_else(|| ApiError::field("user_id", "is required"))?);
    Ok(Json(act(&st, &caller, id, move |c, ctx| actions::reassign(c, ctx, id, user_id)).await?))
}

pub async fn escalate(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Alert>> {
    let id = id.into_inner();
    Ok(Json(act(&st, &caller, id, move |c, ctx| actions::escalate(c, ctx, id)).await?))
}

pub async fn snooze(st: State, caller: Caller, id: web::Path<i64>, body: Body<SnoozeInput>) -> ApiResult<Json<Alert>> {
    let id = id.into_inner();
    let now = st.clock.now();
    let until = match (body.0.minutes, body.0.until.as_deref()) {
        (Some(m), None) if (1..=actions::MAX_SNOOZE_SECS / 60).contains(&m) => now.plus_secs(m * 60),
        (Some(_), None) => return Err(ApiError::field("minutes", "must be between 1 and 10080 (a week)")),
        (None, Some(t)) => crate::domain::time::Ts::parse(t).map_err(|e| ApiError::field("until", &e))?,
        (Some(_), Some(_)) => return Err(ApiError::field("until", "give minutes or until, not both")),
        (None, None) => return Err(ApiError::field("minutes", "give minutes or until")),
    };
    Ok(Json(act(&st, &caller, id, move |c, ctx| actions::snooze(c, ctx, id, until)).await?))
}

pub async fn unack(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Alert>> {
    let id = id.into_inner();
    Ok(Json(act(&st, &caller, id, move |c, ctx| actions::unacknowledge(c, ctx, id)).await?))
}

pub async fn notes(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Vec<AlertEvent>>> {
    let id = id.into_inner();
    load(&st, &caller, id, Role::Viewer).await?;
    Ok(Json(st.db.read(move |c| actions::notes(c, id)).await?))
}

pub async fn add_note(st: State, caller: Caller, id: web::Path<i64>, body: Body<NoteInput>) -> ApiResult<HttpResponse> {
    let (id, text) = (id.into_inner(), body.0.text.unwrap_or_default());
    let note = act(&st, &caller, id, move |c, ctx| actions::add_note(c, ctx, id, &text)).await?;
    Ok(crate::http::api::created(&note))
}
