//! The web UI: server-rendered pages (maud) over the same handlers as the JSON API — a page
//! calls the API handler with the signed-in user, so validation, access rules and audit are
//! the API's. Forms post `application/x-www-form-urlencoded` with a CSRF token and answer
//! 303 with a flash message, or the form again with messages next to the fields. JavaScript
//! adds conveniences only (copy buttons, auto-refresh, confirmations).

pub mod form;
pub mod layout;

mod admin;
mod alerts;
mod calendar;
mod channels;
mod dashboard;
mod login;
mod policies;
mod profile;
mod rotations;
mod routes;
mod schedule;
mod silences;
mod teams;

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::Cookie;
use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use maud::html;

use super::State;
use super::auth::{Caller, SESSION_COOKIE, authenticate};
use super::error::ApiError;
use super::json::Body;
use crate::domain::access::Role;
use crate::domain::time::Ts;
use crate::store::groups::{self, Group};

pub use form::Form;

const FLASH_COOKIE: &str = "ir_flash";

/// Registers every page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    login::configure(cfg);
    dashboard::configure(cfg);
    alerts::configure(cfg);
    calendar::configure(cfg);
    teams::configure(cfg);
    rotations::configure(cfg);
    routes::configure(cfg);
    channels::configure(cfg);
    policies::configure(cfg);
    silences::configure(cfg);
    admin::configure(cfg);
    profile::configure(cfg);
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum UiError {
    /// Not signed in: go to the login page, then back to `next`.
    Login { next: String },
    /// What the API would have answered, shown as a page.
    Api(ApiError),
    /// An API answer, as JSON (a client that is not a browser hit a path outside the UI).
    Json(ApiError),
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> UiError {
        UiError::Api(e)
    }
}

impl From<crate::store::StoreError> for UiError {
    fn from(e: crate::store::StoreError) -> UiError {
        UiError::Api(e.into())
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UiError::Login { .. } => write!(f, "login required"),
            UiError::Api(e) | UiError::Json(e) => e.fmt(f),
        }
    }
}

impl UiError {
    /// The API error inside (the request log reports internal errors with their id).
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            UiError::Api(e) | UiError::Json(e) => Some(e),
            UiError::Login { .. } => None,
        }
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::Login { .. } => StatusCode::SEE_OTHER,
            UiError::Api(e) | UiError::Json(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            UiError::Login { next } => {
                let to = format!("/login?next={}", form::urlencode(next));
                HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
            }
            UiError::Json(e) => e.error_response(),
            UiError::Api(e) => {
                let body = e.body();
                let title = match e.status_code().as_u16() {
                    403 => "Not allowed",
                    404 => "Not found",
                    429 => "Slow down",
                    s if s >= 500 => "Something went wrong",
                    _ => "That did not work",
                };
                let page = layout::bare(
                    title,
                    html! {
                        h1 { (title) }
                        p { (body.message) }
                        @for d in &body.details { p.error { strong { (d.field) } ": " (d.message) } }
                        @if let Some(id) = &body.error_id { p.muted { "Error id: " code { (id) } } }
                        p { a href="/" { "Back to the dashboard" } }
                    },
                );
                HttpResponse::build(e.status_code())
                    .content_type("text/html; charset=utf-8")
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .body(page.into_string())
            }
        }
    }
}

pub type UiResult<T = HttpResponse> = Result<T, UiError>;

/// The signed-in user of a page, with what the page frame needs.
pub struct Ui {
    pub st: State,
    pub caller: Caller,
    pub csrf: String,
    pub now: Ts,
    /// Path and query of this request (for redirects back here).
    pub here: String,
    pub flash: Option<(String, String)>,
    /// The groups the user can see (all for admins).
    pub groups: Vec<Group>,
    /// The viewer's time zone: theirs, else `ui.default_time_zone`. Every time is shown in it.
    pub tz: jiff::tz::TimeZone,
    /// Its name, for labels.
    pub tz_name: String,
}

impl FromRequest for Ui {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, UiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let st = req.app_data::<State>().cloned();
        let here = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
        let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty());
        let flash = req.cookie(FLASH_COOKIE).and_then(|c| decode_flash(c.value()));
        Box::pin(async move {
            let st = st.ok_or_else(|| UiError::Api(ApiError::internal("application state missing")))?;
            let next = if here.starts_with("/logout") { "/".to_string() } else { here.clone() };
            let Some(token) = token else { return Err(UiError::Login { next }) };
            let caller = match authenticate(&st, token, true).await {
                Ok(c) => c,
                Err(ApiError::Unauthorized(_)) => return Err(UiError::Login { next }),
                Err(e) => return Err(e.into()),
            };
            let csrf = match &caller.via {
                super::auth::Via::Session { csrf, .. } => csrf.clone(),
                super::auth::Via::Token { .. } => return Err(UiError::Login { next }),
            };
            let visible = caller.visible();
            let groups = st.db.read(move |c| groups::list(c, visible.as_deref())).await?;
            let tz_name = caller.user.time_zone.clone().unwrap_or_else(|| st.config.ui.default_time_zone.clone());
            let tz = jiff::tz::TimeZone::get(&tz_name).unwrap_or(jiff::tz::TimeZone::UTC);
            Ok(Ui { now: st.clock.now(), st, caller, csrf, here, flash, groups, tz, tz_name })
        })
    }
}

impl Ui {
    /// A time as the viewer reads it: absolute in their zone, the relative time beside it.
    pub fn time(&self, t: Ts) -> maud::Markup {
        layout::time(t, self.now, &self.tz)
    }

    /// A time in the viewer's zone as plain text (hover titles): `Mon 09:00 CET`.
    pub fn abs(&self, t: Ts) -> String {
        layout::absolute(t, self.now, &self.tz)
    }

    /// Like [`Ui::time`], or a dash.
    pub fn time_opt(&self, t: Option<Ts>) -> maud::Markup {
        match t {
            Some(t) => self.time(t),
            None => maud::html! { span.muted { "—" } },
        }
    }

    /// The group the user chose to look at (`None` = all their groups).
    pub fn active_group(&self) -> Option<i64> {
        self.caller.user.active_group_id.filter(|g| self.groups.iter().any(|x| x.id == *g))
    }

    /// Whether an object of `group_id` is in the chosen group.
    pub fn shows(&self, group_id: i64) -> bool {
        self.active_group().is_none_or(|g| g == group_id)
    }

    /// Whether the user has at least `role` in `group_id`.
    pub fn can(&self, group_id: i64, role: Role) -> bool {
        self.caller.access.check(group_id, role).is_ok()
    }

    /// Whether the user has `role` in any group (to show "create" forms).
    pub fn can_any(&self, role: Role) -> bool {
        self.caller.access.is_admin() || self.groups.iter().any(|g| self.can(g.id, role))
    }

    pub fn is_admin(&self) -> bool {
        self.caller.access.is_admin()
    }

    /// Checks the form's CSRF token.
    pub fn verify(&self, form: &Form) -> UiResult<()> {
        let got = form.get("csrf").unwrap_or("");
        if crate::crypto::ct_eq(got.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::Forbidden("the form expired or came from another site; reload the page and try again".into())
                .into())
        }
    }

    /// A rendered page.
    pub fn page(&self, title: &str, body: maud::Markup) -> UiResult {
        self.page_status(StatusCode::OK, title, body)
    }

    /// A page with forms: 400 when `errors` (shown next to their fields) is not empty.
    pub fn form_page(&self, errors: &form::Errors, title: &str, body: maud::Markup) -> UiResult {
        let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
        self.page_status(status, title, maud::html! { (form::error_summary(errors)) (body) })
    }

    /// The page with a status.
    pub fn page_status(&self, status: StatusCode, title: &str, body: maud::Markup) -> UiResult {
        let mut resp = html_response(status, layout::page(self, title, body));
        if self.flash.is_some() {
            clear_flash(&mut resp);
        }
        Ok(resp)
    }
}

pub fn html_response(status: StatusCode, markup: maud::Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(markup.into_string())
}

/// 303 to `to` with a flash message (`kind`: `ok` or `error`).
pub fn redirect(to: &str, kind: &str, message: &str) -> HttpResponse {
    let value = crate::crypto::b64url(format!("{kind}\n{message}").as_bytes());
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .cookie(Cookie::build(FLASH_COOKIE, value).path("/").http_only(true).finish())
        .finish()
}

/// The answer to a delete or remove button: to `done_to` with `done` as the flash or, when the
/// API refuses (a conflict such as "still used by…", or a validation error), back to `back` with
/// its reason. Other errors (404, 5xx) become error pages, so a 5xx keeps its logged error_id.
pub fn deleted<T>(r: Result<T, ApiError>, done_to: &str, done: &str, back: &str) -> UiResult {
    match r {
        Ok(_) => Ok(redirect(done_to, "ok", done)),
        Err(e @ (ApiError::Conflict { .. } | ApiError::Validation { .. })) => {
            Ok(redirect(back, "error", &e.body().message))
        }
        Err(e) => Err(e.into()),
    }
}

fn decode_flash(v: &str) -> Option<(String, String)> {
    let raw = crate::crypto::b64url_decode(v)?;
    let s = String::from_utf8(raw).ok()?;
    let (kind, msg) = s.split_once('\n')?;
    Some((kind.to_string(), msg.to_string()))
}

/// Clears the flash cookie once shown.
pub fn clear_flash(resp: &mut HttpResponse) {
    let mut c = Cookie::build(FLASH_COOKIE, "").path("/").finish();
    c.make_removal();
    let _ = resp.add_cookie(&c);
}

/// The JSON body of an API handler's response (creates and updates answer `HttpResponse`).
pub async fn json_of(resp: HttpResponse) -> serde_json::Value {
    let body = actix_web::body::to_bytes(resp.into_body()).await.unwrap_or_default();
    serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)
}

/// The id in an API handler's JSON answer.
pub async fn id_of(resp: HttpResponse) -> i64 {
    json_of(resp).await["id"].as_i64().unwrap_or(0)
}

/// What an API handler answers, as JSON: creates answer `HttpResponse` (201 + body), updates
/// `Json<T>`.
pub trait Answer {
    fn value(self) -> impl Future<Output = serde_json::Value>;
}

impl Answer for HttpResponse {
    async fn value(self) -> serde_json::Value {
        json_of(self).await
    }
}

impl<T: serde::Serialize> Answer for web::Json<T> {
    async fn value(self) -> serde_json::Value {
        serde_json::to_value(self.0).unwrap_or_default()
    }
}

impl Ui {
    /// Submits a form through an API handler, called as the signed-in user: converts the
    /// fields by `spec` and deserialises them into the handler's body type.
    /// `Ok(Err(errors))` means "show the form again" (conversion, validation or conflict
    /// errors); other API errors become error pages. `call` is the handler itself
    /// (`api::teams::create`) or a closure adding its path (`|st, who, b| api::teams::update(st,
    /// who, web::Path::from(id), b)`).
    pub async fn save<T, A, Fut>(
        &self,
        form: &Form,
        spec: &[(&str, form::Kind)],
        call: impl FnOnce(State, Caller, Body<T>) -> Fut,
    ) -> UiResult<Result<serde_json::Value, form::Errors>>
    where
        T: serde::de::DeserializeOwned,
        A: Answer,
        Fut: Future<Output = Result<A, ApiError>>,
    {
        match form.json(spec) {
            Ok(j) => self.save_value(j, call).await,
            Err(errors) => Ok(Err(errors)),
        }
    }

    /// [`Ui::save`] for a body the page built itself.
    pub async fn save_value<T, A, Fut>(
        &self,
        json: serde_json::Value,
        call: impl FnOnce(State, Caller, Body<T>) -> Fut,
    ) -> UiResult<Result<serde_json::Value, form::Errors>>
    where
        T: serde::de::DeserializeOwned,
        A: Answer,
        Fut: Future<Output = Result<A, ApiError>>,
    {
        let body = match form::body::<T>(json) {
            Ok(b) => b,
            Err(errors) => return Ok(Err(errors)),
        };
        match call(self.st.clone(), self.caller.clone(), Body(body)).await {
            Ok(answer) => Ok(Ok(answer.value().await)),
            Err(e) => match form::field_errors(&e) {
                Some(errors) => Ok(Err(errors)),
                None => Err(e.into()),
            },
        }
    }
}
