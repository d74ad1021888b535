//! Which room an event came from, and who handles it: a staff room starts
//! reports; a concern's room is the leads'; the leads' room takes the
//! leads' commands; any other room is a private chat with the bot.

use super::casework::Place;
use super::outbox::{Effect, Remember, Target};
use super::{compose, Core, Inbound, InboundKind, Message};
use crate::store::Batch;
use tracing::warn;

/// What a room other than a staff, leads' or concern room is to its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Privacy {
    /// The private chat the bot made for them, still only theirs.
    Theirs,
    /// The private chat the bot made for them, but someone else is in it now
    /// (or it is no longer confidential).
    NoLongerTheirs,
    /// A room of theirs with only them and the bot in it, not made by the bot.
    JustThem,
    /// A room with other people in it.
    Shared,
}

impl Core {
    pub(super) async fn handle(&self, inbound: &Inbound) -> anyhow::Result<()> {
        if let InboundKind::Edit { body } = &inbound.kind {
            return self.edited(inbound, body).await;
        }
        if let InboundKind::SmsReply { from, body } = &inbound.kind {
            return self.sms_reply_in(inbound, from, body).await;
        }
        match inbound.kind {
            InboundKind::Undecryptable => return self.undecryptable(inbound).await,
            InboundKind::Joined => return self.someone_joined(inbound).await,
            _ => {}
        }
        let room = inbound.room_id.as_str();
        if self.staff_rooms().iter().any(|r| r == room) {
            if let InboundKind::Text { body, mentions_bot } = &inbound.kind {
                if is_report_request(body, *mentions_bot) {
                    self.start_report(inbound, true).await?;
                }
            }
            return Ok(());
        }
        if let Some(esc) = self.escalation_for_room(room)? {
            return self.in_escalation_room(esc, inbound).await;
        }
        if self.leads_room().as_deref() == Some(room) {
            if let InboundKind::Text { body, .. } = &inbound.kind {
                if !self.rota_command(inbound, body).await? {
                    self.lead_command(inbound, body, Place::LeadsRoom).await?;
                }
            }
            return Ok(());
        }
        self.in_private_room(inbound).await
    }

    /// An edit is never acted on: what it edits was handled when it was
    /// first sent, so a command edited (or given a link preview on Slack)
    /// would otherwise run twice. An answer keeps what was first sent, and
    /// the reporter is told how to change it; the sender of an edited
    /// command is told to send it again; any other edit is left alone.
    async fn edited(&self, inbound: &Inbound, body: &str) -> anyhow::Result<()> {
        let sender = inbound.sender.as_str();
        let room = inbound.room_id.as_str();
        let staff_room = self.is_staff_room(room);
        let leads_only =
            self.escalation_for_room(room)?.is_some() || self.leads_room().as_deref() == Some(room);
        let private = !staff_room && !leads_only && self.privacy(sender, room).await? == Privacy::Theirs;
        if private && crate::intake::current(&self.store, sender)?.is_some() {
            return self.answer(inbound, "edit", compose::no_edits(), false);
        }
        // Matrix's edit fallback puts "* " before the new text.
        let text = body.trim_start();
        let text = text.strip_prefix("* ").unwrap_or(text).trim_start();
        let report = is_report_request(text, false) || (private && is_start_word(text));
        let command = text.starts_with('!');
        let answered = if staff_room {
            report
        } else if leads_only || private {
            report || command
        } else {
            // A room that may be shared: only a lead or deputy's command
            // would have been answered there.
            command && self.config.safeguarding.is_responder(sender)
        };
        if !answered {
            return Ok(());
        }
        let recorded = matches!(crate::casework::command::parse(text), Some(Ok(c)) if c.writes());
        self.answer(inbound, "edit", compose::edited_command(recorded), true)
    }

    /// A message the chat could not decrypt. In the reporter's private chat,
    /// a concern's room or the leads' room its sender is asked, once, to
    /// send it again; elsewhere (a staff room) it is left alone.
    async fn undecryptable(&self, inbound: &Inbound) -> anyhow::Result<()> {
        let room = inbound.room_id.as_str();
        let ours = self.escalation_for_room(room)?.is_some()
            || self.leads_room().as_deref() == Some(room)
            || (!self.staff_rooms().iter().any(|r| r == room)
                && self.privacy(&inbound.sender, room).await? == Privacy::Theirs);
        if ours {
            self.answer(inbound, "unreadable", compose::could_not_read(), false)?;
        }
        Ok(())
    }

    /// Any other room: the sender's private chat with the bot, if it is the
    /// one the bot made for them and still only theirs; otherwise a room that
    /// may be shared, where no report ever runs.
    async fn in_private_room(&self, inbound: &Inbound) -> anyhow::Result<()> {
        let sender = inbound.sender.as_str();
        let privacy = self.privacy(sender, &inbound.room_id).await?;
        if privacy != Privacy::Theirs {
            return self.in_other_room(inbound, privacy).await;
        }
        match &inbound.kind {
            InboundKind::Reaction { .. } => Ok(()),
            InboundKind::Attachment => self.remove_attachment(inbound),
            // Edits, undecryptable messages and SMS were answered before coming here.
            InboundKind::Edit { .. }
            | InboundKind::Undecryptable
            | InboundKind::Joined
            | InboundKind::SmsReply { .. } => Ok(()),
            InboundKind::Pressed {
                question,
                answer,
                label,
            } => self.pressed(inbound, question, answer, label).await,
            InboundKind::StartReport => self.start_report(inbound, false).await,
            InboundKind::Text { body, .. } => {
                if self.config.safeguarding.is_responder(sender) && self.rota_command(inbound, body).await? {
                    return Ok(());
                }
                if self.lead_command(inbound, body, Place::Private).await?
                    || self.reporter_add(inbound, body).await?
                {
                    return Ok(());
                }
                if self.report_message(inbound, body, None).await? {
                    return Ok(());
                }
                let staff = self.staff_check(sender).await;
                if staff != Staff::Yes {
                    self.refuse(inbound, staff)
                } else if is_start_word(body) {
                    self.start_report(inbound, false).await
                } else {
                    self.answer(inbound, "hello", compose::how_to_start(), false)
                }
            }
        }
    }

    /// A button pressed beside a question in their private chat: their
    /// answer, if that question is the one now asked; otherwise they are
    /// told it was not used, and shown the question now asked.
    async fn pressed(
        &self,
        inbound: &Inbound,
        question: &str,
        answer: &str,
        label: &str,
    ) -> anyhow::Result<()> {
        let press = super::intake::Press { label, question };
        if !self.report_message(inbound, answer, Some(press)).await? {
            self.answer(inbound, "pressed", compose::button_for_finished_report(), false)?;
        }
        Ok(())
    }

    /// A room that is not the sender's private chat with the bot. The leads'
    /// commands work (they check who can read the room) and so does the
    /// rota; a request to report starts it in the private chat, and the room
    /// gets only a notice that says nothing of it. Nothing said here is ever
    /// taken as an answer, and in a shared room the bot says nothing else.
    async fn in_other_room(&self, inbound: &Inbound, privacy: Privacy) -> anyhow::Result<()> {
        let sender = inbound.sender.as_str();
        if matches!(inbound.kind, InboundKind::StartReport) {
            return self.start_report(inbound, true).await;
        }
        let InboundKind::Text { body, mentions_bot } = &inbound.kind else {
            return Ok(());
        };
        if self.config.safeguarding.is_responder(sender) && self.rota_command(inbound, body).await? {
            return Ok(());
        }
        if self.lead_command(inbound, body, Place::Private).await? {
            return Ok(());
        }
        if privacy == Privacy::NoLongerTheirs {
            // Someone else came into their private chat: say why it is left,
            // and carry on in a new one.
            self.answer(inbound, "moved", compose::private_chat_moved(), true)?;
            return self.start_report(inbound, true).await;
        }
        if is_report_request(body, *mentions_bot) || is_start_word(body) {
            return self.start_report(inbound, true).await;
        }
        let one_to_one = privacy == Privacy::JustThem;
        if one_to_one && crate::intake::current(&self.store, sender)?.is_some() {
            return self.answer(inbound, "elsewhere", compose::report_continues_elsewhere(), true);
        }
        if one_to_one && crate::casework::command::parse_add(body).is_some() {
            return self.answer(inbound, "addelsewhere", compose::add_in_private_chat(), true);
        }
        if one_to_one {
            return self.answer(inbound, "hello", compose::how_to_start(), false);
        }
        Ok(())
    }

    /// Whether `room` is `user`'s private chat with the bot: made by the
    /// bot for them, confidential, and nobody else in it or invited.
    async fn privacy(&self, user: &str, room: &str) -> anyhow::Result<Privacy> {
        let members = self.chat.members(room).await?;
        let me = self.chat.bot_id();
        let just_them = members.iter().all(|m| m.user == user || m.user == me);
        let made_for_them = self.room_of(&Target::Private(user.to_string()))?.as_deref() == Some(room);
        Ok(match (made_for_them, just_them) {
            (true, true) if self.chat.is_confidential(room).await? => Privacy::Theirs,
            (true, _) => Privacy::NoLongerTheirs,
            (false, true) => Privacy::JustThem,
            (false, false) => Privacy::Shared,
        })
    }

    /// Answers one event in the room it came from, through the outbox, keyed
    /// from the event so a replay is not a second message.
    pub(super) fn answer(
        &self,
        inbound: &Inbound,
        slot: &str,
        text: compose::Text,
        notice: bool,
    ) -> anyhow::Result<()> {
        let mut effects = self.effects(&inbound.event_id);
        let message = if notice {
            Message::notice(text)
        } else {
            Message::plain(text)
        };
        effects.send(
            slot,
            Target::Room(inbound.room_id.clone()),
            message,
            Remember::Nothing,
            None,
        );
        self.commit_blocking(Batch::new(), effects)
    }

    /// Whether this is one of the staff rooms from the config.
    pub fn is_staff_room(&self, room: &str) -> bool {
        self.staff_rooms().iter().any(|r| r == room)
    }

    /// A picture or file in a private chat: removed from the chat (it could
    /// be an image of a child, which must never be kept), the removal
    /// audited, and the reporter told why and what to do instead.
    fn remove_attachment(&self, inbound: &Inbound) -> anyhow::Result<()> {
        let mut effects = self.effects(&inbound.event_id);
        let removable = self.chat.can_remove_others_messages();
        if removable {
            effects.push(
                "removeattach",
                Effect::Redact {
                    target: Target::Room(inbound.room_id.clone()),
                    message: inbound.event_id.clone(),
                    reason: "Pictures and files are not kept".into(),
                },
            );
        }
        effects.send(
            "noattach",
            Target::Room(inbound.room_id.clone()),
            Message::plain(compose::no_attachments(removable)),
            Remember::Nothing,
            None,
        );
        self.store.audit(
            self.now(),
            &inbound.sender,
            if removable {
                "attachment removed from a private chat"
            } else {
                "attachment sent in a private chat: not kept, the sender asked to delete it"
            },
            None,
            "",
        )?;
        self.commit_blocking(Batch::new(), effects)
    }

    /// Whether someone is a member (joined) of a staff room.
    pub async fn is_staff(&self, user: &str) -> bool {
        self.staff_check(user).await == Staff::Yes
    }

    /// Whether someone is staff, or that the bot cannot tell: a staff room
    /// from the config is not resolved, or its members could not be read.
    /// Unresolved rooms are tried once more first.
    pub(super) async fn staff_check(&self, user: &str) -> Staff {
        if !self.unresolved_rooms().is_empty() {
            self.resolve_rooms().await;
        }
        let mut unsure = self
            .unresolved_rooms()
            .iter()
            .any(|name| self.config.staff_rooms().contains(name));
        for room in self.staff_rooms() {
            match self.chat.is_staff_member(&room, user).await {
                Ok(true) => return Staff::Yes,
                Ok(false) => {}
                Err(e) => {
                    warn!(room = %room, error = %e, "could not read who is in a staff room");
                    unsure = true;
                }
            }
        }
        if unsure {
            Staff::CannotTell
        } else {
            Staff::No
        }
    }

    /// Answers someone the bot could not check, or who is not staff.
    pub(super) fn refuse(&self, inbound: &Inbound, staff: Staff) -> anyhow::Result<()> {
        match staff {
            Staff::CannotTell => self.answer(inbound, "cannotcheck", compose::cannot_check_staff(), false),
            _ => self.answer(inbound, "notstaff", compose::not_staff(), false),
        }
    }
}

/// Whether someone may report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Staff {
    Yes,
    No,
    /// The staff rooms could not be read just now.
    CannotTell,
}

/// `/report` (what Element sends after "Send as message", or for `//report`),
/// `!report`, or a mention of the bot with the word report.
pub fn is_report_request(body: &str, mentions_bot: bool) -> bool {
    let first = body.split_whitespace().next().unwrap_or_default().to_lowercase();
    if matches!(first.as_str(), "/report" | "!report" | "//report") {
        return true;
    }
    mentions_bot
        && body
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == "report")
}

/// In a private room with no report in progress: `report`, `!report`, `/report`.
pub fn is_start_word(body: &str) -> bool {
    let first = body.split_whitespace().next().unwrap_or_default().to_lowercase();
    matches!(
        first.trim_end_matches(['.', '!']),
        "report" | "!report" | "/report" | "//report"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_requests() {
        assert!(is_report_request("/report", false));
        assert!(is_report_request("!report please", false));
        assert!(is_report_request("//report", false));
        assert!(is_report_request(
            "safeguarding: I need to report something",
            true
        ));
        assert!(!is_report_request("I need to report something", false));
        assert!(!is_report_request("reporting", true));
    }

    #[test]
    fn start_words() {
        for s in ["report", "Report.", "!report", "/report now"] {
            assert!(is_start_word(s), "{s}");
        }
        assert!(!is_start_word("hello"));
    }
}
