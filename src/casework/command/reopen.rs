//! `!reopen [REASON]`: a closed concern open again.

use super::text::checked_len;
use super::{LeadCommand, ReporterNotice, Written};
use crate::casework::{CaseStatus, Casefile, EntryKind};

pub(super) fn parse(rest: &str) -> Result<LeadCommand, String> {
    checked_len(rest).map(|_| LeadCommand::Reopen((!rest.is_empty()).then(|| rest.to_string())))
}

pub(super) fn apply<'a>(case: &'a Casefile, reason: &Option<String>) -> Result<Written<'a>, String> {
    let r = &case.reference;
    let status = case.status();
    if status != CaseStatus::Closed {
        return Err(format!("{r} is not closed: it is {status}. Nothing was changed."));
    }
    let mut written = Written::entry(
        EntryKind::Reopened {
            reason: reason.clone(),
        },
        move |n| format!("{r} is open again (entry {n})."),
    );
    written.tell_reporter = Some(ReporterNotice::Reopened);
    Ok(written)
}
