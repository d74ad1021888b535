//! The leads' commands that only read: `!show`, `!list`, `!stats`,
//! `!export`, `!category` (the choices) and `!help`. Each view is audited,
//! and a concern is shown only where [`Core::lead_command`] found that
//! everyone who can read it is a lead or deputy.

use tracing::info;

use super::casework::Place;
use super::compose::Text;
use super::outbox::{Effect, Remember, Target};
use super::{Core, File, Inbound, Message};
use crate::casework::command::{self, LeadCommand};
use crate::casework::stats::{self, Stats};
use crate::casework::view::{self, CaseView};
use crate::concern::Reference;
use crate::export::{self, ExportMeta, Format};
use crate::store::Batch;

impl Core {
    /// Shows what a command that only reads asks for.
    pub(super) fn view(
        &self,
        inbound: &Inbound,
        command: &LeadCommand,
        place: Place<'_>,
    ) -> anyhow::Result<()> {
        let reply = match (command, place) {
            (LeadCommand::Help, Place::Concern(_)) => command::help_in_concern_room(),
            (LeadCommand::Help, _) => command::help_in_leads_room(),
            (LeadCommand::Category(None), Place::Concern(reference)) => {
                self.store
                    .audit(self.now(), &inbound.sender, "viewed", Some(reference), "!category")?;
                command::category_choices(&self.casefile(reference)?)
            }
            (LeadCommand::Category(None), _) => {
                "Send !category in the concern's own room to see or set its category.".to_string()
            }
            (LeadCommand::Show(Some(asked)), Place::Concern(own)) if asked != own => format!(
                "In this room you can see only {own}, because the people here were chosen for it. To see {asked}, use the leads' room or your private chat with the bot."
            ),
            (LeadCommand::Show(asked), _) => return self.show(inbound, asked.as_ref(), place),
            (LeadCommand::List, _) => {
                let cases = CaseView::all(&self.store)?;
                self.store.audit(self.now(), &inbound.sender, "viewed", None, "!list")?;
                view::list_text(&cases, self.now())
            }
            (LeadCommand::Stats(since), _) => return self.stats(inbound, since.as_deref()),
            (LeadCommand::Export(format), Place::Concern(reference)) => {
                return self.export_to_room(inbound, reference, format.as_deref());
            }
            (LeadCommand::Export(_), _) => {
                "Send !export in the concern's own room, and the record is put there as a file.".to_string()
            }
            // The commands that write are not views.
            (_, _) => command::help_in_leads_room(),
        };
        self.notice(inbound, &reply, "lead")
    }

    /// `!show`: one concern's record and chronology.
    fn show(&self, inbound: &Inbound, asked: Option<&Reference>, place: Place<'_>) -> anyhow::Result<()> {
        let reference = match (asked, place) {
            (Some(r), _) => r.clone(),
            (None, Place::Concern(r)) => r.clone(),
            (None, _) => {
                let text = "Which concern? Write it like: !show SG-0042. Send !list to see the open ones.";
                return self.notice(inbound, text, "show");
            }
        };
        let Some(view) = CaseView::load(&self.store, &reference)? else {
            let text = format!("There is no concern {reference}. Send !list to see the open ones.");
            return self.notice(inbound, &text, "lead");
        };
        self.store
            .audit(self.now(), &inbound.sender, "viewed", Some(&reference), "!show")?;
        info!(reference = %reference, "concern shown to a lead");
        let text = view.show_text(self.tz());
        // Outside the concern's own room (cleared whole when it is
        // deleted), each part is remembered to remove.
        let elsewhere = match place {
            Place::Concern(_) => None,
            _ => Some(&reference),
        };
        self.answer_long(inbound, &text, "show", elsewhere)
    }

    /// `!stats [since DATE]`: the figures, never a detail of a case.
    fn stats(&self, inbound: &Inbound, since: Option<&str>) -> anyhow::Result<()> {
        let since = match since {
            None => None,
            Some(text) => match stats::parse_since(text, self.tz()) {
                Ok(t) => Some(t),
                Err(how) => return self.notice(inbound, &how, "stats"),
            },
        };
        let cases = CaseView::all(&self.store)?;
        self.store
            .audit(self.now(), &inbound.sender, "viewed", None, "!stats")?;
        let text = Stats::compute(&cases, since).to_text(since, self.tz());
        self.notice(inbound, &text, "lead")
    }

    /// Renders the record and puts it in the outbox to upload to the
    /// concern's room (encrypted in an encrypted room, by the chat).
    fn export_to_room(
        &self,
        inbound: &Inbound,
        reference: &Reference,
        format: Option<&str>,
    ) -> anyhow::Result<()> {
        let format = match format.map(str::parse::<Format>).transpose() {
            Ok(f) => f.unwrap_or(Format::Pdf),
            Err(e) => {
                return self.answer(
                    inbound,
                    "export",
                    Text::plain(format!("{e}. For example: !export pdf")),
                    false,
                )
            }
        };
        let Some(view) = CaseView::load(&self.store, reference)? else {
            anyhow::bail!("the concern's record is missing from the store");
        };
        let now = self.now();
        let asked_by = self.person(&inbound.sender).name;
        let meta = ExportMeta {
            organisation: &self.config.safeguarding.organisation,
            tz: self.tz(),
            generated_at: now,
            generated_by: &asked_by,
        };
        let data = export::render(&view, format, &meta);
        if data.is_empty() {
            anyhow::bail!("the {} export came out empty", format.label());
        }
        let caption = format!(
            "{} as {}, for {}. It holds special-category personal data: share it only with those who need to know.",
            reference,
            format.label(),
            asked_by
        );
        let mut effects = self.effects(&inbound.event_id);
        effects.push(
            "export",
            Effect::Upload {
                target: Target::Room(inbound.room_id.clone()),
                file: File {
                    name: export::file_name(reference, format),
                    mime: format.mime().to_string(),
                    data,
                    caption,
                },
                about: Some(reference.clone()),
            },
        );
        self.store.audit(
            now,
            &inbound.sender,
            "exported",
            Some(reference),
            &format!("{} to the concern's room", format.label()),
        )?;
        self.commit_blocking(Batch::new(), effects)?;
        info!(reference = %reference, "concern export queued for its room");
        Ok(())
    }

    /// Sends a long text as a notice, in parts if it is longer than the
    /// chat takes. With `copy_of`, each part is remembered as a copy of
    /// that concern, removed when the concern is deleted under retention.
    fn answer_long(
        &self,
        inbound: &Inbound,
        text: &str,
        tag: &str,
        copy_of: Option<&Reference>,
    ) -> anyhow::Result<()> {
        let mut effects = self.effects(&inbound.event_id);
        let remember = copy_of.map_or(Remember::Nothing, |r| Remember::CopyOf(r.clone()));
        effects.send(
            tag,
            Target::Room(inbound.room_id.clone()),
            Message::notice(Text::plain(text)),
            remember,
            copy_of,
        );
        self.commit_blocking(Batch::new(), effects)
    }
}
