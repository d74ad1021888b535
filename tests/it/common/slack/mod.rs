#![allow(dead_code)]
//! A faithful local stand-in for Slack, for the test suite.
//!
//! Slack cannot be reached from the test machines, so the Slack adapter is
//! tested against this: one HTTP server on 127.0.0.1 that serves
//!
//! - the Web API at `/api/{method}` (form-encoded or JSON bodies, bot token
//!   checked on every method, the app token only on `apps.connections.open`,
//!   `missing_scope` for scopes not in deploy/slack-app-manifest.yml);
//! - Socket Mode: `apps.connections.open` answers `ws://127.0.0.1:PORT/socket?…`,
//!   the socket says `hello`, and the test pushes `slash_commands`,
//!   `events_api` and `interactive` envelopes; each acknowledgement is
//!   timed, and `events_api` envelopes not acknowledged in time are sent
//!   again with `retry_attempt` and `retry_reason`;
//! - the upload URL of `files.getUploadURLExternal`, and the `response_url`
//!   of slash commands and button presses;
//! - modals ([`views`]): `views.open` exchanges the `trigger_id` of a slash
//!   command or button press for a modal, the test submits or closes it as
//!   the person would, and the app's acknowledgement of the submission
//!   updates, closes or marks it with errors;
//!
//! over a small workspace ([`world`]) the test can add to and read back.
//! Faults ([`faults`]) can be set at any time. Payload shapes come from
//! Slack's documentation; [`payloads`] says which page each came from.
//!
//! With slack-morphism, point the client at [`SlackStandIn::api_url`] without
//! its final `/` (slack-morphism joins the base and the method with a `/`),
//! over a plain-HTTP connector, and give the Socket Mode listener
//! `max_connections_count(1)`: its default of two opens the second socket
//! five seconds late.

pub mod faults;
pub mod manifest;
pub mod payloads;
pub mod socket;
pub mod steps;
pub mod views;
pub mod web_api;
pub mod world;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};

pub use faults::Faults;
pub use manifest::Manifest;
pub use socket::{Envelope, SlashCommand};
pub use views::{View, ViewAnswer};
pub use world::*;

/// Every answer body the stand-in sends.
pub type Body = Full<Bytes>;

/// How the stand-in is set up. `StandInOptions::default()` is Slack as the
/// adapter will meet it, with the repository's manifest.
#[derive(Clone, Debug)]
pub struct StandInOptions {
    /// Grants the bot scopes and decides which events are delivered.
    pub manifest: Manifest,
    /// The only bot token (`xoxb-…`) the Web API accepts.
    pub bot_token: String,
    /// The only app-level token (`xapp-…`), for `apps.connections.open`.
    pub app_token: String,
    /// How long Slack waits for an acknowledgement: 3 seconds.
    pub ack_timeout: Duration,
    /// How many times an unacknowledged `events_api` envelope is sent again
    /// (Slack retries an event three times).
    pub max_redeliveries: u32,
    /// After `refresh_requested`, how long the old socket stays open.
    pub disconnect_grace: Duration,
    /// Send the events Slack sends when the workspace changes: a
    /// `member_joined_channel` when the bot invites someone or creates a
    /// channel, and a message event for each message the bot posts in a
    /// direct message or private channel (an app receives its own messages).
    pub world_events: bool,
    /// The workspace to start from.
    pub world: World,
}

impl Default for StandInOptions {
    fn default() -> Self {
        StandInOptions {
            manifest: Manifest::from_repo(),
            bot_token: "xoxb-0000000001-0000000002-standinBotToken".to_string(),
            app_token: "xapp-1-A0STANDIN1-0000000003-standinAppToken".to_string(),
            ack_timeout: Duration::from_secs(3),
            max_redeliveries: 3,
            disconnect_grace: Duration::from_millis(500),
            world_events: true,
            world: World::new(),
        }
    }
}

/// One Web API call, as the stand-in received and answered it.
#[derive(Clone, Debug)]
pub struct ApiCall {
    pub method: String,
    /// Query, form and JSON parameters together (form values as strings).
    pub params: Map<String, Value>,
    pub token: Option<String>,
    pub at: Instant,
    pub status: u16,
    pub answer: Value,
}

/// A reply to a slash command or button press: in the acknowledgement, or
/// POSTed to the `response_url`.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The `response_url`, or None for a reply in the acknowledgement.
    pub response_url: Option<String>,
    pub envelope_id: Option<String>,
    pub body: Value,
    pub at: Instant,
    /// False when Slack would have refused it (used more than five times,
    /// or after 30 minutes).
    pub accepted: bool,
}

impl Reply {
    /// Only the person who ran the command sees it (`response_type` absent
    /// or `ephemeral`, Slack's default).
    pub fn is_ephemeral(&self) -> bool {
        self.body.get("response_type").and_then(Value::as_str) != Some("in_channel")
    }

    pub fn text(&self) -> String {
        self.body
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

/// A `response_url` the stand-in handed out.
#[derive(Clone, Debug)]
pub struct ResponseUrl {
    pub created: Instant,
    pub uses: u32,
    pub envelope_id: String,
}

/// What a helper that changes the workspace caused.
#[derive(Clone, Debug, Default)]
pub struct Pushed {
    /// The new message's `ts`, when there is one.
    pub ts: Option<String>,
    /// The `event_id` of each event sent.
    pub event_ids: Vec<String>,
    /// The envelope of each event sent (more than one per event when
    /// duplicates are injected).
    pub envelope_ids: Vec<String>,
    /// Events Slack would not send the app, with why (not subscribed, no
    /// scope, not in the channel).
    pub suppressed: Vec<String>,
}

/// Everything the stand-in knows, behind one lock.
pub struct State {
    pub options: StandInOptions,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    pub world: World,
    pub faults: Faults,
    pub calls: Vec<ApiCall>,
    /// When each chat.postMessage was accepted, per channel.
    pub post_times: HashMap<String, Vec<Instant>>,
    pub socket: socket::SocketState,
    pub response_urls: HashMap<String, ResponseUrl>,
    pub replies: Vec<Reply>,
    /// Triggers, modals, and what the app did with them that Slack would
    /// have refused.
    pub views: views::ViewsState,
    pub tasks: Vec<AbortHandle>,
    serial: u64,
}

impl State {
    /// A number used once, for ids the workspace does not own.
    pub fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// Looks random enough for tickets, keys and envelope ids; tests need no
    /// more.
    pub fn token_hex(&mut self, len: usize) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
        let mut x = (self.next_serial().wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (nanos << 20)) | 1;
        let mut out = String::new();
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push_str(&format!("{x:016x}"));
        }
        out.truncate(len);
        out
    }

    pub fn spawn<F>(&mut self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task);
        self.tasks.push(handle.abort_handle());
    }
}

pub struct Inner {
    state: Mutex<State>,
}

impl Inner {
    /// The state. A test that panicked while holding the lock leaves it
    /// usable for the others.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub type Shared = Arc<Inner>;

/// A running stand-in. Dropping it stops the server and closes its sockets.
pub struct SlackStandIn {
    shared: Shared,
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Drop for SlackStandIn {
    fn drop(&mut self) {
        self.accept.abort();
        for task in self.shared.lock().tasks.drain(..) {
            task.abort();
        }
    }
}

impl SlackStandIn {
    /// Starts the stand-in on 127.0.0.1 and a free port.
    pub async fn start(options: StandInOptions) -> SlackStandIn {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the Slack stand-in should bind to 127.0.0.1");
        let addr = listener.local_addr().expect("a bound listener has an address");
        let world = options.world.clone();
        let shared = Arc::new(Inner {
            state: Mutex::new(State {
                options,
                base_url: format!("http://{addr}"),
                world,
                faults: Faults::default(),
                calls: Vec::new(),
                post_times: HashMap::new(),
                socket: socket::SocketState::default(),
                response_urls: HashMap::new(),
                replies: Vec::new(),
                views: views::ViewsState::default(),
                tasks: Vec::new(),
                serial: 0,
            }),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        SlackStandIn { shared, addr, accept }
    }

    /// Starts the stand-in as Slack with the repository's manifest.
    pub async fn start_default() -> SlackStandIn {
        SlackStandIn::start(StandInOptions::default()).await
    }

    // --- where it is ------------------------------------------------------

    /// `http://127.0.0.1:PORT/api/`, the base of the Web API, as Slack's
    /// `https://slack.com/api/`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn bot_token(&self) -> String {
        self.state().options.bot_token.clone()
    }

    pub fn app_token(&self) -> String {
        self.state().options.app_token.clone()
    }

    /// The state, for anything the helpers below do not cover. Do not hold
    /// it across an `.await`.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    /// Waits until `check` returns something, polling the state; None after
    /// `timeout`.
    pub async fn eventually<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&State) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = check(&self.shared.lock()) {
                return Some(found);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // --- the workspace ------------------------------------------------------

    pub fn add_user(&self, user: User) {
        self.state().world.users.push(user);
    }

    /// Adds a channel with these members (the bot among them if it should
    /// be) and returns its new `C…` id.
    pub fn add_channel(&self, name: &str, kind: ChannelKind, members: &[&str]) -> String {
        let mut st = self.state();
        let id = st.world.new_id('C');
        st.world.channels.push(Channel {
            id: id.clone(),
            name: Some(name.to_string()),
            kind,
            members: members.iter().map(|m| m.to_string()).collect(),
            archived: false,
            ext_shared: false,
            created: now_secs(),
            creator: LEAD.to_string(),
            im_user: None,
        });
        id
    }

    pub fn user(&self, id: &str) -> Option<User> {
        self.state().world.user(id).cloned()
    }

    pub fn channel(&self, id: &str) -> Option<Channel> {
        self.state().world.channel(id).cloned()
    }

    pub fn channel_named(&self, name: &str) -> Option<Channel> {
        self.state().world.channel_named(name).cloned()
    }

    /// Every channel and direct message.
    pub fn channels(&self) -> Vec<Channel> {
        self.state().world.channels.clone()
    }

    pub fn members(&self, channel: &str) -> Vec<String> {
        self.channel(channel).map(|c| c.members).unwrap_or_default()
    }

    /// The messages in a channel, oldest first (deleted ones are gone).
    pub fn messages(&self, channel: &str) -> Vec<Message> {
        self.state()
            .world
            .messages
            .iter()
            .filter(|m| m.channel == channel)
            .cloned()
            .collect()
    }

    /// Every message in the workspace, oldest first.
    pub fn all_messages(&self) -> Vec<Message> {
        self.state().world.messages.clone()
    }

    pub fn deleted_messages(&self) -> Vec<Message> {
        self.state().world.deleted_messages.clone()
    }

    pub fn files(&self) -> Vec<File> {
        self.state().world.files.clone()
    }

    /// The bot's direct message with `user`: the same `D…` id that
    /// conversations.open gives.
    pub fn dm_id(&self, user: &str) -> String {
        self.state().world.dm_with(user).0
    }

    /// `user` writes `text` in `channel` (a `D…` id for their DM with the
    /// bot). Sends `message.im` / `message.groups`, and `app_mention` when
    /// the text mentions the bot, as Slack would.
    pub fn post_user_message(&self, user: &str, channel: &str, text: &str) -> Pushed {
        let mut st = self.state();
        socket::user_message(&self.shared, &mut st, user, channel, text, None)
    }

    /// As [`post_user_message`](Self::post_user_message), as a reply in the
    /// thread of `thread_ts`.
    pub fn post_user_reply(&self, user: &str, channel: &str, thread_ts: &str, text: &str) -> Pushed {
        let mut st = self.state();
        socket::user_message(&self.shared, &mut st, user, channel, text, Some(thread_ts))
    }

    /// `user` reacts to the message `ts` with `reaction` (a name such as
    /// `white_check_mark` or `+1`); sends `reaction_added`.
    pub fn add_reaction(&self, user: &str, channel: &str, ts: &str, reaction: &str) -> Pushed {
        let mut st = self.state();
        socket::reaction(&self.shared, &mut st, user, channel, ts, reaction)
    }

    /// `user` is added to `channel` (by `inviter`, or joins); sends
    /// `member_joined_channel` if the bot is in the channel.
    pub fn add_to_channel(&self, user: &str, channel: &str, inviter: Option<&str>) -> Pushed {
        let mut st = self.state();
        socket::member_joined(&self.shared, &mut st, user, channel, inviter)
    }

    /// `user` leaves `channel`, or is removed; sends `member_left_channel`.
    pub fn remove_from_channel(&self, user: &str, channel: &str) -> Pushed {
        let mut st = self.state();
        socket::member_left(&self.shared, &mut st, user, channel)
    }

    /// A message `user` wrote in `channel` `ago` before now, delivered only
    /// now: its `ts` is when it was written, as when Slack sends again an
    /// event whose delivery failed (Slack retries after about a minute,
    /// then five).
    pub fn post_user_message_written_ago(
        &self,
        user: &str,
        channel: &str,
        text: &str,
        ago: Duration,
    ) -> Pushed {
        let mut st = self.state();
        let written = std::time::SystemTime::now() - ago;
        let since = written
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970");
        let serial = st.next_serial() % 1_000_000;
        let ts = format!("{}.{:06}", since.as_secs(), serial);
        socket::user_message_stamped(&self.shared, &mut st, user, channel, text, None, ts)
    }

    /// Waits until a socket is open (the client connected and got `hello`).
    pub async fn wait_for_socket(&self, timeout: Duration) -> bool {
        self.eventually(timeout, |st| {
            st.socket.connections.iter().any(|c| c.is_active()).then_some(())
        })
        .await
        .is_some()
    }

    /// `user` runs `/report` (the manifest's first command) with `text` in
    /// `channel`. With no socket open, Slack cannot deliver it: the envelope
    /// is marked `dispatch_failed`.
    pub fn push_slash_command(&self, user: &str, channel: &str, text: &str) -> SlashCommand {
        let mut st = self.state();
        let command = st
            .options
            .manifest
            .slash_commands
            .first()
            .cloned()
            .expect("the manifest should declare a slash command");
        socket::slash_command(&self.shared, &mut st, &command, user, channel, text)
    }

    /// `user` runs `command`, which must be in the manifest.
    pub fn push_named_command(&self, command: &str, user: &str, channel: &str, text: &str) -> SlashCommand {
        let mut st = self.state();
        socket::slash_command(&self.shared, &mut st, command, user, channel, text)
    }

    /// `user` presses the button `action_id` on the message `message_ts`
    /// (the bot's message must have it); sends an `interactive`
    /// `block_actions` envelope. Returns its envelope id.
    pub fn press_button(&self, user: &str, channel: &str, message_ts: &str, action_id: &str) -> String {
        let mut st = self.state();
        socket::button(&self.shared, &mut st, user, channel, message_ts, action_id)
    }

    // --- modals -------------------------------------------------------------

    /// `user` submits the modal `view_id` (it must be open and shown to
    /// them) with `answer` in its one `input` block; sends Slack's
    /// `view_submission` in an `interactive` envelope and returns its
    /// envelope id. The app's acknowledgement then decides what becomes of
    /// the modal (see [`wait_for_view_update`](Self::wait_for_view_update)).
    /// Panics if the view has no input block or more than one, or if the
    /// answer does not fit the input (text for radio buttons, an option it
    /// does not have, `Nothing` for a required input).
    pub fn submit_view(&self, user: &str, view_id: &str, answer: ViewAnswer) -> String {
        let mut st = self.state();
        views::submit(&self.shared, &mut st, user, view_id, answer)
    }

    /// `user` closes the modal `view_id` without submitting it. If the view
    /// asked for `notify_on_close`, sends `view_closed` and returns its
    /// envelope id.
    pub fn close_view(&self, user: &str, view_id: &str) -> Option<String> {
        let mut st = self.state();
        views::close(&self.shared, &mut st, user, view_id)
    }

    /// The modals opened for `user`, in opening order, open or not.
    pub fn views_of(&self, user: &str) -> Vec<View> {
        self.state()
            .views
            .views
            .iter()
            .filter(|v| v.user == user)
            .cloned()
            .collect()
    }

    pub fn view(&self, id: &str) -> Option<View> {
        self.state().views.views.iter().find(|v| v.id == id).cloned()
    }

    /// Waits until the modal `view_id` changes: a new hash (updated), closed,
    /// or errors shown. None if none of these within `timeout`.
    pub async fn wait_for_view_update(
        &self,
        view_id: &str,
        old_hash: &str,
        timeout: Duration,
    ) -> Option<View> {
        self.eventually(timeout, |st| {
            let view = st.views.views.iter().find(|v| v.id == view_id)?;
            (view.hash != old_hash || !view.open || view.errors.is_some()).then(|| view.clone())
        })
        .await
    }

    /// What the app did that Slack would have refused or ignored without
    /// failing the call: a `response_action` it would not take, or an
    /// answer to a submission after the ack timeout. Empty when all is well.
    pub fn problems(&self) -> Vec<String> {
        self.state().views.problems.clone()
    }

    /// Sends an event Slack would send (the inner `event` object), wrapped in
    /// `event_callback` and an `events_api` envelope, with no checks.
    pub fn push_event(&self, event: Value) -> Pushed {
        let mut st = self.state();
        socket::raw_event(&self.shared, &mut st, event)
    }

    /// Sends an envelope of `kind` with `payload` as it is, with no checks
    /// (a payload Slack might send that the client cannot read). Returns
    /// its id.
    pub fn push_envelope(&self, kind: &str, payload: Value) -> String {
        let mut st = self.state();
        socket::enqueue(&self.shared, &mut st, kind, payload, None)
    }

    /// Sends the event `event_id` again, in a new envelope with the same
    /// `event_id`, as Slack sometimes does. Returns the new envelope id.
    pub fn repeat_event(&self, event_id: &str) -> String {
        let mut st = self.state();
        socket::repeat_event(&self.shared, &mut st, event_id)
    }

    // --- faults -------------------------------------------------------------

    /// The next `times` calls of `method` fail with the Slack error `error`
    /// (`name_taken`, `restricted_action`, `user_is_restricted`,
    /// `not_in_channel`, `missing_scope`, …).
    pub fn fail_next(&self, method: &str, times: u32, error: &str) {
        self.state().faults.fail_next(method, times, error);
    }

    /// Every `conversations.invite` of `user` fails with the Slack error
    /// `error`, until the faults are cleared.
    pub fn fail_invites_of(&self, user: &str, error: &str) {
        self.state()
            .faults
            .invite_errors
            .insert(user.to_string(), error.to_string());
    }

    /// The next `times` calls of `method` answer 429 with `Retry-After`.
    pub fn rate_limit_next(&self, method: &str, times: u32, retry_after_secs: u64) {
        self.state()
            .faults
            .rate_limit_next(method, times, retry_after_secs);
    }

    /// Every call of `method` is answered `delay` late (zero to stop).
    pub fn delay(&self, method: &str, delay: Duration) {
        self.state().faults.delay(method, delay);
    }

    /// More than `posts` chat.postMessage calls to one channel within
    /// `window` get a 429 with `Retry-After: 1`.
    pub fn limit_post_burst(&self, posts: usize, window: Duration) {
        self.state().faults.post_burst = Some((posts, window));
    }

    /// Each of the next `events` events is delivered twice with the same
    /// `event_id`.
    pub fn duplicate_next_events(&self, events: u32) {
        self.state().faults.duplicate_events = events;
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Sends `disconnect` with `reason` on every open socket, then closes
    /// each after the grace period (`refresh_requested`: expect the client to
    /// call apps.connections.open again and reconnect).
    pub fn refresh_connections(&self) {
        let mut st = self.state();
        let grace = st.options.disconnect_grace;
        socket::disconnect_all(&self.shared, &mut st, "refresh_requested", Some(grace));
    }

    /// Sends `disconnect` with any `reason` (`warning`, `link_disabled`, …)
    /// on every open socket, and closes them after `close_after` if given.
    pub fn disconnect(&self, reason: &str, close_after: Option<Duration>) {
        let mut st = self.state();
        socket::disconnect_all(&self.shared, &mut st, reason, close_after);
    }

    /// Closes every socket with no `disconnect` first, as a network failure
    /// would.
    pub fn drop_connections(&self) {
        socket::close_all(&mut self.state());
    }

    // --- what happened ------------------------------------------------------

    pub fn calls(&self) -> Vec<ApiCall> {
        self.state().calls.clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<ApiCall> {
        self.state()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// When each chat.postMessage to `channel` was accepted.
    pub fn post_times(&self, channel: &str) -> Vec<Instant> {
        self.state().post_times.get(channel).cloned().unwrap_or_default()
    }

    /// The most chat.postMessage calls accepted for `channel` within any
    /// `window` (Slack allows about one per second per channel).
    pub fn most_posts_within(&self, channel: &str, window: Duration) -> usize {
        let times = self.post_times(channel);
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| t.duration_since(times[i]) < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Replies to slash commands and buttons, in the acknowledgement or
    /// through a `response_url`, in order.
    pub fn replies(&self) -> Vec<Reply> {
        let st = self.state();
        let mut replies: Vec<Reply> = st
            .socket
            .envelopes
            .iter()
            .filter(|e| e.kind == "slash_commands")
            .filter_map(|e| {
                let body = e.ack.as_ref()?.get("payload")?.clone();
                Some(Reply {
                    response_url: None,
                    envelope_id: Some(e.id.clone()),
                    body,
                    at: e.acked_at?,
                    accepted: true,
                })
            })
            .collect();
        replies.extend(st.replies.iter().cloned());
        replies.sort_by_key(|r| r.at);
        replies
    }

    /// Times apps.connections.open was answered with a socket URL.
    pub fn connections_opened(&self) -> usize {
        self.state().socket.opens
    }

    /// Sockets that connected, open or not.
    pub fn sockets_connected(&self) -> usize {
        self.state().socket.connections.len()
    }

    /// Sockets open now and not asked to refresh.
    pub fn active_sockets(&self) -> usize {
        self.state()
            .socket
            .connections
            .iter()
            .filter(|c| c.is_active())
            .count()
    }

    pub fn envelopes(&self) -> Vec<Envelope> {
        self.state().socket.envelopes.clone()
    }

    pub fn envelope(&self, envelope_id: &str) -> Option<Envelope> {
        self.state()
            .socket
            .envelopes
            .iter()
            .find(|e| e.id == envelope_id)
            .cloned()
    }

    /// Waits for the acknowledgement of `envelope_id` and returns how long
    /// after its first delivery it came; None if none came within `timeout`.
    pub async fn wait_for_ack(&self, envelope_id: &str, timeout: Duration) -> Option<Duration> {
        self.eventually(timeout, |st| {
            st.socket
                .envelopes
                .iter()
                .find(|e| e.id == envelope_id)
                .and_then(Envelope::ack_latency)
        })
        .await
    }

    /// Envelopes acknowledged later than the ack timeout (3 s), or not at
    /// all though delivered longer ago than that: `(envelope id, latency)`.
    pub fn late_or_missing_acks(&self) -> Vec<(String, Option<Duration>)> {
        let st = self.state();
        let limit = st.options.ack_timeout;
        st.socket
            .envelopes
            .iter()
            .filter_map(|e| {
                let first = e.deliveries.first()?;
                match e.ack_latency() {
                    Some(latency) if latency <= limit => None,
                    Some(latency) => Some((e.id.clone(), Some(latency))),
                    None if first.at.elapsed() > limit => Some((e.id.clone(), None)),
                    None => None,
                }
            })
            .collect()
    }
}

async fn accept_loop(listener: TcpListener, shared: Shared) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let for_service = shared.clone();
        let connection = async move {
            let service = service_fn(move |req| route(for_service.clone(), req));
            // A client that hangs up mid-request is not the test's concern.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        };
        shared.lock().spawn(connection);
    }
}

async fn route(shared: Shared, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let answer = if let Some(method) = path.strip_prefix("/api/") {
        web_api::handle(shared, method.to_string(), req).await
    } else if path == "/socket" {
        socket::upgrade(shared, req)
    } else if let Some(key) = path.strip_prefix("/upload/v1/") {
        web_api::upload(shared, key.to_string(), req).await
    } else if path.starts_with("/response/") {
        web_api::response_url(shared, req).await
    } else {
        text_response(StatusCode::NOT_FOUND, "not found")
    };
    Ok(answer)
}

pub fn text_response(status: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(text.to_string())))
        .expect("a plain text answer is a valid response")
}
