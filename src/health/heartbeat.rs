//! The heartbeat: while the bot is healthy, it calls a URL the config
//! names (`[health] heartbeat_url`) every `heartbeat_every`, so a monitor
//! outside (healthchecks.io, Uptime Kuma's push monitor) raises the alarm
//! when the calls stop: the machine is off, the bot has stopped, the chat
//! or the disk has failed, or pages are stuck. The call carries nothing
//! but the URL.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use super::Health;
use crate::config::Heartbeat;

/// How long the oldest effect may wait in the outbox before the bot is no
/// longer healthy: pages that cannot go out are an emergency.
pub const OUTBOX_STUCK: Duration = Duration::from_secs(5 * 60);

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls `beat.url` every `beat.every` while [`Health::check`] says ok,
/// until `shutdown` turns true. A failure or an unhealthy bot is logged
/// once, and again when it passes.
pub async fn run(beat: Heartbeat, health: Arc<Health>, mut shutdown: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder().timeout(CALL_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "could not set up the heartbeat's HTTP client; no heartbeat is sent");
            return;
        }
    };
    let mut tick = tokio::time::interval(beat.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_problem: Option<String> = None;
    info!(every = ?beat.every, "calling the heartbeat URL while healthy");
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let problem = match health.check().await {
            Err(why) => Some(format!("not healthy, so the heartbeat is not sent: {why}")),
            Ok(()) => match client.get(&beat.url).send().await {
                Ok(r) if r.status().is_success() => None,
                Ok(r) => Some(format!("the heartbeat URL answered {}", r.status())),
                Err(e) => Some(format!(
                    "the heartbeat URL could not be called: {}",
                    without_url(&e)
                )),
            },
        };
        match (&problem, &last_problem) {
            (Some(p), None) => warn!("{p}"),
            (None, Some(_)) => info!("the heartbeat is sent again"),
            _ => {}
        }
        last_problem = problem;
    }
}

/// reqwest's error without the URL, which may hold the monitor's secret.
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "it did not answer in time".into()
    } else if e.is_connect() {
        "no connection".into()
    } else {
        "the request failed".into()
    }
}
