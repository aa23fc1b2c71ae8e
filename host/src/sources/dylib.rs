//! The dylib source (in progress).

use std::path::PathBuf;

use crate::registry::Registry;

/// Loads every plugin library found in `paths`.
pub fn discover(_registry: &mut Registry, _paths: &[PathBuf]) {}
