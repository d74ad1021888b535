#![recursion_limit = "256"]
//! The bot in Matrix, end to end, on a real Synapse with real encryption.
//!
//! Each test registers its own people (a lead, a deputy, a member of staff,
//! an outsider) and its own bot, in an encrypted staff room, so the tests
//! can run side by side. The people are matrix-sdk clients with their own
//! devices and keys.

mod common;
#[path = "common/matrix.rs"]
mod harness;

use common::captured_log;
use harness::{bot_account, bot_config, devices_seen_by, homeserver, BotRun, Person, Received};
use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use tempfile::TempDir;

struct World {
    lead: Person,
    deputy: Person,
    staff: Person,
    outsider: Person,
    staff_room: OwnedRoomId,
    bot_id: String,
    data: TempDir,
    bot: Option<BotRun>,
}

/// People, an encrypted staff room with the lead, deputy and staff in it,
/// and a bot invited to it and running.
async fn world() -> World {
    let hs = homeserver();
    let (lead, deputy, staff, outsider) = tokio::join!(
        Person::new(hs, "lead"),
        Person::new(hs, "deputy"),
        Person::new(hs, "staff"),
        Person::new(hs, "outsider"),
    );
    let account = bot_account(hs).await;
    let room = staff
        .create_encrypted_room("Staff", &[&lead.user_id, &deputy.user_id, &account.user_id])
        .await;
    let staff_room = room.room_id().to_owned();
    let data = TempDir::new().expect("tempdir");
    let config = bot_config(
        hs,
        &account,
        data.path(),
        staff_room.as_str(),
        &lead.user_id,
        &[&deputy.user_id],
    );
    let bot = BotRun::start(config);
    staff.wait_for_member(&staff_room, &account.user_id).await;
    World {
        lead,
        deputy,
        staff,
        outsider,
        staff_room,
        bot_id: account.user_id,
        data,
        bot: Some(bot),
    }
}

impl World {
    fn bot_said<'a>(&'a self, room: Option<&'a RoomId>, text: &'a str) -> impl Fn(&Received) -> bool + 'a {
        move |m: &Received| {
            m.sender == self.bot_id && room.is_none_or(|r| m.room == r) && m.body.contains(text)
        }
    }

    /// The staff member starts a report in the staff room; returns their private room.
    async fn start_report(&self, command: &str) -> OwnedRoomId {
        self.staff.say(&self.staff_room, command).await;
        let notice = self
            .staff
            .wait_for(
                "the staff-room notice",
                self.bot_said(Some(&self.staff_room), "private message"),
            )
            .await;
        assert!(notice.notice, "the staff-room answer is a notice");
        assert!(notice.body.contains("call 999"), "{}", notice.body);
        let first = self
            .staff
            .wait_for("the first question", |m| {
                m.sender == self.bot_id && m.body.contains("Is a crime in progress")
            })
            .await;
        assert_ne!(first.room, self.staff_room, "the questions come privately");
        first.room
    }

    async fn answer(&self, private: &RoomId, text: &str, expect: &str) -> Received {
        self.staff.say(private, text).await;
        self.staff
            .wait_for(expect, self.bot_said(Some(private), expect))
            .await
    }

    /// Answers the record questions of the CLAPA flow, with `phrase` in the account.
    async fn answer_record(&self, private: &RoomId, phrase: &str) {
        self.answer(
            private,
            &format!("I saw {phrase} in a group chat"),
            "their own words",
        )
        .await;
        self.answer(private, "skip", "When did it happen").await;
        self.answer(private, "this morning", "Who is involved").await;
        self.answer(private, "a child, about 12", "Where online").await;
        self.answer(private, "a group chat, account @someone", "Who else knows")
            .await;
        self.answer(private, "skip", "What have you done so far").await;
        self.answer(private, "skip", "Which area of risk").await;
        self.answer(private, "2", "What is your role").await;
        self.answer(private, "volunteer", "anything else").await;
        self.answer(private, "skip", "Please check your report").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_pages_the_lead_who_acknowledges_with_a_reaction() {
    let w = world().await;
    let phrase = "crimson-otter-5521";
    let private = w.start_report("/report").await;
    w.answer(&private, "no", "child sexual content").await;
    w.answer(&private, "no", "communicating with a child").await;
    w.answer(&private, "no", "known person").await;
    w.answer(&private, "no", "What did you see or hear").await;
    w.answer_record(&private, phrase).await;
    let done = w.answer(&private, "send", "recorded as SG-").await;
    assert!(done.body.contains("SG-0001"), "{}", done.body);

    // The lead is invited to a new private room, paged without detail, then given the record.
    let page = w
        .lead
        .wait_for("the page", |m| {
            m.sender == w.bot_id && m.body.contains("SG-0001") && m.body.contains("!ack")
        })
        .await;
    assert!(
        page.mentions_me,
        "the page mentions the lead intentionally so their phone rings"
    );
    assert!(
        !page.body.contains(phrase) && !page.body.contains("group chat"),
        "the page carries no detail: {}",
        page.body
    );
    assert!(
        page.body.contains(&w.staff.user_id),
        "the page names the reporter"
    );
    let escalation_room = page.room.clone();
    assert_ne!(escalation_room, w.staff_room);
    let lead_room = w.lead.room(&escalation_room);
    assert!(
        lead_room
            .latest_encryption_state()
            .await
            .expect("state")
            .is_encrypted(),
        "escalation room is encrypted"
    );
    let record = w
        .lead
        .wait_for("the record", w.bot_said(Some(&escalation_room), phrase))
        .await;
    assert!(record.body.contains("Record the concern"), "{}", record.body);

    // A reaction acknowledges.
    w.lead.react(&escalation_room, &page.event_id, "✅").await;
    let confirmed = w
        .lead
        .wait_for(
            "the confirmation",
            w.bot_said(Some(&escalation_room), "acknowledged by"),
        )
        .await;
    assert!(confirmed.body.contains(&w.lead.user_id));
    let told = w
        .staff
        .wait_for(
            "the reporter told",
            w.bot_said(Some(&private), "has been acknowledged by"),
        )
        .await;
    assert!(
        told.body.contains("SG-0001") && told.body.contains(&w.lead.user_id),
        "{}",
        told.body
    );

    // Nothing of the concern in the staff room or the logs.
    for m in w.staff.seen_in(&w.staff_room) {
        assert!(!m.body.contains(phrase), "staff room: {}", m.body);
    }
    let log = captured_log();
    assert!(!log.is_empty(), "logs were captured");
    assert!(!log.contains(phrase), "the concern's words are in the log");
    assert!(!log.contains("group chat"), "the concern's words are in the log");

    // The bot's device is cross-signed by its own identity, and there is only one.
    let devices = devices_seen_by(&w.lead, &w.bot_id).await;
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert!(devices[0].1, "the bot's device is cross-signed: {devices:?}");
    let _ = (&w.deputy, &w.outsider, &w.data);
    w.bot.expect("running").stop().await;
}
