//! Voice calls to the assignee's phone: a generic HTTP gateway or Twilio.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{require_text, require_url};
use crate::domain::validate::Problems;

pub const SECRETS: &[&str] = &["secret", "auth_token"];
/// Where messages (and with them the secrets) go: changing one asks for the secrets again.
pub const DESTINATIONS: &[&str] = &["provider", "url", "api_url"];
/// What this channel type does and what it needs outside IncidentRelay (the channel form shows it).
pub const GUIDE: &str = "Calls the paged user's phone: Twilio (Say + Gather: 1 acknowledges, 2 resolves) or a generic HTTP gateway \
     posting signed callbacks to <public_base_url>/api/integrations/voice/<channel id>/callback.";
pub const TWILIO_API_URL: &str = "https://api.twilio.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Http,
    Twilio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DtmfAction {
    Acknowledge,
    Resolve,
}

fn default_dtmf() -> BTreeMap<String, DtmfAction> {
    BTreeMap::from([("1".to_string(), DtmfAction::Acknowledge), ("2".to_string(), DtmfAction::Resolve)])
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `twilio` or `http` (a generic gateway).
    pub provider: Provider,
    /// http: where IncidentRelay POSTs call requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// http: shared secret for signing requests and verifying callbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// twilio: account SID (AC…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
    /// twilio: auth token (also verifies callbacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// twilio: caller id in E.164, e.g. +15550001111.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_number: Option<String>,
    /// twilio: API base URL (default https://api.twilio.com).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Keys the callee presses, e.g. {"1": "acknowledge", "2": "resolve"}.
    #[serde(default = "default_dtmf")]
    pub dtmf_actions: BTreeMap<String, DtmfAction>,
}

impl Config {
    pub fn validate(&self, p: &mut Problems) {
        match self.provider {
            Provider::Http => {
                require_url(p, "url", &self.url);
                require_text(p, "secret", &self.secret);
            }
            Provider::Twilio => {
                require_text(p, "account_sid", &self.account_sid);
                require_text(p, "auth_token", &self.auth_token);
                require_text(p, "from_number", &self.from_number);
                if let Some(u) = &self.api_url {
                    p.url("api_url", u);
                }
            }
        }
        for k in self.dtmf_actions.keys() {
            let ok = k.len() == 1 && k.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#');
            p.check(ok, &format!("dtmf_actions.{k}"), "keys must be a single digit, * or #");
        }
    }
}

use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;

use super::text::html_escape;
use super::{Env, NotifyError, Sent};
use crate::domain::message::{EventKind, Message};

/// Where providers report call status and pressed keys: the channel's callback, or (a
/// negative sender key, see `Delivery::sender_key`) the personal voice method's.
pub fn callback_url(base_url: &str, sender: i64) -> String {
    if sender < 0 {
        format!("{base_url}/api/integrations/voice/personal/{}/callback", -sender)
    } else {
        format!("{base_url}/api/integrations/voice/{sender}/callback")
    }
}

/// What the call says.
pub fn speech(cfg: &Config, msg: &Message) -> String {
    let keys: Vec<String> = cfg
        .dtmf_actions
        .iter()
        .map(|(k, a)| format!("press {k} to {}", if *a == DtmfAction::Acknowledge { "acknowledge" } else { "resolve" }))
        .collect();
    match &msg.alert {
        Some(a) => format!(
            "IncidentRelay alert for team {}. {} severity. {}. {}",
            msg.team.name,
            a.severity.as_str(),
            a.title,
            if keys.is_empty() { String::new() } else { format!("{}.", keys.join(", ")) }
        ),
        None => format!("This is a test call from IncidentRelay for the {} channel. Goodbye.", msg.channel_name),
    }
}

/// Signature of the generic HTTP provider's requests and callbacks:
/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn http_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut data = format!("{timestamp}.").into_bytes();
    data.extend_from_slice(body);
    format!("sha256={}", crate::crypto::hex(&crate::crypto::hmac_sha256(secret.as_bytes(), &data)))
}

/// Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1 of the full URL followed by the POST
/// parameters sorted by name, each as name + value.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let Ok(mut mac) = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(data.as_bytes());
    crate::crypto::b64(&mac.finalize().into_bytes())
}

/// TwiML: say the alert, gather one key, post it to the callback.
pub fn twiml(say: &str, gather_url: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Gather numDigits=\"1\" timeout=\"10\" method=\"POST\" action=\"{}\"><Say>{}</Say></Gather><Say>No key pressed. Goodbye.</Say></Response>",
        html_escape(gather_url),
        html_escape(say)
    )
}

pub fn render_http(cfg: &Config, msg: &Message, to: &str, callback: &str) -> serde_json::Value {
    json!({
        "to": to,
        "text": speech(cfg, msg),
        "alert_id": msg.alert.as_ref().map(|a| a.id),
        "delivery_id": msg.delivery_id,
        "event": msg.kind.as_str(),
        "callback_url": callback,
        "dtmf": cfg.dtmf_actions,
    })
}

pub fn send(cfg: &Config, env: &Env<'_>, msg: &Message) -> Result<Sent, NotifyError> {
    if !(msg.kind.is_page() || msg.kind == EventKind::Test) {
        return Ok(Sent::ok("voice calls are only placed for pages"));
    }
    let to = msg
        .assignee
        .as_ref()
        .and_then(|u| u.phone.clone())
        .ok_or_else(|| NotifyError::Permanent("no phone number: the assignee has none in their profile".into()))?;
    let callback = callback_url(env.base_url, env.channel_id);
    match cfg.provider {
        Provider::Http => {
            let url = cfg.url.as_deref().ok_or_else(|| NotifyError::Permanent("url is not set".into()))?;
            let r = http_post(cfg, env, url, &render_http(cfg, msg, &to, &callback), msg.timestamp.secs())?;
            let call = r.json()["call_id"].as_str().map(str::to_string);
            Ok(Sent {
                detail: format!("call requested ({})", call.as_deref().unwrap_or("no call id")),
                external_id: call,
            })
        }
        Provider::Twilio => {
            let form = [
                ("To", to.as_str()),
                ("From", cfg.from_number.as_deref().unwrap_or("")),
                ("Twiml", &twiml(&speech(cfg, msg), &callback)),
                ("StatusCallback", &callback),
                ("StatusCallbackEvent", "answered completed"),
            ];
            let call = twilio_post(cfg, env, "Calls", &form)?;
            Ok(Sent { detail: format!("call placed ({})", call.as_deref().unwrap_or("no sid")), external_id: call })
        }
    }
}

/// Posts `body` to the HTTP gateway at `url`, signed with the settings' secret and `timestamp`
/// (calls, and SMS through `notify::personal`).
pub fn http_post(
    cfg: &Config,
    env: &Env<'_>,
    url: &str,
    body: &serde_json::Value,
    timestamp: i64,
) -> Result<super::Reply, NotifyError> {
    let body = body.to_string().into_bytes();
    let sig = http_signature(cfg.secret.as_deref().unwrap_or(""), timestamp, &body);
    let ts = timestamp.to_string();
    env.http.request(
        "POST",
        url,
        "application/json",
        body,
        &[("X-IncidentRelay-Timestamp", &ts), ("X-IncidentRelay-Signature", &sig)],
    )
}

/// POSTs a form to a Twilio account resource (`Calls`, `Messages`); the new resource's sid.
pub fn twilio_post(
    cfg: &Config,
    env: &Env<'_>,
    resource: &str,
    form: &[(&str, &str)],
) -> Result<Option<String>, NotifyError> {
    let api = cfg.api_url.as_deref().unwrap_or(TWILIO_API_URL).trim_end_matches('/');
    let sid = cfg.account_sid.as_deref().unwrap_or("");
    let token = cfg.auth_token.as_deref().unwrap_or("");
    let body = form.iter().map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v))).collect::<Vec<_>>().join("&");
    let auth = format!("Basic {}", crate::crypto::b64(format!("{sid}:{token}").as_bytes()));
    let r = env.http.request(
        "POST",
        &format!("{api}/2010-04-01/Accounts/{sid}/{resource}.json"),
        "application/x-www-form-urlencoded",
        body.into_bytes(),
        &[("Authorization", &auth)],
    )?;
    Ok(r.json()["sid"].as_str().map(str::to_string))
}

/// `application/x-www-form-urlencoded` value encoding.
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::text::fixtures::message;

    #[test]
    fn call_requests_and_signatures() {
        let cfg: Config =
            serde_json::from_value(json!({"provider": "http", "url": "https://gw.example/call", "secret": "s"}))
                .unwrap();
        let m = message(EventKind::Triggered);
        let body = render_http(&cfg, &m, "+4930123456", "https://oncall.example/api/integrations/voice/3/callback");
        assert_eq!(body["to"], "+4930123456");
        assert_eq!(body["dtmf"], json!({"1": "acknowledge", "2": "resolve"}));
        let say = body["text"].as_str().unwrap();
        assert!(
            say.contains("critical severity. Disk full on db-1 <sda>.") && say.contains("press 1 to acknowledge"),
            "{say}"
        );
        assert_eq!(
            http_signature("s", 10, b"{}"),
            format!("sha256={}", crate::crypto::hex(&crate::crypto::hmac_sha256(b"s", b"10.{}")))
        );
        let x = twiml("a < b", "https://x/cb?a=1&b=2");
        assert!(x.contains("action=\"https://x/cb?a=1&amp;b=2\"") && x.contains("<Say>a &lt; b</Say>"));
        assert_eq!(form_encode("a b&c/é"), "a+b%26c%2F%C3%A9");
    }

    #[test]
    fn twilio_signature_matches_the_documented_example() {
        // The example from Twilio's security documentation.
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sig = twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params);
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }
}
