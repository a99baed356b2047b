//! What an export holds, kind by kind, and the SQL that reads each kind as JSON objects
//! built by the database itself (one query shape per dialect).

/// How a column reaches an exported JSON object.
#[derive(Debug, Clone, Copy)]
pub enum Col {
    /// As it is stored (text, number or NULL).
    Plain(&'static str),
    /// Stored as JSON text: embedded as JSON.
    Json(&'static str),
    /// A boolean (SQLite stores 0/1): `true`/`false`.
    Bool(&'static str),
}

/// Records nested in each exported record (an array, possibly empty).
#[derive(Debug, Clone, Copy)]
pub struct Nested {
    /// The field of the parent record.
    pub field: &'static str,
    /// `FROM … WHERE …` of the nested rows, referring to the parent as `t`.
    pub from: &'static str,
    /// Their order.
    pub order: &'static str,
    pub columns: &'static [(&'static str, Col)],
}

/// One kind of exported record: one `<name>.jsonl` file of the archive.
#[derive(Debug, Clone, Copy)]
pub struct ExportKind {
    /// The file name without `.jsonl`.
    pub name: &'static str,
    /// What the records are, for the manifest.
    pub description: &'static str,
    /// `FROM … WHERE …` with `$1` the account id; the table's alias is `t`.
    pub from: &'static str,
    /// A unique text expression the records are paged by.
    pub key: &'static str,
    pub columns: &'static [(&'static str, Col)],
    pub nested: Option<Nested>,
    /// Read one mode at a time (the table's index is `(account_id, mode, id)`, so each
    /// page is a range of it instead of a sort of the account's every row).
    pub by_mode: bool,
}

/// Everything an export holds, kind by kind. Secrets are never listed: API key hashes,
/// webhook signing secrets, password hashes, session and invitation token hashes, cached
/// idempotent responses (which can hold a new key's secret).
pub const EXPORT_KINDS: &[ExportKind] = {
    use Col::{Bool, Json, Plain};
    &[
        ExportKind {
            name: "account",
            description: "The organisation: business and contact details, plan, state.",
            from: "accounts t WHERE t.id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("name", Plain("t.name")),
                ("legal_name", Plain("t.legal_name")),
                ("contact_email", Plain("t.contact_email")),
                ("contact_phone", Plain("t.contact_phone")),
                ("address", Plain("t.address")),
                ("country", Plain("t.country")),
                ("plan", Plain("t.plan")),
                ("state", Plain("t.state")),
                ("suspended_reason", Plain("t.suspended_reason")),
                ("suspended_until", Plain("t.suspended_until")),
                ("terminated_at", Plain("t.terminated_at")),
                ("requests_per_minute", Plain("t.requests_per_minute")),
                ("requests_per_day", Plain("t.requests_per_day")),
                ("concurrent_jobs", Plain("t.concurrent_jobs")),
                ("live_blocked", Plain("t.live_blocked")),
                ("created_at", Plain("t.created_at")),
                ("updated_at", Plain("t.updated_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "members",
            description: "Members and their people: e-mail, name, role, age attestation and terms acceptance (no password hash).",
            from: "members t JOIN users u ON u.id = t.user_id WHERE t.account_id = $1",
            key: "t.user_id",
            columns: &[
                ("user_id", Plain("t.user_id")),
                ("role", Plain("t.role")),
                ("email", Plain("u.email")),
                ("name", Plain("u.name")),
                ("email_verified_at", Plain("u.email_verified_at")),
                ("adult_attested_at", Plain("u.adult_attested_at")),
                ("terms_version", Plain("u.terms_version")),
                ("terms_accepted_at", Plain("u.terms_accepted_at")),
                ("terms_accepted_ip", Plain("u.terms_accepted_ip")),
                ("member_since", Plain("t.created_at")),
                ("user_created_at", Plain("u.created_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "invitations",
            description: "Invitations to join the account (no link token).",
            from: "invitations t WHERE t.account_id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("email", Plain("t.email")),
                ("role", Plain("t.role")),
                ("invited_by", Plain("t.invited_by")),
                ("created_at", Plain("t.created_at")),
                ("expires_at", Plain("t.expires_at")),
                ("accepted_at", Plain("t.accepted_at")),
                ("accepted_by", Plain("t.accepted_by")),
                ("revoked_at", Plain("t.revoked_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "sessions",
            description: "Console sessions of the members: times, address and browser (no session token).",
            from: "console_sessions t WHERE t.principal_kind = 'user' AND t.principal_id IN (SELECT m.user_id FROM members m WHERE m.account_id = $1)",
            key: "t.principal_id || ':' || CAST(t.created_at AS TEXT) || ':' || substr(t.id_hash, 1, 12)",
            columns: &[
                ("user_id", Plain("t.principal_id")),
                ("created_at", Plain("t.created_at")),
                ("last_seen_at", Plain("t.last_seen_at")),
                ("idle_expires_at", Plain("t.idle_expires_at")),
                ("expires_at", Plain("t.expires_at")),
                ("ip", Plain("t.ip")),
                ("user_agent", Plain("t.user_agent")),
                ("revoked_at", Plain("t.revoked_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "api_keys",
            description: "API keys: name, mode, scopes, limits, times and the first characters of each secret (never a secret or its hash).",
            from: "api_keys t WHERE t.account_id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("user_id", Plain("t.user_id")),
                ("mode", Plain("t.mode")),
                ("name", Plain("t.name")),
                ("scopes", Json("t.scopes")),
                ("allowed_models", Json("t.allowed_models")),
                ("spend_cap_credits", Plain("t.spend_cap_credits")),
                ("spend_cap_period", Plain("t.spend_cap_period")),
                ("expires_at", Plain("t.expires_at")),
                ("revoked_at", Plain("t.revoked_at")),
                ("revoked_reason", Plain("t.revoked_reason")),
                ("rotated_at", Plain("t.rotated_at")),
                ("last_used_at", Plain("t.last_used_at")),
                ("cooldown_until", Plain("t.cooldown_until")),
                ("leak_url", Plain("t.leak_url")),
                ("leak_source", Plain("t.leak_source")),
                ("leak_reported_at", Plain("t.leak_reported_at")),
                ("created_at", Plain("t.created_at")),
                ("updated_at", Plain("t.updated_at")),
            ],
            nested: Some(Nested {
                field: "secrets",
                from: "api_key_secrets s WHERE s.key_id = t.id",
                order: "s.created_at",
                columns: &[
                    ("display_prefix", Plain("s.display_prefix")),
                    ("created_at", Plain("s.created_at")),
                    ("expires_at", Plain("s.expires_at")),
                ],
            }),
            by_mode: true,
        },
        ExportKind {
            name: "generations",
            description: "Generations with their input (prompts, parameters, end-user id, metadata), cost, outcome and outputs' metadata.",
            from: "generations t WHERE t.account_id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("api_key_id", Plain("t.api_key_id")),
                ("mode", Plain("t.mode")),
                ("model", Plain("t.model")),
                ("kind", Plain("t.kind")),
                ("status", Plain("t.status")),
                ("input", Json("t.input")),
                ("end_user", Plain("t.end_user")),
                ("metadata", Json("t.metadata")),
                ("licence", Plain("t.licence")),
                ("credits_estimated", Plain("t.credits_estimated")),
                ("credits_charged", Plain("t.credits_charged")),
                ("error_code", Plain("t.error_code")),
                ("error_message", Plain("t.error_message")),
                ("engine_usage", Json("t.engine_usage")),
                ("created_at", Plain("t.created_at")),
                ("started_at", Plain("t.started_at")),
                ("finished_at", Plain("t.finished_at")),
                ("deleted_at", Plain("t.deleted_at")),
            ],
            nested: Some(Nested {
                field: "outputs",
                from: "outputs o WHERE o.generation_id = t.id",
                order: "o.idx",
                columns: &[
                    ("index", Plain("o.idx")),
                    ("content_type", Plain("o.content_type")),
                    ("width", Plain("o.width")),
                    ("height", Plain("o.height")),
                    ("duration_ms", Plain("o.duration_ms")),
                    ("bytes", Plain("o.bytes")),
                    ("expires_at", Plain("o.expires_at")),
                    ("deleted_at", Plain("o.deleted_at")),
                    ("created_at", Plain("o.created_at")),
                ],
            }),
            by_mode: true,
        },
        ExportKind {
            name: "ledger",
            description: "Every credit movement, with the balance after it.",
            from: "ledger_entries t WHERE t.account_id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("mode", Plain("t.mode")),
                ("type", Plain("t.type")),
                ("amount", Plain("t.amount")),
                ("held_change", Plain("t.held_change")),
                ("balance_after", Plain("t.balance_after")),
                ("held_after", Plain("t.held_after")),
                ("reference_type", Plain("t.reference_type")),
                ("reference_id", Plain("t.reference_id")),
                ("actor_type", Plain("t.actor_type")),
                ("actor_id", Plain("t.actor_id")),
                ("reason", Plain("t.reason")),
                ("created_at", Plain("t.created_at")),
            ],
            nested: None,
            by_mode: true,
        },
        ExportKind {
            name: "balances",
            description: "Current balance and held credits per mode.",
            from: "credit_balances t WHERE t.account_id = $1",
            key: "t.mode",
            columns: &[
                ("mode", Plain("t.mode")),
                ("balance", Plain("t.balance")),
                ("held", Plain("t.held")),
                ("updated_at", Plain("t.updated_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "holds",
            description: "Credit holds placed by generations and how they were settled.",
            from: "holds t WHERE t.account_id = $1",
            key: "t.generation_id",
            columns: &[
                ("generation_id", Plain("t.generation_id")),
                ("api_key_id", Plain("t.api_key_id")),
                ("mode", Plain("t.mode")),
                ("amount", Plain("t.amount")),
                ("status", Plain("t.status")),
                ("captured", Plain("t.captured")),
                ("created_at", Plain("t.created_at")),
                ("settled_at", Plain("t.settled_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "invoices",
            description: "Issued invoices with their lines.",
            from: "invoices t WHERE t.account_id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("number", Plain("t.number")),
                ("mode", Plain("t.mode")),
                ("period", Plain("t.period")),
                ("period_start", Plain("t.period_start")),
                ("period_end", Plain("t.period_end")),
                ("currency", Plain("t.currency")),
                ("seller", Plain("t.seller")),
                ("buyer", Plain("t.buyer")),
                ("subtotal_credits", Plain("t.subtotal_credits")),
                ("subtotal_eur", Plain("t.subtotal_eur")),
                ("status", Plain("t.status")),
                ("issued_at", Plain("t.issued_at")),
            ],
            nested: Some(Nested {
                field: "lines",
                from: "invoice_lines l WHERE l.invoice_id = t.id",
                order: "l.idx",
                columns: &[
                    ("kind", Plain("l.kind")),
                    ("model", Plain("l.model")),
                    ("quantity", Plain("l.quantity")),
                    ("unit_price_credits", Plain("l.unit_price_credits")),
                    ("unit_price_eur", Plain("l.unit_price_eur")),
                    ("amount_credits", Plain("l.amount_credits")),
                    ("amount_eur", Plain("l.amount_eur")),
                ],
            }),
            by_mode: true,
        },
        ExportKind {
            name: "subscriptions",
            description: "The plan subscription at the payment provider, if any.",
            from: "subscriptions t WHERE t.account_id = $1",
            key: "t.account_id",
            columns: &[
                ("subscription_id", Plain("t.subscription_id")),
                ("customer_id", Plain("t.customer_id")),
                ("plan", Plain("t.plan")),
                ("status", Plain("t.status")),
                ("current_period_end", Plain("t.current_period_end")),
                ("cancel_at_period_end", Bool("t.cancel_at_period_end")),
                ("past_due_since", Plain("t.past_due_since")),
                ("suspended_at", Plain("t.suspended_at")),
                ("created_at", Plain("t.created_at")),
                ("updated_at", Plain("t.updated_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "events",
            description: "Events (what webhooks deliver), with their data.",
            from: "events t WHERE t.account_id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("mode", Plain("t.mode")),
                ("type", Plain("t.type")),
                ("data", Json("t.data")),
                ("created_at", Plain("t.created_at")),
            ],
            nested: None,
            by_mode: true,
        },
        ExportKind {
            name: "webhook_endpoints",
            description: "Webhook endpoints (never their signing secrets).",
            from: "webhook_endpoints t WHERE t.account_id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("mode", Plain("t.mode")),
                ("url", Plain("t.url")),
                ("description", Plain("t.description")),
                // `*` or `,type,type,` as stored, not JSON.
                ("enabled_events", Plain("t.enabled_events")),
                (
                    "previous_secret_expires_at",
                    Plain("t.previous_secret_expires_at"),
                ),
                ("disabled_at", Plain("t.disabled_at")),
                ("disabled_reason", Plain("t.disabled_reason")),
                ("failing_since", Plain("t.failing_since")),
                ("created_at", Plain("t.created_at")),
                ("updated_at", Plain("t.updated_at")),
                ("deleted_at", Plain("t.deleted_at")),
            ],
            nested: None,
            by_mode: true,
        },
        ExportKind {
            name: "webhook_deliveries",
            description: "Webhook deliveries with each attempt's status, latency and response excerpt.",
            from: "webhook_deliveries t WHERE t.account_id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("endpoint_id", Plain("t.endpoint_id")),
                ("mode", Plain("t.mode")),
                ("event_id", Plain("t.event_id")),
                ("event_type", Plain("t.event_type")),
                ("state", Plain("t.state")),
                ("attempts", Plain("t.attempts")),
                ("manual", Bool("t.manual")),
                ("next_attempt_at", Plain("t.next_attempt_at")),
                ("last_attempt_at", Plain("t.last_attempt_at")),
                ("last_status", Plain("t.last_status")),
                ("last_error", Plain("t.last_error")),
                ("created_at", Plain("t.created_at")),
                ("updated_at", Plain("t.updated_at")),
            ],
            nested: Some(Nested {
                field: "attempts_log",
                from: "webhook_attempts a WHERE a.delivery_id = t.id",
                order: "a.id",
                columns: &[
                    ("id", Plain("a.id")),
                    ("attempted_at", Plain("a.attempted_at")),
                    ("status_code", Plain("a.status_code")),
                    ("latency_ms", Plain("a.latency_ms")),
                    ("response_body", Plain("a.response_body")),
                    ("error", Plain("a.error")),
                    ("manual", Bool("a.manual")),
                ],
            }),
            by_mode: false,
        },
        ExportKind {
            name: "request_log",
            description: "The API request log (kept for the configured retention).",
            from: "request_log t WHERE t.account_id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("request_id", Plain("t.request_id")),
                ("mode", Plain("t.mode")),
                ("api_key_id", Plain("t.api_key_id")),
                ("method", Plain("t.method")),
                ("path", Plain("t.path")),
                ("status", Plain("t.status")),
                ("end_user", Plain("t.end_user")),
                ("latency_us", Plain("t.latency_us")),
                ("error_code", Plain("t.error_code")),
                ("prompt", Plain("t.prompt")),
                ("created_at", Plain("t.created_at")),
            ],
            nested: None,
            by_mode: true,
        },
        ExportKind {
            name: "audit_log",
            description: "The account's audit log, and the entries about its members' sign-ins and sessions.",
            from: "audit_log t WHERE t.account_id = $1 OR (t.account_id IS NULL AND (t.actor_id IN (SELECT m.user_id FROM members m WHERE m.account_id = $1) OR t.target_id IN (SELECT m.user_id FROM members m WHERE m.account_id = $1)))",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("actor_type", Plain("t.actor_type")),
                ("actor_id", Plain("t.actor_id")),
                ("actor_user_id", Plain("t.actor_user_id")),
                ("action", Plain("t.action")),
                ("target_type", Plain("t.target_type")),
                ("target_id", Plain("t.target_id")),
                ("request_id", Plain("t.request_id")),
                ("details", Json("t.details")),
                ("created_at", Plain("t.created_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "end_users",
            description: "The account's own end users (the `user` ids it sent), their strikes and blocks.",
            from: "end_users t WHERE t.account_id = $1",
            key: "t.mode || ':' || t.end_user",
            columns: &[
                ("mode", Plain("t.mode")),
                ("end_user", Plain("t.end_user")),
                ("blocked_at", Plain("t.blocked_at")),
                ("blocked_reason", Plain("t.blocked_reason")),
                ("strikes", Plain("t.strikes")),
                ("last_strike_at", Plain("t.last_strike_at")),
                ("created_at", Plain("t.created_at")),
                ("updated_at", Plain("t.updated_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "strikes",
            description: "Moderation and abuse strikes against the account.",
            from: "strikes t WHERE t.account_id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("mode", Plain("t.mode")),
                ("end_user", Plain("t.end_user")),
                ("source", Plain("t.source")),
                ("category", Plain("t.category")),
                ("detail", Plain("t.detail")),
                ("request_id", Plain("t.request_id")),
                ("abuse_report_id", Plain("t.abuse_report_id")),
                ("created_at", Plain("t.created_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "abuse_reports",
            description: "Abuse reports about the account (without the reporter's address) and reports it filed.",
            from: "abuse_reports t WHERE t.account_id = $1 OR t.reporter_account_id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("status", Plain("t.status")),
                ("source", Plain("t.source")),
                ("category", Plain("t.category")),
                ("description", Plain("t.description")),
                ("generation_id", Plain("t.generation_id")),
                (
                    "about_this_account",
                    Bool("(t.account_id IS NOT NULL AND t.account_id = $1)"),
                ),
                (
                    "filed_by_this_account",
                    Bool("(t.reporter_account_id IS NOT NULL AND t.reporter_account_id = $1)"),
                ),
                // A third party's address never reaches the account it reported.
                (
                    "reporter_email",
                    Plain("CASE WHEN t.reporter_account_id = $1 THEN t.reporter_email END"),
                ),
                ("deadline_at", Plain("t.deadline_at")),
                ("created_at", Plain("t.created_at")),
                ("resolved_at", Plain("t.resolved_at")),
                ("resolution", Plain("t.resolution")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "deprecated_calls",
            description: "Calls to deprecated API operations, per operation.",
            from: "deprecated_calls t WHERE t.account_id = $1",
            key: "t.mode || ' ' || t.method || ' ' || t.route",
            columns: &[
                ("mode", Plain("t.mode")),
                ("method", Plain("t.method")),
                ("route", Plain("t.route")),
                ("calls", Plain("t.calls")),
                ("first_at", Plain("t.first_at")),
                ("last_at", Plain("t.last_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "idempotency_keys",
            description: "Idempotency keys remembered for 24 hours (not the responses they replay).",
            from: "idempotency_keys t WHERE t.account_id = $1",
            key: "t.mode || ':' || t.key",
            columns: &[
                ("mode", Plain("t.mode")),
                ("key", Plain("t.key")),
                ("status", Plain("t.status")),
                ("created_at", Plain("t.created_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "exports",
            description: "The account's data exports, this one included.",
            from: "data_exports t WHERE t.account_id = $1",
            key: "t.id",
            columns: &[
                ("id", Plain("t.id")),
                ("state", Plain("t.state")),
                ("requested_by", Plain("t.requested_by")),
                ("created_at", Plain("t.created_at")),
                ("ready_at", Plain("t.ready_at")),
                ("downloaded_at", Plain("t.downloaded_at")),
            ],
            nested: None,
            by_mode: false,
        },
        ExportKind {
            name: "erasure",
            description: "The account's erasure request, if any.",
            from: "account_erasures t WHERE t.account_id = $1",
            key: "t.account_id",
            columns: &[
                ("reason", Plain("t.reason")),
                ("state", Plain("t.state")),
                ("requested_by", Plain("t.requested_by")),
                ("requested_at", Plain("t.requested_at")),
                ("due_at", Plain("t.due_at")),
                ("canceled_at", Plain("t.canceled_at")),
            ],
            nested: None,
            by_mode: false,
        },
    ]
};

/// The SQL dialect an export query is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

fn json_value(dialect: Dialect, col: Col) -> String {
    match (dialect, col) {
        (_, Col::Plain(e)) => e.to_string(),
        (Dialect::Sqlite, Col::Json(e)) => format!("json({e})"),
        (Dialect::Postgres, Col::Json(e)) => format!("CAST({e} AS json)"),
        (Dialect::Sqlite, Col::Bool(e)) => {
            format!(
                "CASE WHEN {e} IS NULL THEN NULL WHEN {e} THEN json('true') ELSE json('false') END"
            )
        }
        (Dialect::Postgres, Col::Bool(e)) => format!("CAST({e} AS boolean)"),
    }
}

fn json_object(dialect: Dialect, columns: &[(&str, Col)], extra: Option<(&str, String)>) -> String {
    let mut args: Vec<String> = columns
        .iter()
        .map(|(name, col)| format!("'{name}', {}", json_value(dialect, *col)))
        .collect();
    if let Some((name, value)) = extra {
        args.push(format!("'{name}', {value}"));
    }
    let function = match dialect {
        Dialect::Sqlite => "json_object",
        Dialect::Postgres => "json_build_object",
    };
    format!("{function}({})", args.join(", "))
}

/// `SELECT key, json FROM … WHERE … [AND t.mode = 'mode'] [AND key > $2] ORDER BY key
/// LIMIT $n` for one kind (`mode` for kinds read [`by_mode`](ExportKind::by_mode)).
pub(crate) fn export_sql(
    dialect: Dialect,
    kind: &ExportKind,
    mode: Option<easel_core::mode::Mode>,
    after: bool,
) -> String {
    let nested = kind.nested.map(|n| {
        let object = json_object(dialect, n.columns, None);
        let array = match dialect {
            Dialect::Sqlite => format!(
                "json((SELECT json_group_array(json(x)) FROM (SELECT {object} AS x FROM {} ORDER BY {})))",
                n.from, n.order
            ),
            Dialect::Postgres => format!(
                "(SELECT COALESCE(json_agg({object} ORDER BY {}), CAST('[]' AS json)) FROM {})",
                n.order, n.from
            ),
        };
        (n.field, array)
    });
    let object = json_object(dialect, kind.columns, nested);
    let object = match dialect {
        Dialect::Sqlite => object,
        Dialect::Postgres => format!("CAST({object} AS text)"),
    };
    let (bound, limit) = if after {
        (format!(" AND ({}) > $2", kind.key), "$3")
    } else {
        (String::new(), "$2")
    };
    // The kind's own WHERE may hold ORs: it is parenthesised before the bound is added.
    let (table, filter) = kind
        .from
        .split_once(" WHERE ")
        .unwrap_or((kind.from, "TRUE"));
    let mode = mode
        .map(|m| format!(" AND t.mode = '{}'", m.as_str()))
        .unwrap_or_default();
    format!(
        "SELECT {key} AS k, {object} AS j FROM {table} WHERE ({filter}){mode}{bound} ORDER BY {key} LIMIT {limit}",
        key = kind.key
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_kinds_have_unique_names_and_no_secret_columns() {
        let mut names: Vec<&str> = EXPORT_KINDS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EXPORT_KINDS.len());
        for kind in EXPORT_KINDS {
            let all = kind
                .columns
                .iter()
                .chain(kind.nested.iter().flat_map(|n| n.columns.iter()));
            for (name, col) in all {
                let expr = match col {
                    Col::Plain(e) | Col::Json(e) | Col::Bool(e) => *e,
                };
                // The stored secrets and what would reveal one.
                let column = expr.rsplit('.').next().unwrap_or(expr);
                let secret = [
                    "hash",
                    "secret",
                    "previous_secret",
                    "password_hash",
                    "id_hash",
                    "token_hash",
                    "response",
                    "request_hash",
                ];
                assert!(
                    !secret.contains(&column),
                    "{}.{name} reads {expr}",
                    kind.name
                );
            }
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                for after in [false, true] {
                    let sql = export_sql(dialect, kind, Some(easel_core::mode::Mode::Live), after);
                    assert!(sql.contains("t.mode = 'live'"), "{sql}");
                    assert!(sql.contains("LIMIT $"), "{sql}");
                }
            }
        }
    }
}
