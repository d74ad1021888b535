//! Pages outside the chat on the Slack stand-in: an urgent report pages
//! the lead in the concern's channel, by email (a real SMTP server) and by
//! SMS (the Twilio stand-in) at once; the lead ignores Slack and replies to
//! the SMS with its code, read by the bot's polling; the concern is
//! acknowledged, the reporter is told in their DM, and no SMS or email says
//! a word of the concern.

use std::time::Duration;

use crate::common;
use crate::common::slack::steps::{said, stop_bot, urgent_report, Running, PATIENCE};
use crate::common::slack::{SlackStandIn, LEAD, LEADS_CHANNEL, STAFF, STAFF_CHANNEL};
use crate::notify_e2e::{Outside, BOT_NUMBER, LEAD_EMAIL, LEAD_MOBILE};

use safeguarding_bot::config::{SLACK_APP_TOKEN_ENV, SLACK_BOT_TOKEN_ENV};
use safeguarding_bot::flow;
use safeguarding_bot::store::{Key, Store};
use tokio::sync::watch;

/// The bot on `standin`, the lead with a mobile and an email and `rules`,
/// replies read by polling; `tweak` changes the config before it starts.
async fn start_bot(
    standin: &SlackStandIn,
    outside: &Outside,
    data: &std::path::Path,
    rules: &str,
    tweak: impl FnOnce(&mut safeguarding_bot::config::Config),
) -> Running {
    let base = format!(
        r#"
[slack]
staff_channels = ["{STAFF_CHANNEL}"]
api_url = "{api}"

[safeguarding]
organisation = "Test Charity"
lead = "{LEAD}"
leads_room = "{LEADS_CHANNEL}"
retention = "6 years"

[storage]
data_dir = "{data}"

[flow]
file = "{flow}"
"#,
        api = standin.api_url(),
        data = data.display(),
        flow = common::repo_path(common::CLAPA).display(),
    );
    let contacts = format!(
        "[[safeguarding.contact]]\nwho = \"{LEAD}\"\nmobile = \"{LEAD_MOBILE}\"\nemail = \"{LEAD_EMAIL}\"\n{rules}\n\n[storage]"
    );
    let (bot_token, app_token) = (standin.bot_token(), standin.app_token());
    let mut config = outside.config_with_env(
        base,
        "replies = \"poll\"\npoll_interval = \"2s\"",
        &contacts,
        |k| match k {
            SLACK_BOT_TOKEN_ENV => Some(bot_token.clone()),
            SLACK_APP_TOKEN_ENV => Some(app_token.clone()),
            _ => None,
        },
    );
    tweak(&mut config);
    let flow = flow::load_file(&config.flow.file).expect("flow");
    let key = Key::load_or_create(&config.storage.key_file).expect("key");
    let store = Store::open(&config.storage.data_dir.join("store"), key).expect("store");
    let (stop, stop_rx) = watch::channel(false);
    let bot = safeguarding_bot::slack::Slack::new(&config);
    let task = common::logs::spawn_bot(safeguarding_bot::bot::host(bot, config, flow, store, stop_rx));
    assert!(standin.wait_for_socket(PATIENCE).await, "the bot connects");
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_slack_a_lead_acknowledges_by_replying_to_the_sms() {
    common::init_log_capture();
    let standin = SlackStandIn::start_default().await;
    let outside = Outside::start().await;
    let data = tempfile::tempdir().expect("a temporary data directory");
    let running = start_bot(&standin, &outside, data.path(), "", |_| {}).await;

    // Urgent: the lead is paged in the concern's channel, and by email and
    // SMS at once (the default for an urgent concern).
    let (channel, _page) = urgent_report(&standin).await;
    let dm = standin.dm_id(STAFF);
    let phrase = "russet-marten-5108";
    standin.post_user_message(STAFF, &dm, &format!("I saw {phrase}"));
    let sms = outside
        .wait_for_sms_to("the SMS page", LEAD_MOBILE, |s| !s.is_empty())
        .await;
    assert!(
        sms[0].contains("URGENT") && sms[0].contains("SG-0001") && sms[0].contains("Slack"),
        "{}",
        sms[0]
    );
    let code = sms[0].rsplit(' ').next().expect("a code").to_string();
    outside
        .wait_for_email(
            "the email page",
            LEAD_EMAIL,
            &["SG-0001", &format!("reply {code}")],
        )
        .await;

    // The lead replies to the SMS; the bot reads it from Twilio.
    outside.twilio.add_inbound(
        LEAD_MOBILE,
        BOT_NUMBER,
        &format!("ack {code}"),
        chrono::Utc::now(),
    );
    said(&standin, &dm, "acknowledged by").await;
    said(&standin, &channel.id, "acknowledged by").await;
    outside
        .wait_for_sms_to("the thank-you", LEAD_MOBILE, |s| {
            s.iter().any(|t| t.contains("acknowledged by you"))
        })
        .await;
    for t in outside.sms_to(LEAD_MOBILE) {
        assert!(!t.contains(phrase), "{t}");
    }
    for e in outside.smtp.received() {
        assert!(!e.text().contains(phrase));
    }
    assert!(!common::logs::captured_log().contains(phrase));

    stop_bot(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_slack_is_out_of_reach_the_lead_is_told_and_paged_by_sms_at_once() {
    common::init_log_capture();
    let standin = SlackStandIn::start_default().await;
    let outside = Outside::start().await;
    let data = tempfile::tempdir().expect("a temporary data directory");
    // Outside Slack only after ten minutes, normally.
    let rules = "rules = [\"chat\", \"email after 10m\", \"sms after 10m\"]\nurgent_rules = [\"chat\", \"email after 10m\", \"sms after 10m\"]";
    let running = start_bot(&standin, &outside, data.path(), rules, |c| {
        // Seconds in this test (the config takes a minute at least).
        c.health.unreachable_alert_after = Duration::from_secs(4);
    })
    .await;
    urgent_report(&standin).await;
    assert!(
        outside.sms_to(LEAD_MOBILE).is_empty(),
        "nothing outside Slack yet"
    );

    // Slack stops answering the bot's checks for a while.
    standin.fail_next("auth.test", 12, "service_unavailable");
    let sms = outside
        .wait_for_sms_to("told that Slack is out of reach, and paged", LEAD_MOBILE, |s| {
            s.iter().any(|t| t.contains("cannot reach Slack"))
                && s.iter().any(|t| t.contains("To acknowledge, reply"))
        })
        .await;
    assert!(
        sms.iter().any(|t| t.contains("URGENT") && t.contains("SG-0001")),
        "{sms:?}"
    );
    outside
        .wait_for_email(
            "emailed that Slack is out of reach",
            LEAD_EMAIL,
            &["cannot reach Slack"],
        )
        .await;
    // Back: the lead is told.
    outside
        .wait_for_sms_to("told that Slack is back", LEAD_MOBILE, |s| {
            s.iter().any(|t| t.contains("reaches Slack again"))
        })
        .await;
    // The leads' channel is told too, with how long it was.
    said(&standin, LEADS_CHANNEL, "I could not reach Slack for").await;
    stop_bot(running).await;
}
