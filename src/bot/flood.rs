//! A limit on how fast one person's messages are taken: a burst, then a
//! steady rate. Beyond it their messages are not handled, and they are told
//! once per flood, so one sender's flood never slows everyone else's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Messages taken at once before the limit applies.
pub const BURST: f64 = 20.0;
/// Messages a second taken after the burst.
pub const RATE: f64 = 5.0;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Told already in this flood (until the bucket fills again).
    told: bool,
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
            // Full buckets are the same as none.
            buckets.retain(|_, b| refill(b, now) < BURST);
        }
        let bucket = buckets.entry(sender.to_string()).or_insert(Bucket {
            tokens: BURST,
            at: now,
            told: false,
        });
        let tokens = refill(bucket, now);
        bucket.at = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            if bucket.tokens >= BURST - 1.0 {
                bucket.told = false;
            }
            return Verdict::Take;
        }
        bucket.tokens = tokens;
        if bucket.told {
            Verdict::Drop
        } else {
            bucket.told = true;
            Verdict::DropAndTell
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
    use std::time::Duration;

    #[test]
    fn a_burst_is_taken_then_a_flood_is_told_once() {
        let l = Limiter::default();
        let t = Instant::now();
        let verdicts: Vec<Verdict> = (0..300).map(|_| l.check("@flood:x", t)).collect();
        assert_eq!(
            verdicts.iter().filter(|v| **v == Verdict::Take).count(),
            BURST as usize
        );
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::DropAndTell).count(), 1);
        // Someone else is not held back.
        assert_eq!(l.check("@other:x", t), Verdict::Take);
        // A second later, one more is taken; once full again, a new flood is told again.
        assert_eq!(l.check("@flood:x", t + Duration::from_millis(200)), Verdict::Take);
        let later = t + Duration::from_secs(60);
        for _ in 0..BURST as usize {
            assert_eq!(l.check("@flood:x", later), Verdict::Take);
        }
        assert_eq!(l.check("@flood:x", later), Verdict::DropAndTell);
    }
}
