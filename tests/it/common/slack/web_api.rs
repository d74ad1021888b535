//! The Web API at `/api/{method}`, the upload URL of
//! `files.getUploadURLExternal`, and `response_url`s.
//!
//! As Slack does:
//! - parameters come from the query string and from a form-encoded or JSON
//!   body; methods whose docs.slack.dev page lists only
//!   `application/x-www-form-urlencoded` under "Content types" do not read a
//!   JSON body at all;
//! - the token comes from `Authorization: Bearer …` (or a `token` form
//!   parameter); `apps.connections.open` takes only the app-level token, in
//!   the header, every other method only the bot token;
//! - `views.open` exchanges a trigger for a modal (see [`super::views`]);
//! - a method whose bot scope the manifest does not grant answers
//!   `missing_scope` with `needed` and `provided`;
//! - answers are HTTP 200 with `{"ok": …}`, except rate limits: HTTP 429
//!   with `Retry-After`; each answer carries `X-OAuth-Scopes` (the granted
//!   scopes) and, where known, `X-Accepted-OAuth-Scopes`.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::manifest::scope_for;
use super::payloads;
use super::socket;
use super::views;
use super::world::{ChannelKind, File, Message, UserKind, BOT_USER_ID};
use super::{text_response, ApiCall, Body, Reply, Shared, State};

/// The methods the stand-in serves.
pub const METHODS: &[&str] = &[
    "auth.test",
    "users.info",
    "conversations.open",
    "conversations.create",
    "conversations.invite",
    "conversations.members",
    "conversations.kick",
    "conversations.archive",
    "conversations.info",
    "chat.postMessage",
    "chat.update",
    "chat.delete",
    "files.getUploadURLExternal",
    "files.completeUploadExternal",
    "files.delete",
    "views.open",
    "views.update",
    "apps.connections.open",
];

/// Methods whose page lists only `application/x-www-form-urlencoded` as
/// content type: Slack ignores a JSON body sent to them.
const FORM_ONLY: &[&str] = &[
    "users.info",
    "conversations.info",
    "conversations.members",
    "files.getUploadURLExternal",
];

/// chat.postMessage and chat.update: "The text field … truncated at 40,000
/// characters" / `msg_too_long` (docs.slack.dev/reference/methods/chat.postMessage).
const MAX_TEXT_CHARS: usize = 40_000;
/// "Provide up to 50 blocks" (docs.slack.dev/reference/block-kit/blocks).
const MAX_BLOCKS: usize = 50;
/// Block Kit's limits (docs.slack.dev/reference/block-kit/blocks/section-block:
/// "text ... Maximum length for the text in this field is 3000 characters";
/// .../blocks/actions-block: "maximum of 25 elements"; .../block-elements/
/// button-element: text "may truncate with ~30 characters. Maximum length
/// ... is 75 characters", value "Maximum length ... is 2000 characters",
/// action_id "Maximum length is 255 characters" and unique in the message).
const MAX_SECTION_CHARS: usize = 3000;
const MAX_ACTIONS_ELEMENTS: usize = 25;
const MAX_BUTTON_TEXT_CHARS: usize = 75;
const MAX_BUTTON_VALUE_CHARS: usize = 2000;
const MAX_ACTION_ID_CHARS: usize = 255;
/// A channel name: at most 80 characters (conversations.create,
/// `invalid_name_maxlength`).
const MAX_NAME_CHARS: usize = 80;

struct Answer {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
    accepted_scope: Option<&'static str>,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer {
            status: StatusCode::OK,
            body,
            retry_after: None,
            accepted_scope: None,
        }
    }

    fn error(code: &str) -> Answer {
        Answer::ok(payloads::error(code))
    }

    fn rate_limited(retry_after: u64) -> Answer {
        Answer {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: payloads::error("ratelimited"),
            retry_after: Some(retry_after),
            accepted_scope: None,
        }
    }
}

/// The parameters of one call, whatever way they came.
struct Params(Map<String, Value>);

impl Params {
    fn str(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::String(_) | Value::Null => None,
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => Some(other.to_string()),
        }
    }

    fn bool(&self, key: &str) -> bool {
        match self.0.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true" || s == "1",
            Some(Value::Number(n)) => n.as_u64() == Some(1),
            _ => false,
        }
    }

    /// A list: comma-separated in a form, or a JSON array.
    fn list(&self, key: &str) -> Vec<String> {
        match self.0.get(key) {
            Some(Value::String(s)) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// JSON: a JSON-encoded string in a form, or JSON itself in a JSON body.
    /// Err when it is a string that does not parse.
    fn json(&self, key: &str) -> Result<Option<Value>, ()> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| ()),
            Some(other) => Ok(Some(other.clone())),
        }
    }
}

pub async fn handle(shared: Shared, method: String, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let header_token = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);

    let mut params = Map::new();
    if let Some(query) = parts.uri.query() {
        // Apps made since 2021 may not pass the token in the query string
        // (api.slack.com/changelog/2020-11-no-more-tokens-in-querystrings-for-newly-created-apps),
        // so a query token is not read.
        for (k, v) in form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "token") {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    let mut body_error = None;
    if !bytes.is_empty() {
        if content_type.starts_with("application/json") {
            if !FORM_ONLY.contains(&method.as_str()) {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Object(map)) => params.extend(map),
                    _ => body_error = Some("invalid_json"),
                }
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            for (k, v) in form_urlencoded::parse(&bytes) {
                params.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        } else if content_type.is_empty() {
            body_error = Some("missing_post_type");
        } else {
            // multipart/form-data and text/plain are not modelled.
            body_error = Some("invalid_post_type");
        }
    }

    let delay = shared.lock().faults.delay_for(&method);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }

    let params = Params(params);
    let mut st = shared.lock();
    let answer = process(
        &shared,
        &mut st,
        &method,
        &params,
        header_token.as_deref(),
        body_error,
    );
    let token = header_token.or_else(|| params.str("token"));
    let granted = st.options.manifest.bot_scopes.join(",");
    let is_bot = token.as_deref() == Some(st.options.bot_token.as_str());
    st.calls.push(ApiCall {
        method: method.clone(),
        params: params.0,
        token,
        at: Instant::now(),
        status: answer.status.as_u16(),
        answer: answer.body.clone(),
    });
    drop(st);

    let mut response = Response::builder()
        .status(answer.status)
        .header("content-type", "application/json; charset=utf-8");
    if is_bot {
        response = response.header("x-oauth-scopes", granted);
    }
    if let Some(scope) = answer.accepted_scope {
        response = response.header("x-accepted-oauth-scopes", scope);
    }
    if let Some(retry_after) = answer.retry_after {
        response = response.header("retry-after", retry_after.to_string());
    }
    response
        .body(Full::new(Bytes::from(answer.body.to_string())))
        .expect("a JSON answer is a valid response")
}

fn process(
    shared: &Shared,
    st: &mut State,
    method: &str,
    params: &Params,
    header_token: Option<&str>,
    body_error: Option<&str>,
) -> Answer {
    if !METHODS.contains(&method) {
        return Answer::ok(json!({ "ok": false, "error": "unknown_method", "req_method": method }));
    }

    // Tokens. docs.slack.dev/reference/methods/apps.connections.open: the
    // app-level token, in the Authorization header only.
    if method == "apps.connections.open" {
        match header_token {
            None => return Answer::error("not_authed"),
            Some(t) if t == st.options.app_token => {}
            Some(t) if t == st.options.bot_token => return Answer::error("not_allowed_token_type"),
            Some(_) => return Answer::error("invalid_auth"),
        }
    } else {
        let token = header_token.map(str::to_string).or_else(|| params.str("token"));
        match token.as_deref() {
            None => return Answer::error("not_authed"),
            Some(t) if t == st.options.bot_token => {}
            Some(t) if t == st.options.app_token => return Answer::error("not_allowed_token_type"),
            Some(_) => return Answer::error("invalid_auth"),
        }
    }
    if let Some(code) = body_error {
        return Answer::error(code);
    }

    // The kind of conversation the call is about decides the scope.
    let kind = if method == "conversations.create" {
        Some(if params.bool("is_private") {
            ChannelKind::Private
        } else {
            ChannelKind::Public
        })
    } else {
        params
            .str("channel")
            .and_then(|c| st.world.channel(&c).map(|c| c.kind))
    };
    let needed = scope_for(method, kind);

    // Injected faults come before the real checks.
    if let Some(retry_after) = st.faults.take_rate_limit(method) {
        return Answer::rate_limited(retry_after);
    }
    if let Some(code) = st.faults.take_error(method) {
        if code == "missing_scope" {
            let body =
                payloads::missing_scope(needed.unwrap_or("chat:write"), &st.options.manifest.bot_scopes);
            return Answer::ok(body);
        }
        return Answer::error(&code);
    }
    if let Some(scope) = needed {
        if !st.options.manifest.has_scope(scope) {
            let mut answer = Answer::ok(payloads::missing_scope(scope, &st.options.manifest.bot_scopes));
            answer.accepted_scope = Some(scope);
            return answer;
        }
    }

    let mut answer = match method {
        "auth.test" => Answer::ok(payloads::auth_test()),
        "users.info" => users_info(st, params),
        "conversations.open" => conversations_open(st, params),
        "conversations.create" => conversations_create(shared, st, params),
        "conversations.invite" => conversations_invite(shared, st, params),
        "conversations.members" => conversations_members(st, params),
        "conversations.kick" => conversations_kick(shared, st, params),
        "conversations.archive" => conversations_archive(st, params),
        "conversations.info" => conversations_info(st, params),
        "chat.postMessage" => chat_post_message(shared, st, params),
        "chat.update" => chat_update(st, params),
        "chat.delete" => chat_delete(st, params),
        "files.getUploadURLExternal" => files_get_upload_url(st, params),
        "files.completeUploadExternal" => files_complete_upload(shared, st, params),
        "files.delete" => files_delete(st, params),
        "views.open" => views_open(st, params),
        "views.update" => views_update(st, params),
        "apps.connections.open" => Answer::ok(payloads::connections_open(&socket::open_ticket(st))),
        _ => Answer::error("unknown_method"),
    };
    answer.accepted_scope = needed;
    answer
}

fn users_info(st: &State, params: &Params) -> Answer {
    match params.str("user").and_then(|u| st.world.user(&u)) {
        Some(user) => Answer::ok(json!({ "ok": true, "user": payloads::user_object(user) })),
        None => Answer::error("user_not_found"),
    }
}

fn conversations_open(st: &mut State, params: &Params) -> Answer {
    let return_im = params.bool("return_im");
    if let Some(channel) = params.str("channel") {
        return match st.world.channel(&channel) {
            Some(c) if c.kind == ChannelKind::Im => {
                Answer::ok(payloads::open_conversation(c, true, return_im))
            }
            Some(_) => Answer::error("method_not_supported_for_channel_type"),
            None => Answer::error("channel_not_found"),
        };
    }
    let users = params.list("users");
    let [user] = users.as_slice() else {
        return Answer::error(if users.is_empty() {
            "users_list_not_supplied"
        } else {
            // Group direct messages are not modelled.
            "invalid_arguments"
        });
    };
    match st.world.user(user).map(|u| u.kind) {
        None => return Answer::error("user_not_found"),
        Some(UserKind::Deleted) => return Answer::error("user_disabled"),
        Some(_) => {}
    }
    let (id, already_open) = st.world.dm_with(user);
    let channel = st.world.channel(&id).expect("the direct message was just opened");
    Answer::ok(payloads::open_conversation(channel, already_open, return_im))
}

/// docs.slack.dev/reference/methods/conversations.create ("Naming"):
/// lower case letters, numbers, hyphens and underscores, at most 80
/// characters.
fn name_error(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("invalid_name_required");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Some("invalid_name_maxlength");
    }
    if !name.chars().any(char::is_alphanumeric) {
        return Some("invalid_name_punctuation");
    }
    let allowed = |c: char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == '-'
            || c == '_'
            || (!c.is_ascii() && c.is_alphanumeric() && !c.is_uppercase())
    };
    if !name.chars().all(allowed) {
        return Some("invalid_name_specials");
    }
    None
}

fn conversations_create(shared: &Shared, st: &mut State, params: &Params) -> Answer {
    let name = params.str("name").unwrap_or_default();
    if let Some(error) = name_error(&name) {
        return Answer::error(error);
    }
    if st.world.channel_named(&name).is_some() {
        return Answer::error("name_taken");
    }
    let kind = if params.bool("is_private") {
        ChannelKind::Private
    } else {
        ChannelKind::Public
    };
    let id = st.world.new_id('C');
    let channel = super::world::Channel {
        id,
        name: Some(name),
        kind,
        members: vec![BOT_USER_ID.to_string()],
        archived: false,
        ext_shared: false,
        created: super::world::now_secs(),
        creator: BOT_USER_ID.to_string(),
        im_user: None,
    };
    st.world.channels.push(channel.clone());
    // "This event is also triggered when creating a new channel"
    // (docs.slack.dev/reference/events/member_joined_channel).
    socket::bot_caused_join(shared, st, BOT_USER_ID, &channel, None);
    Answer::ok(json!({ "ok": true, "channel": payloads::channel_object(&channel, false) }))
}

/// The channel named by the `channel` parameter, if the bot can see it.
fn visible_channel(st: &State, params: &Params) -> Result<super::world::Channel, Answer> {
    let channel = params
        .str("channel")
        .and_then(|c| st.world.channel(&c).cloned())
        .filter(|c| st.world.bot_can_see(c));
    channel.ok_or_else(|| Answer::error("channel_not_found"))
}

fn conversations_invite(shared: &Shared, st: &mut State, params: &Params) -> Answer {
    let channel = match visible_channel(st, params) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    if channel.kind == ChannelKind::Im {
        return Answer::error("method_not_supported_for_channel_type");
    }
    if channel.archived {
        return Answer::error("is_archived");
    }
    if !channel.has_member(BOT_USER_ID) {
        return Answer::error("not_in_channel");
    }
    let users = params.list("users");
    if users.is_empty() {
        return Answer::error("no_user");
    }
    if let Some(code) = users.iter().find_map(|u| st.faults.invite_errors.get(u)) {
        return Answer::error(code);
    }
    let mut failures = Vec::new();
    for user in &users {
        let failure = match st.world.user(user) {
            None => Some("user_not_found"),
            Some(_) if user == BOT_USER_ID => Some("cant_invite_self"),
            Some(_) if channel.has_member(user) => Some("already_in_channel"),
            Some(u) if u.kind == UserKind::Deleted => Some("cant_invite"),
            Some(u) if u.kind == UserKind::Stranger && !channel.ext_shared => Some("cant_invite"),
            Some(u)
                if u.kind == UserKind::SingleChannelGuest
                    && st
                        .world
                        .channels
                        .iter()
                        .any(|c| c.kind != ChannelKind::Im && c.has_member(user)) =>
            {
                Some("ura_max_channels")
            }
            Some(_) => None,
        };
        if let Some(failure) = failure {
            failures.push((user.clone(), failure.to_string()));
        }
    }
    // "Users who can be successfully invited … will not be invited if any
    // of the user invites fail" (docs.slack.dev/reference/methods/conversations.invite).
    if !failures.is_empty() {
        return Answer::ok(payloads::invite_errors(&failures));
    }
    let updated = {
        let target = st
            .world
            .channel_mut(&channel.id)
            .expect("the channel was just found");
        target.members.extend(users.iter().cloned());
        target.clone()
    };
    for user in &users {
        socket::bot_caused_join(shared, st, user, &updated, Some(BOT_USER_ID));
    }
    Answer::ok(json!({ "ok": true, "channel": payloads::channel_object(&updated, false) }))
}

/// A cursor as Slack's look: base64 of `user_id:U…`, the next member.
fn encode_cursor(user: &str) -> String {
    base64_encode(format!("user_id:{user}").as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let text = String::from_utf8(base64_decode(cursor)?).ok()?;
    text.strip_prefix("user_id:").map(str::to_string)
}

fn conversations_members(st: &State, params: &Params) -> Answer {
    let channel = match visible_channel(st, params) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let limit = match params.str("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(0)) => 100,
        Some(Ok(l)) if l <= 1000 => l,
        Some(_) => return Answer::error("invalid_limit"),
    };
    let start = match params.str("cursor") {
        None => 0,
        Some(cursor) => {
            match decode_cursor(&cursor).and_then(|user| channel.members.iter().position(|m| *m == user)) {
                Some(index) => index,
                None => return Answer::error("invalid_cursor"),
            }
        }
    };
    let end = (start + limit).min(channel.members.len());
    let next = channel
        .members
        .get(end)
        .map(|user| encode_cursor(user))
        .unwrap_or_default();
    Answer::ok(payloads::members(&channel.members[start..end], &next))
}

fn conversations_kick(shared: &Shared, st: &mut State, params: &Params) -> Answer {
    let channel = match visible_channel(st, params) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    if channel.kind == ChannelKind::Im {
        return Answer::error("method_not_supported_for_channel_type");
    }
    let Some(user) = params.str("user") else {
        return Answer::error("no_user");
    };
    if st.world.user(&user).is_none() {
        return Answer::error("user_not_found");
    }
    if user == BOT_USER_ID {
        return Answer::error("cant_kick_self");
    }
    if !channel.has_member(&user) {
        return Answer::error("not_in_channel");
    }
    if let Some(target) = st.world.channel_mut(&channel.id) {
        target.members.retain(|m| *m != user);
    }
    socket::bot_caused_leave(shared, st, &user, &channel);
    Answer::ok(payloads::kick())
}

fn conversations_archive(st: &mut State, params: &Params) -> Answer {
    let channel = match visible_channel(st, params) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    if channel.kind == ChannelKind::Im {
        return Answer::error("method_not_supported_for_channel_type");
    }
    if channel.archived {
        return Answer::error("already_archived");
    }
    if !channel.has_member(BOT_USER_ID) {
        return Answer::error("not_in_channel");
    }
    if let Some(target) = st.world.channel_mut(&channel.id) {
        target.archived = true;
    }
    Answer::ok(json!({ "ok": true }))
}

fn conversations_info(st: &State, params: &Params) -> Answer {
    match visible_channel(st, params) {
        Ok(channel) => Answer::ok(json!({
            "ok": true,
            "channel": payloads::channel_object(&channel, params.bool("include_num_members")),
        })),
        Err(answer) => answer,
    }
}

/// The channel a message goes to: an id, a user id (their direct message
/// with the bot), or a name.
fn message_channel(st: &mut State, params: &Params) -> Option<super::world::Channel> {
    let target = params.str("channel")?;
    if let Some(channel) = st.world.channel(&target) {
        return Some(channel.clone());
    }
    if (target.starts_with('U') || target.starts_with('W')) && st.world.user(&target).is_some() {
        let (id, _) = st.world.dm_with(&target);
        return st.world.channel(&id).cloned();
    }
    st.world.channel_named(target.trim_start_matches('#')).cloned()
}

/// Checks text and blocks as chat.postMessage and chat.update do, and gives
/// the blocks Slack would store (each with a `block_id`).
fn checked_content(st: &mut State, params: &Params) -> Result<(Option<String>, Option<Value>), Answer> {
    let text = params.str("text");
    let blocks = params
        .json("blocks")
        .map_err(|()| Answer::error("invalid_blocks_format"))?;
    let has_attachments = params.0.contains_key("attachments");
    if text.is_none() && blocks.is_none() && !has_attachments {
        return Err(Answer::error("no_text"));
    }
    if text.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT_CHARS) {
        return Err(Answer::error("msg_too_long"));
    }
    let blocks = match blocks {
        None => None,
        Some(Value::Array(mut blocks)) => {
            if blocks.len() > MAX_BLOCKS {
                let mut answer = payloads::error("invalid_blocks");
                answer["response_metadata"] = json!({
                    "messages": ["[ERROR] must be less than 51 items [json-pointer:/blocks]"]
                });
                return Err(Answer::ok(answer));
            }
            for block in &mut blocks {
                let Some(object) = block.as_object_mut() else {
                    return Err(Answer::error("invalid_blocks"));
                };
                if !object.get("type").is_some_and(Value::is_string) {
                    return Err(Answer::error("invalid_blocks"));
                }
                if !object.contains_key("block_id") {
                    object.insert("block_id".to_string(), json!(st.token_hex(5)));
                }
            }
            if let Some(problem) = block_problem(&blocks, "") {
                let mut answer = payloads::error("invalid_blocks");
                answer["response_metadata"] = json!({ "messages": [format!("[ERROR] {problem}")] });
                return Err(Answer::ok(answer));
            }
            Some(Value::Array(blocks))
        }
        Some(_) => return Err(Answer::error("invalid_blocks_format")),
    };
    Ok((text, blocks))
}

/// What breaks Block Kit's limits in `blocks`, in Slack's words, if anything.
/// `parent` is the JSON pointer of the object holding `blocks`: `""` for a
/// message, `"/view"` for a view.
pub fn block_problem(blocks: &[Value], parent: &str) -> Option<String> {
    let chars = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    let mut action_ids = std::collections::HashSet::new();
    for (i, block) in blocks.iter().enumerate() {
        match block["type"].as_str() {
            Some("section") => {
                let text = &block["text"]["text"];
                if chars(text) == 0 {
                    return Some(format!(
                        "must be more than 0 characters [json-pointer:{parent}/blocks/{i}/text/text]"
                    ));
                }
                if chars(text) > MAX_SECTION_CHARS {
                    return Some(format!(
                        "must be less than {} characters [json-pointer:{parent}/blocks/{i}/text/text]",
                        MAX_SECTION_CHARS + 1
                    ));
                }
            }
            Some("actions") => {
                let elements = block["elements"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                if elements.is_empty() || elements.len() > MAX_ACTIONS_ELEMENTS {
                    return Some(format!(
                        "must be between 1 and 25 items [json-pointer:{parent}/blocks/{i}/elements]"
                    ));
                }
                for (j, e) in elements.iter().enumerate() {
                    let at = format!("{parent}/blocks/{i}/elements/{j}");
                    if chars(&e["text"]["text"]) > MAX_BUTTON_TEXT_CHARS {
                        return Some(format!(
                            "must be less than 76 characters [json-pointer:{at}/text/text]"
                        ));
                    }
                    if chars(&e["value"]) > MAX_BUTTON_VALUE_CHARS {
                        return Some(format!(
                            "must be less than 2001 characters [json-pointer:{at}/value]"
                        ));
                    }
                    let id = e["action_id"].as_str().unwrap_or_default();
                    if id.chars().count() > MAX_ACTION_ID_CHARS {
                        return Some(format!(
                            "must be less than 256 characters [json-pointer:{at}/action_id]"
                        ));
                    }
                    if !id.is_empty() && !action_ids.insert(id.to_string()) {
                        return Some(format!("action_id already exists [json-pointer:{at}/action_id]"));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// docs.slack.dev/reference/methods/views.open: `view` (a JSON object, or
/// a JSON-encoded string in a form) is checked first, then `trigger_id` is
/// exchanged; see [`views`].
fn views_open(st: &mut State, params: &Params) -> Answer {
    let view = match params.json("view") {
        Ok(view) => view,
        Err(()) => Some(Value::String(params.str("view").unwrap_or_default())),
    };
    let Some(trigger_id) = params.str("trigger_id") else {
        // The page's "Typical error response".
        return Answer::ok(payloads::invalid_arguments(&["invalid `trigger_id`".to_string()]));
    };
    let content = match views::check_view(st, view) {
        Ok(content) => content,
        Err(messages) => return Answer::ok(payloads::invalid_arguments(&messages)),
    };
    match views::open(st, &trigger_id, content) {
        Ok(view) => Answer::ok(payloads::views_open(&view)),
        Err(code) => Answer::error(code),
    }
}

/// docs.slack.dev/reference/methods/views.update: `view_id` (or
/// `external_id`, not modelled) and `view`, checked as views.open checks
/// it; `hash`, when given, must be the view's latest (`hash_conflict`).
/// No trigger is needed, so there is no time limit. A view not open (never
/// opened, or closed by the person) is `not_found`.
fn views_update(st: &mut State, params: &Params) -> Answer {
    let view = match params.json("view") {
        Ok(view) => view,
        Err(()) => Some(Value::String(params.str("view").unwrap_or_default())),
    };
    let Some(view_id) = params.str("view_id") else {
        return Answer::ok(payloads::invalid_arguments(&[
            "either `view_id` or `external_id` is required".to_string(),
        ]));
    };
    let content = match views::check_view(st, view) {
        Ok(content) => content,
        Err(messages) => return Answer::ok(payloads::invalid_arguments(&messages)),
    };
    match views::update(st, &view_id, params.str("hash").as_deref(), content) {
        Ok(view) => Answer::ok(payloads::views_open(&view)),
        Err(code) => Answer::error(code),
    }
}

fn chat_post_message(shared: &Shared, st: &mut State, params: &Params) -> Answer {
    let channel = match message_channel(st, params).filter(|c| st.world.bot_can_see(c)) {
        Some(c) => c,
        None => return Answer::error("channel_not_found"),
    };
    if channel.archived {
        return Answer::error("is_archived");
    }
    if !channel.has_member(BOT_USER_ID) {
        return Answer::error("not_in_channel");
    }
    let (text, blocks) = match checked_content(st, params) {
        Ok(content) => content,
        Err(answer) => return answer,
    };
    if let Some((posts, window)) = st.faults.post_burst {
        let recent = st
            .post_times
            .get(&channel.id)
            .map(|times| times.iter().filter(|t| t.elapsed() < window).count())
            .unwrap_or(0);
        if recent >= posts {
            return Answer::rate_limited(1);
        }
    }
    let message = Message {
        channel: channel.id.clone(),
        ts: st.world.new_ts(),
        user: BOT_USER_ID.to_string(),
        from_bot: true,
        text,
        blocks,
        thread_ts: params.str("thread_ts"),
        files: Vec::new(),
        reactions: Vec::new(),
        edited: false,
    };
    st.world.messages.push(message.clone());
    st.post_times
        .entry(channel.id.clone())
        .or_default()
        .push(Instant::now());
    socket::bot_message(shared, st, &message);
    Answer::ok(payloads::post_message(&message))
}

/// The bot's own message `ts` in the `channel` parameter's channel.
fn own_message(st: &State, params: &Params, not_own: &str) -> Result<Message, Answer> {
    let channel = visible_channel(st, params)?;
    let ts = params.str("ts").unwrap_or_default();
    let message = st
        .world
        .message(&channel.id, &ts)
        .cloned()
        .ok_or_else(|| Answer::error("message_not_found"))?;
    if !message.from_bot {
        return Err(Answer::error(not_own));
    }
    Ok(message)
}

fn chat_update(st: &mut State, params: &Params) -> Answer {
    let message = match own_message(st, params, "cant_update_message") {
        Ok(m) => m,
        Err(answer) => return answer,
    };
    let (text, blocks) = match checked_content(st, params) {
        Ok(content) => content,
        Err(answer) => return answer,
    };
    let stored = st
        .world
        .message_mut(&message.channel, &message.ts)
        .expect("the message was just found");
    stored.text = text;
    stored.blocks = blocks;
    stored.edited = true;
    let updated = stored.clone();
    Answer::ok(payloads::update_message(&updated))
}

fn chat_delete(st: &mut State, params: &Params) -> Answer {
    let message = match own_message(st, params, "cant_delete_message") {
        Ok(m) => m,
        Err(answer) => return answer,
    };
    st.world
        .messages
        .retain(|m| !(m.channel == message.channel && m.ts == message.ts));
    let answer = payloads::delete_message(&message.channel, &message.ts);
    st.world.deleted_messages.push(message);
    Answer::ok(answer)
}

fn files_get_upload_url(st: &mut State, params: &Params) -> Answer {
    let Some(filename) = params.str("filename") else {
        return Answer::error("invalid_arguments");
    };
    let length = match params.str("length").map(|l| l.parse::<usize>()) {
        Some(Ok(0)) => return Answer::error("missing_argument"),
        Some(Ok(length)) => length,
        _ => return Answer::error("invalid_arguments"),
    };
    let id = st.world.new_id('F');
    let upload_key = st.token_hex(40);
    let url = format!("{}/upload/v1/{upload_key}", st.base_url);
    st.world.files.push(File {
        id: id.clone(),
        filename,
        title: None,
        declared_length: length,
        bytes: None,
        upload_key,
        channel: None,
        completed: false,
        initial_comment: None,
    });
    Answer::ok(payloads::upload_url(&url, &id))
}

fn files_complete_upload(shared: &Shared, st: &mut State, params: &Params) -> Answer {
    let files = match params.json("files") {
        Ok(Some(Value::Array(files))) if !files.is_empty() => files,
        _ => return Answer::error("invalid_arguments"),
    };
    let mut wanted = Vec::new();
    for file in &files {
        let Some(id) = file.get("id").and_then(Value::as_str) else {
            return Answer::error("invalid_arguments");
        };
        let title = file.get("title").and_then(Value::as_str).map(str::to_string);
        match st.world.files.iter().find(|f| f.id == id) {
            Some(f) if f.bytes.is_some() && !f.completed => wanted.push((id.to_string(), title)),
            _ => return Answer::error("file_not_found"),
        }
    }
    let channel = match params.str("channel_id") {
        None => None,
        Some(channel_id) => match st.world.channel(&channel_id) {
            Some(c) if !st.world.bot_can_see(c) => return Answer::error("invalid_channel"),
            Some(c) if !c.has_member(BOT_USER_ID) => return Answer::error("posting_to_channel_denied"),
            Some(c) => Some(c.clone()),
            None => return Answer::error("invalid_channel"),
        },
    };
    let initial_comment = params.str("initial_comment");
    let mut done = Vec::new();
    for (id, title) in &wanted {
        let file = st
            .world
            .files
            .iter_mut()
            .find(|f| &f.id == id)
            .expect("the file was just found");
        file.completed = true;
        file.title = Some(title.clone().unwrap_or_else(|| file.filename.clone()));
        file.channel = channel.as_ref().map(|c| c.id.clone());
        file.initial_comment = initial_comment.clone();
        done.push((id.clone(), file.title.clone().unwrap_or_default()));
    }
    // Sharing the files posts them in the channel, as the bot.
    if let Some(channel) = channel {
        let message = Message {
            channel: channel.id.clone(),
            ts: st.world.new_ts(),
            user: BOT_USER_ID.to_string(),
            from_bot: true,
            text: initial_comment,
            blocks: None,
            thread_ts: params.str("thread_ts"),
            files: wanted.iter().map(|(id, _)| id.clone()).collect(),
            reactions: Vec::new(),
            edited: false,
        };
        st.world.messages.push(message.clone());
        socket::bot_message(shared, st, &message);
    }
    Answer::ok(payloads::complete_upload(&done))
}

/// files.delete (docs.slack.dev/reference/methods/files.delete): `file`;
/// `file_not_found`, `file_deleted`, or `cant_delete_file` for a file the
/// bot did not upload. The file goes from every conversation, and with it
/// a message that only shared it; one with words of its own keeps them.
fn files_delete(st: &mut State, params: &Params) -> Answer {
    let Some(id) = params.str("file") else {
        return Answer::error("invalid_arguments");
    };
    if st.world.deleted_files.iter().any(|f| f.id == id) {
        return Answer::error("file_deleted");
    }
    let Some(at) = st.world.files.iter().position(|f| f.id == id) else {
        return Answer::error("file_not_found");
    };
    let file = st.world.files.remove(at);
    st.world.deleted_files.push(file);
    let mut gone = Vec::new();
    st.world.messages.retain_mut(|m| {
        if !m.files.contains(&id) {
            return true;
        }
        m.files.retain(|f| *f != id);
        let words = m.text.as_deref().is_some_and(|t| !t.is_empty()) || m.blocks.is_some();
        if !words && m.files.is_empty() {
            gone.push(m.clone());
            return false;
        }
        true
    });
    st.world.deleted_messages.extend(gone);
    Answer::ok(json!({ "ok": true }))
}

/// POST to an upload URL: the file's bytes. Slack answers 200 with a plain
/// text body, not JSON (`OK - <length>`).
pub async fn upload(shared: Shared, key: String, req: Request<Incoming>) -> Response<Body> {
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut st = shared.lock();
    let Some(file) = st.world.files.iter_mut().find(|f| f.upload_key == key) else {
        return text_response(StatusCode::NOT_FOUND, "not found");
    };
    let length = bytes.len();
    file.bytes = Some(bytes.to_vec());
    st.calls.push(ApiCall {
        method: "(upload)".to_string(),
        params: Map::new(),
        token: None,
        at: Instant::now(),
        status: 200,
        answer: Value::Null,
    });
    text_response(StatusCode::OK, &format!("OK - {length}"))
}

/// POST to a `response_url`: a reply only the person sees (by default).
/// docs.slack.dev/interactivity/handling-user-interaction: a response URL
/// works up to five times in 30 minutes.
pub async fn response_url(shared: Shared, req: Request<Incoming>) -> Response<Body> {
    let url = format!("{}{}", shared.lock().base_url, req.uri().path());
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let Ok(body) = serde_json::from_slice::<Value>(&bytes) else {
        return text_response(StatusCode::BAD_REQUEST, "invalid_payload");
    };
    let mut st = shared.lock();
    let Some(known) = st.response_urls.get_mut(&url) else {
        return text_response(StatusCode::NOT_FOUND, "no_such_url");
    };
    known.uses += 1;
    let refusal = if known.uses > 5 {
        Some("used_url")
    } else if known.created.elapsed() > Duration::from_secs(30 * 60) {
        Some("expired_url")
    } else {
        None
    };
    let envelope_id = known.envelope_id.clone();
    st.replies.push(Reply {
        response_url: Some(url),
        envelope_id: Some(envelope_id),
        body,
        at: Instant::now(),
        accepted: refusal.is_none(),
    });
    match refusal {
        Some(why) => text_response(StatusCode::NOT_FOUND, why),
        None => text_response(StatusCode::OK, "ok"),
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let value = BASE64.iter().position(|&b| b == c)? as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}
