//! The escalation policy, the rota and the timer together, under paused
//! tokio time, with the escalations kept in a real store: a small stand-in
//! for the transport that loads, decides, keeps and schedules exactly as the
//! Matrix adapter is to.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Europe::London;

use safeguarding_bot::concern::Reference;
use safeguarding_bot::escalation::policy::{decide, on_timer, Decision, DeputyMode, Policy};
use safeguarding_bot::escalation::rota::{local_time, parse_command, Away, Rota, RotaCommand, Until};
use safeguarding_bot::escalation::timer::{Clock, Timer, TokioClock};
use safeguarding_bot::escalation::{AckDecision, Escalation, EscalationStep};
use safeguarding_bot::store::{Key, Store, Tree};

const LEAD: &str = "@dsl:example.org";
const D1: &str = "@deputy1:example.org";
const D2: &str = "@deputy2:example.org";
const REPORTER: &str = "@sam:example.org";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn mins(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

fn policy() -> Policy {
    Policy {
        ack_timeout: Duration::from_secs(10 * 60),
        urgent_ack_timeout: Duration::from_secs(2 * 60),
        deputies: vec![D1.into(), D2.into()],
        lead: LEAD.into(),
        deputy_mode: DeputyMode::InOrder,
        repeats: 2,
        repeat_interval: Duration::from_secs(5 * 60),
        reminder_after: Duration::from_secs(24 * 3600),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Page { at: DateTime<Utc>, who: Vec<String> },
    Repage { at: DateTime<Utc>, who: Vec<String> },
    Skip { at: DateTime<Utc>, who: String },
    ToldReporter { at: DateTime<Utc> },
    Reminded { at: DateTime<Utc>, who: String },
    Acknowledged { at: DateTime<Utc>, by: String },
    Stale { at: DateTime<Utc>, generation: u64 },
}

/// The transport's part, without Matrix.
struct World {
    policy: Policy,
    rota: Mutex<Rota>,
    store: Store,
    timer: Timer,
    clock: TokioClock,
    log: Mutex<Vec<Event>>,
}

impl World {
    fn new(dir: &std::path::Path, key: &str, policy: Policy, rota: Rota, clock: TokioClock) -> Arc<World> {
        let store = Store::open(dir, Key::from_hex(key).unwrap()).unwrap();
        // A long max sleep: every wake-up in these tests is a deadline or a notification.
        let timer = Timer::with_max_sleep(clock, Duration::from_secs(7 * 24 * 3600));
        Arc::new(World {
            policy,
            rota: Mutex::new(rota),
            store,
            timer,
            clock,
            log: Mutex::new(Vec::new()),
        })
    }

    fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let world = self.clone();
        tokio::spawn(self.timer.clone().run(move |r, g| {
            let world = world.clone();
            async move { world.fire(r, g) }
        }))
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn get(&self, r: &Reference) -> Escalation {
        self.store
            .get_item(Tree::Escalations, &r.to_string())
            .unwrap()
            .unwrap()
    }

    fn log(&self, e: Event) {
        self.log.lock().unwrap().push(e);
    }

    fn events(&self) -> Vec<Event> {
        self.log.lock().unwrap().clone()
    }

    fn pages(&self) -> Vec<(DateTime<Utc>, Vec<String>)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Page { at, who } | Event::Repage { at, who } => Some((at, who)),
                _ => None,
            })
            .collect()
    }

    fn apply(&self, d: Decision) {
        let at = self.now();
        for who in &d.skipped {
            self.log(Event::Skip { at, who: who.clone() });
        }
        if d.repage_everyone {
            self.log(Event::Repage { at, who: d.mention() });
        } else if !d.page.is_empty() {
            self.log(Event::Page {
                at,
                who: d.page.clone(),
            });
        }
        if d.tell_reporter_no_answer {
            self.log(Event::ToldReporter { at });
        }
        if let Some(who) = &d.remind {
            self.log(Event::Reminded { at, who: who.clone() });
        }
        if d.changed {
            let s = &d.new_state;
            self.store
                .put_item(Tree::Escalations, &s.reference.to_string(), s)
                .unwrap();
        }
        if let Some((r, at, g)) = d.new_state.timer_entry() {
            self.timer.schedule(r, at, g);
        }
    }

    fn open(&self, n: u64, urgent: bool) -> Reference {
        let r = Reference::new(n);
        let esc = Escalation::unpaged(r.clone(), REPORTER, urgent, "!room:example.org", self.now());
        let rota = self.rota.lock().unwrap().clone();
        self.apply(decide(&esc, &self.policy, &rota, self.now()));
        r
    }

    fn fire(&self, r: Reference, generation: u64) {
        let esc = self.get(&r);
        let rota = self.rota.lock().unwrap().clone();
        match on_timer(&esc, generation, &self.policy, &rota, self.now()) {
            Some(d) => self.apply(d),
            None => self.log(Event::Stale {
                at: self.now(),
                generation,
            }),
        }
    }

    fn ack(&self, r: &Reference, who: &str) {
        let esc = self.get(r);
        let now = self.now();
        let AckDecision::Acknowledged(next) = esc.acknowledge(who, self.policy.responders(), now) else {
            panic!("{who} could not acknowledge");
        };
        self.store
            .put_item(Tree::Escalations, &r.to_string(), &next)
            .unwrap();
        self.log(Event::Acknowledged {
            at: now,
            by: who.into(),
        });
        let rota = self.rota.lock().unwrap().clone();
        self.apply(decide(&next, &self.policy, &rota, now));
    }

    /// A rota command from `who`, then every open escalation decided again.
    fn command(&self, who: &str, text: &str) -> String {
        let now = self.now();
        let cmd = parse_command(text, London, now).expect("a rota command").unwrap();
        let (rota, reply) = self
            .rota
            .lock()
            .unwrap()
            .apply(who, &cmd, &self.policy, London, now)
            .unwrap();
        *self.rota.lock().unwrap() = rota.clone();
        for (_, esc) in self.store.items::<Escalation>(Tree::Escalations).unwrap() {
            self.apply(decide(&esc, &self.policy, &rota, now));
        }
        reply
    }
}

const KEY: &str = "0101010101010101010101010101010101010101010101010101010101010101";

fn world(policy: Policy, rota: Rota) -> (tempfile::TempDir, Arc<World>) {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(dir.path(), KEY, policy, rota, TokioClock::starting_at(t0()));
    (dir, w)
}

/// Lets the timer task run what is due at this instant.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

async fn sleep(d: chrono::Duration) {
    tokio::time::sleep(d.to_std().unwrap()).await;
    settle().await;
}

fn page(at: DateTime<Utc>, who: &[&str]) -> (DateTime<Utc>, Vec<String>) {
    (at, who.iter().map(|s| s.to_string()).collect())
}

#[tokio::test(start_paused = true)]
async fn the_lead_acknowledges_in_time_and_no_deputy_is_paged() {
    let (_dir, w) = world(policy(), Rota::default());
    let task = w.start();
    let r = w.open(1, false);
    sleep(mins(4)).await;
    w.ack(&r, LEAD);
    sleep(chrono::Duration::hours(3)).await;
    assert_eq!(w.pages(), vec![page(t0(), &[LEAD])]);
    let esc = w.get(&r);
    assert_eq!(esc.step, EscalationStep::Acknowledged);
    // The only deadline left is the reminder, a day after the acknowledgement.
    assert_eq!(
        w.timer.pending(),
        vec![(
            t0() + mins(4) + chrono::Duration::hours(24),
            r.clone(),
            esc.generation
        )]
    );
    w.timer.stop();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_lead_is_silent_and_the_deputy_is_paged_at_the_deadline_not_before() {
    let (_dir, w) = world(policy(), Rota::default());
    let task = w.start();
    w.open(1, false);
    sleep(mins(10) - chrono::Duration::seconds(1)).await;
    assert_eq!(w.pages(), vec![page(t0(), &[LEAD])]);
    sleep(chrono::Duration::seconds(1)).await;
    assert_eq!(w.pages(), vec![page(t0(), &[LEAD]), page(t0() + mins(10), &[D1])]);
    sleep(mins(10)).await;
    assert_eq!(w.pages().last(), Some(&page(t0() + mins(20), &[D2])));
    w.timer.stop();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_urgent_concern_uses_the_urgent_timeout() {
    let (_dir, w) = world(policy(), Rota::default());
    let task = w.start();
    w.open(1, true);
    sleep(mins(2)).await;
    assert_eq!(w.pages(), vec![page(t0(), &[LEAD]), page(t0() + mins(2), &[D1])]);
    w.timer.stop();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_lead_away_means_the_deputy_is_paged_at_once() {
    let mut rota = Rota::default();
    rota.away.insert(LEAD.into(), Away { until: None });
    let (_dir, w) = world(policy(), rota);
    let task = w.start();
    w.open(1, false);
    settle().await;
    assert_eq!(
        w.events(),
        vec![
            Event::Skip {
                at: t0(),
                who: LEAD.into()
            },
            Event::Page {
                at: t0(),
                who: vec![D1.into()]
            },
        ]
    );
    sleep(mins(10)).await;
    assert_eq!(w.pages().last(), Some(&page(t0() + mins(10), &[D2])));
    w.timer.stop();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn going_away_mid_step_skips_at_once() {
    let (_dir, w) = world(policy(), Rota::default());
    let task = w.start();
    w.open(1, false);
    sleep(mins(3)).await;
    let reply = w.command(LEAD, "!away for 2 hours");
    assert!(
        reply.contains("away until 11:03 GMT on Monday 23 November 2026"),
        "{reply}"
    );
    settle().await;
    assert_eq!(w.pages(), vec![page(t0(), &[LEAD]), page(t0() + mins(3), &[D1])]);
    // D1's step is a full one from when they were paged.
    sleep(mins(10)).await;
    assert_eq!(w.pages().last(), Some(&page(t0() + mins(13), &[D2])));
    // The stale timer entry for the lead's step never fires a page.
    sleep(mins(1)).await;
    assert_eq!(w.pages().len(), 3);
    w.timer.stop();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_deputy_covers_and_is_paged_as_the_lead() {
    let (_dir, w) = world(policy(), Rota::default());
    let task = w.start();
    w.command(LEAD, "!away until 30/11/2026 09:00");
    let reply = w.command(D2, "!cover");
    assert!(
        reply.contains("until 09:00 GMT on Monday 30 November 2026, when they are back"),
        "{reply}"
    );
    let rota = w.rota.lock().unwrap().clone();
    assert_eq!(rota.on_duty(&w.policy, t0()), vec![D2, D1]);
    let shown = rota.render(&w.policy, London, t0());
    assert!(
        shown.contains(&format!("{D2} is covering for the lead until 09:00 GMT")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("A new concern pages {D2} first, then {D1}.")),
        "{shown}"
    );

    w.open(1, false);
    settle().await;
    assert_eq!(w.pages(), vec![page(t0(), &[D2])]);
    sleep(mins(10)).await;
    // Then D1; D2 is not waited on a second time, so the repeats follow.
    assert_eq!(w.pages().last(), Some(&page(t0() + mins(10), &[D1])));
    sleep(mins(10)).await;
    assert_eq!(w.pages().last(), Some(&page(t0() + mins(20), &[D2, D1])));
    assert!(!w
        .events()
        .iter()
        .any(|e| matches!(e, Event::Page { who, .. } if who.iter().any(|p| p == LEAD))));

    // The lead back: the cover ends.
    let reply = w.command(LEAD, "!back");
    assert!(reply.contains("cover for you has ended"), "{reply}");
    assert_eq!(w.rota.lock().unwrap().cover, None);
    w.timer.stop();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn nobody_acknowledges_the_reporter_is_told_once_and_paging_repeats() {
    let (_dir, w) = world(policy(), Rota::default());
    let task = w.start();
    let r = w.open(1, false);
    sleep(chrono::Duration::hours(1)).await;
    let everyone = [LEAD, D1, D2];
    assert_eq!(
        w.pages(),
        vec![
            page(t0(), &[LEAD]),
            page(t0() + mins(10), &[D1]),
            page(t0() + mins(20), &[D2]),
            page(t0() + mins(30), &everyone),
            page(t0() + mins(35), &everyone),
            page(t0() + mins(40), &everyone),
            page(t0() + mins(45), &everyone),
            page(t0() + mins(50), &everyone),
            page(t0() + mins(55), &everyone),
            page(t0() + mins(60), &everyone),
        ]
    );
    let told: Vec<_> = w
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::ToldReporter { .. }))
        .collect();
    assert_eq!(told, vec![Event::ToldReporter { at: t0() + mins(40) }]);

    // Someone acknowledges: paging stops.
    sleep(mins(2)).await;
    w.ack(&r, D2);
    sleep(chrono::Duration::hours(2)).await;
    assert_eq!(w.pages().len(), 10);
    w.timer.stop();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_acknowledgement_racing_the_deadline_has_one_outcome() {
    // The acknowledgement is handled first: the timer's entry is stale.
    let (_dir, w) = world(policy(), Rota::default());
    let r = w.open(1, false);
    let (deadline, _, generation) = w.timer.pending()[0].clone();
    assert_eq!(deadline, t0() + mins(10));
    tokio::time::advance(Duration::from_secs(600)).await;
    w.ack(&r, LEAD);
    w.fire(r.clone(), generation);
    assert_eq!(w.pages(), vec![page(t0(), &[LEAD])]);
    assert!(w.events().contains(&Event::Stale {
        at: deadline,
        generation
    }));

    // The deadline is handled first: the deputy is paged once, then the
    // acknowledgement ends it, and a repeated fire is stale.
    let (_dir, w) = world(policy(), Rota::default());
    let r = w.open(1, false);
    let (_, _, generation) = w.timer.pending()[0].clone();
    tokio::time::advance(Duration::from_secs(600)).await;
    w.fire(r.clone(), generation);
    w.ack(&r, D1);
    w.fire(r.clone(), generation);
    assert_eq!(w.pages(), vec![page(t0(), &[LEAD]), page(deadline, &[D1])]);

    // And with the timer task running, the ack landing on the very instant:
    // whichever goes first, at most one deputy page and none after the ack.
    let (_dir, w) = world(policy(), Rota::default());
    let task = w.start();
    let r = w.open(1, false);
    tokio::time::sleep(Duration::from_secs(600)).await;
    w.ack(&r, LEAD);
    sleep(chrono::Duration::hours(1)).await;
    let pages = w.pages();
    assert!(pages == vec![page(t0(), &[LEAD])] || pages == vec![page(t0(), &[LEAD]), page(deadline, &[D1])]);
    w.timer.stop();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_an_overdue_step_runs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TokioClock::starting_at(t0());
    {
        let w = World::new(dir.path(), KEY, policy(), Rota::default(), clock);
        let task = w.start();
        w.open(1, false);
        settle().await;
        w.timer.stop();
        task.await.unwrap();
    }
    // Down for an hour, across the lead's deadline.
    tokio::time::advance(Duration::from_secs(3600)).await;
    let w = World::new(dir.path(), KEY, policy(), Rota::default(), clock);
    let entries = w.store.items::<Escalation>(Tree::Escalations).unwrap();
    w.timer.load(entries.iter().filter_map(|(_, e)| e.timer_entry()));
    assert_eq!(w.timer.next_deadline(), Some(t0() + mins(10)));
    let task = w.start();
    settle().await;
    let back = t0() + mins(60);
    assert_eq!(w.pages(), vec![page(back, &[D1])]);
    // The late deputy still gets a full step.
    sleep(mins(10) - chrono::Duration::seconds(1)).await;
    assert_eq!(w.pages().len(), 1);
    sleep(chrono::Duration::seconds(1)).await;
    assert_eq!(w.pages().last(), Some(&page(back + mins(10), &[D2])));
    w.timer.stop();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_deadline_across_the_october_clock_change() {
    // 00:55 UTC on Sunday 25 October 2026 is 01:55 BST; at 01:00 UTC the
    // clocks go back to 01:00 GMT, so ten minutes on is 01:05 GMT.
    let start = Utc.with_ymd_and_hms(2026, 10, 25, 0, 55, 0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(
        dir.path(),
        KEY,
        policy(),
        Rota::default(),
        TokioClock::starting_at(start),
    );
    let task = w.start();
    let r = w.open(1, false);
    let deadline = w.get(&r).deadline.unwrap();
    assert_eq!(deadline, Utc.with_ymd_and_hms(2026, 10, 25, 1, 5, 0).unwrap());
    assert_eq!(local_time(start, London), "01:55 BST on Sunday 25 October 2026");
    assert_eq!(
        local_time(deadline, London),
        "01:05 GMT on Sunday 25 October 2026"
    );
    sleep(mins(10) - chrono::Duration::seconds(1)).await;
    assert_eq!(w.pages().len(), 1);
    sleep(chrono::Duration::seconds(1)).await;
    assert_eq!(w.pages().last(), Some(&page(deadline, &[D1])));
    w.timer.stop();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_timer_fires_each_entry_once() {
    let clock = TokioClock::starting_at(t0());
    let timer = Timer::with_max_sleep(clock, Duration::from_secs(3600));
    let fired = Arc::new(Mutex::new(Vec::new()));
    let f = fired.clone();
    let a = Reference::new(1);
    timer.schedule(a.clone(), t0() + mins(1), 1);
    timer.schedule(a.clone(), t0() + mins(1), 1);
    timer.load([
        (Reference::new(2), t0() - mins(30), 4),
        (a.clone(), t0() + mins(1), 1),
    ]);
    let task = tokio::spawn(timer.clone().run(move |r, g| {
        f.lock().unwrap().push((clock.now(), r, g));
        async {}
    }));
    sleep(mins(30)).await;
    timer.stop();
    task.await.unwrap();
    assert_eq!(
        *fired.lock().unwrap(),
        vec![(t0(), Reference::new(2), 4), (t0() + mins(1), a, 1)]
    );
}

// ----- rota commands -----

fn at_ten() -> DateTime<Utc> {
    // 10:00 GMT, Monday 23 November 2026.
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

fn cmd(text: &str) -> RotaCommand {
    parse_command(text, London, at_ten())
        .expect("a rota command")
        .unwrap()
}

fn err(text: &str) -> String {
    parse_command(text, London, at_ten())
        .expect("a rota command")
        .unwrap_err()
        .to_string()
}

fn away_until(text: &str) -> DateTime<Utc> {
    match cmd(text) {
        RotaCommand::Away {
            until: Some(Until { at, .. }),
        } => at,
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn rota_commands_parse() {
    assert_eq!(cmd("!away"), RotaCommand::Away { until: None });
    assert_eq!(cmd("  !AWAY  "), RotaCommand::Away { until: None });
    assert_eq!(cmd("!back"), RotaCommand::Back);
    assert_eq!(cmd("!rota"), RotaCommand::Show);
    assert_eq!(cmd("!cover"), RotaCommand::Cover { until: None });
    assert_eq!(cmd("!cover off"), RotaCommand::EndCover);
    assert!(parse_command("!ack", London, at_ten()).is_none());
    assert!(parse_command("away", London, at_ten()).is_none());
    assert!(parse_command("!awayish", London, at_ten()).is_none());
}

#[test]
fn away_until_forms_in_the_organisations_timezone() {
    let nine_gmt = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
    assert_eq!(away_until("!away until 2026-11-30 09:00"), nine_gmt);
    assert_eq!(away_until("!away until 2026-11-30T09:00"), nine_gmt);
    assert_eq!(away_until("!away until 30/11/2026 09:00"), nine_gmt);
    assert_eq!(away_until("!away until 30/11/2026 9am"), nine_gmt);
    assert_eq!(
        away_until("!away until tomorrow 9am"),
        Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
    );
    assert_eq!(
        away_until("!away until tomorrow at 5.30pm"),
        Utc.with_ymd_and_hms(2026, 11, 24, 17, 30, 0).unwrap()
    );
    assert_eq!(
        away_until("!away until today 17:30"),
        Utc.with_ymd_and_hms(2026, 11, 23, 17, 30, 0).unwrap()
    );
    // Summer time: 09:00 BST is 08:00 UTC.
    assert_eq!(
        away_until("!away until 2027-07-01 09:00"),
        Utc.with_ymd_and_hms(2027, 7, 1, 8, 0, 0).unwrap()
    );
}

#[test]
fn away_for_a_duration() {
    assert_eq!(away_until("!away for 2h"), at_ten() + chrono::Duration::hours(2));
    assert_eq!(
        away_until("!away for 3 days"),
        at_ten() + chrono::Duration::days(3)
    );
    assert_eq!(away_until("!away for 90m"), at_ten() + mins(90));
    assert_eq!(
        away_until("!away for 1 week"),
        at_ten() + chrono::Duration::weeks(1)
    );
    assert_eq!(
        cmd("!cover for 2 days"),
        RotaCommand::Cover {
            until: Some(Until {
                at: at_ten() + chrono::Duration::days(2),
                note: None
            })
        }
    );
}

#[test]
fn a_bad_time_says_the_accepted_forms() {
    for text in [
        "!away until next week",
        "!away until 31/02/2026 09:00",
        "!away until 30/11/2026",
        "!away for ever",
        "!away for 0s",
        "!away soon",
        "!away until 2026-11-23 09:00",
    ] {
        let e = err(text);
        assert!(e.contains("!away until 30/11/2026 09:00"), "{text}: {e}");
        assert!(e.contains("!away for 3 days"), "{text}: {e}");
    }
    assert!(err("!away until 2026-11-23 09:00").contains("has already passed"));
    assert!(err("!away until 30/11/2026").contains("no time of day"));
    assert!(err("!cover until whenever").contains("!cover off"));
}

#[test]
fn clock_change_times_are_taken_explicitly() {
    let before = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    // 01:30 on 29 March 2026 does not exist in London: taken as 02:00 BST.
    let RotaCommand::Away { until: Some(u) } = parse_command("!away until 29/03/2026 01:30", London, before)
        .unwrap()
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(u.at, Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap());
    assert!(
        u.note.as_deref().unwrap().contains("does not exist"),
        "{:?}",
        u.note
    );
    // 01:30 on 25 October 2026 happens twice: taken as the first, 01:30 BST.
    let before = Utc.with_ymd_and_hms(2026, 10, 1, 9, 0, 0).unwrap();
    let RotaCommand::Away { until: Some(u) } = parse_command("!away until 2026-10-25 01:30", London, before)
        .unwrap()
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(u.at, Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap());
    assert!(
        u.note.as_deref().unwrap().contains("happens twice"),
        "{:?}",
        u.note
    );
}

#[test]
fn only_leads_and_deputies_change_the_rota_and_the_reply_says_what_happened() {
    let p = policy();
    let rota = Rota::default();
    let e = rota
        .apply(REPORTER, &RotaCommand::Away { until: None }, &p, London, at_ten())
        .unwrap_err();
    assert!(e.to_string().contains("Only the Lead or a Deputy"), "{e}");
    let e = rota
        .apply(LEAD, &RotaCommand::Cover { until: None }, &p, London, at_ten())
        .unwrap_err();
    assert!(e.to_string().contains("Only a Deputy"), "{e}");
    assert!(rota
        .apply(REPORTER, &RotaCommand::Show, &p, London, at_ten())
        .is_ok());

    let (rota, reply) = rota
        .apply(LEAD, &cmd("!away for 3 days"), &p, London, at_ten())
        .unwrap();
    assert!(
        reply.contains("away until 10:00 GMT on Thursday 26 November 2026"),
        "{reply}"
    );
    assert!(reply.contains(&format!("now pages {D1} first")), "{reply}");
    assert!(rota.is_away(LEAD, at_ten()));
    assert!(!rota.is_away(LEAD, at_ten() + chrono::Duration::days(3)));
    let (rota, _) = rota.apply(D1, &cmd("!away"), &p, London, at_ten()).unwrap();
    let (rota, reply) = rota.apply(D2, &cmd("!away"), &p, London, at_ten()).unwrap();
    assert!(reply.contains("Nobody is on duty"), "{reply}");
    assert!(rota.on_duty(&p, at_ten()).is_empty());
    let shown = rota.render(&p, London, at_ten());
    assert!(shown.starts_with("The rota at 10:00 GMT on Monday 23 November 2026 (Europe/London time):"));
    assert!(shown.contains(&format!(
        "- Lead: {LEAD}, away until 10:00 GMT on Thursday 26 November 2026."
    )));
    assert!(shown.contains(&format!("- Deputy: {D1}, away until they send !back.")));
    assert!(shown.contains("Nobody is on duty"), "{shown}");
    let (rota, reply) = rota.apply(D1, &cmd("!back"), &p, London, at_ten()).unwrap();
    assert!(reply.starts_with("Welcome back"), "{reply}");
    assert_eq!(rota.on_duty(&p, at_ten()), vec![D1]);
}

#[test]
fn stored_escalations_from_before_the_policy_still_load() {
    let old = r#"{"reference":"SG-0007","reporter":"@sam:x","urgent":false,"room":"!r:x",
        "page_event":null,"paged_at":"2026-11-23T09:00:00Z","paged":["@dsl:example.org"],"acknowledged":null}"#;
    let esc: Escalation = serde_json::from_str(old).unwrap();
    assert_eq!(esc.step, EscalationStep::Start);
    assert_eq!(esc.generation, 0);
    // The lead was paged when it was made, so the policy carries on from there.
    let d = decide(&esc, &policy(), &Rota::default(), t0() + mins(10));
    assert_eq!(d.page, vec![D1]);
}
