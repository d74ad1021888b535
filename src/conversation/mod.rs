//! The intake conversation: a pure, deterministic dialogue engine.
//!
//! [`start`] opens a conversation and [`step`] takes one message. Both take
//! the flow and the time, do no IO, and return a [`Step`]: the new state and
//! the [`Action`]s for a transport to carry out, in order. A transport must
//! carry them out in order and stop at the first that fails, telling the
//! reporter, because the replies that follow a [`Action::Save`] say the
//! record is kept.
//!
//! The state is a plain serialisable value, kept in the store between
//! messages, so a restart resumes each conversation at the same question.

pub mod buttons;
pub mod parse;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::concern::{ConcernRecord, Decision, FieldAnswer, Reference, RouteTaken, Status};
use crate::flow::{Field, Flow, Node, Outcome, PageWhen, Question};
pub use buttons::{buttons, question_key, Button, Buttons};
use parse::{Choice, Command, Input, MAX_MESSAGE_CHARS};

/// How long a started report may sit untouched, by default, before what it
/// holds is passed to the lead, marked incomplete.
pub const ABANDONED_AFTER: Duration = Duration::minutes(30);

/// One reporter's conversation, as kept between messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub reference: Reference,
    pub reporter: String,
    pub flow_id: String,
    pub flow_version: String,
    pub flow_digest: String,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stage: Stage,
    /// The flowchart questions answered, in order: the path taken.
    pub decisions: Vec<Decision>,
    /// The outcome reached, once the flowchart has been answered.
    pub route: Option<String>,
    /// Record answers by field id; `None` is a skipped optional question.
    pub fields: BTreeMap<String, Option<String>>,
    /// The lead has been paged as urgent.
    pub urgent_paged: bool,
    /// The lead has had what was given so far, marked incomplete.
    pub incomplete_paged: bool,
    /// The reporter is changing an answer from the review: return there next.
    pub editing: bool,
    /// The transport's id of the last message taken, so a replayed message
    /// is never taken as a second answer.
    #[serde(default)]
    pub last_message: Option<String>,
}

/// Where a conversation is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Asking a flowchart question.
    Question { node: String },
    /// Asking the record question at this index of the flow's record list.
    Field { index: usize },
    /// Showing the whole record before it is sent.
    Review,
    /// Asking whether the reporter really wants to cancel.
    ConfirmCancel { resume: Box<Stage> },
    /// Finished: submitted or withdrawn. Nothing more is asked.
    Done { status: Status },
}

/// Something for the transport to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Page the lead now. The page carries the reference, the urgency and the
    /// reporter, never the details.
    PageLead { urgent: bool },
    /// Keep this record durably, flushed to disk, before the actions that follow.
    Save(Box<ConcernRecord>),
    /// Give the lead the record as it now stands, where the page went.
    SendRecordToLead,
    /// Tell the reporter.
    Reply(String),
}

/// What a step did, so a transport and the tests can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// Moved to another question or stage.
    Advanced,
    /// The answer was not understood, or not allowed here; the same question is asked again.
    AskedAgain,
    /// Help or a clarification was given; the same question stands.
    Explained,
    /// The report was submitted or withdrawn.
    Finished,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub conversation: Conversation,
    pub actions: Vec<Action>,
    pub kind: StepKind,
}

impl Step {
    /// The replies for the reporter, in order.
    pub fn replies(&self) -> impl Iterator<Item = &str> {
        self.actions.iter().filter_map(|a| match a {
            Action::Reply(text) => Some(text.as_str()),
            _ => None,
        })
    }
}

/// Opens a conversation: the introduction and the first question.
pub fn start(flow: &Flow, reference: Reference, reporter: &str, now: DateTime<Utc>) -> Step {
    let conversation = Conversation {
        reference,
        reporter: reporter.to_string(),
        flow_id: flow.id.clone(),
        flow_version: flow.version.clone(),
        flow_digest: flow.digest.clone(),
        started_at: now,
        updated_at: now,
        stage: Stage::Question {
            node: flow.start.clone(),
        },
        decisions: Vec::new(),
        route: None,
        fields: BTreeMap::new(),
        urgent_paged: false,
        incomplete_paged: false,
        editing: false,
        last_message: None,
    };
    let mut actions = vec![Action::Reply(flow.intro.trim().to_string())];
    actions.push(Action::Reply(prompt(flow, &conversation)));
    Step {
        conversation,
        actions,
        kind: StepKind::Advanced,
    }
}

/// Takes one message from the reporter.
pub fn step(flow: &Flow, conversation: Conversation, message: &str, now: DateTime<Utc>) -> Step {
    let mut c = conversation;
    c.updated_at = now;
    if !stage_exists(flow, &c.stage) {
        return restart_after_flow_change(flow, c);
    }
    let input = parse::read(message);
    match (&c.stage, input) {
        (Stage::Done { status }, _) => {
            let text = format!(
                "Your report {} is {}. To report something new, type report.",
                c.reference,
                status.label()
            );
            explained(c, vec![text])
        }
        (_, Input::Empty) => {
            let again = prompt(flow, &c);
            asked_again(c, vec![format!("I didn't get any words there.\n\n{again}")])
        }
        (_, Input::TooLong { chars }) => {
            let again = prompt(flow, &c);
            asked_again(
                c,
                vec![format!(
                    "That message is too long for me: {chars} characters, and the most I can take is {MAX_MESSAGE_CHARS}. Please send it in shorter parts, or shorten it.\n\n{again}"
                )],
            )
        }
        (Stage::ConfirmCancel { .. }, Input::Text(text)) if parse::is_yes(&text) => withdraw(flow, c, now),
        (Stage::ConfirmCancel { resume }, Input::Text(text)) if parse::is_no(&text) => {
            c.stage = (**resume).clone();
            let again = prompt(flow, &c);
            advanced(c, vec![format!("Good, let's carry on.\n\n{again}")])
        }
        (Stage::ConfirmCancel { resume }, Input::Command(Command::Back)) => {
            c.stage = (**resume).clone();
            let again = prompt(flow, &c);
            advanced(c, vec![format!("Good, let's carry on.\n\n{again}")])
        }
        (Stage::ConfirmCancel { .. }, Input::Command(Command::Cancel)) => withdraw(flow, c, now),
        (Stage::ConfirmCancel { .. }, _) => {
            let again = prompt(flow, &c);
            asked_again(c, vec![format!("Sorry, I didn't understand that.\n\n{again}")])
        }
        (_, Input::Command(Command::Cancel)) => {
            let resume = Box::new(c.stage.clone());
            c.stage = Stage::ConfirmCancel { resume };
            let text = prompt(flow, &c);
            advanced(c, vec![text])
        }
        (_, Input::Command(Command::Help)) => {
            let text = help(flow, &c);
            explained(c, vec![text])
        }
        (_, Input::Command(Command::Back)) => back(flow, c),
        (Stage::Question { node }, input) => {
            let node = node.clone();
            match flow.node(&node) {
                Some(Node::Question(q)) => answer_question(flow, c, q, input, now),
                // stage_exists() checked this is a question.
                _ => restart_after_flow_change(flow, c),
            }
        }
        (Stage::Field { index }, input) => {
            let index = *index;
            answer_field(flow, c, index, input)
        }
        (Stage::Review, input) => review(flow, c, input, now),
    }
}

/// A started report that has sat untouched for `after` (by default
/// [`ABANDONED_AFTER`]): what it holds goes to the lead, marked incomplete,
/// once. The reporter may still carry on and submit. `None` when nothing is due.
pub fn check_abandoned(
    flow: &Flow,
    conversation: &Conversation,
    now: DateTime<Utc>,
    after: Duration,
) -> Option<Step> {
    let c = conversation;
    let finished = matches!(c.stage, Stage::Done { .. });
    if finished || c.incomplete_paged || now - c.updated_at < after {
        return None;
    }
    let mut c = c.clone();
    c.incomplete_paged = true;
    let record = build_record(flow, &c, Status::Incomplete, now);
    let mut actions = vec![Action::Save(Box::new(record))];
    if !c.urgent_paged {
        actions.push(Action::PageLead { urgent: false });
    }
    actions.push(Action::SendRecordToLead);
    actions.push(Action::Reply(format!(
        "You haven't finished report {}, so I have passed what you told me so far to the Lead for Safeguarding, marked incomplete. You can still carry on here.\n\n{}",
        c.reference,
        prompt(flow, &c)
    )));
    Some(Step {
        conversation: c,
        actions,
        kind: StepKind::Explained,
    })
}

/// The record as it stands, for the store and the lead.
pub fn build_record(flow: &Flow, c: &Conversation, status: Status, now: DateTime<Utc>) -> ConcernRecord {
    let route = c.route.as_deref().and_then(|id| match flow.node(id) {
        Some(Node::Outcome(o)) => Some(route_taken(o)),
        _ => None,
    });
    let fields = flow
        .record
        .iter()
        .filter_map(|f| {
            c.fields.get(&f.id).map(|value| FieldAnswer {
                field_id: f.id.clone(),
                label: f.label.clone(),
                value: value.clone(),
                verbatim: f.verbatim,
            })
        })
        .collect();
    ConcernRecord {
        reference: c.reference.clone(),
        status,
        reporter: c.reporter.clone(),
        flow_id: c.flow_id.clone(),
        flow_version: c.flow_version.clone(),
        flow_digest: c.flow_digest.clone(),
        started_at: c.started_at,
        recorded_at: now,
        decisions: c.decisions.clone(),
        route,
        fields,
        urgent: c.urgent_paged,
    }
}

fn route_taken(o: &Outcome) -> RouteTaken {
    RouteTaken {
        outcome_id: o.id.clone(),
        title: o.title.clone(),
        agency: o.agency.clone(),
        contact: o.contact.clone(),
        guidance: o.guidance.trim().to_string(),
        note_afterwards: o.note_afterwards.clone(),
        urgent: o.page == PageWhen::Immediately,
    }
}

fn advanced(c: Conversation, replies: Vec<String>) -> Step {
    finish_step(c, replies, StepKind::Advanced)
}

fn asked_again(c: Conversation, replies: Vec<String>) -> Step {
    finish_step(c, replies, StepKind::AskedAgain)
}

fn explained(c: Conversation, replies: Vec<String>) -> Step {
    finish_step(c, replies, StepKind::Explained)
}

fn finish_step(conversation: Conversation, replies: Vec<String>, kind: StepKind) -> Step {
    Step {
        conversation,
        actions: replies.into_iter().map(Action::Reply).collect(),
        kind,
    }
}

fn stage_exists(flow: &Flow, stage: &Stage) -> bool {
    match stage {
        Stage::Question { node } => matches!(flow.node(node), Some(Node::Question(_))),
        Stage::Field { index } => *index < flow.record.len(),
        Stage::ConfirmCancel { resume } => stage_exists(flow, resume),
        Stage::Review | Stage::Done { .. } => true,
    }
}

/// The flow file changed under a conversation in progress (a lead edited it
/// and the bot restarted) and its question is gone. Start the questions
/// again rather than fail; record answers already given are kept.
fn restart_after_flow_change(flow: &Flow, mut c: Conversation) -> Step {
    c.decisions.clear();
    c.route = None;
    c.editing = false;
    c.flow_id = flow.id.clone();
    c.flow_version = flow.version.clone();
    c.flow_digest = flow.digest.clone();
    c.stage = Stage::Question {
        node: flow.start.clone(),
    };
    let again = prompt(flow, &c);
    asked_again(
        c,
        vec![format!(
            "The questions have been updated since you started, so I need to ask them again from the start. Sorry about that.\n\n{again}"
        )],
    )
}

fn answer_question(flow: &Flow, mut c: Conversation, q: &Question, input: Input, now: DateTime<Utc>) -> Step {
    let text = match input {
        Input::Text(text) => text,
        Input::Command(Command::Skip) => {
            let again = prompt(flow, &c);
            return asked_again(
                c,
                vec![format!(
                    "This question needs an answer, so that I can tell you what to do.\n\n{again}"
                )],
            );
        }
        // Empty, too long and the other commands are handled by step().
        _ => return asked_again(c.clone(), vec![prompt(flow, &c)]),
    };
    let options: Vec<(&str, &[String])> = q
        .options
        .iter()
        .map(|o| (o.label.as_str(), o.aliases.as_slice()))
        .collect();
    let picked = match parse::choose(&text, &options) {
        Choice::Picked(i) => i,
        Choice::Ambiguous(which) => {
            let list = which
                .iter()
                .map(|i| format!("{}. {}", i + 1, q.options[*i].label))
                .collect::<Vec<_>>()
                .join("\n");
            return asked_again(
                c,
                vec![format!("Which one do you mean? Type its number:\n{list}")],
            );
        }
        Choice::Unclear => {
            let again = prompt(flow, &c);
            return asked_again(c, vec![format!("Sorry, I didn't understand that.\n\n{again}")]);
        }
    };
    let option = &q.options[picked];
    c.decisions.push(Decision {
        question_id: q.id.clone(),
        question: q.text.clone(),
        answer: option.label.clone(),
    });
    match flow.node(&option.next) {
        Some(Node::Question(_)) => {
            c.stage = Stage::Question {
                node: option.next.clone(),
            };
            let text = prompt(flow, &c);
            advanced(c, vec![text])
        }
        Some(Node::Outcome(o)) => reach_outcome(flow, c, o, now),
        // A validated flow has no dangling targets.
        None => restart_after_flow_change(flow, c),
    }
}

fn reach_outcome(flow: &Flow, mut c: Conversation, o: &Outcome, now: DateTime<Utc>) -> Step {
    c.route = Some(o.id.clone());
    let mut actions = Vec::new();
    if o.page == PageWhen::Immediately && !c.urgent_paged {
        c.urgent_paged = true;
        actions.push(Action::PageLead { urgent: true });
        actions.push(Action::Save(Box::new(build_record(
            flow,
            &c,
            Status::InProgress,
            now,
        ))));
    }
    let mut guidance = o.guidance.trim().to_string();
    if !o.note_afterwards.trim().is_empty() {
        guidance.push_str(&format!(
            "\n\nAfterwards, please note: {}",
            o.note_afterwards.trim()
        ));
    }
    actions.push(Action::Reply(guidance));
    c.stage = next_after_outcome(flow, &c);
    let next = if c.stage == Stage::Review {
        c.editing = false;
        review_text(flow, &c)
    } else {
        let intro = if c.fields.is_empty() {
            "Now I'll ask a few questions for the record. Give the facts as you know them.\n\n"
        } else {
            ""
        };
        format!("{intro}{}", prompt(flow, &c))
    };
    actions.push(Action::Reply(next));
    Step {
        conversation: c,
        actions,
        kind: StepKind::Advanced,
    }
}

/// After an outcome: the first record question not yet answered, or the review.
fn next_after_outcome(flow: &Flow, c: &Conversation) -> Stage {
    first_unanswered(flow, c, 0).map_or(Stage::Review, |index| Stage::Field { index })
}

fn first_unanswered(flow: &Flow, c: &Conversation, from: usize) -> Option<usize> {
    (from..flow.record.len()).find(|i| !c.fields.contains_key(&flow.record[*i].id))
}

fn answer_field(flow: &Flow, mut c: Conversation, index: usize, input: Input) -> Step {
    let field = &flow.record[index];
    let value = match input {
        Input::Command(Command::Skip) if field.optional => None,
        Input::Command(Command::Skip) => {
            let again = prompt(flow, &c);
            return asked_again(
                c,
                vec![format!(
                    "This one needs an answer. If you don't know, say so in your own words.\n\n{again}"
                )],
            );
        }
        Input::Text(text) if !field.options.is_empty() => {
            let no_aliases: Vec<String> = Vec::new();
            let options: Vec<(&str, &[String])> = field
                .options
                .iter()
                .map(|o| (o.as_str(), no_aliases.as_slice()))
                .collect();
            match parse::choose(&text, &options) {
                Choice::Picked(i) => Some(field.options[i].clone()),
                Choice::Ambiguous(_) | Choice::Unclear => {
                    let again = prompt(flow, &c);
                    return asked_again(c, vec![format!("Sorry, I didn't understand that.\n\n{again}")]);
                }
            }
        }
        Input::Text(text) => Some(text),
        _ => return asked_again(c.clone(), vec![prompt(flow, &c)]),
    };
    c.fields.insert(field.id.clone(), value);
    let next = if c.editing {
        first_unanswered(flow, &c, 0)
    } else {
        first_unanswered(flow, &c, index + 1)
    };
    match next {
        Some(i) => {
            c.stage = Stage::Field { index: i };
            let text = prompt(flow, &c);
            advanced(c, vec![text])
        }
        None => {
            c.stage = Stage::Review;
            c.editing = false;
            let text = review_text(flow, &c);
            advanced(c, vec![text])
        }
    }
}

fn review(flow: &Flow, mut c: Conversation, input: Input, now: DateTime<Utc>) -> Step {
    let text = match input {
        Input::Text(text) => text,
        _ => {
            let again = review_text(flow, &c);
            return asked_again(c, vec![again]);
        }
    };
    let said = parse::normalise(&text);
    if matches!(
        said.as_str(),
        "send" | "submit" | "send it" | "done" | "ok" | "okay"
    ) || parse::is_yes(&said)
    {
        return submit(flow, c, now);
    }
    let items = c.decisions.len() + flow.record.len();
    match said.parse::<usize>() {
        Ok(n) if (1..=c.decisions.len()).contains(&n) => {
            let d = &c.decisions[n - 1];
            let node = d.question_id.clone();
            c.decisions.truncate(n - 1);
            c.route = None;
            c.editing = true;
            c.stage = Stage::Question { node };
            let text = prompt(flow, &c);
            advanced(c, vec![format!("Changing your answer.\n\n{text}")])
        }
        Ok(n) if n > c.decisions.len() && n <= items => {
            c.editing = true;
            c.stage = Stage::Field {
                index: n - c.decisions.len() - 1,
            };
            let text = prompt(flow, &c);
            advanced(c, vec![format!("Changing your answer.\n\n{text}")])
        }
        _ => asked_again(
            c,
            vec![format!(
                "Sorry, I didn't understand that. Type send to send your report, or a number from 1 to {items} to change that answer."
            )],
        ),
    }
}

fn submit(flow: &Flow, mut c: Conversation, now: DateTime<Utc>) -> Step {
    let record = build_record(flow, &c, Status::Submitted, now);
    let first_page = !c.urgent_paged && !c.incomplete_paged;
    let next_step = match flow.node(c.route.as_deref().unwrap_or_default()) {
        Some(Node::Outcome(o)) if o.page == PageWhen::Immediately => {
            "If you have not called 999 yet, call now.".to_string()
        }
        Some(Node::Outcome(o)) => format!(
            "Next step: {} ({}). The Lead or Deputy will take it; if they are not available, you must do it yourself.",
            o.title, o.contact
        ),
        _ => String::new(),
    };
    let mut actions = vec![Action::Save(Box::new(record))];
    if first_page {
        actions.push(Action::PageLead { urgent: false });
    }
    actions.push(Action::SendRecordToLead);
    actions.push(Action::Reply(
        format!(
            "Thank you. Your report is recorded as {}, and the Lead for Safeguarding has been told. Quote {} if you need to refer to it.\n{next_step}\nPlease don't discuss it with others, except on a need-to-know basis.",
            c.reference, c.reference
        )
        .replace("\n\n", "\n"),
    ));
    c.stage = Stage::Done {
        status: Status::Submitted,
    };
    Step {
        conversation: c,
        actions,
        kind: StepKind::Finished,
    }
}

fn withdraw(flow: &Flow, mut c: Conversation, now: DateTime<Utc>) -> Step {
    let record = build_record(flow, &c, Status::Withdrawn, now);
    let lead_knows = c.urgent_paged || c.incomplete_paged;
    let mut actions = vec![Action::Save(Box::new(record))];
    if lead_knows {
        actions.push(Action::SendRecordToLead);
    }
    actions.push(Action::Reply(format!(
        "Your report {} is cancelled. What you told me is kept, marked withdrawn, and the Lead for Safeguarding can see it.\nIf you are still worried about anyone, speak to the Lead or Deputy for Safeguarding. If anyone is in immediate danger, call 999.",
        c.reference
    )));
    c.stage = Stage::Done {
        status: Status::Withdrawn,
    };
    Step {
        conversation: c,
        actions,
        kind: StepKind::Finished,
    }
}

fn back(flow: &Flow, mut c: Conversation) -> Step {
    let previous = match &c.stage {
        Stage::Question { .. } => match c.decisions.pop() {
            Some(d) => Stage::Question { node: d.question_id },
            None => {
                let again = prompt(flow, &c);
                return explained(c, vec![format!("This is the first question.\n\n{again}")]);
            }
        },
        Stage::Field { index: 0 } => match c.decisions.pop() {
            Some(d) => {
                c.route = None;
                Stage::Question { node: d.question_id }
            }
            None => Stage::Question {
                node: flow.start.clone(),
            },
        },
        Stage::Field { index } => Stage::Field { index: index - 1 },
        Stage::Review => Stage::Field {
            index: flow.record.len().saturating_sub(1),
        },
        // Handled in step().
        Stage::ConfirmCancel { .. } | Stage::Done { .. } => c.stage.clone(),
    };
    c.stage = previous;
    let text = prompt(flow, &c);
    advanced(c, vec![text])
}

/// The question for the current stage, with its choices spelled out.
pub fn prompt(flow: &Flow, c: &Conversation) -> String {
    match &c.stage {
        Stage::Question { node } => match flow.node(node) {
            Some(Node::Question(q)) => question_text(q),
            _ => String::new(),
        },
        Stage::Field { index } => flow.record.get(*index).map(field_text).unwrap_or_default(),
        Stage::Review => review_text(flow, c),
        Stage::ConfirmCancel { .. } => format!(
            "Do you want to cancel report {}? What you have told me so far will be kept, marked withdrawn.\nType yes to cancel it, or no to carry on.",
            c.reference
        ),
        Stage::Done { status } => format!("Your report {} is {}.", c.reference, status.label()),
    }
}

fn numbered(labels: &[&str]) -> String {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{}. {l}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

fn how_to_answer(n: usize) -> String {
    let numbers: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    match numbers.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("Type {} or {last}.", rest.join(", ")),
        _ => "Type 1.".to_string(),
    }
}

fn question_text(q: &Question) -> String {
    let labels: Vec<&str> = q.options.iter().map(|o| o.label.as_str()).collect();
    let yes_no =
        labels.len() == 2 && labels[0].eq_ignore_ascii_case("yes") && labels[1].eq_ignore_ascii_case("no");
    let answer = if yes_no {
        "Type yes or no.".to_string()
    } else {
        how_to_answer(labels.len())
    };
    format!("{}\n{}\n{answer}", q.text.trim(), numbered(&labels))
}

fn field_text(f: &Field) -> String {
    let mut text = f.prompt.trim().to_string();
    if !f.options.is_empty() {
        let labels: Vec<&str> = f.options.iter().map(String::as_str).collect();
        text.push_str(&format!(
            "\n{}\n{}",
            numbered(&labels),
            how_to_answer(labels.len())
        ));
    }
    if f.optional && !text.to_lowercase().contains("skip") {
        text.push_str("\nIf you'd rather not say, type skip.");
    }
    text
}

/// The whole record, numbered so any answer can be changed.
fn review_text(flow: &Flow, c: &Conversation) -> String {
    let mut out = format!("Please check your report ({}) before you send it.\n", c.reference);
    let mut n = 0;
    for d in &c.decisions {
        n += 1;
        out.push_str(&format!("{n}. {} {}\n", d.question, d.answer));
    }
    if let Some(Node::Outcome(o)) = c.route.as_deref().and_then(|id| flow.node(id)) {
        out.push_str(&format!("What to do: {} ({})\n", o.title, o.contact));
    }
    for f in &flow.record {
        n += 1;
        let value = match c.fields.get(&f.id) {
            Some(Some(v)) if f.verbatim => format!("\"{v}\""),
            Some(Some(v)) => v.clone(),
            Some(None) => "(skipped)".to_string(),
            None => "(not answered)".to_string(),
        };
        out.push_str(&format!("{n}. {}: {value}\n", f.label));
    }
    out.push_str(&format!(
        "\nType send to send it to the Lead for Safeguarding, or a number from 1 to {n} to change that answer."
    ));
    out
}

fn help(flow: &Flow, c: &Conversation) -> String {
    let specific = match &c.stage {
        Stage::Question { node } => match flow.node(node) {
            Some(Node::Question(q)) => q.help.clone(),
            _ => None,
        },
        Stage::Field { index } => flow.record.get(*index).and_then(|f| f.help.clone()),
        Stage::Review => {
            Some("This is everything you have told me. Nothing is sent until you type send.".to_string())
        }
        _ => None,
    };
    let mut text = String::new();
    if let Some(s) = specific {
        text.push_str(s.trim());
        text.push_str("\n\n");
    }
    text.push_str(
        "You can type:\nback - go to the previous question\ncancel - stop this report (what you said so far is kept)\nhelp - this message\n\nIf anyone is in immediate danger, call 999 now.\n\n",
    );
    text.push_str(&prompt(flow, c));
    text
}
