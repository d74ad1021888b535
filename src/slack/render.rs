//! What the bot's messages look like on Slack: text escaped, the people a
//! page is for mentioned, a page's "Acknowledge" button, and a concern
//! channel's name. Pure functions.

use serde_json::{json, Value};

use super::events::escape;
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

/// The text to post: escaped, with the people a page is for mentioned.
pub fn slack_text(message: &Message) -> String {
    let mut text = escape(&message.plain);
    if let Kind::Ping(users) = &message.kind {
        for user in users {
            text = text.replace(user.as_str(), &format!("<@{user}>"));
        }
    }
    text
}

/// The action id of a page's "Acknowledge" button.
pub const ACK_ACTION: &str = "ack";

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
    fn a_page_mentions_only_the_people_it_is_for() {
        let message = Message {
            kind: Kind::Ping(vec!["U0LEAD0001".into()]),
            plain: "U0LEAD0001: New concern SG-0001, reported by U0STAFF001 <b>".into(),
            html: None,
        };
        assert_eq!(
            slack_text(&message),
            "<@U0LEAD0001>: New concern SG-0001, reported by U0STAFF001 &lt;b&gt;"
        );
    }
}
