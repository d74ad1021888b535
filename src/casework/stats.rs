//! Figures for the policy's annual review: `!stats` and `safeguarding-bot stats`.
//!
//! Counts only, never a word of a concern: the route is the flowchart's
//! title for it, and the outcome is the one chosen from the organisation's
//! list when closing, never what the lead added after it. So the figures
//! can be passed on to trustees as they are.
//! Pure: the concerns are passed in, and the text is the same in chat and
//! in the terminal.
//!
//! What is counted, for the concerns reported (started) on or after `since`:
//!
//! - by risk area: the areas of the latest `!category`, including the areas
//!   of the kinds named; a concern in two areas counts in both. "other" when
//!   only "other" was given, "not categorised" when no category was.
//! - by route: the flowchart outcome reached, or "no outcome reached".
//! - where they stand now (open, referred, monitoring, closed), and the
//!   outcomes of the closed ones as chosen from the list (`!close 3`).
//! - by urgency: paged as urgent (immediate danger) or not.
//! - time to acknowledge, from the first page to the acknowledgement: the
//!   median (for an even number, the mean of the middle two) and the worst;
//!   how many were paged and not acknowledged, and how many never paged.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{CaseStatus, CaseView};

/// The figures for a set of concerns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Concerns reported in the period.
    pub reported: usize,
    pub urgent: usize,
    pub not_urgent: usize,
    /// (area, concerns), most first, then by name.
    pub by_area: Vec<(String, usize)>,
    /// (route title, concerns), most first, then by name.
    pub by_route: Vec<(String, usize)>,
    pub open: usize,
    pub referred: usize,
    pub monitoring: usize,
    pub closed: usize,
    /// (outcome, closed concerns), most first, then by name.
    pub outcomes: Vec<(String, usize)>,
    /// How many were acknowledged.
    pub acknowledged: usize,
    /// Of those, how many by replying to an SMS page (the rest in the chat).
    pub acknowledged_by_sms: usize,
    /// Median time from the first page to the acknowledgement.
    pub ack_median: Option<Duration>,
    /// Longest time from the first page to the acknowledgement.
    pub ack_worst: Option<Duration>,
    /// Paged and not acknowledged (yet).
    pub never_acknowledged: usize,
    /// Never paged at all (no paging was kept for them).
    pub not_paged: usize,
}

pub const NOT_CATEGORISED: &str = "not categorised";
/// A closed concern whose closing chose no outcome from the list (written
/// before outcomes were chosen from one).
pub const NO_OUTCOME: &str = "no outcome chosen";
pub const NO_ROUTE: &str = "no outcome reached";

impl Stats {
    /// The figures for the concerns reported at or after `since` (all of
    /// them with `None`).
    pub fn compute(cases: &[CaseView], since: Option<DateTime<Utc>>) -> Stats {
        let mut s = Stats::default();
        let mut areas: BTreeMap<String, usize> = BTreeMap::new();
        let mut routes: BTreeMap<String, usize> = BTreeMap::new();
        let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
        let mut ack_times: Vec<Duration> = Vec::new();

        for c in cases {
            if since.is_some_and(|since| c.record.started_at < since) {
                continue;
            }
            s.reported += 1;
            if c.record.urgent {
                s.urgent += 1;
            } else {
                s.not_urgent += 1;
            }

            for area in area_names(c) {
                *areas.entry(area).or_default() += 1;
            }
            let route = c.record.route.as_ref().map_or(NO_ROUTE, |r| r.title.as_str());
            *routes.entry(route.to_string()).or_default() += 1;

            match c.status() {
                CaseStatus::Open => s.open += 1,
                CaseStatus::Referred => s.referred += 1,
                CaseStatus::Monitoring => s.monitoring += 1,
                CaseStatus::Closed => {
                    s.closed += 1;
                    let kind = c.casefile.outcome_kind().unwrap_or(NO_OUTCOME);
                    *outcomes.entry(kind.to_string()).or_default() += 1;
                }
            }

            match (c.paged_at(), c.acknowledged()) {
                (Some(paged), Some(ack)) => {
                    ack_times.push((ack.at - paged).max(Duration::zero()));
                    if ack.via == crate::escalation::AckVia::Sms {
                        s.acknowledged_by_sms += 1;
                    }
                }
                (Some(_), None) => s.never_acknowledged += 1,
                (None, _) => s.not_paged += 1,
            }
        }

        s.by_area = most_first(areas);
        s.by_route = most_first(routes);
        s.outcomes = most_first(outcomes);
        s.acknowledged = ack_times.len();
        s.ack_median = median(&mut ack_times);
        s.ack_worst = ack_times.iter().max().copied();
        s
    }

    /// The figures in plain English, a short line each, for chat and the
    /// terminal. Dates are shown in `tz`.
    pub fn to_text(&self, since: Option<DateTime<Utc>>, tz: Tz) -> String {
        let period = match since {
            Some(t) => format!("since {}", t.with_timezone(&tz).format("%-d %B %Y")),
            None => "in all".to_string(),
        };
        if self.reported == 0 {
            return format!("No concerns were reported {period}.");
        }
        let mut out = format!(
            "{} reported {period}: {} urgent, {} not urgent.\n",
            count(self.reported, "concern", "concerns"),
            self.urgent,
            self.not_urgent
        );
        out.push_str(&format!(
            "Where they stand: {} open, {} referred, {} monitoring, {} closed.\n",
            self.open, self.referred, self.monitoring, self.closed
        ));

        out.push_str("\nBy risk area (a concern in two areas counts in both):\n");
        push_counts(&mut out, &self.by_area);
        out.push_str("\nBy route in the flowchart:\n");
        push_counts(&mut out, &self.by_route);
        if !self.outcomes.is_empty() {
            out.push_str("\nOutcomes of the closed concerns:\n");
            push_counts(&mut out, &self.outcomes);
        }

        out.push_str("\nTime to acknowledge, from the first page:\n");
        match (self.ack_median, self.ack_worst) {
            (Some(median), Some(worst)) => out.push_str(&format!(
                "- median {}, worst {} ({} acknowledged)\n",
                span(median),
                span(worst),
                self.acknowledged
            )),
            _ => out.push_str("- none acknowledged\n"),
        }
        if self.acknowledged_by_sms > 0 {
            out.push_str(&format!(
                "- {} in the chat, {} by replying to an SMS page\n",
                self.acknowledged - self.acknowledged_by_sms,
                self.acknowledged_by_sms
            ));
        }
        if self.never_acknowledged > 0 {
            out.push_str(&format!(
                "- {} paged and not acknowledged\n",
                self.never_acknowledged
            ));
        }
        if self.not_paged > 0 {
            out.push_str(&format!("- {} never paged\n", self.not_paged));
        }
        out.truncate(out.trim_end().len());
        out
    }
}

/// The risk areas a concern counts under.
fn area_names(c: &CaseView) -> Vec<String> {
    let Some((areas, kinds)) = c.casefile.category() else {
        return vec![NOT_CATEGORISED.to_string()];
    };
    let set: BTreeSet<_> = areas
        .iter()
        .copied()
        .chain(kinds.iter().filter_map(|k| k.area()))
        .collect();
    if set.is_empty() {
        return vec!["other".to_string()];
    }
    set.into_iter().map(|a| a.label().to_string()).collect()
}

/// Most first; equal counts by name, ignoring case.
fn most_first(counts: impl IntoIterator<Item = (String, usize)>) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| a.0.to_lowercase().cmp(&b.0.to_lowercase()))
            .then_with(|| a.0.cmp(&b.0))
    });
    v
}

/// The middle value; for an even number, the mean of the middle two.
fn median(values: &mut [Duration]) -> Option<Duration> {
    values.sort();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

fn push_counts(out: &mut String, counts: &[(String, usize)]) {
    for (name, n) in counts {
        out.push_str(&format!("- {name}: {n}\n"));
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A length of time in at most two units: "45 seconds", "4 minutes 30
/// seconds", "2 hours 5 minutes", "3 days 1 hour".
pub fn span(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    let unit = |n: i64, name: &str| format!("{n} {name}{}", if n == 1 { "" } else { "s" });
    let two = |big: i64, big_name: &str, small: i64, small_name: &str| {
        if small == 0 {
            unit(big, big_name)
        } else {
            format!("{} {}", unit(big, big_name), unit(small, small_name))
        }
    };
    match secs {
        s if s < 60 => unit(s, "second"),
        s if s < 3600 => two(s / 60, "minute", s % 60, "second"),
        s if s < 48 * 3600 => two(s / 3600, "hour", s % 3600 / 60, "minute"),
        s => two(s / 86_400, "day", s % 86_400 / 3600, "hour"),
    }
}

/// The start of a day given as `2026-04-01`, `1 April 2026`, `1 Apr 2026`,
/// `1st April 2026` or `01/04/2026` (day first, as in the UK), with or
/// without the word "since" in front, at midnight in `tz`. For
/// `!stats since 1 April 2026` and `safeguarding-bot stats --since`.
pub fn parse_since(text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let mut t = text.trim();
    if t.get(..5).is_some_and(|w| w.eq_ignore_ascii_case("since")) {
        t = t[5..].trim_start();
    }
    let date = parse_date(t).ok_or_else(|| {
        format!(
            "\"{}\" is not a date; write it like 2026-04-01 or 1 April 2026",
            text.trim()
        )
    })?;
    // Midnight does not exist on some clock-change days in some timezones:
    // then the day starts at the first moment after the gap.
    let local = date.and_time(NaiveTime::MIN);
    (0..=3)
        .find_map(|h| tz.from_local_datetime(&(local + Duration::hours(h))).earliest())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("the start of {date} cannot be found in {tz}"))
}

fn parse_date(t: &str) -> Option<NaiveDate> {
    if t.is_empty() {
        return None;
    }
    // "1st April 2026": drop the ordinal after the day.
    let unordinal = match t.split_once(' ') {
        Some((day, rest)) => {
            let digits = day.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            let suffix = &day[digits.len()..].to_ascii_lowercase();
            if !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && ["st", "nd", "rd", "th"].contains(&suffix.as_str())
            {
                format!("{digits} {rest}")
            } else {
                t.to_string()
            }
        }
        None => t.to_string(),
    };
    let spaced = unordinal.split_whitespace().collect::<Vec<_>>().join(" ");
    ["%Y-%m-%d", "%d %B %Y", "%d %b %Y", "%d/%m/%Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(&spaced, f).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_the_forms_people_write_them() {
        let london = chrono_tz::Europe::London;
        // April is in British Summer Time: midnight there is 23:00 UTC.
        let april = Utc.with_ymd_and_hms(2026, 3, 31, 23, 0, 0).unwrap();
        for text in [
            "2026-04-01",
            "1 April 2026",
            "since 1 April 2026",
            "Since 2026-04-01",
            "1 april 2026",
            "1 Apr 2026",
            "1st April 2026",
            "01/04/2026",
            "  since   1  April 2026 ",
        ] {
            assert_eq!(parse_since(text, london), Ok(april), "{text}");
        }
        let january = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        assert_eq!(parse_since("5 January 2026", london), Ok(january));

        for bad in [
            "",
            "since",
            "last April",
            "2026-13-01",
            "31 February 2026",
            "April 1 2026",
        ] {
            let err = parse_since(bad, london).unwrap_err();
            assert!(
                err.contains("write it like 2026-04-01 or 1 April 2026"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn spans_in_two_units_at_most() {
        assert_eq!(span(Duration::seconds(45)), "45 seconds");
        assert_eq!(span(Duration::seconds(60)), "1 minute");
        assert_eq!(span(Duration::seconds(270)), "4 minutes 30 seconds");
        assert_eq!(
            span(Duration::seconds(2 * 3600 + 5 * 60 + 9)),
            "2 hours 5 minutes"
        );
        assert_eq!(span(Duration::hours(73)), "3 days 1 hour");
    }

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let mut v = [4, 1, 10, 3].map(Duration::minutes);
        assert_eq!(median(&mut v), Some(Duration::seconds(210)));
        let mut odd = [5, 1, 9].map(Duration::minutes);
        assert_eq!(median(&mut odd), Some(Duration::minutes(5)));
        assert_eq!(median(&mut []), None);
    }
}
