//! Channels: where notifications are delivered.

use actix_web::{HttpResponse, web, web::Json};

use super::{TeamFilter, created, deleted, fetch, team_in_body};
use crate::domain::access::Role;
use crate::domain::channel::{ChannelInput, ChannelSpec};
use crate::domain::validate::FieldError;
use crate::http::State;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::{Body, Query};
use crate::notify::ChannelKind;
use crate::store::StoreError;
use crate::store::channels::{self, Channel};

/// A channel as the API shows it: secrets masked (`********`; URLs keep scheme and host), and
/// flagged when the outbound guard will refuse where it sends (`warnings`, naming the setting).
fn shown(st: &State, mut ch: Channel) -> Channel {
    ch.warnings = ch
        .channel_type
        .destination_keys()
        .iter()
        .filter_map(|key| ch.config.get(*key).and_then(|v| v.as_str()).map(|url| (key, url)))
        .filter_map(|(key, url)| st.senders.http.refusal(url).map(|why| format!("config.{key}: {why}")))
        .collect();
    ch.config = ch.channel_type.mask(&ch.config);
    ch
}

/// Applies a request to a channel's settings (a new channel when `current` is `None`): the
/// fields, then the config as the kind's notifier merges and checks it.
fn settle(current: Option<&Channel>, input: ChannelInput) -> Result<ChannelSpec, Vec<FieldError>> {
    let stored = current.map(Channel::spec);
    let (mut spec, given) = ChannelSpec::apply(stored.as_ref(), input)?;
    let old = current.map(|c| (c.channel_type, &c.config));
    spec.config = spec.channel_type.settle_config(old, given)?;
    Ok(spec)
}

pub async fn types(_caller: Caller) -> Json<Vec<ChannelKind>> {
    Json(ChannelKind::ALL.to_vec())
}

pub async fn list(st: State, caller: Caller, q: Query<TeamFilter>) -> ApiResult<Json<Vec<Channel>>> {
    let (groups, team) = (caller.visible(), q.0.team_id);
    let list = st.db.read(move |c| channels::list(c, groups.as_deref(), team)).await?;
    Ok(Json(list.into_iter().map(|ch| shown(&st, ch)).collect()))
}

pub async fn create(st: State, caller: Caller, body: Body<ChannelInput>) -> ApiResult<HttpResponse> {
    let input = body.0;
    team_in_body(&st, &caller, input.team_id, Role::Editor).await?;
    let team_id = input.team_id;
    let spec = settle(None, input);
    let (team_id, spec) = match (team_id, spec) {
        (Some(t), Ok(spec)) => (t, spec),
        (t, spec) => {
            let mut errs =
                t.is_none().then(|| FieldError::new("team_id", "is required")).into_iter().collect::<Vec<_>>();
            errs.extend(spec.err().unwrap_or_default());
            return Err(ApiError::validation(errs));
        }
    };
    let ctx = caller.ctx(&st);
    let ch = st.db.write(move |c| channels::create(c, &ctx, team_id, spec)).await?;
    Ok(created(&shown(&st, ch)))
}

pub async fn get(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<Json<Channel>> {
    let id = id.into_inner();
    Ok(Json(shown(&st, fetch(&st, &caller, Role::Viewer, "channel", move |c| channels::get(c, id)).await?)))
}

pub async fn update(
    st: State,
    caller: Caller,
    id: web::Path<i64>,
    body: Body<ChannelInput>,
) -> ApiResult<Json<Channel>> {
    let id = id.into_inner();
    fetch(&st, &caller, Role::Editor, "channel", move |c| channels::get(c, id)).await?;
    let ctx = caller.ctx(&st);
    let input = body.0;
    let ch = st
        .db
        .write(move |c| {
            let current = channels::get(c, id)?;
            if input.team_id.is_some_and(|t| t != current.team_id) {
                return Err(StoreError::invalid("team_id", "a channel cannot move to another team"));
            }
            let spec = settle(Some(&current), input)?;
            channels::update(c, &ctx, id, spec)
        })
        .await?;
    Ok(Json(shown(&st, ch)))
}

pub async fn delete(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    fetch(&st, &caller, Role::Editor, "channel", move |c| channels::get(c, id)).await?;
    let ctx = caller.ctx(&st);
    st.db.write(move |c| channels::delete(c, &ctx, id)).await?;
    Ok(deleted(id))
}

/// The answer of `POST /api/channels/{id}/test`.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct TestResult {
    /// `sent`
    pub status: String,
    /// What the provider answered.
    pub detail: String,
    pub delivery_id: i64,
}

/// Sends a test message through the channel now (editors), to you as the "on-call" person so
/// that e-mail and voice channels reach someone.
pub async fn test(st: State, caller: Caller, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    use crate::store::outbox;
    let id = id.into_inner();
    let ch = fetch(&st, &caller, Role::Editor, "channel", move |c| channels::get(c, id)).await?;
    let (now, user) = (st.clock.now(), caller.user.id);
    let label = format!("{} \"{}\" (test)", ch.channel_type.as_str(), ch.name);
    let lease = st.config.delivery.timeout_seconds as i64 + outbox::LEASE_MARGIN_SECS;
    let prepared = st.db.write(move |c| outbox::start_test(c, now, lease, id, &label, user)).await?;
    let senders = st.senders.clone();
    let msg = crate::engine::message::message(&senders, &prepared, now);
    let (kind, config, delivery_id) = (prepared.channel_kind, prepared.config.clone(), prepared.delivery.id);
    let attempt = prepared.delivery.attempt();
    let outcome = tokio::task::spawn_blocking(move || kind.send(&config, &senders.env(id), &msg, None))
        .await
        .map_err(|e| crate::http::error::ApiError::internal(format!("test send: {e}")))?;
    let done = st.clock.now();
    match outcome {
        Ok(sent) => {
            let ext = sent.external_id.clone();
            st.db.write(move |c| outbox::mark_sent(c, done, attempt, ext.as_deref())).await?;
            Ok(HttpResponse::Ok().json(TestResult { status: "sent".into(), detail: sent.detail, delivery_id }))
        }
        Err(e) => {
            let m = e.message().to_string();
            st.db.write(move |c| outbox::mark_dead(c, done, attempt, &m)).await?;
            Err(crate::http::error::ApiError::BadGateway(format!(
                "the {} channel failed: {}",
                kind.as_str(),
                e.message()
            )))
        }
    }
}
