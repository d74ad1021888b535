//! Reads a flow file and validates it.
//!
//! The file is parsed with its source spans kept, then walked by hand so that
//! every mistake is found in one pass and reported with its line, in words a
//! safeguarding lead editing the file can act on. The checks of the flowchart
//! as a whole (ids, where options lead, what can be reached) are in
//! [`super::validate`]. A [`Flow`] is built only when there is no problem.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::model::{Choice, Field, Flow, Node, Outcome, PageWhen, Question};
use super::validate;

/// What kind of mistake a flow file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// The file is not valid TOML.
    Syntax,
    /// A key the flow format does not use (often a misspelling).
    UnknownKey,
    /// A required key, or the `[flow]` table, is missing.
    MissingKey,
    /// A value of the wrong type, or a value that is not allowed.
    BadValue,
    /// Two questions or outcomes (or two record fields) share an id.
    DuplicateId,
    /// An option's `next`, or `start`, names no node of the right kind.
    UnknownTarget,
    /// A question or outcome cannot be reached from `start`.
    Unreachable,
    /// The flow has no outcome, or a question from which no outcome can be reached.
    NoOutcome,
    /// A question without options, or an empty list of options.
    NoOptions,
    /// Two options of one question answer to the same word, so an answer
    /// could not tell them apart.
    AmbiguousAnswer,
}

/// One mistake in a flow file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// 1-based line of the file.
    pub line: usize,
    pub kind: ProblemKind,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("cannot read the flow file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has {} problem(s):\n{}", .file, .problems.len(), .problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid { file: String, problems: Vec<Problem> },
}

pub fn load_file(path: &Path) -> Result<Flow, FlowError> {
    let text = std::fs::read_to_string(path).map_err(|source| FlowError::Read {
        path: path.display().to_string(),
        source,
    })?;
    load_str(&text, &path.display().to_string())
}

/// Parses and validates a flow. `source` names the file in messages.
///
/// Every problem is reported at once, sorted by line. If the file is not
/// valid TOML, only the syntax errors are reported: the rest of the file
/// cannot be read reliably until they are fixed.
pub fn load_str(text: &str, source: &str) -> Result<Flow, FlowError> {
    let mut ctx = Ctx::new(text, source);
    let draft = read(&mut ctx);
    if let Some(draft) = &draft {
        validate::check(&mut ctx, draft);
    }
    let mut problems = ctx.problems;
    if problems.is_empty() {
        match draft.and_then(|d| build(d, text, source)) {
            Some(flow) => return Ok(flow),
            // Every incomplete part reports a problem, so this is not expected;
            // but a flow that cannot be built must never run.
            None => problems.push(Problem {
                file: source.to_string(),
                line: 1,
                kind: ProblemKind::BadValue,
                message: "this flow could not be read completely; please report this to the developers"
                    .to_string(),
            }),
        }
    }
    problems.sort_by_key(|p| p.line);
    Err(FlowError::Invalid {
        file: source.to_string(),
        problems,
    })
}

// ---------------------------------------------------------------------------
// Where problems are collected.

pub(super) struct Ctx<'t> {
    text: &'t str,
    file: String,
    line_starts: Vec<usize>,
    pub(super) problems: Vec<Problem>,
}

impl<'t> Ctx<'t> {
    fn new(text: &'t str, file: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Ctx {
            text,
            file: file.to_string(),
            line_starts,
            problems: Vec::new(),
        }
    }

    /// The 1-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }

    pub(super) fn report(&mut self, line: usize, kind: ProblemKind, message: String) {
        self.problems.push(Problem {
            file: self.file.clone(),
            line,
            kind,
            message,
        });
    }
}

// ---------------------------------------------------------------------------
// The file as read: every part kept with its line, complete or not.

/// A piece of text from the file and the line it is on.
#[derive(Clone, Debug)]
pub(super) struct Text {
    pub value: String,
    pub line: usize,
}

pub(super) struct Draft {
    /// Line of the `[flow]` header (1 if there is none).
    pub flow_line: usize,
    pub head: Option<Head>,
    pub start: Option<Text>,
    /// Questions and outcomes, in file order.
    pub nodes: Vec<DraftNode>,
    pub record: Vec<DraftField>,
}

pub(super) struct Head {
    pub id: String,
    pub version: String,
    pub title: String,
    pub intro: String,
}

pub(super) struct DraftNode {
    /// Line of the `[[question]]` or `[[outcome]]` header.
    pub line: usize,
    pub is_question: bool,
    pub id: Option<Text>,
    /// Where the options lead (questions only).
    pub options: Vec<DraftOption>,
    /// Did the question give at least one option (missing and empty lists are
    /// reported already)?
    pub has_options: bool,
    /// The node, if every part of it was read without a problem.
    pub node: Option<Node>,
}

impl DraftNode {
    /// How messages name this node: `question "known_person"`.
    pub fn describe(&self) -> String {
        describe_node(self.is_question, self.id.as_ref(), self.line)
    }
}

pub(super) struct DraftOption {
    /// How messages name this option: `option "Yes" of question "known_person"`.
    pub what: String,
    pub next: Option<Text>,
    /// The label and aliases, for spotting two options that answer to the same word.
    pub label: Option<Text>,
    pub aliases: Vec<Text>,
}

pub(super) struct DraftField {
    pub line: usize,
    pub id: Option<Text>,
    pub field: Option<Field>,
}

fn describe_node(is_question: bool, id: Option<&Text>, line: usize) -> String {
    let kind = if is_question { "question" } else { "outcome" };
    match id {
        Some(id) => format!("{kind} \"{}\"", id.value),
        None => format!("the {kind} on line {line}"),
    }
}

// ---------------------------------------------------------------------------
// Keys each table may have, with what each is for (used in messages).

const TOP_KEYS: &[&str] = &["flow", "question", "outcome", "record"];

const FLOW_KEYS: &[(&str, &str)] = &[
    (
        "id",
        "a short name for this flow, such as \"clapa-online-safety-referral\"",
    ),
    ("version", "the version of the policy this flow encodes"),
    ("title", "the flowchart's title, as a lead would recognise it"),
    ("start", "the id of the first question"),
    ("intro", "the first message a reporter sees"),
];

const QUESTION_KEYS: &[(&str, &str)] = &[
    ("id", "a short name for the question, such as \"known_person\""),
    ("text", "the question in the policy's own words"),
    ("help", "extra explanation shown when the reporter types help"),
    ("options", "the answers, each with a label and the id it leads to"),
];

const OPTION_KEYS: &[(&str, &str)] = &[
    ("label", "what the reporter sees, such as \"Yes\""),
    ("next", "the id of the question or outcome this answer leads to"),
    ("aliases", "other words that choose this answer"),
];

const OUTCOME_KEYS: &[(&str, &str)] = &[
    ("id", "a short name for the outcome, such as \"call_999\""),
    ("title", "a short name for the route, such as \"Call 999\""),
    ("agency", "who to contact"),
    ("contact", "how to reach them: a phone number or web address"),
    ("guidance", "what the reporter must do now, in plain words"),
    (
        "note_afterwards",
        "what to note afterwards, such as a reference number",
    ),
    ("page", "when the lead is paged: \"immediately\" or \"on_submit\""),
    ("no_attachments", "true where the route concerns illegal imagery"),
];

const RECORD_KEYS: &[(&str, &str)] = &[
    ("id", "a short name for the field, such as \"what_seen\""),
    ("label", "the short name shown in the review"),
    ("prompt", "the question asked"),
    ("help", "extra explanation shown when the reporter types help"),
    ("optional", "true if the reporter may answer skip"),
    (
        "verbatim",
        "true if the answer is the person's own words, quoted as given",
    ),
    ("options", "fixed choices, such as [\"Content\", \"Contact\"]"),
];

// ---------------------------------------------------------------------------
// Reading the file.

type Value<'i> = Spanned<DeValue<'i>>;

fn read(ctx: &mut Ctx<'_>) -> Option<Draft> {
    let text = ctx.text;
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in &errors {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let line = ctx.line(offset);
            let message = syntax_message(text, e.message(), e.span());
            ctx.report(line, ProblemKind::Syntax, message);
        }
        return None;
    }
    let root = root.get_ref();

    // Keys the format does not know, such as [[questions]].
    for (key, _) in root.iter() {
        let name: &str = key.get_ref();
        if !TOP_KEYS.contains(&name) {
            let line = ctx.line(key.span().start);
            let hint = match closest(name, TOP_KEYS.iter().copied()) {
                Some(s) => format!(" (did you mean [{s}]?)"),
                None => String::new(),
            };
            ctx.report(
                line,
                ProblemKind::UnknownKey,
                format!(
                    "unknown section or key \"{name}\"{hint}; a flow file has only [flow], [[question]], \
                     [[outcome]] and [[record]]"
                ),
            );
        }
    }

    let mut draft = Draft {
        flow_line: 1,
        head: None,
        start: None,
        nodes: Vec::new(),
        record: Vec::new(),
    };

    match root.get_key_value("flow") {
        None => ctx.report(
            1,
            ProblemKind::MissingKey,
            "the file has no [flow] section: add [flow] with id, version, title, start and intro".to_string(),
        ),
        Some((_, value)) => {
            draft.flow_line = ctx.line(value.span().start);
            match value.get_ref() {
                DeValue::Table(t) => read_head(ctx, t, draft.flow_line, &mut draft),
                other => ctx.report(
                    draft.flow_line,
                    ProblemKind::BadValue,
                    format!(
                        "\"flow\" must be a single section written [flow] (one pair of square brackets), \
                         but it is {}",
                        describe(other)
                    ),
                ),
            }
        }
    }

    for (key, is_question) in [("question", true), ("outcome", false)] {
        for (line, table) in tables(ctx, root, key) {
            let node = read_node(ctx, table, line, is_question);
            draft.nodes.push(node);
        }
    }
    draft.nodes.sort_by_key(|n| n.line);

    for (line, table) in tables(ctx, root, "record") {
        let field = read_field(ctx, table, line);
        draft.record.push(field);
    }
    draft.record.sort_by_key(|f| f.line);

    Some(draft)
}

/// Turns the parser's message into one a lead can act on.
fn syntax_message(text: &str, message: &str, span: Option<std::ops::Range<usize>>) -> String {
    let found = span
        .clone()
        .and_then(|s| text.get(s))
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.contains('\n'));
    if message.starts_with("duplicate key") {
        let header = span.and_then(|s| text.get(..s.start)).map(|before| {
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            before[line_start..].trim_start().starts_with('[')
        });
        if let (Some(name), Some(true)) = (found, header) {
            return format!(
                "the section [{name}] appears twice; there must be only one [{name}] \
                 (questions, outcomes and record fields are written [[question]], [[outcome]] and \
                 [[record]], with two pairs of square brackets)"
            );
        }
        if let Some(name) = found {
            return format!(
                "\"{name}\" is given twice in the same section; each key may appear only once \
                 (to add another question, outcome or record field, start a new [[question]], \
                 [[outcome]] or [[record]])"
            );
        }
    }
    if message.contains("must be quoted") {
        return format!(
            "this is not valid TOML: text must be in double quotes, for example id = \"known_person\" ({message})"
        );
    }
    if message.contains("invalid basic string") || message.contains("invalid multiline basic string") {
        return format!(
            "this is not valid TOML: a text in quotes is not closed; add the missing \" at its end \
             (for text over several lines, use three quotes \"\"\" at the start and the end) ({message})"
        );
    }
    format!("this is not valid TOML: {message}; nothing else in the file is checked until this is fixed")
}

/// The entries of `[[key]]`, each with the line of its header. A single
/// `[key]` is reported but still read, so that its mistakes are found too.
fn tables<'a, 'i>(ctx: &mut Ctx<'_>, root: &'a DeTable<'i>, key: &str) -> Vec<(usize, &'a DeTable<'i>)> {
    let mut out = Vec::new();
    let Some((_, value)) = root.get_key_value(key) else {
        return out;
    };
    let line = ctx.line(value.span().start);
    match value.get_ref() {
        DeValue::Array(items) => {
            for item in items.iter() {
                let item_line = ctx.line(item.span().start);
                match item.get_ref() {
                    DeValue::Table(t) => out.push((item_line, t)),
                    other => ctx.report(
                        item_line,
                        ProblemKind::BadValue,
                        format!(
                            "each {key} must be a section starting [[{key}]], but this is {}",
                            describe(other)
                        ),
                    ),
                }
            }
        }
        DeValue::Table(t) => {
            ctx.report(
                line,
                ProblemKind::BadValue,
                format!("write [[{key}]] with two pairs of square brackets, one for each {key}, not [{key}]"),
            );
            out.push((line, t));
        }
        other => ctx.report(
            line,
            ProblemKind::BadValue,
            format!(
                "\"{key}\" must be written as sections starting [[{key}]], but it is {}",
                describe(other)
            ),
        ),
    }
    out
}

fn read_head(ctx: &mut Ctx<'_>, table: &DeTable<'_>, line: usize, draft: &mut Draft) {
    let t = Fields::new(ctx, table, line, "the [flow] section".to_string(), FLOW_KEYS);
    t.unknown_keys(ctx, "");
    let id = t.id(ctx);
    let version = t.text(ctx, "version", true);
    let title = t.text(ctx, "title", true);
    draft.start = t.text(ctx, "start", true);
    let intro = t.text(ctx, "intro", true);
    if let (Some(id), Some(version), Some(title), Some(intro)) = (id, version, title, intro) {
        draft.head = Some(Head {
            id: id.value,
            version: version.value,
            title: title.value,
            intro: intro.value,
        });
    }
}

fn read_node(ctx: &mut Ctx<'_>, table: &DeTable<'_>, line: usize, is_question: bool) -> DraftNode {
    let (keys, extra) = if is_question {
        (
            QUESTION_KEYS,
            " (a question ends with its options; an outcome is where the flowchart ends)",
        )
    } else {
        (
            OUTCOME_KEYS,
            " (an outcome is where the flowchart ends, so it has no options or next)",
        )
    };
    let raw_id = peek_id(ctx, table);
    let what = describe_node(is_question, raw_id.as_ref(), line);
    let t = Fields::new(ctx, table, line, what.clone(), keys);
    t.unknown_keys(ctx, extra);
    let id = t.id(ctx);
    let mut draft = DraftNode {
        line,
        is_question,
        id: raw_id,
        options: Vec::new(),
        has_options: false,
        node: None,
    };
    if is_question {
        let text = t.text(ctx, "text", true);
        let help = t.text(ctx, "help", false);
        let help_ok = t.get("help").is_none() || help.is_some();
        let options = read_options(ctx, &t, &what);
        draft.has_options = options.as_ref().is_some_and(|o| !o.is_empty());
        let mut choices = Vec::new();
        let mut complete = options.is_some();
        for (opt, choice) in options.unwrap_or_default() {
            match choice {
                Some(c) => choices.push(c),
                None => complete = false,
            }
            draft.options.push(opt);
        }
        if let (Some(id), Some(text), true, true) = (&id, text, help_ok, complete) {
            draft.node = Some(Node::Question(Question {
                id: id.value.clone(),
                text: text.value,
                help: help.map(|h| h.value),
                options: choices,
            }));
        }
    } else {
        let title = t.text(ctx, "title", true);
        let agency = t.text(ctx, "agency", true);
        let contact = t.text(ctx, "contact", true);
        let guidance = t.text(ctx, "guidance", true);
        let note_afterwards = t.text(ctx, "note_afterwards", true);
        let page = t.page(ctx);
        let no_attachments = t.flag(ctx, "no_attachments");
        if let (
            Some(id),
            Some(title),
            Some(agency),
            Some(contact),
            Some(guidance),
            Some(note),
            Some(page),
            Some(na),
        ) = (
            &id,
            title,
            agency,
            contact,
            guidance,
            note_afterwards,
            page,
            no_attachments,
        ) {
            draft.node = Some(Node::Outcome(Outcome {
                id: id.value.clone(),
                title: title.value,
                agency: agency.value,
                contact: contact.value,
                guidance: guidance.value,
                note_afterwards: note.value,
                page,
                no_attachments: na,
            }));
        }
    }
    draft
}

/// A question's options: `None` if missing or not a list (reported), and for
/// each option its draft and, if complete, its [`Choice`].
fn read_options(
    ctx: &mut Ctx<'_>,
    t: &Fields<'_, '_>,
    what: &str,
) -> Option<Vec<(DraftOption, Option<Choice>)>> {
    let Some((line, value)) = t.get("options") else {
        ctx.report(
            t.line,
            ProblemKind::NoOptions,
            format!(
                "{what} has no options: add options = [{{ label = \"Yes\", next = \"...\" }}, \
                 {{ label = \"No\", next = \"...\" }}], each leading to a question or outcome"
            ),
        );
        return None;
    };
    let DeValue::Array(items) = value.get_ref() else {
        ctx.report(
            line,
            ProblemKind::BadValue,
            format!(
                "\"options\" of {what} must be a list in square brackets, such as \
                 [{{ label = \"Yes\", next = \"...\" }}], but it is {}",
                describe(value.get_ref())
            ),
        );
        return None;
    };
    if items.is_empty() {
        ctx.report(
            line,
            ProblemKind::NoOptions,
            format!(
                "{what} has an empty list of options: add at least one, such as \
                 {{ label = \"Yes\", next = \"...\" }}"
            ),
        );
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_line = ctx.line(item.span().start);
        let DeValue::Table(table) = item.get_ref() else {
            ctx.report(
                item_line,
                ProblemKind::BadValue,
                format!(
                    "option {} of {what} must be written {{ label = \"...\", next = \"...\" }}, but it is {}",
                    i + 1,
                    describe(item.get_ref())
                ),
            );
            continue;
        };
        let label_peek = table
            .get_key_value("label")
            .and_then(|(_, v)| v.get_ref().as_str().map(str::to_string))
            .filter(|s| !s.trim().is_empty());
        let opt_what = match &label_peek {
            Some(l) => format!("option \"{l}\" of {what}"),
            None => format!("option {} of {what}", i + 1),
        };
        let o = Fields::new(ctx, table, item_line, opt_what.clone(), OPTION_KEYS);
        o.unknown_keys(ctx, "");
        let label = o.text(ctx, "label", true);
        let next = o.text(ctx, "next", true);
        let aliases = o.texts(ctx, "aliases");
        let choice = match (&label, &next, &aliases) {
            (Some(label), Some(next), Some(aliases)) => Some(Choice {
                label: label.value.clone(),
                aliases: aliases.iter().map(|a| a.value.clone()).collect(),
                next: next.value.clone(),
            }),
            _ => None,
        };
        out.push((
            DraftOption {
                what: opt_what,
                next,
                label,
                aliases: aliases.unwrap_or_default(),
            },
            choice,
        ));
    }
    Some(out)
}

fn read_field(ctx: &mut Ctx<'_>, table: &DeTable<'_>, line: usize) -> DraftField {
    let raw_id = peek_id(ctx, table);
    let what = match &raw_id {
        Some(id) => format!("record field \"{}\"", id.value),
        None => format!("the record field on line {line}"),
    };
    let t = Fields::new(ctx, table, line, what.clone(), RECORD_KEYS);
    t.unknown_keys(ctx, "");
    let id = t.id(ctx);
    let label = t.text(ctx, "label", true);
    let prompt = t.text(ctx, "prompt", true);
    let help = t.text(ctx, "help", false);
    let help_ok = t.get("help").is_none() || help.is_some();
    let optional = t.flag(ctx, "optional");
    let verbatim = t.flag(ctx, "verbatim");
    let options = t.texts(ctx, "options");
    if let (Some(options), Some((opt_line, _))) = (&options, t.get("options")) {
        if options.is_empty() {
            ctx.report(
                opt_line,
                ProblemKind::NoOptions,
                format!(
                    "{what} has an empty list of options: list the choices, such as \
                     options = [\"Content\", \"Contact\"], or remove options for a free-text answer"
                ),
            );
        }
        let mut seen: Vec<(String, usize)> = Vec::new();
        for o in options {
            let key = fold(&o.value);
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
                ctx.report(
                    o.line,
                    ProblemKind::AmbiguousAnswer,
                    format!(
                        "{what} lists the choice \"{}\" twice (first on line {first}); each choice must be different",
                        o.value
                    ),
                );
            } else {
                seen.push((key, o.line));
            }
        }
    }
    let field = match (&id, label, prompt, help_ok, optional, verbatim, options) {
        (Some(id), Some(label), Some(prompt), true, Some(optional), Some(verbatim), Some(options)) => {
            Some(Field {
                id: id.value.clone(),
                label: label.value,
                prompt: prompt.value,
                help: help.map(|h| h.value),
                optional,
                verbatim,
                options: options.into_iter().map(|o| o.value).collect(),
            })
        }
        _ => None,
    };
    DraftField {
        line,
        id: raw_id,
        field,
    }
}

/// The id as written, if it is text, so messages can name the part.
fn peek_id(ctx: &Ctx<'_>, table: &DeTable<'_>) -> Option<Text> {
    let (_, v) = table.get_key_value("id")?;
    let s = v.get_ref().as_str()?.trim();
    if s.is_empty() {
        return None;
    }
    Some(Text {
        value: s.to_string(),
        line: ctx.line(v.span().start),
    })
}

/// Case- and space-insensitive form of an answer, to spot two that clash.
pub(super) fn fold(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .trim_matches(|c: char| c.is_ascii_punctuation())
        .to_string()
}

/// A table being read: its keys, with their lines.
struct Fields<'a, 'i> {
    entries: Vec<(&'a str, usize, usize, &'a Value<'i>)>,
    line: usize,
    what: String,
    keys: &'static [(&'static str, &'static str)],
}

impl<'a, 'i> Fields<'a, 'i> {
    fn new(
        ctx: &Ctx<'_>,
        table: &'a DeTable<'i>,
        line: usize,
        what: String,
        keys: &'static [(&'static str, &'static str)],
    ) -> Self {
        let entries = table
            .iter()
            .map(|(k, v)| {
                let name: &'a str = k.get_ref();
                (name, ctx.line(k.span().start), ctx.line(v.span().start), v)
            })
            .collect();
        Fields {
            entries,
            line,
            what,
            keys,
        }
    }

    /// The value of `key` and the line it is on.
    fn get(&self, key: &str) -> Option<(usize, &'a Value<'i>)> {
        self.entries
            .iter()
            .find(|(k, ..)| *k == key)
            .map(|(_, _, line, v)| (*line, *v))
    }

    fn unknown_keys(&self, ctx: &mut Ctx<'_>, extra: &str) {
        let allowed: Vec<&str> = self.keys.iter().map(|(k, _)| *k).collect();
        for (name, key_line, ..) in &self.entries {
            if allowed.contains(name) {
                continue;
            }
            let extra = if matches!(*name, "next" | "options") {
                extra
            } else {
                ""
            };
            let hint = match closest(name, allowed.iter().copied()) {
                Some(s) if extra.is_empty() => format!(" (did you mean \"{s}\"?)"),
                _ => String::new(),
            };
            ctx.report(
                *key_line,
                ProblemKind::UnknownKey,
                format!(
                    "{} has a key \"{name}\" that a flow file does not use{hint}{extra}; the keys allowed here are: {}",
                    self.what,
                    allowed.join(", ")
                ),
            );
        }
    }

    fn purpose(&self, key: &str) -> &'static str {
        self.keys
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, p)| *p)
            .unwrap_or("")
    }

    fn missing(&self, ctx: &mut Ctx<'_>, key: &str, example: &str) {
        ctx.report(
            self.line,
            ProblemKind::MissingKey,
            format!(
                "{} has no \"{key}\" ({}): add {key} = {example}",
                self.what,
                self.purpose(key)
            ),
        );
    }

    fn wrong_type(&self, ctx: &mut Ctx<'_>, line: usize, key: &str, expected: &str, value: &DeValue<'_>) {
        ctx.report(
            line,
            ProblemKind::BadValue,
            format!(
                "\"{key}\" of {} must be {expected}, but it is {}",
                self.what,
                describe(value)
            ),
        );
    }

    /// A text value. Reports it if missing (when required), not text, or empty.
    fn text(&self, ctx: &mut Ctx<'_>, key: &str, required: bool) -> Option<Text> {
        let Some((line, value)) = self.get(key) else {
            if required {
                self.missing(ctx, key, "\"...\"");
            }
            return None;
        };
        let Some(s) = value.get_ref().as_str() else {
            self.wrong_type(ctx, line, key, "text in double quotes", value.get_ref());
            return None;
        };
        if s.trim().is_empty() {
            let or_remove = if required { "" } else { ", or remove the line" };
            ctx.report(
                line,
                ProblemKind::BadValue,
                format!(
                    "\"{key}\" of {} is empty: fill in {}{or_remove}",
                    self.what,
                    self.purpose(key)
                ),
            );
            return None;
        }
        Some(Text {
            value: s.to_string(),
            line,
        })
    }

    /// The `id`: text of letters, digits, `_` and `-` only.
    fn id(&self, ctx: &mut Ctx<'_>) -> Option<Text> {
        let id = self.text(ctx, "id", true)?;
        let ok = id
            .value
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if !ok {
            let suggestion: String = id
                .value
                .trim()
                .chars()
                .map(|c| if c.is_alphanumeric() || c == '-' { c } else { '_' })
                .collect();
            ctx.report(
                id.line,
                ProblemKind::BadValue,
                format!(
                    "the id \"{}\" of {} may use only letters, digits, _ and - (no spaces or punctuation): \
                     try \"{suggestion}\"",
                    id.value, self.what
                ),
            );
            return None;
        }
        Some(id)
    }

    /// A true/false value; false when absent.
    fn flag(&self, ctx: &mut Ctx<'_>, key: &str) -> Option<bool> {
        let Some((line, value)) = self.get(key) else {
            return Some(false);
        };
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.wrong_type(ctx, line, key, "true or false (without quotes)", other);
                None
            }
        }
    }

    /// A list of non-empty texts; empty when absent.
    fn texts(&self, ctx: &mut Ctx<'_>, key: &str) -> Option<Vec<Text>> {
        let Some((line, value)) = self.get(key) else {
            return Some(Vec::new());
        };
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type(
                ctx,
                line,
                key,
                "a list of texts in double quotes, such as [\"one\", \"two\"]",
                value.get_ref(),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items.iter() {
            let item_line = ctx.line(item.span().start);
            match item.get_ref().as_str() {
                Some(s) if !s.trim().is_empty() => out.push(Text {
                    value: s.to_string(),
                    line: item_line,
                }),
                Some(_) => {
                    ok = false;
                    ctx.report(
                        item_line,
                        ProblemKind::BadValue,
                        format!("\"{key}\" of {} has an empty entry \"\": remove it", self.what),
                    );
                }
                None => {
                    ok = false;
                    ctx.report(
                        item_line,
                        ProblemKind::BadValue,
                        format!(
                            "each entry of \"{key}\" of {} must be text in double quotes, but one is {}",
                            self.what,
                            describe(item.get_ref())
                        ),
                    );
                }
            }
        }
        ok.then_some(out)
    }

    fn page(&self, ctx: &mut Ctx<'_>) -> Option<PageWhen> {
        let Some((line, value)) = self.get("page") else {
            self.missing(ctx, "page", "\"immediately\" or page = \"on_submit\"");
            return None;
        };
        let allowed = "\"immediately\" (page the lead at once, as urgent) or \"on_submit\" \
                       (page the lead when the reporter submits)";
        match value.get_ref().as_str() {
            Some("immediately") => Some(PageWhen::Immediately),
            Some("on_submit") => Some(PageWhen::OnSubmit),
            Some(other) => {
                let hint = match closest(other, ["immediately", "on_submit"]) {
                    Some(s) => format!(" (did you mean \"{s}\"?)"),
                    None => String::new(),
                };
                ctx.report(
                    line,
                    ProblemKind::BadValue,
                    format!(
                        "\"page\" of {} is \"{other}\"{hint}, but it must be {allowed}",
                        self.what
                    ),
                );
                None
            }
            None => {
                self.wrong_type(ctx, line, "page", allowed, value.get_ref());
                None
            }
        }
    }
}

/// A value as a lead would call it, for "but it is ..." in messages.
fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("the text \"{}\"", shorten(s)),
        DeValue::Integer(i) => format!("the number {i}"),
        DeValue::Float(f) => format!("the number {f}"),
        DeValue::Boolean(b) => format!("{b} (a yes/no value)"),
        DeValue::Datetime(d) => format!("the date {d}"),
        DeValue::Array(_) => "a list in square brackets".to_string(),
        DeValue::Table(_) => "a section or { ... } table".to_string(),
    }
}

fn shorten(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 40 {
        let cut: String = s.chars().take(37).collect();
        format!("{cut}...")
    } else {
        s.to_string()
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely
/// misspelling.
pub(super) fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let w = word.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = levenshtein(&w, &c.to_lowercase());
        let limit = (w.chars().count().max(c.chars().count()) / 3).max(2);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let v = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(v);
        }
        prev = cur;
    }
    prev[b.len()]
}

// ---------------------------------------------------------------------------
// Building the flow once there is no problem.

fn build(draft: Draft, text: &str, source: &str) -> Option<Flow> {
    let head = draft.head?;
    let start = draft.start?.value;
    let mut nodes = std::collections::BTreeMap::new();
    let mut order = Vec::new();
    for n in draft.nodes {
        let node = n.node?;
        order.push(node.id().to_string());
        nodes.insert(node.id().to_string(), node);
    }
    let record = draft
        .record
        .into_iter()
        .map(|f| f.field)
        .collect::<Option<Vec<_>>>()?;
    let digest = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Some(Flow {
        id: head.id,
        version: head.version,
        title: head.title,
        intro: head.intro,
        start,
        nodes,
        order,
        record,
        digest,
        source: source.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let ctx = Ctx::new("a\nb\n\nc", "x");
        assert_eq!(ctx.line(0), 1);
        assert_eq!(ctx.line(1), 1);
        assert_eq!(ctx.line(2), 2);
        assert_eq!(ctx.line(4), 3);
        assert_eq!(ctx.line(5), 4);
    }

    #[test]
    fn closest_finds_misspellings_only() {
        assert_eq!(closest("polise", ["police", "iwf", "ceop"]), Some("police"));
        assert_eq!(closest("optoins", ["id", "text", "options"]), Some("options"));
        assert_eq!(closest("banana", ["police", "iwf"]), None);
    }

    #[test]
    fn levenshtein_counts_edits() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }
}
