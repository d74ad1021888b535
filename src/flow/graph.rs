//! The flow as a chart a lead can read: Mermaid (renders in GitHub, GitLab
//! and many wikis) or Graphviz DOT.
//!
//! Questions are decisions showing their full text, outcomes are boxes with
//! their title and agency, edges carry the option labels, and every outcome
//! leads to a last box listing what the careful record asks.

use std::collections::BTreeMap;

use super::model::{Flow, Node, PageWhen};

/// The last box of the chart: what is recorded after any outcome.
fn record_label(flow: &Flow) -> String {
    let labels: Vec<&str> = flow.record.iter().map(|f| f.label.trim()).collect();
    if labels.is_empty() {
        "Record the concern".to_string()
    } else {
        format!("Record the concern: {}", labels.join(", "))
    }
}

/// Identifiers safe for either format, unique even if two flow ids differ
/// only in characters that had to be replaced.
fn identifiers(flow: &Flow) -> BTreeMap<&str, String> {
    let mut out = BTreeMap::new();
    let mut used = std::collections::BTreeSet::new();
    for (i, node) in flow.nodes_in_order().enumerate() {
        let clean: String = node
            .id()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let mut ident = format!("n_{clean}");
        if !used.insert(ident.clone()) {
            ident = format!("n{i}_{clean}");
            used.insert(ident.clone());
        }
        out.insert(node.id(), ident);
    }
    out
}

/// Text for a Mermaid `"..."` label: quotes and characters Mermaid or HTML
/// would read as markup become entity codes; line breaks become `<br/>`.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.trim().lines().enumerate() {
        if i > 0 {
            out.push_str("<br/>");
        }
        for c in line.chars() {
            match c {
                '"' => out.push_str("#quot;"),
                '#' => out.push_str("#35;"),
                '<' => out.push_str("#lt;"),
                '>' => out.push_str("#gt;"),
                '&' => out.push_str("#amp;"),
                '|' => out.push_str("#124;"),
                '`' => out.push_str("#96;"),
                '\r' => {}
                c => out.push(c),
            }
        }
    }
    out
}

/// A Mermaid `flowchart TD` of the flow.
pub fn mermaid(flow: &Flow) -> String {
    let ids = identifiers(flow);
    let id = |node: &str| ids.get(node).cloned().unwrap_or_else(|| "n_missing".to_string());
    let mut out = String::new();
    out.push_str("flowchart TD\n");
    out.push_str(&format!(
        "    %% {} ({})\n",
        mermaid_comment(&flow.title),
        mermaid_comment(&flow.version)
    ));
    for node in flow.nodes_in_order() {
        match node {
            Node::Question(q) => {
                out.push_str(&format!("    {}{{\"{}\"}}\n", id(&q.id), mermaid_text(&q.text)));
            }
            Node::Outcome(o) => {
                out.push_str(&format!(
                    "    {}[\"{}<br/>{}\"]\n",
                    id(&o.id),
                    mermaid_text(&o.title),
                    mermaid_text(&o.agency)
                ));
            }
        }
    }
    out.push_str(&format!(
        "    record_concern[\"{}\"]\n",
        mermaid_text(&record_label(flow))
    ));
    for node in flow.nodes_in_order() {
        match node {
            Node::Question(q) => {
                for option in &q.options {
                    out.push_str(&format!(
                        "    {} -->|\"{}\"| {}\n",
                        id(&q.id),
                        mermaid_text(&option.label),
                        id(&option.next)
                    ));
                }
            }
            Node::Outcome(o) => out.push_str(&format!("    {} --> record_concern\n", id(&o.id))),
        }
    }
    let urgent: Vec<String> = flow
        .nodes_in_order()
        .filter_map(|n| match n {
            Node::Outcome(o) if o.page == PageWhen::Immediately => Some(id(&o.id)),
            _ => None,
        })
        .collect();
    if !urgent.is_empty() {
        out.push_str("    classDef urgent stroke:#c00,stroke-width:3px\n");
        out.push_str(&format!("    class {} urgent\n", urgent.join(",")));
    }
    out
}

/// A `%%` comment keeps to one line.
fn mermaid_comment(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text for a DOT `"..."` string: backslashes and quotes escaped, long text
/// wrapped so diamonds stay a readable size, line breaks as `\n`.
fn dot_text(text: &str, width: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for para in text.trim().lines() {
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
        .iter()
        .map(|l| dot_escape(l))
        .collect::<Vec<_>>()
        .join("\\n")
}

fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A Graphviz DOT digraph of the flow.
pub fn dot(flow: &Flow) -> String {
    let ids = identifiers(flow);
    let id = |node: &str| ids.get(node).cloned().unwrap_or_else(|| "n_missing".to_string());
    let mut out = String::new();
    out.push_str(&format!("digraph \"{}\" {{\n", dot_escape(&flow.id)));
    out.push_str(&format!(
        "    label=\"{} ({})\";\n    labelloc=t;\n",
        dot_escape(&flow.title),
        dot_escape(&flow.version)
    ));
    out.push_str("    rankdir=TB;\n    node [fontname=\"Helvetica\"];\n    edge [fontname=\"Helvetica\"];\n");
    for node in flow.nodes_in_order() {
        match node {
            Node::Question(q) => out.push_str(&format!(
                "    {} [shape=diamond, label=\"{}\"];\n",
                id(&q.id),
                dot_text(&q.text, 30)
            )),
            Node::Outcome(o) => {
                let style = if o.page == PageWhen::Immediately {
                    ", color=red, penwidth=3"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "    {} [shape=box, label=\"{}\\n{}\"{style}];\n",
                    id(&o.id),
                    dot_text(&o.title, 40),
                    dot_text(&o.agency, 40)
                ));
            }
        }
    }
    out.push_str(&format!(
        "    record_concern [shape=box, style=rounded, label=\"{}\"];\n",
        dot_text(&record_label(flow), 40)
    ));
    for node in flow.nodes_in_order() {
        match node {
            Node::Question(q) => {
                for option in &q.options {
                    out.push_str(&format!(
                        "    {} -> {} [label=\"{}\"];\n",
                        id(&q.id),
                        id(&option.next),
                        dot_text(&option.label, 30)
                    ));
                }
            }
            Node::Outcome(o) => out.push_str(&format!("    {} -> record_concern;\n", id(&o.id))),
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::model::{Choice, Field, Outcome, Question};
    use super::*;

    fn sample() -> Flow {
        let q = Question {
            id: "first-q".to_string(),
            text: "Is the \"image\" <online> & #1 | `now`?\nSecond line \\ here".to_string(),
            help: None,
            options: vec![
                Choice {
                    label: "Yes, \"really\"".to_string(),
                    aliases: vec![],
                    next: "call_999".to_string(),
                },
                Choice {
                    label: "No".to_string(),
                    aliases: vec![],
                    next: "record_only".to_string(),
                },
            ],
        };
        let outcome = |id: &str, title: &str, page| Outcome {
            id: id.to_string(),
            title: title.to_string(),
            agency: "Police (999)".to_string(),
            contact: "Dial 999".to_string(),
            guidance: "Call.".to_string(),
            note_afterwards: "Number.".to_string(),
            page,
            no_attachments: false,
        };
        let nodes = vec![
            Node::Question(q),
            Node::Outcome(outcome("call_999", "Dial 999", PageWhen::Immediately)),
            Node::Outcome(outcome("record_only", "Record it", PageWhen::OnSubmit)),
        ];
        let field = |id: &str, label: &str| Field {
            id: id.to_string(),
            label: label.to_string(),
            prompt: "?".to_string(),
            help: None,
            optional: false,
            verbatim: false,
            options: vec![],
        };
        Flow {
            id: "test-flow".to_string(),
            version: "1".to_string(),
            title: "Test \"flow\"".to_string(),
            intro: "Hi".to_string(),
            start: "first-q".to_string(),
            order: nodes.iter().map(|n| n.id().to_string()).collect(),
            nodes: nodes.into_iter().map(|n| (n.id().to_string(), n)).collect(),
            record: vec![field("what", "What was seen"), field("when", "When it happened")],
            digest: String::new(),
            source: "test".to_string(),
        }
    }

    #[test]
    fn mermaid_has_decisions_boxes_edges_and_record() {
        let m = mermaid(&sample());
        assert!(m.contains("flowchart TD\n"), "{m}");
        assert!(m.contains(
            "n_first_q{\"Is the #quot;image#quot; #lt;online#gt; #amp; #35;1 #124; #96;now#96;?<br/>Second line \\ here\"}"
        ), "{m}");
        assert!(m.contains("n_call_999[\"Dial 999<br/>Police (999)\"]"), "{m}");
        assert!(
            m.contains("n_first_q -->|\"Yes, #quot;really#quot;\"| n_call_999"),
            "{m}"
        );
        assert!(m.contains("n_first_q -->|\"No\"| n_record_only"), "{m}");
        assert!(
            m.contains("record_concern[\"Record the concern: What was seen, When it happened\"]"),
            "{m}"
        );
        assert!(m.contains("n_call_999 --> record_concern"), "{m}");
        assert!(m.contains("n_record_only --> record_concern"), "{m}");
        assert!(m.contains("class n_call_999 urgent"), "{m}");
    }

    #[test]
    fn mermaid_labels_never_hold_a_raw_quote() {
        let m = mermaid(&sample());
        for line in m.lines().filter(|l| !l.trim_start().starts_with("%%")) {
            // Every quote on a line opens or closes a label: an even number.
            assert_eq!(line.matches('"').count() % 2, 0, "{line}");
        }
    }

    #[test]
    fn dot_escapes_and_links_every_outcome_to_the_record() {
        let d = dot(&sample());
        assert!(d.starts_with("digraph \"test-flow\" {\n"), "{d}");
        assert!(d.contains("label=\"Test \\\"flow\\\" (1)\""), "{d}");
        assert!(
            d.contains("n_first_q [shape=diamond, label=\"Is the \\\"image\\\""),
            "{d}"
        );
        assert!(d.contains("Second line \\\\ here\"]"), "{d}");
        assert!(
            d.contains("n_call_999 [shape=box, label=\"Dial 999\\nPolice (999)\", color=red"),
            "{d}"
        );
        assert!(
            d.contains("n_first_q -> n_call_999 [label=\"Yes, \\\"really\\\"\"];"),
            "{d}"
        );
        assert!(d.contains("n_call_999 -> record_concern;"), "{d}");
        assert!(d.contains("n_record_only -> record_concern;"), "{d}");
        assert!(d.trim_end().ends_with('}'));
    }

    #[test]
    fn dot_wraps_long_text() {
        assert_eq!(dot_text("aaa bbb ccc", 7), "aaa bbb\\nccc");
        assert_eq!(dot_text("one\ntwo", 30), "one\\ntwo");
    }

    #[test]
    fn identifiers_stay_unique() {
        let mut flow = sample();
        let mut extra = match flow.node("call_999") {
            Some(Node::Outcome(o)) => o.clone(),
            _ => panic!("sample has call_999"),
        };
        extra.id = "call-999".to_string();
        flow.order.push(extra.id.clone());
        flow.nodes.insert(extra.id.clone(), Node::Outcome(extra));
        let ids = identifiers(&flow);
        assert_ne!(ids.get("call_999"), ids.get("call-999"));
    }
}
