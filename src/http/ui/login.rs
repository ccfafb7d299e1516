//! Login, logout and the active-group choice.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;

use super::form::{Form, urlencode};
use super::layout::bare;
use super::{Ui, UiResult, html_response, redirect};
use crate::http::State;
use crate::http::api::auth::{start_session, verify_login};
use crate::http::auth::{SESSION_COOKIE, clear_session_cookie, session_cookie};
use crate::http::error::ApiError;
use crate::store::{tokens, users};

/// Double-submit cookie protecting the login form (there is no session yet).
const LOGIN_COOKIE: &str = "ir_login";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(show));
    cfg.route("/login", web::post().to(submit));
    cfg.route("/logout", web::post().to(logout));
    cfg.route("/ui/group", web::post().to(choose_group));
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// Only paths on this origin: never redirect off-site after login. Browsers drop tabs and
/// newlines from a `Location` and read `\` as `/`, so `/\t/evil` or `/\\evil` would lead to
/// `//evil`; a path with a control character, a backslash or whitespace is refused outright
/// (a CR/LF could not go into a header anyway).
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

fn login_page(status: StatusCode, token: &str, next: &str, username: &str, error: Option<&str>) -> HttpResponse {
    let markup = bare(
        "Log in",
        html! {
            div.login {
                img src="/assets/icon.svg" alt="" width="48" height="48";
                h1 { "IncidentRelay" }
                @if let Some(e) = error { div.flash.error role="alert" { (e) } }
                form method="post" action={"/login?next=" (urlencode(next))} {
                    input type="hidden" name="csrf" value=(token);
                    div.field {
                        label for="username" { "Username" }
                        input id="username" name="username" autocomplete="username" autocapitalize="none" required autofocus value=(username);
                    }
                    div.field {
                        label for="password" { "Password" }
                        input id="password" name="password" type="password" autocomplete="current-password" required;
                    }
                    button.primary type="submit" { "Log in" }
                }
                p.muted { "First start? The password of " code { "admin" } " is in the server log." }
            }
        },
    );
    let mut resp = html_response(status, markup);
    let _ = resp.add_cookie(&Cookie::build(LOGIN_COOKIE, token.to_string()).path("/login").http_only(true).finish());
    resp
}

async fn show(st: State, req: HttpRequest, q: web::Query<Next>) -> UiResult {
    let next = safe_next(q.next.as_deref());
    if let Some(c) = req.cookie(SESSION_COOKIE)
        && crate::http::auth::authenticate(&st, c.value().to_string(), true).await.is_ok()
    {
        return Ok(HttpResponse::SeeOther().insert_header(("Location", next)).finish());
    }
    let token = crate::crypto::b64url(&crate::crypto::random_bytes::<18>().map_err(ApiError::from)?);
    Ok(login_page(StatusCode::OK, &token, &next, "", None))
}

async fn submit(st: State, req: HttpRequest, q: web::Query<Next>, form: Form) -> UiResult {
    let next = safe_next(q.next.as_deref());
    let username = form.text("username").unwrap_or_default();
    let password = form.get("password").unwrap_or("").to_string();
    let expected = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
    let fresh = crate::crypto::b64url(&crate::crypto::random_bytes::<18>().map_err(ApiError::from)?);
    let got = form.get("csrf").unwrap_or("");
    if expected.is_empty() || !crate::crypto::ct_eq(got.as_bytes(), expected.as_bytes()) {
        let msg = "The login form expired; please try again.";
        return Ok(login_page(StatusCode::FORBIDDEN, &fresh, &next, &username, Some(msg)));
    }
    let user = match verify_login(&st, &req, &username, &password).await {
        Ok(u) => u,
        Err(ApiError::RateLimited { retry_after, .. }) => {
            let msg = format!("Too many failed logins. Try again in {retry_after} seconds.");
            return Ok(login_page(StatusCode::TOO_MANY_REQUESTS, &fresh, &next, &username, Some(&msg)));
        }
        Err(ApiError::Unauthorized(_)) => {
            return Ok(login_page(
                StatusCode::UNAUTHORIZED,
                &fresh,
                &next,
                &username,
                Some("Wrong username or password."),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let (token, _, expires_at) = start_session(&st, &req, user.id).await?;
    let to = if user.must_change_password { "/profile#password".to_string() } else { next };
    let mut resp = redirect(&to, "ok", &format!("Welcome, {}.", user.username));
    let _ = resp.add_cookie(&session_cookie(&token, expires_at.secs_since(st.clock.now()), st.secure_cookies()));
    let mut gone = Cookie::build(LOGIN_COOKIE, "").path("/login").finish();
    gone.make_removal();
    let _ = resp.add_cookie(&gone);
    Ok(resp)
}

async fn logout(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    if let crate::http::auth::Via::Session { id, .. } = ui.caller.via {
        ui.st.db.write(move |c| tokens::delete_session(c, id)).await?;
    }
    let mut resp = HttpResponse::SeeOther().insert_header(("Location", "/login")).finish();
    let _ = resp.add_cookie(&clear_session_cookie(ui.st.secure_cookies()));
    Ok(resp)
}

async fn choose_group(ui: Ui, form: Form) -> UiResult {
    ui.verify(&form)?;
    let group = form.text("group_id").and_then(|g| g.parse::<i64>().ok());
    if let Some(g) = group
        && !ui.groups.iter().any(|x| x.id == g)
    {
        return Err(ApiError::field("group_id", "not one of your groups").into());
    }
    let id = ui.caller.user.id;
    ui.st.db.write(move |c| users::set_active_group(c, id, group)).await?;
    let name = group.and_then(|g| ui.groups.iter().find(|x| x.id == g)).map(|g| g.name.clone());
    let back = safe_next(form.get("back"));
    Ok(redirect(&back, "ok", &format!("Showing {}.", name.as_deref().unwrap_or("all your groups"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/alerts?status=firing")), "/alerts?status=firing");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/", "browsers drop the tab: //evil.example");
        assert_eq!(safe_next(Some("/a\\b")), "/");
        assert_eq!(safe_next(Some("/\r\nSet-Cookie: x=1")), "/");
        assert_eq!(safe_next(Some("/ /evil")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
