//! Rehearsal: walk a flow in the terminal as a reporter would.
//!
//! The same engine as in chat, with nothing kept and nobody paged: what the
//! bot would do is shown in square brackets. A lead tries a changed policy
//! here before it is deployed.

use std::io::{self, BufRead, Write};

use chrono::{DateTime, Utc};

use crate::concern::{ConcernRecord, Reference};
use crate::conversation::{self, Action, Stage, Step};
use crate::flow::Flow;

/// Runs one rehearsal from `input` to `output`, with the clock given.
/// Returns the last record the bot would have kept, if any.
pub fn run<R: BufRead, W: Write>(
    flow: &Flow,
    mut input: R,
    output: &mut W,
    mut now: impl FnMut() -> DateTime<Utc>,
) -> io::Result<Option<ConcernRecord>> {
    writeln!(
        output,
        "Rehearsing \"{}\" (version {}) from {}.\nNothing is kept and nobody is paged. Type your answers; press Ctrl-D to stop.\n",
        flow.title, flow.version, flow.source
    )?;
    let mut kept = None;
    let first = conversation::start(flow, Reference::new(0), "rehearsal", now());
    let mut conv = show(first, output, &mut kept)?;
    let mut line = String::new();
    loop {
        if matches!(conv.stage, Stage::Done { .. }) {
            break;
        }
        write!(output, "> ")?;
        output.flush()?;
        line.clear();
        if input.read_line(&mut line)? == 0 {
            writeln!(output, "\n[Rehearsal stopped before the report was finished.]")?;
            break;
        }
        let message = line.strip_suffix('\n').unwrap_or(&line);
        let next = conversation::step(flow, conv, message, now());
        conv = show(next, output, &mut kept)?;
    }
    if let Some(record) = &kept {
        writeln!(output, "\n[The record the bot would keep:]\n{}", record.to_text())?;
    }
    Ok(kept)
}

fn show<W: Write>(
    step: Step,
    output: &mut W,
    kept: &mut Option<ConcernRecord>,
) -> io::Result<conversation::Conversation> {
    for action in step.actions {
        match action {
            Action::Reply(text) => writeln!(output, "{text}\n")?,
            Action::PageLead { urgent: true } => {
                writeln!(output, "[The bot would page the lead now, as URGENT.]\n")?
            }
            Action::PageLead { urgent: false } => writeln!(output, "[The bot would page the lead now.]\n")?,
            Action::Save(record) => {
                writeln!(
                    output,
                    "[The bot would keep the record, {}.]\n",
                    record.status.label()
                )?;
                *kept = Some(*record);
            }
            Action::SendRecordToLead => writeln!(output, "[The bot would send the record to the lead.]\n")?,
        }
    }
    Ok(step.conversation)
}
