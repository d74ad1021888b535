//! The edges of paging outside the chat, against stand-ins of the real
//! services: Twilio's Messages API (common::twilio, built from Twilio's
//! documentation) and a real SMTP server (aiosmtpd, requiring STARTTLS and
//! AUTH). The real clients, the webhooks mounted on the real HTTP listener,
//! and the poller.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use safeguarding_bot::concern::Status;
use safeguarding_bot::health::{self, Health, Metrics, Probe};
use safeguarding_bot::notify::config::{
    EmailConfig, ExtraCa, Replies, Secret, SmsConfig, SmtpLogin, SmtpTls,
};
use safeguarding_bot::notify::email::Mailer;
use safeguarding_bot::notify::inbound::{webhook_routes, Poller, RefusedWhy, EMPTY_TWIML};
use safeguarding_bot::notify::twilio::{AuthToken, Sender, TwilioAccount, TwilioClient};
use safeguarding_bot::notify::{Email, Gateways, Notifier, NotifyError, Phone, Sms, SmsEvent};
use tokio::sync::{mpsc, watch};

use crate::common::smtp::SmtpServer;
use crate::common::twilio::{post_form, sign, TwilioStandIn};

const BOT_NUMBER: &str = "+447700900001";
const LEAD: &str = "+447700900123";

fn phone(p: &str) -> Phone {
    Phone::try_from(p.to_string()).expect("phone")
}

fn account(standin: &TwilioStandIn, token: &str) -> TwilioAccount {
    TwilioAccount {
        api_url: standin.url.clone(),
        account_sid: standin.account_sid.clone(),
        auth_token: AuthToken::new(token),
        sender: Sender::Number(phone(BOT_NUMBER)),
    }
}

fn sms(body: &str) -> Sms {
    Sms {
        to: phone(LEAD),
        body: body.into(),
    }
}

#[tokio::test]
async fn an_sms_reaches_twilio_with_the_documented_form() {
    let standin = TwilioStandIn::start().await;
    let client = TwilioClient::new(
        account(&standin, &standin.auth_token),
        Some("https://bot.example.org/twilio/status".into()),
    )
    .expect("client");
    let gateways = Gateways::new(Some(client), None);
    assert!(gateways.has_sms() && !gateways.has_email());
    let accepted = gateways
        .send_sms(&sms(
            "Safeguarding: SG-0042 needs you. Reply 4821 to acknowledge.",
        ))
        .await
        .expect("sent");
    let sent = standin.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(accepted.sid, sent[0].sid);
    assert!(
        accepted.sid.starts_with("SM") && accepted.sid.len() == 34,
        "{}",
        accepted.sid
    );
    let mut form = sent[0].form.clone();
    form.sort();
    assert_eq!(
        form,
        [
            (
                "Body",
                "Safeguarding: SG-0042 needs you. Reply 4821 to acknowledge."
            ),
            ("From", BOT_NUMBER),
            ("StatusCallback", "https://bot.example.org/twilio/status"),
            ("To", LEAD),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );

    // A messaging service is named as such, not as From.
    let mut by_service = account(&standin, &standin.auth_token);
    by_service.sender = Sender::MessagingService(format!("MG{}", "a".repeat(32)));
    let client = TwilioClient::new(by_service, None).expect("client");
    client.send(&sms("SG-0043")).await.expect("sent");
    let sent = standin.sent();
    let keys: Vec<&str> = sent[1].form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["To", "MessagingServiceSid", "Body"]);
}

#[tokio::test]
async fn twilio_refusals_and_failures_are_told_apart() {
    let standin = TwilioStandIn::start().await;
    let client = TwilioClient::new(account(&standin, &standin.auth_token), None).expect("client");

    standin.stop(LEAD);
    let stop = client.send(&sms("SG-0042")).await.unwrap_err();
    assert!(stop.is_stop(), "{stop:?}");

    for status in [429, 500] {
        standin.fail_with(Some(status));
        let e = client.send(&sms("SG-0042")).await.unwrap_err();
        assert!(matches!(e, NotifyError::Later(_)), "{status}: {e:?}");
    }
    standin.fail_with(None);

    let wrong = TwilioClient::new(account(&standin, "not-the-token"), None).expect("client");
    let e = wrong.send(&sms("SG-0042")).await.unwrap_err();
    assert!(
        matches!(
            e,
            NotifyError::Refused {
                code: Some(20003),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_stop());

    // A gateway that does not answer at all: later.
    let mut gone = account(&standin, &standin.auth_token);
    gone.api_url = "http://127.0.0.1:9".into();
    let e = TwilioClient::new(gone, None)
        .expect("client")
        .send(&sms("x"))
        .await
        .unwrap_err();
    assert!(matches!(e, NotifyError::Later(_)), "{e:?}");
    assert!(standin.sent().is_empty(), "nothing was taken");
}

/// A probe for the listener: healthy, no concerns.
struct Fine;
impl Probe for Fine {
    fn store_writable(&self) -> Result<(), String> {
        Ok(())
    }
    fn concern_states(&self) -> Result<Vec<Status>, String> {
        Ok(vec![])
    }
}

#[tokio::test]
async fn webhooks_on_the_listener_take_signed_replies_and_statuses_and_nothing_forged() {
    let standin = TwilioStandIn::start().await;
    let public_url = "https://bot.example.org/safeguarding";
    let config = SmsConfig {
        account: account(&standin, &standin.auth_token),
        replies: Replies::Webhook {
            public_url: public_url.into(),
        },
    };
    let (events_tx, mut events) = mpsc::channel(16);
    let (refused_tx, mut refused) = mpsc::channel(16);
    let routes = webhook_routes(&config, events_tx, Some(refused_tx)).expect("webhook mode");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let local = format!("http://{}", listener.local_addr().expect("addr"));
    let (_stop, shutdown) = watch::channel(false);
    let metrics = Arc::new(Metrics::default());
    metrics.sync_loop_started(Utc::now());
    let health = Arc::new(Health {
        metrics,
        probe: Arc::new(Fine),
        sync_window: Duration::from_secs(90),
    });
    let server = tokio::spawn(health::serve_with(listener, health, Some(routes), shutdown));

    // A reply, as Twilio posts it behind the proxy: signed for the public URL.
    let (sid, status, answer) = standin
        .post_inbound(
            &format!("{local}/twilio/sms"),
            &format!("{public_url}/twilio/sms"),
            LEAD,
            BOT_NUMBER,
            "ack 4821",
        )
        .await;
    assert_eq!((status, answer.as_str()), (200, EMPTY_TWIML));
    match events.recv().await {
        Some(SmsEvent::Reply(r)) => {
            assert_eq!(
                (r.sid.as_str(), r.from.as_str(), r.body.as_str()),
                (sid.as_str(), LEAD, "ack 4821")
            )
        }
        other => panic!("expected the reply, got {other:?}"),
    }

    // Forged: no signature, a wrong one, one for the listener's own
    // address, one made with another token, and a signed one altered.
    let params = standin.inbound_params("SM00000000000000000000000000000099", LEAD, BOT_NUMBER, "4821");
    let url = format!("{local}/twilio/sms");
    let public = format!("{public_url}/twilio/sms");
    let forged = [
        None,
        Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string()),
        Some(sign(&standin.auth_token, &url, &params)),
        Some(sign("another-token", &public, &params)),
    ];
    for signature in &forged {
        assert_eq!(post_form(&url, &params, signature.as_deref()).await.0, 403);
    }
    let good = sign(&standin.auth_token, &public, &params);
    let mut altered = params.clone();
    altered.iter_mut().find(|(k, _)| k == "Body").expect("Body").1 = "9999".into();
    assert_eq!(post_form(&url, &altered, Some(&good)).await.0, 403);
    assert!(events.try_recv().is_err(), "nothing forged reached the core");
    let whys: Vec<RefusedWhy> = std::iter::from_fn(|| refused.try_recv().ok())
        .map(|r| r.why)
        .collect();
    assert_eq!(whys.len(), 5, "{whys:?}");
    assert_eq!(whys[0], RefusedWhy::MissingSignature);

    // The status callback Twilio sends for an SMS the bot sent.
    let client = TwilioClient::new(config.account.clone(), config.status_webhook_url()).expect("client");
    let accepted = client.send(&sms("SG-0042")).await.expect("sent");
    // The stand-in posts to the public URL; here that is not reachable, so
    // the callback is posted to the listener as a proxy would pass it on.
    let sent = standin.sent();
    assert_eq!(
        sent[0].status_callback.as_deref(),
        Some("https://bot.example.org/safeguarding/twilio/status")
    );
    let mut status_params: Vec<(String, String)> = [
        ("AccountSid", standin.account_sid.as_str()),
        ("ApiVersion", "2010-04-01"),
        ("ErrorCode", "30003"),
        ("From", BOT_NUMBER),
        ("MessageSid", accepted.sid.as_str()),
        ("MessageStatus", "undelivered"),
        ("SmsSid", accepted.sid.as_str()),
        ("SmsStatus", "undelivered"),
        ("To", LEAD),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signature = sign(
        &standin.auth_token,
        &sent[0].status_callback.clone().expect("callback"),
        &status_params,
    );
    status_params.reverse();
    assert_eq!(
        post_form(
            &format!("{local}/twilio/status"),
            &status_params,
            Some(&signature)
        )
        .await
        .0,
        200
    );
    match events.recv().await {
        Some(SmsEvent::Status(s)) => {
            assert_eq!(s.sid, accepted.sid);
            assert!(s.failed());
            assert_eq!(s.error_code, Some(30003));
        }
        other => panic!("expected the status, got {other:?}"),
    }

    // /healthz is still served beside them.
    let healthz = reqwest::get(format!("{local}/healthz")).await.expect("healthz");
    assert_eq!(healthz.status().as_u16(), 200);
    server.abort();
}

#[tokio::test]
async fn the_stand_in_posts_a_signed_status_callback_itself() {
    let standin = TwilioStandIn::start().await;
    // The webhook's public URL is the listener itself here, so the
    // stand-in's own callback reaches it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let local = format!("http://{}", listener.local_addr().expect("addr"));
    let config = SmsConfig {
        account: account(&standin, &standin.auth_token),
        replies: Replies::Webhook {
            public_url: local.clone(),
        },
    };
    let (events_tx, mut events) = mpsc::channel(16);
    let routes = webhook_routes(&config, events_tx, None).expect("webhook mode");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, routes).await;
    });
    let gateways = Gateways::from_config(Some(&config), None).expect("gateways");
    let accepted = gateways.send_sms(&sms("SG-0042")).await.expect("sent");
    assert_eq!(
        standin
            .send_status(&accepted.sid, "undelivered", Some(30005))
            .await,
        200
    );
    match events.recv().await {
        Some(SmsEvent::Status(s)) => {
            assert_eq!(
                (s.sid.as_str(), s.status.as_str(), s.error_code),
                (accepted.sid.as_str(), "undelivered", Some(30005))
            );
            assert!(s.failed());
        }
        other => panic!("expected the status, got {other:?}"),
    }
    server.abort();
}

#[tokio::test]
async fn polling_takes_each_reply_once_across_pages() {
    let standin = TwilioStandIn::start().await;
    let client = TwilioClient::new(account(&standin, &standin.auth_token), None).expect("client");
    let now = Utc::now();
    let mut poller = Poller::new(client, phone(BOT_NUMBER), Duration::from_secs(5), now);
    let (tx, mut rx) = mpsc::channel(256);

    // Older than the look-back, and to another number: never taken.
    standin.add_inbound(LEAD, BOT_NUMBER, "old", now - chrono::Duration::hours(3));
    standin.add_inbound(LEAD, "+447700900999", "elsewhere", now);
    // More than one page (the bot asks for 50 a page).
    let mut sids = Vec::new();
    for i in 0..60 {
        sids.push(standin.add_inbound(
            LEAD,
            BOT_NUMBER,
            &format!("reply {i}"),
            now - chrono::Duration::seconds(120 - i),
        ));
    }
    assert_eq!(poller.poll_once(now, &tx).await.expect("listed"), 60);
    assert!(standin.list_requests() >= 2, "followed next_page_uri");
    let got: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
        .map(|e| match e {
            SmsEvent::Reply(r) => r.sid,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, sids, "each once, oldest first");

    // Polled again: nothing new is handed on twice; a new reply is.
    assert_eq!(poller.poll_once(now, &tx).await.expect("listed"), 0);
    let new = standin.add_inbound(LEAD, BOT_NUMBER, "4821", now + chrono::Duration::seconds(1));
    assert_eq!(
        poller
            .poll_once(now + chrono::Duration::seconds(5), &tx)
            .await
            .expect("listed"),
        1
    );
    match rx.try_recv() {
        Ok(SmsEvent::Reply(r)) => assert_eq!((r.sid, r.body), (new, "4821".to_string())),
        other => panic!("{other:?}"),
    }
    assert!(rx.try_recv().is_err());

    // Listing with a wrong token is refused, as Twilio would.
    let wrong = account(&standin, "wrong");
    let mut bad = Poller::new(
        TwilioClient::new(wrong, None).expect("client"),
        phone(BOT_NUMBER),
        Duration::from_secs(5),
        now,
    );
    assert!(matches!(
        bad.poll_once(now, &tx).await,
        Err(NotifyError::Refused { .. })
    ));

    // The poller as a task, stopped by its shutdown signal.
    let client = TwilioClient::new(account(&standin, &standin.auth_token), None).expect("client");
    let task_poller = Poller::new(client, phone(BOT_NUMBER), Duration::from_millis(200), Utc::now());
    let (stop, shutdown) = watch::channel(false);
    let (tx2, mut rx2) = mpsc::channel(256);
    let task = tokio::spawn(task_poller.run(tx2, shutdown));
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen < 61 && tokio::time::Instant::now() < deadline {
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(500), rx2.recv()).await {
            seen += 1;
        }
    }
    assert_eq!(seen, 61);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(rx2.try_recv().is_err(), "polled again, nothing twice");
    stop.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .expect("no panic");
}

fn email_config(server: &SmtpServer, password: &str, tls: SmtpTls) -> EmailConfig {
    EmailConfig {
        host: "127.0.0.1".into(),
        port: server.port,
        tls,
        login: Some(SmtpLogin {
            username: server.user.clone(),
            password: Secret::new(password),
        }),
        from: "Safeguarding bot <bot@example.org>".parse().expect("mailbox"),
        ca: Some(ExtraCa {
            path: server.ca_file(),
            pem: std::fs::read(server.ca_file()).expect("ca.pem"),
        }),
    }
}

fn page_email() -> Email {
    Email {
        to: "dsl@example.org".to_string().try_into().expect("address"),
        subject: "Safeguarding page: SG-0042".into(),
        body: "A safeguarding concern needs you: SG-0042.\nAcknowledge it in the chat, or reply 4821 to the SMS.\n".into(),
        message_id: "page-sg-0042-lead-1@safeguarding-bot".into(),
    }
}

#[tokio::test]
async fn email_goes_over_starttls_with_auth_and_keeps_its_message_id() {
    let server = tokio::task::spawn_blocking(|| SmtpServer::start("starttls"))
        .await
        .expect("started");
    let config = email_config(&server, &server.password.clone(), SmtpTls::StartTls);
    let gateways = Gateways::from_config(None, Some(&config)).expect("gateways");
    assert!(gateways.has_email() && !gateways.has_sms());
    gateways.send_email(&page_email()).await.expect("sent");
    // Sent again (a retry after a crash): the same Message-ID.
    gateways.send_email(&page_email()).await.expect("sent again");
    let got = server.wait_for(2).await;
    assert_eq!(got.len(), 2);
    for m in &got {
        assert_eq!(m.meta["tls"], true, "{}", m.meta);
        assert_eq!(m.meta["authenticated"], true, "{}", m.meta);
        assert_eq!(m.meta["rcpt_tos"][0], "dsl@example.org");
        assert!(
            m.raw
                .contains("Message-ID: <page-sg-0042-lead-1@safeguarding-bot>"),
            "{}",
            m.raw
        );
        assert!(
            m.raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{}",
            m.raw
        );
        assert!(m.raw.contains("Subject: Safeguarding page: SG-0042"), "{}", m.raw);
        assert!(m.raw.contains("reply 4821 to the SMS"), "{}", m.raw);
    }
}

#[tokio::test]
async fn email_over_implicit_tls_arrives_too() {
    let server = tokio::task::spawn_blocking(|| SmtpServer::start("tls"))
        .await
        .expect("started");
    let config = email_config(&server, &server.password.clone(), SmtpTls::Implicit);
    Mailer::new(&config)
        .expect("mailer")
        .send(&page_email())
        .await
        .expect("sent");
    let got = server.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].meta["tls"], true);
}

#[tokio::test]
async fn a_refusing_mail_server_is_refused_and_an_unreachable_one_is_later() {
    let server = tokio::task::spawn_blocking(|| SmtpServer::start("starttls"))
        .await
        .expect("started");
    let wrong = email_config(&server, "not-the-password", SmtpTls::StartTls);
    let e = Mailer::new(&wrong)
        .expect("mailer")
        .send(&page_email())
        .await
        .unwrap_err();
    assert!(matches!(e, NotifyError::Refused { code: Some(535), .. }), "{e:?}");

    // Without the CA, the server's certificate is not trusted: refused
    // (trying again will not help until the config changes).
    let mut untrusted = email_config(&server, &server.password.clone(), SmtpTls::StartTls);
    untrusted.ca = None;
    let e = Mailer::new(&untrusted)
        .expect("mailer")
        .send(&page_email())
        .await
        .unwrap_err();
    assert!(matches!(e, NotifyError::Refused { .. }), "{e:?}");

    let mut gone = email_config(&server, &server.password.clone(), SmtpTls::StartTls);
    gone.port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let e = Mailer::new(&gone)
        .expect("mailer")
        .send(&page_email())
        .await
        .unwrap_err();
    assert!(matches!(e, NotifyError::Later(_)), "{e:?}");
    assert!(server.received().is_empty(), "nothing was delivered");
}

const CONFIG: &str = r##"
[matrix]
homeserver_url = "http://127.0.0.1:8008"
user_id = "@safeguarding:example.org"
password = "secret"
staff_rooms = ["#staff:example.org"]

[safeguarding]
organisation = "Example Charity"
lead = "@dsl:example.org"
retention = "6 years"

[storage]
data_dir = "/var/lib/safeguarding-bot"

[flow]
file = "conversations/online-safety-referral.toml"
"##;

#[test]
fn the_config_check_names_every_sms_and_email_problem_and_warns_of_a_sender_that_takes_no_replies() {
    use safeguarding_bot::config;
    use std::path::Path;
    let bad = format!(
        "{CONFIG}\n[sms]\naccount_sid = \"AC1\"\nfrom = \"+447700900001\"\nreplies = \"webhook\"\n\n[email]\nhost = \"smtp.example.org\"\nusername = \"bot\"\nfrom = \"bot\"\n"
    );
    let err = config::parse(&bad, "bot.toml", Path::new("/etc/sg"), |_| None).unwrap_err();
    let text = err.to_string();
    for expected in [
        "[sms] account_sid:",
        "[sms] auth_token_file: the Twilio auth token is missing; set the SAFEGUARDING_BOT_TWILIO_AUTH_TOKEN",
        "[sms] replies: \"webhook\" needs the bot's HTTP listener",
        "[sms] public_url: is missing",
        "[email] password_file: the mail account's password is missing; set the SAFEGUARDING_BOT_SMTP_PASSWORD",
        "[email] from: \"bot\" is not an email address",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }

    let good = format!(
        "{CONFIG}\n[sms]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nfrom = \"Charity\"\nreply_number = \"+447700900001\"\n\n[email]\nhost = \"smtp.example.org\"\nusername = \"bot\"\nfrom = \"Safeguarding <bot@example.org>\"\n"
    );
    let env = |k: &str| match k {
        "SAFEGUARDING_BOT_TWILIO_AUTH_TOKEN" => Some("tok".to_string()),
        "SAFEGUARDING_BOT_SMTP_PASSWORD" => Some("pw".to_string()),
        _ => None,
    };
    let c = config::parse(&good, "bot.toml", Path::new("/etc/sg"), env).expect("valid");
    let summary = safeguarding_bot::notify::config::summary(&c);
    assert!(
        summary[0].starts_with("SMS: through https://api.twilio.com"),
        "{summary:?}"
    );
    assert!(
        summary
            .iter()
            .any(|l| l.starts_with("warning: [sms] from: \"Charity\" is an alphanumeric sender ID")),
        "{summary:?}"
    );
    assert!(
        summary
            .iter()
            .any(|l| l.starts_with("email: through smtp.example.org:587 (STARTTLS), signing in as bot")),
        "{summary:?}"
    );
    assert!(!format!("{c:?}").contains("tok\""), "the token is never printed");

    // The store commands need neither secret.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bot.toml");
    std::fs::write(&path, &good).expect("write");
    config::load_for_store(&path, |_| None).expect("no secrets needed to read the store");
}
