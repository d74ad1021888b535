//! `!close N DETAILS`: closes a concern with an outcome from the
//! organisation's list; `!close` alone shows the list.

use super::text::{checked_len, clean};
use super::{LeadCommand, ReporterNotice, Written};
use crate::casework::{CaseStatus, Casefile, EntryKind};

/// The outcome is checked against the organisation's list in [`apply`].
pub(super) fn parse(rest: &str) -> Result<LeadCommand, String> {
    checked_len(rest).map(|_| LeadCommand::Close(clean(rest)))
}

pub(super) fn apply<'a>(
    case: &'a Casefile,
    outcome: &str,
    outcomes: &[String],
) -> Result<Written<'a>, String> {
    let r = &case.reference;
    if case.status() == CaseStatus::Closed {
        return Err(format!(
            "{r} is already closed (outcome: {}). Send !reopen first if it needs more work.",
            case.outcome().unwrap_or_else(|| "not given".to_string())
        ));
    }
    let (kind, detail) = pick_outcome(outcome, outcomes).ok_or_else(|| outcome_choices(outcome, outcomes))?;
    let shown = kind.clone();
    let mut written = Written::entry(
        EntryKind::Closed {
            kind: Some(kind),
            outcome: detail,
        },
        move |n| {
            format!(
                "{r} is closed as \"{shown}\" (entry {n}). If that is the wrong outcome, send !reopen and close it again. Its record will be deleted when the retention period has passed."
            )
        },
    );
    written.tell_reporter = Some(ReporterNotice::Closed);
    written.close_escalation = true;
    Ok(written)
}

/// Reads the words after `!close`: an outcome's number (`3`) or its name
/// as listed, in any case, then anything to add after a space, comma,
/// colon, semicolon, full stop or dash. Returns the outcome's name and what
/// was added, or `None` if no outcome was named.
pub fn pick_outcome(text: &str, outcomes: &[String]) -> Option<(String, String)> {
    let text = text.trim();
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (kind, rest) = if digits > 0 {
        let n: usize = text[..digits].parse().ok()?;
        (outcomes.get(n.checked_sub(1)?)?, &text[digits..])
    } else {
        // The longest name the text starts with, compared a character at a
        // time (lowercasing can change a character's length).
        outcomes
            .iter()
            .filter_map(|name| starts_with_name(text, name).map(|rest| (name, rest)))
            .max_by_key(|(name, _)| name.chars().count())?
    };
    // The outcome must end at a word's end: "1st" or "Otherwise" is not one.
    if rest.chars().next().is_some_and(char::is_alphanumeric) {
        return None;
    }
    let detail = rest
        .trim_start_matches(|c: char| {
            c.is_whitespace() || matches!(c, ',' | ':' | ';' | '.' | '-' | '–' | '—')
        })
        .trim_end();
    Some((kind.clone(), detail.to_string()))
}

/// What follows `name` at the start of `text`, ignoring case.
fn starts_with_name<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    let mut chars = text.char_indices();
    for n in name.chars() {
        let (_, t) = chars.next()?;
        if !t.to_lowercase().eq(n.to_lowercase()) {
            return None;
        }
    }
    Some(chars.next().map_or("", |(i, _)| &text[i..]))
}

/// The reply to `!close` without an outcome from the list (`given` is what
/// followed it): the choices.
pub fn outcome_choices(given: &str, outcomes: &[String]) -> String {
    let number: String = given.trim().chars().take_while(char::is_ascii_digit).collect();
    let mut out = if number.is_empty() {
        String::new()
    } else {
        format!("There is no outcome {number}. ")
    };
    out.push_str(
        "Which outcome? Send !close and its number, then anything to add. For example: !close 1 parent informed, no concerns now\n",
    );
    for (i, name) in outcomes.iter().enumerate() {
        out.push_str(&format!("{} {name}\n", i + 1));
    }
    out.push_str("Nothing was recorded yet.");
    out
}
