//! Paging on a real Synapse when some of the people to page cannot be
//! reached: a deputy on a homeserver that does not exist (Synapse refuses
//! the invitation for good) and one whose invitation fails on every try
//! (the bot's requests go through a proxy that answers each invitation of
//! them with 502 Bad Gateway, an error the adapter does not recognise).
//! The lead and the other deputy are still paged on time, and the leads'
//! room names each one who could not be reached.

use crate::common::matrix as harness;
use crate::common::proxy;

use harness::{bot_account, homeserver, BotRun, Person, Received};
use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use proxy::{Fault, FaultProxy};
use tempfile::TempDir;

fn from<'a>(bot: &'a str, room: &'a RoomId, text: &'a str) -> impl Fn(&Received) -> bool + 'a {
    move |m: &Received| m.sender == bot && m.room == room && m.body.contains(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deputies_who_cannot_be_invited_hold_up_no_page_and_are_named_to_the_leads() {
    let hs = homeserver();
    let (lead, deputy, staff) = tokio::join!(
        Person::new(hs, "lead"),
        Person::new(hs, "deputy"),
        Person::new(hs, "staff"),
    );
    let account = bot_account(hs).await;
    let bot = account.user_id.clone();
    let server = lead
        .user_id
        .split_once(':')
        .map(|(_, s)| s.to_string())
        .expect("a server name");
    // Every invitation of this one fails, with an error the adapter does
    // not recognise.
    let failing = format!("@failing-{}:{server}", std::process::id());
    // A homeserver that does not exist: Synapse refuses the invitation.
    let ghost = "@ghost:unreachable.invalid";
    let proxy = FaultProxy::start(&hs.url, Fault::BadGateway).await;
    proxy.fail_invites_of(&failing);
    let staff_room: OwnedRoomId = staff
        .create_encrypted_room("Staff", &[&lead.user_id, &deputy.user_id, &bot])
        .await
        .room_id()
        .to_owned();
    let leads_room: OwnedRoomId = lead
        .create_encrypted_room("Leads", &[&deputy.user_id, &bot])
        .await
        .room_id()
        .to_owned();
    let data = TempDir::new().expect("tempdir");
    let mut config = harness::bot_config_with(
        hs,
        &account,
        data.path(),
        staff_room.as_str(),
        &lead.user_id,
        &[ghost, &failing, &deputy.user_id],
        &format!(
            "leads_room = \"{leads_room}\"\nurgent_ack_timeout = \"4s\"\nack_timeout = \"30s\"\ndeputies_all_at_once = true"
        ),
    );
    // Only the bot goes through the proxy.
    config.matrix.homeserver_url = proxy.url.clone();
    let run = BotRun::start(config);
    staff.wait_for_member(&staff_room, &bot).await;
    lead.wait_for_member(&leads_room, &bot).await;
    deputy.wait_for_member(&leads_room, &deputy.user_id).await;

    // "Yes" to immediate danger: the lead is paged at once.
    staff.say(&staff_room, "/report").await;
    let first = staff
        .wait_for("the first question", |m| {
            m.sender == bot && m.body.contains("Is a crime in progress")
        })
        .await;
    staff.say(&first.room, "yes").await;
    let page = lead
        .wait_for("the lead's page", |m| {
            m.sender == bot && m.body.contains("URGENT")
        })
        .await;
    assert!(page.mentions_me, "the lead's phone rings");
    let concern = page.room.clone();

    // The lead is silent: at 4 s every deputy is invited and paged. The
    // deputy who can be is paged on time, beside the two who cannot.
    let deputy_page = deputy
        .wait_for(
            "the deputy's page",
            from(&bot, &concern, "not been acknowledged yet"),
        )
        .await;
    assert!(deputy_page.mentions_me, "the deputy's phone rings");
    let waited = deputy_page.ts_ms.saturating_sub(page.ts_ms);
    assert!(
        waited < 20_000,
        "the deputy is paged on time, not held up by the others: {waited} ms after the lead"
    );

    // The leads' room names each one who could not be reached: the one
    // refused at once and, before long, the one that kept failing, after
    // saying it was still trying.
    let refused = lead
        .wait_for(
            "the unreachable deputy named",
            from(&bot, &leads_room, &format!("could not invite {ghost}")),
        )
        .await;
    assert!(refused.body.contains("SG-0001"), "{}", refused.body);
    let still = lead
        .wait_for(
            "still trying",
            from(&bot, &leads_room, &format!("still trying to invite {failing}")),
        )
        .await;
    assert!(still.body.contains("SG-0001"), "{}", still.body);
    let gave_up = lead
        .wait_for(
            "the failing deputy named",
            from(&bot, &leads_room, &format!("could not invite {failing}")),
        )
        .await;
    assert!(gave_up.body.contains("SG-0001"), "{}", gave_up.body);
    assert!(
        proxy.seen().invite_faults >= 5,
        "{:?}",
        proxy.seen().invite_faults
    );
    run.stop().await;
}

/// A lead removed from the config (the deputy made lead) while a concern
/// is still being paged: after the restart they are taken out of the
/// concern's room and never invited, paged or mentioned again; the new lead
/// and the other deputy are paged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lead_removed_from_the_config_is_never_invited_or_paged_again() {
    let hs = homeserver();
    let (lead, deputy, deputy2, staff) = tokio::join!(
        Person::new(hs, "lead"),
        Person::new(hs, "deputy"),
        Person::new(hs, "deputy2"),
        Person::new(hs, "staff"),
    );
    let account = bot_account(hs).await;
    let bot = account.user_id.clone();
    let staff_room: OwnedRoomId = staff
        .create_encrypted_room("Staff", &[&lead.user_id, &deputy.user_id, &bot])
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
        &[&deputy.user_id, &deputy2.user_id],
        "urgent_ack_timeout = \"3s\"\nrepeat_interval = \"4s\"",
    );
    let run = BotRun::start(config);
    staff.wait_for_member(&staff_room, &bot).await;
    staff.say(&staff_room, "/report").await;
    let first = staff
        .wait_for("the first question", |m| {
            m.sender == bot && m.body.contains("Is a crime in progress")
        })
        .await;
    staff.say(&first.room, "yes").await;
    let page = lead
        .wait_for("the lead's page", |m| {
            m.sender == bot && m.body.contains("URGENT")
        })
        .await;
    let concern = page.room.clone();
    lead.wait_for_room(&concern).await;
    deputy
        .wait_for(
            "the deputy's page",
            from(&bot, &concern, "not been acknowledged yet"),
        )
        .await;
    deputy.wait_for_room(&concern).await;

    // The deputy is made lead; the lead is taken out of the settings.
    let mut config = run.stop().await;
    let restarted_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    config.safeguarding.lead = deputy.user_id.clone();
    config.safeguarding.deputies = vec![deputy2.user_id.clone()];
    let run = BotRun::start(config);

    // Repeats come every 4 s; the other deputy is paged.
    deputy2
        .wait_for("the other deputy's page", |m| {
            m.sender == bot
                && m.room == concern
                && m.body.contains("not been acknowledged yet")
                && m.mentions_me
        })
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    let pages_since: Vec<Received> = deputy
        .seen_in(&concern)
        .into_iter()
        .filter(|m| m.sender == bot && m.ts_ms >= restarted_at && m.body.contains("acknowledge"))
        .collect();
    assert!(pages_since.len() >= 2, "repeats go on: {pages_since:#?}");
    for m in &pages_since {
        assert!(
            !m.body.contains(&lead.user_id),
            "the former lead is mentioned again: {}",
            m.body
        );
    }
    let member = deputy
        .room(&concern)
        .get_member_no_sync(lead.id())
        .await
        .expect("the room's members")
        .map(|m| m.membership().clone());
    assert!(
        !matches!(
            member,
            Some(matrix_sdk::ruma::events::room::member::MembershipState::Invite)
                | Some(matrix_sdk::ruma::events::room::member::MembershipState::Join)
        ),
        "the former lead is not in the room or invited again: {member:?}"
    );
    run.stop().await;
}
