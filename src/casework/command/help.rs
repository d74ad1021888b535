//! `!help`: what the leads can do, where they are.

use super::LeadCommand;

pub(super) fn parse(_rest: &str) -> Result<LeadCommand, String> {
    Ok(LeadCommand::Help)
}

/// `!help` in a concern's room.
pub fn help_in_concern_room() -> String {
    "What the Lead and Deputies can do in this room:\n\
     !ack - acknowledge the concern (or react with ✅)\n\
     !note TEXT - add a note\n\
     !action TEXT - record something done, for example: !action referred to CEOP, ref 1234\n\
     !decision TEXT because REASON - record a decision and why\n\
     !correct N TEXT - correct entry N (the entry stays; the correction is added after it)\n\
     !category - see or set the risk area and kind\n\
     !status open, !status referred or !status monitoring\n\
     !close N DETAILS - close it with outcome number N (send !close to see them); !reopen to open it again\n\
     !show - the whole record and its chronology\n\
     !export - the record as a PDF to send with a referral (or !export html, !export md)\n\
     !away, !back, !cover, !rota - who is on duty\n\
     !list, !stats - as in the leads' room\n\
     Nothing written here is ever edited, and the reporter sees none of it. \
     To put an entry right, use !correct; editing your message changes nothing."
        .to_string()
}

/// `!help` in the leads' room.
pub fn help_in_leads_room() -> String {
    "What the Lead and Deputies can do in this room:\n\
     !list - open concerns, urgent first\n\
     !show SG-0042 - one concern, its record and chronology\n\
     !stats - figures for the annual review (or !stats since 1 April 2026)\n\
     !away, !back, !cover, !rota - who is on duty\n\
     Everything else about a concern is done in that concern's own room."
        .to_string()
}
