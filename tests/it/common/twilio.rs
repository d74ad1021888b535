//! A local stand-in of Twilio's Messages API, built from Twilio's documented
//! payloads, on 127.0.0.1: `POST …/Messages.json` with basic
//! authentication (401 and error 20003 otherwise), 400 with 21211 for a
//! `To` not in E.164, 21610 for a number that sent STOP, a switch to answer
//! 429 or 500; answers shaped as Twilio's (`sid` `SM` + 32 hex, `status`
//! `queued`, dates in RFC 2822); `GET …/Messages.json` with `To`, `From`,
//! `DateSent>`/`DateSent<` filters and `next_page_uri` paging, newest
//! first. It sends signed status callbacks and posts signed inbound SMS to
//! a webhook, with its own signing code (not the bot's).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

#[derive(Clone, Debug)]
pub struct Stored {
    pub sid: String,
    pub from: Option<String>,
    pub to: String,
    pub body: String,
    pub status: String,
    pub direction: String,
    pub messaging_service_sid: Option<String>,
    pub status_callback: Option<String>,
    pub date_created: DateTime<Utc>,
    pub date_sent: Option<DateTime<Utc>>,
    /// The form as the client posted it (outbound only).
    pub form: Vec<(String, String)>,
}

#[derive(Default)]
struct State {
    messages: Vec<Stored>,
    stopped: HashSet<String>,
    fail_with: Option<u16>,
    list_requests: usize,
}

pub struct TwilioStandIn {
    pub url: String,
    pub account_sid: String,
    pub auth_token: String,
    state: Arc<Mutex<State>>,
    server: JoinHandle<()>,
}

impl Drop for TwilioStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Twilio's documented signature, computed here independently of the bot.
pub fn sign(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(&k);
        data.push_str(&v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).expect("key");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn rfc2822(d: DateTime<Utc>) -> String {
    d.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

fn new_sid() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("random");
    format!(
        "SM{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn is_e164(n: &str) -> bool {
    n.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn error(status: u16, code: u32, message: &str) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        [("content-type", "application/json")],
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status
        })
        .to_string(),
    )
        .into_response()
}

impl TwilioStandIn {
    pub async fn start() -> TwilioStandIn {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).expect("random");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let account_sid = format!("AC{hex}");
        getrandom::getrandom(&mut bytes).expect("random");
        let auth_token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let state = Arc::new(Mutex::new(State::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let ctx = Arc::new((account_sid.clone(), auth_token.clone(), state.clone()));
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let ctx = ctx.clone();
            async move { handle(&ctx.0, &ctx.1, &ctx.2, method, uri, headers, body) }
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TwilioStandIn {
            url,
            account_sid,
            auth_token,
            state,
            server,
        }
    }

    /// Every 2xx POST from now answers `status` instead (429, 500), until
    /// set back to `None`.
    pub fn fail_with(&self, status: Option<u16>) {
        self.state.lock().expect("lock").fail_with = status;
    }

    /// `number` replied STOP: Twilio refuses to send to it (21610).
    pub fn stop(&self, number: &str) {
        self.state
            .lock()
            .expect("lock")
            .stopped
            .insert(number.to_string());
    }

    /// The SMS sent through the API, oldest first.
    pub fn sent(&self) -> Vec<Stored> {
        let state = self.state.lock().expect("lock");
        state
            .messages
            .iter()
            .filter(|m| m.direction == "outbound-api")
            .cloned()
            .collect()
    }

    pub fn list_requests(&self) -> usize {
        self.state.lock().expect("lock").list_requests
    }

    /// An SMS from `from` to `to` arrives at Twilio (for the polling mode).
    pub fn add_inbound(&self, from: &str, to: &str, body: &str, sent: DateTime<Utc>) -> String {
        let sid = new_sid();
        self.state.lock().expect("lock").messages.push(Stored {
            sid: sid.clone(),
            from: Some(from.into()),
            to: to.into(),
            body: body.into(),
            status: "received".into(),
            direction: "inbound".into(),
            messaging_service_sid: None,
            status_callback: None,
            date_created: sent,
            date_sent: Some(sent),
            form: vec![],
        });
        sid
    }

    /// The parameters Twilio posts for an inbound SMS (its documented set).
    pub fn inbound_params(&self, sid: &str, from: &str, to: &str, body: &str) -> Vec<(String, String)> {
        [
            ("ToCountry", "GB"),
            ("ToState", ""),
            ("SmsMessageSid", sid),
            ("NumMedia", "0"),
            ("ToCity", ""),
            ("FromZip", ""),
            ("SmsSid", sid),
            ("FromState", ""),
            ("SmsStatus", "received"),
            ("FromCity", ""),
            ("Body", body),
            ("FromCountry", "GB"),
            ("To", to),
            ("ToZip", ""),
            ("NumSegments", "1"),
            ("MessageSid", sid),
            ("AccountSid", &self.account_sid),
            ("From", from),
            ("ApiVersion", "2010-04-01"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// An SMS arrives and Twilio posts it to `webhook` (signed for
    /// `signed_url`, the address Twilio was given). Returns the sid, the
    /// HTTP status and the answer's body.
    pub async fn post_inbound(
        &self,
        webhook: &str,
        signed_url: &str,
        from: &str,
        to: &str,
        body: &str,
    ) -> (String, u16, String) {
        let sid = self.add_inbound(from, to, body, Utc::now());
        let params = self.inbound_params(&sid, from, to, body);
        let signature = sign(&self.auth_token, signed_url, &params);
        let (status, text) = post_form(webhook, &params, Some(&signature)).await;
        (sid, status, text)
    }

    /// Twilio tells the StatusCallback of message `sid` that it is now
    /// `status`. Returns the HTTP status the callback answered.
    pub async fn send_status(&self, sid: &str, status: &str, error_code: Option<u32>) -> u16 {
        let message = {
            let mut state = self.state.lock().expect("lock");
            let m = state
                .messages
                .iter_mut()
                .find(|m| m.sid == sid)
                .expect("a message the stand-in sent");
            m.status = status.to_string();
            m.clone()
        };
        let callback = message
            .status_callback
            .expect("the message was sent with a StatusCallback");
        let mut params: Vec<(String, String)> = [
            ("AccountSid", self.account_sid.as_str()),
            ("ApiVersion", "2010-04-01"),
            ("From", message.from.as_deref().unwrap_or("")),
            ("MessageSid", sid),
            ("MessageStatus", status),
            ("SmsSid", sid),
            ("SmsStatus", status),
            ("To", message.to.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(code) = error_code {
            params.push(("ErrorCode".into(), code.to_string()));
        }
        let signature = sign(&self.auth_token, &callback, &params);
        post_form(&callback, &params, Some(&signature)).await.0
    }
}

/// Posts a form with an optional `X-Twilio-Signature`.
pub async fn post_form(url: &str, params: &[(String, String)], signature: Option<&str>) -> (u16, String) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v);
    }
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded; charset=UTF-8")
        .header("user-agent", "TwilioProxy/1.1")
        .body(form.finish());
    if let Some(s) = signature {
        request = request.header("X-Twilio-Signature", s);
    }
    let response = request.send().await.expect("the webhook answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

fn message_json(account: &str, m: &Stored) -> Value {
    json!({
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": m.body,
        "date_created": rfc2822(m.date_created),
        "date_sent": m.date_sent.map(rfc2822),
        "date_updated": rfc2822(m.date_created),
        "direction": m.direction,
        "error_code": null,
        "error_message": null,
        "from": m.from,
        "messaging_service_sid": m.messaging_service_sid,
        "num_media": "0",
        "num_segments": "1",
        "price": null,
        "price_unit": "USD",
        "sid": m.sid,
        "status": m.status,
        "subresource_uris": {"media": format!("/2010-04-01/Accounts/{account}/Messages/{}/Media.json", m.sid)},
        "to": m.to,
        "uri": format!("/2010-04-01/Accounts/{account}/Messages/{}.json", m.sid),
    })
}

fn handle(
    account: &str,
    token: &str,
    state: &Mutex<State>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let Some(path_account) = path
        .strip_prefix("/2010-04-01/Accounts/")
        .and_then(|rest| rest.strip_suffix("/Messages.json"))
    else {
        return error(404, 20404, "The requested resource was not found");
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{account}:{token}"))
    );
    let authorised = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
    if !authorised || path_account != account {
        return error(401, 20003, "Authenticate");
    }
    if method == Method::POST {
        let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let mut state = state.lock().expect("lock");
        if let Some(status) = state.fail_with {
            return match status {
                429 => error(429, 20429, "Too Many Requests"),
                s => error(s, 20500, "Internal Server Error"),
            };
        }
        let Some(to) = get("To") else {
            return error(400, 21604, "A 'To' phone number is required.");
        };
        let (from, service) = (get("From"), get("MessagingServiceSid"));
        if from.is_none() && service.is_none() {
            return error(400, 21603, "A 'From' phone number is required.");
        }
        let Some(text) = get("Body") else {
            return error(400, 21602, "Message body is required.");
        };
        if !is_e164(&to) {
            return error(400, 21211, &format!("Invalid 'To' Phone Number: {to}"));
        }
        if state.stopped.contains(&to) {
            return error(400, 21610, "Attempt to send to unsubscribed recipient");
        }
        let m = Stored {
            sid: new_sid(),
            status: if from.is_some() { "queued" } else { "accepted" }.into(),
            from,
            to,
            body: text,
            direction: "outbound-api".into(),
            messaging_service_sid: service,
            status_callback: get("StatusCallback"),
            date_created: Utc::now(),
            date_sent: None,
            form: form.clone(),
        };
        let answer = message_json(account, &m);
        state.messages.push(m);
        return (
            StatusCode::CREATED,
            [("content-type", "application/json")],
            answer.to_string(),
        )
            .into_response();
    }
    if method == Method::GET {
        let query: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let date = |k: &str| get(k).and_then(|d| NaiveDate::parse_from_str(d.get(..10)?, "%Y-%m-%d").ok());
        let (on_or_after, on_or_before) = (date("DateSent>"), date("DateSent<"));
        let page_size: usize = get("PageSize")
            .and_then(|p| p.parse().ok())
            .unwrap_or(50)
            .clamp(1, 1000);
        let page: usize = get("Page").and_then(|p| p.parse().ok()).unwrap_or(0);
        let mut state = state.lock().expect("lock");
        state.list_requests += 1;
        let mut matching: Vec<&Stored> = state
            .messages
            .iter()
            .filter(|m| get("To").is_none_or(|t| m.to == t))
            .filter(|m| get("From").is_none_or(|f| m.from.as_deref() == Some(f.as_str())))
            .filter(|m| {
                let day = m.date_sent.unwrap_or(m.date_created).date_naive();
                on_or_after.is_none_or(|d| day >= d) && on_or_before.is_none_or(|d| day <= d)
            })
            .collect();
        matching.sort_by_key(|m| std::cmp::Reverse(m.date_sent.unwrap_or(m.date_created)));
        let start = page * page_size;
        let messages: Vec<Value> = matching
            .iter()
            .skip(start)
            .take(page_size)
            .map(|m| message_json(account, m))
            .collect();
        let base = format!("/2010-04-01/Accounts/{account}/Messages.json");
        let next = (start + page_size < matching.len()).then(|| {
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in query.iter().filter(|(k, _)| k != "Page" && k != "PageToken") {
                s.append_pair(k, v);
            }
            s.append_pair("Page", &(page + 1).to_string());
            s.append_pair("PageToken", &format!("PA{}", page + 1));
            format!("{base}?{}", s.finish())
        });
        let answer = json!({
            "first_page_uri": format!("{base}?PageSize={page_size}&Page=0"),
            "end": start + messages.len().saturating_sub(1),
            "previous_page_uri": null,
            "messages": messages,
            "uri": format!("{}?{}", base, uri.query().unwrap_or("")),
            "page_size": page_size,
            "start": start,
            "next_page_uri": next,
            "page": page,
        });
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            answer.to_string(),
        )
            .into_response();
    }
    error(405, 20004, "Method not allowed")
}
