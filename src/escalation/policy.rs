//! The escalation policy: who to page for a concern, and when.
//!
//! [`decide`] is pure: it takes an [`Escalation`], the [`Policy`], the
//! [`Rota`] and the time, and returns a [`Decision`]: who to invite and page
//! now, whether to re-page everyone already paged, whether to tell the
//! reporter that nobody has answered, whom to remind, the next deadline and
//! the new state to keep. The transport carries it out and keeps the state.
//!
//! # The steps
//!
//! 1. **Lead**: the lead is paged, or the deputy covering for them. They
//!    have `ack_timeout` (`urgent_ack_timeout` for urgent concerns).
//! 2. **Deputies**: in order, one step each with the same timeout
//!    ([`DeputyMode::InOrder`]), or all at once in one step
//!    ([`DeputyMode::AllAtOnce`]).
//! 3. **Repeats**: everyone already paged is paged again, `repeats` times,
//!    each waiting `repeat_interval`.
//! 4. **Exhausted**: the reporter is told, once, that nobody has answered and
//!    that they must act themselves now; paging goes on every
//!    `repeat_interval` until someone acknowledges.
//!
//! Someone away (per the [`Rota`]) is skipped at once instead of waiting out
//! their step, and so is a deputy already paged (the one covering for the
//! lead). If someone's step is running when they go away, the step ends at
//! the next `decide` (call it after every rota change). Anyone on duty who
//! has not been paged by the time the repeats start (someone back from
//! being away) is invited and paged then. If nobody at all is on duty, the
//! repeats page every lead and deputy anyway: a concern is never left
//! unpaged.
//!
//! After an acknowledgement paging stops; if the concern is still open
//! `reminder_after` the acknowledgement, the acknowledger is reminded, once
//! (and once more `reminder_after` a reopening, [`Escalation::reopen`]).
//! A closed escalation ([`Escalation::close`]) does nothing.
//!
//! # Time
//!
//! Every deadline is an absolute UTC instant: the start of its step plus
//! the step's length. A step starts when its page is decided (`now`), so a
//! deputy paged late (after a restart) still gets their full time. Neither
//! a restart nor a clock change moves a deadline; local time is only for
//! display.
//!
//! # Exactly one outcome
//!
//! `decide` is idempotent: given its own `new_state` at the same `now` it
//! pages nobody and changes nothing. The state's `generation` goes up by
//! one whenever the state changes (an acknowledgement included), so a timer
//! entry scheduled for an older generation is stale: [`on_timer`] returns
//! `None` for it. The transport must handle one escalation at a time (load,
//! decide, store), so an acknowledgement and a deadline cannot interleave.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rota::Rota;
use super::Escalation;
use crate::config::SafeguardingConfig;

/// How the deputies are paged once the lead's step runs out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeputyMode {
    /// One deputy at a time, in the configured order, each with the ack timeout.
    #[default]
    InOrder,
    /// Every deputy on duty at once, in one step with the ack timeout.
    AllAtOnce,
}

/// The escalation policy: who is paged, in what order, and how long each
/// step waits. Durations under one second are taken as one second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long a paged lead or deputy has to acknowledge.
    pub ack_timeout: Duration,
    /// The same, for an urgent concern.
    pub urgent_ack_timeout: Duration,
    /// The deputies, in the order they are paged.
    pub deputies: Vec<String>,
    pub lead: String,
    pub deputy_mode: DeputyMode,
    /// How many times everyone already paged is paged again before the
    /// reporter is told that nobody has answered.
    pub repeats: u32,
    /// How long each repeat waits, and how often paging goes on after that.
    pub repeat_interval: Duration,
    /// How long after an acknowledgement the acknowledger is reminded, if
    /// the concern is still open.
    pub reminder_after: Duration,
}

impl Policy {
    /// Default number of repeats when the config does not say.
    pub const DEFAULT_REPEATS: u32 = 3;
    /// Default repeat interval when the config does not say.
    pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(5 * 60);
    /// Default reminder time: 24 hours.
    pub const DEFAULT_REMINDER_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

    /// The policy from the config (whose defaults are the constants above).
    pub fn from_config(sg: &SafeguardingConfig) -> Self {
        Policy {
            ack_timeout: sg.ack_timeout,
            urgent_ack_timeout: sg.urgent_ack_timeout,
            deputies: sg.deputies.clone(),
            lead: sg.lead.clone(),
            deputy_mode: if sg.deputies_all_at_once {
                DeputyMode::AllAtOnce
            } else {
                DeputyMode::InOrder
            },
            repeats: sg.repeats,
            repeat_interval: sg.repeat_interval,
            reminder_after: sg.remind_after,
        }
    }

    /// The lead and the deputies: everyone who may be paged.
    pub fn responders(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.lead.as_str()).chain(self.deputies.iter().map(String::as_str))
    }

    /// How long a paged lead or deputy has, for an urgent concern or not.
    pub fn timeout(&self, urgent: bool) -> chrono::Duration {
        chrono_duration(if urgent {
            self.urgent_ack_timeout
        } else {
            self.ack_timeout
        })
    }

    fn interval(&self) -> chrono::Duration {
        chrono_duration(self.repeat_interval)
    }
}

/// A std duration as chrono's, at least one second and at most 100 years.
fn chrono_duration(d: Duration) -> chrono::Duration {
    let d = d.clamp(Duration::from_secs(1), Duration::from_secs(100 * 365 * 24 * 3600));
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Where an escalation is in the policy. Each `since` is when the step
/// started (UTC); its deadline is `since` plus the step's length.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum EscalationStep {
    /// The policy has not run yet. Anyone already in `paged` was paged at
    /// `paged_at` (as [`Escalation::new`] does for the lead).
    #[default]
    Start,
    /// Waiting on the lead, or the deputy covering for the lead.
    Lead { since: DateTime<Utc> },
    /// Waiting on the deputy at `index` in the policy's order.
    Deputy { index: usize, since: DateTime<Utc> },
    /// Waiting on every deputy on duty, paged together.
    AllDeputies { since: DateTime<Utc> },
    /// The `n`th re-page of everyone (from 1).
    Repeat { n: u32, since: DateTime<Utc> },
    /// The steps are used up and the reporter was told; re-paging goes on.
    Exhausted { since: DateTime<Utc> },
    /// Someone acknowledged: paging is over.
    Acknowledged,
}

/// What to do now, and the state to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Invite to the escalation room and page, now. Each is added to
    /// `new_state.paged`.
    pub page: Vec<String>,
    /// Page again everyone paged before (everyone in `new_state.paged`).
    /// [`Decision::mention`] gives everyone a page message should mention.
    pub repage_everyone: bool,
    /// Skipped because they are away or off duty (for the audit log).
    pub skipped: Vec<String>,
    /// Tell the reporter that no lead has answered and that they must act
    /// themselves now. True once per escalation.
    pub tell_reporter_no_answer: bool,
    /// Remind this acknowledger that the concern is still open.
    pub remind: Option<String>,
    /// When to call `decide` again (UTC), if ever: schedule it with
    /// `new_state.generation`.
    pub next_deadline: Option<DateTime<Utc>>,
    /// Whether `new_state` differs from the escalation given: keep it if so.
    pub changed: bool,
    pub new_state: Escalation,
}

impl Decision {
    /// Everyone this decision's page message should mention: those newly
    /// paged and, when re-paging, everyone paged before.
    pub fn mention(&self) -> Vec<String> {
        if self.repage_everyone {
            self.new_state.paged.clone()
        } else {
            self.page.clone()
        }
    }

    /// Whether there is nothing to send.
    pub fn is_quiet(&self) -> bool {
        self.page.is_empty()
            && !self.repage_everyone
            && !self.tell_reporter_no_answer
            && self.remind.is_none()
    }
}

/// Decides what a timer entry for `generation` comes to: `None` if it is
/// stale (the escalation has moved on since it was scheduled), otherwise
/// [`decide`] at `now`.
pub fn on_timer(
    esc: &Escalation,
    generation: u64,
    policy: &Policy,
    rota: &Rota,
    now: DateTime<Utc>,
) -> Option<Decision> {
    (esc.generation == generation).then(|| decide(esc, policy, rota, now))
}

/// The step after this one, to be entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Lead,
    Deputy(usize),
    AllDeputies,
    Repeat(u32),
    Exhausted,
}

struct Walk<'a> {
    st: Escalation,
    policy: &'a Policy,
    rota: &'a Rota,
    now: DateTime<Utc>,
    page: Vec<String>,
    repage: bool,
    skipped: Vec<String>,
    tell: bool,
}

impl Walk<'_> {
    fn paged(&self, who: &str) -> bool {
        self.st.paged.iter().any(|p| p == who)
    }

    /// Who is on the lead's duty now (the lead, or whoever covers), unless
    /// they could not be let into the concern's room.
    fn lead_duty(&self) -> Option<String> {
        self.rota
            .lead_duty(self.policy, self.now)
            .filter(|who| !self.st.unreachable.iter().any(|u| u == who))
    }

    /// Away per the rota, or not able to be let into the concern's room.
    fn away(&self, who: &str) -> bool {
        self.rota.is_away(who, self.now) || self.st.unreachable.iter().any(|u| u == who)
    }

    fn page(&mut self, who: &str) {
        if !self.paged(who) {
            self.st.paged.push(who.to_string());
            self.page.push(who.to_string());
        }
    }

    fn skip(&mut self, who: &str) {
        if !self.skipped.iter().any(|s| s == who) {
            self.skipped.push(who.to_string());
        }
    }

    fn after_lead(&self) -> Next {
        match self.policy.deputy_mode {
            DeputyMode::InOrder => Next::Deputy(0),
            DeputyMode::AllAtOnce => Next::AllDeputies,
        }
    }

    /// Deputies on duty now: not away, in the policy's order.
    fn deputies_on_duty(&self) -> Vec<String> {
        let policy = self.policy;
        policy
            .deputies
            .iter()
            .filter(|d| !self.away(d))
            .cloned()
            .collect()
    }

    /// Enters `next` at `now`, passing at once over steps with nobody to wait for.
    fn enter(&mut self, mut next: Next) {
        let now = self.now;
        loop {
            match next {
                Next::Lead => match self.lead_duty() {
                    Some(who) => {
                        self.page(&who);
                        self.st.step = EscalationStep::Lead { since: now };
                        return;
                    }
                    None => {
                        let lead = self.policy.lead.clone();
                        self.skip(&lead);
                        next = self.after_lead();
                    }
                },
                Next::Deputy(i) => match self.policy.deputies.get(i).cloned() {
                    None => next = Next::Repeat(1),
                    Some(d) if self.away(&d) => {
                        self.skip(&d);
                        next = Next::Deputy(i + 1);
                    }
                    Some(d) if self.paged(&d) => next = Next::Deputy(i + 1),
                    Some(d) => {
                        self.page(&d);
                        self.st.step = EscalationStep::Deputy { index: i, since: now };
                        return;
                    }
                },
                Next::AllDeputies => {
                    let policy = self.policy;
                    for d in &policy.deputies {
                        if self.away(d) {
                            self.skip(d);
                        }
                    }
                    let fresh: Vec<String> = self
                        .deputies_on_duty()
                        .into_iter()
                        .filter(|d| !self.paged(d))
                        .collect();
                    if fresh.is_empty() {
                        next = Next::Repeat(1);
                    } else {
                        for d in &fresh {
                            self.page(d);
                        }
                        self.st.step = EscalationStep::AllDeputies { since: now };
                        return;
                    }
                }
                Next::Repeat(n) if n > self.policy.repeats => next = Next::Exhausted,
                Next::Repeat(n) => {
                    self.repage();
                    self.st.step = EscalationStep::Repeat { n, since: now };
                    return;
                }
                Next::Exhausted => {
                    if !self.st.reporter_told {
                        self.st.reporter_told = true;
                        self.tell = true;
                    }
                    self.repage();
                    self.st.step = EscalationStep::Exhausted { since: now };
                    return;
                }
            }
        }
    }

    /// Re-pages everyone already paged, and invites anyone on duty not yet
    /// paged. If that is nobody at all, pages every lead and deputy.
    fn repage(&mut self) {
        self.page_newly_on_duty();
        if self.st.paged.is_empty() {
            let everyone: Vec<String> = self.policy.responders().map(str::to_string).collect();
            for who in &everyone {
                self.page(who);
            }
        }
        // Those just invited get the page anyway; re-page the others.
        if self.st.paged.len() > self.page.len() {
            self.repage = true;
        }
    }

    fn page_newly_on_duty(&mut self) {
        for who in self.rota.on_duty(self.policy, self.now) {
            self.page(&who);
        }
    }

    /// Looks at the current step: pages anyone it now calls for, and says
    /// which step to enter if it has ended (run out, or its person away).
    fn tick(&mut self) -> Option<Next> {
        let now = self.now;
        let timeout = self.policy.timeout(self.st.urgent);
        let interval = self.policy.interval();
        match self.st.step.clone() {
            EscalationStep::Start => {
                // The transport may already have paged someone (Escalation::new).
                match self.lead_duty() {
                    Some(who) if self.paged(&who) => {
                        self.st.step = EscalationStep::Lead {
                            since: self.st.paged_at,
                        };
                        self.tick()
                    }
                    _ => Some(Next::Lead),
                }
            }
            EscalationStep::Lead { since } => match self.lead_duty() {
                None => {
                    let lead = self.policy.lead.clone();
                    self.skip(&lead);
                    Some(self.after_lead())
                }
                // Someone else is on the lead's duty now (a cover began):
                // page them, and the step starts again for them.
                Some(who) if !self.paged(&who) => Some(Next::Lead),
                Some(_) if now >= since + timeout => Some(self.after_lead()),
                Some(_) => None,
            },
            EscalationStep::Deputy { index, since } => match self.policy.deputies.get(index).cloned() {
                None => Some(Next::Deputy(index + 1)),
                Some(d) if self.away(&d) => {
                    self.skip(&d);
                    Some(Next::Deputy(index + 1))
                }
                Some(_) if now >= since + timeout => Some(Next::Deputy(index + 1)),
                Some(_) => None,
            },
            EscalationStep::AllDeputies { since } => {
                let on = self.deputies_on_duty();
                if on.is_empty() {
                    let policy = self.policy;
                    for d in &policy.deputies {
                        self.skip(d);
                    }
                    return Some(Next::Repeat(1));
                }
                for d in &on {
                    self.page(d);
                }
                (now >= since + timeout).then_some(Next::Repeat(1))
            }
            EscalationStep::Repeat { n, since } => {
                self.page_newly_on_duty();
                (now >= since + interval).then_some(Next::Repeat(n + 1))
            }
            EscalationStep::Exhausted { since } => {
                self.page_newly_on_duty();
                (now >= since + interval).then_some(Next::Exhausted)
            }
            EscalationStep::Acknowledged => None,
        }
    }

    fn deadline(&self) -> Option<DateTime<Utc>> {
        let timeout = self.policy.timeout(self.st.urgent);
        let interval = self.policy.interval();
        match &self.st.step {
            EscalationStep::Lead { since }
            | EscalationStep::Deputy { since, .. }
            | EscalationStep::AllDeputies { since } => Some(*since + timeout),
            EscalationStep::Repeat { since, .. } | EscalationStep::Exhausted { since } => {
                Some(*since + interval)
            }
            EscalationStep::Start | EscalationStep::Acknowledged => None,
        }
    }
}

/// Decides what to do for `esc` at `now`: see the [module documentation](self).
///
/// Call it when a concern is first escalated, when its timer fires (through
/// [`on_timer`]), after an acknowledgement (to set the reminder), and after
/// any rota change (so someone who went away is skipped at once).
pub fn decide(esc: &Escalation, policy: &Policy, rota: &Rota, now: DateTime<Utc>) -> Decision {
    let mut w = Walk {
        st: esc.clone(),
        policy,
        rota,
        now,
        page: Vec::new(),
        repage: false,
        skipped: Vec::new(),
        tell: false,
    };
    let mut remind = None;
    // Someone no longer a lead or deputy (removed from the config since) is
    // never paged or reminded again, however long ago they were paged.
    w.st.paged.retain(|p| policy.responders().any(|r| r == p));
    if w.st.closed {
        w.st.deadline = None;
    } else if let Some(ack) = w.st.acknowledged.clone() {
        w.st.step = EscalationStep::Acknowledged;
        w.st.deadline = None;
        if w.st.reminded_at.is_none() {
            let since = w.st.reopened_at.map_or(ack.at, |r| r.max(ack.at));
            let due = since + chrono_duration(policy.reminder_after);
            if now >= due {
                remind = policy.responders().any(|r| r == ack.by).then_some(ack.by);
                w.st.reminded_at = Some(now);
            } else {
                w.st.deadline = Some(due);
            }
        }
    } else {
        // Each pass either settles or moves on to a later step; only the
        // steps with nobody to wait for are passed at once, so this ends.
        let bound = policy.deputies.len() + 8;
        for _ in 0..bound {
            match w.tick() {
                Some(next) => w.enter(next),
                None => break,
            }
        }
        w.st.deadline = w.deadline();
    }

    let mut new_state = w.st;
    let changed = new_state != *esc;
    if changed {
        new_state.generation = esc.generation + 1;
    }
    Decision {
        page: w.page,
        repage_everyone: w.repage,
        skipped: w.skipped,
        tell_reporter_no_answer: w.tell,
        remind,
        next_deadline: new_state.deadline,
        changed,
        new_state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::concern::Reference;
    use crate::escalation::rota::{Away, Cover};
    use chrono::TimeZone;

    const LEAD: &str = "@dsl:x";
    const D1: &str = "@d1:x";
    const D2: &str = "@d2:x";

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    fn policy(mode: DeputyMode) -> Policy {
        Policy {
            ack_timeout: Duration::from_secs(600),
            urgent_ack_timeout: Duration::from_secs(120),
            deputies: vec![D1.into(), D2.into()],
            lead: LEAD.into(),
            deputy_mode: mode,
            repeats: 2,
            repeat_interval: Duration::from_secs(300),
            reminder_after: Duration::from_secs(24 * 3600),
        }
    }

    fn fresh() -> Escalation {
        Escalation::unpaged(Reference::new(1), "@sam:x", false, "!r:x", t0())
    }

    fn mins(m: i64) -> chrono::Duration {
        chrono::Duration::minutes(m)
    }

    #[test]
    fn the_whole_ladder_in_order() {
        let p = policy(DeputyMode::InOrder);
        let r = Rota::default();
        let d = decide(&fresh(), &p, &r, t0());
        assert_eq!(d.page, vec![LEAD]);
        assert_eq!(d.next_deadline, Some(t0() + mins(10)));
        assert_eq!(d.new_state.generation, 1);
        let d = decide(&d.new_state, &p, &r, t0() + mins(10));
        assert_eq!(d.page, vec![D1]);
        let d = decide(&d.new_state, &p, &r, t0() + mins(20));
        assert_eq!(d.page, vec![D2]);
        assert_eq!(d.next_deadline, Some(t0() + mins(30)));
        let d = decide(&d.new_state, &p, &r, t0() + mins(30));
        assert!(d.page.is_empty() && d.repage_everyone && !d.tell_reporter_no_answer);
        assert_eq!(
            d.new_state.step,
            EscalationStep::Repeat {
                n: 1,
                since: t0() + mins(30)
            }
        );
        let d = decide(&d.new_state, &p, &r, t0() + mins(35));
        assert_eq!(
            d.new_state.step,
            EscalationStep::Repeat {
                n: 2,
                since: t0() + mins(35)
            }
        );
        let d = decide(&d.new_state, &p, &r, t0() + mins(40));
        assert!(d.repage_everyone && d.tell_reporter_no_answer);
        assert_eq!(d.mention(), vec![LEAD, D1, D2]);
        let d = decide(&d.new_state, &p, &r, t0() + mins(45));
        assert!(d.repage_everyone && !d.tell_reporter_no_answer);
        assert_eq!(d.next_deadline, Some(t0() + mins(50)));
    }

    #[test]
    fn all_at_once_pages_both_deputies_together() {
        let p = policy(DeputyMode::AllAtOnce);
        let r = Rota::default();
        let d = decide(&fresh(), &p, &r, t0());
        let d = decide(&d.new_state, &p, &r, t0() + mins(10));
        assert_eq!(d.page, vec![D1, D2]);
        assert_eq!(d.next_deadline, Some(t0() + mins(20)));
    }

    #[test]
    fn urgent_uses_the_urgent_timeout() {
        let p = policy(DeputyMode::InOrder);
        let mut e = fresh();
        e.urgent = true;
        let d = decide(&e, &p, &Rota::default(), t0());
        assert_eq!(d.next_deadline, Some(t0() + mins(2)));
    }

    #[test]
    fn an_escalation_made_by_new_counts_the_lead_as_paged() {
        let p = policy(DeputyMode::InOrder);
        let e = Escalation::new(Reference::new(1), "@sam:x", false, "!r:x", LEAD, t0());
        let d = decide(&e, &p, &Rota::default(), t0() + mins(1));
        assert!(d.page.is_empty());
        assert_eq!(d.next_deadline, Some(t0() + mins(10)));
    }

    #[test]
    fn everyone_away_still_pages_everyone() {
        let p = policy(DeputyMode::InOrder);
        let mut r = Rota::default();
        for who in [LEAD, D1, D2] {
            r.away.insert(who.into(), Away { until: None });
        }
        let d = decide(&fresh(), &p, &r, t0());
        assert_eq!(d.page, vec![LEAD, D1, D2]);
        assert_eq!(d.skipped, vec![LEAD, D1, D2]);
        assert_eq!(d.new_state.step, EscalationStep::Repeat { n: 1, since: t0() });
    }

    #[test]
    fn a_cover_starting_mid_step_pages_the_deputy_for_a_full_step() {
        let p = policy(DeputyMode::InOrder);
        let d = decide(&fresh(), &p, &Rota::default(), t0());
        let r = Rota {
            cover: Some(Cover {
                deputy: D2.into(),
                for_lead: LEAD.into(),
                until: None,
            }),
            ..Rota::default()
        };
        let d = decide(&d.new_state, &p, &r, t0() + mins(4));
        assert_eq!(d.page, vec![D2]);
        assert_eq!(d.next_deadline, Some(t0() + mins(14)));
        // Then D1, and D2 is not waited on again.
        let d = decide(&d.new_state, &p, &r, t0() + mins(14));
        assert_eq!(d.page, vec![D1]);
        let d = decide(&d.new_state, &p, &r, t0() + mins(24));
        assert!(d.repage_everyone && d.page.is_empty());
    }

    #[test]
    fn someone_back_is_paged_at_the_repeats() {
        let p = policy(DeputyMode::InOrder);
        let mut r = Rota::default();
        r.away.insert(
            D2.into(),
            Away {
                until: Some(t0() + mins(23)),
            },
        );
        let d = decide(&fresh(), &p, &r, t0());
        let d = decide(&d.new_state, &p, &r, t0() + mins(10));
        assert_eq!(d.page, vec![D1]);
        let d = decide(&d.new_state, &p, &r, t0() + mins(20));
        assert_eq!(d.skipped, vec![D2]);
        assert!(d.repage_everyone);
        let d = decide(&d.new_state, &p, &r, t0() + mins(23));
        assert_eq!(d.page, vec![D2]);
        assert!(!d.repage_everyone);
    }

    /// The in-order policy, nobody away, and a fresh concern the lead
    /// acknowledged three minutes after it was paged.
    fn acknowledged_by_the_lead_at_3_minutes() -> (Policy, Rota, Escalation) {
        let p = policy(DeputyMode::InOrder);
        let r = Rota::default();
        let d = decide(&fresh(), &p, &r, t0());
        let super::super::AckDecision::Acknowledged(acked) =
            d.new_state.acknowledge(LEAD, p.responders(), t0() + mins(3))
        else {
            panic!("the lead may acknowledge")
        };
        (p, r, acked)
    }

    #[test]
    fn reminder_once_if_still_open_and_none_if_closed() {
        let (p, r, acked) = acknowledged_by_the_lead_at_3_minutes();
        let d = decide(&acked, &p, &r, t0() + mins(3));
        let due = t0() + mins(3) + chrono::Duration::hours(24);
        assert_eq!(d.next_deadline, Some(due));
        assert!(d.is_quiet());
        let closed = d.new_state.close();
        let c = decide(&closed, &p, &r, due);
        assert!(c.is_quiet() && c.next_deadline.is_none() && !c.changed);
        let d = decide(&d.new_state, &p, &r, due);
        assert_eq!(d.remind.as_deref(), Some(LEAD));
        assert_eq!(d.next_deadline, None);
        let again = decide(&d.new_state, &p, &r, due + mins(1));
        assert!(again.is_quiet() && !again.changed);
    }

    #[test]
    fn a_reopened_concern_reminds_again_a_whole_reminder_time_after_reopening() {
        let (p, r, acked) = acknowledged_by_the_lead_at_3_minutes();
        let day = chrono::Duration::hours(24);
        let reminded = decide(&acked, &p, &r, t0() + mins(3) + day);
        assert_eq!(reminded.remind.as_deref(), Some(LEAD));
        // Closed two days on, reopened a week on.
        let closed = reminded.new_state.close();
        let reopen_at = t0() + day * 7;
        let reopened = closed.reopen(reopen_at);
        let d = decide(&reopened, &p, &r, reopen_at);
        assert!(d.is_quiet(), "nothing at once: {d:?}");
        assert_eq!(
            d.next_deadline,
            Some(reopen_at + day),
            "not a day after the first ack"
        );
        let before = decide(&d.new_state, &p, &r, reopen_at + day - mins(1));
        assert!(before.remind.is_none());
        let due = decide(&d.new_state, &p, &r, reopen_at + day);
        assert_eq!(due.remind.as_deref(), Some(LEAD));
        let again = decide(&due.new_state, &p, &r, reopen_at + day + mins(1));
        assert!(again.is_quiet() && !again.changed, "once: {again:?}");
    }

    #[test]
    fn someone_removed_from_the_policy_is_never_paged_again() {
        let p = policy(DeputyMode::InOrder);
        let r = Rota::default();
        let d = decide(&fresh(), &p, &r, t0());
        let d = decide(&d.new_state, &p, &r, t0() + mins(10));
        assert_eq!(d.new_state.paged, vec![LEAD, D1]);
        // The first deputy is made lead; the old lead is gone.
        let mut p2 = p.clone();
        p2.lead = D1.into();
        p2.deputies = vec![D2.into()];
        let mut e = d.new_state;
        for m in [20, 30, 35, 40, 45, 50] {
            let d = decide(&e, &p2, &r, t0() + mins(m));
            assert!(!d.mention().iter().any(|u| u == LEAD), "at {m}: {d:?}");
            assert!(!d.new_state.paged.iter().any(|u| u == LEAD), "at {m}");
            e = d.new_state;
        }
        assert!(e.paged.iter().any(|u| u == D2), "the others are paged: {e:?}");
    }

    #[test]
    fn idempotent_at_every_step() {
        let p = policy(DeputyMode::InOrder);
        let mut r = Rota::default();
        r.away.insert(D1.into(), Away { until: None });
        let mut e = fresh();
        for m in [0, 10, 20, 25, 30, 35, 40] {
            let d = decide(&e, &p, &r, t0() + mins(m));
            let again = decide(&d.new_state, &p, &r, t0() + mins(m));
            assert!(again.is_quiet() && !again.changed, "at {m}: {again:?}");
            assert!(again.skipped.is_empty());
            e = d.new_state;
        }
    }
}
