//! The world of the Matrix end-to-end tests: a lead, a deputy, a member of
//! staff and an outsider on the real Synapse, an encrypted staff room, and
//! a bot running.
#![allow(dead_code)]

use super::matrix::{self as harness, bot_account, homeserver, BotRun, Person, Received};
use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use tempfile::TempDir;

pub struct World {
    pub lead: Person,
    pub deputy: Person,
    pub staff: Person,
    pub outsider: Person,
    pub staff_room: OwnedRoomId,
    pub bot_id: String,
    pub data: TempDir,
    pub bot: Option<BotRun>,
}

/// People, an encrypted staff room with the lead, deputy and staff in it,
/// and a bot invited to it and running.
pub async fn world() -> World {
    world_with("").await
}

pub async fn world_with(safeguarding_extra: &str) -> World {
    world_from(safeguarding_extra, |text| harness::parse_test_config(&text)).await
}

/// As [`world_with`], the config made by `finish` from the usual config's
/// text (to add tables, and secrets from the environment it gives).
pub async fn world_from(
    safeguarding_extra: &str,
    finish: impl FnOnce(String) -> safeguarding_bot::config::Config,
) -> World {
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
    let config = finish(harness::bot_config_toml(
        hs,
        &account,
        data.path(),
        staff_room.as_str(),
        &lead.user_id,
        &[&deputy.user_id],
        safeguarding_extra,
    ));
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
    pub fn bot_said<'a>(
        &'a self,
        room: Option<&'a RoomId>,
        text: &'a str,
    ) -> impl Fn(&Received) -> bool + 'a {
        move |m: &Received| {
            m.sender == self.bot_id && room.is_none_or(|r| m.room == r) && m.body.contains(text)
        }
    }

    /// The staff member starts a report in the staff room; returns their private room.
    pub async fn start_report(&self, command: &str) -> OwnedRoomId {
        self.start_report_in(&self.staff_room, command).await.1
    }

    /// The staff member asks for a report in `room`: the room gets a notice
    /// (with 999) and the questions come in a private room. Returns the
    /// notice and the private room.
    pub async fn start_report_in(&self, room: &RoomId, command: &str) -> (Received, OwnedRoomId) {
        self.staff.say(room, command).await;
        let notice = self
            .staff
            .wait_for(
                "the notice where it was asked",
                self.bot_said(Some(room), "private message"),
            )
            .await;
        assert!(notice.notice, "the answer where it was asked is a notice");
        assert!(notice.body.contains("call 999"), "{}", notice.body);
        let first = self
            .staff
            .wait_for("the first question", |m| {
                m.sender == self.bot_id && m.body.contains("Is a crime in progress")
            })
            .await;
        assert_ne!(first.room, room, "the questions come privately");
        (notice, first.room)
    }

    pub async fn answer(&self, private: &RoomId, text: &str, expect: &str) -> Received {
        self.staff.say(private, text).await;
        self.staff
            .wait_for(expect, self.bot_said(Some(private), expect))
            .await
    }

    /// Answers the record questions of the CLAPA flow, with `phrase` in the account.
    pub async fn answer_record(&self, private: &RoomId, phrase: &str) {
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

impl World {
    /// Answers the record questions after the account; returns the review.
    pub async fn answer_record_rest(&self, private: &RoomId) -> Received {
        self.answer(private, "skip", "When did it happen").await;
        self.answer(private, "yesterday", "Who is involved").await;
        self.answer(private, "a young person", "Where online").await;
        self.answer(private, "a chat app", "Who else knows").await;
        self.answer(private, "skip", "What have you done so far").await;
        self.answer(private, "skip", "Which area of risk").await;
        self.answer(private, "1", "What is your role").await;
        self.answer(private, "staff", "anything else").await;
        self.answer(private, "skip", "Please check your report").await
    }

    /// Waits until the staff member sees `user` joined in the staff room,
    /// which the bot sees at about the same time.
    pub async fn bot_sees_member(&self, user: &str) {
        self.staff.wait_for_member(&self.staff_room, user).await;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
