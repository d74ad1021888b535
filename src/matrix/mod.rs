//! The Matrix adapter: the session, the sync loop, events turned into
//! [`Inbound`]s for the core, and [`Chat`] for Matrix ([`chat`]). Nothing
//! here decides anything about a concern: that is all in [`crate::bot`].
//!
//! - [`session`]: log in once, keep the session and the SDK's crypto store
//!   under the data directory, restore them on restart (one device for life).
//! - the sync loop here: our own `sync_once` loop, so a reply goes out as soon
//!   as the homeserver has the message, with backoff only on errors.
//! - event handlers only turn an event into an [`Inbound`] and hand it to
//!   [`Core::accept`], which keeps it in the store's inbox before anything else.
//! - [`gaps`]: what a sync left out, kept in the store with the sync
//!   position and fetched until it is all in, even across a restart.
//! - [`chat`]: [`Chat`] for Matrix: sends with transaction ids from the
//!   outbox's keys, rooms made at most once (a private alias per request),
//!   errors sorted into [`crate::bot::ChatError`].
//! - health: the optional listener (see [`crate::health`]) started here,
//!   sync counters, and the self-watch, which logs when the homeserver is
//!   out of reach too long and tells the leads' room when it is back.

mod chat;
mod events;
mod gaps;
mod session;

use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::event_handler::Ctx;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::api::client::filter::{FilterDefinition, LazyLoadOptions};
use matrix_sdk::ruma::events::reaction::OriginalSyncReactionEvent;
use matrix_sdk::ruma::events::room::encrypted::OriginalSyncRoomEncryptedEvent;
use matrix_sdk::ruma::events::room::member::{
    MembershipState, OriginalSyncRoomMemberEvent, StrippedRoomMemberEvent,
};
use matrix_sdk::ruma::events::room::message::OriginalSyncRoomMessageEvent;
use matrix_sdk::ruma::events::room::tombstone::OriginalSyncRoomTombstoneEvent;
use matrix_sdk::ruma::UInt;
use matrix_sdk::Client;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::bot::gaps::Gap;
use crate::bot::{Chat, Core, Memo, Transport};
use crate::config::Config;
use crate::health::{self, Metrics, SelfWatch};

/// Where the bot's own record of its sync position is kept.
const SYNC_TOKEN: &str = "matrix sync position";

/// How long a sync waits for news before the homeserver answers empty.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// `/healthz` says ok while the last sync finished within this: two quiet
/// syncs and some slack.
const SYNC_WINDOW: Duration = Duration::from_secs(2 * 30 + 30);

/// What the event handlers share: the core, held weakly so the client
/// never keeps it (and its store) alive once `serve` has returned.
struct Adapter {
    core: Weak<Core>,
    bot_id: matrix_sdk::ruma::OwnedUserId,
}

/// The Matrix transport: give it to [`crate::bot::host`] to run the bot on
/// Matrix.
pub struct Matrix {
    config: Config,
    /// The client and the bot's own id, once signed in.
    signed_in: Option<(Client, matrix_sdk::ruma::OwnedUserId)>,
}

impl Matrix {
    pub fn new(config: &Config) -> Matrix {
        Matrix {
            config: config.clone(),
            signed_in: None,
        }
    }
}

#[async_trait::async_trait]
impl Transport for Matrix {
    fn health_window(&self) -> Duration {
        SYNC_WINDOW
    }

    async fn connect(&mut self, memo: Memo<'_>, metrics: &Arc<Metrics>) -> anyhow::Result<Arc<dyn Chat>> {
        let passphrase = memo.secret("matrix-sdk-store");
        let (client, first_login) = session::connect(&self.config, &passphrase).await?;
        let bot_id = client
            .user_id()
            .context("the bot has no user id after logging in")?
            .to_owned();
        info!(user = %bot_id, device = ?client.device_id(), "logged in");

        if first_login {
            // A new bot skips what was said before it existed; after this, the
            // saved sync position means nothing sent while it is down is missed.
            let first = client
                .sync_once(SyncSettings::default())
                .await
                .context("the first sync with the homeserver failed")?;
            memo.put(SYNC_TOKEN, &first.next_batch)
                .context("could not keep the first sync position")?;
            metrics.synced(Utc::now());
        }
        self.signed_in = Some((client.clone(), bot_id));
        Ok(Arc::new(chat::MatrixChat::new(client)))
    }

    async fn serve(
        self,
        core: Arc<Core>,
        metrics: Arc<Metrics>,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let (client, bot_id) = self.signed_in.context("serve before connect")?;
        client.add_event_handler_context(Arc::new(Adapter {
            core: Arc::downgrade(&core),
            bot_id: bot_id.clone(),
        }));
        client.add_event_handler(on_message);
        client.add_event_handler(on_reaction);
        client.add_event_handler(on_undecryptable);
        client.add_event_handler(on_member);
        client.add_event_handler(on_invite);
        client.add_event_handler(on_tombstone);

        let watch = Arc::new(SelfWatch::new(
            self.config.health.unreachable_alert_after,
            Utc::now(),
        ));
        let watcher = tokio::spawn(watch_homeserver(
            Arc::downgrade(&core),
            watch.clone(),
            metrics.clone(),
            self.config.matrix.homeserver_url.clone(),
            stop.clone(),
        ));
        let gaps_found = Arc::new(tokio::sync::Notify::new());
        let filler = tokio::spawn(gaps::fill(
            client.clone(),
            core.clone(),
            bot_id,
            gaps_found.clone(),
            stop.clone(),
        ));
        sync_loop(&client, &core, &gaps_found, &watch, &metrics, &mut stop).await;
        filler.abort();
        let _ = filler.await;
        watcher.abort();
        let _ = watcher.await;
        Ok(())
    }
}

/// What each sync asks for: up to 100 events per room (Synapse's default
/// is 10, so a burst or an outage left gaps), members loaded lazily.
fn sync_filter() -> FilterDefinition {
    let mut filter = FilterDefinition::default();
    filter.room.timeline.limit = Some(UInt::from(100u32));
    filter.room.state.lazy_load_options = LazyLoadOptions::Enabled {
        include_redundant_members: false,
    };
    filter
}

/// Our own sync loop: the next sync starts as soon as the last is handled.
/// `Client::sync` would wait a second between syncs that come quickly, and a
/// reporter waiting between questions notices every second.
async fn sync_loop(
    client: &Client,
    core: &Arc<Core>,
    gaps_found: &tokio::sync::Notify,
    watch: &SelfWatch,
    metrics: &Metrics,
    shutdown: &mut watch::Receiver<bool>,
) {
    let settings = SyncSettings::default()
        .timeout(SYNC_TIMEOUT)
        .filter(sync_filter().into());
    let mut backoff = Duration::from_millis(500);
    metrics.sync_loop_started(Utc::now());
    // Where the last sync whose events are all in the inbox ended. The SDK
    // keeps its own position before it hands the events over, so a crash in
    // between would skip them; this one moves only once they are kept.
    let mut token: Option<String> = core.memo().get(SYNC_TOKEN).ok().flatten();
    let mut synced_once = false;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let started = tokio::time::Instant::now();
        let mut this = match &token {
            Some(t) => settings.clone().token(t.clone()),
            None => settings.clone(),
        };
        if !synced_once {
            // The first sync answers at once: the outbox waits for it.
            this = this.timeout(Duration::ZERO);
        }
        let result = tokio::select! {
            r = client.sync_once(this) => r,
            _ = shutdown.changed() => return,
        };
        match result {
            Ok(response) => {
                backoff = Duration::from_millis(500);
                // The handlers have run: every event is in the inbox. What
                // the sync left out is kept with the new position, so a
                // crash before it is fetched does not lose it.
                let gaps = gaps_left(&response, token.as_deref());
                match core.keep_sync_position(SYNC_TOKEN, &response.next_batch, &gaps) {
                    Ok(()) if !gaps.is_empty() => gaps_found.notify_one(),
                    Ok(()) => {}
                    Err(e) => {
                        warn!(error = %e, "could not keep the sync position; events since the last one kept may be fetched again")
                    }
                }
                token = Some(response.next_batch.clone());
                synced_once = true;
                core.chat_synced();
                let now = Utc::now();
                metrics.synced(now);
                if let Some((since, away)) = watch.synced(now, metrics) {
                    tell_leads_back(core, since, away);
                }
                let empty = response.rooms.joined.is_empty()
                    && response.rooms.invited.is_empty()
                    && response.to_device.is_empty();
                // A server that answers empty syncs at once would make this
                // loop spin; pause briefly in that case only.
                if empty && started.elapsed() < Duration::from_millis(50) {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Err(e) => {
                metrics.sync_error();
                warn!(error = %e, retry_in = ?backoff, "sync with the homeserver failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// The rooms whose timeline this sync cut short, as gaps from where the
/// sync began (`since`) to the first event it gave.
fn gaps_left(response: &matrix_sdk::sync::SyncResponse, since: Option<&str>) -> Vec<Gap> {
    let limited: Vec<_> = response
        .rooms
        .joined
        .iter()
        .filter(|(_, update)| update.timeline.limited)
        .collect();
    let Some(since) = since else {
        if !limited.is_empty() {
            // Only a bot whose position was kept by an older version.
            warn!(
                rooms = limited.len(),
                "a sync left messages out, but there is no kept position to fetch them from"
            );
        }
        return Vec::new();
    };
    limited
        .into_iter()
        .map(|(room, update)| Gap::new(room.as_str(), since, update.timeline.prev_batch.clone()))
        .collect()
}

/// The self-watch: looks at the clock while the sync loop may be stuck,
/// and says once, at error level, when the homeserver has been out of
/// reach for longer than `[health] unreachable_alert_after`.
async fn watch_homeserver(
    core: std::sync::Weak<Core>,
    watch: Arc<SelfWatch>,
    metrics: Arc<Metrics>,
    homeserver: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = (watch.threshold() / 4).clamp(Duration::from_secs(1), Duration::from_secs(15));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if let Some(away) = watch.check(Utc::now(), &metrics) {
            if let Some(core) = core.upgrade() {
                core.chat_unreachable(away);
            }
            error!(
                homeserver = %homeserver,
                "cannot reach the homeserver for {}; pages may be delayed",
                health::human_duration(away)
            );
        }
    }
}

/// The homeserver is back after the self-watch reported it out of reach:
/// tell the leads' room for how long, through the outbox.
fn tell_leads_back(core: &Core, since: chrono::DateTime<Utc>, away: Duration) {
    core.chat_back(away);
    let took = health::human_duration(away);
    warn!("the homeserver is reachable again after {took}");
    let text = health::back_notice(since, away, core.tz());
    match core.tell_leads(&format!("back-{}", since.timestamp()), &text) {
        Ok(true) => {}
        Ok(false) => warn!("no [safeguarding] leads_room is set, so the leads were not told the bot was away; set it to tell them"),
        Err(e) => error!(error = %format!("{e:#}"), "could not tell the leads' room that the bot was away for {took}"),
    }
}

async fn on_message(ev: OriginalSyncRoomMessageEvent, room: Room, adapter: Ctx<Arc<Adapter>>) {
    let Some(core) = adapter.core.upgrade() else {
        return;
    };
    if let Some(inbound) = events::message(&ev, room.room_id().as_str(), &adapter.bot_id) {
        core.accept(inbound);
    }
}

async fn on_undecryptable(ev: OriginalSyncRoomEncryptedEvent, room: Room, adapter: Ctx<Arc<Adapter>>) {
    let Some(core) = adapter.core.upgrade() else {
        return;
    };
    if let Some(inbound) = events::undecryptable(&ev, room.room_id().as_str(), &adapter.bot_id) {
        core.accept(inbound);
    }
}

async fn on_member(ev: OriginalSyncRoomMemberEvent, room: Room, adapter: Ctx<Arc<Adapter>>) {
    let Some(core) = adapter.core.upgrade() else {
        return;
    };
    if let Some(inbound) = events::member(&ev, room.room_id().as_str(), &adapter.bot_id) {
        core.accept(inbound);
    }
}

async fn on_reaction(ev: OriginalSyncReactionEvent, room: Room, adapter: Ctx<Arc<Adapter>>) {
    let Some(core) = adapter.core.upgrade() else {
        return;
    };
    if let Some(inbound) = events::reaction(&ev, room.room_id().as_str(), &adapter.bot_id) {
        core.accept(inbound);
    }
}

/// A room was upgraded: if it is a room from the config, follow it.
async fn on_tombstone(_ev: OriginalSyncRoomTombstoneEvent, adapter: Ctx<Arc<Adapter>>) {
    if let Some(core) = adapter.core.upgrade() {
        core.rooms_changed();
    }
}

async fn on_invite(ev: StrippedRoomMemberEvent, room: Room, adapter: Ctx<Arc<Adapter>>) {
    let Some(core) = adapter.core.upgrade() else {
        return;
    };
    if ev.state_key != adapter.bot_id || ev.content.membership != MembershipState::Invite {
        return;
    }
    let inviter = ev.sender.to_string();
    let allowed = core.is_staff_room(room.room_id().as_str())
        || core.config.safeguarding.is_responder(&inviter)
        || core.is_staff(&inviter).await;
    if !allowed {
        info!(room = %room.room_id(), "ignoring an invite from someone who is not staff");
        return;
    }
    tokio::spawn(async move {
        // Synapse can answer an invite before the room is ready to join.
        for attempt in 0..5u32 {
            match room.join().await {
                Ok(()) => {
                    info!(room = %room.room_id(), "joined a room on invitation");
                    // It may be a room from the config, or its upgrade.
                    core.rooms_changed();
                    return;
                }
                Err(e) => {
                    warn!(room = %room.room_id(), error = %e, attempt, "could not join yet");
                    tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                }
            }
        }
    });
}
