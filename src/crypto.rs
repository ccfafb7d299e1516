//! Secrets: random tokens, SHA-256 token hashes, HMAC signatures and argon2 password hashes.
//! Every comparison of a secret is constant time.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone)]
pub struct CryptoError(pub String);

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "crypto: {}", self.0)
    }
}

impl std::error::Error for CryptoError {}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| CryptoError(format!("no randomness: {e}")))?;
    Ok(buf)
}

/// A new secret token: `prefix` + 43 URL-safe characters (256 bits).
pub fn new_token(prefix: &str) -> Result<String, CryptoError> {
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)))
}

/// The part of a token that may be shown again later (the prefix plus 8 characters).
pub fn token_prefix(token: &str) -> String {
    token.chars().take(12).collect()
}

/// A random password of 20 characters from an unambiguous alphabet.
pub fn new_password() -> Result<String, CryptoError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes = random_bytes::<20>()?;
    Ok(bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect())
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// How tokens are stored: lower-case hex SHA-256.
pub fn sha256_hex(data: &str) -> String {
    hex(&Sha256::digest(data.as_bytes()))
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0u8; 32],
    };
    mac.update(data);
    let out = mac.finalize().into_bytes();
    let mut arr = [0u8; 32];
    arr.copy_from_slice(&out);
    arr
}

/// Constant-time check of an HMAC-SHA256 signature.
pub fn verify_hmac_sha256(key: &[u8], data: &[u8], signature: &[u8]) -> bool {
    match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.verify_slice(signature).is_ok()
        }
        Err(_) => false,
    }
}

pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s.trim()).ok()
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Argon2id PHC string for a password (slow on purpose: call off the async workers).
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CryptoError(format!("password hashing failed: {e}")))
}

/// Checks a password against a PHC string. Unknown or malformed hashes never verify.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A valid argon2 hash of a random password, used to spend the same time on unknown usernames
/// as on known ones so that login timing does not reveal which usernames exist.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vo8Yx5vYJmWq3Wm3X4aAaQm8Vq9CeJm4T0o7H1P0vLQ";

/// What a signed action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Resolve,
    /// Snooze for an hour (chat buttons).
    Snooze,
}

impl Action {
    pub fn code(self) -> &'static str {
        match self {
            Action::Acknowledge => "a",
            Action::Resolve => "r",
            Action::Snooze => "s",
        }
    }
    pub fn from_code(s: &str) -> Option<Action> {
        match s {
            "a" | "ack" | "acknowledge" => Some(Action::Acknowledge),
            "r" | "resolve" => Some(Action::Resolve),
            "s" | "snooze" => Some(Action::Snooze),
            _ => None,
        }
    }
    pub fn verb(self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
            Action::Snooze => "snooze",
        }
    }
}

fn sig16(secret: &[u8], domain: &str, payload: &str) -> String {
    let mut data = Vec::with_capacity(domain.len() + payload.len() + 1);
    data.extend_from_slice(domain.as_bytes());
    data.push(b'|');
    data.extend_from_slice(payload.as_bytes());
    b64url(&hmac_sha256(secret, &data)[..16])
}

/// What a signed link or button acts on: one episode of one alert (an episode ends when the
/// alert is resolved; a reopen starts the next one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub alert_id: i64,
    pub episode: i64,
    pub action: Action,
}

/// A one-click action token for `<public_base_url>/a/<token>`:
/// `<alert>.<episode>.<a|r>.<expiry>.<sig>`. Carries no secret; the signature makes it
/// unforgeable, the episode ties it to one firing of the alert and the expiry bounds its life.
pub fn action_token(secret: &[u8], t: Target, expires_secs: i64) -> String {
    let payload = format!("{}.{}.{}.{expires_secs}", t.alert_id, t.episode, t.action.code());
    let sig = sig16(secret, "link", &payload);
    format!("{payload}.{sig}")
}

/// Checks an action token: what it acts on, or why it is refused. Tokens from before episodes
/// existed (`<alert>.<a|r>.<expiry>.<sig>`) belong to the first episode.
pub fn verify_action_token(secret: &[u8], token: &str, now_secs: i64) -> Result<Target, &'static str> {
    let parts: Vec<&str> = token.split('.').collect();
    let (id, episode, code, exp, sig) = match parts[..] {
        [id, episode, code, exp, sig] => (id, Some(episode), code, exp, sig),
        [id, code, exp, sig] => (id, None, code, exp, sig),
        _ => return Err("malformed link"),
    };
    let payload = match episode {
        Some(e) => format!("{id}.{e}.{code}.{exp}"),
        None => format!("{id}.{code}.{exp}"),
    };
    if !ct_eq(sig16(secret, "link", &payload).as_bytes(), sig.as_bytes()) {
        return Err("invalid signature");
    }
    let exp: i64 = exp.parse().map_err(|_| "malformed link")?;
    if now_secs > exp {
        return Err("this link has expired");
    }
    let alert_id: i64 = id.parse().map_err(|_| "malformed link")?;
    let episode: i64 = episode.map_or(Ok(0), str::parse).map_err(|_| "malformed link")?;
    let action = Action::from_code(code).ok_or("malformed link")?;
    Ok(Target { alert_id, episode, action })
}

/// The signature of a chat button (Mattermost context, Slack value, Telegram callback data):
/// binds channel, alert, episode and action so that a forged or stale click is refused.
pub fn button_signature(secret: &[u8], channel_id: i64, t: Target) -> String {
    sig16(secret, "button", &format!("{channel_id}.{}.{}.{}", t.alert_id, t.episode, t.action.code()))[..16].to_string()
}

pub fn verify_button(secret: &[u8], channel_id: i64, t: Target, sig: &str) -> bool {
    ct_eq(button_signature(secret, channel_id, t).as_bytes(), sig.as_bytes())
}

/// A per-channel secret derived from the installation secret (Telegram `secret_token`, voice
/// callbacks when the channel has none of its own).
pub fn derived_secret(secret: &[u8], purpose: &str, channel_id: i64) -> String {
    sig16(secret, purpose, &channel_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_and_unique() {
        let a = new_token("irp_").unwrap();
        let b = new_token("irp_").unwrap();
        assert!(a.starts_with("irp_") && a.len() == 47);
        assert_ne!(a, b);
        assert_eq!(token_prefix(&a).len(), 12);
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn passwords_round_trip() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not-a-hash"));
        assert!(!verify_password("x", DUMMY_HASH));
        assert_eq!(new_password().unwrap().len(), 20);
    }

    #[test]
    fn action_tokens_verify_and_expire() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let ack = Target { alert_id: 42, episode: 3, action: Action::Acknowledge };
        let t = action_token(secret, ack, 1000);
        assert!(t.starts_with("42.3.a.1000."), "{t}");
        assert_eq!(verify_action_token(secret, &t, 999), Ok(ack));
        assert_eq!(verify_action_token(secret, &t, 1001), Err("this link has expired"));
        let forged = t.replacen("42.", "43.", 1);
        assert_eq!(verify_action_token(secret, &forged, 999), Err("invalid signature"));
        let other_episode = t.replacen(".3.", ".4.", 1);
        assert_eq!(verify_action_token(secret, &other_episode, 999), Err("invalid signature"));
        let other = action_token(b"another secret", ack, 1000);
        assert!(verify_action_token(secret, &other, 999).is_err());
        assert!(verify_action_token(secret, "x.y", 0).is_err());
        // A link from before episodes existed is one of the first episode.
        let old = format!("42.a.1000.{}", sig16(secret, "link", "42.a.1000"));
        assert_eq!(verify_action_token(secret, &old, 999), Ok(Target { episode: 0, ..ack }));
        let res = Target { alert_id: 42, episode: 0, action: Action::Resolve };
        let b = button_signature(secret, 1, res);
        assert!(verify_button(secret, 1, res, &b));
        assert!(!verify_button(secret, 2, res, &b));
        assert!(!verify_button(secret, 1, Target { action: Action::Acknowledge, ..res }, &b));
        assert!(!verify_button(secret, 1, Target { episode: 1, ..res }, &b));
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(verify_hmac_sha256(b"Jefe", b"what do ya want for nothing?", &mac));
        assert!(!verify_hmac_sha256(b"Jefe", b"what do ya want for nothing!", &mac));
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd") && !ct_eq(b"abc", b"ab"));
    }
}
