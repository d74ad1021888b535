//! `!status open|referred|monitoring`.

use super::{LeadCommand, Written};
use crate::casework::{CaseStatus, Casefile, EntryKind};

pub(super) fn parse(rest: &str) -> Result<LeadCommand, String> {
    parse_status(rest).map(LeadCommand::Status)
}

fn parse_status(rest: &str) -> Result<CaseStatus, String> {
    match rest.to_lowercase().trim_end_matches('.') {
        "open" => Ok(CaseStatus::Open),
        "referred" => Ok(CaseStatus::Referred),
        "monitoring" | "monitor" => Ok(CaseStatus::Monitoring),
        "closed" | "close" => Err(
            "To close a concern, use !close and the outcome's number, for example: !close 1 parent informed. Send !close on its own to see the outcomes."
                .to_string(),
        ),
        "" => Err("Write the new status: !status open, !status referred or !status monitoring".to_string()),
        other => Err(format!(
            "\"{other}\" is not a status. Write !status open, !status referred or !status monitoring"
        )),
    }
}

pub(super) fn apply(case: &Casefile, new: CaseStatus) -> Result<Written<'_>, String> {
    let r = &case.reference;
    let status = case.status();
    if status == CaseStatus::Closed {
        return Err(super::closed_hint(r));
    }
    if status == new {
        return Err(format!("{r} is already {new}. Nothing was changed."));
    }
    Ok(Written::entry(EntryKind::Status { status: new }, move |n| {
        format!("{r} is now {new} (entry {n}).")
    }))
}
