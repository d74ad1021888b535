//! The Slack adapter: Socket Mode in, the Web API out, and [`Chat`] for
//! Slack ([`chat`]). Nothing here decides anything about a concern: that is
//! all in [`crate::bot`].
//!
//! - this file: [`run`], the Socket Mode listener and its callbacks. Every
//!   envelope is acknowledged once the core has kept its event in the
//!   inbox, or dropped it on purpose (not its business, or past the flood
//!   limit: dropped for good, so a redelivery is dropped too). Only an
//!   event the store could not keep goes unacknowledged, so that Slack
//!   delivers it again. An envelope that cannot be read is acknowledged
//!   and logged by kind alone: it may hold what a reporter wrote.
//! - [`events`]: Slack events as [`crate::bot::Inbound`]s, pure.
//! - [`commands`]: `/report`, answered within Slack's 3 seconds with a
//!   reply only the reporter sees; the report goes on in their DM, or in a
//!   form ([`form`]: the modal's views, and what a submitted one answers).
//! - [`people`]: who may report: full members of the workspace only.
//! - [`roster`]: who is in a channel; the staff channels' lists kept, and
//!   kept current by `member_joined_channel` and `member_left_channel`.
//! - [`chat`]: [`Chat`] for Slack; [`render`]: how its messages look.
//! - [`api`]: the Web API, raw, with its errors, pace and `Retry-After`.

mod api;
mod chat;
mod clock;
mod commands;
mod events;
mod form;
mod people;
mod render;
mod roster;
mod sent;
mod unreadable;

use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use serde_json::json;
use slack_morphism::prelude::*;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::bot::{Accepted, Chat, Core, Memo, Transport};
use crate::config::Config;
use crate::health::{Metrics, SelfWatch};
use api::{Api, Client};

/// How often Slack is checked to be in reach (`auth.test`), for `/healthz`.
const CHECK_EVERY: Duration = Duration::from_secs(30);

/// `/healthz` says ok while the last check of Slack passed within this.
const CHECK_WINDOW: Duration = Duration::from_secs(3 * 30);

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Why a callback left its envelope unacknowledged, so that Slack sends
/// it again. Only these are logged with their words: anything else that
/// reaches [`on_error`] comes from slack-morphism, and may carry a body.
#[derive(Debug, thiserror::Error)]
enum Unacked {
    #[error("an event could not be kept (the store failed)")]
    NotKept,
    #[error("the bot is stopping")]
    Stopping,
    #[error("the adapter's state is missing")]
    NoState,
}

/// What the listener's callbacks share. The core is held weakly, so the
/// listener never keeps it (and its store) alive once `serve` has returned.
struct Adapter {
    core: Weak<Core>,
    chat: Arc<chat::SlackChat>,
    people: Arc<people::People>,
    bot_user: String,
    /// Where a report's questions are asked: the DM, or a form.
    intake: crate::config::SlackIntake,
}

impl Adapter {
    fn core(&self) -> Result<Arc<Core>, Failure> {
        self.core.upgrade().ok_or_else(|| Unacked::Stopping.into())
    }

    /// Hands an event to the core; an error only if it could not be kept
    /// (the store failed), so the envelope is not acknowledged and Slack
    /// sends it again. One dropped on purpose is acknowledged: sent again,
    /// it would only be dropped again, or taken late as an answer.
    fn keep(&self, core: &Core, inbound: crate::bot::Inbound) -> Result<(), Failure> {
        // On disk before the envelope is acknowledged.
        match core.accept_kept(inbound) {
            Accepted::Kept | Accepted::Dropped => Ok(()),
            Accepted::NotKept => Err(Box::new(Unacked::NotKept)),
        }
    }

    /// The bot's direct message with someone is their private chat: noted
    /// as the core notes a private chat it made, unless one is noted.
    fn adopt_dm(&self, core: &Core, user: &str, dm: &str) -> anyhow::Result<()> {
        self.chat.note_dm(dm, user);
        core.adopt_private_chat(user, dm)?;
        Ok(())
    }
}

async fn adapter(state: &SlackClientEventsUserState) -> Result<Arc<Adapter>, Failure> {
    state
        .read()
        .await
        .get_user_state::<Arc<Adapter>>()
        .cloned()
        .ok_or_else(|| Unacked::NoState.into())
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let adapter = adapter(&state).await?;
    if let Some((channel, user, joined)) = events::membership(&event) {
        match joined {
            true => adapter.chat.roster().joined(channel, user),
            false => adapter.chat.roster().left(channel, user),
        }
    }
    let Some(mut inbound) = events::inbound(&event, &adapter.bot_user) else {
        return Ok(());
    };
    inbound.written_at = inbound.written_at.map(|at| adapter.chat.clock().to_local(at));
    let core = adapter.core()?;
    // A direct message (`D…`) is only ever between the bot and its sender.
    if inbound.room_id.starts_with('D') {
        if let Err(e) = adapter.adopt_dm(&core, &inbound.sender, &inbound.room_id) {
            error!(error = %format!("{e:#}"), "could not note a direct message as someone's private chat");
        }
    }
    adapter.keep(&core, inbound)
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let adapter = adapter(&state).await?;
    let text = commands::report(&adapter, &event).await;
    Ok(
        SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text))
            .with_response_type(SlackMessageResponseType::Ephemeral),
    )
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let adapter = adapter(&state).await?;
    if let SlackInteractionEvent::ViewSubmission(submission) = &event {
        return Ok(form_submitted(&adapter, submission).await);
    }
    let Some(inbound) = events::button(&event, render::ACK_ACTION) else {
        return Ok(SlackInteractionResponse::Empty);
    };
    let core = adapter.core()?;
    adapter.keep(&core, inbound)?;
    Ok(SlackInteractionResponse::Empty)
}

/// How long an answer in the form may take: Slack shows an error in the
/// form if the acknowledgement with the next question takes over 3 seconds.
const FORM_BUDGET: Duration = Duration::from_millis(2500);

/// A short digest of a form's answer, for its event id (never logged).
fn answer_digest(answer: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(answer.unwrap_or_default().as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// An answer sent from the report's form: taken by the core, and the next
/// question (or the confirmation) given back to show in the form. If it
/// could not be saved, the form says so beside the answer, and keeps it.
async fn form_submitted(
    adapter: &Adapter,
    submission: &SlackInteractionViewSubmissionEvent,
) -> SlackInteractionResponse {
    let Some((question, answer)) = form::submitted(submission) else {
        return SlackInteractionResponse::Empty;
    };
    let not_saved = || {
        let errors = [("answer".to_string(), crate::bot::compose::form_not_saved().plain)];
        SlackViewSubmissionResponse::Errors(SlackViewSubmissionErrorsResponse::new(
            errors.into_iter().collect(),
        ))
        .into()
    };
    let Ok(core) = adapter.core() else {
        return not_saved();
    };
    let user = submission.user.id.0.as_str();
    // The view's hash changes with each update, and the answer is part of
    // the id: the same submission sent again is not a second answer, and
    // another answer in the same view (after one refused) is not lost.
    let event = format!(
        "slack:form/{}/{}/{}",
        submission.view.state_params.id.0,
        submission.view.state_params.hash,
        answer_digest(answer.as_deref())
    );
    let taken = tokio::time::timeout(
        FORM_BUDGET,
        core.form_answer(user, &question, answer.as_deref(), &event),
    )
    .await;
    let form = match taken {
        Ok(Ok(form)) => form,
        Ok(Err(e)) => {
            error!(error = %format!("{e:#}"), "an answer in the report form was not saved");
            return not_saved();
        }
        Err(_) => {
            warn!("an answer in the report form took too long; the reporter is asked to send it again");
            return not_saved();
        }
    };
    match form::as_slack_view(form::view(&form)) {
        Ok(view) => SlackViewSubmissionResponse::Update(SlackViewSubmissionUpdateResponse::new(view)).into(),
        Err(e) => {
            error!(error = %e, "the report form's next view could not be made");
            not_saved()
        }
    }
}

/// A callback that failed is not acknowledged, so Slack sends it again.
/// Anything slack-morphism reports (an envelope it could not read, a
/// socket's failure) is logged by its kind and the envelope's type alone:
/// its text may carry the body, a reporter's words among it.
fn on_error(err: Failure, _client: Arc<Client>, _state: SlackClientEventsUserState) -> HttpStatusCode {
    if let Some(unacked) = err.downcast_ref::<Unacked>() {
        warn!(error = %unacked, "an envelope was not acknowledged; Slack will send it again");
        return HttpStatusCode::INTERNAL_SERVER_ERROR;
    }
    let (kind, envelope) = unreadable::describe(err.as_ref());
    warn!(
        kind,
        envelope,
        "Slack sent something the bot could not read, or its connection failed; nothing of it was kept"
    );
    HttpStatusCode::OK
}

/// The Web API client, pointed at `api_url` (Slack, or a stand-in in tests).
fn client(api_url: &str) -> anyhow::Result<Arc<Client>> {
    // Both of rustls's crypto providers are compiled in (from different
    // dependencies), so it cannot choose; Socket Mode's TLS uses the
    // process default. Already set (by a test, or a second run) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .context("could not load the system's root certificates to reach Slack")?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    let connector =
        SlackClientHyperConnector::with_connector(https).with_slack_api_url(api_url.trim_end_matches('/'));
    Ok(Arc::new(SlackClient::new(connector)))
}

/// The Slack transport: give it to [`crate::bot::host`] to run the bot on
/// Slack.
pub struct Slack {
    config: Config,
    signed_in: Option<SignedIn>,
}

/// What signing in gave, for serving.
struct SignedIn {
    client: Arc<Client>,
    api: Api,
    chat: Arc<chat::SlackChat>,
    people: Arc<people::People>,
    bot_user: String,
}

impl Slack {
    pub fn new(config: &Config) -> Slack {
        Slack {
            config: config.clone(),
            signed_in: None,
        }
    }

    fn settings(&self) -> anyhow::Result<&crate::config::SlackConfig> {
        self.config
            .slack
            .as_ref()
            .context("the config has no [slack] table")
    }
}

#[async_trait::async_trait]
impl Transport for Slack {
    fn health_window(&self) -> Duration {
        CHECK_WINDOW
    }

    async fn connect(&mut self, _memo: Memo<'_>, metrics: &Arc<Metrics>) -> anyhow::Result<Arc<dyn Chat>> {
        let slack = self.settings()?;
        let client = client(&slack.api_url)?;
        let api = Api::new(client.clone(), &slack.bot_token);
        let me = api.call("auth.test", json!({})).await.with_context(|| {
            format!("Slack refused the bot token (auth.test at {}); check SAFEGUARDING_BOT_SLACK_BOT_TOKEN or [slack] bot_token_file", slack.api_url)
        })?;
        let bot_user = me["user_id"].as_str().unwrap_or_default().to_string();
        let team_id = me["team_id"].as_str().unwrap_or_default().to_string();
        info!(user = %bot_user, team = %team_id, "signed in to Slack");
        metrics.synced(Utc::now());

        let people = Arc::new(people::People::new(api.clone(), team_id));
        let chat = Arc::new(chat::SlackChat::new(
            api.clone(),
            people.clone(),
            bot_user.clone(),
        ));
        self.signed_in = Some(SignedIn {
            client,
            api,
            chat: chat.clone(),
            people,
            bot_user,
        });
        Ok(chat as Arc<dyn Chat>)
    }

    async fn serve(
        self,
        core: Arc<Core>,
        metrics: Arc<Metrics>,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let slack = self.settings()?.clone();
        let signed_in = self.signed_in.context("serve before connect")?;
        signed_in.chat.attach(&core);
        core.chat_synced();
        let adapter = Arc::new(Adapter {
            core: Arc::downgrade(&core),
            chat: signed_in.chat,
            people: signed_in.people,
            bot_user: signed_in.bot_user,
            intake: slack.intake,
        });
        let listener = listen(signed_in.client, adapter, &slack.app_token).await?;
        let watch = SelfWatch::new(self.config.health.unreachable_alert_after, Utc::now());
        let watcher = tokio::spawn(watch_slack(
            signed_in.api,
            Arc::downgrade(&core),
            watch,
            metrics,
            stop.clone(),
        ));
        let _ = stop.wait_for(|s| *s).await;
        listener.shutdown().await;
        watcher.abort();
        let _ = watcher.await;
        Ok(())
    }
}

/// Opens the Socket Mode connection. One socket: slack-morphism's default
/// of two opens the second one late, and one is all a single bot needs.
async fn listen(
    client: Arc<Client>,
    adapter: Arc<Adapter>,
    app_token: &str,
) -> anyhow::Result<SlackClientSocketModeListener<api::Connector>> {
    let callbacks = SlackSocketModeListenerCallbacks::new()
        // slack-morphism does not export its hello type: a closure infers it.
        .with_hello_events(|_hello, _client, _state| async move {
            info!("connected to Slack over Socket Mode");
        })
        .with_command_events(on_command)
        .with_push_events(on_push)
        .with_interaction_events(on_interaction);
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(client)
            .with_user_state(adapter)
            .with_error_handler(on_error),
    );
    let listener = SlackClientSocketModeListener::new(
        &SlackClientSocketModeConfig::new()
            .with_max_connections_count(1)
            .with_reconnect_timeout_in_seconds(1),
        environment,
        callbacks,
    );
    let token = SlackApiToken::new(app_token.to_string().into());
    listener.listen_for(&token).await.map_err(|e| {
        anyhow::anyhow!("could not open Socket Mode with the app-level token (apps.connections.open): {e}; check SAFEGUARDING_BOT_SLACK_APP_TOKEN or [slack] app_token_file, and that Socket Mode is on for the app")
    })?;
    listener.start().await;
    Ok(listener)
}

/// Checks that Slack is in reach (`auth.test`), for `/healthz`, the logs
/// and the self-watch: once Slack has been out of reach for longer than
/// `[health] unreachable_alert_after` the core is told
/// ([`Core::chat_unreachable`]: pages go by SMS and email at once), and
/// told again when it is back ([`Core::chat_back`], then
/// [`Core::chat_synced`], so what waited for Slack goes).
async fn watch_slack(
    api: Api,
    core: std::sync::Weak<Core>,
    watch: SelfWatch,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = (watch.threshold() / 4).clamp(Duration::from_secs(1), CHECK_EVERY);
    let mut failing_since: Option<chrono::DateTime<Utc>> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        let Some(core) = core.upgrade() else {
            return;
        };
        match api.call("auth.test", json!({})).await {
            Ok(_) => {
                if let Some(since) = failing_since.take() {
                    info!(since = %since, "Slack is in reach again");
                }
                let now = Utc::now();
                metrics.synced(now);
                if let Some((since, away)) = watch.synced(now, &metrics) {
                    warn!(
                        "Slack is reachable again after {}",
                        crate::health::human_duration(away)
                    );
                    core.chat_back(away);
                    let text = crate::health::back_notice_for("Slack", since, away, core.tz());
                    if let Err(e) = core.tell_leads(&format!("back-{}", since.timestamp()), &text) {
                        error!(error = %format!("{e:#}"), "could not tell the leads' channel that Slack was out of reach");
                    }
                }
                core.chat_synced();
            }
            Err(e) => {
                metrics.sync_error();
                if failing_since.is_none() {
                    warn!(error = %e, "cannot reach Slack; pages may be delayed");
                    failing_since = Some(Utc::now());
                }
                if let Some(away) = watch.check(Utc::now(), &metrics) {
                    error!(
                        "cannot reach Slack for {}; pages go by SMS and email meanwhile, where set up",
                        crate::health::human_duration(away)
                    );
                    core.chat_unreachable(away);
                }
            }
        }
    }
}
