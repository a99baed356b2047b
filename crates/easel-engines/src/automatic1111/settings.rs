//! The operator's settings of an `automatic1111` model, checked once at build so a bad
//! config stops the server at start rather than failing every generation.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::client::BasicAuth;
use crate::http;

/// img2img's `denoising_strength` when the operator does not set one (A1111's default).
pub const DEFAULT_DENOISING_STRENGTH: f64 = 0.75;

/// Fields of the request body only Easel sets, from the generation itself.
const EASEL_FIELDS: &[&str] = &[
    "prompt",
    "negative_prompt",
    "seed",
    "width",
    "height",
    "batch_size",
    "n_iter",
    "init_images",
    "force_task_id",
    "send_images",
    "save_images",
];

/// Fields that have their own setting; naming them in `extra` too would leave two
/// sources for one value.
const SETTING_FIELDS: &[(&str, &str)] = &[
    ("sampler_name", "sampler"),
    ("sampler_index", "sampler"),
    ("scheduler", "scheduler"),
    ("steps", "steps"),
    ("cfg_scale", "cfg_scale"),
    ("denoising_strength", "denoising_strength"),
];

/// The `settings` table of an `automatic1111` model, as the config gives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    base_url: String,
    #[serde(default)]
    username: Option<String>,
    /// The *name* of the environment variable holding the Basic-auth password.
    #[serde(default)]
    password_env: Option<String>,
    #[serde(default)]
    checkpoint: Option<String>,
    #[serde(default)]
    sampler: Option<String>,
    #[serde(default)]
    scheduler: Option<String>,
    #[serde(default)]
    steps: Option<u32>,
    #[serde(default)]
    cfg_scale: Option<f64>,
    #[serde(default)]
    denoising_strength: Option<f64>,
    #[serde(default)]
    extra: Option<Map<String, Value>>,
}

/// Checked settings, ready to build requests from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub base_url: String,
    pub auth: Option<BasicAuth>,
    pub checkpoint: Option<String>,
    pub sampler: Option<String>,
    pub scheduler: Option<String>,
    pub steps: Option<u32>,
    pub cfg_scale: Option<f64>,
    pub denoising_strength: f64,
    /// `extra.override_settings` plus `sd_model_checkpoint` from `checkpoint`.
    pub override_settings: Map<String, Value>,
    /// `true` when a checkpoint is set (so the server's own model comes back afterwards),
    /// unless `extra` says otherwise.
    pub restore_afterwards: Option<bool>,
    /// The rest of `extra`, passed through as is.
    pub extra: Map<String, Value>,
}

impl Settings {
    /// Parses and checks `value`, reading the password from the environment through `env`.
    pub fn parse(value: &Value, env: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let raw: RawSettings = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        let base_url = http::base_url(&raw.base_url)?;
        let auth = auth(raw.username, raw.password_env, env)?;
        let checkpoint = non_empty("checkpoint", raw.checkpoint)?;
        let sampler = non_empty("sampler", raw.sampler)?;
        let scheduler = non_empty("scheduler", raw.scheduler)?;
        if raw.steps.is_some_and(|s| !(1..=500).contains(&s)) {
            return Err("`steps` must be between 1 and 500".to_owned());
        }
        if raw
            .cfg_scale
            .is_some_and(|c| !(c.is_finite() && (0.0..=100.0).contains(&c)))
        {
            return Err("`cfg_scale` must be between 0 and 100".to_owned());
        }
        let denoising_strength = raw.denoising_strength.unwrap_or(DEFAULT_DENOISING_STRENGTH);
        if !(denoising_strength.is_finite() && (0.0..=1.0).contains(&denoising_strength)) {
            return Err("`denoising_strength` must be between 0 and 1".to_owned());
        }
        let mut extra = raw.extra.unwrap_or_default();
        check_extra(&extra)?;
        let (override_settings, restore_afterwards) = overrides(&mut extra, checkpoint.as_deref())?;
        Ok(Settings {
            base_url,
            auth,
            checkpoint,
            sampler,
            scheduler,
            steps: raw.steps,
            cfg_scale: raw.cfg_scale,
            denoising_strength,
            override_settings,
            restore_afterwards,
            extra,
        })
    }
}

fn non_empty(name: &str, value: Option<String>) -> Result<Option<String>, String> {
    match value {
        Some(v) if v.trim().is_empty() => Err(format!("`{name}` must not be empty")),
        other => Ok(other),
    }
}

/// Basic auth from `username` + the variable named by `password_env`; both or neither.
fn auth(
    username: Option<String>,
    password_env: Option<String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<BasicAuth>, String> {
    match (username, password_env) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(
            "`username` needs `password_env` (the name of an environment \
                                variable holding the password)"
                .to_owned(),
        ),
        (None, Some(_)) => Err("`password_env` needs `username`".to_owned()),
        (Some(username), Some(var)) => {
            if username.is_empty() || username.contains(':') {
                return Err("`username` must be non-empty and without `:`".to_owned());
            }
            match env(&var) {
                Some(password) if !password.is_empty() => {
                    Ok(Some(BasicAuth { username, password }))
                }
                _ => Err(format!(
                    "`password_env`: the environment variable `{var}` is not set or is empty"
                )),
            }
        }
    }
}

/// Refuses `extra` keys that Easel sets or that have their own setting.
fn check_extra(extra: &Map<String, Value>) -> Result<(), String> {
    for key in extra.keys() {
        if EASEL_FIELDS.contains(&key.as_str()) {
            return Err(format!(
                "`extra.{key}` is set by Easel from each generation and cannot be overridden"
            ));
        }
        if let Some((_, setting)) = SETTING_FIELDS.iter().find(|(field, _)| field == key) {
            return Err(format!(
                "`extra.{key}`: use the `{setting}` setting instead"
            ));
        }
    }
    Ok(())
}

/// Takes `override_settings` and `override_settings_restore_afterwards` out of `extra`
/// and merges the checkpoint in, so the body names each key once.
fn overrides(
    extra: &mut Map<String, Value>,
    checkpoint: Option<&str>,
) -> Result<(Map<String, Value>, Option<bool>), String> {
    let mut merged = match extra.remove("override_settings") {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err("`extra.override_settings` must be a table".to_owned()),
    };
    let restore = match extra.remove("override_settings_restore_afterwards") {
        None => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => {
            return Err(
                "`extra.override_settings_restore_afterwards` must be true or false".into(),
            );
        }
    };
    let Some(checkpoint) = checkpoint else {
        return Ok((merged, restore));
    };
    if merged.contains_key("sd_model_checkpoint") {
        return Err(
            "`extra.override_settings.sd_model_checkpoint`: use the `checkpoint` setting instead"
                .to_owned(),
        );
    }
    merged.insert(
        "sd_model_checkpoint".to_owned(),
        Value::String(checkpoint.to_owned()),
    );
    Ok((merged, Some(restore.unwrap_or(true))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Settings, String> {
        Settings::parse(&value, |name| {
            (name == "A1111_PASSWORD").then(|| "hunter2".to_owned())
        })
    }

    #[test]
    fn a_checkpoint_is_overridden_and_restored() {
        let s = parse(json!({
            "base_url": "http://gpu:7860/",
            "checkpoint": "v1-5-pruned-emaonly.safetensors",
            "extra": {"override_settings": {"CLIP_stop_at_last_layers": 2}, "eta": 0.5}
        }))
        .expect("valid");
        assert_eq!(s.base_url, "http://gpu:7860");
        assert_eq!(
            Value::Object(s.override_settings),
            json!({"CLIP_stop_at_last_layers": 2, "sd_model_checkpoint": "v1-5-pruned-emaonly.safetensors"})
        );
        assert_eq!(s.restore_afterwards, Some(true));
        assert_eq!(Value::Object(s.extra), json!({"eta": 0.5}));
        assert_eq!(s.denoising_strength, DEFAULT_DENOISING_STRENGTH);
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let cases = [
            (json!({}), "base_url"),
            (
                json!({"base_url": "http://gpu", "sampler_name": "Euler"}),
                "unknown field",
            ),
            (
                json!({"base_url": "http://gpu", "extra": {"prompt": "x"}}),
                "extra.prompt",
            ),
            (
                json!({"base_url": "http://gpu", "extra": {"n_iter": 2}}),
                "extra.n_iter",
            ),
            (
                json!({"base_url": "http://gpu", "extra": {"steps": 2}}),
                "`steps` setting",
            ),
            (
                json!({"base_url": "http://gpu", "username": "u"}),
                "password_env",
            ),
            (
                json!({"base_url": "http://gpu", "password_env": "A1111_PASSWORD"}),
                "username",
            ),
            (
                json!({"base_url": "http://gpu", "username": "u", "password_env": "UNSET_VAR"}),
                "UNSET_VAR",
            ),
            (
                json!({"base_url": "http://gpu", "denoising_strength": 1.5}),
                "denoising_strength",
            ),
            (json!({"base_url": "http://gpu", "steps": 0}), "steps"),
            (json!({"base_url": "http://u:p@gpu"}), "credentials"),
            (
                json!({"base_url": "http://gpu", "checkpoint": "a",
                       "extra": {"override_settings": {"sd_model_checkpoint": "b"}}}),
                "sd_model_checkpoint",
            ),
        ];
        for (value, needle) in cases {
            let err = parse(value.clone()).expect_err("refused");
            assert!(err.contains(needle), "{value}: {err}");
        }
    }

    #[test]
    fn the_password_comes_from_the_environment_and_stays_out_of_debug() {
        let s = parse(
            json!({"base_url": "http://gpu", "username": "u", "password_env": "A1111_PASSWORD"}),
        )
        .expect("valid");
        let auth = s.auth.as_ref().expect("auth");
        assert_eq!(auth.password, "hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
