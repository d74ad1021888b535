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

const LEAD_MOBILE: &str = "+447700900123";
const BOT_NUMBER: &str = "+447700900001";
const LEAD_EMAIL: &str = "dsl@example.org";

/// The gateways, and the port the bot's HTTP listener takes.
struct Outside {
    twilio: TwilioStandIn,
    smtp: SmtpServer,
    http_port: u16,
}

impl Outside {
    async fn start() -> Outside {
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
            base = base.replacen("[storage]", &contact, 1),
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
                _ => None,
            }
        })
        .unwrap_or_else(|e| panic!("the config is valid: {e}"))
    }

    /// The SMS sent to the lead so far.
    fn sms_to_lead(&self) -> Vec<String> {
        self.twilio
            .sent()
            .into_iter()
            .filter(|m| m.to == LEAD_MOBILE && m.direction != "inbound")
            .map(|m| m.body)
            .collect()
    }

    async fn wait_for_sms(&self, what: &str, n: usize) -> Vec<String> {
        for _ in 0..600 {
            let sent = self.sms_to_lead();
            if sent.len() >= n {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what}: the lead has {:?}", self.sms_to_lead());
    }
}

/// A report with `phrase` in it, sent; the lead is paged in the chat and
/// ignores it. Returns the reporter's private room, the concern's reference
/// and the SMS's code, once the email and the SMS have arrived.
async fn report_and_page(
    w: &World,
    outside: &Outside,
    phrase: &str,
) -> (matrix_sdk::ruma::OwnedRoomId, String) {
    let private = w.start_report("/report").await;
    w.answer(&private, "no", "child sexual content").await;
    w.answer(&private, "no", "communicating with a child").await;
    w.answer(&private, "no", "known person").await;
    w.answer(&private, "no", "What did you see or hear").await;
    w.answer_record(&private, phrase).await;
    let done = w.answer(&private, "send", "recorded as SG-").await;
    assert!(done.body.contains("SG-0001"), "{}", done.body);
    w.lead
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
    (private, code)
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
    let (private, code) = report_and_page(&w, &outside, &phrase).await;

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
    let (private, code) = report_and_page(&w, &outside, &phrase).await;

    outside
        .twilio
        .add_inbound(LEAD_MOBILE, BOT_NUMBER, &code, chrono::Utc::now());
    acknowledged_by_sms(&w, &outside, &private, &phrase).await;
    assert!(
        outside.twilio.list_requests() > 0,
        "the bot read its messages from Twilio"
    );
    w.bot.expect("running").stop().await;
}
