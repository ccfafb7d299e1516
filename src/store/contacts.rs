//! Each person's contact methods (how they are reached: e-mail, SMS, voice, Telegram, ntfy,
//! Gotify, webhook) and notification rules (which method, how long after they are paged, for
//! which severities). A method must have delivered a test message (`verified_at`) before a
//! rule may use it. Secrets (access tokens, app tokens, signing secrets) are write-only.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Ctx;
use super::config_cache::Key;
use super::sql::Row;
use super::{Read, Result, StoreError, Tx};
use crate::args;
use crate::domain::alert::Severity;
use crate::domain::contact::MethodType;
use crate::domain::time::Ts;
use crate::domain::validate::{Problems, nullable};

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ContactMethod {
    pub id: i64,
    pub user_id: i64,
    #[serde(rename = "type")]
    pub method_type: MethodType,
    pub label: String,
    /// What the type needs: an address, an E.164 number, a chat id, a topic or server URL.
    pub value: String,
    /// Whether a secret (access token, app token, signing secret) is stored; it is never shown.
    pub has_secret: bool,
    pub enabled: bool,
    /// When its test message went out; rules may use it only once it has.
    pub verified_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
    #[serde(skip)]
    #[schemars(skip)]
    pub secret: Option<String>,
}

/// Body of `POST /api/profile/contact-methods` (`type`, `value` required) and of `PUT` (partial;
/// a changed value or secret must be verified again).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactMethodInput {
    #[serde(rename = "type")]
    pub method_type: Option<MethodType>,
    pub value: Option<String>,
    pub label: Option<String>,
    /// ntfy access token (`tk_…`), Gotify app token, webhook signing secret (`whsec_…`);
    /// write-only, `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    pub secret: Option<Option<String>>,
    pub enabled: Option<bool>,
}

fn row(r: &Row<'_>) -> Result<ContactMethod> {
    let kind: String = r.get("method_type")?;
    let secret: Option<String> = r.get("secret")?;
    Ok(ContactMethod {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        method_type: MethodType::parse(&kind).unwrap_or(MethodType::Email),
        label: r.get("label")?,
        value: r.get("value")?,
        has_secret: secret.is_some(),
        enabled: r.get("enabled")?,
        verified_at: r.get("verified_at")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        secret,
    })
}

pub fn get(c: &Read<'_>, id: i64) -> Result<ContactMethod> {
    c.opt("SELECT * FROM contact_methods WHERE id = ?1", args![id], row)?
        .ok_or_else(|| StoreError::not_found("contact method"))
}

/// One of `user_id`'s methods (another person's is "not found").
pub fn get_of(c: &Read<'_>, user_id: i64, id: i64) -> Result<ContactMethod> {
    get(c, id).and_then(|m| if m.user_id == user_id { Ok(m) } else { Err(StoreError::not_found("contact method")) })
}

pub fn of_user(c: &Read<'_>, user_id: i64) -> Result<Vec<ContactMethod>> {
    c.rows("SELECT * FROM contact_methods WHERE user_id = ?1 ORDER BY id", args![user_id], row)
}

fn check(m: &ContactMethod, p: &mut Problems) {
    if let Err(e) = m.method_type.check_value(&m.value) {
        p.add("value", e);
    }
    if let Err(e) = m.method_type.check_secret(m.secret.as_deref()) {
        p.add("secret", e);
    }
    p.max_len("label", &m.label, 100);
}

pub fn create(c: &Tx<'_>, ctx: &Ctx, user_id: i64, input: ContactMethodInput) -> Result<ContactMethod> {
    let mut p = Problems::new();
    let kind = p.required(input.method_type, "type");
    let value = p.required(input.value.clone(), "value");
    p.finish()?;
    let (Some(kind), Some(value)) = (kind, value) else { return Err(StoreError::invalid("type", "is required")) };
    let mut m = ContactMethod {
        id: 0,
        user_id,
        method_type: kind,
        label: input.label.unwrap_or_default().trim().to_string(),
        value: value.trim().to_string(),
        has_secret: false,
        enabled: input.enabled.unwrap_or(true),
        verified_at: None,
        created_at: ctx.now,
        updated_at: ctx.now,
        secret: input.secret.flatten().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
    };
    let mut p = Problems::new();
    check(&m, &mut p);
    p.finish()?;
    m.id = c.insert(
        "INSERT INTO contact_methods (user_id, method_type, label, value, secret, enabled, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING id",
        args![user_id, kind.as_str(), m.label, m.value, m.secret, m.enabled, ctx.now],
    )?;
    ctx.audit(
        c,
        "contact_method.create",
        "contact_method",
        m.id,
        None,
        json!({"user_id": user_id, "type": kind.as_str()}),
    )?;
    get(c, m.id)
}

pub fn update(c: &Tx<'_>, ctx: &Ctx, user_id: i64, id: i64, input: ContactMethodInput) -> Result<ContactMethod> {
    let mut m = get_of(c, user_id, id)?;
    if input.method_type.is_some_and(|t| t != m.method_type) {
        return Err(StoreError::invalid("type", "cannot be changed; add another method"));
    }
    let mut unverify = false;
    if let Some(v) = input.value.map(|v| v.trim().to_string()).filter(|v| *v != m.value) {
        m.value = v;
        unverify = true;
    }
    if let Some(s) = input.secret {
        m.secret = s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        unverify = true;
    }
    if let Some(l) = input.label {
        m.label = l.trim().to_string();
    }
    if let Some(e) = input.enabled {
        m.enabled = e;
    }
    let mut p = Problems::new();
    check(&m, &mut p);
    p.finish()?;
    let verified = if unverify { None } else { m.verified_at };
    c.exec(
        "UPDATE contact_methods SET label = ?1, value = ?2, secret = ?3, enabled = ?4, verified_at = ?5, updated_at = ?6 WHERE id = ?7",
        args![m.label, m.value, m.secret, m.enabled, verified, ctx.now, id],
    )?;
    ctx.audit(
        c,
        "contact_method.update",
        "contact_method",
        id,
        None,
        json!({"user_id": user_id, "reverify": unverify}),
    )?;
    get(c, id)
}

pub fn delete(c: &Tx<'_>, ctx: &Ctx, user_id: i64, id: i64) -> Result<()> {
    get_of(c, user_id, id)?;
    c.exec("DELETE FROM contact_methods WHERE id = ?1", args![id])?;
    ctx.audit(c, "contact_method.delete", "contact_method", id, None, json!({"user_id": user_id}))
}

/// Records that the method's test message went out.
pub fn mark_verified(c: &Tx<'_>, id: i64, now: Ts) -> Result<()> {
    c.exec("UPDATE contact_methods SET verified_at = ?1 WHERE id = ?2", args![now, id])?;
    Ok(())
}

// --- notification rules ----------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct NotificationRule {
    pub id: i64,
    pub user_id: i64,
    pub contact_method_id: i64,
    /// Seconds after the person is paged.
    pub delay_seconds: i64,
    /// The severities it is for; empty: all.
    pub severities: Vec<Severity>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// Body of `POST /api/profile/notification-rules` (`contact_method_id` required) and `PUT`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub contact_method_id: Option<i64>,
    /// 0 … 86400.
    pub delay_seconds: Option<i64>,
    pub severities: Option<Vec<Severity>>,
}

fn rule_row(r: &Row<'_>) -> Result<NotificationRule> {
    Ok(NotificationRule {
        id: r.get("id")?,
        user_id: r.get("user_id")?,
        contact_method_id: r.get("contact_method_id")?,
        delay_seconds: r.get("delay_seconds")?,
        severities: r.json("severities")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

pub fn rules_of(c: &Read<'_>, user_id: i64) -> Result<Vec<NotificationRule>> {
    c.rows("SELECT * FROM notification_rules WHERE user_id = ?1 ORDER BY delay_seconds, id", args![user_id], rule_row)
}

fn rule_of(c: &Read<'_>, user_id: i64, id: i64) -> Result<NotificationRule> {
    c.opt("SELECT * FROM notification_rules WHERE id = ?1 AND user_id = ?2", args![id, user_id], rule_row)?
        .ok_or_else(|| StoreError::not_found("notification rule"))
}

fn check_rule(c: &Read<'_>, user_id: i64, r: &NotificationRule) -> Result<()> {
    let mut p = Problems::new();
    p.check((0..=86_400).contains(&r.delay_seconds), "delay_seconds", "must be between 0 and 86400");
    match get_of(c, user_id, r.contact_method_id) {
        Ok(m) if m.verified_at.is_none() => {
            p.add("contact_method_id", "has not passed its test message yet: send one first")
        }
        Ok(_) => {}
        Err(_) => p.add("contact_method_id", "no such contact method of yours"),
    }
    Ok(p.finish()?)
}

pub fn create_rule(c: &Tx<'_>, ctx: &Ctx, user_id: i64, input: RuleInput) -> Result<NotificationRule> {
    let method = input.contact_method_id.ok_or_else(|| StoreError::invalid("contact_method_id", "is required"))?;
    let mut r = NotificationRule {
        id: 0,
        user_id,
        contact_method_id: method,
        delay_seconds: input.delay_seconds.unwrap_or(0),
        severities: input.severities.unwrap_or_default(),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    check_rule(c, user_id, &r)?;
    r.id = c.insert(
        "INSERT INTO notification_rules (user_id, contact_method_id, delay_seconds, severities, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
        args![
            user_id,
            method,
            r.delay_seconds,
            serde_json::to_string(&r.severities).unwrap_or_else(|_| "[]".into()),
            ctx.now
        ],
    )?;
    ctx.audit(c, "notification_rule.create", "notification_rule", r.id, None, json!({"user_id": user_id}))?;
    rule_of(c, user_id, r.id)
}

pub fn update_rule(c: &Tx<'_>, ctx: &Ctx, user_id: i64, id: i64, input: RuleInput) -> Result<NotificationRule> {
    let mut r = rule_of(c, user_id, id)?;
    if let Some(m) = input.contact_method_id {
        r.contact_method_id = m;
    }
    if let Some(d) = input.delay_seconds {
        r.delay_seconds = d;
    }
    if let Some(s) = input.severities {
        r.severities = s;
    }
    check_rule(c, user_id, &r)?;
    c.exec(
        "UPDATE notification_rules SET contact_method_id = ?1, delay_seconds = ?2, severities = ?3, updated_at = ?4 WHERE id = ?5",
        args![r.contact_method_id, r.delay_seconds, serde_json::to_string(&r.severities).unwrap_or_else(|_| "[]".into()), ctx.now, id],
    )?;
    ctx.audit(c, "notification_rule.update", "notification_rule", id, None, json!({"user_id": user_id}))?;
    rule_of(c, user_id, id)
}

pub fn delete_rule(c: &Tx<'_>, ctx: &Ctx, user_id: i64, id: i64) -> Result<()> {
    rule_of(c, user_id, id)?;
    c.exec("DELETE FROM notification_rules WHERE id = ?1", args![id])?;
    ctx.audit(c, "notification_rule.delete", "notification_rule", id, None, json!({"user_id": user_id}))
}

/// The rules that notify `user_id` about an alert of `severity`: each with its (enabled,
/// verified) method.
pub fn applicable(c: &Read<'_>, user_id: i64, severity: Severity) -> Result<Vec<(NotificationRule, ContactMethod)>> {
    // Every rule with a working method is cached between pages; the severity is checked here.
    let working = c.cached(Key::Rules(user_id), || {
        let mut out = Vec::new();
        for r in rules_of(c, user_id)? {
            let m = get(c, r.contact_method_id)?;
            if m.enabled && m.verified_at.is_some() {
                out.push((r, m));
            }
        }
        Ok(out)
    })?;
    Ok(working.iter().filter(|(r, _)| r.severities.is_empty() || r.severities.contains(&severity)).cloned().collect())
}

/// Whether `user_id` has any rule with an enabled, verified method (the alert page warns when
/// the assignee has none).
pub fn has_working_rule(c: &Read<'_>, user_id: i64) -> Result<bool> {
    c.one(
        "SELECT EXISTS(SELECT 1 FROM notification_rules r JOIN contact_methods m ON m.id = r.contact_method_id
                       WHERE r.user_id = ?1 AND m.enabled = 1 AND m.verified_at IS NOT NULL)",
        args![user_id],
        |r| r.get(0),
    )
}

// --- shift notices -------------------------------------------------------------------------

/// How long after a shift starts its "has started" notice may still go out (a late engine).
const STARTED_GRACE_SECS: i64 = 600;

/// Queues the shift notices due at `now`, once each: "Your on-call shift for <rotation> starts
/// at 09:00 (in 1 h)" `shift_notify_before_minutes` before a shift, and "…has started" at its
/// start, to the person's enabled, verified methods except voice calls. Times in the messages
/// are in the person's time zone (`default_zone` when they chose none). Returns how many
/// messages were queued.
pub fn queue_shift_notices(c: &Tx<'_>, now: Ts, default_zone: &str) -> Result<usize> {
    let mut queued = 0;
    let from = now.plus_secs(-STARTED_GRACE_SECS);
    // The longest lead is a day.
    let horizon = now.plus_secs(86_400 + 60);
    for r in super::rotations::list(c, None, None, now)?.into_iter().filter(|r| r.enabled) {
        let shifts = super::rotations::domain(c, &r)?.shifts(from, horizon);
        let mut previous: Option<&crate::domain::rotation::Shift> = None;
        for s in &shifts {
            // A handoff to the same person (a one-person rotation, an override by whoever is
            // on call anyway) continues a shift rather than starting one.
            let continues = previous.is_some_and(|p| p.user_id == s.user_id && p.end == s.start);
            previous = Some(s);
            if continues || s.start <= from {
                continue;
            }
            let user = super::users::get(c, s.user_id)?;
            if !user.active || user.shift_notify_before_minutes == 0 {
                continue;
            }
            let kind = if now >= s.start {
                "started"
            } else if now >= s.start.plus_secs(-60 * user.shift_notify_before_minutes) {
                "before"
            } else {
                continue;
            };
            let fresh = c.exec(
                "INSERT INTO shift_notices (user_id, rotation_id, shift_start, kind, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
                args![user.id, r.id, s.start, kind, now],
            )? > 0;
            if !fresh {
                continue;
            }
            let zone = user.time_zone.as_deref().unwrap_or(default_zone);
            let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
            let at = s.start.timestamp().to_zoned(tz).strftime("%a %H:%M %Z").to_string();
            let text = if kind == "before" {
                let lead = crate::domain::time::relative(s.start, now);
                format!("Your on-call shift for {} starts at {at} ({lead}).", r.name)
            } else {
                format!("Your on-call shift for {} has started ({at}).", r.name)
            };
            queued += queue_notice(c, now, &user, &text)?;
        }
    }
    // Notices of shifts long past are no longer needed to hold back repeats.
    c.exec("DELETE FROM shift_notices WHERE shift_start < ?1", args![now.plus_secs(-2 * 86_400)])?;
    Ok(queued)
}

/// Queues a notice about someone's schedule (their shift, a swap request) to each of their
/// enabled, verified methods except voice calls. Returns how many messages were queued.
pub fn queue_notice(c: &Tx<'_>, now: Ts, user: &super::users::User, text: &str) -> Result<usize> {
    let mut queued = 0;
    for m in
        of_user(c, user.id)?.into_iter().filter(|m| m.enabled && m.verified_at.is_some() && !m.method_type.is_call())
    {
        c.insert(
            "INSERT INTO deliveries (contact_method_id, user_id, target, event_type, status, attempts, next_attempt_at,
                                     message_id, note, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'shift', 'pending', 0, ?4, ?5, ?6, ?4, ?4) RETURNING id",
            args![
                m.id,
                user.id,
                crate::notify::personal::target(&m, &user.username),
                now,
                super::outbox::new_message_id(),
                text
            ],
        )?;
        queued += 1;
    }
    if queued > 0 {
        c.wake_engines();
    }
    Ok(queued)
}
