//! Understanding what people type: commands, yes and no, an option's number
//! or its words.

/// The most characters one message may hold. Longer ones are refused with a
/// message that says so, rather than cut short without the reporter knowing.
pub const MAX_MESSAGE_CHARS: usize = 10_000;

const YES: &[&str] = &["y", "yes", "yeah", "yep", "yup", "ye", "yea", "aye"];
const NO: &[&str] = &["n", "no", "nope", "nah"];

/// A word that means the same at every step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Back,
    Cancel,
    Help,
    Skip,
}

/// A message after checks: a command, or text to answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Empty,
    TooLong { chars: usize },
    Command(Command),
    Text(String),
}

/// Cleans a message and sees whether it is a command. Control characters
/// other than newlines and tabs are dropped: they are never words, and could
/// upset a terminal that later shows the record.
pub fn read(raw: &str) -> Input {
    let chars = raw.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return Input::TooLong { chars };
    }
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    let text = cleaned.trim();
    if text.is_empty() {
        return Input::Empty;
    }
    let command = match normalise(text).as_str() {
        "back" | "go back" | "previous" | "undo" => Some(Command::Back),
        "cancel" | "stop" | "quit" | "exit" => Some(Command::Cancel),
        "help" | "?" | "what" => Some(Command::Help),
        "skip" | "pass" => Some(Command::Skip),
        _ => None,
    };
    match command {
        Some(c) => Input::Command(c),
        None => Input::Text(text.to_string()),
    }
}

/// Lower case, leading `!` or `/` dropped, punctuation at the ends dropped,
/// inner runs of spaces and commas folded to one space.
pub fn normalise(text: &str) -> String {
    let lower = text.trim().to_lowercase();
    let lower = lower.trim_start_matches(['!', '/']);
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .join(" ")
        .trim_matches(|c: char| matches!(c, '.' | '!' | '?' | ';' | ':' | '"' | '\'' | ')' | '('))
        .to_string()
}

pub fn is_yes(text: &str) -> bool {
    YES.contains(&normalise(text).as_str())
}

pub fn is_no(text: &str) -> bool {
    NO.contains(&normalise(text).as_str())
}

/// What an answer to a multiple-choice question picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    Picked(usize),
    /// Several options fit; these, by index.
    Ambiguous(Vec<usize>),
    Unclear,
}

/// Picks an option by its number (1-based), its label, one of its aliases,
/// or a common form of yes or no for an option whose label starts that way.
pub fn choose(text: &str, options: &[(&str, &[String])]) -> Choice {
    let said = normalise(text);
    let said = said.trim_end_matches('.');
    if let Ok(n) = said.parse::<usize>() {
        return if (1..=options.len()).contains(&n) {
            Choice::Picked(n - 1)
        } else {
            Choice::Unclear
        };
    }
    if let Some(i) = options
        .iter()
        .position(|(label, aliases)| normalise(label) == said || aliases.iter().any(|a| normalise(a) == said))
    {
        return Choice::Picked(i);
    }
    let starting_with = |words: &[&str]| -> Vec<usize> {
        options
            .iter()
            .enumerate()
            .filter(|(_, (label, _))| {
                let first = normalise(label);
                let first = first.split(' ').next().unwrap_or_default();
                words.contains(&first)
            })
            .map(|(i, _)| i)
            .collect()
    };
    let fits = if YES.contains(&said) {
        starting_with(&["yes"])
    } else if NO.contains(&said) {
        starting_with(&["no"])
    } else {
        Vec::new()
    };
    match fits.len() {
        0 => Choice::Unclear,
        1 => Choice::Picked(fits[0]),
        _ => Choice::Ambiguous(fits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts<'a>(labels: &'a [&'a str], aliases: &'a [Vec<String>]) -> Vec<(&'a str, &'a [String])> {
        labels
            .iter()
            .zip(aliases.iter())
            .map(|(l, a)| (*l, a.as_slice()))
            .collect()
    }

    #[test]
    fn yes_and_no_in_their_common_forms() {
        let aliases = vec![vec![], vec![]];
        let o = opts(&["Yes", "No"], &aliases);
        for y in ["y", "Yes", "YEAH", "yep", " yes. ", "1", "Yes!"] {
            assert_eq!(choose(y, &o), Choice::Picked(0), "{y}");
        }
        for n in ["n", "no", "Nope", "2", "NO."] {
            assert_eq!(choose(n, &o), Choice::Picked(1), "{n}");
        }
        for unclear in ["maybe", "3", "0", "yes no", "-1"] {
            assert_eq!(choose(unclear, &o), Choice::Unclear, "{unclear}");
        }
    }

    #[test]
    fn yes_is_ambiguous_between_two_yes_options() {
        let aliases = vec![vec!["child".to_string()], vec!["adult".to_string()], vec![]];
        let o = opts(&["Yes, a child", "Yes, an adult", "No"], &aliases);
        assert_eq!(choose("yes", &o), Choice::Ambiguous(vec![0, 1]));
        assert_eq!(choose("yes a child", &o), Choice::Picked(0));
        assert_eq!(choose("Yes, an adult", &o), Choice::Picked(1));
        assert_eq!(choose("adult", &o), Choice::Picked(1));
        assert_eq!(choose("nope", &o), Choice::Picked(2));
    }

    #[test]
    fn commands_are_recognised_whatever_the_case() {
        assert_eq!(read(" BACK "), Input::Command(Command::Back));
        assert_eq!(read("!cancel"), Input::Command(Command::Cancel));
        assert_eq!(read("Help?"), Input::Command(Command::Help));
        assert_eq!(read("skip"), Input::Command(Command::Skip));
        assert_eq!(
            read("back to the start of it"),
            Input::Text("back to the start of it".into())
        );
    }

    #[test]
    fn empty_long_and_control_characters() {
        assert_eq!(read(""), Input::Empty);
        assert_eq!(read(" \n\t\u{0}\u{7}"), Input::Empty);
        let long = "a".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(
            read(&long),
            Input::TooLong {
                chars: MAX_MESSAGE_CHARS + 1
            }
        );
        assert_eq!(
            read(&"é".repeat(MAX_MESSAGE_CHARS)),
            Input::Text("é".repeat(MAX_MESSAGE_CHARS))
        );
        assert_eq!(read("a\u{1b}[31mb\nc"), Input::Text("a[31mb\nc".into()));
    }
}
