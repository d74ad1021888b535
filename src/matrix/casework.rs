//! The leads' follow-up in chat: `!note`, `!decision … because …`, `!close`,
//! `!show`, `!list`, `!stats`, `!export` and the reporter's `!add`.
//!
//! The core ([`crate::casework`]) parses and decides; this file checks who
//! may, keeps the casefile, audits every view and change, and sends. Only
//! the Lead and Deputies see or change a concern; the reporter is told when
//! it is closed or reopened and never sees what the leads wrote.

use anyhow::Context as _;
use chrono::Utc;
use matrix_sdk::attachment::AttachmentConfig;
use matrix_sdk::room::{MessagesOptions, Room};
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::events::Mentions;
use matrix_sdk::ruma::{OwnedTransactionId, OwnedUserId};
use matrix_sdk::RoomMemberships;
use tracing::info;

use super::compose::{self, Text};
use super::{Bot, Inbound};
use crate::casework::command::{self, LeadCommand, ReporterNotice};
use crate::casework::retention;
use crate::casework::stats::{self, Stats};
use crate::casework::view::{self, CaseView};
use crate::casework::Casefile;
use crate::concern::Reference;
use crate::escalation::policy;
use crate::escalation::Escalation;
use crate::export::{self, ExportMeta, Format};
use crate::store::Tree;

/// Where a lead's command was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Place<'a> {
    /// A concern's own escalation room.
    Concern(&'a Reference),
    /// The leads' room from the config.
    LeadsRoom,
    /// The lead's private room with the bot.
    Private,
}

/// The longest message sent at once, in bytes (Matrix allows 64 KiB for a
/// whole event, encrypted); a longer `!show` goes in parts.
const MAX_MESSAGE_BYTES: usize = 24_000;

impl Bot {
    /// A lead's command. Returns whether the message was one (and so has
    /// been answered).
    pub(super) async fn lead_command(
        &self,
        room: &Room,
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
                    self.notice(room, inbound, text, "edit").await?;
                    return Ok(true);
                }
            }
        }
        let Some(parsed) = command::parse(body) else {
            return Ok(false);
        };
        let now = Utc::now();
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
            self.answer(room, inbound, compose::leads_only(), "leadsonly")
                .await?;
            return Ok(true);
        }
        let command = match parsed {
            Ok(c) => c,
            Err(how) => {
                self.notice(room, inbound, &how, "how").await?;
                return Ok(true);
            }
        };
        // A concern is shown or changed only where everyone who can read it
        // is a lead or deputy, and the room is encrypted.
        if command != LeadCommand::Help {
            if let Some(why) = self.audience_problem(room).await? {
                self.store.audit(
                    now,
                    sender,
                    "refused: room not private to the leads",
                    reference,
                    &word,
                )?;
                self.notice(room, inbound, &why, "audience").await?;
                return Ok(true);
            }
        }
        let reply = match (&command, place) {
            (LeadCommand::Help, Place::Concern(_)) => command::help_in_concern_room(),
            (LeadCommand::Help, _) => command::help_in_leads_room(),
            (c, Place::Concern(reference)) if c.writes() => {
                self.write_entry(reference, &command, inbound).await?
            }
            (c, _) if c.writes() => {
                "Do that in the concern's own room, so it stays with its record. Send !list to see the open concerns."
                    .to_string()
            }
            (LeadCommand::Category(None), Place::Concern(reference)) => {
                self.store
                    .audit(now, sender, "viewed", Some(reference), "!category")?;
                command::category_choices(&self.casefile(reference)?)
            }
            (LeadCommand::Show(Some(asked)), Place::Concern(own)) if asked != own => format!(
                "In this room you can see only {own}, because the people here were chosen for it. To see {asked}, use the leads' room or your private chat with the bot."
            ),
            (LeadCommand::Show(asked), _) => {
                let reference = match (asked, place) {
                    (Some(r), _) => r.clone(),
                    (None, Place::Concern(r)) => r.clone(),
                    (None, _) => {
                        let text = "Which concern? Write it like: !show SG-0042. Send !list to see the open ones.";
                        self.notice(room, inbound, text, "show").await?;
                        return Ok(true);
                    }
                };
                match CaseView::load(&self.store, &reference)? {
                    None => format!("There is no concern {reference}. Send !list to see the open ones."),
                    Some(view) => {
                        self.store.audit(now, sender, "viewed", Some(&reference), "!show")?;
                        info!(reference = %reference, "concern shown to a lead");
                        let text = view.show_text(self.tz());
                        // Outside the concern's own room (cleared whole when
                        // it is deleted), each part is remembered to remove.
                        let elsewhere = match place {
                            Place::Concern(_) => None,
                            _ => Some(&reference),
                        };
                        self.answer_long(room, inbound, &text, "show", elsewhere).await?;
                        return Ok(true);
                    }
                }
            }
            (LeadCommand::List, _) => {
                let cases = CaseView::all(&self.store)?;
                self.store.audit(now, sender, "viewed", None, "!list")?;
                view::list_text(&cases, now)
            }
            (LeadCommand::Stats(since), _) => {
                let since = match since.as_deref() {
                    None => None,
                    Some(text) => match stats::parse_since(text, self.tz()) {
                        Ok(t) => Some(t),
                        Err(how) => {
                            self.notice(room, inbound, &how, "stats").await?;
                            return Ok(true);
                        }
                    },
                };
                let cases = CaseView::all(&self.store)?;
                self.store.audit(now, sender, "viewed", None, "!stats")?;
                Stats::compute(&cases, since).to_text(since, self.tz())
            }
            (LeadCommand::Export(format), Place::Concern(reference)) => {
                self.export_to_room(room, inbound, reference, format.as_deref()).await?;
                return Ok(true);
            }
            (LeadCommand::Export(_), _) => {
                "Send !export in the concern's own room, and the record is put there as a file.".to_string()
            }
            (LeadCommand::Category(None), _) => {
                "Send !category in the concern's own room to see or set its category.".to_string()
            }
            // Every command that writes was handled above.
            (_, _) => command::help_in_leads_room(),
        };
        self.notice(room, inbound, &reply, "lead").await?;
        Ok(true)
    }

    /// Why this room is not one to show a concern in, if it is not: someone
    /// in it (or invited) is not a lead or deputy, or it is not encrypted.
    async fn audience_problem(&self, room: &Room) -> anyhow::Result<Option<String>> {
        let members = room
            .members(RoomMemberships::JOIN | RoomMemberships::INVITE)
            .await
            .context("could not read the room's members")?;
        let me = self.client.user_id().map(|u| u.to_string());
        let others: Vec<String> = members
            .iter()
            .map(|m| m.user_id().to_string())
            .filter(|u| Some(u) != me.as_ref() && !self.config.safeguarding.is_responder(u))
            .collect();
        if !others.is_empty() {
            return Ok(Some(format!(
                "I can't show or change concerns here: this room has people in it who are not the Lead or a Deputy ({}). Nothing has been shown or changed. Use the concern's own room, or your private chat with me.",
                others.join(", ")
            )));
        }
        let encrypted = room
            .latest_encryption_state()
            .await
            .context("could not tell whether the room is encrypted")?
            .is_encrypted();
        if !encrypted {
            return Ok(Some(
                "I can't show or change concerns here, because this room is not encrypted. Nothing has been shown or changed. Turn on encryption for the room, or use your private chat with me."
                    .to_string(),
            ));
        }
        Ok(None)
    }

    /// Answers with a notice (which does not make phones ring).
    async fn notice(&self, room: &Room, inbound: &Inbound, text: &str, tag: &str) -> anyhow::Result<()> {
        self.send(
            room,
            Text::plain(text),
            &format!("{}-{tag}", inbound.event_id),
            true,
        )
        .await
    }

    fn casefile(&self, reference: &Reference) -> anyhow::Result<Casefile> {
        Ok(self
            .store
            .get_item::<Casefile>(Tree::Casefiles, &reference.to_string())?
            .unwrap_or_else(|| Casefile::new(reference.clone())))
    }

    /// Appends an entry to a concern's casefile, under the concern's lock,
    /// and carries out what follows: paging stops on close, the reporter is
    /// told. Returns the reply for the room.
    async fn write_entry(
        &self,
        reference: &Reference,
        command: &LeadCommand,
        inbound: &Inbound,
    ) -> anyhow::Result<String> {
        let _one_at_a_time = self.escalation_lock(reference).await;
        // Retention may have deleted it since the room was looked up.
        if self.store.get_concern(reference)?.is_none() {
            return Ok(format!(
                "{reference} has been deleted under the retention period, so nothing was recorded."
            ));
        }
        let now = Utc::now();
        let case = self.casefile(reference)?;
        let applied = match command::apply(
            &case,
            command,
            &self.config.safeguarding.outcomes,
            &inbound.sender,
            now,
        ) {
            Ok(a) => a,
            Err(refused) => return Ok(refused),
        };
        let key = reference.to_string();
        self.store.put_item(Tree::Casefiles, &key, &applied.casefile)?;
        let what = format!("entry {}: {}", applied.entry.number, applied.entry.kind.heading());
        self.store.audit(
            now,
            &inbound.sender,
            "casefile entry added",
            Some(reference),
            &what,
        )?;
        info!(reference = %reference, entry = applied.entry.number, "casefile entry added");
        // The entry is kept: from here on a failure is said plainly, never
        // as "send it again" (which would record it twice).
        match self.after_entry(reference, &applied, inbound, now).await {
            Ok(more) => Ok(format!("{}{more}", applied.reply)),
            Err(e) => {
                tracing::error!(reference = %reference, error = %format!("{e:#}"), "an entry was kept but what follows it failed");
                Ok(format!(
                    "{} But something after it did not work (paging or telling the reporter); whoever runs the bot can see what went wrong in its log. Do not send it again.",
                    applied.reply
                ))
            }
        }
    }

    /// What follows a kept entry: paging stops on close or resumes on
    /// reopen, the reporter is told. Returns what to add to the reply.
    async fn after_entry(
        &self,
        reference: &Reference,
        applied: &command::Applied,
        inbound: &Inbound,
        now: chrono::DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let key = reference.to_string();
        let mut more = String::new();
        let esc = self.store.get_item::<Escalation>(Tree::Escalations, &key)?;
        if let Some(esc) = &esc {
            if applied.close_escalation {
                self.store.put_item(Tree::Escalations, &key, &esc.close())?;
            } else if applied.tell_reporter == Some(ReporterNotice::Reopened) {
                // Kept open first, so a failure below is retried, never lost.
                let reopened = esc.reopen(now);
                self.store.put_item(Tree::Escalations, &key, &reopened)?;
                let decision = policy::decide(&reopened, &self.policy, &self.rota()?, now);
                if let Err(e) = self.apply_decision(decision).await {
                    tracing::error!(reference = %reference, error = %format!("{e:#}"), "paging after a reopen failed; trying again shortly");
                    let _ = self.queue.send((
                        super::escalation_key(reference),
                        super::Work::Recheck {
                            reference: reference.clone(),
                        },
                    ));
                }
            } else if esc.acknowledged.is_none() && !esc.closed {
                more.push_str(" It is not acknowledged yet, so paging carries on until someone sends !ack.");
            }
        }
        if let Some(notice) = applied.tell_reporter {
            let reporter = match &esc {
                Some(e) => Some(e.reporter.clone()),
                None => self.store.get_concern(reference)?.map(|r| r.reporter),
            };
            let private = match &reporter {
                Some(r) => self.private_room(r)?,
                None => None,
            };
            let (text, tag) = match notice {
                ReporterNotice::Closed => (compose::reporter_told_closed(reference), "closed"),
                ReporterNotice::Reopened => (compose::reporter_told_reopened(reference), "reopened"),
            };
            match private {
                Some(private) => {
                    let txn = format!("{}-told{tag}", inbound.event_id);
                    self.tell_reporter(&private, reference, text, &txn).await?;
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
    pub(super) async fn reporter_add(
        &self,
        room: &Room,
        inbound: &Inbound,
        body: &str,
    ) -> anyhow::Result<bool> {
        let Some(parsed) = command::parse_add(body) else {
            return Ok(false);
        };
        let (reference, text) = match parsed {
            Ok(p) => p,
            Err(how) => {
                self.answer(room, inbound, Text::plain(how), "addhow").await?;
                return Ok(true);
            }
        };
        let now = Utc::now();
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
            Some(_) => self.escalation_lock(&reference).await,
            None => return self.refuse_add(room, inbound, &reference, now).await,
        };
        let Some(reporter) = theirs(&self.store)? else {
            return self.refuse_add(room, inbound, &reference, now).await;
        };
        let case = self.casefile(&reference)?;
        let (casefile, entry) =
            match command::add_from_reporter(&case, Some(&reporter), &inbound.sender, &text, now) {
                Ok(done) => done,
                Err(reply) => {
                    self.answer(room, inbound, Text::plain(reply), "addrefused")
                        .await?;
                    return Ok(true);
                }
            };
        self.store
            .put_item(Tree::Casefiles, &reference.to_string(), &casefile)?;
        // Their words, in their private room: removed with the concern.
        self.remember_copy(&reference, room, &inbound.event_id);
        self.store.audit(
            now,
            &inbound.sender,
            "reporter added",
            Some(&reference),
            &format!("entry {}", entry.number),
        )?;
        info!(reference = %reference, entry = entry.number, "the reporter added to a concern");
        // Kept: from here on a failure is said plainly, never "send it again".
        if let Err(e) = self
            .tell_leads_addition(&reference, &casefile, &entry, &text, inbound)
            .await
        {
            tracing::error!(reference = %reference, error = %format!("{e:#}"), "an addition was kept but the leads could not be told");
            let reply = format!(
                "Thank you. I have added that to {reference}, but I could not pass it on to the Safeguarding Lead just now; they will see it in the record. If it is urgent, tell them directly."
            );
            let txn = format!("{}-addednottold", inbound.event_id);
            self.tell_reporter(room, &reference, Text::plain(reply), &txn)
                .await?;
            return Ok(true);
        }
        let txn = format!("{}-added", inbound.event_id);
        self.tell_reporter(
            room,
            &reference,
            compose::reporter_addition_kept(&reference),
            &txn,
        )
        .await?;
        Ok(true)
    }

    /// Refuses an `!add` to a concern that is not the sender's (or no
    /// longer exists), and audits the attempt. Returns `Ok(true)`: answered.
    async fn refuse_add(
        &self,
        room: &Room,
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
            room,
            inbound,
            Text::plain(command::not_theirs(reference)),
            "addrefused",
        )
        .await?;
        Ok(true)
    }

    /// Tells the concern's room what the reporter added (or, if someone
    /// else is in it, only that they added something); mentions whoever has
    /// it if the concern is closed.
    async fn tell_leads_addition(
        &self,
        reference: &Reference,
        casefile: &Casefile,
        entry: &crate::casework::Entry,
        text: &str,
        inbound: &Inbound,
    ) -> anyhow::Result<()> {
        if let Some(esc) = self
            .store
            .get_item::<Escalation>(Tree::Escalations, &reference.to_string())?
        {
            let lead_room = self.room(&esc.room)?;
            let txn = format!("{}-added", inbound.event_id);
            let text = match self.audience_problem(&lead_room).await? {
                None => compose::leads_told_addition(reference, entry.number, text),
                // Someone else is in the concern's room: say only that there is more.
                Some(_) => compose::leads_told_addition_without_words(reference, entry.number),
            };
            self.send(&lead_room, text, &txn, true).await?;
            if casefile.status() == crate::casework::CaseStatus::Closed {
                // A notice does not ring and a closed concern's room is quiet:
                // mention whoever has it, with no detail.
                let who = esc
                    .acknowledged
                    .as_ref()
                    .map_or(self.config.safeguarding.lead.clone(), |a| a.by.clone());
                let text = compose::closed_concern_added_to(reference, &who);
                let ids: Vec<OwnedUserId> = OwnedUserId::try_from(who.as_str()).into_iter().collect();
                let content = RoomMessageEventContent::text_plain(text.plain)
                    .add_mentions(Mentions::with_user_ids(ids));
                lead_room
                    .send(content)
                    .with_transaction_id(OwnedTransactionId::from(format!("{txn}-closed")))
                    .await
                    .context("could not tell the lead about an addition to a closed concern")?;
            }
        }
        Ok(())
    }

    /// Renders the record and uploads it to the concern's room (encrypted
    /// in an encrypted room, by the SDK).
    async fn export_to_room(
        &self,
        room: &Room,
        inbound: &Inbound,
        reference: &Reference,
        format: Option<&str>,
    ) -> anyhow::Result<()> {
        let format = match format.map(str::parse::<Format>).transpose() {
            Ok(f) => f.unwrap_or(Format::Pdf),
            Err(e) => {
                self.answer(
                    room,
                    inbound,
                    Text::plain(format!("{e}. For example: !export pdf")),
                    "export",
                )
                .await?;
                return Ok(());
            }
        };
        let Some(view) = CaseView::load(&self.store, reference)? else {
            anyhow::bail!("the concern's record is missing from the store");
        };
        let now = Utc::now();
        let meta = ExportMeta {
            organisation: &self.config.safeguarding.organisation,
            tz: self.tz(),
            generated_at: now,
            generated_by: &inbound.sender,
        };
        let data = export::render(&view, format, &meta);
        if data.is_empty() {
            anyhow::bail!("the {} export came out empty", format.label());
        }
        let mime: mime::Mime = format.mime().parse().context("a bad MIME type for an export")?;
        self.store.audit(
            now,
            &inbound.sender,
            "exported",
            Some(reference),
            &format!("{} to the concern's room", format.label()),
        )?;
        let caption = format!(
            "{} as {}, for {}. It holds special-category personal data: share it only with those who need to know.",
            reference,
            format.label(),
            inbound.sender
        );
        let config = AttachmentConfig::new()
            .txn_id(OwnedTransactionId::from(format!("{}-export", inbound.event_id)))
            .caption(Some(
                matrix_sdk::ruma::events::room::message::TextMessageEventContent::plain(caption),
            ));
        if let Err(e) = room
            .send_attachment(export::file_name(reference, format), &mime, data, config)
            .await
        {
            self.store.audit(
                Utc::now(),
                &inbound.sender,
                "export failed",
                Some(reference),
                "the upload to the concern's room did not work",
            )?;
            return Err(anyhow::Error::new(e).context("could not upload the export"));
        }
        info!(reference = %reference, "concern exported to its room");
        Ok(())
    }

    /// Sends a long text in parts, split at line ends. With `copy_of`, each
    /// part is remembered as a copy of that concern, removed when the
    /// concern is deleted under retention.
    async fn answer_long(
        &self,
        room: &Room,
        inbound: &Inbound,
        text: &str,
        tag: &str,
        copy_of: Option<&Reference>,
    ) -> anyhow::Result<()> {
        for (i, part) in split_message(text, MAX_MESSAGE_BYTES).into_iter().enumerate() {
            let txn = format!("{}-{tag}{i}", inbound.event_id);
            let sent = self.send_for_id(room, Text::plain(&part), &txn, true).await?;
            if let Some(reference) = copy_of {
                let _one_at_a_time = self.escalation_lock(reference).await;
                self.remember_copy(reference, room, sent.as_str());
            }
        }
        Ok(())
    }
}

/// Once a day (first a few seconds after start, so rooms of concerns deleted
/// from the command line are cleared soon), deletes closed concerns whose
/// retention period has passed, audits each deletion, and clears and leaves
/// their rooms. While some rooms or messages are still to be cleared (the
/// bot has not synced them yet, or the homeserver refused), it tries again
/// in ten minutes, up to six times, rather than waiting a day.
pub(super) async fn retention_job(
    bot: std::sync::Arc<Bot>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    /// Retries at ten minutes before falling back to once a day, so
    /// something that can never be cleared does not keep the bot busy.
    const QUICK_RETRIES: u32 = 6;
    let mut wait = std::time::Duration::from_secs(5);
    let mut quick_retries = 0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = std::time::Duration::from_secs(24 * 60 * 60);
        let result = bot.retention_sweep().await;
        match result {
            // Rooms or messages not cleared yet (not synced yet, or the
            // homeserver refused): sooner than tomorrow, a few times.
            Ok(true) if quick_retries < QUICK_RETRIES => {
                quick_retries += 1;
                wait = std::time::Duration::from_secs(10 * 60);
            }
            Ok(true) => {
                tracing::warn!("some rooms or messages of deleted concerns could still not be cleared; trying again once a day");
            }
            _ => quick_retries = 0,
        }
        if let Err(e) = result {
            if let Some(leads) = &bot.config.safeguarding.leads_room {
                let text = "The daily deletion of closed concerns past their retention period did not work today. It will try again tomorrow; ask whoever runs the bot to look at its log.";
                let _ = bot
                    .tell_room(
                        leads,
                        text,
                        &format!("retention-failed-{}", Utc::now().date_naive()),
                    )
                    .await;
            }
            tracing::error!(error = %format!("{e:#}"), "the daily retention sweep failed; it runs again tomorrow");
        }
    }
}

impl Bot {
    /// Deletes each closed concern past its period, under the concern's
    /// lock so a `!reopen` or `!add` just before is seen; then clears the
    /// rooms of deleted concerns (also those deleted from the command line
    /// while the bot was stopped). Returns whether some rooms or messages
    /// are still to be cleared.
    async fn retention_sweep(&self) -> anyhow::Result<bool> {
        let retention = self.config.safeguarding.retention;
        let due = retention::sweep(&self.store, retention, Utc::now(), true, "bot")
            .context("could not read which closed concerns are past their retention period")?;
        let mut deleted = 0;
        for reference in due {
            let _one_at_a_time = self.escalation_lock(&reference).await;
            if retention::delete_if_due(&self.store, &reference, retention, Utc::now(), "bot")
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
        Ok(self.clear_retired_rooms().await)
    }

    /// For each room of a deleted concern: removes (redacts) every message
    /// in it, says why, and leaves. A room is forgotten from the list only
    /// once that is done; what fails is tried again next time. Returns
    /// whether anything is left to clear.
    async fn clear_retired_rooms(&self) -> bool {
        let mut left = self.remove_retired_messages().await;
        let rooms = match retention::retired_rooms(&self.store) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "could not read the rooms of deleted concerns");
                return true;
            }
        };
        for id in rooms {
            let room = self.room(id.as_str()).ok();
            let done = match room {
                // Not known yet (before the first sync): try again next time.
                None => {
                    info!(room = %id, "the room of a deleted concern is not known to the bot yet; clearing it later");
                    false
                }
                // The bot is no longer in it: nothing more it can do.
                Some(room) if room.state() != matrix_sdk::RoomState::Joined => true,
                Some(room) => match self.clear_room(&room).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!(room = %id, error = %format!("{e:#}"), "could not clear the room of a deleted concern; trying again next time");
                        false
                    }
                },
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

    /// Removes (redacts) each message that showed a deleted concern outside
    /// its own room (a `!show` in the leads' room or a private chat). A
    /// message is forgotten once removed, or once the bot is no longer in
    /// its room; what fails is tried again next time. Returns whether any
    /// are left.
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
            let room = self.room(copy.room.as_str()).ok();
            let event = <&matrix_sdk::ruma::EventId>::try_from(copy.message.as_str());
            let removed = match (room, event) {
                // Not a message id: nothing anyone can remove.
                (_, Err(_)) => true,
                // Not known yet (before the first sync): try again next time.
                (None, _) => {
                    info!(room = %copy.room, "a message of a deleted concern is in a room not known to the bot yet; removing it later");
                    false
                }
                (Some(room), _) if room.state() != matrix_sdk::RoomState::Joined => true,
                (Some(room), Ok(event)) => {
                    match room.redact(event, Some("retention period passed"), None).await {
                        Ok(_) => true,
                        // Someone else's message in a room where the bot may
                        // not remove others' (a private chat they started).
                        Err(e)
                            if matches!(
                                e.client_api_error_kind(),
                                Some(matrix_sdk::ruma::api::error::ErrorKind::Forbidden)
                            ) =>
                        {
                            tracing::warn!(room = %copy.room, "not allowed to remove a message of a deleted concern; whoever sent it can delete it");
                            true
                        }
                        Err(e) => {
                            tracing::warn!(room = %copy.room, error = %e, "could not remove a message of a deleted concern; trying again next time");
                            false
                        }
                    }
                }
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

    async fn clear_room(&self, room: &Room) -> anyhow::Result<()> {
        let mut from: Option<String> = None;
        let mut redacted = 0usize;
        loop {
            let mut options = MessagesOptions::backward();
            options.from = from.clone();
            let page = room
                .messages(options)
                .await
                .context("could not read the room's messages")?;
            for event in &page.chunk {
                let raw = event.raw();
                let is_state = raw
                    .get_field::<serde_json::Value>("state_key")
                    .ok()
                    .flatten()
                    .is_some();
                let kind = raw.get_field::<String>("type").ok().flatten().unwrap_or_default();
                let already = raw
                    .get_field::<serde_json::Value>("unsigned")
                    .ok()
                    .flatten()
                    .is_some_and(|u| u.get("redacted_because").is_some());
                if is_state || already || kind == "m.room.redaction" {
                    continue;
                }
                if let Some(event_id) = event.event_id() {
                    room.redact(&event_id, Some("retention period passed"), None)
                        .await
                        .context("could not remove a message")?;
                    redacted += 1;
                }
            }
            match page.end {
                Some(end) if !page.chunk.is_empty() && Some(&end) != from.as_ref() => from = Some(end),
                _ => break,
            }
        }
        let text = "The concern this room was for has been deleted, as the retention period says, and its messages removed. I am leaving; you can leave too.";
        self.send(
            room,
            Text::plain(text),
            &format!("retired-{}", room.room_id()),
            true,
        )
        .await?;
        room.leave().await.context("could not leave the room")?;
        info!(room = %room.room_id(), messages = redacted, "cleared and left the room of a deleted concern");
        Ok(())
    }
}

/// Splits `text` into parts of at most `max` bytes, at line ends where it
/// can, never inside a character.
fn split_message(text: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        let mut line = line;
        loop {
            if current.len() + line.len() <= max {
                current.push_str(line);
                break;
            }
            if !current.is_empty() {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            // One line longer than a message: cut it at a character boundary.
            let mut cut = max.min(line.len());
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 {
                cut = line.chars().next().map_or(line.len(), char::len_utf8);
            }
            parts.push(line[..cut].to_string());
            line = &line[cut..];
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::split_message;

    #[test]
    fn long_messages_split_at_line_ends_and_lose_nothing() {
        let text = format!("{}\n{}\n{}", "a".repeat(10), "b".repeat(25), "c".repeat(5));
        let parts = split_message(&text, 12);
        assert!(parts.iter().all(|p| p.len() <= 12), "{parts:?}");
        assert_eq!(parts.concat(), text);
        assert_eq!(parts[0], format!("{}\n", "a".repeat(10)));
        // Multi-byte characters are never cut in half.
        let wide = "é".repeat(20);
        let parts = split_message(&wide, 7);
        assert!(parts.iter().all(|p| p.len() <= 7), "{parts:?}");
        assert_eq!(parts.concat(), wide);
    }
}
