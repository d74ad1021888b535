//! [`Chat`] for Slack.
//!
//! - A send is made once per outbox key: the `ts` Slack gives is kept
//!   under the key (in the core's [`crate::bot::Memo`]) and a send tried again with
//!   that key answers it without posting.
//! - A concern's channel is private, named by its reference alone
//!   (`sg-0042`); the name asked for is kept under the request's key before
//!   `conversations.create`, and the channel's id after, so a request
//!   tried again finds it. `name_taken` (a channel of that name made by
//!   someone, or by an attempt whose answer was lost) moves on to
//!   `sg-0042-2`, and so on.
//! - A reporter's private chat is the bot's direct message with them.
//! - Pages mention with `<@U…>`; nothing else mentions anyone. Links are
//!   never unfurled: a reporter may give the address of what they saw.
//! - Slack's error codes become [`ChatError`]s ([`classify`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tracing::{debug, info, warn};

use super::api::{classify, Api, ApiError};
use super::clock::SlackClock;
use super::events::ts_of;
use super::people::People;
use super::render::{blocks, channel_name, slack_text};
use super::roster::Roster;
use crate::bot::{Chat, ChatError, Core, File, Member, Message, RoomSpec};

/// chat.postMessage takes 40,000 characters of `text`; a character may be
/// four bytes, and escaping makes `&` five. The core splits longer records.
const MAX_MESSAGE_BYTES: usize = 12_000;

/// How long what `conversations.info` says of a channel is trusted.
const INFO_FRESH_FOR: Duration = Duration::from_secs(60);

pub struct SlackChat {
    api: Api,
    people: Arc<People>,
    /// The core, for its memory (see [`crate::bot::Memo`]): what was sent under which key, and which
    /// channel was made for which request. Set by [`SlackChat::attach`]
    /// before anything is sent ([`Chat::ready_at_start`] says no until then).
    core: OnceLock<Weak<Core>>,
    bot_user: String,
    /// Who is in which channel: the staff channels' lists kept.
    roster: Roster,
    /// Slack's clock as the bot's, from each post's `ts`.
    clock: SlackClock,
    /// Channel id → (when, confidential).
    confidential: Mutex<HashMap<String, (Instant, bool)>>,
}

/// A channel from the config (a staff channel or the leads'): retention
/// never clears it, so what the bot posts there is not noted for it.
fn never_cleared(core: &Core, room: &str) -> bool {
    core.is_staff_room(room) || core.leads_room().as_deref() == Some(room)
}

/// How a file the bot shared is noted among a channel's posted messages
/// (a message is noted by its `ts`, which never starts so).
const FILE_PREFIX: &str = "file:";

fn posted_file(file_id: &str) -> String {
    format!("{FILE_PREFIX}{file_id}")
}

/// Memory keys. Outbox keys may carry anything; the store keys them by
/// digest, so they are used as they are.
/// Whose direct message with the bot a `D…` channel is.
fn dm_key(dm: &str) -> String {
    format!("slack dm {dm}")
}

/// A direct message: Slack's `D…` ids.
fn is_dm(room: &str) -> bool {
    room.starts_with('D')
}

/// The name asked for a room request, kept before `conversations.create`.
fn room_name_key(key: &str) -> String {
    format!("slack room name {key}")
}

/// The channel made for a room request.
fn room_id_key(key: &str) -> String {
    format!("slack room id {key}")
}

impl SlackChat {
    pub fn new(api: Api, people: Arc<People>, bot_user: String) -> Self {
        SlackChat {
            roster: Roster::new(api.clone()),
            clock: SlackClock::default(),
            api,
            people,
            core: OnceLock::new(),
            bot_user,
            confidential: Mutex::new(HashMap::new()),
        }
    }

    /// What was sent under the outbox's `key`, if anything.
    fn sent(&self, key: &str) -> Option<String> {
        let core = self.core()?;
        super::sent::sent(core.memo(), key).ok().flatten()
    }

    fn note_sent(&self, key: &str, id: &str) {
        let kept = match self.core() {
            Some(core) => super::sent::note_sent(core.memo(), key, id, core.now()).map_err(|e| e.to_string()),
            None => Err("the bot is stopping".into()),
        };
        if let Err(e) = kept {
            warn!(error = %e, "could not keep what Slack answered; a retry may repeat it");
        }
    }

    /// Slack's clock as the bot's, for when a message was written.
    pub(super) fn clock(&self) -> &SlackClock {
        &self.clock
    }

    /// Who is in which channel, for the events that change it.
    pub(super) fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The Web API, for what is not [`Chat`]: opening a form.
    pub(super) fn api(&self) -> &Api {
        &self.api
    }

    /// Gives the chat the core (for its memory); call before
    /// [`Core::chat_synced`].
    pub fn attach(&self, core: &Arc<Core>) {
        let _ = self.core.set(Arc::downgrade(core));
    }

    fn core(&self) -> Option<Arc<Core>> {
        self.core.get().and_then(Weak::upgrade)
    }

    fn remembered(&self, key: &str) -> Option<String> {
        let core = self.core()?;
        core.memo().get::<String>(key).ok().flatten()
    }

    fn remember(&self, key: &str, value: &str) {
        let kept = match self.core() {
            Some(core) => core.memo().put(key, value).map_err(|e| e.to_string()),
            None => Err("the bot is stopping".into()),
        };
        if let Err(e) = kept {
            warn!(error = %e, "could not keep what Slack answered; a retry may repeat it");
        }
    }

    /// The bot's direct message with `user`.
    pub async fn open_dm(&self, user: &str) -> Result<String, ChatError> {
        let answer = self
            .api
            .call("conversations.open", json!({ "users": user }))
            .await
            .map_err(classify)?;
        let dm = channel_id(&answer)?;
        self.note_dm(&dm, user);
        Ok(dm)
    }

    /// Notes whose direct message `dm` is. Who is in a DM is never asked of
    /// Slack (that would take the `im:read` scope): it is the bot and the
    /// one person the bot opened it with or heard from there.
    pub fn note_dm(&self, dm: &str, user: &str) {
        let key = dm_key(dm);
        if self.remembered(&key).as_deref() != Some(user) {
            self.remember(&key, user);
        }
    }

    /// Notes a message the bot posted in a channel, so retention can delete
    /// it with the channel (Slack's history is not in the bot's scopes).
    fn note_posted(&self, room: &str, ts: &str) {
        let Some(core) = self.core() else {
            return;
        };
        if never_cleared(&core, room) {
            return;
        }
        if let Err(e) = super::sent::note_posted(core.memo(), room, ts, core.now()) {
            warn!(error = %e, "could not note a message for removal under retention");
        }
    }

    /// The person at the other end of the bot's DM `dm`.
    fn dm_user(&self, dm: &str) -> Result<String, ChatError> {
        self.remembered(&dm_key(dm))
            .ok_or_else(|| ChatError::NotFound(format!("a direct message the bot did not open: {dm}")))
    }

    /// Creates a private channel for a concern, once per request key.
    async fn create_channel(&self, spec: &RoomSpec) -> Result<String, ChatError> {
        if let Some(id) = self.remembered(&room_id_key(&spec.key)) {
            return Ok(id);
        }
        let key = room_name_key(&spec.key);
        let base = channel_name(&spec.name);
        // Saved before asking, so a retry after a crash knows what was asked.
        let mut name = self.remembered(&key).unwrap_or_else(|| base.clone());
        self.remember(&key, &name);
        for attempt in 2..=20u32 {
            match self
                .api
                .call(
                    "conversations.create",
                    json!({ "name": name, "is_private": true }),
                )
                .await
            {
                Ok(answer) => {
                    let id = channel_id(&answer)?;
                    self.remember(&room_id_key(&spec.key), &id);
                    info!(channel = %id, "made a private channel for a concern");
                    return Ok(id);
                }
                Err(e) if e.code() == Some("name_taken") => {
                    warn!(name = %name, "a channel has that name already; trying the next");
                    name = format!("{base}-{attempt}");
                    self.remember(&key, &name);
                }
                Err(e) => return Err(classify(e)),
            }
        }
        Err(ChatError::Refused(
            "every name for the concern's channel is taken".into(),
        ))
    }

    async fn channel_info(&self, room: &str) -> Result<Value, ChatError> {
        let answer = self
            .api
            .call("conversations.info", json!({ "channel": room }))
            .await
            .map_err(classify)?;
        Ok(answer["channel"].clone())
    }
}

fn channel_id(answer: &Value) -> Result<String, ChatError> {
    answer
        .pointer("/channel/id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ChatError::Transient("Slack's answer had no channel id".into()))
}

#[async_trait::async_trait]
impl Chat for SlackChat {
    fn bot_id(&self) -> String {
        self.bot_user.clone()
    }

    fn max_message_bytes(&self) -> usize {
        MAX_MESSAGE_BYTES
    }

    fn can_remove_others_messages(&self) -> bool {
        false
    }

    fn ready_at_start(&self) -> bool {
        // Not until `attach`: a send before could not see what was sent.
        false
    }

    async fn forget_sent_before(&self, before: chrono::DateTime<chrono::Utc>) -> usize {
        let Some(core) = self.core() else {
            return 0;
        };
        let mut forgotten = match super::sent::forget_sent_before(core.memo(), before) {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %e, "could not forget what was sent long ago; trying again tomorrow");
                0
            }
        };
        // Kept by earlier versions for every channel, these lists only grew.
        let mut rooms = core.staff_rooms();
        rooms.extend(core.leads_room());
        for room in rooms {
            match super::sent::forget_posted(core.memo(), &room) {
                Ok(n) => forgotten += n,
                Err(e) => {
                    warn!(error = %e, "could not forget the bot's posts in a channel retention never clears")
                }
            }
        }
        forgotten
    }

    async fn send(&self, room: &str, message: &Message, key: &str) -> Result<String, ChatError> {
        if let Some(ts) = self.sent(key) {
            debug!("a message sent before was asked for again; not sent twice");
            return Ok(ts);
        }
        let mut params = json!({
            "channel": room,
            "text": slack_text(message),
            "unfurl_links": false,
            "unfurl_media": false,
        });
        let blocks = blocks(message);
        let with_blocks = blocks.is_some();
        if let Some(blocks) = blocks {
            params["blocks"] = blocks;
        }
        let answer = match self
            .api
            .call_paced("chat.postMessage", room, params.clone())
            .await
        {
            // Buttons are a convenience: a message Slack will not take with
            // them goes without, its text spelling out the choices.
            Err(e) if with_blocks && e.code().is_some_and(|c| c.starts_with("invalid_blocks")) => {
                warn!(error = %e, "Slack refused a message's buttons; sending it without them");
                if let Some(p) = params.as_object_mut() {
                    p.remove("blocks");
                }
                self.api.call_paced("chat.postMessage", room, params).await
            }
            other => other,
        }
        .map_err(classify)?;
        let ts = answer["ts"].as_str().unwrap_or_default().to_string();
        if let Some(stamped) = super::events::written_at(&ts) {
            self.clock.sample(stamped, chrono::Utc::now());
        }
        self.note_sent(key, &ts);
        if !is_dm(room) {
            self.note_posted(room, &ts);
        }
        Ok(ts)
    }

    async fn upload(&self, room: &str, file: &File, key: &str) -> Result<String, ChatError> {
        if let Some(id) = self.sent(key) {
            return Ok(id);
        }
        // The caption goes as a message of its own, noted like any other,
        // and the file alone: Slack's answer to an upload does not say which
        // message shared it, so a caption given with the file could not be
        // deleted under retention.
        if !file.caption.is_empty() {
            let caption = Message::notice(crate::bot::compose::Text::plain(&file.caption));
            self.send(room, &caption, &format!("{key}/caption")).await?;
        }
        let url = self
            .api
            .call(
                "files.getUploadURLExternal",
                json!({ "filename": file.name, "length": file.data.len().to_string() }),
            )
            .await
            .map_err(classify)?;
        let (Some(upload_url), Some(file_id)) = (url["upload_url"].as_str(), url["file_id"].as_str()) else {
            return Err(ChatError::Transient("Slack gave no upload address".into()));
        };
        self.api
            .upload_bytes(upload_url, file.data.clone(), &file.mime)
            .await
            .map_err(classify)?;
        self.api
            .call(
                "files.completeUploadExternal",
                json!({
                    "files": [{ "id": file_id, "title": file.name }],
                    "channel_id": room,
                }),
            )
            .await
            .map_err(classify)?;
        self.note_sent(key, file_id);
        if !is_dm(room) {
            self.note_posted(room, &posted_file(file_id));
        }
        Ok(file_id.to_string())
    }

    async fn create_room(&self, spec: &RoomSpec) -> Result<String, ChatError> {
        if spec.direct {
            let user = spec
                .invite
                .first()
                .ok_or_else(|| ChatError::Refused("a private chat with nobody".into()))?;
            return self.open_dm(user).await;
        }
        let id = self.create_channel(spec).await?;
        for user in &spec.invite {
            self.invite(&id, user).await?;
        }
        Ok(id)
    }

    async fn invite(&self, room: &str, user: &str) -> Result<(), ChatError> {
        match self
            .api
            .call("conversations.invite", json!({ "channel": room, "users": user }))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("already_in_channel") => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    async fn remove(&self, room: &str, user: &str, _reason: &str) -> Result<(), ChatError> {
        match self
            .api
            .call("conversations.kick", json!({ "channel": room, "user": user }))
            .await
        {
            // Slack's success answer carries `"errors": {}`, which
            // slack-morphism cannot read: the kick was done.
            Ok(_) | Err(ApiError::Unreadable { .. }) => Ok(()),
            Err(e) if e.code() == Some("not_in_channel") => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    async fn members(&self, room: &str) -> Result<Vec<Member>, ChatError> {
        if is_dm(room) {
            let user = self.dm_user(room)?;
            return Ok(vec![
                Member {
                    user: self.bot_user.clone(),
                    joined: true,
                },
                Member { user, joined: true },
            ]);
        }
        let ids = self.roster.list(room).await.map_err(classify)?;
        Ok(ids
            .into_iter()
            .map(|user| Member { user, joined: true })
            .collect())
    }

    async fn is_staff_member(&self, room: &str, user: &str) -> Result<bool, ChatError> {
        if is_dm(room) {
            return Ok(false);
        }
        // Their membership from the channel's kept list, and who they are
        // from `users.info` for them alone: a channel of 300 costs no call
        // per member. Guests and people from other organisations may be in
        // a staff channel, but may not report.
        if !self.roster.has(room, user).await.map_err(classify)? {
            return Ok(false);
        }
        match self.people.get(user).await {
            Ok(person) => Ok(person.may_report()),
            Err(e) => {
                warn!(error = %e, "could not tell who someone in a staff channel is");
                Err(classify(e))
            }
        }
    }

    async fn is_confidential(&self, room: &str) -> Result<bool, ChatError> {
        if is_dm(room) {
            // One person and the bot; people from other organisations are
            // refused before anything is said there.
            return self.dm_user(room).map(|_| true);
        }
        let cached = self
            .confidential
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(room)
            .filter(|(at, _)| at.elapsed() < INFO_FRESH_FOR)
            .map(|(_, c)| *c);
        if let Some(c) = cached {
            return Ok(c);
        }
        let info = self.channel_info(room).await?;
        let flag = |k: &str| info.get(k).and_then(Value::as_bool).unwrap_or(false);
        // Only its members read it (and the workspace's owners: Slack has no
        // end-to-end encryption), and nobody from another organisation.
        let confidential = (flag("is_im") || flag("is_private"))
            && !flag("is_ext_shared")
            && !flag("is_shared")
            && !flag("is_org_shared")
            && !flag("is_pending_ext_shared");
        self.confidential
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(room.to_string(), (Instant::now(), confidential));
        Ok(confidential)
    }

    async fn is_joined(&self, room: &str) -> Result<bool, ChatError> {
        if is_dm(room) {
            return Ok(self.dm_user(room).is_ok());
        }
        let info = self.channel_info(room).await?;
        let archived = info.get("is_archived").and_then(Value::as_bool).unwrap_or(false);
        let member = info.get("is_member").and_then(Value::as_bool).unwrap_or(false);
        let im = info.get("is_im").and_then(Value::as_bool).unwrap_or(false);
        Ok(!archived && (member || im))
    }

    async fn display_name(&self, _room: &str, user: &str) -> String {
        match self.people.get(user).await {
            Ok(super::people::Person::Member { name }) if !name.is_empty() => name,
            _ => user.to_string(),
        }
    }

    async fn redact(&self, room: &str, message: &str, _reason: &str) -> Result<(), ChatError> {
        match self
            .api
            .call("chat.delete", json!({ "channel": room, "ts": ts_of(message) }))
            .await
        {
            Ok(_) => Ok(()),
            // A person's own message: a bot cannot delete it.
            Err(e) if e.code() == Some("cant_delete_message") => Err(ChatError::Refused(
                "Slack does not let a bot delete what a person wrote".into(),
            )),
            Err(e) => Err(classify(e)),
        }
    }

    async fn clear_and_leave(&self, room: &str, notice: &str) -> Result<usize, ChatError> {
        // The bot's own messages, as noted when sent; what people wrote a bot
        // cannot delete. Archiving leaves the channel to the workspace's
        // owners and admins only.
        let posted: Vec<String> = self
            .core()
            .and_then(|core| super::sent::posted(core.memo(), room).ok())
            .unwrap_or_default();
        let mut removed = 0;
        for item in &posted {
            // A file goes with files.delete, and with it the message that
            // shared it; a message with chat.delete.
            let (method, params) = match item.strip_prefix(FILE_PREFIX) {
                Some(file) => ("files.delete", json!({ "file": file })),
                None => ("chat.delete", json!({ "channel": room, "ts": item })),
            };
            match self.api.call(method, params).await {
                Ok(_) => removed += 1,
                Err(e)
                    if matches!(
                        e.code(),
                        Some("message_not_found" | "file_not_found" | "file_deleted")
                    ) => {}
                Err(e) => return Err(classify(e)),
            }
        }
        let message = Message::notice(crate::bot::compose::Text::plain(notice));
        self.send(room, &message, &format!("retired-{room}")).await?;
        match self
            .api
            .call("conversations.archive", json!({ "channel": room }))
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some("already_archived") => {}
            Err(e) => return Err(classify(e)),
        }
        if let Some(core) = self.core() {
            let _ = super::sent::forget_posted(core.memo(), room);
        }
        Ok(removed)
    }

    async fn resolve_room(&self, name: &str) -> Result<String, ChatError> {
        // Slack's ids do not change; check the bot can see the channel.
        let info = self.channel_info(name).await?;
        if !info.get("is_member").and_then(Value::as_bool).unwrap_or(false) {
            warn!(channel = %name, "the bot is not in a channel from the config; add it with /invite @bot in that channel");
        }
        Ok(name.to_string())
    }
}
