//! The worker API (`/worker/v1`): remote GPU workers claim jobs under leases, heartbeat,
//! upload outputs and complete or fail, with a worker token.

pub mod dto;
