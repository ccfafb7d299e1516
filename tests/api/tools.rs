//! Helpers for tests that drive other programs: finding them (or skipping), free loopback
//! ports, waiting on them, and stopping them when a test ends.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of an external program, or `None` (and a message) to skip.
pub fn require(program: &str) -> Option<String> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.is_file()).map(|p| p.display().to_string())
    });
    if found.is_none() {
        missing(program);
    }
    found
}

/// Skips a test whose external component is not installed, or fails it in CI
/// (IRTEST_REQUIRE_EXTERNAL=1), where `.ci/run` installs everything.
pub fn missing(what: &str) {
    if std::env::var("IRTEST_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
        panic!("{what} is required (IRTEST_REQUIRE_EXTERNAL=1) but not installed");
    }
    eprintln!("SKIPPED: {what} is not installed (.ci/run installs it with apt-get)");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Kills the child when the test ends, however it ends.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes (waiting on another program).
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(v) = check() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// A Python interpreter that can import `module` (`$IRTEST_PYTHON` first, then python3, then
/// /usr/bin/python3: Debian's python3-aiosmtpd lives there even when another python3 comes
/// first on PATH), or `None` to skip.
pub fn python_with(module: &str) -> Option<String> {
    // IRTEST_PYTHON: the interpreter of the virtualenv `.ci/run` installs client libraries into.
    let venv = std::env::var("IRTEST_PYTHON").ok();
    let candidates = venv.iter().map(String::as_str).chain(["python3", "/usr/bin/python3"]);
    let found = candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        missing(&format!("python3 module {module}"));
    }
    found.map(str::to_string)
}

/// The `incidentrelay` binary with a clean environment (PATH only).
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_incidentrelay"));
    c.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

/// Runs a command: (exit code, stdout, stderr).
pub fn run(c: &mut Command) -> (i32, String, String) {
    let out = c.output().expect("run the binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The last word of the output line that starts with `name` (what `demo-data` prints for it: a
/// route's intake token, a user's password).
pub fn printed(out: &str, name: &str) -> String {
    out.lines()
        .find(|l| l.trim_start().starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("{name}'s value is printed: {out}"))
        .to_string()
}
