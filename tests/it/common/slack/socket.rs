//! Socket Mode: tickets from `apps.connections.open`, the WebSocket itself,
//! envelopes and their acknowledgements, redelivery, `disconnect`, and the
//! events that changes to the workspace cause.
//!
//! As Slack does (docs.slack.dev/apis/events-api/using-socket-mode):
//! - each socket gets `hello` first;
//! - each envelope goes to one open socket (round robin here) and waits
//!   there for an acknowledgement, `{"envelope_id": …, "payload": …}`;
//! - an event pushed while no socket is open waits for the next one (Slack
//!   retries events; here the retry comes as soon as a socket opens), but a
//!   slash command or button press then fails at once (`dispatch_failed`:
//!   the person sees an error), so wait for a socket before pushing one;
//! - an `events_api` envelope not acknowledged within the ack timeout (3 s)
//!   is sent again, with `retry_attempt` counting up and `retry_reason`
//!   `timeout`, up to three times. Slash commands and button presses are
//!   not sent again: Slack shows the person an error instead;
//! - a socket that was sent `disconnect` gets no more envelopes;
//! - slash commands and button presses carry a `trigger_id` for views.open
//!   (see [`super::views`]), and the acknowledgement of a `view_submission`
//!   decides what becomes of the modal.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::upgrade::Upgraded;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;

use super::manifest::scope_for_event;
use super::payloads;
use super::views::{self, new_trigger_id};
use super::world::{now_secs, Channel, ChannelKind, Message, APP_ID, BOT_USER_ID, TEAM_ID};
use super::{text_response, Body, Pushed, ResponseUrl, Shared, State};

#[derive(Debug, Default)]
pub struct SocketState {
    /// Tickets handed out by apps.connections.open, and whether each was
    /// used (a ticket opens one socket).
    pub tickets: HashMap<String, bool>,
    /// Successful apps.connections.open calls.
    pub opens: usize,
    pub connections: Vec<Connection>,
    pub envelopes: Vec<Envelope>,
    /// Frames from the client that acknowledged nothing known.
    pub stray_frames: Vec<String>,
    next_connection: u64,
    round_robin: usize,
}

#[derive(Debug)]
pub struct Connection {
    pub id: u64,
    pub opened_at: Instant,
    /// Sent `disconnect`: gets no more envelopes.
    pub draining: bool,
    pub closed: bool,
    tx: mpsc::UnboundedSender<Outgoing>,
}

impl Connection {
    pub fn is_active(&self) -> bool {
        !self.draining && !self.closed
    }
}

#[derive(Debug)]
enum Outgoing {
    Text(String),
    Close,
}

/// One envelope and what became of it.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub id: String,
    /// `events_api`, `slash_commands` or `interactive`.
    pub kind: String,
    pub payload: Value,
    pub event_id: Option<String>,
    pub created_at: Instant,
    pub deliveries: Vec<Delivery>,
    pub acked_at: Option<Instant>,
    /// The acknowledgement frame as received.
    pub ack: Option<Value>,
    pub acked_on: Option<u64>,
    /// Acknowledgements after the first.
    pub extra_acks: u32,
    pub awaiting_delivery: bool,
    /// A slash command or button press pushed while no socket was open:
    /// never delivered.
    pub dispatch_failed: bool,
}

impl Envelope {
    /// From the first delivery to the acknowledgement.
    pub fn ack_latency(&self) -> Option<Duration> {
        Some(self.acked_at?.duration_since(self.deliveries.first()?.at))
    }

    /// The `payload` of the acknowledgement, if it had one.
    pub fn ack_payload(&self) -> Option<Value> {
        self.ack.as_ref()?.get("payload").cloned()
    }
}

#[derive(Clone, Debug)]
pub struct Delivery {
    pub at: Instant,
    pub connection: u64,
    pub retry_attempt: u32,
}

/// A slash command the test ran.
#[derive(Clone, Debug)]
pub struct SlashCommand {
    pub envelope_id: String,
    pub response_url: String,
    pub trigger_id: String,
}

/// apps.connections.open: a new single-use ticket and its socket URL.
pub fn open_ticket(st: &mut State) -> String {
    let ticket = st.token_hex(32);
    st.socket.tickets.insert(ticket.clone(), false);
    st.socket.opens += 1;
    let host = st.base_url.trim_start_matches("http://").to_string();
    format!("ws://{host}/socket?ticket={ticket}&app_id={APP_ID}")
}

/// GET /socket?ticket=…: the WebSocket handshake, then the socket.
pub fn upgrade(shared: Shared, req: Request<Incoming>) -> Response<Body> {
    let ticket = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "ticket")
            .map(|(_, v)| v.into_owned())
    });
    {
        let mut st = shared.lock();
        match ticket.as_ref().and_then(|t| st.socket.tickets.get_mut(t)) {
            Some(used) if !*used => *used = true,
            _ => return text_response(StatusCode::UNAUTHORIZED, "invalid_ticket"),
        }
    }
    let is_websocket = req
        .headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec())
    else {
        return text_response(StatusCode::BAD_REQUEST, "not a WebSocket handshake");
    };
    if !is_websocket {
        return text_response(StatusCode::BAD_REQUEST, "not a WebSocket handshake");
    }
    let accept = derive_accept_key(&key);
    let on_upgrade = hyper::upgrade::on(req);
    let for_task = shared.clone();
    shared.lock().spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            run(for_task, ws).await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", accept)
        .body(Full::new(Bytes::new()))
        .expect("a handshake answer is a valid response")
}

async fn run(shared: Shared, ws: WebSocketStream<TokioIo<Upgraded>>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let id = register(&shared, &mut shared.lock(), tx);
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outgoing::Text(text)) => {
                    if sink.send(Frame::text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close) | None => {
                    let _ = sink.send(Frame::Close(None)).await;
                    let _ = sink.close().await;
                    break;
                }
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Frame::Text(text))) => {
                    on_frame(&mut shared.lock(), id, text.as_str());
                }
                Some(Ok(Frame::Ping(data))) => {
                    if sink.send(Frame::Pong(data)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    if let Some(c) = shared.lock().socket.connections.iter_mut().find(|c| c.id == id) {
        c.closed = true;
    }
}

fn register(shared: &Shared, st: &mut State, tx: mpsc::UnboundedSender<Outgoing>) -> u64 {
    st.socket.next_connection += 1;
    let id = st.socket.next_connection;
    let open = st.socket.connections.iter().filter(|c| c.is_active()).count() + 1;
    // The channel keeps order: hello goes out before any envelope.
    let _ = tx.send(Outgoing::Text(payloads::hello(open).to_string()));
    st.socket.connections.push(Connection {
        id,
        opened_at: Instant::now(),
        draining: false,
        closed: false,
        tx,
    });
    deliver_pending(shared, st);
    id
}

/// A frame from the client: an acknowledgement, or something stray.
fn on_frame(st: &mut State, connection: u64, text: &str) {
    let frame: Option<Value> = serde_json::from_str(text).ok();
    let id = frame
        .as_ref()
        .and_then(|f| f.get("envelope_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let envelope = id
        .as_ref()
        .and_then(|id| st.socket.envelopes.iter_mut().find(|e| &e.id == id));
    match (envelope, frame) {
        (Some(envelope), Some(frame)) => {
            if envelope.acked_at.is_none() {
                envelope.acked_at = Some(Instant::now());
                envelope.ack = Some(frame);
                envelope.acked_on = Some(connection);
                let envelope_id = envelope.id.clone();
                // A view_submission's acknowledgement says what becomes of
                // the modal.
                views::on_ack(st, &envelope_id);
            } else {
                envelope.extra_acks += 1;
            }
        }
        _ => st.socket.stray_frames.push(text.to_string()),
    }
}

/// Queues an envelope and sends it if a socket is open. Returns its id.
pub fn enqueue(
    shared: &Shared,
    st: &mut State,
    kind: &str,
    payload: Value,
    event_id: Option<String>,
) -> String {
    let hex = st.token_hex(32);
    let id = format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..15],
        &hex[15..18],
        &hex[18..30]
    );
    let dispatch_failed = kind != "events_api" && !st.socket.connections.iter().any(Connection::is_active);
    st.socket.envelopes.push(Envelope {
        id: id.clone(),
        kind: kind.to_string(),
        payload,
        event_id,
        created_at: Instant::now(),
        deliveries: Vec::new(),
        acked_at: None,
        ack: None,
        acked_on: None,
        extra_acks: 0,
        awaiting_delivery: !dispatch_failed,
        dispatch_failed,
    });
    deliver_pending(shared, st);
    id
}

/// Sends every envelope that awaits delivery, while a socket is open.
fn deliver_pending(shared: &Shared, st: &mut State) {
    let waiting: Vec<usize> = (0..st.socket.envelopes.len())
        .filter(|&i| st.socket.envelopes[i].awaiting_delivery)
        .collect();
    for i in waiting {
        let active: Vec<usize> = (0..st.socket.connections.len())
            .filter(|&c| st.socket.connections[c].is_active())
            .collect();
        if active.is_empty() {
            return;
        }
        st.socket.round_robin = st.socket.round_robin.wrapping_add(1);
        let connection = &st.socket.connections[active[st.socket.round_robin % active.len()]];
        let (connection_id, tx) = (connection.id, connection.tx.clone());
        let envelope = &mut st.socket.envelopes[i];
        let attempt = envelope.deliveries.len() as u32;
        let is_event = envelope.kind == "events_api";
        let retry = is_event.then_some((attempt, if attempt == 0 { "" } else { "timeout" }));
        let frame = payloads::envelope(&envelope.kind, &envelope.id, &envelope.payload, !is_event, retry);
        if tx.send(Outgoing::Text(frame.to_string())).is_err() {
            // The socket's task has ended; it will be marked closed.
            if let Some(c) = st.socket.connections.iter_mut().find(|c| c.id == connection_id) {
                c.closed = true;
            }
            continue;
        }
        envelope.awaiting_delivery = false;
        envelope.deliveries.push(Delivery {
            at: Instant::now(),
            connection: connection_id,
            retry_attempt: attempt,
        });
        let envelope_id = envelope.id.clone();
        st.spawn(ack_timer(shared.clone(), envelope_id, attempt));
    }
}

/// After the ack timeout: an `events_api` envelope still unacknowledged is
/// sent again.
async fn ack_timer(shared: Shared, envelope_id: String, attempt: u32) {
    let wait = shared.lock().options.ack_timeout;
    tokio::time::sleep(wait).await;
    let mut st = shared.lock();
    let max = st.options.max_redeliveries;
    let Some(envelope) = st.socket.envelopes.iter_mut().find(|e| e.id == envelope_id) else {
        return;
    };
    let current = envelope.deliveries.len() as u32 == attempt + 1 && !envelope.awaiting_delivery;
    if envelope.acked_at.is_none() && current && envelope.kind == "events_api" && attempt < max {
        envelope.awaiting_delivery = true;
        deliver_pending(&shared, &mut st);
    }
}

/// Sends `disconnect` on every active socket; closes each after
/// `close_after`, if given.
pub fn disconnect_all(shared: &Shared, st: &mut State, reason: &str, close_after: Option<Duration>) {
    let frame = payloads::disconnect(reason).to_string();
    let mut ids = Vec::new();
    for c in st.socket.connections.iter_mut().filter(|c| c.is_active()) {
        let _ = c.tx.send(Outgoing::Text(frame.clone()));
        c.draining = true;
        ids.push(c.id);
    }
    if let Some(after) = close_after {
        for id in ids {
            let shared = shared.clone();
            st.spawn(async move {
                tokio::time::sleep(after).await;
                if let Some(c) = shared.lock().socket.connections.iter().find(|c| c.id == id) {
                    let _ = c.tx.send(Outgoing::Close);
                }
            });
        }
    }
}

/// Closes every socket without a word.
pub fn close_all(st: &mut State) {
    for c in st.socket.connections.iter_mut().filter(|c| !c.closed) {
        let _ = c.tx.send(Outgoing::Close);
        c.draining = true;
    }
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// Sends `event` as the subscription `subscription` (`message.im`,
/// `app_mention`, …) if Slack would: the manifest subscribes to it, grants
/// its scope, and the bot is in the channel.
fn deliver_event(
    shared: &Shared,
    st: &mut State,
    subscription: &str,
    channel: &Channel,
    event: Value,
    pushed: &mut Pushed,
) {
    let manifest = &st.options.manifest;
    let scope = scope_for_event(subscription, channel.kind);
    let refusal = if !manifest.subscribes_to(subscription) {
        Some(format!("{subscription}: not in the manifest's bot_events"))
    } else if !manifest.has_scope(scope) {
        Some(format!("{subscription}: the manifest lacks {scope}"))
    } else if !channel.has_member(BOT_USER_ID) {
        Some(format!("{subscription}: the bot is not in {}", channel.id))
    } else {
        None
    };
    match refusal {
        Some(why) => pushed.suppressed.push(why),
        None => send_event(shared, st, event, channel.ext_shared, pushed),
    }
}

/// Wraps `event` in `event_callback` and sends it, twice when a duplicate
/// is due.
fn send_event(shared: &Shared, st: &mut State, event: Value, ext_shared: bool, pushed: &mut Pushed) {
    let event_id = format!("Ev0SI{:07}", st.next_serial());
    let payload = payloads::event_callback(event, &event_id, now_secs(), ext_shared);
    let envelope = enqueue(shared, st, "events_api", payload.clone(), Some(event_id.clone()));
    pushed.event_ids.push(event_id.clone());
    pushed.envelope_ids.push(envelope);
    if st.faults.duplicate_events > 0 {
        st.faults.duplicate_events -= 1;
        let again = enqueue(shared, st, "events_api", payload, Some(event_id));
        pushed.envelope_ids.push(again);
    }
}

fn subscription_for_message(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Im => "message.im",
        ChannelKind::Private => "message.groups",
        ChannelKind::Public => "message.channels",
    }
}

pub fn user_message(
    shared: &Shared,
    st: &mut State,
    user: &str,
    channel_id: &str,
    text: &str,
    thread_ts: Option<&str>,
) -> Pushed {
    let ts = st.world.new_ts();
    user_message_stamped(shared, st, user, channel_id, text, thread_ts, ts)
}

/// As [`user_message`], for a message Slack stamped `ts` (a message
/// written earlier, delivered only now).
pub fn user_message_stamped(
    shared: &Shared,
    st: &mut State,
    user: &str,
    channel_id: &str,
    text: &str,
    thread_ts: Option<&str>,
    ts: String,
) -> Pushed {
    let author = st
        .world
        .user(user)
        .cloned()
        .unwrap_or_else(|| panic!("the stand-in has no user {user}"));
    let channel = st
        .world
        .channel(channel_id)
        .cloned()
        .unwrap_or_else(|| panic!("the stand-in has no channel {channel_id}"));
    assert!(
        channel.has_member(user),
        "{user} is not in {channel_id}, so cannot write there"
    );
    let message = Message {
        channel: channel.id.clone(),
        ts: ts.clone(),
        user: user.to_string(),
        from_bot: false,
        text: Some(text.to_string()),
        blocks: None,
        thread_ts: thread_ts.map(str::to_string),
        files: Vec::new(),
        reactions: Vec::new(),
        edited: false,
    };
    st.world.messages.push(message.clone());
    let mut pushed = Pushed {
        ts: Some(ts),
        ..Pushed::default()
    };
    let mut event = payloads::user_message_event(&message, &channel, &author);
    if let Some(thread_ts) = thread_ts {
        event["thread_ts"] = json!(thread_ts);
    }
    let subscription = subscription_for_message(channel.kind);
    deliver_event(shared, st, subscription, &channel, event, &mut pushed);
    // In a channel, a mention of the bot is also an `app_mention` (a
    // separate event). In a direct message it is not.
    if channel.kind != ChannelKind::Im && text.contains(&format!("<@{BOT_USER_ID}>")) {
        let event = payloads::app_mention_event(&message, &channel, &author);
        deliver_event(shared, st, "app_mention", &channel, event, &mut pushed);
    }
    pushed
}

/// The event for a message the bot posted (Slack sends an app its own
/// messages), when world events are on.
pub fn bot_message(shared: &Shared, st: &mut State, message: &Message) -> Pushed {
    let mut pushed = Pushed {
        ts: Some(message.ts.clone()),
        ..Pushed::default()
    };
    if !st.options.world_events {
        return pushed;
    }
    let Some(channel) = st.world.channel(&message.channel).cloned() else {
        return pushed;
    };
    let event = payloads::bot_message_event(message, &channel);
    let subscription = subscription_for_message(channel.kind);
    deliver_event(shared, st, subscription, &channel, event, &mut pushed);
    pushed
}

pub fn reaction(
    shared: &Shared,
    st: &mut State,
    user: &str,
    channel_id: &str,
    ts: &str,
    reaction: &str,
) -> Pushed {
    let channel = st
        .world
        .channel(channel_id)
        .cloned()
        .unwrap_or_else(|| panic!("the stand-in has no channel {channel_id}"));
    let message = st
        .world
        .message_mut(channel_id, ts)
        .unwrap_or_else(|| panic!("no message {ts} in {channel_id}"));
    message.reactions.push((reaction.to_string(), user.to_string()));
    let item_user = message.user.clone();
    let event_ts = st.world.new_ts();
    let event = payloads::reaction_added_event(user, reaction, Some(&item_user), &channel, ts, &event_ts);
    let mut pushed = Pushed::default();
    deliver_event(shared, st, "reaction_added", &channel, event, &mut pushed);
    pushed
}

pub fn member_joined(
    shared: &Shared,
    st: &mut State,
    user: &str,
    channel_id: &str,
    inviter: Option<&str>,
) -> Pushed {
    let channel = {
        let channel = st
            .world
            .channel_mut(channel_id)
            .unwrap_or_else(|| panic!("the stand-in has no channel {channel_id}"));
        if !channel.has_member(user) {
            channel.members.push(user.to_string());
        }
        channel.clone()
    };
    let event_ts = st.world.new_ts();
    let event = payloads::member_joined_channel_event(user, &channel, inviter, &event_ts);
    let mut pushed = Pushed::default();
    deliver_event(shared, st, "member_joined_channel", &channel, event, &mut pushed);
    pushed
}

/// `user` leaves `channel_id` (or is removed by someone): Slack sends
/// `member_left_channel`.
pub fn member_left(shared: &Shared, st: &mut State, user: &str, channel_id: &str) -> Pushed {
    let channel = {
        let channel = st
            .world
            .channel_mut(channel_id)
            .unwrap_or_else(|| panic!("the stand-in has no channel {channel_id}"));
        channel.members.retain(|m| m != user);
        channel.clone()
    };
    let event_ts = st.world.new_ts();
    let event = payloads::member_left_channel_event(user, &channel, &event_ts);
    let mut pushed = Pushed::default();
    deliver_event(shared, st, "member_left_channel", &channel, event, &mut pushed);
    pushed
}

/// A `member_left_channel` for a removal the bot made (conversations.kick),
/// when world events are on.
pub fn bot_caused_leave(shared: &Shared, st: &mut State, user: &str, channel: &Channel) {
    if !st.options.world_events {
        return;
    }
    let event_ts = st.world.new_ts();
    let event = payloads::member_left_channel_event(user, channel, &event_ts);
    let mut pushed = Pushed::default();
    deliver_event(shared, st, "member_left_channel", channel, event, &mut pushed);
}

/// A `member_joined_channel` for a join the bot caused (invite, or creating
/// the channel), when world events are on.
pub fn bot_caused_join(
    shared: &Shared,
    st: &mut State,
    user: &str,
    channel: &Channel,
    inviter: Option<&str>,
) {
    if !st.options.world_events {
        return;
    }
    let event_ts = st.world.new_ts();
    let event = payloads::member_joined_channel_event(user, channel, inviter, &event_ts);
    let mut pushed = Pushed::default();
    deliver_event(shared, st, "member_joined_channel", channel, event, &mut pushed);
}

fn new_response_url(st: &mut State, kind: &str) -> String {
    let serial = st.next_serial();
    let key = st.token_hex(24);
    let owner = if kind == "actions" { APP_ID } else { TEAM_ID };
    format!("{}/response/{kind}/{owner}/{serial}/{key}", st.base_url)
}

pub fn slash_command(
    shared: &Shared,
    st: &mut State,
    command: &str,
    user: &str,
    channel_id: &str,
    text: &str,
) -> SlashCommand {
    assert!(
        st.options.manifest.slash_commands.iter().any(|c| c == command),
        "{command} is not in the manifest, so Slack would not send it"
    );
    let author = st
        .world
        .user(user)
        .cloned()
        .unwrap_or_else(|| panic!("the stand-in has no user {user}"));
    let channel = st
        .world
        .channel(channel_id)
        .cloned()
        .unwrap_or_else(|| panic!("the stand-in has no channel {channel_id}"));
    let response_url = new_response_url(st, "commands");
    let trigger_id = new_trigger_id(st, user);
    let payload = payloads::slash_command(
        &author,
        &channel.id,
        &payloads::channel_name_for_payload(&channel),
        command,
        text,
        &response_url,
        &trigger_id,
    );
    let envelope_id = enqueue(shared, st, "slash_commands", payload, None);
    st.response_urls.insert(
        response_url.clone(),
        ResponseUrl {
            created: Instant::now(),
            uses: 0,
            envelope_id: envelope_id.clone(),
        },
    );
    SlashCommand {
        envelope_id,
        response_url,
        trigger_id,
    }
}

/// Finds the button `action_id` in a message's blocks: its block id, text
/// and value.
fn find_button(blocks: &Value, action_id: &str) -> Option<(String, String, Option<String>)> {
    for block in blocks.as_array()? {
        let block_id = block
            .get("block_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut candidates: Vec<&Value> = block
            .get("elements")
            .and_then(Value::as_array)
            .map(|e| e.iter().collect())
            .unwrap_or_default();
        if let Some(accessory) = block.get("accessory") {
            candidates.push(accessory);
        }
        for element in candidates {
            if element.get("action_id").and_then(Value::as_str) == Some(action_id) {
                let text = element
                    .pointer("/text/text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let value = element.get("value").and_then(Value::as_str).map(str::to_string);
                return Some((block_id, text, value));
            }
        }
    }
    None
}

pub fn button(
    shared: &Shared,
    st: &mut State,
    user: &str,
    channel_id: &str,
    message_ts: &str,
    action_id: &str,
) -> String {
    assert!(
        st.options.manifest.interactivity,
        "interactivity is off in the manifest, so Slack would not send button presses"
    );
    let author = st
        .world
        .user(user)
        .cloned()
        .unwrap_or_else(|| panic!("the stand-in has no user {user}"));
    let channel = st
        .world
        .channel(channel_id)
        .cloned()
        .unwrap_or_else(|| panic!("the stand-in has no channel {channel_id}"));
    let message = st
        .world
        .message(channel_id, message_ts)
        .cloned()
        .unwrap_or_else(|| panic!("no message {message_ts} in {channel_id}"));
    let (block_id, text, value) = message
        .blocks
        .as_ref()
        .and_then(|blocks| find_button(blocks, action_id))
        .unwrap_or_else(|| panic!("message {message_ts} has no button {action_id}"));
    let response_url = new_response_url(st, "actions");
    let trigger_id = new_trigger_id(st, user);
    let action_ts = st.world.new_ts();
    let payload = payloads::block_actions(
        &author,
        &channel,
        &payloads::message_object(&message),
        message_ts,
        &block_id,
        action_id,
        &text,
        value.as_deref(),
        &response_url,
        &trigger_id,
        &action_ts,
    );
    let envelope_id = enqueue(shared, st, "interactive", payload, None);
    st.response_urls.insert(
        response_url,
        ResponseUrl {
            created: Instant::now(),
            uses: 0,
            envelope_id: envelope_id.clone(),
        },
    );
    envelope_id
}

pub fn raw_event(shared: &Shared, st: &mut State, event: Value) -> Pushed {
    let mut pushed = Pushed::default();
    send_event(shared, st, event, false, &mut pushed);
    pushed
}

pub fn repeat_event(shared: &Shared, st: &mut State, event_id: &str) -> String {
    let payload = st
        .socket
        .envelopes
        .iter()
        .find(|e| e.event_id.as_deref() == Some(event_id))
        .map(|e| e.payload.clone())
        .unwrap_or_else(|| panic!("no event {event_id} was sent"));
    enqueue(shared, st, "events_api", payload, Some(event_id.to_string()))
}
