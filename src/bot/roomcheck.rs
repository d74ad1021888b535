//! Only leads and deputies in a concern's room: checked when someone joins
//! it, at start, and again just before anything is sent there.
//!
//! The check runs in the outbox ([`super::outbox`]), so a chat that cannot
//! list the room's members at that moment is asked again, with the outbox's
//! backoff, until it answers; and a message for the room waits behind it,
//! so nothing about a concern reaches someone who was let in meanwhile.

use tracing::{info, warn};

use super::chat::{ChatError, Message};
use super::outbox::{Effect, Remember, Target};
use super::{compose, Batch, Core};
use crate::concern::Reference;

/// Before `effect` is carried out in `room`: for a message or file that
/// goes into a concern's room (aimed at it, or an answer to a command typed
/// there), or a check of it, the room is cleared of anyone who is not a lead
/// or deputy. An error means it may not be clear yet, and the effect waits.
pub(super) async fn clear_before(
    core: &Core,
    effect: &Effect,
    room: &str,
    key: &str,
) -> Result<(), ChatError> {
    let reference = match effect {
        Effect::Send { target, .. } | Effect::Upload { target, .. } => match target {
            Target::Concern(r) => r.clone(),
            Target::Room(_) => match core.escalation_for_room(room) {
                Ok(Some(esc)) => esc.reference,
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(ChatError::Transient(format!(
                        "could not tell whose room it is: {e:#}"
                    )))
                }
            },
            Target::Private(_) => return Ok(()),
        },
        Effect::Check {
            target: Target::Concern(r),
        } => {
            // A room the bot has left (cleared under retention) holds
            // nothing more of the concern's.
            if !core.chat.is_joined(room).await? {
                return Ok(());
            }
            r.clone()
        }
        _ => return Ok(()),
    };
    core.clear_outsiders(&reference, room, key).await
}

impl Core {
    /// Removes from a concern's room anyone in it (or invited) who is not a
    /// lead or deputy now, audits each removal once it is done, and has the
    /// room told who and why. An error means the room may not be clear yet:
    /// whatever was to go there waits and the check is tried again.
    pub(super) async fn clear_outsiders(
        &self,
        reference: &Reference,
        room: &str,
        cause: &str,
    ) -> Result<(), ChatError> {
        let me = self.chat.bot_id();
        let outsiders: Vec<String> = self
            .chat
            .members(room)
            .await?
            .into_iter()
            .map(|m| m.user)
            .filter(|u| *u != me && !self.config.safeguarding.is_responder(u))
            .collect();
        if outsiders.is_empty() {
            return Ok(());
        }
        let reason = "Not a Lead or Deputy for Safeguarding in the bot's settings";
        for user in &outsiders {
            match self.chat.remove(room, user, reason).await {
                // Gone already is as good as removed.
                Ok(()) | Err(ChatError::NotFound(_)) => {}
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => {
                    // Nothing may go in while they are there: held, and
                    // tried again, rather than sent past them.
                    warn!(reference = %reference, error = %e, "someone who is not a lead or deputy could not be removed from a concern's room; its messages wait");
                    return Err(ChatError::Transient(format!(
                        "someone who is not a lead or deputy could not be removed: {e}"
                    )));
                }
            }
            self.store
                .audit(
                    self.now(),
                    "bot",
                    "removed from a concern's room: not a lead or deputy",
                    Some(reference),
                    user,
                )
                .map_err(|e| ChatError::Transient(format!("could not audit a removal: {e}")))?;
        }
        info!(reference = %reference, count = outsiders.len(), "people not leads or deputies removed from a concern's room");
        let mut named = Vec::new();
        for user in &outsiders {
            named.push(self.learn_name(room, user).await);
        }
        // Told through the outbox, after whatever was waiting; keyed by the
        // moment, as each removal is new (the check never replays one).
        let mut notice = self.effects(format!("{cause}!outsiders-{}", self.now().timestamp_millis()));
        notice.send(
            "told",
            Target::Concern(reference.clone()),
            Message::notice(compose::removed_from_concern_room(&named)),
            Remember::Nothing,
            Some(reference),
        );
        if let Err(e) = self.commit(Batch::new(), notice).await {
            warn!(reference = %reference, error = %format!("{e:#}"), "could not keep the notice that someone was removed from a concern's room");
        }
        Ok(())
    }

    /// Queues a check of one concern's room (see [`Core::clear_outsiders`]).
    pub(super) fn queue_room_check(&self, effects: &mut super::Effects, slot: &str, reference: &Reference) {
        effects.push(
            slot,
            Effect::Check {
                target: Target::Concern(reference.clone()),
            },
        );
    }
}
