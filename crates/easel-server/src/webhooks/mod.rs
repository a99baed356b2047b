//! Webhooks (issue 7, in progress): where deliveries may go ([`ssrf`]).

pub mod ssrf;
