//! A report, from the request to the record: the private chat, the
//! conversation ([`crate::intake`]), and what it decides passed to the
//! outbox in the same commit as the answers it keeps.

use chrono::Utc;
use tracing::{error, info};

use super::outbox::{Effect, Effects, Remember, Target};
use super::{compose, Core, Inbound, Message, RoomSpec};
use crate::casework::retention::{self, PostedCopy};
use crate::intake::{self, Outgoing};
use crate::store::Batch;

/// A deadline to set once a decision is committed.
pub(super) type Schedule = Vec<(crate::concern::Reference, chrono::DateTime<Utc>, u64)>;

impl Core {
    /// Starts (or resumes) a report in the reporter's private chat. Asked in
    /// any other room (`elsewhere`), the room gets only a notice that says
    /// nothing of it, and the private chat is made if need be.
    pub(super) async fn start_report(&self, inbound: &Inbound, elsewhere: bool) -> anyhow::Result<()> {
        let reporter = inbound.sender.as_str();
        let staff = self.staff_check(reporter).await;
        if staff != super::route::Staff::Yes {
            return self.refuse(inbound, staff);
        }
        let mut batch = Batch::new();
        let mut effects = self.effects(&inbound.event_id);
        if elsewhere {
            self.ensure_private_chat(&mut effects, reporter).await?;
            let name = self.learn_name(&inbound.room_id, reporter).await;
            effects.send(
                "staffnotice",
                Target::Room(inbound.room_id.clone()),
                Message::notice(compose::staff_room_notice(&name.plain())),
                Remember::Nothing,
                None,
            );
        }
        let one_start_at_a_time = self.starting.lock().await;
        let out = intake::begin_in(
            &self.store,
            &mut batch,
            &self.flow,
            reporter,
            Some(&inbound.event_id),
            self.now(),
        )?;
        let mut schedule = Schedule::new();
        self.plan_outgoing(&mut batch, &mut effects, reporter, out, &mut schedule)?;
        self.commit_final(batch, effects).await?;
        drop(one_start_at_a_time);
        self.set_deadlines(schedule);
        info!("report started or resumed in a private chat");
        Ok(())
    }

    /// A message from someone with a report in progress. Returns whether
    /// they had one (and so it was taken as their answer, or, for a press,
    /// answered). `pressed` is the button pressed to send it: its label is
    /// said back to them first, so the chat reads as a record of what they
    /// answered; if its question is no longer the one asked, nothing is
    /// taken and they are shown the question now asked.
    pub(super) async fn report_message(
        &self,
        inbound: &Inbound,
        body: &str,
        pressed: Option<Press<'_>>,
    ) -> anyhow::Result<bool> {
        let reporter = inbound.sender.as_str();
        let Some(current) = intake::current(&self.store, reporter)? else {
            return self.sent_the_last_report(inbound, reporter);
        };
        let reference = current.reference.clone();
        // The concern's lock: its page and record are decided here.
        let _one_at_a_time = self.locks.lock(&reference).await;
        if let Some(press) = &pressed {
            // Checked under the lock: a form's answer may have moved it on.
            let Some(current) = intake::current(&self.store, reporter)? else {
                return self.sent_the_last_report(inbound, reporter);
            };
            if crate::conversation::question_key(&current) != press.question {
                let prompt = crate::conversation::prompt(&self.flow, &current);
                let mut message = Message::plain(compose::button_for_earlier_question(&prompt));
                message.buttons = crate::conversation::buttons(&self.flow, &current);
                let mut effects = self.effects(&inbound.event_id);
                effects.send(
                    "pressed",
                    Target::Private(reporter.to_string()),
                    message,
                    Remember::ReporterCopy(reporter.to_string()),
                    None,
                );
                self.commit_final(Batch::new(), effects).await?;
                return Ok(true);
            }
        }
        if pressed.is_none() && self.written_before_asked(inbound, reporter)? {
            return Ok(true);
        }
        let mut batch = Batch::new();
        let Some(out) = intake::message_in(
            &self.store,
            &mut batch,
            &self.flow,
            reporter,
            body,
            &inbound.event_id,
            self.now(),
        )?
        else {
            return Ok(false);
        };
        let mut effects = self.effects(&inbound.event_id);
        if let Some(press) = &pressed {
            effects.send(
                "pressed",
                Target::Private(reporter.to_string()),
                Message::notice(compose::you_chose(press.label)),
                Remember::ReporterCopy(reporter.to_string()),
                None,
            );
        }
        let mut schedule = Schedule::new();
        self.plan_outgoing(&mut batch, &mut effects, reporter, out, &mut schedule)?;
        if pressed.is_none() {
            // Their answer is part of the report: removed with it. Kept in
            // the same commit, under the concern's lock (held here).
            let copy = PostedCopy {
                room: inbound.room_id.clone(),
                message: inbound.event_id.clone(),
            };
            retention::stage_reporter_copies(&self.store, &mut batch, reporter, &reference, &[copy])?;
        }
        self.commit_final(batch, effects).await?;
        self.set_deadlines(schedule);
        Ok(true)
    }

    /// Whether `inbound` is the answer that finished the reporter's last
    /// report, handled again: the bot stopped (a kill) after the decision
    /// and its effects were kept, before the answer was marked handled. What
    /// it led to goes out from the outbox, once; it is not a message with no
    /// report in progress, so nothing more is said.
    fn sent_the_last_report(&self, inbound: &Inbound, reporter: &str) -> anyhow::Result<bool> {
        let again = intake::latest(&self.store, reporter)?
            .is_some_and(|c| c.last_message.as_deref() == Some(inbound.event_id.as_str()));
        if again {
            info!(event = %inbound.event_id, "the answer that finished a report was handled again; nothing more to do");
        }
        Ok(again)
    }

    /// Whether `inbound` was written before the question now asked (a
    /// message Slack delivered late, or again): never taken as its answer,
    /// and not answered. Call under the concern's lock.
    fn written_before_asked(&self, inbound: &Inbound, reporter: &str) -> anyhow::Result<bool> {
        let Some(written) = inbound.written_at else {
            return Ok(false);
        };
        let Some(current) = intake::current(&self.store, reporter)? else {
            return Ok(false);
        };
        // The conversation moved on at `updated_at`, before its question
        // was sent; the chat gives `written` by the bot's clock, never
        // earlier than it was.
        let stale = written < current.updated_at;
        if stale {
            info!(reference = %current.reference, "a message written before the question now asked was not taken as its answer");
        }
        Ok(stale)
    }

    /// A report left too long goes to the lead, marked incomplete, once.
    pub(super) async fn check_unfinished(&self, reporter: &str) -> anyhow::Result<()> {
        let after = chrono::Duration::from_std(self.config.safeguarding.unfinished_after)
            .unwrap_or(crate::conversation::ABANDONED_AFTER);
        let Some(current) = intake::current(&self.store, reporter)? else {
            return Ok(());
        };
        let _one_at_a_time = self.locks.lock(&current.reference).await;
        let mut batch = Batch::new();
        let Some(out) =
            intake::check_unfinished_in(&self.store, &mut batch, &self.flow, reporter, self.now(), after)?
        else {
            return Ok(());
        };
        let out = self.unfinished_for_form(&current.reference.to_string(), out);
        let mut effects = self.effects(format!("unfinished:{}", current.reference));
        let mut schedule = Schedule::new();
        self.plan_outgoing(&mut batch, &mut effects, reporter, out, &mut schedule)?;
        self.commit(batch, effects).await?;
        self.set_deadlines(schedule);
        Ok(())
    }

    /// What the conversation decided, as effects: replies to the reporter's
    /// private chat; the page (the concern's room made first); the record
    /// to the concern's room, as a notice, in parts if it is long.
    pub(super) fn plan_outgoing(
        &self,
        batch: &mut Batch,
        effects: &mut Effects,
        reporter: &str,
        out: Vec<Outgoing>,
        schedule: &mut Schedule,
    ) -> anyhow::Result<()> {
        // The question's buttons go on the last reply, which asks it.
        let mut buttons = out.iter().find_map(|o| match o {
            Outgoing::Buttons(b) => Some(b.clone()),
            _ => None,
        });
        let last_reply = out.iter().rposition(|o| matches!(o, Outgoing::Reply(_)));
        for (i, o) in out.into_iter().enumerate() {
            match o {
                Outgoing::Reply(text) => {
                    let mut message = Message::plain(compose::Text::plain(text));
                    if Some(i) == last_reply {
                        message.buttons = buttons.take();
                    }
                    effects.send(
                        &format!("out{i}"),
                        Target::Private(reporter.to_string()),
                        message,
                        Remember::ReporterCopy(reporter.to_string()),
                        None,
                    )
                }
                Outgoing::Buttons(_) | Outgoing::Finished => {}
                Outgoing::Page {
                    reference, urgent, ..
                } => {
                    self.plan_page(batch, effects, &reference, urgent, reporter, schedule)?;
                }
                Outgoing::Record(record) => {
                    effects.send(
                        &format!("out{i}"),
                        Target::Concern(record.reference.clone()),
                        Message::notice(compose::record(&record, &self.person(reporter), self.tz())),
                        Remember::Nothing,
                        Some(&record.reference),
                    );
                    self.store.stage_audit(
                        batch,
                        self.now(),
                        "bot",
                        "record sent to the escalation room",
                        Some(&record.reference),
                        record.status.label(),
                    );
                }
            }
        }
        Ok(())
    }

    /// Makes sure the reporter has a private chat with the bot: the one
    /// known, if the bot and they are still in it, or a new one.
    async fn ensure_private_chat(&self, effects: &mut Effects, reporter: &str) -> anyhow::Result<()> {
        let target = Target::Private(reporter.to_string());
        if let Some(room) = self.room_of(&target)? {
            if self.is_private_chat_of(&room, reporter).await {
                return Ok(());
            }
        }
        effects.push(
            "privatechat",
            Effect::CreateRoom {
                target,
                spec: RoomSpec {
                    key: random_token(),
                    name: "Safeguarding report".into(),
                    invite: vec![reporter.to_string()],
                    direct: true,
                },
            },
        );
        Ok(())
    }

    /// Whether `room` is still fit to be `user`'s private chat: the bot is
    /// in it, they are, nobody else is (or is invited), and it is
    /// confidential. Anything the chat cannot tell counts as no.
    pub(super) async fn is_private_chat_of(&self, room: &str, user: &str) -> bool {
        let me = self.chat.bot_id();
        self.chat.is_joined(room).await.unwrap_or(false)
            && self.chat.members(room).await.is_ok_and(|m| {
                m.iter().any(|m| m.user == user) && m.iter().all(|m| m.user == user || m.user == me)
            })
            && self.chat.is_confidential(room).await.unwrap_or(false)
    }

    /// Sets the deadlines of decisions just committed.
    pub(super) fn set_deadlines(&self, schedule: Schedule) {
        for (reference, at, generation) in schedule {
            self.timer.schedule(reference, at, generation);
        }
    }

    /// Stages remembering a message in a reporter's private chat as part of
    /// their latest report, to be removed when that concern is deleted
    /// under retention, in `then`, with the concern's lock to hold until it
    /// is written, so a deletion in between is seen (the conversation goes
    /// with the concern). A failure is logged: the conversation goes on.
    pub(super) async fn remember_in_private(
        &self,
        then: &mut super::outbox::Then,
        reporter: &str,
        copy: PostedCopy,
    ) {
        let reference = match intake::reference_of(&self.store, reporter) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                error!(error = %e, "could not tell which report a private message belongs to; it will not be removed under retention");
                return;
            }
        };
        if !then.held.contains_key(&reference) {
            let held = self.locks.lock(&reference).await;
            then.held.insert(reference.clone(), held);
        }
        if let Err(e) =
            retention::stage_reporter_copies(&self.store, &mut then.batch, reporter, &reference, &[copy])
        {
            error!(reference = %reference, error = %e, "a private message could not be remembered for removal under retention");
        }
    }
}

/// A button pressed to answer: what it said, and the question it was for
/// ([`crate::conversation::question_key`]).
pub(super) struct Press<'a> {
    pub label: &'a str,
    pub question: &'a str,
}

/// A random token, unguessable, for a room's creation key.
pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::getrandom(&mut bytes).is_err() {
        // Unique enough to keep one room per request: the time.
        return format!(
            "t{}",
            crate::clock::Clock::now(&crate::clock::SystemClock)
                .timestamp_nanos_opt()
                .unwrap_or_default()
        );
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
