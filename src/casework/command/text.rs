//! What every command that takes words shares: the length limit and the
//! cleaning of what was typed.

/// The longest entry kept, in characters, as for a reporter's answer.
pub const MAX_ENTRY_CHARS: usize = 10_000;

pub(super) fn checked_len(text: &str) -> Result<(), String> {
    let n = text.chars().count();
    if n > MAX_ENTRY_CHARS {
        return Err(format!(
            "That is too long for one entry ({n} characters; the limit is 10,000). Split it into more than one message."
        ));
    }
    Ok(())
}

pub(super) fn text_of(rest: &str, command: &str, example: &str) -> Result<String, String> {
    if rest.is_empty() {
        return Err(format!(
            "Write what to record after {command}, for example: {command} {example}"
        ));
    }
    checked_len(rest)?;
    Ok(clean(rest))
}

/// Control characters other than newlines and tabs are dropped.
pub(super) fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .trim()
        .to_string()
}
