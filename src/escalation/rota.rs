//! The rota: who is away, and which deputy covers for the lead.
//!
//! Leads and deputies change it with chat commands, parsed here into a
//! [`RotaCommand`] and applied with [`Rota::apply`]:
//!
//! - `!away`: away until `!back`.
//! - `!away until <date and time>`: `2026-11-30 09:00`, `30/11/2026 09:00`,
//!   `tomorrow 9am`, `today 17:30`, or a time alone such as `17:30` (its
//!   next occurrence). Times are in the organisation's timezone.
//! - `!away for <duration>`: `2h`, `90m`, `3 days`, `1 week`.
//! - `!back`: on duty again; a cover for the lead ends when the lead is back.
//! - `!cover` (optionally `until ...` or `for ...`): a deputy stands in for
//!   the lead, and is paged at the lead's step, until the lead is back.
//!   `!cover off` ends it.
//! - `!rota`: who is on duty now.
//!
//! Times are kept in UTC and shown in the organisation's timezone with its
//! abbreviation (GMT or BST), so a time near a clock change reads right.
//! Everything here is pure: the time is passed in.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::policy::Policy;

/// Who is away and who covers, as kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rota {
    /// Leads and deputies marked away, by user id.
    #[serde(default)]
    pub away: BTreeMap<String, Away>,
    /// A deputy standing in for the lead.
    #[serde(default)]
    pub cover: Option<Cover>,
}

/// Someone away: until a time (UTC), or until they send `!back`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Away {
    pub until: Option<DateTime<Utc>>,
}

/// A deputy standing in for the lead: until a time (UTC), or until the
/// lead sends `!back` or the deputy sends `!cover off`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cover {
    pub deputy: String,
    pub for_lead: String,
    pub until: Option<DateTime<Utc>>,
}

/// A time the user gave, in UTC, with a note if it fell in a clock change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Until {
    pub at: DateTime<Utc>,
    /// Says how a local time that does not exist, or happens twice, at a
    /// clock change was taken. Worth repeating to the user.
    pub note: Option<String>,
}

/// A rota command, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RotaCommand {
    /// `!away`, `!away until ...`, `!away for ...`.
    Away { until: Option<Until> },
    /// `!back`.
    Back,
    /// `!cover`, `!cover until ...`, `!cover for ...`.
    Cover { until: Option<Until> },
    /// `!cover off`.
    EndCover,
    /// `!rota`.
    Show,
}

/// Why a rota command was not understood or not allowed, in plain English.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RotaError(pub String);

const AWAY_FORMS: &str = "Write !away on its own (until you send !back), !away until 30/11/2026 09:00 \
    (or 2026-11-30 09:00, tomorrow 9am, today 17:30), or !away for 3 days (or 2h, 90m, 1 week). \
    Times are in the organisation's timezone.";
const COVER_FORMS: &str = "Write !cover on its own (until the lead is back), !cover until 30/11/2026 09:00 \
    (or 2026-11-30 09:00, tomorrow 9am), !cover for 2 days, or !cover off to stop covering. \
    Times are in the organisation's timezone.";

/// Parses a rota command. `None` if `text` is not one (so the transport can
/// treat it as something else); an error, saying the accepted forms, if it
/// is one but cannot be understood. `now` and `tz` give relative and local
/// times their meaning.
pub fn parse_command(text: &str, tz: Tz, now: DateTime<Utc>) -> Option<Result<RotaCommand, RotaError>> {
    let text = text.trim();
    let (word, rest) = match text.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (text, ""),
    };
    let word = word.to_lowercase();
    let rest_lower = rest.to_lowercase();
    Some(match word.as_str() {
        "!away" => parse_until(&rest_lower, tz, now, AWAY_FORMS).map(|until| RotaCommand::Away { until }),
        "!back" => Ok(RotaCommand::Back),
        "!rota" => Ok(RotaCommand::Show),
        "!cover" => match rest_lower.as_str() {
            "off" | "end" | "stop" | "over" => Ok(RotaCommand::EndCover),
            _ => parse_until(&rest_lower, tz, now, COVER_FORMS).map(|until| RotaCommand::Cover { until }),
        },
        _ => return None,
    })
}

/// `""`, `until <when>` or `for <duration>`.
fn parse_until(rest: &str, tz: Tz, now: DateTime<Utc>, forms: &str) -> Result<Option<Until>, RotaError> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(None);
    }
    if let Some(when) = rest.strip_prefix("until ").or_else(|| rest.strip_prefix("till ")) {
        return parse_when(when, tz, now)
            .map(Some)
            .map_err(|why| RotaError(format!("{why} {forms}")));
    }
    if let Some(length) = rest.strip_prefix("for ") {
        let length = length.trim();
        let d = humantime::parse_duration(length)
            .ok()
            .and_then(|d| Duration::from_std(d).ok())
            .filter(|d| *d >= Duration::minutes(1) && *d <= Duration::days(366))
            .ok_or_else(|| {
                RotaError(format!(
                    "\"{length}\" is not a length of time between a minute and a year. {forms}"
                ))
            })?;
        return Ok(Some(Until {
            at: now + d,
            note: None,
        }));
    }
    Err(RotaError(format!("I did not understand \"{rest}\". {forms}")))
}

/// A date and time in `tz`, in any of the accepted forms, as UTC. It must
/// be after `now`.
///
/// Forms: `2026-11-30 09:00` (or `2026-11-30T09:00`), `30/11/2026 09:00`,
/// `today <time>`, `tomorrow <time>` (an `at` between is fine), or a time
/// alone, taken as its next occurrence. A time is `09:00`, `9:00`, `9am`,
/// `9.30pm` or `12pm` (noon).
///
/// At a clock change, see [`resolve_local`].
pub fn parse_when(text: &str, tz: Tz, now: DateTime<Utc>) -> Result<Until, String> {
    let text = text.trim().to_lowercase();
    let words: Vec<&str> = text.split_whitespace().collect();
    let (first, rest) = match words.split_first() {
        Some((f, r)) => (*f, r),
        None => return Err("No date or time was given.".to_string()),
    };
    let rest: Vec<&str> = rest.iter().copied().filter(|w| *w != "at").collect();
    let today = now.with_timezone(&tz).date_naive();
    let bad = || format!("\"{text}\" is not a date and time I understand.");

    let (date, time_words): (Option<NaiveDate>, Vec<&str>) = if first == "today" {
        (Some(today), rest)
    } else if first == "tomorrow" {
        (today.succ_opt(), rest)
    } else if let Some((d, t)) = first.split_once('t').filter(|(d, _)| d.len() == 10) {
        // 2026-11-30T09:00
        let d = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad())?;
        let mut tw = vec![t];
        tw.extend(rest);
        (Some(d), tw)
    } else if let Some(d) = parse_date(first) {
        (Some(d), rest)
    } else {
        (None, words)
    };
    if time_words.is_empty() {
        return Err(format!(
            "\"{text}\" has no time of day: add one, like 09:00 or 9am."
        ));
    }
    let time = parse_time(&time_words.concat()).ok_or_else(bad)?;
    let until = match date {
        Some(date) => resolve_local(date.and_time(time), tz),
        None => {
            // A time alone: today's, or tomorrow's if today's has passed.
            let u = resolve_local(today.and_time(time), tz);
            if u.at > now {
                u
            } else {
                resolve_local(today.succ_opt().ok_or_else(bad)?.and_time(time), tz)
            }
        }
    };
    if until.at <= now {
        return Err(format!(
            "{} has already passed (it is {} now).",
            local_time(until.at, tz),
            local_time(now, tz)
        ));
    }
    Ok(until)
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    ["%Y-%m-%d", "%d/%m/%Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
}

/// `09:00`, `9:00`, `9am`, `9:30am`, `9.30pm`, `12am` (midnight), `12pm` (noon).
fn parse_time(s: &str) -> Option<NaiveTime> {
    let (clock, pm) = if let Some(c) = s.strip_suffix("am") {
        (c, Some(false))
    } else if let Some(c) = s.strip_suffix("pm") {
        (c, Some(true))
    } else {
        (s, None)
    };
    let (h, m) = match clock.split_once([':', '.']) {
        Some((h, m)) if m.len() == 2 => (h, m),
        Some(_) => return None,
        None if pm.is_some() => (clock, "00"),
        None => return None,
    };
    if h.is_empty()
        || h.len() > 2
        || !h.bytes().all(|b| b.is_ascii_digit())
        || !m.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (mut h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if let Some(pm) = pm {
        if !(1..=12).contains(&h) {
            return None;
        }
        h = match (h, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (h, true) => h + 12,
            (h, false) => h,
        };
    }
    NaiveTime::from_hms_opt(h, m, 0)
}

/// A local date and time in `tz` as a UTC instant, handling clock changes
/// explicitly, and always towards the earlier instant, so that an away
/// period ends (and the person is paged again) no later than they meant:
///
/// - A time that does not exist (skipped when the clocks go forward, such
///   as 01:30 on 29 March 2026 in Europe/London) is taken as the moment the
///   clocks change, the first time that does exist after it (02:00 BST).
/// - A time that happens twice (when the clocks go back, such as 01:30 on
///   25 October 2026 in Europe/London) is taken as the first of the two
///   (01:30 BST, not 01:30 GMT).
///
/// Either way the [`Until`] carries a note saying so.
pub fn resolve_local(naive: NaiveDateTime, tz: Tz) -> Until {
    let shown = naive.format("%H:%M on %-d %B %Y");
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Until {
            at: t.with_timezone(&Utc),
            note: None,
        },
        LocalResult::Ambiguous(a, b) => {
            let at = a.with_timezone(&Utc).min(b.with_timezone(&Utc));
            Until {
                at,
                note: Some(format!(
                    "{shown} happens twice in {tz} because the clocks go back; I have taken the first, {}.",
                    local_time(at, tz)
                )),
            }
        }
        LocalResult::None => {
            // The first minute after the gap. Gaps are at most a few hours.
            let at = (1..=24 * 60)
                .find_map(
                    |m| match tz.from_local_datetime(&(naive + Duration::minutes(m))) {
                        LocalResult::None => None,
                        r => r.earliest(),
                    },
                )
                .map(|t| t.with_timezone(&Utc))
                // Unreachable for real timezones; fall back to reading it as UTC.
                .unwrap_or_else(|| naive.and_utc());
            Until {
                at,
                note: Some(format!(
                    "{shown} does not exist in {tz} because the clocks go forward; I have taken {}, when they change.",
                    local_time(at, tz)
                )),
            }
        }
    }
}

/// A UTC instant as the organisation reads it, with the zone's
/// abbreviation: `09:00 GMT on Monday 30 November 2026`.
pub fn local_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%H:%M %Z on %A %-d %B %Y")
        .to_string()
}

impl Rota {
    /// Whether `user` is away at `now`.
    pub fn is_away(&self, user: &str, now: DateTime<Utc>) -> bool {
        self.away
            .get(user)
            .is_some_and(|a| a.until.is_none_or(|until| now < until))
    }

    /// The cover in force at `now` for the policy's lead, if any: not
    /// expired, by one of the policy's deputies.
    pub fn active_cover(&self, policy: &Policy, now: DateTime<Utc>) -> Option<&Cover> {
        self.cover.as_ref().filter(|c| {
            c.for_lead == policy.lead
                && policy.deputies.contains(&c.deputy)
                && c.until.is_none_or(|until| now < until)
        })
    }

    /// Who takes the lead's step at `now`: the covering deputy if they are
    /// not away, otherwise the lead if not away, otherwise nobody.
    pub fn lead_duty(&self, policy: &Policy, now: DateTime<Utc>) -> Option<String> {
        if let Some(c) = self.active_cover(policy, now) {
            if !self.is_away(&c.deputy, now) {
                return Some(c.deputy.clone());
            }
        }
        (!self.is_away(&policy.lead, now)).then(|| policy.lead.clone())
    }

    /// Who is on duty at `now`, in the order a new concern pages them: the
    /// lead's step first (the lead, or the deputy covering), then the
    /// deputies who are not away. While a deputy covers, the lead is not on
    /// duty.
    pub fn on_duty(&self, policy: &Policy, now: DateTime<Utc>) -> Vec<String> {
        let first = self.lead_duty(policy, now);
        first
            .iter()
            .cloned()
            .chain(
                policy
                    .deputies
                    .iter()
                    .filter(|d| !self.is_away(d, now) && first.as_ref() != Some(*d))
                    .cloned(),
            )
            .collect()
    }

    /// The rota without what has run out by `now`.
    pub fn pruned(&self, now: DateTime<Utc>) -> Rota {
        let mut r = self.clone();
        r.away.retain(|_, a| a.until.is_none_or(|u| now < u));
        if r.cover
            .as_ref()
            .is_some_and(|c| c.until.is_some_and(|u| now >= u))
        {
            r.cover = None;
        }
        r
    }

    /// Applies `cmd` sent by `who`: the new rota and the reply, in plain
    /// English with times in `tz`. Only the lead and deputies may change
    /// the rota; anyone the transport lets in may see it.
    ///
    /// - `!away` ends a cover by `who`.
    /// - `!back` by the lead ends the cover for them.
    /// - `!cover` is for deputies; it marks them back, and without its own
    ///   end it lasts until the lead's `!away until` time if they gave one,
    ///   otherwise until the lead sends `!back`.
    pub fn apply(
        &self,
        who: &str,
        cmd: &RotaCommand,
        policy: &Policy,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<(Rota, String), RotaError> {
        let mut r = self.pruned(now);
        let is_lead = who == policy.lead;
        let is_deputy = policy.deputies.iter().any(|d| d == who);
        let note = |u: &Option<Until>| u.as_ref().and_then(|u| u.note.clone()).map(|n| format!(" ({n})"));
        if !matches!(cmd, RotaCommand::Show) && !is_lead && !is_deputy {
            return Err(RotaError(
                "Only the Lead or a Deputy for Safeguarding can change the rota. Nothing has changed.".into(),
            ));
        }
        let mut reply = String::new();
        match cmd {
            RotaCommand::Show => return Ok((r.clone(), r.render(policy, tz, now))),
            RotaCommand::Away { until } => {
                r.away.insert(
                    who.to_string(),
                    Away {
                        until: until.as_ref().map(|u| u.at),
                    },
                );
                match until {
                    Some(u) => write!(reply, "You are marked away until {}", local_time(u.at, tz)),
                    None => write!(reply, "You are marked away until you send !back"),
                }
                .ok();
                reply.push_str(&note(until).unwrap_or_default());
                reply.push('.');
                if r.cover.as_ref().is_some_and(|c| c.deputy == who) {
                    r.cover = None;
                    reply.push_str(" Your cover for the lead has ended.");
                }
                if is_lead {
                    if let Some(u) = until {
                        if let Some(c) = r.cover.as_mut().filter(|c| c.until.is_none()) {
                            c.until = Some(u.at);
                        }
                    }
                }
            }
            RotaCommand::Back => {
                let was_away = r.away.remove(who).is_some();
                reply.push_str(if was_away {
                    "Welcome back: you are on duty again."
                } else {
                    "You were not marked away: you are on duty."
                });
                if is_lead {
                    if let Some(c) = r.cover.take() {
                        write!(reply, " {}'s cover for you has ended.", c.deputy).ok();
                    }
                }
            }
            RotaCommand::Cover { until } => {
                if !is_deputy {
                    return Err(RotaError(
                        "Only a Deputy for Safeguarding can cover for the lead. Nothing has changed.".into(),
                    ));
                }
                r.away.remove(who);
                let lead_back = r.away.get(&policy.lead).and_then(|a| a.until);
                let end = until.as_ref().map(|u| u.at).or(lead_back);
                r.cover = Some(Cover {
                    deputy: who.to_string(),
                    for_lead: policy.lead.clone(),
                    until: end,
                });
                write!(reply, "You are covering for the lead, {}, ", policy.lead).ok();
                match (until, end) {
                    (Some(u), _) => write!(reply, "until {}", local_time(u.at, tz)),
                    (None, Some(e)) => write!(reply, "until {}, when they are back", local_time(e, tz)),
                    (None, None) => write!(reply, "until they send !back"),
                }
                .ok();
                reply.push_str(&note(until).unwrap_or_default());
                reply.push_str(". New concerns will page you first. Send !cover off to stop.");
            }
            RotaCommand::EndCover => match &r.cover {
                Some(c) if c.deputy == who || is_lead => {
                    write!(reply, "{}'s cover for the lead has ended.", c.deputy).ok();
                    r.cover = None;
                }
                _ => {
                    return Err(RotaError(
                        "You are not covering for the lead. Nothing has changed.".into(),
                    ))
                }
            },
        }
        let on = r.on_duty(policy, now);
        match on.first() {
            Some(first) => write!(reply, " A new concern now pages {first} first.").ok(),
            None => write!(
                reply,
                " Nobody is on duty now: a new concern will page every lead and deputy anyway."
            )
            .ok(),
        };
        Ok((r, reply))
    }

    /// The rota for `!rota`, in plain English with times in `tz`.
    pub fn render(&self, policy: &Policy, tz: Tz, now: DateTime<Utc>) -> String {
        let r = self.pruned(now);
        let mut out = format!("The rota at {} ({tz} time):\n", local_time(now, tz));
        let status = |who: &str| match r.away.get(who) {
            Some(Away { until: Some(u) }) => format!("away until {}", local_time(*u, tz)),
            Some(Away { until: None }) => "away until they send !back".to_string(),
            None => "on duty".to_string(),
        };
        let cover = r.active_cover(policy, now);
        let lead_status = match cover {
            Some(_) if !r.is_away(&policy.lead, now) => "covered".to_string(),
            _ => status(&policy.lead),
        };
        writeln!(out, "- Lead: {}, {lead_status}.", policy.lead).ok();
        if let Some(c) = cover {
            let until = match c.until {
                Some(u) => format!("until {}", local_time(u, tz)),
                None => "until the lead is back".to_string(),
            };
            writeln!(out, "- {} is covering for the lead {until}.", c.deputy).ok();
        }
        if policy.deputies.is_empty() {
            writeln!(out, "- There are no deputies.").ok();
        }
        for d in &policy.deputies {
            writeln!(out, "- Deputy: {d}, {}.", status(d)).ok();
        }
        let on = r.on_duty(policy, now);
        match on.split_first() {
            None => out.push_str(
                "Nobody is on duty: a new concern will page every lead and deputy anyway, \
                 and tell the reporter to act if nobody answers.",
            ),
            Some((first, [])) => write!(out, "A new concern pages {first}.").unwrap_or(()),
            Some((first, rest)) => write!(
                out,
                "A new concern pages {first} first, then {}.",
                rest.join(", then ")
            )
            .unwrap_or(()),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::London;

    fn now() -> DateTime<Utc> {
        // 10:00 GMT, Monday 23 November 2026.
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
    }

    fn until(text: &str) -> Result<Until, String> {
        parse_when(text, London, now())
    }

    #[test]
    fn time_forms() {
        for (s, h, m) in [
            ("09:00", 9, 0),
            ("9:05", 9, 5),
            ("9am", 9, 0),
            ("9:30pm", 21, 30),
            ("9.30pm", 21, 30),
            ("12am", 0, 0),
            ("12pm", 12, 0),
            ("23:59", 23, 59),
        ] {
            assert_eq!(parse_time(s), NaiveTime::from_hms_opt(h, m, 0), "{s}");
        }
        for s in ["9", "25:00", "13pm", "0am", "9:5", "nine", ""] {
            assert_eq!(parse_time(s), None, "{s}");
        }
    }

    #[test]
    fn a_time_alone_is_its_next_occurrence() {
        assert_eq!(
            until("17:00").unwrap().at,
            Utc.with_ymd_and_hms(2026, 11, 23, 17, 0, 0).unwrap()
        );
        assert_eq!(
            until("9am").unwrap().at,
            Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
        );
    }

    #[test]
    fn gap_and_overlap_take_the_earlier_instant() {
        let gap = resolve_local(
            NaiveDate::from_ymd_opt(2026, 3, 29)
                .unwrap()
                .and_hms_opt(1, 30, 0)
                .unwrap(),
            London,
        );
        assert_eq!(gap.at, Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap());
        assert!(gap.note.unwrap().contains("02:00 BST"));
        let twice = resolve_local(
            NaiveDate::from_ymd_opt(2026, 10, 25)
                .unwrap()
                .and_hms_opt(1, 30, 0)
                .unwrap(),
            London,
        );
        assert_eq!(twice.at, Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap());
        assert!(twice.note.unwrap().contains("01:30 BST"));
    }
}
