//! Paging on the Slack stand-in when some of the people to page cannot be
//! reached: one deputy Slack will not invite (a deactivated account,
//! refused for good) and one whose invitation fails on every try. The lead
//! and the other deputy are still paged on time, and the leads' channel
//! names each one who could not be reached.

use crate::common;
use crate::common::slack;

use std::path::Path;
use std::time::Duration;

use safeguarding_bot::config::{self, SLACK_APP_TOKEN_ENV, SLACK_BOT_TOKEN_ENV};
use safeguarding_bot::flow;
use safeguarding_bot::store::{Key, Store};
use slack::steps::{said, stop_bot, text, urgent_report, Running, PATIENCE};
use slack::{Message, SlackStandIn, DELETED, DEPUTY, LEAD, LEADS_CHANNEL, STAFF_2, STAFF_CHANNEL};
use tokio::sync::watch;

/// Starts the bot on `standin` with its data in `data`, `lead` and
/// `deputies`, and more `[safeguarding]` lines.
async fn start_bot(
    standin: &SlackStandIn,
    data: &Path,
    lead: &str,
    deputies: &[&str],
    extra: &str,
) -> Running {
    let deputies = deputies
        .iter()
        .map(|d| format!("\"{d}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text_config = format!(
        r#"
[slack]
staff_channels = ["{STAFF_CHANNEL}"]
api_url = "{api}"

[safeguarding]
organisation = "Test Charity"
lead = "{lead}"
deputies = [{deputies}]
leads_room = "{LEADS_CHANNEL}"
retention = "6 years"
{extra}

[storage]
data_dir = "{data}"

[flow]
file = "{flow}"
"#,
        api = standin.api_url(),
        data = data.display(),
        flow = common::repo_path(common::CLAPA).display(),
    );
    let (bot_token, app_token) = (standin.bot_token(), standin.app_token());
    let env = |k: &str| match k {
        SLACK_BOT_TOKEN_ENV => Some(bot_token.clone()),
        SLACK_APP_TOKEN_ENV => Some(app_token.clone()),
        _ => None,
    };
    let config =
        config::parse(&text_config, "slack.toml", Path::new("/"), env).expect("the test config is valid");
    let flow = flow::load_file(&config.flow.file).expect("flow");
    let key = Key::load_or_create(&config.storage.key_file).expect("key");
    let store = Store::open(&config.storage.data_dir.join("store"), key).expect("store");
    let (stop, stop_rx) = watch::channel(false);
    let slack = safeguarding_bot::slack::Slack::new(&config);
    let task = common::logs::spawn_bot(safeguarding_bot::bot::host(slack, config, flow, store, stop_rx));
    assert!(standin.wait_for_socket(PATIENCE).await, "the bot connects");
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deputies_who_cannot_be_invited_hold_up_no_page_and_are_named_to_the_leads() {
    common::init_log_capture();
    let standin = SlackStandIn::start_default().await;
    // A second member of staff stands in for a deputy whose invitation
    // fails on every try.
    standin.fail_invites_of(STAFF_2, "internal_error");
    let data = tempfile::tempdir().expect("a temporary data directory");
    let (stop, task) = start_bot(
        &standin,
        data.path(),
        LEAD,
        &[DELETED, STAFF_2, DEPUTY],
        "urgent_ack_timeout = \"4s\"\nack_timeout = \"30s\"\ndeputies_all_at_once = true",
    )
    .await;

    // "Yes" to immediate danger: the lead is paged at once.
    let (channel, page) = urgent_report(&standin).await;
    assert!(text(&page).contains(&format!("<@{LEAD}>")), "{}", text(&page));

    // The lead is silent: at 4 s every deputy is invited and paged; the one
    // who can be is paged on time, beside the two who cannot.
    let deputy_page = said(&standin, &channel.id, &format!("<@{DEPUTY}>")).await;
    let after = deputy_page.ts.parse::<f64>().unwrap_or(0.0) - page.ts.parse::<f64>().unwrap_or(0.0);
    assert!(
        after < 20.0,
        "the deputy is paged on time: {after} s after the lead"
    );
    assert!(standin.members(&channel.id).contains(&DEPUTY.to_string()));

    // The leads' channel names both who could not be reached (by name, as
    // Slack shows it, or by mention), the one refused at once and, before
    // long, the one that kept failing.
    let still = said(&standin, LEADS_CHANNEL, "still trying to invite").await;
    let named = |m: &Message, id: &str, names: [&str; 2]| {
        let t = text(m);
        t.contains("could not invite")
            && (t.contains(id) || names.iter().any(|n| t.contains(n)))
            && t.contains("SG-0001")
    };
    let given_up = standin
        .eventually(PATIENCE, |st| {
            let leads: Vec<Message> = st
                .world
                .messages
                .iter()
                .filter(|m| m.channel == LEADS_CHANNEL && m.from_bot)
                .cloned()
                .collect();
            let refused = leads
                .iter()
                .find(|m| named(m, DELETED, ["Gone Person", "gone.person"]))?
                .clone();
            let failing = leads
                .iter()
                .find(|m| named(m, STAFF_2, ["Sol Staff", "sol.staff"]))?
                .clone();
            Some((refused, failing))
        })
        .await;
    let Some((_refused, failing)) = given_up else {
        let seen: Vec<String> = standin.messages(LEADS_CHANNEL).iter().map(text).collect();
        panic!("the leads' channel does not name both: {seen:#?}");
    };
    assert!(
        still.ts < failing.ts,
        "told it was failing before it was given up"
    );
    assert!(!standin.members(&channel.id).contains(&STAFF_2.to_string()));

    stop_bot((stop, task)).await;
}

/// A lead taken out of the settings (the deputy made lead) while a concern
/// is still being paged: after the restart they are taken out of the
/// concern's channel and never invited, paged or mentioned again, and the
/// others are paged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_removed_from_the_config_is_never_invited_or_paged_again() {
    common::init_log_capture();
    let standin = SlackStandIn::start_default().await;
    let data = tempfile::tempdir().expect("a temporary data directory");
    let extra = "urgent_ack_timeout = \"3s\"\nrepeat_interval = \"4s\"";
    let running = start_bot(&standin, data.path(), LEAD, &[DEPUTY, STAFF_2], extra).await;
    let (channel, _page) = urgent_report(&standin).await;
    said(&standin, &channel.id, &format!("<@{DEPUTY}>")).await;
    stop_bot(running).await;
    let before = standin.messages(&channel.id).len();

    let running = start_bot(&standin, data.path(), DEPUTY, &[STAFF_2], extra).await;
    let paged = standin
        .eventually(PATIENCE, |st| {
            st.world
                .messages
                .iter()
                .filter(|m| m.channel == channel.id && m.from_bot)
                .skip(before)
                .find(|m| text(m).contains(&format!("<@{STAFF_2}>")))
                .cloned()
        })
        .await;
    assert!(paged.is_some(), "the other deputy is paged after the restart");
    tokio::time::sleep(Duration::from_secs(12)).await;
    let pages: Vec<String> = standin
        .messages(&channel.id)
        .iter()
        .skip(before)
        .filter(|m| m.from_bot && text(m).contains("acknowledge"))
        .map(text)
        .collect();
    assert!(pages.len() >= 2, "the repeats go on: {pages:#?}");
    for p in &pages {
        assert!(!p.contains(LEAD), "the former lead is mentioned again: {p}");
    }
    assert!(
        !standin.members(&channel.id).contains(&LEAD.to_string()),
        "the former lead is not in the channel"
    );
    stop_bot(running).await;
}
