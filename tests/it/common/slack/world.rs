//! The stand-in's workspace: people, channels, direct messages, messages,
//! reactions and files. Ids have Slack's shapes (`U…`, `C…`, `D…`, `F…`,
//! `T…`) and message timestamps (`ts`) are Slack's `seconds.micros` strings,
//! unique and increasing.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The workspace.
pub const TEAM_ID: &str = "T0STANDIN1";
pub const TEAM_DOMAIN: &str = "standin-charity";
pub const TEAM_NAME: &str = "Stand-in Charity";
/// Another organisation, met through Slack Connect.
pub const OTHER_TEAM_ID: &str = "T0OTHERORG";
/// The app and its bot user.
pub const APP_ID: &str = "A0STANDIN1";
pub const BOT_ID: &str = "B0STANDIN1";
pub const BOT_USER_ID: &str = "U0STANDBOT";

/// The people every stand-in starts with (ids as in issue 12's config).
pub const LEAD: &str = "U0LEAD0001";
pub const DEPUTY: &str = "U0DEPUTY01";
pub const STAFF: &str = "U0STAFF001";
pub const STAFF_2: &str = "U0STAFF002";
/// A multi-channel guest (`is_restricted`), in the staff channel.
pub const GUEST: &str = "U0GUEST001";
/// A single-channel guest (`is_ultra_restricted`).
pub const SINGLE_CHANNEL_GUEST: &str = "U0GUEST002";
/// Someone from another organisation (`is_stranger`, other `team_id`), in
/// the shared channel.
pub const STRANGER: &str = "U0STRANGE1";
/// A deactivated account (`deleted: true`).
pub const DELETED: &str = "U0GONE0001";
/// Another app's bot user.
pub const OTHER_BOT: &str = "U0OTHERBOT";

/// The channels every stand-in starts with.
pub const STAFF_CHANNEL: &str = "C0123456789";
pub const LEADS_CHANNEL: &str = "C0LEADS001";
/// A Slack Connect channel shared with another organisation.
pub const SHARED_CHANNEL: &str = "C0SHARED01";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserKind {
    /// A full member of the workspace.
    Member,
    /// `is_restricted`: a multi-channel guest.
    Guest,
    /// `is_restricted` and `is_ultra_restricted`: a single-channel guest.
    SingleChannelGuest,
    /// From another organisation: another `team_id`, `is_stranger`.
    Stranger,
    /// `deleted: true`.
    Deleted,
    /// `is_bot: true`.
    Bot,
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub name: String,
    pub real_name: String,
    pub kind: UserKind,
    pub team_id: String,
}

impl User {
    pub fn new(id: &str, name: &str, real_name: &str, kind: UserKind) -> User {
        let team_id = if kind == UserKind::Stranger {
            OTHER_TEAM_ID
        } else {
            TEAM_ID
        };
        User {
            id: id.to_string(),
            name: name.to_string(),
            real_name: real_name.to_string(),
            kind,
            team_id: team_id.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    Public,
    Private,
    /// A direct message between the bot and one person.
    Im,
}

#[derive(Clone, Debug)]
pub struct Channel {
    pub id: String,
    /// None for a direct message.
    pub name: Option<String>,
    pub kind: ChannelKind,
    /// In the order they joined.
    pub members: Vec<String>,
    pub archived: bool,
    /// Shared with another organisation (Slack Connect).
    pub ext_shared: bool,
    pub created: u64,
    pub creator: String,
    /// For a direct message: the person at the other end.
    pub im_user: Option<String>,
}

impl Channel {
    pub fn has_member(&self, user: &str) -> bool {
        self.members.iter().any(|m| m == user)
    }
}

#[derive(Clone, Debug)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    /// Who wrote it (the bot user for the bot's own messages).
    pub user: String,
    pub from_bot: bool,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    pub thread_ts: Option<String>,
    pub files: Vec<String>,
    /// (reaction name, user).
    pub reactions: Vec<(String, String)>,
    pub edited: bool,
}

#[derive(Clone, Debug)]
pub struct File {
    pub id: String,
    pub filename: String,
    pub title: Option<String>,
    pub declared_length: usize,
    /// What was POSTed to the upload URL, if anything.
    pub bytes: Option<Vec<u8>>,
    pub upload_key: String,
    /// Set by files.completeUploadExternal.
    pub channel: Option<String>,
    pub completed: bool,
    pub initial_comment: Option<String>,
}

/// The workspace's state.
#[derive(Clone, Debug)]
pub struct World {
    pub users: Vec<User>,
    pub channels: Vec<Channel>,
    pub messages: Vec<Message>,
    /// Messages removed with chat.delete, in order.
    pub deleted_messages: Vec<Message>,
    /// Files removed with files.delete, in order.
    pub deleted_files: Vec<File>,
    pub files: Vec<File>,
    next_id: u64,
    last_ts: (u64, u32),
}

impl World {
    /// The workspace every test starts from: the bot, a lead, a deputy, two
    /// staff, each kind of person the bot must refuse, the staff channel, the
    /// leads' private channel and a channel shared with another organisation.
    pub fn new() -> World {
        let users = vec![
            User::new(BOT_USER_ID, "safeguarding", "Safeguarding", UserKind::Bot),
            User::new(LEAD, "lee.lead", "Lee Lead", UserKind::Member),
            User::new(DEPUTY, "dee.deputy", "Dee Deputy", UserKind::Member),
            User::new(STAFF, "sam.staff", "Sam Staff", UserKind::Member),
            User::new(STAFF_2, "sol.staff", "Sol Staff", UserKind::Member),
            User::new(GUEST, "gil.guest", "Gil Guest", UserKind::Guest),
            User::new(
                SINGLE_CHANNEL_GUEST,
                "una.guest",
                "Una Guest",
                UserKind::SingleChannelGuest,
            ),
            User::new(STRANGER, "otto.other", "Otto Other", UserKind::Stranger),
            User::new(DELETED, "gone.person", "Gone Person", UserKind::Deleted),
            User::new(OTHER_BOT, "otherbot", "Other Bot", UserKind::Bot),
        ];
        let created = now_secs() - 86_400;
        let channel = |id: &str, name: &str, kind, members: &[&str], ext_shared| Channel {
            id: id.to_string(),
            name: Some(name.to_string()),
            kind,
            members: members.iter().map(|m| m.to_string()).collect(),
            archived: false,
            ext_shared,
            created,
            creator: LEAD.to_string(),
            im_user: None,
        };
        let channels = vec![
            channel(
                STAFF_CHANNEL,
                "staff",
                ChannelKind::Public,
                &[BOT_USER_ID, LEAD, DEPUTY, STAFF, STAFF_2, GUEST],
                false,
            ),
            channel(
                LEADS_CHANNEL,
                "safeguarding-leads",
                ChannelKind::Private,
                &[BOT_USER_ID, LEAD, DEPUTY],
                false,
            ),
            channel(
                SHARED_CHANNEL,
                "partners",
                ChannelKind::Public,
                &[BOT_USER_ID, STAFF, STRANGER],
                true,
            ),
        ];
        World {
            users,
            channels,
            messages: Vec::new(),
            deleted_messages: Vec::new(),
            deleted_files: Vec::new(),
            files: Vec::new(),
            next_id: 0,
            last_ts: (0, 0),
        }
    }

    /// A new id with Slack's shape: the prefix and ten more upper-case
    /// letters and digits.
    pub fn new_id(&mut self, prefix: char) -> String {
        self.next_id += 1;
        format!("{prefix}0SI{:07}", self.next_id)
    }

    /// A message timestamp: the current time as `seconds.micros`, always
    /// later than the one before.
    pub fn new_ts(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970");
        let mut next = (now.as_secs(), now.subsec_micros());
        if next <= self.last_ts {
            next = if self.last_ts.1 >= 999_999 {
                (self.last_ts.0 + 1, 0)
            } else {
                (self.last_ts.0, self.last_ts.1 + 1)
            };
        }
        self.last_ts = next;
        format!("{}.{:06}", next.0, next.1)
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn channel(&self, id: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }

    pub fn channel_mut(&mut self, id: &str) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|c| c.id == id)
    }

    pub fn channel_named(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name.as_deref() == Some(name))
    }

    /// The bot's direct message with `user`, opened if it was not yet: the
    /// same `D…` id every time.
    pub fn dm_with(&mut self, user: &str) -> (String, bool) {
        if let Some(dm) = self
            .channels
            .iter()
            .find(|c| c.kind == ChannelKind::Im && c.im_user.as_deref() == Some(user))
        {
            return (dm.id.clone(), true);
        }
        let id = self.new_id('D');
        self.channels.push(Channel {
            id: id.clone(),
            name: None,
            kind: ChannelKind::Im,
            members: vec![BOT_USER_ID.to_string(), user.to_string()],
            archived: false,
            ext_shared: false,
            created: now_secs(),
            creator: user.to_string(),
            im_user: Some(user.to_string()),
        });
        (id, false)
    }

    pub fn message(&self, channel: &str, ts: &str) -> Option<&Message> {
        self.messages.iter().find(|m| m.channel == channel && m.ts == ts)
    }

    pub fn message_mut(&mut self, channel: &str, ts: &str) -> Option<&mut Message> {
        self.messages
            .iter_mut()
            .find(|m| m.channel == channel && m.ts == ts)
    }

    /// Whether the bot can see the channel at all: public channels always,
    /// private channels and direct messages only as a member (Slack answers
    /// `channel_not_found` for the others).
    pub fn bot_can_see(&self, channel: &Channel) -> bool {
        channel.kind == ChannelKind::Public || channel.has_member(BOT_USER_ID)
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}
