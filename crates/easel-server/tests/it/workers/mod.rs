//! Remote pull workers: the worker API driven directly (leases, heartbeats, uploads,
//! completion and failure, their nasty cases), and real `easel worker` processes.

mod api;
mod faults;
mod process;
mod s3;
pub mod support;
