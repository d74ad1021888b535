//! Core under load: the transport-neutral core ([`Core`]) alone, on an
//! in-memory chat and a real sled store, with 10,000 reports in progress and
//! 1,000 open concerns, while 200 reporters answer at once.
//!
//! Run with `cargo bench --bench core_load`. It needs no homeserver and
//! stops by itself (it gives up after [`TOTAL_PATIENCE`]).
//!
//! Everything is the real code except the chat: [`Core::start`] with a
//! config parsed from TOML, the CLAPA flow file, and a sled [`Store`] in a
//! temporary directory on disk (key file and all). The chat is a small
//! in-memory [`Chat`] written here rather than the tests' `MemChat`, which
//! logs every call with a copy of every message (so it grows with the run
//! and would be counted in the resident memory) and is watched by polling
//! every 10 ms (which would be counted in the time). This one keeps rooms,
//! members and each room's send keys, and timestamps each message as the
//! core hands it over.
//!
//! Set-up, straight through the store and the intake API, not through the
//! core (for speed; nothing is sent for it):
//! - 1,000 open concerns: a report walked through the real conversation
//!   engine to its submission gives the record; each concern gets its own
//!   reference (`Store::next_reference`), that record, the reporter's
//!   finished conversation, an escalation paged to the lead and
//!   acknowledged, with the reminder deadline `policy::decide` sets (so the
//!   core's timer holds 1,000 entries), and its room in the rooms index and
//!   in the chat (the bot and the lead in it).
//! - 10,000 reports in progress: for each reporter, `intake::begin_in`
//!   (a new reference, the conversation at its first question), and the
//!   private chat kept as the core keeps it (`PrivateRooms` and the rooms
//!   index); the private room exists in the chat with the bot and the
//!   reporter joined. Committed 100 reporters to a batch.
//!
//! Then the core is started on that store. Measured, in this order:
//! - **1 reporter alone** (idle core): 5 of the 10,000 in turn, each
//!   answering the 15 questions of a whole report, from the first question
//!   to `send`, each answer sent once the bot has replied to the one
//!   before. The time per message with no queueing, for comparison.
//! - **200 reporters at once** (200 others): each answers the 15 questions
//!   in the same way, as fast as the bot replies; all 200 start together.
//!   The last answer submits the report: the lead is paged in a new
//!   concern's room and the record follows. The CPU time the process used
//!   meanwhile and the largest outbox seen (sampled every 5 ms) are noted.
//! - **200 reporters at a human pace** (200 others): the same, with a pause
//!   of 3 to 5 s (uniform, the same every run) before each answer, about
//!   50 messages a second between them for about a minute. The sweep for
//!   reports left unfinished (`sweep_unfinished`) first runs 60 s after the
//!   core starts, inside this phase: the messages accepted in the 3 s
//!   after it began are shown apart.
//!
//! Time per message: from just before `core.accept` (which keeps the event
//! in the inbox, flushed) to the moment the core hands the reply the
//! reporter waits for to `Chat::send`. Messages per second: the messages
//! of the 200 over the time from the first accept to the last reply.
//! Resident memory: `VmRSS` from `/proc/self/status`, after the set-up (core
//! started and idle) and at the end (every effect carried out), with the
//! peak (`VmHWM`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use safeguarding_bot::bot::{Chat, ChatError, Core, File, Inbound, InboundKind, Member, Message, RoomSpec};
use safeguarding_bot::concern::ConcernRecord;
use safeguarding_bot::config::{self, Config};
use safeguarding_bot::conversation::{self, Action, Conversation};
use safeguarding_bot::escalation::policy::{self, Policy};
use safeguarding_bot::escalation::rota::Rota;
use safeguarding_bot::escalation::{AckDecision, Escalation};
use safeguarding_bot::flow::{self, Flow};
use safeguarding_bot::health::Metrics;
use safeguarding_bot::intake;
use safeguarding_bot::store::{Batch, Key, Store, Tree};
use tempfile::TempDir;
use tokio::sync::mpsc;

/// Reports in progress at the start.
const IN_PROGRESS: usize = 10_000;
/// Open concerns at the start.
const OPEN_CONCERNS: usize = 1_000;
/// Reporters answering at once.
const AT_ONCE: usize = 200;
/// Reporters set up per committed batch.
const PER_BATCH: usize = 100;
/// The longest any one reply may take before the bench gives up.
const REPLY_PATIENCE: Duration = Duration::from_secs(60);
/// The longest the whole bench may take.
const TOTAL_PATIENCE: Duration = Duration::from_secs(300);

const BOT: &str = "@bot:bench.example";
const LEAD: &str = "@lead:bench.example";
const DEPUTY: &str = "@deputy:bench.example";
const STAFF_ROOM: &str = "!staff:bench.example";
const LEADS_ROOM: &str = "!leads:bench.example";

/// A whole report on the CLAPA flow, after `/report` has asked the first
/// question: each answer and a piece of the reply the reporter waits for
/// (the next question). "No" to each question of the chart (record only);
/// the last answer submits it.
const ANSWERS: [(&str, &str); 15] = [
    ("no", "child sexual content"),
    ("no", "communicating with a child"),
    ("no", "known person"),
    ("no", "What did you see or hear"),
    (
        "I saw messages asking a child to meet up, in a group chat for a game",
        "their own words",
    ),
    ("skip", "When did it happen"),
    ("this morning", "Who is involved"),
    ("a child, about 12, and an adult account", "Where online"),
    ("a group chat, account @someone", "Who else knows"),
    ("skip", "What have you done so far"),
    ("skip", "Which area of risk"),
    ("2", "What is your role"),
    ("volunteer", "anything else"),
    ("skip", "Please check your report"),
    ("send", "recorded as"),
];

fn reporter(i: usize) -> String {
    format!("@r{i}:bench.example")
}

fn private_room(i: usize) -> String {
    format!("!dm{i}:bench.example")
}

fn past_reporter(i: usize) -> String {
    format!("@past{i}:bench.example")
}

fn concern_room(i: usize) -> String {
    format!("!concern{i}:bench.example")
}

// ----- the in-memory chat -----

struct Room {
    members: Vec<Member>,
    /// Send keys already used here, with the message's id.
    sent: HashMap<String, String>,
}

#[derive(Default)]
struct ChatState {
    rooms: HashMap<String, Room>,
    by_spec: HashMap<String, String>,
    next_id: u64,
}

impl ChatState {
    fn next(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}:bench.example", self.next_id)
    }

    fn joined(&mut self, id: &str) -> Result<&mut Room, ChatError> {
        let room = self
            .rooms
            .get_mut(id)
            .ok_or_else(|| ChatError::NotFound(format!("no room {id}")))?;
        if !room.members.iter().any(|m| m.user == BOT && m.joined) {
            return Err(ChatError::Refused(format!("the bot is not in {id}")));
        }
        Ok(room)
    }
}

/// A message as the chat saw it, for whoever watches its room.
struct Seen {
    at: Instant,
    plain: String,
}

/// A chat that keeps rooms and members in a map, and tells whoever watches
/// a room what the bot sends there, stamped with when it was handed over.
#[derive(Default)]
struct BenchChat {
    state: Mutex<ChatState>,
    watchers: Mutex<HashMap<String, mpsc::UnboundedSender<Seen>>>,
    sends: AtomicU64,
    rooms_made: AtomicU64,
}

impl BenchChat {
    fn lock(&self) -> MutexGuard<'_, ChatState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add_room(&self, id: &str, members: impl IntoIterator<Item = String>) {
        let mut all = vec![Member {
            user: BOT.to_string(),
            joined: true,
        }];
        all.extend(members.into_iter().map(|user| Member { user, joined: true }));
        self.lock().rooms.insert(
            id.to_string(),
            Room {
                members: all,
                sent: HashMap::new(),
            },
        );
    }

    /// What the bot sends in `room` from now on.
    fn watch(&self, room: &str) -> mpsc::UnboundedReceiver<Seen> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(room.to_string(), tx);
        rx
    }
}

#[async_trait::async_trait]
impl Chat for BenchChat {
    fn bot_id(&self) -> String {
        BOT.to_string()
    }

    fn max_message_bytes(&self) -> usize {
        16_000
    }

    async fn send(&self, room: &str, message: &Message, key: &str) -> Result<String, ChatError> {
        let id = {
            let mut s = self.lock();
            if message.size() > self.max_message_bytes() {
                return Err(ChatError::TooLarge);
            }
            let id = s.next("$m");
            let r = s.joined(room)?;
            if let Some(first) = r.sent.get(key) {
                return Ok(first.clone());
            }
            r.sent.insert(key.to_string(), id.clone());
            id
        };
        let at = Instant::now();
        self.sends.fetch_add(1, Ordering::Relaxed);
        if let Some(tx) = self.watchers.lock().unwrap_or_else(|e| e.into_inner()).get(room) {
            let _ = tx.send(Seen {
                at,
                plain: message.plain.clone(),
            });
        }
        Ok(id)
    }

    async fn upload(&self, room: &str, _file: &File, key: &str) -> Result<String, ChatError> {
        let mut s = self.lock();
        let id = s.next("$m");
        let r = s.joined(room)?;
        Ok(r.sent.entry(key.to_string()).or_insert(id).clone())
    }

    async fn create_room(&self, spec: &RoomSpec) -> Result<String, ChatError> {
        let mut s = self.lock();
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
                members,
                sent: HashMap::new(),
            },
        );
        s.by_spec.insert(spec.key.clone(), id.clone());
        self.rooms_made.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    async fn invite(&self, room: &str, user: &str) -> Result<(), ChatError> {
        let mut s = self.lock();
        let r = s.joined(room)?;
        if !r.members.iter().any(|m| m.user == user) {
            r.members.push(Member {
                user: user.to_string(),
                joined: false,
            });
        }
        Ok(())
    }

    async fn members(&self, room: &str) -> Result<Vec<Member>, ChatError> {
        let s = self.lock();
        s.rooms
            .get(room)
            .map(|r| r.members.clone())
            .ok_or_else(|| ChatError::NotFound(format!("no room {room}")))
    }

    async fn is_confidential(&self, room: &str) -> Result<bool, ChatError> {
        let s = self.lock();
        s.rooms
            .get(room)
            .map(|_| true)
            .ok_or_else(|| ChatError::NotFound(format!("no room {room}")))
    }

    async fn is_joined(&self, room: &str) -> Result<bool, ChatError> {
        let s = self.lock();
        s.rooms
            .get(room)
            .map(|r| r.members.iter().any(|m| m.user == BOT && m.joined))
            .ok_or_else(|| ChatError::NotFound(format!("no room {room}")))
    }

    async fn display_name(&self, _room: &str, user: &str) -> String {
        user.to_string()
    }

    async fn redact(&self, room: &str, _message: &str, _reason: &str) -> Result<(), ChatError> {
        self.lock().joined(room).map(|_| ())
    }

    async fn clear_and_leave(&self, room: &str, _notice: &str) -> Result<usize, ChatError> {
        let mut s = self.lock();
        let r = s.joined(room)?;
        let n = r.sent.len();
        r.members.retain(|m| m.user != BOT);
        Ok(n)
    }

    async fn resolve_room(&self, name: &str) -> Result<String, ChatError> {
        let mut s = self.lock();
        let r = s
            .rooms
            .get_mut(name)
            .ok_or_else(|| ChatError::NotFound(format!("no room {name}")))?;
        match r.members.iter_mut().find(|m| m.user == BOT) {
            Some(m) => m.joined = true,
            None => return Err(ChatError::Refused(format!("the bot is not invited to {name}"))),
        }
        Ok(name.to_string())
    }
}

// ----- measuring -----

/// `VmRSS` and `VmHWM` from `/proc/self/status`, in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p`th percentile (nearest rank) of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Row {
    scenario: String,
    values: Vec<f64>,
    per_second: f64,
}

impl Row {
    fn new(scenario: &str, mut values: Vec<f64>, per_second: f64) -> Row {
        values.sort_by(f64::total_cmp);
        Row {
            scenario: scenario.to_string(),
            values,
            per_second,
        }
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| {:<52} | {:>5} | {:>6} | {:>6} | {:>6} | {:>7} | {:>7} |",
        "scenario", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "msg/s"
    );
    println!(
        "|{:-<54}|{:->7}|{:->8}|{:->8}|{:->8}|{:->9}|{:->9}|",
        "", "", "", "", "", "", ""
    );
    for r in rows {
        println!(
            "| {:<52} | {:>5} | {:>6.2} | {:>6.2} | {:>6.2} | {:>7.1} | {:>7} |",
            r.scenario,
            r.values.len(),
            pct(&r.values, 50.0),
            pct(&r.values, 90.0),
            pct(&r.values, 99.0),
            pct(&r.values, 100.0),
            if r.per_second.is_nan() {
                "-".to_string()
            } else {
                format!("{:.0}", r.per_second)
            },
        );
    }
    println!();
}

// ----- setting up -----

fn config(data: &Path) -> Config {
    let text = format!(
        r#"
[matrix]
homeserver_url = "http://127.0.0.1:9"
user_id = "{BOT}"
password = "not used"
staff_rooms = ["{STAFF_ROOM}"]

[safeguarding]
organisation = "Bench Charity"
lead = "{LEAD}"
deputies = ["{DEPUTY}"]
retention = "6 years"
leads_room = "{LEADS_ROOM}"

[storage]
data_dir = "{data}"

[flow]
file = "{flow}"
"#,
        data = data.display(),
        flow = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("conversations/online-safety-referral.toml")
            .display(),
    );
    config::parse(&text, "core-load.toml", Path::new("/"), |_| None).expect("the bench config is valid")
}

/// A report walked through the conversation engine to its submission: the
/// record saved and the finished conversation. Checks on the way that each
/// answer gets the reply [`ANSWERS`] expects.
fn submitted(flow: &Flow) -> (ConcernRecord, Conversation) {
    let now = Utc::now() - chrono::Duration::days(3);
    let first = conversation::start(
        flow,
        safeguarding_bot::concern::Reference::new(1),
        &past_reporter(0),
        now,
    );
    assert!(
        first.replies().any(|r| r.contains("Is a crime in progress")),
        "the flow starts as expected"
    );
    let mut conv = first.conversation;
    let mut record = None;
    for (answer, expect) in ANSWERS {
        let step = conversation::step(flow, conv, answer, now);
        assert!(
            step.replies().any(|r| r.contains(expect)),
            "after {answer:?} the flow should say {expect:?}; it said {:?}",
            step.replies().collect::<Vec<_>>()
        );
        for a in &step.actions {
            if let Action::Save(r) = a {
                record = Some((**r).clone());
            }
        }
        conv = step.conversation;
    }
    (record.expect("the report was saved"), conv)
}

/// The 1,000 open concerns: record, finished conversation, acknowledged
/// escalation with its reminder deadline, rooms index, and the room in the
/// chat.
fn set_up_concerns(store: &Store, chat: &BenchChat, flow: &Flow, config: &Config) {
    let (template, done) = submitted(flow);
    let policy = Policy::from_config(&config.safeguarding);
    let rota = Rota::default();
    let now = Utc::now();
    let paged_at = now - chrono::Duration::hours(2);
    let mut batch = Batch::new();
    for i in 0..OPEN_CONCERNS {
        let who = past_reporter(i);
        let room = concern_room(i);
        chat.add_room(&room, [LEAD.to_string()]);
        let reference = store.next_reference().expect("a reference");
        let mut record = template.clone();
        record.reference = reference.clone();
        record.reporter = who.clone();
        store
            .stage_concern(&mut batch, &record)
            .expect("stage the record");
        let mut conv = done.clone();
        conv.reference = reference.clone();
        conv.reporter = who.clone();
        store
            .stage_conversation(&mut batch, &format!("reporter:{who}"), &conv)
            .expect("stage the conversation");
        let esc = Escalation::new(reference.clone(), &who, false, &room, LEAD, paged_at);
        let AckDecision::Acknowledged(acked) = esc.acknowledge(
            LEAD,
            config.safeguarding.responders(),
            paged_at + chrono::Duration::minutes(10),
        ) else {
            panic!("the lead may acknowledge");
        };
        let esc = policy::decide(&acked, &policy, &rota, now).new_state;
        assert!(esc.deadline.is_some(), "a reminder is due some day");
        let key = reference.to_string();
        store
            .stage_item(&mut batch, Tree::Escalations, &key, &esc)
            .expect("stage the escalation");
        let slot = format!("concern:{reference}");
        store
            .stage_item(&mut batch, Tree::Rooms, &slot, &room)
            .expect("stage the room");
        store
            .stage_item(&mut batch, Tree::Rooms, &format!("room:{room}"), &slot)
            .expect("stage the room");
        if (i + 1) % PER_BATCH == 0 {
            store.commit(std::mem::take(&mut batch)).expect("commit");
        }
    }
    store.commit(batch).expect("commit");
}

/// The 10,000 reports in progress, each at its first question, with its
/// private chat known and in the chat.
fn set_up_in_progress(store: &Store, chat: &BenchChat, flow: &Flow) {
    let now = Utc::now();
    let mut batch = Batch::new();
    for i in 0..IN_PROGRESS {
        let who = reporter(i);
        let room = private_room(i);
        chat.add_room(&room, [who.clone()]);
        let out = intake::begin_in(store, &mut batch, flow, &who, Some(&format!("$start{i}")), now)
            .expect("begin a report");
        assert_eq!(out.len(), 2, "the introduction and the first question");
        store
            .stage_item(&mut batch, Tree::PrivateRooms, &who, &room)
            .expect("stage the private room");
        store
            .stage_item(
                &mut batch,
                Tree::Rooms,
                &format!("room:{room}"),
                &format!("private:{who}"),
            )
            .expect("stage the private room");
        if (i + 1) % PER_BATCH == 0 {
            store.commit(std::mem::take(&mut batch)).expect("commit");
        }
    }
    store.commit(batch).expect("commit");
}

// ----- the load -----

/// How a reporter paces their answers.
#[derive(Clone, Copy)]
enum Pace {
    /// Each answer as soon as the reply to the one before is sent.
    AtOnce,
    /// A pause before each answer (and before the first), uniform in
    /// `PAUSE_MIN..PAUSE_MAX`, as if reading and typing.
    Human,
}

/// The pauses of [`Pace::Human`]: 200 reporters answer about 50 times a
/// second between them, and their 15 answers take about a minute.
const PAUSE_MIN: Duration = Duration::from_secs(3);
const PAUSE_MAX: Duration = Duration::from_secs(5);

/// A pause for reporter `i` before answer `n`, the same every run.
fn pause(i: usize, n: usize) -> Duration {
    // splitmix64
    let mut z = ((i as u64) << 8) | n as u64;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let fraction = (z >> 11) as f64 / (1u64 << 53) as f64;
    PAUSE_MIN + (PAUSE_MAX - PAUSE_MIN).mul_f64(fraction)
}

/// One message: when it was accepted and how long until its reply was sent.
#[derive(Clone, Copy)]
struct Timed {
    start: Instant,
    took: Duration,
    /// The last answer, which submits the report.
    submits: bool,
}

/// One reporter's answers, one after another, each once the reply to the
/// one before has been sent (and, at a human pace, after a pause).
async fn walk(
    core: Arc<Core>,
    chat: Arc<BenchChat>,
    i: usize,
    pace: Pace,
    go: Arc<tokio::sync::Barrier>,
) -> Vec<Timed> {
    let who = reporter(i);
    let room = private_room(i);
    let mut seen = chat.watch(&room);
    go.wait().await;
    let mut out = Vec::with_capacity(ANSWERS.len());
    for (n, (answer, expect)) in ANSWERS.iter().enumerate() {
        if let Pace::Human = pace {
            tokio::time::sleep(pause(i, n)).await;
        }
        let start = Instant::now();
        core.accept(Inbound {
            event_id: format!("$load{i}-{n}"),
            room_id: room.clone(),
            sender: who.clone(),
            kind: InboundKind::Text {
                body: answer.to_string(),
                mentions_bot: false,
            },
            written_at: None,
        });
        let mut other = Vec::new();
        loop {
            let seen = match tokio::time::timeout(REPLY_PATIENCE, seen.recv()).await {
                Ok(Some(seen)) => seen,
                Ok(None) => panic!("the chat went away"),
                Err(_) => panic!(
                    "{who}: no reply with {expect:?} to {answer:?} within {REPLY_PATIENCE:?}; the bot said {other:?}"
                ),
            };
            assert!(
                !seen.plain.contains("something went wrong"),
                "{who}: the bot apologised after {answer:?}: {}",
                seen.plain
            );
            if seen.plain.contains(expect) {
                out.push(Timed {
                    start,
                    took: seen.at - start,
                    submits: n + 1 == ANSWERS.len(),
                });
                break;
            }
            other.push(seen.plain);
        }
    }
    out
}

/// Runs reporters `from..from + n` together; returns every message timed.
async fn load(core: &Arc<Core>, chat: &Arc<BenchChat>, from: usize, n: usize, pace: Pace) -> Vec<Timed> {
    let go = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (from..from + n)
        .map(|i| tokio::spawn(walk(core.clone(), chat.clone(), i, pace, go.clone())))
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a reporter"));
    }
    all
}

fn row(scenario: &str, times: &[Timed]) -> Row {
    let per_second = match (
        times.iter().map(|t| t.start).min(),
        times.iter().map(|t| t.start + t.took).max(),
    ) {
        (Some(first), Some(last)) => times.len() as f64 / (last - first).as_secs_f64(),
        _ => f64::NAN,
    };
    Row::new(scenario, times.iter().map(|t| ms(t.took)).collect(), per_second)
}

/// Waits until the outbox is empty, up to `patience`.
async fn drained(core: &Core, patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    while core.store.outbox_len() > 0 {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// CPU time this process has used (user and system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Samples the outbox's length every 5 ms until told to stop; returns the
/// largest seen.
fn outbox_sampler(core: Arc<Core>) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<usize>) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut max = 0;
        loop {
            max = max.max(core.store.outbox_len());
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                _ = &mut stopped => return max,
            }
        }
    });
    (stop, task)
}

/// Samples `VmRSS` every 250 ms, with the time since `since`, until told
/// to stop.
fn rss_sampler(
    since: Instant,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Vec<(Duration, f64)>>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut log = Vec::new();
        loop {
            log.push((since.elapsed(), memory().0));
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = &mut stopped => return log,
            }
        }
    });
    (stop, task)
}

/// The sweep for unfinished reports first runs this long after the core
/// starts (a quarter of `unfinished_after`, 30 minutes by default, at most a
/// minute).
const SWEEP_AFTER: Duration = Duration::from_secs(60);
/// Messages accepted this long after the sweep starts are counted as during it.
const SWEEP_WINDOW: Duration = Duration::from_secs(3);

/// Reporters 0..AT_ONCE answer at once; the next ALONE answer alone, one
/// after another; the AT_ONCE after those at a human pace.
const ALONE: usize = 5;

async fn bench() -> (Vec<Row>, Vec<String>) {
    let mut notes = Vec::new();
    let (rss_empty, _) = memory();
    let dir = TempDir::new().expect("tempdir");
    let config = config(dir.path());
    let flow = flow::load_file(&config.flow.file).expect("the flow loads");
    let chat = Arc::new(BenchChat::default());
    let staff = (0..IN_PROGRESS)
        .map(reporter)
        .chain((0..OPEN_CONCERNS).map(past_reporter))
        .chain([LEAD.to_string(), DEPUTY.to_string()]);
    chat.add_room(STAFF_ROOM, staff);
    chat.add_room(LEADS_ROOM, [LEAD.to_string(), DEPUTY.to_string()]);

    let key = Key::load_or_create(&config.storage.key_file).expect("key");
    let store = Store::open(&config.storage.data_dir.join("store"), key).expect("store");
    let began = Instant::now();
    set_up_concerns(&store, &chat, &flow, &config);
    let concerns_took = began.elapsed();
    let began = Instant::now();
    set_up_in_progress(&store, &chat, &flow);
    let progress_took = began.elapsed();
    eprintln!(
        "core_load: set up {OPEN_CONCERNS} open concerns in {concerns_took:.2?} and {IN_PROGRESS} reports in progress in {progress_took:.2?}, through the store"
    );
    notes.push(format!(
        "set-up through the store and intake::begin_in: {OPEN_CONCERNS} open concerns in {:.1} s, {IN_PROGRESS} reports in progress in {:.1} s",
        concerns_took.as_secs_f64(),
        progress_took.as_secs_f64()
    ));
    let began = Instant::now();
    let in_progress = intake::reporters_in_progress(&store).expect("list").len();
    let listed = began.elapsed();
    assert_eq!(in_progress, IN_PROGRESS);
    notes.push(format!(
        "intake::reporters_in_progress (what the sweep for unfinished reports reads every minute, before it queues a check for each): {in_progress} found in {:.0} ms",
        ms(listed)
    ));

    let started = Instant::now();
    let running = Core::start(
        chat.clone(),
        config.clone(),
        flow.clone(),
        store,
        Arc::new(Metrics::default()),
    )
    .await
    .expect("the core starts");
    let core = running.core.clone();
    notes.push(format!(
        "Core::start on that store: {:.0} ms",
        ms(started.elapsed())
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_setup, _) = memory();
    eprintln!("core_load: core started; VmRSS {rss_setup:.1} MiB (empty process {rss_empty:.1} MiB)");

    let mut rows = Vec::new();
    let mut alone = Vec::new();
    for i in AT_ONCE..AT_ONCE + ALONE {
        alone.extend(load(&core, &chat, i, 1, Pace::AtOnce).await);
    }
    let mut alone_row = row(&format!("1 reporter alone ({ALONE} reports in turn)"), &alone);
    alone_row.per_second = f64::NAN;
    rows.push(alone_row);
    assert!(drained(&core, Duration::from_secs(30)).await, "the outbox drains");

    eprintln!("core_load: {AT_ONCE} reporters answering at once");
    let sends_before = chat.sends.load(Ordering::Relaxed);
    let made_before = chat.rooms_made.load(Ordering::Relaxed);
    let cpu_before = cpu_time();
    let (stop_sampling, sampler) = outbox_sampler(core.clone());
    let began = Instant::now();
    let at_once = load(&core, &chat, 0, AT_ONCE, Pace::AtOnce).await;
    let replied = began.elapsed();
    let cpu = cpu_time() - cpu_before;
    let _ = stop_sampling.send(());
    let outbox_max = sampler.await.expect("sampler");
    let (rss_replied, _) = memory();
    rows.push(row(
        &format!("{AT_ONCE} reporters at once ({} answers each)", ANSWERS.len()),
        &at_once,
    ));
    let (submits, others): (Vec<Timed>, Vec<Timed>) = at_once.iter().partition(|t| t.submits);
    rows.push(row("  of which answers 1-14 (next question)", &others));
    rows.push(row("  of which answer 15, `send` (pages)", &submits));
    let waited = Instant::now();
    let empty = drained(&core, Duration::from_secs(60)).await;
    notes.push(format!(
        "{AT_ONCE} at once: {} messages, all replied to in {:.2} s; {:.1} s of CPU (user and system) meanwhile, {:.2} ms per message, on {} CPUs; at most {outbox_max} effects waited in the outbox; the chat took {} sends and made {} rooms",
        at_once.len(),
        replied.as_secs_f64(),
        cpu.as_secs_f64(),
        ms(cpu) / at_once.len() as f64,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        chat.sends.load(Ordering::Relaxed) - sends_before,
        chat.rooms_made.load(Ordering::Relaxed) - made_before,
    ));
    notes.push(format!(
        "after their last reply, the outbox (the pages, records and rooms of the {AT_ONCE} new concerns) {} {:.1} s later",
        if empty { "was empty" } else { "was still not empty" },
        waited.elapsed().as_secs_f64()
    ));

    eprintln!(
        "core_load: {AT_ONCE} reporters at a human pace ({PAUSE_MIN:?} to {PAUSE_MAX:?} before each answer), about a minute"
    );
    let from = AT_ONCE + ALONE;
    let (stop_rss, rss_log) = rss_sampler(started);
    let paced = load(&core, &chat, from, AT_ONCE, Pace::Human).await;
    let _ = stop_rss.send(());
    let rss_log = rss_log.await.expect("sampler");
    rows.push(row(&format!("{AT_ONCE} reporters at a human pace"), &paced));
    let sweep = started + SWEEP_AFTER;
    let (during, rest): (Vec<Timed>, Vec<Timed>) = paced
        .iter()
        .partition(|t| t.start >= sweep && t.start < sweep + SWEEP_WINDOW);
    let mut during_row = row(
        &format!(
            "  of which accepted in the {} s after the sweep began",
            SWEEP_WINDOW.as_secs()
        ),
        &during,
    );
    during_row.per_second = f64::NAN;
    rows.push(during_row);
    let mut rest_row = row("  of which the rest", &rest);
    rest_row.per_second = f64::NAN;
    rows.push(rest_row);
    let at = |from: Duration, to: Duration| {
        rss_log
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, rss)| *rss)
            .fold(f64::NAN, f64::max)
    };
    notes.push(format!(
        "VmRSS around the sweep: {:.1} MiB in the second before it, {:.1} MiB at most in the 5 s after it began",
        at(SWEEP_AFTER - Duration::from_secs(1), SWEEP_AFTER),
        at(SWEEP_AFTER, SWEEP_AFTER + Duration::from_secs(5)),
    ));
    let ended_at = paced.iter().map(|t| t.start + t.took).max().expect("paced");
    notes.push(format!(
        "the sweep for unfinished reports first runs {} s after the core starts; the human-paced phase ran from {:.1} s to {:.1} s after it",
        SWEEP_AFTER.as_secs(),
        paced
            .iter()
            .map(|t| t.start)
            .min()
            .map_or(f64::NAN, |s| (s - started).as_secs_f64()),
        (ended_at - started).as_secs_f64()
    ));
    let empty = drained(&core, Duration::from_secs(60)).await;
    assert!(empty, "the outbox drains at the end");

    let still = intake::reporters_in_progress(&core.store).expect("list").len();
    let escalations = core
        .store
        .items::<Escalation>(Tree::Escalations)
        .expect("escalations")
        .len();
    notes.push(format!(
        "at the end: {still} reports in progress, {escalations} escalations kept"
    ));
    let (rss_end, hwm_end) = memory();
    notes.push(format!(
        "VmRSS: {rss_empty:.1} MiB at the start of the process; {rss_setup:.1} MiB after the set-up (core started, idle); {rss_replied:.1} MiB at the last reply of the {AT_ONCE} at once; {rss_end:.1} MiB at the end (outbox empty); peak (VmHWM) {hwm_end:.1} MiB"
    ));

    tokio::time::timeout(Duration::from_secs(30), running.stop())
        .await
        .expect("the core stops in time")
        .expect("the core stops cleanly");
    (rows, notes)
}

fn main() {
    eprintln!(
        "core_load: {IN_PROGRESS} reports in progress, {OPEN_CONCERNS} open concerns, {AT_ONCE} reporters answering at once"
    );
    // The bot's own runtime has one worker thread per CPU; this is for
    // trying more.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("CORE_LOAD_THREADS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        eprintln!("core_load: {n} runtime worker threads (CORE_LOAD_THREADS)");
        builder.worker_threads(n);
    }
    let runtime = builder.enable_all().build().expect("tokio runtime");
    let (rows, notes) = runtime.block_on(async {
        match tokio::time::timeout(TOTAL_PATIENCE, bench()).await {
            Ok(out) => out,
            Err(_) => {
                eprintln!("core_load: gave up after {TOTAL_PATIENCE:?}");
                std::process::exit(1);
            }
        }
    });
    print_table(&rows);
    for n in notes {
        println!("core_load: {n}");
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
}
