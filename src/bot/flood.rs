//! A limit on how fast one person's messages are taken: a burst, then a
//! steady rate. Past it, their messages are not handled until they pause
//! for [`QUIET`], and they are told once per flood, so one sender's flood
//! is answered with a handful of replies and never slows everyone else's.
//!
//! Only messages sent before the bot has begun handling the sender's last
//! one count: someone who waits for each answer (a person, or a test
//! answering the moment the question arrives) is in a conversation, not a
//! flood, however quick they are. The bot starts on a message before its
//! answer can be sent, so an answer to that answer is always a turn.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Messages taken at once, beyond a turn, before the limit applies: a
/// person who sends a few lines without waiting for an answer is still
/// taken. A flood gets about this many replies: past it, the sender is held.
pub const BURST: f64 = 5.0;
/// Messages a second taken after the burst (a person typing lines without
/// waiting for answers sends fewer).
pub const RATE: f64 = 1.0;
/// Once over the limit, how long the sender must pause before their
/// messages are taken again.
pub const QUIET: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    /// Their last message, taken or not.
    at: Instant,
    /// Over the limit and told: nothing is taken until they pause.
    held: bool,
    /// Messages taken and not yet handled.
    waiting: usize,
}

/// What to do with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Take,
    /// Over the limit: not handled; tell them (once per flood).
    DropAndTell,
    /// Over the limit, and told already.
    Drop,
}

#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    /// Whether one more message from `sender` at `now` is taken.
    pub fn check(&self, sender: &str, now: Instant) -> Verdict {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 1024 {
            // Full buckets, not held, are the same as none.
            buckets.retain(|_, b| b.held || b.waiting > 0 || refill(b, now) < BURST);
        }
        let bucket = buckets.entry(sender.to_string()).or_insert(Bucket {
            tokens: BURST,
            at: now,
            held: false,
            waiting: 0,
        });
        let paused = now.saturating_duration_since(bucket.at) >= QUIET;
        let tokens = refill(bucket, now);
        bucket.at = now;
        if bucket.held && !paused {
            bucket.tokens = tokens;
            return Verdict::Drop;
        }
        bucket.held = false;
        if bucket.waiting == 0 {
            // Their last message is being handled: a turn, not a flood.
            bucket.tokens = tokens;
            bucket.waiting = 1;
            return Verdict::Take;
        }
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            bucket.waiting += 1;
            return Verdict::Take;
        }
        bucket.tokens = tokens;
        bucket.held = true;
        Verdict::DropAndTell
    }

    /// The bot has begun handling a message taken from `sender` (or
    /// dropped it after all), before anything it leads to is sent.
    pub fn handled(&self, sender: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = buckets.get_mut(sender) {
            b.waiting = b.waiting.saturating_sub(1);
        }
    }
}

fn refill(b: &Bucket, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
    (b.tokens + elapsed * RATE).min(BURST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_taken_then_a_flood_is_told_once() {
        let l = Limiter::default();
        let t = Instant::now();
        // 300 messages over three seconds.
        let verdicts: Vec<Verdict> = (0..300)
            .map(|i| l.check("@flood:x", t + Duration::from_millis(i * 10)))
            .collect();
        let taken = verdicts.iter().filter(|v| **v == Verdict::Take).count();
        assert!(
            (BURST as usize..=BURST as usize + 1).contains(&taken),
            "{taken} taken"
        );
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::DropAndTell).count(), 1);
        // Someone else is not held back.
        assert_eq!(l.check("@other:x", t), Verdict::Take);
        // Still flooding a second later: still held, not told again.
        let last = t + Duration::from_millis(2990);
        assert_eq!(l.check("@flood:x", last + Duration::from_secs(1)), Verdict::Drop);
        // After a pause, taken again; a new flood is told again.
        let later = last + Duration::from_secs(1) + QUIET;
        assert_eq!(l.check("@flood:x", later), Verdict::Take);
        let mut told = 0;
        for _ in 0..50 {
            if l.check("@flood:x", later) == Verdict::DropAndTell {
                told += 1;
            }
        }
        assert_eq!(told, 1);
    }

    #[test]
    fn someone_typing_at_a_human_pace_is_never_held() {
        let l = Limiter::default();
        let t = Instant::now();
        for i in 0..200 {
            assert_eq!(
                l.check("@typist:x", t + Duration::from_millis(i * 1500)),
                Verdict::Take
            );
        }
    }

    #[test]
    fn someone_who_waits_for_each_answer_is_never_held_however_quick() {
        let l = Limiter::default();
        let t = Instant::now();
        for _ in 0..200 {
            assert_eq!(l.check("@quick:x", t), Verdict::Take);
            l.handled("@quick:x");
        }
    }
}
