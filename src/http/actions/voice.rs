//! Voice provider callbacks: `POST /api/integrations/voice/{channel_id}/callback` for a voice
//! channel's calls, `POST /api/integrations/voice/personal/{method_id}/callback` for calls to a
//! person's voice contact method (through the installation's `phone.*` provider). The generic
//! HTTP gateway signs JSON bodies (`X-IncidentRelay-Signature`, ±5 min); Twilio signs form
//! posts (`X-Twilio-Signature`). Call states go on the alert's timeline; a pressed key mapped in
//! `dtmf_actions` acknowledges or resolves as the person called.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::{Origin, act, admissible, responder};
use crate::crypto::{Action, Target, ct_eq};
use crate::domain::contact::MethodType;
use crate::http::State;
use crate::notify::ChannelKind;
use crate::notify::voice::{self, DtmfAction, Provider};
use crate::store::{channels, contacts, groups, outbox, timeline, users};

struct Callback {
    call_id: String,
    status: Option<String>,
    digits: Option<String>,
}

fn twiml(text: &str) -> HttpResponse {
    HttpResponse::Ok().content_type("text/xml").body(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>{}</Say></Response>",
        crate::notify::text::html_escape(text)
    ))
}

fn not_found(m: &str) -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "not_found", "message": m}))
}

/// A voice channel's calls.
pub async fn callback(st: State, req: HttpRequest, channel_id: web::Path<i64>, body: web::Bytes) -> HttpResponse {
    let channel_id = channel_id.into_inner();
    let channel = match st.db.read(move |c| channels::get(c, channel_id)).await {
        Ok(ch) if ch.channel_type == ChannelKind::Voice => ch,
        _ => return not_found("no such voice channel"),
    };
    let Ok(cfg) = serde_json::from_value::<voice::Config>(channel.config.clone()) else {
        return not_found("channel misconfigured");
    };
    handle(st, req, body, cfg, channel_id).await
}

/// Calls to a person's voice contact method, placed through the installation's phone provider.
pub async fn personal_callback(
    st: State,
    req: HttpRequest,
    method_id: web::Path<i64>,
    body: web::Bytes,
) -> HttpResponse {
    let method_id = method_id.into_inner();
    match st.db.read(move |c| contacts::get(c, method_id)).await {
        Ok(m) if m.method_type == MethodType::Voice => {}
        _ => return not_found("no such voice contact method"),
    }
    let phone = crate::notify::personal::phone(&st.config).ok();
    let Some(cfg) = phone.and_then(|p| serde_json::from_value::<voice::Config>(p).ok()) else {
        return not_found("no phone provider configured");
    };
    handle(st, req, body, cfg, -method_id).await
}

/// A callback about a call placed by `sender` (a channel, or minus a contact method).
async fn handle(st: State, req: HttpRequest, body: web::Bytes, cfg: voice::Config, sender: i64) -> HttpResponse {
    let unauthorized = |m: &str| HttpResponse::Unauthorized().json(json!({"error": "unauthorized", "message": m}));
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let now = st.clock.now();
    let cb = match cfg.provider {
        Provider::Http => {
            let Ok(ts) = header("X-IncidentRelay-Timestamp").parse::<i64>() else {
                return unauthorized("missing timestamp");
            };
            if (now.secs() - ts).abs() > 300 {
                return unauthorized("stale callback");
            }
            let expected = voice::http_signature(cfg.secret.as_deref().unwrap_or(""), ts, &body);
            if !ct_eq(expected.as_bytes(), header("X-IncidentRelay-Signature").as_bytes()) {
                return unauthorized("bad signature");
            }
            let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                return HttpResponse::BadRequest()
                    .json(json!({"error": "validation_error", "message": "expected JSON"}));
            };
            Callback {
                call_id: v["call_id"].as_str().unwrap_or("").to_string(),
                status: v["status"].as_str().map(str::to_string),
                digits: v["digits"].as_str().map(str::to_string),
            }
        }
        Provider::Twilio => {
            let params: Vec<(String, String)> = serde_html_form::from_bytes(&body).unwrap_or_default();
            let url = format!("{}{}", st.base_url, req.uri().path_and_query().map(|p| p.as_str()).unwrap_or(""));
            let expected = voice::twilio_signature(cfg.auth_token.as_deref().unwrap_or(""), &url, &params);
            if !ct_eq(expected.as_bytes(), header("X-Twilio-Signature").as_bytes()) {
                return unauthorized("bad Twilio signature");
            }
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            Callback { call_id: get("CallSid").unwrap_or_default(), status: get("CallStatus"), digits: get("Digits") }
        }
    };
    let call = cb.call_id.clone();
    let delivery = st.db.read(move |c| outbox::by_external_id(c, sender, &call)).await.ok().flatten();
    let Some(d) = delivery else { return not_found("unknown call id") };
    let Some(alert_id) = d.alert_id else { return HttpResponse::Ok().json(json!({"status": "ok"})) };
    if let Some(status) = cb.status.clone() {
        let call = cb.call_id.clone();
        let _ = st
            .db
            .write(move |c| {
                timeline::add_event(
                    c,
                    alert_id,
                    now,
                    "call_status",
                    &format!("voice call {call}: {status}"),
                    None,
                    json!({"delivery_id": d.id}),
                )
            })
            .await;
    }
    let action = cb.digits.as_deref().and_then(|k| cfg.dtmf_actions.get(k)).map(|a| match a {
        DtmfAction::Acknowledge => Action::Acknowledge,
        DtmfAction::Resolve => Action::Resolve,
    });
    let said = match action {
        Some(action) => {
            let target = Target { alert_id, episode: d.episode, action };
            keypress(&st, now, sender, target, d.user_id).await
        }
        None if cb.digits.is_some() => "That key does nothing. Goodbye.".to_string(),
        None => "ok".to_string(),
    };
    match cfg.provider {
        Provider::Twilio => twiml(&said),
        Provider::Http => HttpResponse::Ok().json(json!({"status": "ok", "result": said})),
    }
}

/// A mapped key pressed during a call: acts as the person called, when the call was about the
/// alert's current episode and they are a responder of its group. Returns what to say.
async fn keypress(st: &State, now: crate::domain::time::Ts, sender: i64, t: Target, callee: Option<i64>) -> String {
    let origin = if sender < 0 { Origin::Method(-sender) } else { Origin::Channel(sender) };
    let alert = match admissible(&st.db, t, origin).await {
        Ok(a) => a,
        Err(why) => return why,
    };
    let Some(user_id) = callee else { return "This call was not placed to a person. Goodbye.".into() };
    let found = st.db.read(move |c| Ok((users::get(c, user_id)?, groups::active_roles(c, user_id)?))).await;
    let actor = match found.map_err(|e| e.to_string()).and_then(|(u, roles)| responder(u, roles, alert.group_id)) {
        Ok(mut a) => {
            a.name = format!("{} (phone)", a.name);
            a
        }
        Err(why) => return why,
    };
    match act(&st.db, &st.engine, now, alert.id, t.action, actor).await {
        Ok(o) => o.message,
        Err(e) => format!("That did not work: {e}"),
    }
}
