//! Retention: closed concerns deleted after the period the organisation sets.
