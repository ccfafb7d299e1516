//! Intake: `/api/integrations/{alertmanager,zabbix,webhook,grafana}`, `/api/events/ingest` and
//! `/v2/enqueue`. One file per format holds a pure parser; this module authenticates (route
//! token in `Authorization: Bearer` or `routing_key`; a personal API token with `alerts:write`
//! and a `team` hint), rate-limits per client address, verifies Standard Webhooks signatures,
//! and hands the parsed alerts to one write transaction. No network I/O happens here: pages
//! are outbox rows that the engine, woken afterwards, delivers.

pub mod alertmanager;
pub mod grafana;
pub mod incidentio;
pub mod pagerduty;
pub mod webhook;
pub mod zabbix;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, HttpResponse, web};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use slog::warn;

use super::State;
use super::auth::{self, Via, client_ip};
use super::error::{ApiError, ApiResult};
use super::json::read_body;
use crate::domain::access::{Role, Scope, scope_allows};
use crate::domain::alert::{IncomingAlert, Source};
use crate::domain::lifecycle::{IntakeResult, Options};
use crate::domain::time::Ts;
use crate::domain::validate::FieldError;
use crate::store::intake::{self, IntakeTarget, RouteCtx};
use crate::store::{routes, teams};

pub type ParseResult = Result<Vec<IncomingAlert>, Vec<FieldError>>;

/// Deserializes a body, naming the bad field.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Vec<FieldError>> {
    super::json::decode(body).map_err(|e| vec![e])
}

/// The parser of each source's format: one place that knows them all.
pub fn parser(source: Source) -> fn(&[u8]) -> ParseResult {
    match source {
        Source::Alertmanager => alertmanager::parse_body,
        Source::Zabbix => zabbix::parse_body,
        Source::Webhook => webhook::parse_body,
        Source::Grafana => grafana::parse_body,
        Source::Events => pagerduty::parse_body,
        Source::Incidentio => incidentio::parse_body,
    }
}

/// A small valid body of each source's format.
pub fn example(source: Source) -> &'static str {
    match source {
        Source::Alertmanager => alertmanager::EXAMPLE,
        Source::Zabbix => zabbix::EXAMPLE,
        Source::Webhook => webhook::EXAMPLE,
        Source::Grafana => grafana::EXAMPLE,
        Source::Events => pagerduty::EXAMPLE,
        Source::Incidentio => incidentio::EXAMPLE,
    }
}

/// The first non-empty value among `keys`.
pub(crate) fn first_link(map: &BTreeMap<String, String>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| map.get(*k).filter(|v| crate::domain::validate::is_http_url(v)).cloned())
}

/// The intake options from `[alerts]`.
pub fn options(st: &State) -> Options {
    st.config.alerts.lifecycle()
}

// --- rate limiting ---------------------------------------------------------------------------

/// A token bucket per client address: `per_minute` requests, refilled continuously.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<IpAddr, (f64, Ts)>>,
}

impl RateLimiter {
    /// `Err(seconds to wait)` when `ip` is over its limit.
    pub fn check(&self, ip: IpAddr, per_minute: u32, now: Ts) -> Result<(), u64> {
        let Ok(mut map) = self.buckets.lock() else { return Ok(()) };
        if map.len() > 100_000 {
            map.retain(|_, (_, last)| now.secs_since(*last) < 60);
        }
        let cap = f64::from(per_minute);
        let (tokens, last) = map.entry(ip).or_insert((cap, now));
        let refill = (now.ms() - last.ms()).max(0) as f64 / 60_000.0 * cap;
        *tokens = (*tokens + refill).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - *tokens) / cap * 60.0).ceil() as u64).max(1))
        }
    }
}

fn rate_limit(st: &State, req: &HttpRequest) -> ApiResult<()> {
    let limit = st.config.intake.rate_limit_per_minute;
    if limit == 0 {
        return Ok(());
    }
    let Some(ip) = client_ip(req, &st.config.server.trusted_proxies) else { return Ok(()) };
    if st.config.intake.trusted_networks.iter().any(|n| n.contains(&ip)) {
        return Ok(());
    }
    st.intake_limiter.check(ip, limit, st.clock.now()).map_err(|retry_after| ApiError::RateLimited {
        retry_after,
        message: format!("more than {limit} intake requests per minute from {ip}"),
    })
}

// --- route cache -------------------------------------------------------------------------------

/// Routes by intake token hash, so that intake does not read the route, its team and its
/// matchers on every request. Cleared whenever this process changes a route or team; entries
/// also expire after [`ROUTE_CACHE_SECS`] so that changes made by another process are seen.
/// A cached lookup: when it was loaded, and the route with its team's `active` flag.
type CachedRoute = (Ts, Option<(Arc<RouteCtx>, bool)>);

#[derive(Debug, Default)]
pub struct RouteCache {
    entries: Mutex<HashMap<String, CachedRoute>>,
    /// Bumped by every clear: a load that began before a change never caches its result.
    generation: std::sync::atomic::AtomicU64,
}

/// How long another process's route change may go unnoticed.
pub const ROUTE_CACHE_SECS: i64 = 2;

impl RouteCache {
    pub fn clear(&self) {
        if let Ok(mut m) = self.entries.lock() {
            self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            m.clear();
        }
    }

    /// The route (and whether its team is active) owning `token`, or `None` for unknown tokens.
    pub async fn get_or_load(
        &self,
        db: &crate::store::Db,
        token: &str,
        now: Ts,
    ) -> crate::store::Result<Option<(Arc<RouteCtx>, bool)>> {
        let hash = crate::crypto::sha256_hex(token);
        if let Ok(m) = self.entries.lock()
            && let Some((loaded, entry)) = m.get(&hash)
            && now.secs_since(*loaded) < ROUTE_CACHE_SECS
            && loaded.ms() <= now.ms()
        {
            return Ok(entry.clone());
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let t = token.to_string();
        let entry = db
            .read(move |c| match routes::by_token(c, &t, now)? {
                Some(route) => {
                    let team = teams::get(c, route.team_id)?;
                    Ok(Some((Arc::new(RouteCtx::load(c, route)?), team.active)))
                }
                None => Ok(None),
            })
            .await?;
        if let Ok(mut m) = self.entries.lock()
            && self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation
        {
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(hash, (now, entry.clone()));
        }
        Ok(entry)
    }
}

// --- authentication ----------------------------------------------------------------------------

/// The credential of an intake request: the bearer token, else `routing_key` in the body.
fn credential(req: &HttpRequest, body: Option<&Value>) -> Option<String> {
    let header = req.headers().get("Authorization").and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(h) = header {
        let t = h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")).unwrap_or("").trim();
        if !t.is_empty() {
            return Some(t.to_string());
        }
    }
    body.and_then(|b| b.get("routing_key")).and_then(Value::as_str).map(str::to_string).filter(|s| !s.is_empty())
}

/// Sources a route may have to be used on an endpoint.
fn accepts(endpoint: Source, route: Source) -> bool {
    match endpoint {
        Source::Events => matches!(route, Source::Events | Source::Webhook),
        other => other == route,
    }
}

/// Failures of intake authentication (rendered differently by PagerDuty-compatible endpoints).
enum AuthFailure {
    Unauthorized(String),
    Forbidden(String),
    Other(ApiError),
}

impl From<AuthFailure> for ApiError {
    fn from(f: AuthFailure) -> ApiError {
        match f {
            AuthFailure::Unauthorized(m) => ApiError::Unauthorized(m),
            AuthFailure::Forbidden(m) => ApiError::Forbidden(m),
            AuthFailure::Other(e) => e,
        }
    }
}

impl From<ApiError> for AuthFailure {
    fn from(e: ApiError) -> AuthFailure {
        AuthFailure::Other(e)
    }
}

async fn resolve_target(
    st: &State,
    req: &HttpRequest,
    body: Option<&Value>,
    endpoint: Source,
) -> Result<IntakeTarget, AuthFailure> {
    let token = credential(req, body).ok_or_else(|| {
        AuthFailure::Unauthorized(
            "missing route token: send `Authorization: Bearer <intake token>` (or `routing_key` in the body)".into(),
        )
    })?;
    if token.starts_with("irp_") {
        return team_target(st, req, body, endpoint, token).await;
    }
    let found = st.route_cache.get_or_load(&st.db, &token, st.clock.now()).await.map_err(ApiError::from)?;
    let Some((rc, team_active)) = found else {
        return Err(AuthFailure::Unauthorized("unknown intake token (regenerated or deleted route?)".into()));
    };
    if !rc.route.enabled || !team_active {
        return Err(AuthFailure::Forbidden(format!("route \"{}\" (or its team) is disabled", rc.route.name)));
    }
    if !accepts(endpoint, rc.route.source) {
        return Err(AuthFailure::Forbidden(format!(
            "route \"{}\" takes {} alerts; send them to {}",
            rc.route.name,
            rc.route.source.as_str(),
            rc.route.source.intake_path()
        )));
    }
    Ok(IntakeTarget::Route(rc))
}

/// A personal API token with `alerts:write` posting for a team (`?team=` or `"team"` in the body).
async fn team_target(
    st: &State,
    req: &HttpRequest,
    body: Option<&Value>,
    endpoint: Source,
    token: String,
) -> Result<IntakeTarget, AuthFailure> {
    let caller = auth::authenticate(st, token, false).await?;
    if let Via::Token { scopes, .. } = &caller.via
        && !scope_allows(scopes, Scope::AlertsWrite)
    {
        return Err(AuthFailure::Other(ApiError::MissingScopes("this token lacks the `alerts:write` scope".into())));
    }
    let query: HashMap<String, String> = super::json::parse_query(req.query_string()).unwrap_or_default();
    let hint = query
        .get("team")
        .cloned()
        .or_else(|| {
            body.and_then(|b| b.get("team")).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
        })
        .ok_or_else(|| {
            AuthFailure::Other(ApiError::field("team", "a personal API token needs a team hint: ?team=<slug or id>"))
        })?;
    let h2 = hint.clone();
    let team = st
        .db
        .read(move |c| match h2.parse::<i64>() {
            Ok(id) => teams::get(c, id)
                .map(Some)
                .or_else(|e| if matches!(e, crate::store::StoreError::NotFound(_)) { Ok(None) } else { Err(e) }),
            Err(_) => teams::by_slug(c, &h2),
        })
        .await
        .map_err(ApiError::from)?
        .filter(|t| caller.access.role_in(t.group_id).is_some())
        .ok_or_else(|| AuthFailure::Other(ApiError::field("team", &format!("no such team: {hint}"))))?;
    caller.require(team.group_id, Role::Responder, "team").map_err(AuthFailure::Other)?;
    let tid = team.id;
    let routes = st
        .db
        .read(move |c| {
            routes::of_team(c, tid)?
                .into_iter()
                .filter(|r| r.enabled && accepts(endpoint, r.source))
                .map(|r| RouteCtx::load(c, r))
                .collect::<crate::store::Result<Vec<_>>>()
        })
        .await
        .map_err(ApiError::from)?;
    Ok(IntakeTarget::Team { team_id: team.id, team_slug: team.slug, routes })
}

// --- Standard Webhooks signatures --------------------------------------------------------------

/// Verifies `webhook-id`, `webhook-timestamp` (±5 minutes) and `webhook-signature`
/// (`v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`, several allowed). Returns the id.
pub fn verify_signature(secret: &str, req: &HttpRequest, body: &[u8], now: Ts) -> Result<String, ApiError> {
    let header =
        |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let bad = |m: &str| ApiError::Unauthorized(format!("signature check failed: {m}"));
    let id = header("webhook-id").ok_or_else(|| bad("the webhook-id header is missing"))?;
    let ts = header("webhook-timestamp").ok_or_else(|| bad("the webhook-timestamp header is missing"))?;
    let sigs = header("webhook-signature").ok_or_else(|| bad("the webhook-signature header is missing"))?;
    let secs: i64 = ts.parse().map_err(|_| bad("webhook-timestamp is not Unix seconds"))?;
    if (now.secs() - secs).abs() > 300 {
        return Err(bad("webhook-timestamp is more than 5 minutes away from now"));
    }
    let key = secret
        .strip_prefix("whsec_")
        .and_then(crate::crypto::b64_decode)
        .ok_or_else(|| ApiError::internal("route signing secret is malformed"))?;
    let mut signed = Vec::with_capacity(id.len() + ts.len() + body.len() + 2);
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(ts.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    let ok = sigs
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(crate::crypto::b64_decode)
        .any(|sig| crate::crypto::verify_hmac_sha256(&key, &signed, &sig));
    if !ok {
        return Err(bad("no webhook-signature matches"));
    }
    Ok(id.to_string())
}

// --- the handlers ------------------------------------------------------------------------------

/// The contract's intake answer is a JSON array of these.
pub type IntakeResults = Vec<IntakeResult>;

struct Request {
    target: IntakeTarget,
    webhook_id: Option<String>,
    alerts: Vec<IncomingAlert>,
}

/// Stores parsed alerts in one transaction, wakes the engine, logs what was not routed.
async fn store(st: &State, source: &str, r: Request) -> ApiResult<Vec<IntakeResult>> {
    let now = st.clock.now();
    let opts = options(st);
    let Request { target, webhook_id, alerts } = r;
    let route_id = match &target {
        IntakeTarget::Route(rc) => Some(rc.route.id),
        IntakeTarget::Team { .. } => None,
    };
    // Two processes may decide about the same key at once (PostgreSQL): the loser of a unique
    // key decides again on what the winner committed.
    let results = st
        .db
        .write_retrying(move |c| {
            if let (Some(id), Some(route)) = (&webhook_id, route_id) {
                routes::remember_webhook_id(c, route, id, now)?;
            }
            intake::ingest_all(c, now, &target, &alerts, &opts)
        })
        .await?;
    if results.iter().any(IntakeResult::wakes_engine) {
        st.engine.wake();
    }
    for r in results.iter().filter(|r| r.routing_error.is_some()) {
        warn!(st.log, "alert not routed"; "route_id" => r.route_id, "team" => r.team_slug.as_deref().unwrap_or(""),
              "reason" => r.routing_error.as_deref().unwrap_or(""));
    }
    st.metrics.intake(source, &results);
    Ok(results)
}

/// A synthetic alert through a route (the UI's "Send a test alert"): routed, stored and paged
/// like a real one (the route's matchers may reject it, which the result says).
pub async fn send_test_alert(st: &State, route_id: i64, by: &str) -> ApiResult<Vec<IntakeResult>> {
    let now = st.clock.now();
    let body = json!({
        "title": format!("Test alert sent by {by}"),
        "message": "Sent from the IncidentRelay web UI to check routing and delivery. Acknowledge and resolve it.",
        "severity": "warning",
        "fingerprint": format!("incidentrelay-test-{}", now.ms()),
        "labels": {"alertname": "IncidentRelayTest", "test": "true"},
    });
    let alerts = webhook::parse_body(body.to_string().as_bytes()).map_err(ApiError::validation)?;
    let target =
        st.db.read(move |c| Ok(IntakeTarget::Route(Arc::new(RouteCtx::load(c, routes::get(c, route_id)?)?)))).await?;
    store(st, "test", Request { target, webhook_id: None, alerts }).await
}

async fn handle(st: State, req: HttpRequest, mut payload: web::Payload, endpoint: Source) -> ApiResult<HttpResponse> {
    rate_limit(&st, &req)?;
    let body = read_body(&req, &mut payload, st.config.intake.max_body_bytes).await?;
    // The generic body is only needed to find `routing_key`/`team` (no Authorization header) or
    // `event_action` (generic webhook); skip the second parse on the hot path.
    let needs_json = endpoint == Source::Webhook || !req.headers().contains_key("Authorization");
    let json: Option<Value> = if needs_json { serde_json::from_slice(&body).ok() } else { None };
    if endpoint == Source::Webhook && json.as_ref().is_some_and(|j| j.get("event_action").is_some()) {
        return pagerduty_answer(&st, &req, &body, json.as_ref(), false).await;
    }
    let target = resolve_target(&st, &req, json.as_ref(), endpoint).await?;
    let webhook_id = match &target {
        IntakeTarget::Route(rc) => match &rc.route.signing_secret {
            Some(secret) => Some(verify_signature(secret, &req, &body, st.clock.now())?),
            None => None,
        },
        IntakeTarget::Team { .. } => None,
    };
    let alerts = parser(endpoint)(&body).map_err(ApiError::validation)?;
    let results = store(&st, endpoint.as_str(), Request { target, webhook_id, alerts }).await?;
    Ok(HttpResponse::Ok().json(results))
}

pub async fn alertmanager(st: State, req: HttpRequest, payload: web::Payload) -> ApiResult<HttpResponse> {
    handle(st, req, payload, Source::Alertmanager).await
}

pub async fn zabbix(st: State, req: HttpRequest, payload: web::Payload) -> ApiResult<HttpResponse> {
    handle(st, req, payload, Source::Zabbix).await
}

pub async fn webhook(st: State, req: HttpRequest, payload: web::Payload) -> ApiResult<HttpResponse> {
    handle(st, req, payload, Source::Webhook).await
}

pub async fn grafana(st: State, req: HttpRequest, payload: web::Payload) -> ApiResult<HttpResponse> {
    handle(st, req, payload, Source::Grafana).await
}

/// `/api/integrations/incidentio`: incident.io's incident webhooks. incident.io sends no
/// token: the Standard Webhooks signature, checked against each incident.io route's signing
/// secret, says which route it is for (a bearer token, if sent, picks the route as
/// elsewhere). 204 as incident.io expects; other event types are answered 204 and ignored.
pub async fn incidentio(st: State, req: HttpRequest, mut payload: web::Payload) -> ApiResult<HttpResponse> {
    rate_limit(&st, &req)?;
    let body = read_body(&req, &mut payload, st.config.intake.max_body_bytes).await?;
    let now = st.clock.now();
    let (target, webhook_id) = if req.headers().contains_key("Authorization") {
        let target = resolve_target(&st, &req, None, Source::Incidentio).await?;
        let IntakeTarget::Route(rc) = &target else {
            return Err(ApiError::Forbidden("incident.io posts to a route: use its intake token".into()));
        };
        let secret = rc.route.signing_secret.as_deref().ok_or_else(|| {
            ApiError::Unauthorized(format!("route \"{}\" has no signing secret: paste incident.io's", rc.route.name))
        })?;
        let id = verify_signature(secret, &req, &body, now)?;
        (target, id)
    } else {
        let routes = st.db.read(|c| routes::signing_routes(c, Source::Incidentio)).await?;
        let mut last = ApiError::Unauthorized(
            "no incident.io route verifies this request: give the route incident.io's signing secret (whsec_…)".into(),
        );
        let mut found = None;
        for route in routes {
            let secret = route.signing_secret.clone().unwrap_or_default();
            match verify_signature(&secret, &req, &body, now) {
                Ok(id) => {
                    found = Some((route, id));
                    break;
                }
                Err(e) => last = e,
            }
        }
        let (route, id) = found.ok_or(last)?;
        let (rc, team_active) = st
            .db
            .read(move |c| Ok((teams::get(c, route.team_id)?.active, RouteCtx::load(c, route)?)))
            .await
            .map(|(a, rc)| (rc, a))?;
        if !team_active {
            return Err(ApiError::Forbidden(format!("the team of route \"{}\" is disabled", rc.route.name)));
        }
        (IntakeTarget::Route(Arc::new(rc)), id)
    };
    let alerts = incidentio::parse_body(&body).map_err(ApiError::validation)?;
    if alerts.is_empty() {
        let event =
            serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["event_type"].as_str().map(String::from));
        slog::info!(st.log, "incident.io event ignored"; "event_type" => event.unwrap_or_default(), "webhook_id" => &webhook_id);
        return Ok(HttpResponse::NoContent().finish());
    }
    match store(&st, Source::Incidentio.as_str(), Request { target, webhook_id: Some(webhook_id), alerts }).await {
        // A redelivery of what was processed (incident.io retries until it sees a 2xx).
        Err(ApiError::Conflict { details, .. }) if details.iter().any(|d| d.field == "webhook-id") => {
            Ok(HttpResponse::NoContent().finish())
        }
        Err(e) => Err(e),
        Ok(_) => Ok(HttpResponse::NoContent().finish()),
    }
}

/// PagerDuty Events API v2 success body.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventAccepted {
    /// `success`
    pub status: String,
    /// `Event processed`
    pub message: String,
    pub dedup_key: String,
    /// The alert the event landed on (`null` when it matched nothing).
    pub incident_id: Option<i64>,
}

/// PagerDuty Change Events success body.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChangeAccepted {
    /// `success`
    pub status: String,
    /// `Change event processed`
    pub message: String,
}

/// `/v2/change/enqueue`: PagerDuty Change Events. Recorded on the route's team, beside its
/// alerts; nobody is paged. 202, as PagerDuty answers.
pub async fn change_events(st: State, req: HttpRequest, mut payload: web::Payload) -> ApiResult<HttpResponse> {
    rate_limit(&st, &req)?;
    let body = read_body(&req, &mut payload, st.config.intake.max_body_bytes).await?;
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let (target, webhook_id) = match pagerduty_target(&st, &req, &body, json.as_ref(), true).await? {
        Ok(t) => t,
        Err(answer) => return Ok(answer),
    };
    let change = match pagerduty::parse_change(&body) {
        Ok(c) => c,
        Err(errs) => {
            return Ok(invalid_event(errs.into_iter().map(|e| format!("'{}' {}", e.field, e.message)).collect()));
        }
    };
    let (team_id, route_id) = match &target {
        IntakeTarget::Route(rc) => (rc.route.team_id, Some(rc.route.id)),
        IntakeTarget::Team { team_id, .. } => (*team_id, None),
    };
    let now = st.clock.now();
    st.db
        .write(move |c| {
            if let (Some(id), Some(route)) = (&webhook_id, route_id) {
                routes::remember_webhook_id(c, route, id, now)?;
            }
            crate::store::changes::record(c, now, team_id, route_id, &change)
        })
        .await?;
    Ok(HttpResponse::Accepted()
        .json(ChangeAccepted { status: "success".into(), message: "Change event processed".into() }))
}

/// PagerDuty Events API v2 error body (400).
#[derive(Debug, Serialize, JsonSchema)]
pub struct InvalidEvent {
    /// `invalid event`
    pub status: String,
    /// `Event object is invalid`
    pub message: String,
    /// What is wrong, one entry per problem (`'payload.summary' is missing`, `Invalid routing key`).
    pub errors: Vec<String>,
}

fn invalid_event(errors: Vec<String>) -> HttpResponse {
    HttpResponse::BadRequest().json(InvalidEvent {
        status: "invalid event".into(),
        message: "Event object is invalid".into(),
        errors,
    })
}

/// `/api/events/ingest` and `/v2/enqueue`: PagerDuty Events API v2.
pub async fn events(st: State, req: HttpRequest, mut payload: web::Payload) -> ApiResult<HttpResponse> {
    rate_limit(&st, &req)?;
    let body = read_body(&req, &mut payload, st.config.intake.max_body_bytes).await?;
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    pagerduty_answer(&st, &req, &body, json.as_ref(), true).await
}

/// The route (or team) a PagerDuty request is for, and its verified `webhook-id` on a signing
/// route; or, for a bad routing key, the answer PagerDuty's clients expect (`pd_auth_errors`).
async fn pagerduty_target(
    st: &State,
    req: &HttpRequest,
    body: &[u8],
    json: Option<&Value>,
    pd_auth_errors: bool,
) -> ApiResult<Result<(IntakeTarget, Option<String>), HttpResponse>> {
    let target = match resolve_target(st, req, json, Source::Events).await {
        Ok(t) => t,
        Err(AuthFailure::Unauthorized(_)) if pd_auth_errors => {
            return Ok(Err(invalid_event(vec!["Invalid routing key".into()])));
        }
        Err(AuthFailure::Forbidden(m)) if pd_auth_errors => return Ok(Err(invalid_event(vec![m]))),
        Err(f) => return Err(f.into()),
    };
    let webhook_id = match &target {
        IntakeTarget::Route(rc) => match &rc.route.signing_secret {
            Some(secret) => Some(verify_signature(secret, req, body, st.clock.now())?),
            None => None,
        },
        IntakeTarget::Team { .. } => None,
    };
    Ok(Ok((target, webhook_id)))
}

async fn pagerduty_answer(
    st: &State,
    req: &HttpRequest,
    body: &[u8],
    json: Option<&Value>,
    pd_auth_errors: bool,
) -> ApiResult<HttpResponse> {
    let (target, webhook_id) = match pagerduty_target(st, req, body, json, pd_auth_errors).await? {
        Ok(t) => t,
        Err(answer) => return Ok(answer),
    };
    let mut alert = match pagerduty::parse_event(body) {
        Ok(a) => a,
        Err(errs) => {
            return Ok(invalid_event(errs.into_iter().map(|e| format!("'{}' {}", e.field, e.message)).collect()));
        }
    };
    if alert.dedup_key.is_none() {
        alert.dedup_key = Some(uuid::Uuid::new_v4().simple().to_string());
    }
    let dedup_key = alert.dedup_key.clone().unwrap_or_default();
    let results = store(st, Source::Events.as_str(), Request { target, webhook_id, alerts: vec![alert] }).await?;
    let incident_id = results.first().and_then(|r| r.id);
    Ok(HttpResponse::Accepted().json(EventAccepted {
        status: "success".into(),
        message: "Event processed".into(),
        dedup_key,
        incident_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_has_a_parser_and_an_example_it_accepts() {
        for source in Source::ALL {
            let alerts = parser(source)(example(source).as_bytes()).unwrap_or_else(|e| panic!("{source:?}: {e:?}"));
            assert_eq!(alerts.len(), 1, "{source:?}");
            assert_eq!(alerts[0].title, "Disk full on db-1", "{source:?}");
        }
    }

    #[test]
    fn rate_limiter_refills_over_time() {
        let l = RateLimiter::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t = Ts::from_secs(1000);
        for _ in 0..3 {
            assert!(l.check(ip, 3, t).is_ok());
        }
        assert_eq!(l.check(ip, 3, t), Err(20));
        assert!(l.check(ip, 3, t.plus_secs(20)).is_ok(), "one token per 20 s at 3/min");
        assert!(l.check("10.0.0.2".parse().unwrap(), 3, t).is_ok(), "per address");
    }
}
