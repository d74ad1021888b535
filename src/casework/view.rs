//! One concern as a lead sees it: the reporter's record, who was paged and
//! who acknowledged, and the leads' casefile, with one chronology in time
//! order. Used by `!show`, `!list`, exports and figures.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{CaseStatus, Casefile, EntryKind};
use crate::bot::compose::Person;
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
    /// Who, by name as it was then, or "the bot".
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
        let mut escalations: std::collections::HashMap<String, Escalation> = store
            .items::<Escalation>(Tree::Escalations)?
            .into_iter()
            .collect();
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

    /// Someone named in this concern, by the name kept with it when they
    /// reported, were paged, acknowledged or wrote an entry (the newest
    /// kept), else as [`Person::known`] shows someone whose name was never
    /// kept.
    pub fn person(&self, id: &str) -> Person {
        let written = self
            .casefile
            .entries
            .iter()
            .rev()
            .find(|e| e.author == id && e.author_name.is_some())
            .and_then(|e| e.author_name.as_deref());
        let kept = self
            .escalation
            .as_ref()
            .and_then(|e| e.names.get(id))
            .map(String::as_str);
        Person::known(id, kept.or(written))
    }

    fn name(&self, id: &str) -> String {
        self.person(id).plain()
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
            who: self.name(&r.reporter),
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
            who: self.name(&r.reporter),
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
                    text: esc
                        .paged
                        .iter()
                        .map(|p| self.name(p))
                        .collect::<Vec<_>>()
                        .join(", "),
                    number: None,
                });
            }
            if let Some(a) = &esc.acknowledged {
                items.push(ChronologyItem {
                    at: a.at,
                    who: self.name(&a.by),
                    heading: "Acknowledged".into(),
                    text: String::new(),
                    number: None,
                });
            }
        }
        for e in &self.casefile.entries {
            items.push(ChronologyItem {
                at: e.at,
                who: Person::known(&e.author, e.author_name.as_deref()).plain(),
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
        out.push_str(&format!(
            "Reported by {} at {}\n",
            self.name(&r.reporter),
            when(r.started_at, tz)
        ));
        match self.acknowledged() {
            Some(a) => out.push_str(&format!(
                "Acknowledged by {} at {}\n",
                self.name(&a.by),
                when(a.at, tz)
            )),
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
            if f.verbatim && !f.label.to_lowercase().contains("own words") {
                out.push_str(&format!("- {} (their own words): \"{}\"\n", f.label, value));
            } else if f.verbatim {
                out.push_str(&format!("- {}: \"{}\"\n", f.label, value));
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
    pub fn list_line(&self, now: DateTime<Utc>) -> String {
        let ack = match self.acknowledged() {
            Some(a) => format!("acknowledged by {}", self.name(&a.by)),
            None => "NOT acknowledged".to_string(),
        };
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
pub fn list_text(cases: &[CaseView], now: DateTime<Utc>) -> String {
    let mut open: Vec<&CaseView> = cases
        .iter()
        .filter(|c| c.status() != CaseStatus::Closed)
        .collect();
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
        out.push_str(&c.list_line(now));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::casework::EntryKind;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
    }

    fn case(n: u64, urgent: bool, started: DateTime<Utc>) -> CaseView {
        let reference = Reference::new(n);
        CaseView {
            record: ConcernRecord {
                reference: reference.clone(),
                status: Status::Submitted,
                reporter: "@sam:x".into(),
                flow_id: "f".into(),
                flow_version: "1".into(),
                flow_digest: "d".into(),
                started_at: started,
                recorded_at: started + chrono::Duration::minutes(5),
                decisions: vec![],
                route: None,
                fields: vec![],
                urgent,
            },
            escalation: None,
            casefile: Casefile::new(reference),
        }
    }

    #[test]
    fn the_list_puts_urgent_first_then_oldest_and_leaves_out_closed() {
        let now = at(12, 0);
        let old = case(1, false, at(8, 0));
        let newer = case(2, false, at(11, 0));
        let urgent = case(3, true, at(11, 30));
        let mut closed = case(4, true, at(7, 0));
        closed.casefile = closed
            .casefile
            .with_entry(
                "@dsl:x",
                EntryKind::Closed {
                    kind: Some("Other".into()),
                    outcome: "done".into(),
                },
                at(9, 0),
            )
            .0;
        let text = list_text(&[old, newer, urgent, closed], now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "3 open concerns (urgent first, then oldest):");
        assert_eq!(
            lines[1],
            "- SG-0003 URGENT: open, 30 minutes old, NOT acknowledged"
        );
        assert_eq!(lines[2], "- SG-0001: open, 4 hours old, NOT acknowledged");
        assert_eq!(lines[3], "- SG-0002: open, 1 hour old, NOT acknowledged");
        assert!(!text.contains("SG-0004"), "{text}");
        assert_eq!(list_text(&[], now), "There are no open concerns.");
    }

    #[test]
    fn the_chronology_is_in_time_order_with_entry_numbers() {
        let mut c = case(1, false, at(8, 0));
        c.casefile = c
            .casefile
            .with_entry(
                "@dsl:x",
                EntryKind::Note {
                    text: "called".into(),
                },
                at(9, 0),
            )
            .0
            .named("Dee Lead");
        let items = c.chronology();
        let headings: Vec<&str> = items.iter().map(|i| i.heading.as_str()).collect();
        assert_eq!(headings, ["Report started", "Report submitted", "Note"]);
        assert_eq!(
            chronology_line(&items[2], chrono_tz::Europe::London),
            "09:00 GMT, 23 November 2026  Note (entry 1), Dee Lead: called"
        );
        // The reporter's name was never kept: their user name, not their id.
        assert_eq!(items[0].who, "sam");
        assert_eq!(age(chrono::Duration::hours(50)), "2 days");
        assert_eq!(age(chrono::Duration::minutes(1)), "1 minute");
    }
}
