//! The `incidentrelay` binary: everything lives in the library; this only hands over to the CLI.

fn main() -> std::process::ExitCode {
    return_large_blocks();
    configure_sqlite();
    incidentrelay::cli::main()
}

/// The SQLite writer runs each queued write in a savepoint of a shared transaction
/// (`store::sqlite`), and SQLite keeps each savepoint's journal (the original of every page
/// the write changes) in memory only up to 64 KiB, then in a temporary file. A new alert
/// changes more than that, so most intake jobs wrote a journal file that was never read: 14,600
/// new alerts/s against 17,200 with the journal kept in memory (`intake-wrk.sh`, pairs of runs
/// side by side). The journal lives until its write is released, so its size is that of the
/// largest single write (retention deletes in batches for this reason).
///
/// SQLite also counts every allocation it makes under one process-wide mutex, for statistics
/// nothing here reads: 3.5 % of the writer thread's time while taking new alerts (`perf`).
/// Counting is off, as SQLite's list of recommended options suggests.
fn configure_sqlite() {
    // SAFETY: sqlite3_config must run before SQLite is initialised and while no other thread
    // uses it: this is the first thing the process does. On failure the default stays.
    unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_STMTJRNL_SPILL, -1);
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0);
    }
}

/// Every block of 128 KiB or more is its own mapping, given back to the system when freed.
/// Without this glibc raises that threshold to the largest block it has seen freed, so each
/// password hash (argon2, 19 MiB) stays in the process afterwards: 46–48 MiB idle after a first
/// start and a login, 28 MiB with it (`cargo bench --bench intake`, idle RSS), at the same
/// throughput.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_blocks() {
    // SAFETY: mallopt only sets an allocator parameter; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_blocks() {}
