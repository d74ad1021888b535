//! Who an effect is still for: nobody the config no longer names a lead or
//! deputy is let into a concern's room or paged there, whenever that was
//! decided, and nobody already given up on is tried again.

use tracing::info;

use super::{Effect, Target};
use crate::bot::chat::{Kind, Message};
use crate::bot::Core;
use crate::escalation::Escalation;
use crate::store::Tree;

impl Core {
    /// Whether an effect is still for someone the config says is a lead or
    /// deputy, and as what: an invitation to a concern's room for someone
    /// who is not is dropped, and so is a page that mentions nobody who is;
    /// a page is sent without the mentions of those who are not.
    pub(super) fn still_for_responders(&self, effect: &Effect) -> Option<Effect> {
        let sg = &self.config.safeguarding;
        match effect {
            Effect::Invite {
                target: Target::Concern(reference),
                user,
                ..
            } if !sg.is_responder(user) => {
                info!(reference = %reference, "not invited: no longer a lead or deputy");
                let at = self.now();
                let _ = self.store.audit(
                    at,
                    "bot",
                    "not invited: no longer a lead or deputy",
                    Some(reference),
                    user,
                );
                None
            }
            // Given up on already (an invitation staged again by a repeat
            // before that): not tried, nor said, again.
            Effect::Invite {
                target: Target::Concern(reference),
                user,
                ..
            } if self
                .store
                .get_item::<Escalation>(Tree::Escalations, &reference.to_string())
                .ok()
                .flatten()
                .is_some_and(|esc| esc.unreachable.iter().any(|u| u == user)) =>
            {
                None
            }
            Effect::Send {
                target: target @ Target::Concern(_),
                message:
                    message @ Message {
                        kind: Kind::Ping(people),
                        ..
                    },
                remember,
                about,
            } if people.iter().any(|p| !sg.is_responder(p)) => {
                let kept: Vec<String> = people.iter().filter(|p| sg.is_responder(p)).cloned().collect();
                if kept.is_empty() {
                    info!("a page for nobody still a lead or deputy was not sent");
                    return None;
                }
                Some(Effect::Send {
                    target: target.clone(),
                    message: Message {
                        kind: Kind::Ping(kept),
                        ..message.clone()
                    },
                    remember: remember.clone(),
                    about: about.clone(),
                })
            }
            other => Some(other.clone()),
        }
    }
}
