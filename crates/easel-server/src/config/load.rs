//! Reading and validating the configuration.
//!
//! figment layers the sources and reports type errors with the key path and the source
//! they came from; `toml_edit` then finds the line of that key in the file, so an operator
//! reads `easel.toml:12: http.max_body_bytes: invalid type …` rather than a bare serde error.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::{Figment, Source};

use super::{Config, DEFAULT_TOML};

/// Why the configuration was refused, with where the bad value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{}:{line}: {reason}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// A value is missing, mistyped, unknown or unacceptable. `origin` is `file:line`, an
    /// environment variable, or "built-in default".
    #[error("{origin}: `{key}`: {reason}")]
    Invalid {
        origin: String,
        key: String,
        reason: String,
    },
}

/// `EASEL_*` variables that are not settings (read by the CLI, the test harness or the
/// bench scripts).
fn is_setting(key: &str) -> bool {
    !matches!(key, "config" | "log_format" | "log")
        && !key.starts_with("test_")
        && !key.starts_with("bench_")
}

/// Loads defaults, then `file` (if any), then `EASEL_*` environment variables, then
/// `overrides` (command-line flags such as `--listen`, as dotted keys).
pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
    let mut text = None;
    if let Some(path) = file {
        let contents = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if let Err(e) = contents.parse::<toml_edit::DocumentMut>() {
            let line = e.span().map_or(1, |s| line_at(&contents, s.start));
            return Err(ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                reason: e.message().trim().to_string(),
            });
        }
        figment = figment.merge(Toml::file_exact(path));
        text = Some((path.to_path_buf(), contents));
    }
    figment = figment.merge(
        Env::prefixed("EASEL_")
            .split("__")
            .filter(|k| is_setting(&k.as_str().to_ascii_lowercase())),
    );
    for (key, value) in overrides {
        figment = figment.merge(figment::providers::Serialized::default(key, value));
    }
    let locate = |key: &str| {
        if overrides.iter().any(|(k, _)| *k == key) {
            format!("command-line flag --{}", key.replace('_', "-"))
        } else {
            origin_of(text.as_ref(), key)
        }
    };

    let mut config: Config = figment.extract().map_err(|e| {
        let e = e
            .into_iter()
            .next()
            .unwrap_or_else(|| figment::Error::from("invalid configuration".to_string()));
        let mut key = e.path.join(".");
        // figment's path usually ends with the unknown field already; add it if not.
        if let figment::error::Kind::UnknownField(field, _) = &e.kind
            && e.path.last() != Some(field)
        {
            key = if key.is_empty() {
                field.clone()
            } else {
                format!("{key}.{field}")
            };
        }
        let origin = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
            Some(Source::File(_)) | None => locate(&key),
            Some(other) => other.to_string(),
        };
        let origin = if e
            .metadata
            .as_ref()
            .is_some_and(|m| m.name.contains("environment"))
        {
            env_var_name(&key)
        } else {
            origin
        };
        ConfigError::Invalid {
            origin,
            key,
            reason: e.kind.to_string(),
        }
    })?;
    config.config_dir = match file.and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::env::current_dir().unwrap_or_default(),
    };
    super::validate::validate(&config).map_err(|(key, reason)| ConfigError::Invalid {
        origin: locate(&key),
        key,
        reason,
    })?;
    Ok(config)
}

/// Where the value of `key` came from: the environment wins, then the file, then defaults.
fn origin_of(file: Option<&(PathBuf, String)>, key: &str) -> String {
    let var = env_var_name(key);
    if std::env::var_os(&var).is_some() {
        return format!("environment variable {var}");
    }
    if let Some((path, contents)) = file
        && let Some(line) = line_of_key(contents, key)
    {
        return format!("{}:{line}", path.display());
    }
    "built-in default".into()
}

/// `http.max_body_bytes` → `EASEL_HTTP__MAX_BODY_BYTES`; an array element's index
/// (`webhooks.test_mode_loopback_ports.0`) is part of the array's variable.
fn env_var_name(key: &str) -> String {
    let parts: Vec<&str> = key
        .split('.')
        .filter(|p| p.parse::<usize>().is_err())
        .collect();
    format!("EASEL_{}", parts.join("__").to_uppercase())
}

/// The 1-based line of a dotted key in a TOML document, if the key is written there.
fn line_of_key(contents: &str, key: &str) -> Option<usize> {
    let doc = contents.parse::<toml_edit::ImDocument<String>>().ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut span = None;
    for part in key.split('.') {
        // figment names an array element by its index (`ports.0`).
        if let (Ok(i), Some(array)) = (part.parse::<usize>(), item.as_array()) {
            span = array.get(i).and_then(toml_edit::Value::span).or(span);
            return span.map(|s| line_at(contents, s.start));
        }
        // `sizes[1]`: the key, then an element of the array it holds.
        let (name, index) = match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
            Some((name, i)) => (name, i.parse::<usize>().ok()),
            None => (part, None),
        };
        let table = item.as_table_like()?;
        let (k, value) = table.get_key_value(name)?;
        span = k.span().or_else(|| value.span()).or(span);
        item = value;
        if let Some(i) = index {
            let element = item.as_array().and_then(|a| a.get(i));
            span = element.and_then(toml_edit::Value::span).or(span);
            return span.map(|s| line_at(contents, s.start));
        }
    }
    span.map(|s| line_at(contents, s.start))
}

fn line_at(contents: &str, offset: usize) -> usize {
    contents
        .as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(contents: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let path = dir.path().join("easel.toml");
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write: {e}"));
        (dir, path)
    }

    fn err(contents: &str) -> String {
        let (_dir, path) = write(contents);
        match load(Some(&path), &[]) {
            Ok(_) => panic!("config should be refused:\n{contents}"),
            Err(e) => e.to_string().replace(&path.display().to_string(), "FILE"),
        }
    }

    #[test]
    fn defaults_load() {
        let config = load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.api_keys.prefix, "vs");
        assert_eq!(config.plan("free").map(|p| p.requests_per_minute), Some(10));
        assert_eq!(config.plan("pro").map(|p| p.concurrent_jobs), Some(20));
        assert_eq!(config.http.header_read_timeout_seconds, 15);
        assert_eq!(config.http.idle_timeout_seconds, 30);
        assert_eq!(config.http.max_connections_per_ip, 256);
        assert_eq!(
            config.http.connection_cap_exempt,
            ["127.0.0.0/8", "::1/128"]
        );
    }

    #[test]
    fn a_file_overrides_defaults() {
        let (_dir, path) = write("listen = \"127.0.0.1:9999\"\n[api_keys]\nprefix = \"acme\"\n");
        let config = load(Some(&path), &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen, "127.0.0.1:9999");
        assert_eq!(config.api_keys.prefix, "acme");
        assert_eq!(
            config.api_keys.rotation_grace_hours, 24,
            "untouched keys keep their defaults"
        );
    }

    #[test]
    fn githubs_keys_and_the_leak_setting_read_as_an_operator_writes_them() {
        let (_dir, path) = write(
            "[api_keys]\non_leak = \"flag\"\n\n[[secret_scanning.github_public_keys]]\n\
             key_identifier = \"90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a\"\n\
             key = \"\"\"-----BEGIN PUBLIC KEY-----\n\
             MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9MJJHnMfn2+H4xL4YaPDA4RpJqUq\n\
             kCmRCBnYERxZanmcpzQSXs1X/AljlKkbJ8qpVIW4clayyef9gWhFbNHWAA==\n\
             -----END PUBLIC KEY-----\"\"\"\n",
        );
        let config = load(Some(&path), &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.api_keys.on_leak, super::super::OnLeak::Flag);
        assert_eq!(config.secret_scanning.github_public_keys.len(), 1);
        assert_eq!(config.secret_scanning.max_matches, 100, "defaults kept");
        let unknown = err("[api_keys]\non_leak = \"delete\"\n");
        assert!(
            unknown.starts_with("FILE:2: `api_keys.on_leak`"),
            "{unknown}"
        );
    }

    #[test]
    fn errors_name_file_line_key_and_reason() {
        assert_eq!(
            err("listen = \"127.0.0.1:1\"\n\n[http]\nmax_body_bytes = \"lots\"\n"),
            "FILE:4: `http.max_body_bytes`: invalid type: found string \"lots\", expected usize"
        );
        let unknown = err("[http]\nmax_body_byte = 5\n");
        assert!(
            unknown.starts_with("FILE:2: `http.max_body_byte`: unknown field"),
            "{unknown}"
        );
        let syntax = err("listen = \"x\nfoo = 1\n");
        assert!(syntax.starts_with("FILE:1: "), "{syntax}");
        assert_eq!(
            err("\n[api_keys]\nprefix = \"Bad_Prefix\"\n"),
            "FILE:3: `api_keys.prefix`: must be 1 to 12 lower-case letters or digits (no `_`), got \"Bad_Prefix\""
        );
        assert_eq!(
            err("default_plan = \"gold\"\n"),
            "FILE:1: `default_plan`: no plan named \"gold\" is configured (have: enterprise, free, pro, starter)"
        );
        let listen = err("listen = \"localhost\"\n");
        assert!(listen.starts_with("FILE:1: `listen`: "), "{listen}");
        assert_eq!(
            err("[http]\nconnection_cap_exempt = [\"10.0.0.0/8\", \"proxy\"]\n"),
            "FILE:2: `http.connection_cap_exempt`: \"proxy\" is not a CIDR block such as 10.0.0.0/8 or ::1/128"
        );
        let header = err("[http]\nheader_read_timeout_seconds = 0\n");
        assert!(
            header.starts_with("FILE:2: `http.header_read_timeout_seconds`: must be between 1"),
            "{header}"
        );
        let licence = err("[plans.free]\nlicence = \"anything\"\n");
        assert!(
            licence.starts_with("FILE:2: `plans.free.licence`: unknown variant"),
            "{licence}"
        );
    }

    #[test]
    fn test_mode_loopback_ports_are_none_by_default_and_take_ports_and_ranges() {
        let defaults = load(None, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(defaults.webhooks.test_mode_loopback_ports.is_empty());
        let (_dir, path) = write("[webhooks]\ntest_mode_loopback_ports = [3000, \"8000-8999\"]\n");
        let config = load(Some(&path), &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            crate::webhooks::ports::list(&config.webhooks.test_mode_loopback_ports),
            "3000, 8000-8999"
        );
        for bad in ["[0]", "[\"any\"]", "[\"9-1\"]", "3000"] {
            let e = err(&format!("[webhooks]\ntest_mode_loopback_ports = {bad}\n"));
            assert!(
                e.starts_with("FILE:2: `webhooks.test_mode_loopback_ports"),
                "{bad}: {e}"
            );
        }
        // The environment's syntax (EASEL_WEBHOOKS__TEST_MODE_LOOPBACK_PORTS='[3000]'): figment
        // parses a variable's value as this does.
        let env: figment::value::Value = "[3000, \"1-2\"]"
            .parse()
            .unwrap_or_else(|e: std::convert::Infallible| match e {});
        let ports: Vec<crate::webhooks::ports::PortRange> =
            env.deserialize().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(crate::webhooks::ports::list(&ports), "3000, 1-2");
    }

    #[test]
    fn flags_override_the_file_and_are_validated() {
        let (_dir, path) = write("listen = \"127.0.0.1:9999\"\n");
        let config = load(Some(&path), &[("listen", "127.0.0.1:7000".into())])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen, "127.0.0.1:7000");
        let e = load(None, &[("listen", "nonsense".into())])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("command-line flag --listen: `listen`: "),
            "{e}"
        );
    }

    #[test]
    fn models_are_validated_with_their_line() {
        let bad_size = err(
            "[models.x]\nkind = \"image\"\nengine = \"sandbox\"\nweb_price = 1\nsizes = [\"512x512\", \"big\"]\n",
        );
        assert!(
            bad_size.starts_with("FILE:5: `models.x.sizes[1]`: \"big\" is not a size"),
            "{bad_size}"
        );
        let odd_video = err(
            "[models.v]\nkind = \"video\"\nengine = \"sandbox\"\nweb_price = 1\nsizes = [\"511x512\"]\ndurations = [2]\nfps = [24]\n",
        );
        assert!(
            odd_video.contains("`models.v.sizes[0]`: video sizes need even sides"),
            "{odd_video}"
        );
        let engine = err(
            "[models.y]\nkind = \"image\"\nengine = \"dalle\"\nweb_price = 1\nsizes = [\"512x512\"]\n",
        );
        assert!(
            engine.starts_with("FILE:3: `models.y.engine`: unknown engine \"dalle\""),
            "{engine}"
        );
        let plan = err(
            "[models.z]\nkind = \"image\"\nengine = \"sandbox\"\nweb_price = 1\nsizes = [\"512x512\"]\nplans = [\"gold\"]\n",
        );
        assert!(
            plan.contains("`models.z.plans[0]`: no plan named \"gold\""),
            "{plan}"
        );
        let no_durations = err(
            "[models.w]\nkind = \"video\"\nengine = \"sandbox\"\nweb_price = 1\nsizes = [\"512x512\"]\nfps = [24]\n",
        );
        assert!(
            no_durations.contains("`models.w.durations`"),
            "{no_durations}"
        );
        let markup = err("[pricing]\nmarkup = \"0.5\"\n");
        assert!(markup.starts_with("FILE:2: `pricing.markup`"), "{markup}");
        let missing =
            err("[models.m]\nkind = \"image\"\nengine = \"sandbox\"\nsizes = [\"512x512\"]\n");
        assert!(missing.contains("web_price"), "{missing}");
    }

    #[test]
    fn generation_runtime_settings_are_validated() {
        let store = err("object_store_url = \"ftp://x\"\n");
        assert!(
            store.starts_with("FILE:1: `object_store_url`: must start with file:// or s3://"),
            "{store}"
        );
        let bucket = err("object_store_url = \"s3://\"\n");
        assert!(bucket.contains("names a bucket"), "{bucket}");
        let http = err("[s3]\nendpoint = \"http://127.0.0.1:9000\"\n");
        assert!(http.contains("`s3.endpoint`: is plain HTTP"), "{http}");
        let beat = err("[queue]\nlease_ms = 1000\nheartbeat_ms = 600\n");
        assert!(
            beat.contains("`queue.heartbeat_ms`: must be at most half"),
            "{beat}"
        );
        let wait = err("[generations]\nmax_wait_seconds = 100\n");
        assert!(wait.contains("`generations.max_wait_seconds`"), "{wait}");
        let default = err("[generations]\ndefault_image_model = \"sandbox-video\"\n");
        assert!(
            default.contains("is not an enabled image model"),
            "{default}"
        );
        let settings = err("[models.sandbox-image.settings]\ndelay = 5\n");
        assert!(
            settings.contains("`models.sandbox-image.settings`: unknown field `delay`"),
            "{settings}"
        );
        let huge = err(
            "[models.h]\nkind = \"image\"\nengine = \"sandbox\"\nweb_price = 1\nsizes = [\"8000x8000\"]\n",
        );
        assert!(
            huge.contains("draws at most 4096 pixels per side"),
            "{huge}"
        );
        let uhd = err(
            "[models.u]\nkind = \"video\"\nengine = \"sandbox\"\nweb_price = 1\nsizes = [\"4096x4096\"]\ndurations = [2]\nfps = [24]\n",
        );
        assert!(uhd.contains("at most 3840x2160 pixels"), "{uhd}");
    }

    #[test]
    fn missing_file_is_reported() {
        let e = load(Some(Path::new("/nonexistent/easel.toml")), &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("cannot read config file /nonexistent/easel.toml"),
            "{e}"
        );
    }
}
