//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod core_world;
pub mod logs;
pub mod matrix;
pub mod memchat;
pub mod notifier;
pub mod person;
pub mod process;
pub mod proxy;
pub mod slack;
pub mod smtp;
pub mod twilio;
pub mod world;

pub use logs::{captured_log, init_log_capture};

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use safeguarding_bot::concern::{ConcernRecord, FieldAnswer, Reference, Status};
use safeguarding_bot::conversation::{self, Action, Conversation, Step};
use safeguarding_bot::flow::{self, Flow};

pub const CLAPA: &str = "conversations/online-safety-referral.toml";
pub const CAUK: &str = "conversations/cauk-online-safety.toml";

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn load(rel: &str) -> Flow {
    match flow::load_file(&repo_path(rel)) {
        Ok(f) => f,
        Err(e) => panic!("{rel} should load: {e}"),
    }
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
        .single()
        .expect("valid time")
}

/// A conversation driven message by message, keeping every step.
pub struct Talk<'f> {
    pub flow: &'f Flow,
    pub conv: Conversation,
    pub steps: Vec<Step>,
    pub now: DateTime<Utc>,
}

impl<'f> Talk<'f> {
    pub fn start(flow: &'f Flow) -> Self {
        let now = t0();
        let first = conversation::start(flow, Reference::new(42), "@sam:example.org", now);
        Talk {
            flow,
            conv: first.conversation.clone(),
            steps: vec![first],
            now,
        }
    }

    pub fn say(&mut self, message: &str) -> &Step {
        self.now += chrono::Duration::seconds(20);
        let step = conversation::step(self.flow, self.conv.clone(), message, self.now);
        self.conv = step.conversation.clone();
        self.steps.push(step);
        self.steps.last().expect("just pushed")
    }

    pub fn last(&self) -> &Step {
        self.steps.last().expect("a conversation has a first step")
    }

    pub fn last_reply(&self) -> String {
        self.last().replies().collect::<Vec<_>>().join("\n---\n")
    }

    /// Every record saved so far, in order.
    pub fn saved(&self) -> Vec<ConcernRecord> {
        self.steps
            .iter()
            .flat_map(|s| s.actions.iter())
            .filter_map(|a| match a {
                Action::Save(r) => Some((**r).clone()),
                _ => None,
            })
            .collect()
    }

    pub fn actions(&self) -> Vec<Action> {
        self.steps
            .iter()
            .flat_map(|s| s.actions.iter().cloned())
            .collect()
    }
}

/// An answer for each record question: the first choice, or a distinct text.
pub fn answer_record(talk: &mut Talk) {
    let fields = talk.flow.record.clone();
    for (i, field) in fields.iter().enumerate() {
        let answer = if field.options.is_empty() {
            format!("answer {i} for {}", field.id)
        } else {
            "1".to_string()
        };
        talk.say(&answer);
    }
}

/// The store's sled database opened bare, to alter it behind the store's
/// back. sled lets go of its lock from a background thread a moment after
/// the store is dropped, so this waits for it as `Store::open` does.
pub fn raw_sled(dir: &std::path::Path) -> sled::Db {
    for _ in 0..250 {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(e) => panic!("sled opens {}: {e}", dir.display()),
        }
    }
    panic!("{} is still locked after 5 seconds", dir.display())
}

/// A submitted concern as the store keeps it: SG-`n` by "@staff:example.org"
/// through the "online-safety" flow, no route, and one answer, "What
/// happened", holding `words` (a unique phrase to search for).
pub fn concern_record(n: u64, started: DateTime<Utc>, words: &str) -> ConcernRecord {
    ConcernRecord {
        reference: Reference::new(n),
        status: Status::Submitted,
        reporter: "@staff:example.org".into(),
        flow_id: "online-safety".into(),
        flow_version: "1".into(),
        flow_digest: "ab".repeat(32),
        started_at: started,
        recorded_at: started,
        decisions: vec![],
        route: None,
        fields: vec![FieldAnswer {
            field_id: "what".into(),
            label: "What happened".into(),
            value: Some(words.into()),
            verbatim: true,
        }],
        urgent: false,
    }
}
