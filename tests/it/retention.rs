//! Retention on a real store on disk: only a concern closed for the whole
//! period goes, everything about it goes, the deletion is audited without a
//! word of the concern, and a dry run changes nothing.

use crate::common;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use safeguarding_bot::casework::retention::{self, AUDIT_ACTION};
use safeguarding_bot::casework::{CaseView, Casefile, EntryKind};
use safeguarding_bot::concern::{ConcernRecord, Reference, Status};
use safeguarding_bot::escalation::Escalation;
use safeguarding_bot::store::{Key, Store, Tree};

const WORDS: &str = "they were sent photos by a stranger called Zebedee";
const DAY: u64 = 24 * 60 * 60;

fn day(month: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, d, 12, 0, 0).unwrap()
}

fn record(n: u64) -> ConcernRecord {
    common::concern_record(n, day(1, 1), WORDS)
}

fn close(casefile: &Casefile, at: DateTime<Utc>) -> Casefile {
    let outcome = EntryKind::Closed {
        kind: Some("No further action".into()),
        outcome: format!("about {WORDS}"),
    };
    casefile.with_entry("@dsl:example.org", outcome, at).0
}

/// A store holding:
/// - SG-0001, closed on 1 January (long enough ago), with its paging;
/// - SG-0002, closed on 25 May (recently);
/// - SG-0003, open;
/// - SG-0004, closed on 1 January and reopened.
struct Setup {
    _tmp: tempfile::TempDir,
    store: Store,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let key = Key::load_or_create(&tmp.path().join("key")).unwrap();
    let store = Store::open(&tmp.path().join("store"), key).unwrap();
    for n in 1..=4 {
        store.put_concern(&record(n)).unwrap();
    }
    let put = |n: u64, c: &Casefile| {
        store
            .put_item(Tree::Casefiles, &Reference::new(n).to_string(), c)
            .unwrap()
    };
    put(1, &close(&Casefile::new(Reference::new(1)), day(1, 1)));
    put(2, &close(&Casefile::new(Reference::new(2)), day(5, 25)));
    let note = EntryKind::Note {
        text: "called the parent".into(),
    };
    put(
        3,
        &Casefile::new(Reference::new(3))
            .with_entry("@dsl:example.org", note, day(1, 2))
            .0,
    );
    let reopened = close(&Casefile::new(Reference::new(4)), day(1, 1))
        .with_entry(
            "@dsl:example.org",
            EntryKind::Reopened { reason: None },
            day(1, 3),
        )
        .0;
    put(4, &reopened);
    let esc = Escalation::new(
        Reference::new(1),
        "@staff:example.org",
        false,
        "!room:example.org",
        "@dsl:example.org",
        day(1, 1),
    );
    store.put_item(Tree::Escalations, "SG-0001", &esc).unwrap();
    store
        .audit(
            day(1, 1),
            "bot",
            "concern_saved",
            Some(&Reference::new(1)),
            "status submitted",
        )
        .unwrap();
    Setup { _tmp: tmp, store }
}

const NOW_MONTH: u32 = 6;
const RETENTION: Duration = Duration::from_secs(30 * DAY);

#[test]
fn only_the_concern_closed_long_enough_ago_is_deleted_and_audited() {
    let s = setup();
    let store = &s.store;
    let now = day(NOW_MONTH, 1);

    let gone = retention::sweep(store, RETENTION, now, false, "command line").unwrap();
    assert_eq!(gone, vec![Reference::new(1)]);

    // Everything about SG-0001 is gone, in every tree.
    assert_eq!(store.get_concern(&Reference::new(1)).unwrap(), None);
    assert_eq!(
        store.get_item::<Casefile>(Tree::Casefiles, "SG-0001").unwrap(),
        None
    );
    assert_eq!(
        store
            .get_item::<Escalation>(Tree::Escalations, "SG-0001")
            .unwrap(),
        None
    );
    assert!(CaseView::load(store, &Reference::new(1)).unwrap().is_none());
    // Its room is left for the chat transport to clear and leave.
    assert_eq!(
        store
            .get_item::<Vec<String>>(Tree::Settings, retention::RETIRED_ROOMS)
            .unwrap(),
        Some(vec!["!room:example.org".to_string()])
    );

    // The others are kept, records and casefiles whole.
    for n in 2..=4 {
        let view = CaseView::load(store, &Reference::new(n))
            .unwrap()
            .unwrap_or_else(|| panic!("SG-000{n} is kept"));
        assert_eq!(view.record, record(n));
        assert!(!view.casefile.entries.is_empty(), "SG-000{n}'s casefile is kept");
    }

    let entries = store.audit_entries().unwrap();
    assert_eq!(entries.len(), 2);
    let last = &entries[1];
    assert_eq!(last.action, AUDIT_ACTION);
    assert_eq!(last.actor, "command line");
    assert_eq!(last.reference, Some(Reference::new(1)));
    assert_eq!(last.at, now);
    assert_eq!(last.detail, "closed on 2026-01-01, retention period 30 days");
    for e in &entries {
        assert!(!e.detail.contains("Zebedee"), "no concern content: {e:?}");
    }
    assert_eq!(store.verify_audit(), Ok(()));

    // Nothing more is due: a second sweep changes nothing.
    assert_eq!(
        retention::sweep(store, RETENTION, now, false, "command line").unwrap(),
        vec![]
    );
    assert_eq!(store.audit_entries().unwrap().len(), 2);
}

#[test]
fn a_dry_run_deletes_nothing_and_audits_nothing() {
    let s = setup();
    let store = &s.store;
    let before = store.audit_entries().unwrap();

    let would = retention::sweep(store, RETENTION, day(NOW_MONTH, 1), true, "command line").unwrap();
    assert_eq!(would, vec![Reference::new(1)]);
    assert_eq!(store.list_concerns().unwrap().len(), 4);
    assert!(store
        .get_item::<Escalation>(Tree::Escalations, "SG-0001")
        .unwrap()
        .is_some());
    assert_eq!(store.audit_entries().unwrap(), before);
}

#[test]
fn a_concern_falls_due_exactly_when_its_period_ends() {
    let s = setup();
    let store = &s.store;
    // SG-0002 was closed at noon on 25 May: a period of two seconds ends
    // at 12:00:02.
    let closed = day(5, 25);
    let short = Duration::from_secs(2);
    let at = |secs: i64| closed + chrono::Duration::seconds(secs);
    let cases = CaseView::all(store).unwrap();
    assert_eq!(retention::due(&cases, short, at(1)), vec![Reference::new(1)]);
    assert_eq!(
        retention::due(&cases, short, at(2)),
        vec![Reference::new(1), Reference::new(2)]
    );
    let gone = retention::sweep(store, short, at(2), false, "command line").unwrap();
    assert_eq!(gone, vec![Reference::new(1), Reference::new(2)]);
    let left: Vec<u64> = store
        .list_concerns()
        .unwrap()
        .iter()
        .map(|r| r.reference.number())
        .collect();
    assert_eq!(
        left,
        vec![3, 4],
        "the open and the reopened concern are never due"
    );
    assert_eq!(store.verify_audit(), Ok(()));
}

#[test]
fn something_added_after_closing_keeps_the_concern_for_a_whole_period_from_then() {
    let s = setup();
    let store = &s.store;
    // The reporter adds to SG-0001 on 20 May, long after it was closed.
    let added = CaseView::load(store, &Reference::new(1))
        .unwrap()
        .unwrap()
        .casefile
        .with_entry(
            "@staff:example.org",
            EntryKind::ReporterAdded {
                text: "one more thing".into(),
            },
            day(5, 20),
        )
        .0;
    store.put_item(Tree::Casefiles, "SG-0001", &added).unwrap();
    assert_eq!(
        retention::sweep(store, RETENTION, day(NOW_MONTH, 1), false, "bot").unwrap(),
        vec![]
    );
    assert_eq!(
        retention::sweep(store, RETENTION, day(6, 19), false, "bot").unwrap(),
        vec![Reference::new(1)],
        "due 30 days after the addition"
    );
}

#[test]
fn the_reporters_finished_conversation_goes_with_the_concern() {
    let s = setup();
    let store = &s.store;
    let flow = safeguarding_bot::flow::load_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conversations/online-safety-referral.toml"),
    )
    .unwrap();
    let mut c =
        safeguarding_bot::conversation::start(&flow, Reference::new(1), "@staff:example.org", day(1, 1))
            .conversation;
    c.fields.insert("what".into(), Some(WORDS.into()));
    c.stage = safeguarding_bot::conversation::Stage::Done {
        status: Status::Submitted,
    };
    store.put_conversation("reporter:@staff:example.org", &c).unwrap();
    retention::sweep(store, RETENTION, day(NOW_MONTH, 1), false, "bot").unwrap();
    assert!(
        store.conversation_keys().unwrap().is_empty(),
        "the answers are gone too"
    );
}

/// A `!show` posted in the leads' room is a copy of the record outside the
/// concern's own room: it is listed for removal when the concern goes, and
/// not before; a copy posted after the deletion is listed at once.
#[test]
fn copies_shown_elsewhere_are_listed_for_removal_with_the_concern() {
    use retention::PostedCopy;
    let s = setup();
    let store = &s.store;
    let copy = |room: &str, message: &str| PostedCopy {
        room: room.into(),
        message: message.into(),
    };
    let leads = copy("!leads:example.org", "$show1");
    let private = copy("!dm:example.org", "$show2");
    let other = copy("!leads:example.org", "$open-one");
    retention::remember_copies(store, &Reference::new(1), &[leads.clone(), private.clone()]).unwrap();
    // The same message remembered twice is listed once.
    retention::remember_copies(store, &Reference::new(1), std::slice::from_ref(&leads)).unwrap();
    retention::remember_copies(store, &Reference::new(3), std::slice::from_ref(&other)).unwrap();
    assert!(
        retention::retired_messages(store).unwrap().is_empty(),
        "nothing is removed while the concerns are kept"
    );

    let gone = retention::sweep(store, RETENTION, day(NOW_MONTH, 1), false, "bot").unwrap();
    assert_eq!(gone, vec![Reference::new(1)]);
    assert_eq!(
        retention::retired_messages(store).unwrap(),
        vec![leads.clone(), private.clone()],
        "the deleted concern's copies, and not the open one's"
    );
    assert_eq!(
        store
            .get_item::<Vec<PostedCopy>>(Tree::Settings, "copies:SG-0001")
            .unwrap(),
        None,
        "nothing is kept under the deleted concern's reference"
    );

    // Shown just as it was deleted: listed for removal at once.
    let late = copy("!leads:example.org", "$late");
    retention::remember_copies(store, &Reference::new(1), std::slice::from_ref(&late)).unwrap();
    assert_eq!(
        retention::retired_messages(store).unwrap(),
        vec![leads.clone(), private.clone(), late.clone()]
    );

    // Once removed, they are forgotten; the rest stay listed.
    retention::forget_retired_messages(store, &[leads, late]).unwrap();
    assert_eq!(retention::retired_messages(store).unwrap(), vec![private]);

    // The open concern's copy goes when it does, however much later.
    assert_eq!(
        store
            .get_item::<Vec<PostedCopy>>(Tree::Settings, "copies:SG-0003")
            .unwrap(),
        Some(vec![other])
    );
}

/// The reporter's messages about a report in their private chat are kept
/// with that report only while the bot keeps its conversation, and go to
/// the removal list when the concern is deleted.
#[test]
fn the_reporters_private_messages_are_kept_with_their_report_and_retired_with_it() {
    use retention::PostedCopy;
    let tmp = tempfile::tempdir().unwrap();
    let key = Key::load_or_create(&tmp.path().join("key")).unwrap();
    let store = Store::open(&tmp.path().join("store"), key).unwrap();
    let flow = safeguarding_bot::flow::load_file(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conversations/online-safety-referral.toml"
    )))
    .unwrap();
    let reporter = "@staff:example.org";
    safeguarding_bot::intake::begin(&store, &flow, reporter, day(1, 1)).unwrap();
    let reference = safeguarding_bot::intake::reference_of(&store, reporter)
        .unwrap()
        .expect("a report in progress");
    let answer = PostedCopy {
        room: "!dm:example.org".into(),
        message: "$answer".into(),
    };
    retention::remember_reporter_copies(&store, reporter, &reference, std::slice::from_ref(&answer)).unwrap();
    // Not their latest report: nothing is kept.
    let other = Reference::new(reference.number() + 1);
    retention::remember_reporter_copies(&store, reporter, &other, std::slice::from_ref(&answer)).unwrap();
    retention::remember_reporter_copies(
        &store,
        "@someone-else:example.org",
        &reference,
        std::slice::from_ref(&answer),
    )
    .unwrap();
    assert_eq!(
        store
            .get_item::<Vec<PostedCopy>>(Tree::Settings, &format!("copies:{reference}"))
            .unwrap(),
        Some(vec![answer.clone()])
    );
    assert_eq!(
        store
            .get_item::<Vec<PostedCopy>>(Tree::Settings, &format!("copies:{other}"))
            .unwrap(),
        None
    );

    // Recorded, closed long ago, deleted: the answer is listed for removal.
    let mut r = record(reference.number());
    r.reporter = reporter.into();
    store.put_concern(&r).unwrap();
    store
        .put_item(
            Tree::Casefiles,
            &reference.to_string(),
            &close(&Casefile::new(reference.clone()), day(1, 2)),
        )
        .unwrap();
    let gone = retention::sweep(&store, RETENTION, day(NOW_MONTH, 1), false, "bot").unwrap();
    assert_eq!(gone, vec![reference]);
    assert_eq!(retention::retired_messages(&store).unwrap(), vec![answer]);
}
