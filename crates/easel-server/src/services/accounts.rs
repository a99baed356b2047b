//! Account use cases: create (with owner), suspend, unsuspend, terminate, members.

use easel_core::email::Email;
use easel_core::ids::IdKind;
use easel_core::roles::Role;
use easel_core::time::now_ms;
use easel_db::{
    Account, AccountDetails, AuditContext, Member, NewAccount, NewMember, NewUser, StateChange,
    User,
};

use super::{OrNotFound, text};
use crate::app::App;
use crate::config::Config;
use crate::http::error::{ApiError, ApiResult};

/// What creating an account needs; validated by [`create`].
#[derive(Debug, Default, Clone)]
pub struct AccountSpec {
    pub name: String,
    pub legal_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub address: Option<String>,
    pub country: Option<String>,
    pub plan: Option<String>,
    pub owner: UserSpec,
    /// `Some` for a self-service sign-up: live mode waits for it.
    pub live_blocked: Option<easel_core::account::LiveBlock>,
}

/// A person to create: email, optional password, and what sign-up records.
#[derive(Debug, Default, Clone)]
pub struct UserSpec {
    pub email: String,
    pub name: Option<String>,
    pub password: Option<String>,
    /// The person attested being of age (18+).
    pub adult_attested: bool,
    /// The terms version the person accepted, if they did.
    pub terms_accepted: Option<String>,
    /// The address they accepted the terms from (console sign-up).
    pub terms_accepted_ip: Option<String>,
}

/// Validates a person and hashes their password off the async threads.
pub async fn new_user(spec: UserSpec, now: i64) -> ApiResult<NewUser> {
    let email = Email::parse(&spec.email, "email")?.into_inner();
    let name = text::optional("owner_name", spec.name.as_deref(), 200)?;
    let terms_version = text::optional("terms_version", spec.terms_accepted.as_deref(), 50)?;
    let password_hash = match spec.password {
        Some(pw) => Some(
            crate::auth::passwords::hash(pw)
                .await
                .map_err(ApiError::internal)??,
        ),
        None => None,
    };
    Ok(NewUser {
        id: IdKind::User.generate(),
        email,
        name,
        password_hash,
        adult_attested_at: spec.adult_attested.then_some(now),
        terms_accepted_at: terms_version.as_ref().map(|_| now),
        terms_accepted_ip: terms_version
            .as_ref()
            .and(spec.terms_accepted_ip.as_deref())
            .map(|ip| ip.chars().take(64).collect()),
        terms_version,
    })
}

/// Validates and creates an account with its owner.
pub async fn create(
    app: &App,
    spec: AccountSpec,
    audit: AuditContext,
) -> ApiResult<(Account, User)> {
    let now = now_ms();
    let new = validate(&app.config, spec, now).await?;
    let audit = audit
        .with("plan", new.plan.as_str())
        .with("owner_email", new.owner.email.as_str());
    let (account, owner) = app.store.create_account(new, audit).await?;
    // A plan with monthly credits includes this month's from the start.
    super::credits::grant_plan_allowance(app, &account.id, &account.plan, now).await?;
    Ok((account, owner))
}

/// An account's business details as a form or request gives them.
#[derive(Debug, Default, Clone)]
pub struct DetailsSpec {
    pub name: String,
    pub legal_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub address: Option<String>,
    pub country: Option<String>,
}

/// Checks business details; a missing contact address falls back to `fallback_email`.
pub fn check_details(spec: DetailsSpec, fallback_email: &str) -> ApiResult<AccountDetails> {
    let name = text::required("name", &spec.name, 200)?;
    let contact_email = match spec
        .contact_email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        Some(e) => Email::parse(e, "contact_email")?.into_inner(),
        None => fallback_email.to_string(),
    };
    let country = text::optional("country", spec.country.as_deref(), 2)?.map(|c| c.to_uppercase());
    if country
        .as_ref()
        .is_some_and(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(ApiError::invalid(
            "country",
            "`country` must be a two-letter ISO 3166-1 code.",
        ));
    }
    Ok(AccountDetails {
        name,
        legal_name: text::optional("legal_name", spec.legal_name.as_deref(), 200)?,
        contact_email,
        contact_phone: text::optional("contact_phone", spec.contact_phone.as_deref(), 40)?,
        address: text::optional("address", spec.address.as_deref(), 500)?,
        country,
    })
}

/// Validates and sets an account's business details.
pub async fn set_details(
    app: &App,
    account_id: &str,
    spec: DetailsSpec,
    fallback_email: &str,
    audit: AuditContext,
) -> ApiResult<Account> {
    let details = check_details(spec, fallback_email)?;
    app.store
        .set_account_details(account_id, details, audit)
        .await
        .or_not_found("account", account_id)
}

/// Checks every field of an account spec and builds the row to insert.
pub async fn validate(config: &Config, spec: AccountSpec, now: i64) -> ApiResult<NewAccount> {
    let plan = spec.plan.unwrap_or_else(|| config.default_plan.clone());
    if config.plan(&plan).is_none() {
        let have: Vec<&str> = config.plans.keys().map(String::as_str).collect();
        return Err(ApiError::invalid(
            "plan",
            format!(
                "No plan named `{plan}`; configured plans: {}.",
                have.join(", ")
            ),
        ));
    }
    let owner = new_user(spec.owner, now).await?;
    let details = check_details(
        DetailsSpec {
            name: spec.name,
            legal_name: spec.legal_name,
            contact_email: spec.contact_email,
            contact_phone: spec.contact_phone,
            address: spec.address,
            country: spec.country,
        },
        &owner.email,
    )?;
    Ok(NewAccount {
        id: IdKind::Account.generate(),
        name: details.name,
        legal_name: details.legal_name,
        contact_email: details.contact_email,
        contact_phone: details.contact_phone,
        address: details.address,
        country: details.country,
        plan,
        owner,
        now,
        live_blocked: spec.live_blocked,
    })
}

/// Suspends, unsuspends or terminates an account; its keys stop working at once here and
/// within a second on other nodes.
pub async fn change_state(
    app: &App,
    account_id: &str,
    change: StateChange,
    audit: AuditContext,
) -> ApiResult<Account> {
    let audit = match &change {
        StateChange::Suspend { reason, until, .. } => {
            text::required("reason", reason, 500)?;
            if until.is_some_and(|u| u <= now_ms()) {
                return Err(ApiError::invalid("until", "`until` must be in the future."));
            }
            audit.with("reason", reason.as_str()).with("until", *until)
        }
        _ => audit,
    };
    let terminating = matches!(change, StateChange::Terminate);
    let account = app
        .store
        .change_account_state(account_id, change, audit)
        .await
        .or_not_found("account", account_id)?;
    app.auth.invalidate_account(account_id);
    if terminating {
        final_invoice(app, account_id).await;
    }
    Ok(account)
}

/// Termination makes what the account owes due at once (clause 15): this month's usage so
/// far is invoiced now instead of after the month ends (the month-end run then finds it
/// invoiced). A failure is logged and left to that run, which invoices terminated
/// accounts too; termination itself stands either way.
async fn final_invoice(app: &App, account_id: &str) {
    let now = now_ms();
    let period = super::invoices::Period::containing(now);
    match super::invoices::issue(app, account_id, period, now).await {
        Ok(easel_db::InvoiceIssue::Issued(invoice)) => {
            tracing::info!(account.id = account_id, invoice.number = %invoice.number, "final invoice issued at termination");
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(account.id = account_id, error = ?e.message, "could not issue the final invoice at termination; the month-end run will");
        }
    }
}

/// Adds a member by email (creating the user if new).
pub async fn add_member(
    app: &App,
    account_id: &str,
    user: UserSpec,
    role: Role,
    audit: AuditContext,
) -> ApiResult<Member> {
    let now = now_ms();
    let user = new_user(user, now).await?;
    app.store
        .add_member(account_id, NewMember { user, role, now }, audit)
        .await
        .or_not_found("account", account_id)
}

/// A member of an account, or 404.
pub async fn find_member(app: &App, account_id: &str, user_id: &str) -> ApiResult<Member> {
    if !easel_core::ids::IdKind::User.is_valid(user_id) {
        return Err(ApiError::not_found("member", user_id));
    }
    let members = app.store.list_members(account_id).await?;
    members
        .into_iter()
        .find(|m| m.user_id == user_id)
        .ok_or_else(|| ApiError::not_found("member", user_id))
}

/// Only an owner may grant the owner role or change or remove an owner (ownership
/// transfer); `current` is the member's role now (None for a new member). The rule is
/// `Role::may_manage`, the same one that decides whose keys a member may revoke; the route
/// already required `members:write`, so only the owner part can fail here.
pub fn check_owner_rights(actor: Role, current: Option<Role>, new: Role) -> ApiResult<()> {
    let manages = actor.may_manage(new) && current.is_none_or(|c| actor.may_manage(c));
    if !manages {
        return Err(ApiError::new(
            crate::http::error::ErrorCode::insufficient_role,
            "Only an owner can grant the owner role or change or remove an owner.",
        )
        .param("role"));
    }
    Ok(())
}

/// Changes a member's role; their keys' rights change with it.
pub async fn set_role(
    app: &App,
    account_id: &str,
    user_id: &str,
    role: Role,
    audit: AuditContext,
) -> ApiResult<Member> {
    let member = app
        .store
        .set_member_role(account_id, user_id, role, audit)
        .await
        .or_not_found("member", user_id)?;
    app.auth.invalidate_account(account_id);
    Ok(member)
}

/// Removes a member and revokes their keys.
pub async fn remove_member(
    app: &App,
    account_id: &str,
    user_id: &str,
    audit: AuditContext,
) -> ApiResult<()> {
    app.store
        .remove_member(account_id, user_id, audit)
        .await
        .or_not_found("member", user_id)?;
    app.auth.invalidate_account(account_id);
    Ok(())
}
