//! The choices of the question now asked, as buttons a chat can show beside
//! it. Pressing one is the same as typing its answer; the text still spells
//! every choice out, so a chat without buttons loses nothing.

use serde::{Deserialize, Serialize};

use super::{Conversation, Stage};
use crate::flow::{Flow, Node};

/// One button: what it says, and what pressing it answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    pub answer: String,
}

/// The buttons of one question, and which question it was, so a press on
/// a question already answered is not taken for the one now asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buttons {
    pub question: String,
    pub buttons: Vec<Button>,
}

/// Which question the conversation is at: the report, the flowchart's
/// version (a button from before the flowchart changed may mean another
/// choice now) and the stage. The same question asked again (after
/// `back`) has the same key.
pub fn question_key(c: &Conversation) -> String {
    let stage = match &c.stage {
        Stage::Question { node } => format!("q:{node}"),
        Stage::Field { index } => format!("f:{index}"),
        Stage::Review => "review".into(),
        Stage::ConfirmCancel { .. } => "cancel".into(),
        Stage::Done { .. } => "done".into(),
    };
    let version: String = c.flow_digest.chars().take(8).collect();
    format!("{}/{version}/{stage}", c.reference)
}

/// The buttons for the question now asked; `None` when it has no fixed
/// choices (a free-text answer) or the report is finished.
pub fn buttons(flow: &Flow, c: &Conversation) -> Option<Buttons> {
    let numbered = |labels: Vec<String>| {
        labels
            .into_iter()
            .enumerate()
            .map(|(i, label)| Button {
                label,
                answer: (i + 1).to_string(),
            })
            .collect::<Vec<_>>()
    };
    let buttons = match &c.stage {
        Stage::Question { node } => match flow.node(node) {
            Some(Node::Question(q)) => numbered(q.options.iter().map(|o| o.label.clone()).collect()),
            _ => Vec::new(),
        },
        Stage::Field { index } => match flow.record.get(*index) {
            Some(f) => {
                let mut b = numbered(f.options.clone());
                if f.optional {
                    b.push(button("Skip", "skip"));
                }
                b
            }
            None => Vec::new(),
        },
        Stage::Review => vec![button("Send", "send")],
        Stage::ConfirmCancel { .. } => vec![button("Yes, cancel it", "yes"), button("No, carry on", "no")],
        Stage::Done { .. } => Vec::new(),
    };
    (!buttons.is_empty()).then(|| Buttons {
        question: question_key(c),
        buttons,
    })
}

fn button(label: &str, answer: &str) -> Button {
    Button {
        label: label.into(),
        answer: answer.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::concern::Reference;
    use chrono::TimeZone;

    fn flow() -> Flow {
        let text = std::fs::read_to_string("conversations/online-safety-referral.toml").unwrap();
        crate::flow::load_str(&text, "online-safety-referral.toml").unwrap()
    }

    #[test]
    fn every_choice_of_a_question_is_a_button_that_answers_its_number() {
        let flow = flow();
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let step = super::super::start(&flow, Reference::new(42), "@sam:example.org", now);
        let c = step.conversation;
        let b = buttons(&flow, &c).expect("the first question has choices");
        let Stage::Question { node } = &c.stage else {
            panic!("starts with a question")
        };
        let Some(Node::Question(q)) = flow.node(node) else {
            panic!("a question node")
        };
        assert_eq!(b.buttons.len(), q.options.len());
        for (i, (button, option)) in b.buttons.iter().zip(&q.options).enumerate() {
            assert_eq!(button.label, option.label);
            assert_eq!(button.answer, (i + 1).to_string());
        }
        assert_eq!(b.question, format!("SG-0042/{}/q:{node}", &c.flow_digest[..8]));
        // Pressing the first button is the same as typing its number.
        let by_press = super::super::step(&flow, c.clone(), &b.buttons[0].answer, now);
        let by_typing = super::super::step(&flow, c, "1", now);
        assert_eq!(by_press, by_typing);
    }

    #[test]
    fn a_free_text_question_has_no_buttons_unless_it_may_be_skipped() {
        let flow = flow();
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let mut c = super::super::start(&flow, Reference::new(7), "@sam:example.org", now).conversation;
        for (index, field) in flow.record.iter().enumerate() {
            c.stage = Stage::Field { index };
            let labels: Vec<String> = buttons(&flow, &c)
                .map(|b| b.buttons.into_iter().map(|b| b.label).collect())
                .unwrap_or_default();
            let mut expected = field.options.clone();
            if field.optional {
                expected.push("Skip".into());
            }
            assert_eq!(labels, expected, "field {}", field.id);
        }
        c.stage = Stage::Review;
        assert_eq!(buttons(&flow, &c).unwrap().buttons, vec![button("Send", "send")]);
        c.stage = Stage::Done {
            status: crate::concern::Status::Submitted,
        };
        assert_eq!(buttons(&flow, &c), None);
    }
}
