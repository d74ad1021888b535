//! The store on real files: what survives a restart, what is refused, and
//! that nothing a reporter said can be found by searching the data directory.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use safeguarding_bot::concern::{ConcernRecord, Decision, FieldAnswer, Reference, RouteTaken, Status};
use safeguarding_bot::store::{Key, Store, StoreError, Tree};

const REPORTER: &str = "@reporter-zx81:example.org";

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 9, minute, 0).unwrap()
}

fn record(number: u64, words: &str) -> ConcernRecord {
    ConcernRecord {
        reference: Reference::new(number),
        status: Status::Submitted,
        reporter: REPORTER.to_string(),
        flow_id: "online-safety".to_string(),
        flow_version: "3".to_string(),
        flow_digest: "ab".repeat(32),
        started_at: at(1),
        recorded_at: at(7),
        decisions: vec![Decision {
            question_id: "danger".to_string(),
            question: "Is anyone in immediate danger?".to_string(),
            answer: "No".to_string(),
        }],
        route: Some(RouteTaken {
            outcome_id: "dsl".to_string(),
            title: "Refer to the DSL".to_string(),
            agency: "Designated Safeguarding Lead".to_string(),
            contact: "dsl@example.org".to_string(),
            guidance: "Do not investigate yourself.".to_string(),
            note_afterwards: "Write down what you saw.".to_string(),
            urgent: false,
        }),
        fields: vec![
            FieldAnswer {
                field_id: "what".to_string(),
                label: "What happened".to_string(),
                value: Some(words.to_string()),
                verbatim: true,
            },
            FieldAnswer {
                field_id: "where".to_string(),
                label: "Where".to_string(),
                value: None,
                verbatim: false,
            },
        ],
        urgent: false,
    }
}

/// A data directory with its key file inside it, as the config defaults to.
struct Setup {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    key_file: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let key_file = data.join("key");
    Setup {
        _tmp: tmp,
        data,
        key_file,
    }
}

impl Setup {
    fn open(&self) -> Store {
        let key = Key::load_or_create(&self.key_file).unwrap();
        Store::open(&self.data, key).unwrap()
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct ConversationState {
    question: String,
    answers: Vec<String>,
}

#[test]
fn a_concern_survives_a_restart_intact() {
    let s = setup();
    let r = record(1, "they were sent messages at night");
    {
        let store = s.open();
        store.put_concern(&r).unwrap();
        let mut r2 = record(2, "second");
        r2.status = Status::Withdrawn;
        store.put_concern(&r2).unwrap();
    }
    let store = s.open();
    assert_eq!(store.get_concern(&Reference::new(1)).unwrap(), Some(r.clone()));
    assert_eq!(store.get_concern(&Reference::new(3)).unwrap(), None);
    let all = store.list_concerns().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], r);
    assert_eq!(all[1].status, Status::Withdrawn);

    // A later save replaces the earlier one.
    let mut updated = r.clone();
    updated.status = Status::Incomplete;
    store.put_concern(&updated).unwrap();
    assert_eq!(store.get_concern(&Reference::new(1)).unwrap(), Some(updated));
}

#[test]
fn concerns_are_listed_in_reference_order() {
    let s = setup();
    let store = s.open();
    for n in [300u64, 2, 256, 1, 10] {
        store.put_concern(&record(n, "x")).unwrap();
    }
    let numbers: Vec<u64> = store
        .list_concerns()
        .unwrap()
        .iter()
        .map(|r| r.reference.number())
        .collect();
    assert_eq!(numbers, vec![1, 2, 10, 256, 300]);
}

#[test]
fn references_count_up_and_carry_on_after_a_restart() {
    let s = setup();
    {
        let store = s.open();
        assert_eq!(store.next_reference().unwrap().to_string(), "SG-0001");
        assert_eq!(store.next_reference().unwrap().to_string(), "SG-0002");
    }
    let store = s.open();
    assert_eq!(store.next_reference().unwrap().to_string(), "SG-0003");
}

#[test]
fn references_are_never_handed_out_twice_under_contention() {
    let s = setup();
    let store = s.open();
    let mut all: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..10)
                        .map(|_| store.next_reference().unwrap().number())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    all.sort_unstable();
    assert_eq!(all, (1..=40).collect::<Vec<_>>());
}

#[test]
fn a_conversation_survives_a_restart_and_can_be_removed() {
    let s = setup();
    let state = ConversationState {
        question: "where".to_string(),
        answers: vec!["yes".to_string(), "on a game chat".to_string()],
    };
    let key = format!("reporter:{REPORTER}");
    {
        let store = s.open();
        store.put_conversation(&key, &state).unwrap();
        store
            .put_conversation("reporter:@other:example.org", &state)
            .unwrap();
    }
    let store = s.open();
    assert_eq!(
        store.get_conversation::<ConversationState>(&key).unwrap(),
        Some(state)
    );
    assert_eq!(
        store.conversation_keys().unwrap(),
        vec!["reporter:@other:example.org".to_string(), key.clone()]
    );
    store.remove_conversation(&key).unwrap();
    assert_eq!(store.get_conversation::<ConversationState>(&key).unwrap(), None);
    drop(store);
    let store = s.open();
    assert_eq!(
        store.conversation_keys().unwrap(),
        vec!["reporter:@other:example.org".to_string()]
    );
}

#[test]
fn a_different_key_is_refused_with_a_clear_message() {
    let s = setup();
    drop(s.open());
    let other = Key::generate().unwrap();
    let err = Store::open(&s.data, other).unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("the key file does not match this data directory"),
        "{msg}"
    );
    assert!(msg.contains(&s.data.display().to_string()), "{msg}");

    // The right key still opens it: a refusal changes nothing.
    drop(s.open());
}

#[test]
fn a_newer_schema_version_is_refused() {
    let s = setup();
    drop(s.open());
    {
        let db = common::raw_sled(&s.data);
        let meta = db.open_tree("meta").unwrap();
        assert_eq!(meta.get("schema_version").unwrap().as_deref(), Some(&b"1"[..]));
        meta.insert("schema_version", "2").unwrap();
        db.flush().unwrap();
    }
    let key = Key::load_or_create(&s.key_file).unwrap();
    let err = Store::open(&s.data, key).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("schema version 2"), "{msg}");
    assert!(msg.contains("newer safeguarding-bot"), "{msg}");
    assert!(msg.contains("upgrade"), "{msg}");
}

#[test]
fn the_key_file_is_created_private_and_a_shared_one_is_refused() {
    let s = setup();
    let k1 = Key::load_or_create(&s.key_file).unwrap();
    let mode = fs::metadata(&s.key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&s.key_file).unwrap();
    assert_eq!(text.trim().len(), 64);
    assert!(text.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!format!("{k1:?}").contains(text.trim()));

    fs::set_permissions(&s.key_file, fs::Permissions::from_mode(0o644)).unwrap();
    let err = Key::load_or_create(&s.key_file).unwrap_err();
    assert!(
        matches!(err, StoreError::KeyFilePermissions { mode: 0o644, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("chmod 600 {}", s.key_file.display())),
        "{msg}"
    );
    assert!(!msg.contains(text.trim()), "{msg}");

    // After the fix it loads, and it is the same key.
    fs::set_permissions(&s.key_file, fs::Permissions::from_mode(0o600)).unwrap();
    let store = Store::open(&s.data, k1).unwrap();
    store.put_concern(&record(1, "x")).unwrap();
    drop(store);
    drop(s.open());
}

#[test]
fn a_malformed_key_file_is_refused_without_quoting_it() {
    let s = setup();
    fs::create_dir_all(&s.data).unwrap();
    fs::write(&s.key_file, "not-a-key-at-all\n").unwrap();
    fs::set_permissions(&s.key_file, fs::Permissions::from_mode(0o600)).unwrap();
    let err = Key::load_or_create(&s.key_file).unwrap_err();
    assert!(matches!(err, StoreError::KeyFileFormat { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&s.key_file.display().to_string()), "{msg}");
    assert!(msg.contains("64 hex characters"), "{msg}");
    assert!(!msg.contains("not-a-key"), "{msg}");
}

#[test]
fn a_key_from_the_environment_variable_opens_the_same_store() {
    let s = setup();
    drop(s.open());
    let hex = fs::read_to_string(&s.key_file).unwrap();
    let key = Key::from_hex(&format!("  {}  ", hex.trim())).unwrap();
    let store = Store::open(&s.data, key).unwrap();
    drop(store);
    let err = Key::from_hex("1234").unwrap_err().to_string();
    assert!(err.contains("SAFEGUARDING_BOT_KEY"), "{err}");
}

/// Every file under `dir`, as bytes.
fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let bytes = fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn nothing_a_reporter_said_can_be_found_in_the_data_directory() {
    const CONCERN_PHRASE: &str = "purple-giraffe-4417";
    const STATE_PHRASE: &str = "orange-walrus-9021";
    const EVENT_PHRASE: &str = "teal-heron-5530";
    const IDENTITY: &str = "reporter-zx81";

    // Control: sled on its own does keep values as plain bytes, so the
    // search below would find a phrase if the store did not encrypt it.
    {
        let tmp = tempfile::tempdir().unwrap();
        let db = sled::open(tmp.path()).unwrap();
        db.insert("k", CONCERN_PHRASE).unwrap();
        db.flush().unwrap();
        drop(db);
        assert!(
            all_files(tmp.path())
                .iter()
                .any(|(_, b)| contains(b, CONCERN_PHRASE)),
            "the control should find the phrase in plain sled files"
        );
    }

    let s = setup();
    let conversation_key = format!("reporter:{REPORTER}");
    {
        let store = s.open();
        let reference = store.next_reference().unwrap();
        let mut r = record(reference.number(), &format!("he said {CONCERN_PHRASE} to them"));
        r.decisions[0].answer = format!("Yes, {CONCERN_PHRASE}");
        store.put_concern(&r).unwrap();
        store
            .put_conversation(
                &conversation_key,
                &ConversationState {
                    question: "what".to_string(),
                    answers: vec![format!("they sent {STATE_PHRASE}")],
                },
            )
            .unwrap();
        store
            .audit(
                at(9),
                REPORTER,
                "concern_saved",
                Some(&reference),
                "status submitted",
            )
            .unwrap();
        store
            .put_item(Tree::PrivateRooms, REPORTER, &"!room:example.org")
            .unwrap();
        store
            .inbox_push("$event1", &format!("{REPORTER} said {EVENT_PHRASE}"))
            .unwrap();
        store.flush().unwrap();
    }

    let files = all_files(&s.data);
    assert!(files.len() > 1, "the data directory should hold sled's files");
    for (path, bytes) in &files {
        for phrase in [CONCERN_PHRASE, STATE_PHRASE, EVENT_PHRASE, IDENTITY] {
            assert!(
                !contains(bytes, phrase),
                "{} holds `{phrase}` in plain text",
                path.display()
            );
        }
    }

    // And it is all still there for whoever has the key.
    let store = s.open();
    let r = store.get_concern(&Reference::new(1)).unwrap().unwrap();
    assert!(r.to_text().contains(CONCERN_PHRASE));
    assert_eq!(r.reporter, REPORTER);
    let c: ConversationState = store.get_conversation(&conversation_key).unwrap().unwrap();
    assert!(c.answers[0].contains(STATE_PHRASE));
    assert_eq!(store.audit_entries().unwrap()[0].actor, REPORTER);
    assert_eq!(store.inbox_pending::<String>().unwrap().len(), 1);
}

#[test]
fn the_audit_log_appends_in_order_and_verifies() {
    let s = setup();
    {
        let store = s.open();
        assert_eq!(store.verify_audit(), Ok(()));
        let a = store
            .audit(at(1), "bot", "reference_issued", Some(&Reference::new(1)), "")
            .unwrap();
        let b = store
            .audit(
                at(2),
                REPORTER,
                "concern_saved",
                Some(&Reference::new(1)),
                "status submitted",
            )
            .unwrap();
        let c = store.audit(at(3), "cli", "export", None, "all concerns").unwrap();
        assert_eq!((a.seq, b.seq, c.seq), (1, 2, 3));
        assert_eq!(a.prev_hash, safeguarding_bot::store::GENESIS_HASH);
        assert_eq!(b.prev_hash, a.hash);
        assert_eq!(c.prev_hash, b.hash);
        assert_eq!(store.audit_entries().unwrap(), vec![a, b, c]);
        assert_eq!(store.verify_audit(), Ok(()));
    }
    let store = s.open();
    let d = store.audit(at(4), "bot", "paged", None, "").unwrap();
    assert_eq!(d.seq, 4);
    assert_eq!(store.audit_entries().unwrap().len(), 4);
    assert_eq!(store.verify_audit(), Ok(()));
}

fn three_audit_entries(s: &Setup) {
    let store = s.open();
    for (i, action) in ["one", "two", "three"].into_iter().enumerate() {
        store.audit(at(i as u32), "bot", action, None, "").unwrap();
    }
    assert_eq!(store.verify_audit(), Ok(()));
}

#[test]
fn an_altered_audit_entry_is_named() {
    let s = setup();
    three_audit_entries(&s);
    {
        let db = common::raw_sled(&s.data);
        let audit = db.open_tree("audit_seq_entry").unwrap();
        let key = 2u64.to_be_bytes();
        let mut bytes = audit.get(key).unwrap().unwrap().to_vec();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        audit.insert(key, bytes).unwrap();
        db.flush().unwrap();
    }
    let store = s.open();
    let brk = store.verify_audit().unwrap_err();
    assert_eq!(brk.seq, 2, "{brk}");
    assert!(brk.to_string().contains("entry 2"), "{brk}");
    assert!(brk.reason.contains("altered"), "{brk}");
}

#[test]
fn a_removed_audit_entry_is_named() {
    let s = setup();
    three_audit_entries(&s);
    {
        let db = common::raw_sled(&s.data);
        db.open_tree("audit_seq_entry")
            .unwrap()
            .remove(2u64.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let store = s.open();
    let brk = store.verify_audit().unwrap_err();
    assert_eq!(brk.seq, 2, "{brk}");
    assert!(brk.reason.contains("missing"), "{brk}");
}

#[test]
fn audit_entries_swapped_between_places_are_caught() {
    let s = setup();
    three_audit_entries(&s);
    {
        let db = common::raw_sled(&s.data);
        let audit = db.open_tree("audit_seq_entry").unwrap();
        let two = audit.get(2u64.to_be_bytes()).unwrap().unwrap();
        let three = audit.get(3u64.to_be_bytes()).unwrap().unwrap();
        audit.insert(2u64.to_be_bytes(), three).unwrap();
        audit.insert(3u64.to_be_bytes(), two).unwrap();
        db.flush().unwrap();
    }
    let store = s.open();
    assert_eq!(store.verify_audit().unwrap_err().seq, 2);
}

#[test]
fn the_inbox_keeps_events_until_done_and_never_twice() {
    let s = setup();
    {
        let store = s.open();
        assert!(store.inbox_push("$1", &"first").unwrap());
        assert!(store.inbox_push("$2", &"second").unwrap());
        assert!(!store.inbox_push("$1", &"first again").unwrap());
        assert_eq!(store.inbox_pending::<String>().unwrap(), vec!["first", "second"]);
    }
    let store = s.open();
    assert_eq!(store.inbox_pending::<String>().unwrap(), vec!["first", "second"]);
    store.inbox_done("$1").unwrap();
    assert_eq!(store.inbox_pending::<String>().unwrap(), vec!["second"]);
    assert!(
        !store.inbox_push("$1", &"replayed").unwrap(),
        "a handled event is not taken again"
    );
    assert!(store.inbox_push("$3", &"third").unwrap());
    assert_eq!(store.inbox_pending::<String>().unwrap(), vec!["second", "third"]);
}

#[test]
fn handled_events_are_forgotten_after_long_enough_and_pending_ones_never() {
    let s = setup();
    let store = s.open();
    assert!(store.inbox_push("$old", &"handled").unwrap());
    assert!(store.inbox_push("$waiting", &"not handled").unwrap());
    store.inbox_done("$old").unwrap();
    // Handled just now: not before an hour ago.
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    assert_eq!(store.inbox_forget_done(hour_ago).unwrap(), 0);
    assert!(store.inbox_known("$old").unwrap());
    // Everything handled before a minute from now is forgotten; the event
    // still waiting is kept, and still refused if pushed again.
    let soon = Utc::now() + chrono::Duration::minutes(1);
    assert_eq!(store.inbox_forget_done(soon).unwrap(), 1);
    assert!(!store.inbox_known("$old").unwrap());
    assert_eq!(store.inbox_pending::<String>().unwrap(), vec!["not handled"]);
    assert!(!store.inbox_push("$waiting", &"again").unwrap());
    drop(store);
    let store = s.open();
    assert!(!store.inbox_known("$old").unwrap(), "forgotten on disk");
}

/// The outbox remembers each effect it sent, so a cause handled again
/// sends nothing twice; a mark is forgotten only once its cause can no
/// longer come again: after the inbox forgot the event (never while the
/// event is remembered, or waits to be handled again after a crash).
#[test]
fn sent_marks_are_forgotten_only_after_the_inbox_forgot_their_event() {
    use safeguarding_bot::store::Batch;
    let s = setup();
    let store = s.open();
    let stage = |key: &str| {
        let mut batch = Batch::new();
        store.stage_effect(&mut batch, key, &"a message").unwrap();
        store.commit(batch).unwrap();
    };
    let send_all = || {
        for p in store.outbox_pending::<String>().unwrap() {
            store.outbox_done(p.seq, &p.key, Batch::new()).unwrap();
        }
    };
    // Three events handled, each sending something: a Matrix event, a
    // Slack message (whose id holds a "/") sent in parts, and one still
    // waiting in the inbox (the bot stopped before it was marked handled).
    for (event, key) in [
        ("$note:test", "$note:test/reply"),
        (
            "slack:C0LEADS/1700000000.000100",
            "slack:C0LEADS/1700000000.000100/out0#2",
        ),
        ("$waiting:test", "$waiting:test/reply"),
    ] {
        assert!(store.inbox_push(event, &"an event").unwrap());
        stage(key);
    }
    // And one whose cause is not an event.
    stage("unfinished:SG-0001/out0");
    send_all();
    store.inbox_done("$note:test").unwrap();
    store.inbox_done("slack:C0LEADS/1700000000.000100").unwrap();
    let soon = Utc::now() + chrono::Duration::minutes(1);

    // While the inbox remembers the events, their marks stay.
    assert_eq!(
        store.outbox_forget_sent(soon).unwrap(),
        1,
        "only the one with no event"
    );
    stage("$note:test/reply");
    stage("slack:C0LEADS/1700000000.000100/out0#2");
    assert_eq!(
        store.outbox_len(),
        0,
        "a replay of a remembered event sends nothing"
    );

    // Marks newer than the cut-off stay, whatever the inbox says.
    assert_eq!(store.inbox_forget_done(soon).unwrap(), 2);
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    assert_eq!(store.outbox_forget_sent(hour_ago).unwrap(), 0);

    // The inbox forgot the two handled events: their marks go. The event
    // still waiting keeps its mark, so handling it again sends nothing.
    assert_eq!(store.outbox_forget_sent(soon).unwrap(), 2);
    stage("$waiting:test/reply");
    assert_eq!(
        store.outbox_len(),
        0,
        "the waiting event's effect is not sent twice"
    );
    drop(store);
    let store = s.open();
    let mut batch = Batch::new();
    store
        .stage_effect(&mut batch, "$note:test/reply", &"a message")
        .unwrap();
    store.commit(batch).unwrap();
    assert_eq!(store.outbox_len(), 1, "the forgotten mark is gone on disk");
}

#[test]
fn items_are_kept_per_tree_and_survive_a_restart() {
    let s = setup();
    {
        let store = s.open();
        store.put_item(Tree::Escalations, "SG-0002", &vec![2u8]).unwrap();
        store.put_item(Tree::Escalations, "SG-0001", &vec![1u8]).unwrap();
        store
            .put_item(Tree::PrivateRooms, REPORTER, &"!room:example.org")
            .unwrap();
    }
    let store = s.open();
    assert_eq!(
        store.items::<Vec<u8>>(Tree::Escalations).unwrap(),
        vec![("SG-0001".to_string(), vec![1]), ("SG-0002".to_string(), vec![2])]
    );
    assert_eq!(
        store
            .get_item::<String>(Tree::PrivateRooms, REPORTER)
            .unwrap()
            .as_deref(),
        Some("!room:example.org")
    );
    assert_eq!(
        store.get_item::<String>(Tree::Escalations, REPORTER).unwrap(),
        None
    );
    store.remove_item(Tree::Escalations, "SG-0001").unwrap();
    assert_eq!(store.items::<Vec<u8>>(Tree::Escalations).unwrap().len(), 1);
}

#[test]
fn a_derived_secret_is_stable_and_depends_on_the_label() {
    let s = setup();
    let first = s.open().derived_secret("matrix-sdk-store");
    let again = s.open().derived_secret("matrix-sdk-store");
    assert_eq!(first, again);
    assert_eq!(first.len(), 64);
    assert_ne!(first, s.open().derived_secret("something else"));
    let key_hex = fs::read_to_string(&s.key_file).unwrap();
    assert_ne!(first, key_hex.trim(), "the secret is not the key itself");
}

/// sled lets go of its lock from a background thread a moment after the
/// last handle is dropped; closing and opening again at once, over and over,
/// must still open every time (CI once failed on exactly this).
#[test]
fn a_store_closed_and_opened_again_at_once_always_opens() {
    let s = setup();
    for n in 1..=30u64 {
        let store = s.open();
        store.put_concern(&record(n, "again")).unwrap();
        assert_eq!(store.list_concerns().unwrap().len() as u64, n);
    }
}

/// A store held open elsewhere is refused after a short wait, with words
/// that say what to do.
#[test]
fn a_store_in_use_is_refused_plainly() {
    let s = setup();
    let held = s.open();
    let key = Key::load_or_create(&s.key_file).unwrap();
    let err = Store::open(&s.data, key).unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("is in use by another safeguarding-bot"), "{msg}");
    assert!(msg.contains("Stop that one first"), "{msg}");
    drop(held);
    let key = Key::load_or_create(&s.key_file).unwrap();
    Store::open(&s.data, key).expect("opens once the other has let go");
}
