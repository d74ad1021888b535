//! The validated flowchart: what the conversation engine walks.
//!
//! A [`Flow`] is only ever built by the loader after validation, so the
//! engine may rely on its invariants: every `next` names a node that exists,
//! every node is reachable from `start`, every node can reach an outcome,
//! every question has at least one option, and ids are unique.

use std::collections::BTreeMap;

/// A node id, unique within a flow.
pub type NodeId = String;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// A stable name for the flow, such as `clapa-online-safety-referral`.
    pub id: String,
    /// The organisation's version of the policy this flow encodes.
    pub version: String,
    /// A title a lead recognises, such as "Online Safety Referral Flowchart".
    pub title: String,
    /// The first message a reporter sees, before the first question.
    pub intro: String,
    /// The id of the first question.
    pub start: NodeId,
    /// Decision nodes by id.
    pub nodes: BTreeMap<NodeId, Node>,
    /// Node ids in the order they appear in the file, for graph output.
    pub order: Vec<NodeId>,
    /// The record questions asked, in order, once the flowchart reached an outcome.
    pub record: Vec<Field>,
    /// SHA-256 (hex) of the file's text: the exact wording asked.
    pub digest: String,
    /// Where the flow was loaded from, for messages.
    pub source: String,
}

impl Flow {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Nodes in file order.
    pub fn nodes_in_order(&self) -> impl Iterator<Item = &Node> {
        self.order.iter().filter_map(|id| self.nodes.get(id))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Question(Question),
    Outcome(Outcome),
}

impl Node {
    pub fn id(&self) -> &str {
        match self {
            Node::Question(q) => &q.id,
            Node::Outcome(o) => &o.id,
        }
    }
}

/// A question of the flowchart, answered by choosing one option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub id: NodeId,
    /// The question in the policy's own words.
    pub text: String,
    /// Extra explanation shown on `help`.
    pub help: Option<String>,
    pub options: Vec<Choice>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// What the reporter sees, such as "Yes, a child". A label that starts
    /// with "Yes" or "No" also answers to the common forms of yes and no
    /// (y, yeah, yep, n, nope) when no other option starts the same way.
    pub label: String,
    /// Other words that choose this option, matched case-insensitively.
    pub aliases: Vec<String>,
    /// The node this option leads to.
    pub next: NodeId,
}

/// When the lead is paged for a concern that reaches an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageWhen {
    /// At once, before the rest of the record: someone may be in danger.
    Immediately,
    /// When the reporter submits the record.
    OnSubmit,
}

/// Where the flowchart sends a concern: an agency and what to do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub id: NodeId,
    /// A short name for the route, such as "Call 999" or "Report to the IWF".
    pub title: String,
    /// Who to contact, such as "Internet Watch Foundation (IWF)".
    pub agency: String,
    /// How to reach them: a phone number or web address.
    pub contact: String,
    /// What the reporter must do now, in plain words. Shown at once.
    pub guidance: String,
    /// What to note afterwards (incident number, IWF or CEOP reference).
    pub note_afterwards: String,
    pub page: PageWhen,
    /// True where the route concerns illegal imagery: the reporter must never
    /// send, save or copy it, so no attachment is accepted into the concern.
    pub no_attachments: bool,
}

/// A question of the careful record, asked after the outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub id: String,
    /// The short name shown in the review, such as "What you saw or heard".
    pub label: String,
    /// The question asked.
    pub prompt: String,
    pub help: Option<String>,
    /// May the reporter answer `skip`?
    pub optional: bool,
    /// The person's own words: kept apart from opinion and quoted as given.
    pub verbatim: bool,
    /// Fixed choices (such as the risk area); empty means free text.
    pub options: Vec<String>,
}
