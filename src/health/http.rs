//! The listener for `/healthz` and `/metrics`: axum routes, each
//! connection served by hyper's HTTP/1, bound to `[health] listen`
//! (127.0.0.1 unless the config says otherwise). When SMS replies come by
//! webhook, Twilio's routes (`POST /twilio/sms`, `POST /twilio/status`,
//! [`crate::notify::inbound`]) are served here too; a reverse proxy exposes
//! only those (deploy/README.md).
//!
//! hyper is driven here rather than through `axum::serve`, which takes no
//! configuration: the limits below are set on hyper's connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch as signal;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::Health;

/// How long one exchange may take, from the connection being accepted to
/// the answer written: a client slow to send its request, or a store slow
/// to answer, holds nothing longer than this. One request per connection
/// (no keep-alive), so this bounds each request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request head (request line and headers) read; a longer one
/// is answered 431 by hyper. Only Twilio's webhooks read a body, and they
/// set their own limit.
const MAX_REQUEST: usize = 8 * 1024;

const PLAIN: &str = "text/plain; charset=utf-8";
/// What OpenMetrics says to serve its text format as.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Listens on `addr` (`[health] listen`), if set, and serves `/healthz`
/// and `/metrics` from there until `shutdown`. Called before the chat is
/// reached, so a port already taken stops the bot at once.
pub async fn listen(
    addr: Option<SocketAddr>,
    health: Health,
    shutdown: signal::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    listen_with(addr, Arc::new(health), None, shutdown).await
}

/// As [`listen`], serving `extra`'s routes beside them (Twilio's webhooks,
/// [`crate::notify::inbound::webhook_routes`]).
pub async fn listen_with(
    addr: Option<SocketAddr>,
    health: Arc<Health>,
    extra: Option<Router>,
    shutdown: signal::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("could not listen on {addr} for /healthz and /metrics ([health] listen in the config): {e}; if another program has that port, choose another or leave listen out")
    })?;
    if extra.is_some() {
        tracing::info!(address = %addr, "serving /healthz, /metrics and the SMS webhooks");
    } else {
        tracing::info!(address = %addr, "serving /healthz and /metrics");
    }
    Ok(Some(tokio::spawn(serve_with(listener, health, extra, shutdown))))
}

/// The routes: `GET` (and so `HEAD`) `/healthz` and `/metrics`, and
/// `extra`'s; any other path is 404, any other method 405.
fn router(health: Arc<Health>, extra: Option<Router>) -> Router {
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { plain(StatusCode::NOT_FOUND, "not found: try /healthz or /metrics\n") })
        .method_not_allowed_fallback(|| async {
            plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD are served\n")
        })
        .with_state(health);
    match extra {
        Some(extra) => routes.merge(extra),
        None => routes,
    }
}

/// Serves `/healthz` and `/metrics` on `listener` until `shutdown` turns
/// true. The connections being served are owned here: when this returns
/// or is aborted, they end with it.
pub async fn serve(listener: TcpListener, health: Arc<Health>, shutdown: signal::Receiver<bool>) {
    serve_with(listener, health, None, shutdown).await
}

/// As [`serve`], with `extra`'s routes too.
pub async fn serve_with(
    listener: TcpListener,
    health: Arc<Health>,
    extra: Option<Router>,
    mut shutdown: signal::Receiver<bool>,
) {
    let app = router(health, extra);
    let mut http = http1::Builder::new();
    http.keep_alive(false).max_header_size(MAX_REQUEST);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
            // Reaps finished connections; never taken when there are none.
            Some(_) = connections.join_next() => continue,
        };
        match accepted {
            Ok((stream, _)) => {
                let exchange =
                    http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
                connections.spawn(async move {
                    match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => debug!(error = %e, "a health or metrics request failed"),
                        Err(_) => debug!(
                            "a health or metrics request took longer than {REQUEST_TIMEOUT:?} and was cut off"
                        ),
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

async fn healthz(State(health): State<Arc<Health>>) -> Response {
    match health.check().await {
        Ok(()) => plain(StatusCode::OK, "ok\n"),
        Err(reason) => plain(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

async fn metrics(State(health): State<Arc<Health>>) -> Response {
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
    match health.metrics.encode(states.as_deref()) {
        Ok(text) => answer(StatusCode::OK, OPENMETRICS, text),
        Err(e) => {
            warn!(error = %e, "could not encode the metrics");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the metrics could not be encoded\n",
            )
        }
    }
}

fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    answer(status, PLAIN, body.into())
}

/// Every answer is about now: no cache may keep it.
fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::concern::Status;
    use crate::health::{Metrics, Probe};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    struct Fixed(Result<(), String>);
    impl Probe for Fixed {
        fn store_writable(&self) -> Result<(), String> {
            self.0.clone()
        }
        fn concern_states(&self) -> Result<Vec<Status>, String> {
            self.0.clone().map(|()| vec![Status::Submitted])
        }
    }

    /// A listener on a free port serving `probe`, and the sender that stops it.
    async fn start(
        probe: Fixed,
        metrics: Arc<Metrics>,
    ) -> (SocketAddr, signal::Sender<bool>, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        metrics.sync_loop_started(chrono::Utc::now());
        let health = Arc::new(Health {
            metrics,
            probe: Arc::new(probe),
            sync_window: Duration::from_secs(90),
        });
        let (stop, stop_rx) = signal::channel(false);
        let server = tokio::spawn(serve(listener, health, stop_rx));
        (addr, stop, server)
    }

    /// Sends `request` as raw bytes; what came back before the server closed.
    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(request).await.expect("write");
        let mut out = Vec::new();
        // A reset after the answer (the server closing with bytes unread)
        // still leaves the answer read.
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    async fn get(addr: SocketAddr, request: &str) -> String {
        exchange(addr, request.as_bytes()).await
    }

    #[tokio::test]
    async fn the_listener_answers_healthz_and_metrics() {
        let (addr, stop, server) = start(Fixed(Ok(())), Arc::new(Metrics::default())).await;

        let ok = get(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nok\n"), "{ok}");
        assert!(ok.contains("cache-control: no-store\r\n"), "{ok}");
        assert!(ok.contains("connection: close\r\n"), "{ok}");
        let m = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(m.contains(&format!("content-type: {OPENMETRICS}\r\n")), "{m}");
        assert!(
            m.contains("safeguarding_bot_concerns{state=\"submitted\"} 1"),
            "{m}"
        );
        let head = get(addr, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(
            head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        let missing = get(addr, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let post = get(
            addr,
            "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        assert!(post.ends_with("only GET and HEAD are served\n"), "{post}");
        let garbage = get(addr, "hello\r\n\r\n").await;
        assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");

        stop.send(true).expect("stop");
        server.await.expect("server ends");
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the port is free once stopped"
        );
    }

    #[tokio::test]
    async fn healthz_is_503_with_the_reason_when_the_store_fails() {
        let (addr, _stop, server) = start(Fixed(Err("disk full".into())), Arc::new(Metrics::default())).await;
        let bad = get(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(bad.starts_with("HTTP/1.1 503 Service Unavailable"), "{bad}");
        assert!(bad.contains("the store cannot be written: disk full"), "{bad}");
        let m = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(m.contains("safeguarding_bot_store_readable 0"), "{m}");
        server.abort();
    }

    #[tokio::test]
    async fn a_request_too_big_is_refused_and_a_body_is_never_read() {
        let (addr, _stop, server) = start(Fixed(Ok(())), Arc::new(Metrics::default())).await;
        let big = format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
            "a".repeat(MAX_REQUEST)
        );
        let refused = get(addr, &big).await;
        assert!(refused.starts_with("HTTP/1.1 431"), "{refused}");
        // A body announced but never sent: the answer comes anyway, at once.
        let started = tokio::time::Instant::now();
        let announced = get(
            addr,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n",
        )
        .await;
        assert!(announced.starts_with("HTTP/1.1 200 OK"), "{announced}");
        assert!(started.elapsed() < REQUEST_TIMEOUT, "{:?}", started.elapsed());
        server.abort();
    }

    #[tokio::test]
    async fn a_client_too_slow_to_ask_is_cut_off() {
        let (addr, _stop, server) = start(Fixed(Ok(())), Arc::new(Metrics::default())).await;
        let started = tokio::time::Instant::now();
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await.expect("write");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        let took = started.elapsed();
        assert!(
            (REQUEST_TIMEOUT..REQUEST_TIMEOUT + Duration::from_secs(3)).contains(&took),
            "closed after {took:?}"
        );
        assert!(
            !String::from_utf8_lossy(&out).contains("ok"),
            "no answer to half a request"
        );
        server.abort();
    }

    /// A scrape over HTTP, read by an OpenMetrics parser this project did
    /// not write: the families, their types and the values are what the
    /// bot counted.
    #[tokio::test]
    async fn a_scrape_parses_as_openmetrics() {
        use openmetrics_parser::{OpenMetricsType, OpenMetricsValue};

        let metrics = Arc::new(Metrics::default());
        metrics.page_sent(true, false);
        metrics.acknowledged(Duration::from_secs(20));
        metrics.sync_error();
        metrics.outside("sms", "sent");
        metrics.outside("sms", "sent");
        metrics.outside("email", "failed");
        metrics.outside("fax", "sent");
        metrics.outbox_oldest(Duration::from_secs(42));
        let (addr, _stop, server) = start(Fixed(Ok(())), metrics).await;
        let raw = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let (_, body) = raw.split_once("\r\n\r\n").expect("head and body");
        let parsed = openmetrics_parser::openmetrics::parse_openmetrics(body)
            .unwrap_or_else(|e| panic!("{e:?} in\n{body}"));
        server.abort();

        let family = |name: &str| {
            parsed
                .families
                .get(name)
                .unwrap_or_else(|| panic!("{name} in\n{body}"))
        };
        // The parser keeps a family's label values in its own order of the
        // label names: ask by name.
        let number = |name: &str, labels: &[(&str, &str)]| -> f64 {
            let family = family(name);
            let values: Vec<String> = family
                .get_label_names()
                .iter()
                .map(|n| {
                    let (_, v) = labels
                        .iter()
                        .find(|(k, _)| k == n)
                        .unwrap_or_else(|| panic!("label {n} of {name}"));
                    v.to_string()
                })
                .collect();
            assert_eq!(
                values.len(),
                labels.len(),
                "{name} has labels {:?}",
                family.get_label_names()
            );
            let sample = family
                .get_sample_by_label_values(&values)
                .unwrap_or_else(|| panic!("{name}{labels:?} in\n{body}"));
            match &sample.value {
                OpenMetricsValue::Gauge(n) => n.as_f64(),
                OpenMetricsValue::Counter(c) => c.value.as_f64(),
                other => panic!("{name} is {other:?}"),
            }
        };
        let mut names: Vec<&str> = parsed.families.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "safeguarding_bot_acknowledgement_latency_seconds",
                "safeguarding_bot_acknowledgements",
                "safeguarding_bot_concerns",
                "safeguarding_bot_homeserver_unreachable",
                "safeguarding_bot_last_successful_sync_timestamp_seconds",
                "safeguarding_bot_outbox_oldest_seconds",
                "safeguarding_bot_pages_outside",
                "safeguarding_bot_pages_sent",
                "safeguarding_bot_store_readable",
                "safeguarding_bot_sync_errors",
            ]
        );
        for (name, kind) in [
            ("safeguarding_bot_pages_sent", OpenMetricsType::Counter),
            ("safeguarding_bot_pages_outside", OpenMetricsType::Counter),
            ("safeguarding_bot_outbox_oldest_seconds", OpenMetricsType::Gauge),
            ("safeguarding_bot_acknowledgements", OpenMetricsType::Counter),
            ("safeguarding_bot_sync_errors", OpenMetricsType::Counter),
            (
                "safeguarding_bot_acknowledgement_latency_seconds",
                OpenMetricsType::Histogram,
            ),
            ("safeguarding_bot_concerns", OpenMetricsType::Gauge),
            ("safeguarding_bot_store_readable", OpenMetricsType::Gauge),
            ("safeguarding_bot_homeserver_unreachable", OpenMetricsType::Gauge),
            (
                "safeguarding_bot_last_successful_sync_timestamp_seconds",
                OpenMetricsType::Gauge,
            ),
        ] {
            assert_eq!(family(name).family_type, kind, "{name}");
        }
        let page = |urgent, kind| [("urgent", urgent), ("kind", kind)];
        assert_eq!(number("safeguarding_bot_pages_sent", &page("true", "first")), 1.0);
        for (urgent, kind) in [("true", "repeat"), ("false", "first"), ("false", "repeat")] {
            assert_eq!(number("safeguarding_bot_pages_sent", &page(urgent, kind)), 0.0);
        }
        let outside = |method, outcome| [("method", method), ("outcome", outcome)];
        assert_eq!(
            number("safeguarding_bot_pages_outside", &outside("sms", "sent")),
            2.0
        );
        assert_eq!(
            number("safeguarding_bot_pages_outside", &outside("email", "failed")),
            1.0
        );
        for (method, outcome) in [
            ("sms", "retry"),
            ("sms", "failed"),
            ("email", "sent"),
            ("email", "retry"),
        ] {
            assert_eq!(
                number("safeguarding_bot_pages_outside", &outside(method, outcome)),
                0.0
            );
        }
        assert_eq!(number("safeguarding_bot_outbox_oldest_seconds", &[]), 42.0);
        assert_eq!(number("safeguarding_bot_acknowledgements", &[]), 1.0);
        assert_eq!(number("safeguarding_bot_sync_errors", &[]), 1.0);
        assert_eq!(
            number("safeguarding_bot_concerns", &[("state", "submitted")]),
            1.0
        );
        for state in ["in_progress", "incomplete", "withdrawn"] {
            assert_eq!(number("safeguarding_bot_concerns", &[("state", state)]), 0.0);
        }
        assert_eq!(number("safeguarding_bot_store_readable", &[]), 1.0);
        assert_eq!(number("safeguarding_bot_homeserver_unreachable", &[]), 0.0);

        let latency = family("safeguarding_bot_acknowledgement_latency_seconds")
            .get_sample_by_label_values(&[])
            .expect("the latency histogram");
        let OpenMetricsValue::Histogram(h) = &latency.value else {
            panic!("{:?}", latency.value);
        };
        assert_eq!(h.count, Some(1));
        assert_eq!(h.sum.as_ref().map(|s| s.as_f64()), Some(20.0));
        let bounds: Vec<f64> = h.buckets.iter().map(|b| b.upper_bound).collect();
        let mut expected = crate::health::ACK_BUCKETS.to_vec();
        expected.push(f64::INFINITY);
        assert_eq!(bounds, expected);
        let under_30 = h.buckets.iter().find(|b| b.upper_bound == 30.0).expect("le=30");
        assert_eq!(under_30.count.as_f64(), 1.0);
        let under_15 = h.buckets.iter().find(|b| b.upper_bound == 15.0).expect("le=15");
        assert_eq!(under_15.count.as_f64(), 0.0);
    }
}
