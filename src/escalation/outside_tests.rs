use super::*;
use crate::escalation::contacts::{QuietHours, Step};
use chrono::{NaiveTime, TimeZone};
use proptest::prelude::*;
use std::time::Duration;

const DSL: &str = "@dsl:x";

fn t0() -> DateTime<Utc> {
    // 10:00 in London, in winter.
    Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap()
}

fn mins(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

fn step(method: Method, after_mins: u64) -> Step {
    Step {
        method,
        after: Duration::from_secs(after_mins * 60),
    }
}

fn config(rules: Vec<Step>) -> OutsideConfig {
    OutsideConfig {
        contacts: vec![Contact {
            who: DSL.into(),
            mobile: Some(Phone::try_from("+447700900123".to_string()).unwrap()),
            email: Some(crate::notify::EmailAddress::try_from("dsl@example.org".to_string()).unwrap()),
            urgent_rules: rules
                .iter()
                .map(|s| Step {
                    after: Duration::ZERO,
                    ..*s
                })
                .collect(),
            rules,
        }],
        sms_per_hour: 4,
        quiet_hours: None,
    }
}

fn default_rules() -> Vec<Step> {
    vec![step(Method::Email, 0), step(Method::Sms, 2)]
}

fn paged() -> Outside {
    let mut o = Outside::default();
    o.people.insert(
        DSL.into(),
        Person {
            since: t0(),
            code: "4821".into(),
            done: BTreeSet::new(),
            hurried: BTreeSet::new(),
            failed: BTreeSet::new(),
            sms_at: Vec::new(),
        },
    );
    o
}

struct Env {
    config: OutsideConfig,
    urgent: bool,
    over: bool,
    away: BTreeSet<String>,
    stopped: BTreeSet<Phone>,
    can_sms: bool,
    chat_down: bool,
}

impl Env {
    fn new(rules: Vec<Step>) -> Env {
        Env {
            config: config(rules),
            urgent: false,
            over: false,
            away: BTreeSet::new(),
            stopped: BTreeSet::new(),
            can_sms: true,
            chat_down: false,
        }
    }

    fn at(&self, state: &Outside, now: DateTime<Utc>) -> Decision {
        decide(
            state,
            &Situation {
                config: &self.config,
                urgent: self.urgent,
                over: self.over,
                away: &self.away,
                stopped: &self.stopped,
                can_sms: self.can_sms,
                can_email: true,
                chat_down: self.chat_down,
                tz: chrono_tz::Europe::London,
                now,
            },
        )
    }
}

fn methods(d: &Decision) -> Vec<Method> {
    d.send.iter().map(|n| n.method).collect()
}

#[test]
fn email_at_once_then_sms_after_two_minutes_then_nothing() {
    let env = Env::new(default_rules());
    let d = env.at(&paged(), t0());
    assert_eq!(methods(&d), vec![Method::Email]);
    assert_eq!(d.send[0].code, "4821");
    assert_eq!(d.next_deadline(), Some(t0() + mins(2)));
    let early = env.at(&d.state, t0() + mins(1));
    assert!(early.send.is_empty());
    assert_eq!(early.state, d.state, "nothing changes before it is due");
    let d = env.at(&d.state, t0() + mins(2));
    assert_eq!(methods(&d), vec![Method::Sms]);
    assert_eq!(d.next_deadline(), None);
    assert!(env.at(&d.state, t0() + mins(60)).send.is_empty());
}

#[test]
fn while_the_chat_is_down_every_step_left_goes_at_once() {
    let mut env = Env::new(default_rules());
    let d = env.at(&paged(), t0());
    assert_eq!(methods(&d), vec![Method::Email]);
    // A minute later the chat is reported out of reach: the SMS, due at
    // two minutes, goes now; the email already sent is not sent again.
    env.chat_down = true;
    let down = env.at(&d.state, t0() + mins(1));
    assert_eq!(methods(&down), vec![Method::Sms]);
    assert_eq!(down.next_deadline(), None);
    assert!(env.at(&down.state, t0() + mins(3)).send.is_empty());
}

#[test]
fn an_urgent_concern_sends_sms_at_once_too() {
    let mut env = Env::new(default_rules());
    env.urgent = true;
    let d = env.at(&paged(), t0());
    assert_eq!(methods(&d), vec![Method::Email, Method::Sms]);
}

#[test]
fn once_acknowledged_every_step_left_is_cancelled_once() {
    let mut env = Env::new(default_rules());
    let d = env.at(&paged(), t0());
    env.over = true;
    let d = env.at(&d.state, t0() + mins(1));
    assert!(d.send.is_empty());
    assert_eq!(d.passed.len(), 1);
    assert_eq!(d.passed[0].1, Passed::Cancelled);
    assert_eq!(d.next_deadline(), None);
    let again = env.at(&d.state, t0() + mins(5));
    assert!(again.passed.is_empty() && again.send.is_empty());
}

#[test]
fn someone_away_gets_neither_sms_nor_email() {
    let mut env = Env::new(default_rules());
    env.away.insert(DSL.into());
    let d = env.at(&paged(), t0());
    let d = env.at(&d.state, t0() + mins(2));
    assert!(d.send.is_empty());
    let all = env.at(&paged(), t0() + mins(3));
    assert!(all.send.is_empty());
    assert!(all.passed.iter().all(|(_, why)| *why == Passed::Away), "{all:?}");
}

#[test]
fn a_failed_sms_brings_the_email_forward() {
    let env = Env::new(vec![step(Method::Sms, 2), step(Method::Email, 30)]);
    let d = env.at(&paged(), t0() + mins(2));
    assert_eq!(methods(&d), vec![Method::Sms]);
    let failed = failed(&d.state, &env.config, false, DSL, 0);
    let d = env.at(&failed, t0() + mins(3));
    assert_eq!(methods(&d), vec![Method::Email], "the email goes at once");
}

#[test]
fn a_failure_told_twice_moves_on_once() {
    let env = Env::new(vec![
        step(Method::Sms, 0),
        step(Method::Email, 30),
        step(Method::Email, 60),
    ]);
    let d = env.at(&paged(), t0());
    let once = failed(&d.state, &env.config, false, DSL, 0);
    let d = env.at(&once, t0() + mins(1));
    assert_eq!(methods(&d), vec![Method::Email]);
    let twice = failed(&d.state, &env.config, false, DSL, 0);
    assert_eq!(twice, d.state, "nothing more is brought forward");
    assert!(env.at(&twice, t0() + mins(2)).send.is_empty());
}

#[test]
fn after_stop_no_sms_and_the_email_comes_forward() {
    let mut env = Env::new(vec![
        step(Method::Sms, 0),
        step(Method::Sms, 5),
        step(Method::Email, 30),
    ]);
    env.stopped
        .insert(Phone::try_from("+447700900123".to_string()).unwrap());
    let d = env.at(&paged(), t0());
    assert_eq!(methods(&d), vec![Method::Email]);
    let d = env.at(&d.state, t0() + mins(10));
    assert!(d.send.is_empty());
    assert!(d.passed.iter().all(|(_, w)| *w == Passed::Stopped));
}

#[test]
fn without_a_gateway_nothing_is_sent_and_email_still_goes() {
    let mut env = Env::new(vec![step(Method::Sms, 0), step(Method::Email, 30)]);
    env.can_sms = false;
    let d = env.at(&paged(), t0());
    assert_eq!(methods(&d), vec![Method::Email]);
    assert_eq!(d.passed[0].1, Passed::NoGateway);
}

#[test]
fn the_cap_holds_sms_until_the_hour_has_passed() {
    let rules: Vec<Step> = (0..6).map(|i| step(Method::Sms, i * 5)).collect();
    let mut env = Env::new(rules);
    env.config.sms_per_hour = 2;
    let mut state = paged();
    let mut sent = Vec::new();
    let mut now = t0();
    while now <= t0() + mins(180) {
        let d = env.at(&state, now);
        sent.extend(d.send.iter().map(|_| now));
        state = d.state;
        now += mins(1);
    }
    assert_eq!(sent.len(), 6);
    assert_eq!(sent[..2], [t0(), t0() + mins(5)]);
    assert_eq!(sent[2], t0() + mins(60), "the third waits out the hour");
    for w in sent.windows(3) {
        assert!(w[2] - w[0] >= mins(60), "{sent:?}");
    }
}

#[test]
fn quiet_hours_hold_a_non_urgent_sms_until_they_end_but_not_an_urgent_one() {
    let mut env = Env::new(vec![step(Method::Sms, 0)]);
    env.config.quiet_hours = Some(QuietHours {
        start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(11, 0, 0).unwrap(),
    });
    let d = env.at(&paged(), t0());
    assert!(d.send.is_empty());
    assert_eq!(d.next_deadline(), Some(t0() + mins(60)));
    let d = env.at(&d.state, t0() + mins(60));
    assert_eq!(methods(&d), vec![Method::Sms]);
    env.urgent = true;
    assert_eq!(methods(&env.at(&paged(), t0())), vec![Method::Sms]);
}

#[test]
fn replies_are_read_forgivingly() {
    for body in ["4821", " ack 4821 ", "ACK4821", "Ack: 4821.", "acknowledge 4821"] {
        assert_eq!(parse_reply(body), Reply::Code("4821".into()), "{body}");
    }
    assert_eq!(parse_reply("STOP"), Reply::Stop);
    assert_eq!(parse_reply("Start"), Reply::Start);
    for body in ["482", "48211", "ack", "hello 4821", ""] {
        assert_eq!(parse_reply(body), Reply::Other, "{body}");
    }
}

#[test]
fn codes_are_four_digits_and_never_one_taken() {
    let mut taken = BTreeSet::new();
    for seed in 0..200u64 {
        let c = new_code(seed * 13, &taken);
        assert_eq!(c.len(), 4);
        assert!(taken.insert(c));
    }
}

fn any_step() -> impl Strategy<Value = Step> {
    (prop_oneof![Just(Method::Sms), Just(Method::Email)], 0u64..30).prop_map(|(m, a)| step(m, a))
}

proptest! {
    /// Whatever the rules, the cap, the quiet hours and the times asked:
    /// each step is sent at most once, never before its time, never over
    /// the cap, the deadline is always after now, and deciding again at the
    /// same instant sends nothing more.
    #[test]
    fn steps_go_once_on_time_and_within_the_cap(
        rules in proptest::collection::vec(any_step(), 0..6),
        cap in 1u32..4,
        urgent in any::<bool>(),
        quiet in any::<bool>(),
        gaps in proptest::collection::vec(0i64..40, 1..30),
        fail_at in proptest::option::of(0usize..30),
    ) {
        let mut env = Env::new(rules.clone());
        env.urgent = urgent;
        env.config.sms_per_hour = cap;
        if quiet {
            env.config.quiet_hours = Some(QuietHours {
                start: NaiveTime::from_hms_opt(10, 5, 0).unwrap(),
                end: NaiveTime::from_hms_opt(10, 40, 0).unwrap(),
            });
        }
        let steps = env.config.contacts[0].steps(urgent).to_vec();
        let mut state = paged();
        let mut now = t0();
        let mut sent: Vec<(usize, DateTime<Utc>)> = Vec::new();
        for (n, gap) in gaps.iter().enumerate() {
            now += mins(*gap);
            let d = env.at(&state, now);
            for s in &d.send {
                prop_assert!(!sent.iter().any(|(i, _)| *i == s.step), "step {} sent twice", s.step);
                let due = t0() + chrono::Duration::from_std(steps[s.step].after).unwrap();
                prop_assert!(now >= due || state.people[DSL].hurried.contains(&s.step));
                sent.push((s.step, now));
            }
            if let Some(at) = d.next_deadline() {
                prop_assert!(at > now);
            }
            let again = env.at(&d.state, now);
            prop_assert!(again.send.is_empty() && again.passed.is_empty());
            prop_assert_eq!(&again.state, &d.state);
            state = d.state;
            if fail_at == Some(n) {
                if let Some((i, _)) = sent.last() {
                    state = failed(&state, &env.config, urgent, DSL, *i);
                }
            }
        }
        let sms: Vec<_> = sent.iter().filter(|(i, _)| steps[*i].method == Method::Sms).map(|(_, t)| *t).collect();
        for (k, t) in sms.iter().enumerate() {
            let in_hour = sms[..=k].iter().filter(|u| **u > *t - mins(60)).count();
            prop_assert!(in_hour <= cap as usize, "{sms:?}");
        }
    }
}
