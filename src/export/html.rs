//! The export as one self-contained HTML page: no scripts, no external
//! files, simple inline CSS that prints well on A4.
//!
//! Every word from the record goes through [`escape`], so text such as
//! `<script>` or `" onload="` shows as typed and can never become markup.

use super::report::{event_heading, Block, Report, CONFIDENTIAL};

const STYLE: &str = "\
body{font-family:Helvetica,Arial,sans-serif;color:#111;line-height:1.45;max-width:46em;margin:2em auto;padding:0 1em}\
h1{font-size:1.5em;margin-bottom:.3em}\
h2{font-size:1.15em;border-bottom:1px solid #999;margin-top:1.6em;padding-bottom:.1em}\
.confidential{font-weight:bold;color:#900;border:2px solid #900;padding:.4em .6em}\
.fact{margin:.2em 0}\
.value,.text,.event-text{white-space:pre-wrap;overflow-wrap:anywhere}\
.question{font-weight:bold;margin:.8em 0 .1em}\
.label{font-weight:bold;margin:.8em 0 .2em}\
.text{margin:.2em 0 .8em 1em;padding-left:.8em;border-left:3px solid #888}\
.own-words{font-style:italic}\
.event{margin:.6em 0;break-inside:avoid}\
.event-text{margin:.1em 0 0 1em}\
.when{color:#444}\
footer{margin-top:2em;border-top:1px solid #999;font-size:.85em;color:#333}\
@page{size:A4;margin:2cm}\
@media print{body{max-width:none;margin:0;padding:0}}";

/// The page, as UTF-8 text.
pub(crate) fn render(report: &Report) -> String {
    let mut out = String::with_capacity(8 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!("<title>{}</title>\n", escape(&report.title)));
    out.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    out.push_str(&format!("<h1>{}</h1>\n", escape(&report.title)));
    out.push_str(&format!(
        "<p class=\"confidential\">{}</p>\n",
        escape(CONFIDENTIAL)
    ));
    for section in &report.sections {
        out.push_str(&format!("<section>\n<h2>{}</h2>\n", escape(section.heading)));
        for block in &section.blocks {
            block_html(&mut out, block);
        }
        out.push_str("</section>\n");
    }
    out.push_str("<footer>\n");
    for block in &report.footer {
        block_html(&mut out, block);
    }
    out.push_str("</footer>\n</body>\n</html>\n");
    out
}

fn block_html(out: &mut String, block: &Block) {
    match block {
        Block::Fact { label, value } => out.push_str(&format!(
            "<p class=\"fact\"><strong>{}:</strong> <span class=\"value\">{}</span></p>\n",
            escape(label),
            escape(value)
        )),
        Block::Answer { question, answer } => out.push_str(&format!(
            "<p class=\"question\">{}</p>\n<p class=\"fact\"><strong>Answer:</strong> \
             <span class=\"value\">{}</span></p>\n",
            escape(question),
            escape(answer)
        )),
        Block::Text {
            label,
            text,
            own_words,
        } => {
            out.push_str(&format!("<p class=\"label\">{}:</p>\n", escape(label)));
            if *own_words {
                out.push_str(&format!(
                    "<blockquote class=\"text own-words\">“{}”</blockquote>\n",
                    escape(text)
                ));
            } else {
                out.push_str(&format!("<div class=\"text\">{}</div>\n", escape(text)));
            }
        }
        Block::Remark(text) => out.push_str(&format!("<p class=\"remark\">{}</p>\n", escape(text))),
        Block::Event {
            when,
            heading,
            number,
            who,
            text,
        } => {
            out.push_str(&format!(
                "<div class=\"event\"><p class=\"fact\"><span class=\"when\">{}</span> \
                 <strong>{}</strong> by {}</p>",
                escape(when),
                escape(&event_heading(heading, *number)),
                escape(who)
            ));
            if !text.is_empty() {
                out.push_str(&format!("<p class=\"event-text\">{}</p>", escape(text)));
            }
            out.push_str("</div>\n");
        }
    }
}

/// Text made safe anywhere in HTML, in content or in a quoted attribute.
/// Control characters HTML does not allow are shown as U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            '\r' => {}
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::report::Section;

    fn report_with(blocks: Vec<Block>) -> Report {
        Report {
            title: "Org <b>: safeguarding concern SG-0001".into(),
            reference: "SG-0001".into(),
            document_title: "Org SG-0001".into(),
            sections: vec![Section {
                heading: "What the reporter said",
                blocks,
            }],
            footer: vec![],
        }
    }

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("plain words, £20"), "plain words, £20");
        assert_eq!(escape("nul\u{0}here\r\n"), "nul\u{FFFD}here\n");
    }

    #[test]
    fn a_script_in_an_answer_comes_out_as_text() {
        let page = render(&report_with(vec![
            Block::Answer {
                question: "Is <i>anyone</i> in danger?".into(),
                answer: "<script>alert('x')</script>".into(),
            },
            Block::Text {
                label: "What they said (their own words)".into(),
                text: "\"><img src=x onerror=alert(1)>".into(),
                own_words: true,
            },
        ]));
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<i>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
        assert!(page.contains("<title>Org &lt;b&gt;: safeguarding concern SG-0001</title>"));
    }

    #[test]
    fn own_words_are_quoted_and_guidance_is_not() {
        let page = render(&report_with(vec![
            Block::Text {
                label: "Message (their own words)".into(),
                text: "line one\nline two".into(),
                own_words: true,
            },
            Block::Text {
                label: "Guidance shown to the reporter".into(),
                text: "Call 999.".into(),
                own_words: false,
            },
        ]));
        assert!(page.contains("<blockquote class=\"text own-words\">“line one\nline two”</blockquote>"));
        assert!(page.contains("<div class=\"text\">Call 999.</div>"));
        assert!(page.contains(CONFIDENTIAL));
    }
}
