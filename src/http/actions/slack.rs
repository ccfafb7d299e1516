//! Slack interactivity: `POST /api/integrations/slack/actions` (form field `payload`), signed
//! with the channel's signing secret (`X-Slack-Signature` v0, 5-minute window).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::chat_act;
use crate::crypto::verify_button;
use crate::http::State;
use crate::notify::ChannelKind;
use crate::notify::slack::parse_button_value;
use crate::store::channels;
use crate::store::users::ChatId;

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_html_form::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Tells the clicking user something, without blocking the response.
fn reply(st: &State, response_url: Option<String>, text: String) {
    let Some(url) = response_url.filter(|u| u.starts_with("https://") || u.starts_with("http://")) else { return };
    let senders = st.senders.clone();
    tokio::task::spawn_blocking(move || {
        let _ = senders.http.post_json(
            &url,
            &json!({"response_type": "ephemeral", "replace_original": false, "text": text}),
            &[],
        );
    });
}

pub async fn action(st: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let forbidden = |m: &str| HttpResponse::Unauthorized().json(json!({"error": "unauthorized", "message": m}));
    let Some(payload) = form_field(&body, "payload").and_then(|p| serde_json::from_str::<Value>(&p).ok()) else {
        return HttpResponse::BadRequest()
            .json(json!({"error": "validation_error", "message": "expected a Slack interaction payload"}));
    };
    let value = payload["actions"][0]["value"].as_str().unwrap_or("");
    let Some((channel_id, target, sig)) = parse_button_value(value) else { return HttpResponse::Ok().finish() };
    let sig = sig.to_string();
    let channel = match st.db.read(move |c| channels::get(c, channel_id)).await {
        Ok(ch) if ch.channel_type == ChannelKind::Slack => ch,
        _ => return forbidden("unknown channel"),
    };
    let signing_secret = channel.config.get("signing_secret").and_then(Value::as_str).unwrap_or("");
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let now = st.clock.now();
    if signing_secret.is_empty()
        || !crate::notify::slack::verify_signature(
            signing_secret,
            &header("X-Slack-Request-Timestamp"),
            &header("X-Slack-Signature"),
            &body,
            now.secs(),
        )
    {
        return forbidden("bad or stale Slack signature");
    }
    if !verify_button(&st.senders.secret, channel_id, target, &sig) {
        return forbidden("bad button signature");
    }
    let response_url = payload["response_url"].as_str().map(str::to_string);
    let user = payload["user"]["id"].as_str().unwrap_or("").to_string();
    let said = chat_act(&st.db, &st.engine, now, channel_id, target, (ChatId::Slack, user)).await;
    reply(&st, response_url, said);
    HttpResponse::Ok().finish()
}
