//! Checks of the flowchart as a whole, once each part has been read: unique
//! ids, options that lead somewhere, a start, every node reachable, and an
//! outcome reachable from every question.
//!
//! To keep the report short and to the point, one mistake is not reported
//! again as another: an option leading to a misspelt id is taken, for the
//! reachability checks, to lead where it probably meant to (the suggested id),
//! or else to lead somewhere that is fine.

use std::collections::{BTreeMap, VecDeque};

use super::loader::{closest, fold, Ctx, Draft, ProblemKind, Text};

/// Where an option leads, for the graph checks.
#[derive(Clone, Copy)]
enum Target {
    Node(usize),
    /// An id that names nothing and resembles nothing: reported already; not
    /// held against the question for reachability.
    Unknown,
}

pub(super) fn check(ctx: &mut Ctx<'_>, draft: &Draft) {
    let index = unique_ids(ctx, draft);
    unique_record_ids(ctx, draft);
    ambiguous_answers(ctx, draft);

    let has_outcome = draft.nodes.iter().any(|n| !n.is_question);
    if !has_outcome {
        ctx.report(
            draft.flow_line,
            ProblemKind::NoOutcome,
            "this flow has no [[outcome]], so a concern could never be sent anywhere: add at least one \
             [[outcome]] saying who to contact and what to do"
                .to_string(),
        );
    }

    let all_ids: Vec<&str> = index.keys().copied().collect();

    // Where every option leads.
    let mut edges: Vec<Vec<Target>> = vec![Vec::new(); draft.nodes.len()];
    for (i, node) in draft.nodes.iter().enumerate() {
        for opt in &node.options {
            let Some(next) = &opt.next else { continue };
            if let Some(&j) = index.get(next.value.as_str()) {
                edges[i].push(Target::Node(j));
                continue;
            }
            let suggestion = closest(&next.value, all_ids.iter().copied());
            let hint = match suggestion {
                Some(s) => format!(" (did you mean \"{s}\"?)"),
                None => list_ids(". The questions and outcomes here are: ", &all_ids),
            };
            ctx.report(
                next.line,
                ProblemKind::UnknownTarget,
                format!(
                    "{} leads to \"{}\", which is not a question or outcome in this file{hint}",
                    opt.what, next.value
                ),
            );
            edges[i].push(match suggestion.and_then(|s| index.get(s)) {
                Some(&j) => Target::Node(j),
                None => Target::Unknown,
            });
        }
    }

    let start = check_start(ctx, draft, &index);

    // Every node reachable from the start.
    if let Some(start) = start {
        let mut seen = vec![false; draft.nodes.len()];
        seen[start] = true;
        let mut queue = VecDeque::from([start]);
        while let Some(i) = queue.pop_front() {
            for t in &edges[i] {
                if let Target::Node(j) = *t {
                    if !seen[j] {
                        seen[j] = true;
                        queue.push_back(j);
                    }
                }
            }
        }
        let start_id = draft.start.as_ref().map(|s| s.value.as_str()).unwrap_or_default();
        for (i, node) in draft.nodes.iter().enumerate() {
            let Some(id) = &node.id else { continue };
            // Only the first node with an id is reachable; the others are duplicates.
            if seen[i] || index.get(id.value.as_str()) != Some(&i) {
                continue;
            }
            ctx.report(
                node.line,
                ProblemKind::Unreachable,
                format!(
                    "{} can never be reached: no answer leads to it from the first question \"{start_id}\". \
                     Make an option lead to it with next = \"{}\", or remove it",
                    node.describe(),
                    id.value
                ),
            );
        }
    }

    // An outcome reachable from every question. Questions without options
    // are reported already, so they do not count as dead ends here.
    if has_outcome {
        let mut ok: Vec<bool> = draft
            .nodes
            .iter()
            .map(|n| !n.is_question || !n.has_options)
            .collect();
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..draft.nodes.len() {
                if !ok[i]
                    && edges[i].iter().any(|t| match *t {
                        Target::Node(j) => ok[j],
                        Target::Unknown => true,
                    })
                {
                    ok[i] = true;
                    changed = true;
                }
            }
        }
        for (i, node) in draft.nodes.iter().enumerate() {
            if ok[i] {
                continue;
            }
            let mut others = Vec::new();
            let mut seen = vec![false; draft.nodes.len()];
            seen[i] = true;
            let mut queue = VecDeque::from([i]);
            while let Some(k) = queue.pop_front() {
                for t in &edges[k] {
                    if let Target::Node(j) = *t {
                        if !seen[j] {
                            seen[j] = true;
                            others.push(draft.nodes[j].describe());
                            queue.push_back(j);
                        }
                    }
                }
            }
            let route = if others.is_empty() {
                "its answers only lead back to itself".to_string()
            } else {
                format!(
                    "its answers only lead to {} and back, in a loop",
                    join_words(&others)
                )
            };
            ctx.report(
                node.line,
                ProblemKind::NoOutcome,
                format!(
                    "no outcome can be reached from {}: {route}, so a reporter would go round in circles \
                     and never be told what to do. Make at least one of its options lead to an outcome, \
                     or to a question that does",
                    node.describe()
                ),
            );
        }
    }
}

/// Reports ids used twice across questions and outcomes, and returns each id
/// with the index of its first node.
fn unique_ids<'d>(ctx: &mut Ctx<'_>, draft: &'d Draft) -> BTreeMap<&'d str, usize> {
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, node) in draft.nodes.iter().enumerate() {
        let Some(id) = &node.id else { continue };
        match index.get(id.value.as_str()) {
            Some(&first) => {
                let first_node = &draft.nodes[first];
                let first_line = first_node.id.as_ref().map_or(first_node.line, |t| t.line);
                let kind = if node.is_question { "question" } else { "outcome" };
                ctx.report(
                    id.line,
                    ProblemKind::DuplicateId,
                    format!(
                        "the id \"{}\" of this {kind} is already used by {} on line {first_line}; every \
                         question and outcome needs its own id",
                        id.value,
                        first_node.describe()
                    ),
                );
            }
            None => {
                index.insert(id.value.as_str(), i);
            }
        }
    }
    index
}

fn unique_record_ids(ctx: &mut Ctx<'_>, draft: &Draft) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for field in &draft.record {
        let Some(id) = &field.id else { continue };
        match seen.get(id.value.as_str()) {
            Some(&first_line) => ctx.report(
                id.line,
                ProblemKind::DuplicateId,
                format!(
                    "the id \"{}\" of this record field is already used by the record field on line \
                     {first_line}; every record field needs its own id",
                    id.value
                ),
            ),
            None => {
                seen.insert(id.value.as_str(), id.line);
            }
        }
    }
}

/// Two options of one question that answer to the same word.
fn ambiguous_answers(ctx: &mut Ctx<'_>, draft: &Draft) {
    for node in &draft.nodes {
        // The folded word, the option it belongs to, and where it was first given.
        let mut words: Vec<(String, usize, &Text)> = Vec::new();
        for (k, opt) in node.options.iter().enumerate() {
            for word in opt.label.iter().chain(opt.aliases.iter()) {
                let folded = fold(&word.value);
                match words.iter().find(|(w, ..)| *w == folded) {
                    Some((_, other, first)) if *other != k => {
                        let first_opt = &node.options[*other];
                        ctx.report(
                            word.line,
                            ProblemKind::AmbiguousAnswer,
                            format!(
                                "{} answers to \"{}\", but so does {} (line {}), so the answer could not \
                                 tell them apart: change the label or alias of one of them",
                                opt.what, word.value, first_opt.what, first.line
                            ),
                        );
                    }
                    Some(_) => {}
                    None => words.push((folded, k, word)),
                }
            }
        }
    }
}

/// Checks `start` and returns the node the walk begins at, if any.
fn check_start(ctx: &mut Ctx<'_>, draft: &Draft, index: &BTreeMap<&str, usize>) -> Option<usize> {
    let start = draft.start.as_ref()?;
    let questions: Vec<&str> = draft
        .nodes
        .iter()
        .filter(|n| n.is_question)
        .filter_map(|n| n.id.as_ref().map(|t| t.value.as_str()))
        .collect();
    match index.get(start.value.as_str()) {
        Some(&i) if draft.nodes[i].is_question => Some(i),
        Some(_) => {
            ctx.report(
                start.line,
                ProblemKind::UnknownTarget,
                format!(
                    "start is \"{}\", which is an outcome; start must name the first question{}",
                    start.value,
                    list_ids(". The questions here are: ", &questions)
                ),
            );
            None
        }
        None => {
            let suggestion = closest(&start.value, questions.iter().copied());
            let hint = match suggestion {
                Some(s) => format!(" (did you mean \"{s}\"?)"),
                None => list_ids(". The questions here are: ", &questions),
            };
            ctx.report(
                start.line,
                ProblemKind::UnknownTarget,
                format!(
                    "start is \"{}\", which is not a question in this file{hint}",
                    start.value
                ),
            );
            suggestion.and_then(|s| index.get(s).copied())
        }
    }
}

fn list_ids(prefix: &str, ids: &[&str]) -> String {
    if ids.is_empty() || ids.len() > 15 {
        return String::new();
    }
    let quoted: Vec<String> = ids.iter().map(|i| format!("\"{i}\"")).collect();
    format!("{prefix}{}", quoted.join(", "))
}

fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
