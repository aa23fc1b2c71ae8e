//! The registry: name → manifest, compiled params validator and invoker, for
//! algorithms from every source. Discovery never aborts: whatever cannot be
//! registered becomes a [`Diagnostic`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use algohost_sdk::{Context, Manifest, Output};
use serde::Serialize;
use serde_json::Value;

use crate::validation::{ParamsError, ParamsValidator};

/// Where an algorithm comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Linked into the running binary, collected with `inventory`.
    Builtin,
    /// A Rust cdylib loaded at run time.
    Dylib {
        /// The library file.
        path: PathBuf,
    },
    /// A Python entry point in group `algohost.algorithms`.
    Python {
        /// `name = module:attr`.
        entry_point: String,
    },
}

impl Source {
    /// `builtin`, `dylib` or `python`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Builtin => "builtin",
            Source::Dylib { .. } => "dylib",
            Source::Python { .. } => "python",
        }
    }

    /// Where, for people: the path or entry point (empty for builtin).
    pub fn location(&self) -> String {
        match self {
            Source::Builtin => String::new(),
            Source::Dylib { path } => path.display().to_string(),
            Source::Python { entry_point } => entry_point.clone(),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Builtin => f.write_str("builtin"),
            other => write!(f, "{} {}", other.kind(), other.location()),
        }
    }
}

/// Runs an algorithm of some source. Every source produces one; nothing
/// downstream asks which source it is.
pub trait Invoker: Send + Sync {
    /// Runs with validated params. A panic inside is the caller's to catch.
    fn invoke(&self, ctx: &Context, params: Value) -> algohost_sdk::Result<Output>;
}

/// A plugin (or algorithm) that could not be registered, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// `builtin`, `dylib` or `python`.
    pub source: String,
    /// Library path, entry point or algorithm name.
    pub location: String,
    /// What went wrong.
    pub reason: String,
    /// What to do about it.
    pub hint: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} ({})",
            self.source, self.location, self.reason, self.hint
        )
    }
}

/// A registered algorithm.
pub struct Algorithm {
    /// Its manifest.
    pub manifest: Manifest,
    /// Where it came from.
    pub source: Source,
    validator: ParamsValidator,
    invoker: Arc<dyn Invoker>,
}

impl std::fmt::Debug for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Algorithm")
            .field("name", &self.manifest.name)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Algorithm {
    /// Every params error; empty when the params are valid.
    pub fn validate(&self, params: &Value) -> Vec<ParamsError> {
        self.validator.errors(params)
    }

    /// The invoker (for the runner).
    pub fn invoker(&self) -> &Arc<dyn Invoker> {
        &self.invoker
    }
}

/// The manifest plus its source, as listings show it.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestView<'a> {
    #[serde(flatten)]
    manifest: &'a Manifest,
    source: &'a Source,
}

impl Algorithm {
    /// The manifest with its source, for JSON listings.
    pub fn view(&self) -> ManifestView<'_> {
        ManifestView {
            manifest: &self.manifest,
            source: &self.source,
        }
    }
}

/// All algorithms of a host, by name, and the diagnostics of discovery.
#[derive(Default)]
pub struct Registry {
    algorithms: BTreeMap<String, Algorithm>,
    diagnostics: Vec<Diagnostic>,
    /// Why a source found nothing, for an unknown name (see
    /// [`Registry::set_empty_source_note`]).
    empty_source_note: Option<String>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("algorithms", &self.algorithms.keys().collect::<Vec<_>>())
            .field("diagnostics", &self.diagnostics.len())
            .finish()
    }
}

/// Why [`Registry::get`] found nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown algorithm '{name}'{}{}{}", suggestion(.close, .registered), problems_note(*.problems), note.as_ref().map(|n| format!("; {n}")).unwrap_or_default())]
pub struct UnknownAlgorithm {
    /// The name asked for.
    pub name: String,
    /// Registered names close to it.
    pub close: Vec<String>,
    /// Every registered name, sorted (listed when none is close).
    pub registered: Vec<String>,
    /// How many problems discovery had (a library or a package that did not
    /// load may hold the algorithm).
    pub problems: usize,
    /// Why a source found nothing (Python plugins without `VIRTUAL_ENV`).
    pub note: Option<String>,
}

fn problems_note(count: usize) -> String {
    match count {
        0 => String::new(),
        n => format!(
            "; discovery had {n} problem(s), such as a plugin that did not load (`algohost \
             plugins`, GET /plugins or Host.diagnostics() show them)"
        ),
    }
}

fn suggestion(close: &[String], registered: &[String]) -> String {
    if !close.is_empty() {
        let close: Vec<&str> = close.iter().map(String::as_str).collect();
        return format!("; did you mean {}?", algohost_sdk::suggest::or_list(&close));
    }
    if registered.is_empty() {
        return "; no algorithm is registered: check the plugin directories and the Python \
                environment (`algohost plugins` shows what discovery found)"
            .to_owned();
    }
    let registered: Vec<&str> = registered.iter().map(String::as_str).collect();
    format!(
        "; {}",
        algohost_sdk::suggest::listed("the registered ones", &registered)
    )
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an algorithm, or records a diagnostic when its name is not
    /// snake_case, its schema does not compile, or its name is taken (the
    /// first registration stays; the diagnostic names both sources).
    pub fn add(&mut self, manifest: Manifest, source: Source, invoker: Arc<dyn Invoker>) {
        let location = match source.location() {
            l if l.is_empty() => manifest.name.clone(),
            l => l,
        };
        let diagnostic = |reason: String, hint: &str| Diagnostic {
            source: source.kind().to_owned(),
            location: location.clone(),
            reason,
            hint: hint.to_owned(),
        };
        if !is_snake_case(&manifest.name) {
            let d = diagnostic(
                format!("algorithm name '{}' is not snake_case", manifest.name),
                "rename it: lowercase letters, digits and '_', starting with a letter",
            );
            self.diagnostics.push(d);
            return;
        }
        if let Some(existing) = self.algorithms.get(&manifest.name) {
            let d = diagnostic(
                format!(
                    "duplicate algorithm name '{}': version {} from {} is registered; version {} \
                     from {} was not",
                    manifest.name,
                    existing.manifest.version,
                    existing.source,
                    manifest.version,
                    source
                ),
                match source {
                    Source::Python { .. } => {
                        "rename one of them (the entry point's name or name= of @algorithm), or \
                         uninstall one of the packages"
                    }
                    _ => "rename one of them, or remove one plugin from the plugin path",
                },
            );
            self.diagnostics.push(d);
            return;
        }
        let validator = match ParamsValidator::compile(&manifest.params_schema) {
            Ok(v) => v,
            Err(e) => {
                let d = diagnostic(
                    format!(
                        "the params schema of '{}' does not compile: {e}",
                        manifest.name
                    ),
                    "fix the schema (JSON Schema 2020-12; no remote or file $ref)",
                );
                self.diagnostics.push(d);
                return;
            }
        };
        let name = manifest.name.clone();
        self.algorithms.insert(
            name,
            Algorithm {
                manifest,
                source,
                validator,
                invoker,
            },
        );
    }

    /// Records a diagnostic.
    pub fn add_diagnostic(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// The algorithm called `name`, or an error with the close names.
    pub fn get(&self, name: &str) -> Result<&Algorithm, UnknownAlgorithm> {
        self.algorithms.get(name).ok_or_else(|| UnknownAlgorithm {
            name: name.to_owned(),
            close: self.close_names(name),
            registered: self.algorithms.keys().cloned().collect(),
            problems: self.diagnostics.len(),
            note: self.empty_source_note.clone(),
        })
    }

    /// Notes why a source found nothing (the Python environment searched
    /// had no plugins): an unknown name's error says it.
    pub fn set_empty_source_note(&mut self, note: String) {
        self.empty_source_note = Some(note);
    }

    /// All algorithms, by name.
    pub fn algorithms(&self) -> impl Iterator<Item = &Algorithm> {
        self.algorithms.values()
    }

    /// Everything discovery could not register.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    fn close_names(&self, name: &str) -> Vec<String> {
        algohost_sdk::suggest::close_names(name, self.algorithms.keys().map(String::as_str))
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}

fn is_snake_case(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Nop;
    impl Invoker for Nop {
        fn invoke(&self, _: &Context, _: Value) -> algohost_sdk::Result<Output> {
            Ok(Output::new())
        }
    }

    fn manifest(name: &str, schema: Value) -> Manifest {
        Manifest {
            name: name.into(),
            version: "1.0.0".into(),
            description: String::new(),
            params_schema: schema,
            outputs: vec![],
            idempotent: false,
        }
    }

    #[test]
    fn duplicates_bad_names_and_bad_schemas_become_diagnostics() {
        let mut r = Registry::new();
        r.add(
            manifest("peak_shaving", json!({})),
            Source::Builtin,
            Arc::new(Nop),
        );
        r.add(
            manifest("peak_shaving", json!({})),
            Source::Dylib {
                path: "/p/libx.so".into(),
            },
            Arc::new(Nop),
        );
        r.add(
            manifest("Bad-Name", json!({})),
            Source::Builtin,
            Arc::new(Nop),
        );
        r.add(
            manifest("bad_schema", json!({"type": 7})),
            Source::Builtin,
            Arc::new(Nop),
        );
        assert_eq!(r.algorithms().count(), 1);
        assert_eq!(r.get("peak_shaving").unwrap().source, Source::Builtin);
        let reasons: Vec<_> = r.diagnostics().iter().map(|d| d.reason.as_str()).collect();
        assert!(
            reasons[0].contains("duplicate")
                && reasons[0].contains("builtin")
                && reasons[0].contains("/p/libx.so")
        );
        assert!(reasons[1].contains("snake_case"));
        assert!(reasons[2].contains("does not compile"));
    }

    #[test]
    fn unknown_names_suggest_close_ones() {
        let mut r = Registry::new();
        r.add(
            manifest("peak_shaving", json!({})),
            Source::Builtin,
            Arc::new(Nop),
        );
        r.add(
            manifest("resample", json!({})),
            Source::Builtin,
            Arc::new(Nop),
        );
        let err = r.get("peak_shavin").unwrap_err();
        assert_eq!(err.close, ["peak_shaving"]);
        assert_eq!(
            err.to_string(),
            "unknown algorithm 'peak_shavin'; did you mean 'peak_shaving'?"
        );
        assert_eq!(
            r.get("dispatch").unwrap_err().to_string(),
            "unknown algorithm 'dispatch'; the registered ones: peak_shaving, resample"
        );
        assert!(
            Registry::new()
                .get("resample")
                .unwrap_err()
                .to_string()
                .contains("no algorithm is registered"),
        );
        // A plugin that did not load may hold the algorithm: say so.
        r.add_diagnostic(Diagnostic {
            source: "dylib".into(),
            location: "plugins/libdispatch.so".into(),
            reason: "built for algohost plugin ABI 1.1".into(),
            hint: "rebuild it".into(),
        });
        assert_eq!(
            r.get("dispatch").unwrap_err().to_string(),
            "unknown algorithm 'dispatch'; the registered ones: peak_shaving, resample; discovery \
             had 1 problem(s), such as a plugin that did not load (`algohost plugins`, GET \
             /plugins or Host.diagnostics() show them)"
        );
    }
}
