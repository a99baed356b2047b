//! Checks responses against the server's generated OpenAPI document.
//!
//! For every response of a documented operation: the status must be documented (exactly or
//! as `4XX`/`5XX`), the body must validate against the schema (JSON Schema 2020-12), and
//! every object field in the body must be documented (a handler returning a field the
//! document does not mention fails, not only one missing a required field). A `/v1` request
//! whose path matches no documented operation fails too, unless it is a 404 or 405.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::{Map, Value};

pub struct Checker {
    doc: Value,
    covered: Mutex<BTreeSet<(String, String)>>,
}

impl Checker {
    pub fn new(doc: Value) -> Checker {
        Checker {
            doc,
            covered: Mutex::new(BTreeSet::new()),
        }
    }

    /// Every (METHOD, path template) in the document.
    pub fn operations(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (path, item) in self.doc["paths"].as_object().into_iter().flatten() {
            for method in item
                .as_object()
                .into_iter()
                .flatten()
                .map(|(m, _)| m.to_uppercase())
            {
                out.push((method, path.clone()));
            }
        }
        out
    }

    pub fn covered(&self) -> Vec<(String, String)> {
        self.covered
            .lock()
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let path = path.split('?').next().unwrap_or(path);
        let Some(template) = self.match_path(method, path) else {
            assert!(
                !(path.starts_with("/v1") || path.starts_with("/worker/"))
                    || status == 404
                    || status == 405,
                "{method} {path} answered {status} but is missing from the OpenAPI document"
            );
            return;
        };
        if let Ok(mut covered) = self.covered.lock() {
            covered.insert((method.to_string(), template.clone()));
        }
        let op = &self.doc["paths"][&template][method.to_lowercase()];
        let responses = &op["responses"];
        let class = format!("{}XX", status / 100);
        let response = [status.to_string(), class, "default".into()]
            .iter()
            .map(|k| &responses[k])
            .find(|r| !r.is_null())
            .unwrap_or_else(|| panic!("{method} {template}: status {status} is not documented"));
        if status == 204 {
            assert!(body.is_null(), "{method} {template} 204 has a body: {body}");
            assert!(
                response["content"].is_null(),
                "{method} {template}: 204 documented with content"
            );
            return;
        }
        let schema = &response["content"]["application/json"]["schema"];
        assert!(
            !schema.is_null(),
            "{method} {template} {status}: no JSON schema documented"
        );
        let mut root = schema.as_object().cloned().unwrap_or_default();
        root.insert("components".into(), self.doc["components"].clone());
        let root = Value::Object(root);
        let validator = jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("{method} {template}: bad schema: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {status}: body does not match the document: {errors:?}\nbody: {body}"
        );
        let mut undocumented = Vec::new();
        self.undocumented(schema, body, "$", &mut undocumented);
        assert!(
            undocumented.is_empty(),
            "{method} {template} {status}: undocumented fields {undocumented:?}\nbody: {body}"
        );
    }

    fn match_path(&self, method: &str, path: &str) -> Option<String> {
        let parts: Vec<&str> = path.split('/').collect();
        self.doc["paths"]
            .as_object()?
            .iter()
            .find_map(|(template, item)| {
                let t: Vec<&str> = template.split('/').collect();
                let same = t.len() == parts.len()
                    && t.iter().zip(&parts).all(|(a, b)| {
                        (a.starts_with('{') && a.ends_with('}') && !b.is_empty()) || a == b
                    });
                (same && !item[method.to_lowercase()].is_null()).then(|| template.clone())
            })
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or_default();
                self.resolve(&self.doc["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    /// The documented property schemas of an object schema, through allOf/oneOf/anyOf.
    fn properties(&self, schema: &Value, out: &mut Map<String, Value>) {
        let schema = self.resolve(schema);
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                out.insert(k.clone(), v.clone());
            }
        }
        for key in ["allOf", "oneOf", "anyOf"] {
            for sub in schema
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.properties(sub, out);
            }
        }
    }

    fn item_schema(&self, schema: &Value) -> Option<Value> {
        let schema = self.resolve(schema);
        if let Some(items) = schema.get("items") {
            return Some(items.clone());
        }
        ["allOf", "oneOf", "anyOf"]
            .iter()
            .flat_map(|k| {
                schema
                    .get(*k)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .find_map(|s| self.item_schema(s))
    }

    fn undocumented(&self, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(fields) => {
                let mut props = Map::new();
                self.properties(schema, &mut props);
                let free_form = props.is_empty();
                for (k, v) in fields {
                    match props.get(k) {
                        Some(sub) => self.undocumented(sub, v, &format!("{at}.{k}"), out),
                        None if free_form => {}
                        None => out.push(format!("{at}.{k}")),
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = self.item_schema(schema) {
                    for (i, v) in items.iter().enumerate() {
                        self.undocumented(&item, v, &format!("{at}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }
}
