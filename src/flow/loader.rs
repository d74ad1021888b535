//! Reads a flow file and validates it. (Stub: being written.)

use std::fmt;
use std::path::Path;

use super::model::Flow;

/// What kind of mistake a flow file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    Syntax,
    UnknownKey,
    MissingKey,
    BadValue,
    DuplicateId,
    UnknownTarget,
    Unreachable,
    NoOutcome,
    NoOptions,
}

/// One mistake in a flow file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub kind: ProblemKind,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("cannot read the flow file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has {} problem(s):\n{}", .file, .problems.len(), .problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid { file: String, problems: Vec<Problem> },
}

pub fn load_file(path: &Path) -> Result<Flow, FlowError> {
    let text = std::fs::read_to_string(path).map_err(|source| FlowError::Read {
        path: path.display().to_string(),
        source,
    })?;
    load_str(&text, &path.display().to_string())
}

pub fn load_str(_text: &str, source: &str) -> Result<Flow, FlowError> {
    Err(FlowError::Invalid {
        file: source.to_string(),
        problems: vec![],
    })
}
