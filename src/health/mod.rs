//! Health and metrics: is the bot alive, and what has it done.
//!
//! - [`Metrics`] (`metrics.rs`): counters kept with prometheus-client as the
//!   bot works (pages sent, acknowledgements and how long they took, sync
//!   errors, the last successful sync), encoded with the concerns by state,
//!   counted from the store at scrape time, in the OpenMetrics text format.
//! - [`verdict`] (here): `/healthz`'s answer, a pure function of the last
//!   sync, the clock and whether the store could be written.
//! - [`SelfWatch`] (`watch.rs`): notices when the homeserver has been out of
//!   reach for too long, and when it is back; the decision is the pure
//!   [`watch`].
//! - [`heartbeat`]: calls `[health] heartbeat_url` while healthy.
//! - [`listen`] (`http.rs`): `GET /healthz` and `GET /metrics` on the
//!   address in `[health] listen`, routed by axum and served by hyper.
//!
//! Nothing here carries a concern's content: every label comes from a fixed
//! set (a state, `urgent="true|false"`, `kind="first|repeat"`, a bucket
//! bound), and every value is a count, a duration or a time.

pub mod heartbeat;
mod http;
mod metrics;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::concern::Status;

pub use http::{listen, listen_with, serve, serve_with};
pub use metrics::{Metrics, ACK_BUCKETS};
pub use watch::{back_notice, back_notice_for, human_duration, watch, SelfWatch, WatchEvent};

/// `/healthz`'s answer: `Ok` when the sync loop has completed a sync within
/// `window` (counting from the loop's start until the first one) and the
/// store could be written; otherwise the reason, in plain words.
pub fn verdict(
    sync_started: Option<DateTime<Utc>>,
    last_sync: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    window: Duration,
    store: Result<(), String>,
    unresolved: &[String],
) -> Result<(), String> {
    let Some(started) = sync_started else {
        return Err("the bot is still starting: it has not begun syncing with the homeserver".into());
    };
    let since = last_sync.map_or(started, |s| s.max(started));
    let quiet = (now - since).to_std().unwrap_or_default();
    if quiet > window {
        return Err(match last_sync {
            Some(_) => format!(
                "no successful sync with the homeserver for {}",
                human_duration(quiet)
            ),
            None => format!(
                "no sync with the homeserver has succeeded since the bot started {} ago",
                human_duration(quiet)
            ),
        });
    }
    store.map_err(|e| format!("the store cannot be written: {e}"))?;
    if !unresolved.is_empty() {
        return Err(format!(
            "rooms from the config are not found or not joined yet: {}; check the names, and invite the bot",
            unresolved.join(", ")
        ));
    }
    Ok(())
}

/// What `/healthz` and `/metrics` need from the rest of the bot. Called on
/// a blocking thread: the store's calls may wait on the disk.
pub trait Probe: Send + Sync + 'static {
    /// Writes something small to the store and flushes it.
    fn store_writable(&self) -> Result<(), String>;
    /// The state of every concern in the store.
    fn concern_states(&self) -> Result<Vec<Status>, String>;
    /// Rooms named in the config that the chat has not resolved.
    fn unresolved_rooms(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What the listener serves from.
pub struct Health {
    pub metrics: Arc<Metrics>,
    pub probe: Arc<dyn Probe>,
    /// How recent the last sync must be for `/healthz` to say ok.
    pub sync_window: Duration,
}

impl Health {
    /// `/healthz`'s answer and the heartbeat's: the [`verdict`], and no
    /// effect stuck in the outbox for longer than
    /// [`heartbeat::OUTBOX_STUCK`].
    pub async fn check(&self) -> Result<(), String> {
        let probe = self.probe.clone();
        let store = tokio::task::spawn_blocking(move || probe.store_writable())
            .await
            .unwrap_or_else(|e| Err(format!("the store check failed: {e}")));
        let m = &self.metrics;
        verdict(
            m.sync_started(),
            m.last_sync(),
            Utc::now(),
            self.sync_window,
            store,
            &self.probe.unresolved_rooms(),
        )?;
        if m.is_unreachable() {
            return Err(
                "the chat has been out of reach for longer than [health] unreachable_alert_after".into(),
            );
        }
        let waited = m.outbox_oldest_waited();
        if waited > heartbeat::OUTBOX_STUCK {
            return Err(format!(
                "a message or page has waited {} to be sent",
                human_duration(waited)
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A time `secs` after a fixed morning, for the health tests here and
    /// in [`super::watch`].
    pub(in crate::health) fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
            .single()
            .expect("time")
            + chrono::Duration::seconds(secs)
    }

    #[test]
    fn healthz_needs_a_recent_sync_and_a_writable_store() {
        let window = Duration::from_secs(90);
        assert!(verdict(None, None, t(0), window, Ok(()), &[])
            .unwrap_err()
            .contains("starting"));
        assert_eq!(verdict(Some(t(0)), None, t(60), window, Ok(()), &[]), Ok(()));
        assert!(verdict(Some(t(0)), None, t(91), window, Ok(()), &[])
            .unwrap_err()
            .contains("since the bot started"));
        assert_eq!(
            verdict(Some(t(0)), Some(t(100)), t(150), window, Ok(()), &[]),
            Ok(())
        );
        let stale = verdict(Some(t(0)), Some(t(100)), t(400), window, Ok(()), &[]).unwrap_err();
        assert_eq!(stale, "no successful sync with the homeserver for 5 minutes");
        let disk = verdict(
            Some(t(0)),
            Some(t(100)),
            t(110),
            window,
            Err("disk full".into()),
            &[],
        )
        .unwrap_err();
        assert!(disk.contains("store cannot be written: disk full"), "{disk}");
        let rooms = ["#staff:example.org".to_string()];
        let unresolved = verdict(Some(t(0)), Some(t(100)), t(110), window, Ok(()), &rooms).unwrap_err();
        assert!(unresolved.contains("#staff:example.org"), "{unresolved}");
    }
}
