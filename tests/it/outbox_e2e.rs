//! The outbox against a homeserver that fails, end to end on a real Synapse.
//!
//! The bot talks to Synapse through a fault-injecting proxy
//! ([`proxy::FaultProxy`]); the people talk to Synapse directly. The proxy
//! refuses, once each, the request that makes the concern's escalation room
//! and the first send into that room (the page). The bot must try both
//! again and page the lead exactly once, the record must follow, and the
//! reporter must get their reference and never be told anything false.

use crate::common;
use crate::common::matrix as harness;
use crate::common::proxy;

use std::time::{Duration, Instant};

use common::captured_log;
use harness::{bot_account, homeserver, BotRun, Person, Received};
use matrix_sdk::ruma::RoomId;
use proxy::{Fault, FaultProxy};
use tempfile::TempDir;

/// What the bot said, where (any room if `room` is None), containing `text`.
fn bot_said<'a>(bot: &'a str, room: Option<&'a RoomId>, text: &'a str) -> impl Fn(&Received) -> bool + 'a {
    move |m: &Received| m.sender == bot && room.is_none_or(|r| m.room == r) && m.body.contains(text)
}

async fn answer(staff: &Person, bot: &str, private: &RoomId, text: &str, expect: &str) -> Received {
    staff.say(private, text).await;
    staff.wait_for(expect, bot_said(bot, Some(private), expect)).await
}

/// A whole non-urgent report with the escalation room and the page each
/// refused once by `fault`.
async fn report_through_a_failing_homeserver(fault: Fault) {
    let t0 = Instant::now();
    let lap = |what: &str| eprintln!("[{fault:?}] {:>6.1} s  {what}", t0.elapsed().as_secs_f64());
    let hs = homeserver();
    let (lead, staff) = tokio::join!(Person::new(hs, "lead"), Person::new(hs, "staff"));
    let account = bot_account(hs).await;
    let bot = account.user_id.clone();
    let staff_room = staff
        .create_encrypted_room("Staff", &[&lead.user_id, &account.user_id])
        .await
        .room_id()
        .to_owned();
    let proxy = FaultProxy::start(&hs.url, fault).await;
    let data = TempDir::new().expect("tempdir");
    let mut config = harness::bot_config_with(
        hs,
        &account,
        data.path(),
        staff_room.as_str(),
        &lead.user_id,
        &[],
        "",
    );
    // Only the bot goes through the proxy.
    config.matrix.homeserver_url = proxy.url.clone();
    let run = BotRun::start(config);
    staff.wait_for_member(&staff_room, &bot).await;
    // After its first login the bot keeps to the configured address (the
    // proxy), not the well-known one in Synapse's login answer.
    let before_report = proxy.seen().requests;
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.seen().syncs == 0 {
        assert!(
            Instant::now() < deadline,
            "the bot never synced through the proxy after logging in"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lap("the bot is in the staff room, syncing through the proxy");

    // The report, as in matrix_e2e: not urgent, so the lead is paged on "send".
    let phrase = "cobalt-lynx-4417";
    staff.say(&staff_room, "/report").await;
    staff
        .wait_for(
            "the staff-room notice",
            bot_said(&bot, Some(&staff_room), "private message"),
        )
        .await;
    let private = staff
        .wait_for(
            "the first question",
            bot_said(&bot, None, "Is a crime in progress"),
        )
        .await
        .room;
    assert_ne!(private, staff_room);
    lap("the private chat is open");
    let a = |text: &'static str, expect: &'static str| answer(&staff, &bot, &private, text, expect);
    a("no", "child sexual content").await;
    a("no", "communicating with a child").await;
    a("no", "known person").await;
    a("no", "What did you see or hear").await;
    staff
        .say(&private, &format!("I saw {phrase} in a group chat"))
        .await;
    staff
        .wait_for(
            "their own words",
            bot_said(&bot, Some(&private), "their own words"),
        )
        .await;
    a("skip", "When did it happen").await;
    a("this morning", "Who is involved").await;
    a("a child, about 12", "Where online").await;
    a("a group chat, account @someone", "Who else knows").await;
    a("skip", "What have you done so far").await;
    a("skip", "Which area of risk").await;
    a("2", "What is your role").await;
    a("volunteer", "anything else").await;
    a("skip", "Please check your report").await;
    let send_event = staff.say(&private, "send").await;
    let recorded = staff
        .wait_for("the reference", bot_said(&bot, Some(&private), "recorded as SG-"))
        .await;
    assert!(recorded.body.contains("SG-0001"), "{}", recorded.body);
    lap("the reporter has their reference");

    // The page and the record reach the lead, through both refusals.
    let page = lead
        .wait_for("the page", |m| m.sender == bot && m.body.contains("!ack"))
        .await;
    lap("the lead is paged");
    assert!(page.body.contains("SG-0001"), "{}", page.body);
    assert!(
        page.mentions_me,
        "the page mentions the lead so their phone rings"
    );
    assert!(!page.body.contains(phrase), "the page carries no detail");
    let room = page.room.clone();
    let record = lead
        .wait_for("the record", bot_said(&bot, Some(&room), phrase))
        .await;
    assert!(record.body.contains("Record the concern"), "{}", record.body);
    lap("the record follows");

    // Time for a second page, or an apology, to show if one were coming.
    tokio::time::sleep(Duration::from_secs(5)).await;

    // The proxy refused both requests, so this did not pass vacuously.
    let seen = proxy.seen();
    eprintln!("[{fault:?}] the proxy saw {} requests", seen.requests);
    eprintln!("[{fault:?}] createRoom: {:#?}", seen.create_rooms);
    eprintln!(
        "[{fault:?}] sends into the escalation room: {:#?}",
        seen.escalation_sends
    );
    assert!(
        seen.errors.is_empty(),
        "the proxy failed to carry: {:?}",
        seen.errors
    );
    assert_eq!(seen.logins, 1, "one login");
    assert!(
        seen.requests > before_report + 20,
        "the bot's traffic after its first login went through the proxy"
    );
    assert_eq!(
        seen.create_room_faults, 1,
        "the escalation room's createRoom was refused once"
    );
    assert_eq!(seen.page_faults, 1, "the page's send was refused once");
    let escalation: Vec<_> = seen.create_rooms.iter().filter(|c| !c.direct).collect();
    assert!(
        escalation[0].faulted,
        "the first non-direct createRoom was the one refused"
    );
    assert_eq!(
        escalation[0].name.as_deref(),
        Some("Safeguarding concern SG-0001"),
        "the room refused was the concern's room"
    );
    assert!(
        seen.create_rooms.iter().any(|c| c.direct && !c.faulted),
        "the reporter's private chat (is_direct) went through untouched"
    );
    assert_eq!(
        escalation.len(),
        2,
        "the room was asked for again exactly once: {escalation:#?}"
    );
    match fault {
        Fault::LoseAnswer => {
            // Synapse made the room the first time; the second ask finds it by its alias.
            assert_eq!(escalation[0].status, Some(200));
            assert_eq!(escalation[1].errcode.as_deref(), Some("M_ROOM_IN_USE"));
        }
        Fault::Drop | Fault::BadGateway => {
            assert_eq!(
                escalation[0].status, None,
                "Synapse never saw the refused request"
            );
            assert_eq!(escalation[1].status, Some(200));
        }
    }
    assert_eq!(
        seen.escalation_room.as_deref(),
        Some(room.as_str()),
        "the page is in the room Synapse made for the concern"
    );
    let sends = &seen.escalation_sends;
    assert!(
        sends.len() >= 3,
        "the refused page, the page again, and the record: {sends:#?}"
    );
    assert!(sends[0].faulted && !sends[1].faulted);
    assert_eq!(
        sends[1].txn, sends[0].txn,
        "the page was tried again with the same transaction id, so it cannot show twice"
    );
    assert_eq!(sends[1].status, Some(200));
    assert_eq!(
        sends.iter().filter(|s| s.txn == sends[0].txn).count(),
        2,
        "the page was sent twice on the wire (refused, then taken), no more"
    );
    assert_eq!(Some(&page.event_id.to_string()), sends[1].event_id.as_ref());

    // The lead was paged exactly once, and the room holds the page and the record.
    let in_room: Vec<Received> = lead
        .seen_in(&room)
        .into_iter()
        .filter(|m| m.sender == bot)
        .collect();
    let pages = in_room.iter().filter(|m| m.body.contains("!ack")).count();
    let mentions = in_room.iter().filter(|m| m.mentions_me).count();
    assert_eq!(pages, 1, "the lead is paged exactly once: {in_room:#?}");
    assert_eq!(mentions, 1, "the lead's phone rang once: {in_room:#?}");
    assert!(
        in_room.iter().all(|m| m.body != "(unable to decrypt)"),
        "every message of the bot's in the room can be read: {in_room:#?}"
    );
    let lead_rooms = lead
        .client
        .rooms()
        .into_iter()
        .filter(|r| r.room_id() != staff_room)
        .count();
    assert_eq!(lead_rooms, 1, "the lead was brought into one concern room");

    // The reporter was told nothing false, and has their reference.
    let told: Vec<String> = staff
        .seen_in(&private)
        .into_iter()
        .filter(|m| m.sender == bot)
        .map(|m| m.body)
        .collect();
    for body in &told {
        for false_word in ["could not save", "send it again", "had trouble passing it on"] {
            assert!(
                !body.contains(false_word),
                "the reporter was told {false_word:?}: {body}"
            );
        }
    }
    assert_eq!(
        told.iter().filter(|b| b.contains("recorded as SG-0001")).count(),
        1,
        "the reporter got their reference once: {told:#?}"
    );

    let log = captured_log();
    assert!(
        !log.contains("an effect failed for good"),
        "no effect was given up"
    );
    assert!(!log.contains(phrase), "the concern's words are not logged");
    if fault != Fault::BadGateway {
        // The bot's own outbox tried both again (the SDK does not retry a
        // connection closed on it), keyed from the reporter's "send".
        for what in ["-room", "-page"] {
            let key = format!("key={send_event}/");
            assert!(
                log.lines()
                    .any(|l| l.contains("could not carry out an effect yet")
                        && l.contains(&key)
                        && l.contains(&format!("{what} retry_in="))),
                "the outbox tried the {what} effect again"
            );
        }
    }
    run.stop().await;
    lap("done");
}

/// The refused requests never reach Synapse: the connection closes unanswered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_concern_room_and_the_page_refused_once_still_page_the_lead_once() {
    report_through_a_failing_homeserver(Fault::Drop).await;
}

/// Synapse acts on both requests, but the answers are lost on the way back:
/// the room is found by its alias, and the page's transaction id makes the
/// second send the same message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_concern_room_and_the_page_with_answers_lost_still_page_the_lead_once() {
    report_through_a_failing_homeserver(Fault::LoseAnswer).await;
}

/// A reverse proxy's 502 with an HTML body. The SDK treats a 5xx as
/// transient and retries it itself (its default request config), so the
/// outbox never sees this one; what is checked is the outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_concern_room_and_the_page_answered_502_still_page_the_lead_once() {
    report_through_a_failing_homeserver(Fault::BadGateway).await;
}
