//! Matrix events as the core's [`Inbound`]s, and the gaps a sync leaves.
//!
//! A sync gives at most a timeline's limit of events per room; after an
//! outage or a burst it says `limited`, and what came before is fetched
//! here with `/messages`, back to the first event already kept, and handed
//! to the core oldest first. The core's inbox drops any event it has seen.

use std::sync::Arc;

use matrix_sdk::room::{MessagesOptions, Room};
use matrix_sdk::ruma::events::reaction::OriginalSyncReactionEvent;
use matrix_sdk::ruma::events::room::encrypted::OriginalSyncRoomEncryptedEvent;
use matrix_sdk::ruma::events::room::member::{MembershipState, OriginalSyncRoomMemberEvent};
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, Relation, RoomMessageEventContent,
};
use matrix_sdk::ruma::events::{AnySyncMessageLikeEvent, AnySyncTimelineEvent, SyncMessageLikeEvent};
use matrix_sdk::ruma::UserId;
use tracing::{info, warn};

use crate::bot::{Core, Inbound, InboundKind};

/// How many pages of `/messages` a gap is filled from, at most.
const GAP_PAGES: usize = 10;

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
fn any(ev: AnySyncTimelineEvent, room: &str, bot: &UserId) -> Option<Inbound> {
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
        _ => None,
    }
}

/// Fills a gap a sync left in `room`, back from `prev_batch` to the first
/// event the core already has, and hands what it missed to the core, oldest
/// first.
pub async fn fill_gap(
    core: Arc<Core>,
    room: Room,
    prev_batch: Option<String>,
    bot: matrix_sdk::ruma::OwnedUserId,
) {
    let room_id = room.room_id().to_string();
    let mut from = prev_batch;
    let mut missed = Vec::new();
    'pages: for _ in 0..GAP_PAGES {
        let mut options = MessagesOptions::backward();
        options.from = from.clone();
        let page = match room.messages(options).await {
            Ok(p) => p,
            Err(e) => {
                warn!(room = %room_id, error = %e, "could not fetch the messages a sync left out; some may be missed");
                break;
            }
        };
        for event in &page.chunk {
            let Ok(ev) = event.raw().deserialize() else {
                continue;
            };
            if core.store.inbox_known(ev.event_id().as_str()).unwrap_or(false) {
                break 'pages;
            }
            if let Some(inbound) = any(ev, &room_id, &bot) {
                missed.push(inbound);
            }
        }
        match page.end {
            Some(end) if !page.chunk.is_empty() => from = Some(end),
            _ => break,
        }
    }
    if !missed.is_empty() {
        info!(room = %room_id, count = missed.len(), "handling messages a sync left out");
    }
    for inbound in missed.into_iter().rev() {
        core.accept_backlog(inbound);
    }
}
