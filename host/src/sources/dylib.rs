//! The dylib source: Rust plugin libraries (`cdylib` crates that call
//! `algohost_sdk::export_plugin!()`) found in the plugin path, loaded with
//! `libloading` and run through the C ABI of `algohost_sdk::ffi`.
//!
//! A library that cannot be used (not a library, no entry point, another
//! ABI version, a panic while it builds its table) becomes a diagnostic that
//! says what to rebuild; discovery goes on with the next one. Loaded
//! libraries are never unloaded: their code runs every later run, and frames
//! that came from them are freed by their code.
#![allow(unsafe_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use algohost_sdk::ffi::host::{self, LoadError, PluginAlgorithm};
use algohost_sdk::ffi::v1::{ABI_MAJOR, ABI_MINOR, PLUGIN_SYMBOL, PluginEntryV1};
use algohost_sdk::{Context, Manifest, Output};
use libloading::Library;
use serde_json::Value;

use crate::registry::{Diagnostic, Invoker, Registry, Source};

/// Loads every plugin library in `paths`: directories are scanned (not
/// recursively) for files with the platform's library extension (`.so`,
/// `.dylib`, `.dll`), in name order; files are loaded as given.
///
/// With `private_copies`, each library is loaded from a copy in memory
/// (Linux), so that copying a new build over a library file (`cp new.so
/// plugins/`) cannot change the code a long-running process (a server, a
/// notebook) has loaded: the loader maps the file, and a file rewritten in
/// place under a mapping crashes the process on its next call. Such a
/// process keeps the code it loaded until it restarts.
pub fn discover(registry: &mut Registry, paths: &[PathBuf], private_copies: bool) {
    let mut seen = BTreeSet::new();
    for path in library_files(registry, paths) {
        let key = path.canonicalize().unwrap_or_else(|_| path.clone());
        if seen.insert(key) {
            load_library(registry, &path, private_copies);
        }
    }
}

/// A copy of `file` in memory and the path the loader opens it by; the
/// copy stays open for the rest of the process (its library is never
/// unloaded, and debuggers and backtraces read its symbols by that path).
#[cfg(target_os = "linux")]
fn private_copy(file: &Path) -> std::io::Result<PathBuf> {
    use std::os::fd::FromRawFd;
    // SAFETY: memfd_create takes a NUL-terminated name and flags; the
    // descriptor it returns is owned by the File below.
    let fd = unsafe { libc::memfd_create(c"algohost-plugin".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    let mut copy = unsafe { std::fs::File::from_raw_fd(fd) };
    std::io::copy(&mut std::fs::File::open(file)?, &mut copy)?;
    std::mem::forget(copy);
    Ok(PathBuf::from(format!("/proc/self/fd/{fd}")))
}

#[cfg(not(target_os = "linux"))]
fn private_copy(_file: &Path) -> std::io::Result<PathBuf> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Runs one algorithm of a loaded library.
struct DylibInvoker(PluginAlgorithm);

impl Invoker for DylibInvoker {
    fn invoke(&self, ctx: &Context, params: Value) -> algohost_sdk::Result<Output> {
        self.0.invoke(ctx, &params)
    }
}

fn diagnostic(path: &Path, reason: impl Into<String>, hint: impl Into<String>) -> Diagnostic {
    Diagnostic {
        source: "dylib".to_owned(),
        location: path.display().to_string(),
        reason: reason.into(),
        hint: hint.into(),
    }
}

fn library_files(registry: &mut Registry, paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_file() {
            files.push(path.clone());
            continue;
        }
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => {
                let reason = if path.exists() {
                    format!("cannot read the plugin directory: {e}")
                } else {
                    "the plugin path does not exist".to_owned()
                };
                let hint = "check --plugin-dir and ALGOHOST_PLUGIN_PATH";
                registry.add_diagnostic(diagnostic(path, reason, hint));
                continue;
            }
        };
        let entries: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        let with = |ext: &str| -> Vec<PathBuf> {
            let mut found: Vec<PathBuf> = entries
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .cloned()
                .collect();
            found.sort();
            found
        };
        let found = with(std::env::consts::DLL_EXTENSION);
        if let (true, Some(rlib)) = (found.is_empty(), with("rlib").first()) {
            // A crate built without crate-type cdylib leaves only this.
            let name = rlib.file_name().unwrap_or_default().to_string_lossy();
            let reason = format!(
                "no plugin library (*.{}) in the plugin directory, only the Rust library {name}",
                std::env::consts::DLL_EXTENSION
            );
            let hint = "build the plugin crate with crate-type = [\"cdylib\", \"rlib\"] in [lib] of its Cargo.toml";
            registry.add_diagnostic(diagnostic(path, reason, hint));
        }
        files.extend(found);
    }
    files
}

/// `0.1.x`: the SDK releases that speak this host's ABI.
fn sdk_series() -> String {
    let mut parts = algohost_sdk::SDK_VERSION.split('.');
    match (parts.next(), parts.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}.x"),
        (Some(major), _) => format!("{major}.x"),
        _ => algohost_sdk::SDK_VERSION.to_owned(),
    }
}

fn load_error_hint(error: &LoadError) -> String {
    let series = sdk_series();
    match error {
        LoadError::NoTable | LoadError::AbiMajor { .. } => {
            format!(
                "rebuild the plugin against algohost-sdk {series} (plugin ABI {ABI_MAJOR}.{ABI_MINOR})"
            )
        }
        LoadError::AbiMinor { major, minor } => format!(
            "rebuild the plugin against algohost-sdk {series}, or use a host that speaks plugin ABI {major}.{minor}"
        ),
        LoadError::Failed { sdk_version, .. } => format!(
            "fix the plugin (built with algohost-sdk {sdk_version}) so that every algorithm's manifest builds, then rebuild it"
        ),
    }
}

/// Why a library did not load: libloading's error with the loader's reason
/// (dlerror's "invalid ELF header", "file too short", a missing dependency),
/// without the path the diagnostic shows already.
fn load_failure(path: &Path, error: &libloading::Error) -> String {
    let mut text = error.to_string();
    if let Some(reason) = std::error::Error::source(error) {
        let reason = reason.to_string();
        let shown = path.display().to_string();
        let reason = reason
            .strip_prefix(shown.as_str())
            .and_then(|r| r.strip_prefix(": "))
            .unwrap_or(&reason);
        text = format!("{text}: {reason}");
    }
    text
}

fn load_library(registry: &mut Registry, path: &Path, private_copies: bool) {
    // A bare file name (`--plugin-dir libx.so`) is a file here, not a name
    // for the loader to search the system's library path for.
    let file = if path.parent() == Some(Path::new("")) {
        Path::new(".").join(path)
    } else {
        path.to_owned()
    };
    // Where a copy cannot be made, the file itself.
    let opened = match private_copies {
        true => private_copy(&file).unwrap_or_else(|_| file.clone()),
        false => file.clone(),
    };
    // SAFETY: loading a library runs its initialisers. Every library in the
    // plugin path is trusted code, like a crate linked into the binary.
    let library = match unsafe { Library::new(&opened) } {
        Ok(library) => library,
        Err(e) => {
            let hint = "keep only algohost plugin libraries (cdylib crates that call algohost_sdk::export_plugin!()) in the plugin path";
            registry.add_diagnostic(diagnostic(
                path,
                format!("cannot load the library: {}", load_failure(&opened, &e)),
                hint,
            ));
            return;
        }
    };
    // Never unloaded: its code and the memory it hands out must outlive
    // every run and every frame that comes from it.
    let library: &'static Library = Box::leak(Box::new(library));
    // SAFETY: `PluginEntryV1` is the type ABI v1 gives this symbol.
    let entry = match unsafe { library.get::<PluginEntryV1>(PLUGIN_SYMBOL.as_bytes()) } {
        Ok(symbol) => *symbol,
        Err(_) => {
            let reason = format!(
                "no {PLUGIN_SYMBOL} symbol: not an algohost plugin, or built without algohost_sdk::export_plugin!()"
            );
            let hint = "add `algohost_sdk::export_plugin!();` to the plugin crate and build it with crate-type = [\"cdylib\"]";
            registry.add_diagnostic(diagnostic(path, reason, hint));
            return;
        }
    };
    // SAFETY: the entry point of a library that is never unloaded; it
    // catches its own panics (ABI v1) and returns a table or null.
    let table = unsafe { entry() };
    // SAFETY: the table comes from that entry point, and the library stays
    // loaded for the rest of the process.
    let plugin = match unsafe { host::load(table) } {
        Ok(plugin) => plugin,
        Err(e) => {
            registry.add_diagnostic(diagnostic(path, e.to_string(), load_error_hint(&e)));
            return;
        }
    };
    if plugin.algorithms.is_empty() {
        let hint =
            "mark the plugin's functions with #[algorithm(name = \"...\", version = \"...\")]";
        registry.add_diagnostic(diagnostic(path, "the plugin exports no algorithms", hint));
        return;
    }
    let sdk_version = plugin.sdk_version;
    for algorithm in plugin.algorithms {
        match serde_json::from_str::<Manifest>(algorithm.manifest_json()) {
            Ok(manifest) => {
                let source = Source::Dylib {
                    path: path.to_path_buf(),
                };
                registry.add(manifest, source, Arc::new(DylibInvoker(algorithm)));
            }
            Err(e) => {
                let reason = format!("an algorithm's manifest is not valid: {e}");
                let hint = format!(
                    "rebuild the plugin (built with algohost-sdk {sdk_version}) against algohost-sdk {}",
                    sdk_series()
                );
                registry.add_diagnostic(diagnostic(path, reason, hint));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_series_keeps_the_minor_before_1_0() {
        assert!(sdk_series().ends_with(".x"));
        if algohost_sdk::SDK_VERSION.starts_with("0.") {
            assert_eq!(sdk_series().matches('.').count(), 2);
        }
    }

    #[test]
    fn missing_plugin_paths_are_diagnostics() {
        let mut registry = Registry::new();
        discover(
            &mut registry,
            &[PathBuf::from("/nonexistent/algohost-plugins")],
            false,
        );
        let d = &registry.diagnostics()[0];
        assert_eq!(
            (d.source.as_str(), d.reason.as_str()),
            ("dylib", "the plugin path does not exist")
        );
        assert!(d.hint.contains("ALGOHOST_PLUGIN_PATH"));
    }
}
