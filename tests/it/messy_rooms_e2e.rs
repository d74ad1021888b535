//! The bot in real, messy Matrix rooms, on a real Synapse: shared and
//! unencrypted rooms, a homeserver out of reach at start, upgraded rooms,
//! edits, pictures, messages it cannot decrypt, floods, and a rota changed
//! under open concerns.

use crate::common;
use crate::common::matrix as harness;
use crate::common::world;

use common::captured_log;
use harness::{bot_account, homeserver, BotRun, Person};
use matrix_sdk::ruma::OwnedRoomAliasId;
use tempfile::TempDir;
use world::world;

/// A member of staff asks for a report in an ordinary unencrypted room with
/// someone from outside in it: the report runs in a new private chat, and
/// nothing of the conversation appears in the shared room.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_asked_for_in_a_shared_unencrypted_room_runs_in_a_new_private_chat() {
    use matrix_sdk::ruma::api::client::room::create_room::v3::{Request, RoomPreset};
    let w = world().await;
    let mut request = Request::new();
    request.name = Some("Project".into());
    request.preset = Some(RoomPreset::PrivateChat);
    request.invite = vec![
        w.outsider.id().to_owned(),
        matrix_sdk::ruma::OwnedUserId::try_from(w.bot_id.as_str()).expect("bot id"),
    ];
    let project = w.staff.client.create_room(request).await.expect("room");
    let project_id = project.room_id().to_owned();
    w.outsider.wait_for_room(&project_id).await;
    w.staff.wait_for_member(&project_id, &w.bot_id).await;
    let (notice, private) = w.start_report_in(&project_id, "report now").await;
    // Talk in the shared room is not an answer.
    w.staff.say(&project_id, "no").await;
    w.answer(&private, "no", "child sexual content").await;
    let seen: Vec<String> = w
        .outsider
        .seen_in(&project_id)
        .into_iter()
        .filter(|m| m.sender == w.bot_id)
        .map(|m| m.body)
        .collect();
    assert_eq!(
        seen,
        vec![notice.body.clone()],
        "only the notice in the shared room"
    );
    w.bot.expect("running").stop().await;
}

/// A picture sent in the private chat is removed (redacted) by the bot,
/// and the reporter is told why.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_picture_sent_in_the_private_chat_is_redacted() {
    let w = world().await;
    let private = w.start_report("/report").await;
    let picture = w
        .staff
        .room(&private)
        .send_attachment(
            "screenshot.png",
            &mime::IMAGE_PNG,
            b"\x89PNG\r\n\x1a\n not really a picture".to_vec(),
            matrix_sdk::attachment::AttachmentConfig::new(),
        )
        .await
        .expect("the picture is sent")
        .event_id;
    w.staff
        .wait_for(
            "the reason it was removed",
            w.bot_said(Some(&private), "I have removed it"),
        )
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let content = w
            .staff
            .room(&private)
            .event(&picture, None)
            .await
            .expect("the event")
            .raw()
            .get_field::<serde_json::Value>("content")
            .expect("content")
            .unwrap_or_default();
        if content.as_object().is_none_or(|c| c.is_empty()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the picture was not redacted: {content}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    w.bot.expect("running").stop().await;
}

/// A deputy taken out of the config is removed from an open concern's room
/// when the bot starts, the room is told, and casework works there again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deputy_taken_out_of_the_config_is_removed_from_concern_rooms_on_restart() {
    let mut w = world().await;
    let private = w.start_report("/report").await;
    for (text, next) in [
        ("no", "child sexual content"),
        ("no", "communicating with a child"),
        ("no", "known person"),
        ("no", "What did you see or hear"),
    ] {
        w.answer(&private, text, next).await;
    }
    w.answer_record(&private, "teal-otter-5150").await;
    w.answer(&private, "send", "recorded as").await;
    let page = w.lead.wait_for("the page", w.bot_said(None, "!ack")).await;
    let room = page.room.clone();
    // The lead brings the deputy in.
    w.lead
        .room(&room)
        .invite_user_by_id(w.deputy.id())
        .await
        .expect("invite");
    w.deputy.wait_for_room(&room).await;
    w.lead.wait_for_member(&room, &w.deputy.user_id).await;

    // The deputy steps down: the bot restarts without them.
    let mut config = w.bot.take().expect("running").stop().await;
    config.safeguarding.deputies.clear();
    w.bot = Some(BotRun::start(config));
    w.lead
        .wait_for("the room told", w.bot_said(Some(&room), "I have removed"))
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let member = w
            .lead
            .room(&room)
            .get_member(w.deputy.id())
            .await
            .expect("members");
        let gone = member.is_none_or(|m| {
            !matches!(
                m.membership(),
                matrix_sdk::ruma::events::room::member::MembershipState::Join
                    | matrix_sdk::ruma::events::room::member::MembershipState::Invite
            )
        });
        if gone {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the deputy is still in the room"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Only leads are in the room now: casework works.
    w.lead.say(&room, "!note spoke to the family").await;
    w.lead
        .wait_for("the note kept", w.bot_said(Some(&room), "Noted as entry"))
        .await;
    w.bot.expect("running").stop().await;
}

/// Forwards TCP to the homeserver while open; while closed nothing listens,
/// so the bot finds the homeserver out of reach, as before Synapse starts.
struct Gate {
    port: u16,
    upstream: String,
    open: Option<tokio::task::JoinHandle<()>>,
}

impl Gate {
    fn closed(upstream: &str) -> Gate {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("address")
            .port();
        Gate {
            port,
            upstream: upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            open: None,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn open(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the gate's port is free again");
        let upstream = self.upstream.clone();
        self.open = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
            }
        }));
    }

    fn close(&mut self) {
        if let Some(task) = self.open.take() {
            task.abort();
        }
    }
}

/// The bot starts while the homeserver is out of reach, with its staff room
/// given by alias. Once the homeserver is up, the staff room works, and
/// talk there is never taken as an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_bot_started_before_the_homeserver_finds_its_staff_room_by_alias() {
    let hs = homeserver();
    let (lead, staff) = tokio::join!(Person::new(hs, "lead"), Person::new(hs, "staff"));
    let account = bot_account(hs).await;
    let room = staff
        .create_encrypted_room("Staff", &[&lead.user_id, &account.user_id])
        .await;
    let staff_room = room.room_id().to_owned();
    let local = staff.user_id.split(':').nth(1).expect("server name");
    let alias = format!(
        "#staff-{}:{local}",
        staff
            .user_id
            .trim_start_matches('@')
            .split(':')
            .next()
            .expect("localpart")
    );
    staff
        .client
        .create_room_alias(
            &OwnedRoomAliasId::try_from(alias.as_str()).expect("alias"),
            &staff_room,
        )
        .await
        .expect("the alias is made");
    let data = TempDir::new().expect("tempdir");
    let mut gate = Gate::closed(&hs.url);
    gate.open().await;
    let mut config = harness::bot_config(hs, &account, data.path(), &alias, &lead.user_id, &[]);
    config.matrix.homeserver_url = gate.url();
    // A first run, so the bot has its session and has joined.
    let bot = BotRun::start(config);
    staff.wait_for_member(&staff_room, &account.user_id).await;
    let config = bot.stop().await;

    // The homeserver is out of reach when the bot starts again.
    gate.close();
    let bot = BotRun::start(config);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !captured_log().contains("not resolved yet") {
        assert!(
            std::time::Instant::now() < deadline,
            "the log never said a room was unresolved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    gate.open().await;

    staff.say(&staff_room, "/report").await;
    let bot_id = account.user_id.clone();
    let first = staff
        .wait_for("the first question", |m| {
            m.sender == bot_id && m.body.contains("Is a crime in progress")
        })
        .await;
    assert_ne!(first.room, staff_room, "the questions come privately");
    // Talk in the staff room is not an answer: the private "no" answers
    // the first question.
    staff.say(&staff_room, "no").await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    staff.say(&first.room, "no").await;
    staff
        .wait_for("the second question", |m| {
            m.sender == bot_id && m.room == first.room && m.body.contains("child sexual content")
        })
        .await;
    let in_staff_room: Vec<String> = staff
        .seen_in(&staff_room)
        .into_iter()
        .filter(|m| m.sender == bot_id)
        .map(|m| m.body)
        .collect();
    assert_eq!(
        in_staff_room.len(),
        1,
        "only the notice in the staff room: {in_staff_room:?}"
    );
    assert!(in_staff_room[0].contains("private message"), "{in_staff_room:?}");
    bot.stop().await;
}

/// An edited answer is refused with the words the reporter needs, and the
/// record holds what they first wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edited_answer_is_refused_and_the_record_keeps_the_first() {
    use matrix_sdk::ruma::events::room::message::{ReplacementMetadata, RoomMessageEventContent};
    let w = world().await;
    let private = w.start_report("/report").await;
    for (text, next) in [
        ("no", "child sexual content"),
        ("no", "communicating with a child"),
        ("no", "known person"),
        ("no", "What did you see or hear"),
    ] {
        w.answer(&private, text, next).await;
    }
    let first = w.staff.say(&private, "I saw amber-heron-7 in a group chat").await;
    w.staff
        .wait_for("the next question", w.bot_said(Some(&private), "their own words"))
        .await;
    let edit = RoomMessageEventContent::text_plain("I saw violet-crane-9 in a group chat")
        .make_replacement(ReplacementMetadata::new(first, None));
    w.staff.room(&private).send(edit).await.expect("the edit is sent");
    let refused = w
        .staff
        .wait_for("the refusal", w.bot_said(Some(&private), "can't take edits"))
        .await;
    let words = refused.body.to_lowercase();
    assert!(
        words.contains("type back to change your last answer"),
        "{}",
        refused.body
    );
    assert!(words.contains("change it at the review"), "{}", refused.body);
    let review = w.answer_record_rest(&private).await;
    assert!(review.body.contains("amber-heron-7"), "{}", review.body);
    w.answer(&private, "send", "recorded as").await;
    let record = w
        .lead
        .wait_for("the record", w.bot_said(None, "amber-heron-7"))
        .await;
    assert!(!record.body.contains("violet-crane-9"), "{}", record.body);
    w.bot.expect("running").stop().await;
}

/// A message the bot cannot decrypt gets a reply asking for it again, once,
/// and is not taken as an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreadable_message_is_asked_for_again_once() {
    use matrix_sdk::ruma::api::client::message::send_message_event::v3::Request;
    use matrix_sdk::ruma::serde::Raw;
    let w = world().await;
    let private = w.start_report("/report").await;
    // A megolm message from a session the bot has never been given.
    let content = serde_json::json!({
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": "AwgAEnACgAkLmt6qF84IK++J7UDH2Za1YVchHyprqTqsg2yyOwAtHaZTwyNg37afzg8f3r9IsN9r4RNFg7MaZencUJe4qvELiDiopUjy5wYVDAtqdBzer5bWRD9ldxp1FLgbQvBcjkkywYjCsmsq6+hArLd9oAQZnGKn/qLsK+5uNX3PaWzDRC9wZPQvWYYPCTov3jCwXKTPsLKIiTrcCXDqMvnn8m+T3zF/I2zqxg158tnUwWWIw51UO",
        "device_id": "RJYKSTBOIE",
        "sender_key": "IlRMeOPX2e0MurIyfWEucYBRVOEEUMrOHqn/8mLqMjA",
        "session_id": "X3lUlvLELLYxeTx4yOVu6UDpasGEVO0Jbu+QFnm0cKQ",
    });
    let body: Raw<matrix_sdk::ruma::events::AnyMessageLikeEventContent> =
        Raw::new(&content).expect("json").cast_unchecked();
    let request = Request::new_raw(
        private.clone(),
        matrix_sdk::ruma::TransactionId::new(),
        "m.room.encrypted".into(),
        body,
    );
    w.staff
        .client
        .send(request)
        .await
        .expect("the locked message is sent");
    w.staff
        .wait_for(
            "the request to send it again",
            w.bot_said(Some(&private), "send it again"),
        )
        .await;
    // The first question still stands: "no" answers it.
    w.answer(&private, "no", "child sexual content").await;
    let asked = w
        .staff
        .seen_in(&private)
        .into_iter()
        .filter(|m| m.sender == w.bot_id && m.body.contains("couldn't read your last message"))
        .count();
    assert_eq!(asked, 1);
    w.bot.expect("running").stop().await;
}

/// The staff room is upgraded to a new room version: the bot follows it
/// there, and a report asked for in the new room starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upgraded_staff_room_is_followed() {
    use matrix_sdk::ruma::api::client::room::upgrade_room::v3::Request;
    use matrix_sdk::ruma::RoomVersionId;
    let w = world().await;
    let upgraded = w
        .staff
        .client
        .send(Request::new(w.staff_room.clone(), RoomVersionId::V11))
        .await
        .expect("the staff room is upgraded")
        .replacement_room;
    let new_room = w.staff.wait_for_room(&upgraded).await;
    // As Element offers when upgrading a private room: invite its members.
    for who in [w.lead.user_id.as_str(), w.bot_id.as_str()] {
        new_room
            .invite_user_by_id(&matrix_sdk::ruma::OwnedUserId::try_from(who).expect("id"))
            .await
            .expect("invite");
    }
    w.staff.wait_for_member(&upgraded, &w.bot_id).await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    w.start_report_in(&upgraded, "/report").await;
    w.bot.expect("running").stop().await;
}

/// One sender's 300 messages in a few seconds are answered with a handful
/// of replies and one notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_300_messages_gets_a_handful_of_replies() {
    let w = world().await;
    let private = w.start_report("/report").await;
    let before = w.staff.seen_in(&private).len();
    let room = w.staff.room(&private);
    let send = |i: usize| {
        let room = room.clone();
        async move {
            room.send(
                matrix_sdk::ruma::events::room::message::RoomMessageEventContent::text_plain(format!(
                    "help {i}"
                )),
            )
            .await
            .expect("send");
        }
    };
    let started = std::time::Instant::now();
    // The first alone, so the encryption session is shared before the rest
    // go twenty at a time.
    send(0).await;
    for chunk in (1..300).collect::<Vec<_>>().chunks(20) {
        futures_util::future::join_all(chunk.iter().map(|i| send(*i))).await;
    }
    let took = started.elapsed();
    w.staff
        .wait_for(
            "the flood notice",
            w.bot_said(Some(&private), "faster than I can take them"),
        )
        .await;
    // Let anything still queued arrive.
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    let replies: Vec<String> = w.staff.seen_in(&private)[before..]
        .iter()
        .filter(|m| m.sender == w.bot_id)
        .map(|m| m.body.clone())
        .collect();
    eprintln!("300 messages sent in {took:?}; {} replies", replies.len());
    assert!(
        replies.len() <= 12,
        "{} replies to 300 messages sent in {took:?}: {replies:#?}",
        replies.len()
    );
    assert_eq!(
        replies
            .iter()
            .filter(|b| b.contains("faster than I can take them"))
            .count(),
        1
    );
    w.bot.expect("running").stop().await;
}
