//! One daemon per database. Two daemons on one configuration would both schedule every
//! feed and split the passes between them without a word; the second refuses to start.
//! Hand-run `tidings fetch` beside a daemon stays allowed (feed leases keep the two apart).
//!
//! The lock is an advisory `flock` on `<database>.daemon.lock`, which the kernel releases
//! when the process ends however it ends, so a crashed daemon never blocks the next one.
//! The file holds the holder's pid for the message.

use std::io::{Read as _, Seek as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};

/// Why the daemon lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another daemon holds it.
    #[error(
        "another tidings daemon (pid {pid}) is running on {database}; stop it first (hand-run `tidings fetch` beside it is fine)"
    )]
    Held {
        /// The database both would use.
        database: PathBuf,
        /// The other daemon's pid, as it wrote it.
        pid: String,
    },
    /// The lock file could not be opened.
    #[error("cannot open the daemon lock {path}")]
    Open {
        /// The lock file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DaemonLock {
    _file: std::fs::File,
}

impl DaemonLock {
    /// Takes the lock of `database`, or says which daemon holds it.
    pub fn acquire(database: &Path) -> Result<DaemonLock, LockError> {
        let mut name = database.as_os_str().to_owned();
        name.push(".daemon.lock");
        let path = PathBuf::from(name);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let open_error = |source| LockError::Open {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(open_error)?;
        // SAFETY: flock takes a descriptor `file` keeps open for the call and touches no
        // memory of ours.
        let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !taken {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(LockError::Held {
                database: database.to_path_buf(),
                pid: pid.trim().to_string(),
            });
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        Ok(DaemonLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_database_is_refused_and_freed_by_drop() {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = dir.path().join("tidings.db");
        let first = DaemonLock::acquire(&database).expect("first");
        let second = DaemonLock::acquire(&database).expect_err("second");
        assert!(
            second
                .to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{second}"
        );
        drop(first);
        assert!(DaemonLock::acquire(&database).is_ok());
    }
}
