//! The API's authorization rules, in one place.
//!
//! [`ROUTES`] says, for every route of the API, whether it takes a key and which scope it
//! needs; the limits middleware enforces it for every request (after the key is
//! authenticated and the rate limits admit the request, before the handler runs), and the
//! OpenAPI document shows each operation's scope from the same table. A route missing here
//! is refused, and a test walks `/openapi.json` so none can be forgotten.
//!
//! Object-level rules, which need the object, live beside it: what a member may do to
//! another member's API key ([`key_action`]) follows the same role order as managing that
//! member (`Role::may_manage`).

use axum::http::Method;
use easel_core::roles::{Role, Scope};

use crate::http::error::{ApiError, ApiResult, ErrorCode};

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No API key: the route carries its own proof (a signature, a signed URL).
    Keyless,
    /// Anyone, with or without a key (a key, if sent, must be valid).
    KeyOptional,
    /// A key whose scopes and member's role both allow this scope.
    Scope(Scope),
    /// A worker token, never an API key: the worker API, outside the API's middleware,
    /// authenticated by its own extractor (`api::worker::auth`).
    Worker,
}

/// Every API route: method, path template (as the router and `/openapi.json` spell it), and
/// what it asks of its caller.
pub const ROUTES: &[(Method, &str, Access)] = {
    use Access::{KeyOptional, Keyless, Scope as S, Worker};
    use Scope::*;
    &[
        (Method::GET, "/v1/account", S(AccountRead)),
        (Method::GET, "/v1/account/members", S(AccountRead)),
        // The owner's data rights. Handlers also ask for the owner role and a key that
        // holds every scope (`data_rights::require_owner`); a request needs the one write
        // scope only owners and admins hold.
        (Method::GET, "/v1/account/exports", S(AccountRead)),
        (Method::POST, "/v1/account/exports", S(MembersWrite)),
        (Method::GET, "/v1/account/exports/{id}", S(AccountRead)),
        (Method::GET, "/v1/account/exports/{id}/download", Keyless),
        (Method::POST, "/v1/account/erasure", S(MembersWrite)),
        (Method::POST, "/v1/account/members", S(MembersWrite)),
        (
            Method::PATCH,
            "/v1/account/members/{user_id}",
            S(MembersWrite),
        ),
        (
            Method::DELETE,
            "/v1/account/members/{user_id}",
            S(MembersWrite),
        ),
        (Method::GET, "/v1/keys", S(KeysRead)),
        (Method::POST, "/v1/keys", S(KeysWrite)),
        (Method::GET, "/v1/keys/{id}", S(KeysRead)),
        (Method::DELETE, "/v1/keys/{id}", S(KeysWrite)),
        (Method::POST, "/v1/keys/{id}/rotate", S(KeysWrite)),
        (Method::GET, "/v1/audit_log", S(LogsRead)),
        (Method::GET, "/v1/models", S(GenerationsRead)),
        (Method::GET, "/v1/events", S(WebhooksRead)),
        (Method::GET, "/v1/generations", S(GenerationsRead)),
        (Method::POST, "/v1/generations", S(GenerationsWrite)),
        // A quote reads prices, balance and queue; it holds and queues nothing.
        (Method::POST, "/v1/generations/quote", S(GenerationsRead)),
        (Method::GET, "/v1/generations/{id}", S(GenerationsRead)),
        (Method::DELETE, "/v1/generations/{id}", S(GenerationsWrite)),
        (
            Method::POST,
            "/v1/generations/{id}/cancel",
            S(GenerationsWrite),
        ),
        (Method::GET, "/v1/outputs/{generation_id}/{file}", Keyless),
        (Method::POST, "/v1/images/generations", S(GenerationsWrite)),
        (Method::POST, "/v1/moderations", S(GenerationsWrite)),
        (Method::POST, "/v1/images/edits", S(GenerationsWrite)),
        (Method::GET, "/v1/ledger", S(BillingRead)),
        (Method::GET, "/v1/balance", S(BillingRead)),
        (Method::GET, "/v1/usage", S(BillingRead)),
        (Method::GET, "/v1/invoices", S(BillingRead)),
        (Method::GET, "/v1/invoices/{id}", S(BillingRead)),
        (Method::GET, "/v1/invoices/{id}/pdf", S(BillingRead)),
        (Method::GET, "/v1/requests", S(LogsRead)),
        (Method::GET, "/v1/end_users", S(LogsRead)),
        (Method::GET, "/v1/end_users/{user}", S(LogsRead)),
        // Cutting off one of the developer's own users is part of running generations.
        (
            Method::POST,
            "/v1/end_users/{user}/block",
            S(GenerationsWrite),
        ),
        (
            Method::POST,
            "/v1/end_users/{user}/unblock",
            S(GenerationsWrite),
        ),
        (Method::POST, "/v1/abuse_reports", KeyOptional),
        (Method::GET, "/v1/webhook_endpoints", S(WebhooksRead)),
        (Method::POST, "/v1/webhook_endpoints", S(WebhooksWrite)),
        (Method::GET, "/v1/webhook_endpoints/{id}", S(WebhooksRead)),
        (
            Method::PATCH,
            "/v1/webhook_endpoints/{id}",
            S(WebhooksWrite),
        ),
        (
            Method::DELETE,
            "/v1/webhook_endpoints/{id}",
            S(WebhooksWrite),
        ),
        (
            Method::POST,
            "/v1/webhook_endpoints/{id}/rotate_secret",
            S(WebhooksWrite),
        ),
        (
            Method::GET,
            "/v1/webhook_endpoints/{id}/deliveries",
            S(WebhooksRead),
        ),
        (Method::GET, "/v1/webhook_deliveries/{id}", S(WebhooksRead)),
        (
            Method::POST,
            "/v1/webhook_deliveries/{id}/replay",
            S(WebhooksWrite),
        ),
        (Method::POST, "/v1/payments/stripe/webhook", Keyless),
        // Whoever holds a leaked secret may report it; a report reveals nothing.
        (Method::POST, "/v1/leaked_keys", Keyless),
        (Method::POST, "/v1/secret_scanning/github", Keyless),
        (Method::GET, "/worker/v1/me", Worker),
        (Method::POST, "/worker/v1/claim", Worker),
        (
            Method::POST,
            "/worker/v1/leases/{lease_id}/heartbeat",
            Worker,
        ),
        (
            Method::POST,
            "/worker/v1/leases/{lease_id}/complete",
            Worker,
        ),
        (Method::POST, "/worker/v1/leases/{lease_id}/fail", Worker),
        (
            Method::PUT,
            "/worker/v1/leases/{lease_id}/outputs/{index}",
            Worker,
        ),
        (Method::GET, "/worker/v1/leases/{lease_id}/input", Worker),
    ]
};

/// What `method` on the route template `route` asks of its caller; `None` for a route with
/// no rule, which the middleware refuses.
pub fn access(method: &Method, route: &str) -> Option<Access> {
    // HEAD is answered by the GET route.
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    ROUTES
        .iter()
        .find(|(m, path, _)| m == method && *path == route)
        .map(|(_, _, access)| *access)
}

/// Something a member may do to an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    /// Give it a new secret, which the response reveals.
    Rotate,
    /// Revoke it.
    Revoke,
}

/// Whether the member `actor` (with `actor_role`) may do `action` to a key that acts for
/// `owner`, whose role is `owner_role` (`None`: they have left the account).
///
/// Anyone may act on their own keys. Rotating someone else's key is never allowed: the
/// response carries the new secret, which would let the caller act as that member.
/// Revoking someone else's key is allowed to those who may manage that member (owners
/// everyone, admins everyone but owners).
pub fn key_action(
    actor: &str,
    actor_role: Role,
    owner: &str,
    owner_role: Option<Role>,
    action: KeyAction,
) -> ApiResult<()> {
    if actor == owner {
        return Ok(());
    }
    match action {
        KeyAction::Rotate => Err(ApiError::new(
            ErrorCode::key_of_another_member,
            "This key acts for another member; only they can rotate it (a rotation reveals the new secret). You may revoke it if you manage them.",
        )),
        KeyAction::Revoke => {
            // A departed member's key no longer authenticates; anyone who manages members
            // may still tidy it up.
            let target = owner_role.unwrap_or(Role::Viewer);
            if actor_role.may_manage(target) {
                Ok(())
            } else {
                Err(ApiError::new(
                    ErrorCode::key_of_another_member,
                    format!(
                        "This key acts for a member with the `{}` role, whom your `{}` role cannot manage.",
                        target.as_str(),
                        actor_role.as_str()
                    ),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_one_rule() {
        for (i, (m, path, _)) in ROUTES.iter().enumerate() {
            let twins = ROUTES.iter().filter(|(m2, p2, _)| m2 == m && p2 == path);
            assert_eq!(twins.count(), 1, "{m} {path} twice");
            let worker = matches!(ROUTES[i].2, Access::Worker);
            assert!(
                path.starts_with(if worker { "/worker/v1/" } else { "/v1/" }),
                "{path} (rule {i})"
            );
        }
        assert_eq!(
            access(&Method::HEAD, "/v1/keys"),
            Some(Access::Scope(Scope::KeysRead))
        );
        assert_eq!(access(&Method::PUT, "/v1/keys"), None);
    }

    #[test]
    fn changes_need_write_scopes() {
        // Reading is GET; a POST that only reads is the one named exception.
        for (m, path, access) in ROUTES {
            if let Access::Scope(scope) = access {
                let reads = *m == Method::GET || *path == "/v1/generations/quote";
                assert_eq!(scope.is_read(), reads, "{m} {path} needs {scope:?}");
            }
        }
    }

    #[test]
    fn rotation_is_for_the_keys_own_member_only() {
        for role in Role::ALL {
            assert!(key_action("user_a", role, "user_a", Some(role), KeyAction::Rotate).is_ok());
            for other in Role::ALL {
                let e = key_action("user_a", role, "user_b", Some(other), KeyAction::Rotate);
                assert_eq!(
                    e.err().map(|e| e.code),
                    Some(ErrorCode::key_of_another_member)
                );
            }
        }
    }

    #[test]
    fn revoking_follows_the_member_role_order() {
        use Role::*;
        // (actor, owner of the key, allowed)
        let table = [
            (Owner, Owner, true),
            (Owner, Admin, true),
            (Owner, Viewer, true),
            (Admin, Owner, false),
            (Admin, Admin, true),
            (Admin, Developer, true),
            (Developer, Owner, false),
            (Developer, Admin, false),
            (Developer, Developer, false),
            (Developer, Viewer, false),
            (Viewer, Viewer, false),
        ];
        for (actor, owner, allowed) in table {
            let r = key_action("user_a", actor, "user_b", Some(owner), KeyAction::Revoke);
            assert_eq!(r.is_ok(), allowed, "{actor:?} revoking {owner:?}'s key");
        }
        assert!(key_action("user_a", Admin, "user_b", None, KeyAction::Revoke).is_ok());
        assert!(key_action("user_a", Developer, "user_b", None, KeyAction::Revoke).is_err());
    }
}
