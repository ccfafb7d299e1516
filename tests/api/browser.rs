//! The web UI in headless Chromium: the whole first-login setup through the UI only, led by the
//! dashboard's checklist; an alert posted with an HTTP client and acknowledged from the alerts
//! page; and every main page at 390 px and 1280 px, light and dark, with nothing wider than the
//! screen and no word broken inside a table cell (screenshots in target/tmp/ui-screenshots).

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
    look(&b, "login", "#username");

    // First login with the printed password; the UI asks for a new one.
    b.fill("#username", "admin");
    b.fill("#password", &app.admin_password);
    b.submit("form button[type=submit]");
    b.wait_text("#password", "generated password");
    b.fill("#f-old_password", &app.admin_password);
    b.fill("#f-new_password", "a much better password");
    b.submit("#password button[type=submit]");
    b.wait_text(".flash", "Password changed");

    // A fresh install: the dashboard is a setup checklist, and no empty page is a dead end.
    b.goto(&url("/"));
    b.wait_text(".setup", "0 of 7 done");
    look(&b, "setup", ".checklist");
    for path in ["/teams", "/rotations", "/channels", "/routes", "/policies", "/silences", "/alerts", "/calendar"] {
        b.goto(&url(path));
        assert!(b.exists("p.empty a"), "{path} says what to create first and links there");
    }
    b.goto(&url("/"));
    b.submit(".checklist li.next a");
    assert!(b.url().ends_with("/admin/groups"), "the first step is a group: {}", b.url());

    // A group, two users, their roles.
    b.goto(&url("/admin/groups"));
    b.fill("#f-name", "Operations");
    b.submit("details.create button[type=submit]");
    b.wait_text(".flash", "Group created");
    let group_page = b.url();
    for (name, role) in [("alice", "responder"), ("bob", "editor")] {
        b.goto(&url("/admin/users"));
        b.open("details.create");
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

    // A team with both as members, added at once.
    b.goto(&url("/teams"));
    b.open("details.create");
    b.fill("#f-name", "Infrastructure");
    b.submit("details.create button[type=submit]");
    b.wait_text(".flash", "Team created");
    let team_page = b.url();
    for name in ["alice", "bob"] {
        b.tick("form[action$='/members'] fieldset", name);
    }
    b.submit("form[action$='/members'] button[type=submit]");
    b.wait_text(".flash", "Added alice, bob.");
    b.wait_text("ul.members", "bob");

    // A rotation with both, alice first.
    b.goto(&url("/rotations"));
    b.open("details.create");
    b.fill("#f-name", "Primary");
    b.set_value("#f-start_at", "2026-11-23T09:00");
    b.choose("#f-timezone", "Europe/Berlin");
    b.submit("details.create button[type=submit]");
    b.wait_text(".flash", "Rotation created");
    let rotation_page = b.url();
    for name in ["alice", "bob"] {
        b.choose("form[action$='/members'] select[name=user_id]", name);
        b.submit("form[action$='/members'] button[type=submit]");
        b.wait_text(".flash", "Member added");
    }
    b.wait_text("ol.members", "bob");
    b.wait_text("main", "On call now: alice");
    // Shifts begin 09:00 in Berlin, 08:00Z: an admin in UTC sees 08:00, in Berlin 09:00.
    b.wait_text("main", "08:00 UTC");
    b.goto(&url("/profile"));
    b.choose("#f-time_zone", "Europe/Berlin");
    b.submit("form[action='/profile'] button[type=submit]");
    b.goto(&rotation_page);
    b.wait_text("main", "09:00 CET");

    // Two more layers on top of the rotation's own: a weekday day crew and a weekend layer.
    // The schedule shows each layer, the overrides and the final schedule.
    for (name, who, days, from, until) in [
        ("Day crew", "bob", &["Mon", "Tue", "Wed", "Thu", "Fri"][..], "09:00", "18:00"),
        ("Weekend", "alice", &["Sat", "Sun"][..], "10:00", "22:00"),
    ] {
        b.open("details:has(form[action$='/layers'])");
        b.fill("form[action$='/layers'] input[name=name]", name);
        b.tick("form[action$='/layers'] fieldset:nth-of-type(1)", who);
        for d in days {
            b.tick("form[action$='/layers'] fieldset:nth-of-type(2)", d);
        }
        b.set_value("form[action$='/layers'] input[name=from]", from);
        b.set_value("form[action$='/layers'] input[name=until]", until);
        b.submit("form[action$='/layers'] button[type=submit]");
        b.wait_text(".flash", "Layer added");
    }
    b.wait_text("table.layers", "Mon–Fri 09:00–18:00");
    b.wait_text("table.layers", "Sat, Sun 10:00–22:00");
    // The form previews the final schedule a new layer would give as it is filled in.
    b.open("details:has(form[action$='/layers'])");
    b.tick("form[action$='/layers'] fieldset:nth-of-type(1)", "alice");
    b.tick("form[action$='/layers'] fieldset:nth-of-type(2)", "Mon");
    b.wait_text(".layer-preview", "Preview");
    b.wait_text(".layer-preview", "alice");
    b.screenshot_of(".layer-preview", "layer-preview");
    b.refresh();
    let rows = b.eval("return [...document.querySelectorAll('.timeline .trow .tlabel')].map(e => e.textContent);");
    assert_eq!(rows, json!(["Europe/Berlin", "Weekend", "Day crew", "Layer 1", "Overrides", "Final schedule"]));
    let hover = b.eval("return [...document.querySelectorAll('.timeline .trow.final .tbar')].map(e => e.title);");
    assert!(
        hover
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap_or("").starts_with("bob: Tue 09:00 CET → Tue 18:00 CET")),
        "hovering a bar shows its exact bounds: {hover}"
    );
    // The pictures in docs/src/schedules.md.
    b.screenshot_of("#schedule", "rotation-schedule");
    b.screenshot_of("table.layers", "rotation-layers");

    // A webhook channel, tested.
    b.goto(&url("/channels"));
    b.open("details.create");
    b.submit("a[href='/channels?channel_type=slack#new']");
    b.wait_text("form[action='/channels'] fieldset", "Settings for Slack");
    b.choose("#f-channel_type", "Webhook");
    b.submit("a[href='/channels?channel_type=webhook#new']");
    b.wait_text("form[action='/channels'] fieldset", "Settings for Webhook");
    // The typed name survives switching the type.
    b.fill("#f-name", "ops-hook");
    b.submit("a[href='/channels?channel_type=discord#new']");
    b.wait_text("form[action='/channels'] fieldset", "Settings for Discord");
    assert_eq!(b.eval("return document.querySelector('#f-name').value;"), json!("ops-hook"));
    b.submit("a[href='/channels?channel_type=webhook#new']");
    b.wait_text("form[action='/channels'] fieldset", "Settings for Webhook");
    b.fill("[id='f-config.webhook_url']", &format!("{}/hook", fake.url));
    b.submit("details.create button[type=submit]");
    b.wait_text(".flash", "Channel created");
    b.submit("form[action$='/test'] button");
    b.wait_text(".flash", "Test message sent");
    assert_eq!(fake.requests().last().map(|r| r.json()["event"].clone()), Some(json!("test")));

    // A route; its token is shown once, with snippets to paste.
    b.goto(&url("/routes"));
    b.open("details.create");
    b.fill("#f-name", "scripts");
    b.choose("#f-source", "Generic webhook");
    b.choose("#f-rotation_id", "Primary");
    b.tick("fieldset", "ops-hook");
    b.submit("details.create button[type=submit]");
    let token = b.wait_text("#intake-token", "iri_");
    let route_page = b.url();
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
    b.find("table.alerts tbody td a");
    b.submit("table.alerts tbody td a");
    let alert_page = b.url();

    // A dozen more: a laptop screen (1280 × 800) shows at least 12 rows of the alerts table.
    let hosts = [
        "web-1",
        "web-2",
        "db-1",
        "db-2",
        "cache-1",
        "queue-1",
        "lb-1",
        "lb-2",
        "search-1",
        "mail-1",
        "dns-1",
        "vpn-1",
        "ci-runner-1",
        "backup-1",
    ];
    for (i, host) in hosts.iter().enumerate() {
        let severity = ["critical", "high", "warning", "info"][i % 4];
        let body = json!({"title": format!("High load on {host}"), "severity": severity, "fingerprint": format!("load-{host}")});
        app.post_raw("/api/integrations/webhook", Some(&token), &body.to_string()).expect(200);
    }
    b.size(1280, 800);
    let chrome = b.eval("return window.outerHeight - window.innerHeight;").as_i64().unwrap_or(0);
    b.size(1280, 800 + chrome as u32);
    b.goto(&url("/alerts"));
    b.wait_text("table.alerts", "High load on backup-1");
    let shown = b.eval("return [...document.querySelectorAll('table.alerts tbody tr')].filter(r => r.getBoundingClientRect().bottom <= window.innerHeight).length;");
    assert!(shown.as_i64().unwrap_or(0) >= 12, "{shown} rows of alerts on a 1280 × 800 screen");
    b.size(1280, 900);

    // How you are paged: an ntfy method, verified by its test message, and a rule (the picture
    // in docs/src/personal-notifications.md comes from here).
    b.goto(&url("/profile#notifications"));
    b.open("details:has(form[action='/profile/methods'])");
    b.choose("form[action='/profile/methods'] select[name=type]", "ntfy");
    b.fill("form[action='/profile/methods'] input[name=value]", &format!("{}/admin-pager", fake.url));
    b.fill("form[action='/profile/methods'] input[name=label]", "phone");
    b.submit("form[action='/profile/methods'] button[type=submit]");
    b.wait_text(".flash", "Method added");
    b.submit("ul.methods form[action$='/test'] button");
    b.wait_text(".flash", "the method is verified");
    b.open("details:has(form[action='/profile/rules'])");
    b.fill("form[action='/profile/rules'] input[name=minutes]", "5");
    b.submit("form[action='/profile/rules'] button[type=submit]");
    b.wait_text(".flash", "Rule added");
    b.wait_text("ul.rules", "5 minutes after you are paged");
    b.screenshot_of("#notifications", "profile-notifications");

    // Every main page at both widths, light and dark: nothing wider than the screen, no word
    // broken inside a table cell. Status, severity and time show once per alert row (in a
    // column, or folded under the title on a phone).
    let pages = [
        ("dashboard", url("/"), "main h1"),
        ("alerts", url("/alerts?status=any"), "table.alerts"),
        ("alert", alert_page.clone(), ".timeline"),
        ("calendar", url("/calendar"), ".cal"),
        ("calendar-week", url("/calendar?view=week"), ".week"),
        ("teams", url("/teams"), "main table"),
        ("team", team_page, "ul.members"),
        ("rotations", url("/rotations"), "main table"),
        ("rotation", rotation_page.clone(), ".timeline"),
        ("channels", url("/channels"), "main table"),
        ("routes", url("/routes"), "main table"),
        ("route", route_page, "main h1"),
        ("policies", url("/policies"), "main h1"),
        ("silences", url("/silences"), "main h1"),
        ("groups", url("/admin/groups"), "main table"),
        ("users", url("/admin/users"), "main table"),
        ("profile", url("/profile"), "main h1"),
    ];
    for (name, page, ready) in &pages {
        b.goto(page);
        look(&b, name, ready);
    }
    // The picture in docs/src/responding.md.
    b.goto(&alert_page);
    b.screenshot_of("main", "alert-actions");
    b.goto(&url("/alerts?status=acknowledged"));
    for w in [390, 1280] {
        b.size(w, 900);
        let row = b.text("table.alerts tbody tr");
        assert_eq!(row.matches("acknowledged").count(), 1, "at {w}px: {row:?}");
    }
}

/// Looks at the page as a phone (390 px) and a laptop (1280 px) would, light and dark: checks
/// that nothing is wider than the screen and no word breaks inside a table cell, and writes a
/// screenshot of each to target/tmp/ui-screenshots/<name>-<width>-<scheme>.png.
fn look(b: &Browser, name: &str, ready: &str) {
    for (w, h) in [(390, 844), (1280, 900)] {
        b.size(w, h);
        b.refresh();
        for dark in [false, true] {
            b.dark(dark);
            b.find(ready);
            let scheme = if dark { "dark" } else { "light" };
            eprintln!("screenshot: {}", b.screenshot(&format!("{name}-{w}-{scheme}")).display());
            let (header, most) = (b.height("header.top"), if w < 720 { 90 } else { 60 });
            assert!(header == 0 || header <= most, "{name}: the header is {header}px high at {w}px (at most {most})");
            assert!(b.overflow_x() <= 0 && b.too_wide().is_empty(), "{name} is wider than {w}px: {:?}", b.too_wide());
            let broken = b.broken_words("td, th, .badge, time");
            assert!(broken.is_empty(), "{name} at {w}px breaks words: {broken:?}");
        }
    }
    b.dark(false);
    b.size(1280, 900);
}

/// The demo looks like a system in use: after `demo-data`, the dashboard, alerts, an escalated
/// alert, the calendar (month and week), a rotation with its override and the silences, at
/// both widths, light and dark (screenshots `demo-*`).
#[test]
fn the_demo_looks_like_a_system_in_use() {
    let Some(b) = Browser::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let server = crate::process::Proc::start_on_file(&db, &["serve"], &[]);
    let (code, out, err) =
        crate::tools::run(crate::tools::bin().args(["demo-data"]).env("INCIDENTRELAY_DATABASE__PATH", &db));
    assert_eq!(code, 0, "{err}");
    let password = crate::tools::printed(&out, "demo-alice");
    let url = |p: &str| format!("{}{p}", server.base);
    b.goto(&url("/login"));
    b.fill("#username", "demo-alice");
    b.fill("#password", &password);
    b.submit("form button[type=submit]");
    b.wait_text("main h1", "Dashboard");
    assert!(!b.exists(".checklist"), "a set-up system shows no checklist");
    b.wait_text("main", "firing");
    look(&b, "demo-dashboard", "main h1");
    b.goto(&url("/alerts?status=any"));
    b.wait_text("table.alerts", "Replication lag");
    look(&b, "demo-alerts", "table.alerts");
    b.submit("table.alerts tbody tr:last-child td a");
    b.wait_text(".timeline", "Received");
    look(&b, "demo-alert", ".timeline");
    for (name, path, view) in
        [("demo-calendar", "/calendar", ".cal"), ("demo-calendar-week", "/calendar?view=week", ".week")]
    {
        b.goto(&url(path));
        b.wait_text(view, "bob");
        look(&b, name, view);
    }
    b.goto(&url("/rotations"));
    b.submit("main table a");
    b.wait_text("main", "covering a day off");
    look(&b, "demo-rotation", "main h1");
    b.goto(&url("/silences"));
    b.wait_text("main", "db-1 upgrade window");
    look(&b, "demo-silences", "main h1");
}
