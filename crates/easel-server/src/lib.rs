//! Easel's server: the HTTP API, the operator CLI and the background tasks, as a library so
//! the integration tests can start the real thing on an ephemeral port.

#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod data_rights;
pub mod engines;
pub mod health;
pub mod http;
pub mod jobs;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod outputs;
pub mod request_log;
pub mod router;
pub mod server;
pub mod services;
pub mod status;
pub mod wakeups;
pub mod webhooks;
pub mod workers;
