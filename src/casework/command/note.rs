//! `!note TEXT`: a note on the record.

use super::text::text_of;
use super::{LeadCommand, Written};
use crate::casework::{Casefile, EntryKind};

pub(super) fn parse(rest: &str) -> Result<LeadCommand, String> {
    text_of(rest, "!note", "Spoke to the parent by phone.").map(LeadCommand::Note)
}

pub(super) fn apply<'a>(case: &'a Casefile, text: &str) -> Written<'a> {
    let r = &case.reference;
    Written::entry(
        EntryKind::Note {
            text: text.to_string(),
        },
        move |n| format!("Noted as entry {n} of {r}."),
    )
}
