//! The durable outbox: every effect the core decides, kept with the
//! decision (see [`crate::store::Batch`]) and carried out here, in order per
//! room, exactly once.
//!
//! - [`Effect`]: what to do, aimed at a [`Target`] that names a room by its
//!   job (a concern's room, a reporter's private chat), resolved when it is
//!   sent, so a room made by an earlier effect is found.
//! - [`Effects`]: the effects of one cause, keyed from it, with messages
//!   longer than the chat takes split into numbered parts.
//! - [`deliver`]: the one delivery loop. Transient failures and rate limits
//!   are tried again with backoff, surviving restarts; an effect the chat
//!   refuses for good is dropped and said where someone can act, and so is
//!   one that keeps failing while the chat works ([`retry`]). Each person's
//!   invitation is its own queue, so one that fails holds up nobody else.
//! - [`notices`]: what is said, and to whom, when an effect fails.
//! - [`outside`]: an SMS or email carried out through the core's notifier.

mod notices;
mod outside;
mod people;
mod retry;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{debug, error, info};

use super::chat::{ChatError, File, Kind, Message, RoomSpec};
use super::Core;
use crate::casework::retention::{self, PostedCopy};
use crate::concern::Reference;
use crate::escalation::Escalation;
use crate::store::{Batch, Pending, Tree};
use retry::{Tries, Verdict};

/// A room, by its job.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// A room by the chat's id (a staff room, the leads' room).
    Room(String),
    /// A concern's own room, made by a [`Effect::CreateRoom`] for it.
    Concern(Reference),
    /// The bot's private chat with this reporter (or lead).
    Private(String),
}

impl Target {
    /// The slot this target's room is kept under in [`Tree::Rooms`].
    pub fn slot(&self) -> Option<String> {
        match self {
            Target::Room(_) => None,
            Target::Concern(r) => Some(format!("concern:{r}")),
            Target::Private(p) => Some(format!("private:{p}")),
        }
    }

    /// The room's queue (see [`Effect::queue`]).
    fn queue(&self) -> String {
        self.slot().unwrap_or_else(|| match self {
            Target::Room(id) => format!("room:{id}"),
            _ => unreachable!(),
        })
    }
}

/// What to note once a message is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Remember {
    #[default]
    Nothing,
    /// A copy of this concern outside its own room: removed with it.
    CopyOf(Reference),
    /// A message in this reporter's private chat about their latest report.
    ReporterCopy(String),
    /// Written to the audit log once delivered (a page is "paged" only
    /// when it went, not when it was decided).
    Audited {
        action: String,
        reference: Reference,
        detail: String,
    },
    /// The leads were told something for this concern failed: the reporter
    /// is told the leads know only once this went, and what to do now if it
    /// cannot go.
    LeadsTold { reference: Reference, reporter: String },
}

/// One thing for the chat to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    CreateRoom {
        target: Target,
        spec: RoomSpec,
    },
    Invite {
        target: Target,
        user: String,
        /// The concern, to say who could not be invited to what.
        about: Option<Reference>,
    },
    Send {
        target: Target,
        message: Message,
        #[serde(default)]
        remember: Remember,
        /// The concern it is about, to tell someone if it cannot be sent.
        about: Option<Reference>,
    },
    Upload {
        target: Target,
        file: File,
        about: Option<Reference>,
    },
    /// Removes someone from a room (no longer a lead or deputy).
    Remove {
        target: Target,
        user: String,
        reason: String,
    },
    /// Removes a message (someone's picture in a private chat).
    Redact {
        target: Target,
        message: String,
        reason: String,
    },
    /// Removes from a concern's room anyone not a lead or deputy, asking
    /// the chat until it answers (see [`Core::clear_outsiders`]).
    Check {
        target: Target,
    },
    /// An SMS, through the [`crate::notify::Notifier`], not the chat: a
    /// page (`page` says which step of whose rules) or an answer.
    Sms {
        sms: crate::notify::Sms,
        page: Option<PageStep>,
    },
    /// An email, the same way.
    Email {
        email: crate::notify::Email,
        page: Option<PageStep>,
    },
}

/// Which page outside the chat an SMS or email is: a concern, a person,
/// and the step of their rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageStep {
    pub reference: Reference,
    pub who: String,
    pub step: usize,
}

impl Effect {
    /// Effects in one queue are carried out in order, one at a time: one
    /// queue per room, and one per person invited to it, so an invitation
    /// that fails holds up no one else's (see [`retry::held`]).
    fn queue(&self) -> String {
        match self {
            Effect::Invite { target, user, .. } => format!("{}/invite:{user}", target.queue()),
            // One queue per number and address: a slow gateway holds up no room.
            Effect::Sms { sms, .. } => format!("sms:{}", sms.to),
            Effect::Email { email, .. } => format!("email:{}", email.to),
            other => other.target().map(Target::queue).unwrap_or_default(),
        }
    }

    /// An SMS or an email: sent whether or not the chat is in reach.
    fn is_outside(&self) -> bool {
        matches!(self, Effect::Sms { .. } | Effect::Email { .. })
    }

    /// The room it is for; none for an SMS or an email.
    fn target(&self) -> Option<&Target> {
        match self {
            Effect::CreateRoom { target, .. }
            | Effect::Invite { target, .. }
            | Effect::Send { target, .. }
            | Effect::Upload { target, .. }
            | Effect::Remove { target, .. }
            | Effect::Redact { target, .. }
            | Effect::Check { target } => Some(target),
            Effect::Sms { .. } | Effect::Email { .. } => None,
        }
    }

    /// A page or answer outside the chat.
    pub fn is_notification(&self) -> bool {
        matches!(self, Effect::Sms { .. } | Effect::Email { .. })
    }

    fn about(&self) -> Option<&Reference> {
        match self {
            Effect::CreateRoom { target, .. } => match target {
                Target::Concern(r) => Some(r),
                _ => None,
            },
            Effect::Invite { about, .. } | Effect::Send { about, .. } | Effect::Upload { about, .. } => {
                about.as_ref()
            }
            Effect::Redact { .. } | Effect::Remove { .. } | Effect::Check { .. } => None,
            Effect::Sms { page, .. } | Effect::Email { page, .. } => page.as_ref().map(|p| &p.reference),
        }
    }

    /// What it was, in words for the leads, naming whoever it was for as
    /// `name` says.
    fn what(&self, name: &str) -> String {
        match self {
            Effect::CreateRoom { .. } => "make the concern's room".into(),
            Effect::Invite { .. } => format!("invite {name} to the concern's room"),
            Effect::Send {
                message: Message {
                    kind: Kind::Ping(_), ..
                },
                ..
            } => "send the page".into(),
            Effect::Send { .. } => "send a message".into(),
            Effect::Upload { .. } => "upload the export".into(),
            Effect::Redact { .. } => "remove a message".into(),
            Effect::Remove { .. } => format!("remove {name} from a concern's room"),
            Effect::Check { .. } => "check who is in the concern's room".into(),
            Effect::Sms { .. } => format!("send an SMS to {name}"),
            Effect::Email { .. } => format!("send an email to {name}"),
        }
    }
}

/// The effects of one cause, each keyed `CAUSE/SLOT`, so the same cause
/// handled again stages the same keys and nothing is sent twice.
pub struct Effects {
    cause: String,
    max_bytes: usize,
    items: Vec<(String, Effect)>,
}

impl Effects {
    pub fn new(cause: impl Into<String>, max_bytes: usize) -> Self {
        Effects {
            cause: cause.into(),
            max_bytes,
            items: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push(&mut self, slot: &str, effect: Effect) {
        self.items.push((format!("{}/{slot}", self.cause), effect));
    }

    /// An effect keyed by a cause of its own (`cause/slot`), not this
    /// set's: a page outside the chat is keyed by its concern, person and
    /// step, whatever decision found it due.
    pub fn push_as(&mut self, cause: &str, slot: &str, effect: Effect) {
        self.items.push((format!("{cause}/{slot}"), effect));
    }

    /// A message, in numbered parts if it is longer than the chat takes.
    pub fn send(
        &mut self,
        slot: &str,
        target: Target,
        message: Message,
        remember: Remember,
        about: Option<&Reference>,
    ) {
        let parts = split(&message, self.max_bytes);
        let single = parts.len() == 1;
        for (i, part) in parts.into_iter().enumerate() {
            let slot = if single {
                slot.to_string()
            } else {
                format!("{slot}#{}", i + 1)
            };
            self.push(
                &slot,
                Effect::Send {
                    target: target.clone(),
                    message: part,
                    remember: remember.clone(),
                    about: about.cloned(),
                },
            );
        }
    }

    /// Stages every effect in `batch`.
    pub fn stage(
        self,
        store: &crate::store::Store,
        batch: &mut Batch,
    ) -> Result<(), crate::store::StoreError> {
        for (key, effect) in &self.items {
            store.stage_effect(batch, key, effect)?;
        }
        Ok(())
    }
}

/// A message as parts that each fit in `max` bytes ([`Message::size`]):
/// itself if it fits; otherwise its plain text split at line ends, each
/// part headed "(part 1 of 3)", without HTML, so nothing is lost.
pub fn split(message: &Message, max: usize) -> Vec<Message> {
    if message.size() <= max {
        return vec![message.clone()];
    }
    // Room for the header, "(part 999 of 999)\n".
    let room = max.saturating_sub(24).max(64);
    let pieces = split_text(&message.plain, room);
    let n = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, p)| Message {
            kind: message.kind.clone(),
            plain: format!("(part {} of {n})\n{p}", i + 1),
            html: None,
            // The choices go with the question, at the end.
            buttons: if i + 1 == n { message.buttons.clone() } else { None },
            people: message.people.clone(),
        })
        .collect()
}

/// Splits `text` into pieces of at most `max` bytes, at line ends where it
/// can, never inside a character.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        let mut line = line;
        loop {
            if current.len() + line.len() <= max {
                current.push_str(line);
                break;
            }
            if !current.is_empty() {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            // One line longer than a message: cut it at a character boundary.
            let mut cut = max.min(line.len());
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 {
                cut = line.chars().next().map_or(line.len(), char::len_utf8);
            }
            parts.push(line[..cut].to_string());
            line = &line[cut..];
        }
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

/// What to write once an effect is carried out, and the concerns' locks
/// to hold until it is written.
pub(super) struct Then {
    pub(super) batch: Batch,
    /// Each concern's lock, held once.
    pub(super) held: HashMap<Reference, tokio::sync::OwnedMutexGuard<()>>,
}

impl Then {
    fn new() -> Then {
        Then {
            batch: Batch::new(),
            held: HashMap::new(),
        }
    }
}

/// How an attempt ended.
pub(super) enum Outcome {
    Done(Then),
    /// Try again after this long; later effects in the queue wait. `counts`:
    /// a failure that counts towards giving up (not a rate limit, not our
    /// own store).
    Retry {
        after: Duration,
        counts: bool,
    },
    /// The chat refused for good: said to someone, then dropped.
    Failed(ChatError),
    /// Not for anyone any more (see [`Core::still_for_responders`]).
    Dropped,
}

impl Outcome {
    pub(super) fn done(batch: Batch) -> Outcome {
        Outcome::Done(Then {
            batch,
            held: HashMap::new(),
        })
    }

    pub(super) fn retry(after: Duration) -> Outcome {
        Outcome::Retry { after, counts: false }
    }
}

/// The longest wait between tries of one effect.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How long what follows an invitation in a room (the page) waits for that
/// invitation's first try to end (a server far away may take long to fail).
const SLOW_INVITE: Duration = Duration::from_secs(10);

/// Carries out the outbox until `shutdown`: wakes when effects are staged
/// ([`Core::wake_outbox`]) and when a wait runs out; one task per queue (a
/// room, or one person's invitation to it) at a time, so messages arrive in
/// order in each room and one slow room or person never holds up another.
pub async fn deliver(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    // Queues with a task at work: owned by this loop alone, so a queue is
    // free again only once its task has said it is done.
    let mut busy: HashSet<String> = HashSet::new();
    let mut waits: HashMap<String, (tokio::time::Instant, Duration)> = HashMap::new();
    // When each busy queue's task began: an invitation still in its first
    // try after SLOW_INVITE holds up the page no longer.
    let mut started: HashMap<String, tokio::time::Instant> = HashMap::new();
    let bound = retry::give_up_after(core.config.safeguarding.ack_timeout);
    let tries = Arc::new(Mutex::new(Tries::new(bound)));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(String, Option<Duration>)>();
    let mut tasks = tokio::task::JoinSet::new();
    // Nothing is sent to the chat until it knows its rooms (after its first
    // sync); SMS and email go at once, so a chat that is down when the bot
    // starts holds back no page outside it.
    let mut synced = core.synced.subscribe();
    // Whether the chat was out of reach (as the adapter said) when last
    // looked: once it is back, what waits for it is tried at once.
    let mut was_down = false;
    // When each effect waiting was first seen, for the oldest one's age
    // (`/metrics`, and the heartbeat, which stops when one is stuck).
    let mut first_seen: HashMap<u64, tokio::time::Instant> = HashMap::new();
    let finished =
        |busy: &mut HashSet<String>, waits: &mut HashMap<_, _>, (queue, wait): (String, Option<Duration>)| {
            busy.remove(&queue);
            match wait {
                Some(d) => {
                    waits.insert(queue, (tokio::time::Instant::now() + d, d));
                }
                None => {
                    waits.remove(&queue);
                }
            }
        };
    loop {
        while let Ok(done) = done_rx.try_recv() {
            finished(&mut busy, &mut waits, done);
        }
        started.retain(|q, _| busy.contains(q));
        let pending = match core.store.outbox_pending::<Effect>() {
            Ok(p) => p,
            Err(e) => {
                error!(error = %e, "could not read the outbox; trying again shortly");
                Vec::new()
            }
        };
        let now = tokio::time::Instant::now();
        let waiting: HashSet<u64> = pending.iter().map(|p| p.seq).collect();
        first_seen.retain(|seq, _| waiting.contains(seq));
        for p in &pending {
            first_seen.entry(p.seq).or_insert(now);
        }
        let oldest = first_seen.values().min().map_or(Duration::ZERO, |t| now - *t);
        core.metrics.outbox_oldest(oldest);
        let mut next_wake: Option<tokio::time::Instant> = None;
        let mut failing: HashSet<String> = waits.keys().cloned().collect();
        for (queue, at) in &started {
            if now >= *at + SLOW_INVITE {
                failing.insert(queue.clone());
            } else {
                let at = *at + SLOW_INVITE;
                next_wake = Some(next_wake.map_or(at, |w| w.min(at)));
            }
        }
        let chat_ready = *synced.borrow_and_update();
        let down = core.chat_is_down();
        if was_down && !down {
            waits.clear();
        }
        was_down = down;
        let held = retry::held(&pending, &failing);
        let mut queues: HashMap<String, Vec<Pending<Effect>>> = HashMap::new();
        let mut stopped: HashSet<String> = HashSet::new();
        for p in pending {
            let queue = p.effect.queue();
            // What waits holds up what comes after it in its queue.
            if !chat_ready && !p.effect.is_outside() {
                continue;
            }
            if stopped.contains(&queue) || held.contains(&p.seq) {
                stopped.insert(queue);
                continue;
            }
            queues.entry(queue).or_default().push(p);
        }
        for (queue, items) in queues {
            if busy.contains(&queue) {
                continue;
            }
            if let Some((at, _)) = waits.get(&queue) {
                if *at > now {
                    next_wake = Some(next_wake.map_or(*at, |w| w.min(*at)));
                    continue;
                }
            }
            busy.insert(queue.clone());
            started.insert(queue.clone(), now);
            let core = core.clone();
            let tries = tries.clone();
            let last = waits.get(&queue).map(|(_, d)| *d);
            // Says the queue is done even if the task panics.
            let guard = DoneGuard {
                tx: done_tx.clone(),
                queue,
                wait: Some(Duration::from_secs(5)),
            };
            tasks.spawn(async move {
                let mut guard = guard;
                guard.wait = deliver_queue(&core, &tries, items, last).await;
            });
        }
        while tasks.try_join_next().is_some() {}
        let sleep_until = next_wake.unwrap_or(now + Duration::from_secs(30));
        tokio::select! {
            _ = core.outbox_wake.notified() => {}
            _ = synced.changed(), if !chat_ready => {}
            Some(done) = done_rx.recv() => finished(&mut busy, &mut waits, done),
            _ = tokio::time::sleep_until(sleep_until) => {}
            _ = shutdown.changed() => break,
        }
    }
    // What is in hand finishes (or stays in the outbox for next time).
    let finish = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_secs(10), finish).await;
}

/// Tells the delivery loop a queue's task has ended, however it ended.
struct DoneGuard {
    tx: tokio::sync::mpsc::UnboundedSender<(String, Option<Duration>)>,
    queue: String,
    wait: Option<Duration>,
}

impl Drop for DoneGuard {
    fn drop(&mut self) {
        let _ = self.tx.send((std::mem::take(&mut self.queue), self.wait));
    }
}

/// Carries out one queue's effects in order. Returns how long to wait before
/// trying the first one left again, if one is left.
async fn deliver_queue(
    core: &Core,
    tries: &Mutex<Tries>,
    items: Vec<Pending<Effect>>,
    last_wait: Option<Duration>,
) -> Option<Duration> {
    let mut last_wait = last_wait;
    let lock = || tries.lock().unwrap_or_else(PoisonError::into_inner);
    for item in items {
        let outcome = match attempt_in_time(core, &item).await {
            Outcome::Retry { after, counts: true } => {
                let verdict = lock().failed(item.seq, core.now(), core.metrics.last_sync());
                match verdict {
                    Verdict::Wait => Outcome::retry(after),
                    Verdict::Warn => {
                        core.tell_still_failing(&item).await;
                        Outcome::retry(after)
                    }
                    Verdict::GiveUp => Outcome::Failed(ChatError::Transient("it kept failing".into())),
                }
            }
            other => other,
        };
        let delivered = matches!(outcome, Outcome::Done(_));
        let (mut then, held) = match outcome {
            Outcome::Done(then) => {
                lock().done(item.seq, core.now());
                (then.batch, then.held)
            }
            Outcome::Dropped => (Batch::new(), HashMap::new()),
            Outcome::Retry { after, .. } => {
                let backoff = last_wait.map_or(Duration::from_millis(500), |d| (d * 2).min(MAX_BACKOFF));
                let wait = after.max(backoff);
                debug!(key = %item.key, retry_in = ?wait, "could not carry out an effect yet");
                return Some(wait);
            }
            Outcome::Failed(why) if item.effect.is_notification() => {
                lock().forget(item.seq);
                (
                    core.notification_given_up(&item, &why.to_string()).await,
                    HashMap::new(),
                )
            }
            Outcome::Failed(why) => {
                lock().forget(item.seq);
                (core.given_up(&item, &why).await, HashMap::new())
            }
        };
        if delivered {
            // In the same write as its mark: the audit log says a page went
            // exactly when the outbox knows it went.
            core.stage_audit_delivered(&mut then, &item.effect);
        }
        // A message sent again under its key after a crash is the same
        // message to the chat: its mark need not wait for the disk (sent
        // again, it is marked, and audited, then). A room made again would
        // be another room: its mark does.
        let marked = match (&item.effect, delivered) {
            (Effect::Send { .. }, true) => core.store.outbox_sent(item.seq, &item.key, then).await,
            _ => core.store.outbox_done_async(item.seq, &item.key, then).await,
        };
        drop(held);
        if let Err(e) = marked {
            error!(error = %e, "could not mark an effect done; it may be tried again");
            return Some(Duration::from_secs(5));
        }
        // Something went through: the next failure starts its waits afresh.
        last_wait = None;
    }
    None
}

/// How long one try of an invitation or a removal may take: an SDK that
/// retries a server error by itself (matrix-sdk does, for up to 15
/// minutes) must not hold a try, and so the bound, for ever. Only these are
/// cut short, as trying them again is harmless; a message, a room or a file
/// cut short might be sent or made twice.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(10);

async fn attempt_in_time(core: &Core, item: &Pending<Effect>) -> Outcome {
    if !matches!(item.effect, Effect::Invite { .. } | Effect::Remove { .. }) {
        return attempt(core, item).await;
    }
    match tokio::time::timeout(ATTEMPT_LIMIT, attempt(core, item)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            debug!(key = %item.key, "a try took too long; it counts as failed");
            Outcome::Retry {
                after: Duration::ZERO,
                counts: true,
            }
        }
    }
}

async fn attempt(core: &Core, item: &Pending<Effect>) -> Outcome {
    let effect = &item.effect;
    let Some(target) = effect.target() else {
        return core.attempt_notification(item).await;
    };
    if let Effect::CreateRoom { target, spec } = effect {
        // Made already (a restart after it was made but not marked done).
        if let Ok(Some(room)) = core.room_of(target) {
            if core.chat.is_joined(&room).await.unwrap_or(false)
                && room_still_theirs(core, target, &room).await
            {
                return Outcome::done(Batch::new());
            }
        }
        return match core.chat.create_room(spec).await {
            Ok(room) => {
                info!(slot = ?target.slot(), "made a room");
                match core.stage_room(target, &room).await {
                    Ok(batch) => Outcome::done(batch),
                    Err(e) => {
                        error!(error = %e, "could not keep a room just made; trying again");
                        Outcome::retry(Duration::from_secs(1))
                    }
                }
            }
            Err(e) => classify(e),
        };
    }
    // Someone no longer a lead or deputy in the config is never let into a
    // concern's room or paged there, whenever it was decided.
    let effect = match core.still_for_responders(effect) {
        Some(effect) => effect,
        None => return Outcome::Dropped,
    };
    let effect = &effect;
    let room = match core.room_of(target) {
        Ok(Some(room)) => room,
        Ok(None) => return Outcome::Failed(ChatError::NotFound("the room was never made".into())),
        Err(e) => {
            error!(error = %e, "could not look up a room");
            return Outcome::retry(Duration::from_secs(1));
        }
    };
    // Nobody but leads and deputies is in a concern's room when anything
    // goes there.
    if let Err(e) = super::roomcheck::clear_before(core, effect, &room, &item.key).await {
        return classify(e);
    }
    // Nothing about a concern goes into a room that is not confidential.
    if matches!(effect, Effect::Send { .. } | Effect::Upload { .. })
        && matches!(target, Target::Concern(_) | Target::Private(_))
    {
        match core.chat.is_confidential(&room).await {
            Ok(true) => {}
            Ok(false) => return Outcome::Failed(ChatError::Refused("the room is not encrypted".into())),
            Err(e) => return classify(e),
        }
    }
    match effect {
        Effect::CreateRoom { .. } | Effect::Sms { .. } | Effect::Email { .. } => unreachable!(),
        Effect::Check { .. } => Outcome::done(Batch::new()),
        Effect::Invite { user, .. } => {
            let present = match core.chat.members(&room).await {
                Ok(m) => m.iter().any(|m| &m.user == user),
                Err(e) => return classify(e),
            };
            if present {
                return Outcome::done(Batch::new());
            }
            match core.chat.invite(&room, user).await {
                Ok(()) => Outcome::done(Batch::new()),
                Err(e) => classify(e),
            }
        }
        Effect::Send {
            message, remember, ..
        } => match core.chat.send(&room, message, &item.key).await {
            Ok(id) => {
                let mut then = Then::new();
                core.remember(&mut then, remember, &room, &id, &item.key).await;
                Outcome::Done(then)
            }
            Err(ChatError::TooLarge) => send_smaller(core, &room, message, remember, &item.key).await,
            Err(e) => classify(e),
        },
        Effect::Upload { file, .. } => match core.chat.upload(&room, file, &item.key).await {
            Ok(_) => Outcome::done(Batch::new()),
            Err(e) => classify(e),
        },
        Effect::Remove { user, reason, .. } => {
            let present = match core.chat.members(&room).await {
                Ok(m) => m.iter().any(|m| &m.user == user),
                Err(e) => return classify(e),
            };
            if !present {
                return Outcome::done(Batch::new());
            }
            match core.chat.remove(&room, user, reason).await {
                Ok(()) | Err(ChatError::NotFound(_)) => Outcome::done(Batch::new()),
                Err(e) => classify(e),
            }
        }
        Effect::Redact { message, reason, .. } => match core.chat.redact(&room, message, reason).await {
            // Gone already is as good as removed.
            Ok(()) | Err(ChatError::NotFound(_)) => Outcome::done(Batch::new()),
            Err(e) => classify(e),
        },
    }
}

/// The room kept for a target is still fit for it: for a private chat,
/// still only the bot and its reporter, and confidential.
async fn room_still_theirs(core: &Core, target: &Target, room: &str) -> bool {
    match target {
        Target::Private(reporter) => core.is_private_chat_of(room, reporter).await,
        _ => true,
    }
}

/// The chat said a message was too large although it fit the size it
/// gave: send it in smaller pieces, halving until the chat takes them, each
/// keyed from the first. A part's "(part 2 of 3)" is kept in its pieces.
async fn send_smaller(core: &Core, room: &str, message: &Message, remember: &Remember, key: &str) -> Outcome {
    let (label, body) = match message.plain.split_once('\n') {
        Some((head, rest)) if head.starts_with("(part ") && head.ends_with(')') => (
            Some(head.trim_start_matches('(').trim_end_matches(')').to_string()),
            rest,
        ),
        _ => (None, message.plain.as_str()),
    };
    let mut max = (message.size() / 2).max(256);
    let mut level = 1;
    loop {
        let pieces = split_text(body, max);
        let n = pieces.len();
        let mut first_taken = false;
        let mut then = Then::new();
        for (i, piece) in pieces.iter().enumerate() {
            let head = match &label {
                Some(l) => format!("({l}, piece {} of {n})", i + 1),
                None => format!("(part {} of {n})", i + 1),
            };
            let part = Message {
                kind: message.kind.clone(),
                plain: format!("{head}\n{piece}"),
                html: None,
                buttons: if i + 1 == n { message.buttons.clone() } else { None },
                people: message.people.clone(),
            };
            match core
                .chat
                .send(room, &part, &format!("{key}~{level}.{}", i + 1))
                .await
            {
                Ok(id) => {
                    first_taken = true;
                    core.remember(&mut then, remember, room, &id, key).await;
                }
                Err(ChatError::TooLarge) if !first_taken && max > 256 => break,
                Err(ChatError::TooLarge) => return Outcome::Failed(ChatError::TooLarge),
                Err(e) => return classify(e),
            }
            if i + 1 == n {
                return Outcome::Done(then);
            }
        }
        max = (max / 2).max(256);
        level += 1;
    }
}

fn classify(e: ChatError) -> Outcome {
    match e {
        // The chat is there but busy: wait as it says, never give up.
        ChatError::RateLimited(after) => Outcome::retry(after.unwrap_or(Duration::from_secs(2))),
        // Anything the adapter does not recognise: tried again, but not for
        // ever (see retry::Tries).
        ChatError::Transient(_) => Outcome::Retry {
            after: Duration::ZERO,
            counts: true,
        },
        other => Outcome::Failed(other),
    }
}

impl Core {
    /// The room a target names, if it is known (made) yet.
    pub fn room_of(&self, target: &Target) -> Result<Option<String>, crate::store::StoreError> {
        match target {
            Target::Room(id) => Ok(Some(id.clone())),
            Target::Concern(r) => {
                if let Some(room) = self
                    .store
                    .get_item::<String>(Tree::Rooms, &format!("concern:{r}"))?
                {
                    return Ok(Some(room));
                }
                // Escalations from before the rooms index keep their room.
                Ok(self
                    .store
                    .get_item::<Escalation>(Tree::Escalations, &r.to_string())?
                    .map(|e| e.room)
                    .filter(|room| !room.is_empty()))
            }
            Target::Private(p) => self.store.get_item::<String>(Tree::PrivateRooms, p),
        }
    }

    /// Keeps a room just made under its slot, both ways, and for a concern
    /// in its escalation too (under the concern's lock, committed here).
    /// Returns what to commit with the effect's being done.
    async fn stage_room(&self, target: &Target, room: &str) -> Result<Batch, crate::store::StoreError> {
        let mut batch = Batch::new();
        let slot = target.slot().unwrap_or_default();
        if target.slot().is_some() {
            self.stage_slot(&mut batch, &slot, room)?;
        }
        match target {
            Target::Room(_) => {}
            Target::Concern(reference) => {
                let _one_at_a_time = self.locks.lock(reference).await;
                if let Some(mut esc) = self
                    .store
                    .get_item::<Escalation>(Tree::Escalations, &reference.to_string())?
                {
                    esc.room = room.to_string();
                    self.store
                        .stage_item(&mut batch, Tree::Escalations, &reference.to_string(), &esc)?;
                }
                self.store.commit(batch)?;
                debug!(slot = %slot, "room kept with its concern");
                return Ok(Batch::new());
            }
            Target::Private(reporter) => {
                self.store
                    .stage_item(&mut batch, Tree::PrivateRooms, reporter, room)?;
            }
        }
        Ok(batch)
    }

    /// A room kept under its slot, both ways.
    fn stage_slot(&self, batch: &mut Batch, slot: &str, room: &str) -> Result<(), crate::store::StoreError> {
        self.store.stage_item(batch, Tree::Rooms, slot, room)?;
        self.store
            .stage_item(batch, Tree::Rooms, &format!("room:{room}"), slot)
    }

    /// A chat the transport already keeps between the bot and `user`
    /// (Slack's direct message) becomes their private chat, kept as one the
    /// bot made is, unless they have one. Whether it was adopted.
    pub fn adopt_private_chat(&self, user: &str, room: &str) -> Result<bool, crate::store::StoreError> {
        if self.store.get_item::<String>(Tree::PrivateRooms, user)?.is_some() {
            return Ok(false);
        }
        let mut batch = Batch::new();
        let slot = Target::Private(user.to_string()).slot().unwrap_or_default();
        self.stage_slot(&mut batch, &slot, room)?;
        self.store
            .stage_item(&mut batch, Tree::PrivateRooms, user, room)?;
        self.store.commit(batch)?;
        Ok(true)
    }

    /// Notes a message just sent where retention will find it, or what it
    /// leads to: in `then`, what to write with its being done, and the
    /// lock to hold until then.
    async fn remember(&self, then: &mut Then, remember: &Remember, room: &str, message: &str, key: &str) {
        let copy = PostedCopy {
            room: room.to_string(),
            message: message.to_string(),
        };
        match remember {
            Remember::Nothing | Remember::Audited { .. } => {}
            Remember::CopyOf(reference) => {
                let _one_at_a_time = self.locks.lock(reference).await;
                if let Err(e) = retention::remember_copies(&self.store, reference, &[copy]) {
                    error!(reference = %reference, error = %e, "a message about a concern could not be remembered for removal under retention");
                }
            }
            Remember::ReporterCopy(reporter) => self.remember_in_private(then, reporter, copy).await,
            Remember::LeadsTold { reference, reporter } => {
                then.batch
                    .append(self.tell_reporter_after_leads(key, reference, reporter, true));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::compose::Text;
    use super::*;

    #[test]
    fn long_text_splits_at_line_ends_and_loses_nothing() {
        let text = format!("{}\n{}\n{}", "a".repeat(10), "b".repeat(25), "c".repeat(5));
        let parts = split_text(&text, 12);
        assert!(parts.iter().all(|p| p.len() <= 12), "{parts:?}");
        assert_eq!(parts.concat(), text);
        assert_eq!(parts[0], format!("{}\n", "a".repeat(10)));
        // Multi-byte characters are never cut in half.
        let wide = "é".repeat(20);
        let parts = split_text(&wide, 7);
        assert!(parts.iter().all(|p| p.len() <= 7), "{parts:?}");
        assert_eq!(parts.concat(), wide);
    }

    #[test]
    fn a_long_message_goes_in_numbered_parts_that_each_fit() {
        let plain = "<&>\"' line\n".repeat(3000);
        let html = Some(crate::export::escape_html(&plain));
        let m = Message {
            kind: Kind::Notice,
            plain: plain.clone(),
            html,
            buttons: None,
            people: Vec::new(),
        };
        let parts = split(&m, 4000);
        assert!(parts.len() > 8);
        let n = parts.len();
        for (i, p) in parts.iter().enumerate() {
            assert!(p.size() <= 4000, "part {i} is {}", p.size());
            assert!(p.plain.starts_with(&format!("(part {} of {n})\n", i + 1)));
            assert_eq!(p.kind, Kind::Notice);
        }
        let joined: String = parts
            .iter()
            .map(|p| p.plain.split_once('\n').unwrap().1)
            .collect();
        assert_eq!(joined, plain);
        // A message that fits is sent as it is, HTML and all.
        let small = Message::notice(Text::plain("hello"));
        assert_eq!(split(&small, 4000), vec![small]);
    }
}
