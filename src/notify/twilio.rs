//! Twilio's Programmable Messaging API: sending an SMS, listing the SMS sent
//! to the bot's number (for the mode with no public address), and the
//! signature Twilio puts on every webhook it sends.
//!
//! Only what Twilio documents is used: `POST …/Messages.json` (form-encoded,
//! HTTP basic authentication with the account SID and auth token), `GET
//! …/Messages.json?To=…&DateSent>=…` followed page by page through
//! `next_page_uri`, and `X-Twilio-Signature`. The API's base address is
//! configurable, for the tests' stand-in and for compatible providers.
//!
//! Nothing here knows what a message says: a body is carried, never logged,
//! and an error's reason holds only what the gateway said about it.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;

use super::{NotifyError, Phone, Sms, SmsAccepted};

/// Twilio's API, when `[sms] api_url` is left out.
pub const TWILIO_API: &str = "https://api.twilio.com";

/// How long one request to the gateway may take before it counts as "not
/// now". A send that timed out may still have been taken: Twilio has no
/// idempotency key (see deploy/README.md on the one duplicate this allows).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The most pages one listing follows: a poll every few seconds needs one.
const MAX_PAGES: usize = 20;

/// The account's auth token: the key to the account and to the webhooks'
/// signatures. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(String);

impl AuthToken {
    pub fn new(token: impl Into<String>) -> Self {
        AuthToken(token.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(hidden)")
    }
}

/// Who an SMS comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sender {
    /// A Twilio phone number (`From`); replies come back to it.
    Number(Phone),
    /// A short code (`From`, 3 to 8 digits); replies come back to it.
    ShortCode(String),
    /// An alphanumeric sender ID (`From`, such as `Charity`): phones cannot
    /// reply to it.
    Alphanumeric(String),
    /// A messaging service (`MessagingServiceSid`, `MG…`), which picks a
    /// number from its pool.
    MessagingService(String),
}

impl Sender {
    /// Whether a phone can reply to what this sender sends.
    pub fn takes_replies(&self) -> bool {
        !matches!(self, Sender::Alphanumeric(_))
    }

    fn form_pair(&self) -> (&'static str, &str) {
        match self {
            Sender::Number(p) => ("From", p.as_str()),
            Sender::ShortCode(s) | Sender::Alphanumeric(s) => ("From", s),
            Sender::MessagingService(sid) => ("MessagingServiceSid", sid),
        }
    }
}

/// One Twilio account, as the config gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioAccount {
    /// The API's base, without a final `/` (`https://api.twilio.com`).
    pub api_url: String,
    /// `AC…`.
    pub account_sid: String,
    pub auth_token: AuthToken,
    pub sender: Sender,
}

/// An SMS in the account's list, as `GET …/Messages.json` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedMessage {
    pub sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    /// `inbound` for one sent to the account's number.
    pub direction: String,
    pub status: String,
    pub date_sent: Option<DateTime<Utc>>,
}

/// Sends SMS through one Twilio account and lists what was sent to it.
/// Cheap to clone: the HTTP client inside is shared.
#[derive(Clone, Debug)]
pub struct TwilioClient {
    http: reqwest::Client,
    account: TwilioAccount,
    /// Where Twilio is to say what became of each SMS (`StatusCallback`),
    /// in the webhook mode.
    status_callback: Option<String>,
}

impl TwilioClient {
    pub fn new(account: TwilioAccount, status_callback: Option<String>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("safeguarding-bot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("could not set up the HTTP client for Twilio: {e}"))?;
        Ok(TwilioClient {
            http,
            account,
            status_callback,
        })
    }

    pub fn account(&self) -> &TwilioAccount {
        &self.account
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.account.api_url, self.account.account_sid
        )
    }

    /// Sends one SMS. 429, a 5xx, a timeout or no answer is
    /// [`NotifyError::Later`]; any other refusal is [`NotifyError::Refused`]
    /// with Twilio's error code (21610: the person replied STOP).
    pub async fn send(&self, sms: &Sms) -> Result<SmsAccepted, NotifyError> {
        let (from_key, from) = self.account.sender.form_pair();
        // Built before the request: the serializer is not Send.
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("To", sms.to.as_str())
                .append_pair(from_key, from)
                .append_pair("Body", &sms.body);
            if let Some(callback) = &self.status_callback {
                form.append_pair("StatusCallback", callback);
            }
            form.finish()
        };
        let response = self
            .http
            .post(self.messages_url())
            .basic_auth(&self.account.account_sid, Some(self.account.auth_token.expose()))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        #[derive(Deserialize)]
        struct Created {
            sid: String,
        }
        match serde_json::from_slice::<Created>(&body) {
            Ok(created) => Ok(SmsAccepted { sid: created.sid }),
            // Taken (2xx) but unreadable: the SMS is on its way, and sending
            // it again would send it twice. Its status will not be matched.
            Err(e) => {
                tracing::warn!(error = %e, "Twilio took an SMS but its answer could not be read; its delivery will not be followed");
                Ok(SmsAccepted { sid: String::new() })
            }
        }
    }

    /// The SMS sent to `to` (the bot's number) since `since`, newest first,
    /// following `next_page_uri` until the list reaches `since`.
    ///
    /// Twilio filters `DateSent>=` by day (GMT); the time within the day is
    /// filtered here.
    pub async fn list_inbound(
        &self,
        to: &Phone,
        since: DateTime<Utc>,
    ) -> Result<Vec<ListedMessage>, NotifyError> {
        let mut url = reqwest::Url::parse(&self.messages_url())
            .map_err(|e| NotifyError::Later(format!("the Twilio address is not valid: {e}")))?;
        url.query_pairs_mut()
            .append_pair("To", to.as_str())
            // Twilio's parameter is named `DateSent>` (on or after), so the
            // query reads `DateSent>=2026-12-07`.
            .append_pair("DateSent>", &since.format("%Y-%m-%d").to_string())
            .append_pair("PageSize", "50");
        let mut found = Vec::new();
        let mut seen_pages = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.page(url.clone()).await?;
            let mut reached_since = false;
            for m in page.messages {
                let date_sent = m.date_sent.as_deref().and_then(parse_twilio_date);
                if date_sent.is_some_and(|d| d < since) {
                    reached_since = true;
                    continue;
                }
                found.push(ListedMessage {
                    sid: m.sid,
                    from: m.from.unwrap_or_default(),
                    to: m.to.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                    direction: m.direction.unwrap_or_default(),
                    status: m.status.unwrap_or_default(),
                    date_sent,
                });
            }
            let next = match page.next_page_uri {
                Some(next) if !next.is_empty() && !reached_since => next,
                _ => return Ok(found),
            };
            if seen_pages.contains(&next) {
                return Ok(found);
            }
            url = self.page_url(&next)?;
            seen_pages.push(next);
        }
        Ok(found)
    }

    async fn page(&self, url: reqwest::Url) -> Result<Page, NotifyError> {
        let response = self
            .http
            .get(url)
            .basic_auth(&self.account.account_sid, Some(self.account.auth_token.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| NotifyError::Later(format!("Twilio's list of messages could not be read: {e}")))
    }

    /// `next_page_uri` is a path on the API's host: it is joined to the
    /// configured base (a proxy or a compatible provider may have a path).
    fn page_url(&self, next: &str) -> Result<reqwest::Url, NotifyError> {
        let joined = if next.starts_with("http://") || next.starts_with("https://") {
            next.to_string()
        } else {
            let base = reqwest::Url::parse(&self.account.api_url)
                .map_err(|e| NotifyError::Later(format!("the Twilio address is not valid: {e}")))?;
            format!(
                "{}{}",
                self.account.api_url,
                next.strip_prefix(base.path().trim_end_matches('/'))
                    .unwrap_or(next)
            )
        };
        reqwest::Url::parse(&joined)
            .map_err(|e| NotifyError::Later(format!("Twilio's next page address is not valid: {e}")))
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    messages: Vec<PageMessage>,
    next_page_uri: Option<String>,
}

#[derive(Deserialize)]
struct PageMessage {
    sid: String,
    from: Option<String>,
    to: Option<String>,
    body: Option<String>,
    direction: Option<String>,
    status: Option<String>,
    date_sent: Option<String>,
}

/// Twilio's dates (`Thu, 24 Aug 2023 05:01:45 +0000`, RFC 2822).
pub fn parse_twilio_date(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// No answer, or an answer cut off: it may work later.
fn unreachable(e: reqwest::Error) -> NotifyError {
    let what = if e.is_timeout() {
        "Twilio did not answer in time"
    } else if e.is_connect() {
        "could not connect to Twilio"
    } else {
        "the request to Twilio failed"
    };
    // reqwest's message names the URL, which holds only the account SID.
    NotifyError::Later(format!("{what}: {e}"))
}

/// An answer that is not a success: later for 429 and 5xx, refused for the
/// rest, with Twilio's own code and words when the body has them.
fn refusal(status: reqwest::StatusCode, body: &[u8]) -> NotifyError {
    #[derive(Deserialize)]
    struct TwilioError {
        code: Option<u32>,
        message: Option<String>,
    }
    let said = serde_json::from_slice::<TwilioError>(body).ok();
    let code = said.as_ref().and_then(|e| e.code);
    let message = said
        .and_then(|e| e.message)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("no reason given").to_string());
    let reason = match code {
        Some(c) => format!("Twilio answered {} (error {c}): {message}", status.as_u16()),
        None => format!("Twilio answered {}: {message}", status.as_u16()),
    };
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        NotifyError::Later(reason)
    } else {
        NotifyError::Refused { code, reason }
    }
}

/// `X-Twilio-Signature` for a form-encoded request: base64 of the
/// HMAC-SHA1, keyed by the auth token, of the URL exactly as Twilio was
/// given it, followed by each parameter's name and value, sorted by name
/// (and, for a name given twice, by value), with nothing between.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(signed_mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `header` is the signature of this request, compared in constant
/// time. A missing or malformed header is not.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> bool {
    let Some(given) = header
        .map(str::trim)
        .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
    else {
        return false;
    };
    signed_mac(auth_token, url, params).verify_slice(&given).is_ok()
}

fn signed_mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Twilio's own worked example ("Validate Incoming Requests", the
    /// twilio-php documentation): token 12345, this URL and these
    /// parameters give RSOYDt4T1cUTdK1PDd93/VVr8B8=.
    #[test]
    fn the_signature_is_twilios_documented_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(signature("12345", url, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(verify_signature(
            "12345",
            url,
            &params,
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        ));
        // The order the parameters came in does not matter.
        let mut reversed = params.clone();
        reversed.reverse();
        assert!(verify_signature(
            "12345",
            url,
            &reversed,
            Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        ));
    }

    #[test]
    fn anything_changed_fails_the_signature() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = pairs(&[("Body", "4821"), ("From", "+447700900123")]);
        let good = signature("12345", url, &params);
        assert!(verify_signature("12345", url, &params, Some(&good)));
        assert!(!verify_signature("54321", url, &params, Some(&good)));
        assert!(!verify_signature(
            "12345",
            "https://mycompany.com/other",
            &params,
            Some(&good)
        ));
        let changed = pairs(&[("Body", "4822"), ("From", "+447700900123")]);
        assert!(!verify_signature("12345", url, &changed, Some(&good)));
        let added = pairs(&[("Body", "4821"), ("From", "+447700900123"), ("X", "")]);
        assert!(!verify_signature("12345", url, &added, Some(&good)));
        assert!(!verify_signature("12345", url, &params, None));
        assert!(!verify_signature("12345", url, &params, Some("")));
        assert!(!verify_signature("12345", url, &params, Some("not base64!")));
        assert!(!verify_signature(
            "12345",
            url,
            &params,
            Some(&good[..good.len() - 4])
        ));
    }

    #[test]
    fn refusals_and_retries_follow_the_status_and_code() {
        let stop = refusal(
            reqwest::StatusCode::BAD_REQUEST,
            br#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}"#,
        );
        assert!(stop.is_stop(), "{stop:?}");
        let auth = refusal(
            reqwest::StatusCode::UNAUTHORIZED,
            br#"{"code": 20003, "message": "Authenticate", "status": 401}"#,
        );
        assert!(
            matches!(
                auth,
                NotifyError::Refused {
                    code: Some(20003),
                    ..
                }
            ),
            "{auth:?}"
        );
        for status in [429u16, 500, 502, 503] {
            let e = refusal(
                reqwest::StatusCode::from_u16(status).expect("status"),
                b"<html>busy</html>",
            );
            assert!(matches!(e, NotifyError::Later(_)), "{status}: {e:?}");
        }
        let bare = refusal(reqwest::StatusCode::NOT_FOUND, b"");
        assert!(
            matches!(bare, NotifyError::Refused { code: None, .. }),
            "{bare:?}"
        );
    }

    #[test]
    fn twilio_dates_are_read() {
        let d = parse_twilio_date("Thu, 24 Aug 2023 05:01:45 +0000").expect("date");
        assert_eq!(d.to_rfc3339(), "2023-08-24T05:01:45+00:00");
        assert_eq!(parse_twilio_date("yesterday"), None);
    }

    #[test]
    fn the_token_is_never_printed() {
        let account = TwilioAccount {
            api_url: TWILIO_API.into(),
            account_sid: format!("AC{}", "0".repeat(32)),
            auth_token: AuthToken::new("secret-token-value"),
            sender: Sender::Alphanumeric("Charity".into()),
        };
        assert!(!format!("{account:?}").contains("secret-token-value"));
        assert!(!account.sender.takes_replies());
    }
}
