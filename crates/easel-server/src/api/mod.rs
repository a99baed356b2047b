//! The public HTTP API, versioned under `/v1`.

pub mod v1;
pub mod worker;
