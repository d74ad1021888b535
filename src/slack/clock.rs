//! Slack's clock as the bot's: a message's `ts` is Slack's time, and the
//! core compares when a message was written with when its question was
//! asked, by the bot's clock. The two may differ by seconds on a server
//! whose clock is not kept in time, and an answer typed within those
//! seconds must never be taken for one written before the question.
//!
//! Each post tells how far ahead Slack's clock is, at most: its `ts` was
//! stamped before the bot had Slack's answer. The largest of the recent
//! samples is the closest, and a time moved back by it is never earlier
//! than the moment it stands for, so a message is only ever judged as
//! written later than it was, never earlier.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Samples kept: the recent posts.
const SAMPLES: usize = 16;

#[derive(Default)]
pub struct SlackClock {
    /// Slack's `ts` less the bot's time when the answer came, per post.
    ahead: Mutex<VecDeque<Duration>>,
}

impl SlackClock {
    /// A post stamped `ts` by Slack, whose answer came at `answered`.
    pub fn sample(&self, ts: DateTime<Utc>, answered: DateTime<Utc>) {
        let mut ahead = self.ahead.lock().unwrap_or_else(|e| e.into_inner());
        if ahead.len() == SAMPLES {
            ahead.pop_front();
        }
        ahead.push_back(ts - answered);
    }

    /// A time by Slack's clock as the bot's (as it is, before any post).
    pub fn to_local(&self, slack_time: DateTime<Utc>) -> DateTime<Utc> {
        let ahead = self.ahead.lock().unwrap_or_else(|e| e.into_inner());
        match ahead.iter().max() {
            Some(by) => slack_time - *by,
            None => slack_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_time_is_moved_by_the_closest_sample_and_never_made_earlier() {
        let clock = SlackClock::default();
        let t = DateTime::from_timestamp(1_700_000_000, 0).expect("a time");
        assert_eq!(clock.to_local(t), t, "no sample: taken as it is");
        // Slack is 5 s ahead; answers came 300 ms and 40 ms after stamping.
        let five = Duration::seconds(5);
        clock.sample(t + five, t + Duration::milliseconds(300));
        clock.sample(t + five, t + Duration::milliseconds(40));
        let local = clock.to_local(t + five);
        assert_eq!(local, t + Duration::milliseconds(40));
        assert!(local >= t, "never earlier than the moment it stands for");
    }
}
