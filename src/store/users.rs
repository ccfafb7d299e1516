//! Users. Password hashes never leave this module except to the login check.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::audit::Ctx;
use super::sql::{Row, vals};
use super::{Read, Result, StoreError, Tx, placeholders};
use crate::args;
use crate::domain::time::Ts;
use crate::domain::validate::{self, Problems, clean, nullable};

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub is_admin: bool,
    pub active: bool,
    pub telegram_user_id: Option<String>,
    pub slack_user_id: Option<String>,
    pub mattermost_user_id: Option<String>,
    /// Set for a generated first password: the UI asks for a new one after login.
    pub must_change_password: bool,
    /// The group the web UI shows (`null` = all my groups).
    pub active_group_id: Option<i64>,
    /// The time zone (IANA name) the web UI shows times in; `null`: `ui.default_time_zone`.
    pub time_zone: Option<String>,
    /// Minutes before each of their shifts they hear of it, through their verified methods
    /// except voice (0 = never).
    pub shift_notify_before_minutes: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// Body of `POST /api/admin/users` (`username`, `password` required) and
/// `PUT /api/admin/users/{id}` / `PUT /api/profile` (partial; `null` clears optional fields).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct UserInput {
    pub username: Option<String>,
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub phone: Option<Option<String>>,
    pub password: Option<String>,
    pub is_admin: Option<bool>,
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub telegram_user_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub slack_user_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub mattermost_user_id: Option<Option<String>>,
    /// An IANA time zone name (`Europe/Berlin`); `null`: the installation's default.
    #[serde(default, deserialize_with = "nullable")]
    pub time_zone: Option<Option<String>>,
    /// 0 … 1440; 0 = no shift notifications.
    pub shift_notify_before_minutes: Option<i64>,
}

fn row(r: &Row<'_>) -> Result<User> {
    Ok(User {
        id: r.get("id")?,
        username: r.get("username")?,
        display_name: r.get("display_name")?,
        email: r.get("email")?,
        phone: r.get("phone")?,
        is_admin: r.get("is_admin")?,
        active: r.get("active")?,
        telegram_user_id: r.get("telegram_user_id")?,
        slack_user_id: r.get("slack_user_id")?,
        mattermost_user_id: r.get("mattermost_user_id")?,
        must_change_password: r.get("must_change_password")?,
        active_group_id: r.get("active_group_id")?,
        time_zone: r.get("time_zone")?,
        shift_notify_before_minutes: r.get("shift_notify_before_minutes")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

pub fn get(c: &Read<'_>, id: i64) -> Result<User> {
    c.opt("SELECT * FROM users WHERE id = ?1", args![id], row)?.ok_or_else(|| StoreError::not_found("user"))
}

pub fn exists(c: &Read<'_>, id: i64) -> Result<bool> {
    c.one("SELECT EXISTS(SELECT 1 FROM users WHERE id = ?1)", args![id], |r| r.get(0))
}

/// The user and password hash for a login attempt (case-insensitive username).
pub fn credentials(c: &Read<'_>, username: &str) -> Result<Option<(User, String)>> {
    c.opt("SELECT * FROM users WHERE username = ?1", args![username], |r| Ok((row(r)?, r.get("password_hash")?)))
}

pub fn password_hash(c: &Read<'_>, id: i64) -> Result<String> {
    c.one("SELECT password_hash FROM users WHERE id = ?1", args![id], |r| r.get(0))
}

pub fn by_chat_id(c: &Read<'_>, column: ChatId, value: &str) -> Result<Option<User>> {
    let col = match column {
        ChatId::Telegram => "telegram_user_id",
        ChatId::Slack => "slack_user_id",
        ChatId::Mattermost => "mattermost_user_id",
    };
    c.opt(&format!("SELECT * FROM users WHERE {col} = ?1 AND active = 1"), args![value], row)
}

#[derive(Debug, Clone, Copy)]
pub enum ChatId {
    Telegram,
    Slack,
    Mattermost,
}

/// All users (`None`) or those sharing a group with the caller.
pub fn list(c: &Read<'_>, groups: Option<&[i64]>) -> Result<Vec<User>> {
    let (sql, ids): (String, Vec<i64>) = match groups {
        None => ("SELECT * FROM users ORDER BY username".into(), vec![]),
        Some(g) => (
            format!(
                "SELECT * FROM users WHERE id IN (SELECT user_id FROM group_memberships WHERE group_id IN {}) ORDER BY username",
                placeholders(g.len())
            ),
            g.to_vec(),
        ),
    };
    c.rows(&sql, &vals(&ids), row)
}

pub fn count_admins(c: &Read<'_>) -> Result<i64> {
    c.one("SELECT COUNT(*) FROM users WHERE is_admin = 1 AND active = 1", &[], |r| r.get(0))
}

/// Checks and applies a user input; returns the new password to hash, if any.
fn apply(u: &mut User, input: UserInput, p: &mut Problems) -> Option<String> {
    if let Some(v) = input.username {
        u.username = v.trim().to_string();
    }
    if let Some(v) = input.display_name {
        u.display_name = v.trim().to_string();
    }
    if let Some(v) = input.email {
        u.email = clean(v);
    }
    if let Some(v) = input.phone {
        u.phone = clean(v);
    }
    if let Some(v) = input.is_admin {
        u.is_admin = v;
    }
    if let Some(v) = input.active {
        u.active = v;
    }
    if let Some(v) = input.telegram_user_id {
        u.telegram_user_id = clean(v);
    }
    if let Some(v) = input.slack_user_id {
        u.slack_user_id = clean(v);
    }
    if let Some(v) = input.mattermost_user_id {
        u.mattermost_user_id = clean(v);
    }
    if let Some(v) = input.time_zone {
        u.time_zone = clean(v);
    }
    if let Some(m) = input.shift_notify_before_minutes {
        u.shift_notify_before_minutes = m;
    }
    p.check(
        (0..=1440).contains(&u.shift_notify_before_minutes),
        "shift_notify_before_minutes",
        "must be between 0 and 1440 (a day)",
    );
    if let Some(tz) = &u.time_zone {
        p.check(
            jiff::tz::TimeZone::get(tz).is_ok(),
            "time_zone",
            "must be an IANA time zone name such as Europe/Berlin",
        );
    }
    let ok_name = !u.username.is_empty()
        && u.username.len() <= 64
        && u.username.chars().all(|ch| ch.is_ascii_alphanumeric() || "._-@".contains(ch));
    p.check(ok_name, "username", "must be 1-64 characters of letters, digits, '.', '_', '-' or '@'");
    p.max_len("display_name", &u.display_name, 200);
    if let Some(e) = &u.email {
        p.check(
            e.contains('@') && !e.contains(char::is_whitespace) && e.len() <= 254,
            "email",
            "must be an e-mail address",
        );
    }
    if let Some(ph) = &u.phone {
        let digits = ph.chars().filter(char::is_ascii_digit).count();
        p.check(
            ph.starts_with('+') && digits >= 6 && ph.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)),
            "phone",
            "must be an international number like +49 30 1234567",
        );
    }
    if let Some(pw) = &input.password {
        validate::password(p, "password", pw);
    }
    input.password
}

/// Creates a user; `password_hash` is computed by the caller off the async workers.
pub fn create(
    c: &Tx<'_>,
    ctx: &Ctx,
    input: UserInput,
    password_hash: &str,
    must_change_password: bool,
) -> Result<User> {
    let mut p = Problems::new();
    p.required(input.username.as_ref(), "username");
    let mut u = User {
        id: 0,
        username: String::new(),
        display_name: String::new(),
        email: None,
        phone: None,
        is_admin: false,
        active: true,
        telegram_user_id: None,
        slack_user_id: None,
        mattermost_user_id: None,
        must_change_password,
        active_group_id: None,
        time_zone: None,
        shift_notify_before_minutes: 60,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    apply(&mut u, input, &mut p);
    p.finish()?;
    if u.display_name.is_empty() {
        u.display_name = u.username.clone();
    }
    u.id = c.insert(
        "INSERT INTO users (username, display_name, email, phone, password_hash, is_admin, active, telegram_user_id,
                            slack_user_id, mattermost_user_id, must_change_password, created_at, updated_at, time_zone)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13) RETURNING id",
        args![
            u.username,
            u.display_name,
            u.email,
            u.phone,
            password_hash,
            u.is_admin,
            u.active,
            u.telegram_user_id,
            u.slack_user_id,
            u.mattermost_user_id,
            u.must_change_password,
            ctx.now,
            u.time_zone
        ],
    )?;
    ctx.audit(c, "user.create", "user", u.id, None, json!({"username": u.username, "is_admin": u.is_admin}))?;
    Ok(u)
}

/// Validates an input before any password is hashed (hashing is slow; fail fast).
pub fn precheck(input: &UserInput) -> Result<()> {
    let mut p = Problems::new();
    if let Some(pw) = &input.password {
        validate::password(&mut p, "password", pw);
    }
    Ok(p.finish()?)
}

/// Updates a user. `password_hash` replaces the password when given.
pub fn update(c: &Tx<'_>, ctx: &Ctx, id: i64, input: UserInput, password_hash: Option<&str>) -> Result<User> {
    let mut u = get(c, id)?;
    let was_admin_active = u.is_admin && u.active;
    let mut p = Problems::new();
    let changed_password = apply(&mut u, input, &mut p).is_some();
    p.finish()?;
    if was_admin_active && !(u.is_admin && u.active) && count_admins(c)? <= 1 {
        return Err(StoreError::conflict("is_admin", "this is the last active admin; make another user admin first"));
    }
    u.updated_at = ctx.now;
    c.exec(
        "UPDATE users SET username = ?1, display_name = ?2, email = ?3, phone = ?4, is_admin = ?5, active = ?6,
                telegram_user_id = ?7, slack_user_id = ?8, mattermost_user_id = ?9, updated_at = ?10, time_zone = ?12, shift_notify_before_minutes = ?13 WHERE id = ?11",
        args![
            u.username,
            u.display_name,
            u.email,
            u.phone,
            u.is_admin,
            u.active,
            u.telegram_user_id,
            u.slack_user_id,
            u.mattermost_user_id,
            ctx.now,
            id,
            u.time_zone,
            u.shift_notify_before_minutes
        ],
    )?;
    if let Some(h) = password_hash.filter(|_| changed_password) {
        set_password(c, ctx, id, h, false, None)?;
    }
    if !u.active {
        c.exec("DELETE FROM sessions WHERE user_id = ?1", args![id])?;
    }
    ctx.audit(
        c,
        "user.update",
        "user",
        id,
        None,
        json!({"username": u.username, "is_admin": u.is_admin, "active": u.active}),
    )?;
    get(c, id)
}

/// Replaces the password hash and ends every session of the user except `keep_session`.
pub fn set_password(
    c: &Tx<'_>,
    ctx: &Ctx,
    id: i64,
    hash: &str,
    must_change: bool,
    keep_session: Option<i64>,
) -> Result<()> {
    let n = c.exec(
        "UPDATE users SET password_hash = ?1, must_change_password = ?2, updated_at = ?3 WHERE id = ?4",
        args![hash, must_change, ctx.now, id],
    )?;
    if n == 0 {
        return Err(StoreError::not_found("user"));
    }
    c.exec("DELETE FROM sessions WHERE user_id = ?1 AND id IS DISTINCT FROM ?2", args![id, keep_session])?;
    ctx.audit(c, "user.password", "user", id, None, json!({}))?;
    Ok(())
}

pub fn set_active_group(c: &Tx<'_>, id: i64, group_id: Option<i64>) -> Result<()> {
    c.exec("UPDATE users SET active_group_id = ?1 WHERE id = ?2", args![group_id, id])?;
    Ok(())
}

pub fn delete(c: &Tx<'_>, ctx: &Ctx, id: i64) -> Result<()> {
    let u = get(c, id)?;
    if u.is_admin && u.active && count_admins(c)? <= 1 {
        return Err(StoreError::conflict("id", "this is the last active admin and cannot be deleted"));
    }
    let used: Option<String> = c.opt(
        "SELECT p.name FROM escalation_rules r JOIN escalation_policies p ON p.id = r.policy_id
             WHERE r.target_type = 'user' AND r.target_id = ?1 LIMIT 1",
        args![id],
        |r| r.get(0),
    )?;
    if let Some(policy) = used {
        return Err(StoreError::conflict("id", format!("the user is a target of escalation policy \"{policy}\"")));
    }
    c.exec("DELETE FROM users WHERE id = ?1", args![id])?;
    ctx.audit(c, "user.delete", "user", id, None, json!({"username": u.username}))?;
    Ok(())
}

pub use crate::domain::lifecycle::UserRef;
