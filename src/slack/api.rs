//! Slack's Web API, called raw through slack-morphism's HTTP session: one
//! place that knows tokens, form-only methods, error codes, `Retry-After`
//! and the pace Slack keeps.
//!
//! Raw JSON rather than slack-morphism's typed requests: some answers do
//! not fit its models (`conversations.kick` answers `"errors": {}`, which it
//! cannot read), and some fields are not modelled at all (`is_ext_shared`).
//! Nothing here logs a request or an answer: they may hold what a reporter
//! wrote.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use crate::bot::ChatError;

pub type Connector = SlackClientHyperHttpsConnector;
pub type Client = SlackClient<Connector>;

/// Methods whose documentation lists only form bodies: called with GET and
/// the parameters in the query (Slack ignores a JSON body sent to them).
const FORM_ONLY: &[&str] = &[
    "users.info",
    "conversations.info",
    "conversations.members",
    "files.getUploadURLExternal",
];

/// Why a Web API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Slack answered `{"ok": false, "error": code}`.
    #[error("{method}: Slack said {code}")]
    Slack { method: String, code: String },
    /// HTTP 429.
    #[error("{method}: rate limited")]
    RateLimited {
        method: String,
        retry_after: Option<Duration>,
    },
    /// An answer slack-morphism could not read (the call may have worked).
    #[error("{method}: an answer that could not be read")]
    Unreadable { method: String },
    /// No answer, or not Slack's.
    #[error("{method}: could not reach Slack ({why})")]
    Unreachable { method: String, why: String },
}

impl ApiError {
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Slack { code, .. } => Some(code),
            _ => None,
        }
    }

    fn from_client(method: &str, e: SlackClientError) -> ApiError {
        let method = method.to_string();
        match e {
            SlackClientError::ApiError(e) => ApiError::Slack { method, code: e.code },
            SlackClientError::RateLimitError(e) => ApiError::RateLimited {
                method,
                retry_after: e.retry_after,
            },
            SlackClientError::ProtocolError(_) => ApiError::Unreadable { method },
            // Only the status: an error's body may echo what was sent.
            SlackClientError::HttpError(e) => ApiError::Unreachable {
                method,
                why: format!("HTTP {}", e.status_code),
            },
            _ => ApiError::Unreachable {
                method,
                why: "no answer".into(),
            },
        }
    }
}

/// Keeps posts to one channel to Slack's pace: a burst of a few, then about
/// one a second (chat.postMessage's documented limit).
#[derive(Default)]
struct Pacer {
    /// Per channel: when the next post may go, if the burst is spent.
    next: Mutex<HashMap<String, (Instant, u32)>>,
}

const BURST: u32 = 3;
const PACE: Duration = Duration::from_millis(1000);

impl Pacer {
    /// How long to wait before posting to `channel`; the slot is taken.
    fn reserve(&self, channel: &str) -> Duration {
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if next.len() > 1000 {
            next.retain(|_, (at, _)| *at + PACE * BURST > now);
        }
        let (at, credit) = next.entry(channel.to_string()).or_insert((now, BURST));
        // Credit comes back at the pace while the channel is quiet.
        if *at <= now {
            let earned = (now.duration_since(*at).as_millis() / PACE.as_millis()) as u32;
            *credit = (*credit + earned).min(BURST);
            *at = now;
        }
        if *credit > 0 {
            *credit -= 1;
            return at.saturating_duration_since(now);
        }
        *at += PACE;
        at.saturating_duration_since(now)
    }
}

/// The Web API with the bot token.
#[derive(Clone)]
pub struct Api {
    client: Arc<Client>,
    token: SlackApiToken,
    pacer: Arc<Pacer>,
}

impl Api {
    pub fn new(client: Arc<Client>, bot_token: &str) -> Api {
        Api {
            client,
            token: SlackApiToken::new(bot_token.to_string().into()),
            pacer: Arc::new(Pacer::default()),
        }
    }

    /// Calls `method` with `params` (a JSON object); the answer on `ok`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ApiError> {
        let session = self.client.open_session(&self.token);
        let result = if FORM_ONLY.contains(&method) {
            let query: Vec<(String, Option<String>)> = params
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| {
                            let text = match v {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            (k.clone(), Some(text))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let pairs: Vec<(&str, Option<String>)> =
                query.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            session.http_session_api.http_get(method, &pairs, None).await
        } else {
            session.http_session_api.http_post(method, &params, None).await
        };
        result.map_err(|e| ApiError::from_client(method, e))
    }

    /// As [`Api::call`], after waiting for the channel's turn: for posts.
    pub async fn call_paced(&self, method: &str, channel: &str, params: Value) -> Result<Value, ApiError> {
        let wait = self.pacer.reserve(channel);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.call(method, params).await
    }

    /// POSTs a file's bytes to the address `files.getUploadURLExternal` gave.
    pub async fn upload_bytes(&self, url: &str, data: Vec<u8>, mime: &str) -> Result<(), ApiError> {
        let parsed = url.parse().map_err(|_| ApiError::Unreachable {
            method: "(upload)".into(),
            why: "Slack gave an upload address that is not a URL".into(),
        })?;
        let request =
            SlackApiFilesUploadViaUrlRequest::new(SlackFileUploadUrl::new(parsed), data, mime.to_string());
        match self
            .client
            .open_session(&self.token)
            .files_upload_via_url(&request)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(ApiError::from_client("(upload)", e)),
        }
    }
}

/// A Slack error as the core sees it.
pub fn classify(e: ApiError) -> ChatError {
    match e {
        ApiError::RateLimited { retry_after, .. } => ChatError::RateLimited(retry_after),
        ApiError::Unreachable { why, method } => ChatError::Transient(format!("{method}: {why}")),
        ApiError::Unreadable { method } => ChatError::Transient(format!("{method}: an unreadable answer")),
        ApiError::Slack { method, code } => {
            let what = format!("{method}: {code}");
            match code.as_str() {
                "channel_not_found" | "user_not_found" | "message_not_found" | "file_not_found"
                | "not_in_channel" | "is_archived" => ChatError::NotFound(what),
                "msg_too_long" | "invalid_blocks" => ChatError::TooLarge,
                "ratelimited" => ChatError::RateLimited(None),
                "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                    ChatError::Transient(what)
                }
                _ => ChatError::Refused(what),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_goes_at_once_then_one_a_second() {
        let pacer = Pacer::default();
        let waits: Vec<Duration> = (0..5).map(|_| pacer.reserve("D1")).collect();
        assert!(waits[..3].iter().all(|w| w.is_zero()), "{waits:?}");
        assert!(waits[3] > Duration::from_millis(900), "{waits:?}");
        assert!(waits[4] > Duration::from_millis(1900), "{waits:?}");
        assert!(pacer.reserve("D2").is_zero(), "another channel has its own pace");
    }

    #[test]
    fn slack_errors_are_sorted_for_the_core() {
        let slack = |code: &str| ApiError::Slack {
            method: "m".into(),
            code: code.into(),
        };
        assert!(matches!(
            classify(slack("channel_not_found")),
            ChatError::NotFound(_)
        ));
        assert!(matches!(
            classify(slack("restricted_action")),
            ChatError::Refused(_)
        ));
        assert!(matches!(
            classify(slack("user_is_restricted")),
            ChatError::Refused(_)
        ));
        assert_eq!(classify(slack("msg_too_long")), ChatError::TooLarge);
        let limited = ApiError::RateLimited {
            method: "m".into(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            classify(limited),
            ChatError::RateLimited(Some(Duration::from_secs(7)))
        );
    }
}
