//! The leads' commands, parsed and applied.
