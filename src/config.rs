//! Configuration: built-in defaults, overridden by a TOML file (`--config`, `INCIDENTRELAY_CONFIG`
//! or `/etc/incidentrelay/incidentrelay.toml`), overridden by `INCIDENTRELAY_<SECTION>__<KEY>`
//! environment variables. Every problem is reported (one message per key, naming the key and
//! its environment variable) instead of stopping at the first.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub const DEFAULT_CONFIG_FILE: &str = "/etc/incidentrelay/incidentrelay.toml";
pub const ENV_PREFIX: &str = "INCIDENTRELAY_";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub scheduler: SchedulerConfig,
    pub intake: IntakeConfig,
    pub alerts: AlertsConfig,
    pub retention: RetentionConfig,
    pub delivery: DeliveryConfig,
    pub security: SecurityConfig,
    pub auth: AuthConfig,
    pub smtp: SmtpConfig,
    pub logging: LoggingConfig,
    pub metrics: MetricsConfig,
    pub ui: UiConfig,
    pub telegram: TelegramConfig,
    pub phone: PhoneConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Base of every absolute link; defaults to `http://<listen>`.
    pub public_base_url: Option<String>,
    /// HTTP worker threads; 0 = one per CPU core.
    pub workers: usize,
    /// Reverse proxies whose `X-Forwarded-For` is trusted for the client address.
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_base_url: None,
            workers: 0,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// The SQLite file (the default backend).
    pub path: PathBuf,
    /// `postgres://user:password@host:port/database?sslmode=…`: use PostgreSQL instead of the
    /// SQLite file (several nodes may share it). Never logged with its password.
    pub url: Option<String>,
    pub auto_migrate: bool,
    /// `full` (every commit survives power loss) or `normal`.
    pub synchronous: Synchronous,
    pub busy_timeout_ms: u32,
    /// SQLite: read connections (writes go through one writer).
    pub read_pool_size: u32,
    /// PostgreSQL: connections this process keeps open at most (reads and writes).
    pub pool_size: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            path: PathBuf::from("./data/incidentrelay.db"),
            url: None,
            auto_migrate: true,
            synchronous: Synchronous::Full,
            busy_timeout_ms: 5000,
            read_pool_size: 4,
            pool_size: 16,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Full,
    Normal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    pub enabled: bool,
    pub tick_seconds: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig { enabled: true, tick_seconds: 5 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeConfig {
    pub rate_limit_per_minute: u32,
    pub trusted_networks: Vec<Cidr>,
    pub max_body_bytes: usize,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig { rate_limit_per_minute: 120, trusted_networks: Vec::new(), max_body_bytes: 512 * 1024 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub reopen_window_seconds: i64,
    pub group_window_seconds: i64,
    pub flap_threshold: u32,
    pub flap_window_seconds: i64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            reopen_window_seconds: 3600,
            group_window_seconds: 300,
            flap_threshold: 5,
            flap_window_seconds: 600,
        }
    }
}

impl AlertsConfig {
    /// The lifecycle's options from these settings.
    pub fn lifecycle(&self) -> crate::domain::lifecycle::Options {
        crate::domain::lifecycle::Options {
            reopen_window_secs: self.reopen_window_seconds,
            group_window_secs: self.group_window_seconds,
            flap_threshold: self.flap_threshold,
            flap_window_secs: self.flap_window_seconds,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    pub resolved_alert_days: u32,
    pub audit_log_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig { resolved_alert_days: 90, audit_log_days: 365 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// How long a failing notification is retried, counted from when it was queued.
    pub retry_for_seconds: u64,
    /// Give up sooner, after this many attempts (0: no limit, the time budget decides).
    pub max_attempts: u32,
    pub timeout_seconds: u64,
    /// Requests in flight at once per channel.
    pub concurrency_per_channel: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig { retry_for_seconds: 86_400, max_attempts: 0, timeout_seconds: 10, concurrency_per_channel: 4 }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Private/loopback networks that outbound notifications may reach anyway.
    pub outbound_allowlist: Vec<Cidr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub session_hours: u32,
    /// Failed logins for one account from one client address before that address is locked
    /// out of that account.
    pub max_failed_logins_per_account: u32,
    /// Failed logins for one account from all addresses together before the account is locked
    /// (a slower brake on distributed guessing; the real user elsewhere is not locked out by a
    /// stranger's few tries).
    pub max_failed_logins_per_account_total: u32,
    pub max_failed_logins_per_ip: u32,
    pub login_lockout_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_hours: 168,
            max_failed_logins_per_account: 5,
            max_failed_logins_per_account_total: 50,
            max_failed_logins_per_ip: 20,
            login_lockout_seconds: 900,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub host: Option<String>,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: Option<String>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: None,
            port: 587,
            security: SmtpSecurity::Starttls,
            username: None,
            password: None,
            from: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    pub level: LogLevel,
    pub format: LogFormat,
    /// Append to this file instead of writing to stdout.
    pub file: Option<PathBuf>,
    /// One line per HTTP request.
    pub requests: bool,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig { level: LogLevel::Info, format: LogFormat::Json, file: None, requests: true }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warning,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// When set, `GET /metrics` requires `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
}

/// The installation's Telegram bot, for people's personal Telegram contact methods.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Bot token from @BotFather; people add their chat id as a contact method.
    pub bot_token: Option<String>,
    /// Bot API base URL (default https://api.telegram.org; a local Bot API server, e.g.
    /// `http://127.0.0.1:8081`, with `security.outbound_allowlist`).
    pub api_url: Option<String>,
}

/// The installation's phone provider, for people's SMS and voice-call contact methods (the same
/// settings as a voice channel).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhoneConfig {
    /// `http` (a generic gateway) or `twilio`; unset: no SMS or voice contact methods.
    pub provider: Option<String>,
    /// http: where IncidentRelay POSTs call and SMS requests (signed with `secret`).
    pub url: Option<String>,
    /// http: the shared secret that signs requests.
    pub secret: Option<String>,
    /// twilio: account SID (AC…).
    pub account_sid: Option<String>,
    /// twilio: auth token.
    pub auth_token: Option<String>,
    /// twilio: the sending number in E.164.
    pub from_number: Option<String>,
    /// twilio: API base URL (default https://api.twilio.com).
    pub api_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// The time zone (IANA name) of users who have not chosen their own.
    pub default_time_zone: String,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig { default_time_zone: "UTC".into() }
    }
}

/// A network in CIDR notation; a bare address means a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(pub IpNet);

impl Cidr {
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<IpNet>() {
            return Ok(Cidr(n));
        }
        s.parse::<IpAddr>()
            .map(|ip| Cidr(IpNet::from(ip)))
            .map_err(|_| format!("`{s}` is not a CIDR network (e.g. 10.0.0.0/8) or an IP address"))
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Config {
    /// `server.public_base_url` without a trailing slash, defaulting to `http://<listen>`.
    pub fn public_base_url(&self) -> String {
        match &self.server.public_base_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.server.listen),
        }
    }

    /// Every `section.key` name the configuration knows, in order.
    pub fn keys() -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(Value::Object(sections)) = serde_json::to_value(Config::default()) {
            for (section, keys) in sections {
                if let Value::Object(keys) = keys {
                    out.extend(keys.keys().map(|k| format!("{section}.{k}")));
                }
            }
        }
        out
    }

    /// Loads the configuration from `file` (or the environment's choice) and `env`.
    /// Returns the config and the file it came from, or every problem found.
    pub fn load(file: Option<&Path>, env: &[(String, String)]) -> Result<(Config, Option<PathBuf>), Vec<String>> {
        let env_file = env.iter().find(|(k, _)| k == "INCIDENTRELAY_CONFIG").map(|(_, v)| PathBuf::from(v));
        let path = match (file, env_file) {
            (Some(p), _) => Some(p.to_path_buf()),
            (None, Some(p)) => Some(p),
            (None, None) => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        };
        let mut sources: Vec<(String, String, Value, Origin)> = Vec::new();
        let mut problems = Vec::new();
        if let Some(p) = &path {
            match std::fs::read_to_string(p) {
                Ok(text) => match toml::from_str::<toml::Table>(&text) {
                    Ok(table) => collect_file(&table, p, &mut sources, &mut problems),
                    Err(e) => problems.push(format!("{}: not valid TOML: {}", p.display(), e.to_string().trim())),
                },
                Err(e) => problems.push(format!("config file {}: {e}", p.display())),
            }
        }
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if rest == "CONFIG" || rest == "ADMIN_PASSWORD" {
                continue;
            }
            match rest.split_once("__") {
                Some((section, key)) if !section.is_empty() && !key.is_empty() => {
                    sources.push((
                        section.to_lowercase(),
                        key.to_lowercase(),
                        guess_env_value(raw),
                        Origin::Env(raw.clone()),
                    ));
                }
                _ => problems
                    .push(format!("{name}: not a configuration variable (expected {ENV_PREFIX}<SECTION>__<KEY>)")),
            }
        }
        let defaults = match serde_json::to_value(Config::default()) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let mut merged = defaults.clone();
        let given: Vec<(String, String)> = sources.iter().map(|(s, k, _, _)| (s.clone(), k.clone())).collect();
        let is_given = |s: &str, k: &str| given.iter().any(|(a, b)| a == s && b == k);
        if is_given("database", "path") && is_given("database", "url") {
            problems.push(format!(
                "database.path ({}) and database.url ({}) are both set: choose SQLite (path) or PostgreSQL (url)",
                env_name("database", "path"),
                env_name("database", "url")
            ));
        }
        for (section, key, value, origin) in sources {
            let label = format!("{section}.{key} ({})", env_name(&section, &key));
            let Some(Value::Object(keys)) = defaults.get(&section) else {
                problems.push(format!("{label}: unknown section `{section}`{}", origin.describe()));
                continue;
            };
            if !keys.contains_key(&key) {
                let known: Vec<_> = keys.keys().map(String::as_str).collect();
                problems.push(format!(
                    "{label}: unknown key{}; `{section}` has {}",
                    origin.describe(),
                    known.join(", ")
                ));
                continue;
            }
            let mut candidates = vec![value.clone()];
            if let Origin::Env(raw) = &origin {
                candidates.push(Value::String(raw.clone()));
            }
            let mut last_err = String::new();
            let accepted = candidates.into_iter().find(|candidate| {
                let mut probe = defaults.clone();
                set(&mut probe, &section, &key, candidate.clone());
                match serde_json::from_value::<Config>(Value::Object(probe)) {
                    Ok(_) => true,
                    Err(e) => {
                        last_err = e.to_string();
                        false
                    }
                }
            });
            match accepted {
                Some(v) => set(&mut merged, &section, &key, v),
                None => {
                    // The URL may hold a password: never repeat it.
                    let shown = if (section.as_str(), key.as_str()) == ("database", "url") {
                        "(hidden)".to_string()
                    } else {
                        short(&value)
                    };
                    problems.push(format!("{label}: invalid value {shown}: {last_err}{}", origin.describe()))
                }
            }
        }
        let config = match serde_json::from_value::<Config>(Value::Object(merged)) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("configuration: {e}"));
                return Err(problems);
            }
        };
        problems.extend(config.validate());
        if problems.is_empty() { Ok((config, path)) } else { Err(problems) }
    }

    /// Checks that need more than a type: ranges and formats.
    pub fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut check = |ok: bool, section: &str, key: &str, msg: &str| {
            if !ok {
                p.push(format!("{section}.{key} ({}): {msg}", env_name(section, key)));
            }
        };
        check(
            self.phone.provider.as_deref().is_none_or(|p| p == "http" || p == "twilio"),
            "phone",
            "provider",
            "must be http or twilio",
        );
        check(
            jiff::tz::TimeZone::get(&self.ui.default_time_zone).is_ok(),
            "ui",
            "default_time_zone",
            "is not a time zone the bundled database knows (an IANA name such as Europe/Berlin)",
        );
        if let Some(u) = &self.server.public_base_url {
            check(
                crate::domain::validate::is_http_url(u),
                "server",
                "public_base_url",
                "must be an absolute http:// or https:// URL",
            );
        }
        check(
            self.scheduler.tick_seconds >= 1 && self.scheduler.tick_seconds <= 3600,
            "scheduler",
            "tick_seconds",
            "must be between 1 and 3600",
        );
        check(self.intake.max_body_bytes >= 1024, "intake", "max_body_bytes", "must be at least 1024");
        check(self.alerts.reopen_window_seconds >= 0, "alerts", "reopen_window_seconds", "must not be negative");
        check(self.alerts.group_window_seconds >= 0, "alerts", "group_window_seconds", "must not be negative");
        check(self.alerts.flap_threshold >= 1, "alerts", "flap_threshold", "must be at least 1");
        check(self.alerts.flap_window_seconds >= 1, "alerts", "flap_window_seconds", "must be at least 1");
        check(self.retention.resolved_alert_days >= 1, "retention", "resolved_alert_days", "must be at least 1");
        check(self.delivery.max_attempts <= 1000, "delivery", "max_attempts", "must be between 0 (no limit) and 1000");
        check(
            (60..=30 * 86_400).contains(&self.delivery.retry_for_seconds),
            "delivery",
            "retry_for_seconds",
            "must be between 60 and 2592000 (30 days)",
        );
        check(
            self.delivery.timeout_seconds >= 1 && self.delivery.timeout_seconds <= 300,
            "delivery",
            "timeout_seconds",
            "must be between 1 and 300",
        );
        check(self.delivery.concurrency_per_channel >= 1, "delivery", "concurrency_per_channel", "must be at least 1");
        check(self.database.read_pool_size >= 1, "database", "read_pool_size", "must be at least 1");
        check((2..=500).contains(&self.database.pool_size), "database", "pool_size", "must be between 2 and 500");
        if let Some(url) = &self.database.url {
            check(
                url.starts_with("postgres://") || url.starts_with("postgresql://"),
                "database",
                "url",
                "must look like postgres://user:password@host:5432/database (the value is not shown: it may hold a password)",
            );
        }
        check(self.auth.session_hours >= 1, "auth", "session_hours", "must be at least 1");
        check(
            self.auth.max_failed_logins_per_account >= 1,
            "auth",
            "max_failed_logins_per_account",
            "must be at least 1",
        );
        check(self.auth.max_failed_logins_per_ip >= 1, "auth", "max_failed_logins_per_ip", "must be at least 1");
        check(
            self.auth.max_failed_logins_per_account_total >= self.auth.max_failed_logins_per_account,
            "auth",
            "max_failed_logins_per_account_total",
            "must be at least max_failed_logins_per_account",
        );
        if self.smtp.host.is_some() {
            check(
                self.smtp.from.as_deref().is_some_and(|f| f.contains('@')),
                "smtp",
                "from",
                "must be set to a sender address when smtp.host is set",
            );
        }
        p
    }
}

#[derive(Debug, Clone)]
enum Origin {
    File(PathBuf),
    Env(String),
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Origin::File(p) => format!(" (in {})", p.display()),
            Origin::Env(_) => " (from the environment)".to_string(),
        }
    }
}

pub fn env_name(section: &str, key: &str) -> String {
    format!("{ENV_PREFIX}{}__{}", section.to_uppercase(), key.to_uppercase())
}

fn collect_file(
    table: &toml::Table,
    path: &Path,
    out: &mut Vec<(String, String, Value, Origin)>,
    problems: &mut Vec<String>,
) {
    for (section, v) in table {
        match v {
            toml::Value::Table(keys) => {
                for (key, value) in keys {
                    match serde_json::to_value(value) {
                        Ok(j) => out.push((section.clone(), key.clone(), j, Origin::File(path.to_path_buf()))),
                        Err(e) => problems.push(format!("{section}.{key}: unsupported value: {e}")),
                    }
                }
            }
            _ => {
                problems.push(format!("{section} ({}): top-level keys must be sections like [server]", path.display()))
            }
        }
    }
}

/// Environment values are typed like TOML values when they parse as one (`120`, `true`,
/// `["10.0.0.0/8"]`), otherwise they are strings; a string is tried too when the typed value
/// does not fit.
fn guess_env_value(raw: &str) -> Value {
    match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(t) => {
            t.get("v").and_then(|v| serde_json::to_value(v).ok()).unwrap_or_else(|| Value::String(raw.to_string()))
        }
        Err(_) => Value::String(raw.to_string()),
    }
}

fn set(root: &mut Map<String, Value>, section: &str, key: &str, value: Value) {
    if let Some(Value::Object(keys)) = root.get_mut(section) {
        keys.insert(key.to_string(), value);
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 { format!("{}…", &s[..s.floor_char_boundary(60)]) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let (c, file) = Config::load(None, &[]).unwrap();
        assert!(file.is_none() || file == Some(PathBuf::from(DEFAULT_CONFIG_FILE)));
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_base_url(), "http://127.0.0.1:8080");
        assert_eq!(c.database.path, PathBuf::from("./data/incidentrelay.db"));
        assert_eq!(c.intake.rate_limit_per_minute, 120);
        assert_eq!(c.intake.max_body_bytes, 524288);
        assert_eq!(c.alerts.reopen_window_seconds, 3600);
        assert_eq!(c.delivery.retry_for_seconds, 86_400);
        assert_eq!(c.delivery.max_attempts, 0, "no attempt limit: the time budget decides");
        assert_eq!(c.retention.resolved_alert_days, 90);
    }

    #[test]
    fn env_overrides_with_types() {
        let (c, _) = Config::load(
            None,
            &env(&[
                ("INCIDENTRELAY_SERVER__LISTEN", "127.0.0.1:9000"),
                ("INCIDENTRELAY_INTAKE__RATE_LIMIT_PER_MINUTE", "0"),
                ("INCIDENTRELAY_INTAKE__TRUSTED_NETWORKS", "[\"10.0.0.0/8\", \"127.0.0.1\"]"),
                ("INCIDENTRELAY_SMTP__PASSWORD", "12345"),
                ("INCIDENTRELAY_SMTP__HOST", "mail.example"),
                ("INCIDENTRELAY_SMTP__FROM", "oncall@example.com"),
                ("INCIDENTRELAY_SERVER__PUBLIC_BASE_URL", "https://oncall.example.com/"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.intake.rate_limit_per_minute, 0);
        assert_eq!(c.intake.trusted_networks.len(), 2);
        assert_eq!(c.smtp.password.as_deref(), Some("12345"), "numeric-looking strings stay strings");
        assert_eq!(c.public_base_url(), "https://oncall.example.com");
    }

    #[test]
    fn every_problem_is_reported_with_key_and_env_name() {
        let errs = Config::load(
            None,
            &env(&[
                ("INCIDENTRELAY_SERVER__LISTEN", "nowhere"),
                ("INCIDENTRELAY_SCHEDULER__TICK_SECONDS", "0"),
                ("INCIDENTRELAY_LOGGING__FORMAT", "xml"),
                ("INCIDENTRELAY_SERVER__LISEN", "x"),
                ("INCIDENTRELAY_NOPE", "x"),
            ]),
        )
        .unwrap_err();
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(errs.iter().any(|e| e.starts_with("server.listen (INCIDENTRELAY_SERVER__LISTEN): invalid value")));
        assert!(
            errs.iter().any(|e| { e.starts_with("scheduler.tick_seconds (INCIDENTRELAY_SCHEDULER__TICK_SECONDS)") })
        );
        assert!(errs.iter().any(|e| e.contains("logging.format") && e.contains("json")));
        assert!(errs.iter().any(|e| e.contains("server.lisen") && e.contains("unknown key")));
        assert!(errs.iter().any(|e| e.contains("INCIDENTRELAY_NOPE")));
    }

    #[test]
    fn file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:7000\"\n[alerts]\nflap_threshold = 3\n").unwrap();
        let (c, f) = Config::load(Some(&path), &env(&[("INCIDENTRELAY_ALERTS__FLAP_THRESHOLD", "9")])).unwrap();
        assert_eq!(f.as_deref(), Some(path.as_path()));
        assert_eq!(c.server.listen.port(), 7000);
        assert_eq!(c.alerts.flap_threshold, 9);
        std::fs::write(&path, "[server]\nlisten = 5\nworkers = \"many\"\n").unwrap();
        let errs = Config::load(Some(&path), &[]).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[0].contains(&path.display().to_string()));
        assert!(Config::load(Some(&dir.path().join("missing.toml")), &[]).is_err());
    }

    #[test]
    fn the_example_file_parses_and_documents_every_key() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/incidentrelay.toml");
        let (c, _) = Config::load(Some(&example), &[]).unwrap();
        assert!(c.scheduler.enabled);
        let text = std::fs::read_to_string(&example).unwrap();
        for key in Config::keys() {
            let (section, k) = key.split_once('.').unwrap();
            assert!(text.contains(&format!("[{section}]")), "example lacks section [{section}]");
            assert!(
                text.lines().any(|l| l.trim_start_matches(['#', ' ']).starts_with(&format!("{k} ="))),
                "examples/incidentrelay.toml does not document {key}"
            );
        }
    }
}
