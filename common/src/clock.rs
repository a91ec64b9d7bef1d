//! The one clock a server's decisions read: the system time plus an offset.
//! A server takes its offset from `--clock-offset-ms`; the in-process
//! network gives all its servers one shared clock that a test moves with
//! [`Clock::advance`], so rules that depend on the time of day (the wallet's
//! quiet hours and 06:00 returns) are tested without waiting. See
//! docs/WALLET.md.

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

use crate::period::now_millis;

/// The system time moved by an offset; clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system time moved by `offset_ms` milliseconds.
    pub fn with_offset(offset_ms: i64) -> Clock {
        Clock {
            offset_ms: Arc::new(AtomicI64::new(offset_ms)),
        }
    }

    /// Milliseconds since the Unix epoch, as this clock tells them.
    pub fn now_millis(&self) -> i64 {
        now_millis().saturating_add(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the clock (and every clone of it) forward by `millis`.
    pub fn advance(&self, millis: i64) {
        self.offset_ms.fetch_add(millis, Ordering::SeqCst);
    }

    /// Moves the clock (and every clone of it) so that it reads `millis` now.
    pub fn set(&self, millis: i64) {
        self.offset_ms.store(millis - now_millis(), Ordering::SeqCst);
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
}

/// The clock flag of a server.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClockFlags {
    /// Moves this server's clock by this many milliseconds (negative: back).
    /// For tests and drills only: the wallet's quiet hours and returns, the
    /// month stamped on transactions, follow this clock.
    #[arg(
        long = "clock-offset-ms",
        env = "GONGJI_CLOCK_OFFSET_MS",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub offset_ms: i64,

    /// A clock shared with other servers of the same process (the
    /// in-process network); wins over the offset.
    #[arg(skip)]
    pub shared: Option<Clock>,
}

impl ClockFlags {
    /// The clock the server reads.
    pub fn clock(&self) -> Clock {
        self.shared.clone().unwrap_or_else(|| Clock::with_offset(self.offset_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_moved_forward_moves_every_clone() {
        let clock = Clock::default();
        let clone = clock.clone();
        let before = clone.now_millis();
        clock.advance(3_600_000);
        assert!(clone.now_millis() >= before + 3_600_000);
        clock.set(1_000);
        assert!((clone.now_millis() - 1_000).abs() < 60_000);
    }

    #[test]
    fn the_flag_gives_an_offset_clock_unless_a_shared_one_is_set() {
        let flags = ClockFlags {
            offset_ms: 86_400_000,
            shared: None,
        };
        assert_eq!(flags.clock().offset_ms(), 86_400_000);
        let shared = Clock::with_offset(5);
        let flags = ClockFlags {
            offset_ms: 86_400_000,
            shared: Some(shared),
        };
        assert_eq!(flags.clock().offset_ms(), 5);
    }
}
