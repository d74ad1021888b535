//! A concern: what a reporter told the bot, as it is kept.
//!
//! These are the types the conversation engine produces and the store keeps.
//! They hold the words of a concern, so nothing here may be logged: log the
//! [`Reference`] only.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The short reference staff quote for a concern, such as `SG-0042`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reference(u64);

impl Reference {
    pub fn new(number: u64) -> Self {
        Reference(number)
    }

    pub fn number(&self) -> u64 {
        self.0
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SG-{:04}", self.0)
    }
}

/// Why a piece of text is not a reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a concern reference: a reference looks like SG-0042")]
pub struct BadReference(pub String);

impl FromStr for Reference {
    type Err = BadReference;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let digits = t
            .get(..3)
            .filter(|p| p.eq_ignore_ascii_case("SG-"))
            .map(|_| &t[3..])
            .ok_or_else(|| BadReference(s.to_string()))?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadReference(s.to_string()));
        }
        digits
            .parse::<u64>()
            .map(Reference)
            .map_err(|_| BadReference(s.to_string()))
    }
}

impl TryFrom<String> for Reference {
    type Error = BadReference;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Reference> for String {
    fn from(r: Reference) -> String {
        r.to_string()
    }
}

/// Where a concern stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The reporter is still answering; kept because an urgent page went out
    /// before the record was finished.
    InProgress,
    /// The reporter stopped answering before submitting; what they gave is kept.
    Incomplete,
    /// The reporter checked the record and submitted it.
    Submitted,
    /// The reporter cancelled. Kept, never dropped: a withdrawn report may
    /// still matter to the lead.
    Withdrawn,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::InProgress => "in progress",
            Status::Incomplete => "incomplete",
            Status::Submitted => "submitted",
            Status::Withdrawn => "withdrawn",
        }
    }
}

/// One question of the referral flowchart and the answer given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub question_id: String,
    /// The question exactly as it was shown.
    pub question: String,
    /// The label of the option chosen.
    pub answer: String,
}

/// The route the flowchart led to, and the guidance exactly as it was shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteTaken {
    pub outcome_id: String,
    pub title: String,
    pub agency: String,
    pub contact: String,
    pub guidance: String,
    pub note_afterwards: String,
    pub urgent: bool,
}

/// One answer to a record question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldAnswer {
    pub field_id: String,
    /// The short label used when the record is shown.
    pub label: String,
    /// `None` when the reporter skipped an optional question.
    pub value: Option<String>,
    /// The person's own words, to be shown apart from everything else.
    pub verbatim: bool,
}

/// Everything a reporter gave, with the flow that asked for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcernRecord {
    pub reference: Reference,
    pub status: Status,
    /// The reporter's chat identity, such as `@sam:example.org`.
    pub reporter: String,
    pub flow_id: String,
    pub flow_version: String,
    /// SHA-256 of the flow file's text, so a record names the exact wording asked.
    pub flow_digest: String,
    pub started_at: DateTime<Utc>,
    /// When the record was last written by the reporter's conversation.
    pub recorded_at: DateTime<Utc>,
    pub decisions: Vec<Decision>,
    pub route: Option<RouteTaken>,
    pub fields: Vec<FieldAnswer>,
    /// Whether the lead was paged as urgent (immediate danger).
    pub urgent: bool,
}

impl ConcernRecord {
    /// The record as plain text, for the reporter's review, the terminal and
    /// exports. Verbatim words are quoted and kept apart.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("Reference: {}\n", self.reference));
        out.push_str(&format!("Status: {}\n", self.status.label()));
        if self.urgent {
            out.push_str("Urgent: yes, someone may be in immediate danger\n");
        }
        for d in &self.decisions {
            out.push_str(&format!("{}\n  Answer: {}\n", d.question, d.answer));
        }
        if let Some(route) = &self.route {
            out.push_str(&format!("Route: {} ({})\n", route.title, route.agency));
        }
        for f in &self.fields {
            let value = f.value.as_deref().unwrap_or("(skipped)");
            if f.verbatim {
                out.push_str(&format!("{} (their own words):\n  \"{}\"\n", f.label, value));
            } else {
                out.push_str(&format!("{}: {}\n", f.label, value));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_round_trips_and_pads() {
        let r = Reference::new(42);
        assert_eq!(r.to_string(), "SG-0042");
        assert_eq!("sg-0042".parse::<Reference>(), Ok(r.clone()));
        assert_eq!(" SG-12345 ".parse::<Reference>().unwrap().number(), 12345);
    }

    #[test]
    fn bad_references_are_refused_with_an_example() {
        for bad in ["", "SG-", "SG-12a", "42", "XX-0042", "SG--1", "é"] {
            let err = bad.parse::<Reference>().unwrap_err();
            assert!(err.to_string().contains("SG-0042"), "{bad}: {err}");
        }
    }
}
