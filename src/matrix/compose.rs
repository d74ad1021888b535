//! What the bot says in Matrix, as plain text and HTML. Pure functions: no
//! SDK calls, so every message can be tested as a person would read it.
//!
//! Everything a reporter typed is escaped before it goes into HTML.

use chrono::{DateTime, Utc};

use crate::concern::{ConcernRecord, Reference};

/// A message as plain text and, where it has formatting, HTML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub plain: String,
    pub html: Option<String>,
}

impl Text {
    pub fn plain(s: impl Into<String>) -> Self {
        Text {
            plain: s.into(),
            html: None,
        }
    }
}

/// Escapes text for HTML, so nothing a person typed can add markup.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn escape_lines(s: &str) -> String {
    escape(s).replace('\n', "<br>")
}

fn pill(user: &str) -> String {
    format!(
        "<a href=\"https://matrix.to/#/{}\">{}</a>",
        escape(user),
        escape(user)
    )
}

/// Formats a time for people: UTC is stored, the organisation's zone shown.
pub fn when(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%H:%M on %-d %B %Y").to_string()
}

/// The page. It may show on a locked phone, so it names the reference, the
/// urgency and the reporter, and nothing of the concern.
pub fn page(reference: &Reference, urgent: bool, reporter: &str, lead: &str) -> Text {
    let urgency = if urgent {
        "URGENT: someone may be in immediate danger. "
    } else {
        ""
    };
    let plain = format!(
        "{lead}: {urgency}New safeguarding concern {reference}, reported by {reporter}. Please acknowledge: type !ack here or react with ✅. The record follows in this room."
    );
    let html = format!(
        "{}: {}New safeguarding concern <b>{reference}</b>, reported by {}. Please acknowledge: type <code>!ack</code> here or react with ✅. The record follows in this room.",
        pill(lead),
        if urgent { "<b>URGENT: someone may be in immediate danger.</b> " } else { "" },
        escape(reporter)
    );
    Text {
        plain,
        html: Some(html),
    }
}

/// The full record for the escalation room, with every reporter string escaped.
pub fn record(r: &ConcernRecord, tz: chrono_tz::Tz) -> Text {
    let mut html = format!(
        "<h3>Concern {} ({})</h3>\n<p>Reported by {}. Started {}, recorded {}.<br>Flow: {} version {}.</p>\n",
        r.reference,
        escape(r.status.label()),
        escape(&r.reporter),
        when(r.started_at, tz),
        when(r.recorded_at, tz),
        escape(&r.flow_id),
        escape(&r.flow_version),
    );
    if r.urgent {
        html.push_str(
            "<p><b>Urgent: someone may be in immediate danger. The reporter was told to call 999.</b></p>\n",
        );
    }
    if !r.decisions.is_empty() {
        html.push_str("<p><b>Flowchart answers</b></p>\n<ul>\n");
        for d in &r.decisions {
            html.push_str(&format!(
                "<li>{} <b>{}</b></li>\n",
                escape(&d.question),
                escape(&d.answer)
            ));
        }
        html.push_str("</ul>\n");
    }
    if let Some(route) = &r.route {
        html.push_str(&format!(
            "<p><b>Route:</b> {} ({}, {})<br><b>Guidance shown:</b> {}<br><b>To note afterwards:</b> {}</p>\n",
            escape(&route.title),
            escape(&route.agency),
            escape(&route.contact),
            escape_lines(&route.guidance),
            escape(&route.note_afterwards)
        ));
    }
    html.push_str("<p><b>The record</b></p>\n<ul>\n");
    for f in &r.fields {
        match (&f.value, f.verbatim) {
            (Some(v), true) => html.push_str(&format!(
                "<li>{} (their own words, verbatim):<blockquote>{}</blockquote></li>\n",
                escape(&f.label),
                escape_lines(v)
            )),
            (Some(v), false) => {
                html.push_str(&format!("<li>{}: {}</li>\n", escape(&f.label), escape_lines(v)))
            }
            (None, _) => html.push_str(&format!("<li>{}: <i>skipped</i></li>\n", escape(&f.label))),
        }
    }
    html.push_str("</ul>");
    Text {
        plain: r.to_text(),
        html: Some(html),
    }
}

/// The staff-room notice: nothing about the concern.
pub fn staff_room_notice(reporter_name: &str) -> Text {
    Text::plain(format!(
        "{reporter_name}, I've sent you a private message to take your report. If anyone is in immediate danger, call 999 now."
    ))
}

/// For someone who is not a member of a staff room.
pub fn not_staff() -> Text {
    Text::plain(
        "Sorry, I can only take reports from this organisation's staff and volunteers.\n\
         If a child or anyone else is in immediate danger, call 999.\n\
         If you are worried about a child, you can call the NSPCC helpline on 0808 800 5000.\n\
         If a child is being contacted online in a sexual way, you can report it to CEOP at https://www.ceop.police.uk/Safety-Centre.",
    )
}

/// Said in a private room when there is no report in progress.
pub fn how_to_start() -> Text {
    Text::plain("Hello. To report a safeguarding concern, type report. If anyone is in immediate danger, call 999 now.")
}

/// Said when someone sends a picture or a file.
pub fn no_attachments() -> Text {
    Text::plain(
        "Please don't send pictures, screenshots or files here, and never send images of a child: doing so can be an offence. I haven't kept it.\n\
         Describe what you saw in words, and give the web address or account name instead.",
    )
}

pub fn ack_confirmed(reference: &Reference, by: &str, at: DateTime<Utc>, tz: chrono_tz::Tz) -> Text {
    Text::plain(format!("{reference} acknowledged by {by} at {}.", when(at, tz)))
}

pub fn ack_already(reference: &Reference, by: &str, at: DateTime<Utc>, tz: chrono_tz::Tz) -> Text {
    Text::plain(format!(
        "{reference} was already acknowledged by {by} at {}.",
        when(at, tz)
    ))
}

pub fn ack_not_allowed() -> Text {
    Text::plain("Only the Lead or a Deputy for Safeguarding can acknowledge a concern. Nothing has changed.")
}

pub fn reporter_told_ack(reference: &Reference, by: &str, at: DateTime<Utc>, tz: chrono_tz::Tz) -> Text {
    Text::plain(format!(
        "Your report {reference} has been acknowledged by {by} at {}. They will be in touch if they need more from you.",
        when(at, tz)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_reference_urgency_reporter_and_lead_only() {
        let t = page(&Reference::new(42), true, "@sam:example.org", "@dsl:example.org");
        assert!(t.plain.starts_with("@dsl:example.org: URGENT"));
        assert!(
            t.plain.contains("SG-0042") && t.plain.contains("@sam:example.org") && t.plain.contains("!ack")
        );
        let calm = page(&Reference::new(42), false, "@sam:example.org", "@dsl:example.org");
        assert!(!calm.plain.contains("URGENT"));
    }

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape("<b onclick='x'>&\"</b>"),
            "&lt;b onclick=&#39;x&#39;&gt;&amp;&quot;&lt;/b&gt;"
        );
    }
}
