//! Acting on alerts on behalf of people (chat buttons, links, keypads): shared by the HTTP
//! callbacks and the engine's Telegram polling.

use crate::crypto::{Action, Target};
use crate::domain::access::{Access, Role};
use crate::domain::time::Ts;
use crate::engine::EngineHandle;
use crate::store::Db;
use crate::store::alerts::{self, Alert};
use crate::store::audit::Actor;
use crate::store::users::{self, ChatId};
use crate::store::{StoreError, channels, groups, lifecycle, outbox};

/// What an action did, in words for the person who clicked.
pub struct Outcome {
    pub alert: Alert,
    pub message: String,
}

/// How long a chat button's snooze lasts.
pub const BUTTON_SNOOZE_SECS: i64 = 3600;

/// Acknowledges, resolves or snoozes an alert as `actor` (acknowledge and resolve are
/// idempotent) and wakes the engine.
pub async fn act(
    db: &Db,
    engine: &EngineHandle,
    now: Ts,
    alert_id: i64,
    action: Action,
    actor: Actor,
) -> Result<Outcome, StoreError> {
    let before = db.read(move |c| alerts::get(c, alert_id)).await?;
    let name = actor.name.clone();
    let alert = db
        .write(move |c| match action {
            Action::Acknowledge => lifecycle::acknowledge(c, now, alert_id, &actor),
            Action::Resolve => lifecycle::resolve(c, now, alert_id, &actor),
            Action::Snooze => {
                let ctx = crate::store::audit::Ctx::new(actor, now);
                crate::store::actions::snooze(c, &ctx, alert_id, now.plus_secs(BUTTON_SNOOZE_SECS))
            }
        })
        .await?;
    engine.wake();
    let message = match (action, before.status) {
        (_, crate::domain::alert::AlertStatus::Resolved) => format!("Alert #{alert_id} was already resolved."),
        (Action::Acknowledge, crate::domain::alert::AlertStatus::Acknowledged) => {
            format!(
                "Alert #{alert_id} was already acknowledged by {}.",
                before.acknowledged_by.as_deref().unwrap_or("someone")
            )
        }
        (Action::Acknowledge, _) => format!("Alert #{alert_id} acknowledged by {name}."),
        (Action::Resolve, _) => format!("Alert #{alert_id} resolved by {name}."),
        (Action::Snooze, _) => format!("Alert #{alert_id} snoozed for 1 hour by {name}."),
    };
    Ok(Outcome { alert, message })
}

/// Where a signed action comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A one-click link from a notification.
    Link,
    /// A chat button or keypad press on this channel.
    Channel(i64),
    /// A keypad press during a call to this personal contact method.
    Method(i64),
}

/// Whether a signed action may act: the alert exists and is still in the episode that was
/// signed; a channel must belong to the alert's team and have delivered a message about this
/// episode of the alert, a contact method must have delivered one. `Err` carries the reason to show the person.
pub async fn admissible(db: &Db, target: Target, origin: Origin) -> Result<Alert, String> {
    let found = db
        .read(move |c| {
            let alert = match alerts::get(c, target.alert_id) {
                Ok(a) => a,
                Err(StoreError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            let paged = match origin {
                Origin::Link => true,
                Origin::Channel(channel_id) => {
                    let same_team = match channels::get(c, channel_id) {
                        Ok(ch) => ch.team_id == alert.team_id,
                        Err(StoreError::NotFound(_)) => false,
                        Err(e) => return Err(e),
                    };
                    same_team && outbox::delivered(c, channel_id, alert.id, target.episode)?
                }
                // The person called is checked by the caller (a responder of the alert's group).
                Origin::Method(method_id) => outbox::delivered(c, -method_id, alert.id, target.episode)?,
            };
            Ok(Some((alert, paged)))
        })
        .await
        .map_err(|e| format!("IncidentRelay could not check this action: {e}"))?;
    match found {
        None => Err(format!("Alert #{} no longer exists.", target.alert_id)),
        Some((_, false)) => Err("This button does not belong to this alert's notifications.".into()),
        Some((alert, true)) if alert.episode != target.episode => Err(format!(
            "Alert #{} was resolved and has fired again since this was sent: open the alert to act on it now.",
            alert.id
        )),
        Some((alert, true)) => Ok(alert),
    }
}

/// The IncidentRelay user behind a chat account, if they may act on alerts of `group_id`
/// (responder). `Err` carries the reason to show the person.
pub async fn chat_user(db: &Db, which: ChatId, chat_user_id: String, group_id: i64) -> Result<Actor, String> {
    let found = db
        .read(move |c| {
            let Some(user) = users::by_chat_id(c, which, &chat_user_id)? else { return Ok(None) };
            let roles = groups::active_roles(c, user.id)?;
            Ok(Some((user, roles)))
        })
        .await
        .map_err(|e| format!("IncidentRelay could not check your account: {e}"))?;
    let Some((user, roles)) = found else {
        return Err("Your chat account is not linked to an IncidentRelay user: add your chat user id to your IncidentRelay profile.".into());
    };
    responder(user, roles, group_id)
}

/// `user` as the actor when they are an active responder (or more) in `group_id`.
pub fn responder(user: users::User, roles: Vec<(i64, Role)>, group_id: i64) -> Result<Actor, String> {
    if !user.active || Access::new(user.is_admin, roles).check(group_id, Role::Responder).is_err() {
        return Err(format!(
            "{} may not acknowledge or resolve this team's alerts (responder role needed).",
            user.username
        ));
    }
    Ok(Actor::user(user.id, &user.username))
}

/// A chat button press on `channel_id` by the chat account `chat_user_id`: checks the button
/// (episode, channel, team), then the person (linked, responder), then acts. Returns what to
/// tell the person.
pub async fn chat_act(
    db: &Db,
    engine: &EngineHandle,
    now: Ts,
    channel_id: i64,
    target: Target,
    (which, chat_user_id): (ChatId, String),
) -> String {
    let alert = match admissible(db, target, Origin::Channel(channel_id)).await {
        Ok(a) => a,
        Err(why) => return why,
    };
    let actor = match chat_user(db, which, chat_user_id, alert.group_id).await {
        Ok(a) => a,
        Err(why) => return why,
    };
    match act(db, engine, now, alert.id, target.action, actor).await {
        Ok(o) => o.message,
        Err(e) => format!("IncidentRelay could not do that: {e}"),
    }
}

/// The answer to a Telegram button press (`answerCallbackQuery`).
pub struct CallbackAnswer {
    pub callback_query_id: String,
    pub text: String,
}

/// Handles one Telegram update for a channel: a button press with valid signed callback data
/// from a linked responder acts on the alert. Returns what to answer, if anything.
pub async fn telegram_update(
    db: &Db,
    engine: &EngineHandle,
    secret: &[u8],
    channel_id: i64,
    now: Ts,
    update: &serde_json::Value,
) -> Option<CallbackAnswer> {
    let q = update.get("callback_query")?;
    let id = q.get("id")?.as_str()?.to_string();
    let answer = |text: String| Some(CallbackAnswer { callback_query_id: id.clone(), text });
    let data = q.get("data").and_then(|d| d.as_str()).unwrap_or("");
    let Some((target, sig)) = crate::notify::telegram::parse_callback(data) else {
        return answer("Unknown button.".into());
    };
    if !crate::crypto::verify_button(secret, channel_id, target, sig) {
        return answer("This button is not valid.".into());
    }
    let from = q
        .get("from")
        .and_then(|f| f.get("id"))
        .map(|v| v.as_i64().map(|n| n.to_string()).unwrap_or_else(|| v.as_str().unwrap_or("").to_string()));
    answer(chat_act(db, engine, now, channel_id, target, (ChatId::Telegram, from.unwrap_or_default())).await)
}
