//! Core under load: the transport-neutral core ([`Core`]) alone, on an
//! in-memory chat and a real sled store, with 10,000 reports in progress and
//! 1,000 open concerns, while 200 reporters answer at once.
//!
//! Run with `cargo bench --bench core_load`. It needs no homeserver and
//! stops by itself (it gives up after [`Scale::patience`]).
//!
//! Run without `--bench` (as `cargo test --bench '*'` runs it, and CI does)
//! it runs the same phases at a small [`Scale`] in a few seconds: the whole
//! path, with every check below, to show that it still works. Its figures
//! are printed but mean little (a debug build, few reporters, no sweep).
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
//!   index, both ways); the private room exists in the chat with the bot
//!   and the reporter joined. Committed 100 reporters to a batch.
//!
//! Then the core is started on that store. Measured, in this order:
//! - **1 reporter alone** (idle core): 5 of the 10,000 in turn, each
//!   answering the 15 questions of a whole report, from the first question
//!   to `send`, each answer sent once the bot has replied to the one
//!   before. The time per message with no queueing, for comparison.
//! - **disk syncs per answer** (idle core): one more reporter alone
//!   answers the same 15 questions, waiting after each until everything it
//!   caused is done (the outbox empty and no disk sync for 200 ms), and
//!   the disk syncs each answer cost are counted (see [`syncs`]).
//! - **200 reporters at once** (200 others): each answers the 15 questions
//!   in the same way, as fast as the bot replies; all 200 start together.
//!   The last answer submits the report: the lead is paged in a new
//!   concern's room and the record follows. The CPU time the process used
//!   meanwhile, its disk syncs and the largest outbox seen (sampled every
//!   5 ms) are noted.
//! - **200 reporters at a human pace** (200 others): the same, with a pause
//!   of 3 to 5 s (uniform, the same every run) before each answer, about
//!   50 messages a second between them for about a minute. The sweep for
//!   reports left unfinished (`sweep_unfinished`) first runs 60 s after the
//!   core starts, inside this phase: the messages accepted in the 3 s
//!   after it began are shown apart.
//!
//! Checked, at either scale (the bench stops with a panic otherwise): every
//! reporter gets each reply they wait for and no apology; each report sent
//! gets its own reference, kept in the store; the lead is paged for each in
//! a room the core made for it, and nowhere else; the outbox empties.
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
use safeguarding_bot::concern::{ConcernRecord, Reference};
use safeguarding_bot::config::{self, Config};
use safeguarding_bot::conversation::{self, Action, Conversation};
use safeguarding_bot::escalation::policy::{self, Policy};
use safeguarding_bot::escalation::rota::Rota;
use safeguarding_bot::escalation::{AckDecision, Escalation};
use safeguarding_bot::flow::{self, Flow};
use safeguarding_bot::health::Metrics;
use safeguarding_bot::intake::{self, Outgoing};
use safeguarding_bot::store::{Batch, Key, Store, Tree};
use tempfile::TempDir;
use tokio::sync::mpsc;

/// How big a run is: the full bench, or the short one that shows it still
/// works.
struct Scale {
    /// Reports in progress at the start.
    in_progress: usize,
    /// Open concerns at the start.
    open_concerns: usize,
    /// Reports answered by one reporter alone, one after another.
    alone: usize,
    /// Reporters answering at once, and again at a human pace.
    at_once: usize,
    /// The pause before each answer at a human pace: uniform in this range.
    pause: (Duration, Duration),
    /// How long the core is left idle after it starts, before measuring.
    settle: Duration,
    /// The longest the whole bench may take.
    patience: Duration,
}

/// `cargo bench --bench core_load`.
const FULL: Scale = Scale {
    in_progress: 10_000,
    open_concerns: 1_000,
    alone: 5,
    at_once: 200,
    pause: (Duration::from_secs(3), Duration::from_secs(5)),
    settle: Duration::from_secs(1),
    patience: Duration::from_secs(300),
};

/// Without `--bench`: a few seconds in a debug build. Every phase runs,
/// with fewer of everyone; the human pace is a hundred times as fast, so
/// it ends long before the sweep for unfinished reports first runs.
const SHORT: Scale = Scale {
    in_progress: 300,
    open_concerns: 50,
    alone: 1,
    at_once: 20,
    pause: (Duration::from_millis(30), Duration::from_millis(50)),
    settle: Duration::from_millis(200),
    patience: Duration::from_secs(120),
};

impl Scale {
    /// The reporters of each phase, all different, all of them among the
    /// reports in progress.
    fn reporters(&self) -> Reporters {
        let at_once = 0..self.at_once;
        let alone = at_once.end..at_once.end + self.alone;
        let counted = alone.end;
        let paced = counted + 1..counted + 1 + self.at_once;
        assert!(paced.end <= self.in_progress, "enough reports in progress");
        Reporters {
            at_once,
            alone,
            counted,
            paced,
        }
    }
}

struct Reporters {
    at_once: std::ops::Range<usize>,
    alone: std::ops::Range<usize>,
    counted: usize,
    paced: std::ops::Range<usize>,
}

/// Reporters set up per committed batch.
const PER_BATCH: usize = 100;
/// The longest any one reply may take before the bench gives up.
const REPLY_PATIENCE: Duration = Duration::from_secs(60);

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
    ("send", "Your report is recorded as"),
];

/// What the page for a new concern says, before its reference.
const PAGE: &str = "New safeguarding concern ";

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
    /// Each page (the first, not a repeat) with the room it went to: few
    /// and short, so kept.
    pages: Mutex<Vec<(String, String)>>,
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

    /// The rooms the core asked the chat to make.
    fn made(&self) -> std::collections::HashSet<String> {
        self.lock().by_spec.values().cloned().collect()
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
        if message.plain.contains(PAGE) {
            self.pages
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((room.to_string(), message.plain.clone()));
        }
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
fn set_up_concerns(store: &Store, chat: &BenchChat, flow: &Flow, config: &Config, n: usize) {
    let (template, done) = submitted(flow);
    let policy = Policy::from_config(&config.safeguarding);
    let rota = Rota::default();
    let now = Utc::now();
    let paged_at = now - chrono::Duration::hours(2);
    let mut batch = Batch::new();
    for i in 0..n {
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

/// The reports in progress, each at its first question, with its private
/// chat known and in the chat.
fn set_up_in_progress(store: &Store, chat: &BenchChat, flow: &Flow, n: usize) {
    let now = Utc::now();
    let mut batch = Batch::new();
    for i in 0..n {
        let who = reporter(i);
        let room = private_room(i);
        chat.add_room(&room, [who.clone()]);
        let out = intake::begin_in(store, &mut batch, flow, &who, Some(&format!("$start{i}")), now)
            .expect("begin a report");
        // What /report would send: the introduction, the first question
        // and (for a chat that shows them) its choices as buttons. Nothing
        // for the lead yet.
        let replies: Vec<&str> = out
            .iter()
            .filter_map(|o| match o {
                Outgoing::Reply(text) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert!(
            replies.len() >= 2 && replies.iter().any(|r| r.contains("Is a crime in progress")),
            "the introduction and the first question; begin_in gave {out:?}"
        );
        assert!(
            !out.iter()
                .any(|o| matches!(o, Outgoing::Page { .. } | Outgoing::Record(_))),
            "a report just begun pages nobody; begin_in gave {out:?}"
        );
        // Kept as the outbox keeps a private chat it made: the reporter's
        // room, and the room's slot in the rooms index both ways.
        let slot = format!("private:{who}");
        store
            .stage_item(&mut batch, Tree::PrivateRooms, &who, &room)
            .expect("stage the private room");
        store
            .stage_item(&mut batch, Tree::Rooms, &slot, &room)
            .expect("stage the private room");
        store
            .stage_item(&mut batch, Tree::Rooms, &format!("room:{room}"), &slot)
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
    /// A pause before each answer (and before the first), uniform in the
    /// range, as if reading and typing. At the full scale 200 reporters
    /// answer about 50 times a second between them, and their 15 answers
    /// take about a minute.
    Human(Duration, Duration),
    /// Each answer once everything the one before caused is done, the disk
    /// syncs of each counted.
    Counted,
}

/// A pause for reporter `i` before answer `n` in `min..max`, the same
/// every run.
fn pause(i: usize, n: usize, min: Duration, max: Duration) -> Duration {
    // splitmix64
    let mut z = ((i as u64) << 8) | n as u64;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let fraction = (z >> 11) as f64 / (1u64 << 53) as f64;
    min + (max - min).mul_f64(fraction)
}

/// One message: when it was accepted and how long until its reply was sent.
#[derive(Clone, Copy)]
struct Timed {
    start: Instant,
    took: Duration,
    /// The last answer, which submits the report.
    submits: bool,
}

/// One reporter's whole report.
struct Walked {
    who: String,
    timed: Vec<Timed>,
    /// The reference the last reply gave them.
    reference: Reference,
    /// With [`Pace::Counted`], the log writes synced to disk for each
    /// answer (see [`syncs`]).
    syncs: Vec<u64>,
}

/// One reporter's answers, one after another, each once the reply to the
/// one before has been sent (and as `pace` says).
async fn walk(
    core: Arc<Core>,
    chat: Arc<BenchChat>,
    i: usize,
    pace: Pace,
    go: Arc<tokio::sync::Barrier>,
) -> Walked {
    let who = reporter(i);
    let room = private_room(i);
    let mut seen = chat.watch(&room);
    go.wait().await;
    let mut timed = Vec::with_capacity(ANSWERS.len());
    let mut synced = Vec::new();
    let mut reference = None;
    for (n, (answer, expect)) in ANSWERS.iter().enumerate() {
        if let Pace::Human(min, max) = pace {
            tokio::time::sleep(pause(i, n, min, max)).await;
        }
        let syncs_before = syncs::log_writes();
        let start = Instant::now();
        // As a chat adapter does: the event on disk before it is
        // acknowledged (Slack; Matrix keeps its sync position instead).
        core.accept_kept(Inbound {
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
                let submits = n + 1 == ANSWERS.len();
                if submits {
                    reference = Some(reference_in(&seen.plain));
                }
                timed.push(Timed {
                    start,
                    took: seen.at - start,
                    submits,
                });
                break;
            }
            other.push(seen.plain);
        }
        if let Pace::Counted = pace {
            synced.push(settled(&core).await - syncs_before);
        }
    }
    Walked {
        who,
        timed,
        reference: reference.unwrap_or_else(|| panic!("reporter {i} was given no reference")),
        syncs: synced,
    }
}

/// The reference in the reply to `send` ("Your report is recorded as
/// SG-0042, ...").
fn reference_in(reply: &str) -> Reference {
    let (_, after) = reply
        .split_once(ANSWERS[ANSWERS.len() - 1].1)
        .expect("the reply names the reference");
    let word = after
        .split_whitespace()
        .next()
        .expect("a reference")
        .trim_end_matches([',', '.']);
    word.parse()
        .unwrap_or_else(|e| panic!("{word:?} in {reply:?} is not a reference: {e}"))
}

/// Waits until everything the core was doing is done: the outbox empty and
/// no log write synced for 200 ms. Returns the log writes synced so far.
async fn settled(core: &Core) -> u64 {
    const QUIET: Duration = Duration::from_millis(200);
    let began = Instant::now();
    let mut last = syncs::log_writes();
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = syncs::log_writes();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= QUIET && core.store.outbox_len() == 0 {
            return last;
        }
        assert!(
            began.elapsed() < REPLY_PATIENCE,
            "the core did not settle within {REPLY_PATIENCE:?}"
        );
    }
}

/// Runs `reporters` together; returns each one's walk.
async fn load(
    core: &Arc<Core>,
    chat: &Arc<BenchChat>,
    reporters: std::ops::Range<usize>,
    pace: Pace,
) -> Vec<Walked> {
    let go = Arc::new(tokio::sync::Barrier::new(reporters.len()));
    let tasks: Vec<_> = reporters
        .map(|i| tokio::spawn(walk(core.clone(), chat.clone(), i, pace, go.clone())))
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.push(t.await.expect("a reporter"));
    }
    all
}

fn timed(walked: &[Walked]) -> Vec<Timed> {
    walked.iter().flat_map(|w| w.timed.iter().copied()).collect()
}

/// Checks that each report sent was kept and paged: its own reference,
/// the record in the store under it, and one page naming it, in a room
/// the core had the chat make. Returns how many were checked.
fn check_reports(core: &Core, chat: &BenchChat, walked: &[Walked]) -> usize {
    let made = chat.made();
    let pages = chat.pages.lock().unwrap_or_else(|e| e.into_inner());
    let mut references = std::collections::HashSet::new();
    for w in walked {
        let r = &w.reference;
        assert!(references.insert(r.clone()), "{r} was given twice");
        let record = core
            .store
            .get_concern(r)
            .expect("read the store")
            .unwrap_or_else(|| panic!("{r}, given to {}, is not in the store", w.who));
        assert_eq!(record.reporter, w.who, "{r} is {}'s report", w.who);
        let paged: Vec<&String> = pages
            .iter()
            .filter(|(_, text)| text.contains(&format!("{PAGE}{r},")))
            .map(|(room, _)| room)
            .collect();
        assert_eq!(paged.len(), 1, "{r}: one page, in its own room; pages: {paged:?}");
        assert!(
            made.contains(paged[0]),
            "{r} was paged in {}, a room the core did not make",
            paged[0]
        );
    }
    references.len()
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

async fn bench(scale: &Scale) -> (Vec<Row>, Vec<String>) {
    let mut notes = Vec::new();
    let (rss_empty, _) = memory();
    let dir = TempDir::new().expect("tempdir");
    let config = config(dir.path());
    let flow = flow::load_file(&config.flow.file).expect("the flow loads");
    let chat = Arc::new(BenchChat::default());
    let (in_progress, open_concerns, at_once_n) = (scale.in_progress, scale.open_concerns, scale.at_once);
    let who = scale.reporters();
    let staff = (0..in_progress)
        .map(reporter)
        .chain((0..open_concerns).map(past_reporter))
        .chain([LEAD.to_string(), DEPUTY.to_string()]);
    chat.add_room(STAFF_ROOM, staff);
    chat.add_room(LEADS_ROOM, [LEAD.to_string(), DEPUTY.to_string()]);

    let key = Key::load_or_create(&config.storage.key_file).expect("key");
    let store = Store::open(&config.storage.data_dir.join("store"), key).expect("store");
    let began = Instant::now();
    set_up_concerns(&store, &chat, &flow, &config, open_concerns);
    let concerns_took = began.elapsed();
    let began = Instant::now();
    set_up_in_progress(&store, &chat, &flow, in_progress);
    let progress_took = began.elapsed();
    eprintln!(
        "core_load: set up {open_concerns} open concerns in {concerns_took:.2?} and {in_progress} reports in progress in {progress_took:.2?}, through the store"
    );
    notes.push(format!(
        "set-up through the store and intake::begin_in: {open_concerns} open concerns in {:.1} s, {in_progress} reports in progress in {:.1} s",
        concerns_took.as_secs_f64(),
        progress_took.as_secs_f64()
    ));
    let began = Instant::now();
    let listed_n = intake::reporters_in_progress(&store).expect("list").len();
    let listed = began.elapsed();
    assert_eq!(listed_n, in_progress);
    notes.push(format!(
        "intake::reporters_in_progress (what the sweep for unfinished reports reads every minute): {listed_n} found in {:.0} ms",
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
    tokio::time::sleep(scale.settle).await;
    let (rss_setup, _) = memory();
    eprintln!("core_load: core started; VmRSS {rss_setup:.1} MiB (empty process {rss_empty:.1} MiB)");

    let mut rows = Vec::new();
    let mut sent = Vec::new();
    let mut alone = Vec::new();
    for i in who.alone.clone() {
        alone.extend(load(&core, &chat, i..i + 1, Pace::AtOnce).await);
    }
    let mut alone_row = row(
        &format!("1 reporter alone ({} reports in turn)", scale.alone),
        &timed(&alone),
    );
    alone_row.per_second = f64::NAN;
    rows.push(alone_row);
    sent.extend(alone);
    assert!(drained(&core, Duration::from_secs(30)).await, "the outbox drains");

    eprintln!("core_load: 1 reporter alone, counting disk syncs");
    settled(&core).await;
    let files_before = syncs::file_syncs();
    let counted = load(&core, &chat, who.counted..who.counted + 1, Pace::Counted)
        .await
        .pop()
        .expect("the counted reporter");
    let files = syncs::file_syncs() - files_before;
    notes.push(syncs_note(&counted.syncs, files));
    sent.push(counted);

    eprintln!("core_load: {at_once_n} reporters answering at once");
    let sends_before = chat.sends.load(Ordering::Relaxed);
    let made_before = chat.rooms_made.load(Ordering::Relaxed);
    let cpu_before = cpu_time();
    let syncs_before = syncs::log_writes();
    let (stop_sampling, sampler) = outbox_sampler(core.clone());
    let began = Instant::now();
    let walked = load(&core, &chat, who.at_once.clone(), Pace::AtOnce).await;
    let replied = began.elapsed();
    let cpu = cpu_time() - cpu_before;
    let log_writes = syncs::log_writes() - syncs_before;
    let _ = stop_sampling.send(());
    let outbox_max = sampler.await.expect("sampler");
    let (rss_replied, _) = memory();
    let at_once = timed(&walked);
    sent.extend(walked);
    rows.push(row(
        &format!("{at_once_n} reporters at once ({} answers each)", ANSWERS.len()),
        &at_once,
    ));
    let (submits, others): (Vec<Timed>, Vec<Timed>) = at_once.iter().partition(|t| t.submits);
    rows.push(row(
        &format!("  of which answers 1-{} (next question)", ANSWERS.len() - 1),
        &others,
    ));
    rows.push(row(
        &format!("  of which answer {}, `send` (pages)", ANSWERS.len()),
        &submits,
    ));
    let waited = Instant::now();
    let empty = drained(&core, Duration::from_secs(60)).await;
    notes.push(format!(
        "{at_once_n} at once: {} messages, all replied to in {:.2} s; {:.1} s of CPU (user and system) meanwhile, {:.2} ms per message, on {} CPUs; {log_writes} log writes synced to disk meanwhile ({:.2} a message); at most {outbox_max} effects waited in the outbox; the chat took {} sends and made {} rooms",
        at_once.len(),
        replied.as_secs_f64(),
        cpu.as_secs_f64(),
        ms(cpu) / at_once.len() as f64,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        log_writes as f64 / at_once.len() as f64,
        chat.sends.load(Ordering::Relaxed) - sends_before,
        chat.rooms_made.load(Ordering::Relaxed) - made_before,
    ));
    notes.push(format!(
        "after their last reply, the outbox (the pages, records and rooms of the {at_once_n} new concerns) {} {:.1} s later",
        if empty { "was empty" } else { "was still not empty" },
        waited.elapsed().as_secs_f64()
    ));

    let (pause_min, pause_max) = scale.pause;
    eprintln!(
        "core_load: {at_once_n} reporters at a human pace ({pause_min:?} to {pause_max:?} before each answer)"
    );
    let (stop_rss, rss_log) = rss_sampler(started);
    let walked = load(&core, &chat, who.paced.clone(), Pace::Human(pause_min, pause_max)).await;
    let _ = stop_rss.send(());
    let rss_log = rss_log.await.expect("sampler");
    let paced = timed(&walked);
    sent.extend(walked);
    rows.push(row(&format!("{at_once_n} reporters at a human pace"), &paced));
    let sweep = started + SWEEP_AFTER;
    let ended_at = paced.iter().map(|t| t.start + t.took).max().expect("paced");
    if ended_at > sweep + SWEEP_WINDOW {
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
    }
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
    let checked = check_reports(&core, &chat, &sent);
    notes.push(format!(
        "checked: each of the {checked} reports sent has its own reference, its record in the store, and one page in a room made for it"
    ));

    let still = intake::reporters_in_progress(&core.store).expect("list").len();
    assert_eq!(still, in_progress - checked, "every report sent is finished");
    let escalations = core
        .store
        .items::<Escalation>(Tree::Escalations)
        .expect("escalations")
        .len();
    assert_eq!(escalations, open_concerns + checked, "one escalation per concern");
    notes.push(format!(
        "at the end: {still} reports in progress, {escalations} escalations kept"
    ));
    let (rss_end, hwm_end) = memory();
    notes.push(format!(
        "VmRSS: {rss_empty:.1} MiB at the start of the process; {rss_setup:.1} MiB after the set-up (core started, idle); {rss_replied:.1} MiB at the last reply of the {at_once_n} at once; {rss_end:.1} MiB at the end (outbox empty); peak (VmHWM) {hwm_end:.1} MiB"
    ));

    tokio::time::timeout(Duration::from_secs(30), running.stop())
        .await
        .expect("the core stops in time")
        .expect("the core stops cleanly");
    (rows, notes)
}

/// What the counted reporter's disk syncs come to, answer by answer.
fn syncs_note(per_answer: &[u64], file_syncs: u64) -> String {
    if !syncs::COUNTED {
        return "disk syncs: not counted on this platform".to_string();
    }
    let typed = &per_answer[..per_answer.len() - 1];
    let mean = typed.iter().sum::<u64>() as f64 / typed.len() as f64;
    format!(
        "disk syncs, 1 reporter alone, each answer once the last was done: {mean:.2} log writes synced per typed answer (answers 1-{}: {typed:?}), {} for `send`; besides, sled's own flusher thread called fsync {file_syncs} times meanwhile",
        typed.len(),
        per_answer[per_answer.len() - 1],
    )
}

fn main() {
    // `cargo bench` passes --bench; `cargo test` passes nothing.
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full { &FULL } else { &SHORT };
    eprintln!(
        "core_load: {}{} reports in progress, {} open concerns, {} reporters answering at once",
        if full { "" } else { "short run (without --bench): " },
        scale.in_progress,
        scale.open_concerns,
        scale.at_once
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
        match tokio::time::timeout(scale.patience, bench(scale)).await {
            Ok(out) => out,
            Err(_) => {
                eprintln!("core_load: gave up after {:?}", scale.patience);
                std::process::exit(1);
            }
        }
    });
    print_table(&rows);
    for n in notes {
        println!("core_load: {n}");
    }
    if !full && syncs::COUNTED {
        assert!(syncs::log_writes() > 0, "the disk syncs were counted");
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
}

/// Disk syncs, counted where the process asks the kernel for them.
///
/// Every flush of the store ends in sled writing its log buffer and then
/// `sync_file_range` on the log file, unless that part of the log was
/// already on disk; sled's own flusher thread also calls `fsync` every
/// half-second whatever it holds. This bench defines those C functions
/// (and `fdatasync`) itself: the linker resolves sled's and std's calls to
/// a definition in the program before the C library's, so each call comes
/// here, is counted, and goes to the kernel as the raw system call, which
/// is what the C library's would do. So the store is measured as it is,
/// without a counter in it.
///
/// Only on Linux on x86-64 and arm64, whose system call numbers are here;
/// elsewhere nothing is counted and [`COUNTED`] is false.
mod syncs {
    use std::sync::atomic::{AtomicU64, Ordering};

    static LOG_WRITES: AtomicU64 = AtomicU64::new(0);
    static FILE_SYNCS: AtomicU64 = AtomicU64::new(0);

    /// `sync_file_range` calls so far: sled's log writes made durable.
    pub fn log_writes() -> u64 {
        LOG_WRITES.load(Ordering::Relaxed)
    }

    /// `fsync` and `fdatasync` calls so far.
    pub fn file_syncs() -> u64 {
        FILE_SYNCS.load(Ordering::Relaxed)
    }

    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    pub const COUNTED: bool = true;
    #[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
    pub const COUNTED: bool = false;

    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    mod interposed {
        use super::{FILE_SYNCS, LOG_WRITES};
        use std::os::raw::{c_int, c_long, c_uint};
        use std::sync::atomic::Ordering;

        /// fsync, fdatasync, sync_file_range.
        #[cfg(target_arch = "x86_64")]
        const SYS: [c_long; 3] = [74, 75, 277];
        #[cfg(target_arch = "aarch64")]
        const SYS: [c_long; 3] = [82, 83, 84];

        extern "C" {
            fn syscall(number: c_long, ...) -> c_long;
        }

        /// # Safety
        /// As the C library's `fsync`.
        #[no_mangle]
        pub unsafe extern "C" fn fsync(fd: c_int) -> c_int {
            FILE_SYNCS.fetch_add(1, Ordering::Relaxed);
            syscall(SYS[0], fd as c_long) as c_int
        }

        /// # Safety
        /// As the C library's `fdatasync`.
        #[no_mangle]
        pub unsafe extern "C" fn fdatasync(fd: c_int) -> c_int {
            FILE_SYNCS.fetch_add(1, Ordering::Relaxed);
            syscall(SYS[1], fd as c_long) as c_int
        }

        /// # Safety
        /// As the C library's `sync_file_range`.
        #[no_mangle]
        pub unsafe extern "C" fn sync_file_range(
            fd: c_int,
            offset: i64,
            nbytes: i64,
            flags: c_uint,
        ) -> c_int {
            LOG_WRITES.fetch_add(1, Ordering::Relaxed);
            syscall(SYS[2], fd as c_long, offset, nbytes, flags as c_long) as c_int
        }
    }
}
