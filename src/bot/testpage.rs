//! `!testpage`: a lead or deputy checks that pages outside the chat reach
//! them. They get a test SMS and a test email, each marked as a test, on
//! the number and address the config gives them; the answer says what was
//! sent where (the number and address shown only in part) and what stands
//! in the way (no gateway, no number, STOP). What became of each is in the
//! audit log, as for every SMS and email.

use super::intake::random_token;
use super::outbox::{Effect, Remember, Target};
use super::{compose, Core, Inbound, Message};
use crate::notify::{Email, EmailAddress, Phone, Sms};
use crate::store::Batch;

/// Whether `body` is the command.
pub(super) fn is_testpage(body: &str) -> bool {
    body.trim().eq_ignore_ascii_case("!testpage")
}

/// A number shown in a shared room: its last three digits only.
fn masked_phone(p: &Phone) -> String {
    let s = p.as_str();
    format!("the number ending {}", &s[s.len().saturating_sub(3)..])
}

/// An address shown in a shared room: its first letter and its domain.
fn masked_email(e: &EmailAddress) -> String {
    match e.as_str().split_once('@') {
        Some((local, domain)) => format!("{}…@{domain}", local.chars().next().unwrap_or('?')),
        None => "your address".into(),
    }
}

impl Core {
    /// Sends `inbound`'s sender a test SMS and email, and says what went.
    pub(super) async fn test_page(&self, inbound: &Inbound) -> anyhow::Result<()> {
        let sg = &self.config.safeguarding;
        let who = inbound.sender.as_str();
        let now = self.now();
        if !sg.is_responder(who) {
            self.store
                .audit(now, who, "refused: not a lead or deputy", None, "!testpage")?;
            let text = "Only the Lead or a Deputy for Safeguarding can test their pages.";
            self.answer(inbound, "testpage", compose::Text::plain(text), false)?;
            return Ok(());
        }
        let org = &sg.organisation;
        let (can_sms, can_email) = self
            .notifier
            .as_ref()
            .map_or((false, false), |n| (n.has_sms(), n.has_email()));
        let contact = sg.outside.contact(who);
        let mut effects = self.effects(inbound.event_id.clone());
        let mut lines = Vec::new();
        let mut sent = Vec::new();
        match (contact.and_then(|c| c.mobile.as_ref()), can_sms) {
            (None, _) => lines.push("SMS: the config gives no mobile number for you.".to_string()),
            (Some(_), false) => lines.push("SMS: no SMS gateway is set up ([sms] in the config).".to_string()),
            (Some(m), true) if self.stopped_numbers()?.contains(m) => lines.push(format!(
                "SMS: {} replied STOP, so no SMS can reach it. Text START to the bot's number to get pages by SMS again.",
                masked_phone(m)
            )),
            (Some(m), true) => {
                let body = compose::outside::sms_test(org);
                effects.push("sms", Effect::Sms { sms: Sms { to: m.clone(), body }, page: None });
                lines.push(format!("SMS: a test is on its way to {}.", masked_phone(m)));
                sent.push("SMS");
            }
        }
        match (contact.and_then(|c| c.email.as_ref()), can_email) {
            (None, _) => lines.push("Email: the config gives no email address for you.".to_string()),
            (Some(_), false) => {
                lines.push("Email: no mail server is set up ([email] in the config).".to_string())
            }
            (Some(e), true) => {
                let (subject, body) = compose::outside::email_test(org);
                let email = Email {
                    to: e.clone(),
                    subject,
                    body,
                    message_id: format!("test.{}@safeguarding-bot.invalid", random_token()),
                };
                effects.push("email", Effect::Email { email, page: None });
                lines.push(format!("Email: a test is on its way to {}.", masked_email(e)));
                sent.push("email");
            }
        }
        lines.push(if sent.is_empty() {
            "Pages reach you in the chat only. To get them by SMS or email too, ask whoever looks after the bot to add your number and address ([[safeguarding.contact]] in the config).".to_string()
        } else {
            "If a test has not arrived in a few minutes, tell whoever looks after the bot: the audit log says why.".to_string()
        });
        let detail = if sent.is_empty() {
            "nothing to send".to_string()
        } else {
            sent.join(" and ")
        };
        self.store.audit(now, who, "test page requested", None, &detail)?;
        effects.send(
            "testpage",
            Target::Room(inbound.room_id.clone()),
            Message::plain(compose::Text::plain(lines.join("\n"))),
            Remember::Nothing,
            None,
        );
        self.commit(Batch::new(), effects).await
    }
}
