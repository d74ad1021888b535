//! Matrix events as the core's [`Inbound`]s: from the sync's event
//! handlers, and from the history fetched to fill a gap ([`super::gaps`]).

use matrix_sdk::ruma::events::reaction::OriginalSyncReactionEvent;
use matrix_sdk::ruma::events::room::encrypted::OriginalSyncRoomEncryptedEvent;
use matrix_sdk::ruma::events::room::member::{MembershipState, OriginalSyncRoomMemberEvent};
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, Relation, RoomMessageEventContent,
};
use matrix_sdk::ruma::events::{
    AnySyncMessageLikeEvent, AnySyncStateEvent, AnySyncTimelineEvent, SyncMessageLikeEvent, SyncStateEvent,
};
use matrix_sdk::ruma::UserId;

use crate::bot::{Inbound, InboundKind};

/// A room message as the core sees it; `None` for the bot's own and for
/// notices (bots talking).
pub fn message(ev: &OriginalSyncRoomMessageEvent, room: &str, bot: &UserId) -> Option<Inbound> {
    if ev.sender == bot {
        return None;
    }
    let edit = matches!(ev.content.relates_to, Some(Relation::Replacement(_)));
    let kind = match &ev.content.msgtype {
        MessageType::Text(t) if edit => InboundKind::Edit { body: t.body.clone() },
        MessageType::Text(t) => InboundKind::Text {
            body: t.body.clone(),
            mentions_bot: mentions(&ev.content, bot),
        },
        MessageType::Notice(_) => return None,
        MessageType::Emote(t) => InboundKind::Text {
            body: t.body.clone(),
            mentions_bot: false,
        },
        _ => InboundKind::Attachment,
    };
    Some(Inbound {
        event_id: ev.event_id.to_string(),
        room_id: room.to_string(),
        sender: ev.sender.to_string(),
        kind,
        written_at: None,
    })
}

/// A reaction as the core sees it; `None` for the bot's own.
pub fn reaction(ev: &OriginalSyncReactionEvent, room: &str, bot: &UserId) -> Option<Inbound> {
    if ev.sender == bot {
        return None;
    }
    Some(Inbound {
        event_id: ev.event_id.to_string(),
        room_id: room.to_string(),
        sender: ev.sender.to_string(),
        kind: InboundKind::Reaction {
            key: ev.content.relates_to.key.clone(),
        },
        written_at: None,
    })
}

/// A message the bot could not decrypt (it reaches handlers still
/// encrypted); `None` for the bot's own. The SDK asks the sender's devices
/// for the key by itself (its `automatic-room-key-forwarding` feature, on
/// by default), and tries the key backup.
pub fn undecryptable(ev: &OriginalSyncRoomEncryptedEvent, room: &str, bot: &UserId) -> Option<Inbound> {
    if ev.sender == bot {
        return None;
    }
    Some(Inbound {
        event_id: ev.event_id.to_string(),
        room_id: room.to_string(),
        sender: ev.sender.to_string(),
        kind: InboundKind::Undecryptable,
        written_at: None,
    })
}

/// Someone joined a room or was invited to it (not the bot): the core
/// checks that only leads and deputies are in a concern's room.
pub fn member(ev: &OriginalSyncRoomMemberEvent, room: &str, bot: &UserId) -> Option<Inbound> {
    if ev.state_key == bot.as_str()
        || !matches!(
            ev.content.membership,
            MembershipState::Join | MembershipState::Invite
        )
    {
        return None;
    }
    Some(Inbound {
        event_id: ev.event_id.to_string(),
        room_id: room.to_string(),
        sender: ev.state_key.to_string(),
        kind: InboundKind::Joined,
        written_at: None,
    })
}

fn mentions(content: &RoomMessageEventContent, bot: &UserId) -> bool {
    let intentional = content
        .mentions
        .as_ref()
        .is_some_and(|m| m.user_ids.contains(bot));
    // Not the bare word "safeguarding": "the safeguarding report is due" is
    // not a request to report. An intentional mention or the bot's id is.
    intentional || content.body().contains(bot.as_str())
}

/// Any timeline event the core handles, as an [`Inbound`].
pub fn any(ev: AnySyncTimelineEvent, room: &str, bot: &UserId) -> Option<Inbound> {
    match ev {
        AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(
            SyncMessageLikeEvent::Original(m),
        )) => message(&m, room, bot),
        AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::Reaction(
            SyncMessageLikeEvent::Original(r),
        )) => reaction(&r, room, bot),
        AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomEncrypted(
            SyncMessageLikeEvent::Original(e),
        )) => undecryptable(&e, room, bot),
        // Someone let into a concern's room while the bot was not looking.
        AnySyncTimelineEvent::State(AnySyncStateEvent::RoomMember(SyncStateEvent::Original(m))) => {
            member(&m, room, bot)
        }
        _ => None,
    }
}
