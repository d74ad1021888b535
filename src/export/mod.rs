//! Exports of one concern (Markdown, HTML, PDF) to send with a referral,
//! for example to the local authority's designated officer.
//!
//! Every format says the same things in the same order (see
//! `report::Report`): a heading and a confidentiality line; a summary
//! (reference, status, urgency, reporter, start, acknowledgement, category,
//! outcome); what the reporter said; the route and the guidance exactly as
//! it was shown; the whole chronology; and a footer naming the flowchart
//! (id, version, digest) and who generated the export, when.
//!
//! - `report`: the content, built once from a [`CaseView`].
//! - `markdown`, `html`, `pdf`: the three renderers. Each treats every
//!   word that came from a person or a flow file as untrusted: HTML escapes
//!   it, Markdown keeps it inside quotes and list items, the PDF maps it to
//!   what its fonts can show.
//! - `winansi`: the PDF's character set and Helvetica's widths.
//!
//! Pure: the time of generation is passed in, nothing is written or
//! logged. An export holds the words of a concern: never log it.

mod html;
mod markdown;
mod pdf;
mod report;
mod winansi;

pub use html::escape as escape_html;

use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::casework::CaseView;
use crate::concern::Reference;

/// The kinds of file a concern can be exported as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Pdf,
    Html,
    Markdown,
}

/// Why a word is not an export format.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not an export format: use pdf, html or md")]
pub struct BadFormat(pub String);

impl FromStr for Format {
    type Err = BadFormat;

    /// "pdf", "html", "md" or "markdown", in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pdf" => Ok(Format::Pdf),
            "html" => Ok(Format::Html),
            "md" | "markdown" => Ok(Format::Markdown),
            _ => Err(BadFormat(s.to_string())),
        }
    }
}

impl Format {
    /// The file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Html => "html",
            Format::Markdown => "md",
        }
    }

    /// The media type, for a chat upload or an HTTP response.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Pdf => "application/pdf",
            Format::Html => "text/html; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
        }
    }

    /// The name shown to people: "PDF", "HTML", "Markdown".
    pub fn label(self) -> &'static str {
        match self {
            Format::Pdf => "PDF",
            Format::Html => "HTML",
            Format::Markdown => "Markdown",
        }
    }
}

/// What an export says about itself, apart from the concern.
#[derive(Clone, Copy, Debug)]
pub struct ExportMeta<'a> {
    /// The organisation's name, at the head of the export ("CLAPA").
    pub organisation: &'a str,
    /// Every time in the export is shown in this zone.
    pub tz: chrono_tz::Tz,
    pub generated_at: DateTime<Utc>,
    /// Who asked for the export, by name (never a chat id), or "command line".
    pub generated_by: &'a str,
}

/// The concern as a file in `format`. Never fails and never panics,
/// whatever the record holds: HTML and Markdown escape what they must and
/// keep every character; the PDF, whose fonts show only WinAnsi, shows any
/// other character as `?`, leaves out invisible ones (joiners, variation
/// selectors, combining accents) and sets runs of spaces as one.
pub fn render(view: &CaseView, format: Format, meta: &ExportMeta) -> Vec<u8> {
    let report = report::Report::build(view, meta);
    match format {
        Format::Pdf => pdf::render(&report, meta.generated_at),
        Format::Html => html::render(&report).into_bytes(),
        Format::Markdown => markdown::render(&report).into_bytes(),
    }
}

/// The file name for an export: "SG-0042.pdf".
pub fn file_name(reference: &Reference, format: Format) -> String {
    format!("{reference}.{}", format.extension())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_in_any_case() {
        assert_eq!("pdf".parse(), Ok(Format::Pdf));
        assert_eq!("PDF".parse(), Ok(Format::Pdf));
        assert_eq!(" Html ".parse(), Ok(Format::Html));
        assert_eq!("md".parse(), Ok(Format::Markdown));
        assert_eq!("MarkDown".parse(), Ok(Format::Markdown));
    }

    #[test]
    fn a_bad_format_says_which_ones_exist() {
        let err = "xyz".parse::<Format>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`xyz` is not an export format: use pdf, html or md"
        );
        assert!("".parse::<Format>().is_err());
        assert!("docx".parse::<Format>().is_err());
    }

    #[test]
    fn file_names_and_types() {
        let r = Reference::new(42);
        assert_eq!(file_name(&r, Format::Pdf), "SG-0042.pdf");
        assert_eq!(file_name(&r, Format::Html), "SG-0042.html");
        assert_eq!(file_name(&r, Format::Markdown), "SG-0042.md");
        assert_eq!(Format::Pdf.mime(), "application/pdf");
        assert!(Format::Html.mime().starts_with("text/html"));
        assert!(Format::Markdown.mime().starts_with("text/markdown"));
        assert_eq!(Format::Markdown.label(), "Markdown");
    }
}
