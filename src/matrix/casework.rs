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
use matrix_sdk::room::Room;
use matrix_sdk::ruma::OwnedTransactionId;
use tracing::info;

use super::compose::{self, Text};
use super::{Bot, Inbound};
use crate::casework::command::{self, LeadCommand, ReporterNotice};
use crate::casework::stats::{self, Stats};
use crate::casework::view::{self, CaseView};
use crate::casework::Casefile;
use crate::concern::Reference;
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

/// The longest message sent at once; a longer `!show` goes in parts.
const MAX_MESSAGE_CHARS: usize = 16_000;

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
        let Some(parsed) = command::parse(body) else {
            return Ok(false);
        };
        let sender = inbound.sender.as_str();
        let now = Utc::now();
        let word = body.split_whitespace().next().unwrap_or("").to_lowercase();
        if !self.config.safeguarding.is_responder(sender) {
            // In a private room, `!help` from anyone else is just a greeting.
            if place == Place::Private && parsed == Ok(LeadCommand::Help) {
                return Ok(false);
            }
            let reference = match place {
                Place::Concern(r) => Some(r),
                _ => None,
            };
            self.store
                .audit(now, sender, "refused: not a lead or deputy", reference, &word)?;
            self.answer(room, inbound, compose::leads_only(), "leadsonly")
                .await?;
            return Ok(true);
        }
        let command = match parsed {
            Ok(c) => c,
            Err(how) => {
                self.answer(room, inbound, Text::plain(how), "how").await?;
                return Ok(true);
            }
        };
        let reply = match (&command, place) {
            (LeadCommand::Help, Place::Concern(_)) => command::help_in_concern_room(),
            (LeadCommand::Help, _) => command::help_in_leads_room(),
            (c, Place::Concern(reference)) if c.writes() => {
                self.write_entry(reference, &command, inbound).await?
            }
            (c, _) if c.writes() => format!(
                "Do that in the concern's own room, so it stays with its record. Send !list to see the open concerns{}.",
                if place == Place::LeadsRoom { "" } else { " in the leads' room" }
            ),
            (LeadCommand::Category(None), Place::Concern(reference)) => {
                command::category_choices(&self.casefile(reference)?)
            }
            (LeadCommand::Show(asked), _) => {
                let reference = match (asked, place) {
                    (Some(r), _) => r.clone(),
                    (None, Place::Concern(r)) => r.clone(),
                    (None, _) => {
                        let text = "Which concern? Write it like: !show SG-0042. Send !list to see the open ones.";
                        self.answer(room, inbound, Text::plain(text), "show").await?;
                        return Ok(true);
                    }
                };
                match CaseView::load(&self.store, &reference)? {
                    None => format!("There is no concern {reference}. Send !list to see the open ones."),
                    Some(view) => {
                        self.store.audit(now, sender, "viewed", Some(&reference), "!show")?;
                        info!(reference = %reference, "concern shown to a lead");
                        let text = view.show_text(self.tz());
                        self.answer_long(room, inbound, &text, "show").await?;
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
                            self.answer(room, inbound, Text::plain(how), "stats").await?;
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
        self.answer(room, inbound, Text::plain(reply), "lead").await?;
        Ok(true)
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
        let now = Utc::now();
        let case = self.casefile(reference)?;
        let applied = match command::apply(&case, command, &inbound.sender, now) {
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
        let esc = self.store.get_item::<Escalation>(Tree::Escalations, &key)?;
        if applied.close_escalation {
            if let Some(esc) = &esc {
                self.store.put_item(Tree::Escalations, &key, &esc.close())?;
            }
        }
        if let (Some(notice), Some(esc)) = (applied.tell_reporter, &esc) {
            if let Some(private) = self.private_room(&esc.reporter)? {
                let (text, tag) = match notice {
                    ReporterNotice::Closed => (compose::reporter_told_closed(reference), "closed"),
                    ReporterNotice::Reopened => (compose::reporter_told_reopened(reference), "reopened"),
                };
                self.send(&private, text, &format!("{}-told{tag}", inbound.event_id), false)
                    .await?;
                self.store
                    .audit(now, "bot", &format!("reporter told {tag}"), Some(reference), "")?;
            }
        }
        Ok(applied.reply)
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
        let _one_at_a_time = self.escalation_lock(&reference).await;
        let now = Utc::now();
        let record = self.store.get_concern(&reference)?;
        let case = self.casefile(&reference)?;
        let reported_by = record.as_ref().map(|r| r.reporter.as_str());
        let (casefile, entry) =
            match command::add_from_reporter(&case, reported_by, &inbound.sender, &text, now) {
                Ok(done) => done,
                Err(reply) => {
                    self.store.audit(
                        now,
                        &inbound.sender,
                        "refused: not their concern",
                        None,
                        &reference.to_string(),
                    )?;
                    self.answer(room, inbound, Text::plain(reply), "addrefused")
                        .await?;
                    return Ok(true);
                }
            };
        self.store
            .put_item(Tree::Casefiles, &reference.to_string(), &casefile)?;
        self.store.audit(
            now,
            &inbound.sender,
            "reporter added",
            Some(&reference),
            &format!("entry {}", entry.number),
        )?;
        info!(reference = %reference, entry = entry.number, "the reporter added to a concern");
        if let Some(esc) = self
            .store
            .get_item::<Escalation>(Tree::Escalations, &reference.to_string())?
        {
            let lead_room = self.room(&esc.room)?;
            self.send(
                &lead_room,
                compose::leads_told_addition(&reference, entry.number, &text),
                &format!("{}-added", inbound.event_id),
                true,
            )
            .await?;
        }
        self.answer(
            room,
            inbound,
            compose::reporter_addition_kept(&reference),
            "added",
        )
        .await?;
        Ok(true)
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
        room.send_attachment(export::file_name(reference, format), &mime, data, config)
            .await
            .context("could not upload the export")?;
        info!(reference = %reference, "concern exported to its room");
        Ok(())
    }

    /// Sends a long text in parts, split at line ends.
    async fn answer_long(&self, room: &Room, inbound: &Inbound, text: &str, tag: &str) -> anyhow::Result<()> {
        for (i, part) in split_message(text, MAX_MESSAGE_CHARS).into_iter().enumerate() {
            self.answer(room, inbound, Text::plain(part), &format!("{tag}{i}"))
                .await?;
        }
        Ok(())
    }
}

/// Once a day (first a minute after start), deletes closed concerns whose
/// retention period has passed, audits each deletion, and tells each
/// concern's room that its record is gone, then leaves it.
pub(super) async fn retention_job(
    bot: std::sync::Arc<Bot>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = std::time::Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = std::time::Duration::from_secs(24 * 60 * 60);
        if let Err(e) = bot.retention_sweep().await {
            tracing::error!(error = %format!("{e:#}"), "the daily retention sweep failed; it runs again tomorrow");
        }
    }
}

impl Bot {
    async fn retention_sweep(&self) -> anyhow::Result<()> {
        let retention = self.config.safeguarding.retention;
        let now = Utc::now();
        // The rooms first: deleting the concern deletes the escalation that names its room.
        let rooms: std::collections::HashMap<Reference, String> = self
            .store
            .items::<Escalation>(Tree::Escalations)?
            .into_iter()
            .map(|(_, e)| (e.reference, e.room))
            .collect();
        let deleted = crate::casework::retention::sweep(&self.store, retention, now, false, "bot")
            .context("could not delete closed concerns past their retention period")?;
        if !deleted.is_empty() {
            info!(
                count = deleted.len(),
                "closed concerns deleted under the retention period"
            );
        }
        for reference in deleted {
            let Some(room) = rooms.get(&reference).and_then(|id| self.room(id).ok()) else {
                continue;
            };
            let text = format!(
                "{reference} was closed long enough ago that its record has now been deleted, as the retention period says. \
                 This room still holds its messages: everyone should now leave it, so the homeserver can remove them."
            );
            if let Err(e) = self
                .send(&room, Text::plain(text), &format!("{reference}-retention"), true)
                .await
            {
                tracing::warn!(reference = %reference, error = %format!("{e:#}"), "could not tell a concern's room its record was deleted");
            }
            if let Err(e) = room.leave().await {
                tracing::warn!(reference = %reference, error = %e, "could not leave the room of a deleted concern");
            }
        }
        Ok(())
    }
}

/// Splits `text` into parts of at most `max` characters, at line ends where
/// it can.
fn split_message(text: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for line in text.split_inclusive('\n') {
        let mut line = line;
        loop {
            let n = line.chars().count();
            if current_len + n <= max {
                current.push_str(line);
                current_len += n;
                break;
            }
            if current_len > 0 {
                parts.push(std::mem::take(&mut current));
                current_len = 0;
                continue;
            }
            // One line longer than a message: cut it.
            let cut = line.char_indices().nth(max).map_or(line.len(), |(i, _)| i);
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
        assert!(parts.iter().all(|p| p.chars().count() <= 12), "{parts:?}");
        assert_eq!(parts.concat(), text);
        assert_eq!(parts[0], format!("{}\n", "a".repeat(10)));
    }
}
