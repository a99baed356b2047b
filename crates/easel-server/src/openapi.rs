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
    }
}
