//! Upgrades keep the data: a data directory written by the last release
//! (b8425c1, kept in `tests/data/store-b8425c1/`, whose README says what
//! it holds and how it was made) opened by this one.
//!
//! First the store alone: every concern, conversation, escalation and its
//! deadline, casefile, room, setting, pending outbox effect and audit entry
//! that release read back is read the same by this one, through this one's
//! types (a field it dropped or could not read fails the test), the audit
//! log verifies, and the schema version is this one's. Then the bot runs on
//! it, on the chat as that release left it and a clock that starts when it
//! stopped: the page that was waiting is delivered once, the deadlines fire
//! when they were due, the reporters in the middle of their questions carry
//! on, and nothing already sent is sent again.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tempfile::TempDir;

use crate::common;
use crate::common::core_world::{is_ping, World, DEPUTY, DEPUTY2, LEAD, NAMES};
use crate::common::memchat::{MemChat, Op, Posted, Room, PATIENCE};
use safeguarding_bot::bot::outbox::Effect;
use safeguarding_bot::bot::{Member, Message, RoomSpec};
use safeguarding_bot::casework::retention::PostedCopy;
use safeguarding_bot::casework::Casefile;
use safeguarding_bot::conversation::Conversation;
use safeguarding_bot::escalation::timer::{Clock, TokioClock};
use safeguarding_bot::escalation::Escalation;
use safeguarding_bot::store::{Key, Store, Tree, SCHEMA_VERSION};

const FIXTURE: &str = "tests/data/store-b8425c1";

/// The fixture unpacked into a temporary folder.
struct Fixture {
    tmp: TempDir,
    /// The data directory: `store/` and the key file `key`.
    data: PathBuf,
    /// What release b8425c1 read back from its store.
    expected: Value,
    /// The in-memory chat as it left it.
    chat: Value,
}

fn read_json(name: &str) -> Value {
    let path = common::repo_path(&format!("{FIXTURE}/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("the fixture's JSON reads")
}

fn unpack() -> Fixture {
    let tmp = TempDir::new().expect("tempdir");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(common::repo_path(&format!("{FIXTURE}/data.tar.gz")))
        .arg("-C")
        .arg(tmp.path())
        .status()
        .expect("tar runs");
    assert!(status.success(), "the fixture unpacks");
    Fixture {
        data: tmp.path().join("data"),
        tmp,
        expected: read_json("expected.json"),
        chat: read_json("chat.json"),
    }
}

fn open(data: &Path) -> Store {
    let key = Key::load_or_create(&data.join("key")).expect("the fixture's key loads");
    Store::open(&data.join("store"), key).expect("the old data directory opens")
}

fn to_value(x: &impl Serialize) -> Value {
    serde_json::to_value(x).expect("serialises")
}

/// `new` holds everything `old` held, unchanged; anything `new` has beyond
/// it is a field added since, at its empty default.
fn assert_kept(old: &Value, new: &Value, at: &str) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, ov) in o {
                let nv = n
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} was lost: it was {ov}"));
                assert_kept(ov, nv, &format!("{at}.{k}"));
            }
            for (k, nv) in n.iter().filter(|(k, _)| !o.contains_key(*k)) {
                let empty = match nv {
                    Value::Null | Value::Bool(false) => true,
                    Value::Array(a) => a.is_empty(),
                    Value::Object(m) => m.is_empty(),
                    _ => false,
                };
                assert!(empty, "{at}.{k} is {nv}, but the old data had no such thing");
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            assert_eq!(o.len(), n.len(), "{at}: {} items then, {} now", o.len(), n.len());
            for (i, (ov, nv)) in o.iter().zip(n).enumerate() {
                assert_kept(ov, nv, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(old, new, "{at} changed"),
    }
}

/// Items of `tree` as this build reads them, as `[{key, value}]` in key order.
fn items<T: serde::de::DeserializeOwned + Serialize>(store: &Store, tree: Tree) -> Value {
    let mut all = store.items::<T>(tree).expect("the items read");
    all.sort_by(|a, b| a.0.cmp(&b.0));
    keyed(all)
}

fn keyed<T: Serialize>(all: Vec<(String, T)>) -> Value {
    Value::Array(
        all.into_iter()
            .map(|(k, v)| serde_json::json!({"key": k, "value": to_value(&v)}))
            .collect(),
    )
}

fn text<'a>(v: &'a Value, at: &str) -> &'a str {
    v.pointer(at)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("the fixture has {at}"))
}

/// Every record of the old store, read through this build's types, holds
/// what the old release read; the audit log verifies; the schema version
/// is this build's.
#[test]
fn every_record_of_the_last_release_is_read_as_it_was() {
    let f = unpack();
    let e = &f.expected;
    let store = open(&f.data);

    let concerns = store.list_concerns().expect("the concerns read");
    assert_eq!(concerns.len(), 3, "SG-0001, SG-0002 and SG-0004");
    assert_kept(&e["concerns"], &to_value(&concerns), "concerns");
    // Who reported each, as the old escalations say.
    for c in &concerns {
        let esc: Escalation = store
            .get_item(Tree::Escalations, &c.reference.to_string())
            .expect("reads")
            .expect("each concern has its escalation");
        assert_eq!(esc.reporter, c.reporter, "{}", c.reference);
    }

    let mut conversations = store
        .conversations::<Conversation>()
        .expect("the conversations read");
    conversations.sort_by(|a, b| a.0.cmp(&b.0));
    assert_kept(&e["conversations"], &keyed(conversations), "conversations");
    let mut in_progress = safeguarding_bot::intake::reporters_in_progress(&store).expect("reads");
    in_progress.sort();
    assert_eq!(
        in_progress,
        ["@staff2:test", "@staff3:test"],
        "the reports in progress"
    );

    let escalations = items::<Escalation>(&store, Tree::Escalations);
    assert_kept(&e["escalations"], &escalations, "escalations");
    let deadlines: BTreeMap<String, Option<DateTime<Utc>>> = store
        .items::<Escalation>(Tree::Escalations)
        .expect("reads")
        .into_iter()
        .map(|(k, esc)| (k, esc.deadline))
        .collect();
    let made_at: DateTime<Utc> = text(e, "/made_at").parse().expect("a time");
    assert_eq!(deadlines["SG-0001"], None, "acknowledged: no deadline");
    for (reference, minutes) in [("SG-0002", 10), ("SG-0004", 30)] {
        let due = deadlines[reference].unwrap_or_else(|| panic!("{reference}'s deadline is kept"));
        let ahead = due - made_at;
        assert!(
            ahead > chrono::Duration::minutes(minutes - 1) && ahead <= chrono::Duration::minutes(minutes),
            "{reference} was due {minutes} minutes after its page: {ahead}"
        );
    }

    assert_kept(
        &e["private_rooms"],
        &items::<String>(&store, Tree::PrivateRooms),
        "private rooms",
    );
    assert_kept(&e["rooms"], &items::<String>(&store, Tree::Rooms), "rooms");
    assert_kept(
        &e["settings"],
        &items::<Vec<PostedCopy>>(&store, Tree::Settings),
        "settings",
    );
    let casefiles = items::<Casefile>(&store, Tree::Casefiles);
    assert_kept(&e["casefiles"], &casefiles, "casefiles");
    let kinds: Vec<&str> = casefiles[0]["value"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|x| x["kind"]["type"].as_str().expect("a kind"))
        .collect();
    assert_eq!(kinds, ["note", "action", "decision", "status", "closed"]);

    let outbox: Vec<Value> = store
        .outbox_pending::<Effect>()
        .expect("the outbox reads")
        .into_iter()
        .map(|p| serde_json::json!({"seq": p.seq, "key": p.key, "effect": to_value(&p.effect)}))
        .collect();
    assert_eq!(
        outbox.len(),
        3,
        "the page, the record and the reporter's reference"
    );
    assert_kept(&e["outbox"], &Value::Array(outbox), "outbox");

    let inbox = store
        .inbox_pending::<safeguarding_bot::bot::Inbound>()
        .expect("the inbox reads");
    assert_kept(&e["inbox_pending"], &to_value(&inbox), "inbox");

    assert_eq!(store.verify_audit(), Ok(()), "the audit log verifies");
    let audit = store.audit_entries().expect("the audit log reads");
    assert_kept(&e["audit"], &to_value(&audit), "audit");
    drop(store);

    // Stamped with this build's version, and the version is where the
    // store keeps it, in clear.
    let db = common::raw_sled(&f.data.join("store"));
    let version = db.open_tree("meta").unwrap().get("schema_version").unwrap();
    assert_eq!(
        version.as_deref(),
        Some(SCHEMA_VERSION.to_string().as_bytes()),
        "the schema version this build writes"
    );
    drop(db);
    drop(f.tmp);
}

/// The chat as the old release left it, to run this one on.
fn chat_as_left(f: &Fixture) -> Arc<MemChat> {
    let chat = MemChat::new();
    for (id, n) in NAMES {
        chat.set_name(id, n);
    }
    for room in f.chat["rooms"].as_array().expect("rooms") {
        let members = room["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| Member {
                user: m["user"].as_str().expect("user").to_string(),
                joined: m["joined"].as_bool().expect("joined"),
            })
            .collect();
        let spec = room["spec"].as_object().map(|s| RoomSpec {
            key: s["key"].as_str().expect("key").to_string(),
            name: s["name"].as_str().expect("name").to_string(),
            invite: serde_json::from_value(s["invite"].clone()).expect("invite"),
            direct: s["direct"].as_bool().expect("direct"),
        });
        let posted = room["posted"]
            .as_array()
            .expect("posted")
            .iter()
            .map(|p| {
                assert_eq!(p["file"], Value::Bool(false), "the fixture uploaded no file");
                Posted {
                    id: p["id"].as_str().expect("id").to_string(),
                    key: p["key"].as_str().expect("key").to_string(),
                    message: serde_json::from_value::<Message>(p["message"].clone())
                        .expect("an old message reads"),
                    file: None,
                    redacted: p["redacted"].as_bool().expect("redacted"),
                    shown_to: Vec::new(),
                }
            })
            .collect();
        chat.restore_room(Room {
            id: room["id"].as_str().expect("id").to_string(),
            name: room["name"].as_str().expect("name").to_string(),
            members,
            confidential: room["confidential"].as_bool().expect("confidential"),
            spec,
            posted,
        });
    }
    chat
}

/// The first event id past every one the old chat handed over (`$evN:test`),
/// wherever the old data names one: send keys, the outbox, casefiles.
fn first_new_event(values: &[&Value]) -> u64 {
    fn scan(v: &Value, highest: &mut u64) {
        match v {
            Value::String(s) => {
                for (i, _) in s.match_indices("$ev") {
                    let digits: String = s[i + 3..].chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(n) = digits.parse::<u64>() {
                        *highest = (*highest).max(n);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| scan(x, highest)),
            Value::Object(o) => o.values().for_each(|x| scan(x, highest)),
            _ => {}
        }
    }
    let mut highest = 0;
    for v in values {
        scan(v, &mut highest);
    }
    assert!(highest > 0, "the old chat's events are known");
    highest + 1
}

/// The keys of what the old release had posted, by room.
fn old_keys(chat: &Value) -> HashSet<(String, String)> {
    let mut keys = HashSet::new();
    for room in chat["rooms"].as_array().expect("rooms") {
        let id = room["id"].as_str().expect("id");
        for p in room["posted"].as_array().expect("posted") {
            keys.insert((id.to_string(), p["key"].as_str().expect("key").to_string()));
        }
    }
    keys
}

async fn pass(d: Duration) {
    let step = Duration::from_secs(1);
    let mut gone = Duration::ZERO;
    while gone < d {
        tokio::time::sleep(step).await;
        gone += step;
    }
}

fn pings_for(chat: &MemChat, room: &str, who: &str) -> usize {
    chat.messages_in(room)
        .iter()
        .filter(|m| matches!(&m.kind, safeguarding_bot::bot::Kind::Ping(p) if p.iter().any(|u| u == who)))
        .count()
}

/// The bot runs on the old data, from the moment the old one stopped:
/// what was waiting is delivered once, the deadlines fire on time, the
/// reporters carry on, the leads' casework is all there, and nothing
/// already sent is sent again.
#[tokio::test(start_paused = true)]
async fn the_bot_carries_on_from_where_the_last_release_stopped() {
    common::logs::init_log_capture();
    let f = unpack();
    let e = f.expected.clone();
    let made_at: DateTime<Utc> = text(&e, "/made_at").parse().expect("a time");
    let extra = text(&e, "/safeguarding_extra").to_string();
    let r1 = text(&e, "/concern_rooms/SG-0001").to_string();
    let r2 = text(&e, "/concern_rooms/SG-0002").to_string();
    let staff = text(&e, "/private_chats/@staff:test").to_string();
    let staff2 = text(&e, "/private_chats/@staff2:test").to_string();
    let staff3 = text(&e, "/private_chats/@staff3:test").to_string();
    let chat = chat_as_left(&f);
    let before = old_keys(&f.chat);
    let r1_before = chat.messages_in(&r1).len();
    let data = f.data.clone();
    let first_event = first_new_event(&[&f.chat, &f.expected]);
    let clock = Arc::new(TokioClock::starting_at(made_at));
    // When the old release said each concern was due.
    let due = |reference: &str| -> DateTime<Utc> {
        let esc = e["escalations"]
            .as_array()
            .expect("escalations")
            .iter()
            .find(|x| x["key"] == reference)
            .unwrap_or_else(|| panic!("{reference} has an escalation"));
        text(esc, "/value/deadline").parse().expect("a deadline")
    };
    // Until a minute before `at`, by the bot's clock.
    let until = |at: DateTime<Utc>| {
        let now = clock.now();
        assert!(now < at, "{at} has passed already (it is {now})");
        (at - now).to_std().expect("ahead")
    };
    let page_key = e["outbox"]
        .as_array()
        .expect("outbox")
        .iter()
        .find(|o| o["effect"]["Send"]["message"]["kind"].get("Ping").is_some())
        .and_then(|o| o["key"].as_str())
        .expect("the page is in the old outbox")
        .to_string();
    let mut w = World::on_data(chat.clone(), f.tmp, &data, &extra, clock.clone(), first_event).await;

    // SG-0004's page, record and the reporter's reference, waiting when
    // the old release stopped, arrive.
    let r4 = w
        .store()
        .get_item::<String>(Tree::Rooms, "concern:SG-0004")
        .expect("reads")
        .expect("SG-0004's room was made by the old release");
    assert!(
        chat.messages_in(&r4).is_empty(),
        "nothing reached SG-0004's room before"
    );
    let page = chat.wait_for(&r4, is_ping, PATIENCE).await;
    assert!(
        page.plain.contains("SG-0004") && page.plain.contains("!ack"),
        "{}",
        page.plain
    );
    chat.wait_for(&r4, |m| m.plain.contains("cobalt-moth-6603"), PATIENCE)
        .await;
    let told = chat.wait_for_text(&staff, "recorded as SG-0004").await;
    assert!(told.plain.contains("Lead for Safeguarding"), "{}", told.plain);
    w.wait_outbox_empty().await;

    // The reporters in the middle of their questions carry on.
    assert!(
        chat.messages_in(&staff2)
            .last()
            .is_some_and(|m| m.plain.contains("their own words")),
        "the old release had asked for their own words"
    );
    let since = chat.messages_in(&staff2).len();
    w.say(&staff2, "@staff2:test", "skip");
    chat.wait_for_new(
        &staff2,
        since,
        |m| m.plain.contains("When did it happen"),
        PATIENCE,
    )
    .await;
    assert!(
        chat.messages_in(&staff3)
            .last()
            .is_some_and(|m| m.plain.contains("communicating with a child")),
        "the old release had asked about communicating with a child"
    );
    let since = chat.messages_in(&staff3).len();
    w.say(&staff3, "@staff3:test", "3");
    chat.wait_for_new(&staff3, since, |m| m.plain.contains("known person"), PATIENCE)
        .await;
    let conv: Conversation = w
        .store()
        .get_conversation("reporter:@staff2:test")
        .expect("reads")
        .expect("kept");
    assert_eq!(
        conv.fields.get("what_seen").cloned().flatten().as_deref(),
        Some("A man was at the door, russet-vole-8127"),
        "the answer given to the old release is still there"
    );

    // The urgent SG-0002 was due 10 minutes after its page: not before.
    pass(until(due("SG-0002")) - Duration::from_secs(60)).await;
    for d in [DEPUTY, DEPUTY2] {
        assert_eq!(pings_for(&chat, &r2, d), 0, "{d} paged early\n{}", chat.dump());
    }
    assert_eq!(
        pings_for(&chat, &r2, LEAD),
        1,
        "SG-0002's page was not repeated on starting"
    );
    pass(Duration::from_secs(2 * 60)).await;
    assert!(
        pings_for(&chat, &r2, DEPUTY) + pings_for(&chat, &r2, DEPUTY2) >= 1,
        "a deputy is paged for SG-0002 once the lead's time is up\n{}",
        chat.dump()
    );
    assert_eq!(pings_for(&chat, &r4, DEPUTY), 0, "SG-0004 is not due yet");

    // A deputy acknowledges SG-0002; its reporter is told.
    let deputy = [DEPUTY, DEPUTY2]
        .into_iter()
        .find(|d| pings_for(&chat, &r2, d) >= 1)
        .expect("a deputy was paged");
    chat.join(deputy, &r2);
    w.say(&r2, deputy, "!ack");
    chat.wait_for_text(&r2, "acknowledged by").await;
    chat.wait_for_text(&staff2, "has been acknowledged by").await;

    // SG-0004 was due 30 minutes after its page.
    pass(until(due("SG-0004")) - Duration::from_secs(60)).await;
    for d in [DEPUTY, DEPUTY2] {
        assert_eq!(
            pings_for(&chat, &r4, d),
            0,
            "{d} paged early for SG-0004\n{}",
            chat.dump()
        );
    }
    pass(Duration::from_secs(2 * 60)).await;
    assert!(
        pings_for(&chat, &r4, DEPUTY) + pings_for(&chat, &r4, DEPUTY2) >= 1,
        "a deputy is paged for SG-0004 on time\n{}",
        chat.dump()
    );
    w.wait_outbox_empty().await;

    // SG-0001's casework is all there, and it was never paged again.
    assert_eq!(
        chat.messages_in(&r1).len(),
        r1_before,
        "nothing new about SG-0001"
    );
    let since = chat.messages_in(&r1).len();
    w.say(&r1, LEAD, "!show SG-0001");
    let shown = chat
        .wait_for_new(&r1, since, |m| m.plain.contains("teal-wren-2231"), PATIENCE)
        .await;
    for part in [
        "Reported the account to the platform, ref PL-77",
        "refer to the police",
        "the adult asked for pictures",
        "Advice or support given",
    ] {
        assert!(
            shown.plain.contains(part),
            "{part} is missing from:\n{}",
            shown.plain
        );
    }
    w.wait_outbox_empty().await;

    // Nothing the old release had sent was sent again, and nothing twice.
    let posted = chat.room(&r4).expect("SG-0004's room").posted;
    assert_eq!(
        posted.iter().filter(|p| p.key == page_key).count(),
        1,
        "the page that was waiting is delivered once"
    );
    assert!(posted.first().is_some_and(|p| p.key == page_key), "and first");
    assert_eq!(
        chat.sends_with_key(&page_key),
        1,
        "tried once, as the chat was up"
    );
    // One record as sent; each deputy let in later has it again, for them.
    let records: Vec<_> = chat
        .texts_in(&r4)
        .into_iter()
        .filter(|t| t.contains("cobalt-moth-6603") && !t.contains("who has just been invited"))
        .collect();
    assert_eq!(records.len(), 1, "one record\n{}", chat.dump());
    assert_eq!(chat.count_in(&staff, "recorded as SG-0004"), 1);
    for call in chat.calls() {
        if call.op != Op::Send || call.result.is_err() {
            continue;
        }
        let (room, key) = (
            call.room.clone().unwrap_or_default(),
            call.key.clone().unwrap_or_default(),
        );
        assert!(
            !before.contains(&(room.clone(), key.clone())),
            "{key} in {room} was sent by the old release and again by this one\n{}",
            chat.dump()
        );
    }
    chat.assert_no_resends();
    w.assert_nothing_lost();

    // The audit log still verifies, by the command line, after all this.
    w.stop().await;
    let config = data.parent().expect("a parent").join("bot.toml");
    std::fs::write(
        &config,
        format!(
            "[matrix]\nhomeserver_url = \"http://127.0.0.1:1\"\nuser_id = \"@bot:test\"\nstaff_rooms = [\"!staff:test\"]\n\n[safeguarding]\norganisation = \"Test Charity\"\nlead = \"{LEAD}\"\nretention = \"6 years\"\n\n[storage]\ndata_dir = \"{}\"\n\n[flow]\nfile = \"{}\"\n",
            data.display(),
            common::repo_path(common::CLAPA).display()
        ),
    )
    .expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_safeguarding-bot"))
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .env_remove("SAFEGUARDING_BOT_CONFIG")
        .env_remove("SAFEGUARDING_BOT_KEY")
        .output()
        .expect("the binary runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("The audit log is intact"), "{said}");
    let old_entries = e["audit"].as_array().expect("audit").len();
    let store = open(&data);
    let audit = store.audit_entries().expect("reads");
    assert!(
        audit.len() > old_entries,
        "the new run's decisions are audited too"
    );
    assert_kept(&e["audit"], &to_value(&audit[..old_entries].to_vec()), "audit");
    assert!(
        audit.iter().all(|a| a.action != "data directory upgraded"),
        "nothing to migrate from version {SCHEMA_VERSION}"
    );
    drop(w);
}
