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
    /// Load each dylib plugin from a private copy, so that a library file
    /// rewritten in place cannot crash this process (see
    /// [`dylib::discover`]): for processes that live on (a server, a
    /// Python session); a one-off command loads the files themselves.
    pub private_copies: bool,
}

impl DiscoveryOptions {
    /// `dirs` followed by the entries of `ALGOHOST_PLUGIN_PATH` (separated
    /// like `PATH`), loaded from private copies.
    pub fn with_env(dirs: Vec<PathBuf>) -> Self {
        let mut plugin_paths = dirs;
        if let Some(path) = std::env::var_os("ALGOHOST_PLUGIN_PATH") {
            plugin_paths.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
        }
        Self {
            plugin_paths,
            private_copies: true,
        }
    }
}

/// A registry with every source: builtin, dylib, then python (with the
/// `python` feature, when an interpreter runs in this process).
pub fn discover(options: &DiscoveryOptions) -> Registry {
    let mut registry = Registry::new();
    builtin::discover(&mut registry);
    dylib::discover(&mut registry, &options.plugin_paths, options.private_copies);
    #[cfg(feature = "python")]
    crate::python::source::discover(&mut registry);
    registry
}
