//! Checks replies against the server's OpenAPI document: the status must be
//! documented for the operation, the media type listed for that status, and
//! a JSON body must validate against its schema (with `jsonschema`, the
//! document's components resolving the `$ref`s).

use reqwest::Method;
use serde_json::{Value, json};

use super::Reply;

/// An OpenAPI document.
pub struct Spec {
    doc: Value,
}

impl Spec {
    pub fn new(doc: Value) -> Self {
        Self { doc }
    }

    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// The path template matching a concrete path (`/runs/{id}` for
    /// `/runs/0191…`), literal segments beating parameters.
    pub fn template(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, &String)> = None;
        for template in self.doc["paths"].as_object()?.keys() {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                continue;
            }
            let matches = parts
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')));
            let literals = parts.iter().filter(|t| !t.starts_with('{')).count();
            if matches && best.is_none_or(|(n, _)| literals > n) {
                best = Some((literals, template));
            }
        }
        best.map(|(_, t)| t.clone())
    }

    /// Validates `instance` against `schema`, resolving refs in this document.
    pub fn validate(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        let mut root = schema.clone();
        if let Some(object) = root.as_object_mut() {
            object.insert("components".into(), self.doc["components"].clone());
        } else {
            root = json!({"allOf": [schema], "components": self.doc["components"]});
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .map_err(|e| format!("the schema does not compile: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Validates against a named component schema.
    pub fn validate_component(&self, name: &str, instance: &Value) -> Result<(), String> {
        let schema = json!({"$ref": format!("#/components/schemas/{name}")});
        self.validate(&schema, instance)
    }

    /// Checks one reply.
    pub fn check(&self, reply: &Reply) -> Result<(), String> {
        let operation = self.template(&reply.path).and_then(|t| {
            self.doc["paths"][&t]
                .get(method_key(&reply.method))
                .cloned()
        });
        let Some(operation) = operation else {
            // Outside the API (unknown route, wrong method, /docs,
            // /openapi.json): errors are still problems.
            if reply.status >= 400 {
                return self.check_body(&json!({"$ref": "#/components/schemas/Problem"}), reply);
            }
            return Ok(());
        };
        let status = reply.status.to_string();
        let response = operation["responses"].get(&status).ok_or_else(|| {
            format!(
                "status {status} is not documented (documented: {:?})",
                operation["responses"]
                    .as_object()
                    .map(|o| o.keys().collect::<Vec<_>>())
            )
        })?;
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            return if reply.body.is_empty() {
                Ok(())
            } else {
                Err("a body where the spec documents none".into())
            };
        };
        let media = reply.media_type();
        let entry = content.get(media).ok_or_else(|| {
            format!(
                "content type '{media}' is not documented for {status} (documented: {:?})",
                content.keys().collect::<Vec<_>>()
            )
        })?;
        match entry.get("schema") {
            Some(schema) if is_json(media) => self.check_body(schema, reply),
            _ => Ok(()),
        }
    }

    fn check_body(&self, schema: &Value, reply: &Reply) -> Result<(), String> {
        let body: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("the body is not JSON ({e})"))?;
        self.validate(schema, &body)
    }
}

fn method_key(method: &Method) -> &'static str {
    match *method {
        Method::GET => "get",
        Method::POST => "post",
        Method::PUT => "put",
        Method::DELETE => "delete",
        Method::PATCH => "patch",
        Method::HEAD => "head",
        Method::OPTIONS => "options",
        _ => "trace",
    }
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}
