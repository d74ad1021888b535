//! The leads' follow-up in chat, end to end on a real Synapse: notes,
//! decisions with reasons, the reporter's `!add`, `!show`, `!list`, the
//! export uploaded as an encrypted file, closing, and need-to-know access.

use crate::common;
use crate::common::matrix as harness;

use common::captured_log;
use harness::{bot_account, homeserver, BotRun, Person, Received};
use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use safeguarding_bot::casework::retention;
use safeguarding_bot::store::{Key, Store};
use tempfile::TempDir;

fn from<'a>(bot: &'a str, room: &'a RoomId, text: &'a str) -> impl Fn(&Received) -> bool + 'a {
    move |m: &Received| m.sender == bot && m.room == room && m.body.contains(text)
}

async fn say_and_wait(p: &Person, bot: &str, room: &RoomId, text: &str, expect: &str) -> Received {
    p.say(room, text).await;
    p.wait_for(expect, from(bot, room, expect)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lead_records_a_decision_and_closes_and_the_reporter_hears_only_that_it_closed() {
    let hs = homeserver();
    let (lead, deputy, staff) = tokio::join!(
        Person::new(hs, "lead"),
        Person::new(hs, "deputy"),
        Person::new(hs, "staff"),
    );
    let account = bot_account(hs).await;
    let bot = account.user_id.clone();
    let staff_room: OwnedRoomId = staff
        .create_encrypted_room("Staff", &[&lead.user_id, &deputy.user_id, &bot])
        .await
        .room_id()
        .to_owned();
    // A leads' room that a member of staff was added to by mistake.
    let leads_room: OwnedRoomId = lead
        .create_encrypted_room("Leads", &[&deputy.user_id, &staff.user_id, &bot])
        .await
        .room_id()
        .to_owned();
    let data = TempDir::new().expect("tempdir");
    let config = harness::bot_config_with(
        hs,
        &account,
        data.path(),
        staff_room.as_str(),
        &lead.user_id,
        &[&deputy.user_id],
        &format!("leads_room = \"{leads_room}\""),
    );
    let run = BotRun::start(config);
    staff.wait_for_member(&staff_room, &bot).await;
    lead.wait_for_member(&leads_room, &bot).await;
    staff.wait_for_member(&leads_room, &staff.user_id).await;

    // A report, quickly through the CLAPA flowchart.
    let phrase = "amber-heron-3317";
    staff.say(&staff_room, "/report").await;
    let first = staff
        .wait_for("the first question", |m| {
            m.sender == bot && m.body.contains("Is a crime in progress")
        })
        .await;
    let private = first.room.clone();
    for (answer, next) in [
        ("no", "child sexual content"),
        ("no", "communicating with a child"),
        ("no", "known person"),
        ("no", "What did you see or hear"),
        (
            &format!("I saw {phrase} in a group chat") as &str,
            "their own words",
        ),
        ("skip", "When did it happen"),
        ("this morning", "Who is involved"),
        ("a child, about 12", "Where online"),
        ("a group chat, account @someone", "Who else knows"),
        ("skip", "What have you done so far"),
        ("skip", "Which area of risk"),
        ("2", "What is your role"),
        ("volunteer", "anything else"),
        ("skip", "Please check your report"),
        ("send", "recorded as SG-0001"),
    ] {
        say_and_wait(&staff, &bot, &private, answer, next).await;
    }
    // What the reporter wrote, and the bot's summary of it, in their private
    // chat: both go when the concern is deleted.
    let their_answer = staff
        .seen_in(&private)
        .into_iter()
        .find(|m| m.sender == staff.user_id && m.body.contains(phrase))
        .expect("the reporter's answer is in their private chat");
    let summary = staff
        .seen_in(&private)
        .into_iter()
        .find(|m| m.sender == bot && m.body.contains("Please check your report") && m.body.contains(phrase))
        .expect("the summary holds the answer");
    let page = lead
        .wait_for("the page", |m| {
            m.sender == bot && m.body.contains("SG-0001") && m.body.contains("!ack")
        })
        .await;
    let concern_room = page.room.clone();
    let record = lead
        .wait_for("the record", from(&bot, &concern_room, phrase))
        .await;
    say_and_wait(&lead, &bot, &concern_room, "!ack", "acknowledged by").await;

    // The lead follows up in the concern's room.
    let note = "Phoned the parent, who will keep the chat log";
    let reply = say_and_wait(
        &lead,
        &bot,
        &concern_room,
        &format!("!note {note}"),
        "Noted as entry",
    )
    .await;
    assert_eq!(reply.body, "Noted as entry 1 of SG-0001.");
    let refused = say_and_wait(
        &lead,
        &bot,
        &concern_room,
        "!decision refer to the police",
        "needs its reason",
    )
    .await;
    assert!(refused.body.contains("Nothing was recorded"), "{}", refused.body);
    let reason = "the adult asked the child to meet in person";
    say_and_wait(
        &lead,
        &bot,
        &concern_room,
        &format!("!decision refer to the police because {reason}"),
        "Decision and its reason recorded as entry 2",
    )
    .await;
    say_and_wait(
        &lead,
        &bot,
        &concern_room,
        "!category grooming",
        "Contact: grooming",
    )
    .await;

    // The reporter adds to their own concern; the leads see it in the concern's room.
    let addition = "the account also messaged my colleague";
    let their_addition = staff.say(&private, &format!("!add SG-0001 {addition}")).await;
    staff
        .wait_for(
            "the addition kept",
            from(&bot, &private, "I have added that to SG-0001"),
        )
        .await;
    lead.wait_for("the addition", from(&bot, &concern_room, addition))
        .await;

    // !show gives the whole record and chronology.
    lead.say(&concern_room, "!show").await;
    let shown = lead
        .wait_for("the record shown", from(&bot, &concern_room, "Chronology"))
        .await;
    for expected in [
        phrase,
        note,
        reason,
        "Acknowledged",
        "Added by the reporter",
        addition,
        "grooming",
    ] {
        assert!(
            shown.body.contains(expected),
            "!show lacks {expected:?}:\n{}",
            shown.body
        );
    }

    // Need to know: a member of staff can neither list nor show, in the
    // leads' room or privately, and learns nothing from trying.
    for (room, command) in [
        (&leads_room, "!list"),
        (&leads_room, "!show SG-0001"),
        (&private, "!show SG-0001"),
        (&private, "!list"),
    ] {
        let r = say_and_wait(&staff, &bot, room, command, "Only the Lead or a Deputy").await;
        assert!(
            !r.body.contains(phrase) && !r.body.contains("SG-0001"),
            "{command}: {}",
            r.body
        );
    }

    // Nor is anything shown to the lead while someone else is in the room.
    let refused = say_and_wait(&lead, &bot, &leads_room, "!list", "not the Lead or a Deputy").await;
    assert!(
        refused.body.contains(&staff.name) && !refused.body.contains(&staff.user_id),
        "names who is in the way: {}",
        refused.body
    );
    assert!(!refused.body.contains("SG-0001"), "{}", refused.body);
    staff
        .room(&leads_room)
        .leave()
        .await
        .expect("staff leaves the leads' room");

    // The lead lists open concerns in the leads' room.
    let list = say_and_wait(&lead, &bot, &leads_room, "!list", "open concern").await;
    assert!(list.body.contains("SG-0001"), "{}", list.body);
    assert!(
        list.body.contains(&format!("acknowledged by {}", lead.name)),
        "{}",
        list.body
    );
    let one = say_and_wait(&deputy, &bot, &leads_room, "!show SG-0001", "Chronology").await;
    assert!(one.body.contains(reason), "{}", one.body);

    // The export arrives in the concern's room as a file, and holds the record and chronology.
    lead.say(&concern_room, "!export").await;
    let file = lead
        .wait_for("the export", |m| {
            m.sender == bot && m.room == concern_room && m.file.is_some()
        })
        .await;
    let file = file.file.expect("a file");
    assert!(file.filename().ends_with("SG-0001.pdf"), "{}", file.filename());
    assert!(
        matches!(
            file.source,
            matrix_sdk::ruma::events::room::MediaSource::Encrypted(_)
        ),
        "the export is encrypted in an encrypted room"
    );
    let pdf = lead.download(&file).await;
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    let text = pdf_extract::extract_text_from_mem(&pdf).expect("the PDF's text");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in [
        "Test Charity",
        "SG-0001",
        phrase,
        "Chronology",
        "Decision",
        reason,
        note,
        addition,
    ] {
        assert!(flat.contains(expected), "the PDF lacks {expected:?}:\n{flat}");
    }

    // Closing asks which outcome, from the organisation's list.
    let choices = say_and_wait(&lead, &bot, &concern_room, "!close", "Which outcome?").await;
    assert!(
        choices.body.contains("6 Referred to the police") && choices.body.contains("Nothing was recorded"),
        "{}",
        choices.body
    );
    // Closing tells the reporter it is closed, and nothing the leads wrote.
    let outcome = "PC Jones has the log, no further action by the charity";
    let closed = say_and_wait(
        &lead,
        &bot,
        &concern_room,
        &format!("!close 6 {outcome}"),
        "SG-0001 is closed",
    )
    .await;
    assert!(
        closed
            .body
            .contains("The reporter has been told it is closed, not the outcome."),
        "{}",
        closed.body
    );
    let told = staff
        .wait_for("the reporter told", from(&bot, &private, "has been closed"))
        .await;
    assert!(told.body.contains("SG-0001"), "{}", told.body);
    for m in staff.seen_in(&private) {
        for secret in [note, reason, outcome, "grooming"] {
            assert!(
                !m.body.contains(secret),
                "the reporter saw {secret:?}: {}",
                m.body
            );
        }
    }
    for m in staff.seen_in(&leads_room) {
        for secret in [phrase, note, reason, outcome] {
            assert!(
                !m.body.contains(secret),
                "staff saw {secret:?} in the leads' room: {}",
                m.body
            );
        }
    }
    let list = say_and_wait(&lead, &bot, &leads_room, "!list", "no open concerns").await;
    assert!(!list.body.contains("SG-0001"), "{}", list.body);
    let stats = say_and_wait(
        &lead,
        &bot,
        &leads_room,
        "!stats since 1 January 2026",
        "1 concern reported",
    )
    .await;
    for expected in [
        "0 open",
        "1 closed",
        "Contact: 1",
        "Record the concern: 1",
        "Referred to the police: 1",
        "Time to acknowledge",
    ] {
        assert!(
            stats.body.contains(expected),
            "!stats lacks {expected:?}:\n{}",
            stats.body
        );
    }
    assert!(
        !stats.body.contains(outcome),
        "the figures hold what the lead added to the outcome:\n{}",
        stats.body
    );
    say_and_wait(&staff, &bot, &private, "!stats", "Only the Lead or a Deputy").await;

    // Nothing of the concern in the staff room or the log.
    for m in staff.seen_in(&staff_room) {
        assert!(
            !m.body.contains(phrase) && !m.body.contains(note),
            "staff room: {}",
            m.body
        );
    }
    let log = captured_log();
    for secret in [phrase, note, reason, outcome, addition] {
        assert!(!log.contains(secret), "the log holds {secret:?}");
    }

    // Every view, export and change is audited, and the chain holds.
    let config = run.stop().await;
    let key = Key::load_or_create(&config.storage.key_file).expect("key");
    let store = Store::open(&config.storage.data_dir.join("store"), key).expect("store");
    store.verify_audit().expect("the audit log is intact");
    let entries = store.audit_entries().expect("audit");
    let has = |actor: &str, action: &str| {
        entries.iter().any(|e| {
            e.actor == actor
                && e.action == action
                && e.reference.as_ref().is_none_or(|r| r.to_string() == "SG-0001")
        })
    };
    assert!(has(&lead.user_id, "viewed"), "the lead's !show is audited");
    assert!(has(&deputy.user_id, "viewed"), "the deputy's !show is audited");
    assert!(has(&lead.user_id, "exported"), "the export is audited");
    assert!(has(&lead.user_id, "casefile entry added"), "changes are audited");
    assert!(
        has(&staff.user_id, "refused: not a lead or deputy"),
        "refusals are audited"
    );
    assert!(
        has(&staff.user_id, "reporter added"),
        "the reporter's addition is audited"
    );
    for e in &entries {
        for secret in [phrase, note, reason, outcome, addition] {
            assert!(!e.detail.contains(secret), "audit detail holds {secret:?}");
        }
    }

    // Years later, with the bot stopped, retention deletes it from the
    // command line's side; when the bot starts it removes the messages from
    // the concern's room and leaves it.
    let later = chrono::Utc::now() + chrono::Duration::days(7 * 366);
    let gone = retention::sweep(
        &store,
        config.safeguarding.retention,
        later,
        false,
        "command line",
    )
    .expect("retention");
    assert_eq!(gone.len(), 1, "the closed concern is deleted");
    assert!(store.get_concern(&gone[0]).expect("store").is_none());
    drop(store);
    let run = BotRun::start(config);
    lead.wait_for("the room cleared", from(&bot, &concern_room, "has been deleted"))
        .await;
    let content = content_now(&lead, &concern_room, &record.event_id).await;
    assert!(
        content.as_object().is_none_or(|c| c.is_empty()),
        "the record's message is redacted: {content}"
    );
    // The deputy's !show in the leads' room was a copy of the record: it is
    // removed too, and the leads' room itself stays.
    let content = content_now(&lead, &leads_room, &one.event_id).await;
    assert!(
        content.as_object().is_none_or(|c| c.is_empty()),
        "the !show in the leads' room is redacted: {content}"
    );
    // In the reporter's private chat: their answer, the bot's summary, their
    // !add and the notice that it closed.
    for (what, event) in [
        ("answer", &their_answer.event_id),
        ("summary", &summary.event_id),
        ("addition", &their_addition),
        ("closing notice", &told.event_id),
    ] {
        let content = content_now(&staff, &private, event).await;
        assert!(
            content.as_object().is_none_or(|c| c.is_empty()),
            "the reporter's {what} in their private chat is redacted: {content}"
        );
    }
    let content = content_now(&lead, &leads_room, &list.event_id).await;
    assert!(
        content.as_object().is_some_and(|c| !c.is_empty()),
        "a later !list, which holds nothing of the concern, is kept: {content}"
    );
    run.stop().await;
}

/// An event's content as the homeserver gives it now (empty once redacted).
async fn content_now(person: &Person, room: &RoomId, event: &matrix_sdk::ruma::EventId) -> serde_json::Value {
    person
        .room(room)
        .event(event, None)
        .await
        .expect("the event")
        .raw()
        .get_field::<serde_json::Value>("content")
        .expect("content")
        .unwrap_or_default()
}
