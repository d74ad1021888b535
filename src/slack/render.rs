//! What the bot's messages look like on Slack: text escaped, the people a
//! page is for mentioned, a page's "Acknowledge" button, and a concern
//! channel's name. Pure functions.

use serde_json::{json, Value};

use super::events::escape;
use crate::bot::compose::{with_mentions, Person};
use crate::bot::{Kind, Message};

/// A concern channel's name from the room's name: its last word (the
/// reference), as Slack takes names, lower case.
pub fn channel_name(name: &str) -> String {
    let last = name.split_whitespace().last().unwrap_or("concern");
    let cleaned: String = last
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches('-').to_string();
    if cleaned.is_empty() {
        "concern".into()
    } else {
        cleaned
    }
}

/// The text to post: escaped, with the people a page is for mentioned
/// (`<@U…>`, which Slack shows as their name and which rings them). Anyone
/// else the text names stays a name: a mention would ring them too.
pub fn slack_text(message: &Message) -> String {
    let mut text = escape(&message.plain);
    let Kind::Ping(users) = &message.kind else {
        return text;
    };
    if message.people.is_empty() {
        // A page queued before messages named people wrote their ids.
        for user in users {
            text = text.replace(user.as_str(), &format!("<@{user}>"));
        }
        return text;
    }
    let people: Vec<Person> = message
        .people
        .iter()
        .map(|p| Person {
            id: p.id.clone(),
            name: escape(&p.name),
        })
        .collect();
    with_mentions(&text, &people, users, |id| format!("<@{id}>"))
}

/// The action id of a page's "Acknowledge" button.
pub const ACK_ACTION: &str = "ack";

/// The action ids of a question's buttons start with this.
pub const ANSWER_ACTION: &str = "answer";

/// Slack's most characters in a section's text, and in a button's.
const SECTION_CHARS: usize = 3000;
const BUTTON_CHARS: usize = 75;

/// The blocks of a message: a page's, a question's, or none (plain text).
pub fn blocks(message: &Message) -> Option<Value> {
    page_blocks(message).or_else(|| question_blocks(message))
}

/// A question's blocks: its text, in sections Slack can hold, and a button
/// for each choice. A button's value says which question it is for and what
/// it answers (see [`crate::bot::InboundKind::Pressed`]).
pub fn question_blocks(message: &Message) -> Option<Value> {
    let buttons = message.buttons.as_ref()?;
    let mut blocks: Vec<Value> = sections(&slack_text(message))
        .into_iter()
        .map(|text| json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } }))
        .collect();
    let elements: Vec<Value> = buttons
        .buttons
        .iter()
        .take(25)
        .enumerate()
        .map(|(i, b)| {
            json!({
                "type": "button",
                "action_id": format!("{ANSWER_ACTION}-{i}"),
                "text": { "type": "plain_text", "text": shorten(&b.label, BUTTON_CHARS) },
                "value": json!({ "q": buttons.question, "a": b.answer, "l": shorten(&b.label, 500) }).to_string(),
            })
        })
        .collect();
    blocks.push(json!({ "type": "actions", "elements": elements }));
    Some(Value::Array(blocks))
}

/// What a question's button stands for, from its value: the question it
/// is for, its answer and its label.
pub fn read_answer_value(value: &str) -> Option<(String, String, String)> {
    let v: Value = serde_json::from_str(value).ok()?;
    Some((
        v["q"].as_str()?.to_string(),
        v["a"].as_str()?.to_string(),
        v["l"].as_str()?.to_string(),
    ))
}

/// `text` in pieces of at most [`SECTION_CHARS`] characters, broken at line
/// ends where it can.
pub(super) fn sections(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        let mut line = line;
        while !line.is_empty() {
            let room = SECTION_CHARS - current.chars().count();
            let take = line.char_indices().nth(room).map_or(line.len(), |(at, _)| at);
            if take == 0 {
                out.push(std::mem::take(&mut current));
                continue;
            }
            if take < line.len() && !current.is_empty() {
                // The line does not fit: start it in a section of its own.
                out.push(std::mem::take(&mut current));
                continue;
            }
            current.push_str(&line[..take]);
            line = &line[take..];
        }
    }
    if !current.trim().is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

/// At most `max` characters, with "…" if cut.
pub(super) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// A page's blocks: its text (the same as `text`, which a locked phone
/// shows: no detail of the concern) and an "Acknowledge" button, which
/// counts as `!ack` from whoever presses it. Other messages have none.
pub fn page_blocks(message: &Message) -> Option<Value> {
    if !matches!(message.kind, Kind::Ping(_)) || !message.plain.contains("!ack") {
        return None;
    }
    Some(json!([
        { "type": "section", "text": { "type": "mrkdwn", "text": slack_text(message) } },
        { "type": "actions", "elements": [{
            "type": "button",
            "action_id": ACK_ACTION,
            "style": "primary",
            "text": { "type": "plain_text", "text": "Acknowledge" },
        }]},
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_concern_channel_is_named_by_its_reference_alone() {
        assert_eq!(channel_name("Safeguarding concern SG-0042"), "sg-0042");
        assert_eq!(channel_name("!!!"), "concern");
    }

    #[test]
    fn a_question_has_a_button_per_choice_saying_what_it_answers() {
        let message = Message {
            kind: Kind::Plain,
            plain: "Is anyone in immediate danger?\n1. Yes\n2. No\nType yes or no.".into(),
            html: None,
            buttons: Some(crate::conversation::Buttons {
                question: "SG-0001/q:danger".into(),
                buttons: vec![
                    crate::conversation::Button {
                        label: "Yes".into(),
                        answer: "1".into(),
                    },
                    crate::conversation::Button {
                        label: "No".repeat(60),
                        answer: "2".into(),
                    },
                ],
            }),
            people: Vec::new(),
        };
        let blocks = blocks(&message).unwrap();
        let blocks = blocks.as_array().unwrap();
        assert_eq!(blocks[0]["text"]["text"], slack_text(&message));
        let buttons = blocks[1]["elements"].as_array().unwrap();
        assert_eq!(buttons.len(), 2);
        assert_eq!(buttons[0]["text"]["text"], "Yes");
        assert_eq!(buttons[1]["text"]["text"].as_str().unwrap().chars().count(), 75);
        let (question, answer, label) = read_answer_value(buttons[1]["value"].as_str().unwrap()).unwrap();
        assert_eq!((question.as_str(), answer.as_str()), ("SG-0001/q:danger", "2"));
        assert_eq!(label, "No".repeat(60));
    }

    #[test]
    fn a_long_question_is_shown_in_sections_slack_can_hold() {
        let text = format!("{}\n{}\nshort\n", "a".repeat(2500), "b".repeat(7000));
        let parts = sections(&text);
        assert!(parts.iter().all(|p| p.chars().count() <= SECTION_CHARS));
        assert_eq!(parts.concat(), text);
        assert!(parts[0].ends_with("a\n"));
    }

    #[test]
    fn a_page_queued_before_names_mentions_only_the_people_it_is_for() {
        let message = Message {
            kind: Kind::Ping(vec!["U0LEAD0001".into()]),
            plain: "U0LEAD0001: New concern SG-0001, reported by U0STAFF001 <b>".into(),
            html: None,
            buttons: None,
            people: Vec::new(),
        };
        assert_eq!(
            slack_text(&message),
            "<@U0LEAD0001>: New concern SG-0001, reported by U0STAFF001 &lt;b&gt;"
        );
    }

    #[test]
    fn a_page_mentions_whom_it_rings_and_names_the_reporter_without_ringing_them() {
        let lead = Person::new("U0LEAD0001", "Lee <Lead>");
        let staff = Person::new("U0STAFF001", "Sam Staff");
        let text = crate::bot::compose::page(
            &crate::concern::Reference::new(1),
            false,
            &staff,
            std::slice::from_ref(&lead),
            false,
        );
        let message = Message::new(Kind::Ping(vec![lead.id.clone()]), text).naming(vec![lead, staff]);
        let shown = slack_text(&message);
        assert!(
            shown.starts_with("<@U0LEAD0001>: New safeguarding concern SG-0001, reported by Sam Staff."),
            "{shown}"
        );
        assert!(!shown.contains("U0STAFF001"), "{shown}");
    }
}
