//! The reporter's `!add SG-0042 TEXT`: more about their own concern.

use chrono::{DateTime, Utc};

use super::text::{checked_len, clean};
use crate::casework::{Casefile, Entry, EntryKind};
use crate::concern::Reference;

/// Reads the reporter's `!add SG-0042 TEXT`. `None` if the message is not
/// an `!add`; `Some(Err(reply))` if it is written wrongly.
pub fn parse_add(body: &str) -> Option<Result<(Reference, String), String>> {
    let body = body.trim();
    let (word, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    if !word.eq_ignore_ascii_case("!add") {
        return None;
    }
    const HOW: &str = "Write the reference and what you want to add, for example: !add SG-0042 I remembered the account name was @example.";
    let rest = rest.trim();
    let (reference, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let Ok(reference) = reference.parse::<Reference>() else {
        return Some(Err(HOW.to_string()));
    };
    if text.trim().is_empty() {
        return Some(Err(HOW.to_string()));
    }
    if let Err(e) = checked_len(text) {
        return Some(Err(e));
    }
    Some(Ok((reference, clean(text))))
}

/// The answer to someone adding to a concern that is not theirs, or that
/// does not exist: the same either way.
pub fn not_theirs(reference: &Reference) -> String {
    format!(
        "I can't find a concern {reference} that you reported. Check the reference in the message you got when you reported it."
    )
}

/// The reporter adds to their own concern. `reported_by` is the record's
/// reporter, or `None` if there is no such concern; either way someone else
/// gets the same answer, so nobody learns whether a reference exists.
pub fn add_from_reporter(
    case: &Casefile,
    reported_by: Option<&str>,
    sender: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<(Casefile, Entry), String> {
    if reported_by != Some(sender) {
        return Err(not_theirs(&case.reference));
    }
    Ok(case.with_entry(
        sender,
        EntryKind::ReporterAdded {
            text: text.to_string(),
        },
        now,
    ))
}
