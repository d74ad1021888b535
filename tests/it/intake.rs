//! Intake: the conversation joined to a real store on disk.

use crate::common;

use common::{load, t0, CLAPA};
use safeguarding_bot::concern::{Reference, Status};
use safeguarding_bot::intake::{self, Outgoing};
use safeguarding_bot::store::{Key, Store};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("store"), Key::generate().expect("key")).expect("store");
    (dir, store)
}

fn replies(out: &[Outgoing]) -> String {
    out.iter()
        .filter_map(|o| match o {
            Outgoing::Reply(t) => Some(t.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_second_report_request_resumes_the_first_instead_of_starting_again() {
    let flow = load(CLAPA);
    let (_dir, store) = store();
    let first = intake::begin(&store, &flow, "@sam:x", t0()).expect("begin");
    assert!(replies(&first).contains("Is a crime in progress"));
    intake::message(&store, &flow, "@sam:x", "no", "$e1", t0()).expect("message");
    let again = intake::begin(&store, &flow, "@sam:x", t0()).expect("begin again");
    let text = replies(&again);
    assert!(
        text.contains("already have a report in progress (SG-0001)"),
        "{text}"
    );
    assert!(
        text.contains("child sexual content"),
        "resumes at the same question: {text}"
    );
    assert_eq!(
        store.next_reference().expect("ref"),
        Reference::new(2),
        "no second reference was used"
    );
}

#[test]
fn the_same_message_handed_over_twice_is_not_a_second_answer() {
    let flow = load(CLAPA);
    let (_dir, store) = store();
    intake::begin(&store, &flow, "@sam:x", t0()).expect("begin");
    intake::message(&store, &flow, "@sam:x", "no", "$e1", t0()).expect("first");
    let replay = intake::message(&store, &flow, "@sam:x", "no", "$e1", t0())
        .expect("replay")
        .expect("some");
    assert!(
        replies(&replay).contains("child sexual content"),
        "asked the current question again"
    );
    let c = intake::current(&store, "@sam:x")
        .expect("read")
        .expect("in progress");
    assert_eq!(c.decisions.len(), 1, "the replayed answer was not taken twice");
}

#[test]
fn a_submitted_report_is_kept_on_disk_and_audited_without_its_words() {
    let flow = load(CLAPA);
    let (dir, store) = store();
    intake::begin(&store, &flow, "@sam:x", t0()).expect("begin");
    let phrase = "velvet-badger-2291";
    let mut n = 0;
    let mut say = |text: &str| {
        n += 1;
        intake::message(&store, &flow, "@sam:x", text, &format!("$e{n}"), t0())
            .expect("message")
            .expect("some")
    };
    for a in ["no", "no", "no", "no"] {
        say(a);
    }
    say(&format!("I saw {phrase}"));
    for a in [
        "skip", "today", "a child", "an app", "skip", "skip", "1", "staff", "skip",
    ] {
        say(a);
    }
    let out = say("send");
    assert!(
        matches!(out.first(), Some(Outgoing::Page { urgent: false, .. })),
        "{out:?}"
    );
    assert!(out
        .iter()
        .any(|o| matches!(o, Outgoing::Record(r) if r.status == Status::Submitted)));
    assert!(replies(&out).contains("recorded as SG-0001"));

    let kept = store
        .get_concern(&Reference::new(1))
        .expect("read")
        .expect("kept");
    assert_eq!(kept.status, Status::Submitted);
    assert!(kept.to_text().contains(phrase));
    let audit = store.audit_entries().expect("audit");
    assert!(audit
        .iter()
        .any(|e| e.action == "concern saved" && e.reference == Some(Reference::new(1))));
    for e in &audit {
        let line = format!("{} {} {}", e.actor, e.action, e.detail);
        assert!(
            !line.contains(phrase),
            "the audit log holds no words of a concern: {line}"
        );
    }
    assert!(
        intake::current(&store, "@sam:x").expect("read").is_none(),
        "the conversation is finished"
    );
    drop(store);
    let other_key = Store::open(&dir.path().join("store"), Key::generate().expect("key"));
    assert!(other_key.is_err(), "another key cannot open it");
}
