//! Pages outside the chat: SMS and email, and what comes back (SMS replies).
//!
//! The core decides *that* a lead is to be told by SMS or email and keeps it
//! in the outbox like every other effect; it hands the message to a
//! [`Notifier`] to send. The notifiers themselves (Twilio's Messages API,
//! SMTP) live in this module's submodules and know nothing of concerns: they
//! carry a number, an address and a short text that was made content-free
//! before it reached them.
//!
//! - [`twilio`]: Twilio's Messages API (send, list what was sent to the
//!   bot's number) and the webhook signature.
//! - [`email`]: SMTP with lettre.
//! - [`config`]: the `[sms]` and `[email]` tables, checked.
//! - [`gateways`]: [`Gateways`], the [`Notifier`] made from the config.
//! - [`inbound`]: what comes back: the webhooks the HTTP listener serves
//!   (`POST /twilio/sms`, `POST /twilio/status`) and the poller, each
//!   handing [`SmsEvent`]s to the channel the core reads.

pub mod config;
pub mod email;
pub mod gateways;
pub mod inbound;
pub mod twilio;

pub use gateways::Gateways;

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A mobile number in E.164 form (`+447700900123`): a plus, then 8 to 15
/// digits, the first not 0.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let digits = value.strip_prefix('+').ok_or_else(|| {
            format!("\"{value}\" is not a mobile number in international form: write it with + and the country code, for example +447700900123")
        })?;
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Phone(value))
        } else {
            Err(format!("\"{value}\" is not a mobile number in international form: + then the country code and number, digits only, no spaces, for example +447700900123"))
        }
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, checked only for its shape (`someone@example.org`);
/// the mail server has the last word.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let ok = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !value.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
                    && !domain.contains('@')
            }
            None => false,
        };
        if ok {
            Ok(EmailAddress(value))
        } else {
            Err(format!(
                "\"{value}\" is not an email address: write it as name@example.org"
            ))
        }
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> String {
        e.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An SMS to send. `body` is content-free: the organisation, the reference,
/// urgent or not, and the reply code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sms {
    pub to: Phone,
    pub body: String,
}

/// An email to send, plain text. `message_id` is stable for one page, so a
/// retry is the same message (`<page-key@host>`, without the brackets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub to: EmailAddress,
    pub subject: String,
    pub body: String,
    pub message_id: String,
}

/// What the gateway said when it took an SMS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsAccepted {
    /// The gateway's id for the message (Twilio's `SM…` sid).
    pub sid: String,
}

/// An SMS sent to the bot's number: a reply to a page, from webhook or poll.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsReply {
    /// The gateway's id, so a reply seen twice is taken once.
    pub sid: String,
    pub from: Phone,
    pub body: String,
}

/// What a delivery status callback said about an SMS sent earlier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsStatus {
    pub sid: String,
    /// `queued`, `sent`, `delivered`, `undelivered`, `failed`, …
    pub status: String,
    pub error_code: Option<u32>,
}

impl SmsStatus {
    /// The gateway gave up on it: the next method should be tried.
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "undelivered")
    }
}

/// What the gateway tells the bot, by webhook or poll.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmsEvent {
    Reply(SmsReply),
    Status(SmsStatus),
}

/// Why a message did not go.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum NotifyError {
    /// Refused for good: trying again will not help (a bad number, the
    /// person replied STOP, a bad sender, bad credentials).
    #[error("refused: {reason}")]
    Refused {
        /// The gateway's error code, where it gives one (Twilio 21610: the
        /// person replied STOP).
        code: Option<u32>,
        reason: String,
    },
    /// Not now: rate limited, the server's own fault, or out of reach. Try
    /// again later.
    #[error("not sent for now: {0}")]
    Later(String),
}

impl NotifyError {
    /// Twilio's code for "the person replied STOP to this number".
    pub const STOPPED: u32 = 21610;

    /// The person asked this number to stop sending them SMS.
    pub fn is_stop(&self) -> bool {
        matches!(self, NotifyError::Refused { code: Some(c), .. } if *c == Self::STOPPED)
    }
}

/// Sends pages outside the chat. Implemented by the real gateways and, in
/// the core's fast tests, by an in-memory recorder.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Sends one SMS. `Ok` means the gateway took it; its later fate comes
    /// by status callback or poll.
    async fn send_sms(&self, sms: &Sms) -> Result<SmsAccepted, NotifyError>;

    /// Sends one email. `Ok` means the mail server took it.
    async fn send_email(&self, email: &Email) -> Result<(), NotifyError>;

    /// Whether SMS can be sent at all (a gateway is configured).
    fn has_sms(&self) -> bool;

    /// Whether email can be sent at all (a mail server is configured).
    fn has_email(&self) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_international_form_are_taken() {
        assert!(Phone::try_from("+447700900123".to_string()).is_ok());
        for bad in [
            "07700900123",
            "+44 7700 900123",
            "+0447700900",
            "+12",
            "+4477009001234567",
        ] {
            let err = Phone::try_from(bad.to_string()).unwrap_err();
            assert!(err.contains("+447700900123"), "{bad}: {err}");
        }
    }

    #[test]
    fn addresses_are_checked_for_their_shape() {
        assert!(EmailAddress::try_from("dsl@example.org".to_string()).is_ok());
        for bad in [
            "dsl",
            "dsl@",
            "@example.org",
            "dsl@localhost",
            "a b@example.org",
            "dsl@@x.org",
        ] {
            assert!(EmailAddress::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn stop_is_recognised_by_its_code() {
        let stop = NotifyError::Refused {
            code: Some(21610),
            reason: "stopped".into(),
        };
        assert!(stop.is_stop());
        assert!(!NotifyError::Later("429".into()).is_stop());
    }
}
