//! The developer console: sign-up, e-mail verification, password reset, and the pages a
//! member of a customer's account uses (overview, keys), each for one account and mode.

pub mod account;
pub mod billing;
pub mod choice;
pub mod data_rights;
pub mod end_users;
pub mod generations;
pub mod invite;
pub mod keys;
pub mod logs;
pub mod member;
pub mod overview;
pub mod password;
pub mod plans;
pub mod playground;
pub mod reports;
pub mod signup;
pub mod terms;
pub mod usage;
pub mod webhooks;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

/// The developer console's routes (behind the console's CSRF check, like every console form).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/signup", get(signup::form).post(signup::submit))
        .route("/console/verify", get(signup::verify))
        .route("/console/verify/resend", post(signup::resend))
        .route(
            "/console/password/forgot",
            get(password::forgot_form).post(password::forgot),
        )
        .route(
            "/console/password/reset",
            get(password::reset_form).post(password::reset),
        )
        .route("/console/switch", post(choice::switch))
        .route("/console/terms", get(terms::form).post(terms::accept))
        .route("/console/invite", get(invite::form).post(invite::accept))
        .route("/console/account", get(account::page))
        .route("/console/account/details", post(account::set_details))
        .route(
            "/console/account/exports",
            post(data_rights::request_export),
        )
        .route(
            "/console/account/erasure",
            post(data_rights::request_erasure),
        )
        .route(
            "/console/account/erasure/cancel",
            post(data_rights::cancel_erasure),
        )
        .route("/console/members/invite", post(account::invite))
        .route("/console/members/{user_id}/role", post(account::set_role))
        .route("/console/members/{user_id}/remove", post(account::remove))
        .route(
            "/console/invitations/{id}/revoke",
            post(account::revoke_invitation),
        )
        .route(
            "/console/sessions/others/revoke",
            post(account::revoke_other_sessions),
        )
        .route("/console/partials/credits", get(overview::credits_partial))
        .route("/console/usage", get(usage::page))
        .route("/console/usage.csv", get(usage::csv))
        .route("/console/billing", get(billing::page))
        .route("/console/billing/checkout", post(billing::checkout))
        .route("/console/plans", get(plans::page))
        .route("/console/plans/subscribe", post(plans::subscribe))
        .route("/console/plans/change", post(plans::change))
        .route("/console/plans/resume", post(plans::resume))
        .route("/console/plans/portal", post(plans::portal))
        .route("/console/invoices/{id}/pdf", get(billing::invoice_pdf))
        .route("/console/logs", get(logs::page))
        .route("/console/logs.csv", get(logs::csv))
        .route("/console/audit", get(logs::audit))
        .route("/console/reports", get(reports::page))
        .route("/console/end_users", get(end_users::list))
        .route("/console/end_users/block", post(end_users::block_new))
        .route("/console/end_users/{user}/block", post(end_users::block))
        .route(
            "/console/end_users/{user}/unblock",
            post(end_users::unblock),
        )
        .route(
            "/console/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/console/webhooks/{id}",
            get(webhooks::show).post(webhooks::update),
        )
        .route("/console/webhooks/{id}/rotate", post(webhooks::rotate))
        .route("/console/webhooks/{id}/test", post(webhooks::send_test))
        .route("/console/webhooks/{id}/delete", post(webhooks::delete))
        .route(
            "/console/webhook_deliveries/{id}/replay",
            post(webhooks::replay),
        )
        .route("/console/generations", get(generations::list))
        .route("/console/generations/{id}", get(generations::show))
        .route(
            "/console/generations/{id}/cancel",
            post(generations::cancel),
        )
        .route(
            "/console/generations/{id}/delete",
            post(generations::delete),
        )
        .route(
            "/console/playground",
            get(playground::form).post(playground::submit),
        )
        .route("/console/keys", get(keys::list).post(keys::create))
        .route("/console/keys/{id}/rotate", post(keys::rotate))
        .route("/console/keys/{id}/revoke", post(keys::revoke))
}
