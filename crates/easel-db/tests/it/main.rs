//! The storage conformance suite: every behaviour the server relies on from `easel_db`,
//! checked through the `Store` traits (plus raw SQL where only the database can tell), on
//! SQLite and on PostgreSQL (`both_backends!`).

mod support;

mod accounts;
mod audit_log;
mod bootstrap;
mod cancellation;
mod changes;
mod concurrency;
mod credentials;
mod credits;
mod deprecated_calls;
mod generations;
mod group_commit;
mod idempotency;
mod invitations;
mod invoices;
mod jobs;
mod keys;
mod leaks;
mod limits;
mod maintenance;
mod members;
mod migrations;
mod moderation;
mod notices;
mod sessions;
mod states;
mod subscriptions;
mod webhooks;
mod workers;
