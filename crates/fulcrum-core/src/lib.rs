//! Fulcrum's shared vocabulary.
//!
//! Owns: small helpers that several crates need and that must be written once — today, time
//! arithmetic that cannot panic. Must not: depend on any other Fulcrum crate, do I/O, or grow
//! into a grab bag; a concept with more than a few functions gets its own crate.

pub mod time;
