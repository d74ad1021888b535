//! Only leads and deputies in a concern's room, on the in-memory chat: the
//! check when someone joins does not give up when the chat cannot list the
//! room's members at that moment, and nothing is sent to the room while
//! someone who is not a lead or deputy is in it.
//!
//! People: the lead `@lead:test`, the deputy `@deputy:test`, a member of
//! staff `@staff:test` who reports, and `@outsider:test`, let into the
//! concern's room by mistake.

use crate::common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::memchat::{MemChat, Op, BOT, PATIENCE};
use safeguarding_bot::bot::{ChatError, Core, Inbound, InboundKind, Kind, Message, Running};
use safeguarding_bot::config::{self, Config};
use safeguarding_bot::flow;
use safeguarding_bot::health::Metrics;
use safeguarding_bot::store::{Key, Store};
use tempfile::TempDir;

const LEAD: &str = "@lead:test";
const DEPUTY: &str = "@deputy:test";
const STAFF: &str = "@staff:test";
const OUTSIDER: &str = "@outsider:test";
const STAFF_ROOM: &str = "!staff:test";
const LEADS_ROOM: &str = "!leads:test";
const REMOVED: &str = "I have removed";
const AUDITED: &str = "removed from a concern's room: not a lead or deputy";

fn config(data: &Path) -> Config {
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
deputies = ["{DEPUTY}"]
retention = "6 years"
leads_room = "{LEADS_ROOM}"

[storage]
data_dir = "{data}"

[flow]
file = "{flow}"
"#,
        data = data.display(),
        flow = common::repo_path(common::CLAPA).display(),
    );
    config::parse(&text, "room-check-test.toml", Path::new("/"), |_| None).expect("the test config is valid")
}

/// The in-memory chat, a store in a temporary folder, and the core.
struct World {
    chat: Arc<MemChat>,
    _data: TempDir,
    running: Option<Running>,
    next_event: AtomicU64,
}

impl World {
    async fn new() -> World {
        let chat = MemChat::new();
        chat.add_room(STAFF_ROOM, &[LEAD, DEPUTY, STAFF], true);
        chat.add_room(LEADS_ROOM, &[LEAD, DEPUTY], true);
        let data = TempDir::new().expect("tempdir");
        let config = config(data.path());
        let flow = flow::load_file(&config.flow.file).expect("the flow loads");
        let key = Key::load_or_create(&config.storage.key_file).expect("key");
        let store = Store::open(&config.storage.data_dir.join("store"), key).expect("store");
        let running = Core::start(chat.clone(), config, flow, store, Arc::new(Metrics::default()))
            .await
            .expect("the core starts");
        World {
            chat,
            _data: data,
            running: Some(running),
            next_event: AtomicU64::new(1),
        }
    }

    async fn stop(mut self) {
        let running = self.running.take().expect("running");
        tokio::time::timeout(Duration::from_secs(25), running.stop())
            .await
            .expect("the core stops in time")
            .expect("the core stops cleanly");
    }

    fn core(&self) -> &Arc<Core> {
        &self.running.as_ref().expect("running").core
    }

    fn event(&self, room: &str, sender: &str, kind: InboundKind) {
        let id = format!("$ev{}:test", self.next_event.fetch_add(1, Ordering::SeqCst));
        self.core().accept(Inbound {
            event_id: id,
            room_id: room.to_string(),
            sender: sender.to_string(),
            kind,
            written_at: None,
        });
    }

    fn say(&self, room: &str, sender: &str, body: &str) {
        self.event(
            room,
            sender,
            InboundKind::Text {
                body: body.to_string(),
                mentions_bot: false,
            },
        );
    }

    async fn answer(&self, private: &str, text: &str, expect: &str) {
        let since = self.chat.messages_in(private).len();
        self.say(private, STAFF, text);
        self.chat
            .wait_for_new(private, since, |m| m.plain.contains(expect), PATIENCE)
            .await;
    }

    /// A whole report through the CLAPA flow, with `phrase` in what was
    /// seen; returns the concern's room once the page and the record are
    /// there and nothing is left to send.
    async fn reported(&self, phrase: &str) -> String {
        self.say(STAFF_ROOM, STAFF, "/report");
        let private = self.chat.wait_for_private_room_of(STAFF).await;
        self.chat.join(STAFF, &private);
        self.chat.wait_for_text(&private, "Is a crime in progress").await;
        for (text, next) in [
            ("no", "child sexual content"),
            ("no", "communicating with a child"),
            ("no", "known person"),
            ("no", "What did you see or hear"),
        ] {
            self.answer(&private, text, next).await;
        }
        let what = format!("I saw {phrase} in a group chat");
        for (text, next) in [
            (what.as_str(), "their own words"),
            ("skip", "When did it happen"),
            ("this morning", "Who is involved"),
            ("a child, about 12", "Where online"),
            ("a group chat", "Who else knows"),
            ("skip", "What have you done so far"),
            ("skip", "Which area of risk"),
            ("2", "What is your role"),
            ("volunteer", "anything else"),
            ("skip", "Please check your report"),
            ("send", "recorded as"),
        ] {
            self.answer(&private, text, next).await;
        }
        let room = self.chat.wait_for_group_room().await;
        self.chat
            .wait_for(&room, |m| matches!(m.kind, Kind::Ping(_)), PATIENCE)
            .await;
        self.chat
            .wait_for(&room, |m| m.plain.contains(phrase), PATIENCE)
            .await;
        self.wait_outbox_empty().await;
        room
    }

    async fn wait_outbox_empty(&self) {
        let store = &self.core().store;
        let deadline = std::time::Instant::now() + PATIENCE;
        while store.outbox_len() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the outbox still holds {} effects\n{}",
                store.outbox_len(),
                self.chat.dump()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How many times the removal of `user` is in the audit log.
    fn removals_audited(&self, user: &str) -> usize {
        self.core()
            .store
            .audit_entries()
            .expect("audit")
            .into_iter()
            .filter(|e| e.action == AUDITED && e.detail == user)
            .count()
    }
}

fn shown(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.plain.as_str()).collect()
}

/// The chat cannot list the room's members the first two times it is
/// asked after someone who is not a lead walks in: the bot asks again, and
/// they are still removed, audited, and the room told.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outsider_is_removed_even_when_listing_the_room_fails_twice_at_the_join() {
    let w = World::new().await;
    let room = w.reported("teal-marten-3302").await;
    w.chat.fail_next_for(
        Op::Members,
        &room,
        ChatError::Transient("the homeserver is restarting".into()),
        2,
    );
    w.chat.invite_user(&room, OUTSIDER);
    w.chat.join(OUTSIDER, &room);
    w.event(&room, OUTSIDER, InboundKind::Joined);

    let told = w.chat.wait_for_text(&room, REMOVED).await;
    // Named as the chat shows them, never by their id.
    assert!(
        told.plain.contains("removed outsider") && !told.plain.contains(OUTSIDER),
        "{}",
        told.plain
    );
    assert_eq!(
        w.chat.faults_left(),
        0,
        "both failures were met\n{}",
        w.chat.dump()
    );
    w.wait_outbox_empty().await;
    assert!(
        !w.chat.room(&room).expect("room").is_member(OUTSIDER),
        "{}",
        w.chat.dump()
    );
    assert_eq!(w.removals_audited(OUTSIDER), 1);
    assert_eq!(w.chat.count_in(&room, REMOVED), 1, "{}", w.chat.dump());
    w.stop().await;
}

/// A lead's `!show` is held up in the outbox (the chat asks to slow down)
/// and, meanwhile, someone who is not a lead is invited to the room (the
/// bot has not seen the invitation yet). The record is not sent while
/// they are there: they are removed first, and see none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_show_never_reaches_an_outsider_invited_meanwhile() {
    let w = World::new().await;
    let phrase = "amber-finch-6127";
    let room = w.reported(phrase).await;
    let before = w.chat.messages_in(&room).len();
    let held = room.clone();
    w.chat.fail_when(
        Op::Send,
        move |c| c.room.as_deref() == Some(held.as_str()),
        ChatError::RateLimited(Some(Duration::from_millis(800))),
        1,
    );
    w.say(&room, LEAD, "!show");
    w.chat
        .wait_until(
            "the !show held up",
            |c| c.failed_calls_of(Op::Send) >= 1,
            PATIENCE,
        )
        .await;
    w.chat.invite_user(&room, OUTSIDER);

    let show = w
        .chat
        .wait_for_new(&room, before, |m| m.plain.contains("Chronology"), PATIENCE)
        .await;
    assert!(show.plain.contains(phrase), "{}", show.plain);
    w.wait_outbox_empty().await;
    let seen = w.chat.shown_to(&room, OUTSIDER);
    assert!(
        seen.is_empty(),
        "the outsider saw: {:?}\n{}",
        shown(&seen),
        w.chat.dump()
    );
    assert!(!w.chat.room(&room).expect("room").is_member(OUTSIDER));
    let told = w.chat.wait_for_text(&room, REMOVED).await;
    // Named as the chat shows them, never by their id.
    assert!(
        told.plain.contains("removed outsider") && !told.plain.contains(OUTSIDER),
        "{}",
        told.plain
    );
    assert_eq!(w.removals_audited(OUTSIDER), 1);
    w.chat.assert_no_resends();
    w.stop().await;
}

/// A lead's `!show` is held up in the outbox, someone who is not a lead is
/// let in meanwhile, and the chat will not let the bot remove them: the
/// record waits, and is sent only once they are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_show_waits_while_an_outsider_cannot_be_removed() {
    let w = World::new().await;
    let phrase = "slate-heron-4418";
    let room = w.reported(phrase).await;
    let held = room.clone();
    w.chat.fail_when(
        Op::Send,
        move |c| c.room.as_deref() == Some(held.as_str()),
        ChatError::RateLimited(Some(Duration::from_millis(500))),
        1,
    );
    w.say(&room, LEAD, "!show");
    w.chat
        .wait_until(
            "the !show held up",
            |c| c.failed_calls_of(Op::Send) >= 1,
            PATIENCE,
        )
        .await;
    w.chat
        .fail_always_for(Op::Remove, OUTSIDER, ChatError::Refused("not allowed".into()));
    w.chat.invite_user(&room, OUTSIDER);
    w.chat.join(OUTSIDER, &room);
    w.chat
        .wait_until(
            "the removal tried and refused twice",
            |c| c.failed_calls_of(Op::Remove) >= 2,
            PATIENCE,
        )
        .await;
    assert_eq!(
        w.chat.count_in(&room, "Chronology"),
        0,
        "the record went out with the outsider there\n{}",
        w.chat.dump()
    );
    // They leave (or someone with the power removes them): it goes.
    w.chat.leave(OUTSIDER, &room);
    w.chat.clear_faults();
    let show = w.chat.wait_for_text(&room, "Chronology").await;
    assert!(show.plain.contains(phrase), "{}", show.plain);
    let seen = w.chat.shown_to(&room, OUTSIDER);
    assert!(seen.is_empty(), "the outsider saw: {:?}", shown(&seen));
    w.stop().await;
}
