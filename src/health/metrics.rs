//! The counters and gauges behind `/metrics`, kept with prometheus-client
//! and encoded in the OpenMetrics text format.
//!
//! Every label value comes from a fixed set written here (a state,
//! `urgent`, `kind`, a bucket bound): nothing a person wrote can become a
//! label or a value.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::{text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::concern::Status;

/// The upper bounds of the acknowledgement latency histogram, in seconds:
/// from a quick answer to a day.
pub const ACK_BUCKETS: [f64; 13] = [
    15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0,
];

/// Every metric's name starts with this and `_`.
const PREFIX: &str = "safeguarding_bot";

/// The states a concern is counted by, each with its label value.
const STATES: [(Status, &str); 4] = [
    (Status::InProgress, "in_progress"),
    (Status::Incomplete, "incomplete"),
    (Status::Submitted, "submitted"),
    (Status::Withdrawn, "withdrawn"),
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PageLabels {
    urgent: bool,
    /// `first` or `repeat`: any page after the concern's first.
    kind: &'static str,
}

impl PageLabels {
    fn new(urgent: bool, repeat: bool) -> PageLabels {
        PageLabels {
            urgent,
            kind: if repeat { "repeat" } else { "first" },
        }
    }
}

/// A page outside the chat: by which method, and what came of it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutsideLabels {
    /// `sms` or `email`.
    method: &'static str,
    /// `sent` (the gateway or mail server took it), `retry` (not now) or
    /// `failed` (refused for good, or the gateway said it failed).
    outcome: &'static str,
}

/// The methods and outcomes [`Metrics::outside`] counts.
pub const OUTSIDE_METHODS: [&str; 2] = ["sms", "email"];
pub const OUTSIDE_OUTCOMES: [&str; 3] = ["sent", "retry", "failed"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// Counters and gauges, updated as the bot works: cheap to update from any
/// task (prometheus-client's are atomics, shared by handle), read at scrape
/// time by [`Metrics::encode`].
#[derive(Debug)]
pub struct Metrics {
    pages: Family<PageLabels, Counter>,
    outside: Family<OutsideLabels, Counter>,
    /// How long the oldest effect waiting in the outbox has waited, in
    /// seconds (0 when it is empty).
    outbox_oldest: Gauge,
    acks: Counter,
    ack_latency: Histogram,
    sync_errors: Counter,
    /// Unix seconds of the last successful sync; 0 before the first.
    last_sync: Gauge,
    /// 1 while the self-watch has found the homeserver out of reach.
    unreachable: Gauge,
    /// Unix seconds when the sync loop started; 0 before it has. Only
    /// `/healthz` reads it: it is not exposed.
    sync_started: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let pages = Family::<PageLabels, Counter>::default();
        // Every label set is there from the start, at 0: a series that
        // appears only with its first page reads as a gap, not as a zero.
        for urgent in [false, true] {
            for repeat in [false, true] {
                pages.get_or_create_owned(&PageLabels::new(urgent, repeat));
            }
        }
        let outside = Family::<OutsideLabels, Counter>::default();
        for method in OUTSIDE_METHODS {
            for outcome in OUTSIDE_OUTCOMES {
                outside.get_or_create_owned(&OutsideLabels { method, outcome });
            }
        }
        Metrics {
            pages,
            outside,
            outbox_oldest: Gauge::default(),
            acks: Counter::default(),
            ack_latency: Histogram::new(ACK_BUCKETS),
            sync_errors: Counter::default(),
            last_sync: Gauge::default(),
            unreachable: Gauge::default(),
            sync_started: AtomicI64::new(0),
        }
    }
}

impl Metrics {
    /// A page went out. `repeat` is any page after the concern's first.
    pub fn page_sent(&self, urgent: bool, repeat: bool) {
        self.pages.get_or_create(&PageLabels::new(urgent, repeat)).inc();
    }

    /// A page outside the chat by `method` (`sms`, `email`) came to
    /// `outcome` (`sent`, `retry`, `failed`); anything else is not counted.
    pub fn outside(&self, method: &str, outcome: &str) {
        let (Some(method), Some(outcome)) = (
            OUTSIDE_METHODS.into_iter().find(|m| *m == method),
            OUTSIDE_OUTCOMES.into_iter().find(|o| *o == outcome),
        ) else {
            return;
        };
        self.outside
            .get_or_create(&OutsideLabels { method, outcome })
            .inc();
    }

    /// The oldest effect waiting in the outbox has waited this long.
    pub fn outbox_oldest(&self, waited: Duration) {
        self.outbox_oldest
            .set(i64::try_from(waited.as_secs()).unwrap_or(i64::MAX));
    }

    /// How long the oldest effect in the outbox has waited.
    pub fn outbox_oldest_waited(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.outbox_oldest.get()).unwrap_or(0))
    }

    /// A concern was acknowledged `latency` after it was first paged.
    pub fn acknowledged(&self, latency: Duration) {
        self.ack_latency.observe(latency.as_secs_f64());
        self.acks.inc();
    }

    pub fn sync_error(&self) {
        self.sync_errors.inc();
    }

    pub fn synced(&self, now: DateTime<Utc>) {
        self.last_sync.set(now.timestamp());
    }

    /// The sync loop is running from `now`: `/healthz` counts from here
    /// until the first sync completes.
    pub fn sync_loop_started(&self, now: DateTime<Utc>) {
        self.sync_started.store(now.timestamp(), Ordering::Relaxed);
    }

    pub(super) fn set_unreachable(&self, unreachable: bool) {
        self.unreachable.set(i64::from(unreachable));
    }

    /// Whether the self-watch has found the chat out of reach for too long.
    pub fn is_unreachable(&self) -> bool {
        self.unreachable.get() == 1
    }

    /// The last successful sync, if there has been one.
    pub fn last_sync(&self) -> Option<DateTime<Utc>> {
        unix(self.last_sync.get())
    }

    pub(super) fn sync_started(&self) -> Option<DateTime<Utc>> {
        unix(self.sync_started.load(Ordering::Relaxed))
    }

    /// The metrics in the OpenMetrics text format. `concerns` is every
    /// concern's state, from the store, or `None` if the store could not be
    /// read (then no count by state is given, and `store_readable` is 0).
    ///
    /// The counts by state are taken at each scrape, so each scrape encodes
    /// a registry of its own: the long-lived metrics (handles to the same
    /// atomics) and that scrape's counts. Two scrapes at once never mix
    /// their counts, and a count that could not be read is absent, not
    /// left over from an earlier scrape.
    pub fn encode(&self, concerns: Option<&[Status]>) -> Result<String, fmt::Error> {
        let mut registry = Registry::with_prefix(PREFIX);

        let by_state = Family::<StateLabels, Gauge>::default();
        if let Some(states) = concerns {
            for (state, label) in STATES {
                let n = states.iter().filter(|s| **s == state).count();
                by_state
                    .get_or_create(&StateLabels { state: label })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        registry.register("concerns", "Concerns in the store, by state", by_state);
        let readable = Gauge::<i64>::default();
        readable.set(i64::from(concerns.is_some()));
        registry.register(
            "store_readable",
            "Whether the concerns could be read from the store (1) or not (0)",
            readable,
        );

        // Counters are registered without `_total`: the encoder adds it.
        registry.register(
            "pages_sent",
            "Pages sent to the lead or deputies",
            self.pages.clone(),
        );
        registry.register(
            "pages_outside",
            "Pages by SMS and email, by method and what came of each try",
            self.outside.clone(),
        );
        registry.register(
            "outbox_oldest_seconds",
            "How long the oldest message or page waiting to be sent has waited (0 if none waits)",
            self.outbox_oldest.clone(),
        );
        registry.register(
            "acknowledgements",
            "Concerns acknowledged by the lead or a deputy",
            self.acks.clone(),
        );
        // The names carry their unit (`_seconds`) and no `# UNIT` line is
        // written, as before prometheus-client: some OpenMetrics readers
        // refuse a unit on a histogram.
        registry.register(
            "acknowledgement_latency_seconds",
            "Time from a concern's first page to its acknowledgement",
            self.ack_latency.clone(),
        );
        registry.register(
            "sync_errors",
            "Syncs with the homeserver that failed",
            self.sync_errors.clone(),
        );
        registry.register(
            "last_successful_sync_timestamp_seconds",
            "When the last sync with the homeserver succeeded (unix time; 0 if none yet)",
            self.last_sync.clone(),
        );
        registry.register(
            "homeserver_unreachable",
            "Whether the homeserver has been out of reach for longer than [health] unreachable_alert_after (1) or not (0)",
            self.unreachable.clone(),
        );

        let mut out = String::new();
        text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

fn unix(secs: i64) -> Option<DateTime<Utc>> {
    (secs > 0).then(|| DateTime::from_timestamp(secs, 0)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn metrics_are_in_the_openmetrics_text_format() {
        let m = Metrics::default();
        m.page_sent(false, false);
        m.page_sent(true, false);
        m.page_sent(true, true);
        m.page_sent(true, true);
        m.acknowledged(Duration::from_millis(45_500));
        m.acknowledged(Duration::from_secs(100_000));
        m.sync_error();
        let synced = Utc
            .with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
            .single()
            .expect("time");
        m.synced(synced);
        let states = [Status::Submitted, Status::Submitted, Status::Withdrawn];
        let text = m.encode(Some(&states)).expect("encode");
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
            "safeguarding_bot_acknowledgement_latency_seconds_bucket{le=\"30.0\"} 0",
            "safeguarding_bot_acknowledgement_latency_seconds_bucket{le=\"60.0\"} 1",
            "safeguarding_bot_acknowledgement_latency_seconds_bucket{le=\"86400.0\"} 1",
            "safeguarding_bot_acknowledgement_latency_seconds_bucket{le=\"+Inf\"} 2",
            "safeguarding_bot_acknowledgement_latency_seconds_sum 100045.5",
            "safeguarding_bot_acknowledgement_latency_seconds_count 2",
            "safeguarding_bot_sync_errors_total 1",
            &format!(
                "safeguarding_bot_last_successful_sync_timestamp_seconds {}",
                synced.timestamp()
            ),
            "safeguarding_bot_homeserver_unreachable 0",
            "# TYPE safeguarding_bot_acknowledgement_latency_seconds histogram",
            "# TYPE safeguarding_bot_pages_sent counter",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        // Every sample line is a name, optional fixed labels, and a number.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("name and value");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        let unreadable = m.encode(None).expect("encode");
        assert!(!unreadable.contains("safeguarding_bot_concerns{"), "{unreadable}");
        assert!(
            unreadable
                .lines()
                .any(|l| l == "safeguarding_bot_store_readable 0"),
            "{unreadable}"
        );
    }

    #[test]
    fn the_page_counts_are_there_before_the_first_page() {
        let text = Metrics::default().encode(None).expect("encode");
        for urgent in ["false", "true"] {
            for kind in ["first", "repeat"] {
                let line =
                    format!("safeguarding_bot_pages_sent_total{{urgent=\"{urgent}\",kind=\"{kind}\"}} 0");
                assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
            }
        }
    }
}
