//! One concern as a lead sees it: the reporter's record, who was paged and
//! who acknowledged, and the leads' casefile, with one chronology in time
//! order. Used by `!show`, `!list`, exports and figures.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{CaseStatus, Casefile, EntryKind};
use crate::concern::{ConcernRecord, Reference, Status};
use crate::escalation::{Acknowledgement, Escalation};
use crate::store::{Store, StoreError, Tree};

/// A concern with everything the leads need to see about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseView {
    pub record: ConcernRecord,
    pub escalation: Option<Escalation>,
    pub casefile: Casefile,
}

/// One line of a concern's chronology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChronologyItem {
    pub at: DateTime<Utc>,
    /// A chat identity, or "the bot".
    pub who: String,
    /// A short heading: "Report started", "Paged", "Decision" …
    pub heading: String,
    /// The words of the entry; empty for events such as a page.
    pub text: String,
    /// The casefile entry's number, for entries a correction can name.
    pub number: Option<u32>,
}

impl CaseView {
    /// The concern with this reference, or `None` if there is no record.
    pub fn load(store: &Store, reference: &Reference) -> Result<Option<CaseView>, StoreError> {
        let Some(record) = store.get_concern(reference)? else {
            return Ok(None);
        };
        let key = reference.to_string();
        let escalation = store.get_item::<Escalation>(Tree::Escalations, &key)?;
        let casefile = store
            .get_item::<Casefile>(Tree::Casefiles, &key)?
            .unwrap_or_else(|| Casefile::new(reference.clone()));
        Ok(Some(CaseView {
            record,
            escalation,
            casefile,
        }))
    }

    /// Every concern, in reference order.
    pub fn all(store: &Store) -> Result<Vec<CaseView>, StoreError> {
        let mut escalations: std::collections::HashMap<String, Escalation> =
            store.items::<Escalation>(Tree::Escalations)?.into_iter().collect();
        let mut casefiles: std::collections::HashMap<String, Casefile> =
            store.items::<Casefile>(Tree::Casefiles)?.into_iter().collect();
        Ok(store
            .list_concerns()?
            .into_iter()
            .map(|record| {
                let key = record.reference.to_string();
                CaseView {
                    escalation: escalations.remove(&key),
                    casefile: casefiles
                        .remove(&key)
                        .unwrap_or_else(|| Casefile::new(record.reference.clone())),
                    record,
                }
            })
            .collect())
    }

    pub fn reference(&self) -> &Reference {
        &self.record.reference
    }

    pub fn status(&self) -> CaseStatus {
        self.casefile.status()
    }

    pub fn acknowledged(&self) -> Option<&Acknowledgement> {
        self.escalation.as_ref().and_then(|e| e.acknowledged.as_ref())
    }

    /// When the first lead was paged (the start of the time to acknowledge).
    pub fn paged_at(&self) -> Option<DateTime<Utc>> {
        self.escalation.as_ref().map(|e| e.paged_at)
    }

    /// Everything that happened, oldest first: the report, the pages, the
    /// acknowledgement and every casefile entry.
    pub fn chronology(&self) -> Vec<ChronologyItem> {
        let r = &self.record;
        let mut items = vec![ChronologyItem {
            at: r.started_at,
            who: r.reporter.clone(),
            heading: "Report started".into(),
            text: String::new(),
            number: None,
        }];
        let recorded = match r.status {
            Status::Submitted => "Report submitted",
            Status::Incomplete => "Report left unfinished (passed on as it was)",
            Status::Withdrawn => "Report withdrawn by the reporter (kept)",
            Status::InProgress => "Report still being made",
        };
        items.push(ChronologyItem {
            at: r.recorded_at,
            who: r.reporter.clone(),
            heading: recorded.into(),
            text: String::new(),
            number: None,
        });
        if let Some(esc) = &self.escalation {
            if !esc.paged.is_empty() {
                items.push(ChronologyItem {
                    at: esc.paged_at,
                    who: "the bot".into(),
                    heading: if esc.urgent { "Paged (urgent)" } else { "Paged" }.into(),
                    text: esc.paged.join(", "),
                    number: None,
                });
            }
            if let Some(a) = &esc.acknowledged {
                items.push(ChronologyItem {
                    at: a.at,
                    who: a.by.clone(),
                    heading: "Acknowledged".into(),
                    text: String::new(),
                    number: None,
                });
            }
        }
        for e in &self.casefile.entries {
            items.push(ChronologyItem {
                at: e.at,
                who: e.author.clone(),
                heading: e.kind.heading().into(),
                text: e.kind.text(),
                number: Some(e.number),
            });
        }
        // Stable: items at the same moment keep the order above.
        items.sort_by_key(|i| i.at);
        items
    }

    /// The whole record and its chronology, as plain text for chat (`!show`).
    pub fn show_text(&self, tz: Tz) -> String {
        let r = &self.record;
        let mut out = format!("{} is {}", r.reference, self.status());
        if r.urgent {
            out.push_str(" (urgent: someone may have been in immediate danger)");
        }
        out.push('\n');
        out.push_str(&format!("Reported by {} at {}\n", r.reporter, when(r.started_at, tz)));
        match self.acknowledged() {
            Some(a) => out.push_str(&format!("Acknowledged by {} at {}\n", a.by, when(a.at, tz))),
            None => out.push_str("Not acknowledged yet\n"),
        }
        if let Some((areas, kinds)) = self.casefile.category() {
            out.push_str(&format!("Category: {}\n", super::category_text(areas, kinds)));
        }
        if let Some(outcome) = self.casefile.outcome() {
            out.push_str(&format!("Outcome: {outcome}\n"));
        }
        out.push_str("\nWhat the reporter said\n");
        for d in &r.decisions {
            out.push_str(&format!("- {} {}\n", d.question, d.answer));
        }
        for f in &r.fields {
            let value = f.value.as_deref().unwrap_or("(skipped)");
            if f.verbatim {
                out.push_str(&format!("- {} (their own words): \"{}\"\n", f.label, value));
            } else {
                out.push_str(&format!("- {}: {}\n", f.label, value));
            }
        }
        if let Some(route) = &r.route {
            out.push_str(&format!(
                "\nRoute: {} ({})\nGuidance shown: {}\n",
                route.title, route.agency, route.guidance
            ));
        }
        out.push_str("\nChronology\n");
        for item in self.chronology() {
            out.push_str(&chronology_line(&item, tz));
            out.push('\n');
        }
        out
    }

    /// One line for `!list`.
    pub fn list_line(&self, now: DateTime<Utc>, tz: Tz) -> String {
        let ack = match self.acknowledged() {
            Some(a) => format!("acknowledged by {}", a.by),
            None => "NOT acknowledged".to_string(),
        };
        let _ = tz;
        format!(
            "{}{}: {}, {} old, {}",
            self.reference(),
            if self.record.urgent { " URGENT" } else { "" },
            self.status(),
            age(now - self.record.started_at),
            ack
        )
    }
}

/// `!list`: every concern not closed, urgent first, then oldest first.
pub fn list_text(cases: &[CaseView], now: DateTime<Utc>, tz: Tz) -> String {
    let mut open: Vec<&CaseView> = cases.iter().filter(|c| c.status() != CaseStatus::Closed).collect();
    open.sort_by_key(|c| (!c.record.urgent, c.record.started_at));
    if open.is_empty() {
        return "There are no open concerns.".to_string();
    }
    let mut out = format!(
        "{} open concern{} (urgent first, then oldest):\n",
        open.len(),
        if open.len() == 1 { "" } else { "s" }
    );
    for c in open {
        out.push_str("- ");
        out.push_str(&c.list_line(now, tz));
        out.push('\n');
    }
    out.push_str("Send !show and a reference to see one, for example: !show SG-0042");
    out
}

/// "14:05 on 23 November 2026 Sam: Decision (entry 3): …"
pub fn chronology_line(item: &ChronologyItem, tz: Tz) -> String {
    let mut line = format!("{}  {}", when(item.at, tz), item.heading);
    if let Some(n) = item.number {
        line.push_str(&format!(" (entry {n})"));
    }
    line.push_str(&format!(", {}", item.who));
    if !item.text.is_empty() {
        line.push_str(": ");
        line.push_str(&item.text);
    }
    line
}

/// A moment in the organisation's timezone: "14:05 GMT, 23 November 2026".
pub fn when(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%H:%M %Z, %-d %B %Y").to_string()
}

/// "5 minutes", "3 hours", "2 days".
pub fn age(d: chrono::Duration) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let mins = d.num_minutes().max(0);
    if mins < 60 {
        plural(mins, "minute")
    } else if mins < 48 * 60 {
        plural(mins / 60, "hour")
    } else {
        plural(mins / (24 * 60), "day")
    }
}

/// Whether an entry is written by the leads (and so never shown to the reporter).
pub fn leads_only(kind: &EntryKind) -> bool {
    !matches!(kind, EntryKind::ReporterAdded { .. })
}
