//! Escalation: who has been paged for a concern, and who acknowledged it.
//!
//! Pure decisions with the time passed in; the transport acts on them. The
//! state is kept in the store, one [`Escalation`] per concern, so nothing
//! about a page is lost on restart.
//!
//! - [`policy`]: who to page next and when, a pure `decide` with the clock
//!   passed in; the escalation records its step and a generation number.
//! - [`rota`]: who is away and who covers for the lead, and the `!away`,
//!   `!back`, `!cover` and `!rota` commands.
//! - [`timer`]: the one task that owns every deadline.
//! - [`contacts`]: each lead's and deputy's mobile, email and rules, from
//!   the config, checked.
//! - [`outside`]: which SMS and emails are due for a concern, and the
//!   reply codes; pure, with the clock passed in.

pub mod contacts;
pub mod outside;
pub mod policy;
pub mod rota;
pub mod timer;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::concern::Reference;

pub use policy::EscalationStep;

/// A concern's paging, as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub reference: Reference,
    pub reporter: String,
    pub urgent: bool,
    /// The transport's private room for this concern (a Matrix room id).
    pub room: String,
    /// The page message, so a reaction to it can be recognised.
    pub page_event: Option<String>,
    pub paged_at: DateTime<Utc>,
    /// Who was paged, in order.
    pub paged: Vec<String>,
    pub acknowledged: Option<Acknowledgement>,
    /// Where the policy is (see [`policy::decide`]). Escalations stored
    /// before there was a policy load as [`EscalationStep::Start`].
    #[serde(default)]
    pub step: EscalationStep,
    /// Goes up by one whenever the state changes, so a timer set for an
    /// older generation is recognised as stale and ignored.
    #[serde(default)]
    pub generation: u64,
    /// When the policy next needs to run for this concern (UTC), if ever.
    /// Kept so the timer can be rebuilt from the store after a restart.
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
    /// The concern is closed: no more paging, no reminder.
    #[serde(default)]
    pub closed: bool,
    /// The reporter has been told that nobody answered and they must act.
    #[serde(default)]
    pub reporter_told: bool,
    /// When the acknowledger was reminded that the concern is still open.
    #[serde(default)]
    pub reminded_at: Option<DateTime<Utc>>,
    /// When the concern was last reopened: the reminder counts from here.
    #[serde(default)]
    pub reopened_at: Option<DateTime<Utc>>,
    /// Leads or deputies the chat would not let into the concern's room:
    /// passed over as if away, so the next one is paged at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreachable: Vec<String>,
    /// The names of the reporter and of everyone paged or acknowledging,
    /// by chat id, as they were then: the record names them so for good.
    /// Escalations kept before names were kept have none.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub names: std::collections::BTreeMap<String, String>,
    /// Pages outside the chat (SMS, email) and each person's reply code.
    /// Escalations kept before there were any have none.
    #[serde(default, skip_serializing_if = "outside::Outside::is_empty")]
    pub outside: outside::Outside,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at: DateTime<Utc>,
    /// How: in the chat (kept before there was another way) or by
    /// replying to an SMS page.
    #[serde(default, skip_serializing_if = "AckVia::is_chat")]
    pub via: AckVia,
}

/// How a concern was acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AckVia {
    /// `!ack` or a reaction in the concern's room.
    #[default]
    Chat,
    /// A reply to an SMS page with its code.
    Sms,
}

impl AckVia {
    fn is_chat(&self) -> bool {
        *self == AckVia::Chat
    }
}

/// What an acknowledgement attempt comes to.
// Made once per acknowledgement and matched at once: no need to box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckDecision {
    /// First acknowledgement: record it, confirm, tell the reporter.
    Acknowledged(Escalation),
    /// Someone already acknowledged; nothing changes.
    Already(Acknowledgement),
    /// This person may not acknowledge.
    NotAllowed,
}

impl Escalation {
    pub fn new(
        reference: Reference,
        reporter: &str,
        urgent: bool,
        room: &str,
        lead: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Escalation {
            paged: vec![lead.to_string()],
            ..Escalation::unpaged(reference, reporter, urgent, room, now)
        }
    }

    /// An escalation nobody has been paged for yet: the first
    /// [`policy::decide`] pages whoever is on duty (the lead, the deputy
    /// covering for them, or the deputies if the lead is away).
    /// [`Escalation::new`] is the same with the lead already paged at `now`.
    pub fn unpaged(
        reference: Reference,
        reporter: &str,
        urgent: bool,
        room: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Escalation {
            reference,
            reporter: reporter.to_string(),
            urgent,
            room: room.to_string(),
            page_event: None,
            paged_at: now,
            paged: Vec::new(),
            acknowledged: None,
            step: EscalationStep::Start,
            generation: 0,
            deadline: None,
            closed: false,
            reporter_told: false,
            reminded_at: None,
            reopened_at: None,
            unreachable: Vec::new(),
            names: Default::default(),
            outside: Default::default(),
        }
    }

    /// The concern is closed: paging stops and no reminder is sent. The
    /// generation goes up, so any timer already set is stale.
    pub fn close(&self) -> Self {
        if self.closed {
            return self.clone();
        }
        let mut next = self.clone();
        next.closed = true;
        next.deadline = None;
        next.generation += 1;
        next
    }

    /// The concern is open again at `now`: the policy runs for it again,
    /// paging if nobody has acknowledged it, or reminding whoever did once
    /// the reminder time has passed since `now` (even if they were reminded
    /// before it was closed). The generation goes up.
    pub fn reopen(&self, now: DateTime<Utc>) -> Self {
        if !self.closed {
            return self.clone();
        }
        let mut next = self.clone();
        next.closed = false;
        next.reopened_at = Some(now);
        next.reminded_at = None;
        next.generation += 1;
        next
    }

    /// What the timer should hold for this escalation: its next deadline
    /// and generation, if it has a deadline. Used to rebuild the timer from
    /// the store on start ([`timer::Timer::load`]).
    /// The earlier of the policy's deadline and the next page outside the
    /// chat.
    pub fn timer_entry(&self) -> Option<(Reference, DateTime<Utc>, u64)> {
        let at = match (self.deadline, self.outside.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        at.map(|at| (self.reference.clone(), at, self.generation))
    }

    /// Decides an acknowledgement by `who`, given who may acknowledge.
    pub fn acknowledge<'a>(
        &self,
        who: &str,
        mut responders: impl Iterator<Item = &'a str>,
        now: DateTime<Utc>,
    ) -> AckDecision {
        if !responders.any(|r| r == who) {
            return AckDecision::NotAllowed;
        }
        if let Some(a) = &self.acknowledged {
            return AckDecision::Already(a.clone());
        }
        let mut next = self.clone();
        next.acknowledged = Some(Acknowledgement {
            by: who.to_string(),
            at: now,
            via: AckVia::Chat,
        });
        // Paging ends here: any timer already set is now stale. Call
        // `policy::decide` afterwards to set the reminder's deadline.
        next.step = EscalationStep::Acknowledged;
        next.deadline = None;
        next.generation += 1;
        AckDecision::Acknowledged(next)
    }
}

/// Whether a reaction key acknowledges: ✅ or 👍, with or without the
/// emoji variation selector and skin tones.
pub fn is_ack_reaction(key: &str) -> bool {
    let base: String = key
        .chars()
        .filter(|c| !matches!(*c, '\u{fe0f}' | '\u{1f3fb}'..='\u{1f3ff}'))
        .collect();
    matches!(base.as_str(), "✅" | "👍" | "✔" | "☑")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn esc() -> Escalation {
        let t = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        Escalation::new(Reference::new(7), "@sam:x", false, "!r:x", "@dsl:x", t)
    }

    /// Escalations kept by an earlier version, without `reopened_at`, still
    /// load (the store keeps JSON).
    #[test]
    fn an_escalation_kept_before_reopening_was_recorded_still_loads() {
        let mut json = serde_json::to_value(esc()).unwrap();
        json.as_object_mut()
            .unwrap()
            .remove("reopened_at")
            .expect("the field is written");
        let old: Escalation = serde_json::from_value(json).unwrap();
        assert_eq!(old, esc());
        assert_eq!(old.reopened_at, None);
    }

    #[test]
    fn only_a_responder_acknowledges_and_only_once() {
        let e = esc();
        let now = e.paged_at + chrono::Duration::minutes(3);
        let who = ["@dsl:x", "@deputy:x"];
        assert_eq!(
            e.acknowledge("@sam:x", who.iter().copied(), now),
            AckDecision::NotAllowed
        );
        let AckDecision::Acknowledged(acked) = e.acknowledge("@deputy:x", who.iter().copied(), now) else {
            panic!("deputy may acknowledge");
        };
        assert_eq!(
            acked.acknowledged.as_ref().map(|a| a.by.as_str()),
            Some("@deputy:x")
        );
        assert!(
            matches!(acked.acknowledge("@dsl:x", who.iter().copied(), now), AckDecision::Already(a) if a.by == "@deputy:x")
        );
    }

    #[test]
    fn ack_reactions() {
        for k in ["✅", "👍", "👍️", "👍🏽", "✔️"] {
            assert!(is_ack_reaction(k), "{k}");
        }
        for k in ["👎", "❤️", "ok", ""] {
            assert!(!is_ack_reaction(k), "{k}");
        }
    }
}
