//! The core's long-running tasks, each with a name and watched.
//!
//! A task that should run until the bot stops (the timer, the outbox, the
//! sweeps, the dispatcher) and ends early or panics is a part of the bot
//! gone quiet: pages not sent, deadlines not kept. It is never left so. The
//! task's name is logged and the core is told it cannot go on
//! ([`Failure::Task`]), so the bot stops cleanly with an error and systemd
//! starts it afresh; what was not done is still in the inbox and the outbox.

use std::future::Future;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::error;

/// Why the core cannot go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The data directory could not be written (a full disk, say).
    Disk(String),
    /// One of the bot's own tasks ended or panicked while it should run.
    Task { name: &'static str, how: &'static str },
}

impl Failure {
    /// What the bot says as it stops, for whoever reads the service's log.
    pub fn explain(&self) -> String {
        match self {
            Failure::Disk(why) => format!(
                "the bot stopped because its data directory could not be written (is the disk full?); free some space and it will carry on where it stopped: {why}"
            ),
            Failure::Task { name, how } => format!(
                "the bot stopped because its {name} {how}; started again (systemd does this), it carries on where it stopped. If this keeps happening, send the log to whoever installed the bot."
            ),
        }
    }
}

/// Spawns `task`, named `name`, to run until `stopping` turns true. If it
/// ends before that, or panics at any time, `fail` is told.
pub(crate) fn spawn<F>(
    name: &'static str,
    task: F,
    stopping: watch::Receiver<bool>,
    fail: impl FnOnce(Failure) + Send + 'static,
) -> JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let inner = tokio::spawn(task);
    tokio::spawn(async move {
        let how = match inner.await {
            Ok(()) if *stopping.borrow() => return,
            Ok(()) => "task ended while the bot was running",
            Err(e) if e.is_panic() => "task failed (a panic; the log above says where)",
            // Aborted on purpose by whoever holds it.
            Err(_) => return,
        };
        error!(task = name, "{how}; the bot stops so that it is started afresh");
        fail(Failure::Task { name, how });
    })
}

/// Spawns `task`, named `name`, which does one thing and ends; if it panics,
/// `fail` is told.
pub(crate) fn spawn_once<F>(
    name: &'static str,
    task: F,
    fail: impl FnOnce(Failure) + Send + 'static,
) -> JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (_never, stopping) = watch::channel(true);
    spawn(name, task, stopping, fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn recorder() -> (Arc<Mutex<Vec<Failure>>>, impl FnOnce(Failure) + Send + 'static) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        (seen, move |f| into.lock().unwrap().push(f))
    }

    #[tokio::test]
    async fn a_task_that_panics_stops_the_bot_and_is_named() {
        let (_stop, stopping) = watch::channel(false);
        let (seen, fail) = recorder();
        spawn("outbox", async { panic!("boom") }, stopping, fail)
            .await
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let said = seen[0].explain();
        assert!(said.contains("outbox task failed"), "{said}");
        assert!(said.contains("carries on where it stopped"), "{said}");
    }

    #[tokio::test]
    async fn a_task_that_ends_early_stops_the_bot() {
        let (_stop, stopping) = watch::channel(false);
        let (seen, fail) = recorder();
        spawn("timer", async {}, stopping, fail).await.unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![Failure::Task {
                name: "timer",
                how: "task ended while the bot was running"
            }]
        );
    }

    #[tokio::test]
    async fn a_task_that_ends_because_the_bot_stops_is_no_failure() {
        let (stop, stopping) = watch::channel(false);
        let (seen, fail) = recorder();
        let mut told = stopping.clone();
        let handle = spawn(
            "sweep",
            async move {
                let _ = told.wait_for(|s| *s).await;
            },
            stopping,
            fail,
        );
        stop.send(true).unwrap();
        handle.await.unwrap();
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_one_off_task_may_end_but_not_panic() {
        let (seen, fail) = recorder();
        spawn_once("room check", async {}, fail).await.unwrap();
        assert!(seen.lock().unwrap().is_empty());
        let (seen, fail) = recorder();
        spawn_once("room check", async { panic!("boom") }, fail)
            .await
            .unwrap();
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
}
