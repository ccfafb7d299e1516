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
    Ok(Json(st.db.read(move |c| routes::list(c, groups.as_deref(), team)).await?))
}

pub async fn create(st: State, caller: Caller, body: Body<RouteInput>) -> ApiResult<HttpResponse> {
    let input = body.0;
    team_in_body(&st, &caller, input.team_id, Role::Editor).await?;
    let ctx = caller.ctx(&st);
    let r = st.db.write(move |c| routes::create(c, &ctx, input)).await?;
    st.routes_changed();
    Ok(created(&r))
}

pub async fn get(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Route>> {
    let id = id.into_inner();
    Ok(Json(fetch(&st, &caller, Role::Viewer, "route", move |c| routes::get(c, id)).await?))
}

pub async fn update(st: State, caller: Caller, id: web::Path<i64>, body: Body<RouteInput>) -> ApiResult<Json<Route>> {
    let id = id.into_inner();
    fetch(&st, &caller, Role::Editor, "route", move |c| routes::get(c, id)).await?;
    let ctx = caller.ctx(&st);
    let out = st.db.write(move |c| routes::update(c, &ctx, id, body.0)).await?;
    st.routes_changed();
    Ok(Json(out))
}

pub async fn delete(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    fetch(&st, &caller, Role::Editor, "route", move |c| routes::get(c, id)).await?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| routes::delete(c, &ctx, id)).await?;
    st.routes_changed();
    Ok(deleted(id))
}

/// Body of `POST /api/routes/{id}/intake-token` (optional).
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateInput {
    /// How long the current token keeps working beside the new one, for senders to switch
    /// over: 0 (default: it stops at once) up to 86400 (24 h).
    #[serde(default)]
    pub grace_seconds: i64,
}

pub async fn regenerate_token(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: crate::http::json::BodyOrDefault<RegenerateInput>,
) -> ApiResult<Json<Route>> {
    let id = id.into_inner();
    fetch(&st, &caller, Role::Editor, "route", move |c| routes::get(c, id)).await?;
    let ctx = caller.ctx(&st);
    let grace = body.0.grace_seconds;
    let out = st.db.write(move |c| routes::regenerate_token(c, &ctx, id, grace)).await?;
    st.routes_changed();
    Ok(Json(out))
}

/// What intake would do with one alert of a simulated payload.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct SimulatedAlert {
    pub alert: crate::domain::alert::IncomingAlert,
    pub dedup_key: String,
    /// Whether the route's matchers accept it.
    pub matched: bool,
    /// Why the matchers reject it.
    pub matcher_failures: Vec<String>,
    /// The dedup/group/silence decision, in words.
    pub decision: String,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Simulation {
    pub route_id: i64,
    pub source: crate::domain::alert::Source,
    pub alerts: Vec<SimulatedAlert>,
}

/// Parses any supported payload as the route's intake would, and reports the decisions
/// without storing anything.
pub async fn simulate(st: State, caller: Caller, id: web::Path<i64>, body: web::Bytes) -> ApiResult<Json<Simulation>> {
    use crate::domain::alert::Source;
    use crate::http::intake;
    let id = id.into_inner();
    let route = fetch(&st, &caller, Role::Viewer, "route", move |c| routes::get(c, id)).await?;
    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let is_pd = json.as_ref().is_some_and(|j| j.get("event_action").is_some());
    let parsed = intake::parser(if is_pd { Source::Events } else { route.source })(&body);
    let incoming = parsed.map_err(crate::http::error::ApiError::validation)?;
    let (now, opts, source) = (st.clock.now(), intake::options(&st), route.source);
    let alerts = st
        .db
        .read(move |c| {
            let rc = crate::store::intake::RouteCtx::load(c, route)?;
            let mut out = Vec::new();
            for a in incoming {
                let subject = crate::domain::routing::subject(&a, rc.route.source.as_str());
                let failures = rc.matchers.explain(&subject);
                let (key, plan) = crate::store::intake::simulate(c, now, &rc, &a, &opts)?;
                let decision = plan.describe();
                out.push(SimulatedAlert {
                    matched: failures.is_empty(),
                    matcher_failures: failures,
                    decision,
                    dedup_key: key,
                    alert: a,
                });
            }
            Ok(out)
        })
        .await?;
    Ok(Json(Simulation { route_id: id, source, alerts }))
}
