//! The process and its machine: the async runtime and allocator settings every command
//! shares (sized to the machine), and what tidings needs to know of other processes on
//! this host (leases and temporary files name the process that made them).

use std::path::Path;

/// The cores this process may use (two when the system does not say).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// A multi-threaded runtime with one worker per core and a blocking pool (parsing,
/// conversion, SQLite, file writes) of two threads per core: enough to keep the cores busy,
/// few enough that memory stays flat however many feeds there are.
pub fn build_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = cores();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .max_blocking_threads(cores * 2)
        .enable_all()
        .build()
}

/// glibc's allocator tuned for what tidings allocates, before other threads start.
///
/// Arenas: glibc gives every thread that allocates its own arena (up to 8 per core) and
/// rarely returns their memory. One arena per blocking thread (two per core, see
/// [`build_runtime`]): with two arenas for four threads converting articles, a cold
/// 200-feed fetch spent an eighth of its CPU in malloc and its locks (median wall 2.73 s against
/// 2.56 s with four, for 1 MiB more resident memory).
///
/// Fast bins up to 160 bytes (glibc's largest; 128 by default): the nodes of the HTML
/// tree every entry is converted through are 136 bytes with their counts (144 with
/// malloc's header), just past the default, so each node freed beyond the seven a
/// thread caches went through the unsorted bin and was coalesced, then split again for
/// the next entry's tree. Converting the benchmark's 10,000 articles took 208 ms instead
/// of 223 ms (best of 7, three alternating pairs), peak memory of a cold fetch unchanged.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let arenas = libc::c_int::try_from(cores() * 2).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes allocator settings; called before other threads
        // start allocating.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
            libc::mallopt(libc::M_MXFAST, 160);
        }
    }
}

/// The host name, as leases and temporary files name this process (`pid@host`). Asked
/// of the kernel (`gethostname`) rather than read from /proc, which systemd's
/// `ProcSubset=pid` hides: the service and a hand-run fetch must name the host alike.
pub fn this_host() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `buffer.len()` bytes into memory we own.
    let result =
        unsafe { libc::gethostname(buffer.as_mut_ptr().cast::<libc::c_char>(), buffer.len()) };
    if result != 0 {
        return "localhost".to_string();
    }
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).trim().to_string()
}

/// Whether process `pid` of this host still runs. Without `/proc` nothing can be known,
/// so every process counts as alive (a lease then waits for its expiry instead).
pub fn process_is_alive(pid: u32) -> bool {
    pid == std::process::id()
        || Path::new("/proc").join(pid.to_string()).exists()
        || !Path::new("/proc/self").exists()
}
