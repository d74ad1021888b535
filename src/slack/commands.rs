//! `/report`: answered within Slack's 3 seconds with a reply only the
//! reporter sees, and nothing posted where they typed it. Someone who may
//! not report is told why, with the public routes; anyone else is sent to
//! their DM with the bot, where the core starts the report (or shows the
//! question one in progress is at), or, with `intake = "form"`, to a form
//! that opens at once and is filled in once the checks are done.

use std::sync::Arc;
use std::time::Duration;

use slack_morphism::prelude::*;
use tracing::{error, info, warn};

use super::people::Person;
use super::{form, Adapter};
use crate::bot::{compose, Accepted, Core, FormOpen, Inbound, InboundKind};
use crate::config::SlackIntake;

/// What the lookups before the reply may take: Slack shows the person an
/// error if the acknowledgement takes more than 3 seconds.
const LOOKUP_BUDGET: Duration = Duration::from_millis(2200);

/// Said to someone who runs `/report` with a report in progress.
const IN_PROGRESS: &str = "You have a report in progress in your direct message with me (under Apps, Safeguarding): answer the last question there, or type back or cancel. If anyone is in immediate danger, call 999 now.";

/// The public routes, said to anyone the bot cannot take a report from.
fn public_routes() -> String {
    // The refusal's words, without its first line (who the bot takes
    // reports from), which the caller replaces with why.
    let words = compose::not_staff().plain;
    words
        .split_once('\n')
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(words)
}

/// Handles `/report` from `event`; returns the reply only they see.
pub async fn report(adapter: &Arc<Adapter>, event: &SlackCommandEvent) -> String {
    let user = event.user_id.0.as_str();
    // In a form, the form opens at once, while its trigger is fresh (Slack
    // allows 3 seconds), saying "Just a moment"; what follows fills it in.
    let loading = (adapter.intake == SlackIntake::Form).then(|| {
        let (api, trigger) = (adapter.chat.api().clone(), event.trigger_id.0.clone());
        tokio::spawn(async move { form::open_loading(&api, &trigger).await })
    });
    let (core, dm) = match may_report(adapter, user).await {
        Ok(found) => found,
        Err(words) => {
            if let Some(loading) = loading {
                let (api, words) = (adapter.chat.api().clone(), words.clone());
                tokio::spawn(
                    async move { form::show_words(&api, loading.await.ok().flatten(), &words).await },
                );
            }
            return words;
        }
    };
    let request = format!("slack:command/{}", event.trigger_id.0);
    if let Some(loading) = loading {
        let (adapter, user) = (adapter.clone(), user.to_string());
        tokio::spawn(async move {
            let view = loading.await.ok().flatten();
            fill_form(&adapter, &core, &user, &dm, view, &request).await
        });
        return compose::opening_form().plain;
    }
    // Mid-report, a request in the DM would only resume it: point them
    // back to the question instead.
    match core.report_in_progress(user) {
        Ok(true) => return IN_PROGRESS.to_string(),
        Ok(false) => {}
        Err(e) => {
            warn!(error = %e, "could not read whether someone has a report in progress");
            return cannot_tell("I couldn't read your report just now");
        }
    }
    match core.accept_kept(in_dm(&request, &dm, user)) {
        Accepted::Kept => compose::messaged_privately().plain,
        // Their messages are coming too fast: this one is not taken.
        Accepted::Dropped => compose::too_fast().plain,
        Accepted::NotKept => {
            warn!("/report was not kept");
            cannot_tell("I couldn't save your request just now")
        }
    }
}

/// Whether `user` may report, as far as the adapter can tell at once (a
/// full member of the workspace, with a DM the bot can write to): the core
/// and their DM, noted as their private chat; or the words that say why not.
async fn may_report(adapter: &Adapter, user: &str) -> Result<(Arc<Core>, String), String> {
    let lookup = tokio::time::timeout(LOOKUP_BUDGET, adapter.people.get(user)).await;
    let person = match lookup {
        Ok(Ok(person)) => person,
        Ok(Err(e)) => {
            warn!(error = %e, "could not look up who ran /report");
            return Err(cannot_tell("Slack did not tell me who you are just now"));
        }
        Err(_) => return Err(cannot_tell("Slack took too long to tell me who you are")),
    };
    if let Person::Refused(refusal) = person {
        info!(why = ?refusal, "/report from someone who may not report here");
        return Err(format!(
            "Sorry, I can only take reports from this organisation's staff and volunteers. {}\n{}",
            refusal.why(),
            public_routes()
        ));
    }
    let dm = match tokio::time::timeout(LOOKUP_BUDGET, adapter.chat.open_dm(user)).await {
        Ok(Ok(dm)) => dm,
        Ok(Err(e)) => {
            warn!(error = %e, "could not open a direct message for /report");
            return Err(cannot_tell("I couldn't open a private chat with you just now"));
        }
        Err(_) => return Err(cannot_tell("Slack took too long to open a private chat with you")),
    };
    let core = adapter.core().map_err(|_| cannot_tell("I am restarting"))?;
    if let Err(e) = adapter.adopt_dm(&core, user, &dm) {
        error!(error = %format!("{e:#}"), "could not note a direct message as someone's private chat");
    }
    Ok((core, dm))
}

/// A request from `user` to report, handed to the core as from their DM:
/// it starts the report there, or shows the question a report in progress
/// is at (never taken as an answer). Slash commands are not sent again;
/// `request` (from the trigger) is unique to this one.
fn in_dm(request: &str, dm: &str, user: &str) -> Inbound {
    Inbound {
        event_id: request.to_string(),
        room_id: dm.to_string(),
        sender: user.to_string(),
        kind: InboundKind::StartReport,
        written_at: None,
    }
}

/// Fills the form opened as `view` with the report's first question, or
/// the question where they left off, or why they may not report. If the
/// form did not open, or cannot show the question, the request goes to
/// their DM instead, where the core answers it, so they are never left
/// without a word.
async fn fill_form(
    adapter: &Adapter,
    core: &Arc<Core>,
    user: &str,
    dm: &str,
    view: Option<String>,
    request: &str,
) {
    let to_dm = |why: &str| {
        warn!("{why}; the report goes on in the DM");
        if let Err(e) = adapter.keep(core, in_dm(&format!("{request}/dm"), dm, user)) {
            error!(error = %e, "a /report could not be passed to the DM");
        }
    };
    let Some(view) = view else {
        return to_dm("the report form did not open");
    };
    let api = adapter.chat.api();
    match core.form_open(user, request).await {
        Ok(FormOpen::Open(form)) => {
            if !form::update(api, &view, &form).await {
                to_dm("the report form could not show its question");
                form::show_words(api, Some(view), &compose::form_moved_to_dm().plain).await;
            }
        }
        Ok(FormOpen::Refused(words)) => form::show_words(api, Some(view), &words).await,
        Err(e) => {
            error!(error = %format!("{e:#}"), "could not start a report in a form");
            form::show_words(
                api,
                Some(view),
                &cannot_tell("I couldn't start your report just now"),
            )
            .await;
        }
    }
}

/// Said when the bot cannot take the request now, with why.
fn cannot_tell(why: &str) -> String {
    format!(
        "Sorry, {why}, so I can't take your report yet. Please try /report again in a few minutes.\n{}",
        public_routes()
    )
}
