//! The bot in Matrix, end to end, on a real Synapse with real encryption.
//!
//! Each test registers its own people (a lead, a deputy, a member of staff,
//! an outsider) and its own bot, in an encrypted staff room, so the tests
//! can run side by side. The people are matrix-sdk clients with their own
//! devices and keys.

use crate::common;
use crate::common::matrix as harness;
use crate::common::world;

use common::captured_log;
use harness::{devices_seen_by, BotRun};
use world::{world, world_with};

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
        page.body.contains(&w.staff.name) && !page.body.contains(&w.staff.user_id),
        "the page names the reporter by name: {}",
        page.body
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
    assert!(confirmed.body.contains(&w.lead.name), "{}", confirmed.body);
    let told = w
        .staff
        .wait_for(
            "the reporter told",
            w.bot_said(Some(&private), "has been acknowledged by"),
        )
        .await;
    assert!(
        told.body.contains("SG-0001") && told.body.contains(&w.lead.name),
        "{}",
        told.body
    );

    // Nothing of the concern in the staff room or the logs.
    let staff_room_messages = w.staff.seen_in(&w.staff_room);
    assert!(
        staff_room_messages.iter().any(|m| m.sender == w.bot_id),
        "the bot's notice is in the staff room's timeline"
    );
    for m in staff_room_messages {
        assert!(
            !m.body.contains(phrase) && !m.body.contains("group chat"),
            "staff room: {}",
            m.body
        );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lead_acknowledges_with_ack_and_a_non_lead_let_in_is_removed() {
    let w = world().await;
    let private = w.start_report("!report").await;
    w.answer(&private, "no", "child sexual content").await;
    let iwf = w.answer(&private, "yes", "Internet Watch Foundation").await;
    assert!(iwf.body.contains("Do not download, screenshot"), "{}", iwf.body);
    w.staff
        .wait_for(
            "the first record question",
            w.bot_said(Some(&private), "What did you see or hear"),
        )
        .await;
    w.answer(&private, "a web address shared in a chat", "their own words")
        .await;
    w.answer_record_rest(&private).await;
    w.answer(&private, "send", "recorded as").await;

    let page = w.lead.wait_for("the page", w.bot_said(None, "!ack")).await;
    let escalation = page.room.clone();
    w.lead
        .wait_for(
            "the record",
            w.bot_said(Some(&escalation), "Internet Watch Foundation"),
        )
        .await;

    // The lead brings a member of staff into the room: the bot takes them
    // out at once (need to know) and says so.
    w.lead
        .room(&escalation)
        .invite_user_by_id(w.staff.id())
        .await
        .expect("invite");
    let removed = w
        .lead
        .wait_for("the removal", w.bot_said(Some(&escalation), "I have removed"))
        .await;
    assert!(removed.notice);
    assert!(removed.body.contains(&w.staff.name), "{}", removed.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let member = w
            .lead
            .room(&escalation)
            .get_member(w.staff.id())
            .await
            .expect("members");
        if member.is_none_or(|m| {
            !matches!(
                m.membership(),
                matrix_sdk::ruma::events::room::member::MembershipState::Join
                    | matrix_sdk::ruma::events::room::member::MembershipState::Invite
            )
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the member of staff is still in the room"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    w.lead.say(&escalation, "!ack").await;
    let confirmed = w
        .lead
        .wait_for(
            "the confirmation",
            w.bot_said(Some(&escalation), "acknowledged by"),
        )
        .await;
    assert!(confirmed.body.contains(&w.lead.name), "{}", confirmed.body);
    let told = w
        .staff
        .wait_for(
            "the reporter told",
            w.bot_said(Some(&private), "has been acknowledged by"),
        )
        .await;
    assert!(told.body.contains(&w.lead.name), "{}", told.body);

    // A second acknowledgement changes nothing and says who acknowledged.
    w.lead.say(&escalation, "!ack").await;
    w.lead
        .wait_for(
            "already acknowledged",
            w.bot_said(Some(&escalation), "was already acknowledged by"),
        )
        .await;
    w.bot.expect("running").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn immediate_danger_is_told_999_next_and_the_lead_is_paged_before_the_record_is_finished() {
    let w = world().await;
    let phrase = "amber-heron-7730";
    let private = w.start_report("/report").await;
    w.staff.say(&private, "yes").await;
    let next = w
        .staff
        .wait_for("the next reply", |m| m.sender == w.bot_id && m.room == private)
        .await;
    assert!(
        next.body.starts_with("Call 999 now"),
        "the very next reply is the 999 instruction: {}",
        next.body
    );

    let page = w
        .lead
        .wait_for("the urgent page", w.bot_said(None, "URGENT"))
        .await;
    assert!(page.mentions_me);
    assert!(page.body.contains("SG-0001"));
    let escalation = page.room.clone();

    // The record continues, and reaches the lead in the same room once submitted.
    w.staff
        .wait_for(
            "the first record question",
            w.bot_said(Some(&private), "What did you see or hear"),
        )
        .await;
    w.answer(
        &private,
        &format!("a threat to meet, {phrase}"),
        "their own words",
    )
    .await;
    w.answer_record_rest(&private).await;
    w.answer(&private, "send", "recorded as SG-0001").await;
    let record = w
        .lead
        .wait_for("the full record", w.bot_said(Some(&escalation), phrase))
        .await;
    assert!(record.body.contains("submitted"), "{}", record.body);
    assert!(!page.body.contains(phrase));
    assert!(!captured_log().contains(phrase));
    w.bot.expect("running").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_mid_conversation_resumes_at_the_same_question_with_the_same_device() {
    let mut w = world().await;
    let private = w.start_report("/report").await;
    w.answer(&private, "no", "child sexual content").await;
    let device_before = harness::saved_device(w.data.path());

    let config = w.bot.take().expect("running").stop().await;
    w.bot = Some(BotRun::start(config));
    assert_eq!(
        harness::saved_device(w.data.path()),
        device_before,
        "same device after restart"
    );

    // The answer to the question asked before the restart is taken.
    w.answer(&private, "no", "communicating with a child or adult")
        .await;
    let devices = devices_seen_by(&w.staff, &w.bot_id).await;
    assert_eq!(devices.len(), 1, "one device for the bot's lifetime: {devices:?}");
    assert_eq!(devices[0].0, device_before);
    w.bot.expect("running").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_sent_while_the_bot_is_stopped_is_answered_when_it_starts() {
    let mut w = world().await;
    let config = w.bot.take().expect("running").stop().await;
    w.staff.say(&w.staff_room, "/report").await;
    // Colleagues talk on while the bot is down: more than one sync's worth
    // (Synapse's usual limit is 10 events a room; the bot asks for 100, and
    // fetches whatever a sync still leaves out).
    for i in 0..120 {
        w.lead.say(&w.staff_room, &format!("ordinary chat {i}")).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    w.bot = Some(BotRun::start(config));
    w.staff
        .wait_for(
            "the staff-room notice",
            w.bot_said(Some(&w.staff_room), "private message"),
        )
        .await;
    w.staff
        .wait_for("the first question", w.bot_said(None, "Is a crime in progress"))
        .await;
    // Answered once only.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let notices = w
        .staff
        .seen_in(&w.staff_room)
        .into_iter()
        .filter(|m| m.sender == w.bot_id)
        .count();
    assert_eq!(notices, 1, "one notice, not two");
    w.bot.expect("running").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn someone_not_in_a_staff_room_is_refused_with_the_public_routes() {
    let w = world().await;
    // The outsider was staff once: in the staff room, they opened a private room with the bot.
    w.staff
        .room(&w.staff_room)
        .invite_user_by_id(w.outsider.id())
        .await
        .expect("invite");
    w.outsider.wait_for_room(&w.staff_room).await;
    w.bot_sees_member(&w.outsider.user_id).await;
    let dm = w.outsider.create_encrypted_room("Private", &[&w.bot_id]).await;
    w.outsider.wait_for_member(dm.room_id(), &w.bot_id).await;
    // Then they left the staff room.
    w.outsider.room(&w.staff_room).leave().await.expect("leave");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    w.outsider.say(dm.room_id(), "report").await;
    let refusal = w
        .outsider
        .wait_for(
            "the refusal",
            w.bot_said(Some(dm.room_id()), "can only take reports"),
        )
        .await;
    for must in ["999", "0808 800 5000", "ceop.police.uk"] {
        assert!(refusal.body.contains(must), "{must}: {}", refusal.body);
    }
    w.bot.expect("running").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unfinished_report_reaches_the_lead_marked_incomplete() {
    // Long enough that two answers under a loaded CI machine come in before it.
    let w = world_with("unfinished_after = \"8s\"").await;
    let private = w.start_report("/report").await;
    w.answer(&private, "no", "child sexual content").await;
    w.answer(&private, "yes", "Internet Watch Foundation").await;
    // The reporter goes quiet. What they gave reaches the lead, marked incomplete.
    let page = w.lead.wait_for("the page", w.bot_said(None, "!ack")).await;
    assert!(!page.body.contains("URGENT"));
    let record = w
        .lead
        .wait_for(
            "the incomplete record",
            w.bot_said(Some(&page.room), "incomplete"),
        )
        .await;
    assert!(
        record.body.contains("Internet Watch Foundation"),
        "{}",
        record.body
    );
    let told = w
        .staff
        .wait_for(
            "the reporter told",
            w.bot_said(Some(&private), "marked incomplete"),
        )
        .await;
    assert!(told.body.contains("You can still carry on"), "{}", told.body);
    w.bot.expect("running").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_lead_is_covered_by_the_deputy_and_the_reporter_hears_who_acknowledged() {
    let w = world_with("urgent_ack_timeout = \"4s\"").await;
    let private = w.start_report("/report").await;
    w.staff.say(&private, "yes").await;
    let page = w
        .lead
        .wait_for("the urgent page", w.bot_said(None, "URGENT"))
        .await;
    let escalation = page.room.clone();

    // The lead stays silent: the deputy is invited to the same room and paged,
    // at the 4 s deadline (server times, so a slow client does not matter).
    let deputy_page = w
        .deputy
        .wait_for(
            "the deputy's page",
            w.bot_said(Some(&escalation), "not been acknowledged yet"),
        )
        .await;
    let waited = deputy_page.ts_ms.saturating_sub(page.ts_ms);
    // The lead's step starts when the bot decides to page, on the reporter's
    // "yes", before the concern's room is made and the page reaches the
    // server; so the deadline is counted from the "yes" (server times).
    let yes = w
        .staff
        .seen_in(&private)
        .into_iter()
        .find(|m| m.sender == w.staff.user_id && m.body == "yes")
        .expect("the reporter's yes");
    let since_yes = deputy_page.ts_ms.saturating_sub(yes.ts_ms);
    assert!(
        since_yes >= 3_950,
        "the deputy is paged at the deadline, not before: {since_yes} ms after the yes"
    );
    assert!(
        waited < 7_900,
        "the deputy's own page, not the repeat after their step: {waited} ms"
    );
    assert!(deputy_page.mentions_me, "the deputy's phone rings");
    assert!(deputy_page.body.contains("SG-0001"));
    // Invited after the record was sent, the deputy can still read it.
    let record = w
        .deputy
        .seen_in(&escalation)
        .into_iter()
        .find(|m| m.sender == w.bot_id && m.body.contains("as it stands"))
        .expect("the record, sent again for the deputy, readable");
    assert!(record.notice, "the record does not ring");
    assert!(
        record.body.contains("Call 999") || record.body.contains("Reference: SG-0001"),
        "{}",
        record.body
    );

    w.deputy.say(&escalation, "!ack").await;
    w.deputy
        .wait_for(
            "the confirmation",
            w.bot_said(Some(&escalation), "acknowledged by"),
        )
        .await;
    let told = w
        .staff
        .wait_for(
            "the reporter told",
            w.bot_said(Some(&private), "has been acknowledged by"),
        )
        .await;
    assert!(
        told.body.contains(&w.deputy.name),
        "the reporter hears who acknowledged: {}",
        told.body
    );
    w.bot.expect("running").stop().await;
}

/// Three answers of 9,000 characters, each full of characters that HTML
/// escaping makes longer, reach the lead whole, in numbered parts; the
/// reporter gets their reference and is never told something was not saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_long_answers_reach_the_lead_whole_in_parts() {
    let w = world().await;
    let long = |tag: &str| {
        let mut s = format!("{tag} ");
        while s.chars().count() < 9_000 {
            s.push_str("<&>\"' ");
        }
        s.chars().take(9_000).collect::<String>()
    };
    let (a, b, c) = (long("ALPHA"), long("BRAVO"), long("CHARLIE"));
    let private = w.start_report("!report").await;
    w.answer(&private, "no", "child sexual content").await;
    w.answer(&private, "yes", "Internet Watch Foundation").await;
    w.staff
        .wait_for(
            "the first record question",
            w.bot_said(Some(&private), "What did you see or hear"),
        )
        .await;
    w.answer(&private, &a, "their own words").await;
    w.answer(&private, "skip", "When did it happen").await;
    w.answer(&private, "this morning", "Who is involved").await;
    w.answer(&private, &b, "Where online").await;
    w.answer(&private, "a group chat", "Who else knows").await;
    w.answer(&private, "skip", "What have you done so far").await;
    w.answer(&private, "skip", "Which area of risk").await;
    w.answer(&private, "2", "What is your role").await;
    w.answer(&private, "volunteer", "anything else").await;
    w.answer(&private, &c, "Please check your report").await;
    let recorded = w.answer(&private, "send", "recorded as").await;
    assert!(recorded.body.contains("SG-"), "{}", recorded.body);

    let page = w.lead.wait_for("the page", w.bot_said(None, "!ack")).await;
    let room = page.room.clone();
    let first = w
        .lead
        .wait_for("the record's first part", |m| {
            m.sender == w.bot_id && m.room == room && m.body.starts_with("(part 1 of ")
        })
        .await;
    let n: usize = first.body["(part 1 of ".len()..]
        .split(')')
        .next()
        .and_then(|x| x.parse().ok())
        .expect("a part count");
    assert!(n >= 2, "{}", &first.body[..40]);
    let last = format!("(part {n} of {n})");
    w.lead
        .wait_for("the record's last part", |m| {
            m.sender == w.bot_id && m.room == room && m.body.starts_with(&last)
        })
        .await;
    let parts: Vec<String> = w
        .lead
        .seen_in(&room)
        .into_iter()
        .filter(|m| m.sender == w.bot_id && m.body.starts_with("(part "))
        .map(|m| {
            m.body
                .split_once('\n')
                .map(|(_, b)| b.to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(parts.len(), n, "each part once");
    let record = parts.concat();
    for answer in [&a, &b, &c] {
        // As kept: the conversation trims what people type.
        assert!(record.contains(answer.trim()), "an answer reached the lead whole");
    }
    let said_to_reporter: Vec<String> = w
        .staff
        .seen_in(&private)
        .into_iter()
        .filter(|m| m.sender == w.bot_id)
        .map(|m| m.body)
        .collect();
    assert!(
        said_to_reporter.iter().all(|b| !b.contains("could not save")),
        "nothing claimed it was not saved"
    );
}

/// What a person sees of a message: its text, and its HTML without the
/// markup (a pill shows as the name it links).
fn shown(m: &harness::Received) -> Vec<String> {
    let mut out = vec![m.body.clone()];
    if let Some(html) = &m.html {
        let mut text = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        out.push(text);
    }
    out
}

/// Issue 18, point 1: a whole story (a report, the lead paged, the deputy
/// covering and acknowledging, the reporter told, the lead's note, `!show`,
/// `!list`, `!rota`, the reminder), and not one message the reporter, the
/// lead or the deputy receives names anyone by their Matrix id: people are
/// named by their display names, with a pill in rich text.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nobody_is_named_by_their_matrix_id_in_anything_the_reporter_lead_or_deputy_read() {
    let w = world_with("ack_timeout = \"4s\"\nremind_after = \"8s\"").await;
    let private = w.start_report("/report").await;
    w.answer(&private, "no", "child sexual content").await;
    w.answer(&private, "no", "communicating with a child").await;
    w.answer(&private, "no", "known person").await;
    w.answer(&private, "no", "What did you see or hear").await;
    w.answer_record(&private, "teal-badger-6630").await;
    w.answer(&private, "send", "recorded as SG-").await;

    let page = w
        .lead
        .wait_for("the page", |m| {
            m.sender == w.bot_id && m.body.contains("SG-0001") && m.body.contains("!ack")
        })
        .await;
    let room = page.room.clone();
    assert!(page.mentions_me, "the page still rings the lead");
    assert!(
        page.body.starts_with(&format!("{}: ", w.lead.name))
            && page.body.contains(&format!("reported by {}", w.staff.name)),
        "{}",
        page.body
    );
    let html = page.html.clone().unwrap_or_default();
    assert!(
        html.contains(&format!(
            "<a href=\"https://matrix.to/#/{}\">{}</a>",
            w.lead.user_id, w.lead.name
        )),
        "the lead is a pill showing their name: {html}"
    );
    w.lead
        .wait_for("the record", w.bot_said(Some(&room), "Reported by"))
        .await;

    // The lead is silent: the deputy is paged, and acknowledges.
    let deputy_page = w
        .deputy
        .wait_for(
            "the deputy's page",
            w.bot_said(Some(&room), "not been acknowledged yet"),
        )
        .await;
    assert!(deputy_page.mentions_me, "the deputy's phone rings");
    w.deputy.say(&room, "!ack").await;
    w.deputy
        .wait_for("the confirmation", w.bot_said(Some(&room), "acknowledged by"))
        .await;
    let told = w
        .staff
        .wait_for(
            "the reporter told",
            w.bot_said(Some(&private), "has been acknowledged by"),
        )
        .await;
    assert!(told.body.contains(&w.deputy.name), "{}", told.body);

    // The lead's note, !show, !list and !rota, in the concern's room.
    w.lead.say(&room, "!note Phoned the parent").await;
    w.lead
        .wait_for("the note kept", w.bot_said(Some(&room), "Noted as entry"))
        .await;
    w.lead.say(&room, "!show").await;
    let show = w
        .lead
        .wait_for("the record shown", w.bot_said(Some(&room), "Chronology"))
        .await;
    for expected in [
        format!("Reported by {}", w.staff.name),
        format!("Acknowledged by {}", w.deputy.name),
        format!("Note (entry 1), {}", w.lead.name),
    ] {
        assert!(
            show.body.contains(&expected),
            "!show lacks {expected:?}: {}",
            show.body
        );
    }
    w.lead.say(&room, "!list").await;
    let list = w
        .lead
        .wait_for("the list", w.bot_said(Some(&room), "open concern"))
        .await;
    assert!(
        list.body.contains(&format!("acknowledged by {}", w.deputy.name)),
        "{}",
        list.body
    );
    w.lead.say(&room, "!rota").await;
    let rota = w
        .lead
        .wait_for("the rota", w.bot_said(Some(&room), "The rota"))
        .await;
    assert!(
        rota.body.contains(&w.lead.name) && rota.body.contains(&w.deputy.name),
        "{}",
        rota.body
    );
    // Whoever acknowledged is reminded that it is still open.
    let reminder = w
        .deputy
        .wait_for("the reminder", w.bot_said(Some(&room), "is still open"))
        .await;
    assert!(reminder.mentions_me, "the reminder rings the deputy");
    assert!(reminder.body.starts_with(&w.deputy.name), "{}", reminder.body);

    let everyone = [&w.staff, &w.lead, &w.deputy, &w.outsider];
    let ids: Vec<String> = everyone
        .iter()
        .map(|p| p.user_id.clone())
        .chain([w.bot_id.clone()])
        .collect();
    // A user name alone would be an id shown in another way.
    let localparts: Vec<String> = ids
        .iter()
        .filter_map(|id| id.trim_start_matches('@').split(':').next().map(str::to_string))
        .collect();
    let mut read = 0;
    for person in [&w.staff, &w.lead, &w.deputy] {
        let received: Vec<_> = person
            .history
            .lock()
            .expect("history")
            .iter()
            .filter(|m| m.sender == w.bot_id)
            .cloned()
            .collect();
        assert!(received.len() >= 3, "{} received {received:#?}", person.name);
        for m in &received {
            for text in shown(m) {
                read += 1;
                for id in ids.iter().chain(&localparts) {
                    assert!(
                        !text.contains(id.as_str()),
                        "{} read {id} in: {text}",
                        person.name
                    );
                }
            }
        }
    }
    assert!(read > 20, "only {read} texts read");
    w.bot.expect("running").stop().await;
}
