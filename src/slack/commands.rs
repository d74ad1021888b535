//! `/report`: answered within Slack's 3 seconds with a reply only the
//! reporter sees, and nothing posted where they typed it. Someone who may
//! not report is told why, with the public routes; anyone else is sent to
//! their DM with the bot, where the core takes the report, as if they had
//! typed "report" there.

use std::sync::Arc;
use std::time::Duration;

use slack_morphism::prelude::*;
use tracing::{error, info, warn};

use super::people::Person;
use super::Adapter;
use crate::bot::{compose, Core, FormOpen, Inbound, InboundKind};
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
    let lookup = tokio::time::timeout(LOOKUP_BUDGET, adapter.people.get(user)).await;
    let person = match lookup {
        Ok(Ok(person)) => person,
        Ok(Err(e)) => {
            warn!(error = %e, "could not look up who ran /report");
            return cannot_tell("Slack did not tell me who you are just now");
        }
        Err(_) => return cannot_tell("Slack took too long to tell me who you are"),
    };
    if let Person::Refused(refusal) = person {
        info!(why = ?refusal, "/report from someone who may not report here");
        return format!(
            "Sorry, I can only take reports from this organisation's staff and volunteers. {}\n{}",
            refusal.why(),
            public_routes()
        );
    }
    let dm = match tokio::time::timeout(LOOKUP_BUDGET, adapter.chat.open_dm(user)).await {
        Ok(Ok(dm)) => dm,
        Ok(Err(e)) => {
            warn!(error = %e, "could not open a direct message for /report");
            return cannot_tell("I couldn't open a private chat with you just now");
        }
        Err(_) => return cannot_tell("Slack took too long to open a private chat with you"),
    };
    let core = match adapter.core() {
        Ok(core) => core,
        Err(_) => return cannot_tell("I am restarting"),
    };
    if let Err(e) = adapter.adopt_dm(&core, user, &dm) {
        error!(error = %format!("{e:#}"), "could not note a direct message as someone's private chat");
    }
    let request = format!("slack:command/{}", event.trigger_id.0);
    if adapter.intake == SlackIntake::Form {
        // Opened after this reply goes: Slack allows 3 seconds for each.
        let (adapter, user, trigger) = (adapter.clone(), user.to_string(), event.trigger_id.0.clone());
        tokio::spawn(async move { open_form(&adapter, &core, &user, &dm, &trigger, &request).await });
        return compose::opening_form().plain;
    }
    // Mid-report, "report" in the DM would be taken as an answer: point
    // them back to the question instead.
    match crate::intake::current(&core.store, user) {
        Ok(Some(_)) => return IN_PROGRESS.to_string(),
        Ok(None) => {}
        Err(e) => {
            warn!(error = %e, "could not read whether someone has a report in progress");
            return cannot_tell("I couldn't read your report just now");
        }
    }
    match adapter.keep(&core, in_dm(&request, &dm, user)) {
        Ok(()) => compose::messaged_privately().plain,
        Err(e) => {
            warn!(error = %e, "/report was not kept");
            cannot_tell("I couldn't save your request just now")
        }
    }
}

/// "report" from `user` in their DM: the report taken there, as if they
/// had typed it. Slash commands are not sent again; `request` (from the
/// trigger) is unique to this one.
fn in_dm(request: &str, dm: &str, user: &str) -> Inbound {
    Inbound {
        event_id: request.to_string(),
        room_id: dm.to_string(),
        sender: user.to_string(),
        kind: InboundKind::Text {
            body: "report".into(),
            mentions_bot: false,
        },
    }
}

/// Opens the report's form for `user`, at its first question or where
/// they left off. If they may not report, or the form cannot be opened,
/// the request goes to their DM instead, where the core answers it (with
/// the refusal, or the question), so they are never left without a word.
async fn open_form(adapter: &Adapter, core: &Arc<Core>, user: &str, dm: &str, trigger: &str, request: &str) {
    let opened = match core.form_open(user, request).await {
        Ok(FormOpen::Open(form)) => {
            let params = serde_json::json!({ "trigger_id": trigger, "view": super::form::view(&form) });
            match adapter.chat.api().call("views.open", params).await {
                Ok(_) => true,
                Err(e) => {
                    warn!(error = %e, "could not open the report form; the report goes on in the DM");
                    false
                }
            }
        }
        Ok(FormOpen::Refused(_)) => false,
        Err(e) => {
            error!(error = %format!("{e:#}"), "could not start a report in a form; the request goes to the DM");
            false
        }
    };
    if !opened {
        if let Err(e) = adapter.keep(core, in_dm(&format!("{request}/dm"), dm, user)) {
            error!(error = %e, "a /report could not be passed to the DM");
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
