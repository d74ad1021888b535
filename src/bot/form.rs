//! A report in a form (on Slack, a modal), so that the reporter's answers
//! never become messages. The same conversation, intake and outbox as in a
//! private chat: [`Core::form_open`] starts or resumes it and
//! [`Core::form_answer`] takes one answer, each returning what the form
//! shows next. Only what the reporter must be able to find again goes to
//! their private chat: the instruction that comes with an urgent page, and
//! the confirmation with the reference.

use tracing::info;

use super::intake::Schedule;
use super::outbox::{Effects, Remember, Target};
use super::route::Staff;
use super::{compose, Core, Message};
use crate::conversation::{self, Button, Buttons, Conversation, Stage};
use crate::intake::{self, Outgoing};
use crate::store::Batch;

/// What the form shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormView {
    /// The bot's words: what the last answer brought, the question last.
    pub text: String,
    /// Which question is asked ([`conversation::question_key`]), to send
    /// back with the answer; `None` once the report has finished.
    pub question: Option<String>,
    pub answer: FormAnswer,
}

/// How the question is answered in the form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormAnswer {
    /// One of these choices.
    Choose(Buttons),
    /// Typed. Left empty, it answers `empty` (such as `skip`), or, when
    /// that is `None`, an answer is needed.
    Type { label: String, empty: Option<String> },
    /// Nothing more to answer: the report has finished.
    Done,
}

/// Whether the form may open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormOpen {
    Open(FormView),
    /// They may not report here (or the bot cannot tell): these words say
    /// why, with the public routes.
    Refused(String),
}

impl Core {
    /// Starts `user`'s report in a form, or resumes the one in progress at
    /// its question. `request` is unique to this request (a replay of it
    /// starts nothing twice).
    pub async fn form_open(&self, user: &str, request: &str) -> anyhow::Result<FormOpen> {
        match self.staff_check(user).await {
            Staff::Yes => {}
            Staff::No => return Ok(FormOpen::Refused(compose::not_staff().plain)),
            Staff::CannotTell => return Ok(FormOpen::Refused(compose::cannot_check_staff().plain)),
        }
        let mut batch = Batch::new();
        let mut effects = self.effects(request);
        let one_start_at_a_time = self.starting.lock().await;
        let out = intake::begin_in(
            &self.store,
            &mut batch,
            &self.flow,
            user,
            Some(request),
            self.now(),
        )?;
        let mut schedule = Schedule::new();
        let text = self.plan_form(&mut batch, &mut effects, user, out, &mut schedule)?;
        self.commit(batch, effects).await?;
        drop(one_start_at_a_time);
        self.set_deadlines(schedule);
        info!("report started or resumed in a form");
        Ok(FormOpen::Open(self.form_view(user, text)?))
    }

    /// An answer given in the form to `question`; `None` for a box left
    /// empty, which answers what the question says an empty answer means
    /// (`skip`, or `send` at the review). An answer to a question no longer
    /// asked (the form sent again after a lost reply, say) is not taken:
    /// the form shows the question now asked. `event` is unique to this
    /// submission: the same submission again is not a second answer.
    pub async fn form_answer(
        &self,
        user: &str,
        question: &str,
        answer: Option<&str>,
        event: &str,
    ) -> anyhow::Result<FormView> {
        let Some(current) = intake::current(&self.store, user)? else {
            return self.form_view(user, String::new());
        };
        // This answer may page: the page names the reporter and the leads.
        self.refresh_name("", user).await;
        self.learn_responder_names().await;
        let _one_at_a_time = self.locks.lock(&current.reference).await;
        let Some(current) = intake::current(&self.store, user)? else {
            return self.form_view(user, String::new());
        };
        if current.last_message.as_deref() == Some(event) {
            // This very answer was taken, and the form never heard: say so.
            let prompt = conversation::prompt(&self.flow, &current);
            return self.form_view(user, compose::form_answer_saved(&prompt).plain);
        }
        if conversation::question_key(&current) != question {
            return self.form_view(user, String::new());
        }
        let empty = match self.form_answer_for(&current) {
            FormAnswer::Type { empty, .. } => empty,
            _ => None,
        };
        let Some(answer) = answer.map(str::to_string).or(empty) else {
            // Nothing to take: the same question again.
            return self.form_view(user, String::new());
        };
        let mut batch = Batch::new();
        let Some(out) = intake::message_in(
            &self.store,
            &mut batch,
            &self.flow,
            user,
            &answer,
            event,
            self.now(),
        )?
        else {
            return self.form_view(user, String::new());
        };
        let mut effects = self.effects(event);
        let mut schedule = Schedule::new();
        let text = self.plan_form(&mut batch, &mut effects, user, out, &mut schedule)?;
        self.commit(batch, effects).await?;
        self.set_deadlines(schedule);
        // Kept: whatever goes wrong now, the form must not say otherwise.
        Ok(self.form_view(user, text).unwrap_or_else(|e| {
            tracing::error!(error = %format!("{e:#}"), "an answer in the form was kept, but what follows could not be read");
            FormView {
                text: compose::form_kept_but_stuck().plain,
                question: None,
                answer: FormAnswer::Done,
            }
        }))
    }

    /// What a step decided, for a form: the replies are shown in the form
    /// (and returned); the page and the record go as from a private chat.
    /// The replies of a step that pages or finishes also go to the private
    /// chat, so the 999 instruction and the reference are never only in a
    /// form that may be closed or lost.
    fn plan_form(
        &self,
        batch: &mut Batch,
        effects: &mut Effects,
        user: &str,
        out: Vec<Outgoing>,
        schedule: &mut Schedule,
    ) -> anyhow::Result<String> {
        let finished = out.iter().any(|o| matches!(o, Outgoing::Finished));
        let paged = out.iter().any(|o| matches!(o, Outgoing::Page { .. }));
        let (replies, rest): (Vec<Outgoing>, Vec<Outgoing>) =
            out.into_iter().partition(|o| matches!(o, Outgoing::Reply(_)));
        let replies: Vec<String> = replies
            .into_iter()
            .filter_map(|o| match o {
                Outgoing::Reply(text) => Some(text),
                _ => None,
            })
            .collect();
        // The confirmation whole; with a page, what to do now, without the
        // next question (which may be the review, with every answer).
        let copy = match replies.len() {
            _ if finished => replies.join("\n\n"),
            n if paged && n > 1 => replies[..n - 1].join("\n\n"),
            _ if paged => replies.join("\n\n"),
            _ => String::new(),
        };
        if !copy.is_empty() {
            effects.send(
                "formcopy",
                Target::Private(user.to_string()),
                Message::plain(compose::Text::plain(copy)),
                Remember::ReporterCopy(user.to_string()),
                None,
            );
        }
        let text = replies.join("\n\n");
        self.plan_outgoing(batch, effects, user, rest, schedule)?;
        Ok(text)
    }

    /// The form for `user` now: `text`, then the question asked, or what
    /// became of their last report.
    fn form_view(&self, user: &str, text: String) -> anyhow::Result<FormView> {
        let Some(c) = intake::current(&self.store, user)? else {
            let text = if text.is_empty() {
                match intake::latest(&self.store, user)? {
                    // Sent, or withdrawn: said as it is.
                    Some(finished) => {
                        compose::form_finished(&conversation::prompt(&self.flow, &finished)).plain
                    }
                    None => compose::how_to_start().plain,
                }
            } else {
                text
            };
            return Ok(FormView {
                text,
                question: None,
                answer: FormAnswer::Done,
            });
        };
        let text = if text.is_empty() {
            conversation::prompt(&self.flow, &c)
        } else {
            text
        };
        Ok(FormView {
            text,
            question: Some(conversation::question_key(&c)),
            answer: self.form_answer_for(&c),
        })
    }

    /// Whether reports are made in a form (`[slack] intake = "form"`).
    pub(super) fn reports_in_forms(&self) -> bool {
        self.config
            .slack
            .as_ref()
            .is_some_and(|s| s.intake == crate::config::SlackIntake::Form)
    }

    /// What the sweep for unfinished reports sends, when reports are made
    /// in a form: its reply asks the question the report is at, which at
    /// the review holds every answer, so the reporter gets a plain word
    /// instead and the question stays in the form. The page and the record
    /// go to the lead as they are.
    pub(super) fn unfinished_for_form(&self, reference: &str, out: Vec<Outgoing>) -> Vec<Outgoing> {
        if !self.reports_in_forms() {
            return out;
        }
        let mut told = false;
        out.into_iter()
            .filter_map(|o| match o {
                Outgoing::Reply(_) if !told => {
                    told = true;
                    Some(Outgoing::Reply(compose::unfinished_in_form(reference).plain))
                }
                Outgoing::Reply(_) | Outgoing::Buttons(_) => None,
                other => Some(other),
            })
            .collect()
    }

    /// How the question `c` is at is answered in a form.
    fn form_answer_for(&self, c: &Conversation) -> FormAnswer {
        let typed = |label: &str, empty: Option<&str>| FormAnswer::Type {
            label: label.to_string(),
            empty: empty.map(str::to_string),
        };
        // Where nothing can be typed, "back" and "cancel" are choices too.
        let choose = |b: Option<Buttons>| match b {
            Some(mut b) => {
                if !matches!(c.stage, Stage::ConfirmCancel { .. }) {
                    if !c.decisions.is_empty() || matches!(c.stage, Stage::Field { .. }) {
                        b.buttons.push(button("Go back to the previous question", "back"));
                    }
                    b.buttons.push(button("Cancel this report", "cancel"));
                }
                FormAnswer::Choose(b)
            }
            None => typed("Your answer", None),
        };
        match &c.stage {
            Stage::Field { index } => match self.flow.record.get(*index) {
                Some(f) if f.options.is_empty() => typed("Your answer", f.optional.then_some("skip")),
                _ => choose(conversation::buttons(&self.flow, c)),
            },
            Stage::Review => typed(
                "To change an answer, type its number. Leave this empty to send the report.",
                Some("send"),
            ),
            Stage::Done { .. } => FormAnswer::Done,
            _ => choose(conversation::buttons(&self.flow, c)),
        }
    }
}

fn button(label: &str, answer: &str) -> Button {
    Button {
        label: label.into(),
        answer: answer.into(),
    }
}
