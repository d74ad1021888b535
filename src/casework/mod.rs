//! Casework: what the leads do with a concern once it has been reported.
//!
//! Every action, decision, category, status change and outcome is an
//! [`Entry`] in the concern's [`Casefile`]. Entries are append-only: each
//! has its author and time, nothing is edited or deleted, and a correction
//! is a new entry naming the entry it corrects. Where the concern stands
//! (its [`CaseStatus`], its risk category, its outcome) is read from the
//! entries, so it can never disagree with them.
//!
//! Pure: no chat SDK, the clock passed in. The transport keeps the casefile
//! in the store ([`crate::store::Tree::Casefiles`]) and carries out what
//! [`command::apply`] decides.
//!
//! - [`command`]: the leads' commands (`!note`, `!decision … because …`,
//!   `!close`, `!show`, `!list` …), parsed and applied.
//! - [`stats`]: figures for the annual review (`!stats`, `safeguarding-bot stats`).
//! - [`retention`]: closed concerns deleted once the organisation's period has passed.
//! - [`view`]: one concern as a lead sees it: the reporter's record, its
//!   paging, and the casefile, with the chronology in time order.
//!
//! Like a concern record, a casefile holds the words of a concern: never log
//! it, log the reference.

pub mod command;
pub mod retention;
pub mod stats;
pub mod view;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::concern::Reference;

pub use view::CaseView;

/// Where a concern stands in the leads' hands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Reported, not closed: the usual state.
    Open,
    /// Passed to an outside agency (police, CEOP, the local authority …).
    Referred,
    /// Watched for a while before a decision is made.
    Monitoring,
    /// Closed with an outcome. Kept until the retention period has passed.
    Closed,
}

impl CaseStatus {
    pub fn label(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Referred => "referred",
            CaseStatus::Monitoring => "monitoring",
            CaseStatus::Closed => "closed",
        }
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The broad area of online risk (the "four Cs" of Keeping Children Safe in
/// Education; CLAPA's policy names the first three).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskArea {
    /// Harmful or illegal material seen.
    Content,
    /// Harmful contact from someone else.
    Contact,
    /// The person's own behaviour puts them or others at risk.
    Conduct,
    /// Money: gambling, scams, fraud.
    Commerce,
}

impl RiskArea {
    pub const ALL: [RiskArea; 4] = [
        RiskArea::Content,
        RiskArea::Contact,
        RiskArea::Conduct,
        RiskArea::Commerce,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RiskArea::Content => "Content",
            RiskArea::Contact => "Contact",
            RiskArea::Conduct => "Conduct",
            RiskArea::Commerce => "Commerce",
        }
    }
}

/// The kinds of online risk listed in section 7 of CLAPA's online safety
/// policy, each in its area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskKind {
    InappropriateWebsites,
    UnwantedMessages,
    Grooming,
    Nudes,
    HatefulMaterial,
    Bullying,
    Copyright,
    Gambling,
    IdentityFraud,
    InappropriateRelationships,
    Scams,
    Other,
}

impl RiskKind {
    /// In the order the policy lists them; `!category 3` is the third.
    pub const ALL: [RiskKind; 12] = [
        RiskKind::InappropriateWebsites,
        RiskKind::UnwantedMessages,
        RiskKind::Grooming,
        RiskKind::Nudes,
        RiskKind::HatefulMaterial,
        RiskKind::Bullying,
        RiskKind::Copyright,
        RiskKind::Gambling,
        RiskKind::IdentityFraud,
        RiskKind::InappropriateRelationships,
        RiskKind::Scams,
        RiskKind::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RiskKind::InappropriateWebsites => "inappropriate or illegal websites",
            RiskKind::UnwantedMessages => "unwanted or upsetting messages or images",
            RiskKind::Grooming => "grooming",
            RiskKind::Nudes => "sharing nudes or semi-nudes",
            RiskKind::HatefulMaterial => "material inciting hatred or violence",
            RiskKind::Bullying => "bullying or malicious posts about others",
            RiskKind::Copyright => "ignoring copyright law",
            RiskKind::Gambling => "overspending on shopping or gambling sites",
            RiskKind::IdentityFraud => "identity fraud",
            RiskKind::InappropriateRelationships => "inappropriate relationships or prostitution",
            RiskKind::Scams => "scams or fraud",
            RiskKind::Other => "other",
        }
    }

    /// One word a lead can type instead of the number.
    pub fn keyword(self) -> &'static str {
        match self {
            RiskKind::InappropriateWebsites => "websites",
            RiskKind::UnwantedMessages => "messages",
            RiskKind::Grooming => "grooming",
            RiskKind::Nudes => "nudes",
            RiskKind::HatefulMaterial => "hate",
            RiskKind::Bullying => "bullying",
            RiskKind::Copyright => "copyright",
            RiskKind::Gambling => "gambling",
            RiskKind::IdentityFraud => "identity",
            RiskKind::InappropriateRelationships => "relationships",
            RiskKind::Scams => "scams",
            RiskKind::Other => "other",
        }
    }

    pub fn area(self) -> Option<RiskArea> {
        match self {
            RiskKind::InappropriateWebsites | RiskKind::HatefulMaterial => Some(RiskArea::Content),
            RiskKind::UnwantedMessages | RiskKind::Grooming | RiskKind::InappropriateRelationships => {
                Some(RiskArea::Contact)
            }
            RiskKind::Nudes | RiskKind::Bullying | RiskKind::Copyright => Some(RiskArea::Conduct),
            RiskKind::Gambling | RiskKind::IdentityFraud | RiskKind::Scams => Some(RiskArea::Commerce),
            RiskKind::Other => None,
        }
    }
}

/// One line of a casefile. Never changed once written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 1 for the first entry of this concern, then one more for each.
    pub number: u32,
    pub at: DateTime<Utc>,
    /// Who wrote it: a chat identity.
    pub author: String,
    /// Their name as it was when they wrote it (entries kept before names
    /// were kept have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    pub kind: EntryKind,
    /// The chat message that made it, so the same message handled again
    /// (a replay after a crash) is recognised and not recorded twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What an entry says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntryKind {
    Note {
        text: String,
    },
    /// Something done, such as "referred to CEOP, ref 1234".
    Action {
        text: String,
    },
    /// A decision and the reason for it: the reason is what a reviewer reads.
    Decision {
        text: String,
        reason: String,
    },
    /// The risk category, replacing any given before (the earlier entry stays).
    Category {
        areas: Vec<RiskArea>,
        kinds: Vec<RiskKind>,
    },
    Status {
        status: CaseStatus,
    },
    /// Closed, with the outcome chosen from the organisation's list
    /// (`[safeguarding] outcomes`) and what the lead added to it.
    Closed {
        /// The outcome chosen, as the list named it then. `None` only in
        /// entries written before outcomes were chosen from a list.
        #[serde(default)]
        kind: Option<String>,
        /// What the lead wrote after the outcome (may be empty).
        outcome: String,
    },
    Reopened {
        reason: Option<String>,
    },
    /// Corrects an earlier entry, which stays as it was.
    Correction {
        corrects: u32,
        text: String,
    },
    /// The reporter added to their own concern (`!add`).
    ReporterAdded {
        text: String,
    },
}

impl EntryKind {
    /// The word shown before an entry in the chronology.
    pub fn heading(&self) -> &'static str {
        match self {
            EntryKind::Note { .. } => "Note",
            EntryKind::Action { .. } => "Action",
            EntryKind::Decision { .. } => "Decision",
            EntryKind::Category { .. } => "Category",
            EntryKind::Status { .. } => "Status",
            EntryKind::Closed { .. } => "Closed",
            EntryKind::Reopened { .. } => "Reopened",
            EntryKind::Correction { .. } => "Correction",
            EntryKind::ReporterAdded { .. } => "Added by the reporter",
        }
    }

    /// The entry in one line of plain text, without its heading.
    pub fn text(&self) -> String {
        match self {
            EntryKind::Note { text } | EntryKind::Action { text } | EntryKind::ReporterAdded { text } => {
                text.clone()
            }
            EntryKind::Decision { text, reason } => format!("{text}, because {reason}"),
            EntryKind::Category { areas, kinds } => category_text(areas, kinds),
            EntryKind::Status { status } => format!("now {status}"),
            EntryKind::Closed { .. } => format!("outcome: {}", self.outcome_text().unwrap_or_default()),
            EntryKind::Reopened { reason: Some(r) } => r.clone(),
            EntryKind::Reopened { reason: None } => "reopened".to_string(),
            EntryKind::Correction { corrects, text } => format!("corrects entry {corrects}: {text}"),
        }
    }

    /// A closing entry's outcome as people read it: "Referred to the
    /// police, PC Jones has the log". `None` for other entries.
    pub fn outcome_text(&self) -> Option<String> {
        let EntryKind::Closed { kind, outcome } = self else {
            return None;
        };
        Some(match (kind, outcome.trim()) {
            (Some(kind), "") => kind.clone(),
            (Some(kind), detail) => format!("{kind}, {detail}"),
            (None, "") => "not given".to_string(),
            (None, detail) => detail.to_string(),
        })
    }
}

/// The outcomes a lead chooses from when closing a concern, unless the
/// config lists its own (`[safeguarding] outcomes`). `!close 1` is the first.
pub const DEFAULT_OUTCOMES: [&str; 9] = [
    "No further action",
    "Advice or support given",
    "Reported to the platform or service",
    "Reported to the IWF",
    "Reported to CEOP",
    "Referred to the police",
    "Referred to social care",
    "Referred to the LADO",
    "Other",
];

/// "Contact: grooming; Conduct: sharing nudes or semi-nudes".
pub fn category_text(areas: &[RiskArea], kinds: &[RiskKind]) -> String {
    let mut parts = Vec::new();
    for area in areas {
        let of_area: Vec<&str> = kinds
            .iter()
            .filter(|k| k.area() == Some(*area))
            .map(|k| k.label())
            .collect();
        if of_area.is_empty() {
            parts.push(area.label().to_string());
        } else {
            parts.push(format!("{}: {}", area.label(), of_area.join(", ")));
        }
    }
    if kinds.contains(&RiskKind::Other) {
        parts.push("other".to_string());
    }
    if parts.is_empty() {
        "not set".to_string()
    } else {
        parts.join("; ")
    }
}

/// Everything the leads recorded about one concern, in the order written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Casefile {
    pub reference: Reference,
    pub entries: Vec<Entry>,
}

impl Casefile {
    pub fn new(reference: Reference) -> Self {
        Casefile {
            reference,
            entries: Vec::new(),
        }
    }

    /// Adds an entry at the end, numbered one after the last. Returns the
    /// new casefile; this one is left as it was.
    pub fn with_entry(&self, author: &str, kind: EntryKind, now: DateTime<Utc>) -> (Casefile, Entry) {
        let entry = Entry {
            number: self.entries.last().map_or(1, |e| e.number + 1),
            at: now,
            author: author.to_string(),
            author_name: None,
            kind,
            source: None,
        };
        let mut next = self.clone();
        next.entries.push(entry.clone());
        (next, entry)
    }

    /// The entry the chat message `source` made, if it made one.
    pub fn entry_from(&self, source: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.source.as_deref() == Some(source))
    }

    /// The same casefile with its newest entry marked as made by `source`.
    pub fn sourced(mut self, source: &str) -> Self {
        if let Some(last) = self.entries.last_mut() {
            last.source = Some(source.to_string());
        }
        self
    }

    /// The same casefile with its newest entry's author named as `name`.
    pub fn named(mut self, name: &str) -> Self {
        if let Some(last) = self.entries.last_mut() {
            last.author_name = Some(name.to_string());
        }
        self
    }

    pub fn entry(&self, number: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.number == number)
    }

    /// Where the concern stands: the last status, close or reopen wins.
    pub fn status(&self) -> CaseStatus {
        let mut status = CaseStatus::Open;
        for e in &self.entries {
            match &e.kind {
                EntryKind::Status { status: s } => status = *s,
                EntryKind::Closed { .. } => status = CaseStatus::Closed,
                EntryKind::Reopened { .. } => status = CaseStatus::Open,
                _ => {}
            }
        }
        status
    }

    /// When it was closed, if it is closed now.
    pub fn closed_at(&self) -> Option<DateTime<Utc>> {
        if self.status() != CaseStatus::Closed {
            return None;
        }
        self.entries
            .iter()
            .rev()
            .find(|e| matches!(e.kind, EntryKind::Closed { .. }))
            .map(|e| e.at)
    }

    /// The last closing entry, if it is closed now.
    fn closing(&self) -> Option<&EntryKind> {
        if self.status() != CaseStatus::Closed {
            return None;
        }
        self.entries
            .iter()
            .rev()
            .map(|e| &e.kind)
            .find(|k| matches!(k, EntryKind::Closed { .. }))
    }

    /// The outcome given when it was closed, with what the lead added, if
    /// it is closed now.
    pub fn outcome(&self) -> Option<String> {
        self.closing().and_then(EntryKind::outcome_text)
    }

    /// The outcome chosen from the list when it was closed, if it is closed
    /// now and one was chosen: what the figures count, never the words the
    /// lead added.
    pub fn outcome_kind(&self) -> Option<&str> {
        match self.closing()? {
            EntryKind::Closed { kind, .. } => kind.as_deref(),
            _ => None,
        }
    }

    /// The latest risk category given, if any.
    pub fn category(&self) -> Option<(&[RiskArea], &[RiskKind])> {
        self.entries.iter().rev().find_map(|e| match &e.kind {
            EntryKind::Category { areas, kinds } => Some((areas.as_slice(), kinds.as_slice())),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, min, 0).unwrap()
    }

    #[test]
    fn status_follows_the_last_status_entry() {
        let c = Casefile::new(Reference::new(1));
        assert_eq!(c.status(), CaseStatus::Open);
        let (c, e) = c.with_entry(
            "@dsl:x",
            EntryKind::Status {
                status: CaseStatus::Referred,
            },
            at(1),
        );
        assert_eq!(e.number, 1);
        assert_eq!(c.status(), CaseStatus::Referred);
        let (c, _) = c.with_entry(
            "@dsl:x",
            EntryKind::Closed {
                kind: Some("No further action".into()),
                outcome: "parent informed".into(),
            },
            at(2),
        );
        assert_eq!(c.status(), CaseStatus::Closed);
        assert_eq!(c.closed_at(), Some(at(2)));
        assert_eq!(c.outcome().as_deref(), Some("No further action, parent informed"));
        assert_eq!(c.outcome_kind(), Some("No further action"));
        let (c, e) = c.with_entry("@dsl:x", EntryKind::Reopened { reason: None }, at(3));
        assert_eq!(e.number, 3);
        assert_eq!(c.status(), CaseStatus::Open);
        assert_eq!(c.closed_at(), None);
        assert_eq!(c.outcome(), None);
        assert_eq!(c.outcome_kind(), None);
        assert_eq!(c.entries.len(), 3, "nothing is removed");
    }

    /// A closing entry without a chosen outcome (as written before outcomes
    /// came from a list) still loads, and reads as what was written.
    #[test]
    fn a_closing_entry_without_a_chosen_outcome_still_loads() {
        let old: EntryKind =
            serde_json::from_str(r#"{"type":"closed","outcome":"parent informed"}"#).unwrap();
        assert_eq!(
            old,
            EntryKind::Closed {
                kind: None,
                outcome: "parent informed".into()
            }
        );
        assert_eq!(old.text(), "outcome: parent informed");
    }

    #[test]
    fn category_text_groups_kinds_by_area() {
        let text = category_text(
            &[RiskArea::Contact, RiskArea::Conduct],
            &[RiskKind::Grooming, RiskKind::Nudes],
        );
        assert_eq!(text, "Contact: grooming; Conduct: sharing nudes or semi-nudes");
        assert_eq!(category_text(&[RiskArea::Content], &[]), "Content");
    }
}
