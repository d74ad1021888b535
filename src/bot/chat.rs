//! The one thing the core asks of a chat: the [`Chat`] trait.
//!
//! A transport (Matrix, Slack, the in-memory chat of the tests) implements
//! it; the core never sees an SDK type or error. Rooms and people are the
//! chat's own ids, as strings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::compose::Text;

/// How a message reaches people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// An ordinary message.
    Plain,
    /// A notice: shown, but it does not make phones ring or preview.
    Notice,
    /// A message that mentions these people on purpose, so their phones
    /// ring: pages and reminders only.
    Ping(Vec<String>),
}

/// A message to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub kind: Kind,
    pub plain: String,
    pub html: Option<String>,
    /// The choices the text asks for, which a chat may also show as buttons
    /// (the text spells them out whatever the chat does with these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buttons: Option<crate::conversation::Buttons>,
    /// The people the text names (by [`super::compose::Person::name`]), so
    /// a chat that mentions people inline can mention those it pings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub people: Vec<super::compose::Person>,
}

impl Message {
    pub fn new(kind: Kind, text: Text) -> Self {
        Message {
            kind,
            plain: text.plain,
            html: text.html,
            buttons: None,
            people: Vec::new(),
        }
    }

    /// The same message, saying whom its text names.
    pub fn naming(mut self, people: Vec<super::compose::Person>) -> Self {
        self.people = people;
        self
    }

    pub fn plain(text: Text) -> Self {
        Message::new(Kind::Plain, text)
    }

    pub fn notice(text: Text) -> Self {
        Message::new(Kind::Notice, text)
    }

    /// Its size as the chat counts it against [`Chat::max_message_bytes`]:
    /// the text and the HTML, both as sent.
    pub fn size(&self) -> usize {
        self.plain.len() + self.html.as_ref().map_or(0, String::len)
    }
}

/// A file to upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    pub name: String,
    pub mime: String,
    pub data: Vec<u8>,
    pub caption: String,
}

/// A room for the bot to make.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSpec {
    /// Unique to this room and kept with the request, so a creation tried
    /// again after a crash finds the room made the first time instead of
    /// making a second one.
    pub key: String,
    pub name: String,
    pub invite: Vec<String>,
    /// A private chat with the one person invited.
    pub direct: bool,
}

/// Someone in a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub user: String,
    /// Joined; otherwise invited.
    pub joined: bool,
}

/// Why the chat did not do something. The core decides what to do by the
/// kind alone.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// Refused for good (not allowed, not possible): trying again will not help.
    #[error("the chat refused: {0}")]
    Refused(String),
    /// The room, person or message does not exist, or the bot cannot see it.
    #[error("not found: {0}")]
    NotFound(String),
    /// Larger than the chat takes in one message.
    #[error("too large for one message")]
    TooLarge,
    /// Too many requests: try again after this long (or a while, if unsaid).
    #[error("rate limited")]
    RateLimited(Option<Duration>),
    /// Could not reach the chat, or it failed: try again.
    #[error("could not reach the chat: {0}")]
    Transient(String),
}

impl ChatError {
    /// Whether trying again later may work.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ChatError::RateLimited(_) | ChatError::Transient(_))
    }
}

/// A chat transport, as the core drives it.
///
/// Every method that sends takes a `key` made from its cause: the same key
/// twice must not show two messages (Matrix: the transaction id).
#[async_trait::async_trait]
pub trait Chat: Send + Sync + 'static {
    /// The bot's own id in this chat.
    fn bot_id(&self) -> String;

    /// The largest [`Message::size`] the chat takes in one message.
    fn max_message_bytes(&self) -> usize;

    /// Whether the chat knows its rooms as soon as it starts. A chat that
    /// must sync first (Matrix: who is in a room, to encrypt for them) says
    /// no, and calls [`crate::bot::Core::chat_synced`] once it has; nothing
    /// is sent before.
    fn ready_at_start(&self) -> bool {
        true
    }

    /// Whether the bot can remove what someone else sent (Matrix: redact,
    /// with power in its own rooms). Slack lets a bot delete only its own
    /// messages, so there the person is asked to delete it themselves.
    fn can_remove_others_messages(&self) -> bool {
        true
    }

    /// Forgets what the chat kept of what it sent before `before`, to
    /// recognise a send tried again (Slack: each message's `ts`), once
    /// nothing will try those again. Returns how many it forgot.
    async fn forget_sent_before(&self, before: chrono::DateTime<chrono::Utc>) -> usize {
        let _ = before;
        0
    }

    /// Sends a message; returns its id.
    async fn send(&self, room: &str, message: &Message, key: &str) -> Result<String, ChatError>;

    /// Uploads a file to a room; returns the message's id.
    async fn upload(&self, room: &str, file: &File, key: &str) -> Result<String, ChatError>;

    /// Makes a private, confidential room (end-to-end encrypted on Matrix)
    /// in which the bot may set who can invite; at most one per
    /// [`RoomSpec::key`]. Returns its id.
    async fn create_room(&self, spec: &RoomSpec) -> Result<String, ChatError>;

    /// Invites someone to a room.
    async fn invite(&self, room: &str, user: &str) -> Result<(), ChatError>;

    /// Who is in a room or invited to it, the bot included.
    async fn members(&self, room: &str) -> Result<Vec<Member>, ChatError>;

    /// Whether `user` is in `room` (a staff room) as staff: joined, and, on
    /// Slack, a full member of the workspace (a guest may be in the
    /// channel). The chat may keep who is in the room between calls.
    async fn is_staff_member(&self, room: &str, user: &str) -> Result<bool, ChatError> {
        Ok(self
            .members(room)
            .await?
            .iter()
            .any(|m| m.user == user && m.joined))
    }

    /// Whether only the room's members can read it (end-to-end encrypted on Matrix).
    async fn is_confidential(&self, room: &str) -> Result<bool, ChatError>;

    /// Whether the bot is in the room now.
    async fn is_joined(&self, room: &str) -> Result<bool, ChatError>;

    /// A person's name as the room shows it, or their id.
    async fn display_name(&self, room: &str, user: &str) -> String;

    /// Removes someone from a room (or takes back their invitation), with
    /// the reason shown to them.
    async fn remove(&self, room: &str, user: &str, reason: &str) -> Result<(), ChatError> {
        let _ = (room, user, reason);
        Err(ChatError::Refused(
            "this chat cannot remove people from rooms".into(),
        ))
    }

    /// Removes (redacts) a message.
    async fn redact(&self, room: &str, message: &str, reason: &str) -> Result<(), ChatError>;

    /// Removes every message in a room, says `notice` there, and leaves it.
    /// Returns how many messages were removed.
    async fn clear_and_leave(&self, room: &str, notice: &str) -> Result<usize, ChatError>;

    /// A room named in the config (an id or an alias) as its id, joined if
    /// the bot was invited.
    async fn resolve_room(&self, name: &str) -> Result<String, ChatError>;
}
