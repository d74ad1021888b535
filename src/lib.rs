//! safeguarding-bot: online-safety concerns reported in a charity's staff
//! chat, guided by the organisation's referral flowchart, recorded with care
//! and escalated to the Designated Safeguarding Lead.
//!
//! # Layout
//!
//! The core decides and keeps; it depends on no chat SDK. A transport (Matrix
//! or Slack; the config says which) turns its events into [`bot::Inbound`]s and implements
//! [`bot::Chat`]; the core does everything else through that trait.
//!
//! - [`cli`]: the command line, its help and what each subcommand does.
//! - [`clock`]: where the time comes from; the core and the store read it
//!   from the clock they are given (the system's, or a test's).
//! - [`concern`]: the record of a concern and its reference (`SG-0042`).
//! - [`config`]: the TOML config file, checked into types that can't be wrong.
//! - [`flow`]: flowcharts as data: the model, the loader that validates a
//!   TOML file and reports every problem with its line, and graph output.
//! - [`conversation`]: the intake dialogue, a pure `step(flow, state, input, now)`
//!   returning the new state and the actions to carry out.
//! - [`store`]: sled on disk: concerns encrypted at rest, conversations in
//!   progress, the append-only audit log, the schema version, the outbox,
//!   and [`store::Batch`]: writes committed at once (kept whole until
//!   all are made, so a crash leaves all or none), waiting for a flush
//!   shared with every commit waiting at the time (group commit).
//! - [`intake`]: the conversation joined to the store, for any transport:
//!   what to keep, then what to send.
//! - [`escalation`]: who was paged for a concern and who acknowledged; pure
//!   decisions with the clock passed in.
//! - [`casework`]: what the leads do after a report: append-only notes,
//!   actions, decisions with reasons, category, status and outcome; the
//!   leads' commands; one concern's view and chronology.
//! - [`export`]: one concern as Markdown, HTML or PDF, to send with a referral.
//! - [`bot`]: the core that every chat shares: routing an event to intake,
//!   paging, acknowledgement, the rota, casework or the reporter's
//!   commands; one worker per sender; the timer, retention and the unfinished
//!   sweep; every message it sends ([`bot::compose`]); the durable outbox
//!   ([`bot::outbox`]) that carries out each effect once, in order per room,
//!   kept in the same commit as the decision that caused it.
//!   [`bot::host`] runs either chat with one lifecycle: a transport
//!   ([`bot::Transport`]) signs in, hands the core a [`bot::Chat`], and
//!   takes the chat's events in until a stop; it never sees the store,
//!   only the small memory the core hands it ([`bot::Memo`]).
//! - [`matrix`]: the Matrix adapter (matrix-sdk): the session, the sync
//!   loop, events in, and [`bot::Chat`] for Matrix. No casework, paging,
//!   retention or notices.
//! - [`slack`]: the Slack adapter (slack-morphism): Socket Mode in, the
//!   Web API out, `/report` answered only to the reporter, who may report,
//!   questions' choices as buttons, the optional report form (a modal), and
//!   [`bot::Chat`] for Slack. No casework, paging or retention either.
//! - [`health`]: the optional `/healthz` and `/metrics` listener (axum on
//!   hyper), the counters behind it (prometheus-client, OpenMetrics text),
//!   and the self-watch that notices when the homeserver is out of reach.
//! - [`notify`]: pages outside the chat: SMS and email, the [`notify::Notifier`]
//!   that sends them, and the replies that come back.
//! - [`rehearse`]: walks a flow in the terminal with the same engine, so a
//!   lead can try a policy change before deploying it.

pub mod bot;
pub mod casework;
pub mod cli;
pub mod clock;
pub mod concern;
pub mod config;
pub mod conversation;
pub mod escalation;
pub mod export;
pub mod flow;
pub mod health;
pub mod intake;
pub mod matrix;
pub mod notify;
pub mod rehearse;
pub mod slack;
pub mod store;
