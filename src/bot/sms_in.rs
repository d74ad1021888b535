//! What the SMS gateway tells the bot, taken into the core: each reply
//! (by webhook or poll) goes through the durable inbox
//! ([`Core::sms_reply`]), each delivery status to [`Core::sms_status`],
//! and each webhook request refused for its signature to the audit log
//! (never what it said).

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tracing::warn;

use super::{Accepted, Core};
use crate::notify::inbound::RefusedWebhook;
use crate::notify::SmsEvent;

/// Takes `events` and `refused` into `core` until `stop` turns true.
pub(super) async fn take(
    core: Arc<Core>,
    mut events: mpsc::Receiver<SmsEvent>,
    mut refused: mpsc::Receiver<RefusedWebhook>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => return,
            Some(event) = events.recv() => handle(&core, event).await,
            Some(r) = refused.recv() => {
                let detail = format!("{} ({:?})", r.path, r.why);
                if let Err(e) = core.store.audit(core.now(), "sms", "SMS webhook request refused", None, &detail) {
                    warn!(error = %e, "could not audit a refused SMS webhook request");
                }
            }
        }
    }
}

async fn handle(core: &Arc<Core>, event: SmsEvent) {
    match event {
        SmsEvent::Reply(reply) => {
            // Kept and flushed: off the runtime's threads.
            let c = core.clone();
            let kept = tokio::task::spawn_blocking(move || c.sms_reply(reply)).await;
            if !matches!(kept, Ok(Accepted::Kept)) {
                warn!("an SMS reply could not be kept (the data directory?); it is taken again if Twilio sends it again");
            }
        }
        SmsEvent::Status(status) => {
            if let Err(e) = core.sms_status(status).await {
                warn!(error = %format!("{e:#}"), "could not act on an SMS's delivery status");
            }
        }
    }
}
