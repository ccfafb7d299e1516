//! Carrying out lifecycle decisions on open alerts: acknowledging, resolving, silences that
//! start or end, flapping that ends, and paging from the first step. Each function loads what
//! `domain::lifecycle` decides on, asks it, and writes the result with its timeline entries,
//! outbox rows and timer in the caller's transaction.

use serde_json::json;

use super::alerts::{self, Alert};
use super::audit::Actor;
use super::config_cache::Key;
use super::outbox::{self, EventKind};
use super::timeline::add_event;
use super::{Read, Result, StoreError, Tx, policies, routes, silences};
use crate::domain::escalation::TargetType;
use crate::domain::lifecycle::{
    self, Close, FirstStep, Options, PageTarget, SilenceChange, SilenceRef, SilenceRule, text,
};
use crate::domain::matcher::Matchers;
use crate::domain::time::Ts;

// --- who is paged --------------------------------------------------------------------------------

/// The on-call user of a rotation at `now` (none for a rotation that is gone).
pub fn oncall(c: &Read<'_>, rotation_id: i64, now: Ts) -> Result<Option<i64>> {
    Ok(rotation_now(c, rotation_id, now)?.0)
}

/// A rotation's on-call user at `now` and its reminder interval (none for a rotation that is
/// gone).
fn rotation_now(c: &Read<'_>, rotation_id: i64, now: Ts) -> Result<(Option<i64>, Option<i64>)> {
    // The rotation's layers, members and overrides are cached between alerts; who is on call
    // is computed for `now` each time.
    let loaded = c.cached(Key::Rotation(rotation_id), || match super::rotations::get_plain(c, rotation_id) {
        Ok(r) => Ok(Some((super::rotations::domain(c, &r)?, r.reminder_interval_seconds))),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    })?;
    Ok(match &*loaded {
        Some((rotation, reminder)) => (rotation.oncall_at(now).map(|s| s.user_id), Some(*reminder)),
        None => (None, None),
    })
}

/// An escalation rule's target as a step, with the on-call of its rotation when it has one.
pub fn rule_step(c: &Read<'_>, now: Ts, target_type: TargetType, target_id: i64) -> Result<FirstStep> {
    let oncall = match target_type {
        TargetType::Rotation => oncall(c, target_id, now)?,
        TargetType::User | TargetType::Channel => None,
    };
    Ok(FirstStep::Rule { target_type, target_id, oncall })
}

/// Who an alert's route pages first, and where (the route as it is now).
pub fn first_page(c: &Read<'_>, now: Ts, route_id: Option<i64>) -> Result<(Option<i64>, PageTarget)> {
    match route_id {
        Some(id) => first_page_of(c, now, &routes::get(c, id)?),
        None => Ok((None, PageTarget::RouteChannels)),
    }
}

/// Who a route pages first, and where: its enabled policy's first rule, else its rotation.
pub fn first_page_of(c: &Read<'_>, now: Ts, route: &routes::Route) -> Result<(Option<i64>, PageTarget)> {
    let o = opening(c, now, route)?;
    Ok((o.assignee, o.target))
}

/// How a new alert on a route opens: who is paged first, where, and when its first reminder or
/// escalation is due (read from the one policy or rotation that decides both).
pub struct Opening {
    pub assignee: Option<i64>,
    pub target: PageTarget,
    pub next_action_at: Option<Ts>,
}

pub fn opening(c: &Read<'_>, now: Ts, route: &routes::Route) -> Result<Opening> {
    let policy = route.escalation_policy_id.map(|pid| policies::get(c, pid)).transpose()?;
    let (step, next_action_at) = match policy.filter(|p| p.enabled && !p.rules.is_empty()) {
        Some(p) => {
            let step = rule_step(c, now, p.rules[0].target_type, p.rules[0].target_id)?;
            let next = super::escalation::first_timer(now, Some(&p), None);
            // Nobody on call at the first step: the next one follows at once.
            (step, if step.is_gap() { next.map(|_| now) } else { next })
        }
        None => {
            let (oncall, reminder) = match route.rotation_id {
                Some(rid) => rotation_now(c, rid, now)?,
                None => (None, None),
            };
            (FirstStep::Rotation { oncall }, super::escalation::first_timer(now, None, reminder))
        }
    };
    let (assignee, target) = lifecycle::page_for(step);
    Ok(Opening { assignee, target, next_action_at })
}

/// Pages an alert from the first step (reopened, no longer silenced or flapping) and sets its
/// first reminder or escalation timer. Returns how many notifications were queued, and the
/// alert as paged (without its new timer).
pub fn page_from_start(
    c: &Tx<'_>,
    now: Ts,
    alert_id: i64,
    target: &PageTarget,
    assignee: Option<i64>,
) -> Result<(usize, Alert)> {
    let (queued, alert) = page_first(c, now, alert_id, target, assignee)?;
    super::escalation::schedule_first(c, now, &alert)?;
    Ok((queued, alert))
}

/// Pages an alert from the first step, its timer left as it is (a new alert has it already).
pub fn page_first(
    c: &Tx<'_>,
    now: Ts,
    alert_id: i64,
    target: &PageTarget,
    assignee: Option<i64>,
) -> Result<(usize, Alert)> {
    let alert = alerts::get(c, alert_id)?;
    let queued = outbox::page(c, now, &alert, EventKind::Triggered, target, assignee)?;
    Ok((queued, alert))
}

// --- acting on an alert --------------------------------------------------------------------------

/// Acknowledges an open alert: stops reminders and escalation at once and cancels pages not yet
/// sent (idempotent; a resolved alert is returned unchanged).
pub fn acknowledge(c: &Tx<'_>, now: Ts, id: i64, actor: &Actor) -> Result<Alert> {
    let alert = alerts::get_locked(c, id)?;
    if !lifecycle::can_acknowledge(alert.status) {
        return Ok(alert);
    }
    alerts::acknowledge(c, now, id, &actor.name, actor.user_id)?;
    add_event(c, id, now, "acknowledged", &format!("acknowledged by {}", actor.name), Some(&actor.name), json!({}))?;
    let acked = alerts::get(c, id)?;
    outbox::on_acknowledge(c, now, &acked)?;
    Ok(acked)
}

/// Resolves an open alert, by a person (idempotent for resolved ones).
pub fn resolve(c: &Tx<'_>, now: Ts, id: i64, actor: &Actor) -> Result<Alert> {
    let alert = alerts::get_locked(c, id)?;
    if !lifecycle::can_resolve(alert.status) {
        return Ok(alert);
    }
    alerts::resolve_members(c, id)?;
    let plan = lifecycle::close(&alert.state(), now, None);
    close(c, now, id, &actor.name, &format!("resolved by {}", actor.name), &plan, None)
}

/// Closes an alert as `plan` says: resolved with its flap record, unsent pages cancelled, a
/// recovery to every target notified before (unless quiet), and the timeline entries.
pub fn close(
    c: &Tx<'_>,
    now: Ts,
    id: i64,
    actor: &str,
    message: &str,
    plan: &Close,
    opts: Option<&Options>,
) -> Result<Alert> {
    alerts::close(c, now, id, actor, &plan.flap)?;
    add_event(c, id, now, "resolved", message, Some(actor), json!({}))?;
    let resolved = alerts::get(c, id)?;
    let sent = outbox::on_resolve(c, now, &resolved, plan.quiet)?;
    if sent > 0 {
        add_event(
            c,
            id,
            now,
            "recovery_queued",
            &format!("recovery notification to {} notified before", crate::domain::count(sent as i64, "target")),
            None,
            json!({"deliveries": sent}),
        )?;
    }
    if let (true, Some(o)) = (plan.flap.started, opts) {
        flapping_started(c, now, id, o, plan.flap.changes.len())?;
    }
    Ok(resolved)
}

/// The timeline entry of an alert a silence holds (`nobody_paged`: it never paged).
pub fn silenced(c: &Tx<'_>, now: Ts, alert_id: i64, s: &SilenceRef, nobody_paged: bool) -> Result<()> {
    add_event(c, alert_id, now, "silenced", &text::silenced(&s.name, nobody_paged), None, json!({"silence_id": s.id}))
}

/// The timeline entry of an alert that starts flapping.
pub fn flapping_started(c: &Tx<'_>, now: Ts, alert_id: i64, o: &Options, changes: usize) -> Result<()> {
    add_event(
        c,
        alert_id,
        now,
        "flapping",
        &text::flapping(o.flap_threshold, o.flap_window_secs),
        None,
        json!({"changes": changes}),
    )
}

// --- silences and flapping over time (engine) --------------------------------------------------

/// The active silences of a team, compiled (the team's enabled ones are cached between
/// alerts; their times are checked against `now` here).
pub fn silence_rules(c: &Read<'_>, team_id: i64, now: Ts) -> Result<Vec<SilenceRule>> {
    let enabled = c.cached(Key::Silences(team_id), || {
        Ok(silences::enabled_for_team(c, team_id)?
            .into_iter()
            .filter_map(|s| {
                let matchers = Matchers::parse(&s.matchers, "matchers").ok()?;
                Some((s.starts_at, s.ends_at, SilenceRule { id: s.id, name: s.name, matchers }))
            })
            .collect::<Vec<_>>())
    })?;
    Ok(enabled.iter().filter(|(starts, ends, _)| *starts <= now && now < *ends).map(|(_, _, r)| r.clone()).collect())
}

/// Re-evaluates silences: silenced alerts whose silence ended (and that no other silence
/// matches) fire and page; firing, unacknowledged alerts matching a new silence are silenced.
/// Returns how many alerts changed.
pub fn apply_silences(c: &Tx<'_>, now: Ts) -> Result<usize> {
    let mut changed = 0;
    // Only silenced alerts, and firing alerts of teams that have an active silence, can change.
    let teams = silences::teams_with_active(c, now)?;
    let mut rules: std::collections::BTreeMap<i64, Vec<SilenceRule>> = std::collections::BTreeMap::new();
    for alert in alerts::silenced_or_firing_in(c, &teams)? {
        let Some(alert) = alerts::relock(c, alert)? else { continue };
        let team_rules = match rules.entry(alert.team_id) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(silence_rules(c, alert.team_id, now)?),
        };
        let hit = lifecycle::matching_silence(team_rules.as_slice(), &alert.subject());
        match lifecycle::silence_change(&alert.state(), hit) {
            SilenceChange::Lift => {
                lift_silence(c, now, &alert)?;
                changed += 1;
            }
            SilenceChange::Apply(s) => {
                alerts::silence(c, now, alert.id, s.id)?;
                outbox::cancel_pages(c, now, alert.id, "cancelled: the alert was silenced")?;
                silenced(c, now, alert.id, &s, false)?;
                changed += 1;
            }
            SilenceChange::Switch(sid) => alerts::switch_silence(c, alert.id, sid)?,
            SilenceChange::Keep => {}
        }
    }
    Ok(changed)
}

fn lift_silence(c: &Tx<'_>, now: Ts, alert: &Alert) -> Result<()> {
    let (assignee, target) = first_page(c, now, alert.route_id)?;
    alerts::lift_silence(c, now, alert.id, assignee)?;
    add_event(c, alert.id, now, "unsilenced", "the silence ended and the alert is still firing", None, json!({}))?;
    if lifecycle::pages_when_lifted(&alert.state()) {
        page_from_start(c, now, alert.id, &target, assignee)?;
    }
    Ok(())
}

/// Ends flapping for alerts stable for the window; a still-firing one pages again.
pub fn end_flapping(c: &Tx<'_>, now: Ts, window_secs: i64) -> Result<usize> {
    let mut n = 0;
    for alert in alerts::flapping(c)? {
        let Some(alert) = alerts::relock(c, alert)?.filter(|a| a.flapping) else { continue };
        let Some(page_again) = lifecycle::end_flapping(&alert.state(), now, window_secs) else { continue };
        alerts::end_flapping(c, now, alert.id)?;
        add_event(c, alert.id, now, "stable", &text::stable(window_secs), None, json!({}))?;
        if page_again {
            let (assignee, target) = first_page(c, now, alert.route_id)?;
            page_from_start(c, now, alert.id, &target, assignee)?;
        }
        n += 1;
    }
    Ok(n)
}
