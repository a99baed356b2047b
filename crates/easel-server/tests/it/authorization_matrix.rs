//! The authorization matrix: every keyed operation of `/openapi.json` (walked, so a new
//! route cannot be forgotten) × every role × keys holding exactly one scope, against the
//! caller's own objects, another account's, the other mode's and a suspended account, plus
//! key actions on other members' keys. Each answer must be the one the rules say: allowed
//! (never 401, 403 or 404, never a 5xx), 403 with the right code, or 404 for objects the
//! caller may not see. The expected scope of each operation is read from the document,
//! which the server writes from its one rule table (`auth::rules`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use easel_core::mode::Mode;
use easel_core::roles::{Action, Role, Scope};
use easel_test_utils::{TestDb, both_backends};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::support::{Res, TestApp, eventually};

/// How many requests run at once.
const PARALLEL: usize = 12;

/// What an operation asks of its caller, as `/openapi.json` declares it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Declared {
    Keyless,
    KeyOptional,
    Scope(Scope),
    /// The worker API: a worker token, which no API key is.
    Worker,
}

/// One operation of the document.
#[derive(Debug, Clone)]
struct Op {
    method: String,
    route: String,
    declared: Declared,
    body_required: bool,
    /// The body is a `multipart/form-data` form rather than JSON.
    multipart: bool,
}

/// The operations of the served document.
async fn operations(app: &TestApp) -> Vec<Op> {
    let doc = app
        .send(app.raw(reqwest::Method::GET, "/openapi.json"))
        .await
        .expect(200)
        .body;
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    assert!(
        paths.len() > 30,
        "too few paths in the document: {}",
        paths.len()
    );
    let mut ops = Vec::new();
    for (route, item) in paths {
        for (method, op) in item.as_object().cloned().unwrap_or_default() {
            let security = op["security"].as_array().cloned().unwrap_or_default();
            let keyless = security
                .iter()
                .any(|s| s.as_object().is_some_and(|o| o.is_empty()));
            let scopes: Vec<&str> = security
                .iter()
                .filter_map(|s| s["api_key"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let worker = security.iter().any(|s| s.get("worker_token").is_some());
            let declared = match (keyless, scopes.as_slice()) {
                (false, []) if worker && security.len() == 1 => Declared::Worker,
                (true, []) if security.len() == 1 => Declared::Keyless,
                (true, []) => Declared::KeyOptional,
                (false, [scope]) => Declared::Scope(
                    Scope::parse(scope).unwrap_or_else(|| panic!("{route}: scope {scope}")),
                ),
                _ => {
                    panic!("{method} {route}: the document declares no single scope: {security:?}")
                }
            };
            ops.push(Op {
                method: method.to_uppercase(),
                route: route.clone(),
                declared,
                body_required: op["requestBody"]["required"] == true,
                multipart: op["requestBody"]["content"]
                    .get("multipart/form-data")
                    .is_some(),
            });
        }
    }
    ops
}

/// The objects of one account in one mode that routes name by id.
#[derive(Debug, Clone, Default)]
struct World {
    account_id: String,
    mode: &'static str,
    /// An owner key with every scope, to set things up.
    admin_key: String,
    /// A viewer member that membership routes act on.
    member_id: String,
    key_id: String,
    generation_id: String,
    end_user: String,
    endpoint_id: String,
    delivery_id: String,
    invoice_id: Option<String>,
}

/// Where a request is aimed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    /// The caller's own account and mode.
    Own,
    /// Another account's objects.
    OtherAccount,
    /// The caller's account, the other mode's objects.
    OtherMode,
    /// A key of a suspended account.
    Suspended,
}

/// A member of one role and a key per single scope for them.
struct MemberKeys {
    role: Role,
    user: String,
    keys: Vec<(Scope, String)>,
}

/// Everything the matrix runs against.
struct Setup {
    app: TestApp,
    own: World,
    other_account: World,
    other_mode: World,
    /// Keys of the own account, per member.
    keys: Vec<MemberKeys>,
    /// The same for the suspended account.
    suspended_keys: Vec<MemberKeys>,
    counter: AtomicU64,
}

async fn setup(db: &TestDb) -> Setup {
    let app = TestApp::start(db).await;
    let (a, _) = app.account("matrix-a@example.com", "live").await;
    let (b, _) = app.account("matrix-b@example.com", "live").await;
    let (c, _) = app.account("matrix-c@example.com", "live").await;
    for account in [&a, &b] {
        let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
        easel_server::services::credits::grant(&app.state, account, 10_000_000, "matrix", audit)
            .await
            .unwrap_or_else(|e| panic!("grant: {e:?}"));
    }
    let own = world(&app, db, &a, "live").await;
    let other_mode = world(&app, db, &a, "test").await;
    let other_account = world(&app, db, &b, "live").await;
    let keys = role_keys(&app, &a, "a").await;
    let suspended = role_keys(&app, &c, "c").await;
    let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
    let change = easel_db::StateChange::Suspend {
        reason: "matrix".into(),
        until: None,
        jobs: easel_db::SuspendJobs::Finish,
    };
    easel_server::services::accounts::change_state(&app.state, &c, change, audit)
        .await
        .unwrap_or_else(|e| panic!("suspend: {e:?}"));
    Setup {
        app,
        own,
        other_account,
        other_mode,
        keys,
        suspended_keys: suspended,
        counter: AtomicU64::new(0),
    }
}

/// The account's owner plus one member per other role, each with a key per single scope
/// (created through the store's service with every scope grantable, so a key may hold a
/// scope its member's role does not allow: the role check must still refuse it).
async fn role_keys(app: &TestApp, account: &str, tag: &str) -> Vec<MemberKeys> {
    let owner = owner_of(app, account).await;
    let mut out = Vec::new();
    for role in Role::ALL {
        let user = if role == Role::Owner {
            owner.clone()
        } else {
            add_member(
                app,
                account,
                &format!("{}-{tag}@example.com", role.as_str()),
                role,
            )
            .await
        };
        let mut keys = Vec::new();
        for scope in Scope::ALL {
            keys.push((
                scope,
                key(app, account, &user, Mode::Live, Some(vec![scope]))
                    .await
                    .1,
            ));
        }
        out.push(MemberKeys { role, user, keys });
    }
    out
}

async fn add_member(app: &TestApp, account: &str, email: &str, role: Role) -> String {
    let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
    let user = easel_server::services::accounts::UserSpec {
        email: email.into(),
        ..Default::default()
    };
    easel_server::services::accounts::add_member(&app.state, account, user, role, audit)
        .await
        .unwrap_or_else(|e| panic!("add member: {e:?}"))
        .user_id
}

/// A key for `user` with `scopes` (all if `None`); returns (id, secret).
async fn key(
    app: &TestApp,
    account: &str,
    user: &str,
    mode: Mode,
    scopes: Option<Vec<Scope>>,
) -> (String, String) {
    let spec = easel_server::services::keys::KeySpec {
        name: "matrix".into(),
        scopes: scopes.map(|s| s.iter().map(|s| s.as_str().to_string()).collect()),
        ..Default::default()
    };
    let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
    let (key, secret) = easel_server::services::keys::create(
        &app.state,
        account,
        user,
        mode,
        spec,
        &Scope::ALL,
        audit,
    )
    .await
    .unwrap_or_else(|e| panic!("create key: {e:?}"));
    (key.id, secret)
}

/// Creates the objects routes name by id, in `account` and `mode`.
async fn world(app: &TestApp, db: &TestDb, account: &str, mode: &'static str) -> World {
    let m = Mode::parse(mode).unwrap_or_else(|| panic!("mode"));
    let owner = owner_of(app, account).await;
    let (key_id, admin_key) = key(app, account, &owner, m, None).await;
    let member_id = if mode == "live" {
        add_member(
            app,
            account,
            &format!("target-{account}@example.com"),
            Role::Viewer,
        )
        .await
    } else {
        String::new()
    };
    let endpoint_id = endpoint(app, account, mode).await;
    let end_user = format!("eu-{account}-{mode}");
    let generation_id = generation(app, &admin_key, Some(&end_user)).await;
    // End users are recorded once something happens to them; a block does.
    app.post(
        &format!("/v1/end_users/{end_user}/block"),
        &admin_key,
        json!({}),
    )
    .await
    .expect(200);
    let path = format!("/v1/webhook_endpoints/{endpoint_id}/deliveries");
    let found = eventually(10_000, || async {
        let res = app.get(&path, &admin_key).await.expect(200);
        res.body["data"][0]["id"].is_string()
    })
    .await;
    assert!(found, "no webhook delivery appeared for {mode} {account}");
    let res = app.get(&path, &admin_key).await.expect(200);
    let delivery_id = res.body["data"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let invoice_id = if mode == "live" {
        Some(invoice(app, db, account, &admin_key, &generation_id).await)
    } else {
        None
    };
    World {
        account_id: account.into(),
        mode,
        admin_key,
        member_id,
        key_id,
        generation_id,
        end_user,
        endpoint_id,
        delivery_id,
        invoice_id,
    }
}

/// A live or test endpoint of the account, made through the store: live URLs must resolve
/// publicly, which nothing does here.
async fn endpoint(app: &TestApp, account: &str, mode: &str) -> String {
    let new = easel_db::NewWebhookEndpoint {
        account_id: account.into(),
        mode: Mode::parse(mode).unwrap_or(Mode::Live),
        url: "https://hooks.example.invalid/matrix".into(),
        description: "matrix".into(),
        enabled_events: easel_db::EnabledEvents::All,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        enabled: true,
    };
    let audit = easel_db::AuditContext::new(easel_core::audit::Actor::cli(), None);
    app.state
        .store
        .create_webhook_endpoint(new, audit)
        .await
        .unwrap_or_else(|e| panic!("endpoint: {e}"))
        .id
}

async fn owner_of(app: &TestApp, account: &str) -> String {
    let members = app
        .state
        .store
        .list_members(account)
        .await
        .unwrap_or_else(|e| panic!("members: {e}"));
    members
        .first()
        .map(|m| m.user_id.clone())
        .unwrap_or_else(|| panic!("no owner"))
}

/// A finished generation of `key`'s account for `end_user` (a neutral one by default: the
/// matrix blocks the worlds' own end users).
async fn generation(app: &TestApp, key: &str, end_user: Option<&str>) -> String {
    let res = app
        .raw(reqwest::Method::POST, "/v1/generations")
        .bearer_auth(key)
        .header("Prefer", "wait=20")
        .json(&json!({"model": "sandbox-image", "prompt": "a matrix", "width": 256, "height": 256, "user": end_user.unwrap_or("matrix")}));
    let res = app.send(res).await.expect(200);
    res.body["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no id: {}", res.body))
}

/// An invoice of the account: its generation moved into a closed month, then issued.
async fn invoice(app: &TestApp, db: &TestDb, account: &str, key: &str, gen_id: &str) -> String {
    use easel_server::services::invoices::Period;
    let now = easel_core::time::now_ms();
    let period = Period::containing(now).previous().previous();
    let at = period.start_ms() + 86_400_000;
    db.execute(&format!(
        "UPDATE generations SET created_at = {at}, started_at = {at}, finished_at = {} WHERE id = '{gen_id}'",
        at + 1_000
    ))
    .await;
    easel_server::services::invoices::issue_period(&app.state, period, now)
        .await
        .unwrap_or_else(|e| panic!("issue: {e:?}"));
    let listed = app.get("/v1/invoices", key).await.expect(200);
    listed.body["data"][0]["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no invoice for {account}: {}", listed.body))
}

impl Setup {
    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// The concrete path of `op` aimed at `w`, creating a fresh target where the
    /// operation destroys or changes it. `None`: the case does not apply (no id to aim).
    async fn path(&self, op: &Op, w: &World, case: Case, caller_user: &str) -> Option<String> {
        let r = op.route.as_str();
        let own = matches!(case, Case::Own | Case::Suspended);
        let id = match (r, op.method.as_str()) {
            (r, _) if !r.contains('{') => return own.then(|| r.to_string()),
            // Free-form names in the caller's own namespace, not objects someone owns.
            ("/v1/end_users/{user}/block" | "/v1/end_users/{user}/unblock", _) => {
                return own.then(|| r.replace("{user}", &w.end_user));
            }
            ("/v1/end_users/{user}", _) => w.end_user.clone(),
            ("/v1/keys/{id}" | "/v1/keys/{id}/rotate", m) if m != "GET" => {
                if case == Case::Own {
                    // A fresh key of the caller's own member: rotating and revoking
                    // it are allowed whenever the scope and role are.
                    let m = Mode::parse(w.mode).unwrap_or(Mode::Live);
                    key(&self.app, &w.account_id, caller_user, m, None).await.0
                } else {
                    w.key_id.clone()
                }
            }
            ("/v1/keys/{id}", _) => w.key_id.clone(),
            ("/v1/account/members/{user_id}", m) => {
                if case == Case::OtherMode {
                    return None; // members belong to the account, not a mode
                }
                if m == "DELETE" && case == Case::Own {
                    let email = format!("gone-{}@example.com", self.next());
                    add_member(&self.app, &w.account_id, &email, Role::Viewer).await
                } else {
                    w.member_id.clone()
                }
            }
            ("/v1/generations/{id}" | "/v1/generations/{id}/cancel", m) => {
                if m != "GET" && case == Case::Own {
                    generation(&self.app, &w.admin_key, None).await
                } else {
                    w.generation_id.clone()
                }
            }
            ("/v1/webhook_endpoints/{id}", "DELETE") if case == Case::Own => {
                endpoint(&self.app, &w.account_id, w.mode).await
            }
            (r, _) if r.starts_with("/v1/webhook_endpoints/{id}") => w.endpoint_id.clone(),
            (r, _) if r.starts_with("/v1/webhook_deliveries/{id}") => w.delivery_id.clone(),
            (r, _) if r.starts_with("/v1/invoices/{id}") => w.invoice_id.clone()?,
            // Refused before any lookup (see `OWNER_ONLY`): any export id will do.
            ("/v1/account/exports/{id}", _) => "exp_01m864a045xwwke0zd48j6933p".to_string(),
            // No API key reaches a lease: any lease id will do.
            (r, _) if r.starts_with("/worker/v1/leases/{lease_id}") => {
                return own.then(|| {
                    r.replace("{lease_id}", "lease_01m864a045xwwke0zd48j6933p")
                        .replace("{index}", "0")
                });
            }
            _ => panic!(
                "the authorization matrix does not know how to aim {} {r}: add it to Setup::path",
                op.method
            ),
        };
        let concrete = r
            .replace("{id}", &id)
            .replace("{user_id}", &id)
            .replace("{user}", &id);
        assert!(!concrete.contains('{'), "{concrete}");
        Some(concrete)
    }

    /// A valid body for `op` (so that an allowed caller gets past validation).
    fn body(&self, op: &Op) -> Option<Value> {
        let n = self.next();
        let image =
            json!({"model": "sandbox-image", "prompt": "a matrix", "width": 256, "height": 256});
        let body = match (op.method.as_str(), op.route.as_str()) {
            ("GET" | "DELETE", _) => return None,
            ("POST", "/v1/keys") => json!({"name": format!("matrix {n}")}),
            ("POST", "/v1/keys/{id}/rotate") => json!({"grace_period_seconds": 0}),
            ("POST", "/v1/account/members") => {
                json!({"email": format!("new-{n}@example.com"), "role": "viewer"})
            }
            ("PATCH", "/v1/account/members/{user_id}") => json!({"role": "viewer"}),
            ("POST", "/v1/generations" | "/v1/generations/quote") => image,
            ("POST", "/v1/generations/{id}/cancel") => return None,
            ("POST", "/v1/images/generations" | "/v1/images/edits") => {
                json!({"model": "sandbox-image", "prompt": "a matrix", "size": "256x256"})
            }
            ("POST", "/v1/moderations") => json!({"input": "a harbour at dawn"}),
            ("POST", "/v1/account/exports") => return None,
            ("POST", "/v1/account/erasure") => {
                json!({"confirm": "acct_01m864a045xwwke0zd48j6933p"})
            }
            ("POST", "/v1/end_users/{user}/block") => json!({"reason": "matrix"}),
            ("POST", "/v1/end_users/{user}/unblock") => return None,
            ("POST", "/v1/abuse_reports") => json!({
                "generation_id": self.own.generation_id, "category": "other", "description": "matrix"
            }),
            ("POST", "/v1/webhook_endpoints") => {
                json!({"url": "https://hooks.example.invalid/new"})
            }
            ("PATCH", "/v1/webhook_endpoints/{id}") => {
                json!({"description": format!("matrix {n}")})
            }
            ("POST", "/v1/webhook_endpoints/{id}/rotate_secret") => json!({}),
            ("POST", "/v1/webhook_deliveries/{id}/replay") => return None,
            ("POST", "/worker/v1/claim") => json!({"models": ["sandbox-image"], "wait_ms": 0}),
            ("POST", "/worker/v1/leases/{lease_id}/heartbeat") => json!({"progress": 0.5}),
            ("POST", "/worker/v1/leases/{lease_id}/complete") => {
                json!({"outputs": [{"index": 0}]})
            }
            ("POST", "/worker/v1/leases/{lease_id}/fail") => {
                json!({"kind": "transient", "message": "matrix"})
            }
            ("PUT", "/worker/v1/leases/{lease_id}/outputs/{index}") => return None,
            (m, r) => {
                panic!("the authorization matrix has no body for {m} {r}: add one to Setup::body")
            }
        };
        Some(body)
    }

    /// Sends the probe; JSON answers (every error among them) are checked against the
    /// document, others (an invoice PDF) are not JSON to check.
    async fn send(&self, op: &Op, path: &str, key: &str) -> Res {
        let method =
            reqwest::Method::from_bytes(op.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.app.raw(method, path).bearer_auth(key);
        if let Some(body) = self.body(op) {
            req = if op.multipart {
                req.multipart(form(&body))
            } else {
                req.json(&body)
            };
        }
        let res = self.app.send(req).await;
        let json = res
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if json || res.status >= 400 {
            self.app.check(&op.method, path, &res);
        }
        res
    }
}

/// A form of `fields` (strings) plus an `image` file, for multipart operations.
fn form(fields: &Value) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields.as_object().into_iter().flatten() {
        form = form.text(name.clone(), value.as_str().unwrap_or_default().to_string());
    }
    let png = easel_test_utils::fakes::images::png(16, 16, 1);
    form.part(
        "image",
        reqwest::multipart::Part::bytes(png).file_name("matrix.png"),
    )
}

/// The owner's data rights: past the route's scope, the role must be owner and the key
/// must hold every scope, which no key of the matrix (each holds one) does.
const OWNER_ONLY: &[&str] = &[
    "/v1/account/exports",
    "/v1/account/exports/{id}",
    "/v1/account/erasure",
];

/// What the rules say a key holding only `scope`, of a member with `role`, gets.
fn expected(op: &Op, role: Role, scope: Scope) -> Result<(), &'static str> {
    let owner_only = OWNER_ONLY.contains(&op.route.as_str());
    match op.declared {
        Declared::Scope(needed)
            if owner_only && needed == scope && role.allows(Action::Scope(needed)) =>
        {
            Err(if role == Role::Owner {
                "insufficient_scope"
            } else {
                "insufficient_role"
            })
        }
        Declared::Keyless | Declared::KeyOptional => Ok(()),
        Declared::Worker => Err("invalid_worker_token"),
        Declared::Scope(needed) if needed != scope => Err("insufficient_scope"),
        Declared::Scope(needed) if !role.allows(Action::Scope(needed)) => Err("insufficient_role"),
        Declared::Scope(_) => Ok(()),
    }
}

/// One request of the matrix and its verdict: `None` when the answer is right.
struct Probe {
    op: Op,
    role: Role,
    scope: Scope,
    case: Case,
    path: String,
    key: String,
}

fn judge(p: &Probe, res: &Res) -> Option<String> {
    let wrong = |want: String| {
        Some(format!(
            "{} {} as {:?} with only {} ({:?}): wanted {want}, got {} {}",
            p.op.method,
            p.path,
            p.role,
            p.scope.as_str(),
            p.case,
            res.status,
            res.body
        ))
    };
    if res.status >= 500 {
        return wrong("no 5xx".into());
    }
    if p.op.declared == Declared::Worker {
        // An API key of any role, scope or account is never a worker token.
        return (res.status != 401 || res.code() != "invalid_worker_token")
            .then(|| wrong("401 invalid_worker_token".into()))
            .flatten();
    }
    if p.case == Case::Suspended {
        return (res.status != 403 || res.code() != "account_suspended")
            .then(|| wrong("403 account_suspended".into()))
            .flatten();
    }
    match (expected(&p.op, p.role, p.scope), p.case) {
        (Err(code), _) => (res.status != 403 || res.code() != code)
            .then(|| wrong(format!("403 {code}")))
            .flatten(),
        (Ok(()), Case::Own) => matches!(res.status, 401 | 403 | 404)
            .then(|| wrong("allowed (not 401, 403 or 404)".into()))
            .flatten(),
        (Ok(()), _) => (res.status != 404)
            .then(|| wrong("404 (not the caller's object)".into()))
            .flatten(),
    }
}

both_backends!(
    every_route_answers_every_role_and_scope_as_the_rules_say,
    |db: TestDb| async move {
        let s = setup(&db).await;
        let ops = operations(&s.app).await;
        let mut probes = Vec::new();
        let mut covered = BTreeSet::new();
        for op in &ops {
            if op.declared == Declared::Keyless {
                // Keyless routes carry their own proof; a key is irrelevant to them.
                continue;
            }
            covered.insert(format!("{} {}", op.method, op.route));
            for MemberKeys { role, user, keys } in &s.keys {
                for (scope, secret) in keys {
                    for (case, w) in [
                        (Case::Own, &s.own),
                        (Case::OtherAccount, &s.other_account),
                        (Case::OtherMode, &s.other_mode),
                    ] {
                        if let Some(path) = s.path(op, w, case, user).await {
                            probes.push(Probe {
                                op: op.clone(),
                                role: *role,
                                scope: *scope,
                                case,
                                path,
                                key: secret.clone(),
                            });
                        }
                    }
                }
            }
            for MemberKeys { role, keys, .. } in &s.suspended_keys {
                for (scope, secret) in keys {
                    // Suspension refuses before anything is looked up: aim at own objects.
                    if let Some(path) = s.path(op, &s.own, Case::Suspended, "").await {
                        probes.push(Probe {
                            op: op.clone(),
                            role: *role,
                            scope: *scope,
                            case: Case::Suspended,
                            path,
                            key: secret.clone(),
                        });
                    }
                }
            }
        }
        let keyed = ops
            .iter()
            .filter(|o| o.declared != Declared::Keyless)
            .count();
        assert_eq!(
            covered.len(),
            keyed,
            "every keyed operation is in the matrix"
        );
        let total = probes.len();
        let failures: Vec<String> = futures::stream::iter(probes)
            .map(|p| {
                let s = &s;
                async move {
                    let res = s.send(&p.op, &p.path, &p.key).await;
                    judge(&p, &res)
                }
            })
            .buffer_unordered(PARALLEL)
            .filter_map(|f| async move { f })
            .collect()
            .await;
        assert!(
            failures.is_empty(),
            "{} of {total} answers differ from the rules:\n{}",
            failures.len(),
            failures
                .iter()
                .take(40)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        // routes × roles × scopes × cases, as the closing note reports it.
        eprintln!(
            "authorization matrix: {keyed} keyed operations × {} roles × {} scopes; {total} requests",
            Role::ALL.len(),
            Scope::ALL.len()
        );
        assert!(
            total > keyed * 40 * 2,
            "the matrix shrank: {total} requests"
        );
        s.app.stop().await;
    }
);

both_backends!(
    key_actions_on_other_members_keys_follow_the_role_order,
    |db: TestDb| async move {
        let s = setup(&db).await;
        // Every role with a keys:write key acts on a fresh key of every other member.
        let members: Vec<(Role, String)> =
            s.keys.iter().map(|m| (m.role, m.user.clone())).collect();
        let mut checked = 0;
        for MemberKeys { role, keys, .. } in &s.keys {
            let Some((_, secret)) = keys.iter().find(|(scope, _)| *scope == Scope::KeysWrite)
            else {
                panic!("no keys:write key for {role:?}");
            };
            for (target_role, target_user) in &members {
                if target_role == role {
                    continue;
                }
                let (target, _) =
                    key(&s.app, &s.own.account_id, target_user, Mode::Live, None).await;
                let rotated = s
                    .app
                    .post(&format!("/v1/keys/{target}/rotate"), secret, json!({}))
                    .await;
                let revoked = s.app.delete(&format!("/v1/keys/{target}"), secret).await;
                if !role.allows(Action::Scope(Scope::KeysWrite)) {
                    rotated.expect_error(403, "insufficient_role");
                    revoked.expect_error(403, "insufficient_role");
                    continue;
                }
                rotated.expect_error(403, "key_of_another_member");
                if role.may_manage(*target_role) {
                    assert_eq!(revoked.expect(200).body["status"], "revoked");
                } else {
                    revoked.expect_error(403, "key_of_another_member");
                }
                checked += 1;
            }
        }
        // Owner, admin and developer each against the three other roles.
        assert_eq!(checked, 9);
        s.app.stop().await;
    }
);

both_backends!(
    request_bodies_are_required_exactly_where_the_document_says,
    |db: TestDb| async move {
        let s = setup(&db).await;
        let ops = operations(&s.app).await;
        let owner = &s.own.admin_key;
        let owner_user = owner_of(&s.app, &s.own.account_id).await;
        let mut with_bodies = 0;
        for op in ops
            .iter()
            .filter(|o| o.method == "POST" || o.method == "PATCH")
        {
            // Worker routes check their token before their body (the worker tests cover
            // their bodies).
            if matches!(op.declared, Declared::Keyless | Declared::Worker) {
                continue;
            }
            let Some(path) = s.path(op, &s.own, Case::Own, &owner_user).await else {
                continue;
            };
            let method =
                reqwest::Method::from_bytes(op.method.as_bytes()).unwrap_or(reqwest::Method::POST);
            let (content_type, empty_code) = if op.multipart {
                ("multipart/form-data; boundary=matrix", "invalid_multipart")
            } else {
                ("application/json", "invalid_json")
            };
            let res = s
                .app
                .send(
                    s.app
                        .raw(method, &path)
                        .bearer_auth(owner)
                        .header("content-type", content_type),
                )
                .await;
            assert!(res.status < 500, "{} {path}: {}", op.method, res.body);
            let refused_as_empty = res.status == 400 && res.code() == empty_code;
            assert_eq!(
                refused_as_empty,
                op.body_required,
                "{} {path}: the document says the body is {}required, the server answered an empty one with {} {}",
                op.method,
                if op.body_required { "" } else { "not " },
                res.status,
                res.body
            );
            with_bodies += 1;
        }
        assert!(
            with_bodies >= 10,
            "only {with_bodies} operations take bodies"
        );
        s.app.stop().await;
    }
);
