//! The flow loader: every mistake in a flow file is reported, with its line
//! and a message a safeguarding lead can act on; the real flows load.
//!
//! Each file in tests/data/ breaks a small valid flow (valid-minimal.toml)
//! in one way, except several-mistakes.toml.

use std::path::PathBuf;

use safeguarding_bot::flow::{self, Flow, FlowError, Node, PageWhen, Problem, ProblemKind};

const CLAPA: &str = "conversations/online-safety-referral.toml";
const CAUK: &str = "conversations/cauk-online-safety.toml";

fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn load(rel: &str) -> Flow {
    match flow::load_file(&path(rel)) {
        Ok(f) => f,
        Err(e) => panic!("{rel} should load: {e}"),
    }
}

/// The problems of a fixture, which must not load.
fn problems(name: &str) -> Vec<Problem> {
    let rel = format!("tests/data/{name}");
    let text = match std::fs::read_to_string(path(&rel)) {
        Ok(t) => t,
        Err(e) => panic!("cannot read {rel}: {e}"),
    };
    match flow::load_str(&text, &rel) {
        Ok(_) => panic!("{rel} should not load"),
        Err(FlowError::Invalid { file, problems }) => {
            assert_eq!(file, rel);
            assert!(!problems.is_empty(), "{rel}: an invalid flow must say why");
            for p in &problems {
                assert_eq!(p.file, rel);
            }
            let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
            let mut sorted = lines.clone();
            sorted.sort();
            assert_eq!(lines, sorted, "{rel}: problems are sorted by line");
            problems
        }
        Err(e) => panic!("{rel}: unexpected error {e}"),
    }
}

fn show(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{:?} {p}", p.kind))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts one of the problems has this kind, line and phrase.
fn has(problems: &[Problem], kind: ProblemKind, line: usize, phrase: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.kind == kind && p.line == line && p.message.contains(phrase)),
        "expected {kind:?} on line {line} containing {phrase:?}; got:\n{}",
        show(problems)
    );
}

/// Asserts the fixture has exactly one problem, of this kind, line and phrase.
fn only(name: &str, kind: ProblemKind, line: usize, phrase: &str) -> Problem {
    let problems = problems(name);
    assert_eq!(
        problems.len(),
        1,
        "{name} has one mistake; got:\n{}",
        show(&problems)
    );
    has(&problems, kind, line, phrase);
    problems.into_iter().next().expect("one problem")
}

#[test]
fn the_minimal_fixture_is_valid() {
    let f = load("tests/data/valid-minimal.toml");
    assert_eq!(f.start, "danger");
    assert_eq!(f.order, ["danger", "call_999", "police"]);
    assert_eq!(f.record.len(), 1);
}

#[test]
fn syntax_error() {
    only(
        "syntax-error.toml",
        ProblemKind::Syntax,
        19,
        "a text in quotes is not closed",
    );
}

#[test]
fn unknown_key_is_named_with_the_allowed_keys() {
    let p = only(
        "unknown-key.toml",
        ProblemKind::UnknownKey,
        32,
        "outcome \"police\" has a key \"no_attachment\"",
    );
    assert!(p.message.contains("did you mean \"no_attachments\"?"), "{p}");
    assert!(
        p.message
            .contains("id, title, agency, contact, guidance, note_afterwards, page, no_attachments"),
        "{p}"
    );
}

#[test]
fn missing_key() {
    only(
        "missing-key.toml",
        ProblemKind::MissingKey,
        26,
        "outcome \"police\" has no \"agency\"",
    );
}

#[test]
fn bad_value() {
    let p = only(
        "bad-value.toml",
        ProblemKind::BadValue,
        22,
        "\"page\" of outcome \"call_999\" is \"urgent\"",
    );
    assert!(
        p.message.contains("\"immediately\"") && p.message.contains("\"on_submit\""),
        "{p}"
    );
}

#[test]
fn duplicate_id_mentions_the_first() {
    only(
        "duplicate-id.toml",
        ProblemKind::DuplicateId,
        36,
        "the id \"police\" of this outcome is already used by outcome \"police\" on line 27",
    );
}

#[test]
fn unknown_target_suggests_the_closest_id() {
    let p = only(
        "unknown-target.toml",
        ProblemKind::UnknownTarget,
        14,
        "option \"No\" of question \"danger\" leads to \"polise\", which is not a question or outcome in this file (did you mean \"police\"?)",
    );
    assert_eq!(
        p.to_string(),
        format!("tests/data/unknown-target.toml:14: {}", p.message)
    );
}

#[test]
fn unreachable_node() {
    only(
        "unreachable.toml",
        ProblemKind::Unreachable,
        35,
        "outcome \"ceop\" can never be reached",
    );
}

#[test]
fn questions_that_only_loop_reach_no_outcome() {
    let problems = problems("no-outcome-reachable.toml");
    assert_eq!(problems.len(), 2, "{}", show(&problems));
    has(
        &problems,
        ProblemKind::NoOutcome,
        17,
        "no outcome can be reached from question \"known_person\"",
    );
    has(
        &problems,
        ProblemKind::NoOutcome,
        25,
        "no outcome can be reached from question \"other_crime\"",
    );
}

#[test]
fn a_flow_without_outcomes() {
    only(
        "no-outcome-at-all.toml",
        ProblemKind::NoOutcome,
        2,
        "this flow has no [[outcome]]",
    );
}

#[test]
fn question_without_options() {
    only(
        "no-options.toml",
        ProblemKind::NoOptions,
        17,
        "question \"known_person\" has no options",
    );
}

#[test]
fn question_with_an_empty_list_of_options() {
    only(
        "empty-options.toml",
        ProblemKind::NoOptions,
        20,
        "question \"known_person\" has an empty list of options",
    );
}

#[test]
fn several_mistakes_are_all_reported_at_once() {
    let problems = problems("several-mistakes.toml");
    let summary: Vec<(ProblemKind, usize)> = problems.iter().map(|p| (p.kind, p.line)).collect();
    assert_eq!(
        summary,
        [
            (ProblemKind::UnknownTarget, 14),
            (ProblemKind::BadValue, 22),
            (ProblemKind::MissingKey, 26),
            (ProblemKind::DuplicateId, 35),
            (ProblemKind::BadValue, 47),
            (ProblemKind::NoOptions, 53),
            (ProblemKind::UnknownKey, 54),
        ],
        "{}",
        show(&problems)
    );
    has(
        &problems,
        ProblemKind::UnknownTarget,
        14,
        "(did you mean \"police\"?)",
    );
    has(
        &problems,
        ProblemKind::BadValue,
        22,
        "\"page\" of outcome \"call_999\" is \"now\"",
    );
    has(
        &problems,
        ProblemKind::MissingKey,
        26,
        "outcome \"police\" has no \"note_afterwards\"",
    );
    has(
        &problems,
        ProblemKind::DuplicateId,
        35,
        "already used by outcome \"call_999\" on line 18",
    );
    has(
        &problems,
        ProblemKind::BadValue,
        47,
        "\"optional\" of record field \"what_seen\" must be true or false",
    );
    has(
        &problems,
        ProblemKind::NoOptions,
        53,
        "record field \"risk_area\" has an empty list of options",
    );
    has(&problems, ProblemKind::UnknownKey, 54, "a key \"colour\"");

    // The error itself lists them all, one a line, as the CLI shows it.
    let text = std::fs::read_to_string(path("tests/data/several-mistakes.toml")).expect("fixture");
    let err = flow::load_str(&text, "several-mistakes.toml").expect_err("invalid");
    let shown = err.to_string();
    assert!(
        shown.starts_with("several-mistakes.toml has 7 problem(s):\n"),
        "{shown}"
    );
    assert!(
        shown.contains("\nseveral-mistakes.toml:14: option \"No\""),
        "{shown}"
    );
}

#[test]
fn several_syntax_errors_are_all_reported() {
    let text = "[flow]\nid = \"x\nversion = \"1\"\n\n[[question]]\nid = known_person\n";
    let Err(FlowError::Invalid { problems, .. }) = flow::load_str(text, "x.toml") else {
        panic!("invalid TOML must not load");
    };
    has(&problems, ProblemKind::Syntax, 2, "not closed");
    has(&problems, ProblemKind::Syntax, 6, "double quotes");
    assert!(
        problems.iter().all(|p| p.kind == ProblemKind::Syntax),
        "{}",
        show(&problems)
    );
}

#[test]
fn start_must_name_a_question() {
    let text = std::fs::read_to_string(path("tests/data/valid-minimal.toml")).expect("fixture");
    let misspelt = text.replace("start = \"danger\"", "start = \"dangr\"");
    let Err(FlowError::Invalid { problems, .. }) = flow::load_str(&misspelt, "x.toml") else {
        panic!("a misspelt start must not load");
    };
    assert_eq!(problems.len(), 1, "{}", show(&problems));
    has(
        &problems,
        ProblemKind::UnknownTarget,
        6,
        "start is \"dangr\", which is not a question in this file (did you mean \"danger\"?)",
    );

    let outcome = text.replace("start = \"danger\"", "start = \"police\"");
    let Err(FlowError::Invalid { problems, .. }) = flow::load_str(&outcome, "x.toml") else {
        panic!("a start at an outcome must not load");
    };
    has(&problems, ProblemKind::UnknownTarget, 6, "which is an outcome");
}

#[test]
fn two_options_answering_to_the_same_word_are_reported() {
    let text = std::fs::read_to_string(path("tests/data/valid-minimal.toml")).expect("fixture");
    let clash = text.replace(
        "{ label = \"No\", next = \"police\" }",
        "{ label = \"No\", next = \"police\", aliases = [\"yes\"] }",
    );
    let Err(FlowError::Invalid { problems, .. }) = flow::load_str(&clash, "x.toml") else {
        panic!("ambiguous options must not load");
    };
    has(&problems, ProblemKind::AmbiguousAnswer, 14, "answers to \"yes\"");
}

#[test]
fn a_missing_file_is_a_read_error() {
    match flow::load_file(&path("tests/data/no-such-file.toml")) {
        Err(FlowError::Read { path, .. }) => assert!(path.ends_with("no-such-file.toml")),
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn the_clapa_flow_loads() {
    let f = load(CLAPA);
    assert_eq!(f.id, "clapa-online-safety-referral");
    assert_eq!(f.start, "immediate_danger");
    let questions: Vec<&str> = f
        .nodes_in_order()
        .filter_map(|n| match n {
            Node::Question(q) => Some(q.id.as_str()),
            Node::Outcome(_) => None,
        })
        .collect();
    assert_eq!(
        questions,
        [
            "immediate_danger",
            "child_sexual_content",
            "sexual_communication",
            "known_person"
        ]
    );
    let outcomes: Vec<&str> = f
        .nodes_in_order()
        .filter_map(|n| match n {
            Node::Outcome(o) => Some(o.id.as_str()),
            Node::Question(_) => None,
        })
        .collect();
    assert_eq!(
        outcomes,
        ["call_999", "iwf", "ceop", "local_police", "record_only"]
    );
    assert_eq!(f.order.len(), 9);
    match f.node("call_999") {
        Some(Node::Outcome(o)) => assert_eq!(o.page, PageWhen::Immediately),
        other => panic!("call_999 should be an outcome: {other:?}"),
    }
    match f.node("iwf") {
        Some(Node::Outcome(o)) => {
            assert!(o.no_attachments);
            assert_eq!(o.page, PageWhen::OnSubmit);
        }
        other => panic!("iwf should be an outcome: {other:?}"),
    }
    match f.node("sexual_communication") {
        Some(Node::Question(q)) => {
            assert_eq!(q.options.len(), 3);
            assert_eq!(q.options[0].aliases, ["child"]);
            assert_eq!(q.options[1].next, "local_police");
        }
        other => panic!("sexual_communication should be a question: {other:?}"),
    }
    assert_eq!(f.record.len(), 10);
    assert_eq!(f.record[0].id, "what_seen");
    let own_words = &f.record[1];
    assert!(own_words.optional && own_words.verbatim);
    let risk = f.record.iter().find(|r| r.id == "risk_area").expect("risk_area");
    assert_eq!(risk.options, ["Content", "Contact", "Conduct", "Not sure"]);
    assert!(f.source.ends_with(CLAPA));
}

#[test]
fn the_cauk_flow_loads() {
    let f = load(CAUK);
    assert_eq!(f.id, "cauk-safety-online");
    assert_eq!(
        f.order,
        ["immediate_danger", "call_999", "illegal_content", "iwf", "dsl"]
    );
    assert_eq!(f.record.len(), 7);
}

#[test]
fn the_digest_is_the_sha256_of_the_text() {
    use sha2::{Digest, Sha256};
    let text = std::fs::read_to_string(path(CLAPA)).expect("CLAPA flow");
    let f = flow::load_str(&text, "clapa").expect("valid");
    let expected: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(f.digest, expected);
    assert_eq!(f.digest.len(), 64);
    assert!(f
        .digest
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    // One changed word is a different flow.
    let changed =
        flow::load_str(&text.replacen("Dial 999 immediately", "Dial 999 now", 1), "clapa").expect("valid");
    assert_ne!(changed.digest, f.digest);
}

#[test]
fn the_clapa_chart_shows_every_question_and_outcome() {
    let f = load(CLAPA);
    let m = flow::mermaid(&f);
    assert!(m.starts_with("flowchart TD\n"), "{m}");
    for node in f.nodes_in_order() {
        match node {
            Node::Question(q) => assert!(m.contains(&q.text), "missing {:?} in\n{m}", q.text),
            Node::Outcome(o) => {
                assert!(m.contains(&o.title), "missing {:?}", o.title);
                assert!(m.contains(&format!("n_{} --> record_concern", o.id)), "{m}");
            }
        }
    }
    assert!(
        m.contains("Record the concern: What was seen or heard, Their own words"),
        "{m}"
    );
    assert!(m.contains("-->|\"Yes, a child\"| n_ceop"), "{m}");

    let d = flow::dot(&f);
    assert!(d.starts_with("digraph \"clapa-online-safety-referral\" {"), "{d}");
    assert!(
        d.contains("n_sexual_communication -> n_ceop [label=\"Yes, a child\"];"),
        "{d}"
    );
    assert_eq!(d.matches("-> record_concern;").count(), 5, "{d}");
}
