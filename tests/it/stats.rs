//! Figures for the annual review, from hand-built concerns, asserted exactly.

use chrono::{DateTime, Duration, TimeZone, Utc};

use safeguarding_bot::casework::stats::{parse_since, Stats};
use safeguarding_bot::casework::{CaseStatus, CaseView, Casefile, EntryKind, RiskArea, RiskKind};
use safeguarding_bot::concern::{ConcernRecord, Reference, RouteTaken, Status};
use safeguarding_bot::escalation::{Acknowledgement, Escalation};

const LONDON: chrono_tz::Tz = chrono_tz::Europe::London;

fn started(month: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, d, 10, 0, 0).unwrap()
}

/// One concern, built up with the methods below.
struct Case(CaseView);

fn case(n: u64, at: DateTime<Utc>, urgent: bool, route: Option<&str>) -> Case {
    let reference = Reference::new(n);
    Case(CaseView {
        record: ConcernRecord {
            reference: reference.clone(),
            status: Status::Submitted,
            reporter: "@staff:example.org".into(),
            flow_id: "online-safety".into(),
            flow_version: "1".into(),
            flow_digest: String::new(),
            started_at: at,
            recorded_at: at + Duration::minutes(5),
            decisions: vec![],
            route: route.map(|title| RouteTaken {
                outcome_id: title.to_lowercase().replace(' ', "-"),
                title: title.into(),
                agency: "agency".into(),
                contact: "contact".into(),
                guidance: "guidance".into(),
                note_afterwards: String::new(),
                urgent,
            }),
            fields: vec![],
            urgent,
        },
        escalation: None,
        casefile: Casefile::new(reference),
    })
}

impl Case {
    fn entry(mut self, kind: EntryKind) -> Case {
        let at = self.0.record.recorded_at + Duration::hours(1);
        self.0.casefile = self.0.casefile.with_entry("@dsl:example.org", kind, at).0;
        self
    }

    fn category(self, areas: &[RiskArea], kinds: &[RiskKind]) -> Case {
        self.entry(EntryKind::Category {
            areas: areas.to_vec(),
            kinds: kinds.to_vec(),
        })
    }

    fn status(self, status: CaseStatus) -> Case {
        self.entry(EntryKind::Status { status })
    }

    /// Closed with an outcome from the list and what the lead added.
    fn closed(self, kind: &str, detail: &str) -> Case {
        self.entry(EntryKind::Closed {
            kind: Some(kind.into()),
            outcome: detail.into(),
        })
    }

    /// Paged when recorded; acknowledged this many seconds later, if at all.
    fn paged(mut self, ack_after_secs: Option<i64>) -> Case {
        let r = &self.0.record;
        let mut esc = Escalation::new(
            r.reference.clone(),
            &r.reporter,
            r.urgent,
            "!room:example.org",
            "@dsl:example.org",
            r.recorded_at,
        );
        esc.acknowledged = ack_after_secs.map(|s| Acknowledgement {
            by: "@dsl:example.org".into(),
            at: r.recorded_at + Duration::seconds(s),
            via: Default::default(),
        });
        self.0.escalation = Some(esc);
        self
    }

    /// Acknowledged by replying to an SMS page, not in the chat.
    fn by_sms(mut self) -> Case {
        if let Some(a) = self.0.escalation.as_mut().and_then(|e| e.acknowledged.as_mut()) {
            a.via = safeguarding_bot::escalation::AckVia::Sms;
        }
        self
    }
}

/// What a lead added when closing: never in the figures.
const DETAIL: &str = "spoke to Zebedee's mother at the hall";

fn cases() -> Vec<CaseView> {
    vec![
        // Before 1 April.
        case(1, started(3, 1), true, Some("Call 999"))
            .category(&[RiskArea::Contact], &[])
            .closed("No further action", "parent informed")
            .paged(Some(60)),
        // Two areas: counts in both. Its outcome counts with SG-0007's,
        // whatever the lead added.
        case(2, started(4, 2), false, Some("Report to CEOP"))
            .category(&[RiskArea::Contact], &[RiskKind::Grooming, RiskKind::Nudes])
            .closed("No further action", DETAIL)
            .paged(Some(600)),
        case(3, started(4, 3), true, Some("Call 999"))
            .status(CaseStatus::Referred)
            .paged(Some(120)),
        case(4, started(4, 4), false, None)
            .category(&[], &[RiskKind::Other])
            .status(CaseStatus::Monitoring)
            .paged(None),
        case(5, started(4, 5), false, Some("Report to CEOP"))
            .category(&[RiskArea::Commerce], &[])
            .closed("Referred to the police", "PC Jones has the log")
            .paged(Some(240))
            .by_sms(),
        // Never paged, not categorised, open.
        case(6, started(4, 6), false, Some("Refer to the DSL")),
        // Categorised twice: the latest counts.
        case(7, started(4, 7), false, Some("Refer to the DSL"))
            .category(&[RiskArea::Commerce], &[])
            .category(&[], &[RiskKind::Grooming])
            .closed("No further action", "")
            .paged(Some(180)),
    ]
    .into_iter()
    .map(|c| c.0)
    .collect()
}

fn named(pairs: &[(&str, usize)]) -> Vec<(String, usize)> {
    pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

#[test]
fn every_figure_since_a_date() {
    let since = parse_since("1 April 2026", LONDON).unwrap();
    let s = Stats::compute(&cases(), Some(since));
    assert_eq!(
        s,
        Stats {
            reported: 6,
            urgent: 1,
            not_urgent: 5,
            by_area: named(&[
                ("Contact", 2),
                ("not categorised", 2),
                ("Commerce", 1),
                ("Conduct", 1),
                ("other", 1),
            ]),
            by_route: named(&[
                ("Refer to the DSL", 2),
                ("Report to CEOP", 2),
                ("Call 999", 1),
                ("no outcome reached", 1),
            ]),
            open: 1,
            referred: 1,
            monitoring: 1,
            closed: 3,
            outcomes: named(&[("No further action", 2), ("Referred to the police", 1)]),
            acknowledged: 4,
            acknowledged_by_sms: 1,
            // 2, 3, 4 and 10 minutes: an even count, so the mean of 3 and 4.
            ack_median: Some(Duration::seconds(210)),
            ack_worst: Some(Duration::minutes(10)),
            never_acknowledged: 1,
            not_paged: 1,
        }
    );

    assert_eq!(
        s.to_text(Some(since), LONDON),
        "\
6 concerns reported since 1 April 2026: 1 urgent, 5 not urgent.
Where they stand: 1 open, 1 referred, 1 monitoring, 3 closed.

By risk area (a concern in two areas counts in both):
- Contact: 2
- not categorised: 2
- Commerce: 1
- Conduct: 1
- other: 1

By route in the flowchart:
- Refer to the DSL: 2
- Report to CEOP: 2
- Call 999: 1
- no outcome reached: 1

Outcomes of the closed concerns:
- No further action: 2
- Referred to the police: 1

Time to acknowledge, from the first page:
- median 3 minutes 30 seconds, worst 10 minutes (4 acknowledged)
- 3 in the chat, 1 by replying to an SMS page
- 1 paged and not acknowledged
- 1 never paged"
    );
}

#[test]
fn all_concerns_without_a_date() {
    let s = Stats::compute(&cases(), None);
    assert_eq!(s.reported, 7);
    assert_eq!((s.urgent, s.not_urgent), (2, 5));
    assert_eq!(s.by_area[0], ("Contact".to_string(), 3));
    assert_eq!(s.by_route[0], ("Call 999".to_string(), 2));
    assert_eq!(
        s.outcomes[0],
        ("No further action".to_string(), 3),
        "counted by the outcome chosen"
    );
    let text = s.to_text(None, LONDON);
    for added in [DETAIL, "PC Jones", "parent informed"] {
        assert!(!text.contains(added), "the figures hold {added:?}:\n{text}");
    }
    // 1, 2, 3, 4 and 10 minutes: an odd count, so the middle one.
    assert_eq!(s.ack_median, Some(Duration::minutes(3)));
    assert!(s
        .to_text(None, LONDON)
        .starts_with("7 concerns reported in all: 2 urgent"));
}

#[test]
fn a_single_concern_and_none_at_all() {
    let one = vec![case(1, started(4, 2), false, None).0];
    let text = Stats::compute(&one, None).to_text(None, LONDON);
    assert!(
        text.starts_with("1 concern reported in all: 0 urgent, 1 not urgent."),
        "{text}"
    );
    assert!(text.contains("- none acknowledged\n- 1 never paged"), "{text}");

    let since = parse_since("2026-05-01", LONDON).unwrap();
    let s = Stats::compute(&cases(), Some(since));
    assert_eq!(s, Stats::default());
    assert_eq!(
        s.to_text(Some(since), LONDON),
        "No concerns were reported since 1 May 2026."
    );
}

#[test]
fn a_concern_started_at_midnight_local_time_counts_from_that_day() {
    // Midnight on 1 April in London is 23:00 UTC on 31 March.
    let edge = Utc.with_ymd_and_hms(2026, 3, 31, 23, 0, 0).unwrap();
    let before = edge - Duration::seconds(1);
    let cases = vec![case(1, before, false, None).0, case(2, edge, false, None).0];
    let since = parse_since("since 2026-04-01", LONDON).unwrap();
    assert_eq!(Stats::compute(&cases, Some(since)).reported, 1);
}
