//! The one task that owns every escalation deadline.
//!
//! A [`Timer`] is a cheap handle (clone it freely) onto one ordered set of
//! `(deadline, reference, generation)` entries, at most one per concern.
//! [`Timer::run`] is the task: it sleeps until the earliest deadline, wakes
//! early when an earlier one is scheduled, and calls `fire(reference,
//! generation)` for every entry that is due, overdue ones (after a restart)
//! at once. An entry is taken out of the set before it is fired, so it is
//! never fired twice; scheduling a newer generation for a concern replaces
//! its older entry. There is no polling and no task per deadline.
//!
//! Deadlines are UTC instants. The loop compares them with a [`Clock`]
//! (the system clock in production, [`TokioClock`] under paused tokio time
//! in tests) and sleeps on tokio's monotonic timer for the difference. It
//! never sleeps longer than `max_sleep` (a minute by default) before looking
//! at the clock again, so a wall-clock jump or a suspended machine cannot
//! hold a deadline back for long; nothing fires before the clock says so.
//!
//! The fire handler is awaited in turn: keep it short (load, decide, store,
//! send) or spawn from it. It should check the generation against the
//! stored escalation ([`super::policy::on_timer`]); the deadlines themselves
//! are kept in the store with each escalation, and [`Timer::load`] rebuilds
//! the set from them on start.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::concern::Reference;

pub use crate::clock::{Clock, SystemClock, TokioClock};

/// One pending deadline.
pub type Entry = (DateTime<Utc>, Reference, u64);

#[derive(Default)]
struct Entries {
    set: BTreeSet<Entry>,
    /// Each concern's entry in `set`, so a newer generation replaces it.
    by_ref: HashMap<Reference, (DateTime<Utc>, u64)>,
    stopped: bool,
}

struct Inner {
    entries: Mutex<Entries>,
    notify: Notify,
    clock: Box<dyn Clock>,
    max_sleep: Duration,
}

/// A handle onto the deadlines; see the [module documentation](self).
#[derive(Clone)]
pub struct Timer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer")
            .field("pending", &self.lock().set.len())
            .field("max_sleep", &self.inner.max_sleep)
            .finish_non_exhaustive()
    }
}

impl Timer {
    /// The longest the loop sleeps before looking at the clock again.
    pub const DEFAULT_MAX_SLEEP: Duration = Duration::from_secs(60);

    pub fn new(clock: impl Clock) -> Self {
        Self::with_max_sleep(clock, Self::DEFAULT_MAX_SLEEP)
    }

    /// A timer that sleeps at most `max_sleep` (at most a year) before
    /// looking at the clock again.
    pub fn with_max_sleep(clock: impl Clock, max_sleep: Duration) -> Self {
        Timer {
            inner: Arc::new(Inner {
                entries: Mutex::new(Entries::default()),
                notify: Notify::new(),
                clock: Box::new(clock),
                // Between a millisecond and a year, so the wake-up instant cannot overflow.
                max_sleep: max_sleep.clamp(Duration::from_millis(1), Duration::from_secs(365 * 24 * 3600)),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.inner.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The time by this timer's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Sets `reference`'s deadline to `at` for `generation`, replacing the
    /// entry it had. An entry older than the one held (a lower generation)
    /// is ignored. Returns whether the entry is now held.
    pub fn schedule(&self, reference: Reference, at: DateTime<Utc>, generation: u64) -> bool {
        let mut e = self.lock();
        if let Some((old_at, old_gen)) = e.by_ref.get(&reference).copied() {
            if old_gen > generation {
                return false;
            }
            if (old_at, old_gen) == (at, generation) {
                return true;
            }
            e.set.remove(&(old_at, reference.clone(), old_gen));
        }
        let was_first = e.set.first().map(|f| f.0);
        e.set.insert((at, reference.clone(), generation));
        e.by_ref.insert(reference, (at, generation));
        drop(e);
        if was_first.is_none_or(|first| at < first) {
            self.inner.notify.notify_one();
        }
        true
    }

    /// Forgets `reference`'s deadline, if it has one.
    pub fn cancel(&self, reference: &Reference) {
        let mut e = self.lock();
        if let Some((at, generation)) = e.by_ref.remove(reference) {
            e.set.remove(&(at, reference.clone(), generation));
        }
    }

    /// Schedules every entry, as kept in the store (see
    /// [`super::Escalation::timer_entry`]). Overdue ones fire at once.
    pub fn load(&self, entries: impl IntoIterator<Item = (Reference, DateTime<Utc>, u64)>) {
        for (reference, at, generation) in entries {
            self.schedule(reference, at, generation);
        }
    }

    /// Every pending entry, earliest first.
    pub fn pending(&self) -> Vec<Entry> {
        self.lock().set.iter().cloned().collect()
    }

    /// The earliest pending deadline.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.lock().set.first().map(|e| e.0)
    }

    /// Makes [`Timer::run`] return, after any fire in progress.
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.inner.notify.notify_one();
    }

    /// Takes out every entry due by `now`, earliest first.
    fn take_due(&self, now: DateTime<Utc>) -> Vec<Entry> {
        let mut e = self.lock();
        let mut due = Vec::new();
        while e.set.first().is_some_and(|f| f.0 <= now) {
            let Some(entry) = e.set.pop_first() else { break };
            if e.by_ref.get(&entry.1) == Some(&(entry.0, entry.2)) {
                e.by_ref.remove(&entry.1);
            }
            due.push(entry);
        }
        due
    }

    /// The task: fires each entry when due, until [`Timer::stop`]. Run one
    /// per timer.
    pub async fn run<F, Fut>(self, mut fire: F)
    where
        F: FnMut(Reference, u64) -> Fut,
        Fut: Future<Output = ()>,
    {
        loop {
            if self.lock().stopped {
                return;
            }
            let now = self.now();
            let due = self.take_due(now);
            if !due.is_empty() {
                for (_, reference, generation) in due {
                    fire(reference, generation).await;
                }
                continue;
            }
            match self.next_deadline() {
                None => self.inner.notify.notified().await,
                Some(at) => {
                    let wait = (at - now)
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                        .min(self.inner.max_sleep);
                    tokio::select! {
                        () = tokio::time::sleep_until(tokio::time::Instant::now() + wait) => {}
                        () = self.inner.notify.notified() => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    #[test]
    fn a_newer_generation_replaces_and_an_older_is_ignored() {
        let timer = Timer::new(t0);
        let r = Reference::new(1);
        assert!(timer.schedule(r.clone(), t0(), 2));
        assert!(!timer.schedule(r.clone(), t0(), 1));
        assert!(timer.schedule(r.clone(), t0() + chrono::Duration::minutes(5), 3));
        assert!(timer.schedule(r.clone(), t0() + chrono::Duration::minutes(5), 3));
        assert_eq!(
            timer.pending(),
            vec![(t0() + chrono::Duration::minutes(5), r.clone(), 3)]
        );
        timer.cancel(&r);
        assert!(timer.pending().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn fires_in_order_and_wakes_for_an_earlier_deadline() {
        let clock = TokioClock::starting_at(t0());
        // A day's max sleep: only the notification can wake it for the earlier deadline.
        let timer = Timer::with_max_sleep(clock, Duration::from_secs(24 * 3600));
        let fired = Arc::new(Mutex::new(Vec::new()));
        let f = fired.clone();
        timer.schedule(Reference::new(1), t0() + chrono::Duration::hours(2), 0);
        let task = tokio::spawn(timer.clone().run(move |r, g| {
            f.lock().unwrap().push((clock.now(), r, g));
            async {}
        }));
        tokio::time::sleep(Duration::from_secs(10)).await;
        timer.schedule(Reference::new(2), t0() + chrono::Duration::seconds(30), 7);
        tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
        timer.stop();
        task.await.unwrap();
        assert_eq!(
            *fired.lock().unwrap(),
            vec![
                (t0() + chrono::Duration::seconds(30), Reference::new(2), 7),
                (t0() + chrono::Duration::hours(2), Reference::new(1), 0),
            ]
        );
    }
}
