//! The self-watch: notices when the homeserver has been out of reach for
//! longer than `[health] unreachable_alert_after`, once, and when it is
//! back, once; and the words the leads are told.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Metrics;

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
    back_notice_for("the homeserver", from, away, tz)
}

/// As [`back_notice`], for a chat named `what` ("Slack").
pub fn back_notice_for(what: &str, from: DateTime<Utc>, away: Duration, tz: chrono_tz::Tz) -> String {
    let until = from + chrono::Duration::from_std(away).unwrap_or_default();
    let fmt = "%-d %b %H:%M";
    format!(
        "I could not reach {what} for {} (from {} to {}) and I am back now. \
         Messages sent in that time are reaching me now, but pages and replies may have been delayed: \
         please check that no report or acknowledgement was missed.",
        human_duration(away),
        from.with_timezone(&tz).format(fmt),
        until.with_timezone(&tz).format(fmt),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::tests::t;

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
        let unreachable = |m: &Metrics| {
            let text = m.encode(None).expect("encode");
            text.lines()
                .find_map(|l| l.strip_prefix("safeguarding_bot_homeserver_unreachable "))
                .map(str::to_string)
        };
        let w = SelfWatch::new(TWO_MINUTES, t(0));
        assert_eq!(w.synced(t(20), &m), None);
        assert_eq!(w.check(t(100), &m), None);
        assert_eq!(w.check(t(141), &m), Some(Duration::from_secs(121)));
        assert_eq!(unreachable(&m).as_deref(), Some("1"));
        assert_eq!(w.check(t(300), &m), None, "only once");
        assert_eq!(w.synced(t(620), &m), Some((t(20), Duration::from_secs(600))));
        assert_eq!(unreachable(&m).as_deref(), Some("0"));
        assert_eq!(w.synced(t(650), &m), None, "and only once");
        assert_eq!(w.check(t(700), &m), None);
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
        let slack = back_notice_for("Slack", t(0), Duration::from_secs(120), chrono_tz::Europe::London);
        assert!(
            slack.starts_with("I could not reach Slack for 2 minutes"),
            "{slack}"
        );
    }
}
