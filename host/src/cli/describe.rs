//! `algohost list`, `describe` and `plugins`: read manifests and
//! diagnostics; nothing here runs an algorithm.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::UsageError;
use crate::registry::Registry;

pub(super) fn list(registry: &Registry, as_json: bool) -> anyhow::Result<u8> {
    if as_json {
        let all: Vec<_> = registry.algorithms().map(|a| a.view()).collect();
        outln!("{}", serde_json::to_string_pretty(&all)?)?;
        return Ok(0);
    }
    let rows: Vec<[String; 4]> = registry
        .algorithms()
        .map(|a| {
            let m = &a.manifest;
            let summary = first_sentence(&m.description);
            [
                m.name.clone(),
                m.version.clone(),
                a.source.kind().to_owned(),
                summary,
            ]
        })
        .collect();
    print_table(&["NAME", "VERSION", "SOURCE", "DESCRIPTION"], &rows)?;
    if !registry.diagnostics().is_empty() {
        errln!(
            "\n{} plugin problem(s); `algohost plugins` shows them",
            registry.diagnostics().len()
        );
    }
    Ok(0)
}

/// Prints `rows` under `header` in columns two spaces apart; the last
/// column is not padded (it may be long).
pub(super) fn print_table<const N: usize>(
    header: &[&str; N],
    rows: &[[String; N]],
) -> anyhow::Result<()> {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        outln!("{}", out.trim_end())
    };
    line(*header)?;
    for row in rows {
        line(row.each_ref().map(String::as_str))?;
    }
    Ok(())
}

pub(super) fn describe(registry: &Registry, name: &str, as_json: bool) -> anyhow::Result<u8> {
    let algorithm = registry.get(name).map_err(|e| UsageError(e.to_string()))?;
    if as_json {
        outln!("{}", serde_json::to_string_pretty(&algorithm.view())?)?;
        return Ok(0);
    }
    let m = &algorithm.manifest;
    outln!("{} {}  ({})", m.name, m.version, algorithm.source)?;
    if !m.description.is_empty() {
        outln!("\n{}", m.description)?;
    }
    outln!("\nParams:")?;
    print_params(&m.params_schema, &m.params_schema, "  ")?;
    // What `algohost serve` does with a run a stopped server left running.
    outln!(
        "\nIdempotent: {}",
        if m.idempotent {
            "yes (a run a stopped server left running is queued again)"
        } else {
            "no (a run a stopped server left running is marked failed, interrupted)"
        }
    )?;
    if !m.outputs.is_empty() {
        outln!("\nOutputs:")?;
        for o in &m.outputs {
            if o.columns.is_empty() {
                // Columns not declared (they may depend on the params).
                outln!("  {}", o.name)?;
            } else {
                outln!("  {}: {}", o.name, o.columns.join(", "))?;
            }
        }
    }
    Ok(0)
}

/// Prints the properties of an object schema, one per line, nested objects
/// indented; `$ref`s into `$defs` are followed.
fn print_params(root: &Value, schema: &Value, indent: &str) -> anyhow::Result<()> {
    let schema = resolve(root, schema);
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        outln!("{indent}(none)")?;
        return Ok(());
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, declared) in props {
        // A `$ref`'d property keeps its own default and description.
        let prop = resolve(root, declared);
        let field = |key: &str| declared.get(key).or_else(|| prop.get(key));
        let kind = type_name(root, prop);
        let mut line = format!("{indent}{name}: {kind}");
        if required.contains(&name.as_str()) {
            line.push_str(" (required)");
        }
        if let Some(default) = field("default") {
            line.push_str(&format!(" = {default}"));
        }
        if let Some(desc) = field("description").and_then(Value::as_str) {
            line.push_str(&format!("  — {}", first_paragraph(desc)));
        }
        outln!("{line}")?;
        if prop.get("properties").is_some() {
            print_params(root, prop, &format!("{indent}  "))?;
        }
    }
    Ok(())
}

/// "number", "string or null", "one of \"grid\", \"pv_only\"", "array of
/// string". An `anyOf`/`oneOf` of simple types (pydantic's `Optional[str]`)
/// reads like a `type` list: "string or null".
fn type_name(root: &Value, schema: &Value) -> String {
    let branches = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array);
    let choices = schema
        .get("enum")
        .and_then(Value::as_array)
        .cloned()
        .or_else(|| branches?.iter().map(|b| b.get("const").cloned()).collect());
    if let Some(choices) = choices {
        let list: Vec<String> = choices.iter().map(Value::to_string).collect();
        return format!("one of {}", list.join(", "));
    }
    if schema.get("type").is_none()
        && let Some(branches) = branches
    {
        let mut kinds: Vec<String> = Vec::new();
        for branch in branches {
            let kind = type_name(root, resolve(root, branch));
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if !kinds.is_empty() && !kinds.iter().any(|k| k == "any") {
            return kinds.join(" or ");
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => return "any".into(),
    };
    match schema
        .get("items")
        .and_then(|i| i.get("type"))
        .and_then(Value::as_str)
    {
        Some(item) if kind == "array" => format!("array of {item}"),
        _ => kind,
    }
}

/// The first paragraph of a doc text, on one line.
fn first_paragraph(text: &str) -> String {
    let paragraph = text.trim().split("\n\n").next().unwrap_or("");
    paragraph.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first sentence of a doc text, on one line, for listings.
fn first_sentence(text: &str) -> String {
    let paragraph = first_paragraph(text);
    match paragraph.find(". ") {
        Some(end) => paragraph[..=end].to_owned(),
        None => paragraph,
    }
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let by_ref = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer));
    let all_of = schema
        .get("allOf")
        .and_then(Value::as_array)
        .filter(|a| a.len() == 1)
        .map(|a| &a[0]);
    match by_ref.or(all_of) {
        Some(target) => resolve(root, target),
        None => schema,
    }
}

pub(super) fn plugins(registry: &Registry, dirs: &[PathBuf], as_json: bool) -> anyhow::Result<u8> {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for a in registry.algorithms() {
        *counts.entry(a.source.kind()).or_default() += 1;
    }
    let env_path = std::env::var("ALGOHOST_PLUGIN_PATH").unwrap_or_default();
    let venv = python_environment();
    if as_json {
        let value = json!({
            "sources": counts,
            "plugin_dirs": dirs,
            "plugin_path_env": env_path,
            "python_environment": venv,
            "diagnostics": registry.diagnostics(),
        });
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(0);
    }
    outln!("Sources:")?;
    for kind in ["builtin", "dylib", "python"] {
        outln!(
            "  {kind:<8} {} algorithm(s)",
            counts.get(kind).copied().unwrap_or(0)
        )?;
    }
    let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    outln!(
        "Plugin dirs: {}",
        if dirs.is_empty() {
            "(none)".into()
        } else {
            dirs.join(", ")
        }
    )?;
    outln!(
        "ALGOHOST_PLUGIN_PATH: {}",
        if env_path.is_empty() {
            "(unset)"
        } else {
            &env_path
        }
    )?;
    if let Some(venv) = &venv {
        outln!("Python plugins from: {venv}")?;
    }
    if registry.diagnostics().is_empty() {
        outln!("No problems.")?;
    } else {
        outln!("Problems:")?;
        for d in registry.diagnostics() {
            outln!(
                "  [{}] {}\n      {}\n      fix: {}",
                d.source,
                d.location,
                d.reason,
                d.hint
            )?;
        }
    }
    Ok(0)
}

/// Where the embedded Python looked for plugins, for `plugins`.
#[cfg(feature = "python")]
fn python_environment() -> Option<String> {
    use crate::python::Venv;
    crate::python::venv().map(|venv| match venv {
        Venv::Unset => "this interpreter's site-packages (VIRTUAL_ENV is not set)".to_owned(),
        Venv::Found(site) => format!("{} (VIRTUAL_ENV)", site.display()),
        Venv::Missing { venv, .. } => {
            format!(
                "nowhere: VIRTUAL_ENV={} is not a virtualenv",
                venv.display()
            )
        }
    })
}

/// Without Python, no plugins come from it.
#[cfg(not(feature = "python"))]
fn python_environment() -> Option<String> {
    None
}
