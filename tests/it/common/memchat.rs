//! An in-memory chat for the core's tests: rooms, members and messages in
//! a map, the bot as `@bot:test`, and failures scripted on demand.
//!
//! It behaves as Matrix does where the core relies on it:
//! - sending with a key already used in a room returns the first message's
//!   id and shows nothing new (Matrix's transaction ids);
//! - making a room with a [`RoomSpec::key`] already used returns that room;
//! - a message larger than [`MemChat::max_message_bytes`] is refused as
//!   [`ChatError::TooLarge`].
//!
//! Every call is logged ([`MemChat::calls`]), so a test can tell a message
//! the core sent twice (and the chat folded into one) from one sent once.
//! Failures are scripted with [`MemChat::fail_next`] and friends: each
//! names the operation, optionally who or where it is for, the error, and
//! how many times; [`MemChat::fail_next_after_doing`] makes the chat carry
//! the call out and still report the error, as a timed-out request does.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use safeguarding_bot::bot::{Chat, ChatError, File, Kind, Member, Message, RoomSpec};

/// The bot's id in the in-memory chat.
pub const BOT: &str = "@bot:test";

/// How long the helpers wait for something by default.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// An operation of the [`Chat`] trait, to script a failure for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Send,
    Upload,
    CreateRoom,
    Invite,
    Remove,
    Members,
    IsConfidential,
    IsJoined,
    Redact,
    ClearAndLeave,
    ResolveRoom,
}

/// One call the core made, as the chat saw it, with how it ended.
#[derive(Clone, Debug)]
pub struct Call {
    pub op: Op,
    pub room: Option<String>,
    /// The person invited.
    pub user: Option<String>,
    /// The send or upload key, or the room's creation key.
    pub key: Option<String>,
    pub message: Option<Message>,
    /// The message's or room's id on success ("" for calls with none).
    pub result: Result<String, ChatError>,
}

impl Call {
    fn new(op: Op) -> Call {
        Call {
            op,
            room: None,
            user: None,
            key: None,
            message: None,
            result: Ok(String::new()),
        }
    }

    /// Whether this call is for `who`: its room, the person invited, or a
    /// person the message mentions.
    pub fn is_for(&self, who: &str) -> bool {
        self.room.as_deref() == Some(who)
            || self.user.as_deref() == Some(who)
            || matches!(&self.message, Some(Message { kind: Kind::Ping(people), .. }) if people.iter().any(|p| p == who))
    }

    /// Whether this is the sending of a page or reminder (a message that
    /// mentions people on purpose).
    pub fn is_ping(&self) -> bool {
        matches!(
            &self.message,
            Some(Message {
                kind: Kind::Ping(_),
                ..
            })
        )
    }
}

type Matcher = Box<dyn Fn(&Call) -> bool + Send + Sync>;

struct Fault {
    op: Option<Op>,
    when: Matcher,
    error: ChatError,
    /// `None`: until [`MemChat::clear_faults`].
    remaining: Option<usize>,
    /// Carry the call out, then report the error.
    after_doing: bool,
}

/// A message the bot sent (or a file it uploaded, with `file`).
#[derive(Clone, Debug)]
pub struct Posted {
    pub id: String,
    pub key: String,
    pub message: Message,
    pub file: Option<File>,
    pub redacted: bool,
    /// Who was in the room or invited to it when it was posted: who could
    /// read it.
    pub shown_to: Vec<String>,
}

/// A room as the chat holds it.
#[derive(Clone, Debug)]
pub struct Room {
    pub id: String,
    pub name: String,
    pub members: Vec<Member>,
    pub confidential: bool,
    /// Made by the bot with [`Chat::create_room`]: its request.
    pub spec: Option<RoomSpec>,
    /// What the bot sent here, in order, redacted ones included.
    pub posted: Vec<Posted>,
}

impl Room {
    pub fn is_member(&self, user: &str) -> bool {
        self.members.iter().any(|m| m.user == user)
    }

    pub fn is_joined(&self, user: &str) -> bool {
        self.members.iter().any(|m| m.user == user && m.joined)
    }

    pub fn direct(&self) -> bool {
        self.spec.as_ref().is_some_and(|s| s.direct)
    }

    /// The bot's messages, not redacted, files left out.
    pub fn messages(&self) -> Vec<Message> {
        self.posted
            .iter()
            .filter(|p| !p.redacted && p.file.is_none())
            .map(|p| p.message.clone())
            .collect()
    }
}

#[derive(Default)]
struct State {
    rooms: BTreeMap<String, Room>,
    /// Room ids in the order they were added or made.
    order: Vec<String>,
    aliases: HashMap<String, String>,
    /// A creation key's room.
    by_spec: HashMap<String, String>,
    faults: Vec<Fault>,
    calls: Vec<Call>,
    next_id: u64,
}

impl State {
    fn next(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}:test", self.next_id)
    }

    /// The error a scripted fault gives this call, and whether the call is
    /// carried out first. Counts the fault down.
    fn fault(&mut self, call: &Call) -> Option<(ChatError, bool)> {
        for f in &mut self.faults {
            if f.remaining == Some(0) || f.op.is_some_and(|op| op != call.op) || !(f.when)(call) {
                continue;
            }
            if let Some(n) = &mut f.remaining {
                *n -= 1;
            }
            return Some((f.error.clone(), f.after_doing));
        }
        None
    }

    fn room_mut(&mut self, id: &str) -> Result<&mut Room, ChatError> {
        self.rooms
            .get_mut(id)
            .ok_or_else(|| ChatError::NotFound(format!("no room {id}")))
    }

    fn room_joined(&mut self, id: &str) -> Result<&mut Room, ChatError> {
        let room = self.room_mut(id)?;
        if !room.is_joined(BOT) {
            return Err(ChatError::Refused(format!("the bot is not in {id}")));
        }
        Ok(room)
    }
}

/// The in-memory chat. Share it as `Arc<MemChat>`: the core gets one
/// handle, the test keeps another.
pub struct MemChat {
    state: Mutex<State>,
    /// What the bot is told the chat takes.
    max_bytes: AtomicUsize,
    /// What the chat really takes (normally the same).
    hard_limit: AtomicUsize,
    /// People's display names; anyone else's is their id, as a chat gives
    /// for someone it knows no name for.
    names: Mutex<HashMap<String, String>>,
    /// Someone who acts the moment a message is delivered (see
    /// [`MemChat::on_send`]).
    on_send: Mutex<Option<OnSend>>,
}

/// Called with the room and the message, the moment a message is posted.
pub type OnSend = Arc<dyn Fn(&str, &Message) + Send + Sync>;

impl Default for MemChat {
    fn default() -> Self {
        MemChat {
            state: Mutex::new(State::default()),
            max_bytes: AtomicUsize::new(16_000),
            hard_limit: AtomicUsize::new(16_000),
            names: Mutex::default(),
            on_send: Mutex::default(),
        }
    }
}

impl MemChat {
    pub fn new() -> Arc<MemChat> {
        Arc::new(MemChat::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ----- setting up -----

    /// Calls `f` the moment each message is posted, before the bot's send
    /// returns: someone reading the chat and answering at once, faster
    /// than any person.
    pub fn on_send(&self, f: OnSend) {
        *self.on_send.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    /// Gives someone a display name.
    pub fn set_name(&self, user: &str, name: &str) {
        self.names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.to_string(), name.to_string());
    }

    /// Sets the largest message the chat says it takes, and takes.
    pub fn set_max_message_bytes(&self, n: usize) {
        self.max_bytes.store(n, Ordering::SeqCst);
        self.hard_limit.store(n, Ordering::SeqCst);
    }

    /// Makes the chat refuse as too large anything over `n` bytes, whatever
    /// it says it takes.
    pub fn set_hard_limit(&self, n: usize) {
        self.hard_limit.store(n, Ordering::SeqCst);
    }

    /// A room that exists before the bot starts, with the bot and these
    /// people joined.
    pub fn add_room(&self, id: &str, members: &[&str], confidential: bool) {
        let mut s = self.lock();
        let mut all = vec![Member {
            user: BOT.to_string(),
            joined: true,
        }];
        all.extend(members.iter().map(|m| Member {
            user: m.to_string(),
            joined: true,
        }));
        s.rooms.insert(
            id.to_string(),
            Room {
                id: id.to_string(),
                name: id.to_string(),
                members: all,
                confidential,
                spec: None,
                posted: Vec::new(),
            },
        );
        s.order.push(id.to_string());
    }

    /// A room as another run of the chat left it (the upgrade test's
    /// fixture): kept as it was, its creation key known, and ids handed out
    /// from now on never one it used.
    pub fn restore_room(&self, room: Room) {
        let mut s = self.lock();
        let number = |id: &str| -> u64 {
            let digits: String = id.chars().filter(char::is_ascii_digit).collect();
            digits.parse().unwrap_or(0)
        };
        let used = std::iter::once(number(&room.id))
            .chain(room.posted.iter().map(|p| number(&p.id)))
            .max()
            .unwrap_or(0);
        s.next_id = s.next_id.max(used);
        if let Some(spec) = &room.spec {
            s.by_spec.insert(spec.key.clone(), room.id.clone());
        }
        s.order.push(room.id.clone());
        s.rooms.insert(room.id.clone(), room);
    }

    /// Another name for a room, for `resolve_room`.
    pub fn add_alias(&self, alias: &str, id: &str) {
        self.lock().aliases.insert(alias.to_string(), id.to_string());
    }

    /// `user` joins `room` (accepting an invite, or walking in).
    pub fn join(&self, user: &str, room: &str) {
        let mut s = self.lock();
        let r = s.rooms.get_mut(room).unwrap_or_else(|| panic!("no room {room}"));
        match r.members.iter_mut().find(|m| m.user == user) {
            Some(m) => m.joined = true,
            None => r.members.push(Member {
                user: user.to_string(),
                joined: true,
            }),
        }
    }

    /// Someone other than the bot invites `user` to `room`.
    pub fn invite_user(&self, room: &str, user: &str) {
        let mut s = self.lock();
        let r = s.rooms.get_mut(room).unwrap_or_else(|| panic!("no room {room}"));
        if !r.is_member(user) {
            r.members.push(Member {
                user: user.to_string(),
                joined: false,
            });
        }
    }

    /// `user` leaves `room`.
    pub fn leave(&self, user: &str, room: &str) {
        let mut s = self.lock();
        if let Some(r) = s.rooms.get_mut(room) {
            r.members.retain(|m| m.user != user);
        }
    }

    // ----- scripted failures -----

    fn add_fault(
        &self,
        op: Option<Op>,
        when: Matcher,
        error: ChatError,
        n: Option<usize>,
        after_doing: bool,
    ) {
        self.lock().faults.push(Fault {
            op,
            when,
            error,
            remaining: n,
            after_doing,
        });
    }

    /// The next `n` calls of `op` fail with `error`, doing nothing.
    pub fn fail_next(&self, op: Op, error: ChatError, n: usize) {
        self.add_fault(Some(op), Box::new(|_| true), error, Some(n), false);
    }

    /// The next `n` calls of `op` for `who` (the room, the person invited,
    /// or someone the message mentions) fail with `error`.
    pub fn fail_next_for(&self, op: Op, who: &str, error: ChatError, n: usize) {
        let who = who.to_string();
        self.add_fault(Some(op), Box::new(move |c| c.is_for(&who)), error, Some(n), false);
    }

    /// Every call of `op` for `who` fails with `error` until cleared.
    pub fn fail_always_for(&self, op: Op, who: &str, error: ChatError) {
        let who = who.to_string();
        self.add_fault(Some(op), Box::new(move |c| c.is_for(&who)), error, None, false);
    }

    /// The next `n` calls of `op` that `when` picks fail with `error`.
    pub fn fail_when(
        &self,
        op: Op,
        when: impl Fn(&Call) -> bool + Send + Sync + 'static,
        error: ChatError,
        n: usize,
    ) {
        self.add_fault(Some(op), Box::new(when), error, Some(n), false);
    }

    /// The next `n` pages or reminders sent fail with `error`.
    pub fn fail_next_pages(&self, error: ChatError, n: usize) {
        self.add_fault(Some(Op::Send), Box::new(Call::is_ping), error, Some(n), false);
    }

    /// The next `n` calls of `op` are carried out but reported as failed
    /// with `error`, as a request that timed out after the server did it.
    pub fn fail_next_after_doing(&self, op: Op, error: ChatError, n: usize) {
        self.add_fault(Some(op), Box::new(|_| true), error, Some(n), true);
    }

    /// As [`MemChat::fail_next_after_doing`], for pages and reminders.
    pub fn fail_next_pages_after_doing(&self, error: ChatError, n: usize) {
        self.add_fault(Some(Op::Send), Box::new(Call::is_ping), error, Some(n), true);
    }

    /// The next `n` calls of `op` are rate limited, to try after `after`.
    pub fn rate_limit_next(&self, op: Op, after: Duration, n: usize) {
        self.fail_next(op, ChatError::RateLimited(Some(after)), n);
    }

    /// The next `n` calls of `op` are refused for good.
    pub fn refuse_next(&self, op: Op, why: &str, n: usize) {
        self.fail_next(op, ChatError::Refused(why.to_string()), n);
    }

    /// Every call of `op` fails with `error` until cleared.
    pub fn fail_always(&self, op: Op, error: ChatError) {
        self.add_fault(Some(op), Box::new(|_| true), error, None, false);
    }

    /// Every call of every operation fails with `error` until cleared.
    pub fn fail_everything(&self, error: ChatError) {
        self.add_fault(None, Box::new(|_| true), error, None, false);
    }

    /// The chat is healthy again.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// How many scripted failures are still to come (not counting those
    /// that last until cleared).
    pub fn faults_left(&self) -> usize {
        self.lock().faults.iter().map(|f| f.remaining.unwrap_or(0)).sum()
    }

    // ----- looking -----

    /// A copy of a room, if it exists.
    pub fn room(&self, id: &str) -> Option<Room> {
        self.lock().rooms.get(id).cloned()
    }

    /// Every room, in the order added or made.
    pub fn rooms(&self) -> Vec<Room> {
        let s = self.lock();
        s.order.iter().filter_map(|id| s.rooms.get(id).cloned()).collect()
    }

    /// The rooms the bot made, in order.
    pub fn created_rooms(&self) -> Vec<Room> {
        self.rooms().into_iter().filter(|r| r.spec.is_some()).collect()
    }

    /// The rooms the bot made that are not private chats (concerns' rooms).
    pub fn group_rooms(&self) -> Vec<Room> {
        self.created_rooms().into_iter().filter(|r| !r.direct()).collect()
    }

    /// The bot's messages in a room, in order (none if there is no such room).
    pub fn messages_in(&self, room: &str) -> Vec<Message> {
        self.room(room).map(|r| r.messages()).unwrap_or_default()
    }

    /// The plain text of the bot's messages in a room.
    pub fn texts_in(&self, room: &str) -> Vec<String> {
        self.messages_in(room).into_iter().map(|m| m.plain).collect()
    }

    /// How many of the bot's messages in a room contain `text`.
    pub fn count_in(&self, room: &str, text: &str) -> usize {
        self.messages_in(room)
            .iter()
            .filter(|m| m.plain.contains(text))
            .count()
    }

    /// Every message of the bot's, with its room, in the order of the rooms.
    pub fn all_messages(&self) -> Vec<(String, Message)> {
        self.rooms()
            .into_iter()
            .flat_map(|r| {
                let id = r.id.clone();
                r.messages().into_iter().map(move |m| (id.clone(), m))
            })
            .collect()
    }

    /// What the bot posted in a room while `user` was in it or invited.
    pub fn shown_to(&self, room: &str, user: &str) -> Vec<Message> {
        self.room(room)
            .map(|r| {
                r.posted
                    .into_iter()
                    .filter(|p| p.shown_to.iter().any(|u| u == user))
                    .map(|p| p.message)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the bot uploaded to a room.
    pub fn files_in(&self, room: &str) -> Vec<File> {
        self.room(room)
            .map(|r| r.posted.into_iter().filter_map(|p| p.file).collect())
            .unwrap_or_default()
    }

    /// The private chat the bot made for `user` (with `direct` set and
    /// them invited): the latest, if several.
    pub fn private_room_of(&self, user: &str) -> Option<String> {
        self.created_rooms()
            .into_iter()
            .filter(|r| {
                r.spec
                    .as_ref()
                    .is_some_and(|s| s.direct && s.invite.iter().any(|u| u == user))
            })
            .map(|r| r.id)
            .next_back()
    }

    /// Every call the core made, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// How many calls of `op` the core made, failed ones included.
    pub fn calls_of(&self, op: Op) -> usize {
        self.lock().calls.iter().filter(|c| c.op == op).count()
    }

    /// How many calls of `op` failed.
    pub fn failed_calls_of(&self, op: Op) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.op == op && c.result.is_err())
            .count()
    }

    /// How many times a message was sent with this key, failures included.
    pub fn sends_with_key(&self, key: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.op == Op::Send && c.key.as_deref() == Some(key))
            .count()
    }

    /// For each (room, key), how many sends the chat reported as done.
    pub fn done_sends_per_key(&self) -> HashMap<(String, String), usize> {
        let mut out = HashMap::new();
        for c in self.lock().calls.iter() {
            if matches!(c.op, Op::Send | Op::Upload) && c.result.is_ok() {
                let k = (
                    c.room.clone().unwrap_or_default(),
                    c.key.clone().unwrap_or_default(),
                );
                *out.entry(k).or_insert(0) += 1;
            }
        }
        out
    }

    /// Panics if the core sent anything again after the chat had told it
    /// that it was done (the chat folds such a send into the first, so the
    /// messages alone would not show it).
    pub fn assert_no_resends(&self) {
        let again: Vec<_> = self
            .done_sends_per_key()
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        assert!(
            again.is_empty(),
            "sent again after the chat said it was done: {again:?}\n{}",
            self.dump()
        );
    }

    /// Every room and what the bot said in it, for a failing test's message.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for r in self.rooms() {
            let members: Vec<String> = r
                .members
                .iter()
                .map(|m| format!("{}{}", m.user, if m.joined { "" } else { " (invited)" }))
                .collect();
            let _ = writeln!(
                out,
                "room {} \"{}\"{} members [{}]",
                r.id,
                r.name,
                if r.direct() { " (direct)" } else { "" },
                members.join(", ")
            );
            for p in &r.posted {
                let mut text: String = p.message.plain.chars().take(160).collect();
                if p.message.plain.chars().count() > 160 {
                    text.push('…');
                }
                let _ = writeln!(
                    out,
                    "  {} [{}] {:?}{}: {}",
                    p.id,
                    p.key,
                    p.message.kind,
                    if p.redacted { " (redacted)" } else { "" },
                    text.replace('\n', "⏎")
                );
            }
        }
        out
    }

    // ----- waiting -----

    /// Waits for a message of the bot's in `room` that `pred` accepts, at
    /// index `since` or later. Panics after `timeout`, showing every room.
    pub async fn wait_for_new(
        &self,
        room: &str,
        since: usize,
        pred: impl Fn(&Message) -> bool,
        timeout: Duration,
    ) -> Message {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.messages_in(room).into_iter().skip(since).find(|m| pred(m)) {
                return m;
            }
            if Instant::now() > deadline {
                panic!(
                    "nothing awaited arrived in {room} within {timeout:?}; the chat holds:\n{}",
                    self.dump()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for a message of the bot's in `room` that `pred` accepts.
    pub async fn wait_for(&self, room: &str, pred: impl Fn(&Message) -> bool, timeout: Duration) -> Message {
        self.wait_for_new(room, 0, pred, timeout).await
    }

    /// Waits for a message of the bot's in `room` containing `text`.
    pub async fn wait_for_text(&self, room: &str, text: &str) -> Message {
        self.wait_for(room, |m| m.plain.contains(text), PATIENCE).await
    }

    /// Waits until `pred` holds of the chat as a whole.
    pub async fn wait_until(&self, what: &str, pred: impl Fn(&MemChat) -> bool, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !pred(self) {
            if Instant::now() > deadline {
                panic!(
                    "{what}: not so within {timeout:?}; the chat holds:\n{}",
                    self.dump()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the private chat the bot makes for `user`.
    pub async fn wait_for_private_room_of(&self, user: &str) -> String {
        self.wait_until(
            &format!("a private chat for {user}"),
            |c| c.private_room_of(user).is_some(),
            PATIENCE,
        )
        .await;
        self.private_room_of(user).expect("just seen")
    }

    /// Waits for a room the bot makes that is not a private chat, and
    /// returns the first.
    pub async fn wait_for_group_room(&self) -> String {
        self.wait_until("a concern's room", |c| !c.group_rooms().is_empty(), PATIENCE)
            .await;
        self.group_rooms()[0].id.clone()
    }

    /// Runs one call: the scripted fault first, then `act` (unless the
    /// fault says not to), logging the call and what it came to.
    fn run<T: Clone + Into<Logged>>(
        &self,
        mut call: Call,
        act: impl FnOnce(&mut State) -> Result<T, ChatError>,
    ) -> Result<T, ChatError> {
        let mut s = self.lock();
        let fault = s.fault(&call);
        let result = match fault {
            Some((e, false)) => Err(e),
            Some((e, true)) => act(&mut s).and(Err(e)),
            None => act(&mut s),
        };
        call.result = match &result {
            Ok(v) => Ok(v.clone().into().0),
            Err(e) => Err(e.clone()),
        };
        s.calls.push(call);
        result
    }
}

/// What a successful call is logged as.
pub struct Logged(String);

impl From<String> for Logged {
    fn from(s: String) -> Self {
        Logged(s)
    }
}

impl From<()> for Logged {
    fn from(_: ()) -> Self {
        Logged(String::new())
    }
}

impl From<bool> for Logged {
    fn from(b: bool) -> Self {
        Logged(b.to_string())
    }
}

impl From<usize> for Logged {
    fn from(n: usize) -> Self {
        Logged(n.to_string())
    }
}

impl From<Vec<Member>> for Logged {
    fn from(m: Vec<Member>) -> Self {
        Logged(format!("{} members", m.len()))
    }
}

/// Posts a message or file in a room, once per key.
fn post(
    s: &mut State,
    room: &str,
    key: &str,
    message: Message,
    file: Option<File>,
) -> Result<String, ChatError> {
    let existing = s
        .room_joined(room)?
        .posted
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.id.clone());
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = s.next("$m");
    let r = s.room_joined(room)?;
    let shown_to = r.members.iter().map(|m| m.user.clone()).collect();
    r.posted.push(Posted {
        id: id.clone(),
        key: key.to_string(),
        message,
        file,
        redacted: false,
        shown_to,
    });
    Ok(id)
}

#[async_trait::async_trait]
impl Chat for MemChat {
    fn bot_id(&self) -> String {
        BOT.to_string()
    }

    fn max_message_bytes(&self) -> usize {
        self.max_bytes.load(Ordering::SeqCst)
    }

    async fn send(&self, room: &str, message: &Message, key: &str) -> Result<String, ChatError> {
        let mut call = Call::new(Op::Send);
        call.room = Some(room.to_string());
        call.key = Some(key.to_string());
        call.message = Some(message.clone());
        let limit = self.hard_limit.load(Ordering::SeqCst);
        let sent = self.run(call, |s| {
            s.room_joined(room)?;
            if message.size() > limit {
                return Err(ChatError::TooLarge);
            }
            post(s, room, key, message.clone(), None)
        });
        let hook = self.on_send.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let (Ok(_), Some(hook)) = (&sent, hook) {
            hook(room, message);
        }
        sent
    }

    async fn upload(&self, room: &str, file: &File, key: &str) -> Result<String, ChatError> {
        let mut call = Call::new(Op::Upload);
        call.room = Some(room.to_string());
        call.key = Some(key.to_string());
        self.run(call, |s| {
            let caption = Message {
                kind: Kind::Plain,
                plain: file.caption.clone(),
                html: None,
                buttons: None,
                people: Vec::new(),
            };
            post(s, room, key, caption, Some(file.clone()))
        })
    }

    async fn create_room(&self, spec: &RoomSpec) -> Result<String, ChatError> {
        let mut call = Call::new(Op::CreateRoom);
        call.key = Some(spec.key.clone());
        self.run(call, |s| {
            if let Some(id) = s.by_spec.get(&spec.key) {
                return Ok(id.clone());
            }
            let id = s.next("!room");
            let mut members = vec![Member {
                user: BOT.to_string(),
                joined: true,
            }];
            members.extend(spec.invite.iter().map(|u| Member {
                user: u.clone(),
                joined: false,
            }));
            s.rooms.insert(
                id.clone(),
                Room {
                    id: id.clone(),
                    name: spec.name.clone(),
                    members,
                    confidential: true,
                    spec: Some(spec.clone()),
                    posted: Vec::new(),
                },
            );
            s.order.push(id.clone());
            s.by_spec.insert(spec.key.clone(), id.clone());
            Ok(id)
        })
    }

    async fn invite(&self, room: &str, user: &str) -> Result<(), ChatError> {
        let mut call = Call::new(Op::Invite);
        call.room = Some(room.to_string());
        call.user = Some(user.to_string());
        self.run(call, |s| {
            let r = s.room_joined(room)?;
            if !r.is_member(user) {
                r.members.push(Member {
                    user: user.to_string(),
                    joined: false,
                });
            }
            Ok(())
        })
    }

    async fn remove(&self, room: &str, user: &str, _reason: &str) -> Result<(), ChatError> {
        let mut call = Call::new(Op::Remove);
        call.room = Some(room.to_string());
        call.user = Some(user.to_string());
        self.run(call, |s| {
            s.room_joined(room)?.members.retain(|m| m.user != user);
            Ok(())
        })
    }

    async fn members(&self, room: &str) -> Result<Vec<Member>, ChatError> {
        let mut call = Call::new(Op::Members);
        call.room = Some(room.to_string());
        self.run(call, |s| Ok(s.room_mut(room)?.members.clone()))
    }

    async fn is_confidential(&self, room: &str) -> Result<bool, ChatError> {
        let mut call = Call::new(Op::IsConfidential);
        call.room = Some(room.to_string());
        self.run(call, |s| Ok(s.room_mut(room)?.confidential))
    }

    async fn is_joined(&self, room: &str) -> Result<bool, ChatError> {
        let mut call = Call::new(Op::IsJoined);
        call.room = Some(room.to_string());
        self.run(call, |s| Ok(s.room_mut(room)?.is_joined(BOT)))
    }

    async fn display_name(&self, _room: &str, user: &str) -> String {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        names.get(user).cloned().unwrap_or_else(|| user.to_string())
    }

    async fn redact(&self, room: &str, message: &str, _reason: &str) -> Result<(), ChatError> {
        let mut call = Call::new(Op::Redact);
        call.room = Some(room.to_string());
        call.key = Some(message.to_string());
        self.run(call, |s| {
            let r = s.room_mut(room)?;
            match r.posted.iter_mut().find(|p| p.id == message) {
                Some(p) => {
                    p.redacted = true;
                    Ok(())
                }
                None => Err(ChatError::NotFound(format!("no message {message}"))),
            }
        })
    }

    async fn clear_and_leave(&self, room: &str, notice: &str) -> Result<usize, ChatError> {
        let mut call = Call::new(Op::ClearAndLeave);
        call.room = Some(room.to_string());
        self.run(call, |s| {
            let id = s.next("$m");
            let r = s.room_joined(room)?;
            let mut n = 0;
            for p in r.posted.iter_mut().filter(|p| !p.redacted) {
                p.redacted = true;
                n += 1;
            }
            let shown_to = r.members.iter().map(|m| m.user.clone()).collect();
            r.posted.push(Posted {
                shown_to,
                id,
                key: format!("clear:{room}"),
                message: Message {
                    kind: Kind::Notice,
                    plain: notice.to_string(),
                    html: None,
                    buttons: None,
                    people: Vec::new(),
                },
                file: None,
                redacted: false,
            });
            r.members.retain(|m| m.user != BOT);
            Ok(n)
        })
    }

    async fn resolve_room(&self, name: &str) -> Result<String, ChatError> {
        let mut call = Call::new(Op::ResolveRoom);
        call.room = Some(name.to_string());
        self.run(call, |s| {
            let id = s.aliases.get(name).cloned().unwrap_or_else(|| name.to_string());
            let r = s.room_mut(&id)?;
            match r.members.iter_mut().find(|m| m.user == BOT) {
                Some(m) => m.joined = true,
                None => return Err(ChatError::Refused(format!("the bot is not invited to {id}"))),
            }
            Ok(id)
        })
    }
}
