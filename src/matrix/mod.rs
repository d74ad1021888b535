//! The Matrix adapter: events in, the core decides, actions out.
//!
//! - [`session`]: log in once, keep the session and the SDK's crypto store
//!   under the data directory, restore them on restart (one device for life).
//! - the sync loop here: our own `sync_once` loop, so a reply goes out as soon
//!   as the homeserver has the message, with backoff only on errors.
//! - event handlers only turn an event into an [`Inbound`], keep it in the
//!   store's inbox (so a crash loses nothing) and queue it; one worker per
//!   sender handles that sender's events in order, so one slow conversation
//!   never holds up another.
//! - [`compose`]: every message the bot sends, as pure functions.
//! - health: counters for `/metrics` where pages go out, acknowledgements
//!   come in and syncs fail; the optional listener (see [`crate::health`])
//!   started here; and the self-watch, which logs when the homeserver is
//!   out of reach too long and tells the leads' room when it is back.

mod casework;
pub mod compose;
mod session;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::event_handler::Ctx;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::api::client::room::create_room::v3::{Request as CreateRoomRequest, RoomPreset};
use matrix_sdk::ruma::events::reaction::OriginalSyncReactionEvent;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::member::{MembershipState, StrippedRoomMemberEvent};
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, RoomMessageEventContent,
};
use matrix_sdk::ruma::events::{InitialStateEvent, Mentions};
use matrix_sdk::ruma::{OwnedRoomId, OwnedTransactionId, OwnedUserId, RoomId, TransactionId, UserId};
use matrix_sdk::Client;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use crate::concern::Reference;
use crate::config::Config;
use crate::escalation::policy::{self, Decision, Policy};
use crate::escalation::rota::{self, Rota};
use crate::escalation::timer::{SystemClock, Timer};
use crate::escalation::{self, AckDecision, Escalation};
use crate::flow::Flow;
use crate::health::{self, Metrics, SelfWatch};
use crate::intake::{self, Outgoing};
use crate::store::{Store, Tree};
use compose::Text;

/// An event the bot must handle, as kept in the inbox until it is handled.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Inbound {
    pub event_id: String,
    pub room_id: String,
    pub sender: String,
    pub kind: InboundKind,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum InboundKind {
    Text {
        body: String,
        mentions_bot: bool,
    },
    Attachment,
    /// Any ✅ or 👍 in a concern's room acknowledges, whichever message it is on.
    Reaction {
        key: String,
    },
}

/// Work for one sender's worker.
enum Work {
    Event(Inbound),
    CheckUnfinished,
    /// An escalation's deadline came, for this generation of its state.
    Deadline {
        reference: Reference,
        generation: u64,
    },
    /// Something changed (the rota): decide the escalation again.
    Recheck {
        reference: Reference,
    },
}

/// The worker key for everything about one escalation, so an
/// acknowledgement and a deadline for it are never handled at once.
fn escalation_key(reference: &Reference) -> String {
    format!("escalation:{reference}")
}

/// What every handler shares.
struct Bot {
    client: Client,
    config: Config,
    flow: Flow,
    store: Store,
    staff_rooms: Vec<OwnedRoomId>,
    /// `[safeguarding] leads_room`, if set and found.
    leads_room: Option<OwnedRoomId>,
    queue: mpsc::UnboundedSender<(String, Work)>,
    policy: Policy,
    /// Owns every escalation deadline; fires into the queue.
    timer: Timer,
    /// One lock per concern's escalation, held while its state is read,
    /// acted on and written: an acknowledgement, a deadline and the first
    /// page never interleave, so exactly one outcome stands.
    escalation_locks: std::sync::Mutex<HashMap<Reference, Arc<tokio::sync::Mutex<()>>>>,
    /// Counters for `/metrics`.
    metrics: Arc<Metrics>,
    /// Notices when the homeserver has been out of reach too long.
    watch: SelfWatch,
}

/// How long a sync waits for news before the homeserver answers empty.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// `/healthz` says ok while the last sync finished within this: two quiet
/// syncs and some slack.
const SYNC_WINDOW: Duration = Duration::from_secs(2 * 30 + 30);

/// The store as `/healthz` and `/metrics` see it: through the bot, once
/// there is one, held weakly so the listener never keeps the store open.
#[derive(Default)]
struct BotProbe(std::sync::OnceLock<Weak<Bot>>);

impl BotProbe {
    fn bot(&self) -> Result<Arc<Bot>, String> {
        self.0
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| "the bot is starting or stopping".to_string())
    }
}

impl health::Probe for BotProbe {
    fn store_writable(&self) -> Result<(), String> {
        self.bot()?.store.health_check().map_err(|e| e.to_string())
    }

    fn concern_states(&self) -> Result<Vec<crate::concern::Status>, String> {
        let concerns = self.bot()?.store.list_concerns().map_err(|e| e.to_string())?;
        Ok(concerns.into_iter().map(|c| c.status).collect())
    }
}

/// Runs the bot until `shutdown` turns true.
pub async fn run(
    config: Config,
    flow: Flow,
    store: Store,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // Listen before logging in, so a port already taken stops the bot at once.
    let metrics = Arc::new(Metrics::default());
    let probe = Arc::new(BotProbe::default());
    let health_server = match config.health.listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!("could not listen on {addr} for /healthz and /metrics ([health] listen in the config); if another program has that port, choose another or leave listen out")
            })?;
            info!(address = %addr, "serving /healthz and /metrics");
            let state = health::Health {
                metrics: metrics.clone(),
                probe: probe.clone(),
                sync_window: SYNC_WINDOW,
            };
            let server = health::serve(listener, Arc::new(state), shutdown.clone());
            Some(tokio::spawn(server))
        }
        None => None,
    };
    let passphrase = store.derived_secret("matrix-sdk-store");
    let (client, first_login) = session::connect(&config, &passphrase).await?;
    let bot_id = client
        .user_id()
        .context("the bot has no user id after logging in")?
        .to_owned();
    info!(user = %bot_id, device = ?client.device_id(), "logged in");

    if first_login {
        // A new bot skips what was said before it existed; after this, the
        // saved sync position means nothing sent while it is down is missed.
        client
            .sync_once(SyncSettings::default())
            .await
            .context("the first sync with the homeserver failed")?;
        metrics.synced(Utc::now());
    }

    let staff_rooms = resolve_staff_rooms(&client, &config).await;
    let leads_room = match &config.safeguarding.leads_room {
        Some(name) => resolve_room(&client, name).await,
        None => None,
    };
    let policy = Policy::from_config(&config.safeguarding);
    let unreachable_after = config.health.unreachable_alert_after;
    let (queue_tx, queue_rx) = mpsc::unbounded_channel();
    let bot = Arc::new(Bot {
        client: client.clone(),
        config,
        flow,
        store,
        staff_rooms,
        leads_room,
        queue: queue_tx,
        policy,
        timer: Timer::new(SystemClock),
        escalation_locks: Default::default(),
        watch: SelfWatch::new(unreachable_after, Utc::now()),
        metrics,
    });
    let _ = probe.0.set(Arc::downgrade(&bot));
    // Handlers hold the bot weakly: the client must not keep the bot (and
    // its store) alive once `run` has returned.
    client.add_event_handler_context(Arc::downgrade(&bot));
    client.add_event_handler(on_message);
    client.add_event_handler(on_reaction);
    client.add_event_handler(on_invite);

    let dispatcher = tokio::spawn(dispatch(bot.clone(), queue_rx, shutdown.clone()));
    replay_inbox(&bot);
    // Every pending deadline, from the store: overdue ones fire at once.
    let pending: Vec<_> = bot
        .store
        .items::<Escalation>(Tree::Escalations)
        .context("could not read the escalations")?
        .into_iter()
        .filter_map(|(_, e)| e.timer_entry())
        .collect();
    info!(count = pending.len(), "escalation deadlines loaded");
    bot.timer.load(pending);
    let queue = bot.queue.clone();
    let timer = tokio::spawn(
        bot.timer
            .clone()
            .run(move |reference: Reference, generation: u64| {
                let _ = queue.send((
                    escalation_key(&reference),
                    Work::Deadline {
                        reference,
                        generation,
                    },
                ));
                std::future::ready(())
            }),
    );
    let sweeper = tokio::spawn(sweep_unfinished(bot.clone(), shutdown.clone()));
    let watcher = tokio::spawn(watch_homeserver(bot.clone(), shutdown.clone()));
    let retention = tokio::spawn(casework::retention_job(bot.clone(), shutdown.clone()));

    sync_loop(&bot, &mut shutdown).await;

    info!("shutting down");
    sweeper.abort();
    let _ = sweeper.await;
    watcher.abort();
    let _ = watcher.await;
    retention.abort();
    let _ = retention.await;
    if let Some(server) = health_server {
        server.abort();
        let _ = server.await;
    }
    bot.timer.stop();
    let _ = timer.await;
    // Workers finish what they are doing; what they have not started stays
    // in the inbox for next time.
    if let Err(e) = dispatcher.await {
        warn!(error = %e, "the dispatcher ended badly");
    }
    bot.store
        .flush()
        .context("could not flush the store on shutdown")?;
    drop(bot);
    Ok(())
}

/// Our own sync loop: the next sync starts as soon as the last is handled.
/// `Client::sync` would wait a second between syncs that come quickly, and a
/// reporter waiting between questions notices every second.
async fn sync_loop(bot: &Arc<Bot>, shutdown: &mut watch::Receiver<bool>) {
    let client = &bot.client;
    let settings = SyncSettings::default().timeout(SYNC_TIMEOUT);
    let mut backoff = Duration::from_millis(500);
    // Telling the leads the homeserver is back; ended with the loop.
    let mut notices = tokio::task::JoinSet::new();
    bot.metrics.sync_loop_started(Utc::now());
    loop {
        if *shutdown.borrow() {
            return;
        }
        let started = tokio::time::Instant::now();
        let result = tokio::select! {
            r = client.sync_once(settings.clone()) => r,
            _ = shutdown.changed() => return,
        };
        match result {
            Ok(response) => {
                backoff = Duration::from_millis(500);
                let now = Utc::now();
                bot.metrics.synced(now);
                if let Some((since, away)) = bot.watch.synced(now, &bot.metrics) {
                    notices.spawn(tell_leads_back(Arc::downgrade(bot), since, away));
                }
                let empty = response.rooms.joined.is_empty()
                    && response.rooms.invited.is_empty()
                    && response.to_device.is_empty();
                // A server that answers empty syncs at once would make this
                // loop spin; pause briefly in that case only.
                if empty && started.elapsed() < Duration::from_millis(50) {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Err(e) => {
                bot.metrics.sync_error();
                warn!(error = %e, retry_in = ?backoff, "sync with the homeserver failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// The self-watch: looks at the clock while the sync loop may be stuck,
/// and says once, at error level, when the homeserver has been out of
/// reach for longer than `[health] unreachable_alert_after`.
async fn watch_homeserver(bot: Arc<Bot>, mut shutdown: watch::Receiver<bool>) {
    let every = (bot.watch.threshold() / 4).clamp(Duration::from_secs(1), Duration::from_secs(15));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if let Some(away) = bot.watch.check(Utc::now(), &bot.metrics) {
            error!(
                homeserver = %bot.config.matrix.homeserver_url,
                "cannot reach the homeserver for {}; pages may be delayed",
                health::human_duration(away)
            );
        }
    }
}

/// The homeserver is back after the self-watch reported it out of reach:
/// tell the leads' room for how long, so they can check nothing was missed.
async fn tell_leads_back(bot: Weak<Bot>, since: chrono::DateTime<Utc>, away: Duration) {
    let Some(bot) = bot.upgrade() else { return };
    let took = health::human_duration(away);
    warn!("the homeserver is reachable again after {took}");
    let Some(name) = bot.config.safeguarding.leads_room.clone() else {
        warn!("no [safeguarding] leads_room is set, so the leads were not told the bot was away; set it to tell them");
        return;
    };
    let text = health::back_notice(since, away, bot.tz());
    let txn = format!("back-{}", since.timestamp());
    for attempt in 0..3u32 {
        match bot.tell_room(&name, &text, &txn).await {
            Ok(()) => return,
            Err(e) => {
                warn!(room = %name, error = %format!("{e:#}"), attempt, "could not tell the leads' room yet");
                tokio::time::sleep(Duration::from_secs(10 << attempt)).await;
            }
        }
    }
    error!(room = %name, "could not tell the leads' room that the bot was away for {took}; invite the bot to it");
}

async fn resolve_staff_rooms(client: &Client, config: &Config) -> Vec<OwnedRoomId> {
    let mut rooms = Vec::new();
    for name in &config.matrix.staff_rooms {
        if let Some(room) = resolve_room(client, name).await {
            rooms.push(room);
        }
    }
    rooms
}

/// A room named in the config (an id or an alias), joined if the bot was
/// invited. `None`, with the reason logged, if it cannot be found.
async fn resolve_room(client: &Client, name: &str) -> Option<OwnedRoomId> {
    let room = if name.starts_with('#') {
        let alias = match <&matrix_sdk::ruma::RoomAliasId>::try_from(name) {
            Ok(a) => a,
            Err(e) => {
                error!(room = %name, error = %e, "a room alias in the config is not valid");
                return None;
            }
        };
        match client.resolve_room_alias(alias).await {
            Ok(r) => r.room_id,
            Err(e) => {
                error!(room = %name, error = %e, "could not find a room alias from the config");
                return None;
            }
        }
    } else {
        match OwnedRoomId::try_from(name) {
            Ok(r) => r,
            Err(e) => {
                error!(room = %name, error = %e, "a room id in the config is not valid");
                return None;
            }
        }
    };
    if client
        .get_room(&room)
        .is_none_or(|r| r.state() == matrix_sdk::RoomState::Invited)
    {
        if let Err(e) = client.join_room_by_id(&room).await {
            warn!(room = %room, error = %e, "not in a room from the config yet; invite the bot to it");
        }
    }
    Some(room)
}

async fn on_message(ev: OriginalSyncRoomMessageEvent, room: Room, bot: Ctx<Weak<Bot>>) {
    let Some(bot) = bot.upgrade() else { return };
    if Some(ev.sender.as_ref()) == bot.client.user_id() {
        return;
    }
    let bot_id = bot.client.user_id().map(|u| u.to_owned());
    let kind = match &ev.content.msgtype {
        MessageType::Text(t) => InboundKind::Text {
            body: t.body.clone(),
            mentions_bot: mentions(&ev.content, bot_id.as_deref()),
        },
        MessageType::Notice(_) => return,
        MessageType::Emote(t) => InboundKind::Text {
            body: t.body.clone(),
            mentions_bot: false,
        },
        _ => InboundKind::Attachment,
    };
    accept(
        &bot,
        Inbound {
            event_id: ev.event_id.to_string(),
            room_id: room.room_id().to_string(),
            sender: ev.sender.to_string(),
            kind,
        },
    );
}

fn mentions(content: &RoomMessageEventContent, bot: Option<&UserId>) -> bool {
    let Some(bot) = bot else { return false };
    let intentional = content
        .mentions
        .as_ref()
        .is_some_and(|m| m.user_ids.contains(bot));
    // Not the bare word "safeguarding": "the safeguarding report is due" is
    // not a request to report. An intentional mention or the bot's id is.
    intentional || content.body().contains(bot.as_str())
}

async fn on_reaction(ev: OriginalSyncReactionEvent, room: Room, bot: Ctx<Weak<Bot>>) {
    let Some(bot) = bot.upgrade() else { return };
    if Some(ev.sender.as_ref()) == bot.client.user_id() {
        return;
    }
    accept(
        &bot,
        Inbound {
            event_id: ev.event_id.to_string(),
            room_id: room.room_id().to_string(),
            sender: ev.sender.to_string(),
            kind: InboundKind::Reaction {
                key: ev.content.relates_to.key.clone(),
            },
        },
    );
}

/// Keeps the event in the inbox, then queues it. An event already seen
/// (a resync, a replay) is not handled twice.
fn accept(bot: &Bot, inbound: Inbound) {
    match bot.store.inbox_push(&inbound.event_id, &inbound) {
        Ok(true) => {
            let key = bot.work_key(&inbound);
            let _ = bot.queue.send((key, Work::Event(inbound)));
        }
        Ok(false) => debug!(event = %inbound.event_id, "event already handled"),
        Err(e) => error!(event = %inbound.event_id, error = %e, "could not keep an event in the inbox"),
    }
}

fn replay_inbox(bot: &Bot) {
    match bot.store.inbox_pending::<Inbound>() {
        Ok(pending) => {
            if !pending.is_empty() {
                info!(
                    count = pending.len(),
                    "handling events left from before a restart"
                );
            }
            for inbound in pending {
                let _ = bot.queue.send((bot.work_key(&inbound), Work::Event(inbound)));
            }
        }
        Err(e) => error!(error = %e, "could not read the inbox"),
    }
}

async fn on_invite(ev: StrippedRoomMemberEvent, room: Room, bot: Ctx<Weak<Bot>>) {
    let Some(bot) = bot.upgrade() else { return };
    let Some(me) = bot.client.user_id() else { return };
    if ev.state_key != me || ev.content.membership != MembershipState::Invite {
        return;
    }
    let inviter = ev.sender.to_string();
    let staff_room = bot.staff_rooms.iter().any(|r| r == room.room_id());
    let allowed =
        staff_room || bot.config.safeguarding.is_responder(&inviter) || bot.is_staff(&inviter).await;
    if !allowed {
        info!(room = %room.room_id(), "ignoring an invite from someone who is not staff");
        return;
    }
    tokio::spawn(async move {
        // Synapse can answer an invite before the room is ready to join.
        for attempt in 0..5u32 {
            match room.join().await {
                Ok(()) => {
                    info!(room = %room.room_id(), "joined a room on invitation");
                    return;
                }
                Err(e) => {
                    warn!(room = %room.room_id(), error = %e, attempt, "could not join yet");
                    tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                }
            }
        }
    });
}

/// Routes work to one worker per sender, started on demand. On shutdown,
/// lets each worker finish the item in hand, then returns.
async fn dispatch(
    bot: Arc<Bot>,
    mut rx: mpsc::UnboundedReceiver<(String, Work)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut workers: HashMap<String, mpsc::UnboundedSender<Work>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let (stop_tx, stop_rx) = watch::channel(false);
    loop {
        let (sender, work) = tokio::select! {
            next = rx.recv() => match next {
                Some(item) => item,
                None => break,
            },
            _ = shutdown.changed() => break,
        };
        let live = workers.get(&sender).is_some_and(|tx| !tx.is_closed());
        if !live {
            let (tx, wrx) = mpsc::unbounded_channel();
            tasks.spawn(worker(bot.clone(), sender.clone(), wrx, stop_rx.clone()));
            workers.insert(sender.clone(), tx);
        }
        if let Some(tx) = workers.get(&sender) {
            let _ = tx.send(work);
        }
    }
    let _ = stop_tx.send(true);
    drop(workers);
    drop(bot);
    let finish = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(20), finish)
        .await
        .is_err()
    {
        warn!("some work was still running at shutdown; it stays in the inbox for next time");
    }
}

async fn worker(
    bot: Arc<Bot>,
    sender: String,
    mut rx: mpsc::UnboundedReceiver<Work>,
    stop: watch::Receiver<bool>,
) {
    while let Some(work) = rx.recv().await {
        if *stop.borrow() {
            return;
        }
        match work {
            Work::Event(inbound) => {
                let event_id = inbound.event_id.clone();
                if let Err(e) = bot.handle(&inbound).await {
                    error!(event = %event_id, error = %format!("{e:#}"), "failed to handle an event");
                    bot.apologise(&inbound).await;
                }
                if let Err(e) = bot.store.inbox_done(&event_id) {
                    error!(event = %event_id, error = %e, "could not mark an event handled");
                }
            }
            Work::CheckUnfinished => {
                if let Err(e) = bot.check_unfinished(&sender).await {
                    error!(error = %format!("{e:#}"), "failed to pass on an unfinished report");
                }
            }
            Work::Deadline {
                reference,
                generation,
            } => {
                if let Err(e) = bot.on_deadline(&reference, Some(generation)).await {
                    error!(reference = %reference, error = %format!("{e:#}"), "failed to escalate");
                    // Try again shortly rather than leave the concern waiting.
                    bot.timer
                        .schedule(reference, Utc::now() + chrono::Duration::seconds(30), generation);
                }
            }
            Work::Recheck { reference } => {
                if let Err(e) = bot.on_deadline(&reference, None).await {
                    error!(reference = %reference, error = %format!("{e:#}"), "failed to escalate");
                }
            }
        }
    }
}

/// Once a minute, queue a check of each report in progress on its
/// reporter's worker, so it is never handled beside that reporter's messages.
async fn sweep_unfinished(bot: Arc<Bot>, mut shutdown: watch::Receiver<bool>) {
    // Often enough that a report is passed on within a quarter of the
    // allowed time after it is due, and at least once a minute.
    let every =
        (bot.config.safeguarding.unfinished_after / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        match intake::reporters_in_progress(&bot.store) {
            Ok(reporters) => {
                for r in reporters {
                    let _ = bot.queue.send((r, Work::CheckUnfinished));
                }
            }
            Err(e) => error!(error = %e, "could not list reports in progress"),
        }
    }
}

impl Bot {
    fn tz(&self) -> chrono_tz::Tz {
        self.config.safeguarding.timezone
    }

    async fn handle(&self, inbound: &Inbound) -> anyhow::Result<()> {
        let room_id = <&RoomId>::try_from(inbound.room_id.as_str()).context("bad room id in an event")?;
        let room = self
            .client
            .get_room(room_id)
            .context("an event came from a room the bot does not know")?;
        if self.staff_rooms.iter().any(|r| r == room_id) {
            if let InboundKind::Text { body, mentions_bot } = &inbound.kind {
                if is_report_request(body, *mentions_bot) {
                    self.start_report(&inbound.sender, Some(&room)).await?;
                }
            }
            return Ok(());
        }
        if let Some(esc) = self.escalation_for_room(room_id)? {
            return self.in_escalation_room(&room, esc, inbound).await;
        }
        if self.leads_room.as_deref() == Some(room_id) {
            if let InboundKind::Text { body, .. } = &inbound.kind {
                if !self.rota_command(&room, inbound, body).await? {
                    self.lead_command(&room, inbound, body, casework::Place::LeadsRoom)
                        .await?;
                }
            }
            return Ok(());
        }
        self.in_private_room(&room, inbound).await
    }

    async fn in_private_room(&self, room: &Room, inbound: &Inbound) -> anyhow::Result<()> {
        let sender = inbound.sender.as_str();
        let now = Utc::now();
        match &inbound.kind {
            InboundKind::Reaction { .. } => Ok(()),
            InboundKind::Attachment => {
                self.answer(room, inbound, compose::no_attachments(), "noattach")
                    .await
            }
            InboundKind::Text { body, .. } => {
                if self.config.safeguarding.is_responder(sender)
                    && self.rota_command(room, inbound, body).await?
                {
                    return Ok(());
                }
                if self
                    .lead_command(room, inbound, body, casework::Place::Private)
                    .await?
                    || self.reporter_add(room, inbound, body).await?
                {
                    return Ok(());
                }
                let handled = intake::message(&self.store, &self.flow, sender, body, &inbound.event_id, now)?;
                match handled {
                    Some(out) => {
                        self.remember_private_room(sender, room.room_id())?;
                        // Their answer is part of the report: removed with it.
                        self.remember_in_private(sender, room, &inbound.event_id).await;
                        self.deliver(sender, room, out, &inbound.event_id).await
                    }
                    None if !self.is_staff(sender).await => {
                        self.answer(room, inbound, compose::not_staff(), "notstaff").await
                    }
                    None if is_start_word(body) => {
                        self.remember_private_room(sender, room.room_id())?;
                        self.start_report(sender, None).await
                    }
                    None => self.answer(room, inbound, compose::how_to_start(), "hello").await,
                }
            }
        }
    }

    async fn in_escalation_room(
        &self,
        room: &Room,
        esc: Escalation,
        inbound: &Inbound,
    ) -> anyhow::Result<()> {
        let wants_ack = match &inbound.kind {
            InboundKind::Text { body, .. } => {
                if self.rota_command(room, inbound, body).await?
                    || self
                        .lead_command(room, inbound, body, casework::Place::Concern(&esc.reference))
                        .await?
                {
                    return Ok(());
                }
                let b = body.trim().to_lowercase();
                b == "!ack" || b.starts_with("!ack ") || b == "!acknowledge"
            }
            // A ✅ or 👍 on the page, or on any message in the room.
            InboundKind::Reaction { key, .. } => escalation::is_ack_reaction(key),
            InboundKind::Attachment => false,
        };
        if !wants_ack {
            return Ok(());
        }
        let _one_at_a_time = self.escalation_lock(&esc.reference).await;
        let esc = self
            .store
            .get_item::<Escalation>(Tree::Escalations, &esc.reference.to_string())?
            .unwrap_or(esc);
        let now = Utc::now();
        let txn = format!("{}-ack", inbound.event_id);
        match esc.acknowledge(&inbound.sender, self.config.safeguarding.responders(), now) {
            AckDecision::NotAllowed => {
                self.store.audit(
                    now,
                    &inbound.sender,
                    "acknowledge refused: not a lead or deputy",
                    Some(&esc.reference),
                    "",
                )?;
                self.send(room, compose::ack_not_allowed(), &txn, true).await?;
            }
            AckDecision::Already(a) => {
                self.send(
                    room,
                    compose::ack_already(&esc.reference, &a.by, a.at, self.tz()),
                    &txn,
                    true,
                )
                .await?;
            }
            AckDecision::Acknowledged(next) => {
                self.store
                    .put_item(Tree::Escalations, &next.reference.to_string(), &next)?;
                self.metrics
                    .acknowledged((now - esc.paged_at).to_std().unwrap_or_default());
                self.store
                    .audit(now, &inbound.sender, "acknowledged", Some(&next.reference), "")?;
                info!(reference = %next.reference, "concern acknowledged");
                self.send(
                    room,
                    compose::ack_confirmed(&next.reference, &inbound.sender, now, self.tz()),
                    &txn,
                    true,
                )
                .await?;
                if let Some(private) = self.private_room(&next.reporter)? {
                    self.tell_reporter(
                        &private,
                        &next.reference,
                        compose::reporter_told_ack(&next.reference, &inbound.sender, now, self.tz()),
                        &format!("{}-toldreporter", inbound.event_id),
                    )
                    .await?;
                }
                // Schedules the reminder; nothing more is paged.
                let decision = policy::decide(&next, &self.policy, &self.rota()?, now);
                self.apply_decision(decision).await?;
            }
        }
        Ok(())
    }

    /// `!away`, `!back`, `!cover`, `!rota` from a lead or deputy. Returns
    /// whether the message was one of them (and so has been answered).
    async fn rota_command(&self, room: &Room, inbound: &Inbound, body: &str) -> anyhow::Result<bool> {
        let now = Utc::now();
        let Some(parsed) = rota::parse_command(body, self.tz(), now) else {
            return Ok(false);
        };
        if !self.config.safeguarding.is_responder(&inbound.sender) {
            let word = body.split_whitespace().next().unwrap_or("").to_lowercase();
            self.store
                .audit(now, &inbound.sender, "refused: not a lead or deputy", None, &word)?;
            self.answer(
                room,
                inbound,
                Text::plain("Only the Lead or a Deputy for Safeguarding can change or see the rota."),
                "rota",
            )
            .await?;
            return Ok(true);
        }
        let reply = match parsed {
            Err(e) => e.0,
            Ok(command) => match self
                .rota()?
                .apply(&inbound.sender, &command, &self.policy, self.tz(), now)
            {
                Err(e) => e.0,
                Ok((rota, reply)) => {
                    self.store.put_item(Tree::Settings, "rota", &rota)?;
                    self.store
                        .audit(now, &inbound.sender, "rota changed", None, body.trim())?;
                    // Someone away is skipped at once; someone back is paged again.
                    for (_, esc) in self.store.items::<Escalation>(Tree::Escalations)? {
                        if esc.acknowledged.is_none() && !esc.closed {
                            let reference = esc.reference.clone();
                            let _ = self
                                .queue
                                .send((escalation_key(&reference), Work::Recheck { reference }));
                        }
                    }
                    reply
                }
            },
        };
        self.answer(room, inbound, Text::plain(reply), "rota").await?;
        Ok(true)
    }

    fn rota(&self) -> anyhow::Result<Rota> {
        Ok(self
            .store
            .get_item::<Rota>(Tree::Settings, "rota")?
            .unwrap_or_default())
    }

    /// A deadline came (with the generation it was set for), or something
    /// changed (`None`): decide the escalation again and act on it.
    async fn on_deadline(&self, reference: &Reference, generation: Option<u64>) -> anyhow::Result<()> {
        let _one_at_a_time = self.escalation_lock(reference).await;
        let Some(esc) = self
            .store
            .get_item::<Escalation>(Tree::Escalations, &reference.to_string())?
        else {
            return Ok(());
        };
        let now = Utc::now();
        let rota = self.rota()?;
        let decision = match generation {
            Some(g) => match policy::on_timer(&esc, g, &self.policy, &rota, now) {
                Some(d) => d,
                None => {
                    debug!(reference = %reference, "stale deadline ignored");
                    return Ok(());
                }
            },
            None => policy::decide(&esc, &self.policy, &rota, now),
        };
        self.apply_decision(decision).await
    }

    /// Carries out an escalation decision: invite and page, re-page, tell the
    /// reporter nobody has answered, remind; keep the new state; set the
    /// next deadline. Sends carry transaction ids made from the state's
    /// generation, so a retry after a crash is not a second page.
    async fn apply_decision(&self, d: Decision) -> anyhow::Result<()> {
        let esc = &d.new_state;
        let reference = esc.reference.clone();
        let now = Utc::now();
        let room = self.room(&esc.room)?;
        let g = esc.generation;
        for user in &d.skipped {
            self.store
                .audit(now, "bot", "skipped: away or off duty", Some(&reference), user)?;
        }
        for user in &d.page {
            let id = <&UserId>::try_from(user.as_str()).context("bad user id in the policy")?;
            let member = room.get_member_no_sync(id).await.ok().flatten();
            let present = member
                .is_some_and(|m| matches!(m.membership(), MembershipState::Join | MembershipState::Invite));
            if !present {
                room.invite_user_by_id(id)
                    .await
                    .with_context(|| format!("could not invite {user} to the escalation room"))?;
            }
        }
        let mention = d.mention();
        let mut esc = d.new_state.clone();
        if !mention.is_empty() {
            let ids: Vec<OwnedUserId> = mention
                .iter()
                .filter_map(|u| OwnedUserId::try_from(u.as_str()).ok())
                .collect();
            // A page went out before: the concern is waiting (message wording
            // and the metrics' first/repeat label both follow this).
            let again = esc.page_event.is_some();
            let text = compose::page(&reference, esc.urgent, &esc.reporter, &mention, again);
            let content = RoomMessageEventContent::text_html(text.plain, text.html.unwrap_or_default())
                .add_mentions(Mentions::with_user_ids(ids));
            let sent = room
                .send(content)
                .with_transaction_id(OwnedTransactionId::from(format!("{reference}-g{g}-page")))
                .await
                .context("could not send the page")?;
            self.metrics.page_sent(esc.urgent, again);
            if esc.page_event.is_none() {
                esc.page_event = Some(sent.response.event_id.to_string());
            }
            let action = match (d.repage_everyone, esc.urgent) {
                (true, _) => "paged again",
                (false, true) => "paged (urgent)",
                (false, false) => "paged",
            };
            self.store
                .audit(now, "bot", action, Some(&reference), &mention.join(" "))?;
            info!(reference = %reference, urgent = esc.urgent, count = mention.len(), again = d.repage_everyone, "paged");
        }
        if d.tell_reporter_no_answer {
            let route = self.store.get_concern(&reference)?.and_then(|r| r.route);
            if let Some(private) = self.private_room(&esc.reporter)? {
                self.tell_reporter(
                    &private,
                    &reference,
                    compose::no_answer_yet(&reference, route.as_ref()),
                    &format!("{reference}-g{g}-noanswer"),
                )
                .await?;
            }
            self.store.audit(
                now,
                "bot",
                "reporter told no one has answered",
                Some(&reference),
                "",
            )?;
        }
        if let Some(who) = &d.remind {
            let id = OwnedUserId::try_from(who.as_str()).context("bad user id")?;
            let text = compose::reminder(&reference, who);
            let content = RoomMessageEventContent::text_html(text.plain, text.html.unwrap_or_default())
                .add_mentions(Mentions::with_user_ids([id]));
            room.send(content)
                .with_transaction_id(OwnedTransactionId::from(format!("{reference}-g{g}-remind")))
                .await
                .context("could not send the reminder")?;
            self.store.audit(now, "bot", "reminded", Some(&reference), who)?;
        }
        self.store
            .put_item(Tree::Escalations, &reference.to_string(), &esc)?;
        if let Some((r, at, generation)) = esc.timer_entry() {
            self.timer.schedule(r, at, generation);
        }
        Ok(())
    }

    async fn escalation_lock(&self, reference: &Reference) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.escalation_locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(reference.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Which worker an event goes to: everything in a concern's escalation
    /// room to that concern's, everything else to the sender's.
    fn work_key(&self, inbound: &Inbound) -> String {
        match <&RoomId>::try_from(inbound.room_id.as_str())
            .ok()
            .map(|r| self.escalation_for_room(r))
        {
            Some(Ok(Some(esc))) => escalation_key(&esc.reference),
            _ => inbound.sender.clone(),
        }
    }

    /// Starts (or resumes) a report in the reporter's private room, and
    /// answers in the staff room with a notice that says nothing of it.
    async fn start_report(&self, reporter: &str, staff_room: Option<&Room>) -> anyhow::Result<()> {
        if !self.is_staff(reporter).await {
            let room = match staff_room {
                Some(r) => r.clone(),
                None => self.private_room_or_create(reporter).await?,
            };
            self.send(
                &room,
                compose::not_staff(),
                &format!("notstaff-{}", TransactionId::new()),
                false,
            )
            .await?;
            return Ok(());
        }
        let private = self.private_room_or_create(reporter).await?;
        let out = intake::begin(&self.store, &self.flow, reporter, Utc::now())?;
        info!(room = %private.room_id(), "report started or resumed in a private room");
        if let Some(staff) = staff_room {
            let name = display_name(staff, reporter).await;
            self.send(
                staff,
                compose::staff_room_notice(&name),
                &format!("notice-{}", TransactionId::new()),
                true,
            )
            .await?;
        }
        self.deliver(
            reporter,
            &private,
            out,
            &format!("begin-{}", TransactionId::new()),
        )
        .await
    }

    async fn check_unfinished(&self, reporter: &str) -> anyhow::Result<()> {
        let after = chrono::Duration::from_std(self.config.safeguarding.unfinished_after)
            .unwrap_or(crate::conversation::ABANDONED_AFTER);
        if let Some(out) = intake::check_unfinished(&self.store, &self.flow, reporter, Utc::now(), after)? {
            if let Some(room) = self.private_room(reporter)? {
                return self
                    .deliver(
                        reporter,
                        &room,
                        out,
                        &format!("unfinished-{}", TransactionId::new()),
                    )
                    .await;
            }
        }
        Ok(())
    }

    /// Remembers a message in a reporter's private room as part of their
    /// latest report, to be removed when that concern is deleted under
    /// retention. A failure is logged: the conversation goes on.
    async fn remember_in_private(&self, reporter: &str, room: &Room, message: &str) {
        let reference = match intake::reference_of(&self.store, reporter) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "could not tell which report a private message belongs to; it will not be removed under retention");
                return;
            }
        };
        let copy = crate::casework::retention::PostedCopy {
            room: room.room_id().to_string(),
            message: message.to_string(),
        };
        // Under the lock retention deletes under, so a deletion in between
        // is seen (the conversation goes with the concern).
        let _one_at_a_time = self.escalation_lock(&reference).await;
        if let Err(e) =
            crate::casework::retention::remember_reporter_copies(&self.store, reporter, &reference, &[copy])
        {
            tracing::error!(reference = %reference, error = %e, "a private message could not be remembered for removal under retention");
        }
    }

    /// Sends what intake decided, in order. The reporter's replies go to
    /// their private room; pages and records to the concern's escalation room.
    async fn deliver(
        &self,
        reporter: &str,
        private: &Room,
        out: Vec<Outgoing>,
        txn_base: &str,
    ) -> anyhow::Result<()> {
        for (i, o) in out.into_iter().enumerate() {
            let txn = format!("{txn_base}-{i}");
            match o {
                Outgoing::Reply(text) => {
                    let sent = self.send_for_id(private, Text::plain(text), &txn, false).await?;
                    self.remember_in_private(reporter, private, sent.as_str()).await;
                }
                Outgoing::Page {
                    reference, urgent, ..
                } => {
                    self.page(&reference, urgent, reporter).await?;
                }
                Outgoing::Record(record) => {
                    let esc = self
                        .store
                        .get_item::<Escalation>(Tree::Escalations, &record.reference.to_string())?
                        .context("a record is ready for the lead but the concern was never paged")?;
                    let room = self.room(&esc.room)?;
                    self.send(&room, compose::record(&record, self.tz()), &txn, false)
                        .await?;
                    self.store.audit(
                        Utc::now(),
                        "bot",
                        "record sent to the escalation room",
                        Some(&record.reference),
                        record.status.label(),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Creates the concern's private, encrypted escalation room and pages
    /// whoever the policy says (the lead, unless away or covered).
    async fn page(&self, reference: &Reference, urgent: bool, reporter: &str) -> anyhow::Result<()> {
        let _one_at_a_time = self.escalation_lock(reference).await;
        if self
            .store
            .get_item::<Escalation>(Tree::Escalations, &reference.to_string())?
            .is_some()
        {
            debug!(reference = %reference, "already paged");
            return Ok(());
        }
        let now = Utc::now();
        let request = private_encrypted_room(&format!("Safeguarding concern {reference}"), vec![]);
        let room = self
            .client
            .create_room(request)
            .await
            .context("could not create the escalation room")?;
        let esc = Escalation::unpaged(reference.clone(), reporter, urgent, room.room_id().as_str(), now);
        self.store
            .put_item(Tree::Escalations, &reference.to_string(), &esc)?;
        let decision = policy::decide(&esc, &self.policy, &self.rota()?, now);
        self.apply_decision(decision).await
    }

    /// Answers one event in the room it came from. The transaction id is
    /// derived from the event, so a retry is not a second message.
    async fn answer(&self, room: &Room, inbound: &Inbound, text: Text, tag: &str) -> anyhow::Result<()> {
        self.send(room, text, &format!("{}-{tag}", inbound.event_id), false)
            .await
    }

    async fn send(&self, room: &Room, text: Text, txn: &str, notice: bool) -> anyhow::Result<()> {
        self.send_for_id(room, text, txn, notice).await.map(drop)
    }

    /// Sends a message about a concern to its reporter's private room, and
    /// remembers it with the concern, to be removed when the concern is
    /// deleted under retention. Call it under the concern's lock.
    async fn tell_reporter(
        &self,
        private: &Room,
        reference: &Reference,
        text: Text,
        txn: &str,
    ) -> anyhow::Result<()> {
        let sent = self.send_for_id(private, text, txn, false).await?;
        self.remember_copy(reference, private, sent.as_str());
        Ok(())
    }

    /// Remembers a message about `reference` outside its own room (which is
    /// cleared whole), to be removed when the concern is deleted under
    /// retention. Call it under the concern's lock, the one retention deletes
    /// under, so a deletion just before is seen and the message listed for
    /// removal at once. A failure is logged: what was sent stays sent.
    fn remember_copy(&self, reference: &Reference, room: &Room, message: &str) {
        let copy = crate::casework::retention::PostedCopy {
            room: room.room_id().to_string(),
            message: message.to_string(),
        };
        if let Err(e) = crate::casework::retention::remember_copies(&self.store, reference, &[copy]) {
            tracing::error!(reference = %reference, room = %room.room_id(), error = %e, "a message about a concern could not be remembered for removal under retention");
        }
    }

    /// As [`Bot::send`], returning the id of the message sent.
    async fn send_for_id(
        &self,
        room: &Room,
        text: Text,
        txn: &str,
        notice: bool,
    ) -> anyhow::Result<matrix_sdk::ruma::OwnedEventId> {
        let content = match (text.html, notice) {
            (Some(h), true) => RoomMessageEventContent::notice_html(text.plain, h),
            (Some(h), false) => RoomMessageEventContent::text_html(text.plain, h),
            (None, true) => RoomMessageEventContent::notice_plain(text.plain),
            (None, false) => RoomMessageEventContent::text_plain(text.plain),
        }
        .add_mentions(Mentions::new());
        let sent = room
            .send(content)
            .with_transaction_id(OwnedTransactionId::from(txn))
            .await
            .with_context(|| format!("could not send a message to room {}", room.room_id()))?;
        debug!(room = %room.room_id(), event = %sent.response.event_id, "sent");
        Ok(sent.response.event_id)
    }

    /// Sends a notice to a room named in the config (an id or an alias),
    /// joining it first if the bot was invited but has not joined.
    async fn tell_room(&self, name: &str, text: &str, txn: &str) -> anyhow::Result<()> {
        let room_id = if name.starts_with('#') {
            let alias = <&matrix_sdk::ruma::RoomAliasId>::try_from(name).context("not a room alias")?;
            self.client
                .resolve_room_alias(alias)
                .await
                .with_context(|| format!("could not find the room alias {name}"))?
                .room_id
        } else {
            OwnedRoomId::try_from(name).context("not a room id")?
        };
        let room = match self.client.get_room(&room_id) {
            Some(r) if r.state() == matrix_sdk::RoomState::Joined => r,
            _ => self
                .client
                .join_room_by_id(&room_id)
                .await
                .with_context(|| format!("the bot is not in {name} and could not join it"))?,
        };
        self.send(&room, Text::plain(text), txn, true).await
    }

    /// Tells the sender something went wrong, without detail.
    async fn apologise(&self, inbound: &Inbound) {
        let Ok(room_id) = <&RoomId>::try_from(inbound.room_id.as_str()) else {
            return;
        };
        let Some(room) = self.client.get_room(room_id) else {
            return;
        };
        let text = Text::plain(intake::IntakeError::apology());
        if let Err(e) = self
            .send(&room, text, &format!("{}-sorry", inbound.event_id), true)
            .await
        {
            error!(error = %e, "could not even apologise");
        }
    }

    async fn is_staff(&self, user: &str) -> bool {
        let Ok(user) = <&UserId>::try_from(user) else {
            return false;
        };
        for id in &self.staff_rooms {
            if let Some(room) = self.client.get_room(id) {
                if let Ok(Some(m)) = room.get_member(user).await {
                    if *m.membership() == MembershipState::Join {
                        return true;
                    }
                }
            }
        }
        false
    }

    fn room(&self, id: &str) -> anyhow::Result<Room> {
        let room_id = <&RoomId>::try_from(id).context("bad room id in the store")?;
        self.client
            .get_room(room_id)
            .with_context(|| format!("the bot is not in room {id}"))
    }

    fn escalation_for_room(&self, room: &RoomId) -> anyhow::Result<Option<Escalation>> {
        Ok(self
            .store
            .items::<Escalation>(Tree::Escalations)?
            .into_iter()
            .map(|(_, e)| e)
            .find(|e| e.room == room.as_str()))
    }

    fn remember_private_room(&self, reporter: &str, room: &RoomId) -> anyhow::Result<()> {
        let known: Option<String> = self.store.get_item(Tree::PrivateRooms, reporter)?;
        if known.as_deref() != Some(room.as_str()) {
            self.store
                .put_item(Tree::PrivateRooms, reporter, &room.to_string())?;
        }
        Ok(())
    }

    fn private_room(&self, reporter: &str) -> anyhow::Result<Option<Room>> {
        let known: Option<String> = self.store.get_item(Tree::PrivateRooms, reporter)?;
        Ok(known.and_then(|id| self.room(&id).ok()))
    }

    /// The reporter's private room, reused, or a new encrypted one.
    async fn private_room_or_create(&self, reporter: &str) -> anyhow::Result<Room> {
        if let Some(room) = self.private_room(reporter)? {
            let user = <&UserId>::try_from(reporter).context("bad user id")?;
            let still_there = matches!(
                room.get_member(user)
                    .await
                    .ok()
                    .flatten()
                    .map(|m| m.membership().clone()),
                Some(MembershipState::Join) | Some(MembershipState::Invite)
            );
            if still_there && room.state() == matrix_sdk::RoomState::Joined {
                return Ok(room);
            }
        }
        let user = OwnedUserId::try_from(reporter).context("bad user id")?;
        let mut request = private_encrypted_room("Safeguarding report", vec![user.clone()]);
        request.is_direct = true;
        request.preset = Some(RoomPreset::TrustedPrivateChat);
        let room = self
            .client
            .create_room(request)
            .await
            .context("could not create a private room")?;
        self.store
            .put_item(Tree::PrivateRooms, reporter, &room.room_id().to_string())?;
        Ok(room)
    }
}

fn private_encrypted_room(name: &str, invite: Vec<OwnedUserId>) -> CreateRoomRequest {
    let mut request = CreateRoomRequest::new();
    request.name = Some(name.to_string());
    request.invite = invite;
    request.preset = Some(RoomPreset::PrivateChat);
    request.initial_state =
        vec![
            InitialStateEvent::with_empty_state_key(RoomEncryptionEventContent::with_recommended_defaults())
                .to_raw_any(),
        ];
    request
}

async fn display_name(room: &Room, user: &str) -> String {
    let Ok(user_id) = <&UserId>::try_from(user) else {
        return user.to_string();
    };
    match room.get_member_no_sync(user_id).await {
        Ok(Some(m)) => m.name().to_string(),
        _ => user.to_string(),
    }
}

/// `/report` (what Element sends after "Send as message", or for `//report`),
/// `!report`, or a mention of the bot with the word report.
pub fn is_report_request(body: &str, mentions_bot: bool) -> bool {
    let first = body.split_whitespace().next().unwrap_or_default().to_lowercase();
    if matches!(first.as_str(), "/report" | "!report" | "//report") {
        return true;
    }
    mentions_bot
        && body
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == "report")
}

/// In a private room with no report in progress: `report`, `!report`, `/report`.
pub fn is_start_word(body: &str) -> bool {
    let first = body.split_whitespace().next().unwrap_or_default().to_lowercase();
    matches!(
        first.trim_end_matches(['.', '!']),
        "report" | "!report" | "/report" | "//report"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_requests() {
        assert!(is_report_request("/report", false));
        assert!(is_report_request("!report please", false));
        assert!(is_report_request("//report", false));
        assert!(is_report_request(
            "safeguarding: I need to report something",
            true
        ));
        assert!(!is_report_request("I need to report something", false));
        assert!(!is_report_request("reporting", true));
    }

    #[test]
    fn start_words() {
        for s in ["report", "Report.", "!report", "/report now"] {
            assert!(is_start_word(s), "{s}");
        }
        assert!(!is_start_word("hello"));
    }
}
