//! The flow as a chart a lead can read. (Stub: being written.)

use super::model::Flow;

pub fn mermaid(_flow: &Flow) -> String {
    String::new()
}

pub fn dot(_flow: &Flow) -> String {
    String::new()
}
