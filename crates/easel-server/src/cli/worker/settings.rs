//! The engine settings of `easel worker`, from the command line: the same table a model's
//! `settings` holds in the server's config, given whole (`--settings` as JSON, or
//! `@file.json` / `@file.toml`) and then overridden key by key (`--setting KEY=VALUE`).

use std::path::Path;

use serde_json::{Map, Value};

/// Builds the settings object: `whole` first (when given), then each `KEY=VALUE` in order,
/// a later key replacing an earlier one. The error names the flag and what is wrong.
pub fn build(whole: Option<&str>, pairs: &[String]) -> Result<Value, String> {
    let mut settings = match whole {
        Some(text) => parse_whole(text)?,
        None => Map::new(),
    };
    for pair in pairs {
        let (key, value) = parse_pair(pair)?;
        settings.insert(key, value);
    }
    Ok(Value::Object(settings))
}

/// `--settings`: inline JSON, or `@path` to a `.json` or `.toml` file.
fn parse_whole(text: &str) -> Result<Map<String, Value>, String> {
    let value = match text.strip_prefix('@') {
        Some(path) => read_file(Path::new(path))?,
        None => serde_json::from_str(text)
            .map_err(|e| format!("--settings is not valid JSON ({e}); use @FILE to read a file"))?,
    };
    match value {
        Value::Object(map) => Ok(map),
        other => Err(format!(
            "--settings must be a JSON object or a TOML table, not {}",
            json_type(&other)
        )),
    }
}

/// Reads a settings file by its extension.
fn read_file(path: &Path) -> Result<Value, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--settings: cannot read {shown}: {e}"))?;
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => serde_json::from_str(&text)
            .map_err(|e| format!("--settings: {shown} is not valid JSON: {e}")),
        Some(ext) if ext.eq_ignore_ascii_case("toml") => {
            let table: toml::Table = toml::from_str(&text)
                .map_err(|e| format!("--settings: {shown} is not valid TOML: {e}"))?;
            serde_json::to_value(table)
                .map_err(|e| format!("--settings: {shown} cannot be used as settings: {e}"))
        }
        _ => Err(format!(
            "--settings: {shown} must end in .json or .toml, which says how to read it"
        )),
    }
}

/// `KEY=VALUE`: the value is JSON when it parses as JSON (`30`, `true`, `[1, 2]`,
/// `"quoted"`), else the text as it is (`http://gpu:8188`, `v1-5.safetensors`).
fn parse_pair(pair: &str) -> Result<(String, Value), String> {
    let Some((key, raw)) = pair.split_once('=') else {
        return Err(format!("--setting `{pair}` must be KEY=VALUE"));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("--setting `{pair}` has no key before `=`"));
    }
    let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
    Ok((key.to_owned(), value))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn values_are_json_when_they_parse_and_text_otherwise() {
        let got = build(
            None,
            &pairs(&[
                "steps=30",
                "cfg=7.5",
                "tiled=true",
                "base_url=http://gpu:8188",
                "checkpoint=v1-5.safetensors",
                "quoted=\"42\"",
                "list=[1, 2]",
                "empty=",
                "expr=a=b",
                "nothing=null",
            ]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got,
            json!({
                "steps": 30, "cfg": 7.5, "tiled": true, "base_url": "http://gpu:8188",
                "checkpoint": "v1-5.safetensors", "quoted": "42", "list": [1, 2],
                "empty": "", "expr": "a=b", "nothing": null,
            })
        );
    }

    #[test]
    fn pairs_override_the_whole_table_and_later_pairs_win() {
        let got = build(
            Some(r#"{"base_url": "http://a:1", "steps": 20, "keep": "me"}"#),
            &pairs(&["steps=40", "base_url=http://b:2", "steps=50"]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got,
            json!({"base_url": "http://b:2", "steps": 50, "keep": "me"})
        );
        assert_eq!(
            build(None, &[]).unwrap_or_else(|e| panic!("{e}")),
            json!({})
        );
    }

    #[test]
    fn bad_pairs_and_non_objects_are_refused_by_name() {
        let err = build(None, &pairs(&["steps"])).expect_err("no `=`");
        assert!(err.contains("KEY=VALUE"), "{err}");
        let err = build(None, &pairs(&[" =3"])).expect_err("no key");
        assert!(err.contains("no key"), "{err}");
        let err = build(Some("[1, 2]"), &[]).expect_err("an array");
        assert!(err.contains("not an array"), "{err}");
        let err = build(Some("{not json"), &[]).expect_err("bad JSON");
        assert!(err.contains("--settings is not valid JSON"), "{err}");
    }

    #[test]
    fn files_are_read_by_their_extension() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
            format!("@{}", path.display())
        };
        let toml = write(
            "comfy.toml",
            "base_url = \"http://gpu:8188\"\nworkflow = \"wf.json\"\n[inputs]\nsteps = 30\n",
        );
        let got =
            build(Some(&toml), &pairs(&["workflow=other.json"])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got,
            json!({"base_url": "http://gpu:8188", "workflow": "other.json", "inputs": {"steps": 30}})
        );
        let json_file = write("a1111.JSON", r#"{"checkpoint": "sdxl"}"#);
        let got = build(Some(&json_file), &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, json!({"checkpoint": "sdxl"}));

        let yaml = write("x.yaml", "a: 1");
        let err = build(Some(&yaml), &[]).expect_err("unknown extension");
        assert!(err.contains(".json or .toml"), "{err}");
        let broken = write("broken.toml", "base_url = ");
        let err = build(Some(&broken), &[]).expect_err("bad TOML");
        assert!(err.contains("not valid TOML"), "{err}");
        let err = build(Some("@/nonexistent/settings.toml"), &[]).expect_err("missing");
        assert!(err.contains("cannot read"), "{err}");
    }
}
