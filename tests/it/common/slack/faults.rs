//! Faults a test injects, at any time, into the stand-in's answers.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Faults {
    /// Per method, the Slack error to answer each of its next calls with.
    errors: HashMap<String, VecDeque<String>>,
    /// Per method: how many more calls get a 429, and its `Retry-After`.
    rate_limits: HashMap<String, (u32, u64)>,
    /// Per method, how long to wait before answering.
    delays: HashMap<String, Duration>,
    /// chat.postMessage: at most this many posts per channel in this window;
    /// more get a 429 with `Retry-After: 1`, as Slack does past its short
    /// bursts. None: no limit.
    pub post_burst: Option<(usize, Duration)>,
    /// Deliver each of the next this many events twice, with the same
    /// `event_id` in two envelopes.
    pub duplicate_events: u32,
    /// Per user, the Slack error every `conversations.invite` of them gets
    /// (someone Slack cannot invite while it invites everyone else).
    pub invite_errors: HashMap<String, String>,
}

impl Faults {
    /// The next `times` calls of `method` answer `{"ok":false,"error":error}`
    /// (with `needed` and `provided` for `missing_scope`).
    pub fn fail_next(&mut self, method: &str, times: u32, error: &str) {
        let queue = self.errors.entry(method.to_string()).or_default();
        for _ in 0..times {
            queue.push_back(error.to_string());
        }
    }

    pub fn take_error(&mut self, method: &str) -> Option<String> {
        self.errors.get_mut(method).and_then(VecDeque::pop_front)
    }

    /// The next `times` calls of `method` answer HTTP 429 with
    /// `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(&mut self, method: &str, times: u32, retry_after_secs: u64) {
        self.rate_limits
            .insert(method.to_string(), (times, retry_after_secs));
    }

    pub fn take_rate_limit(&mut self, method: &str) -> Option<u64> {
        let entry = self.rate_limits.get_mut(method)?;
        if entry.0 == 0 {
            return None;
        }
        entry.0 -= 1;
        Some(entry.1)
    }

    /// Every call of `method` waits `delay` before it is answered (zero to
    /// stop).
    pub fn delay(&mut self, method: &str, delay: Duration) {
        if delay.is_zero() {
            self.delays.remove(method);
        } else {
            self.delays.insert(method.to_string(), delay);
        }
    }

    pub fn delay_for(&self, method: &str) -> Option<Duration> {
        self.delays.get(method).copied()
    }

    pub fn clear(&mut self) {
        *self = Faults::default();
    }
}
