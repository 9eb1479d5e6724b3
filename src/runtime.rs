//! The async runtime and allocator settings every command shares, sized to the machine.

/// A multi-threaded runtime with one worker per core and a blocking pool (parsing,
/// conversion, SQLite, file writes) of two threads per core: enough to keep the cores busy,
/// few enough that memory stays flat however many feeds there are.
pub fn build_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .max_blocking_threads(cores * 2)
        .enable_all()
        .build()
}

/// glibc gives every thread that allocates its own arena (up to 8 per core) and rarely
/// returns their memory; two arenas cost no measurable speed here and keep the resident
/// set small.
pub fn limit_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator settings; called before other threads
        // start allocating.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
