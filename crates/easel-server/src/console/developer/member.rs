//! The signed-in member: their session, the account and mode they are looking at (two
//! cookies, checked against their memberships on every request), and the API's `Caller`
//! for them, so every page and form goes through the same role and scope rules as the API
//! (`Caller::require`).

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use easel_core::account::AccountState;
use easel_core::mode::Mode;
use easel_core::roles::{Role, Scope};
use easel_db::{Account, Membership, PrincipalKind, User};
use minijinja::context;

use crate::app::AppState;
use crate::auth::{Caller, Via};
use crate::console::pages::render;
use crate::console::session;
use crate::http::error::ApiError;
use crate::http::middleware::RequestId;

/// Which account the member looks at (an account id; checked against their memberships).
pub const ACCOUNT_COOKIE: &str = "easel_account";
/// Test or live.
pub const MODE_COOKIE: &str = "easel_mode";
/// A year: the choice outlives sessions, like Stripe's.
pub const CHOICE_MS: i64 = 365 * 86_400_000;

/// A member signed in to the developer console.
pub struct Member {
    pub user: User,
    /// Their accounts that are not terminated.
    pub memberships: Vec<Membership>,
    pub account: Account,
    pub role: Role,
    pub mode: Mode,
    /// The CSRF token of this session.
    pub csrf: String,
    /// The hash that identifies this session (kept by "sign out other sessions").
    pub session_id_hash: String,
    /// The terms in force and the next version announced.
    pub terms: crate::services::terms::Terms,
    /// Maintenance windows not over yet (every page shows them).
    pub maintenance: Vec<easel_db::Maintenance>,
    /// The API's caller for this member, account and mode.
    pub caller: Caller,
}

impl Member {
    /// Fails as the API would when the member's role does not allow `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        self.caller.require(scope)
    }

    /// Whether the member's role allows `scope` (to hide what they cannot use).
    pub fn may(&self, scope: Scope) -> bool {
        self.caller.require(scope).is_ok()
    }

    /// What the layout needs: who, which account and mode, the accounts to switch to, the
    /// notices every page shows, and which sections the role opens.
    pub fn layout(&self, section: &str) -> minijinja::Value {
        let accounts: Vec<_> = self
            .memberships
            .iter()
            .map(|m| context! { id => m.account.id, name => m.account.name, role => m.role.as_str() })
            .collect();
        let suspended = self.account.state == AccountState::Suspended;
        context! {
            section => section,
            csrf => self.csrf,
            email => self.user.email,
            account => context! { id => self.account.id, name => self.account.name },
            accounts => accounts,
            role => self.role.as_str(),
            live => self.mode.is_live(),
            live_blocked => self.account.live_blocked.map(|b| b.as_str()),
            live_blocked_message => self.account.live_blocked.map(|b| b.message()),
            suspended => suspended,
            suspended_reason => self.account.suspended_reason,
            may_keys => self.may(Scope::KeysRead),
            may_generations => self.may(Scope::GenerationsRead),
            may_billing => self.may(Scope::BillingRead),
            may_webhooks => self.may(Scope::WebhooksRead),
            may_logs => self.may(Scope::LogsRead),
            may_account => self.may(Scope::AccountRead),
            maintenance => self.maintenance.iter().map(|w| {
                let at = |ms: i64| crate::cli::output::when(Some(ms.div_euclid(1000)));
                context! {
                    id => w.id,
                    starts => at(w.starts_at),
                    ends => at(w.ends_at),
                    active => w.starts_at <= easel_core::time::now_ms(),
                    message => w.message,
                    components => w.components.join(", "),
                    emergency => w.emergency,
                }
            }).collect::<Vec<_>>(),
            terms_upcoming => self.terms.upcoming.as_ref().map(|t| context! {
                version => t.version,
                date => crate::cli::output::day(t.effective_at),
                summary => t.summary,
            }),
        }
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let (session, id_hash) = session::live(parts, state).await?;
        Member::from_session(state, session, &id_hash, parts).await
    }
}

impl Member {
    /// The member a live `session` signs in, looking at the account and mode the request's
    /// cookies choose. An operator's session is sent to their own console.
    pub async fn from_session(
        state: &AppState,
        session: easel_db::ConsoleSession,
        id_hash: &str,
        parts: &Parts,
    ) -> Result<Member, Response> {
        if session.principal.kind != PrincipalKind::User {
            // The operator's own console.
            return Err(Redirect::to("/console").into_response());
        }
        let user_id = session.principal.id;
        let (user, memberships) = match tokio::try_join!(
            state.store.get_user(&user_id),
            state.store.memberships(&user_id)
        ) {
            Ok(found) => found,
            Err(easel_db::DbError::NotFound) => {
                return Err(Redirect::to("/console/login").into_response());
            }
            Err(e) => return Err(ApiError::from(e).into_response()),
        };
        // New terms in force that this person has not accepted: they accept them first
        // (clause 18); signing out stays possible.
        let (terms, maintenance) = tokio::try_join!(
            crate::services::terms::now(state),
            crate::services::maintenance::upcoming(state)
        )
        .map_err(IntoResponse::into_response)?;
        let exempt = matches!(
            parts.uri.path(),
            "/console/terms" | "/console/logout" | "/console/logout/everywhere"
        );
        if terms.announced
            && user.terms_version.as_deref() != Some(terms.current.as_str())
            && !exempt
        {
            return Err(Redirect::to("/console/terms").into_response());
        }
        let memberships: Vec<Membership> = memberships
            .into_iter()
            .filter(|m| m.account.state != AccountState::Terminated)
            .collect();
        let chosen = session::cookie_value(state, &parts.headers, ACCOUNT_COOKIE);
        let Some(current) = memberships
            .iter()
            .find(|m| Some(&m.account.id) == chosen.as_ref())
            .or_else(|| memberships.first())
            .cloned()
        else {
            let ctx = context! {
                message => "You are not a member of any account any more. Ask an owner to invite you again.",
            };
            return Err(render(StatusCode::FORBIDDEN, "refused.html", ctx));
        };
        let mode = match session::cookie_value(state, &parts.headers, MODE_COOKIE).as_deref() {
            Some("live") => Mode::Live,
            _ => Mode::Test,
        };
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let caller = Caller {
            via: Via::Console,
            key_id: String::new(),
            account_id: current.account.id.clone(),
            user_id: user.id.clone(),
            mode,
            role: current.role,
            key_scopes: Scope::ALL.to_vec(),
            plan: current.account.plan.clone(),
            allowed_models: None,
            spend_cap: None,
            account_limits: current.account.limits,
            cooldown_until: None,
            request_id,
        };
        Ok(Member {
            user,
            memberships,
            role: current.role,
            account: current.account,
            mode,
            csrf: crate::console::csrf::session_token(state, id_hash),
            session_id_hash: id_hash.to_string(),
            terms,
            maintenance,
            caller,
        })
    }
}
