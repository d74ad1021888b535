//! Walks every path through both flows, as a reporter would, and checks what
//! they are told and what the lead gets.

use crate::common;

use std::collections::BTreeSet;

use common::{answer_record, load, Talk, CAUK, CLAPA};
use safeguarding_bot::concern::Status;
use safeguarding_bot::conversation::{Action, Stage, StepKind};
use safeguarding_bot::flow::{Flow, Node};

struct Path {
    flow: &'static str,
    answers: &'static [&'static str],
    outcome: &'static str,
    agency: &'static str,
    /// A phrase the first guidance reply must contain: how to reach them.
    tells: &'static str,
    urgent: bool,
}

const PATHS: &[Path] = &[
    Path {
        flow: CLAPA,
        answers: &["yes"],
        outcome: "call_999",
        agency: "Emergency services",
        tells: "Call 999 now",
        urgent: true,
    },
    Path {
        flow: CLAPA,
        answers: &["no", "yes"],
        outcome: "iwf",
        agency: "Internet Watch Foundation",
        tells: "report.iwf.org.uk",
        urgent: false,
    },
    Path {
        flow: CLAPA,
        answers: &["no", "no", "yes, a child"],
        outcome: "ceop",
        agency: "CEOP",
        tells: "ceop.police.uk",
        urgent: false,
    },
    Path {
        flow: CLAPA,
        answers: &["no", "no", "2"],
        outcome: "local_police",
        agency: "Local police",
        tells: "101",
        urgent: false,
    },
    Path {
        flow: CLAPA,
        answers: &["no", "no", "no", "yes"],
        outcome: "local_police",
        agency: "Local police",
        tells: "101",
        urgent: false,
    },
    Path {
        flow: CLAPA,
        answers: &["no", "no", "no", "no"],
        outcome: "record_only",
        agency: "Lead or Deputy",
        tells: "liaise",
        urgent: false,
    },
    Path {
        flow: CAUK,
        answers: &["y"],
        outcome: "call_999",
        agency: "Emergency services",
        tells: "Call 999 now",
        urgent: true,
    },
    Path {
        flow: CAUK,
        answers: &["n", "yeah"],
        outcome: "iwf",
        agency: "Internet Watch Foundation",
        tells: "report.iwf.org.uk",
        urgent: false,
    },
    Path {
        flow: CAUK,
        answers: &["nope", "nope"],
        outcome: "dsl",
        agency: "Designated Safeguarding Lead",
        tells: "0344 381 4772",
        urgent: false,
    },
];

/// Every sequence of option indexes from start to an outcome.
fn all_paths(flow: &Flow) -> BTreeSet<(Vec<String>, String)> {
    fn walk(flow: &Flow, node: &str, taken: Vec<String>, out: &mut BTreeSet<(Vec<String>, String)>) {
        match flow.node(node) {
            Some(Node::Question(q)) => {
                for o in &q.options {
                    let mut t = taken.clone();
                    t.push(o.label.clone());
                    walk(flow, &o.next, t, out);
                }
            }
            Some(Node::Outcome(o)) => {
                out.insert((taken, o.id.clone()));
            }
            None => panic!("dangling node {node}"),
        }
    }
    let mut out = BTreeSet::new();
    walk(flow, &flow.start, Vec::new(), &mut out);
    out
}

#[test]
fn the_table_covers_every_path_of_both_flows() {
    for file in [CLAPA, CAUK] {
        let flow = load(file);
        let mut walked = BTreeSet::new();
        for p in PATHS.iter().filter(|p| p.flow == file) {
            let mut talk = Talk::start(&flow);
            for a in p.answers {
                talk.say(a);
            }
            walked.insert((
                talk.conv
                    .decisions
                    .iter()
                    .map(|d| d.answer.clone())
                    .collect::<Vec<_>>(),
                talk.conv.route.clone().unwrap_or_default(),
            ));
        }
        assert_eq!(
            walked,
            all_paths(&flow),
            "{file}: the table must walk every path of the chart"
        );
    }
}

#[test]
fn every_path_gives_its_agency_and_ends_in_a_submitted_record() {
    for p in PATHS {
        let flow = load(p.flow);
        let mut talk = Talk::start(&flow);
        for (i, a) in p.answers.iter().enumerate() {
            let step = talk.say(a);
            assert_eq!(
                step.kind,
                StepKind::Advanced,
                "{} {:?}: answer {i} ({a}) should advance",
                p.flow,
                p.answers
            );
        }
        let outcome_step = talk.last().clone();
        let first_reply = outcome_step
            .replies()
            .next()
            .expect("the outcome is told at once");
        assert!(
            first_reply.contains(p.tells),
            "{} {:?}: first reply should say {:?}, got:\n{first_reply}",
            p.flow,
            p.answers,
            p.tells
        );
        assert_eq!(talk.conv.route.as_deref(), Some(p.outcome));

        if p.urgent {
            assert_eq!(
                outcome_step.actions.first(),
                Some(&Action::PageLead { urgent: true }),
                "urgent page first"
            );
            assert!(
                first_reply.starts_with("Call 999 now"),
                "999 is the very next reply: {first_reply}"
            );
            let saved = talk.saved();
            assert_eq!(
                saved.len(),
                1,
                "the urgent concern is kept before the record is finished"
            );
            assert_eq!(saved[0].status, Status::InProgress);
        } else {
            assert!(
                !outcome_step
                    .actions
                    .iter()
                    .any(|a| matches!(a, Action::PageLead { .. })),
                "no page before submission"
            );
        }

        answer_record(&mut talk);
        assert_eq!(talk.conv.stage, Stage::Review);
        let review = talk.last_reply();
        for f in &flow.record {
            assert!(review.contains(&f.label), "review shows {}: {review}", f.label);
        }
        let done = talk.say("send").clone();
        assert_eq!(done.kind, StepKind::Finished);
        let record = talk.saved().pop().expect("submitted record saved");
        assert_eq!(record.status, Status::Submitted);
        assert_eq!(record.urgent, p.urgent);
        let route = record.route.as_ref().expect("route recorded");
        assert_eq!(route.outcome_id, p.outcome);
        assert!(
            route.agency.contains(p.agency),
            "{} vs {}",
            route.agency,
            p.agency
        );
        assert_eq!(record.flow_id, flow.id);
        assert_eq!(record.flow_version, flow.version);
        assert_eq!(record.flow_digest, flow.digest);
        assert_eq!(record.decisions.len(), p.answers.len());
        assert_eq!(record.fields.len(), flow.record.len());

        // Saved first, then paged (unless paged already), then the record, then the reporter told.
        let kinds: Vec<&str> = done
            .actions
            .iter()
            .map(|a| match a {
                Action::Save(_) => "save",
                Action::PageLead { .. } => "page",
                Action::SendRecordToLead => "record",
                Action::Reply(_) => "reply",
            })
            .collect();
        let expected: &[&str] = if p.urgent {
            &["save", "record", "reply"]
        } else {
            &["save", "page", "record", "reply"]
        };
        assert_eq!(kinds, expected, "{} {:?}", p.flow, p.answers);
        let thanks = done.replies().next().unwrap_or_default();
        assert!(
            thanks.contains("SG-0042"),
            "the reporter is given the reference: {thanks}"
        );
    }
}

#[test]
fn the_iwf_route_warns_never_to_copy_the_imagery() {
    for file in [CLAPA, CAUK] {
        let flow = load(file);
        let mut talk = Talk::start(&flow);
        talk.say("no");
        talk.say("yes");
        let told = talk.last_reply().to_lowercase();
        for must in ["download", "screenshot", "forward", "save", "web address"] {
            assert!(
                told.contains(must),
                "{file}: IWF guidance must mention {must}: {told}"
            );
        }
        match flow.node("iwf") {
            Some(Node::Outcome(o)) => assert!(o.no_attachments),
            other => panic!("{other:?}"),
        }
    }
}
