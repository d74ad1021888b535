//! What comes back from the SMS gateway: the leads' replies and what became
//! of each SMS. Either Twilio posts them to the bot (the webhook mode: the
//! routes below, mounted on the HTTP listener) or the bot lists them (the
//! polling mode: [`Poller`]). Both hand [`SmsEvent`]s to one channel, which
//! the core reads.
//!
//! A webhook request is taken only with a good `X-Twilio-Signature` for
//! the URL exactly as the config gives it (the public one, not the one the
//! listener sees behind a proxy) and for this account. Anything else is
//! answered 403 and changes nothing; the core is told that a request was
//! refused (not what it said) so it can audit it.
//!
//! The webhook and the poller both may hand the same reply twice (Twilio
//! retries, a replayed request, a restart): the core takes each
//! `MessageSid` once, durably. The poller also remembers, for the process,
//! what it has handed on, so each reply goes to the channel once per run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::config::{Replies, SmsConfig, SMS_WEBHOOK_PATH, STATUS_WEBHOOK_PATH};
use super::twilio::{verify_signature, AuthToken, TwilioClient};
use super::{NotifyError, Phone, SmsEvent, SmsReply, SmsStatus};

/// The largest webhook body read: Twilio's are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

/// The empty TwiML answer: Twilio sends nothing back to the person.
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// The header Twilio signs its requests with.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// A webhook request that was not taken, for the audit log. It carries no
/// word of the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedWebhook {
    /// `/twilio/sms` or `/twilio/status`.
    pub path: String,
    pub why: RefusedWhy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusedWhy {
    /// No `X-Twilio-Signature` header.
    MissingSignature,
    /// A signature that does not match the request.
    BadSignature,
    /// Signed, but for another Twilio account.
    OtherAccount,
}

/// What the webhook handlers share.
struct Hooks {
    token: AuthToken,
    account_sid: String,
    sms_url: String,
    status_url: String,
    events: mpsc::Sender<SmsEvent>,
    refused: Option<mpsc::Sender<RefusedWebhook>>,
}

/// The routes `POST /twilio/sms` and `POST /twilio/status`, when `[sms]`
/// takes replies by webhook; `None` in the polling mode. Mount them on the
/// HTTP listener ([`crate::health::listen_with`]). `refused`, if given, is
/// told of each request refused (for the audit log); it is never waited on.
pub fn webhook_routes(
    sms: &SmsConfig,
    events: mpsc::Sender<SmsEvent>,
    refused: Option<mpsc::Sender<RefusedWebhook>>,
) -> Option<Router> {
    let (Some(sms_url), Some(status_url)) = (sms.sms_webhook_url(), sms.status_webhook_url()) else {
        return None;
    };
    let hooks = Arc::new(Hooks {
        token: sms.account.auth_token.clone(),
        account_sid: sms.account.account_sid.clone(),
        sms_url,
        status_url,
        events,
        refused,
    });
    Some(
        Router::new()
            .route(SMS_WEBHOOK_PATH, post(inbound_sms))
            .route(STATUS_WEBHOOK_PATH, post(status_callback))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(hooks),
    )
}

impl Hooks {
    /// The request's parameters, if it is signed for `url` and this
    /// account; otherwise the answer to give.
    fn check(
        &self,
        path: &str,
        url: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, Box<Response>> {
        let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
        let why = if signature.is_none() {
            Some(RefusedWhy::MissingSignature)
        } else if !verify_signature(self.token.expose(), url, &params, signature) {
            Some(RefusedWhy::BadSignature)
        } else if param(&params, "AccountSid") != Some(self.account_sid.as_str()) {
            Some(RefusedWhy::OtherAccount)
        } else {
            None
        };
        match why {
            None => Ok(params),
            Some(why) => {
                warn!(path, reason = ?why, "refused a request to the SMS webhook: it is not signed by Twilio for this account");
                if let Some(refused) = &self.refused {
                    // Never waited on: a flood of forgeries must not hold
                    // up the real replies.
                    let _ = refused.try_send(RefusedWebhook {
                        path: path.to_string(),
                        why,
                    });
                }
                Err(Box::new(plain(StatusCode::FORBIDDEN, "forbidden\n")))
            }
        }
    }

    async fn hand_on(&self, event: SmsEvent) -> Result<(), Box<Response>> {
        self.events.send(event).await.map_err(|_| {
            warn!("an SMS webhook request came while the bot was stopping; Twilio was asked to try again");
            Box::new(plain(StatusCode::SERVICE_UNAVAILABLE, "stopping\n"))
        })
    }
}

/// `POST /twilio/sms`: an SMS sent to the bot's number.
async fn inbound_sms(State(hooks): State<Arc<Hooks>>, headers: HeaderMap, body: Bytes) -> Response {
    let params = match hooks.check(SMS_WEBHOOK_PATH, &hooks.sms_url, &headers, &body) {
        Ok(p) => p,
        Err(answer) => return *answer,
    };
    let (Some(sid), Some(from), Some(text)) = (
        param(&params, "MessageSid"),
        param(&params, "From"),
        param(&params, "Body"),
    ) else {
        return plain(StatusCode::BAD_REQUEST, "MessageSid, From and Body are needed\n");
    };
    let Ok(from) = Phone::try_from(from.to_string()) else {
        // Not a phone (an alphanumeric sender): no lead or deputy.
        debug!(
            sid,
            "an SMS from something that is not a phone number was ignored"
        );
        return twiml();
    };
    let reply = SmsReply {
        sid: sid.to_string(),
        from,
        body: text.to_string(),
    };
    match hooks.hand_on(SmsEvent::Reply(reply)).await {
        Ok(()) => twiml(),
        Err(answer) => *answer,
    }
}

/// `POST /twilio/status`: what became of an SMS the bot sent.
async fn status_callback(State(hooks): State<Arc<Hooks>>, headers: HeaderMap, body: Bytes) -> Response {
    let params = match hooks.check(STATUS_WEBHOOK_PATH, &hooks.status_url, &headers, &body) {
        Ok(p) => p,
        Err(answer) => return *answer,
    };
    let (Some(sid), Some(status)) = (param(&params, "MessageSid"), param(&params, "MessageStatus")) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "MessageSid and MessageStatus are needed\n",
        );
    };
    let status = SmsStatus {
        sid: sid.to_string(),
        status: status.to_string(),
        error_code: param(&params, "ErrorCode").and_then(|c| c.trim().parse().ok()),
    };
    match hooks.hand_on(SmsEvent::Status(status)).await {
        Ok(()) => plain(StatusCode::OK, ""),
        Err(answer) => *answer,
    }
}

fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn twiml() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        EMPTY_TWIML,
    )
        .into_response()
}

fn plain(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// How far back the poller looks: replies sent while the bot was
/// restarting are taken, and the core drops those it has already had.
pub const POLL_LOOKBACK: Duration = Duration::from_secs(60 * 60);

/// Lists the SMS sent to the bot's number every few seconds and hands each
/// new one on once (the polling mode).
pub struct Poller {
    client: TwilioClient,
    number: Phone,
    interval: Duration,
    /// Nothing sent before this is listed; moves forward with the clock,
    /// [`POLL_LOOKBACK`] behind it.
    since: DateTime<Utc>,
    /// The replies handed on, with when they were sent: forgotten once
    /// `since` passes them, since the list no longer holds them.
    seen: HashMap<String, DateTime<Utc>>,
    failing: bool,
}

impl Poller {
    pub fn new(client: TwilioClient, number: Phone, interval: Duration, now: DateTime<Utc>) -> Self {
        Poller {
            client,
            number,
            interval,
            since: now - lookback(),
            seen: HashMap::new(),
            failing: false,
        }
    }

    /// The poller `[sms]` asks for, in the polling mode; `None` otherwise.
    pub fn from_config(sms: &SmsConfig, client: &TwilioClient, now: DateTime<Utc>) -> Option<Self> {
        match &sms.replies {
            Replies::Poll { number, interval } => {
                Some(Poller::new(client.clone(), number.clone(), *interval, now))
            }
            Replies::Webhook { .. } => None,
        }
    }

    /// Lists once and hands each reply not handed on before to `events`,
    /// oldest first. Returns how many were handed on.
    pub async fn poll_once(
        &mut self,
        now: DateTime<Utc>,
        events: &mpsc::Sender<SmsEvent>,
    ) -> Result<usize, NotifyError> {
        let mut listed = self.client.list_inbound(&self.number, self.since).await?;
        listed.reverse();
        let mut handed = 0;
        for m in listed {
            if m.direction != "inbound" || self.seen.contains_key(&m.sid) {
                continue;
            }
            let Ok(from) = Phone::try_from(m.from.clone()) else {
                self.seen.insert(m.sid, m.date_sent.unwrap_or(now));
                continue;
            };
            let reply = SmsReply {
                sid: m.sid.clone(),
                from,
                body: m.body,
            };
            if events.send(SmsEvent::Reply(reply)).await.is_err() {
                // The core has stopped; nothing more to do.
                return Ok(handed);
            }
            self.seen.insert(m.sid, m.date_sent.unwrap_or(now));
            handed += 1;
        }
        self.since = self.since.max(now - lookback());
        let since = self.since;
        self.seen.retain(|_, sent| *sent >= since);
        Ok(handed)
    }

    /// Polls every interval until `shutdown` turns true or the channel
    /// closes. A failure is logged once, and again when it passes.
    pub async fn run(mut self, events: mpsc::Sender<SmsEvent>, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        info!(every = ?self.interval, "reading SMS replies from Twilio");
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            if events.is_closed() {
                return;
            }
            match self.poll_once(Utc::now(), &events).await {
                Ok(n) => {
                    if self.failing {
                        info!("reading SMS replies from Twilio works again");
                        self.failing = false;
                    }
                    if n > 0 {
                        debug!(replies = n, "SMS replies read from Twilio");
                    }
                }
                Err(e) => {
                    if !self.failing {
                        warn!(error = %e, "could not read SMS replies from Twilio; trying again every {:?}", self.interval);
                        self.failing = true;
                    }
                }
            }
        }
    }

    /// How many replies it remembers (for tests).
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }
}

fn lookback() -> chrono::Duration {
    chrono::Duration::from_std(POLL_LOOKBACK).expect("an hour fits")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::config::Replies;
    use crate::notify::twilio::{signature, Sender, TwilioAccount};
    use std::future::IntoFuture;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn config() -> SmsConfig {
        SmsConfig {
            account: TwilioAccount {
                api_url: "http://127.0.0.1:9".into(),
                account_sid: SID.into(),
                auth_token: AuthToken::new("tok"),
                sender: Sender::Number("+447700900001".to_string().try_into().expect("phone")),
            },
            replies: Replies::Webhook {
                public_url: "https://bot.example.org".into(),
            },
        }
    }

    /// One request through the router, over a socket on 127.0.0.1.
    async fn call(router: &Router, path: &str, signature: Option<&str>, body: String) -> (u16, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(axum::serve(listener, router.clone()).into_future());
        let mut request = reqwest::Client::new()
            .post(format!("http://{addr}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(s) = signature {
            request = request.header(SIGNATURE_HEADER, s);
        }
        let response = request.send().await.expect("answered");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        server.abort();
        (status, text)
    }

    fn form(pairs: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        (
            s.finish(),
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[tokio::test]
    async fn a_signed_reply_is_handed_on_and_a_forged_one_is_not() {
        let (tx, mut rx) = mpsc::channel(8);
        let (refused_tx, mut refused_rx) = mpsc::channel(8);
        let router = webhook_routes(&config(), tx, Some(refused_tx)).expect("webhook mode");
        let (body, params) = form(&[
            ("AccountSid", SID),
            ("MessageSid", "SM00000000000000000000000000000001"),
            ("From", "+447700900123"),
            ("To", "+447700900001"),
            ("Body", "ack 4821"),
        ]);
        let good = signature("tok", "https://bot.example.org/twilio/sms", &params);
        let (status, answer) = call(&router, "/twilio/sms", Some(&good), body.clone()).await;
        assert_eq!((status, answer.as_str()), (200, EMPTY_TWIML));
        match rx.try_recv() {
            Ok(SmsEvent::Reply(r)) => {
                assert_eq!(r.sid, "SM00000000000000000000000000000001");
                assert_eq!(r.from.as_str(), "+447700900123");
                assert_eq!(r.body, "ack 4821");
            }
            other => panic!("expected the reply, got {other:?}"),
        }
        // Signed for the listener's own address, not the public one.
        let wrong_url = signature("tok", "http://127.0.0.1:9184/twilio/sms", &params);
        assert_eq!(
            call(&router, "/twilio/sms", Some(&wrong_url), body.clone())
                .await
                .0,
            403
        );
        assert_eq!(call(&router, "/twilio/sms", None, body.clone()).await.0, 403);
        let tampered = body.replace("4821", "4822");
        assert_eq!(call(&router, "/twilio/sms", Some(&good), tampered).await.0, 403);
        assert!(rx.try_recv().is_err(), "nothing forged is handed on");
        let whys: Vec<RefusedWhy> = std::iter::from_fn(|| refused_rx.try_recv().ok())
            .map(|r| r.why)
            .collect();
        assert_eq!(
            whys,
            [
                RefusedWhy::BadSignature,
                RefusedWhy::MissingSignature,
                RefusedWhy::BadSignature
            ]
        );
    }

    #[tokio::test]
    async fn another_accounts_signed_request_is_refused() {
        let (tx, mut rx) = mpsc::channel(8);
        let router = webhook_routes(&config(), tx, None).expect("webhook mode");
        let (body, params) = form(&[
            ("AccountSid", "AC99999999999999999999999999999999"),
            ("MessageSid", "SM1"),
            ("MessageStatus", "delivered"),
        ]);
        let sig = signature("tok", "https://bot.example.org/twilio/status", &params);
        assert_eq!(call(&router, "/twilio/status", Some(&sig), body).await.0, 403);
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_status_callback_is_handed_on() {
        let (tx, mut rx) = mpsc::channel(8);
        let router = webhook_routes(&config(), tx, None).expect("webhook mode");
        let (body, params) = form(&[
            ("AccountSid", SID),
            ("MessageSid", "SM2"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
            ("To", "+447700900123"),
        ]);
        let sig = signature("tok", "https://bot.example.org/twilio/status", &params);
        assert_eq!(call(&router, "/twilio/status", Some(&sig), body).await.0, 200);
        let Ok(SmsEvent::Status(s)) = rx.try_recv() else {
            panic!("expected a status")
        };
        assert!(s.failed());
        assert_eq!(s.error_code, Some(30003));
    }

    #[test]
    fn polling_mounts_no_routes() {
        let mut c = config();
        c.replies = Replies::Poll {
            number: "+447700900001".to_string().try_into().expect("phone"),
            interval: Duration::from_secs(5),
        };
        let (tx, _rx) = mpsc::channel(1);
        assert!(webhook_routes(&c, tx, None).is_none());
    }
}
