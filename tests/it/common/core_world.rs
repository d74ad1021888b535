//! The core on an in-memory chat ([`super::memchat`]) with a real store
//! in a temporary folder: the people, rooms and config the core's tests
//! share, and a [`World`] that runs the core on them and drives it as the
//! chat would.
//!
//! People: the lead `@lead:test`, deputies `@deputy:test` and
//! `@deputy2:test`, a member of staff `@staff:test` who reports, all joined
//! to the staff room `!staff:test`; the leads' room `!leads:test`.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::memchat::{MemChat, BOT, PATIENCE};
use safeguarding_bot::bot::{Core, Inbound, InboundKind, Kind, Message, Running, Setup};
use safeguarding_bot::config::{self, Config};
use safeguarding_bot::escalation::timer::{Clock, SystemClock, TokioClock};
use safeguarding_bot::flow::{self, Flow};
use safeguarding_bot::health::Metrics;
use safeguarding_bot::notify::Notifier;
use safeguarding_bot::store::{Key, Store};
use tempfile::TempDir;

pub const LEAD: &str = "@lead:test";
pub const DEPUTY: &str = "@deputy:test";
pub const DEPUTY2: &str = "@deputy2:test";
pub const STAFF: &str = "@staff:test";
pub const STAFF_ROOM: &str = "!staff:test";
pub const LEADS_ROOM: &str = "!leads:test";

/// The names the chat shows for them.
pub const NAMES: [(&str, &str); 4] = [
    (LEAD, "Lee Lead"),
    (DEPUTY, "Dee Deputy"),
    (DEPUTY2, "Dana Deputy"),
    (STAFF, "Sam Staff"),
];

pub fn name(id: &str) -> &'static str {
    NAMES
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| *n)
        .expect("a named person")
}

/// The reference the first report in a fresh store gets.
pub const SG1: &str = "SG-0001";

pub fn config(data: &Path, extra: &str) -> Config {
    let text = format!(
        r#"
[matrix]
homeserver_url = "http://127.0.0.1:9"
user_id = "{BOT}"
password = "not used"
staff_rooms = ["{STAFF_ROOM}"]

[safeguarding]
organisation = "Test Charity"
lead = "{LEAD}"
deputies = ["{DEPUTY}", "{DEPUTY2}"]
retention = "6 years"
leads_room = "{LEADS_ROOM}"
{extra}

[storage]
data_dir = "{data}"

[flow]
file = "{flow}"
"#,
        data = data.display(),
        flow = super::repo_path(super::CLAPA).display(),
    );
    config::parse(&text, "core-test.toml", Path::new("/"), |_| None).expect("the test config is valid")
}

/// A chat with the staff room and the leads' room, a store in a temporary
/// folder, and the core running on them.
pub struct World {
    pub chat: Arc<MemChat>,
    pub config: Config,
    flow: Flow,
    _data: TempDir,
    running: Option<Running>,
    next_event: AtomicU64,
    /// The core's clock: the system's, or tokio's paused time.
    clock: Arc<dyn Clock>,
    /// What sends SMS and email, if anything.
    notifier: Option<Arc<dyn Notifier>>,
}

impl World {
    pub async fn new() -> World {
        World::with("").await
    }

    /// As [`World::new`], with more `[safeguarding]` lines.
    pub async fn with(safeguarding_extra: &str) -> World {
        World::build(safeguarding_extra, Arc::new(SystemClock), |_| {}).await
    }

    /// As [`World::with`], on a clock that runs with tokio's (paused) time.
    pub async fn paused(safeguarding_extra: &str) -> World {
        World::paused_with(safeguarding_extra, |_| {}).await
    }

    /// As [`World::paused`], with the config changed by `tweak` first.
    pub async fn paused_with(safeguarding_extra: &str, tweak: impl FnOnce(&mut Config)) -> World {
        let clock = TokioClock::starting_at(chrono::Utc::now());
        World::build(safeguarding_extra, Arc::new(clock), tweak).await
    }

    pub async fn build(
        safeguarding_extra: &str,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut Config),
    ) -> World {
        let mut w = World::build_stopped(safeguarding_extra, clock, tweak);
        w.start().await;
        w
    }

    /// As [`World::build`], not started yet.
    fn build_stopped(
        safeguarding_extra: &str,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut Config),
    ) -> World {
        let chat = MemChat::new();
        for (id, n) in NAMES {
            chat.set_name(id, n);
        }
        chat.add_room(STAFF_ROOM, &[LEAD, DEPUTY, DEPUTY2, STAFF], true);
        chat.add_room(LEADS_ROOM, &[LEAD, DEPUTY, DEPUTY2], true);
        let data = TempDir::new().expect("tempdir");
        let mut config = config(data.path(), safeguarding_extra);
        tweak(&mut config);
        let flow = flow::load_file(&config.flow.file).expect("the flow loads");
        World {
            chat,
            config,
            flow,
            _data: data,
            running: None,
            next_event: AtomicU64::new(1),
            clock,
            notifier: None,
        }
    }

    /// As [`World::paused`], with SMS and email sent through `notifier`.
    pub async fn paused_notifying(safeguarding_extra: &str, notifier: Arc<dyn Notifier>) -> World {
        let clock = TokioClock::starting_at(chrono::Utc::now());
        let mut w = World::build_stopped(safeguarding_extra, Arc::new(clock), |_| {});
        w.notifier = Some(notifier);
        w.start().await;
        w
    }

    /// The core on a data directory made before, `data_dir` inside `tmp`
    /// (the upgrade test's fixture, unpacked), and a chat the caller set up
    /// as it was. Event ids start at `first_event`, past those the data
    /// directory remembers as handled.
    pub async fn on_data(
        chat: Arc<MemChat>,
        tmp: TempDir,
        data_dir: &Path,
        safeguarding_extra: &str,
        clock: Arc<dyn Clock>,
        first_event: u64,
    ) -> World {
        let config = config(data_dir, safeguarding_extra);
        let flow = flow::load_file(&config.flow.file).expect("the flow loads");
        let mut w = World {
            chat,
            config,
            flow,
            _data: tmp,
            running: None,
            next_event: AtomicU64::new(first_event),
            clock,
            notifier: None,
        };
        w.start().await;
        w
    }

    pub fn open_store(&self) -> Store {
        let key = Key::load_or_create(&self.config.storage.key_file).expect("key");
        Store::open(&self.config.storage.data_dir.join("store"), key).expect("store")
    }

    pub async fn start(&mut self) {
        assert!(self.running.is_none(), "already running");
        let setup = Setup {
            clock: self.clock.clone(),
            notifier: self.notifier.clone(),
        };
        let running = Core::start_with(
            self.chat.clone(),
            self.config.clone(),
            self.flow.clone(),
            self.open_store(),
            Arc::new(Metrics::default()),
            setup,
        )
        .await
        .expect("the core starts");
        self.running = Some(running);
    }

    pub async fn stop(&mut self) {
        let running = self.running.take().expect("running");
        tokio::time::timeout(Duration::from_secs(25), running.stop())
            .await
            .expect("the core stops in time")
            .expect("the core stops cleanly");
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.running.as_ref().expect("running").core
    }

    pub fn store(&self) -> &Store {
        &self.core().store
    }

    /// `sender` says `body` in `room`, as a new event; returns its id.
    pub fn say(&self, room: &str, sender: &str, body: &str) -> String {
        let id = format!("$ev{}:test", self.next_event.fetch_add(1, Ordering::SeqCst));
        self.say_as(&id, room, sender, body);
        id
    }

    /// `sender` says `body` in `room` as the event `event_id` (the same id
    /// again is the chat handing over the same event again).
    pub fn say_as(&self, event_id: &str, room: &str, sender: &str, body: &str) {
        let kind = InboundKind::Text {
            body: body.to_string(),
            mentions_bot: false,
        };
        self.event_as(event_id, room, sender, kind);
    }

    /// An event of any kind from `sender` in `room`, as a new event.
    pub fn event(&self, room: &str, sender: &str, kind: InboundKind) {
        let id = format!("$ev{}:test", self.next_event.fetch_add(1, Ordering::SeqCst));
        self.event_as(&id, room, sender, kind);
    }

    fn event_as(&self, event_id: &str, room: &str, sender: &str, kind: InboundKind) {
        self.core().accept(Inbound {
            event_id: event_id.to_string(),
            room_id: room.to_string(),
            sender: sender.to_string(),
            kind,
            written_at: None,
        });
    }

    /// The member of staff asks in the staff room; returns the private
    /// chat the questions come in, joined.
    pub async fn start_report(&self) -> String {
        self.say(STAFF_ROOM, STAFF, "/report");
        let notice = self.chat.wait_for_text(STAFF_ROOM, "private message").await;
        assert_eq!(notice.kind, Kind::Notice, "the staff-room answer is a notice");
        assert!(notice.plain.contains("call 999"), "{}", notice.plain);
        let private = self.chat.wait_for_private_room_of(STAFF).await;
        self.chat.join(STAFF, &private);
        self.chat.wait_for_text(&private, "Is a crime in progress").await;
        private
    }

    /// The reporter answers in their private chat; waits for the bot's
    /// message containing `expect` after it.
    pub async fn answer(&self, private: &str, text: &str, expect: &str) -> Message {
        let since = self.chat.messages_in(private).len();
        self.say(private, STAFF, text);
        self.chat
            .wait_for_new(private, since, |m| m.plain.contains(expect), PATIENCE)
            .await
    }

    /// Through the CLAPA flow's questions ("no" to each: record only) and
    /// its record, with these answers to what was seen, when, and who, up
    /// to the check before sending.
    pub async fn answer_to_check(&self, private: &str, what: &str, when: &str, who: &str) {
        self.answer(private, "no", "child sexual content").await;
        self.answer(private, "no", "communicating with a child").await;
        self.answer(private, "no", "known person").await;
        self.answer(private, "no", "What did you see or hear").await;
        self.answer(private, what, "their own words").await;
        self.answer(private, "skip", "When did it happen").await;
        self.answer(private, when, "Who is involved").await;
        self.answer(private, who, "Where online").await;
        self.answer(private, "a group chat, account @someone", "Who else knows")
            .await;
        self.answer(private, "skip", "What have you done so far").await;
        self.answer(private, "skip", "Which area of risk").await;
        self.answer(private, "2", "What is your role").await;
        self.answer(private, "volunteer", "anything else").await;
        self.answer(private, "skip", "Please check your report").await;
    }

    /// Sends the report; returns the reporter's confirmation.
    pub async fn submit(&self, private: &str) -> Message {
        let done = self.answer(private, "send", "recorded as").await;
        assert!(done.plain.contains(SG1), "{}", done.plain);
        done
    }

    /// A whole report with `phrase` in what was seen; returns the private chat.
    pub async fn report(&self, phrase: &str) -> String {
        let private = self.start_report().await;
        self.answer_to_check(
            &private,
            &format!("I saw {phrase} in a group chat"),
            "this morning",
            "a child, about 12",
        )
        .await;
        self.submit(&private).await;
        private
    }

    /// The concern's room and the page in it.
    pub async fn paged(&self) -> (String, Message) {
        let room = self.chat.wait_for_group_room().await;
        let page = self.chat.wait_for(&room, is_ping, PATIENCE).await;
        (room, page)
    }

    /// The page and then the record, in the concern's room.
    pub async fn paged_with_record(&self, phrase: &str) -> (String, Message, Message) {
        let (room, page) = self.paged().await;
        let record = self
            .chat
            .wait_for(&room, |m| m.plain.contains(phrase), PATIENCE)
            .await;
        (room, page, record)
    }

    /// No message anywhere apologises for something not saved.
    pub fn assert_nothing_lost(&self) {
        for (room, m) in self.chat.all_messages() {
            assert!(
                !m.plain.contains("could not save"),
                "{room}: {}\n{}",
                m.plain,
                self.chat.dump()
            );
            assert!(
                !m.plain.contains("had trouble passing it on"),
                "{room}: {}\n{}",
                m.plain,
                self.chat.dump()
            );
            assert!(
                !without_part_headers(&m.plain).trim().is_empty(),
                "{room}: a message with nothing in it: {:?}\n{}",
                m.plain,
                self.chat.dump()
            );
        }
    }

    /// Waits until everything staged has been carried out.
    pub async fn wait_outbox_empty(&self) {
        let deadline = std::time::Instant::now() + PATIENCE;
        while self.store().outbox_len() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the outbox still holds {} effects\n{}",
                self.store().outbox_len(),
                self.chat.dump()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

pub fn is_ping(m: &Message) -> bool {
    matches!(m.kind, Kind::Ping(_))
}
/// A message's text without its "(part 1 of 3)" lines (a part split again
/// has two).
pub fn without_part_headers(mut text: &str) -> &str {
    while text.starts_with("(part ") {
        match text.split_once('\n') {
            Some((header, rest)) if header.ends_with(')') => text = rest,
            _ => break,
        }
    }
    text
}
