//! `/healthz` and `/metrics` on a running bot, on a real Synapse: the
//! counters move when a report is paged and acknowledged, and nothing of
//! the concern is ever in the metrics.

use crate::common;
use crate::common::matrix as harness;
use crate::common::process::free_address;

use std::net::SocketAddr;
use std::time::Duration;

use harness::{bot_account, homeserver, BotRun, Person, Received, PATIENCE};
use matrix_sdk::ruma::{OwnedRoomId, RoomId};
use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue};
use tempfile::TempDir;

/// GET `path`; the status and body, or `None` if nothing answers.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.text().await.ok()?))
}

/// Asks until the answer satisfies `ok`, or fails the test after PATIENCE.
async fn get_until(addr: SocketAddr, path: &str, what: &str, ok: impl Fn(u16, &str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut last = None;
    loop {
        if let Some((status, body)) = get(addr, path).await {
            if ok(status, &body) {
                return body;
            }
            last = Some((status, body));
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {PATIENCE:?} for {what} at {path}; last answer: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The value of the sample line `name` (with its labels) in metrics text.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A scrape as read by an OpenMetrics parser this project did not write.
type Scrape = MetricsExposition<OpenMetricsType, OpenMetricsValue>;

/// Every metric family `/metrics` exposes, and its type.
const FAMILIES: [(&str, OpenMetricsType); 10] = [
    (
        "safeguarding_bot_acknowledgement_latency_seconds",
        OpenMetricsType::Histogram,
    ),
    ("safeguarding_bot_acknowledgements", OpenMetricsType::Counter),
    ("safeguarding_bot_concerns", OpenMetricsType::Gauge),
    ("safeguarding_bot_homeserver_unreachable", OpenMetricsType::Gauge),
    (
        "safeguarding_bot_last_successful_sync_timestamp_seconds",
        OpenMetricsType::Gauge,
    ),
    ("safeguarding_bot_outbox_oldest_seconds", OpenMetricsType::Gauge),
    ("safeguarding_bot_pages_outside", OpenMetricsType::Counter),
    ("safeguarding_bot_pages_sent", OpenMetricsType::Counter),
    ("safeguarding_bot_store_readable", OpenMetricsType::Gauge),
    ("safeguarding_bot_sync_errors", OpenMetricsType::Counter),
];

/// Parses a scrape, failing the test if it is not valid OpenMetrics or its
/// families are not exactly [`FAMILIES`], or any label is outside its
/// fixed set.
fn parse(metrics: &str) -> Scrape {
    let scrape = openmetrics_parser::openmetrics::parse_openmetrics(metrics)
        .unwrap_or_else(|e| panic!("not OpenMetrics: {e:?} in\n{metrics}"));
    let mut found: Vec<(&str, OpenMetricsType)> = scrape
        .families
        .values()
        .map(|f| (f.family_name.as_str(), f.family_type))
        .collect();
    found.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(found, FAMILIES, "{metrics}");
    for family in scrape.families.values() {
        for sample in family.iter_samples() {
            let labels = sample.get_labelset().expect("labels");
            for (k, v) in labels.iter() {
                let allowed = match k.as_str() {
                    "state" => ["in_progress", "incomplete", "submitted", "withdrawn"].contains(&v.as_str()),
                    "urgent" => ["true", "false"].contains(&v.as_str()),
                    "kind" => ["first", "repeat"].contains(&v.as_str()),
                    "method" => ["sms", "email"].contains(&v.as_str()),
                    "outcome" => ["sent", "retry", "failed"].contains(&v.as_str()),
                    _ => false,
                };
                assert!(allowed, "label {k}={v} in {}", family.family_name);
            }
        }
    }
    scrape
}

/// The value of a counter or gauge in a parsed scrape, by its labels.
fn parsed_value(scrape: &Scrape, family: &str, labels: &[(&str, &str)]) -> f64 {
    let f = &scrape.families[family];
    let sample = f
        .iter_samples()
        .find(|s| {
            let set = s.get_labelset().expect("labels");
            set.iter().count() == labels.len()
                && labels.iter().all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .unwrap_or_else(|| panic!("{family}{labels:?} in the scrape"));
    match &sample.value {
        OpenMetricsValue::Counter(c) => c.value.as_f64(),
        OpenMetricsValue::Gauge(n) => n.as_f64(),
        other => panic!("{family} is {other:?}"),
    }
}

fn pages_sent(metrics: &str) -> f64 {
    ["false", "true"]
        .iter()
        .flat_map(|u| ["first", "repeat"].map(move |k| (u, k)))
        .map(|(u, k)| {
            sample(
                metrics,
                &format!("safeguarding_bot_pages_sent_total{{urgent=\"{u}\",kind=\"{k}\"}}"),
            )
            .unwrap_or_else(|| panic!("pages_sent_total urgent={u} kind={k} in\n{metrics}"))
        })
        .sum()
}

struct World {
    lead: Person,
    staff: Person,
    staff_room: OwnedRoomId,
    bot_id: String,
    addr: SocketAddr,
    _data: TempDir,
    bot: Option<BotRun>,
}

/// A lead and a member of staff in an encrypted staff room, and a bot with
/// `[health] listen` on a free port.
async fn world() -> World {
    let hs = homeserver();
    let (lead, staff) = tokio::join!(Person::new(hs, "lead"), Person::new(hs, "staff"));
    let account = bot_account(hs).await;
    let room = staff
        .create_encrypted_room("Staff", &[&lead.user_id, &account.user_id])
        .await;
    let staff_room = room.room_id().to_owned();
    let data = TempDir::new().expect("tempdir");
    let mut config = harness::bot_config(hs, &account, data.path(), staff_room.as_str(), &lead.user_id, &[]);
    assert_eq!(config.health.listen, None, "no listener unless the config asks");
    let addr = free_address();
    config.health.listen = Some(addr);
    let bot = BotRun::start(config);
    staff.wait_for_member(&staff_room, &account.user_id).await;
    World {
        lead,
        staff,
        staff_room,
        bot_id: account.user_id,
        addr,
        _data: data,
        bot: Some(bot),
    }
}

impl World {
    fn bot_said<'a>(&'a self, room: Option<&'a RoomId>, text: &'a str) -> impl Fn(&Received) -> bool + 'a {
        move |m: &Received| {
            m.sender == self.bot_id && room.is_none_or(|r| m.room == r) && m.body.contains(text)
        }
    }

    async fn answer(&self, private: &RoomId, text: &str, expect: &str) -> Received {
        self.staff.say(private, text).await;
        self.staff
            .wait_for(expect, self.bot_said(Some(private), expect))
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_move_with_a_report_and_carry_none_of_it() {
    let mut w = world().await;
    let addr = w.addr;

    let health = get_until(addr, "/healthz", "ok", |s, _| s == 200).await;
    assert_eq!(health, "ok\n");
    let before = get_until(addr, "/metrics", "metrics", |s, _| s == 200).await;
    assert_eq!(pages_sent(&before), 0.0, "{before}");
    assert_eq!(
        sample(&before, "safeguarding_bot_concerns{state=\"submitted\"}"),
        Some(0.0),
        "{before}"
    );
    assert!(
        sample(&before, "safeguarding_bot_last_successful_sync_timestamp_seconds").is_some_and(|t| t > 0.0),
        "a sync has succeeded: {before}"
    );

    // A report, start to submission, with a phrase no one else would write.
    let phrase = "violet-heron-7730";
    let answers = [
        format!("I saw {phrase} in a group chat"),
        "yesterday teatime".to_string(),
        "a pupil, about 13".to_string(),
        "a gaming lobby, account @stranger".to_string(),
        "youth worker".to_string(),
    ];
    w.staff.say(&w.staff_room, "/report").await;
    let first = w
        .staff
        .wait_for("the first question", w.bot_said(None, "Is a crime in progress"))
        .await;
    let private = first.room;
    w.answer(&private, "no", "child sexual content").await;
    w.answer(&private, "no", "communicating with a child").await;
    w.answer(&private, "no", "known person").await;
    w.answer(&private, "no", "What did you see or hear").await;
    w.answer(&private, &answers[0], "their own words").await;
    w.answer(&private, "skip", "When did it happen").await;
    w.answer(&private, &answers[1], "Who is involved").await;
    w.answer(&private, &answers[2], "Where online").await;
    w.answer(&private, &answers[3], "Who else knows").await;
    w.answer(&private, "skip", "What have you done so far").await;
    w.answer(&private, "skip", "Which area of risk").await;
    w.answer(&private, "2", "What is your role").await;
    w.answer(&private, &answers[4], "anything else").await;
    w.answer(&private, "skip", "Please check your report").await;
    let done = w.answer(&private, "send", "recorded as SG-").await;
    assert!(done.body.contains("SG-0001"), "{}", done.body);

    let page = w
        .lead
        .wait_for("the page", |m| {
            m.sender == w.bot_id && m.body.contains("SG-0001") && m.body.contains("!ack")
        })
        .await;
    let paged = get_until(addr, "/metrics", "the page counted", |_, m| pages_sent(m) >= 1.0).await;
    assert_eq!(
        sample(
            &paged,
            "safeguarding_bot_pages_sent_total{urgent=\"false\",kind=\"first\"}"
        ),
        Some(1.0),
        "{paged}"
    );
    assert_eq!(
        sample(&paged, "safeguarding_bot_concerns{state=\"submitted\"}"),
        Some(1.0),
        "{paged}"
    );
    assert_eq!(
        sample(&paged, "safeguarding_bot_acknowledgements_total"),
        Some(0.0),
        "{paged}"
    );

    // The lead acknowledges: the acknowledgement and its latency are counted.
    w.lead.react(&page.room, &page.event_id, "✅").await;
    w.lead
        .wait_for(
            "the confirmation",
            w.bot_said(Some(&page.room), "acknowledged by"),
        )
        .await;
    let acked = get_until(addr, "/metrics", "the acknowledgement counted", |_, m| {
        sample(m, "safeguarding_bot_acknowledgements_total") == Some(1.0)
    })
    .await;
    assert_eq!(
        sample(&acked, "safeguarding_bot_acknowledgement_latency_seconds_count"),
        Some(1.0),
        "{acked}"
    );
    assert_eq!(
        sample(
            &acked,
            "safeguarding_bot_acknowledgement_latency_seconds_bucket{le=\"+Inf\"}"
        ),
        Some(1.0),
        "{acked}"
    );
    assert!(
        sample(&acked, "safeguarding_bot_acknowledgement_latency_seconds_sum").is_some_and(|s| s > 0.0),
        "{acked}"
    );
    assert_eq!(
        sample(&acked, "safeguarding_bot_concerns{state=\"submitted\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&acked, "safeguarding_bot_homeserver_unreachable"),
        Some(0.0)
    );

    // The same, as read by a parser we did not write.
    let scrape = parse(&acked);
    let page = |urgent, kind| [("urgent", urgent), ("kind", kind)];
    assert_eq!(
        parsed_value(&scrape, "safeguarding_bot_pages_sent", &page("false", "first")),
        1.0
    );
    for (urgent, kind) in [("false", "repeat"), ("true", "first"), ("true", "repeat")] {
        assert_eq!(
            parsed_value(&scrape, "safeguarding_bot_pages_sent", &page(urgent, kind)),
            0.0
        );
    }
    assert_eq!(
        parsed_value(&scrape, "safeguarding_bot_acknowledgements", &[]),
        1.0
    );
    assert_eq!(
        parsed_value(&scrape, "safeguarding_bot_concerns", &[("state", "submitted")]),
        1.0
    );
    assert_eq!(parsed_value(&scrape, "safeguarding_bot_store_readable", &[]), 1.0);
    assert_eq!(
        parsed_value(&scrape, "safeguarding_bot_homeserver_unreachable", &[]),
        0.0
    );
    assert!(
        parsed_value(
            &scrape,
            "safeguarding_bot_last_successful_sync_timestamp_seconds",
            &[]
        ) > 0.0
    );
    let latency = scrape.families["safeguarding_bot_acknowledgement_latency_seconds"]
        .iter_samples()
        .next()
        .expect("the latency histogram");
    let OpenMetricsValue::Histogram(h) = &latency.value else {
        panic!("{:?}", latency.value);
    };
    assert_eq!(h.count, Some(1), "{acked}");
    assert!(h.sum.as_ref().is_some_and(|s| s.as_f64() > 0.0), "{acked}");
    assert_eq!(
        h.buckets.last().map(|b| (b.upper_bound, b.count.as_f64())),
        Some((f64::INFINITY, 1.0))
    );

    // Nothing of the concern, nor who was involved, in any scrape.
    for text in [&before, &paged, &acked] {
        parse(text);
        for word in [
            phrase,
            "violet",
            "group chat",
            "teatime",
            "pupil",
            "gaming",
            "stranger",
            "youth worker",
            "SG-0001",
            &w.staff.user_id,
            &w.lead.user_id,
            &w.bot_id,
        ] {
            assert!(!text.contains(word), "{word:?} is in the metrics:\n{text}");
        }
        // Every label is from a fixed set.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            if let Some((_, labels)) = line.split_once('{') {
                let labels = labels.split('}').next().expect("closing brace");
                for pair in labels.split(',') {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    let v = v.trim_matches('"');
                    let allowed = match k {
                        "state" => ["in_progress", "incomplete", "submitted", "withdrawn"].contains(&v),
                        "urgent" => ["true", "false"].contains(&v),
                        "kind" => ["first", "repeat"].contains(&v),
                        "method" => ["sms", "email"].contains(&v),
                        "outcome" => ["sent", "retry", "failed"].contains(&v),
                        "le" => v == "+Inf" || v.parse::<f64>().is_ok(),
                        _ => false,
                    };
                    assert!(allowed, "label {k}={v} in {line}");
                }
            }
        }
    }

    let (status, body) = get(addr, "/healthz").await.expect("answers");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _) = get(addr, "/nowhere").await.expect("answers");
    assert_eq!(status, 404);

    // Stopping the bot stops the listener and frees the port.
    w.bot.take().expect("running").stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens once the bot has stopped"
    );
    let _ = &w.staff_room;
}

/// A TCP relay between the bot and the homeserver that can be cut, as a
/// network outage would: while cut, every connection is dropped at once.
struct Relay {
    addr: SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: &str) -> Relay {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relay");
        let addr = listener.local_addr().expect("address");
        let (up, up_rx) = tokio::sync::watch::channel(true);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !*up_rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut up_rx = up_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = up_rx.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Relay { addr, up, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_is_logged_and_the_leads_are_told_when_the_bot_is_back() {
    let hs = homeserver();
    let (lead, staff) = tokio::join!(Person::new(hs, "lead"), Person::new(hs, "staff"));
    let account = bot_account(hs).await;
    let staff_room = staff
        .create_encrypted_room("Staff", &[&lead.user_id, &account.user_id])
        .await
        .room_id()
        .to_owned();
    let leads_room = lead
        .create_encrypted_room("Safeguarding leads", &[&account.user_id])
        .await
        .room_id()
        .to_owned();
    let relay = Relay::start(&hs.url).await;
    let data = TempDir::new().expect("tempdir");
    let mut config = harness::bot_config(hs, &account, data.path(), staff_room.as_str(), &lead.user_id, &[]);
    config.safeguarding.leads_room = Some(leads_room.to_string());
    // The shortest the config allows: a quiet sync takes 30 seconds.
    config.health.unreachable_alert_after = Duration::from_secs(60);
    let addr = free_address();
    config.health.listen = Some(addr);
    // The first login follows the homeserver's well-known address, past
    // the relay; a restored session keeps to the configured one.
    let bot = BotRun::start(config);
    staff.wait_for_member(&staff_room, &account.user_id).await;
    let mut config = bot.stop().await;
    config.matrix.homeserver_url = relay.url();
    let bot = BotRun::start(config);
    get_until(addr, "/healthz", "ok", |s, _| s == 200).await;

    relay.set_up(false);
    let cut_off = tokio::time::Instant::now();
    let log_line = "cannot reach the homeserver for 1 minute; pages may be delayed";
    let deadline = cut_off + Duration::from_secs(120);
    while !common::captured_log().contains(log_line) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no error logged for the outage; log tail:\n{}",
            tail(&common::captured_log())
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        cut_off.elapsed() >= Duration::from_secs(30),
        "not logged before the threshold could pass"
    );
    get_until(addr, "/metrics", "the outage in the metrics", |_, m| {
        sample(m, "safeguarding_bot_homeserver_unreachable") == Some(1.0)
    })
    .await;
    let log = common::captured_log();
    assert_eq!(log.matches(log_line).count(), 1, "logged once");
    assert!(
        log.lines().any(|l| l.contains(log_line) && l.contains("ERROR")),
        "at error level"
    );

    relay.set_up(true);
    // The SDK retries a failed sync by itself, up to a minute apart.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    let notice = loop {
        let found = lead
            .history
            .lock()
            .expect("history")
            .iter()
            .find(|m| {
                m.sender == account.user_id
                    && m.room == leads_room
                    && m.body.contains("could not reach the homeserver for")
            })
            .cloned();
        if let Some(n) = found {
            break n;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the leads were never told the bot was back; log tail:\n{}",
            tail(&common::captured_log())
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(notice.notice, "sent as a notice");
    assert!(notice
        .body
        .contains("check that no report or acknowledgement was missed"));
    let after = get_until(addr, "/metrics", "the bot back in the metrics", |_, m| {
        sample(m, "safeguarding_bot_homeserver_unreachable") == Some(0.0)
    })
    .await;
    assert!(
        sample(&after, "safeguarding_bot_last_successful_sync_timestamp_seconds").is_some_and(|t| t > 0.0)
    );
    get_until(addr, "/healthz", "ok again", |s, _| s == 200).await;
    bot.stop().await;
}

fn tail(log: &str) -> String {
    let chars: Vec<char> = log.chars().collect();
    chars[chars.len().saturating_sub(4000)..].iter().collect()
}
