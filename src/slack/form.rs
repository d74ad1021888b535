//! A report in a Slack form (a modal), when `[slack] intake = "form"`, so
//! the reporter's answers never become messages. `/report` opens it; each
//! answer is sent with the form's button, and the next question comes back
//! in the acknowledgement (`response_action: update`), within Slack's 3
//! seconds. Closed, the report waits in the store, and `/report` opens the
//! form again at the same question. The conversation is the core's
//! ([`crate::bot::Core::form_open`], [`crate::bot::Core::form_answer`]);
//! this file draws it and reads it back.

use serde_json::{json, Value};
use slack_morphism::prelude::*;

use tracing::warn;

use super::api::Api;
use super::render::{sections, shorten};
use crate::bot::{FormAnswer, FormView};

/// The form's `callback_id`: a submission with another is not ours.
pub const CALLBACK_ID: &str = "sg-report";
/// The answer's block and action ids.
const BLOCK: &str = "answer";
const ACTION: &str = "answer";
/// Slack's limits: a radio group's options, an option's text and value,
/// a text box's characters, a title's and a button's characters.
const MAX_RADIO: usize = 10;
const OPTION_CHARS: usize = 75;
const VALUE_CHARS: usize = 150;
const INPUT_CHARS: usize = 3000;
const TITLE_CHARS: usize = 24;
/// Sections of text in one view, with room for the answer's block under
/// Slack's 100 blocks.
const MAX_SECTIONS: usize = 95;

/// The view that shows `form` (Slack's modal view object).
pub fn view(form: &FormView) -> Value {
    let mut parts = sections(&super::events::escape(&form.text));
    if parts.len() > MAX_SECTIONS {
        // Slack takes 100 blocks in a modal: the rest is in the record.
        parts.truncate(MAX_SECTIONS);
        parts.push("(Shortened here: the rest is kept in full in your report.)".into());
    }
    let mut blocks: Vec<Value> = parts
        .into_iter()
        .map(|text| json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } }))
        .collect();
    let submit = match &form.answer {
        FormAnswer::Choose(b)
            if b.buttons.len() <= MAX_RADIO && b.buttons.iter().all(|b| b.answer.len() <= VALUE_CHARS) =>
        {
            let options: Vec<Value> = b
                .buttons
                .iter()
                .map(|b| json!({ "text": plain(&shorten(&b.label, OPTION_CHARS)), "value": b.answer }))
                .collect();
            blocks.push(json!({
                "type": "input",
                "block_id": BLOCK,
                "label": plain("Your answer"),
                "element": { "type": "radio_buttons", "action_id": ACTION, "options": options },
            }));
            Some("Next")
        }
        // More choices than Slack shows as one group: typed, by number.
        FormAnswer::Choose(_) => {
            blocks.push(text_box("Type the number of your answer", false));
            Some("Next")
        }
        FormAnswer::Type { label, empty } => {
            blocks.push(text_box(label, empty.is_some()));
            Some(if empty.as_deref() == Some("send") {
                "Send"
            } else {
                "Next"
            })
        }
        FormAnswer::Done => None,
    };
    let mut view = json!({
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": plain(&shorten("Safeguarding report", TITLE_CHARS)),
        "close": plain(if submit.is_some() { "Close" } else { "Done" }),
        "private_metadata": form.question.clone().unwrap_or_default(),
        "blocks": blocks,
    });
    if let Some(submit) = submit {
        view["submit"] = plain(submit);
    }
    view
}

fn plain(text: &str) -> Value {
    json!({ "type": "plain_text", "text": text })
}

fn text_box(label: &str, optional: bool) -> Value {
    json!({
        "type": "input",
        "block_id": BLOCK,
        "optional": optional,
        "label": plain(&shorten(label, 2000)),
        "element": {
            "type": "plain_text_input",
            "action_id": ACTION,
            "multiline": true,
            "max_length": INPUT_CHARS,
        },
    })
}

/// What a submitted form answers: the question it showed, and the answer
/// given (`None` when an optional box was left empty). `None` for a view
/// that is not the report form.
pub fn submitted(event: &SlackInteractionViewSubmissionEvent) -> Option<(String, Option<String>)> {
    let SlackView::Modal(modal) = &event.view.view else {
        return None;
    };
    if modal.callback_id.as_ref().map(|c| c.0.as_str()) != Some(CALLBACK_ID) {
        return None;
    }
    let question = modal.private_metadata.clone().unwrap_or_default();
    let value = event
        .view
        .state_params
        .state
        .as_ref()
        .and_then(|s| s.values.get(&BLOCK.into()))
        .and_then(|block| block.get(&ACTION.into()));
    let answer = value.and_then(|v| {
        v.selected_option
            .as_ref()
            .map(|o| o.value.clone())
            .or_else(|| v.value.clone())
            .filter(|a| !a.trim().is_empty())
    });
    Some((question, answer))
}

/// Opens the form at once, saying "Just a moment", with the command's
/// `trigger` (good for 3 seconds); returns the view's id, or `None` if
/// Slack would not open it.
pub async fn open_loading(api: &Api, trigger: &str) -> Option<String> {
    let loading = FormView {
        text: "Just a moment…".into(),
        question: None,
        answer: FormAnswer::Done,
    };
    let params = json!({ "trigger_id": trigger, "view": view(&loading) });
    match api.call("views.open", params).await {
        Ok(answer) => answer["view"]["id"].as_str().map(str::to_string),
        Err(e) => {
            warn!(error = %e, "could not open the report form");
            None
        }
    }
}

/// Shows `form` in the open view `view_id` (`views.update`, which has no
/// time limit); whether Slack took it.
pub async fn update(api: &Api, view_id: &str, form: &FormView) -> bool {
    let params = json!({ "view_id": view_id, "view": view(form) });
    match api.call("views.update", params).await {
        Ok(_) => true,
        Err(e) => {
            warn!(error = %e, "could not show the report form's question");
            false
        }
    }
}

/// Shows `words`, with nothing to answer, in the open view `view_id`.
pub async fn show_words(api: &Api, view_id: Option<String>, words: &str) {
    let Some(view_id) = view_id else {
        return;
    };
    let form = FormView {
        text: words.to_string(),
        question: None,
        answer: FormAnswer::Done,
    };
    update(api, &view_id, &form).await;
}

/// The view as slack-morphism carries it in an acknowledgement.
pub fn as_slack_view(view: Value) -> Result<SlackView, serde_json::Error> {
    serde_json::from_value(view)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{Button, Buttons};

    fn choose() -> FormView {
        FormView {
            text: "Is anyone in immediate danger?\n1. Yes\n2. No\nType yes or no.".into(),
            question: Some("SG-0001/q:danger".into()),
            answer: FormAnswer::Choose(Buttons {
                question: "SG-0001/q:danger".into(),
                buttons: vec![
                    Button {
                        label: "Yes".into(),
                        answer: "1".into(),
                    },
                    Button {
                        label: "No".into(),
                        answer: "2".into(),
                    },
                ],
            }),
        }
    }

    #[test]
    fn a_question_with_choices_is_a_radio_group_that_survives_slack_morphism() {
        let v = view(&choose());
        assert_eq!(v["private_metadata"], "SG-0001/q:danger");
        assert_eq!(v["submit"]["text"], "Next");
        let input = &v["blocks"][1];
        assert_eq!(input["element"]["type"], "radio_buttons");
        assert_eq!(input["element"]["options"][1]["value"], "2");
        // What goes back in the acknowledgement is slack-morphism's model of
        // it: nothing that matters may be lost on the way.
        let typed = as_slack_view(v.clone()).expect("slack-morphism reads the view");
        let back = serde_json::to_value(&typed).expect("and writes it");
        for pointer in [
            "/type",
            "/callback_id",
            "/private_metadata",
            "/submit/text",
            "/blocks/0/text/text",
            "/blocks/1/block_id",
            "/blocks/1/element/type",
            "/blocks/1/element/action_id",
            "/blocks/1/element/options/1/value",
        ] {
            assert_eq!(back.pointer(pointer), v.pointer(pointer), "{pointer}");
        }
    }

    #[test]
    fn a_very_long_review_still_fits_in_one_view() {
        let mut form = choose();
        form.text = "a long answer & more\n".repeat(20_000);
        let v = view(&form);
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 100, "{} blocks", blocks.len());
        assert_eq!(
            blocks.last().unwrap()["type"],
            "input",
            "the answer is still asked"
        );
        assert!(blocks
            .iter()
            .all(|b| b["text"]["text"].as_str().map_or(0, |t| t.chars().count()) <= 3000));
    }

    #[test]
    fn a_free_text_question_is_a_box_optional_only_when_it_may_be_skipped() {
        let mut form = choose();
        form.answer = FormAnswer::Type {
            label: "Your answer".into(),
            empty: Some("skip".into()),
        };
        let v = view(&form);
        assert_eq!(v["blocks"][1]["element"]["type"], "plain_text_input");
        assert_eq!(v["blocks"][1]["optional"], true);
        form.answer = FormAnswer::Type {
            label: "Your answer".into(),
            empty: None,
        };
        assert_eq!(view(&form)["blocks"][1]["optional"], false);
        let typed = as_slack_view(view(&form)).expect("slack-morphism reads it");
        let back = serde_json::to_value(&typed).expect("and writes it");
        assert_eq!(back.pointer("/blocks/1/element/max_length"), Some(&json!(3000)));
        form.answer = FormAnswer::Done;
        let done = view(&form);
        assert!(done.get("submit").is_none(), "nothing more to send");
        assert_eq!(done["close"]["text"], "Done");
    }
}
