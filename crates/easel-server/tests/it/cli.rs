//! `easel admin …` through the real binary, on both databases.

use easel_test_utils::{TestDb, both_backends};

use crate::support::binary::{admin, admin_fails, run};

both_backends!(
    account_lifecycle_from_the_command_line,
    |db: TestDb| async move {
        let created = admin(
            &db,
            &[
                "account",
                "create",
                "--name",
                "Acme GmbH",
                "--owner-email",
                "Owner@Acme.test",
                "--legal-name",
                "Acme Gesellschaft mbH",
                "--country",
                "de",
                "--plan",
                "pro",
                "--adult-attested",
                "--terms-version",
                "2026-11-01",
            ],
        );
        let id = created["id"].as_str().unwrap_or_default().to_string();
        assert!(id.starts_with("acct_"));
        assert_eq!(created["plan"], "pro");
        assert_eq!(created["country"], "DE");
        assert_eq!(created["members"][0]["email"], "owner@acme.test");
        assert_eq!(created["members"][0]["role"], "owner");
        let listed = admin(&db, &["account", "list"]);
        assert!(
            listed
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["id"] == id.as_str())
        );
        let shown = admin(&db, &["account", "show", &id]);
        assert_eq!(shown["legal_name"], "Acme Gesellschaft mbH");
        let suspended = admin(
            &db,
            &[
                "account",
                "suspend",
                &id,
                "--reason",
                "unpaid invoice",
                "--until",
                "2099-01-01T00:00:00Z",
                "--jobs",
                "finish",
            ],
        );
        assert_eq!(suspended["state"], "suspended");
        assert_eq!(suspended["suspended_reason"], "unpaid invoice");
        assert_eq!(suspended["suspended_until"], 4_070_908_800_i64);
        assert_eq!(
            admin(&db, &["account", "unsuspend", &id])["state"],
            "active"
        );
        assert_eq!(
            admin(&db, &["account", "terminate", &id])["state"],
            "terminated"
        );
        let err = admin_fails(&db, &["account", "unsuspend", &id]);
        assert!(err.contains("terminated"), "{err}");
        // The audit log has all of it, attributed to the operator.
        let audit = admin(&db, &["audit", "--account", &id]);
        let actions: Vec<&str> = audit
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert_eq!(
            actions,
            [
                "account.terminated",
                "account.unsuspended",
                "account.suspended",
                "account.created"
            ]
        );
        assert_eq!(audit[2]["details"]["reason"], "unpaid invoice");
        assert_eq!(audit[0]["actor"]["type"], "operator");
    }
);

both_backends!(
    bad_account_input_is_refused_and_nothing_is_written,
    |db: TestDb| async move {
        admin(
            &db,
            &[
                "account",
                "create",
                "--name",
                "First",
                "--owner-email",
                "taken@example.com",
            ],
        );
        let before = admin(&db, &["account", "list"]).as_array().map(Vec::len);
        let err = admin_fails(
            &db,
            &[
                "account",
                "create",
                "--name",
                "Second",
                "--owner-email",
                "TAKEN@example.com",
            ],
        );
        assert!(err.contains("email_taken"), "{err}");
        for (args, needle) in [
            (
                vec!["--name", "X", "--owner-email", "not-an-email"],
                "email_invalid",
            ),
            (vec!["--name", "X", "--owner-email", "a@b"], "email_invalid"),
            (
                vec!["--name", "  ", "--owner-email", "x@example.com"],
                "`name`",
            ),
            (
                vec![
                    "--name",
                    "X",
                    "--owner-email",
                    "x@example.com",
                    "--plan",
                    "platinum",
                ],
                "platinum",
            ),
            (
                vec![
                    "--name",
                    "X",
                    "--owner-email",
                    "x@example.com",
                    "--country",
                    "Germany",
                ],
                "country",
            ),
        ] {
            let mut full = vec!["account", "create"];
            full.extend(args);
            let err = admin_fails(&db, &full);
            assert!(err.contains(needle), "{needle} not in {err}");
        }
        assert_eq!(
            admin(&db, &["account", "list"]).as_array().map(Vec::len),
            before,
            "no partial account was written"
        );
        let err = admin_fails(&db, &["account", "show", "acct_missing"]);
        assert!(err.contains("No such account"), "{err}");
    }
);

both_backends!(
    owner_password_is_hashed_with_argon2id,
    |db: TestDb| async move {
        let out = run(
            &db,
            &[
                "admin",
                "account",
                "create",
                "--name",
                "Pw",
                "--owner-email",
                "pw@example.com",
                "--owner-password-stdin",
                "--json",
            ],
            Some("correct horse battery\n"),
        );
        assert_eq!(out.json()["members"][0]["email"], "pw@example.com");
        let short = run(
            &db,
            &[
                "admin",
                "account",
                "create",
                "--name",
                "Pw2",
                "--owner-email",
                "pw2@example.com",
                "--owner-password-stdin",
                "--json",
            ],
            Some("short\n"),
        );
        assert!(
            !short.ok && short.stderr.contains("password"),
            "{}",
            short.stderr
        );
        let hash = db
            .fetch_text(
                "SELECT password_hash FROM users WHERE email = $1",
                "pw@example.com",
            )
            .await
            .unwrap_or_else(|| panic!("no password hash stored for pw@example.com"));
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(easel_core::password::verify("correct horse battery", &hash));
    }
);

both_backends!(
    keys_and_members_from_the_command_line,
    |db: TestDb| async move {
        let account = admin(
            &db,
            &[
                "account",
                "create",
                "--name",
                "Keys",
                "--owner-email",
                "k@example.com",
            ],
        );
        let id = account["id"].as_str().unwrap_or_default().to_string();
        let key = admin(
            &db,
            &[
                "key",
                "create",
                "--account",
                &id,
                "--mode",
                "live",
                "--name",
                "deploy",
                "--scope",
                "keys:read",
                "--scope",
                "account:read",
            ],
        );
        let secret = key["secret"].as_str().unwrap_or_default().to_string();
        assert!(secret.starts_with("vs_live_"), "{key}");
        assert_eq!(key["account_id"], id.as_str());
        let key_id = key["id"].as_str().unwrap_or_default().to_string();
        let listed = admin(&db, &["key", "list", "--account", &id]);
        assert_eq!(listed.as_array().map(Vec::len), Some(1));
        assert!(
            listed[0].get("secret").is_none(),
            "listing never shows secrets"
        );
        let rotated = admin(&db, &["key", "rotate", &key_id, "--grace-seconds", "0"]);
        assert_ne!(rotated["secret"], secret.as_str());
        assert_eq!(admin(&db, &["key", "revoke", &key_id])["status"], "revoked");
        let err = admin_fails(
            &db,
            &[
                "key",
                "create",
                "--account",
                &id,
                "--scope",
                "keys:everything",
            ],
        );
        assert!(err.contains("scopes[0]"), "{err}");
        admin_fails(&db, &["key", "revoke", "key_01m864a045xwwke0zd48j6933p"]);
        // Members: a viewer can only get read scopes.
        let viewer = admin(
            &db,
            &[
                "member",
                "add",
                "--account",
                &id,
                "--email",
                "v@example.com",
                "--role",
                "viewer",
            ],
        );
        assert_eq!(viewer["role"], "viewer");
        let err = admin_fails(
            &db,
            &[
                "key",
                "create",
                "--account",
                &id,
                "--user",
                "v@example.com",
                "--scope",
                "keys:write",
            ],
        );
        assert!(err.contains("insufficient_scope"), "{err}");
        let vk = admin(
            &db,
            &["key", "create", "--account", &id, "--user", "v@example.com"],
        );
        assert!(
            vk["scopes"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|s| s.as_str().is_some_and(|s| s.ends_with(":read")))
        );
        assert_eq!(
            admin(
                &db,
                &[
                    "member",
                    "set-role",
                    "--account",
                    &id,
                    "--user",
                    "v@example.com",
                    "--role",
                    "admin"
                ]
            )["role"],
            "admin"
        );
        let err = admin_fails(
            &db,
            &[
                "member",
                "add",
                "--account",
                &id,
                "--email",
                "v@example.com",
                "--role",
                "viewer",
            ],
        );
        assert!(err.contains("already_member"), "{err}");
        let err = admin_fails(
            &db,
            &[
                "member",
                "remove",
                "--account",
                &id,
                "--user",
                "k@example.com",
            ],
        );
        assert!(err.contains("last_owner"), "{err}");
        assert_eq!(
            admin(
                &db,
                &[
                    "member",
                    "remove",
                    "--account",
                    &id,
                    "--user",
                    "v@example.com"
                ]
            )["deleted"],
            true
        );
        let audit = admin(&db, &["audit"]);
        let actions: Vec<&str> = audit
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["action"].as_str())
            .collect();
        for expected in [
            "key.created",
            "key.rotated",
            "key.revoked",
            "member.added",
            "member.role_changed",
            "member.removed",
        ] {
            assert!(
                actions.contains(&expected),
                "{expected} missing from {actions:?}"
            );
        }
    }
);

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["admin", "--help"],
        vec!["admin", "account", "create", "--help"],
        vec!["admin", "key", "rotate", "--help"],
        vec!["admin", "member", "set-role", "--help"],
        vec!["admin", "audit", "--help"],
    ] {
        let out = crate::support::binary::easel()
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
}

both_backends!(
    plans_and_limit_overrides_from_the_command_line,
    |db: TestDb| async move {
        let created = admin(
            &db,
            &[
                "account",
                "create",
                "--name",
                "Big Co",
                "--owner-email",
                "ops@big.test",
            ],
        );
        let id = created["id"].as_str().unwrap_or_default().to_string();
        let shown = admin(&db, &["plan", "show", "--account", &id]);
        assert_eq!(shown["plan"], "free");
        assert_eq!(
            shown["limits"]["requests_per_minute"], 10,
            "the free plan's"
        );
        assert_eq!(
            shown["overrides"]["requests_per_minute"],
            serde_json::Value::Null
        );

        let set = admin(
            &db,
            &[
                "plan",
                "set",
                "--account",
                &id,
                "--plan",
                "enterprise",
                "--rpm",
                "900",
                "--concurrency",
                "70",
            ],
        );
        assert_eq!(set["plan"], "enterprise");
        assert_eq!(set["overrides"]["requests_per_minute"], 900);
        assert_eq!(
            set["overrides"]["requests_per_day"],
            serde_json::Value::Null
        );
        assert_eq!(set["overrides"]["concurrent_jobs"], 70);
        assert_eq!(set["limits"]["requests_per_minute"], 900);
        assert_eq!(
            set["limits"]["requests_per_day"], 100_000,
            "the enterprise plan's day where not overridden"
        );
        assert_eq!(set["limits"]["concurrent_jobs"], 70);
        let audit = admin(&db, &["audit", "--account", &id]);
        let entry = audit
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|e| e["action"] == "account.plan_changed")
                    .cloned()
            })
            .unwrap_or_else(|| panic!("no plan_changed entry: {audit}"));
        assert_eq!(entry["details"]["old"]["plan"], "free");
        assert_eq!(entry["details"]["new"]["plan"], "enterprise");
        assert_eq!(entry["details"]["new"]["requests_per_minute"], 900);
        assert_eq!(entry["actor"]["type"], "operator");

        // Leaving a flag out clears its override.
        let cleared = admin(&db, &["plan", "set", "--account", &id, "--plan", "pro"]);
        assert_eq!(
            cleared["overrides"]["concurrent_jobs"],
            serde_json::Value::Null
        );
        assert_eq!(cleared["limits"]["requests_per_minute"], 120);

        // Bad input: clear errors, nothing written.
        let before = db.count("SELECT COUNT(*) FROM audit_log").await;
        for (args, says) in [
            (vec!["--plan", "platinum"], "no plan named \"platinum\""),
            (vec!["--plan", "pro", "--rpm", "0"], "--rpm"),
            (vec!["--plan", "pro", "--rpd", "-5"], "'-5'"),
            (
                vec!["--plan", "pro", "--concurrency", "lots"],
                "--concurrency",
            ),
        ] {
            let mut full = vec!["plan", "set", "--account", id.as_str()];
            full.extend(args);
            let err = admin_fails(&db, &full);
            assert!(err.contains(says), "{full:?}: {err}");
        }
        let err = admin_fails(
            &db,
            &["plan", "set", "--account", "acct_nope", "--plan", "pro"],
        );
        assert!(err.contains("No such account"), "{err}");
        admin(&db, &["account", "terminate", &id]);
        let after_terminate = db.count("SELECT COUNT(*) FROM audit_log").await;
        let err = admin_fails(&db, &["plan", "set", "--account", &id, "--plan", "pro"]);
        assert!(err.contains("terminated"), "{err}");
        assert_eq!(
            db.count("SELECT COUNT(*) FROM audit_log").await,
            after_terminate,
            "refusals write nothing"
        );
        assert_eq!(
            after_terminate,
            before + 1,
            "only the termination was recorded"
        );
    }
);

both_backends!(
    plan_show_text_output_and_help_from_the_command_line,
    |db: TestDb| async move {
        let created = admin(
            &db,
            &[
                "account",
                "create",
                "--name",
                "Show Co",
                "--owner-email",
                "ops@show.test",
            ],
        );
        let id = created["id"].as_str().unwrap_or_default().to_string();
        admin(
            &db,
            &[
                "plan",
                "set",
                "--account",
                &id,
                "--plan",
                "pro",
                "--rpd",
                "777",
            ],
        );
        // `show` reads back what `set` stored, overrides and effective limits alike.
        let shown = admin(&db, &["plan", "show", "--account", &id]);
        assert_eq!(
            shown,
            serde_json::json!({
                "account_id": id,
                "plan": "pro",
                "overrides": {"requests_per_minute": null, "requests_per_day": 777,
                    "concurrent_jobs": null},
                "limits": {"requests_per_minute": 120, "requests_per_day": 777,
                    "concurrent_jobs": 20},
            })
        );
        let text = run(&db, &["admin", "plan", "show", "--account", &id], None);
        assert!(text.ok, "{}", text.stderr);
        assert!(
            text.stdout.contains("plan pro") && text.stdout.contains("777 requests/day"),
            "{}",
            text.stdout
        );
        let err = admin_fails(&db, &["plan", "show", "--account", "acct_nope"]);
        assert!(err.contains("No such account"), "{err}");
        // The help says what leaving a flag out does.
        let help = run(&db, &["admin", "plan", "set", "--help"], None);
        assert!(
            help.ok && help.stdout.contains("clears that override"),
            "{}",
            help.stdout
        );
    }
);

both_backends!(
    workers_are_created_listed_and_revoked_from_the_command_line,
    |db: TestDb| async move {
        let config = db.dir.join("workers.toml");
        std::fs::write(
            &config,
            "[models.gpu-image]\nkind = \"image\"\nengine = \"worker\"\nweb_price = 10\nsizes = [\"64x64\"]\n",
        )
        .unwrap_or_else(|e| panic!("write config: {e}"));
        let config = config.to_string_lossy().to_string();
        let admin_c = |args: &[&str]| {
            let mut full = vec!["--config", config.as_str(), "admin"];
            full.extend_from_slice(args);
            full.push("--json");
            run(&db, &full, None)
        };
        let created = admin_c(&[
            "worker",
            "create",
            "--name",
            "gpu-box-1",
            "--model",
            "gpu-image",
        ])
        .json();
        let token = created["token"].as_str().unwrap_or_default().to_string();
        assert!(
            token.starts_with("vs_worker_")
                && easel_core::worker_token::parse("vs", &token).is_ok(),
            "{created}"
        );
        assert!(
            created["id"]
                .as_str()
                .unwrap_or_default()
                .starts_with("wrk_")
        );
        assert_eq!(created["state"], "offline");
        assert_eq!(created["models"], serde_json::json!(["gpu-image"]));
        assert!(token.starts_with(created["token_prefix"].as_str().unwrap_or("?")));
        // Refused: a name taken, a model not run by workers, a model that does not exist.
        for (name, model, says) in [
            ("gpu-box-1", "gpu-image", "exists already"),
            ("odd", "sandbox-image", "engine = \"worker\""),
            ("odd", "nope", "no model"),
        ] {
            let refused = admin_c(&["worker", "create", "--name", name, "--model", model]);
            assert!(
                !refused.ok && refused.stderr.contains(says),
                "{name} {model}: {}",
                refused.stderr
            );
        }
        let listed = admin_c(&["worker", "list"]).json();
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
        assert_eq!(listed[0]["name"], "gpu-box-1");
        assert!(
            listed[0].get("token").is_none(),
            "the token is shown once: {listed}"
        );
        let revoked = admin_c(&["worker", "revoke", "gpu-box-1"]).json();
        assert_eq!(revoked["state"], "revoked");
        assert_eq!(admin_c(&["worker", "list"]).json()[0]["state"], "revoked");
        let missing = admin_c(&["worker", "revoke", "nobody"]);
        assert!(
            !missing.ok && missing.stderr.contains("no worker"),
            "{}",
            missing.stderr
        );
        let audit = admin(&db, &["audit", "--limit", "10"]);
        let actions: Vec<&str> = audit
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert!(
            actions.contains(&"worker.created") && actions.contains(&"worker.revoked"),
            "{actions:?}"
        );
    }
);
