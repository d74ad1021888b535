//! Pages outside the chat, the core's side: each person's rules turned
//! into SMS and email effects as [`crate::escalation::outside`] decides,
//! kept with the escalation; acknowledgement by replying to the SMS with
//! the code; STOP; and a page that could not go moving on to the person's
//! next method. The [`crate::notify::Notifier`] that sends them is given
//! to the core ([`super::Setup`]); without one, nothing here sends.
//!
//! Kept in [`Tree::Settings`]: the numbers that replied STOP
//! (`sms-stopped`), and which page each SMS the gateway took was
//! (`sms-sent:SID`), so a status callback finds it. SMS replies go through
//! the inbox under `sms:SID`, so each is handled once, after a restart too.

use std::collections::BTreeSet;

use tracing::{debug, info, warn};

use super::intake::{random_token, Schedule};
use super::outbox::{Effect, Effects, PageStep, Remember, Target};
use super::paging::Ack;
use super::{compose, Accepted, Core, Inbound, InboundKind, Message};
use crate::concern::Reference;
use crate::escalation::contacts::Method;
use crate::escalation::outside::{self, Notice, Reply, Situation};
use crate::escalation::{AckDecision, Escalation};
use crate::notify::{Email, NotifyError, Phone, Sms, SmsReply, SmsStatus};
use crate::store::{Batch, Tree};

/// The setting listing the numbers that replied STOP.
const STOPPED: &str = "sms-stopped";

/// The setting naming the page an SMS was, by the gateway's id.
fn sent_key(sid: &str) -> String {
    format!("sms-sent:{sid}")
}

impl Core {
    pub(super) fn chat_words(&self) -> &'static str {
        compose::outside::chat_words(self.config.slack.is_some())
    }

    /// The numbers that replied STOP.
    pub(super) fn stopped_numbers(&self) -> anyhow::Result<BTreeSet<Phone>> {
        Ok(self
            .store
            .get_item::<BTreeSet<Phone>>(Tree::Settings, STOPPED)?
            .unwrap_or_default())
    }

    /// A reply code for `who` that none of their open concerns has.
    fn fresh_code(&self, who: &str) -> anyhow::Result<String> {
        let taken: BTreeSet<String> = self
            .store
            .items::<Escalation>(Tree::Escalations)?
            .into_iter()
            .filter(|(_, e)| !e.closed)
            .filter_map(|(_, e)| e.outside.code_of(who).map(str::to_string))
            .collect();
        let mut seed = [0u8; 8];
        if getrandom::getrandom(&mut seed).is_err() {
            seed = self.now().timestamp_nanos_opt().unwrap_or_default().to_le_bytes();
        }
        Ok(outside::new_code(u64::from_le_bytes(seed), &taken))
    }

    /// Pages outside the chat for this decision: everyone in `paged` with
    /// a contact gets their code and their rules start now (if they had
    /// not already); whatever is due is staged, and what was passed over
    /// is audited. Bumps the generation if anything changed.
    pub(super) fn plan_outside(
        &self,
        esc: &mut Escalation,
        paged: &[String],
        effects: &mut Effects,
    ) -> anyhow::Result<()> {
        let sg = &self.config.safeguarding;
        let notifier = match self.notifier.clone() {
            Some(n) if !sg.outside.contacts.is_empty() => n,
            // Nothing can be sent: no deadline of ours may stay set (one
            // kept from a run that could send would fire for ever).
            _ => {
                if esc.outside.deadline.take().is_some() {
                    esc.generation += 1;
                }
                return Ok(());
            }
        };
        let now = self.now();
        let before = esc.outside.clone();
        for who in paged {
            if esc.outside.people.contains_key(who) || sg.outside.contact(who).is_none() {
                continue;
            }
            let person = outside::Person {
                since: now,
                code: self.fresh_code(who)?,
                done: BTreeSet::new(),
                hurried: BTreeSet::new(),
                failed: BTreeSet::new(),
                sms_at: Vec::new(),
            };
            esc.outside.people.insert(who.clone(), person);
        }
        let rota = self.rota()?;
        let away: BTreeSet<String> = sg
            .responders()
            .filter(|r| rota.is_away(r, now))
            .map(str::to_string)
            .collect();
        let stopped = self.stopped_numbers()?;
        let sit = Situation {
            config: &sg.outside,
            urgent: esc.urgent,
            over: esc.acknowledged.is_some() || esc.closed,
            away: &away,
            stopped: &stopped,
            can_sms: notifier.has_sms(),
            can_email: notifier.has_email(),
            chat_down: self.chat_is_down(),
            tz: self.tz(),
            now,
        };
        let d = outside::decide(&esc.outside, &sit);
        for (n, why) in &d.passed {
            let action = format!("{} page not sent: {}", n.method.word(), why.why());
            self.store
                .audit(now, "bot", &action, Some(&esc.reference), &n.who)?;
        }
        for n in &d.send {
            self.stage_notice(esc, n, effects)?;
        }
        esc.outside = d.state;
        if esc.outside != before {
            esc.generation += 1;
        }
        Ok(())
    }

    /// One SMS or email page, keyed by its concern, person and step.
    fn stage_notice(&self, esc: &Escalation, n: &Notice, effects: &mut Effects) -> anyhow::Result<()> {
        let sg = &self.config.safeguarding;
        let Some(contact) = sg.outside.contact(&n.who) else {
            return Ok(());
        };
        let reference = &esc.reference;
        let page = Some(PageStep {
            reference: reference.clone(),
            who: n.who.clone(),
            step: n.step,
        });
        let org = &sg.organisation;
        let effect = match (n.method, &contact.mobile, &contact.email) {
            (Method::Sms, Some(to), _) => Effect::Sms {
                sms: Sms {
                    to: to.clone(),
                    body: compose::outside::sms_page(org, reference, esc.urgent, &n.code, self.chat_words()),
                },
                page,
            },
            (Method::Email, _, Some(to)) => {
                let code = contact.mobile.as_ref().map(|_| n.code.as_str());
                let (subject, body) =
                    compose::outside::email_page(org, reference, esc.urgent, code, self.chat_words());
                Effect::Email {
                    email: Email {
                        to: to.clone(),
                        subject,
                        body,
                        message_id: format!("{reference}.{}@safeguarding-bot.invalid", random_token()),
                    },
                    page,
                }
            }
            _ => return Ok(()),
        };
        effects.push_as(
            &format!("{reference}-outside"),
            &format!("{}-{}", n.who, n.step),
            effect,
        );
        let action = format!("{} page queued", n.method.word());
        self.store
            .audit(self.now(), "bot", &action, Some(reference), &n.who)?;
        Ok(())
    }

    /// An SMS sent to the bot's number (from the gateway's webhook or its
    /// poll), kept in the inbox under its id: handled once, even if the
    /// gateway hands it over again or the bot restarts.
    pub fn sms_reply(&self, reply: SmsReply) -> Accepted {
        let event_id = format!("sms:{}", reply.sid);
        if self.store.inbox_known(&event_id).unwrap_or(false) {
            let _ = self.store.audit(
                self.now(),
                "sms",
                "SMS reply ignored: handled before",
                None,
                &reply.sid,
            );
            return Accepted::Kept;
        }
        let inbound = Inbound {
            event_id: event_id.clone(),
            room_id: format!("sms:{}", reply.from),
            sender: format!("sms:{}", reply.from),
            kind: InboundKind::SmsReply {
                from: reply.from,
                body: reply.body,
            },
            written_at: None,
        };
        let kept = self.keep_and_queue(inbound) || matches!(self.store.inbox_known(&event_id), Ok(true));
        // On disk before the gateway is told it was received.
        match (kept, self.store.flush()) {
            (true, Ok(())) => Accepted::Kept,
            _ => Accepted::NotKept,
        }
    }

    /// An SMS answer to `to`, through the outbox, if SMS can be sent.
    fn answer_sms(&self, effects: &mut Effects, to: &Phone, body: String) {
        if self.notifier.as_ref().is_some_and(|n| n.has_sms()) {
            let sms = Sms { to: to.clone(), body };
            effects.push("answer", Effect::Sms { sms, page: None });
        }
    }

    /// An SMS reply, from the inbox: a code acknowledges its concern as
    /// `!ack` does; STOP and START are noted; anything else changes
    /// nothing. A number that is no lead's or deputy's gets no answer at
    /// all (it would tell a stranger the number is the bot's).
    pub(super) async fn sms_reply_in(
        &self,
        inbound: &Inbound,
        from: &Phone,
        body: &str,
    ) -> anyhow::Result<()> {
        let now = self.now();
        let sid = inbound.event_id.trim_start_matches("sms:");
        let Some(contact) = self.config.safeguarding.outside.by_mobile(from) else {
            self.store.audit(
                now,
                "sms",
                "SMS reply refused: unknown number",
                None,
                &format!("{sid} from {from}"),
            )?;
            warn!("an SMS came from a number that is no lead's or deputy's; nothing changed");
            return Ok(());
        };
        let who = contact.who.clone();
        let mut effects = self.effects(&inbound.event_id);
        match outside::parse_reply(body) {
            Reply::Stop => return self.sms_stopped(&who, from, &inbound.event_id).await,
            Reply::Start => return self.sms_started(&who, from),
            Reply::Other => {
                self.store
                    .audit(now, &who, "SMS reply without a code", None, sid)?;
                self.answer_sms(&mut effects, from, compose::outside::sms_no_code());
            }
            Reply::Code(code) => return self.sms_code(inbound, &who, from, &code).await,
        }
        self.commit_final(Batch::new(), effects).await
    }

    /// A reply code from `who`: the concern it is theirs for, acknowledged.
    async fn sms_code(&self, inbound: &Inbound, who: &str, from: &Phone, code: &str) -> anyhow::Result<()> {
        let now = self.now();
        let sid = inbound.event_id.trim_start_matches("sms:");
        let found = self
            .store
            .items::<Escalation>(Tree::Escalations)?
            .into_iter()
            .map(|(_, e)| e)
            .find(|e| !e.closed && e.outside.code_of(who) == Some(code));
        let mut effects = self.effects(&inbound.event_id);
        let Some(esc) = found else {
            self.store
                .audit(now, who, "SMS reply refused: code not current", None, sid)?;
            self.answer_sms(&mut effects, from, compose::outside::sms_unknown_code());
            return self.commit_final(Batch::new(), effects).await;
        };
        let reference = esc.reference.clone();
        let _one_at_a_time = self.locks.lock(&reference).await;
        let esc = self
            .store
            .get_item::<Escalation>(Tree::Escalations, &reference.to_string())?
            .unwrap_or(esc);
        let mut batch = Batch::new();
        let mut schedule = Schedule::new();
        match esc.acknowledge(who, self.config.safeguarding.responders(), now) {
            AckDecision::Acknowledged(mut next) => {
                if let Some(a) = next.acknowledged.as_mut() {
                    a.via = crate::escalation::AckVia::Sms;
                }
                let ack = Ack {
                    before: &esc,
                    who,
                    confirm_in: Target::Concern(reference.clone()),
                    how: "by SMS reply",
                };
                self.plan_acknowledged(ack, next, &mut batch, &mut effects, &mut schedule)?;
                self.answer_sms(&mut effects, from, compose::outside::sms_acknowledged(&reference));
            }
            AckDecision::Already(a) => {
                let by = self.person_in(Some(&esc), &a.by).name;
                self.store
                    .audit(now, who, "SMS reply: already acknowledged", Some(&reference), sid)?;
                let text = compose::outside::sms_already(&reference, &by, a.at, self.tz());
                self.answer_sms(&mut effects, from, text);
            }
            AckDecision::NotAllowed => {
                self.store.audit(
                    now,
                    who,
                    "SMS reply refused: not a lead or deputy",
                    Some(&reference),
                    sid,
                )?;
            }
        }
        self.commit_final(batch, effects).await?;
        self.set_deadlines(schedule);
        Ok(())
    }

    /// `who`'s number refuses SMS (they replied STOP): no more SMS to it;
    /// the leads' room is told, content-free, and they get an email if
    /// they have an address. Once per number until START.
    async fn sms_stopped(&self, who: &str, phone: &Phone, cause: &str) -> anyhow::Result<()> {
        let mut stopped = self.stopped_numbers()?;
        if !stopped.insert(phone.clone()) {
            return Ok(());
        }
        let now = self.now();
        let mut batch = Batch::new();
        self.store
            .stage_item(&mut batch, Tree::Settings, STOPPED, &stopped)?;
        let mut effects = self.effects(format!("{cause}-stop"));
        let name = self.person(who).name;
        if let Some(room) = self.leads_room() {
            let text = compose::Text::plain(compose::outside::leads_sms_stopped(&name));
            effects.send(
                "leads",
                Target::Room(room),
                Message::notice(text),
                Remember::Nothing,
                None,
            );
        }
        let contact = self.config.safeguarding.outside.contact(who);
        let can_email = self.notifier.as_ref().is_some_and(|n| n.has_email());
        if let (Some(to), true) = (contact.and_then(|c| c.email.clone()), can_email) {
            let (subject, body) = compose::outside::email_sms_stopped(&self.config.safeguarding.organisation);
            let email = Email {
                to,
                subject,
                body,
                message_id: format!("stop.{}@safeguarding-bot.invalid", random_token()),
            };
            effects.push("email", Effect::Email { email, page: None });
        }
        self.store
            .audit(now, who, "SMS stopped: they replied STOP", None, "")?;
        info!("someone's number refuses SMS pages now (STOP)");
        self.commit_final(batch, effects).await
    }

    /// `who` texted START: SMS may go to their number again.
    fn sms_started(&self, who: &str, phone: &Phone) -> anyhow::Result<()> {
        let mut stopped = self.stopped_numbers()?;
        if stopped.remove(phone) {
            self.store.put_item(Tree::Settings, STOPPED, &stopped)?;
            self.store
                .audit(self.now(), who, "SMS started again: they replied START", None, "")?;
        }
        Ok(())
    }

    /// What the gateway said later about an SMS it took: `failed` or
    /// `undelivered` moves that person on to their next method at once.
    /// A status seen twice moves nothing twice.
    pub async fn sms_status(&self, status: SmsStatus) -> anyhow::Result<()> {
        if !status.failed() {
            debug!(status = %status.status, "SMS status");
            return Ok(());
        }
        let key = sent_key(&status.sid);
        let Some(page) = self.store.get_item::<PageStep>(Tree::Settings, &key)? else {
            debug!("a failed status for an SMS that is no page, or was handled");
            return Ok(());
        };
        self.metrics.outside("sms", "failed");
        let code = status
            .error_code
            .map(|c| format!(", error {c}"))
            .unwrap_or_default();
        let detail = format!("{} ({}{code})", page.who, status.status);
        self.store.audit(
            self.now(),
            "bot",
            "SMS page failed",
            Some(&page.reference),
            &detail,
        )?;
        if status.error_code == Some(NotifyError::STOPPED) {
            if let Some(phone) = self
                .config
                .safeguarding
                .outside
                .contact(&page.who)
                .and_then(|c| c.mobile.clone())
            {
                self.sms_stopped(&page.who, &phone, &format!("status-{}", status.sid))
                    .await?;
            }
        }
        self.page_step_failed(&page, Some(key)).await
    }

    /// A page by SMS or email that will not go: its method is not tried
    /// again for this concern and the person's next method goes now.
    /// `forget` is a setting to remove in the same commit.
    pub(super) async fn page_step_failed(
        &self,
        page: &PageStep,
        forget: Option<String>,
    ) -> anyhow::Result<()> {
        let reference = &page.reference;
        let _one_at_a_time = self.locks.lock(reference).await;
        let Some(mut esc) = self
            .store
            .get_item::<Escalation>(Tree::Escalations, &reference.to_string())?
        else {
            return Ok(());
        };
        let mut batch = Batch::new();
        if let Some(key) = &forget {
            self.store.stage_remove_item(&mut batch, Tree::Settings, key);
        }
        let sg = &self.config.safeguarding;
        let state = outside::failed(&esc.outside, &sg.outside, esc.urgent, &page.who, page.step);
        let mut effects = self.effects(format!("{reference}-failed-{}-{}", page.who, page.step));
        if state != esc.outside {
            esc.outside = state;
            esc.generation += 1;
            self.plan_outside(&mut esc, &[], &mut effects)?;
            self.store
                .stage_item(&mut batch, Tree::Escalations, &reference.to_string(), &esc)?;
        }
        self.commit(batch, effects).await?;
        if let Some((r, at, g)) = esc.timer_entry() {
            self.timer.schedule(r, at, g);
        }
        Ok(())
    }

    /// The SMS the gateway took for a page, kept so its status finds it.
    pub(super) fn stage_sent(&self, batch: &mut Batch, sid: &str, page: &PageStep) -> anyhow::Result<()> {
        Ok(self
            .store
            .stage_item(batch, Tree::Settings, &sent_key(sid), page)?)
    }

    /// Whether a page for `reference` should still go: not once it is
    /// acknowledged or closed.
    pub(super) fn page_still_wanted(&self, reference: &Reference) -> bool {
        match self
            .store
            .get_item::<Escalation>(Tree::Escalations, &reference.to_string())
        {
            Ok(Some(esc)) => esc.acknowledged.is_none() && !esc.closed,
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// `who`'s number refuses SMS, as a delivery found out.
    pub(super) async fn delivery_stopped(&self, who: &str, phone: &Phone, cause: &str) -> anyhow::Result<()> {
        self.sms_stopped(who, phone, cause).await
    }
}
