//! Pages outside the chat, end to end: the bot on a real Synapse, email to a
//! real SMTP server (aiosmtpd, STARTTLS and AUTH required), SMS to the
//! Twilio stand-in, configured as an IT volunteer would (`[sms]`, `[email]`,
//! `[[safeguarding.contact]]`, secrets from the environment). The lead
//! ignores the chat and acknowledges by replying to the SMS with its code,
//! once posted by Twilio's webhook and once read by the bot's polling; the
//! reporter is told, paging stops, and no SMS or email says a word of the
//! concern.

use std::time::Duration;

use crate::common::matrix::rand_u64;
use crate::common::smtp::SmtpServer;
use crate::common::twilio::TwilioStandIn;
use crate::common::world::{world_from, World};

pub(crate) const LEAD_MOBILE: &str = "+447700900123";
pub(crate) const BOT_NUMBER: &str = "+447700900001";
pub(crate) const LEAD_EMAIL: &str = "dsl@example.org";

/// The gateways, and the port the bot's HTTP listener takes.
pub(crate) struct Outside {
    pub(crate) twilio: TwilioStandIn,
    pub(crate) smtp: SmtpServer,
    http_port: u16,
}

impl Outside {
    pub(crate) async fn start() -> Outside {
        let twilio = TwilioStandIn::start().await;
        let smtp = tokio::task::spawn_blocking(|| SmtpServer::start("starttls"))
            .await
            .expect("the SMTP server started");
        let http_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        Outside {
            twilio,
            smtp,
            http_port,
        }
    }

    fn public_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The usual test config with the lead's contact, `[sms]` taking
    /// replies as `replies` says, `[email]` and `[health]`, parsed with the
    /// secrets in the environment, as the bot would be started.
    fn config(&self, base: String, replies: &str) -> safeguarding_bot::config::Config {
        let lead = base
            .lines()
            .find_map(|l| l.strip_prefix("lead = "))
            .expect("the lead's line")
            .to_string();
        // The contact goes at the end of [safeguarding], before [storage].
        let contact = format!(
            "[[safeguarding.contact]]\nwho = {lead}\nmobile = \"{LEAD_MOBILE}\"\nemail = \"{LEAD_EMAIL}\"\nrules = [\"chat\", \"email\", \"sms\"]\n\n[storage]"
        );
        self.config_with(base, replies, &contact)
    }

    /// As [`Outside::config`], with `contacts` (ending in `[storage]`)
    /// in place of the lead's usual one.
    fn config_with(&self, base: String, replies: &str, contacts: &str) -> safeguarding_bot::config::Config {
        self.config_with_env(base, replies, contacts, |_| None)
    }

    /// As [`Outside::config_with`], with more of the environment (a Slack
    /// bot's tokens).
    pub(crate) fn config_with_env(
        &self,
        base: String,
        replies: &str,
        contacts: &str,
        more_env: impl Fn(&str) -> Option<String>,
    ) -> safeguarding_bot::config::Config {
        let contact = contacts;
        let text = format!(
            r#"{base}
[sms]
account_sid = "{sid}"
from = "{BOT_NUMBER}"
api_url = "{api}"
{replies}

[email]
host = "127.0.0.1"
port = {smtp_port}
tls = "starttls"
username = "{user}"
from = "Safeguarding bot <bot@example.org>"
ca_file = "{ca}"

[health]
listen = "127.0.0.1:{http_port}"
"#,
            base = base.replacen("[storage]", contact, 1),
            sid = self.twilio.account_sid,
            api = self.twilio.url,
            smtp_port = self.smtp.port,
            user = self.smtp.user,
            ca = self.smtp.ca_file().display(),
            http_port = self.http_port,
        );
        let token = self.twilio.auth_token.clone();
        let password = self.smtp.password.clone();
        safeguarding_bot::config::parse(&text, "test-config.toml", std::path::Path::new("/"), |name| {
            match name {
                "SAFEGUARDING_BOT_TWILIO_AUTH_TOKEN" => Some(token.clone()),
                "SAFEGUARDING_BOT_SMTP_PASSWORD" => Some(password.clone()),
                other => more_env(other),
            }
        })
        .unwrap_or_else(|e| panic!("the config is valid: {e}"))
    }

    /// The SMS sent to the lead so far.
    fn sms_to_lead(&self) -> Vec<String> {
        self.sms_to(LEAD_MOBILE)
    }

    pub(crate) fn sms_to(&self, number: &str) -> Vec<String> {
        self.twilio
            .sent()
            .into_iter()
            .filter(|m| m.to == number && m.direction != "inbound")
            .map(|m| m.body)
            .collect()
    }

    async fn wait_for_sms(&self, what: &str, n: usize) -> Vec<String> {
        self.wait_for_sms_to(what, LEAD_MOBILE, |sent| sent.len() >= n)
            .await
    }

    /// Waits up to a minute until the SMS sent to `number` satisfy `done`.
    pub(crate) async fn wait_for_sms_to(
        &self,
        what: &str,
        number: &str,
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        for _ in 0..600 {
            let sent = self.sms_to(number);
            if done(&sent) {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what}: {number} has {:?}", self.sms_to(number));
    }

    /// Waits up to a minute for an email to `address` with `words` in it.
    pub(crate) async fn wait_for_email(&self, what: &str, address: &str, words: &[&str]) -> String {
        for _ in 0..600 {
            if let Some(e) = self
                .emails_to(address)
                .into_iter()
                .find(|e| words.iter().all(|w| e.contains(w)))
            {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what}: {address} has {:?}", self.emails_to(address));
    }

    /// The emails to `address` so far, as their readers see them.
    fn emails_to(&self, address: &str) -> Vec<String> {
        self.smtp
            .received()
            .into_iter()
            .filter(|m| m.meta["rcpt_tos"] == serde_json::json!([address]))
            .map(|m| m.text())
            .collect()
    }
}

/// A report with `phrase` in it, sent; the lead is paged in the chat and
/// ignores it. Returns the reporter's private room, the concern's reference
/// and the SMS's code, once the email and the SMS have arrived.
async fn report_and_page(
    w: &World,
    outside: &Outside,
    phrase: &str,
) -> (
    matrix_sdk::ruma::OwnedRoomId,
    String,
    matrix_sdk::ruma::OwnedRoomId,
) {
    let private = w.start_report("/report").await;
    w.answer(&private, "no", "child sexual content").await;
    w.answer(&private, "no", "communicating with a child").await;
    w.answer(&private, "no", "known person").await;
    w.answer(&private, "no", "What did you see or hear").await;
    w.answer_record(&private, phrase).await;
    let done = w.answer(&private, "send", "recorded as SG-").await;
    assert!(done.body.contains("SG-0001"), "{}", done.body);
    let page = w
        .lead
        .wait_for("the page in the chat", |m| {
            m.sender == w.bot_id && m.body.contains("SG-0001") && m.body.contains("!ack")
        })
        .await;

    let emails = outside.smtp.wait_for(1).await;
    let email = &emails[0];
    assert_eq!(email.meta["rcpt_tos"], serde_json::json!([LEAD_EMAIL]));
    assert!(
        email.meta["tls"] == true && email.meta["authenticated"] == true,
        "over TLS, signed in: {}",
        email.meta
    );
    let text = email.text();
    assert!(text.contains("SG-0001") && text.contains("!ack"), "{text}");

    let sms = outside.wait_for_sms("the SMS page", 1).await;
    assert!(
        sms[0].contains("Test Charity") && sms[0].contains("SG-0001"),
        "{}",
        sms[0]
    );
    let code = sms[0]
        .rsplit(' ')
        .next()
        .expect("a code")
        .trim_end_matches('.')
        .to_string();
    assert!(
        code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()),
        "{}",
        sms[0]
    );
    assert!(
        text.contains(&format!("reply {code}")),
        "the email gives the same code: {text}"
    );
    (private, code, page.room)
}

/// What the reporter and the lead see once the SMS reply has been taken,
/// and that nothing outside the chat said a word of the concern.
async fn acknowledged_by_sms(w: &World, outside: &Outside, private: &matrix_sdk::ruma::RoomId, phrase: &str) {
    w.staff
        .wait_for("the reporter told", w.bot_said(Some(private), "acknowledged by"))
        .await;
    let thanks = outside.wait_for_sms("the SMS saying it is acknowledged", 2).await;
    assert!(thanks[1].contains("acknowledged by you"), "{}", thanks[1]);
    for text in outside.sms_to_lead() {
        assert!(
            !text.contains(phrase),
            "an SMS says nothing of the concern: {text}"
        );
    }
    for email in outside.smtp.received() {
        assert!(
            !email.text().contains(phrase),
            "an email says nothing of the concern"
        );
    }
    let log = crate::common::logs::captured_log();
    assert!(log.contains("SMS"), "the bot's log is captured: {log}");
    assert!(!log.contains(phrase), "the log says nothing of the concern");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lead_who_ignores_the_chat_acknowledges_by_replying_to_the_sms_through_the_webhook() {
    let outside = Outside::start().await;
    let replies = format!("replies = \"webhook\"\npublic_url = \"{}\"", outside.public_url());
    let w = world_from("", |base| outside.config(base, &replies)).await;
    let phrase = format!("cobalt-lynx-{}", rand_u64() % 10_000);
    let (private, code, _) = report_and_page(&w, &outside, &phrase).await;

    // A forged reply (signed with another token) changes nothing.
    let webhook = format!("{}/twilio/sms", outside.public_url());
    let forged = outside
        .twilio
        .inbound_params("SMforged", LEAD_MOBILE, BOT_NUMBER, &code);
    let signature = crate::common::twilio::sign("not-the-token", &webhook, &forged);
    let (status, _) = crate::common::twilio::post_form(&webhook, &forged, Some(&signature)).await;
    assert_eq!(status, 403, "a forged reply is refused");

    let (_, status, answer) = outside
        .twilio
        .post_inbound(
            &webhook,
            &webhook,
            LEAD_MOBILE,
            BOT_NUMBER,
            &format!("ack {code}"),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    acknowledged_by_sms(&w, &outside, &private, &phrase).await;
    // Only one "acknowledged" for the reporter: the forged reply did nothing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let told: Vec<_> = w
        .staff
        .seen_in(&private)
        .into_iter()
        .filter(|m| m.body.contains("acknowledged by"))
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");

    // /metrics counts the pages by method, and says nothing of the concern.
    let metrics = reqwest::get(format!("{}/metrics", outside.public_url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let count = |line: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{line} in {metrics}"))
    };
    assert_eq!(
        count("safeguarding_bot_pages_outside_total{method=\"email\",outcome=\"sent\"}"),
        1
    );
    assert_eq!(
        count("safeguarding_bot_pages_outside_total{method=\"sms\",outcome=\"sent\"}"),
        2,
        "the page and the thank-you"
    );
    assert_eq!(
        count("safeguarding_bot_pages_outside_total{method=\"sms\",outcome=\"failed\"}"),
        0
    );
    assert!(!metrics.contains(&phrase));
    w.bot.expect("running").stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_charity_with_no_public_address_takes_the_sms_reply_by_polling() {
    let outside = Outside::start().await;
    let w = world_from("", |base| {
        outside.config(base, "replies = \"poll\"\npoll_interval = \"2s\"")
    })
    .await;
    let phrase = format!("amber-otter-{}", rand_u64() % 10_000);
    let (private, code, room) = report_and_page(&w, &outside, &phrase).await;

    outside
        .twilio
        .add_inbound(LEAD_MOBILE, BOT_NUMBER, &code, chrono::Utc::now());
    acknowledged_by_sms(&w, &outside, &private, &phrase).await;
    assert!(
        outside.twilio.list_requests() > 0,
        "the bot read its messages from Twilio"
    );

    // The lead checks their pages outside the chat: a test SMS and email.
    w.lead.say(&room, "!testpage").await;
    let answer = w
        .lead
        .wait_for(
            "the test page's answer",
            w.bot_said(Some(&room), "a test is on its way"),
        )
        .await;
    assert!(
        answer.body.contains("the number ending 123") && answer.body.contains("d…@example.org"),
        "{}",
        answer.body
    );
    assert!(
        !answer.body.contains(LEAD_MOBILE),
        "the number is shown in part only"
    );
    outside
        .wait_for_sms_to("the test SMS", LEAD_MOBILE, |s| {
            s.iter().any(|t| t.contains("TEST page"))
        })
        .await;
    outside
        .wait_for_email("the test email", LEAD_EMAIL, &["TEST page", "nothing to do"])
        .await;
    w.bot.expect("running").stop().await;
}

const DEPUTY_MOBILE: &str = "+447700900124";
const DEPUTY_EMAIL: &str = "deputy@example.org";

/// The self-watch's threshold in this test: just above a quiet sync's 30 s,
/// so a quiet chat is never taken for an outage.
const OUTAGE_AFTER: Duration = Duration::from_secs(35);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_the_homeserver_is_out_of_reach_pages_go_by_sms_and_email_and_the_chat_gets_them_after() {
    use crate::common::proxy::{Fault, FaultProxy};
    let outside = Outside::start().await;
    let hs = crate::common::matrix::homeserver();
    let proxy = FaultProxy::start(&hs.url, Fault::Drop).await;
    let monitor = Monitor::start().await;
    // Outside the chat only after ten minutes, normally: what comes sooner
    // comes because the chat is out of reach.
    let rules = "rules = [\"chat\", \"email after 10m\", \"sms after 10m\"]\nurgent_rules = [\"chat\", \"email after 10m\", \"sms after 10m\"]";
    let w = world_from("urgent_ack_timeout = \"60s\"", |base| {
        let line = |key: &str| {
            base.lines()
                .find_map(|l| l.strip_prefix(key))
                .expect("the line")
                .to_string()
        };
        let (lead, deputies) = (line("lead = "), line("deputies = "));
        let deputy = deputies.trim_matches(|c| c == '[' || c == ']');
        let contacts = format!(
            "[[safeguarding.contact]]\nwho = {lead}\nmobile = \"{LEAD_MOBILE}\"\nemail = \"{LEAD_EMAIL}\"\n{rules}\n\n\
             [[safeguarding.contact]]\nwho = {deputy}\nmobile = \"{DEPUTY_MOBILE}\"\nemail = \"{DEPUTY_EMAIL}\"\n{rules}\n\n[storage]"
        );
        let mut config = outside.config_with(base, "replies = \"poll\"", &contacts);
        // Only the bot goes through the proxy.
        config.matrix.homeserver_url = proxy.url.clone();
        config.health.unreachable_alert_after = OUTAGE_AFTER;
        // Every second in this test (the config takes 10 s at least).
        config.health.heartbeat = Some(safeguarding_bot::config::Heartbeat {
            url: format!("{}/ping/secret-uuid", monitor.url),
            every: Duration::from_secs(1),
        });
        config
    })
    .await;
    monitor.wait_for_calls("the heartbeat while healthy", 2).await;
    let phrase = format!("indigo-stoat-{}", rand_u64() % 10_000);

    // "Yes" to a crime in progress: urgent, the lead is paged at once.
    let private = w.start_report("/report").await;
    w.staff.say(&private, "yes").await;
    w.lead
        .wait_for("the urgent page", |m| {
            m.sender == w.bot_id && m.body.contains("SG-0001") && m.body.contains("!ack")
        })
        .await;
    w.staff.say(&private, &format!("I saw {phrase}")).await;
    assert!(outside.twilio.sent().is_empty(), "nothing outside the chat yet");

    // The homeserver goes out of reach, for the bot alone.
    let cut = tokio::time::Instant::now();
    proxy.drop_paths_containing("/_matrix/");
    let down = outside
        .wait_for_sms_to("the lead told the chat is out of reach", LEAD_MOBILE, |s| {
            s.iter().any(|t| t.contains("cannot reach"))
        })
        .await;
    let took = cut.elapsed();
    assert!(
        took >= OUTAGE_AFTER - Duration::from_secs(3) && took <= OUTAGE_AFTER + Duration::from_secs(20),
        "told after {took:?}"
    );
    // The lead's page, due only after ten minutes, goes now.
    let lead_sms = outside
        .wait_for_sms_to("the lead's SMS page", LEAD_MOBILE, |s| {
            s.iter().any(|t| t.contains("To acknowledge, reply"))
        })
        .await;
    assert!(down.len() <= lead_sms.len());
    outside
        .wait_for_email(
            "the lead emailed that the chat is out of reach",
            LEAD_EMAIL,
            &["cannot reach"],
        )
        .await;
    // The heartbeat has stopped: the monitor outside raises the alarm.
    let calls = monitor.calls();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        monitor.calls(),
        calls,
        "no heartbeat while the chat is out of reach"
    );
    // The deputy's step falls due at 60 s, during the outage: by SMS at once.
    let deputy_sms = outside
        .wait_for_sms_to("the deputy's SMS page", DEPUTY_MOBILE, |s| {
            s.iter().any(|t| t.contains("To acknowledge, reply"))
        })
        .await;
    assert!(
        cut.elapsed() <= Duration::from_secs(60 + 5 + 10),
        "the deputy's page came {:?} after the cut",
        cut.elapsed()
    );
    assert!(
        deputy_sms
            .iter()
            .any(|t| t.contains("URGENT") && t.contains("SG-0001")),
        "{deputy_sms:?}"
    );
    outside
        .wait_for_email("the deputy's email page", DEPUTY_EMAIL, &["SG-0001", "!ack"])
        .await;

    // The homeserver is back: the deputy gets the chat page once, and
    // everyone is told it is back.
    proxy.stop_dropping();
    let page = w
        .deputy
        .wait_for("the deputy's page in the chat", |m| {
            m.sender == w.bot_id && m.body.contains("SG-0001") && m.body.contains("!ack")
        })
        .await;
    outside
        .wait_for_sms_to("the lead told the chat is back", LEAD_MOBILE, |s| {
            s.iter().any(|t| t.contains("again"))
        })
        .await;
    let calls = monitor.calls();
    monitor
        .wait_for_calls("the heartbeat again once the chat is back", calls + 2)
        .await;
    let pages: Vec<_> = w
        .deputy
        .seen_in(&page.room)
        .into_iter()
        .filter(|m| m.sender == w.bot_id && m.body.contains("!ack") && m.body.contains("SG-0001"))
        .collect();
    assert_eq!(pages.len(), 1, "the missed page comes once: {pages:?}");
    for number in [LEAD_MOBILE, DEPUTY_MOBILE] {
        for text in outside.sms_to(number) {
            assert!(!text.contains(&phrase), "{text}");
        }
    }
    for e in outside.smtp.received() {
        assert!(!e.text().contains(&phrase));
    }
    w.bot.expect("running").stop().await;
}

/// A monitor such as healthchecks.io: counts the calls to its URL.
struct Monitor {
    url: String,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Monitor {
    async fn start() -> Monitor {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let app = axum::Router::new().route(
            "/ping/secret-uuid",
            axum::routing::get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { "OK" }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Monitor { url, calls, server }
    }

    fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn wait_for_calls(&self, what: &str, n: usize) {
        for _ in 0..300 {
            if self.calls() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what}: {} calls, wanted {n}", self.calls());
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.server.abort();
    }
}
