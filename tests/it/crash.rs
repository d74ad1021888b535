//! The bot killed with SIGKILL, again and again, on a real Synapse, while
//! people use it.
//!
//! The bot runs as its own process (`safeguarding-bot run --config FILE`),
//! logging to a file. Three members of staff make reports at the same time,
//! each by a different route of the CLAPA flowchart; the Lead acknowledges
//! each concern as it is paged (`!ack` or a ✅), and writes `!note` entries
//! with unique words and a `!decision … because …`. Meanwhile the bot is
//! killed at random moments (a seeded RNG, `SAFEGUARDING_CRASH_SEED` to
//! replay one), [`MIN_KILLS`] times (at least 20 if [`CHAOS_LIMIT`] comes
//! first), and started again on the same data directory each time. People
//! never send anything twice: whoever is waiting for an answer waits for
//! the bot to come back.
//!
//! Then, with the bot running normally, everything is counted from the
//! homeserver's own timelines (not only what the clients happened to sync):
//! one reference per report, told once; one concern room per concern (the
//! bot's rooms, through the admin API); one page, one record, one
//! confirmation of the acknowledgement in it, all readable; the reporter
//! told of the acknowledgement once; every note once in `!show`; the
//! record's answers as given; nothing from the bot in the clear. Last,
//! stopped with SIGTERM, `safeguarding-bot audit verify` must pass on the
//! data directory.
//!
//! Run with `cargo test --test it crash:: -- --nocapture` to see the figures.
//! The bot's log (and the audit log) stay in `target/tmp/crash-SEED/`;
//! `SAFEGUARDING_CRASH_BOT_LOG` sets the bot's log filter.

use crate::common::matrix as harness;
use crate::common::process::{
    audit, count, first_line, now_ms, output_text, redecrypt, tail, work_dir, write_config, BotProcess,
    UP_LINE,
};

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{bot_account, homeserver, Homeserver, Person, Received};
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::{OwnedRoomId, RoomId};

/// Kills, at least.
const MIN_KILLS: usize = 60;
/// The kills stop after this long (once there have been 20), however many.
const CHAOS_LIMIT: Duration = Duration::from_secs(150);
/// Reports each member of staff makes, at most (more while the kills go on).
const MAX_REPORTS_EACH: usize = 4;
/// How long anyone waits for one answer from the bot before calling it lost.
const REPLY_PATIENCE: Duration = Duration::from_secs(60);
/// The whole test, stuck or not.
const WHOLE_TEST: Duration = Duration::from_secs(330);
/// Notes the Lead writes in each concern: at least, and at most.
const MIN_NOTES: usize = 2;
const MAX_NOTES: usize = 4;
/// The bot's log: its own debug lines, and when the SDK processed a sync
/// and called the event handlers (to tell when an event was lost).
const BOT_LOG_FILTER: &str = "info,safeguarding_bot=debug,matrix_sdk=warn,matrix_sdk::http_client=off,\
matrix_sdk::event_handler=debug,matrix_sdk_crypto=warn,matrix_sdk_crypto::backups=error,matrix_sdk_base=warn,\
matrix_sdk_base::client=info";

// ---------------------------------------------------------------- helpers

/// xorshift64*: small, seeded, ours.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn hex(&mut self) -> String {
        format!("{:08x}", self.next() as u32)
    }
}

/// The first reference (SG-0001) in a text.
fn reference_in(text: &str) -> Option<String> {
    let at = text.find("SG-")?;
    let digits: String = text[at + 3..].chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("SG-{digits}"))
}

fn localpart(user: &str) -> &str {
    user.trim_start_matches('@').split(':').next().unwrap_or(user)
}

/// What happened when, for telling a loss from a kill.
#[derive(Default)]
struct Journal {
    t0: u64,
    lines: Mutex<Vec<(u64, String)>>,
    kills: Mutex<Vec<u64>>,
}

impl Journal {
    fn note(&self, what: impl Into<String>) {
        let what = what.into();
        let at = now_ms();
        println!("[{:7.1}s] {what}", (at.saturating_sub(self.t0)) as f64 / 1000.0);
        self.lines.lock().expect("journal").push((at, what));
    }

    /// The kill nearest after `at`, as "+N ms", for a lost message.
    fn next_kill_after(&self, at: u64) -> String {
        match self.kills.lock().expect("kills").iter().find(|k| **k >= at) {
            Some(k) => format!("the next kill came {} ms after it was sent", k - at),
            None => "no kill came after it was sent".to_string(),
        }
    }
}

/// Findings, shared by every task.
#[derive(Default)]
struct Findings {
    duplicates: Mutex<Vec<String>>,
    losses: Mutex<Vec<String>>,
    /// Messages the bot should never have sent (answers to a replay).
    spurious: Mutex<Vec<String>>,
    /// Messages from the bot in the clear in an encrypted room.
    unencrypted: Mutex<Vec<String>>,
    other: Mutex<Vec<String>>,
}

impl Findings {
    fn dup(&self, s: String) {
        println!("DUPLICATE: {s}");
        self.duplicates.lock().expect("findings").push(s);
    }
    fn lost(&self, s: String) {
        println!("LOSS: {s}");
        self.losses.lock().expect("findings").push(s);
    }
    fn spurious(&self, s: String) {
        println!("SPURIOUS: {s}");
        self.spurious.lock().expect("findings").push(s);
    }
    fn unencrypted(&self, s: String) {
        println!("UNENCRYPTED: {s}");
        self.unencrypted.lock().expect("findings").push(s);
    }
    fn other(&self, s: String) {
        println!("PROBLEM: {s}");
        self.other.lock().expect("findings").push(s);
    }
}

/// What every person's task shares.
struct Ctx {
    bot_id: String,
    staff_room: OwnedRoomId,
    /// True while the bot is being killed.
    chaos: AtomicBool,
    reporters_done: AtomicUsize,
    /// The lead has nothing more to do.
    lead_done: AtomicBool,
    reporters: usize,
    /// References told to reporters so far.
    references: Mutex<Vec<String>>,
    /// When each reporter sent each /report (ms), recorded or not.
    starts: Mutex<HashMap<String, Vec<u64>>>,
    findings: Arc<Findings>,
    journal: Journal,
    seed: u64,
    /// Woken whenever someone sends something to the bot.
    activity: tokio::sync::Notify,
    /// Messages whose key came after them, decrypted late.
    late_keys: AtomicUsize,
}

impl Ctx {
    /// What `p` received from the bot since `since`, for a loss's report.
    fn received_since(&self, p: &Person, since: u64) -> String {
        let got: Vec<String> = p
            .history
            .lock()
            .expect("history")
            .iter()
            .filter(|m| m.sender == self.bot_id && m.ts_ms >= since)
            .map(|m| {
                format!(
                    "  {} {} in {}: {}",
                    m.event_id,
                    m.ts_ms,
                    m.room,
                    first_line(&m.body)
                )
            })
            .collect();
        if got.is_empty() {
            "nothing from the bot since".to_string()
        } else {
            format!("what came from the bot since:\n{}", got.join("\n"))
        }
    }

    /// Someone just sent something.
    fn sent(&self) {
        self.activity.notify_waiters();
    }

    /// Waits for a message from the bot, received at or after `since` (ms),
    /// in `room` (or any room but the staff room), that contains `text`.
    async fn bot_said(
        &self,
        p: &Person,
        room: Option<&RoomId>,
        since: u64,
        text: &str,
        patience: Duration,
    ) -> Option<Received> {
        let deadline = Instant::now() + patience;
        let mut polls = 0u32;
        loop {
            let found = p
                .history
                .lock()
                .expect("history")
                .iter()
                .find(|m| {
                    m.sender == self.bot_id
                        && m.ts_ms >= since
                        && match room {
                            Some(r) => m.room == r,
                            None => m.room != self.staff_room,
                        }
                        && m.body.contains(text)
                })
                .cloned();
            if found.is_some() {
                return found;
            }
            if Instant::now() > deadline {
                break;
            }
            polls += 1;
            if polls % 10 == 0 {
                self.late_keys.fetch_add(redecrypt(p).await, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Not through the client's sync: perhaps its sync skipped it. Ask the
        // homeserver for the rooms' whole timelines before calling it lost.
        let rooms: Vec<OwnedRoomId> = match room {
            Some(r) => vec![r.to_owned()],
            None => p
                .client
                .joined_rooms()
                .iter()
                .map(|r| r.room_id().to_owned())
                .filter(|r| *r != self.staff_room)
                .collect(),
        };
        for r in rooms {
            let found = timeline(p, &r)
                .await
                .into_iter()
                .find(|m| m.sender == self.bot_id && m.ts >= since && m.body.contains(text));
            if let Some(m) = found {
                self.journal.note(format!(
                    "{}: {text:?} ({}) was found only by paginating; the client's sync missed it",
                    p.user_id, m.event_id
                ));
                return Some(Received {
                    room: r.clone(),
                    sender: m.sender,
                    body: m.body,
                    html: None,
                    event_id: m.event_id.as_str().try_into().ok()?,
                    notice: false,
                    mentions_me: false,
                    ts_ms: m.ts,
                    file: None,
                });
            }
        }
        None
    }
}

// ---------------------------------------------------------------- reporters

/// One report as its reporter saw it.
#[derive(Clone, Debug)]
struct Report {
    reporter: String,
    private: OwnedRoomId,
    reference: String,
    route: &'static str,
    /// (label, value) the record must hold.
    fields: Vec<(&'static str, String)>,
}

/// The flowchart's questions by route: (answer, what the bot says next).
fn route_script(route: &'static str) -> Vec<(&'static str, Vec<&'static str>)> {
    match route {
        "urgent" => vec![("yes", vec!["Call 999 now", "What did you see or hear"])],
        "iwf" => vec![
            ("no", vec!["child sexual content"]),
            (
                "yes",
                vec!["Internet Watch Foundation", "What did you see or hear"],
            ),
        ],
        _ => vec![
            ("no", vec!["child sexual content"]),
            ("no", vec!["communicating with a child"]),
            ("no", vec!["known person"]),
            ("no", vec!["What did you see or hear"]),
        ],
    }
}

const ROUTES: [&str; 3] = ["record", "iwf", "urgent"];

async fn reporter(ctx: Arc<Ctx>, me: Arc<Person>, index: usize) -> Vec<Report> {
    let mut rng = Rng::new(ctx.seed ^ (0x1000 + index as u64));
    let mut done = Vec::new();
    for n in 0..MAX_REPORTS_EACH {
        if n > 0 && !ctx.chaos.load(Ordering::SeqCst) {
            break;
        }
        let route = ROUTES[(index + n) % ROUTES.len()];
        match one_report(&ctx, &me, route, &mut rng, index, n).await {
            Some(r) => done.push(r),
            None => break,
        }
    }
    ctx.reporters_done.fetch_add(1, Ordering::SeqCst);
    done
}

/// Says `text` and waits for every one of `expect` from the bot in `room`;
/// a reply that never comes is a loss.
async fn answer(
    ctx: &Ctx,
    me: &Person,
    room: &RoomId,
    text: &str,
    expect: &[&str],
    who: &str,
) -> Option<Received> {
    let since = now_ms();
    let event = me.say(room, text).await;
    ctx.sent();
    let mut last = None;
    for e in expect {
        match ctx.bot_said(me, Some(room), since, e, REPLY_PATIENCE).await {
            Some(m) => last = Some(m),
            None => {
                ctx.findings.lost(format!(
                    "{who} said {text:?} ({event}, at {since}) and never got {e:?} in {REPLY_PATIENCE:?}; {}; {}",
                    ctx.journal.next_kill_after(since),
                    ctx.received_since(me, since)
                ));
                return None;
            }
        }
    }
    last
}

async fn one_report(
    ctx: &Ctx,
    me: &Person,
    route: &'static str,
    rng: &mut Rng,
    index: usize,
    n: usize,
) -> Option<Report> {
    let who = format!("reporter {index} ({}), report {}", localpart(&me.user_id), n + 1);
    let tag = format!("r{index}n{n}-{}", rng.hex());
    let since = now_ms();
    ctx.starts
        .lock()
        .expect("starts")
        .entry(me.user_id.clone())
        .or_default()
        .push(since);
    let request = me.say(&ctx.staff_room, "/report").await;
    ctx.sent();
    ctx.journal.note(format!("{who}: /report ({route} route)"));
    let Some(first) = ctx
        .bot_said(me, None, since, "Is a crime in progress", REPLY_PATIENCE)
        .await
    else {
        ctx.findings.lost(format!(
            "{who} sent /report ({request}, at {since}) and never got the first question; {}; {}",
            ctx.journal.next_kill_after(since),
            ctx.received_since(me, since)
        ));
        return None;
    };
    let private = first.room.clone();
    let think = |rng: &mut Rng| Duration::from_millis(rng.range(0, 400));
    for (text, expect) in route_script(route) {
        tokio::time::sleep(think(rng)).await;
        answer(ctx, me, &private, text, &expect, &who).await?;
    }
    let fields: Vec<(&'static str, String)> = vec![
        ("What was seen or heard", format!("I saw {tag} in a group chat")),
        ("When it happened", format!("this morning {tag}")),
        ("Who is involved", format!("a child, about 12, {tag}")),
        ("Where online", format!("a group chat, account @someone-{tag}")),
        ("Risk area", "Contact".to_string()),
        ("Reporter's role", format!("volunteer {tag}")),
    ];
    let record: Vec<(String, &str)> = vec![
        (fields[0].1.clone(), "their own words"),
        ("skip".into(), "When did it happen"),
        (fields[1].1.clone(), "Who is involved"),
        (fields[2].1.clone(), "Where online"),
        (fields[3].1.clone(), "Who else knows"),
        ("skip".into(), "What have you done so far"),
        ("skip".into(), "Which area of risk"),
        ("2".into(), "What is your role"),
        (fields[5].1.clone(), "anything else"),
        ("skip".into(), "Please check your report"),
    ];
    for (text, expect) in &record {
        tokio::time::sleep(think(rng)).await;
        answer(ctx, me, &private, text, &[expect], &who).await?;
    }
    tokio::time::sleep(think(rng)).await;
    let told = answer(ctx, me, &private, "send", &["recorded as SG-"], &who).await?;
    let reference = reference_in(&told.body).expect("a reference in the confirmation");
    ctx.journal.note(format!("{who}: recorded as {reference}"));
    ctx.references.lock().expect("refs").push(reference.clone());
    Some(Report {
        reporter: me.user_id.clone(),
        private,
        reference,
        route,
        fields,
    })
}

// ---------------------------------------------------------------- the lead

#[derive(Clone, Debug, Default)]
struct Concern {
    room: Option<OwnedRoomId>,
    /// When the lead first saw its room (invited by name) or its page.
    seen: Option<Instant>,
    /// A page the lead could read.
    paged: bool,
    acked: bool,
    notes: Vec<String>,
    decision: Option<String>,
}

async fn lead_work(ctx: Arc<Ctx>, lead: Arc<Person>) -> BTreeMap<String, Concern> {
    let mut rng = Rng::new(ctx.seed ^ 0x1ead);
    let mut concerns: BTreeMap<String, Concern> = BTreeMap::new();
    let mut acks = 0usize;
    let mut gave_up: Option<Instant> = None;
    loop {
        // Pages seen so far, by reference: the first room each came in.
        let pages: Vec<Received> = lead
            .history
            .lock()
            .expect("history")
            .iter()
            .filter(|m| m.sender == ctx.bot_id && m.body.contains("Please acknowledge"))
            .cloned()
            .collect();
        for page in &pages {
            if let Some(r) = reference_in(&page.body) {
                let c = concerns.entry(r).or_default();
                if c.room.is_none() {
                    c.room = Some(page.room.clone());
                }
                c.seen.get_or_insert_with(Instant::now);
                c.paged = true;
            }
        }
        // A concern's room the lead was brought into, by its name, in case
        // its page cannot be read: after a while the lead acknowledges anyway.
        for room in lead.client.joined_rooms() {
            let Some(reference) = room
                .name()
                .and_then(|n| n.strip_prefix("Safeguarding concern ").map(str::to_string))
            else {
                continue;
            };
            let c = concerns.entry(reference).or_default();
            if c.room.is_none() {
                c.room = Some(room.room_id().to_owned());
            }
            c.seen.get_or_insert_with(Instant::now);
        }
        // Acknowledge each new concern: by !ack, or a ✅ on the page.
        let unacked: Vec<String> = concerns
            .iter()
            .filter(|(_, c)| {
                !c.acked && (c.paged || c.seen.is_some_and(|t| t.elapsed() > Duration::from_secs(10)))
            })
            .map(|(r, _)| r.clone())
            .collect();
        for r in unacked {
            let room = concerns[&r].room.clone().expect("paged in a room");
            let since = now_ms();
            let page = pages
                .iter()
                .find(|p| p.room == room && reference_in(&p.body).as_deref() == Some(r.as_str()));
            let (how, event) = match page {
                Some(page) if acks % 2 == 1 => ("a ✅ reaction", react(&lead, &room, &page.event_id).await),
                _ => ("!ack", lead.say(&room, "!ack").await),
            };
            ctx.sent();
            if page.is_none() {
                ctx.journal.note(format!(
                    "lead: no page to read for {r}; acknowledging in its room anyway"
                ));
            }
            acks += 1;
            ctx.journal.note(format!("lead: acknowledges {r} with {how}"));
            match ctx
                .bot_said(&lead, Some(&room), since, "acknowledged by", REPLY_PATIENCE)
                .await
            {
                Some(_) => {}
                None => ctx.findings.lost(format!(
                    "the lead acknowledged {r} with {how} ({event}, at {since}) and was never told it was acknowledged; {}",
                    ctx.journal.next_kill_after(since)
                )),
            }
            concerns.get_mut(&r).expect("known").acked = true;
        }
        // A note (or the decision) in the concern with the fewest entries.
        let chaos = ctx.chaos.load(Ordering::SeqCst);
        let want = |c: &Concern| {
            let cap = if chaos { MAX_NOTES } else { MIN_NOTES };
            c.acked && (c.notes.len() < cap || (c.notes.len() >= MIN_NOTES && c.decision.is_none()))
        };
        let next = concerns
            .iter()
            .filter(|(_, c)| want(c))
            .min_by_key(|(_, c)| c.notes.len() + usize::from(c.decision.is_some()))
            .map(|(r, _)| r.clone());
        if let Some(r) = next {
            tokio::time::sleep(Duration::from_millis(rng.range(100, 700))).await;
            let room = concerns[&r].room.clone().expect("room");
            let c = concerns.get_mut(&r).expect("known");
            let since = now_ms();
            if c.notes.len() >= MIN_NOTES && c.decision.is_none() {
                let reason = format!("crash reason {r} {}", rng.hex());
                let event = lead
                    .say(&room, &format!("!decision keep watching because {reason}"))
                    .await;
                ctx.sent();
                c.decision = Some(reason.clone());
                if ctx
                    .bot_said(
                        &lead,
                        Some(&room),
                        since,
                        "Decision and its reason recorded",
                        REPLY_PATIENCE,
                    )
                    .await
                    .is_none()
                {
                    ctx.findings.lost(format!(
                        "the lead's !decision in {r} ({reason}; {event}, at {since}) was never answered; {}",
                        ctx.journal.next_kill_after(since)
                    ));
                }
            } else {
                let note = format!("crash note {r} n{} {}", c.notes.len() + 1, rng.hex());
                let event = lead.say(&room, &format!("!note {note}")).await;
                ctx.sent();
                c.notes.push(note.clone());
                let noted = format!("of {r}.");
                let reply = ctx
                    .bot_said(&lead, Some(&room), since, "Noted as entry", REPLY_PATIENCE)
                    .await;
                if !reply.as_ref().is_some_and(|m| m.body.contains(&noted)) {
                    ctx.findings.lost(format!(
                        "the lead's !note in {r} ({note}; {event}, at {since}) was never answered; {}",
                        ctx.journal.next_kill_after(since)
                    ));
                }
            }
            continue;
        }
        // Done when every reporter is, and every concern they were told of is worked.
        if ctx.reporters_done.load(Ordering::SeqCst) == ctx.reporters {
            let told: Vec<String> = ctx.references.lock().expect("refs").clone();
            let missing: Vec<&String> = told.iter().filter(|r| !concerns.contains_key(*r)).collect();
            // A concern whose room the lead was brought into before its
            // page came is not done either: it is acknowledged once the
            // page is read (or after 10 s), above.
            if missing.is_empty() && !concerns.values().any(|c| want(c) || !c.acked) {
                ctx.lead_done.store(true, Ordering::SeqCst);
                return concerns;
            }
            let since = *gave_up.get_or_insert_with(Instant::now);
            if since.elapsed() > REPLY_PATIENCE {
                for r in missing {
                    ctx.findings.lost(format!(
                        "{r} was told to its reporter but its page never reached the lead"
                    ));
                }
                ctx.lead_done.store(true, Ordering::SeqCst);
                return concerns;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A ✅ on a message, as [`Person::react`], returning the reaction's id.
async fn react(
    p: &Person,
    room: &RoomId,
    to: &matrix_sdk::ruma::OwnedEventId,
) -> matrix_sdk::ruma::OwnedEventId {
    use matrix_sdk::ruma::events::reaction::ReactionEventContent;
    use matrix_sdk::ruma::events::relation::Annotation;
    let room = p.wait_for_room(room).await;
    room.send(ReactionEventContent::new(Annotation::new(
        to.clone(),
        "✅".to_string(),
    )))
    .await
    .expect("react")
    .response
    .event_id
}

// ---------------------------------------------------------------- counting afterwards

/// A message as the homeserver keeps it, decrypted by the person reading.
#[derive(Clone, Debug)]
struct Msg {
    event_id: String,
    sender: String,
    body: String,
    /// Could not be decrypted.
    unreadable: bool,
    ts: u64,
}

/// Every message in a room, oldest first, paginated from the homeserver.
async fn timeline(p: &Person, room: &RoomId) -> Vec<Msg> {
    let room = p.room(room);
    let mut out = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..100 {
        let mut options = MessagesOptions::backward();
        options.from = from.clone();
        options.limit = 100u32.into();
        let page = room.messages(options).await.expect("room messages");
        for ev in &page.chunk {
            let raw = ev.raw();
            let kind = raw.get_field::<String>("type").ok().flatten().unwrap_or_default();
            if kind != "m.room.message" && kind != "m.room.encrypted" {
                continue;
            }
            let content = raw
                .get_field::<serde_json::Value>("content")
                .ok()
                .flatten()
                .unwrap_or_default();
            out.push(Msg {
                event_id: ev.event_id().map(|e| e.to_string()).unwrap_or_default(),
                sender: raw
                    .get_field::<String>("sender")
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                body: content["body"].as_str().unwrap_or_default().to_string(),
                unreadable: kind == "m.room.encrypted",
                ts: raw
                    .get_field::<u64>("origin_server_ts")
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
            });
        }
        match page.end {
            Some(end) if !page.chunk.is_empty() && Some(&end) != from.as_ref() => from = Some(end),
            _ => break,
        }
    }
    out.reverse();
    out
}

/// The homeserver's admin API, as an admin of our own.
struct Admin {
    url: String,
    token: String,
    http: reqwest::Client,
}

fn enc(id: &str) -> String {
    id.replace('!', "%21")
        .replace(':', "%3A")
        .replace('@', "%40")
        .replace('#', "%23")
}

impl Admin {
    async fn new(hs: &Homeserver) -> Admin {
        let (user, password) = hs.register("crashadmin", true).await;
        let http = reqwest::Client::new();
        let body = serde_json::json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
        });
        let login: serde_json::Value = http
            .post(format!("{}/_matrix/client/v3/login", hs.url))
            .json(&body)
            .send()
            .await
            .expect("admin login")
            .json()
            .await
            .expect("json");
        Admin {
            url: hs.url.clone(),
            token: login["access_token"].as_str().expect("a token").to_string(),
            http,
        }
    }

    async fn get(&self, path: &str) -> serde_json::Value {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("admin api")
            .json()
            .await
            .expect("json")
    }

    /// The rooms a user is joined to, with their names.
    async fn joined_rooms(&self, user: &str) -> Vec<(String, String)> {
        let v = self
            .get(&format!("/_synapse/admin/v1/users/{}/joined_rooms", enc(user)))
            .await;
        let mut out = Vec::new();
        for id in v["joined_rooms"].as_array().cloned().unwrap_or_default() {
            let id = id.as_str().unwrap_or_default().to_string();
            let room = self.get(&format!("/_synapse/admin/v1/rooms/{}", enc(&id))).await;
            out.push((id, room["name"].as_str().unwrap_or_default().to_string()));
        }
        out
    }

    /// The messages `sender` sent to a room, as the server keeps them:
    /// (event id, whether encrypted, the body if not).
    async fn messages_from(&self, room: &str, sender: &str) -> Vec<(String, bool, String)> {
        let mut out = Vec::new();
        let mut from: Option<String> = None;
        for _ in 0..100 {
            let mut path = format!("/_synapse/admin/v1/rooms/{}/messages?dir=b&limit=500", enc(room));
            if let Some(f) = &from {
                path.push_str(&format!("&from={f}"));
            }
            let v = self.get(&path).await;
            let chunk = v["chunk"].as_array().cloned().unwrap_or_default();
            for e in &chunk {
                let kind = e["type"].as_str().unwrap_or_default();
                if e["sender"] == sender && (kind == "m.room.message" || kind == "m.room.encrypted") {
                    out.push((
                        e["event_id"].as_str().unwrap_or_default().to_string(),
                        kind == "m.room.encrypted",
                        e["content"]["body"].as_str().unwrap_or_default().to_string(),
                    ));
                }
            }
            match v["end"].as_str() {
                Some(end) if !chunk.is_empty() && Some(end) != from.as_deref() => {
                    from = Some(end.to_string())
                }
                _ => break,
            }
        }
        out
    }
}

/// Identical messages from the bot in one room: each a duplicate.
fn repeated(msgs: &[Msg], bot: &str, room_name: &str, findings: &Findings) {
    let mut seen: HashMap<&str, Vec<&Msg>> = HashMap::new();
    for m in msgs.iter().filter(|m| m.sender == bot && !m.unreadable) {
        seen.entry(m.body.as_str()).or_default().push(m);
    }
    for (body, ms) in seen {
        if ms.len() > 1 {
            let ids: Vec<String> = ms.iter().map(|m| format!("{} at {}", m.event_id, m.ts)).collect();
            findings.dup(format!(
                "{room_name}: the bot sent the same message {} times ({}): {:?}",
                ms.len(),
                ids.join(", "),
                first_line(body)
            ));
        }
    }
}

/// `!show` in a concern's room: its text, whole, from however many parts.
async fn show(ctx: &Ctx, lead: &Person, room: &RoomId, reference: &str) -> Option<String> {
    let since = now_ms();
    lead.say(room, "!show").await;
    let head = format!("{reference} is ");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let msgs: Vec<Received> = lead
            .history
            .lock()
            .expect("history")
            .iter()
            .filter(|m| m.sender == ctx.bot_id && m.room == room && m.ts_ms >= since)
            .cloned()
            .collect();
        if let Some(whole) = msgs.iter().find(|m| m.body.starts_with(&head)) {
            return Some(whole.body.clone());
        }
        // "(part i of n)\n…", the first part starting with the heading.
        let parts: Vec<(usize, usize, String)> = msgs
            .iter()
            .filter_map(|m| {
                let rest = m.body.strip_prefix("(part ")?;
                let (nums, body) = rest.split_once(")\n")?;
                let (i, n) = nums.split_once(" of ")?;
                Some((i.parse().ok()?, n.parse().ok()?, body.to_string()))
            })
            .collect();
        if let Some((_, n, _)) = parts.iter().find(|(i, _, b)| *i == 1 && b.starts_with(&head)) {
            let n = *n;
            let mut bodies = Vec::new();
            for i in 1..=n {
                match parts.iter().find(|(pi, pn, _)| *pi == i && *pn == n) {
                    Some((_, _, b)) => bodies.push(b.clone()),
                    None => break,
                }
            }
            if bodies.len() == n {
                return Some(bodies.concat());
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_at_random_moments_loses_nothing_and_sends_nothing_twice() {
    let started = Instant::now();
    let seed: u64 = std::env::var("SAFEGUARDING_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(now_ms);
    let work = work_dir(&format!("crash-{seed}"));
    println!(
        "crash test: seed {seed} (SAFEGUARDING_CRASH_SEED={seed} replays the kill times); files in {}",
        work.display()
    );
    let findings = Arc::new(Findings::default());
    let outcome = tokio::time::timeout(WHOLE_TEST, crash_test(seed, &work, started, findings.clone())).await;
    match outcome {
        Ok(()) => {
            // Passed: the log is kept, the data goes.
            let _ = std::fs::remove_dir_all(work.join("data"));
        }
        Err(_) => {
            for (what, list) in [
                ("duplicate", &findings.duplicates),
                ("loss", &findings.losses),
                ("spurious", &findings.spurious),
                ("unencrypted", &findings.unencrypted),
                ("other", &findings.other),
            ] {
                for item in list.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    println!("  {what} (so far): {item}");
                }
            }
            panic!(
                "the crash test was stuck for {WHOLE_TEST:?} and was stopped (findings so far are above); the bot's log is {}",
                work.join("bot.log").display()
            )
        }
    }
}

async fn crash_test(seed: u64, work: &Path, started: Instant, findings: Arc<Findings>) {
    let hs = homeserver();
    let (lead, s0, s1, s2) = tokio::join!(
        Person::new(hs, "lead"),
        Person::new(hs, "staffa"),
        Person::new(hs, "staffb"),
        Person::new(hs, "staffc"),
    );
    let (deputy, _) = hs.register("deputy", false).await;
    let account = bot_account(hs).await;
    let staff_room = s0
        .create_encrypted_room(
            "Staff",
            &[&lead.user_id, &s1.user_id, &s2.user_id, &account.user_id],
        )
        .await
        .room_id()
        .to_owned();
    for p in [&lead, &s1, &s2] {
        p.wait_for_member(&staff_room, &p.user_id).await;
    }
    let config = write_config(
        hs,
        &account,
        work,
        staff_room.as_str(),
        &lead.user_id,
        &[&deputy],
        "",
    );
    let filter = std::env::var("SAFEGUARDING_CRASH_BOT_LOG").unwrap_or_else(|_| BOT_LOG_FILTER.to_string());
    let mut bot = BotProcess::new("crash test", &config, &work.join("bot.log"), &filter);
    bot.start();
    bot.wait_up().await.unwrap_or_else(|e| panic!("{e}"));
    s0.wait_for_member(&staff_room, &account.user_id).await;
    // Every reporter's client sees the bot in the staff room before starting.
    for p in [&s1, &s2, &lead] {
        p.wait_for_member(&staff_room, &account.user_id).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let ctx = Arc::new(Ctx {
        bot_id: account.user_id.clone(),
        staff_room: staff_room.clone(),
        chaos: AtomicBool::new(true),
        reporters_done: AtomicUsize::new(0),
        lead_done: AtomicBool::new(false),
        reporters: 3,
        references: Mutex::new(Vec::new()),
        starts: Mutex::new(HashMap::new()),
        findings: findings.clone(),
        journal: Journal {
            t0: now_ms(),
            ..Default::default()
        },
        seed,
        activity: tokio::sync::Notify::new(),
        late_keys: AtomicUsize::new(0),
    });
    ctx.journal.note(format!(
        "setup took {:.1}s; the chaos begins",
        started.elapsed().as_secs_f64()
    ));
    let lead = Arc::new(lead);
    let staff: Vec<Arc<Person>> = vec![Arc::new(s0), Arc::new(s1), Arc::new(s2)];
    let reporters: Vec<_> = staff
        .iter()
        .enumerate()
        .map(|(i, p)| tokio::spawn(reporter(ctx.clone(), p.clone(), i)))
        .collect();
    let lead_task = tokio::spawn(lead_work(ctx.clone(), lead.clone()));

    // The chaos: kill at a random moment, start again, MIN_KILLS times.
    // Three kinds of moment, chosen by the seeded RNG: while starting;
    // 0.2-3 s after it is up, whatever it is doing; 0-800 ms after someone
    // sends it something, when it is most likely handling or sending.
    let mut rng = Rng::new(seed);
    let mut kills = 0usize;
    let mut early_kills = 0usize;
    let mut kinds = [0usize; 3];
    let mut uptimes = Vec::new();
    let chaos_started = Instant::now();
    // Bounded in time too: at least 20 kills, and no more after CHAOS_LIMIT
    // or once nobody has anything left to do.
    while kills < MIN_KILLS
        && !(kills >= 20 && (chaos_started.elapsed() > CHAOS_LIMIT || ctx.lead_done.load(Ordering::SeqCst)))
    {
        let kind = match rng.range(0, 7) {
            0 => 0,
            1..=3 => 1,
            _ => 2,
        };
        kinds[kind] += 1;
        let delay = match kind {
            0 => Duration::from_millis(rng.range(30, 1200)),
            _ => {
                if let Err(e) = bot.wait_up().await {
                    ctx.findings.other(e.clone());
                    panic!("{e}");
                }
                if kind == 2 {
                    let _ = tokio::time::timeout(Duration::from_secs(5), ctx.activity.notified()).await;
                    Duration::from_millis(rng.range(0, 800))
                } else {
                    Duration::from_millis(rng.range(200, 3000))
                }
            }
        };
        let from = Instant::now();
        while from.elapsed() < delay {
            if let Some(status) = bot.exited() {
                let e = format!(
                    "the bot exited by itself ({status}):\n{}",
                    tail(&bot.run_log(), 3000)
                );
                ctx.findings.other(e.clone());
                panic!("{e}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let was_up = bot.run_log().contains(UP_LINE);
        let uptime = bot.started_at.elapsed();
        ctx.journal.kills.lock().expect("kills").push(now_ms());
        bot.kill();
        kills += 1;
        if !was_up {
            early_kills += 1;
        }
        uptimes.push(uptime);
        ctx.journal.note(format!(
            "SIGKILL #{kills} after {:.2}s ({})",
            uptime.as_secs_f64(),
            if was_up { "running" } else { "while starting" }
        ));
        bot.start();
    }
    ctx.chaos.store(false, Ordering::SeqCst);
    let chaos_took = chaos_started.elapsed();
    bot.wait_up()
        .await
        .unwrap_or_else(|e| panic!("after the last kill: {e}"));
    ctx.journal.note(format!(
        "the chaos is over: {kills} kills in {:.1}s; the bot runs normally now",
        chaos_took.as_secs_f64()
    ));

    // Everyone finishes with the bot running.
    let mut reports: Vec<Report> = Vec::new();
    for r in reporters {
        reports.extend(r.await.expect("a reporter's task"));
    }
    let concerns = lead_task.await.expect("the lead's task");
    ctx.journal.note(format!(
        "{} reports recorded, {} concerns worked by the lead",
        reports.len(),
        concerns.len()
    ));
    // Whatever is still in the outbox goes out.
    tokio::time::sleep(Duration::from_secs(3)).await;
    if let Some(status) = bot.exited() {
        ctx.findings
            .other(format!("the bot exited by itself ({status}) after the chaos"));
    }

    let f = &ctx.findings;
    let bot_id = ctx.bot_id.clone();

    // ---- each report: one reference, told once; the reporter told of the ack once.
    let mut by_reference: BTreeMap<String, Vec<&Report>> = BTreeMap::new();
    for r in &reports {
        by_reference.entry(r.reference.clone()).or_default().push(r);
    }
    for (reference, rs) in &by_reference {
        if rs.len() > 1 {
            f.dup(format!("{reference} was given to {} reports", rs.len()));
        }
    }
    for (i, p) in staff.iter().enumerate() {
        let mine: Vec<&Report> = reports.iter().filter(|r| r.reporter == p.user_id).collect();
        let mut rooms: Vec<OwnedRoomId> = mine.iter().map(|r| r.private.clone()).collect();
        rooms.dedup();
        if rooms.len() > 1 {
            f.other(format!("reporter {i} was asked in {} private rooms", rooms.len()));
        }
        for room in rooms {
            let msgs = timeline(p, &room).await;
            let name = format!("reporter {i}'s private room");
            // Each report asks the same questions: compare within one report's messages.
            let mut starts: Vec<u64> = ctx
                .starts
                .lock()
                .expect("starts")
                .get(&p.user_id)
                .cloned()
                .unwrap_or_default();
            starts.sort_unstable();
            for (k, start) in starts.iter().enumerate() {
                let end = starts.get(k + 1).copied().unwrap_or(u64::MAX);
                let segment: Vec<Msg> = msgs
                    .iter()
                    .filter(|m| (k == 0 || m.ts >= *start) && m.ts < end)
                    .cloned()
                    .collect();
                repeated(&segment, &bot_id, &format!("{name} (report {})", k + 1), f);
            }
            let from_bot: Vec<&Msg> = msgs.iter().filter(|m| m.sender == bot_id).collect();
            for m in from_bot.iter().filter(|m| m.unreadable) {
                f.lost(format!(
                    "{name}: a message from the bot could not be decrypted ({})",
                    m.event_id
                ));
            }
            for r in &mine {
                let told = from_bot
                    .iter()
                    .filter(|m| m.body.contains(&format!("recorded as {}", r.reference)))
                    .count();
                if told != 1 {
                    f.dup(format!(
                        "{name}: told \"recorded as {}\" {told} times",
                        r.reference
                    ));
                }
                let acked = from_bot
                    .iter()
                    .filter(|m| {
                        m.body.contains("has been acknowledged by")
                            && m.body.contains(&format!("report {} ", r.reference))
                    })
                    .count();
                match acked {
                    1 => {}
                    0 => f.lost(format!(
                        "{name}: never told that {} was acknowledged",
                        r.reference
                    )),
                    n => f.dup(format!(
                        "{name}: told {n} times that {} was acknowledged",
                        r.reference
                    )),
                }
            }
            for m in &from_bot {
                if m.body.starts_with("Hello. To report a safeguarding concern") {
                    f.spurious(format!(
                        "{name}: \"how to start\" sent ({}) though the reporter said only answers: an answer handled twice",
                        m.event_id
                    ));
                }
                if m.body.contains("something went wrong") || m.body.contains("could not save") {
                    f.other(format!(
                        "{name}: the bot apologised ({}): {}",
                        m.event_id,
                        first_line(&m.body)
                    ));
                }
                if m.body.contains("You already have a report in progress") {
                    f.spurious(format!(
                        "{name}: told a report was already in progress ({})",
                        m.event_id
                    ));
                }
            }
        }
    }

    // ---- the staff room: one notice per /report, to whoever sent it.
    let staff_msgs = timeline(&staff[0], &staff_room).await;
    for p in &staff {
        let name = &p.name;
        let requests = staff_msgs
            .iter()
            .filter(|m| m.sender == p.user_id && m.body == "/report")
            .count();
        let notices = staff_msgs
            .iter()
            .filter(|m| m.sender == bot_id && m.body.starts_with(&format!("{name}, I've sent you")))
            .count();
        if notices != requests {
            f.dup(format!(
                "the staff room: {name} sent /report {requests} times and was answered {notices} times"
            ));
        }
    }
    let stray = staff_msgs
        .iter()
        .filter(|m| m.sender == bot_id && !m.body.contains(", I've sent you a private message"))
        .count();
    if stray > 0 {
        f.spurious(format!("the staff room: {stray} other messages from the bot"));
    }

    // ---- each concern: one room, one page, one record, one confirmation; !show holds it all.
    let admin = Admin::new(hs).await;
    let joined = admin.joined_rooms(&bot_id).await;
    let mut notes_total = 0usize;
    let mut notes_found = 0usize;
    for (reference, c) in &concerns {
        let rooms: Vec<&(String, String)> = joined
            .iter()
            .filter(|(_, name)| name == &format!("Safeguarding concern {reference}"))
            .collect();
        if rooms.len() != 1 {
            f.dup(format!(
                "{reference}: the bot is in {} rooms for it: {:?}",
                rooms.len(),
                rooms
            ));
        }
        let Some(room) = &c.room else { continue };
        let msgs = timeline(&lead, room).await;
        let name = format!("{reference}'s room");
        repeated(&msgs, &bot_id, &name, f);
        let from_bot: Vec<&Msg> = msgs.iter().filter(|m| m.sender == bot_id).collect();
        for m in from_bot.iter().filter(|m| m.unreadable) {
            f.lost(format!(
                "{name}: a message from the bot could not be decrypted ({})",
                m.event_id
            ));
        }
        let pages = from_bot
            .iter()
            .filter(|m| m.body.contains("Please acknowledge"))
            .count();
        if pages != 1 {
            let which: Vec<String> = from_bot
                .iter()
                .filter(|m| m.body.contains("Please acknowledge"))
                .map(|m| format!("{} at {}: {}", m.event_id, m.ts, first_line(&m.body)))
                .collect();
            let what = format!("{name}: {pages} pages:\n    {}", which.join("\n    "));
            if pages == 0 {
                f.lost(what);
            } else {
                f.dup(what);
            }
        }
        let records = from_bot
            .iter()
            .filter(|m| {
                m.body.starts_with(&format!("Reference: {reference}\n"))
                    || m.body.starts_with("(part 1 of ")
                        && m.body.contains(&format!("Reference: {reference}\n"))
            })
            .count();
        let report = reports.iter().find(|r| &r.reference == reference);
        match (records, report) {
            (1, _) => {}
            (0, Some(_)) => f.lost(format!("{name}: the record never arrived")),
            (0, None) => {}
            (n, _) => f.dup(format!("{name}: the record arrived {n} times")),
        }
        let confirmations = from_bot
            .iter()
            .filter(|m| m.body.starts_with(&format!("{reference} acknowledged by")))
            .count();
        match confirmations {
            1 => {}
            0 => f.lost(format!("{name}: no confirmation of the acknowledgement")),
            n => f.dup(format!("{name}: {n} confirmations of the acknowledgement")),
        }
        let server = admin.messages_from(room.as_str(), &bot_id).await.len();
        if server != from_bot.len() {
            f.other(format!(
                "{name}: the server holds {server} messages from the bot, the lead reads {}",
                from_bot.len()
            ));
        }

        // What is on disk, through the bot.
        match show(&ctx, &lead, room, reference).await {
            None => f.lost(format!("{name}: !show was never answered")),
            Some(text) => {
                for note in &c.notes {
                    notes_total += 1;
                    match count(&text, note) {
                        1 => notes_found += 1,
                        0 => f.lost(format!("{reference}: the note {note:?} is not in !show")),
                        n => f.dup(format!("{reference}: the note {note:?} is in !show {n} times")),
                    }
                }
                if let Some(reason) = &c.decision {
                    match count(&text, reason) {
                        1 => {}
                        0 => f.lost(format!("{reference}: the decision {reason:?} is not in !show")),
                        n => f.dup(format!(
                            "{reference}: the decision {reason:?} is in !show {n} times"
                        )),
                    }
                }
                let entries = count(&text, "crash note ") + count(&text, "crash reason ");
                let written = c.notes.len() + usize::from(c.decision.is_some());
                if entries != written {
                    f.other(format!(
                        "{reference}: !show has {entries} entries of the lead's, {written} were written"
                    ));
                }
                if !text.contains(&format!("Acknowledged by {}", lead.name)) {
                    f.lost(format!("{reference}: !show does not say it was acknowledged"));
                }
                if let Some(r) = report {
                    for (label, value) in &r.fields {
                        let line = format!("{label}: {value}");
                        match count(&text, &line) {
                            1 => {}
                            0 => f.lost(format!(
                                "{reference} ({} route): the record lacks {line:?} (!show:\n{text})",
                                r.route
                            )),
                            n => f.dup(format!("{reference}: {line:?} is in the record {n} times")),
                        }
                    }
                }
            }
        }
    }
    for r in &reports {
        if !concerns.contains_key(&r.reference) {
            f.lost(format!(
                "{}: recorded, but its page never reached the lead",
                r.reference
            ));
        }
    }
    // Every room the bot is in is encrypted: nothing from it may be in the clear.
    for (room, name) in &joined {
        for (event, encrypted, body) in admin.messages_from(room, &bot_id).await {
            if !encrypted {
                f.unencrypted(format!(
                    "{name:?} ({room}): {event} was sent unencrypted: {:?}",
                    first_line(&body)
                ));
            }
        }
    }
    let private_chats = joined
        .iter()
        .filter(|(_, name)| name == "Safeguarding report")
        .count();
    if private_chats != staff.len() {
        f.dup(format!(
            "the bot is in {private_chats} private report chats for {} reporters",
            staff.len()
        ));
    }
    // Keys that came after their messages: decrypted now, counted only.
    for p in std::iter::once(&lead).chain(&staff) {
        ctx.late_keys.fetch_add(redecrypt(p).await, Ordering::SeqCst);
    }

    // ---- stopped as systemd would, the audit log must hold.
    let stopped = bot.stop().await;
    if !stopped.is_some_and(|s| s.success()) {
        f.other(format!("the bot did not stop cleanly on SIGTERM: {stopped:?}"));
    }
    let verify = audit(&config, "verify");
    let verify_out = output_text(&verify);
    println!("audit verify: {} {}", verify.status, verify_out.trim());
    let shown = audit(&config, "show");
    let audit = String::from_utf8_lossy(&shown.stdout).into_owned();
    std::fs::write(work.join("audit.txt"), &audit).expect("keep the audit log");
    for line in audit.lines().filter(|l| l.contains("skipped")) {
        f.other(format!("the audit log says someone was passed over: {line}"));
    }

    // ---- figures.
    let log = std::fs::read_to_string(work.join("bot.log")).unwrap_or_default();
    let replays = count(&log, "handling events left from before a restart");
    let rooms_found = count(&log, "a room asked for again was made before");
    let entries_again = count(&log, "an entry handled again was not recorded twice");
    let errors = log.lines().filter(|l| l.contains(" ERROR ")).count();
    let panics = count(&log, "panicked at");
    let dups = f.duplicates.lock().expect("f").clone();
    let losses = f.losses.lock().expect("f").clone();
    let spurious = f.spurious.lock().expect("f").clone();
    let other = f.other.lock().expect("f").clone();
    let unencrypted = f.unencrypted.lock().expect("f").clone();
    let mean_uptime = uptimes.iter().map(Duration::as_secs_f64).sum::<f64>() / uptimes.len().max(1) as f64;
    println!();
    println!(
        "crash test: {kills} kills, {} reports, {} duplicates, {} losses",
        reports.len(),
        dups.len(),
        losses.len()
    );
    println!(
        "  seed {seed}; {kills} SIGKILLs ({early_kills} while starting; chosen {} at start, {} blind, {} just after a message), {} starts, mean {mean_uptime:.2}s alive before a kill; chaos {:.1}s, whole test {:.1}s",
        kinds[0],
        kinds[1],
        kinds[2],
        bot.starts,
        chaos_took.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "  {} reports by 3 reporters ({} references), {} concerns acknowledged, {}/{notes_total} notes found once in !show, {} decisions",
        reports.len(),
        by_reference.len(),
        concerns.values().filter(|c| c.acked).count(),
        notes_found,
        concerns.values().filter(|c| c.decision.is_some()).count()
    );
    println!(
        "  the bot's log: {replays} replays of unhandled events, {rooms_found} rooms found again by alias, {entries_again} casefile entries handled again, {errors} ERROR lines, {panics} panics"
    );
    println!(
        "  {} unencrypted messages, {} spurious replies, {} other problems, {} messages decrypted late (key after message), audit verify {}",
        unencrypted.len(),
        spurious.len(),
        other.len(),
        ctx.late_keys.load(Ordering::SeqCst),
        verify.status
    );
    for (what, list) in [
        ("duplicate", &dups),
        ("loss", &losses),
        ("spurious", &spurious),
        ("unencrypted", &unencrypted),
        ("other", &other),
    ] {
        for item in list.iter() {
            println!("  {what}: {item}");
        }
    }
    if !(dups.is_empty()
        && losses.is_empty()
        && spurious.is_empty()
        && other.is_empty()
        && verify.status.success())
    {
        println!("  the bot's log is kept at {}", work.join("bot.log").display());
    }
    assert!(kills >= 20, "at least 20 kills");
    assert!(
        reports.len() >= 3,
        "every reporter's first report was recorded: {reports:#?}"
    );
    assert!(dups.is_empty(), "duplicates: {dups:#?}");
    assert!(losses.is_empty(), "losses: {losses:#?}");
    assert!(spurious.is_empty(), "spurious replies: {spurious:#?}");
    assert!(unencrypted.is_empty(), "sent in the clear: {unencrypted:#?}");
    assert!(other.is_empty(), "other problems: {other:#?}");
    assert!(verify.status.success(), "audit verify failed: {verify_out}");
    assert_eq!(panics, 0, "the bot panicked; see its log");
}
