//! The commands that only read: `!show [SG-0042]`, `!list`, `!export
//! [pdf|html|md]`, `!stats [since DATE]`. Parsed here; shown by the bot,
//! which reads the store (`bot::commands`).

use super::LeadCommand;
use crate::concern::Reference;

pub(super) fn show(rest: &str) -> Result<LeadCommand, String> {
    match rest {
        "" => Ok(LeadCommand::Show(None)),
        r => r
            .parse::<Reference>()
            .map(|r| LeadCommand::Show(Some(r)))
            .map_err(|e| format!("{e}. Write it like: !show SG-0042")),
    }
}

pub(super) fn list(_rest: &str) -> Result<LeadCommand, String> {
    Ok(LeadCommand::List)
}

pub(super) fn export(rest: &str) -> Result<LeadCommand, String> {
    Ok(LeadCommand::Export((!rest.is_empty()).then(|| rest.to_string())))
}

pub(super) fn stats(rest: &str) -> Result<LeadCommand, String> {
    Ok(LeadCommand::Stats((!rest.is_empty()).then(|| rest.to_string())))
}
