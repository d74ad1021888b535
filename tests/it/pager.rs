//! Pages outside the chat, on the core with the in-memory chat and an
//! in-memory notifier ([`common::notifier::Recorder`]), on tokio's paused
//! clock: SMS and email as each person's rules say, acknowledgement by
//! replying with the code, codes that must change nothing, a refused SMS
//! moving on to email, STOP, away, the cap, quiet hours, and a restart.

use crate::common;
use common::core_world::*;
use common::notifier::Recorder;

use std::sync::Arc;
use std::time::Duration;

use common::memchat::PATIENCE;
use safeguarding_bot::notify::{NotifyError, Phone, SmsReply, SmsStatus};

const LEAD_MOBILE: &str = "+447700900001";
const LEAD_EMAIL: &str = "lead@example.org";
const DEPUTY_MOBILE: &str = "+447700900002";
const STRANGER: &str = "+447700900999";

fn lead_contact(rules: &str) -> String {
    format!(
        "\n[[safeguarding.contact]]\nwho = \"{LEAD}\"\nmobile = \"{LEAD_MOBILE}\"\nemail = \"{LEAD_EMAIL}\"\n{rules}\n"
    )
}

fn deputy_contact() -> String {
    format!(
        "\n[[safeguarding.contact]]\nwho = \"{DEPUTY}\"\nmobile = \"{DEPUTY_MOBILE}\"\nrules = [\"sms\"]\n"
    )
}

async fn world(settings: &str, contacts: &str) -> (World, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let w = World::paused_notifying(&format!("{settings}\n{contacts}"), recorder.clone()).await;
    (w, recorder)
}

/// Lets `d` of the test's time pass, a second at a time.
async fn pass(d: Duration) {
    let mut gone = Duration::ZERO;
    while gone < d {
        tokio::time::sleep(Duration::from_secs(1)).await;
        gone += Duration::from_secs(1);
    }
}

fn code_in(sms: &str) -> String {
    sms.rsplit(' ').next().expect("a code").to_string()
}

fn reply(sid: &str, from: &str, body: &str) -> SmsReply {
    SmsReply {
        sid: sid.into(),
        from: Phone::try_from(from.to_string()).expect("a number"),
        body: body.into(),
    }
}

fn audited(w: &World, action: &str) -> usize {
    w.store()
        .audit_entries()
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == action)
        .count()
}

fn assert_says_nothing_of(rec: &Recorder, phrase: &str) {
    for text in rec.all_text() {
        assert!(
            !text.contains(phrase),
            "a page outside the chat holds the concern: {text}"
        );
        assert!(!text.contains("a child, about 12"), "{text}");
    }
}

/// The whole story of issue 20: the lead ignores the chat page, gets the
/// email at once and an SMS after two minutes, replies with its code, and
/// the concern is acknowledged as `!ack` would: the reporter is told, the
/// room says so, the lead gets a short thank-you, and no deputy is paged.
#[tokio::test(start_paused = true)]
async fn the_lead_who_ignores_the_chat_acknowledges_by_replying_with_the_sms_code() {
    let (mut w, rec) = world("", &lead_contact("")).await;
    let phrase = "saffron-heron-7731";
    let private = w.report(phrase).await;
    let (room, _page) = w.paged().await;
    rec.wait_until("the email at once", |r| r.emails_to(LEAD_EMAIL).len() == 1)
        .await;
    let email = &rec.emails_to(LEAD_EMAIL)[0];
    assert!(
        email.subject.contains(SG1) && email.body.contains("!ack"),
        "{email:?}"
    );
    assert!(rec.sms().is_empty(), "no SMS before two minutes");

    pass(Duration::from_secs(125)).await;
    rec.wait_until("the SMS after two minutes", |r| r.sms_to(LEAD_MOBILE).len() == 1)
        .await;
    let sms = rec.sms_to(LEAD_MOBILE)[0].clone();
    assert!(sms.contains("Test Charity") && sms.contains(SG1), "{sms}");
    let code = code_in(&sms);
    assert_eq!(code.len(), 4, "{sms}");
    assert!(email.body.contains(&format!("reply {code}")), "{}", email.body);

    w.core()
        .sms_reply(reply("SMa1", LEAD_MOBILE, &format!(" ACK {code} ")));
    w.chat
        .wait_for(
            &private,
            |m| m.plain.contains("acknowledged by Lee Lead"),
            PATIENCE,
        )
        .await;
    w.chat
        .wait_for(&room, |m| m.plain.contains("acknowledged by Lee Lead"), PATIENCE)
        .await;
    rec.wait_until("the thank-you", |r| r.sms_to(LEAD_MOBILE).len() == 2)
        .await;
    assert!(rec.sms_to(LEAD_MOBILE)[1].contains("acknowledged by you"));

    pass(Duration::from_secs(30 * 60)).await;
    w.wait_outbox_empty().await;
    assert!(
        w.chat
            .messages_in(&room)
            .iter()
            .filter(|m| is_ping(m))
            .all(|m| !m.plain.contains(name(DEPUTY))),
        "no deputy is paged:\n{}",
        w.chat.dump()
    );
    assert_eq!(rec.sms().len(), 2, "nothing more: {:?}", rec.sms());
    assert_eq!(rec.emails().len(), 1);
    assert_eq!(w.chat.count_in(&private, "acknowledged by"), 1);
    assert_says_nothing_of(&rec, phrase);
    assert_eq!(audited(&w, "paged by SMS"), 1);
    assert_eq!(audited(&w, "paged by email"), 1);
    w.stop().await;
}

/// A number nobody has, a code not current, a code that is someone else's,
/// and a reply handed over twice: nothing is acknowledged, each is
/// audited, a stranger gets no answer at all; a code after someone else
/// acknowledged is told who did.
#[tokio::test(start_paused = true)]
async fn codes_that_are_not_current_or_not_theirs_change_nothing() {
    let contacts = format!("{}{}", lead_contact("rules = [\"sms\"]"), deputy_contact());
    let (mut w, rec) = world("ack_timeout = \"1 minute\"", &contacts).await;
    let private = w.report("umber-wren-4410").await;
    w.paged().await;
    rec.wait_until("the lead's SMS", |r| r.sms_to(LEAD_MOBILE).len() == 1)
        .await;
    let lead_code = code_in(&rec.sms_to(LEAD_MOBILE)[0]);
    pass(Duration::from_secs(70)).await;
    rec.wait_until("the deputy's SMS", |r| r.sms_to(DEPUTY_MOBILE).len() == 1)
        .await;
    let deputy_code = code_in(&rec.sms_to(DEPUTY_MOBILE)[0]);

    w.core().sms_reply(reply("SMx1", STRANGER, &lead_code));
    let wrong = format!("{:04}", (lead_code.parse::<u32>().unwrap() + 1) % 10_000);
    let wrong = if wrong == deputy_code {
        format!("{:04}", (lead_code.parse::<u32>().unwrap() + 2) % 10_000)
    } else {
        wrong
    };
    w.core().sms_reply(reply("SMx2", LEAD_MOBILE, &wrong));
    if deputy_code != lead_code {
        w.core().sms_reply(reply("SMx3", DEPUTY_MOBILE, &lead_code));
    }
    rec.wait_until("the answers", |r| r.sms_to(LEAD_MOBILE).len() == 2)
        .await;
    pass(Duration::from_secs(2)).await;
    w.wait_outbox_empty().await;
    assert!(rec.sms_to(LEAD_MOBILE)[1].contains("not current"));
    assert!(rec.sms_to(STRANGER).is_empty(), "a stranger is never answered");
    assert_eq!(audited(&w, "SMS reply refused: unknown number"), 1);
    assert!(audited(&w, "SMS reply refused: code not current") >= 1);
    assert_eq!(
        w.chat.count_in(&private, "acknowledged by"),
        0,
        "nothing acknowledged"
    );

    w.core().sms_reply(reply("SMok", LEAD_MOBILE, &lead_code));
    w.chat
        .wait_for(
            &private,
            |m| m.plain.contains("acknowledged by Lee Lead"),
            PATIENCE,
        )
        .await;
    // The same reply handed over again, and the deputy's code after the lead.
    w.core().sms_reply(reply("SMok", LEAD_MOBILE, &lead_code));
    w.core().sms_reply(reply("SMd1", DEPUTY_MOBILE, &deputy_code));
    rec.wait_until("the deputy told", |r| {
        r.sms_to(DEPUTY_MOBILE)
            .iter()
            .any(|s| s.contains("already acknowledged by Lee Lead"))
    })
    .await;
    pass(Duration::from_secs(2)).await;
    w.wait_outbox_empty().await;
    assert_eq!(w.chat.count_in(&private, "acknowledged by"), 1);
    assert_eq!(audited(&w, "SMS reply ignored: handled before"), 1);
    assert_eq!(audited(&w, "acknowledged"), 1);
    w.stop().await;
}

/// An SMS the gateway refuses for good moves on to email at once, not
/// after the email's own 30 minutes; so does one whose status comes back
/// `undelivered`. Each is audited.
#[tokio::test(start_paused = true)]
async fn a_refused_or_undelivered_sms_moves_on_to_email_at_once() {
    let (mut w, rec) = world(
        "",
        &lead_contact("rules = [\"chat\", \"sms\", \"email after 30m\"]"),
    )
    .await;
    rec.refuse_sms(Some(NotifyError::Refused {
        code: Some(21211),
        reason: "not a valid number".into(),
    }));
    w.report("teal-marten-0091").await;
    w.paged().await;
    rec.wait_until("the email, at once", |r| r.emails_to(LEAD_EMAIL).len() == 1)
        .await;
    assert_eq!(audited(&w, "SMS refused"), 1);
    assert!(rec.sms().is_empty());
    w.stop().await;

    let (mut w, rec) = world(
        "",
        &lead_contact("rules = [\"chat\", \"sms\", \"email after 30m\"]"),
    )
    .await;
    w.report("teal-marten-0092").await;
    w.paged().await;
    rec.wait_until("the SMS", |r| r.sms().len() == 1).await;
    w.wait_outbox_empty().await;
    assert!(rec.emails().is_empty());
    let sid = rec.sms()[0].0.clone();
    let status = SmsStatus {
        sid: sid.clone(),
        status: "undelivered".into(),
        error_code: Some(30003),
    };
    w.core().sms_status(status.clone()).await.expect("taken");
    w.core().sms_status(status).await.expect("taken twice");
    rec.wait_until("the email, at once", |r| r.emails_to(LEAD_EMAIL).len() == 1)
        .await;
    pass(Duration::from_secs(5)).await;
    assert_eq!(rec.emails().len(), 1);
    assert_eq!(audited(&w, "SMS page failed"), 1);
    w.stop().await;
}

/// A number that replied STOP: no more SMS to it, the leads' room is told
/// without a word of any concern, and the person gets an email.
#[tokio::test(start_paused = true)]
async fn after_stop_no_more_sms_the_leads_are_told_and_the_person_emailed() {
    let (mut w, rec) = world("", &lead_contact("rules = [\"sms\", \"sms after 1m\"]")).await;
    rec.refuse_sms(Some(NotifyError::Refused {
        code: Some(NotifyError::STOPPED),
        reason: "unsubscribed".into(),
    }));
    w.report("coral-stoat-3321").await;
    w.paged().await;
    w.chat
        .wait_for(LEADS_ROOM, |m| m.plain.contains("replied STOP"), PATIENCE)
        .await;
    rec.wait_until("the email", |r| r.emails_to(LEAD_EMAIL).len() == 1)
        .await;
    assert!(rec.emails()[0].body.contains("START"));
    pass(Duration::from_secs(120)).await;
    w.wait_outbox_empty().await;
    assert_eq!(rec.sms_tried(), 1, "no SMS tried after STOP");
    let told = w.chat.texts_in(LEADS_ROOM).join("\n");
    assert!(!told.contains(SG1) && !told.contains("coral-stoat"), "{told}");
    w.stop().await;
}

/// Someone away gets no SMS and no email.
#[tokio::test(start_paused = true)]
async fn someone_away_gets_no_sms_or_email() {
    let (mut w, rec) = world("", &lead_contact("")).await;
    let reply = w.say(LEADS_ROOM, LEAD, "!away for 3 days");
    let _ = reply;
    w.chat
        .wait_for(LEADS_ROOM, |m| m.plain.contains("away"), PATIENCE)
        .await;
    w.report("olive-newt-8812").await;
    w.paged().await;
    pass(Duration::from_secs(5 * 60)).await;
    w.wait_outbox_empty().await;
    assert!(
        rec.sms().is_empty() && rec.emails().is_empty(),
        "{:?} {:?}",
        rec.sms(),
        rec.emails()
    );
    w.stop().await;
}

/// The cap holds SMS past it until the hour has gone.
#[tokio::test(start_paused = true)]
async fn no_more_than_the_cap_of_sms_in_an_hour() {
    let rules = "rules = [\"sms\", \"sms after 1m\", \"sms after 2m\", \"sms after 3m\"]";
    let (mut w, rec) = world("sms_per_hour = 2", &lead_contact(rules)).await;
    w.report("amber-vole-1177").await;
    w.paged().await;
    pass(Duration::from_secs(10 * 60)).await;
    w.wait_outbox_empty().await;
    assert_eq!(rec.sms_to(LEAD_MOBILE).len(), 2);
    pass(Duration::from_secs(55 * 60)).await;
    w.wait_outbox_empty().await;
    assert_eq!(
        rec.sms_to(LEAD_MOBILE).len(),
        4,
        "the rest once the hour has gone"
    );
    w.stop().await;
}

/// In quiet hours a non-urgent SMS waits until they end; the email does not.
#[tokio::test(start_paused = true)]
async fn quiet_hours_hold_a_non_urgent_sms_until_they_end() {
    let now = chrono::Utc::now().with_timezone(&chrono_tz::Europe::London);
    let hhmm = |t: chrono::DateTime<chrono_tz::Tz>| t.format("%H:%M").to_string();
    let quiet = format!(
        "quiet_hours = \"{}-{}\"",
        hhmm(now - chrono::Duration::hours(1)),
        hhmm(now + chrono::Duration::minutes(30))
    );
    let (mut w, rec) = world(&quiet, &lead_contact("rules = [\"email\", \"sms\"]")).await;
    w.report("ivory-finch-5150").await;
    w.paged().await;
    rec.wait_until("the email", |r| r.emails().len() == 1).await;
    pass(Duration::from_secs(20 * 60)).await;
    assert!(rec.sms().is_empty(), "held in quiet hours");
    pass(Duration::from_secs(15 * 60)).await;
    rec.wait_until("the SMS once they end", |r| r.sms().len() == 1)
        .await;
    w.stop().await;
}

/// A step still to come when the bot stops is kept, and fires once after
/// the restart.
#[tokio::test(start_paused = true)]
async fn a_pending_sms_survives_a_restart_and_goes_once() {
    let (mut w, rec) = world("", &lead_contact("rules = [\"sms after 5m\"]")).await;
    w.report("slate-lynx-6060").await;
    w.paged().await;
    w.wait_outbox_empty().await;
    w.stop().await;
    pass(Duration::from_secs(6 * 60)).await;
    assert!(rec.sms().is_empty());
    w.start().await;
    rec.wait_until("the SMS after the restart", |r| r.sms().len() == 1)
        .await;
    pass(Duration::from_secs(10 * 60)).await;
    w.wait_outbox_empty().await;
    assert_eq!(rec.sms_to(LEAD_MOBILE).len(), 1, "once");
    w.stop().await;
}

/// Contacts in the config but nothing to send with: the chat page goes as
/// it always did, the lead acknowledges in the chat, and nothing breaks.
#[tokio::test(start_paused = true)]
async fn contacts_without_a_notifier_change_nothing_in_the_chat() {
    let mut w = World::paused(&lead_contact("")).await;
    let private = w.report("hazel-dormouse-2468").await;
    let (room, _page) = w.paged().await;
    pass(Duration::from_secs(5 * 60)).await;
    w.say(&room, LEAD, "!ack");
    w.chat
        .wait_for(
            &private,
            |m| m.plain.contains("acknowledged by Lee Lead"),
            PATIENCE,
        )
        .await;
    w.wait_outbox_empty().await;
    assert_eq!(audited(&w, "SMS page queued"), 0);
    w.assert_nothing_lost();
    w.stop().await;
}

/// An urgent concern texts the lead at once, beside the email.
#[tokio::test(start_paused = true)]
async fn an_urgent_concern_texts_at_once() {
    let (mut w, rec) = world("", &lead_contact("")).await;
    let private = w.start_report().await;
    w.answer(&private, "yes", "999").await;
    rec.wait_until("the SMS at once", |r| r.sms_to(LEAD_MOBILE).len() == 1)
        .await;
    assert!(rec.sms_to(LEAD_MOBILE)[0].contains("URGENT"));
    rec.wait_until("and the email", |r| r.emails_to(LEAD_EMAIL).len() == 1)
        .await;
    w.stop().await;
}
