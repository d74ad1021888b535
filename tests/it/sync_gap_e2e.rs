//! A sync gap on a real Synapse: what was said while the bot was stopped is
//! all fetched when it starts again, however much was said, and even if it
//! stops again before it could fetch it.

use crate::common::matrix as harness;
use crate::common::proxy;
use crate::common::world;

use std::time::{Duration, Instant};

use harness::{bot_account, homeserver, BotRun, Person, Received};
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;
use matrix_sdk::ruma::RoomId;
use proxy::{Fault, FaultProxy};
use tempfile::TempDir;

/// `person` says `n` ordinary lines in `room`: the first alone, so the
/// encryption session is shared before the rest go twenty at a time.
async fn chatter(person: &Person, room: &RoomId, n: usize) {
    let room = person.room(room);
    let send = |i: usize| {
        let room = room.clone();
        async move {
            room.send(RoomMessageEventContent::text_plain(format!(
                "ordinary chat, line {i}: who is bringing the biscuits?"
            )))
            .await
            .expect("a chat line is sent");
        }
    };
    send(0).await;
    for chunk in (1..n).collect::<Vec<_>>().chunks(20) {
        futures_util::future::join_all(chunk.iter().map(|i| send(*i))).await;
    }
}

fn first_question<'a>(bot: &'a str) -> impl Fn(&Received) -> bool + 'a {
    move |m: &Received| m.sender == bot && m.body.contains("Is a crime in progress")
}

/// While the bot is stopped, `/report` in the staff room is followed by
/// 250 ordinary lines: far more than one sync gives. Started again, the bot
/// fetches all it missed, and the reporter gets their first question.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_followed_by_250_lines_while_the_bot_was_stopped_is_answered() {
    let mut w = world::world().await;
    // Let the bot's sync pass its own join before it stops.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let config = w.bot.take().expect("running").stop().await;

    w.staff.say(&w.staff_room, "/report").await;
    chatter(&w.lead, &w.staff_room, 250).await;

    w.bot = Some(BotRun::start(config));
    let first = w
        .staff
        .wait_for("the first question", first_question(&w.bot_id))
        .await;
    assert_ne!(first.room, w.staff_room, "the questions come privately");
    let notices: Vec<String> = w
        .staff
        .seen_in(&w.staff_room)
        .into_iter()
        .filter(|m| m.sender == w.bot_id)
        .map(|m| m.body)
        .collect();
    assert_eq!(notices.len(), 1, "one notice in the staff room: {notices:#?}");
    assert!(notices[0].contains("private message"), "{notices:#?}");
    w.bot.take().expect("running").stop().await;
}

/// The bot starts after a gap, keeps its new sync position, and cannot
/// fetch what the gap held (the homeserver's `/messages` fails); it is
/// stopped before it can, as a crash would stop it. Started again with the
/// homeserver well, it fetches the gap it kept, and the reporter is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gap_kept_in_the_store_is_filled_after_a_restart() {
    let hs = homeserver();
    let (lead, staff) = tokio::join!(Person::new(hs, "lead"), Person::new(hs, "staff"));
    let account = bot_account(hs).await;
    let bot = account.user_id.clone();
    let staff_room = staff
        .create_encrypted_room("Staff", &[&lead.user_id, &account.user_id])
        .await
        .room_id()
        .to_owned();
    let proxy = FaultProxy::start(&hs.url, Fault::BadGateway).await;
    let data = TempDir::new().expect("tempdir");
    let mut config = harness::bot_config(hs, &account, data.path(), staff_room.as_str(), &lead.user_id, &[]);
    // Only the bot goes through the proxy.
    config.matrix.homeserver_url = proxy.url.clone();
    let run = BotRun::start(config);
    staff.wait_for_member(&staff_room, &bot).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let config = run.stop().await;

    staff.say(&staff_room, "/report").await;
    chatter(&lead, &staff_room, 150).await;

    // `/messages` fails: the gap cannot be fetched, and is tried again.
    proxy.drop_paths_containing("/messages");
    let run = BotRun::start(config);
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.seen().dropped < 2 {
        assert!(
            Instant::now() < deadline,
            "the gap was fetched {} time(s) and not tried again",
            proxy.seen().dropped
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !staff.seen_in(&staff_room).iter().any(|m| m.sender == bot),
        "nothing can have been answered yet"
    );
    let config = run.stop().await;

    proxy.stop_dropping();
    let run = BotRun::start(config);
    let first = staff.wait_for("the first question", first_question(&bot)).await;
    assert_ne!(first.room, staff_room, "the questions come privately");
    run.stop().await;
}
