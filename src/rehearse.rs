//! Rehearsal in the terminal. (Being written.)
