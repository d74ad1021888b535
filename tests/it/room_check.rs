//! Only leads and deputies in a concern's room, on the in-memory chat: the
//! check when someone joins does not give up when the chat cannot list the
//! room's members at that moment, and nothing is sent to the room while
//! someone who is not a lead or deputy is in it.
//!
//! People: the lead `@lead:test`, the deputy `@deputy:test`, a member of
//! staff `@staff:test` who reports, and `@outsider:test`, let into the
//! concern's room by mistake.

use crate::common;

use std::time::Duration;

use common::core_world::{World, LEAD};
use common::memchat::{Op, PATIENCE};
use safeguarding_bot::bot::{ChatError, InboundKind, Message};

const OUTSIDER: &str = "@outsider:test";
const REMOVED: &str = "I have removed";
const AUDITED: &str = "removed from a concern's room: not a lead or deputy";

/// A whole report through the CLAPA flow, with `phrase` in what was seen;
/// returns the concern's room once the page and the record are there and
/// nothing is left to send.
async fn reported(w: &World, phrase: &str) -> String {
    w.report(phrase).await;
    let (room, _, _) = w.paged_with_record(phrase).await;
    w.wait_outbox_empty().await;
    room
}

/// How many times the removal of `user` is in the audit log.
fn removals_audited(w: &World, user: &str) -> usize {
    w.store()
        .audit_entries()
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == AUDITED && e.detail == user)
        .count()
}

fn shown(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.plain.as_str()).collect()
}

/// The chat cannot list the room's members the first two times it is
/// asked after someone who is not a lead walks in: the bot asks again, and
/// they are still removed, audited, and the room told.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outsider_is_removed_even_when_listing_the_room_fails_twice_at_the_join() {
    let mut w = World::new().await;
    let room = reported(&w, "teal-marten-3302").await;
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
    assert_eq!(removals_audited(&w, OUTSIDER), 1);
    assert_eq!(w.chat.count_in(&room, REMOVED), 1, "{}", w.chat.dump());
    w.stop().await;
}

/// A lead's `!show` is held up in the outbox (the chat asks to slow down)
/// and, meanwhile, someone who is not a lead is invited to the room (the
/// bot has not seen the invitation yet). The record is not sent while
/// they are there: they are removed first, and see none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_show_never_reaches_an_outsider_invited_meanwhile() {
    let mut w = World::new().await;
    let phrase = "amber-finch-6127";
    let room = reported(&w, phrase).await;
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
    assert_eq!(removals_audited(&w, OUTSIDER), 1);
    w.chat.assert_no_resends();
    w.stop().await;
}

/// A lead's `!show` is held up in the outbox, someone who is not a lead is
/// let in meanwhile, and the chat will not let the bot remove them: the
/// record waits, and is sent only once they are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_show_waits_while_an_outsider_cannot_be_removed() {
    let mut w = World::new().await;
    let phrase = "slate-heron-4418";
    let room = reported(&w, phrase).await;
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
