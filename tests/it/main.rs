//! The integration tests, as one test binary, so that matrix-sdk and the
//! rest are linked once rather than once per file. Each module below was a
//! test binary of its own; `common` is what they share (a real Synapse and
//! people on it, the Slack stand-in, the in-memory chat, a fault-injecting
//! proxy). Run one module's tests with `cargo test --test it slack_e2e::`.
//!
//! libtest runs the tests of every module side by side in this one process,
//! so nothing a test sets up is process-wide: each test makes its own people,
//! rooms, stand-in, store and data directory, and what its bots log is kept
//! for it alone (`common::logs`).
//!
//! Against the real Synapse: `casework_e2e`, `crash`, `full_disk`,
//! `health_e2e`, `matrix_e2e`, `messy_rooms_e2e`, `outbox_e2e`,
//! `paging_e2e`, `sync_gap_e2e`. Against the Slack stand-in: `slack_e2e`,
//! `paging_slack_e2e` (and `slack_standin`, the stand-in itself checked
//! against slack-morphism). Against the Twilio stand-in and a real SMTP
//! server (aiosmtpd): `notify_edges`. The rest run the core, the store or the command
//! line on their own; `upgrade` runs them on a data directory the last
//! release wrote.
#![recursion_limit = "256"]

mod common;

mod casework_e2e;
mod cli;
mod conversation_behaviour;
mod conversation_fuzz;
mod conversation_paths;
mod core;
mod crash;
mod demo_script;
mod deploy_files;
mod escalation_policy;
mod export;
mod flow_validation;
mod full_disk;
mod health_e2e;
mod intake;
mod matrix_e2e;
mod messy_rooms_e2e;
mod notify_e2e;
mod notify_edges;
mod notify_slack_e2e;
mod outbox_e2e;
mod pager;
mod paging_e2e;
mod paging_slack_e2e;
mod retention;
mod room_check;
mod slack_e2e;
mod slack_standin;
mod stats;
mod store;
mod sync_gap_e2e;
mod upgrade;
