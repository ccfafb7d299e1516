//! Logging: slog with a JSON-lines (or plain text) drain to stdout or a file. The `log` crate
//! (actix, refinery, ureq, lettre) is bridged into the same drain.
//!
//! Records are formatted and written by a thread of their own, so a request never waits on the
//! disk, or on a slow reader of stdout (journald, a container runtime's pipe). The queue holds
//! [`QUEUE`] records; when it is full, records are dropped and counted rather than making a
//! request wait, and the count is logged as soon as there is room.
//!
//! Woken by a record, the thread lets others queue up behind it for [`GATHER`], formats what is
//! queued into one buffer, and hands the buffer to the file or stdout once the queue is empty.
//! Under load a burst of lines costs one wake-up and one system call, not one of each per line:
//! at intake's rate that was a system call for every alert, as many as the socket's own.

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use slog::{Drain, Level, Logger, Never, OwnedKVList, Record, o};
use slog_async::AsyncRecord;

use crate::config::{LogFormat, LogLevel, LoggingConfig};

/// Records waiting for the log thread, at most.
const QUEUE: usize = 4096;
/// What the log thread gathers before it writes, at most.
const BUFFER: usize = 64 * 1024;
/// How long the log thread lets records queue up after the first one wakes it. Waking a
/// sleeping thread costs its waker a system call and both of them a context switch. Measured
/// while taking duplicates (server CPU per request, `/proc/<pid>/task/*/stat`): 46–48 µs with
/// slog-async, which wrote each line at once; 51.6 µs with this thread woken for every record
/// (0.45 wake-ups per request); 42–44 µs with the wait, where the log thread sleeps 0.01 times
/// per request. A line reaches the file this much later.
const GATHER: Duration = Duration::from_millis(10);

/// Keeps the log thread and the global logger alive. Dropping it writes what is queued and
/// ends the thread: drop it last.
pub struct LogGuard {
    _thread: LogThread,
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
        None => Box::new(io::stdout()),
    };
    let (queue, thread) = LogThread::start(cfg.format, target, QUEUE).map_err(|e| format!("the log thread: {e}"))?;
    let filtered = slog::LevelFilter::new(queue, level(cfg.level)).fuse();
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
    Ok((logger, LogGuard { _thread: thread, _scope: Some(scope) }))
}

/// What the log thread receives.
enum Msg {
    /// A record and when it was logged.
    Record(jiff::Timestamp, AsyncRecord),
    /// Write what is queued and end.
    Finish,
}

/// The callers' side of the log thread: queues a record, or counts it as dropped.
struct Queue {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl Drain for Queue {
    type Ok = ();
    type Err = Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), Never> {
        match self.tx.try_send(Msg::Record(jiff::Timestamp::now(), AsyncRecord::from(record, values))) {
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The thread has ended (the process is stopping): nothing left to write with.
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
        }
        Ok(())
    }
}

/// The log thread, ended (after writing what is queued) when dropped.
struct LogThread {
    tx: SyncSender<Msg>,
    join: Option<JoinHandle<()>>,
}

impl LogThread {
    fn start(format: LogFormat, target: Box<dyn Write + Send>, queue: usize) -> io::Result<(Queue, LogThread)> {
        let (tx, rx) = std::sync::mpsc::sync_channel(queue);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        let join = std::thread::Builder::new()
            .name("log".into())
            .spawn(move || write_queued(&rx, format, target, &counted))?;
        Ok((Queue { tx: tx.clone(), dropped }, LogThread { tx, join: Some(join) }))
    }
}

impl Drop for LogThread {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Finish);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

/// The log thread's loop: everything queued is formatted into the buffer, which is written out
/// when the queue is empty (or when it fills up).
fn write_queued(rx: &Receiver<Msg>, format: LogFormat, mut target: Box<dyn Write + Send>, dropped: &AtomicU64) {
    let buffer = Rc::new(RefCell::new(Vec::with_capacity(BUFFER)));
    let drain = formatter(format, Buffer(buffer.clone()));
    // A record that cannot be written (a full disk, a closed stdout) is lost; the ones after it
    // are tried again.
    let mut write_out = || {
        let mut lines = buffer.borrow_mut();
        let _ = target.write_all(&lines).and_then(|()| target.flush());
        lines.clear();
    };
    let report_dropped = |drain: &dyn Drain<Ok = (), Err = io::Error>| {
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            LOGGED_AT.set(None);
            let why = format_args!("log records dropped: the log queue was full");
            let _ = drain.log(&slog::record!(Level::Error, "", &why, slog::b!("count" => lost)), &o!().into());
        }
    };
    while let Ok(first) = rx.recv() {
        // Let the burst this record belongs to queue up behind it (see [`GATHER`]).
        std::thread::sleep(GATHER);
        let mut next = Some(first);
        let mut finished = false;
        while let Some(msg) = next.take() {
            match msg {
                Msg::Record(at, r) => {
                    LOGGED_AT.set(Some(at));
                    let _ = r.log_to(&drain);
                    if buffer.borrow().len() >= BUFFER {
                        write_out();
                    }
                    next = rx.try_recv().ok();
                }
                Msg::Finish => finished = true,
            }
        }
        report_dropped(&*drain);
        write_out();
        if finished {
            return;
        }
    }
}

/// The drain that formats records as the configuration asks, into the log thread's buffer.
fn formatter(format: LogFormat, out: Buffer) -> Box<dyn Drain<Ok = (), Err = io::Error>> {
    match format {
        LogFormat::Json => Box::new(
            slog_json::Json::new(out)
                .set_newlines(true)
                .add_key_value(o!(
                    "ts" => slog::PushFnValue(|_, ser| ser.emit(logged_at().to_string())),
                    "level" => slog::FnValue(|r| r.level().as_str()),
                    "msg" => slog::PushFnValue(|r, ser| ser.emit(r.msg())),
                ))
                .build(),
        ),
        LogFormat::Text => Box::new(
            slog_term::FullFormat::new(slog_term::PlainDecorator::new(out))
                .use_custom_timestamp(|out: &mut dyn Write| {
                    let local = logged_at().to_zoned(jiff::tz::TimeZone::system());
                    write!(out, "{}", local.strftime("%b %d %H:%M:%S%.3f"))
                })
                .build(),
        ),
    }
}

thread_local! {
    /// When the record the log thread is formatting was logged: lines carry that time, not the
    /// time they were formatted, up to [`GATHER`] later.
    static LOGGED_AT: std::cell::Cell<Option<jiff::Timestamp>> = const { std::cell::Cell::new(None) };
}

fn logged_at() -> jiff::Timestamp {
    LOGGED_AT.get().unwrap_or_else(jiff::Timestamp::now)
}

/// The log thread's buffer, shared by the drain that fills it and the loop that writes it out.
struct Buffer(Rc<RefCell<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(data.len())
    }
    // The drains write a record in many small pieces: one borrow each, not a loop of `write`s.
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;
    use std::time::{Duration, Instant};

    use slog::{Logger, error, info, o};

    use super::*;

    /// The lines `log` holds, once there are `n` of them (the log thread writes on its own time).
    fn wait_for_lines(log: &MemoryLog, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = log.lines();
            if lines.len() >= n || Instant::now() > deadline {
                return lines;
            }
            std::thread::yield_now();
        }
    }

    /// A logger whose records go through a log thread of `queue` records to `target`.
    fn logger(format: LogFormat, target: impl Write + Send + 'static, queue: usize) -> (Logger, LogThread) {
        let (records, thread) = LogThread::start(format, Box::new(target), queue).unwrap();
        (Logger::root(records.fuse(), o!()), thread)
    }

    fn field(line: &str, key: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        v[key].clone()
    }

    #[test]
    fn records_are_written_in_order_as_soon_as_the_queue_is_empty_without_waiting_for_the_buffer_to_fill() {
        let out = MemoryLog::default();
        let (log, _thread) = logger(LogFormat::Json, out.clone(), 64);
        for i in 0..10 {
            info!(log, "request"; "n" => i);
        }
        // The log thread formats nothing until GATHER after the first record reaches it.
        let logged_by = jiff::Timestamp::now();
        let lines = wait_for_lines(&out, 10);
        let seen: Vec<_> = lines.iter().map(|l| field(l, "n")).collect();
        assert_eq!(seen, (0..10).map(serde_json::Value::from).collect::<Vec<_>>());
        assert_eq!(field(&lines[0], "msg"), "request");
        assert_eq!(field(&lines[0], "level"), "INFO");
        for line in &lines {
            let ts: jiff::Timestamp = field(line, "ts").as_str().unwrap_or_default().parse().unwrap();
            assert!(ts <= logged_by, "a line carries the time it was logged, not formatted: {line}");
        }
    }

    #[test]
    fn stopping_the_log_thread_writes_what_is_still_queued() {
        let out = MemoryLog::default();
        let (log, thread) = logger(LogFormat::Text, out.clone(), 64);
        for i in 0..50 {
            error!(log, "line {i}");
        }
        drop(thread);
        let lines = out.lines();
        assert_eq!(lines.len(), 50, "{lines:?}");
        assert!(lines[49].contains("line 49") && lines[49].contains("ERRO"), "{}", lines[49]);
        // The local time the line was logged, to the millisecond: "Dec 02 05:42:38.123 ERRO …".
        let stamp: Vec<_> = lines[49].split(' ').take(3).collect();
        assert_eq!(stamp[0].len(), 3, "{}", lines[49]);
        assert_eq!(stamp[1].len(), 2, "{}", lines[49]);
        assert!(stamp[2].len() == 12 && stamp[2].as_bytes()[8] == b'.', "{}", lines[49]);
    }

    /// A target whose first write runs `first` (which may fail it, or hold it up); every write
    /// after it goes to `out`.
    struct FirstWrite {
        first: Option<Box<dyn FnOnce() -> io::Result<()> + Send>>,
        out: MemoryLog,
    }

    impl FirstWrite {
        fn new(out: &MemoryLog, first: impl FnOnce() -> io::Result<()> + Send + 'static) -> FirstWrite {
            FirstWrite { first: Some(Box::new(first)), out: out.clone() }
        }
    }

    impl Write for FirstWrite {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if let Some(first) = self.first.take() {
                first()?;
            }
            self.out.write(data)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_that_fails_loses_its_own_lines_and_the_log_thread_goes_on_with_the_next() {
        let out = MemoryLog::default();
        let (failed_tx, failed) = sync_channel(1);
        // A full disk: the first write fails, and says so.
        let target = FirstWrite::new(&out, move || {
            let _ = failed_tx.send(());
            Err(io::Error::new(io::ErrorKind::StorageFull, "no space left on device"))
        });
        let (log, thread) = logger(LogFormat::Json, target, 64);
        info!(log, "lost with the failed write");
        failed.recv().unwrap();
        info!(log, "written after it");
        drop(thread);
        let lines = out.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(field(&lines[0], "msg"), "written after it");
    }

    #[test]
    fn a_full_queue_drops_records_instead_of_making_the_caller_wait_and_the_count_is_logged() {
        let out = MemoryLog::default();
        let (entered_tx, entered) = sync_channel(1);
        let (open, open_rx) = sync_channel(1);
        // The first write waits until the test lets it go on.
        let gate = FirstWrite::new(&out, move || {
            let _ = entered_tx.send(());
            let _ = open_rx.recv();
            Ok(())
        });
        let (log, thread) = logger(LogFormat::Json, gate, 4);
        info!(log, "first");
        entered.recv().unwrap(); // the log thread is stuck writing "first"
        for i in 0..7 {
            info!(log, "queued or dropped"; "n" => i);
        }
        open.send(()).unwrap();
        drop(thread);
        let lines = out.lines();
        let kept: Vec<_> =
            lines.iter().filter(|l| field(l, "msg") == "queued or dropped").map(|l| field(l, "n")).collect();
        assert_eq!(kept, (0..4).map(serde_json::Value::from).collect::<Vec<_>>(), "{lines:?}");
        let report = lines.last().unwrap();
        assert_eq!(field(report, "msg"), "log records dropped: the log queue was full");
        assert_eq!(field(report, "level"), "ERROR");
        assert_eq!(field(report, "count"), 3);
        assert_eq!(lines.len(), 6, "{lines:?}");
    }
}
