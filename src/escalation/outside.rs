//! Pages outside the chat for one concern: which SMS and emails are due
//! now, and when to look again. Pure: the time and everything else come in.
//!
//! Each person paged in the chat for a concern gets an [`Person`] here,
//! with the time of their first page and their reply code. Their rules
//! ([`super::contacts::Contact::steps`]) count from that time. A step that
//! comes due is decided once: sent, or passed over with the reason (away,
//! the method failed for good, they replied STOP, no gateway, no address).
//! A step passed over because its method cannot reach them, or a method
//! that failed for good ([`Outside::failed`]), brings their next step by
//! another method forward to now. An SMS waits, rather than being passed
//! over, in quiet hours (not for an urgent concern) and while the person
//! has had `sms_per_hour` SMS for this concern in the last hour.
//!
//! Once the concern is acknowledged or closed, every step left is passed
//! over, once, as cancelled, and nothing more is due.
//!
//! The next deadline is always after `now`, so a timer set for it never
//! fires in a loop.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::contacts::{Contact, Method, OutsideConfig, Step};
use crate::notify::Phone;

/// One person's pages outside the chat for one concern, as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Their first page for this concern: their rules count from here.
    pub since: DateTime<Utc>,
    /// Their reply code for this concern (4 digits).
    pub code: String,
    /// Steps decided: sent, or passed over.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub done: BTreeSet<usize>,
    /// Steps brought forward to now: the method before them failed.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub hurried: BTreeSet<usize>,
    /// Methods that failed for good for this concern.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub failed: BTreeSet<Method>,
    /// When each SMS was sent, for the cap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sms_at: Vec<DateTime<Utc>>,
}

/// A concern's pages outside the chat, kept with its escalation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outside {
    /// By chat id.
    #[serde(default)]
    pub people: BTreeMap<String, Person>,
    /// When a step next comes due (or a held SMS may go).
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
}

/// Why a step was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passed {
    Away,
    /// The method failed for good for this concern already.
    Failed,
    /// They replied STOP to the bot's number.
    Stopped,
    /// No gateway or mail server is configured.
    NoGateway,
    /// The config no longer gives them a number or address for it.
    NoAddress,
    /// Acknowledged or closed before it came due.
    Cancelled,
}

impl Passed {
    /// In words, for the audit log.
    pub fn why(self) -> &'static str {
        match self {
            Passed::Away => "away",
            Passed::Failed => "it failed before",
            Passed::Stopped => "they replied STOP",
            Passed::NoGateway => "not configured",
            Passed::NoAddress => "no number or address",
            Passed::Cancelled => "acknowledged or closed",
        }
    }

    /// Whether the person was not reached by it and the next method
    /// should be tried at once.
    fn unreachable(self) -> bool {
        matches!(
            self,
            Passed::Failed | Passed::Stopped | Passed::NoGateway | Passed::NoAddress
        )
    }
}

/// A step decided: send it, or passed over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub who: String,
    pub step: usize,
    pub method: Method,
    /// Their reply code.
    pub code: String,
}

impl Outside {
    pub fn is_empty(&self) -> bool {
        self.people.is_empty() && self.deadline.is_none()
    }

    /// Whose reply code `code` is for this concern: `who`'s, or nobody's.
    pub fn code_of(&self, who: &str) -> Option<&str> {
        self.people.get(who).map(|p| p.code.as_str())
    }
}

/// What is true now, besides the kept state.
pub struct Situation<'a> {
    pub config: &'a OutsideConfig,
    pub urgent: bool,
    /// Acknowledged or closed.
    pub over: bool,
    /// Away per the rota now.
    pub away: &'a BTreeSet<String>,
    /// Numbers that replied STOP.
    pub stopped: &'a BTreeSet<Phone>,
    pub can_sms: bool,
    pub can_email: bool,
    /// The chat has been out of reach for longer than allowed: every step
    /// is due at once, without waiting for the chat to be answered.
    pub chat_down: bool,
    pub tz: chrono_tz::Tz,
    pub now: DateTime<Utc>,
}

/// What [`decide`] comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub send: Vec<Notice>,
    pub passed: Vec<(Notice, Passed)>,
    pub state: Outside,
}

impl Decision {
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.state.deadline
    }
}

/// Whether the step could go by its method now, or why not.
fn reachable(step: &Step, contact: &Contact, person: &Person, sit: &Situation) -> Result<(), Passed> {
    if person.failed.contains(&step.method) {
        return Err(Passed::Failed);
    }
    match step.method {
        Method::Sms => match &contact.mobile {
            None => Err(Passed::NoAddress),
            Some(m) if sit.stopped.contains(m) => Err(Passed::Stopped),
            Some(_) if !sit.can_sms => Err(Passed::NoGateway),
            Some(_) => Ok(()),
        },
        Method::Email => match &contact.email {
            None => Err(Passed::NoAddress),
            Some(_) if !sit.can_email => Err(Passed::NoGateway),
            Some(_) => Ok(()),
        },
    }
}

/// When an SMS due now must wait until (quiet hours, the cap), if it must.
fn held_until(person: &Person, sit: &Situation) -> Option<DateTime<Utc>> {
    let now = sit.now;
    if !sit.urgent {
        if let Some(end) = sit.config.quiet_hours.and_then(|q| q.end_after(now, sit.tz)) {
            return Some(end);
        }
    }
    let hour = chrono::Duration::hours(1);
    let recent: Vec<_> = person.sms_at.iter().filter(|t| **t > now - hour).collect();
    let cap = sit.config.sms_per_hour.max(1) as usize;
    if recent.len() >= cap {
        // The oldest in the window leaves it at this instant, after now.
        let oldest = recent.iter().min().map(|t| **t + hour)?;
        return Some(oldest.max(now + chrono::Duration::seconds(1)));
    }
    None
}

/// Brings forward the first step after `from`, not decided, by a method
/// other than `method`.
fn hurry_next(person: &mut Person, steps: &[Step], from: usize, method: Method) {
    let next = (from + 1..steps.len()).find(|j| {
        !person.done.contains(j) && steps[*j].method != method && !person.failed.contains(&steps[*j].method)
    });
    if let Some(j) = next {
        person.hurried.insert(j);
    }
}

/// Which steps are due now for everyone in `state`, and when to look again.
pub fn decide(state: &Outside, sit: &Situation) -> Decision {
    let mut next = state.clone();
    let mut send = Vec::new();
    let mut passed = Vec::new();
    let mut deadline: Option<DateTime<Utc>> = None;
    let mut later = |at: DateTime<Utc>| deadline = Some(deadline.map_or(at, |d| d.min(at)));
    for (who, person) in next.people.iter_mut() {
        let Some(contact) = sit.config.contact(who) else {
            continue;
        };
        let steps = contact.steps(sit.urgent);
        for (i, step) in steps.iter().enumerate() {
            if person.done.contains(&i) {
                continue;
            }
            let notice = Notice {
                who: who.clone(),
                step: i,
                method: step.method,
                code: person.code.clone(),
            };
            if sit.over {
                person.done.insert(i);
                passed.push((notice, Passed::Cancelled));
                continue;
            }
            let due = if person.hurried.contains(&i) || sit.chat_down {
                person.since
            } else {
                person.since + chrono::Duration::from_std(step.after).unwrap_or(chrono::Duration::MAX)
            };
            if due > sit.now {
                later(due);
                continue;
            }
            let why = if sit.away.contains(who) {
                Err(Passed::Away)
            } else {
                reachable(step, contact, person, sit)
            };
            if let Err(why) = why {
                person.done.insert(i);
                if why.unreachable() {
                    hurry_next(person, steps, i, step.method);
                }
                passed.push((notice, why));
                continue;
            }
            if step.method == Method::Sms {
                if let Some(until) = held_until(person, sit) {
                    later(until);
                    continue;
                }
                person.sms_at.push(sit.now);
            }
            person.done.insert(i);
            send.push(notice);
        }
    }
    next.deadline = deadline;
    Decision {
        send,
        passed,
        state: next,
    }
}

/// A step's method failed for good (refused, or the gateway said `failed`
/// or `undelivered`): that method is not tried again for this concern,
/// and the next step by another method is brought forward to now. Call
/// [`decide`] after it.
pub fn failed(state: &Outside, config: &OutsideConfig, urgent: bool, who: &str, step: usize) -> Outside {
    let mut next = state.clone();
    let (Some(person), Some(contact)) = (next.people.get_mut(who), config.contact(who)) else {
        return next;
    };
    let steps = contact.steps(urgent);
    let Some(method) = steps.get(step).map(|s| s.method) else {
        return next;
    };
    // Told twice (a status seen again, a retry after a crash): once.
    if person.failed.insert(method) {
        hurry_next(person, steps, step, method);
    }
    next
}

/// A new reply code: 4 digits from `seed`, none of `taken`.
pub fn new_code(seed: u64, taken: &BTreeSet<String>) -> String {
    let start = seed % 10_000;
    (0..10_000u64)
        .map(|k| format!("{:04}", (start + k * 7_919) % 10_000))
        .find(|c| !taken.contains(c))
        .unwrap_or_else(|| format!("{start:04}"))
}

/// What an SMS sent to the bot's number says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A reply code (`4821`, `ack 4821`).
    Code(String),
    /// STOP, or one of the words gateways take for it.
    Stop,
    /// START: SMS may go to them again.
    Start,
    Other,
}

/// Reads a reply, forgiving case, spaces and a full stop.
pub fn parse_reply(body: &str) -> Reply {
    let text: String = body
        .trim()
        .trim_end_matches(['.', '!'])
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match text.as_str() {
        "stop" | "stopall" | "unsubscribe" | "cancel" | "end" | "quit" => return Reply::Stop,
        "start" | "unstop" | "yes" => return Reply::Start,
        _ => {}
    }
    let code = text
        .strip_prefix("acknowledge")
        .or_else(|| text.strip_prefix("ack"))
        .unwrap_or(&text)
        .trim_start_matches([' ', ':'])
        .trim();
    if code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()) {
        Reply::Code(code.to_string())
    } else {
        Reply::Other
    }
}

#[cfg(test)]
#[path = "outside_tests.rs"]
mod tests;
