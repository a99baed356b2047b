//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::http::error::{ErrorBody, ErrorCode, ErrorEnvelope, ErrorType};

/// The document's fixed parts; paths are added by the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Easel API",
        description = "Sell AI image and video generation through an HTTP API. Authenticate with \
            `Authorization: Bearer <key>`; test keys (`…_test_…`) and live keys never see each \
            other's data. Every error is `{\"error\": {type, code, message, param, request_id}}`.",
        version = "v1",
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorEnvelope, ErrorBody, ErrorCode, ErrorType)),
    tags(
        (name = "Account", description = "The organisation that owns the key"),
        (name = "API keys", description = "Create, rotate and revoke keys"),
        (name = "Leaked keys", description = "Report keys found in public, without an API key (GitHub secret scanning, or anyone holding one): real ones are revoked"),
        (name = "Audit log", description = "Security-relevant actions"),
        (name = "Members", description = "Who belongs to the organisation, with which role"),
        (name = "Models", description = "What can be generated and what it costs"),
        (name = "Events", description = "State changes, as webhooks deliver them"),
        (name = "Request log", description = "Every API request of the account, for 30 days or more"),
        (name = "Moderation", description = "End users a developer blocks, and abuse reports"),
        (name = "Webhooks", description = "Endpoints events are delivered to, signed per Standard Webhooks, with their delivery logs"),
        (name = "Workers", description = "For the operator's remote GPU workers (`easel worker`), with a worker token from `easel admin worker create`, never an API key: claim jobs under leases, heartbeat, upload outputs, complete or fail"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API key")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "worker_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("Worker token")
                    .build(),
            ),
        );
    }
}

/// Operations whose body may be left out (their handlers take `OptionalJson`): utoipa marks
/// every documented body required, so these are corrected here. A test sends an empty body
/// to every operation and compares the answer with the document.
const OPTIONAL_BODIES: [(&str, &str); 4] = [
    ("POST", "/worker/v1/leases/{lease_id}/heartbeat"),
    ("POST", "/v1/keys/{id}/rotate"),
    ("POST", "/v1/end_users/{user}/block"),
    ("POST", "/v1/webhook_endpoints/{id}/rotate_secret"),
];

/// Marks the configured deprecated operations `deprecated` (clause 14), with their sunset
/// and notice added to the description.
pub fn mark_deprecated(
    openapi: &mut utoipa::openapi::OpenApi,
    deprecations: &[crate::config::DeprecationConfig],
) {
    use utoipa::openapi::Deprecated;
    for d in deprecations {
        let Some(item) = openapi.paths.paths.get_mut(&d.route) else {
            continue;
        };
        let operation = match d.method.to_ascii_uppercase().as_str() {
            "GET" => &mut item.get,
            "POST" => &mut item.post,
            "PUT" => &mut item.put,
            "PATCH" => &mut item.patch,
            "DELETE" => &mut item.delete,
            _ => continue,
        };
        if let Some(op) = operation {
            op.deprecated = Some(Deprecated::True);
            let sunset = crate::cli::output::when(Some(d.sunset_at.div_euclid(1000)));
            let note = format!(
                "\n\n**Deprecated**: removed on {sunset} (410 from then); see {}.",
                d.link
            );
            let before = op.description.take().unwrap_or_default();
            op.description = Some(format!("{before}{note}"));
        }
    }
}

/// Writes each keyed operation's scope (from the one rule table) into its security
/// requirement, so the document says exactly what the server enforces, and marks the
/// optional request bodies.
pub fn apply_rules(openapi: &mut utoipa::openapi::OpenApi) {
    use axum::http::Method;
    use utoipa::openapi::Required;
    use utoipa::openapi::security::SecurityRequirement;

    use crate::auth::rules::{self, Access};

    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::PUT, &mut item.put),
            (Method::PATCH, &mut item.patch),
            (Method::DELETE, &mut item.delete),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation.as_mut() else {
                continue;
            };
            if OPTIONAL_BODIES.contains(&(method.as_str(), path.as_str()))
                && let Some(body) = operation.request_body.as_mut()
            {
                body.required = Some(Required::False);
            }
            match rules::access(&method, path) {
                Some(Access::Scope(scope)) => {
                    operation.security =
                        Some(vec![SecurityRequirement::new("api_key", [scope.as_str()])]);
                }
                Some(Access::Worker) => {
                    operation.security = Some(vec![SecurityRequirement::new(
                        "worker_token",
                        Vec::<String>::new(),
                    )]);
                }
                _ => {}
            }
        }
    }
}
