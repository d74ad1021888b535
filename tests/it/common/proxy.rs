#![allow(dead_code)]
//! A fault-injecting HTTP/1.1 proxy between the bot and the test Synapse.
//!
//! Only the bot's `homeserver_url` points here; the people talk to Synapse
//! directly. Every request is read whole (Content-Length or chunked body),
//! passed on with `Connection: close`, and its answer read whole and passed
//! back with `Connection: close`, so each connection carries one request and
//! the proxy never has to follow keep-alive. Two requests are refused once
//! each, by the [`Fault`] chosen:
//!
//! - the first `POST /_matrix/client/v3/createRoom` whose body is not
//!   `"is_direct": true`: the concern's escalation room. The reporter's
//!   private chat is made with `is_direct: true`, and the bot makes no other
//!   room, so this needs no timing against the conversation;
//! - the first `PUT /_matrix/client/v3/rooms/{room}/send/m.room.encrypted/{txn}`
//!   into the room that createRoom made (the room id is taken from
//!   Synapse's answer to it): the page, the first message in that room.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How a chosen request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Read the request, then close the connection without an answer; the
    /// homeserver never sees it. The SDK does not retry a network failure
    /// (no retry limit is set), so the bot's outbox must.
    Drop,
    /// Answer `502 Bad Gateway` with an HTML body, as a reverse proxy would;
    /// the homeserver never sees it.
    BadGateway,
    /// Pass the request on and wait for the homeserver's answer, then close
    /// the connection without it: the homeserver acted, the bot cannot know.
    LoseAnswer,
}

/// A createRoom the proxy saw.
#[derive(Clone, Debug)]
pub struct CreateRoomSeen {
    pub direct: bool,
    pub name: Option<String>,
    /// The homeserver's status, if it was asked.
    pub status: Option<u16>,
    /// The room it made, from its answer.
    pub room_id: Option<String>,
    /// The Matrix error code of its answer, if any.
    pub errcode: Option<String>,
    pub faulted: bool,
}

/// A send into the escalation room the proxy saw.
#[derive(Clone, Debug)]
pub struct SendSeen {
    pub event_type: String,
    pub txn: String,
    pub status: Option<u16>,
    pub event_id: Option<String>,
    pub faulted: bool,
}

/// What the proxy saw and did.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub requests: usize,
    /// `GET /_matrix/client/v3/sync` requests: the bot's own traffic comes this way.
    pub syncs: usize,
    /// `POST /_matrix/client/v3/login`.
    pub logins: usize,
    pub create_rooms: Vec<CreateRoomSeen>,
    /// The room the first non-direct createRoom made, from the homeserver's answer.
    pub escalation_room: Option<String>,
    pub escalation_sends: Vec<SendSeen>,
    pub create_room_faults: usize,
    pub page_faults: usize,
    /// Requests the proxy could not carry (upstream unreachable, bad HTTP).
    pub errors: Vec<String>,
    /// Every request whose path contains this is dropped unanswered (see
    /// [`FaultProxy::drop_paths_containing`]).
    pub dropping: Option<String>,
    /// How many requests were dropped so.
    pub dropped: usize,
    /// Every invitation of this user is refused with the proxy's fault, as
    /// a homeserver that errs on every try for one person would.
    pub fail_invites_of: Option<String>,
    pub invite_faults: usize,
}

pub struct FaultProxy {
    pub url: String,
    pub fault: Fault,
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Listens on 127.0.0.1:0 and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str, fault: Fault) -> FaultProxy {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("the test homeserver speaks plain http")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy listens");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let state = seen.clone();
        let task = tokio::spawn(async move {
            // Dropped with the accept loop, so aborting it ends every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { continue };
                        let state = state.clone();
                        let upstream = upstream.clone();
                        connections.spawn(async move {
                            if let Err(e) = serve(client, &upstream, fault, &state).await {
                                state.lock().expect("proxy state").errors.push(e);
                            }
                        });
                    }
                    Some(_) = connections.join_next() => {}
                }
            }
        });
        FaultProxy {
            url,
            fault,
            seen,
            task,
        }
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().expect("proxy state").clone()
    }

    /// From now on, every request whose path contains `part` is read and
    /// its connection closed without an answer (a network failure, which
    /// the SDK does not try again), until [`FaultProxy::stop_dropping`].
    pub fn drop_paths_containing(&self, part: &str) {
        self.seen.lock().expect("proxy state").dropping = Some(part.to_string());
    }

    pub fn stop_dropping(&self) {
        self.seen.lock().expect("proxy state").dropping = None;
    }

    /// Every invitation of `user` from now on is refused with the fault.
    pub fn fail_invites_of(&self, user: &str) {
        self.seen.lock().expect("proxy state").fail_invites_of = Some(user.to_string());
    }
}

/// Bytes read from a socket, kept until taken.
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    /// Reads more; false at end of stream.
    async fn fill(&mut self) -> Result<bool, String> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// Everything up to and including the first `delim`; None if the stream
    /// ended cleanly before any byte of it.
    async fn until(&mut self, delim: &[u8]) -> Result<Option<Vec<u8>>, String> {
        loop {
            if let Some(i) = self.buf.windows(delim.len()).position(|w| w == delim) {
                return Ok(Some(self.buf.drain(..i + delim.len()).collect()));
            }
            if self.buf.len() > 1 << 20 {
                return Err("an HTTP head or line over 1 MiB".into());
            }
            if !self.fill().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err("the stream ended inside an HTTP head".into())
                };
            }
        }
    }

    async fn take(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() < n {
            if !self.fill().await? {
                return Err(format!("the stream ended {} bytes short", n - self.buf.len()));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn rest(&mut self) -> Result<Vec<u8>, String> {
        while self.fill().await? {}
        Ok(std::mem::take(&mut self.buf))
    }

    /// A body framed by `headers`: (as sent, decoded).
    async fn body(&mut self, head: &Head, to_eof: bool) -> Result<(Vec<u8>, Vec<u8>), String> {
        if head
            .header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
        {
            let (mut raw, mut decoded) = (Vec::new(), Vec::new());
            loop {
                let line = self.until(b"\r\n").await?.ok_or("the stream ended in a chunk")?;
                raw.extend_from_slice(&line);
                let text = String::from_utf8_lossy(&line);
                let size = text.trim().split(';').next().unwrap_or("").trim();
                let size =
                    usize::from_str_radix(size, 16).map_err(|_| format!("a bad chunk size {size:?}"))?;
                if size == 0 {
                    // Trailers, up to an empty line.
                    loop {
                        let t = self.until(b"\r\n").await?.ok_or("the stream ended in trailers")?;
                        raw.extend_from_slice(&t);
                        if t == b"\r\n" {
                            return Ok((raw, decoded));
                        }
                    }
                }
                let data = self.take(size + 2).await?;
                raw.extend_from_slice(&data);
                decoded.extend_from_slice(&data[..size]);
            }
        }
        if let Some(len) = head.header("content-length") {
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| format!("a bad Content-Length {len:?}"))?;
            let body = self.take(len).await?;
            return Ok((body.clone(), body));
        }
        if to_eof {
            let body = self.rest().await?;
            return Ok((body.clone(), body));
        }
        Ok((Vec::new(), Vec::new()))
    }
}

/// A request or response head.
struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(bytes: &[u8]) -> Result<Head, String> {
        let text = String::from_utf8_lossy(bytes);
        let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
        let start = lines.next().ok_or("an empty HTTP head")?.to_string();
        let headers = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap_or((l, ""));
                (k.trim().to_string(), v.trim().to_string())
            })
            .collect();
        Ok(Head { start, headers })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The head again, without `drop` headers, with `add` after the rest.
    fn render(&self, drop: &[&str], add: &[(&str, &str)]) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (k, v) in &self.headers {
            if !drop.iter().any(|d| k.eq_ignore_ascii_case(d)) {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        for (k, v) in add {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// What a request is, for the faults.
enum Kind {
    CreateRoom {
        direct: bool,
        name: Option<String>,
    },
    Send {
        room: String,
        event_type: String,
        txn: String,
    },
    Invite {
        user: String,
    },
    Other,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn classify(method: &str, target: &str, body: &[u8]) -> Kind {
    let path = target.split('?').next().unwrap_or(target);
    if method == "POST" && path == "/_matrix/client/v3/createRoom" {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        return Kind::CreateRoom {
            direct: json.get("is_direct").and_then(Value::as_bool).unwrap_or(false),
            name: json.get("name").and_then(Value::as_str).map(str::to_string),
        };
    }
    if method == "POST" && path.starts_with("/_matrix/client/v3/rooms/") && path.ends_with("/invite") {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if let Some(user) = json.get("user_id").and_then(Value::as_str) {
            return Kind::Invite {
                user: user.to_string(),
            };
        }
    }
    if method == "PUT" {
        if let Some(rest) = path.strip_prefix("/_matrix/client/v3/rooms/") {
            let parts: Vec<&str> = rest.split('/').collect();
            if let [room, "send", event_type, txn] = parts.as_slice() {
                return Kind::Send {
                    room: percent_decode(room),
                    event_type: percent_decode(event_type),
                    txn: percent_decode(txn),
                };
            }
        }
    }
    Kind::Other
}

/// What happens to one request, decided before it goes anywhere.
enum Plan {
    Pass,
    Fault,
}

/// One request on one connection.
async fn serve(client: TcpStream, upstream: &str, fault: Fault, state: &Mutex<Seen>) -> Result<(), String> {
    let mut client = Reader {
        stream: client,
        buf: Vec::new(),
    };
    let Some(head_bytes) = client.until(b"\r\n\r\n").await? else {
        // A connection opened and closed with nothing asked.
        return Ok(());
    };
    let head = Head::parse(&head_bytes)?;
    let (raw_body, body) = client.body(&head, false).await?;
    let mut start = head.start.split_whitespace();
    let method = start.next().unwrap_or("").to_string();
    let target = start.next().unwrap_or("").to_string();
    let kind = classify(&method, &target, &body);

    // Decide, and note what was asked, under the lock.
    let (plan, index) = {
        let mut seen = state.lock().expect("proxy state");
        seen.requests += 1;
        let path = target.split('?').next().unwrap_or("");
        if path == "/_matrix/client/v3/sync" {
            seen.syncs += 1;
        }
        if path == "/_matrix/client/v3/login" && method == "POST" {
            seen.logins += 1;
        }
        if seen.dropping.as_deref().is_some_and(|p| path.contains(p)) {
            seen.dropped += 1;
            drop(seen);
            drop(client);
            return Ok(());
        }
        match &kind {
            Kind::CreateRoom { direct, name } => {
                let refuse = !direct && seen.create_room_faults == 0;
                if refuse {
                    seen.create_room_faults += 1;
                }
                seen.create_rooms.push(CreateRoomSeen {
                    direct: *direct,
                    name: name.clone(),
                    status: None,
                    room_id: None,
                    errcode: None,
                    faulted: refuse,
                });
                (
                    if refuse { Plan::Fault } else { Plan::Pass },
                    Some(seen.create_rooms.len() - 1),
                )
            }
            Kind::Send {
                room,
                event_type,
                txn,
            } if seen.escalation_room.as_deref() == Some(room.as_str()) => {
                let refuse = event_type == "m.room.encrypted" && seen.page_faults == 0;
                if refuse {
                    seen.page_faults += 1;
                }
                seen.escalation_sends.push(SendSeen {
                    event_type: event_type.clone(),
                    txn: txn.clone(),
                    status: None,
                    event_id: None,
                    faulted: refuse,
                });
                (
                    if refuse { Plan::Fault } else { Plan::Pass },
                    Some(seen.escalation_sends.len() - 1),
                )
            }
            Kind::Invite { user } if seen.fail_invites_of.as_deref() == Some(user.as_str()) => {
                seen.invite_faults += 1;
                (Plan::Fault, None)
            }
            _ => (Plan::Pass, None),
        }
    };

    if matches!(plan, Plan::Fault) {
        match fault {
            Fault::Drop => {
                // Closed with the request read: no answer at all.
                drop(client);
                return Ok(());
            }
            Fault::BadGateway => {
                let page = "<html><head><title>502 Bad Gateway</title></head>\
                            <body><h1>502 Bad Gateway</h1><hr>nginx</body></html>\n";
                let answer = format!(
                    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = client.stream.write_all(answer.as_bytes()).await;
                let _ = client.stream.shutdown().await;
                return Ok(());
            }
            Fault::LoseAnswer => {}
        }
    }

    // Pass it on, one request on its own connection.
    let upstream_stream = TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("connect to {upstream}: {e}"))?;
    let mut up = Reader {
        stream: upstream_stream,
        buf: Vec::new(),
    };
    let mut request = head.render(
        &[
            "connection",
            "keep-alive",
            "proxy-connection",
            "accept-encoding",
            "host",
        ],
        &[("Host", upstream), ("Connection", "close")],
    );
    request.extend_from_slice(&raw_body);
    up.stream
        .write_all(&request)
        .await
        .map_err(|e| format!("write upstream: {e}"))?;
    let answer = tokio::time::timeout(Duration::from_secs(120), async {
        let head_bytes = up
            .until(b"\r\n\r\n")
            .await?
            .ok_or("the homeserver closed without answering")?;
        let head = Head::parse(&head_bytes)?;
        let status: u16 = head
            .start
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("a bad status line {:?}", head.start))?;
        let no_body = method == "HEAD" || status == 204 || status == 304 || status < 200;
        let (raw, decoded) = if no_body {
            (Vec::new(), Vec::new())
        } else {
            up.body(&head, true).await?
        };
        Ok::<_, String>((head, status, raw, decoded))
    })
    .await
    .map_err(|_| format!("{method} {target}: no answer from the homeserver in 120 s"))??;
    let (answer_head, status, raw, decoded) = answer;

    // Note the answer.
    if let Some(i) = index {
        let json: Value = serde_json::from_slice(&decoded).unwrap_or(Value::Null);
        let text = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_string);
        let mut seen = state.lock().expect("proxy state");
        match &kind {
            Kind::CreateRoom { direct, .. } => {
                let room_id = if status == 200 { text("room_id") } else { None };
                if !direct && seen.escalation_room.is_none() {
                    seen.escalation_room = room_id.clone();
                }
                let c = &mut seen.create_rooms[i];
                c.status = Some(status);
                c.room_id = room_id;
                c.errcode = text("errcode");
            }
            Kind::Send { .. } => {
                let s = &mut seen.escalation_sends[i];
                s.status = Some(status);
                s.event_id = text("event_id");
            }
            Kind::Invite { .. } | Kind::Other => {}
        }
    }

    if matches!(plan, Plan::Fault) {
        // Fault::LoseAnswer: the homeserver acted; the bot hears nothing.
        drop(client);
        return Ok(());
    }
    let mut out = answer_head.render(&["connection", "keep-alive"], &[("Connection", "close")]);
    out.extend_from_slice(&raw);
    client
        .stream
        .write_all(&out)
        .await
        .map_err(|e| format!("{method} {target}: write to the bot: {e}"))?;
    let _ = client.stream.shutdown().await;
    Ok(())
}
