//! Mattermost interactive buttons: `POST /api/integrations/mattermost/actions`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::chat_act;
use crate::crypto::{Action, Target, verify_button};
use crate::http::State;
use crate::notify::ChannelKind;
use crate::store::channels;
use crate::store::users::ChatId;

#[derive(Debug, Deserialize)]
struct Click {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    context: Context,
}

#[derive(Debug, Default, Deserialize)]
struct Context {
    #[serde(default)]
    channel_id: i64,
    #[serde(default)]
    alert_id: i64,
    #[serde(default)]
    episode: i64,
    #[serde(default)]
    action: String,
    #[serde(default)]
    sig: String,
}

/// Mattermost shows `ephemeral_text` to the clicking user only.
fn ephemeral(text: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({"ephemeral_text": text}))
}

pub async fn action(st: State, body: web::Bytes) -> HttpResponse {
    let Ok(click) = serde_json::from_slice::<Click>(&body) else {
        return HttpResponse::BadRequest()
            .json(json!({"error": "validation_error", "message": "not a Mattermost action request"}));
    };
    let ctx = click.context;
    let Some(action) = Action::from_code(&ctx.action) else { return ephemeral("Unknown action.") };
    let channel_id = ctx.channel_id;
    let channel = match st.db.read(move |c| channels::get(c, channel_id)).await {
        Ok(ch) if ch.channel_type == ChannelKind::Mattermost => ch,
        _ => return HttpResponse::Forbidden().json(json!({"ephemeral_text": "This button is not valid."})),
    };
    let own = channel.config.get("callback_secret").and_then(|v| v.as_str()).map(str::as_bytes);
    let target = Target { alert_id: ctx.alert_id, episode: ctx.episode, action };
    if !verify_button(own.unwrap_or(&st.senders.secret), channel_id, target, &ctx.sig) {
        return HttpResponse::Forbidden().json(json!({"ephemeral_text": "This button's signature is not valid."}));
    }
    let who = (ChatId::Mattermost, click.user_id);
    ephemeral(&chat_act(&st.db, &st.engine, st.clock.now(), channel_id, target, who).await)
}
