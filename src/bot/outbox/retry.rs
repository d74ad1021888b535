//! How long one effect is tried, and what waits for what.
//!
//! - [`Tries`]: every effect that fails for a reason the chat may get over
//!   is tried again, but not for ever: once it has failed
//!   [`WARN_TRIES`] times over half of [`give_up_after`] the leads are told
//!   it is still failing, and once it has failed [`GIVE_UP_TRIES`] times
//!   over all of it, it is given up and said. Only failures while the chat
//!   works count: a failure with no effect delivered since the effect first
//!   failed may be the chat being down altogether, and then nothing is
//!   given up. The counts are kept in memory: a restart tries afresh.
//! - [`held`]: one person's invitation is its own queue, so it never holds
//!   up another's; what follows it in the concern's room (the page, the
//!   record) waits for it only until it has failed once.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use super::{Effect, Target};
use crate::store::Pending;

/// Tries before the leads are told an effect keeps failing.
pub const WARN_TRIES: u32 = 3;
/// Tries before an effect that keeps failing is given up.
pub const GIVE_UP_TRIES: u32 = 5;

/// How long an effect that keeps failing is tried: a lead's step (the ack
/// timeout), as someone not invited within it has missed it, but at least
/// half a minute and at most five. The leads hear of it half-way.
pub fn give_up_after(ack_timeout: std::time::Duration) -> Duration {
    let d = ack_timeout.clamp(
        std::time::Duration::from_secs(30),
        std::time::Duration::from_secs(300),
    );
    Duration::from_std(d).unwrap_or(Duration::minutes(5))
}

/// What to do after a failure that may pass.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Try again later.
    Wait,
    /// Try again later, and tell the leads it is still failing (once).
    Warn,
    /// It has failed long enough while the chat works: give it up.
    GiveUp,
}

#[derive(Debug)]
struct Effort {
    /// The first failure counted (moved on while the chat seems down).
    first: DateTime<Utc>,
    count: u32,
    warned: bool,
}

/// The failures of the effects being tried, by outbox sequence number.
#[derive(Debug)]
pub struct Tries {
    efforts: HashMap<u64, Effort>,
    /// When an effect last went through: the chat works.
    last_success: Option<DateTime<Utc>>,
    give_up_after: Duration,
}

impl Tries {
    pub fn new(give_up_after: Duration) -> Self {
        Tries {
            efforts: HashMap::new(),
            last_success: None,
            give_up_after,
        }
    }

    /// An effect went through (or was settled): the chat works.
    pub fn done(&mut self, seq: u64, now: DateTime<Utc>) {
        self.efforts.remove(&seq);
        self.last_success = Some(self.last_success.map_or(now, |s| s.max(now)));
    }

    /// An effect was given up or refused for good.
    pub fn forget(&mut self, seq: u64) {
        self.efforts.remove(&seq);
    }

    /// An effect failed in a way that may pass, at `now`; the chat was
    /// last heard from (a sync) at `last_sync`.
    pub fn failed(&mut self, seq: u64, now: DateTime<Utc>, last_sync: Option<DateTime<Utc>>) -> Verdict {
        let last_success = self.last_success.max(last_sync);
        let e = self.efforts.entry(seq).or_insert(Effort {
            first: now,
            count: 0,
            warned: false,
        });
        if last_success.is_none_or(|s| s < e.first) {
            // Nothing has gone through, and the chat has not been heard
            // from, since this began failing: it may be down altogether.
            // Nothing counts until it is seen up.
            e.first = now;
            e.count = 0;
            return Verdict::Wait;
        }
        e.count += 1;
        let long = now - e.first;
        if e.count >= GIVE_UP_TRIES && long >= self.give_up_after {
            return Verdict::GiveUp;
        }
        if !e.warned && e.count >= WARN_TRIES && long >= self.give_up_after / 2 {
            e.warned = true;
            return Verdict::Warn;
        }
        Verdict::Wait
    }
}

/// Which pending effects must wait this round, by sequence number: an
/// invitation whose room is still to be made; and anything for a room
/// after an invitation to it that has not yet been tried and failed
/// (`failing` holds the queues that have), so the page follows the
/// invitation when it goes, and goes without it when it does not.
pub fn held(pending: &[Pending<Effect>], failing: &HashSet<String>) -> HashSet<u64> {
    let mut making: HashMap<&Target, u64> = HashMap::new();
    let mut inviting: HashMap<&Target, u64> = HashMap::new();
    for p in pending {
        match &p.effect {
            Effect::CreateRoom { target, .. } => {
                making.entry(target).or_insert(p.seq);
            }
            Effect::Invite { target, .. } if !failing.contains(&p.effect.queue()) => {
                inviting.entry(target).or_insert(p.seq);
            }
            _ => {}
        }
    }
    pending
        .iter()
        .filter(|p| match &p.effect {
            Effect::Invite { target, .. } => making.get(target).is_some_and(|s| *s < p.seq),
            Effect::CreateRoom { .. } => false,
            other => other
                .target()
                .is_some_and(|t| inviting.get(t).is_some_and(|s| *s < p.seq)),
        })
        .map(|p| p.seq)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap() + Duration::seconds(s)
    }

    #[test]
    fn an_effect_failing_while_others_go_is_warned_of_then_given_up() {
        let mut tries = Tries::new(Duration::minutes(5));
        tries.done(1, t(0));
        assert_eq!(tries.failed(7, t(1), None), Verdict::Wait);
        tries.done(2, t(2));
        let mut verdicts = Vec::new();
        for s in (30..=400).step_by(30) {
            verdicts.push((s, tries.failed(7, t(s), None)));
        }
        let warn = verdicts
            .iter()
            .position(|(_, v)| *v == Verdict::Warn)
            .expect("warned");
        let give_up = verdicts
            .iter()
            .position(|(_, v)| *v == Verdict::GiveUp)
            .expect("given up");
        assert!(warn < give_up, "{verdicts:?}");
        assert!(verdicts[give_up].0 <= 360, "{verdicts:?}");
        assert_eq!(verdicts.iter().filter(|(_, v)| *v == Verdict::Warn).count(), 1);
    }

    #[test]
    fn nothing_is_given_up_while_nothing_goes_through() {
        let mut tries = Tries::new(Duration::minutes(5));
        tries.done(1, t(0));
        for s in (10..=3600).step_by(10) {
            assert_eq!(tries.failed(7, t(s), None), Verdict::Wait, "at {s}");
            assert_eq!(tries.failed(8, t(s), None), Verdict::Wait, "at {s}");
        }
    }
}
