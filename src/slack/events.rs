//! Slack's events as the core's [`Inbound`]s. Pure functions: no calls.
//!
//! - A message is known by its channel and `ts`, not by the envelope's
//!   `event_id`: one message in a private channel that mentions the bot
//!   comes as both `message.groups` and `app_mention`, two events with two
//!   ids, and must be handled once. A redelivery has the same channel and
//!   `ts`, so the core's inbox drops it.
//! - The bot's own messages, and any bot's, come back as events and are
//!   dropped here (as notices are on Matrix).
//! - A `message_changed` is an edit only when someone edited the text
//!   (`edited` set, the text not the same): a link preview Slack adds is
//!   dropped here. The core never acts on an edit.
//! - Reactions are named (`white_check_mark`, `+1`); the core wants the
//!   emoji.

use slack_morphism::prelude::*;

use super::render;
use crate::bot::{Inbound, InboundKind};

/// The id under which a message is kept in the inbox: `ts` is unique
/// within a channel.
pub fn message_key(channel: &str, ts: &str) -> String {
    format!("slack:{channel}/{ts}")
}

/// The message's `ts`, from a key made by [`message_key`] (or a bare `ts`).
pub fn ts_of(message: &str) -> &str {
    message.rsplit('/').next().unwrap_or(message)
}

/// An event as the core sees it, or `None` for what the core does not take
/// (the bot's own messages, joins, topic changes).
pub fn inbound(event: &SlackPushEventCallback, bot_user: &str) -> Option<Inbound> {
    match &event.event {
        SlackEventCallbackBody::Message(m) => message(m, bot_user),
        SlackEventCallbackBody::AppMention(m) => {
            if m.user.0 == bot_user {
                return None;
            }
            let body = plain_text(m.content.text.as_deref().unwrap_or_default());
            Some(Inbound {
                event_id: message_key(&m.channel.0, &m.origin.ts.0),
                room_id: m.channel.0.clone(),
                sender: m.user.0.clone(),
                kind: InboundKind::Text {
                    body,
                    mentions_bot: true,
                },
                written_at: written_at(&m.origin.ts.0),
            })
        }
        SlackEventCallbackBody::ReactionAdded(r) => {
            if r.user.0 == bot_user {
                return None;
            }
            let SlackReactionsItem::Message(item) = &r.item else {
                return None;
            };
            let channel = item.origin.channel.as_ref()?;
            Some(Inbound {
                event_id: format!("slack:{}", event.event_id.0),
                room_id: channel.0.clone(),
                sender: r.user.0.clone(),
                kind: InboundKind::Reaction {
                    key: emoji(&r.reaction.0),
                },
                written_at: None,
            })
        }
        SlackEventCallbackBody::MemberJoinedChannel(j) => {
            if j.user.0 == bot_user {
                return None;
            }
            Some(Inbound {
                event_id: format!("slack:{}", event.event_id.0),
                room_id: j.channel.0.clone(),
                sender: j.user.0.clone(),
                kind: InboundKind::Joined,
                written_at: None,
            })
        }
        _ => None,
    }
}

/// Someone joining (`true`) or leaving (`false`) a channel: `(channel,
/// user, joined)`, for the channels' kept member lists.
pub fn membership(event: &SlackPushEventCallback) -> Option<(&str, &str, bool)> {
    match &event.event {
        SlackEventCallbackBody::MemberJoinedChannel(j) => {
            Some((j.channel.0.as_str(), j.user.0.as_str(), true))
        }
        SlackEventCallbackBody::MemberLeftChannel(l) => {
            Some((l.channel.0.as_str(), l.user.0.as_str(), false))
        }
        _ => None,
    }
}

/// A pressed button as what it stands for: the page's "Acknowledge" is
/// `!ack` from whoever pressed it, in the channel it was pressed in; a
/// question's button is that answer to that question.
pub fn button(event: &SlackInteractionEvent, ack_action: &str) -> Option<Inbound> {
    let SlackInteractionEvent::BlockActions(press) = event else {
        return None;
    };
    let action = press.actions.as_ref()?.first()?;
    let kind = if action.action_id.0 == ack_action {
        InboundKind::Text {
            body: "!ack".into(),
            mentions_bot: false,
        }
    } else if action.action_id.0.starts_with(render::ANSWER_ACTION) {
        let (question, answer, label) = render::read_answer_value(action.value.as_deref()?)?;
        InboundKind::Pressed {
            question,
            answer,
            label,
        }
    } else {
        return None;
    };
    let channel = press.channel.as_ref()?.id.0.clone();
    let user = press.user.as_ref()?.id.0.clone();
    // Each press is its own event: a second press of "Acknowledge" is
    // answered as a second `!ack` ("already acknowledged"), and a second
    // press of an answer as a press on a question already answered.
    let when = action
        .action_ts
        .as_ref()
        .map_or(press.trigger_id.0.as_str(), |t| t.0.as_str());
    Some(Inbound {
        event_id: format!("slack:action/{channel}/{when}"),
        room_id: channel,
        sender: user,
        kind,
        // A press names its question: a press on an earlier one is told so.
        written_at: None,
    })
}

fn message(m: &SlackMessageEvent, bot_user: &str) -> Option<Inbound> {
    let channel = m.origin.channel.as_ref()?.0.clone();
    let is_bot = |sender: &SlackMessageSender| {
        sender.bot_id.is_some() || sender.user.as_ref().is_some_and(|u| u.0 == bot_user)
    };
    let (sender, kind) = match &m.subtype {
        None | Some(SlackMessageEventType::MeMessage) | Some(SlackMessageEventType::ThreadBroadcast) => {
            if is_bot(&m.sender) {
                return None;
            }
            let content = m.content.as_ref();
            let text = content.and_then(|c| c.text.as_deref()).unwrap_or_default();
            let has_files = content
                .and_then(|c| c.files.as_ref())
                .is_some_and(|f| !f.is_empty());
            let kind = if has_files {
                InboundKind::Attachment
            } else {
                InboundKind::Text {
                    body: plain_text(text),
                    mentions_bot: text.contains(&format!("<@{bot_user}>")),
                }
            };
            (m.sender.user.as_ref()?.0.clone(), kind)
        }
        Some(SlackMessageEventType::FileShare) => {
            if is_bot(&m.sender) {
                return None;
            }
            (m.sender.user.as_ref()?.0.clone(), InboundKind::Attachment)
        }
        Some(SlackMessageEventType::MessageChanged) => {
            let edited = m.message.as_ref()?;
            if is_bot(&edited.sender) {
                return None;
            }
            let text_of = |e: &SlackMessageEventEdited| {
                e.content
                    .as_ref()
                    .and_then(|c| c.text.clone())
                    .unwrap_or_default()
            };
            let text = text_of(edited);
            // Slack changes a message without anyone editing it when it adds
            // a link preview (or a thread's replies): nothing was said.
            let before = m.previous_message.as_ref().map(text_of);
            if edited.edited.is_none() || before.as_deref() == Some(text.as_str()) {
                return None;
            }
            (
                edited.sender.user.as_ref()?.0.clone(),
                InboundKind::Edit {
                    body: plain_text(&text),
                },
            )
        }
        _ => return None,
    };
    // An edit's `ts` is the original message's; the edit came later.
    let written = match kind {
        InboundKind::Edit { .. } => None,
        _ => written_at(&m.origin.ts.0),
    };
    Some(Inbound {
        event_id: message_key(&channel, &m.origin.ts.0),
        room_id: channel,
        sender,
        kind,
        written_at: written,
    })
}

/// When a message was written, from its `ts` (`seconds.micros`, by
/// Slack's clock); `None` if it is not one.
pub fn written_at(ts: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    let secs: i64 = secs.parse().ok()?;
    let micros: u32 = format!("{micros:0<6}").get(..6)?.parse().ok()?;
    chrono::DateTime::from_timestamp(secs, micros * 1000)
}

/// A reaction's name as the emoji the core knows: ✅ and 👍 acknowledge.
pub fn emoji(name: &str) -> String {
    // Skin tones come as `+1::skin-tone-3`.
    match name.split("::").next().unwrap_or(name) {
        "white_check_mark" | "heavy_check_mark" | "ballot_box_with_check" => "✅".into(),
        "+1" | "thumbsup" => "👍".into(),
        other => format!(":{other}:"),
    }
}

/// Slack's message text as a person typed it: `&amp;`, `&lt;` and `&gt;`
/// decoded, links and mentions as their label or id.
pub fn plain_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let inner = &after[..close];
        let shown = match inner.split_once('|') {
            Some((_, label)) => label.to_string(),
            None => inner.trim_start_matches(['@', '#', '!']).to_string(),
        };
        out.push_str(&shown);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Text for Slack: `&`, `<` and `>` escaped, so nothing the bot repeats
/// (a reporter's words in the record) becomes a mention or a link.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn callback(event: serde_json::Value) -> SlackPushEventCallback {
        serde_json::from_value(json!({
            "team_id": "T1", "api_app_id": "A1", "event_id": "Ev1", "event_time": 1_700_000_000,
            "type": "event_callback", "event": event
        }))
        .expect("a valid event callback")
    }

    #[test]
    fn a_dm_message_is_text_keyed_by_channel_and_ts() {
        let ev = callback(json!({
            "type": "message", "channel": "D1", "channel_type": "im", "user": "U1",
            "text": "report &amp; more", "ts": "1.000001", "event_ts": "1.000001"
        }));
        let inbound = inbound(&ev, "UBOT").expect("taken");
        assert_eq!(inbound.event_id, "slack:D1/1.000001");
        assert_eq!(inbound.room_id, "D1");
        assert_eq!(inbound.sender, "U1");
        assert_eq!(
            inbound.written_at,
            chrono::DateTime::from_timestamp(1, 1000),
            "written at its ts"
        );
        match inbound.kind {
            InboundKind::Text { body, mentions_bot } => {
                assert_eq!(body, "report & more");
                assert!(!mentions_bot);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_bots_own_messages_and_other_bots_are_dropped() {
        let own = callback(json!({
            "type": "message", "channel": "D1", "channel_type": "im", "user": "UBOT",
            "bot_id": "B1", "text": "What happened?", "ts": "1.000002"
        }));
        assert!(inbound(&own, "UBOT").is_none());
        let other = callback(json!({
            "type": "message", "subtype": "bot_message", "channel": "G1", "bot_id": "B2",
            "text": "hi", "ts": "1.000003"
        }));
        assert!(inbound(&other, "UBOT").is_none());
    }

    #[test]
    fn a_mention_and_its_message_are_one_event() {
        let message = callback(json!({
            "type": "message", "channel": "G1", "channel_type": "group", "user": "U1",
            "text": "<@UBOT> report", "ts": "2.000001"
        }));
        let mention = callback(json!({
            "type": "app_mention", "channel": "G1", "user": "U1",
            "text": "<@UBOT> report", "ts": "2.000001", "event_ts": "2.000001"
        }));
        let a = inbound(&message, "UBOT").expect("message");
        let b = inbound(&mention, "UBOT").expect("mention");
        assert_eq!(a.event_id, b.event_id);
        assert!(matches!(
            b.kind,
            InboundKind::Text {
                mentions_bot: true,
                ..
            }
        ));
    }

    #[test]
    fn reactions_are_named_as_the_core_knows_them() {
        assert_eq!(emoji("white_check_mark"), "✅");
        assert_eq!(emoji("+1::skin-tone-2"), "👍");
        assert_eq!(emoji("tada"), ":tada:");
        let ev = callback(json!({
            "type": "reaction_added", "user": "U1", "reaction": "white_check_mark", "item_user": "UBOT",
            "item": { "type": "message", "channel": "C9", "ts": "3.000001" }, "event_ts": "3.000002"
        }));
        let r = inbound(&ev, "UBOT").expect("reaction");
        assert_eq!(r.room_id, "C9");
        assert!(matches!(r.kind, InboundKind::Reaction { ref key } if key == "✅"));
    }

    #[test]
    fn text_is_decoded_and_escaped() {
        assert_eq!(
            plain_text("see <https://x.test/a|x.test> and <@U1>"),
            "see x.test and U1"
        );
        assert_eq!(escape("a <b> & c"), "a &lt;b&gt; &amp; c");
        assert_eq!(ts_of("slack:D1/1.000001"), "1.000001");
        assert_eq!(ts_of("1.5"), "1.5");
    }
}
