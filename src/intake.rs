//! Intake: the conversation engine joined to the store, for any transport.
//!
//! A transport hands over "this person wants to report" or "this person
//! said this" and gets back what to send, in order. Everything that must be
//! kept is kept here, flushed, before anything is handed back: the concern
//! record for each [`Action::Save`], and the conversation's new state, so a
//! restart resumes at the same question and a reply the reporter saw is
//! never one the bot has forgotten.

use chrono::{DateTime, Utc};

use crate::concern::{ConcernRecord, Reference};
use crate::conversation::{self, Action, Conversation, Stage, Step};
use crate::flow::Flow;
use crate::store::{Batch, Store, StoreError};

/// Something for the transport to send, in this order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// A message to the reporter, in their private room.
    Reply(String),
    /// Page the lead: reference, urgency and reporter only, never details.
    Page {
        reference: Reference,
        urgent: bool,
        reporter: String,
    },
    /// The record as it now stands, for the lead, where the page went.
    Record(Box<ConcernRecord>),
    /// The choices of the question the last reply asks, as buttons beside
    /// it, for a chat that can show them.
    Buttons(conversation::Buttons),
    /// The report was sent or withdrawn with this step: the replies before
    /// this are its confirmation.
    Finished,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the store failed while handling a report: {0}")]
    Store(#[from] StoreError),
}

impl IntakeError {
    /// What to tell the reporter when their message could not be handled.
    /// The words they sent are not lost on their side: they can send again.
    pub fn apology() -> String {
        "Sorry, something went wrong and I could not save that. Please send it again in a minute.\nIf anyone is in immediate danger, call 999 now. You can also tell the Lead or Deputy for Safeguarding directly.".to_string()
    }
}

/// The store key of a reporter's conversation.
fn key(reporter: &str) -> String {
    format!("reporter:{reporter}")
}

/// The reporter's conversation in progress, if any.
pub fn current(store: &Store, reporter: &str) -> Result<Option<Conversation>, IntakeError> {
    let c: Option<Conversation> = store.get_conversation(&key(reporter))?;
    Ok(c.filter(|c| !matches!(c.stage, Stage::Done { .. })))
}

/// Someone asked to report. A report already in progress is resumed at its
/// question, never started twice.
pub fn begin(
    store: &Store,
    flow: &Flow,
    reporter: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Outgoing>, IntakeError> {
    let mut batch = Batch::new();
    let out = begin_in(store, &mut batch, flow, reporter, None, now)?;
    store.commit(batch)?;
    Ok(out)
}

/// As [`begin`], staging what to keep in `batch` instead of writing it, so
/// the caller commits it with the effects. `message_id` is the request's
/// id, kept so the conversation knows the message that started it.
pub fn begin_in(
    store: &Store,
    batch: &mut Batch,
    flow: &Flow,
    reporter: &str,
    message_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<Outgoing>, IntakeError> {
    if let Some(c) = current(store, reporter)? {
        let mut out = vec![Outgoing::Reply(format!(
            "You already have a report in progress ({}). Let's carry on where you left off, or type cancel to stop it.\n\n{}",
            c.reference,
            conversation::prompt(flow, &c)
        ))];
        out.extend(conversation::buttons(flow, &c).map(Outgoing::Buttons));
        return Ok(out);
    }
    let reference = store.next_reference()?;
    let mut step = conversation::start(flow, reference, reporter, now);
    step.conversation.last_message = message_id.map(str::to_string);
    stage(store, batch, flow, reporter, step)
}

/// A message from a reporter. `None` when they have no report in progress.
///
/// `message_id` is the transport's id for the message. The same message
/// handed over twice (a replay after a crash between keeping the new state
/// and sending the reply) is not taken as a second answer: the reporter is
/// asked the current question again instead.
pub fn message(
    store: &Store,
    flow: &Flow,
    reporter: &str,
    text: &str,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Outgoing>>, IntakeError> {
    let mut batch = Batch::new();
    let out = message_in(store, &mut batch, flow, reporter, text, message_id, now)?;
    store.commit(batch)?;
    Ok(out)
}

/// As [`message`], staging what to keep in `batch` instead of writing it.
pub fn message_in(
    store: &Store,
    batch: &mut Batch,
    flow: &Flow,
    reporter: &str,
    text: &str,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Outgoing>>, IntakeError> {
    let Some(c) = current(store, reporter)? else {
        return Ok(None);
    };
    if c.last_message.as_deref() == Some(message_id) {
        let mut out = vec![Outgoing::Reply(conversation::prompt(flow, &c))];
        out.extend(conversation::buttons(flow, &c).map(Outgoing::Buttons));
        return Ok(Some(out));
    }
    let mut step = conversation::step(flow, c, text, now);
    step.conversation.last_message = Some(message_id.to_string());
    stage(store, batch, flow, reporter, step).map(Some)
}

/// Forgets the reporter's finished conversation if it was for `reference`:
/// it holds their answers, so it goes when the concern is deleted. Returns
/// whether there was one.
pub fn forget_finished(store: &Store, reporter: &str, reference: &Reference) -> Result<bool, StoreError> {
    let c: Option<Conversation> = store.get_conversation(&key(reporter))?;
    match c {
        Some(c) if c.reference == *reference && matches!(c.stage, Stage::Done { .. }) => {
            store.remove_conversation(&key(reporter))?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The reporter's latest conversation, in progress or finished, if the bot
/// still keeps it (it goes when the concern is deleted, or when they start
/// another).
pub fn latest(store: &Store, reporter: &str) -> Result<Option<Conversation>, StoreError> {
    store.get_conversation(&key(reporter))
}

/// The reference of the reporter's latest report, in progress or finished,
/// if the bot still keeps its conversation (see [`latest`]).
pub fn reference_of(store: &Store, reporter: &str) -> Result<Option<Reference>, StoreError> {
    let c: Option<Conversation> = store.get_conversation(&key(reporter))?;
    Ok(c.map(|c| c.reference))
}

/// Every reporter with a report in progress, read in one pass.
pub fn reporters_in_progress(store: &Store) -> Result<Vec<String>, IntakeError> {
    reporters_where(store, |c| !matches!(c.stage, Stage::Done { .. }))
}

/// Every reporter whose report in progress has been left untouched for
/// `after` and not yet passed on: read in one pass over the store.
pub fn reporters_due(
    store: &Store,
    now: DateTime<Utc>,
    after: chrono::Duration,
) -> Result<Vec<String>, IntakeError> {
    reporters_where(store, |c| {
        !matches!(c.stage, Stage::Done { .. }) && !c.incomplete_paged && now - c.updated_at >= after
    })
}

/// The reporters whose kept conversation passes `keep`, in one pass over
/// the store.
fn reporters_where(store: &Store, keep: impl Fn(&Conversation) -> bool) -> Result<Vec<String>, IntakeError> {
    Ok(store
        .conversations::<Conversation>()?
        .into_iter()
        .filter(|(_, c)| keep(c))
        .filter_map(|(k, _)| k.strip_prefix("reporter:").map(str::to_string))
        .collect())
}

/// A report left untouched too long goes to the lead, marked incomplete,
/// once. `None` when nothing is due for this reporter.
pub fn check_unfinished(
    store: &Store,
    flow: &Flow,
    reporter: &str,
    now: DateTime<Utc>,
    after: chrono::Duration,
) -> Result<Option<Vec<Outgoing>>, IntakeError> {
    let mut batch = Batch::new();
    let out = check_unfinished_in(store, &mut batch, flow, reporter, now, after)?;
    store.commit(batch)?;
    Ok(out)
}

/// As [`check_unfinished`], staging what to keep in `batch`.
pub fn check_unfinished_in(
    store: &Store,
    batch: &mut Batch,
    flow: &Flow,
    reporter: &str,
    now: DateTime<Utc>,
    after: chrono::Duration,
) -> Result<Option<Vec<Outgoing>>, IntakeError> {
    let Some(c) = current(store, reporter)? else {
        return Ok(None);
    };
    match conversation::check_abandoned(flow, &c, now, after) {
        Some(step) => stage(store, batch, flow, reporter, step).map(Some),
        None => Ok(None),
    }
}

/// Stages a step's store actions and the new state in `batch`, and returns
/// what the transport must send, to be committed with it.
fn stage(
    store: &Store,
    batch: &mut Batch,
    flow: &Flow,
    reporter: &str,
    step: Step,
) -> Result<Vec<Outgoing>, IntakeError> {
    let reference = step.conversation.reference.clone();
    let mut out = Vec::new();
    let mut latest: Option<ConcernRecord> = None;
    for action in step.actions {
        match action {
            Action::Save(record) => {
                let record = *record;
                store.stage_concern(batch, &record)?;
                // Who and what happened, never the content.
                store.audit(
                    record.recorded_at,
                    reporter,
                    "concern saved",
                    Some(&record.reference),
                    record.status.label(),
                )?;
                latest = Some(record);
            }
            Action::PageLead { urgent } => out.push(Outgoing::Page {
                reference: reference.clone(),
                urgent,
                reporter: reporter.to_string(),
            }),
            Action::SendRecordToLead => {
                let record = match latest.clone() {
                    Some(r) => Some(r),
                    None => store.get_concern(&reference)?,
                };
                if let Some(r) = record {
                    out.push(Outgoing::Record(Box::new(r)));
                }
            }
            Action::Reply(text) => out.push(Outgoing::Reply(text)),
        }
    }
    out.extend(conversation::buttons(flow, &step.conversation).map(Outgoing::Buttons));
    if step.kind == conversation::StepKind::Finished {
        out.push(Outgoing::Finished);
    }
    store.stage_conversation(batch, &key(reporter), &step.conversation)?;
    Ok(out)
}
