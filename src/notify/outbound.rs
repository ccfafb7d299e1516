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
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(&IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
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
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "refused: {} resolves to the internal address {}; allow it in security.outbound_allowlist",
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
            GuardedResolver { inner: DefaultResolver::default(), allow },
        );
        Outbound { agent }
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
        ] {
            assert!(is_internal(&ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111"] {
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
