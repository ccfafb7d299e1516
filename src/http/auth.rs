//! Authentication and access: the `Caller` extractor (session token, session cookie, or
//! personal API token with scopes), login throttling, client addresses and CSRF.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Mutex;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use super::AppState;
use super::error::{ApiError, denied};
use crate::config::Cidr;
use crate::domain::access::{Access, Role, Scope, TokenLimits, required_scope, scope_allows};
use crate::domain::time::Ts;
use crate::store::audit::{Actor, Ctx};
use crate::store::{groups, tokens, users};

pub const SESSION_COOKIE: &str = "ir_session";
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    /// A session, by `Authorization: Bearer` (`cookie == false`) or by the browser cookie.
    Session { id: i64, csrf: String, cookie: bool },
    /// A personal API token.
    Token { id: i64, scopes: Vec<Scope>, group_id: Option<i64>, expires_at: Option<Ts> },
}

/// The authenticated user of a request with their effective rights.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: users::User,
    pub access: Access,
    pub via: Via,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor::user(self.user.id, &self.user.username)
    }

    pub fn ctx(&self, st: &AppState) -> Ctx {
        Ctx::new(self.actor(), st.clock.now())
    }

    /// Requires `role` in `group_id`; an invisible group reads as "`what` not found".
    pub fn require(&self, group_id: i64, role: Role, what: &str) -> Result<(), ApiError> {
        self.access.check(group_id, role).map_err(|d| denied(d, what))
    }

    /// For objects referenced from a request body: invisible ones are a 400 on `field`.
    pub fn require_ref(&self, group_id: Option<i64>, role: Role, field: &str, what: &str) -> Result<(), ApiError> {
        match group_id.map(|g| self.access.check(g, role)) {
            Some(Ok(())) => Ok(()),
            Some(Err(crate::domain::access::Denied::Forbidden)) => {
                Err(ApiError::Forbidden(format!("your role does not allow adding a {what} here")))
            }
            _ => Err(ApiError::field(field, &format!("no such {what}"))),
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.access.is_admin() { Ok(()) } else { Err(ApiError::Forbidden("administrators only".into())) }
    }

    /// Groups the caller may see (`None` = all).
    pub fn visible(&self) -> Option<Vec<i64>> {
        self.access.visible_groups()
    }

    pub fn session_id(&self) -> Option<i64> {
        match self.via {
            Via::Session { id, .. } => Some(id),
            Via::Token { .. } => None,
        }
    }

    /// What a token created by this caller may have at most: a personal token mints only
    /// tokens within its own scopes, group restriction and lifetime (`None`: a session, which
    /// is bounded by the user's rights alone).
    pub fn token_limits(&self) -> Option<TokenLimits> {
        match &self.via {
            Via::Session { .. } => None,
            Via::Token { scopes, group_id, expires_at, .. } => {
                Some(TokenLimits { scopes: scopes.clone(), group_id: *group_id, expires_at: *expires_at })
            }
        }
    }
}

/// The credential a request carries.
fn credential(req: &HttpRequest) -> Option<(String, bool)> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let token = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).unwrap_or("").trim();
        return (!token.is_empty()).then(|| (token.to_string(), false));
    }
    req.cookie(SESSION_COOKIE).map(|c| (c.value().to_string(), true)).filter(|(v, _)| !v.is_empty())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let st = req.app_data::<web::Data<AppState>>().cloned();
        let cred = credential(req);
        let method = req.method().as_str().to_string();
        // The scope follows the route the router matched (`/api/alerts/{id}`), never the raw
        // path: `/api/%61lerts/2` matches the alerts route and needs the alerts scope.
        let pattern = req.match_pattern();
        let csrf = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
        Box::pin(async move {
            let st = st.ok_or_else(|| ApiError::internal("application state missing"))?;
            let (token, cookie) = cred.ok_or_else(|| {
                ApiError::Unauthorized("authentication required: send `Authorization: Bearer <token>` or log in".into())
            })?;
            let caller = authenticate(&st, token, cookie).await?;
            if let Via::Token { id, scopes, .. } = &caller.via {
                let needed = pattern
                    .as_deref()
                    .and_then(|p| required_scope(&method, p))
                    .ok_or_else(|| ApiError::Forbidden("API tokens cannot be used for this path".into()))?;
                if !scope_allows(scopes, needed) {
                    return Err(ApiError::MissingScopes(format!("this token lacks the `{}` scope", needed.as_str())));
                }
                let (db, id, now) = (st.db.clone(), *id, st.clock.now());
                tokio::spawn(async move {
                    let _ = db.write(move |c| tokens::touch_token(c, id, now)).await;
                });
            }
            if let Via::Session { csrf: expected, cookie: true, .. } = &caller.via {
                let unsafe_method = !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
                let ok = csrf.as_deref().is_some_and(|got| crate::crypto::ct_eq(got.as_bytes(), expected.as_bytes()));
                if unsafe_method && !ok {
                    return Err(ApiError::Forbidden(format!(
                        "cookie-authenticated requests that change data need the {CSRF_HEADER} header (or use a bearer token)"
                    )));
                }
            }
            Ok(caller)
        })
    }
}

/// Resolves a raw token (session or personal API token) into a caller.
pub async fn authenticate(st: &AppState, token: String, cookie: bool) -> Result<Caller, ApiError> {
    let now = st.clock.now();
    let hash = crate::crypto::sha256_hex(&token);
    let is_api_token = token.starts_with("irp_");
    let found = st
        .db
        .read(move |c| {
            let (user_id, via) = if is_api_token {
                match tokens::token_by_hash(c, &hash, now)? {
                    Some(t) => (
                        t.user_id,
                        Via::Token { id: t.id, scopes: t.scopes, group_id: t.group_id, expires_at: t.expires_at },
                    ),
                    None => return Ok(None),
                }
            } else {
                match tokens::session_by_hash(c, &hash, now)? {
                    Some(s) => (s.user_id, Via::Session { id: s.id, csrf: s.csrf_token, cookie }),
                    None => return Ok(None),
                }
            };
            let user = users::get(c, user_id)?;
            let roles = groups::active_roles(c, user_id)?;
            Ok(Some((user, roles, via)))
        })
        .await?;
    let Some((user, roles, via)) = found else {
        return Err(ApiError::Unauthorized("the token is unknown, expired or revoked".into()));
    };
    if !user.active {
        return Err(ApiError::Unauthorized("the account is deactivated".into()));
    }
    let mut access = Access::new(user.is_admin, roles);
    if let Via::Token { group_id: Some(g), .. } = &via {
        access = access.restricted_to(*g);
    }
    Ok(Caller { user, access, via })
}

/// The client address: the peer, or the right-most untrusted `X-Forwarded-For` hop when the peer
/// is a trusted proxy.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[Cidr]) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    if !trusted_proxies.iter().any(|c| c.contains(&peer)) {
        return Some(peer);
    }
    let xff = req.headers().get("X-Forwarded-For").and_then(|v| v.to_str().ok()).unwrap_or("");
    for hop in xff.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted_proxies.iter().any(|c| c.contains(&ip)) => continue,
            Ok(ip) => return Some(ip),
            Err(_) => break,
        }
    }
    Some(peer)
}

/// The session cookie (HttpOnly, SameSite=Lax, Secure behind https).
pub fn session_cookie(token: &str, expires_in_secs: i64, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(CookieDuration::seconds(expires_in_secs))
        .finish()
}

pub fn clear_session_cookie(secure: bool) -> Cookie<'static> {
    let mut c = session_cookie("", 0, secure);
    c.make_removal();
    c
}

// --- throttling --------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Window {
    failures: u32,
    first: Ts,
    locked_until: Option<Ts>,
}

/// Counts failed logins per key (`ip:…`, `user:…`) and locks a key for `lockout` seconds once it
/// reaches its limit within that window. In memory: a restart forgets, which only helps users.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    windows: Mutex<HashMap<String, Window>>,
}

impl LoginThrottle {
    /// `Err(seconds)` while `key` is locked.
    pub fn check(&self, key: &str, now: Ts) -> Result<(), u64> {
        let Ok(map) = self.windows.lock() else {
            return Ok(());
        };
        match map.get(key).and_then(|w| w.locked_until) {
            Some(until) if until > now => Err(until.secs_since(now).max(1) as u64),
            _ => Ok(()),
        }
    }

    pub fn fail(&self, key: &str, now: Ts, max: u32, lockout_secs: i64) {
        let Ok(mut map) = self.windows.lock() else {
            return;
        };
        if map.len() > 100_000 {
            map.retain(|_, w| now.secs_since(w.first) < lockout_secs || w.locked_until.is_some_and(|u| u > now));
        }
        let w = map.entry(key.to_string()).or_insert(Window { failures: 0, first: now, locked_until: None });
        if now.secs_since(w.first) >= lockout_secs && w.locked_until.is_none_or(|u| u <= now) {
            *w = Window { failures: 0, first: now, locked_until: None };
        }
        w.failures += 1;
        if w.failures >= max {
            w.locked_until = Some(now.plus_secs(lockout_secs));
        }
    }

    pub fn success(&self, key: &str) {
        if let Ok(mut map) = self.windows.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_locks_after_the_limit_and_unlocks_later() {
        let t = LoginThrottle::default();
        let now = Ts::from_secs(1000);
        for _ in 0..4 {
            t.fail("user:a", now, 5, 900);
            assert!(t.check("user:a", now).is_ok());
        }
        t.fail("user:a", now, 5, 900);
        assert_eq!(t.check("user:a", now), Err(900));
        assert_eq!(t.check("user:a", now.plus_secs(899)), Err(1));
        assert!(t.check("user:a", now.plus_secs(900)).is_ok());
        assert!(t.check("user:b", now).is_ok());
        t.success("user:a");
        assert!(t.check("user:a", now).is_ok());
    }
}
