//! Outbound HTTP for notifiers: one ureq agent with the delivery timeout, and a resolver that
//! refuses private, loopback and link-local addresses unless `[security] outbound_allowlist`
//! allows them — enforced when connecting, so a DNS answer cannot smuggle one in.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ureq::http::{Request, Uri};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::config::Cidr;

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyError {
    /// Network errors, timeouts, 408, 429 and 5xx: retried with backoff (or after `retry_after` seconds).
    Retryable { message: String, retry_after: Option<u64> },
    /// Configuration errors (other 4xx, refused addresses, missing recipients): not retried.
    Permanent(String),
}

impl NotifyError {
    pub fn retry(message: impl Into<String>) -> NotifyError {
        NotifyError::Retryable { message: message.into(), retry_after: None }
    }
    pub fn message(&self) -> &str {
        match self {
            NotifyError::Retryable { message, .. } => message,
            NotifyError::Permanent(m) => m,
        }
    }
    /// The same error with its message rewritten (secrets masked).
    pub fn map_message(self, f: impl FnOnce(&str) -> String) -> NotifyError {
        match self {
            NotifyError::Retryable { message, retry_after } => {
                NotifyError::Retryable { message: f(&message), retry_after }
            }
            NotifyError::Permanent(m) => NotifyError::Permanent(f(&m)),
        }
    }
}

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// A provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Whether an address is private, loopback, link-local or otherwise not on the internet.
pub fn is_internal(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])
                || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = embedded_ipv4(v6);
            !embedded.is_empty() && embedded.iter().any(|v4| is_internal(&IpAddr::V4(*v4)))
                || v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
                || s[..3] == [0x64, 0xff9b, 1] // local-use NAT64 (RFC 8215)
                || s[..2] == [0x2001, 0xdb8] // documentation
                || s[..4] == [0x100, 0, 0, 0] // discard only
        }
    }
}

/// The IPv4 addresses an IPv6 address carries, which are what it reaches: IPv4-compatible
/// (`::a.b.c.d`), -mapped (`::ffff:a.b.c.d`) and -translated (`::ffff:0:a.b.c.d`) forms, NAT64
/// (`64:ff9b::/96`), 6to4 (`2002::/16`) and Teredo (server and client).
fn embedded_ipv4(v6: &std::net::Ipv6Addr) -> Vec<std::net::Ipv4Addr> {
    let (s, o) = (v6.segments(), v6.octets());
    let at = |i: usize| std::net::Ipv4Addr::new(o[i], o[i + 1], o[i + 2], o[i + 3]);
    let compatible_or_mapped = s[..5] == [0; 5] && (s[5] == 0 || s[5] == 0xffff);
    let translated = s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0;
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if compatible_or_mapped || translated || nat64 {
        vec![at(12)]
    } else if s[0] == 0x2002 {
        vec![at(2)]
    } else if s[..2] == [0x2001, 0] {
        let client = at(12).octets().map(|b| !b);
        vec![at(4), std::net::Ipv4Addr::from(client)]
    } else {
        Vec::new()
    }
}

#[derive(Debug)]
struct GuardedResolver {
    inner: DefaultResolver,
    allow: Vec<Cidr>,
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.inner.resolve(uri, config, timeout)?;
        let blocked: Option<SocketAddr> =
            addrs.iter().find(|a| is_internal(&a.ip()) && !self.allow.iter().any(|c| c.contains(&a.ip()))).copied();
        if let Some(a) = blocked {
            let carried = match a.ip() {
                IpAddr::V6(v6) => embedded_ipv4(&v6).iter().map(|v4| format!(" (it carries {v4})")).collect(),
                IpAddr::V4(_) => String::new(),
            };
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "refused: {} resolves to the internal address {}{carried}; allow it in security.outbound_allowlist",
                    uri.host().unwrap_or(""),
                    a.ip()
                ),
            )));
        }
        Ok(addrs)
    }
}

/// The HTTP client notifiers share.
pub struct Outbound {
    agent: ureq::Agent,
    allow: Vec<Cidr>,
}

impl Outbound {
    pub fn new(timeout: Duration, allow: Vec<Cidr>) -> Outbound {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .user_agent(concat!("IncidentRelay/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            DefaultConnector::default(),
            GuardedResolver { inner: DefaultResolver::default(), allow: allow.clone() },
        );
        Outbound { agent, allow }
    }

    /// Why sends to `url` will be refused, as far as the address itself says (an internal IP
    /// literal, or `localhost`), with the setting that allows it: channel forms flag it when
    /// the channel is saved. Host names are resolved, and checked, only when sending.
    pub fn refusal(&self, url: &str) -> Option<String> {
        let uri: Uri = url.parse().ok()?;
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) if host == "localhost" || host.ends_with(".localhost") => {
                vec![IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)]
            }
            Err(_) => return None,
        };
        let refused = ips.into_iter().find(|ip| is_internal(ip) && !self.allow.iter().any(|c| c.contains(ip)))?;
        let net = if refused.is_ipv4() { format!("{refused}/32") } else { format!("{refused}/128") };
        Some(format!(
            "{host} is an internal address ({refused}): sends there are refused. To allow it, add \"{net}\" to \
             security.outbound_allowlist (INCIDENTRELAY_SECURITY__OUTBOUND_ALLOWLIST='[\"{net}\"]') and restart."
        ))
    }

    /// Sends a request; 2xx → `Ok`, everything else classified.
    pub fn send(&self, req: Request<Vec<u8>>) -> Result<Reply, NotifyError> {
        match self.agent.run(req) {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let body = resp.body_mut().with_config().limit(1 << 20).read_to_string().unwrap_or_default();
                classify(Reply { status, body }, retry_after)
            }
            Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                Err(NotifyError::Permanent(e.to_string()))
            }
            Err(ureq::Error::Timeout(t)) => Err(NotifyError::retry(format!("timed out ({t})"))),
            Err(ureq::Error::BadUri(u)) => Err(NotifyError::Permanent(format!("bad URL: {u}"))),
            Err(e) => Err(NotifyError::retry(format!("network error: {e}"))),
        }
    }

    pub fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
        headers: &[(&str, &str)],
    ) -> Result<Reply, NotifyError> {
        self.request("POST", url, "application/json", body.to_string().into_bytes(), headers)
    }

    pub fn request(
        &self,
        method: &str,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, NotifyError> {
        let mut b = Request::builder().method(method).uri(url).header("Content-Type", content_type);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req =
            b.body(body).map_err(|e| NotifyError::Permanent(format!("cannot build the request to {url}: {e}")))?;
        self.send(req)
    }
}

/// 2xx passes; 408, 429 and 5xx are retryable (429 honouring `Retry-After`); other 4xx are
/// configuration errors.
pub fn classify(reply: Reply, retry_after: Option<u64>) -> Result<Reply, NotifyError> {
    let excerpt: String = reply.body.chars().take(300).collect();
    match reply.status {
        200..=299 => Ok(reply),
        408 | 425 | 429 | 500..=599 => {
            Err(NotifyError::Retryable { message: format!("HTTP {}: {excerpt}", reply.status), retry_after })
        }
        s => Err(NotifyError::Permanent(format!("HTTP {s}: {excerpt}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_destinations_are_flagged_with_the_setting_that_allows_them() {
        let o = Outbound::new(Duration::from_secs(1), vec!["10.1.0.0/16".parse().unwrap()]);
        let why = o.refusal("http://127.0.0.1:9/hook").unwrap();
        assert!(why.contains("\"127.0.0.1/32\"") && why.contains("security.outbound_allowlist"), "{why}");
        assert!(o.refusal("http://localhost:8080/x").is_some());
        assert!(o.refusal("https://[::1]/x").unwrap().contains("::1/128"));
        assert_eq!(o.refusal("http://10.1.2.3/x"), None, "allowed");
        assert_eq!(o.refusal("https://hooks.slack.com/services/x"), None, "names are checked when sending");
    }

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
            "::127.0.0.2",
            "::ffff:0:10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "fec0::1",
            "2001:db8::1",
        ] {
            assert!(is_internal(&ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"] {
            assert!(!is_internal(&ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn status_classes() {
        let r = |s| classify(Reply { status: s, body: "x".into() }, Some(7));
        assert!(r(204).is_ok());
        assert_eq!(r(429), Err(NotifyError::Retryable { message: "HTTP 429: x".into(), retry_after: Some(7) }));
        assert!(matches!(r(503), Err(NotifyError::Retryable { .. })));
        assert!(matches!(r(408), Err(NotifyError::Retryable { .. })));
        assert!(matches!(r(400), Err(NotifyError::Permanent(_))));
        assert!(matches!(r(404), Err(NotifyError::Permanent(_))));
    }
}
