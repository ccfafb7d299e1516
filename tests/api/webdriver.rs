//! A minimal W3C WebDriver client for headless Chromium through `chromedriver` (Debian
//! `chromium` + `chromium-driver`): enough to drive the UI like a user and take screenshots.

#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{agent, try_send};
use crate::tools::{Guard, free_port, require, wait_for};

pub struct Browser {
    _driver: Guard,
    base: String,
    session: String,
    http: ureq::Agent,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    /// Starts chromedriver and a headless Chromium session, or `None` (skip) when they are
    /// not installed.
    pub fn start() -> Option<Browser> {
        let driver = require("chromedriver")?;
        let chromium = require("chromium")?;
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let guard = Guard(child);
        let base = format!("http://127.0.0.1:{port}");
        let http = agent();
        wait_for(Duration::from_secs(20), || {
            try_send(&http, "GET", &format!("{base}/status"), None, None, &[]).ok().filter(|r| r.status == 200)
        })
        .expect("chromedriver is ready");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "unhandledPromptBehavior": "accept",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"
            ]}
        }}});
        let r = try_send(&http, "POST", &format!("{base}/session"), None, Some(caps.to_string()), &[])
            .expect("new session");
        assert_eq!(r.status, 200, "{}", r.text);
        let session = r.body["value"]["sessionId"].as_str().expect("session id").to_string();
        Some(Browser { _driver: guard, base, session, http })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let body = body.map(|b| b.to_string()).or_else(|| (method == "POST").then(|| "{}".to_string()));
        let r = try_send(&self.http, method, &url, None, body, &[]).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(r.status, 200, "{method} {path}: {}", r.text);
        r.body["value"].clone()
    }

    fn try_call(&self, method: &str, path: &str, body: Value) -> Option<Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let r = try_send(&self.http, method, &url, None, Some(body.to_string()), &[]).ok()?;
        (r.status == 200).then(|| r.body["value"].clone())
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})));
    }

    pub fn url(&self) -> String {
        self.call("GET", "/url", None).as_str().unwrap_or("").to_string()
    }

    pub fn size(&self, width: u32, height: u32) {
        self.call("POST", "/window/rect", Some(json!({"width": width, "height": height})));
    }

    /// The element matching `css`, waiting up to 10 s for it to appear.
    pub fn find(&self, css: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(v) = self.try_call("POST", "/element", json!({"using": "css selector", "value": css})) {
                return v[ELEMENT].as_str().unwrap_or("").to_string();
            }
            if start.elapsed() > Duration::from_secs(10) {
                panic!("no element {css} on {}\n{}", self.url(), self.text("main"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn exists(&self, css: &str) -> bool {
        self.try_call("POST", "/element", json!({"using": "css selector", "value": css})).is_some()
    }

    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.call("POST", &format!("/element/{el}/click"), None);
    }

    /// Clicks something that loads a new page (a submit button, a link) and waits until the new
    /// document replaced the old one, so later steps never see the page before.
    pub fn submit(&self, css: &str) {
        self.call("POST", "/execute/sync", Some(json!({"script": "window.__irOld = true;", "args": []})));
        self.click(css);
        let gone = "return window.__irOld === undefined && document.readyState !== 'loading';";
        wait_for(Duration::from_secs(10), || {
            self.try_call("POST", "/execute/sync", json!({"script": gone, "args": []})).filter(|v| v == &json!(true))
        })
        .unwrap_or_else(|| panic!("clicking {css} did not load a page ({})", self.url()));
    }

    /// Replaces the value of an input or textarea.
    pub fn fill(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.call("POST", &format!("/element/{el}/clear"), None);
        self.call("POST", &format!("/element/{el}/value"), Some(json!({"text": text})));
    }

    /// Sets an input's value as a picker would (date and time inputs take no typed keys).
    pub fn set_value(&self, css: &str, value: &str) {
        self.find(css);
        let script = "const e = document.querySelector(arguments[0]); e.value = arguments[1]; return e.value;";
        let v = self.call("POST", "/execute/sync", Some(json!({"script": script, "args": [css, value]})));
        assert_eq!(v, json!(value), "{css} took {value:?}");
    }

    /// Chooses the option of a select whose label contains `label`.
    pub fn choose(&self, css: &str, label: &str) {
        self.find(css);
        let script = "const s = document.querySelector(arguments[0]);
            const o = [...s.options].find(o => o.text.includes(arguments[1]));
            if (!o) return null; s.value = o.value; return o.value;";
        let v = self.call("POST", "/execute/sync", Some(json!({"script": script, "args": [css, label]})));
        assert!(!v.is_null(), "no option {label:?} in {css}");
    }

    /// Ticks the checkbox in `container` whose label contains `label`.
    pub fn tick(&self, container: &str, label: &str) {
        let script = "const l = [...document.querySelectorAll(arguments[0] + ' label')].find(l => l.textContent.includes(arguments[1]));
            if (!l) return false; const i = l.querySelector('input'); if (!i.checked) i.click(); return true;";
        let v = self.call("POST", "/execute/sync", Some(json!({"script": script, "args": [container, label]})));
        assert_eq!(v, json!(true), "no checkbox {label:?} in {container}");
    }

    /// The rendered text of the first element matching `css` ("" when there is none, e.g.
    /// while a page loads).
    pub fn text(&self, css: &str) -> String {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';";
        self.try_call("POST", "/execute/sync", json!({"script": script, "args": [css]}))
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }

    /// Waits until the text of `css` contains `want`.
    pub fn wait_text(&self, css: &str, want: &str) -> String {
        wait_for(Duration::from_secs(10), || Some(self.text(css)).filter(|t| t.contains(want))).unwrap_or_else(|| {
            panic!(
                "{css} never contained {want:?}; it has {:?} on {}\n{}",
                self.text(css),
                self.url(),
                self.text("main")
            )
        })
    }

    /// Saves a PNG screenshot of the whole page (up to 4000 px down); returns its path.
    pub fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let size = self
            .eval("const d = document.documentElement; return [window.innerWidth, Math.min(d.scrollHeight, 4000)];");
        let (w, h) = (size[0].as_i64().unwrap_or(1280), size[1].as_i64().unwrap_or(900));
        self.capture(json!({"x": 0, "y": 0, "width": w, "height": h, "scale": 1}), name)
    }

    /// Saves a PNG of the first element matching `css` (with a margin), for the docs:
    /// target/tmp/ui-screenshots/docs-<name>.png.
    pub fn screenshot_of(&self, css: &str, name: &str) -> std::path::PathBuf {
        self.find(css);
        let script = "const r = document.querySelector(arguments[0]).getBoundingClientRect(); \
             return [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height];";
        let r = self.call("POST", "/execute/sync", Some(json!({"script": script, "args": [css]})));
        let f = |i: usize| r[i].as_f64().unwrap_or(0.0);
        let m = 12.0;
        let clip = json!({"x": (f(0) - m).max(0.0), "y": (f(1) - m).max(0.0), "width": f(2) + 2.0 * m, "height": f(3) + 2.0 * m, "scale": 1});
        self.capture(clip, &format!("docs-{name}"))
    }

    /// Writes the page's `clip` to target/tmp/ui-screenshots/<file>.png.
    fn capture(&self, clip: Value, file: &str) -> std::path::PathBuf {
        use base64::Engine;
        let shot = json!({"cmd": "Page.captureScreenshot", "params": {"format": "png", "captureBeyondViewport": true, "clip": clip}});
        let png = self.call("POST", "/goog/cdp/execute", Some(shot))["data"].clone();
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap_or("")).expect("png");
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{file}.png"));
        std::fs::write(&path, bytes).expect("write screenshot");
        path
    }

    /// Whether every visible element matching `css` renders on one line (a badge or time that
    /// wraps mid-word is taller than two of its lines).
    pub fn one_line(&self, css: &str) -> bool {
        let script = "return [...document.querySelectorAll(arguments[0])].filter(e => e.offsetParent) \
            .every(e => e.offsetHeight < 2 * parseFloat(getComputedStyle(e).lineHeight || 0) \
                     || e.offsetHeight < 2.2 * parseFloat(getComputedStyle(e).fontSize));";
        self.call("POST", "/execute/sync", Some(json!({"script": script, "args": [css]}))) == json!(true)
    }

    /// Runs a script in the page and returns what it returns.
    pub fn eval(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", Some(json!({"script": script, "args": []})))
    }

    /// Loads the page again (after a resize, as a phone would first show it).
    pub fn refresh(&self) {
        self.call("POST", "/refresh", None);
    }

    /// The rendered height of the first element matching `css`, in CSS pixels (0 if none).
    pub fn height(&self, css: &str) -> i64 {
        let script = "const e = document.querySelector(arguments[0]); return e ? Math.round(e.getBoundingClientRect().height) : 0;";
        self.call("POST", "/execute/sync", Some(json!({"script": script, "args": [css]}))).as_i64().unwrap_or(0)
    }

    /// Opens a `<details>` (a "New …" form) whether or not it is open already.
    pub fn open(&self, css: &str) {
        self.find(css);
        let script = "document.querySelector(arguments[0]).open = true;";
        self.call("POST", "/execute/sync", Some(json!({"script": script, "args": [css]})));
    }

    /// Renders pages as with the system's dark (or light) colour scheme
    /// (`prefers-color-scheme`, through chromedriver's DevTools passthrough).
    pub fn dark(&self, dark: bool) {
        let scheme = if dark { "dark" } else { "light" };
        let cmd = json!({"cmd": "Emulation.setEmulatedMedia", "params": {"features": [{"name": "prefers-color-scheme", "value": scheme}]}});
        self.call("POST", "/goog/cdp/execute", Some(cmd));
    }

    /// The words inside visible elements matching `css` that are broken across lines (a break
    /// after a hyphen is a break between words).
    pub fn broken_words(&self, css: &str) -> Vec<String> {
        let script = "const bad = [];
            for (const el of document.querySelectorAll(arguments[0])) {
              if (!el.offsetParent) continue;
              const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
              for (let n = walk.nextNode(); n; n = walk.nextNode()) {
                for (const m of n.data.matchAll(/[^\\s-]+/g)) {
                  const r = document.createRange(); r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
                  const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
                  if (tops.size > 1) bad.push(m[0]);
                }
              }
            }
            return bad;";
        let v = self.call("POST", "/execute/sync", Some(json!({"script": script, "args": [css]})));
        v.as_array().into_iter().flatten().filter_map(|w| w.as_str().map(String::from)).collect()
    }

    /// Elements wider than the viewport (tag, class and width), which make a page scroll sideways
    /// or cut it off.
    pub fn too_wide(&self) -> Vec<String> {
        let script = "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')] \
            .filter(e => e.offsetParent && e.getBoundingClientRect().right > w + 1 && !e.closest('.table-wrap, pre')) \
            .map(e => e.tagName.toLowerCase() + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));";
        let v = self.call("POST", "/execute/sync", Some(json!({"script": script, "args": []})));
        v.as_array().into_iter().flatten().filter_map(|w| w.as_str().map(String::from)).collect()
    }

    /// The page's horizontal overflow in CSS pixels (0 when nothing sticks out).
    pub fn overflow_x(&self) -> i64 {
        let script = "return document.documentElement.scrollWidth - document.documentElement.clientWidth;";
        self.call("POST", "/execute/sync", Some(json!({"script": script, "args": []}))).as_i64().unwrap_or(0)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = try_send(&self.http, "DELETE", &url, None, None, &[]);
    }
}
