//! Faults injected into a store's log, for tests only: a stall before each
//! log write (a slow disk: what is committed waits in memory, not yet on
//! disk), a log write that fails as on a full disk, and a commit into the
//! embedded database (at a checkpoint, or replaying the log) that fails. Off unless a test
//! turns them on, in process ([`Store::faults`](super::Store::faults)) or,
//! for a server process, with its hidden `--store-faults` flag.

use std::{
    io,
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
    time::Duration,
};

/// The faults of one store. All off by default.
#[derive(Debug)]
pub struct Faults {
    /// Milliseconds to stall before each log write.
    stall_ms: AtomicU64,
    /// Log writes to let through before one fails (negative: none fails).
    writes_before_failure: AtomicI64,
    /// Database commits to let through before one fails (negative: none).
    commits_before_failure: AtomicI64,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults::none()
    }
}

impl Faults {
    /// No faults.
    pub fn none() -> Faults {
        Faults {
            stall_ms: AtomicU64::new(0),
            writes_before_failure: AtomicI64::new(-1),
            commits_before_failure: AtomicI64::new(-1),
        }
    }

    /// Faults from their description: comma-separated `stall-ms=N` (every
    /// log write waits N ms first), `fail-write=N` (the N-th log write
    /// from now fails, as on a full disk; 1 is the next one) and
    /// `fail-commit=N` (the N-th commit into the embedded database from now
    /// fails).
    pub fn parse(text: &str) -> Result<Faults, String> {
        let faults = Faults::none();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| format!("store fault {part:?} is not NAME=N"))?;
            let n: u64 = value
                .parse()
                .map_err(|_| format!("store fault {name}: {value:?} is not a whole number"))?;
            match name {
                "stall-ms" => faults.stall_writes(Duration::from_millis(n)),
                "fail-write" if n >= 1 => faults.fail_write(n),
                "fail-commit" if n >= 1 => faults.fail_commit(n),
                _ => {
                    return Err(format!(
                        "unknown store fault {part:?}: use stall-ms=N, fail-write=N or fail-commit=N (N >= 1)"
                    ))
                }
            }
        }
        Ok(faults)
    }

    /// Every log write from now waits `stall` first (zero: none).
    pub fn stall_writes(&self, stall: Duration) {
        self.stall_ms
            .store(u64::try_from(stall.as_millis()).unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// The `nth` log write from now (1: the next) fails as on a full disk.
    pub fn fail_write(&self, nth: u64) {
        self.writes_before_failure
            .store(i64::try_from(nth.saturating_sub(1)).unwrap_or(i64::MAX), Ordering::SeqCst);
    }

    /// The `nth` commit into the embedded database from now (1: the next)
    /// fails as on a full disk.
    pub fn fail_commit(&self, nth: u64) {
        self.commits_before_failure
            .store(i64::try_from(nth.saturating_sub(1)).unwrap_or(i64::MAX), Ordering::SeqCst);
    }

    /// Called by the log before each write: stalls, or fails the write.
    pub(super) fn before_log_write(&self) -> io::Result<()> {
        let stall = self.stall_ms.load(Ordering::SeqCst);
        if stall > 0 {
            std::thread::sleep(Duration::from_millis(stall));
        }
        countdown(&self.writes_before_failure)
    }

    /// Called before each commit into the embedded database: fails it, or not.
    pub(super) fn before_commit(&self) -> io::Result<()> {
        countdown(&self.commits_before_failure)
    }
}

/// Counts one operation down: the one that finds the count at zero fails.
fn countdown(left: &AtomicI64) -> io::Result<()> {
    let now = left.load(Ordering::SeqCst);
    if now >= 0 {
        left.store(now - 1, Ordering::SeqCst);
        if now == 0 {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device (a fault injected by a test)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_the_nth_write_fails_once() {
        let faults = Faults::parse("stall-ms=0, fail-write=2").unwrap();
        assert!(faults.before_log_write().is_ok());
        let err = faults.before_log_write().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(faults.before_log_write().is_ok(), "once");
        let faults = Faults::parse("fail-commit=1").unwrap();
        assert!(faults.before_log_write().is_ok(), "commits, not log writes");
        assert!(faults.before_commit().is_err());
        assert!(faults.before_commit().is_ok(), "once");
        assert!(Faults::parse("fail-write=0").is_err());
        assert!(Faults::parse("slow").unwrap_err().contains("NAME=N"));
        assert!(Faults::parse("stall-ms=x").unwrap_err().contains("whole number"));
        assert!(Faults::default().before_log_write().is_ok());
    }
}
