//! `!action TEXT`: something done, such as a referral made.

use super::text::text_of;
use super::{LeadCommand, Written};
use crate::casework::{Casefile, EntryKind};

pub(super) fn parse(rest: &str) -> Result<LeadCommand, String> {
    text_of(rest, "!action", "referred to CEOP, ref 1234").map(LeadCommand::Action)
}

pub(super) fn apply<'a>(case: &'a Casefile, text: &str) -> Written<'a> {
    let r = &case.reference;
    Written::entry(
        EntryKind::Action {
            text: text.to_string(),
        },
        move |n| format!("Action recorded as entry {n} of {r}."),
    )
}
