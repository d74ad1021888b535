//! What is said, and to whom, when an effect fails: the leads are told
//! which concern and what, by name; the reporter is told the leads know
//! only once the leads' notice went, and what to do now when nobody could
//! be told. Without a leads' room each lead and deputy is told in their
//! private chat with the bot. And what is audited once an effect went.

use tracing::{error, info, warn};

use super::{Effect, Effects, Remember, Target};
use crate::bot::chat::{ChatError, Message, RoomSpec};
use crate::bot::compose::{self, Text};
use crate::bot::Core;
use crate::concern::Reference;
use crate::escalation::Escalation;
use crate::store::{Batch, Pending, Tree};

/// An effect's cause, whatever part or piece of a message it was.
fn cause_of(key: &str) -> &str {
    key.split(['#', '~']).next().unwrap_or(key)
}

impl Core {
    /// An effect failed for good: whoever could not be invited is passed
    /// over, and people are told. Returns what to commit with the effect's
    /// being dropped.
    pub(super) async fn given_up(&self, item: &Pending<Effect>, why: &ChatError) -> Batch {
        let name = self.person_named(&item.effect).await;
        warn!(effect = %item.effect.what("someone"), error = %why, "an effect failed for good; telling someone who can act");
        if let Effect::Invite {
            user,
            about: Some(reference),
            ..
        } = &item.effect
        {
            if let Err(e) = self.mark_unreachable(reference, user).await {
                error!(reference = %reference, error = %format!("{e:#}"), "could not pass over someone who could not be invited");
            }
        }
        let mut then = Batch::new();
        if let Err(e) = self.failure_notices(item, why, &name, &mut then) {
            error!(error = %e, "could not keep the notice that something failed");
        }
        then
    }

    /// An effect keeps failing although the chat works: the leads are told
    /// before it is given up.
    pub(super) async fn tell_still_failing(&self, item: &Pending<Effect>) {
        let name = self.person_named(&item.effect).await;
        let text = compose::still_trying(item.effect.about(), &item.effect.what(&name));
        let mut notices = self.effects(format!("{}!trouble", cause_of(&item.key)));
        let result = match self.alert_leads(&mut notices, text, Remember::Nothing) {
            Ok(_) => self.commit(Batch::new(), notices).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            error!(error = %format!("{e:#}"), "could not keep the notice that something keeps failing");
        }
    }

    /// The person an invitation or removal is for, by the name the chat
    /// shows (empty for other effects).
    async fn person_named(&self, effect: &Effect) -> String {
        let (Effect::Invite { user, target, .. } | Effect::Remove { user, target, .. }) = effect else {
            return String::new();
        };
        match self.room_of(target) {
            Ok(Some(room)) => self.chat.display_name(&room, user).await,
            _ => user.clone(),
        }
    }

    /// Something for the leads, in their room; without one, in each lead's
    /// and deputy's private chat with the bot. Whether the leads' room has it.
    fn alert_leads(&self, notices: &mut Effects, text: Text, remember: Remember) -> anyhow::Result<bool> {
        if let Some(leads) = self.leads_room() {
            notices.send(
                "leads",
                Target::Room(leads),
                Message::notice(text),
                remember,
                None,
            );
            return Ok(true);
        }
        for user in self.config.safeguarding.responders() {
            let target = Target::Private(user.to_string());
            if self.room_of(&target)?.is_none() {
                notices.push(
                    &format!("dm-{user}"),
                    Effect::CreateRoom {
                        target: target.clone(),
                        spec: RoomSpec {
                            key: crate::bot::intake::random_token(),
                            name: "Safeguarding".into(),
                            invite: vec![user.to_string()],
                            direct: true,
                        },
                    },
                );
            }
            notices.send(
                &format!("to-{user}"),
                target,
                Message::notice(text.clone()),
                Remember::Nothing,
                None,
            );
        }
        Ok(false)
    }

    /// Tells the reporter of `reference` the truth about a failure: the
    /// leads have been told (`told`: their notice went), or nobody has and
    /// what to do now. Returns the batch to commit with what caused it.
    pub(super) fn tell_reporter_after_leads(
        &self,
        key: &str,
        reference: &Reference,
        reporter: &str,
        told: bool,
    ) -> Batch {
        let mut batch = Batch::new();
        let result = (|| -> anyhow::Result<()> {
            let text = if told {
                compose::reporter_told_delivery_trouble(reference)
            } else {
                let route = self.store.get_concern(reference)?.and_then(|r| r.route);
                compose::nobody_reachable(reference, route.as_ref())
            };
            let mut e = self.effects(format!("{}!reporter", cause_of(key)));
            e.send(
                "reporter",
                Target::Private(reporter.to_string()),
                Message::plain(text),
                Remember::ReporterCopy(reporter.to_string()),
                Some(reference),
            );
            e.stage(&self.store, &mut batch)?;
            Ok(())
        })();
        if let Err(e) = result {
            error!(reference = %reference, error = %format!("{e:#}"), "could not keep what to tell the reporter about a failure");
        }
        batch
    }

    /// An effect failed for good: tell the leads which concern and what
    /// failed (naming who, as `name`), and, where it was the concern's own
    /// room that failed, the reporter the truth about who knows.
    fn failure_notices(
        &self,
        item: &Pending<Effect>,
        why: &ChatError,
        name: &str,
        batch: &mut Batch,
    ) -> anyhow::Result<()> {
        let effect = &item.effect;
        let Some(reference) = effect.about().cloned() else {
            // The notice that was to tell the leads could not go: the
            // reporter is told nobody knows, and what to do now.
            if let Effect::Send {
                remember: Remember::LeadsTold { reference, reporter },
                ..
            } = effect
            {
                batch.append(self.tell_reporter_after_leads(&item.key, reference, reporter, false));
            }
            return Ok(());
        };
        let mut notices = self.effects(format!("{}!failed", cause_of(&item.key)));
        let reason = match why {
            ChatError::Refused(_) => "the chat refused it",
            ChatError::NotFound(_) => "the room or person could not be found",
            ChatError::TooLarge => "it was too large",
            ChatError::Transient(_) => "it kept failing",
            _ => "the chat could not be reached",
        };
        let text = match effect {
            Effect::Invite { .. } => compose::could_not_invite(&reference, name, reason),
            other => compose::could_not_do(&reference, &other.what(name), reason),
        };
        // A page or the record that did not reach the concern's room: the
        // reporter must not think the leads know unless they do.
        let reporter = match effect {
            Effect::Invite { .. } => None,
            _ if matches!(effect.target(), Some(Target::Concern(_))) => self
                .store
                .get_item::<Escalation>(Tree::Escalations, &reference.to_string())?
                .map(|esc| esc.reporter),
            _ => None,
        };
        let remember = match &reporter {
            Some(reporter) => Remember::LeadsTold {
                reference: reference.clone(),
                reporter: reporter.clone(),
            },
            None => Remember::Nothing,
        };
        let in_leads_room = self.alert_leads(&mut notices, text, remember)?;
        notices.stage(&self.store, batch)?;
        if let (false, Some(reporter)) = (in_leads_room, reporter) {
            batch.append(self.tell_reporter_after_leads(&item.key, &reference, &reporter, false));
        }
        Ok(())
    }

    /// An effect delivered is written to the audit log if it says so (a page
    /// is "paged" here, when it went): staged in `then`, the write that
    /// marks it sent.
    pub(super) fn stage_audit_delivered(&self, then: &mut Batch, effect: &Effect) {
        let Effect::Send {
            remember:
                Remember::Audited {
                    action,
                    reference,
                    detail,
                },
            ..
        } = effect
        else {
            return;
        };
        info!(reference = %reference, action = %action, "delivered");
        self.store
            .stage_audit(then, self.now(), "bot", action, Some(reference), detail);
    }
}
