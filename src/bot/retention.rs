//! Retention in the running bot: once a day, closed concerns past the
//! organisation's period are deleted ([`crate::casework::retention`]
//! decides), and their rooms and every copy the bot remembered are cleared.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;
use tracing::{info, warn};

use super::{ChatError, Core};
use crate::casework::retention;

/// How long the ids of handled events, and what the chat sent under each
/// outbox key, are kept: far longer than any chat redelivers an event or
/// the outbox tries an effect again.
const REMEMBER_FOR: chrono::Duration = chrono::Duration::days(90);

/// Once a day (first a few seconds after start, so rooms of concerns deleted
/// from the command line are cleared soon), deletes closed concerns whose
/// retention period has passed, audits each deletion, and clears and leaves
/// their rooms. While some rooms or messages are still to be cleared (the
/// bot has not synced them yet, or the chat refused), it tries again in ten
/// minutes, up to six times, rather than waiting a day.
pub(super) async fn retention_job(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    /// Retries at ten minutes before falling back to once a day, so
    /// something that can never be cleared does not keep the bot busy.
    const QUICK_RETRIES: u32 = 6;
    let mut wait = Duration::from_secs(5);
    let mut quick_retries = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = Duration::from_secs(24 * 60 * 60);
        let result = core.retention_sweep().await;
        match result {
            Ok(true) if quick_retries < QUICK_RETRIES => {
                quick_retries += 1;
                wait = Duration::from_secs(10 * 60);
            }
            Ok(true) => {
                warn!("some rooms or messages of deleted concerns could still not be cleared; trying again once a day");
            }
            _ => quick_retries = 0,
        }
        if let Err(e) = result {
            let text = "The daily deletion of closed concerns past their retention period did not work today. It will try again tomorrow; ask whoever runs the bot to look at its log.";
            let _ = core.tell_leads(&format!("retention-failed-{}", core.now().date_naive()), text);
            tracing::error!(error = %format!("{e:#}"), "the daily retention sweep failed; it runs again tomorrow");
        }
    }
}

impl Core {
    /// Deletes each closed concern past its period, under the concern's
    /// lock so a `!reopen` or `!add` just before is seen; then clears the
    /// rooms of deleted concerns (also those deleted from the command line
    /// while the bot was stopped). Returns whether some rooms or messages
    /// are still to be cleared.
    pub(super) async fn retention_sweep(&self) -> anyhow::Result<bool> {
        let retention = self.config.safeguarding.retention;
        let due = retention::sweep(&self.store, retention, self.now(), true, "bot")
            .context("could not read which closed concerns are past their retention period")?;
        let mut deleted = 0;
        for reference in due {
            let _one_at_a_time = self.locks.lock(&reference).await;
            if retention::delete_if_due(&self.store, &reference, retention, self.now(), "bot")
                .with_context(|| format!("could not delete {reference} under the retention period"))?
            {
                deleted += 1;
            }
        }
        if deleted > 0 {
            info!(
                count = deleted,
                "closed concerns deleted under the retention period"
            );
        }
        self.forget_long_handled().await;
        Ok(self.clear_retired_rooms().await)
    }

    /// Forgets which events were handled, and what the chat sent, longer
    /// ago than [`REMEMBER_FOR`]: nothing is handed over or tried again
    /// after so long, and the lists would otherwise grow for ever.
    async fn forget_long_handled(&self) {
        let before = self.now() - REMEMBER_FOR;
        match self.store.inbox_forget_done(before) {
            Ok(0) => {}
            Ok(n) => info!(count = n, "forgot events handled long ago"),
            Err(e) => warn!(error = %e, "could not forget events handled long ago; trying again tomorrow"),
        }
        // After the inbox: a mark goes only once its event is forgotten.
        match self.store.outbox_forget_sent(before) {
            Ok(0) => {}
            Ok(n) => info!(count = n, "forgot what the outbox sent long ago"),
            Err(e) => {
                warn!(error = %e, "could not forget what the outbox sent long ago; trying again tomorrow")
            }
        }
        let n = self.chat.forget_sent_before(before).await;
        if n > 0 {
            info!(count = n, "forgot what was sent long ago");
        }
    }

    /// For each room of a deleted concern: removes every message in it,
    /// says why, and leaves. A room is forgotten from the list only once
    /// that is done; what fails is tried again next time. Returns whether
    /// anything is left to clear.
    async fn clear_retired_rooms(&self) -> bool {
        let mut left = self.remove_retired_messages().await;
        let rooms = match retention::retired_rooms(&self.store) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "could not read the rooms of deleted concerns");
                return true;
            }
        };
        let notice = "The concern this room was for has been deleted, as the retention period says, and its messages removed. I am leaving; you can leave too.";
        for id in rooms {
            let done = match self.chat.is_joined(&id).await {
                // The bot is no longer in it: nothing more it can do.
                Ok(false) => true,
                Ok(true) => match self.chat.clear_and_leave(&id, notice).await {
                    Ok(n) => {
                        info!(room = %id, messages = n, "cleared and left the room of a deleted concern");
                        true
                    }
                    Err(e) => {
                        warn!(room = %id, error = %e, "could not clear the room of a deleted concern; trying again next time");
                        false
                    }
                },
                // Not known yet (before the first sync): try again next time.
                Err(e) => {
                    info!(room = %id, error = %e, "the room of a deleted concern is not known to the bot yet; clearing it later");
                    false
                }
            };
            if done {
                if let Err(e) = retention::forget_retired_room(&self.store, &id) {
                    tracing::error!(error = %e, "could not update the list of rooms to clear");
                }
            } else {
                left = true;
            }
        }
        left
    }

    /// Removes each message that showed a deleted concern outside its own
    /// room. A message is forgotten once removed, once the bot is no longer
    /// in its room, or once the chat says it may not remove it; what fails
    /// otherwise is tried again next time. Returns whether any are left.
    async fn remove_retired_messages(&self) -> bool {
        let copies = match retention::retired_messages(&self.store) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "could not read the messages of deleted concerns");
                return true;
            }
        };
        let total = copies.len();
        let mut done = Vec::new();
        for copy in copies {
            let removed = match self.chat.is_joined(&copy.room).await {
                Ok(false) => true,
                Err(_) => {
                    info!(room = %copy.room, "a message of a deleted concern is in a room not known to the bot yet; removing it later");
                    false
                }
                Ok(true) => match self
                    .chat
                    .redact(&copy.room, &copy.message, "retention period passed")
                    .await
                {
                    Ok(()) | Err(ChatError::NotFound(_)) => true,
                    // Someone else's message in a room where the bot may
                    // not remove others' (a private chat they started).
                    Err(ChatError::Refused(_)) => {
                        warn!(room = %copy.room, "not allowed to remove a message of a deleted concern; whoever sent it can delete it");
                        true
                    }
                    Err(e) => {
                        warn!(room = %copy.room, error = %e, "could not remove a message of a deleted concern; trying again next time");
                        false
                    }
                },
            };
            if removed {
                done.push(copy);
            }
        }
        if !done.is_empty() {
            info!(
                messages = done.len(),
                "removed messages that showed deleted concerns"
            );
            if let Err(e) = retention::forget_retired_messages(&self.store, &done) {
                tracing::error!(error = %e, "could not update the list of messages to remove");
            }
        }
        done.len() < total
    }
}
