//! Intake in the store: for each incoming alert, load the facts (`load`), let
//! `domain::lifecycle::decide` choose, and apply the plan (`apply`) — the alert row, its
//! timeline, its outbox rows and its timer — in the caller's write transaction. The route
//! simulator runs the same load and decision without applying.

use serde_json::json;

use super::alerts::{self, Alert, Candidate};
use super::audit::Actor;
use super::outbox::{self, EventKind};
use super::routes::Route;
use super::timeline::{add_event, repeat_event};
use super::users::UserRef;
use super::{Read, Result, StoreError, Tx, groups, lifecycle as apply_lifecycle, teams, users};
use crate::domain::alert::{AlertStatus, IncomingAlert};
use crate::domain::lifecycle::{
    self, AlertState, IntakeFacts, IntakePlan, IntakeResult, Options, Outcome, RouteRules, SilenceRule, text,
};
use crate::domain::matcher::Matchers;
use crate::domain::routing;
use crate::domain::time::Ts;

/// A route ready for intake: its settings and compiled matchers.
#[derive(Debug, Clone)]
pub struct RouteCtx {
    pub route: Route,
    pub matchers: Matchers,
    pub team_slug: String,
}

impl RouteCtx {
    pub fn load(c: &Read<'_>, route: Route) -> Result<RouteCtx> {
        let matchers = Matchers::parse(&route.matchers, "matchers").map_err(StoreError::Invalid)?;
        let team_slug = teams::get(c, route.team_id)?.slug;
        Ok(RouteCtx { route, matchers, team_slug })
    }

    fn rules(&self) -> RouteRules<'_> {
        RouteRules { source: self.route.source, matchers: &self.matchers, group_by: &self.route.group_by }
    }

    /// Who intake writes as on the timeline: `alertmanager (route prometheus)`.
    fn actor(&self) -> String {
        format!("{} (route {})", self.route.source.as_str(), self.route.name)
    }
}

/// Where an intake request's alerts go: the route owning the token (shared with the route
/// cache, not copied per request), or (personal API token with a team hint) the first of the
/// team's routes whose matchers accept each alert.
#[derive(Debug, Clone)]
pub enum IntakeTarget {
    Route(std::sync::Arc<RouteCtx>),
    Team { team_id: i64, team_slug: String, routes: Vec<RouteCtx> },
}

/// What the decision for one incoming alert reads, as loaded.
struct Loaded {
    open: Option<Candidate>,
    group: Option<AlertState>,
    recent: Option<Candidate>,
    silences: Vec<SilenceRule>,
    firing_members: Vec<String>,
}

/// Loads the facts: the open alert for the key; and only when the decision can look at them
/// (a trigger without one) the group candidate, the recently resolved alert and the team's
/// silences; for a resolve on a group alert, its members still firing.
fn load(c: &Read<'_>, now: Ts, rc: &RouteCtx, a: &IncomingAlert, key: &str, opts: &Options) -> Result<Loaded> {
    let route = &rc.route;
    let grouping = !route.group_by.is_empty();
    // A trigger that may reopen reads the reopen candidate with the open alert: one statement.
    let (open, recent) = if a.reopen && a.action != crate::domain::alert::Action::Resolve {
        alerts::find_open_or_recent(c, route.id, key, grouping, lifecycle::reopen_window_start(now, opts))?
    } else {
        (alerts::find_open(c, route.id, key, grouping)?, None)
    };
    let mut loaded = Loaded { open, group: None, recent: None, silences: Vec::new(), firing_members: Vec::new() };
    if let Some(open) = &loaded.open {
        if a.action == crate::domain::alert::Action::Resolve && open.state.group_key.is_some() {
            loaded.firing_members = alerts::firing_members(c, open.state.id)?;
        }
        return Ok(loaded);
    }
    if !IntakeFacts::needs_more(a, None) || routing::accept(&rc.matchers, a, route.source.as_str()).is_err() {
        return Ok(loaded);
    }
    if let Some(group_key) = routing::group_key(&route.group_by, &a.labels) {
        loaded.group =
            alerts::find_group(c, route.id, &group_key, lifecycle::group_window_start(now, opts))?.map(|g| g.state);
        if loaded.group.is_some() {
            return Ok(loaded);
        }
    }
    loaded.silences = apply_lifecycle::silence_rules(c, route.team_id, now)?;
    loaded.recent = recent;
    Ok(loaded)
}

/// Loads and decides (reads only).
fn plan(
    c: &Read<'_>,
    now: Ts,
    rc: &RouteCtx,
    a: &IncomingAlert,
    key: &str,
    opts: &Options,
) -> Result<(IntakePlan, Loaded)> {
    let loaded = load(c, now, rc, a, key, opts)?;
    let facts = IntakeFacts {
        incoming: a,
        dedup_key: key,
        route: rc.rules(),
        open: loaded.open.as_ref().map(|o| &o.state),
        group: loaded.group.as_ref(),
        recent: loaded.recent.as_ref().map(|r| &r.state),
        silences: &loaded.silences,
        firing_members: &loaded.firing_members,
    };
    Ok((lifecycle::decide(&facts, now, opts), loaded))
}

/// What intake would do with `a` on this route (the route simulator): the dedup key and the
/// plan.
pub fn simulate(
    c: &Read<'_>,
    now: Ts,
    rc: &RouteCtx,
    a: &IncomingAlert,
    opts: &Options,
) -> Result<(String, IntakePlan)> {
    let key = lifecycle::dedup_key(a);
    let (plan, _) = plan(c, now, rc, a, &key, opts)?;
    Ok((key, plan))
}

/// Ingests a request's alerts in the caller's transaction.
pub fn ingest_all(
    c: &Tx<'_>,
    now: Ts,
    target: &IntakeTarget,
    list: &[IncomingAlert],
    opts: &Options,
) -> Result<Vec<IntakeResult>> {
    let mut out = Vec::with_capacity(list.len());
    for a in list {
        let r = match target {
            IntakeTarget::Route(rc) => ingest(c, now, rc, a, opts)?,
            IntakeTarget::Team { team_id, team_slug, routes } => match team_route(c, routes, a)? {
                Some(rc) => ingest(c, now, rc, a, opts)?,
                None => {
                    let source = routes.first().map(|r| r.route.source.as_str()).unwrap_or("");
                    let why = format!("no enabled {source} route of team {team_slug} matches this alert");
                    let mut r = unrouted(None, why, Some(lifecycle::dedup_key(a)));
                    r.team_id = Some(*team_id);
                    r.team_slug = Some(team_slug.clone());
                    r
                }
            },
        };
        out.push(r);
    }
    Ok(out)
}

/// The first of a team's routes that has the alert open or whose matchers accept it.
fn team_route<'a>(c: &Read<'_>, routes: &'a [RouteCtx], a: &IncomingAlert) -> Result<Option<&'a RouteCtx>> {
    let key = lifecycle::dedup_key(a);
    for rc in routes {
        let open = alerts::find_open(c, rc.route.id, &key, !rc.route.group_by.is_empty())?;
        if open.is_some() || routing::accept(&rc.matchers, a, rc.route.source.as_str()).is_ok() {
            return Ok(Some(rc));
        }
    }
    Ok(None)
}

/// Decides and applies one incoming alert.
pub fn ingest(c: &Tx<'_>, now: Ts, rc: &RouteCtx, a: &IncomingAlert, opts: &Options) -> Result<IntakeResult> {
    let key = lifecycle::dedup_key(a);
    let (plan, loaded) = plan(c, now, rc, a, &key, opts)?;
    apply(c, now, rc, a, &key, plan, loaded, opts)
}

/// Carries out a plan.
#[allow(clippy::too_many_arguments)]
fn apply(
    c: &Tx<'_>,
    now: Ts,
    rc: &RouteCtx,
    a: &IncomingAlert,
    key: &str,
    plan: IntakePlan,
    loaded: Loaded,
    opts: &Options,
) -> Result<IntakeResult> {
    let outcome = plan.outcome();
    let answer = |alert: Option<Named<'_>>, message: String| result(rc, alert, outcome, key, message);
    let open = || loaded.open.as_ref().ok_or_else(|| StoreError::not_found("alert"));
    match plan {
        IntakePlan::Reject(why) => Ok(unrouted(Some(rc), why, Some(key.to_string()))),
        IntakePlan::Ignore { why, .. } => Ok(answer(None, why)),
        IntakePlan::Create { silence, group_key } => {
            let status = if silence.is_some() { AlertStatus::Silenced } else { AlertStatus::Firing };
            let opening = apply_lifecycle::opening(c, now, &rc.route)?;
            let (assignee, target) = (opening.assignee, opening.target);
            // The person the sender put in charge (incident.io's lead), if they may be paged here.
            let lead = match &a.assignee_slack_user_id {
                Some(slack) => match users::by_chat_id(c, users::ChatId::Slack, slack)? {
                    Some(u) if groups::is_member(c, rc.route.group_id, u.id)? => Some(u.id),
                    _ => None,
                },
                None => None,
            };
            let assignee = lead.or(assignee);
            // A silenced alert has no timer while the silence lasts.
            let next_action_at = if silence.is_none() { opening.next_action_at } else { None };
            let alert = alerts::insert(
                c,
                now,
                &rc.route,
                a,
                alerts::Opened {
                    team_slug: &rc.team_slug,
                    dedup_key: key,
                    group_key: group_key.as_deref(),
                    status,
                    silence_id: silence.as_ref().map(|s| s.id),
                    assignee,
                    next_action_at,
                },
            )?;
            let source = rc.route.source.as_str();
            let actor = rc.actor();
            let id = alert.id;
            let message = match &silence {
                Some(s) => {
                    let data = json!({"dedup_key": key});
                    add_event(c, id, now, "received", &text::received_silenced(source), Some(&actor), data)?;
                    apply_lifecycle::silenced(c, now, id, s, true)?;
                    format!("new alert, silenced by \"{}\"", s.name)
                }
                None => {
                    let queued = outbox::page(c, now, &alert, EventKind::Triggered, &target, assignee)?;
                    let paging = alert.assignee.as_ref().map(|u| u.username.as_str());
                    let data = json!({"dedup_key": key, "deliveries": queued});
                    add_event(c, id, now, "received", &text::received(source, paging, queued), Some(&actor), data)?;
                    "new alert".to_string()
                }
            };
            Ok(answer(Some((&alert).into()), message))
        }
        IntakePlan::Repeat { content_changed, member, why, .. } => {
            let open = open()?;
            let alert = &open.state;
            if content_changed {
                alerts::repeat_with_content(c, now, alert, a)?;
            } else {
                // Unchanged content: touch only the counters (no index maintenance).
                alerts::count_repeat(c, now, alert.id)?;
            }
            if let Some(member) = &member {
                alerts::add_member(c, alert.id, open.route_id.unwrap_or_default(), member, now)?;
            }
            let count = alert.alert_count + 1;
            repeat_event(c, alert.id, now, count, why)?;
            // The answer names only what a repeat leaves as it was (id, status, who is paged).
            Ok(answer(Some(open.into()), format!("repeat of open alert #{} ({count} in total); no new page", alert.id)))
        }
        IntakePlan::Join { alert_id, member } => {
            alerts::count_repeat(c, now, alert_id)?;
            alerts::add_member(c, alert_id, rc.route.id, &member, now)?;
            let members = alerts::member_count(c, alert_id)?;
            add_event(
                c,
                alert_id,
                now,
                "grouped",
                &format!("\"{}\" joined the group ({members} members); no new page", a.title),
                None,
                json!({"dedup_key": member, "members": members}),
            )?;
            let alert = alerts::get(c, alert_id)?;
            Ok(answer(Some((&alert).into()), format!("joined group alert #{alert_id}; no new page")))
        }
        IntakePlan::Reopen { alert_id, silence, flap } => {
            let recent = loaded.recent.as_ref().ok_or_else(|| StoreError::not_found("alert"))?;
            let status = if silence.is_some() { AlertStatus::Silenced } else { AlertStatus::Firing };
            let (assignee, target) = apply_lifecycle::first_page(c, now, recent.route_id)?;
            alerts::reopen(c, now, &recent.state, a, status, &flap, silence.as_ref().map(|s| s.id), assignee)?;
            add_event(c, alert_id, now, "reopened", "fired again within the reopen window", None, json!({}))?;
            match &silence {
                Some(s) => apply_lifecycle::silenced(c, now, alert_id, s, false)?,
                None if flap.flapping => {
                    if flap.started {
                        apply_lifecycle::flapping_started(c, now, alert_id, opts, flap.changes.len())?;
                    }
                }
                None => {
                    apply_lifecycle::page_from_start(c, now, alert_id, &target, assignee)?;
                }
            }
            let alert = alerts::get(c, alert_id)?;
            Ok(answer(
                Some((&alert).into()),
                format!("alert #{alert_id} fired again within the reopen window and was reopened"),
            ))
        }
        IntakePlan::ResolveMember { alert_id, member, still_firing } => {
            alerts::resolve_member(c, now, alert_id, &member)?;
            add_event(
                c,
                alert_id,
                now,
                "grouped",
                &format!("member {member:?} resolved; {still_firing} still firing"),
                None,
                json!({"dedup_key": member}),
            )?;
            let alert = alerts::get(c, alert_id)?;
            Ok(answer(
                Some((&alert).into()),
                format!("member of group alert #{alert_id} resolved; others still firing"),
            ))
        }
        IntakePlan::Resolve { alert_id, close } => {
            if open()?.state.group_key.is_some() {
                alerts::resolve_member(c, now, alert_id, key)?;
            }
            let message = match &a.resolution {
                Some(why) => format!("resolved: {why}"),
                None => "resolved by the monitoring system".to_string(),
            };
            let alert = apply_lifecycle::close(c, now, alert_id, &rc.actor(), &message, &close, Some(opts))?;
            Ok(answer(Some((&alert).into()), format!("alert #{alert_id} resolved")))
        }
        IntakePlan::Acknowledge { alert_id } => {
            let alert = apply_lifecycle::acknowledge(c, now, alert_id, &Actor::system(&rc.actor()))?;
            Ok(answer(Some((&alert).into()), format!("alert #{alert_id} acknowledged")))
        }
    }
}

/// What an intake answer names of the alert it concerns.
struct Named<'a> {
    id: i64,
    status: AlertStatus,
    rotation_id: Option<i64>,
    assignee: Option<&'a UserRef>,
}

impl<'a> From<&'a Alert> for Named<'a> {
    fn from(a: &'a Alert) -> Named<'a> {
        Named { id: a.id, status: a.status, rotation_id: a.rotation_id, assignee: a.assignee.as_ref() }
    }
}

impl<'a> From<&'a Candidate> for Named<'a> {
    fn from(a: &'a Candidate) -> Named<'a> {
        Named { id: a.state.id, status: a.state.status, rotation_id: a.rotation_id, assignee: a.assignee.as_ref() }
    }
}

fn result(rc: &RouteCtx, alert: Option<Named<'_>>, outcome: Outcome, dedup_key: &str, message: String) -> IntakeResult {
    IntakeResult {
        id: alert.as_ref().map(|a| a.id),
        created: outcome == Outcome::Created,
        status: alert.as_ref().map(|a| a.status),
        team_id: Some(rc.route.team_id),
        team_slug: Some(rc.team_slug.clone()),
        route_id: Some(rc.route.id),
        rotation_id: alert.as_ref().and_then(|a| a.rotation_id).or(rc.route.rotation_id),
        assignee: alert.and_then(|a| a.assignee.cloned()),
        routing_error: None,
        dedup_key: Some(dedup_key.to_string()),
        outcome,
        message,
    }
}

/// A result for an alert that found no route.
pub fn unrouted(rc: Option<&RouteCtx>, why: String, dedup_key: Option<String>) -> IntakeResult {
    IntakeResult {
        id: None,
        created: false,
        status: None,
        team_id: rc.map(|r| r.route.team_id),
        team_slug: rc.map(|r| r.team_slug.clone()),
        route_id: rc.map(|r| r.route.id),
        rotation_id: rc.and_then(|r| r.route.rotation_id),
        assignee: None,
        message: format!("not routed: {why}"),
        routing_error: Some(why),
        dedup_key,
        outcome: Outcome::Rejected,
    }
}
