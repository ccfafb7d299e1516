//! What responders do to an alert beyond acknowledging and resolving it: reassign it, escalate
//! it now, snooze it, take back an acknowledgement, and write notes. Each one runs in the
//! caller's transaction, is audited, and is on the alert's timeline with who did it; the pages
//! it causes are outbox rows in the same transaction, as everywhere.

use serde_json::json;

use super::alerts::{self, Alert};
use super::audit::Ctx;
use super::outbox::{self, EventKind};
use super::timeline::{AlertEvent, add_event};
use super::{Read, Result, StoreError, Tx, escalation, groups, lifecycle, users};
use crate::args;
use crate::domain::alert::AlertStatus;
use crate::domain::lifecycle::PageTarget;
use crate::domain::time::Ts;

/// The longest snooze: a week.
pub const MAX_SNOOZE_SECS: i64 = 7 * 86_400;
/// The longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 4_000;

fn open(c: &Tx<'_>, id: i64, what: &str) -> Result<Alert> {
    let alert = alerts::get_locked(c, id)?;
    if !matches!(alert.status, AlertStatus::Firing | AlertStatus::Acknowledged) {
        return Err(StoreError::conflict(
            "status",
            format!("the alert is {}: only firing or acknowledged alerts can be {what}", alert.status.as_str()),
        ));
    }
    Ok(alert)
}

fn audit(c: &Tx<'_>, ctx: &Ctx, action: &str, alert: &Alert, details: serde_json::Value) -> Result<()> {
    ctx.audit(c, action, "alert", alert.id, Some(alert.group_id), details)
}

/// Gives the alert to `user_id`, a member of its group: the old assignee's unsent pages are
/// cancelled and the new one is paged now through the route's channels. An acknowledged alert
/// fires again, its timers starting over, since its new owner has not seen it.
pub fn reassign(c: &Tx<'_>, ctx: &Ctx, id: i64, user_id: i64) -> Result<Alert> {
    let now = ctx.now;
    let alert = open(c, id, "reassigned")?;
    let user = users::get(c, user_id).map_err(|_| StoreError::invalid("user_id", "no such user"))?;
    if !user.active || !groups::is_member(c, alert.group_id, user_id)? {
        return Err(StoreError::invalid("user_id", "must be an active member of the alert's group"));
    }
    let before = alert.assignee.as_ref().map(|u| u.username.clone()).unwrap_or_else(|| "nobody".into());
    outbox::cancel_pages(c, now, id, "cancelled: reassigned")?;
    alerts::reassign(c, now, id, user_id)?;
    if alert.status == AlertStatus::Acknowledged {
        alerts::due_now(c, now, id)?;
        escalation::schedule_first(c, now, &alerts::get(c, id)?)?;
    }
    let updated = alerts::get(c, id)?;
    let n = outbox::page(c, now, &updated, EventKind::Escalated, &PageTarget::RouteChannels, Some(user_id))?;
    let by = &ctx.actor.name;
    let queued = crate::domain::count(n as i64, "notification");
    let text = format!("reassigned from {before} to {} by {by}; {queued} queued", user.username);
    add_event(c, id, now, "reassigned", &text, Some(by), json!({"user_id": user_id}))?;
    audit(c, ctx, "alert.reassign", &updated, json!({"from": before, "to": user.username}))?;
    Ok(updated)
}

/// Escalates now: the policy's next step, or in simple mode the next rotation member.
pub fn escalate(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<Alert> {
    open(c, id, "escalated")?;
    escalation::escalate_now(c, ctx.now, id, &ctx.actor.name)?;
    let updated = alerts::get(c, id)?;
    audit(c, ctx, "alert.escalate", &updated, json!({"level": updated.escalation_level}))?;
    Ok(updated)
}

/// Acknowledges the alert until `until` (at most a week away); then it fires again from its
/// current step. A new acknowledgement, an unacknowledgement or a resolve ends the snooze.
pub fn snooze(c: &Tx<'_>, ctx: &Ctx, id: i64, until: Ts) -> Result<Alert> {
    let now = ctx.now;
    if until.secs() <= now.secs() || until.secs() - now.secs() > MAX_SNOOZE_SECS {
        return Err(StoreError::invalid("until", "must be in the future, at most 7 days away"));
    }
    let alert = open(c, id, "snoozed")?;
    if alert.status == AlertStatus::Firing {
        lifecycle::acknowledge(c, now, id, &ctx.actor)?;
    }
    alerts::snooze(c, id, until)?;
    let minutes = (until.secs() - now.secs() + 30) / 60;
    let by = &ctx.actor.name;
    let text = format!("snoozed by {by} until {} ({})", until.rfc3339(), crate::domain::count(minutes, "minute"));
    add_event(c, id, now, "snoozed", &text, Some(by), json!({"until": until}))?;
    let updated = alerts::get(c, id)?;
    audit(c, ctx, "alert.snooze", &updated, json!({"until": until}))?;
    Ok(updated)
}

/// Takes an acknowledgement (or a snooze) back: firing again, its current step paged now and
/// its timers running from there.
pub fn unacknowledge(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<Alert> {
    let now = ctx.now;
    let alert = alerts::get_locked(c, id)?;
    if alert.status != AlertStatus::Acknowledged {
        return Err(StoreError::conflict(
            "status",
            format!("the alert is {}, not acknowledged", alert.status.as_str()),
        ));
    }
    alerts::restart_current_step(c, now, id)?;
    let by = &ctx.actor.name;
    add_event(
        c,
        id,
        now,
        "unacknowledged",
        &format!("unacknowledged by {by}: firing again from its current step"),
        Some(by),
        json!({}),
    )?;
    let stepped = if alert.escalation_policy_id.is_some() {
        escalation::escalate_one(c, now, id)?
    } else {
        escalation::remind_one(c, now, id)?
    };
    let updated = alerts::get(c, id)?;
    if !stepped {
        // No timer to restart (a rotation without reminders): page the assignee once.
        outbox::page(c, now, &updated, EventKind::Reminder, &PageTarget::RouteChannels, updated.assignee_user_id)?;
    }
    audit(c, ctx, "alert.unacknowledge", &updated, json!({}))?;
    Ok(updated)
}

/// Adds a note to the alert's timeline (plain text, at most [`MAX_NOTE_CHARS`] characters).
pub fn add_note(c: &Tx<'_>, ctx: &Ctx, id: i64, text: &str) -> Result<AlertEvent> {
    let text = text.trim();
    if text.is_empty() {
        return Err(StoreError::invalid("text", "is required"));
    }
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(StoreError::invalid("text", format!("at most {MAX_NOTE_CHARS} characters")));
    }
    let alert = alerts::get(c, id)?;
    add_event(c, id, ctx.now, "note", text, Some(&ctx.actor.name), json!({"user_id": ctx.actor.user_id}))?;
    audit(c, ctx, "alert.note", &alert, json!({"chars": text.chars().count()}))?;
    let note_id: i64 =
        c.one("SELECT MAX(id) FROM alert_events WHERE alert_id = ?1 AND event_type = 'note'", args![id], |r| r.get(0))?;
    notes(c, id)?.into_iter().find(|n| n.id == note_id).ok_or_else(|| StoreError::not_found("note"))
}

/// The alert's notes, oldest first.
pub fn notes(c: &Read<'_>, id: i64) -> Result<Vec<AlertEvent>> {
    Ok(super::timeline::events(c, id)?.into_iter().filter(|e| e.event_type == "note").collect())
}
