//! [`Chat`] for Matrix, on matrix-sdk.
//!
//! - Sends carry a transaction id made from the outbox's key, so a send
//!   tried again (after a crash, or a lost answer) is one message.
//! - A room is made with a private alias from its request's key: a request
//!   tried again finds the room made the first time (`M_ROOM_IN_USE`).
//! - Rooms are end-to-end encrypted, and only the bot may invite.
//! - SDK errors become [`ChatError`]s by their Matrix error code.

use matrix_sdk::attachment::AttachmentConfig;
use matrix_sdk::room::{MessagesOptions, Room};
use matrix_sdk::ruma::api::client::room::create_room::v3::{Request as CreateRoomRequest, RoomPreset};
use matrix_sdk::ruma::api::error::{ErrorKind, RetryAfter};
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::events::room::message::{RoomMessageEventContent, TextMessageEventContent};
use matrix_sdk::ruma::events::{InitialStateEvent, Mentions};
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{
    EventId, OwnedRoomAliasId, OwnedRoomId, OwnedTransactionId, OwnedUserId, RoomAliasId, RoomId, UserId,
};
use matrix_sdk::{Client, RoomMemberships, RoomState};
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use crate::bot::{Chat, ChatError, File, Kind, Member, Message, RoomSpec};

/// The largest message, text and HTML together, sent as one event. Matrix
/// takes 64 KiB for a whole event; JSON escaping can double text, and
/// encryption adds a third again as base64, so this leaves room for both.
const MAX_MESSAGE_BYTES: usize = 16_000;

pub struct MatrixChat {
    client: Client,
}

impl MatrixChat {
    pub fn new(client: Client) -> Self {
        MatrixChat { client }
    }

    fn room(&self, id: &str) -> Result<Room, ChatError> {
        let room_id =
            <&RoomId>::try_from(id).map_err(|_| ChatError::NotFound(format!("{id} is not a room id")))?;
        self.client
            .get_room(room_id)
            .ok_or_else(|| ChatError::NotFound(format!("the bot does not know room {id}")))
    }

    fn server_name(&self) -> Result<String, ChatError> {
        self.client
            .user_id()
            .map(|u| u.server_name().to_string())
            .ok_or_else(|| ChatError::Transient("not logged in".into()))
    }
}

/// A transaction id from an outbox key: the same key, the same id, short
/// and safe in a URL whatever the key holds.
impl MatrixChat {
    /// A room made before a crash may be half made (the alias comes before
    /// the encryption and the invitations): wait until it is encrypted, and
    /// invite whoever it was for who is not there.
    async fn finish_room(&self, id: &RoomId, spec: &RoomSpec) -> Result<(), ChatError> {
        for _ in 0..40 {
            if let Some(room) = self.client.get_room(id) {
                if room
                    .latest_encryption_state()
                    .await
                    .map_err(sdk_error)?
                    .is_encrypted()
                {
                    room.mark_members_missing();
                    for user in &spec.invite {
                        let Ok(user_id) = <&UserId>::try_from(user.as_str()) else {
                            continue;
                        };
                        let present = is_in(&room, user_id).await;
                        if !present {
                            room.invite_user_by_id(user_id).await.map_err(sdk_error)?;
                            room.mark_members_missing();
                        }
                    }
                    return Ok(());
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        Err(ChatError::Transient(
            "a room made before a restart is not ready yet".into(),
        ))
    }
}

/// Whether someone is in a room or invited to it, as the server says now
/// (the local list is fetched again first).
async fn is_in(room: &Room, user: &UserId) -> bool {
    room.sync_members().await.is_ok()
        && matches!(
            room.get_member_no_sync(user).await,
            Ok(Some(m)) if matches!(m.membership(), MembershipState::Join | MembershipState::Invite)
        )
}

fn txn(key: &str) -> OwnedTransactionId {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    OwnedTransactionId::from(format!("sgb{hex}"))
}

/// An SDK error as the core sees it, by its Matrix error code.
fn classify(kind: Option<&ErrorKind>, text: String) -> ChatError {
    match kind {
        Some(ErrorKind::Forbidden) | Some(ErrorKind::GuestAccessForbidden) => ChatError::Refused(text),
        Some(ErrorKind::NotFound) => ChatError::NotFound(text),
        Some(ErrorKind::TooLarge) => ChatError::TooLarge,
        Some(ErrorKind::LimitExceeded(data)) => {
            ChatError::RateLimited(data.retry_after.as_ref().map(|r| match r {
                RetryAfter::Delay(d) => *d,
                RetryAfter::DateTime(t) => t.duration_since(std::time::SystemTime::now()).unwrap_or_default(),
            }))
        }
        // Anything else the server said, or no answer at all: try again.
        _ => ChatError::Transient(text),
    }
}

fn sdk_error(e: matrix_sdk::Error) -> ChatError {
    classify(e.client_api_error_kind(), e.to_string())
}

fn http_error(e: matrix_sdk::HttpError) -> ChatError {
    classify(e.client_api_error_kind(), e.to_string())
}

fn content(message: &Message) -> RoomMessageEventContent {
    let (plain, html) = (message.plain.clone(), message.html.clone());
    match &message.kind {
        Kind::Ping(users) => {
            let ids: Vec<OwnedUserId> = users
                .iter()
                .filter_map(|u| OwnedUserId::try_from(u.as_str()).ok())
                .collect();
            match html {
                Some(h) => RoomMessageEventContent::text_html(plain, h),
                None => RoomMessageEventContent::text_plain(plain),
            }
            .add_mentions(Mentions::with_user_ids(ids))
        }
        Kind::Notice => match html {
            Some(h) => RoomMessageEventContent::notice_html(plain, h),
            None => RoomMessageEventContent::notice_plain(plain),
        }
        .add_mentions(Mentions::new()),
        Kind::Plain => match html {
            Some(h) => RoomMessageEventContent::text_html(plain, h),
            None => RoomMessageEventContent::text_plain(plain),
        }
        .add_mentions(Mentions::new()),
    }
}

#[async_trait::async_trait]
impl Chat for MatrixChat {
    fn bot_id(&self) -> String {
        self.client.user_id().map(|u| u.to_string()).unwrap_or_default()
    }

    fn max_message_bytes(&self) -> usize {
        MAX_MESSAGE_BYTES
    }

    fn ready_at_start(&self) -> bool {
        // Who is in each room is known after the first sync.
        false
    }

    async fn send(&self, room: &str, message: &Message, key: &str) -> Result<String, ChatError> {
        let room = self.room(room)?;
        let sent = room
            .send(content(message))
            .with_transaction_id(txn(key))
            .await
            .map_err(sdk_error)?;
        debug!(room = %room.room_id(), event = %sent.response.event_id, "sent");
        Ok(sent.response.event_id.to_string())
    }

    async fn upload(&self, room: &str, file: &File, key: &str) -> Result<String, ChatError> {
        let room = self.room(room)?;
        let mime: mime::Mime = file
            .mime
            .parse()
            .map_err(|_| ChatError::Refused(format!("{} is not a file type", file.mime)))?;
        let config = AttachmentConfig::new()
            .txn_id(txn(key))
            .caption(Some(TextMessageEventContent::plain(file.caption.clone())));
        let sent = room
            .send_attachment(file.name.clone(), &mime, file.data.clone(), config)
            .await
            .map_err(sdk_error)?;
        Ok(sent.event_id.to_string())
    }

    async fn create_room(&self, spec: &RoomSpec) -> Result<String, ChatError> {
        let alias_name = format!("sgb-{}", spec.key);
        let mut request = CreateRoomRequest::new();
        request.name = Some(spec.name.clone());
        request.room_alias_name = Some(alias_name.clone());
        request.invite = spec
            .invite
            .iter()
            .filter_map(|u| OwnedUserId::try_from(u.as_str()).ok())
            .collect();
        request.preset = Some(RoomPreset::PrivateChat);
        request.is_direct = spec.direct;
        request.initial_state = vec![InitialStateEvent::with_empty_state_key(
            RoomEncryptionEventContent::with_recommended_defaults(),
        )
        .to_raw_any()];
        if spec.direct {
            // A reporter's private chat: only the bot, its creator, may
            // invite or change who is in it.
            let levels = serde_json::json!({ "invite": 100, "kick": 100, "ban": 100 });
            request.power_level_content_override = Raw::new(&levels).ok().map(Raw::cast_unchecked);
        }
        match self.client.create_room(request).await {
            Ok(room) => Ok(room.room_id().to_string()),
            Err(e) if matches!(e.client_api_error_kind(), Some(ErrorKind::RoomInUse)) => {
                // Made the first time this was tried: find it by its alias.
                let alias: OwnedRoomAliasId = format!("#{alias_name}:{}", self.server_name()?)
                    .try_into()
                    .map_err(|_| ChatError::Refused("a bad room alias".into()))?;
                let found = self.client.resolve_room_alias(&alias).await.map_err(http_error)?;
                info!(room = %found.room_id, "a room asked for again was made before; using it");
                if self
                    .client
                    .get_room(&found.room_id)
                    .is_none_or(|r| r.state() != RoomState::Joined)
                {
                    let _ = self.client.join_room_by_id(&found.room_id).await;
                }
                self.finish_room(&found.room_id, spec).await?;
                Ok(found.room_id.to_string())
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn invite(&self, room: &str, user: &str) -> Result<(), ChatError> {
        let room = self.room(room)?;
        let user =
            <&UserId>::try_from(user).map_err(|_| ChatError::Refused(format!("{user} is not a user id")))?;
        let result = room.invite_user_by_id(user).await.map_err(sdk_error);
        // Whoever is invited must get the room's keys: fetch who is in it
        // again before the next encrypted message.
        room.mark_members_missing();
        if let Err(ChatError::Refused(why)) = &result {
            // Refused because they are in the room already (the local list
            // was out of date, after a restart): that is as good as done.
            if is_in(&room, user).await {
                info!(room = %room.room_id(), "an invitation refused as already there: they are");
                return Ok(());
            }
            debug!(room = %room.room_id(), reason = %why, "invitation refused");
        }
        result
    }

    async fn remove(&self, room: &str, user: &str, reason: &str) -> Result<(), ChatError> {
        let room = self.room(room)?;
        let user =
            <&UserId>::try_from(user).map_err(|_| ChatError::Refused(format!("{user} is not a user id")))?;
        room.kick_user(user, Some(reason)).await.map_err(sdk_error)
    }

    async fn members(&self, room: &str) -> Result<Vec<Member>, ChatError> {
        let room = self.room(room)?;
        let members = room
            .members(RoomMemberships::JOIN | RoomMemberships::INVITE)
            .await
            .map_err(sdk_error)?;
        Ok(members
            .iter()
            .map(|m| Member {
                user: m.user_id().to_string(),
                joined: *m.membership() == MembershipState::Join,
            })
            .collect())
    }

    async fn is_confidential(&self, room: &str) -> Result<bool, ChatError> {
        let room = self.room(room)?;
        Ok(room
            .latest_encryption_state()
            .await
            .map_err(sdk_error)?
            .is_encrypted())
    }

    async fn is_joined(&self, room: &str) -> Result<bool, ChatError> {
        Ok(self.room(room)?.state() == RoomState::Joined)
    }

    async fn display_name(&self, room: &str, user: &str) -> String {
        let Ok(user_id) = <&UserId>::try_from(user) else {
            return user.to_string();
        };
        if let Ok(room) = self.room(room) {
            if let Ok(Some(m)) = room.get_member_no_sync(user_id).await {
                if let Some(name) = m.display_name() {
                    return name.to_string();
                }
            }
        }
        // Not (yet) in that room, as a lead paged for the first time: their
        // profile names them.
        match self.client.account().fetch_user_profile_of(user_id).await {
            Ok(profile) => profile
                .get("displayname")
                .and_then(|v| v.as_str())
                .filter(|n| !n.trim().is_empty())
                .map_or_else(|| user_id.localpart().to_string(), str::to_string),
            // The core shows its own stand-in for a name it was not given.
            Err(_) => user.to_string(),
        }
    }

    async fn redact(&self, room: &str, message: &str, reason: &str) -> Result<(), ChatError> {
        let room = self.room(room)?;
        let event = <&EventId>::try_from(message)
            .map_err(|_| ChatError::NotFound(format!("{message} is not a message id")))?;
        room.redact(event, Some(reason), None)
            .await
            .map(drop)
            .map_err(http_error)
    }

    async fn clear_and_leave(&self, room: &str, notice: &str) -> Result<usize, ChatError> {
        let room = self.room(room)?;
        let mut from: Option<String> = None;
        let mut redacted = 0usize;
        loop {
            let mut options = MessagesOptions::backward();
            options.from = from.clone();
            let page = room.messages(options).await.map_err(sdk_error)?;
            for event in &page.chunk {
                let raw = event.raw();
                let is_state = raw
                    .get_field::<serde_json::Value>("state_key")
                    .ok()
                    .flatten()
                    .is_some();
                let kind = raw.get_field::<String>("type").ok().flatten().unwrap_or_default();
                let already = raw
                    .get_field::<serde_json::Value>("unsigned")
                    .ok()
                    .flatten()
                    .is_some_and(|u| u.get("redacted_because").is_some());
                if is_state || already || kind == "m.room.redaction" {
                    continue;
                }
                if let Some(event_id) = event.event_id() {
                    room.redact(&event_id, Some("retention period passed"), None)
                        .await
                        .map_err(http_error)?;
                    redacted += 1;
                }
            }
            match page.end {
                Some(end) if !page.chunk.is_empty() && Some(&end) != from.as_ref() => from = Some(end),
                _ => break,
            }
        }
        let message = Message::notice(crate::bot::compose::Text::plain(notice));
        room.send(content(&message))
            .with_transaction_id(txn(&format!("retired-{}", room.room_id())))
            .await
            .map_err(sdk_error)?;
        room.leave().await.map_err(sdk_error)?;
        Ok(redacted)
    }

    async fn resolve_room(&self, name: &str) -> Result<String, ChatError> {
        let room: OwnedRoomId = if name.starts_with('#') {
            let alias = <&RoomAliasId>::try_from(name)
                .map_err(|e| ChatError::Refused(format!("{name} is not a room alias: {e}")))?;
            self.client
                .resolve_room_alias(alias)
                .await
                .map_err(http_error)?
                .room_id
        } else {
            OwnedRoomId::try_from(name)
                .map_err(|e| ChatError::Refused(format!("{name} is not a room id: {e}")))?
        };
        // Follow upgrades: a tombstoned room points to the room that
        // replaced it (a few hops at most).
        let mut room = room;
        for _ in 0..5 {
            self.join_if_needed(&room).await?;
            let Some(next) = self
                .client
                .get_room(&room)
                .and_then(|r| r.successor_room())
                .map(|s| s.room_id)
                .filter(|next| *next != room)
            else {
                break;
            };
            info!(old = %room, new = %next, "a room from the config was upgraded; following it");
            room = next;
        }
        Ok(room.to_string())
    }
}

impl MatrixChat {
    /// Joins a room from the config unless the bot is in it.
    async fn join_if_needed(&self, room: &RoomId) -> Result<(), ChatError> {
        if self
            .client
            .get_room(room)
            .is_some_and(|r| r.state() == RoomState::Joined)
        {
            return Ok(());
        }
        match self.client.join_room_by_id(room).await {
            Ok(_) => Ok(()),
            Err(e) => {
                warn!(room = %room, error = %e, "not in a room from the config yet; invite the bot to it");
                Err(ChatError::Transient(format!(
                    "the bot is not in {room} and could not join it; invite the bot to it"
                )))
            }
        }
    }
}
