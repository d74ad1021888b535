//! Pages outside the chat, as the config asks for them: each lead's and
//! deputy's mobile and email, and their rules (which method, after how long
//! without an acknowledgement), the cap on SMS and the quiet hours.
//!
//! ```toml
//! [safeguarding]
//! sms_per_hour = 4               # per person, per concern
//! quiet_hours = "22:00-07:00"    # non-urgent SMS wait until it ends
//!
//! [[safeguarding.contact]]
//! who = "@dsl:example.org"
//! mobile = "+447700900123"
//! email = "dsl@example.org"
//! rules = ["chat", "email", "sms after 2m"]
//! urgent_rules = ["chat", "email", "sms"]
//! ```
//!
//! A rule is `chat`, `email` or `sms`, then `at once` (the same as nothing)
//! or `after` and a length of time. The chat page always goes: `chat` is
//! there to be read, not obeyed. Delays count from that person's own first
//! page for the concern. Without `rules`: email at once and SMS after 2
//! minutes, of what the person has. Without `urgent_rules`: the same rules,
//! all at once.
//!
//! [`check`] reads the raw table into [`OutsideConfig`], naming every
//! problem in words for whoever looks after the config.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::notify::{EmailAddress, Phone};

/// How a person is reached outside the chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Sms,
    Email,
}

impl Method {
    pub fn word(self) -> &'static str {
        match self {
            Method::Sms => "SMS",
            Method::Email => "email",
        }
    }
}

/// One rule: this method, this long after the person's first page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub method: Method,
    pub after: Duration,
}

/// One lead's or deputy's ways to be reached outside the chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// Their chat id, as in `lead` or `deputies`.
    pub who: String,
    pub mobile: Option<Phone>,
    pub email: Option<EmailAddress>,
    /// For a concern that is not urgent.
    pub rules: Vec<Step>,
    /// For an urgent concern.
    pub urgent_rules: Vec<Step>,
}

impl Contact {
    /// The rules for a concern, urgent or not.
    pub fn steps(&self, urgent: bool) -> &[Step] {
        if urgent {
            &self.urgent_rules
        } else {
            &self.rules
        }
    }
}

/// Hours, in the organisation's time, in which a non-urgent SMS waits.
/// `start` after `end` runs over midnight (22:00 to 07:00).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    fn contains(&self, t: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// When the quiet hours around `now` end, if `now` is in them: always
    /// after `now`. A local time that does not exist (a clock change) is
    /// taken at the first instant after it that does.
    pub fn end_after(&self, now: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&tz);
        if !self.contains(local.time()) {
            return None;
        }
        let mut day = local.date_naive();
        if local.time() >= self.end {
            day = day.succ_opt()?;
        }
        let mut at = day.and_time(self.end);
        for _ in 0..4 {
            if let Some(t) = tz.from_local_datetime(&at).earliest() {
                let t = t.with_timezone(&Utc);
                return Some(if t > now {
                    t
                } else {
                    now + chrono::Duration::minutes(1)
                });
            }
            at += chrono::Duration::minutes(30);
        }
        Some(now + chrono::Duration::hours(1))
    }
}

/// Everything about pages outside the chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutsideConfig {
    pub contacts: Vec<Contact>,
    /// The most SMS one person is sent for one concern in any hour.
    pub sms_per_hour: u32,
    pub quiet_hours: Option<QuietHours>,
}

impl Default for OutsideConfig {
    fn default() -> Self {
        OutsideConfig {
            contacts: Vec::new(),
            sms_per_hour: DEFAULT_SMS_PER_HOUR,
            quiet_hours: None,
        }
    }
}

impl OutsideConfig {
    pub fn contact(&self, who: &str) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.who == who)
    }

    /// Whose number this is, if anyone's.
    pub fn by_mobile(&self, phone: &Phone) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.mobile.as_ref() == Some(phone))
    }
}

/// SMS per person per concern per hour when the config does not say.
pub const DEFAULT_SMS_PER_HOUR: u32 = 4;
/// How long the default rules wait before an SMS.
pub const DEFAULT_SMS_AFTER: Duration = Duration::from_secs(120);

/// `[[safeguarding.contact]]` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContact {
    pub who: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub rules: Option<Vec<String>>,
    pub urgent_rules: Option<Vec<String>>,
}

/// Reads one rule; `None` for `chat`, which needs nothing done.
pub fn parse_rule(text: &str) -> Result<Option<Step>, String> {
    let lower = text.trim().to_lowercase();
    let (word, rest) = lower
        .split_once(char::is_whitespace)
        .unwrap_or((lower.as_str(), ""));
    let method = match word {
        "chat" => None,
        "email" | "e-mail" => Some(Method::Email),
        "sms" | "text" => Some(Method::Sms),
        _ => {
            return Err(format!(
                "\"{text}\" is not a rule: start it with chat, email or sms, like \"sms after 2m\""
            ))
        }
    };
    let rest = rest.trim();
    let after = match rest {
        "" | "at once" | "now" => Duration::ZERO,
        _ => {
            let Some(length) = rest.strip_prefix("after") else {
                return Err(format!(
                    "\"{text}\": after the method write \"after\" and how long, like \"sms after 2m\", or nothing to send at once"
                ));
            };
            humantime::parse_duration(length.trim()).map_err(|_| {
                format!(
                    "\"{text}\": \"{}\" is not a length of time; write it like \"2m\" or \"1h\"",
                    length.trim()
                )
            })?
        }
    };
    Ok(method.map(|method| Step { method, after }))
}

/// Reads `"22:00-07:00"`.
pub fn parse_quiet_hours(text: &str) -> Result<QuietHours, String> {
    let bad = || {
        format!("\"{text}\" is not a span of hours; write it like \"22:00-07:00\" (in the organisation's timezone)")
    };
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let time = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| bad());
    let (start, end) = (time(a)?, time(b)?);
    if start == end {
        return Err(format!(
            "\"{text}\" starts and ends at the same time; give two different times, or leave quiet_hours out"
        ));
    }
    Ok(QuietHours { start, end })
}

/// Checks `[[safeguarding.contact]]`, `sms_per_hour` and `quiet_hours`,
/// naming each problem with `problem(key, message)`. `responders` are the
/// lead and deputies.
pub fn check(
    raw: Vec<RawContact>,
    sms_per_hour: Option<u32>,
    quiet_hours: Option<&str>,
    responders: &[&str],
    problem: &mut impl FnMut(&str, String),
) -> OutsideConfig {
    const KEY: &str = "[[safeguarding.contact]]";
    let mut contacts: Vec<Contact> = Vec::new();
    let mut mobiles = BTreeSet::new();
    for c in raw {
        let who = c.who.trim().to_string();
        if !responders.contains(&who.as_str()) {
            problem(KEY, format!("\"{who}\" is not the lead or a deputy; a contact is only for someone named in lead or deputies (check the spelling)"));
        }
        if contacts.iter().any(|k| k.who == who) {
            problem(
                KEY,
                format!("\"{who}\" has two contact entries; put their mobile, email and rules in one"),
            );
        }
        // A number or address given but wrong is said once, not again for
        // every rule that would use it.
        let (has_mobile, has_email) = (c.mobile.is_some(), c.email.is_some());
        let mobile = c.mobile.and_then(|m| {
            Phone::try_from(m.trim().to_string())
                .map_err(|e| problem(KEY, format!("{who}'s mobile: {e}")))
                .ok()
        });
        if let Some(m) = &mobile {
            if !mobiles.insert(m.clone()) {
                problem(KEY, format!("{m} is given for two people; a reply from it could not be told apart, so give each person their own mobile"));
            }
        }
        let email = c.email.and_then(|e| {
            EmailAddress::try_from(e.trim().to_string())
                .map_err(|e| problem(KEY, format!("{who}'s email: {e}")))
                .ok()
        });
        if !has_mobile && !has_email {
            problem(
                KEY,
                format!("\"{who}\" has neither a mobile nor an email; give one, or remove this contact"),
            );
        }
        let has = (has_mobile, has_email);
        let rules = rules_of(c.rules.as_deref(), &who, "rule", has, problem);
        let urgent = rules_of(c.urgent_rules.as_deref(), &who, "urgent rule", has, problem);
        let (rules, urgent_rules) = default_rules(rules, urgent, mobile.is_some(), email.is_some());
        contacts.push(Contact {
            who,
            mobile,
            email,
            rules,
            urgent_rules,
        });
    }
    let sms_per_hour = sms_per_hour.unwrap_or(DEFAULT_SMS_PER_HOUR);
    if sms_per_hour == 0 {
        problem(
            "[safeguarding] sms_per_hour",
            "is 0, so no SMS could ever be sent; give at least 1, or remove the SMS rules".into(),
        );
    }
    let quiet_hours = quiet_hours.and_then(|q| {
        parse_quiet_hours(q)
            .map_err(|e| problem("[safeguarding] quiet_hours", e))
            .ok()
    });
    OutsideConfig {
        contacts,
        sms_per_hour,
        quiet_hours,
    }
}

/// One list of rules, read; each that needs a number or address the
/// person was not given (`has`: mobile, email) is named.
fn rules_of(
    list: Option<&[String]>,
    who: &str,
    which: &str,
    (has_mobile, has_email): (bool, bool),
    problem: &mut impl FnMut(&str, String),
) -> Option<Vec<Step>> {
    const KEY: &str = "[[safeguarding.contact]]";
    let mut steps = Vec::new();
    for text in list? {
        match parse_rule(text) {
            Ok(Some(step)) => {
                let missing = match step.method {
                    Method::Sms if !has_mobile => Some("a mobile (mobile = \"+447700900123\")"),
                    Method::Email if !has_email => Some("an email address (email = \"dsl@example.org\")"),
                    _ => None,
                };
                if let Some(what) = missing {
                    problem(
                        KEY,
                        format!("{who}'s {which} \"{text}\" needs {what}; add it, or remove the rule"),
                    );
                }
                steps.push(step);
            }
            Ok(None) => {}
            Err(e) => problem(KEY, format!("{who}'s {which}: {e}")),
        }
    }
    Some(steps)
}

/// The rules not given: email at once and SMS after two minutes, of what
/// the person has; urgent, everything at once.
fn default_rules(
    rules: Option<Vec<Step>>,
    urgent: Option<Vec<Step>>,
    mobile: bool,
    email: bool,
) -> (Vec<Step>, Vec<Step>) {
    let rules = rules.unwrap_or_else(|| {
        let mut steps = Vec::new();
        if email {
            steps.push(Step {
                method: Method::Email,
                after: Duration::ZERO,
            });
        }
        if mobile {
            steps.push(Step {
                method: Method::Sms,
                after: DEFAULT_SMS_AFTER,
            });
        }
        steps
    });
    let urgent = urgent.unwrap_or_else(|| {
        rules
            .iter()
            .map(|s| Step {
                after: Duration::ZERO,
                ..*s
            })
            .collect()
    });
    (rules, urgent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(who: &str, mobile: Option<&str>, email: Option<&str>, rules: Option<&[&str]>) -> RawContact {
        RawContact {
            who: who.into(),
            mobile: mobile.map(Into::into),
            email: email.map(Into::into),
            rules: rules.map(|r| r.iter().map(|s| s.to_string()).collect()),
            urgent_rules: None,
        }
    }

    fn run(contacts: Vec<RawContact>) -> (OutsideConfig, Vec<String>) {
        let mut problems = Vec::new();
        let config = check(contacts, None, None, &["@dsl:x", "@dep:x"], &mut |k, m| {
            problems.push(format!("{k}: {m}"))
        });
        (config, problems)
    }

    #[test]
    fn rules_read_as_written() {
        assert_eq!(parse_rule("chat"), Ok(None));
        assert_eq!(
            parse_rule(" SMS after 2m "),
            Ok(Some(Step {
                method: Method::Sms,
                after: Duration::from_secs(120)
            }))
        );
        assert_eq!(
            parse_rule("email"),
            Ok(Some(Step {
                method: Method::Email,
                after: Duration::ZERO
            }))
        );
        assert!(parse_rule("pigeon").unwrap_err().contains("chat, email or sms"));
        assert!(parse_rule("sms in 2m").unwrap_err().contains("after"));
        assert!(parse_rule("sms after soon")
            .unwrap_err()
            .contains("not a length of time"));
    }

    #[test]
    fn a_number_and_an_address_alone_get_the_default_rules() {
        let (c, problems) = run(vec![raw(
            "@dsl:x",
            Some("+447700900123"),
            Some("dsl@example.org"),
            None,
        )]);
        assert!(problems.is_empty(), "{problems:?}");
        let dsl = c.contact("@dsl:x").unwrap();
        assert_eq!(
            dsl.rules,
            vec![
                Step {
                    method: Method::Email,
                    after: Duration::ZERO
                },
                Step {
                    method: Method::Sms,
                    after: Duration::from_secs(120)
                }
            ]
        );
        assert!(dsl.urgent_rules.iter().all(|s| s.after == Duration::ZERO));
        assert_eq!(dsl.urgent_rules.len(), 2);
        assert_eq!(c.sms_per_hour, DEFAULT_SMS_PER_HOUR);
    }

    #[test]
    fn every_problem_is_named_with_what_to_do() {
        let (_, problems) = run(vec![
            raw("@someone:x", Some("07700900123"), None, None),
            raw(
                "@dsl:x",
                None,
                Some("dsl@example.org"),
                Some(&["chat", "sms after 2m"]),
            ),
            raw("@dep:x", None, None, Some(&["fax"])),
        ]);
        let all = problems.join("\n");
        assert!(
            all.contains("\"@someone:x\" is not the lead or a deputy"),
            "{all}"
        );
        assert!(
            all.contains("+447700900123"),
            "a bad number says how to write it: {all}"
        );
        assert!(all.contains("\"sms after 2m\" needs a mobile"), "{all}");
        assert!(all.contains("neither a mobile nor an email"), "{all}");
        assert!(all.contains("\"fax\" is not a rule"), "{all}");
    }

    #[test]
    fn one_number_for_two_people_is_refused() {
        let (_, problems) = run(vec![
            raw("@dsl:x", Some("+447700900123"), None, None),
            raw("@dep:x", Some("+447700900123"), None, None),
        ]);
        assert!(problems.iter().any(|p| p.contains("two people")), "{problems:?}");
    }

    const CONFIG: &str = r#"
[matrix]
homeserver_url = "http://127.0.0.1:8008/"
user_id = "@safeguarding:example.org"
password = "secret"
staff_rooms = ["!abc:example.org"]

[safeguarding]
organisation = "Example Charity"
lead = "@dsl:example.org"
deputies = ["@deputy:example.org"]
retention = "6 years"
sms_per_hour = 3
quiet_hours = "22:00-07:00"

[[safeguarding.contact]]
who = "@dsl:example.org"
mobile = "+447700900123"
email = "dsl@example.org"
rules = ["chat", "email", "sms after 2m"]

[[safeguarding.contact]]
who = "@deputy:example.org"
email = "deputy@example.org"

[storage]
data_dir = "/var/lib/safeguarding-bot"

[flow]
file = "conversations/online-safety-referral.toml"
"#;

    #[test]
    fn the_config_takes_contacts_and_check_config_names_what_is_wrong() {
        let c = crate::config::parse(CONFIG, "bot.toml", std::path::Path::new("/"), |_| None).expect("valid");
        let out = &c.safeguarding.outside;
        assert_eq!(out.sms_per_hour, 3);
        assert!(out.quiet_hours.is_some());
        assert_eq!(out.contacts.len(), 2);
        assert_eq!(out.contact("@deputy:example.org").unwrap().rules.len(), 1);
        let bad = CONFIG
            .replace("+447700900123", "07700 900123")
            .replace("@deputy:example.org\"\nemail", "@volunteer:example.org\"\nemail");
        let e = crate::config::parse(&bad, "bot.toml", std::path::Path::new("/"), |_| None).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("bot.toml has 2 problem(s)"), "{text}");
        assert!(
            text.contains("[[safeguarding.contact]]: @dsl:example.org's mobile"),
            "{text}"
        );
        assert!(
            text.contains("\"@volunteer:example.org\" is not the lead or a deputy"),
            "{text}"
        );
    }

    #[test]
    fn quiet_hours_over_midnight_end_the_next_morning() {
        let q = parse_quiet_hours("22:00-07:00").unwrap();
        let tz = chrono_tz::Europe::London;
        let at = |h, m| {
            tz.with_ymd_and_hms(2026, 12, 7, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert_eq!(q.end_after(at(21, 59), tz), None);
        assert_eq!(
            q.end_after(at(23, 0), tz),
            Some(at(7, 0) + chrono::Duration::days(1))
        );
        assert_eq!(q.end_after(at(6, 30), tz), Some(at(7, 0)));
        assert_eq!(q.end_after(at(7, 0), tz), None);
        assert!(parse_quiet_hours("10pm to 7am").is_err());
        assert!(parse_quiet_hours("07:00-07:00").is_err());
    }
}
