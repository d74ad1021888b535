//! The leads' commands and the reporter's `!add`: one file a command, each
//! with how it is read and what it changes, side by side.
//!
//! [`parse`] looks the command's word up in [`COMMANDS`] and turns the rest of
//! the message into a [`LeadCommand`] (or a reply saying how to write it);
//! [`apply`] decides what a command that writes to the casefile does: the
//! new entry, the reply, and whether the reporter is told. Pure, with the
//! clock passed in. The views (`!show`, `!list`, `!stats`, `!export`) read
//! the store and are carried out by the bot.

mod action;
mod add;
mod category;
mod close;
mod correct;
mod decision;
mod help;
mod note;
mod reopen;
mod status;
mod text;
mod views;

use chrono::{DateTime, Utc};

use super::{CaseStatus, Casefile, Entry, EntryKind, RiskArea, RiskKind};
use crate::concern::Reference;

pub use add::{add_from_reporter, not_theirs, parse_add};
pub use category::category_choices;
pub use close::{outcome_choices, pick_outcome};
pub use help::{help_in_concern_room, help_in_leads_room};
pub use text::MAX_ENTRY_CHARS;

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

/// One command: the words that call it, and how the rest of the message is
/// read.
pub struct Spec {
    pub words: &'static [&'static str],
    parse: fn(&str) -> Result<LeadCommand, String>,
}

/// Every lead command, by the words that call it.
pub const COMMANDS: &[Spec] = &[
    Spec {
        words: &["!note"],
        parse: note::parse,
    },
    Spec {
        words: &["!action"],
        parse: action::parse,
    },
    Spec {
        words: &["!decision"],
        parse: decision::parse,
    },
    Spec {
        words: &["!correct", "!correction"],
        parse: correct::parse,
    },
    Spec {
        words: &["!category", "!categories"],
        parse: category::parse,
    },
    Spec {
        words: &["!status"],
        parse: status::parse,
    },
    Spec {
        words: &["!close"],
        parse: close::parse,
    },
    Spec {
        words: &["!reopen"],
        parse: reopen::parse,
    },
    Spec {
        words: &["!show"],
        parse: views::show,
    },
    Spec {
        words: &["!list"],
        parse: views::list,
    },
    Spec {
        words: &["!export"],
        parse: views::export,
    },
    Spec {
        words: &["!stats"],
        parse: views::stats,
    },
    Spec {
        words: &["!help", "!commands"],
        parse: help::parse,
    },
];

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
    let spec = COMMANDS.iter().find(|s| s.words.contains(&word.as_str()))?;
    Some((spec.parse)(rest))
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

/// What one command writes, before it is numbered: the entry and the
/// reply, which names the entry's number.
pub(super) struct Written<'a> {
    kind: EntryKind,
    reply: Box<dyn FnOnce(u32) -> String + 'a>,
    tell_reporter: Option<ReporterNotice>,
    close_escalation: bool,
}

impl<'a> Written<'a> {
    fn entry(kind: EntryKind, reply: impl FnOnce(u32) -> String + 'a) -> Self {
        Written {
            kind,
            reply: Box::new(reply),
            tell_reporter: None,
            close_escalation: false,
        }
    }
}

/// The reply to a change to a closed concern.
fn closed_hint(r: &Reference) -> String {
    format!("{r} is closed. Send !reopen first if it needs more work.")
}

/// Applies a command that writes an entry. `Err` holds the reply when it is
/// refused (and nothing is written). Commands that only read are refused
/// here: the bot shows them.
/// `outcomes` is the organisation's list a closing outcome is chosen from.
pub fn apply(
    case: &Casefile,
    command: &LeadCommand,
    outcomes: &[String],
    author: &str,
    now: DateTime<Utc>,
) -> Result<Applied, String> {
    let written = match command {
        LeadCommand::Note(text) => note::apply(case, text),
        LeadCommand::Action(text) => action::apply(case, text),
        LeadCommand::Decision { text, reason } => decision::apply(case, text, reason),
        LeadCommand::Correct { entry, text } => correct::apply(case, *entry, text)?,
        LeadCommand::Category(Some((areas, kinds))) => category::apply(case, areas, kinds),
        LeadCommand::Status(new) => status::apply(case, *new)?,
        LeadCommand::Close(outcome) => close::apply(case, outcome, outcomes)?,
        LeadCommand::Reopen(reason) => reopen::apply(case, reason)?,
        LeadCommand::Category(None)
        | LeadCommand::Show(_)
        | LeadCommand::List
        | LeadCommand::Export(_)
        | LeadCommand::Stats(_)
        | LeadCommand::Help => {
            return Err("That command does not write to the record.".to_string());
        }
    };
    let (casefile, entry) = case.with_entry(author, written.kind, now);
    Ok(Applied {
        reply: (written.reply)(entry.number),
        casefile,
        entry,
        tell_reporter: written.tell_reporter,
        close_escalation: written.close_escalation,
    })
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
