//! Moderation: what goes into the models and what comes out of them.
//!
//! Output moderation ([`output`]) asks an operator-run hook about every generation's
//! outputs before the generation may succeed.

pub mod output;
