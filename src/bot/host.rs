//! One lifecycle for every chat. [`host`] opens the health listener, lets
//! the [`Transport`] sign in, starts the core on the chat it gives, lets
//! the transport take the chat's events to the core until a stop (or until
//! the core cannot go on, as on a full disk), then stops everything in
//! order. A transport only translates: it never sees the store, only the
//! [`Memo`] it is handed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::info;

use super::probe::CoreProbe;
use super::{Chat, Core, Memo};
use crate::config::Config;
use crate::flow::Flow;
use crate::health::{self, Metrics};
use crate::notify::inbound::{webhook_routes, Poller, RefusedWebhook};
use crate::notify::{Gateways, Notifier, SmsEvent};
use crate::store::Store;

/// A chat the bot can live in (Matrix, Slack): see the module's
/// documentation.
#[async_trait::async_trait]
pub trait Transport: Send + Sized + 'static {
    /// How long `/healthz` says ok since the chat was last seen in reach.
    fn health_window(&self) -> Duration;

    /// Signs in to the chat; returns the [`Chat`] the core will send
    /// through. `memo` is the transport's memory, before the core starts.
    async fn connect(&mut self, memo: Memo<'_>, metrics: &Arc<Metrics>) -> anyhow::Result<Arc<dyn Chat>>;

    /// Takes the chat's events to `core` until `stop` turns true, then
    /// stops listening and returns.
    async fn serve(
        self,
        core: Arc<Core>,
        metrics: Arc<Metrics>,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()>;
}

/// Pages outside the chat, as `[sms]` and `[email]` set them up: what
/// sends them, and how replies come back (the webhook routes for the HTTP
/// listener, or a poller), into one channel the core reads.
struct Outside {
    notifier: Option<Arc<dyn Notifier>>,
    routes: Option<axum::Router>,
    poller: Option<Poller>,
    events_tx: mpsc::Sender<SmsEvent>,
    events: mpsc::Receiver<SmsEvent>,
    refused: mpsc::Receiver<RefusedWebhook>,
}

impl Outside {
    /// `given` (a test's notifier) if there is one, else the gateways the
    /// config names, if it names any.
    fn from_config(config: &Config, given: Option<Arc<dyn Notifier>>) -> anyhow::Result<Self> {
        let (events_tx, events) = mpsc::channel(64);
        let (refused_tx, refused) = mpsc::channel(64);
        let mut outside = Outside {
            notifier: given,
            routes: None,
            poller: None,
            events_tx,
            events,
            refused,
        };
        if outside.notifier.is_some() || (config.sms.is_none() && config.email.is_none()) {
            return Ok(outside);
        }
        let gateways = Gateways::from_config(config.sms.as_ref(), config.email.as_ref())?;
        if let (Some(sms), Some(client)) = (&config.sms, gateways.twilio()) {
            outside.routes = webhook_routes(sms, outside.events_tx.clone(), Some(refused_tx));
            outside.poller = Poller::from_config(sms, client, chrono::Utc::now());
        }
        outside.notifier = Some(Arc::new(gateways));
        Ok(outside)
    }
}

/// Runs the bot on `transport` until `shutdown` turns true.
pub async fn host(
    transport: impl Transport,
    config: Config,
    flow: Flow,
    store: Store,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    host_with(transport, config, flow, store, shutdown, None).await
}

/// As [`host`], with SMS and email pages sent through `notifier`.
pub async fn host_with(
    mut transport: impl Transport,
    config: Config,
    flow: Flow,
    store: Store,
    shutdown: watch::Receiver<bool>,
    notifier: Option<Arc<dyn crate::notify::Notifier>>,
) -> anyhow::Result<()> {
    // Listen before signing in, so a port already taken stops the bot at once.
    let metrics = Arc::new(Metrics::default());
    let probe = Arc::new(CoreProbe::default());
    let health = health::Health {
        metrics: metrics.clone(),
        probe: probe.clone(),
        sync_window: transport.health_window(),
    };
    let outside = Outside::from_config(&config, notifier)?;
    let health = Arc::new(health);
    let heartbeat = config
        .health
        .heartbeat
        .clone()
        .map(|beat| tokio::spawn(health::heartbeat::run(beat, health.clone(), shutdown.clone())));
    let health_server =
        health::listen_with(config.health.listen, health, outside.routes, shutdown.clone()).await?;

    let chat = transport.connect(Memo::new(&store), &metrics).await?;
    let setup = super::Setup {
        notifier: outside.notifier,
        ..super::Setup::default()
    };
    let mut running = Core::start_with(chat, config, flow, store, metrics.clone(), setup).await?;
    running.take_sms(outside.events, outside.refused);
    let poller = outside
        .poller
        .map(|p| tokio::spawn(p.run(outside.events_tx, shutdown.clone())));
    let core = running.core.clone();
    probe.attach(&core);

    // The core stops the bot if it cannot go on (a full disk): as a stop.
    let mut failure = core.failure();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut outer = shutdown.clone();
    let relay = tokio::spawn(async move {
        tokio::select! {
            _ = outer.wait_for(|s| *s) => {}
            _ = failure.wait_for(|f| f.is_some()) => {}
        }
        let _ = stop_tx.send(true);
    });
    let served = transport.serve(core.clone(), metrics, stop_rx).await;
    relay.abort();
    let failed = core.failure().borrow().clone();

    info!("shutting down");
    if let Some(server) = health_server {
        server.abort();
        let _ = server.await;
    }
    for task in [poller, heartbeat].into_iter().flatten() {
        task.abort();
    }
    drop(core);
    let stopped = running.stop().await;
    if let Some(failure) = failed {
        anyhow::bail!("{}", failure.explain());
    }
    served.and(stopped)
}
