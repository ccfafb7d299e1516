//! Logging: slog with a JSON-lines (or plain text) drain to stdout or a file. The `log` crate
//! (actix, refinery, ureq, lettre) is bridged into the same drain.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Mutex;

use slog::{Drain, Level, Logger, o};

use crate::config::{LogFormat, LogLevel, LoggingConfig};

/// Keeps the asynchronous drain and the global logger alive; drop it last.
pub struct LogGuard {
    _async: Option<slog_async::AsyncGuard>,
    _scope: Option<slog_scope::GlobalLoggerGuard>,
}

fn level(l: LogLevel) -> Level {
    match l {
        LogLevel::Error => Level::Error,
        LogLevel::Warning => Level::Warning,
        LogLevel::Info => Level::Info,
        LogLevel::Debug => Level::Debug,
        LogLevel::Trace => Level::Trace,
    }
}

/// Builds the process logger and installs it as the global one (for the `log` bridge).
///
/// Each record reaches the file or stdout in one write, flushed at its end: the drains write a
/// record in many small pieces, which unbuffered meant a system call each for a file and a
/// newline search through stdout's line buffer each.
pub fn init(cfg: &LoggingConfig) -> Result<(Logger, LogGuard), String> {
    let target: Box<dyn Write + Send> = match &cfg.file {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| format!("logging.file {}: {e}", path.display()))?;
            }
            Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("logging.file {}: {e}", path.display()))?,
            )
        }
        None => Box::new(std::io::stdout()),
    };
    let writer = std::io::BufWriter::with_capacity(16 * 1024, target);
    let drain: Box<dyn Drain<Ok = (), Err = slog::Never> + Send> = match cfg.format {
        LogFormat::Json => Box::new(
            slog_json::Json::new(writer)
                .set_newlines(true)
                .set_flush(true)
                .add_key_value(o!(
                    "ts" => slog::PushFnValue(|_, ser| ser.emit(jiff::Timestamp::now().to_string())),
                    "level" => slog::FnValue(|r| r.level().as_str()),
                    "msg" => slog::PushFnValue(|r, ser| ser.emit(r.msg())),
                ))
                .build()
                .fuse(),
        ),
        LogFormat::Text => {
            let decorator = slog_term::PlainDecorator::new(writer);
            Box::new(slog_term::FullFormat::new(decorator).build().fuse())
        }
    };
    let (async_drain, guard) = slog_async::Async::new(drain).chan_size(4096).build_with_guard();
    let filtered = slog::LevelFilter::new(async_drain, level(cfg.level)).fuse();
    let logger = Logger::root(filtered, o!("app" => "incidentrelay"));
    let scope = slog_scope::set_global_logger(logger.clone());
    // Libraries (actix, refinery, the cron scheduler) are chatty at info: keep their warnings
    // unless debugging.
    let log_level = match cfg.level {
        LogLevel::Error => log::Level::Error,
        LogLevel::Warning | LogLevel::Info => log::Level::Warn,
        LogLevel::Debug => log::Level::Debug,
        LogLevel::Trace => log::Level::Trace,
    };
    // Only the first installation in a process succeeds; later ones (tests) keep the first.
    let _ = slog_stdlog::init_with_level(log_level);
    Ok((logger, LogGuard { _async: Some(guard), _scope: Some(scope) }))
}

/// A logger that collects JSON lines in memory (tests assert on log output).
#[derive(Clone, Default)]
pub struct MemoryLog(std::sync::Arc<Mutex<Vec<u8>>>);

impl MemoryLog {
    pub fn logger(&self) -> Logger {
        let drain = slog_json::Json::new(self.clone())
            .set_newlines(true)
            .add_key_value(o!(
                "level" => slog::FnValue(|r| r.level().as_str()),
                "msg" => slog::PushFnValue(|r, ser| ser.emit(r.msg())),
            ))
            .build();
        Logger::root(Mutex::new(drain).fuse(), o!())
    }
    pub fn lines(&self) -> Vec<String> {
        let buf = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&buf).lines().map(str::to_string).collect()
    }
}

impl Write for MemoryLog {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(data);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
