//! End-to-end tests against real programs users run (installed by `.ci/run`). When a program is
//! missing they skip with a message, unless IRTEST_REQUIRE_EXTERNAL=1 (CI) makes that a
//! failure.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::intake::setup;
use crate::support::{TestApp, agent, send, try_send};
use crate::tools::{Guard, free_port, python_with, require, wait_for};

#[test]
fn real_prometheus_alertmanager_fires_and_resolves() {
    let Some(am) = require("prometheus-alertmanager") else { return };
    let app = TestApp::start();
    let s = setup(&app);
    let token = &s.tokens["alertmanager"];
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"route:
  receiver: incidentrelay
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: incidentrelay
    webhook_configs:
      - url: {base}/api/integrations/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"#,
        base = app.base
    );
    let cfg = dir.path().join("alertmanager.yml");
    std::fs::write(&cfg, config).unwrap();
    let child = Command::new(am)
        .args([
            &format!("--config.file={}", cfg.display()),
            &format!("--storage.path={}", dir.path().join("data").display()),
            &format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=",
            "--log.level=warn",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertmanager");
    let _guard = Guard(child);
    let am_url = format!("http://127.0.0.1:{port}");
    let http = agent();
    wait_for(Duration::from_secs(20), || {
        try_send(&http, "GET", &format!("{am_url}/-/ready"), None, None, &[])
            .ok()
            .filter(|r| r.status == 200)
            .map(|_| ())
    })
    .expect("alertmanager became ready");

    let alert = json!([{"labels": {"alertname": "DiskFull", "instance": "db-9", "severity": "critical"},
                        "annotations": {"summary": "Disk full on db-9", "runbook_url": "https://runbooks.example/disk"}}]);
    let r = send(&http, "POST", &format!("{am_url}/api/v2/alerts"), None, Some(alert.to_string()), &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    let fired = wait_for(Duration::from_secs(20), || {
        let page = app.get("/api/alerts?source=alertmanager", &s.w.admin).body;
        page["items"].as_array().and_then(|i| i.first().cloned()).filter(|a| a["status"] == "firing")
    })
    .expect("the alert arrived from Alertmanager");
    assert_eq!(fired["title"], "Disk full on db-9");
    assert_eq!(fired["severity"], "critical");
    assert_eq!(fired["event_link"], "https://runbooks.example/disk");
    assert_eq!(fired["labels"]["alertmanager_url"].as_str().map(|u| u.starts_with("http")), Some(true));
    assert_eq!(fired["assignee"]["username"], "eddie");

    // Expire it: Alertmanager sends the resolved notification.
    let ended = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_secs(1)).unwrap().to_string();
    let alert = json!([{"labels": {"alertname": "DiskFull", "instance": "db-9", "severity": "critical"},
                        "annotations": {"summary": "Disk full on db-9"}, "endsAt": ended}]);
    let r = send(&http, "POST", &format!("{am_url}/api/v2/alerts"), None, Some(alert.to_string()), &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    let id = fired["id"].as_i64().unwrap();
    let resolved = wait_for(Duration::from_secs(20), || {
        let a = app.get(&format!("/api/alerts/{id}"), &s.w.admin).body;
        (a["status"] == "resolved").then_some(a)
    })
    .expect("the resolved notification arrived");
    assert!(resolved["resolved_by"].as_str().unwrap().contains("alertmanager"));
}

/// A real SMTP server (aiosmtpd) writing every message it accepts to a Maildir.
struct SmtpSink {
    _guard: Guard,
    python: String,
    maildir: std::path::PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    fn start() -> Option<SmtpSink> {
        let python = python_with("aiosmtpd")?;
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("mail");
        let port = free_port();
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let guard = Guard(child);
        wait_for(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).ok())
            .expect("aiosmtpd listens");
        Some(SmtpSink { _guard: guard, python, maildir, port, _dir: dir })
    }

    /// A server that sends its mail here.
    fn app(&self) -> TestApp {
        let port = self.port;
        TestApp::start_with(|c| {
            c.smtp.host = Some("127.0.0.1".into());
            c.smtp.port = port;
            c.smtp.security = incidentrelay::config::SmtpSecurity::None;
            c.smtp.from = Some("IncidentRelay <oncall@example.com>".into());
        })
    }

    /// Every message received so far, parsed by Python's e-mail package (what a mail client
    /// would see): headers, and each part's content type and decoded text.
    fn messages(&self) -> Vec<serde_json::Value> {
        let script = r#"
import email, email.policy, json, os, sys
out = []
new = os.path.join(sys.argv[1], "new")
for name in sorted(os.listdir(new), key=lambda n: os.path.getmtime(os.path.join(new, n))) if os.path.isdir(new) else []:
    with open(os.path.join(new, name), "rb") as f:
        m = email.message_from_binary_file(f, policy=email.policy.default)
    parts = [{"type": p.get_content_type(), "text": p.get_content()} for p in m.walk() if not p.is_multipart()]
    out.append({"headers": {k.lower(): str(v) for k, v in m.items()}, "type": m.get_content_type(), "parts": parts})
print(json.dumps(out))
"#;
        let out =
            Command::new(&self.python).args(["-c", script]).arg(&self.maildir).output().expect("parse the maildir");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn wait(&self, n: usize) -> Vec<serde_json::Value> {
        wait_for(Duration::from_secs(10), || Some(self.messages()).filter(|m| m.len() >= n))
            .unwrap_or_else(|| panic!("{n} e-mail(s) arrive; got {:?}", self.messages()))
    }
}

#[test]
fn email_reaches_a_real_smtp_server_with_both_parts_and_action_links() {
    let Some(sink) = SmtpSink::start() else { return };
    let app = sink.app();
    let (s, _) = crate::delivery::setup(
        &app,
        &[json!({"channel_type": "email", "config": {"recipients": ["sre@example.com"], "include_assignee": true}})],
    );
    let id = crate::delivery::fire(&app, &s, "db-7", "critical");
    app.deliver();
    let mails = sink.wait(1);
    let m = &mails[0];
    let h = &m["headers"];
    let first_id = h["message-id"].as_str().unwrap_or_else(|| panic!("every mail has a Message-ID: {h}")).to_string();
    assert!(first_id.starts_with("<msg_") && first_id.ends_with("@oncall.example>"), "{first_id}: our domain");
    assert!(h.get("in-reply-to").is_none_or(serde_json::Value::is_null), "the first mail starts the thread");
    assert_eq!(h["from"], "IncidentRelay <oncall@example.com>");
    assert_eq!(h["to"], "sre@example.com, eddie@example.com", "the recipients and the assignee");
    assert!(h["subject"].as_str().unwrap().contains("Disk full on db-7"), "{h}");
    assert_eq!(h["x-incidentrelay-event"], "triggered");
    assert_eq!(m["type"], "multipart/alternative");
    let part = |t: &str| {
        m["parts"].as_array().unwrap().iter().find(|p| p["type"] == t).unwrap()["text"].as_str().unwrap().to_string()
    };
    let (plain, html) = (part("text/plain"), part("text/html"));
    for body in [&plain, &html] {
        assert!(body.contains("Disk full on db-7"));
        assert!(body.contains("https://oncall.example/a/"), "signed action links in every part");
        assert!(body.contains(&format!("https://oncall.example/alerts/{id}")));
    }
    assert!(html.contains(">Acknowledge</a>") && html.contains(">Resolve</a>"));
    let d = crate::delivery::deliveries(&app, &s, id);
    assert_eq!(d[0]["status"], "sent");

    // The acknowledge link in the mail works: GET confirms, POST acts.
    let link = plain
        .split_whitespace()
        .find(|w| w.starts_with("https://oncall.example/a/"))
        .unwrap()
        .trim_start_matches("https://oncall.example")
        .to_string();
    let page = try_send(&agent(), "GET", &app.url(&link), None, None, &[]).unwrap();
    assert_eq!(page.status, 200);
    assert_eq!(app.get(&format!("/api/alerts/{id}"), &s.w.admin).expect(200)["status"], "firing", "GET does not act");

    // Acknowledge: a follow-up in the same thread.
    app.post(&format!("/api/alerts/{id}/ack"), &s.w.responder.1, json!({})).expect(200);
    app.deliver();
    let mails = sink.wait(2);
    let h = &mails[1]["headers"];
    assert_eq!(h["x-incidentrelay-event"], "acknowledged");
    assert_ne!(h["message-id"], first_id, "each mail has its own Message-ID");
    assert_eq!(
        (h["in-reply-to"].as_str(), h["references"].as_str()),
        (Some(first_id.as_str()), Some(first_id.as_str()))
    );

    // The CLI sends a test e-mail through the same server.
    let bin = env!("CARGO_BIN_EXE_incidentrelay");
    let out = Command::new(bin)
        .args(["send-test-email", "--to", "me@example.com"])
        .env_remove("INCIDENTRELAY_CONFIG")
        .env("INCIDENTRELAY_SMTP__HOST", "127.0.0.1")
        .env("INCIDENTRELAY_SMTP__PORT", sink.port.to_string())
        .env("INCIDENTRELAY_SMTP__SECURITY", "none")
        .env("INCIDENTRELAY_SMTP__FROM", "oncall@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("accepted by 127.0.0.1"));
    let mails = sink.wait(3);
    assert_eq!(mails[2]["headers"]["to"], "me@example.com");
    assert_eq!(mails[2]["headers"]["subject"], "IncidentRelay test e-mail");
}

#[test]
fn someone_paged_without_notification_rules_gets_an_email_at_their_address() {
    let Some(sink) = SmtpSink::start() else { return };
    let app = sink.app();
    // eddie is on call; the team has only a log channel, and eddie no rules.
    let (s, _) = crate::delivery::setup(&app, &[json!({"channel_type": "log", "config": {}})]);
    let id = crate::delivery::fire(&app, &s, "db-1", "critical");
    app.deliver();
    let mails = sink.wait(1);
    assert_eq!(mails[0]["headers"]["to"], "eddie@example.com");
    assert!(mails[0]["headers"]["subject"].as_str().unwrap().contains("Disk full on db-1"), "{}", mails[0]);
    let d = crate::delivery::deliveries(&app, &s, id);
    let mail = d.iter().find(|d| d["target"].as_str().unwrap().starts_with("e-mail to eddie")).expect("in the trail");
    assert_eq!(mail["target"], "e-mail to eddie (eddie@example.com), who has no notification rules");
    assert_eq!(mail["status"], "sent");
    let cookie = format!("ir_session={}", s.w.admin);
    let page = app.request("GET", &format!("/alerts/{id}"), None, None, &[("Cookie", &cookie)]);
    assert!(
        page.text.contains("eddie has no notification rules: only the team's channels and an e-mail to their address"),
        "the page says how eddie is reached"
    );

    // Once eddie has a working rule of his own, that rule reaches him instead.
    let push = crate::fake::Fake::start();
    push.default(crate::fake::Reply::ok(r#"{"id": "m1"}"#));
    let e = &s.w.editor.1;
    let m = app
        .post("/api/profile/contact-methods", e, json!({"type": "ntfy", "value": format!("{}/eddie", push.url)}))
        .expect(201);
    app.post(&format!("/api/profile/contact-methods/{}/test", m["id"]), e, json!({})).expect(200);
    app.post("/api/profile/notification-rules", e, json!({"contact_method_id": m["id"]})).expect(201);
    crate::delivery::fire(&app, &s, "db-2", "critical");
    app.deliver();
    assert_eq!(push.requests().len(), 2, "the test message and the page");
    assert_eq!(sink.messages().len(), 1, "no second e-mail");
}

/// `/metrics` read by the real parsers: prometheus_client's (which names counter families
/// without `_total`, as OpenMetrics does: two families may not share a name) and
/// `promtool check metrics`.
#[test]
fn metrics_parse_with_prometheus_client_and_promtool() {
    let app = TestApp::start();
    let fake = crate::fake::Fake::start();
    let (s, _) = crate::delivery::setup(&app, &[crate::delivery::webhook(&fake.url)]);
    crate::delivery::fire(&app, &s, "m-1", "critical");
    app.deliver();
    let text = app.request("GET", "/metrics", None, None, &[]).text;
    assert!(text.contains("incidentrelay_deliveries_total{") && text.contains("incidentrelay_outbox_rows"), "{text}");
    let run = |program: &str, args: &[&str]| {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    if let Some(python) = python_with("prometheus_client") {
        let script = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
                      names = [f.name for f in text_string_to_metric_families(sys.stdin.read())]\n\
                      dup = sorted({n for n in names if names.count(n) > 1})\n\
                      print(len(names), 'families', 'duplicates:', dup)\nsys.exit(1 if dup or not names else 0)";
        let (ok, out) = run(&python, &["-c", script]);
        assert!(ok, "prometheus_client: {out}");
    }
    if let Some(promtool) = require("promtool") {
        let (ok, out) = run(&promtool, &["check", "metrics"]);
        assert!(ok, "promtool check metrics: {out}");
    }
}
