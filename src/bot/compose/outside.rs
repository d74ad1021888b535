//! What a page outside the chat says: SMS and email. Either may be read on
//! a shared device or forwarded, so each names only the organisation, the
//! reference, whether it is urgent, where to go (the chat) and how to
//! acknowledge (the reply code). Never a word of the concern, the answers,
//! or anyone's name but the acknowledger's, to the lead who asked.

use chrono::{DateTime, Utc};

use super::when;
use crate::concern::Reference;

/// Where the concern is: the words for the chat the bot runs in.
pub fn chat_words(slack: bool) -> &'static str {
    if slack {
        "Slack"
    } else {
        "the staff chat"
    }
}

/// The SMS page, short enough for one or two texts.
pub fn sms_page(org: &str, reference: &Reference, urgent: bool, code: &str, chat: &str) -> String {
    if urgent {
        format!("{org} safeguarding: URGENT concern {reference} needs a lead now. See it in {chat}. To acknowledge, reply {code}")
    } else {
        format!("{org} safeguarding: concern {reference} needs a lead. See it in {chat}. To acknowledge, reply {code}")
    }
}

/// The email page: its subject and plain-text body. `code` is there only
/// if the person can get the SMS page to reply to.
pub fn email_page(
    org: &str,
    reference: &Reference,
    urgent: bool,
    code: Option<&str>,
    chat: &str,
) -> (String, String) {
    let subject = if urgent {
        format!("{org} safeguarding: URGENT concern {reference}")
    } else {
        format!("{org} safeguarding: concern {reference}")
    };
    let urgency = if urgent {
        "It is URGENT: please look at it now.\n\n"
    } else {
        ""
    };
    let by_sms = match code {
        Some(code) => format!(", or reply {code} to the SMS page"),
        None => String::new(),
    };
    let body = format!(
        "A safeguarding concern, {reference}, is waiting for a lead to acknowledge it.\n\n\
         {urgency}\
         Where to go: open {chat} and go to the room \"Safeguarding concern {reference}\". \
         Everything about the concern is there, and only there.\n\n\
         How to acknowledge: type !ack in that room{by_sms}.\n\n\
         This email says no more on purpose. Please do not forward it.\n\n\
         {org} safeguarding bot\n"
    );
    (subject, body)
}

/// The answer to a reply code that acknowledged the concern.
pub fn sms_acknowledged(reference: &Reference) -> String {
    format!("Thank you: {reference} is acknowledged by you. The reporter has been told. The record is in the chat.")
}

/// The answer to a code for a concern someone else acknowledged first.
pub fn sms_already(reference: &Reference, by: &str, at: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    format!(
        "{reference} was already acknowledged by {by} at {}. Nothing more to do here.",
        when(at, tz)
    )
}

/// The answer to a code that is not current for this person.
pub fn sms_unknown_code() -> String {
    "That code is not current, so nothing was acknowledged. Reply with the code from your latest page, or acknowledge in the chat.".into()
}

/// The answer to a reply with no code in it.
pub fn sms_no_code() -> String {
    "To acknowledge a page, reply with its 4-digit code, or acknowledge in the chat.".into()
}

/// The leads' room, when someone's number refuses SMS (they replied STOP).
pub fn leads_sms_stopped(name: &str) -> String {
    format!(
        "{name} replied STOP to the bot's SMS number, so pages cannot reach them by SMS until they text START to it. The chat, and email if they have one, still reach them."
    )
}

/// The email to someone whose number refuses SMS.
pub fn email_sms_stopped(org: &str) -> (String, String) {
    (
        format!("{org} safeguarding: SMS pages stopped"),
        format!(
            "You replied STOP to the safeguarding bot's SMS number, so it can no longer send you SMS pages. \
             Pages still reach you in the chat and by email.\n\n\
             To get SMS pages again, text START to the same number.\n\n\
             {org} safeguarding bot\n"
        ),
    )
}

/// `!testpage`'s SMS.
pub fn sms_test(org: &str) -> String {
    format!("{org} safeguarding: TEST page, nothing to do. A real page comes to this number like this, with a code to reply.")
}

/// `!testpage`'s email: its subject and body.
pub fn email_test(org: &str) -> (String, String) {
    (
        format!("{org} safeguarding: TEST page"),
        format!(
            "This is a test, asked for with !testpage. There is nothing to do.\n\n\
             A real page comes to this address like this: it names the concern's reference and says how to acknowledge it, and nothing more.\n\n\
             {org} safeguarding bot\n"
        ),
    )
}

/// The SMS to each lead and deputy when the bot has not been able to reach
/// the chat for `away` (words from [`crate::health::human_duration`]).
pub fn sms_chat_down(org: &str, chat: &str, away: &str) -> String {
    format!(
        "{org} safeguarding: the bot cannot reach {chat} (for {away}). Until it can, pages come by SMS and email; reply to a page's code to acknowledge. You will be told when it is back."
    )
}

/// The SMS when the chat is back after an outage the leads were told of.
pub fn sms_chat_back(org: &str, chat: &str, away: &str) -> String {
    format!(
        "{org} safeguarding: the bot reaches {chat} again after {away}. Pages missed in that time are being delivered there now; please check nothing was missed."
    )
}

/// The email for the same: its subject and body.
pub fn email_chat_down(org: &str, chat: &str, away: &str) -> (String, String) {
    (
        format!("{org} safeguarding: the bot cannot reach {chat}"),
        format!(
            "The safeguarding bot has not been able to reach {chat} for {away}.\n\n             Until it can, pages come by SMS and email at once, without waiting for the chat.              Acknowledge a page by replying to its SMS with the code it gives.\n\n             Staff cannot make a report in {chat} while it is out of reach: if someone tells you of a concern, follow the policy by phone.\n\n             You will get another email when the bot reaches {chat} again.\n\n             {org} safeguarding bot\n"
        ),
    )
}

/// The email when the chat is back.
pub fn email_chat_back(org: &str, chat: &str, away: &str) -> (String, String) {
    (
        format!("{org} safeguarding: the bot reaches {chat} again"),
        format!(
            "The safeguarding bot reaches {chat} again, after {away} without it.\n\n             Pages missed in that time are being delivered in {chat} now. Please check that no report or acknowledgement was missed.\n\n             {org} safeguarding bot\n"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sms_page_fits_in_two_texts_and_says_where_and_how() {
        let r = Reference::new(42);
        let long_org = "The Very Long Named Regional Children's Charity";
        for urgent in [false, true] {
            let text = sms_page(long_org, &r, urgent, "4821", chat_words(false));
            assert!(text.len() <= 306, "{} chars: {text}", text.len());
            assert!(text.contains("SG-0042") && text.ends_with("reply 4821"), "{text}");
            assert!(text.is_ascii(), "plain GSM characters only: {text}");
        }
    }

    #[test]
    fn an_email_says_how_to_acknowledge_in_chat_and_by_sms() {
        let (subject, body) = email_page("Test Charity", &Reference::new(7), true, Some("4821"), "Slack");
        assert!(subject.contains("URGENT") && subject.contains("SG-0007"));
        assert!(
            body.contains("!ack") && body.contains("reply 4821") && body.contains("Slack"),
            "{body}"
        );
        let (_, body) = email_page("Test Charity", &Reference::new(7), false, None, "Slack");
        assert!(!body.contains("SMS") && !body.contains("URGENT"), "{body}");
    }
}
