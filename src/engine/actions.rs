//! Acting on alerts on behalf of people (chat buttons, links, keypads): shared by the HTTP
//! callbacks and the engine's Telegram polling.

use crate::crypto::Action;
use crate::domain::access::{Access, Role};
use crate::domain::time::Ts;
use crate::engine::EngineHandle;
use crate::store::Db;
use crate::store::alerts::{self, Alert};
use crate::store::audit::Actor;
use crate::store::users::{self, ChatId};
use crate::store::{StoreError, groups};

/// What an action did, in words for the person who clicked.
pub struct Outcome {
    pub alert: Alert,
    pub message: String,
}

/// Acknowledges or resolves an alert as `actor` (idempotent) and wakes the engine.
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
            Action::Acknowledge => alerts::acknowledge(c, now, alert_id, &actor),
            Action::Resolve => alerts::resolve(c, now, alert_id, &actor),
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
    };
    Ok(Outcome { alert, message })
}

/// The IncidentRelay user behind a chat account, if they may act on the alert (responder).
/// `Err` carries the reason to show the person.
pub async fn chat_user(db: &Db, which: ChatId, chat_user_id: String, alert_id: i64) -> Result<Actor, String> {
    let found = db
        .read(move |c| {
            let Some(user) = users::by_chat_id(c, which, &chat_user_id)? else { return Ok(None) };
            let roles = groups::active_roles(c, user.id)?;
            let alert = alerts::get(c, alert_id)?;
            Ok(Some((user, roles, alert.group_id)))
        })
        .await
        .map_err(|e| format!("IncidentRelay could not check your account: {e}"))?;
    let Some((user, roles, group)) = found else {
        return Err("Your chat account is not linked to an IncidentRelay user: add your chat user id to your IncidentRelay profile.".into());
    };
    if Access::new(user.is_admin, roles).check(group, Role::Responder).is_err() {
        return Err(format!(
            "{} may not acknowledge or resolve this team's alerts (responder role needed).",
            user.username
        ));
    }
    Ok(Actor::user(user.id, &user.username))
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
    let Some((alert_id, action, sig)) = crate::notify::telegram::parse_callback(data) else {
        return answer("Unknown button.".into());
    };
    if !crate::crypto::verify_button(secret, channel_id, alert_id, action, sig) {
        return answer("This button is not valid.".into());
    }
    let from = q
        .get("from")
        .and_then(|f| f.get("id"))
        .map(|v| v.as_i64().map(|n| n.to_string()).unwrap_or_else(|| v.as_str().unwrap_or("").to_string()));
    let actor = match chat_user(db, ChatId::Telegram, from.unwrap_or_default(), alert_id).await {
        Ok(a) => a,
        Err(why) => return answer(why),
    };
    match act(db, engine, now, alert_id, action, actor).await {
        Ok(o) => answer(o.message),
        Err(e) => answer(format!("IncidentRelay could not do that: {e}")),
    }
}
