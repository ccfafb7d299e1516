//! The web UI in headless Chromium: the whole first-login setup through the UI only, an alert
//! posted with an HTTP client and acknowledged from the alerts page, and the login, alerts, alert and
//! calendar pages at 360 px and 1280 px (screenshots in target/tmp/ui-screenshots).

use serde_json::json;

use crate::fake::Fake;
use crate::support::TestApp;
use crate::webdriver::Browser;

#[test]
fn first_login_setup_and_acknowledging_an_alert_in_the_browser() {
    let Some(b) = Browser::start() else { return };
    let app = TestApp::start();
    let fake = Fake::start();
    let url = |p: &str| app.url(p);

    // The login page at both widths, before logging in.
    b.goto(&url("/login"));
    for (w, h) in [(360, 740), (1280, 900)] {
        b.size(w, h);
        b.find("#username");
        assert!(b.overflow_x() <= 0, "login page scrolls sideways at {w}px");
        eprintln!("screenshot: {}", b.screenshot(&format!("login-{w}")).display());
    }

    // First login with the printed password; the UI asks for a new one.
    b.fill("#username", "admin");
    b.fill("#password", &app.admin_password);
    b.submit("form button[type=submit]");
    b.wait_text("#password", "generated password");
    b.fill("#f-old_password", &app.admin_password);
    b.fill("#f-new_password", "a much better password");
    b.submit("#password button[type=submit]");
    b.wait_text(".flash", "Password changed");

    // A group, two users, their roles.
    b.goto(&url("/admin/groups"));
    b.fill("#f-name", "Operations");
    b.submit("details.create button[type=submit]");
    b.wait_text(".flash", "Group created");
    let group_page = b.url();
    for (name, role) in [("alice", "responder"), ("bob", "editor")] {
        b.goto(&url("/admin/users"));
        b.click("details.create summary");
        b.fill("#f-username", name);
        b.fill("#f-email", &format!("{name}@example.com"));
        b.fill("#f-password", &format!("{name}-password-123"));
        b.submit("details.create button[type=submit]");
        b.wait_text(".flash", "created");
        b.goto(&group_page);
        b.choose("form[action$='/members'] select[name=user_id]", name);
        b.choose("form[action$='/members'] select[name=role]", role);
        b.submit("form[action$='/members'] button[type=submit]");
        b.wait_text(".flash", "Member added");
    }

    // A team with both as members.
    b.goto(&url("/teams"));
    b.click("details.create summary");
    b.fill("#f-name", "Infrastructure");
    b.submit("details.create button[type=submit]");
    b.wait_text(".flash", "Team created");
    for name in ["alice", "bob"] {
        b.choose("select[name=user_id]", name);
        b.submit("form[action$='/members'] button[type=submit]");
        b.wait_text(".flash", "Member added");
    }
    b.wait_text("ul.members", "bob");

    // A rotation with both, alice first.
    b.goto(&url("/rotations"));
    b.click("details.create summary");
    b.fill("#f-name", "Primary");
    b.fill("#f-start_at", "2026-11-23T09:00:00Z");
    b.submit("details.create button[type=submit]");
    b.wait_text(".flash", "Rotation created");
    for name in ["alice", "bob"] {
        b.choose("form[action$='/members'] select[name=user_id]", name);
        b.submit("form[action$='/members'] button[type=submit]");
        b.wait_text(".flash", "Member added");
    }
    b.wait_text("ol.members", "bob");
    b.wait_text("main", "On call now: alice");

    // A webhook channel, tested.
    b.goto(&url("/channels"));
    b.click("details.create summary");
    b.submit("a[href='/channels?channel_type=slack#new']");
    b.wait_text("form[action='/channels'] fieldset", "Settings for slack");
    b.choose("#f-channel_type", "webhook");
    b.submit("a[href='/channels?channel_type=webhook#new']");
    b.wait_text("form[action='/channels'] fieldset", "Settings for webhook");
    b.fill("#f-name", "ops-hook");
    b.fill("[id='f-config.webhook_url']", &format!("{}/hook", fake.url));
    b.submit("details.create button[type=submit]");
    b.wait_text(".flash", "Channel created");
    b.submit("form[action$='/test'] button");
    b.wait_text(".flash", "Test message sent");
    assert_eq!(fake.requests().last().map(|r| r.json()["event"].clone()), Some(json!("test")));

    // A route; its token is shown once, with snippets to paste.
    b.goto(&url("/routes"));
    b.click("details.create summary");
    b.fill("#f-name", "scripts");
    b.choose("#f-source", "Generic webhook");
    b.choose("#f-rotation_id", "Primary");
    b.tick("fieldset", "ops-hook");
    b.submit("details.create button[type=submit]");
    let token = b.wait_text("#intake-token", "iri_");
    assert!(b.text("#snippet-main").contains(&token), "the snippet carries the token");
    // Try a payload: the answer appears as you type (nothing stored).
    b.fill("textarea[name=payload]", r#"{"title": "Simulated disk alert", "severity": "critical"}"#);
    b.wait_text(".simulation", "Simulated disk alert — accepted");

    // A test alert from the route page, acknowledged and resolved in the UI.
    b.submit("form[action$='/test-alert'] button");
    b.wait_text(".flash", "Test alert");
    b.wait_text("main", "Test alert sent by admin");
    app.deliver();
    b.submit("form[action$='/ack'] button");
    b.wait_text(".flash", "acknowledged");
    b.submit("form[action$='/resolve'] button");
    b.wait_text(".flash", "resolved");
    app.deliver();
    let events: Vec<String> =
        fake.requests().iter().map(|r| r.json()["event"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(events, ["test", "triggered", "acknowledged", "resolved"], "paged, then updated twice");

    // An alert posted with an HTTP client shows on the alerts page and is acknowledged there.
    let body = json!({"title": "Disk full on db-7", "severity": "critical", "fingerprint": "disk-db-7"});
    app.post_raw("/api/integrations/webhook", Some(&token), &body.to_string()).expect(200);
    b.goto(&url("/alerts"));
    b.wait_text("table.alerts", "Disk full on db-7");
    b.submit("table.alerts tr.row-firing button[formaction$='/ack']");
    b.wait_text(".flash", "acknowledged");
    b.goto(&url("/alerts?status=acknowledged"));
    b.wait_text("table.alerts", "Disk full on db-7");
    for (w, h) in [(360, 740), (1280, 900)] {
        b.size(w, h);
        b.goto(&url("/alerts?status=acknowledged"));
        b.find("table.alerts");
        assert!(b.overflow_x() <= 0, "alerts page scrolls sideways at {w}px");
        // Status, severity and time stay whole words, and show once (in a column, or folded
        // under the title on a phone).
        assert!(b.one_line("table.alerts .badge, table.alerts time, table.alerts th"), "text wraps mid-word at {w}px");
        let row = b.text("table.alerts tbody tr");
        assert_eq!(row.matches("acknowledged").count(), 1, "at {w}px: {row:?}");
        eprintln!("screenshot: {}", b.screenshot(&format!("alerts-{w}")).display());
        b.click("table.alerts tbody td a");
        b.wait_text("main", "Timeline");
        assert!(b.overflow_x() <= 0, "the alert page scrolls sideways at {w}px");
        eprintln!("screenshot: {}", b.screenshot(&format!("alert-{w}")).display());
        b.goto(&url("/calendar"));
        b.wait_text(".cal", "alice");
        assert!(b.overflow_x() <= 0, "calendar scrolls sideways at {w}px");
        eprintln!("screenshot: {}", b.screenshot(&format!("calendar-{w}")).display());
    }
}
