//! The leads' commands, parsed and applied, and the reporter's `!add`.
//!
//! [`parse`] turns a chat message into a [`LeadCommand`] (or a reply saying
//! how to write it); [`apply`] decides what a command that writes to the
//! casefile does: the new entry, the reply, and whether the reporter is told.
//! Pure, with the clock passed in. Views (`!show`, `!list`, `!stats`,
//! `!export`) read the store and are carried out by the transport.

use chrono::{DateTime, Utc};

use super::{CaseStatus, Casefile, Entry, EntryKind, RiskArea, RiskKind};
use crate::concern::Reference;

/// The longest entry kept, in characters, as for a reporter's answer.
pub const MAX_ENTRY_CHARS: usize = 10_000;

/// A lead's command, as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeadCommand {
    Note(String),
    Action(String),
    Decision {
        text: String,
        reason: String,
    },
    Correct {
        entry: u32,
        text: String,
    },
    /// `None`: show the choices and the current category.
    Category(Option<(Vec<RiskArea>, Vec<RiskKind>)>),
    Status(CaseStatus),
    /// The words after `!close`: an outcome's number or name from the
    /// organisation's list, then anything to add (empty: show the list).
    Close(String),
    Reopen(Option<String>),
    /// `!show` in a concern's room, `!show SG-0042` elsewhere.
    Show(Option<Reference>),
    List,
    /// The format asked for, as typed (`pdf` when none).
    Export(Option<String>),
    /// The words after `!stats`, such as "since 1 April 2026".
    Stats(Option<String>),
    Help,
}

impl LeadCommand {
    /// Whether the command writes an entry to a concern's casefile.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            LeadCommand::Note(_)
                | LeadCommand::Action(_)
                | LeadCommand::Decision { .. }
                | LeadCommand::Correct { .. }
                | LeadCommand::Category(Some(_))
                | LeadCommand::Status(_)
                | LeadCommand::Close(_)
                | LeadCommand::Reopen(_)
        )
    }
}

/// Reads a lead's command. `None` if the message is not one of them (it may
/// be `!ack`, a rota command, or a chat message); `Some(Err(reply))` if it is
/// one written wrongly, with a reply saying how to write it.
pub fn parse(body: &str) -> Option<Result<LeadCommand, String>> {
    let body = body.trim();
    let (word, rest) = match body.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (body, ""),
    };
    let word = word.to_lowercase();
    let rest_opt = (!rest.is_empty()).then(|| rest.to_string());
    let parsed = match word.as_str() {
        "!note" => text_of(rest, "!note", "Spoke to the parent by phone.").map(LeadCommand::Note),
        "!action" => text_of(rest, "!action", "referred to CEOP, ref 1234").map(LeadCommand::Action),
        "!decision" => parse_decision(rest),
        "!correct" | "!correction" => parse_correct(rest),
        "!category" | "!categories" => parse_category(rest).map(LeadCommand::Category),
        "!status" => parse_status(rest).map(LeadCommand::Status),
        // The outcome is checked against the organisation's list in `apply`.
        "!close" => checked_len(rest).map(|_| LeadCommand::Close(clean(rest))),
        "!reopen" => checked_len(rest).map(|_| LeadCommand::Reopen(rest_opt)),
        "!show" => match rest {
            "" => Ok(LeadCommand::Show(None)),
            r => r
                .parse::<Reference>()
                .map(|r| LeadCommand::Show(Some(r)))
                .map_err(|e| format!("{e}. Write it like: !show SG-0042")),
        },
        "!list" => Ok(LeadCommand::List),
        "!export" => Ok(LeadCommand::Export(rest_opt)),
        "!stats" => Ok(LeadCommand::Stats(rest_opt)),
        "!help" | "!commands" => Ok(LeadCommand::Help),
        _ => return None,
    };
    Some(parsed)
}

fn checked_len(text: &str) -> Result<(), String> {
    let n = text.chars().count();
    if n > MAX_ENTRY_CHARS {
        return Err(format!(
            "That is too long for one entry ({n} characters; the limit is 10,000). Split it into more than one message."
        ));
    }
    Ok(())
}

fn text_of(rest: &str, command: &str, example: &str) -> Result<String, String> {
    if rest.is_empty() {
        return Err(format!(
            "Write what to record after {command}, for example: {command} {example}"
        ));
    }
    checked_len(rest)?;
    Ok(clean(rest))
}

/// Control characters other than newlines and tabs are dropped.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .trim()
        .to_string()
}

fn parse_decision(rest: &str) -> Result<LeadCommand, String> {
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

fn parse_correct(rest: &str) -> Result<LeadCommand, String> {
    const HOW: &str =
        "Write the number of the entry and the correction, for example: !correct 3 The call was on Tuesday, not Monday.";
    let (n, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let n = n.trim_start_matches('#');
    let Ok(entry) = n.parse::<u32>() else {
        return Err(HOW.to_string());
    };
    if text.trim().is_empty() {
        return Err(HOW.to_string());
    }
    checked_len(text)?;
    Ok(LeadCommand::Correct {
        entry,
        text: clean(text),
    })
}

type Category = (Vec<RiskArea>, Vec<RiskKind>);

fn parse_category(rest: &str) -> Result<Option<Category>, String> {
    if rest.is_empty() {
        return Ok(None);
    }
    let mut areas = Vec::new();
    let mut kinds = Vec::new();
    for token in rest
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
    {
        let t = token.trim_end_matches('.').to_lowercase();
        if let Some(area) = RiskArea::ALL.iter().find(|a| a.label().eq_ignore_ascii_case(&t)) {
            push_unique(&mut areas, *area);
        } else if let Some(kind) = t
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| RiskKind::ALL.get(i))
            .or_else(|| RiskKind::ALL.iter().find(|k| k.keyword() == t))
        {
            push_unique(&mut kinds, *kind);
            if let Some(area) = kind.area() {
                push_unique(&mut areas, area);
            }
        } else {
            return Err(format!(
                "I don't know the category \"{token}\". Send !category to see the choices, then for example: !category 3 or !category grooming or !category contact"
            ));
        }
    }
    areas.sort();
    Ok(Some((areas, kinds)))
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
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

/// What the reporter is told about their concern. Never what the leads wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReporterNotice {
    Closed,
    Reopened,
}

/// What a command that writes to the casefile comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub casefile: Casefile,
    pub entry: Entry,
    /// The reply in the concern's room.
    pub reply: String,
    pub tell_reporter: Option<ReporterNotice>,
    /// The concern was closed: stop paging and reminders.
    pub close_escalation: bool,
}

/// Applies a command that writes an entry. `Err` holds the reply when it is
/// refused (and nothing is written). Commands that only read are refused
/// here: the transport shows them.
/// `outcomes` is the organisation's list a closing outcome is chosen from.
pub fn apply(
    case: &Casefile,
    command: &LeadCommand,
    outcomes: &[String],
    author: &str,
    now: DateTime<Utc>,
) -> Result<Applied, String> {
    let r = &case.reference;
    let status = case.status();
    let closed_hint = || format!("{r} is closed. Send !reopen first if it needs more work.");
    let (kind, reply_for, tell_reporter, close_escalation): (EntryKind, Box<dyn Fn(u32) -> String>, _, _) =
        match command {
            LeadCommand::Note(text) => (
                EntryKind::Note { text: text.clone() },
                Box::new(|n| format!("Noted as entry {n} of {r}.")),
                None,
                false,
            ),
            LeadCommand::Action(text) => (
                EntryKind::Action { text: text.clone() },
                Box::new(|n| format!("Action recorded as entry {n} of {r}.")),
                None,
                false,
            ),
            LeadCommand::Decision { text, reason } => (
                EntryKind::Decision {
                    text: text.clone(),
                    reason: reason.clone(),
                },
                Box::new(|n| format!("Decision and its reason recorded as entry {n} of {r}.")),
                None,
                false,
            ),
            LeadCommand::Correct { entry, text } => {
                if case.entry(*entry).is_none() {
                    return Err(match case.entries.last() {
                        None => format!("{r} has no entries yet, so there is nothing to correct."),
                        Some(last) => format!(
                            "There is no entry {entry} in {r}: its entries go from 1 to {}. Send !show to see them.",
                            last.number
                        ),
                    });
                }
                let corrects = *entry;
                (
                    EntryKind::Correction {
                        corrects,
                        text: text.clone(),
                    },
                    Box::new(move |n| {
                        format!("Correction recorded as entry {n} of {r}. Entry {corrects} stays as it was, with this correction after it.")
                    }),
                    None,
                    false,
                )
            }
            LeadCommand::Category(Some((areas, kinds))) => {
                let text = super::category_text(areas, kinds);
                (
                    EntryKind::Category {
                        areas: areas.clone(),
                        kinds: kinds.clone(),
                    },
                    Box::new(move |n| format!("Category of {r} set to {text} (entry {n}).")),
                    None,
                    false,
                )
            }
            LeadCommand::Status(new) => {
                if status == CaseStatus::Closed {
                    return Err(closed_hint());
                }
                if status == *new {
                    return Err(format!("{r} is already {new}. Nothing was changed."));
                }
                let new = *new;
                (
                    EntryKind::Status { status: new },
                    Box::new(move |n| format!("{r} is now {new} (entry {n}).")),
                    None,
                    false,
                )
            }
            LeadCommand::Close(outcome) => {
                if status == CaseStatus::Closed {
                    return Err(format!(
                        "{r} is already closed (outcome: {}). Send !reopen first if it needs more work.",
                        case.outcome().unwrap_or_else(|| "not given".to_string())
                    ));
                }
                let (kind, detail) =
                    pick_outcome(outcome, outcomes).ok_or_else(|| outcome_choices(outcome, outcomes))?;
                let shown = kind.clone();
                (
                    EntryKind::Closed {
                        kind: Some(kind),
                        outcome: detail,
                    },
                    Box::new(move |n| {
                        format!(
                            "{r} is closed as \"{shown}\" (entry {n}). If that is the wrong outcome, send !reopen and close it again. Its record will be deleted when the retention period has passed."
                        )
                    }),
                    Some(ReporterNotice::Closed),
                    true,
                )
            }
            LeadCommand::Reopen(reason) => {
                if status != CaseStatus::Closed {
                    return Err(format!("{r} is not closed: it is {status}. Nothing was changed."));
                }
                (
                    EntryKind::Reopened {
                        reason: reason.clone(),
                    },
                    Box::new(|n| format!("{r} is open again (entry {n}).")),
                    Some(ReporterNotice::Reopened),
                    false,
                )
            }
            LeadCommand::Category(None)
            | LeadCommand::Show(_)
            | LeadCommand::List
            | LeadCommand::Export(_)
            | LeadCommand::Stats(_)
            | LeadCommand::Help => {
                return Err("That command does not write to the record.".to_string());
            }
        };
    let (casefile, entry) = case.with_entry(author, kind, now);
    Ok(Applied {
        reply: reply_for(entry.number),
        casefile,
        entry,
        tell_reporter,
        close_escalation,
    })
}

/// The choices for `!category`, with the current category.
pub fn category_choices(case: &Casefile) -> String {
    let mut out = String::new();
    match case.category() {
        Some((areas, kinds)) => out.push_str(&format!(
            "{} is categorised as {}.\n",
            case.reference,
            super::category_text(areas, kinds)
        )),
        None => out.push_str(&format!("{} has no category yet.\n", case.reference)),
    }
    out.push_str("Set it with !category and one or more numbers or words, for example: !category 3 or !category grooming nudes\n");
    for (i, k) in RiskKind::ALL.iter().enumerate() {
        let area = k.area().map_or("", |a| a.label());
        out.push_str(&format!(
            "{}. {} ({}){}\n",
            i + 1,
            k.label(),
            k.keyword(),
            with_area(area)
        ));
    }
    out.push_str("Or an area on its own: content, contact, conduct or commerce.");
    out
}

/// Reads the words after `!close`: an outcome's number (`3`) or its name
/// as listed, in any case, then anything to add after a space, comma,
/// colon, semicolon, full stop or dash. Returns the outcome's name and what
/// was added, or `None` if no outcome was named.
pub fn pick_outcome(text: &str, outcomes: &[String]) -> Option<(String, String)> {
    let text = text.trim();
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (kind, rest) = if digits > 0 {
        let n: usize = text[..digits].parse().ok()?;
        (outcomes.get(n.checked_sub(1)?)?, &text[digits..])
    } else {
        // The longest name the text starts with, compared a character at a
        // time (lowercasing can change a character's length).
        outcomes
            .iter()
            .filter_map(|name| starts_with_name(text, name).map(|rest| (name, rest)))
            .max_by_key(|(name, _)| name.chars().count())?
    };
    // The outcome must end at a word's end: "1st" or "Otherwise" is not one.
    if rest.chars().next().is_some_and(char::is_alphanumeric) {
        return None;
    }
    let detail = rest
        .trim_start_matches(|c: char| {
            c.is_whitespace() || matches!(c, ',' | ':' | ';' | '.' | '-' | '–' | '—')
        })
        .trim_end();
    Some((kind.clone(), detail.to_string()))
}

/// What follows `name` at the start of `text`, ignoring case.
fn starts_with_name<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    let mut chars = text.char_indices();
    for n in name.chars() {
        let (_, t) = chars.next()?;
        if !t.to_lowercase().eq(n.to_lowercase()) {
            return None;
        }
    }
    Some(chars.next().map_or("", |(i, _)| &text[i..]))
}

/// The reply to `!close` without an outcome from the list (`given` is what
/// followed it): the choices.
pub fn outcome_choices(given: &str, outcomes: &[String]) -> String {
    let number: String = given.trim().chars().take_while(char::is_ascii_digit).collect();
    let mut out = if number.is_empty() {
        String::new()
    } else {
        format!("There is no outcome {number}. ")
    };
    out.push_str(
        "Which outcome? Send !close and its number, then anything to add. For example: !close 1 parent informed, no concerns now\n",
    );
    for (i, name) in outcomes.iter().enumerate() {
        out.push_str(&format!("{} {name}\n", i + 1));
    }
    out.push_str("Nothing was recorded yet.");
    out
}

fn with_area(area: &str) -> String {
    if area.is_empty() {
        String::new()
    } else {
        format!(", {area}")
    }
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

/// Reads the reporter's `!add SG-0042 TEXT`. `None` if the message is not
/// an `!add`; `Some(Err(reply))` if it is written wrongly.
pub fn parse_add(body: &str) -> Option<Result<(Reference, String), String>> {
    let body = body.trim();
    let (word, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    if !word.eq_ignore_ascii_case("!add") {
        return None;
    }
    const HOW: &str = "Write the reference and what you want to add, for example: !add SG-0042 I remembered the account name was @example.";
    let rest = rest.trim();
    let (reference, text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let Ok(reference) = reference.parse::<Reference>() else {
        return Some(Err(HOW.to_string()));
    };
    if text.trim().is_empty() {
        return Some(Err(HOW.to_string()));
    }
    if let Err(e) = checked_len(text) {
        return Some(Err(e));
    }
    Some(Ok((reference, clean(text))))
}

/// The answer to someone adding to a concern that is not theirs, or that
/// does not exist: the same either way.
pub fn not_theirs(reference: &Reference) -> String {
    format!(
        "I can't find a concern {reference} that you reported. Check the reference in the message you got when you reported it."
    )
}

/// The reporter adds to their own concern. `reported_by` is the record's
/// reporter, or `None` if there is no such concern; either way someone else
/// gets the same answer, so nobody learns whether a reference exists.
pub fn add_from_reporter(
    case: &Casefile,
    reported_by: Option<&str>,
    sender: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<(Casefile, Entry), String> {
    if reported_by != Some(sender) {
        return Err(not_theirs(&case.reference));
    }
    Ok(case.with_entry(
        sender,
        EntryKind::ReporterAdded {
            text: text.to_string(),
        },
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
    }

    fn outcomes() -> Vec<String> {
        crate::casework::DEFAULT_OUTCOMES.map(String::from).to_vec()
    }

    fn ok(body: &str) -> LeadCommand {
        parse(body).expect("a command").expect("well written")
    }

    fn refused(body: &str) -> String {
        parse(body).expect("a command").expect_err("refused")
    }

    #[test]
    fn commands_are_read_with_their_text() {
        assert_eq!(ok("!note  Called mum. "), LeadCommand::Note("Called mum.".into()));
        assert_eq!(ok("!NOTE hi"), LeadCommand::Note("hi".into()));
        assert_eq!(
            ok("!decision refer to LADO Because the adult works with children"),
            LeadCommand::Decision {
                text: "refer to LADO".into(),
                reason: "the adult works with children".into()
            }
        );
        assert_eq!(
            ok("!correct 3 it was Tuesday"),
            LeadCommand::Correct {
                entry: 3,
                text: "it was Tuesday".into()
            }
        );
        assert_eq!(ok("!status referred"), LeadCommand::Status(CaseStatus::Referred));
        assert_eq!(ok("!show sg-0042"), LeadCommand::Show(Some(Reference::new(42))));
        assert_eq!(ok("!show"), LeadCommand::Show(None));
        assert_eq!(
            ok("!stats since 1 April 2026"),
            LeadCommand::Stats(Some("since 1 April 2026".into()))
        );
        assert_eq!(
            ok("!category 3, nudes"),
            LeadCommand::Category(Some((
                vec![RiskArea::Contact, RiskArea::Conduct],
                vec![RiskKind::Grooming, RiskKind::Nudes]
            )))
        );
        assert_eq!(ok("!category"), LeadCommand::Category(None));
        assert_eq!(parse("!ack"), None);
        assert_eq!(parse("!away for 2 days"), None);
        assert_eq!(parse("hello"), None);
    }

    #[test]
    fn a_decision_without_a_reason_is_refused_and_says_why() {
        let reply = refused("!decision refer to the police");
        assert!(reply.contains("needs its reason"), "{reply}");
        assert!(reply.contains("Nothing was recorded"), "{reply}");
        assert!(refused("!decision refer because ").contains("after \"because\""));
        assert!(refused("!decision because it is serious").contains("before \"because\""));
        // "because" must stand alone, not inside another word.
        assert!(refused("!decision refer becausee it").contains("needs its reason"));
    }

    #[test]
    fn letters_that_change_length_when_lowercased_do_not_move_the_cut() {
        // 'İ' lowercases to two characters; the Kelvin sign to a shorter one.
        assert_eq!(
            ok("!decision refer İbrahim to LADO BECAUSE he works with children"),
            LeadCommand::Decision {
                text: "refer İbrahim to LADO".into(),
                reason: "he works with children".into()
            }
        );
        assert_eq!(
            ok("!decision \u{212A}eep watching because it may recur"),
            LeadCommand::Decision {
                text: "\u{212A}eep watching".into(),
                reason: "it may recur".into()
            }
        );
    }

    #[test]
    fn mistakes_are_answered_with_how_to_write_the_command() {
        assert!(refused("!note").contains("!note Spoke"));
        assert!(refused("!status closed").contains("!close"));
        assert!(refused("!status later").contains("\"later\" is not a status"));
        assert!(refused("!category spiders").contains("\"spiders\""));
        assert!(refused("!correct three it was").contains("!correct 3"));
        assert!(refused("!show 42").contains("SG-0042"));
        let long = format!("!note {}", "x".repeat(MAX_ENTRY_CHARS + 1));
        assert!(refused(&long).contains("too long"));
    }

    #[test]
    fn entries_are_appended_and_never_change() {
        let case = Casefile::new(Reference::new(7));
        let a = apply(&case, &ok("!note first"), &outcomes(), "@dsl:x", now()).unwrap();
        assert_eq!(a.entry.number, 1);
        assert_eq!(a.reply, "Noted as entry 1 of SG-0007.");
        let b = apply(
            &a.casefile,
            &ok("!correct 1 the first was wrong"),
            &outcomes(),
            "@deputy:x",
            now(),
        )
        .unwrap();
        assert_eq!(b.casefile.entries.len(), 2);
        assert_eq!(
            b.casefile.entries[0], a.entry,
            "the corrected entry stays as it was"
        );
        assert_eq!(
            b.entry.kind,
            EntryKind::Correction {
                corrects: 1,
                text: "the first was wrong".into()
            }
        );
        let err = apply(&b.casefile, &ok("!correct 9 x"), &outcomes(), "@dsl:x", now()).unwrap_err();
        assert!(err.contains("from 1 to 2"), "{err}");
    }

    #[test]
    fn closing_tells_the_reporter_and_stops_paging_once() {
        let case = Casefile::new(Reference::new(7));
        let closed = apply(
            &case,
            &ok("!close 1 parent informed"),
            &outcomes(),
            "@dsl:x",
            now(),
        )
        .unwrap();
        assert_eq!(closed.tell_reporter, Some(ReporterNotice::Closed));
        assert!(closed.close_escalation);
        assert_eq!(closed.casefile.status(), CaseStatus::Closed);
        let again = apply(&closed.casefile, &ok("!close done"), &outcomes(), "@dsl:x", now()).unwrap_err();
        assert!(
            again.contains("already closed (outcome: No further action, parent informed)"),
            "{again}"
        );
        let status = apply(
            &closed.casefile,
            &ok("!status monitoring"),
            &outcomes(),
            "@dsl:x",
            now(),
        )
        .unwrap_err();
        assert!(status.contains("!reopen"), "{status}");
        let reopened = apply(
            &closed.casefile,
            &ok("!reopen new information"),
            &outcomes(),
            "@dsl:x",
            now(),
        )
        .unwrap();
        assert_eq!(reopened.tell_reporter, Some(ReporterNotice::Reopened));
        assert_eq!(reopened.casefile.status(), CaseStatus::Open);
        let not_closed = apply(&reopened.casefile, &ok("!reopen"), &outcomes(), "@dsl:x", now()).unwrap_err();
        assert!(not_closed.contains("is not closed"), "{not_closed}");
    }

    #[test]
    fn closing_needs_an_outcome_from_the_list_by_number_or_name() {
        let list = outcomes();
        let pick = |text: &str| pick_outcome(text, &list);
        let got = |kind: &str, detail: &str| Some((kind.to_string(), detail.to_string()));
        assert_eq!(
            pick("6 PC Jones has the log"),
            got("Referred to the police", "PC Jones has the log")
        );
        assert_eq!(pick("6"), got("Referred to the police", ""));
        assert_eq!(pick("6: PC Jones"), got("Referred to the police", "PC Jones"));
        assert_eq!(
            pick("referred to the POLICE, PC Jones"),
            got("Referred to the police", "PC Jones")
        );
        assert_eq!(pick("No further action."), got("No further action", ""));
        assert_eq!(
            pick("other - moved to another group"),
            got("Other", "moved to another group")
        );
        // Not an outcome: the wrong number, a word that only starts like one,
        // free text, nothing.
        for text in [
            "0",
            "10",
            "99999999999999999999999",
            "1st",
            "Otherwise fine",
            "sorted",
            "",
        ] {
            assert_eq!(pick(text), None, "{text:?}");
        }
        // Letters whose lowercase is longer or shorter are compared whole.
        let odd = vec!["İnformed".to_string(), "\u{212A}ept".to_string()];
        assert_eq!(pick_outcome("İNFORMED then", &odd), got("İnformed", "then"));
        assert_eq!(pick_outcome("kept", &odd), got("\u{212A}ept", ""));

        // `!close` without one shows the numbered list and records nothing.
        let case = Casefile::new(Reference::new(7));
        for body in ["!close", "!close sorted now", "!close 12 done"] {
            let reply = apply(&case, &ok(body), &list, "@dsl:x", now()).unwrap_err();
            assert!(reply.contains("Which outcome?"), "{reply}");
            assert!(reply.contains("\n6 Referred to the police\n"), "{reply}");
            assert!(reply.contains("Nothing was recorded"), "{reply}");
        }
        let closed = apply(
            &case,
            &ok("!close 4 URL reported, ref 12"),
            &list,
            "@dsl:x",
            now(),
        )
        .unwrap();
        assert_eq!(
            closed.entry.kind,
            EntryKind::Closed {
                kind: Some("Reported to the IWF".into()),
                outcome: "URL reported, ref 12".into()
            }
        );
        assert_eq!(closed.casefile.outcome_kind(), Some("Reported to the IWF"));
        assert!(
            closed
                .reply
                .starts_with("SG-0007 is closed as \"Reported to the IWF\" (entry 1)."),
            "the reply names the outcome chosen: {}",
            closed.reply
        );
        let wrong = apply(&case, &ok("!close 12 done"), &list, "@dsl:x", now()).unwrap_err();
        assert!(
            wrong.starts_with("There is no outcome 12. Which outcome?"),
            "{wrong}"
        );
    }

    proptest::proptest! {
        #[test]
        fn no_message_makes_a_command_panic(s in "\\PC{0,80}") {
            let case = Casefile::new(Reference::new(1));
            for prefix in ["!decision ", "!note ", "!correct ", "!category ", "!status ", "!close ", "!reopen ", "!show ", "!stats ", ""] {
                let body = format!("{prefix}{s}");
                if let Some(Ok(c)) = parse(&body) {
                    let _ = apply(&case, &c, &outcomes(), "@dsl:x", now());
                }
                let _ = parse_add(&format!("!add SG-0001 {s}"));
                let _ = parse_add(&body);
            }
        }
    }

    #[test]
    fn only_the_reporter_adds_to_their_concern() {
        assert_eq!(parse_add("hello"), None);
        let (r, text) = parse_add("!add sg-0007 the account was @x").unwrap().unwrap();
        assert_eq!(r, Reference::new(7));
        assert_eq!(text, "the account was @x");
        assert!(parse_add("!add 7 text").unwrap().is_err());
        assert!(parse_add("!add SG-0007").unwrap().is_err());
        let case = Casefile::new(Reference::new(7));
        let (c, e) = add_from_reporter(&case, Some("@sam:x"), "@sam:x", "more", now()).unwrap();
        assert_eq!(c.entries.len(), 1);
        assert_eq!(e.kind, EntryKind::ReporterAdded { text: "more".into() });
        let other = add_from_reporter(&case, Some("@sam:x"), "@kim:x", "more", now()).unwrap_err();
        let missing = add_from_reporter(&case, None, "@kim:x", "more", now()).unwrap_err();
        assert_eq!(other, missing, "nobody learns whether a reference exists");
    }
}
