//! Flowcharts as data.
//!
//! A flow is a TOML file (see `conversations/`). [`load_file`] parses and
//! validates it, reporting every problem at once with its file and line;
//! only a flow that passes is returned, so a broken flow never runs.

mod graph;
mod loader;
mod model;
mod validate;

pub use graph::{dot, mermaid};
pub use loader::{load_file, load_str, FlowError, Problem, ProblemKind};
pub use model::*;

/// The version of the flowchart file format (`conversations/*.toml`) this
/// build reads. It goes up when a file written for a newer build would not
/// load in an older one; `safeguarding-bot --version` shows it.
pub const FORMAT_VERSION: u32 = 1;
