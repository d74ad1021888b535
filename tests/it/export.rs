//! Exports of one concern, read back as a reader would see them: the PDF's
//! text extracted with `pdf-extract`, the HTML and Markdown as text.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Europe::London;

use safeguarding_bot::casework::{CaseStatus, CaseView, Casefile, EntryKind, RiskArea, RiskKind};
use safeguarding_bot::concern::{ConcernRecord, Decision, FieldAnswer, Reference, RouteTaken, Status};
use safeguarding_bot::escalation::{AckDecision, Escalation};
use safeguarding_bot::export::{file_name, render, ExportMeta, Format};

const PHRASE: &str = "marmalade lighthouse accordion";
const GUIDANCE: &str =
    "Do not look for more images.\nReport it to the IWF at report.iwf.org.uk, then tell the DSL.";
const REASON: &str = "the child's school is already supporting the family";
const OUTCOME: &str = "referred to the local authority designated officer";

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
}

fn meta() -> ExportMeta<'static> {
    ExportMeta {
        organisation: "CLAPA",
        tz: London,
        generated_at: at(16, 30),
        generated_by: "Dee Lead",
    }
}

fn record() -> ConcernRecord {
    ConcernRecord {
        reference: Reference::new(42),
        status: Status::Submitted,
        reporter: "@sam:example.org".into(),
        flow_id: "online-safety-referral".into(),
        flow_version: "3".into(),
        flow_digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        started_at: at(9, 0),
        recorded_at: at(9, 12),
        decisions: vec![
            Decision {
                question_id: "danger".into(),
                question: "Is anyone in immediate danger?".into(),
                answer: "No".into(),
            },
            Decision {
                question_id: "images".into(),
                question: "Did you see indecent images of a child?".into(),
                answer: "Yes".into(),
            },
        ],
        route: Some(RouteTaken {
            outcome_id: "iwf".into(),
            title: "Report to the Internet Watch Foundation".into(),
            agency: "IWF".into(),
            contact: "report.iwf.org.uk".into(),
            guidance: GUIDANCE.into(),
            note_afterwards: "The lead will follow this up with you.".into(),
            urgent: false,
        }),
        fields: vec![
            FieldAnswer {
                field_id: "where".into(),
                label: "Where it was seen".into(),
                value: Some("a group chat".into()),
                verbatim: false,
            },
            FieldAnswer {
                field_id: "words".into(),
                label: "What was said".into(),
                value: Some(format!("They wrote: {PHRASE}, and <script>alert(1)</script>")),
                verbatim: true,
            },
            FieldAnswer {
                field_id: "who".into(),
                label: "Who else knows".into(),
                value: None,
                verbatim: false,
            },
        ],
        urgent: false,
    }
}

fn view(record: ConcernRecord, notes: usize, note_len: usize) -> CaseView {
    let reference = record.reference.clone();
    let esc = Escalation::new(
        reference.clone(),
        &record.reporter,
        false,
        "!room:x",
        "@dsl:example.org",
        at(9, 12),
    );
    let AckDecision::Acknowledged(mut esc) =
        esc.acknowledge("@dsl:example.org", ["@dsl:example.org"].into_iter(), at(9, 20))
    else {
        panic!("the lead may acknowledge");
    };
    // The names they had when they reported, were paged and acknowledged.
    esc.names.insert(record.reporter.clone(), "Sam Reporter".into());
    esc.names.insert("@dsl:example.org".into(), "Dee Lead".into());
    let lead = "@dsl:example.org";
    let mut casefile = Casefile::new(reference);
    let mut now = at(10, 0);
    let mut add = |kind: EntryKind| {
        now += Duration::minutes(5);
        casefile = casefile.with_entry(lead, kind, now).0.named("Dee Lead");
    };
    add(EntryKind::Note {
        text: "Spoke to the reporter by phone.".into(),
    });
    add(EntryKind::Category {
        areas: vec![RiskArea::Content],
        kinds: vec![RiskKind::InappropriateWebsites],
    });
    for i in 0..notes {
        let words = format!("note {i} {}", "safeguarding ".repeat(note_len / 13));
        add(EntryKind::Note { text: words });
    }
    add(EntryKind::Decision {
        text: "refer to the LADO".into(),
        reason: REASON.into(),
    });
    add(EntryKind::Status {
        status: CaseStatus::Referred,
    });
    add(EntryKind::Closed {
        kind: Some("Referred to the LADO".into()),
        outcome: OUTCOME.into(),
    });
    CaseView {
        record,
        escalation: Some(esc),
        casefile,
    }
}

/// What a reader sees, with line breaks and runs of spaces made one space,
/// since where a line wraps is not the point.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn pdf_text(bytes: &[u8]) -> String {
    words(&pdf_extract::extract_text_from_mem(bytes).expect("the PDF's text can be extracted"))
}

fn pdf_pages(bytes: &[u8]) -> Vec<String> {
    pdf_extract::extract_text_from_mem_by_pages(bytes)
        .expect("the PDF's pages can be extracted")
        .iter()
        .map(|p| words(p))
        .collect()
}

/// The text of an HTML page as a browser shows it: tags left out, the five
/// escapes undone (user text has no `<` left, so every `<` starts a tag).
fn html_text(html: &str) -> String {
    let body = html.split_once("<body>").map_or(html, |(_, b)| b);
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The facts every format must show.
fn assert_facts(text: &str, format: &str) {
    for fact in [
        "CLAPA: safeguarding concern SG-0042",
        "Confidential: special-category personal data. Share only with those who need to know.",
        "Summary",
        "Status:",
        "closed",
        "Reported by: Sam Reporter",
        "Acknowledged: by Dee Lead at 09:20 GMT, 23 November 2026",
        "Category: Content: inappropriate or illegal websites",
        "What the reporter said",
        "Is anyone in immediate danger?",
        "Did you see indecent images of a child?",
        "What was said (their own words)",
        PHRASE,
        "Who else knows: (skipped)",
        "Route and guidance shown",
        "Report to the Internet Watch Foundation",
        "Do not look for more images.",
        "Report it to the IWF at report.iwf.org.uk, then tell the DSL.",
        "The lead will follow this up with you.",
        "Chronology",
        "Report started",
        "Report submitted",
        "Paged",
        "Acknowledged",
        "Note (entry 1)",
        "Spoke to the reporter by phone.",
        "Decision",
        REASON,
        "Closed",
        OUTCOME,
        "online-safety-referral version 3",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "16:30 GMT, 23 November 2026 by Dee Lead",
    ] {
        assert!(text.contains(&words(fact)), "{format} lacks {fact:?}:\n{text}");
    }
    for id in ["@sam:example.org", "@dsl:example.org", "@dsl"] {
        assert!(
            !text.contains(id),
            "{format} names someone by their chat id {id}:\n{text}"
        );
    }
}

#[test]
fn the_pdf_shows_everything_a_referral_needs() {
    let v = view(record(), 0, 0);
    let bytes = render(&v, Format::Pdf, &meta());
    assert!(bytes.starts_with(b"%PDF-"));
    let text = pdf_text(&bytes);
    assert_facts(&text, "PDF");
    let pages = pdf_pages(&bytes);
    let last = format!("SG-0042 page {0} of {0}", pages.len());
    assert!(pages[0].contains("SG-0042 page 1 of"), "{text}");
    assert!(pages.last().is_some_and(|p| p.contains(&last)), "{text}");
    // The sections come in the same order as in every format.
    let order: Vec<usize> = [
        "Summary",
        "What the reporter said",
        "Route and guidance shown",
        "Chronology",
    ]
    .iter()
    .map(|h| text.find(h).unwrap_or(usize::MAX))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    // Markup in an answer is just text in a PDF.
    assert!(text.contains("<script>alert(1)</script>"), "{text}");
}

#[test]
fn a_long_record_runs_to_several_numbered_pages_with_all_its_text() {
    let v = view(record(), 30, 2_000);
    let bytes = render(&v, Format::Pdf, &meta());
    let pages = pdf_pages(&bytes);
    assert!(pages.len() >= 5, "only {} pages", pages.len());
    let count = pages.len();
    for (i, page) in pages.iter().enumerate() {
        let footer = format!("SG-0042 page {} of {count}", i + 1);
        assert!(page.contains(&footer), "page {} lacks {footer:?}", i + 1);
    }
    let text = pages.join(" ");
    for i in 0..30 {
        assert!(
            text.contains(&format!("note {i} safeguarding")),
            "note {i} is missing"
        );
    }
    // Every word of every note is there: 2,000 characters of each.
    let expected = 30 * (2_000 / 13);
    let found = text.matches("safeguarding").count();
    assert!(found >= expected, "{found} of {expected} words extracted");
    assert!(text.contains(REASON) && text.contains(OUTCOME));
}

#[test]
fn the_pdf_survives_text_its_fonts_cannot_show() {
    let mut r = record();
    r.fields[1].value = Some(format!(
        "emoji 😀👍🏽 and Ελληνικά, “curly” quotes, £20, café – dash — and…\u{0}\u{7}\u{1b}\r\n{}",
        "x".repeat(10_000)
    ));
    r.decisions[0].answer = "(unbalanced \\ parenthesis".into();
    let bytes = render(&view(r, 0, 0), Format::Pdf, &meta());
    let text = pdf_text(&bytes);
    assert!(text.contains("emoji ?? and ????????"), "{text}");
    assert!(text.contains("“curly” quotes, £20, café – dash — and…"), "{text}");
    assert!(text.contains("(unbalanced \\ parenthesis"), "{text}");
    assert!(text.matches('x').count() >= 10_000);
}

#[test]
fn an_empty_record_still_makes_a_pdf() {
    let mut r = record();
    r.decisions.clear();
    r.fields.clear();
    r.route = None;
    r.status = Status::Incomplete;
    let v = CaseView {
        casefile: Casefile::new(r.reference.clone()),
        escalation: None,
        record: r,
    };
    for format in [Format::Pdf, Format::Html, Format::Markdown] {
        let bytes = render(&v, format, &meta());
        let text = if format == Format::Pdf {
            pdf_text(&bytes)
        } else {
            words(&String::from_utf8(bytes).expect("UTF-8"))
        };
        for fact in [
            "The report did not reach an outcome.",
            "not acknowledged",
            "The reporter gave no answers.",
            "Report left unfinished",
        ] {
            assert!(text.contains(fact), "{format:?} lacks {fact:?}:\n{text}");
        }
    }
}

#[test]
fn html_and_markdown_say_the_same_things() {
    let v = view(record(), 0, 0);
    let html = String::from_utf8(render(&v, Format::Html, &meta())).expect("UTF-8");
    assert_facts(&words(&html_text(&html)), "HTML");
    assert!(html.contains("<title>CLAPA: safeguarding concern SG-0042</title>"));
    let md = String::from_utf8(render(&v, Format::Markdown, &meta())).expect("UTF-8");
    // Markdown's own markers and escapes aside, the words are the same.
    let plain = md.replace("**", "").replace("  > ", " ").replace('\\', "");
    assert_facts(&words(&plain), "Markdown");
    assert!(md.starts_with("# CLAPA: safeguarding concern SG-0042\n"));
}

#[test]
fn html_escapes_markup_from_the_record() {
    let v = view(record(), 0, 0);
    let html = String::from_utf8(render(&v, Format::Html, &meta())).expect("UTF-8");
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let md = String::from_utf8(render(&v, Format::Markdown, &meta())).expect("UTF-8");
    assert!(!md.contains("<script>"), "{md}");
}

/// A concern kept before names were kept with it still exports, and
/// names people by their user name, not their chat id.
#[test]
fn an_export_of_a_concern_kept_before_names_names_people_without_their_ids() {
    let mut v = view(record(), 0, 0);
    v.escalation.as_mut().expect("paged").names.clear();
    for e in &mut v.casefile.entries {
        e.author_name = None;
    }
    for format in [Format::Markdown, Format::Html, Format::Pdf] {
        let bytes = render(&v, format, &meta());
        let text = match format {
            Format::Pdf => pdf_text(&bytes),
            Format::Html => html_text(&String::from_utf8(bytes).expect("utf-8")),
            Format::Markdown => String::from_utf8(bytes)
                .expect("utf-8")
                .replace("**", "")
                .replace('\\', ""),
        };
        let text = words(&text);
        assert!(text.contains("Reported by: sam"), "{format:?}: {text}");
        assert!(text.contains("Acknowledged: by dsl at"), "{format:?}: {text}");
        assert!(
            !text.contains("@dsl") && !text.contains("@sam"),
            "{format:?}: {text}"
        );
    }
}

#[test]
fn file_names_follow_the_reference() {
    assert_eq!(file_name(&Reference::new(42), Format::Pdf), "SG-0042.pdf");
    assert_eq!(file_name(&Reference::new(7), Format::Markdown), "SG-0007.md");
}
