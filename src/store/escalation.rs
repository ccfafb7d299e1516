//! Reminders and escalation as rows: every open alert that needs attention later carries
//! `next_action_at`; the engine's escalate and remind steps pick up due ones. The decisions
//! themselves are pure (`domain::escalation`); this module loads their inputs and applies them.

use serde_json::json;

use super::alerts::{self, Alert};
use super::outbox::{self, EventKind, PageTarget};
use super::timeline::add_event;
use super::{Read, Result, StoreError, Tx};
use crate::args;
use crate::domain::alert::AlertStatus;
use crate::domain::escalation::{self as esc, PolicyStep, SimpleStep};
use crate::domain::time::Ts;

/// The reminder interval of the alert's rotation (simple mode), if reminders are on.
fn reminder_interval(c: &Read<'_>, alert: &Alert) -> Result<Option<i64>> {
    let Some(rid) = alert.rotation_id else {
        return Ok(None);
    };
    let secs: Option<i64> =
        match c.one("SELECT reminder_interval_seconds FROM rotations WHERE id = ?1", args![rid], |r| r.get(0)) {
            Ok(v) => Some(v),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
    Ok(secs.filter(|s| *s > 0))
}

/// The policy in force for an alert, if it is enabled and has rules.
fn policy(c: &Read<'_>, alert: &Alert) -> Result<Option<super::policies::Policy>> {
    let Some(pid) = alert.escalation_policy_id else {
        return Ok(None);
    };
    match super::policies::get(c, pid) {
        Ok(p) if p.enabled && !p.rules.is_empty() => Ok(Some(p)),
        Ok(_) | Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn delays(p: &super::policies::Policy) -> Vec<i64> {
    p.rules.iter().map(|r| r.delay_seconds).collect()
}

/// When an alert paged at level 0 acts next: its enabled policy's next step, else its
/// rotation's reminder (`reminder_secs`, 0 = none), else never.
pub fn first_timer(now: Ts, policy: Option<&super::policies::Policy>, reminder_secs: Option<i64>) -> Option<Ts> {
    match policy.filter(|p| p.enabled && !p.rules.is_empty()) {
        Some(p) => esc::next_after(&delays(p), p.repeat_count, 0, 0).map(|secs| now.plus_secs(secs)),
        None => reminder_secs.filter(|s| *s > 0).map(|secs| now.plus_secs(secs)),
    }
}

/// Sets the first timer after an alert was paged at level 0 (reopen, unsilence, flapping
/// ended; a new alert gets it with its row).
pub fn schedule_first(c: &Tx<'_>, now: Ts, alert: &Alert) -> Result<()> {
    let next = match policy(c, alert)? {
        Some(p) => first_timer(now, Some(&p), None),
        None => first_timer(now, None, reminder_interval(c, alert)?),
    };
    c.exec("UPDATE alerts SET next_action_at = ?1, escalation_level = 0, escalation_cycle = 0, reminder_count = 0 WHERE id = ?2", args![next, alert.id])?;
    Ok(())
}

/// Ids of alerts whose timer is due, in due order. Timers are only set on firing alerts (ack,
/// resolve and silences clear them) and every step re-checks the status, so the query reads
/// the small partial index alone, whatever the number of open alerts.
pub fn due(c: &Read<'_>, now: Ts, limit: usize) -> Result<Vec<(i64, bool)>> {
    c.rows(
        "SELECT id, escalation_policy_id IS NOT NULL FROM alerts INDEXED BY alerts_next_action
         WHERE next_action_at IS NOT NULL AND next_action_at <= ?1 ORDER BY next_action_at, id LIMIT ?2",
        args![now, limit as i64],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The earliest timer.
pub fn next_due(c: &Read<'_>) -> Result<Option<Ts>> {
    c.one(
        "SELECT MIN(next_action_at) FROM alerts INDEXED BY alerts_next_action WHERE next_action_at IS NOT NULL",
        &[],
        |r| r.get(0),
    )
}

/// Runs one due policy step for an alert (escalate step). Returns whether anything was done.
/// Re-checks inside the transaction: an alert acknowledged meanwhile is left alone.
pub fn escalate_one(c: &Tx<'_>, now: Ts, id: i64) -> Result<bool> {
    if !alerts::claim(c, id)? {
        return Ok(false);
    }
    let alert = wake_if_snoozed(c, now, alerts::get(c, id)?)?;
    if alert.status != AlertStatus::Firing || alert.next_action_at.is_none_or(|t| t > now) || alert.flapping {
        return Ok(false);
    }
    let Some(p) = policy(c, &alert)? else {
        c.exec("UPDATE alerts SET next_action_at = NULL WHERE id = ?1", args![id])?;
        return Ok(false);
    };
    let step = esc::policy_step(&delays(&p), p.repeat_count, alert.escalation_level, alert.escalation_cycle);
    match step {
        PolicyStep::Fire { level, cycle, next_in } => {
            let rule = &p.rules[level as usize];
            let step = super::lifecycle::rule_step(c, now, rule.target_type, rule.target_id)?;
            let gap = step.is_gap();
            let (assignee, target) = crate::domain::lifecycle::page_for(step);
            // Nobody on call at this step: the next one follows at once.
            let next = next_in.map(|s| if gap { now } else { now.plus_secs(s) });
            c.exec(
                "UPDATE alerts SET escalation_level = ?1, escalation_cycle = ?2, next_action_at = ?3,
                        assignee_user_id = COALESCE(?4, assignee_user_id), updated_at = ?5 WHERE id = ?6",
                args![level, cycle, next, assignee, now, id],
            )?;
            let updated = alerts::get(c, id)?;
            let n =
                outbox::page(c, now, &updated, EventKind::Escalated, &target, assignee.or(updated.assignee_user_id))?;
            let who = describe_target(c, rule.target_type, rule.target_id)?;
            let repeat = if cycle > 0 { format!(" (repeat {cycle} of {})", p.repeat_count) } else { String::new() };
            add_event(
                c,
                id,
                now,
                "escalated",
                &format!(
                    "escalation step {}{repeat}: paging {who}{}; {} queued",
                    level + 1,
                    if gap { " (nobody on call there: the next step follows now)" } else { "" },
                    crate::domain::count(n as i64, "notification")
                ),
                None,
                json!({"level": level, "cycle": cycle, "target_type": rule.target_type, "target_id": rule.target_id}),
            )?;
            if next.is_none() {
                add_event(
                    c,
                    id,
                    now,
                    "escalation_stopped",
                    "the escalation policy has run all its steps and repeats",
                    None,
                    json!({}),
                )?;
            }
        }
        PolicyStep::Stop => {
            c.exec("UPDATE alerts SET next_action_at = NULL WHERE id = ?1", args![id])?;
            add_event(
                c,
                id,
                now,
                "escalation_stopped",
                "the escalation policy has run all its steps and repeats",
                None,
                json!({}),
            )?;
        }
    }
    Ok(true)
}

/// Runs one due reminder or simple escalation for an alert (remind step).
pub fn remind_one(c: &Tx<'_>, now: Ts, id: i64) -> Result<bool> {
    if !alerts::claim(c, id)? {
        return Ok(false);
    }
    let alert = wake_if_snoozed(c, now, alerts::get(c, id)?)?;
    if alert.status != AlertStatus::Firing || alert.next_action_at.is_none_or(|t| t > now) || alert.flapping {
        return Ok(false);
    }
    let Some(interval) = reminder_interval(c, &alert)? else {
        c.exec("UPDATE alerts SET next_action_at = NULL WHERE id = ?1", args![id])?;
        return Ok(false);
    };
    let (enabled, after): (bool, i64) = c.one(
        "SELECT escalation_enabled, escalation_after_reminders FROM teams WHERE id = ?1",
        args![alert.team_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let next = now.plus_secs(interval);
    match esc::simple_step(alert.reminder_count, enabled, after) {
        SimpleStep::Remind { reminder_count } => {
            let assignee = current_assignee(c, now, &alert)?;
            c.exec(
                "UPDATE alerts SET reminder_count = ?1, next_action_at = ?2, assignee_user_id = COALESCE(?3, assignee_user_id), updated_at = ?4
                 WHERE id = ?5",
                args![reminder_count, next, assignee, now, id],
            )?;
            let updated = alerts::get(c, id)?;
            let n = outbox::page(
                c,
                now,
                &updated,
                EventKind::Reminder,
                &PageTarget::RouteChannels,
                updated.assignee_user_id,
            )?;
            let who = updated.assignee.as_ref().map(|u| u.username.clone()).unwrap_or_else(|| "nobody on call".into());
            add_event(
                c,
                id,
                now,
                "reminder",
                &format!(
                    "reminder {reminder_count}: still unacknowledged; paging {who} again; {} queued",
                    crate::domain::count(n as i64, "notification")
                ),
                None,
                json!({"reminder_count": reminder_count}),
            )?;
        }
        SimpleStep::Escalate => {
            let why = format!("not acknowledged after {}", crate::domain::count(after, "reminder"));
            escalate_simple(c, now, &alert, Some(next), &why)?;
        }
    }
    Ok(true)
}

/// Simple mode: pages the next rotation member now and starts their reminders.
fn escalate_simple(c: &Tx<'_>, now: Ts, alert: &Alert, next: Option<Ts>, why: &str) -> Result<()> {
    let (id, level) = (alert.id, alert.escalation_level + 1);
    let assignee = assignee_at_level(c, now, alert, level)?;
    c.exec(
        "UPDATE alerts SET reminder_count = 0, escalation_level = ?1, next_action_at = ?2,
                assignee_user_id = COALESCE(?3, assignee_user_id), updated_at = ?4 WHERE id = ?5",
        args![level, next, assignee, now, id],
    )?;
    let updated = alerts::get(c, id)?;
    let n = outbox::page(c, now, &updated, EventKind::Escalated, &PageTarget::RouteChannels, updated.assignee_user_id)?;
    let who = updated.assignee.as_ref().map(|u| u.username.clone()).unwrap_or_else(|| "nobody".into());
    let queued = crate::domain::count(n as i64, "notification");
    add_event(
        c,
        id,
        now,
        "escalated",
        &format!("{why}: escalated to {who} (level {level}); {queued} queued"),
        None,
        json!({"level": level}),
    )
}

/// A snoozed alert whose snooze is over fires again from its current step (the callers then run
/// that step).
fn wake_if_snoozed(c: &Tx<'_>, now: Ts, alert: Alert) -> Result<Alert> {
    if alert.status != AlertStatus::Acknowledged || alert.snoozed_until.is_none_or(|t| t > now) {
        return Ok(alert);
    }
    alerts::restart_current_step(c, now, alert.id)?;
    add_event(
        c,
        alert.id,
        now,
        "snooze_ended",
        "the snooze is over: firing again from its current step",
        None,
        json!({}),
    )?;
    alerts::get(c, alert.id)
}

/// Escalates an open alert now, by a person: the policy's next step, or in simple mode the next
/// rotation member. Returns whether there was a next step to take.
pub fn escalate_now(c: &Tx<'_>, now: Ts, id: i64, actor: &str) -> Result<bool> {
    let alert = alerts::get_locked(c, id)?;
    if !matches!(alert.status, AlertStatus::Firing | AlertStatus::Acknowledged) {
        return Err(StoreError::conflict(
            "status",
            format!("the alert is {}: only open alerts escalate", alert.status.as_str()),
        ));
    }
    add_event(c, id, now, "escalate_requested", &format!("escalation requested by {actor}"), Some(actor), json!({}))?;
    alerts::due_now(c, now, id)?;
    let alert = alerts::get(c, id)?;
    if policy(c, &alert)?.is_some() {
        return escalate_one(c, now, id);
    }
    if alert.rotation_id.is_none() {
        return Err(StoreError::conflict("id", "the alert has no escalation policy and no rotation to escalate in"));
    }
    // Reminders, if the rotation has them, go on for the new assignee.
    let next = reminder_interval(c, &alert)?.map(|secs| now.plus_secs(secs));
    escalate_simple(c, now, &alert, next, &format!("escalated by {actor}"))?;
    Ok(true)
}

/// Simple mode: the on-call user now, moved `level` members further for escalations.
fn assignee_at_level(c: &Read<'_>, now: Ts, alert: &Alert, level: i64) -> Result<Option<i64>> {
    let Some(rid) = alert.rotation_id else {
        return Ok(None);
    };
    let r = match super::rotations::get_plain(c, rid) {
        Ok(r) => r,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let rot = super::rotations::domain(c, &r)?;
    let mut who = rot.oncall_at(now).map(|s| s.user_id);
    for _ in 0..level {
        who = rot.next_member(who);
    }
    Ok(who)
}

fn current_assignee(c: &Read<'_>, now: Ts, alert: &Alert) -> Result<Option<i64>> {
    assignee_at_level(c, now, alert, alert.escalation_level)
}

fn describe_target(c: &Read<'_>, t: crate::domain::escalation::TargetType, id: i64) -> Result<String> {
    use crate::domain::escalation::TargetType;
    let name = |sql: &str| -> Result<String> {
        match c.one(sql, args![id], |r| r.get::<String, _>(0)) {
            Ok(v) => Ok(v),
            Err(StoreError::NotFound(_)) => Ok(format!("#{id} (deleted)")),
            Err(e) => Err(e),
        }
    };
    Ok(match t {
        TargetType::Rotation => {
            format!("the on-call of rotation \"{}\"", name("SELECT name FROM rotations WHERE id = ?1")?)
        }
        TargetType::User => name("SELECT username FROM users WHERE id = ?1")?,
        TargetType::Channel => format!("channel \"{}\"", name("SELECT name FROM channels WHERE id = ?1")?),
    })
}
