//! Group commit: one thread makes the store's writes durable, and every
//! writer that asks while a flush is under way is served by the next one,
//! so a crowd of writers shares a few flushes instead of queuing behind one
//! each.
//!
//! Each write takes a ticket from [`Flusher::wrote`] once it is in sled's
//! memory. A flush round reads the newest ticket, then flushes: every
//! write with that ticket or an older one is on disk when the round ends.
//! A waiter ([`Flusher::wait`], or [`Flusher::wait_async`] without holding
//! one of the runtime's workers) asks for its ticket and returns once a
//! round has covered it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The longest a write nobody waits for stays in memory only (when no
/// flush is asked for meanwhile).
pub(crate) const LAZY: std::time::Duration = std::time::Duration::from_secs(1);

struct State {
    /// The newest ticket someone waits for.
    requested: u64,
    /// Every ticket up to this one is on disk.
    durable: u64,
    /// The first flush that failed: sled fails every one after it, so every
    /// waiter from then on is told.
    failed: Option<String>,
    stop: bool,
}

struct Shared {
    written: AtomicU64,
    state: Mutex<State>,
    /// Wakes the flushing thread when a ticket is asked for, and the
    /// waiters when a round ends.
    wake: Condvar,
    /// How many rounds have flushed.
    rounds: AtomicU64,
}

pub(crate) struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts the flushing thread for `db`.
    pub(crate) fn start(db: sled::Db) -> Flusher {
        let shared = Arc::new(Shared {
            written: AtomicU64::new(0),
            state: Mutex::new(State {
                requested: 0,
                durable: 0,
                failed: None,
                stop: false,
            }),
            wake: Condvar::new(),
            rounds: AtomicU64::new(0),
        });
        let thread = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn({
                let shared = shared.clone();
                move || shared.run(&db)
            })
            .expect("a thread for the store's flushes");
        Flusher {
            shared,
            thread: Some(thread),
        }
    }

    /// Records that a write is in sled's memory; returns its ticket.
    pub(crate) fn wrote(&self) -> u64 {
        self.shared.written.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Waits, holding this thread, until `ticket` is on disk.
    pub(crate) fn wait(&self, ticket: u64) -> Result<(), String> {
        self.shared.wait(ticket)
    }

    /// Waits, without holding one of the runtime's workers, until `ticket`
    /// is on disk: on a thread of the runtime's blocking pool, so many
    /// writers can wait at once (and share a flush), and a test's paused
    /// clock does not jump ahead while the disk is waited for (tokio does
    /// not advance paused time while a blocking task runs).
    pub(crate) async fn wait_async(&self, ticket: u64) -> Result<(), String> {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.wait(ticket);
        }
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || shared.wait(ticket))
            .await
            .unwrap_or_else(|e| Err(format!("waiting for the disk failed: {e}")))
    }

    /// Every ticket up to this one is on disk.
    pub(crate) fn durable(&self) -> u64 {
        self.shared.lock().durable
    }

    /// How many flush rounds have run.
    pub(crate) fn rounds(&self) -> u64 {
        self.shared.rounds.load(Ordering::Relaxed)
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait(&self, ticket: u64) -> Result<(), String> {
        let mut state = self.lock();
        if ticket > state.requested {
            state.requested = ticket;
            self.wake.notify_all();
        }
        let state = self
            .wake
            .wait_while(state, |s| {
                s.failed.is_none() && s.durable < ticket && !(s.stop && s.requested > s.durable)
            })
            .unwrap_or_else(PoisonError::into_inner);
        match &state.failed {
            Some(why) => Err(why.clone()),
            None if state.durable >= ticket => Ok(()),
            None => Err("the store was closed before it was written to disk".into()),
        }
    }

    /// The flushing thread: a round whenever a ticket not yet on disk is
    /// asked for, until the store closes (sled flushes once more then).
    /// Writes nobody waits for (see `Store::commit_unsynced`) go with the
    /// next round anyone asks for, or after [`LAZY`] without one: sled's
    /// own timed flush is off (see `open_sled`), so an idle store makes no
    /// disk syncs, and a write not waited for does not cost one of its own
    /// while others follow it.
    fn run(&self, db: &sled::Db) {
        loop {
            {
                let mut state = self.lock();
                // Since when writes nobody asked for have waited.
                let mut unasked_since: Option<std::time::Instant> = None;
                loop {
                    if state.stop {
                        return;
                    }
                    if state.requested > state.durable {
                        break;
                    }
                    if self.written.load(Ordering::SeqCst) <= state.durable {
                        // A write does not wake this thread (that would
                        // cost every write a lock): it looks again in a
                        // while, so a write not waited for is on disk
                        // within twice LAZY.
                        unasked_since = None;
                        state = self
                            .wake
                            .wait_timeout(state, LAZY)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                        continue;
                    }
                    let since = *unasked_since.get_or_insert_with(std::time::Instant::now);
                    let left = LAZY.saturating_sub(since.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    state = self
                        .wake
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
            // Every write with a ticket up to here is in sled's memory: the
            // flush below writes it out.
            let target = self.written.load(Ordering::SeqCst);
            let result = db.flush();
            self.rounds.fetch_add(1, Ordering::Relaxed);
            let mut state = self.lock();
            match result {
                Ok(_) => state.durable = state.durable.max(target),
                Err(e) => {
                    state.failed.get_or_insert_with(|| e.to_string());
                }
            }
            drop(state);
            self.wake.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_at_once_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let flusher = Arc::new(Flusher::start(db.clone()));
        let threads: Vec<_> = (0..32u8)
            .map(|i| {
                let (db, flusher) = (db.clone(), flusher.clone());
                std::thread::spawn(move || {
                    db.insert([i], vec![i; 64]).unwrap();
                    let ticket = flusher.wrote();
                    flusher.wait(ticket).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let rounds = flusher.rounds();
        assert!((1..=32).contains(&rounds), "{rounds} rounds");
        // Nothing asked for: no round.
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(flusher.rounds(), rounds);
    }
}
