//! The core on an in-memory chat ([`common::memchat`]) with a real store:
//! reports, pages, acknowledgements, casework, the chat failing in the ways
//! it does, and restarts. What is checked is what people would see.
//!
//! People: the lead `@lead:test`, deputies `@deputy:test` and
//! `@deputy2:test`, a member of staff `@staff:test` who reports, all joined
//! to the staff room `!staff:test`; the leads' room `!leads:test`.

use crate::common;
use common::core_world::*;

use std::time::Duration;

use common::memchat::{MemChat, Op, BOT, PATIENCE};
use safeguarding_bot::bot::{ChatError, Inbound, InboundKind, Kind, Message};
use safeguarding_bot::casework::Casefile;
use safeguarding_bot::escalation::Escalation;
use safeguarding_bot::store::{Store, Tree};

fn pings(chat: &MemChat, room: &str) -> Vec<Message> {
    chat.messages_in(room).into_iter().filter(is_ping).collect()
}

fn escalation(store: &Store) -> Escalation {
    store
        .get_item::<Escalation>(Tree::Escalations, SG1)
        .expect("the store reads")
        .expect("the escalation is kept")
}

/// Gives the core a moment to do anything more it wrongly would, after
/// what was awaited arrived: a later event from the lead is answered only
/// after everything before it, so waiting for its answer is enough.
async fn settle(w: &World, room: &str, who: &str) {
    let since = w.chat.messages_in(room).len();
    w.say(room, who, "!help");
    w.chat
        .wait_for_new(room, since, |m| m.plain.contains("!note"), PATIENCE)
        .await;
    w.wait_outbox_empty().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_pages_the_lead_once_and_the_record_follows() {
    let mut w = World::new().await;
    let phrase = "crimson-otter-5521";
    let private = w.report(phrase).await;

    let (room, page, record) = w.paged_with_record(phrase).await;
    assert_eq!(
        page.kind,
        Kind::Ping(vec![LEAD.to_string()]),
        "the page rings the lead's phone"
    );
    assert!(
        page.plain.contains(SG1) && page.plain.contains("!ack"),
        "{}",
        page.plain
    );
    assert!(
        page.plain.contains(name(STAFF)) && !page.plain.contains(STAFF),
        "the page names the reporter by name: {}",
        page.plain
    );
    assert!(
        !page.plain.contains(phrase),
        "the page carries no detail: {}",
        page.plain
    );
    assert_eq!(record.kind, Kind::Notice, "the record is a notice");
    assert!(record.plain.contains("Record the concern"), "{}", record.plain);
    let texts = w.chat.texts_in(&room);
    let page_at = texts.iter().position(|t| *t == page.plain).expect("page");
    let record_at = texts.iter().position(|t| *t == record.plain).expect("record");
    assert!(page_at < record_at, "the page comes first");

    let concern_room = w.chat.room(&room).expect("room");
    assert!(concern_room.confidential);
    assert!(concern_room.is_member(LEAD), "the lead is invited");
    assert!(
        !concern_room.is_member(STAFF),
        "the reporter is not in the concern's room"
    );
    assert!(!concern_room.is_member(DEPUTY), "the deputy is not paged yet");

    settle(&w, &room, LEAD).await;
    assert_eq!(pings(&w.chat, &room).len(), 1, "paged once\n{}", w.chat.dump());
    assert_eq!(w.chat.count_in(&room, phrase), 1, "one record");
    assert_eq!(w.chat.group_rooms().len(), 1, "one concern room");
    assert_eq!(w.chat.count_in(&private, "recorded as SG-0001"), 1);
    // Nothing of the concern in the staff room.
    let staff_room = w.chat.texts_in(STAFF_ROOM);
    assert_eq!(staff_room.len(), 1, "{staff_room:?}");
    assert!(staff_room
        .iter()
        .all(|t| !t.contains(phrase) && !t.contains("group chat")));
    assert!(
        w.chat.messages_in(LEADS_ROOM).is_empty(),
        "nothing went wrong to tell the leads"
    );
    w.assert_nothing_lost();
    w.chat.assert_no_resends();
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lead_acks_and_the_reporter_is_told_once() {
    let mut w = World::new().await;
    let private = w.report("amber-heron-7730").await;
    let (room, _) = w.paged().await;

    w.say(&room, LEAD, "!ack");
    let confirmed = w.chat.wait_for_text(&room, "acknowledged by").await;
    assert_eq!(confirmed.kind, Kind::Notice);
    assert!(confirmed.plain.contains(name(LEAD)), "{}", confirmed.plain);
    let told = w.chat.wait_for_text(&private, "has been acknowledged by").await;
    assert!(
        told.plain.contains(SG1) && told.plain.contains(name(LEAD)),
        "{}",
        told.plain
    );

    // A second acknowledgement changes nothing and says who acknowledged.
    w.say(&room, LEAD, "!ack");
    let already = w.chat.wait_for_text(&room, "was already acknowledged by").await;
    assert!(already.plain.contains(name(LEAD)), "{}", already.plain);
    settle(&w, &room, LEAD).await;
    assert_eq!(
        w.chat.count_in(&private, "has been acknowledged by"),
        1,
        "{}",
        w.chat.dump()
    );
    assert_eq!(
        w.chat.count_in(&room, "acknowledged by Lee Lead at"),
        2,
        "confirmed, then already"
    );
    let esc = escalation(w.store());
    assert_eq!(esc.acknowledged.map(|a| a.by).as_deref(), Some(LEAD));
    w.assert_nothing_lost();
    w.chat.assert_no_resends();
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ack_from_someone_not_a_lead_is_refused() {
    let mut w = World::new().await;
    let private = w.report("violet-finch-1203").await;
    let (room, _) = w.paged().await;

    // The lead brings the member of staff into the room; their !ack changes nothing.
    w.chat.invite_user(&room, STAFF);
    w.chat.join(STAFF, &room);
    w.say(&room, STAFF, "!ack");
    let refused = w.chat.wait_for_text(&room, "Only the Lead or a Deputy").await;
    assert_eq!(refused.kind, Kind::Notice);
    assert!(escalation(w.store()).acknowledged.is_none(), "not acknowledged");

    w.say(&room, LEAD, "!ack");
    let confirmed = w.chat.wait_for_text(&room, "acknowledged by").await;
    assert!(confirmed.plain.contains(name(LEAD)), "{}", confirmed.plain);
    assert!(
        !confirmed.plain.contains(name(STAFF)),
        "the refused !ack did not count: {}",
        confirmed.plain
    );
    let told = w.chat.wait_for_text(&private, "has been acknowledged by").await;
    assert!(
        told.plain.contains(name(LEAD)) && !told.plain.contains(name(STAFF)),
        "{}",
        told.plain
    );
    w.wait_outbox_empty().await;
    assert_eq!(w.chat.count_in(&private, "has been acknowledged by"), 1);
    w.chat.assert_no_resends();
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_ack_handed_over_twice_tells_the_reporter_once() {
    let mut w = World::new().await;
    let private = w.report("teal-badger-8841").await;
    let (room, _) = w.paged().await;

    w.say_as("$ack-once:test", &room, LEAD, "!ack");
    w.say_as("$ack-once:test", &room, LEAD, "!ack");
    w.chat.wait_for_text(&private, "has been acknowledged by").await;
    // Another !ack, after both: by the time it is answered, the replay has
    // been handled (or dropped).
    w.say(&room, LEAD, "!ack");
    w.chat.wait_for_text(&room, "was already acknowledged by").await;
    w.wait_outbox_empty().await;
    assert_eq!(
        w.chat.count_in(&private, "has been acknowledged by"),
        1,
        "{}",
        w.chat.dump()
    );
    assert_eq!(
        w.chat.count_in(&room, "SG-0001 acknowledged by"),
        1,
        "{}",
        w.chat.dump()
    );
    assert_eq!(
        w.chat.count_in(&room, "was already acknowledged"),
        1,
        "{}",
        w.chat.dump()
    );
    w.chat.assert_no_resends();
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_note_handed_over_twice_is_recorded_once() {
    let mut w = World::new().await;
    w.report("olive-stoat-3390").await;
    let (room, _) = w.paged().await;
    let note = "Called the parent, marigold-4410.";

    w.say_as("$note-once:test", &room, LEAD, &format!("!note {note}"));
    w.say_as("$note-once:test", &room, LEAD, &format!("!note {note}"));
    let noted = w.chat.wait_for_text(&room, "Noted as entry").await;
    assert!(noted.plain.contains("entry 1 of SG-0001"), "{}", noted.plain);
    assert!(noted.plain.contains("not acknowledged yet"), "{}", noted.plain);

    w.say(&room, LEAD, "!show");
    let show = w.chat.wait_for_text(&room, "Chronology").await;
    assert_eq!(show.plain.matches("marigold-4410").count(), 1, "{}", show.plain);
    assert_eq!(w.chat.count_in(&room, "Noted as entry"), 1, "{}", w.chat.dump());
    let casefile = w
        .store()
        .get_item::<Casefile>(Tree::Casefiles, SG1)
        .expect("the store reads")
        .expect("a casefile");
    let notes: Vec<_> = casefile
        .entries
        .iter()
        .filter(|e| e.kind.text().contains("marigold-4410"))
        .collect();
    assert_eq!(notes.len(), 1, "{casefile:?}");
    assert_eq!(casefile.entries.len(), 1, "{casefile:?}");
    w.chat.assert_no_resends();
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_room_and_a_rate_limited_page_still_page_the_lead_once() {
    let mut w = World::new().await;
    let phrase = "russet-crane-6612";
    let private = w.start_report().await;
    w.answer_to_check(&private, &format!("I saw {phrase}"), "today", "an adult at risk")
        .await;
    let rooms_made = w.chat.calls_of(Op::CreateRoom);
    w.chat.fail_next(
        Op::CreateRoom,
        ChatError::Transient("the homeserver is restarting".into()),
        1,
    );
    w.chat
        .fail_next_pages(ChatError::RateLimited(Some(Duration::from_millis(100))), 1);
    w.submit(&private).await;

    let (room, page, _record) = w.paged_with_record(phrase).await;
    assert_eq!(page.kind, Kind::Ping(vec![LEAD.to_string()]));
    assert_eq!(w.chat.faults_left(), 0, "both failures happened");
    assert_eq!(
        w.chat.calls_of(Op::CreateRoom) - rooms_made,
        2,
        "made on the second try"
    );
    assert_eq!(w.chat.failed_calls_of(Op::Send), 1, "only the page failed");
    settle(&w, &room, LEAD).await;
    assert_eq!(w.chat.group_rooms().len(), 1, "one concern room");
    assert_eq!(pings(&w.chat, &room).len(), 1, "paged once\n{}", w.chat.dump());
    assert_eq!(w.chat.count_in(&room, phrase), 1, "one record");
    assert!(w.chat.room(&room).expect("room").is_member(LEAD));
    assert!(
        w.chat.messages_in(LEADS_ROOM).is_empty(),
        "nothing failed for good"
    );
    w.assert_nothing_lost();
    w.chat.assert_no_resends();
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_room_and_page_done_but_reported_failed_are_not_done_twice() {
    let mut w = World::new().await;
    let phrase = "ochre-lynx-2045";
    let private = w.start_report().await;
    w.answer_to_check(&private, &format!("I saw {phrase}"), "today", "a child")
        .await;
    // The chat does each, then the answer is lost: tried again, with the
    // same creation key and the same message key.
    w.chat
        .fail_next_after_doing(Op::CreateRoom, ChatError::Transient("timed out".into()), 1);
    w.chat
        .fail_next_pages_after_doing(ChatError::Transient("timed out".into()), 1);
    w.submit(&private).await;

    let (room, _page, _record) = w.paged_with_record(phrase).await;
    settle(&w, &room, LEAD).await;
    assert_eq!(w.chat.faults_left(), 0);
    assert_eq!(
        w.chat.group_rooms().len(),
        1,
        "one concern room\n{}",
        w.chat.dump()
    );
    assert_eq!(
        pings(&w.chat, &room).len(),
        1,
        "one page shows\n{}",
        w.chat.dump()
    );
    let page_sends = w.chat.calls().into_iter().filter(|c| c.is_ping()).count();
    assert_eq!(page_sends, 2, "the page was tried again, with its key");
    w.assert_nothing_lost();
    w.chat.assert_no_resends();
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deputy_who_cannot_be_invited_is_skipped_the_leads_told_and_the_next_paged() {
    let mut w = World::with("ack_timeout = \"1s\"").await;
    w.chat.fail_always_for(
        Op::Invite,
        DEPUTY,
        ChatError::Refused("not allowed to invite".into()),
    );
    let private = w.report("indigo-vole-7718").await;
    let (room, page) = w.paged().await;
    assert_eq!(page.kind, Kind::Ping(vec![LEAD.to_string()]));

    // The lead is silent: the deputy's step comes, their invite is refused.
    let told_leads = w
        .chat
        .wait_for_text(LEADS_ROOM, "could not invite Dee Deputy")
        .await;
    assert_eq!(told_leads.kind, Kind::Notice);
    assert!(told_leads.plain.contains(SG1), "{}", told_leads.plain);
    // The next deputy is still invited and paged.
    let second = w
        .chat
        .wait_for(
            &room,
            |m| matches!(&m.kind, Kind::Ping(who) if who.iter().any(|u| u == DEPUTY2)),
            PATIENCE,
        )
        .await;
    assert!(second.plain.contains(SG1), "{}", second.plain);
    let concern_room = w.chat.room(&room).expect("room");
    assert!(concern_room.is_member(DEPUTY2), "{}", w.chat.dump());
    assert!(!concern_room.is_member(DEPUTY), "{}", w.chat.dump());

    w.say(&room, DEPUTY2, "!ack");
    let told = w.chat.wait_for_text(&private, "has been acknowledged by").await;
    assert!(told.plain.contains(name(DEPUTY2)), "{}", told.plain);
    w.wait_outbox_empty().await;
    assert_eq!(
        w.chat.count_in(LEADS_ROOM, "could not invite"),
        1,
        "told once\n{}",
        w.chat.dump()
    );
    // A refused invite is the leads' business, not the reporter's.
    assert_eq!(w.chat.count_in(&private, "had trouble passing it on"), 0);
    w.chat.assert_no_resends();
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lead_who_cannot_be_invited_is_passed_over_at_once() {
    // A whole hour to acknowledge: the deputy's page can only come this
    // soon because the lead could not be let into the room.
    let mut w = World::with("ack_timeout = \"1 hour\"").await;
    w.chat.fail_always_for(
        Op::Invite,
        LEAD,
        ChatError::Refused("not allowed to invite".into()),
    );
    let _private = w.report("ochre-heron-2291").await;
    let told_leads = w
        .chat
        .wait_for_text(LEADS_ROOM, "could not invite Lee Lead")
        .await;
    assert!(told_leads.plain.contains(SG1), "{}", told_leads.plain);
    let room = w
        .chat
        .group_rooms()
        .first()
        .expect("the concern's room")
        .id
        .clone();
    let deputy_page = w
        .chat
        .wait_for(
            &room,
            |m| matches!(&m.kind, Kind::Ping(who) if who.iter().any(|u| u == DEPUTY)),
            PATIENCE,
        )
        .await;
    let Kind::Ping(who) = &deputy_page.kind else {
        unreachable!()
    };
    assert!(
        !who.iter().any(|u| u == LEAD),
        "the lead is not paged where they cannot be: {who:?}"
    );
    w.chat.assert_no_resends();
    w.stop().await;
}

/// An answer of 9,000 characters full of what HTML escapes.
fn long_answer(tag: &str) -> String {
    let mut s = format!("{tag} ");
    while s.chars().count() < 9_000 {
        s.push_str("<&>\"' ");
    }
    s.chars().take(9_000).collect::<String>().trim_end().to_string()
}

/// The record's parts, in order, checked: numbered 1 to N, each a notice
/// of at most `max` bytes. Returns the text they carry, joined.
fn record_parts(chat: &MemChat, room: &str, max: usize) -> String {
    let parts: Vec<Message> = chat
        .messages_in(room)
        .into_iter()
        .filter(|m| m.plain.starts_with("(part "))
        .collect();
    assert!(parts.len() > 1, "{}", chat.dump());
    let n = parts.len();
    let mut joined = String::new();
    for (i, p) in parts.iter().enumerate() {
        assert!(p.size() <= max, "part {} is {} bytes", i + 1, p.size());
        assert_eq!(p.kind, Kind::Notice);
        let (header, rest) = p.plain.split_once('\n').expect("a header line");
        assert_eq!(header, format!("(part {} of {n})", i + 1));
        joined.push_str(rest);
    }
    joined
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_long_record_arrives_in_numbered_parts_that_fit() {
    let mut w = World::new().await;
    let (what, when, who) = (long_answer("what-1"), long_answer("when-2"), long_answer("who-3"));
    let private = w.start_report().await;
    w.answer_to_check(&private, &what, &when, &who).await;
    let done = w.submit(&private).await;
    assert!(done.plain.contains("recorded as SG-0001"), "{}", done.plain);

    let (room, _page) = w.paged().await;
    let first = w
        .chat
        .wait_for(&room, |m| m.plain.starts_with("(part 1 of "), PATIENCE)
        .await;
    let n: usize = first.plain["(part 1 of ".len()..]
        .split(')')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a part count");
    w.chat.wait_for_text(&room, &format!("(part {n} of {n})")).await;
    w.wait_outbox_empty().await;
    let max = 16_000;
    let record = record_parts(&w.chat, &room, max);
    for answer in [&what, &when, &who] {
        assert!(
            record.contains(answer.as_str()),
            "an answer is missing or cut from the record"
        );
    }
    for (room, m) in w.chat.all_messages() {
        assert!(m.size() <= max, "{room}: a message of {} bytes", m.size());
    }
    assert_eq!(pings(&w.chat, &room).len(), 1);
    assert!(w.chat.messages_in(LEADS_ROOM).is_empty(), "{}", w.chat.dump());
    w.assert_nothing_lost();
    w.chat.assert_no_resends();
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chat_that_takes_less_than_it_said_still_gets_the_whole_record() {
    let mut w = World::new().await;
    // The chat says 16,000 bytes but refuses anything over 7,000.
    w.chat.set_hard_limit(7_000);
    let (what, when, who) = (long_answer("what-4"), long_answer("when-5"), long_answer("who-6"));
    let private = w.start_report().await;
    w.answer_to_check(&private, &what, &when, &who).await;
    w.submit(&private).await;
    let (room, _page) = w.paged().await;
    w.wait_outbox_empty().await;
    let text: String = w
        .chat
        .messages_in(&room)
        .into_iter()
        .filter(|m| m.kind == Kind::Notice)
        .map(|m| without_part_headers(&m.plain).to_string())
        .collect();
    for answer in [&what, &when, &who] {
        assert!(
            text.contains(answer.as_str()),
            "an answer is missing or cut from the record\n{}",
            w.chat.dump()
        );
    }
    for (room, m) in w.chat.all_messages() {
        assert!(m.size() <= 7_000, "{room}: a message of {} bytes", m.size());
    }
    assert!(
        w.chat.failed_calls_of(Op::Send) > 0,
        "the chat refused the first try"
    );
    assert!(w.chat.messages_in(LEADS_ROOM).is_empty(), "{}", w.chat.dump());
    w.assert_nothing_lost();
    w.chat.assert_no_resends();
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn effects_pending_at_a_stop_are_delivered_once_after_a_restart() {
    let mut w = World::new().await;
    let phrase = "sable-newt-9034";
    let private = w.start_report().await;
    w.answer_to_check(&private, &format!("I saw {phrase}"), "today", "a child")
        .await;

    // The chat takes no messages: the room is made and the lead invited,
    // but the page, the record and the reporter's reference wait.
    w.chat
        .fail_always(Op::Send, ChatError::Transient("the homeserver is down".into()));
    w.say(&private, STAFF, "send");
    w.chat
        .wait_until(
            "the page tried",
            |c| {
                c.calls()
                    .iter()
                    .any(|call| call.is_ping() && call.result.is_err())
            },
            PATIENCE,
        )
        .await;
    assert!(w.store().outbox_len() > 0, "effects are waiting");
    w.stop().await;
    assert!(pings(&w.chat, &w.chat.group_rooms()[0].id).is_empty());
    assert_eq!(
        w.chat.count_in(&private, "recorded as SG-"),
        0,
        "{}",
        w.chat.dump()
    );

    // The chat is back; a new core on the same store carries them out.
    w.chat.clear_faults();
    w.start().await;
    let done = w.chat.wait_for_text(&private, "recorded as SG-").await;
    assert!(done.plain.contains(SG1), "{}", done.plain);
    let (room, page, _record) = w.paged_with_record(phrase).await;
    assert_eq!(page.kind, Kind::Ping(vec![LEAD.to_string()]));
    settle(&w, &room, LEAD).await;
    assert_eq!(
        w.chat.group_rooms().len(),
        1,
        "the room made before is used\n{}",
        w.chat.dump()
    );
    assert_eq!(pings(&w.chat, &room).len(), 1, "paged once\n{}", w.chat.dump());
    assert_eq!(w.chat.count_in(&room, phrase), 1, "one record");
    assert_eq!(w.chat.count_in(&private, "recorded as SG-"), 1);
    assert!(w.chat.messages_in(LEADS_ROOM).is_empty(), "{}", w.chat.dump());
    w.assert_nothing_lost();
    w.chat.assert_no_resends();

    // And the concern goes on as normal.
    w.say(&room, LEAD, "!ack");
    w.chat.wait_for_text(&private, "has been acknowledged by").await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_reports_at_once_each_see_every_message_once() {
    let mut w = World::new().await;
    let reporters: Vec<String> = (1..=5).map(|i| format!("@staff{i}:test")).collect();
    for r in &reporters {
        w.chat.join(r, STAFF_ROOM);
    }
    for r in &reporters {
        w.say(STAFF_ROOM, r, "/report");
    }
    let mut privates = Vec::new();
    for r in &reporters {
        let private = w.chat.wait_for_private_room_of(r).await;
        w.chat.join(r, &private);
        w.chat.wait_for_text(&private, "Is a crime in progress").await;
        privates.push(private);
    }
    let steps = [
        ("no", "child sexual content"),
        ("no", "communicating with a child"),
        ("no", "known person"),
        ("no", "What did you see or hear"),
        ("I saw it in a chat", "their own words"),
        ("skip", "When did it happen"),
        ("today", "Who is involved"),
        ("a child", "Where online"),
        ("a chat app", "Who else knows"),
        ("skip", "What have you done so far"),
        ("skip", "Which area of risk"),
        ("2", "What is your role"),
        ("staff", "anything else"),
        ("skip", "Please check your report"),
        ("send", "recorded as SG-"),
    ];
    // Everyone answers, then everyone waits: the core handles them side by side.
    for (text, expect) in steps {
        let since: Vec<usize> = privates.iter().map(|p| w.chat.messages_in(p).len()).collect();
        for (r, p) in reporters.iter().zip(&privates) {
            w.say(p, r, text);
        }
        for (p, since) in privates.iter().zip(since) {
            w.chat
                .wait_for_new(p, since, |m| m.plain.contains(expect), PATIENCE)
                .await;
        }
    }
    w.chat
        .wait_until(
            "a room per concern",
            |c| c.group_rooms().len() == reporters.len(),
            PATIENCE,
        )
        .await;
    for room in w.chat.group_rooms() {
        w.chat.wait_for(&room.id, is_ping, PATIENCE).await;
        w.chat.wait_for_text(&room.id, "Reference: SG-").await;
    }
    w.wait_outbox_empty().await;
    let mut references: Vec<String> = privates
        .iter()
        .map(|p| {
            let done = w
                .chat
                .texts_in(p)
                .into_iter()
                .find(|t| t.contains("recorded as SG-"))
                .expect("told");
            done.split("recorded as ").nth(1).expect("a reference")[..7].to_string()
        })
        .collect();
    references.sort();
    references.dedup();
    assert_eq!(
        references.len(),
        reporters.len(),
        "each report has its own reference: {references:?}"
    );
    for room in w.chat.group_rooms() {
        assert_eq!(pings(&w.chat, &room.id).len(), 1, "{}", w.chat.dump());
        assert_eq!(
            w.chat.count_in(&room.id, "Reference: SG-"),
            1,
            "{}",
            w.chat.dump()
        );
    }
    assert_eq!(w.chat.messages_in(STAFF_ROOM).len(), reporters.len());
    w.assert_nothing_lost();
    w.chat.assert_no_resends();
    w.stop().await;
}

/// A report asked for in an unencrypted room with someone from outside runs
/// in a private chat the bot makes; the shared room gets only the notice,
/// and nothing said there is taken as an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_asked_for_in_a_shared_room_runs_in_a_new_private_chat() {
    let w = World::new().await;
    let project = "!project:test";
    let outsider = "@visitor:elsewhere.test";
    w.chat.add_room(project, &[STAFF, outsider], false);
    w.say(project, STAFF, "report now");
    let notice = w.chat.wait_for_text(project, "private message").await;
    assert_eq!(notice.kind, Kind::Notice);
    let private = w.chat.wait_for_private_room_of(STAFF).await;
    assert_ne!(private, project);
    w.chat.join(STAFF, &private);
    w.chat.wait_for_text(&private, "Is a crime in progress").await;
    // Chat in the shared room is not an answer, and gets no reply there.
    w.say(project, STAFF, "no");
    w.say(project, outsider, "what is this about?");
    w.answer(&private, "no", "child sexual content").await;
    w.wait_outbox_empty().await;
    assert_eq!(
        w.chat.texts_in(project),
        vec![notice.plain.clone()],
        "only the notice in the shared room\n{}",
        w.chat.dump()
    );
    let room = w.chat.room(&private).expect("the private chat");
    assert!(room.confidential, "the private chat is confidential");
    assert!(room.spec.as_ref().is_some_and(|s| s.direct));
    w.chat.assert_no_resends();
}

/// Someone else comes into a reporter's private chat mid-report: the bot
/// says why it leaves that chat there, and carries on in a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_private_chat_someone_else_joins_is_left_for_a_new_one() {
    let w = World::new().await;
    let private = w.start_report().await;
    w.answer(&private, "no", "child sexual content").await;
    w.chat.invite_user(&private, "@nosy:test");
    w.say(&private, STAFF, "no");
    w.chat
        .wait_for_text(&private, "Someone else is in this chat now")
        .await;
    w.chat
        .wait_until(
            "a new private chat",
            |c| c.private_room_of(STAFF).is_some_and(|r| r != private),
            PATIENCE,
        )
        .await;
    let new = w.chat.private_room_of(STAFF).expect("the new private chat");
    w.chat.join(STAFF, &new);
    let resumed = w
        .chat
        .wait_for_text(&new, "already have a report in progress")
        .await;
    assert!(
        resumed.plain.contains("child sexual content"),
        "{}",
        resumed.plain
    );
    // The answer sent where someone else could read it was not taken.
    assert_eq!(w.chat.count_in(&private, "communicating with a child"), 0);
    w.chat.assert_no_resends();
}

/// An edited answer is not taken: the reporter is told how to change it,
/// and the report keeps what was first sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edited_answer_is_refused_and_the_first_answer_kept() {
    let w = World::new().await;
    let private = w.start_report().await;
    w.answer(&private, "no", "child sexual content").await;
    w.core().accept(Inbound {
        event_id: "$edit1:test".into(),
        room_id: private.clone(),
        sender: STAFF.into(),
        kind: InboundKind::Edit { body: "* yes".into() },
        written_at: None,
    });
    let refused = w.chat.wait_for_text(&private, "I can't take edits").await;
    assert!(refused.plain.contains("Type back"), "{}", refused.plain);
    // Still at the question after the first answer.
    w.answer(&private, "no", "communicating with a child").await;
    assert_eq!(
        w.chat.count_in(&private, "Internet Watch Foundation"),
        0,
        "the edit's yes was not taken"
    );
}

/// An edited rota command is never run: the rota stays as the commands
/// sent left it, and the deputy is told to send the command again. Both
/// ways a Matrix client edits: the new text bare, and the "* " fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edited_rota_command_is_not_applied_and_the_sender_told() {
    use safeguarding_bot::escalation::rota::Rota;
    let w = World::new().await;
    w.say(LEADS_ROOM, DEPUTY, "!back");
    w.chat.wait_for_text(LEADS_ROOM, "You were not marked away").await;
    for (n, body) in ["!away for 3 days", "* !away"].into_iter().enumerate() {
        w.core().accept(Inbound {
            event_id: format!("$edit-away{n}:test"),
            room_id: LEADS_ROOM.into(),
            sender: DEPUTY.into(),
            kind: InboundKind::Edit { body: body.into() },
            written_at: None,
        });
    }
    // The deputy's events are handled in order: once "!help" is answered,
    // so are the edits.
    let since = w.chat.messages_in(LEADS_ROOM).len();
    w.say(LEADS_ROOM, DEPUTY, "!help");
    w.chat
        .wait_for_new(LEADS_ROOM, since, |m| m.plain.contains("!list"), PATIENCE)
        .await;
    w.wait_outbox_empty().await;
    assert_eq!(
        w.chat.count_in(LEADS_ROOM, "marked away until"),
        0,
        "an edit was run as a command\n{}",
        w.chat.dump()
    );
    assert_eq!(
        w.chat.count_in(LEADS_ROOM, "send it again as a new message"),
        2,
        "each edit is answered\n{}",
        w.chat.dump()
    );
    let rota: Option<Rota> = w
        .store()
        .get_item(Tree::Settings, "rota")
        .expect("the store reads");
    assert!(
        !rota.unwrap_or_default().is_away(DEPUTY, chrono::Utc::now()),
        "the deputy is still on duty"
    );
}

/// A picture sent in the private chat is removed by the bot, the removal
/// audited, and the reporter told why and where to report such an image.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_picture_in_the_private_chat_is_removed_and_the_reporter_told_why() {
    let w = World::new().await;
    let private = w.start_report().await;
    w.core().accept(Inbound {
        event_id: "$picture1:test".into(),
        room_id: private.clone(),
        sender: STAFF.into(),
        kind: InboundKind::Attachment,
        written_at: None,
    });
    let told = w.chat.wait_for_text(&private, "I have removed it").await;
    assert!(told.plain.contains("Internet Watch Foundation"), "{}", told.plain);
    w.wait_outbox_empty().await;
    let removed = w.chat.calls().into_iter().any(|c| {
        c.op == Op::Redact
            && c.room.as_deref() == Some(private.as_str())
            && c.key.as_deref() == Some("$picture1:test")
    });
    assert!(removed, "the picture was removed\n{}", w.chat.dump());
    let audited = w
        .store()
        .audit_entries()
        .expect("audit")
        .into_iter()
        .any(|e| e.action == "attachment removed from a private chat" && e.actor == STAFF);
    assert!(audited, "the removal is audited");
}

/// One sender's flood is cut short: past a burst, their messages are not
/// handled, and they are told once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_from_one_sender_gets_a_handful_of_replies_and_one_notice() {
    let w = World::new().await;
    let private = w.start_report().await;
    let before = w.chat.messages_in(&private).len();
    for i in 0..300 {
        w.say(&private, STAFF, &format!("help {i}"));
    }
    w.chat
        .wait_for_text(&private, "faster than I can take them")
        .await;
    w.wait_outbox_empty().await;
    let replies = w.chat.messages_in(&private).len() - before;
    // Here each message is handed over alone, so the worker may handle a
    // few before the next arrives, and those count as turns, not flood:
    // a few more than the burst. On Synapse, where a flood comes in a
    // sync's batch, messy_rooms_e2e holds it to 12.
    assert!(
        replies <= 20,
        "{replies} replies to a flood of 300\n{}",
        w.chat.dump()
    );
    assert_eq!(
        w.chat.count_in(&private, "faster than I can take them"),
        1,
        "told once"
    );
}

/// A reporter who answers the moment each question is delivered, before
/// the bot has finished with their last answer, is in a conversation, not
/// a flood: through a whole report they are never told their messages come
/// too fast, and the report is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reporter_answering_the_instant_each_question_arrives_is_not_a_flood() {
    let w = World::new().await;
    let private = w.start_report().await;
    // What the bot asks, and what the reporter says to it at once.
    let script: Vec<(&str, &str)> = vec![
        ("child sexual content", "no"),
        ("communicating with a child", "no"),
        ("known person", "no"),
        (
            "What did you see or hear",
            "I saw something worrying in a group chat",
        ),
        ("their own words", "skip"),
        ("When did it happen", "this morning"),
        ("Who is involved", "a child, about 12"),
        ("Where online", "a group chat"),
        ("Who else knows", "skip"),
        ("What have you done so far", "skip"),
        ("Which area of risk", "2"),
        ("What is your role", "volunteer"),
        ("anything else", "skip"),
        ("Please check your report", "send"),
    ];
    let answered = std::sync::Mutex::new(vec![false; script.len()]);
    let next = std::sync::atomic::AtomicU64::new(0);
    let core = std::sync::Arc::downgrade(w.core());
    let room = private.clone();
    w.chat.on_send(std::sync::Arc::new(move |to: &str, m: &Message| {
        if to != room {
            return;
        }
        let mut answered = answered.lock().unwrap();
        let Some(i) = (0..script.len()).find(|i| !answered[*i] && m.plain.contains(script[*i].0)) else {
            return;
        };
        answered[i] = true;
        let Some(core) = core.upgrade() else { return };
        let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        core.accept(Inbound {
            event_id: format!("$instant{n}:test"),
            room_id: to.to_string(),
            sender: STAFF.to_string(),
            kind: InboundKind::Text {
                body: script[i].1.to_string(),
                mentions_bot: false,
            },
            written_at: None,
        });
    }));
    w.say(&private, STAFF, "no");
    w.chat
        .wait_for(
            &private,
            |m| m.plain.contains("recorded as") || m.plain.contains("faster than I can take them"),
            PATIENCE,
        )
        .await;
    assert_eq!(
        w.chat.count_in(&private, "faster than I can take them"),
        0,
        "{}",
        w.chat.dump()
    );
    w.chat.wait_for_text(&private, "recorded as").await;
}

/// A message the chat could not decrypt is answered once in the private
/// chat, asking for it again, and is never taken as an answer; in the staff
/// room it is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreadable_message_is_asked_for_again_once_and_only_where_it_is_ours() {
    let w = World::new().await;
    let private = w.start_report().await;
    let staff_before = w.chat.messages_in(STAFF_ROOM).len();
    let locked = |id: &str, room: &str| Inbound {
        event_id: id.into(),
        room_id: room.into(),
        sender: STAFF.into(),
        kind: InboundKind::Undecryptable,
        written_at: None,
    };
    w.core().accept(locked("$locked1:test", &private));
    // The same event handed over again (a resync) is not answered again.
    w.core().accept(locked("$locked1:test", &private));
    w.core().accept(locked("$locked2:test", STAFF_ROOM));
    w.chat.wait_for_text(&private, "send it again").await;
    w.wait_outbox_empty().await;
    assert_eq!(
        w.chat.count_in(&private, "couldn't read your last message"),
        1,
        "{}",
        w.chat.dump()
    );
    assert_eq!(
        w.chat.messages_in(STAFF_ROOM).len(),
        staff_before,
        "{}",
        w.chat.dump()
    );
    // The report is where it was: the next answer still answers the first question.
    let conv = safeguarding_bot::intake::current(w.store(), STAFF)
        .expect("read")
        .expect("the report is still in progress");
    assert!(conv.decisions.is_empty(), "{:?}", conv.decisions);
    assert!(conv.fields.is_empty(), "{:?}", conv.fields);
}

/// When the staff room cannot be read, someone asking to report is not
/// refused as an outsider: they are told the bot cannot check just now,
/// given the public routes, and can report once the room is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn someone_the_bot_cannot_check_is_told_to_try_again_not_refused() {
    let w = World::new().await;
    w.chat.fail_next_for(
        Op::Members,
        STAFF_ROOM,
        ChatError::Transient("the homeserver is restarting".into()),
        1,
    );
    w.say(STAFF_ROOM, STAFF, "/report");
    let told = w
        .chat
        .wait_for_text(STAFF_ROOM, "can't check the staff list")
        .await;
    assert!(told.plain.contains("call 999"), "{}", told.plain);
    assert_eq!(
        w.chat.count_in(STAFF_ROOM, "only take reports from"),
        0,
        "{}",
        w.chat.dump()
    );
    // Asked again once the room can be read, the report starts.
    w.start_report().await;
}

/// A lead who left the concern's room is let back in when they are paged
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lead_who_left_is_invited_again_when_paged_again() {
    let mut w = World::with("ack_timeout = \"1s\"").await;
    w.report("russet-finch-2231").await;
    let (room, _page) = w.paged().await;
    w.wait_outbox_empty().await;
    w.chat.leave(LEAD, &room);
    assert!(!w.chat.room(&room).expect("room").is_member(LEAD));
    // Nobody acknowledges: the next page mentions the lead again.
    w.chat
        .wait_for(
            &room,
            |m| matches!(&m.kind, Kind::Ping(who) if who.iter().any(|u| u == LEAD) && who.len() > 1),
            PATIENCE,
        )
        .await;
    let concern_room = w.chat.room(&room).expect("room");
    assert!(
        concern_room.is_member(LEAD),
        "the lead is invited back\n{}",
        w.chat.dump()
    );
    w.chat.assert_no_resends();
    w.stop().await;
}

/// Someone who is not a lead or deputy and joins a concern's room (let in
/// by a lead, or invited by mistake) is removed at once, the removal is
/// audited, and the room is told who and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn someone_not_a_lead_who_joins_a_concern_room_is_removed() {
    let w = World::new().await;
    w.report("ochre-lynx-4410").await;
    let (room, _page) = w.paged().await;
    w.chat.invite_user(&room, STAFF);
    w.chat.join(STAFF, &room);
    w.core().accept(Inbound {
        event_id: "$joined1:test".into(),
        room_id: room.clone(),
        sender: STAFF.into(),
        kind: InboundKind::Joined,
        written_at: None,
    });
    let told = w.chat.wait_for_text(&room, "I have removed").await;
    assert!(told.plain.contains(name(STAFF)), "{}", told.plain);
    w.wait_outbox_empty().await;
    assert!(
        !w.chat.room(&room).expect("room").is_member(STAFF),
        "{}",
        w.chat.dump()
    );
    // A lead joining changes nothing.
    w.core().accept(Inbound {
        event_id: "$joined2:test".into(),
        room_id: room.clone(),
        sender: LEAD.into(),
        kind: InboundKind::Joined,
        written_at: None,
    });
    w.wait_outbox_empty().await;
    assert_eq!(w.chat.count_in(&room, "I have removed"), 1, "{}", w.chat.dump());
    assert!(w.chat.room(&room).expect("room").is_member(LEAD));
    let audited = w
        .store()
        .audit_entries()
        .expect("audit")
        .into_iter()
        .any(|e| e.action == "removed from a concern's room: not a lead or deputy");
    assert!(audited, "the removal is audited");
}

/// Every question with fixed choices carries them as buttons; pressing one
/// is said back as the answer and answers it, exactly as typing would; a
/// press on a question already answered is not taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pressed_button_is_said_back_and_answers_only_its_own_question() {
    let w = World::new().await;
    let private = w.start_report().await;
    let first = w.chat.wait_for_text(&private, "Is a crime in progress").await;
    let buttons = first.buttons.clone().expect("the first question has buttons");
    let labels: Vec<&str> = buttons.buttons.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["Yes", "No"], "{}", first.plain);
    let press = |id: &str, b: &safeguarding_bot::conversation::Button| {
        w.core().accept(Inbound {
            event_id: id.to_string(),
            room_id: private.clone(),
            sender: STAFF.into(),
            kind: InboundKind::Pressed {
                question: buttons.question.clone(),
                answer: b.answer.clone(),
                label: b.label.clone(),
            },
            written_at: None,
        })
    };
    let since = w.chat.messages_in(&private).len();
    press("$press1:test", &buttons.buttons[1]);
    let next = w
        .chat
        .wait_for_new(
            &private,
            since,
            |m| m.plain.contains("child sexual content"),
            PATIENCE,
        )
        .await;
    let said: Vec<String> = w.chat.texts_in(&private).into_iter().skip(since).collect();
    assert_eq!(said[0], "You answered: No", "said back first: {said:?}");
    assert!(next.buttons.is_some(), "the next question has buttons too");
    // The first question's "Yes", pressed late, is not taken for the
    // question now asked.
    let since = w.chat.messages_in(&private).len();
    press("$press2:test", &buttons.buttons[0]);
    let refused = w
        .chat
        .wait_for_new(
            &private,
            since,
            |m| m.plain.contains("earlier question"),
            PATIENCE,
        )
        .await;
    assert!(
        refused.plain.contains("child sexual content"),
        "{}",
        refused.plain
    );
    // Typing still works, and the record holds the pressed answer.
    w.answer(&private, "no", "communicating with a child").await;
    assert_eq!(w.chat.count_in(&private, "Internet Watch Foundation"), 0);
    assert_eq!(w.chat.count_in(&private, "You answered: Yes"), 0);
}

/// The report in a form (Slack's modal): the same questions, answered in
/// the form, none of them posted; an answer to a question no longer asked
/// is not taken; the urgent instruction and the confirmation, with the
/// reference, also go to the private chat; the page and the record go to
/// the lead as from a private chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_in_a_form_posts_no_answer_and_leaves_the_reference_in_the_private_chat() {
    use safeguarding_bot::bot::{FormAnswer, FormOpen, FormView};
    let w = World::new().await;
    let dm = "!dm-staff:test";
    w.chat.add_room(dm, &[BOT, STAFF], true);
    w.core().adopt_private_chat(STAFF, dm).expect("adopted");
    let FormOpen::Open(first) = w.core().form_open(STAFF, "req1").await.expect("opens") else {
        panic!("a member of staff may report");
    };
    assert!(first.text.contains("Is a crime in progress"), "{}", first.text);
    let FormAnswer::Choose(choices) = &first.answer else {
        panic!("a yes/no question is a choice: {first:?}")
    };
    let labels: Vec<&str> = choices.buttons.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(
        labels,
        ["Yes", "No", "Cancel this report"],
        "nothing can be typed beside them"
    );
    let q1 = first.question.clone().expect("a question");
    let answer = |view: &FormView, answer: Option<&str>, event: &str| {
        let question = view.question.clone().expect("a question is asked");
        let core = w.core().clone();
        let event = event.to_string();
        let answer = answer.map(str::to_string);
        async move {
            core.form_answer(STAFF, &question, answer.as_deref(), &event)
                .await
                .expect("the answer is taken")
        }
    };
    // "Yes": the 999 instruction, in the form and in the private chat.
    let urgent = answer(&first, Some("1"), "f1").await;
    assert!(urgent.text.starts_with("Call 999 now"), "{}", urgent.text);
    let copy = w.chat.wait_for_text(dm, "Call 999 now").await;
    assert!(
        urgent.text.starts_with(&copy.plain) && !copy.plain.contains("What did you see"),
        "the private chat has what to do, without the next question: {:?}",
        copy.plain
    );
    // The same submission again (its acknowledgement lost): not a second
    // answer, and the form says it was saved.
    let replay = w
        .core()
        .form_answer(STAFF, &q1, Some("1"), "f1")
        .await
        .expect("read");
    assert!(
        replay.text.starts_with("I saved your last answer"),
        "{}",
        replay.text
    );
    assert_eq!(replay.question, urgent.question);
    let (room, page) = w.paged().await;
    assert!(page.plain.contains("URGENT"), "{}", page.plain);
    // The first question's form sent again is not a second answer.
    let again = w
        .core()
        .form_answer(STAFF, &q1, Some("2"), "f1b")
        .await
        .expect("read");
    assert_eq!(again.question, urgent.question, "still at the question now asked");
    // The account, typed, with a phrase that must never be posted to the reporter.
    let phrase = "ochre-lantern-6614";
    let mut view = urgent;
    let mut n = 0;
    while view.question.as_deref().is_some_and(|q| !q.ends_with("/review")) {
        n += 1;
        let typed = match &view.answer {
            // The last of the question's own choices (then come back and cancel).
            FormAnswer::Choose(b) => b
                .buttons
                .iter()
                .rev()
                .find(|b| b.answer != "back" && b.answer != "cancel")
                .map(|b| b.answer.clone()),
            FormAnswer::Type { empty: Some(_), .. } => None,
            FormAnswer::Type { empty: None, .. } => Some(format!("I saw {phrase} in a chat")),
            FormAnswer::Done => unreachable!(),
        };
        view = answer(&view, typed.as_deref(), &format!("f-{n}")).await;
        assert!(n < 40, "the form never reached the review: {view:?}");
    }
    assert!(
        view.text.contains(phrase),
        "the review shows the answers: {}",
        view.text
    );
    let FormAnswer::Type { empty, .. } = &view.answer else {
        panic!("the review takes a number or nothing: {view:?}")
    };
    assert_eq!(empty.as_deref(), Some("send"));
    let done = answer(&view, None, "f-send").await;
    assert_eq!(done.answer, FormAnswer::Done);
    assert!(done.text.contains("SG-0001"), "{}", done.text);
    let confirmation = w.chat.wait_for_text(dm, "recorded as SG-0001").await;
    assert!(confirmation.plain.contains("SG-0001"));
    let record = w
        .chat
        .wait_for(&room, |m| m.plain.contains(phrase), PATIENCE)
        .await;
    assert!(record.plain.contains("Urgent: yes"), "{}", record.plain);
    // No answer became a message in the private chat: only the two copies.
    assert_eq!(w.chat.count_in(dm, phrase), 0, "{}", w.chat.dump());
    assert_eq!(w.chat.messages_in(dm).len(), 2, "{}", w.chat.dump());
    // The form opened again says the report has gone, with its reference.
    let FormOpen::Open(after) = w.core().form_open(STAFF, "req2").await.expect("opens") else {
        panic!("still staff")
    };
    assert!(
        after.text.contains("Is a crime in progress"),
        "a new report: {}",
        after.text
    );
}

// ----- Issue 18, points 2 to 4: no page stuck in silence -----

/// Everyone the bot has paged, in order, as the chat saw the calls that
/// went through.
fn pings_for(chat: &MemChat, room: &str, who: &str) -> usize {
    pings(chat, room)
        .iter()
        .filter(|m| matches!(&m.kind, Kind::Ping(people) if people.iter().any(|p| p == who)))
        .count()
}

/// Calls that invited `who` (tried, whether they went through or not).
fn invites_of(chat: &MemChat, who: &str) -> usize {
    chat.calls()
        .iter()
        .filter(|c| c.op == Op::Invite && c.user.as_deref() == Some(who))
        .count()
}

/// Lets `d` of simulated time pass (tokio's paused clock, and the core's
/// clock with it), in steps, so everything due along the way runs.
async fn pass(d: Duration) {
    let step = Duration::from_secs(1);
    let mut gone = Duration::ZERO;
    while gone < d {
        tokio::time::sleep(step).await;
        gone += step;
    }
}

/// A deputy whose invitation fails with an error the adapter does not
/// recognise (a homeserver that does not exist), for 10 simulated minutes:
/// the other deputy is invited and paged on time beside them, the lead's
/// repeat pages go on, the leads' room hears it is still failing before
/// it is given up, then that the deputy could not be invited, and the
/// invitation is not tried for ever.
#[tokio::test(start_paused = true)]
async fn an_invite_failing_with_an_unknown_error_holds_up_no_page_and_is_given_up_in_time() {
    let mut w = World::paused(
        "ack_timeout = \"1 minute\"\ndeputies_all_at_once = true\nrepeat_interval = \"3 minutes\"",
    )
    .await;
    w.chat.fail_always_for(
        Op::Invite,
        DEPUTY,
        ChatError::Transient("M_UNKNOWN: no such homeserver".into()),
    );
    w.report("slate-wren-6120").await;
    let (room, page) = w.paged().await;
    assert_eq!(page.kind, Kind::Ping(vec![LEAD.to_string()]));

    // The lead's minute runs out: both deputies' step. The second deputy
    // is let in and paged at once, whatever happens to the first.
    pass(Duration::from_secs(75)).await;
    assert!(
        w.chat.room(&room).expect("room").is_member(DEPUTY2),
        "the other deputy is invited on time\n{}",
        w.chat.dump()
    );
    assert!(
        pings_for(&w.chat, &room, DEPUTY2) >= 1,
        "the other deputy is paged on time\n{}",
        w.chat.dump()
    );

    // Ten minutes of the first deputy's invitation failing.
    pass(Duration::from_secs(600)).await;
    let leads = w.chat.texts_in(LEADS_ROOM);
    let still = leads.iter().position(|t| t.contains("still trying to invite"));
    let gave_up = leads
        .iter()
        .position(|t| t.contains(&format!("could not invite {}", name(DEPUTY))));
    assert!(
        still.is_some(),
        "the leads hear it is still failing\n{}",
        w.chat.dump()
    );
    assert!(
        gave_up.is_some(),
        "the leads hear it was given up\n{}",
        w.chat.dump()
    );
    assert!(still < gave_up, "told before it is given up: {leads:?}");
    assert!(gave_up.map(|i| leads[i].contains(SG1)) == Some(true), "{leads:?}");
    assert!(escalation(w.store()).unreachable.iter().any(|u| u == DEPUTY));
    // The lead's repeat pages went on meanwhile.
    assert!(
        pings_for(&w.chat, &room, LEAD) >= 3,
        "the repeats are not held up\n{}",
        w.chat.dump()
    );
    // Given up: not tried again.
    let tries = invites_of(&w.chat, DEPUTY);
    pass(Duration::from_secs(300)).await;
    assert_eq!(invites_of(&w.chat, DEPUTY), tries, "not tried for ever");
    w.stop().await;
}

/// A chat that cannot be reached at all is not one effect failing: for 15
/// simulated minutes everything fails, nothing is given up, and once the
/// chat is back the deputies are invited and paged, and nobody is told
/// that anyone could not be reached.
#[tokio::test(start_paused = true)]
async fn a_chat_that_is_down_altogether_gives_nothing_up() {
    let mut w = World::paused("ack_timeout = \"1 minute\"\ndeputies_all_at_once = true").await;
    w.report("umber-stoat-1187").await;
    let (room, _page) = w.paged().await;
    w.wait_outbox_empty().await;
    w.chat
        .fail_everything(ChatError::Transient("connection refused".into()));
    pass(Duration::from_secs(900)).await;
    assert!(
        w.chat.calls().iter().filter(|c| c.result.is_err()).count() >= 5,
        "the deputies were due, and tried, while the chat was down\n{}",
        w.chat.dump()
    );
    w.chat.clear_faults();
    pass(Duration::from_secs(120)).await;
    let concern_room = w.chat.room(&room).expect("room");
    assert!(
        concern_room.is_member(DEPUTY) && concern_room.is_member(DEPUTY2),
        "{}",
        w.chat.dump()
    );
    assert!(pings_for(&w.chat, &room, DEPUTY) >= 1, "{}", w.chat.dump());
    assert!(escalation(w.store()).unreachable.is_empty());
    for text in w.chat.texts_in(LEADS_ROOM) {
        assert!(!text.contains("could not"), "{text}\n{}", w.chat.dump());
    }
    w.stop().await;
}

/// A lead removed from the config (the deputy made lead) while a concern
/// is still being paged: after the restart they are never invited, paged
/// or mentioned again, and the new lead and the other deputy are.
#[tokio::test(start_paused = true)]
async fn a_lead_removed_from_the_config_is_never_invited_or_paged_again() {
    let mut w = World::paused("ack_timeout = \"1 minute\"\nrepeat_interval = \"1 minute\"").await;
    w.report("sable-crane-3304").await;
    let (room, _page) = w.paged().await;
    pass(Duration::from_secs(70)).await;
    assert!(pings_for(&w.chat, &room, DEPUTY) >= 1, "{}", w.chat.dump());
    w.stop().await;

    w.config.safeguarding.lead = DEPUTY.to_string();
    w.config.safeguarding.deputies = vec![DEPUTY2.to_string()];
    let invites_before = invites_of(&w.chat, LEAD);
    let pings_before = pings_for(&w.chat, &room, LEAD);
    let messages_before = w.chat.messages_in(&room).len();
    w.start().await;
    pass(Duration::from_secs(600)).await;
    assert_eq!(
        invites_of(&w.chat, LEAD),
        invites_before,
        "the former lead is never invited again\n{}",
        w.chat.dump()
    );
    assert_eq!(pings_for(&w.chat, &room, LEAD), pings_before, "{}", w.chat.dump());
    for m in w.chat.messages_in(&room).iter().skip(messages_before) {
        if is_ping(m) {
            assert!(!m.plain.contains(LEAD), "mentioned again: {}", m.plain);
        }
    }
    assert!(!w.chat.room(&room).expect("room").is_member(LEAD));
    // The others are still paged.
    assert!(pings_for(&w.chat, &room, DEPUTY2) >= 1, "{}", w.chat.dump());
    assert!(!escalation(w.store()).paged.iter().any(|p| p == LEAD));
    w.stop().await;
}

/// With no leads' room, a page that cannot be sent for good does not tell
/// the reporter "the safeguarding leads have been told": nobody was. They
/// are told what to do now, as the policy says.
#[tokio::test(start_paused = true)]
async fn with_no_leads_room_the_reporter_is_not_told_the_leads_know() {
    let mut w = World::paused_with("", |c| c.safeguarding.leads_room = None).await;
    w.chat.fail_always_for(
        Op::Send,
        LEAD,
        ChatError::Refused("not allowed to post here".into()),
    );
    let private = w.report("teal-mole-5521").await;
    pass(Duration::from_secs(30)).await;
    let texts = w.chat.texts_in(&private);
    assert!(
        texts.iter().all(|t| !t.contains("leads have been told")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("take action yourself")),
        "the reporter is told what to do now\n{}",
        w.chat.dump()
    );
    w.stop().await;
}

/// When no lead or deputy can be let into the concern's room, the reporter
/// is told at once what to do now, not after every repeat has run out; the
/// leads' room names each who could not be reached.
#[tokio::test(start_paused = true)]
async fn when_nobody_can_be_reached_the_reporter_is_told_what_to_do_now() {
    let mut w = World::paused("ack_timeout = \"1 hour\"").await;
    w.chat
        .fail_always(Op::Invite, ChatError::Refused("not allowed to invite".into()));
    let private = w.report("plum-egret-8842").await;
    pass(Duration::from_secs(60)).await;
    let told = w
        .chat
        .texts_in(&private)
        .into_iter()
        .filter(|t| t.contains("take action yourself"))
        .count();
    assert_eq!(told, 1, "told once, at once\n{}", w.chat.dump());
    for who in [LEAD, DEPUTY, DEPUTY2] {
        assert_eq!(
            w.chat
                .count_in(LEADS_ROOM, &format!("could not invite {}", name(who))),
            1,
            "{}",
            w.chat.dump()
        );
    }
    w.stop().await;
}

/// "paged" is audited when the page was delivered, not when it was decided:
/// while the chat refuses it for a while, the audit says it is queued.
#[tokio::test(start_paused = true)]
async fn a_page_is_audited_as_paged_only_once_delivered() {
    let mut w = World::paused("").await;
    w.chat
        .fail_next_pages(ChatError::Transient("timed out".into()), 3);
    w.report("jade-ibis-2205").await;
    w.chat
        .wait_until("a page tried", |c| c.failed_calls_of(Op::Send) >= 1, PATIENCE)
        .await;
    let actions = |w: &World| -> Vec<String> {
        w.store()
            .audit_entries()
            .expect("audit")
            .into_iter()
            .map(|e| e.action)
            .collect()
    };
    let before = actions(&w);
    assert!(
        !before.iter().any(|a| a == "paged"),
        "not delivered yet: {before:?}"
    );
    assert!(before.iter().any(|a| a.contains("queued")), "{before:?}");
    let (_room, _page) = w.paged().await;
    w.wait_outbox_empty().await;
    let after = actions(&w);
    assert_eq!(after.iter().filter(|a| *a == "paged").count(), 1, "{after:?}");
    w.stop().await;
}

/// The answer that sent a report, handled again after the bot was killed
/// between keeping what it decided and marking it handled: its effects were
/// kept with the decision and go out once, and nothing more is said (it is
/// not taken as a message with no report in progress, "how to start").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_answer_that_sent_a_report_handled_again_after_a_kill_says_nothing_more() {
    let mut w = World::new().await;
    let private = w.start_report().await;
    w.answer_to_check(&private, "I saw ochre-vole-5521", "today", "a child")
        .await;
    let since = w.chat.messages_in(&private).len();
    let send = w.say(&private, STAFF, "send");
    w.chat
        .wait_for_new(&private, since, |m| m.plain.contains("recorded as"), PATIENCE)
        .await;
    w.wait_outbox_empty().await;
    w.stop().await;

    // As the kill left it: the report sent, the answer still in the inbox.
    {
        let store = w.open_store();
        store
            .inbox_forget_done(chrono::DateTime::<chrono::Utc>::MAX_UTC)
            .expect("the done ids forgotten");
        let again = Inbound {
            event_id: send.clone(),
            room_id: private.clone(),
            sender: STAFF.to_string(),
            kind: InboundKind::Text {
                body: "send".into(),
                mentions_bot: false,
            },
            written_at: None,
        };
        assert!(store.inbox_push(&send, &again).expect("kept"), "pending again");
    }
    w.start().await;
    let deadline = std::time::Instant::now() + PATIENCE;
    while !w
        .store()
        .inbox_pending::<Inbound>()
        .expect("the inbox")
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the answer was never handled again"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    w.wait_outbox_empty().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        w.chat.count_in(&private, "To report a safeguarding concern"),
        0,
        "{}",
        w.chat.dump()
    );
    assert_eq!(
        w.chat.count_in(&private, "recorded as SG-"),
        1,
        "{}",
        w.chat.dump()
    );
    w.stop().await;
}
