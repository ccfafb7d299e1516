//! The `incidentrelay` binary: everything lives in the library; this only hands over to the CLI.

/// mimalloc rather than glibc's malloc for every Rust allocation. Intake allocates and frees
/// many small blocks per request on several threads (the HTTP workers, the writer, the log
/// thread); glibc spent 10–13 % of the server's time in malloc and free while taking
/// duplicates, consolidating its fast bins whenever a larger block was asked for.
/// `intake-wrk.sh`, medians of 3 alternating runs with the settings of [`return_freed_memory`]:
/// 18,936 → 21,270 duplicates/s and 10,307 → 11,379 new alerts/s. SQLite allocates through its
/// own calls to the C library and keeps glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    return_freed_memory();
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

/// mimalloc's `purge_delay` option, by its index in `mi_option_t` (the Rust bindings name only
/// some options); a test checks the index against the option's default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the system at once, so an idle server is small (< 30 MiB is the
/// target: `cargo bench --bench intake`, idle RSS, after a start and a login):
///
/// - mimalloc purges freed pages only after a delay, and only when the thread that freed them
///   allocates again. An idle server never does, so each password hash (argon2, 19 MiB) stayed
///   in the process: 48 MiB idle after a login, 25 MiB with the delay at 0. The price is small:
///   in 6 alternating pairs of `intake-wrk.sh` runs, new alerts/s were the same and the median
///   of duplicates/s about 5 % lower, within the machine's noise.
/// - No transparent huge pages: on a kernel that allows them (`madvise` or `always`), mimalloc's
///   arenas were backed by 2 MiB pages, 61 MiB idle and 85 MiB peak under load instead of 25
///   and 46. mimalloc is built not to ask for them (`no_thp` in `Cargo.toml`), and they are off
///   for the process from here on (a kernel set to `always` would give them unasked).
/// - glibc, which SQLite allocates from, gives every block of 128 KiB or more its own mapping,
///   returned when freed; by default glibc raises that threshold to the largest block it has
///   seen freed and keeps such blocks.
fn return_freed_memory() {
    // SAFETY: mi_option_set only sets an option that mimalloc reads when it next purges.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    kernel_and_glibc_memory();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn kernel_and_glibc_memory() {
    // SAFETY: prctl and mallopt only set a process setting and an allocator parameter; this runs
    // before any other thread exists. On failure the defaults stay.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn kernel_and_glibc_memory() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_index_names_mimallocs_purge_delay() {
        // mimalloc v3's default purge delay is 1000 ms, and no other option of it defaults to
        // 1000; `MIMALLOC_PURGE_DELAY` in the environment would set it instead.
        let expected = std::env::var("MIMALLOC_PURGE_DELAY").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
        // SAFETY: mi_option_get only reads an option.
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }, expected);
    }
}
