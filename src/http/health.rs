//! Operations endpoints: liveness, readiness, version, the OpenAPI document.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web::Json};
use schemars::JsonSchema;
use serde::Serialize;

use super::State;
use crate::store;

#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Why the service is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `leader` (runs the engine), `standby` (another process does), `disabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    /// Seconds since the engine last completed a cycle (leader only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_cycle_age_seconds: Option<f64>,
}

pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into(), reason: None, scheduler: None, last_cycle_age_seconds: None })
}

/// Below this much free space the database's disk counts as full: writes are about to fail.
const MIN_FREE_BYTES: u64 = 1 << 20;

/// Ready when the database answers reads, takes a write (file not deleted or replaced), has
/// room to grow (at least 1 MiB free), has the current schema, and the scheduler's leader is
/// known.
pub async fn readyz(st: State) -> HttpResponse {
    let reason = match st.db.read(store::ready_to_read).await {
        Err(e) => Some(format!("database: {e}")),
        Ok(v) if v < store::latest_known_version() => Some(format!(
            "database schema is version {v}, expected {}: run `incidentrelay migrate`",
            store::latest_known_version()
        )),
        Ok(_) => None,
    };
    let now = st.clock.now();
    let reason = match reason {
        Some(r) => Some(r),
        None => st.db.write(move |c| store::ready_to_write(c, now)).await.err().map(|e| format!("database: {e}")),
    };
    let reason = reason.or_else(|| {
        st.db.disk_free().filter(|free| *free < MIN_FREE_BYTES).map(|free| {
            format!("database: the disk is full ({free} bytes free on the file system of {})", st.db.describe())
        })
    });
    let status = st.engine.status();
    let reason = reason.or_else(|| (!status.known()).then(|| "scheduler: leader not known yet".to_string()));
    let body = Health {
        status: if reason.is_none() { "ok".into() } else { "unavailable".into() },
        reason: reason.clone(),
        scheduler: Some(status.role_name().into()),
        last_cycle_age_seconds: status.last_cycle_age_seconds(st.clock.now()),
    };
    if reason.is_none() { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Version {
    pub name: String,
    pub version: String,
    pub schema_version: i32,
}

pub async fn version() -> Json<Version> {
    Json(Version {
        name: "incidentrelay".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        schema_version: store::latest_known_version(),
    })
}

pub async fn openapi_json(st: State) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(st.openapi.as_str().to_owned())
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics(st: State, req: HttpRequest) -> Result<HttpResponse, super::error::ApiError> {
    if let Some(expected) = st.config.metrics.bearer_token.as_deref().filter(|t| !t.is_empty()) {
        let got = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        let got = got.strip_prefix("Bearer ").unwrap_or("");
        if !crate::crypto::ct_eq(got.as_bytes(), expected.as_bytes()) {
            return Err(super::error::ApiError::Unauthorized(
                "metrics need `Authorization: Bearer <metrics.bearer_token>`".into(),
            ));
        }
    }
    let (open, deliveries) =
        st.db.read(|c| Ok((store::alerts::open_counts(c, None)?, store::outbox::counts(c)?))).await?;
    let status = st.engine.status();
    let snap = crate::metrics::Snapshot {
        open_alerts: open.into_iter().map(|(s, n)| (s.as_str().to_string(), n)).collect(),
        deliveries_by_status: deliveries,
        leader: status.is_leader(),
        last_cycle_age_seconds: status.last_cycle_age_seconds(st.clock.now()),
        store_retries: store::retries(),
        flushes: st.db.flushes(),
    };
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(st.metrics.render(&snap)))
}
