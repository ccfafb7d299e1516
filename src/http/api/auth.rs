//! Login, logout and "who am I".

use actix_web::{HttpRequest, HttpResponse, web::Json};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::domain::time::Ts;
use crate::http::State;
use crate::http::auth::{Caller, Via, clear_session_cookie, client_ip, session_cookie};
use crate::http::error::{ApiError, ApiResult};
use crate::http::json::Body;
use crate::store::groups::{self, Membership};
use crate::store::tokens::{self, NewSession};
use crate::store::users::{self, User};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LoginResponse {
    /// The session token: send it as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    pub expires_at: Ts,
    /// For browser clients using the cookie: send it as `X-CSRF-Token` on requests that change data.
    pub csrf_token: String,
    pub user: User,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Me {
    pub user: User,
    pub memberships: Vec<Membership>,
}

/// A new session for a verified user (also used by the web UI login form).
pub async fn start_session(st: &State, req: &HttpRequest, user_id: i64) -> ApiResult<(String, String, Ts)> {
    let token = crypto::new_token("irs_")?;
    let csrf = crypto::b64url(&crypto::random_bytes::<24>()?);
    let now = st.clock.now();
    let expires_at = now.plus_secs(i64::from(st.config.auth.session_hours) * 3600);
    let ip = client_ip(req, &st.config.server.trusted_proxies).map(|i| i.to_string());
    let ua =
        req.headers().get("User-Agent").and_then(|v| v.to_str().ok()).map(|s| s.chars().take(200).collect::<String>());
    let (hash, c2) = (crypto::sha256_hex(&token), csrf.clone());
    st.db
        .write(move |c| {
            tokens::create_session(
                c,
                now,
                &NewSession {
                    user_id,
                    token_hash: &hash,
                    csrf_token: &c2,
                    ip: ip.as_deref(),
                    user_agent: ua.as_deref(),
                    expires_at,
                },
            )
        })
        .await?;
    Ok((token, csrf, expires_at))
}

/// Checks a username and password with throttling per client address, per account and client
/// address, and (slower) per account: a stranger's failures lock the stranger out, not the
/// real user at another address. Returns the user on success.
pub async fn verify_login(st: &State, req: &HttpRequest, username: &str, password: &str) -> ApiResult<User> {
    let now = st.clock.now();
    let cfg = &st.config.auth;
    let ip = client_ip(req, &st.config.server.trusted_proxies).map(|i| i.to_string()).unwrap_or_default();
    let ip_key = format!("ip:{ip}");
    let user_key = format!("user:{}", username.to_lowercase());
    let pair_key = format!("{user_key}@{ip}");
    for key in [&ip_key, &pair_key, &user_key] {
        if let Err(retry_after) = st.throttle.check(key, now) {
            return Err(ApiError::RateLimited {
                retry_after,
                message: "too many failed logins; try again later".into(),
            });
        }
    }
    let (name, pw) = (username.to_string(), password.to_string());
    let db = st.db.clone();
    let found = tokio::task::spawn_blocking(move || {
        let found = db.read_blocking(|c| users::credentials(c, &name))?;
        let hash = found.as_ref().map(|(_, h)| h.as_str()).unwrap_or(crypto::DUMMY_HASH);
        let ok = crypto::verify_password(&pw, hash);
        Ok::<_, crate::store::StoreError>(found.filter(|_| ok).map(|(u, _)| u))
    })
    .await
    .map_err(|e| ApiError::internal(format!("login task: {e}")))??;
    match found.filter(|u| u.active) {
        Some(user) => {
            st.throttle.success(&pair_key);
            st.throttle.success(&user_key);
            Ok(user)
        }
        None => {
            let lock = cfg.login_lockout_seconds as i64;
            st.throttle.fail(&ip_key, now, cfg.max_failed_logins_per_ip, lock);
            st.throttle.fail(&pair_key, now, cfg.max_failed_logins_per_account, lock);
            st.throttle.fail(&user_key, now, cfg.max_failed_logins_per_account_total, lock);
            Err(ApiError::Unauthorized("invalid username or password".into()))
        }
    }
}

pub async fn login(st: State, req: HttpRequest, body: Body<LoginBody>) -> ApiResult<HttpResponse> {
    let body = body.0;
    let user = verify_login(&st, &req, body.username.trim(), &body.password).await?;
    let (token, csrf, expires_at) = start_session(&st, &req, user.id).await?;
    let max_age = expires_at.secs_since(st.clock.now());
    Ok(HttpResponse::Ok().cookie(session_cookie(&token, max_age, st.secure_cookies())).json(LoginResponse {
        access_token: token,
        token_type: "bearer".into(),
        expires_at,
        csrf_token: csrf,
        user,
    }))
}

pub async fn logout(st: State, caller: Caller) -> ApiResult<HttpResponse> {
    let Via::Session { id, .. } = caller.via else {
        return Err(ApiError::field("Authorization", "logout ends sessions; delete a personal API token instead"));
    };
    st.db.write(move |c| tokens::delete_session(c, id)).await?;
    Ok(HttpResponse::Ok()
        .cookie(clear_session_cookie(st.secure_cookies()))
        .json(serde_json::json!({"status": "logged_out"})))
}

pub async fn me(st: State, caller: Caller) -> ApiResult<Json<Me>> {
    let id = caller.user.id;
    let memberships = st.db.read(move |c| groups::memberships_of_user(c, id)).await?;
    Ok(Json(Me { user: caller.user, memberships }))
}
