//! Webhooks (issue 7, in progress): where deliveries may go ([`ssrf`]), how they are
//! signed ([`signature`]) and when a failed one is tried again ([`schedule`]).

pub mod schedule;
pub mod signature;
pub mod ssrf;
