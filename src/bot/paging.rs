//! Paging: the concern's room and the first page, deputy cover and repeat
//! pages when a deadline comes, acknowledgements, and the rota commands.
//! [`crate::escalation::policy`] decides; this turns each decision into
//! effects, committed with the escalation's new state.

use tracing::{debug, info};

use super::intake::{random_token, Schedule};
use super::outbox::{Effect, Effects, Remember, Target};
use super::{compose, escalation_key, Core, Inbound, InboundKind, Kind, Message, RoomSpec, Work};
use crate::concern::Reference;
use crate::escalation::policy::{self, Decision};
use crate::escalation::rota::{self, Rota};
use crate::escalation::{self, AckDecision, Escalation};
use crate::store::{Batch, Tree};

/// Who acknowledged what, and where to say so.
pub(super) struct Ack<'a> {
    /// The escalation as it was.
    pub before: &'a Escalation,
    pub who: &'a str,
    pub confirm_in: Target,
    /// How, for the audit log ("" for the chat).
    pub how: &'a str,
}

impl Core {
    /// The concern's room (made first, through the outbox) and whoever the
    /// policy pages. Call it under the concern's lock.
    pub(super) fn plan_page(
        &self,
        batch: &mut Batch,
        effects: &mut Effects,
        reference: &Reference,
        urgent: bool,
        reporter: &str,
        schedule: &mut Schedule,
    ) -> anyhow::Result<()> {
        if self
            .store
            .get_item::<Escalation>(Tree::Escalations, &reference.to_string())?
            .is_some()
        {
            debug!(reference = %reference, "already paged");
            return Ok(());
        }
        let now = self.now();
        let target = Target::Concern(reference.clone());
        effects.push(
            &format!("{reference}-room"),
            Effect::CreateRoom {
                target,
                spec: RoomSpec {
                    key: random_token(),
                    name: format!("Safeguarding concern {reference}"),
                    invite: Vec::new(),
                    direct: false,
                },
            },
        );
        let mut esc = Escalation::unpaged(reference.clone(), reporter, urgent, "", now);
        self.keep_name(&mut esc, reporter);
        let decision = policy::decide(&esc, &self.policy, &self.rota()?, now);
        self.plan_decision(batch, effects, decision, schedule)
    }

    /// An escalation decision as effects: invite and page, page again, tell
    /// the reporter nobody has answered, remind; the new state staged; the
    /// next deadline noted. Keys come from the state's generation, so a
    /// decision made again after a crash is not a second page.
    pub(super) fn plan_decision(
        &self,
        batch: &mut Batch,
        effects: &mut Effects,
        d: Decision,
        schedule: &mut Schedule,
    ) -> anyhow::Result<()> {
        let mut esc = d.new_state.clone();
        let reference = esc.reference.clone();
        let now = self.now();
        let g = esc.generation;
        let target = Target::Concern(reference.clone());
        let slot = |what: &str| format!("{reference}-g{g}-{what}");
        for user in &d.skipped {
            self.store
                .audit(now, "bot", "skipped: away or off duty", Some(&reference), user)?;
        }
        // Everyone paged is invited, not only those new to it: someone who
        // declined or left is let back in (an invitation to someone in the
        // room already is as good as done). Nobody the config no longer
        // names a lead or deputy is invited, whenever they were paged.
        for user in d.mention() {
            self.keep_name(&mut esc, &user);
        }
        let sg = &self.config.safeguarding;
        let mut invite = d.mention();
        invite.retain(|u| !esc.unreachable.contains(u) && sg.is_responder(u));
        for user in &invite {
            effects.push(
                &slot(&format!("invite-{user}")),
                Effect::Invite {
                    target: target.clone(),
                    user: user.clone(),
                    about: Some(reference.clone()),
                },
            );
        }
        // Someone invited after the record was sent cannot read what came
        // before they joined: the record again, for them, as it stands.
        let fresh: Vec<String> = d.page.iter().filter(|u| invite.contains(u)).cloned().collect();
        if !fresh.is_empty() && esc.page_event.is_some() {
            if let Some(record) = self.store.get_concern(&reference)? {
                let reporter = self.person_in(Some(&esc), &record.reporter);
                let mut text = compose::record(&record, &reporter, self.tz());
                let invited: Vec<_> = fresh.iter().map(|u| self.person_in(Some(&esc), u)).collect();
                let intro = format!(
                    "The record of {reference} as it stands, for {} who {} just been invited:\n",
                    compose::names(&invited),
                    if fresh.len() == 1 { "has" } else { "have" }
                );
                text.plain = format!("{intro}{}", text.plain);
                text.html = text
                    .html
                    .map(|h| format!("<p>{}</p>\n{h}", compose::escape(intro.trim())));
                effects.send(
                    &slot("record"),
                    target.clone(),
                    Message::notice(text),
                    Remember::Nothing,
                    Some(&reference),
                );
            }
        }
        // Nobody who could not be let into the room, or is no longer a lead
        // or deputy, is paged in it.
        if !invite.is_empty() {
            self.plan_page_message(effects, &mut esc, &invite, d.repage_everyone, &slot("page"))?;
        }
        if d.tell_reporter_no_answer {
            let route = self.store.get_concern(&reference)?.and_then(|r| r.route);
            effects.send(
                &slot("noanswer"),
                Target::Private(esc.reporter.clone()),
                Message::plain(compose::no_answer_yet(&reference, route.as_ref())),
                Remember::CopyOf(reference.clone()),
                Some(&reference),
            );
            self.store.audit(
                now,
                "bot",
                "reporter told no one has answered",
                Some(&reference),
                "",
            )?;
        }
        if let Some(who) = &d.remind {
            effects.send(
                &slot("remind"),
                target.clone(),
                {
                    let person = self.person_in(Some(&esc), who);
                    Message::new(
                        Kind::Ping(vec![who.clone()]),
                        compose::reminder(&reference, &person),
                    )
                    .naming(vec![person])
                },
                Remember::Audited {
                    action: "reminded".into(),
                    reference: reference.clone(),
                    detail: who.clone(),
                },
                Some(&reference),
            );
            self.store
                .audit(now, "bot", "reminder queued", Some(&reference), who)?;
        }
        let paged: Vec<String> = d.mention().into_iter().filter(|u| sg.is_responder(u)).collect();
        self.plan_outside(&mut esc, &paged, effects)?;
        self.store
            .stage_item(batch, Tree::Escalations, &reference.to_string(), &esc)?;
        if let Some(entry) = esc.timer_entry() {
            schedule.push(entry);
        }
        Ok(())
    }

    /// The page in the concern's room, mentioning `mention`: audited as
    /// queued now, and as "paged" by the outbox once it went.
    fn plan_page_message(
        &self,
        effects: &mut Effects,
        esc: &mut Escalation,
        mention: &[String],
        repage: bool,
        slot: &str,
    ) -> anyhow::Result<()> {
        let reference = esc.reference.clone();
        // A page went out before: the concern is waiting.
        let again = esc.page_event.is_some();
        let reporter = self.person_in(Some(esc), &esc.reporter);
        let who: Vec<_> = mention.iter().map(|u| self.person_in(Some(esc), u)).collect();
        let text = compose::page(&reference, esc.urgent, &reporter, &who, again);
        let mut named = who;
        named.push(reporter);
        let (queued, delivered) = match (repage, esc.urgent) {
            (true, _) => ("page again queued", "paged again"),
            (false, true) => ("page queued (urgent)", "paged (urgent)"),
            (false, false) => ("page queued", "paged"),
        };
        effects.send(
            slot,
            Target::Concern(reference.clone()),
            Message::new(Kind::Ping(mention.to_vec()), text).naming(named),
            Remember::Audited {
                action: delivered.into(),
                reference: reference.clone(),
                detail: mention.join(" "),
            },
            Some(&reference),
        );
        self.metrics.page_sent(esc.urgent, again);
        if esc.page_event.is_none() {
            esc.page_event = Some(slot.to_string());
        }
        self.store
            .audit(self.now(), "bot", queued, Some(&reference), &mention.join(" "))?;
        info!(reference = %reference, urgent = esc.urgent, count = mention.len(), again = repage, "page queued");
        Ok(())
    }

    /// The chat would not let `user` into the concern's room: they are
    /// passed over as if away, and the escalation decided again, so the
    /// next on duty is paged at once.
    pub(super) async fn mark_unreachable(&self, reference: &Reference, user: &str) -> anyhow::Result<()> {
        {
            let _one_at_a_time = self.locks.lock(reference).await;
            let Some(mut esc) = self
                .store
                .get_item::<Escalation>(Tree::Escalations, &reference.to_string())?
            else {
                return Ok(());
            };
            if esc.unreachable.iter().any(|u| u == user) {
                return Ok(());
            }
            esc.unreachable.push(user.to_string());
            let mut batch = Batch::new();
            let mut effects = self.effects(format!("{reference}-unreachable"));
            // Nobody at all can be let in: the reporter is told now what to
            // do, as the policy says, not once every repeat has run out.
            let nobody = self
                .config
                .safeguarding
                .responders()
                .all(|r| esc.unreachable.iter().any(|u| u == r));
            if nobody && !esc.reporter_told && esc.acknowledged.is_none() {
                esc.reporter_told = true;
                let route = self.store.get_concern(reference)?.and_then(|r| r.route);
                effects.send(
                    "reporter",
                    Target::Private(esc.reporter.clone()),
                    Message::plain(compose::nobody_reachable(reference, route.as_ref())),
                    Remember::CopyOf(reference.clone()),
                    Some(reference),
                );
            }
            self.store
                .stage_item(&mut batch, Tree::Escalations, &reference.to_string(), &esc)?;
            self.commit(batch, effects).await?;
            self.store.audit(
                self.now(),
                "bot",
                "skipped: could not be invited",
                Some(reference),
                user,
            )?;
            if nobody {
                self.store.audit(
                    self.now(),
                    "bot",
                    "reporter told no lead or deputy could be reached",
                    Some(reference),
                    "",
                )?;
            }
        }
        let reference = reference.clone();
        let _ = self
            .queue
            .send((escalation_key(&reference), Work::Recheck { reference }));
        Ok(())
    }

    /// The concern rooms follow the config: anyone in one (or invited) who
    /// is not a lead or deputy now is removed, with the reason, and the room
    /// is told who and why. Run at start, as the config may have changed;
    /// each room is checked through the outbox, so a room the chat cannot
    /// list yet is checked once it can.
    pub(super) async fn tidy_concern_rooms(&self) -> anyhow::Result<()> {
        let now = self.now();
        let mut effects = self.effects(format!("tidy-{}", now.timestamp()));
        for (_, esc) in self.store.items::<Escalation>(Tree::Escalations)? {
            let target = Target::Concern(esc.reference.clone());
            if self.room_of(&target)?.is_some() {
                self.queue_room_check(&mut effects, &format!("{}-check", esc.reference), &esc.reference);
            }
        }
        if !effects.is_empty() {
            self.commit(Batch::new(), effects).await?;
        }
        Ok(())
    }

    /// Someone joined a room: if it is a concern's and they are not a lead
    /// or deputy (someone a lead let in, or who found their way in), the
    /// room is checked at once (see [`Core::clear_outsiders`]): they are
    /// removed with the reason, and the room is told.
    pub(super) async fn someone_joined(&self, inbound: &Inbound) -> anyhow::Result<()> {
        let Some(esc) = self.escalation_for_room(&inbound.room_id)? else {
            return Ok(());
        };
        let mut effects = self.effects(&inbound.event_id);
        self.queue_room_check(&mut effects, "check", &esc.reference);
        self.commit(Batch::new(), effects).await?;
        Ok(())
    }

    /// A deadline came (with the generation it was set for), or something
    /// changed (`None`): decide the escalation again and act on it.
    pub(super) async fn on_deadline(
        &self,
        reference: &Reference,
        generation: Option<u64>,
    ) -> anyhow::Result<()> {
        let _one_at_a_time = self.locks.lock(reference).await;
        let Some(esc) = self
            .store
            .get_item::<Escalation>(Tree::Escalations, &reference.to_string())?
        else {
            return Ok(());
        };
        let now = self.now();
        let rota = self.rota()?;
        let decision = match generation {
            Some(g) => match policy::on_timer(&esc, g, &self.policy, &rota, now) {
                Some(d) => d,
                None => {
                    debug!(reference = %reference, "stale deadline ignored");
                    return Ok(());
                }
            },
            None => policy::decide(&esc, &self.policy, &rota, now),
        };
        let mut batch = Batch::new();
        let mut effects = self.effects(format!("{reference}-decision"));
        let mut schedule = Schedule::new();
        self.plan_decision(&mut batch, &mut effects, decision, &mut schedule)?;
        self.commit(batch, effects).await?;
        self.set_deadlines(schedule);
        Ok(())
    }

    /// An event in a concern's room: a rota or casework command, or an
    /// acknowledgement (`!ack`, or a ✅ or 👍 on any message there).
    pub(super) async fn in_escalation_room(&self, esc: Escalation, inbound: &Inbound) -> anyhow::Result<()> {
        let wants_ack = match &inbound.kind {
            InboundKind::Text { body, .. } => {
                if self.rota_command(inbound, body).await?
                    || self
                        .lead_command(inbound, body, super::casework::Place::Concern(&esc.reference))
                        .await?
                {
                    return Ok(());
                }
                let b = body.trim().to_lowercase();
                b == "!ack" || b.starts_with("!ack ") || b == "!acknowledge"
            }
            InboundKind::Reaction { key, .. } => escalation::is_ack_reaction(key),
            InboundKind::Attachment
            | InboundKind::Edit { .. }
            | InboundKind::Undecryptable
            | InboundKind::Joined
            | InboundKind::Pressed { .. }
            | InboundKind::SmsReply { .. }
            | InboundKind::StartReport => false,
        };
        if !wants_ack {
            return Ok(());
        }
        let _one_at_a_time = self.locks.lock(&esc.reference).await;
        let esc = self
            .store
            .get_item::<Escalation>(Tree::Escalations, &esc.reference.to_string())?
            .unwrap_or(esc);
        let now = self.now();
        let room = Target::Room(inbound.room_id.clone());
        let mut batch = Batch::new();
        // One reply slot whatever the decision, so a replay says nothing new.
        let mut effects = self.effects(&inbound.event_id);
        let mut schedule = Schedule::new();
        match esc.acknowledge(&inbound.sender, self.config.safeguarding.responders(), now) {
            AckDecision::NotAllowed => {
                self.store.audit(
                    now,
                    &inbound.sender,
                    "acknowledge refused: not a lead or deputy",
                    Some(&esc.reference),
                    "",
                )?;
                effects.send(
                    "ack",
                    room,
                    Message::notice(compose::ack_not_allowed()),
                    Remember::Nothing,
                    None,
                );
            }
            AckDecision::Already(a) => {
                let by = self.person_in(Some(&esc), &a.by);
                let text = compose::ack_already(&esc.reference, &by, a.at, self.tz());
                effects.send("ack", room, Message::notice(text), Remember::Nothing, None);
            }
            AckDecision::Acknowledged(next) => {
                let ack = Ack {
                    before: &esc,
                    who: &inbound.sender,
                    confirm_in: room,
                    how: "",
                };
                self.plan_acknowledged(ack, next, &mut batch, &mut effects, &mut schedule)?;
            }
        }
        self.commit(batch, effects).await?;
        self.set_deadlines(schedule);
        Ok(())
    }

    /// A first acknowledgement, however it came (`!ack`, ✅, an SMS reply):
    /// recorded and confirmed in `confirm_in`, the reporter told who and
    /// when through the outbox, paging stopped (pages outside the chat
    /// still to come cancelled) and the reminder set.
    pub(super) fn plan_acknowledged(
        &self,
        ack: Ack<'_>,
        mut next: Escalation,
        batch: &mut Batch,
        effects: &mut Effects,
        schedule: &mut Schedule,
    ) -> anyhow::Result<()> {
        let now = self.now();
        self.keep_name(&mut next, ack.who);
        let by = self.person_in(Some(&next), ack.who);
        self.metrics
            .acknowledged((now - ack.before.paged_at).to_std().unwrap_or_default());
        self.store
            .audit(now, ack.who, "acknowledged", Some(&next.reference), ack.how)?;
        info!(reference = %next.reference, "concern acknowledged");
        let text = compose::ack_confirmed(&next.reference, &by, now, self.tz());
        effects.send(
            "ack",
            ack.confirm_in,
            Message::notice(text),
            Remember::Nothing,
            None,
        );
        // The reporter is told through the outbox: kept with the
        // acknowledgement, so a crash never loses it.
        effects.send(
            "toldreporter",
            Target::Private(next.reporter.clone()),
            Message::plain(compose::reporter_told_ack(&next.reference, &by, now, self.tz())),
            Remember::CopyOf(next.reference.clone()),
            Some(&next.reference),
        );
        // Schedules the reminder; nothing more is paged.
        let decision = policy::decide(&next, &self.policy, &self.rota()?, now);
        self.plan_decision(batch, effects, decision, schedule)
    }

    /// `!away`, `!back`, `!cover`, `!rota` from a lead or deputy. Returns
    /// whether the message was one of them (and so has been answered).
    /// Decides every concern not yet acknowledged or closed again, each in
    /// its own turn (the rota changed, or the chat went out of reach).
    pub(super) fn recheck_open_escalations(&self) -> anyhow::Result<()> {
        for (_, esc) in self.store.items::<Escalation>(Tree::Escalations)? {
            if esc.acknowledged.is_none() && !esc.closed {
                let reference = esc.reference.clone();
                let _ = self
                    .queue
                    .send((escalation_key(&reference), Work::Recheck { reference }));
            }
        }
        Ok(())
    }

    pub(super) async fn rota_command(&self, inbound: &Inbound, body: &str) -> anyhow::Result<bool> {
        if super::testpage::is_testpage(body) {
            self.test_page(inbound).await?;
            return Ok(true);
        }
        let now = self.now();
        let Some(parsed) = rota::parse_command(body, self.tz(), now) else {
            return Ok(false);
        };
        if !self.config.safeguarding.is_responder(&inbound.sender) {
            let word = body.split_whitespace().next().unwrap_or("").to_lowercase();
            self.store
                .audit(now, &inbound.sender, "refused: not a lead or deputy", None, &word)?;
            let text = compose::Text::plain(
                "Only the Lead or a Deputy for Safeguarding can change or see the rota.",
            );
            self.answer(inbound, "rota", text, false)?;
            return Ok(true);
        }
        let mut batch = Batch::new();
        let mut changed = false;
        let reply = match parsed {
            Err(e) => e.0,
            Ok(command) => match self
                .rota()?
                .apply(&inbound.sender, &command, &self.policy, self.tz(), now)
            {
                Err(e) => e.0,
                Ok((rota, reply)) => {
                    self.store.stage_item(&mut batch, Tree::Settings, "rota", &rota)?;
                    self.store
                        .audit(now, &inbound.sender, "rota changed", None, body.trim())?;
                    changed = true;
                    reply
                }
            },
        };
        // The rota names leads and deputies by their chat ids: shown by name.
        let mut reply = reply;
        let mut ids: Vec<&str> = self.config.safeguarding.responders().collect();
        ids.sort_by_key(|id| std::cmp::Reverse(id.len()));
        for id in ids {
            reply = reply.replace(id, &self.person(id).name);
        }
        let mut effects = self.effects(&inbound.event_id);
        effects.send(
            "rota",
            Target::Room(inbound.room_id.clone()),
            Message::plain(compose::Text::plain(reply)),
            Remember::Nothing,
            None,
        );
        self.commit(batch, effects).await?;
        if changed {
            // Someone away is skipped at once; someone back is paged again.
            self.recheck_open_escalations()?;
        }
        Ok(true)
    }

    pub(super) fn rota(&self) -> anyhow::Result<Rota> {
        Ok(self
            .store
            .get_item::<Rota>(Tree::Settings, "rota")?
            .unwrap_or_default())
    }
}
