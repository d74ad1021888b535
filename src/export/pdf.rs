//! The export as a PDF: A4 pages with margins, text wrapped with
//! Helvetica's real character widths, as many pages as the concern needs,
//! and "SG-0042 page 2 of 3" at the foot of each.
//!
//! Built with `lopdf` from plain PDF objects and the standard Helvetica and
//! Helvetica-Bold fonts in WinAnsiEncoding, so there is no font file to
//! embed and no program to run. Text is first laid out into lines
//! ([`layout`]), then the lines are placed on pages ([`paginate`]), then
//! each page is drawn; the page count is known before any footer is drawn.

use chrono::{DateTime, Utc};
use lopdf::{dictionary, Document, Object, Stream, StringFormat};

use super::report::{event_heading, Block, Report, CONFIDENTIAL};
use super::winansi::{encode, paragraphs, Font};

/// A4 in points.
const PAGE_WIDTH: f32 = 595.28;
const PAGE_HEIGHT: f32 = 841.89;
/// 2 cm each side and at the top; a little more at the foot for the page number.
const MARGIN_X: f32 = 56.7;
const MARGIN_TOP: f32 = 56.7;
const MARGIN_BOTTOM: f32 = 62.0;
const FOOTER_BASELINE: f32 = 34.0;
const TEXT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN_X;
/// How far quoted text and chronology text are set in.
const INDENT: f32 = 14.0;

/// How a line of text looks.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Style {
    size: f32,
    leading: f32,
    colour: Colour,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Colour {
    Black,
    Grey,
    Red,
}

impl Colour {
    /// The PDF fill operator that selects it.
    fn fill(self) -> &'static str {
        match self {
            Colour::Black => "0 g",
            Colour::Grey => "0.3 g",
            Colour::Red => "0.6 0 0 rg",
        }
    }
}

const TITLE: Style = Style {
    size: 16.0,
    leading: 21.0,
    colour: Colour::Black,
};
const WARNING: Style = Style {
    size: 10.0,
    leading: 13.5,
    colour: Colour::Red,
};
const HEADING: Style = Style {
    size: 13.0,
    leading: 18.0,
    colour: Colour::Black,
};
const BODY: Style = Style {
    size: 10.0,
    leading: 13.5,
    colour: Colour::Black,
};
const SMALL: Style = Style {
    size: 8.5,
    leading: 11.0,
    colour: Colour::Grey,
};

/// Part of a line in one font, `dx` points from the line's start.
#[derive(Clone, Debug, PartialEq)]
struct Span {
    font: Font,
    dx: f32,
    bytes: Vec<u8>,
}

/// One line of the document, before it is placed on a page.
#[derive(Clone, Debug, PartialEq)]
struct Line {
    spans: Vec<Span>,
    style: Style,
    /// Left edge, from the page's left edge.
    x: f32,
    /// Extra space above, left out at the top of a page.
    gap_before: f32,
    /// Not to be left alone at the foot of a page (a heading or a label).
    keep_with_next: bool,
    /// A bar in the margin, marking quoted words.
    bar: bool,
    /// A rule under the line (section headings).
    rule: bool,
}

impl Line {
    fn new(style: Style, x: f32) -> Line {
        Line {
            spans: Vec::new(),
            style,
            x,
            gap_before: 0.0,
            keep_with_next: false,
            bar: false,
            rule: false,
        }
    }
}

/// The PDF's bytes. Writing to memory cannot fail; should `lopdf` ever
/// report an error, it is logged (never the content) and nothing is returned.
pub(crate) fn render(report: &Report, generated_at: DateTime<Utc>) -> Vec<u8> {
    let lines = layout(report);
    let pages = paginate(&lines);
    let mut out = Vec::new();
    if let Err(e) = write(report, &pages, generated_at, &mut out) {
        tracing::error!(reference = %report.reference, "the PDF export could not be written: {e}");
        out.clear();
    }
    out
}

/// The whole report as lines, in reading order.
fn layout(report: &Report) -> Vec<Line> {
    let mut lines = Vec::new();
    text(
        &mut lines,
        &report.title,
        Font::Bold,
        TITLE,
        MARGIN_X,
        TEXT_WIDTH,
        0.0,
    );
    text(
        &mut lines,
        CONFIDENTIAL,
        Font::Bold,
        WARNING,
        MARGIN_X,
        TEXT_WIDTH,
        4.0,
    );
    for section in &report.sections {
        let start = lines.len();
        text(
            &mut lines,
            section.heading,
            Font::Bold,
            HEADING,
            MARGIN_X,
            TEXT_WIDTH,
            14.0,
        );
        if let Some(last) = lines[start..].last_mut() {
            last.rule = true;
        }
        for l in &mut lines[start..] {
            l.keep_with_next = true;
        }
        for block in &section.blocks {
            block_lines(&mut lines, block, BODY);
        }
    }
    let start = lines.len();
    for block in &report.footer {
        block_lines(&mut lines, block, SMALL);
    }
    if let Some(first) = lines.get_mut(start) {
        first.gap_before = 18.0;
    }
    lines
}

fn block_lines(lines: &mut Vec<Line>, block: &Block, style: Style) {
    match block {
        Block::Fact { label, value } => {
            labelled(lines, &format!("{label}:"), value, style, MARGIN_X, 2.0);
        }
        Block::Answer { question, answer } => {
            let start = lines.len();
            text(lines, question, Font::Bold, style, MARGIN_X, TEXT_WIDTH, 6.0);
            for l in &mut lines[start..] {
                l.keep_with_next = true;
            }
            labelled(lines, "Answer:", answer, style, MARGIN_X + INDENT, 0.0);
        }
        Block::Text {
            label,
            text: words,
            own_words,
        } => {
            let start = lines.len();
            text(
                lines,
                &format!("{label}:"),
                Font::Bold,
                style,
                MARGIN_X,
                TEXT_WIDTH,
                6.0,
            );
            for l in &mut lines[start..] {
                l.keep_with_next = true;
            }
            let quoted = if *own_words {
                format!("“{words}”")
            } else {
                words.clone()
            };
            let start = lines.len();
            text(
                lines,
                &quoted,
                Font::Regular,
                style,
                MARGIN_X + INDENT,
                TEXT_WIDTH - INDENT,
                2.0,
            );
            for l in &mut lines[start..] {
                l.bar = true;
            }
        }
        Block::Remark(words) => text(lines, words, Font::Regular, style, MARGIN_X, TEXT_WIDTH, 2.0),
        Block::Event {
            when,
            heading,
            number,
            who,
            text: words,
        } => {
            let start = lines.len();
            labelled(
                lines,
                &format!("{when}  {}", event_heading(heading, *number)),
                &format!("by {who}"),
                style,
                MARGIN_X,
                7.0,
            );
            if !words.is_empty() {
                for l in &mut lines[start..] {
                    l.keep_with_next = true;
                }
                text(
                    lines,
                    words,
                    Font::Regular,
                    style,
                    MARGIN_X + INDENT,
                    TEXT_WIDTH - INDENT,
                    0.0,
                );
            }
        }
    }
}

/// Text in one font, wrapped to `width`, its line breaks kept.
fn text(lines: &mut Vec<Line>, words: &str, font: Font, style: Style, x: f32, width: f32, gap: f32) {
    let start = lines.len();
    for paragraph in paragraphs(words) {
        for bytes in wrap(&encode(paragraph), font, style.size, width, width) {
            let mut line = Line::new(style, x);
            line.spans.push(Span { font, dx: 0.0, bytes });
            lines.push(line);
        }
    }
    if let Some(first) = lines.get_mut(start) {
        first.gap_before = gap;
    }
}

/// A bold label with its value after it on the same line, as far as it
/// fits, then wrapped to the full width.
fn labelled(lines: &mut Vec<Line>, label: &str, value: &str, style: Style, x: f32, gap: f32) {
    let width = PAGE_WIDTH - MARGIN_X - x;
    let start = lines.len();
    text(lines, label, Font::Bold, style, x, width, gap);
    let label_end = lines.len();
    let space = Font::Regular.byte_width(b' ', style.size);
    for (i, paragraph) in paragraphs(value).into_iter().enumerate() {
        let bytes = encode(paragraph);
        if i == 0 {
            let Some(last) = lines.last_mut() else { continue };
            let dx = last
                .spans
                .iter()
                .map(|s| s.dx + s.font.text_width(&s.bytes, style.size))
                .fold(0.0, f32::max)
                + space;
            let mut wrapped = wrap(&bytes, Font::Regular, style.size, width - dx, width).into_iter();
            if let Some(first) = wrapped.next() {
                if !first.is_empty() {
                    last.spans.push(Span {
                        font: Font::Regular,
                        dx,
                        bytes: first,
                    });
                }
            }
            for rest in wrapped {
                let mut line = Line::new(style, x);
                line.spans.push(Span {
                    font: Font::Regular,
                    dx: 0.0,
                    bytes: rest,
                });
                lines.push(line);
            }
        } else {
            text(lines, paragraph, Font::Regular, style, x, width, 0.0);
        }
    }
    // A label whose value starts on the next line stays with it.
    if lines.len() > label_end {
        for l in &mut lines[start..label_end] {
            l.keep_with_next = true;
        }
    }
}

/// WinAnsi text broken into lines at spaces so that no line is wider than
/// `width` points (the first no wider than `first_width`), using the
/// font's real glyph widths. A word wider than a whole line is broken
/// where it must. Runs of spaces between words become one space. Always at
/// least one line; the first is empty when even the first word does not
/// fit in `first_width`.
pub(crate) fn wrap(text: &[u8], font: Font, size: f32, first_width: f32, width: f32) -> Vec<Vec<u8>> {
    let space = font.byte_width(b' ', size);
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    let mut line_width = 0.0;
    let mut limit = first_width;
    for word in text.split(|b| *b == b' ').filter(|w| !w.is_empty()) {
        let word_width = font.text_width(word, size);
        if !line.is_empty() {
            if line_width + space + word_width <= limit {
                line.push(b' ');
                line.extend_from_slice(word);
                line_width += space + word_width;
                continue;
            }
            lines.push(std::mem::take(&mut line));
            limit = width;
        }
        // The line is empty here.
        if word_width > limit && lines.is_empty() && limit < width {
            // Too little room left after a label: start on a line of its own.
            lines.push(Vec::new());
            limit = width;
        }
        let mut rest = word;
        while font.text_width(rest, size) > limit {
            let mut taken = 0;
            let mut taken_width = 0.0;
            for b in rest {
                let w = font.byte_width(*b, size);
                if taken > 0 && taken_width + w > limit {
                    break;
                }
                taken += 1;
                taken_width += w;
            }
            lines.push(rest[..taken].to_vec());
            rest = &rest[taken..];
            limit = width;
        }
        line.extend_from_slice(rest);
        line_width = font.text_width(rest, size);
    }
    lines.push(line);
    lines
}

/// A line placed on a page, with its baseline.
struct Placed<'a> {
    line: &'a Line,
    baseline: f32,
}

/// The lines shared out between pages, top to bottom.
fn paginate(lines: &[Line]) -> Vec<Vec<Placed<'_>>> {
    let top = PAGE_HEIGHT - MARGIN_TOP;
    let mut pages: Vec<Vec<Placed>> = vec![Vec::new()];
    let mut cursor = top;
    for (i, line) in lines.iter().enumerate() {
        let at_top = cursor >= top;
        let mut needed = line.style.leading + if at_top { 0.0 } else { line.gap_before };
        // A heading or label comes with the start of what follows it.
        let mut j = i;
        while lines[j].keep_with_next && j + 1 < lines.len() && needed < top - MARGIN_BOTTOM {
            j += 1;
            needed += lines[j].gap_before + lines[j].style.leading;
        }
        if !at_top && cursor - needed < MARGIN_BOTTOM {
            pages.push(Vec::new());
            cursor = top;
        }
        if cursor < top {
            cursor -= line.gap_before;
        }
        cursor -= line.style.leading;
        let baseline = cursor + (line.style.leading - line.style.size) / 2.0 + 0.2 * line.style.size;
        if let Some(page) = pages.last_mut() {
            page.push(Placed { line, baseline });
        }
    }
    pages
}

/// The drawing operators of one page, footer included.
fn page_content(placed: &[Placed], reference: &str, number: usize, count: usize) -> Vec<u8> {
    let mut ops = String::new();
    let mut bytes = Vec::new();
    for p in placed {
        let line = p.line;
        if line.bar {
            ops.push_str(&format!(
                "0.6 g {:.2} {:.2} 1.5 {:.2} re f\n",
                line.x - 8.0,
                p.baseline - 0.3 * line.style.size,
                line.style.leading
            ));
        }
        if line.rule {
            ops.push_str(&format!(
                "0.6 G 0.6 w {:.2} {:.2} m {:.2} {:.2} l S\n",
                MARGIN_X,
                p.baseline - 4.0,
                PAGE_WIDTH - MARGIN_X,
                p.baseline - 4.0
            ));
        }
        for span in &line.spans {
            if span.bytes.is_empty() {
                continue;
            }
            ops.push_str(&format!(
                "{} BT /{} {:.1} Tf {:.2} {:.2} Td ",
                line.style.colour.fill(),
                span.font.resource(),
                line.style.size,
                line.x + span.dx,
                p.baseline
            ));
            bytes.extend_from_slice(ops.as_bytes());
            ops.clear();
            bytes.extend_from_slice(&pdf_string(&span.bytes));
            bytes.extend_from_slice(b" Tj ET\n");
        }
    }
    let size = 8.0;
    let page_label = encode(&format!("{reference} page {number} of {count}"));
    let right = PAGE_WIDTH - MARGIN_X - Font::Regular.text_width(&page_label, size);
    ops.push_str(&format!(
        "0.3 g BT /F1 {size:.1} Tf {MARGIN_X:.2} {FOOTER_BASELINE:.2} Td (Confidential) Tj ET\n\
         BT /F1 {size:.1} Tf {right:.2} {FOOTER_BASELINE:.2} Td "
    ));
    bytes.extend_from_slice(ops.as_bytes());
    bytes.extend_from_slice(&pdf_string(&page_label));
    bytes.extend_from_slice(b" Tj ET\n");
    bytes
}

/// A PDF literal string: `(`, `)` and `\` escaped, and any byte below a
/// space written in octal, so no text can end the string early.
fn pdf_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(b'(');
    for &b in bytes {
        match b {
            b'(' | b')' | b'\\' => {
                out.push(b'\\');
                out.push(b);
            }
            0..=31 => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b')');
    out
}

/// A PDF text string for the document information: PDFDocEncoding (plain
/// ASCII here) when it can be, otherwise UTF-16BE with its byte-order mark.
fn info_string(text: &str) -> Object {
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    if text.is_ascii() {
        Object::String(text.into_bytes(), StringFormat::Literal)
    } else {
        let mut bytes = vec![0xFE, 0xFF];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_be_bytes());
        }
        Object::String(bytes, StringFormat::Hexadecimal)
    }
}

fn write(
    report: &Report,
    pages: &[Vec<Placed>],
    generated_at: DateTime<Utc>,
    out: &mut Vec<u8>,
) -> Result<(), lopdf::Error> {
    let mut doc = Document::with_version("1.4");
    let pages_id = doc.new_object_id();
    let mut fonts = lopdf::Dictionary::new();
    for font in [Font::Regular, Font::Bold] {
        let id = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => font.base_font(),
            "Encoding" => "WinAnsiEncoding",
        });
        fonts.set(font.resource(), id);
    }
    let resources_id = doc.add_object(dictionary! { "Font" => fonts });
    let count = pages.len();
    let mut kids = Vec::with_capacity(count);
    for (i, placed) in pages.iter().enumerate() {
        let content = page_content(placed, &report.reference, i + 1, count);
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => resources_id,
        });
        kids.push(Object::Reference(page_id));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => i64::try_from(count).unwrap_or(i64::MAX),
            "MediaBox" => vec![0.into(), 0.into(), PAGE_WIDTH.into(), PAGE_HEIGHT.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    let info_id = doc.add_object(dictionary! {
        "Title" => info_string(&report.document_title),
        "Subject" => info_string(&report.title),
        "Producer" => info_string("safeguarding-bot"),
        "CreationDate" => info_string(&generated_at.format("D:%Y%m%d%H%M%SZ").to_string()),
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    doc.compress();
    doc.save_to(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::report::Section;

    fn widest(lines: &[Vec<u8>], font: Font, size: f32) -> f32 {
        lines.iter().map(|l| font.text_width(l, size)).fold(0.0, f32::max)
    }

    #[test]
    fn wrapping_keeps_every_line_inside_the_width_and_every_word() {
        let text = encode(
            "The person said they had been sent messages late at night by someone claiming to be a \
             coach from the club, asking for photographs and to keep it secret from their parents.",
        );
        let lines = wrap(&text, Font::Regular, 10.0, 150.0, 150.0);
        assert!(lines.len() > 3, "{} lines", lines.len());
        assert!(widest(&lines, Font::Regular, 10.0) <= 150.0);
        assert_eq!(lines.join(&b' '), text);
        // Lines are filled: the next word would not have fitted on each.
        for pair in lines.windows(2) {
            let next_word = pair[1].split(|b| *b == b' ').next().unwrap_or_default();
            let with_it = [&pair[0][..], b" ", next_word].concat();
            assert!(Font::Regular.text_width(&with_it, 10.0) > 150.0);
        }
    }

    #[test]
    fn wrapping_uses_real_widths() {
        // 30 Ws are far wider than 30 is at the same size.
        let ws = wrap(&[b'W'; 30], Font::Regular, 10.0, 100.0, 100.0);
        let is = wrap(&[b'i'; 30], Font::Regular, 10.0, 100.0, 100.0);
        assert!(ws.len() >= 3, "{ws:?}");
        assert_eq!(is.len(), 1);
        // Bold is wider than regular.
        let words = encode("many small words in a row to wrap");
        assert!(
            wrap(&words, Font::Bold, 10.0, 60.0, 60.0).len()
                >= wrap(&words, Font::Regular, 10.0, 60.0, 60.0).len()
        );
    }

    #[test]
    fn a_word_longer_than_a_line_is_broken() {
        let long = vec![b'x'; 10_000];
        let lines = wrap(&long, Font::Regular, 10.0, TEXT_WIDTH, TEXT_WIDTH);
        assert!(lines.len() > 50);
        assert!(widest(&lines, Font::Regular, 10.0) <= TEXT_WIDTH);
        assert_eq!(lines.concat(), long);
    }

    #[test]
    fn a_short_first_line_moves_a_word_that_does_not_fit() {
        let lines = wrap(b"unbreakable words", Font::Regular, 10.0, 5.0, 200.0);
        assert_eq!(lines, vec![b"".to_vec(), b"unbreakable words".to_vec()]);
        let lines = wrap(b"ab cdefghijkl", Font::Regular, 10.0, 20.0, 200.0);
        assert_eq!(lines, vec![b"ab".to_vec(), b"cdefghijkl".to_vec()]);
    }

    #[test]
    fn empty_text_is_one_empty_line() {
        assert_eq!(
            wrap(b"", Font::Regular, 10.0, 100.0, 100.0),
            vec![Vec::<u8>::new()]
        );
        assert_eq!(
            wrap(b"   ", Font::Regular, 10.0, 100.0, 100.0),
            vec![Vec::<u8>::new()]
        );
    }

    #[test]
    fn strings_cannot_escape() {
        assert_eq!(pdf_string(br"a(b)c\d"), br"(a\(b\)c\\d)".to_vec());
        assert_eq!(pdf_string(b"x\ny"), b"(x\\012y)".to_vec());
    }

    fn report(blocks: Vec<Block>) -> Report {
        Report {
            title: "Org: safeguarding concern SG-0007".into(),
            reference: "SG-0007".into(),
            document_title: "Org SG-0007".into(),
            sections: vec![Section {
                heading: "Chronology",
                blocks,
            }],
            footer: vec![Block::Fact {
                label: "Generated".into(),
                value: "now".into(),
            }],
        }
    }

    #[test]
    fn no_line_runs_off_the_page() {
        let blocks = vec![
            Block::Fact {
                label: "A label long enough to need most of the line on its own, and then some more".into(),
                value: "W".repeat(400),
            },
            Block::Text {
                label: "Words".into(),
                text: "“".repeat(300) + "x ".repeat(500).as_str(),
                own_words: true,
            },
            Block::Event {
                when: "10:00 GMT, 1 December 2026".into(),
                heading: "Note".into(),
                number: Some(1),
                who: "@someone-with-a-very-long-name:a-very-long-homeserver.example.org".into(),
                text: "m".repeat(5000),
            },
        ];
        let lines = layout(&report(blocks));
        for line in &lines {
            for span in &line.spans {
                let right = line.x + span.dx + span.font.text_width(&span.bytes, line.style.size);
                assert!(right <= PAGE_WIDTH - MARGIN_X + 0.01, "runs to {right}");
            }
        }
        let pages = paginate(&lines);
        assert!(pages.len() > 1);
        for page in &pages {
            for p in page {
                assert!(p.baseline >= MARGIN_BOTTOM - 5.0 && p.baseline <= PAGE_HEIGHT - MARGIN_TOP);
            }
        }
    }

    #[test]
    fn a_heading_is_never_last_on_a_page() {
        let mut blocks: Vec<Block> = (0..200).map(|i| Block::Remark(format!("line {i}"))).collect();
        blocks.insert(
            52,
            Block::Answer {
                question: "A question?".into(),
                answer: "yes".into(),
            },
        );
        let lines = layout(&report(blocks));
        for page in paginate(&lines) {
            let last = page.last().map(|p| p.line);
            assert!(
                last.is_some_and(|l| !l.keep_with_next),
                "a page ends with a heading"
            );
        }
    }

    #[test]
    fn the_pdf_has_its_pages_and_title() {
        let blocks: Vec<Block> = (0..300).map(|i| Block::Remark(format!("line {i}"))).collect();
        let bytes = render(&report(blocks), DateTime::<Utc>::UNIX_EPOCH);
        assert!(bytes.starts_with(b"%PDF-1.4"));
        let doc = Document::load_mem(&bytes).expect("a PDF lopdf can read");
        assert!(doc.get_pages().len() >= 5);
        let info = doc
            .trailer
            .get(b"Info")
            .and_then(Object::as_reference)
            .and_then(|id| doc.get_dictionary(id))
            .expect("an Info dictionary");
        assert_eq!(
            info.get(b"Title").and_then(Object::as_str).ok(),
            Some(&b"Org SG-0007"[..])
        );
    }

    #[test]
    fn a_title_outside_ascii_is_utf16() {
        assert_eq!(
            info_string("Cŵn"),
            Object::String(
                vec![0xFE, 0xFF, 0, b'C', 0x01, 0x75, 0, b'n'],
                StringFormat::Hexadecimal
            )
        );
        assert_eq!(
            info_string("CLAPA\n SG-1"),
            Object::String(b"CLAPA SG-1".to_vec(), StringFormat::Literal)
        );
    }
}
