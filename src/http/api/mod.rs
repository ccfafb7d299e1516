//! JSON API handlers, one file per resource. A handler extracts, checks access, makes one
//! store call and responds.

pub mod alerts;
pub mod auth;
pub mod calendar;
pub mod channels;
pub mod contacts;
pub mod groups;
pub mod policies;
pub mod profile;
pub mod rotations;
pub mod routes;
pub mod silences;
pub mod teams;
pub mod users;

use actix_web::HttpResponse;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::State;
use super::auth::Caller;
use super::error::ApiResult;
use crate::domain::access::Role;
use crate::store::teams as team_store;

/// `{"status": "…"}`
#[derive(Debug, Serialize, JsonSchema)]
pub struct Status {
    pub status: String,
}

/// `{"deleted": true, "id": N}`
#[derive(Debug, Serialize, JsonSchema)]
pub struct Deleted {
    pub deleted: bool,
    pub id: i64,
}

pub fn deleted(id: i64) -> HttpResponse {
    HttpResponse::Ok().json(Deleted { deleted: true, id })
}

pub fn created<T: Serialize>(v: &T) -> HttpResponse {
    HttpResponse::Created().json(v)
}

/// `?team_id=` filter of list endpoints.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct TeamFilter {
    /// Only objects of this team.
    pub team_id: Option<i64>,
}

/// Checks the caller's role in the group of a team named in a request body (`team_id`):
/// an invisible team is a 400 on that field, not a 404.
pub async fn team_in_body(st: &State, caller: &Caller, team_id: Option<i64>, role: Role) -> ApiResult<()> {
    let Some(team_id) = team_id else {
        return Ok(());
    };
    let group = st.db.read(move |c| team_store::group_of(c, team_id)).await?;
    caller.require_ref(group, role, "team_id", "team")
}

/// Hashes a password off the async workers (argon2 is slow on purpose).
pub async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || crate::crypto::hash_password(&password))
        .await
        .map_err(|e| super::error::ApiError::internal(format!("hashing task: {e}")))?
        .map_err(Into::into)
}

/// Objects that belong to a group (directly or through their team).
pub trait InGroup {
    fn group_id(&self) -> i64;
}

macro_rules! in_group {
    ($($t:ty),*) => { $(impl InGroup for $t { fn group_id(&self) -> i64 { self.group_id } })* };
}
in_group!(
    crate::store::teams::Team,
    crate::store::rotations::Rotation,
    crate::store::channels::Channel,
    crate::store::routes::Route,
    crate::store::policies::Policy,
    crate::store::silences::Silence,
    crate::store::groups::Membership
);

/// Loads an object and requires `role` in its group; invisible objects read as "not found".
pub async fn fetch<T, F>(st: &State, caller: &Caller, role: Role, what: &str, load: F) -> ApiResult<T>
where
    T: InGroup + Send + 'static,
    F: FnOnce(&crate::store::Read<'_>) -> crate::store::Result<T> + Send + 'static,
{
    let obj = st.db.read(load).await?;
    caller.require(obj.group_id(), role, what)?;
    Ok(obj)
}
