//! Modals: the triggers Slack hands out with slash commands and button
//! presses, `views.open` exchanging one for a modal, the person submitting
//! or closing it, and what the app's acknowledgement of a submission does.
//!
//! As Slack does (docs.slack.dev/surfaces/modals, docs.slack.dev/reference/methods/views.open,
//! docs.slack.dev/reference/interaction-payloads/view-interactions-payload):
//! - a `trigger_id` opens one modal, within 3 seconds of the interaction
//!   that gave it (`expired_trigger_id`, `exchanged_trigger_id`,
//!   `invalid_trigger_id`); the modal is shown to the person the trigger was
//!   issued to;
//! - a view breaking Block Kit's limits is refused with `invalid_arguments`
//!   and `response_metadata.messages` such as
//!   `[ERROR] must be less than 25 characters [json-pointer:/view/title/text]`;
//! - a submission is a `view_submission` payload in an `interactive`
//!   envelope; the app answers in its acknowledgement, within 3 seconds:
//!   no payload closes the modal, `response_action: update` replaces it (same
//!   id, new `hash`), `errors` shows errors under its inputs and keeps it
//!   open, `clear` closes all the person's modals. An answer after the ack
//!   timeout is ignored (the person was already shown an error);
//! - closing a modal with `notify_on_close: true` sends `view_closed`.
//!
//! A refused `views.open` does not use up its trigger (the stand-in's
//! choice: Slack's pages do not say). Responses Slack would refuse or
//! ignore are recorded in [`ViewsState::problems`], not panicked on, so the
//! test sees them through `SlackStandIn::problems`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::payloads;
use super::socket;
use super::world::now_secs;
use super::{Shared, State};

/// A trigger opens a modal only within 3 seconds of the interaction it
/// came with (docs.slack.dev/interactivity/handling-user-interaction;
/// `expired_trigger_id` on docs.slack.dev/reference/methods/views.open).
pub const TRIGGER_LIFETIME: Duration = Duration::from_secs(3);

/// The limits of a modal view (docs.slack.dev/reference/views/modal-views,
/// "Modal view object fields"): title, submit and close "a max length of 24
/// characters", "Max of 100 blocks", `private_metadata` "Max length of 3000
/// characters", `callback_id` 255 characters; `external_id` 255 characters
/// (docs.slack.dev/reference/methods/views.open, "Usage info").
const MAX_VIEW_TEXT_CHARS: usize = 24;
const MAX_VIEW_BLOCKS: usize = 100;
const MAX_PRIVATE_METADATA_CHARS: usize = 3000;
const MAX_CALLBACK_ID_CHARS: usize = 255;
/// An input block's `label`: at most 2000 characters
/// (docs.slack.dev/reference/block-kit/blocks/input-block); any block's
/// `block_id`: at most 255 characters (Block Kit's published JSON schema,
/// `https://api.slack.com/json-schema/block-kit/input/blocks`).
const MAX_LABEL_CHARS: usize = 2000;
const MAX_BLOCK_ID_CHARS: usize = 255;
/// A `plain_text_input`'s `max_length`: at most 3000
/// (docs.slack.dev/reference/block-kit/block-elements/plain-text-input-element).
const MAX_INPUT_LENGTH: u64 = 3000;
/// `radio_buttons`: 1 to 10 options
/// (docs.slack.dev/reference/block-kit/block-elements/radio-button-group-element);
/// an option's `text` at most 75 characters and its `value` at most 150
/// (docs.slack.dev/reference/block-kit/composition-objects/option-object).
const MAX_RADIO_OPTIONS: usize = 10;
const MAX_OPTION_TEXT_CHARS: usize = 75;
const MAX_OPTION_VALUE_CHARS: usize = 150;
const MAX_ACTION_ID_CHARS: usize = 255;

/// A trigger the stand-in handed out.
#[derive(Clone, Debug)]
pub struct Trigger {
    /// The person whose interaction it came with.
    pub user: String,
    pub issued_at: Instant,
    /// Already exchanged for a modal by views.open.
    pub exchanged: bool,
}

/// A modal, as the stand-in shows it to one person.
#[derive(Clone, Debug)]
pub struct View {
    /// `V…`, the same through every `update`.
    pub id: String,
    /// The person it is shown to.
    pub user: String,
    /// The view as now shown, in Slack's form (the `view` of views.open's
    /// answer; after a submission, with that submission's `state`).
    pub view: Value,
    /// Changes with every `update`.
    pub hash: String,
    pub open: bool,
    /// The `errors` of the last `response_action: errors`, until the next
    /// submission or update.
    pub errors: Option<Value>,
}

/// What the person gives the modal's one input when they submit it.
#[derive(Clone, Debug)]
pub enum ViewAnswer {
    /// Typed into a `plain_text_input`.
    Text(String),
    /// The `value` of the `radio_buttons` option chosen.
    Choice(String),
    /// The input left empty (only an `optional` one).
    Nothing,
}

#[derive(Debug, Default)]
pub struct ViewsState {
    /// Every trigger handed out, by `trigger_id`.
    pub triggers: HashMap<String, Trigger>,
    /// Every modal opened, in opening order.
    pub views: Vec<View>,
    /// What the app did with modals that Slack would have refused or
    /// ignored, in Slack's words where it has them.
    pub problems: Vec<String>,
    /// `view_submission` envelopes: envelope id → view id.
    pub submissions: HashMap<String, String>,
}

/// A new `trigger_id` for an interaction of `user`, remembered so views.open
/// can exchange it.
pub fn new_trigger_id(st: &mut State, user: &str) -> String {
    let serial = st.next_serial();
    let hex = st.token_hex(32);
    let trigger_id = format!("{serial}.{}.{hex}", now_secs());
    st.views.triggers.insert(
        trigger_id.clone(),
        Trigger {
            user: user.to_string(),
            issued_at: Instant::now(),
            exchanged: false,
        },
    );
    trigger_id
}

/// A view's `hash`: Slack's look, `seconds.8 hex` ("156663117.cd33ad1f").
fn new_hash(st: &mut State) -> String {
    format!("{}.{}", now_secs(), st.token_hex(8))
}

fn error(message: &str, pointer: &str) -> String {
    format!("[ERROR] {message} [json-pointer:{pointer}]")
}

fn chars(value: &Value) -> usize {
    value.as_str().map_or(0, |s| s.chars().count())
}

/// A `plain_text` object of 1..=`max` characters at `at`.
fn plain_text_problems(text: &Value, at: &str, max: usize, problems: &mut Vec<String>) {
    if !text.is_object() {
        problems.push(error("must provide an object", at));
        return;
    }
    if text["type"].as_str() != Some("plain_text") {
        problems.push(error("must be a plain_text text object", &format!("{at}/type")));
    }
    let length = chars(&text["text"]);
    if length == 0 {
        problems.push(error("must be more than 0 characters", &format!("{at}/text")));
    } else if length > max {
        problems.push(error(
            &format!("must be less than {} characters", max + 1),
            &format!("{at}/text"),
        ));
    }
}

/// An input block's element: a `plain_text_input` or `radio_buttons` (the
/// only elements the stand-in models).
fn element_problems(element: &Value, at: &str, problems: &mut Vec<String>) {
    if !element.is_object() {
        problems.push(error("must provide an object", at));
        return;
    }
    match element["action_id"].as_str() {
        None => problems.push(error("missing required field: action_id", at)),
        Some(id) if id.chars().count() > MAX_ACTION_ID_CHARS => problems.push(error(
            "must be less than 256 characters",
            &format!("{at}/action_id"),
        )),
        Some(_) => {}
    }
    match element["type"].as_str() {
        Some("plain_text_input") => {
            for key in ["max_length", "min_length"] {
                if element[key].as_u64().is_some_and(|n| n > MAX_INPUT_LENGTH) {
                    problems.push(error("must be less than 3001", &format!("{at}/{key}")));
                }
            }
        }
        Some("radio_buttons") => {
            let Some(options) = element["options"].as_array() else {
                problems.push(error("missing required field: options", at));
                return;
            };
            if options.is_empty() {
                problems.push(error("must provide at least 1 items", &format!("{at}/options")));
            }
            if options.len() > MAX_RADIO_OPTIONS {
                problems.push(error("no more than 10 items allowed", &format!("{at}/options")));
            }
            for (j, option) in options.iter().enumerate() {
                let at = format!("{at}/options/{j}");
                let text = chars(&option["text"]["text"]);
                if text == 0 {
                    problems.push(error(
                        "must be more than 0 characters",
                        &format!("{at}/text/text"),
                    ));
                } else if text > MAX_OPTION_TEXT_CHARS {
                    problems.push(error(
                        "must be less than 76 characters",
                        &format!("{at}/text/text"),
                    ));
                }
                if !option["value"].is_string() {
                    problems.push(error("missing required field: value", &at));
                } else if chars(&option["value"]) > MAX_OPTION_VALUE_CHARS {
                    problems.push(error("must be less than 151 characters", &format!("{at}/value")));
                }
            }
        }
        Some(other) => problems.push(error(
            &format!("unsupported type: {other}"),
            &format!("{at}/type"),
        )),
        None => problems.push(error("missing required field: type", at)),
    }
}

/// Checks a view as views.open does (and as Slack checks the `view` of a
/// `response_action: update`), and gives it as Slack keeps it: a `block_id`
/// on each block and an input's `optional` and `dispatch_action` filled in,
/// `private_metadata`, `callback_id` and `external_id` as `""` when absent,
/// `clear_on_close` and `notify_on_close` as false. Err: every problem, as
/// Slack's `response_metadata.messages`.
pub fn check_view(st: &mut State, view: Option<Value>) -> Result<Map<String, Value>, Vec<String>> {
    let mut view = match view {
        Some(Value::Object(view)) => view,
        Some(_) => return Err(vec![error("must provide an object", "/view")]),
        None => return Err(vec![error("missing required field: view", "/view")]),
    };
    let mut problems = Vec::new();
    match view.get("type").and_then(Value::as_str) {
        Some("modal") => {}
        Some(other) => problems.push(error(&format!("unsupported type: {other}"), "/view/type")),
        None => problems.push(error("missing required field: type", "/view")),
    }
    match view.get("title") {
        Some(title) => plain_text_problems(title, "/view/title", MAX_VIEW_TEXT_CHARS, &mut problems),
        None => problems.push(error("missing required field: title", "/view")),
    }
    for key in ["submit", "close"] {
        if let Some(text) = view.get(key).filter(|v| !v.is_null()) {
            plain_text_problems(text, &format!("/view/{key}"), MAX_VIEW_TEXT_CHARS, &mut problems);
        }
    }
    for (key, max) in [
        ("private_metadata", MAX_PRIVATE_METADATA_CHARS),
        ("callback_id", MAX_CALLBACK_ID_CHARS),
        ("external_id", MAX_CALLBACK_ID_CHARS),
    ] {
        if view.get(key).is_some_and(|v| chars(v) > max) {
            problems.push(error(
                &format!("must be less than {} characters", max + 1),
                &format!("/view/{key}"),
            ));
        }
    }
    let has_submit = view.get("submit").is_some_and(|v| !v.is_null());
    let mut blocks = match view.remove("blocks") {
        Some(Value::Array(blocks)) => blocks,
        Some(_) => {
            problems.push(error("must provide an array", "/view/blocks"));
            Vec::new()
        }
        None => {
            problems.push(error("missing required field: blocks", "/view"));
            Vec::new()
        }
    };
    if blocks.len() > MAX_VIEW_BLOCKS {
        problems.push(error("must be less than 101 items", "/view/blocks"));
    }
    let mut block_ids = HashSet::new();
    let mut first_input = None;
    for (i, block) in blocks.iter_mut().enumerate() {
        let at = format!("/view/blocks/{i}");
        let Some(object) = block.as_object_mut() else {
            problems.push(error("must provide an object", &at));
            continue;
        };
        match object.get("block_id").and_then(Value::as_str) {
            Some(id) if id.chars().count() > MAX_BLOCK_ID_CHARS => problems.push(error(
                "must be less than 256 characters",
                &format!("{at}/block_id"),
            )),
            Some(id) if !block_ids.insert(id.to_string()) => {
                problems.push(error("block_id already exists", &format!("{at}/block_id")))
            }
            Some(_) => {}
            // Slack gives a block sent without one a short random id.
            None => {
                let id = st.token_hex(5);
                block_ids.insert(id.clone());
                object.insert("block_id".to_string(), json!(id));
            }
        }
        match object.get("type").and_then(Value::as_str) {
            None => problems.push(error("missing required field: type", &at)),
            Some("input") => {
                first_input.get_or_insert(i);
                match object.get("label") {
                    Some(label) => {
                        plain_text_problems(label, &format!("{at}/label"), MAX_LABEL_CHARS, &mut problems)
                    }
                    None => problems.push(error("missing required field: label", &at)),
                }
                match object.get("element") {
                    Some(element) => element_problems(element, &format!("{at}/element"), &mut problems),
                    None => problems.push(error("missing required field: element", &at)),
                }
                object.entry("optional").or_insert(json!(false));
                object.entry("dispatch_action").or_insert(json!(false));
            }
            Some(_) => {}
        }
    }
    if let (Some(i), false) = (first_input, has_submit) {
        problems.push(error(
            "must define `submit` to use an `input` block in modals",
            &format!("/view/blocks/{i}/input"),
        ));
    }
    if let Some(problem) = super::web_api::block_problem(&blocks, "/view") {
        problems.push(format!("[ERROR] {problem}"));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    view.insert("blocks".to_string(), Value::Array(blocks));
    for key in ["private_metadata", "callback_id", "external_id"] {
        view.entry(key).or_insert(json!(""));
    }
    for key in ["clear_on_close", "notify_on_close"] {
        view.entry(key).or_insert(json!(false));
    }
    Ok(view)
}

/// views.open, once the view has passed [`check_view`]: exchanges the
/// trigger and opens the modal for the trigger's person. Err: Slack's error
/// code.
pub fn open(st: &mut State, trigger_id: &str, content: Map<String, Value>) -> Result<Value, &'static str> {
    let trigger = st
        .views
        .triggers
        .get(trigger_id)
        .cloned()
        .ok_or("invalid_trigger_id")?;
    if trigger.exchanged {
        return Err("exchanged_trigger_id");
    }
    if trigger.issued_at.elapsed() > TRIGGER_LIFETIME {
        return Err("expired_trigger_id");
    }
    if let Some(t) = st.views.triggers.get_mut(trigger_id) {
        t.exchanged = true;
    }
    let id = st.world.new_id('V');
    let hash = new_hash(st);
    let view = payloads::view_object(&id, &id, &hash, content);
    st.views.views.push(View {
        id,
        user: trigger.user,
        view: view.clone(),
        hash,
        open: true,
        errors: None,
    });
    Ok(view)
}

/// views.update, once the view has passed [`check_view`]: replaces what
/// the open modal `view_id` shows, with a new hash. Err: Slack's error code.
pub fn update(
    st: &mut State,
    view_id: &str,
    hash: Option<&str>,
    content: Map<String, Value>,
) -> Result<Value, &'static str> {
    let index = st
        .views
        .views
        .iter()
        .position(|v| v.id == view_id && v.open)
        .ok_or("not_found")?;
    if hash.is_some_and(|h| h != st.views.views[index].hash) {
        return Err("hash_conflict");
    }
    let new_hash = new_hash(st);
    let root = st.views.views[index].view["root_view_id"]
        .as_str()
        .unwrap_or(view_id)
        .to_string();
    let view = payloads::view_object(view_id, &root, &new_hash, content);
    let stored = &mut st.views.views[index];
    stored.view = view.clone();
    stored.hash = new_hash;
    stored.errors = None;
    Ok(view)
}

fn view_index(st: &State, view_id: &str) -> usize {
    st.views
        .views
        .iter()
        .position(|v| v.id == view_id)
        .unwrap_or_else(|| panic!("the stand-in has no view {view_id}"))
}

/// The view `view_id` and where it is kept, checked to be `user`'s.
fn shown_to(st: &State, user: &str, view_id: &str) -> (usize, View) {
    let index = view_index(st, view_id);
    let shown = st.views.views[index].clone();
    assert_eq!(
        shown.user, user,
        "view {view_id} is shown to {}, not {user}",
        shown.user
    );
    (index, shown)
}

/// `user` submits the modal `view_id` with `answer` in its one input; sends
/// `view_submission` in an `interactive` envelope. Returns its envelope id.
pub fn submit(shared: &Shared, st: &mut State, user: &str, view_id: &str, answer: ViewAnswer) -> String {
    assert!(
        st.options.manifest.interactivity,
        "interactivity is off in the manifest, so Slack would not send view submissions"
    );
    let author = st
        .world
        .user(user)
        .cloned()
        .unwrap_or_else(|| panic!("the stand-in has no user {user}"));
    let (index, shown) = shown_to(st, user, view_id);
    assert!(shown.open, "view {view_id} is closed, so {user} cannot submit it");
    assert!(
        shown.view.get("submit").is_some_and(|s| !s.is_null()),
        "view {view_id} has no submit button"
    );
    let blocks = shown.view["blocks"].as_array().cloned().unwrap_or_default();
    let inputs: Vec<&Value> = blocks.iter().filter(|b| b["type"] == "input").collect();
    let [input] = inputs.as_slice() else {
        panic!(
            "view {view_id} has {} input blocks; submit_view answers exactly one",
            inputs.len()
        );
    };
    let block_id = input["block_id"].as_str().unwrap_or_default().to_string();
    let element = &input["element"];
    let action_id = element["action_id"].as_str().unwrap_or_default().to_string();
    let optional = input["optional"].as_bool().unwrap_or(false);
    let kind = element["type"].as_str().unwrap_or_default();
    let answer = match answer {
        ViewAnswer::Text(text) if text.is_empty() => ViewAnswer::Nothing,
        other => other,
    };
    if matches!(answer, ViewAnswer::Nothing) {
        assert!(
            optional,
            "the input {block_id} of view {view_id} is required: Slack does not let {user} submit it empty"
        );
    }
    let value = match (kind, &answer) {
        ("plain_text_input", ViewAnswer::Text(text)) => {
            let length = text.chars().count() as u64;
            if let Some(max) = element["max_length"].as_u64() {
                assert!(
                    length <= max,
                    "Slack does not let {user} type more than {max} characters into {block_id}"
                );
            }
            if let Some(min) = element["min_length"].as_u64() {
                assert!(
                    length >= min,
                    "Slack does not let {user} submit fewer than {min} characters in {block_id}"
                );
            }
            json!({ "type": "plain_text_input", "value": text })
        }
        ("plain_text_input", ViewAnswer::Nothing) => json!({ "type": "plain_text_input", "value": null }),
        ("radio_buttons", ViewAnswer::Choice(choice)) => {
            let option = element["options"]
                .as_array()
                .and_then(|options| options.iter().find(|o| o["value"] == choice.as_str()))
                .unwrap_or_else(|| {
                    panic!("the radio buttons of {block_id} in view {view_id} have no option {choice:?}")
                });
            json!({
                "type": "radio_buttons",
                "selected_option": { "text": option["text"], "value": choice },
            })
        }
        ("radio_buttons", ViewAnswer::Nothing) => json!({ "type": "radio_buttons", "selected_option": null }),
        (kind, answer) => {
            panic!("the input {block_id} of view {view_id} is {kind}: {answer:?} does not fit it")
        }
    };
    let mut view = shown.view.clone();
    view["state"] = json!({ "values": { block_id: { action_id: value } } });
    {
        let stored = &mut st.views.views[index];
        stored.view = view.clone();
        stored.errors = None;
    }
    let trigger_id = new_trigger_id(st, user);
    let payload = payloads::view_submission(&author, &view, &trigger_id);
    let envelope_id = socket::enqueue(shared, st, "interactive", payload, None);
    st.views
        .submissions
        .insert(envelope_id.clone(), view_id.to_string());
    envelope_id
}

/// `user` closes the modal `view_id` (Cancel, or the ×). With
/// `notify_on_close: true` Slack sends `view_closed`; returns its envelope
/// id. A view already closed stays closed and sends nothing.
pub fn close(shared: &Shared, st: &mut State, user: &str, view_id: &str) -> Option<String> {
    let (index, shown) = shown_to(st, user, view_id);
    if !shown.open {
        return None;
    }
    st.views.views[index].open = false;
    if shown.view["notify_on_close"] != true {
        return None;
    }
    let author = st
        .world
        .user(user)
        .cloned()
        .unwrap_or_else(|| panic!("the stand-in has no user {user}"));
    let payload = payloads::view_closed(&author, &shown.view);
    Some(socket::enqueue(shared, st, "interactive", payload, None))
}

/// The app acknowledged `envelope_id`: if it was a `view_submission`, what
/// its `payload` asks of the modal
/// (docs.slack.dev/surfaces/modals#interactions, "Responding to view
/// submissions").
pub fn on_ack(st: &mut State, envelope_id: &str) {
    let Some(view_id) = st.views.submissions.get(envelope_id).cloned() else {
        return;
    };
    let Some(envelope) = st.socket.envelopes.iter().find(|e| e.id == envelope_id) else {
        return;
    };
    let latency = envelope.ack_latency().unwrap_or_default();
    let payload = envelope.ack_payload().filter(|p| !p.is_null());
    if latency > st.options.ack_timeout {
        st.views.problems.push(format!(
            "the view_submission of {view_id} (envelope {envelope_id}) was acknowledged after \
             {latency:?}: Slack had already shown an error, and ignores the answer"
        ));
        return;
    }
    let index = view_index(st, &view_id);
    if !st.views.views[index].open {
        st.views.problems.push(format!(
            "the view_submission of {view_id} (envelope {envelope_id}) was answered after the view was closed"
        ));
        return;
    }
    let action = payload
        .as_ref()
        .and_then(|p| p.get("response_action"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match action.as_deref() {
        // An acknowledgement with no response closes the modal.
        None => st.views.views[index].open = false,
        Some("update") => {
            let new = payload.and_then(|p| p.get("view").cloned());
            match check_view(st, new) {
                Ok(content) => {
                    let hash = new_hash(st);
                    let root = st.views.views[index].view["root_view_id"]
                        .as_str()
                        .map(str::to_string);
                    let view =
                        payloads::view_object(&view_id, root.as_deref().unwrap_or(&view_id), &hash, content);
                    let stored = &mut st.views.views[index];
                    stored.view = view;
                    stored.hash = hash;
                    stored.errors = None;
                }
                Err(messages) => st.views.problems.push(format!(
                    "response_action update for {view_id} (envelope {envelope_id}) was refused: {}",
                    messages.join("; ")
                )),
            }
        }
        Some("errors") => {
            let errors = payload.and_then(|p| p.get("errors").cloned());
            match errors_problem(&st.views.views[index].view, errors.as_ref()) {
                None => st.views.views[index].errors = errors,
                Some(problem) => st.views.problems.push(format!(
                    "response_action errors for {view_id} (envelope {envelope_id}): {problem}"
                )),
            }
        }
        Some("clear") => {
            let user = st.views.views[index].user.clone();
            for view in st.views.views.iter_mut().filter(|v| v.user == user) {
                view.open = false;
            }
        }
        Some(other) => st.views.problems.push(format!(
            "response_action {other:?} for {view_id} (envelope {envelope_id}) is not modelled by the stand-in"
        )),
    }
}

/// `errors` must map the `block_id` of input blocks in the view to messages
/// (docs.slack.dev/surfaces/modals, "Displaying errors in views": each key
/// is the `block_id` of an input block).
fn errors_problem(view: &Value, errors: Option<&Value>) -> Option<String> {
    let Some(Value::Object(errors)) = errors else {
        return Some("`errors` should be an object of block_id → message".to_string());
    };
    if errors.is_empty() {
        return Some("`errors` is empty".to_string());
    }
    let inputs: Vec<&str> = view["blocks"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter(|b| b["type"] == "input")
                .filter_map(|b| b["block_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    for (block_id, message) in errors {
        if !inputs.contains(&block_id.as_str()) {
            return Some(format!(
                "{block_id:?} is not the block_id of an input block in the view"
            ));
        }
        if !message.is_string() {
            return Some(format!("the error for {block_id:?} should be a string"));
        }
    }
    None
}
