//! Arbitrary messages at every step: the engine never panics, and every
//! step advances, asks again or explains, always with something to read.

use crate::common;

use common::{load, Talk, CAUK, CLAPA};
use proptest::prelude::*;
use safeguarding_bot::conversation::{Stage, StepKind};

fn message() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("yes".to_string()),
        Just("no".to_string()),
        Just("back".to_string()),
        Just("cancel".to_string()),
        Just("help".to_string()),
        Just("skip".to_string()),
        Just("send".to_string()),
        Just("1".to_string()),
        Just("2".to_string()),
        Just("3".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("<img src=x onerror=alert(1)>".to_string()),
        Just("\u{0}\u{1b}[2J\u{7}".to_string()),
        Just("a".repeat(10_000)),
        Just("b".repeat(10_001)),
        Just("\u{202e}yes".to_string()),
        "\\PC{0,40}",
        any::<String>(),
    ]
}

fn walk(file: &str, messages: Vec<String>) {
    let flow = load(file);
    let mut talk = Talk::start(&flow);
    for m in &messages {
        let before = talk.conv.clone();
        let step = talk.say(m).clone();
        let replies: Vec<&str> = step.replies().collect();
        assert!(!replies.is_empty(), "every step answers: {m:?}");
        assert!(
            replies.iter().all(|r| !r.trim().is_empty()),
            "no empty reply: {m:?}"
        );
        match step.kind {
            StepKind::AskedAgain | StepKind::Explained => {
                assert_eq!(step.conversation.decisions, before.decisions, "{m:?}");
                assert_eq!(step.conversation.fields, before.fields, "{m:?}");
            }
            StepKind::Advanced => {}
            StepKind::Finished => assert!(matches!(step.conversation.stage, Stage::Done { .. })),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn clapa_never_panics(messages in prop::collection::vec(message(), 0..40)) {
        walk(CLAPA, messages);
    }

    #[test]
    fn cauk_never_panics(messages in prop::collection::vec(message(), 0..40)) {
        walk(CAUK, messages);
    }
}
