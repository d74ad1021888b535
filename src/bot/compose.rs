//! What the bot says, as plain text and HTML. Pure functions: no
//! SDK calls, so every message can be tested as a person would read it.
//!
//! Everything a reporter typed is escaped before it goes into HTML.
//! People are named through [`Person`] alone: by the name people know them
//! by, never by a chat id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::concern::{ConcernRecord, Reference};

pub mod outside;

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

/// Escapes text for HTML, so nothing a person typed can add markup (the
/// same escaping as the HTML export).
pub fn escape(s: &str) -> String {
    crate::export::escape_html(s)
}

fn escape_lines(s: &str) -> String {
    escape(s).replace('\n', "<br>")
}

/// Someone the bot names in a message: their chat id, to mention them, and
/// the name people know them by, to show. Every message names people
/// through this, so how a person is written is decided here alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
}

impl Person {
    /// `name` as the chat gave it. A chat that knows no name gives the id
    /// back, which is never shown: see [`Person::known`].
    pub fn new(id: &str, name: &str) -> Person {
        Person::known(id, Some(name))
    }

    /// Someone by the name kept with an entry, if one was (an entry kept
    /// before names were kept has none). Without a name, a Matrix id shows
    /// as its user name (`@sam:example.org` as "sam"); any other id (a
    /// Slack `U…`) means nothing to people, so it shows as a role.
    pub fn known(id: &str, name: Option<&str>) -> Person {
        let name = match name.map(str::trim).filter(|n| !n.is_empty() && *n != id) {
            Some(n) => n.to_string(),
            None => fallback_name(id),
        };
        Person {
            id: id.to_string(),
            name,
        }
    }

    /// As plain text: the name.
    pub fn plain(&self) -> String {
        self.name.clone()
    }

    /// As HTML: a pill (a link to the person that Matrix clients show as
    /// them) where the id is a Matrix id, else the name, escaped.
    pub fn html(&self) -> String {
        if is_matrix_id(&self.id) {
            format!(
                "<a href=\"https://matrix.to/#/{}\">{}</a>",
                escape(&self.id),
                escape(&self.name)
            )
        } else {
            escape(&self.name)
        }
    }
}

/// What is shown for someone whose name was never known.
fn fallback_name(id: &str) -> String {
    match id.strip_prefix('@').and_then(|rest| rest.split_once(':')) {
        Some((local, _)) if !local.is_empty() => local.to_string(),
        _ => "a member of staff (name not recorded)".to_string(),
    }
}

fn is_matrix_id(id: &str) -> bool {
    id.starts_with('@') && id.contains(':')
}

/// People as a list for plain text: "Ann, Bob".
pub fn names(people: &[Person]) -> String {
    people.iter().map(Person::plain).collect::<Vec<_>>().join(", ")
}

fn names_html(people: &[Person]) -> String {
    people.iter().map(Person::html).collect::<Vec<_>>().join(", ")
}

/// `text` for a chat that marks a mention inline (Slack's `<@U…>`, shown
/// there as the person's name): the first place each of `pinged` is named
/// becomes `mention(id)`. Only people a message is meant to ring are
/// mentioned: a name anywhere else stays a name, and rings nobody.
pub fn with_mentions(
    text: &str,
    people: &[Person],
    pinged: &[String],
    mention: impl Fn(&str) -> String,
) -> String {
    let mut out = text.to_string();
    for person in people.iter().filter(|p| pinged.contains(&p.id)) {
        if let Some(at) = out.find(&person.name) {
            out.replace_range(at..at + person.name.len(), &mention(&person.id));
        }
    }
    out
}

/// Formats a time for people: UTC is stored, the organisation's zone shown.
pub fn when(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%H:%M on %-d %B %Y").to_string()
}

/// The page. It may show on a locked phone, so it names the reference, the
/// urgency and the reporter, and nothing of the concern. `again` marks a
/// repeat page for a concern nobody has acknowledged yet.
pub fn page(reference: &Reference, urgent: bool, reporter: &Person, who: &[Person], again: bool) -> Text {
    let urgency = if urgent {
        "URGENT: someone may be in immediate danger. "
    } else {
        ""
    };
    let by = reporter.plain();
    let what = if again {
        format!("Safeguarding concern {reference}, reported by {by}, has not been acknowledged yet.")
    } else {
        format!("New safeguarding concern {reference}, reported by {by}.")
    };
    let what_html = if again {
        format!(
            "Safeguarding concern <b>{reference}</b>, reported by {}, has not been acknowledged yet.",
            reporter.html()
        )
    } else {
        format!(
            "New safeguarding concern <b>{reference}</b>, reported by {}.",
            reporter.html()
        )
    };
    let plain = format!(
        "{}: {urgency}{what} Please acknowledge: type !ack here or react with ✅. The record is in this room.",
        names(who)
    );
    let html = format!(
        "{}: {}{what_html} Please acknowledge: type <code>!ack</code> here or react with ✅. The record is in this room.",
        names_html(who),
        if urgent { "<b>URGENT: someone may be in immediate danger.</b> " } else { "" },
    );
    Text {
        plain,
        html: Some(html),
    }
}

/// Told to the reporter when every step of paging has passed with no
/// acknowledgement: as the policy says, they must act themselves now.
pub fn no_answer_yet(reference: &Reference, route: Option<&crate::concern::RouteTaken>) -> Text {
    let act = act_now(route);
    Text::plain(format!(
        "No Lead or Deputy for Safeguarding has answered yet about your report {reference}.\n{act}\nIf anyone is in immediate danger, call 999. I will keep trying them and tell you as soon as someone answers."
    ))
}

/// What the policy says a reporter does when no lead can be reached.
fn act_now(route: Option<&crate::concern::RouteTaken>) -> String {
    match route {
        Some(r) if r.urgent => "If anyone is in immediate danger, call 999 now.".to_string(),
        Some(r) => format!(
            "As our policy says, if the Lead or Deputy is not available, you must take action yourself now: {} ({}).",
            r.title, r.contact
        ),
        None => "As our policy says, if the Lead or Deputy is not available, you must take action yourself now.".to_string(),
    }
}

/// Told to the reporter when no Lead or Deputy could be reached in chat at
/// all (none could be let into the concern's room, or nothing reached the
/// leads): nobody knows yet, so they act now, as the policy says.
pub fn nobody_reachable(reference: &Reference, route: Option<&crate::concern::RouteTaken>) -> Text {
    let act = act_now(route);
    Text::plain(format!(
        "Your report {reference} is recorded, but I could not reach any Lead or Deputy for Safeguarding in chat, so nobody has been told yet.\n{act}\nIf anyone is in immediate danger, call 999. I will keep trying and tell you as soon as someone answers."
    ))
}

/// Told to the leads when someone could not be let into a concern's room
/// for good: they have not been paged about it; the others are.
pub fn could_not_invite(reference: &Reference, name: &str, reason: &str) -> Text {
    Text::plain(format!(
        "I could not invite {name} to the room for {reference}: {reason}. They have not been paged about it; everyone else is paged as planned. Please make sure they are told, or check their details in the bot's settings."
    ))
}

/// Told to the leads when something for a concern could not be done for
/// good.
pub fn could_not_do(reference: &Reference, what: &str, reason: &str) -> Text {
    Text::plain(format!(
        "I could not {what} for {reference}: {reason}. The concern is recorded; see it with !show {reference}."
    ))
}

/// Told to the leads while one thing keeps failing although the chat
/// works, before it is given up.
pub fn still_trying(reference: Option<&Reference>, what: &str) -> Text {
    let about = reference.map(|r| format!(" for {r}")).unwrap_or_default();
    Text::plain(format!(
        "I am still trying to {what}{about}, but it keeps failing. Everything else goes on as planned. I will try a little longer, then tell you if I give up."
    ))
}

/// A reminder to whoever acknowledged a concern that is still open.
pub fn reminder(reference: &Reference, who: &Person) -> Text {
    Text {
        plain: format!(
            "{}: safeguarding concern {reference} is still open. Please record what has been done, or close it.",
            who.plain()
        ),
        html: Some(format!(
            "{}: safeguarding concern <b>{reference}</b> is still open. Please record what has been done, or close it.",
            who.html()
        )),
    }
}

/// The full record for the escalation room, with every reporter string
/// escaped. `reporter` is who made it, named.
pub fn record(r: &ConcernRecord, reporter: &Person, tz: chrono_tz::Tz) -> Text {
    let mut html = format!(
        "<h3>Concern {} ({})</h3>\n<p>Reported by {}. Started {}, recorded {}.<br>Flow: {} version {}.</p>\n",
        r.reference,
        escape(r.status.label()),
        reporter.html(),
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
            "<p><b>Route:</b> {}. Who: {} ({})<br><b>Guidance shown:</b> {}<br><b>To note afterwards:</b> {}</p>\n",
            escape(&route.title),
            escape(&route.agency),
            escape(&route.contact),
            escape_lines(&route.guidance),
            escape(&route.note_afterwards)
        ));
    }
    html.push_str("<p><b>The record</b></p>\n<ul>\n");
    for f in &r.fields {
        // A skipped answer is simply not there.
        match (&f.value, f.verbatim) {
            (Some(v), true) => html.push_str(&format!(
                "<li>{}:<blockquote>{}</blockquote></li>\n",
                escape(&verbatim_label(&f.label)),
                escape_lines(v)
            )),
            (Some(v), false) => {
                html.push_str(&format!("<li>{}: {}</li>\n", escape(&f.label), escape_lines(v)))
            }
            (None, _) => {}
        }
    }
    html.push_str("</ul>");
    Text {
        plain: record_text(r, reporter),
        html: Some(html),
    }
}

/// The record as plain text for the leads' chat: what was answered, in the
/// flow's own words; skipped answers left out.
fn record_text(r: &ConcernRecord, reporter: &Person) -> String {
    let mut out = format!(
        "Reference: {}\nStatus: {}\nReported by: {}\n",
        r.reference,
        r.status.label(),
        reporter.plain()
    );
    if r.urgent {
        out.push_str("Urgent: yes, someone may be in immediate danger\n");
    }
    for d in &r.decisions {
        out.push_str(&format!("{}\n  Answer: {}\n", d.question, d.answer));
    }
    if let Some(route) = &r.route {
        out.push_str(&format!("Route: {}. Who: {}\n", route.title, route.agency));
    }
    for f in &r.fields {
        match (&f.value, f.verbatim) {
            (Some(v), true) => out.push_str(&format!("{}:\n  \"{v}\"\n", verbatim_label(&f.label))),
            (Some(v), false) => out.push_str(&format!("{}: {v}\n", f.label)),
            (None, _) => {}
        }
    }
    out
}

/// A verbatim answer's label, saying once that it is word for word.
fn verbatim_label(label: &str) -> String {
    if label.to_lowercase().contains("own words") {
        format!("{label}, word for word")
    } else {
        format!("{label} (their own words, word for word)")
    }
}

/// The staff-room notice: nothing about the concern.
pub fn staff_room_notice(reporter_name: &str) -> Text {
    Text::plain(format!(
        "{reporter_name}, I've sent you a private message to take your report. If anyone is in immediate danger, call 999 now."
    ))
}

/// The reply only the reporter sees when they ask to report somewhere the
/// chat can answer them alone (Slack's `/report`): the report itself goes on
/// in their private chat.
pub fn messaged_privately() -> Text {
    Text::plain(
        "I've messaged you privately to take your report. If anyone is in immediate danger, call 999 now.",
    )
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

/// Said when the bot cannot check the staff list just now (a staff room is
/// out of reach): the person is not refused for good.
pub fn cannot_check_staff() -> Text {
    Text::plain(
        "Sorry, I can't check the staff list just now, so I can't take your report yet. Please try again in a few minutes.\n\
         If a child or anyone else is in immediate danger, call 999 now.\n\
         If you are worried about a child, you can call the NSPCC helpline on 0808 800 5000.\n\
         If a child is being contacted online in a sexual way, you can report it to CEOP at https://www.ceop.police.uk/Safety-Centre.",
    )
}

/// Said in a private room when there is no report in progress.
pub fn how_to_start() -> Text {
    Text::plain("Hello. To report a safeguarding concern, type report. If anyone is in immediate danger, call 999 now.")
}

/// Said when someone sends a picture or a file.
/// `removed`: whether the bot could remove it from the chat itself.
pub fn no_attachments(removed: bool) -> Text {
    let what_now = if removed {
        "I have removed it from this chat and not kept it; delete your own copy too."
    } else {
        "I have not kept it, but I can't remove it from this chat: please delete it now (open the message's menu, then Delete), and delete your own copy too."
    };
    Text::plain(format!(
        "Please don't send pictures, screenshots or files here, and never send images of a child: doing so can be an offence. {what_now}\n\
         Describe what you saw in words, and give the web address or account name instead. If it is a sexual image of a child, report where you saw it to the Internet Watch Foundation: report.iwf.org.uk",
    ))
}

pub fn ack_confirmed(reference: &Reference, by: &Person, at: DateTime<Utc>, tz: chrono_tz::Tz) -> Text {
    Text::plain(format!(
        "{reference} acknowledged by {} at {}.",
        by.plain(),
        when(at, tz)
    ))
}

pub fn ack_already(reference: &Reference, by: &Person, at: DateTime<Utc>, tz: chrono_tz::Tz) -> Text {
    Text::plain(format!(
        "{reference} was already acknowledged by {} at {}.",
        by.plain(),
        when(at, tz)
    ))
}

pub fn ack_not_allowed() -> Text {
    Text::plain("Only the Lead or a Deputy for Safeguarding can acknowledge a concern. Nothing has changed.")
}

pub fn reporter_told_ack(reference: &Reference, by: &Person, at: DateTime<Utc>, tz: chrono_tz::Tz) -> Text {
    Text::plain(format!(
        "Your report {reference} has been acknowledged by {} at {}. They will be in touch if they need more from you.",
        by.plain(),
        when(at, tz)
    ))
}

/// Told to the reporter when the Lead closes their concern: that it is
/// closed, never the outcome or anything the leads wrote.
pub fn reporter_told_closed(reference: &Reference) -> Text {
    Text::plain(format!(
        "Your report {reference} has been closed. Thank you for reporting it.\n\
         If you see or hear anything more about it, send !add {reference} and what you saw. For something new, send report."
    ))
}

/// Told to the reporter when the page or the record could not be passed
/// on in chat: it is recorded, the leads have been told, and what to do.
pub fn reporter_told_delivery_trouble(reference: &Reference) -> Text {
    Text::plain(format!(
        "Your report {reference} is recorded. I had trouble passing it on in chat, and the safeguarding leads have been told, so they can read it.\n\
         To be sure it is seen quickly, also tell the Lead or Deputy for Safeguarding yourself. If anyone is in immediate danger, call 999 now."
    ))
}

/// Said in a private chat someone else has come into: the report moves.
pub fn private_chat_moved() -> Text {
    Text::plain(
        "Someone else is in this chat now, so I won't use it for reports any more. I've opened a new private chat with you to carry on. If anyone is in immediate danger, call 999 now.",
    )
}

/// Said in a chat of theirs that the bot did not make, while they have a
/// report in progress: nothing here is taken as an answer.
pub fn report_continues_elsewhere() -> Text {
    Text::plain(
        "Your report carries on in your private chat with me, called \"Safeguarding report\". Nothing you write here is taken as an answer. To start again, type report.",
    )
}

/// `!add` sent outside the private chat with the bot.
pub fn add_in_private_chat() -> Text {
    Text::plain(
        "To add to a report, send !add and its reference in your private chat with me, called \"Safeguarding report\", so it stays private. Nothing was added.",
    )
}

/// `/report`'s reply when the report is taken in a form.
pub fn opening_form() -> Text {
    Text::plain(
        "I'm opening a private form for your report. Your answers stay in the form and are not posted anywhere. If it doesn't open, I'll message you privately instead. If anyone is in immediate danger, call 999 now.",
    )
}

/// Shown in the form when its question could not be shown there.
pub fn form_moved_to_dm() -> Text {
    Text::plain(
        "I couldn't show your report here, so I've messaged you privately instead (under Apps, Safeguarding). If anyone is in immediate danger, call 999 now.",
    )
}

/// Shown in the form when an answer it sent was taken but the form was
/// not told (it sent it again): the question now asked.
pub fn form_answer_saved(prompt: &str) -> Text {
    Text::plain(format!("I saved your last answer.\n\n{prompt}"))
}

/// Shown in the form when an answer was kept but the next question could
/// not be read.
pub fn form_kept_but_stuck() -> Text {
    Text::plain(
        "Your answer is saved, but I can't show the next question just now. Please close this and type /report again in a few minutes to carry on. If anyone is in immediate danger, call 999 now.",
    )
}

/// Said in the form when an answer could not be saved.
pub fn form_not_saved() -> Text {
    Text::plain(
        "I couldn't save that just now. Please press Next again in a minute. If anyone is in immediate danger, call 999 now.",
    )
}

/// A form answered after its report has finished: how it finished (such
/// as "Your report SG-0001 is withdrawn."), and how to start another.
pub fn form_finished(how: &str) -> Text {
    Text::plain(format!(
        "{how} To report something else, close this and type /report again."
    ))
}

/// A pressed button, said back as the answer, so the chat reads as a record.
pub fn you_chose(label: &str) -> Text {
    Text::plain(format!("You answered: {label}"))
}

/// A button pressed on a question already answered: not taken.
pub fn button_for_earlier_question(prompt: &str) -> Text {
    Text::plain(format!(
        "That button was for an earlier question, so I haven't used it. Here is the question now:\n\n{prompt}"
    ))
}

/// A button pressed once the report it was for has finished.
pub fn button_for_finished_report() -> Text {
    Text::plain("That button was for a report that has already finished, so I haven't used it. To start a new report, type report.")
}

/// An edited answer: the report keeps what was first sent.
pub fn no_edits() -> Text {
    Text::plain(
        "I can't take edits: your report keeps what you first sent. Type back to change your last answer, or change it at the review before you send it.",
    )
}

/// An edited command: never run again, since it already ran (or was
/// answered) when first sent. `recorded`: it writes to a concern's record,
/// where what was first sent stands.
pub fn edited_command(recorded: bool) -> Text {
    let fix = if recorded {
        " What was first sent stands. To put an entry right, send !correct and the entry's number, for example: !correct 3 and the right words."
    } else {
        ""
    };
    Text::plain(format!(
        "I don't act on edited messages, so that edit changed nothing. To run a command, send it again as a new message.{fix}"
    ))
}

/// The unfinished-report notice when the report is in a form: the answers
/// stay in the form, never in a message.
pub fn unfinished_in_form(reference: &str) -> Text {
    Text::plain(format!(
        "You haven't finished report {reference}, so I have passed what you told me so far to the Lead for Safeguarding, marked incomplete. To carry on, type /report: your form opens where you left off."
    ))
}

/// Said in a concern's room when people no longer leads or deputies are
/// removed from it.
pub fn removed_from_concern_room(who: &[Person]) -> Text {
    Text::plain(format!(
        "I have removed {} from this room: the bot's settings do not name them as the Lead or a Deputy for Safeguarding, so they should not see this concern. If they should, ask whoever runs the bot to add them to its settings.",
        names(who)
    ))
}

/// Said once when someone's messages come faster than a person types.
pub fn too_fast() -> Text {
    Text::plain(
        "Your messages are coming faster than I can take them, so I have not read some of them. Wait a few seconds, then send your answer again, once. If anyone is in immediate danger, call 999 now.",
    )
}

/// Said when a message reached the bot encrypted with a key it does not
/// have (yet).
pub fn could_not_read() -> Text {
    Text::plain(
        "I couldn't read your last message: it reached me locked, with a key my device doesn't have. Please send it again. Nothing of it was recorded.",
    )
}

/// Said when nothing can be saved just now (the data directory cannot be
/// written): the message is kept to answer after the bot restarts.
pub fn cannot_save_now() -> Text {
    Text::plain(
        "Sorry, I can't save anything just now, so I am restarting. I will answer this message as soon as I am back; you don't need to send it again.\nIf anyone is in immediate danger, call 999 now. You can also tell the Lead or Deputy for Safeguarding directly.",
    )
}

/// Told to the reporter when the Lead reopens their concern.
pub fn reporter_told_reopened(reference: &Reference) -> Text {
    Text::plain(format!(
        "Your report {reference} has been reopened. The Lead or Deputy for Safeguarding will be in touch if they need more from you."
    ))
}

/// Told to the reporter when what they added is kept.
pub fn reporter_addition_kept(reference: &Reference) -> Text {
    Text::plain(format!(
        "Thank you. I have added that to {reference} and told the Safeguarding Lead."
    ))
}

/// Told to the leads, in the concern's own room, when the reporter adds to it.
pub fn leads_told_addition(reference: &Reference, entry: u32, text: &str) -> Text {
    let plain = format!("The reporter added to {reference} (entry {entry}):\n\"{text}\"");
    let html = format!(
        "The reporter added to <b>{reference}</b> (entry {entry}):<blockquote>{}</blockquote>",
        escape_lines(text)
    );
    Text {
        plain,
        html: Some(html),
    }
}

/// Told to the leads when the reporter adds to a concern whose room has
/// someone else in it: that there is more, not what.
pub fn leads_told_addition_without_words(reference: &Reference, entry: u32) -> Text {
    Text::plain(format!(
        "The reporter added to {reference} (entry {entry}). I have not shown it here because this room has people in it who are not the Lead or a Deputy; send !show {reference} in your private chat with me."
    ))
}

/// Mentions whoever has a closed concern when its reporter adds to it. No detail.
pub fn closed_concern_added_to(reference: &Reference, who: &Person) -> Text {
    Text::plain(format!(
        "{}: the reporter has added to {reference}, which is closed. Read it above or with !show; send !reopen if it needs more work.",
        who.plain()
    ))
}

/// Said to someone who is not a lead or deputy asking to see or change a concern.
pub fn leads_only() -> Text {
    Text::plain(
        "Only the Lead or a Deputy for Safeguarding can see or change concerns. Nothing has been shown or changed.\n\
         To report a concern, send report.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_leaves_out_skipped_answers_and_says_word_for_word_once() {
        use crate::concern::{FieldAnswer, RouteTaken, Status};
        let field = |id: &str, label: &str, value: Option<&str>, verbatim: bool| FieldAnswer {
            field_id: id.into(),
            label: label.into(),
            value: value.map(str::to_string),
            verbatim,
        };
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let concern = ConcernRecord {
            reference: Reference::new(7),
            status: Status::Submitted,
            reporter: "@sam:example.org".into(),
            flow_id: "f".into(),
            flow_version: "1".into(),
            flow_digest: "ab".repeat(32),
            started_at: t,
            recorded_at: t,
            decisions: vec![],
            route: Some(RouteTaken {
                outcome_id: "record_only".into(),
                title: "Record the concern".into(),
                agency: "Lead or Deputy for Safeguarding".into(),
                contact: String::new(),
                guidance: String::new(),
                note_afterwards: String::new(),
                urgent: false,
            }),
            fields: vec![
                field("what", "What was seen or heard", Some("a message"), false),
                field("own_words", "Their own words", None, true),
                field("said", "What they said", Some("leave me alone"), true),
            ],
            urgent: false,
        };
        let text = record(
            &concern,
            &Person::new("@sam:example.org", "Sam"),
            chrono_tz::Europe::London,
        );
        for shown in [&text.plain, text.html.as_ref().expect("html")] {
            assert!(!shown.contains("skipped"), "{shown}");
            assert!(
                !shown.contains("Their own words"),
                "a skipped answer is absent: {shown}"
            );
            assert!(!shown.contains("(their own words):"), "{shown}");
            assert!(
                shown.contains("What they said (their own words, word for word)"),
                "{shown}"
            );
            assert!(
                shown.contains("Record the concern. Who: Lead or Deputy for Safeguarding"),
                "{shown}"
            );
        }
    }

    #[test]
    fn the_page_names_reference_urgency_reporter_and_lead_only() {
        let who = vec![Person::new("@dsl:example.org", "Dee <DSL>")];
        let sam = Person::new("@sam:example.org", "Sam Staff");
        let t = page(&Reference::new(42), true, &sam, &who, false);
        assert!(t.plain.starts_with("Dee <DSL>: URGENT"), "{}", t.plain);
        assert!(t.plain.contains("SG-0042") && t.plain.contains("Sam Staff") && t.plain.contains("!ack"));
        assert!(
            !t.plain.contains("@dsl") && !t.plain.contains("@sam"),
            "{}",
            t.plain
        );
        let html = t.html.expect("html");
        assert!(
            html.starts_with("<a href=\"https://matrix.to/#/@dsl:example.org\">Dee &lt;DSL&gt;</a>: "),
            "a pill, shown as the name: {html}"
        );
        let again = page(&Reference::new(42), false, &sam, &who, true);
        assert!(!again.plain.contains("URGENT"));
        assert!(again.plain.contains("not been acknowledged yet"));
    }

    #[test]
    fn someone_whose_name_was_never_kept_is_shown_without_a_code() {
        assert_eq!(Person::known("@sam:example.org", None).plain(), "sam");
        assert_eq!(
            Person::known("@sam:example.org", Some("@sam:example.org")).plain(),
            "sam"
        );
        assert_eq!(Person::known("@sam:example.org", Some("  ")).plain(), "sam");
        let slack = Person::known("U0STAFF001", None);
        assert!(!slack.plain().contains("U0STAFF001"), "{}", slack.plain());
        assert_eq!(slack.html(), escape(&slack.plain()), "no link to a Slack id");
        assert_eq!(Person::known("U0STAFF001", Some("Sam")).plain(), "Sam");
    }

    #[test]
    fn only_whom_a_message_rings_is_mentioned() {
        let people = [Person::new("U1", "Ann"), Person::new("U2", "Bob")];
        let shown = with_mentions("Ann: from Bob, about Ann", &people, &["U1".into()], |id| {
            format!("<@{id}>")
        });
        assert_eq!(shown, "<@U1>: from Bob, about Ann");
    }

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape("<b onclick='x'>&\"</b>"),
            "&lt;b onclick=&#39;x&#39;&gt;&amp;&quot;&lt;/b&gt;"
        );
    }
}
