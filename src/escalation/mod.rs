//! Escalation: who has been paged for a concern, and who acknowledged it.
//!
//! Pure decisions with the time passed in; the transport acts on them. The
//! state is kept in the store, one [`Escalation`] per concern, so nothing
//! about a page is lost on restart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::concern::Reference;

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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at: DateTime<Utc>,
}

/// What an acknowledgement attempt comes to.
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
            reference,
            reporter: reporter.to_string(),
            urgent,
            room: room.to_string(),
            page_event: None,
            paged_at: now,
            paged: vec![lead.to_string()],
            acknowledged: None,
        }
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
        });
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
