//! When the chat cannot be reached. The adapter's self-watch tells the
//! core once the chat has been out of reach for longer than `[health]
//! unreachable_alert_after` ([`Core::chat_unreachable`]), and once it is
//! back ([`Core::chat_back`]). Meanwhile every page outside the chat is due
//! at once (the pure policy's `chat_down`), and the leads and deputies are
//! told by SMS and email, since the chat cannot tell them. Nothing more is
//! sent to the chat until the adapter has reached it again
//! ([`Core::chat_synced`]).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing::{error, warn};

use super::intake::random_token;
use super::outbox::{Effect, Effects};
use super::{compose, Core};
use crate::health::human_duration;
use crate::notify::{Email, Sms};
use crate::store::Batch;

impl Core {
    /// Whether the chat is out of reach now, as the adapter last said.
    pub(crate) fn chat_is_down(&self) -> bool {
        self.chat_down.load(Ordering::SeqCst)
    }

    /// The chat has been out of reach for `away`, longer than allowed:
    /// every concern not yet acknowledged has its pages outside the chat
    /// sent now, and the leads and deputies are told by SMS and email.
    /// Once per outage.
    pub fn chat_unreachable(&self, away: Duration) {
        if self.chat_down.swap(true, Ordering::SeqCst) {
            return;
        }
        // Nothing more goes to the chat until the adapter has synced with
        // it again (it calls `chat_synced`): on Matrix a sync brings the
        // devices that changed meanwhile, and a message sent before that
        // may be unreadable to someone invited since.
        self.synced.send_replace(false);
        let since = self.now() - chrono::Duration::from_std(away).unwrap_or_default();
        let cause = format!("outage-{}", since.timestamp());
        let org = &self.config.safeguarding.organisation;
        let (chat, took) = (self.chat_words(), human_duration(away));
        let sms = compose::outside::sms_chat_down(org, chat, &took);
        let email = compose::outside::email_chat_down(org, chat, &took);
        self.tell_responders_outside(
            &cause,
            &sms,
            &email,
            "told the leads by SMS and email that the chat is out of reach",
        );
        if let Err(e) = self.recheck_open_escalations() {
            error!(error = %format!("{e:#}"), "could not read the escalations to page outside the chat");
        }
    }

    /// The chat is reachable again after `away`, which was reported: the
    /// leads and deputies are told by SMS and email.
    pub fn chat_back(&self, away: Duration) {
        if !self.chat_down.swap(false, Ordering::SeqCst) {
            return;
        }
        let since = self.now() - chrono::Duration::from_std(away).unwrap_or_default();
        let cause = format!("outage-{}-back", since.timestamp());
        let org = &self.config.safeguarding.organisation;
        let (chat, took) = (self.chat_words(), human_duration(away));
        let sms = compose::outside::sms_chat_back(org, chat, &took);
        let email = compose::outside::email_chat_back(org, chat, &took);
        self.tell_responders_outside(
            &cause,
            &sms,
            &email,
            "told the leads by SMS and email that the chat is back",
        );
        // What waits for the chat is tried at once, not at its next retry.
        self.outbox_wake.notify_one();
    }

    /// An SMS and an email to each lead and deputy not away who has a
    /// number or address, through the outbox under `cause`; audited.
    fn tell_responders_outside(&self, cause: &str, sms: &str, email: &(String, String), action: &str) {
        let Some(notifier) = self.notifier.clone() else {
            return;
        };
        let sg = &self.config.safeguarding;
        let now = self.now();
        let (rota, stopped) = match (self.rota(), self.stopped_numbers()) {
            (Ok(r), Ok(s)) => (r, s),
            (Err(e), _) | (_, Err(e)) => {
                error!(error = %format!("{e:#}"), "could not read the rota to tell the leads outside the chat");
                return;
            }
        };
        let mut effects: Effects = self.effects(cause.to_string());
        let mut told = Vec::new();
        for who in sg.responders() {
            let Some(contact) = sg.outside.contact(who) else {
                continue;
            };
            if rota.is_away(who, now) {
                continue;
            }
            if let Some(to) = contact
                .mobile
                .clone()
                .filter(|m| notifier.has_sms() && !stopped.contains(m))
            {
                let body = sms.to_string();
                effects.push(
                    &format!("sms-{who}"),
                    Effect::Sms {
                        sms: Sms { to, body },
                        page: None,
                    },
                );
                told.push(who);
            }
            if let Some(to) = contact.email.clone().filter(|_| notifier.has_email()) {
                let email = Email {
                    to,
                    subject: email.0.clone(),
                    body: email.1.clone(),
                    message_id: format!("{cause}.{}@safeguarding-bot.invalid", random_token()),
                };
                effects.push(&format!("email-{who}"), Effect::Email { email, page: None });
                told.push(who);
            }
        }
        if told.is_empty() {
            warn!("nobody could be told outside the chat that it is out of reach or back: no lead or deputy has a number or address the gateways can reach");
            return;
        }
        told.dedup();
        if let Err(e) = self
            .commit_blocking(Batch::new(), effects)
            .and_then(|()| Ok(self.store.audit(now, "bot", action, None, &told.join(", "))?))
        {
            error!(error = %format!("{e:#}"), "could not queue the SMS and email to the leads about the chat");
        }
    }
}
