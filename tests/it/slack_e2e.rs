//! The bot on Slack, end to end: the real adapter (`safeguarding_bot::slack::Slack`, run by `bot::host`)
//! over Socket Mode and the Web API, against the Slack stand-in
//! (tests/it/common/slack). Each test has its own stand-in, store and bot, so
//! they run side by side. They assert what people see: the replies only
//! the reporter sees, the messages in each channel, who is in it.

use crate::common;
use crate::common::slack;

use std::path::Path;
use std::time::{Duration, Instant};

use safeguarding_bot::casework::{Casefile, EntryKind};
use safeguarding_bot::concern::Reference;
use safeguarding_bot::config::{self, SLACK_APP_TOKEN_ENV, SLACK_BOT_TOKEN_ENV};
use safeguarding_bot::flow;
use safeguarding_bot::store::{Key, Store, Tree};
use slack::{
    ChannelKind, Message, SlackStandIn, DEPUTY, GUEST, LEAD, LEADS_CHANNEL, SHARED_CHANNEL, STAFF, STAFF_2,
    STAFF_CHANNEL, STRANGER,
};
use tokio::sync::watch;

/// How long to wait for anything the bot should do.
const PATIENCE: Duration = Duration::from_secs(15);

/// The bot, running in this process against its own stand-in.
struct Bot {
    standin: SlackStandIn,
    stop: watch::Sender<bool>,
    task: common::logs::BotTask<anyhow::Result<()>>,
    data: tempfile::TempDir,
}

impl Bot {
    /// Starts a stand-in and the bot on it, with more `[safeguarding]` lines.
    async fn start(safeguarding_extra: &str) -> Bot {
        let standin = SlackStandIn::start_default().await;
        let data = tempfile::tempdir().expect("a temporary data directory");
        Bot::start_on(standin, data, safeguarding_extra).await
    }

    /// Starts the bot on `standin` with its data in `data` (kept from an
    /// earlier run, for a restart).
    async fn start_on(standin: SlackStandIn, data: tempfile::TempDir, safeguarding_extra: &str) -> Bot {
        common::init_log_capture();
        let text = config_text(&standin, data.path(), safeguarding_extra);
        let (bot_token, app_token) = (standin.bot_token(), standin.app_token());
        let env = |k: &str| match k {
            SLACK_BOT_TOKEN_ENV => Some(bot_token.clone()),
            SLACK_APP_TOKEN_ENV => Some(app_token.clone()),
            _ => None,
        };
        let config =
            config::parse(&text, "slack.toml", Path::new("/"), env).expect("the test config is valid");
        let flow = flow::load_file(&config.flow.file).expect("flow");
        let key = Key::load_or_create(&config.storage.key_file).expect("key");
        let store = Store::open(&config.storage.data_dir.join("store"), key).expect("store");
        let (stop, stop_rx) = watch::channel(false);
        let slack = safeguarding_bot::slack::Slack::new(&config);
        let task = common::logs::spawn_bot(safeguarding_bot::bot::host(slack, config, flow, store, stop_rx));
        if !standin.wait_for_socket(PATIENCE).await {
            if task.is_finished() {
                panic!("the bot stopped: {:?}", task.await);
            }
            panic!("the bot did not connect over Socket Mode");
        }
        Bot {
            standin,
            stop,
            task,
            data,
        }
    }

    /// Stops the bot as SIGTERM would, and checks it stopped cleanly;
    /// returns the stand-in and the data, to start again on.
    async fn stop(self) -> (SlackStandIn, tempfile::TempDir) {
        let _ = self.stop.send(true);
        match tokio::time::timeout(Duration::from_secs(30), self.task).await {
            Ok(Ok(Ok(()))) => {}
            other => panic!("the bot did not stop cleanly: {other:?}"),
        }
        (self.standin, self.data)
    }

    /// The bot's messages in `channel` that contain `needle`.
    fn said(&self, channel: &str, needle: &str) -> Vec<Message> {
        self.standin
            .messages(channel)
            .into_iter()
            .filter(|m| m.from_bot && text(m).contains(needle))
            .collect()
    }

    /// Waits for the bot to say `needle` in `channel` after `after` (a ts).
    async fn wait_said(&self, channel: &str, needle: &str, after: &str) -> Message {
        let found = self
            .standin
            .eventually(PATIENCE, |st| {
                st.world
                    .messages
                    .iter()
                    .find(|m| {
                        m.channel == channel
                            && m.from_bot
                            && m.ts.as_str() > after
                            && text(m).contains(needle)
                    })
                    .cloned()
            })
            .await;
        found.unwrap_or_else(|| {
            let seen: Vec<String> = self.standin.messages(channel).iter().map(text).collect();
            let log = common::captured_log();
            let problems: Vec<&str> = log.lines().filter(|l| l.contains("ERROR") || l.contains("WARN")).collect();
            panic!("the bot did not say {needle:?} in {channel}; it said {seen:#?}\nwarnings and errors logged:\n{}", problems.join("\n"))
        })
    }

    /// `user` writes `words` in `channel`; waits for the bot's reply there
    /// holding `expect`.
    async fn answer_as(&self, user: &str, channel: &str, words: &str, expect: &str) -> Message {
        let pushed = self.standin.post_user_message(user, channel, words);
        let ts = pushed.ts.expect("a message has a ts");
        self.wait_said(channel, expect, &ts).await
    }

    async fn answer(&self, dm: &str, words: &str, expect: &str) -> Message {
        self.answer_as(STAFF, dm, words, expect).await
    }

    /// `/report` in the staff channel; returns the DM the questions come in.
    async fn report_by_command(&self) -> String {
        let command = self.standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
        let latency = self
            .standin
            .wait_for_ack(&command.envelope_id, PATIENCE)
            .await
            .expect("/report is acknowledged");
        assert!(latency < Duration::from_secs(3), "acknowledged after {latency:?}");
        let reply = self.reply_to(&command.envelope_id);
        assert!(reply.is_ephemeral(), "only the reporter sees the reply");
        assert!(
            reply.text().contains("I've messaged you privately") && reply.text().contains("call 999"),
            "{}",
            reply.text()
        );
        let dm = self.standin.dm_id(STAFF);
        self.wait_said(&dm, "Is a crime in progress", "").await;
        dm
    }

    /// Waits for a form of the reporter's showing `words` (other than the
    /// view `not`), and returns it.
    async fn form_showing(&self, words: &str, not: Option<&str>) -> slack::View {
        let found = self
            .standin
            .eventually(PATIENCE, |st| {
                st.views
                    .views
                    .iter()
                    .find(|v| {
                        v.user == STAFF
                            && v.open
                            && Some(v.id.as_str()) != not
                            && v.view.to_string().contains(words)
                    })
                    .cloned()
            })
            .await;
        found.unwrap_or_else(|| panic!("no form showing {words:?}: {:#?}", self.standin.views_of(STAFF)))
    }

    fn reply_to(&self, envelope_id: &str) -> slack::Reply {
        self.standin
            .replies()
            .into_iter()
            .find(|r| r.envelope_id.as_deref() == Some(envelope_id))
            .expect("a reply to the command")
    }

    /// Answers the flow down to the record, with `phrase` in the account,
    /// and sends it; returns the reporter's confirmation.
    async fn report_not_urgent(&self, dm: &str, phrase: &str) -> Message {
        self.answer(dm, "no", "child sexual content").await;
        self.answer(dm, "no", "communicating with a child").await;
        self.answer(dm, "no", "known person").await;
        self.answer(dm, "no", "What did you see or hear").await;
        self.report_from_the_account(dm, phrase).await
    }

    /// From "What did you see or hear" on, typed, with `phrase` in the
    /// account; sends it and returns the reporter's confirmation.
    async fn report_from_the_account(&self, dm: &str, phrase: &str) -> Message {
        self.answer(dm, &format!("I saw {phrase} in a group chat"), "their own words")
            .await;
        self.answer(dm, "skip", "When did it happen").await;
        self.answer(dm, "this morning", "Who is involved").await;
        self.answer(dm, "a child, about 12", "Where online").await;
        self.answer(dm, "a group chat, account @someone", "Who else knows")
            .await;
        self.answer(dm, "skip", "What have you done so far").await;
        self.answer(dm, "skip", "Which area of risk").await;
        self.answer(dm, "2", "What is your role").await;
        self.answer(dm, "volunteer", "anything else").await;
        self.answer(dm, "skip", "Please check your report").await;
        self.answer(dm, "send", "recorded as SG-").await
    }

    /// The concern's channel, once it has the lead in it.
    async fn concern_channel(&self, name: &str) -> slack::Channel {
        self.standin
            .eventually(PATIENCE, |st| {
                st.world
                    .channel_named(name)
                    .filter(|c| c.has_member(LEAD))
                    .cloned()
            })
            .await
            .unwrap_or_else(|| panic!("no channel {name} with the lead in it"))
    }
}

/// The config for a bot on `standin`, with its data in `data`. Lines for
/// `[slack]` may come first in `safeguarding_extra`, before a line `--`.
fn config_text(standin: &SlackStandIn, data: &Path, safeguarding_extra: &str) -> String {
    let (slack_extra, safeguarding_extra) = safeguarding_extra
        .split_once("--\n")
        .unwrap_or(("", safeguarding_extra));
    format!(
        r#"
[slack]
staff_channels = ["{STAFF_CHANNEL}"]
api_url = "{api}"
{slack_extra}

[safeguarding]
organisation = "Test Charity"
lead = "{LEAD}"
deputies = ["{DEPUTY}"]
leads_room = "{LEADS_CHANNEL}"
retention = "6 years"
{safeguarding_extra}

[storage]
data_dir = "{data}"

[flow]
file = "{flow}"
"#,
        api = standin.api_url(),
        data = data.display(),
        flow = common::repo_path(common::CLAPA).display(),
    )
}

fn text(m: &Message) -> String {
    m.text.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_by_slash_command_pages_the_lead_who_acknowledges_with_a_reaction() {
    let bot = Bot::start("").await;
    let phrase = "crimson-otter-5521";
    let dm = bot.report_by_command().await;
    let done = bot.report_not_urgent(&dm, phrase).await;
    assert!(text(&done).contains("SG-0001"), "{}", text(&done));

    // A private channel named by the reference alone, the lead in it.
    let channel = bot.concern_channel("sg-0001").await;
    assert_eq!(channel.kind, ChannelKind::Private);
    let page = bot.wait_said(&channel.id, "<@U0LEAD0001>", "").await;
    let page_text = text(&page);
    assert!(
        page_text.contains("SG-0001") && page_text.contains("!ack"),
        "{page_text}"
    );
    assert!(
        !page_text.contains(phrase) && !page_text.contains("group chat"),
        "a page's text (what a locked phone shows) carries no detail: {page_text}"
    );
    let record = bot.wait_said(&channel.id, phrase, "").await;
    assert!(record.ts > page.ts, "the record follows the page");

    // A ✅ acknowledges; the lead and the reporter are told.
    bot.standin
        .add_reaction(LEAD, &channel.id, &page.ts, "white_check_mark");
    bot.wait_said(&channel.id, "acknowledged by", &page.ts).await;
    let told = bot.wait_said(&dm, "has been acknowledged by", "").await;
    assert!(text(&told).contains("SG-0001"), "{}", text(&told));

    // The phrase is nowhere but the DM and the concern's channel.
    assert!(
        bot.standin.messages(STAFF_CHANNEL).is_empty(),
        "nothing is posted in the staff channel"
    );
    for c in bot.standin.channels() {
        let name = c.name.clone().unwrap_or_default();
        assert!(!name.contains("otter") && !name.contains("crimson"), "{name}");
        if c.id != dm && c.id != channel.id {
            for m in bot.standin.messages(&c.id) {
                assert!(!text(&m).contains(phrase), "{}: {}", c.id, text(&m));
            }
        }
    }
    let log = common::captured_log();
    assert!(!log.is_empty(), "logs were captured");
    assert!(!log.contains(phrase), "the concern's words are in the log");
    assert!(
        bot.standin.late_or_missing_acks().is_empty(),
        "{:?}",
        bot.standin.late_or_missing_acks()
    );
    // Every Web API method the adapter called is granted by the manifest.
    for call in bot.standin.calls() {
        assert_ne!(
            call.answer["error"], "missing_scope",
            "{} needs a scope",
            call.method
        );
    }
    let asked: Vec<String> = bot
        .said(&dm, "Is a crime in progress")
        .iter()
        .map(text)
        .filter(|t| t.starts_with("Is a crime in progress"))
        .collect();
    assert_eq!(asked.len(), 1, "the first question is asked once: {asked:#?}");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_and_someone_from_another_organisation_are_refused_with_the_public_routes() {
    let bot = Bot::start("").await;
    for (user, channel, why) in [
        (GUEST, STAFF_CHANNEL, "Guest accounts"),
        (STRANGER, SHARED_CHANNEL, "another organisation"),
    ] {
        let command = bot.standin.push_slash_command(user, channel, "");
        let latency = bot
            .standin
            .wait_for_ack(&command.envelope_id, PATIENCE)
            .await
            .expect("acknowledged");
        assert!(latency < Duration::from_secs(3), "{latency:?}");
        let reply = bot.reply_to(&command.envelope_id);
        let words = reply.text();
        assert!(reply.is_ephemeral());
        for must in [why, "999", "0808 800 5000", "CEOP"] {
            assert!(words.contains(must), "{user}: {must} in {words}");
        }
        assert!(
            bot.standin.messages(channel).is_empty(),
            "nothing posted in {channel}"
        );
    }

    // A guest who writes "report" to the bot directly is refused there.
    let dm = bot.standin.dm_id(GUEST);
    let refusal = bot.answer_as(GUEST, &dm, "report", "0808 800 5000").await;
    assert!(text(&refusal).contains("999") && text(&refusal).contains("CEOP"));
    assert!(
        bot.said(&dm, "Is a crime in progress").is_empty(),
        "no question is asked of a guest"
    );
    assert!(
        bot.standin.calls_to("conversations.create").is_empty(),
        "no concern channel is made"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_a_reconnect_mid_report_lose_nothing_and_answer_nothing_twice() {
    let bot = Bot::start("").await;
    // Typed "report" in the DM starts it too.
    let dm = bot.standin.dm_id(STAFF);
    let first = bot.answer(&dm, "report", "Is a crime in progress").await;

    bot.standin.duplicate_next_events(2);
    let answered = bot.answer(&dm, "no", "child sexual content").await;
    // Slack asks the bot to reconnect; the next answer comes on the new socket.
    bot.standin.refresh_connections();
    bot.standin
        .eventually(PATIENCE, |st| (st.socket.opens >= 2).then_some(()))
        .await
        .expect("the bot opens a new connection");
    let next = bot.standin.post_user_message(STAFF, &dm, "no");
    bot.wait_said(&dm, "communicating with a child", &answered.ts)
        .await;
    // And an old event delivered once more.
    bot.standin.repeat_event(&next.event_ids[0]);
    bot.answer(&dm, "no", "known person").await;
    // /report mid-report points back to the DM and asks nothing again.
    let command = bot.standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    bot.standin
        .wait_for_ack(&command.envelope_id, PATIENCE)
        .await
        .expect("acknowledged");
    let reply = bot.reply_to(&command.envelope_id).text();
    assert!(reply.contains("in progress") && reply.contains("999"), "{reply}");
    tokio::time::sleep(Duration::from_secs(1)).await;

    for question in [
        "Is a crime in progress",
        "child sexual content",
        "communicating with a child",
        "known person",
    ] {
        assert_eq!(bot.said(&dm, question).len(), 1, "{question:?} asked once");
    }
    assert!(first.ts < answered.ts);
    let envelopes = bot.standin.envelopes();
    assert!(
        envelopes
            .iter()
            .filter(|e| e.kind == "events_api")
            .all(|e| e.acked_at.is_some()),
        "every envelope, duplicates included, is acknowledged"
    );
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out_for_its_retry_after() {
    let bot = Bot::start("").await;
    bot.standin.rate_limit_next("chat.postMessage", 1, 2);
    let started = Instant::now();
    let dm = bot.report_by_command().await;
    let posts = bot.standin.calls_to("chat.postMessage");
    let limited = posts
        .iter()
        .position(|c| c.status == 429)
        .expect("a 429 answered");
    let next = posts.get(limited + 1).expect("a post after the 429");
    let waited = next.at.duration_since(posts[limited].at);
    assert!(waited >= Duration::from_millis(1950), "retried after {waited:?}");
    assert!(started.elapsed() < PATIENCE);
    assert_eq!(bot.said(&dm, "Is a crime in progress").len(), 1, "sent once");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_danger_tells_999_first_and_a_silent_lead_is_covered_by_the_deputy() {
    let bot = Bot::start("urgent_ack_timeout = \"4s\"").await;
    let dm = bot.report_by_command().await;
    let pushed = bot.standin.post_user_message(STAFF, &dm, "yes");
    let yes = bot
        .wait_said(&dm, "999", pushed.ts.as_deref().unwrap_or_default())
        .await;
    let first_reply = bot
        .standin
        .messages(&dm)
        .into_iter()
        .find(|m| m.from_bot && m.ts.as_str() > pushed.ts.as_deref().unwrap_or_default())
        .expect("a reply");
    assert_eq!(
        first_reply.ts, yes.ts,
        "the very next reply is the 999 instruction"
    );
    assert!(text(&yes).starts_with("Call 999 now"), "{}", text(&yes));
    let channel = bot.concern_channel("sg-0001").await;
    let page = bot.wait_said(&channel.id, "URGENT", "").await;
    assert!(text(&page).contains("<@U0LEAD0001>"), "{}", text(&page));
    assert!(yes.ts < page.ts, "999 is said before the page goes");
    assert!(
        bot.said(&channel.id, "Reference: SG-0001").is_empty(),
        "the page goes before any record"
    );

    // The lead is silent: the deputy is invited and paged at the deadline.
    let deputy_page = bot.wait_said(&channel.id, "<@U0DEPUTY01>", &page.ts).await;
    assert!(
        bot.standin.members(&channel.id).contains(&DEPUTY.to_string()),
        "the deputy is in the concern's channel"
    );
    assert!(
        text(&deputy_page).contains("not been acknowledged yet"),
        "{}",
        text(&deputy_page)
    );
    let paged_after = deputy_page.ts.parse::<f64>().unwrap_or(0.0) - page.ts.parse::<f64>().unwrap_or(0.0);
    assert!(
        paged_after >= 2.5,
        "the deputy is paged at the deadline: {paged_after}s"
    );

    bot.answer_as(DEPUTY, &channel.id, "!ack", "acknowledged by")
        .await;
    let told = bot.wait_said(&dm, "has been acknowledged by", "").await;
    assert!(
        text(&told).contains("dee.deputy") && !text(&told).contains(DEPUTY),
        "the reporter hears who, by name: {}",
        text(&told)
    );

    // The report goes on to its record, which follows the page.
    bot.report_from_the_account(&dm, "saffron-kettle-3197").await;
    let record = bot.wait_said(&channel.id, "saffron-kettle-3197", &page.ts).await;
    assert!(text(&record).contains("Urgent: yes"), "{}", text(&record));
    assert!(record.ts > page.ts, "the record follows the urgent page");
    bot.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lead_notes_and_closes_and_the_reporter_hears_only_that_it_closed() {
    let bot = Bot::start("").await;
    let dm = bot.report_by_command().await;
    bot.report_not_urgent(&dm, "amber-heron-7740").await;
    let channel = bot.concern_channel("sg-0001").await;
    let page = bot.wait_said(&channel.id, "<@U0LEAD0001>", "").await;
    // The page's "Acknowledge" button.
    let press = bot.standin.press_button(LEAD, &channel.id, &page.ts, "ack");
    let latency = bot
        .standin
        .wait_for_ack(&press, PATIENCE)
        .await
        .expect("acknowledged");
    assert!(latency < Duration::from_secs(3), "{latency:?}");
    bot.wait_said(&channel.id, "acknowledged by", &page.ts).await;

    // !export uploads the PDF to the concern's channel.
    bot.standin.post_user_message(LEAD, &channel.id, "!export");
    let pdf = bot
        .standin
        .eventually(PATIENCE, |st| {
            st.world
                .files
                .iter()
                .find(|f| f.completed && f.channel.as_deref() == Some(channel.id.as_str()))
                .cloned()
        })
        .await
        .expect("the export is uploaded to the concern's channel");
    assert!(
        pdf.bytes.as_deref().unwrap_or_default().starts_with(b"%PDF"),
        "a PDF"
    );
    assert!(pdf.filename.contains("SG-0001"), "{}", pdf.filename);

    let note = "Phoned the parent, who will keep the chat log";
    let noted = bot
        .answer_as(LEAD, &channel.id, &format!("!note {note}"), "Noted as entry")
        .await;
    assert_eq!(text(&noted), "Noted as entry 1 of SG-0001.");
    let choices = bot.answer_as(LEAD, &channel.id, "!close", "Which outcome?").await;
    assert!(
        text(&choices).contains("6 Referred to the police"),
        "{}",
        text(&choices)
    );
    let outcome = "PC Jones has the log";
    bot.answer_as(
        LEAD,
        &channel.id,
        &format!("!close 6 {outcome}"),
        "SG-0001 is closed",
    )
    .await;
    let told = bot.wait_said(&dm, "has been closed", "").await;
    assert!(text(&told).contains("SG-0001"));
    for m in bot.standin.messages(&dm) {
        assert!(
            !text(&m).contains(note) && !text(&m).contains(outcome),
            "{}",
            text(&m)
        );
    }
    // The leads' channel has nothing open, and counts it closed.
    let list = bot
        .answer_as(LEAD, LEADS_CHANNEL, "!list", "no open concerns")
        .await;
    assert!(!text(&list).contains("SG-0001"), "{}", text(&list));
    let stats = bot
        .answer_as(
            LEAD,
            LEADS_CHANNEL,
            "!stats since 1 January 2026",
            "1 concern reported",
        )
        .await;
    assert!(text(&stats).contains("1 closed"), "{}", text(&stats));
    bot.stop().await;
}

/// Slack's `message_changed` for `user`'s message `ts` in `channel`, its
/// text `before` now `after` (docs.slack.dev/reference/events/message/message_changed).
/// Edited by its author, it carries `edited`; a link preview Slack adds
/// (an unfurl) changes only `attachments`, with no `edited`.
fn message_changed(
    standin: &SlackStandIn,
    channel: &slack::Channel,
    user: &str,
    ts: &str,
    before: &str,
    after: &str,
    edited: bool,
) -> serde_json::Value {
    let now = standin.state().world.new_ts();
    let mut message = serde_json::json!({
        "type": "message",
        "user": user,
        "text": after,
        "ts": ts,
        "team": slack::TEAM_ID,
    });
    if edited {
        message["edited"] = serde_json::json!({ "user": user, "ts": now });
    } else {
        message["attachments"] = serde_json::json!([{
            "from_url": "https://www.ceop.police.uk/Safety-Centre",
            "title": "CEOP Safety Centre",
            "title_link": "https://www.ceop.police.uk/Safety-Centre",
            "service_name": "ceop.police.uk",
            "id": 1,
        }]);
    }
    serde_json::json!({
        "type": "message",
        "subtype": "message_changed",
        "hidden": true,
        "channel": channel.id,
        "ts": now,
        "event_ts": now,
        "channel_type": slack::payloads::channel_type_for_message(channel),
        "message": message,
        "previous_message": {
            "type": "message",
            "user": user,
            "text": before,
            "ts": ts,
            "team": slack::TEAM_ID,
        },
    })
}

/// A note with a link that Slack then gives a preview is recorded once, and
/// nothing is said of the preview; an edited `!decision` or `!close` is not
/// applied, and the lead is told to send the command again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_preview_or_an_edit_never_runs_a_command_twice() {
    let bot = Bot::start("").await;
    let dm = bot.report_by_command().await;
    bot.report_not_urgent(&dm, "slate-otter-5127").await;
    let channel = bot.concern_channel("sg-0001").await;
    bot.wait_said(&channel.id, "<@U0LEAD0001>", "").await;
    let said = |command: &str, expect: &str| {
        let ts = bot
            .standin
            .post_user_message(LEAD, &channel.id, command)
            .ts
            .expect("a message has a ts");
        (ts, expect.to_string())
    };
    let note = "!note Sent the parent CEOP's advice: https://www.ceop.police.uk/Safety-Centre";
    let (note_ts, expect) = said(note, "Noted as entry");
    bot.wait_said(&channel.id, &expect, &note_ts).await;
    bot.standin.push_event(message_changed(
        &bot.standin,
        &channel,
        LEAD,
        &note_ts,
        note,
        note,
        false,
    ));

    let decision = "!decision no referral because the parent has it in hand";
    let (decision_ts, expect) = said(decision, "Decision and its reason recorded");
    bot.wait_said(&channel.id, &expect, &decision_ts).await;
    let changed = "!decision refer to the police because the parent asked for it";
    bot.standin.push_event(message_changed(
        &bot.standin,
        &channel,
        LEAD,
        &decision_ts,
        decision,
        changed,
        true,
    ));

    let close = "!close 2 advice given to the family";
    let (close_ts, expect) = said(close, "SG-0001 is closed");
    bot.wait_said(&channel.id, &expect, &close_ts).await;
    bot.standin.push_event(message_changed(
        &bot.standin,
        &channel,
        LEAD,
        &close_ts,
        close,
        "!close 6 referred to the police",
        true,
    ));
    // The lead's events are handled in order: once this is answered, so
    // are the changes before it.
    bot.answer_as(LEAD, &channel.id, "!help", "!note").await;
    bot.wait_said(&dm, "has been closed", "").await;

    let seen: Vec<String> = bot.standin.messages(&channel.id).iter().map(text).collect();
    for (expect, times) in [
        ("Noted as entry", 1),
        ("Decision and its reason recorded", 1),
        ("SG-0001 is closed", 1),
        ("send it again as a new message", 2),
    ] {
        assert_eq!(
            bot.said(&channel.id, expect).len(),
            times,
            "{expect:?} in the concern's channel: {seen:#?}"
        );
    }
    assert_eq!(bot.said(&dm, "has been closed").len(), 1);
    let (_standin, data) = bot.stop().await;
    let key = Key::load_or_create(&data.path().join("key")).expect("key");
    let store = Store::open(&data.path().join("store"), key).expect("store");
    let casefile: Casefile = store
        .get_item(Tree::Casefiles, "SG-0001")
        .expect("the store reads")
        .expect("the casefile is kept");
    let count = |kind: fn(&EntryKind) -> bool| casefile.entries.iter().filter(|e| kind(&e.kind)).count();
    let all = format!("{:#?}", casefile.entries);
    assert_eq!(count(|k| matches!(k, EntryKind::Note { .. })), 1, "{all}");
    assert_eq!(count(|k| matches!(k, EntryKind::Decision { .. })), 1, "{all}");
    assert_eq!(count(|k| matches!(k, EntryKind::Closed { .. })), 1, "{all}");
    assert!(
        !all.contains("parent asked") && !all.contains("Referred to the police"),
        "an edit was recorded: {all}"
    );
}

#[test]
fn the_slack_example_config_checks_and_runs_on_slack() {
    let path = common::repo_path("deploy/config.slack.example.toml");
    let env = |k: &str| match k {
        SLACK_BOT_TOKEN_ENV => Some("xoxb-1-2-example".to_string()),
        SLACK_APP_TOKEN_ENV => Some("xapp-1-A1-example".to_string()),
        _ => None,
    };
    // As shipped it is refused until filled in; its values are valid.
    let unedited = config::load(&path, env).expect_err("the example must be filled in first");
    assert!(unedited.to_string().contains("the staff channels"), "{unedited}");
    let text = std::fs::read_to_string(&path).expect("the example");
    let base = path.parent().expect("deploy/");
    let config = config::parse(&text, "example", base, env).expect("the example is valid");
    assert_eq!(config.transport(), config::Transport::Slack);
    assert_eq!(config.staff_rooms(), [STAFF_CHANNEL]);
    assert_eq!(config.safeguarding.lead, LEAD);
}

/// The program itself: `check-config` says it runs on Slack, and `run`
/// connects to the stand-in over Socket Mode and answers `/report`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_program_checks_a_slack_config_and_runs_on_slack() {
    let standin = SlackStandIn::start_default().await;
    let data = tempfile::tempdir().expect("a temporary data directory");
    let file = data.path().join("slack.toml");
    std::fs::write(&file, config_text(&standin, &data.path().join("data"), "")).expect("write the config");
    let program = env!("CARGO_BIN_EXE_safeguarding-bot");
    let with_tokens = |c: &mut std::process::Command| {
        c.env(SLACK_BOT_TOKEN_ENV, standin.bot_token())
            .env(SLACK_APP_TOKEN_ENV, standin.app_token())
            .env_remove("SAFEGUARDING_BOT_KEY");
    };

    let mut check = std::process::Command::new(program);
    check.arg("check-config").arg(&file);
    with_tokens(&mut check);
    let out = check.output().expect("check-config runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("ok: runs on Slack (Socket Mode), staff channels C0123456789"),
        "{said}"
    );

    // A Matrix id in a Slack config: the key, and what to write.
    let wrong = data.path().join("wrong.toml");
    let wrong_text = std::fs::read_to_string(&file)
        .expect("read")
        .replace(LEAD, "@dsl:example.org");
    std::fs::write(&wrong, wrong_text).expect("write");
    let mut check = std::process::Command::new(program);
    check.arg("check-config").arg(&wrong);
    with_tokens(&mut check);
    let out = check.output().expect("check-config runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "[safeguarding] lead: \"@dsl:example.org\" is a Matrix user id, but this config runs on Slack"
        ),
        "{err}"
    );

    let mut run = std::process::Command::new(program);
    run.arg("run").arg("--config").arg(&file);
    with_tokens(&mut run);
    let mut child = run
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the bot starts");
    let connected = standin.wait_for_socket(PATIENCE).await;
    let command = connected.then(|| standin.push_slash_command(STAFF, STAFF_CHANNEL, ""));
    let acked = match &command {
        Some(c) => standin.wait_for_ack(&c.envelope_id, PATIENCE).await,
        None => None,
    };
    let dm = standin.dm_id(STAFF);
    let asked = standin
        .eventually(PATIENCE, |st| {
            st.world
                .messages
                .iter()
                .any(|m| m.channel == dm && m.from_bot && text(m).contains("Is a crime in progress"))
                .then_some(())
        })
        .await;
    // SIGTERM, as systemd stops it.
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let stopped = tokio::task::spawn_blocking(move || child.wait()).await;
    assert!(connected, "the program connects over Socket Mode");
    assert!(
        acked.is_some_and(|a| a < Duration::from_secs(3)),
        "/report acknowledged in time"
    );
    let status = stopped.expect("joined").expect("waited");
    assert!(status.success(), "the program stops cleanly on SIGTERM: {status}");
    assert!(asked.is_some(), "the first question reached the DM");
}

/// Past its retention period, a closed concern goes: the bot's messages in
/// its channel are deleted, the channel archived, the bot's copies in the
/// reporter's DM deleted. What the reporter typed stays: a bot cannot
/// delete it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_the_bots_messages_and_archives_the_channel() {
    let bot = Bot::start("").await;
    let phrase = "violet-badger-3310";
    let dm = bot.report_by_command().await;
    bot.report_not_urgent(&dm, phrase).await;
    let channel = bot.concern_channel("sg-0001").await;
    bot.wait_said(&channel.id, phrase, "").await;
    bot.answer_as(LEAD, &channel.id, "!ack", "acknowledged by").await;
    bot.answer_as(LEAD, &channel.id, "!close 1", "SG-0001 is closed")
        .await;
    bot.wait_said(&dm, "has been closed", "").await;
    let (standin, data) = bot.stop().await;
    close_long_ago(data.path());

    let bot = Bot::start_on(standin, data, "").await;
    let archived = bot
        .standin
        .eventually(Duration::from_secs(30), |st| {
            st.world.channel(&channel.id).filter(|c| c.archived).cloned()
        })
        .await;
    assert!(archived.is_some(), "the concern's channel is archived");
    let left: Vec<String> = bot.standin.messages(&channel.id).iter().map(text).collect();
    assert!(
        left.iter()
            .all(|t| !t.contains(phrase) && !t.contains("<@U0LEAD0001>")),
        "the record and the page are deleted: {left:#?}"
    );
    let deleted = bot.standin.deleted_messages();
    assert!(deleted
        .iter()
        .any(|m| m.channel == channel.id && text(m).contains(phrase)));
    bot.stop().await;
}

/// A lead lets a member of staff into a concern's channel: the bot removes
/// them at once and says so in the channel; the lead stays.
/// Each message the bot posts in a concern's channel is noted on its own
/// (a post adds one record and rewrites none), for retention to delete
/// with the channel. Nothing is noted for the leads' channel, which
/// retention never clears, and the list an earlier version kept for it is
/// forgotten by the daily sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_posts_are_noted_one_by_one_and_never_for_the_leads_channel() {
    let standin = SlackStandIn::start_default().await;
    let data = tempfile::tempdir().expect("a temporary data directory");
    let legacy = format!("slack posted {LEADS_CHANNEL}");
    {
        let key = Key::load_or_create(&data.path().join("key")).expect("key");
        let store = Store::open(&data.path().join("store"), key).expect("store");
        let list = vec!["1600000000.000100".to_string()];
        store.put_item(Tree::Settings, &legacy, &list).expect("put");
        store.flush().expect("flush");
    }
    let started = Instant::now();
    let bot = Bot::start_on(standin, data, "").await;
    let dm = bot.report_by_command().await;
    bot.report_not_urgent(&dm, "pewter-finch-2290").await;
    let channel = bot.concern_channel("sg-0001").await;
    bot.answer_as(LEAD, &channel.id, "!ack", "acknowledged by").await;
    bot.answer_as(LEAD, &channel.id, "!note Called the parent", "Noted as entry")
        .await;
    bot.answer_as(LEAD, LEADS_CHANNEL, "!list", "open concern").await;
    // The daily sweep first runs five seconds after the start.
    if let Some(left) = Duration::from_secs(8).checked_sub(started.elapsed()) {
        tokio::time::sleep(left).await;
    }
    let mut posted: Vec<String> = bot
        .standin
        .messages(&channel.id)
        .into_iter()
        .filter(|m| m.from_bot)
        .map(|m| m.ts)
        .collect();
    let (_standin, data) = bot.stop().await;

    let key = Key::load_or_create(&data.path().join("key")).expect("key");
    let store = Store::open(&data.path().join("store"), key).expect("store");
    let items: Vec<(String, serde_json::Value)> = store
        .items::<serde_json::Value>(Tree::Settings)
        .expect("the store reads")
        .into_iter()
        .filter(|(k, _)| k.starts_with("slack posted "))
        .collect();
    assert!(
        !items.iter().any(|(k, _)| k.contains(LEADS_CHANNEL)),
        "the leads' channel's posts are not kept: {items:#?}"
    );
    let mut noted: Vec<String> = Vec::new();
    for (k, v) in items.iter().filter(|(k, _)| k.contains(&channel.id)) {
        assert!(!v.is_array(), "one record per message, not a list: {k} {v}");
        noted.push(v["ts"].as_str().unwrap_or_default().to_string());
    }
    noted.sort();
    posted.sort();
    assert!(
        posted.len() >= 4,
        "the page, the record and the answers: {posted:?}"
    );
    assert_eq!(
        noted, posted,
        "each message posted in the concern's channel, once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_not_a_lead_let_into_a_concern_channel_is_removed() {
    let bot = Bot::start("").await;
    let dm = bot.report_by_command().await;
    bot.report_not_urgent(&dm, "sable-wren-6120").await;
    let channel = bot.concern_channel("sg-0001").await;
    bot.wait_said(&channel.id, "sable-wren-6120", "").await;
    bot.standin.add_to_channel(STAFF, &channel.id, Some(LEAD));
    let told = bot.wait_said(&channel.id, "I have removed", "").await;
    assert!(
        text(&told).contains("sam.staff") && !text(&told).contains(STAFF),
        "{}",
        text(&told)
    );
    let after = bot
        .standin
        .eventually(PATIENCE, |st| {
            st.world
                .channel_named("sg-0001")
                .filter(|c| !c.has_member(STAFF))
                .cloned()
        })
        .await
        .expect("the member of staff is taken out of the channel");
    assert!(after.has_member(LEAD), "the lead stays: {:?}", after.members);
    assert_eq!(bot.said(&channel.id, "I have removed").len(), 1);
    bot.stop().await;
}

/// A picture sent in the DM: Slack lets a bot delete only its own messages,
/// so the reporter is told it was not kept and asked to delete it, and the
/// bot does not claim to have removed it (nor tries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_in_the_dm_is_not_kept_and_the_reporter_asked_to_delete_it() {
    let bot = Bot::start("").await;
    let dm = bot.report_by_command().await;
    // As docs.slack.dev/reference/events/message/file_share shows it.
    bot.standin.push_event(serde_json::json!({
        "type": "message",
        "subtype": "file_share",
        "channel": dm,
        "channel_type": "im",
        "user": STAFF,
        "text": "",
        "ts": "1900000000.000100",
        "event_ts": "1900000000.000100",
        "files": [{"id": "F0PICTURE1", "name": "screenshot.png", "mimetype": "image/png"}],
    }));
    let told = bot.wait_said(&dm, "Please don't send pictures", "").await;
    let words = text(&told);
    assert!(words.contains("can't remove it from this chat"), "{words}");
    assert!(!words.contains("I have removed it"), "{words}");
    assert!(words.contains("Internet Watch Foundation"), "{words}");
    assert!(
        bot.standin.calls_to("chat.delete").is_empty(),
        "no attempt to delete their message"
    );
    bot.stop().await;
}

/// The labels of a message's buttons, in order, with their action ids.
fn buttons_of(m: &Message) -> Vec<(String, String)> {
    let Some(blocks) = m.blocks.as_ref().and_then(|b| b.as_array()) else {
        return Vec::new();
    };
    blocks
        .iter()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            (
                e["text"]["text"].as_str().unwrap_or_default().to_string(),
                e["action_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Every choice is also a button. A pressed button is acknowledged within
/// Slack's 3 seconds, said back in the DM as the answer, and answers that
/// question; the same question's button pressed again later is not taken
/// for the next one. Typed answers work beside them, and the record holds
/// what was pressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_choice_is_a_button_and_a_press_is_said_back_as_the_answer() {
    let bot = Bot::start("").await;
    let dm = bot.report_by_command().await;
    let first = bot.wait_said(&dm, "Is a crime in progress", "").await;
    let buttons = buttons_of(&first);
    let labels: Vec<&str> = buttons.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["Yes", "No"]);
    // What a locked phone shows is the question itself, choices spelled out.
    assert!(text(&first).contains("Type yes or no"), "{}", text(&first));

    let press = bot.standin.press_button(STAFF, &dm, &first.ts, &buttons[1].1);
    let latency = bot
        .standin
        .wait_for_ack(&press, PATIENCE)
        .await
        .expect("the press is acknowledged");
    assert!(latency < Duration::from_secs(3), "acknowledged after {latency:?}");
    let echo = bot.wait_said(&dm, "You answered: No", &first.ts).await;
    let second = bot.wait_said(&dm, "child sexual content", &echo.ts).await;
    assert!(!buttons_of(&second).is_empty(), "the next question has buttons");

    // "Yes" on the first question, pressed now, is not taken.
    let late = bot.standin.press_button(STAFF, &dm, &first.ts, &buttons[0].1);
    bot.standin
        .wait_for_ack(&late, PATIENCE)
        .await
        .expect("acknowledged");
    let refused = bot.wait_said(&dm, "earlier question", &second.ts).await;
    assert!(
        text(&refused).contains("child sexual content"),
        "{}",
        text(&refused)
    );
    assert!(
        bot.said(&dm, "Internet Watch Foundation").is_empty(),
        "the late Yes was not taken"
    );

    // Buttons to the end: "No" to each question, then typed answers.
    // The refusal asks the question now asked, with its own buttons.
    assert_eq!(buttons_of(&refused), buttons_of(&second));
    let mut question = refused;
    for next in [
        "communicating with a child",
        "known person",
        "What did you see or hear",
    ] {
        let no = buttons_of(&question)
            .into_iter()
            .find(|(label, _)| label == "No")
            .unwrap_or_else(|| panic!("no \"No\" button on {}", text(&question)));
        bot.standin.press_button(STAFF, &dm, &question.ts, &no.1);
        question = bot.wait_said(&dm, next, &question.ts).await;
    }
    assert_eq!(
        bot.said(&dm, "You answered: No").len(),
        4,
        "each press said back once"
    );
    let confirmation = bot.report_from_the_account(&dm, "plum-lantern-5521").await;
    assert!(text(&confirmation).contains("SG-0001"), "{}", text(&confirmation));
    let channel = bot.concern_channel("sg-0001").await;
    let record = bot.wait_said(&channel.id, "plum-lantern-5521", "").await;
    assert!(
        text(&record).contains("Is a crime in progress") && text(&record).contains("No"),
        "{}",
        text(&record)
    );
    bot.stop().await;
}

/// With `intake = "form"`, `/report` opens a form over Slack: each question
/// in the form, answered there, the next one given back in the
/// acknowledgement within 3 seconds. No answer becomes a message anywhere;
/// the DM gets only the 999 instruction and the confirmation with the
/// reference. Closed halfway, `/report` opens it again at the same question.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_form_no_answer_becomes_a_message_and_a_closed_form_resumes() {
    let bot = Bot::start("intake = \"form\"\n--\n").await;
    let phrase = "juniper-anchor-2846";
    let command = bot.standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    bot.standin
        .wait_for_ack(&command.envelope_id, PATIENCE)
        .await
        .expect("acknowledged");
    let reply = bot.reply_to(&command.envelope_id);
    assert!(reply.is_ephemeral());
    assert!(
        reply.text().contains("opening a private form") && reply.text().contains("call 999"),
        "{}",
        reply.text()
    );
    // It opens at once ("Just a moment…"), then shows the question.
    let form = bot.form_showing("Is a crime in progress", None).await;
    let first_text = form.view.to_string();
    assert!(first_text.contains("Is a crime in progress"), "{first_text}");

    // One answer at a time, as the reporter would give it.
    let answer = |view: &slack::View, answer: slack::ViewAnswer| {
        let envelope = bot.standin.submit_view(STAFF, &view.id, answer);
        let (standin, id, hash) = (&bot.standin, view.id.clone(), view.hash.clone());
        async move {
            let latency = standin
                .wait_for_ack(&envelope, PATIENCE)
                .await
                .expect("acknowledged");
            assert!(latency < Duration::from_secs(3), "answered after {latency:?}");
            standin
                .wait_for_view_update(&id, &hash, PATIENCE)
                .await
                .expect("the form shows the next question")
        }
    };
    let choice = |view: &slack::View, label: &str| -> slack::ViewAnswer {
        let options = view.view["blocks"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["type"] == "input"))
            .and_then(|b| b["element"]["options"].as_array().cloned())
            .unwrap_or_default();
        let value = options
            .iter()
            .find(|o| o["text"]["text"] == label)
            .and_then(|o| o["value"].as_str())
            .unwrap_or_else(|| panic!("no choice {label} in {}", view.view));
        slack::ViewAnswer::Choice(value.to_string())
    };
    let shows = |view: &slack::View, words: &str| {
        assert!(view.open, "the form is open");
        assert!(
            view.view.to_string().contains(words),
            "{words:?} not in {}",
            view.view
        );
    };

    let view = answer(&form, choice(&form, "No")).await;
    shows(&view, "child sexual content");
    // Nothing can be typed beside a choice: back and cancel are choices too.
    let back = answer(&view, choice(&view, "Go back to the previous question")).await;
    shows(&back, "Is a crime in progress");
    let view = answer(&back, choice(&back, "No")).await;
    shows(&view, "child sexual content");
    let _ = choice(&view, "Cancel this report");
    // Closed halfway: the report waits, and /report opens it at the same question.
    bot.standin.close_view(STAFF, &view.id);
    let again = bot.standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    bot.standin
        .wait_for_ack(&again.envelope_id, PATIENCE)
        .await
        .expect("acknowledged");
    let resumed = bot.form_showing("child sexual content", Some(&form.id)).await;
    shows(&resumed, "You already have a report in progress");
    shows(&resumed, "child sexual content");

    let mut view = resumed;
    for next in [
        "communicating with a child",
        "known person",
        "What did you see or hear",
    ] {
        view = answer(&view, choice(&view, "No")).await;
        shows(&view, next);
    }
    view = answer(
        &view,
        slack::ViewAnswer::Text(format!("I saw {phrase} in a group chat")),
    )
    .await;
    shows(&view, "their own words");
    // The rest: skip what may be skipped, the last choice otherwise.
    let mut n = 0;
    while !view.view.to_string().contains("Please check your report") {
        n += 1;
        assert!(n < 30, "the review never came: {}", view.view);
        let input = view.view["blocks"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["type"] == "input"))
            .cloned()
            .expect("a question to answer");
        let next = match input["element"]["type"].as_str() {
            Some("radio_buttons") => {
                let options = input["element"]["options"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                // The last of the question's own choices (then come back and cancel).
                let last = options
                    .iter()
                    .rev()
                    .find(|o| o["value"] != "back" && o["value"] != "cancel")
                    .expect("choices");
                slack::ViewAnswer::Choice(last["value"].as_str().unwrap_or_default().to_string())
            }
            _ if input["optional"] == true => slack::ViewAnswer::Nothing,
            _ => slack::ViewAnswer::Text("a group chat".into()),
        };
        view = answer(&view, next).await;
    }
    shows(&view, phrase);
    assert_eq!(view.view["submit"]["text"], "Send");
    let done = answer(&view, slack::ViewAnswer::Nothing).await;
    shows(&done, "SG-0001");
    assert!(done.view.get("submit").is_none(), "nothing more to send");

    // The DM has the confirmation and no answer; nothing was posted anywhere
    // with the phrase but the record in the concern's channel.
    let dm = bot.standin.dm_id(STAFF);
    bot.wait_said(&dm, "recorded as SG-0001", "").await;
    let channel = bot.concern_channel("sg-0001").await;
    bot.wait_said(&channel.id, phrase, "").await;
    for m in bot.standin.all_messages() {
        if text(&m).contains(phrase) {
            assert_eq!(
                m.channel, channel.id,
                "the phrase was posted outside the concern's channel: {m:?}"
            );
        }
    }
    let dm_messages: Vec<String> = bot.standin.messages(&dm).iter().map(text).collect();
    assert_eq!(dm_messages.len(), 1, "only the confirmation: {dm_messages:#?}");
    assert!(
        !common::captured_log().contains(phrase),
        "the phrase is in the log"
    );
    for view in bot.standin.views_of(STAFF) {
        assert!(!view.view["private_metadata"].to_string().contains(phrase));
    }
    assert!(bot.standin.problems().is_empty(), "{:#?}", bot.standin.problems());
    bot.stop().await;
}

/// With a form, a report left at the review is passed to the lead by the
/// sweep for unfinished reports, and the reporter told in the DM, with no
/// answer in the message: the review (every answer) stays in the form.
/// The sweep runs on its own, after a short `unfinished_after`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_form_the_unfinished_report_notice_holds_no_answer() {
    let bot = Bot::start("intake = \"form\"\n--\nunfinished_after = \"10s\"\n").await;
    let phrase = "copper-wren-4471";
    let command = bot.standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    bot.standin
        .wait_for_ack(&command.envelope_id, PATIENCE)
        .await
        .expect("acknowledged");
    let mut view = bot.form_showing("Is a crime in progress", None).await;
    let mut n = 0;
    while !view.view.to_string().contains("Please check your report") {
        n += 1;
        assert!(n < 30, "the review never came: {}", view.view);
        let input = view.view["blocks"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["type"] == "input"))
            .cloned()
            .expect("a question to answer");
        let answer = match input["element"]["type"].as_str() {
            Some("radio_buttons") => {
                let options = input["element"]["options"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                // "No" to the chart's questions; then the last of a question's own choices.
                let pick = options
                    .iter()
                    .find(|o| o["text"]["text"] == "No")
                    .or_else(|| {
                        options
                            .iter()
                            .rev()
                            .find(|o| o["value"] != "back" && o["value"] != "cancel")
                    })
                    .expect("choices");
                slack::ViewAnswer::Choice(pick["value"].as_str().unwrap_or_default().to_string())
            }
            _ if input["optional"] == true => slack::ViewAnswer::Nothing,
            _ => slack::ViewAnswer::Text(format!("I saw {phrase} in a group chat")),
        };
        let envelope = bot.standin.submit_view(STAFF, &view.id, answer);
        bot.standin
            .wait_for_ack(&envelope, PATIENCE)
            .await
            .expect("acknowledged");
        view = bot
            .standin
            .wait_for_view_update(&view.id, &view.hash, PATIENCE)
            .await
            .expect("the form shows the next question");
    }
    assert!(
        view.view.to_string().contains(phrase),
        "the review has the answers"
    );

    // Left at the review: the lead gets what was given, marked incomplete.
    let dm = bot.standin.dm_id(STAFF);
    let told = bot
        .wait_said(&dm, "You haven't finished report SG-0001", "")
        .await;
    let channel = bot.concern_channel("sg-0001").await;
    bot.wait_said(&channel.id, phrase, "").await;
    for m in bot.standin.messages(&dm) {
        assert!(
            !text(&m).contains(phrase),
            "an answer was posted to the DM: {}",
            text(&m)
        );
    }
    assert!(
        text(&told).contains("/report"),
        "how to carry on: {}",
        text(&told)
    );
    bot.stop().await;
}

/// A form Slack will not open (the trigger expired, say) leaves nobody
/// without their questions: the report goes on in the DM instead, resumed
/// at its question, the request never taken as an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_that_cannot_open_falls_back_to_the_dm() {
    let bot = Bot::start("intake = \"form\"\n--\n").await;
    bot.standin.fail_next("views.open", 1, "expired_trigger_id");
    let command = bot.standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    bot.standin
        .wait_for_ack(&command.envelope_id, PATIENCE)
        .await
        .expect("acknowledged");
    let dm = bot.standin.dm_id(STAFF);
    let first = bot.wait_said(&dm, "Is a crime in progress", "").await;
    assert!(bot.standin.views_of(STAFF).is_empty(), "no form is open");
    // It goes on there, typed; then a second /report whose form fails too
    // shows the question it is at, and takes nothing as an answer.
    let second = bot.answer(&dm, "no", "child sexual content").await;
    bot.standin.fail_next("views.open", 1, "expired_trigger_id");
    let again = bot.standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    bot.standin
        .wait_for_ack(&again.envelope_id, PATIENCE)
        .await
        .expect("acknowledged");
    let resumed = bot
        .wait_said(&dm, "You already have a report in progress", &second.ts)
        .await;
    assert!(
        text(&resumed).contains("child sexual content"),
        "{}",
        text(&resumed)
    );
    assert!(
        bot.said(&dm, "Sorry, I didn't").is_empty(),
        "nothing was taken as an answer"
    );
    bot.answer(&dm, "no", "communicating with a child").await;
    assert!(first.ts < second.ts);
    bot.stop().await;
}

/// Slack's trigger lasts 3 seconds; finding out whether someone may report
/// can take longer (a big staff channel, a slow Slack). The form opens at
/// once, saying "Just a moment", and shows the question when it is known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_check_still_opens_the_form_in_time() {
    let bot = Bot::start("intake = \"form\"\n--\n").await;
    bot.standin
        .delay("conversations.members", Duration::from_millis(3500));
    let command = bot.standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    bot.standin
        .wait_for_ack(&command.envelope_id, PATIENCE)
        .await
        .expect("acknowledged");
    let form = bot.form_showing("Is a crime in progress", None).await;
    assert!(form.open);
    assert!(bot.standin.problems().is_empty(), "{:#?}", bot.standin.problems());
    let dm = bot.standin.dm_id(STAFF);
    assert!(bot.standin.messages(&dm).is_empty(), "nothing went to the DM");
    bot.stop().await;
}

/// Buttons are a convenience: a question Slack will not take with them
/// (`invalid_blocks`) is sent without them, its text spelling the choices
/// out, and typed answers carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_slack_refuses_with_buttons_goes_without_them() {
    let bot = Bot::start("").await;
    let dm = bot.report_by_command().await;
    bot.standin.fail_next("chat.postMessage", 1, "invalid_blocks");
    let second = bot.answer(&dm, "no", "child sexual content").await;
    assert!(buttons_of(&second).is_empty(), "sent without its buttons");
    assert!(text(&second).contains("Type yes or no"), "{}", text(&second));
    let third = bot.answer(&dm, "no", "communicating with a child").await;
    assert!(
        !buttons_of(&third).is_empty(),
        "the next question has its buttons again"
    );
    bot.stop().await;
}

/// Issue 18, point 5: an answer Slack delivers late (its first delivery
/// was lost, and Slack sends it again a minute later) was written before
/// the question now asked, so it is not that question's answer: a "yes"
/// written before the review is never taken as sending the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_delivered_a_minute_late_is_not_the_answer_to_a_later_question() {
    let bot = Bot::start("").await;
    let dm = bot.report_by_command().await;
    bot.answer(&dm, "no", "child sexual content").await;
    bot.answer(&dm, "no", "communicating with a child").await;
    bot.answer(&dm, "no", "known person").await;
    bot.answer(&dm, "no", "What did you see or hear").await;
    bot.answer(&dm, "I saw hazel-quarry-4471 in a group chat", "their own words")
        .await;
    for (words, next) in [
        ("skip", "When did it happen"),
        ("this morning", "Who is involved"),
        ("a child, about 12", "Where online"),
        ("a group chat", "Who else knows"),
        ("skip", "What have you done so far"),
        ("skip", "Which area of risk"),
        ("2", "What is your role"),
        ("volunteer", "anything else"),
    ] {
        bot.answer(&dm, words, next).await;
    }
    let review = bot.answer(&dm, "skip", "Please check your report").await;

    let late = bot
        .standin
        .post_user_message_written_ago(STAFF, &dm, "yes", Duration::from_secs(60));
    let envelope = late.envelope_ids.first().expect("delivered");
    bot.standin
        .wait_for_ack(envelope, PATIENCE)
        .await
        .expect("the late message is acknowledged");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: Vec<String> = bot
        .standin
        .messages(&dm)
        .iter()
        .filter(|m| m.from_bot && m.ts > review.ts)
        .map(text)
        .collect();
    assert!(after.is_empty(), "the late message is not answered: {after:#?}");
    assert!(
        bot.standin.channel_named("sg-0001").is_none(),
        "the report is not sent"
    );

    // The reporter, reading the review, sends it.
    bot.answer(&dm, "yes", "recorded as SG-0001").await;
    bot.stop().await;
}

/// Issue 18, point 5: every envelope is acknowledged, a flood's and a join
/// the bot has no business with included; what the flood limit dropped,
/// sent again by Slack, stays dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_envelope_is_acknowledged_and_what_a_flood_dropped_stays_dropped() {
    let bot = Bot::start("").await;
    let dm = bot.report_by_command().await;
    let mut flood = Vec::new();
    for _ in 0..20 {
        flood.push(bot.standin.post_user_message(STAFF, &dm, "help"));
    }
    let joined = bot.standin.add_to_channel(STAFF_2, SHARED_CHANNEL, None);
    let envelopes: Vec<String> = flood
        .iter()
        .chain([&joined])
        .flat_map(|p| p.envelope_ids.clone())
        .collect();
    assert_eq!(envelopes.len(), 21, "{:?}", joined.suppressed);
    for envelope in &envelopes {
        let latency = bot.standin.wait_for_ack(envelope, PATIENCE).await;
        assert!(
            latency.is_some_and(|l| l < Duration::from_secs(3)),
            "an envelope acknowledged late or never: {latency:?}"
        );
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let replies = bot.standin.messages(&dm).len();

    // Slack sends every one of them again, as after a lost acknowledgement.
    let again: Vec<String> = flood
        .iter()
        .map(|p| bot.standin.repeat_event(&p.event_ids[0]))
        .collect();
    for envelope in &again {
        assert!(bot.standin.wait_for_ack(envelope, PATIENCE).await.is_some());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let said: Vec<String> = bot.standin.messages(&dm).iter().skip(replies).map(text).collect();
    assert!(said.is_empty(), "nothing sent again is answered: {said:#?}");
    for e in bot.standin.envelopes() {
        assert_eq!(e.deliveries.len(), 1, "{} was delivered again", e.id);
    }
    bot.stop().await;
}

/// Issue 18, point 10: an envelope slack-morphism cannot read (here a form
/// submission) is logged by kind alone, never its words, and the bot goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_envelope_leaves_no_words_in_the_log() {
    let bot = Bot::start("").await;
    let phrase = "quartz-meadow-8830";
    let payload = serde_json::json!({
        "type": "view_submission",
        "user": { "id": STAFF },
        "view": format!("I saw {phrase} in the group chat"),
    });
    let envelope = bot.standin.push_envelope("interactive", payload);
    bot.standin
        .wait_for_ack(&envelope, PATIENCE)
        .await
        .expect("an unreadable envelope is acknowledged: it never reads better");
    let log = common::captured_log();
    assert!(!log.contains(phrase), "the envelope's words are in the log");
    assert!(
        log.contains("Slack sent something the bot could not read"),
        "the unreadable envelope is logged"
    );
    bot.report_by_command().await;
    bot.stop().await;
}

/// Issue 18, point 9: with 300 people in the staff channel, `/report` asks
/// Slack who the reporter is, and no one else; the channel's members are
/// listed page by page, and kept current by joins and leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checking_staff_asks_about_the_reporter_alone_and_follows_joins_and_leaves() {
    let standin = SlackStandIn::start_default().await;
    {
        let mut st = standin.state();
        for i in 0..300 {
            let id = format!("U0MB{i:06}");
            st.world.users.push(slack::User::new(
                &id,
                &format!("member{i}"),
                &format!("Member {i}"),
                slack::UserKind::Member,
            ));
            if let Some(c) = st.world.channel_mut(STAFF_CHANNEL) {
                c.members.push(id);
            }
        }
    }
    let data = tempfile::tempdir().expect("a temporary data directory");
    let bot = Bot::start_on(standin, data, "").await;
    let before = bot.standin.calls().len();
    bot.report_by_command().await;
    let calls = &bot.standin.calls()[before..];
    let lookups: Vec<String> = calls
        .iter()
        .filter(|c| c.method == "users.info")
        .map(|c| c.params["user"].as_str().unwrap_or_default().to_string())
        .collect();
    // users.info is asked about the reporter (and, for their names in the
    // page, the lead and deputy paged), each once: never about the staff
    // channel's other members.
    assert!(
        lookups.iter().any(|u| u == STAFF),
        "the reporter is looked up: {lookups:?}"
    );
    assert!(
        lookups.iter().all(|u| !u.starts_with("U0MB")),
        "users.info for the reporter alone, not the channel's members: {lookups:?}"
    );
    let mut once = lookups.clone();
    once.sort();
    once.dedup();
    assert_eq!(
        once.len(),
        lookups.len(),
        "each person looked up once: {lookups:?}"
    );
    let pages: Vec<_> = calls
        .iter()
        .filter(|c| c.method == "conversations.members" && c.params["channel"] == STAFF_CHANNEL)
        .collect();
    assert!(pages.len() >= 2, "the members are listed page by page");
    assert!(pages.iter().any(|c| c.params.contains_key("cursor")));

    // Someone who joins the staff channel may report at once.
    let newcomer = "U0NEWSTAF1";
    bot.standin.add_user(slack::User::new(
        newcomer,
        "nia.new",
        "Nia New",
        slack::UserKind::Member,
    ));
    let join = bot.standin.add_to_channel(newcomer, STAFF_CHANNEL, None);
    bot.standin
        .wait_for_ack(&join.envelope_ids[0], PATIENCE)
        .await
        .expect("the join is acknowledged");
    let command = bot.standin.push_slash_command(newcomer, STAFF_CHANNEL, "");
    bot.standin.wait_for_ack(&command.envelope_id, PATIENCE).await;
    bot.wait_said(&bot.standin.dm_id(newcomer), "Is a crime in progress", "")
        .await;

    // Someone who leaves it may not.
    let left = bot.standin.remove_from_channel(STAFF_2, STAFF_CHANNEL);
    bot.standin
        .wait_for_ack(&left.envelope_ids[0], PATIENCE)
        .await
        .expect("the leave is acknowledged");
    let theirs = bot.standin.dm_id(STAFF_2);
    bot.answer_as(
        STAFF_2,
        &theirs,
        "report",
        "only take reports from this organisation's staff",
    )
    .await;
    assert!(bot.said(&theirs, "Is a crime in progress").is_empty());
    let later = &bot.standin.calls()[before..];
    let later_lookups: Vec<&str> = later
        .iter()
        .filter(|c| c.method == "users.info")
        .map(|c| c.params["user"].as_str().unwrap_or_default())
        .collect();
    // Since the first report: each person reporting (and the lead and
    // deputy paged then, for their names) looked up once, nobody else.
    let mut once = later_lookups.clone();
    once.sort();
    once.dedup();
    assert_eq!(
        once.len(),
        later_lookups.len(),
        "one lookup per person: {later_lookups:?}"
    );
    assert!(
        later_lookups.iter().all(|u| !u.starts_with("U0MB")),
        "no lookup of the channel's other members: {later_lookups:?}"
    );
    assert!(later_lookups.contains(&newcomer) && later_lookups.contains(&STAFF_2));
    bot.stop().await;
}

/// Issue 18, point 8: past its retention period a concern's export goes
/// from Slack with its channel's messages: no file and no message of it is
/// left, only the bot's word that it has gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_the_export_with_every_message_of_the_concern() {
    let bot = Bot::start("").await;
    let phrase = "umber-finch-2047";
    let dm = bot.report_by_command().await;
    bot.report_not_urgent(&dm, phrase).await;
    let channel = bot.concern_channel("sg-0001").await;
    bot.wait_said(&channel.id, phrase, "").await;
    bot.answer_as(LEAD, &channel.id, "!ack", "acknowledged by").await;
    bot.standin.post_user_message(LEAD, &channel.id, "!export");
    let pdf = bot
        .standin
        .eventually(PATIENCE, |st| {
            st.world
                .files
                .iter()
                .find(|f| f.completed && f.channel.as_deref() == Some(channel.id.as_str()))
                .cloned()
        })
        .await
        .expect("the export is uploaded to the concern's channel");
    bot.wait_said(&channel.id, "special-category personal data", "")
        .await;
    bot.answer_as(LEAD, &channel.id, "!close 1", "SG-0001 is closed")
        .await;
    bot.wait_said(&dm, "has been closed", "").await;
    let (standin, data) = bot.stop().await;
    close_long_ago(data.path());

    let bot = Bot::start_on(standin, data, "").await;
    let archived = bot
        .standin
        .eventually(Duration::from_secs(30), |st| {
            st.world.channel(&channel.id).filter(|c| c.archived).cloned()
        })
        .await;
    let deletes: Vec<String> = bot
        .standin
        .calls()
        .iter()
        .filter(|c| c.method == "files.delete" || c.method == "conversations.archive")
        .map(|c| format!("{} {}", c.method, c.answer))
        .collect();
    assert!(
        archived.is_some(),
        "the concern's channel is archived: {deletes:#?}"
    );
    let files: Vec<String> = bot
        .standin
        .files()
        .iter()
        .filter(|f| f.channel.as_deref() == Some(channel.id.as_str()))
        .map(|f| f.filename.clone())
        .collect();
    assert!(files.is_empty(), "the export is still in Slack: {files:?}");
    assert!(bot
        .standin
        .state()
        .world
        .deleted_files
        .iter()
        .any(|f| f.id == pdf.id));
    let left: Vec<String> = bot
        .standin
        .messages(&channel.id)
        .iter()
        .filter(|m| m.from_bot)
        .map(text)
        .collect();
    assert!(
        left.iter()
            .all(|t| t.contains("has been deleted, as the retention period says")),
        "only the bot's word that it has gone is left: {left:#?}"
    );
    bot.stop().await;
}

/// Marks SG-0001 closed long ago in the store in `data`, so the retention
/// job deletes it when the bot next starts.
fn close_long_ago(data: &Path) {
    let key = Key::load_or_create(&data.join("key")).expect("key");
    let store = Store::open(&data.join("store"), key).expect("store");
    let long_ago = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2019, 1, 1, 12, 0, 0).unwrap();
    let closed = EntryKind::Closed {
        kind: Some("No further action".into()),
        outcome: String::new(),
    };
    let casefile = Casefile::new(Reference::new(1))
        .with_entry(LEAD, closed, long_ago)
        .0;
    store
        .put_item(Tree::Casefiles, "SG-0001", &casefile)
        .expect("put");
    store.flush().expect("flush");
}

/// What Slack shows of a message: its text and its blocks' text, with each
/// mention (`<@U…>`, which Slack shows as the person's name) taken out.
fn shown_on_slack(m: &Message) -> Vec<String> {
    let mut texts = vec![text(m)];
    if let Some(blocks) = &m.blocks {
        texts.push(blocks.to_string());
    }
    texts.into_iter().map(|t| without_mentions(&t)).collect()
}

fn without_mentions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("<@") {
        out.push_str(&rest[..at]);
        rest = rest[at..].split_once('>').map_or("", |(_, after)| after);
        out.push_str("(a mention)");
    }
    out.push_str(rest);
    out
}

/// Issue 18, point 1: a whole story on Slack (a report, the lead paged,
/// the deputy covering and acknowledging, the reporter told, the lead's
/// note, `!show`, `!list`, `!rota`, the reminder), and no message the
/// reporter, the lead or the deputy can read shows anyone's `U…` id: people
/// are named by name, and mentioned (which Slack shows as their name) only
/// where the message is meant to ring them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_is_named_by_their_slack_id_in_anything_the_reporter_lead_or_deputy_read() {
    let bot = Bot::start("ack_timeout = \"3s\"\nremind_after = \"8s\"").await;
    let dm = bot.report_by_command().await;
    bot.report_not_urgent(&dm, "teal-badger-6630").await;
    let channel = bot.concern_channel("sg-0001").await;
    let page = bot.wait_said(&channel.id, "<@U0LEAD0001>", "").await;
    assert!(
        text(&page).starts_with("<@U0LEAD0001>: New safeguarding concern SG-0001, reported by sam.staff."),
        "the page rings the lead and names the reporter without ringing them: {}",
        text(&page)
    );
    bot.wait_said(&channel.id, "Reported by: sam.staff", "").await;

    // The lead is silent: the deputy is paged, and acknowledges.
    let again = bot.wait_said(&channel.id, "<@U0DEPUTY01>", &page.ts).await;
    assert!(text(&again).contains("reported by sam.staff"), "{}", text(&again));
    bot.answer_as(DEPUTY, &channel.id, "!ack", "acknowledged by dee.deputy")
        .await;
    let told = bot.wait_said(&dm, "has been acknowledged by", "").await;
    assert!(
        text(&told).contains("has been acknowledged by dee.deputy at"),
        "the reporter reads who: {}",
        text(&told)
    );

    bot.answer_as(LEAD, &channel.id, "!note Phoned the parent", "Noted as entry")
        .await;
    let show = bot.answer_as(LEAD, &channel.id, "!show", "Chronology").await;
    for expected in [
        "Reported by sam.staff",
        "Acknowledged by dee.deputy",
        "Note (entry 1), lee.lead",
    ] {
        assert!(
            text(&show).contains(expected),
            "!show lacks {expected:?}: {}",
            text(&show)
        );
    }
    let list = bot.answer_as(LEAD, LEADS_CHANNEL, "!list", "open concern").await;
    assert!(
        text(&list).contains("acknowledged by dee.deputy"),
        "{}",
        text(&list)
    );
    let rota = bot.answer_as(LEAD, LEADS_CHANNEL, "!rota", "The rota").await;
    assert!(
        text(&rota).contains("lee.lead") && text(&rota).contains("dee.deputy"),
        "{}",
        text(&rota)
    );
    let reminder = bot.wait_said(&channel.id, "is still open", &page.ts).await;
    assert!(
        text(&reminder).starts_with("<@U0DEPUTY01>: "),
        "the reminder rings whoever acknowledged: {}",
        text(&reminder)
    );

    // Everything the bot said where each of them reads, and the replies to
    // the reporter's /report.
    let mut read: Vec<(String, String)> = Vec::new();
    for (who, channels) in [
        ("the reporter", vec![dm.clone(), STAFF_CHANNEL.to_string()]),
        ("the lead", vec![channel.id.clone(), LEADS_CHANNEL.to_string()]),
        ("the deputy", vec![channel.id.clone(), LEADS_CHANNEL.to_string()]),
    ] {
        for c in channels {
            for m in bot.standin.messages(&c).iter().filter(|m| m.from_bot) {
                read.extend(shown_on_slack(m).into_iter().map(|t| (who.to_string(), t)));
            }
        }
    }
    for reply in bot.standin.replies() {
        read.push(("the reporter".into(), without_mentions(&reply.body.to_string())));
    }
    assert!(read.len() > 30, "only {} texts read", read.len());
    for (who, shown) in &read {
        for id in [LEAD, DEPUTY, STAFF, slack::BOT_USER_ID] {
            assert!(!shown.contains(id), "{who} read {id} in: {shown}");
        }
    }
    bot.stop().await;
}
