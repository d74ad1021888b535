//! The export as Markdown, to read as it is or to paste into a system that
//! renders it.
//!
//! What someone typed can hold Markdown of its own (`# `, `- `, `**`,
//! `<b>`, a line of `---`). It is kept where it belongs: one-line values
//! have the characters Markdown would act on backslash-escaped, and text of
//! several lines is a block quote inside its list item, every line
//! prefixed, so a line of it can never become a heading, a list item, a
//! table or raw HTML of the export itself.

use super::report::{event_heading, Block, Report, CONFIDENTIAL};
use super::winansi::paragraphs;

/// The document, as UTF-8 text.
pub(crate) fn render(report: &Report) -> String {
    let mut out = String::with_capacity(8 * 1024);
    out.push_str(&format!("# {}\n\n", inline(&report.title)));
    out.push_str(&format!("**{}**\n", inline(CONFIDENTIAL)));
    for section in &report.sections {
        blank_line(&mut out);
        out.push_str(&format!("## {}\n\n", inline(section.heading)));
        for block in &section.blocks {
            block_md(&mut out, block);
        }
    }
    blank_line(&mut out);
    out.push_str("---\n\n");
    for block in &report.footer {
        block_md(&mut out, block);
    }
    out
}

fn block_md(out: &mut String, block: &Block) {
    match block {
        Block::Fact { label, value } => {
            if paragraphs(value).len() > 1 {
                out.push_str(&format!("- **{}:**\n\n", inline(label)));
                quote(out, value);
            } else {
                out.push_str(&format!("- **{}:** {}\n", inline(label), inline(value)));
            }
        }
        Block::Answer { question, answer } => {
            out.push_str(&format!("- **{}**\n", inline(question)));
            out.push_str(&format!("  - Answer: {}\n", inline(answer)));
        }
        Block::Text {
            label,
            text,
            own_words,
        } => {
            out.push_str(&format!("- **{}:**\n\n", inline(label)));
            if *own_words {
                quote(out, &format!("“{text}”"));
            } else {
                quote(out, text);
            }
        }
        Block::Remark(text) => out.push_str(&format!("{}\n", inline(text))),
        Block::Event {
            when,
            heading,
            number,
            who,
            text,
        } => {
            out.push_str(&format!(
                "- {}: **{}** by {}\n",
                inline(when),
                inline(&event_heading(heading, *number)),
                inline(who)
            ));
            if !text.is_empty() {
                out.push('\n');
                quote(out, text);
            }
        }
    }
}

/// Text as a block quote inside a list item: every line prefixed, so
/// nothing in it can end the quote. A line followed by another ends in two
/// spaces, Markdown's line break, so the lines stay as they were written.
fn quote(out: &mut String, text: &str) {
    let lines: Vec<String> = paragraphs(text)
        .into_iter()
        .map(|l| line_start(&inline(l)))
        .collect();
    for (i, line) in lines.iter().enumerate() {
        let next_is_text = lines.get(i + 1).is_some_and(|n| !n.is_empty());
        if line.is_empty() {
            out.push_str("  >\n");
        } else if next_is_text {
            out.push_str(&format!("  > {line}  \n"));
        } else {
            out.push_str(&format!("  > {line}\n"));
        }
    }
    out.push('\n');
}

/// Ends what is written so far with exactly one blank line.
fn blank_line(out: &mut String) {
    while !out.ends_with("\n\n") {
        out.push('\n');
    }
}

/// One line of someone's text with the characters Markdown acts on inside
/// a line escaped; line breaks become spaces.
pub(crate) fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, line) in paragraphs(text).into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        for c in line.chars() {
            match c {
                '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                c if c.is_control() && c != '\t' => out.push('\u{FFFD}'),
                c => out.push(c),
            }
        }
    }
    out
}

/// An escaped line, made safe at the start of a line too: a leading `#`,
/// `-`, `+`, `=` or `1.` would make a heading, list item or rule.
fn line_start(line: &str) -> String {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let first = trimmed.chars().next();
    if matches!(first, Some('#' | '-' | '+' | '=')) {
        return format!("{indent}\\{trimmed}");
    }
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && matches!(trimmed.as_bytes().get(digits), Some(b'.' | b')')) {
        return format!("{indent}{}\\{}", &trimmed[..digits], &trimmed[digits..]);
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_text_escapes_what_markdown_acts_on() {
        assert_eq!(inline("plain words"), "plain words");
        assert_eq!(inline("**bold** <b>x</b>"), r"\*\*bold\*\* \<b\>x\</b\>");
        assert_eq!(inline("[link](http://x)"), r"\[link\](http://x)");
        assert_eq!(inline("two\nlines"), "two lines");
    }

    #[test]
    fn quoted_lines_cannot_become_structure() {
        let mut out = String::new();
        quote(
            &mut out,
            "# not a heading\n- not an item\n\n1. not numbered\n---\nok",
        );
        assert_eq!(
            out,
            "  > \\# not a heading  \n  > \\- not an item\n  >\n  > 1\\. not numbered  \n  > \\---  \n  > ok\n\n"
        );
    }

    #[test]
    fn a_fact_of_several_lines_is_quoted() {
        let mut out = String::new();
        block_md(
            &mut out,
            &Block::Fact {
                label: "Where".into(),
                value: "first\n## second".into(),
            },
        );
        assert_eq!(out, "- **Where:**\n\n  > first  \n  > \\## second\n\n");
    }
}
