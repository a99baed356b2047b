//! Integration tests: the real server over HTTP (and the real binary), on SQLite and on
//! PostgreSQL. Every storage behaviour runs on both (`both_backends!`).

mod support;

mod abuse_form;
mod account;
mod auth;
mod authorization_matrix;
mod cli;
mod compliance;
mod connections;
mod console;
mod console_browser;
mod console_csrf;
mod console_generations;
mod console_pages;
mod console_sessions;
mod console_signin;
mod console_signup;
mod content_policy;
mod crash;
mod credits;
mod developers;
mod engines;
mod error_messages;
mod events;
mod generations;
mod http_basics;
mod input_text;
mod invoices;
mod key_permissions;
mod keys;
mod leaked_keys;
mod limits;
mod mail;
mod members;
mod models;
mod moderation;
mod openai_compat;
mod process;
mod s3;
mod stripe;
mod wakeups;
mod webhook_signatures;
mod webhook_urls;
mod webhooks;
mod workers;
