//! The `incidentrelay` binary: everything lives in the library; this only hands over to the CLI.

fn main() -> std::process::ExitCode {
    return_large_blocks();
    incidentrelay::cli::main()
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
