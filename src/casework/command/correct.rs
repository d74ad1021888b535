//! `!correct N TEXT`: a correction to entry N, added after it (the entry
//! itself never changes).

use super::text::{checked_len, clean};
use super::{LeadCommand, Written};
use crate::casework::{Casefile, EntryKind};

pub(super) fn parse(rest: &str) -> Result<LeadCommand, String> {
    const HOW: &str =
        "Write the number of the entry and the correction, for example: !correct 3 The call was on Tuesday, not Monday.";
    let (n, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let n = n.trim_start_matches('#');
    let Ok(entry) = n.parse::<u32>() else {
        return Err(HOW.to_string());
    };
    if text.trim().is_empty() {
        return Err(HOW.to_string());
    }
    checked_len(text)?;
    Ok(LeadCommand::Correct {
        entry,
        text: clean(text),
    })
}

pub(super) fn apply<'a>(case: &'a Casefile, entry: u32, text: &str) -> Result<Written<'a>, String> {
    let r = &case.reference;
    if case.entry(entry).is_none() {
        return Err(match case.entries.last() {
            None => format!("{r} has no entries yet, so there is nothing to correct."),
            Some(last) => format!(
                "There is no entry {entry} in {r}: its entries go from 1 to {}. Send !show to see them.",
                last.number
            ),
        });
    }
    Ok(Written::entry(
        EntryKind::Correction {
            corrects: entry,
            text: text.to_string(),
        },
        move |n| {
            format!("Correction recorded as entry {n} of {r}. Entry {entry} stays as it was, with this correction after it.")
        },
    ))
}
