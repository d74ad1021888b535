//! Escalation timer: how late after its deadline an escalation step fires,
//! for 1,000 pending escalations, in steady state and just after a restart.
//!
//! Run with `cargo bench --bench escalation_timer`. It needs no homeserver
//! and stops by itself in about a minute.
//!
//! Run without `--bench` (as `cargo test --bench '*'` runs it, and CI does)
//! it runs the same two phases at a small [`Scale`] in a few seconds, 50
//! escalations with 1 s steps, to show that the timer and its handler
//! still work; its figures are printed but mean little.
//!
//! Everything is the real thing except the chat transport: a sled
//! [`Store`] in a temporary directory (key file and all), the real
//! [`Timer`] on the system clock, and the real [`policy::on_timer`] and
//! [`policy::decide`]. The fire handler does what the bot does for a
//! deadline: loads the escalation from the store, runs `on_timer` (a stale
//! generation is ignored), stores the new state (`put_item` flushes to
//! disk), and schedules the next entry. It does not send anything.
//!
//! Lateness is the system time when the handler starts minus the entry's
//! deadline (the stored escalation's `deadline` for that generation).
//!
//! The escalations: one policy, lead plus three deputies in order, two
//! repeats, then paging on until someone acknowledges (nobody does here);
//! every step is [`Scale::step`] long. Each escalation is given a past as if a
//! perfect timer had run it: escalation `i` was raised `i % 8` whole steps
//! plus a fraction of a step ago, and walked through `decide` at each of
//! its deadlines up to now. So the 1,000 are spread over every step (lead,
//! deputies, repeats, paging on), and their next deadlines spread evenly
//! over the next step, about 1,000 / 20 s = 50 firings a second, each
//! escalation firing again a step after the last.
//!
//! - **steady state**: the timer is loaded from the stored escalations'
//!   `timer_entry()` and run; every firing whose deadline falls in the
//!   [`Scale::steady`] window after a [`Scale::warm_up`] is measured.
//! - **restart**: the timer is stopped and the store dropped with 1,000
//!   deadlines pending, spread over the next step. After [`Scale::down`] (half a
//!   step) the store is reopened, a new timer rebuilt with `load()` and
//!   run, until every entry pending at the restart has fired. Reported
//!   apart: (a) the entries already overdue when the timer starts, as the
//!   time from the timer's start to their firing; (b) the entries still in
//!   the future then, as lateness after their deadline.
//!
//! Checked, at either scale (the bench stops with a panic otherwise): no
//! firing is stale and each moves its escalation on (nobody acknowledges),
//! and after the restart every entry pending at the stop fires.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use safeguarding_bot::concern::Reference;
use safeguarding_bot::escalation::policy::{self, DeputyMode, Policy};
use safeguarding_bot::escalation::rota::Rota;
use safeguarding_bot::escalation::timer::{SystemClock, Timer};
use safeguarding_bot::escalation::{Escalation, EscalationStep};
use safeguarding_bot::store::{Key, Store, Tree};
use tempfile::TempDir;

/// How big a run is: the full bench, or the short one that shows it still
/// works.
struct Scale {
    /// Pending escalations.
    n: usize,
    /// Every step's length: ack timeout (urgent or not) and repeat interval.
    step: Duration,
    /// Firings with a deadline this soon after the timer starts are not
    /// measured in steady state (the ones made overdue by storing them all).
    warm_up: Duration,
    /// The steady-state window, by deadline.
    steady: Duration,
    /// Firings due this close to the stop are not measured: they may not
    /// have run yet.
    margin: Duration,
    /// How long the bot is down for the restart: half the deadlines pass.
    down: Duration,
    /// The longest the whole bench may take.
    patience: Duration,
}

/// `cargo bench --bench escalation_timer`.
const FULL: Scale = Scale {
    n: 1_000,
    step: Duration::from_secs(20),
    warm_up: Duration::from_secs(2),
    steady: Duration::from_secs(30),
    margin: Duration::from_millis(500),
    down: Duration::from_secs(10),
    patience: Duration::from_secs(120),
};

/// Without `--bench`: a few seconds, at the same 50 firings a second.
const SHORT: Scale = Scale {
    n: 50,
    step: Duration::from_secs(1),
    warm_up: Duration::from_millis(200),
    steady: Duration::from_millis(1_500),
    margin: Duration::from_millis(100),
    down: Duration::from_millis(500),
    patience: Duration::from_secs(60),
};

/// One firing, as the handler saw it.
#[derive(Clone)]
struct Firing {
    reference: Reference,
    /// The entry's deadline.
    deadline: DateTime<Utc>,
    /// When the handler started, by the system clock.
    started: DateTime<Utc>,
    /// How long load, on_timer and store took.
    handler: Duration,
    /// The step that ran out.
    step: &'static str,
}

#[derive(Default)]
struct Log {
    firings: Mutex<Vec<Firing>>,
    stale: AtomicUsize,
    unchanged: AtomicUsize,
}

fn policy(step: Duration) -> Policy {
    Policy {
        ack_timeout: step,
        urgent_ack_timeout: step,
        deputies: vec![
            "@deputy1:bench.example".into(),
            "@deputy2:bench.example".into(),
            "@deputy3:bench.example".into(),
        ],
        lead: "@lead:bench.example".into(),
        deputy_mode: DeputyMode::InOrder,
        repeats: 2,
        repeat_interval: step,
        reminder_after: Policy::DEFAULT_REMINDER_AFTER,
    }
}

fn step_name(s: &EscalationStep) -> &'static str {
    match s {
        EscalationStep::Start => "start",
        EscalationStep::Lead { .. } => "lead",
        EscalationStep::Deputy { .. } => "deputy",
        EscalationStep::AllDeputies { .. } => "all deputies",
        EscalationStep::Repeat { .. } => "repeat",
        EscalationStep::Exhausted { .. } => "paging on",
        EscalationStep::Acknowledged => "acknowledged",
    }
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).expect("duration")
}

fn open(dir: &std::path::Path) -> Store {
    let key = Key::load_or_create(&dir.join("key")).expect("key file");
    Store::open(&dir.join("data"), key).expect("open the store")
}

/// Escalation `i`, walked through its past up to `now` (see the module
/// documentation): its next deadline is in `(now, now + step]`, where
/// `n` are spread.
fn escalation(i: usize, n: usize, policy: &Policy, rota: &Rota, now: DateTime<Utc>) -> Escalation {
    let step = policy.repeat_interval;
    let fraction = chrono(step.mul_f64((i as f64 + 0.5) / n as f64));
    let raised = now - fraction - chrono(step) * (i % 8) as i32;
    let mut esc = Escalation::unpaged(
        Reference::new(i as u64 + 1),
        "@reporter:bench.example",
        i % 10 == 0,
        &format!("!room{i}:bench.example"),
        raised,
    );
    let mut at = raised;
    loop {
        let d = policy::decide(&esc, policy, rota, at);
        esc = d.new_state;
        match d.next_deadline {
            Some(next) if next <= now => at = next,
            Some(_) => return esc,
            None => panic!("the policy left escalation {i} without a deadline"),
        }
    }
}

/// The fire handler, as the bot runs it: load, on_timer, store, schedule.
fn fire(
    store: &Store,
    timer: &Timer,
    policy: &Policy,
    rota: &Rota,
    log: &Log,
    reference: Reference,
    generation: u64,
) {
    let started = Utc::now();
    let clock = Instant::now();
    let key = reference.to_string();
    let esc: Escalation = store
        .get_item(Tree::Escalations, &key)
        .expect("load the escalation")
        .expect("the escalation is stored");
    let Some(decision) = policy::on_timer(&esc, generation, policy, rota, started) else {
        log.stale.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if decision.changed {
        store
            .put_item(Tree::Escalations, &key, &decision.new_state)
            .expect("store the escalation");
    } else {
        log.unchanged.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(at) = decision.next_deadline {
        timer.schedule(reference.clone(), at, decision.new_state.generation);
    }
    let handler = clock.elapsed();
    log.firings.lock().unwrap().push(Firing {
        reference,
        deadline: esc.deadline.expect("a fired escalation had a deadline"),
        started,
        handler,
        step: step_name(&esc.step),
    });
}

/// Starts the timer task over `store`.
fn run(store: Arc<Store>, timer: Timer, log: Arc<Log>, step: Duration) -> tokio::task::JoinHandle<()> {
    let policy = Arc::new(policy(step));
    let rota = Arc::new(Rota::default());
    let t = timer.clone();
    tokio::spawn(timer.run(move |reference, generation| {
        let (store, timer, policy, rota, log) = (
            store.clone(),
            t.clone(),
            policy.clone(),
            rota.clone(),
            log.clone(),
        );
        async move { fire(&store, &timer, &policy, &rota, &log, reference, generation) }
    }))
}

fn ms(d: chrono::Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

/// A row of the table: median, p99 (nearest rank) and worst, in ms.
struct Row {
    scenario: String,
    values: Vec<f64>,
}

impl Row {
    fn new(scenario: &str, mut values: Vec<f64>) -> Row {
        values.sort_by(f64::total_cmp);
        Row {
            scenario: scenario.into(),
            values,
        }
    }

    fn pct(&self, p: f64) -> f64 {
        let n = self.values.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.values[rank.clamp(1, n) - 1]
    }

    fn median(&self) -> f64 {
        let v = &self.values;
        let n = v.len();
        match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => v[n / 2],
            _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| {:<52} | {:>5} | {:>9} | {:>8} | {:>8} |",
        "scenario", "n", "median ms", "p99 ms", "worst ms"
    );
    println!("|{:-<54}|{:->7}|{:->11}|{:->10}|{:->10}|", "", "", "", "", "");
    for r in rows {
        println!(
            "| {:<52} | {:>5} | {:>9.1} | {:>8.1} | {:>8.1} |",
            r.scenario,
            r.values.len(),
            r.median(),
            r.pct(99.0),
            r.pct(100.0),
        );
    }
    println!();
}

async fn bench(scale: &Scale) -> Vec<Row> {
    let dir = TempDir::new().expect("tempdir");
    let n = scale.n;
    let policy = policy(scale.step);
    let rota = Rota::default();
    let mut rows = Vec::new();

    // ----- set up: 1,000 escalations, stored -----
    let store = Arc::new(open(dir.path()));
    let now = Utc::now();
    let stored = Instant::now();
    let mut steps = std::collections::BTreeMap::<&str, usize>::new();
    for i in 0..n {
        let esc = escalation(i, n, &policy, &rota, now);
        *steps.entry(step_name(&esc.step)).or_default() += 1;
        store
            .put_item(Tree::Escalations, &esc.reference.to_string(), &esc)
            .expect("store");
    }
    eprintln!(
        "escalation_timer: stored {n} escalations in {:.2?}, waiting at {steps:?}",
        stored.elapsed()
    );

    // ----- steady state -----
    let timer = Timer::new(SystemClock);
    let loaded = Instant::now();
    timer.load(
        store
            .items::<Escalation>(Tree::Escalations)
            .expect("items")
            .iter()
            .filter_map(|(_, e)| e.timer_entry()),
    );
    eprintln!(
        "escalation_timer: loaded {} entries in {:.2?}; steady state for {:?}",
        timer.pending().len(),
        loaded.elapsed(),
        scale.warm_up + scale.steady
    );
    let log = Arc::new(Log::default());
    let t_run = Utc::now();
    let task = run(store.clone(), timer.clone(), log.clone(), scale.step);
    tokio::time::sleep(scale.warm_up + scale.steady).await;
    timer.stop();
    task.await.expect("timer task");
    let t_stop = Utc::now();
    let from = t_run + chrono(scale.warm_up);
    let to = t_stop - chrono(scale.margin);
    let firings = log.firings.lock().unwrap().clone();
    let steady: Vec<&Firing> = firings
        .iter()
        .filter(|f| f.deadline >= from && f.deadline <= to)
        .collect();
    let unfired = timer.pending().iter().filter(|e| e.0 <= to).count();
    eprintln!(
        "escalation_timer: steady state: {} firings in all, {} measured, {} stale, {} unchanged, {} due and not fired at stop",
        firings.len(),
        steady.len(),
        log.stale.load(Ordering::Relaxed),
        log.unchanged.load(Ordering::Relaxed),
        unfired
    );
    let mut by_step = std::collections::BTreeMap::<&str, usize>::new();
    for f in &steady {
        *by_step.entry(f.step).or_default() += 1;
    }
    eprintln!("escalation_timer: steps that ran out, measured: {by_step:?}");
    assert!(!steady.is_empty(), "steps ran out in steady state");
    assert_eq!(
        log.stale.load(Ordering::Relaxed),
        0,
        "no firing is stale: nobody acknowledges"
    );
    assert_eq!(
        log.unchanged.load(Ordering::Relaxed),
        0,
        "every firing moves its escalation on"
    );
    rows.push(Row::new(
        "steady state: lateness after deadline",
        steady.iter().map(|f| ms(f.started - f.deadline)).collect(),
    ));
    rows.push(Row::new(
        "steady state: handler (load, on_timer, store)",
        steady.iter().map(|f| f.handler.as_secs_f64() * 1000.0).collect(),
    ));

    // ----- restart -----
    let pending_at_stop = timer.pending().len();
    drop(timer);
    drop(store);
    eprintln!(
        "escalation_timer: stopped with {pending_at_stop} pending, store dropped; down for {:?}",
        scale.down
    );
    tokio::time::sleep(scale.down).await;
    let reopened = Instant::now();
    let store = Arc::new(open(dir.path()));
    let opened = reopened.elapsed();
    let timer = Timer::new(SystemClock);
    let entries: Vec<_> = store
        .items::<Escalation>(Tree::Escalations)
        .expect("items")
        .iter()
        .filter_map(|(_, e)| e.timer_entry())
        .collect();
    timer.load(entries.iter().cloned());
    let t_start = Utc::now();
    let ready = reopened.elapsed();
    let overdue: HashSet<Reference> = entries
        .iter()
        .filter(|(_, at, _)| *at <= t_start)
        .map(|(r, _, _)| r.clone())
        .collect();
    let loaded_refs: HashSet<Reference> = entries.iter().map(|(r, _, _)| r.clone()).collect();
    eprintln!(
        "escalation_timer: reopened the store in {opened:.2?}, timer loaded with {} entries after {ready:.2?}; {} overdue",
        entries.len(),
        overdue.len()
    );
    let log = Arc::new(Log::default());
    assert_eq!(
        entries.len(),
        n,
        "each escalation has its deadline after the restart"
    );
    let task = run(store.clone(), timer.clone(), log.clone(), scale.step);
    // Until every entry pending at the restart has fired (each fires once:
    // its next step is a whole step later).
    let latest = entries.iter().map(|e| e.1).max().expect("entries");
    let patience = (latest - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(10);
    let waited = Instant::now();
    loop {
        let fired: HashSet<Reference> = log
            .firings
            .lock()
            .unwrap()
            .iter()
            .map(|f| f.reference.clone())
            .collect();
        if loaded_refs.is_subset(&fired) || waited.elapsed() > patience {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    timer.stop();
    task.await.expect("timer task");
    let firings = log.firings.lock().unwrap().clone();
    let mut seen = HashSet::new();
    let first: Vec<&Firing> = firings
        .iter()
        .filter(|f| loaded_refs.contains(&f.reference) && seen.insert(f.reference.clone()))
        .collect();
    let (late, future): (Vec<&Firing>, Vec<&Firing>) =
        first.iter().partition(|f| overdue.contains(&f.reference));
    eprintln!(
        "escalation_timer: after the restart: {} of {} entries fired, {} stale, {} unchanged",
        first.len(),
        entries.len(),
        log.stale.load(Ordering::Relaxed),
        log.unchanged.load(Ordering::Relaxed)
    );
    assert_eq!(
        first.len(),
        entries.len(),
        "every entry pending at the restart fired"
    );
    assert_eq!(
        log.stale.load(Ordering::Relaxed),
        0,
        "no firing is stale after the restart"
    );
    assert_eq!(
        log.unchanged.load(Ordering::Relaxed),
        0,
        "every firing after the restart moves its escalation on"
    );
    if let Some(f) = late.iter().map(|f| ms(f.started - f.deadline)).reduce(f64::max) {
        eprintln!(
            "escalation_timer: the most overdue entry was {:.1} s past its deadline when it fired",
            f / 1000.0
        );
    }
    rows.push(Row::new(
        "restart (a) overdue: timer start to firing",
        late.iter().map(|f| ms(f.started - t_start)).collect(),
    ));
    rows.push(Row::new(
        "restart (b) still due: lateness after deadline",
        future.iter().map(|f| ms(f.started - f.deadline)).collect(),
    ));
    rows.push(Row::new(
        "restart: handler (load, on_timer, store)",
        first.iter().map(|f| f.handler.as_secs_f64() * 1000.0).collect(),
    ));
    println!(
        "\nescalation_timer: restart: store reopened in {:.1} ms, timer loaded and started {:.1} ms after the reopen began",
        opened.as_secs_f64() * 1000.0,
        ready.as_secs_f64() * 1000.0
    );
    drop(store);
    rows
}

fn main() {
    // `cargo bench` passes --bench; `cargo test` passes nothing.
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full { &FULL } else { &SHORT };
    eprintln!(
        "escalation_timer: {}{} escalations, steps of {:?}, steady state {:?}, down {:?} for the restart",
        if full { "" } else { "short run (without --bench): " },
        scale.n,
        scale.step,
        scale.steady,
        scale.down
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rows = runtime.block_on(async {
        match tokio::time::timeout(scale.patience, bench(scale)).await {
            Ok(rows) => rows,
            Err(_) => {
                eprintln!("escalation_timer: gave up after {:?}", scale.patience);
                std::process::exit(1);
            }
        }
    });
    print_table(&rows);
    runtime.shutdown_timeout(Duration::from_secs(5));
}
