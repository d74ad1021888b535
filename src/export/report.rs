//! What an export says, before it is given a format.
//!
//! Every format renders the same [`Report`], so the PDF, the HTML page and
//! the Markdown file always have the same sections, in the same order, with
//! the same words. The renderers only decide how it looks, and how to keep
//! what people typed from breaking the format.

use crate::casework::{self, view::when, CaseView};

use super::ExportMeta;

/// The line under the heading of every export.
pub(crate) const CONFIDENTIAL: &str =
    "Confidential: special-category personal data. Share only with those who need to know.";

/// One concern, ready to render.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Report {
    /// "CLAPA: safeguarding concern SG-0042".
    pub title: String,
    /// "SG-0042", for the PDF's page footers.
    pub reference: String,
    /// "CLAPA SG-0042", the PDF's Title metadata.
    pub document_title: String,
    pub sections: Vec<Section>,
    /// Where the record came from and when this export was made.
    pub footer: Vec<Block>,
}

/// A titled part of the export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Section {
    pub heading: &'static str,
    pub blocks: Vec<Block>,
}

/// One item of a section. Every `String` in here may hold what someone
/// typed, line breaks and markup included: renderers escape all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Block {
    /// A label and its value: "Reported by: @sam:example.org".
    Fact { label: String, value: String },
    /// A question of the flowchart and the answer the reporter chose.
    Answer { question: String, answer: String },
    /// Text shown exactly as it was written or shown, line breaks kept:
    /// the reporter's own words (`own_words`, quoted) or the guidance.
    Text {
        label: String,
        text: String,
        own_words: bool,
    },
    /// A sentence of the export's own, such as "The report did not reach an outcome."
    Remark(String),
    /// One event of the chronology.
    Event {
        /// The time in the organisation's timezone.
        when: String,
        heading: String,
        /// The casefile entry's number, if it is one.
        number: Option<u32>,
        who: String,
        /// Empty for events such as a page.
        text: String,
    },
}

impl Block {
    fn fact(label: &str, value: impl Into<String>) -> Block {
        Block::Fact {
            label: label.to_string(),
            value: value.into(),
        }
    }
}

impl Report {
    /// Everything the export says about this concern.
    pub(crate) fn build(view: &CaseView, meta: &ExportMeta) -> Report {
        let record = &view.record;
        let reference = record.reference.to_string();

        let mut summary = vec![
            Block::fact("Reference", reference.clone()),
            Block::fact("Status", view.status().label()),
            Block::fact(
                "Urgent",
                if record.urgent {
                    "yes: someone may have been in immediate danger"
                } else {
                    "no"
                },
            ),
            Block::fact("Report", record.status.label()),
            Block::fact("Reported by", view.person(&record.reporter).plain()),
            Block::fact("Started", when(record.started_at, meta.tz)),
        ];
        summary.push(match view.acknowledged() {
            Some(a) => Block::fact(
                "Acknowledged",
                format!("by {} at {}", view.person(&a.by).plain(), when(a.at, meta.tz)),
            ),
            None => Block::fact("Acknowledged", "not acknowledged"),
        });
        summary.push(Block::fact(
            "Category",
            match view.casefile.category() {
                Some((areas, kinds)) => casework::category_text(areas, kinds),
                None => "not set".to_string(),
            },
        ));
        summary.push(Block::fact(
            "Outcome",
            view.casefile
                .outcome()
                .unwrap_or_else(|| "none yet (the concern is not closed)".to_string()),
        ));

        let mut said: Vec<Block> = record
            .decisions
            .iter()
            .map(|d| Block::Answer {
                question: d.question.clone(),
                answer: d.answer.clone(),
            })
            .collect();
        for f in &record.fields {
            said.push(match (&f.value, f.verbatim) {
                (Some(value), true) => Block::Text {
                    label: own_words_label(&f.label),
                    text: value.clone(),
                    own_words: true,
                },
                (None, true) => Block::fact(&own_words_label(&f.label), "(skipped)"),
                (value, false) => Block::fact(&f.label, value.as_deref().unwrap_or("(skipped)")),
            });
        }
        if said.is_empty() {
            said.push(Block::Remark("The reporter gave no answers.".to_string()));
        }

        let route = match &record.route {
            Some(route) => {
                let mut blocks = vec![
                    Block::fact("Route", route.title.clone()),
                    Block::fact("Agency", route.agency.clone()),
                    Block::fact("Contact", route.contact.clone()),
                    Block::Text {
                        label: "Guidance shown to the reporter".to_string(),
                        text: route.guidance.clone(),
                        own_words: false,
                    },
                ];
                if !route.note_afterwards.trim().is_empty() {
                    blocks.push(Block::Text {
                        label: "Told to the reporter afterwards".to_string(),
                        text: route.note_afterwards.clone(),
                        own_words: false,
                    });
                }
                blocks
            }
            None => vec![Block::Remark("The report did not reach an outcome.".to_string())],
        };

        let chronology = view
            .chronology()
            .into_iter()
            .map(|item| Block::Event {
                when: when(item.at, meta.tz),
                heading: item.heading,
                number: item.number,
                who: item.who,
                text: item.text,
            })
            .collect();

        let footer = vec![
            Block::fact(
                "Flowchart",
                format!("{} version {}", record.flow_id, record.flow_version),
            ),
            Block::fact("Flowchart digest (SHA-256)", record.flow_digest.clone()),
            Block::fact(
                "Generated",
                format!("at {} by {}", when(meta.generated_at, meta.tz), meta.generated_by),
            ),
        ];

        Report {
            title: format!("{}: safeguarding concern {reference}", meta.organisation),
            document_title: format!("{} {reference}", meta.organisation),
            reference,
            sections: vec![
                Section {
                    heading: "Summary",
                    blocks: summary,
                },
                Section {
                    heading: "What the reporter said",
                    blocks: said,
                },
                Section {
                    heading: "Route and guidance shown",
                    blocks: route,
                },
                Section {
                    heading: "Chronology",
                    blocks: chronology,
                },
            ],
            footer,
        }
    }
}

/// "Decision (entry 3)", or just the heading for an event that is not an entry.
pub(crate) fn event_heading(heading: &str, number: Option<u32>) -> String {
    match number {
        Some(n) => format!("{heading} (entry {n})"),
        None => heading.to_string(),
    }
}

/// A verbatim field's label marked as the reporter's own words, unless the
/// label already says so ("Their own words"), as `!show` does.
fn own_words_label(label: &str) -> String {
    if label.to_lowercase().contains("own words") {
        label.to_string()
    } else {
        format!("{label} (their own words)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_words_are_named_once() {
        assert_eq!(
            own_words_label("What was said"),
            "What was said (their own words)"
        );
        assert_eq!(own_words_label("Their own words"), "Their own words");
    }
}
