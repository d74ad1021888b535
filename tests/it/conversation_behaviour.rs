//! How the conversation answers what people actually type.

use crate::common;

use chrono::Duration;
use common::{answer_record, load, Talk, CLAPA};
use safeguarding_bot::concern::Status;
use safeguarding_bot::conversation::{self, Action, Stage, StepKind};

#[test]
fn first_message_introduces_and_asks_the_first_question_with_its_choices() {
    let flow = load(CLAPA);
    let talk = Talk::start(&flow);
    let text = talk.last_reply();
    assert!(
        text.contains("Is a crime in progress or is anyone in immediate danger?"),
        "{text}"
    );
    assert!(text.contains("1. Yes") && text.contains("2. No"), "{text}");
    assert!(text.contains("Type yes or no."), "{text}");
}

#[test]
fn an_unclear_answer_is_asked_again_with_the_choices() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    let step = talk.say("<b>perhaps</b>").clone();
    assert_eq!(step.kind, StepKind::AskedAgain);
    let text = talk.last_reply();
    assert!(text.contains("didn't understand"), "{text}");
    assert!(text.contains("1. Yes") && text.contains("2. No"), "{text}");
    assert!(talk.conv.decisions.is_empty());
}

#[test]
fn yes_between_two_yes_options_asks_which() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    talk.say("no");
    talk.say("no");
    let step = talk.say("yes").clone();
    assert_eq!(step.kind, StepKind::AskedAgain);
    let text = talk.last_reply();
    assert!(
        text.contains("1. Yes, a child") && text.contains("2. Yes, an adult"),
        "{text}"
    );
    talk.say("1");
    assert_eq!(talk.conv.route.as_deref(), Some("ceop"));
}

#[test]
fn back_returns_to_the_previous_question_and_forgets_that_answer() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    let step = talk.say("back").clone();
    assert_eq!(step.kind, StepKind::Explained);
    assert!(talk.last_reply().contains("first question"));
    talk.say("no");
    talk.say("back");
    assert!(talk.last_reply().contains("immediate danger"));
    assert!(talk.conv.decisions.is_empty());
    talk.say("no");
    talk.say("yes"); // IWF, now on the first record question
    talk.say("back");
    assert_eq!(
        talk.conv.route, None,
        "going back past the outcome forgets the route"
    );
    assert!(talk.last_reply().contains("child sexual content"));
}

#[test]
fn cancel_is_confirmed_and_a_withdrawn_report_is_kept() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    talk.say("no");
    talk.say("cancel");
    assert!(talk
        .last_reply()
        .contains("Type yes to cancel it, or no to carry on."));
    talk.say("no");
    assert!(
        talk.last_reply().contains("child sexual content"),
        "carries on where it was"
    );
    talk.say("cancel");
    let step = talk.say("yes").clone();
    assert_eq!(step.kind, StepKind::Finished);
    let saved = talk.saved();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].status, Status::Withdrawn);
    assert_eq!(saved[0].decisions.len(), 1);
    assert!(talk.last_reply().contains("kept, marked withdrawn"));
    assert_eq!(
        talk.conv.stage,
        Stage::Done {
            status: Status::Withdrawn
        }
    );
    talk.say("hello?");
    assert!(talk.last_reply().contains("withdrawn"));
}

#[test]
fn withdrawing_after_an_urgent_page_sends_the_lead_what_was_given() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    talk.say("yes");
    talk.say("cancel");
    let step = talk.say("yes").clone();
    assert!(step.actions.contains(&Action::SendRecordToLead));
}

#[test]
fn help_explains_and_repeats_the_question() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    let step = talk.say("help").clone();
    assert_eq!(step.kind, StepKind::Explained);
    let text = talk.last_reply();
    assert!(
        text.contains("Immediate danger means"),
        "question help shown: {text}"
    );
    assert!(text.contains("back") && text.contains("cancel"), "{text}");
    assert!(text.contains("Is a crime in progress"), "{text}");
}

#[test]
fn empty_and_overlong_messages_get_a_clear_answer_and_change_nothing() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    let before = talk.conv.clone();
    talk.say("   ");
    assert!(talk.last_reply().contains("didn't get any words"));
    talk.say(&"x".repeat(10_001));
    let text = talk.last_reply();
    assert!(
        text.contains("too long") && text.contains("10001") && text.contains("10000"),
        "{text}"
    );
    assert_eq!(talk.conv.decisions, before.decisions);
    assert_eq!(talk.conv.stage, before.stage);
}

#[test]
fn required_record_questions_cannot_be_skipped_optional_ones_can() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    talk.say("no");
    talk.say("no");
    talk.say("no");
    talk.say("no");
    assert_eq!(talk.conv.stage, Stage::Field { index: 0 });
    let step = talk.say("skip").clone();
    assert_eq!(step.kind, StepKind::AskedAgain);
    talk.say("A message from an unknown adult asking to meet");
    assert_eq!(talk.conv.stage, Stage::Field { index: 1 });
    talk.say("skip");
    assert_eq!(talk.conv.fields.get("own_words"), Some(&None));
}

#[test]
fn the_review_lets_any_answer_be_changed_then_returns_to_the_review() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    for a in ["no", "no", "no", "no"] {
        talk.say(a);
    }
    answer_record(&mut talk);
    assert_eq!(talk.conv.stage, Stage::Review);
    // Change a record answer: item 5 is the first record field (4 decisions before it).
    talk.say("5");
    assert!(talk.last_reply().contains("What did you see or hear?"));
    talk.say("corrected account");
    assert_eq!(talk.conv.stage, Stage::Review);
    assert!(talk.last_reply().contains("corrected account"));
    // Change a flowchart answer: the route changes and the record is not asked again.
    talk.say("2");
    talk.say("yes");
    assert_eq!(talk.conv.route.as_deref(), Some("iwf"));
    assert_eq!(talk.conv.stage, Stage::Review, "{}", talk.last_reply());
    talk.say("send");
    let record = talk.saved().pop().expect("saved");
    assert_eq!(record.route.expect("route").outcome_id, "iwf");
    assert_eq!(record.decisions.len(), 2);
}

#[test]
fn the_persons_own_words_are_kept_verbatim_and_apart() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    for a in ["no", "no", "no", "no", "what I saw"] {
        talk.say(a);
    }
    let words = "He said \"don't tell your mum\" <script>x</script>";
    talk.say(words);
    let field = &talk.conv.fields["own_words"];
    assert_eq!(field.as_deref(), Some(words));
}

#[test]
fn an_unfinished_report_goes_to_the_lead_after_thirty_minutes_once() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    talk.say("no");
    talk.say("yes");
    let at = talk.conv.updated_at;
    assert!(conversation::check_abandoned(
        &flow,
        &talk.conv,
        at + Duration::minutes(29),
        conversation::ABANDONED_AFTER
    )
    .is_none());
    let step = conversation::check_abandoned(
        &flow,
        &talk.conv,
        at + Duration::minutes(30),
        conversation::ABANDONED_AFTER,
    )
    .expect("due");
    match &step.actions[0] {
        Action::Save(r) => assert_eq!(r.status, Status::Incomplete),
        other => panic!("first the record is kept: {other:?}"),
    }
    assert!(step.actions.contains(&Action::PageLead { urgent: false }));
    assert!(
        conversation::check_abandoned(
            &flow,
            &step.conversation,
            at + Duration::hours(5),
            conversation::ABANDONED_AFTER
        )
        .is_none(),
        "once only"
    );
    // The reporter can still finish; the lead is not paged a second time.
    talk.conv = step.conversation;
    answer_record(&mut talk);
    let done = talk.say("send").clone();
    assert!(!done.actions.iter().any(|a| matches!(a, Action::PageLead { .. })));
    assert!(done.actions.contains(&Action::SendRecordToLead));
}

#[test]
fn a_conversation_survives_serialisation_and_resumes_at_the_same_question() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    talk.say("no");
    let bytes = serde_json::to_vec(&talk.conv).expect("serialise");
    let back: conversation::Conversation = serde_json::from_slice(&bytes).expect("deserialise");
    assert_eq!(back, talk.conv);
    assert_eq!(
        conversation::prompt(&flow, &back),
        conversation::prompt(&flow, &talk.conv)
    );
}

#[test]
fn a_question_removed_from_the_flow_restarts_the_questions_instead_of_failing() {
    let flow = load(CLAPA);
    let mut talk = Talk::start(&flow);
    talk.say("no");
    talk.conv.stage = Stage::Question {
        node: "gone_in_new_version".into(),
    };
    let step = talk.say("yes").clone();
    assert_eq!(step.kind, StepKind::AskedAgain);
    assert!(talk.last_reply().contains("updated since you started"));
    assert_eq!(
        talk.conv.stage,
        Stage::Question {
            node: flow.start.clone()
        }
    );
}
