//! `/v1/end_users`: the developer's own users (the opaque `user` of requests) that were
//! struck by moderation or blocked. A blocked end user's generation requests get 403
//! `end_user_blocked`.

pub mod block;
pub mod dto;
pub mod get;
pub mod list;
pub mod unblock;
