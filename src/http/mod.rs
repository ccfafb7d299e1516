//! The HTTP layer. [`endpoints`] is the one route table: it registers every API handler and
//! produces the OpenAPI document, so documentation cannot drift from the code.

pub mod actions;
pub mod api;
pub mod assets;
pub mod auth;
pub mod error;
pub mod health;
pub mod intake;
pub mod json;
pub mod openapi;
pub mod ui;

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::{App, Error, FromRequest, Handler, HttpRequest, HttpResponse, Responder, Route, web};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use slog::{Logger, error, info};

use self::error::ApiError;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::engine::EngineHandle;
use crate::store::Db;

/// Everything a handler may use.
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub log: Logger,
    pub throttle: auth::LoginThrottle,
    pub engine: EngineHandle,
    /// `server.public_base_url` without a trailing slash.
    pub base_url: String,
    /// The serialised OpenAPI document.
    pub openapi: Arc<String>,
    pub intake_limiter: intake::RateLimiter,
    pub route_cache: intake::RouteCache,
    pub senders: Arc<crate::notify::Senders>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
    pub fn secure_cookies(&self) -> bool {
        self.base_url.starts_with("https://")
    }

    /// Routes or teams changed: intake must not use cached copies.
    pub fn routes_changed(&self) {
        self.route_cache.clear();
    }
}

pub type State = web::Data<AppState>;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// A logged-in user (session or personal API token).
    User,
    /// A route intake token (or a personal token with `alerts:write`).
    RouteToken,
    /// Anyone.
    Public,
}

pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn referenced<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

fn inline<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    T::json_schema(g)
}

/// One API operation: its documentation and its handler.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub summary: &'static str,
    pub description: Option<&'static str>,
    pub tag: &'static str,
    pub auth: AuthKind,
    pub body: Option<SchemaFn>,
    pub query: Option<SchemaFn>,
    pub ok: (u16, Option<SchemaFn>),
    /// An error answer with its own body (the PagerDuty-compatible 400); others are `ErrorBody`.
    pub rejected: Option<(u16, SchemaFn)>,
    pub content_type: &'static str,
    route: Option<Route>,
}

impl Endpoint {
    pub fn body<T: JsonSchema>(&mut self) -> &mut Self {
        self.body = Some(referenced::<T>);
        self
    }
    pub fn query<T: JsonSchema>(&mut self) -> &mut Self {
        self.query = Some(inline::<T>);
        self
    }
    pub fn ok<T: JsonSchema>(&mut self, status: u16) -> &mut Self {
        self.ok = (status, Some(referenced::<T>));
        self
    }
    pub fn rejects<T: JsonSchema>(&mut self, status: u16) -> &mut Self {
        self.rejected = Some((status, referenced::<T>));
        self
    }
    pub fn returns(&mut self, status: u16, content_type: &'static str) -> &mut Self {
        self.ok = (status, None);
        self.content_type = content_type;
        self
    }
    pub fn public(&mut self) -> &mut Self {
        self.auth = AuthKind::Public;
        self
    }
    pub fn route_token(&mut self) -> &mut Self {
        self.auth = AuthKind::RouteToken;
        self
    }
    pub fn describe(&mut self, text: &'static str) -> &mut Self {
        self.description = Some(text);
        self
    }
}

/// Builds the table: `t.get(path, summary, handler).ok::<T>(200)`.
#[derive(Default)]
pub struct Table {
    pub endpoints: Vec<Endpoint>,
    tag: &'static str,
}

impl Table {
    fn tag(&mut self, tag: &'static str) {
        self.tag = tag;
    }
    fn add<F, Args>(&mut self, method: Method, path: &'static str, summary: &'static str, handler: F) -> &mut Endpoint
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::method(method.clone()).to(handler);
        self.endpoints.push(Endpoint {
            method,
            path,
            summary,
            description: None,
            tag: self.tag,
            auth: AuthKind::User,
            body: None,
            query: None,
            ok: (200, None),
            rejected: None,
            content_type: "application/json",
            route: Some(route),
        });
        let last = self.endpoints.len() - 1;
        &mut self.endpoints[last]
    }
    fn get<F, Args>(&mut self, path: &'static str, summary: &'static str, h: F) -> &mut Endpoint
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::GET, path, summary, h)
    }
    fn post<F, Args>(&mut self, path: &'static str, summary: &'static str, h: F) -> &mut Endpoint
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, summary, h)
    }
    fn put<F, Args>(&mut self, path: &'static str, summary: &'static str, h: F) -> &mut Endpoint
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PUT, path, summary, h)
    }
    fn delete<F, Args>(&mut self, path: &'static str, summary: &'static str, h: F) -> &mut Endpoint
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::DELETE, path, summary, h)
    }
}

/// EVERY API route, in registration order: intake first (actix matches in order and intake is
/// the hot path), literal segments before `{id}` ones.
pub fn endpoints() -> Vec<Endpoint> {
    use self::api::*;
    use crate::store;
    let mut t = Table::default();

    t.tag("operations");
    t.get("/healthz", "Liveness: the process is up", health::healthz).public().ok::<health::Health>(200);
    t.get("/readyz", "Readiness: database reachable, migrations applied, scheduler leader known", health::readyz)
        .public()
        .ok::<health::Health>(200);
    t.get("/metrics", "Prometheus metrics (bearer token when metrics.bearer_token is set)", health::metrics)
        .public()
        .describe("Prometheus text format: alerts received by source/outcome, open alerts by status, deliveries by channel type/outcome and unsent outbox rows, delivery latency, engine cycle duration, leader status and last-cycle age, HTTP requests and latency.")
        .returns(200, "text/plain; version=0.0.4");
    t.get("/api/version", "Version of this binary and database schema", health::version)
        .public()
        .ok::<health::Version>(200);
    t.get("/api/openapi.json", "This OpenAPI 3.1 document", health::openapi_json)
        .public()
        .returns(200, "application/json");

    t.tag("intake");
    const INTAKE_AUTH: &str = "Authenticate with the route's intake token (`Authorization: Bearer iri_…`, or `routing_key` in the body), \
        or a personal API token with `alerts:write` plus `?team=<slug>`. Answers one result per alert; alerts the route's matchers \
        reject carry `routing_error` and are not stored. 401 unknown token, 403 disabled route or wrong source, 413 body over \
        `intake.max_body_bytes`, 429 over `intake.rate_limit_per_minute`.";
    t.post("/api/integrations/alertmanager", "Prometheus Alertmanager webhook (v4)", intake::alertmanager)
        .route_token()
        .describe(INTAKE_AUTH)
        .body::<serde_json::Value>()
        .ok::<intake::IntakeResults>(200);
    t.post("/api/integrations/zabbix", "Zabbix webhook media type", intake::zabbix)
        .route_token()
        .describe(INTAKE_AUTH)
        .body::<serde_json::Value>()
        .ok::<intake::IntakeResults>(200);
    t.post(
        "/api/integrations/webhook",
        "Generic webhook, or a PagerDuty Events v2 event when the body has event_action",
        intake::webhook,
    )
    .route_token()
    .describe(INTAKE_AUTH)
    .body::<serde_json::Value>()
    .ok::<intake::IntakeResults>(200);
    t.post("/api/integrations/grafana", "Grafana alerting webhook", intake::grafana)
        .route_token()
        .describe(INTAKE_AUTH)
        .body::<serde_json::Value>()
        .ok::<intake::IntakeResults>(200);
    t.post("/api/integrations/incidentio", "incident.io incident webhooks", intake::incidentio)
        .public()
        .describe(
            "incident.io's `public_incident.incident_created_v2` and `…incident_updated_v2` events, signed with Standard \
             Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The signature, checked against the signing \
             secret of each route with source `incidentio`, picks the route (or send its intake token as \
             `Authorization: Bearer`). Triage and live incidents fire; closed and post-incident ones resolve; declined, \
             merged and canceled ones resolve saying so. The lead's Slack user id picks the assignee. 204; other event \
             types are answered 204 and ignored.",
        )
        .body::<serde_json::Value>()
        .returns(204, "");
    const EVENTS: &str = "PagerDuty Events API v2: `{routing_key, event_action: trigger|acknowledge|resolve, dedup_key, payload: {summary, \
        source, severity, …}}`. 202 `{status: success, dedup_key, incident_id}`; 400 `{status: \"invalid event\", message, errors}`.";
    t.post("/api/events/ingest", "PagerDuty Events API v2 compatible intake", intake::events)
        .route_token()
        .describe(EVENTS)
        .body::<serde_json::Value>()
        .ok::<intake::EventAccepted>(202)
        .rejects::<intake::InvalidEvent>(400);
    t.post("/v2/enqueue", "PagerDuty Events API v2 (point events.pagerduty.com clients here)", intake::events)
        .route_token()
        .describe(EVENTS)
        .body::<serde_json::Value>()
        .ok::<intake::EventAccepted>(202)
        .rejects::<intake::InvalidEvent>(400);
    t.post("/v2/change/enqueue", "PagerDuty Change Events: a change to the team's systems, paging nobody", intake::change_events)
        .route_token()
        .describe(
            "PagerDuty Change Events: `{routing_key, payload: {summary, source, timestamp, custom_details}, links, images}` on an \
             events route. Recorded on the route's team (`GET /api/teams/{id}/changes`, and beside its alerts); nobody is paged. \
             202 `{status: success, message}`; 400 `{status: \"invalid event\", message, errors}`.",
        )
        .body::<serde_json::Value>()
        .ok::<intake::ChangeAccepted>(202)
        .rejects::<intake::InvalidEvent>(400);

    t.tag("callbacks");
    t.post("/api/integrations/mattermost/actions", "Mattermost button clicks (signed context)", actions::mattermost::action)
        .public()
        .describe("Called by Mattermost when someone presses Acknowledge/Resolve on a bot-mode post. The context is HMAC-signed; the clicking Mattermost user must be linked (`mattermost_user_id`) and a responder.")
        .body::<serde_json::Value>()
        .returns(200, "application/json");
    t.post("/api/integrations/slack/actions", "Slack interactivity (X-Slack-Signature v0)", actions::slack::action)
        .public()
        .describe("Slack's interactivity request URL for bot-mode channels. Verified with the channel's signing secret within 5 minutes; buttons carry a signed value; the Slack user must be linked (`slack_user_id`).")
        .returns(200, "text/plain");
    t.post(
        "/api/integrations/telegram/{channel_id}",
        "Telegram webhook for button presses (secret_token header)",
        actions::telegram::webhook,
    )
    .public()
    .describe("Registered with setWebhook for channels with `updates: webhook`; answers with answerCallbackQuery.")
    .body::<serde_json::Value>()
    .returns(200, "application/json");
    t.post("/api/integrations/voice/{channel_id}/callback", "Voice provider status and keypad callbacks (signed)", actions::voice::callback)
        .public()
        .describe("The generic HTTP gateway posts `{call_id, status, digits}` signed with `X-IncidentRelay-Signature: sha256=HMAC(secret, timestamp.body)` and `X-IncidentRelay-Timestamp`; Twilio posts its form parameters with `X-Twilio-Signature`.")
        .returns(200, "application/json");
    t.post("/api/integrations/voice/personal/{method_id}/callback", "Status and keypad callbacks of calls to a person's voice contact method (signed)", actions::voice::personal_callback)
        .public()
        .describe("As the voice channel's callback, signed with the installation's phone provider secrets (`phone.secret`, `phone.auth_token`). A key acts only on the alert episode this method was called about, as the person called, if they are a responder of the alert's group.")
        .returns(200, "application/json");

    t.tag("auth");
    t.post("/api/auth/login", "Log in: returns a session token and sets the session cookie", auth::login)
        .public()
        .body::<auth::LoginBody>()
        .ok::<auth::LoginResponse>(200);
    t.post("/api/auth/logout", "Log out: revokes the session", auth::logout).ok::<Status>(200);
    t.get("/api/auth/me", "The current user with group memberships", auth::me).ok::<auth::Me>(200);

    t.tag("profile");
    t.get("/api/profile", "Your profile", profile::get).ok::<store::users::User>(200);
    t.put("/api/profile", "Update your profile (contact fields, chat user ids)", profile::update)
        .body::<profile::ProfileInput>()
        .ok::<store::users::User>(200);
    t.get("/api/profile/shifts", "Your coming shifts across every rotation, overrides included", profile::shifts)
        .query::<profile::ShiftsQuery>()
        .ok::<Vec<store::calendar::CalendarEvent>>(200);
    t.get("/api/profile/calendar-feeds", "Your personal iCalendar feeds (never the token)", profile::list_feeds)
        .ok::<Vec<store::calendar::PersonalFeed>>(200);
    t.post(
        "/api/profile/calendar-feeds",
        "A personal iCalendar feed of your shifts in every rotation (URL shown once)",
        profile::create_feed,
    )
    .body::<store::calendar::PersonalFeedInput>()
    .ok::<store::calendar::PersonalFeed>(201);
    t.delete("/api/profile/calendar-feeds/{id}", "Delete one of your personal feeds", profile::delete_feed)
        .ok::<Deleted>(200);
    t.get("/api/profile/contact-methods", "Your contact methods (secrets never shown)", contacts::list)
        .ok::<Vec<store::contacts::ContactMethod>>(200);
    t.post("/api/profile/contact-methods", "Add a contact method (send it a test before rules use it)", contacts::create)
        .describe(
            "`type`: email (an address, through smtp.*), sms and voice (an E.164 number, through phone.*), telegram (a chat \
             id, through telegram.bot_token), ntfy (a topic URL; `secret`: an optional access token), gotify (a server URL; \
             `secret`: the app token), webhook (a URL; `secret`: an optional whsec_ signing secret).",
        )
        .body::<store::contacts::ContactMethodInput>()
        .ok::<store::contacts::ContactMethod>(201);
    t.put(
        "/api/profile/contact-methods/{id}",
        "Update a contact method (a new value or secret must pass a test again)",
        contacts::update,
    )
    .body::<store::contacts::ContactMethodInput>()
    .ok::<store::contacts::ContactMethod>(200);
    t.delete("/api/profile/contact-methods/{id}", "Delete a contact method and its rules", contacts::delete)
        .ok::<Deleted>(200);
    t.post(
        "/api/profile/contact-methods/{id}/test",
        "Send a test message now; success verifies the method",
        contacts::test,
    )
    .ok::<contacts::MethodTest>(200);
    t.get("/api/profile/notification-rules", "Your notification rules", contacts::rules)
        .ok::<Vec<store::contacts::NotificationRule>>(200);
    t.post(
        "/api/profile/notification-rules",
        "Add a rule: a verified method, a delay after you are paged, severities",
        contacts::create_rule,
    )
    .body::<store::contacts::RuleInput>()
    .ok::<store::contacts::NotificationRule>(201);
    t.put("/api/profile/notification-rules/{id}", "Update a notification rule", contacts::update_rule)
        .body::<store::contacts::RuleInput>()
        .ok::<store::contacts::NotificationRule>(200);
    t.delete("/api/profile/notification-rules/{id}", "Delete a notification rule", contacts::delete_rule)
        .ok::<Deleted>(200);
    t.post("/api/profile/change-password", "Change your password (ends your other sessions)", profile::change_password)
        .body::<profile::ChangePassword>()
        .ok::<Status>(200);
    t.get("/api/profile/tokens", "Your personal API tokens (never the raw token)", profile::list_tokens)
        .ok::<Vec<store::tokens::ApiToken>>(200);
    t.post(
        "/api/profile/tokens",
        "Create a personal API token; the raw token is in this response only",
        profile::create_token,
    )
    .body::<store::tokens::TokenInput>()
    .ok::<store::tokens::ApiToken>(201);
    t.delete("/api/profile/tokens/{id}", "Revoke a personal API token", profile::delete_token).ok::<Deleted>(200);

    t.tag("users");
    t.get("/api/users", "Users visible to you (sharing a group)", users::list).ok::<Vec<store::users::User>>(200);
    t.get("/api/admin/users", "All users (admin)", users::admin_list).ok::<Vec<store::users::User>>(200);
    t.post("/api/admin/users", "Create a user (admin)", users::create)
        .body::<store::users::UserInput>()
        .ok::<store::users::User>(201);
    t.get("/api/admin/users/{id}", "A user (admin)", users::get).ok::<store::users::User>(200);
    t.put("/api/admin/users/{id}", "Update a user (admin)", users::update)
        .body::<store::users::UserInput>()
        .ok::<store::users::User>(200);
    t.delete("/api/admin/users/{id}", "Delete a user (admin)", users::delete).ok::<Deleted>(200);
    t.get("/api/admin/users/{id}/contact-methods", "A user's contact methods (admin)", contacts::admin_list)
        .ok::<Vec<store::contacts::ContactMethod>>(200);
    t.post("/api/admin/users/{id}/contact-methods", "Add a contact method for a user (admin)", contacts::admin_create)
        .body::<store::contacts::ContactMethodInput>()
        .ok::<store::contacts::ContactMethod>(201);
    t.get("/api/admin/audit-logs", "The audit log, newest first (admin)", users::audit_logs)
        .query::<users::AuditQuery>()
        .ok::<Vec<store::audit::AuditLog>>(200);

    t.tag("groups");
    t.get("/api/groups", "Groups you belong to (all for admins)", groups::list).ok::<Vec<store::groups::Group>>(200);
    t.post("/api/groups", "Create a group (admin)", groups::create)
        .body::<store::groups::GroupInput>()
        .ok::<store::groups::Group>(201);
    t.get("/api/groups/users/{membership_id}", "A group membership", groups::get_member)
        .ok::<store::groups::Membership>(200);
    t.put("/api/groups/users/{membership_id}", "Change a member's role", groups::update_member)
        .body::<store::groups::MembershipInput>()
        .ok::<store::groups::Membership>(200);
    t.delete("/api/groups/users/{membership_id}", "Remove a member from a group", groups::remove_member)
        .ok::<Deleted>(200);
    t.get("/api/groups/{id}", "A group", groups::get).ok::<store::groups::Group>(200);
    t.put("/api/groups/{id}", "Update a group", groups::update)
        .body::<store::groups::GroupInput>()
        .ok::<store::groups::Group>(200);
    t.delete("/api/groups/{id}", "Delete a group without teams (admin)", groups::delete).ok::<Deleted>(200);
    t.get("/api/groups/{id}/users", "Members of a group", groups::members).ok::<Vec<store::groups::Membership>>(200);
    t.post("/api/groups/{id}/users", "Add a user to a group with a role", groups::add_member)
        .body::<store::groups::MembershipInput>()
        .ok::<store::groups::Membership>(201);

    t.tag("teams");
    t.get("/api/teams", "Teams in your groups", teams::list)
        .query::<teams::TeamQuery>()
        .ok::<Vec<store::teams::Team>>(200);
    t.post("/api/teams", "Create a team", teams::create)
        .body::<store::teams::TeamInput>()
        .ok::<store::teams::Team>(201);
    t.get("/api/teams/users/{membership_id}", "A team membership", teams::get_member)
        .ok::<store::teams::TeamMember>(200);
    t.put("/api/teams/users/{membership_id}", "Update a team membership", teams::update_member)
        .body::<store::teams::TeamMemberInput>()
        .ok::<store::teams::TeamMember>(200);
    t.delete("/api/teams/users/{membership_id}", "Remove a member from a team", teams::remove_member)
        .ok::<Deleted>(200);
    t.get("/api/teams/{id}", "A team", teams::get).ok::<store::teams::Team>(200);
    t.put("/api/teams/{id}", "Update a team", teams::update)
        .body::<store::teams::TeamInput>()
        .ok::<store::teams::Team>(200);
    t.delete("/api/teams/{id}", "Delete a team and everything it owns (no open alerts)", teams::delete)
        .ok::<Deleted>(200);
    t.get("/api/teams/{id}/users", "Members of a team", teams::members).ok::<Vec<store::teams::TeamMember>>(200);
    t.get("/api/teams/{id}/changes", "The team's change events, newest first", teams::changes)
        .query::<teams::ChangeQuery>()
        .ok::<Vec<store::changes::ChangeEvent>>(200);
    t.post(
        "/api/teams/{id}/users",
        "Add people to a team (and, in the same step, to its group and a rotation)",
        teams::add_member,
    )
    .describe(
        "One person (`user_id`, answered with the membership) or several (`user_ids`, answered with the list). \
             `group_role` first adds those not yet in the team's group to it with that role (an editor may add only \
             people who share one of the editor's groups); `rotation_id` appends them to a rotation of the team. \
             All of it happens, or none.",
    )
    .body::<store::teams::TeamMemberInput>()
    .ok::<teams::AddedMembers>(201);

    t.tag("rotations");
    t.get("/api/rotations", "Rotations with who is on call now", rotations::list)
        .query::<TeamFilter>()
        .ok::<Vec<store::rotations::Rotation>>(200);
    t.post("/api/rotations", "Create a rotation", rotations::create)
        .body::<store::rotations::RotationInput>()
        .ok::<store::rotations::Rotation>(201);
    t.get("/api/rotations/members/{member_id}", "A rotation member", rotations::get_member)
        .ok::<store::rotations::RotationMember>(200);
    t.put("/api/rotations/members/{member_id}", "Change a rotation member (user, position)", rotations::update_member)
        .body::<store::rotations::MemberInput>()
        .ok::<store::rotations::RotationMember>(200);
    t.delete("/api/rotations/members/{member_id}", "Remove a rotation member", rotations::remove_member)
        .ok::<Deleted>(200);
    t.get("/api/rotations/layers/{layer_id}", "A rotation layer", rotations::get_layer)
        .ok::<store::rotations::Layer>(200);
    t.put(
        "/api/rotations/layers/{layer_id}",
        "Change a layer (handoffs, members, restrictions, position)",
        rotations::update_layer,
    )
    .body::<store::rotations::LayerInput>()
    .ok::<store::rotations::Layer>(200);
    t.delete(
        "/api/rotations/layers/{layer_id}",
        "Delete a layer (a rotation keeps at least one)",
        rotations::delete_layer,
    )
    .ok::<Deleted>(200);
    t.get("/api/rotations/overrides/{id}", "An override", rotations::get_override)
        .ok::<store::rotations::Override>(200);
    t.delete("/api/rotations/overrides/{id}", "Delete an override", rotations::delete_override).ok::<Deleted>(200);
    t.get("/api/rotations/{id}", "A rotation with who is on call now", rotations::get)
        .ok::<store::rotations::Rotation>(200);
    t.put("/api/rotations/{id}", "Update a rotation", rotations::update)
        .body::<store::rotations::RotationInput>()
        .ok::<store::rotations::Rotation>(200);
    t.delete("/api/rotations/{id}", "Delete a rotation not used by routes or policies", rotations::delete)
        .ok::<Deleted>(200);
    t.get("/api/rotations/{id}/members", "Members in position order", rotations::members)
        .ok::<Vec<store::rotations::RotationMember>>(200);
    t.post("/api/rotations/{id}/members", "Add a member (position defaults to last)", rotations::add_member)
        .body::<store::rotations::MemberInput>()
        .ok::<store::rotations::RotationMember>(201);
    t.get(
        "/api/rotations/{id}/layers",
        "Layers by position; the highest covering an instant decides it",
        rotations::layers,
    )
    .ok::<Vec<store::rotations::Layer>>(200);
    t.post(
        "/api/rotations/{id}/layers",
        "Add a layer (above the others unless position says otherwise)",
        rotations::create_layer,
    )
    .body::<store::rotations::LayerInput>()
    .ok::<store::rotations::Layer>(201);
    t.get("/api/rotations/{id}/gaps", "Stretches in the next days with nobody on call", rotations::gaps)
        .query::<rotations::GapsQuery>()
        .ok::<Vec<rotations::Gap>>(200);
    t.post(
        "/api/rotations/{id}/preview",
        "The final schedule a proposed set of layers would give (nothing is saved)",
        rotations::preview,
    )
    .body::<rotations::PreviewInput>()
    .ok::<rotations::Preview>(200);
    t.get("/api/rotations/{id}/swap-requests", "Requests for cover, the coming ones first", rotations::swap_requests)
        .ok::<Vec<store::swaps::SwapRequest>>(200);
    t.post(
        "/api/rotations/{id}/swap-requests",
        "Ask for cover of your own shifts (the rotation's members hear of it)",
        rotations::create_swap_request,
    )
    .body::<store::swaps::SwapInput>()
    .ok::<store::swaps::SwapRequest>(201);
    t.post(
        "/api/rotations/{id}/swap-requests/{request_id}/accept",
        "Take a request over: an override for you",
        rotations::accept_swap_request,
    )
    .ok::<store::swaps::SwapRequest>(200);
    t.post(
        "/api/rotations/{id}/swap-requests/{request_id}/cancel",
        "Withdraw a request (its author, or an editor)",
        rotations::cancel_swap_request,
    )
    .ok::<store::swaps::SwapRequest>(200);
    t.get("/api/rotations/{id}/overrides", "Overrides of a rotation", rotations::overrides)
        .ok::<Vec<store::rotations::Override>>(200);
    t.post("/api/rotations/{id}/overrides", "Add an override (beats the rotation)", rotations::add_override)
        .body::<store::rotations::OverrideInput>()
        .ok::<store::rotations::Override>(201);
    t.get(
        "/api/rotations/{id}/oncall",
        "Who is on call at `at` (default now) and the next `count` shifts",
        rotations::oncall,
    )
    .query::<rotations::OncallQuery>()
    .ok::<Vec<rotations::ShiftOut>>(200);

    t.tag("calendar");
    t.get("/api/calendar", "On-call calendar: rotation shifts split where overrides cut them", calendar::events)
        .query::<calendar::CalendarQuery>()
        .ok::<Vec<store::calendar::CalendarEvent>>(200);
    t.get("/api/calendar/feeds", "Your iCalendar subscription feeds (never the token)", calendar::list_feeds)
        .ok::<Vec<store::calendar::Feed>>(200);
    t.post(
        "/api/calendar/feeds",
        "Create an iCalendar feed of a team's on-call shifts; the token and URL are in this response only",
        calendar::create_feed,
    )
    .body::<store::calendar::FeedInput>()
    .ok::<store::calendar::Feed>(201);
    t.delete("/api/calendar/feeds/{id}", "Delete a calendar feed", calendar::delete_feed).ok::<Deleted>(200);
    t.get("/api/calendar/feeds/{token}.ics", "The iCalendar feed (the token in the path is the credential)", calendar::ics)
        .public()
        .describe("RFC 5545 calendar of the team's shifts from 30 days ago to 180 days ahead, times in UTC, one stable UID per shift. Subscribe to it from Google Calendar, Outlook or Thunderbird.")
        .returns(200, "text/calendar");

    t.tag("channels");
    t.get("/api/channels/types", "Supported channel types", channels::types).ok::<Vec<crate::notify::ChannelKind>>(200);
    t.get("/api/channels", "Channels (secrets masked)", channels::list)
        .query::<TeamFilter>()
        .ok::<Vec<store::channels::Channel>>(200);
    t.post("/api/channels", "Create a channel", channels::create)
        .body::<crate::domain::channel::ChannelInput>()
        .ok::<store::channels::Channel>(201);
    t.get("/api/channels/{id}", "A channel (secrets masked)", channels::get).ok::<store::channels::Channel>(200);
    t.put("/api/channels/{id}", "Update a channel (partial config is merged)", channels::update)
        .body::<crate::domain::channel::ChannelInput>()
        .ok::<store::channels::Channel>(200);
    t.delete("/api/channels/{id}", "Delete a channel", channels::delete).ok::<Deleted>(200);
    t.post(
        "/api/channels/{id}/test",
        "Send a test notification now; answers with the provider's reply",
        channels::test,
    )
    .ok::<channels::TestResult>(200);

    t.tag("routes");
    t.get("/api/routes", "Routes", routes::list).query::<TeamFilter>().ok::<Vec<store::routes::Route>>(200);
    t.post("/api/routes", "Create a route; the intake token is in this response only", routes::create)
        .body::<store::routes::RouteInput>()
        .ok::<store::routes::Route>(201);
    t.get("/api/routes/{id}", "A route", routes::get).ok::<store::routes::Route>(200);
    t.put("/api/routes/{id}", "Update a route", routes::update)
        .body::<store::routes::RouteInput>()
        .ok::<store::routes::Route>(200);
    t.delete("/api/routes/{id}", "Delete a route", routes::delete).ok::<Deleted>(200);
    t.post(
        "/api/routes/{id}/intake-token",
        "Regenerate the intake token; the old one stops working at once, or after `grace_seconds` (at most 24 h)",
        routes::regenerate_token,
    )
    .body::<routes::RegenerateInput>()
    .ok::<store::routes::Route>(200);
    t.post(
        "/api/routes/{id}/simulate",
        "Dry run: what intake would do with a payload (nothing is stored)",
        routes::simulate,
    )
    .body::<serde_json::Value>()
    .ok::<routes::Simulation>(200);

    t.tag("escalation-policies");
    t.get("/api/escalation-policies", "Escalation policies", policies::list)
        .query::<TeamFilter>()
        .ok::<Vec<store::policies::Policy>>(200);
    t.post("/api/escalation-policies", "Create an escalation policy", policies::create)
        .body::<store::policies::PolicyInput>()
        .ok::<store::policies::Policy>(201);
    t.get("/api/escalation-policies/{id}", "An escalation policy", policies::get).ok::<store::policies::Policy>(200);
    t.put("/api/escalation-policies/{id}", "Update an escalation policy (rules replace all rules)", policies::update)
        .body::<store::policies::PolicyInput>()
        .ok::<store::policies::Policy>(200);
    t.delete("/api/escalation-policies/{id}", "Delete an escalation policy not used by routes", policies::delete)
        .ok::<Deleted>(200);

    t.tag("alerts");
    t.get("/api/alerts", "Alerts, newest first, filtered and paginated", alerts::list)
        .query::<alerts::AlertQuery>()
        .ok::<alerts::AlertPage>(200);
    t.get("/api/alerts/{id}", "An alert", alerts::get).ok::<store::alerts::Alert>(200);
    t.post("/api/alerts/{id}/ack", "Acknowledge (responder; idempotent): stops reminders and escalation", alerts::ack)
        .ok::<store::alerts::Alert>(200);
    t.post(
        "/api/alerts/{id}/resolve",
        "Resolve (responder; idempotent): notifies every target paged before",
        alerts::resolve,
    )
    .ok::<store::alerts::Alert>(200);
    t.post("/api/alerts/{id}/reassign", "Reassign to a member of the alert's group (responder)", alerts::reassign)
        .describe(
            "The old assignee's unsent pages are cancelled and the new one is paged now through the route's channels; \
             an acknowledged alert fires again with its timers starting over. 409 for a resolved or silenced alert.",
        )
        .body::<alerts::ReassignInput>()
        .ok::<store::alerts::Alert>(200);
    t.post(
        "/api/alerts/{id}/escalate",
        "Escalate now (responder): the policy's next step, or the next rotation member",
        alerts::escalate,
    )
    .ok::<store::alerts::Alert>(200);
    t.post("/api/alerts/{id}/snooze", "Snooze (responder): acknowledged until then, then firing again", alerts::snooze)
        .describe(
            "`minutes` (1 … 10080) or `until` (RFC 3339, at most 7 days away). When it ends the alert fires again from \
             its current step and pages again; a new acknowledgement, an unacknowledgement or a resolve ends it first.",
        )
        .body::<alerts::SnoozeInput>()
        .ok::<store::alerts::Alert>(200);
    t.post(
        "/api/alerts/{id}/unack",
        "Unacknowledge (responder): firing again, its current step paged now",
        alerts::unack,
    )
    .ok::<store::alerts::Alert>(200);
    t.get("/api/alerts/{id}/notes", "The alert's notes, oldest first", alerts::notes)
        .ok::<Vec<store::timeline::AlertEvent>>(200);
    t.post(
        "/api/alerts/{id}/notes",
        "Add a note to the alert's timeline (responder; plain text, 4,000 characters)",
        alerts::add_note,
    )
    .body::<alerts::NoteInput>()
    .ok::<store::timeline::AlertEvent>(201);
    t.get("/api/alerts/{id}/events", "The alert's timeline", alerts::events)
        .ok::<Vec<store::timeline::AlertEvent>>(200);
    t.get("/api/alerts/{id}/deliveries", "The alert's notifications (outbox rows) with failures", alerts::deliveries)
        .ok::<Vec<store::outbox::Delivery>>(200);

    t.tag("silences");
    t.get("/api/silences", "Silences (active, scheduled, expired)", silences::list)
        .query::<TeamFilter>()
        .ok::<Vec<store::silences::Silence>>(200);
    t.post("/api/silences", "Create a silence (responder)", silences::create)
        .body::<store::silences::SilenceInput>()
        .ok::<store::silences::Silence>(201);
    t.get("/api/silences/{id}", "A silence", silences::get).ok::<store::silences::Silence>(200);
    t.put("/api/silences/{id}", "Update a silence (responder)", silences::update)
        .body::<store::silences::SilenceInput>()
        .ok::<store::silences::Silence>(200);
    t.delete("/api/silences/{id}", "Delete a silence (responder)", silences::delete).ok::<Deleted>(200);

    t.endpoints
}

/// Registers every route: the API table, the docs and assets.
///
/// Intake endpoints sit outside `Compress`: their answers are a few hundred bytes for a
/// machine, and the middleware's negotiation and body wrapping alone cost 4 % of an HTTP
/// worker's instructions per alert even when it compressed nothing (callgrind). Everything
/// else (pages, lists, OpenAPI) is compressed when the client asks and the answer is large.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut compressed = Vec::new();
    for mut ep in endpoints() {
        match (ep.route.take(), ep.auth) {
            (Some(route), AuthKind::RouteToken) => {
                cfg.route(ep.path, route);
            }
            (Some(route), _) => compressed.push((ep.path, route)),
            (None, _) => {}
        }
    }
    let rest = move |cfg: &mut web::ServiceConfig| {
        for (path, route) in compressed {
            cfg.route(path, route);
        }
        cfg.route("/docs", web::get().to(assets::swagger_page));
        cfg.route("/a/{token}", web::get().to(actions::links::confirm));
        cfg.route("/a/{token}", web::post().to(actions::links::perform));
        cfg.route("/assets/{path:.*}", web::get().to(assets::asset));
        ui::configure(cfg);
    };
    cfg.service(
        web::scope("")
            .configure(rest)
            .wrap_fn(|req, srv| {
                let fut = srv.call(req);
                async move {
                    let mut res = fut.await?;
                    skip_compression_if_small(&mut res);
                    Ok(res)
                }
            })
            .wrap(actix_web::middleware::Compress::default()),
    );
    cfg.default_service(web::to(not_found));
}

/// 404 for unknown paths; 405 when the path exists for another method. A browser asking for a
/// page outside the API gets the UI's error page, not JSON.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, ui::UiError> {
    let path = req.path();
    let methods: Vec<String> =
        endpoints().iter().filter(|e| path_matches(e.path, path)).map(|e| e.method.as_str().to_string()).collect();
    let e = if methods.is_empty() {
        ApiError::NotFound(format!("no such page or endpoint: {path}"))
    } else {
        let allow = methods.join(", ");
        ApiError::MethodNotAllowed { message: format!("{} is not allowed here; use {allow}", req.method()), allow }
    };
    let api = ["/api/", "/v2/", "/metrics", "/healthz", "/readyz", "/assets/"].iter().any(|p| path.starts_with(p));
    let html = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    Err(if html && !api { ui::UiError::Api(e) } else { ui::UiError::Json(e) })
}

fn path_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_end_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    t.len() == p.len() && t.iter().zip(p.iter()).all(|(a, b)| a.starts_with('{') || a == b)
}

/// Routes `req` by its path without trailing or doubled slashes (`/v2/enqueue/` → `/v2/enqueue`,
/// `//api//alerts` → `/api/alerts`), query kept. What actix's `NormalizePath::trim()` does, but
/// a path that needs nothing (nearly every request) costs one scan instead of a regex
/// replacement and a copy: that was 9 % of an HTTP worker's instructions per duplicate alert
/// (callgrind).
fn normalize_path(req: &mut ServiceRequest) {
    let Some(clean) = normalized(req.path()) else { return };
    let mut parts = req.head().uri.clone().into_parts();
    let path_and_query = match parts.path_and_query.as_ref().and_then(|pq| pq.query()) {
        Some(query) => format!("{clean}?{query}"),
        None => clean,
    };
    let Ok(path_and_query) = actix_web::http::uri::PathAndQuery::try_from(path_and_query) else { return };
    parts.path_and_query = Some(path_and_query);
    let Ok(uri) = actix_web::http::Uri::from_parts(parts) else { return };
    // Before routing: nothing has been matched yet, so no segment needs re-indexing.
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
}

/// `path` without trailing or doubled slashes (`/` for slashes only); `None` when it has none.
fn normalized(path: &str) -> Option<String> {
    let trailing = path.len() > 1 && path.ends_with('/');
    if !trailing && !path.contains("//") {
        return None;
    }
    let mut clean = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        clean.push('/');
        clean.push_str(segment);
    }
    if clean.is_empty() {
        clean.push('/');
    }
    Some(clean)
}

/// Hides secrets that travel in paths (calendar feed tokens, one-click action tokens).
pub fn redact_path(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("/api/calendar/feeds/")
        && rest.ends_with(".ics")
    {
        return "/api/calendar/feeds/<redacted>.ics".into();
    }
    if path.starts_with("/a/") {
        return "/a/<redacted>".into();
    }
    path.to_string()
}

/// Builds the actix application for one worker.
pub fn app(
    state: State,
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let log = state.log.clone();
    let log_requests = state.config.logging.requests;
    let metrics = state.metrics.clone();
    let https = state.secure_cookies();
    App::new()
        .app_data(state)
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found("object").into()))
        .app_data(web::JsonConfig::default().error_handler(|e, _| ApiError::field("body", &e.to_string()).into()))
        .configure(configure)
        .wrap(
            actix_web::middleware::DefaultHeaders::new()
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("X-Frame-Options", "DENY"))
                .add(("Referrer-Policy", "same-origin")),
        )
        // `/v2/enqueue/` is `/v2/enqueue` (pypd and other clients add the slash): every API,
        // intake and UI path is routed without trailing (or doubled) slashes.
        .wrap_fn(|mut req, srv| {
            normalize_path(&mut req);
            srv.call(req)
        })
        .wrap_fn(move |req, srv| {
            let start = Instant::now();
            let method = req.method().clone();
            // Path and address are only needed for log lines: no allocation when they are off.
            let detail = log_requests.then(|| {
                (redact_path(req.path()), req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default())
            });
            let log = log.clone();
            let metrics = metrics.clone();
            let fut = srv.call(req);
            async move {
                let mut res = fut.await?;
                harden(&mut res, https);
                let status = res.status().as_u16();
                metrics.http(method.as_str(), status, start.elapsed().as_secs_f64());
                if let Some(ApiError::Internal { error_id, detail: cause }) = res.response().error().and_then(|e| {
                    e.as_error::<ApiError>().or_else(|| e.as_error::<ui::UiError>().and_then(ui::UiError::api))
                })
                {
                    let path = redact_path(res.request().path());
                    error!(log, "internal error"; "error_id" => error_id, "error" => cause, "method" => method.as_str(), "path" => path);
                }
                if let Some((path, peer)) = detail {
                    let ms = start.elapsed().as_secs_f64() * 1000.0;
                    info!(log, "request"; "method" => method.as_str(), "path" => path, "status" => status, "ms" => format!("{ms:.2}"), "ip" => peer);
                }
                Ok(res)
            }
        })
}

/// The page policy: everything from this origin only, no inline script, no framing, forms
/// post only here. Swagger UI (`/docs`) also needs inline styles and data: images.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";
const CSP_DOCS: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                        connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Responses smaller than this go out uncompressed, whatever the client asks: gzip saves next
/// to nothing on a few hundred bytes but costs a compressor's setup each time. (Intake answers
/// never reach `Compress` at all: see [`configure`]. When they still did, compressing them had
/// cut `../shared/bench/intake-wrk.sh` with `Accept-Encoding: gzip`, as every real sender
/// asks, to 4,610 new alerts/s and 6,400 duplicates/s against 8,900 and 19,200.)
const COMPRESS_MIN_BYTES: u64 = 1024;

/// Marks a small response as not to be compressed (see [`COMPRESS_MIN_BYTES`]). Runs inside
/// actix's `Compress`, which leaves a response that already has a `Content-Encoding` alone;
/// [`harden`] takes the mark off again.
fn skip_compression_if_small<B: MessageBody>(res: &mut ServiceResponse<B>) {
    use actix_web::body::BodySize;
    use actix_web::http::header::{CONTENT_ENCODING, HeaderValue};
    let small = matches!(res.response().body().size(), BodySize::Sized(n) if n < COMPRESS_MIN_BYTES);
    if small && !res.headers().contains_key(CONTENT_ENCODING) {
        res.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static("identity"));
    }
}

/// Security headers every answer gets: a Content-Security-Policy on HTML pages,
/// Strict-Transport-Security behind https, and `SameSite` (plus `Secure` behind https) on every
/// cookie, whichever handler set it.
fn harden<B>(res: &mut ServiceResponse<B>, https: bool) {
    use actix_web::cookie::{Cookie, SameSite};
    use actix_web::http::header::{self, HeaderValue};
    // The mark of `skip_compression_if_small`: the body went out as it is.
    if res.headers().get(header::CONTENT_ENCODING).is_some_and(|v| v == "identity") {
        res.headers_mut().remove(header::CONTENT_ENCODING);
    }
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let csp = if res.request().path() == "/docs" { CSP_DOCS } else { CSP };
    let cookies: Vec<HeaderValue> = res.headers().get_all(header::SET_COOKIE).cloned().collect();
    let headers = res.headers_mut();
    if html {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    }
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    if cookies.is_empty() {
        return;
    }
    headers.remove(header::SET_COOKIE);
    for raw in cookies {
        let Some(mut c) = raw.to_str().ok().and_then(|s| Cookie::parse(s.to_string()).ok()) else {
            headers.append(header::SET_COOKIE, raw);
            continue;
        };
        if c.same_site().is_none() {
            c.set_same_site(SameSite::Lax);
        }
        if https {
            c.set_secure(true);
        }
        match HeaderValue::from_str(&c.to_string()) {
            Ok(v) => headers.append(header::SET_COOKIE, v),
            Err(_) => headers.append(header::SET_COOKIE, raw),
        }
    }
}

/// Plain 200 for simple actions.
pub fn ok_status(status: &str) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": status }))
}

#[cfg(test)]
mod tests {
    use super::normalized;

    #[test]
    fn paths_lose_trailing_and_doubled_slashes_and_clean_ones_are_left_alone() {
        assert_eq!(normalized("/v2/enqueue/").as_deref(), Some("/v2/enqueue"));
        assert_eq!(normalized("//api//alerts///").as_deref(), Some("/api/alerts"));
        assert_eq!(normalized("//").as_deref(), Some("/"));
        assert_eq!(normalized("/"), None);
        assert_eq!(normalized("/api/integrations/alertmanager"), None);
        assert_eq!(normalized("*"), None);
    }
}
