//! Where the time comes from: the one place the core and the store read
//! the wall clock. Production uses [`SystemClock`]; a test passes a
//! [`TokioClock`] (which follows tokio's paused time) or any closure, so
//! timing (escalation steps, reminders, unfinished reports, retention, the
//! outbox's retries) runs on a clock the test drives.

use chrono::{DateTime, Utc};

/// Where the time comes from.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock, `Utc::now()`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// UTC time that follows tokio's clock from a given start, so it advances
/// with paused tokio time in tests.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock that reads `base` now and runs with tokio's time from here.
    pub fn starting_at(base: DateTime<Utc>) -> Self {
        TokioClock {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.start;
        self.base + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }
}

impl<F: Fn() -> DateTime<Utc> + Send + Sync + 'static> Clock for F {
    fn now(&self) -> DateTime<Utc> {
        self()
    }
}
