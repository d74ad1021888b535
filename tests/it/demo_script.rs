//! The scripted report of `deploy/try-locally.sh --demo` (examples/demo.rs),
//! walked through the CLAPA flowchart with the same engine the bot uses.
//! A lead trying the bot sees this case first, so it must show good
//! practice: a case the chart rightly routes to "Record the concern", never
//! a warning sign of grooming answered "no" and closed with advice.

use crate::common;
#[path = "../../examples/demo/script.rs"]
mod script;

use common::{load, Talk, CLAPA};
use safeguarding_bot::concern::Status;
use safeguarding_bot::conversation::{Stage, StepKind};

#[test]
fn the_demo_report_is_a_case_the_chart_rightly_records() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    for (answer, expect) in script::REPORT {
        let step = talk.say(answer);
        assert_ne!(step.kind, StepKind::AskedAgain, "{answer:?} was not understood");
        let reply = talk.last_reply();
        assert!(
            reply.contains(expect),
            "after {answer:?} the demo waits for {expect:?}, but the bot says: {reply}"
        );
    }
    assert_eq!(
        talk.conv.stage,
        Stage::Done {
            status: Status::Submitted
        },
        "the demo sends its report"
    );
    let record = talk.saved().pop().expect("the report is saved");
    let route = record.route.as_ref().expect("the chart reached an outcome");
    assert_eq!(route.outcome_id, "record_only");
    assert_eq!(route.title, "Record the concern");

    // "Record the concern" is right for a young member's own behaviour (a
    // conduct risk), not for harmful contact from someone else, which the
    // chart sends to CEOP or the police.
    let field = |id: &str| {
        record
            .fields
            .iter()
            .find(|f| f.field_id == id)
            .and_then(|f| f.value.clone())
            .unwrap_or_default()
    };
    assert_eq!(field("risk_area"), "Conduct", "the risk the demo records");
    let seen = field("what_seen").to_lowercase();
    assert!(
        seen.contains("young member") && seen.contains("home address"),
        "the demo is a young member sharing their home address: {seen}"
    );
    for sign in ["adult", "phone number", "meet", "photo", "secret"] {
        assert!(
            !seen.contains(sign),
            "the account has {sign:?}, a sign of contact the chart does not route to record only: {seen}"
        );
    }
}

#[test]
fn the_demo_lead_has_the_post_removed_and_advises_the_family() {
    let last = script::FOLLOW_UP.last().expect("the lead follows it up");
    assert!(
        last.0.starts_with("!close "),
        "the demo ends by closing: {}",
        last.0
    );
    let said = script::FOLLOW_UP
        .iter()
        .map(|(c, _)| c.to_lowercase())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(said.contains("removed"), "the post is removed: {said}");
    assert!(said.contains("advice"), "the family is advised: {said}");
}
