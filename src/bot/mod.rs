//! The bot's core, for every chat: what it decides and does, driven through
//! the [`Chat`] trait, with no chat SDK in sight.
//!
//! - [`chat`]: the [`Chat`] trait a transport implements, and its typed errors.
//! - [`compose`]: every message the bot sends, as pure functions.
//! - [`gaps`]: what a chat's sync skipped, kept until it is fetched.
//! - [`outbox`]: effects kept with the decisions that cause them, and the
//!   one delivery loop that carries them out, in order per room, once.
//! - this file: the [`Core`], the inbox and one worker per sender (ended
//!   when idle), the timer wiring and the sweep for unfinished reports.
//! - [`route`]: which room an event came from and who handles it.
//! - [`intake`]: starting a report in a private chat and passing what the
//!   conversation decides to the outbox; a pressed button taken as its answer.
//! - [`form`]: the same report in a form (Slack's modal), the answers never
//!   messages: [`Core::form_open`] and [`Core::form_answer`].
//! - [`paging`]: the page, deputy cover, acknowledgements and the rota.
//! - [`pager`]: pages outside the chat (SMS, email) as each person's rules
//!   say, acknowledgement by SMS reply, STOP, and failed deliveries.
//! - [`outage`]: the chat out of reach: pages outside it at once, the
//!   leads told by SMS and email, nothing more to the chat until it is back.
//! - [`sms_in`]: the SMS gateway's replies and statuses, into the core.
//! - [`testpage`]: `!testpage`, a test SMS and email to a lead or deputy.
//! - [`host`]: one lifecycle for every chat, with the gateways beside it.
//! - [`casework`]: the leads' commands and the reporter's `!add`.
//! - [`retention`]: the daily deletion and the clearing of rooms.
//! - [`locks`]: one lock per concern, dropped when nobody holds it.
//! - [`names`]: people's names, looked up before a decision names them
//!   ([`compose::Person`] says how a name is shown).
//! - [`probe`]: what `/healthz` and `/metrics` read, through the core.
//! - [`roomcheck`]: nobody but leads and deputies in a concern's room,
//!   checked on every join and before anything is sent there.
//! - [`rooms`]: the config's staff rooms and leads' room, resolved and
//!   followed through upgrades.

pub mod chat;
pub mod compose;
pub mod gaps;
pub mod outbox;
pub mod probe;

mod casework;
mod flood;
mod form;
mod host;
mod intake;
mod locks;
pub(crate) mod memo;
mod names;
mod outage;
mod pager;
mod paging;
mod retention;
mod roomcheck;
mod rooms;
mod route;
mod sms_in;
mod supervise;
mod testpage;
mod views;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Notify};
use tracing::{debug, error, info, warn};

pub use chat::{Chat, ChatError, File, Kind, Member, Message, RoomSpec};
pub use form::{FormAnswer, FormOpen, FormView};
pub use host::{host, host_with, Transport};
pub use memo::{Memo, MemoError};
pub use route::{is_report_request, is_start_word};
pub use supervise::Failure;

use crate::concern::Reference;
use crate::config::Config;
use crate::escalation::policy::Policy;
use crate::escalation::timer::{Clock, SystemClock, Timer};
use crate::escalation::Escalation;
use crate::flow::Flow;
use crate::health::Metrics;
use crate::store::{Batch, Store, Tree};
use outbox::Effects;

/// An event the bot must handle, as kept in the inbox until it is handled.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Inbound {
    pub event_id: String,
    pub room_id: String,
    pub sender: String,
    pub kind: InboundKind,
    /// When its sender wrote it, by the bot's clock and never earlier than
    /// it was (Slack: the message's `ts`), if the chat says: a message
    /// written before the question now asked is never taken as its answer
    /// (a late delivery, or one sent again).
    #[serde(default)]
    pub written_at: Option<chrono::DateTime<Utc>>,
}

/// What became of an event handed to [`Core::accept`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// In the inbox (now or before): it is handled once.
    Kept,
    /// Never handled, on purpose: not the core's business, or past the
    /// flood limit (and remembered as handled, so it stays dropped).
    Dropped,
    /// Could not be kept (the store failed): the chat should send it again.
    NotKept,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum InboundKind {
    Text {
        body: String,
        mentions_bot: bool,
    },
    /// An edit of an earlier message, with its new text.
    Edit {
        body: String,
    },
    Attachment,
    /// A message the chat could not decrypt: its sender is asked to send
    /// it again.
    Undecryptable,
    /// Someone joined the room (the sender is who joined).
    Joined,
    /// Any ✅ or 👍 in a concern's room acknowledges, whichever message it is on.
    Reaction {
        key: String,
    },
    /// The sender asked to report (Slack's `/report`, handed to their
    /// private chat): starts a report there, or shows the question a report
    /// in progress is at. Never taken as an answer.
    StartReport,
    /// A button beside a question was pressed: the same as typing `answer`
    /// to the question `question` ([`crate::conversation::question_key`]),
    /// and said back to them as `label`.
    Pressed {
        question: String,
        answer: String,
        label: String,
    },
    /// An SMS to the bot's number ([`Core::sms_reply`]): a reply to a
    /// page outside the chat. Its sender and room are `sms:NUMBER`.
    SmsReply {
        from: crate::notify::Phone,
        body: String,
    },
}

tokio::task_local! {
    /// The event a worker is handling.
    static HANDLING: Handling;
}

/// The event a worker is handling. A handler whose decision is one commit,
/// its last, makes it with [`Core::commit_final`], which marks the event
/// handled in the same write; otherwise it is marked handled, in a write
/// of its own, after the handler returns.
struct Handling {
    event_id: String,
    done: std::sync::atomic::AtomicBool,
}

/// Work for one sender's worker.
enum Work {
    Event(Inbound),
    /// An event that could not be kept (the disk is full): say so to its
    /// sender, and stop so the bot starts afresh.
    NotKept(Inbound, String),
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

/// A worker with nothing to do for this long ends; the next event for its
/// sender starts another.
const WORKER_IDLE: Duration = Duration::from_secs(120);

/// What every handler shares.
pub struct Core {
    pub chat: Arc<dyn Chat>,
    pub config: Config,
    pub flow: Flow,
    pub store: Store,
    /// The staff rooms and the leads' room from the config, resolved.
    rooms: rooms::ConfigRooms,
    queue: mpsc::UnboundedSender<(String, Work)>,
    policy: Policy,
    /// Owns every escalation deadline; fires into the queue.
    timer: Timer,
    /// What time it is, for paging and the outbox: the system's clock, or
    /// one a test passes in ([`Core::start_with_clock`]).
    clock: Arc<dyn Clock>,
    /// One lock per concern, held while its state is read, acted on and
    /// written: an acknowledgement, a deadline and the first page never
    /// interleave, so exactly one outcome stands.
    locks: locks::Locks,
    /// Held while a report is started or resumed, from reading whether one
    /// is in progress to committing the new one, so two requests at once (a
    /// `/report` form and a DM, say) start one report, not two. Brief: the
    /// checks that take time are done before.
    starting: tokio::sync::Mutex<()>,
    pub metrics: Arc<Metrics>,
    /// Woken when effects are staged.
    outbox_wake: Notify,
    /// How fast each sender's messages are taken.
    flood: flood::Limiter,
    /// Why the core cannot go on, once it cannot (see [`Core::fail`]).
    failed: watch::Sender<Option<Failure>>,
    /// The chat is ready to send to (see [`Chat::ready_at_start`]).
    synced: watch::Sender<bool>,
    /// People's names, looked up before a decision needs them.
    names: names::Names,
    /// Sends pages outside the chat (SMS, email), if any is configured.
    notifier: Option<Arc<dyn crate::notify::Notifier>>,
    /// The adapter said the chat has been out of reach for too long, and
    /// not yet that it is back (see `outage.rs`).
    chat_down: std::sync::atomic::AtomicBool,
}

/// What a core is started with besides its chat, config, flow, store and
/// metrics: where the time comes from, and what sends SMS and email.
#[derive(Clone)]
pub struct Setup {
    pub clock: Arc<dyn Clock>,
    /// None: nothing is sent outside the chat, and nothing else changes.
    pub notifier: Option<Arc<dyn crate::notify::Notifier>>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            clock: Arc::new(SystemClock),
            notifier: None,
        }
    }
}

/// The core's running tasks; [`Running::stop`] ends them.
pub struct Running {
    pub core: Arc<Core>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    dispatcher: tokio::task::JoinHandle<()>,
}

impl Core {
    /// Starts the core: the workers, the timer with every deadline kept in
    /// the store, the outbox, the sweep for unfinished reports and the
    /// retention job. Events left in the inbox from before are handled.
    pub async fn start(
        chat: Arc<dyn Chat>,
        config: Config,
        flow: Flow,
        store: Store,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Running> {
        Self::start_with_clock(chat, config, flow, store, metrics, Arc::new(SystemClock)).await
    }

    /// As [`Core::start`], with the time read from `clock` (a test's, under
    /// paused tokio time), for the deadlines, paging and the outbox.
    pub async fn start_with_clock(
        chat: Arc<dyn Chat>,
        config: Config,
        flow: Flow,
        store: Store,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Running> {
        let setup = Setup {
            clock,
            ..Setup::default()
        };
        Self::start_with(chat, config, flow, store, metrics, setup).await
    }

    /// As [`Core::start`], with the clock and the notifier `setup` gives.
    pub async fn start_with(
        chat: Arc<dyn Chat>,
        config: Config,
        flow: Flow,
        store: Store,
        metrics: Arc<Metrics>,
        setup: Setup,
    ) -> anyhow::Result<Running> {
        let Setup { clock, notifier } = setup;
        let policy = Policy::from_config(&config.safeguarding);
        let ready = chat.ready_at_start();
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let core = Arc::new(Core {
            chat,
            config,
            flow,
            store: store.with_clock(clock.clone()),
            rooms: rooms::ConfigRooms::default(),
            queue: queue_tx,
            policy,
            timer: Timer::new({
                let clock = clock.clone();
                move || clock.now()
            }),
            clock,
            locks: locks::Locks::default(),
            starting: tokio::sync::Mutex::new(()),
            metrics,
            outbox_wake: Notify::new(),
            flood: flood::Limiter::default(),
            failed: watch::channel(None).0,
            synced: watch::channel(ready).0,
            names: names::Names::default(),
            notifier,
            chat_down: Default::default(),
        });
        core.resolve_rooms().await;
        core.index_old_rooms();
        let (stop, stop_rx) = watch::channel(false);
        let dispatcher = core.supervised(
            "dispatcher",
            dispatch(core.clone(), queue_rx, stop_rx.clone()),
            &stop_rx,
        );
        core.replay_inbox();
        core.load_deadlines()?;
        let tasks = core.spawn_tasks(&stop_rx);
        Ok(Running {
            core,
            stop,
            tasks,
            dispatcher,
        })
    }

    /// Loads every escalation deadline kept in the store into the timer.
    fn load_deadlines(&self) -> anyhow::Result<()> {
        let pending: Vec<_> = self
            .store
            .items::<Escalation>(Tree::Escalations)
            .map_err(|e| anyhow::anyhow!("could not read the escalations: {e}"))?
            .into_iter()
            .filter_map(|(_, e)| e.timer_entry())
            .collect();
        info!(count = pending.len(), "escalation deadlines loaded");
        self.timer.load(pending);
        Ok(())
    }

    /// Starts the core's tasks, each named and supervised (see [`supervise`]):
    /// the timer, the outbox, the sweeps, and the one-off room check.
    fn spawn_tasks(self: &Arc<Self>, stop_rx: &watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let core = self;
        let queue = self.queue.clone();
        let timer = core
            .timer
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
            });
        let tidy = core.clone();
        let weak = Arc::downgrade(core);
        vec![
            supervise::spawn_once(
                "room check",
                async move {
                    if let Err(e) = tidy.tidy_concern_rooms().await {
                        error!(error = %format!("{e:#}"), "could not check who is in the concerns' rooms");
                    }
                },
                move |f| {
                    if let Some(core) = weak.upgrade() {
                        core.fail_with(f)
                    }
                },
            ),
            core.supervised("timer", timer, stop_rx),
            core.supervised("outbox", outbox::deliver(core.clone(), stop_rx.clone()), stop_rx),
            core.supervised(
                "unfinished-report sweep",
                sweep_unfinished(core.clone(), stop_rx.clone()),
                stop_rx,
            ),
            core.supervised(
                "retention job",
                retention::retention_job(core.clone(), stop_rx.clone()),
                stop_rx,
            ),
            core.supervised("disk watch", watch_disk(core.clone(), stop_rx.clone()), stop_rx),
            core.supervised(
                "room lookup",
                rooms::keep_resolving(core.clone(), stop_rx.clone()),
                stop_rx,
            ),
        ]
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.config.safeguarding.timezone
    }

    /// The time now, by the core's clock.
    pub fn now(&self) -> chrono::DateTime<Utc> {
        self.clock.now()
    }

    /// Whether `user` has a report in progress (asked, not yet sent or
    /// passed on).
    pub fn report_in_progress(&self, user: &str) -> Result<bool, crate::intake::IntakeError> {
        Ok(crate::intake::current(&self.store, user)?.is_some())
    }

    /// The adapter's memory: all of the store an adapter may use.
    pub fn memo(&self) -> Memo<'_> {
        Memo::new(&self.store)
    }

    /// As [`Core::accept`], and on disk when it returns: for a chat that
    /// acknowledges each event as it is handed over (Slack). An event that
    /// could not be made durable is [`Accepted::NotKept`], for the chat to
    /// send again.
    pub fn accept_kept(&self, inbound: Inbound) -> Accepted {
        let accepted = self.accept(inbound);
        if accepted == Accepted::NotKept {
            return accepted;
        }
        match self.store.flush() {
            Ok(()) => accepted,
            Err(e) => {
                error!(error = %e, "could not keep an event on disk");
                Accepted::NotKept
            }
        }
    }

    /// Keeps an event in the inbox, then queues it. An event already seen
    /// (a resync, a replay) is not handled twice. One sender's flood is cut
    /// short (see [`flood`]): past a burst their messages are not handled,
    /// and they are told once.
    ///
    /// Kept in the store's memory, not yet on disk: it is on disk once any
    /// flush that begins after this returns has ended (the commit that
    /// keeps the chat's sync position, or [`Core::accept_kept`]). Only then
    /// may the chat be told it was received. The commit that handles it
    /// usually flushes it first, in the same flush.
    pub fn accept(&self, inbound: Inbound) -> Accepted {
        if matches!(inbound.kind, InboundKind::Joined) && !self.joined_matters(&inbound) {
            // Rooms' members come and go, and come again after a restart:
            // only someone who should not be in a concern's room is kept.
            return Accepted::Dropped;
        }
        if self.store.inbox_known(&inbound.event_id).unwrap_or(false) {
            debug!(event = %inbound.event_id, "event already handled");
            return Accepted::Kept;
        }
        // Someone joining is not a message they sent: never a flood.
        let limited = !matches!(inbound.kind, InboundKind::Joined);
        let verdict = if limited {
            self.flood.check(&inbound.sender, std::time::Instant::now())
        } else {
            flood::Verdict::Take
        };
        match verdict {
            flood::Verdict::Take => {}
            flood::Verdict::Drop => {
                debug!("a message past the flood limit was not handled");
                self.keep_dropped(&inbound.event_id);
                return Accepted::Dropped;
            }
            flood::Verdict::DropAndTell => {
                warn!("one sender's messages are coming too fast; some are not handled");
                if let Err(e) = self.tell_flooding(&inbound) {
                    error!(error = %format!("{e:#}"), "could not tell someone their messages came too fast");
                }
                self.keep_dropped(&inbound.event_id);
                return Accepted::Dropped;
            }
        }
        let sender = inbound.sender.clone();
        let event_id = inbound.event_id.clone();
        if self.keep_and_queue(inbound) {
            return Accepted::Kept;
        }
        if limited {
            self.flood.handled(&sender);
        }
        match self.store.inbox_known(&event_id) {
            Ok(true) => Accepted::Kept,
            _ => Accepted::NotKept,
        }
    }

    /// Remembers a message the flood limit dropped as handled, so that the
    /// same message sent again (Slack redelivers what it thinks was lost)
    /// stays dropped rather than being taken later as an answer.
    fn keep_dropped(&self, event_id: &str) {
        if let Err(e) = self.store.inbox_done(event_id) {
            warn!(error = %e, "could not remember a message dropped in a flood");
        }
    }

    /// Whether someone joining a room is the core's business: a concern's
    /// room, and someone not the bot, a lead or a deputy.
    fn joined_matters(&self, inbound: &Inbound) -> bool {
        inbound.sender != self.chat.bot_id()
            && !self.config.safeguarding.is_responder(&inbound.sender)
            && matches!(self.escalation_for_room(&inbound.room_id), Ok(Some(_)))
    }

    /// As [`Core::accept`], for events the chat missed earlier (a sync gap):
    /// they come all at once but were sent over time, so no flood limit.
    pub fn accept_backlog(&self, inbound: Inbound) {
        if matches!(inbound.kind, InboundKind::Joined) && !self.joined_matters(&inbound) {
            return;
        }
        let _ = self.keep_and_queue(inbound);
    }

    /// Told once when their messages come too fast, in their private chat
    /// only (never in a shared room).
    fn tell_flooding(&self, inbound: &Inbound) -> anyhow::Result<()> {
        let theirs = self.room_of(&outbox::Target::Private(inbound.sender.clone()))?;
        if theirs.as_deref() != Some(inbound.room_id.as_str()) {
            return Ok(());
        }
        self.answer(inbound, "flood", compose::too_fast(), true)
    }

    /// Keeps an event and queues it; whether it was queued.
    fn keep_and_queue(&self, inbound: Inbound) -> bool {
        match self.store.inbox_push(&inbound.event_id, &inbound) {
            Ok(true) => {
                // Ids only, never content: lets a lost event be traced.
                debug!(event = %inbound.event_id, "event kept in the inbox");
                let key = self.work_key(&inbound);
                self.queue.send((key, Work::Event(inbound))).is_ok()
            }
            Ok(false) => {
                debug!(event = %inbound.event_id, "event already handled");
                false
            }
            Err(e) => {
                error!(event = %inbound.event_id, error = %e, "could not keep an event in the inbox");
                if matches!(e, crate::store::StoreError::Disk { .. }) {
                    // Not kept, and the chat's position is not saved past
                    // it either: it comes again after the restart.
                    let key = self.work_key(&inbound);
                    let _ = self.queue.send((key, Work::NotKept(inbound, e.to_string())));
                }
                false
            }
        }
    }

    fn replay_inbox(&self) {
        match self.store.inbox_pending::<Inbound>() {
            Ok(pending) => {
                if !pending.is_empty() {
                    info!(
                        count = pending.len(),
                        "handling events left from before a restart"
                    );
                }
                for inbound in pending {
                    let _ = self.queue.send((self.work_key(&inbound), Work::Event(inbound)));
                }
            }
            Err(e) => error!(error = %e, "could not read the inbox"),
        }
    }

    /// Commits a decision's writes and its effects at once, then wakes the
    /// outbox. Nothing is sent unless everything was kept. Waits for the
    /// disk in a flush shared with every commit made meanwhile.
    pub async fn commit(&self, mut batch: Batch, effects: Effects) -> anyhow::Result<()> {
        effects.stage(&self.store, &mut batch)?;
        self.store.commit_async(batch).await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// As [`Core::commit`], for a handler's last commit: the event being
    /// handled (see [`Handling`]) is marked handled in the same write, so
    /// the decision and the end of its event reach the disk together.
    pub async fn commit_final(&self, mut batch: Batch, effects: Effects) -> anyhow::Result<()> {
        effects.stage(&self.store, &mut batch)?;
        let marks = HANDLING
            .try_with(|h| {
                let first = !h.done.load(std::sync::atomic::Ordering::Relaxed);
                if first {
                    self.store.stage_inbox_done(&mut batch, &h.event_id);
                }
                first
            })
            .unwrap_or(false);
        self.store.commit_async(batch).await?;
        if marks {
            // Only once it is kept: a commit that failed leaves the event
            // for the worker to mark (or to keep, for a failed disk).
            let _ = HANDLING.try_with(|h| h.done.store(true, std::sync::atomic::Ordering::Relaxed));
        }
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// As [`Core::commit`], holding this thread while the disk is waited
    /// for: for the few decisions made outside an async function.
    pub fn commit_blocking(&self, mut batch: Batch, effects: Effects) -> anyhow::Result<()> {
        effects.stage(&self.store, &mut batch)?;
        self.store.commit(batch)?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// A fresh set of effects for one cause.
    pub fn effects(&self, cause: impl Into<String>) -> Effects {
        Effects::new(cause, self.chat.max_message_bytes())
    }

    /// Rooms of escalations from before the rooms index, indexed once.
    fn index_old_rooms(&self) {
        let Ok(escalations) = self.store.items::<Escalation>(Tree::Escalations) else {
            return;
        };
        let mut batch = Batch::new();
        for (_, esc) in escalations {
            if esc.room.is_empty() {
                continue;
            }
            let key = format!("room:{}", esc.room);
            if matches!(self.store.get_item::<String>(Tree::Rooms, &key), Ok(Some(_))) {
                continue;
            }
            let slot = format!("concern:{}", esc.reference);
            let _ = self.store.stage_item(&mut batch, Tree::Rooms, &key, &slot);
            let _ = self.store.stage_item(&mut batch, Tree::Rooms, &slot, &esc.room);
        }
        if let Err(e) = self.store.commit(batch) {
            error!(error = %e, "could not index the rooms of older concerns");
        }
    }

    /// The escalation whose room this is, from the rooms index.
    pub fn escalation_for_room(&self, room: &str) -> anyhow::Result<Option<Escalation>> {
        let Some(slot) = self
            .store
            .get_item::<String>(Tree::Rooms, &format!("room:{room}"))?
        else {
            return Ok(None);
        };
        let Some(reference) = slot.strip_prefix("concern:") else {
            return Ok(None);
        };
        Ok(self.store.get_item::<Escalation>(Tree::Escalations, reference)?)
    }

    /// Which worker an event goes to: everything in a concern's room to
    /// that concern's, everything else to the sender's.
    fn work_key(&self, inbound: &Inbound) -> String {
        match self.escalation_for_room(&inbound.room_id) {
            Ok(Some(esc)) => escalation_key(&esc.reference),
            _ => inbound.sender.clone(),
        }
    }

    /// Tells the sender something went wrong, without detail, straight to
    /// the chat (the store may be what failed).
    async fn apologise(&self, inbound: &Inbound, disk: bool) {
        let words = if disk {
            compose::cannot_save_now()
        } else {
            compose::Text::plain(crate::intake::IntakeError::apology())
        };
        let text = Message::notice(words);
        if let Err(e) = self
            .chat
            .send(&inbound.room_id, &text, &format!("{}/sorry", inbound.event_id))
            .await
        {
            error!(error = %e, "could not even apologise");
        }
    }

    async fn work(&self, sender: &str, work: Work) {
        match work {
            Work::Event(inbound) => {
                let event_id = inbound.event_id.clone();
                // Whatever this event leads to may name its sender, or page
                // (an SMS's sender is a number, not someone in the chat).
                if !matches!(inbound.kind, InboundKind::SmsReply { .. }) {
                    self.refresh_name(&inbound.room_id, &inbound.sender).await;
                }
                self.learn_responder_names().await;
                // Counted as handled before it is: the outbox may deliver
                // the answer before `handle` returns, and a reporter who
                // answers that at once is taking a turn, not flooding.
                if !matches!(inbound.kind, InboundKind::Joined) {
                    self.flood.handled(&inbound.sender);
                }
                let handling = Handling {
                    event_id: event_id.clone(),
                    done: std::sync::atomic::AtomicBool::new(false),
                };
                let (handled, done) = HANDLING
                    .scope(handling, async {
                        let handled = self.handle(&inbound).await;
                        let done = HANDLING.with(|h| h.done.load(std::sync::atomic::Ordering::Relaxed));
                        (handled, done)
                    })
                    .await;
                if let Err(e) = handled {
                    error!(event = %event_id, error = %format!("{e:#}"), "failed to handle an event");
                    if is_disk_failure(&e) {
                        // The event stays in the inbox and is handled after
                        // the restart that follows: not "send it again".
                        self.apologise(&inbound, true).await;
                        self.fail(format!("{e:#}"));
                        return;
                    }
                    self.apologise(&inbound, false).await;
                }
                if done {
                    return;
                }
                if let Err(e) = self.store.inbox_done(&event_id) {
                    error!(event = %event_id, error = %e, "could not mark an event handled");
                }
            }
            Work::NotKept(inbound, why) => {
                self.apologise(&inbound, true).await;
                self.fail(why);
            }
            Work::CheckUnfinished => {
                // An unfinished report is passed on named, after a restart too.
                let room = self.staff_rooms().into_iter().next().unwrap_or_default();
                self.refresh_name(&room, sender).await;
                self.learn_responder_names().await;
                if let Err(e) = self.check_unfinished(sender).await {
                    error!(error = %format!("{e:#}"), "failed to pass on an unfinished report");
                }
            }
            Work::Deadline {
                reference,
                generation,
            } => {
                self.learn_responder_names().await;
                if let Err(e) = self.on_deadline(&reference, Some(generation)).await {
                    error!(reference = %reference, error = %format!("{e:#}"), "failed to escalate");
                    // Try again shortly rather than leave the concern waiting.
                    self.timer
                        .schedule(reference, self.now() + chrono::Duration::seconds(30), generation);
                }
            }
            Work::Recheck { reference } => {
                self.learn_responder_names().await;
                if let Err(e) = self.on_deadline(&reference, None).await {
                    error!(reference = %reference, error = %format!("{e:#}"), "failed to escalate");
                }
            }
        }
    }

    /// The data directory cannot be written (a full disk): sled does not
    /// recover from that in a running process, so the bot says why, once,
    /// and stops with an error, for systemd to start it again; what was not
    /// handled stays in the inbox.
    fn fail(&self, why: String) {
        if self.failed.borrow().is_none() {
            error!("the data directory cannot be written (is the disk full?); the bot stops so that it starts afresh once there is space: {why}");
        }
        self.fail_with(Failure::Disk(why));
    }

    /// The core cannot go on: the first reason is kept, and the bot stops.
    fn fail_with(&self, failure: Failure) {
        self.failed.send_if_modified(|f| {
            let first = f.is_none();
            if first {
                *f = Some(failure);
            }
            first
        });
    }

    /// Spawns one of the core's tasks, named, to run until the bot stops;
    /// if it ends before that or panics, the bot stops (see [`supervise`]).
    fn supervised(
        self: &Arc<Self>,
        name: &'static str,
        task: impl std::future::Future<Output = ()> + Send + 'static,
        stopping: &watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        supervise::spawn(name, task, stopping.clone(), move |f| {
            if let Some(core) = weak.upgrade() {
                core.fail_with(f)
            }
        })
    }

    /// The chat has synced since it started: the outbox may send.
    pub fn chat_synced(&self) {
        let first = self.synced.send_if_modified(|s| !std::mem::replace(s, true));
        if first && !self.unresolved_rooms().is_empty() {
            // The chat is back: the rooms that did not resolve may now.
            self.rooms_changed();
        }
    }

    /// Waits until the chat is ready to send to.
    pub(crate) async fn wait_until_synced(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Turns to `Some(why)` when the core cannot go on (see [`Core::fail`]).
    pub fn failure(&self) -> watch::Receiver<Option<Failure>> {
        self.failed.subscribe()
    }

    /// Tells the leads' room something, as a notice, through the outbox.
    pub fn tell_leads(&self, cause: &str, text: &str) -> anyhow::Result<bool> {
        let Some(room) = self.leads_room() else {
            return Ok(false);
        };
        let mut effects = self.effects(cause);
        effects.send(
            "leads",
            outbox::Target::Room(room),
            Message::notice(compose::Text::plain(text)),
            outbox::Remember::Nothing,
            None,
        );
        self.commit_blocking(Batch::new(), effects)?;
        Ok(true)
    }
}

impl Running {
    /// Takes what the SMS gateway tells the bot (replies, delivery
    /// statuses, refused webhook requests) into the core until it stops.
    pub fn take_sms(
        &mut self,
        events: mpsc::Receiver<crate::notify::SmsEvent>,
        refused: mpsc::Receiver<crate::notify::inbound::RefusedWebhook>,
    ) {
        let stop = self.stop.subscribe();
        let task = sms_in::take(self.core.clone(), events, refused, stop.clone());
        self.tasks.push(self.core.supervised("SMS replies", task, &stop));
    }

    /// Ends the core's tasks. Workers finish the item in hand; what they have
    /// not started stays in the inbox, and what is not sent in the outbox.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.core.timer.stop();
        for task in self.tasks {
            let _ = task.await;
        }
        if let Err(e) = self.dispatcher.await {
            warn!(error = %e, "the dispatcher ended badly");
        }
        self.core
            .store
            .flush()
            .map_err(|e| anyhow::anyhow!("could not flush the store on shutdown: {e}"))?;
        Ok(())
    }
}

/// Whether an error comes from the data directory failing to be written.
fn is_disk_failure(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<crate::store::StoreError>(),
            Some(crate::store::StoreError::Disk { .. })
        ) || matches!(
            cause.downcast_ref::<crate::intake::IntakeError>(),
            Some(crate::intake::IntakeError::Store(
                crate::store::StoreError::Disk { .. }
            ))
        )
    })
}

/// Stops the bot once any write has failed for the disk, wherever it was
/// (a health check, the sync position, a deadline, the outbox): sled
/// refuses every write after one, so only a restart recovers.
/// A worker that panicked is logged (not what it was handling, which may be
/// a report); the event stays in the inbox, handled again at the next start.
fn log_worker_panic(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        if e.is_panic() {
            error!("a worker handling one person's messages failed (a panic; the log above says where); the message it had stays in the inbox and is handled again when the bot next starts");
        }
    }
}

async fn watch_disk(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Some(why) = core.store.disk_failure() {
            core.fail(why);
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Routes work to one worker per sender, started on demand and ended when
/// idle. On shutdown, lets each worker finish the item in hand.
async fn dispatch(
    core: Arc<Core>,
    mut rx: mpsc::UnboundedReceiver<(String, Work)>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut workers: HashMap<String, mpsc::UnboundedSender<Work>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (sender, work) = tokio::select! {
            next = rx.recv() => match next {
                Some(item) => item,
                None => break,
            },
            _ = shutdown.changed() => break,
        };
        while let Some(ended) = tasks.try_join_next() {
            log_worker_panic(ended);
        }
        let mut work = Some(work);
        if let Some(tx) = workers.get(&sender) {
            // A worker that has just ended refuses it: start another.
            if let Err(mpsc::error::SendError(back)) = tx.send(work.take().expect("work")) {
                work = Some(back);
            }
        }
        if let Some(work) = work {
            let (tx, wrx) = mpsc::unbounded_channel();
            let _ = tx.send(work);
            tasks.spawn(worker(core.clone(), sender.clone(), wrx, shutdown.clone()));
            workers.insert(sender, tx);
        }
        if workers.len() > 256 {
            workers.retain(|_, tx| !tx.is_closed());
        }
    }
    drop(workers);
    drop(core);
    let finish = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(20), finish)
        .await
        .is_err()
    {
        warn!("some work was still running at shutdown; it stays in the inbox for next time");
    }
}

async fn worker(
    core: Arc<Core>,
    sender: String,
    mut rx: mpsc::UnboundedReceiver<Work>,
    stop: watch::Receiver<bool>,
) {
    loop {
        let work = match tokio::time::timeout(WORKER_IDLE, rx.recv()).await {
            Ok(Some(work)) => work,
            Ok(None) => return,
            Err(_) => {
                // Idle: refuse more, then finish what came in meanwhile.
                rx.close();
                while let Ok(work) = rx.try_recv() {
                    core.work(&sender, work).await;
                }
                return;
            }
        };
        if *stop.borrow() {
            return;
        }
        core.work(&sender, work).await;
    }
}

/// Queues a check of each report in progress on its reporter's worker, so
/// it is never handled beside that reporter's messages.
async fn sweep_unfinished(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    // Often enough that a report is passed on within a quarter of the
    // allowed time after it is due, and at least once a minute.
    let every = (core.config.safeguarding.unfinished_after / 4)
        .clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        let after = chrono::Duration::from_std(core.config.safeguarding.unfinished_after)
            .unwrap_or(crate::conversation::ABANDONED_AFTER);
        // Only the reports that are due: not a worker for every reporter.
        match crate::intake::reporters_due(&core.store, core.now(), after) {
            Ok(reporters) => {
                for r in reporters {
                    let _ = core.queue.send((r, Work::CheckUnfinished));
                }
            }
            Err(e) => error!(error = %e, "could not list reports in progress"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_that_cannot_be_written_is_told_apart_from_other_failures() {
        let disk = crate::store::StoreError::Disk {
            dir: "/var/lib/safeguarding-bot".into(),
            source: sled::Error::Io(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left",
            )),
        };
        let e = anyhow::Error::new(crate::intake::IntakeError::Store(disk)).context("handling a message");
        assert!(is_disk_failure(&e));
        let other = anyhow::anyhow!("the chat refused").context("handling a message");
        assert!(!is_disk_failure(&other));
    }
}
