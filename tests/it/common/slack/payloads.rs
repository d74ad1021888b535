//! Every JSON shape the stand-in sends, copied from Slack's own documentation
//! examples and filled with the stand-in's ids. The comment above each one
//! names the page it came from. Where the stand-in adds a field that the
//! page's example leaves out but real Slack sends, the comment says so.
//!
//! Slack's pages write some examples with a trailing comma (the
//! `authorizations` objects); that is dropped here so the JSON is valid.

use serde_json::{json, Map, Value};

use super::world::{
    Channel, ChannelKind, Message, User, UserKind, APP_ID, BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID,
    TEAM_NAME,
};

// ---------------------------------------------------------------------------
// Socket Mode frames
// ---------------------------------------------------------------------------

/// From docs.slack.dev/apis/events-api/using-socket-mode ("2. Connect to the
/// WebSocket"): the `hello` message sent after connecting.
pub fn hello(num_connections: usize) -> Value {
    json!({
        "type": "hello",
        "connection_info": { "app_id": APP_ID },
        "num_connections": num_connections,
        "debug_info": {
            "host": "applink-standin-1",
            "started": "2026-01-01 00:00:00.000",
            "build_number": 54,
            "approximate_connection_time": 3600
        }
    })
}

/// From docs.slack.dev/apis/events-api/using-socket-mode ("3. Handle
/// disconnects gracefully"): reasons `link_disabled`, `warning` and
/// `refresh_requested`.
pub fn disconnect(reason: &str) -> Value {
    json!({
        "type": "disconnect",
        "reason": reason,
        "debug_info": { "host": "applink-standin-1" }
    })
}

/// From docs.slack.dev/apis/events-api/using-socket-mode ("4. Receive
/// events" and "Using interactive features"): `payload`, `envelope_id`,
/// `type`, `accepts_response_payload`. `retry_attempt` and `retry_reason`
/// are not on that page; Slack's Python SDK models them on every Socket Mode
/// request (slack_sdk/socket_mode/request.py), and the stand-in sets them on
/// `events_api` envelopes only, which are the ones Slack redelivers.
pub fn envelope(
    kind: &str,
    envelope_id: &str,
    payload: &Value,
    accepts_response_payload: bool,
    retry: Option<(u32, &str)>,
) -> Value {
    let mut frame = json!({
        "envelope_id": envelope_id,
        "type": kind,
        "accepts_response_payload": accepts_response_payload,
        "payload": payload,
    });
    if let Some((attempt, reason)) = retry {
        frame["retry_attempt"] = json!(attempt);
        frame["retry_reason"] = json!(reason);
    }
    frame
}

/// From docs.slack.dev/apis/events-api/using-socket-mode ("Slash commands"):
/// the payload of a `slash_commands` envelope. `api_app_id` and
/// `is_enterprise_install` are not in that example but are in the slash
/// command form Slack sends (docs.slack.dev/interactivity/implementing-slash-commands).
#[allow(clippy::too_many_arguments)]
pub fn slash_command(
    user: &User,
    channel_id: &str,
    channel_name: &str,
    command: &str,
    text: &str,
    response_url: &str,
    trigger_id: &str,
) -> Value {
    json!({
        "token": "standinVerificationToken",
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user.id,
        "user_name": user.name,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    })
}

/// From docs.slack.dev/apis/events-api/using-socket-mode ("Block Kit
/// buttons"): a `block_actions` payload for a pressed button. The example's
/// container is a `message_attachment`; for a Block Kit message Slack sends a
/// `message` container (docs.slack.dev/reference/interaction-payloads/block_actions-payload).
#[allow(clippy::too_many_arguments)]
pub fn block_actions(
    user: &User,
    channel: &Channel,
    message: &Value,
    message_ts: &str,
    block_id: &str,
    action_id: &str,
    button_text: &str,
    value: Option<&str>,
    response_url: &str,
    trigger_id: &str,
    action_ts: &str,
) -> Value {
    let mut action = json!({
        "action_id": action_id,
        "block_id": block_id,
        "text": { "type": "plain_text", "text": button_text, "emoji": true },
        "type": "button",
        "action_ts": action_ts,
    });
    if let Some(value) = value {
        action["value"] = json!(value);
    }
    json!({
        "type": "block_actions",
        "team": { "id": TEAM_ID, "domain": TEAM_DOMAIN },
        "user": { "id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id },
        "api_app_id": APP_ID,
        "token": "standinVerificationToken",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel.id,
            "is_ephemeral": false
        },
        "trigger_id": trigger_id,
        "channel": { "id": channel.id, "name": channel_name_for_payload(channel) },
        "message": message,
        "state": { "values": {} },
        "response_url": response_url,
        "actions": [action],
    })
}

/// From docs.slack.dev/reference/objects/event-object and the wrapper in
/// docs.slack.dev/reference/events/message.im: the `event_callback` wrapper.
/// `is_ext_shared_channel` and `event_context` are not in those examples;
/// real deliveries carry them (as in the golden files of the Haskell
/// slack-web package, recorded from Slack).
pub fn event_callback(event: Value, event_id: &str, event_time: u64, ext_shared: bool) -> Value {
    json!({
        "token": "standinVerificationToken",
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [{
            "enterprise_id": null,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "is_bot": true,
            "is_enterprise_install": false
        }],
        "is_ext_shared_channel": ext_shared,
        "event_context": format!("4-standin-{event_id}"),
    })
}

/// From docs.slack.dev/reference/events/message.im (`channel_type: "im"`)
/// and api.slack.com/events/message.groups (`channel_type: "group"`): a
/// person's message. `client_msg_id`, `team` and the `rich_text` block are
/// not in those examples but are in every message a person types (see the
/// recorded messageIm.json golden file of the Haskell slack-web package).
pub fn user_message_event(message: &Message, channel: &Channel, user: &User) -> Value {
    json!({
        "client_msg_id": format!("standin-{}", message.ts.replace('.', "-")),
        "type": "message",
        "text": message.text.clone().unwrap_or_default(),
        "user": user.id,
        "ts": message.ts,
        "team": user.team_id,
        "blocks": [{
            "type": "rich_text",
            "block_id": "stdn",
            "elements": [{
                "type": "rich_text_section",
                "elements": [{ "type": "text", "text": message.text.clone().unwrap_or_default() }]
            }]
        }],
        "channel": channel.id,
        "event_ts": message.ts,
        "channel_type": channel_type_for_message(channel),
    })
}

/// The event Slack sends to an app for a message the app itself posted: a
/// message event with `bot_id` and `app_id` (the app receives its own
/// messages on `message.im` and `message.groups`; it must ignore them).
/// Shape as `message` below, plus `channel`, `event_ts` and `channel_type`
/// as in docs.slack.dev/reference/events/message.im.
pub fn bot_message_event(message: &Message, channel: &Channel) -> Value {
    let mut event = message_object(message);
    event["channel"] = json!(channel.id);
    event["event_ts"] = json!(message.ts);
    event["channel_type"] = json!(channel_type_for_message(channel));
    event
}

/// From docs.slack.dev/reference/events/app_mention: an `app_mention` event.
pub fn app_mention_event(message: &Message, channel: &Channel, user: &User) -> Value {
    json!({
        "type": "app_mention",
        "user": user.id,
        "text": message.text.clone().unwrap_or_default(),
        "ts": message.ts,
        "channel": channel.id,
        "event_ts": message.ts,
    })
}

/// From docs.slack.dev/reference/events/reaction_added: a reaction to a
/// message (`item.channel_type` is in the docs.slack.dev example).
pub fn reaction_added_event(
    user: &str,
    reaction: &str,
    item_user: Option<&str>,
    channel: &Channel,
    ts: &str,
    event_ts: &str,
) -> Value {
    let mut event = json!({
        "type": "reaction_added",
        "user": user,
        "reaction": reaction,
        "item": {
            "type": "message",
            "channel": channel.id,
            "ts": ts,
            "channel_type": channel_type_for_message(channel)
        },
        "event_ts": event_ts,
    });
    if let Some(item_user) = item_user {
        event["item_user"] = json!(item_user);
    }
    event
}

/// From docs.slack.dev/reference/events/member_joined_channel. `channel_type`
/// is `C` for a public channel and `G` for a private one.
pub fn member_joined_channel_event(
    user: &str,
    channel: &Channel,
    inviter: Option<&str>,
    event_ts: &str,
) -> Value {
    let mut event = json!({
        "type": "member_joined_channel",
        "user": user,
        "channel": channel.id,
        "channel_type": if channel.kind == ChannelKind::Public { "C" } else { "G" },
        "team": TEAM_ID,
        "event_ts": event_ts,
    });
    if let Some(inviter) = inviter {
        event["inviter"] = json!(inviter);
    }
    event
}

/// From docs.slack.dev/reference/events/member_left_channel: `user`,
/// `channel`, `channel_type` (`C` public, `G` private), `team`, `event_ts`.
pub fn member_left_channel_event(user: &str, channel: &Channel, event_ts: &str) -> Value {
    json!({
        "type": "member_left_channel",
        "user": user,
        "channel": channel.id,
        "channel_type": if channel.kind == ChannelKind::Public { "C" } else { "G" },
        "team": TEAM_ID,
        "event_ts": event_ts,
    })
}

/// From docs.slack.dev/reference/interaction-payloads/view-interactions-payload
/// (`view_submission`: `type`, `team`, `user`, `view` with `state.values`
/// keyed by `block_id` then `action_id`, `api_app_id`). `token`,
/// `trigger_id`, `user.username`, `user.team_id`, `response_urls` and
/// `is_enterprise_install` are not in that page's example; they are in the
/// view_submission recorded from Slack in slackapi/bolt-python
/// (tests/slack_bolt/request/test_request.py). `response_urls` is empty:
/// the stand-in models no `response_url_enabled` inputs.
pub fn view_submission(user: &User, view: &Value, trigger_id: &str) -> Value {
    json!({
        "type": "view_submission",
        "team": { "id": TEAM_ID, "domain": TEAM_DOMAIN },
        "user": { "id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id },
        "api_app_id": APP_ID,
        "token": "standinVerificationToken",
        "trigger_id": trigger_id,
        "view": view,
        "response_urls": [],
        "is_enterprise_install": false,
    })
}

/// From docs.slack.dev/reference/interaction-payloads/view-interactions-payload
/// (`view_closed`: `type`, `team`, `user`, `view`, `api_app_id`,
/// `is_cleared`). `token` and `is_enterprise_install` as in the view_closed
/// recorded from Slack in slackapi/bolt-python
/// (tests/slack_bolt/request/test_request.py), which has no `trigger_id`.
pub fn view_closed(user: &User, view: &Value) -> Value {
    json!({
        "type": "view_closed",
        "team": { "id": TEAM_ID, "domain": TEAM_DOMAIN },
        "user": { "id": user.id, "username": user.name, "name": user.name, "team_id": user.team_id },
        "api_app_id": APP_ID,
        "token": "standinVerificationToken",
        "view": view,
        "is_cleared": false,
        "is_enterprise_install": false,
    })
}

// ---------------------------------------------------------------------------
// Web API answers
// ---------------------------------------------------------------------------

/// From docs.slack.dev/reference/methods/auth.test (example response):
/// `url`, `team`, `user`, `team_id`, `user_id`. A bot token also gets
/// `bot_id` and `is_enterprise_install` (fields of the Node SDK's
/// `AuthTestResponse`, which Slack generates from real answers).
pub fn auth_test() -> Value {
    json!({
        "ok": true,
        "url": format!("https://{TEAM_DOMAIN}.slack.com/"),
        "team": TEAM_NAME,
        "user": "safeguarding",
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": false
    })
}

/// From docs.slack.dev/reference/methods/users.info (example response) and
/// docs.slack.dev/reference/objects/user-object for the flags
/// (`is_restricted`, `is_ultra_restricted`, `is_stranger`, `deleted`,
/// `is_bot`, `is_app_user`).
pub fn user_object(user: &User) -> Value {
    let is_bot = user.kind == UserKind::Bot;
    let restricted = matches!(user.kind, UserKind::Guest | UserKind::SingleChannelGuest);
    let mut object = json!({
        "id": user.id,
        "team_id": user.team_id,
        "name": user.name,
        "deleted": user.kind == UserKind::Deleted,
        "color": "9f69e7",
        "real_name": user.real_name,
        "tz": "Europe/London",
        "tz_label": "Greenwich Mean Time",
        "tz_offset": 0,
        "profile": {
            "avatar_hash": "ge3b51ca72de",
            "real_name": user.real_name,
            "display_name": user.name,
            "real_name_normalized": user.real_name,
            "display_name_normalized": user.name,
            "team": user.team_id
        },
        "is_admin": false,
        "is_owner": false,
        "is_primary_owner": false,
        "is_restricted": restricted,
        "is_ultra_restricted": user.kind == UserKind::SingleChannelGuest,
        "is_bot": is_bot,
        "is_app_user": false,
        "updated": 1_700_000_000,
        "has_2fa": false
    });
    if user.kind == UserKind::Stranger {
        // A person from another organisation, seen through Slack Connect.
        object["is_stranger"] = json!(true);
    }
    if is_bot {
        object["profile"]["bot_id"] = json!(if user.id == BOT_USER_ID {
            BOT_ID
        } else {
            "B0OTHERBOT"
        });
        object["profile"]["api_app_id"] = json!(APP_ID);
    }
    object
}

/// From docs.slack.dev/reference/methods/conversations.create,
/// conversations.info and conversations.invite (example responses): a
/// channel object. For a direct message, the second example of
/// conversations.info (`is_im`, `user`, no name).
pub fn channel_object(channel: &Channel, include_num_members: bool) -> Value {
    let mut object = if channel.kind == ChannelKind::Im {
        json!({
            "id": channel.id,
            "created": channel.created,
            "is_im": true,
            "is_org_shared": false,
            "user": channel.im_user.clone().unwrap_or_default(),
            "last_read": "0000000000.000000",
            "latest": null,
            "unread_count": 0,
            "unread_count_display": 0,
            "is_open": true,
            "locale": "en-GB",
            "priority": 0
        })
    } else {
        let name = channel.name.clone().unwrap_or_default();
        json!({
            "id": channel.id,
            "name": name,
            "is_channel": true,
            "is_group": false,
            "is_im": false,
            "is_mpim": false,
            "is_private": channel.kind == ChannelKind::Private,
            "created": channel.created,
            "creator": channel.creator,
            "is_archived": channel.archived,
            "is_general": false,
            "unlinked": 0,
            "name_normalized": name,
            "is_read_only": false,
            "is_shared": channel.ext_shared,
            "parent_conversation": null,
            "is_ext_shared": channel.ext_shared,
            "is_org_shared": false,
            "pending_shared": [],
            "is_pending_ext_shared": false,
            "is_member": channel.members.iter().any(|m| m == BOT_USER_ID),
            "last_read": "0000000000.000000",
            "topic": { "value": "", "creator": "", "last_set": 0 },
            "purpose": { "value": "", "creator": "", "last_set": 0 },
            "previous_names": [],
            "priority": 0
        })
    };
    if include_num_members {
        object["num_members"] = json!(channel.members.len());
    }
    object
}

/// From docs.slack.dev/reference/methods/chat.postMessage (example
/// response's `message`): `text`, `username`, `bot_id`, `type`, `ts`. A bot
/// token's message also carries `user`, `app_id`, `team`, `blocks` and
/// `bot_profile` (they are in every chat.postMessage answer to a bot token;
/// the page's example is an older legacy-bot answer).
pub fn message_object(message: &Message) -> Value {
    let mut object = json!({
        "type": "message",
        "user": message.user,
        "ts": message.ts,
        "text": message.text.clone().unwrap_or_default(),
        "team": TEAM_ID,
    });
    if message.from_bot {
        object["bot_id"] = json!(BOT_ID);
        object["app_id"] = json!(APP_ID);
        object["bot_profile"] = json!({
            "id": BOT_ID,
            "deleted": false,
            "name": "Safeguarding",
            "updated": 1_700_000_000,
            "app_id": APP_ID,
            "icons": { "image_36": "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png" },
            "team_id": TEAM_ID
        });
    }
    if let Some(blocks) = &message.blocks {
        object["blocks"] = blocks.clone();
    }
    if let Some(thread_ts) = &message.thread_ts {
        object["thread_ts"] = json!(thread_ts);
    }
    if !message.files.is_empty() {
        object["files"] = json!(message
            .files
            .iter()
            .map(|id| json!({ "id": id }))
            .collect::<Vec<_>>());
        object["upload"] = json!(false);
    }
    if message.edited {
        object["edited"] = json!({ "user": message.user, "ts": message.ts });
    }
    object
}

/// From docs.slack.dev/reference/methods/chat.postMessage (example response).
pub fn post_message(message: &Message) -> Value {
    json!({
        "ok": true,
        "channel": message.channel,
        "ts": message.ts,
        "message": message_object(message),
    })
}

/// From docs.slack.dev/reference/methods/chat.update (example response):
/// `channel`, `ts`, `text`, and `message` with `text` and `user`.
pub fn update_message(message: &Message) -> Value {
    json!({
        "ok": true,
        "channel": message.channel,
        "ts": message.ts,
        "text": message.text.clone().unwrap_or_default(),
        "message": message_object(message),
    })
}

/// From docs.slack.dev/reference/methods/chat.delete (example response).
pub fn delete_message(channel: &str, ts: &str) -> Value {
    json!({ "ok": true, "channel": channel, "ts": ts })
}

/// From docs.slack.dev/reference/methods/conversations.open: without
/// `return_im` only the id; when already open, `no_op` and `already_open`.
pub fn open_conversation(channel: &Channel, already_open: bool, return_im: bool) -> Value {
    let mut answer = json!({
        "ok": true,
        "channel": if return_im { channel_object(channel, false) } else { json!({ "id": channel.id }) },
    });
    if already_open {
        answer["no_op"] = json!(true);
        answer["already_open"] = json!(true);
    }
    answer
}

/// From docs.slack.dev/reference/methods/conversations.members (example
/// response). The last page has an empty `next_cursor`.
pub fn members(members: &[String], next_cursor: &str) -> Value {
    json!({
        "ok": true,
        "members": members,
        "response_metadata": { "next_cursor": next_cursor },
    })
}

/// From docs.slack.dev/reference/methods/conversations.kick (example
/// response): `errors` is an empty object, not a list.
pub fn kick() -> Value {
    json!({ "ok": true, "errors": {} })
}

/// From docs.slack.dev/reference/methods/files.getUploadURLExternal
/// (example response).
pub fn upload_url(upload_url: &str, file_id: &str) -> Value {
    json!({ "ok": true, "upload_url": upload_url, "file_id": file_id })
}

/// From docs.slack.dev/reference/methods/files.completeUploadExternal
/// (example response): each file's `id` and `title`.
pub fn complete_upload(files: &[(String, String)]) -> Value {
    json!({
        "ok": true,
        "files": files
            .iter()
            .map(|(id, title)| json!({ "id": id, "title": title }))
            .collect::<Vec<_>>(),
    })
}

/// From docs.slack.dev/reference/methods/apps.connections.open (example
/// response `wss://…/link/?ticket=…&app_id=…`), here on plain `ws://`.
pub fn connections_open(url: &str) -> Value {
    json!({ "ok": true, "url": url })
}

/// From docs.slack.dev/reference/methods/views.open (example response's
/// `view`): the view as sent (`content`, already checked and filled in),
/// with `id`, `team_id`, `state`, `hash`, `root_view_id`, `app_id` and
/// `bot_id`. `previous_view_id` (null for a modal's first view) and
/// `app_installed_team_id` are not in that example; they are in the views
/// recorded from Slack in slackapi/bolt-python
/// (tests/slack_bolt/request/test_request.py).
pub fn view_object(id: &str, root_view_id: &str, hash: &str, content: Map<String, Value>) -> Value {
    let mut view = content;
    for (key, value) in [
        ("id", json!(id)),
        ("team_id", json!(TEAM_ID)),
        ("state", json!({ "values": {} })),
        ("hash", json!(hash)),
        ("previous_view_id", Value::Null),
        ("root_view_id", json!(root_view_id)),
        ("app_id", json!(APP_ID)),
        (
            "external_id",
            view.get("external_id").cloned().unwrap_or(json!("")),
        ),
        ("app_installed_team_id", json!(TEAM_ID)),
        ("bot_id", json!(BOT_ID)),
    ] {
        view.insert(key.to_string(), value);
    }
    Value::Object(view)
}

/// From docs.slack.dev/reference/methods/views.open (example response).
pub fn views_open(view: &Value) -> Value {
    json!({ "ok": true, "view": view })
}

/// `invalid_arguments` with Slack's reasons, as views.open answers a view it
/// refuses (docs.slack.dev/reference/methods/views.open, "Typical error
/// response": `response_metadata.messages`; the messages' form,
/// `[ERROR] … [json-pointer:/view/…]`, as Slack sends them, e.g.
/// `[ERROR] must be less than 25 characters [json-pointer:/view/title/text]`).
pub fn invalid_arguments(messages: &[String]) -> Value {
    json!({
        "ok": false,
        "error": "invalid_arguments",
        "response_metadata": { "messages": messages },
    })
}

/// An error answer as every method page shows it (`{"ok": false, "error": …}`).
pub fn error(code: &str) -> Value {
    json!({ "ok": false, "error": code })
}

/// From docs.slack.dev/authentication/tokens and the `missing_scope` rows of
/// every method page: Slack adds `needed` and `provided` to this error.
pub fn missing_scope(needed: &str, provided: &[String]) -> Value {
    json!({
        "ok": false,
        "error": "missing_scope",
        "needed": needed,
        "provided": provided.join(","),
    })
}

/// From docs.slack.dev/reference/methods/conversations.invite ("Partially
/// failed calls"): the error of the first failing user, and `errors` with
/// one entry per failing user.
pub fn invite_errors(failures: &[(String, String)]) -> Value {
    json!({
        "ok": false,
        "error": failures.first().map(|(_, e)| e.clone()).unwrap_or_default(),
        "errors": failures
            .iter()
            .map(|(user, error)| json!({ "user": user, "ok": false, "error": error }))
            .collect::<Vec<_>>(),
    })
}

/// `channel_type` of a message event: `im`, `group` (private channel) or
/// `channel` (public), as in docs.slack.dev/reference/events/message.im and
/// api.slack.com/events/message.groups.
pub fn channel_type_for_message(channel: &Channel) -> &'static str {
    match channel.kind {
        ChannelKind::Im => "im",
        ChannelKind::Private => "group",
        ChannelKind::Public => "channel",
    }
}

/// The `channel_name` Slack puts in slash command and interaction payloads:
/// the channel's name, `directmessage` for a DM, `privategroup` for a
/// private channel the app cannot see the name of.
pub fn channel_name_for_payload(channel: &Channel) -> String {
    match channel.kind {
        ChannelKind::Im => "directmessage".to_string(),
        _ => channel.name.clone().unwrap_or_else(|| "privategroup".to_string()),
    }
}
