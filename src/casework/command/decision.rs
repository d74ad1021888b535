//! `!decision TEXT because REASON`: a decision, never without its reason.

use super::text::{checked_len, clean};
use super::{LeadCommand, Written};
use crate::casework::{Casefile, EntryKind};

pub(super) fn parse(rest: &str) -> Result<LeadCommand, String> {
    const HOW: &str = "Write it like: !decision refer to the local authority because the child named an adult who asked to meet them";
    if rest.is_empty() {
        return Err(format!("Write the decision and the reason for it. {HOW}"));
    }
    checked_len(rest)?;
    // ASCII lowercase keeps every byte where it was, so the offset found
    // cuts `rest` in the same place (`to_lowercase` may change lengths).
    let lower = rest.to_ascii_lowercase();
    let Some(at) = find_word(&lower, "because") else {
        return Err(format!(
            "A decision needs its reason: the reason is what a reviewer reads. Nothing was recorded. {HOW}"
        ));
    };
    let text = clean(&rest[..at]);
    let reason = clean(&rest[at + "because".len()..]);
    if text.is_empty() {
        return Err(format!("Write the decision before \"because\". {HOW}"));
    }
    if reason.is_empty() {
        return Err(format!(
            "Write the reason after \"because\": the reason is what a reviewer reads. Nothing was recorded. {HOW}"
        ));
    }
    Ok(LeadCommand::Decision { text, reason })
}

/// The byte offset of `word` standing alone in `text` (ASCII lowercase).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    text.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let end = i + word.len();
        let after = end >= bytes.len() || !bytes[end].is_ascii_alphanumeric();
        before && after
    })
}

pub(super) fn apply<'a>(case: &'a Casefile, text: &str, reason: &str) -> Written<'a> {
    let r = &case.reference;
    Written::entry(
        EntryKind::Decision {
            text: text.to_string(),
            reason: reason.to_string(),
        },
        move |n| format!("Decision and its reason recorded as entry {n} of {r}."),
    )
}
