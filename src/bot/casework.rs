//! The leads' follow-up in chat: who may send a lead's command and where,
//! the commands that write (`!note`, `!decision … because …`, `!close`, …)
//! and the reporter's `!add`. The views (`!show`, `!list`, `!stats`,
//! `!export`) are in [`super::views`].
//!
//! The core ([`crate::casework::command`], one file a command) parses and
//! decides; this file checks who may, keeps the casefile, audits every
//! change, and sends. Only
//! the Lead and Deputies see or change a concern; the reporter is told when
//! it is closed or reopened and never sees what the leads wrote.

use chrono::Utc;
use tracing::info;

use super::compose::{self, Text};
use super::intake::Schedule;
use super::outbox::{Effects, Remember, Target};
use super::{Core, Inbound, Kind, Message};
use crate::casework::command::{self, LeadCommand, ReporterNotice};
use crate::casework::retention;
use crate::casework::Casefile;
use crate::concern::Reference;
use crate::escalation::policy;
use crate::escalation::Escalation;
use crate::store::{Batch, Tree};

/// Where a lead's command was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place<'a> {
    /// A concern's own escalation room.
    Concern(&'a Reference),
    /// The leads' room from the config.
    LeadsRoom,
    /// The lead's private room with the bot.
    Private,
}

impl Core {
    /// A lead's command. Returns whether the message was one (and so has
    /// been answered).
    pub(super) async fn lead_command(
        &self,
        inbound: &Inbound,
        body: &str,
        place: Place<'_>,
    ) -> anyhow::Result<bool> {
        let sender = inbound.sender.as_str();
        // An edited command arrives as "* !note …": the entry stays as sent.
        if body.trim_start().starts_with("* !") && self.config.safeguarding.is_responder(sender) {
            if let Some(Ok(c)) = command::parse(body.trim_start().trim_start_matches("* ")) {
                if c.writes() {
                    let text = "Edits are not recorded: the entry stays as it was first sent. To put it right, send !correct and the entry's number, for example: !correct 3 and the right words.";
                    self.notice(inbound, text, "edit")?;
                    return Ok(true);
                }
            }
        }
        let Some(parsed) = command::parse(body) else {
            return Ok(false);
        };
        let now = self.now();
        let word = body.split_whitespace().next().unwrap_or("").to_lowercase();
        // `!help` while making a report is help with the question asked.
        if place == Place::Private
            && parsed == Ok(LeadCommand::Help)
            && (!self.config.safeguarding.is_responder(sender)
                || crate::intake::current(&self.store, sender)?.is_some())
        {
            return Ok(false);
        }
        let reference = match place {
            Place::Concern(r) => Some(r),
            _ => None,
        };
        if !self.config.safeguarding.is_responder(sender) {
            self.store
                .audit(now, sender, "refused: not a lead or deputy", reference, &word)?;
            self.answer(inbound, "leadsonly", compose::leads_only(), false)?;
            return Ok(true);
        }
        let command = match parsed {
            Ok(c) => c,
            Err(how) => {
                self.notice(inbound, &how, "how")?;
                return Ok(true);
            }
        };
        // A concern is shown or changed only where everyone who can read it
        // is a lead or deputy, and the room is encrypted.
        if command != LeadCommand::Help {
            if let Some(why) = self.audience_problem(&inbound.room_id).await? {
                self.store.audit(
                    now,
                    sender,
                    "refused: room not private to the leads",
                    reference,
                    &word,
                )?;
                self.notice(inbound, &why, "audience")?;
                return Ok(true);
            }
        }
        match (&command, place) {
            (c, Place::Concern(reference)) if c.writes() => {
                self.write_entry(reference, &command, inbound).await
            }
            (c, _) if c.writes() => self.notice(
                inbound,
                "Do that in the concern's own room, so it stays with its record. Send !list to see the open concerns.",
                "lead",
            ),
            _ => self.view(inbound, &command, place),
        }?;
        Ok(true)
    }

    /// Why this room is not one to show a concern in, if it is not: someone
    /// in it (or invited) is not a lead or deputy, or it is not confidential.
    async fn audience_problem(&self, room: &str) -> anyhow::Result<Option<String>> {
        let members = self.chat.members(room).await?;
        let me = self.chat.bot_id();
        // Named as last learned: this may run under a concern's lock, where
        // nothing waits on the chat for a name.
        let others: Vec<compose::Person> = members
            .into_iter()
            .map(|m| m.user)
            .filter(|u| *u != me && !self.config.safeguarding.is_responder(u))
            .map(|u| self.person(&u))
            .collect();
        if !others.is_empty() {
            return Ok(Some(format!(
                "I can't show or change concerns here: this room has people in it who are not the Lead or a Deputy ({}). Nothing has been shown or changed. Use the concern's own room, or your private chat with me.",
                compose::names(&others)
            )));
        }
        if !self.chat.is_confidential(room).await? {
            return Ok(Some(
                "I can't show or change concerns here, because this room is not encrypted. Nothing has been shown or changed. Turn on encryption for the room, or use your private chat with me."
                    .to_string(),
            ));
        }
        Ok(None)
    }

    /// Answers with a notice (which does not make phones ring).
    pub(super) fn notice(&self, inbound: &Inbound, text: &str, tag: &str) -> anyhow::Result<()> {
        self.answer(inbound, tag, Text::plain(text), true)
    }

    pub(super) fn casefile(&self, reference: &Reference) -> anyhow::Result<Casefile> {
        Ok(self
            .store
            .get_item::<Casefile>(Tree::Casefiles, &reference.to_string())?
            .unwrap_or_else(|| Casefile::new(reference.clone())))
    }

    /// Appends an entry to a concern's casefile, under the concern's lock,
    /// with what follows (paging stops on close or resumes on reopen, the
    /// reporter is told) and the reply, all in one commit. The same message
    /// handled again records nothing more.
    async fn write_entry(
        &self,
        reference: &Reference,
        command: &LeadCommand,
        inbound: &Inbound,
    ) -> anyhow::Result<()> {
        let _one_at_a_time = self.locks.lock(reference).await;
        // Retention may have deleted it since the room was looked up.
        if self.store.get_concern(reference)?.is_none() {
            let text =
                format!("{reference} has been deleted under the retention period, so nothing was recorded.");
            return self.notice(inbound, &text, "lead");
        }
        let now = self.now();
        let case = self.casefile(reference)?;
        if let Some(entry) = case.entry_from(&inbound.event_id) {
            info!(reference = %reference, entry = entry.number, "an entry handled again was not recorded twice");
            return Ok(());
        }
        let applied = match command::apply(
            &case,
            command,
            &self.config.safeguarding.outcomes,
            &inbound.sender,
            now,
        ) {
            Ok(a) => a,
            Err(refused) => return self.notice(inbound, &refused, "lead"),
        };
        let mut batch = Batch::new();
        let mut effects = self.effects(&inbound.event_id);
        let mut schedule = Schedule::new();
        let casefile = applied
            .casefile
            .clone()
            .sourced(&inbound.event_id)
            .named(&self.person(&inbound.sender).name);
        self.store
            .stage_item(&mut batch, Tree::Casefiles, &reference.to_string(), &casefile)?;
        let more = self.after_entry(&mut batch, &mut effects, &mut schedule, reference, &applied, now)?;
        let reply = format!("{}{more}", applied.reply);
        effects.send(
            "lead",
            Target::Room(inbound.room_id.clone()),
            Message::notice(Text::plain(reply)),
            Remember::Nothing,
            None,
        );
        let what = format!("entry {}: {}", applied.entry.number, applied.entry.kind.heading());
        self.store.audit(
            now,
            &inbound.sender,
            "casefile entry added",
            Some(reference),
            &what,
        )?;
        self.commit(batch, effects).await?;
        self.set_deadlines(schedule);
        info!(reference = %reference, entry = applied.entry.number, "casefile entry added");
        Ok(())
    }

    /// What follows a kept entry: paging stops on close or resumes on
    /// reopen, the reporter is told. Returns what to add to the reply.
    fn after_entry(
        &self,
        batch: &mut Batch,
        effects: &mut Effects,
        schedule: &mut Schedule,
        reference: &Reference,
        applied: &command::Applied,
        now: chrono::DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let key = reference.to_string();
        let mut more = String::new();
        let esc = self.store.get_item::<Escalation>(Tree::Escalations, &key)?;
        if let Some(esc) = &esc {
            if applied.close_escalation {
                self.store
                    .stage_item(batch, Tree::Escalations, &key, &esc.close())?;
            } else if applied.tell_reporter == Some(ReporterNotice::Reopened) {
                let reopened = esc.reopen(now);
                let decision = policy::decide(&reopened, &self.policy, &self.rota()?, now);
                self.plan_decision(batch, effects, decision, schedule)?;
            } else if esc.acknowledged.is_none() && !esc.closed {
                more.push_str(" It is not acknowledged yet, so paging carries on until someone sends !ack.");
            }
        }
        if let Some(notice) = applied.tell_reporter {
            let reporter = match &esc {
                Some(e) => Some(e.reporter.clone()),
                None => self.store.get_concern(reference)?.map(|r| r.reporter),
            };
            let (text, tag) = match notice {
                ReporterNotice::Closed => (compose::reporter_told_closed(reference), "closed"),
                ReporterNotice::Reopened => (compose::reporter_told_reopened(reference), "reopened"),
            };
            let private = match &reporter {
                Some(r) => self.room_of(&Target::Private(r.clone()))?.map(|_| r.clone()),
                None => None,
            };
            match private {
                Some(reporter) => {
                    effects.send(
                        &format!("told{tag}"),
                        Target::Private(reporter),
                        Message::plain(text),
                        Remember::CopyOf(reference.clone()),
                        Some(reference),
                    );
                    self.store
                        .audit(now, "bot", &format!("reporter told {tag}"), Some(reference), "")?;
                    more.push_str(match notice {
                        ReporterNotice::Closed => " The reporter has been told it is closed, not the outcome.",
                        ReporterNotice::Reopened => " The reporter has been told.",
                    });
                }
                None => more.push_str(
                    " I could not tell the reporter: I have no private room with them. Tell them yourself if they should know.",
                ),
            }
        }
        Ok(more)
    }

    /// `!add SG-0042 TEXT` from a reporter in their private room. Returns
    /// whether the message was one.
    pub(super) async fn reporter_add(&self, inbound: &Inbound, body: &str) -> anyhow::Result<bool> {
        let Some(parsed) = command::parse_add(body) else {
            return Ok(false);
        };
        let (reference, text) = match parsed {
            Ok(p) => p,
            Err(how) => {
                self.answer(inbound, "addhow", Text::plain(how), false)?;
                return Ok(true);
            }
        };
        let now = self.now();
        let theirs = |store: &crate::store::Store| -> anyhow::Result<Option<String>> {
            Ok(store
                .get_concern(&reference)?
                .map(|r| r.reporter)
                .filter(|r| *r == inbound.sender))
        };
        // Whose it is, before anything else (nobody learns whether someone
        // else's reference exists, and no lock is made for it), and again
        // under the lock, as retention may have deleted it since.
        let _one_at_a_time = match theirs(&self.store)? {
            Some(_) => self.locks.lock(&reference).await,
            None => return self.refuse_add(inbound, &reference, now),
        };
        let Some(reporter) = theirs(&self.store)? else {
            return self.refuse_add(inbound, &reference, now);
        };
        let case = self.casefile(&reference)?;
        if case.entry_from(&inbound.event_id).is_some() {
            return Ok(true);
        }
        let (casefile, entry) =
            match command::add_from_reporter(&case, Some(&reporter), &inbound.sender, &text, now) {
                Ok(done) => done,
                Err(reply) => {
                    self.answer(inbound, "addrefused", Text::plain(reply), false)?;
                    return Ok(true);
                }
            };
        let casefile = casefile
            .sourced(&inbound.event_id)
            .named(&self.person(&inbound.sender).name);
        let mut batch = Batch::new();
        self.store
            .stage_item(&mut batch, Tree::Casefiles, &reference.to_string(), &casefile)?;
        let mut effects = self.effects(&inbound.event_id);
        self.tell_leads_addition(&mut effects, &reference, &casefile, &entry, &text)
            .await?;
        effects.send(
            "added",
            Target::Room(inbound.room_id.clone()),
            Message::plain(compose::reporter_addition_kept(&reference)),
            Remember::CopyOf(reference.clone()),
            Some(&reference),
        );
        self.store.audit(
            now,
            &inbound.sender,
            "reporter added",
            Some(&reference),
            &format!("entry {}", entry.number),
        )?;
        self.commit(batch, effects).await?;
        // Their words, in their private room: removed with the concern.
        let copy = retention::PostedCopy {
            room: inbound.room_id.clone(),
            message: inbound.event_id.clone(),
        };
        if let Err(e) = retention::remember_copies(&self.store, &reference, &[copy]) {
            tracing::error!(reference = %reference, error = %e, "a message about a concern could not be remembered for removal under retention");
        }
        info!(reference = %reference, entry = entry.number, "the reporter added to a concern");
        Ok(true)
    }

    /// Refuses an `!add` to a concern that is not the sender's (or no
    /// longer exists), and audits the attempt. Returns `Ok(true)`: answered.
    fn refuse_add(
        &self,
        inbound: &Inbound,
        reference: &Reference,
        now: chrono::DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        self.store.audit(
            now,
            &inbound.sender,
            "refused: not their concern",
            None,
            &reference.to_string(),
        )?;
        self.answer(
            inbound,
            "addrefused",
            Text::plain(command::not_theirs(reference)),
            false,
        )?;
        Ok(true)
    }

    /// Tells the concern's room what the reporter added (or, if someone
    /// else is in it, only that they added something); mentions whoever has
    /// it if the concern is closed.
    async fn tell_leads_addition(
        &self,
        effects: &mut Effects,
        reference: &Reference,
        casefile: &Casefile,
        entry: &crate::casework::Entry,
        text: &str,
    ) -> anyhow::Result<()> {
        let Some(esc) = self
            .store
            .get_item::<Escalation>(Tree::Escalations, &reference.to_string())?
        else {
            return Ok(());
        };
        let target = Target::Concern(reference.clone());
        let private_to_leads = match self.room_of(&target)? {
            Some(room) => self.audience_problem(&room).await?.is_none(),
            // Not made yet: the bot makes it for the leads alone.
            None => true,
        };
        let words = if private_to_leads {
            compose::leads_told_addition(reference, entry.number, text)
        } else {
            // Someone else is in the concern's room: say only that there is more.
            compose::leads_told_addition_without_words(reference, entry.number)
        };
        effects.send(
            "leadsadded",
            target.clone(),
            Message::notice(words),
            Remember::Nothing,
            Some(reference),
        );
        if casefile.status() == crate::casework::CaseStatus::Closed {
            // A notice does not ring and a closed concern's room is quiet:
            // mention whoever has it, with no detail.
            let who = esc
                .acknowledged
                .as_ref()
                .map_or(self.config.safeguarding.lead.clone(), |a| a.by.clone());
            let who = self.person_in(Some(&esc), &who);
            let text = compose::closed_concern_added_to(reference, &who);
            effects.send(
                "leadsaddedclosed",
                target,
                Message::new(Kind::Ping(vec![who.id.clone()]), Text::plain(text.plain)).naming(vec![who]),
                Remember::Nothing,
                Some(reference),
            );
        }
        Ok(())
    }
}
