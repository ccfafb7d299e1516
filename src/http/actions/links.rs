//! One-click links: `<public_base_url>/a/<token>`. GET only shows a confirmation page (link
//! previewers and mail scanners fetch links); POST acts.

use actix_web::{HttpResponse, web};
use maud::html;

use super::{Origin, act, admissible};
use crate::crypto::{Action, verify_action_token};
use crate::http::State;
use crate::http::ui::layout::bare;
use crate::store::audit::Actor;

fn page(status: u16, title: &str, body: maud::Markup) -> HttpResponse {
    let code = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK);
    HttpResponse::build(code)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(bare(title, body).into_string())
}

fn refused(why: &str) -> HttpResponse {
    page(
        400,
        "Link not valid",
        html! { h1 { "This link cannot be used" } p { (why.trim_end_matches('.')) "." } p { a href="/" { "Open IncidentRelay" } } },
    )
}

pub async fn confirm(st: State, token: web::Path<String>) -> HttpResponse {
    let now = st.clock.now();
    let target = match verify_action_token(&st.senders.secret, &token, now.secs()) {
        Ok(v) => v,
        Err(why) => return refused(why),
    };
    let alert = match admissible(&st.db, target, Origin::Link).await {
        Ok(a) => a,
        Err(why) => return refused(&why),
    };
    let verb = match target.action {
        Action::Acknowledge => "Acknowledge",
        Action::Resolve => "Resolve",
        Action::Snooze => "Snooze for 1 hour",
    };
    page(
        200,
        verb,
        html! {
            h1 { (verb) " alert #" (alert.id) "?" }
            p.alert-title { strong { (alert.title) } }
            p { "Status: " span class={"badge status-" (alert.status.as_str())} { (alert.status.as_str()) } " · severity " (alert.severity.as_str()) " · team " (alert.team_slug) }
            form method="post" {
                button.primary type="submit" { (verb) }
            }
            p.muted { "Nothing happens until you press the button." }
        },
    )
}

pub async fn perform(st: State, token: web::Path<String>) -> HttpResponse {
    let now = st.clock.now();
    let target = match verify_action_token(&st.senders.secret, &token, now.secs()) {
        Ok(v) => v,
        Err(why) => return refused(why),
    };
    let alert_id = match admissible(&st.db, target, Origin::Link).await {
        Ok(a) => a.id,
        Err(why) => return refused(&why),
    };
    match act(&st.db, &st.engine, now, alert_id, target.action, Actor::system("one-click link")).await {
        Ok(outcome) => page(
            200,
            "Done",
            html! {
                h1 { (outcome.message) }
                p.alert-title { (outcome.alert.title) }
                p { a href={"/alerts/" (alert_id)} { "Open the alert" } }
            },
        ),
        Err(e) => refused(&e.to_string()),
    }
}
