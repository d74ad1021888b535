//! Health and metrics: is the bot alive, and what has it done.
//!
//! - [`Metrics`]: counters kept with atomics as the bot works (pages sent,
//!   acknowledgements and how long they took, sync errors, the last
//!   successful sync), rendered with the concerns by state, counted from the
//!   store at scrape time, in Prometheus' text format by [`render_metrics`].
//! - [`verdict`]: `/healthz`'s answer, a pure function of the last sync, the
//!   clock and whether the store could be written.
//! - [`SelfWatch`]: notices when the homeserver has been out of reach for
//!   too long, and when it is back; the decision is the pure [`watch`].
//! - [`serve`]: a minimal HTTP/1.1 listener for `GET /healthz` and
//!   `GET /metrics`, on the address in `[health] listen`.
//!
//! Nothing here carries a concern's content: every label comes from a fixed
//! set (a state, `urgent="true|false"`, `kind="first|repeat"`, a bucket
//! bound), and every value is a count, a duration or a time.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch as signal;
use tracing::{debug, warn};

use crate::concern::Status;

/// The upper bounds of the acknowledgement latency histogram, in seconds:
/// from a quick answer to a day.
pub const ACK_BUCKETS: [u64; 13] = [
    15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400,
];

/// Counters and gauges, updated as the bot works. All atomics: cheap to
/// update from any task, read at scrape time.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Pages sent, by `[urgent][repeat]`.
    pages: [[AtomicU64; 2]; 2],
    acks: AtomicU64,
    /// One per bucket of [`ACK_BUCKETS`], not cumulative; `+Inf` is `acks`.
    ack_buckets: [AtomicU64; ACK_BUCKETS.len()],
    ack_latency_millis: AtomicU64,
    sync_errors: AtomicU64,
    /// Unix seconds of the last successful sync; 0 before the first.
    last_sync: AtomicI64,
    /// Unix seconds when the sync loop started; 0 before it has.
    sync_started: AtomicI64,
    /// The self-watch has found the homeserver out of reach.
    unreachable: AtomicBool,
}

impl Metrics {
    /// A page went out. `repeat` is any page after the concern's first.
    pub fn page_sent(&self, urgent: bool, repeat: bool) {
        self.pages[usize::from(urgent)][usize::from(repeat)].fetch_add(1, Ordering::Relaxed);
    }

    /// A concern was acknowledged `latency` after it was first paged.
    pub fn acknowledged(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        if let Some(i) = ACK_BUCKETS.iter().position(|b| secs <= *b as f64) {
            self.ack_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        let millis = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.ack_latency_millis.fetch_add(millis, Ordering::Relaxed);
        self.acks.fetch_add(1, Ordering::Relaxed);
    }

    pub fn sync_error(&self) {
        self.sync_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn synced(&self, now: DateTime<Utc>) {
        self.last_sync.store(now.timestamp(), Ordering::Relaxed);
    }

    /// The sync loop is running from `now`: `/healthz` counts from here
    /// until the first sync completes.
    pub fn sync_loop_started(&self, now: DateTime<Utc>) {
        self.sync_started.store(now.timestamp(), Ordering::Relaxed);
    }

    fn set_unreachable(&self, unreachable: bool) {
        self.unreachable.store(unreachable, Ordering::Relaxed);
    }

    /// The last successful sync, if there has been one.
    pub fn last_sync(&self) -> Option<DateTime<Utc>> {
        unix(self.last_sync.load(Ordering::Relaxed))
    }

    fn sync_started(&self) -> Option<DateTime<Utc>> {
        unix(self.sync_started.load(Ordering::Relaxed))
    }
}

fn unix(secs: i64) -> Option<DateTime<Utc>> {
    (secs > 0).then(|| DateTime::from_timestamp(secs, 0)).flatten()
}

/// The metrics in Prometheus' text format. `concerns` is every concern's
/// state, from the store, or `None` if the store could not be read.
pub fn render_metrics(m: &Metrics, concerns: Option<&[Status]>) -> String {
    let mut out = String::new();
    let mut w = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };

    w("# HELP safeguarding_bot_concerns Concerns in the store, by state.".into());
    w("# TYPE safeguarding_bot_concerns gauge".into());
    if let Some(states) = concerns {
        for (state, label) in [
            (Status::InProgress, "in_progress"),
            (Status::Incomplete, "incomplete"),
            (Status::Submitted, "submitted"),
            (Status::Withdrawn, "withdrawn"),
        ] {
            let n = states.iter().filter(|s| **s == state).count();
            w(format!("safeguarding_bot_concerns{{state=\"{label}\"}} {n}"));
        }
    }
    w("# HELP safeguarding_bot_store_readable Whether the concerns could be read from the store (1) or not (0).".into());
    w("# TYPE safeguarding_bot_store_readable gauge".into());
    w(format!(
        "safeguarding_bot_store_readable {}",
        u8::from(concerns.is_some())
    ));

    w("# HELP safeguarding_bot_pages_sent_total Pages sent to the lead or deputies.".into());
    w("# TYPE safeguarding_bot_pages_sent_total counter".into());
    for (u, urgent) in [(0, "false"), (1, "true")] {
        for (r, kind) in [(0, "first"), (1, "repeat")] {
            let n = m.pages[u][r].load(Ordering::Relaxed);
            w(format!(
                "safeguarding_bot_pages_sent_total{{urgent=\"{urgent}\",kind=\"{kind}\"}} {n}"
            ));
        }
    }

    let acks = m.acks.load(Ordering::Relaxed);
    w(
        "# HELP safeguarding_bot_acknowledgements_total Concerns acknowledged by the lead or a deputy."
            .into(),
    );
    w("# TYPE safeguarding_bot_acknowledgements_total counter".into());
    w(format!("safeguarding_bot_acknowledgements_total {acks}"));

    w("# HELP safeguarding_bot_acknowledgement_latency_seconds Time from a concern's first page to its acknowledgement.".into());
    w("# TYPE safeguarding_bot_acknowledgement_latency_seconds histogram".into());
    let mut cumulative = 0;
    for (bound, count) in ACK_BUCKETS.iter().zip(&m.ack_buckets) {
        cumulative += count.load(Ordering::Relaxed);
        w(format!(
            "safeguarding_bot_acknowledgement_latency_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
        ));
    }
    w(format!(
        "safeguarding_bot_acknowledgement_latency_seconds_bucket{{le=\"+Inf\"}} {acks}"
    ));
    let millis = m.ack_latency_millis.load(Ordering::Relaxed);
    let sum = format!("{}.{:03}", millis / 1000, millis % 1000);
    w(format!(
        "safeguarding_bot_acknowledgement_latency_seconds_sum {sum}"
    ));
    w(format!(
        "safeguarding_bot_acknowledgement_latency_seconds_count {acks}"
    ));

    w("# HELP safeguarding_bot_sync_errors_total Syncs with the homeserver that failed.".into());
    w("# TYPE safeguarding_bot_sync_errors_total counter".into());
    w(format!(
        "safeguarding_bot_sync_errors_total {}",
        m.sync_errors.load(Ordering::Relaxed)
    ));

    w("# HELP safeguarding_bot_last_successful_sync_timestamp_seconds When the last sync with the homeserver succeeded (unix time; 0 if none yet).".into());
    w("# TYPE safeguarding_bot_last_successful_sync_timestamp_seconds gauge".into());
    w(format!(
        "safeguarding_bot_last_successful_sync_timestamp_seconds {}",
        m.last_sync.load(Ordering::Relaxed)
    ));

    w("# HELP safeguarding_bot_homeserver_unreachable Whether the homeserver has been out of reach for longer than [health] unreachable_alert_after (1) or not (0).".into());
    w("# TYPE safeguarding_bot_homeserver_unreachable gauge".into());
    w(format!(
        "safeguarding_bot_homeserver_unreachable {}",
        u8::from(m.unreachable.load(Ordering::Relaxed))
    ));
    out
}

/// `/healthz`'s answer: `Ok` when the sync loop has completed a sync within
/// `window` (counting from the loop's start until the first one) and the
/// store could be written; otherwise the reason, in plain words.
pub fn verdict(
    sync_started: Option<DateTime<Utc>>,
    last_sync: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    window: Duration,
    store: Result<(), String>,
    unresolved: &[String],
) -> Result<(), String> {
    let Some(started) = sync_started else {
        return Err("the bot is still starting: it has not begun syncing with the homeserver".into());
    };
    let since = last_sync.map_or(started, |s| s.max(started));
    let quiet = (now - since).to_std().unwrap_or_default();
    if quiet > window {
        return Err(match last_sync {
            Some(_) => format!(
                "no successful sync with the homeserver for {}",
                human_duration(quiet)
            ),
            None => format!(
                "no sync with the homeserver has succeeded since the bot started {} ago",
                human_duration(quiet)
            ),
        });
    }
    store.map_err(|e| format!("the store cannot be written: {e}"))?;
    if !unresolved.is_empty() {
        return Err(format!(
            "rooms from the config are not found or not joined yet: {}; check the names, and invite the bot",
            unresolved.join(", ")
        ));
    }
    Ok(())
}

/// What the self-watch should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// The homeserver has been out of reach this long, more than allowed:
    /// say so, once.
    Unreachable(Duration),
    /// A sync succeeded after the homeserver was reported out of reach;
    /// it was away this long.
    Back(Duration),
}

/// The self-watch's decision, pure. `last_success` is the last successful
/// sync (or the loop's start), `alerted` whether the outage has already been
/// reported, `synced` whether a sync has just succeeded.
pub fn watch(
    last_success: DateTime<Utc>,
    now: DateTime<Utc>,
    threshold: Duration,
    alerted: bool,
    synced: bool,
) -> Option<WatchEvent> {
    let away = (now - last_success).to_std().unwrap_or_default();
    match (synced, alerted) {
        (true, true) => Some(WatchEvent::Back(away)),
        (true, false) | (false, true) => None,
        (false, false) => (away > threshold).then_some(WatchEvent::Unreachable(away)),
    }
}

/// The self-watch's state: when the homeserver last answered, and whether
/// its absence has been reported.
#[derive(Debug)]
pub struct SelfWatch {
    threshold: Duration,
    state: Mutex<(DateTime<Utc>, bool)>,
}

impl SelfWatch {
    /// Starts watching at `now`, as if a sync had just succeeded.
    pub fn new(threshold: Duration, now: DateTime<Utc>) -> SelfWatch {
        SelfWatch {
            threshold,
            state: Mutex::new((now, false)),
        }
    }

    pub fn threshold(&self) -> Duration {
        self.threshold
    }

    /// A sync succeeded at `now`. Returns how long the homeserver was away
    /// if that had been reported, so the leads can be told it is back.
    pub fn synced(&self, now: DateTime<Utc>, metrics: &Metrics) -> Option<(DateTime<Utc>, Duration)> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, alerted) = *state;
        *state = (now, false);
        metrics.set_unreachable(false);
        match watch(last, now, self.threshold, alerted, true) {
            Some(WatchEvent::Back(away)) => Some((last, away)),
            _ => None,
        }
    }

    /// A look at the clock with no sync to report. Returns how long the
    /// homeserver has been out of reach the first time that passes the
    /// threshold, and `None` after, until it is back.
    pub fn check(&self, now: DateTime<Utc>, metrics: &Metrics) -> Option<Duration> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, alerted) = *state;
        match watch(last, now, self.threshold, alerted, false) {
            Some(WatchEvent::Unreachable(away)) => {
                state.1 = true;
                metrics.set_unreachable(true);
                Some(away)
            }
            _ => None,
        }
    }
}

/// A duration for people: "45 seconds", "1 minute", "17 minutes",
/// "2 hours 5 minutes".
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs < 60 {
        plural(secs, "second")
    } else if secs < 2 * 3600 {
        plural(secs / 60, "minute")
    } else if (secs / 60) % 60 == 0 {
        plural(secs / 3600, "hour")
    } else {
        format!(
            "{} {}",
            plural(secs / 3600, "hour"),
            plural((secs / 60) % 60, "minute")
        )
    }
}

/// The notice for the leads' room when the homeserver is back: for how
/// long it was away, from when to when, and what to check.
pub fn back_notice(from: DateTime<Utc>, away: Duration, tz: chrono_tz::Tz) -> String {
    let until = from + chrono::Duration::from_std(away).unwrap_or_default();
    let fmt = "%-d %b %H:%M";
    format!(
        "I could not reach the homeserver for {} (from {} to {}) and I am back now. \
         Messages sent in that time are reaching me now, but pages and replies may have been delayed: \
         please check that no report or acknowledgement was missed.",
        human_duration(away),
        from.with_timezone(&tz).format(fmt),
        until.with_timezone(&tz).format(fmt),
    )
}

/// What `/healthz` and `/metrics` need from the rest of the bot. Called on
/// a blocking thread: the store's calls may wait on the disk.
pub trait Probe: Send + Sync + 'static {
    /// Writes something small to the store and flushes it.
    fn store_writable(&self) -> Result<(), String>;
    /// The state of every concern in the store.
    fn concern_states(&self) -> Result<Vec<Status>, String>;
    /// Rooms named in the config that the chat has not resolved.
    fn unresolved_rooms(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What the listener serves from.
pub struct Health {
    pub metrics: Arc<Metrics>,
    pub probe: Arc<dyn Probe>,
    /// How recent the last sync must be for `/healthz` to say ok.
    pub sync_window: Duration,
}

/// Listens on `addr` (`[health] listen`), if set, and serves `/healthz`
/// and `/metrics` from there until `shutdown`. Called before the chat is
/// reached, so a port already taken stops the bot at once.
pub async fn listen(
    addr: Option<std::net::SocketAddr>,
    health: Health,
    shutdown: signal::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("could not listen on {addr} for /healthz and /metrics ([health] listen in the config): {e}; if another program has that port, choose another or leave listen out")
    })?;
    tracing::info!(address = %addr, "serving /healthz and /metrics");
    Ok(Some(tokio::spawn(serve(listener, Arc::new(health), shutdown))))
}

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request head read.
const MAX_REQUEST: usize = 8 * 1024;

/// Serves `/healthz` and `/metrics` on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, health: Arc<Health>, mut shutdown: signal::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let health = health.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, &health).await {
                        debug!(error = %e, "a health or metrics request failed");
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "the health listener could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(mut stream: TcpStream, health: &Health) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let head = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
                return Ok(true);
            }
            if buf.len() > MAX_REQUEST {
                return Ok(false);
            }
        }
    })
    .await;
    let complete = matches!(head, Ok(Ok(true)));
    let (method, reply) = if complete {
        let line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default();
        let reply = respond(&method, path, health).await;
        (method, reply)
    } else {
        (String::new(), Reply::plain("400 Bad Request", "bad request\n"))
    };
    let mut response = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    if method != "HEAD" {
        response.push_str(&reply.body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

struct Reply {
    status: &'static str,
    content_type: &'static str,
    body: String,
}

impl Reply {
    fn plain(status: &'static str, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

async fn respond(method: &str, path: &str, health: &Health) -> Reply {
    if method != "GET" && method != "HEAD" {
        return Reply::plain("405 Method Not Allowed", "only GET and HEAD are served\n");
    }
    match path {
        "/healthz" => {
            let probe = health.probe.clone();
            let store = tokio::task::spawn_blocking(move || probe.store_writable())
                .await
                .unwrap_or_else(|e| Err(format!("the store check failed: {e}")));
            let m = &health.metrics;
            match verdict(
                m.sync_started(),
                m.last_sync(),
                Utc::now(),
                health.sync_window,
                store,
                &health.probe.unresolved_rooms(),
            ) {
                Ok(()) => Reply::plain("200 OK", "ok\n"),
                Err(reason) => Reply::plain("503 Service Unavailable", format!("{reason}\n")),
            }
        }
        "/metrics" => {
            let probe = health.probe.clone();
            let states = tokio::task::spawn_blocking(move || probe.concern_states())
                .await
                .unwrap_or_else(|e| Err(format!("the store read failed: {e}")));
            let states = match states {
                Ok(s) => Some(s),
                Err(e) => {
                    warn!(error = %e, "could not count the concerns for /metrics");
                    None
                }
            };
            Reply {
                status: "200 OK",
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: render_metrics(&health.metrics, states.as_deref()),
            }
        }
        _ => Reply::plain("404 Not Found", "not found: try /healthz or /metrics\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
            .single()
            .expect("time")
            + chrono::Duration::seconds(secs)
    }

    const TWO_MINUTES: Duration = Duration::from_secs(120);

    #[test]
    fn the_watch_is_quiet_within_the_threshold() {
        assert_eq!(watch(t(0), t(120), TWO_MINUTES, false, false), None);
        assert_eq!(watch(t(0), t(30), TWO_MINUTES, false, true), None);
    }

    #[test]
    fn the_watch_alerts_once_past_the_threshold() {
        assert_eq!(
            watch(t(0), t(121), TWO_MINUTES, false, false),
            Some(WatchEvent::Unreachable(Duration::from_secs(121)))
        );
        assert_eq!(
            watch(t(0), t(600), TWO_MINUTES, true, false),
            None,
            "already said"
        );
    }

    #[test]
    fn the_watch_says_when_it_is_back_only_after_an_alert() {
        assert_eq!(
            watch(t(0), t(900), TWO_MINUTES, true, true),
            Some(WatchEvent::Back(Duration::from_secs(900)))
        );
        // A slow sync that came back before the threshold was never reported.
        assert_eq!(watch(t(0), t(100), TWO_MINUTES, false, true), None);
        // Back after a long gap that was never checked (a suspended machine)
        // is not reported either: nobody was told it was away.
        assert_eq!(watch(t(0), t(900), TWO_MINUTES, false, true), None);
    }

    #[test]
    fn the_self_watch_reports_an_outage_once_and_its_end_once() {
        let m = Metrics::default();
        let w = SelfWatch::new(TWO_MINUTES, t(0));
        assert_eq!(w.synced(t(20), &m), None);
        assert_eq!(w.check(t(100), &m), None);
        assert_eq!(w.check(t(141), &m), Some(Duration::from_secs(121)));
        assert!(render_metrics(&m, None).contains("safeguarding_bot_homeserver_unreachable 1"));
        assert_eq!(w.check(t(300), &m), None, "only once");
        assert_eq!(w.synced(t(620), &m), Some((t(20), Duration::from_secs(600))));
        assert!(render_metrics(&m, None).contains("safeguarding_bot_homeserver_unreachable 0"));
        assert_eq!(w.synced(t(650), &m), None, "and only once");
        assert_eq!(w.check(t(700), &m), None);
    }

    #[test]
    fn healthz_needs_a_recent_sync_and_a_writable_store() {
        let window = Duration::from_secs(90);
        assert!(verdict(None, None, t(0), window, Ok(()), &[])
            .unwrap_err()
            .contains("starting"));
        assert_eq!(verdict(Some(t(0)), None, t(60), window, Ok(()), &[]), Ok(()));
        assert!(verdict(Some(t(0)), None, t(91), window, Ok(()), &[])
            .unwrap_err()
            .contains("since the bot started"));
        assert_eq!(
            verdict(Some(t(0)), Some(t(100)), t(150), window, Ok(()), &[]),
            Ok(())
        );
        let stale = verdict(Some(t(0)), Some(t(100)), t(400), window, Ok(()), &[]).unwrap_err();
        assert_eq!(stale, "no successful sync with the homeserver for 5 minutes");
        let disk = verdict(
            Some(t(0)),
            Some(t(100)),
            t(110),
            window,
            Err("disk full".into()),
            &[],
        )
        .unwrap_err();
        assert!(disk.contains("store cannot be written: disk full"), "{disk}");
        let rooms = ["#staff:example.org".to_string()];
        let unresolved = verdict(Some(t(0)), Some(t(100)), t(110), window, Ok(()), &rooms).unwrap_err();
        assert!(unresolved.contains("#staff:example.org"), "{unresolved}");
    }

    #[test]
    fn metrics_are_in_prometheus_text_format() {
        let m = Metrics::default();
        m.page_sent(false, false);
        m.page_sent(true, false);
        m.page_sent(true, true);
        m.page_sent(true, true);
        m.acknowledged(Duration::from_millis(45_500));
        m.acknowledged(Duration::from_secs(100_000));
        m.sync_error();
        m.synced(t(0));
        let states = [Status::Submitted, Status::Submitted, Status::Withdrawn];
        let text = render_metrics(&m, Some(&states));
        for line in [
            "safeguarding_bot_concerns{state=\"in_progress\"} 0",
            "safeguarding_bot_concerns{state=\"submitted\"} 2",
            "safeguarding_bot_concerns{state=\"withdrawn\"} 1",
            "safeguarding_bot_store_readable 1",
            "safeguarding_bot_pages_sent_total{urgent=\"false\",kind=\"first\"} 1",
            "safeguarding_bot_pages_sent_total{urgent=\"false\",kind=\"repeat\"} 0",
            "safeguarding_bot_pages_sent_total{urgent=\"true\",kind=\"first\"} 1",
            "safeguarding_bot_pages_sent_total{urgent=\"true\",kind=\"repeat\"} 2",
            "safeguarding_bot_acknowledgements_total 2",
            "safeguarding_bot_acknowledgement_latency_seconds_bucket{le=\"30\"} 0",
            "safeguarding_bot_acknowledgement_latency_seconds_bucket{le=\"60\"} 1",
            "safeguarding_bot_acknowledgement_latency_seconds_bucket{le=\"86400\"} 1",
            "safeguarding_bot_acknowledgement_latency_seconds_bucket{le=\"+Inf\"} 2",
            "safeguarding_bot_acknowledgement_latency_seconds_sum 100045.500",
            "safeguarding_bot_acknowledgement_latency_seconds_count 2",
            "safeguarding_bot_sync_errors_total 1",
            &format!(
                "safeguarding_bot_last_successful_sync_timestamp_seconds {}",
                t(0).timestamp()
            ),
            "# TYPE safeguarding_bot_acknowledgement_latency_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        // Every sample line is a name, optional fixed labels, and a number.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("name and value");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        let unreadable = render_metrics(&m, None);
        assert!(!unreadable.contains("safeguarding_bot_concerns{"));
        assert!(unreadable.contains("safeguarding_bot_store_readable 0"));
    }

    #[test]
    fn durations_read_plainly() {
        assert_eq!(human_duration(Duration::from_secs(45)), "45 seconds");
        assert_eq!(human_duration(Duration::from_secs(60)), "1 minute");
        assert_eq!(human_duration(Duration::from_secs(17 * 60 + 40)), "17 minutes");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600)), "3 hours");
        assert_eq!(
            human_duration(Duration::from_secs(2 * 3600 + 300)),
            "2 hours 5 minutes"
        );
    }

    #[test]
    fn the_back_notice_says_how_long_and_when() {
        let text = back_notice(t(0), Duration::from_secs(17 * 60), chrono_tz::Europe::London);
        assert!(text.contains("for 17 minutes"), "{text}");
        assert!(text.contains("from 23 Nov 09:00 to 23 Nov 09:17"), "{text}");
        assert!(
            text.contains("check that no report or acknowledgement was missed"),
            "{text}"
        );
    }

    struct Fixed(Result<(), String>);
    impl Probe for Fixed {
        fn store_writable(&self) -> Result<(), String> {
            self.0.clone()
        }
        fn concern_states(&self) -> Result<Vec<Status>, String> {
            self.0.clone().map(|()| vec![Status::Submitted])
        }
    }

    async fn get(addr: std::net::SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(request.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn the_listener_answers_healthz_and_metrics() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics = Arc::new(Metrics::default());
        metrics.sync_loop_started(Utc::now());
        let health = Arc::new(Health {
            metrics: metrics.clone(),
            probe: Arc::new(Fixed(Ok(()))),
            sync_window: Duration::from_secs(90),
        });
        let (stop, stop_rx) = signal::channel(false);
        let server = tokio::spawn(serve(listener, health, stop_rx));

        let ok = get(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nok\n"), "{ok}");
        let m = get(addr, "GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(m.contains("version=0.0.4"), "{m}");
        assert!(
            m.contains("safeguarding_bot_concerns{state=\"submitted\"} 1"),
            "{m}"
        );
        let head = get(addr, "HEAD /healthz HTTP/1.1\r\n\r\n").await;
        assert!(
            head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        let missing = get(addr, "GET /nothing HTTP/1.1\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let post = get(addr, "POST /healthz HTTP/1.1\r\n\r\n").await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");

        stop.send(true).expect("stop");
        server.await.expect("server ends");
    }

    #[tokio::test]
    async fn healthz_is_503_with_the_reason_when_the_store_fails() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics = Arc::new(Metrics::default());
        metrics.sync_loop_started(Utc::now());
        let health = Arc::new(Health {
            metrics,
            probe: Arc::new(Fixed(Err("disk full".into()))),
            sync_window: Duration::from_secs(90),
        });
        let (_stop, stop_rx) = signal::channel(false);
        let server = tokio::spawn(serve(listener, health, stop_rx));
        let bad = get(addr, "GET /healthz HTTP/1.1\r\n\r\n").await;
        assert!(bad.starts_with("HTTP/1.1 503 Service Unavailable"), "{bad}");
        assert!(bad.contains("the store cannot be written: disk full"), "{bad}");
        let m = get(addr, "GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(m.contains("safeguarding_bot_store_readable 0"), "{m}");
        server.abort();
    }
}
