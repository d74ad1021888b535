//! Which room an event came from, and who handles it: a staff room starts
//! reports; a concern's room is the leads'; the leads' room takes the
//! leads' commands; any other room is a private chat with the bot.

use super::casework::Place;
use super::outbox::{Remember, Target};
use super::{compose, Core, Inbound, InboundKind, Message};
use crate::store::Batch;

impl Core {
    pub(super) async fn handle(&self, inbound: &Inbound) -> anyhow::Result<()> {
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

    async fn in_private_room(&self, inbound: &Inbound) -> anyhow::Result<()> {
        let sender = inbound.sender.as_str();
        match &inbound.kind {
            InboundKind::Reaction { .. } => Ok(()),
            InboundKind::Attachment => self.answer(inbound, "noattach", compose::no_attachments(), false),
            InboundKind::Text { body, .. } => {
                if self.config.safeguarding.is_responder(sender) && self.rota_command(inbound, body).await? {
                    return Ok(());
                }
                if self.lead_command(inbound, body, Place::Private).await?
                    || self.reporter_add(inbound, body).await?
                {
                    return Ok(());
                }
                if self.report_message(inbound, body).await? {
                    return Ok(());
                }
                if !self.is_staff(sender).await {
                    self.answer(inbound, "notstaff", compose::not_staff(), false)
                } else if is_start_word(body) {
                    self.start_report(inbound, false).await
                } else {
                    self.answer(inbound, "hello", compose::how_to_start(), false)
                }
            }
        }
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
        self.commit(Batch::new(), effects)
    }

    /// Whether this is one of the staff rooms from the config.
    pub fn is_staff_room(&self, room: &str) -> bool {
        self.staff_rooms().iter().any(|r| r == room)
    }

    /// Whether someone is a member (joined) of a staff room.
    pub async fn is_staff(&self, user: &str) -> bool {
        for room in self.staff_rooms() {
            if let Ok(members) = self.chat.members(&room).await {
                if members.iter().any(|m| m.user == user && m.joined) {
                    return true;
                }
            }
        }
        false
    }
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
