#![recursion_limit = "256"]
//! Reply latency: how long a member of staff waits for the bot's next
//! message, beside a bare echo bot on the same Synapse.
//!
//! Run with `cargo bench --bench reply_latency` (a real Synapse is started,
//! or found running, on 127.0.0.1:18008 by `deploy/dev-homeserver.sh`, as the
//! end-to-end tests do). `REPLY_LATENCY_N` sets the number of timed round
//! trips per scenario (default 30).
//!
//! Run without `--bench` (as `cargo test --bench '*'` runs it, and CI does)
//! it is short: 2 timed round trips per scenario after 1 to warm up, and
//! half a second of flood before timing, the scenarios side by side, to
//! show that every scenario still works (each round trip waits for its
//! reply, or the bench fails); its figures are printed but mean little.
//!
//! Scenarios, every room end-to-end encrypted:
//! - our bot: a report in progress; the member of staff answers `help` and
//!   `hmm` in turn, so the bot asks the first question again each time and
//!   the report never finishes;
//! - echo (own sync_once loop): a second account with its own matrix-sdk
//!   client that replies to each text with the same body, syncing in a tight
//!   `sync_once` loop as our bot does: the floor for any bot on this server;
//! - echo (Client::sync): the same echo bot on the SDK's own loop, which
//!   waits a second between syncs that come back quickly;
//! - while another floods, for our bot and for the echo bot (own loop): a
//!   second account sends the bot messages twenty at a time, never waiting,
//!   for as long as the timed round trips take. The echo bot leaves the
//!   flood unanswered, as our bot's limit does, so its row is the floor
//!   under the same flood. Synapse's CPU use meanwhile is printed.
//!   `REPLY_LATENCY_FLOOD_RATE=30` paces the flood at 30 messages a second
//!   (the end-to-end flood test's 300 in 10 s); unset, it is as fast as the
//!   homeserver takes it.
//!
//! The time is measured by the member of staff's own client, from just
//! before `room.send` to the moment its event handler sees the reply. That
//! client also syncs in its own tight `sync_once` loop (the harness's
//! `Person` uses `Client::sync`, whose pause would be measured too), and
//! the handler timestamps each message as it is decrypted, so there is no
//! polling in the measurement.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::matrix::{bot_account, bot_config, homeserver, BotRun, Homeserver};
use common::person;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, RoomMessageEventContent,
};
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use matrix_sdk::Client;
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The longest any one reply may take before the bench gives up.
const REPLY_PATIENCE: Duration = Duration::from_secs(30);
/// The longest the whole bench may take.
const TOTAL_PATIENCE: Duration = Duration::from_secs(300);
/// Set once, in `main`: a short run (without `--bench`).
static SHORT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn short() -> bool {
    SHORT.load(std::sync::atomic::Ordering::Relaxed)
}

/// Round trips before timing starts: the first messages in a new encrypted
/// room also share room keys, which the steady conversation does not.
fn warm_up() -> usize {
    if short() {
        1
    } else {
        3
    }
}

/// How long a flood runs before timing starts, so it has passed the burst
/// the bot takes.
fn flood_lead() -> Duration {
    if short() {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(2)
    }
}

/// How a client syncs.
#[derive(Clone, Copy, PartialEq)]
enum SyncMode {
    /// Our own loop: the next `sync_once` starts as soon as the last returns.
    Tight,
    /// `Client::sync`, the SDK's loop.
    Sdk,
}

/// A message as the measuring client's event handler saw it.
struct Arrival {
    at: Instant,
    room: OwnedRoomId,
    sender: OwnedUserId,
    body: String,
}

/// A matrix-sdk client with encryption and a sqlite store in a temporary
/// directory, that accepts every invitation, and either passes each message
/// it receives to a channel or (an echo bot) answers it with the same body.
struct Account {
    client: Client,
    id: OwnedUserId,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    sync: JoinHandle<()>,
    _dir: TempDir,
}

impl Drop for Account {
    fn drop(&mut self) {
        self.sync.abort();
    }
}

impl Account {
    async fn new(hs: &Homeserver, prefix: &str, mode: SyncMode, echo: bool) -> Account {
        let (user_id, password) = hs.register(prefix, false).await;
        let (client, dir) = person::log_in(&hs.url, &user_id, &password, prefix)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let id = client.user_id().expect("logged in").to_owned();
        let (tx, arrivals) = mpsc::unbounded_channel();
        {
            let me = id.clone();
            client.add_event_handler(move |ev: OriginalSyncRoomMessageEvent, room: Room| {
                let at = Instant::now();
                let tx = tx.clone();
                let me = me.clone();
                async move {
                    let body = match &ev.content.msgtype {
                        MessageType::Text(t) => t.body.clone(),
                        MessageType::Notice(t) => t.body.clone(),
                        other => other.body().to_string(),
                    };
                    if echo {
                        // It leaves a flood unanswered, as our bot's limit
                        // does, so only the flood's load is compared.
                        let flood = body.starts_with(FLOOD_PREFIX);
                        if ev.sender != me && !flood && matches!(ev.content.msgtype, MessageType::Text(_)) {
                            // Sent from a task, as our bot's worker does, so
                            // the sync loop is not held up by the send.
                            tokio::spawn(async move {
                                let _ = room.send(RoomMessageEventContent::text_plain(body)).await;
                            });
                        }
                    } else {
                        let _ = tx.send(Arrival {
                            at,
                            room: room.room_id().to_owned(),
                            sender: ev.sender.clone(),
                            body,
                        });
                    }
                }
            });
        }
        person::accept_invitations(&client);
        client
            .sync_once(SyncSettings::default())
            .await
            .expect("first sync");
        let sync_client = client.clone();
        let settings = SyncSettings::default().timeout(Duration::from_secs(30));
        let sync = tokio::spawn(async move {
            match mode {
                SyncMode::Sdk => {
                    let _ = sync_client.sync(settings).await;
                }
                SyncMode::Tight => loop {
                    let started = Instant::now();
                    match sync_client.sync_once(settings.clone()).await {
                        Ok(r) => {
                            let empty = r.rooms.joined.is_empty()
                                && r.rooms.invited.is_empty()
                                && r.to_device.is_empty();
                            // The same guard as the bot's loop, against a
                            // server that answers empty syncs at once.
                            if empty && started.elapsed() < Duration::from_millis(50) {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                    }
                },
            }
        });
        Account {
            client,
            id,
            arrivals,
            sync,
            _dir: dir,
        }
    }

    async fn create_encrypted_room(&self, name: &str, invite: &[&UserId]) -> Room {
        let invite = invite.iter().map(|u| (*u).to_owned()).collect();
        person::create_encrypted_room(&self.client, name, invite)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Waits until `user` has joined the room, as this client sees it.
    async fn wait_for_member(&self, room: &RoomId, user: &UserId) -> Room {
        let deadline = Instant::now() + REPLY_PATIENCE;
        loop {
            if let Some(r) = self.client.get_room(room) {
                if r.state() == matrix_sdk::RoomState::Joined {
                    if let Ok(Some(m)) = r.get_member_no_sync(user).await {
                        if *m.membership() == MembershipState::Join {
                            return r;
                        }
                    }
                }
            }
            assert!(Instant::now() < deadline, "{user} never joined {room}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The next message that matches, as it arrives.
    async fn next(&mut self, what: &str, pred: impl Fn(&Arrival) -> bool) -> Arrival {
        let deadline = tokio::time::Instant::now() + REPLY_PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.arrivals.recv()).await {
                Ok(Some(a)) if pred(&a) => return a,
                Ok(Some(_)) => {}
                Ok(None) => panic!("the event handler went away waiting for {what}"),
                Err(_) => panic!("waited {REPLY_PATIENCE:?} for {what}"),
            }
        }
    }

    /// Forgets whatever has arrived and not been waited for.
    fn drain(&mut self) {
        while self.arrivals.try_recv().is_ok() {}
    }

    /// Sends `text` and waits for the next message from `from` in the room
    /// that `expect` accepts. Returns (send to reply, time in `room.send`).
    async fn round_trip(
        &mut self,
        room: &Room,
        text: &str,
        from: &UserId,
        expect: impl Fn(&str) -> bool,
    ) -> (Duration, Duration) {
        self.drain();
        let started = Instant::now();
        room.send(RoomMessageEventContent::text_plain(text))
            .await
            .expect("send");
        let sent = started.elapsed();
        let room_id = room.room_id().to_owned();
        let reply = self
            .next(&format!("a reply to {text:?}"), |a| {
                a.room == room_id && a.sender == from && expect(&a.body)
            })
            .await;
        (reply.at.duration_since(started), sent)
    }
}

/// The times of one scenario.
struct Row {
    scenario: String,
    replies: Vec<Duration>,
    sends: Vec<Duration>,
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    let n = v.len();
    if n == 0 {
        Duration::ZERO
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| {:<34} | {:>3} | {:>9} | {:>8} | {:>14} |",
        "scenario", "n", "median ms", "worst ms", "median send ms"
    );
    println!("|{:-<36}|{:->5}|{:->11}|{:->10}|{:->16}|", "", "", "", "", "");
    for r in rows {
        println!(
            "| {:<34} | {:>3} | {:>9} | {:>8} | {:>14} |",
            r.scenario,
            r.replies.len(),
            ms(median(&r.replies)),
            ms(r.replies.iter().copied().max().unwrap_or_default()),
            if r.sends.is_empty() {
                "-".to_string()
            } else {
                ms(median(&r.sends))
            },
        );
    }
    println!();
}

/// Our bot: a report in progress, answered with `help` and `hmm` in turn.
async fn our_bot(hs: &Homeserver, n: usize) -> Vec<Row> {
    let mut staff = Account::new(hs, "staff", SyncMode::Tight, false).await;
    let (lead, _) = hs.register("lead", false).await;
    let account = bot_account(hs).await;
    let bot_id = OwnedUserId::try_from(account.user_id.as_str()).expect("bot id");
    let staff_room = staff.create_encrypted_room("Staff", &[&bot_id]).await;
    let data = TempDir::new().expect("tempdir");
    let config = bot_config(
        hs,
        &account,
        data.path(),
        staff_room.room_id().as_str(),
        &lead,
        &[],
    );
    let bot = BotRun::start(config);
    staff.wait_for_member(staff_room.room_id(), &bot_id).await;

    staff.drain();
    let started = Instant::now();
    staff_room
        .send(RoomMessageEventContent::text_plain("/report"))
        .await
        .expect("send /report");
    let staff_room_id = staff_room.room_id().to_owned();
    let first = staff
        .next("the first question", |a| {
            a.sender == bot_id && a.room != staff_room_id && a.body.contains("Is a crime in progress")
        })
        .await;
    let to_first_question = first.at.duration_since(started);
    let private = staff.wait_for_member(&first.room, &bot_id).await;
    // Let anything else the start sent arrive before timing.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let answers = ["help", "hmm"];
    let asks_again = |body: &str| body.contains("Is a crime in progress");
    for i in 0..warm_up() {
        staff
            .round_trip(&private, answers[i % 2], &bot_id, asks_again)
            .await;
    }
    let mut row = Row {
        scenario: "our bot (help / hmm, asked again)".into(),
        replies: Vec::new(),
        sends: Vec::new(),
    };
    for i in 0..n {
        let (reply, sent) = staff
            .round_trip(&private, answers[i % 2], &bot_id, asks_again)
            .await;
        row.replies.push(reply);
        row.sends.push(sent);
    }
    let flooded = while_another_floods(hs, &mut staff, &staff_room, &private, &bot_id, n).await;
    bot.stop().await;
    vec![
        Row {
            scenario: "our bot: /report to first question".into(),
            replies: vec![to_first_question],
            sends: vec![],
        },
        row,
        flooded,
    ]
}

/// The same round trips while another member of staff, mid-report, sends
/// messages to the bot as fast as their client can, without waiting for
/// replies. Returns the timed row; prints how many were sent.
async fn while_another_floods(
    hs: &Homeserver,
    staff: &mut Account,
    staff_room: &Room,
    private: &Room,
    bot_id: &UserId,
    n: usize,
) -> Row {
    let mut flooder = Account::new(hs, "flooder", SyncMode::Tight, false).await;
    staff_room
        .invite_user_by_id(&flooder.id)
        .await
        .expect("invite the flooder");
    staff.wait_for_member(staff_room.room_id(), &flooder.id).await;
    let staff_room_id = staff_room.room_id().to_owned();
    // Their own client must have synced the join too: until then it holds
    // the room as invited and refuses to send (a CI run failed so).
    let flooder_id = flooder.id.clone();
    flooder
        .wait_for_member(&staff_room_id, &flooder_id)
        .await
        .send(RoomMessageEventContent::text_plain("/report"))
        .await
        .expect("send /report");
    let first = flooder
        .next("the flooder's first question", |a| {
            a.sender == bot_id && a.room != staff_room_id && a.body.contains("Is a crime in progress")
        })
        .await;
    let flood_room = flooder.wait_for_member(&first.room, bot_id).await;
    // One answer alone first, so the room key is shared before the flood.
    flooder
        .round_trip(&flood_room, "no", bot_id, |b| b.contains("child sexual content"))
        .await;
    let flood = Flood::start(flooder, flood_room);
    // Let the flood pass the burst the bot takes before timing.
    tokio::time::sleep(flood_lead()).await;
    let answers = ["help", "hmm"];
    let asks_again = |body: &str| body.contains("Is a crime in progress");
    let mut row = Row {
        scenario: "our bot, while another floods".into(),
        replies: Vec::new(),
        sends: Vec::new(),
    };
    for i in 0..n {
        let (reply, sent) = staff
            .round_trip(private, answers[i % 2], bot_id, asks_again)
            .await;
        row.replies.push(reply);
        row.sends.push(sent);
    }
    let (sent, mut flooder, elapsed, synapse) = flood.stop().await;
    let mut replies = 0;
    while let Ok(a) = flooder.arrivals.try_recv() {
        if a.sender == bot_id && a.room == first.room {
            replies += 1;
        }
    }
    eprintln!(
        "reply_latency: the flooder sent {sent} messages in {:.1} s ({:.0} a second); the bot sent them {replies} replies; {synapse}",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64()
    );
    row
}

/// What every flood message starts with.
const FLOOD_PREFIX: &str = "flood ";

/// One account sending to a room twenty messages at a time, without waiting
/// for any reply: hundreds in a few seconds, as a stuck key or a script
/// would send them.
struct Flood {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: JoinHandle<(usize, Account)>,
    started: Instant,
    synapse_cpu: Option<Duration>,
}

impl Flood {
    fn start(flooder: Account, room: Room) -> Flood {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            // REPLY_LATENCY_FLOOD_RATE paces it (messages a second);
            // unset, it sends as fast as the homeserver takes them.
            let rate: Option<f64> = std::env::var("REPLY_LATENCY_FLOOD_RATE")
                .ok()
                .and_then(|r| r.parse().ok());
            let began = Instant::now();
            let mut sent = 0usize;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(rate) = rate {
                    let due = began + Duration::from_secs_f64(sent as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                // Twenty at once, safely: see `person::send_burst`.
                let lines = (sent..sent + 20).map(|i| format!("{FLOOD_PREFIX}{i}"));
                let _ = person::send_burst(&room, lines).await;
                sent += 20;
            }
            (sent, flooder)
        });
        Flood {
            stop,
            task,
            started: Instant::now(),
            synapse_cpu: synapse_cpu(),
        }
    }

    /// Stops it: how many were sent, the flooder, for how long, and how
    /// busy Synapse was meanwhile.
    async fn stop(self) -> (usize, Account, Duration, String) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (sent, flooder) = self.task.await.expect("the flood task");
        let elapsed = self.started.elapsed();
        let busy = match (self.synapse_cpu, synapse_cpu()) {
            (Some(before), Some(after)) => format!(
                "Synapse used {:.0}% of one CPU meanwhile",
                100.0 * (after - before).as_secs_f64() / elapsed.as_secs_f64()
            ),
            _ => "Synapse's CPU time could not be read".to_string(),
        };
        (sent, flooder, elapsed, busy)
    }
}

/// The CPU time the test homeserver's Synapse has used (user and system),
/// from /proc, found by its command line: this checkout's config, since
/// other checkouts on the machine may run a Synapse of their own.
fn synapse_cpu() -> Option<Duration> {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let config = common::repo_path("target/test-homeserver/homeserver.yaml");
    let config = config.to_string_lossy();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        if !cmdline.contains("synapse.app.homeserver") || !cmdline.contains(config.as_ref()) {
            return None;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        // The fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let (utime, stime): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
        Some(Duration::from_secs_f64((utime + stime) / ticks_per_second))
    })
}

/// The bare echo bot again, while a second account floods it in a room of
/// their own: the floor for any bot on this server under the same flood.
async fn echo_while_flooded(hs: &Homeserver, n: usize) -> Row {
    let (mut staff, echo, flooder) = tokio::join!(
        Account::new(hs, "staff", SyncMode::Tight, false),
        Account::new(hs, "echo", SyncMode::Tight, true),
        Account::new(hs, "flooder", SyncMode::Tight, false),
    );
    let room = staff.create_encrypted_room("Echo", &[&echo.id]).await;
    let room = staff.wait_for_member(room.room_id(), &echo.id).await;
    let flood_room = flooder.create_encrypted_room("Flood", &[&echo.id]).await;
    let flood_room = flooder.wait_for_member(flood_room.room_id(), &echo.id).await;
    // One message first, so the room key is shared before the flood.
    flood_room
        .send(RoomMessageEventContent::text_plain(format!(
            "{FLOOD_PREFIX}first"
        )))
        .await
        .expect("the first flood message");
    for i in 0..warm_up() {
        let text = format!("ping {i}");
        staff.round_trip(&room, &text, &echo.id, |b| b == text).await;
    }
    let flood = Flood::start(flooder, flood_room);
    tokio::time::sleep(flood_lead()).await;
    let mut row = Row {
        scenario: "echo bot, while another floods".into(),
        replies: Vec::new(),
        sends: Vec::new(),
    };
    for i in 0..n {
        let text = format!("ping {i}");
        let (reply, sent) = staff.round_trip(&room, &text, &echo.id, |b| b == text).await;
        row.replies.push(reply);
        row.sends.push(sent);
    }
    let (sent, _flooder, elapsed, synapse) = flood.stop().await;
    eprintln!(
        "reply_latency: beside the echo bot, the flooder sent {sent} messages in {:.1} s ({:.0} a second); {synapse}",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64()
    );
    drop(echo);
    row
}

/// A bare echo bot, syncing as `mode` says, in an encrypted room with a new
/// member of staff.
async fn echo(hs: &Homeserver, n: usize, mode: SyncMode, scenario: &str) -> Row {
    let (mut staff, echo) = tokio::join!(
        Account::new(hs, "staff", SyncMode::Tight, false),
        Account::new(hs, "echo", mode, true),
    );
    let room = staff.create_encrypted_room("Echo", &[&echo.id]).await;
    let room = staff.wait_for_member(room.room_id(), &echo.id).await;
    let mut row = Row {
        scenario: scenario.into(),
        replies: Vec::new(),
        sends: Vec::new(),
    };
    for i in 0..warm_up() + n {
        let text = format!("ping {i}");
        let (reply, sent) = staff.round_trip(&room, &text, &echo.id, |b| b == text).await;
        if i >= warm_up() {
            row.replies.push(reply);
            row.sends.push(sent);
        }
    }
    drop(echo);
    row
}

async fn bench(hs: &'static Homeserver, n: usize) -> Vec<Row> {
    if short() {
        // Nothing is timed for real in a short run, so the scenarios run
        // side by side: most of their time is accounts and rooms being set
        // up on the homeserver.
        let (mut rows, tight, flooded, sdk) = tokio::join!(
            our_bot(hs, n),
            echo(hs, n, SyncMode::Tight, "echo bot, own sync_once loop"),
            echo_while_flooded(hs, n),
            echo(hs, n, SyncMode::Sdk, "echo bot, Client::sync"),
        );
        rows.extend([tight, flooded, sdk]);
        return rows;
    }
    let mut rows = our_bot(hs, n).await;
    rows.push(echo(hs, n, SyncMode::Tight, "echo bot, own sync_once loop").await);
    rows.push(echo_while_flooded(hs, n).await);
    rows.push(echo(hs, n, SyncMode::Sdk, "echo bot, Client::sync").await);
    rows
}

fn main() {
    // `cargo bench` passes --bench; `cargo test` passes nothing.
    let full = std::env::args().any(|a| a == "--bench");
    SHORT.store(!full, std::sync::atomic::Ordering::Relaxed);
    let n: usize = std::env::var("REPLY_LATENCY_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 30 } else { 2 });
    eprintln!("reply_latency: starting (or finding) the test homeserver on 127.0.0.1");
    let hs = homeserver();
    eprintln!(
        "reply_latency: {}{n} round trips per scenario after {} to warm up",
        if full { "" } else { "short run (without --bench): " },
        warm_up()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rows = runtime.block_on(async {
        match tokio::time::timeout(TOTAL_PATIENCE, bench(hs, n)).await {
            Ok(rows) => rows,
            Err(_) => {
                eprintln!("reply_latency: gave up after {TOTAL_PATIENCE:?}");
                std::process::exit(1);
            }
        }
    });
    print_table(&rows);
    runtime.shutdown_timeout(Duration::from_secs(5));
}
