//! Where algorithms come from. Each source adds manifest + invoker pairs (or
//! diagnostics) to a [`Registry`]; the Python source lives with the rest of
//! pyo3 in `crate::python::source` (feature `python`).

pub mod builtin;
pub mod dylib;

use std::path::PathBuf;

use crate::registry::Registry;

/// Where discovery looks.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryOptions {
    /// Directories (or library files) of dylib plugins: `--plugin-dir`
    /// first, then `ALGOHOST_PLUGIN_PATH`.
    pub plugin_paths: Vec<PathBuf>,
}

impl DiscoveryOptions {
    /// `dirs` followed by the entries of `ALGOHOST_PLUGIN_PATH` (separated
    /// like `PATH`).
    pub fn with_env(dirs: Vec<PathBuf>) -> Self {
        let mut plugin_paths = dirs;
        if let Some(path) = std::env::var_os("ALGOHOST_PLUGIN_PATH") {
            plugin_paths.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
        }
        Self { plugin_paths }
    }
}

/// A registry with every source: builtin, dylib, then python (with the
/// `python` feature, when an interpreter runs in this process).
pub fn discover(options: &DiscoveryOptions) -> Registry {
    let mut registry = Registry::new();
    builtin::discover(&mut registry);
    dylib::discover(&mut registry, &options.plugin_paths);
    #[cfg(feature = "python")]
    crate::python::source::discover(&mut registry);
    registry
}
