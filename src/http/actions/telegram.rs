//! Telegram button presses by webhook: `POST /api/integrations/telegram/{channel_id}`, with the
//! `X-Telegram-Bot-Api-Secret-Token` IncidentRelay set when it registered the webhook. The
//! answer travels in the response (`answerCallbackQuery`), so no outbound call is needed.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::crypto::ct_eq;
use crate::engine::actions::telegram_update;
use crate::http::State;
use crate::notify::ChannelKind;
use crate::store::channels;

use crate::notify::telegram::webhook_secret;

pub async fn webhook(st: State, req: HttpRequest, channel_id: web::Path<i64>, body: web::Bytes) -> HttpResponse {
    let channel_id = channel_id.into_inner();
    let expected = webhook_secret(&st.senders.secret, channel_id);
    let got = req.headers().get("X-Telegram-Bot-Api-Secret-Token").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct_eq(expected.as_bytes(), got.as_bytes()) {
        return HttpResponse::Unauthorized().json(json!({"error": "unauthorized", "message": "bad secret token"}));
    }
    match st.db.read(move |c| channels::get(c, channel_id)).await {
        Ok(ch) if ch.channel_type == ChannelKind::Telegram => {}
        _ => {
            return HttpResponse::NotFound().json(json!({"error": "not_found", "message": "no such Telegram channel"}));
        }
    }
    let Ok(update) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest()
            .json(json!({"error": "validation_error", "message": "not a Telegram update"}));
    };
    match telegram_update(&st.db, &st.engine, &st.senders.secret, channel_id, st.clock.now(), &update).await {
        Some(a) => HttpResponse::Ok()
            .json(json!({"method": "answerCallbackQuery", "callback_query_id": a.callback_query_id, "text": a.text})),
        None => HttpResponse::Ok().json(json!({})),
    }
}
